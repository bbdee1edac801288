// The tests' own receiver (webhook_receiver.hpp), an SQLite outbox to relay from, and the checks
// on what the receiver accepted: every position once, each key's positions rising.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <set>

#include "outbox/relay.hpp"
#include "outbox/webhook.hpp"
#include "sqlite_fixture.hpp"
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

struct Check {
  std::size_t distinct = 0, duplicates = 0, reorders = 0;
  std::int64_t first_missing = 0;
  std::string first_reorder;
};

// Accepted at most once per id (the relay resends only what was not acknowledged, and a refused
// POST is not accepted), every position 1..expected present, each key's positions rising.
inline Check check(const std::vector<nlohmann::json>& messages, std::int64_t expected) {
  Check c;
  std::set<std::string> ids;
  std::set<std::int64_t> positions;
  std::map<std::string, std::int64_t> last_of_key;
  for (const auto& m : messages) {
    if (!ids.insert(m.at("id").get<std::string>()).second) {
      ++c.duplicates;
      continue;
    }
    const std::int64_t p = m.at("position").get<std::int64_t>();
    positions.insert(p);
    const std::string key = m.contains("key") && m["key"].is_string() ? m["key"].get<std::string>() : "";
    auto [it, fresh] = last_of_key.emplace(key, p);
    if (!fresh) {
      if (p < it->second && c.reorders++ == 0) {
        c.first_reorder = "key " + key + ": position " + std::to_string(p) + " after " + std::to_string(it->second);
      }
      it->second = std::max(it->second, p);
    }
  }
  c.distinct = positions.size();
  for (std::int64_t p = 1; p <= expected; ++p) {
    if (!positions.count(p)) {
      c.first_missing = p;
      break;
    }
  }
  return c;
}

class WebhookTest : public testing_sqlite::SqliteTest {
 protected:
  void put_committed(int from, int to, int keys = 5, const char* type = "order_created") {
    testing_sqlite::exec(db, "BEGIN");
    for (int i = from; i <= to; ++i) {
      auto m = testing_sqlite::order_created(i, "order-" + std::to_string(i % keys));
      m.type = type;
      m.headers["traceparent"] = "00-" + std::to_string(i) + "-01";
      orders.put(db, m);
    }
    testing_sqlite::exec(db, "COMMIT");
  }

  outbox::RelayStats relay_all(const std::string& uri_of_sink, int max_attempts = 5) {
    auto store = outbox::open_store(uri());
    auto sink = outbox::open_sink(uri_of_sink);
    outbox::RelayOptions o;
    o.outbox = "orders";
    o.stop_when_idle = true;
    o.max_attempts = max_attempts;
    o.backoff.initial = std::chrono::milliseconds(10);
    o.backoff.max = std::chrono::milliseconds(200);
    outbox::Relay relay(*store, *sink, o);
    relay.run();
    return relay.stats();
  }

  Receiver receiver;
};

}  // namespace testing_webhook
