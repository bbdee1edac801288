// JSON <-> BSON conversion and the outbox document layout of the MongoDB store (no server needed).
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>

#include "outbox/errors.hpp"
#include "store/mongodb/bson.hpp"

namespace {

using outbox::Message;
using outbox::StoreError;
using outbox::Timestamp;
using outbox::UsageError;
using outbox::ValidationError;
using outbox::mongodb::Bson;
using outbox::mongodb::canonical_extended_json;
using outbox::mongodb::message_document;
using outbox::mongodb::message_from_document;
using outbox::mongodb::to_bson;
using outbox::mongodb::to_json;
using json = nlohmann::json;

// The BSON type stored at a dotted path ("a.0.b").
bson_type_t type_at(const Bson& doc, const char* path) {
  bson_iter_t it, found;
  EXPECT_TRUE(bson_iter_init(&it, doc.get()));
  if (!bson_iter_find_descendant(&it, path, &found)) {
    ADD_FAILURE() << "no field " << path;
    return BSON_TYPE_EOD;
  }
  return bson_iter_type(&found);
}

Bson from_ext(const std::string& text) { return Bson::from_extended_json(text, "test document"); }

std::string pointer_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ValidationError& e) {
    return e.pointer();
  }
  return "<no ValidationError>";
}

TEST(MongoBson, IntegersStayIntegersInTheNarrowestBsonType) {
  const std::int64_t two53plus1 = (std::int64_t{1} << 53) + 1;
  const json j = {{"small", 7},
                  {"neg", -2147483648LL},
                  {"int32_max", 2147483647},
                  {"above_int32", 2147483648LL},
                  {"two53plus1", two53plus1},
                  {"int64_min", std::numeric_limits<std::int64_t>::min()},
                  {"uint_int64_max", static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())},
                  {"double", 1.0}};
  const Bson b = to_bson(j);
  EXPECT_EQ(type_at(b, "small"), BSON_TYPE_INT32);
  EXPECT_EQ(type_at(b, "neg"), BSON_TYPE_INT32);
  EXPECT_EQ(type_at(b, "int32_max"), BSON_TYPE_INT32);
  EXPECT_EQ(type_at(b, "above_int32"), BSON_TYPE_INT64);
  EXPECT_EQ(type_at(b, "two53plus1"), BSON_TYPE_INT64);
  EXPECT_EQ(type_at(b, "int64_min"), BSON_TYPE_INT64);
  EXPECT_EQ(type_at(b, "uint_int64_max"), BSON_TYPE_INT64);
  EXPECT_EQ(type_at(b, "double"), BSON_TYPE_DOUBLE);

  const json back = to_json(*b);
  EXPECT_EQ(back, j);
  // Exactly, not through a double: 2^53+1 is the first integer a double cannot hold.
  EXPECT_TRUE(back["two53plus1"].is_number_integer());
  EXPECT_EQ(back["two53plus1"].get<std::int64_t>(), two53plus1);
  EXPECT_EQ(back.dump().find("9007199254740993") != std::string::npos, true);
  EXPECT_TRUE(back["double"].is_number_float());
  EXPECT_EQ(back["double"].dump(), "1.0");
}

TEST(MongoBson, UnsignedAboveInt64MaxIsRefusedWithItsPointer) {
  const json j = {{"a", json::array({1, std::numeric_limits<std::uint64_t>::max()})}};
  try {
    to_bson(j);
    FAIL() << "expected ValidationError";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.pointer(), "/a/1");
    EXPECT_EQ(e.rule(), "bson_integer_range");
    EXPECT_NE(std::string(e.what()).find("18446744073709551615"), std::string::npos);
  }
}

TEST(MongoBson, NestedArraysAndObjectsRoundTrip) {
  const json j = json::parse(R"({"a":[[1,[2,"x"]],{"b":null,"c":[true,false]},[],{}],
                                  "s":"é\u0000z","o":{"p":{"q":[1.5,-3]}}})");
  const Bson b = to_bson(j);
  EXPECT_EQ(type_at(b, "a"), BSON_TYPE_ARRAY);
  EXPECT_EQ(type_at(b, "a.0.1"), BSON_TYPE_ARRAY);
  EXPECT_EQ(type_at(b, "a.0.1.0"), BSON_TYPE_INT32);
  EXPECT_EQ(type_at(b, "a.0.1.1"), BSON_TYPE_UTF8);
  EXPECT_EQ(type_at(b, "a.1"), BSON_TYPE_DOCUMENT);
  EXPECT_EQ(type_at(b, "a.1.b"), BSON_TYPE_NULL);
  EXPECT_EQ(type_at(b, "a.1.c.1"), BSON_TYPE_BOOL);
  EXPECT_EQ(type_at(b, "o.p.q.0"), BSON_TYPE_DOUBLE);
  EXPECT_EQ(to_json(*b), j);
  EXPECT_EQ(to_json(*b)["s"].get<std::string>().size(), 4u);  // the embedded NUL survives
}

