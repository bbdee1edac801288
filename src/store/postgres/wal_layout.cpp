#include "wal_layout.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdio>
#include <regex>

#include "outbox/errors.hpp"
#include "outbox/json_writer.hpp"
#include "outbox/prepare_put.hpp"
#include "tables.hpp"

namespace outbox::postgres {

std::string to_string(Mode mode) { return mode == Mode::wal ? "wal" : "table"; }

Mode parse_mode(const std::string& text) {
  if (text == "table") return Mode::table;
  if (text == "wal") return Mode::wal;
  throw UsageError("'" + text + "' is not a PostgreSQL outbox mode; use table or wal");
}

}  // namespace outbox::postgres

namespace outbox::postgres::detail {

using outbox::detail::JsonWriter;

std::string wal_prefix(const std::string& outbox) { return "outbox:" + outbox; }

std::string publication_name(const std::string& outbox) { return "outbox_" + outbox; }

std::string slot_name(const std::string& outbox, const std::string& consumer) {
  char hash[16];
  std::snprintf(hash, sizeof hash, "%08x",
                static_cast<unsigned>(static_cast<std::uint64_t>(lock_key(outbox, consumer)) & 0xffffffffu));
  std::string base = "outbox_" + outbox + "_" + consumer;
  if (base.size() > 54) base.resize(54);  // + "_" + 8 hex digits = 63, PostgreSQL's limit
  return base + "_" + hash;
}

std::optional<Mode> read_mode(PGconn* conn, const std::string& outbox) {
  const std::string doing = "reading the mode of outbox '" + outbox + "'";
  // Two statements: a query naming a missing table fails when it is parsed, whatever CASE says.
  if (exec(conn, "SELECT to_regclass('outbox__outboxes') IS NULL", {}, doing).text(0, 0) == "t") return std::nullopt;
  // to_jsonb(o)->>'mode' instead of the column: outbox__outboxes of older versions has none.
  Result r = exec(conn, "SELECT coalesce(to_jsonb(o)->>'mode', 'table') FROM outbox__outboxes o WHERE name = $1",
                  {outbox}, doing);
  if (r.rows() == 0 || r.is_null(0, 0)) return std::nullopt;
  const std::string m = r.text(0, 0);
  if (m == "wal") return Mode::wal;
  if (m == "table") return Mode::table;
  throw StoreError("postgres: outbox '" + outbox + "' has the unknown mode '" + m +
                       "' in outbox__outboxes (written by a newer version?); use the version that created it",
                   false);
}

std::string mode_check_sql(const std::string& outbox, Mode mode) {
  const std::string other = mode == Mode::wal ? "table" : "wal";
  return "DO $outbox$ BEGIN IF EXISTS (SELECT 1 FROM outbox__outboxes WHERE name = '" + outbox + "' AND mode <> '" +
         to_string(mode) + "') THEN RAISE EXCEPTION 'outbox ''" + outbox + "'' exists in " + other +
         " mode; it cannot be " + to_string(mode) + " too' USING ERRCODE = 'object_not_in_prerequisite_state', " +
         "HINT = 'use outboxMode=" + other + " (or leave it out), or a new outbox name'; END IF; END $outbox$;\n";
}

std::string wal_publication_sql(const std::string& outbox) {
  const std::string pub = publication_name(outbox);
  // pgoutput must be given a publication; an empty one publishes no table changes, and logical
  // decoding messages are sent whatever it holds.
  return "DO $outbox$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = '" + pub +
         "') THEN CREATE PUBLICATION " + quote_ident(nullptr, pub) + "; END IF; END $outbox$;\n";
}

std::string wal_create_sql(const std::string& outbox) {
  const std::string slot = slot_name(outbox, "default");
  return create_sql(outbox, Mode::wal) +
         // A logical slot cannot be created in a transaction that wrote: its own statement.
         "SELECT pg_create_logical_replication_slot('" + slot +
         "', 'pgoutput') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '" + slot + "');\n";
}

void check_wal_capable(PGconn* conn, const std::string& outbox) {
  Result r = exec(conn,
                  "SELECT current_setting('server_version_num')::int, current_setting('wal_level'),"
                  " (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), current_user",
                  {}, "checking what the server allows for outbox '" + outbox + "'");
  const std::string what = "outbox '" + outbox + "' in WAL mode";
  if (r.int64(0, 0) < 140000) {
    throw UsageError(what +
                     " needs PostgreSQL 14 or later (logical decoding messages through pgoutput); this server is " +
                     r.text(0, 0) + ". Use the table mode on this server");
  }
  if (r.text(0, 1) != "logical") {
    throw UsageError(what + " needs wal_level=logical, and the server runs with wal_level=" + r.text(0, 1) +
                     ". Set wal_level = logical (with max_replication_slots and max_wal_senders of at least one "
                     "per consumer) in postgresql.conf and restart the server, or use the table mode");
  }
  if (r.text(0, 2) != "t") {
    throw UsageError(what + " needs a role with the REPLICATION privilege (to create and read replication slots); '" +
                     r.text(0, 3) + "' has none. Grant it (ALTER ROLE " + r.text(0, 3) +
                     " WITH REPLICATION) or connect as a role that has it");
  }
}

void check_slot_is_ours(PGconn* conn, const std::string& outbox, const std::string& consumer) {
  const std::string slot = slot_name(outbox, consumer);
  Result r = exec(conn,
                  "SELECT database, current_database() FROM pg_replication_slots WHERE slot_name = $1"
                  " AND database IS DISTINCT FROM current_database()",
                  {slot}, "checking replication slot '" + slot + "' of outbox '" + outbox + "'");
  if (r.rows() == 0) return;
  throw UsageError("outbox '" + outbox + "' in WAL mode: its replication slot '" + slot + "' belongs to database '" +
                   r.text(0, 0) + "', not '" + r.text(0, 1) +
                   "'. Slot names are shared by every database of the server, so one WAL-mode outbox name can "
                   "be used in one database only: choose another outbox name here, or drop the outbox in '" +
                   r.text(0, 0) + "' and its slots first");
}

void ensure_slot(PGconn* conn, const std::string& outbox, const std::string& consumer) {
  check_slot_is_ours(conn, outbox, consumer);
  const std::string slot = slot_name(outbox, consumer);
  const std::string from = slot_name(outbox, "default");
  const std::string doing = "creating replication slot '" + slot + "' of consumer '" + consumer + "'";
  try {
    if (consumer == "default") {
      exec(conn,
           "SELECT pg_create_logical_replication_slot($1, 'pgoutput') WHERE NOT EXISTS "
           "(SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
           {slot}, doing);
    } else {
      exec(conn,
           "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $2) "
           "THEN pg_copy_logical_replication_slot($2, $1) "
           "ELSE pg_create_logical_replication_slot($1, 'pgoutput') END "
           "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
           {slot, from}, doing);
    }
  } catch (const StoreError& e) {
    const std::string text = e.what();
    if (text.find("[42710]") != std::string::npos) return;  // a concurrent init created it
    if (text.find("[53400]") != std::string::npos) {
      throw StoreError(std::string(text) +
                           "; raise max_replication_slots on the server (one slot per consumer of each WAL-mode "
                           "outbox) or drop slots that are no longer used",
                       false);
    }
    throw;
  }
}

std::string encode_payload(const Message& m, const std::string& data_json) {
  // Written straight to text, members in the name order nlohmann::json::dump() gives an object
  // (what this header was first written with, so the bytes are the same): building a JSON value
  // and dumping it was about a fifth of a WAL-mode put's own CPU. Every string was validated as
  // UTF-8 without NUL before (prepare_put), so the writer's UTF-8 verdicts need no check here.
  JsonWriter w;
  w.append(R"({"created_us":)");
  w.integer(static_cast<std::int64_t>(m.created.time_since_epoch().count()));
  if (!m.headers.empty()) {
    w.append(R"(,"headers":)");
    w.append(headers_json(m.headers));  // as every store writes them
  }
  w.append(R"(,"id":)");
  (void)w.string(m.id);
  if (m.key) {
    w.append(R"(,"key":)");
    (void)w.string(*m.key);
  }
  w.append(R"(,"type":)");
  (void)w.string(m.type);
  w.append(R"(,"v":1})");
  w.put('\n');
  w.append(data_json);
  return w.take();
}

Message decode_payload(std::string_view payload, const std::string& outbox, bool parse_data) {
  auto bad = [&](const std::string& why) -> StoreError {
    return StoreError("postgres: a logical decoding message with the prefix of outbox '" + outbox +
                          "' is not an outbox message (" + why +
                          "); something other than outbox puts emitted it. Find the writer "
                          "(pg_logical_emit_message with prefix '" +
                          wal_prefix(outbox) + "') and stop it",
                      false);
  };
  const auto nl = payload.find('\n');
  if (nl == std::string_view::npos) throw bad("no header line");
  const auto h = nlohmann::json::parse(payload.substr(0, nl), nullptr, false);
  if (!h.is_object() || h.value("v", 0) != 1 || !h.contains("id") || !h["id"].is_string() || !h.contains("type") ||
      !h["type"].is_string() || !h.contains("created_us") || !h["created_us"].is_number_integer()) {
    throw bad("header is not {\"v\":1,\"id\",\"type\",\"created_us\",...}");
  }
  Message m;
  m.outbox = outbox;
  m.id = h["id"].get<std::string>();
  m.type = h["type"].get<std::string>();
  m.created = Timestamp(std::chrono::microseconds(h["created_us"].get<std::int64_t>()));
  if (h.contains("key") && h["key"].is_string()) m.key = h["key"].get<std::string>();
  if (h.contains("headers") && h["headers"].is_object()) {
    for (const auto& [k, v] : h["headers"].items()) {
      if (v.is_string()) m.headers[k] = v.get<std::string>();
    }
  }
  m.data_json = std::string(payload.substr(nl + 1));
  if (parse_data) {
    m.data = nlohmann::json::parse(m.data_json, nullptr, false);
    if (m.data.is_discarded()) m.data = nlohmann::json::object({{"__unparseable", m.data_json}});
  } else {
    m.data = nullptr;
  }
  return m;
}

std::string lsn_text(std::uint64_t lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn & 0xffffffffu));
  return buf;
}

