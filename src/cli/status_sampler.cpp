#include "status_sampler.hpp"

#include <algorithm>

#include "outbox/errors.hpp"

namespace outbox::cli {

StatusSampler::StatusSampler(std::function<OutboxStatus()> read, std::chrono::milliseconds min_interval)
    : read_(std::move(read)), min_interval_(min_interval), thread_([this] { run(); }) {}

StatusSampler::~StatusSampler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void StatusSampler::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    const auto start = Clock::now();
    std::optional<OutboxStatus> status;
    std::string error;
    try {
      status = read_();
    } catch (const std::exception& e) {
      error = e.what();
    }
    const auto end = Clock::now();
    lock.lock();
    if (status) {
      reading_ = Reading{std::move(*status), end};
      error_.clear();
    } else {
      error_ = std::move(error);
    }
    changed_.notify_all();
    const auto pause = std::max<Clock::duration>(min_interval_, 9 * (end - start));
    changed_.wait_for(lock, pause, [&] { return stopping_; });
  }
}

StatusSampler::Reading StatusSampler::latest(std::chrono::milliseconds wait) const {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, wait, [&] { return reading_.has_value() || !error_.empty(); });
  if (!reading_) {
    throw StoreError(error_.empty() ? "the outbox's status has not been read yet; scrape again in a moment"
                                    : "cannot read the outbox's status: " + error_,
                     true);
  }
  return *reading_;
}

}  // namespace outbox::cli
