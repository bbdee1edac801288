// The seam over the few libmongoc calls the transactional put and the change-stream tail make.
// Production uses LibmongocDriver (driver_libmongoc.cpp); unit tests use a fake that records
// exactly what is sent and replays scripted server replies, because no server available here
// (FerretDB) has transactions or change streams.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/mongodb/bson.hpp"

// libmongoc's own typedefs, repeated (identical redeclaration) so that this header needs no mongoc.h.
typedef struct _mongoc_client_t mongoc_client_t;
typedef struct _mongoc_client_session_t mongoc_client_session_t;

namespace outbox::mongodb {

// What a failed call reports, reduced to what the callers classify on.
struct DriverError {
  enum class Kind {
    server,   // the server answered with an error: `code` is the server's error code
    network,  // no answer: connection refused/reset, timeout, no suitable server
    client,   // the driver refused before sending (bad option, wrong state)
  };
  Kind kind = Kind::server;
  std::int32_t code = 0;
  std::string message;
  std::vector<std::string> labels;  // the reply's errorLabels, e.g. "TransientTransactionError"

  bool has_label(std::string_view label) const {
    for (const auto& l : labels) {
      if (l == label) return true;
    }
    return false;
  }
};

// One open change stream (libmongoc's mongoc_change_stream_t).
class ChangeStream {
 public:
  virtual ~ChangeStream() = default;
  // The next change event, valid until the next call; nullptr when the current batch is exhausted
  // and the server had nothing more within maxAwaitTimeMS, or on error (then error() is set).
  virtual const bson_t* next() = 0;
  virtual std::optional<DriverError> error() = 0;
  // The driver's cached resume token: the last event's _id, or the post-batch resume token once a
  // batch (even an empty one) is exhausted. nullopt before the first reply when no start token was given.
  virtual std::optional<Bson> resume_token() = 0;
};

class Driver {
 public:
  virtual ~Driver() = default;
  virtual bool in_transaction(mongoc_client_session_t* session) = 0;
  // insertOne of `doc` into database.collection within `session` (and so within its transaction).
  virtual std::optional<DriverError> insert_one(mongoc_client_session_t* session, const std::string& database,
                                                const std::string& collection, const bson_t& doc) = 0;
  // Opens a change stream on database.collection. `pipeline` is {"pipeline": [stages...]} and `options`
  // the watch options (resumeAfter/startAfter/startAtOperationTime, batchSize, maxAwaitTimeMS,
  // fullDocument). Errors surface through the stream's first next().
  virtual std::unique_ptr<ChangeStream> watch(const std::string& database, const std::string& collection,
                                              const bson_t& pipeline, const bson_t& options) = 0;
};

// The real thing. `client` is used by watch() (insert_one uses the session's own client); it is not
// owned: `release`, when given, is called with it when the driver is destroyed (e.g. to push it
// back into a mongoc_client_pool_t). Like the client itself, not thread-safe: one driver per thread.
std::unique_ptr<Driver> libmongoc_driver(mongoc_client_t* client, std::function<void(mongoc_client_t*)> release = {});

}  // namespace outbox::mongodb
