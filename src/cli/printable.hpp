// User input echoed in an error message, made safe for a terminal: control characters (CR, LF,
// ESC, ...), invalid UTF-8 and backslashes are written as escapes (\r, \n, \x1b, \\), so a message
// can neither be torn into several lines nor move the cursor or recolour the terminal.
#pragma once

#include <string>
#include <string_view>

namespace outbox::cli {

std::string printable(std::string_view text);

}  // namespace outbox::cli
