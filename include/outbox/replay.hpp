// Replayed dead letters: how a replay marks the message it appends, and how a relay recognises one
// meant for another consumer. The marker lives in the message's headers, which every store already
// keeps, so outboxes created by older versions need no migration (docs/operations.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "outbox/errors.hpp"
#include "outbox/message.hpp"
#include "outbox/schema.hpp"
#include "outbox/store.hpp"

namespace outbox {

// The original position of a replayed message (decimal). Receivers see it: the message is a replay.
inline constexpr const char* kReplayedFromHeader = "outbox-replayed-from";
// The only consumer a replayed message is for; every other consumer's relay passes over it.
inline constexpr const char* kReplayForHeader = "outbox-replay-for";

// The message a replay of `d` appends: the dead letter's message (id, type, key, data, created,
// headers) with the two replay headers set; position and checkpoint cleared.
Message replay_message(const DeadLetter& d, const std::string& outbox);

// A registry that lets the stores write a replayed message through their own put path: the
// message's type with the schema `true` and no size limits (it passed validation when it was put;
// the registry it was put with is not known here). The envelope checks still run.
SchemaRegistry replay_registry(const Message& m);

// True when `m` is a replay meant for a consumer other than `consumer`.
bool replay_for_another_consumer(const Message& m, const std::string& consumer);

// Sorts dead letters into replay order: by original position, then by id.
void sort_for_replay(std::vector<DeadLetter>& letters);

// Whether `d` matches every field `which` gives (`now` for older_than).
bool matches(const DeadLetter& d, const DeadLetterFilter& which, Timestamp now);

// The error a store throws when a relay holds the lease of `consumer` (`left_ms` more to run).
ConsumerInUse consumer_in_use(const std::string& outbox, const std::string& consumer, const std::string& owner,
                              std::int64_t left_ms);

}  // namespace outbox
