// What an operator must see when a real `outbox relay` loses its broker (issue 11: "status and
// /metrics show the sink's health"): `outbox status` names the failing sink in the consumer's
// health, the /metrics endpoint answers outbox_consumer_healthy 0, and neither shows a password of
// the sink's URI; once the broker is back, both turn healthy again and the relay delivers what was
// written meanwhile. Used per sink by the broker tests (Redis, NATS, webhook).
#pragma once

#include <httplib.h>

#include <functional>

#include "relay_signal_checks.hpp"

namespace testing_cli {

// The body of GET /metrics on 127.0.0.1:port, or "" when it does not answer.
inline std::string scrape_metrics(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  auto res = client.Get("/metrics");
  return res && res->status == 200 ? res->body : "";
}

// Polls /metrics until it contains `line` or 30 s passed; returns the last body.
inline std::string wait_for_metric(int port, const std::string& line) {
  std::string body;
  for (int i = 0; i < 600; ++i) {
    body = scrape_metrics(port);
    if (body.find(line) != std::string::npos) break;
    std::this_thread::sleep_for(50ms);
  }
  return body;
}

// `s.sink` must reach a broker that `take_down` stops and `bring_back` starts again; the outbox
// holds `before` committed messages and `write_more` commits messages up to `total` while the
// broker is down. `sink_word` is what the health must mention (e.g. "redis"); `secret`, when not
// empty, is a password in s.sink that must show nowhere.
struct OutageCheck {
  std::function<void()> take_down, bring_back, write_more;
  std::int64_t before = 0, total = 0;
  std::string sink_word, secret;
};

inline void check_outage_shows_in_status_and_metrics(const RelaySetup& s, const OutageCheck& o) {
  const int port = free_port();
  // A lease TTL of 3 s: the relay renews (and records its sink's health) every second.
  const std::vector<std::string> argv = {OUTBOX_CLI,    "relay",  "--store",   s.store,
                                         "--outbox",    s.outbox, "--sink",    s.sink,
                                         "--lease-ttl", "3",      "--metrics", "127.0.0.1:" + std::to_string(port)};
  Process relay(argv, s.dir + "/outage.log");
  const std::string healthy = "outbox_consumer_healthy{outbox=\"" + s.outbox + "\",consumer=\"default\"} ";
  auto c = wait_for_status(
      s.store, s.outbox, [&](const nlohmann::json& c) { return c["position"] == o.before && c["health"] == "ok"; },
      60s);
  ASSERT_EQ(c["position"], o.before) << "the relay did not deliver what was there: " << c.dump() << "\n" << relay.log();
  auto body = wait_for_metric(port, healthy + "1\n");
  EXPECT_NE(body.find(healthy + "1\n"), std::string::npos) << "healthy before the outage:\n" << body;

  o.take_down();
  o.write_more();  // the relay now has something to publish, and fails
  c = wait_for_status(
      s.store, s.outbox,
      [&](const nlohmann::json& c) {
        return c["health"].is_string() && c["health"].get<std::string>().find(o.sink_word) != std::string::npos;
      },
      30s);
  const std::string health = c["health"].is_string() ? c["health"].get<std::string>() : c.dump();
  EXPECT_NE(health.find(o.sink_word), std::string::npos) << "status did not show the outage: " << c.dump() << "\n"
                                                         << relay.log();
  std::printf("status health during the outage: %s\n", health.c_str());
  body = wait_for_metric(port, healthy + "0\n");
  EXPECT_NE(body.find(healthy + "0\n"), std::string::npos) << "/metrics did not show the outage:\n" << body;
  if (!o.secret.empty()) {
    EXPECT_EQ(health.find(o.secret), std::string::npos) << "status shows the sink's password: " << health;
    EXPECT_EQ(body.find(o.secret), std::string::npos) << "/metrics shows the sink's password";
    EXPECT_EQ(relay.log().find(o.secret), std::string::npos) << "the log shows the sink's password";
  }

  o.bring_back();
  c = wait_for_status(
      s.store, s.outbox, [&](const nlohmann::json& c) { return c["position"] == o.total && c["health"] == "ok"; }, 60s);
  EXPECT_EQ(c["position"], o.total) << "the relay did not catch up after the outage: " << c.dump() << "\n"
                                    << relay.log();
  EXPECT_EQ(c["health"], "ok") << c.dump();
  body = wait_for_metric(port, healthy + "1\n");
  EXPECT_NE(body.find(healthy + "1\n"), std::string::npos) << "healthy again after the outage:\n" << body;

  relay.signal(SIGTERM);
  const auto status = relay.wait(60s);
  EXPECT_TRUE(exited_with(status, 0)) << describe(status) << "\n" << relay.log();
}

}  // namespace testing_cli
