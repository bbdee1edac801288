#include "wal_tail.hpp"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "outbox/errors.hpp"

namespace outbox::postgres::detail {

namespace {

// How often the tail tells the server where it is even when nothing changed, well inside the
// server's wal_sender_timeout (60 s by default), after which it would drop the connection.
constexpr std::chrono::seconds kStatusInterval{10};
// How long a new tail's reads wait, beyond what they were asked to, for the server to stream what
// was committed before the tail opened (see WalTail::next).
constexpr std::chrono::seconds kCatchUpBound{10};
// How long a closing tail waits for the server to end the stream (it answers at once unless the
// server or the network is in trouble).
constexpr std::chrono::milliseconds kEndBound{2000};

std::atomic<std::uint64_t> temporary_slots{0};

std::string literal(PGconn* conn, const std::string& text) {
  char* q = PQescapeLiteral(conn, text.c_str(), text.size());
  if (q == nullptr) throw StoreError("postgres: cannot quote '" + text + "': " + PQerrorMessage(conn), false);
  std::string out(q);
  PQfreemem(q);
  return out;
}

}  // namespace

WalTail::WalTail(const std::string& conninfo, const std::string& outbox, const std::string& consumer,
                 const Cursor& from, const TailOptions& options, std::shared_ptr<SlotFeedback> feedback)
    : outbox_(outbox),
      prefix_(wal_prefix(outbox)),
      consumer_(consumer),
      options_(options),
      feedback_(std::move(feedback)),
      stream_(conninfo) {
  PGconn* c = stream_.get();
  if (from.kind == Cursor::Kind::after) {
    from_ = parse_wal_checkpoint(from.checkpoint);
  } else if (from.kind == Cursor::Kind::end) {
    Result r = stream_.query("SELECT pg_current_wal_lsn()::text", "reading the current WAL position");
    from_.end = parse_lsn(r.text(0, 0)).value_or(0);
  }
  if (consumer_.empty()) {
    // An ad-hoc reader: a temporary copy of the slot of "default" (dropped with this session), so
    // that it reads what that consumer has not confirmed yet without disturbing it.
    const std::string source = slot_name(outbox, "default");
    slot_ = slot_name(outbox, "tail_" + std::to_string(::getpid()) + "_" + std::to_string(++temporary_slots));
    Result r = stream_.query("SELECT count(*) FROM pg_replication_slots WHERE slot_name = " + literal(c, source),
                             "looking up replication slot '" + source + "'");
    if (r.int64(0, 0) == 0) {
      throw StoreError("postgres: WAL-mode outbox '" + outbox + "' has no replication slot of consumer 'default' ('" +
                           source + "') to read from; create it again with init (idempotent)",
                       false);
    }
    stream_.query(
        "SELECT pg_copy_logical_replication_slot(" + literal(c, source) + ", " + literal(c, slot_) + ", true)",
        "copying replication slot '" + source + "' for a reader");
    check_slot(std::nullopt);
  } else {
    slot_ = slot_name(outbox, consumer);
    // A slot confirmed past the checkpoint has lost what lies between (confirmed only by a save).
    std::optional<std::uint64_t> limit;
    if (from_.end > 0) limit = from_.taken ? from_.end - 1 : from_.end;
    check_slot(limit);
  }
  {
    Result r = stream_.query("SELECT pg_current_wal_lsn()::text", "reading the current WAL position");
    catch_up_to_ = parse_lsn(r.text(0, 0)).value_or(0);
    catch_up_until_ = std::chrono::steady_clock::now() + kCatchUpBound;
  }
  stream_.start(slot_, publication_name(outbox));
  close_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);  // last: nothing below can throw and leak it
  if (close_fd_ < 0) throw StoreError(std::string("postgres: eventfd failed: ") + std::strerror(errno), false);
}

WalTail::~WalTail() {
  if (close_fd_ >= 0) ::close(close_fd_);
  // The relay saves its last checkpoint just before it drops the tail: confirm it to the slot on
  // the way out (best effort; the next tail would confirm it anyway), then end the stream cleanly
  // and wait (bounded) for the server to end it too. Only then is the confirmation known to be
  // handled: the server keeps streaming (a keepalive for each transaction it decodes, such as the
  // relay's own checkpoint saves) what this tail no longer reads, and a connection closed with
  // that unread is reset; the server process then often ended on its next send before it read the
  // confirmation, and the slot stayed at an earlier save (retaining WAL, and sending those
  // transactions again to the next tail, which skips them).
  try {
    if (feedback_ && feedback_->confirm.load() > confirmed_) send_feedback(true);
  } catch (const std::exception& e) {
    spdlog::debug("outbox '{}': confirming the last checkpoint to slot '{}' failed: {}", outbox_, slot_, e.what());
  }
  if (!stream_.end_stream(kEndBound)) {
    spdlog::debug("outbox '{}': the server did not end the stream of slot '{}' within {} ms", outbox_, slot_,
                  kEndBound.count());
  }
}

