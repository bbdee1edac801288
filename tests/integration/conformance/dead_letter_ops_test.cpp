// Dead-letter operations (Store::replay_dead_letters, Store::purge_dead_letters) on every store kind,
// with a real relay (file sink) reading what a replay put back: the replay goes after what is
// pending, in the dead letters' original order, to their own consumer only; both operations are
// idempotent and refuse while a relay holds a consumer involved, unless forced.
#include <algorithm>
#include <thread>

#include "cli_run.hpp"
#include "conformance_fixture.hpp"
#include "outbox/errors.hpp"
#include "outbox/relay.hpp"
#include "outbox/replay.hpp"
#include "outbox/sink.hpp"

using namespace conformance;
using namespace std::chrono_literals;
using outbox::DeadLetterFilter;
using outbox::Message;

namespace {

class DeadLetterOps : public StoreConformance {
 protected:
  // Runs a relay for `consumer` until it is idle; returns the ordernrs it published in this run
  // and (through `lines`) the file sink's JSON lines.
  std::vector<std::int64_t> drain(const std::string& consumer, std::vector<nlohmann::json>* lines = nullptr) {
    const std::string file = scratch + "/" + consumer + "-" + std::to_string(++runs_) + ".jsonl";
    auto sink = outbox::open_sink("file:" + file);
    outbox::RelayOptions o;
    o.outbox = kOutbox;
    o.consumer = consumer;
    o.owner = "relay-" + consumer;
    o.stop_when_idle = true;
    o.wait_for_lease = false;
    outbox::Relay(*store, *sink, o).run();
    std::vector<std::int64_t> nrs;
    const auto got = testing_support::read_lines(file);
    for (const auto& j : got) nrs.push_back(j["data"]["ordernr"].get<std::int64_t>());
    if (lines) *lines = got;
    return nrs;
  }

  static DeadLetterFilter of(const std::string& consumer) { return {.consumer = consumer}; }
  static DeadLetterFilter id(std::int64_t id) { return {.id = id}; }

  std::vector<std::int64_t> dead_ids() {
    std::vector<std::int64_t> out;
    for (const auto& d : store->dead_letters(kOutbox, 100)) out.push_back(d.id);
    return out;
  }

  int runs_ = 0;
};

std::string name_of(const ::testing::TestParamInfo<StoreKind>& info) { return info.param.name; }

}  // namespace

INSTANTIATE_TEST_SUITE_P(Stores, DeadLetterOps, ::testing::ValuesIn(store_kinds()), name_of);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DeadLetterOps);

