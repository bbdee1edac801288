#include "webhook_sink.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <ctime>

#include "outbox/errors.hpp"

namespace outbox::webhook::detail {

namespace {

// RFC 9110 token characters: a message header whose name is not one cannot travel as an HTTP
// header (it is still in the body).
bool header_name_ok(const std::string& name) {
  if (name.empty()) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// CR, LF or NUL in a value would split the request (header injection): such a header is left out.
bool header_value_ok(const std::string& value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

// 408 Request Timeout, 429 Too Many Requests and every 5xx may pass by themselves; anything else
// that is not 2xx (a 4xx, or a 3xx redirect, which the sink does not follow) will not change by
// sending the same body again.
Outcome outcome_of(int status) {
  if (status >= 200 && status < 300) return Outcome::ok;
  if (status == 408 || status == 429 || status >= 500) return Outcome::retryable;
  return Outcome::permanent;
}

// Retry-After as delay-seconds or as an HTTP-date (RFC 9110: IMF-fixdate, "Sun, 06 Nov 1994
// 08:49:37 GMT"); a date in the past means now. Capped at an hour so that a bad value cannot park
// the relay; anything else is ignored and the relay's own backoff applies.
std::optional<std::chrono::seconds> retry_after(const std::string& value) {
  constexpr long long kMax = 3600;
  long long s = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), s);
  if (ec == std::errc() && end == value.data() + value.size() && s >= 0) return std::chrono::seconds(std::min(s, kMax));
  std::tm tm{};
  const char* rest = strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (rest == nullptr || *rest != '\0') return std::nullopt;
  const std::time_t at = timegm(&tm);
  const std::time_t now = std::time(nullptr);
  return std::chrono::seconds(std::clamp<long long>(at - now, 0, kMax));
}

}  // namespace

WebhookSink::WebhookSink(SinkOptions options)
    : options_(std::move(options)), envelope_{options_.cloudevents, options_.cloudevents_source} {
  if (options_.host.empty()) throw UsageError("the webhook sink needs a host: http://HOST:PORT/PATH");
  if (options_.port < 0 || options_.port > 65535) throw UsageError("the webhook sink's port must be 1 to 65535");
  if (options_.port == 0) options_.port = options_.tls ? 443 : 80;
  if (options_.path.empty() || options_.path[0] != '/') options_.path = "/" + options_.path;
  target_ = options_.query.empty() ? options_.path : options_.path + "?" + options_.query;
  if (options_.batch < 1) throw UsageError("the webhook sink's batch must be at least 1");
  if (options_.timeout_ms <= 0) throw UsageError("the webhook sink's timeout_ms must be positive");
  if (!options_.secret_env.empty() && options_.secret.empty()) {
    // Never in the URI: a URI ends up in logs, process lists and `outbox status`.
    const char* value = std::getenv(options_.secret_env.c_str());
    if (value == nullptr || *value == '\0') {
      throw UsageError("the webhook sink's secret_env names " + options_.secret_env.substr(0, 60) +
                       ", which is not set (or empty) in the environment");
    }
    options_.secret = value;
  }
  const bool v6 = options_.host.find(':') != std::string::npos;
  base_ = std::string(options_.tls ? "https://" : "http://") + (v6 ? "[" + options_.host + "]" : options_.host) + ":" +
          std::to_string(options_.port);
  // No connection yet: a receiver that is down at start is waited for like one that goes down later.
}

WebhookSink::~WebhookSink() {
  {
    std::lock_guard lock(stop_mutex_);
    destroying_ = true;
  }
  stop_wake_.notify_all();
  if (stop_watcher_.joinable()) stop_watcher_.join();
}

std::string WebhookSink::describe() const {
  const std::string who = options_.password.empty() ? "" : options_.user + ":***@";
  const auto host_port = base_.substr(base_.find("://") + 3);
  // The endpoint's query may hold a token: shown only as being there.
  return std::string(options_.tls ? "https://" : "http://") + who + host_port + options_.path +
         (options_.query.empty() ? "" : "?...");
}

std::string WebhookSink::health() const {
  std::lock_guard lock(health_mutex_);
  return health_;
}

void WebhookSink::set_health(std::string text) {
  std::lock_guard lock(health_mutex_);
  if (text != "ok" && text != health_) spdlog::warn("{}", text);
  health_ = std::move(text);
}

std::shared_ptr<httplib::Client> WebhookSink::client() {
  std::lock_guard lock(client_mutex_);
  if (client_) return client_;
  auto c = std::make_shared<httplib::Client>(base_);
  const auto timeout = std::chrono::milliseconds(options_.timeout_ms);
  c->set_connection_timeout(timeout);
  c->set_read_timeout(timeout);
  c->set_write_timeout(timeout);
  c->set_keep_alive(true);
  // httplib writes the headers and the body separately: without TCP_NODELAY each POST waits out
  // Nagle and the receiver's delayed ACK (about 40 ms on Linux).
  c->set_tcp_nodelay(true);
  c->set_follow_location(false);
  if (!options_.password.empty()) c->set_basic_auth(options_.user, options_.password);
  if (options_.tls) {
    c->enable_server_certificate_verification(true);
    if (!options_.ca_file.empty()) c->set_ca_cert_path(options_.ca_file);
  }
  client_ = std::move(c);
  return client_;
}

void WebhookSink::drop_client() {
  std::lock_guard lock(client_mutex_);
  client_.reset();
}

WebhookSink::Answer WebhookSink::post(std::span<const Message> messages) {
  std::string body;
  httplib::Headers headers;
  std::string content_type;
  if (messages.size() == 1 && options_.batch == 1) {
    const Message& m = messages[0];
    body = options_.cloudevents ? cloudevents_structured(m, envelope_) : to_json_line(m);
    content_type = options_.cloudevents ? "application/cloudevents+json" : "application/json";
    if (!options_.cloudevents) {
      // The envelope (and the message's headers) under an Outbox- prefix, so that a receiver can
      // route without parsing the body and no message header can pose as Content-Length or Host.
      for (const auto& h : envelope_headers(m, envelope_)) {
        if (header_name_ok(h.name) && header_value_ok(h.value)) headers.emplace("Outbox-" + h.name, h.value);
      }
    }
  } else {
    body = "[";
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (i > 0) body += ',';
      body += options_.cloudevents ? cloudevents_structured(messages[i], envelope_) : to_json_line(messages[i]);
    }
    body += ']';
    content_type = options_.cloudevents ? "application/cloudevents-batch+json" : "application/json";
  }
  if (!options_.secret.empty()) headers.emplace("Outbox-Signature", signature(options_.secret, body));

