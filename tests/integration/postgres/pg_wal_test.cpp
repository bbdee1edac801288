// WAL mode (docs/postgres.md, "WAL mode") against a real cluster with wal_level=logical: init and
// its refusals, puts of every kind, commit order, relays that resume from their checkpoint, and
// the slot's retained WAL in status.
#include <thread>

#include "outbox/relay.hpp"
#include "outbox/sink.hpp"
#include "pg_wal_fixture.hpp"

using namespace testing_pg;
using namespace std::chrono_literals;
using outbox::postgres::Mode;
using testing_support::read_lines;

namespace {

std::string slot_of(const std::string& outbox, const std::string& consumer = "default") {
  // The name scheme of src/store/postgres/wal_layout.cpp is not public: find it by its readable part.
  return "outbox_" + outbox + "_" + consumer + "_%";
}

outbox::TailOptions for_consumer(const std::string& consumer) {
  outbox::TailOptions o;
  o.consumer = consumer;
  return o;
}

outbox::ConsumerRef consumer_ref(const std::string& outbox, const std::string& consumer = "default") {
  return {outbox, consumer, "test-relay"};
}

}  // namespace

TEST_F(WalTest, InitCreatesTheSlotAndPublicationAndNoTable) {
  EXPECT_EQ(scalar(*a,
                   "SELECT count(*) FROM pg_replication_slots WHERE plugin = 'pgoutput' AND slot_type = "
                   "'logical' AND slot_name LIKE '" +
                       slot_of(name) + "'"),
            "1");
  EXPECT_EQ(scalar(*a, "SELECT count(*) FROM pg_publication WHERE pubname = 'outbox_" + name + "'"), "1");
  EXPECT_EQ(scalar(*a, "SELECT mode FROM outbox__outboxes WHERE name = '" + name + "'"), "wal");
  EXPECT_EQ(scalar(*a, "SELECT to_regclass('outbox_" + name + "') IS NULL"), "t");
  orders->init(*a);  // idempotent
  EXPECT_EQ(scalar(*a, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '" + slot_of(name) + "'"), "1");
  // The CLI sees it as an outbox, and a store opened without the option uses the stored mode.
  auto store = outbox::open_store(uri);
  EXPECT_NO_THROW(store->init(name));
  const auto outboxes = store->outboxes();
  EXPECT_NE(std::find(outboxes.begin(), outboxes.end(), name), outboxes.end());
}

TEST_F(WalTest, TheStoredModeWins) {
  outbox::postgres::Outbox as_table(name, order_schemas());
  try {
    as_table.init(*a);
    FAIL() << "init in table mode of a WAL-mode outbox succeeded";
  } catch (const outbox::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("exists in wal mode"), std::string::npos) << e.what();
  }
  EXPECT_EQ(scalar(*a, "SELECT to_regclass('outbox_" + name + "') IS NULL"), "t");
  // A writer configured for table mode still emits into the WAL: put reads the stored mode.
  exec(*a, "BEGIN");
  const auto m = as_table.put(*a, order_created(1));
  exec(*a, "COMMIT");
  EXPECT_EQ(as_table.mode(), Mode::wal);
  auto tail = outbox::open_store(uri)->tail(name, outbox::Cursor::beginning());
  const auto got = drain(*tail, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, m.id);
  // A store URI asking for the other mode is refused, naming the stored one.
  const testing_support::Run r = cli("status --store '" + with_mode(uri, "table") + "' --outbox " + name);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("is in wal mode"), std::string::npos) << r.output;
}

TEST_F(WalTest, InitRefusesARoleWithoutTheReplicationPrivilege) {
  const std::string role = "r_" + name.substr(0, 40);
  exec(*a, "DROP ROLE IF EXISTS " + role);
  exec(*a, "CREATE ROLE " + role + " LOGIN NOREPLICATION");
  const std::string role_uri = uri.substr(0, uri.find("://") + 3) + role + uri.substr(uri.find('@'));
  {
    Conn c(role_uri);
    outbox::postgres::OutboxOptions o;
    o.mode = Mode::wal;
    outbox::postgres::Outbox other(name + "_r", order_schemas(), o);
    try {
      other.init(c);
      FAIL() << "init in WAL mode succeeded for a role without REPLICATION";
    } catch (const outbox::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("REPLICATION privilege"), std::string::npos) << e.what();
    }
  }
  exec(*a, "DROP ROLE " + role);
}

