// The file sink on a real file: JSON lines, acknowledged after they are written, torn tails cut.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "outbox/errors.hpp"
#include "outbox/sink.hpp"

using namespace outbox;

namespace {
std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

Message message(std::int64_t position) {
  Message m;
  m.outbox = "orders";
  m.type = "t";
  m.position = position;
  m.data = {{"n", position}};
  return m;
}

class FileSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/outbox-file-sink-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/out.jsonl";
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string dir, path;
};
}  // namespace

TEST_F(FileSinkTest, WritesOneJsonLinePerMessageAndAcknowledgesEach) {
  auto sink = open_sink("file:" + path);
  std::vector<Message> batch{message(1), message(2), message(3)};
  sink->publish(batch);
  const auto outcomes = sink->poll(std::chrono::milliseconds(0));
  ASSERT_EQ(outcomes.size(), 3u);
  for (const auto& d : outcomes) EXPECT_EQ(d.outcome, Outcome::ok);
  EXPECT_EQ(sink->in_flight(), 0u);
  const auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(lines[2])["position"], 3);
}

TEST_F(FileSinkTest, CutsALineTornByACrashBeforeAppending) {
  std::ofstream(path) << R"({"position":1})" << "\n" << R"({"position":2,"data":{"trunc)";
  auto sink = open_sink("file:" + path);
  std::vector<Message> batch{message(2)};
  sink->publish(batch);
  const auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& l : lines) {
    EXPECT_NO_THROW({ const auto parsed = nlohmann::json::parse(l); (void)parsed; }) << l;
  }
}

TEST_F(FileSinkTest, UnwritableFolderIsAClearError) {
  EXPECT_THROW(open_sink("file:/nonexistent-folder/out.jsonl"), SinkError);
}
