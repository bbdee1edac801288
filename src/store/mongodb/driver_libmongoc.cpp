// The Driver seam implemented with libmongoc. Kept thin: every decision about what to send and how
// to react to a reply lives in the callers (transactional_put.cpp, change_stream_tail.cpp), where
// unit tests reach it.
#include <mongoc/mongoc.h>

#include "store/mongodb/driver.hpp"

namespace outbox::mongodb {

namespace {

std::vector<std::string> labels_of(const bson_t* reply) {
  std::vector<std::string> labels;
  bson_iter_t it, array;
  if (reply == nullptr || !bson_iter_init_find(&it, reply, "errorLabels") || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &array)) {
    return labels;
  }
  while (bson_iter_next(&array)) {
    if (BSON_ITER_HOLDS_UTF8(&array)) labels.emplace_back(bson_iter_utf8(&array, nullptr));
  }
  return labels;
}

DriverError error_from(const bson_error_t& error, const bson_t* reply) {
  DriverError out;
  out.code = static_cast<std::int32_t>(error.code);
  out.message = error.message;
  out.labels = labels_of(reply);
  switch (error.domain) {
    case MONGOC_ERROR_STREAM:
    case MONGOC_ERROR_SERVER_SELECTION:
      out.kind = DriverError::Kind::network;
      break;
    case MONGOC_ERROR_SERVER:
    case MONGOC_ERROR_QUERY:
    case MONGOC_ERROR_COLLECTION:
    case MONGOC_ERROR_WRITE_CONCERN:
      out.kind = DriverError::Kind::server;
      break;
    default: {
      // Error API version 1 reports some server errors under other domains; a reply carrying a
      // numeric code came from the server.
      bson_iter_t it;
      out.kind = reply != nullptr && bson_iter_init_find(&it, reply, "code") && BSON_ITER_HOLDS_NUMBER(&it)
                     ? DriverError::Kind::server
                     : DriverError::Kind::client;
    }
  }
  return out;
}

class LibmongocChangeStream final : public ChangeStream {
 public:
  // Owns both; the collection outlives the stream that was opened on it.
  LibmongocChangeStream(mongoc_collection_t* collection, mongoc_change_stream_t* stream)
      : collection_(collection), stream_(stream) {}
  ~LibmongocChangeStream() override {
    mongoc_change_stream_destroy(stream_);
    mongoc_collection_destroy(collection_);
  }
  LibmongocChangeStream(const LibmongocChangeStream&) = delete;
  LibmongocChangeStream& operator=(const LibmongocChangeStream&) = delete;

  const bson_t* next() override {
    const bson_t* event = nullptr;
    return mongoc_change_stream_next(stream_, &event) ? event : nullptr;
  }

  std::optional<DriverError> error() override {
    bson_error_t error;
    const bson_t* reply = nullptr;
    if (!mongoc_change_stream_error_document(stream_, &error, &reply)) return std::nullopt;
    return error_from(error, reply);
  }

  std::optional<Bson> resume_token() override {
    const bson_t* token = mongoc_change_stream_get_resume_token(stream_);
    if (token == nullptr) return std::nullopt;
    return Bson::copy_of(*token);
  }

 private:
  mongoc_collection_t* collection_;
  mongoc_change_stream_t* stream_;
};

class LibmongocDriver final : public Driver {
 public:
  LibmongocDriver(mongoc_client_t* client, std::function<void(mongoc_client_t*)> release)
      : client_(client), release_(std::move(release)) {}
  ~LibmongocDriver() override {
    if (release_) release_(client_);
  }
  LibmongocDriver(const LibmongocDriver&) = delete;
  LibmongocDriver& operator=(const LibmongocDriver&) = delete;

  bool in_transaction(mongoc_client_session_t* session) override {
    return mongoc_client_session_in_transaction(session);
  }

  std::optional<DriverError> insert_one(mongoc_client_session_t* session, const std::string& database,
                                        const std::string& collection, const bson_t& doc) override {
    mongoc_client_t* client = mongoc_client_session_get_client(session);
    mongoc_collection_t* coll = mongoc_client_get_collection(client, database.c_str(), collection.c_str());
    bson_t opts = BSON_INITIALIZER;
    bson_t reply;
    bson_error_t error;
    std::optional<DriverError> failure;
    if (!mongoc_client_session_append(session, &opts, &error)) {
      bson_init(&reply);
      failure = error_from(error, nullptr);
    } else if (!mongoc_collection_insert_one(coll, &doc, &opts, &reply, &error)) {
      failure = error_from(error, &reply);
    }
    bson_destroy(&reply);
    bson_destroy(&opts);
    mongoc_collection_destroy(coll);
    return failure;
  }

  std::unique_ptr<ChangeStream> watch(const std::string& database, const std::string& collection,
                                      const bson_t& pipeline, const bson_t& options) override {
    mongoc_collection_t* coll = mongoc_client_get_collection(client_, database.c_str(), collection.c_str());
    return std::make_unique<LibmongocChangeStream>(coll, mongoc_collection_watch(coll, &pipeline, &options));
  }

 private:
  mongoc_client_t* client_;
  std::function<void(mongoc_client_t*)> release_;
};

}  // namespace

std::unique_ptr<Driver> libmongoc_driver(mongoc_client_t* client, std::function<void(mongoc_client_t*)> release) {
  return std::make_unique<LibmongocDriver>(client, std::move(release));
}

}  // namespace outbox::mongodb
