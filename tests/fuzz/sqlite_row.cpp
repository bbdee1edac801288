// Fuzzes decoding of stored rows: one row of an SQLite outbox table, with every column of any
// storage class (rows written by other programs with plain INSERTs are read too), is read back by
// the store's own decoder (read_message, used by the tail) with and without parsing `data`, and
// turned into the JSON line the file and stdout sinks write. The contract checked: decoding never
// fails or crashes, and when `data` holds a JSON object the sink's line is valid JSON equal to
// to_json of the message.
#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <fuzzer/FuzzedDataProvider.h>
#include <nlohmann/json.hpp>

#include "core/utf8.hpp"
#include "outbox/message.hpp"
#include "store/sqlite/tables.hpp"

namespace {

using outbox::sqlite::detail::Statement;

sqlite3* database() {
  static sqlite3* db = [] {
    sqlite3* d = nullptr;
    if (sqlite3_open(":memory:", &d) != SQLITE_OK) std::abort();
    if (sqlite3_exec(d, outbox::sqlite::detail::create_sql("fuzz").c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      std::abort();
    }
    return d;
  }();
  return db;
}

// Binds a value of a storage class the input chooses, as a foreign writer might store it.
void bind_any(sqlite3_stmt* stmt, int i, FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 4)) {
    case 0:
      sqlite3_bind_null(stmt, i);
      break;
    case 1:
      sqlite3_bind_int64(stmt, i, in.ConsumeIntegral<std::int64_t>());
      break;
    case 2:
      sqlite3_bind_double(stmt, i, in.ConsumeFloatingPoint<double>());
      break;
    case 3: {
      const std::string s = in.ConsumeRandomLengthString(4096);
      sqlite3_bind_blob(stmt, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      break;
    }
    default: {
      const std::string s = in.ConsumeRandomLengthString(4096);
      sqlite3_bind_text(stmt, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      break;
    }
  }
}

bool all_strings_valid(const outbox::Message& m) {
  if (!outbox::utf8::valid(m.id) || !outbox::utf8::valid(m.type) || (m.key && !outbox::utf8::valid(*m.key)))
    return false;
  for (const auto& [k, v] : m.headers) {
    if (!outbox::utf8::valid(k) || !outbox::utf8::valid(v)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  sqlite3* db = database();
  sqlite3_exec(db, "DELETE FROM \"outbox_fuzz\"", nullptr, nullptr, nullptr);
  {
    Statement insert(db,
                     "INSERT INTO \"outbox_fuzz\" (position, id, type, key, data, headers, created_us) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    sqlite3_bind_int64(insert.get(), 1, in.ConsumeIntegral<std::int64_t>());
    for (int column = 2; column <= 7; ++column) bind_any(insert.get(), column, in);
    if (sqlite3_step(insert.get()) != SQLITE_DONE) return 0;  // refused by the table (NOT NULL, rowid)
  }
  const bool parse_data = in.ConsumeBool();
  Statement select(db, std::string("SELECT ") + outbox::sqlite::detail::kMessageColumns + " FROM \"outbox_fuzz\"");
  if (!select.step()) std::abort();
  const outbox::Message m = outbox::sqlite::detail::read_message(select, "fuzz", parse_data);
  const std::string line = outbox::to_json_line(m);
  const nlohmann::json data_doc = nlohmann::json::parse(m.data_json, nullptr, /*allow_exceptions=*/false);
  if (data_doc.is_discarded() || !data_doc.is_object()) return 0;  // see docs/fuzzing.md: foreign rows
  const nlohmann::json written = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (written.is_discarded()) std::abort();
  if (parse_data && all_strings_valid(m) && written != outbox::to_json(m)) std::abort();
  return 0;
}
