// A duration given on the command line: a whole number and a unit, s, m, h or d (30s, 15m, 12h,
// 7d), as `outbox dead-letters purge --older-than` takes it.
#pragma once

#include <chrono>
#include <string>

namespace outbox::cli {

// Throws UsageError naming `option` and showing the accepted forms.
std::chrono::seconds parse_duration(const std::string& text, const char* option);

}  // namespace outbox::cli
