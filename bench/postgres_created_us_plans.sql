-- Diagnostic for docs/benchmarks.md ("What the created_us index costs"): the plans PostgreSQL picks
-- for the store's queries that read created_us, on an outbox table with and without its created_us
-- index. The table's DDL and the queries are copied from src/store/postgres/tables.cpp and
-- store.cpp (enforce_retention by age, status) as of this commit; re-copy them if those change.
-- Creates and drops its own database. Run against a throwaway cluster:
--   scripts/postgres/start.sh --state /tmp/pg-plans --fresh --durable && source /tmp/pg-plans/env
--   psql -X -q -f bench/postgres_created_us_plans.sql
--   scripts/postgres/stop.sh --state /tmp/pg-plans
-- The outbox table twice: with and without the created_us index; 200,000 rows each, created_us
-- rising with position.
DROP DATABASE IF EXISTS explain_created;
CREATE DATABASE explain_created;
\c explain_created
\set ON_ERROR_STOP on
CREATE TABLE outbox_a (position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, xid xid8 NOT NULL,
  id text NOT NULL, type text NOT NULL, key text, data text NOT NULL, headers text, created_us bigint NOT NULL);
CREATE INDEX outbox_a_xid ON outbox_a (xid);
CREATE INDEX outbox_a_created ON outbox_a (created_us);
CREATE TABLE outbox_b (LIKE outbox_a INCLUDING ALL);
DROP INDEX outbox_b_created_us_idx;
\d outbox_b
INSERT INTO outbox_a (xid, id, type, key, data, created_us)
  SELECT pg_current_xact_id(), gen_random_uuid()::text, 'order_created', 'order-' || (i % 64), repeat('x', 200),
         (extract(epoch from clock_timestamp()) * 1000000)::bigint FROM generate_series(1, 200000) i;
INSERT INTO outbox_b (xid, id, type, key, data, created_us)
  SELECT pg_current_xact_id(), gen_random_uuid()::text, 'order_created', 'order-' || (i % 64), repeat('x', 200),
         (extract(epoch from clock_timestamp()) * 1000000)::bigint FROM generate_series(1, 200000) i;
VACUUM ANALYZE outbox_a;
VACUUM ANALYZE outbox_b;
-- A consumer that has passed everything: lo = a snapshot taken now, no hi, after = the newest position.
SELECT pg_current_snapshot()::text AS lo \gset
SELECT (extract(epoch from now() - interval '1 day') * 1000000)::bigint AS cutoff \gset
\echo retention by age, nothing older than a day (store.cpp enforce_retention: max_age only)
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT position FROM outbox_a WHERE true AND (xid < pg_snapshot_xmin(:'lo'::pg_snapshot) OR pg_visible_in_snapshot(xid, :'lo'::pg_snapshot) OR (position <= 400000 AND (NULL::pg_snapshot IS NULL OR pg_visible_in_snapshot(xid, NULL::pg_snapshot)))) AND (position < 0 OR created_us < :cutoff) ORDER BY position LIMIT 1000;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT position FROM outbox_b WHERE true AND (xid < pg_snapshot_xmin(:'lo'::pg_snapshot) OR pg_visible_in_snapshot(xid, :'lo'::pg_snapshot) OR (position <= 400000 AND (NULL::pg_snapshot IS NULL OR pg_visible_in_snapshot(xid, NULL::pg_snapshot)))) AND (position < 0 OR created_us < :cutoff) ORDER BY position LIMIT 1000;
\echo status: lag of that consumer (store.cpp status)
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT count(*), min(created_us), (SELECT max(position) FROM outbox_a WHERE (xid < pg_snapshot_xmin(:'lo'::pg_snapshot) OR pg_visible_in_snapshot(xid, :'lo'::pg_snapshot) OR (position <= 400000 AND (NULL::pg_snapshot IS NULL OR pg_visible_in_snapshot(xid, NULL::pg_snapshot))))) FROM outbox_a WHERE NOT (xid < pg_snapshot_xmin(:'lo'::pg_snapshot) OR pg_visible_in_snapshot(xid, :'lo'::pg_snapshot) OR (position <= 400000 AND (NULL::pg_snapshot IS NULL OR pg_visible_in_snapshot(xid, NULL::pg_snapshot))));
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT count(*), min(created_us), (SELECT max(position) FROM outbox_b WHERE (xid < pg_snapshot_xmin(:'lo'::pg_snapshot) OR pg_visible_in_snapshot(xid, :'lo'::pg_snapshot) OR (position <= 400000 AND (NULL::pg_snapshot IS NULL OR pg_visible_in_snapshot(xid, NULL::pg_snapshot))))) FROM outbox_b WHERE NOT (xid < pg_snapshot_xmin(:'lo'::pg_snapshot) OR pg_visible_in_snapshot(xid, :'lo'::pg_snapshot) OR (position <= 400000 AND (NULL::pg_snapshot IS NULL OR pg_visible_in_snapshot(xid, NULL::pg_snapshot))));
\echo status: oldest and newest created
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT count(*), min(position), max(position), (SELECT created_us FROM outbox_b ORDER BY position LIMIT 1), (SELECT created_us FROM outbox_b ORDER BY position DESC LIMIT 1) FROM outbox_b;
\echo a position-bounded form of retention by age: the first young row in position order, then delete below it
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT position FROM outbox_b WHERE created_us >= :cutoff ORDER BY position LIMIT 1;
\c postgres
DROP DATABASE explain_created;
