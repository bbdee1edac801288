// Test double: a Sink whose outcomes a test scripts, optionally held back and reported later, in
// any order, as an asynchronous broker does (Kafka's delivery reports arrive after publish
// returned, and across partitions in no particular order). It proves nothing about a real broker.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "outbox/sink.hpp"

namespace outbox::testing {

class ScriptedSink final : public Sink {
 public:
  // Decides one message's outcome. batch_size: how many messages the publish call carrying it had.
  using Script = std::function<Outcome(std::int64_t position, int attempt, std::size_t batch_size)>;
  explicit ScriptedSink(Script script = [](std::int64_t, int, std::size_t) { return Outcome::ok; });

  std::string describe() const override { return "scripted"; }

  // On: a failure also fails (retryable) the messages behind it in the same publish call, as real
  // sinks do (the Kafka sink purges a partition's queue, the file sink fails the whole batch), so
  // that nothing overtakes a failed message.
  void fail_behind_failure(bool on);
  // While held, outcomes wait until a release call (late acknowledgements).
  void hold(bool on);
  // Reports the held outcomes in reverse order (the worst case for a checkpoint).
  void release_reversed();
  // Reports the held outcomes in an order shuffled by `seed`.
  void release_shuffled(std::uint64_t seed);
  // Reports the outcomes of the held messages for which `pick(position)` is true, in hold order.
  void release_if(const std::function<bool(std::int64_t)>& pick);

  std::size_t pending();
  std::vector<std::int64_t> published();  // every message handed over, retries included
  std::vector<std::int64_t> delivered();  // those whose outcome was ok

 protected:
  void do_publish(std::span<const Message> batch) override;

 private:
  void report_all(const std::vector<std::pair<std::int64_t, Outcome>>& outcomes);

  Script script_;
  std::mutex mutex_;
  bool held_ = false;
  bool fail_behind_failure_ = false;
  std::map<std::int64_t, int> attempts_;
  std::vector<std::int64_t> published_, delivered_;
  std::vector<std::pair<std::int64_t, Outcome>> pending_;
};

}  // namespace outbox::testing
