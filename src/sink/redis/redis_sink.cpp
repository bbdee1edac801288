#include "redis_sink.hpp"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/time.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <vector>

#include "outbox/errors.hpp"

namespace outbox::redis::detail {

namespace {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

timeval to_timeval(std::int64_t ms) {
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

// One command's words, kept alive until hiredis has copied them into its output buffer.
struct Command {
  std::vector<std::string> words;
  void append_to(redisContext* c) const {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(words.size());
    lengths.reserve(words.size());
    for (const auto& w : words) {
      argv.push_back(w.data());
      lengths.push_back(w.size());
    }
    redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data());
  }
};

// hiredis writes to its socket with write(), so a write to a connection the server has closed
// raises SIGPIPE, which kills a process that does not ignore it (the CLI does; a service running
// the relay in-process may not). This blocks SIGPIPE on the publishing thread while hiredis works
// and discards one raised meanwhile, so the write just fails with EPIPE and the batch is retried.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;  // not ours: left for its owner
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlocked() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t pipe_{}, old_{};
  bool was_pending_ = false;
};

std::string error_text(const redisReply* r) {
  if (r->str == nullptr) return "unexpected reply of type " + std::to_string(r->type);
  return std::string(r->str, r->len);
}

// Errors that the same command may get past later: the server is out of memory (maxmemory with a
// noeviction policy), loading its data after a restart, busy with a script, a replica that cannot
// take writes during a failover, or our credentials were refused (a configuration to fix, not a
// reason to dead-letter every message). Everything else (WRONGTYPE: the key holds something that
// is not a stream; ERR; NOPERM: an ACL refuses this stream; MOVED/ASK: a Redis Cluster, which this
// sink does not support) will not change by resending.
bool retryable_error(const std::string& e) {
  for (const char* prefix : {"OOM", "LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "READONLY", "NOREPLICAS",
                             "CLUSTERDOWN", "NOAUTH", "WRONGPASS"}) {
    if (e.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

std::string connection_error(redisContext* c, std::int64_t timeout_ms) {
  if (c == nullptr) return "cannot allocate a Redis connection";
  if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    return "no answer within " + std::to_string(timeout_ms) + " ms";
  }
  return c->errstr[0] ? std::string(c->errstr) : "connection lost";
}

}  // namespace

RedisSink::RedisSink(SinkOptions options)
    : options_(std::move(options)),
      stream_(options_.stream, "stream"),
      envelope_{options_.cloudevents, options_.cloudevents_source} {
  if (options_.host.empty()) throw UsageError("the Redis sink needs a host: redis://HOST:PORT/STREAM");
  if (options_.port < 1 || options_.port > 65535) throw UsageError("the Redis sink's port must be 1 to 65535");
  if (options_.maxlen < 0) throw UsageError("the Redis sink's maxlen must not be negative");
  if (options_.connect_timeout_ms <= 0 || options_.command_timeout_ms <= 0) {
    throw UsageError("the Redis sink's timeouts must be positive");
  }
  // No connection yet: a Redis that is down at start is waited for like one that goes down later.
}

RedisSink::~RedisSink() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

std::string RedisSink::describe() const {
  std::string who;
  if (!options_.password.empty()) who = options_.user + ":***@";
  const bool v6 = options_.host.find(':') != std::string::npos;
  return "redis://" + who + (v6 ? "[" + options_.host + "]" : options_.host) + ":" + std::to_string(options_.port) +
         "/" + options_.stream;
}

std::string RedisSink::health() const {
  std::lock_guard lock(health_mutex_);
  return health_;
}

void RedisSink::set_health(std::string text) {
  std::lock_guard lock(health_mutex_);
  if (text != "ok" && text != health_) spdlog::warn("{}", text);
  health_ = std::move(text);
}

void RedisSink::disconnect(const std::string& why) {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
  set_health("redis " + options_.host + ":" + std::to_string(options_.port) + ": " + why);
}

bool RedisSink::connect() {
  if (ctx_ != nullptr) return true;
  ctx_ = redisConnectWithTimeout(options_.host.c_str(), options_.port, to_timeval(options_.connect_timeout_ms));
  if (ctx_ == nullptr || ctx_->err) {
    disconnect("cannot connect: " + connection_error(ctx_, options_.connect_timeout_ms));
    return false;
  }
  // A stalled server fails the batch (retryable) instead of holding the relay forever.
  if (redisSetTimeout(ctx_, to_timeval(options_.command_timeout_ms)) != REDIS_OK) {
    disconnect("cannot set the command timeout: " + connection_error(ctx_, options_.command_timeout_ms));
    return false;
  }
  if (!options_.password.empty()) {
    Command auth{{"AUTH"}};
    if (!options_.user.empty()) auth.words.push_back(options_.user);
    auth.words.push_back(options_.password);
    auth.append_to(ctx_);
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK) {
      disconnect("AUTH: " + connection_error(ctx_, options_.command_timeout_ms));
      return false;
    }
    const Reply reply(static_cast<redisReply*>(raw));
    if (reply->type == REDIS_REPLY_ERROR) {
      disconnect("AUTH refused: " + error_text(reply.get()));
      return false;
    }
  }
  return true;
}

void RedisSink::do_publish(std::span<const Message> batch) {
  if (batch.empty()) return;
  const SigpipeBlocked no_sigpipe;
  if (!connect()) {
    const std::string why = health();
    for (const auto& m : batch) report(m.position, Outcome::retryable, why);
    return;
  }

  // MULTI ... EXEC makes the batch all-or-nothing for errors found while queueing (OOM above all),
  // so a message refused for lack of memory is never overtaken by a later one of the batch that
  // Redis stored anyway; and it is still one round trip.
  Command{{"MULTI"}}.append_to(ctx_);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const Message& m = batch[i];
    Command xadd{{"XADD", stream_.render(m)}};
    if (options_.maxlen > 0) {
      xadd.words.insert(xadd.words.end(), {"MAXLEN", "~", std::to_string(options_.maxlen)});
    }
    xadd.words.emplace_back("*");
    for (auto& h : envelope_headers(m, envelope_, "ce_")) {
      xadd.words.push_back(std::move(h.name));
      xadd.words.push_back(std::move(h.value));
    }
    // Last, so that a message header named "key" or "data" comes first and a reader that keeps
    // the last value of a field gets the real one.
    if (m.key) xadd.words.insert(xadd.words.end(), {"key", *m.key});
    xadd.words.insert(xadd.words.end(), {"data", serialized_data(m)});
    xadd.append_to(ctx_);
  }
  Command{{"EXEC"}}.append_to(ctx_);

