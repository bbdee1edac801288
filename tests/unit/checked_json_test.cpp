// The one-pass serializer and checker of a put's `data` (src/core/checked_json.cpp): its text must
// be exactly what nlohmann::json::dump() writes (stored rows and consumers see no change), and its
// errors the ones the separate depth, size and value walks it replaced reported, with the same
// precedence.
#include "core/checked_json.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "outbox/errors.hpp"

using outbox::Limits;
using outbox::ValidationError;
using outbox::detail::serialize_checked;
using outbox::detail::serialize_headers;

namespace {

// Random JSON reaching every branch of the writer: each control character, quotes and
// backslashes, DEL, two- to four-byte UTF-8, integers at both ends of int64 and uint64, doubles
// of every magnitude (integral ones too, which dump() writes with ".0"), nesting.
class RandomJson {
 public:
  explicit RandomJson(std::uint64_t seed) : rng_(seed) {}

  nlohmann::json value(int depth) {
    switch (pick(depth < 4 ? 9 : 7)) {
      case 0:
        return nullptr;
      case 1:
        return pick(2) == 0;
      case 2:
        return integer();
      case 3:
        return std::numeric_limits<std::uint64_t>::max() - pick(1000);
      case 4:
        return real();
      case 5:
      case 6:
        return text();
      case 7: {
        nlohmann::json a = nlohmann::json::array();
        for (int i = pick(5); i > 0; --i) a.push_back(value(depth + 1));
        return a;
      }
      default: {
        nlohmann::json o = nlohmann::json::object();
        for (int i = pick(5); i > 0; --i) o[text()] = value(depth + 1);
        return o;
      }
    }
  }

  std::string text() {
    static const char* const pieces[] = {
        "a", "Z", " ", "\"", "\\",          "/", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "~", "0", "{", "]",  "\xef\xbf\xbf"};
    std::string s;
    for (int i = pick(12); i > 0; --i) {
      if (pick(4) == 0) {
        s += static_cast<char>(pick(0x20));  // a control character, NUL included
      } else {
        s += pieces[pick(std::size(pieces))];
      }
    }
    return s;
  }

 private:
  int pick(std::size_t n) { return static_cast<int>(std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_)); }
  std::int64_t integer() {
    switch (pick(3)) {
      case 0:
        return std::numeric_limits<std::int64_t>::min() + pick(1000);
      case 1:
        return std::numeric_limits<std::int64_t>::max() - pick(1000);
      default:
        return std::uniform_int_distribution<std::int64_t>(-100000, 100000)(rng_);
    }
  }
  double real() {
    switch (pick(4)) {
      case 0:
        return static_cast<double>(std::uniform_int_distribution<int>(-1000, 1000)(rng_));  // integral
      case 1:
        return std::uniform_real_distribution<double>(-1, 1)(rng_);
      case 2: {  // any finite bit pattern: subnormals, huge and tiny exponents
        for (;;) {
          const std::uint64_t bits = rng_();
          double d;
          std::memcpy(&d, &bits, sizeof d);
          if (std::isfinite(d)) return d;
        }
      }
      default:
        return std::pow(10.0, std::uniform_int_distribution<int>(-300, 300)(rng_));
    }
  }
  std::mt19937_64 rng_;
};

std::string error_of(const nlohmann::json& data, const Limits& limits = {}) {
  try {
    serialize_checked(data, limits);
  } catch (const ValidationError& e) {
    return e.pointer() + " " + e.rule();
  }
  return "(accepted)";
}

}  // namespace

TEST(CheckedJson, WritesExactlyWhatDumpWritesFor20000RandomDocuments) {
  RandomJson random(20261202);
  Limits unlimited;
  unlimited.max_payload_bytes = std::numeric_limits<std::size_t>::max();
  for (int i = 0; i < 20000; ++i) {
    nlohmann::json data = nlohmann::json::object();
    for (int k = i % 6; k > 0; --k) data[random.text()] = random.value(0);
    ASSERT_EQ(serialize_checked(data, unlimited), data.dump()) << "document " << i;
  }
  EXPECT_EQ(serialize_checked(nlohmann::json::object(), unlimited), "{}");
  EXPECT_EQ(serialize_checked({{"a", nlohmann::json::array()}}, unlimited), R"({"a":[]})");
  EXPECT_EQ(serialize_checked({{"x", 1.0}, {"y", -0.0}, {"z", 1e300}}, unlimited), R"({"x":1.0,"y":-0.0,"z":1e+300})");
}

TEST(CheckedJson, HeadersAreWhatDumpWritesForTheirObject) {
  RandomJson random(7);
  for (int i = 0; i < 2000; ++i) {
    outbox::Headers headers;
    for (int k = i % 4; k > 0; --k) headers[random.text()] = random.text();
    const std::string expected = headers.empty() ? "" : nlohmann::json(headers).dump();
    ASSERT_EQ(serialize_headers(headers), expected) << "headers " << i;
  }
}

TEST(CheckedJson, RefusesWhatNoSchemaCanWithThePointerOfTheFirstBadValue) {
  EXPECT_EQ(error_of({{"a", {{"b", "ok"}, {"c", "\xff"}}}}), "/data/a/c utf-8");
  EXPECT_EQ(error_of({{"a", {1, 2, "\xc3"}}}), "/data/a/2 utf-8") << "a truncated sequence";
  EXPECT_EQ(error_of({{"a/b~", {{"\xed\xa0\x80", 1}}}}), "/data/a~1b~0/\xed\xa0\x80 utf-8") << "a surrogate as a name";
  EXPECT_EQ(error_of({{"n", std::nan("")}}), "/data/n number-range");
  EXPECT_EQ(error_of({{"list", {0.5, -std::numeric_limits<double>::infinity()}}}), "/data/list/1 number-range");
  EXPECT_EQ(error_of({{"a", "\xff"}, {"b", std::nan("")}}), "/data/a utf-8") << "the first in document order";
}

TEST(CheckedJson, DepthThenSizeThenValuesWhateverTheirOrderInTheDocument) {
  Limits limits;
  limits.max_depth = 3;
  limits.max_payload_bytes = 64;
  const nlohmann::json deep = {{"x", {{"y", {{"z", {{"too", "deep"}}}}}}}};
  EXPECT_EQ(error_of(deep, limits), "/data/x/y/z max_depth");
  EXPECT_EQ(error_of({{"x", {{"y", 1}}}}, limits), "(accepted)") << "depth 2 of 3";
  EXPECT_EQ(error_of({{"x", {{"y", {1}}}}}, limits), "(accepted)") << "depth 3 of 3";

  const std::string big(100, 'b');
  // A bad value and an oversized text before a nesting error: the nesting error wins.
  EXPECT_EQ(error_of({{"a", "\xff"}, {"b", big}, {"c", deep}}, limits), "/data/c/x/y max_depth");
  // An oversized text and a bad value: the size wins.
  EXPECT_EQ(error_of({{"a", "\xff"}, {"b", big}}, limits), "/data max_payload_bytes");

  limits.max_depth = 64;
  limits.max_payload_bytes = 9;  // {"a":"b"} is 9 bytes: at the limit is allowed
  EXPECT_EQ(error_of({{"a", "b"}}, limits), "(accepted)");
  EXPECT_EQ(error_of({{"a", "bc"}}, limits), "/data max_payload_bytes");
}
