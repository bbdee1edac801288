// Validation with valijson, except where valijson would run std::regex (unbounded backtracking,
// one stack frame per input character: a 100 kB string overflows the stack): `pattern`, `format`
// and `patternProperties` are rewritten at load (schema_document.cpp) into custom constraints
// evaluated with RE2, which runs in linear time without recursion. The same rewrite resolves
// `$ref` and refuses schemas whose validation would recurse without bound.
#include "outbox/schema.hpp"

#include <atomic>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <re2/re2.h>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/constraint_builder.hpp>
#include <valijson/constraints/concrete_constraints.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "checked_json.hpp"
#include "outbox/errors.hpp"
#include "schema_document.hpp"
#include "schema_quick_check.hpp"
#include "string_formats.hpp"
#include "utf8.hpp"

namespace outbox {

namespace {

namespace doc = schema_document;

std::string context_to_pointer(const std::vector<std::string>& context) {
  std::string pointer;
  for (std::size_t i = 1; i < context.size(); ++i) {  // context[0] is "<root>"
    std::string part = context[i];
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') part = part.substr(1, part.size() - 2);
    if (part.size() >= 2 && part.front() == '"' && part.back() == '"') part = part.substr(1, part.size() - 2);
    pointer += "/" + detail::escape_pointer_token(part);
  }
  return pointer;
}

// valijson describes errors in prose; name the JSON Schema keyword that was broken.
std::string rule_of(const std::string& description) {
  static const std::pair<const char*, const char*> table[] = {
      {"required property", "required"},
      {"'type' constraint", "type"},
      {"enum values", "enum"},
      {"'const'", "const"},
      {"greater than or equal", "minimum"},
      {"greater than", "exclusiveMinimum"},
      {"less than or equal", "maximum"},
      {"less than", "exclusiveMaximum"},
      {"no fewer than", "minLength/minItems/minProperties"},
      {"no more than", "maxLength/maxItems/maxProperties"},
      {"multiple of", "multipleOf"},
      {"additional properties", "additionalProperties"},
      {"Object contains a property", "additionalProperties"},
      {"anyOf", "anyOf"},
      {"exactly one", "oneOf"},
      {"any ", "allOf/anyOf"},
      {"contains", "contains"},
      {"dependency", "dependencies"},
      {"if-then-else", "if/then/else"},
      {"does not match pattern", "pattern"},
      {"format", "format"},
      {"items", "items"},
      {"equal", "const"},
  };
  for (const auto& [needle, rule] : table) {
    if (description.find(needle) != std::string::npos) return rule;
  }
  return "schema";
}

// `pattern`, evaluated with RE2 (unanchored, as JSON Schema specifies).
class Re2PatternConstraint : public valijson::constraints::PolyConstraint {
 public:
  Re2PatternConstraint(std::shared_ptr<const RE2> re, std::string source)
      : re_(std::move(re)), source_(std::move(source)) {}

  bool validate(const valijson::adapters::Adapter& target, const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    if (!target.isString()) return true;  // pattern only constrains strings
    if (RE2::PartialMatch(target.asString(), *re_)) return true;
    if (results) results->pushError(context, "String does not match pattern '" + source_ + "'");
    return false;
  }

 private:
  valijson::constraints::Constraint* cloneInto(void* p) const override { return new (p) Re2PatternConstraint(*this); }
  size_t sizeOf() const override { return sizeof(Re2PatternConstraint); }

  std::shared_ptr<const RE2> re_;
  std::string source_;
};

// `type`, as draft-07 defines it: an integer is any number with a zero fractional part (1.0, or a
// bignum the parser holds as a double); valijson's strict mode accepts only integer-typed values.
class TypeConstraint : public valijson::constraints::PolyConstraint {
 public:
  explicit TypeConstraint(std::vector<std::string> types) : types_(std::move(types)) {}

  bool validate(const valijson::adapters::Adapter& target, const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    for (const auto& t : types_) {
      if (is(target, t)) return true;
    }
    if (results) results->pushError(context, "Value type not permitted by 'type' constraint.");
    return false;
  }

