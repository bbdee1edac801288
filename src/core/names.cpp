#include "outbox/names.hpp"

#include <string>

#include "outbox/errors.hpp"

namespace outbox {

bool is_identifier(std::string_view name) noexcept {
  if (name.empty() || name.size() > 63) return false;
  if (!(name[0] >= 'a' && name[0] <= 'z')) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

void check_identifier(std::string_view name, std::string_view what) {
  if (!is_identifier(name)) {
    throw UsageError(std::string(what) + " '" + std::string(name) +
                     "' is not allowed: use 1 to 63 characters of a-z, 0-9 and _, starting with a "
                     "letter (it becomes part of table names)");
  }
}

}  // namespace outbox
