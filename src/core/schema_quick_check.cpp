#include "schema_quick_check.hpp"

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <re2/re2.h>

#include "schema_document.hpp"
#include "string_formats.hpp"

namespace outbox::detail {

namespace {

using json = nlohmann::json;

enum TypeBit : unsigned {
  kNull = 1,
  kBoolean = 2,
  kInteger = 4,
  kNumber = 8,
  kString = 16,
  kArray = 32,
  kObject = 64,
  kAnyType = 127,
};

// As schema.cpp's TypeConstraint: an integer is any number with a zero fractional part.
bool has_type(const json& v, unsigned types) {
  switch (v.type()) {
    case json::value_t::null:
      return types & kNull;
    case json::value_t::boolean:
      return types & kBoolean;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return types & (kInteger | kNumber);
    case json::value_t::number_float: {
      if (types & kNumber) return true;
      const double d = v.get<double>();
      return (types & kInteger) && std::isfinite(d) && std::trunc(d) == d;
    }
    case json::value_t::string:
      return types & kString;
    case json::value_t::array:
      return types & kArray;
    case json::value_t::object:
      return types & kObject;
    default:
      return false;
  }
}

std::optional<unsigned> type_bit(const json& name) {
  if (!name.is_string()) return std::nullopt;
  const auto& s = name.get_ref<const std::string&>();
  if (s == "null") return kNull;
  if (s == "boolean") return kBoolean;
  if (s == "integer") return kInteger;
  if (s == "number") return kNumber;
  if (s == "string") return kString;
  if (s == "array") return kArray;
  if (s == "object") return kObject;
  return std::nullopt;
}

// Code points, as valijson's u8_strlen counts them; nullopt for a string with a NUL byte, where
// valijson stops counting.
std::optional<std::uint64_t> code_points(const std::string& s) {
  std::uint64_t n = 0;
  for (const char c : s) {
    if (c == '\0') return std::nullopt;
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::optional<std::uint64_t> count_keyword(const json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  return std::nullopt;
}

}  // namespace

struct SchemaQuickCheck::Node {
  bool accept_all = false;  // the schema `true` (`{}` accepts all through its defaults instead)
  unsigned types = kAnyType;
  std::map<std::string, Node, std::less<>> properties;
  std::vector<std::string> required;
  bool closed = false;  // additionalProperties: false
  std::shared_ptr<const Node> items;
  std::optional<std::uint64_t> min_items, max_items, min_length, max_length;
  // Bounds as valijson applies them: the value as a double against the bound as a double.
  std::optional<double> minimum, maximum, exclusive_minimum, exclusive_maximum;
  std::optional<std::vector<json>> enumeration;  // scalars only
  std::vector<std::shared_ptr<const RE2>> patterns;
  std::vector<std::string> formats;

  bool accepts(const json& v) const;
};

namespace {

// Keywords that only annotate (or hold subschemas nothing here refers to: `$ref` is outside the
// subset, so `definitions` is never reached).
bool annotation(const std::string& k) {
  return k == "title" || k == "description" || k == "default" || k == "examples" || k == "$comment" || k == "$schema" ||
         k == "$id" || k == "readOnly" || k == "writeOnly" || k == "definitions";
}

std::optional<SchemaQuickCheck::Node> compile_node(const json& s, std::size_t depth) {
  using Node = SchemaQuickCheck::Node;
  Node n;
  if (depth > schema_document::kMaxSchemaNesting) return std::nullopt;
  if (s.is_boolean()) {
    if (!s.get<bool>()) return std::nullopt;  // `false` refuses everything: valijson says so
    n.accept_all = true;
    return n;
  }
  if (!s.is_object()) return std::nullopt;
  for (const auto& [k, v] : s.items()) {
    if (annotation(k)) continue;
    if (k == "type") {
      n.types = 0;
      if (v.is_array()) {
        for (const auto& t : v) {
          const auto bit = type_bit(t);
          if (!bit) return std::nullopt;
          n.types |= *bit;
        }
      } else {
        const auto bit = type_bit(v);
        if (!bit) return std::nullopt;
        n.types = *bit;
      }
    } else if (k == "properties") {
      if (!v.is_object()) return std::nullopt;
      for (const auto& [name, sub] : v.items()) {
        auto child = compile_node(sub, depth + 1);
        if (!child) return std::nullopt;
        n.properties.emplace(name, std::move(*child));
      }
    } else if (k == "required") {
      if (!v.is_array()) return std::nullopt;
      for (const auto& r : v) {
        if (!r.is_string()) return std::nullopt;
        n.required.push_back(r.get<std::string>());
      }
    } else if (k == "additionalProperties") {
      if (!v.is_boolean()) return std::nullopt;  // a schema for them: outside the subset
      n.closed = !v.get<bool>();
    } else if (k == "items") {
      if (!v.is_object() && !v.is_boolean()) return std::nullopt;  // the tuple form: outside
      auto child = compile_node(v, depth + 1);
      if (!child) return std::nullopt;
      n.items = std::make_shared<const Node>(std::move(*child));
    } else if (k == "minItems" || k == "maxItems" || k == "minLength" || k == "maxLength") {
      const auto c = count_keyword(v);
      if (!c) return std::nullopt;
      (k == "minItems"    ? n.min_items
       : k == "maxItems"  ? n.max_items
       : k == "minLength" ? n.min_length
                          : n.max_length) = *c;
    } else if (k == "minimum" || k == "maximum" || k == "exclusiveMinimum" || k == "exclusiveMaximum") {
      if (!v.is_number()) return std::nullopt;
      const double d = v.get<double>();
      (k == "minimum"            ? n.minimum
       : k == "maximum"          ? n.maximum
       : k == "exclusiveMinimum" ? n.exclusive_minimum
                                 : n.exclusive_maximum) = d;
    } else if (k == "enum") {
      if (!v.is_array() || v.empty()) return std::nullopt;
      std::vector<json> values;
      for (const auto& e : v) {
        if (!e.is_string() && !e.is_boolean() && !e.is_null() && !e.is_number_integer()) return std::nullopt;
        values.push_back(e);
      }
      n.enumeration = std::move(values);
    } else if (k == "pattern") {
      if (!v.is_string()) return std::nullopt;
      n.patterns.push_back(schema_document::compile_regex(v.get<std::string>(), "schema"));
    } else if (k == "format") {
      if (!v.is_string()) return std::nullopt;
      n.formats.push_back(v.get<std::string>());
    } else {
      return std::nullopt;  // anything else: valijson decides
    }
  }
  // The members of a closed object are only those `properties` names (patternProperties is
  // outside the subset), so `closed` needs nothing more.
  return n;
}

}  // namespace

bool SchemaQuickCheck::Node::accepts(const json& v) const {
  if (accept_all) return true;
  if (!has_type(v, types)) return false;
  if (enumeration) {
    bool found = false;
    // Same JSON type and equal: valijson's strict equality holds too.
    for (const auto& e : *enumeration) {
      if (e.type() == v.type() && e == v) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  switch (v.type()) {
    case json::value_t::object: {
      for (const auto& r : required) {
        if (!v.contains(r)) return false;
      }
      for (const auto& [name, member] : v.items()) {
        const auto it = properties.find(name);
        if (it == properties.end()) {
          if (closed) return false;
          continue;
        }
        if (!it->second.accepts(member)) return false;
      }
      return true;
    }
    case json::value_t::array: {
      const std::uint64_t size = v.size();
      if ((min_items && size < *min_items) || (max_items && size > *max_items)) return false;
      if (items) {
        for (const auto& e : v) {
          if (!items->accepts(e)) return false;
        }
      }
      return true;
    }
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (min_length || max_length) {
        const auto len = code_points(s);
        if (!len) return false;
        if ((min_length && *len < *min_length) || (max_length && *len > *max_length)) return false;
      }
      for (const auto& re : patterns) {
        if (!RE2::PartialMatch(s, *re)) return false;
      }
      for (const auto& f : formats) {
        if (!format_holds(f, s)) return false;
      }
      return true;
    }
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: {
      const double d = v.get<double>();
      if (minimum && d < *minimum) return false;
      if (maximum && d > *maximum) return false;
      if (exclusive_minimum && d <= *exclusive_minimum) return false;
      if (exclusive_maximum && d >= *exclusive_maximum) return false;
      return true;
    }
    default:
      return true;
  }
}

std::optional<SchemaQuickCheck> SchemaQuickCheck::compile(const json& schema) {
  auto root = compile_node(schema, 0);
  if (!root) return std::nullopt;
  return SchemaQuickCheck(std::make_shared<const Node>(std::move(*root)));
}

bool SchemaQuickCheck::accepts(const json& data) const { return root_->accepts(data); }

}  // namespace outbox::detail
