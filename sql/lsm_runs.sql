--
-- lsm_runs: compressed runs of lsm tables.
--
-- Flush (lsm_compact, VACUUM, inline by writers), compaction, reads of rows
-- that live in runs through every kind of scan, changes to such rows (they
-- are copied back to an overlay memtable page first), aborted transactions,
-- TOAST, tombstones, freezing, and the introspection functions.
--
CREATE TABLE runs_t (id int PRIMARY KEY, grp int, payload text)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO runs_t SELECT g, g % 10, 'payload ' || g FROM generate_series(1, 5000) g;
SELECT count(*), sum(id), count(DISTINCT payload) FROM runs_t;
SELECT flushed_pages > 0 AS flushed, merged_runs, runs FROM lsm_compact('runs_t');
SELECT level, min_tid, versions, tombstones, compressed_bytes < raw_bytes AS compressed,
       bloom_bits > 0 AS has_bloom, oldest_xid IS NULL AS all_frozen
  FROM lsm_runs('runs_t');
SELECT memtable_pages, runs, live_versions, run_entries FROM lsm_info('runs_t');
SELECT lsm_check('runs_t');

-- every kind of read finds the rows in the run
SELECT count(*), sum(id), min(payload), max(payload) FROM runs_t;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM runs_t WHERE id = 4242;
SELECT * FROM runs_t WHERE id = 4242;
SELECT count(*), sum(id) FROM runs_t WHERE id BETWEEN 100 AND 1999;
SET enable_indexscan = off;
SET enable_bitmapscan = on;
EXPLAIN (COSTS OFF) SELECT count(*) FROM runs_t WHERE id < 300;
SELECT count(*) FROM runs_t WHERE id < 300;
RESET enable_indexscan;
RESET enable_bitmapscan;
RESET enable_seqscan;
SELECT id, payload FROM runs_t WHERE ctid = '(3,7)';
SELECT count(*) FROM runs_t WHERE ctid BETWEEN '(2,1)' AND '(4,0)';
SELECT count(*) > 0 AS sampled FROM runs_t TABLESAMPLE SYSTEM (50) REPEATABLE (1);

-- index-only scans need no table fetches after a full compaction
VACUUM runs_t;
SELECT * FROM lsm_compact('runs_t', true);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT id FROM runs_t WHERE id < 50;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- changes to rows that live in the run
UPDATE runs_t SET payload = 'updated' WHERE id IN (10, 20, 30);
DELETE FROM runs_t WHERE id BETWEEN 40 AND 49;
SELECT id, payload FROM runs_t WHERE id IN (10, 20, 30, 40, 50) ORDER BY id;
SELECT count(*), sum(id) FROM runs_t;
BEGIN;
SELECT id FROM runs_t WHERE id = 60 FOR UPDATE;
SELECT id FROM runs_t WHERE id = 61 FOR SHARE;
COMMIT;
-- changes that roll back leave the run's rows as they were
BEGIN;
DELETE FROM runs_t WHERE id BETWEEN 100 AND 199;
UPDATE runs_t SET payload = 'never' WHERE id BETWEEN 200 AND 210;
ROLLBACK;
SELECT count(*), count(*) FILTER (WHERE payload = 'never') FROM runs_t;
-- aborted insertions never reach a run as rows (a flush takes them as
-- dead entries, for VACUUM to delete their index entries)
BEGIN;
INSERT INTO runs_t SELECT g, 0, 'aborted' FROM generate_series(10001, 10100) g;
ROLLBACK;
SELECT * FROM lsm_compact('runs_t');
SELECT count(*) FILTER (WHERE payload = 'aborted') AS aborted,
       count(*) FILTER (WHERE payload = 'updated') AS updated,
       count(*) AS total FROM runs_t;
SELECT lsm_check('runs_t');

-- VACUUM turns removed run rows into tombstones, a full compaction drops them
VACUUM runs_t;
SELECT * FROM lsm_compact('runs_t');
SELECT sum(tombstones) > 0 AS has_tombstones FROM lsm_runs('runs_t');
SELECT * FROM lsm_compact('runs_t', true);
SELECT level, versions, tombstones FROM lsm_runs('runs_t');
SELECT count(*), sum(id) FROM runs_t;
SET enable_seqscan = off;
SELECT count(*) FROM runs_t WHERE id BETWEEN 40 AND 49;
SELECT id, payload FROM runs_t WHERE id IN (10, 45, 60);
RESET enable_seqscan;
SELECT lsm_check('runs_t');

