--
-- Opportunistic pruning of memtable pages (lsm_prune.c): readers remove
-- versions dead to every snapshot from pages that take no more insertions,
-- as heap's page pruning does.  Runs alone in its group: a concurrent
-- snapshot would hold the horizon back.
--
CREATE PROCEDURE lsm_prune_update(tbl regclass, n int)
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. n LOOP
		EXECUTE format('UPDATE %s SET v = v + 1', tbl);
		COMMIT;
	END LOOP;
END $$;

-- A small table updated often, with an index (pgbench's branches).
CREATE TABLE lsm_prune_hot (id int PRIMARY KEY, v int, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO lsm_prune_hot VALUES (1, 0, repeat('x', 200)), (2, 0, repeat('y', 200));
CALL lsm_prune_update('lsm_prune_hot', 300);
-- the updates' own scans pruned the pages they had filled, and freed them
-- (dead blocks: their index entries wait for VACUUM)
SELECT count(*), sum(v) FROM lsm_prune_hot;
SELECT memtable_pages <= 3 AS few_pages, dead_blocks > 10 AS dead_blocks,
       versions < 100 AS pruned, versions >= 2 AS live_kept
  FROM lsm_info('lsm_prune_hot');
SET enable_seqscan = off;
SELECT id, v FROM lsm_prune_hot WHERE id = 2;
RESET enable_seqscan;
SELECT lsm_check('lsm_prune_hot');
-- pages left without versions are sealed, and scans skip their blocks
-- without reading them; new rows go elsewhere and are found
INSERT INTO lsm_prune_hot VALUES (3, 0, 'z');
UPDATE lsm_prune_hot SET v = v + 1 WHERE id = 1;
SELECT id, v FROM lsm_prune_hot ORDER BY id;
SELECT count(*) FROM lsm_prune_hot;
-- VACUUM deletes the index entries of the pruned versions and frees the
-- pages left empty
VACUUM lsm_prune_hot;
SELECT memtable_pages <= 3 AS pages_freed, versions, dead_blocks
  FROM lsm_info('lsm_prune_hot');
SELECT reltuples FROM pg_class WHERE relname = 'lsm_prune_hot_pkey';
SELECT id, v FROM lsm_prune_hot ORDER BY id;
SELECT lsm_check('lsm_prune_hot');
DROP TABLE lsm_prune_hot;

-- Dead blocks (lsm_free_dead_page): pages that pruning leaves without a
-- version are freed at once, while index entries still lead to their TIDs.
CREATE TABLE lsm_prune_dead (id int PRIMARY KEY, v int, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO lsm_prune_dead SELECT g, 0, repeat('x', 100) FROM generate_series(1, 200) g;
UPDATE lsm_prune_dead SET v = v + 1;
UPDATE lsm_prune_dead SET v = v + 1;
UPDATE lsm_prune_dead SET v = v + 1;
-- this scan prunes the full pages and frees them when it ends
SELECT count(*), sum(v) FROM lsm_prune_dead;
SELECT memtable_pages, dead_blocks, logical_blocks FROM lsm_info('lsm_prune_dead');
-- their blocks are not all-visible: an index-only scan checks the table
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(id) FROM lsm_prune_dead WHERE id > 0;
SELECT count(id), min(id), max(id) FROM lsm_prune_dead WHERE id > 0;
-- not after a flush and merge either (lsm_vm_set_run_blocks)
SELECT lsm_compact('lsm_prune_dead', true) IS NOT NULL AS compacted;
SELECT count(id), min(id), max(id) FROM lsm_prune_dead WHERE id > 0;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT lsm_check('lsm_prune_dead');
-- VACUUM without index cleanup keeps them; with it, clears them
VACUUM (INDEX_CLEANUP off) lsm_prune_dead;
SELECT dead_blocks FROM lsm_info('lsm_prune_dead');
VACUUM lsm_prune_dead;
SELECT dead_blocks FROM lsm_info('lsm_prune_dead');
-- the index's row count includes the rows in runs (it was the memtable's)
SELECT reltuples FROM pg_class WHERE relname = 'lsm_prune_dead_pkey';
SELECT lsm_check('lsm_prune_dead');
DROP TABLE lsm_prune_dead;
-- every row deleted: the table is not truncated to zero blocks (row ids
-- would start over) while a dead block is left
CREATE TABLE lsm_prune_dead (id int PRIMARY KEY, v int, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO lsm_prune_dead SELECT g, 0, repeat('x', 100) FROM generate_series(1, 200) g;
DELETE FROM lsm_prune_dead;
SELECT count(*) FROM lsm_prune_dead;
SELECT dead_blocks, logical_blocks FROM lsm_info('lsm_prune_dead');
VACUUM (INDEX_CLEANUP off) lsm_prune_dead;
SELECT dead_blocks, logical_blocks FROM lsm_info('lsm_prune_dead');
VACUUM lsm_prune_dead;
SELECT dead_blocks, logical_blocks, total_pages FROM lsm_info('lsm_prune_dead');
INSERT INTO lsm_prune_dead VALUES (1, 1, 'a');
SELECT ctid, * FROM lsm_prune_dead;
SELECT lsm_check('lsm_prune_dead');
DROP TABLE lsm_prune_dead;

-- Without indexes VACUUM makes the pruned items unused at once, so that the
-- page can be flushed into a run afterwards.
-- Row 1 stays on the first page, next to pruned versions of row 2.
CREATE TABLE lsm_prune_noidx (id int, v int, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO lsm_prune_noidx VALUES (1, 0, repeat('x', 200)), (2, 0, repeat('y', 200));
CREATE PROCEDURE lsm_prune_update_two(n int)
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. n LOOP
		UPDATE lsm_prune_noidx SET v = v + 1 WHERE id = 2;
		COMMIT;
	END LOOP;
END $$;
CALL lsm_prune_update_two(200);
SELECT count(*), sum(v) FROM lsm_prune_noidx;
SELECT versions < 60 AS pruned FROM lsm_info('lsm_prune_noidx');
VACUUM lsm_prune_noidx;
SELECT versions FROM lsm_info('lsm_prune_noidx');
SELECT lsm_compact('lsm_prune_noidx', true) IS NOT NULL AS compacted;
SELECT memtable_pages, run_entries FROM lsm_info('lsm_prune_noidx');
SELECT id, v FROM lsm_prune_noidx ORDER BY id;
SELECT lsm_check('lsm_prune_noidx');
DROP TABLE lsm_prune_noidx;

-- Rows that live in runs: a change copies the row to an overlay page of
-- its block; pruning the old copy there must keep hiding the run's copy.
CREATE TABLE lsm_prune_runs (id int PRIMARY KEY, v int) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO lsm_prune_runs SELECT g, 0 FROM generate_series(1, 2000) g;
SELECT lsm_compact('lsm_prune_runs', true) IS NOT NULL AS compacted;
CREATE PROCEDURE lsm_prune_update_some(n int)
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. n LOOP
		UPDATE lsm_prune_runs SET v = v + 1 WHERE id IN (1, 5, 9);
		COMMIT;
	END LOOP;
END $$;
CALL lsm_prune_update_some(100);
SELECT count(*), sum(v), count(DISTINCT id) FROM lsm_prune_runs;
-- that scan pruned what the index scans of the updates did not visit
SELECT versions < 2100 AS pruned FROM lsm_info('lsm_prune_runs');
SELECT count(*), sum(v), count(DISTINCT id) FROM lsm_prune_runs;
SELECT id, v FROM lsm_prune_runs WHERE id < 10 ORDER BY id;
SET enable_seqscan = off;
SELECT id, v FROM lsm_prune_runs WHERE id IN (1, 2, 5) ORDER BY id;
RESET enable_seqscan;
SELECT lsm_check('lsm_prune_runs');
VACUUM lsm_prune_runs;
SELECT count(*), sum(v) FROM lsm_prune_runs;
SELECT lsm_compact('lsm_prune_runs', true) IS NOT NULL AS compacted;
SELECT count(*), sum(v) FROM lsm_prune_runs;
SELECT lsm_check('lsm_prune_runs');
DROP TABLE lsm_prune_runs;

-- Two rows updated a few thousand times leave as many logical blocks
-- behind with nothing in them; VACUUM lets sequential scans start beyond
-- them (meta->empty_below).  Every kind of scan still finds both rows,
-- before and after, also a backward cursor, a TID range scan and a
-- parallel scan, and rows inserted, updated and loaded after the VACUUM.
CREATE TABLE lsm_prune_hot (id int, v int) USING lsm
	WITH (autovacuum_enabled = off);
INSERT INTO lsm_prune_hot VALUES (1, 0), (2, 0);
CREATE PROCEDURE lsm_prune_update_hot(n int)
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. n LOOP
		UPDATE lsm_prune_hot SET v = v + 1 WHERE id = 1 + i % 2;
		COMMIT;
	END LOOP;
END $$;
CALL lsm_prune_update_hot(3000);
SELECT logical_blocks > 10 AS many_blocks, empty_below
  FROM lsm_info('lsm_prune_hot');
SELECT id, v FROM lsm_prune_hot ORDER BY id;
VACUUM lsm_prune_hot;
-- scans start at the block of the page the rows are on now
SELECT empty_below > 10 AS scans_start_later,
	   empty_below = (SELECT min((ctid::text::point)[0]) FROM lsm_prune_hot)
	     AS at_the_rows
  FROM lsm_info('lsm_prune_hot');
SELECT id, v FROM lsm_prune_hot ORDER BY id;
SELECT lsm_check('lsm_prune_hot');
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT id, v FROM lsm_prune_hot;
FETCH ALL FROM c;
FETCH BACKWARD ALL FROM c;
COMMIT;
SELECT id, v FROM lsm_prune_hot
 WHERE ctid >= '(0,1)' AND ctid < '(4294967295,1)' ORDER BY id;
CALL lsm_prune_update_hot(200);
INSERT INTO lsm_prune_hot VALUES (3, 0);
COPY lsm_prune_hot FROM STDIN;
4	0
\.
SELECT id, v FROM lsm_prune_hot ORDER BY id;
VACUUM lsm_prune_hot;
SELECT id, v FROM lsm_prune_hot ORDER BY id;
SELECT lsm_check('lsm_prune_hot');
-- a parallel scan, over enough rows for the planner to choose one
INSERT INTO lsm_prune_hot SELECT g, 1 FROM generate_series(10, 5009) g;
ANALYZE lsm_prune_hot;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT count(*), sum(v) FROM lsm_prune_hot;
SELECT count(*), sum(v) FROM lsm_prune_hot;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT count(*), sum(v) FROM lsm_prune_hot;
-- the mark only grows while nothing is below it
SELECT empty_below > 10 AS scans_start_later FROM lsm_info('lsm_prune_hot');
DROP TABLE lsm_prune_hot;
DROP PROCEDURE lsm_prune_update_hot(int);

DROP PROCEDURE lsm_prune_update_some(int);
DROP PROCEDURE lsm_prune_update_two(int);
DROP PROCEDURE lsm_prune_update(regclass, int);
