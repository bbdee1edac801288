// Helpers shared by the PostgreSQL benchmarks: a thin libpq connection, and a fresh database per
// run on the server named by --server (default $OUTBOX_PG_URI, as bench/run_postgres.sh sets it),
// dropped at the end.
#pragma once

#include <libpq-fe.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "pg_conn.hpp"
#include "pg_conninfo.hpp"

namespace bench::pg {

using Conn = testing_support::PgConn;

// Runs `sql` (simple protocol); returns the first value of the result, if any. Throws on error.
inline std::string exec(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  const auto st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const std::string why = PQresultErrorMessage(r);
    PQclear(r);
    throw std::runtime_error(sql + ": " + why);
  }
  std::string v = st == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  return v;
}

using testing_support::with_dbname;

inline std::string server_from_env() {
  const char* u = std::getenv("OUTBOX_PG_URI");
  return u ? u : "";
}

// A database of its own for one benchmark run, dropped when done.
class Database {
 public:
  Database(std::string server, const std::string& prefix)
      : server_(std::move(server)), name_(prefix + "_" + std::to_string(::getpid())) {
    if (server_.empty())
      throw std::runtime_error(
          "no server: pass --server URI or set OUTBOX_PG_URI (bench/run_postgres.sh and bench/run_kafka.sh do)");
    Conn admin(server_);
    exec(admin, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    exec(admin, "CREATE DATABASE " + name_);
    uri_ = with_dbname(server_, name_);
  }
  ~Database() {
    try {
      Conn admin(server_);
      exec(admin, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "could not drop %s: %s\n", name_.c_str(), e.what());
    }
  }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  const std::string& uri() const { return uri_; }

  // What decides the cost of a commit, for the printout.
  std::string settings() const {
    Conn c(uri_);
    return "PostgreSQL " + exec(c, "SHOW server_version") + ", fsync=" + exec(c, "SHOW fsync") +
           ", synchronous_commit=" + exec(c, "SHOW synchronous_commit") +
           ", wal_sync_method=" + exec(c, "SHOW wal_sync_method") + ", ssl=" + exec(c, "SHOW ssl") + ", data in " +
           exec(c, "SHOW data_directory");
  }

 private:
  std::string server_, name_, uri_;
};

// The naive outbox of the put-against-naive benchmarks: a table `naive` of the store's own layout
// (src/store/postgres/tables.cpp), written by hand.
inline constexpr const char* kNaiveOutboxTable =
    "CREATE TABLE naive (position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, xid xid8 NOT NULL,"
    " id text NOT NULL, type text NOT NULL, key text, data text NOT NULL, headers text,"
    " created_us bigint NOT NULL);"
    "CREATE INDEX naive_xid ON naive (xid); CREATE INDEX naive_created ON naive (created_us)";

}  // namespace bench::pg
