// `outbox dead-letters` list / replay / purge through the real process (issue 13): replay then
// `relay --drain` to a file sink delivers the replayed messages after what was pending, in their
// original order, to their consumer only; outputs and exit codes; refusal while a relay holds the
// consumer; bad input changes nothing.
#include "cli_fixture.hpp"
#include "outbox/replay.hpp"
#include "outbox/store.hpp"

using namespace testing_cli;
using testing_support::cli;
using testing_support::read_lines;

namespace {

bool has(const std::string& output, const std::string& part) { return output.find(part) != std::string::npos; }

std::vector<std::int64_t> ordernrs(const std::vector<nlohmann::json>& lines) {
  std::vector<std::int64_t> out;
  for (const auto& j : lines) out.push_back(j["data"]["ordernr"].get<std::int64_t>());
  return out;
}

}  // namespace

class CliDeadLetters : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    store = outbox::open_store(uri());
  }
  void TearDown() override {
    store.reset();
    CliTest::TearDown();
  }

  std::string at() const { return "--store " + uri() + " --outbox orders"; }

  // `relay --drain` for `consumer` into a new file; the ordernrs it published.
  std::vector<std::int64_t> drain(const std::string& consumer, std::vector<nlohmann::json>* lines = nullptr) {
    const std::string file = dir + "/" + consumer + "-" + std::to_string(++runs) + ".jsonl";
    const auto r = cli("relay " + at() + " --consumer " + consumer + " --sink file:" + file + " --drain");
    EXPECT_EQ(r.code, 0) << r.output;
    const auto got = std::filesystem::exists(file) ? read_lines(file) : std::vector<nlohmann::json>{};
    if (lines) *lines = got;
    return ordernrs(got);
  }

  // The committed messages, in order.
  std::vector<outbox::Message> messages(std::size_t n) {
    auto tail = store->tail("orders", outbox::Cursor::beginning());
    return testing_support::drain(*tail, n);
  }

  std::int64_t dead_count() { return testing_sqlite::count(db, "SELECT count(*) FROM outbox__dead_letters"); }
  std::int64_t rows() { return testing_sqlite::count(db, "SELECT count(*) FROM outbox_orders"); }

  std::unique_ptr<outbox::Store> store;
  int runs = 0;
};

TEST_F(CliDeadLetters, ReplayThenDrainDeliversTheReplayedMessagesInOrderToTheirConsumerOnly) {
  put_committed(1, 5);
  ASSERT_EQ(drain("billing"), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  ASSERT_EQ(drain("audit"), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  const auto ms = messages(5);
  ASSERT_EQ(ms.size(), 5u);
  store->dead_letter("billing", ms[3], "refused by broker", 5);
  store->dead_letter("billing", ms[1], "refused by broker", 5);
  store->dead_letter("audit", ms[2], "refused by broker", 5);
  put_committed(6, 7);

  // The old form still lists, and so does `list`.
  auto r = cli("dead-letters " + at());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 3) << r.output;
  r = cli("dead-letters list " + at() + " --limit 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 2) << r.output;
  const auto listed = store->dead_letters("orders", 10);
  ASSERT_EQ(listed.size(), 3u);

  r = cli("dead-letters replay " + at() + " --all --consumer billing");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "replayed dead letter " + std::to_string(listed[1].id) + " (consumer billing, message " +
                                ms[1].id + ") from position 2 at position 8\n"))
      << r.output;
  EXPECT_TRUE(has(r.output, "replayed dead letter " + std::to_string(listed[0].id) + " (consumer billing, message " +
                                ms[3].id + ") from position 4 at position 9\n"))
      << r.output;
  EXPECT_LT(r.output.find("from position 2"), r.output.find("from position 4")) << "in original order: " << r.output;
  EXPECT_TRUE(has(r.output, "replayed 2 dead letters\n")) << r.output;
  EXPECT_EQ(dead_count(), 1);

  r = cli("dead-letters replay " + at() + " --all --consumer billing");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "nothing to replay: outbox 'orders' has no dead letters of consumer 'billing'"))
      << r.output;
  EXPECT_EQ(rows(), 9) << "replayed once";

  std::vector<nlohmann::json> lines;
  EXPECT_EQ(drain("billing", &lines), (std::vector<std::int64_t>{6, 7, 2, 4}));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2]["id"], ms[1].id);
  EXPECT_EQ(lines[2]["headers"][outbox::kReplayedFromHeader], "2");
  EXPECT_EQ(lines[3]["headers"][outbox::kReplayedFromHeader], "4");
  EXPECT_EQ(lines[3]["headers"][outbox::kReplayForHeader], "billing");
  EXPECT_EQ(drain("audit"), (std::vector<std::int64_t>{6, 7})) << "audit had the originals";
  r = cli("status " + at() + " --json");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto status = nlohmann::json::parse(r.output.substr(r.output.find('[')));
  for (const auto& c : status[0]["consumers"]) EXPECT_EQ(c["lag_messages"], 0) << r.output;
  EXPECT_EQ(status[0]["dead_letters"], 1);

  r = cli("dead-letters replay " + at() + " --id " + std::to_string(listed[2].id));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "replayed 1 dead letter\n")) << r.output;
  EXPECT_EQ(drain("audit"), (std::vector<std::int64_t>{3}));
  EXPECT_TRUE(drain("billing").empty());
}