std::optional<std::uint64_t> parse_lsn(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 8 || text.size() - slash - 1 == 0 ||
      text.size() - slash - 1 > 8) {
    return std::nullopt;
  }
  std::uint32_t hi = 0, lo = 0;
  const char* b = text.data();
  auto r1 = std::from_chars(b, b + slash, hi, 16);
  auto r2 = std::from_chars(b + slash + 1, b + text.size(), lo, 16);
  if (r1.ec != std::errc() || r1.ptr != b + slash || r2.ec != std::errc() || r2.ptr != b + text.size()) {
    return std::nullopt;
  }
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

std::string encode(const WalCheckpoint& c) {
  return "pgwal:" + lsn_text(c.end) + (c.taken ? "+" + std::to_string(*c.taken) : std::string());
}

WalCheckpoint parse_wal_checkpoint(const std::string& text) {
  static const std::regex wal(R"(^pgwal:([0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8})(\+(\d{1,9}))?$)");
  static const std::regex position(R"(^pg:\d+:\d+:[\d,]*//(\d{1,18})$)");
  std::smatch m;
  WalCheckpoint c;
  if (std::regex_match(text, m, wal)) {
    c.end = *parse_lsn(m[1].str());
    if (m[3].matched) c.taken = static_cast<std::uint32_t>(std::stoul(m[3].str()));
    return c;
  }
  if (std::regex_match(text, m, position)) {
    c.end = std::stoull(m[1].str());
    return c;
  }
  throw UsageError("'" + text +
                   "' is not a checkpoint of a WAL-mode PostgreSQL outbox (pgwal:LSN or pgwal:LSN+N); use "
                   "`outbox seek` to set one");
}

}  // namespace outbox::postgres::detail