 private:
  static bool is(const valijson::adapters::Adapter& v, const std::string& type) {
    if (type == "string") return v.isString();
    if (type == "object") return v.isObject();
    if (type == "array") return v.isArray();
    if (type == "boolean") return v.isBool();
    if (type == "null") return v.isNull();
    if (type == "number") return v.isNumber();
    if (type == "integer") {
      if (v.isInteger()) return true;
      if (!v.isDouble()) return false;
      const double d = v.getDouble();
      return std::isfinite(d) && std::trunc(d) == d;
    }
    return false;
  }
  valijson::constraints::Constraint* cloneInto(void* p) const override { return new (p) TypeConstraint(*this); }
  size_t sizeOf() const override { return sizeof(TypeConstraint); }

  std::vector<std::string> types_;
};

class TypeBuilder : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint* make(const valijson::adapters::Adapter& value) const override {
    std::vector<std::string> types;
    value.applyToArray([&](const valijson::adapters::Adapter& item) {
      types.push_back(item.asString());
      return true;
    });
    return new TypeConstraint(std::move(types));
  }
};

// `format`, for the formats with a fixed grammar; others are annotations and always pass.
class Re2FormatConstraint : public valijson::constraints::PolyConstraint {
 public:
  explicit Re2FormatConstraint(std::string format) : format_(std::move(format)) {}

  bool validate(const valijson::adapters::Adapter& target, const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    if (!target.isString()) return true;
    if (detail::format_holds(format_, target.asString())) return true;
    if (results) results->pushError(context, "String is not a valid '" + format_ + "' format");
    return false;
  }

 private:
  valijson::constraints::Constraint* cloneInto(void* p) const override { return new (p) Re2FormatConstraint(*this); }
  size_t sizeOf() const override { return sizeof(Re2FormatConstraint); }

  std::string format_;
};

class PatternBuilder : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint* make(const valijson::adapters::Adapter& value) const override {
    const std::string source = value.asString();
    return new Re2PatternConstraint(doc::compile_regex(source, "schema"), source);
  }
};

class FormatBuilder : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint* make(const valijson::adapters::Adapter& value) const override {
    return new Re2FormatConstraint(value.asString());
  }
};

// The member name a value is validated under: valijson's context ends in "[name]" for members
// (schema_document.cpp relies on this to evaluate `patternProperties`).
std::string member_name(const std::vector<std::string>& context) {
  if (context.empty()) return "";
  const std::string& last = context.back();
  if (last.size() >= 2 && last.front() == '[' && last.back() == ']') return last.substr(1, last.size() - 2);
  return last;
}

// True when the member name matches one of the regexes (a `patternProperties` key).
class NameMatchesConstraint : public valijson::constraints::PolyConstraint {
 public:
  explicit NameMatchesConstraint(std::vector<std::shared_ptr<const RE2>> res) : res_(std::move(res)) {}

  bool validate(const valijson::adapters::Adapter&, const std::vector<std::string>& context,
                valijson::ValidationResults*) const override {
    const std::string name = member_name(context);
    for (const auto& re : res_) {
      if (RE2::PartialMatch(name, *re)) return true;
    }
    return false;
  }

 private:
  valijson::constraints::Constraint* cloneInto(void* p) const override { return new (p) NameMatchesConstraint(*this); }
  size_t sizeOf() const override { return sizeof(NameMatchesConstraint); }

  std::vector<std::shared_ptr<const RE2>> res_;
};

// A member that neither `properties` nor `patternProperties` names, under `additionalProperties: false`.
class UnmatchedMemberConstraint : public valijson::constraints::PolyConstraint {
 public:
  bool validate(const valijson::adapters::Adapter&, const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    if (results) {
      results->pushError(context,
                         "Object contains a property that could not be validated using 'properties', "
                         "'patternProperties' or 'additionalProperties' constraints: '" +
                             member_name(context) + "'");
    }
    return false;
  }

