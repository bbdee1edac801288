#include "checkpoint_saver.hpp"

#include <utility>

namespace outbox::detail {

CheckpointSaver::CheckpointSaver(SaveFn save, bool background) : save_(std::move(save)) {
  if (background) thread_ = std::thread([this] { loop(); });
}

CheckpointSaver::~CheckpointSaver() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    ending_ = true;
    pending_.reset();
  }
  wake_.notify_all();
  thread_.join();
}

void CheckpointSaver::post(std::string checkpoint, std::int64_t position, std::string health) {
  if (!thread_.joinable()) {
    const auto started = Clock::now();
    save_(checkpoint, health);
    std::lock_guard lock(mutex_);
    record_success(position, started);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    pending_ = Request{std::move(checkpoint), position, std::move(health)};
  }
  wake_.notify_one();
}

void CheckpointSaver::save_now(const std::string& checkpoint, std::int64_t position, const std::string& health) {
  wait_idle();
  {
    std::lock_guard lock(mutex_);
    outcome_.error = nullptr;
  }
  // Nothing runs on the saver thread now, and only this (the relay's) thread posts: no background
  // save can start before this one ends, nor write an older checkpoint after it.
  const auto started = Clock::now();
  save_(checkpoint, health);
  std::lock_guard lock(mutex_);
  record_success(position, started);
}

void CheckpointSaver::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return !running_ && !pending_; });
}

CheckpointSaver::Outcome CheckpointSaver::take() {
  std::lock_guard lock(mutex_);
  return std::exchange(outcome_, Outcome{});
}

void CheckpointSaver::record_success(std::int64_t position, Clock::time_point started) {
  ++outcome_.saved;
  outcome_.last_position = position;
  outcome_.last_start = started;
}

void CheckpointSaver::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return ending_ || pending_; });
    if (ending_) return;
    Request r = std::move(*pending_);
    pending_.reset();
    running_ = true;
    lock.unlock();
    const auto started = Clock::now();
    std::exception_ptr error;
    try {
      save_(r.checkpoint, r.health);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    running_ = false;
    if (error) {
      if (!outcome_.error) outcome_.error = error;
      pending_.reset();  // the relay posts again once it handled the error
    } else {
      record_success(r.position, started);
    }
    idle_.notify_all();
  }
}

}  // namespace outbox::detail