// Two consumers have passed orders 1-5; `billing` dead-lettered 4, then 2, `audit` dead-lettered 3;
// 6 and 7 are pending. Replaying billing's dead letters puts 2 and 4 (in position order, not the
// order they failed in) after 7, for billing only: billing's relay delivers 6, 7, 2, 4 with the
// original ids, data and created times and the replay headers; audit's relay delivers 6 and 7 and
// still passes the replays (no lag left). A second replay finds nothing.
TEST_P(DeadLetterOps, ReplayGoesAfterWhatIsPendingInOriginalOrderToItsConsumerOnly) {
  store->init(kOutbox);
  commit(orders(1, 5));
  const auto ms = read(5);
  ASSERT_EQ(ms.size(), 5u);
  ASSERT_EQ(drain("billing"), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  ASSERT_EQ(drain("audit"), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  store->dead_letter("billing", ms[3], "refused", 5);
  store->dead_letter("billing", ms[1], "refused", 5);
  store->dead_letter("audit", ms[2], "refused", 5);
  const auto before = store->dead_letters(kOutbox, 10);
  ASSERT_EQ(before.size(), 3u);
  commit(orders(6, 7));
  const auto pending = read(7);
  ASSERT_EQ(pending.size(), 7u);

  const auto replayed = store->replay_dead_letters(kOutbox, of("billing"), false);
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_EQ(replayed[0].id, before[1].id) << "order 2 first: by original position, not by dead letter id";
  EXPECT_EQ(replayed[0].consumer, "billing");
  EXPECT_EQ(replayed[0].message_id, ms[1].id);
  EXPECT_EQ(replayed[0].original_position, ms[1].position);
  EXPECT_EQ(replayed[1].id, before[0].id);
  EXPECT_EQ(replayed[1].original_position, ms[3].position);
  EXPECT_GT(replayed[0].new_position, pending[6].position) << "after everything already committed";
  EXPECT_GT(replayed[1].new_position, replayed[0].new_position);
  EXPECT_EQ(dead_ids(), std::vector<std::int64_t>{before[2].id}) << "billing's dead letters are gone, audit's stays";
  EXPECT_EQ(store->status(kOutbox).dead_letters, 1);

  std::vector<nlohmann::json> lines;
  EXPECT_EQ(drain("billing", &lines), (std::vector<std::int64_t>{6, 7, 2, 4}));
  ASSERT_EQ(lines.size(), 4u);
  for (int i : {2, 3}) {
    const Message& original = ms[i == 2 ? 1 : 3];
    SCOPED_TRACE("replayed order " + std::to_string(original.data["ordernr"].get<int>()));
    EXPECT_EQ(lines[i]["id"], original.id) << "the original id, for receivers that deduplicate";
    EXPECT_EQ(lines[i]["type"], original.type);
    EXPECT_EQ(lines[i]["data"], original.data);
    EXPECT_EQ(lines[i]["created"], outbox::format_timestamp(original.created));
    EXPECT_EQ(lines[i]["headers"][outbox::kReplayedFromHeader], std::to_string(original.position));
    EXPECT_EQ(lines[i]["headers"][outbox::kReplayForHeader], "billing");
  }
  EXPECT_EQ(drain("audit"), (std::vector<std::int64_t>{6, 7})) << "audit had the originals";
  for (const auto& c : store->status(kOutbox).consumers) {
    EXPECT_EQ(c.lag_messages, 0) << c.name << " passed everything, the other consumer's replays included";
  }

  EXPECT_TRUE(store->replay_dead_letters(kOutbox, of("billing"), false).empty()) << "idempotent";
  EXPECT_TRUE(store->replay_dead_letters(kOutbox, id(before[0].id), false).empty()) << "idempotent, by id";
  EXPECT_TRUE(drain("billing").empty()) << "nothing was replayed twice";
  EXPECT_EQ(store->status(kOutbox).count, 9);
}

// Replay without a consumer takes every consumer's dead letters, each back to its own consumer.
TEST_P(DeadLetterOps, ReplayOfEveryConsumerSendsEachMessageToItsOwnConsumer) {
  store->init(kOutbox);
  commit(orders(1, 3));
  const auto ms = read(3);
  ASSERT_EQ(ms.size(), 3u);
  ASSERT_EQ(drain("billing").size(), 3u);
  ASSERT_EQ(drain("audit").size(), 3u);
  store->dead_letter("audit", ms[2], "refused", 1);
  store->dead_letter("billing", ms[0], "refused", 1);
  const auto replayed = store->replay_dead_letters(kOutbox, {}, false);
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_EQ(replayed[0].consumer, "billing");
  EXPECT_EQ(replayed[1].consumer, "audit");
  EXPECT_EQ(drain("billing"), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(drain("audit"), (std::vector<std::int64_t>{3}));
  EXPECT_EQ(drain("other"), (std::vector<std::int64_t>{1, 2, 3})) << "a consumer that never ran: originals only";
  EXPECT_TRUE(dead_ids().empty());
}

// While a relay holds billing's lease, replay and purge of anything of billing's are refused and
// change nothing (not even the other consumers' part of the selection); another consumer's dead
// letters can still be replayed; with force, billing's are replayed too.
TEST_P(DeadLetterOps, ReplayAndPurgeRefuseWhileARelayHoldsTheConsumerUnlessForced) {
  store->init(kOutbox);
  commit(orders(1, 3));
  const auto ms = read(3);
  ASSERT_EQ(ms.size(), 3u);
  store->dead_letter("billing", ms[0], "refused", 1);
  store->dead_letter("audit", ms[1], "refused", 1);
  const auto before = dead_ids();
  store->acquire({kOutbox, "billing", "relay-billing"}, 30s);

  try {
    store->replay_dead_letters(kOutbox, {}, false);
    ADD_FAILURE() << "replay went ahead while a relay holds billing";
  } catch (const outbox::ConsumerInUse& e) {
    EXPECT_EQ(e.consumer(), "billing");
    EXPECT_EQ(e.owner(), "relay-billing");
    EXPECT_NE(std::string(e.what()).find("relay-billing"), std::string::npos) << e.what();
  }
  EXPECT_THROW(store->replay_dead_letters(kOutbox, id(before[0]), false), outbox::ConsumerInUse);
  EXPECT_THROW(store->purge_dead_letters(kOutbox, {.older_than = 0s}, false), outbox::ConsumerInUse);
  EXPECT_THROW(store->purge_dead_letters(kOutbox, of("billing"), false), outbox::ConsumerInUse);
  EXPECT_EQ(dead_ids(), before) << "nothing changed";
  EXPECT_EQ(store->status(kOutbox).count, 3) << "nothing appended";

  EXPECT_EQ(store->replay_dead_letters(kOutbox, of("audit"), false).size(), 1u) << "leases are per consumer";
  const auto forced = store->replay_dead_letters(kOutbox, of("billing"), true);
  ASSERT_EQ(forced.size(), 1u);
  EXPECT_EQ(forced[0].message_id, ms[0].id);
  EXPECT_TRUE(dead_ids().empty());
  EXPECT_EQ(store->status(kOutbox).count, 5);

  store->dead_letter("billing", ms[2], "refused", 1);
  EXPECT_THROW(store->purge_dead_letters(kOutbox, {}, false), outbox::ConsumerInUse);
  EXPECT_EQ(store->purge_dead_letters(kOutbox, {}, true).size(), 1u) << "forced";
  store->release({kOutbox, "billing", "relay-billing"});
}

// Purge deletes by id (once: a second purge finds nothing) and by age (what failed at least that
// long ago), optionally of one consumer, and appends nothing.
TEST_P(DeadLetterOps, PurgeDeletesByIdAndByAge) {
  store->init(kOutbox);
  commit(orders(1, 4));
  const auto ms = read(4);
  ASSERT_EQ(ms.size(), 4u);
  store->dead_letter("billing", ms[0], "refused", 1);
  store->dead_letter("billing", ms[1], "refused", 1);
  store->dead_letter("audit", ms[2], "refused", 1);
  auto ids = dead_ids();
  ASSERT_EQ(ids.size(), 3u);

  const auto purged = store->purge_dead_letters(kOutbox, id(ids[1]), false);
  ASSERT_EQ(purged.size(), 1u);
  EXPECT_EQ(purged[0].id, ids[1]);
  EXPECT_EQ(purged[0].consumer, "billing");
  EXPECT_EQ(purged[0].message.id, ms[1].id);
  EXPECT_TRUE(store->purge_dead_letters(kOutbox, id(ids[1]), false).empty()) << "idempotent";
  EXPECT_TRUE(store->purge_dead_letters(kOutbox, {.id = ids[2], .consumer = "billing"}, false).empty())
      << "the id is audit's";
  EXPECT_EQ(dead_ids(), (std::vector<std::int64_t>{ids[0], ids[2]}));

  EXPECT_TRUE(store->purge_dead_letters(kOutbox, {.older_than = 1h}, false).empty()) << "all are younger";
  std::this_thread::sleep_for(1100ms);
  store->dead_letter("billing", ms[3], "refused", 1);
  const auto young_written = std::chrono::steady_clock::now();
  const auto aged = store->purge_dead_letters(kOutbox, {.consumer = "billing", .older_than = 1s}, false);
  const bool prompt = std::chrono::steady_clock::now() - young_written < 1s;
  ASSERT_GE(aged.size(), 1u);
  EXPECT_EQ(aged[0].id, ids[0]) << "billing's old one";
  if (prompt) {  // else the new one may have aged past 1 s too: nothing to conclude about it
    EXPECT_EQ(aged.size(), 1u) << "the dead letter written just now is younger than 1 s";
  }
  const auto left = dead_ids();
  EXPECT_EQ(std::count(left.begin(), left.end(), ids[0]), 0) << "purged";
  const auto rest = store->purge_dead_letters(kOutbox, {.older_than = 0s}, false);
  EXPECT_EQ(rest.size(), 3u - aged.size()) << "0s: every one";
  EXPECT_TRUE(dead_ids().empty());
  EXPECT_EQ(store->status(kOutbox).count, 4) << "purge appends nothing";
}
