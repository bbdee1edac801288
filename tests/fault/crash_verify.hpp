// The crash test's checker: compares what a sink wrote (JSON lines, in delivery order) with the
// ground truth of what was committed. Kept apart from the test so that it can be tested on its own
// (crash_verify_test.cpp shows that each kind of fault is caught).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace outbox::crash {

// One committed message, as the writer recorded it in its business table.
struct Committed {
  std::int64_t writer = 0;
  std::int64_t seq = 0;  // the writer's transaction number, 1-based
  std::int64_t idx = 0;  // the message's index within that transaction
  std::string key;
  std::int64_t key_seq = 0;  // 1, 2, 3, ... per key in commit order
  std::string id;
  std::int64_t position = 0;
};

// What the store promises beyond "nothing lost, nothing rolled back, per-key commit order".
struct VerifyOptions {
  // SQLite hands out positions under its single write lock, so positions are commit order and a
  // relay delivers them in increasing order (first deliveries overall, and within one relay's
  // life). PostgreSQL draws positions at INSERT and delivers by commit (snapshot batches), so a
  // lower position may come after a higher one; there, within one relay's life, no message may
  // come twice instead.
  bool positions_follow_commit_order = true;
  // false: the output is not one sequence in delivery order but several concatenated (a Kafka
  // topic's partitions, each in its own order, with no order between them), and no relay's life
  // can be told from it. Then only each key's order is checked (a key lives in one partition);
  // the position and within-one-relay checks are skipped.
  bool one_delivery_sequence = true;
};

struct Verdict {
  std::int64_t committed = 0;                  // committed messages (ground truth)
  std::int64_t lines = 0;                      // lines in the sink's output
  std::int64_t delivered = 0;                  // lines that are messages (torn prefixes excluded)
  std::int64_t distinct = 0;                   // distinct committed messages delivered
  std::int64_t duplicates = 0;                 // deliveries beyond the first
  std::int64_t lost = 0;                       // committed, never delivered
  std::int64_t from_rolled_back = 0;           // delivered, from a transaction that rolled back
  std::int64_t unknown = 0;                    // delivered, matching nothing that was written
  std::int64_t mismatched = 0;                 // delivered with a key, data or position unlike the commit
  std::int64_t key_order_violations = 0;       // a key's first deliveries out of commit order
  std::int64_t position_order_violations = 0;  // first deliveries out of position order
  std::int64_t position_inversions = 0;        // first deliveries after a higher position (counted
                                               // either way; a violation only if positions are commit order)
  std::int64_t life_order_violations = 0;      // within one relay's life, a position not above the last
                                               // (or, see VerifyOptions, a message delivered twice)
  std::int64_t torn_lines = 0;                 // a partial line (writer killed mid-write) glued to a whole one
  std::int64_t unparseable = 0;                // lines with no whole message in them
  std::int64_t ground_truth_errors = 0;        // the business tables themselves are inconsistent
  std::vector<std::string> samples;            // the first few problems, for the failure message

  bool ok() const {
    return lost == 0 && from_rolled_back == 0 && unknown == 0 && mismatched == 0 && key_order_violations == 0 &&
           position_order_violations == 0 && life_order_violations == 0 && unparseable == 0 && ground_truth_errors == 0;
  }
  std::string problems() const {
    std::string s;
    for (const auto& p : samples) s += "  " + p + "\n";
    return s;
  }
};

