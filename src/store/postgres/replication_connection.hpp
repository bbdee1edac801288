// A libpq connection in logical replication mode (replication=database) streaming one slot with
// pgoutput: START_REPLICATION, then the CopyBoth stream of XLogData ('w') and primary keepalive
// ('k') messages from the server, and standby status updates ('r') from us. See the PostgreSQL
// manual, "Streaming Replication Protocol" and "Logical Streaming Replication Protocol".
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "connection.hpp"

namespace outbox::postgres::detail {

// Reads the big-endian fields of one protocol message; every read past the end throws StoreError
// (a short or malformed message from the server is an error, never a crash).
class WireReader {
 public:
  WireReader(std::string_view data, std::string what) : data_(data), what_(std::move(what)) {}
  std::uint8_t u8();
  std::uint32_t u32();
  std::uint64_t u64();
  std::string_view cstring();  // NUL-terminated
  std::string_view bytes(std::size_t n);
  std::string_view rest() { return bytes(data_.size() - at_); }
  [[noreturn]] void malformed(const std::string& why) const;

 private:
  void need(std::size_t n);
  std::string_view data_;
  std::size_t at_ = 0;
  std::string what_;
};

class ReplicationConnection {
 public:
  // Connects with replication=database added to `conninfo` (a URI or key=value string). Throws
  // StoreError (retryable) when the server cannot be reached.
  explicit ReplicationConnection(const std::string& conninfo);
  ReplicationConnection(const ReplicationConnection&) = delete;
  ReplicationConnection& operator=(const ReplicationConnection&) = delete;
  ~ReplicationConnection();

  PGconn* get() const { return conn_; }
  // A simple-protocol query (the only kind a replication connection takes). Throws StoreError.
  Result query(const std::string& sql, const std::string& doing);
  // START_REPLICATION SLOT `slot` LOGICAL at the slot's confirmed position with pgoutput, logical
  // decoding messages on and `publication` named. Throws StoreError.
  void start(const std::string& slot, const std::string& publication);

  // One message of the stream into `out`: true if one was there, false if none is buffered (then
  // wait()). Throws StoreError when the stream ended or broke.
  bool read(std::string& out);
  // Waits up to `timeout` for data on the connection or for `wake_fd` (an eventfd) to be readable.
  void wait(int wake_fd, std::chrono::milliseconds timeout);
  // Sends a standby status update: received up to `written`, `flushed` (the slot's confirmed
  // position) done. Throws StoreError.
  void send_status(std::uint64_t written, std::uint64_t flushed);
  // Ends the stream cleanly: sends CopyDone, then reads (and drops) what the server still streams
  // until its own CopyDone and the command's end, waiting at most `bound`. The server handles our
  // messages in order, so when this returns true every status update sent before it was handled
  // (and the slot is released). Closing without it leaves the server's unread messages behind, the
  // socket is reset, and the server process may end on a failed send before it read our last
  // status update. Never throws; false when the stream could not be ended within `bound`.
  bool end_stream(std::chrono::milliseconds bound) noexcept;

 private:
  [[noreturn]] void stream_failed(const std::string& doing);
  std::string redacted_;
  PGconn* conn_ = nullptr;
};

}  // namespace outbox::postgres::detail
