// The commands' standard output, as Unix pipelines expect it: `outbox tail | head` ends the command
// once the reader has gone, quietly and with the status of a process killed by SIGPIPE (which the
// CLI ignores, so that the relay can end in order instead; see stop_signals.cpp).
#pragma once

namespace outbox::cli {

// Flushes what a command printed. A reader that exited ends the process as SIGPIPE would have;
// any other write error throws, naming it.
void flush_stdout();

// For commands that wait with nothing to print (`tail --follow` on an idle outbox): ends the
// process as SIGPIPE would if stdout is a pipe or socket whose reader has gone, without writing.
void end_if_stdout_reader_gone();

}  // namespace outbox::cli
