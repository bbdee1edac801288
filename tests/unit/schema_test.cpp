#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include <unistd.h>

#include "outbox/errors.hpp"
#include "outbox/schema.hpp"

using namespace outbox;
using nlohmann::json;

namespace {

SchemaRegistry orders(Limits limits = {}) {
  return SchemaRegistry::from_json(json::parse(R"({
    "order_created": {
      "type": "object",
      "properties": {
        "ordernr": {"type": "integer", "minimum": 1},
        "customer": {"type": "string", "maxLength": 20, "pattern": "^[a-z]+$"},
        "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}},
                  "required": ["sku"]}},
        "at": {"type": "string", "format": "date-time"}
      },
      "required": ["ordernr"],
      "additionalProperties": false
    },
    "anything": {"type": "object"}
  })"),
                                   limits);
}

Message msg(std::string type, json data) {
  Message m;
  m.type = std::move(type);
  m.data = std::move(data);
  return m;
}

// Runs validate and returns the error, failing the test if it passes.
ValidationError rejection(const SchemaRegistry& r, const Message& m) {
  try {
    r.validate(m);
  } catch (const ValidationError& e) {
    return e;
  }
  ADD_FAILURE() << "message was accepted: " << m.data.dump();
  return ValidationError("", "", "");
}

}  // namespace

TEST(Schema, AcceptsAValidMessage) {
  EXPECT_NO_THROW(
      orders().validate(msg("order_created", {{"ordernr", 7}, {"customer", "ada"}, {"at", "2026-11-29T13:00:00Z"}})));
}

TEST(Schema, ViolationsNameThePointerAndTheRule) {
  const auto r = orders();
  struct Case {
    json data;
    std::string pointer, rule;
  } cases[] = {
      {{{"customer", "ada"}}, "/data", "required"},
      {{{"ordernr", "7"}}, "/data/ordernr", "type"},
      {{{"ordernr", 0}}, "/data/ordernr", "minimum"},
      {{{"ordernr", 1}, {"customer", "ADA"}}, "/data/customer", "pattern"},
      {{{"ordernr", 1}, {"extra", true}}, "/data", "additionalProperties"},
      {{{"ordernr", 1}, {"lines", json::array({json::object({{"sku", "a"}}), json::object()})}},
       "/data/lines/1",
       "required"},
      {{{"ordernr", 1}, {"at", "yesterday"}}, "/data/at", "format"},
  };
  for (const auto& c : cases) {
    const auto e = rejection(r, msg("order_created", c.data));
    EXPECT_EQ(e.pointer(), c.pointer) << c.data.dump() << " -> " << e.what();
    EXPECT_EQ(e.rule(), c.rule) << c.data.dump() << " -> " << e.what();
  }
}

TEST(Schema, EnvelopeRules) {
  const auto r = orders();
  EXPECT_EQ(rejection(r, msg("order_deleted", json::object())).rule(), "known-type");
  EXPECT_EQ(rejection(r, msg("", json::object())).pointer(), "/type");
  EXPECT_EQ(rejection(r, msg("anything", json::array())).pointer(), "/data");
  EXPECT_EQ(rejection(r, msg("anything", 5)).rule(), "type");

  auto m = msg("anything", json::object());
  m.key = std::string("k\0ey", 4);
  EXPECT_EQ(rejection(r, m).pointer(), "/key");
  m.key.reset();
  m.headers[std::string("trace\0parent", 12)] = "x";
  EXPECT_EQ(rejection(r, m).rule(), "no-nul");
  m.headers.clear();
  m.type = std::string("any\0thing", 9);
  EXPECT_EQ(rejection(r, m).pointer(), "/type");
}

TEST(Schema, InvalidUtf8IsRejectedWithItsPointer) {
  const auto r = orders();
  auto e = rejection(r, msg("anything", {{"name", "caf\xC3"}}));
  EXPECT_EQ(e.pointer(), "/data/name");
  EXPECT_EQ(e.rule(), "utf-8");
  e = rejection(r, msg("anything", {{"a", {{"b\xFF", 1}}}}));
  EXPECT_EQ(e.pointer(), "/data/a/b\xFF");
  auto m = msg("anything", json::object());
  m.headers["h"] = "\xED\xA0\x80";  // a UTF-16 surrogate encoded in UTF-8
  EXPECT_EQ(rejection(r, m).rule(), "utf-8");
}

