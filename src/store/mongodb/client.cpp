#include "client.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <vector>

#include "outbox/errors.hpp"
#include "outbox/store.hpp"

namespace outbox::mongodb::detail {

namespace {

// libmongoc's log lines go to spdlog like the rest of the library's. Servers without sessions
// support (FerretDB) make the driver warn "Couldn't send endSessions" at every client shutdown;
// that one is harmless and is logged at debug level.
void log_to_spdlog(mongoc_log_level_t level, const char* domain, const char* message, void*) {
  const std::string text = std::string("mongoc ") + domain + ": " + message;
  switch (level) {
    case MONGOC_LOG_LEVEL_ERROR:
    case MONGOC_LOG_LEVEL_CRITICAL:
      spdlog::error("{}", text);
      break;
    case MONGOC_LOG_LEVEL_WARNING:
      if (std::strstr(message, "endSessions") != nullptr)
        spdlog::debug("{}", text);
      else
        spdlog::warn("{}", text);
      break;
    case MONGOC_LOG_LEVEL_MESSAGE:
    case MONGOC_LOG_LEVEL_INFO:
      spdlog::debug("{}", text);
      break;
    default:
      break;  // debug and trace: far too chatty
  }
}

void init_driver() {
  // mongoc_init once per process; mongoc_cleanup is never called (other libraries may still use it).
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_init();
    mongoc_log_set_handler(log_to_spdlog, nullptr);
  });
}

bool has_label(const bson_t* reply, const char* label) {
  return reply != nullptr && mongoc_error_has_label(reply, label);
}

std::int64_t parse_count(const std::string& key, const std::string& value, const std::string& redacted) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(value, &used);
    if (used == value.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("store URI option " + key + " takes a whole number of 0 or more, not '" + value + "' (in '" +
                   redacted + "')");
}

}  // namespace

bool is_duplicate_key(const bson_error_t& error) { return error.code == kDuplicateKey; }

bool is_cursor_ended(const bson_error_t& error) {
  if (error.code == kCappedPositionLost || error.code == kCursorNotFound) return true;
  if (error.domain == MONGOC_ERROR_CURSOR && error.code == MONGOC_ERROR_CURSOR_INVALID_CURSOR) return true;
  // FerretDB 1.24 (docs/mongodb.md): an awaitData getMore whose iterator was closed under it.
  return error.domain == MONGOC_ERROR_SERVER && error.code == 1 &&
         std::strstr(error.message, "iterator is read to the end or closed") != nullptr;
}

bool is_retryable(const bson_error_t& error, const bson_t* reply) {
  if (error.domain == MONGOC_ERROR_STREAM || error.domain == MONGOC_ERROR_SERVER_SELECTION) return true;
  if (has_label(reply, "RetryableWriteError") || has_label(reply, "TransientTransactionError") ||
      has_label(reply, "ResumableChangeStreamError")) {
    return true;
  }
  // FerretDB on SQLite answers with InternalError when SQLite gave up on a statement, which was
  // then rolled back, so trying again is safe: "interrupted (9)" (sqlite3_interrupt, when a
  // context is cancelled; seen on reads, getMores and updates while other clients' operations hit
  // their deadlines) and "database is locked (5)" / "(517)" (SQLITE_BUSY: another writer, e.g.
  // FerretDB's own capped-collection cleanup, held the database). See docs/mongodb.md.
  if (error.domain == MONGOC_ERROR_SERVER && error.code == 1 &&
      (std::strstr(error.message, "interrupted (9)") || std::strstr(error.message, "database is locked ("))) {
    return true;
  }
  switch (error.code) {
    case 6:
    case 7:
    case 89:
    case 91:
    case 189:
    case 262:
    case 9001:
    case 10107:
    case 11600:
    case 11601:
    case 11602:
    case 13435:
    case 13436:
    case 112 /* WriteConflict */:
      return true;
    default:
      return false;
  }
}

void fail(const bson_error_t& error, const std::string& doing, const bson_t* reply) {
  const bool retry = is_retryable(error, reply);
  throw StoreError("mongodb: " + doing + " failed [" + std::to_string(error.domain) + "." + std::to_string(error.code) +
                       "]: " + redact_uri(error.message) + (retry ? " (may succeed if retried)" : ""),
                   retry);
}

