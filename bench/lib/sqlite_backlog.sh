# Sourced by the Kafka relay scripts (bench/kafka_in_flight.sh, bench/kafka_relay_ab.sh).
# make_sqlite_backlog OUTBOX_BIN DB MESSAGES: an SQLite outbox `orders` in DB holding MESSAGES rows
# as `put` writes them (the envelope's columns), an order event of about 300 bytes each over 64
# keys, written in one statement (seconds, where puts would take minutes).
make_sqlite_backlog() {
  local outbox="$1" db="$2" messages="$3"
  "$outbox" init --store "sqlite:$db" --outbox orders >/dev/null
  sqlite3 "$db" <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $messages)
INSERT INTO outbox_orders (id, type, key, data, headers, created_us)
SELECT printf('0190a5c2-0000-7000-8000-%012d', i), 'order.placed', 'customer-' || (i % 64),
       printf('{"order_id":"o-%d","customer_id":"customer-%d","currency":"EUR","total_cents":%d,' ||
              '"lines":[{"sku":"sku-%d","quantity":%d,"price_cents":1999},' ||
              '{"sku":"sku-%d","quantity":1,"price_cents":499}],"placed_at":"2026-12-02T07:00:00Z",' ||
              '"note":"leave at the door, ring twice"}', i, i % 64, i * 7 % 100000, i % 500, 1 + i % 4,
              (i + 17) % 500),
       NULL, CAST(strftime('%s','now') AS INTEGER) * 1000000
FROM n;
SQL
}
