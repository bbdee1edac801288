#include "outbox/uuid.hpp"

#include <pthread.h>
#include <sys/random.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>

namespace outbox {

namespace {
void fill_random(std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const ssize_t got = getrandom(p, n, 0);
    if (got <= 0) continue;  // EINTR; getrandom does not fail otherwise once the pool is ready
    p += got;
    n -= static_cast<std::size_t>(got);
  }
}

// Bumped in a forked child, so that parent and child never hand out the same buffered bytes.
std::atomic<std::uint64_t> fork_generation{0};

// Random bytes taken from the kernel a few kilobytes at a time: one getrandom call per put was
// most of uuid_v7's time (about 0.7 of 0.8 us in bench/put_breakdown.cpp).
class RandomPool {
 public:
  void take(std::uint8_t* out, std::size_t n) {
    static std::once_flag registered;
    std::call_once(registered, [] {
      pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1, std::memory_order_relaxed); });
    });
    const std::uint64_t generation = fork_generation.load(std::memory_order_relaxed);
    if (generation != generation_ || used_ + n > bytes_.size()) {
      fill_random(bytes_.data(), bytes_.size());
      used_ = 0;
      generation_ = generation;
    }
    std::memcpy(out, bytes_.data() + used_, n);
    std::memset(bytes_.data() + used_, 0, n);  // used bytes do not linger in memory
    used_ += n;
  }

 private:
  std::array<std::uint8_t, 4096> bytes_{};
  std::size_t used_ = sizeof bytes_;  // empty: filled on first use
  std::uint64_t generation_ = 0;
};
}  // namespace

std::string uuid_v7() {
  // RFC 9562 method 1: 12-bit rand_a used as a counter within one millisecond, so ids from this
  // process sort in creation order. The counter's start is random to keep ids unguessable.
  static std::mutex mutex;
  static std::uint64_t last_ms = 0;
  static std::uint16_t counter = 0;

  std::array<std::uint8_t, 16> b{};
  thread_local RandomPool pool;
  pool.take(b.data() + 6, 10);  // bytes 0-5 are the timestamp
  std::uint64_t ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  {
    std::lock_guard lock(mutex);
    if (ms <= last_ms) {
      ms = last_ms;
      if (++counter > 0x0FFF) {  // counter exhausted: borrow the next millisecond
        ++ms;
        counter = 0;
      }
    } else {
      counter = static_cast<std::uint16_t>(((b[6] << 8) | b[7]) & 0x03FF);  // leave headroom
    }
    last_ms = ms;
    b[6] = static_cast<std::uint8_t>(0x70 | ((counter >> 8) & 0x0F));
    b[7] = static_cast<std::uint8_t>(counter & 0xFF);
  }
  for (int i = 0; i < 6; ++i) b[i] = static_cast<std::uint8_t>(ms >> (8 * (5 - i)));
  b[8] = static_cast<std::uint8_t>(0x80 | (b[8] & 0x3F));  // variant 10

  // 8-4-4-4-12 hex digits; a table instead of snprintf (this runs once per put).
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(36, '-');
  std::size_t o = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) ++o;  // keep the '-'
    out[o++] = hex[b[i] >> 4];
    out[o++] = hex[b[i] & 0x0F];
  }
  return out;
}

}  // namespace outbox