// Slot names are per server, not per database: a second database's WAL-mode outbox of the same
// name used to take over the first one's slots (its status then failed on the first database's
// publication). init now refuses it, naming the database that has the slot, before creating
// anything; so does `outbox init`, with exit 2.
TEST_F(WalTest, InitRefusesAnOutboxNameWhoseSlotBelongsToAnotherDatabase) {
  const std::string other_db = "w_other_" + std::to_string(getpid());
  exec(*a, "DROP DATABASE IF EXISTS " + other_db);
  exec(*a, "CREATE DATABASE " + other_db);
  // The same server URI naming the other database (with_dbname gives a conninfo string, to which
  // with_mode could not add outboxMode).
  std::string other_uri = uri;
  const auto path = other_uri.find('/', other_uri.find("://") + 3);
  ASSERT_NE(path, std::string::npos) << "not a postgresql:// URI: " << uri;
  other_uri.replace(path + 1, other_uri.find('?', path) - path - 1, other_db);
  {
    Conn c(other_uri);
    outbox::postgres::OutboxOptions o;
    o.mode = Mode::wal;
    outbox::postgres::Outbox same_name(name, order_schemas(), o);
    try {
      same_name.init(c);
      ADD_FAILURE() << "a second database took outbox '" << name << "' and its slot";
    } catch (const outbox::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("belongs to database"), std::string::npos) << e.what();
    }
    EXPECT_EQ(scalar(c, "SELECT to_regclass('outbox__outboxes') IS NULL"), "t") << "init created tables first";
    const testing_support::Run r = cli("init --store '" + with_mode(other_uri, "wal") + "' --outbox " + name);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("choose another outbox name"), std::string::npos) << r.output;
  }
  exec(*a, "DROP DATABASE " + other_db + " WITH (FORCE)");
  // The first database's outbox is untouched.
  put_committed(1, 2);
  auto store = outbox::open_store(uri);
  EXPECT_NO_THROW(store->status(name));
}

