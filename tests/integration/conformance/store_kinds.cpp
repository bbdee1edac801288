// The parameter list: every store kind this build was configured with. An explicit list (no
// self-registration), like the library's own scheme table.
#include <unistd.h>

#include <atomic>

#include "store_kind.hpp"

namespace conformance {

std::vector<outbox::Message> Backend::commit(std::vector<outbox::Message> messages) {
  auto t = begin();
  for (auto& m : messages) m = t->put(std::move(m));
  t->commit();
  return messages;
}

std::vector<StoreKind> store_kinds() {
  std::vector<StoreKind> all;
  auto add = [&](std::vector<StoreKind> kinds) {
    for (auto& k : kinds) all.push_back(std::move(k));
  };
#ifdef CONFORMANCE_WITH_SQLITE
  add(sqlite_kinds());
#endif
#ifdef CONFORMANCE_WITH_POSTGRES
  add(postgres_kinds());
#endif
#ifdef CONFORMANCE_WITH_MONGODB
  add(mongodb_kinds());
#endif
  return all;
}

std::string unique_database_name() {
  static std::atomic<int> counter{0};
  return "conformance_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
}

}  // namespace conformance
