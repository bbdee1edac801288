// The crash and end-to-end tests' PostgreSQL backend (crash_harness.hpp), on the throwaway server
// of the ctest fixture `postgres`: the outbox and the writers' tables in a database of their own,
// created for the run and dropped afterwards (kept when the test failed). Writers run concurrently
// in real transactions, so positions are drawn in one order and commits happen in another.
//
// Mode::wal: the same on the second throwaway server (fixture `postgres_logical`, started with
// wal_level=logical): the outbox has no table, puts are logical decoding messages and relays read
// them through the consumer's replication slot; the relay's store URI carries ?outboxMode=wal.
#pragma once

#include <unistd.h>

#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "crash_harness.hpp"
#include "outbox/postgres.hpp"
#include "pg_conninfo.hpp"
#include "pg_fixture.hpp"
#include "pg_wal_fixture.hpp"

namespace outbox::crash {

class PostgresBackend : public CrashBackend {
 public:
  explicit PostgresBackend(outbox::postgres::Mode mode = outbox::postgres::Mode::table)
      : mode_(mode),
        server_(mode == outbox::postgres::Mode::wal ? testing_pg::logical_server_uri() : testing_pg::server_uri()),
        db_(std::string(mode == outbox::postgres::Mode::wal ? "outbox_crash_wal_" : "outbox_crash_") +
            std::to_string(::getpid())) {
    uri_ = testing_support::with_dbname(server_, db_);
    store_uri_ = uri_;
    if (mode == outbox::postgres::Mode::wal) {
      // A URI (only a URI carries the store's own options): the server's, with this database.
      const auto authority = server_.find("://");
      const auto path = authority == std::string::npos ? std::string::npos : server_.find('/', authority + 3);
      if (path == std::string::npos) throw std::runtime_error("not a postgresql:// URI: " + server_);
      store_uri_ = testing_pg::with_mode(server_.substr(0, path) + "/" + db_, "wal");
    }
  }

  ~PostgresBackend() override {
    if (!created_) return;
    // Slot names are cluster-wide and name the outbox, not the database: a slot left behind would
    // keep WAL and be taken for the next run's (in another database). Dropped even when the test
    // failed; the database stays for inspection.
    try {
      testing_pg::Conn admin(server_);
      drop_slots(admin);
    } catch (const std::exception& e) {
      std::cout << "could not drop the replication slots of " << db_ << ": " << e.what() << std::endl;
    }
    if (::testing::Test::HasFailure()) {
      std::cout << "database kept for inspection: " << db_ << " (" << uri_ << ")" << std::endl;
      return;
    }
    try {
      testing_pg::Conn admin(server_);
      testing_pg::exec(admin, "DROP DATABASE IF EXISTS " + db_ + " WITH (FORCE)");
    } catch (const std::exception& e) {
      std::cout << "could not drop " << db_ << ": " << e.what() << std::endl;
    }
  }

  void prepare(std::int64_t keys) override {
    {
      testing_pg::Conn admin(server_);
      drop_slots(admin);
      testing_pg::exec(admin, "DROP DATABASE IF EXISTS " + db_ + " WITH (FORCE)");
      testing_pg::exec(admin, "CREATE DATABASE " + db_);
      created_ = true;
    }
    testing_pg::Conn c(uri_);
    outbox::postgres::OutboxOptions options;
    options.mode = mode_;
    outbox::postgres::Outbox("crash", outbox::SchemaRegistry{}, options).init(c);
    testing_pg::exec(c,
                     "CREATE TABLE crash_business (writer bigint NOT NULL, seq bigint NOT NULL, idx bigint NOT NULL,"
                     " key text NOT NULL, key_seq bigint NOT NULL, id text NOT NULL UNIQUE, position bigint NOT NULL,"
                     " PRIMARY KEY (writer, seq, idx));"
                     "CREATE TABLE crash_key_counters (key text PRIMARY KEY, n bigint NOT NULL);"
                     "INSERT INTO crash_key_counters SELECT 'k' || k, 0 FROM generate_series(0, " +
                         std::to_string(keys - 1) + ") AS k");
  }

  std::string store_uri() const override { return store_uri_; }
  std::string writer_target() const override { return uri_; }
  VerifyOptions verify_options() const override { return {.positions_follow_commit_order = false}; }

  std::vector<Committed> committed() override {
    testing_pg::Conn c(uri_);
    PGresult* r = PQexec(c, "SELECT writer, seq, idx, key, key_seq, id, position FROM crash_business");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      const std::string why = PQresultErrorMessage(r);
      PQclear(r);
      throw std::runtime_error("reading crash_business: " + why);
    }
    std::vector<Committed> out;
    auto num = [&](int row, int col) { return std::stoll(PQgetvalue(r, row, col)); };
    for (int i = 0; i < PQntuples(r); ++i) {
      Committed x;
      x.writer = num(i, 0);
      x.seq = num(i, 1);
      x.idx = num(i, 2);
      x.key = PQgetvalue(r, i, 3);
      x.key_seq = num(i, 4);
      x.id = PQgetvalue(r, i, 5);
      x.position = num(i, 6);
      out.push_back(std::move(x));
    }
    PQclear(r);
    return out;
  }

 private:
  // A database with replication slots cannot be dropped: drop its slots first (the relays are
  // gone by now; a server process still ending lets go of its slot within moments).
  void drop_slots(PGconn* admin) const {
    if (mode_ != outbox::postgres::Mode::wal) return;
    for (int i = 0; i < 100; ++i) {
      try {
        testing_pg::exec(
            admin,
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '" + db_ + "'");
        return;
      } catch (const std::runtime_error&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }

  outbox::postgres::Mode mode_;
  std::string server_, db_, uri_, store_uri_;
  bool created_ = false;
};

}  // namespace outbox::crash
