#include "rabbitmq_sink.hpp"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <unordered_map>
#include <vector>

#include "outbox/errors.hpp"

namespace outbox::rabbitmq::detail {

namespace {

using SteadyClock = std::chrono::steady_clock;

// What of a message goes out as an AMQP short string: a name and its text.
struct ShortString {
  const char* what;
  const std::string* text;
};

// Why the first of `fields` over 255 bytes (AMQP's limit for a short string) cannot be sent, or
// empty when all fit.
std::string over_short_string_limit(const std::vector<ShortString>& fields) {
  for (const auto& [what, text] : fields) {
    if (text->size() > 255) {
      return std::string("the ") + what + " '" + text->substr(0, 60) + "...' is " + std::to_string(text->size()) +
             " bytes; AMQP allows 255";
    }
  }
  return {};
}

timeval to_timeval(std::int64_t ms) {
  if (ms < 0) ms = 0;
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

// librabbitmq's text for a status, with the system's reason for a socket error ("a socket error
// occurred" alone does not say whether the broker refused, reset or timed out). Call right after
// the failing call, before errno changes.
std::string status_text(int status) {
  const int e = errno;
  std::string out = amqp_error_string2(status);
  // EINPROGRESS is what a failed non-blocking connect leaves behind, not the reason.
  if ((status == AMQP_STATUS_SOCKET_ERROR || status == AMQP_STATUS_TCP_ERROR) && e != 0 && e != EINPROGRESS) {
    out += std::string(": ") + std::strerror(e);
  }
  return out;
}

amqp_bytes_t bytes(const std::string& s) { return amqp_bytes_t{s.size(), const_cast<char*>(s.data())}; }
std::string text(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

// What went wrong in a synchronous call (login, channel.open, confirm.select).
std::string rpc_error(const amqp_rpc_reply_t& r) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* c = static_cast<const amqp_connection_close_t*>(r.reply.decoded);
        return "the broker closed the connection: " + std::to_string(c->reply_code) + " " + text(c->reply_text);
      }
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* c = static_cast<const amqp_channel_close_t*>(r.reply.decoded);
        return "the broker closed the channel: " + std::to_string(c->reply_code) + " " + text(c->reply_text);
      }
      return std::string("unexpected method ") + amqp_method_name(r.reply.id);
  }
  return "unknown reply";
}

// The state of one message of a batch while its confirm is awaited.
enum class State { pending, acked, nacked, returned, refused };

struct Slot {
  State state = State::pending;
  bool returned = false;  // a basic.return came for it; its ack follows, but it went nowhere
  std::string why;        // for nacked / returned
};

