// The envelope as broker headers and as a CloudEvents document, and destination templates: the
// core pieces every sink shares.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "outbox/destination.hpp"
#include "outbox/envelope.hpp"
#include "outbox/errors.hpp"

using namespace outbox;

namespace {

Message sample() {
  Message m;
  m.id = "0190a3c4-0000-7000-8000-000000000001";
  m.outbox = "orders";
  m.type = "order_created";
  m.key = "order-42";
  m.data = {{"ordernr", 42}};
  m.headers = {{"traceparent", "00-abc-def-01"}};
  m.created = parse_timestamp("2026-12-01T10:00:00.000001Z");
  m.position = 17;
  return m;
}

std::string value_of(const std::vector<Header>& headers, const std::string& name) {
  for (const auto& h : headers) {
    if (h.name == name) return h.value;
  }
  return "<missing " + name + ">";
}

}  // namespace

TEST(DestinationTemplate, RendersPlaceholdersAndRefusesUnknownOnes) {
  const Message m = sample();
  EXPECT_EQ(DestinationTemplate("{outbox}.{type}", "topic").render(m), "orders.order_created");
  EXPECT_EQ(DestinationTemplate("events", "topic").render(m), "events");
  EXPECT_TRUE(DestinationTemplate("events", "topic").fixed());
  EXPECT_FALSE(DestinationTemplate("x.{type}", "subject").fixed());
  try {
    DestinationTemplate("{outbox}.{key}", "subject");
    FAIL() << "an unknown placeholder was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("subject template"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("{key}"), std::string::npos) << e.what();
  }
  EXPECT_THROW(DestinationTemplate("{outbox", "topic"), UsageError);
  EXPECT_THROW(DestinationTemplate("outbox}", "topic"), UsageError);
  EXPECT_THROW(DestinationTemplate("", "topic"), UsageError);
}

TEST(EnvelopeHeaders, PlainCarriesTheEnvelopeThenTheMessageHeaders) {
  const auto h = envelope_headers(sample(), {});
  ASSERT_EQ(h.size(), 6u);
  EXPECT_EQ(h[0].name, "id");
  EXPECT_EQ(value_of(h, "id"), "0190a3c4-0000-7000-8000-000000000001");
  EXPECT_EQ(value_of(h, "type"), "order_created");
  EXPECT_EQ(value_of(h, "outbox"), "orders");
  EXPECT_EQ(value_of(h, "created"), "2026-12-01T10:00:00.000001Z");
  EXPECT_EQ(value_of(h, "position"), "17");
  EXPECT_EQ(h.back().name, "traceparent");
  EXPECT_EQ(h.back().value, "00-abc-def-01");
}

TEST(EnvelopeHeaders, CloudEventsBinaryModeUsesTheBindingsPrefix) {
  EnvelopeOptions o;
  o.cloudevents = true;
  const auto kafka = envelope_headers(sample(), o, "ce_");
  EXPECT_EQ(value_of(kafka, "ce_specversion"), "1.0");
  EXPECT_EQ(value_of(kafka, "ce_id"), "0190a3c4-0000-7000-8000-000000000001");
  EXPECT_EQ(value_of(kafka, "ce_source"), "/outbox/orders");
  EXPECT_EQ(value_of(kafka, "ce_type"), "order_created");
  EXPECT_EQ(value_of(kafka, "ce_time"), "2026-12-01T10:00:00.000001Z");
  EXPECT_EQ(value_of(kafka, "content-type"), "application/json");
  o.cloudevents_source = "/svc/orders";
  const auto http = envelope_headers(sample(), o, "ce-");
  EXPECT_EQ(value_of(http, "ce-source"), "/svc/orders");
  EXPECT_EQ(value_of(http, "traceparent"), "00-abc-def-01");
}

TEST(EnvelopeCloudEvents, StructuredModeIsOneJsonDocumentWithTheStoredData) {
  Message m = sample();
  m.data_json = R"({"ordernr":42,"big":12345678901234567890})";  // sent as stored, not re-serialised
  const auto j = nlohmann::json::parse(cloudevents_structured(m, {}));
  EXPECT_EQ(j["specversion"], "1.0");
  EXPECT_EQ(j["id"], m.id);
  EXPECT_EQ(j["source"], "/outbox/orders");
  EXPECT_EQ(j["type"], "order_created");
  EXPECT_EQ(j["time"], "2026-12-01T10:00:00.000001Z");
  EXPECT_EQ(j["datacontenttype"], "application/json");
  EXPECT_EQ(j["partitionkey"], "order-42");
  EXPECT_EQ(j["outboxposition"], 17);
  EXPECT_EQ(j["outboxheaders"]["traceparent"], "00-abc-def-01");
  EXPECT_EQ(j["data"]["ordernr"], 42);
  EXPECT_EQ(j["data"]["big"].get<std::uint64_t>(), 12345678901234567890ull);
  m.key.reset();
  m.headers.clear();
  const auto bare = nlohmann::json::parse(cloudevents_structured(m, {}));
  EXPECT_FALSE(bare.contains("partitionkey"));
  EXPECT_FALSE(bare.contains("outboxheaders"));
}
