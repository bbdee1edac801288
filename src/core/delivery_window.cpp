#include "delivery_window.hpp"

#include <algorithm>
#include <stdexcept>

namespace outbox::detail {

void DeliveryWindow::add(std::vector<Message> batch, const std::vector<bool>& passed_over) {
  auto skipped = [&](std::size_t i) { return i < passed_over.size() && passed_over[i]; };
  std::size_t published = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) published += skipped(i) ? 0 : 1;
  // A batch of one with nothing else in flight was sent alone: a permanent rejection of it can
  // only be about this message, so it counts against max_attempts.
  const bool alone = published == 1 && in_flight_ == 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    Message& m = batch[i];
    const std::int64_t position = m.position;
    if (by_position_.count(position) != 0) {
      throw std::logic_error("the tail returned position " + std::to_string(position) + " twice");
    }
    // Built in place: a Message is a dozen members, each move of it costs.
    WindowEntry& e = entries_.emplace_back();
    e.message = std::move(m);
    e.alone = alone;
    if (skipped(i)) e.state = EntryState::done;
    by_position_.emplace(position, &e);
    if (!skipped(i)) ++in_flight_;
  }
}

DeliveryWindow::Result DeliveryWindow::apply(const Delivery& d) {
  const auto found = by_position_.find(d.position);
  if (found == by_position_.end() || found->second->state != EntryState::in_flight) return {};
  WindowEntry& e = *found->second;
  --in_flight_;
  if (d.outcome == Outcome::ok) {
    e.state = EntryState::done;
    if (e.failures > 0) --recovering_;
    return {Applied::acknowledged, &e};
  }
  if (e.failures == 0) ++recovering_;
  ++e.failures;
  e.error = d.error;
  e.last = d.outcome;
  // A broker may reject a whole batch for one bad message (Kafka's max.message.bytes applies to
  // record batches), so a permanent rejection counts only when the message was sent alone.
  if (d.outcome == Outcome::permanent && e.alone) ++e.permanent_failures;
  if (d.outcome == Outcome::permanent && e.permanent_failures >= max_attempts_) {
    return {Applied::dead_letter, &e};
  }
  e.state = EntryState::failed;
  ++failed_;
  return {Applied::failed, &e};
}

void DeliveryWindow::dead_lettered(WindowEntry& e) {
  e.state = EntryState::done;
  --recovering_;
}

void DeliveryWindow::dead_letter_failed(WindowEntry& e) {
  e.state = EntryState::failed;
  ++failed_;
}

std::optional<DeliveryWindow::Prefix> DeliveryWindow::pop_resolved_prefix() {
  std::optional<Prefix> prefix;
  while (!entries_.empty() && entries_.front().state == EntryState::done) {
    WindowEntry& front = entries_.front();
    if (!prefix) prefix.emplace();
    prefix->checkpoint = std::move(front.message.checkpoint);
    prefix->position = front.message.position;
    ++prefix->count;
    by_position_.erase(front.message.position);
    entries_.pop_front();
  }
  return prefix;
}

bool DeliveryWindow::isolate_retry() const {
  return std::any_of(entries_.begin(), entries_.end(), [](const WindowEntry& e) {
    return e.state == EntryState::failed && e.last == Outcome::permanent;
  });
}

int DeliveryWindow::retry_attempt() const {
  const bool isolate = isolate_retry();
  int attempt = 0;
  for (const auto& e : entries_) {
    if (e.state != EntryState::failed) continue;
    if (isolate) return e.failures;  // the first failed one goes alone
    attempt = std::max(attempt, e.failures);
  }
  return attempt;
}

std::vector<Message> DeliveryWindow::take_retry() {
  const bool isolate = isolate_retry();
  std::vector<WindowEntry*> again;
  for (auto& e : entries_) {
    if (e.state != EntryState::failed) continue;
    again.push_back(&e);
    if (isolate) break;
  }
  std::vector<Message> batch;
  batch.reserve(again.size());
  for (WindowEntry* e : again) {
    e->state = EntryState::in_flight;
    e->alone = again.size() == 1 && in_flight_ == 0;
    batch.push_back(e->message);
  }
  failed_ -= again.size();
  in_flight_ += again.size();
  return batch;
}

}  // namespace outbox::detail
