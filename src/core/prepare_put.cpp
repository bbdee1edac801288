#include "outbox/prepare_put.hpp"

#include "checked_json.hpp"
#include "outbox/errors.hpp"
#include "outbox/uuid.hpp"

namespace outbox {

const std::string& prepare_put(const std::string& outbox, const SchemaRegistry& registry, Message& m) {
  if (!m.outbox.empty() && m.outbox != outbox) {
    throw UsageError("message names outbox '" + m.outbox + "' but is being put into '" + outbox + "'");
  }
  m.outbox = outbox;
  registry.validate_for_put(m);
  if (m.id.empty()) m.id = uuid_v7();
  if (m.created.time_since_epoch().count() == 0) m.created = now();
  return m.data_json;
}

std::string headers_json(const Headers& headers) { return detail::serialize_headers(headers); }

}  // namespace outbox
