// The business event the write benchmarks put: an order with a few items (about 150 bytes of JSON).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "outbox/outbox.hpp"

struct OrderCreated {
  std::int64_t ordernr;
  std::string customer;
  std::int64_t amount_cents;
  std::string currency;
  std::vector<std::string> items;
};
OUTBOX_MESSAGE(OrderCreated, "order_created", ordernr, customer, amount_cents, currency, items)
using OrderEvents = outbox::MessageSet<OrderCreated>;
