// The tail of a WAL-mode outbox: streams the consumer's logical replication slot (pgoutput) and
// hands out the outbox's messages transaction by transaction, in commit order, as the server
// decodes them. No polling and no cursor arithmetic: the server delivers each committed
// transaction once its commit is in the WAL, never one that rolled back.
//
// The slot keeps WAL from its confirmed position on. It is confirmed only from checkpoints the
// store saved (SlotFeedback, set by Store::save_checkpoint after the sink acknowledged), so a relay
// that crashes resumes from the server's copy of everything not yet confirmed, and skips what its
// saved checkpoint says it passed.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "outbox/store.hpp"
#include "replication_connection.hpp"
#include "wal_layout.hpp"

namespace outbox::postgres::detail {

// The position a consumer's slot may be confirmed up to; raised by save_checkpoint, read by the
// tail streaming that slot, which sends it to the server. Only ever grows.
struct SlotFeedback {
  std::atomic<std::uint64_t> confirm{0};
  void raise(std::uint64_t lsn) {
    std::uint64_t cur = confirm.load();
    while (lsn > cur && !confirm.compare_exchange_weak(cur, lsn)) {
    }
  }
};

class WalTail final : public Tail {
 public:
  // `consumer` empty: an ad-hoc reader (`outbox tail`), which streams a temporary copy of the slot
  // of consumer "default" and never confirms anything. Otherwise the consumer's own slot, which
  // must exist (Store::acquire makes it). Throws StoreError (not retryable) for a slot that is
  // missing, invalidated ("lost": the server removed WAL it still needed) or confirmed past
  // `from`: messages may be gone, and the tail will not silently restart from "now".
  WalTail(const std::string& conninfo, const std::string& outbox, const std::string& consumer, const Cursor& from,
          const TailOptions& options, std::shared_ptr<SlotFeedback> feedback);
  ~WalTail() override;

  // Also waits (at most 10 s after the tail opened) beyond `wait` until the server has streamed
  // past the WAL position it had when the tail opened: an empty batch then means that everything
  // committed before the tail opened was returned.
  std::vector<Message> next(std::chrono::milliseconds wait) override;
  void close() override;
  bool closed() const override { return closed_.load(); }
  // Past every transaction the server has decoded so far, when nothing read is waiting to be
  // returned: an idle consumer's slot then keeps up with the WAL that other tables write.
  std::optional<std::string> idle_checkpoint() override;

 private:
  void check_slot(const std::optional<std::uint64_t>& must_not_pass);
  void handle(const std::string& message);
  void handle_pgoutput(WireReader& r);
  void send_feedback(bool force);

  std::string outbox_;
  std::string prefix_;
  std::string slot_;
  std::string consumer_;
  TailOptions options_;
  std::shared_ptr<SlotFeedback> feedback_;
  ReplicationConnection stream_;
  WalCheckpoint from_;
  bool in_transaction_ = false;
  std::vector<Message> transaction_;  // the outbox's messages of the open transaction
  std::deque<Message> ready_;         // of committed transactions, not yet returned
  std::uint64_t decoded_to_ = 0;      // every transaction committed before this was handled
  std::uint64_t received_ = 0;        // the furthest WAL position the server sent
  std::uint64_t confirmed_ = 0;       // last flush position sent to the server
  std::uint64_t catch_up_to_ = 0;     // the server's WAL position when the tail opened
  std::chrono::steady_clock::time_point catch_up_until_{};
  std::chrono::steady_clock::time_point last_status_{};
  std::string buffer_;
  std::exception_ptr failed_;  // raised by the next call, after the messages read before it
  std::atomic<bool> closed_{false};
  int close_fd_ = -1;
};

}  // namespace outbox::postgres::detail
