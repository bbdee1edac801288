// A typed put writes its struct straight to text (no JSON value in between). These tests hold it
// to what the value path did: the same bytes as encode(value).dump(), the same refusals with the
// same errors, and the same message for stores and sinks.
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "outbox/errors.hpp"
#include "outbox/prepare_put.hpp"
#include "outbox/typed.hpp"

namespace text_shop {

struct Line {
  std::string sku;
  std::uint32_t quantity;
  std::optional<double> discount;
};
OUTBOX_STRUCT(Line, sku, quantity, discount)

struct Address {  // declared in name order: written without moving members
  std::string city;
  std::optional<std::string> street;
  std::string zip;
};
OUTBOX_STRUCT(Address, city, street, zip)

// Every member kind, declared out of name order.
struct Everything {
  std::int64_t ordernr;
  std::string customer;
  std::vector<Line> lines;
  std::optional<std::string> note;
  bool express;
  double total;
  float ratio;
  std::int8_t small;
  std::uint8_t tiny;
  std::uint64_t big;
  std::int32_t mid;
  std::map<std::string, std::string> tags;
  std::map<std::string, Line> by_sku;
  std::vector<std::optional<std::int64_t>> maybe;
  std::vector<std::vector<double>> grid;
  std::vector<bool> flags;
  Address ship_to;
  std::optional<Address> bill_to;
};
OUTBOX_MESSAGE(Everything, "everything", ordernr, customer, lines, note, express, total, ratio, small, tiny, big, mid,
               tags, by_sku, maybe, grid, flags, ship_to, bill_to)

struct WithJson {  // a member of any shape: built as a JSON value, as before
  std::int64_t id;
  nlohmann::json extra;
};
OUTBOX_MESSAGE(WithJson, "with_json", id, extra)

}  // namespace text_shop

namespace {

using Events = outbox::MessageSet<text_shop::Everything, text_shop::WithJson>;
using nlohmann::json;

static_assert(outbox::detail::writes_directly<text_shop::Everything>());
static_assert(!outbox::detail::writes_directly<text_shop::WithJson>());

std::string written(const text_shop::Everything& v) {
  outbox::detail::TypedText text;
  outbox::detail::write_value(v, text, 1);
  return text.out.take();
}

class Random {
 public:
  explicit Random(unsigned seed) : gen_(seed) {}

  std::size_t below(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(gen_); }
  bool coin() { return below(2) == 0; }

  // Bytes dump() escapes or keeps: quotes, backslashes, every control character, DEL, UTF-8 of 2 to
  // 4 bytes. Valid UTF-8, so that the value passes.
  std::string text() {
    static const std::vector<std::string> pieces = {
        "a",  "Z",  "9",  " ",  "\"", "\\",   "/",    "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\n", "\t", "\b", "\f", "\r", "\x01", "\x1f", "sku-", "~"};
    std::string s;
    for (std::size_t i = below(12); i > 0; --i) s += pieces[below(pieces.size())];
    return s;
  }

  double number() {
    switch (below(4)) {
      case 0:
        return static_cast<double>(static_cast<std::int64_t>(below(2000000)) - 1000000) / 8;
      case 1: {  // any finite bit pattern
        double d;
        do {
          const std::uint64_t bits = std::uniform_int_distribution<std::uint64_t>()(gen_);
          std::memcpy(&d, &bits, sizeof d);
        } while (!std::isfinite(d));
        return d;
      }
      case 2:
        return coin() ? 0.0 : -0.0;
      default:
        return coin() ? std::numeric_limits<double>::max() : std::numeric_limits<double>::denorm_min();
    }
  }

  template <class T>
  T integer() {
    return std::uniform_int_distribution<T>(std::numeric_limits<T>::min(), std::numeric_limits<T>::max())(gen_);
  }

  text_shop::Line line() {
    return {text(), integer<std::uint32_t>(), coin() ? std::optional<double>(number()) : std::nullopt};
  }

  text_shop::Address address() { return {text(), coin() ? std::optional<std::string>(text()) : std::nullopt, text()}; }

  text_shop::Everything everything() {
    text_shop::Everything v{};
    v.ordernr = integer<std::int64_t>();
    v.customer = text();
    for (std::size_t i = below(4); i > 0; --i) v.lines.push_back(line());
    if (coin()) v.note = text();
    v.express = coin();
    v.total = number();
    v.ratio = static_cast<float>(below(1000)) / 7.0f;
    v.small = static_cast<std::int8_t>(integer<int>() % 128);
    v.tiny = static_cast<std::uint8_t>(below(256));
    v.big = integer<std::uint64_t>();
    v.mid = integer<std::int32_t>();
    for (std::size_t i = below(4); i > 0; --i) v.tags[text()] = text();
    for (std::size_t i = below(3); i > 0; --i) v.by_sku[text()] = line();
    for (std::size_t i = below(4); i > 0; --i) {
      v.maybe.push_back(coin() ? std::optional<std::int64_t>(integer<std::int64_t>()) : std::nullopt);
    }
    for (std::size_t i = below(3); i > 0; --i) {
      std::vector<double> row;
      for (std::size_t j = below(3); j > 0; --j) row.push_back(number());
      v.grid.push_back(row);
    }
    for (std::size_t i = below(4); i > 0; --i) v.flags.push_back(coin());
    v.ship_to = address();
    if (coin()) v.bill_to = address();
    return v;
  }

