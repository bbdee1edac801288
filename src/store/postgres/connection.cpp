#include "connection.hpp"

#include <libpq-events.h>

#include <cctype>
#include <cstring>
#include <unordered_set>

#include "outbox/errors.hpp"
#include "outbox/store.hpp"

namespace outbox::postgres::detail {

namespace {

// One line: libpq's messages end in a newline and some continue on a tab-indented second line.
std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (std::size_t i = 0; (i = s.find('\n', i)) != std::string::npos;) {
    std::size_t j = i + 1;
    while (j < s.size() && (s[j] == '\t' || s[j] == ' ')) ++j;
    s.replace(i, j - i, " ");
  }
  return s;
}

// SQLSTATE classes where trying again may succeed.
bool retryable_state(const char* state) {
  if (state == nullptr) return true;  // no server answer: the connection is the problem
  const std::string s(state);
  return s.rfind("08", 0) == 0                            // connection exception
         || s == "40001" || s == "40P01"                  // serialization failure, deadlock
         || s.rfind("53", 0) == 0                         // insufficient resources (too many connections...)
         || s == "57P01" || s == "57P02" || s == "57P03"  // shutdown, crash, cannot connect now
         || s == "55P03"                                  // lock not available
         || s == "26000";  // prepared statement gone (a pooler's DISCARD ALL): prepared again next time
}

}  // namespace

std::int64_t Result::int64(int row, int col) const { return std::strtoll(PQgetvalue(r_.get(), row, col), nullptr, 10); }

void fail(PGconn* conn, const PGresult* result, const std::string& doing) {
  const bool broken = conn == nullptr || PQstatus(conn) == CONNECTION_BAD;
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string detail = result ? PQresultErrorMessage(result) : "";
  if (detail.empty() && conn) detail = PQerrorMessage(conn);
  detail = redact_uri(trim(detail));
  const bool retry = broken || retryable_state(state);
  throw StoreError("postgres: " + doing + " failed" + (state ? std::string(" [") + state + "]" : "") + ": " +
                       (detail.empty() ? "no answer from the server" : detail) + (broken ? " (connection lost)" : ""),
                   retry);
}

Result exec(PGconn* conn, const std::string& sql, const Params& params, const std::string& doing) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  Result r(
      PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
  const auto st = r.get() ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(conn, r.get(), doing);
  return r;
}

namespace {

// What we keep about a connection, caller-owned or ours, as libpq instance data (libpq never frees
// it: the event procedure does, with the connection).
struct ConnectionState {
  std::unordered_set<std::string> names;  // statements prepared on it
  std::uint64_t transaction_boundaries = 0;
};

// Command tags that end or begin a transaction block (a failed COMMIT answers ROLLBACK, and leaves
// the connection outside any transaction). Not ROLLBACK: ROLLBACK TO SAVEPOINT carries the same
// tag inside a transaction that goes on, and after a plain ROLLBACK the next transaction starts
// with a counted BEGIN.
bool is_transaction_boundary(const char* tag) {
  return std::strcmp(tag, "BEGIN") == 0 || std::strcmp(tag, "START TRANSACTION") == 0 ||
         std::strcmp(tag, "COMMIT") == 0 || std::strcmp(tag, "PREPARE TRANSACTION") == 0;
}

// Every event succeeds: a 0 from a result's event would turn that result into an error.
int connection_state_event(PGEventId id, void* info, void*) {
  if (id == PGEVT_CONNRESET) {  // a new server session: nothing is prepared there
    auto* e = static_cast<PGEventConnReset*>(info);
    if (auto* s = static_cast<ConnectionState*>(PQinstanceData(e->conn, connection_state_event))) s->names.clear();
  } else if (id == PGEVT_CONNDESTROY) {
    auto* e = static_cast<PGEventConnDestroy*>(info);
    delete static_cast<ConnectionState*>(PQinstanceData(e->conn, connection_state_event));
  } else if (id == PGEVT_RESULTCREATE) {
    auto* e = static_cast<PGEventResultCreate*>(info);
    if (!is_transaction_boundary(PQcmdStatus(e->result))) return 1;
    if (auto* s = static_cast<ConnectionState*>(PQinstanceData(e->conn, connection_state_event))) {
      ++s->transaction_boundaries;
    }
  }
  return 1;
}

ConnectionState* connection_state(PGconn* conn) {
  if (auto* s = static_cast<ConnectionState*>(PQinstanceData(conn, connection_state_event))) return s;
  if (PQregisterEventProc(conn, connection_state_event, "outbox connection state", nullptr) == 0) {
    return nullptr;  // registration refused
  }
  auto* s = new ConnectionState;
  if (PQsetInstanceData(conn, connection_state_event, s) == 0) {
    delete s;
    return nullptr;
  }
  return s;
}

}  // namespace

std::unordered_set<std::string>* prepared_names(PGconn* conn) {
  ConnectionState* s = connection_state(conn);
  return s ? &s->names : nullptr;
}

std::uint64_t transaction_boundaries(PGconn* conn) {
  ConnectionState* s = connection_state(conn);
  if (s == nullptr) {
    throw StoreError(
        "postgres: libpq refused to register an event procedure on the connection (out of memory?), so the "
        "transactions on it cannot be followed; check the process's memory and try again",
        false);
  }
  return s->transaction_boundaries;
}

