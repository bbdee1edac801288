// The FerretDB started by the ctest fixture (scripts/ferretdb/start.sh), a database per test
// process, a fresh outbox name per test, and helpers.
#pragma once

#include <gtest/gtest.h>
#include <mongoc/mongoc.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_run.hpp"
#include "fixture_env.hpp"
#include "order_messages.hpp"
#include "outbox/errors.hpp"
#include "outbox/mongodb.hpp"
#include "outbox/store.hpp"

namespace testing_mongo {

using testing_support::cli;
using testing_support::drain;
using testing_support::order_created;
using testing_support::order_schemas;
using testing_support::order_schemas_json;
using testing_support::ordernrs;
using testing_support::Run;

// OUTBOX_MONGO_URI from $OUTBOX_MONGO_STATE/env (or from the environment, for another server).
inline std::string server_uri() {
  return testing_support::fixture_value("OUTBOX_MONGO_URI", "OUTBOX_MONGO_STATE", "scripts/ferretdb/start.sh");
}

// "mongodb://host:port/" + database + optional query.
inline std::string store_uri(const std::string& database, const std::string& query = "") {
  std::string base = server_uri();
  if (const auto q = base.find('?'); q != std::string::npos) base = base.substr(0, q);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/" + database + (query.empty() ? "" : "?" + query);
}

struct Client {
  mongoc_client_t* c = nullptr;
  explicit Client(const std::string& uri) {
    mongoc_init();
    // The driver warns at every shutdown that FerretDB lacks endSessions; keep test output readable.
    mongoc_log_set_handler(
        [](mongoc_log_level_t level, const char* domain, const char* message, void*) {
          if (level <= MONGOC_LOG_LEVEL_WARNING && std::string(message).find("endSessions") == std::string::npos) {
            fprintf(stderr, "mongoc %s: %s\n", domain, message);
          }
        },
        nullptr);
    c = mongoc_client_new(uri.c_str());
    if (!c) throw std::runtime_error("bad URI " + uri);
    mongoc_client_set_error_api(c, MONGOC_ERROR_API_VERSION_2);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { mongoc_client_destroy(c); }
  operator mongoc_client_t*() const { return c; }
};

inline std::int64_t count_documents(mongoc_client_t* c, const std::string& db, const std::string& coll) {
  mongoc_collection_t* col = mongoc_client_get_collection(c, db.c_str(), coll.c_str());
  bson_t filter = BSON_INITIALIZER;
  bson_error_t error;
  const std::int64_t n = mongoc_collection_count_documents(col, &filter, nullptr, nullptr, nullptr, &error);
  mongoc_collection_destroy(col);
  if (n < 0) throw std::runtime_error(error.message);
  return n;
}

// Every test gets its own outbox name; each test process its own database.
class MongoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database = "outbox_test_" + std::to_string(getpid());
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string n = std::string("t_") + info->name();
    for (auto& ch : n) {
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    }
    // Parameterised tests differ only at the end of their names.
    name = n.size() <= 48 ? n : n.substr(0, 38) + "_" + std::to_string(std::hash<std::string>{}(n) % 1000000000);
    client = std::make_unique<Client>(store_uri(database));
    char tmpl[] = "/tmp/outbox-mongo-test-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  void TearDown() override {
    std::filesystem::remove_all(dir);
    // Each test runs in a process of its own, with a database of its own: drop it, so that
    // FerretDB's capped-collection cleanup, which walks every database each second, stays short.
    bson_t* drop = BCON_NEW("dropDatabase", BCON_INT32(1));
    mongoc_client_command_simple(*client, database.c_str(), drop, nullptr, nullptr, nullptr);
    bson_destroy(drop);
  }

  // Asks the server to trim capped collection `collection` now (FerretDB trims on `compact`; a
  // MongoDB server trims on insert and compacts). Best effort: the caller still waits for it.
  void trim_capped(const std::string& collection) {
    bson_t* compact = BCON_NEW("compact", BCON_UTF8(collection.c_str()));
    bson_error_t error;
    if (!mongoc_client_command_simple(*client, database.c_str(), compact, nullptr, nullptr, &error))
      std::cerr << "compact " << collection << ": " << error.message << " (waiting for the server's own trim)\n";
    bson_destroy(compact);
  }

  // A poll (or capped) outbox created through the write-side API.
  std::unique_ptr<outbox::mongodb::Outbox> make_outbox(outbox::mongodb::OutboxOptions o) {
    auto box = std::make_unique<outbox::mongodb::Outbox>(database, name, order_schemas());
    box->init(*client, o);
    return box;
  }
  static outbox::mongodb::OutboxOptions poll() {
    outbox::mongodb::OutboxOptions o;
    o.mode = outbox::mongodb::Mode::poll;
    return o;
  }

  std::string database, name, dir;
  std::unique_ptr<Client> client;
};

}  // namespace testing_mongo
