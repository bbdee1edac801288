// MongoDB in the suite: a database of its own per test on the server the `ferretdb` ctest fixture
// started (FerretDB: neither transactions nor change streams, so only the poll and capped modes
// run here), dropped afterwards. Those modes write without a transaction (outbox::mongodb::Outbox::put
// on a client), so there is no caller transaction to roll back.
#include <mongoc/mongoc.h>

#include <cstdio>
#include <map>
#include <stdexcept>

#include "fixture_env.hpp"
#include "order_messages.hpp"
#include "outbox/mongodb.hpp"
#include "store_kind.hpp"

namespace conformance {
namespace {

// The fixture's server (OUTBOX_MONGO_URI, from $OUTBOX_MONGO_STATE/env or the environment).
std::string server_uri() {
  return testing_support::fixture_value("OUTBOX_MONGO_URI", "OUTBOX_MONGO_STATE", "scripts/ferretdb/start.sh");
}

// "mongodb://host:port/" + database + optional query.
std::string database_uri(const std::string& database, const std::string& query = "") {
  std::string base = server_uri();
  if (const auto q = base.find('?'); q != std::string::npos) base = base.substr(0, q);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/" + database + (query.empty() ? "" : "?" + query);
}

class MongoBackend final : public Backend {
 public:
  // `query`: the store's options that choose the mode (removed by the store before libmongoc sees
  // the URI, so the test's own client gets the URI without them).
  explicit MongoBackend(std::string query) : database_(unique_database_name()), query_(std::move(query)) {
    mongoc_init();
    // The driver warns at every shutdown that FerretDB lacks endSessions; keep test output readable.
    mongoc_log_set_handler(
        [](mongoc_log_level_t level, const char* domain, const char* message, void*) {
          if (level <= MONGOC_LOG_LEVEL_WARNING && std::string(message).find("endSessions") == std::string::npos) {
            std::fprintf(stderr, "mongoc %s: %s\n", domain, message);
          }
        },
        nullptr);
    client_ = mongoc_client_new(database_uri(database_).c_str());
    if (!client_) throw std::runtime_error("bad URI " + database_uri(database_));
    mongoc_client_set_error_api(client_, MONGOC_ERROR_API_VERSION_2);
  }
  ~MongoBackend() override {
    mongoc_database_t* db = mongoc_client_get_database(client_, database_.c_str());
    mongoc_database_drop(db, nullptr);
    mongoc_database_destroy(db);
    mongoc_client_destroy(client_);
  }

  std::string uri() const override { return database_uri(database_, query_); }

  std::unique_ptr<Transaction> begin() override {
    throw std::logic_error("the poll and capped modes write without a caller transaction");
  }

  std::vector<outbox::Message> commit(std::vector<outbox::Message> messages) override {
    for (auto& m : messages) {
      auto [it, added] = writers_.try_emplace(m.outbox, database_, m.outbox, testing_support::order_schemas());
      m = it->second.put(client_, std::move(m));
    }
    return messages;
  }

 private:
  std::string database_, query_;
  mongoc_client_t* client_ = nullptr;
  std::map<std::string, outbox::mongodb::Outbox> writers_;
};

}  // namespace

std::vector<StoreKind> mongodb_kinds() {
  // Poll and capped modes put without a transaction (one document at a time, positions from a
  // counter), so no write of theirs can be rolled back.
  Capabilities poll;
  poll.caller_transactions = false;
  Capabilities capped = poll;
  // A capped collection's size limit is its retention: documents roll off when it is full (counted
  // as `dropped` by the tail, tested in tests/integration/mongodb), and the server cannot delete
  // documents from a capped collection, so enforce_retention does nothing.
  capped.retention = false;
  return {
      {"mongodb_poll", poll, [] { return std::make_unique<MongoBackend>("outboxMode=poll"); }},
      {"mongodb_capped", capped,
       [] { return std::make_unique<MongoBackend>("outboxMode=capped&outboxCappedSize=1048576"); }},
  };
}

}  // namespace conformance
