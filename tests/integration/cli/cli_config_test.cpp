// `outbox relay --config FILE` and the OUTBOX_* environment (issue 13, "run it like a real daemon"),
// through the real process: several [[relay]] entries relay their outboxes side by side, each with
// its own lease and checkpoint; one whose sink cannot work does not stop the others and /readyz
// names it; SIGTERM stops them all in order; /metrics labels each; a store given only by
// OUTBOX_STORE works; `outbox config --print` hides passwords; --metrics takes a bare port.
#include <httplib.h>
#include <stdlib.h>

#include <fstream>
#include <set>
#include <sstream>

#include "cli_fixture.hpp"
#include "http_probe.hpp"

using namespace testing_cli;

namespace {

// Sets an environment variable for the processes this test starts, and unsets it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

}  // namespace

class CliConfig : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    payments.init(db);
  }
  void put_payments(int from, int to) {
    testing_sqlite::exec(db, "BEGIN");
    for (int i = from; i <= to; ++i) payments.put(db, testing_sqlite::order_created(i, "p-" + std::to_string(i)));
    testing_sqlite::exec(db, "COMMIT");
  }
  std::string write_config(const std::string& text) {
    const std::string p = dir + "/relay.toml";
    std::ofstream(p) << text;
    return p;
  }
  // Two entries: orders -> orders.jsonl, payments -> `payments_sink`; `extra` goes at the top.
  std::string two_entries(const std::string& payments_sink, const std::string& extra = "") {
    return write_config("store = \"" + uri() + "\"\nlease_ttl = 3\n" + extra + "\n[[relay]]\noutbox = \"orders\"\n" +
                        "sink = \"file:" + dir + "/orders.jsonl\"\n\n[[relay]]\noutbox = \"payments\"\n" + "sink = \"" +
                        payments_sink + "\"\n");
  }
  // Waits (60 s at most, less if the relay ended) until the outbox's default consumer is at `position`.
  bool delivered(const std::string& outbox, std::int64_t position, Process& relay) {
    const auto c = wait_for_status(
        uri(), outbox, [&](const nlohmann::json& c) { return c["position"] == position || !relay.running(); }, 60s);
    return !c.is_null() && c["position"] == position;
  }

  outbox::sqlite::Outbox payments{"payments", testing_sqlite::order_schemas()};
};

TEST_F(CliConfig, TwoEntriesDeliverBothAndSigtermStopsBothInOrder) {
  put_committed(1, 20);
  put_payments(1, 5);
  const int port = free_port();
  const auto config = two_entries("file:" + dir + "/payments.jsonl", "metrics = \"" + std::to_string(port) + "\"");
  Process relay({OUTBOX_CLI, "relay", "--config", config}, dir + "/relay.log");
  EXPECT_TRUE(delivered("orders", 20, relay)) << relay.log();
  EXPECT_TRUE(delivered("payments", 5, relay)) << relay.log();
  put_payments(6, 8);  // it keeps running: later commits go out too
  EXPECT_TRUE(delivered("payments", 8, relay)) << relay.log();

  const auto ready = wait_for(port, "/readyz", relay, [](const Answer& a) { return a.status == 200; });
  EXPECT_EQ(ready.status, 200) << ready.body << relay.log();
  const auto metrics = get(port, "/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics.body;
  for (const char* line : {"outbox_relay_acknowledged_total{outbox=\"orders\",consumer=\"default\"} 20\n",
                           "outbox_relay_acknowledged_total{outbox=\"payments\",consumer=\"default\"} 8\n",
                           "outbox_messages{outbox=\"payments\"}"}) {
    EXPECT_NE(metrics.body.find(line), std::string::npos) << line << " missing:\n" << metrics.body;
  }
  // Valid Prometheus text: each family's HELP and TYPE once, however many relays.
  std::set<std::string> comments;
  std::istringstream lines(metrics.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("#")) EXPECT_TRUE(comments.insert(line).second) << "written twice: " << line;
  }

  relay.signal(SIGTERM);
  const auto status = relay.wait(30s);
  EXPECT_TRUE(exited_with(status, 0)) << describe(status) << relay.log();
  for (const char* outbox : {"orders", "payments"}) {
    const auto c = consumer_status(uri(), outbox);
    EXPECT_EQ(c["lease_active"], false) << outbox << ": its lease is released: " << c.dump();
  }
  EXPECT_EQ(testing_support::read_lines(dir + "/orders.jsonl").size(), 20u);
  EXPECT_EQ(testing_support::read_lines(dir + "/payments.jsonl").size(), 8u);
}

TEST_F(CliConfig, OneEntryWhoseSinkCannotWorkDoesNotStopTheOther) {
  put_committed(1, 10);
  put_payments(1, 3);
  const int port = free_port();
  // The folder of the payments file does not exist: that sink cannot open.
  const auto config = two_entries("file:" + dir + "/no-such-folder/payments.jsonl",
                                  "metrics = \"127.0.0.1:" + std::to_string(port) + "\"");
  Process relay({OUTBOX_CLI, "relay", "--config", config}, dir + "/relay.log");
  EXPECT_TRUE(delivered("orders", 10, relay)) << relay.log();
  put_committed(11, 15);
  EXPECT_TRUE(delivered("orders", 15, relay)) << relay.log();

  const auto ready = wait_for(port, "/readyz", relay, [](const Answer& a) {
    return a.status == 503 && a.body.find("payments/default: failed") != std::string::npos;
  });
  EXPECT_EQ(ready.status, 503) << ready.body << relay.log();
  EXPECT_NE(ready.body.find("payments/default: failed: "), std::string::npos) << ready.body;
  EXPECT_NE(ready.body.find("no-such-folder"), std::string::npos) << "says why: " << ready.body;
  EXPECT_EQ(ready.body.find("orders/"), std::string::npos) << "the working relay is not listed: " << ready.body;
  const auto live = get(port, "/healthz");
  EXPECT_EQ(live.status, 200) << "waiting to restart is not stuck: " << live.body;
  // It is retried, not given up.
  EXPECT_TRUE(relay.wait_for_log("restarts in 2 s", 30s)) << relay.log();

  relay.signal(SIGTERM);
  const auto status = relay.wait(30s);
  EXPECT_TRUE(exited_with(status, 0)) << describe(status) << relay.log();
  EXPECT_EQ(consumer_status(uri(), "orders")["lease_active"], false);
}

