#include "string_formats.hpp"

#include <re2/re2.h>

namespace outbox::detail {

namespace {

// The grammar admits 2026-02-31; the calendar does not.
bool day_exists(const std::string& date_or_date_time) {
  const int year = std::stoi(date_or_date_time.substr(0, 4));
  const int month = std::stoi(date_or_date_time.substr(5, 2));
  const int day = std::stoi(date_or_date_time.substr(8, 2));
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

}  // namespace

bool format_holds(const std::string& format, const std::string& value) {
  static const RE2 date(R"(\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]))");
  static const RE2 time(R"(([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d))");
  static const RE2 date_time(
      R"(\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d))");
  static const RE2 uuid(R"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})");
  const RE2* re = nullptr;
  if (format == "date")
    re = &date;
  else if (format == "time")
    re = &time;
  else if (format == "date-time")
    re = &date_time;
  else if (format == "uuid")
    re = &uuid;
  if (re == nullptr) return true;
  return RE2::FullMatch(value, *re) && ((format != "date" && format != "date-time") || day_exists(value));
}

}  // namespace outbox::detail
