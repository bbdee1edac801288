// A writer process for the crash test (crash_harness.cpp): commits and rolls back transactions
// that put outbox messages, against SQLite, PostgreSQL or MongoDB (chosen by TARGET through the
// library's scheme table: a MongoDB or PostgreSQL URI or conninfo is that store, anything else a
// SQLite file).
//
// Usage: outbox_crash_writer TARGET WRITER_ID TXNS KEYS SEED MAX_PAUSE_US [RUN_MS [HOLD_MS]]
//   RUN_MS   start no transaction after this many milliseconds (0: run all TXNS)
//   HOLD_MS  PostgreSQL only: be a late committer (WriterArgs::hold_ms)
// Prints one summary line on stdout; exits 0 on success, 3 on any failure (message on stderr).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "crash_writer.hpp"
#include "outbox/scheme.hpp"

namespace {

using Run = outbox::crash::Tally (*)(const outbox::crash::WriterArgs&);

// The writer of each store; null where this build has no such store.
#ifdef OUTBOX_WITH_MONGODB
constexpr Run mongo_writer = outbox::crash::run_mongo_writer;
#else
constexpr Run mongo_writer = nullptr;
#endif
#ifdef OUTBOX_WITH_POSTGRES
constexpr Run postgres_writer = outbox::crash::run_postgres_writer;
#else
constexpr Run postgres_writer = nullptr;
#endif

struct Store {
  const char* name;
  Run run;
};

Store store_of(const std::string& target) {
  // The library's own scheme table decides, so the writer reads a URI exactly as the relay does.
  const outbox::StoreScheme* scheme = outbox::find_store_scheme(target);
  const std::string name = scheme != nullptr ? scheme->name : "";
  if (name == "mongodb") return {"MongoDB", mongo_writer};
  if (name == "postgres") return {"PostgreSQL", postgres_writer};
  return {"SQLite", outbox::crash::run_sqlite_writer};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7 || argc > 9) {
    std::fprintf(stderr, "usage: %s TARGET WRITER_ID TXNS KEYS SEED MAX_PAUSE_US [RUN_MS [HOLD_MS]]\n", argv[0]);
    return 2;
  }
  outbox::crash::WriterArgs a;
  a.target = argv[1];
  a.writer = std::strtoll(argv[2], nullptr, 10);
  a.txns = std::strtoll(argv[3], nullptr, 10);
  a.keys = std::strtoll(argv[4], nullptr, 10);
  a.seed = std::strtoull(argv[5], nullptr, 10);
  a.max_pause_us = std::strtoll(argv[6], nullptr, 10);
  if (argc > 7) {
    if (const auto run_ms = std::strtoll(argv[7], nullptr, 10); run_ms > 0) {
      a.end = std::chrono::steady_clock::now() + std::chrono::milliseconds(run_ms);
    }
  }
  if (argc > 8) a.hold_ms = std::strtoll(argv[8], nullptr, 10);

  const Store store = store_of(a.target);
  if (a.hold_ms > 0 && store.run != postgres_writer) {
    std::fprintf(stderr, "writer %lld: HOLD_MS is for PostgreSQL only (%s has no open transactions to hold)\n",
                 static_cast<long long>(a.writer), store.name);
    return 2;
  }
  if (store.run == nullptr) {
    std::fprintf(stderr, "writer %lld: this build has no %s store\n", static_cast<long long>(a.writer), store.name);
    return 2;
  }
  outbox::crash::Tally t;
  try {
    t = store.run(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "writer %lld failed: %s\n", static_cast<long long>(a.writer), e.what());
    return 3;
  }
  std::printf(
      "writer %lld committed_txns %lld rolled_back_txns %lld committed_messages %lld rolled_back_messages %lld "
      "recovered_errors %lld put_and_commit_txns %lld\n",
      static_cast<long long>(a.writer), static_cast<long long>(t.committed_txns),
      static_cast<long long>(t.rolled_back_txns), static_cast<long long>(t.committed_messages),
      static_cast<long long>(t.rolled_back_messages), static_cast<long long>(t.recovered_errors),
      static_cast<long long>(t.put_and_commit_txns));
  return 0;
}
