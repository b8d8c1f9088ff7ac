--
-- lsm_analyze: ANALYZE statistics, planner estimates and TABLESAMPLE.
--
-- estimated rows of the top plan node
CREATE FUNCTION analyze_est(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO plan;
  RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint;
END $$;

-- b: 0..4 with skewed frequencies; c: 25% NULLs, 50 distinct values
CREATE TABLE analyze_t (a int, b int, c text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO analyze_t
  SELECT g,
         CASE WHEN g % 10 < 4 THEN 0 WHEN g % 10 < 7 THEN 1
              WHEN g % 10 < 9 THEN 2 ELSE 3 END,
         CASE WHEN g % 4 = 0 THEN NULL ELSE 'c' || (g % 50) END
    FROM generate_series(1, 10000) g;
INSERT INTO analyze_t VALUES (10001, 4, 'c1');

-- never analyzed
SELECT reltuples FROM pg_class WHERE oid = 'analyze_t'::regclass;
SELECT count(*) FROM pg_stats WHERE tablename = 'analyze_t';
-- the planner still knows roughly how big the table is
SELECT analyze_est('SELECT * FROM analyze_t') BETWEEN 5000 AND 20000 AS plausible;

ANALYZE analyze_t;
SELECT reltuples, relpages > 0 AS has_pages FROM pg_class WHERE oid = 'analyze_t'::regclass;
SELECT attname, null_frac, n_distinct, most_common_vals, most_common_freqs
  FROM pg_stats WHERE tablename = 'analyze_t' AND attname IN ('a', 'b')
 ORDER BY attname;
SELECT attname, null_frac, n_distinct,
       array_length(most_common_vals::text::text[], 1) AS n_mcv,
       histogram_bounds IS NULL AS no_histogram
  FROM pg_stats WHERE tablename = 'analyze_t' AND attname = 'c';
SELECT (histogram_bounds::text::int[])[1] AS lo,
       (histogram_bounds::text::int[])[array_length(histogram_bounds::text::int[], 1)] AS hi
  FROM pg_stats WHERE tablename = 'analyze_t' AND attname = 'a';
SELECT attname, avg_width FROM pg_stats WHERE tablename = 'analyze_t' ORDER BY attname;

-- estimates match the data
SELECT analyze_est('SELECT * FROM analyze_t');
SELECT analyze_est('SELECT * FROM analyze_t WHERE b = 0') AS est,
       (SELECT count(*) FROM analyze_t WHERE b = 0) AS actual;
SELECT analyze_est('SELECT * FROM analyze_t WHERE b = 3') AS est,
       (SELECT count(*) FROM analyze_t WHERE b = 3) AS actual;
SELECT analyze_est('SELECT * FROM analyze_t WHERE c IS NULL') AS est,
       (SELECT count(*) FROM analyze_t WHERE c IS NULL) AS actual;
SELECT est BETWEEN actual * 0.8 AND actual * 1.2 AS within_20pct
  FROM (SELECT analyze_est('SELECT * FROM analyze_t WHERE a < 2500') AS est,
               (SELECT count(*) FROM analyze_t WHERE a < 2500) AS actual) s;
EXPLAIN (COSTS OFF) SELECT * FROM analyze_t WHERE b = 4;

-- deleted and updated rows: reltuples counts live rows only
DELETE FROM analyze_t WHERE a % 2 = 0;
UPDATE analyze_t SET b = 4 WHERE a % 3 = 0;
ANALYZE analyze_t;
SELECT reltuples FROM pg_class WHERE oid = 'analyze_t'::regclass;
SELECT most_common_vals, most_common_freqs
  FROM pg_stats WHERE tablename = 'analyze_t' AND attname = 'b';
SELECT analyze_est('SELECT * FROM analyze_t WHERE b = 4') AS est,
       (SELECT count(*) FROM analyze_t WHERE b = 4) AS actual;
-- ANALYZE inside the transaction that changed the table counts its own
-- changes
BEGIN;
INSERT INTO analyze_t SELECT g, 9, NULL FROM generate_series(20001, 21000) g;
DELETE FROM analyze_t WHERE a < 1000;
ANALYZE analyze_t;
SELECT reltuples FROM pg_class WHERE oid = 'analyze_t'::regclass;
ROLLBACK;
-- VACUUM sets reltuples too
VACUUM analyze_t;
SELECT reltuples FROM pg_class WHERE oid = 'analyze_t'::regclass;
-- an emptied table
DELETE FROM analyze_t;
ANALYZE analyze_t;
SELECT reltuples FROM pg_class WHERE oid = 'analyze_t'::regclass;
SELECT count(*) FROM pg_stats WHERE tablename = 'analyze_t';
SELECT lsm_check('analyze_t');
DROP TABLE analyze_t;

-- a table larger than the sample: reltuples stays exact (every block is
-- visited), column statistics come from a sample
CREATE TABLE analyze_big (a int, b int) USING lsm WITH (autovacuum_enabled = off);
INSERT INTO analyze_big SELECT g, g % 7 FROM generate_series(1, 60000) g;
-- with holes after a VACUUM frees pages, and new rows in reused pages
DELETE FROM analyze_big WHERE a BETWEEN 10001 AND 40000;
VACUUM analyze_big;
INSERT INTO analyze_big SELECT g, g % 7 FROM generate_series(60001, 70000) g;
ANALYZE analyze_big;
SELECT reltuples FROM pg_class WHERE oid = 'analyze_big'::regclass;
SELECT n_distinct,
       (SELECT array_agg(v ORDER BY v) FROM unnest(most_common_vals::text::int[]) v) AS mcv
  FROM pg_stats WHERE tablename = 'analyze_big' AND attname = 'b';
SELECT null_frac, n_distinct FROM pg_stats
 WHERE tablename = 'analyze_big' AND attname = 'a';
-- ANALYZE of one column, and of a partitioned table with lsm partitions
ANALYZE analyze_big (b);
SELECT count(*) FROM pg_stats WHERE tablename = 'analyze_big';
DROP TABLE analyze_big;

-- ANALYZE with the progress report (track_activities) off gives the same
-- results
CREATE TABLE analyze_nt (a int) USING lsm WITH (autovacuum_enabled = off);
INSERT INTO analyze_nt SELECT generate_series(1, 10000);
SET track_activities = off;
ANALYZE analyze_nt;
RESET track_activities;
SELECT reltuples FROM pg_class WHERE oid = 'analyze_nt'::regclass;
SELECT (histogram_bounds::text::int[])[1] AS lo,
       (histogram_bounds::text::int[])[array_length(histogram_bounds::text::int[], 1)] AS hi
  FROM pg_stats WHERE tablename = 'analyze_nt' AND attname = 'a';
DROP TABLE analyze_nt;

CREATE TABLE analyze_part (k int, v int) PARTITION BY LIST (k);
CREATE TABLE analyze_part_1 PARTITION OF analyze_part FOR VALUES IN (1) USING lsm;
CREATE TABLE analyze_part_2 PARTITION OF analyze_part FOR VALUES IN (2) USING lsm;
INSERT INTO analyze_part SELECT 1 + g % 2, g FROM generate_series(1, 3000) g;
ANALYZE analyze_part;
SELECT relname, reltuples FROM pg_class
 WHERE relname LIKE 'analyze_part%' ORDER BY relname;
SELECT tablename, inherited, n_distinct FROM pg_stats
 WHERE tablename LIKE 'analyze_part%' AND attname = 'k' ORDER BY tablename, inherited;
DROP TABLE analyze_part;

-- ---------------------------------------------------------------------
-- TABLESAMPLE
-- ---------------------------------------------------------------------
CREATE TABLE analyze_s (id int, pad text) USING lsm WITH (autovacuum_enabled = off);
INSERT INTO analyze_s SELECT g, 'pad' FROM generate_series(1, 10000) g;
ANALYZE analyze_s;
EXPLAIN (COSTS OFF) SELECT * FROM analyze_s TABLESAMPLE SYSTEM (10) REPEATABLE (1);
-- the same seed gives the same sample
SELECT count(*), sum(id) FROM analyze_s TABLESAMPLE SYSTEM (10) REPEATABLE (1);
SELECT count(*), sum(id) FROM analyze_s TABLESAMPLE SYSTEM (10) REPEATABLE (1);
SELECT count(*), sum(id) FROM analyze_s TABLESAMPLE SYSTEM (50) REPEATABLE (42);
SELECT count(*), sum(id) FROM analyze_s TABLESAMPLE BERNOULLI (10) REPEATABLE (1);
SELECT count(*), sum(id) FROM analyze_s TABLESAMPLE BERNOULLI (10) REPEATABLE (1);
SELECT count(*), sum(id) FROM analyze_s TABLESAMPLE BERNOULLI (33.3) REPEATABLE (7);
-- SYSTEM takes whole blocks: the sampled rows come from few blocks
SELECT count(DISTINCT (ctid::text::point)[0]) < 10 AS few_blocks
  FROM analyze_s TABLESAMPLE SYSTEM (10) REPEATABLE (1);
-- 0% and 100%
SELECT count(*) FROM analyze_s TABLESAMPLE SYSTEM (0);
SELECT count(*) FROM analyze_s TABLESAMPLE BERNOULLI (0) REPEATABLE (3);
SELECT count(*), sum(id) FROM analyze_s TABLESAMPLE SYSTEM (100);
SELECT count(*), sum(id) FROM analyze_s TABLESAMPLE BERNOULLI (100) REPEATABLE (3);
-- samples skip deleted and old versions
DELETE FROM analyze_s WHERE id % 2 = 0;
UPDATE analyze_s SET id = -id WHERE id % 5 = 0;
SELECT count(*), sum(id) FROM analyze_s TABLESAMPLE SYSTEM (100);
SELECT count(*), sum(id) FROM analyze_s TABLESAMPLE BERNOULLI (100) REPEATABLE (3);
SELECT count(*) FILTER (WHERE id % 2 = 0) AS even,
       count(*) FILTER (WHERE id < 0) > 0 AS has_updated
  FROM analyze_s TABLESAMPLE BERNOULLI (50) REPEATABLE (5);
-- a sample inside a cursor, read backwards
BEGIN;
DECLARE analyze_c SCROLL CURSOR FOR
  SELECT id FROM analyze_s TABLESAMPLE BERNOULLI (100) REPEATABLE (1) WHERE id BETWEEN 1 AND 9;
FETCH ALL FROM analyze_c;
FETCH BACKWARD 2 FROM analyze_c;
COMMIT;
-- errors
SELECT count(*) FROM analyze_s TABLESAMPLE SYSTEM (101);
SELECT count(*) FROM analyze_s TABLESAMPLE BERNOULLI (-1);

-- tsm_system_rows (contrib)
CREATE EXTENSION tsm_system_rows;
SELECT count(*) FROM analyze_s TABLESAMPLE SYSTEM_ROWS (0);
SELECT count(*) FROM analyze_s TABLESAMPLE SYSTEM_ROWS (100);
SELECT count(*), count(DISTINCT id) FROM analyze_s TABLESAMPLE SYSTEM_ROWS (3000);
SELECT count(*), sum(id) FROM analyze_s TABLESAMPLE SYSTEM_ROWS (100000);
DROP EXTENSION tsm_system_rows;

SELECT lsm_check('analyze_s');
DROP TABLE analyze_s;
DROP FUNCTION analyze_est(text);
