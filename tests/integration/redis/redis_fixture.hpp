// The redis-server the ctest fixture started (scripts/redis/start.sh: AOF on, appendfsync always),
// a hiredis client to read back what the relay wrote, and an SQLite outbox to relay from.
#pragma once

#include <hiredis/hiredis.h>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <stdexcept>

#include "delivery_check.hpp"
#include "outbox/redis.hpp"
#include "outbox/relay.hpp"
#include "sink_test.hpp"

namespace testing_redis {

inline std::string state_dir() {
  const char* state = std::getenv("OUTBOX_REDIS_STATE");
  if (state == nullptr) throw std::runtime_error("OUTBOX_REDIS_STATE is not set: run these tests through ctest");
  return state;
}

inline int port() {
  std::ifstream env(state_dir() + "/env");
  for (std::string line; std::getline(env, line);) {
    if (line.rfind("REDIS_PORT=", 0) == 0) return std::stoi(line.substr(11));
  }
  throw std::runtime_error("no REDIS_PORT in " + state_dir() + "/env: did redis.server.start pass?");
}

inline std::string endpoint() { return "127.0.0.1:" + std::to_string(port()); }

inline std::string unique_stream(const std::string& base) {
  static std::mt19937_64 rng{std::random_device{}()};
  return base + "_" + std::to_string(rng() % 1000000000);
}

// scripts/redis/{stop,start}.sh on the fixture's server.
inline void run_script(const std::string& args) {
  const std::string cmd = std::string(OUTBOX_REDIS_SCRIPTS) + "/" + args + " --state " + state_dir() + " >/dev/null";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
}

struct Entry {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;  // in XADD order
  std::map<std::string, std::string> last;                  // field -> its last value
  std::int64_t position() const { return std::stoll(last.at("position")); }
};

class Client {
 public:
  Client() {
    c_ = redisConnect("127.0.0.1", port());
    if (c_ == nullptr || c_->err) throw std::runtime_error("cannot connect to the test redis-server");
  }
  ~Client() { redisFree(c_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs a command; throws on a connection error. The caller frees nothing.
  std::shared_ptr<redisReply> command(const std::vector<std::string>& words) {
    std::vector<const char*> argv;
    std::vector<size_t> len;
    for (const auto& w : words) {
      argv.push_back(w.data());
      len.push_back(w.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), len.data()));
    if (r == nullptr) throw std::runtime_error(std::string("redis: ") + c_->errstr);
    return std::shared_ptr<redisReply>(r, freeReplyObject);
  }

  std::int64_t xlen(const std::string& stream) { return command({"XLEN", stream})->integer; }

  // The whole stream, oldest first.
  std::vector<Entry> read(const std::string& stream) {
    std::vector<Entry> out;
    std::string from = "-";
    for (;;) {
      auto r = command({"XRANGE", stream, from, "+", "COUNT", "5000"});
      if (r->type != REDIS_REPLY_ARRAY)
        throw std::runtime_error("XRANGE " + stream + ": " + std::string(r->str, r->len));
      if (r->elements == 0) break;
      for (size_t i = 0; i < r->elements; ++i) {
        const redisReply* e = r->element[i];
        Entry entry;
        entry.id.assign(e->element[0]->str, e->element[0]->len);
        const redisReply* kv = e->element[1];
        for (size_t j = 0; j + 1 < kv->elements; j += 2) {
          std::string k(kv->element[j]->str, kv->element[j]->len), v(kv->element[j + 1]->str, kv->element[j + 1]->len);
          entry.last[k] = v;
          entry.fields.emplace_back(std::move(k), std::move(v));
        }
        out.push_back(std::move(entry));
      }
      from = "(" + out.back().id;  // exclusive start (Redis 6.2+)
    }
    return out;
  }

 private:
  redisContext* c_ = nullptr;
};

using testing_support::Check;

// What a consumer that drops duplicates by id sees (tests/support/delivery_check.hpp).
inline Check check(const std::vector<Entry>& entries, std::int64_t expected) {
  std::vector<testing_support::Delivered> delivered;
  for (const auto& e : entries)
    delivered.push_back({e.last.at("id"), e.position(), e.last.count("key") ? e.last.at("key") : std::string()});
  return testing_support::check_delivery(delivered, expected);
}

class RedisTest : public testing_sqlite::SinkTest {
 protected:
  std::string sink_uri(const std::string& stream, const std::string& query = "") const {
    return "redis://" + endpoint() + "/" + stream + query;
  }

  Client redis;
};

}  // namespace testing_redis
