--
-- Changing rows that live in runs: the copies of the versions changed share
-- overlay pages instead of taking a page per logical block
-- (doc/lsm-design.md, "Shared overlay pages").  The pages are counted, so
-- writers do not flush them here (lsm.memtable_flush_overlay_pages).
--
SET lsm.memtable_flush_overlay_pages = 0;
CREATE TABLE ov_t (id int PRIMARY KEY, v int, pad text)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO ov_t SELECT g, 0, repeat('x', 60) FROM generate_series(1, 20000) g;
SELECT runs FROM lsm_compact('ov_t', true);
SELECT memtable_pages FROM lsm_info('ov_t');

-- one row in each of 100 logical blocks: a few shared pages, not 100 pages
UPDATE ov_t SET v = 1 WHERE id % 200 = 1;
SELECT memtable_pages < 10 AS few_pages FROM lsm_info('ov_t');
SELECT count(*), sum(v) FROM ov_t;
SELECT lsm_check('ov_t');
-- the same rows through an index scan, a bitmap scan and a TID scan
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(v) FROM ov_t WHERE id BETWEEN 1 AND 2001 AND v >= 0;
RESET enable_bitmapscan;
SET enable_indexscan = off;
SELECT count(*), sum(v) FROM ov_t WHERE id BETWEEN 1 AND 2001;
RESET enable_indexscan;
RESET enable_seqscan;
SELECT id, v FROM ov_t WHERE ctid = (SELECT ctid FROM ov_t WHERE id = 201);

-- more rows of the same blocks: their copies go to their block's page until
-- they take 1 kB there (or the page is full), then the block moves to a
-- page of its own
UPDATE ov_t SET v = 2 WHERE id % 200 BETWEEN 2 AND 30;
SELECT count(*) FILTER (WHERE v = 2) AS twos, sum(v) FROM ov_t;
SELECT lsm_check('ov_t');
SET enable_seqscan = off;
SELECT count(*), sum(v) FROM ov_t WHERE id BETWEEN 1 AND 4000;
RESET enable_seqscan;
-- and once more: rows whose copies moved are changed where they are now
UPDATE ov_t SET v = v + 10 WHERE id % 200 IN (1, 2, 30);
SELECT count(*) FILTER (WHERE v > 10) AS changed, sum(v) FROM ov_t;

-- row locks, deletes that roll back, deletes
SELECT count(*) FROM (SELECT 1 FROM ov_t WHERE id % 200 = 31 FOR KEY SHARE) s;
BEGIN;
DELETE FROM ov_t WHERE id % 200 = 32;
ROLLBACK;
DELETE FROM ov_t WHERE id % 200 = 33;
SELECT count(*), sum(v) FROM ov_t;
SELECT lsm_check('ov_t');

