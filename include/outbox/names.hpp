// Outbox and consumer names become parts of table names, so they follow one strict pattern.
#pragma once

#include <string_view>

namespace outbox {

// ^[a-z][a-z0-9_]{0,62}$ ; throws UsageError naming `what` ("outbox name", "consumer name").
void check_identifier(std::string_view name, std::string_view what);
bool is_identifier(std::string_view name) noexcept;

}  // namespace outbox
