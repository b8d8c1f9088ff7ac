--
-- demo.sql -- sample workload for "make demo" (run by test/scripts/demo.sh
-- with psql -v rows=N in a database where CREATE EXTENSION lsm was done).
--
-- Loads an event-like data set into a heap table and, once the extension
-- provides them, into an lsm table; times a few queries without an index,
-- with core indexes (btree, hash, BRIN) and with the extension's index AMs
-- (xhash, zonemap, bitmap); prints side-by-side summaries with ratios.
-- Access methods that do not exist yet are reported as "not built yet";
-- nothing here needs editing when they arrive.
--
\set ON_ERROR_STOP on
\set QUIET on
\pset footer off
SET client_min_messages = warning;
-- stable timings: no JIT compilation, no parallel workers
SET jit = off;
SET max_parallel_workers_per_gather = 0;

-- ------------------------------------------------------------------------
-- which access methods exist
-- ------------------------------------------------------------------------
SELECT
  EXISTS (SELECT FROM pg_am WHERE amname = 'lsm' AND amtype = 't') AS has_lsm,
  EXISTS (SELECT FROM pg_am WHERE amname = 'xhash' AND amtype = 'i') AS has_xhash,
  EXISTS (SELECT FROM pg_am WHERE amname = 'zonemap' AND amtype = 'i') AS has_zonemap,
  EXISTS (SELECT FROM pg_am WHERE amname = 'bitmap' AND amtype = 'i') AS has_bitmap
\gset

\echo
\echo '== access methods of the lsm extension =='
SELECT a.what || ': ' ||
       CASE WHEN am.oid IS NULL THEN 'not built yet (see doc/README.md for the plan)'
            ELSE 'available' END AS status
  FROM (VALUES (1, 'lsm', 'lsm table access method'),
               (2, 'xhash', 'xhash index access method'),
               (3, 'zonemap', 'zonemap index access method'),
               (4, 'bitmap', 'bitmap index access method')) a(ord, amname, what)
  LEFT JOIN pg_am am ON am.amname = a.amname
 ORDER BY a.ord
\g (tuples_only=on)

-- ------------------------------------------------------------------------
-- helpers
-- ------------------------------------------------------------------------
CREATE TABLE demo_results (
  tbl     text,            -- heap | lsm
  metric  text,            -- rows, load, maint, size, ...
  val     float8
);

CREATE TABLE demo_index_results (
  ord      serial,
  tbl      text,
  query    text,
  am       text,
  role     text,            -- none | baseline | core | extension
  build_ms float8,
  bytes    bigint,
  query_ms float8,
  plan     text,
  note     text
);

-- Median wall time in ms of n executions of a query (after one warm-up run).
CREATE FUNCTION demo_query_ms(q text, n int) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
  times float8[] := '{}';
BEGIN
  EXECUTE q;
  FOR i IN 1 .. n LOOP
    t0 := clock_timestamp();
    EXECUTE q;
    times := times || extract(epoch FROM clock_timestamp() - t0) * 1000;
  END LOOP;
  RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY t) FROM unnest(times) t);
END $$;

-- The plan of a query, executed, in one short line.
CREATE FUNCTION demo_plan(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  line text;
  result text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    -- keep the plan nodes, drop details such as "Recheck Cond" or "Filter"
    CONTINUE WHEN line !~ '\(actual ';
    line := regexp_replace(line, '^\s*(->\s*)?', '');
    line := regexp_replace(line, ' \(actual rows=(\d+) loops=\d+\)', ' [\1 rows]');
    result := result || CASE WHEN result = '' THEN '' ELSE ' <- ' END || line;
  END LOOP;
  RETURN result;
END $$;

-- Time one variant of one query on one table: build the index (unless
-- am is NULL), measure size, query time and plan, and drop the index
-- unless keep is true.  A missing access method gets a "not built yet" row.
CREATE FUNCTION demo_variant(tbl text, label text, col text, am text, role text,
                             q text, reps int, keep bool) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
  build float8;
  idx text := format('%s_%s_%s', tbl, col, am);
  sz bigint;
BEGIN
  q := replace(q, '$T', quote_ident(tbl));
  IF am IS NULL THEN
    INSERT INTO demo_index_results (tbl, query, am, role, query_ms, plan)
      VALUES (tbl, label, '(no index)', role, demo_query_ms(q, reps), demo_plan(q));
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_am WHERE amname = am) THEN
    INSERT INTO demo_index_results (tbl, query, am, role, note)
      VALUES (tbl, label, am, role, 'not built yet');
    RETURN;
  END IF;
  t0 := clock_timestamp();
  EXECUTE format('CREATE INDEX %I ON %I USING %I (%I)', idx, tbl, am, col);
  build := extract(epoch FROM clock_timestamp() - t0) * 1000;
  sz := pg_relation_size(idx::regclass);
  -- make the planner use the index when it can
  PERFORM set_config('enable_seqscan', 'off', true);
  INSERT INTO demo_index_results (tbl, query, am, role, build_ms, bytes, query_ms, plan)
    VALUES (tbl, label, am, role, build, sz, demo_query_ms(q, reps), demo_plan(q));
  PERFORM set_config('enable_seqscan', 'on', true);
  IF NOT keep THEN
    EXECUTE format('DROP INDEX %I', idx);
  END IF;
