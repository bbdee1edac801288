#include <gtest/gtest.h>

#include <limits>

#include "outbox/errors.hpp"
#include "outbox/prepare_put.hpp"
#include "outbox/typed.hpp"

namespace shop {

struct Line {
  std::string sku;
  std::uint32_t quantity;
};
OUTBOX_STRUCT(Line, sku, quantity)

struct OrderCreated {
  std::int64_t ordernr;
  std::string customer;
  std::vector<Line> lines;
  std::optional<std::string> note;
  bool express;
  double total;
  std::map<std::string, std::string> tags;
};
OUTBOX_MESSAGE(OrderCreated, "order_created", ordernr, customer, lines, note, express, total, tags)

struct OrderCompleted {
  std::int64_t ordernr;
};
OUTBOX_MESSAGE(OrderCompleted, "order_completed", ordernr)

struct Refund {
  std::int64_t amount;
};
OUTBOX_MESSAGE(Refund, "refund", amount)

}  // namespace shop

using OrderEvents = outbox::MessageSet<shop::OrderCreated, shop::OrderCompleted>;
using nlohmann::json;

// The compile-time half: only declared kinds can be made (a separate ctest checks that the
// expression does not compile in a real translation unit).
template <class Set, class T>
concept CanMake = requires(const T& v) {
  Set::make(v);
};
static_assert(CanMake<OrderEvents, shop::OrderCreated>);
static_assert(!CanMake<OrderEvents, shop::Refund>);
static_assert(!CanMake<OrderEvents, int>);
static_assert(outbox::MessageKind<shop::OrderCreated>);
static_assert(!outbox::MessageKind<shop::Line>);  // a struct, but not a message kind

TEST(Typed, SchemaComesFromTheDeclaration) {
  const json s = outbox::schema_of<shop::OrderCreated>();
  EXPECT_EQ(s["type"], "object");
  EXPECT_EQ(s["additionalProperties"], false);
  EXPECT_EQ(s["properties"]["ordernr"]["type"], "integer");
  EXPECT_EQ(s["properties"]["customer"]["type"], "string");
  EXPECT_EQ(s["properties"]["express"]["type"], "boolean");
  EXPECT_EQ(s["properties"]["total"]["type"], "number");
  EXPECT_EQ(s["properties"]["lines"]["items"]["properties"]["quantity"]["minimum"], 0);
  EXPECT_EQ(s["properties"]["lines"]["items"]["properties"]["quantity"]["maximum"], 4294967295u);
  EXPECT_EQ(s["properties"]["tags"]["additionalProperties"]["type"], "string");
  // Every member but the optional one is required.
  EXPECT_EQ(s["required"], json::array({"ordernr", "customer", "lines", "express", "total", "tags"}));
}

TEST(Typed, EncodedMessagesAlwaysPassTheirOwnSchema) {
  const auto registry = OrderEvents::registry();
  shop::OrderCreated created{42, "ada", {{"sku-1", 2}}, std::nullopt, true, 9.5, {{"channel", "web"}}};
  auto m = OrderEvents::make(created, "order-42", {{"traceparent", "00-1-2-01"}});
  EXPECT_EQ(m.type, "order_created");
  EXPECT_EQ(m.key, "order-42");
  EXPECT_FALSE(m.data.contains("note")) << "empty optionals are omitted";
  EXPECT_NO_THROW(registry.validate(m));

  created.note = "leave at door";
  m = OrderEvents::make(created);
  EXPECT_EQ(m.data["note"], "leave at door");
  EXPECT_NO_THROW(registry.validate(m));
  EXPECT_NO_THROW(registry.validate(OrderEvents::make(shop::OrderCompleted{42})));
}

TEST(Typed, RegistryRejectsWhatTheStructCannotHold) {
  const auto registry = OrderEvents::registry();
  outbox::Message m;
  m.type = "order_completed";
  m.data = {{"ordernr", "42"}};
  EXPECT_THROW(registry.validate(m), outbox::ValidationError);
  m.data = {{"ordernr", 42}, {"surprise", 1}};
  EXPECT_THROW(registry.validate(m), outbox::ValidationError);
}

TEST(Typed, DecodeRoundTrips) {
  shop::OrderCreated created{7, "bob", {{"a", 1}, {"b", 3}}, "hi", false, 1.25, {}};
  const auto decoded = OrderEvents::decode(OrderEvents::make(created));
  ASSERT_TRUE(std::holds_alternative<shop::OrderCreated>(decoded));
  const auto& back = std::get<shop::OrderCreated>(decoded);
  EXPECT_EQ(back.ordernr, 7);
  EXPECT_EQ(back.customer, "bob");
  ASSERT_EQ(back.lines.size(), 2u);
  EXPECT_EQ(back.lines[1].sku, "b");
  EXPECT_EQ(back.lines[1].quantity, 3u);
  EXPECT_EQ(back.note, "hi");
  EXPECT_DOUBLE_EQ(back.total, 1.25);
}