TEST(MongoBson, RefusesWhatBsonCannotHold) {
  EXPECT_EQ(pointer_of([] { to_bson(json::array({1})); }), "");
  EXPECT_EQ(pointer_of([] { to_bson(json(3)); }), "");
  json nul_key = json::object();
  nul_key["x"][std::string("a\0b", 3)] = 1;
  EXPECT_EQ(pointer_of([&] { to_bson(nul_key); }), std::string("/x/a\0b", 6));
  json bin = {{"a/b~", {{"bin", json::binary({1, 2})}}}};
  EXPECT_EQ(pointer_of([&] { to_bson(bin); }), "/a~1b~0/bin");
}

TEST(MongoBson, ForeignTypesHaveDocumentedJsonForms) {
  const Bson b = from_ext(R"({"d":{"$date":{"$numberLong":"-1500"}},
                              "oid":{"$oid":"0123456789abcdef01234567"},
                              "dec":{"$numberDecimal":"1.10"},
                              "i64":{"$numberLong":"5"}})");
  const json j = to_json(*b);
  EXPECT_EQ(j["d"], -1500);  // milliseconds since the epoch, negative before 1970
  EXPECT_EQ(j["oid"], "0123456789abcdef01234567");
  EXPECT_EQ(j["dec"], "1.10");  // exact text, trailing zero kept
  EXPECT_TRUE(j["i64"].is_number_integer());
}

TEST(MongoBson, TypesWithoutJsonFormAreRefusedNamingTheField) {
  const Bson bin = from_ext(R"({"x":[0,{"b":{"$binary":{"base64":"AQI=","subType":"00"}}}]})");
  try {
    to_json(*bin);
    FAIL() << "expected ValidationError";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.pointer(), "/x/1/b");
    EXPECT_NE(std::string(e.what()).find("binary"), std::string::npos);
  }
  const Bson ts = from_ext(R"({"t":{"$timestamp":{"t":1,"i":2}}})");
  EXPECT_EQ(pointer_of([&] { to_json(*ts); }), "/t");
}

TEST(MongoBson, OwnerMovesAndReleases) {
  Bson a = to_bson({{"k", 1}});
  const bson_t* raw = a.get();
  Bson b = std::move(a);
  EXPECT_EQ(b.get(), raw);
  EXPECT_EQ(a.get(), nullptr);  // NOLINT(bugprone-use-after-move): documented moved-from state
  Bson c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  bson_t* released = c.release();
  EXPECT_EQ(released, raw);
  EXPECT_EQ(c.get(), nullptr);
  bson_destroy(released);
  const Bson copy = Bson::copy_of(*to_bson({{"k", 2}}));
  EXPECT_EQ(to_json(*copy), json({{"k", 2}}));
}

TEST(MongoBson, ExtendedJsonRoundTripsExactlyAndBadTextIsAUsageError) {
  const std::string token = R"({ "_data" : "8263A1B2C3000000012B022C0100296E5A1004" })";
  const Bson b = from_ext(token);
  EXPECT_EQ(canonical_extended_json(*b), token);
  EXPECT_EQ(canonical_extended_json(*from_ext(canonical_extended_json(*b))), token);
  try {
    from_ext("{not json");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("test document"), std::string::npos);
  }
}