// %-encodes what would otherwise end or split the vhost in describe()'s URI.
std::string encode_vhost(const std::string& vhost) {
  std::string out;
  for (const char c : vhost) {
    if (c == '/') {
      out += "%2F";
    } else if (c == '%') {
      out += "%25";
    } else if (c == '?' || c == '#') {
      out += c == '?' ? "%3F" : "%23";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

RabbitmqSink::RabbitmqSink(SinkOptions options)
    : options_(std::move(options)),
      routing_key_(options_.routing_key, "routing key"),
      envelope_{options_.cloudevents, options_.cloudevents_source} {
  if (options_.host.empty()) throw UsageError("the RabbitMQ sink needs a host: amqp://HOST:PORT/VHOST?exchange=X");
  if (options_.port < 1 || options_.port > 65535) throw UsageError("the RabbitMQ sink's port must be 1 to 65535");
  if (options_.connect_timeout_ms <= 0 || options_.confirm_timeout_ms <= 0) {
    throw UsageError("the RabbitMQ sink's timeouts must be positive");
  }
  // No connection yet: a broker that is down at start is waited for like one that goes down later.
}

RabbitmqSink::~RabbitmqSink() {
  if (conn_ != nullptr) {
    // A clean goodbye when the connection still works; bounded by the rpc timeout set at connect.
    amqp_channel_close(conn_, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn_);
  }
}

std::string RabbitmqSink::describe() const {
  std::string who;
  if (options_.credentials_given) who = options_.user + ":***@";
  const bool v6 = options_.host.find(':') != std::string::npos;
  return "amqp://" + who + (v6 ? "[" + options_.host + "]" : options_.host) + ":" + std::to_string(options_.port) +
         "/" + encode_vhost(options_.vhost) + "?exchange=" + options_.exchange + "&routing_key=" + options_.routing_key;
}

std::string RabbitmqSink::health() const {
  std::lock_guard lock(health_mutex_);
  return health_;
}

void RabbitmqSink::set_health(std::string text) {
  std::lock_guard lock(health_mutex_);
  if (text != "ok" && text != health_) spdlog::warn("{}", text);
  health_ = std::move(text);
}

void RabbitmqSink::do_stop_within(std::chrono::milliseconds grace) {
  const auto at = SteadyClock::now() + grace;
  stop_deadline_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
}

void RabbitmqSink::disconnect(const std::string& why) {
  if (conn_ != nullptr) amqp_destroy_connection(conn_);  // closes the socket without a handshake
  conn_ = nullptr;
  set_health("rabbitmq " + options_.host + ":" + std::to_string(options_.port) + ": " + why);
}

bool RabbitmqSink::connect() {
  if (conn_ != nullptr) return true;
  conn_ = amqp_new_connection();
  if (conn_ == nullptr) {
    set_health("rabbitmq: cannot allocate a connection");
    return false;
  }
  amqp_socket_t* socket = amqp_tcp_socket_new(conn_);
  if (socket == nullptr) {
    disconnect("cannot create a socket");
    return false;
  }
  timeval connect_timeout = to_timeval(options_.connect_timeout_ms);
  errno = 0;
  if (const int status = amqp_socket_open_noblock(socket, options_.host.c_str(), options_.port, &connect_timeout);
      status != AMQP_STATUS_OK) {
    disconnect("cannot connect: " + status_text(status));
    return false;
  }
  amqp_set_handshake_timeout(conn_, &connect_timeout);
  amqp_set_rpc_timeout(conn_, &connect_timeout);
  // No heartbeats: a broker that stops answering is noticed by the confirm timeout of the batch.
  const amqp_rpc_reply_t login = amqp_login(conn_, options_.vhost.c_str(), 0, AMQP_DEFAULT_FRAME_SIZE, 0,
                                            AMQP_SASL_METHOD_PLAIN, options_.user.c_str(), options_.password.c_str());
  if (login.reply_type != AMQP_RESPONSE_NORMAL) {
    disconnect("login as '" + options_.user + "' to vhost '" + options_.vhost + "' failed: " + rpc_error(login));
    return false;
  }
  amqp_channel_open(conn_, 1);
  if (const auto r = amqp_get_rpc_reply(conn_); r.reply_type != AMQP_RESPONSE_NORMAL) {
    disconnect("channel.open failed: " + rpc_error(r));
    return false;
  }
  amqp_confirm_select(conn_, 1);
  if (const auto r = amqp_get_rpc_reply(conn_); r.reply_type != AMQP_RESPONSE_NORMAL) {
    disconnect("confirm.select failed: " + rpc_error(r));
    return false;
  }
  // A broker that stops reading (flow control, a stall) must not hold a publish forever: writes
  // time out like the wait for confirms, and the batch is retried after reconnecting.
  const timeval send_timeout = to_timeval(options_.confirm_timeout_ms);
  setsockopt(amqp_get_sockfd(conn_), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  next_tag_ = 1;
  connected_at_ = SteadyClock::now();
  return true;
}

void RabbitmqSink::do_publish(std::span<const Message> batch) {
  if (batch.empty()) return;
  if (!connect()) {
    const std::string why = health();
    for (const auto& m : batch) report(m.position, Outcome::retryable, why);
    return;
  }

  const std::uint64_t first_tag = next_tag_;
  std::vector<Slot> slots(batch.size());
  std::unordered_map<std::string, std::size_t> by_id;  // message_id -> index, to place a basic.return
  by_id.reserve(batch.size());
  std::size_t sent = 0;
  std::string lost;       // the connection or channel is gone: what happened (all unconfirmed retryable)
  std::string permanent;  // ... and why the first unconfirmed message cannot go (unknown exchange)

  auto confirm = [&](std::uint64_t tag, bool multiple, State to, const std::string& why) {
    if (tag < first_tag) return;
    const std::uint64_t last = std::min<std::uint64_t>(tag - first_tag, sent == 0 ? 0 : sent - 1);
    const std::uint64_t from = multiple ? 0 : last;
    for (std::uint64_t i = from; i <= last && i < slots.size(); ++i) {
      Slot& s = slots[i];
      if (s.state != State::pending) continue;
      s.state = s.returned ? State::returned : to;
      if (!s.returned) s.why = why;
    }
  };

  // Reads one frame (waiting up to `wait`); false when none came or the connection failed (then `lost` says why).
  auto read_frame = [&](timeval wait) -> bool {
    amqp_frame_t frame;
    errno = 0;
    const int status = amqp_simple_wait_frame_noblock(conn_, &frame, &wait);
    if (status == AMQP_STATUS_TIMEOUT) return false;
    if (status != AMQP_STATUS_OK) {
      lost = "connection lost: " + status_text(status);
      return false;
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) return true;  // heartbeats, stray content
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
        confirm(ack->delivery_tag, ack->multiple != 0, State::acked, {});
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* nack = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
        confirm(nack->delivery_tag, nack->multiple != 0, State::nacked,
                "rabbitmq: the broker refused the message (basic.nack; sent again)");
        break;
      }
      case AMQP_BASIC_RETURN_METHOD: {
        // mandatory and no queue bound for its routing key: the broker returns the message (header
        // and body follow) and then acknowledges it. Placed by its message_id.
        const auto* ret = static_cast<const amqp_basic_return_t*>(frame.payload.method.decoded);
        std::string why = "rabbitmq: returned by the broker: " + std::to_string(ret->reply_code) + " " +
                          text(ret->reply_text) + " (exchange '" + text(ret->exchange) + "', routing key '" +
                          text(ret->routing_key) + "': no queue is bound for it)";
        amqp_message_t message;
        const amqp_rpc_reply_t r = amqp_read_message(conn_, frame.channel, &message, 0);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
          lost = "reading a returned message failed: " + rpc_error(r);
          return false;
        }
        if ((message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0) {
          const auto it = by_id.find(text(message.properties.message_id));
          if (it != by_id.end() && slots[it->second].state == State::pending) {
            slots[it->second].returned = true;
            slots[it->second].why = std::move(why);
          }
        }
        amqp_destroy_message(&message);
        break;
      }
      case AMQP_CHANNEL_CLOSE_METHOD: {
        const auto* close = static_cast<const amqp_channel_close_t*>(frame.payload.method.decoded);
        const std::string reason = std::to_string(close->reply_code) + " " + text(close->reply_text);
        if (close->reply_code == AMQP_NOT_FOUND) {
          permanent = "rabbitmq: exchange '" + options_.exchange + "' does not exist in vhost '" + options_.vhost +
                      "' (the broker closed the channel: " + reason + "); declare it, or fix ?exchange=";
        } else if (close->reply_code == AMQP_ACCESS_REFUSED) {
          permanent = "rabbitmq: user '" + options_.user + "' may not publish to exchange '" + options_.exchange +
                      "' (the broker closed the channel: " + reason + ")";
        }
        lost = "the broker closed the channel: " + reason;
        return false;
      }
      case AMQP_CONNECTION_CLOSE_METHOD: {
        const auto* close = static_cast<const amqp_connection_close_t*>(frame.payload.method.decoded);
        lost = "the broker closed the connection: " + std::to_string(close->reply_code) + " " + text(close->reply_text);
        return false;
      }
      default:
        break;  // connection.blocked / unblocked and the like: the confirm timeout covers a stall
    }
    return true;
  };

  // Publish everything, then wait. Every 256 messages whatever the broker sent meanwhile is read
  // without waiting, so that returned messages (with their bodies) cannot fill the socket buffers
  // while the broker waits for us to read and we wait for it to read.
  std::vector<std::string> header_values;
  std::vector<amqp_table_entry_t> entries;
  std::vector<ShortString> short_strings;
  for (std::size_t i = 0; i < batch.size() && lost.empty(); ++i) {
    const Message& m = batch[i];
    const std::string routing_key = routing_key_.render(m);
    // Headers: the envelope, the message's own, then the key; a later one of the same name replaces
    // an earlier one (a consumer reading the last value of a repeated name would see that one).
    std::vector<Header> headers = envelope_headers(m, envelope_, "cloudEvents:");
    if (m.key) headers.push_back({envelope_.cloudevents ? "cloudEvents:partitionkey" : "key", *m.key});
    std::map<std::string, std::size_t> index;
    std::vector<Header> unique;
    unique.reserve(headers.size());
    for (auto& h : headers) {
      if (envelope_.cloudevents && h.name == "content-type") continue;  // the content_type property
      auto [it, fresh] = index.emplace(h.name, unique.size());
      if (fresh) {
        unique.push_back(std::move(h));
      } else {
        unique[it->second].value = std::move(h.value);
      }
    }
    // The routing key, the message_id and type properties and the header table's field names are
    // AMQP short strings: one over 255 bytes cannot be encoded, whatever the broker, so the message
    // is refused (librabbitmq would fail the publish as if the connection broke, and the batch
    // would be retried for ever). Nothing after it is sent in this batch.
    short_strings.assign({{"routing key", &routing_key}, {"message id", &m.id}, {"message type", &m.type}});
    for (const auto& h : unique) short_strings.push_back({"header name", &h.name});
    if (const std::string too_long = over_short_string_limit(short_strings); !too_long.empty()) {
      slots[i].state = State::refused;
      slots[i].why = "rabbitmq: " + too_long;
      break;
    }
    const std::string body = serialized_data(m);
    entries.assign(unique.size(), amqp_table_entry_t{});
    for (std::size_t h = 0; h < unique.size(); ++h) {
      entries[h].key = bytes(unique[h].name);
      entries[h].value.kind = AMQP_FIELD_KIND_UTF8;
      entries[h].value.value.bytes = bytes(unique[h].value);
    }
    static const std::string json = "application/json";
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                   AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_HEADERS_FLAG;
    props.content_type = bytes(json);
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    props.message_id = bytes(m.id);
    props.type = bytes(m.type);
    props.timestamp = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(m.created.time_since_epoch()).count());
    props.headers.num_entries = static_cast<int>(entries.size());
    props.headers.entries = entries.data();

    by_id.emplace(m.id, i);
    errno = 0;
    const int status = amqp_basic_publish(conn_, 1, bytes(options_.exchange), bytes(routing_key), /*mandatory=*/1,
                                          /*immediate=*/0, &props, bytes(body));
    if (status != AMQP_STATUS_OK) {
      lost = "publishing failed: " + status_text(status);
      break;
    }
    ++sent;
    ++next_tag_;
    if (sent % 256 == 0) {
      while (lost.empty() && read_frame(timeval{0, 0})) {
      }
    }
  }

  // The confirms, until every sent message has one, the connection fails, or the time is up.
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(options_.confirm_timeout_ms);
  auto sent_unconfirmed = [&] {
    std::size_t n = 0;
    for (std::size_t i = 0; i < sent; ++i) n += slots[i].state == State::pending ? 1 : 0;
    return n;
  };
  std::size_t awaited = sent_unconfirmed();
  bool timed_out = false;
  while (lost.empty() && awaited > 0) {
    auto until = deadline;
    if (const std::int64_t stop = stop_deadline_ns_.load(); stop != 0) {
      until = std::min(until, SteadyClock::time_point(std::chrono::nanoseconds(stop)));
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    read_frame(to_timeval(std::min<std::int64_t>(left, 200)));
    awaited = sent_unconfirmed();
  }
  if (timed_out) lost = "no confirm within " + std::to_string(options_.confirm_timeout_ms) + " ms";

  // Outcomes in batch order; after the first failure everything later fails too (retryable), so
  // that a message sent again never lands behind a later one of its key.
  std::string first_failure;
  bool permanent_used = false;
  const auto connection_age = SteadyClock::now() - connected_at_;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const Message& m = batch[i];
    const Slot& s = slots[i];
    if (!first_failure.empty()) {
      report(m.position, Outcome::retryable,
             "rabbitmq: failed with an earlier message of its batch (sent again): " + first_failure);
      continue;
    }
    switch (s.state) {
      case State::acked:
        report(m.position, Outcome::ok);
        break;
      case State::refused:
        first_failure = "message at position " + std::to_string(m.position) + " was refused";
        report(m.position, Outcome::permanent, s.why);
        break;
      case State::returned:
        first_failure = "message at position " + std::to_string(m.position) + " was returned";
        if (connection_age < std::chrono::milliseconds(options_.return_grace_ms)) {
          report(m.position, Outcome::retryable,
                 s.why + "; retried: the connection is " +
                     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(connection_age).count()) +
                     " ms old and a broker that has just started may not route to its durable queues yet "
                     "(permanent after return_grace_ms=" +
                     std::to_string(options_.return_grace_ms) + ")");
        } else {
          report(m.position, Outcome::permanent, s.why);
        }
        break;
      case State::nacked:
        first_failure = "message at position " + std::to_string(m.position) + " was nacked";
        report(m.position, Outcome::retryable, s.why);
        break;
      case State::pending:
        if (!permanent.empty() && !permanent_used) {
          permanent_used = true;
          first_failure = permanent;
          report(m.position, Outcome::permanent, permanent);
        } else {
          first_failure = lost.empty() ? "not sent" : lost;
          report(m.position, Outcome::retryable, "rabbitmq: " + first_failure + " (sent again after reconnecting)");
        }
        break;
    }
  }
  if (!lost.empty()) {
    disconnect(permanent.empty() ? lost : permanent);
  } else {
    set_health("ok");
    amqp_maybe_release_buffers(conn_);
  }
}

}  // namespace outbox::rabbitmq::detail

namespace outbox::rabbitmq {
std::unique_ptr<Sink> make_sink(const SinkOptions& options) { return std::make_unique<detail::RabbitmqSink>(options); }
}  // namespace outbox::rabbitmq