void WalTail::check_slot(const std::optional<std::uint64_t>& must_not_pass) {
  PGconn* c = stream_.get();
  const std::string sql =
      "SELECT confirmed_flush_lsn::text, coalesce(wal_status, ''), plugin, coalesce(nullif(active_pid, "
      "pg_backend_pid()), 0) FROM "
      "pg_replication_slots WHERE slot_name = " +
      literal(c, slot_) + " AND database = current_database()";
  Result r = stream_.query(sql, "looking up replication slot '" + slot_ + "'");
  // The server process of the previous reader (this relay before a reconnect or restart) may
  // still be ending: give it a moment rather than fail.
  for (int i = 0; i < 100 && r.rows() > 0 && r.int64(0, 3) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    r = stream_.query(sql, "looking up replication slot '" + slot_ + "'");
  }
  const std::string whose =
      "replication slot '" + slot_ + "' of consumer '" + consumer_ + "' of outbox '" + outbox_ + "'";
  if (r.rows() == 0) {
    throw StoreError("postgres: " + whose +
                         " is missing (dropped?): messages committed since the consumer's checkpoint may be lost. "
                         "Check what the sink has, then create the slot again (init makes the default consumer's; "
                         "a relay's first start makes others') and seek the consumer to where it should resume",
                     false);
  }
  if (r.text(0, 1) == "lost") {
    throw StoreError("postgres: " + whose +
                         " was invalidated: the server removed WAL it still needed (max_slot_wal_keep_size), so "
                         "messages are lost. Check what the sink has, drop the slot (pg_drop_replication_slot), "
                         "create it again and seek the consumer to where it should resume",
                     false);
  }
  if (r.text(0, 2) != "pgoutput") {
    throw StoreError("postgres: " + whose + " uses the output plugin '" + r.text(0, 2) +
                         "', not pgoutput; drop it and let the relay create it again",
                     false);
  }
  if (r.int64(0, 3) != 0) {
    throw StoreError("postgres: " + whose + " is in use by server process " + r.text(0, 3) +
                         " (another reader of this consumer?); retrying. If it stays so, find that reader "
                         "(pg_stat_replication) and stop it",
                     true);
  }
  confirmed_ = r.is_null(0, 0) ? 0 : parse_lsn(r.text(0, 0)).value_or(0);
  if (must_not_pass && confirmed_ > *must_not_pass) {
    throw StoreError("postgres: " + whose + " was confirmed up to " + lsn_text(confirmed_) +
                         ", past the consumer's checkpoint '" + encode(from_) +
                         "': messages between were given away, which only another reader of the slot or a seek "
                         "backwards does. Check what the sink has, then seek the consumer to " +
                         encode(WalCheckpoint{confirmed_, std::nullopt}) + " or later",
                     false);
  }
}

std::vector<Message> WalTail::next(std::chrono::milliseconds wait) {
  const auto asked = std::chrono::steady_clock::now() + wait;
  const std::size_t limit = std::max<std::size_t>(1, options_.batch_size);
  while (!closed_.load()) {
    if (failed_) std::rethrow_exception(failed_);
    send_feedback(false);
    try {
      while (ready_.size() < limit && stream_.read(buffer_)) handle(buffer_);
    } catch (...) {
      // What committed before the failure is returned first; the failure comes with the next call.
      if (ready_.empty()) throw;
      failed_ = std::current_exception();
    }
    if (!ready_.empty()) {
      std::vector<Message> batch;
      const std::size_t n = std::min(limit, ready_.size());
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(ready_.front()));
        ready_.pop_front();
      }
      return batch;
    }
    // Until the server has streamed what was committed before this tail opened, "nothing yet"
    // is not "nothing committed": wait for it (bounded), so that a relay asked to stop when idle
    // (or `outbox tail` without --follow) does not stop before the server caught up.
    const auto deadline = decoded_to_ >= catch_up_to_ ? asked : std::max(asked, catch_up_until_);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    stream_.wait(close_fd_, std::min<std::chrono::milliseconds>(left, std::chrono::seconds(1)));
  }
  return {};
}

