// A fresh SQLite outbox `orders` for the CLI tests, filled through the library.
#pragma once

#include "relay_process.hpp"
#include "sqlite_fixture.hpp"

namespace testing_cli {

class CliTest : public testing_sqlite::SqliteTest {
 protected:
  void put_committed(int from, int to) {
    testing_sqlite::exec(db, "BEGIN");
    for (int i = from; i <= to; ++i) orders.put(db, testing_sqlite::order_created(i, "order-" + std::to_string(i % 7)));
    testing_sqlite::exec(db, "COMMIT");
  }
  std::string schema_file() {
    const std::string p = dir + "/schemas.json";
    std::ofstream(p) << testing_support::order_schemas_json();
    return p;
  }
};

}  // namespace testing_cli
