#include <gtest/gtest.h>

#include <ctime>
#include <random>
#include <set>

#include <sys/wait.h>
#include <unistd.h>

#include "outbox/errors.hpp"
#include "outbox/message.hpp"
#include "outbox/names.hpp"
#include "outbox/uuid.hpp"

using namespace outbox;

TEST(Message, JsonFormHasExactlyTheEnvelopeFields) {
  Message m;
  m.id = "0190a3c4-0000-7000-8000-000000000000";
  m.outbox = "orders";
  m.type = "order_created";
  m.key = "order-1";
  m.data = {{"ordernr", 1}};
  m.headers = {{"traceparent", "00-abc-def-01"}};
  m.created = parse_timestamp("2026-11-29T13:26:08.123456Z");
  m.position = 42;
  m.checkpoint = "42";
  const auto j = to_json(m);
  std::set<std::string> keys;
  for (const auto& [k, _] : j.items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"id", "outbox", "type", "key", "data", "headers", "created", "position"}));
  EXPECT_EQ(j["created"], "2026-11-29T13:26:08.123456Z");
  EXPECT_EQ(j["position"], 42);

  const Message back = message_from_json(nlohmann::json::parse(to_json_line(m)));
  EXPECT_EQ(back.id, m.id);
  EXPECT_EQ(back.key, m.key);
  EXPECT_EQ(back.data, m.data);
  EXPECT_EQ(back.headers, m.headers);
  EXPECT_EQ(back.created, m.created);
  EXPECT_EQ(back.position, 42);
}

TEST(Message, MissingKeyIsNullAndReadsBackAsNone) {
  Message m;
  m.type = "t";
  const auto j = to_json(m);
  EXPECT_TRUE(j["key"].is_null());
  EXPECT_FALSE(message_from_json(j).key.has_value());
}

TEST(Message, FromJsonNamesTheBadField) {
  auto j = to_json(Message{});
  j["position"] = "seven";
  try {
    message_from_json(j);
    FAIL() << "expected ValidationError";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.pointer(), "/position");
  }
}

TEST(Timestamp, RoundTripsMicrosecondsAndRejectsNonUtc) {
  const auto t = parse_timestamp("1999-12-31T23:59:59.000001Z");
  EXPECT_EQ(format_timestamp(t), "1999-12-31T23:59:59.000001Z");
  EXPECT_EQ(format_timestamp(parse_timestamp("2026-01-02T03:04:05.5Z")), "2026-01-02T03:04:05.500000Z");
  EXPECT_THROW(parse_timestamp("2026-01-02T03:04:05+01:00"), UsageError);
  EXPECT_THROW(parse_timestamp("yesterday"), UsageError);
}

TEST(Uuid, IsVersion7AndIncreasesWithinOneProcess) {
  std::string previous;
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) {
    const std::string id = uuid_v7();
    ASSERT_EQ(id.size(), 36u);
    ASSERT_EQ(id[14], '7') << id;
    ASSERT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') << id;
    ASSERT_GT(id, previous) << "ids must be time-ordered";
    ASSERT_TRUE(seen.insert(id).second) << "duplicate id " << id;
    previous = id;
  }
}

TEST(Uuid, EmbedsTheCurrentMillisecond) {
  const auto before =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::string id = uuid_v7();
  std::string hex = id.substr(0, 8) + id.substr(9, 4);
  const long long ms = std::stoll(hex, nullptr, 16);
  EXPECT_GE(ms, before);
  EXPECT_LE(ms, before + 1000);
}

// uuid_v7 takes its random bytes from a per-thread buffer: a forked child must not hand out the
// bytes its parent buffered (a service that forks workers would give both the same ids' tails).
TEST(Uuid, AForkedChildDoesNotRepeatItsParentsRandomBytes) {
  (void)uuid_v7();  // fills this thread's buffer before the fork
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string id = uuid_v7();
    const ssize_t written = write(fds[1], id.data(), id.size());
    _exit(written == static_cast<ssize_t>(id.size()) ? 0 : 1);
  }
  const std::string parent = uuid_v7();
  std::string from_child(36, '\0');
  ASSERT_EQ(read(fds[0], from_child.data(), from_child.size()), 36);
  int status = 0;
  waitpid(child, &status, 0);
  close(fds[0]);
  close(fds[1]);
  // The last 16 hex digits (after the variant bits) are random in both.
  EXPECT_NE(parent.substr(20), from_child.substr(20)) << parent << " and " << from_child;
}

TEST(Names, StrictIdentifierPattern) {
  EXPECT_NO_THROW(check_identifier("orders", "outbox name"));
  EXPECT_NO_THROW(check_identifier("order_events_2", "outbox name"));
  for (const char* bad : {"", "Orders", "1orders", "orders-x", "a b", "x\"; DROP TABLE y; --", "_x"}) {
    EXPECT_THROW(check_identifier(bad, "outbox name"), UsageError) << bad;
  }
  EXPECT_THROW(check_identifier(std::string(64, 'a'), "outbox name"), UsageError);
  try {
    check_identifier("Bad", "consumer name");
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("consumer name 'Bad'"), std::string::npos) << e.what();
  }
}

