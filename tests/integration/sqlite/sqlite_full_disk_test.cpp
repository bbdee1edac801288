// The real `outbox relay` writing to a file sink whose disk fills up in the middle of a line and
// then gets room again: the file must hold only whole JSON lines and every message at least once.
// Two ways to fill a disk: a small tmpfs (ENOSPC; needs mount rights, skipped without them) and a
// file size limit on the relay process (RLIMIT_FSIZE -> EFBIG; works for any user).
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <set>
#include <thread>

#include "child_processes.hpp"
#include "sqlite_fixture.hpp"

using namespace testing_sqlite;
using namespace std::chrono_literals;
using testing_support::Children;
using testing_support::read_text;
using testing_support::tail_of;

namespace {

enum class Fill { tmpfs, file_size_limit };

constexpr int kMessages = 160;
constexpr std::size_t kPad = 8000;        // lines of about 8 KB, so that a full disk cuts one
constexpr rlim_t kLimit = 1024 * 1024;    // file_size_limit: the relay's files stop at 1 MiB
constexpr off_t kTmpfsRoom = 256 * 1024;  // tmpfs: room left for the sink's file

class SqliteFullDisk : public SqliteTest, public ::testing::WithParamInterface<Fill> {
 protected:
  void TearDown() override {
    if (mounted_) ::umount2(sink_dir_.c_str(), MNT_DETACH);
    SqliteTest::TearDown();
  }

  // Makes the sink's next writes fail part-way; returns false (test skipped) if this machine cannot.
  bool prepare_full_disk() {
    if (GetParam() == Fill::tmpfs) {
      sink_dir_ = dir + "/disk";
      std::filesystem::create_directory(sink_dir_);
      if (::mount("tmpfs", sink_dir_.c_str(), "tmpfs", 0, "size=4m") != 0) return false;
      mounted_ = true;
      // Fill the disk to the last byte, then give back kTmpfsRoom.
      filler_ = sink_dir_ + "/filler";
      const int fd = ::open(filler_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const std::string chunk(64 * 1024, 'f');
      off_t size = 0;
      for (ssize_t n; (n = ::write(fd, chunk.data(), chunk.size())) > 0;) size += n;
      EXPECT_EQ(errno, ENOSPC);
      EXPECT_EQ(::ftruncate(fd, size - kTmpfsRoom), 0);
      ::close(fd);
    } else {
      sink_dir_ = dir;
    }
    out_ = sink_dir_ + "/out.jsonl";
    return true;
  }

  pid_t start_relay(Children& children) {
    const std::vector<std::string> argv{OUTBOX_CLI, "relay",  "--store",      uri(),          "--outbox",
                                        "orders",   "--sink", "file:" + out_, "--batch-size", "1"};
    if (GetParam() == Fill::tmpfs) return children.spawn(argv, dir + "/relay.out", dir + "/relay.err");
    // The child inherits the lowered limit and the ignored SIGXFSZ (which would kill it at the
    // limit); the test process gets its own limit back at once and writes nothing meanwhile.
    rlimit saved{};
    ::getrlimit(RLIMIT_FSIZE, &saved);
    rlimit lowered = saved;
    lowered.rlim_cur = kLimit;
    std::signal(SIGXFSZ, SIG_IGN);
    ::setrlimit(RLIMIT_FSIZE, &lowered);
    const pid_t pid = children.spawn(argv, dir + "/relay.out", dir + "/relay.err");
    ::setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, SIG_DFL);
    return pid;
  }

  void free_space(pid_t relay) {
    if (GetParam() == Fill::tmpfs) {
      ASSERT_EQ(::unlink(filler_.c_str()), 0);
    } else {
      rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
      rlimit old{};
      ::prlimit(relay, RLIMIT_FSIZE, nullptr, &old);
      unlimited.rlim_max = old.rlim_max;
      unlimited.rlim_cur = old.rlim_max;
      ASSERT_EQ(::prlimit(relay, RLIMIT_FSIZE, &unlimited, nullptr), 0) << std::strerror(errno);
    }
  }

  std::int64_t saved_checkpoint() {
    return count(db, "SELECT COALESCE(MAX(position), -1) FROM outbox__consumers WHERE outbox = 'orders'");
  }

  std::string sink_dir_, out_, filler_;
  bool mounted_ = false;
};

}  // namespace

TEST_P(SqliteFullDisk, RelayWithBatchSizeOneLeavesOnlyWholeLinesAndEveryMessage) {
  if (!prepare_full_disk()) GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  exec(db, "BEGIN");
  for (int i = 1; i <= kMessages; ++i) {
    auto m = order_created(i);
    m.data["pad"] = std::string(kPad, static_cast<char>('a' + i % 26));
    orders.put(db, m);
  }
  exec(db, "COMMIT");
  // The relay's own SQLite writes (checkpoints) go to the WAL; start it empty so that they stay far
  // below the file size limit.
  exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");

  Children children;
  const pid_t relay = start_relay(children);
  const std::string err = dir + "/relay.err";
  // Wait for the sink to report the failed write, then make room.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (read_text(err).find("failed message at position") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the disk never filled up:\n" << tail_of(read_text(err));
    ASSERT_FALSE(children.poll(relay)) << "relay ended:\n" << tail_of(read_text(err));
    std::this_thread::sleep_for(10ms);
  }
  const std::string log = read_text(err);
  EXPECT_TRUE(log.find(GetParam() == Fill::tmpfs ? "No space left on device" : "File too large") != std::string::npos)
      << tail_of(log);
  free_space(relay);
  while (saved_checkpoint() < kMessages) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "checkpoint at " << saved_checkpoint() << ":\n"
                                                          << tail_of(read_text(err));
    ASSERT_FALSE(children.poll(relay)) << "relay ended:\n" << tail_of(read_text(err));
    std::this_thread::sleep_for(20ms);
  }
  children.signal(relay, SIGTERM);
  const auto status = children.wait(relay, 20s);
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << tail_of(read_text(err));

  std::ifstream in(out_);
  std::set<std::int64_t> seen;
  int lineno = 0;
  for (std::string line; std::getline(in, line);) {
    ++lineno;
    const auto parsed = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << "line " << lineno << " is not JSON (" << line.size()
                                        << " bytes): " << line.substr(0, 60) << "..." << line.substr(line.size() - 40);
    seen.insert(parsed.at("data").at("ordernr").get<std::int64_t>());
  }
  for (int i = 1; i <= kMessages; ++i) EXPECT_TRUE(seen.count(i)) << "message " << i << " is missing";
}

INSTANTIATE_TEST_SUITE_P(Fills, SqliteFullDisk, ::testing::Values(Fill::tmpfs, Fill::file_size_limit),
                         [](const auto& info) { return info.param == Fill::tmpfs ? "FullTmpfs" : "FileSizeLimit"; });