TEST(Schema, SizeAndDepthLimits) {
  Limits limits;
  limits.max_payload_bytes = 1000;
  limits.max_depth = 8;
  const auto r = orders(limits);
  EXPECT_EQ(rejection(r, msg("anything", {{"blob", std::string(2000, 'x')}})).rule(), "max_payload_bytes");
  json deep = json::object();
  json* p = &deep;
  for (int i = 0; i < 20; ++i) p = &((*p)["d"] = json::object());
  const auto e = rejection(r, msg("anything", deep));
  EXPECT_EQ(e.rule(), "max_depth");
  EXPECT_EQ(e.pointer(), "/data/d/d/d/d/d/d/d/d");
}

TEST(Schema, DefaultPayloadLimitIsOneMebibyte) {
  const auto r = orders();
  EXPECT_EQ(r.limits().max_payload_bytes, 1024u * 1024u);
  EXPECT_NO_THROW(r.validate(msg("anything", {{"blob", std::string(1000 * 1000, 'x')}})));
  EXPECT_EQ(rejection(r, msg("anything", {{"blob", std::string(1024 * 1024, 'x')}})).rule(), "max_payload_bytes");
}

TEST(Schema, HostileNestingDoesNotOverflowTheStack) {
  // 100k levels: a recursive checker would crash; the limit must reject it cleanly.
  std::string text;
  for (int i = 0; i < 100000; ++i) text += "{\"a\":";
  text += "1";
  for (int i = 0; i < 100000; ++i) text += "}";
  const auto e = rejection(orders(), msg("anything", json::parse(text)));
  EXPECT_EQ(e.rule(), "max_depth");
}

TEST(Schema, PatternsRunInLinearTimeAndDoNotRecurse) {
  auto r = SchemaRegistry::from_json(json::parse(R"({
    "t": {"type": "object", "properties": {
      "evil": {"type": "string", "pattern": "^(a+)+$"},
      "long": {"type": "string", "pattern": "^[a-z]+$"}}}
  })"));
  // Catastrophic backtracking for a backtracking engine: 2^40 paths. RE2 answers at once.
  EXPECT_EQ(rejection(r, msg("t", {{"evil", std::string(40, 'a') + "!"}})).rule(), "pattern");
  // std::regex overflows the stack on ~100 kB inputs; RE2 does not recurse.
  EXPECT_NO_THROW(r.validate(msg("t", {{"long", std::string(900 * 1000, 'a')}})));
  EXPECT_EQ(rejection(r, msg("t", {{"long", std::string(900 * 1000, 'a') + "1"}})).rule(), "pattern");
}

TEST(Schema, UnsafeRegexFeaturesAreRejectedAtLoad) {
  for (const char* schema : {R"j({"t": {"type": "object", "properties": {"x": {"pattern": "(a)\\1"}}}})j",
                             R"j({"t": {"type": "object", "properties": {"x": {"pattern": "a(?=b)"}}}})j",
                             R"j({"t": {"type": "object", "patternProperties": {"(a)\\1": {}}}})j"}) {
    try {
      SchemaRegistry::from_json(json::parse(schema));
      ADD_FAILURE() << "accepted " << schema;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("'t'"), std::string::npos) << e.what();
    }
  }
}

TEST(Schema, DataNamedPatternIsNotMistakenForAKeyword) {
  // A property called "pattern" and enum values holding "pattern" keys are data, not regexes.
  auto r = SchemaRegistry::from_json(json::parse(R"({
    "t": {"type": "object", "properties": {"pattern": {"type": "string"},
          "v": {"enum": [{"pattern": "(a)\\1"}]}}}
  })"));
  EXPECT_NO_THROW(r.validate(msg("t", {{"pattern", "(x"}, {"v", {{"pattern", "(a)\\1"}}}})));
}