 private:
  valijson::constraints::Constraint* cloneInto(void* p) const override {
    return new (p) UnmatchedMemberConstraint(*this);
  }
  size_t sizeOf() const override { return sizeof(UnmatchedMemberConstraint); }
};

class NameMatchesBuilder : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint* make(const valijson::adapters::Adapter& value) const override {
    std::vector<std::shared_ptr<const RE2>> res;
    if (value.isString()) {
      res.push_back(doc::compile_regex(value.asString(), "schema"));
    } else {
      value.applyToArray([&](const valijson::adapters::Adapter& item) {
        res.push_back(doc::compile_regex(item.asString(), "schema"));
        return true;
      });
    }
    return new NameMatchesConstraint(std::move(res));
  }
};

class UnmatchedMemberBuilder : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint* make(const valijson::adapters::Adapter&) const override {
    return new UnmatchedMemberConstraint;
  }
};

struct CompiledType {
  nlohmann::json original;
  std::shared_ptr<valijson::Schema> schema;
  // Accepts the usual valid message without valijson, when the schema is of the common shape.
  std::optional<detail::SchemaQuickCheck> quick;
  // The derived schema (of a typed message, see TypedOrigin) found equal to `original`, cached so
  // that the comparison runs once per type and program. Shared: puts run on many threads.
  std::shared_ptr<std::atomic<const nlohmann::json*>> derived = std::make_shared<std::atomic<const nlohmann::json*>>();

  // True when `schema` (a derived schema) is this type's schema: a message encoded for it needs no
  // schema check.
  bool is(const nlohmann::json& schema) const {
    if (derived->load(std::memory_order_acquire) == &schema) return true;
    if (schema != original) return false;
    derived->store(&schema, std::memory_order_release);
    return true;
  }
};

}  // namespace

struct SchemaRegistry::Impl {
  Limits limits;
  std::map<std::string, CompiledType> types;
};

SchemaRegistry::SchemaRegistry(Limits limits) : impl_(std::make_unique<Impl>()) { impl_->limits = limits; }
SchemaRegistry::~SchemaRegistry() = default;
SchemaRegistry::SchemaRegistry(SchemaRegistry&&) noexcept = default;
SchemaRegistry& SchemaRegistry::operator=(SchemaRegistry&&) noexcept = default;

SchemaRegistry SchemaRegistry::from_json(const nlohmann::json& types, Limits limits) {
  if (!types.is_object()) {
    throw UsageError(
        "a schema file must be a JSON object mapping each message type to its JSON Schema, "
        "e.g. {\"order_created\": {\"type\": \"object\"}}");
  }
  SchemaRegistry r(limits);
  for (const auto& [type, schema] : types.items()) r.add(type, schema);
  return r;
}

SchemaRegistry SchemaRegistry::from_file(const std::filesystem::path& path, Limits limits) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot read schema file '" + path.string() + "': check the path and permissions");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e400
    // The parser quotes what it last read, which for a binary file is raw bytes: escape them.
    std::string detail;
    for (const unsigned char c : std::string(e.what())) {
      if (c >= 0x20 && c < 0x7f) {
        detail += static_cast<char>(c);
      } else {
        static const char* const hex = "0123456789abcdef";
        detail += "\\x";
        detail += hex[c >> 4];
        detail += hex[c & 15];
      }
    }
    throw UsageError("schema file '" + path.string() + "' is not valid JSON: " + detail +
                     "; it must be a JSON object mapping each message type to its JSON Schema");
  }
  try {
    return from_json(j, limits);
  } catch (const UsageError& e) {
    throw UsageError("schema file '" + path.string() + "': " + e.what());
  }
}

