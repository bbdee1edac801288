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
//
// A type with no nlohmann::json member is written straight to `data_json` (`data` stays null):
// building a JSON value only to serialize it cost a typed put about a third of its time. The
// origin then says how deep that text nests and whether every string was UTF-8 and every number
// finite, and can build `data` from the caller's value while the put runs, for what needs the
// value: an outbox's own schema for the type, an error that must name its place, a store that
// converts the value (MongoDB).
class TypedOrigin {
 public:
  const nlohmann::json& derived_schema() const noexcept { return *schema_; }

  // True when MessageSet::put wrote `data_json` itself and left `data` null.
  bool wrote_data() const noexcept { return encode_ != nullptr; }
  // The deepest nesting of the written text (the data object is 1), as Limits::max_depth counts.
  std::size_t written_depth() const noexcept { return depth_; }
  // False when a string was not UTF-8 or a number not finite: the put must be refused.
  bool written_clean() const noexcept { return clean_; }
  // `data` as a JSON value, from the caller's typed value. Only while MessageSet::put runs.
  nlohmann::json encode_data() const { return encode_(value_); }

 private:
  friend struct detail::TypedOriginAccess;
  explicit TypedOrigin(const nlohmann::json* schema) noexcept : schema_(schema) {}
  const nlohmann::json* schema_;  // a static of MessageSet: lives as long as the program
  const void* value_ = nullptr;   // the caller's value, for encode_
  nlohmann::json (*encode_)(const void*) = nullptr;
  std::size_t depth_ = 0;
  bool clean_ = true;
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
  // `data` exactly as stored (compact JSON), set by tails and by `put`. Sinks send it as is instead
  // of serializing `data` again; a tail opened with TailOptions::parse_data = false, and a typed
  // put, leave `data` null and fill only this. An untyped `put` serializes `data` over it.
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
