// The crash and end-to-end tests' PostgreSQL backend (crash_harness.hpp), on the throwaway server
// of the ctest fixture `postgres`: the outbox and the writers' tables in a database of their own,
// created for the run and dropped afterwards (kept when the test failed). Writers run concurrently
// in real transactions, so positions are drawn in one order and commits happen in another.
#pragma once

#include <unistd.h>

#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "crash_harness.hpp"
#include "outbox/postgres.hpp"
#include "pg_conninfo.hpp"
#include "pg_fixture.hpp"

namespace outbox::crash {

class PostgresBackend : public CrashBackend {
 public:
  PostgresBackend() : server_(testing_pg::server_uri()), db_("outbox_crash_" + std::to_string(::getpid())) {
    uri_ = testing_support::with_dbname(server_, db_);
  }

  ~PostgresBackend() override {
    if (!created_) return;
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
      testing_pg::exec(admin, "DROP DATABASE IF EXISTS " + db_ + " WITH (FORCE)");
      testing_pg::exec(admin, "CREATE DATABASE " + db_);
      created_ = true;
    }
    testing_pg::Conn c(uri_);
    outbox::postgres::Outbox("crash", outbox::SchemaRegistry{}).init(c);
    testing_pg::exec(c,
                     "CREATE TABLE crash_business (writer bigint NOT NULL, seq bigint NOT NULL, idx bigint NOT NULL,"
                     " key text NOT NULL, key_seq bigint NOT NULL, id text NOT NULL UNIQUE, position bigint NOT NULL,"
                     " PRIMARY KEY (writer, seq, idx));"
                     "CREATE TABLE crash_key_counters (key text PRIMARY KEY, n bigint NOT NULL);"
                     "INSERT INTO crash_key_counters SELECT 'k' || k, 0 FROM generate_series(0, " +
                         std::to_string(keys - 1) + ") AS k");
  }

  std::string store_uri() const override { return uri_; }
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
  std::string server_, db_, uri_;
  bool created_ = false;
};

}  // namespace outbox::crash