  const auto c = client();
  const auto result = c->Post(target_, headers, body, content_type);
  const std::string where = "webhook " + describe();
  if (!result) {
    // Connection refused, a timeout, a TLS failure, or stop_within cutting the request: the
    // receiver may or may not have the message, so it is sent again (receivers dedupe by id).
    drop_client();
    std::string why = httplib::to_string(result.error());
    if (result.error() == httplib::Error::SSLServerVerification) why += " (give the CA with ca_file=PATH)";
    if (stopping_) why += " (stopping)";
    return {Outcome::retryable, where + ": " + why};
  }
  const int status = result->status;
  const Outcome outcome = outcome_of(status);
  if (outcome == Outcome::ok) return {Outcome::ok, {}};
  std::string why = where + ": HTTP " + std::to_string(status);
  if (outcome == Outcome::retryable && result->has_header("Retry-After")) {
    if (const auto wait = retry_after(result->get_header_value("Retry-After"))) {
      quiet_until_ = std::chrono::steady_clock::now() + *wait;
      quiet_reason_ = "HTTP " + std::to_string(status) + ", Retry-After " + std::to_string(wait->count()) + " s";
      why += " (Retry-After " + std::to_string(wait->count()) + " s)";
    }
  }
  // A short piece of the answer helps to see why a receiver refused; never more, it may be a page.
  if (!result->body.empty()) why += ": " + result->body.substr(0, 200);
  return {outcome, why};
}

void WebhookSink::do_publish(std::span<const Message> batch) {
  if (batch.empty()) return;
  std::size_t sent = 0;
  auto fail_rest = [&](Outcome first, const std::string& why) {
    // Every later message of this publish fails retryable, so nothing overtakes the failed one.
    report(batch[sent].position, first, why);
    for (std::size_t i = sent + 1; i < batch.size(); ++i) {
      report(batch[i].position, Outcome::retryable, "webhook: not sent: an earlier message failed");
    }
  };
  if (stopping_) return fail_rest(Outcome::retryable, "webhook: not sent: the relay is stopping");
  if (const auto now = std::chrono::steady_clock::now(); now < quiet_until_) {
    // The same text for the whole wait, so that health changes (and is logged) once, not per retry.
    const std::string why = "webhook " + describe() + ": waiting as the receiver asked (" + quiet_reason_ + ")";
    set_health(why);
    return fail_rest(Outcome::retryable, why);
  }
  while (sent < batch.size()) {
    const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(options_.batch), batch.size() - sent);
    const Answer a = post(batch.subspan(sent, n));
    if (a.outcome != Outcome::ok) {
      set_health(a.outcome == Outcome::retryable ? a.error : "ok");
      if (a.outcome == Outcome::permanent) spdlog::warn("{}", a.error);
      // Within a POST of several messages, all share the answer: the first gets it, the others
      // (and everything after) the "earlier message failed" retry.
      return fail_rest(a.outcome, a.error);
    }
    for (std::size_t i = sent; i < sent + n; ++i) report(batch[i].position, Outcome::ok);
    sent += n;
    if (stopping_ && sent < batch.size())
      return fail_rest(Outcome::retryable, "webhook: not sent: the relay is stopping");
  }
  set_health("ok");
}

void WebhookSink::do_stop_within(std::chrono::milliseconds grace) {
  std::lock_guard lock(stop_mutex_);
  if (stop_watcher_.joinable() || destroying_) return;
  stop_watcher_ = std::thread([this, grace] {
    {
      std::unique_lock wait_lock(stop_mutex_);
      if (stop_wake_.wait_for(wait_lock, grace, [&] { return destroying_; })) return;
    }
    stopping_ = true;
    std::shared_ptr<httplib::Client> c;
    {
      std::lock_guard client_lock(client_mutex_);
      c = client_;
    }
    // Shuts the socket of a request in progress down: it fails at once and is reported retryable.
    if (c) c->stop();
  });
}

}  // namespace outbox::webhook::detail

namespace outbox::webhook {
std::unique_ptr<Sink> make_sink(SinkOptions options) {
  return std::make_unique<detail::WebhookSink>(std::move(options));
}
}  // namespace outbox::webhook
