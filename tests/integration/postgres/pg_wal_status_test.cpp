// WAL mode: what an operator watches (docs/postgres.md, "A slot nobody reads keeps WAL forever"),
// through the real processes: `outbox status` (text and --json) and a scrape of the /metrics of
// `outbox relay --metrics` show, per consumer, the WAL its replication slot retains, how many
// committed messages it has not passed and the age of the oldest of them; and they come back to 0
// once a relay delivered everything.
#include <httplib.h>

#include <regex>
#include <thread>

#include "pg_wal_fixture.hpp"
#include "relay_process.hpp"

using namespace testing_pg;
using namespace std::chrono_literals;

namespace {

// The value of the sample `family{labels}` in a Prometheus text page, or nullopt.
std::optional<double> sample(const std::string& page, const std::string& family, const std::string& labels) {
  const std::string start = family + "{" + labels + "} ";
  const auto at = page.find(start);
  if (at == std::string::npos) return std::nullopt;
  return std::stod(page.substr(at + start.size()));
}

nlohmann::json consumer_json(const std::string& status_output, const std::string& consumer) {
  const auto j = nlohmann::json::parse(status_output.substr(status_output.find('[')));
  for (const auto& c : j[0]["consumers"]) {
    if (c["name"] == consumer) return c;
  }
  return {};
}

}  // namespace

TEST_F(WalTest, StatusAndMetricsShowTheUnpublishedMessagesTheirAgeAndTheRetainedWal) {
  char tmpl[] = "/tmp/outbox-pg-wal-status-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  // Two consumers; "audit" is up to date, "default" has read nothing yet.
  const testing_support::Run audit_first = cli("relay --store '" + uri + "' --outbox " + name +
                                               " --consumer audit --sink file:" + dir + "/audit.jsonl --drain");
  ASSERT_EQ(audit_first.code, 0) << audit_first.output;

  put_committed(1, 2);
  put_committed(3, 5);
  exec(*a, "BEGIN");  // rolled back: not a message anybody has to publish
  orders->put(*a, order_created(99));
  exec(*a, "ROLLBACK");
  // The oldest unpublished message is at least this old; the bound is a floor, never a deadline.
  std::this_thread::sleep_for(1100ms);

  {
    const testing_support::Run r = cli("status --json --store '" + uri + "' --outbox " + name);
    ASSERT_EQ(r.code, 0) << r.output;
    const auto d = consumer_json(r.output, "default");
    ASSERT_FALSE(d.is_null()) << r.output;
    EXPECT_EQ(d["lag_messages"], 5) << r.output;
    EXPECT_GE(d["lag_seconds"].get<double>(), 1.0) << r.output;
    EXPECT_LT(d["lag_seconds"].get<double>(), 600.0) << "the age of a message put seconds ago: " << r.output;
    EXPECT_FALSE(d.contains("lag_messages_at_least")) << r.output;
    EXPECT_GT(d["retained_wal_bytes"].get<std::int64_t>(), 0) << r.output;
    const auto audit = consumer_json(r.output, "audit");
    ASSERT_FALSE(audit.is_null()) << r.output;
    EXPECT_EQ(audit["lag_messages"], 5) << "audit passed nothing since: " << r.output;
  }
  {
    const testing_support::Run r = cli("status --store '" + uri + "' --outbox " + name);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex("consumer default: checkpoint [^,]*, lag 5 messages \\([1-9]")))
        << r.output;
    EXPECT_NE(r.output.find("replication slot retains "), std::string::npos) << r.output;
  }

  // "audit"'s relay runs with --metrics: its scrape shows both consumers, "default" still lagging
  // and "audit" back at 0 once it delivered the five.
  const int port = testing_cli::free_port();
  testing_cli::Process relay({OUTBOX_CLI, "relay", "--store", uri, "--outbox", name, "--consumer", "audit", "--sink",
                              "file:" + dir + "/audit.jsonl", "--metrics", "127.0.0.1:" + std::to_string(port)},
                             dir + "/relay.log");
  const std::string d = "outbox=\"" + name + "\",consumer=\"default\"";
  const std::string au = "outbox=\"" + name + "\",consumer=\"audit\"";
  std::string page;
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  for (int i = 0; i < 600 && relay.running(); ++i) {  // the reading behind /metrics is taken in the background
    if (auto res = client.Get("/metrics"); res && res->status == 200) {
      page = res->body;
      if (sample(page, "outbox_consumer_lag_messages", au) == 0.0) break;
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(sample(page, "outbox_consumer_lag_messages", au), 0.0) << page << relay.log();
  EXPECT_EQ(sample(page, "outbox_consumer_lag_seconds", au), 0.0) << page;
  EXPECT_EQ(sample(page, "outbox_consumer_lag_messages", d), 5.0) << page;
  EXPECT_GE(sample(page, "outbox_consumer_lag_seconds", d).value_or(0), 1.0) << page;
  EXPECT_GT(sample(page, "outbox_consumer_retained_wal_bytes", d).value_or(0), 0.0) << page;
  EXPECT_TRUE(sample(page, "outbox_consumer_retained_wal_bytes", au).has_value()) << page;
  relay.signal(SIGTERM);
  const auto stopped = relay.wait(30s);
  ASSERT_TRUE(stopped && WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0) << relay.log();
  EXPECT_EQ(testing_support::read_lines(dir + "/audit.jsonl").size(), 5u);

  // "default" delivers too: its lag is back at 0.
  const testing_support::Run drained =
      cli("relay --store '" + uri + "' --outbox " + name + " --sink file:" + dir + "/default.jsonl --drain");
  ASSERT_EQ(drained.code, 0) << drained.output;
  const testing_support::Run r = cli("status --json --store '" + uri + "' --outbox " + name);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(consumer_json(r.output, "default")["lag_messages"], 0) << r.output;
  EXPECT_EQ(consumer_json(r.output, "default")["lag_seconds"], 0.0) << r.output;
  std::filesystem::remove_all(dir);
}

// A consumer stopped inside a transaction (checkpoint "pgwal:X/Y+N") lags by the rest of it only.
TEST_F(WalTest, StatusCountsOnlyWhatTheCheckpointHasNotPassedInsideATransaction) {
  put_committed(1, 4);
  auto store = outbox::open_store(uri);
  std::string mid;
  {
    auto tail = store->tail(name, outbox::Cursor::beginning());
    const auto got = drain(*tail, 4);
    ASSERT_EQ(got.size(), 4u);
    mid = got[0].checkpoint;  // one of the transaction's four
  }
  ASSERT_NE(mid.find('+'), std::string::npos) << mid;
  ASSERT_FALSE(store->acquire({name, "default", "test-relay"}, 30s).has_value());
  store->save_checkpoint({name, "default", "test-relay"}, mid, 30s, "ok");
  store->release({name, "default", "test-relay"});
  const auto st = store->status(name);
  ASSERT_EQ(st.consumers.size(), 1u);
  EXPECT_EQ(st.consumers[0].lag_messages, 3);
  EXPECT_GT(st.consumers[0].lag_seconds, 0.0);
}
