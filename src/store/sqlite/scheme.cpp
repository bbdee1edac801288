// sqlite:PATH (or sqlite:///abs/path) in the scheme table.
#include "outbox/scheme.hpp"
#include "outbox/sqlite.hpp"

namespace outbox::sqlite {

namespace {

bool accepts(std::string_view uri) { return uri.starts_with("sqlite:"); }

std::unique_ptr<Store> open_uri(const std::string& uri, const StoreOptions& options) {
  std::string path = uri.substr(7);
  if (path.starts_with("//")) path = path.substr(2);  // sqlite:///abs/path
  return open(path, options);
}

}  // namespace

const StoreScheme store_scheme{"sqlite", "sqlite:PATH", accepts, open_uri};

}  // namespace outbox::sqlite
