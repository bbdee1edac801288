#include "outbox/message.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

#include "outbox/errors.hpp"
#include "timestamp_text.hpp"

namespace outbox {

Timestamp now() { return std::chrono::time_point_cast<std::chrono::microseconds>(Clock::now()); }

std::string_view detail::write_timestamp(Timestamp t, char* out) {
  const auto us = t.time_since_epoch().count();
  std::int64_t secs = us / 1'000'000;
  std::int64_t frac = us % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    secs -= 1;
  }
  std::int64_t day_count = secs / 86'400;
  std::int64_t second_of_day = secs % 86'400;
  if (second_of_day < 0) {
    second_of_day += 86'400;
    day_count -= 1;
  }
  const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{day_count}}};
  const int year = static_cast<int>(date.year());
  if (year < 0 || year > 9999) {
    // Outside what parse_timestamp accepts: written as before, by the C library.
    const std::time_t tt = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    const int n =
        std::snprintf(out, kTimestampTextMax, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
    return {out, static_cast<std::size_t>(std::clamp(n, 0, static_cast<int>(kTimestampTextMax) - 1))};
  }
  // Fixed width, digit by digit, right to left.
  auto digits = [](char* end, std::int64_t value, int width) {
    for (int i = 1; i <= width; ++i, value /= 10) end[-i] = static_cast<char>('0' + value % 10);
  };
  char* p = out;
  digits(p + 4, year, 4);
  p[4] = '-';
  digits(p + 7, static_cast<unsigned>(date.month()), 2);
  p[7] = '-';
  digits(p + 10, static_cast<unsigned>(date.day()), 2);
  p[10] = 'T';
  digits(p + 13, second_of_day / 3600, 2);
  p[13] = ':';
  digits(p + 16, second_of_day / 60 % 60, 2);
  p[16] = ':';
  digits(p + 19, second_of_day % 60, 2);
  p[19] = '.';
  digits(p + 26, frac, 6);
  p[26] = 'Z';
  return {out, 27};
}

std::string format_timestamp(Timestamp t) {
  char text[detail::kTimestampTextMax];
  return std::string(detail::write_timestamp(t, text));
}

Timestamp parse_timestamp(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    throw UsageError("bad timestamp '" + text + "': expected YYYY-MM-DDTHH:MM:SS[.ffffff]Z");
  }
  // Fields in range, checked before timegm() normalises them away: 23:59:60 (a leap second, which
  // a system clock cannot hold) became the next day, and 9999-12-31T23:59:60Z a year 10000 that
  // format_timestamp() cannot write back.
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (tm.tm_year < 1 || tm.tm_year > 9999 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
      tm.tm_mday > kDays[tm.tm_mon - 1] || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59 || tm.tm_hour < 0 ||
      tm.tm_min < 0 || tm.tm_sec < 0) {
    throw UsageError("bad timestamp '" + text + "': a field is out of range (years 0001-9999, no leap seconds)");
  }
  const int day = tm.tm_mday, month = tm.tm_mon;
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
  if (tm.tm_mday != day || tm.tm_mon + 1 != month) {  // February 30th, or the 29th in a common year
    throw UsageError("bad timestamp '" + text + "': no such day");
  }
  return Timestamp(std::chrono::microseconds(secs * 1'000'000 + micros));
}

nlohmann::json to_json(const Message& m) {
  nlohmann::json j = nlohmann::json::object();
  j["id"] = m.id;
  j["outbox"] = m.outbox;
  j["type"] = m.type;
  j["key"] = m.key ? nlohmann::json(*m.key) : nlohmann::json();
  // A typed put's message, and a tail's that did not parse `data`, have only the text.
  if (m.data.is_null() && !m.data_json.empty()) {
    j["data"] = nlohmann::json::parse(m.data_json, nullptr, false);
    if (j["data"].is_discarded()) j["data"] = nlohmann::json::object({{"__unparseable", m.data_json}});
  } else {
    j["data"] = m.data;
  }
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
  char created[detail::kTimestampTextMax];
  line += "{\"created\":\"";
  line += detail::write_timestamp(m.created, created);
  line += "\",\"data\":";
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

namespace {

// Finds the number that overflowed while parsing `text`: a SAX pass that only tracks where it is.
class OverflowLocator : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::string pointer = "/data";
  std::string token;

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t) override { return scalar(); }
  bool number_unsigned(number_unsigned_t) override { return scalar(); }
  bool number_float(number_float_t, const string_t&) override { return scalar(); }
  bool string(string_t&) override { return scalar(); }
  bool binary(binary_t&) override { return scalar(); }
  bool start_object(std::size_t) override {
    scalar();
    frames_.push_back({false, "", -1});
    return true;
  }
  bool key(string_t& k) override {
    frames_.back().key = k;
    return true;
  }
  bool end_object() override {
    frames_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    scalar();
    frames_.push_back({true, "", -1});
    return true;
  }
  bool end_array() override {
    frames_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string& last_token, const nlohmann::detail::exception&) override {
    token = last_token;
    for (std::size_t i = 0; i < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      if (!f.array) {
        pointer += "/";
        for (char c : f.key) pointer += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
      } else {
        // The failing value has not been counted in its own array yet.
        pointer += "/" + std::to_string(i + 1 == frames_.size() ? f.index + 1 : f.index);
      }
    }
    return false;
  }

 private:
  struct Frame {
    bool array;
    std::string key;
    long long index;
  };
  bool scalar() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
    return true;
  }
  std::vector<Frame> frames_;
};

}  // namespace

nlohmann::json parse_data(std::string_view text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw ValidationError("/data", "json", std::string("data is not valid JSON (") + e.what() + "): fix the JSON text");
  } catch (const nlohmann::json::out_of_range&) {
    // A number too large for a double (1e400): nlohmann/json refuses it rather than making it
    // infinite. Say which one, and where.
    OverflowLocator where;
    nlohmann::json::sax_parse(text, &where);
    throw ValidationError(where.pointer, "number-range",
                          "number " + where.token +
                              " is out of range: JSON numbers must fit a 64-bit floating "
                              "point value (at most about 1.8e308 in magnitude); send larger values as strings");
  }
}

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
