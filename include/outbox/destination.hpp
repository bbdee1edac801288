// A sink's destination (Kafka topic, NATS subject, routing key, stream name) from a template such
// as "{outbox}.{type}", shared by every sink so that templates mean the same everywhere.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "outbox/message.hpp"

namespace outbox {

class DestinationTemplate {
 public:
  // `what` names the destination in errors ("topic", "subject"). Throws UsageError for an empty
  // template, an unknown placeholder (the placeholders are {outbox} and {type}) or an unbalanced
  // brace.
  DestinationTemplate(std::string text, std::string what);

  // The destination of `m`.
  std::string render(const Message& m) const;
  // True when the template has no placeholder, so every message goes to the same place.
  bool fixed() const noexcept { return fixed_; }
  const std::string& text() const noexcept { return text_; }

 private:
  std::string text_;
  bool fixed_ = true;
};

}  // namespace outbox
