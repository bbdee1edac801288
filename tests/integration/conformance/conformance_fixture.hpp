// The suite's fixture: per test, a fresh database of the store kind under test, a Store opened on it
// by URI, a scratch folder, and helpers that write and read the `orders` outbox.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "order_messages.hpp"
#include "outbox/store.hpp"
#include "store_kind.hpp"

namespace conformance {

inline constexpr const char* kOutbox = "orders";

using testing_support::ordernrs;

// order_created(nr) for `outbox`, with an optional key and headers.
inline outbox::Message order(std::int64_t nr, std::string key = "", outbox::Headers headers = {},
                             std::string outbox = kOutbox) {
  outbox::Message m = testing_support::order_created(nr, std::move(key));
  m.outbox = std::move(outbox);
  m.headers = std::move(headers);
  return m;
}

inline std::vector<outbox::Message> orders(std::int64_t from, std::int64_t to) {
  std::vector<outbox::Message> out;
  for (std::int64_t i = from; i <= to; ++i) out.push_back(order(i));
  return out;
}

class StoreConformance : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    backend = GetParam().open();
    store = outbox::open_store(backend->uri());
    char tmpl[] = "/tmp/outbox-conformance-scratch-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    scratch = tmpl;
  }
  void TearDown() override {
    store.reset();
    backend.reset();
    std::filesystem::remove_all(scratch);
  }

  const Capabilities& can() const { return GetParam().can; }

  std::vector<outbox::Message> commit(std::vector<outbox::Message> ms) { return backend->commit(std::move(ms)); }

  // The first `n` messages a tail from `from` delivers (fewer if they do not come within 10 s).
  std::vector<outbox::Message> read(std::size_t n, const outbox::Cursor& from = outbox::Cursor::beginning(),
                                    std::size_t batch_size = 1000) {
    auto tail = store->tail(kOutbox, from, {.batch_size = batch_size});
    return testing_support::drain(*tail, n);
  }

  // Where a consumer would resume: the checkpoint acquire() hands back (the lease is released again).
  std::optional<std::string> resume_point(const std::string& consumer) {
    auto cp = store->acquire({kOutbox, consumer, "probe"}, std::chrono::seconds(30));
    store->release({kOutbox, consumer, "probe"});
    return cp;
  }

  // Saves `checkpoint` for `consumer` as a relay named after it would.
  void pass(const std::string& consumer, const std::string& checkpoint) {
    store->acquire({kOutbox, consumer, "relay-" + consumer}, std::chrono::seconds(30));
    store->save_checkpoint({kOutbox, consumer, "relay-" + consumer}, checkpoint, std::chrono::seconds(30), "ok");
  }

  std::unique_ptr<Backend> backend;
  std::unique_ptr<outbox::Store> store;
  std::string scratch;
};

}  // namespace conformance
