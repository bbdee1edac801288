#include "topic_template.hpp"

#include "outbox/errors.hpp"

namespace outbox::kafka::detail {

namespace {
template <class OnText, class OnField>
void walk(const std::string& t, OnText on_text, OnField on_field) {
  for (std::size_t i = 0; i < t.size();) {
    if (t[i] == '{') {
      const auto close = t.find('}', i);
      if (close == std::string::npos) throw UsageError("topic template '" + t + "' has an unclosed '{'");
      on_field(t.substr(i + 1, close - i - 1));
      i = close + 1;
    } else if (t[i] == '}') {
      throw UsageError("topic template '" + t + "' has a '}' without '{'");
    } else {
      on_text(t[i]);
      ++i;
    }
  }
}

bool legal_topic(const std::string& s) {
  if (s.empty() || s.size() > 249 || s == "." || s == "..") return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}
}  // namespace

void check_template(const std::string& t) {
  walk(t, [](char) {}, [&](const std::string& field) {
    if (field != "outbox" && field != "type") {
      throw UsageError("topic template '" + t + "' uses {" + field + "}; the placeholders are {outbox} and {type}");
    }
  });
  if (t.empty()) throw UsageError("the Kafka sink needs a topic: kafka://HOST:PORT/TOPIC");
}

std::string render_topic(const std::string& t, const Message& m) {
  std::string out;
  walk(t, [&](char c) { out += c; }, [&](const std::string& field) { out += field == "outbox" ? m.outbox : m.type; });
  return legal_topic(out) ? out : std::string();
}

}  // namespace outbox::kafka::detail
