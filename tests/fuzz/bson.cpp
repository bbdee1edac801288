// Fuzzes the MongoDB store's decoding of stored documents: arbitrary (structurally valid) BSON is
// read back with message_from_document, as the tails do, and converted with to_json. The contract
// checked: decoding throws StoreError (malformed) or ValidationError (no JSON form) or returns;
// the JSON form of a document survives a round trip through to_bson
// (to_json(to_bson(to_json(doc))) == to_json(doc)).
#include <bson/bson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "outbox/errors.hpp"
#include "store/mongodb/bson.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  bson_t doc;
  if (!bson_init_static(&doc, data, size)) return 0;
  // A server sends well-formed BSON (libmongoc checks lengths); what is inside is not trusted.
  if (!bson_validate(&doc, BSON_VALIDATE_NONE, nullptr)) return 0;

  for (const bool parse_data : {true, false}) {
    try {
      (void)outbox::mongodb::message_from_document(doc, "fuzz", parse_data);
    } catch (const outbox::StoreError&) {
    } catch (const outbox::ValidationError&) {
    }
  }

  nlohmann::json json;
  try {
    json = outbox::mongodb::to_json(doc);
  } catch (const outbox::ValidationError&) {
    return 0;  // a type with no JSON form (binary, regex, ...)
  } catch (const outbox::StoreError&) {
    return 0;  // malformed inside, which bson_validate(BSON_VALIDATE_NONE) does not look for
  }
  // dump() compares NaN (which BSON doubles can hold) as equal to itself, unlike operator==.
  const auto text = [](const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  nlohmann::json again;
  try {
    again = outbox::mongodb::to_json(*outbox::mongodb::to_bson(json).get());
  } catch (const outbox::ValidationError&) {
    // to_bson refuses an unsigned value above INT64_MAX and keys with NUL; to_json never makes
    // either from BSON, so a refusal here is a finding.
    std::abort();
  }
  if (text(again) != text(json)) std::abort();
  return 0;
}
