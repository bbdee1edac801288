// Fuzzes the schema quick check (src/core/schema_quick_check.hpp) against valijson. The input is a
// schema then a `data` document, both JSON text, split with FuzzedDataProvider (the schema ends at a
// backslash followed by any byte other than a backslash; the seeds in corpus/quick_check/ use
// "\|"). The contract checked: for a schema the registry loads and the quick check takes, and data
// that passes the value checks, the quick check never accepts what valijson refuses.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <fuzzer/FuzzedDataProvider.h>
#include <nlohmann/json.hpp>

#include "core/checked_json.hpp"
#include "core/schema_quick_check.hpp"
#include "outbox/errors.hpp"
#include "outbox/schema.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider in(bytes, size);
  const std::string schema_text = in.ConsumeRandomLengthString(8192);
  const std::string data_text = in.ConsumeRemainingBytesAsString();
  const auto schema = nlohmann::json::parse(schema_text, nullptr, /*allow_exceptions=*/false);
  const auto data = nlohmann::json::parse(data_text, nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded() || data.is_discarded() || !data.is_object()) return 0;
  outbox::SchemaRegistry registry;
  try {
    registry.add("quick", schema);
    // The same schema inside allOf, which the quick check does not take: valijson alone.
    registry.add("full", nlohmann::json{{"allOf", nlohmann::json::array({schema})}});
  } catch (const outbox::UsageError&) {
    return 0;
  }
  const auto quick = outbox::detail::SchemaQuickCheck::compile(schema);
  if (!quick) return 0;
  try {
    (void)outbox::detail::serialize_checked(data, registry.limits());
  } catch (const outbox::ValidationError&) {
    return 0;  // the quick check's precondition: finite numbers, valid UTF-8, within the limits
  }
  bool by_valijson = true;
  try {
    registry.validate_data("full", data);
  } catch (const outbox::ValidationError&) {
    by_valijson = false;
  }
  if (quick->accepts(data) && !by_valijson) {
    std::fprintf(stderr, "the quick check accepted what valijson refuses\nschema %s\ndata %s\n", schema.dump().c_str(),
                 data.dump().c_str());
    std::abort();
  }
  return 0;
}
