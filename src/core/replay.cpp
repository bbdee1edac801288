#include "outbox/replay.hpp"

#include <algorithm>
#include <limits>

namespace outbox {

Message replay_message(const DeadLetter& d, const std::string& outbox) {
  Message m = d.message;
  m.outbox = outbox;
  // A replay of a replay names the position it failed at this time; the id stays the original's,
  // so receivers that deduplicate by id still can.
  m.headers[kReplayedFromHeader] = std::to_string(d.message.position);
  m.headers[kReplayForHeader] = d.consumer;
  m.position = 0;
  m.checkpoint.clear();
  return m;
}

SchemaRegistry replay_registry(const Message& m) {
  constexpr std::size_t kNoLimit = std::numeric_limits<std::size_t>::max();
  SchemaRegistry registry(Limits{kNoLimit, kNoLimit, kNoLimit});
  registry.add(m.type, true);
  return registry;
}

bool replay_for_another_consumer(const Message& m, const std::string& consumer) {
  const auto it = m.headers.find(kReplayForHeader);
  return it != m.headers.end() && it->second != consumer;
}

void sort_for_replay(std::vector<DeadLetter>& letters) {
  std::stable_sort(letters.begin(), letters.end(), [](const DeadLetter& a, const DeadLetter& b) {
    return a.message.position != b.message.position ? a.message.position < b.message.position : a.id < b.id;
  });
}

bool matches(const DeadLetter& d, const DeadLetterFilter& which, Timestamp now) {
  if (which.id && d.id != *which.id) return false;
  if (which.consumer && d.consumer != *which.consumer) return false;
  if (which.older_than && d.failed_at > now - std::chrono::duration_cast<std::chrono::microseconds>(*which.older_than))
    return false;
  return true;
}

ConsumerInUse consumer_in_use(const std::string& outbox, const std::string& consumer, const std::string& owner,
                              std::int64_t left_ms) {
  return ConsumerInUse("consumer '" + consumer + "' of outbox '" + outbox + "' is held by relay '" + owner +
                           "' (its lease runs for another " + std::to_string(std::max<std::int64_t>(0, left_ms)) +
                           " ms); nothing was changed: stop that relay first",
                       consumer, owner);
}

}  // namespace outbox