void WalTail::handle(const std::string& message) {
  WireReader r(message, "replication message");
  const std::uint8_t kind = r.u8();
  if (kind == 'w') {  // XLogData: start, server's WAL end, send time, then one pgoutput message
    const std::uint64_t start = r.u64();
    r.u64();
    r.u64();
    received_ = std::max(received_, start);
    WireReader body(r.rest(), "pgoutput message");
    handle_pgoutput(body);
  } else if (kind == 'k') {  // primary keepalive: everything before `end` was decoded and sent
    const std::uint64_t end = r.u64();
    r.u64();
    const bool reply = r.u8() != 0;
    received_ = std::max(received_, end);
    if (!in_transaction_) decoded_to_ = std::max(decoded_to_, end);
    if (reply) send_feedback(true);
  } else {
    r.malformed("unknown message type " + std::to_string(kind));
  }
}

void WalTail::handle_pgoutput(WireReader& r) {
  const std::uint8_t kind = r.u8();
  switch (kind) {
    case 'B': {  // begin: final LSN, commit time, xid
      r.u64();
      r.u64();
      r.u32();
      if (in_transaction_) r.malformed("a BEGIN inside a transaction");
      in_transaction_ = true;
      transaction_.clear();
      return;
    }
    case 'M': {  // logical decoding message: flags, LSN, prefix, length, content
      const std::uint8_t flags = r.u8();
      const std::uint64_t lsn = r.u64();
      const std::string_view prefix = r.cstring();
      const std::uint32_t size = r.u32();
      const std::string_view content = r.bytes(size);
      if (prefix != prefix_) return;  // another outbox's, or another program's
      if ((flags & 1) == 0) {
        spdlog::warn(
            "outbox '{}': ignoring a non-transactional logical decoding message with this outbox's prefix at {} "
            "(outbox puts are transactional; find the program that emitted it)",
            outbox_, lsn_text(lsn));
        return;
      }
      if (!in_transaction_) r.malformed("a transactional message outside a transaction");
      Message m = decode_payload(content, outbox_, options_.parse_data);
      m.position = static_cast<std::int64_t>(lsn);
      transaction_.push_back(std::move(m));
      return;
    }
    case 'C': {  // commit: flags, commit LSN, end LSN of the transaction, commit time
      r.u8();
      r.u64();
      const std::uint64_t end = r.u64();
      r.u64();
      if (!in_transaction_) r.malformed("a COMMIT outside a transaction");
      const std::size_t n = transaction_.size();
      std::size_t skip = 0;  // what the starting checkpoint says was passed
      if (end < from_.end || (end == from_.end && !from_.taken)) {
        skip = n;
      } else if (end == from_.end) {
        skip = std::min<std::size_t>(n, *from_.taken);
      }
      for (std::size_t i = skip; i < n; ++i) {
        Message& m = transaction_[i];
        WalCheckpoint at{end, std::nullopt};
        if (i + 1 < n) at.taken = static_cast<std::uint32_t>(i + 1);
        m.checkpoint = encode(at);
        ready_.push_back(std::move(m));
      }
      transaction_.clear();
      in_transaction_ = false;
      decoded_to_ = std::max(decoded_to_, end);
      return;
    }
    default:
      // Relation, type, origin, row changes...: the outbox's publication publishes no table, and
      // none of them concerns the outbox.
      return;
  }
}

void WalTail::send_feedback(bool force) {
  const std::uint64_t want = feedback_ ? feedback_->confirm.load() : 0;
  const auto now = std::chrono::steady_clock::now();
  if (!force && want <= confirmed_ && now - last_status_ < kStatusInterval) return;
  // Never backwards: the slot's confirmed position only moves forward.
  confirmed_ = std::max(confirmed_, want);
  stream_.send_status(std::max(received_, confirmed_), confirmed_);
  last_status_ = now;
}

std::optional<std::string> WalTail::idle_checkpoint() {
  if (!ready_.empty() || in_transaction_ || decoded_to_ <= from_.end) return std::nullopt;
  return encode(WalCheckpoint{decoded_to_, std::nullopt});
}

void WalTail::close() {
  closed_.store(true);
  const std::uint64_t one = 1;
  if (close_fd_ >= 0 && ::write(close_fd_, &one, sizeof one) < 0) {
    // Only fails when the counter is saturated, i.e. it is already signalled.
  }
}

}  // namespace outbox::postgres::detail
