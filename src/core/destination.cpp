#include "outbox/destination.hpp"

#include "outbox/errors.hpp"

namespace outbox {

namespace {

// Calls on_text for each literal character and on_field for each {placeholder}.
template <class OnText, class OnField>
void walk(const std::string& t, const std::string& what, OnText on_text, OnField on_field) {
  for (std::size_t i = 0; i < t.size();) {
    if (t[i] == '{') {
      const auto close = t.find('}', i);
      if (close == std::string::npos) throw UsageError(what + " template '" + t + "' has an unclosed '{'");
      on_field(std::string_view(t).substr(i + 1, close - i - 1));
      i = close + 1;
    } else if (t[i] == '}') {
      throw UsageError(what + " template '" + t + "' has a '}' without '{'");
    } else {
      on_text(t[i]);
      ++i;
    }
  }
}

}  // namespace

DestinationTemplate::DestinationTemplate(std::string text, std::string what) : text_(std::move(text)) {
  if (text_.empty()) throw UsageError("the " + what + " is empty");
  walk(
      text_, what, [](char) {},
      [&](std::string_view field) {
        if (field != "outbox" && field != "type") {
          throw UsageError(what + " template '" + text_ + "' uses {" + std::string(field) +
                           "}; the placeholders are {outbox} and {type}");
        }
        fixed_ = false;
      });
}

std::string DestinationTemplate::render(const Message& m) const {
  if (fixed_) return text_;
  std::string out;
  out.reserve(text_.size() + m.type.size());
  walk(
      text_, "", [&](char c) { out += c; },
      [&](std::string_view field) { out += field == "outbox" ? m.outbox : m.type; });
  return out;
}

}  // namespace outbox
