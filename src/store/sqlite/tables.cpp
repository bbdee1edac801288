#include "tables.hpp"

#include "outbox/errors.hpp"
#include "outbox/names.hpp"
#include "outbox/prepare_put.hpp"

namespace outbox::sqlite::detail {

std::string message_table(const std::string& outbox) { return "\"outbox_" + outbox + "\""; }

std::string create_sql(const std::string& outbox) {
  const std::string t = message_table(outbox);
  return "CREATE TABLE IF NOT EXISTS " + t +
         " (position INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL,"
         " key TEXT, data TEXT NOT NULL, headers TEXT, created_us INTEGER NOT NULL);"
         "CREATE TABLE IF NOT EXISTS outbox__outboxes (name TEXT PRIMARY KEY, created_us INTEGER NOT NULL,"
         " dropped INTEGER NOT NULL DEFAULT 0);"
         "CREATE TABLE IF NOT EXISTS outbox__consumers (outbox TEXT NOT NULL, consumer TEXT NOT NULL,"
         " position INTEGER NOT NULL, owner TEXT, lease_until_us INTEGER, updated_us INTEGER NOT NULL,"
         " health TEXT, PRIMARY KEY (outbox, consumer));"
         "CREATE TABLE IF NOT EXISTS outbox__dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT,"
         " outbox TEXT NOT NULL, consumer TEXT NOT NULL, position INTEGER NOT NULL, message TEXT NOT NULL,"
         " error TEXT NOT NULL, attempts INTEGER NOT NULL, failed_us INTEGER NOT NULL);"
         "INSERT OR IGNORE INTO outbox__outboxes (name, created_us) VALUES ('" +
         outbox + "', " + std::to_string(now().time_since_epoch().count()) + ");";
}

std::string insert_sql(const std::string& outbox) {
  return "INSERT INTO " + message_table(outbox) +
         " (id, type, key, data, headers, created_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
}

void insert_message(sqlite3* db, Statement& insert, const std::string& outbox, const SchemaRegistry& registry,
                    Message& m) {
  if (sqlite3_get_autocommit(db)) {
    throw UsageError(
        "put must run inside the caller's open transaction (BEGIN ... COMMIT), so that the "
        "message commits or rolls back with the business rows");
  }
  const std::string& data = prepare_put(outbox, registry, m);  // throws before any write
  const std::string headers = headers_json(m.headers);

  // Unowned: every text bound here lives until run() returns or throws.
  insert.bind_unowned(1, std::string_view(m.id)).bind_unowned(2, std::string_view(m.type)).bind_unowned(3, m.key);
  insert.bind_unowned(4, std::string_view(data));
  if (headers.empty())
    insert.bind_null(5);
  else
    insert.bind_unowned(5, std::string_view(headers));
  insert.bind(6, static_cast<std::int64_t>(m.created.time_since_epoch().count()));
  try {
    insert.run();
  } catch (const StoreError& e) {
    if (sqlite3_get_autocommit(db)) {
      throw StoreError(std::string(e.what()) + "; SQLite rolled the caller's transaction back", e.retryable());
    }
    throw;
  }
  m.position = sqlite3_last_insert_rowid(db);
  m.checkpoint = std::to_string(m.position);
}

Message read_message(const Statement& row, const std::string& outbox, bool parse_data) {
  Message m;
  m.position = row.int64(0);
  m.checkpoint = std::to_string(m.position);
  m.id = row.text(1);
  m.outbox = outbox;
  m.type = row.text(2);
  if (!row.is_null(3)) m.key = row.text(3);
  m.data_json = row.text(4);
  // JSON text never holds a raw NUL, but a row written by another program may. The JSON parser
  // stops at one and would accept "{...}<NUL>junk", which sinks would then forward as is: such
  // data is passed on as unparseable instead, escaped.
  if (m.data_json.find('\0') != std::string::npos) {
    m.data_json = nlohmann::json::object({{"__unparseable", m.data_json}})
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (parse_data) {
    m.data = nlohmann::json::parse(m.data_json, nullptr, false);
    if (m.data.is_discarded()) m.data = nlohmann::json::object({{"__unparseable", m.data_json}});
  } else {
    m.data = nullptr;
  }
  if (!row.is_null(5)) {
    auto h = nlohmann::json::parse(row.text_view(5), nullptr, false);
    if (h.is_object()) {
      for (const auto& [k, v] : h.items()) {
        if (v.is_string()) m.headers[k] = v.get<std::string>();
      }
    }
  }
  m.created = Timestamp(std::chrono::microseconds(row.int64(6)));
  return m;
}

}  // namespace outbox::sqlite::detail
