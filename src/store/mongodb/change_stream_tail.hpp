// The transactional mode's tail: a change stream on the outbox collection. Messages arrive in
// commit (oplog) order, whole transactions at once, and only once committed; each message's
// checkpoint is its change event's resume token. See docs/mongodb.md.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "outbox/store.hpp"
#include "store/mongodb/driver.hpp"

namespace outbox::mongodb {

// Where a change stream starts.
struct ChangeStreamStart {
  enum class Kind {
    now,                // what is committed from now on (startAtOperationTime chosen by the server)
    resume_after,       // after the event (or post-batch point) whose resume token is `token`
    at_operation_time,  // at a cluster time, e.g. the one recorded when the outbox was created
  };
  Kind kind = Kind::now;
  std::string token;          // resume_after: canonical extended JSON of the resume token
  std::uint32_t seconds = 0;  // at_operation_time: the BSON timestamp (seconds, increment)
  std::uint32_t increment = 0;

  static ChangeStreamStart now() { return {}; }
  // From a checkpoint this tail produced. Throws UsageError when `checkpoint` is not a resume token.
  static ChangeStreamStart resume_after(const std::string& checkpoint);
  static ChangeStreamStart at_operation_time(std::uint32_t seconds, std::uint32_t increment) {
    return {Kind::at_operation_time, {}, seconds, increment};
  }
};

// Positions for change-stream messages, which have no stored position: the relay needs strictly
// increasing integers. position = clusterTime seconds * 2^31 + increment, or one more than the last
// position handed out when that is not larger (the events of one transaction share a clusterTime).
// Share one sequence among every tail of a store so that a tail reopened after an error (possibly
// mid-transaction) continues above the positions the relay still holds.
class PositionSequence {
 public:
  std::int64_t next(std::uint32_t seconds, std::uint32_t increment);
  // For an event without clusterTime (never sent by a server that has change streams).
  std::int64_t next();

 private:
  std::mutex mutex_;
  std::int64_t last_ = 0;
};

struct ChangeStreamTailOptions {
  std::string database;
  std::string collection;
  std::string outbox;  // Message::outbox of what the tail yields
  TailOptions tail;    // batch_size (also the change stream's batchSize) and parse_data
  // The server's longest wait for a new event before it answers with an empty batch (and a fresh
  // post-batch resume token). Bounds how late close() takes effect, too.
  std::chrono::milliseconds max_await{500};
};

class ChangeStreamTail final : public Tail {
 public:
  // `positions`: the store's shared sequence; null uses one shared by the whole process.
  ChangeStreamTail(std::unique_ptr<Driver> driver, ChangeStreamTailOptions options, ChangeStreamStart start,
                   std::shared_ptr<PositionSequence> positions = nullptr);

  // Inserted messages in commit order, at most batch_size. Waits up to `wait` for one (plus at most
  // one max_await, which a pending server round trip cannot be cut short of). Throws StoreError:
  // retryable when the stream broke twice in a row (network, ResumableChangeStreamError) - the
  // relay then reopens it from its checkpoint; not retryable when the resume point has fallen out
  // of the oplog, the collection was dropped or renamed, or the server refused otherwise.
  std::vector<Message> next(std::chrono::milliseconds wait) override;
  void close() override { closed_ = true; }
  bool closed() const override { return closed_; }
  // The post-batch resume token of the last batch that ran dry, when no message was returned
  // since (a message resets it until the stream runs dry again).
  std::optional<std::string> idle_checkpoint() override { return idle_; }

 private:
  void open();
  void handle(const bson_t& event, std::vector<Message>& out);
  void handle_error(const DriverError& error);
  std::string where() const;

  std::unique_ptr<Driver> driver_;
  ChangeStreamTailOptions options_;
  ChangeStreamStart start_;
  std::shared_ptr<PositionSequence> positions_;
  std::unique_ptr<ChangeStream> stream_;
  std::string last_token_;  // resume point covering every event seen (canonical ext. JSON)
  std::optional<std::string> idle_;
  int consecutive_errors_ = 0;  // resumable errors since the last successful reply
  std::atomic<bool> closed_{false};
};

// True for the errors after which a change stream cannot resume from its token: its point is no
// longer in the oplog (ChangeStreamHistoryLost 286, ChangeStreamFatalError 280, or older servers'
// "resume point may no longer be in the oplog").
bool is_history_lost(const DriverError& error);
// True for the errors a change stream may resume after: network errors, the
// ResumableChangeStreamError label (servers 4.4+), and the listed codes of older servers.
bool is_resumable(const DriverError& error);
// True for the errors of a server that has no change streams at all: a standalone mongod
// (40573), a server that does not know the stage (40324, CommandNotSupported 115) or says it does
// not implement it (NotImplemented 238; jongodb). Retrying cannot help.
bool is_unsupported(const DriverError& error);
// The message for such an error: what the transactional mode needs and what to use instead.
std::string unsupported_message(const std::string& where, const DriverError& error);

}  // namespace outbox::mongodb
