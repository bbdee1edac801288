// Uses only outbox::sqlite (and outbox::core): writes one typed event and reads it back.
#include <sqlite3.h>

#include <cstdio>

#include <outbox/outbox.hpp>
#include <outbox/sqlite.hpp>

struct Ping {
  std::int64_t n;
};
OUTBOX_MESSAGE(Ping, "ping", n)
using Events = outbox::MessageSet<Ping>;

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  sqlite3* db = nullptr;
  sqlite3_open(argv[1], &db);
  outbox::sqlite::Outbox box("pings", Events::registry());
  box.init(db);
  auto writer = box.writer(db);
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  Events::put(writer, Ping{7});
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  auto batch =
      outbox::sqlite::open(argv[1])->tail("pings", outbox::Cursor::beginning())->next(std::chrono::milliseconds(0));
  const bool ok = batch.size() == 1 && batch[0].data["n"] == 7;
  std::printf("%s\n", ok ? "the sqlite component alone works" : "the sqlite component alone FAILED");
  sqlite3_close(db);
  return ok ? 0 : 1;
}
