// The subcommands of `outbox`, each a thin layer over the library.
#pragma once

#include <CLI/CLI.hpp>

#include "stop_signals.hpp"

namespace outbox::cli {

void register_commands(CLI::App& app);
// Runs the subcommand that was parsed; returns the exit code. Commands that stop in order on
// SIGINT/SIGTERM install their handlers in `signals`.
int run_selected(CLI::App& app, StopSignals& signals);

}  // namespace outbox::cli