Message sample() {
  Message m;
  m.id = "01890a5d-ac96-774b-bcce-b302099a8057";
  m.outbox = "orders";
  m.type = "order.placed";
  m.key = "order-1";
  m.data = {{"amount", (std::int64_t{1} << 53) + 1}, {"items", json::array({1, "two"})}};
  m.headers = {{"traceparent", "00-abc-01"}};
  m.created = Timestamp(std::chrono::microseconds(1'764'424'000'123'456));
  return m;
}

TEST(MongoBson, MessageDocumentHasTheAgreedLayout) {
  const Bson doc = message_document(sample());
  EXPECT_EQ(canonical_extended_json(*doc),
            R"({ "_id" : "01890a5d-ac96-774b-bcce-b302099a8057", "type" : "order.placed", )"
            R"("key" : "order-1", "data" : { "amount" : { "$numberLong" : "9007199254740993" }, )"
            R"("items" : [ { "$numberInt" : "1" }, "two" ] }, "headers" : { "traceparent" : "00-abc-01" }, )"
            R"("created" : { "$date" : { "$numberLong" : "1764424000123" } }, )"
            R"("created_us" : { "$numberLong" : "1764424000123456" } })");

  Message nokey = sample();
  nokey.key.reset();
  nokey.headers.clear();
  nokey.created = Timestamp(std::chrono::microseconds(-1));  // 1 µs before the epoch
  const Bson d2 = message_document(nokey);
  EXPECT_EQ(type_at(d2, "key"), BSON_TYPE_NULL);
  EXPECT_EQ(type_at(d2, "headers"), BSON_TYPE_DOCUMENT);
  bson_iter_t it;
  ASSERT_TRUE(bson_iter_init_find(&it, d2.get(), "created"));
  EXPECT_EQ(bson_iter_date_time(&it), -1);  // floor, not truncation toward zero
}

TEST(MongoBson, MessageDocumentRefusesDataWithoutBsonForm) {
  Message m = sample();
  m.data = {{"big", std::numeric_limits<std::uint64_t>::max()}};
  EXPECT_EQ(pointer_of([&] { message_document(m); }), "/data/big");
  m.data = json::array();
  EXPECT_EQ(pointer_of([&] { message_document(m); }), "/data");
}

TEST(MongoBson, MessageRoundTripsThroughItsDocument) {
  const Message in = sample();
  const Message out = message_from_document(*message_document(in), "orders");
  EXPECT_EQ(out.id, in.id);
  EXPECT_EQ(out.outbox, "orders");
  EXPECT_EQ(out.type, in.type);
  EXPECT_EQ(out.key, in.key);
  EXPECT_EQ(out.data, in.data);
  EXPECT_EQ(out.data_json, R"({"amount":9007199254740993,"items":[1,"two"]})");
  EXPECT_EQ(out.headers, in.headers);
  EXPECT_EQ(out.created, in.created);  // exact to the microsecond, from created_us
  EXPECT_EQ(out.position, 0);
  EXPECT_TRUE(out.checkpoint.empty());
}

TEST(MongoBson, PositionComesFromPosAndDataCanStayUnparsed) {
  Bson doc = message_document(sample());
  ASSERT_TRUE(bson_append_int64(doc.get(), "pos", -1, 42));
  const Message m = message_from_document(*doc, "orders", /*parse_data=*/false);
  EXPECT_EQ(m.position, 42);
  EXPECT_TRUE(m.data.is_null());
  EXPECT_EQ(m.data_json, R"({"amount":9007199254740993,"items":[1,"two"]})");
}

// A replayed dead letter's document has an _id of its own (the original document may still hold
// the message's id) and the message's id in `message_id`, which is what reads back as the id.
TEST(MongoBson, AReplayedDocumentReadsBackWithTheMessagesOwnId) {
  Message stored = sample();
  stored.id = "replay-7";
  Bson doc = message_document(stored);
  ASSERT_TRUE(bson_append_utf8(doc.get(), "message_id", -1, sample().id.c_str(), -1));
  EXPECT_EQ(message_from_document(*doc, "orders").id, sample().id);
}

TEST(MongoBson, CreatedFallsBackToTheMillisecondDate) {
  const Bson doc = from_ext(R"({"_id":"id-1","type":"t","key":null,"data":{},
                                "created":{"$date":{"$numberLong":"1000"}}})");
  const Message m = message_from_document(*doc, "orders");
  EXPECT_EQ(m.created, Timestamp(std::chrono::microseconds(1'000'000)));
  EXPECT_FALSE(m.key.has_value());
  EXPECT_TRUE(m.headers.empty());
  EXPECT_EQ(m.data_json, "{}");
}

std::string store_error_of(const std::string& ext) {
  try {
    message_from_document(*from_ext(ext), "orders");
  } catch (const StoreError& e) {
    EXPECT_FALSE(e.retryable());
    return e.what();
  }
  return "<no StoreError>";
}

TEST(MongoBson, ForeignDocumentsAreRefusedNamingIdAndField) {
  const std::string tail = R"(,"created_us":{"$numberLong":"1"}})";
  EXPECT_NE(store_error_of(R"({"type":"t","data":{})" + tail).find("'_id' is missing"), std::string::npos);
  EXPECT_NE(store_error_of(R"({"_id":{"$oid":"0123456789abcdef01234567"},"type":"t","data":{})" + tail)
                .find("'_id' is missing or not a string"),
            std::string::npos);
  const std::string no_type = store_error_of(R"({"data":{},"_id":"m1")" + tail);
  EXPECT_NE(no_type.find("'m1'"), std::string::npos);
  EXPECT_NE(no_type.find("'type' is missing"), std::string::npos);
  EXPECT_NE(store_error_of(R"({"_id":"m1","type":"t","data":[])" + tail).find("'data' is not an embedded document"),
            std::string::npos);
  EXPECT_NE(store_error_of(R"({"_id":"m1","type":"t","data":{},"key":5)" + tail).find("'key'"), std::string::npos);
  EXPECT_NE(store_error_of(R"({"_id":"m1","type":"t","data":{},"headers":{"h":1})" + tail).find("header 'h'"),
            std::string::npos);
  EXPECT_NE(store_error_of(R"({"_id":"m1","type":"t","data":{},"pos":"x")" + tail).find("'pos'"), std::string::npos);
  EXPECT_NE(store_error_of(R"({"_id":"m1","type":"t","data":{}})").find("'created_us' and 'created'"),
            std::string::npos);
  EXPECT_NE(store_error_of(R"({"_id":"m1","type":"t","data":{"b":{"$binary":{"base64":"AQI=","subType":"00"}}})" + tail)
                .find("/data/b"),
            std::string::npos);
}

}  // namespace