  // Every message gets exactly one outcome; `failed` carries the first failure to those after it.
  std::size_t resolved = 0;
  bool failed = false;
  auto resolve = [&](Outcome outcome, std::string error) {
    const Message& m = batch[resolved++];
    if (outcome == Outcome::ok) {
      report(m.position, Outcome::ok);
    } else {
      report(m.position, outcome, std::move(error));
      failed = true;
    }
  };
  auto fail_rest = [&](const std::string& why) {
    while (resolved < batch.size()) resolve(Outcome::retryable, why);
  };
  auto read = [&]() -> Reply {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK) return nullptr;
    return Reply(static_cast<redisReply*>(raw));
  };
  auto lost = [&] {
    // The server may or may not have run EXEC: everything is resent, and consumers drop
    // duplicates by id. A lost connection ends a transaction before EXEC, so never half of it.
    const std::string why = connection_error(ctx_, options_.command_timeout_ms);
    disconnect(why);
    fail_rest("redis: " + why + " (sent again after reconnecting)");
  };

  const Reply multi = read();
  if (!multi) return lost();
  std::optional<std::string> queue_error;  // the first command Redis refused to queue
  std::size_t queue_error_at = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const Reply queued = read();
    if (!queued) return lost();
    if (queued->type == REDIS_REPLY_ERROR && !queue_error) {
      queue_error = error_text(queued.get());
      queue_error_at = i;
    }
  }
  const Reply exec = read();
  if (!exec) return lost();

  if (exec->type != REDIS_REPLY_ARRAY && !queue_error) {
    // Not an answer EXEC gives when every command was queued; whatever it is, nothing counts as
    // stored, and the connection is not trusted any more.
    const std::string why = error_text(exec.get());
    disconnect("EXEC answered: " + why);
    return fail_rest("redis: EXEC answered: " + why);
  }
  if (exec->type != REDIS_REPLY_ARRAY) {
    // EXECABORT after a refused command: nothing of the batch was stored.
    const std::string why = *queue_error;
    const bool retry = retryable_error(why);
    while (resolved < batch.size()) {
      if (resolved == queue_error_at) {
        resolve(retry ? Outcome::retryable : Outcome::permanent, "redis: " + why);
      } else {
        const Message& m = batch[resolved++];
        report(m.position, Outcome::retryable,
               "redis: not sent: message at position " + std::to_string(batch[queue_error_at].position) +
                   " of the same transaction was refused");
      }
    }
    set_health(retry ? "redis: " + why : "ok");
    return;
  }
  if (exec->elements != batch.size()) {
    disconnect("EXEC answered " + std::to_string(exec->elements) + " replies for " + std::to_string(batch.size()) +
               " commands");
    return fail_rest("redis: unexpected reply to EXEC (sent again after reconnecting)");
  }
  std::string retry_health;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const redisReply* r = exec->element[i];
    if (failed) {
      // Redis ran it (EXEC does not stop at an error), but it is reported failed so that it is
      // resent after the failed message: per-key order holds for a consumer that drops duplicates.
      resolve(Outcome::retryable, "redis: not sent: an earlier message failed");
    } else if (r->type == REDIS_REPLY_STRING) {
      resolve(Outcome::ok, {});
    } else if (r->type == REDIS_REPLY_ERROR) {
      const std::string e = error_text(r);
      if (retryable_error(e)) retry_health = "redis: " + e;
      resolve(retryable_error(e) ? Outcome::retryable : Outcome::permanent, "redis: " + e);
    } else {
      resolve(Outcome::permanent, "redis: XADD answered with reply type " + std::to_string(r->type));
    }
  }
  set_health(retry_health.empty() ? "ok" : retry_health);
}

}  // namespace outbox::redis::detail

namespace outbox::redis {
std::unique_ptr<Sink> make_sink(const SinkOptions& options) { return std::make_unique<detail::RedisSink>(options); }
}  // namespace outbox::redis
