--
-- lsm_vacuum: VACUUM on lsm tables.
--
-- Removal of dead versions (lsm_info, lsm_check), freezing and
-- relfrozenxid/relminmxid, the visibility map (relallvisible, index-only
-- scans without table fetches, cleared by an UPDATE), INDEX_CLEANUP off,
-- TRUNCATE, PARALLEL, reloptions, and pages freed and reused.
--
-- Everything here assumes that no other transaction in this database holds
-- back the removal horizon while the test runs.
--

-- Number of table fetches of an index-only scan.
CREATE FUNCTION lsm_vacuum_heap_fetches(query text) RETURNS int
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_bitmapscan = off
AS $$
DECLARE
  line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || query
  LOOP
    IF line ~ 'Heap Fetches:' THEN
      RETURN substring(line FROM 'Heap Fetches: (\d+)')::int;
    END IF;
  END LOOP;
  RETURN NULL;
END;
$$;

CREATE TABLE lsm_vac (id int PRIMARY KEY, grp int, val text)
  USING lsm WITH (autovacuum_enabled = off);
CREATE INDEX lsm_vac_grp ON lsm_vac (grp);
INSERT INTO lsm_vac SELECT g, g % 10, 'value ' || g FROM generate_series(1, 3000) g;
SELECT versions, live_versions, recently_dead_versions, dead_versions
  FROM lsm_info('lsm_vac');

-- Updates and deletes leave dead versions.  lsm_info's own scan prunes those
-- on pages that take no more insertions (lsm_prune.c); VACUUM removes the
-- rest.
UPDATE lsm_vac SET val = val || ' updated' WHERE id % 3 = 0;
DELETE FROM lsm_vac WHERE id % 5 = 0;
SELECT versions, live_versions, recently_dead_versions, dead_versions
  FROM lsm_info('lsm_vac');
VACUUM lsm_vac;
SELECT versions, live_versions, recently_dead_versions, dead_versions
  FROM lsm_info('lsm_vac');
SELECT lsm_check('lsm_vac');
SELECT count(*), count(*) FILTER (WHERE val LIKE '%updated') FROM lsm_vac;
SELECT reltuples FROM pg_class WHERE relname = 'lsm_vac';

-- A second VACUUM has nothing left to do.
VACUUM lsm_vac;
SELECT versions, dead_versions FROM lsm_info('lsm_vac');

-- Versions a running transaction might still see are kept: a prepared
-- transaction with an xid holds back the horizon.
CREATE TABLE lsm_vac_aux (a int) USING lsm;
BEGIN;
INSERT INTO lsm_vac_aux VALUES (1);
PREPARE TRANSACTION 'lsm_vacuum_hold';
DELETE FROM lsm_vac WHERE id <= 100;
VACUUM lsm_vac;
SELECT recently_dead_versions > 0 AS kept, dead_versions
  FROM lsm_info('lsm_vac');
COMMIT PREPARED 'lsm_vacuum_hold';
VACUUM lsm_vac;
SELECT recently_dead_versions, dead_versions FROM lsm_info('lsm_vac');
SELECT count(*) FROM lsm_vac;
DROP TABLE lsm_vac_aux;

--
-- Visibility map: after VACUUM every block is all-visible, index-only
-- scans fetch nothing; an UPDATE clears the bit of the blocks it touches.
--
VACUUM ANALYZE lsm_vac;
SELECT relallvisible > 0 AS some_visible, relallvisible = relpages AS all_visible
  FROM pg_class WHERE relname = 'lsm_vac';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT id FROM lsm_vac WHERE id BETWEEN 1000 AND 1100;
SELECT lsm_vacuum_heap_fetches('SELECT id FROM lsm_vac WHERE id BETWEEN 1 AND 3000') AS fetches;
UPDATE lsm_vac SET val = 'changed' WHERE id = 1001;
SELECT lsm_vacuum_heap_fetches('SELECT id FROM lsm_vac WHERE id BETWEEN 1 AND 3000') > 0
  AS fetches_after_update;
SELECT count(*) FROM lsm_vac WHERE id BETWEEN 1000 AND 1100;
VACUUM lsm_vac;
SELECT lsm_vacuum_heap_fetches('SELECT id FROM lsm_vac WHERE id BETWEEN 1 AND 3000') AS fetches;
-- A DELETE clears it too.
DELETE FROM lsm_vac WHERE id = 2002;
SELECT lsm_vacuum_heap_fetches('SELECT id FROM lsm_vac WHERE id BETWEEN 1 AND 3000') > 0
  AS fetches_after_delete;
