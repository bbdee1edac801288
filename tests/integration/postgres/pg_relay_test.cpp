// The relay end to end on PostgreSQL (file sink, restarts, a sink that does not acknowledge
// everything) and the `outbox` CLI with a postgresql:// store.
#include <fstream>
#include <set>
#include <thread>

#include "outbox/relay.hpp"
#include "outbox/sink.hpp"
#include "pg_fixture.hpp"

using namespace testing_pg;
using namespace std::chrono_literals;
using testing_support::read_lines;

namespace {

// Acknowledges the first `n` messages it is given and never answers for the rest.
class StallingSink final : public outbox::Sink {
 public:
  explicit StallingSink(int n) : left_(n) {}
  std::string describe() const override { return "stalling"; }

 protected:
  void do_publish(std::span<const outbox::Message> batch) override {
    for (const auto& m : batch) {
      if (left_ > 0) {
        --left_;
        report(m.position, outbox::Outcome::ok);
      }
    }
  }

 private:
  int left_;
};

}  // namespace

class PgRelay : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    char tmpl[] = "/tmp/outbox-pg-relay-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  void put_committed(int from, int to, PGconn* c = nullptr) {
    if (!c) c = *a;
    exec(c, "BEGIN");
    for (int i = from; i <= to; ++i) orders->put(c, order_created(i, "order-" + std::to_string(i % 3)));
    exec(c, "COMMIT");
  }
  outbox::RelayOptions options() {
    outbox::RelayOptions o;
    o.outbox = name;
    o.stop_when_idle = true;
    o.batch_size = 64;
    return o;
  }
  void relay_to(const std::string& file) {
    auto store = outbox::open_store(uri);
    auto sink = outbox::open_sink("file:" + file);
    outbox::Relay(*store, *sink, options()).run();
  }
  std::string dir;
};

// Invariant 4: restarts resume from the checkpoint, a late commit with a lower position is
// delivered by a later run, and everything is delivered exactly once across clean restarts.
TEST_F(PgRelay, ResumesFromTheCheckpointAcrossRestarts) {
  const std::string out = dir + "/out.jsonl";
  put_committed(1, 300);
  Conn late(uri);
  exec(late, "BEGIN");
  orders->put(late, order_created(1000, "late-key"));  // lower position than what follows
  put_committed(301, 450);
  relay_to(out);
  EXPECT_EQ(read_lines(out).size(), 450u);
  exec(late, "COMMIT");
  put_committed(451, 500);
  relay_to(out);
  const auto lines = read_lines(out);
  ASSERT_EQ(lines.size(), 501u);
  std::set<std::int64_t> seen;
  for (const auto& l : lines) EXPECT_TRUE(seen.insert(l["data"]["ordernr"].get<std::int64_t>()).second);
  EXPECT_TRUE(seen.count(1000));
  for (std::size_t i = 0; i < 450; ++i) EXPECT_EQ(lines[i]["data"]["ordernr"], static_cast<std::int64_t>(i + 1));
  EXPECT_EQ(lines[450]["data"]["ordernr"], 1000) << "the late commit comes with the next run, first";
  EXPECT_EQ(outbox::open_store(uri)->status(name).consumers.at(0).lag_messages, 0);
}

// Invariant 4: the saved checkpoint never passes a message the sink did not acknowledge.
TEST_F(PgRelay, CheckpointStopsAtTheFirstUnacknowledgedMessage) {
  put_committed(1, 100);
  {
    auto store = outbox::open_store(uri);
    StallingSink sink(37);
    auto o = options();
    o.stop_when_idle = false;
    o.shutdown_timeout = 200ms;
    outbox::Relay relay(*store, sink, o);
    std::thread stopper([&] {
      std::this_thread::sleep_for(1500ms);
      relay.stop();
    });
    relay.run();
    stopper.join();
    EXPECT_EQ(relay.stats().acknowledged, 37);
    const auto st = store->status(name);
    EXPECT_EQ(st.consumers.at(0).lag_messages, 63);
    EXPECT_EQ(st.consumers.at(0).position, 37);
  }
  const std::string out = dir + "/out.jsonl";
  relay_to(out);
  const auto lines = read_lines(out);
  ASSERT_EQ(lines.size(), 63u);
  EXPECT_EQ(lines.front()["data"]["ordernr"], 38);
  EXPECT_EQ(lines.back()["data"]["ordernr"], 100);
}

// Invariant 7: the CLI's subcommands with a postgresql:// store.
TEST_F(PgRelay, CliWorksWithAPostgresStore) {
  const std::string schemas = dir + "/schemas.json";
  std::ofstream(schemas) << order_schemas_json();
  const std::string store = "--store '" + uri + "' --outbox " + name;
  auto r = cli("init " + store);
  ASSERT_EQ(r.code, 0) << r.output;
  for (int i = 1; i <= 3; ++i) {
    r = cli("put " + store + " --schema " + schemas +
            " --type order_created --data '{\"ordernr\": " + std::to_string(i) + "}' --key order-" + std::to_string(i));
    ASSERT_EQ(r.code, 0) << r.output;
  }
  r = cli("put " + store + " --schema " + schemas + " --type order_created --data '{\"ordernr\": \"x\"}'");
  EXPECT_EQ(r.code, 2) << r.output;
  r = cli("tail " + store + " --from beginning");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"ordernr\":3"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("\"x\""), std::string::npos) << r.output;
  const std::string out = dir + "/out.jsonl";
  r = cli("relay " + store + " --sink file:" + out + " --drain");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_lines(out).size(), 3u);
  r = cli("status --store '" + uri + "' --outbox " + name + " --json");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto json = nlohmann::json::parse(r.output.substr(r.output.find('[')));
  EXPECT_EQ(json.at(0)["count"], 3);
  EXPECT_EQ(json.at(0)["consumers"].at(0)["lag_messages"], 0);
  r = cli("seek " + store + " --consumer default --to beginning");
  ASSERT_EQ(r.code, 0) << r.output;
  r = cli("status --store '" + uri + "' --outbox " + name + " --json");
  EXPECT_EQ(nlohmann::json::parse(r.output.substr(r.output.find('['))).at(0)["consumers"].at(0)["lag_messages"], 3)
      << r.output;
  r = cli("dead-letters " + store);
  EXPECT_EQ(r.code, 0) << r.output;
  // A wrong password-bearing URI fails with exit code 1 and the password redacted.
  r = cli("status --store 'postgresql://postgres:hunter2@127.0.0.1:1/postgres'");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_EQ(r.output.find("hunter2"), std::string::npos) << r.output;
}
