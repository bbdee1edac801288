// The write prologue every store runs before it sends anything: one definition, so that SQLite,
// PostgreSQL and MongoDB (and the next store) accept and complete messages the same way.
#pragma once

#include <string>

#include "outbox/message.hpp"
#include "outbox/schema.hpp"

namespace outbox {

// Checks that `m` belongs in `outbox` (an empty m.outbox is filled in; another name is a
// UsageError), validates it against `registry` (ValidationError), and fills an empty id (UUIDv7)
// and a zero created time (now). Leaves `data` as compact JSON in m.data_json, ready to store, and
// returns it. Throws before anything is written, so a refused message leaves the caller's
// transaction usable. Every writer runs this: a typed put hands it `data_json` with `data` null.
const std::string& prepare_put(const std::string& outbox, const SchemaRegistry& registry, Message& m);

// A put message's headers as the JSON object stores keep them in ("" for none): the text
// nlohmann::json(headers).dump() writes, without building that JSON value first.
std::string headers_json(const Headers& headers);

}  // namespace outbox