-- VACUUM leaves tombstones where copies of deleted rows were; a flush (here
-- VACUUM's own) writes the shared pages into a run and frees them
VACUUM ov_t;
SELECT lsm_check('ov_t');
SELECT count(*), sum(v) FROM ov_t;
SELECT runs > 0 AS has_runs FROM lsm_compact('ov_t');
SELECT memtable_pages <= 2 AS memtable_flushed FROM lsm_info('ov_t');
SELECT count(*), sum(v) FROM ov_t;
SET enable_seqscan = off;
SELECT count(*) FROM ov_t WHERE id IN (33, 233, 433, 34);
RESET enable_seqscan;
SELECT lsm_check('ov_t');
SELECT runs FROM lsm_compact('ov_t', true);
SELECT count(*), sum(v) FROM ov_t;
DROP TABLE ov_t;

-- the widest rows a run takes: their copies go to a shared page as well
CREATE TABLE ov_wide (id int, t text) USING lsm WITH (autovacuum_enabled = off);
ALTER TABLE ov_wide ALTER COLUMN t SET STORAGE PLAIN;
INSERT INTO ov_wide VALUES (1, repeat('w', 8070)), (2, 'small');
INSERT INTO ov_wide SELECT g, repeat('m', 500) FROM generate_series(100, 130) g;
SELECT runs FROM lsm_compact('ov_wide', true);
SELECT sum(versions) FROM lsm_runs('ov_wide');
UPDATE ov_wide SET id = 10 WHERE id = 1;
UPDATE ov_wide SET id = 20 WHERE id = 2;
SELECT id, length(t) FROM ov_wide WHERE id < 100 ORDER BY id;
SELECT lsm_check('ov_wide');
-- a row too wide for a run stays on its memtable page: flushes and
-- compactions leave that page alone (they used to fail)
INSERT INTO ov_wide VALUES (3, repeat('v', 8118));
INSERT INTO ov_wide SELECT g, repeat('n', 500) FROM generate_series(200, 230) g;
SELECT runs FROM lsm_compact('ov_wide', true);
SELECT sum(versions) FROM lsm_runs('ov_wide');
VACUUM ov_wide;
SELECT id, length(t) FROM ov_wide WHERE id < 100 ORDER BY id;
SELECT lsm_check('ov_wide');
DROP TABLE ov_wide;

-- a bulk change in TID order: once a block has taken more than 1 kB of
-- copies (and moved to a page of its own), the next blocks this statement
-- changes get a page of their own at once, instead of putting their first
-- copies on a shared page and moving them off again; the chain stops at
-- the first block changed only a little, and scattered changes still share
CREATE TABLE ov_bulk (id int, v int) USING lsm WITH (autovacuum_enabled = off);
INSERT INTO ov_bulk SELECT g, g FROM generate_series(1, 40000) g;
SELECT runs FROM lsm_compact('ov_bulk', true);
CREATE TEMP TABLE ov_bulk_blocks AS
  SELECT (ctid::text::point)[0]::int AS blk, min(id) AS first_id,
         count(*) FILTER (WHERE id % 2 = 0 AND id <= 10000) AS dense1,
         count(*) FILTER (WHERE id % 2 = 0 AND id > 10000 AND id <= 20000) AS dense2
  FROM ov_bulk GROUP BY 1;
SELECT count(*) FILTER (WHERE dense1 > 0) > 20 AS dense1_blocks,
       count(*) FILTER (WHERE dense2 > 0) > 20 AS dense2_blocks,
       count(*) FILTER (WHERE id > 20000) > 50 AS sparse_blocks
  FROM ov_bulk_blocks, LATERAL (SELECT first_id AS id) f;
BEGIN;
DELETE FROM ov_bulk WHERE id % 2 = 0;
ROLLBACK;
SELECT count(*), sum(v) FROM ov_bulk;
-- (the rolled-back DELETE gave every block a page of its own)
SELECT memtable_pages - 1 = (SELECT count(*) FROM ov_bulk_blocks) AS own_pages
  FROM lsm_info('ov_bulk');
SELECT runs FROM lsm_compact('ov_bulk', true);
SELECT memtable_pages AS pages_before FROM lsm_info('ov_bulk') \gset
DELETE FROM ov_bulk WHERE id % 2 = 0 AND id <= 10000;
-- a page per changed block, and the shared page that took the first
-- block's first copies (before: about 1 kB of shared page per block)
SELECT memtable_pages - :pages_before -
       (SELECT count(*) FROM ov_bulk_blocks WHERE dense1 > 0) AS pages_beyond
  FROM lsm_info('ov_bulk');
-- a later statement starts no chain from the last one's pages: the row lock
-- copies the first row of the next block to the shared page
SELECT memtable_pages AS pages_before FROM lsm_info('ov_bulk') \gset
SELECT id FROM ov_bulk
  WHERE id = (SELECT min(first_id) FROM ov_bulk_blocks WHERE first_id > 10001)
  FOR UPDATE;
SELECT memtable_pages - :pages_before AS new_pages FROM lsm_info('ov_bulk');
-- dense, then sparse: one page of its own for the first sparse block, then
-- shared pages again
SELECT memtable_pages AS pages_before FROM lsm_info('ov_bulk') \gset
DELETE FROM ov_bulk
  WHERE (id % 2 = 0 AND id > 10000 AND id <= 20000) OR (id % 100 = 0 AND id > 20000);
SELECT memtable_pages - :pages_before -
       (SELECT count(*) FROM ov_bulk_blocks WHERE dense2 > 0)
       BETWEEN 1 AND 4 AS few_pages_beyond
  FROM lsm_info('ov_bulk');
SELECT count(*), sum(v) FROM ov_bulk;
SELECT lsm_check('ov_bulk');
UPDATE ov_bulk SET v = -v WHERE id % 500 = 1;
SELECT count(*), sum(v) FROM ov_bulk;
VACUUM ov_bulk;
SELECT count(*), sum(v) FROM ov_bulk;
SELECT lsm_check('ov_bulk');
DROP TABLE ov_bulk;

-- a bulk change moves blocks off their shared overlay pages to pages of
-- their own; a shared page left without items is freed by the next copy
-- of another block (it used to wait for VACUUM: no map entry leads a flush
-- to it)
CREATE TABLE ov_move (id int PRIMARY KEY, v int, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO ov_move SELECT g, g % 100, repeat('p', 30)
  FROM generate_series(1, 20000) g;
SELECT lsm_compact('ov_move', true) IS NOT NULL AS compacted;
DELETE FROM ov_move WHERE id % 10 = 0;
SELECT free_pages FROM lsm_info('ov_move');
UPDATE ov_move SET v = v + 1000 WHERE id % 10 = 5;
SELECT free_pages >= 20 AS emptied_pages_freed FROM lsm_info('ov_move');
SELECT count(*), sum(v), count(*) FILTER (WHERE v >= 1000) FROM ov_move;
SET enable_seqscan = off;
SELECT count(id), sum(id) FROM ov_move WHERE id > 0;
RESET enable_seqscan;
SELECT lsm_check('ov_move');
DROP TABLE ov_move;

-- copies a row lock or an aborted change made are not written to the next
-- run: the runs hold the same versions (until 2026-12-07 every such copy
-- went into a new run, a duplicate until a merge, counted twice by VACUUM)
CREATE TABLE ov_parent (id int PRIMARY KEY, v int, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO ov_parent SELECT g, g, repeat('p', 60) FROM generate_series(1, 20000) g;
SELECT runs FROM lsm_compact('ov_parent', true);
CREATE TABLE ov_child (pid int REFERENCES ov_parent) USING lsm
  WITH (autovacuum_enabled = off);
-- foreign-key checks lock parent rows: scattered (shared overlay pages)
-- and in runs of rows (pages of their own)
INSERT INTO ov_child SELECT (g * 7919) % 20000 + 1 FROM generate_series(1, 300) g;
INSERT INTO ov_child SELECT g FROM generate_series(5001, 7000) g;
-- an aborted DELETE leaves copies with an aborted xmax
BEGIN;
DELETE FROM ov_parent p WHERE id BETWEEN 15001 AND 15500
  AND NOT EXISTS (SELECT FROM ov_child c WHERE c.pid = p.id);
ROLLBACK;
-- and some rows are deleted: their removal must go to the run
DELETE FROM ov_parent p WHERE id BETWEEN 12001 AND 12100
  AND NOT EXISTS (SELECT FROM ov_child c WHERE c.pid = p.id);
SELECT sum(versions) AS versions_before, sum(tombstones) AS tombstones_before
  FROM lsm_runs('ov_parent') \gset
SELECT flushed_pages > 0 AS flushed, runs FROM lsm_compact('ov_parent');
SELECT sum(versions) - :versions_before AS new_versions,
       sum(tombstones) - :tombstones_before AS new_removals
  FROM lsm_runs('ov_parent');
SELECT count(*), sum(v), count(*) FILTER (WHERE pad <> repeat('p', 60)) AS changed
  FROM ov_parent;
SET enable_seqscan = off;
SELECT count(id), sum(v) FROM ov_parent WHERE id BETWEEN 15001 AND 15500;
SELECT count(id) FROM ov_parent WHERE id BETWEEN 12001 AND 12100;
RESET enable_seqscan;
SELECT lsm_check('ov_parent');
-- lock rows again, VACUUM (which flushes them) counts every row once
SELECT count(*) FROM (SELECT 1 FROM ov_parent WHERE id % 3 = 0 FOR SHARE) s;
SET lsm.vacuum_flush_min_pages = 1;
VACUUM ov_parent;
RESET lsm.vacuum_flush_min_pages;
SELECT reltuples, (SELECT count(*) FROM ov_parent) AS rows
  FROM pg_class WHERE relname = 'ov_parent';
SELECT memtable_pages FROM lsm_info('ov_parent');
SELECT count(*), sum(v) FROM ov_parent;
SELECT lsm_check('ov_parent');
DROP TABLE ov_child, ov_parent;
