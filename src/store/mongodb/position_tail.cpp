#include "position_tail.hpp"

#include <spdlog/spdlog.h>

#include "layout.hpp"

namespace outbox::mongodb::detail {

PositionTail::PositionTail(const Pool& pool, std::string database, std::string outbox, std::int64_t after,
                           const TailOptions& options, std::chrono::milliseconds gap_timeout)
    : client_(pool),
      database_(std::move(database)),
      outbox_(std::move(outbox)),
      last_(after),
      delivered_(after),
      options_(options),
      gap_timeout_(gap_timeout) {}

std::optional<std::string> PositionTail::idle_checkpoint() {
  if (last_ == delivered_) return std::nullopt;
  return encode_position(last_);
}

void PositionTail::wait_for_next_position() {
  const std::int64_t pos = last_ + 1;
  if (gap_pos_ != pos) {
    gap_pos_ = pos;
    gap_since_ = std::chrono::steady_clock::now();
    return;
  }
  if (std::chrono::steady_clock::now() - gap_since_ < gap_timeout_) return;
  if (close_position(client_.get(), database_, outbox_, pos)) {
    spdlog::warn(
        "outbox '{}': position {} was taken by a writer but not filled within {} ms while later positions "
        "were; closed it with a tombstone (if that writer is still alive, its insert fails and it takes a "
        "new position)",
        outbox_, pos, gap_timeout_.count());
  }
  gap_pos_ = 0;  // filled now, by the tombstone or by the writer: the next read takes it
}

}  // namespace outbox::mongodb::detail
