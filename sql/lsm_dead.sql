--
-- Dead entries: a flush takes versions dead to every snapshot (and LP_DEAD
-- items) into its run as dead entries, so that their memtable pages are
-- freed without waiting for VACUUM; VACUUM later deletes their index
-- entries and a merge forgets them.
--
-- Versions become dead entries only once no snapshot can see them: before
-- flushes that expect it, wait until no other backend of this database (an
-- autovacuum worker analyzing a catalog) holds back the horizon.
CREATE PROCEDURE dead_wait_horizon() LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. 1200 LOOP
		PERFORM pg_stat_clear_snapshot();
		EXIT WHEN NOT EXISTS (SELECT FROM pg_stat_activity
							   WHERE datname = current_database()
								 AND pid <> pg_backend_pid()
								 AND (backend_xmin IS NOT NULL OR
									  backend_xid IS NOT NULL));
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;

CREATE TABLE dead_t (id int PRIMARY KEY, v int, pad text) USING lsm
  WITH (autovacuum_enabled = off);
CREATE INDEX dead_t_v ON dead_t (v);
INSERT INTO dead_t SELECT g, g % 100, repeat('p', 30)
  FROM generate_series(1, 20000) g;
SELECT lsm_compact('dead_t', true) IS NOT NULL AS compacted;

-- deletions of rows in the run: copies on overlay pages, then a flush
-- takes them as dead entries and frees every page but the one taking
-- insertions
DELETE FROM dead_t WHERE id % 10 = 0;
SELECT memtable_pages > 1 AS has_memtable FROM lsm_info('dead_t');
CALL dead_wait_horizon();
SELECT lsm_compact('dead_t') IS NOT NULL AS compacted;
SELECT memtable_pages, dead_versions FROM lsm_info('dead_t');

-- the same for the old versions of updated rows
UPDATE dead_t SET v = v + 1000 WHERE id % 10 = 5;
CALL dead_wait_horizon();
SELECT lsm_compact('dead_t') IS NOT NULL AS compacted;
SELECT memtable_pages, versions, live_versions, dead_versions
  FROM lsm_info('dead_t');
SELECT level, versions, tombstones FROM lsm_runs('dead_t') ORDER BY run_id;
SELECT lsm_check('dead_t');

-- every access path agrees: the dead TIDs are gone
SELECT count(*), sum(v), count(DISTINCT id) FROM dead_t;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM dead_t WHERE id BETWEEN 1 AND 100;
SELECT count(*), sum(v) FROM dead_t WHERE v IN (11, 15, 1015);	-- index
SELECT count(id) FROM dead_t WHERE id > 0;			-- index-only
SELECT count(id) FROM dead_t WHERE id % 10 = 0 AND id > 0;
SET enable_indexscan = off;
SET enable_bitmapscan = on;
SELECT count(*), sum(v) FROM dead_t WHERE v IN (11, 15, 1015);	-- bitmap
RESET enable_indexscan;
RESET enable_bitmapscan;
RESET enable_seqscan;
SELECT * FROM dead_t WHERE id = 10;
SELECT id, v FROM dead_t WHERE ctid = (SELECT ctid FROM dead_t WHERE id = 9);
-- the key of a deleted row can be used again
INSERT INTO dead_t VALUES (10, 10, 'again');
SELECT id, v, pad FROM dead_t WHERE id = 10;
DELETE FROM dead_t WHERE id = 10;

-- a full merge keeps them: index entries still lead there
SELECT lsm_compact('dead_t', true) IS NOT NULL AS compacted;
SELECT runs, dead_versions FROM lsm_info('dead_t');
SELECT count(*), sum(v) FROM dead_t;

-- VACUUM deletes their index entries and a merge forgets them
VACUUM dead_t;
SELECT runs, versions, dead_versions FROM lsm_info('dead_t');
SELECT count(*), sum(v), count(DISTINCT id) FROM dead_t;
SET enable_seqscan = off;
SELECT count(id) FROM dead_t WHERE id > 0;
SELECT count(*), sum(v) FROM dead_t WHERE v IN (11, 15, 1015);
RESET enable_seqscan;
SELECT lsm_check('dead_t');

-- aborted insertions become dead entries too (their index entries exist)
BEGIN;
INSERT INTO dead_t SELECT g, -1, 'aborted' FROM generate_series(30001, 31000) g;
ROLLBACK;
INSERT INTO dead_t VALUES (40000, -2, 'last');	-- takes the insertion page
CALL dead_wait_horizon();
SELECT lsm_compact('dead_t') IS NOT NULL AS compacted;
SELECT dead_versions > 0 AS aborted_are_dead FROM lsm_info('dead_t');
SELECT count(*) FROM dead_t WHERE v < 0;
SET enable_seqscan = off;
SELECT count(*) FROM dead_t WHERE id BETWEEN 30001 AND 31000;
RESET enable_seqscan;
VACUUM dead_t;
SELECT dead_versions FROM lsm_info('dead_t');
SELECT count(*), sum(v) FROM dead_t;
SELECT lsm_check('dead_t');
DROP TABLE dead_t;

