// The matrix's MongoDB rows, on FerretDB (the ctest fixture `ferretdb`), in poll mode and in capped
// mode. These modes have no transactions (crash_writer_mongo.cpp): "rolled back" is a put refused
// before anything is written, and there is no open transaction to commit late.
#include "e2e_harness.hpp"
#include "file_sink_under_test.hpp"
#include "mongo_backend.hpp"
#ifdef OUTBOX_E2E_KAFKA
#include "kafka_sink_under_test.hpp"
#endif

namespace outbox::e2e {
namespace {

using outbox::mongodb::Mode;

TEST_F(E2eTest, MongoPollToFile) {
  crash::MongoBackend store(Mode::poll);
  FileSinkUnderTest sink;
  run_cell(store, sink);
}

TEST_F(E2eTest, MongoCappedToFile) {
  crash::MongoBackend store(Mode::capped);
  FileSinkUnderTest sink;
  run_cell(store, sink);
}

#ifdef OUTBOX_E2E_KAFKA
// Poll mode with retention on (capped mode trims by itself).
TEST_F(E2eTest, MongoPollToKafka) {
  crash::MongoBackend store(Mode::poll);
  KafkaSinkUnderTest sink;
  run_cell(store, sink, {.retention_max_count = 20});
}

TEST_F(E2eTest, MongoCappedToKafka) {
  crash::MongoBackend store(Mode::capped);
  KafkaSinkUnderTest sink;
  run_cell(store, sink);
}
#endif

}  // namespace
}  // namespace outbox::e2e