-- ANALYZE counts the rows of runs
ANALYZE runs_t;
SELECT reltuples FROM pg_class WHERE relname = 'runs_t';

-- duplicates are still refused for keys whose row is in a run
INSERT INTO runs_t VALUES (4242, 0, 'dup');
INSERT INTO runs_t VALUES (45, 0, 'back') RETURNING id, payload;

-- VACUUM FULL and TRUNCATE of a table with runs
VACUUM FULL runs_t;
SELECT runs, live_versions FROM lsm_info('runs_t');
SELECT count(*), sum(id) FROM runs_t;
TRUNCATE runs_t;
SELECT runs, live_versions FROM lsm_info('runs_t');
DROP TABLE runs_t;

-- TOAST values of rows in runs
CREATE TABLE runs_toast (id int, big text) USING lsm;
INSERT INTO runs_toast
  SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 80) i)
    FROM generate_series(1, 1000) g;
SELECT flushed_pages > 0 AS flushed, runs FROM lsm_compact('runs_toast');
SELECT count(*), sum(length(big)), count(DISTINCT big) FROM runs_toast;
UPDATE runs_toast SET big = 'short' WHERE id = 1;
SELECT count(*), sum(length(big)) FROM runs_toast;
SELECT lsm_check('runs_toast');
DROP TABLE runs_toast;

-- writers flush inline once the memtable passes lsm.memtable_flush_pages
CREATE TABLE runs_inline (id int, pad text) USING lsm WITH (autovacuum_enabled = off);
SET lsm.memtable_flush_pages = 32;
INSERT INTO runs_inline SELECT g, repeat('i', 100) FROM generate_series(1, 5000) g;
INSERT INTO runs_inline SELECT g, repeat('j', 100) FROM generate_series(5001, 10000) g;
SELECT count(*) >= 1 AS has_runs FROM lsm_runs('runs_inline');
SELECT count(*), sum(id) FROM runs_inline;
RESET lsm.memtable_flush_pages;
-- runs without a bloom filter
SET lsm.bloom_bits_per_key = 0;
SELECT * FROM lsm_compact('runs_inline', true);
SELECT bloom_bits, bloom_hashes FROM lsm_runs('runs_inline');
RESET lsm.bloom_bits_per_key;
SELECT count(*), sum(id) FROM runs_inline WHERE id % 1000 = 0;
SELECT lsm_check('runs_inline');
DROP TABLE runs_inline;

-- lsm_compact(full) gives space back: pages move down, the tail is cut off
CREATE TABLE runs_shrink (a bigint, b bigint, c int) USING lsm WITH (autovacuum_enabled = off);
INSERT INTO runs_shrink SELECT g, g * 7, g % 100 FROM generate_series(1, 50000) g;
CREATE INDEX runs_shrink_a ON runs_shrink (a);
CREATE TEMP TABLE shrink_sizes AS SELECT pg_relation_size('runs_shrink') AS before;
SELECT runs FROM lsm_compact('runs_shrink', true);
SELECT pg_relation_size('runs_shrink') < before / 2 AS shrunk FROM shrink_sizes;
SELECT lsm_check('runs_shrink');
SELECT count(*), sum(a), sum(b), sum(c) FROM runs_shrink;
-- the memtable keeps working after its pages moved
INSERT INTO runs_shrink SELECT g, g, 1 FROM generate_series(50001, 51000) g;
UPDATE runs_shrink SET c = -1 WHERE a % 5000 = 0;
DELETE FROM runs_shrink WHERE a % 2 = 0;
SELECT count(*), sum(a), sum(c) FROM runs_shrink;
SET enable_seqscan = off;
SELECT a, c FROM runs_shrink WHERE a IN (5001, 50001, 50999, 51000) ORDER BY a;
RESET enable_seqscan;
-- after DELETE and VACUUM, lsm_compact(full) shrinks the table
UPDATE shrink_sizes SET before = pg_relation_size('runs_shrink');
VACUUM runs_shrink;
SELECT runs FROM lsm_compact('runs_shrink', true);
SELECT pg_relation_size('runs_shrink') < before AS shrunk FROM shrink_sizes;
SELECT lsm_check('runs_shrink');
SELECT count(*), sum(a), sum(c) FROM runs_shrink;
DROP TABLE runs_shrink;

