// `stdout:` - JSON lines on standard output, acknowledged once written and flushed.
#pragma once

#include "outbox/sink.hpp"

namespace outbox::sinks {

class StdoutSink final : public Sink {
 public:
  std::string describe() const override { return "stdout"; }

 protected:
  void do_publish(std::span<const Message> batch) override;
};

}  // namespace outbox::sinks