END $$;

-- All queries and index variants for one table.  For each column the
-- last index built is kept (the extension's AM when it exists), so the
-- demo database ends up with one index per column.
CREATE FUNCTION demo_indexes(tbl text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v record;
  last_am text;
BEGIN
  FOR v IN
    SELECT * FROM (VALUES
      (1, 'id = 424242',        'id',    'SELECT * FROM $T WHERE id = 424242', 50,
          ARRAY['btree', 'hash', 'xhash'], ARRAY['baseline', 'core', 'extension']),
      (2, 'ts: 1 hour range',   'ts',    'SELECT count(*), avg(value) FROM $T WHERE ts >= ''2024-01-05 00:00+00'' AND ts < ''2024-01-05 01:00+00''', 10,
          ARRAY['btree', 'brin', 'zonemap'], ARRAY['baseline', 'core', 'extension']),
      (3, 'level = ''error''',  'level', 'SELECT count(*), avg(value) FROM $T WHERE level = ''error''', 5,
          ARRAY['btree', 'bitmap'], ARRAY['core', 'extension'])
    ) AS x(ord, label, col, q, reps, ams, roles)
    ORDER BY ord
  LOOP
    PERFORM demo_variant(tbl, v.label, v.col, NULL, 'none', v.q, LEAST(v.reps, 5), false);
    -- the last AM of the list that exists is kept
    SELECT a INTO last_am FROM unnest(v.ams) WITH ORDINALITY u(a, n)
     WHERE EXISTS (SELECT FROM pg_am WHERE amname = a) ORDER BY n DESC LIMIT 1;
    FOR i IN 1 .. array_length(v.ams, 1) LOOP
      PERFORM demo_variant(tbl, v.label, v.col, v.ams[i], v.roles[i], v.q, v.reps,
                           v.ams[i] = last_am);
    END LOOP;
  END LOOP;
END $$;

-- ------------------------------------------------------------------------
-- load
-- ------------------------------------------------------------------------
\echo
\echo '== loading' :rows 'rows =='

-- An event log: increasing timestamps (one per second), 1000 devices, a
-- few log levels (1% error), repetitive messages.
CREATE VIEW demo_source AS
SELECT g::bigint AS id,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS ts,
       (g * 7919 % 1000)::int AS device,
       CASE WHEN g % 100 = 0 THEN 'error'
            WHEN g % 20 = 0 THEN 'warning'
            WHEN g % 3 = 0 THEN 'debug'
            ELSE 'info' END AS level,
       'device ' || (g * 7919 % 1000) || ': ' ||
       (ARRAY['started', 'stopped', 'heartbeat', 'temperature reading',
              'battery low', 'connection lost', 'connection restored'])[1 + g * 31 % 7]
         AS message,
       (g * 37 % 10000) / 100.0::float8 AS value
  FROM generate_series(1::bigint, :rows) g;

-- both tables are loaded with COPY from the same file, written once by the
-- server (COPY into an lsm table without indexes writes compressed runs
-- directly; the indexes come afterwards, as in a typical bulk load)
COPY (SELECT * FROM demo_source) TO :'datafile';

CREATE TABLE events_heap (
  id bigint, ts timestamptz, device int, level text, message text, value float8
) USING heap;

SELECT clock_timestamp() AS t0 \gset
COPY events_heap FROM :'datafile';
INSERT INTO demo_results
  SELECT 'heap', 'load', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000;

SELECT clock_timestamp() AS t0 \gset
VACUUM (ANALYZE) events_heap;
INSERT INTO demo_results
  SELECT 'heap', 'maint', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000;

\if :has_lsm
CREATE TABLE events_lsm (LIKE events_heap) USING lsm;

SELECT clock_timestamp() AS t0 \gset
COPY events_lsm FROM :'datafile';
INSERT INTO demo_results
  SELECT 'lsm', 'load', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000;

-- compaction (when the extension offers it) and statistics
SELECT clock_timestamp() AS t0 \gset
DO $$
BEGIN
  -- (the function's second argument has a default, but to_regprocedure
  -- wants the whole signature: with 'lsm_compact(regclass)' the demo never
  -- compacted)
  IF to_regprocedure('lsm_compact(regclass,boolean)') IS NOT NULL THEN
    PERFORM lsm_compact('events_lsm'::regclass, true);
  END IF;
END $$;
ANALYZE events_lsm;
INSERT INTO demo_results
  SELECT 'lsm', 'maint', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000;
\endif

INSERT INTO demo_results
  VALUES ('heap', 'rows', (SELECT count(*) FROM events_heap)),
         ('heap', 'size', pg_table_size('events_heap')),
         ('heap', 'scan', demo_query_ms('SELECT level, count(*), avg(value) FROM events_heap GROUP BY level', 3));
\if :has_lsm
INSERT INTO demo_results
  VALUES ('lsm', 'rows', (SELECT count(*) FROM events_lsm)),
         ('lsm', 'size', pg_table_size('events_lsm')),
         ('lsm', 'scan', demo_query_ms('SELECT level, count(*), avg(value) FROM events_lsm GROUP BY level', 3));
\endif

-- ------------------------------------------------------------------------
-- indexes
-- ------------------------------------------------------------------------
\echo '== building and timing indexes =='
SELECT demo_indexes('events_heap') \g /dev/null
\if :has_lsm
SELECT demo_indexes('events_lsm') \g /dev/null
\endif

-- ------------------------------------------------------------------------
-- summaries
-- ------------------------------------------------------------------------
CREATE FUNCTION demo_fmt(v float8, metric text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN v IS NULL THEN NULL
    WHEN metric IN ('size') THEN pg_size_pretty(v::bigint)
    WHEN metric IN ('rows') THEN to_char(v, 'FM999,999,999,990')
    WHEN v < 10 THEN to_char(v, 'FM990.000') || ' ms'
    WHEN v < 1000 THEN to_char(v, 'FM990.0') || ' ms'
    ELSE to_char(v, 'FM999,999,990') || ' ms'
  END
$$;

CREATE FUNCTION demo_ratio(a float8, b float8) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN a IS NULL OR b IS NULL OR b = 0 THEN NULL
              ELSE to_char(a / b, 'FM99990.00') || 'x' END
$$;

\echo
\echo '== tables: heap vs lsm =='
SELECT m.label AS "measure",
       demo_fmt(h.val, m.metric) AS heap,
       coalesce(demo_fmt(l.val, m.metric),
                CASE WHEN :'has_lsm' THEN '-' ELSE 'not built yet' END) AS lsm,
       coalesce(demo_ratio(l.val, h.val), '') AS "lsm/heap"
  FROM (VALUES (1, 'rows',  'rows (count(*))'),
               (2, 'load',  'load (COPY)'),
               (3, 'maint', 'VACUUM ANALYZE / compact + ANALYZE'),
               (4, 'size',  'table size'),
               (5, 'scan',  'full scan: GROUP BY level')) m(ord, metric, label)
  LEFT JOIN demo_results h ON h.tbl = 'heap' AND h.metric = m.metric
  LEFT JOIN demo_results l ON l.tbl = 'lsm' AND l.metric = m.metric
 ORDER BY m.ord;

\echo '== indexes: core AM vs extension AM (ratios: extension / core) =='
SELECT CASE WHEN r.tbl = 'events_heap' THEN 'heap' ELSE 'lsm' END AS "table",
       r.query,
       r.am || CASE r.role WHEN 'core' THEN ' (core)' ELSE '' END AS "index AM",
       coalesce(demo_fmt(r.build_ms, 'ms'), '') AS build,
       coalesce(pg_size_pretty(r.bytes), '') AS size,
       coalesce(demo_fmt(r.query_ms, 'ms'), r.note) AS "query (median)",
       CASE WHEN r.role = 'extension' AND r.note IS NULL THEN
         concat_ws(', ', 'size ' || demo_ratio(r.bytes, c.bytes),
                         'query ' || demo_ratio(r.query_ms, c.query_ms),
                         'build ' || demo_ratio(r.build_ms, c.build_ms))
       ELSE '' END AS "vs core"
  FROM demo_index_results r
  LEFT JOIN demo_index_results c
         ON c.tbl = r.tbl AND c.query = r.query AND c.role = 'core'
 ORDER BY r.ord;

\echo '== plans (EXPLAIN ANALYZE, nodes only) =='
SELECT CASE WHEN tbl = 'events_heap' THEN 'heap' ELSE 'lsm' END AS "table",
       query, am AS "index AM", plan
  FROM demo_index_results
 WHERE plan IS NOT NULL AND role <> 'none'   -- without an index: a Seq Scan
 ORDER BY ord;

\echo '== what is left in the demo database =='
SELECT c.relname AS "relation", am.amname AS "AM",
       CASE c.relkind WHEN 'r' THEN 'table' ELSE 'index' END AS kind,
       pg_size_pretty(pg_relation_size(c.oid)) AS size
  FROM pg_class c
  JOIN pg_am am ON am.oid = c.relam
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relname LIKE 'events%'
 ORDER BY c.relkind DESC, c.relname;
