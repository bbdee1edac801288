// The message envelope: what `put` writes, what a tail yields and what a sink publishes.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace outbox {

using Clock = std::chrono::system_clock;
using Timestamp = std::chrono::time_point<Clock, std::chrono::microseconds>;
using Headers = std::map<std::string, std::string>;

namespace detail {
struct TypedOriginAccess;  // outbox/typed.hpp
}

// Says that a message was encoded from a typed value by MessageSet::put (outbox/typed.hpp) and
// handed straight to a writer: its `data` has the shape of that type's derived schema by
// construction. The schema registry then skips the schema check when the outbox's schema for the
// type is that derived schema, and keeps every check a type cannot guarantee (UTF-8, finite
// numbers, size and depth limits). Only MessageSet::put makes one; copying it onto another
// message would skip that message's schema check, so do not.
class TypedOrigin {
 public:
  const nlohmann::json& derived_schema() const noexcept { return *schema_; }

 private:
  friend struct detail::TypedOriginAccess;
  explicit TypedOrigin(const nlohmann::json* schema) noexcept : schema_(schema) {}
  const nlohmann::json* schema_;  // a static of MessageSet: lives as long as the program
};

struct Message {
  std::string id;                  // UUIDv7, assigned by `put` when empty
  std::string outbox;              // the outbox's name
  std::string type;                // message kind, a key of the schema registry
  std::optional<std::string> key;  // aggregate / partition key; per-key order is kept
  nlohmann::json data = nlohmann::json::object();
  Headers headers;            // e.g. traceparent
  Timestamp created{};        // UTC, microseconds; assigned by `put` when zero
  std::int64_t position = 0;  // assigned by the store; delivery order
  // Where a consumer resumes after this message, in the store's own encoding (a decimal position
  // for SQLite; a resume token elsewhere). Opaque to the relay; not part of the JSON form.
  std::string checkpoint;
  // `data` exactly as stored (compact JSON), set by tails. Sinks send it as is instead of
  // serializing `data` again; a tail opened with TailOptions::parse_data = false leaves `data` null
  // and fills only this. `put` ignores it.
  std::string data_json;
  // Set by MessageSet::put only; see TypedOrigin. Not part of the JSON form; tails leave it empty.
  std::optional<TypedOrigin> typed_origin;
};

// `data` as compact JSON: the stored text when the tail provided it, else `data` serialized.
std::string serialized_data(const Message& m);

// ISO 8601 UTC with microseconds, e.g. 2026-11-29T13:26:08.123456Z.
std::string format_timestamp(Timestamp t);
// Accepts what format_timestamp writes (fraction of 0-9 digits, 'Z' suffix). Throws UsageError.
Timestamp parse_timestamp(const std::string& text);
Timestamp now();

// JSON form with exactly the fields id, outbox, type, key, data, headers, created, position.
nlohmann::json to_json(const Message& m);
// One line of JSON, no trailing newline.
std::string to_json_line(const Message& m);
// Parses the JSON text of a message's `data` (from a command line, a file, a request body).
// Throws ValidationError: rule "json" (pointer /data) for text that is not JSON, "number-range"
// with the pointer of the number for one no double can hold (1e400).
nlohmann::json parse_data(std::string_view text);
// Inverse of to_json; throws ValidationError naming the field that is missing or mistyped.
Message message_from_json(const nlohmann::json& j);

}  // namespace outbox
