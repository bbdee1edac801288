#include "outbox/envelope.hpp"

#include <nlohmann/json.hpp>

namespace outbox {

std::string cloudevents_source(const Message& m, const EnvelopeOptions& options) {
  return options.cloudevents_source.empty() ? "/outbox/" + m.outbox : options.cloudevents_source;
}

std::vector<Header> envelope_headers(const Message& m, const EnvelopeOptions& options,
                                     std::string_view cloudevents_prefix) {
  std::vector<Header> out;
  out.reserve(6 + m.headers.size());
  if (options.cloudevents) {
    const std::string p(cloudevents_prefix);
    out.push_back({p + "specversion", "1.0"});
    out.push_back({p + "id", m.id});
    out.push_back({p + "source", cloudevents_source(m, options)});
    out.push_back({p + "type", m.type});
    out.push_back({p + "time", format_timestamp(m.created)});
    out.push_back({"content-type", "application/json"});
  } else {
    out.push_back({"id", m.id});
    out.push_back({"type", m.type});
    out.push_back({"outbox", m.outbox});
    out.push_back({"created", format_timestamp(m.created)});
    out.push_back({"position", std::to_string(m.position)});
  }
  for (const auto& [name, value] : m.headers) out.push_back({name, value});
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
