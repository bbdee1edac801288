// What a consumer that drops duplicates by id sees of a sink's output, checked the same way for
// every broker: each committed position 1..expected present, no id twice, and per key the
// positions of first occurrences rising in the broker's order. Each sink's fixture turns what it
// read from its broker into `Delivered` records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace testing_support {

struct Delivered {
  std::string id;
  std::int64_t position = 0;
  std::string key;  // empty for messages without a key
};

struct Check {
  std::size_t distinct = 0, duplicates = 0, reorders = 0;
  std::int64_t first_missing = 0;  // 0 when 1..expected are all there
  std::string first_reorder;       // the first key seen out of order, for the failure message
};

inline Check check_delivery(const std::vector<Delivered>& delivered, std::int64_t expected) {
  Check c;
  std::set<std::string> ids;
  std::set<std::int64_t> positions;
  std::map<std::string, std::int64_t> last_of_key;
  for (const auto& d : delivered) {
    if (!ids.insert(d.id).second) {
      ++c.duplicates;
      continue;
    }
    positions.insert(d.position);
    auto [it, fresh] = last_of_key.emplace(d.key, d.position);
    if (fresh) continue;
    if (d.position < it->second) {
      if (c.reorders++ == 0) {
        c.first_reorder =
            "key " + d.key + ": position " + std::to_string(d.position) + " after " + std::to_string(it->second);
      }
    } else {
      it->second = d.position;
    }
  }
  c.distinct = positions.size();
  for (std::int64_t p = 1; p <= expected; ++p) {
    if (!positions.count(p)) {
      c.first_missing = p;
      break;
    }
  }
  return c;
}

}  // namespace testing_support
