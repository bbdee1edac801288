// The file sink in the end-to-end matrix: each relay process appends to a file of its own
// (delivered-N.jsonl), so the output of one relay's life is exactly one file, even when a standby
// takes over while its predecessor is still exiting. Read back in start order (the order in which
// the relays held the lease: a new standby starts only after the previous one took over).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "child_processes.hpp"
#include "sink_under_test.hpp"

namespace outbox::e2e {

class FileSinkUnderTest : public SinkUnderTest {
 public:
  std::string name() const override { return "file"; }
  void prepare(const std::filesystem::path& dir) override { dir_ = dir; }

  std::vector<std::string> relay_args(int relay, std::mt19937_64&) override {
    relays_ = std::max(relays_, relay);
    return {"--sink", "file:" + path(relay).string()};
  }

  Delivered delivered(std::int64_t) override {
    Delivered d;
    for (int relay = 1; relay <= relays_; ++relay) {
      std::string text = testing_support::read_text(path(relay));
      // A relay killed in the middle of a write leaves a partial last line. Nothing acknowledged it
      // (the file sink acknowledges after the whole batch is written), so its successor sends the
      // message again; the partial line is no delivery.
      if (!text.empty() && text.back() != '\n') {
        text.erase(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
        ++d.dropped_tails;
      }
      if (relay > 1) d.lives.push_back(d.lines.size());
      d.lines += text;
    }
    return d;
  }

 private:
  std::filesystem::path path(int relay) const { return dir_ / ("delivered-" + std::to_string(relay) + ".jsonl"); }

  std::filesystem::path dir_;
  int relays_ = 0;
};

}  // namespace outbox::e2e