-- a few dead entries in a large run: VACUUM hides them with a small run of
-- tombstones instead of rewriting the large run
CREATE TABLE dead_big (id int PRIMARY KEY, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO dead_big SELECT g, repeat('b', 40) FROM generate_series(1, 50000) g;
SELECT lsm_compact('dead_big', true) IS NOT NULL AS compacted;
DELETE FROM dead_big WHERE id % 5000 = 0;
CALL dead_wait_horizon();
SELECT lsm_compact('dead_big', true) IS NOT NULL AS compacted;
SELECT run_id AS big_run FROM lsm_runs('dead_big') \gset
SELECT count(*) AS runs, sum(tombstones) AS tombstones FROM lsm_runs('dead_big');
VACUUM dead_big;
SELECT run_id = :big_run AS same_run, versions, tombstones
  FROM lsm_runs('dead_big') ORDER BY run_id;
SELECT dead_versions FROM lsm_info('dead_big');
SET enable_seqscan = off;
SELECT count(id) FROM dead_big WHERE id > 0;
RESET enable_seqscan;
SELECT count(*) FROM dead_big;
VACUUM dead_big;				-- nothing left to clean: no new run
SELECT count(*) AS runs FROM lsm_runs('dead_big');
SELECT lsm_compact('dead_big', true) IS NOT NULL AS compacted;
SELECT count(*) AS runs, sum(versions) AS versions, sum(tombstones) AS tombstones
  FROM lsm_runs('dead_big');
SELECT lsm_check('dead_big');
DROP TABLE dead_big;

-- without indexes VACUUM forgets them at once
CREATE TABLE dead_noidx (id int, v int) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO dead_noidx SELECT g, g FROM generate_series(1, 5000) g;
SELECT lsm_compact('dead_noidx', true) IS NOT NULL AS compacted;
DELETE FROM dead_noidx WHERE id <= 2500;
CALL dead_wait_horizon();
SELECT lsm_compact('dead_noidx') IS NOT NULL AS compacted;
SELECT dead_versions FROM lsm_info('dead_noidx');
VACUUM dead_noidx;
SELECT runs, dead_versions FROM lsm_info('dead_noidx');
SELECT count(*), sum(v) FROM dead_noidx;
SELECT lsm_check('dead_noidx');
DROP TABLE dead_noidx;

-- VACUUM with INDEX_CLEANUP off leaves them for a later VACUUM
CREATE TABLE dead_keep (id int PRIMARY KEY) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO dead_keep SELECT generate_series(1, 3000);
SELECT lsm_compact('dead_keep', true) IS NOT NULL AS compacted;
DELETE FROM dead_keep WHERE id % 3 = 0;
CALL dead_wait_horizon();
SELECT lsm_compact('dead_keep') IS NOT NULL AS compacted;
VACUUM (INDEX_CLEANUP off) dead_keep;
SELECT dead_versions FROM lsm_info('dead_keep');
VACUUM dead_keep;
SELECT dead_versions FROM lsm_info('dead_keep');
SELECT count(*) FROM dead_keep;
SELECT lsm_check('dead_keep');
DROP TABLE dead_keep;

-- unlogged and temporary tables too (their pages have no LSN; see
-- lsm_page_token)
CREATE UNLOGGED TABLE dead_unlog (id int PRIMARY KEY, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO dead_unlog SELECT g, repeat('u', 100) FROM generate_series(1, 20000) g;
SELECT lsm_compact('dead_unlog') IS NOT NULL AS compacted;
DELETE FROM dead_unlog WHERE id % 2 = 0;
CALL dead_wait_horizon();
SELECT lsm_compact('dead_unlog') IS NOT NULL AS compacted;
SELECT memtable_pages <= 2 AS flushed_pages, dead_versions FROM lsm_info('dead_unlog');
SELECT count(*), sum(id) FROM dead_unlog;
VACUUM dead_unlog;
SELECT dead_versions FROM lsm_info('dead_unlog');
SELECT lsm_check('dead_unlog');
DROP TABLE dead_unlog;
CREATE TEMP TABLE dead_temp (id int, pad text) USING lsm;
INSERT INTO dead_temp SELECT g, repeat('t', 100) FROM generate_series(1, 20000) g;
SELECT lsm_compact('dead_temp') IS NOT NULL AS compacted;
UPDATE dead_temp SET id = -id WHERE id <= 5000;
CALL dead_wait_horizon();
SELECT lsm_compact('dead_temp') IS NOT NULL AS compacted;
SELECT memtable_pages <= 2 AS flushed_pages, dead_versions FROM lsm_info('dead_temp');
SELECT count(*), sum(id), count(*) FILTER (WHERE id < 0) FROM dead_temp;
SELECT lsm_check('dead_temp');
DROP TABLE dead_temp;
DROP PROCEDURE dead_wait_horizon();
