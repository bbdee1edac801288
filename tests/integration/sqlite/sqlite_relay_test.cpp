// The relay end to end on SQLite: to the file sink, across restarts, with dead letters, and the
// `outbox` CLI's behaviour (exit codes, SIGTERM, status).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <thread>

#include "cli_run.hpp"
#include "outbox/relay.hpp"
#include "outbox/sink.hpp"
#include "outbox/testing/scripted_sink.hpp"
#include "sqlite_fixture.hpp"

using namespace testing_sqlite;
using namespace std::chrono_literals;
using testing_support::cli;
using testing_support::read_lines;

namespace {

// Rejects messages of one type for good; accepts the rest.
class RejectingSink final : public outbox::Sink {
 public:
  std::string describe() const override { return "rejecting"; }

 protected:
  void do_publish(std::span<const outbox::Message> batch) override {
    for (const auto& m : batch) {
      if (m.type == "order_completed")
        report(m.position, outbox::Outcome::permanent, "refused by broker");
      else
        report(m.position, outbox::Outcome::ok);
    }
  }
};

// A relay on a thread of its own, publishing into a ScriptedSink that holds every outcome until
// released, beside another connection that can take the database's write lock (a busy writer).
// The relay's store waits for the lock (busy timeout 60 s) rather than fail while it is held. On
// the way out, also when a check failed, the lock is freed first, then the relay stopped.
class RelayBesideALockHolder {
 public:
  RelayBesideALockHolder(const std::string& uri, std::string path, outbox::RelayOptions o) : path_(std::move(path)) {
    outbox::StoreOptions store_options;
    store_options.busy_timeout = 60s;
    store_ = outbox::open_store(uri, store_options);
    sink.hold(true);
    o.stop_when_idle = false;
    o.batch_size = 10;
    o.idle_wait = 20ms;
    relay.emplace(*store_, sink, o);
    runner_ = std::thread([this] { relay->run(); });
  }
  ~RelayBesideALockHolder() {
    release_lock();
    stop();
  }
  void take_lock() {
    ASSERT_EQ(sqlite3_open(path_.c_str(), &writer_), SQLITE_OK);
    sqlite3_busy_timeout(writer_, 30000);  // the relay may be saving its cursor at this instant
    exec(writer_, "BEGIN IMMEDIATE");      // holds the write lock until release_lock()
  }
  void release_lock() {
    if (!writer_) return;
    sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close_v2(writer_);
    writer_ = nullptr;
  }
  void stop() {
    relay->stop();
    if (runner_.joinable()) runner_.join();
  }
  static bool eventually(const std::function<bool()>& pred) {  // a safety bound, not a measurement
    for (int i = 0; i < 1000 && !pred(); ++i) std::this_thread::sleep_for(10ms);
    return pred();
  }

  outbox::testing::ScriptedSink sink;
  std::optional<outbox::Relay> relay;

 private:
  std::string path_;
  std::unique_ptr<outbox::Store> store_;
  std::thread runner_;
  sqlite3* writer_ = nullptr;
};

}  // namespace

class SqliteRelay : public SqliteTest {
 protected:
  void put_committed(int from, int to, const char* type = "order_created") {
    exec(db, "BEGIN");
    for (int i = from; i <= to; ++i) {
      auto m = order_created(i, "order-" + std::to_string(i % 3));
      m.type = type;
      orders.put(db, m);
    }
    exec(db, "COMMIT");
  }
  outbox::RelayOptions options() {
    outbox::RelayOptions o;
    o.outbox = "orders";
    o.stop_when_idle = true;
    return o;
  }
};

TEST_F(SqliteRelay, PublishesEverythingOnceAcrossCleanRestarts) {
  const std::string out = dir + "/out.jsonl";
  put_committed(1, 300);
  {
    auto store = outbox::open_store(uri());
    auto sink = outbox::open_sink("file:" + out);
    outbox::Relay(*store, *sink, options()).run();
  }
  put_committed(301, 450);
  {
    auto store = outbox::open_store(uri());
    auto sink = outbox::open_sink("file:" + out);
    outbox::Relay(*store, *sink, options()).run();
  }
  const auto lines = read_lines(out);
  ASSERT_EQ(lines.size(), 450u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["position"], static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(lines[i]["data"]["ordernr"], static_cast<std::int64_t>(i + 1));
  }
  EXPECT_EQ(outbox::open_store(uri())->status("orders").consumers.at(0).lag_messages, 0);
}

