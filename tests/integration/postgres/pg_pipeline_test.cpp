// Outbox::prepare_put in libpq pipeline mode: the business insert, the put and COMMIT go out in
// one network flight, and the message commits (or rolls back) with the business row.
#include "pg_fixture.hpp"

using namespace testing_pg;

namespace {

class PgPipeline : public PgTest {
 protected:
  // Sends BEGIN, the business insert, the put and `finish` (COMMIT or ROLLBACK) in one pipeline,
  // then reads every result. Returns the position the put statement returned.
  std::int64_t run_pipeline(int nr, const outbox::postgres::PutStatement& put, const char* finish) {
    PGconn* c = *a;
    EXPECT_EQ(PQenterPipelineMode(c), 1);
    auto send = [&](const std::string& sql, const std::vector<std::optional<std::string>>& params = {}) {
      std::vector<const char*> values;
      for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
      EXPECT_EQ(PQsendQueryParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                                  nullptr, 0),
                1)
          << PQerrorMessage(c);
    };
    send("BEGIN");
    send("INSERT INTO pipeline_biz VALUES ($1::int)", {std::to_string(nr)});
    send(put.sql, put.params);
    send(finish);
    EXPECT_EQ(PQpipelineSync(c), 1);
    std::int64_t position = 0;
    for (int statement = 0; statement < 4; ++statement) {
      PGresult* r = PQgetResult(c);
      EXPECT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
          << "statement " << statement << ": " << PQresultErrorMessage(r);
      if (statement == 2) position = std::stoll(PQgetvalue(r, 0, 0));
      PQclear(r);
      EXPECT_EQ(PQgetResult(c), nullptr);  // end of this statement's results
    }
    PGresult* sync = PQgetResult(c);
    EXPECT_EQ(PQresultStatus(sync), PGRES_PIPELINE_SYNC);
    PQclear(sync);
    EXPECT_EQ(PQexitPipelineMode(c), 1);
    return position;
  }
};

}  // namespace

TEST_F(PgPipeline, PutRidesInTheCallersPipeline) {
  exec(*a, "CREATE TEMP TABLE pipeline_biz (nr int)");
  auto m1 = order_created(1, "order-1");
  const auto put1 = orders->prepare_put(m1);
  EXPECT_FALSE(m1.id.empty()) << "prepare_put completes the envelope";
  const std::int64_t position = run_pipeline(1, put1, "COMMIT");
  EXPECT_GT(position, 0);

  auto m2 = order_created(2, "order-1");
  run_pipeline(2, orders->prepare_put(m2), "ROLLBACK");

  EXPECT_EQ(scalar(*a, "SELECT string_agg(nr::text, ',') FROM pipeline_biz"), "1");
  auto store = outbox::open_store(uri);
  auto live = store->tail(name, outbox::Cursor::beginning());
  const auto got = drain(*live, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, m1.id);
  EXPECT_EQ(got[0].position, position);
  EXPECT_TRUE(live->next(std::chrono::milliseconds(200)).empty()) << "the rolled-back put must not appear";
}

TEST_F(PgPipeline, PrepareRejectsInvalidMessagesBeforeAnythingIsSent) {
  outbox::Message bad;
  bad.type = "order_created";
  bad.data = {{"ordernr", "not a number"}};
  EXPECT_THROW(orders->prepare_put(bad), outbox::ValidationError);
}
