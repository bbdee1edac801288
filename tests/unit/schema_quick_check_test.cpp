// The schema quick check (src/core/schema_quick_check.hpp) against valijson: whatever it accepts,
// the full validator accepts too (it must never let an invalid message through), on random
// schemas of its subset and random data, and the registry gives the same verdict either way.
#include "core/schema_quick_check.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "outbox/errors.hpp"
#include "outbox/schema.hpp"

namespace {

using nlohmann::json;
using outbox::detail::SchemaQuickCheck;

class Random {
 public:
  explicit Random(std::uint64_t seed) : rng_(seed) {}
  int below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool chance(int percent) { return below(100) < percent; }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(below(static_cast<int>(v.size())))];
  }

  // A schema of the quick check's subset, `depth` levels deep at most.
  json schema(int depth) {
    if (chance(5)) return true;
    json s = json::object();
    static const std::vector<std::string> kTypes = {"object", "array",   "string", "integer",
                                                    "number", "boolean", "null"};
    const std::string kind = depth <= 0 ? pick(std::vector<std::string>{"string", "integer", "number"}) : pick(kTypes);
    if (chance(85)) {
      s["type"] = chance(15) ? json::array({kind, pick(kTypes)}) : json(kind);
    }
    if (chance(10)) s["description"] = "annotated";
    if (kind == "object") {
      static const std::vector<std::string> kNames = {"a", "b", "c", "d"};
      for (const auto& n : kNames) {
        if (chance(50)) s["properties"][n] = schema(depth - 1);
      }
      if (chance(60)) {
        json required = json::array();
        for (const auto& n : kNames) {
          if (chance(30)) required.push_back(n);
        }
        s["required"] = required;
      }
      if (chance(50)) s["additionalProperties"] = chance(70) ? false : true;
    } else if (kind == "array") {
      if (chance(80)) s["items"] = schema(depth - 1);
      if (chance(30)) s["minItems"] = below(3);
      if (chance(30)) s["maxItems"] = below(4);
    } else if (kind == "string") {
      if (chance(30)) s["minLength"] = below(3);
      if (chance(30)) s["maxLength"] = below(4);
      if (chance(25)) s["pattern"] = pick(std::vector<std::string>{"^a", "b$", "[0-9]+", "^.{2}$"});
      if (chance(20)) s["format"] = pick(std::vector<std::string>{"date", "date-time", "uuid", "time", "email"});
      if (chance(20)) s["enum"] = json::array({"a", "ab", "é"});
    } else if (kind == "integer" || kind == "number") {
      static const std::vector<json> kBounds = {-1, 0, 1, 1.5, 3, 9007199254740992.0};
      if (chance(30)) s["minimum"] = pick(kBounds);
      if (chance(30)) s["maximum"] = pick(kBounds);
      if (chance(15)) s["exclusiveMinimum"] = pick(kBounds);
      if (chance(15)) s["exclusiveMaximum"] = pick(kBounds);
      if (chance(15)) s["enum"] = json::array({1, 2, 3});
    } else if (kind == "boolean" && chance(20)) {
      s["enum"] = json::array({true});
    }
    return s;
  }

  // Data that sometimes fits such a schema and often not quite.
  json data(int depth) {
    static const std::vector<json> kScalars = {nullptr,
                                               true,
                                               false,
                                               -2,
                                               0,
                                               1,
                                               1.0,
                                               1.5,
                                               3,
                                               json(std::uint64_t{9007199254740993u}),
                                               -0.0,
                                               "",
                                               "a",
                                               "ab",
                                               "b",
                                               "abc",
                                               "é",
                                               "éé",
                                               std::string("a\0b", 3),
                                               "2026-02-28",
                                               "2026-02-31",
                                               "2026-02-28T10:00:00Z",
                                               "10:00:00Z",
                                               "01a23b59-932a-70e5-be3d-c987fda1b6a3",
                                               "x9"};
    const int r = below(10);
    if (depth <= 0 || r < 5) return pick(kScalars);
    if (r < 7) {
      json a = json::array();
      for (int i = below(4); i > 0; --i) a.push_back(data(depth - 1));
      return a;
    }
    json o = json::object();
    static const std::vector<std::string> kNames = {"a", "b", "c", "d", "e"};
    for (const auto& n : kNames) {
      if (chance(45)) o[n] = data(depth - 1);
    }
    return o;
  }

 private:
  std::mt19937_64 rng_;
};

bool valid(const outbox::SchemaRegistry& r, const std::string& type, const json& data) {
  try {
    r.validate_data(type, data);
    return true;
  } catch (const outbox::ValidationError&) {
    return false;
  }
}

