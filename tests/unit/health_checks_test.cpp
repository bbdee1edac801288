// /healthz and /readyz decide from a snapshot of the relay and its sink's health: alive while the
// loop turns, ready only for the relay that holds the lease and whose sink is healthy.
#include <gtest/gtest.h>

#include "cli/health_checks.hpp"

using namespace std::chrono_literals;
using outbox::RelayOptions;
using outbox::RelayState;
using outbox::cli::liveness;
using outbox::cli::liveness_bound;
using outbox::cli::readiness;

namespace {

const auto now = std::chrono::steady_clock::now();

RelayState running(std::chrono::steady_clock::duration since_last_turn = 0s) {
  RelayState s;
  s.phase = RelayState::Phase::running;
  s.last_turn = now - since_last_turn;
  return s;
}

}  // namespace

TEST(HealthChecks, TheBoundIsThreeRenewalsOrIdleWaitsAndAtLeastTenSeconds) {
  RelayOptions o;  // lease TTL 30 s: renewals every 10 s
  EXPECT_EQ(liveness_bound(o), 30s);
  o.lease_ttl = 3s;
  EXPECT_EQ(liveness_bound(o), 10s);
  o.idle_wait = 5s;
  EXPECT_EQ(liveness_bound(o), 15s);
}

TEST(HealthChecks, AliveWhileTheLoopTurnsWithinTheBound) {
  EXPECT_TRUE(liveness(running(1s), now, 10s).ok);
  EXPECT_EQ(liveness(running(1s), now, 10s).reason, "ok");
  // A wait (backoff, standby pause) counts until it ends: a last turn ahead of now is alive.
  EXPECT_TRUE(liveness(running(-20s), now, 10s).ok);
}

TEST(HealthChecks, ALoopStuckInACallIsNotAlive) {
  const auto p = liveness(running(25s), now, 10s);
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.reason.find("stuck"), std::string::npos) << p.reason;
  EXPECT_NE(p.reason.find("25 s"), std::string::npos) << p.reason;
  EXPECT_NE(p.reason.find("restart"), std::string::npos) << p.reason;  // what to do
}

TEST(HealthChecks, ReadyWhenRunningWithAHealthySink) {
  const auto p = readiness(running(), "ok", now, 10s);
  EXPECT_TRUE(p.ok);
  EXPECT_EQ(p.reason, "ok");
}

TEST(HealthChecks, AStandbyIsAliveButNotReadyAndSaysWhoHoldsTheLease) {
  RelayState s = running();
  s.phase = RelayState::Phase::standby;
  s.standby_reason = "consumer 'default' of outbox 'orders' is held by relay 'host:42'";
  EXPECT_TRUE(liveness(s, now, 10s).ok);
  const auto p = readiness(s, "ok", now, 10s);
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.reason.rfind("standby: consumer 'default' of outbox 'orders' is held by relay 'host:42'", 0), 0u)
      << p.reason;
}

TEST(HealthChecks, StartingAndStoppingAreNotReady) {
  RelayState s = running();
  s.phase = RelayState::Phase::starting;
  EXPECT_EQ(readiness(s, "ok", now, 10s).reason.rfind("starting", 0), 0u);
  s.phase = RelayState::Phase::stopping;
  EXPECT_EQ(readiness(s, "ok", now, 10s).reason.rfind("stopping", 0), 0u);
}

TEST(HealthChecks, AFailingSinkIsNotReadyAndItsHealthIsOneLine) {
  const auto p = readiness(running(), "webhook: POST failed:\nconnection refused", now, 10s);
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.reason, "sink: webhook: POST failed: connection refused");
}

TEST(HealthChecks, AStuckRelayIsNotReadyEither) {
  const auto p = readiness(running(60s), "ok", now, 10s);
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.reason.rfind("stuck", 0), 0u) << p.reason;
}
