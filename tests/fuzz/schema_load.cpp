// Fuzzes loading a schema file: SchemaRegistry::from_json over arbitrary JSON text (what
// `outbox put --schemas FILE` reads), then validation of a few fixed documents against every
// type that loaded, so that the constraints built from hostile schemas are run too.
// The contract checked: loading throws UsageError or nothing; validating throws ValidationError or
// nothing. Any other exception, a crash, a hang or a sanitizer report is a finding.
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "outbox/errors.hpp"
#include "outbox/schema.hpp"

namespace {

const std::vector<nlohmann::json>& samples() {
  static const std::vector<nlohmann::json> docs = {
      nlohmann::json::object(),
      nlohmann::json::parse(R"({"ordernr": 1, "a": "x", "b": [1, "2", null, {"c": true}], "d": 1.5, "e": {"f": {}}})"),
      nlohmann::json::parse(R"({"id": "2026-11-29T13:26:08Z", "n": -9223372036854775808, "u": 18446744073709551615,
                               "s": "\u00e9\u4e2d\ud83d\ude00", "z": 0, "neg": -0.0, "big": 1e300})"),
  };
  return docs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const nlohmann::json types = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (types.is_discarded()) return 0;  // not JSON: the CLI reports that before the registry sees it
  outbox::SchemaRegistry registry;
  try {
    registry = outbox::SchemaRegistry::from_json(types);
  } catch (const outbox::UsageError&) {
    return 0;
  }
  for (const std::string& type : registry.types()) {
    for (const nlohmann::json& doc : samples()) {
      outbox::Message m;
      m.type = type;
      m.data = doc;
      try {
        registry.validate(m);
      } catch (const outbox::ValidationError&) {
      }
    }
  }
  return 0;
}