namespace detail {

inline void note(Verdict& v, const std::string& problem) {
  if (v.samples.size() < 20) v.samples.push_back(problem);
}

// Parses a line; a line whose start was written by a relay killed mid-write carries a whole
// message after the torn prefix (the next relay appended to the unterminated line), so look for a
// message start further on. Returns false if no whole message is found; sets `at` to where the
// message starts in the line.
inline bool parse_line(const std::string& line, nlohmann::json& out, bool& torn, std::size_t& at) {
  torn = false;
  at = 0;
  out = nlohmann::json::parse(line, nullptr, false);
  if (!out.is_discarded() && out.is_object()) return true;
  for (at = line.find('{', 1); at != std::string::npos; at = line.find('{', at + 1)) {
    out = nlohmann::json::parse(line.substr(at), nullptr, false);
    if (!out.is_discarded() && out.is_object() && out.contains("id") && out.contains("data")) {
      torn = true;
      return true;
    }
  }
  return false;
}

template <class T>
bool get(const nlohmann::json& j, const char* name, T& out) {
  auto it = j.find(name);
  if (it == j.end()) return false;
  try {
    out = it->get<T>();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

}  // namespace detail

// `committed`: the ground truth. `transactions`: how many transactions each writer ran (a
// writer's transaction numbers 1..n with no committed row rolled back). `output`: what the sink
// wrote, JSON lines in delivery order. `lives`: the output's size each time a relay was stopped;
// within one relay's life positions must strictly increase (replays happen only across a restart,
// given a sink that never fails, as here).
inline Verdict verify(const std::vector<Committed>& committed, const std::map<std::int64_t, std::int64_t>& transactions,
                      const std::string& output, std::vector<std::size_t> lives = {},
                      const VerifyOptions& options = {}) {
  Verdict v;
  v.committed = static_cast<std::int64_t>(committed.size());

  std::unordered_map<std::string, const Committed*> by_id;
  std::set<std::pair<std::int64_t, std::int64_t>> committed_txns;  // (writer, seq)
  std::map<std::string, std::vector<const Committed*>> by_key;
  for (const auto& c : committed) {
    if (!by_id.emplace(c.id, &c).second) {
      ++v.ground_truth_errors;
      detail::note(v, "ground truth: id " + c.id + " recorded twice");
    }
    committed_txns.emplace(c.writer, c.seq);
    by_key[c.key].push_back(&c);
  }
  // Sanity of the ground truth: per key, key_seq is 1..n, and the store's positions follow commit
  // order (SQLite hands out positions under the single write lock; PostgreSQL's put draws the
  // position under the key's lock, held until commit: so they must).
  for (auto& [key, list] : by_key) {
    std::sort(list.begin(), list.end(), [](const Committed* a, const Committed* b) { return a->key_seq < b->key_seq; });
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (list[i]->key_seq != static_cast<std::int64_t>(i + 1)) {
        ++v.ground_truth_errors;
        detail::note(v, "ground truth: key " + key + " has key_seq " + std::to_string(list[i]->key_seq) + " where " +
                            std::to_string(i + 1) + " was expected");
        break;
      }
      if (i > 0 && list[i]->position <= list[i - 1]->position) {
        ++v.ground_truth_errors;
        detail::note(v, "store: key " + key + " message key_seq " + std::to_string(list[i]->key_seq) +
                            " got position " + std::to_string(list[i]->position) + ", not after the previous one's " +
                            std::to_string(list[i - 1]->position));
      }
    }
  }
  for (const auto& [writer, seq] : committed_txns) {
    auto it = transactions.find(writer);
    if (it == transactions.end() || seq < 1 || seq > it->second) {
      ++v.ground_truth_errors;
      detail::note(v, "ground truth: writer " + std::to_string(writer) + " transaction " + std::to_string(seq) +
                          " is outside the transactions it ran");
    }
  }

  std::unordered_map<std::string, std::int64_t> times_delivered;
  std::map<std::string, std::int64_t> highest_key_seq;  // per key, among first deliveries
  std::int64_t highest_position = 0;                    // among first deliveries
  std::sort(lives.begin(), lives.end());
  std::size_t life = SIZE_MAX;     // index of the relay life the current message belongs to
  std::int64_t life_position = 0;  // last position delivered in that life
  std::set<std::string> life_ids;  // ids delivered in that life
  for (std::size_t start = 0; start < output.size();) {
    std::size_t end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    const std::string line = output.substr(start, end - start);
    const std::size_t line_start = start;
    start = end + 1;
    ++v.lines;
    nlohmann::json j;
    bool torn = false;
    std::size_t at = 0;
    if (!detail::parse_line(line, j, torn, at)) {
      ++v.unparseable;
      detail::note(v, "line " + std::to_string(v.lines) + " holds no whole message: " + line.substr(0, 200));
      continue;
    }
    if (torn) ++v.torn_lines;
    ++v.delivered;
    if (options.one_delivery_sequence) {
      const std::size_t offset = line_start + at;
      const auto this_life =
          static_cast<std::size_t>(std::upper_bound(lives.begin(), lives.end(), offset) - lives.begin());
      std::int64_t position = 0;
      detail::get(j, "position", position);
      std::string id;
      detail::get(j, "id", id);
      if (this_life != life) life_ids.clear();
      if (options.positions_follow_commit_order) {
        if (this_life == life && position <= life_position) {
          ++v.life_order_violations;
          detail::note(v, "line " + std::to_string(v.lines) + ": position " + std::to_string(position) +
                              " delivered after position " + std::to_string(life_position) + " by the same relay");
        }
      } else if (!life_ids.insert(id).second) {
        ++v.life_order_violations;
        detail::note(v, "line " + std::to_string(v.lines) + ": message " + id + " (position " +
                            std::to_string(position) + ") delivered twice by the same relay");
      }
      life = this_life;
      life_position = position;
    }

    std::string id;
    detail::get(j, "id", id);
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      std::int64_t writer = 0, seq = 0;
      const auto data = j.value("data", nlohmann::json::object());
      if (detail::get(data, "writer", writer) && detail::get(data, "seq", seq) && transactions.count(writer) &&
          seq >= 1 && seq <= transactions.at(writer) && !committed_txns.count({writer, seq})) {
        ++v.from_rolled_back;
        detail::note(v, "line " + std::to_string(v.lines) + ": message of writer " + std::to_string(writer) +
                            "'s rolled-back transaction " + std::to_string(seq) + " was delivered");
      } else {
        ++v.unknown;
        detail::note(v, "line " + std::to_string(v.lines) + ": message " + id + " was never committed");
      }
      continue;
    }
    const Committed& c = *it->second;

    std::string key;
    std::int64_t position = 0, writer = 0, seq = 0, idx = 0, key_seq = 0;
    const auto data = j.value("data", nlohmann::json::object());
    if (!detail::get(j, "key", key) || key != c.key || !detail::get(j, "position", position) ||
        position != c.position || !detail::get(data, "writer", writer) || writer != c.writer ||
        !detail::get(data, "seq", seq) || seq != c.seq || !detail::get(data, "idx", idx) || idx != c.idx ||
        !detail::get(data, "key_seq", key_seq) || key_seq != c.key_seq) {
      ++v.mismatched;
      detail::note(v, "line " + std::to_string(v.lines) + ": message " + id + " differs from what was committed");
      continue;
    }

    if (times_delivered[id]++ > 0) {
      ++v.duplicates;
      continue;
    }
    ++v.distinct;
    auto& highest = highest_key_seq[c.key];
    if (c.key_seq < highest) {
      ++v.key_order_violations;
      detail::note(v, "line " + std::to_string(v.lines) + ": key " + c.key + " message " + std::to_string(c.key_seq) +
                          " first delivered after its message " + std::to_string(highest));
    }
    highest = std::max(highest, c.key_seq);
    if (c.position < highest_position) ++v.position_inversions;
    if (options.one_delivery_sequence && options.positions_follow_commit_order && c.position < highest_position) {
      ++v.position_order_violations;
      detail::note(v, "line " + std::to_string(v.lines) + ": position " + std::to_string(c.position) +
                          " first delivered after position " + std::to_string(highest_position));
    }
    highest_position = std::max(highest_position, c.position);
  }

  for (const auto& c : committed) {
    if (times_delivered.count(c.id)) continue;
    ++v.lost;
    detail::note(v, "lost: writer " + std::to_string(c.writer) + " transaction " + std::to_string(c.seq) + " message " +
                        std::to_string(c.idx) + " (key " + c.key + " #" + std::to_string(c.key_seq) + ", position " +
                        std::to_string(c.position) + ", id " + c.id + ")");
  }
  return v;
}

}  // namespace outbox::crash