TEST(Typed, DecodeNamesMissingMembersAndUnknownTypes) {
  outbox::Message m;
  m.type = "order_completed";
  m.data = json::object();
  try {
    OrderEvents::decode(m);
    FAIL();
  } catch (const outbox::ValidationError& e) {
    EXPECT_EQ(e.pointer(), "/ordernr");
    EXPECT_EQ(e.rule(), "required");
  }
  m.type = "refund";
  EXPECT_THROW(OrderEvents::decode(m), outbox::ValidationError);
}

struct FakeWriter {
  std::vector<outbox::Message> written;
  outbox::Message put(outbox::Message m) {
    written.push_back(m);
    return m;
  }
};

// The writer gets the text a typed put wrote, not a JSON value (tests/unit/typed_text_test.cpp).
TEST(Typed, PutGoesThroughAnyWriter) {
  FakeWriter w;
  OrderEvents::put(w, shop::OrderCompleted{5}, "order-5");
  ASSERT_EQ(w.written.size(), 1u);
  EXPECT_EQ(w.written[0].type, "order_completed");
  EXPECT_EQ(w.written[0].data_json, R"({"ordernr":5})");
  EXPECT_TRUE(w.written[0].data.is_null());
}

// What every store's put does with a message before writing it (validation, id, created).
struct ValidatingWriter {
  outbox::SchemaRegistry registry = OrderEvents::registry();
  std::vector<outbox::Message> written;
  outbox::Message put(outbox::Message m) {
    outbox::prepare_put("shop", registry, m);
    written.push_back(m);
    return m;
  }
};

shop::OrderCreated an_order() { return shop::OrderCreated{1, "ada", {{"sku-1", 2}}, std::nullopt, false, 9.5, {}}; }

// A typed put skips the schema check its encoding makes needless, and only that: what no C++ type
// can guarantee is still refused before anything is written.
TEST(TypedPut, StillRefusesInvalidUtf8) {
  ValidatingWriter w;
  auto order = an_order();
  order.customer = "ad\xff";
  EXPECT_THROW(OrderEvents::put(w, order), outbox::ValidationError);
  order = an_order();
  order.tags["\xc3"] = "x";  // a member name
  EXPECT_THROW(OrderEvents::put(w, order), outbox::ValidationError);
  EXPECT_TRUE(w.written.empty());
}

TEST(TypedPut, StillRefusesNonFiniteNumbers) {
  ValidatingWriter w;
  auto order = an_order();
  order.total = std::numeric_limits<double>::infinity();
  EXPECT_THROW(OrderEvents::put(w, order), outbox::ValidationError);
  order.total = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(OrderEvents::put(w, order), outbox::ValidationError);
  EXPECT_TRUE(w.written.empty());
}

TEST(TypedPut, StillRefusesDataOverTheSizeLimit) {
  outbox::Limits limits;
  limits.max_payload_bytes = 200;
  ValidatingWriter w;
  w.registry = OrderEvents::registry(limits);
  auto order = an_order();
  EXPECT_NO_THROW(OrderEvents::put(w, order));
  order.customer = std::string(300, 'a');
  EXPECT_THROW(OrderEvents::put(w, order), outbox::ValidationError);
  EXPECT_EQ(w.written.size(), 1u);
}

TEST(TypedPut, StillRefusesBadEnvelopes) {
  ValidatingWriter w;
  EXPECT_THROW(OrderEvents::put(w, an_order(), std::string("key\0nul", 7)), outbox::ValidationError);
  EXPECT_THROW(OrderEvents::put(w, an_order(), "k", {{"bad\xff", "v"}}), outbox::ValidationError);
  EXPECT_TRUE(w.written.empty());
}

// An outbox whose schema for the type is not the derived one (stricter, from a file) checks typed
// messages against its own schema as before.
TEST(TypedPut, AnOutboxsOwnSchemaIsStillChecked) {
  ValidatingWriter w;
  w.registry = outbox::SchemaRegistry::from_json(
      json::parse(R"({"order_completed": {"type": "object", "properties": {"ordernr": {"maximum": 10}}}})"));
  EXPECT_NO_THROW(OrderEvents::put(w, shop::OrderCompleted{5}));
  EXPECT_THROW(OrderEvents::put(w, shop::OrderCompleted{50}), outbox::ValidationError);
  // The same schema as the derived one, from JSON: trusted like the derived registry.
  w.registry = outbox::SchemaRegistry::from_json({{"order_completed", outbox::schema_of<shop::OrderCompleted>()}});
  EXPECT_NO_THROW(OrderEvents::put(w, shop::OrderCompleted{50}));
  EXPECT_EQ(w.written.size(), 2u);
}

// Only put marks a message: one built with make can be changed before it is put, so it gets every
// check, the schema's included.
TEST(TypedPut, OnlyPutMarksAMessage) {
  EXPECT_FALSE(OrderEvents::make(shop::OrderCompleted{5}).typed_origin.has_value());
  ValidatingWriter w;
  auto m = OrderEvents::make(shop::OrderCompleted{5});
  m.data["ordernr"] = "five";
  EXPECT_THROW(w.put(m), outbox::ValidationError);
  OrderEvents::put(w, shop::OrderCompleted{6});
  ASSERT_EQ(w.written.size(), 1u);
  EXPECT_TRUE(w.written[0].typed_origin.has_value());
}
