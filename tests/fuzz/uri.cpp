// Fuzzes URI parsing without connecting anywhere and without creating files: redact_uri on every
// input; the Kafka sink URI parser; the MongoDB store URI parser (parse_store_uri, which libmongoc
// checks without connecting); open_store and open_sink for inputs they must refuse. Inputs that
// would open something are not passed to open_store/open_sink: `sqlite:` and `file:` (they create
// files), `kafka://` (the client starts connecting), `mongodb://` (a client pool), and PostgreSQL
// URIs or conninfo strings that libpq's own parser accepts (open_store would connect); conninfo
// that libpq refuses still goes to open_store, which must refuse it before connecting.
// The contract checked: each parser throws UsageError or returns; redact_uri hides the password of
// a scheme://user:password@host URI.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "outbox/errors.hpp"
#include "outbox/sink.hpp"
#include "outbox/store.hpp"
#ifdef OUTBOX_WITH_KAFKA
#include "outbox/kafka.hpp"
#endif
#ifdef OUTBOX_WITH_POSTGRES
#include <libpq-fe.h>
#endif
#ifdef OUTBOX_WITH_MONGODB
#include "store/mongodb/client.hpp"
#endif

namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// True when libpq would accept `uri` as a connection string, i.e. open_store would go on to connect.
bool libpq_accepts(const std::string& uri) {
#ifdef OUTBOX_WITH_POSTGRES
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(uri.c_str(), &err);
  if (err != nullptr) PQfreemem(err);
  if (opts == nullptr) return false;
  PQconninfoFree(opts);
  return true;
#else
  (void)uri;
  return false;
#endif
}

void expect_refused_store(const std::string& uri) {
  try {
    (void)outbox::open_store(uri);
  } catch (const outbox::UsageError&) {
    return;
  }
  std::abort();  // an input the filters above let through was opened: the harness is wrong
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string uri(reinterpret_cast<const char*>(data), size);

  const std::string redacted = outbox::redact_uri(uri);
  // postgresql://u:SECRET@host... (SECRET without '/' or '@') must come out as postgresql://u:***@host...
  const std::string prefix = "postgresql://u:";
  if (starts_with(uri, prefix.c_str())) {
    const auto end = uri.find_first_of("/@", prefix.size());
    if (end != std::string::npos && uri[end] == '@' && end > prefix.size()) {
      if (!starts_with(redacted, (prefix + "***@").c_str())) std::abort();
    }
  }

#ifdef OUTBOX_WITH_KAFKA
  if (starts_with(uri, "kafka://")) {
    try {
      (void)outbox::kafka::parse_uri(uri);
    } catch (const outbox::UsageError&) {
    }
    return 0;
  }
#endif
  if (!starts_with(uri, "file:") && !starts_with(uri, "kafka://")) {
    try {
      (void)outbox::open_sink(uri);  // stdout: and null: open nothing
    } catch (const outbox::UsageError&) {
    }
  }

  if (starts_with(uri, "sqlite:")) return 0;
  if (starts_with(uri, "mongodb://") || starts_with(uri, "mongodb+srv://")) {
#ifdef OUTBOX_WITH_MONGODB
    try {
      (void)outbox::mongodb::detail::parse_store_uri(uri);
    } catch (const outbox::UsageError&) {
    }
#endif
    return 0;
  }
  if (libpq_accepts(uri) &&
      (starts_with(uri, "postgresql://") || starts_with(uri, "postgres://") || uri.find('=') != std::string::npos)) {
    return 0;  // open_store would connect
  }
  expect_refused_store(uri);
  return 0;
}
