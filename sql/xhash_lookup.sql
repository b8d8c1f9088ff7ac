--
-- xhash_lookup: single-key lookups find exactly what the table holds.
-- Exercises the search inside bucket pages (interpolation, gallop, binary
-- search) over freshly built pages, appended unsorted tails, split and
-- vacuumed pages; runs of equal keys longer than a scan's inline TID array
-- and longer than a page; the per-slot recent-buffer hints (also after
-- REINDEX and on temporary indexes, which have none); the buffer
-- statistics of hinted reads; and the plans the planner picks.
--
SET enable_seqscan = off;
SET enable_bitmapscan = off;

CREATE TABLE xl (k int8, v int4);
INSERT INTO xl SELECT g, g FROM generate_series(1, 50000) g;
-- 31 rows of key 7: more than the inline TID array of a scan
INSERT INTO xl SELECT 7, g FROM generate_series(1, 30) g;
-- 3000 rows of one key: an overflow chain
INSERT INTO xl SELECT 123456789, g FROM generate_series(1, 3000) g;
CREATE INDEX xl_k ON xl USING xhash (k);
ANALYZE xl;
SELECT xhash_check('xl_k');
SELECT buckets > 50 AS many_buckets, overflow_pages > 0 AS has_chain
  FROM xhash_info('xl_k');

-- xl_bad(lo, hi, deleted): keys in lo..hi whose index lookup does not
-- count the rows the table has (1, except for key 7, the keys above 70000
-- that were never inserted and, once "deleted", the keys deleted below);
-- each lookup is an index scan of its own (the sub-select runs per key)
CREATE FUNCTION xl_bad(lo int8, hi int8, deleted bool DEFAULT false)
RETURNS SETOF int8 LANGUAGE sql AS $$
	SELECT g FROM generate_series(lo, hi) g
	 WHERE (SELECT count(*) FROM xl WHERE k = g) <>
		   CASE WHEN g = 7 THEN 31
				WHEN g > 70000 THEN 0
				WHEN deleted AND g % 10 = 3 AND g > 40000 THEN 0
				ELSE 1 END
$$;

EXPLAIN (COSTS OFF)
SELECT g FROM generate_series(1, 10) g WHERE (SELECT count(*) FROM xl WHERE k = g) <> 1;

-- every key of the built index, and keys that are not there
SELECT count(*) AS bad FROM xl_bad(1, 50000);
SELECT count(*) AS bad FROM xl_bad(70001, 75000);
SELECT count(*) FROM xl WHERE k = 123456789;
SELECT count(*), sum(v) FROM xl WHERE k = 7;
SELECT v FROM xl WHERE k = 49999;

-- inserts after the build: appended entries, splits, directory doubling
INSERT INTO xl SELECT g, g FROM generate_series(50001, 70000) g;
SELECT xhash_check('xl_k');
SELECT count(*) AS bad FROM xl_bad(1, 75000);

-- VACUUM compacts pages in place
DELETE FROM xl WHERE k % 10 = 3 AND k > 40000;
VACUUM xl;
SELECT xhash_check('xl_k');
SELECT count(*) AS bad FROM xl_bad(1, 75000, true);

-- hinted bucket reads are counted in the index's buffer statistics like
-- ordinary reads: one bucket page per lookup, all of them hits
BEGIN;
SELECT pg_stat_get_xact_blocks_fetched('xl_k'::regclass) AS f0,
	   pg_stat_get_xact_blocks_hit('xl_k'::regclass) AS h0 \gset
SELECT count(*) AS bad FROM xl_bad(1, 1000, true);
SELECT pg_stat_get_xact_blocks_fetched('xl_k'::regclass) - :f0 >= 1000 AS all_counted,
	   pg_stat_get_xact_blocks_fetched('xl_k'::regclass) - :f0 =
	   pg_stat_get_xact_blocks_hit('xl_k'::regclass) - :h0 AS all_hits;
COMMIT;

-- REINDEX gives the index a new file: the hints of this backend must not
-- lead to the old buffers
SELECT count(*) AS bad FROM xl_bad(1, 2000, true);
REINDEX INDEX xl_k;
SELECT count(*) AS bad FROM xl_bad(1, 75000, true);
SELECT xhash_check('xl_k');

-- cross-type keys: the hash function of the key's own type is cached per
-- key column and replaced when another type comes along; the same backend
-- alternates int2, int4 and int8 probes of one column, and mixes types
-- over the two columns of another index
CREATE FUNCTION xl_cross_bad() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM generate_series(8, 3000) g		-- key 7 has 31 rows
	 WHERE (SELECT count(*) FROM xl WHERE k = g::int2) <> 1
		OR (SELECT count(*) FROM xl WHERE k = g::int4) <> 1
		OR (SELECT count(*) FROM xl WHERE k = g::int8) <> 1
		OR (SELECT count(*) FROM xl WHERE k = g::int4 + 1) <> 1
