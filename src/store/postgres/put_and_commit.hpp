// Puts that ride in the COMMIT's network flight: the statements of several puts and the caller's
// COMMIT sent together in libpq pipeline mode, so a transaction with puts takes no more round
// trips than one without. A round trip to the server weighs as much as a commit's flush on a fast
// disk, so this is what brings a put's cost near zero (docs/benchmarks.md, "Puts that ride with
// the COMMIT").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "connection.hpp"
#include "outbox/postgres.hpp"

namespace outbox::postgres::detail {

// A put's statement and the name it is prepared under on a connection (PutStatements::name,
// which outlives the call).
struct NamedPut {
  const std::string* name;
  PutStatement statement;
};

// Sends `puts` (each prepared on first use, in the same flight) and COMMIT in one flight on
// `conn`, which must be inside an open transaction and not in pipeline mode, and returns the
// puts' positions in order. Every outcome ends the transaction:
//  - returns: committed;
//  - StoreError: nothing committed; the transaction is rolled back and `conn` is usable again
//    (retryable() as for a put or COMMIT that failed alone);
//  - CommitInDoubt: the connection broke once COMMIT was on its way; it may have committed.
std::vector<std::int64_t> put_and_commit(PGconn* conn, const std::vector<NamedPut>& puts, const std::string& doing);

}  // namespace outbox::postgres::detail
