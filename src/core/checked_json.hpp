// A message's `data` serialized and checked in one pass: what every put pays before its INSERT.
//
// The text is byte for byte what nlohmann::json::dump() writes (compact, UTF-8 kept as is, control
// characters escaped the same way), so stored rows do not change; the pass also makes the checks no
// schema can make. Before this, a put walked `data` three times (depth, nlohmann's serializer, then
// UTF-8 and finite numbers): about 8,000 instructions of a typed put's 20,000 (callgrind of
// bench/put_breakdown.cpp).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "outbox/message.hpp"
#include "outbox/schema.hpp"

namespace outbox::detail {

// `data` as compact JSON. Throws ValidationError, the pointer under /data, in this order of
// precedence whatever the order in the document: nesting deeper than limits.max_depth (checked
// first, so that nothing recurses deeper); the text longer than limits.max_payload_bytes (never
// holding more than that in memory); then the first string or member name that is not UTF-8 or
// number that is not finite, in document order.
std::string serialize_checked(const nlohmann::json& data, const Limits& limits);

// Headers as a JSON object, what nlohmann::json(headers).dump() writes; "" for none. For headers a
// schema registry has accepted (names and values valid UTF-8).
std::string serialize_headers(const Headers& headers);

// A JSON Pointer reference token: '~' as "~0", '/' as "~1" (RFC 6901).
std::string escape_pointer_token(const std::string& key);

}  // namespace outbox::detail
