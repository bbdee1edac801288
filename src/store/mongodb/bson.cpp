#include "store/mongodb/bson.hpp"

#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>

#include "outbox/errors.hpp"

namespace outbox::mongodb {

// ---- Bson ------------------------------------------------------------------------------------

Bson::Bson() : doc_(bson_new()) {}

Bson::Bson(bson_t* owned) : doc_(owned) {
  if (doc_ == nullptr) throw std::invalid_argument("Bson: null document");
}

Bson::Bson(Bson&& other) noexcept : doc_(std::exchange(other.doc_, nullptr)) {}

Bson& Bson::operator=(Bson&& other) noexcept {
  if (this != &other) {
    if (doc_ != nullptr) bson_destroy(doc_);
    doc_ = std::exchange(other.doc_, nullptr);
  }
  return *this;
}

Bson::~Bson() {
  if (doc_ != nullptr) bson_destroy(doc_);
}

bson_t* Bson::release() noexcept { return std::exchange(doc_, nullptr); }

Bson Bson::copy_of(const bson_t& doc) { return Bson(bson_copy(&doc)); }

Bson Bson::from_extended_json(const std::string& text, const std::string& what) {
  bson_error_t error;
  bson_t* doc =
      bson_new_from_json(reinterpret_cast<const std::uint8_t*>(text.data()), static_cast<ssize_t>(text.size()), &error);
  if (doc == nullptr) {
    throw UsageError(what + " is not a valid extended-JSON document (" + error.message + "): '" + text + "'");
  }
  return Bson(doc);
}

std::string canonical_extended_json(const bson_t& doc) {
  std::size_t length = 0;
  char* text = bson_as_canonical_extended_json(&doc, &length);
  if (text == nullptr) throw StoreError("a BSON document could not be written as extended JSON (malformed)", false);
  std::string out(text, length);
  bson_free(text);
  return out;
}

// ---- JSON -> BSON ----------------------------------------------------------------------------

namespace {

// RFC 6901 escaping of one reference token.
std::string pointer_token(const std::string& key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

void check_appended(bool ok, const std::string& pointer) {
  // libbson refuses only when the document would exceed its 2 GiB limit.
  if (!ok) throw ValidationError(pointer, "max_bson_size", "the document is too large for BSON");
}

void append_object_members(bson_t* doc, const nlohmann::json& object, const std::string& pointer);
void append_array_items(bson_t* doc, const nlohmann::json& array, const std::string& pointer);

void append_value(bson_t* doc, const char* key, int key_length, const nlohmann::json& v, const std::string& pointer) {
  using T = nlohmann::json::value_t;
  switch (v.type()) {
    case T::null:
      check_appended(bson_append_null(doc, key, key_length), pointer);
      return;
    case T::boolean:
      check_appended(bson_append_bool(doc, key, key_length, v.get<bool>()), pointer);
      return;
    case T::number_integer: {
      const auto n = v.get<std::int64_t>();
      if (n >= std::numeric_limits<std::int32_t>::min() && n <= std::numeric_limits<std::int32_t>::max()) {
        check_appended(bson_append_int32(doc, key, key_length, static_cast<std::int32_t>(n)), pointer);
      } else {
        check_appended(bson_append_int64(doc, key, key_length, n), pointer);
      }
      return;
    }
    case T::number_unsigned: {
      const auto n = v.get<std::uint64_t>();
      if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw ValidationError(pointer, "bson_integer_range",
                              std::to_string(n) +
                                  " is above 9223372036854775807, the largest integer BSON "
                                  "stores (int64); send it as a string or a smaller number");
      }
      if (n <= static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
        check_appended(bson_append_int32(doc, key, key_length, static_cast<std::int32_t>(n)), pointer);
      } else {
        check_appended(bson_append_int64(doc, key, key_length, static_cast<std::int64_t>(n)), pointer);
      }
      return;
    }
    case T::number_float:
      check_appended(bson_append_double(doc, key, key_length, v.get<double>()), pointer);
      return;
    case T::string: {
      const auto& s = v.get_ref<const std::string&>();
      check_appended(bson_append_utf8(doc, key, key_length, s.data(), static_cast<int>(s.size())), pointer);
      return;
    }
    case T::object: {
      bson_t child;
      check_appended(bson_append_document_begin(doc, key, key_length, &child), pointer);
      append_object_members(&child, v, pointer);
      check_appended(bson_append_document_end(doc, &child), pointer);
      return;
    }
    case T::array: {
      bson_t child;
      check_appended(bson_append_array_begin(doc, key, key_length, &child), pointer);
      append_array_items(&child, v, pointer);
      check_appended(bson_append_array_end(doc, &child), pointer);
      return;
    }
    case T::binary:
      throw ValidationError(pointer, "type", "binary JSON values are not supported; encode them as a string");
    case T::discarded:
      break;
  }
  throw ValidationError(pointer, "type", "a discarded JSON value cannot be stored");
}

void append_object_members(bson_t* doc, const nlohmann::json& object, const std::string& pointer) {
  for (const auto& [key, value] : object.items()) {
    const std::string child = pointer + "/" + pointer_token(key);
    if (key.find('\0') != std::string::npos) {
      throw ValidationError(child, "key", "BSON field names cannot contain the NUL character");
    }
    append_value(doc, key.c_str(), static_cast<int>(key.size()), value, child);
  }
}

void append_array_items(bson_t* doc, const nlohmann::json& array, const std::string& pointer) {
  std::uint32_t index = 0;
  for (const auto& item : array) {
    char buffer[16];
    const char* key = nullptr;
    const auto length = bson_uint32_to_string(index, &key, buffer, sizeof buffer);
    append_value(doc, key, static_cast<int>(length), item, pointer + "/" + std::to_string(index));
    ++index;
  }
}

void append_document(bson_t* doc, const char* key, const nlohmann::json& object, const std::string& pointer) {
  if (!object.is_object()) throw ValidationError(pointer, "type", "expected a JSON object");
  bson_t child;
  check_appended(bson_append_document_begin(doc, key, -1, &child), pointer);
  append_object_members(&child, object, pointer);
  check_appended(bson_append_document_end(doc, &child), pointer);
}

}  // namespace

Bson to_bson(const nlohmann::json& object) {
  if (!object.is_object()) throw ValidationError("", "type", "only a JSON object can become a BSON document");
  Bson doc;
  append_object_members(doc.get(), object, "");
  return doc;
}

// ---- BSON -> JSON ----------------------------------------------------------------------------

namespace {

const char* type_name(bson_type_t t) {
  switch (t) {
    case BSON_TYPE_BINARY:
      return "binary";
    case BSON_TYPE_UNDEFINED:
      return "undefined";
    case BSON_TYPE_REGEX:
      return "regular expression";
    case BSON_TYPE_DBPOINTER:
      return "DBPointer";
    case BSON_TYPE_CODE:
      return "JavaScript code";
    case BSON_TYPE_CODEWSCOPE:
      return "JavaScript code with scope";
    case BSON_TYPE_TIMESTAMP:
      return "timestamp";
    case BSON_TYPE_MAXKEY:
      return "MaxKey";
    case BSON_TYPE_MINKEY:
      return "MinKey";
    default:
      return "unknown";
  }
}

nlohmann::json value_from(bson_iter_t& it, const std::string& pointer);

void check_walked(const bson_iter_t& it, const std::string& pointer) {
  if (it.err_off != 0) {
    throw StoreError("malformed BSON at '" + pointer + "' (byte " + std::to_string(it.err_off) + ")", false);
  }
}

nlohmann::json object_from(bson_iter_t& it, const std::string& pointer) {
  nlohmann::json out = nlohmann::json::object();
  while (bson_iter_next(&it)) {
    std::string key(bson_iter_key(&it), bson_iter_key_len(&it));
    const std::string child = pointer + "/" + pointer_token(key);
    out[std::move(key)] = value_from(it, child);
  }
  check_walked(it, pointer);
  return out;
}

nlohmann::json array_from(bson_iter_t& it, const std::string& pointer) {
  nlohmann::json out = nlohmann::json::array();
  while (bson_iter_next(&it)) out.push_back(value_from(it, pointer + "/" + std::to_string(out.size())));
  check_walked(it, pointer);
  return out;
}

nlohmann::json value_from(bson_iter_t& it, const std::string& pointer) {
  const bson_type_t type = bson_iter_type(&it);
  switch (type) {
    case BSON_TYPE_DOUBLE:
      return bson_iter_double(&it);
    case BSON_TYPE_INT32:
      return static_cast<std::int64_t>(bson_iter_int32(&it));
    case BSON_TYPE_INT64:
      return bson_iter_int64(&it);
    case BSON_TYPE_BOOL:
      return bson_iter_bool(&it);
    case BSON_TYPE_NULL:
      return nullptr;
    case BSON_TYPE_DATE_TIME:
      return bson_iter_date_time(&it);
    case BSON_TYPE_UTF8:
    case BSON_TYPE_SYMBOL: {
      std::uint32_t length = 0;
      const char* s = type == BSON_TYPE_UTF8 ? bson_iter_utf8(&it, &length) : bson_iter_symbol(&it, &length);
      return std::string(s, length);
    }
    case BSON_TYPE_OID: {
      char hex[25];
      bson_oid_to_string(bson_iter_oid(&it), hex);
      return std::string(hex);
    }
    case BSON_TYPE_DECIMAL128: {
      bson_decimal128_t value;
      bson_iter_decimal128(&it, &value);
      char text[BSON_DECIMAL128_STRING];
      bson_decimal128_to_string(&value, text);
      return std::string(text);
    }
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
      bson_iter_t child;
      if (!bson_iter_recurse(&it, &child)) throw StoreError("malformed BSON at '" + pointer + "'", false);
      return type == BSON_TYPE_DOCUMENT ? object_from(child, pointer) : array_from(child, pointer);
    }
    default:
      throw ValidationError(pointer, "bson_type",
                            std::string("BSON ") + type_name(type) +
                                " values have no JSON form in the outbox; "
                                "store such data as a string or number");
  }
}

}  // namespace

