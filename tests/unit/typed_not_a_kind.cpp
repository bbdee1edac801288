// Must NOT compile: Refund is a message kind, but not one of OrderEvents' kinds.
#include "outbox/typed.hpp"

struct OrderCreated {
  long ordernr;
};
OUTBOX_MESSAGE(OrderCreated, "order_created", ordernr)

struct Refund {
  long amount;
};
OUTBOX_MESSAGE(Refund, "refund", amount)

using OrderEvents = outbox::MessageSet<OrderCreated>;

int main() {
  auto m = OrderEvents::make(Refund{5});
  return static_cast<int>(m.position);
}
