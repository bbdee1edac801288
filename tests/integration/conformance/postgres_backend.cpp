// PostgreSQL in the suite: a database of its own per test (CREATE DATABASE on the server the
// `postgres` ctest fixture started; the fixture runs it with fsync=off, so this is quick), dropped
// afterwards; writes in the caller's transaction through outbox::postgres::Outbox::put on a libpq
// connection of the test's own.
#include <map>
#include <stdexcept>

#include "fixture_env.hpp"
#include "order_messages.hpp"
#include "outbox/postgres.hpp"
#include "pg_conn.hpp"
#include "store_kind.hpp"

namespace conformance {
namespace {

using testing_support::PgConn;

void exec(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  const auto st = PQresultStatus(r);
  const std::string err = PQresultErrorMessage(r);
  PQclear(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) throw std::runtime_error(sql + ": " + err);
}

// The fixture's server (OUTBOX_PG_URI, from $OUTBOX_PG_STATE/env or the environment).
std::string server_uri() {
  return testing_support::fixture_value("OUTBOX_PG_URI", "OUTBOX_PG_STATE", "scripts/postgres/start.sh");
}

// `uri` naming another database: a URI's path is replaced; a key=value string gets a dbname.
std::string with_database(const std::string& uri, const std::string& database) {
  for (const std::string scheme : {"postgresql://", "postgres://"}) {
    if (uri.rfind(scheme, 0) != 0) continue;
    const auto authority_end = uri.find_first_of("/?", scheme.size());
    if (authority_end == std::string::npos) return uri + "/" + database;
    const auto query = uri.find('?', authority_end);
    return uri.substr(0, authority_end) + "/" + database + (query == std::string::npos ? "" : uri.substr(query));
  }
  return uri + " dbname=" + database;
}

class PostgresBackend final : public Backend {
 public:
  PostgresBackend() : admin_(server_uri()), database_(unique_database_name()) {
    exec(admin_, "CREATE DATABASE " + database_);
    uri_ = with_database(server_uri(), database_);
  }
  ~PostgresBackend() override {
    writer_.reset();
    // FORCE: a tail's connection the test leaked must not keep the database alive.
    PQclear(PQexec(admin_, ("DROP DATABASE IF EXISTS " + database_ + " WITH (FORCE)").c_str()));
  }

  std::string uri() const override { return uri_; }

  std::unique_ptr<Transaction> begin() override {
    if (!writer_) writer_ = std::make_unique<PgConn>(uri_);
    return std::make_unique<Tx>(*this);
  }

 private:
  class Tx final : public Transaction {
   public:
    explicit Tx(PostgresBackend& b) : b_(b) { exec(*b_.writer_, "BEGIN"); }
    ~Tx() override {
      if (open_) PQclear(PQexec(*b_.writer_, "ROLLBACK"));
    }
    outbox::Message put(outbox::Message m) override {
      auto [it, added] = b_.writers_.try_emplace(m.outbox, m.outbox, testing_support::order_schemas());
      return it->second.put(*b_.writer_, std::move(m));
    }
    void commit() override {
      exec(*b_.writer_, "COMMIT");
      open_ = false;
    }

   private:
    PostgresBackend& b_;
    bool open_ = true;
  };

  PgConn admin_;
  std::string database_, uri_;
  std::unique_ptr<PgConn> writer_;
  std::map<std::string, outbox::postgres::Outbox> writers_;
};

}  // namespace

std::vector<StoreKind> postgres_kinds() {
  return {{"postgres", Capabilities{}, [] { return std::make_unique<PostgresBackend>(); }}};
}

}  // namespace conformance
