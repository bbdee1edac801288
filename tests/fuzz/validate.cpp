// Fuzzes validation of a message against a realistic schema: an order event with required
// members, patterns, formats, nested objects, arrays, enums, bounded numbers, oneOf/if-then and
// additionalProperties: false. The input is split with FuzzedDataProvider into the type, a key,
// one header name and value (raw bytes, so invalid UTF-8 and NUL reach the checks), then the
// `data` document as JSON text; each field ends at a backslash followed by any byte other than a
// backslash (the seeds in corpus/validate/ use "\|"). The contract checked: validate_and_serialize
// throws ValidationError or returns the data as compact JSON that parses back to the same document.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <fuzzer/FuzzedDataProvider.h>
#include <nlohmann/json.hpp>

#include "outbox/errors.hpp"
#include "outbox/schema.hpp"

namespace {

const char* const kOrderSchemas = R"({
  "order_created": {
    "type": "object",
    "required": ["ordernr", "customer", "lines", "currency", "placed_at"],
    "additionalProperties": false,
    "properties": {
      "ordernr": {"type": "integer", "minimum": 1, "maximum": 9007199254740991},
      "reference": {"type": "string", "pattern": "^ORD-[0-9]{4}-[A-Z0-9]{6}$"},
      "customer": {
        "type": "object",
        "required": ["id", "email"],
        "properties": {
          "id": {"type": "string", "format": "uuid"},
          "email": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$", "maxLength": 254},
          "name": {"type": "string", "minLength": 1, "maxLength": 200},
          "tier": {"enum": ["standard", "gold", "platinum", null]},
          "address": {
            "type": "object",
            "required": ["country"],
            "properties": {
              "street": {"type": "string"},
              "postcode": {"type": "string", "pattern": "^[0-9A-Z -]{3,10}$"},
              "country": {"type": "string", "pattern": "^[A-Z]{2}$"}
            }
          }
        }
      },
      "lines": {
        "type": "array",
        "minItems": 1,
        "maxItems": 100,
        "items": {
          "type": "object",
          "required": ["sku", "quantity", "unit_price"],
          "additionalProperties": false,
          "properties": {
            "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3,8}$"},
            "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
            "unit_price": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000000, "multipleOf": 0.01},
            "discount": {"type": "number", "minimum": 0, "maximum": 1},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}
          }
        }
      },
      "currency": {"enum": ["EUR", "USD", "GBP", "JPY"]},
      "total": {"type": "number", "minimum": 0},
      "placed_at": {"type": "string", "format": "date-time"},
      "delivery": {"type": "string", "format": "date"},
      "payment": {
        "oneOf": [
          {"type": "object", "required": ["card_last4"], "properties": {"card_last4": {"type": "string", "pattern": "^[0-9]{4}$"}}},
          {"type": "object", "required": ["iban"], "properties": {"iban": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"}}}
        ]
      },
      "gift": {"type": "boolean"},
      "message": {"type": ["string", "null"], "maxLength": 500}
    },
    "if": {"properties": {"gift": {"const": true}}, "required": ["gift"]},
    "then": {"required": ["message"]},
    "dependencies": {"delivery": ["customer"]}
  },
  "order_cancelled": {
    "type": "object",
    "required": ["ordernr", "reason"],
    "properties": {
      "ordernr": {"type": "integer", "minimum": 1},
      "reason": {"enum": ["customer", "fraud", "stock", "other"]},
      "note": {"type": "string", "maxLength": 1000},
      "refund": {"allOf": [{"type": "number"}, {"minimum": 0}], "not": {"const": 0}}
    }
  }
})";

const outbox::SchemaRegistry& registry() {
  static const outbox::SchemaRegistry r = outbox::SchemaRegistry::from_json(nlohmann::json::parse(kOrderSchemas));
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  outbox::Message m;
  m.type = in.ConsumeRandomLengthString(64);
  std::string key = in.ConsumeRandomLengthString(256);
  if (!key.empty()) m.key = key;
  std::string header_name = in.ConsumeRandomLengthString(256);
  std::string header_value = in.ConsumeRandomLengthString(256);
  if (!header_name.empty() || !header_value.empty()) m.headers[header_name] = header_value;
  const std::string text = in.ConsumeRemainingBytesAsString();
  m.data = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (m.data.is_discarded()) return 0;  // the CLI rejects text that is not JSON before validation
  std::string serialized;
  try {
    serialized = registry().validate_and_serialize(m);
  } catch (const outbox::ValidationError&) {
    return 0;
  }
  // What a store writes must read back as the document that was validated.
  if (nlohmann::json::parse(serialized) != m.data) std::abort();
  return 0;
}
