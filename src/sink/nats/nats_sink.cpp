#include "nats_sink.hpp"

#include <nats/nats.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "outbox/errors.hpp"
#include "outbox/store.hpp"

namespace outbox::nats::detail {

namespace {

using Clock = std::chrono::steady_clock;

// libnats keeps the detail of the last error per thread; the status text alone is generic.
std::string last_error(natsStatus s) {
  const char* text = nats_GetLastError(nullptr);
  if (text == nullptr || *text == '\0') return natsStatus_GetText(s);
  std::string out = text;
  // It starts with libnats' source location, "(conn.c:2088): ", which tells an operator nothing.
  if (out.front() == '(') {
    if (const auto end = out.find("): "); end != std::string::npos) out.erase(0, end + 3);
  }
  return out;
}

void on_pub_ack(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* closure) {
  static_cast<NatsSink*>(closure)->acknowledged(msg, ack, error);
}

// JetStream errors that retrying the same message cannot cure.
bool permanent_js_error(jsErrCode code) {
  return code == JSStreamMessageExceedsMaximumErr || code == JSStreamSealedErr;
}

// A header line is "Name: value\r\n": a name with ':' or whitespace, or a line break anywhere,
// would corrupt the protocol stream (and end the connection for every message).
bool legal_header(const Header& h) {
  if (h.name.empty()) return false;
  for (char c : h.name) {
    if (c == ':' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
  }
  return h.value.find_first_of("\r\n") == std::string::npos;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

}  // namespace

NatsSink::NatsSink(SinkOptions options)
    : options_(std::move(options)),
      subject_(check_subject_template(options_.subject)),
      envelope_{options_.cloudevents, options_.cloudevents_source} {
  if (options_.servers.empty()) throw UsageError("the NATS sink needs a server: nats://HOST:PORT/SUBJECT");
  if (!options_.create_stream.empty() && !legal_stream_name(options_.create_stream)) {
    throw UsageError("create_stream='" + options_.create_stream + "' is not a JetStream stream name");
  }
  if (options_.ack_timeout_ms < 1 || options_.max_pending < 1 || options_.replicas < 1) {
    throw UsageError("the NATS sink's ack_timeout_ms, max_pending and replicas must be at least 1");
  }
  described_ = "nats://";
  if (!options_.user.empty()) described_ += options_.user + ":***@";
  for (std::size_t i = 0; i < options_.servers.size(); ++i) described_ += (i ? "," : "") + options_.servers[i];
  described_ += "/" + options_.subject;
  if (!options_.create_stream.empty()) described_ += "?create_stream=" + options_.create_stream;
  // Not connecting here: a server that is down when the relay starts is waited for like any
  // outage (publishes fail retryable and the relay backs off), not a reason to exit.
  monitor_ = std::thread([this] { monitor(); });
}

NatsSink::~NatsSink() {
  stopping_ = true;  // the monitor sees it within one 50 ms wait
  monitor_wake_.notify_all();
  monitor_.join();
  std::lock_guard lock(conn_mutex_);
  // Whatever still awaits a PubAck fails back to nobody: the relay checkpoints only acknowledged
  // messages, so the next relay publishes it again (and JetStream drops it if it was stored).
  if (nc_ != nullptr) drop_connection("nats: the sink was closed", false);
}

std::string NatsSink::describe() const { return described_; }

std::string NatsSink::health() const {
  std::lock_guard lock(health_mutex_);
  return health_;
}

void NatsSink::set_health(std::string h) {
  std::lock_guard lock(health_mutex_);
  if (h != health_ && h != "ok") spdlog::warn("{}", h);
  health_ = std::move(h);
}

void NatsSink::connect() {
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  std::vector<std::string> urls;
  for (const auto& server : options_.servers) urls.push_back("nats://" + server);
  std::vector<const char*> url_ptrs;
  url_ptrs.reserve(urls.size());
  for (const auto& u : urls) url_ptrs.push_back(u.c_str());
  if (s == NATS_OK) s = natsOptions_SetServers(opts, url_ptrs.data(), static_cast<int>(url_ptrs.size()));
  if (s == NATS_OK) s = natsOptions_SetNoRandomize(opts, true);
  if (s == NATS_OK && !options_.user.empty()) {
    s = natsOptions_SetUserInfo(opts, options_.user.c_str(), options_.password.c_str());
  }
  // See the class comment: a lost connection is replaced, never silently resumed.
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts, false);
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 2000);
  // A server that stops answering (without closing the socket) is noticed within ~10 s.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, 5000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, 2);
  if (s == NATS_OK) s = natsOptions_SetName(opts, "outbox relay");
  natsConnection* nc = nullptr;
  if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
  const std::string error = s == NATS_OK ? "" : last_error(s);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    natsConnection_Destroy(nc);
    set_health("nats: cannot connect to " + redact_uri(described_) + ": " + redact_uri(error));
    return;
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options_.ack_timeout_ms;
  jo.PublishAsync.MaxPending = options_.max_pending;
  jo.PublishAsync.AckHandler = on_pub_ack;
  jo.PublishAsync.AckHandlerClosure = this;
  // A publish beyond max_pending waits this long at a time; do_publish waits again while the
  // connection is healthy, so memory stays bounded without failing messages.
  jo.PublishAsync.StallWait = 200;
  jsCtx* js = nullptr;
  s = natsConnection_JetStream(&js, nc, &jo);
  if (s != NATS_OK) {
    set_health("nats: cannot open a JetStream context: " + last_error(s));
    natsConnection_Destroy(nc);
    return;
  }
  nc_ = nc;
  js_ = js;
  connect_backoff_ = std::chrono::milliseconds(100);
  set_health("ok");
  spdlog::info("nats: connected to {}", described_);
}

bool NatsSink::ensure_connected() {
  if (nc_ != nullptr && natsConnection_IsClosed(nc_)) {
    const char* text = nullptr;
    const natsStatus s = natsConnection_GetLastError(nc_, &text);
    drop_connection(std::string("nats: connection lost: ") + (text && *text ? text : natsStatus_GetText(s)));
  }
  if (nc_ == nullptr) connect();
  return nc_ != nullptr;
}

void NatsSink::drop_connection(const std::string& why, bool warn) {
  if (nc_ == nullptr) return;
  natsConnection_Close(nc_);
  // Take back what awaits a PubAck (no callback comes for it after this) and fail it.
  natsMsgList list{};
  // (libnats 3.4 crashes here on a context that never published asynchronously.)
  if (published_async_ && js_PublishAsyncGetPendingList(&list, js_) == NATS_OK) {
    std::lock_guard lock(state_mutex_);
    for (int i = 0; i < list.Count; ++i) {
      const auto it = pending_.find(list.Msgs[i]);
      if (it == pending_.end()) continue;
      const Entry e = it->second;
      pending_.erase(it);
      failed_seq_ = std::min(failed_seq_, e.seq);
      report(e.position, Outcome::retryable, why);
    }
    drained_.notify_all();
  }
  natsMsgList_Destroy(&list);
  // Acknowledgements already taken out of libnats' list are still being handled on its reply
  // thread; they end by erasing their entry. Only then may the context go away.
  {
    std::unique_lock lock(state_mutex_);
    drained_.wait(lock, [&] { return pending_.empty(); });
  }
  jsCtx_Destroy(js_);
  natsConnection_Destroy(nc_);
  js_ = nullptr;
  nc_ = nullptr;
  published_async_ = false;
  if (warn) set_health(why);
}

void NatsSink::fail(std::int64_t position, std::uint64_t seq, Outcome outcome, const std::string& error) {
  std::lock_guard lock(state_mutex_);
  failed_seq_ = std::min(failed_seq_, seq);
  report(position, outcome, error);
}

bool NatsSink::broken() const {
  std::lock_guard lock(state_mutex_);
  return failed_seq_ != kNone;
}

void NatsSink::acknowledged(natsMsg* msg, const jsPubAck* ack, const jsPubAckErr* error) {
  std::string health;
  {
    std::lock_guard lock(state_mutex_);
    const auto it = pending_.find(msg);
    if (it != pending_.end()) {
      const Entry e = it->second;
      pending_.erase(it);
      if (ack != nullptr) {
        if (e.seq > failed_seq_) {
          // Stored, but behind a message that failed: the relay resends both in order, and
          // JetStream drops this one as a duplicate (same Nats-Msg-Id within its window).
          report(e.position, Outcome::retryable, "nats: acknowledged after an earlier message failed; sent again");
        } else {
          report(e.position, Outcome::ok);
          health = "ok";
        }
      } else {
        failed_seq_ = std::min(failed_seq_, e.seq);
        Outcome outcome = Outcome::retryable;
        std::string text = error && error->ErrText ? error->ErrText : "unknown error";
        if (error && error->Err == NATS_NO_RESPONDERS) {
          // No stream took the message. Ask JetStream again before the next publish to this
          // subject: only a confirmed "no stream" is permanent (a restarting server can briefly
          // have no responders too).
          verified_.erase(e.subject);
          text = "no stream answered on subject '" + e.subject + "'";
        } else if (error && error->Err == NATS_TIMEOUT) {
          text = "no PubAck within " + std::to_string(options_.ack_timeout_ms) + " ms";
        } else if (error && permanent_js_error(error->ErrCode)) {
          outcome = Outcome::permanent;
        }
        health = "nats: " + text;
        report(e.position, outcome, "nats: subject '" + e.subject + "': " + text);
      }
      if (pending_.empty()) drained_.notify_all();
    }
  }
  natsMsg_Destroy(msg);
  if (!health.empty()) set_health(health);
}

bool NatsSink::check_stream(const std::string& subject, std::int64_t position, std::uint64_t seq) {
  {
    std::lock_guard lock(state_mutex_);
    if (verified_.count(subject)) return true;
  }
  // Which stream listens on this subject? (The JetStream API answers with the names.)
  const std::string request = nlohmann::json{{"subject", subject}}.dump();
  natsMsg* reply = nullptr;
  const natsStatus s =
      natsConnection_RequestString(&reply, nc_, "$JS.API.STREAM.NAMES", request.c_str(), options_.ack_timeout_ms);
  if (s != NATS_OK) {
    const std::string why = s == NATS_NO_RESPONDERS
                                ? "JetStream does not answer (is the server started with -js, and ready?)"
                                : last_error(s);
    fail(position, seq, Outcome::retryable, "nats: cannot look up the stream of subject '" + subject + "': " + why);
    return false;
  }
  const char* data = natsMsg_GetData(reply);
  nlohmann::json answer = nlohmann::json::parse(
      data ? std::string(data, static_cast<std::size_t>(natsMsg_GetDataLength(reply))) : std::string(), nullptr, false);
  natsMsg_Destroy(reply);
  if (answer.is_discarded() || !answer.is_object()) {
    fail(position, seq, Outcome::retryable, "nats: JetStream sent an unreadable answer to a stream lookup");
    return false;
  }
  if (answer.contains("error")) {
    fail(position, seq, Outcome::retryable,
         "nats: stream lookup for subject '" + subject + "' failed: " +
             (answer["error"].is_object() && answer["error"].contains("description") &&
                      answer["error"]["description"].is_string()
                  ? answer["error"]["description"].get<std::string>()
                  : answer["error"].dump()));
    return false;
  }
  const bool found = answer.contains("streams") && answer["streams"].is_array() && !answer["streams"].empty();
  if (!found) {
    if (options_.create_stream.empty()) {
      fail(position, seq, Outcome::permanent,
           "nats: no stream listens on subject '" + subject + "': create one (nats stream add STREAM --subjects '" +
               subject + "') or add ?create_stream=NAME to the sink URI");
      return false;
    }
    if (const std::string error = create_or_extend_stream(subject); !error.empty()) {
      fail(position, seq, Outcome::retryable, error);
      return false;
    }
  }
  std::lock_guard lock(state_mutex_);
  verified_.insert(subject);
  return true;
}

std::string NatsSink::create_or_extend_stream(const std::string& subject) {
  const std::string& name = options_.create_stream;
  jsStreamInfo* si = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, js_, name.c_str(), nullptr, &code);
  if (s == NATS_NOT_FOUND || (s != NATS_OK && code == JSStreamNotFoundErr)) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subjects[] = {subject.c_str()};
    cfg.Name = name.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;  // a PubAck then means the message is in the stream's files
    cfg.Replicas = options_.replicas;
    s = js_AddStream(nullptr, js_, &cfg, nullptr, &code);
    if (s != NATS_OK)
      return "nats: cannot create stream '" + name + "' for subject '" + subject + "': " + last_error(s);
    spdlog::info("nats: created stream '{}' (file storage, {} replica(s)) for subject '{}'", name, options_.replicas,
                 subject);
    return "";
  }
  if (s != NATS_OK) return "nats: cannot read stream '" + name + "': " + last_error(s);
  // The stream exists: add the subject (a subject template meets its subjects one by one).
  std::vector<const char*> subjects(si->Config->Subjects, si->Config->Subjects + si->Config->SubjectsLen);
  subjects.push_back(subject.c_str());
  const char** saved = si->Config->Subjects;
  const int saved_len = si->Config->SubjectsLen;
  si->Config->Subjects = subjects.data();
  si->Config->SubjectsLen = static_cast<int>(subjects.size());
  s = js_UpdateStream(nullptr, js_, si->Config, nullptr, &code);
  si->Config->Subjects = saved;
  si->Config->SubjectsLen = saved_len;
  const std::string error = s == NATS_OK ? "" : last_error(s);
  jsStreamInfo_Destroy(si);
  if (s != NATS_OK) return "nats: cannot add subject '" + subject + "' to stream '" + name + "': " + error;
  spdlog::info("nats: added subject '{}' to stream '{}'", subject, name);
  return "";
}