TEST(SchemaQuickCheck, NeverAcceptsWhatValijsonRefuses) {
  Random random(20261203);
  int schemas = 0, accepted = 0, refused = 0, unsure = 0;
  for (int i = 0; i < 1500; ++i) {
    json schema = random.schema(3);
    if (!schema.is_object() || schema.value("type", json()) != "object")
      schema = {{"type", "object"}, {"properties", {{"a", schema}}}};
    const auto quick = SchemaQuickCheck::compile(schema);
    ASSERT_TRUE(quick.has_value()) << "a schema of the subset got no quick check: " << schema.dump();
    ++schemas;
    outbox::SchemaRegistry registry;
    registry.add("quick", schema);
    // The same schema inside allOf, which the quick check does not take: valijson alone.
    registry.add("full", json{{"allOf", json::array({schema})}});
    for (int j = 0; j < 40; ++j) {
      json data = random.data(4);
      if (!data.is_object()) data = json{{"a", data}};
      const bool by_valijson = valid(registry, "full", data);
      const bool quickly = quick->accepts(data);
      if (quickly) {
        ++accepted;
        ASSERT_TRUE(by_valijson) << "the quick check accepted what valijson refuses\nschema " << schema.dump()
                                 << "\ndata " << data.dump();
      } else {
        (by_valijson ? unsure : refused) += 1;
      }
      ASSERT_EQ(valid(registry, "quick", data), by_valijson) << "schema " << schema.dump() << "\ndata " << data.dump();
    }
  }
  std::cout << schemas << " schemas: quick check accepted " << accepted << ", refused " << refused
            << ", left to valijson although valid " << unsure << std::endl;
  EXPECT_GT(accepted, 1000) << "the data hardly ever fitted: the test tests little";
  EXPECT_GT(refused, 1000);
}

TEST(SchemaQuickCheck, SchemasOutsideTheSubsetGetNone) {
  for (const char* s :
       {R"({"$ref": "#/definitions/x", "definitions": {"x": {}}})", R"({"allOf": [{}]})", R"({"anyOf": [{}]})",
        R"({"oneOf": [{}]})", R"({"not": {}})", R"({"if": {}, "then": {}})", R"({"multipleOf": 2})",
        R"({"uniqueItems": true})", R"({"patternProperties": {"^a": {}}})",
        R"({"additionalProperties": {"type": "string"}})", R"({"items": [{}]})", R"({"const": 1})",
        R"({"enum": [1.5]})", R"({"contains": {}})", R"({"propertyNames": {}})", R"({"dependencies": {"a": ["b"]}})",
        R"({"x-vendor": 1})", R"(false)", R"({"properties": {"a": {"oneOf": [{}]}}})"}) {
    EXPECT_FALSE(SchemaQuickCheck::compile(json::parse(s)).has_value()) << s;
  }
  EXPECT_TRUE(
      SchemaQuickCheck::compile(json::parse(R"({"title": "t", "$comment": "c", "definitions": {"x": {"oneOf": []}}})"))
          .has_value());
}

// The usual event schema: a valid message is accepted quickly; each broken rule is left to
// valijson, and the registry still names it.
TEST(SchemaQuickCheck, AnOrderEventSchema) {
  const json schema = json::parse(R"({
    "type": "object", "required": ["ordernr", "currency", "lines"], "additionalProperties": false,
    "properties": {
      "ordernr": {"type": "integer", "minimum": 1},
      "currency": {"enum": ["EUR", "USD"]},
      "placed_at": {"type": "string", "format": "date-time"},
      "reference": {"type": "string", "pattern": "^ORD-[0-9]+$", "maxLength": 20},
      "lines": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["sku"],
                "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "exclusiveMinimum": 0}}}}
    }})");
  const auto quick = SchemaQuickCheck::compile(schema);
  ASSERT_TRUE(quick.has_value());
  const json good = json::parse(R"({"ordernr": 7, "currency": "EUR", "placed_at": "2026-12-03T10:00:00Z",
                                    "reference": "ORD-12", "lines": [{"sku": "x", "quantity": 2}]})");
  EXPECT_TRUE(quick->accepts(good));
  outbox::SchemaRegistry registry;
  registry.add("order", schema);
  for (const auto& [pointer, broken] :
       std::vector<std::pair<std::string, json>>{{"/ordernr", json(0)},
                                                 {"/currency", json("GBP")},
                                                 {"/placed_at", json("2026-02-31T10:00:00Z")},
                                                 {"/reference", json("REF-1")},
                                                 {"/lines", json::array()},
                                                 {"/lines/0/quantity", json(0)},
                                                 {"/extra", json(1)}}) {
    json bad = good;
    bad[json::json_pointer(pointer)] = broken;
    EXPECT_FALSE(quick->accepts(bad)) << pointer;
    EXPECT_THROW(registry.validate_data("order", bad), outbox::ValidationError) << pointer;
  }
  json missing = good;
  missing.erase("currency");
  EXPECT_FALSE(quick->accepts(missing));
  EXPECT_THROW(registry.validate_data("order", missing), outbox::ValidationError);
}

}  // namespace
