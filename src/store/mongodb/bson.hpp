// JSON <-> BSON for the MongoDB store, and the layout of one outbox document. Internal to the
// library (includes libbson); the public header outbox/mongodb.hpp never includes this.
//
// Document layout (shared by every mode of the MongoDB store):
//   { _id: <message id, UUIDv7 string>, type: string, key: string|null, data: <embedded document>,
//     headers: <embedded document of strings>, created: <BSON date, ms>,
//     created_us: <int64 microseconds since the epoch, exact> }
// plus `pos: <int64>` when a mode assigns positions (appended by that mode after
// message_document()). `created` is for humans and TTL indexes; `created_us` is what is read back.
#pragma once

#include <string>

#include <bson/bson.h>
#include <nlohmann/json.hpp>

#include "outbox/message.hpp"

namespace outbox::mongodb {

// Owns one bson_t (heap-allocated by libbson). Move-only; never null unless moved from or released.
class Bson {
 public:
  // An empty document.
  Bson();
  // Takes ownership of `owned` (from bson_new, bson_copy, bson_new_from_json, ...); must not be null.
  explicit Bson(bson_t* owned);
  Bson(Bson&& other) noexcept;
  Bson& operator=(Bson&& other) noexcept;
  Bson(const Bson&) = delete;
  Bson& operator=(const Bson&) = delete;
  ~Bson();

  // A deep copy of a document this object does not own (e.g. one a cursor returned).
  static Bson copy_of(const bson_t& doc);
  // Parses (canonical or relaxed) extended JSON; throws UsageError naming `what` when it does not parse.
  static Bson from_extended_json(const std::string& text, const std::string& what);

  bson_t* get() const noexcept { return doc_; }
  const bson_t& operator*() const noexcept { return *doc_; }
  // Gives up ownership; the caller must bson_destroy() the result.
  bson_t* release() noexcept;

 private:
  bson_t* doc_;
};

// Canonical extended JSON of `doc` (types kept exactly, e.g. {"$numberLong": "5"}). Used for resume
// tokens, which must round-trip through a checkpoint string byte for byte.
std::string canonical_extended_json(const bson_t& doc);

// JSON object -> BSON document. Integers stay integers: int32 when the value fits, else int64;
// an unsigned value above INT64_MAX has no BSON type and throws ValidationError. Doubles become
// doubles; strings, booleans, null, arrays and objects map one to one. Throws ValidationError
// (pointer relative to `object`) for a non-object, a key containing NUL, or a binary value.
Bson to_bson(const nlohmann::json& object);

// BSON document -> JSON object, the inverse of to_bson for what it writes:
//   int32/int64 -> integer; double -> floating point; string, bool, null, array, document as is;
//   date       -> integer milliseconds since the Unix epoch (UTC; negative before 1970);
//   ObjectId   -> its 24-digit lowercase hex string;
//   decimal128 -> its exact decimal string (e.g. "1.10"), never a double, so no digits are lost;
//   symbol     -> string.
// Any other type (binary, regex, BSON timestamp, JavaScript code, min/max key, undefined,
// DBPointer) has no faithful JSON form and throws ValidationError naming the field and the type.
nlohmann::json to_json(const bson_t& doc);

// The outbox document for `m` (layout above), without `pos`. m.id, m.type and m.created must be
// set (put assigns them before calling). Throws ValidationError for data that has no BSON form.
Bson message_document(const Message& m);

// Reads an outbox document back. Sets Message::position from `pos` when present and data_json to
// the compact JSON of `data`; `data` itself is left null when parse_data is false (as
// TailOptions::parse_data asks). Throws StoreError (not retryable) naming the document and the
// field when the document does not have the layout above.
Message message_from_document(const bson_t& doc, const std::string& outbox, bool parse_data = true);

}  // namespace outbox::mongodb