-- A row lock does not (it clears only all-frozen, which lsm does not use).
VACUUM lsm_vac;
SELECT lsm_vacuum_heap_fetches('SELECT id FROM lsm_vac WHERE id BETWEEN 1 AND 3000') AS fetches;
SELECT id FROM lsm_vac WHERE id = 107 FOR UPDATE;
SELECT lsm_vacuum_heap_fetches('SELECT id FROM lsm_vac WHERE id BETWEEN 1 AND 3000') > 0
  AS fetches_after_lock;
VACUUM lsm_vac;
SELECT relallvisible = relpages AS all_visible FROM pg_class WHERE relname = 'lsm_vac';

-- Inserts, updates and deletes that are rolled back: index-only scans must
-- not return their entries.
VACUUM lsm_vac;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
BEGIN;
INSERT INTO lsm_vac VALUES (9001, 1, 'rolled back');
ROLLBACK;
BEGIN;
COPY lsm_vac FROM stdin;
9002	2	copied
9003	3	copied
\.
ROLLBACK;
SELECT count(*) FROM lsm_vac WHERE id > 9000;
VACUUM lsm_vac;
BEGIN;
UPDATE lsm_vac SET id = id + 10000 WHERE id BETWEEN 101 AND 110;
ROLLBACK;
SELECT count(*) FROM lsm_vac WHERE id > 10000;
SELECT count(*) FROM lsm_vac WHERE id BETWEEN 101 AND 110;
VACUUM lsm_vac;
BEGIN;
DELETE FROM lsm_vac WHERE id BETWEEN 101 AND 110;
SELECT count(*) FROM lsm_vac WHERE id BETWEEN 101 AND 110;
ROLLBACK;
SELECT count(*) FROM lsm_vac WHERE id BETWEEN 101 AND 110;
-- A new row on an all-visible block is fetched.
VACUUM lsm_vac;
INSERT INTO lsm_vac VALUES (9004, 4, 'new');
SELECT lsm_vacuum_heap_fetches('SELECT id FROM lsm_vac WHERE id > 9000') AS fetches;
RESET enable_seqscan;
RESET enable_bitmapscan;
DELETE FROM lsm_vac WHERE id = 9004;

-- After update churn memtable pages are freed and reused; VACUUM still
-- leaves every block all-visible, and the planner knows it.
CREATE TABLE lsm_vac_churn (id int PRIMARY KEY, n int, pad text)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO lsm_vac_churn SELECT g, 0, repeat('x', 200) FROM generate_series(1, 10000) g;
VACUUM lsm_vac_churn;
UPDATE lsm_vac_churn SET n = n + 1;
VACUUM lsm_vac_churn;
UPDATE lsm_vac_churn SET n = n + 1;
VACUUM lsm_vac_churn;
UPDATE lsm_vac_churn SET n = n + 1;
VACUUM lsm_vac_churn;
UPDATE lsm_vac_churn SET n = n + 1;
VACUUM ANALYZE lsm_vac_churn;
SELECT versions, dead_versions FROM lsm_info('lsm_vac_churn');
SELECT relallvisible = relpages AS all_visible, reltuples
  FROM pg_class WHERE relname = 'lsm_vac_churn';
EXPLAIN (COSTS OFF) SELECT count(id) FROM lsm_vac_churn WHERE id < 3000;
SELECT count(id) FROM lsm_vac_churn WHERE id < 3000;
SELECT lsm_vacuum_heap_fetches('SELECT id FROM lsm_vac_churn WHERE id < 9000') AS fetches;
SELECT lsm_check('lsm_vac_churn');
DROP TABLE lsm_vac_churn;

--
-- VACUUM FREEZE advances relfrozenxid; freezing away MultiXacts advances
-- relminmxid.
--
SELECT relfrozenxid AS frozenxid0, relminmxid AS minmxid0
  FROM pg_class WHERE relname = 'lsm_vac' \gset
