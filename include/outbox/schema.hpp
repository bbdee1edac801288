// Per-outbox registry of message types, each with a JSON Schema (draft-07) for its `data`.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "outbox/message.hpp"

namespace outbox {

struct Limits {
  std::size_t max_payload_bytes = 1024 * 1024;  // serialized `data`
  std::size_t max_depth = 64;                   // nesting of arrays/objects in `data`
  std::size_t max_header_bytes = 64 * 1024;     // all header names and values together
};

class SchemaRegistry {
 public:
  explicit SchemaRegistry(Limits limits = {});
  ~SchemaRegistry();
  SchemaRegistry(SchemaRegistry&&) noexcept;
  SchemaRegistry& operator=(SchemaRegistry&&) noexcept;

  // Reads {"type_name": {schema}, ...}. Throws UsageError naming the file or type at fault.
  static SchemaRegistry from_file(const std::filesystem::path& path, Limits limits = {});
  static SchemaRegistry from_json(const nlohmann::json& types, Limits limits = {});

  // Adds (or replaces) a type. Rejects (UsageError) schemas that are not objects or booleans, use
  // `$ref` to other documents or to nothing, refer to themselves without descending into the data
  // (a `$ref`/`allOf`/... cycle), nest too deep, or have a regex RE2 cannot run (see
  // docs/validation.md).
  SchemaRegistry& add(const std::string& type, const nlohmann::json& schema);

  bool has(const std::string& type) const;
  std::vector<std::string> types() const;
  const nlohmann::json& schema(const std::string& type) const;
  const Limits& limits() const noexcept;

  // Checks everything `put` promises to check: type known, no NUL in type/key/header names, valid
  // UTF-8, data an object within the depth and size limits, and the schema. Throws ValidationError.
  void validate(const Message& m) const;
  // Same checks; returns `data` as compact JSON so that stores need not serialize it again.
  std::string validate_and_serialize(const Message& m) const;
  // Same checks, for put: leaves `data` as compact JSON in m.data_json, what a store writes. The
  // text a typed put wrote itself (see TypedOrigin) is kept as it is when it passes.
  void validate_for_put(Message& m) const;
  // Checks any JSON value against the schema of `type` with the registry's limits (depth, size,
  // UTF-8, finite numbers), without the envelope rules: `validate` runs this for `data` after
  // checking that it is an object. Throws ValidationError.
  void validate_data(const std::string& type, const nlohmann::json& data) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace outbox
