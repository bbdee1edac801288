// `outbox dead-letters`: list (also the form without a subcommand, as before), replay and purge.
#pragma once

#include <CLI/CLI.hpp>

namespace outbox::cli {

void register_dead_letters(CLI::App& app);
// Runs whichever form was parsed; returns the exit code.
int run_dead_letters();

}  // namespace outbox::cli
