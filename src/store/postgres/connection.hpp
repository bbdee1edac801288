// A thin RAII layer over libpq, private to the PostgreSQL store: results are cleared, connections
// finished and transactions rolled back on destruction; every error becomes a StoreError saying
// whether a retry may help (connection loss, serialization failure, deadlock) or not.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "outbox/errors.hpp"

namespace outbox::postgres::detail {

using Params = std::vector<std::optional<std::string>>;  // nullopt = SQL NULL; all sent as text

class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  int rows() const { return PQntuples(r_.get()); }
  bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string text(int row, int col) const { return PQgetvalue(r_.get(), row, col); }
  std::int64_t int64(int row, int col) const;
  PGresult* get() const { return r_.get(); }

 private:
  struct Clear {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> r_;
};

// Throws StoreError describing the failure of `doing` on `conn` (result may be null).
[[noreturn]] void fail(PGconn* conn, const PGresult* result, const std::string& doing);

// One statement with bound text parameters (extended protocol: one round trip). Throws StoreError.
Result exec(PGconn* conn, const std::string& sql, const Params& params, const std::string& doing);
// The same through a named prepared statement of this connection, prepared on first use (one
// extra round trip per connection and statement; later calls skip parsing and planning). The
// names prepared are remembered per PGconn (libpq instance data, forgotten on PQreset and freed
// with the connection), so this works on connections the caller owns. `sql` must be the same for
// every call with the same `name`. Throws StoreError.
Result exec_prepared(PGconn* conn, const std::string& name, const std::string& sql, const Params& params,
                     const std::string& doing);
// The names exec_prepared has prepared on `conn`, for code that prepares statements in a pipeline
// (put_and_commit.cpp); null when libpq refused the bookkeeping (then statements go unnamed).
std::unordered_set<std::string>* prepared_names(PGconn* conn);
// A number that changes whenever a transaction block ends or begins on `conn` after the first call
// on it (that call, or exec_prepared's, starts following the connection): results tagged BEGIN,
// START TRANSACTION, COMMIT (also what END and COMMIT AND CHAIN answer) or PREPARE TRANSACTION,
// whoever sent the statement. Known on the client, with no round trip: a CommitWriter's kept puts
// must not go out in a transaction other than theirs. The one end it cannot see is ROLLBACK AND
// CHAIN. Throws StoreError if libpq refuses the bookkeeping.
std::uint64_t transaction_boundaries(PGconn* conn);
// Simple protocol, may hold several statements, no parameters. Throws StoreError.
void exec_script(PGconn* conn, const std::string& sql, const std::string& doing);

// "outbox_<name>" quoted by PQescapeIdentifier (or by hand when there is no connection; the name
// has passed check_identifier, so both give the same text).
std::string quote_ident(PGconn* conn, const std::string& name);

// A stable 64-bit hash (FNV-1a) of the parts, for advisory lock keys.
std::int64_t lock_key(const std::string& a, const std::string& b);

// An owned connection, opened from a URI or conninfo; reopened by ensure() after it broke.
class Connection {
 public:
  explicit Connection(std::string conninfo);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // The live connection, reconnecting first if the previous one broke. Throws StoreError
  // (retryable) when the server cannot be reached; the message never shows a password.
  PGconn* ensure();
  PGconn* get() const { return conn_; }
  const std::string& redacted() const { return redacted_; }
  // Counts the server sessions opened so far: session state (LISTEN, session locks) must be set up
  // again when it changes.
  std::uint64_t generation() const { return generation_; }

 private:
  std::string conninfo_;
  std::string redacted_;
  PGconn* conn_ = nullptr;
  std::uint64_t generation_ = 0;
};

// libpq's last error on `conn` as one line, without passwords ("no answer from the server" if none).
std::string connection_error(PGconn* conn);
// The error for a connection that broke with COMMIT unanswered (`doing`, when not empty, prefixed).
CommitInDoubt commit_in_doubt(PGconn* conn, const std::string& doing);

// BEGIN on construction; ROLLBACK on destruction unless committed. commit() throws CommitInDoubt
// when the connection broke while COMMIT was in flight, StoreError when the transaction had failed.
class Transaction {
 public:
  explicit Transaction(PGconn* conn);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  PGconn* conn_;
  bool done_ = false;
};

}  // namespace outbox::postgres::detail