-- Row locks by a transaction and its subtransaction make MultiXacts.
BEGIN;
SELECT count(*) FROM (SELECT id FROM lsm_vac WHERE id BETWEEN 101 AND 120 FOR SHARE) s;
SAVEPOINT s1;
SELECT count(*) FROM (SELECT id FROM lsm_vac WHERE id BETWEEN 101 AND 120 FOR UPDATE) s;
COMMIT;
-- Some transactions with xids.
INSERT INTO lsm_vac VALUES (5001, 1, 'a');
INSERT INTO lsm_vac VALUES (5002, 2, 'b');
UPDATE lsm_vac SET val = 'c' WHERE id = 5001;
SELECT age(relfrozenxid) >= age(:'frozenxid0'::xid) AS not_advanced_yet
  FROM pg_class WHERE relname = 'lsm_vac';
VACUUM FREEZE lsm_vac;
SELECT age(relfrozenxid) < age(:'frozenxid0'::xid) AS frozenxid_advanced,
       mxid_age(relminmxid) < mxid_age(:'minmxid0'::xid) AS minmxid_advanced,
       age(c.relfrozenxid) <= age(x.xmin) AS frozenxid_after_last_change
  FROM pg_class c, (SELECT xmin FROM lsm_vac WHERE id = 5001) x
 WHERE c.relname = 'lsm_vac';
SELECT lsm_check('lsm_vac');
-- Frozen rows are still there and can be changed.
UPDATE lsm_vac SET val = 'after freeze' WHERE id BETWEEN 101 AND 103;
SELECT id, val FROM lsm_vac WHERE id BETWEEN 101 AND 104 ORDER BY id;
VACUUM (FREEZE, DISABLE_PAGE_SKIPPING) lsm_vac;
SELECT lsm_check('lsm_vac');

-- Other VACUUM options are accepted.
VACUUM (SKIP_LOCKED) lsm_vac;
VACUUM (PROCESS_TOAST false) lsm_vac;
VACUUM (ANALYZE, VERBOSE false) lsm_vac (grp);
VACUUM (INDEX_CLEANUP on) lsm_vac;
VACUUM (INDEX_CLEANUP auto) lsm_vac;
SELECT count(*), sum(id) FROM lsm_vac;
DROP TABLE lsm_vac;

--
-- VACUUM (INDEX_CLEANUP off): deleted rows stay invisible whatever the
-- plan; a later VACUUM with index cleanup removes what is left.
--
CREATE TABLE lsm_vac_noidx (id int PRIMARY KEY, t text)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO lsm_vac_noidx SELECT g, 'x' FROM generate_series(1, 1000) g;
VACUUM lsm_vac_noidx;
DELETE FROM lsm_vac_noidx WHERE id <= 500;
VACUUM (INDEX_CLEANUP off) lsm_vac_noidx;
SELECT lsm_check('lsm_vac_noidx');
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), min(id) FROM lsm_vac_noidx WHERE id < 1000;
SET enable_indexonlyscan = off;
SELECT count(*), min(id) FROM lsm_vac_noidx WHERE id < 1000;
RESET enable_indexonlyscan;
RESET enable_bitmapscan;
VACUUM lsm_vac_noidx;
SELECT count(*), min(id) FROM lsm_vac_noidx WHERE id < 1000;
SELECT lsm_vacuum_heap_fetches('SELECT id FROM lsm_vac_noidx WHERE id < 1000') AS fetches;
RESET enable_seqscan;
SELECT count(*), min(id) FROM lsm_vac_noidx WHERE id < 1000;
-- The same with the vacuum_index_cleanup reloption.
ALTER TABLE lsm_vac_noidx SET (vacuum_index_cleanup = off);
DELETE FROM lsm_vac_noidx WHERE id > 900;
VACUUM lsm_vac_noidx;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), max(id) FROM lsm_vac_noidx WHERE id > 800;
RESET enable_seqscan;
RESET enable_bitmapscan;
ALTER TABLE lsm_vac_noidx RESET (vacuum_index_cleanup);
VACUUM lsm_vac_noidx;
INSERT INTO lsm_vac_noidx VALUES (950, 'back');
SELECT count(*), max(id) FROM lsm_vac_noidx WHERE id > 800;
SELECT lsm_check('lsm_vac_noidx');
DROP TABLE lsm_vac_noidx;

