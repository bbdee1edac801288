// A writer process for the crash test (crash_harness.cpp): commits and rolls back transactions
// that put outbox messages, against SQLite, PostgreSQL or MongoDB (chosen by TARGET: a mongodb://
// URI is MongoDB, a postgresql:// or postgres:// URI or a key=value conninfo is PostgreSQL,
// anything else a SQLite file).
//
// Usage: outbox_crash_writer TARGET WRITER_ID TXNS KEYS SEED MAX_PAUSE_US
// Prints one summary line on stdout; exits 0 on success, 3 on any failure (message on stderr).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "crash_writer.hpp"

namespace {

bool is_mongo(const std::string& target) {
  return target.rfind("mongodb://", 0) == 0 || target.rfind("mongodb+srv://", 0) == 0;
}

// After is_mongo: a MongoDB URI may hold '=' too.
bool is_postgres(const std::string& target) {
  return target.rfind("postgresql://", 0) == 0 || target.rfind("postgres://", 0) == 0 ||
         target.find('=') != std::string::npos;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s TARGET WRITER_ID TXNS KEYS SEED MAX_PAUSE_US\n", argv[0]);
    return 2;
  }
  outbox::crash::WriterArgs a;
  a.target = argv[1];
  a.writer = std::strtoll(argv[2], nullptr, 10);
  a.txns = std::strtoll(argv[3], nullptr, 10);
  a.keys = std::strtoll(argv[4], nullptr, 10);
  a.seed = std::strtoull(argv[5], nullptr, 10);
  a.max_pause_us = std::strtoll(argv[6], nullptr, 10);

  outbox::crash::Tally t;
  try {
    if (is_mongo(a.target)) {
#ifdef OUTBOX_WITH_MONGODB
      t = outbox::crash::run_mongo_writer(a);
#else
      std::fprintf(stderr, "writer %lld: this build has no MongoDB store\n", static_cast<long long>(a.writer));
      return 2;
#endif
    } else if (is_postgres(a.target)) {
#ifdef OUTBOX_WITH_POSTGRES
      t = outbox::crash::run_postgres_writer(a);
#else
      std::fprintf(stderr, "writer %lld: this build has no PostgreSQL store\n", static_cast<long long>(a.writer));
      return 2;
#endif
    } else {
      t = outbox::crash::run_sqlite_writer(a);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "writer %lld failed: %s\n", static_cast<long long>(a.writer), e.what());
    return 3;
  }
  std::printf("writer %lld committed_txns %lld rolled_back_txns %lld committed_messages %lld rolled_back_messages %lld\n",
              static_cast<long long>(a.writer), static_cast<long long>(t.committed_txns),
              static_cast<long long>(t.rolled_back_txns), static_cast<long long>(t.committed_messages),
              static_cast<long long>(t.rolled_back_messages));
  return 0;
}
