// Everything a service needs, in one include. Store headers (outbox/sqlite.hpp, ...) are separate
// so that a service links only the database it uses.
#pragma once

#include "outbox/errors.hpp"
#include "outbox/message.hpp"
#include "outbox/names.hpp"
#include "outbox/relay.hpp"
#include "outbox/replay.hpp"
#include "outbox/schema.hpp"
#include "outbox/sink.hpp"
#include "outbox/store.hpp"
#include "outbox/typed.hpp"
#include "outbox/uuid.hpp"
