// The seed's example in C++: an order service that creates and completes orders, and announces
// each change through the outbox in the same transaction as the change itself.
//
//   order_service --db orders.db --orders 100
//
// Then publish with:  outbox relay --store sqlite:orders.db --outbox order_service --sink stdout: --drain
#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "outbox/outbox.hpp"
#include "outbox/sqlite.hpp"

// One C++ type per message kind. The JSON Schema and the JSON conversion both come from these
// declarations, so they cannot drift apart.
struct OrderCreated {
  std::int64_t ordernr;
  std::string customer;
  std::int64_t total_cents;
};
OUTBOX_MESSAGE(OrderCreated, "order_created", ordernr, customer, total_cents)

struct OrderCompleted {
  std::int64_t ordernr;
};
OUTBOX_MESSAGE(OrderCompleted, "order_completed", ordernr)

using OrderEvents = outbox::MessageSet<OrderCreated, OrderCompleted>;

namespace {

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string message = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error(std::string(sql) + ": " + message);
  }
}

// Rolls back unless committed: what any transaction wrapper (SQLiteCpp, your own) does.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { exec(db_, "BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!committed_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    exec(db_, "COMMIT");
    committed_ = true;
  }

 private:
  sqlite3* db_;
  bool committed_ = false;
};

class OrderService {
 public:
  OrderService(sqlite3* db, const outbox::sqlite::Outbox& outbox) : db_(db), events_(outbox.writer(db)) {
    sqlite3_prepare_v2(db_, "INSERT INTO orders (nr, customer, total_cents, status) VALUES (?1, ?2, ?3, 'new')", -1,
                       &insert_, nullptr);
    sqlite3_prepare_v2(db_, "UPDATE orders SET status = 'completed' WHERE nr = ?1", -1, &complete_, nullptr);
  }
  ~OrderService() {
    sqlite3_finalize(insert_);
    sqlite3_finalize(complete_);
  }

  // The order row and its event commit together, or neither does.
  void create(std::int64_t nr, const std::string& customer, std::int64_t total_cents) {
    Transaction tx(db_);
    sqlite3_bind_int64(insert_, 1, nr);
    sqlite3_bind_text(insert_, 2, customer.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert_, 3, total_cents);
    step(insert_);
    OrderEvents::put(events_, OrderCreated{nr, customer, total_cents}, "order-" + std::to_string(nr),
                     {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}});
    tx.commit();
  }

  void complete(std::int64_t nr) {
    Transaction tx(db_);
    sqlite3_bind_int64(complete_, 1, nr);
    step(complete_);
    OrderEvents::put(events_, OrderCompleted{nr}, "order-" + std::to_string(nr));
    tx.commit();
  }

 private:
  void step(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db_));
  }

  sqlite3* db_;
  outbox::sqlite::Writer events_;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* complete_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  std::string path = "orders.db";
  long orders = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--db")
      path = argv[i + 1];
    else if (flag == "--orders")
      orders = std::atol(argv[i + 1]);
    else {
      std::cerr << "usage: order_service [--db PATH] [--orders N]\n";
      return 2;
    }
  }

  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    std::cerr << "cannot open " << path << ": " << sqlite3_errmsg(db) << "\n";
    return 1;
  }
  sqlite3_busy_timeout(db, 5000);
  try {
    // The schema registry is derived from the C++ types.
    const outbox::sqlite::Outbox order_outbox("order_service", OrderEvents::registry());
    order_outbox.init(db);
    exec(db,
         "CREATE TABLE IF NOT EXISTS orders (nr INTEGER PRIMARY KEY, customer TEXT NOT NULL,"
         " total_cents INTEGER NOT NULL, status TEXT NOT NULL)");
    exec(db, "DELETE FROM orders");
    {
      OrderService service(db, order_outbox);
      for (long nr = 1; nr <= orders; ++nr) service.create(nr, "customer-" + std::to_string(nr % 7), 1000 + nr);
      for (long nr = 1; nr <= orders; nr += 2) service.complete(nr);

      // A message that breaks its schema is refused before anything is written, and the
      // transaction stays usable: here the service still commits its order row.
      Transaction tx(db);
      exec(db, "INSERT INTO orders (nr, customer, total_cents, status) VALUES (-1, 'audit', 0, 'note')");
      try {
        outbox::Message bad = OrderEvents::make(OrderCompleted{-1});
        bad.data["unexpected"] = true;  // not declared in OrderCompleted: additionalProperties is false
        order_outbox.put(db, bad);
      } catch (const outbox::ValidationError& e) {
        std::cerr << "refused as expected: " << e.what() << "\n";
      }
      tx.commit();
    }
    std::cerr << "order_service: created " << orders << " orders and completed " << (orders + 1) / 2
              << "; their events are in outbox 'order_service' of " << path << "\n";
  } catch (const std::exception& e) {
    std::cerr << "order_service failed: " << e.what() << "\n";
    sqlite3_close(db);
    return 1;
  }
  sqlite3_close(db);
  return 0;
}