$$;
SELECT xl_cross_bad() AS bad;
EXPLAIN (COSTS OFF) SELECT v FROM xl WHERE k = 5::int2;
CREATE TABLE xl2 (a int8, b float8, v int4);
INSERT INTO xl2 SELECT g, g / 4.0, g FROM generate_series(1, 5000) g;
CREATE INDEX xl2_ab ON xl2 USING xhash (a, b);
SELECT count(*) AS bad FROM generate_series(1, 5000) g
 WHERE (SELECT v FROM xl2 WHERE a = g::int4 AND b = (g / 4.0)::float4) IS DISTINCT FROM
	   CASE WHEN (g / 4.0)::float4 = g / 4.0 THEN g END
	OR (SELECT v FROM xl2 WHERE a = g::int2 AND b = g / 4.0) IS DISTINCT FROM g
	OR (SELECT v FROM xl2 WHERE a = g AND b = g / 4.0) IS DISTINCT FROM g;
REINDEX INDEX xl_k;
SELECT xl_cross_bad() AS bad;
DROP TABLE xl2;
DROP FUNCTION xl_cross_bad();

-- the planner picks a plain index scan on xhash for equality, also when a
-- btree on the same column exists, and for prepared statements' generic
-- plans
RESET enable_seqscan;
RESET enable_bitmapscan;
CREATE INDEX xl_k_btree ON xl USING btree (k);
ANALYZE xl;
EXPLAIN (COSTS OFF) SELECT v FROM xl WHERE k = 49999;
SET plan_cache_mode = force_generic_plan;
PREPARE xl_get(int8) AS SELECT v FROM xl WHERE k = $1;
EXPLAIN (COSTS OFF) EXECUTE xl_get(49999);
EXECUTE xl_get(49999);
DEALLOCATE xl_get;
RESET plan_cache_mode;
DROP INDEX xl_k_btree;
SET enable_seqscan = off;
SET enable_bitmapscan = off;

-- runs of equal keys inside bucket pages: the search walks from the
-- interpolated position for up to 24 entries and gallops beyond that, so
-- runs of 3, 20 and 40 equal hashes (keys 1..1000, 1001..1500, 1501..2000)
-- are found whole from either side, after the build and once inserts have
-- appended unsorted tails and split pages
CREATE TABLE xr (k int8);
INSERT INTO xr SELECT g FROM generate_series(1, 1000) g, generate_series(1, 3);
INSERT INTO xr SELECT g FROM generate_series(1001, 1500) g, generate_series(1, 20);
INSERT INTO xr SELECT g FROM generate_series(1501, 2000) g, generate_series(1, 40);
CREATE INDEX xr_k ON xr USING xhash (k);
CREATE FUNCTION xr_bad(extra int) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM generate_series(0, 2100) g
	 WHERE (SELECT count(*) FROM xr WHERE k = g) <>
		   CASE WHEN g = 0 OR g > 2000 THEN 0
				WHEN g <= 1000 THEN 3 WHEN g <= 1500 THEN 20 ELSE 40 END +
		   CASE WHEN g % 7 = 0 AND g BETWEEN 1 AND 2000 THEN extra ELSE 0 END
$$;
SELECT xr_bad(0) AS bad;
INSERT INTO xr SELECT g FROM generate_series(7, 2000, 7) g, generate_series(1, 40);
SELECT xhash_check('xr_k');
SELECT xr_bad(40) AS bad;
SELECT buckets > 80 AS split FROM xhash_info('xr_k');
DROP FUNCTION xr_bad(int);
DROP TABLE xr;

-- a temporary index (local buffers, no hints)
CREATE TEMP TABLE xlt (k text, v int4);
INSERT INTO xlt SELECT md5(g::text), g FROM generate_series(1, 20000) g;
CREATE INDEX xlt_k ON xlt USING xhash (k);
INSERT INTO xlt SELECT md5(g::text), g FROM generate_series(20001, 30000) g;
SELECT count(*) AS bad FROM generate_series(1, 30000) g
 WHERE (SELECT v FROM xlt WHERE k = md5(g::text)) IS DISTINCT FROM g;
SELECT xhash_check('xlt_k');

DROP TABLE xlt;

-- index scans are counted in the statistics views (idx_scan), plain and
-- bitmap, as for core indexes
CREATE TABLE xls (k int4);
INSERT INTO xls SELECT generate_series(1, 1000);
CREATE INDEX xls_k ON xls USING xhash (k);
EXPLAIN (COSTS OFF) SELECT count(*) FROM xls WHERE k = 5;
SELECT count(*) FROM xls WHERE k = 5;
SET enable_indexscan = off;
SET enable_bitmapscan = on;
EXPLAIN (COSTS OFF) SELECT count(*) FROM xls WHERE k = 7;
SELECT count(*) FROM xls WHERE k = 7;
SET enable_indexscan = on;
SET enable_bitmapscan = off;
SELECT pg_stat_force_next_flush();
SELECT idx_scan, idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 'xls_k';
DROP TABLE xls;
DROP FUNCTION xl_bad(int8, int8, bool);
DROP TABLE xl;
RESET enable_seqscan;
RESET enable_bitmapscan;
