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
#include "outbox/errors.hpp"
#include "outbox/postgres.hpp"
#include "outbox/store.hpp"

namespace testing_pg {

using testing_support::cli;
using testing_support::Run;

// OUTBOX_PG_URI from $OUTBOX_PG_STATE/env (or from the environment, to run against another server).
inline std::string server_uri() {
  return testing_support::fixture_value("OUTBOX_PG_URI", "OUTBOX_PG_STATE", "scripts/postgres/start.sh");
}

struct Conn {
  PGconn* c = nullptr;
  explicit Conn(const std::string& uri) : c(PQconnectdb(uri.c_str())) {
    if (PQstatus(c) != CONNECTION_OK) throw std::runtime_error(std::string("connect: ") + PQerrorMessage(c));
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() { PQfinish(c); }
  operator PGconn*() const { return c; }
};

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

inline const char* order_schemas_json() {
  return R"({
    "order_created": {"type": "object", "properties": {"ordernr": {"type": "integer"}}, "required": ["ordernr"]},
    "order_completed": {"type": "object", "properties": {"ordernr": {"type": "integer"}}, "required": ["ordernr"]}
  })";
}

inline outbox::SchemaRegistry order_schemas() {
  return outbox::SchemaRegistry::from_json(nlohmann::json::parse(order_schemas_json()));
}

inline outbox::Message order_created(std::int64_t nr, std::string key = "") {
  outbox::Message m;
  m.type = "order_created";
  m.data = {{"ordernr", nr}};
  if (!key.empty()) m.key = std::move(key);
  return m;
}

// Drains a tail until `n` messages arrived or `timeout` passed.
inline std::vector<outbox::Message> drain(outbox::Tail& tail, std::size_t n,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  std::vector<outbox::Message> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    for (auto& m : tail.next(std::chrono::milliseconds(50))) out.push_back(std::move(m));
  }
  return out;
}

inline std::vector<std::int64_t> ordernrs(const std::vector<outbox::Message>& ms) {
  std::vector<std::int64_t> out;
  for (const auto& m : ms) out.push_back(m.data.at("ordernr").get<std::int64_t>());
  return out;
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