TEST_F(WalTest, PrintSqlPrintsWhatInitRuns) {
  const std::string other = name + "_p";
  const testing_support::Run r = cli("init --print-sql --store '" + with_mode(uri, "wal") + "' --outbox " + other);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("pg_create_logical_replication_slot"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("CREATE PUBLICATION"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("CREATE TABLE IF NOT EXISTS \"outbox_" + other + "\""), std::string::npos) << r.output;
  // What it prints creates the outbox.
  exec(*a, r.output);
  EXPECT_EQ(scalar(*a, "SELECT mode FROM outbox__outboxes WHERE name = '" + other + "'"), "wal");
  EXPECT_EQ(scalar(*a, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '" + slot_of(other) + "'"), "1");
  exec(*a, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE '" +
               slot_of(other) + "'");
}

TEST_F(WalTest, CommittedPutsAreDeliveredAndRolledBackOnesNever) {
  const auto first = put_committed(1, 3);
  exec(*a, "BEGIN");
  orders->put(*a, order_created(99));
  exec(*a, "ROLLBACK");
  const auto second = put_committed(4, 5);
  auto store = outbox::open_store(uri);
  ASSERT_FALSE(store->acquire(consumer_ref(name), 30s).has_value());
  auto tail = store->tail(name, outbox::Cursor::after(store->checkpoint_before(1)), for_consumer("default"));
  const auto got = drain(*tail, 5);
  EXPECT_EQ(ordernrs(got), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(tail->next(300ms).empty());
  // The position put returned is the one the tail reports (the LSN of the message's record).
  std::vector<std::int64_t> positions = first;
  positions.insert(positions.end(), second.begin(), second.end());
  std::vector<std::int64_t> seen;
  for (const auto& m : got) seen.push_back(m.position);
  EXPECT_EQ(seen, positions);
  // Within a transaction, every message but the last checkpoints part of it.
  ASSERT_EQ(got.size(), 5u);
  EXPECT_NE(got[0].checkpoint.find('+'), std::string::npos) << got[0].checkpoint;
  EXPECT_EQ(got[2].checkpoint.find('+'), std::string::npos) << got[2].checkpoint;
}

TEST_F(WalTest, DeliversInCommitOrderWhenTransactionsCommitOutOfBeginOrder) {
  Conn b(uri);
  exec(*a, "BEGIN");
  const auto early = orders->put(*a, order_created(1));  // written first, commits last
  put_committed(2, 2, b);
  put_committed(3, 3, b);
  exec(*a, "COMMIT");
  put_committed(4, 4, b);
  auto tail = outbox::open_store(uri)->tail(name, outbox::Cursor::beginning());
  const auto got = drain(*tail, 4);
  EXPECT_EQ(ordernrs(got), (std::vector<std::int64_t>{2, 3, 1, 4}));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[2].position, early.position);
  EXPECT_LT(got[2].position, got[0].position);  // positions follow the WAL, delivery follows commits
}

TEST_F(WalTest, PrepareInPipelineAndUntypedPutsWorkTheSame) {
  // prepare_put: the caller sends the statement itself, here in libpq's pipeline mode.
  outbox::Message m = order_created(1);
  const auto st = orders->prepare_put(m);
  ASSERT_EQ(PQenterPipelineMode(*a), 1);
  std::vector<const char*> values;
  for (const auto& p : st.params) values.push_back(p ? p->c_str() : nullptr);
  ASSERT_EQ(PQsendQueryParams(*a, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQsendQueryParams(*a, st.sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                              nullptr, 0),
            1);
  ASSERT_EQ(PQsendQueryParams(*a, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(*a), 1);
  std::string position;
  for (int statement = 0; statement < 3; ++statement) {
    PGresult* r = PQgetResult(*a);
    ASSERT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
        << "statement " << statement << ": " << PQresultErrorMessage(r);
    if (statement == 1) position = PQgetvalue(r, 0, 0);
    PQclear(r);
    ASSERT_EQ(PQgetResult(*a), nullptr);  // end of this statement's results
  }
  PGresult* sync = PQgetResult(*a);
  EXPECT_EQ(PQresultStatus(sync), PGRES_PIPELINE_SYNC);
  PQclear(sync);
  ASSERT_EQ(PQexitPipelineMode(*a), 1);
  // The CLI's put (untyped, in a transaction of its own).
  const std::string schema = "/tmp/outbox-wal-schema-" + name + ".json";
  std::ofstream(schema) << order_schemas_json();
  const testing_support::Run put = cli("put --store '" + uri + "' --outbox " + name + " --schema " + schema +
                                       " --type order_created --data '{\"ordernr\": 2}' --key k");
  std::filesystem::remove(schema);
  ASSERT_EQ(put.code, 0) << put.output;
  auto tail = outbox::open_store(uri)->tail(name, outbox::Cursor::beginning());
  const auto got = drain(*tail, 2);
  EXPECT_EQ(ordernrs(got), (std::vector<std::int64_t>{1, 2}));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(std::to_string(got[0].position), position);
  EXPECT_EQ(got[0].id, m.id);
  EXPECT_EQ(got[1].key.value_or(""), "k");
}

TEST_F(WalTest, ARelayDeliversEverythingInOrderAndResumesWithoutRepeats) {
  char tmpl[] = "/tmp/outbox-pg-wal-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string out = dir + "/out.jsonl";
  for (int t = 0; t < 10; ++t) put_committed(t * 30 + 1, t * 30 + 30);
  const testing_support::Run first =
      cli("relay --store '" + uri + "' --outbox " + name + " --sink file:" + out + " --drain");
  ASSERT_EQ(first.code, 0) << first.output;
  auto lines = read_lines(out);
  ASSERT_EQ(lines.size(), 300u) << first.output;
  for (std::size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i]["data"]["ordernr"], i + 1);
  // The slot was confirmed up to the saved checkpoint (the server may let that WAL go).
  auto store = outbox::open_store(uri);
  const auto st = store->status(name);
  ASSERT_FALSE(st.consumers.empty());
  const std::string checkpoint = st.consumers[0].checkpoint;
  ASSERT_EQ(checkpoint.rfind("pgwal:", 0), 0u) << checkpoint;
  // The relay's tail ends its stream only once the server handled its last confirmation: no
  // waiting here (ATailConfirmsTheLastSavedCheckpointBeforeItIsGone).
  EXPECT_EQ(scalar(*a, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name LIKE '" +
                           slot_of(name) + "'"),
            checkpoint.substr(6));
  // More commits, one of them late: a second run delivers exactly those.
  Conn late(uri);
  exec(late, "BEGIN");
  orders->put(late, order_created(1000));
  put_committed(301, 320);
  exec(late, "COMMIT");
  const testing_support::Run second =
      cli("relay --store '" + uri + "' --outbox " + name + " --sink file:" + out + " --drain");
  ASSERT_EQ(second.code, 0) << second.output;
  lines = read_lines(out);
  ASSERT_EQ(lines.size(), 321u) << second.output;
  for (std::size_t i = 300; i < 320; ++i) EXPECT_EQ(lines[i]["data"]["ordernr"], i + 1);
  EXPECT_EQ(lines[320]["data"]["ordernr"], 1000);
  std::filesystem::remove_all(dir);
}

// A relay saves its last checkpoint, then drops its tail, which confirms it to the slot on the
// way out. The server meanwhile keeps writing to the stream (the transactions it decodes, a
// keepalive after each), which the tail no longer reads: a tail that just sent its confirmation
// and closed lost it whenever the server process, finding the connection reset by the client, ended
// before it had read it (the slot then stayed at an earlier save). The confirmation must be handled
// by the time the tail is gone.
TEST_F(WalTest, ATailConfirmsTheLastSavedCheckpointBeforeItIsGone) {
  auto store = outbox::open_store(uri);
  ASSERT_FALSE(store->acquire(consumer_ref(name), 30s).has_value());
  const std::string confirmed_sql =
      "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name LIKE '" + slot_of(name) + "'";
  std::string last = store->checkpoint_before(1);
  for (int round = 0; round < 20; ++round) {
    put_committed(round * 2 + 1, round * 2 + 2);
    {
      auto tail = store->tail(name, outbox::Cursor::after(last), for_consumer("default"));
      const auto got = drain(*tail, 2);
      ASSERT_EQ(got.size(), 2u) << "round " << round;
      last = got.back().checkpoint;
      store->save_checkpoint(consumer_ref(name), last, 30s, "ok");
      // Traffic the tail will not read: another program's logical decoding messages.
      for (int i = 0; i < 5; ++i) exec(*a, "SELECT pg_logical_emit_message(true, 'another program', 'x')");
    }
    ASSERT_EQ(scalar(*a, confirmed_sql), last.substr(6)) << "round " << round;
  }
}

TEST_F(WalTest, AResumedTailSkipsWhatTheCheckpointPassedEvenInsideATransaction) {
  put_committed(1, 4);
  put_committed(5, 6);
  auto store = outbox::open_store(uri);
  std::string mid;
  {
    auto tail = store->tail(name, outbox::Cursor::beginning());
    const auto got = drain(*tail, 6);
    ASSERT_EQ(got.size(), 6u);
    mid = got[1].checkpoint;  // two of the first transaction's four
  }
  auto tail = store->tail(name, outbox::Cursor::after(mid));
  EXPECT_EQ(ordernrs(drain(*tail, 4)), (std::vector<std::int64_t>{3, 4, 5, 6}));
}

TEST_F(WalTest, StatusShowsTheWalTheSlotRetains) {
  auto store = outbox::open_store(uri);
  const auto before = store->status(name);
  ASSERT_EQ(before.consumers.size(), 1u);
  EXPECT_EQ(before.consumers[0].name, "default");
  ASSERT_TRUE(before.consumers[0].retained_wal_bytes.has_value());
  for (int t = 0; t < 20; ++t) put_committed(t * 50 + 1, t * 50 + 50);
  const auto after = store->status(name);
  ASSERT_TRUE(after.consumers[0].retained_wal_bytes.has_value());
  EXPECT_GT(*after.consumers[0].retained_wal_bytes, *before.consumers[0].retained_wal_bytes + 100'000);
  EXPECT_EQ(store->enforce_retention(name, outbox::RetentionPolicy{.max_count = 0}).deleted, 0);  // nothing to delete
  // What an operator reads: `outbox status --json`.
  const testing_support::Run r = cli("status --json --store '" + uri + "' --outbox " + name);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  ASSERT_TRUE(j[0]["consumers"][0].contains("retained_wal_bytes")) << r.output;
  EXPECT_GT(j[0]["consumers"][0]["retained_wal_bytes"].get<std::int64_t>(), 100'000) << r.output;
}

TEST_F(WalTest, ALostSlotFailsLoudly) {
  put_committed(1, 2);
  auto store = outbox::open_store(uri);
  ASSERT_FALSE(store->acquire(consumer_ref(name), 30s).has_value());
  {
    auto tail = store->tail(name, outbox::Cursor::after(store->checkpoint_before(1)), for_consumer("default"));
    const auto got = drain(*tail, 2);
    ASSERT_EQ(got.size(), 2u);
    store->save_checkpoint(consumer_ref(name), got.back().checkpoint, 30s, "ok");
  }
  store->release(consumer_ref(name));
  drop_slots(slot_of(name));
  const auto saved = store->acquire(consumer_ref(name), 30s);
  ASSERT_TRUE(saved.has_value());
  try {
    store->tail(name, outbox::Cursor::after(*saved), for_consumer("default"));
    FAIL() << "a tail started without its slot";
  } catch (const outbox::StoreError& e) {
    EXPECT_FALSE(e.retryable());
    EXPECT_NE(std::string(e.what()).find("is missing"), std::string::npos) << e.what();
  }
}

TEST_F(WalTest, AForeignMessageWithTheOutboxPrefixIsAnErrorNotACrash) {
  put_committed(1, 1);
  exec(*a, "BEGIN");
  exec(*a, "SELECT pg_logical_emit_message(true, 'outbox:" + name + "', 'not an envelope')");
  exec(*a, "COMMIT");
  exec(*a, "SELECT pg_logical_emit_message(true, 'outbox:" + name + "x', 'another prefix: ignored')");
  auto tail = outbox::open_store(uri)->tail(name, outbox::Cursor::beginning());
  EXPECT_EQ(ordernrs(drain(*tail, 1)), (std::vector<std::int64_t>{1}));
  try {
    drain(*tail, 1, 2s);
    FAIL() << "a malformed message was accepted";
  } catch (const outbox::StoreError& e) {
    EXPECT_FALSE(e.retryable());
    EXPECT_NE(std::string(e.what()).find("not an outbox message"), std::string::npos) << e.what();
  }
}

TEST_F(WalTest, SeekMovesOnlyForwardOfTheSlot) {
  put_committed(1, 3);
  auto store = outbox::open_store(uri);
  const std::string end = store->checkpoint_at_end(name);
  store->seek(name, "default", end);  // forward: the slot moves with it
  EXPECT_EQ(scalar(*a, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name LIKE '" +
                           slot_of(name) + "'"),
            end.substr(6));
  try {
    store->seek(name, "default", store->checkpoint_before(1));
    FAIL() << "seek behind the slot succeeded";
  } catch (const outbox::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("seeks only forward"), std::string::npos) << e.what();
  }
  put_committed(4, 4);
  ASSERT_EQ(store->acquire(consumer_ref(name), 30s).value_or(""), end);
  auto tail = store->tail(name, outbox::Cursor::after(end), for_consumer("default"));
  EXPECT_EQ(ordernrs(drain(*tail, 1)), (std::vector<std::int64_t>{4}));
}
