--
-- Changing rows that live in runs: the copies of the versions changed share
-- overlay pages instead of taking a page per logical block
-- (doc/lsm-design.md, "Shared overlay pages").
--
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