-- point lookups decode a run page only up to the entry they look for (its
-- place estimated from the page's first and last TIDs); rows of very
-- unequal sizes make the estimate fall short for some, and lookups in TID
-- order, in random order and of missing rows must all find the right rows
CREATE TABLE runs_lookup (id int PRIMARY KEY, pad text)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO runs_lookup
  SELECT g, CASE WHEN g % 300 < 200 THEN 'x' ELSE repeat(md5(g::text), 6) END
  FROM generate_series(1, 6000) g;
DELETE FROM runs_lookup WHERE id % 7 = 0;
VACUUM runs_lookup;
SELECT runs FROM lsm_compact('runs_lookup', true);
CREATE TEMP TABLE runs_lookup_seq AS
  SELECT id, ctid AS tid, md5(pad) AS h FROM runs_lookup;
SELECT count(*) FROM runs_lookup_seq;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_material = off;
EXPLAIN (COSTS OFF)
  SELECT count(md5(t.pad)) FROM runs_lookup_seq s JOIN runs_lookup t ON t.id = s.id;
EXPLAIN (COSTS OFF)
  SELECT count(md5(t.pad)) FROM runs_lookup_seq s JOIN runs_lookup t ON t.ctid = s.tid;
SELECT count(*), count(*) FILTER (WHERE md5(t.pad) = s.h) AS same
  FROM (SELECT * FROM runs_lookup_seq ORDER BY id OFFSET 0) s
  JOIN runs_lookup t ON t.id = s.id;
SELECT count(*), count(*) FILTER (WHERE md5(t.pad) = s.h) AS same
  FROM (SELECT * FROM runs_lookup_seq ORDER BY md5(id::text) OFFSET 0) s
  JOIN runs_lookup t ON t.id = s.id;
SELECT count(*), count(*) FILTER (WHERE md5(t.pad) = s.h) AS same
  FROM (SELECT * FROM runs_lookup_seq ORDER BY md5(id::text) OFFSET 0) s
  JOIN runs_lookup t ON t.ctid = s.tid;
SELECT count(t.id) AS found
  FROM generate_series(7, 6000, 7) g LEFT JOIN runs_lookup t ON t.id = g;
-- lookups share the backend's cached view of the runs, which keeps the
-- last two decoded pages of each run: two index scans of the same table
-- taking turns (from both ends), and lookups in more tables than there are
-- cached views (each row then opens views anew), find the right rows
EXPLAIN (COSTS OFF)
  SELECT count(md5(a.pad || b.pad)) FROM runs_lookup_seq s
  JOIN runs_lookup a ON a.id = s.id JOIN runs_lookup b ON b.id = 6001 - s.id;
SELECT count(*), count(*) FILTER (WHERE md5(a.pad) = s.h) AS same_a,
       count(*) FILTER (WHERE md5(b.pad) = s2.h) AS same_b
  FROM (SELECT * FROM runs_lookup_seq ORDER BY id OFFSET 0) s
  JOIN runs_lookup a ON a.id = s.id
  JOIN runs_lookup b ON b.id = 6001 - s.id
  JOIN runs_lookup_seq s2 ON s2.tid = b.ctid;
DO $$
BEGIN
  FOR i IN 1..6 LOOP
    EXECUTE format('CREATE TABLE runs_many_%s (id int PRIMARY KEY, v int)
                    USING lsm WITH (autovacuum_enabled = off)', i);
    EXECUTE format('INSERT INTO runs_many_%s SELECT g, g * %s FROM generate_series(1, 2000) g', i, i);
    PERFORM lsm_compact(format('runs_many_%s', i)::regclass, true);
  END LOOP;
END $$;
EXPLAIN (COSTS OFF)
SELECT count(*), sum(m1.v + m2.v + m3.v + m4.v + m5.v + m6.v) AS total
  FROM generate_series(1, 1500, 3) g
  JOIN runs_many_1 m1 ON m1.id = g JOIN runs_many_2 m2 ON m2.id = g
  JOIN runs_many_3 m3 ON m3.id = g JOIN runs_many_4 m4 ON m4.id = g
  JOIN runs_many_5 m5 ON m5.id = g JOIN runs_many_6 m6 ON m6.id = g;
SELECT count(*), sum(m1.v + m2.v + m3.v + m4.v + m5.v + m6.v) AS total
  FROM generate_series(1, 1500, 3) g
  JOIN runs_many_1 m1 ON m1.id = g JOIN runs_many_2 m2 ON m2.id = g
  JOIN runs_many_3 m3 ON m3.id = g JOIN runs_many_4 m4 ON m4.id = g
  JOIN runs_many_5 m5 ON m5.id = g JOIN runs_many_6 m6 ON m6.id = g;
DROP TABLE runs_many_1, runs_many_2, runs_many_3, runs_many_4, runs_many_5,
  runs_many_6;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_material;
SELECT lsm_check('runs_lookup');
DROP TABLE runs_lookup;

-- a merge join keeps a shallow copy of the inner index scan's marked row
-- (the slot's buffer pin is supposed to keep it valid): rows fetched from
-- runs must therefore be copies the slot owns, not pointers into decoded
-- run pages that the next fetches overwrite
CREATE TABLE runs_mj_inner (k int, pad text)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO runs_mj_inner
  SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 8) i)
  FROM generate_series(1, 3000) g;
SELECT runs FROM lsm_compact('runs_mj_inner', true);
CREATE INDEX runs_mj_inner_k ON runs_mj_inner (k);
CREATE TABLE runs_mj_outer (k int) USING lsm WITH (autovacuum_enabled = off);
INSERT INTO runs_mj_outer SELECT g / 3 FROM generate_series(3, 9002) g;
SELECT runs FROM lsm_compact('runs_mj_outer', true);
CREATE INDEX runs_mj_outer_k ON runs_mj_outer (k);
VACUUM ANALYZE runs_mj_inner;
VACUUM ANALYZE runs_mj_outer;
SET enable_hashjoin = off;
SET enable_nestloop = off;
SET enable_material = off;
SET enable_sort = off;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
  SELECT count(*) FROM runs_mj_outer o
  WHERE NOT EXISTS (SELECT 1 FROM runs_mj_inner i WHERE i.k = o.k AND i.pad = o.k::text);
SELECT count(*) FROM runs_mj_outer o
  WHERE NOT EXISTS (SELECT 1 FROM runs_mj_inner i WHERE i.k = o.k AND i.pad = o.k::text);
RESET enable_hashjoin;
RESET enable_nestloop;
RESET enable_material;
RESET enable_sort;
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP TABLE runs_mj_inner, runs_mj_outer;

-- a sequential scan returns run versions from the decoded run pages and
-- keeps the pages of the current and the previous logical block in place;
-- with wide rows a block spans several run pages, all of which stay: every
-- row read is the row written
CREATE TABLE runs_wide (id int, pad text)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO runs_wide
  SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 12) i)
  FROM generate_series(1, 2000) g;
