// Validation with valijson, except for regular expressions: valijson runs `pattern` and `format`
// through std::regex, which backtracks without bound and recurses once per input character (a
// 100 kB string overflows the stack). Those two keywords are rewritten at load into custom
// constraints evaluated with RE2, which runs in linear time without recursion. Patterns RE2 cannot
// express (backreferences, lookaround) are rejected at load, as is `patternProperties`, which
// valijson would still hand to std::regex.
#include "outbox/schema.hpp"

#include <fstream>
#include <map>
#include <sstream>

#include <re2/re2.h>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/constraint_builder.hpp>
#include <valijson/constraints/concrete_constraints.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "outbox/errors.hpp"
#include "utf8.hpp"

namespace outbox {

namespace {

constexpr const char* kPatternKeyword = "x-outbox-pattern";
constexpr const char* kFormatKeyword = "x-outbox-format";

std::shared_ptr<const RE2> compile(const std::string& pattern, const std::string& where) {
  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_max_mem(8 << 20);
  auto re = std::make_shared<const RE2>(pattern, opts);
  if (!re->ok()) {
    throw UsageError(where + ": pattern '" + pattern + "' cannot be used (" + re->error() +
                     "); patterns run on RE2, which has no backreferences or lookaround: rewrite it "
                     "without them");
  }
  return re;
}

std::string context_to_pointer(const std::vector<std::string>& context) {
  std::string pointer;
  for (std::size_t i = 1; i < context.size(); ++i) {  // context[0] is "<root>"
    std::string part = context[i];
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') part = part.substr(1, part.size() - 2);
    if (part.size() >= 2 && part.front() == '"' && part.back() == '"') part = part.substr(1, part.size() - 2);
    std::string escaped;
    for (char c : part) {
      if (c == '~') escaped += "~0";
      else if (c == '/') escaped += "~1";
      else escaped += c;
    }
    pointer += "/" + escaped;
  }
  return pointer;
}

// valijson describes errors in prose; name the JSON Schema keyword that was broken.
std::string rule_of(const std::string& description) {
  static const std::pair<const char*, const char*> table[] = {
      {"required property", "required"},   {"'type' constraint", "type"},
      {"enum values", "enum"},             {"'const'", "const"},
      {"greater than or equal", "minimum"}, {"greater than", "exclusiveMinimum"},
      {"less than or equal", "maximum"},   {"less than", "exclusiveMaximum"},
      {"no fewer than", "minLength/minItems/minProperties"},
      {"no more than", "maxLength/maxItems/maxProperties"},
      {"multiple of", "multipleOf"},       {"additional properties", "additionalProperties"},
      {"Object contains a property", "additionalProperties"},
      {"anyOf", "anyOf"},                  {"exactly one", "oneOf"},
      {"any ", "allOf/anyOf"},             {"contains", "contains"},
      {"dependency", "dependencies"},      {"if-then-else", "if/then/else"},
      {"does not match pattern", "pattern"}, {"format", "format"},
      {"items", "items"},                  {"equal", "const"},
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
  valijson::constraints::Constraint* cloneInto(void* p) const override {
    return new (p) Re2PatternConstraint(*this);
  }
  size_t sizeOf() const override { return sizeof(Re2PatternConstraint); }

  std::shared_ptr<const RE2> re_;
  std::string source_;
};

// `format`, for the formats with a fixed grammar; others are annotations and always pass.
class Re2FormatConstraint : public valijson::constraints::PolyConstraint {
 public:
  explicit Re2FormatConstraint(std::string format) : format_(std::move(format)) {}

  bool validate(const valijson::adapters::Adapter& target, const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    if (!target.isString()) return true;
    static const RE2 date(R"(\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]))");
    static const RE2 time(R"(([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d))");
    static const RE2 date_time(
        R"(\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d))");
    static const RE2 uuid(R"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})");
    const RE2* re = nullptr;
    if (format_ == "date") re = &date;
    else if (format_ == "time") re = &time;
    else if (format_ == "date-time") re = &date_time;
    else if (format_ == "uuid") re = &uuid;
    if (re == nullptr || RE2::FullMatch(target.asString(), *re)) return true;
    if (results) results->pushError(context, "String is not a valid '" + format_ + "' format");
    return false;
  }

 private:
  valijson::constraints::Constraint* cloneInto(void* p) const override {
    return new (p) Re2FormatConstraint(*this);
  }
  size_t sizeOf() const override { return sizeof(Re2FormatConstraint); }

  std::string format_;
};

class PatternBuilder : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint* make(const valijson::adapters::Adapter& value) const override {
    const std::string source = value.asString();
    return new Re2PatternConstraint(compile(source, "schema"), source);
  }
};

class FormatBuilder : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint* make(const valijson::adapters::Adapter& value) const override {
    return new Re2FormatConstraint(value.asString());
  }
};

// Rewrites regex keywords so valijson never compiles a std::regex. Values of keywords that hold
// data rather than schemas (enum, const, default, examples) are left alone.
void rewrite_regex_keywords(nlohmann::json& node, const std::string& where, const std::string& path) {
  if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      rewrite_regex_keywords(node[i], where, path + "/" + std::to_string(i));
    }
    return;
  }
  if (!node.is_object()) return;
  if (node.contains("patternProperties")) {
    throw UsageError(where + ": 'patternProperties' at '" + path +
                     "' is not supported (the validator would run it with std::regex, which can hang "
                     "or crash); use 'propertyNames' with a 'pattern' instead");
  }
  nlohmann::json rewritten = nlohmann::json::object();
  for (auto& [key, value] : node.items()) {
    if (key == "pattern" && value.is_string()) {
      compile(value.get<std::string>(), where + " at '" + path + "/pattern'");
      rewritten[kPatternKeyword] = value;
    } else if (key == "format" && value.is_string()) {
      rewritten[kFormatKeyword] = value;
    } else if (key == "enum" || key == "const" || key == "default" || key == "examples") {
      rewritten[key] = value;
    } else {
      nlohmann::json child = value;
      rewrite_regex_keywords(child, where, path + "/" + key);
      rewritten[key] = std::move(child);
    }
  }
  node = std::move(rewritten);
}

