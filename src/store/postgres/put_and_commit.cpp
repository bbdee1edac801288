#include "put_and_commit.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_set>

#include "outbox/errors.hpp"

namespace outbox::postgres::detail {

namespace {

// What one queued request of the flight was, in the order its result comes back.
struct Request {
  enum Kind { prepare, put, commit } kind;
  std::size_t put_index = 0;  // prepare, put: which of the puts
};

// libpq's send functions answer 1 when the request was queued.
bool queued(int rc) { return rc == 1; }

// Rolls back a transaction that a failed statement left aborted, so that the connection is usable
// again; a connection that broke meanwhile has lost the transaction anyway.
void roll_back(PGconn* conn) {
  if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) PQclear(PQexec(conn, "ROLLBACK"));
}

// Rethrows fail()'s StoreError for `result` with what happened to the transaction added.
[[noreturn]] void fail_and_say(PGconn* conn, const PGresult* result, const std::string& doing,
                               const std::string& outcome) {
  try {
    fail(conn, result, doing);
  } catch (const StoreError& e) {
    throw StoreError(std::string(e.what()) + "; " + outcome, e.retryable());
  }
}

}  // namespace

std::vector<std::int64_t> put_and_commit(PGconn* conn, const std::vector<NamedPut>& puts, const std::string& doing) {
  if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF) {
    throw UsageError(doing +
                     ": the connection is in pipeline mode already; send prepare_put's statement and COMMIT in "
                     "your own pipeline instead");
  }
  std::unordered_set<std::string>* prepared = prepared_names(conn);
  if (!queued(PQenterPipelineMode(conn))) {
    throw UsageError(doing + ": cannot enter pipeline mode (" + connection_error(conn) +
                     "): read every result of the connection's last query first; nothing was sent");
  }

  // Sending: queued in libpq's buffer until the sync flushes it (or the buffer fills).
  std::vector<Request> sent;
  std::vector<const std::string*> preparing;  // names prepared by this flight
  bool send_ok = true;
  for (std::size_t i = 0; i < puts.size() && send_ok; ++i) {
    // Not a structured binding: this clang (14) cannot capture one in the lambda below.
    const std::string* name = puts[i].name;
    const PutStatement& statement = puts[i].statement;
    std::vector<const char*> values;
    values.reserve(statement.params.size());
    for (const auto& v : statement.params) values.push_back(v ? v->c_str() : nullptr);
    const int n = static_cast<int>(values.size());
    if (prepared == nullptr) {  // no bookkeeping on this connection: unnamed statements
      send_ok = queued(PQsendQueryParams(conn, statement.sql.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0));
    } else {
      const auto same_name = [&](const std::string* p) { return *p == *name; };
      if (!prepared->contains(*name) && std::none_of(preparing.begin(), preparing.end(), same_name)) {
        send_ok = queued(PQsendPrepare(conn, name->c_str(), statement.sql.c_str(), 0, nullptr));
        if (!send_ok) break;
        sent.push_back({Request::prepare, i});
        preparing.push_back(name);
      }
      send_ok = queued(PQsendQueryPrepared(conn, name->c_str(), n, values.data(), nullptr, nullptr, 0));
    }
    if (send_ok) sent.push_back({Request::put, i});
  }
  const bool commit_sent =
      send_ok && queued(PQsendQueryParams(conn, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0));
  if (commit_sent) sent.push_back({Request::commit});
  const bool synced = queued(PQpipelineSync(conn));

  // Reading: one result and a null per request; after a failure the rest answer PIPELINE_ABORTED.
  std::vector<std::int64_t> positions;
  positions.reserve(puts.size());
  std::optional<Result> failure;  // the first request the server refused
  const Request* failed = nullptr;
  bool committed = false;
  bool broken = !synced;
  for (const Request& request : sent) {
    if (broken) break;
    Result r(PQgetResult(conn));
    if (r.get() == nullptr) {
      broken = true;
      break;
    }
    const auto st = PQresultStatus(r.get());
    if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_BAD_RESPONSE) {
      if (PQstatus(conn) == CONNECTION_BAD && PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) == nullptr) {
        broken = true;  // libpq's own "server closed the connection" result
        break;
      }
      if (!failure) {
        failed = &request;
        // A statement gone from the server (DEALLOCATE, DISCARD ALL by a pooler): prepare it
        // again next time.
        const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
        if (prepared != nullptr && state != nullptr && std::strcmp(state, "26000") == 0 &&
            request.kind == Request::put) {
          prepared->erase(*puts[request.put_index].name);
        }
        failure.emplace(std::move(r));
      }
    } else if (st != PGRES_PIPELINE_ABORTED) {
      switch (request.kind) {
        case Request::prepare:
          prepared->insert(*puts[request.put_index].name);
          break;
        case Request::put:
          positions.push_back(std::strtoll(PQgetvalue(r.get(), 0, 0), nullptr, 10));
          break;
        case Request::commit:
          // COMMIT of a transaction that had failed answers ROLLBACK.
          committed = std::strcmp(PQcmdStatus(r.get()), "COMMIT") == 0;
          break;
      }
    }
    for (int extra = 0; extra < 8; ++extra) {  // the null that ends this request's results
      PGresult* end = PQgetResult(conn);
      if (end == nullptr) break;
      PQclear(end);
    }
  }
  if (!broken) {
    Result sync(PQgetResult(conn));
    broken = sync.get() == nullptr || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC;
  }
  if (!broken) PQexitPipelineMode(conn);

  if (committed && !failure) return positions;
  const bool lost = broken || PQstatus(conn) == CONNECTION_BAD;
  if (!commit_sent) {  // libpq refused to queue a request: COMMIT never left
    roll_back(conn);
    throw StoreError("postgres: " + doing + " failed: libpq could not send it (" + connection_error(conn) +
                         "); nothing was committed" + (lost ? "" : ": the transaction is rolled back"),
                     true);
  }
  // The server answers in order: a refused put means COMMIT never ran. But a connection that ends
  // with COMMIT unanswered, or with a FATAL error as COMMIT's answer (a server process terminated
  // while it waited for a synchronous standby had committed locally), leaves the outcome unknown.
  if (lost && (!failure || failed->kind == Request::commit)) {
    throw commit_in_doubt(conn, doing);
  }
  if (lost) {
    throw StoreError("postgres: " + doing + " failed: the connection broke (" + connection_error(conn) +
                         "); nothing was committed: reconnect and run the transaction again",
                     true);
  }
  if (failure) {
    const bool at_commit = failed->kind == Request::commit;
    roll_back(conn);
    fail_and_say(conn, failure->get(), at_commit ? doing + " (at COMMIT)" : doing,
                 "nothing was committed: the transaction is rolled back");
  }
  // COMMIT answered ROLLBACK: the transaction had failed before this call.
  throw StoreError("postgres: " + doing + ": the transaction had failed and was rolled back", false);
}

}  // namespace outbox::postgres::detail
