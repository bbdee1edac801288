// Lookups over the generated scheme table (scheme_table.cpp).
#include "outbox/scheme.hpp"

namespace outbox {

const StoreScheme* find_store_scheme(std::string_view uri) {
  for (const StoreScheme* s : store_schemes()) {
    if (s->accepts(uri)) return s;
  }
  return nullptr;
}

const SinkScheme* find_sink_scheme(std::string_view uri) {
  for (const SinkScheme* s : sink_schemes()) {
    if (s->accepts(uri)) return s;
  }
  return nullptr;
}

namespace {

template <class Schemes>
std::string usages(const Schemes& schemes) {
  std::string out;
  for (const auto* s : schemes) {
    if (!out.empty()) out += ", ";
    out += s->usage;
  }
  return out;
}

}  // namespace

std::string store_usages() { return usages(store_schemes()); }
std::string sink_usages() { return usages(sink_schemes()); }

}  // namespace outbox
