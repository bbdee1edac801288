// The tests' own receiver (webhook_receiver.hpp), an SQLite outbox to relay from, and the checks
// on what the receiver accepted: every position once, each key's positions rising.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <set>

#include "delivery_check.hpp"
#include "outbox/relay.hpp"
#include "outbox/webhook.hpp"
#include "sink_test.hpp"
#include "webhook_receiver.hpp"

namespace testing_webhook {

// The messages of the accepted requests, in arrival order (arrays split into their messages).
inline std::vector<nlohmann::json> messages_of(const std::vector<Request>& requests) {
  std::vector<nlohmann::json> out;
  for (const auto& r : requests) {
    auto j = nlohmann::json::parse(r.body);
    if (j.is_array()) {
      for (auto& m : j) out.push_back(std::move(m));
    } else {
      out.push_back(std::move(j));
    }
  }
  return out;
}

using testing_support::Check;

// What a consumer that drops duplicates by id sees (tests/support/delivery_check.hpp).
inline Check check(const std::vector<nlohmann::json>& messages, std::int64_t expected) {
  std::vector<testing_support::Delivered> delivered;
  for (const auto& m : messages)
    delivered.push_back({m.at("id").get<std::string>(), m.at("position").get<std::int64_t>(),
                         m.contains("key") && m["key"].is_string() ? m["key"].get<std::string>() : ""});
  return testing_support::check_delivery(delivered, expected);
}

class WebhookTest : public testing_sqlite::SinkTest {
 protected:
  // Retries within a test's patience: a receiver that refuses for a while is the usual case here.
  WebhookTest() { backoff_max = std::chrono::milliseconds(200); }

  Receiver receiver;
};

}  // namespace testing_webhook
