// The subcommands of `outbox`, each a thin layer over the library.
#pragma once

#include <CLI/CLI.hpp>

namespace outbox::cli {

void register_commands(CLI::App& app);
// Runs the subcommand that was parsed; returns the exit code.
int run_selected(CLI::App& app);

}  // namespace outbox::cli