StoreUri parse_store_uri(const std::string& uri) {
  StoreUri out;
  out.redacted = redact_uri(uri);
  const auto q = uri.find('?');
  std::string base = uri.substr(0, q);
  std::vector<std::string> kept;
  if (q != std::string::npos) {
    std::string query = uri.substr(q + 1);
    std::size_t start = 0;
    while (start <= query.size()) {
      auto amp = query.find('&', start);
      if (amp == std::string::npos) amp = query.size();
      const std::string item = query.substr(start, amp - start);
      start = amp + 1;
      if (item.empty()) continue;
      const auto eq = item.find('=');
      const std::string key = item.substr(0, eq);
      const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
      std::string lower;
      for (char ch : key) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (lower == "outboxmode")
        out.mode = value;
      else if (lower == "outboxcappedsize")
        out.capped_size = parse_count(key, value, out.redacted);
      else if (lower == "outboxcappedmax")
        out.capped_max = parse_count(key, value, out.redacted);
      else if (lower == "outboxttlseconds")
        out.ttl_seconds = parse_count(key, value, out.redacted);
      else if (lower == "outboxgaptimeoutms")
        out.gap_timeout_ms = parse_count(key, value, out.redacted);
      else if (lower.rfind("outbox", 0) == 0) {
        throw UsageError("unknown store URI option '" + key + "' in '" + out.redacted +
                         "'; this store knows outboxMode, outboxCappedSize, outboxCappedMax, outboxTtlSeconds, "
                         "outboxGapTimeoutMS");
      } else {
        kept.push_back(item);
      }
    }
  }
  out.driver_uri = base;
  for (std::size_t i = 0; i < kept.size(); ++i) out.driver_uri += (i == 0 ? "?" : "&") + kept[i];
  init_driver();
  bson_error_t error;
  mongoc_uri_t* parsed = mongoc_uri_new_with_error(out.driver_uri.c_str(), &error);
  if (parsed == nullptr) {
    throw UsageError("'" + out.redacted + "' is not a MongoDB URI the driver accepts: " + redact_uri(error.message) +
                     " (expected mongodb://[user:password@]host[:port][/database][?options])");
  }
  const char* db = mongoc_uri_get_database(parsed);
  out.database = (db != nullptr && *db != '\0') ? db : "outbox";
  mongoc_uri_destroy(parsed);
  return out;
}

