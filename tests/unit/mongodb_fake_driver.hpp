// A scripted stand-in for the libmongoc seam (store/mongodb/driver.hpp): records exactly what the
// transactional put and the change-stream tail send, and replays server replies a test writes.
// It proves the callers' logic only; nothing here says a real server behaves this way.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/mongodb/driver.hpp"

namespace fakes {

using outbox::mongodb::Bson;
using outbox::mongodb::DriverError;

// One reply of a scripted change stream, as mongoc_change_stream_next would produce it.
struct StreamReply {
  enum class Kind { event, dry, error };
  Kind kind = Kind::dry;
  std::string json;  // event: the change event; dry: the post-batch resume token (may be empty)
  DriverError error;

  static StreamReply event(std::string json) { return {Kind::event, std::move(json), {}}; }
  static StreamReply dry(std::string post_batch_token) { return {Kind::dry, std::move(post_batch_token), {}}; }
  static StreamReply fail(DriverError e) { return {Kind::error, {}, std::move(e)}; }
};

class FakeDriver final : public outbox::mongodb::Driver {
 public:
  struct Watch {
    std::string database, collection, pipeline, options;  // canonical extended JSON
  };
  struct Insert {
    mongoc_client_session_t* session;
    std::string database, collection, document;  // canonical extended JSON
  };

  // Scripted: one reply list per stream opened, in order; a stream past its script stays dry.
  std::deque<std::deque<StreamReply>> streams;
  // Per stream opened: the token the initial aggregate reply leaves cached ("" = none).
  std::deque<std::string> initial_tokens;
  bool transaction_started = true;
  std::optional<DriverError> insert_error;

  // Recorded.
  std::vector<Watch> watches;
  std::vector<Insert> inserts;
  int next_calls = 0;

  bool in_transaction(mongoc_client_session_t*) override { return transaction_started; }

  std::optional<DriverError> insert_one(mongoc_client_session_t* session, const std::string& database,
                                        const std::string& collection, const bson_t& doc) override {
    inserts.push_back({session, database, collection, outbox::mongodb::canonical_extended_json(doc)});
    return insert_error;
  }

  std::unique_ptr<outbox::mongodb::ChangeStream> watch(const std::string& database, const std::string& collection,
                                                       const bson_t& pipeline, const bson_t& options) override {
    watches.push_back({database, collection, outbox::mongodb::canonical_extended_json(pipeline),
                       outbox::mongodb::canonical_extended_json(options)});
    std::deque<StreamReply> script;
    if (!streams.empty()) {
      script = std::move(streams.front());
      streams.pop_front();
    }
    // Like libmongoc, the cached token starts as the resumeAfter token, if any.
    std::optional<Bson> token;
    if (!initial_tokens.empty()) {
      if (!initial_tokens.front().empty()) token = Bson::from_extended_json(initial_tokens.front(), "initial token");
      initial_tokens.pop_front();
    }
    bson_iter_t it;
    if (bson_iter_init_find(&it, &options, "resumeAfter") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
      std::uint32_t length = 0;
      const std::uint8_t* data = nullptr;
      bson_iter_document(&it, &length, &data);
      token = Bson(bson_new_from_data(data, length));
    }
    return std::make_unique<Stream>(*this, std::move(script), std::move(token));
  }

 private:
  class Stream final : public outbox::mongodb::ChangeStream {
   public:
    Stream(FakeDriver& d, std::deque<StreamReply> script, std::optional<Bson> token)
        : driver_(d), script_(std::move(script)), token_(std::move(token)) {}

    const bson_t* next() override {
      ++driver_.next_calls;
      error_.reset();
      if (script_.empty()) return nullptr;
      StreamReply r = std::move(script_.front());
      script_.pop_front();
      switch (r.kind) {
        case StreamReply::Kind::event: {
          current_ = Bson::from_extended_json(r.json, "scripted event");
          bson_iter_t it;
          if (bson_iter_init_find(&it, current_->get(), "_id") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
            std::uint32_t length = 0;
            const std::uint8_t* data = nullptr;
            bson_iter_document(&it, &length, &data);
            token_ = Bson(bson_new_from_data(data, length));
          }
          return current_->get();
        }
        case StreamReply::Kind::dry:
          if (!r.json.empty()) token_ = Bson::from_extended_json(r.json, "scripted token");
          return nullptr;
        case StreamReply::Kind::error:
          error_ = r.error;
          return nullptr;
      }
      return nullptr;
    }
    std::optional<DriverError> error() override { return error_; }
    std::optional<Bson> resume_token() override {
      if (!token_) return std::nullopt;
      return Bson::copy_of(**token_);
    }

   private:
    FakeDriver& driver_;
    std::deque<StreamReply> script_;
    std::optional<Bson> token_;
    std::optional<Bson> current_;
    std::optional<DriverError> error_;
  };
};

// The fake is owned by the code under test (unique_ptr); tests keep this view of it.
struct OwnedFake {
  std::unique_ptr<FakeDriver> owned = std::make_unique<FakeDriver>();
  FakeDriver* fake = owned.get();
};

}  // namespace fakes
