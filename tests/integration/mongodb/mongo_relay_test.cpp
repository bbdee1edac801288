// The relay end to end on FerretDB (file sink, restarts) and every `outbox` subcommand with a
// mongodb:// store, in poll and capped mode.
#include <set>

#include "mongo_fixture.hpp"
#include "outbox/relay.hpp"
#include "outbox/sink.hpp"

using namespace testing_mongo;
using namespace std::chrono_literals;
using testing_support::read_lines;

class MongoRelay : public MongoTest, public ::testing::WithParamInterface<std::string> {};

// Restarts resume from the saved checkpoint: everything exactly once, in order.
TEST_P(MongoRelay, ResumesFromTheCheckpointAcrossRestarts) {
  const std::string uri = store_uri(database, "outboxMode=" + GetParam() + "&outboxCappedSize=4000000");
  auto store = outbox::open_store(uri);
  store->init(name);
  outbox::mongodb::Outbox box(database, name, order_schemas());
  auto relay_to = [&](const std::string& file) {
    auto s = outbox::open_store(uri);
    auto sink = outbox::open_sink("file:" + file);
    outbox::RelayOptions o;
    o.outbox = name;
    o.stop_when_idle = true;
    o.batch_size = 64;
    outbox::Relay(*s, *sink, o).run();
  };
  const std::string out = dir + "/out.jsonl";
  for (int i = 1; i <= 300; ++i) box.put(*client, order_created(i, "k" + std::to_string(i % 3)));
  relay_to(out);
  EXPECT_EQ(read_lines(out).size(), 300u);
  for (int i = 301; i <= 450; ++i) box.put(*client, order_created(i));
  relay_to(out);
  const auto lines = read_lines(out);
  ASSERT_EQ(lines.size(), 450u);
  for (std::size_t i = 0; i < lines.size(); ++i)
    EXPECT_EQ(lines[i]["data"]["ordernr"], static_cast<std::int64_t>(i + 1));
  EXPECT_EQ(store->status(name).consumers.at(0).lag_messages, 0);
}

// Every subcommand through the real CLI: init, put (good and bad), tail, relay, status, seek,
// dead-letters; a password never shows.
TEST_P(MongoRelay, CliWorksWithAMongoStore) {
  const std::string uri = store_uri(database, "outboxMode=" + GetParam());
  const std::string schemas = dir + "/schemas.json";
  std::ofstream(schemas) << order_schemas_json();
  const std::string store = "--store '" + uri + "' --outbox " + name;
  auto r = cli("init " + store);
  ASSERT_EQ(r.code, 0) << r.output;
  r = cli("init " + store);
  ASSERT_EQ(r.code, 0) << "init is idempotent: " << r.output;
  for (int i = 1; i <= 3; ++i) {
    r = cli("put " + store + " --schema " + schemas +
            " --type order_created --data '{\"ordernr\": " + std::to_string(i) + "}' --key order-" + std::to_string(i));
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("\"position\":" + std::to_string(i)), std::string::npos) << r.output;
  }
  r = cli("put " + store + " --schema " + schemas + " --type order_created --data '{\"ordernr\": \"x\"}'");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("/ordernr"), std::string::npos) << r.output;
  r = cli("tail " + store + " --from beginning");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"ordernr\":3"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("\"x\""), std::string::npos) << r.output;
  r = cli("tail " + store + " --from 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("\"ordernr\":1"), std::string::npos) << r.output;
  const std::string out = dir + "/out.jsonl";
  r = cli("relay " + store + " --sink file:" + out + " --drain");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_lines(out).size(), 3u);
  r = cli("status --store '" + uri + "' --outbox " + name + " --json");
  ASSERT_EQ(r.code, 0) << r.output;
  auto json = nlohmann::json::parse(r.output.substr(r.output.find('[')));
  EXPECT_EQ(json.at(0)["count"], 3);
  EXPECT_EQ(json.at(0)["consumers"].at(0)["lag_messages"], 0);
  r = cli("seek " + store + " --consumer default --to beginning");
  ASSERT_EQ(r.code, 0) << r.output;
  r = cli("status --store '" + uri + "' --outbox " + name + " --json");
  json = nlohmann::json::parse(r.output.substr(r.output.find('[')));
  EXPECT_EQ(json.at(0)["consumers"].at(0)["lag_messages"], 3) << r.output;
  r = cli("seek " + store + " --consumer default --to end");
  ASSERT_EQ(r.code, 0) << r.output;
  r = cli("dead-letters " + store);
  EXPECT_EQ(r.code, 0) << r.output;
  r = cli("status --store 'mongodb://app:hunter2@127.0.0.1:1/x?serverSelectionTimeoutMS=300' --outbox " + name);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_EQ(r.output.find("hunter2"), std::string::npos) << r.output;
}

INSTANTIATE_TEST_SUITE_P(Modes, MongoRelay, ::testing::Values("poll", "capped"));
