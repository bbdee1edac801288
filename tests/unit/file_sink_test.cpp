// The file sink on a real file: JSON lines, acknowledged after they are written, torn tails cut.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
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
  std::ofstream(path) << R"({"position":1})"
                      << "\n"
                      << R"({"position":2,"data":{"trunc)";
  auto sink = open_sink("file:" + path);
  std::vector<Message> batch{message(2)};
  sink->publish(batch);
  const auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& l : lines) {
    EXPECT_NO_THROW({
      const auto parsed = nlohmann::json::parse(l);
      (void)parsed;
    }) << l;
  }
}

TEST_F(FileSinkTest, UnwritableFolderIsAClearError) {
  EXPECT_THROW(open_sink("file:/nonexistent-folder/out.jsonl"), SinkError);
}

namespace {
// While alive, writes may not grow any file of this process past `bytes` (RLIMIT_FSIZE); a write
// that would is cut short at the limit and the next one fails with EFBIG, as on a disk that fills
// up mid-line. SIGXFSZ, which would otherwise kill the process, is ignored.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lowered = saved_;
    lowered.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &lowered);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit saved_{};
  void (*old_handler_)(int) = SIG_DFL;
};

Message padded(std::int64_t position) {
  Message m = message(position);
  m.data["pad"] = std::string(1000, 'x');  // lines of about 1 KB, so a limit falls inside one
  return m;
}
}  // namespace

// A write that fails part-way (full disk) must not leave the part it wrote: the batch is retried
// whole, and with batch size 1 that part would be glued to the retried line, losing its only copy.
TEST_F(FileSinkTest, AFailedWriteLeavesNoPartOfTheBatchBehind) {
  auto sink = open_sink("file:" + path);
  std::vector<Message> first{padded(1), padded(2)};
  sink->publish(first);
  ASSERT_EQ(sink->poll(std::chrono::milliseconds(0)).size(), 2u);
  const auto good = std::filesystem::file_size(path);

  std::vector<Message> third{padded(3)};
  {
    FileSizeLimit limit(good + 500);  // room for half a line
    sink->publish(third);
  }
  const auto failed = sink->poll(std::chrono::milliseconds(0));
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].outcome, Outcome::retryable);
  EXPECT_NE(failed[0].error.find("File too large"), std::string::npos) << failed[0].error;
  EXPECT_EQ(std::filesystem::file_size(path), good) << "the half line the failed write left must be cut";

  sink->publish(third);  // the retry, with room again
  const auto retried = sink->poll(std::chrono::milliseconds(0));
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].outcome, Outcome::ok);
  const auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 3u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    nlohmann::json parsed;
    ASSERT_NO_THROW(parsed = nlohmann::json::parse(lines[i]))
        << "line " << i + 1 << " is torn: " << lines[i].substr(0, 80);
    EXPECT_EQ(parsed["position"], static_cast<std::int64_t>(i + 1));
  }
}
