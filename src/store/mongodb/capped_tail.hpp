// Capped mode's tail: a tailable awaitData cursor over the capped collection in natural (insertion)
// order, reopened when the server ends it. A checkpoint is the position of the last message
// delivered; resuming finds that document again and continues after it in natural order. When it
// has rolled off, every document still there is newer in natural order: the tail delivers them and
// counts the positions in between as lost (outbox status shows them; a warning is logged).
#pragma once

#include <atomic>
#include <optional>
#include <set>

#include "client.hpp"
#include "outbox/store.hpp"

namespace outbox::mongodb::detail {

class CappedTail final : public Tail {
 public:
  CappedTail(const Pool& pool, std::string database, std::string outbox, std::int64_t after,
             const TailOptions& options);
  std::vector<Message> next(std::chrono::milliseconds wait) override;
  void close() override { closed_.store(true); }
  bool closed() const override { return closed_.load(); }

 private:
  void open();
  // Records `pos` as delivered (or passed); false if it was already.
  bool first_time(std::int64_t pos);

  PooledClient client_;
  std::string database_, outbox_;
  std::int64_t last_;       // position of the last message delivered (0 = none)
  bool skipping_ = false;   // reading up to the document at last_ again after a reopen
  TailOptions options_;
  std::optional<MongoCursor> cursor_;
  // Positions already passed: every one at or below floor_, and those in seen_ (a window of the
  // most recent ones). A cursor may return a document again (FerretDB 1.24 does, after it reached
  // the end; see docs/mongodb.md), and concurrent writers' documents are not in position order.
  std::int64_t floor_ = 0;
  std::set<std::int64_t> seen_;
  std::atomic<bool> closed_{false};
};

}  // namespace outbox::mongodb::detail