TEST_F(CliDeadLetters, RefusesWhileARelayHoldsTheConsumerUnlessForced) {
  put_committed(1, 2);
  const auto ms = messages(2);
  ASSERT_EQ(ms.size(), 2u);
  store->dead_letter("billing", ms[0], "refused", 1);
  store->dead_letter("audit", ms[1], "refused", 1);
  store->acquire({"orders", "billing", "relay-on-host-a"}, std::chrono::seconds(60));  // as a running relay does

  for (const std::string& command : {"replay " + at() + " --all", "replay " + at() + " --all --consumer billing",
                                     "purge " + at() + " --older-than 0s"}) {
    const auto r = cli("dead-letters " + command);
    EXPECT_EQ(r.code, 2) << command << ": " << r.output;
    EXPECT_TRUE(has(r.output, "consumer 'billing' of outbox 'orders' is held by relay 'relay-on-host-a'")) << r.output;
    EXPECT_TRUE(has(r.output, "stop that relay first")) << r.output;
    EXPECT_TRUE(has(r.output, "--force")) << r.output;
  }
  EXPECT_EQ(dead_count(), 2) << "nothing changed";
  EXPECT_EQ(rows(), 2);

  auto r = cli("dead-letters replay " + at() + " --all --consumer audit");
  EXPECT_EQ(r.code, 0) << "another consumer's dead letters: " << r.output;
  r = cli("dead-letters replay " + at() + " --all --force");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "replayed 1 dead letter\n")) << r.output;
  EXPECT_EQ(dead_count(), 0);
  EXPECT_EQ(rows(), 4);
}

TEST_F(CliDeadLetters, PurgeByIdAndByAgeOnce) {
  put_committed(1, 3);
  const auto ms = messages(3);
  ASSERT_EQ(ms.size(), 3u);
  for (const auto& m : ms) store->dead_letter("billing", m, "refused", 1);
  const auto listed = store->dead_letters("orders", 10);
  ASSERT_EQ(listed.size(), 3u);
  const std::string id = std::to_string(listed[1].id);

  auto r = cli("dead-letters purge " + at() + " --id " + id);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "purged dead letter " + id + " (consumer billing, message " + ms[1].id + ", position 2"))
      << r.output;
  EXPECT_TRUE(has(r.output, "purged 1 dead letter\n")) << r.output;
  r = cli("dead-letters purge " + at() + " --id " + id);
  EXPECT_EQ(r.code, 2) << "gone: " << r.output;
  EXPECT_TRUE(has(r.output, "no dead letter with id " + id)) << r.output;
  EXPECT_EQ(dead_count(), 2);

  r = cli("dead-letters purge " + at() + " --older-than 1h");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "nothing to purge")) << r.output;
  EXPECT_EQ(dead_count(), 2);
  r = cli("dead-letters purge " + at() + " --older-than 0s --consumer billing");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "purged 2 dead letters\n")) << r.output;
  EXPECT_EQ(dead_count(), 0);
  EXPECT_EQ(rows(), 3) << "purge appends nothing";
}

TEST_F(CliDeadLetters, BadInputIsRefusedWithExit2AndChangesNothing) {
  put_committed(1, 1);
  const auto ms = messages(1);
  ASSERT_EQ(ms.size(), 1u);
  store->dead_letter("billing", ms[0], "refused", 1);
  const std::string id = std::to_string(store->dead_letters("orders", 1).at(0).id);
  const std::pair<std::string, std::string> cases[] = {
      {"replay " + at(), "needs --id ID (one dead letter) or --all"},
      {"replay " + at() + " --id " + id + " --all", "excludes"},
      {"replay " + at() + " --id 424242", "no dead letter with id 424242 in outbox 'orders'"},
      {"replay " + at() + " --id " + id + " --consumer audit", "no dead letter with id " + id + " of consumer 'audit'"},
      {"replay " + at() + " --id abc", "--id"},
      {"replay " + at() + " --all --consumer 'Bad Name'", "consumer name"},
      {"replay --store " + uri() + " --outbox nosuch --all", "outbox 'nosuch' does not exist"},
      {"purge " + at(), "needs --id ID (one dead letter) or --older-than DURATION"},
      {"purge " + at() + " --id " + id + " --older-than 1d", "excludes"},
      {"purge " + at() + " --older-than 7x", "--older-than takes a whole number and a unit (s, m, h or d)"},
      {"purge " + at() + " --older-than=-1d", "--older-than takes"},
      {"purge " + at() + " --older-than d", "--older-than takes"},
      {"purge " + at() + " --older-than 99999999999999d", "--older-than takes"},
      {"purge " + at() + " --id 424242", "list them with `outbox dead-letters list"},
      {"--outbox orders", "needs --store and --outbox"},
  };
  for (const auto& [args, expected] : cases) {
    const auto r = cli("dead-letters " + args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.output;
    EXPECT_TRUE(has(r.output, expected)) << args << ": " << r.output;
  }
  EXPECT_EQ(dead_count(), 1) << "nothing changed";
  EXPECT_EQ(rows(), 1);
}