TEST(Message, JsonLineFromStoredTextEqualsTheTreeForm) {
  Message m;
  m.id = "0190a3c4-0000-7000-8000-000000000000";
  m.outbox = "orders";
  m.type = "order_created";
  m.data = {{"ordernr", 1}, {"note", "caf\u00e9 \"quoted\""}, {"lines", {1, 2}}};
  m.headers = {{"traceparent", "00-abc"}};
  m.created = parse_timestamp("2026-11-29T13:26:08.123456Z");
  m.position = 7;
  const std::string from_tree = to_json(m).dump();
  EXPECT_EQ(to_json_line(m), from_tree);
  Message stored = m;
  stored.data_json = m.data.dump();
  stored.data = nullptr;  // as a tail opened with parse_data = false leaves it
  EXPECT_EQ(to_json_line(stored), from_tree);
  EXPECT_EQ(serialized_data(stored), m.data.dump());
  stored.key.reset();
  EXPECT_EQ(nlohmann::json::parse(to_json_line(stored))["key"], nullptr);
}

// issue 10 item 4: `{"ordernr": 1e400}` escaped as the JSON library's out_of_range (exit 1).
TEST(ParseData, NumbersOutOfRangeAreValidationErrorsNamingTheNumber) {
  struct Case {
    const char* text;
    const char* pointer;
  } cases[] = {
      {R"({"ordernr": 1e400})", "/data/ordernr"},
      {R"({"a": [1, 2, -1e999]})", "/data/a/2"},
      {R"({"x": {"y~/": [[0], [1E+400]]}})", "/data/x/y~0~1/1/0"},
      {"1e400", "/data"},
  };
  for (const auto& c : cases) {
    try {
      parse_data(c.text);
      ADD_FAILURE() << "accepted " << c.text;
    } catch (const ValidationError& e) {
      EXPECT_EQ(e.rule(), "number-range") << e.what();
      EXPECT_EQ(e.pointer(), c.pointer) << e.what();
      EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
    }
  }
  try {
    parse_data("{\"a\": ");
    ADD_FAILURE();
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.rule(), "json");
    EXPECT_EQ(e.pointer(), "/data");
  }
  EXPECT_EQ(parse_data(R"({"n": 1e300, "i": 18446744073709551615})")["i"], 18446744073709551615ull);
}

// Found by the message_json fuzzer: 9999-12-31T23:59:60Z was accepted, normalised to year 10000,
// and then could not be written back. Fields out of range are refused before normalising.
// format_timestamp writes its digits itself (no snprintf, no gmtime): it must agree with the C
// library's calendar everywhere, before 1970 and across leap days included.
TEST(Timestamp, TextAgreesWithTheCLibraryFromYear1To9999) {
  auto reference = [](std::int64_t us) {
    std::int64_t secs = us / 1'000'000, frac = us % 1'000'000;
    if (frac < 0) {
      frac += 1'000'000;
      secs -= 1;
    }
    const std::time_t tt = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
    return std::string(buf);
  };
  const std::int64_t first = parse_timestamp("0001-01-01T00:00:00Z").time_since_epoch().count();
  const std::int64_t last = parse_timestamp("9999-12-31T23:59:59.999999Z").time_since_epoch().count();
  std::vector<std::int64_t> cases = {first,
                                     last,
                                     0,
                                     -1,
                                     1,
                                     -1'000'000,
                                     -999'999,
                                     951'782'400'000'000 /* 2000-02-29 */,
                                     -2'203'891'200'000'001 /* 1900-03-01, less 1 us */};
  std::mt19937_64 rng(20261202);
  std::uniform_int_distribution<std::int64_t> any(first, last);
  for (int i = 0; i < 200'000; ++i) cases.push_back(any(rng));
  for (const std::int64_t us : cases) {
    const Timestamp t{std::chrono::microseconds(us)};
    ASSERT_EQ(format_timestamp(t), reference(us)) << us;
    ASSERT_EQ(parse_timestamp(format_timestamp(t)), t) << us;
  }
}

TEST(Timestamp, FieldsOutOfRangeAreRefusedNotNormalised) {
  for (const char* bad : {"9999-12-31T23:59:60Z", "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z",
                          "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "0000-01-01T00:00:00Z"}) {
    EXPECT_THROW(parse_timestamp(bad), UsageError) << bad;
  }
  const auto last = parse_timestamp("9999-12-31T23:59:59.999999Z");
  EXPECT_EQ(format_timestamp(last), "9999-12-31T23:59:59.999999Z");
  EXPECT_EQ(format_timestamp(parse_timestamp("2024-02-29T12:00:00Z")), "2024-02-29T12:00:00.000000Z");
}
