// Many real `outbox init` processes at once on a database that does not exist yet, as when every
// replica of a service initialises its outbox on start: each must exit 0. Switching a database to
// WAL takes a lock that SQLite's busy handler does not wait for, so without retries a few of them
// failed with "database is locked".
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "child_processes.hpp"
#include "sqlite_fixture.hpp"

using namespace std::chrono_literals;
using testing_support::Children;
using testing_support::describe_status;
using testing_support::read_text;

namespace {
constexpr int kRounds = 3;
constexpr int kProcesses = 40;

// Forks all the children first, each waiting on a pipe, and then lets them exec at once, so that
// their opens and WAL switches overlap as much as two cores allow.
std::vector<int> run_together(const std::vector<std::string>& argv, int n, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int gate[2];
  if (::pipe(gate) != 0) throw std::runtime_error("pipe failed");
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::close(gate[1]);
      char c;
      while (::read(gate[0], &c, 1) < 0 && errno == EINTR) {
      }
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0) ::_exit(126);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  ::close(gate[0]);
  ::close(gate[1]);  // end of file: every child goes
  std::vector<int> statuses;
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    statuses.push_back(status);
  }
  return statuses;
}
}  // namespace

TEST(SqliteConcurrentInit, ManyProcessesInitialiseANewDatabaseAtOnce) {
  char tmpl[] = "/tmp/outbox-init-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  int failed = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string db = dir + "/round" + std::to_string(round) + ".db";
    const std::string log = dir + "/round" + std::to_string(round) + ".log";
    const auto statuses =
        run_together({OUTBOX_CLI, "init", "--store", "sqlite:" + db, "--outbox", "orders"}, kProcesses, log);
    for (int status : statuses) {
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ++failed;
        ADD_FAILURE() << "round " << round << ": an init ended with " << describe_status(status);
      }
    }
    if (failed > 0) {
      ADD_FAILURE() << "log of round " << round << ":\n" << testing_support::tail_of(read_text(log), 3000);
      break;
    }
    sqlite3* check = nullptr;
    ASSERT_EQ(sqlite3_open_v2(db.c_str(), &check, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    EXPECT_EQ(testing_sqlite::count(check, "SELECT COUNT(*) FROM outbox__outboxes WHERE name = 'orders'"), 1);
    sqlite3_close_v2(check);
  }
  std::filesystem::remove_all(dir);
}

// The same collision made certain: the service's own code writes to the new database (still in
// rollback-journal mode) while `outbox init` runs beside it. Each init reads the database, then needs
// the write lock to switch to WAL; SQLite does not wait for that lock from inside a read, so before
// the fix every one of them failed at once with "database is locked". The writer commits after a
// second, well inside the busy timeout (5 s) that init waits for.
TEST(SqliteConcurrentInit, InitWaitsForAWriterOnTheNewDatabase) {
  char tmpl[] = "/tmp/outbox-init-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/service.db";
  sqlite3* writer = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &writer), SQLITE_OK);
  // As every service sharing its database must (README): without a busy timeout the COMMIT below
  // fails at once with "database is locked" whenever an init holds its read lock at that instant,
  // which CI's ASan run hit once.
  sqlite3_busy_timeout(writer, 30000);
  testing_sqlite::exec(writer, "BEGIN IMMEDIATE; CREATE TABLE orders (nr INTEGER PRIMARY KEY)");
  Children children;
  std::vector<pid_t> inits;
  for (int i = 0; i < 8; ++i) {
    inits.push_back(children.spawn({OUTBOX_CLI, "init", "--store", "sqlite:" + path, "--outbox", "orders"},
                                   dir + "/init.out", dir + "/init.log"));
  }
  std::this_thread::sleep_for(1s);
  testing_sqlite::exec(writer, "COMMIT");
  for (pid_t pid : inits) {
    const auto status = children.wait(pid, 30s);
    ASSERT_TRUE(status) << "init did not end";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << describe_status(*status) << "\n"
        << testing_support::tail_of(read_text(dir + "/init.log"));
  }
  EXPECT_EQ(testing_sqlite::count(writer, "SELECT COUNT(*) FROM outbox__outboxes WHERE name = 'orders'"), 1);
  EXPECT_EQ(testing_sqlite::count(writer, "SELECT COUNT(*) FROM orders"), 0) << "the service's table is there";
  sqlite3_close_v2(writer);
  std::filesystem::remove_all(dir);
}