SELECT runs FROM lsm_compact('runs_wide', true);
SELECT pages > 100 AS many_pages FROM lsm_runs('runs_wide');
SELECT count(*),
       count(*) FILTER (WHERE pad = (SELECT string_agg(md5(id::text || i::text), '')
                                     FROM generate_series(1, 12) i)) AS intact
  FROM runs_wide;
DROP TABLE runs_wide;

-- a plain VACUUM after many deletions merges the runs (their tombstones
-- reach lsm.vacuum_merge_tombstone_pct of the entries): tombstones and the
-- rows they hide are gone, and the truncation gives the space back
CREATE TABLE runs_churn (id bigint, r bigint, v int)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO runs_churn SELECT g, g * 7, g % 1000 FROM generate_series(1, 60000) g;
CREATE INDEX runs_churn_id ON runs_churn (id);
VACUUM runs_churn;
CREATE TEMP TABLE churn_sizes AS SELECT pg_relation_size('runs_churn') AS before;
DELETE FROM runs_churn WHERE id % 2 = 0;
VACUUM runs_churn;
SELECT pg_relation_size('runs_churn') < before * 0.6 AS shrunk FROM churn_sizes;
SELECT runs, retired_runs FROM lsm_info('runs_churn');
SELECT sum(versions) AS versions, sum(tombstones) AS tombstones FROM lsm_runs('runs_churn');
SELECT count(*), sum(id) FROM runs_churn;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(r) FROM runs_churn WHERE id BETWEEN 1000 AND 2000;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT lsm_check('runs_churn');
-- at 0, VACUUM leaves the tombstones to the size-ratio policy (the copies
-- of the deleted rows share few overlay pages: let VACUUM flush them)
SET lsm.vacuum_merge_tombstone_pct = 0;
SET lsm.vacuum_flush_min_pages = 1;
DELETE FROM runs_churn WHERE id % 3 = 0;
VACUUM runs_churn;
SELECT sum(tombstones) > 0 AS tombstones_kept FROM lsm_runs('runs_churn');
SELECT count(*), sum(id) FROM runs_churn;
RESET lsm.vacuum_merge_tombstone_pct;
RESET lsm.vacuum_flush_min_pages;
SELECT lsm_check('runs_churn');
DROP TABLE runs_churn;

