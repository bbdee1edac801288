// Opening an SQLite store through the real `outbox` CLI: only `init` may create the database file
// (a mistyped path must not turn into an empty database that reports "no outboxes"), and a folder
// SQLite cannot write in (it creates the -wal and -shm files next to the database) is named as such.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "cli_run.hpp"
#include "sqlite_fixture.hpp"

using namespace testing_sqlite;
using testing_support::cli;

namespace fs = std::filesystem;

TEST_F(SqliteTest, CommandsOtherThanInitDoNotCreateAMistypedDatabase) {
  const std::string typo = dir + "/servcie.db";
  const std::string store = "--store sqlite:" + typo;
  std::ofstream(dir + "/schema.json") << testing_support::order_schemas_json();
  for (const std::string args :
       {"status " + store, "status " + store + " --outbox orders", "tail " + store + " --outbox orders",
        "relay " + store + " --outbox orders --sink null: --drain",
        "seek " + store + " --outbox orders --consumer c --to end", "dead-letters " + store + " --outbox orders",
        "put " + store + " --outbox orders --schema " + dir +
            "/schema.json --type order_created --data '{\"ordernr\": 1}'"}) {
    const auto run = cli(args);
    EXPECT_EQ(run.code, 2) << args << "\n" << run.output;
    EXPECT_NE(run.output.find("'" + typo + "'"), std::string::npos) << "names the path: " << run.output;
    EXPECT_NE(run.output.find("outbox init"), std::string::npos) << "says how to create it: " << run.output;
    EXPECT_FALSE(fs::exists(typo)) << args << " created the database file";
    EXPECT_FALSE(fs::exists(typo + "-wal")) << args;
    fs::remove(typo);
  }
  // init creates it, after which the others work.
  const auto init = cli("init " + store + " --outbox orders");
  EXPECT_EQ(init.code, 0) << init.output;
  EXPECT_TRUE(fs::exists(typo));
  const auto status = cli("status " + store);
  EXPECT_EQ(status.code, 0) << status.output;
  EXPECT_NE(status.output.find("orders"), std::string::npos) << status.output;
}

TEST_F(SqliteTest, InitIntoAMissingFolderSaysTheFolderIsMissing) {
  const auto run = cli("init --store sqlite:" + dir + "/no-such-folder/x.db --outbox orders");
  EXPECT_NE(run.code, 0) << run.output;
  EXPECT_NE(run.output.find("'" + dir + "/no-such-folder' does not exist"), std::string::npos) << run.output;
}

namespace {
// Runs the CLI as a user whom the folder's permissions bind: root passes every permission check,
// so as root the command runs as `nobody` (setpriv, from util-linux).
testing_support::Run cli_unprivileged(const std::string& args) {
  if (::geteuid() != 0) return cli(args);
  const std::string cmd =
      "setpriv --reuid=65534 --regid=65534 --clear-groups " + std::string(OUTBOX_CLI) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class SqliteReadOnlyFolder : public SqliteTest {
 protected:
  void SetUp() override {
    SqliteTest::SetUp();
    // The database exists and is writable, its folder is not: once the last connection closes,
    // SQLite removes the -wal and -shm files and cannot create them again.
    sqlite3_close_v2(db);
    db = nullptr;
    ASSERT_FALSE(fs::exists(path + "-wal"));
    ::chmod(path.c_str(), 0666);
    ::chmod(dir.c_str(), 0555);
  }
  void TearDown() override {
    ::chmod(dir.c_str(), 0755);
    SqliteTest::TearDown();
  }
};
}  // namespace

TEST_F(SqliteReadOnlyFolder, StatusSaysTheFolderIsNotWritable) {
  const auto run = cli_unprivileged("status --store sqlite:" + path);
  EXPECT_EQ(run.code, 1) << run.output;
  EXPECT_NE(run.output.find("folder '" + dir + "' is not writable"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("-wal"), std::string::npos) << "says why SQLite writes there: " << run.output;
  EXPECT_EQ(run.output.find("has `outbox init` run?"), std::string::npos) << "misleading advice: " << run.output;
}

TEST_F(SqliteReadOnlyFolder, InitOfANewDatabaseSaysTheFolderIsNotWritable) {
  const auto run = cli_unprivileged("init --store sqlite:" + dir + "/new.db --outbox orders");
  EXPECT_EQ(run.code, 1) << run.output;
  EXPECT_NE(run.output.find("folder '" + dir + "' is not writable"), std::string::npos) << run.output;
}
