// WAL mode: a dead letter replayed with `outbox dead-letters replay --id` is a new logical decoding
// message in the WAL (there is no table to append to); a relay delivers it once, after what was
// pending, with the replay headers, to its consumer only; another consumer passes over it.
#include "outbox/replay.hpp"
#include "pg_wal_fixture.hpp"

using namespace testing_pg;
using testing_support::read_lines;

namespace {

bool has(const std::string& output, const std::string& part) { return output.find(part) != std::string::npos; }

}  // namespace

TEST_F(WalTest, AReplayedDeadLetterIsDeliveredOnceWithTheReplayHeaders) {
  char tmpl[] = "/tmp/outbox-pg-wal-dead-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  int runs = 0;
  // `relay --drain` of `consumer` into a file of its own; the lines it published.
  auto drain_relay = [&](const std::string& consumer) {
    const std::string file = dir + "/" + consumer + "-" + std::to_string(++runs) + ".jsonl";
    const auto r = cli("relay --store '" + uri + "' --outbox " + name + " --consumer " + consumer +
                       " --sink file:" + file + " --drain");
    EXPECT_EQ(r.code, 0) << r.output;
    return std::filesystem::exists(file) ? read_lines(file) : std::vector<nlohmann::json>{};
  };
  const std::string at = "--store '" + uri + "' --outbox " + name;

  put_committed(1, 3);
  auto store = outbox::open_store(uri);
  std::vector<outbox::Message> ms;
  {
    // Before any relay: an ad-hoc tail reads from where "default"'s slot stands.
    auto tail = store->tail(name, outbox::Cursor::beginning());
    ms = drain(*tail, 3);
  }
  ASSERT_EQ(ms.size(), 3u);
  // "audit" first: its slot starts as a copy of "default"'s.
  ASSERT_EQ(drain_relay("audit").size(), 3u);
  ASSERT_EQ(drain_relay("default").size(), 3u);
  store->dead_letter("default", ms[1], "refused by the broker", 5);  // what the relay does after its attempts
  put_committed(4, 4);

  const auto listed = store->dead_letters(name, 10);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].message.position, ms[1].position) << "a dead letter's position is the message's LSN";
  auto r = cli("dead-letters replay " + at + " --id " + std::to_string(listed[0].id));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "replayed dead letter " + std::to_string(listed[0].id) + " (consumer default, message " +
                                ms[1].id + ") from position " + std::to_string(ms[1].position) + " at position "))
      << r.output;
  EXPECT_TRUE(has(r.output, "replayed 1 dead letter\n")) << r.output;
  EXPECT_TRUE(store->dead_letters(name, 10).empty());
  r = cli("dead-letters replay " + at + " --id " + std::to_string(listed[0].id));
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "no dead letter with id " + std::to_string(listed[0].id))) << "replayed once: " << r.output;

  const auto lines = drain_relay("default");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["data"]["ordernr"], 4);
  EXPECT_EQ(lines[1]["data"]["ordernr"], 2);
  EXPECT_EQ(lines[1]["id"], ms[1].id);
  EXPECT_GT(lines[1]["position"].get<std::int64_t>(), lines[0]["position"].get<std::int64_t>())
      << "a replay is a new message in the WAL";
  EXPECT_EQ(lines[1]["headers"][outbox::kReplayedFromHeader], std::to_string(ms[1].position));
  EXPECT_EQ(lines[1]["headers"][outbox::kReplayForHeader], "default");
  EXPECT_TRUE(drain_relay("default").empty()) << "delivered once";
  const auto audit = drain_relay("audit");
  ASSERT_EQ(audit.size(), 1u) << "audit passes over default's replay";
  EXPECT_EQ(audit[0]["data"]["ordernr"], 4);
  std::filesystem::remove_all(dir);
}