nlohmann::json to_json(const bson_t& doc) {
  bson_iter_t it;
  if (!bson_iter_init(&it, &doc)) throw StoreError("malformed BSON document", false);
  return object_from(it, "");
}

// ---- Outbox documents ------------------------------------------------------------------------

namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void append_string(bson_t* doc, const char* key, const std::string& value, const char* pointer) {
  check_appended(bson_append_utf8(doc, key, -1, value.data(), static_cast<int>(value.size())), pointer);
}

}  // namespace

Bson message_document(const Message& m) {
  Bson out;
  bson_t* doc = out.get();
  append_string(doc, "_id", m.id, "/id");
  append_string(doc, "type", m.type, "/type");
  if (m.key) {
    append_string(doc, "key", *m.key, "/key");
  } else {
    check_appended(bson_append_null(doc, "key", -1), "/key");
  }
  if (m.data.is_null() && !m.data_json.empty()) {
    // A typed put wrote only the text (see TypedOrigin); BSON is built from a value.
    append_document(doc, "data", nlohmann::json::parse(m.data_json), "/data");
  } else {
    append_document(doc, "data", m.data, "/data");
  }
  bson_t headers;
  check_appended(bson_append_document_begin(doc, "headers", -1, &headers), "/headers");
  for (const auto& [name, value] : m.headers) {
    const std::string pointer = "/headers/" + pointer_token(name);
    if (name.find('\0') != std::string::npos) {
      throw ValidationError(pointer, "key", "header names cannot contain the NUL character");
    }
    check_appended(bson_append_utf8(&headers, name.c_str(), static_cast<int>(name.size()), value.data(),
                                    static_cast<int>(value.size())),
                   pointer);
  }
  check_appended(bson_append_document_end(doc, &headers), "/headers");
  const std::int64_t us = m.created.time_since_epoch().count();
  check_appended(bson_append_date_time(doc, "created", -1, floor_div(us, 1000)), "/created");
  check_appended(bson_append_int64(doc, "created_us", -1, us), "/created");
  return out;
}

