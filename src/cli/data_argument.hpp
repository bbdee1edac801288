// The text of `outbox put --data`: the JSON itself, `@PATH` for a file, or `-` for standard input.
// Files and stdin lift the kernel's 128 KiB limit on one argument, so payloads up to the library's
// limit (1 MiB serialized by default) can be put.
#pragma once

#include <cstddef>
#include <string>

namespace outbox::cli {

// Reads at most `max_bytes` (more is a UsageError: the payload could not be put anyway).
// Throws UsageError naming the file when it cannot be read.
std::string read_data_argument(const std::string& argument, std::size_t max_bytes);

}  // namespace outbox::cli