-- rows of every form in the same data pages: a scan decodes the usual
-- entry (frozen, same block and layout, short, no nulls) by a loop of its
-- own and everything else by the general code; both must agree with heap
CREATE TABLE runs_forms_h (id int, a int, t text);
INSERT INTO runs_forms_h
  SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE g END,
         CASE WHEN g % 11 = 0 THEN NULL
              WHEN g % 5 = 0 THEN repeat(chr(97 + g % 26), 100 + g % 60)
              ELSE 'x' || g END
  FROM generate_series(1, 20000) g;
CREATE TABLE runs_forms (id int, a int, t text) USING lsm;
INSERT INTO runs_forms SELECT * FROM runs_forms_h;
SELECT lsm_compact('runs_forms', true) IS NOT NULL AS compacted;
-- gaps in the offsets, and versions of a later transaction (not frozen)
DELETE FROM runs_forms WHERE id % 13 = 0;
DELETE FROM runs_forms_h WHERE id % 13 = 0;
UPDATE runs_forms SET a = -a WHERE id % 17 = 0;
UPDATE runs_forms_h SET a = -a WHERE id % 17 = 0;
SELECT lsm_compact('runs_forms', true) IS NOT NULL AS compacted;
SELECT count(*) FROM (
  (SELECT * FROM runs_forms EXCEPT ALL SELECT * FROM runs_forms_h)
  UNION ALL
  (SELECT * FROM runs_forms_h EXCEPT ALL SELECT * FROM runs_forms)) d;
SELECT count(*), count(a), count(t), sum(length(t)) FROM runs_forms;
SELECT lsm_check('runs_forms');
DROP TABLE runs_forms, runs_forms_h;

-- a flush sizes its bloom filter by the entries it writes, not by the
-- logical blocks it spans (it used to take 16 keys per block: a few
-- locked rows and a page of new ones got a filter of several pages)
CREATE TABLE runs_bloom_size (id int, v int) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO runs_bloom_size SELECT g, g FROM generate_series(1, 200000) g;
SELECT lsm_compact('runs_bloom_size', true) IS NOT NULL AS compacted;
SELECT count(*) FROM (SELECT id FROM runs_bloom_size WHERE id % 20000 = 1
                      FOR SHARE) l;
INSERT INTO runs_bloom_size SELECT g, g FROM generate_series(200001, 201000) g;
SELECT lsm_compact('runs_bloom_size') IS NOT NULL AS compacted;
SELECT level, versions, tombstones, pages - data_pages AS other_pages,
       bloom_bits >= 10 * versions AS enough_bits
  FROM lsm_runs('runs_bloom_size') ORDER BY run_id;
SELECT count(*), sum(v) FROM runs_bloom_size WHERE id % 20000 = 1;
SELECT lsm_check('runs_bloom_size');
DROP TABLE runs_bloom_size;