TEST_F(SqliteRelay, PermanentRejectionIsDeadLetteredInTheDatabase) {
  put_committed(1, 3);
  put_committed(4, 4, "order_completed");
  put_committed(5, 6);
  auto store = outbox::open_store(uri());
  RejectingSink sink;
  auto o = options();
  o.max_attempts = 2;
  o.backoff.initial = 1ms;
  outbox::Relay relay(*store, sink, o);
  relay.run();
  EXPECT_EQ(relay.stats().acknowledged, 5);
  EXPECT_EQ(relay.stats().dead_lettered, 1);
  const auto dead = store->dead_letters("orders", 10);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].message.position, 4);
  EXPECT_EQ(dead[0].error, "refused by broker");
  EXPECT_EQ(store->status("orders").consumers.at(0).lag_messages, 0) << "the stream must move past it";
}

TEST_F(SqliteRelay, RetentionRunsFromTheRelay) {
  put_committed(1, 100);
  auto store = outbox::open_store(uri());
  auto sink = outbox::open_sink("null:");
  auto o = options();
  outbox::RetentionPolicy p;
  p.max_count = 10;
  o.retention = p;
  o.retention_interval = 0s;
  outbox::Relay relay(*store, *sink, o);
  relay.run();
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox_orders"), 10);
}

// A checkpoint save is a write transaction: while another connection holds the write lock (a busy
// writer), it waits. The relay thread used to wait in it, and took in no acknowledgement (and read
// nothing) until the lock was free; the save now waits on the relay's saver thread.
TEST_F(SqliteRelay, AcknowledgementsGoOnWhileACheckpointSaveWaitsForTheWriteLock) {
  put_committed(1, 100);
  auto o = options();
  o.checkpoint_interval = 0ms;
  RelayBesideALockHolder r(uri(), path, o);
  const auto& eventually = RelayBesideALockHolder::eventually;
  ASSERT_TRUE(eventually([&] { return r.sink.pending() == 100; })) << "the relay read and published everything";
  r.take_lock();
  r.sink.release_if([](std::int64_t p) { return p <= 10; });
  ASSERT_TRUE(eventually([&] { return r.relay->stats().acknowledged == 10; }));
  std::this_thread::sleep_for(100ms);  // the relay posts the checkpoint of 10; its save waits for the lock
  r.sink.release_if([](std::int64_t) { return true; });
  EXPECT_TRUE(eventually([&] { return r.relay->stats().acknowledged == 100; }))
      << "acknowledged " << r.relay->stats().acknowledged << " of 100 while a checkpoint save waited for the lock";
  EXPECT_EQ(r.relay->stats().checkpoints, 0) << "no save can have finished while the lock is held";
  r.release_lock();
  EXPECT_TRUE(eventually([&] { return r.relay->stats().last_position == 100; }));
  r.stop();
  EXPECT_EQ(count(db, "SELECT position FROM outbox__consumers WHERE outbox = 'orders' AND consumer = 'default'"), 100);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox__consumers WHERE owner IS NOT NULL"), 0) << "lease released";
}