void NatsSink::publish_one(const Message& m) {
  const std::uint64_t seq = next_seq_++;
  const std::string subject = subject_.render(m);
  if (!legal_subject(subject)) {
    fail(m.position, seq, Outcome::permanent,
         "nats: subject template '" + options_.subject + "' gives the illegal subject '" + subject + "' for type '" +
             m.type + "'");
    return;
  }
  if (!check_stream(subject, m.position, seq)) return;

  const std::string data = serialized_data(m);
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
  if (s != NATS_OK) {
    fail(m.position, seq, Outcome::retryable, "nats: " + last_error(s));
    return;
  }
  // The envelope as headers (CloudEvents NATS binding, binary mode, when asked), the message id
  // JetStream deduplicates on, and the key.
  std::vector<Header> headers = envelope_headers(m, envelope_, "ce-");
  headers.push_back({"Nats-Msg-Id", m.id});
  if (m.key) headers.push_back({"Outbox-Key", *m.key});
  for (const auto& h : headers) {
    if (!legal_header(h)) {
      natsMsg_Destroy(msg);
      fail(
          m.position, seq, Outcome::permanent,
          "nats: header '" + h.name + "' cannot travel in a NATS header (a line break, or ':' or a space in the name)");
      return;
    }
    if (s == NATS_OK) s = natsMsgHeader_Add(msg, h.name.c_str(), h.value.c_str());
  }
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    fail(m.position, seq, Outcome::retryable, "nats: " + last_error(s));
    return;
  }
  {
    // Before publishing: the PubAck may arrive before js_PublishMsgAsync returns.
    std::lock_guard lock(state_mutex_);
    pending_.emplace(msg, Entry{m.position, seq, subject});
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = options_.ack_timeout_ms;  // an unanswered publish fails (retryable) after this
  natsMsg* const key = msg;
  published_async_ = true;
  for (;;) {
    s = js_PublishMsgAsync(js_, &msg, &po);
    if (s == NATS_OK) return;  // libnats owns msg; the outcome comes through acknowledged()
    // NATS_TIMEOUT here means max_pending PubAcks are outstanding: wait on while they can come.
    const std::int64_t deadline = stop_deadline_ns_.load();
    if (s == NATS_TIMEOUT && !natsConnection_IsClosed(nc_) && !broken() && (deadline == 0 || now_ns() < deadline)) {
      continue;
    }
    break;
  }
  const std::string error = last_error(s);
  {
    std::lock_guard lock(state_mutex_);
    pending_.erase(key);
    if (pending_.empty()) drained_.notify_all();
  }
  natsMsg_Destroy(msg);
  // A message larger than the server's max_payload never fits; everything else may pass later.
  fail(m.position, seq, s == NATS_MAX_PAYLOAD ? Outcome::permanent : Outcome::retryable,
       "nats: " + (s == NATS_TIMEOUT ? "too many messages await a PubAck" : error));
}

