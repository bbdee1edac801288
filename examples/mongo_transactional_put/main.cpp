// An order and the message announcing it, written in one MongoDB transaction: both commit or
// neither does. Two ways to handle TransientTransactionError (e.g. WriteConflict), which aborts the
// transaction and asks for the WHOLE transaction to be run again:
//   1. mongoc_client_session_with_transaction, which retries for you (up to 120 s);
//   2. your own loop, when you need control over the retries.
//
//   mongo_transactional_put 'mongodb://127.0.0.1:27017/?replicaSet=rs0'
//
// It needs a replica set or a sharded cluster (transactions and change streams). CI only compiles
// it: no server on the build machines supports transactions (the FerretDB used for the MongoDB
// integration tests has none), so it has never been run there; see docs/mongodb.md.
#include <mongoc/mongoc.h>

#include <iostream>
#include <string>

#include "outbox/errors.hpp"
#include "outbox/mongodb.hpp"

namespace {

struct Order {
  std::string id;
  std::string customer;
  std::int64_t total_cents;
};

// The business write and the outbox message, in the session's transaction. Throws on failure.
void create_order(mongoc_client_session_t* session, mongoc_collection_t* orders, const outbox::mongodb::Outbox& events,
                  const Order& order) {
  bson_t opts = BSON_INITIALIZER;
  bson_error_t error;
  if (!mongoc_client_session_append(session, &opts, &error)) throw std::runtime_error(error.message);
  bson_t* doc = BCON_NEW("_id", BCON_UTF8(order.id.c_str()), "customer", BCON_UTF8(order.customer.c_str()),
                         "total_cents", BCON_INT64(order.total_cents));
  bson_t reply;
  const bool ok = mongoc_collection_insert_one(orders, doc, &opts, &reply, &error);
  const bool transient = !ok && mongoc_error_has_label(&reply, "TransientTransactionError");
  bson_destroy(&reply);
  bson_destroy(doc);
  bson_destroy(&opts);
  if (!ok) throw outbox::StoreError(std::string("insert order: ") + error.message, transient);

  outbox::Message m;
  m.type = "order_created";
  m.key = "order-" + order.id;
  m.data = {{"order", order.id}, {"customer", order.customer}, {"total_cents", order.total_cents}};
  events.put(session, std::move(m));  // same session, same transaction
}

struct Work {
  mongoc_collection_t* orders;
  const outbox::mongodb::Outbox* events;
  Order order;
};

// 1. The callback mongoc_client_session_with_transaction runs (again) in a fresh transaction.
// An outbox StoreError carries no server reply, so a retryable one is handed back with the label
// the driver looks for; any other error is returned as such (never swallowed: the driver could not
// tell whether the transaction was aborted).
bool create_order_callback(mongoc_client_session_t* session, void* ctx, bson_t** reply, bson_error_t* error) {
  auto* work = static_cast<Work*>(ctx);
  try {
    create_order(session, work->orders, *work->events, work->order);
    return true;
  } catch (const outbox::StoreError& e) {
    if (e.retryable() && reply != nullptr)
      *reply = BCON_NEW("errorLabels", "[", BCON_UTF8("TransientTransactionError"), "]");
    bson_set_error(error, MONGOC_ERROR_TRANSACTION, MONGOC_ERROR_TRANSACTION_INVALID_STATE, "%s", e.what());
  } catch (const std::exception& e) {  // ValidationError, UsageError...: retrying cannot help
    bson_set_error(error, MONGOC_ERROR_TRANSACTION, MONGOC_ERROR_TRANSACTION_INVALID_STATE, "%s", e.what());
  }
  return false;
}

bool create_with_driver_retries(mongoc_client_session_t* session, Work& work) {
  bson_t reply;
  bson_error_t error;
  const bool ok =
      mongoc_client_session_with_transaction(session, create_order_callback, nullptr, &work, &reply, &error);
  bson_destroy(&reply);
  if (!ok) std::cerr << "order " << work.order.id << " not created: " << error.message << "\n";
  return ok;
}

// 2. The same, retried by hand: abort, then run the whole transaction again.
bool create_with_own_loop(mongoc_client_session_t* session, Work& work) {
  for (int attempt = 1; attempt <= 5; ++attempt) {
    bson_error_t error;
    if (!mongoc_client_session_start_transaction(session, nullptr, &error)) {
      std::cerr << "start transaction: " << error.message << "\n";
      return false;
    }
    try {
      create_order(session, work.orders, *work.events, work.order);
    } catch (const outbox::StoreError& e) {
      mongoc_client_session_abort_transaction(session, nullptr);
      if (e.retryable()) {  // transient: the whole transaction again
        std::cerr << "attempt " << attempt << ": " << e.what() << "\n";
        continue;
      }
      std::cerr << "order " << work.order.id << " not created: " << e.what() << "\n";
      return false;
    } catch (const std::exception& e) {  // ValidationError, UsageError: fix the call, do not retry
      mongoc_client_session_abort_transaction(session, nullptr);
      std::cerr << "order " << work.order.id << " not created: " << e.what() << "\n";
      return false;
    }
    // The commit itself may fail transiently (retry everything) or with an unknown result (retry
    // the commit alone: committing twice is safe).
    for (int commit_attempt = 1;; ++commit_attempt) {
      bson_t reply;
      const bool committed = mongoc_client_session_commit_transaction(session, &reply, &error);
      const bool unknown = !committed && mongoc_error_has_label(&reply, "UnknownTransactionCommitResult");
      const bool transient = !committed && mongoc_error_has_label(&reply, "TransientTransactionError");
      bson_destroy(&reply);
      if (committed) return true;
      if (unknown && commit_attempt < 3) continue;
      if (transient) break;
      std::cerr << "commit" << (unknown ? " (result unknown: check before retrying)" : "") << ": " << error.message
                << "\n";
      return false;
    }
  }
  std::cerr << "order " << work.order.id << " not created: still conflicting after 5 attempts\n";
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string uri = argc > 1 ? argv[1] : "mongodb://127.0.0.1:27017/?replicaSet=rs0";
  mongoc_init();
  int status = 1;
  mongoc_client_t* client = mongoc_client_new(uri.c_str());
  if (client == nullptr) {
    std::cerr << "not a MongoDB URI: " << outbox::redact_uri(uri) << "\n";
    mongoc_cleanup();
    return 2;
  }
  try {
    outbox::SchemaRegistry registry;
    registry.add("order_created", {{"type", "object"},
                                   {"required", {"order", "customer", "total_cents"}},
                                   {"properties", {{"total_cents", {{"type", "integer"}}}}}});
    const outbox::mongodb::Outbox events("shop", "orders", std::move(registry));
    events.init(client, {});  // transactional mode: refuses a server without transactions
    mongoc_collection_t* orders = mongoc_client_get_collection(client, "shop", "orders");
    bson_error_t error;
    mongoc_client_session_t* session = mongoc_client_start_session(client, nullptr, &error);
    if (session == nullptr) throw std::runtime_error(std::string("start session: ") + error.message);

    Work first{orders, &events, {"1001", "ada", 4200}};
    Work second{orders, &events, {"1002", "grace", 1700}};
    if (create_with_driver_retries(session, first) && create_with_own_loop(session, second)) status = 0;

    mongoc_client_session_destroy(session);
    mongoc_collection_destroy(orders);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
  }
  mongoc_client_destroy(client);
  mongoc_cleanup();
  if (status == 0) std::cout << "2 orders and their messages committed; relay them with `outbox relay`\n";
  return status;
}