SchemaRegistry& SchemaRegistry::add(const std::string& type, const nlohmann::json& schema) {
  const std::string where = "schema of type '" + type + "'";
  if (type.empty() || type.find('\0') != std::string::npos || !utf8::valid(type)) {
    throw UsageError("message type names must be non-empty UTF-8 without NUL bytes");
  }
  if (!schema.is_object() && !schema.is_boolean()) {
    throw UsageError(where + " must be a JSON Schema: an object, or true/false");
  }
  const nlohmann::json rewritten = doc::prepare(schema, where, impl_->limits.max_depth);

  auto compiled = std::make_shared<valijson::Schema>();
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  parser.addConstraintBuilder(doc::kPattern, new PatternBuilder);  // the parser deletes them
  parser.addConstraintBuilder(doc::kFormat, new FormatBuilder);
  parser.addConstraintBuilder(doc::kType, new TypeBuilder);
  parser.addConstraintBuilder(doc::kNameMatches, new NameMatchesBuilder);
  parser.addConstraintBuilder(doc::kNameMatchesAny, new NameMatchesBuilder);
  parser.addConstraintBuilder(doc::kUnmatchedMember, new UnmatchedMemberBuilder);
  try {
    valijson::adapters::NlohmannJsonAdapter adapter(rewritten);
    parser.populateSchema(adapter, *compiled);
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception& e) {
    throw UsageError(where + " is not a usable draft-07 JSON Schema: " + e.what());
  }
  impl_->types[type] = CompiledType{schema, std::move(compiled), detail::SchemaQuickCheck::compile(schema)};
  return *this;
}

bool SchemaRegistry::has(const std::string& type) const { return impl_->types.count(type) != 0; }

std::vector<std::string> SchemaRegistry::types() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : impl_->types) out.push_back(name);
  return out;
}

const nlohmann::json& SchemaRegistry::schema(const std::string& type) const {
  auto it = impl_->types.find(type);
  if (it == impl_->types.end()) throw UsageError("no schema for message type '" + type + "'");
  return it->second.original;
}

const Limits& SchemaRegistry::limits() const noexcept { return impl_->limits; }

namespace {

void check_name(const std::string& value, const std::string& pointer, const char* what) {
  if (value.find('\0') != std::string::npos) {
    throw ValidationError(pointer, "no-nul", std::string(what) + " contains a NUL byte");
  }
  if (!utf8::valid(value)) throw ValidationError(pointer, "utf-8", std::string(what) + " is not valid UTF-8");
}

// `type` null: every check but the schema's (a typed message's data, valid by construction).
std::string check_data(const CompiledType* type, const nlohmann::json& data, const Limits& limits) {
  // Depth (so that nothing recurses too deep), size (a huge payload costs at most the limit in
  // memory), every value, in one pass; then the schema: its quick check when it has one, and
  // valijson for what that is not sure of (and for the error's words).
  std::string serialized = detail::serialize_checked(data, limits);
  if (type == nullptr) return serialized;
  if (type->quick && type->quick->accepts(data)) return serialized;
  const valijson::Schema* schema = type->schema.get();

  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(data);
  if (validator.validate(*schema, target, &results)) return serialized;

  // Report the deepest error: it is the cause; the shallower ones only repeat that a child failed.
  valijson::ValidationResults::Error best, error;
  bool have = false;
  while (results.popError(error)) {
    if (!have || error.context.size() > best.context.size()) {
      best = error;
      have = true;
    }
  }
  const std::string pointer = "/data" + context_to_pointer(best.context);
  throw ValidationError(pointer, rule_of(best.description), best.description);
}

}  // namespace

void SchemaRegistry::validate(const Message& m) const { (void)validate_and_serialize(m); }

