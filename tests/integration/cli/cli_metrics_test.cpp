// `outbox relay --metrics HOST:PORT` as Prometheus and the network treat it (issue 10, items 6, 10
// and 14): scrapes in flight while the relay stops, clients that never finish their request, a
// freshly started relay on an idle outbox, and the HOST:PORT syntax.
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>

#include "cli_fixture.hpp"

using namespace testing_cli;

namespace {

std::string metrics_address(int port) { return "127.0.0.1:" + std::to_string(port); }

// Waits until the metrics endpoint answers 200; returns the body ("" if it never did).
// The first answer that contains `expected` ("" for any answer): the store figures come from a
// reading taken in the background (at most about a second old), so a test waits for the one it
// expects. Returns the last answer seen (or "") when none contains it within 30 s.
std::string first_scrape(const std::string& host, int port, Process& relay, const std::string& expected = "") {
  httplib::Client client(host, port);
  client.set_read_timeout(10, 0);
  std::string last;
  for (int i = 0; i < 600 && relay.running(); ++i) {
    if (auto res = client.Get("/metrics"); res && res->status == 200) {
      if (res->body.find(expected) != std::string::npos) return res->body;
      last = res->body;
    }
    std::this_thread::sleep_for(50ms);
  }
  return last;
}

int connect_to(int port) {
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(s);
    return -1;
  }
  return s;
}

// Whether this machine has ::1 (some containers run without IPv6).
bool ipv6_loopback() {
  const int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool ok = bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(s);
  return ok;
}

}  // namespace

class CliMetrics : public CliTest {
 protected:
  std::vector<std::string> relay_argv(const std::string& address) {
    return {OUTBOX_CLI, "relay", "--store", uri(), "--outbox", "orders", "--sink", "null:", "--metrics", address};
  }
};

// Item 6: the metrics server read the store connection and the relay after they were destroyed
// (heap-use-after-free under AddressSanitizer; a release build answered 503 "bad parameter or other
// API misuse", SQLite called on a freed handle). Scrapes run back to back while SIGTERM stops it.
TEST_F(CliMetrics, ScrapesInFlightWhileTheRelayStopsAreSafe) {
  // A big outbox makes each scrape's status query take a while, so one is in flight at the stop.
  for (int from = 1; from <= 60000; from += 20000) put_committed(from, from + 19999);
  for (int round = 0; round < 3; ++round) {
    const int port = free_port();
    Process relay(relay_argv(metrics_address(port)), dir + "/relay.log");
    ASSERT_FALSE(first_scrape("127.0.0.1", port, relay).empty()) << relay.log();

    std::atomic<bool> done{false};
    std::mutex mutex;
    std::vector<std::string> bad;  // answers other than 200 or the explicit "stopping"
    std::vector<std::thread> scrapers;
    for (int t = 0; t < 3; ++t) {
      scrapers.emplace_back([&] {
        httplib::Client client("127.0.0.1", port);
        client.set_read_timeout(10, 0);
        while (!done) {
          auto res = client.Get("/metrics");
          if (!res || res->status == 200) continue;  // refused or reset once stopped: fine
          if (res->status == 503 && res->body.find("stopping") != std::string::npos) continue;
          std::lock_guard lock(mutex);
          bad.push_back(std::to_string(res->status) + " " + res->body);
        }
      });
    }
    std::this_thread::sleep_for(300ms);
    relay.signal(SIGTERM);
    const auto status = relay.wait(60s);
    done = true;
    for (auto& t : scrapers) t.join();
    ASSERT_TRUE(exited_with(status, 0)) << "round " << round << ": " << describe(status) << "\n"
                                        << testing_support::tail_of(relay.log());
    EXPECT_TRUE(bad.empty()) << "round " << round << ": " << bad.size() << " bad answers, first: " << bad.front();
  }
}

