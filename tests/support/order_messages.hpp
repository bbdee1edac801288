// The messages every store's integration tests write (the seed's order example) and helpers to
// read them back from a tail.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "outbox/message.hpp"
#include "outbox/schema.hpp"
#include "outbox/store.hpp"

namespace testing_support {

inline const char* order_schemas_json() {
  return R"({
    "order_created": {"type": "object", "properties": {"ordernr": {"type": "integer"}}, "required": ["ordernr"]},
    "order_completed": {"type": "object", "properties": {"ordernr": {"type": "integer"}}, "required": ["ordernr"]}
  })";
}

inline outbox::SchemaRegistry order_schemas() {
  return outbox::SchemaRegistry::from_json(nlohmann::json::parse(order_schemas_json()));
}

inline outbox::Message order_created(std::int64_t nr, std::string key = "") {
  outbox::Message m;
  m.type = "order_created";
  m.data = {{"ordernr", nr}};
  if (!key.empty()) m.key = std::move(key);
  return m;
}

// Drains a tail until `n` messages arrived or `timeout` passed.
inline std::vector<outbox::Message> drain(outbox::Tail& tail, std::size_t n,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  std::vector<outbox::Message> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    for (auto& m : tail.next(std::chrono::milliseconds(50))) out.push_back(std::move(m));
  }
  return out;
}

inline std::vector<std::int64_t> ordernrs(const std::vector<outbox::Message>& ms) {
  std::vector<std::int64_t> out;
  for (const auto& m : ms) out.push_back(m.data.at("ordernr").get<std::int64_t>());
  return out;
}

}  // namespace testing_support
