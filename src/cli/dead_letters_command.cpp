#include "dead_letters_command.hpp"

#include <cstdint>
#include <iostream>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "duration_argument.hpp"
#include "outbox/errors.hpp"
#include "outbox/names.hpp"
#include "outbox/scheme.hpp"
#include "outbox/store.hpp"
#include "standard_output.hpp"
#include "stop_signals.hpp"

namespace outbox::cli {

namespace {

struct DeadLetterOptions {
  std::string store, outbox;
  std::size_t limit = 100;
  std::optional<std::int64_t> id;
  bool all = false;
  std::string consumer;
  std::string older_than;
  bool force = false;
};

DeadLetterOptions opts;
CLI::App* dead = nullptr;
CLI::App* list_cmd = nullptr;
CLI::App* replay_cmd = nullptr;
CLI::App* purge_cmd = nullptr;

std::string list_hint() {
  return "list them with `outbox dead-letters list --store STORE --outbox " + opts.outbox + "`";
}

// "of consumer 'c' " or "" : what the selection was narrowed to, for messages.
std::string of_consumer() { return opts.consumer.empty() ? "" : " of consumer '" + opts.consumer + "'"; }

DeadLetterFilter filter() {
  DeadLetterFilter f;
  f.id = opts.id;
  if (!opts.consumer.empty()) {
    check_identifier(opts.consumer, "consumer name");
    f.consumer = opts.consumer;
  }
  return f;
}

// A relay holds a consumer involved: the store's words, and the way past it.
[[noreturn]] void refuse(const ConsumerInUse& e, const char* what) {
  throw UsageError(std::string(e.what()) + ", or pass --force to " + what +
                   " anyway (a running relay delivers replayed messages as it reaches them)");
}

void no_such_id() {
  throw UsageError("no dead letter with id " + std::to_string(*opts.id) + of_consumer() + " in outbox '" + opts.outbox +
                   "' (replayed or purged already?); nothing was changed; " + list_hint());
}

int list() {
  auto store = open_store(opts.store);
  for (const auto& d : store->dead_letters(opts.outbox, opts.limit)) {
    std::cout << nlohmann::json{{"id", d.id},
                                {"consumer", d.consumer},
                                {"error", d.error},
                                {"attempts", d.attempts},
                                {"failed_at", format_timestamp(d.failed_at)},
                                {"message", to_json(d.message)}}
                     .dump()
              << '\n';
  }
  flush_stdout();
  return 0;
}

int replay() {
  if (!opts.id && !opts.all) {
    throw UsageError("dead-letters replay needs --id ID (one dead letter) or --all (every one" + of_consumer() + "); " +
                     list_hint());
  }
  auto store = open_store(opts.store);
  std::vector<ReplayedDeadLetter> done;
  try {
    done = store->replay_dead_letters(opts.outbox, filter(), opts.force);
  } catch (const ConsumerInUse& e) {
    refuse(e, "replay");
  }
  if (done.empty() && opts.id) no_such_id();
  for (const auto& r : done) {
    std::cout << fmt::format("replayed dead letter {} (consumer {}, message {}) from position {} at position {}\n",
                             r.id, r.consumer, r.message_id, r.original_position, r.new_position);
  }
  if (done.empty()) {
    std::cout << "nothing to replay: outbox '" << opts.outbox << "' has no dead letters" << of_consumer() << '\n';
  } else {
    std::cout << fmt::format("replayed {} dead letter{}\n", done.size(), done.size() == 1 ? "" : "s");
  }
  flush_stdout();
  return 0;
}

int purge() {
  if (!opts.id && opts.older_than.empty()) {
    throw UsageError(
        "dead-letters purge needs --id ID (one dead letter) or --older-than DURATION (e.g. 7d: every one that "
        "failed at least that long ago" +
        of_consumer() + "); " + list_hint());
  }
  DeadLetterFilter f = filter();
  if (!opts.older_than.empty()) f.older_than = parse_duration(opts.older_than, "--older-than");
  auto store = open_store(opts.store);
  std::vector<DeadLetter> done;
  try {
    done = store->purge_dead_letters(opts.outbox, f, opts.force);
  } catch (const ConsumerInUse& e) {
    refuse(e, "purge");
  }
  if (done.empty() && opts.id) no_such_id();
  for (const auto& d : done) {
    std::cout << fmt::format("purged dead letter {} (consumer {}, message {}, position {}, failed at {})\n", d.id,
                             d.consumer, d.message.id, d.message.position, format_timestamp(d.failed_at));
  }
  if (done.empty()) {
    std::cout << "nothing to purge: outbox '" << opts.outbox << "' has no dead letters" << of_consumer()
              << (opts.older_than.empty() ? "" : " older than " + opts.older_than) << '\n';
  } else {
    std::cout << fmt::format("purged {} dead letter{}\n", done.size(), done.size() == 1 ? "" : "s");
  }
  flush_stdout();
  return 0;
}

void add_store_options(CLI::App* sub) {
  static const std::string store_help = "Store URI: " + store_usages();
  sub->add_option("--store", opts.store, store_help)->required();
  sub->add_option("--outbox", opts.outbox, "Outbox name ([a-z][a-z0-9_]*)")->required();
}

}  // namespace

void register_dead_letters(CLI::App& app) {
  dead = app.add_subcommand("dead-letters",
                            "Dead-lettered messages: list (the default), replay or purge them (docs/operations.md)");
  dead->require_subcommand(0, 1);
  // The form without a subcommand lists, as it always did: its options are not required here, so
  // that they need not be given twice with a subcommand, and are checked in run_dead_letters().
  static const std::string store_help = "Store URI: " + store_usages();
  dead->add_option("--store", opts.store, store_help);
  dead->add_option("--outbox", opts.outbox, "Outbox name ([a-z][a-z0-9_]*)");
  dead->add_option("--limit", opts.limit, "At most this many")->capture_default_str();

  list_cmd = dead->add_subcommand("list", "Print dead-lettered messages with their errors, as JSON lines");
  add_store_options(list_cmd);
  list_cmd->add_option("--limit", opts.limit, "At most this many")->capture_default_str();

  replay_cmd = dead->add_subcommand(
      "replay",
      "Put dead letters back into the stream for their own consumer, in their original order, after what is "
      "pending; each is removed as it is replayed. Stop the consumer's relay first");
  add_store_options(replay_cmd);
  auto* id = replay_cmd->add_option("--id", opts.id, "The dead letter to replay (its id in the list)");
  auto* all = replay_cmd->add_flag("--all", opts.all, "Replay every dead letter (of --consumer, if given)");
  id->excludes(all);
  replay_cmd->add_option("--consumer", opts.consumer, "Only this consumer's dead letters");
  replay_cmd->add_flag("--force", opts.force, "Replay even while a relay holds the consumer");

  purge_cmd = dead->add_subcommand("purge", "Delete dead letters for good. Stop the consumer's relay first");
  add_store_options(purge_cmd);
  auto* purge_id = purge_cmd->add_option("--id", opts.id, "The dead letter to delete (its id in the list)");
  auto* older = purge_cmd->add_option("--older-than", opts.older_than,
                                      "Delete every dead letter (of --consumer, if given) that failed at least this "
                                      "long ago: a whole number and s, m, h or d, e.g. 7d");
  purge_id->excludes(older);
  purge_cmd->add_option("--consumer", opts.consumer, "Only this consumer's dead letters");
  purge_cmd->add_flag("--force", opts.force, "Purge even while a relay holds the consumer");
}

int run_dead_letters() {
  if (replay_cmd->parsed()) return replay();
  if (purge_cmd->parsed()) return purge();
  if (!list_cmd->parsed() && (opts.store.empty() || opts.outbox.empty())) {
    throw UsageError(
        "dead-letters needs --store and --outbox, or a subcommand: list, replay or purge (see `outbox dead-letters "
        "--help`)");
  }
  return list();
}

}  // namespace outbox::cli
