// A sink of the end-to-end matrix (e2e_harness.hpp), as the harness sees it: what each `outbox
// relay` process is given, and, afterwards, everything the sink received, in the file sink's JSON
// lines so that one checker (tests/fault/crash_verify.hpp) judges every cell.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "crash_verify.hpp"

namespace outbox::e2e {

// How long a reader of a broker may take to read `expected` records back: a minute, and a
// millisecond per record more. A fixed minute cut a five-minute run short: the NATS reader had
// 129,031 of the 133,039 messages its stream held when the minute ran out, and the cell reported
// the rest as lost (docs/e2e.md).
inline std::chrono::milliseconds read_back_limit(std::int64_t expected) {
  return std::chrono::seconds(60) + std::chrono::milliseconds(expected);
}

struct Delivered {
  std::string lines;               // JSON lines: id, key, position, data (and more), delivery order
  std::vector<std::size_t> lives;  // offsets in `lines` where another relay's output begins (if known)
  std::int64_t dropped_tails = 0;  // unterminated last lines of killed relays, dropped (never acknowledged)
};

class SinkUnderTest {
 public:
  virtual ~SinkUnderTest() = default;
  virtual std::string name() const = 0;
  // Before any relay starts; `dir` is the test's work folder.
  virtual void prepare(const std::filesystem::path& dir) = 0;
  // The --sink and -X arguments of the relay process numbered `relay` (1, 2, ... in start order).
  virtual std::vector<std::string> relay_args(int relay, std::mt19937_64& rng) = 0;
  // A command that restarts the sink's server once mid-run (empty: there is none).
  virtual std::vector<std::string> restart_command() const { return {}; }
  // After every relay stopped: what the sink holds. `expected`: the committed messages (a reader
  // of a broker waits for at least that many records, then a little longer for duplicates).
  virtual Delivered delivered(std::int64_t expected) = 0;
  // The store's promises, narrowed to what this sink's output can show.
  virtual crash::VerifyOptions verify_options(crash::VerifyOptions store) const { return store; }
};

}  // namespace outbox::e2e
