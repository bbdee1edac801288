#include "outbox/message.hpp"

#include <cstdio>
#include <ctime>

#include "outbox/errors.hpp"

namespace outbox {

Timestamp now() { return std::chrono::time_point_cast<std::chrono::microseconds>(Clock::now()); }

std::string format_timestamp(Timestamp t) {
  const auto us = t.time_since_epoch().count();
  std::int64_t secs = us / 1'000'000;
  std::int64_t frac = us % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    secs -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

Timestamp parse_timestamp(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    throw UsageError("bad timestamp '" + text + "': expected YYYY-MM-DDTHH:MM:SS[.ffffff]Z");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::int64_t micros = 0;
  std::size_t i = 19;
  if (i < text.size() && text[i] == '.') {
    int digits = 0;
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits) {
      if (digits < 6) micros = micros * 10 + (text[i] - '0');
    }
    for (; digits < 6; ++digits) micros *= 10;
  }
  if (i + 1 != text.size() || (text[i] != 'Z' && text[i] != 'z')) {
    throw UsageError("bad timestamp '" + text + "': it must end in 'Z' (UTC)");
  }
  const std::int64_t secs = timegm(&tm);
  return Timestamp(std::chrono::microseconds(secs * 1'000'000 + micros));
}

nlohmann::json to_json(const Message& m) {
  nlohmann::json j = nlohmann::json::object();
  j["id"] = m.id;
  j["outbox"] = m.outbox;
  j["type"] = m.type;
  j["key"] = m.key ? nlohmann::json(*m.key) : nlohmann::json();
  j["data"] = m.data;
  j["headers"] = m.headers;
  j["created"] = format_timestamp(m.created);
  j["position"] = m.position;
  return j;
}

std::string serialized_data(const Message& m) {
  return m.data_json.empty() ? m.data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) : m.data_json;
}

std::string to_json_line(const Message& m) {
  // Written by hand, in the key order nlohmann::json uses (sorted), so that the stored `data`
  // text is spliced in without building and dumping a tree per message. Invalid UTF-8 (which
  // `put` rejects, so only foreign rows can have it) is replaced rather than thrown on.
  const auto str = [](const std::string& v) {
    return nlohmann::json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  std::string line;
  line.reserve(m.data_json.size() + 256);
  line += "{\"created\":\"" + format_timestamp(m.created) + "\",\"data\":";
  line += serialized_data(m);
  line += ",\"headers\":";
  line += nlohmann::json(m.headers).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += ",\"id\":" + str(m.id) + ",\"key\":" + (m.key ? str(*m.key) : std::string("null"));
  line += ",\"outbox\":" + str(m.outbox) + ",\"position\":" + std::to_string(m.position);
  line += ",\"type\":" + str(m.type) + "}";
  return line;
}

namespace {
const nlohmann::json& field(const nlohmann::json& j, const char* name, bool (nlohmann::json::*is)() const noexcept,
                            const char* expected) {
  auto it = j.find(name);
  if (it == j.end()) throw ValidationError(std::string("/") + name, "required", "field is missing");
  if (!((*it).*is)()) {
    throw ValidationError(std::string("/") + name, "type", std::string("expected ") + expected);
  }
  return *it;
}
}  // namespace

Message message_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw ValidationError("", "type", "a message must be a JSON object");
  Message m;
  m.id = field(j, "id", &nlohmann::json::is_string, "a string").get<std::string>();
  m.outbox = field(j, "outbox", &nlohmann::json::is_string, "a string").get<std::string>();
  m.type = field(j, "type", &nlohmann::json::is_string, "a string").get<std::string>();
  if (auto it = j.find("key"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) throw ValidationError("/key", "type", "expected a string or null");
    m.key = it->get<std::string>();
  }
  m.data = field(j, "data", &nlohmann::json::is_object, "an object");
  if (auto it = j.find("headers"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) throw ValidationError("/headers", "type", "expected an object");
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) throw ValidationError("/headers/" + k, "type", "expected a string");
      m.headers[k] = v.get<std::string>();
    }
  }
  try {
    m.created = parse_timestamp(field(j, "created", &nlohmann::json::is_string, "a string").get<std::string>());
  } catch (const UsageError& e) {
    throw ValidationError("/created", "format", e.what());
  }
  m.position = field(j, "position", &nlohmann::json::is_number_integer, "an integer").get<std::int64_t>();
  return m;
}

}  // namespace outbox
