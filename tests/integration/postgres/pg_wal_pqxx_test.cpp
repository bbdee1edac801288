// The libpqxx adapter (outbox/pqxx.hpp) on a WAL-mode outbox: the same call, a message in the WAL.
#include "outbox/pqxx.hpp"

#include "pg_wal_fixture.hpp"

using namespace testing_pg;

class WalPqxx : public WalTest {};

TEST_F(WalPqxx, PutCommitsAndRollsBackWithThePqxxTransaction) {
  pqxx::connection conn(uri);
  std::int64_t position = 0;
  {
    pqxx::work tx(conn);
    tx.exec("CREATE TABLE IF NOT EXISTS pqxx_wal_biz (nr int)");
    tx.exec("INSERT INTO pqxx_wal_biz VALUES (1)");
    position = outbox::postgres::put(*orders, tx, order_created(1)).position;
    EXPECT_GT(position, 0);
    tx.commit();
  }
  {
    pqxx::work tx(conn);
    outbox::postgres::put(*orders, tx, order_created(2));
    // destroyed without commit: pqxx rolls back
  }
  auto tail = outbox::open_store(uri)->tail(name, outbox::Cursor::beginning());
  const auto got = drain(*tail, 1);
  EXPECT_EQ(ordernrs(got), (std::vector<std::int64_t>{1}));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].position, position);
  EXPECT_TRUE(tail->next(std::chrono::milliseconds(300)).empty()) << "the rolled-back put must not appear";
}
