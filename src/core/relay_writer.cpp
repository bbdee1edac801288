#include "relay_writer.hpp"

#include <utility>

namespace outbox::detail {

RelayWriter::RelayWriter(SaveFn save, RetainFn retain, bool background)
    : save_(std::move(save)), retain_(std::move(retain)) {
  if (background) thread_ = std::thread([this] { loop(); });
}

RelayWriter::~RelayWriter() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    ending_ = true;
    pending_save_.reset();
    pending_retention_ = false;
  }
  wake_.notify_all();
  thread_.join();
}

void RelayWriter::post(std::string checkpoint, std::int64_t position, std::string health) {
  if (!thread_.joinable()) {
    save_here(checkpoint, position, health);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    pending_save_ = SaveRequest{std::move(checkpoint), position, std::move(health)};
  }
  wake_.notify_one();
}

void RelayWriter::save_now(const std::string& checkpoint, std::int64_t position, const std::string& health) {
  wait_idle();
  {
    std::lock_guard lock(mutex_);
    outcome_.error = nullptr;
  }
  // Nothing runs on the writer's thread now, and only this (the relay's) thread posts: no
  // background save can start before this one ends, nor write an older checkpoint after it.
  save_here(checkpoint, position, health);
}

void RelayWriter::post_retention() {
  if (!thread_.joinable()) {
    retain_here();
    return;
  }
  {
    std::lock_guard lock(mutex_);
    pending_retention_ = true;
  }
  wake_.notify_one();
}

void RelayWriter::retain_now() {
  wait_idle();
  retain_here();
}

void RelayWriter::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return !running_ && !pending_save_ && !pending_retention_; });
}

RelayWriter::Outcome RelayWriter::take() {
  std::lock_guard lock(mutex_);
  return std::exchange(outcome_, Outcome{});
}

void RelayWriter::save_here(const std::string& checkpoint, std::int64_t position, const std::string& health) {
  const auto started = Clock::now();
  save_(checkpoint, health);
  std::lock_guard lock(mutex_);
  record_save(position, started);
}

void RelayWriter::retain_here() {
  const auto r = retain_();
  std::lock_guard lock(mutex_);
  record_retention(r);
}

void RelayWriter::record_save(std::int64_t position, Clock::time_point started) {
  ++outcome_.saved;
  outcome_.last_position = position;
  outcome_.last_start = started;
}

void RelayWriter::record_retention(const RetentionResult& r) {
  outcome_.retained.deleted += r.deleted;
  outcome_.retained.dropped_unpublished += r.dropped_unpublished;
}

void RelayWriter::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return ending_ || pending_save_ || pending_retention_; });
    if (ending_) return;
    // A save first: it renews the lease, which must not wait behind a long retention round.
    std::optional<SaveRequest> save = std::exchange(pending_save_, std::nullopt);
    if (!save) pending_retention_ = false;
    running_ = true;
    lock.unlock();
    const auto started = Clock::now();
    std::exception_ptr error;
    RetentionResult retained;
    try {
      if (save) {
        save_(save->checkpoint, save->health);
      } else {
        retained = retain_();
      }
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    running_ = false;
    if (error) {
      if (!outcome_.error) outcome_.error = error;
      pending_save_.reset();  // the relay posts again once it handled the error
    } else if (save) {
      record_save(save->position, started);
    } else {
      record_retention(retained);
    }
    idle_.notify_all();
  }
}

}  // namespace outbox::detail
