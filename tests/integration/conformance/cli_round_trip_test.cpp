// The real `outbox` binary against every store kind, by URI alone: init, put, tail, relay --drain
// to a file sink, and status --json showing the consumer caught up.
#include <fstream>
#include <sstream>

#include "cli_run.hpp"
#include "conformance_fixture.hpp"

using namespace conformance;
using testing_support::cli;
using testing_support::read_lines;

namespace {

// The JSON objects among the output's lines (the CLI logs to stderr, which cli() merges).
std::vector<nlohmann::json> json_lines(const std::string& output) {
  std::vector<nlohmann::json> out;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.front() == '{') out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

}  // namespace

TEST_P(StoreConformance, CliRoundTrip) {
  const std::string schemas = scratch + "/schemas.json";
  std::ofstream(schemas) << testing_support::order_schemas_json();
  const std::string at = "--store '" + backend->uri() + "' --outbox " + kOutbox;
  auto r = cli("init " + at);
  ASSERT_EQ(r.code, 0) << r.output;
  r = cli("init " + at);
  ASSERT_EQ(r.code, 0) << "init is idempotent: " << r.output;

  std::vector<nlohmann::json> written;
  for (int i = 1; i <= 3; ++i) {
    r = cli("put " + at + " --schema " + schemas + " --type order_created --data '{\"ordernr\": " + std::to_string(i) +
            "}' --key order-" + std::to_string(i) + " --header traceparent=t" + std::to_string(i));
    ASSERT_EQ(r.code, 0) << r.output;
    const auto j = json_lines(r.output);
    ASSERT_EQ(j.size(), 1u) << r.output;
    written.push_back(j[0]);
    if (i > 1) EXPECT_GT(written[i - 1]["position"], written[i - 2]["position"]);
  }
  r = cli("put " + at + " --schema " + schemas + " --type order_created --data '{\"ordernr\": \"x\"}'");
  EXPECT_EQ(r.code, 2) << "invalid input: " << r.output;
  EXPECT_NE(r.output.find("/ordernr"), std::string::npos) << "the error names the field: " << r.output;

  r = cli("tail " + at + " --from beginning");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto tailed = json_lines(r.output);
  ASSERT_EQ(tailed.size(), 3u) << r.output;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(tailed[i]["id"], written[i]["id"]);
    EXPECT_EQ(tailed[i]["position"], written[i]["position"]);
    EXPECT_EQ(tailed[i]["data"]["ordernr"], i + 1);
    EXPECT_EQ(tailed[i]["key"], "order-" + std::to_string(i + 1));
    EXPECT_EQ(tailed[i]["headers"]["traceparent"], "t" + std::to_string(i + 1));
  }

  const std::string out = scratch + "/out.jsonl";
  r = cli("relay " + at + " --sink file:" + out + " --drain");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto published = read_lines(out);
  ASSERT_EQ(published.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(published[i]["id"], written[i]["id"]);
    EXPECT_EQ(published[i]["data"]["ordernr"], i + 1);
  }

  r = cli("status " + at + " --json");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto status = nlohmann::json::parse(r.output.substr(r.output.find('[')));
  ASSERT_EQ(status.size(), 1u) << r.output;
  EXPECT_EQ(status[0]["outbox"], kOutbox);
  EXPECT_EQ(status[0]["count"], 3);
  EXPECT_EQ(status[0]["newest_position"], written[2]["position"]);
  ASSERT_EQ(status[0]["consumers"].size(), 1u) << r.output;
  const auto& consumer = status[0]["consumers"][0];
  EXPECT_EQ(consumer["name"], "default");
  EXPECT_EQ(consumer["lag_messages"], 0) << r.output;
  EXPECT_EQ(consumer["lag_seconds"], 0.0) << r.output;
  EXPECT_EQ(consumer["position"], written[2]["position"]) << r.output;
  EXPECT_EQ(consumer["lease_active"], false) << "a drained relay releases its lease: " << r.output;
}
