// The `outbox` command: parses arguments and prints results; all the work is in the library.
// Exit codes: 0 success; 2 bad input or usage; 1 a runtime failure.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "outbox/errors.hpp"
#include "outbox/scheme.hpp"
#include "stop_signals.hpp"

int main(int argc, char** argv) {
  // Before anything can start a thread (librdkafka, the metrics server, store drivers), so that
  // none of them receives SIGINT/SIGTERM and dies by it: see stop_signals.hpp.
  outbox::cli::block_stop_signals();
  outbox::cli::StopSignals signals;

  // Logs go to stderr so that stdout carries only data (JSON lines, ids).
  spdlog::set_default_logger(spdlog::stderr_color_mt("outbox"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  // The URI forms come from the scheme table of this build (outbox/scheme.hpp).
  CLI::App app{"outbox: the transactional outbox for C++ services\n  stores: " + outbox::store_usages() +
               "\n  sinks: " + outbox::sink_usages()};
  app.require_subcommand(1);
  app.set_version_flag("--version", OUTBOX_VERSION);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log debug details");
  outbox::cli::register_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (verbose) spdlog::set_level(spdlog::level::debug);
  try {
    return outbox::cli::run_selected(app, signals);
  } catch (const outbox::ValidationError& e) {
    spdlog::error("{}", e.what());
    return 2;
  } catch (const outbox::NoSuchOutbox& e) {
    spdlog::error("{}: outbox init --store STORE --outbox {}", e.what(), e.outbox());
    return 2;
  } catch (const outbox::UsageError& e) {
    spdlog::error("{}", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}