// Item 10: cpp-httplib's server joins its workers on stop, and a worker waits for a client that
// trickles its request a byte at a time for as long as it trickles: SIGTERM never ended the relay.
TEST_F(CliMetrics, ClientsThatNeverFinishTheirRequestDoNotHoldUpTheStop) {
  const int port = free_port();
  Process relay(relay_argv(metrics_address(port)), dir + "/relay.log");
  ASSERT_FALSE(first_scrape("127.0.0.1", port, relay).empty()) << relay.log();

  const int silent = connect_to(port);   // connects, sends nothing
  const int half = connect_to(port);     // half a request, then silence
  const int trickle = connect_to(port);  // a byte every 100 ms, for ever
  ASSERT_GE(silent, 0);
  ASSERT_GE(half, 0);
  ASSERT_GE(trickle, 0);
  const std::string partial = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
  ASSERT_EQ(send(half, partial.data(), partial.size(), MSG_NOSIGNAL), static_cast<ssize_t>(partial.size()));
  std::atomic<bool> done{false};
  std::thread trickler([&] {
    const std::string start = "GET /metrics?";
    send(trickle, start.data(), start.size(), MSG_NOSIGNAL);
    while (!done && send(trickle, "a", 1, MSG_NOSIGNAL) == 1) std::this_thread::sleep_for(100ms);
  });
  std::this_thread::sleep_for(300ms);

  relay.signal(SIGTERM);
  const auto status = relay.wait(30s);
  done = true;
  trickler.join();
  for (int s : {silent, half, trickle}) close(s);
  EXPECT_TRUE(exited_with(status, 0)) << describe(status) << "\n" << testing_support::tail_of(relay.log());
}

// Item 14: a relay reports "starting" when it takes the lease and its health next at a lease
// renewal (TTL / 3 = 10 s); on an idle outbox nothing else is saved, so the gauge read 0 until then.
TEST_F(CliMetrics, ANewRelayOnAnIdleOutboxIsHealthyAtOnce) {
  const int port = free_port();
  Process relay(relay_argv(metrics_address(port)), dir + "/relay.log");
  const auto c = wait_for_status(
      uri(), "orders", [](const nlohmann::json& c) { return c["lease_active"] == true; }, 30s);
  ASSERT_EQ(c["lease_active"], true) << c.dump() << relay.log();
  const std::string body =
      first_scrape("127.0.0.1", port, relay, "outbox_consumer_healthy{outbox=\"orders\",consumer=\"default\"} 1\n");
  EXPECT_NE(body.find("outbox_consumer_healthy{outbox=\"orders\",consumer=\"default\"} 1\n"), std::string::npos)
      << body;
  relay.signal(SIGTERM);
  EXPECT_TRUE(exited_with(relay.wait(30s), 0)) << relay.log();
  // Stopped: no relay runs for the consumer any more.
  EXPECT_EQ(consumer_status(uri(), "orders")["lease_active"], false);
}

// Item 14: HOST:PORT is parsed strictly (exit 2 naming the value), and IPv6 goes in brackets.
TEST_F(CliMetrics, AddressIsHostColonPortWithIpv6InBrackets) {
  for (const char* bad :
       {"127.0.0.1:9464junk", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:", "127.0.0.1", ":9464", "::1:9464", "[::1]",
        "[::1]9464", "[nonsense]:9464", "127.0.0.1:+94", "127.0.0.1: 9464", "host name:9464"}) {
    // --drain: were the value accepted, the relay would end by itself instead of hanging the test.
    const auto r = testing_support::cli("relay --store " + uri() + " --outbox orders --sink null: --drain --metrics '" +
                                        bad + "'");
    EXPECT_EQ(r.code, 2) << bad << ": " << r.output;
    EXPECT_NE(r.output.find("--metrics takes PORT (on 127.0.0.1) or HOST:PORT"), std::string::npos)
        << bad << ": " << r.output;
  }
  if (!ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback here: the [::1] listener is not tried";
  const int port = free_port();
  Process relay(relay_argv("[::1]:" + std::to_string(port)), dir + "/relay.log");
  const std::string body = first_scrape("::1", port, relay);
  EXPECT_NE(body.find("outbox_messages{outbox=\"orders\"} 0"), std::string::npos) << body << relay.log();
  relay.signal(SIGTERM);
  EXPECT_TRUE(exited_with(relay.wait(30s), 0)) << relay.log();
}