TEST(Schema, FromFileNamesTheFileOnErrors) {
  try {
    SchemaRegistry::from_file("/nonexistent/schema.json");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/schema.json"), std::string::npos);
  }
  // A number no double holds is a usage error naming the file too, not the JSON library's out_of_range.
  const auto path = std::filesystem::temp_directory_path() / "outbox_schema_1e400.json";
  std::ofstream(path) << R"({"t": {"maximum": 1e400}})";
  try {
    SchemaRegistry::from_file(path);
    ADD_FAILURE();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
  EXPECT_THROW(SchemaRegistry::from_json(json::array()), UsageError);
  EXPECT_THROW(SchemaRegistry::from_json(json::parse(R"({"t": 5})")), UsageError);
}

TEST(Schema, ValidationIsSafeFromManyThreads) {
  const auto r = orders();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        try {
          r.validate(msg("order_created", {{"ordernr", i + 1}, {"customer", "abc"}}));
        } catch (...) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

namespace {

// The UsageError add() throws for `schema`, or a test failure if it accepts it.
std::string refusal(const json& schema, Limits limits = {}) {
  try {
    SchemaRegistry(limits).add("t", schema);
  } catch (const UsageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "schema was accepted: " << schema.dump();
  return "";
}

}  // namespace

// issue 10 item 3: these crashed `put` with a stack overflow.
TEST(SchemaCycles, RefCyclesThatNeverDescendIntoTheDataAreRefusedAtLoadNamingTheCycle) {
  const std::string issue = refusal(json::parse(R"({
    "definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"}},
    "properties": {"x": {"$ref": "#/definitions/a"}}})"));
  EXPECT_NE(issue.find("schema of type 't'"), std::string::npos) << issue;
  EXPECT_NE(issue.find("#/definitions/a -($ref)-> #/definitions/b -($ref)-> #/definitions/a"), std::string::npos)
      << issue;

  for (const char* schema : {
           R"({"$ref": "#"})",
           R"({"allOf": [{"$ref": "#"}]})",
           R"({"anyOf": [{"type": "string"}, {"$ref": "#"}]})",
           R"({"oneOf": [{"$ref": "#/definitions/x"}], "definitions": {"x": {"not": {"$ref": "#"}}}})",
           R"({"if": {"$ref": "#"}})",
           R"({"if": true, "then": {"$ref": "#/definitions/y"}, "definitions": {"y": {"allOf": [{"$ref": "#"}]}}})",
           R"({"dependencies": {"a": {"$ref": "#"}}})",
           R"({"properties": {"p": {"$ref": "#/definitions/z"}}, "definitions": {"z": {"$ref": "#/definitions/z"}}})",
           R"({"$id": "http://example.com/root", "allOf": [{"$ref": "root"}]})",
           R"({"definitions": {"n": {"$id": "#node", "anyOf": [{"$ref": "#node"}]}}, "items": {"$ref": "#node"}})",
       }) {
    const std::string what = refusal(json::parse(schema));
    EXPECT_NE(what.find("refers to itself without descending into the data"), std::string::npos)
        << schema << " -> " << what;
  }
}

TEST(SchemaCycles, RecursionThroughTheDataStaysAllowed) {
  // A tree: each level descends through `properties` or `items` before referring back.
  auto r = SchemaRegistry::from_json(json::parse(R"({
    "tree": {"type": "object", "required": ["value"],
             "properties": {"value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#"}}}},
    "nodes": {"$id": "http://localhost:1234/tree", "type": "object",
              "properties": {"nodes": {"type": "array", "items": {"$ref": "node"}}},
              "definitions": {"node": {"$id": "http://localhost:1234/node", "type": "object",
                                       "properties": {"value": {"type": "number"}, "subtree": {"$ref": "tree"}},
                                       "required": ["value"]}}},
    "linked": {"$ref": "#/definitions/item",
               "definitions": {"item": {"type": "object", "properties": {"next": {"$ref": "#/definitions/item"}},
                                        "additionalProperties": {"allOf": [{"$ref": "#/definitions/item"}]}}}}
  })"));
  json tree = {{"value", 0}};
  for (int i = 1; i < 20; ++i) tree = {{"value", i}, {"children", json::array({tree, {{"value", -i}}})}};
  EXPECT_NO_THROW(r.validate(msg("tree", tree)));
  tree["children"][0]["children"][1]["value"] = "x";
  EXPECT_EQ(rejection(r, msg("tree", tree)).pointer(), "/data/children/0/children/1/value");

  const json nodes = json::parse(R"({"nodes": [{"value": 1, "subtree": {"nodes": [{"value": 2}]}}]})");
  EXPECT_NO_THROW(r.validate(msg("nodes", nodes)));
  auto bad = nodes;
  bad["nodes"][0]["subtree"]["nodes"][0]["value"] = "two";
  EXPECT_EQ(rejection(r, msg("nodes", bad)).pointer(), "/data/nodes/0/subtree/nodes/0/value");

  EXPECT_NO_THROW(r.validate(msg("linked", json::parse(R"({"next": {"next": {"other": {}}}})"))));
  EXPECT_EQ(rejection(r, msg("linked", json::parse(R"({"next": {"next": {"other": 5}}})"))).rule(), "type");
}

