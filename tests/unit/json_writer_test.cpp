// JsonWriter keeps its text in a buffer it grows itself and writes into inline; these hold the
// edges of that buffer: its first size, the limit, and what is left after take().
#include <gtest/gtest.h>

#include <string>

#include "outbox/json_writer.hpp"

namespace {

using outbox::detail::JsonWriter;

// Strings of every length across the first buffer's end (256 bytes), with escapes on both sides.
TEST(JsonWriter, WritesTheSameTextAcrossTheEndOfItsFirstBuffer) {
  for (std::size_t length = 240; length < 600; ++length) {
    std::string s(length, 'a');
    s[length / 2] = '"';
    s[length - 1] = '\n';
    JsonWriter w;
    EXPECT_TRUE(w.string(s));
    w.put(',');
    w.integer(std::int64_t{-42});
    const std::string expected =
        "\"" + s.substr(0, length / 2) + "\\\"" + s.substr(length / 2 + 1, length - length / 2 - 2) + "\\n\",-42";
    EXPECT_EQ(w.size(), expected.size());
    EXPECT_EQ(w.take(), expected) << "length " << length;
  }
}

// At the limit everything is kept; one byte past it nothing more is, in whichever call crosses it.
TEST(JsonWriter, KeepsUpToItsLimitAndNotesTheByteThatCrossesIt) {
  for (std::size_t limit : {0, 1, 5, 255, 256, 257, 1000}) {
    JsonWriter at(limit);
    for (std::size_t i = 0; i < limit; ++i) at.put('x');
    EXPECT_FALSE(at.exceeded()) << limit;
    EXPECT_EQ(at.take(), std::string(limit, 'x'));

    JsonWriter past(limit);
    past.append(std::string(limit, 'y'));
    past.append("zz", 2);
    past.put('z');
    EXPECT_TRUE(past.exceeded()) << limit;
    EXPECT_EQ(past.size(), limit);
  }
}

// take() empties the writer; writing again starts a new text.
TEST(JsonWriter, WritesANewTextAfterTake) {
  JsonWriter w;
  w.boolean(true);
  EXPECT_EQ(w.take(), "true");
  EXPECT_EQ(w.size(), 0U);
  w.null();
  w.append(std::string(300, 'n'));
  EXPECT_EQ(w.take(), "null" + std::string(300, 'n'));
}

// A default string_view has no data at all (a null pointer): nothing to copy, and no copy from null
// (which memcpy does not allow, and UBSan reports).
TEST(JsonWriter, TakesAnEmptyViewWithNoData) {
  JsonWriter w;
  w.append(std::string_view());
  EXPECT_TRUE(w.string(std::string_view()));
  EXPECT_EQ(w.take(), "\"\"");
  w.append(std::string_view());
  EXPECT_EQ(w.take(), "");
}

}  // namespace