struct CompiledType {
  nlohmann::json original;
  std::shared_ptr<valijson::Schema> schema;
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
    throw UsageError("a schema file must be a JSON object mapping each message type to its JSON Schema, "
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
  } catch (const nlohmann::json::parse_error& e) {
    throw UsageError("schema file '" + path.string() + "' is not valid JSON: " + e.what());
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
  if (!schema.is_object()) throw UsageError(where + " must be a JSON object (a JSON Schema)");
  nlohmann::json rewritten = schema;
  rewrite_regex_keywords(rewritten, where, "");

  auto compiled = std::make_shared<valijson::Schema>();
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  parser.addConstraintBuilder(kPatternKeyword, new PatternBuilder);  // the parser deletes them
  parser.addConstraintBuilder(kFormatKeyword, new FormatBuilder);
  try {
    valijson::adapters::NlohmannJsonAdapter adapter(rewritten);
    parser.populateSchema(adapter, *compiled);
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception& e) {
    throw UsageError(where + " is not a usable draft-07 JSON Schema: " + e.what());
  }
  impl_->types[type] = CompiledType{schema, std::move(compiled)};
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

std::string escape_pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

// Depth and UTF-8 of `data`, iteratively so that hostile nesting cannot overflow the stack.
void check_structure(const nlohmann::json& data, const Limits& limits) {
  struct Frame {
    const nlohmann::json* node;
    std::string pointer;
    std::size_t depth;
  };
  std::vector<Frame> stack{{&data, "/data", 1}};
  while (!stack.empty()) {
    Frame f = std::move(stack.back());
    stack.pop_back();
    if (f.node->is_string()) {
      if (!utf8::valid(f.node->get_ref<const std::string&>())) {
        throw ValidationError(f.pointer, "utf-8", "string is not valid UTF-8");
      }
      continue;
    }
    if (!f.node->is_structured()) continue;
    if (f.depth > limits.max_depth) {
      throw ValidationError(f.pointer, "max_depth",
                            "nesting deeper than " + std::to_string(limits.max_depth) + " levels");
    }
    if (f.node->is_object()) {
      for (const auto& [k, v] : f.node->items()) {
        const std::string child = f.pointer + "/" + escape_pointer_token(k);
        if (!utf8::valid(k)) throw ValidationError(child, "utf-8", "member name is not valid UTF-8");
        stack.push_back({&v, child, f.depth + 1});
      }
    } else {
      for (std::size_t i = 0; i < f.node->size(); ++i) {
        stack.push_back({&(*f.node)[i], f.pointer + "/" + std::to_string(i), f.depth + 1});
      }
    }
  }
}

}  // namespace

void SchemaRegistry::validate(const Message& m) const { (void)validate_and_serialize(m); }

std::string SchemaRegistry::validate_and_serialize(const Message& m) const {
  const Limits& limits = impl_->limits;
  if (m.type.empty()) throw ValidationError("/type", "required", "the message has no type");
  check_name(m.type, "/type", "type");
  auto it = impl_->types.find(m.type);
  if (it == impl_->types.end()) {
    std::string known;
    for (const auto& [name, _] : impl_->types) known += (known.empty() ? "" : ", ") + name;
    throw ValidationError("/type", "known-type",
                          "unknown message type '" + m.type + "'; this outbox declares: " +
                              (known.empty() ? "(none)" : known));
  }
  if (m.key) check_name(*m.key, "/key", "key");
  std::size_t header_bytes = 0;
  for (const auto& [name, value] : m.headers) {
    const std::string pointer = "/headers/" + escape_pointer_token(name);
    if (name.empty()) throw ValidationError(pointer, "header-name", "header name is empty");
    check_name(name, pointer, "header name");
    check_name(value, pointer, "header value");
    header_bytes += name.size() + value.size();
  }
  if (header_bytes > limits.max_header_bytes) {
    throw ValidationError("/headers", "max_header_bytes",
                          "headers take " + std::to_string(header_bytes) + " bytes; the limit is " +
                              std::to_string(limits.max_header_bytes));
  }
  if (!m.data.is_object()) {
    throw ValidationError("/data", "type", std::string("data must be a JSON object, not ") + m.data.type_name());
  }
  check_structure(m.data, limits);
  // Size is checked before the schema so that validation work stays bounded by the limit.
  std::string serialized = m.data.dump();
  const std::size_t bytes = serialized.size();
  if (bytes > limits.max_payload_bytes) {
    throw ValidationError("/data", "max_payload_bytes",
                          "data takes " + std::to_string(bytes) + " bytes; the limit is " +
                              std::to_string(limits.max_payload_bytes));
  }

  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(m.data);
  if (validator.validate(*it->second.schema, target, &results)) return serialized;

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

}  // namespace outbox
