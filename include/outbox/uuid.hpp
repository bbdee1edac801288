// UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits; a per-process counter in rand_a
// keeps ids from one process strictly increasing even within one millisecond.
#pragma once

#include <string>

namespace outbox {

std::string uuid_v7();

}  // namespace outbox
