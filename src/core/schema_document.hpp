// Turns a draft-07 JSON Schema into the document valijson compiles (see schema_document.cpp).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace re2 {
class RE2;
}

namespace outbox::schema_document {

// Keywords the prepared document uses for the RE2-backed constraints (schema.cpp builds them).
inline constexpr const char* kPattern = "x-outbox-pattern";           // `pattern`
inline constexpr const char* kFormat = "x-outbox-format";             // `format`
inline constexpr const char* kType = "x-outbox-type";                 // `type` (1.0 is an integer)
inline constexpr const char* kNameMatches = "x-outbox-name-matches";  // member name matches a regex
inline constexpr const char* kNameMatchesAny = "x-outbox-name-matches-any";
inline constexpr const char* kUnmatchedMember = "x-outbox-unmatched-member";  // additionalProperties: false

// Deepest JSON nesting a schema document may have: valijson's parser recurses once per level.
inline constexpr std::size_t kMaxSchemaNesting = 128;
// Deepest recursion validation may reach (schemas applied inside one another, through `$ref`,
// combinators and the keywords that descend into the data), for data within the registry's depth
// limit. A chain this long is never written by hand; it bounds the validator's stack use.
inline constexpr std::size_t kMaxValidationRecursion = 2000;

// Checks `schema` and returns the document to compile. Every `$ref` becomes a JSON pointer into the
// same document ($id and plain-name fragments resolved); `pattern`, `format` and
// `patternProperties` become keywords evaluated with RE2, and `type` one that counts a number with
// a zero fractional part as an integer, as draft-07 does. Throws UsageError starting with `where`
// when the schema nests too deep, refers to another document or to nothing, has a regex RE2
// cannot run, or has a cycle of `$ref`/`allOf`/`anyOf`/`oneOf`/`not`/`if`/`then`/`else`/
// `dependencies` that never descends into the data (validation would recurse forever).
nlohmann::json prepare(const nlohmann::json& schema, const std::string& where, std::size_t max_data_depth);

// Compiles a regex for the RE2-backed keywords (linear time, no recursion, bounded memory); throws
// UsageError naming `where` if RE2 cannot run it (backreferences, lookaround).
std::shared_ptr<const re2::RE2> compile_regex(const std::string& pattern, const std::string& where);
void check_regex(const std::string& pattern, const std::string& where);

}  // namespace outbox::schema_document
