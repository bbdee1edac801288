# Sourced by bench/kafka_in_flight.sh. make_postgres_backlog OUTBOX_BIN URI MESSAGES: a PostgreSQL
# table-mode outbox `orders` at URI holding MESSAGES rows as `put` writes them, the same order events
# as make_sqlite_backlog (about 300 bytes each, 64 keys), in one committed INSERT (seconds, where
# puts would take minutes). Needs psql.
make_postgres_backlog() {
  local outbox="$1" uri="$2" messages="$3"
  "$outbox" init --store "$uri" --outbox orders >/dev/null
  psql -q -v ON_ERROR_STOP=1 "$uri" <<SQL
INSERT INTO outbox_orders (xid, id, type, key, data, headers, created_us)
SELECT pg_current_xact_id(), format('0190a5c2-0000-7000-8000-%s', lpad(i::text, 12, '0')), 'order.placed',
       'customer-' || (i % 64),
       format('{"order_id":"o-%s","customer_id":"customer-%s","currency":"EUR","total_cents":%s,'
              '"lines":[{"sku":"sku-%s","quantity":%s,"price_cents":1999},'
              '{"sku":"sku-%s","quantity":1,"price_cents":499}],"placed_at":"2026-12-02T07:00:00Z",'
              '"note":"leave at the door, ring twice"}', i, i % 64, i * 7 % 100000, i % 500, 1 + i % 4,
              (i + 17) % 500),
       NULL, (extract(epoch from now()) * 1000000)::bigint
FROM generate_series(1, $messages) AS i;
ANALYZE outbox_orders;
SQL
}
