#include "replication_connection.hpp"

#include <poll.h>

#include <cerrno>
#include <cstring>

#include "outbox/errors.hpp"
#include "outbox/store.hpp"

namespace outbox::postgres::detail {

void WireReader::need(std::size_t n) {
  if (data_.size() - at_ < n) malformed("it ends early");
}

void WireReader::malformed(const std::string& why) const {
  throw StoreError("postgres: the server sent a malformed " + what_ + " (" + why + ", " + std::to_string(data_.size()) +
                       " bytes); this is not a stream this version understands: check that the server is "
                       "PostgreSQL 14 or later and report it with the server's version",
                   false);
}

std::uint8_t WireReader::u8() {
  need(1);
  return static_cast<std::uint8_t>(data_[at_++]);
}

std::uint32_t WireReader::u32() {
  need(4);
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(data_[at_++]);
  return v;
}

std::uint64_t WireReader::u64() {
  need(8);
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(data_[at_++]);
  return v;
}

std::string_view WireReader::cstring() {
  const auto end = data_.find('\0', at_);
  if (end == std::string_view::npos) malformed("a string has no end");
  const std::string_view s = data_.substr(at_, end - at_);
  at_ = end + 1;
  return s;
}

std::string_view WireReader::bytes(std::size_t n) {
  need(n);
  const std::string_view s = data_.substr(at_, n);
  at_ += n;
  return s;
}

namespace {

std::string one_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (auto& c : s) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return s;
}

// Microseconds since 2000-01-01, the protocol's clock.
std::uint64_t pg_now_us() {
  constexpr std::int64_t kEpochDiffUs = 946'684'800LL * 1'000'000;
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch());
  return static_cast<std::uint64_t>(us.count() - kEpochDiffUs);
}

void put_u64(char* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

}  // namespace

ReplicationConnection::ReplicationConnection(const std::string& conninfo) : redacted_(redact_uri(conninfo)) {
  // expand_dbname: `dbname` is parsed as the whole URI or conninfo; the later keyword wins.
  const char* keys[] = {"dbname", "replication", nullptr};
  const char* values[] = {conninfo.c_str(), "database", nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    const std::string msg = conn_ ? redact_uri(one_line(PQerrorMessage(conn_))) : "out of memory";
    const bool privilege = msg.find("replication") != std::string::npos;
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
    throw StoreError("postgres: cannot open a replication connection to '" + redacted_ + "': " + msg +
                         (privilege ? " (the role needs the REPLICATION privilege, and pg_hba.conf must allow "
                                      "its replication connections from this host)"
                                    : ""),
                     !privilege);
  }
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

ReplicationConnection::~ReplicationConnection() {
  if (conn_) PQfinish(conn_);
}

Result ReplicationConnection::query(const std::string& sql, const std::string& doing) {
  Result r(PQexec(conn_, sql.c_str()));
  const auto st = r.get() ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(conn_, r.get(), doing);
  return r;
}

void ReplicationConnection::start(const std::string& slot, const std::string& publication) {
  // Names are checked identifiers: quoting them is exact. 0/0: start at the slot's confirmed position.
  const std::string sql = "START_REPLICATION SLOT " + quote_ident(conn_, slot) +
                          " LOGICAL 0/0 (proto_version '1', publication_names '" + quote_ident(conn_, publication) +
                          "', messages 'true')";
  Result r(PQexec(conn_, sql.c_str()));
  if (r.get() == nullptr || PQresultStatus(r.get()) != PGRES_COPY_BOTH) {
    fail(conn_, r.get(), "starting replication from slot '" + slot + "'");
  }
}

void ReplicationConnection::stream_failed(const std::string& doing) {
  // The stream ended: the server's reason is in the result that follows.
  Result r(PQgetResult(conn_));
  if (r.get() != nullptr && PQresultStatus(r.get()) != PGRES_COMMAND_OK) fail(conn_, r.get(), doing);
  const bool broken = PQstatus(conn_) == CONNECTION_BAD;
  throw StoreError("postgres: " + doing + " ended: " +
                       (broken ? redact_uri(one_line(PQerrorMessage(conn_))) + " (connection lost)"
                               : std::string("the server ended the replication stream")),
                   true);
}

bool ReplicationConnection::read(std::string& out) {
  char* buf = nullptr;
  const int n = PQgetCopyData(conn_, &buf, 1);
  if (n > 0) {
    out.assign(buf, static_cast<std::size_t>(n));
    PQfreemem(buf);
    return true;
  }
  if (n == 0) return false;
  stream_failed("reading the replication stream");
}

void ReplicationConnection::wait(int wake_fd, std::chrono::milliseconds timeout) {
  pollfd fds[2] = {{PQsocket(conn_), POLLIN, 0}, {wake_fd, POLLIN, 0}};
  const int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(std::max<std::int64_t>(0, timeout.count())));
  if (n < 0 && errno != EINTR) {
    throw StoreError(std::string("postgres: waiting for the replication stream failed: ") + std::strerror(errno), true);
  }
  if (n > 0 && fds[0].revents != 0 && PQconsumeInput(conn_) == 0) stream_failed("reading the replication stream");
}

void ReplicationConnection::send_status(std::uint64_t written, std::uint64_t flushed) {
  char msg[1 + 8 * 4 + 1];
  msg[0] = 'r';
  put_u64(msg + 1, written);
  put_u64(msg + 9, flushed);
  put_u64(msg + 17, flushed);  // applied: nothing is applied here; the same as flushed
  put_u64(msg + 25, pg_now_us());
  msg[33] = 0;  // no reply requested
  if (PQputCopyData(conn_, msg, sizeof msg) != 1 || PQflush(conn_) != 0) {
    stream_failed("confirming a position to the replication slot");
  }
}

bool ReplicationConnection::end_stream(std::chrono::milliseconds bound) noexcept {
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK || PQsocket(conn_) < 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + bound;
  // Waits for the socket to be readable and takes in what arrived; false at the deadline or on a
  // broken connection.
  const auto take_input = [&]() {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd fd{PQsocket(conn_), POLLIN, 0};
    const int n = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (n < 0) return errno == EINTR;
    return n > 0 && PQconsumeInput(conn_) == 1;
  };
  // In blocking mode PQputCopyEnd also flushes: the server has our CopyDone after what we sent.
  if (PQputCopyEnd(conn_, nullptr) != 1) return false;
  // What the server streamed before it read our CopyDone, up to its own CopyDone (-1).
  for (;;) {
    char* buf = nullptr;
    const int n = PQgetCopyData(conn_, &buf, 1);
    if (n > 0) {
      PQfreemem(buf);
      continue;
    }
    if (n == -1) break;
    if (n < -1 || !take_input()) return false;
  }
  // The command's result (COPY 0, or the server's error), until libpq has no more.
  for (;;) {
    while (PQisBusy(conn_) != 0) {
      if (!take_input()) return false;
    }
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) return true;
    PQclear(r);
  }
}

}  // namespace outbox::postgres::detail
