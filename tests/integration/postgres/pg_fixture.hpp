// The throwaway server started by the ctest fixture (scripts/postgres/start.sh), a fresh outbox
// with a unique name per test, and helpers to drive several connections step by step.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_run.hpp"
#include "fixture_env.hpp"
#include "order_messages.hpp"
#include "outbox/errors.hpp"
#include "outbox/postgres.hpp"
#include "outbox/store.hpp"
#include "pg_conn.hpp"

namespace testing_pg {

using testing_support::cli;
using testing_support::drain;
using testing_support::order_created;
using testing_support::order_schemas;
using testing_support::order_schemas_json;
using testing_support::ordernrs;
using testing_support::Run;

// OUTBOX_PG_URI from $OUTBOX_PG_STATE/env (or from the environment, to run against another server).
inline std::string server_uri() {
  return testing_support::fixture_value("OUTBOX_PG_URI", "OUTBOX_PG_STATE", "scripts/postgres/start.sh");
}

using Conn = testing_support::PgConn;

inline void exec(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  const auto st = PQresultStatus(r);
  const std::string err = PQresultErrorMessage(r);
  PQclear(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) throw std::runtime_error(sql + ": " + err);
}

inline std::string scalar(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
    const std::string err = PQresultErrorMessage(r);
    PQclear(r);
    throw std::runtime_error(sql + ": " + err);
  }
  std::string v = PQgetvalue(r, 0, 0);
  PQclear(r);
  return v;
}

// Every test gets its own outbox (unique name) in the shared throwaway server.
class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uri = server_uri();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string n = std::string("t_") + info->name();
    for (auto& ch : n) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    n = n.substr(0, 36) + "_" + std::to_string(getpid());
    name = n;
    a = std::make_unique<Conn>(uri);
    orders = std::make_unique<outbox::postgres::Outbox>(name, order_schemas());
    orders->init(*a);
  }

  std::string uri, name;
  std::unique_ptr<Conn> a;
  std::unique_ptr<outbox::postgres::Outbox> orders;
};

}  // namespace testing_pg