-- Index cleanup after page reuse: VACUUM reads pages in physical order,
-- which is no longer logical block order once freed pages are reused; the
-- TIDs handed to the index AMs must still be sorted, or entries of removed
-- rows stay behind (and index-only scans return them).
CREATE TABLE lsm_vac_order (id int PRIMARY KEY, pad text)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO lsm_vac_order SELECT g, repeat('o', 500) FROM generate_series(1, 45) g;
SELECT count(DISTINCT (ctid::text::point)[0]) AS blocks FROM lsm_vac_order;
DELETE FROM lsm_vac_order WHERE id <= 30;
VACUUM lsm_vac_order;
SELECT txid_current() IS NOT NULL AS later_transaction;
INSERT INTO lsm_vac_order SELECT g, repeat('n', 500) FROM generate_series(101, 130) g;
-- the new rows got new logical blocks, stored in the reused pages
SELECT min((ctid::text::point)[0]) > 2 AS new_blocks, pg_relation_size('lsm_vac_order') / 8192 AS pages
  FROM lsm_vac_order WHERE id > 100;
DELETE FROM lsm_vac_order WHERE id > 30 AND id <= 40 OR id > 100 AND id <= 125;
VACUUM lsm_vac_order;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_vac_order WHERE id > 0;
SELECT count(*), min(id), max(id) FROM lsm_vac_order WHERE id > 0;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT count(*), min(id), max(id) FROM lsm_vac_order;
SELECT lsm_check('lsm_vac_order');
DROP TABLE lsm_vac_order;

--
-- Deleting every row: VACUUM frees the memtable pages, and truncates the
-- table to nothing unless told not to; later inserts work.
--
CREATE TABLE lsm_vac_trunc (id int PRIMARY KEY, payload text)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO lsm_vac_trunc SELECT g, repeat('z', 100) FROM generate_series(1, 2000) g;
SELECT memtable_pages > 0 AS has_memtable, free_pages FROM lsm_info('lsm_vac_trunc');
DELETE FROM lsm_vac_trunc;
VACUUM (TRUNCATE false) lsm_vac_trunc;
SELECT memtable_pages < 3 AS memtable_freed, free_pages > 0 AS has_free_pages,
       versions, dead_versions
  FROM lsm_info('lsm_vac_trunc');
SELECT pg_relation_size('lsm_vac_trunc') > 0 AS not_truncated;
-- Freed pages are reused by new rows: the table does not grow.  (A freed
-- page is handed out again once no snapshot from before it was freed can
-- remain, i.e. after a transaction that started later.)
SELECT pg_relation_size('lsm_vac_trunc') AS size_before \gset
SELECT txid_current() IS NOT NULL AS later_transaction;
INSERT INTO lsm_vac_trunc SELECT g, repeat('y', 100) FROM generate_series(1, 1000) g;
SELECT pg_relation_size('lsm_vac_trunc') <= :size_before AS reused;
SELECT count(*), min(id), max(id) FROM lsm_vac_trunc;
DELETE FROM lsm_vac_trunc;
VACUUM (TRUNCATE true) lsm_vac_trunc;
SELECT pg_relation_size('lsm_vac_trunc') = 0 AS truncated;
SELECT count(*) FROM lsm_vac_trunc;
INSERT INTO lsm_vac_trunc VALUES (1, 'first'), (2, 'second');
SELECT ctid, id, payload FROM lsm_vac_trunc ORDER BY id;
SET enable_seqscan = off;
SELECT id, payload FROM lsm_vac_trunc WHERE id = 1;
SELECT id, payload FROM lsm_vac_trunc WHERE id = 3;
RESET enable_seqscan;
INSERT INTO lsm_vac_trunc VALUES (2, 'dup');
SELECT lsm_check('lsm_vac_trunc');
-- The vacuum_truncate reloption.
ALTER TABLE lsm_vac_trunc SET (vacuum_truncate = false);
DELETE FROM lsm_vac_trunc;
VACUUM lsm_vac_trunc;
SELECT pg_relation_size('lsm_vac_trunc') > 0 AS not_truncated;
ALTER TABLE lsm_vac_trunc RESET (vacuum_truncate);
VACUUM lsm_vac_trunc;
SELECT pg_relation_size('lsm_vac_trunc') = 0 AS truncated;
-- Toasted values of deleted rows go with their rows.
INSERT INTO lsm_vac_trunc
  SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 300) i)
    FROM generate_series(1, 20) g;
