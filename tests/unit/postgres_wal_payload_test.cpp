// The payload a WAL-mode put emits (src/store/postgres/wal_layout.cpp): a JSON header line, then the
// data's text. The header is written by hand for speed; it must be the same bytes that
// nlohmann::json::dump() gives the same header object (how it was first written), whatever the
// strings hold, and decode back to the message.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "store/postgres/wal_layout.hpp"

namespace {

using outbox::Message;

// The header as first written: a JSON object, dumped.
std::string dumped_header(const Message& m) {
  nlohmann::json h = {{"v", 1}, {"id", m.id}, {"type", m.type}, {"created_us", m.created.time_since_epoch().count()}};
  if (m.key) h["key"] = *m.key;
  if (!m.headers.empty()) h["headers"] = m.headers;
  return h.dump();
}

Message message(std::optional<std::string> key, outbox::Headers headers) {
  Message m;
  m.id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
  m.type = "order_created";
  m.key = std::move(key);
  m.headers = std::move(headers);
  m.created = outbox::Timestamp(std::chrono::microseconds(1764770000123456));
  return m;
}

}  // namespace

TEST(PostgresWalPayload, TheHeaderIsTheBytesDumpWritesAndDecodesBack) {
  const std::string data = R"({"ordernr":42,"note":"caf\u00e9"})";
  const std::vector<Message> cases = {
      message(std::nullopt, {}),
      message("order-42", {}),
      message("quote \" backslash \\ tab \t newline \n bell \x07 del \x7f \xc3\xa9 \xe2\x98\x83", {}),
      message(std::nullopt, {{"traceparent", "00-abc-def-01"}, {"b", ""}, {"a\"", "\x01\xf0\x9f\x98\x80"}}),
      message("k", {{"z", "last"}, {"a", "first"}}),
  };
  for (const Message& m : cases) {
    const std::string payload = outbox::postgres::detail::encode_payload(m, data);
    EXPECT_EQ(payload, dumped_header(m) + "\n" + data);
    const Message back = outbox::postgres::detail::decode_payload(payload, "orders", true);
    EXPECT_EQ(back.id, m.id);
    EXPECT_EQ(back.type, m.type);
    EXPECT_EQ(back.key, m.key);
    EXPECT_EQ(back.headers, m.headers);
    EXPECT_EQ(back.created, m.created);
    EXPECT_EQ(back.data_json, data);
  }
}
