// The draft-07 `format`s with a fixed grammar, checked with RE2 (linear time): used by the schema
// validator (schema.cpp) and its quick check (schema_quick_check.cpp), so both judge alike.
#pragma once

#include <string>

namespace outbox::detail {

// True when `value` is a valid `format` ("date", "time", "date-time", "uuid"); any other format is
// an annotation and always holds.
bool format_holds(const std::string& format, const std::string& value);

}  // namespace outbox::detail
