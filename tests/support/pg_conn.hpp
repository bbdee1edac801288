// A libpq connection for the PostgreSQL tests, the crash test's writer and the benchmarks: opened
// or thrown, closed on destruction, usable wherever a PGconn* is.
#pragma once

#include <libpq-fe.h>

#include <stdexcept>
#include <string>

namespace testing_support {

class PgConn {
 public:
  explicit PgConn(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(c_) != CONNECTION_OK) {
      const std::string why = PQerrorMessage(c_);
      PQfinish(c_);
      throw std::runtime_error("cannot connect to PostgreSQL: " + why);
    }
    // NOTICEs (e.g. "relation already exists, skipping") would only clutter test output.
    PQsetNoticeProcessor(
        c_, [](void*, const char*) {}, nullptr);
  }
  ~PgConn() { PQfinish(c_); }
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;
  operator PGconn*() const { return c_; }

 private:
  PGconn* c_;
};

}  // namespace testing_support
