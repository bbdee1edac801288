// Reads back what the relay published to JetStream, as a consumer would (an ordered push
// consumer through libnats), and sets up streams. Shared by the NATS integration tests, the
// end-to-end matrix and the benchmark.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace testing_nats {

using namespace std::chrono_literals;

// One published message as a JetStream consumer sees it.
struct Record {
  std::string subject;
  std::uint64_t sequence = 0;
  std::string data;
  std::map<std::string, std::string> headers;
};

// A connection and JetStream context for the test's own reads and stream set-up.
class Client {
 public:
  explicit Client(const std::string& url) {
    if (natsConnection_ConnectTo(&nc_, url.c_str()) != NATS_OK) throw std::runtime_error("cannot connect to " + url);
    if (natsConnection_JetStream(&js_, nc_, nullptr) != NATS_OK) throw std::runtime_error("no JetStream context");
  }
  ~Client() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
  }

  void add_stream(const std::string& name, const std::vector<std::string>& subjects) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    std::vector<const char*> s;
    for (const auto& x : subjects) s.push_back(x.c_str());
    cfg.Name = name.c_str();
    cfg.Subjects = s.data();
    cfg.SubjectsLen = static_cast<int>(s.size());
    cfg.Storage = js_FileStorage;
    jsErrCode code;
    if (js_AddStream(nullptr, js_, &cfg, nullptr, &code) != NATS_OK) {
      throw std::runtime_error("cannot add stream " + name + ": " + nats_GetLastError(nullptr));
    }
  }

  // Everything in `stream` on `subjects` (a filter), in stream order, through an ordered (ephemeral) push consumer;
  // stops after `expected` records and then `settle` without more (to catch extra ones) or at `timeout`.
  std::vector<Record> read(const std::string& stream, const std::string& subjects, std::size_t expected,
                           std::chrono::milliseconds timeout = 30s, std::chrono::milliseconds settle = 300ms) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverAll;
    natsSubscription* sub = nullptr;
    jsErrCode code;
    if (js_SubscribeSync(&sub, js_, subjects.c_str(), nullptr, &so, &code) != NATS_OK) {
      throw std::runtime_error("cannot read stream " + stream + ": " + nats_GetLastError(nullptr));
    }
    std::vector<Record> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      natsMsg* m = nullptr;
      const auto wait = out.size() >= expected ? settle : 200ms;
      if (natsSubscription_NextMsg(&m, sub, wait.count()) != NATS_OK) {
        if (out.size() >= expected) break;
        continue;
      }
      Record r;
      r.subject = natsMsg_GetSubject(m);
      r.data.assign(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
        r.sequence = meta->Sequence.Stream;
        jsMsgMetaData_Destroy(meta);
      }
      const char** keys = nullptr;
      int n = 0;
      if (natsMsgHeader_Keys(m, &keys, &n) == NATS_OK) {
        for (int i = 0; i < n; ++i) {
          const char* v = nullptr;
          if (natsMsgHeader_Get(m, keys[i], &v) == NATS_OK) r.headers[keys[i]] = v;
        }
        free(keys);
      }
      natsMsg_Destroy(m);
      out.push_back(std::move(r));
    }
    natsSubscription_Destroy(sub);
    return out;
  }

  std::uint64_t stream_messages(const std::string& stream) {
    jsStreamInfo* si = nullptr;
    if (js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, nullptr) != NATS_OK) return 0;
    const std::uint64_t n = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return n;
  }

  bool has_stream(const std::string& stream) {
    jsStreamInfo* si = nullptr;
    const bool found = js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, nullptr) == NATS_OK;
    jsStreamInfo_Destroy(si);
    return found;
  }

 private:
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

inline std::string unique(const std::string& base) {
  static std::mt19937_64 rng{std::random_device{}()};
  return base + std::to_string(rng() % 1000000000);
}

// Positions in stream order, per key: each key's first deliveries must be in increasing position.
inline std::size_t per_key_reorders(const std::vector<Record>& records) {
  std::map<std::string, std::int64_t> last;
  std::set<std::int64_t> seen;
  std::size_t reorders = 0;
  for (const auto& r : records) {
    const std::int64_t p = std::stoll(r.headers.at("position"));
    if (!seen.insert(p).second) continue;  // a duplicate; its first copy counted
    const std::string key = r.headers.count("Outbox-Key") ? r.headers.at("Outbox-Key") : "";
    if (last.count(key) && p < last[key]) ++reorders;
    last[key] = p;
  }
  return reorders;
}

}  // namespace testing_nats
