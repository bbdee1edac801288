// GET /healthz and /readyz on `outbox relay --metrics` (issue 13, "run it like a real daemon"), as a
// Kubernetes probe or a systemd watchdog script reads them from the real process: alive while the
// loop turns, ready only while the relay holds its lease and its sink is healthy. A standby names
// itself (and who holds the lease) and turns ready once the holder stops; a failing sink's reason
// is shown without its password.
#include <httplib.h>

#include "cli_fixture.hpp"
#include "http_probe.hpp"

using namespace testing_cli;

namespace {

bool status_is(const Answer& a, int status) { return a.status == status; }

std::string shown(const Answer& a) { return std::to_string(a.status) + " " + a.body; }

}  // namespace

class CliHealth : public CliTest {
 protected:
  std::vector<std::string> relay_argv(int port, const std::string& sink = "null:") {
    return {OUTBOX_CLI, "relay", "--store",     uri(), "--outbox",  "orders",
            "--sink",   sink,    "--lease-ttl", "3",   "--metrics", "127.0.0.1:" + std::to_string(port)};
  }
};

TEST_F(CliHealth, ARunningRelayIsAliveAndReadyAndUnknownPathsAreNotFound) {
  put_committed(1, 10);
  const int port = free_port();
  Process relay(relay_argv(port), dir + "/relay.log");
  auto a = wait_for(port, "/readyz", relay, [](const Answer& a) { return status_is(a, 200); });
  EXPECT_EQ(a.status, 200) << shown(a) << relay.log();
  EXPECT_EQ(a.body, "ok\n");
  a = get(port, "/healthz");
  EXPECT_EQ(a.status, 200) << shown(a);
  EXPECT_EQ(a.body, "ok\n");
  a = get(port, "/nonsense");
  EXPECT_EQ(a.status, 404) << shown(a);
  EXPECT_NE(a.body.find("/readyz"), std::string::npos) << "a 404 says what is served: " << a.body;
  EXPECT_EQ(get(port, "/metrics").status, 200);
  relay.signal(SIGTERM);
  EXPECT_TRUE(exited_with(relay.wait(30s), 0)) << relay.log();
}

TEST_F(CliHealth, AStandbyIsAliveButNotReadyUntilTheHolderStops) {
  put_committed(1, 10);
  const int first_port = free_port();
  Process first(relay_argv(first_port), dir + "/first.log");
  auto a = wait_for(first_port, "/readyz", first, [](const Answer& a) { return status_is(a, 200); });
  ASSERT_EQ(a.status, 200) << shown(a) << first.log();

  const int second_port = free_port();
  Process second(relay_argv(second_port), dir + "/second.log");
  a = wait_for(second_port, "/readyz", second,
               [](const Answer& a) { return a.body.find("standby") != std::string::npos; });
  EXPECT_EQ(a.status, 503) << shown(a) << second.log();
  EXPECT_EQ(a.body.rfind("standby: ", 0), 0u) << a.body;
  EXPECT_NE(a.body.find(owner_of(first.pid())), std::string::npos) << "names the holder: " << a.body;
  EXPECT_NE(a.body.find("orders"), std::string::npos) << "names the outbox: " << a.body;
  EXPECT_EQ(std::count(a.body.begin(), a.body.end(), '\n'), 1) << "one line: " << a.body;
  a = get(second_port, "/healthz");
  EXPECT_EQ(a.status, 200) << "a standby is alive: " << shown(a);

  first.signal(SIGTERM);
  EXPECT_TRUE(exited_with(first.wait(30s), 0)) << first.log();
  a = wait_for(second_port, "/readyz", second, [](const Answer& a) { return status_is(a, 200); });
  EXPECT_EQ(a.status, 200) << "the standby took over: " << shown(a) << second.log();
  second.signal(SIGTERM);
  EXPECT_TRUE(exited_with(second.wait(30s), 0)) << second.log();
}

// A webhook receiver that is not there (a closed port): the relay keeps retrying, stays alive, and
// is not ready, saying why; the URI's password shows in no answer.
TEST_F(CliHealth, AFailingSinkIsNotReadyAndSaysWhy) {
  put_committed(1, 3);
  const int closed_port = free_port();
  const std::string secret = "s3cr3t-pw";
  const int port = free_port();
  Process relay(relay_argv(port, "http://hook:" + secret + "@127.0.0.1:" + std::to_string(closed_port) + "/events"),
                dir + "/relay.log");
  auto a = wait_for(port, "/readyz", relay, [](const Answer& a) { return a.body.find("sink: ") == 0; });
  EXPECT_EQ(a.status, 503) << shown(a) << relay.log();
  EXPECT_EQ(a.body.rfind("sink: ", 0), 0u) << a.body;
  EXPECT_NE(a.body.find("webhook"), std::string::npos) << a.body;
  EXPECT_EQ(a.body.find(secret), std::string::npos) << "the password shows: " << a.body;
  const auto live = get(port, "/healthz");
  EXPECT_EQ(live.status, 200) << "retrying is not stuck: " << shown(live);
  EXPECT_EQ(live.body.find(secret), std::string::npos);
  std::printf("readyz with the receiver down: %s", a.body.c_str());
  relay.signal(SIGTERM);
  EXPECT_TRUE(exited_with(relay.wait(30s), 0)) << relay.log();
}
