// A quick acceptance check for schemas of the common shape (typed members, required names, closed
// objects, arrays of one item schema, lengths, bounds, enums of scalars, patterns, formats), so that
// the usual valid message is not walked by valijson, whose visitor copies its path and builds
// strings at every member (about 3 µs of a 6 µs untyped put, docs/benchmarks.md).
//
// Sound for acceptance only: `accepts` returning true means valijson would accept the data too (it
// judges each keyword as schema.cpp's valijson setup does: the same type rules, RE2 patterns,
// formats, doubles for bounds, code points for lengths). False means "not sure": the caller asks
// valijson, which also says what is wrong. A schema using anything else ($ref, combinators,
// multipleOf, uniqueItems, patternProperties, ...) gets no quick check at all.
#pragma once

#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

namespace outbox::detail {

class SchemaQuickCheck {
 public:
  // The check for `schema` (as the user wrote it), or nullopt when it uses a keyword outside the
  // subset. `schema` must already have passed the registry's own checks (schema_document.cpp).
  static std::optional<SchemaQuickCheck> compile(const nlohmann::json& schema);

  // True: `data` is valid for sure. False: ask the full validator. `data` must have passed
  // serialize_checked (finite numbers, valid UTF-8, within the depth limit).
  bool accepts(const nlohmann::json& data) const;

  struct Node;

 private:
  explicit SchemaQuickCheck(std::shared_ptr<const Node> root) : root_(std::move(root)) {}
  std::shared_ptr<const Node> root_;
};

}  // namespace outbox::detail