namespace {

// The envelope rules: the type known, no NUL and valid UTF-8 in type, id, key and headers, headers
// within their limit. Returns the type's compiled schema.
const CompiledType& check_envelope(const Message& m, const std::map<std::string, CompiledType>& types,
                                   const Limits& limits) {
  if (m.type.empty()) throw ValidationError("/type", "required", "the message has no type");
  check_name(m.type, "/type", "type");
  auto it = types.find(m.type);
  if (it == types.end()) {
    std::string known;
    for (const auto& [name, _] : types) known += (known.empty() ? "" : ", ") + name;
    throw ValidationError(
        "/type", "known-type",
        "unknown message type '" + m.type + "'; this outbox declares: " + (known.empty() ? "(none)" : known));
  }
  if (m.key) check_name(*m.key, "/key", "key");
  // An id the caller chose (an empty one is assigned at put). Every store keeps it as text, and
  // PostgreSQL would cut it at a NUL or fail the caller's whole transaction on bytes not UTF-8.
  if (!m.id.empty()) check_name(m.id, "/id", "id");
  std::size_t header_bytes = 0;
  for (const auto& [name, value] : m.headers) {
    if (name.empty()) throw ValidationError("/headers/", "header-name", "header name is empty");
    if (name.find('\0') != std::string::npos || value.find('\0') != std::string::npos || !utf8::valid(name) ||
        !utf8::valid(value)) {
      // Only now the pointer: it is built for an error, not for every header of every put.
      const std::string pointer = "/headers/" + detail::escape_pointer_token(name);
      check_name(name, pointer, "header name");
      check_name(value, pointer, "header value");
    }
    header_bytes += name.size() + value.size();
  }
  if (header_bytes > limits.max_header_bytes) {
    throw ValidationError("/headers", "max_header_bytes",
                          "headers take " + std::to_string(header_bytes) + " bytes; the limit is " +
                              std::to_string(limits.max_header_bytes));
  }
  return it->second;
}

// True when a typed put's own text (MessageSet::put wrote data_json) can be stored as it is: the
// type's schema is the one the text was written for, and it passed every check serialize_checked
// would make. Anything else goes the long way, through the value, for the schema or an exact error.
bool written_text_passes(const Message& m, const CompiledType& type, const Limits& limits) {
  const TypedOrigin& origin = *m.typed_origin;
  return origin.written_clean() && origin.written_depth() <= limits.max_depth &&
         m.data_json.size() <= limits.max_payload_bytes && type.is(origin.derived_schema());
}

bool wrote_data(const Message& m) { return m.typed_origin && m.typed_origin->wrote_data(); }

}  // namespace

std::string SchemaRegistry::validate_and_serialize(const Message& m) const {
  const Limits& limits = impl_->limits;
  const CompiledType& type = check_envelope(m, impl_->types, limits);
  if (wrote_data(m)) {
    if (written_text_passes(m, type, limits)) return m.data_json;
    const bool encoded_for_this_schema = type.is(m.typed_origin->derived_schema());
    return check_data(encoded_for_this_schema ? nullptr : &type, m.typed_origin->encode_data(), limits);
  }
  if (m.data.is_null() && !m.data_json.empty()) {
    // Only the text: a message a typed put returned, or one a tail read without parsing `data`,
    // put again. Its text is its data, checked in full like any untyped message's.
    const nlohmann::json data = parse_data(m.data_json);
    if (!data.is_object()) {
      throw ValidationError("/data", "type", std::string("data must be a JSON object, not ") + data.type_name());
    }
    return check_data(&type, data, limits);
  }
  if (!m.data.is_object()) {
    throw ValidationError("/data", "type", std::string("data must be a JSON object, not ") + m.data.type_name());
  }
  const bool encoded_for_this_schema = m.typed_origin && type.is(m.typed_origin->derived_schema());
  return check_data(encoded_for_this_schema ? nullptr : &type, m.data, limits);
}

void SchemaRegistry::validate_for_put(Message& m) const {
  // A typed put's text, when it passes, stays where it is: no copy.
  if (wrote_data(m) && written_text_passes(m, check_envelope(m, impl_->types, impl_->limits), impl_->limits)) return;
  m.data_json = validate_and_serialize(m);
}

void SchemaRegistry::validate_data(const std::string& type, const nlohmann::json& data) const {
  auto it = impl_->types.find(type);
  if (it == impl_->types.end()) {
    throw ValidationError("/type", "known-type", "unknown message type '" + type + "': add its schema first");
  }
  (void)check_data(&it->second, data, impl_->limits);
}

}  // namespace outbox
