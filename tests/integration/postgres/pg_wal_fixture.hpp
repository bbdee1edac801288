// The WAL-mode tests' server: a second throwaway cluster started with wal_level=logical
// (scripts/postgres/start.sh --logical, ctest fixture postgres_logical), and a fresh WAL-mode
// outbox with a unique name per test.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "pg_fixture.hpp"

namespace testing_pg {

// OUTBOX_PG_LOGICAL_URI, or OUTBOX_PG_URI from $OUTBOX_PG_LOGICAL_STATE/env.
inline std::string logical_server_uri() {
  if (const char* v = std::getenv("OUTBOX_PG_LOGICAL_URI")) return v;
  const char* state = std::getenv("OUTBOX_PG_LOGICAL_STATE");
  if (!state) {
    throw std::runtime_error(
        "set OUTBOX_PG_LOGICAL_STATE (the folder scripts/postgres/start.sh --logical wrote) or OUTBOX_PG_LOGICAL_URI");
  }
  std::ifstream in(std::string(state) + "/env");
  const std::string prefix = "export OUTBOX_PG_URI=";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  throw std::runtime_error("no OUTBOX_PG_URI in " + std::string(state) + "/env; is the logical server running?");
}

inline std::string with_mode(const std::string& uri, const std::string& mode) {
  return uri + (uri.find('?') == std::string::npos ? "?" : "&") + "outboxMode=" + mode;
}

class WalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uri = logical_server_uri();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string n = std::string("w_") + info->name();
    for (auto& ch : n) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    // Short: the slot names "outbox_<name>_<consumer>_<hash>" must stay readable (54 characters).
    name = n.substr(0, 24) + "_" + std::to_string(getpid());
    a = std::make_unique<Conn>(uri);
    outbox::postgres::OutboxOptions o;
    o.mode = outbox::postgres::Mode::wal;
    orders = std::make_unique<outbox::postgres::Outbox>(name, order_schemas(), o);
    orders->init(*a);
  }
  void TearDown() override {
    // Slots keep WAL on the shared server: drop this test's (inactive ones; a live tail's goes with it).
    if (a) {
      PQclear(PQexec(*a, ("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE "
                          "'outbox_" +
                          name + "_%' AND NOT active")
                             .c_str()));
    }
  }

  // Drops the slots whose name is LIKE `pattern`, waiting (bounded) for the server process of a
  // reader that just disconnected to let go of them.
  void drop_slots(const std::string& pattern) {
    const std::string sql =
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE '" + pattern + "'";
    for (int i = 0;; ++i) {
      try {
        exec(*a, sql);
        return;
      } catch (const std::runtime_error&) {
        if (i == 100) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }

  // Commits one transaction putting the orders from..to.
  std::vector<std::int64_t> put_committed(int from, int to, PGconn* c = nullptr) {
    if (!c) c = *a;
    std::vector<std::int64_t> positions;
    exec(c, "BEGIN");
    for (int i = from; i <= to; ++i) positions.push_back(orders->put(c, order_created(i)).position);
    exec(c, "COMMIT");
    return positions;
  }

  std::string uri, name;
  std::unique_ptr<Conn> a;
  std::unique_ptr<outbox::postgres::Outbox> orders;
};

}  // namespace testing_pg