 private:
  std::mt19937_64 gen_;
};

// The writer that replaced the JSON value must store exactly what the value path stored.
TEST(TypedText, WritesExactlyWhatEncodeAndDumpWriteFor5000RandomValues) {
  Random random(20261202);
  for (int i = 0; i < 5000; ++i) {
    const auto v = random.everything();
    ASSERT_EQ(written(v), outbox::detail::encode(v).dump()) << "value " << i;
  }
}

TEST(TypedText, WritesEmptyContainersAndOmitsEmptyOptionals) {
  text_shop::Everything v{};
  EXPECT_EQ(written(v), outbox::detail::encode(v).dump());
  EXPECT_EQ(json::parse(written(v)).count("note"), 0u);
  EXPECT_EQ(json::parse(written(v)).count("bill_to"), 0u);
}

struct ValidatingWriter {
  outbox::SchemaRegistry registry = Events::registry();
  std::vector<outbox::Message> written;
  outbox::Message put(outbox::Message m) {
    outbox::prepare_put("shop", registry, m);
    written.push_back(m);
    return m;
  }
};

text_shop::Everything an_order() {
  Random random(7);
  auto v = random.everything();
  v.total = 9.5;
  v.lines = {{"sku-1", 2, std::nullopt}};
  // Within int64: valijson reads a number above 2^63 - 1 as negative, so an untyped check (a put
  // again, below) refuses it against "minimum": 0. A known gap of the untyped path (issue 14 note).
  v.big = 18446744073709551615u >> 1;
  return v;
}

// No JSON value is built: the writer gets the text, and so does the caller.
TEST(TypedText, APutHandsOverTheTextAndNoValue) {
  ValidatingWriter w;
  const auto order = an_order();
  const auto m = Events::put(w, order, "order-1");
  const std::string expected = outbox::detail::encode(order).dump();
  ASSERT_EQ(w.written.size(), 1u);
  EXPECT_TRUE(w.written[0].data.is_null());
  EXPECT_EQ(w.written[0].data_json, expected);
  EXPECT_TRUE(m.data.is_null());
  EXPECT_EQ(m.data_json, expected);
  EXPECT_EQ(outbox::serialized_data(m), expected);
  EXPECT_FALSE(m.typed_origin.has_value()) << "the origin points at the caller's value; it must not outlive put";
  // What reads a message still sees its data.
  EXPECT_EQ(outbox::to_json(m)["data"], outbox::detail::encode(order));
  const auto back = std::get<text_shop::Everything>(
      Events::decode(outbox::Message{.type = "everything", .data = json::parse(m.data_json)}));
  EXPECT_EQ(back.customer, order.customer);
}

// The message a typed put returns can be put again (another outbox, a retry): its text is its data,
// and it is checked in full, as an untyped message is.
TEST(TypedText, TheReturnedMessageCanBePutAgain) {
  ValidatingWriter first;
  auto m = Events::put(first, an_order(), "order-1");
  ValidatingWriter second;
  m.outbox.clear();
  m.id.clear();
  const auto again = second.put(m);
  EXPECT_EQ(again.data_json, m.data_json);
  // Checked in full: this outbox's own schema refuses it.
  second.registry = outbox::SchemaRegistry::from_json(
      json::parse(R"({"everything": {"type": "object", "required": ["absent"]}, "with_json": {}})"));
  EXPECT_THROW(second.put(m), outbox::ValidationError);
  m.data_json = "[1]";
  EXPECT_THROW(second.put(m), outbox::ValidationError);
  m.data_json = "{not json";
  EXPECT_THROW(second.put(m), outbox::ValidationError);
}

// A type with a nlohmann::json member builds its value as before, and is checked the same way.
TEST(TypedText, ATypeWithAJsonMemberStillBuildsItsValue) {
  ValidatingWriter w;
  const auto m = Events::put(w, text_shop::WithJson{1, {{"b", 1}, {"a", "x"}}});
  EXPECT_EQ(m.data_json, R"({"extra":{"a":"x","b":1},"id":1})");
  EXPECT_EQ(m.data, json::parse(m.data_json));
  EXPECT_THROW(Events::put(w, text_shop::WithJson{2, {{"a", "\xff"}}}), outbox::ValidationError);
  EXPECT_EQ(w.written.size(), 1u);
}

// What the typed text refuses, it refuses with the error the value path gives: the same pointer,
// rule and words, with the same precedence (depth, then size, then the first bad value).
void expect_same_refusal(ValidatingWriter& w, const text_shop::Everything& v, const std::string& rule) {
  std::optional<outbox::ValidationError> typed, untyped;
  try {
    Events::put(w, v);
  } catch (const outbox::ValidationError& e) {
    typed = e;
  }
  try {
    w.put(Events::make(v));
  } catch (const outbox::ValidationError& e) {
    untyped = e;
  }
  ASSERT_TRUE(typed.has_value()) << "the typed put accepted what it must refuse (" << rule << ")";
  ASSERT_TRUE(untyped.has_value());
  EXPECT_EQ(typed->rule(), rule);
  EXPECT_EQ(typed->rule(), untyped->rule());
  EXPECT_EQ(typed->pointer(), untyped->pointer());
  EXPECT_STREQ(typed->what(), untyped->what());
}

TEST(TypedText, RefusesWhatTheValuePathRefusedWithTheSameError) {
  ValidatingWriter w;
  auto v = an_order();
  v.lines[0].sku = "sku\xff";
  expect_same_refusal(w, v, "utf-8");
  v = an_order();
  v.by_sku["\xc3"] = {"x", 1, std::nullopt};  // a member name
  expect_same_refusal(w, v, "utf-8");
  v = an_order();
  v.grid = {{1.0, std::numeric_limits<double>::quiet_NaN()}};
  expect_same_refusal(w, v, "number-range");
  v = an_order();
  v.lines[0].discount = -std::numeric_limits<double>::infinity();
  expect_same_refusal(w, v, "number-range");
  v.ratio = std::numeric_limits<float>::infinity();  // two bad values: the first in document order
  expect_same_refusal(w, v, "number-range");

  outbox::Limits small;
  small.max_payload_bytes = 300;
  w.registry = Events::registry(small);
  v = an_order();
  v.customer = std::string(400, 'a');
  expect_same_refusal(w, v, "max_payload_bytes");
  v.note = "\xff";  // size takes precedence over a bad value
  expect_same_refusal(w, v, "max_payload_bytes");

  outbox::Limits shallow;
  shallow.max_depth = 2;  // data, then lines: a Line object is one level too deep
  w.registry = Events::registry(shallow);
  v = an_order();
  v.grid.clear();
  v.by_sku.clear();
  expect_same_refusal(w, v, "max_depth");
  v.customer = std::string(2 * 1024 * 1024, 'a');  // depth takes precedence over size
  expect_same_refusal(w, v, "max_depth");
  EXPECT_TRUE(w.written.empty());
}

// The limits are the registry's: the same value passes one outbox and not another.
TEST(TypedText, ChecksTheLimitsOfTheOutboxItIsPutInto) {
  auto v = an_order();
  v.grid.clear();
  v.by_sku.clear();
  ValidatingWriter roomy;
  EXPECT_NO_THROW(Events::put(roomy, v));
  outbox::Limits exact;
  exact.max_depth = 3;
  exact.max_payload_bytes = outbox::detail::encode(v).dump().size();
  ValidatingWriter tight;
  tight.registry = Events::registry(exact);
  EXPECT_NO_THROW(Events::put(tight, v)) << "at the limits is within them";
  exact.max_payload_bytes -= 1;
  tight.registry = Events::registry(exact);
  EXPECT_THROW(Events::put(tight, v), outbox::ValidationError);
}

// An outbox with its own schema for the type checks the typed text against it, through the value.
TEST(TypedText, AnOutboxsOwnSchemaStillChecksTheText) {
  ValidatingWriter w;
  w.registry = outbox::SchemaRegistry::from_json(json::parse(
      R"({"everything": {"type": "object", "properties": {"customer": {"maxLength": 3}}}, "with_json": {}})"));
  auto v = an_order();
  v.customer = "abcd";
  try {
    Events::put(w, v);
    FAIL() << "the outbox's own schema was not applied";
  } catch (const outbox::ValidationError& e) {
    EXPECT_EQ(e.pointer(), "/data/customer");
  }
  v.customer = "abc";
  const auto m = Events::put(w, v);
  EXPECT_EQ(m.data_json, outbox::detail::encode(v).dump());
}

}  // namespace

namespace {
// An empty optional inside an array or map is encoded as null; the derived schema allowed no null
// there, so such a message failed the full check it gets when built with make() or put again.
TEST(TypedText, TheDerivedSchemaAllowsTheNullOfAnEmptyOptionalInAnArray) {
  auto v = an_order();
  v.maybe = {1, std::nullopt, 3};
  EXPECT_NO_THROW(Events::registry().validate(Events::make(v)));
  v.maybe = {};
  EXPECT_NO_THROW(Events::registry().validate(Events::make(v)));
}
}  // namespace
