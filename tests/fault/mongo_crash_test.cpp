// The crash test against FerretDB (crash_harness.hpp, mongo_backend.hpp), in poll mode and in capped
// mode, on the server of the ctest fixture `ferretdb` (tests/integration/mongodb).
#include "crash_harness.hpp"
#include "mongo_backend.hpp"

namespace outbox::crash {

namespace {

using outbox::mongodb::Mode;

class MongoCrashTest : public CrashTest {
 protected:
  void run_mode(Mode mode) {
    MongoBackend backend(mode);
    run(backend);
  }
};

TEST_F(MongoCrashTest, RelayKilledAtRandomMomentsLosesNothing) { run_mode(Mode::poll); }

TEST_F(MongoCrashTest, CappedModeRelayKilledAtRandomMomentsLosesNothing) { run_mode(Mode::capped); }

}  // namespace

}  // namespace outbox::crash