void NatsSink::do_publish(std::span<const Message> batch) {
  std::lock_guard lock(conn_mutex_);
  {
    // The relay is past any earlier failure once everything published before has an outcome.
    std::lock_guard state(state_mutex_);
    if (pending_.empty()) failed_seq_ = kNone;
  }
  const bool connected = ensure_connected();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!connected) {
      report(batch[i].position, Outcome::retryable, health());
      continue;
    }
    if (broken() || natsConnection_IsClosed(nc_)) {
      // Queued behind a failure: not sent, so it cannot overtake the failed message's retry.
      report(batch[i].position, Outcome::retryable, "nats: not sent: an earlier message failed");
      continue;
    }
    publish_one(batch[i]);
  }
}

void NatsSink::do_flush(std::chrono::milliseconds timeout) {
  std::lock_guard lock(conn_mutex_);
  if (nc_ == nullptr) return;
  const auto deadline = Clock::now() + timeout;
  natsConnection_FlushTimeout(nc_, std::max<std::int64_t>(1, timeout.count()));
  // In slices, so that a connection lost meanwhile (its PubAcks failed by drop_connection) ends
  // the wait at once instead of at the deadline.
  while (Clock::now() < deadline) {
    {
      std::lock_guard state(state_mutex_);
      if (pending_.empty()) return;
    }
    if (natsConnection_IsClosed(nc_)) {
      ensure_connected();
      return;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 100;
    if (!published_async_ || js_PublishAsyncComplete(js_, &po) == NATS_OK) return;
  }
}

void NatsSink::do_stop_within(std::chrono::milliseconds grace) {
  stop_deadline_ns_ = now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(grace).count();
}

void NatsSink::monitor() {
  std::unique_lock wait_lock(monitor_mutex_);
  while (!stopping_) {
    monitor_wake_.wait_for(wait_lock, std::chrono::milliseconds(50));
    if (stopping_) break;
    // A publish in progress notices a lost connection itself; do not wait behind it.
    std::unique_lock lock(conn_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) continue;
    if (nc_ != nullptr && natsConnection_IsClosed(nc_)) {
      ensure_connected();  // fails what awaited a PubAck at once, then tries a new connection
    } else if (nc_ == nullptr && Clock::now() >= next_connect_) {
      connect();
      if (nc_ == nullptr) {
        next_connect_ = Clock::now() + connect_backoff_;
        connect_backoff_ = std::min(connect_backoff_ * 2, std::chrono::milliseconds(2000));
      }
    }
  }
}

}  // namespace outbox::nats::detail
