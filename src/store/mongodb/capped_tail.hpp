// Capped mode's tail: a tailable awaitData cursor over the capped collection, reopened when the
// server ends it, whose documents are handed over strictly by position (see docs/mongodb.md,
// "Capped mode"). The cursor is the fast path; positions are the truth. A document that comes
// ahead of the next position is held back, and the missing positions are read by index; the tail
// passes a position only once it has seen a document there (a message or a tombstone), or once
// it knows the position rolled off the collection (then it is counted as lost and logged).
//
// Why not trust the cursor's order: a tailable cursor may not return every document. FerretDB
// 1.24 drops a batch it has already taken from the collection when its awaitData wait times out
// at the wrong moment (its getMore builds the batch, sleeps, and on the deadline replies with an
// empty batch), so a tail that followed the cursor alone skipped messages under load.
#pragma once

#include <atomic>
#include <map>
#include <optional>

#include "position_tail.hpp"

namespace outbox::mongodb::detail {

class CappedTail final : public PositionTail {
 public:
  CappedTail(const Pool& pool, std::string database, std::string outbox, std::int64_t after, const TailOptions& options,
             std::chrono::milliseconds gap_timeout);
  std::vector<Message> next(std::chrono::milliseconds wait) override;
  void close() override { closed_.store(true); }
  bool closed() const override { return closed_.load(); }

 private:
  void open_cursor();
  // Reads from the cursor until `room` documents were taken or a getMore came back empty (after
  // the server's await). Returns how many new documents it took.
  std::size_t pull(std::size_t room);
  // Reads by position (the unique index): the documents above last_ and below `below` (0 = no
  // bound), at most `limit`.
  std::size_t read_by_position(std::int64_t below, std::size_t limit);
  // Holds a document back until its position is next; false if it was seen before.
  bool take(const bson_t& doc);
  // Hands over, in position order, the held documents that follow last_ without a hole.
  void hand_over(std::vector<Message>& batch, std::size_t limit);
  // Position last_+1 is missing while a later one was seen: read the hole by index; if it stays,
  // it either rolled off (counted now) or a writer is slow (closed with a tombstone after the gap
  // timeout).
  void repair_hole();
  bool hole() const { return !ahead_.empty() && ahead_.begin()->first != last_ + 1; }

  std::optional<MongoCursor> cursor_;
  // Documents seen above last_+1, by position; nullopt marks a tombstone.
  std::map<std::int64_t, std::optional<Message>> ahead_;
  std::chrono::steady_clock::time_point last_check_{};  // the last read by position while idle
  std::atomic<bool> closed_{false};
};

}  // namespace outbox::mongodb::detail