TEST_F(CliConfig, DrainWithSeveralEntriesExitsWhenAllDrained) {
  put_committed(1, 12);
  put_payments(1, 7);
  const auto config = two_entries("file:" + dir + "/payments.jsonl", "drain = true");
  Process relay({OUTBOX_CLI, "relay", "--config", config}, dir + "/relay.log");
  const auto status = relay.wait(60s);
  EXPECT_TRUE(exited_with(status, 0)) << describe(status) << relay.log();
  EXPECT_EQ(testing_support::read_lines(dir + "/orders.jsonl").size(), 12u);
  EXPECT_EQ(testing_support::read_lines(dir + "/payments.jsonl").size(), 7u);
}

TEST_F(CliConfig, DrainEndsWithAnErrorWhenAnEntryFails) {
  put_committed(1, 4);
  const auto config = two_entries("file:" + dir + "/no-such-folder/payments.jsonl", "drain = true");
  Process relay({OUTBOX_CLI, "relay", "--config", config}, dir + "/relay.log");
  const auto status = relay.wait(60s);
  EXPECT_TRUE(exited_with(status, 1)) << describe(status) << relay.log();
  EXPECT_EQ(testing_support::read_lines(dir + "/orders.jsonl").size(), 4u) << "the other one drained";
  EXPECT_NE(relay.log().find("1 of 2 relays failed"), std::string::npos) << relay.log();
}

TEST_F(CliConfig, StoreGivenOnlyByTheEnvironment) {
  put_committed(1, 6);
  {
    ScopedEnv store("OUTBOX_STORE", uri());
    const auto r = testing_support::cli("relay --outbox orders --sink file:" + dir + "/out.jsonl --drain");
    EXPECT_EQ(r.code, 0) << r.output;
  }
  EXPECT_EQ(testing_support::read_lines(dir + "/out.jsonl").size(), 6u);
  // Without it, the error names every way to give the store.
  const auto r = testing_support::cli("relay --outbox orders --sink null: --drain");
  EXPECT_EQ(r.code, 2) << r.output;
  for (const char* way : {"--store", "OUTBOX_STORE", "--config"})
    EXPECT_NE(r.output.find(way), std::string::npos) << way << ": " << r.output;
}

TEST_F(CliConfig, BadEnvironmentValueIsRefusedNamingTheVariable) {
  ScopedEnv bad("OUTBOX_BATCH_SIZE", "lots");
  const auto r = testing_support::cli("relay --store " + uri() + " --outbox orders --sink null: --drain");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("OUTBOX_BATCH_SIZE"), std::string::npos) << r.output;
}

TEST_F(CliConfig, UnknownKeyInTheFileIsRefusedWithItsLine) {
  const auto config =
      write_config("store = \"" + uri() + "\"\noutbox = \"orders\"\nsink = \"null:\"\nbtach_size = 5\n");
  const auto r = testing_support::cli("relay --drain --config " + config);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(config + ":4: unknown key 'btach_size'"), std::string::npos) << r.output;
}

TEST_F(CliConfig, ConfigPrintRedactsAPostgresPassword) {
  ScopedEnv store("OUTBOX_STORE", "postgresql://relay:s3cr3t-pw@127.0.0.1:5432/app");
  const auto r = testing_support::cli("config --print --outbox orders --sink null: -X sasl.password=hunter2");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("s3cr3t-pw"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("hunter2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("postgresql://relay:***@127.0.0.1:5432/app"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("outbox = 'orders'"), std::string::npos) << r.output;
  // The same checks as the relay's.
  const auto bad = testing_support::cli("config --print --outbox orders --sink null: --lease-ttl 0");
  EXPECT_EQ(bad.code, 2) << bad.output;
}

TEST_F(CliConfig, MetricsTakesABarePortOnLoopback) {
  put_committed(1, 3);
  const int port = free_port();
  Process relay({OUTBOX_CLI, "relay", "--store", uri(), "--outbox", "orders", "--sink", "null:", "--metrics",
                 std::to_string(port)},
                dir + "/relay.log");
  const auto a = wait_for(port, "/metrics", relay, [](const Answer& a) { return a.status == 200; });
  EXPECT_EQ(a.status, 200) << a.body << relay.log();
  EXPECT_NE(a.body.find("outbox_messages{outbox=\"orders\"}"), std::string::npos) << a.body;
  EXPECT_NE(relay.log().find("http://127.0.0.1:" + std::to_string(port)), std::string::npos) << relay.log();
  relay.signal(SIGTERM);
  EXPECT_TRUE(exited_with(relay.wait(30s), 0)) << relay.log();
}

// The example shipped in deploy/ is a file the relay accepts.
TEST_F(CliConfig, DeployExampleIsAccepted) {
  const auto r = testing_support::cli("config --print --config " OUTBOX_SOURCE_DIR "/deploy/relay.toml");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("[[relay]]"), std::string::npos) << r.output;
}
