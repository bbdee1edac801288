#include <gtest/gtest.h>

#include <thread>

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
  })"), limits);
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
  EXPECT_NO_THROW(orders().validate(msg("order_created", {{"ordernr", 7}, {"customer", "ada"},
                                                          {"at", "2026-11-29T13:00:00Z"}})));
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
      {{{"ordernr", 1}, {"lines", json::array({json::object({{"sku", "a"}}), json::object()})}}, "/data/lines/1", "required"},
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
                             R"({"t": {"type": "object", "patternProperties": {"^x": {}}}})"}) {
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
