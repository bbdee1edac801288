// The text of a Timestamp (format_timestamp's, ISO 8601 UTC with microseconds) written into the
// caller's buffer: a sink that sends the created time with every message neither allocates nor
// goes through snprintf for it (snprintf was a sixth of the Kafka relay's instructions).
#pragma once

#include <cstddef>
#include <string_view>

#include "outbox/message.hpp"

namespace outbox::detail {

inline constexpr std::size_t kTimestampTextMax = 48;  // "YYYY-MM-DDTHH:MM:SS.ffffffZ" is 27

// Writes the text into `out` (kTimestampTextMax bytes) and returns it.
std::string_view write_timestamp(Timestamp t, char* out);

}  // namespace outbox::detail
