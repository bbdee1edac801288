// GET requests to a real `outbox relay --metrics` listener, for the tests that read its /metrics,
// /healthz and /readyz as a scraper or a probe would.
#pragma once

#include <httplib.h>

#include <chrono>
#include <string>
#include <thread>

#include "cli_fixture.hpp"

namespace testing_cli {

struct Answer {
  int status = 0;  // 0: no answer
  std::string body;
};

inline Answer get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  auto res = client.Get(path);
  return res ? Answer{res->status, res->body} : Answer{};
}

// Polls `path` until its answer satisfies `done` or 30 s passed (or the relay ended); returns the
// last answer.
template <class Predicate>
Answer wait_for(int port, const std::string& path, Process& relay, Predicate done) {
  Answer a;
  for (int i = 0; i < 600 && relay.running(); ++i) {
    a = get(port, path);
    if (done(a)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return a;
}

}  // namespace testing_cli
