// Store URIs -> store objects. Each database's store is compiled in by its CMake option.
#include <regex>

#include "outbox/errors.hpp"
#include "outbox/store.hpp"

#ifdef OUTBOX_WITH_SQLITE
#include "outbox/sqlite.hpp"
#endif
#ifdef OUTBOX_WITH_POSTGRES
#include "outbox/postgres.hpp"
#endif
#ifdef OUTBOX_WITH_MONGODB
#include "outbox/mongodb.hpp"
#endif

namespace outbox {

std::string redact_uri(const std::string& uri) {
  // scheme://user:password@host -> scheme://user:***@host
  static const std::regex userinfo(R"(^([A-Za-z][A-Za-z0-9+.-]*://[^/@:]*):[^/@]*@)");
  std::string out = std::regex_replace(uri, userinfo, "$1:***@", std::regex_constants::format_first_only);
  // password=... in key/value conninfo strings and query parameters; libpq also allows spaces
  // around '=' and a quoted value with spaces and \-escapes in it ("password = 'a b\'c'").
  static const std::regex keyword(R"((password|passwd|pwd|sasl\.password|secret)(\s*=\s*)('(?:[^'\\]|\\.)*'?|[^&\s]*))",
                                  std::regex::icase);
  return std::regex_replace(out, keyword, "$1$2***");
}

std::unique_ptr<Store> open_store(const std::string& uri, const StoreOptions& options) {
  std::string supported;
#ifdef OUTBOX_WITH_SQLITE
  supported += "sqlite:PATH";
  if (uri.rfind("sqlite:", 0) == 0) {
    std::string path = uri.substr(7);
    if (path.rfind("//", 0) == 0) path = path.substr(2);  // sqlite:///abs/path
    return sqlite::open(path, options);
  }
#endif
#ifdef OUTBOX_WITH_POSTGRES
  if (!supported.empty()) supported += ", ";
  supported += "postgresql://... (or a libpq conninfo such as 'host=... dbname=...')";
  // A URI, or a key=value conninfo (it contains '=' and no scheme).
  static const std::regex conninfo(R"(^\s*[A-Za-z_]+\s*=)");
  if (uri.rfind("postgresql://", 0) == 0 || uri.rfind("postgres://", 0) == 0 || std::regex_search(uri, conninfo)) {
    return postgres::open(uri, options);
  }
#endif
#ifdef OUTBOX_WITH_MONGODB
  if (!supported.empty()) supported += ", ";
  supported += "mongodb://... (or mongodb+srv://...)";
  if (uri.rfind("mongodb://", 0) == 0 || uri.rfind("mongodb+srv://", 0) == 0) return mongodb::open(uri, options);
#endif
  throw UsageError("unknown store '" + redact_uri(uri) + "': this build supports " +
                   (supported.empty() ? std::string("no store (enable one with -DOUTBOX_WITH_SQLITE=ON)") : supported));
}

}  // namespace outbox
