#include "tables.hpp"

#include <regex>

#include "outbox/errors.hpp"
#include "outbox/names.hpp"
#include "wal_layout.hpp"

namespace outbox::postgres::detail {

void check_outbox_name(const std::string& outbox) {
  check_identifier(outbox, "outbox name");
  if (outbox.size() > 50) {
    throw UsageError("outbox name '" + outbox +
                     "' is too long for PostgreSQL (at most 50 characters, so that its "
                     "table and index names fit in 63 bytes)");
  }
}

std::string message_table(PGconn* conn, const std::string& outbox) { return quote_ident(conn, "outbox_" + outbox); }

std::string create_sql(const std::string& outbox, Mode mode) {
  check_outbox_name(outbox);
  const std::string t = quote_ident(nullptr, "outbox_" + outbox);
  // WAL mode has no message table; the bookkeeping tables are the same in both modes.
  const std::string message_table_ddl =
      mode == Mode::wal ? std::string()
                        : "CREATE TABLE IF NOT EXISTS " + t +
                              " (\n"
                              "  position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
                              "  xid xid8 NOT NULL,\n"
                              "  id text NOT NULL, type text NOT NULL, key text, data text NOT NULL, headers text,\n"
                              "  created_us bigint NOT NULL);\n"
                              "CREATE INDEX IF NOT EXISTS " +
                              quote_ident(nullptr, "outbox_" + outbox + "_xid") + " ON " + t +
                              " (xid);\n"
                              "CREATE INDEX IF NOT EXISTS " +
                              quote_ident(nullptr, "outbox_" + outbox + "_created") + " ON " + t + " (created_us);\n";
  const std::string m = to_string(mode);
  return "BEGIN;\n"
         // Serialises concurrent inits (CREATE ... IF NOT EXISTS is not safe against a concurrent CREATE).
         "SELECT pg_advisory_xact_lock(7306845530771452160);\n"
         "SET LOCAL client_min_messages = warning;\n" +
         message_table_ddl +
         "CREATE TABLE IF NOT EXISTS outbox__outboxes (name text PRIMARY KEY, created_us bigint NOT NULL,\n"
         "  dropped bigint NOT NULL DEFAULT 0);\n"
         "CREATE TABLE IF NOT EXISTS outbox__consumers (outbox text NOT NULL, consumer text NOT NULL,\n"
         "  checkpoint text, owner text, lease_until_us bigint, updated_us bigint NOT NULL, health text,\n"
         "  PRIMARY KEY (outbox, consumer));\n"
         "CREATE TABLE IF NOT EXISTS outbox__dead_letters (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
         "  outbox text NOT NULL, consumer text NOT NULL, position bigint NOT NULL, message text NOT NULL,\n"
         "  error text NOT NULL, attempts integer NOT NULL, failed_us bigint NOT NULL);\n"
         "ALTER TABLE outbox__outboxes ADD COLUMN IF NOT EXISTS mode text NOT NULL DEFAULT 'table';\n" +
         // An outbox has one mode: this fails (rolling all of the above back) for the other one.
         mode_check_sql(outbox, mode) +
         "INSERT INTO outbox__outboxes (name, created_us, mode)\n"
         "  VALUES ('" +
         outbox + "', (extract(epoch from clock_timestamp()) * 1000000)::bigint, '" + m +
         "')\n"
         "  ON CONFLICT (name) DO NOTHING;\n" +
         (mode == Mode::wal ? wal_publication_sql(outbox) : std::string()) + "COMMIT;\n";
}

WakeLock wake_lock(const std::string& outbox) {
  constexpr std::int32_t kWakeLockClass = 0x6f627877;  // "obxw"
  const auto h = static_cast<std::uint64_t>(lock_key("wake", outbox));
  return {kWakeLockClass, static_cast<std::int32_t>(static_cast<std::uint32_t>(h ^ (h >> 32)))};
}

std::string wake_channel(const std::string& outbox) { return "outbox_" + outbox; }

Message read_message(const Result& r, int row, const std::string& outbox, bool parse_data) {
  Message m;
  m.position = r.int64(row, 0);
  m.id = r.text(row, 1);
  m.outbox = outbox;
  m.type = r.text(row, 2);
  if (!r.is_null(row, 3)) m.key = r.text(row, 3);
  m.data_json = r.text(row, 4);
  if (parse_data) {
    m.data = nlohmann::json::parse(m.data_json, nullptr, false);
    if (m.data.is_discarded()) m.data = nlohmann::json::object({{"__unparseable", m.data_json}});
  } else {
    m.data = nullptr;
  }
  if (!r.is_null(row, 5)) {
    auto h = nlohmann::json::parse(r.text(row, 5), nullptr, false);
    if (h.is_object()) {
      for (const auto& [k, v] : h.items()) {
        if (v.is_string()) m.headers[k] = v.get<std::string>();
      }
    }
  }
  m.created = Timestamp(std::chrono::microseconds(r.int64(row, 6)));
  return m;
}

std::string encode(const Checkpoint& c) {
  return "pg:" + c.lo + "/" + c.hi.value_or("") + "/" + std::to_string(c.after);
}

Checkpoint parse_checkpoint(const std::string& text) {
  static const std::regex form(R"(^pg:(\d+:\d+:[\d,]*)/(\d+:\d+:[\d,]*)?/(\d{1,18})$)");
  std::smatch m;
  if (!std::regex_match(text, m, form)) {
    throw UsageError("'" + text +
                     "' is not a PostgreSQL checkpoint (pg:SNAPSHOT/[SNAPSHOT]/POSITION); use "
                     "`outbox seek` to set one");
  }
  Checkpoint c;
  c.lo = m[1].str();
  if (m[2].matched && m[2].length() > 0) c.hi = m[2].str();
  c.after = std::stoll(m[3].str());
  return c;
}

std::string passed_sql(int first) {
  const std::string lo = "$" + std::to_string(first) + "::pg_snapshot";
  const std::string hi = "$" + std::to_string(first + 1) + "::pg_snapshot";
  const std::string after = "$" + std::to_string(first + 2) + "::bigint";
  return "(xid < pg_snapshot_xmin(" + lo + ") OR pg_visible_in_snapshot(xid, " + lo + ") OR (position <= " + after +
         " AND (" + hi + " IS NULL OR pg_visible_in_snapshot(xid, " + hi + "))))";
}

void bind(Params& params, const Checkpoint& c) {
  params.push_back(c.lo);
  params.push_back(c.hi);
  params.push_back(std::to_string(c.after));
}

}  // namespace outbox::postgres::detail
