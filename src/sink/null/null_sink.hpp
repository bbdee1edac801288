// `null:` - acknowledges everything at once; measures the relay and store without a broker.
#pragma once

#include "outbox/sink.hpp"

namespace outbox::sinks {

class NullSink final : public Sink {
 public:
  std::string describe() const override { return "null"; }

 protected:
  void do_publish(std::span<const Message> batch) override {
    for (const auto& m : batch) report(m.position, Outcome::ok);
  }
};

}  // namespace outbox::sinks