SELECT pg_relation_size(reltoastrelid) > 0 AS toast_used
  FROM pg_class WHERE relname = 'lsm_vac_trunc';
SELECT count(*), sum(length(payload)) FROM lsm_vac_trunc;
DELETE FROM lsm_vac_trunc;
VACUUM lsm_vac_trunc;
SELECT pg_relation_size(reltoastrelid) = 0 AS toast_truncated,
       pg_relation_size(oid) = 0 AS table_truncated
  FROM pg_class WHERE relname = 'lsm_vac_trunc';
DROP TABLE lsm_vac_trunc;

-- VACUUM after INDEX_CLEANUP off, then every row deleted.
CREATE TABLE lsm_vac_trunc2 (id int PRIMARY KEY)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO lsm_vac_trunc2 SELECT generate_series(1, 1000);
DELETE FROM lsm_vac_trunc2;
VACUUM (INDEX_CLEANUP off) lsm_vac_trunc2;
VACUUM lsm_vac_trunc2;
SELECT pg_relation_size('lsm_vac_trunc2') = 0 AS truncated;
INSERT INTO lsm_vac_trunc2 SELECT generate_series(1, 10);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM lsm_vac_trunc2 WHERE id > 0;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT lsm_check('lsm_vac_trunc2');
DROP TABLE lsm_vac_trunc2;

--
-- VACUUM (PARALLEL 2) on a table with three indexes.
--
CREATE TABLE lsm_vac_par (id int PRIMARY KEY, a int, b text)
  USING lsm WITH (autovacuum_enabled = off);
CREATE INDEX lsm_vac_par_a ON lsm_vac_par (a);
CREATE INDEX lsm_vac_par_b ON lsm_vac_par USING hash (b);
INSERT INTO lsm_vac_par SELECT g, g % 50, 'b' || (g % 300) FROM generate_series(1, 5000) g;
DELETE FROM lsm_vac_par WHERE id % 4 = 0;
UPDATE lsm_vac_par SET a = a + 1000 WHERE id % 4 = 1;
SET min_parallel_index_scan_size = 0;
SET max_parallel_maintenance_workers = 2;
VACUUM (PARALLEL 2) lsm_vac_par;
VACUUM (PARALLEL 2, FREEZE, ANALYZE) lsm_vac_par;
RESET min_parallel_index_scan_size;
RESET max_parallel_maintenance_workers;
SELECT versions, dead_versions FROM lsm_info('lsm_vac_par');
SET enable_seqscan = off;
SELECT count(*), sum(id) FROM lsm_vac_par WHERE a >= 1000;
SELECT count(*), sum(id) FROM lsm_vac_par WHERE b = 'b7';
SELECT count(*), sum(id) FROM lsm_vac_par WHERE id BETWEEN 1 AND 5000;
RESET enable_seqscan;
SELECT count(*), sum(id) FROM lsm_vac_par;
SELECT lsm_check('lsm_vac_par');
DROP TABLE lsm_vac_par;

--
-- Autovacuum-related reloptions are accepted on lsm tables.
--
CREATE TABLE lsm_vac_opts (a int, t text) USING lsm
  WITH (autovacuum_enabled = true, autovacuum_vacuum_threshold = 100,
        autovacuum_vacuum_scale_factor = 0.05,
        autovacuum_vacuum_insert_threshold = 1000,
        autovacuum_analyze_scale_factor = 0.02,
        autovacuum_freeze_min_age = 1000000,
        autovacuum_vacuum_cost_delay = 5,
        toast.autovacuum_enabled = false);
ALTER TABLE lsm_vac_opts SET (autovacuum_enabled = false,
  autovacuum_multixact_freeze_max_age = 200000000, log_autovacuum_min_duration = -1,
  fillfactor = 80);
SELECT unnest(reloptions) AS option FROM pg_class WHERE relname = 'lsm_vac_opts' ORDER BY 1;
ALTER TABLE lsm_vac_opts RESET (autovacuum_vacuum_threshold, fillfactor);
SELECT unnest(reloptions) AS option FROM pg_class WHERE relname = 'lsm_vac_opts' ORDER BY 1;
ALTER TABLE lsm_vac_opts SET (autovacuum_vacuum_scale_factor = -1);
INSERT INTO lsm_vac_opts SELECT g, 't' FROM generate_series(1, 10) g;
VACUUM lsm_vac_opts;
SELECT count(*) FROM lsm_vac_opts;
DROP TABLE lsm_vac_opts;