namespace {

[[noreturn]] void bad_document(const std::string& outbox, const std::string& id, const std::string& problem) {
  throw StoreError("outbox '" + outbox + "': document " +
                       (id.empty() ? std::string("without a string _id") : "'" + id + "'") +
                       " is not an outbox message: " + problem +
                       " (documents in an outbox collection must be written by outbox put)",
                   false);
}

std::string utf8_of(const bson_iter_t& it) {
  std::uint32_t length = 0;
  const char* s = bson_iter_utf8(&it, &length);
  return std::string(s, length);
}

}  // namespace

Message message_from_document(const bson_t& doc, const std::string& outbox, bool parse_data) {
  Message m;
  m.outbox = outbox;
  bool have_id = false, have_type = false, have_data = false, have_created_us = false;
  std::optional<std::int64_t> created_ms;
  // A replayed dead letter's document keeps the message's id in `message_id`: its _id cannot be the
  // message's own while the original document is still there (layout.hpp, replay_document()).
  std::optional<std::string> message_id;
  // Field-level problems are collected first so the error can name the document's _id even when
  // _id comes after the offending field.
  std::string problem;
  auto note = [&](const std::string& p) {
    if (problem.empty()) problem = p;
  };

  bson_iter_t it;
  if (!bson_iter_init(&it, &doc)) bad_document(outbox, "", "malformed BSON");
  while (bson_iter_next(&it)) {
    const char* key = bson_iter_key(&it);
    const bson_type_t type = bson_iter_type(&it);
    if (std::strcmp(key, "_id") == 0) {
      if (type == BSON_TYPE_UTF8) {
        m.id = utf8_of(it);
        have_id = true;
      }
    } else if (std::strcmp(key, "message_id") == 0) {
      if (type == BSON_TYPE_UTF8) message_id = utf8_of(it);
    } else if (std::strcmp(key, "type") == 0) {
      if (type != BSON_TYPE_UTF8) {
        note("field 'type' is not a string");
      } else {
        m.type = utf8_of(it);
        have_type = true;
      }
    } else if (std::strcmp(key, "key") == 0) {
      if (type == BSON_TYPE_UTF8) {
        m.key = utf8_of(it);
      } else if (type != BSON_TYPE_NULL) {
        note("field 'key' is neither a string nor null");
      }
    } else if (std::strcmp(key, "data") == 0) {
      if (type != BSON_TYPE_DOCUMENT) {
        note("field 'data' is not an embedded document");
        continue;
      }
      bson_iter_t child;
      if (!bson_iter_recurse(&it, &child)) {
        note("field 'data' is malformed");
        continue;
      }
      try {
        nlohmann::json data = object_from(child, "/data");
        m.data_json = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        m.data = parse_data ? std::move(data) : nlohmann::json();
        have_data = true;
      } catch (const Error& e) {
        note(e.what());
      }
    } else if (std::strcmp(key, "headers") == 0) {
      if (type == BSON_TYPE_NULL) continue;
      bson_iter_t child;
      if (type != BSON_TYPE_DOCUMENT || !bson_iter_recurse(&it, &child)) {
        note("field 'headers' is not an embedded document");
        continue;
      }
      while (bson_iter_next(&child)) {
        if (bson_iter_type(&child) != BSON_TYPE_UTF8) {
          note(std::string("header '") + bson_iter_key(&child) + "' is not a string");
          break;
        }
        m.headers[std::string(bson_iter_key(&child), bson_iter_key_len(&child))] = utf8_of(child);
      }
    } else if (std::strcmp(key, "created_us") == 0) {
      if (type == BSON_TYPE_INT64 || type == BSON_TYPE_INT32) {
        m.created = Timestamp(std::chrono::microseconds(bson_iter_as_int64(&it)));
        have_created_us = true;
      } else {
        note("field 'created_us' is not an integer");
      }
    } else if (std::strcmp(key, "created") == 0) {
      if (type == BSON_TYPE_DATE_TIME) created_ms = bson_iter_date_time(&it);
    } else if (std::strcmp(key, "pos") == 0) {
      if (type == BSON_TYPE_INT64 || type == BSON_TYPE_INT32) {
        m.position = bson_iter_as_int64(&it);
      } else {
        note("field 'pos' is not an integer");
      }
    }
  }
  if (it.err_off != 0) note("malformed BSON");
  if (!have_id) bad_document(outbox, "", "field '_id' is missing or not a string");
  if (message_id) m.id = std::move(*message_id);
  if (!problem.empty()) bad_document(outbox, m.id, problem);
  if (!have_type) bad_document(outbox, m.id, "field 'type' is missing");
  if (!have_data) bad_document(outbox, m.id, "field 'data' is missing");
  if (!have_created_us) {
    // Older or hand-written documents may carry only the millisecond date.
    if (!created_ms) bad_document(outbox, m.id, "fields 'created_us' and 'created' are both missing");
    // Any date BSON can hold is accepted there; microseconds since 1970 must fit in 64 bits.
    constexpr std::int64_t kLimit = std::numeric_limits<std::int64_t>::max() / 1000;
    if (*created_ms > kLimit || *created_ms < -kLimit) {
      bad_document(outbox, m.id, "field 'created' is a date out of range (" + std::to_string(*created_ms) + " ms)");
    }
    m.created = Timestamp(std::chrono::microseconds(*created_ms * 1000));
  }
  return m;
}

}  // namespace outbox::mongodb
