#include "outbox/envelope.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

#include "timestamp_text.hpp"

namespace outbox {

std::string cloudevents_source(const Message& m, const EnvelopeOptions& options) {
  return options.cloudevents_source.empty() ? "/outbox/" + m.outbox : options.cloudevents_source;
}

void visit_envelope_headers(const Message& m, const EnvelopeOptions& options, std::string_view cloudevents_prefix,
                            const std::function<void(std::string_view, std::string_view)>& visit) {
  char created_text[detail::kTimestampTextMax];
  const std::string_view created = detail::write_timestamp(m.created, created_text);
  if (options.cloudevents) {
    std::string name(cloudevents_prefix);
    const auto prefixed = [&](std::string_view attribute, std::string_view value) {
      name.resize(cloudevents_prefix.size());
      name += attribute;
      visit(name, value);
    };
    prefixed("specversion", "1.0");
    prefixed("id", m.id);
    prefixed("source", cloudevents_source(m, options));
    prefixed("type", m.type);
    prefixed("time", created);
    visit("content-type", "application/json");
  } else {
    char position[24];
    const auto end = std::to_chars(position, position + sizeof position, m.position).ptr;
    visit("id", m.id);
    visit("type", m.type);
    visit("outbox", m.outbox);
    visit("created", created);
    visit("position", std::string_view(position, static_cast<std::size_t>(end - position)));
  }
  for (const auto& [name, value] : m.headers) visit(name, value);
}

std::vector<Header> envelope_headers(const Message& m, const EnvelopeOptions& options,
                                     std::string_view cloudevents_prefix) {
  std::vector<Header> out;
  out.reserve(6 + m.headers.size());
  visit_envelope_headers(m, options, cloudevents_prefix, [&](std::string_view name, std::string_view value) {
    out.push_back({std::string(name), std::string(value)});
  });
  return out;
}

std::string cloudevents_structured(const Message& m, const EnvelopeOptions& options) {
  nlohmann::json j = {
      {"specversion", "1.0"},
      {"id", m.id},
      {"source", cloudevents_source(m, options)},
      {"type", m.type},
      {"time", format_timestamp(m.created)},
      {"datacontenttype", "application/json"},
      {"outboxposition", m.position},
  };
  if (m.key) j["partitionkey"] = *m.key;
  if (!m.headers.empty()) j["outboxheaders"] = m.headers;
  // The stored data text is spliced in as is (no re-serialisation); the rest is built above.
  std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.pop_back();  // the closing brace
  text += ",\"data\":";
  text += serialized_data(m);
  text += '}';
  return text;
}

}  // namespace outbox
