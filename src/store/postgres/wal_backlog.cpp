#include "wal_backlog.hpp"

#include <unistd.h>

#include <atomic>
#include <vector>

#include "connection.hpp"
#include "outbox/errors.hpp"
#include "replication_connection.hpp"

namespace outbox::postgres::detail {

namespace {

std::atomic<std::uint64_t> copies{0};

// Drops the temporary copy however the reading ended (the server would drop it with the session,
// but the status connection lives on).
class TemporarySlot {
 public:
  TemporarySlot(PGconn* conn, std::string name) : conn_(conn), name_(std::move(name)) {}
  ~TemporarySlot() {
    try {
      exec(conn_, "SELECT pg_drop_replication_slot($1)", {name_}, "dropping replication slot '" + name_ + "'");
    } catch (const std::exception&) {
      // The session ends some day and takes the temporary slot with it.
    }
  }
  TemporarySlot(const TemporarySlot&) = delete;
  TemporarySlot& operator=(const TemporarySlot&) = delete;

 private:
  PGconn* conn_;
  std::string name_;
};

}  // namespace

WalBacklog read_wal_backlog(PGconn* conn, const std::string& outbox, const std::string& slot, const WalCheckpoint& from,
                            std::size_t max_changes) {
  const std::string copy = slot_name(outbox, "status_" + std::to_string(::getpid()) + "_" + std::to_string(++copies));
  exec(conn, "SELECT pg_copy_logical_replication_slot($1, $2, true)", {slot, copy},
       "copying replication slot '" + slot + "' to read what it holds");
  TemporarySlot dropped_at_end(conn, copy);

  // Binary results: pgoutput is a binary plugin; each row is one of its messages.
  const std::string sql =
      "SELECT data FROM pg_logical_slot_peek_binary_changes($1, pg_current_wal_lsn(), $2::int, 'proto_version', '1', "
      "'publication_names', $3, 'messages', 'true') WHERE get_byte(data, 0) IN (66, 67, 77)";  // B, C, M
  const std::string limit = std::to_string(max_changes);
  const std::string publications = "\"" + publication_name(outbox) + "\"";
  const char* values[] = {copy.c_str(), limit.c_str(), publications.c_str()};
  Result r(PQexecParams(conn, sql.c_str(), 3, nullptr, values, nullptr, nullptr, 1));
  if (!r.get() || PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
    fail(conn, r.get(), "reading what replication slot '" + slot + "' holds");
  }

  WalBacklog out;
  const std::string prefix = wal_prefix(outbox);
  std::vector<Timestamp> transaction;  // the created times of the open transaction's messages
  std::size_t rows = 0;
  for (int i = 0; i < r.rows(); ++i, ++rows) {
    WireReader m(std::string_view(PQgetvalue(r.get(), i, 0), static_cast<std::size_t>(PQgetlength(r.get(), i, 0))),
                 "pgoutput message");
    const std::uint8_t kind = m.u8();
    if (kind == 'B') {
      transaction.clear();
    } else if (kind == 'M') {
      const std::uint8_t flags = m.u8();
      m.u64();
      if (m.cstring() != prefix || (flags & 1) == 0) continue;
      const std::uint32_t size = m.u32();
      transaction.push_back(decode_payload(m.bytes(size), outbox, false).created);
    } else {  // 'C': flags, commit LSN, end LSN, commit time
      m.u8();
      m.u64();
      const std::uint64_t end = m.u64();
      std::size_t passed = 0;  // as the tail skips them (WalTail::handle_pgoutput)
      if (end < from.end || (end == from.end && !from.taken)) {
        passed = transaction.size();
      } else if (end == from.end) {
        passed = std::min<std::size_t>(transaction.size(), *from.taken);
      }
      for (std::size_t k = passed; k < transaction.size(); ++k) {
        ++out.messages;
        if (!out.oldest_created || transaction[k] < *out.oldest_created) out.oldest_created = transaction[k];
      }
      transaction.clear();
    }
  }
  // The server counts every change it decoded (row changes of the tables it publishes, none
  // here, included), and stops after the transaction in which it reached the limit.
  out.complete = rows < max_changes;
  return out;
}

}  // namespace outbox::postgres::detail
