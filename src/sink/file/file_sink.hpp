// `file:PATH` - appends JSON lines and fsyncs before acknowledging, so an acknowledged message
// survives a power loss. One write and one fsync per batch; a batch that fails (a full disk)
// leaves nothing of itself in the file.
#pragma once

#include <sys/types.h>

#include <optional>
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
  std::string append(const std::string& buffer, off_t start);

  std::string path_;
  int fd_ = -1;
  // Where a failed write began, when cutting its part line off failed too: cut before the next.
  std::optional<off_t> cut_to_;
};

}  // namespace outbox::sinks