// A retention round is a write transaction too, and waited for the lock on the relay thread; it now
// waits on the relay's writer thread, and acknowledgements go on meanwhile.
TEST_F(SqliteRelay, AcknowledgementsGoOnWhileRetentionWaitsForTheWriteLock) {
  put_committed(1, 100);
  auto o = options();
  outbox::RetentionPolicy p;
  p.max_count = 10;
  o.retention = p;
  o.retention_interval = 0s;  // a round every turn: the first one after the lock is taken waits for it
  RelayBesideALockHolder r(uri(), path, o);
  const auto& eventually = RelayBesideALockHolder::eventually;
  ASSERT_TRUE(eventually([&] { return r.sink.pending() == 100; })) << "the relay read and published everything";
  r.take_lock();
  std::this_thread::sleep_for(100ms);  // the relay's turns go on; the next retention round waits for the lock
  r.sink.release_if([](std::int64_t) { return true; });
  EXPECT_TRUE(eventually([&] { return r.relay->stats().acknowledged == 100; }))
      << "acknowledged " << r.relay->stats().acknowledged << " of 100 while a retention round waited for the lock";
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox_orders"), 100) << "nothing can be deleted while the lock is held";
  r.release_lock();
  EXPECT_TRUE(eventually([&] { return r.relay->stats().last_position == 100; }));
  EXPECT_TRUE(eventually([&] { return count(db, "SELECT COUNT(*) FROM outbox_orders") == 10; }))
      << "retention deletes what the saved checkpoint passed once the lock is free";
  r.stop();
  EXPECT_EQ(r.relay->stats().retention_deleted, 90);
}

TEST_F(SqliteRelay, CliExitCodesAndErrors) {
  const std::string schema = dir + "/schema.json";
  std::ofstream(schema) << R"({"order_created": {"type": "object", "required": ["ordernr"]}})";
  const std::string base = "--store sqlite:" + path + " --outbox orders ";
  auto ok = cli("put " + base + "--schema " + schema +
                " --type order_created --data '{\"ordernr\": 1}' --key k1 --header traceparent=t1");
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_NE(ok.output.find("\"position\":1"), std::string::npos) << ok.output;

  auto invalid = cli("put " + base + "--schema " + schema + " --type order_created --data '{\"nr\": 1}'");
  EXPECT_EQ(invalid.code, 2) << invalid.output;
  EXPECT_NE(invalid.output.find("required"), std::string::npos) << invalid.output;
  EXPECT_EQ(cli("put " + base + "--schema " + schema + " --type order_created --data 'not json'").code, 2);
  EXPECT_EQ(cli("put " + base + "--schema " + schema + " --type nope --data '{}'").code, 2);
  EXPECT_EQ(cli("tail --store sqlite:" + path + " --outbox Bad-Name").code, 2);
  EXPECT_EQ(cli("tail " + base + "--from minus-one").code, 2);
  EXPECT_EQ(cli("frobnicate").code, 2);
  EXPECT_EQ(cli("status --store sqlite:/nonexistent-dir/x.db").code, 2);  // a mistyped path is bad input
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox_orders"), 1) << "rejected puts must write nothing";

  auto secret = cli("status --store postgresql://app:hunter2@localhost/db");
  EXPECT_NE(secret.code, 0);
  EXPECT_EQ(secret.output.find("hunter2"), std::string::npos) << secret.output;

  auto tail = cli("tail " + base);
  EXPECT_EQ(tail.code, 0);
  const auto line = nlohmann::json::parse(tail.output.substr(0, tail.output.find('\n')));
  EXPECT_EQ(line["key"], "k1");
  EXPECT_EQ(line["headers"]["traceparent"], "t1");

  for (const char* sub : {"init", "put", "tail", "relay", "status", "seek"}) {
    auto help = cli(std::string(sub) + " --help");
    EXPECT_EQ(help.code, 0) << sub;
    EXPECT_NE(help.output.find("--store"), std::string::npos) << sub;
  }
}