Result exec_prepared(PGconn* conn, const std::string& name, const std::string& sql, const Params& params,
                     const std::string& doing) {
  ConnectionState* prepared = connection_state(conn);
  if (prepared == nullptr) return exec(conn, sql, params, doing);
  if (!prepared->names.contains(name)) {
    Result p(PQprepare(conn, name.c_str(), sql.c_str(), 0, nullptr));
    const auto st = p.get() ? PQresultStatus(p.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK) fail(conn, p.get(), doing);
    prepared->names.insert(name);
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& v : params) values.push_back(v ? v->c_str() : nullptr);
  Result r(PQexecPrepared(conn, name.c_str(), static_cast<int>(values.size()), values.data(), nullptr, nullptr, 0));
  const auto st = r.get() ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const char* state = r.get() ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    // 26000: the statement is gone (DISCARD ALL or DEALLOCATE by a pooler): prepare it again next
    // time; this call's transaction is aborted, retrying the transaction succeeds.
    if (state != nullptr && std::strcmp(state, "26000") == 0) prepared->names.erase(name);
    fail(conn, r.get(), doing);
  }
  return r;
}

void exec_script(PGconn* conn, const std::string& sql, const std::string& doing) {
  Result r(PQexec(conn, sql.c_str()));
  const auto st = r.get() ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(conn, r.get(), doing);
}

std::string quote_ident(PGconn* conn, const std::string& name) {
  if (conn) {
    char* q = PQescapeIdentifier(conn, name.c_str(), name.size());
    if (q) {
      std::string out(q);
      PQfreemem(q);
      return out;
    }
  }
  return "\"" + name + "\"";
}

std::int64_t lock_key(const std::string& a, const std::string& b) {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;  // separator no UTF-8 text contains
    h *= 1099511628211ull;
  };
  mix(a);
  mix(b);
  return static_cast<std::int64_t>(h);
}

Connection::Connection(std::string conninfo) : conninfo_(std::move(conninfo)), redacted_(redact_uri(conninfo_)) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo_.c_str(), &err);
  if (!opts) {
    std::string msg = err ? trim(err) : "malformed";
    if (err) PQfreemem(err);
    // libpq quotes the text it stumbled on, which can be a piece of an unquoted password with a
    // space in it: then say only where to look.
    // A plain case-insensitive search, as in redact_uri: no std::regex over URIs (it recurses).
    std::string lower = conninfo_;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool has_password = lower.find("password") != std::string::npos || lower.find("passwd") != std::string::npos;
    throw UsageError("postgres store '" + redacted_ + "' is not a valid URI or conninfo" +
                     (has_password
                          ? std::string(" (quote values with spaces: password='...'; percent-encode them in a URI)")
                          : ": " + redact_uri(msg)));
  }
  PQconninfoFree(opts);
  ensure();
}

Connection::~Connection() {
  if (conn_) PQfinish(conn_);
}

PGconn* Connection::ensure() {
  if (conn_ && PQstatus(conn_) == CONNECTION_OK) return conn_;
  if (conn_) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  PGconn* c = PQconnectdb(conninfo_.c_str());
  if (!c || PQstatus(c) != CONNECTION_OK) {
    const std::string msg = c ? redact_uri(trim(PQerrorMessage(c))) : "out of memory";
    if (c) PQfinish(c);
    throw StoreError("postgres: cannot connect to '" + redacted_ + "': " + msg, true);
  }
  // Server notices (e.g. "already exists, skipping") are not errors; keep them off stderr.
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  conn_ = c;
  ++generation_;
  return conn_;
}

Transaction::Transaction(PGconn* conn) : conn_(conn) { exec_script(conn_, "BEGIN", "BEGIN"); }

Transaction::~Transaction() {
  if (!done_ && PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) != PQTRANS_IDLE) {
    PQclear(PQexec(conn_, "ROLLBACK"));
  }
}

std::string connection_error(PGconn* conn) {
  const std::string text = redact_uri(trim(PQerrorMessage(conn)));
  return text.empty() ? "no answer from the server" : text;
}

CommitInDoubt commit_in_doubt(PGconn* conn, const std::string& doing) {
  return CommitInDoubt("postgres: " + (doing.empty() ? std::string() : doing + ": ") +
                       "the connection broke while COMMIT was in flight (" + connection_error(conn) +
                       "); the transaction may or may not have committed: check (e.g. by message id) before "
                       "retrying");
}

void Transaction::commit() {
  done_ = true;
  Result r(PQexec(conn_, "COMMIT"));
  const auto st = r.get() ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK) {
    // COMMIT of a transaction that had failed answers ROLLBACK.
    if (std::strcmp(PQcmdStatus(r.get()), "COMMIT") == 0) return;
    throw StoreError("postgres: the transaction had failed and was rolled back", false);
  }
  if (PQstatus(conn_) == CONNECTION_BAD || r.get() == nullptr ||
      PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) == nullptr) {
    throw commit_in_doubt(conn_, "");
  }
  fail(conn_, r.get(), "COMMIT");
}

}  // namespace outbox::postgres::detail