-- UPDATEs flush a memtable grown past the threshold, as INSERTs do (they
-- used to leave it growing until VACUUM)
CREATE TABLE runs_upd_flush (id int, v int, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO runs_upd_flush SELECT g, 0, repeat('x', 20)
  FROM generate_series(1, 20000) g;
SELECT lsm_compact('runs_upd_flush', true) IS NOT NULL AS compacted;
SELECT lsm_set_option('runs_upd_flush', 'memtable_flush_pages', '16');
UPDATE runs_upd_flush SET v = v + 1 WHERE id <= 4000;
UPDATE runs_upd_flush SET v = v + 1 WHERE id > 4000 AND id <= 8000;
UPDATE runs_upd_flush SET v = v + 1 WHERE id > 8000 AND id <= 12000;
UPDATE runs_upd_flush SET v = v + 1 WHERE id > 12000 AND id <= 16000;
SELECT runs > 1 AS flushed FROM lsm_info('runs_upd_flush');
SELECT count(*), sum(v), count(DISTINCT id) FROM runs_upd_flush;
SELECT lsm_check('runs_upd_flush');
DROP TABLE runs_upd_flush;

-- UPDATEs and DELETEs of rows in runs copy them to overlay pages; a
-- memtable with lsm.memtable_flush_overlay_pages of those is flushed by the
-- next writer, however far below lsm.memtable_flush_pages it is
CREATE TABLE runs_ovl_flush (id int PRIMARY KEY, v int, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO runs_ovl_flush SELECT g, 0, repeat('x', 20)
  FROM generate_series(1, 20000) g;
SELECT lsm_compact('runs_ovl_flush', true) IS NOT NULL AS compacted;
CREATE PROCEDURE runs_ovl_update(first int, n int) LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN first .. first + n - 1 LOOP
		UPDATE runs_ovl_flush SET v = v + 1 WHERE id % 50 = i;
		COMMIT;
	END LOOP;
END $$;
-- 0: only the memtable's size counts
SELECT lsm_set_option('runs_ovl_flush', 'memtable_flush_overlay_pages', '0');
CALL runs_ovl_update(0, 10);
SELECT runs, memtable_pages > 150 AS big_memtable FROM lsm_info('runs_ovl_flush');
SELECT lsm_set_option('runs_ovl_flush', 'memtable_flush_overlay_pages', '4');
CALL runs_ovl_update(10, 10);
SELECT runs > 1 AS flushed, memtable_pages < 60 AS small_memtable
  FROM lsm_info('runs_ovl_flush');
SELECT bytes_flushed AS flushed_before FROM lsm_info('runs_ovl_flush') \gset
DELETE FROM runs_ovl_flush WHERE id % 50 = 20;
DELETE FROM runs_ovl_flush WHERE id % 50 = 21;
SELECT bytes_flushed > :flushed_before AS delete_flushed
  FROM lsm_info('runs_ovl_flush');
SELECT count(*), sum(v), count(DISTINCT id) FROM runs_ovl_flush;
SELECT lsm_check('runs_ovl_flush');
DROP TABLE runs_ovl_flush;
DROP PROCEDURE runs_ovl_update;

-- pages freed by flushes and merges are reused at once (they used to wait
-- for VACUUM to bring the free space map's upper levels up to date)
CREATE TABLE runs_reuse (id int, pad text) USING lsm
  WITH (autovacuum_enabled = off);
CREATE PROCEDURE runs_reuse_cycles(n int) LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. n LOOP
		INSERT INTO runs_reuse SELECT g, repeat('r', 200)
		  FROM generate_series(i * 1000, i * 1000 + 999) g;
		COMMIT;
		PERFORM lsm_compact('runs_reuse');
		COMMIT;
	END LOOP;
END $$;
CALL runs_reuse_cycles(3);
SELECT pg_relation_size('runs_reuse') / 8192 AS pages_after_3 \gset
CALL runs_reuse_cycles(12);
-- 12 more cycles write about four times as much as the first 3 (they
-- merge everything each time): without reuse, the file grew to 5x its size
SELECT pg_relation_size('runs_reuse') / 8192 < 3 * :pages_after_3 AS reused;
SELECT count(*), sum(id) FROM runs_reuse;
SELECT lsm_check('runs_reuse');
DROP TABLE runs_reuse;
DROP PROCEDURE runs_reuse_cycles(int);

-- errors
CREATE TABLE runs_heap (id int);
SELECT * FROM lsm_compact('runs_heap');
DROP TABLE runs_heap;
SET lsm.bloom_bits_per_key = 100;