TEST_F(SqliteRelay, CliRelayStopsCleanlyOnSigtermAndStatusShowsNoLag) {
  put_committed(1, 50);
  const std::string out = dir + "/out.jsonl";
  const pid_t child = fork();
  if (child == 0) {
    execl(OUTBOX_CLI, OUTBOX_CLI, "relay", "--store", uri().c_str(), "--outbox", "orders", "--sink",
          ("file:" + out).c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 200 && read_lines(out).size() < 50; ++i) std::this_thread::sleep_for(50ms);
  put_committed(51, 60);  // a live commit while the relay runs
  for (int i = 0; i < 200 && read_lines(out).size() < 60; ++i) std::this_thread::sleep_for(50ms);
  kill(child, SIGTERM);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(read_lines(out).size(), 60u);
  auto st = cli("status --store " + uri() + " --outbox orders --json");
  ASSERT_EQ(st.code, 0) << st.output;
  const auto j = nlohmann::json::parse(st.output);
  EXPECT_EQ(j[0]["consumers"][0]["lag_messages"], 0);
  EXPECT_EQ(j[0]["consumers"][0]["position"], 60);
  EXPECT_EQ(j[0]["consumers"][0]["lease_active"], false) << "a clean stop releases the lease";
}

TEST_F(SqliteRelay, CliRelayServesPrometheusMetrics) {
  put_committed(1, 20);
  std::mt19937 rng(std::random_device{}());
  const int port = 20000 + static_cast<int>(rng() % 30000);
  const std::string address = "127.0.0.1:" + std::to_string(port);
  const pid_t child = fork();
  if (child == 0) {
    execl(OUTBOX_CLI, OUTBOX_CLI, "relay", "--store", uri().c_str(), "--outbox", "orders", "--sink",
          "null:", "--metrics", address.c_str(), nullptr);
    _exit(127);
  }
  httplib::Client client("127.0.0.1", port);
  std::string body;
  for (int i = 0; i < 100; ++i) {
    auto res = client.Get("/metrics");
    // The lag comes from a background reading of the store (at most about a second old).
    if (res && res->status == 200 &&
        res->body.find("outbox_relay_acknowledged_total{outbox=\"orders\",consumer=\"default\"} 20") !=
            std::string::npos &&
        res->body.find("outbox_consumer_lag_messages{outbox=\"orders\",consumer=\"default\"} 0") != std::string::npos) {
      body = res->body;
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  kill(child, SIGTERM);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_FALSE(body.empty()) << "no metrics with 20 acknowledged messages and lag 0 were served at " << address;
  EXPECT_NE(body.find("outbox_consumer_lag_messages{outbox=\"orders\",consumer=\"default\"} 0"), std::string::npos)
      << body;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// Retention as users run it: the real `outbox relay` process with --max-count, stopped by SIGTERM
// from outside. The relay restarted with retention runs its first round at once (on its writer
// thread, beside delivery) and deletes what the first run's saved checkpoint passed; the stop
// waits for that round before it releases the lease.
TEST_F(SqliteRelay, CliRelayWithRetentionDeletesWhatItPassedAndStopsCleanlyOnSigterm) {
  const std::string out = dir + "/out.jsonl";
  const auto run_until = [&](std::size_t lines, const char* max_count) {
    const pid_t child = fork();
    if (child == 0) {
      execl(OUTBOX_CLI, OUTBOX_CLI, "relay", "--store", uri().c_str(), "--outbox", "orders", "--sink",
            ("file:" + out).c_str(), "--max-count", max_count, nullptr);
      _exit(127);
    }
    for (int i = 0; i < 200 && read_lines(out).size() < lines; ++i) std::this_thread::sleep_for(50ms);
    kill(child, SIGTERM);
    int status = 0;
    waitpid(child, &status, 0);
    return status;
  };
  put_committed(1, 50);
  int status = run_until(50, "0");  // 0: no retention
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox_orders"), 50);
  put_committed(51, 60);
  status = run_until(60, "10");
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(read_lines(out).size(), 60u) << "each message once";
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM outbox_orders"), 10) << "the newest 10 are kept";
  EXPECT_EQ(count(db, "SELECT MIN(position) FROM outbox_orders"), 51);
  auto st = cli("status --store " + uri() + " --outbox orders --json");
  ASSERT_EQ(st.code, 0) << st.output;
  const auto j = nlohmann::json::parse(st.output);
  EXPECT_EQ(j[0]["consumers"][0]["position"], 60);
  EXPECT_EQ(j[0]["consumers"][0]["lease_active"], false) << "a clean stop releases the lease";
}