-- VACUUM of a table that was never written, and of a temporary table.
CREATE TABLE lsm_vac_empty (a int) USING lsm;
VACUUM lsm_vac_empty;
VACUUM (FREEZE, ANALYZE) lsm_vac_empty;
SELECT pg_relation_size('lsm_vac_empty') AS size, count(*) FROM lsm_vac_empty;
DROP TABLE lsm_vac_empty;
CREATE TEMP TABLE lsm_vac_temp (a int PRIMARY KEY, b text) USING lsm;
INSERT INTO lsm_vac_temp SELECT g, 'b' FROM generate_series(1, 1000) g;
DELETE FROM lsm_vac_temp WHERE a % 2 = 0;
VACUUM lsm_vac_temp;
SELECT versions, dead_versions FROM lsm_info('lsm_vac_temp');
SET enable_seqscan = off;
SELECT count(*) FROM lsm_vac_temp WHERE a < 100;
RESET enable_seqscan;
SELECT lsm_check('lsm_vac_temp');
DROP TABLE lsm_vac_temp;

-- A table emptied and truncated to zero blocks by VACUUM starts over: a new
-- manifest, run ids from 1.  The backend's cached view of the runs (used by
-- VACUUM and index fetches) must forget the old runs: until 2026-12-06 it
-- kept listing them while the table had no manifest, and the next VACUUM
-- failed with "Run 2 refers to block ... beyond the end of the relation".
CREATE TABLE lsm_vac_restart (id int PRIMARY KEY, v int) USING lsm
	WITH (autovacuum_enabled = off);
INSERT INTO lsm_vac_restart SELECT g, g FROM generate_series(1, 5000) g;
SELECT lsm_compact('lsm_vac_restart') IS NOT NULL AS compacted;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT v FROM lsm_vac_restart WHERE id = 42;
RESET enable_seqscan;
RESET enable_bitmapscan;
DELETE FROM lsm_vac_restart;
VACUUM lsm_vac_restart;
VACUUM lsm_vac_restart;
VACUUM lsm_vac_restart;
INSERT INTO lsm_vac_restart SELECT g, g FROM generate_series(1, 300) g;
DELETE FROM lsm_vac_restart;
VACUUM lsm_vac_restart;
SELECT pg_relation_size('lsm_vac_restart') AS bytes, runs
  FROM lsm_info('lsm_vac_restart');
INSERT INTO lsm_vac_restart SELECT g, g FROM generate_series(1, 300) g;
DELETE FROM lsm_vac_restart;
VACUUM lsm_vac_restart;
SELECT pg_relation_size('lsm_vac_restart') AS bytes, runs
  FROM lsm_info('lsm_vac_restart');
-- and once it has runs again
INSERT INTO lsm_vac_restart SELECT g, g FROM generate_series(1, 3000) g;
SELECT lsm_compact('lsm_vac_restart') IS NOT NULL AS compacted;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT v FROM lsm_vac_restart WHERE id = 42;
RESET enable_seqscan;
RESET enable_bitmapscan;
DELETE FROM lsm_vac_restart WHERE id % 2 = 0;
VACUUM lsm_vac_restart;
SELECT count(*), sum(v) FROM lsm_vac_restart;
SELECT lsm_check('lsm_vac_restart');
DROP TABLE lsm_vac_restart;

DROP FUNCTION lsm_vacuum_heap_fetches(text);

-- reltuples after a VACUUM that flushes the memtable: the versions the
-- flush moves into a run are counted once (until 2026-12-07 twice)
CREATE TABLE lsm_vac_count (id int PRIMARY KEY, pad text) USING lsm
  WITH (autovacuum_enabled = off);
SET lsm.memtable_flush_pages = 100000;
INSERT INTO lsm_vac_count SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
RESET lsm.memtable_flush_pages;
DELETE FROM lsm_vac_count WHERE id > 10000;
SELECT runs FROM lsm_info('lsm_vac_count');
VACUUM lsm_vac_count;
SELECT runs FROM lsm_info('lsm_vac_count');
SELECT reltuples FROM pg_class WHERE relname = 'lsm_vac_count';
VACUUM lsm_vac_count;
SELECT reltuples FROM pg_class WHERE relname = 'lsm_vac_count';
DROP TABLE lsm_vac_count;

