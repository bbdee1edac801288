// The crash test's writer against PostgreSQL: plain libpq and outbox::postgres::Outbox in real,
// concurrent transactions (READ COMMITTED). Several writers run at once, so positions are drawn
// in one order and transactions commit in another; some transactions pause while holding their
// keys' locks, and a fifth are aborted (half by ROLLBACK, half by a failing statement first).
//
// A late committer (WriterArgs::hold_ms, for the end-to-end test) holds each transaction open for
// a long random time after its put, so that its lower position commits after higher ones.
//
// Each transaction takes its keys in sorted order (counter row, then the outbox's key lock inside
// put), as docs/postgres.md asks of writers that put several keys: no deadlocks.
//
// About a third of the committing transactions (not the late committer's) put their messages
// with Outbox::put_and_commit instead: the business rows first, then the puts and COMMIT in one
// flight. Their positions are known only after the commit, so their business rows are written
// with position 0 and given it right after (writers are never killed, so none stays 0).
#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "crash_writer.hpp"
#include "outbox/postgres.hpp"
#include "outbox/uuid.hpp"
#include "pg_conn.hpp"

namespace outbox::crash {

namespace {

using Conn = testing_support::PgConn;

class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  PGresult* get() const { return r_; }

 private:
  PGresult* r_;
};

// Runs `sql` with text parameters; throws unless it succeeded. Returns the first value, if any.
std::string run(PGconn* c, const char* sql, const std::vector<std::string>& params = {}) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  Result r(PQexecParams(c, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
  const auto st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    throw std::runtime_error(std::string(sql) + ": " + PQresultErrorMessage(r.get()));
  }
  return st == PGRES_TUPLES_OK && PQntuples(r.get()) > 0 ? PQgetvalue(r.get(), 0, 0) : "";
}

}  // namespace

Tally run_postgres_writer(const WriterArgs& a) {
  Conn conn(a.target);
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  const outbox::postgres::Outbox box("crash", crash_registry());
  std::mt19937_64 rng(a.seed * 1000003u + static_cast<std::uint64_t>(a.writer));
  auto pause = [&](std::int64_t max_us) {
    if (max_us > 0) {
      std::this_thread::sleep_for(
          std::chrono::microseconds(static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(max_us))));
    }
  };
  Tally t;
  for (std::int64_t seq = 1; seq <= a.txns && !a.out_of_time(); ++seq) {
    // A late committer puts one message per transaction: it holds one key's lock, not three.
    const int messages = a.hold_ms > 0 ? 1 : 1 + static_cast<int>(rng() % 3);
    std::vector<std::string> keys;
    for (int i = 0; i < messages; ++i) keys.push_back("k" + std::to_string(rng() % static_cast<std::uint64_t>(a.keys)));
    std::sort(keys.begin(), keys.end());
    const bool pause_inside = rng() % 4 == 0;
    const int abort = rng() % 10;  // 0: ROLLBACK, 1: a failed statement, then ROLLBACK
    const bool on_commit = abort > 1 && a.hold_ms == 0 && rng() % 3 == 0;
    std::vector<Message> at_commit;  // on_commit: the messages put with the COMMIT

    run(conn, "BEGIN");
    for (int idx = 0; idx < messages; ++idx) {
      const std::string& key = keys[static_cast<std::size_t>(idx)];
      const std::int64_t key_seq =
          std::stoll(run(conn, "UPDATE crash_key_counters SET n = n + 1 WHERE key = $1 RETURNING n", {key}));
      if (pause_inside && idx == 0) pause(a.max_pause_us / 4);  // between the business write and the put
      if (on_commit) {
        Message m = crash_event(key, a.writer, seq, idx, key_seq);
        m.id = uuid_v7();  // the business row names it before the put
        run(conn,
            "INSERT INTO crash_business (writer, seq, idx, key, key_seq, id, position)"
            " VALUES ($1, $2, $3, $4, $5, $6, 0)",
            {std::to_string(a.writer), std::to_string(seq), std::to_string(idx), key, std::to_string(key_seq), m.id});
        at_commit.push_back(std::move(m));
        continue;
      }
      const Message put = box.put(conn, crash_event(key, a.writer, seq, idx, key_seq));
      run(conn,
          "INSERT INTO crash_business (writer, seq, idx, key, key_seq, id, position)"
          " VALUES ($1, $2, $3, $4, $5, $6, $7)",
          {std::to_string(a.writer), std::to_string(seq), std::to_string(idx), key, std::to_string(key_seq), put.id,
           std::to_string(put.position)});
    }
    if (pause_inside) pause(a.max_pause_us / 4);  // holding the keys' locks
    if (a.hold_ms > 0) {
      // Holding a position while the other writers commit higher ones: it commits late.
      std::this_thread::sleep_for(
          std::chrono::milliseconds(static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(a.hold_ms + 1))));
    }
    if (abort <= 1) {
      if (abort == 1) {
        Result r(PQexec(conn, "SELECT 1 / 0"));
        if (PQresultStatus(r.get()) != PGRES_FATAL_ERROR) throw std::runtime_error("SELECT 1 / 0 did not fail");
        if (PQtransactionStatus(conn) != PQTRANS_INERROR)
          throw std::runtime_error("the failed statement left the transaction usable");
      }
      run(conn, "ROLLBACK");
      ++t.rolled_back_txns;
      t.rolled_back_messages += messages;
    } else if (on_commit) {
      for (const Message& m : box.put_and_commit(conn, std::move(at_commit))) {
        run(conn, "UPDATE crash_business SET position = $1 WHERE id = $2", {std::to_string(m.position), m.id});
      }
      ++t.committed_txns;
      ++t.put_and_commit_txns;
      t.committed_messages += messages;
    } else {
      Result r(PQexec(conn, "COMMIT"));
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK || std::strcmp(PQcmdStatus(r.get()), "COMMIT") != 0) {
        throw std::runtime_error(std::string("COMMIT: ") + PQresultErrorMessage(r.get()) + PQcmdStatus(r.get()));
      }
      ++t.committed_txns;
      t.committed_messages += messages;
    }
    pause(a.max_pause_us);
  }
  return t;
}

}  // namespace outbox::crash