Pool::Pool(const StoreUri& uri) {
  init_driver();
  bson_error_t error;
  uri_ = mongoc_uri_new_with_error(uri.driver_uri.c_str(), &error);
  if (uri_ == nullptr) throw UsageError("'" + uri.redacted + "' is not a MongoDB URI: " + redact_uri(error.message));
  pool_ = mongoc_client_pool_new(uri_);
  if (pool_ == nullptr) {
    mongoc_uri_destroy(uri_);
    throw UsageError("cannot create a MongoDB client for '" + uri.redacted + "'");
  }
  mongoc_client_pool_set_error_api(pool_, MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_set_appname(pool_, "service-outbox");
}

Pool::~Pool() {
  mongoc_client_pool_destroy(pool_);
  mongoc_uri_destroy(uri_);
}

Capabilities detect_capabilities(mongoc_client_t* client, const std::string& redacted_uri) {
  Capabilities caps;
  Bson hello_cmd(BCON_NEW("hello", BCON_INT32(1)));
  Bson hello;
  try {
    hello = command(client, "admin", *hello_cmd, "asking " + redacted_uri + " what it is (hello)");
  } catch (const StoreError&) {
    // Servers before 4.4.2 only know the legacy name.
    Bson legacy(BCON_NEW("isMaster", BCON_INT32(1)));
    hello = command(client, "admin", *legacy, "asking " + redacted_uri + " what it is (isMaster)");
  }
  const auto set_name = get_string(*hello, "setName");
  caps.replica_set = set_name.has_value();
  caps.sharded = get_string(*hello, "msg").value_or("") == "isdbgrid";
  caps.max_wire_version = static_cast<int>(get_int64(*hello, "maxWireVersion"));
  Bson info_cmd(BCON_NEW("buildInfo", BCON_INT32(1)));
  std::string version = "?";
  try {
    Bson info = command(client, "admin", *info_cmd, "buildInfo");
    version = get_string(*info, "version").value_or("?");
    if (auto f = get_string(*info, "ferretdbVersion")) {
      caps.ferretdb = true;
      version = *f;
    } else if (has_field(*info, "ferretdb") || has_field(*info, "ferretdbFeatures")) {
      caps.ferretdb = true;
    }
  } catch (const StoreError&) {
  }
  caps.server = std::string(caps.ferretdb ? "FerretDB " : "MongoDB ") + version +
                (caps.replica_set ? " (replica set " + *set_name + ")"
                 : caps.sharded   ? std::string(" (sharded cluster)")
                                  : std::string(" (standalone)"));
  return caps;
}

void Collection::insert(const bson_t& doc, const std::string& doing) const {
  bson_error_t error;
  bson_t reply;
  const bool ok = mongoc_collection_insert_one(c_, &doc, nullptr, &reply, &error);
  Bson owned(bson_copy(&reply));
  bson_destroy(&reply);
  if (!ok) fail(error, doing, owned.get());
}

bool Collection::insert_unless_duplicate(const bson_t& doc, const std::string& doing) const {
  bson_error_t error;
  bson_t reply;
  const bool ok = mongoc_collection_insert_one(c_, &doc, nullptr, &reply, &error);
  Bson owned(bson_copy(&reply));
  bson_destroy(&reply);
  if (ok) return true;
  if (is_duplicate_key(error)) return false;
  fail(error, doing, owned.get());
}

std::int64_t Collection::update_one(const bson_t& filter, const bson_t& update, bool upsert,
                                    const std::string& doing) const {
  bson_error_t error;
  bson_t reply;
  Bson opts(BCON_NEW("upsert", BCON_BOOL(upsert)));
  const bool ok = mongoc_collection_update_one(c_, &filter, &update, opts.get(), &reply, &error);
  Bson owned(bson_copy(&reply));
  bson_destroy(&reply);
  if (!ok) fail(error, doing, owned.get());
  return get_int64(*owned, "matchedCount") + get_int64(*owned, "upsertedCount");
}

std::int64_t Collection::delete_many(const bson_t& filter, const std::string& doing) const {
  bson_error_t error;
  bson_t reply;
  const bool ok = mongoc_collection_delete_many(c_, &filter, nullptr, &reply, &error);
  Bson owned(bson_copy(&reply));
  bson_destroy(&reply);
  if (!ok) fail(error, doing, owned.get());
  return get_int64(*owned, "deletedCount");
}

std::int64_t Collection::count(const bson_t& filter, const std::string& doing) const {
  bson_error_t error;
  const std::int64_t n = mongoc_collection_count_documents(c_, &filter, nullptr, nullptr, nullptr, &error);
  if (n < 0) fail(error, doing);
  return n;
}

std::optional<Bson> Collection::find_one(const bson_t& filter, const bson_t* sort, const std::string& doing) const {
  Bson opts(BCON_NEW("limit", BCON_INT64(1)));
  if (sort != nullptr && !bson_empty(sort)) BSON_APPEND_DOCUMENT(opts.get(), "sort", sort);
  MongoCursor cursor(mongoc_collection_find_with_opts(c_, &filter, opts.get(), nullptr));
  if (const bson_t* doc = cursor.next(doing)) return Bson::copy_of(*doc);
  return std::nullopt;
}

std::optional<Bson> Collection::find_and_modify(const bson_t& filter, const bson_t& update, bool upsert,
                                                const std::string& doing) const {
  bson_error_t error;
  bson_t reply;
  const bool ok =
      mongoc_collection_find_and_modify(c_, &filter, nullptr, &update, nullptr, false, upsert, true, &reply, &error);
  Bson owned(bson_copy(&reply));
  bson_destroy(&reply);
  if (!ok) fail(error, doing, owned.get());
  bson_iter_t it;
  if (bson_iter_init_find(&it, owned.get(), "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
    const std::uint8_t* data = nullptr;
    std::uint32_t len = 0;
    bson_iter_document(&it, &len, &data);
    return Bson(bson_new_from_data(data, len));
  }
  return std::nullopt;
}

const bson_t* MongoCursor::next(const std::string& doing) {
  const bson_t* doc = nullptr;
  if (mongoc_cursor_next(c_, &doc)) return doc;
  bson_error_t error;
  const bson_t* reply = nullptr;
  if (mongoc_cursor_error_document(c_, &error, &reply)) fail(error, doing, reply);
  return nullptr;
}

Bson command(mongoc_client_t* client, const std::string& database, const bson_t& cmd, const std::string& doing) {
  bson_error_t error;
  bson_t reply;
  const bool ok = mongoc_client_command_simple(client, database.c_str(), &cmd, nullptr, &reply, &error);
  Bson owned(bson_copy(&reply));
  bson_destroy(&reply);
  if (!ok) fail(error, doing, owned.get());
  return owned;
}

std::int64_t get_int64(const bson_t& doc, const char* field, std::int64_t fallback) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, &doc, field)) return fallback;
  if (BSON_ITER_HOLDS_INT32(&it)) return bson_iter_int32(&it);
  if (BSON_ITER_HOLDS_INT64(&it)) return bson_iter_int64(&it);
  if (BSON_ITER_HOLDS_DOUBLE(&it)) return static_cast<std::int64_t>(bson_iter_double(&it));
  return fallback;
}

std::optional<std::string> get_string(const bson_t& doc, const char* field) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, &doc, field) || !BSON_ITER_HOLDS_UTF8(&it)) return std::nullopt;
  std::uint32_t len = 0;
  const char* s = bson_iter_utf8(&it, &len);
  return std::string(s, len);
}

bool has_field(const bson_t& doc, const char* field) {
  bson_iter_t it;
  return bson_iter_init_find(&it, &doc, field);
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace outbox::mongodb::detail
