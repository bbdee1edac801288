// `file:PATH` - appends JSON lines and fsyncs before acknowledging, so an acknowledged message
// survives a power loss. One write and one fsync per batch.
#pragma once

#include <string>

#include "outbox/sink.hpp"

namespace outbox::sinks {

class FileSink final : public Sink {
 public:
  explicit FileSink(std::string path);
  ~FileSink() override;
  std::string describe() const override { return "file:" + path_; }

 protected:
  void do_publish(std::span<const Message> batch) override;

 private:
  void drop_torn_tail();

  std::string path_;
  int fd_ = -1;
};

}  // namespace outbox::sinks