-- reltuples after changes to rows that live in runs: a copy of such a row
-- on an overlay page (made to delete, update or lock it), or the tombstone
-- VACUUM leaves where it removes the copy, hides the run's version, which
-- is not counted (until 2026-12-07 it was: a DELETE of every row left the
-- run's count, a lock of every row doubled it)
CREATE FUNCTION lsm_vac_counts(t regclass, OUT reltuples real, OUT rows bigint)
LANGUAGE plpgsql AS $$
BEGIN
  SELECT c.reltuples INTO reltuples FROM pg_class c WHERE c.oid = t;
  EXECUTE format('SELECT count(*) FROM %s', t) INTO rows;
END $$;
CREATE TABLE lsm_vac_hide (id int, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO lsm_vac_hide SELECT g, repeat('x', 20) FROM generate_series(1, 10000) g;
SELECT runs FROM lsm_compact('lsm_vac_hide', true);
CREATE TABLE lsm_vac_lock (LIKE lsm_vac_hide) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO lsm_vac_lock SELECT * FROM lsm_vac_hide;
SELECT runs FROM lsm_compact('lsm_vac_lock', true);
-- small memtables, which VACUUM does not flush
DELETE FROM lsm_vac_hide;
SELECT count(*) FROM (SELECT 1 FROM lsm_vac_lock FOR UPDATE) s;
VACUUM lsm_vac_hide, lsm_vac_lock;
SELECT memtable_pages > 0 AS overlay_left FROM lsm_info('lsm_vac_hide');
SELECT * FROM lsm_vac_counts('lsm_vac_hide');
SELECT * FROM lsm_vac_counts('lsm_vac_lock');
-- sparse deletions: the copies go to shared overlay pages
DELETE FROM lsm_vac_lock WHERE id % 500 = 7;
VACUUM lsm_vac_lock;
SELECT * FROM lsm_vac_counts('lsm_vac_lock');
-- a memtable that VACUUM flushes: the tombstones of the overlay pages it
-- frees hide the versions in the new run instead
CREATE TABLE lsm_vac_flushhide (id int PRIMARY KEY, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO lsm_vac_flushhide SELECT g, repeat('x', 100) FROM generate_series(1, 30000) g;
SELECT runs FROM lsm_compact('lsm_vac_flushhide', true);
DELETE FROM lsm_vac_flushhide WHERE id % 10 < 3;
SELECT memtable_pages >= current_setting('lsm.vacuum_flush_min_pages')::int AS flushes
  FROM lsm_info('lsm_vac_flushhide');
VACUUM lsm_vac_flushhide;
SELECT * FROM lsm_vac_counts('lsm_vac_flushhide');
SELECT relname, reltuples FROM pg_class WHERE relname = 'lsm_vac_flushhide_pkey';
-- dead entries that a writer's flush made, left in their runs (no merge
-- of all runs): one over a run's version hides it, one whose row never
-- reached a run hides nothing, and the tombstone VACUUM publishes over
-- either hides nothing more (until 2026-12-07 each was subtracted)
CREATE TABLE lsm_vac_deadent (id int PRIMARY KEY, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO lsm_vac_deadent SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
SELECT runs FROM lsm_compact('lsm_vac_deadent', true);
DELETE FROM lsm_vac_deadent WHERE id % 20 = 0;
INSERT INTO lsm_vac_deadent SELECT g, repeat('x', 100) FROM generate_series(20001, 21000) g;
DELETE FROM lsm_vac_deadent WHERE id > 20500;
SELECT runs FROM lsm_compact('lsm_vac_deadent');
SELECT sum(tombstones) > 0 AS dead_entries FROM lsm_runs('lsm_vac_deadent');
SET lsm.vacuum_merge_tombstone_pct = 0;
VACUUM lsm_vac_deadent;
SELECT * FROM lsm_vac_counts('lsm_vac_deadent');
VACUUM lsm_vac_deadent;
SELECT runs FROM lsm_info('lsm_vac_deadent');
SELECT * FROM lsm_vac_counts('lsm_vac_deadent');
RESET lsm.vacuum_merge_tombstone_pct;
DROP TABLE lsm_vac_hide, lsm_vac_lock, lsm_vac_flushhide, lsm_vac_deadent;
DROP FUNCTION lsm_vac_counts(regclass);
