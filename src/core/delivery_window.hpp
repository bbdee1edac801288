// The relay's record of the messages it handed to the sink and has not resolved yet: which are in
// flight, which failed and must be sent again, and the contiguous resolved prefix whose checkpoint
// may be saved. Pure bookkeeping (no store, no sink, no clock), so it is unit-tested on its own.
//
// Entries are kept in delivery order, which is the tail's commit order and NOT necessarily
// position order: a PostgreSQL tail delivers a transaction that took a low position and committed
// late after higher positions. Outcomes are therefore matched by a position index, never by a
// search that assumes sorted positions (that assumption dropped acknowledgements and stalled the
// relay when a late commit met a sink that acknowledges later).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "outbox/message.hpp"
#include "outbox/sink.hpp"

namespace outbox::detail {

enum class EntryState { in_flight, failed, done };

struct WindowEntry {
  Message message;
  EntryState state = EntryState::in_flight;
  int failures = 0;            // all failed attempts (drives the backoff)
  int permanent_failures = 0;  // rejections while published alone: counted against max_attempts
  bool alone = false;          // the last attempt was the only message in flight
  Outcome last = Outcome::ok;
  std::string error;
};

class DeliveryWindow {
 public:
  explicit DeliveryWindow(int max_attempts) : max_attempts_(max_attempts) {}

  // Records messages just handed to the sink, in delivery order. Throws std::logic_error if a
  // position is already in the window (a tail must never return a message twice).
  // `passed_over` (optional, one flag per message) marks messages that were read but not handed
  // to the sink (a replay meant for another consumer): they are resolved at once, so that the
  // checkpoint moves past them in order.
  void add(std::vector<Message> batch, const std::vector<bool>& passed_over = {});

  enum class Applied {
    ignored,       // not in flight (a late or repeated report): nothing changed
    acknowledged,  // the sink has it
    failed,        // to be sent again (retry_attempt / take_retry)
    dead_letter,   // rejected permanently max_attempts times: record it, then dead_lettered()
  };
  struct Result {
    Applied kind = Applied::ignored;
    WindowEntry* entry = nullptr;  // valid until the next pop_resolved_prefix()
  };
  Result apply(const Delivery& delivery);
  // After the caller recorded a dead letter: the entry counts as resolved.
  void dead_lettered(WindowEntry& entry);
  // The dead letter could not be recorded: the entry is retried in the next round.
  void dead_letter_failed(WindowEntry& entry);

  struct Prefix {
    std::string checkpoint;  // of the last resolved message in delivery order
    std::int64_t position = 0;
    std::size_t count = 0;
  };
  // Removes the resolved entries at the front; nullopt when the first entry is unresolved.
  std::optional<Prefix> pop_resolved_prefix();

  // The attempt number the next retry round counts as (for the backoff): the highest failure
  // count among the failed messages, or the first one's alone when that round is isolated.
  int retry_attempt() const;
  // Marks failed messages in flight again and returns them in delivery order: all of them after
  // retryable failures only (a broker outage), or only the first one when any failure was
  // permanent, so one bad message cannot condemn those it was batched with.
  std::vector<Message> take_retry();

  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  std::size_t in_flight() const { return in_flight_; }
  std::size_t failed() const { return failed_; }
  // Entries that failed at least once and are not resolved yet (nothing new is read meanwhile).
  std::size_t recovering() const { return recovering_; }

 private:
  bool isolate_retry() const;

  int max_attempts_;
  std::deque<WindowEntry> entries_;  // delivery order; deque keeps references stable at both ends
  std::unordered_map<std::int64_t, WindowEntry*> by_position_;
  std::size_t in_flight_ = 0;
  std::size_t failed_ = 0;
  std::size_t recovering_ = 0;
};

}  // namespace outbox::detail