TEST(SchemaCycles, ValidationRecursionIsBoundedAtLoad) {
  // A chain of 3,000 references applied in place: acyclic, but it would recurse 3,000 deep.
  json chain = {{"$ref", "#/definitions/d0"}, {"definitions", json::object()}};
  for (int i = 0; i < 3000; ++i) {
    chain["definitions"]["d" + std::to_string(i)] = {{"$ref", "#/definitions/d" + std::to_string(i + 1)}};
  }
  chain["definitions"]["d3000"] = {{"type", "string"}};
  const std::string what = refusal(chain);
  EXPECT_NE(what.find("limit"), std::string::npos) << what;

  // Recursion through the data counts once per level of data the depth limit lets through.
  json deep_tree = json::parse(R"({"properties": {"c": {"allOf": [{"allOf": [{"$ref": "#"}]}]}}})");
  EXPECT_NO_THROW(SchemaRegistry().add("t", deep_tree));  // 64 levels x 4
  Limits huge;
  huge.max_depth = 100000;
  EXPECT_NE(refusal(deep_tree, huge).find("max_depth"), std::string::npos);

  // A schema nested 100,000 levels deep is refused, not a stack overflow in the parser.
  std::string text;
  for (int i = 0; i < 100000; ++i) text += "{\"not\":";
  text += "{}";
  for (int i = 0; i < 100000; ++i) text += "}";
  EXPECT_NE(refusal(json::parse(text)).find("nests deeper"), std::string::npos);
}

TEST(SchemaRefs, UnresolvableAndRemoteReferencesAreRefusedAtLoad) {
  EXPECT_NE(refusal(json::parse(R"({"$ref": "#/definitions/missing"})")).find("points to nothing"), std::string::npos);
  EXPECT_NE(refusal(json::parse(R"({"$ref": "http://example.com/other.json"})")).find("another document"),
            std::string::npos);
  EXPECT_NE(refusal(json::parse(R"({"$ref": "#nowhere"})")).find("no '$id'"), std::string::npos);
}

// issue 10 item 5: patternProperties was refused at load.
TEST(SchemaPatternProperties, RunOnRe2WithPropertiesAndAdditionalProperties) {
  auto r = SchemaRegistry::from_json(json::parse(R"({
    "t": {"type": "object",
          "properties": {"s_fixed": {"maxLength": 3}, "plain": {"type": "boolean"}},
          "patternProperties": {"^s_": {"type": "string"}, "^n_": {"type": "number"}, "^(a+)+$": {"const": 1}},
          "additionalProperties": false},
    "open": {"type": "object", "patternProperties": {"^x-": {"type": "string"}},
             "additionalProperties": {"type": "integer"}}
  })"));
  EXPECT_NO_THROW(r.validate(msg("t", {{"s_a", "x"}, {"n_b", 2.5}, {"s_fixed", "abc"}, {"plain", true}})));
  struct Case {
    json data;
    std::string pointer, rule;
  } cases[] = {
      {{{"s_a", 1}}, "/data/s_a", "type"},
      {{{"n_a", "x"}}, "/data/n_a", "type"},
      {{{"other", 1}}, "/data/other", "additionalProperties"},
      {{{"s_fixed", "toolong"}}, "/data/s_fixed", "maxLength/maxItems/maxProperties"},
      {{{"s_fixed", 5}}, "/data/s_fixed", "type"},  // a named property is also subject to matching patterns
  };
  for (const auto& c : cases) {
    const auto e = rejection(r, msg("t", c.data));
    EXPECT_EQ(e.pointer(), c.pointer) << c.data.dump() << " -> " << e.what();
    EXPECT_EQ(e.rule(), c.rule) << c.data.dump() << " -> " << e.what();
  }
  // A member name that makes a backtracking engine take 2^40 steps; RE2 answers at once.
  EXPECT_EQ(rejection(r, msg("t", {{std::string(40, 'a') + "!", 1}})).rule(), "additionalProperties");
  EXPECT_NO_THROW(r.validate(msg("t", {{std::string(100000, 'a'), 1}})));

  EXPECT_NO_THROW(r.validate(msg("open", {{"x-a", "s"}, {"[b]", 1}, {"", 2}})));
  EXPECT_EQ(rejection(r, msg("open", {{"x-a", 1}})).pointer(), "/data/x-a");
  EXPECT_EQ(rejection(r, msg("open", {{"[y]", "s"}})).pointer(), "/data/[y]");
}

// issue 10 item 4, library side: JSON has no infinity; dump() turned it into null.
TEST(Schema, NonFiniteNumbersAreRefusedWithTheirPointer) {
  const auto r = orders();
  auto e = rejection(r, msg("anything", {{"x", {{"y", std::numeric_limits<double>::infinity()}}}}));
  EXPECT_EQ(e.pointer(), "/data/x/y");
  EXPECT_EQ(e.rule(), "number-range");
  e = rejection(r, msg("anything", {{"a", json::array({1, std::nan("")})}}));
  EXPECT_EQ(e.pointer(), "/data/a/1");
  EXPECT_EQ(e.rule(), "number-range");
}

// issue 10 item 14: a 100 MB payload cost about 1 GB before it was refused, because every value
// was walked (with its pointer built) before the size was checked. The size now comes before the
// value checks: an oversized payload is refused for its size even when a value is also bad.
TEST(Schema, SizeIsCheckedBeforeTheValues) {
  Limits limits;
  limits.max_payload_bytes = 1000;
  const auto r = orders(limits);
  EXPECT_EQ(rejection(r, msg("anything", {{"blob", std::string(2000, 'x')}, {"z", "caf\xC3"}})).rule(),
            "max_payload_bytes");
  json many = json::object();
  for (int i = 0; i < 1000; ++i) many["k" + std::to_string(i)] = std::numeric_limits<double>::infinity();
  EXPECT_EQ(rejection(r, msg("anything", many)).rule(), "max_payload_bytes");
  // Depth stays first: serializing recurses once per level.
  json deep = {{"blob", std::string(2000, 'x')}};
  json* p = &deep;
  for (int i = 0; i < 100; ++i) p = &((*p)["d"] = json::object());
  EXPECT_EQ(rejection(r, msg("anything", deep)).rule(), "max_depth");
  // What is returned is exactly what dump() writes.
  const json ok = {{"s", "é\"\\\n"}, {"n", 1.5}, {"a", json::array({1, nullptr, true})}};
  EXPECT_EQ(orders().validate_and_serialize(msg("anything", ok)), ok.dump());
}

// issue 10 item 14: a binary schema file's error printed the raw bytes the parser last read.
TEST(Schema, ABinarySchemaFileIsRefusedWithPrintableText) {
  const auto path = std::filesystem::temp_directory_path() / ("outbox-binary-schema-" + std::to_string(getpid()));
  {
    std::ofstream out(path, std::ios::binary);
    const char bytes[] = {'\x7f', 'E', 'L', 'F', '\x02', '\x01', '\x00', '\x1b', '[', '2', 'J', '\xff', '\xfe'};
    out.write(bytes, sizeof bytes);
  }
  try {
    SchemaRegistry::from_file(path);
    ADD_FAILURE() << "a binary file was accepted";
  } catch (const UsageError& e) {
    const std::string what = e.what();
    for (const unsigned char c : what) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "raw byte " << int(c) << " in: " << what;
    EXPECT_NE(what.find("not valid JSON"), std::string::npos) << what;
  }
  std::filesystem::remove(path);
}
