// What SIGTERM must do to a real `outbox relay` whatever its sink (issue 10, items 2 and 11):
// exit 0, the checkpoint of what was delivered saved, the lease released so that a standby takes
// over at once instead of after the lease TTL. Used per sink by the CLI tests (stdout, file, null)
// and the Kafka tests.
#pragma once

#include "relay_process.hpp"

namespace testing_cli {

struct RelaySetup {
  std::string store;    // store URI
  std::string db_path;  // the SQLite file the relay opens (to catch it starting)
  std::string outbox = "orders";
  std::string sink;
  std::string dir;  // for logs and the stdout sink's output
};

inline std::vector<std::string> relay_argv(const RelaySetup& s, std::vector<std::string> extra = {}) {
  // A long lease TTL: a standby that took over within seconds did so because the lease was released.
  std::vector<std::string> argv = {OUTBOX_CLI, "relay",  "--store", s.store,       "--outbox",
                                   s.outbox,   "--sink", s.sink,    "--lease-ttl", "120"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// A relay delivers `expected` messages, a standby waits, SIGTERM to the first: exit 0, checkpoint
// at `expected`, and the standby holds the lease well within the TTL; then it stops the same way.
inline void check_sigterm_stops_in_order(const RelaySetup& s, std::int64_t expected) {
  const int out = open((s.dir + "/stdout.jsonl").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  Process first(relay_argv(s), s.dir + "/first.log", out);
  auto c = wait_for_status(
      s.store, s.outbox,
      [&](const nlohmann::json& c) { return c["position"] == expected && c["lease_active"] == true; }, 60s);
  ASSERT_EQ(c["position"], expected) << "the relay did not deliver everything: " << c.dump() << "\n" << first.log();

  Process standby(relay_argv(s), s.dir + "/standby.log", out);
  ASSERT_TRUE(standby.wait_for_log("waiting as a standby", 30s)) << standby.log();

  first.signal(SIGTERM);
  const auto status = first.wait(60s);
  close(out);
  ASSERT_TRUE(exited_with(status, 0)) << "SIGTERM to relay with sink " << s.sink << ": " << describe(status) << "\n"
                                      << testing_support::tail_of(first.log());
  EXPECT_NE(first.log().find("relay stopped"), std::string::npos) << first.log();

  // Released, not expired: the standby polls about once a second; the TTL is 120 s.
  c = wait_for_status(
      s.store, s.outbox,
      [&](const nlohmann::json& c) { return c["owner"] == owner_of(standby.pid()) && c["lease_active"] == true; }, 20s);
  EXPECT_EQ(c["owner"], owner_of(standby.pid())) << "the standby did not take over: " << c.dump() << "\n"
                                                 << standby.log();
  EXPECT_EQ(c["position"], expected) << "the checkpoint was not saved on SIGTERM: " << c.dump();

  standby.signal(SIGTERM);
  const auto standby_status = standby.wait(60s);
  EXPECT_TRUE(exited_with(standby_status, 0)) << describe(standby_status) << "\n" << standby.log();
  c = consumer_status(s.store, s.outbox);
  EXPECT_EQ(c["lease_active"], false) << c.dump();
  EXPECT_EQ(c["position"], expected) << c.dump();
}

// SIGTERM as early as a relay can get it: the moment it has opened its store (long before it runs),
// several times. Each time: exit 0 and no lease left behind.
inline void check_sigterm_at_start(const RelaySetup& s, int repeats) {
  for (int i = 0; i < repeats; ++i) {
    const int out = open((s.dir + "/stdout.jsonl").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    Process relay(relay_argv(s), s.dir + "/start.log", out);
    close(out);
    ASSERT_TRUE(relay.wait_until_open(s.db_path, 30s)) << "the relay never opened " << s.db_path << "\n" << relay.log();
    relay.signal(SIGTERM);
    const auto status = relay.wait(60s);
    ASSERT_TRUE(exited_with(status, 0)) << "SIGTERM right after start (try " << i + 1 << ") to relay with sink "
                                        << s.sink << ": " << describe(status) << "\n"
                                        << testing_support::tail_of(relay.log());
    const auto c = consumer_status(s.store, s.outbox);
    EXPECT_TRUE(c.is_null() || c["lease_active"] == false) << "lease left behind: " << c.dump();
  }
}

}  // namespace testing_cli
