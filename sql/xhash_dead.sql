--
-- xhash_dead: entries whose rows are dead to every snapshot are marked
-- dead by index scans (kill_prior_tuple) and by unique checks, skipped by
-- later scans, and removed when their bucket page fills up, so that the
-- bucket does not split for them.  The tables have autovacuum off: only
-- the index itself removes anything here.
--
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_hashjoin = off;
SET enable_mergejoin = off;

-- one bucket page (an index built empty), 600 of its ~680 entries used
CREATE TABLE xd (k int4, v text) WITH (autovacuum_enabled = off);
CREATE INDEX xd_k ON xd USING xhash (k);
INSERT INTO xd SELECT g, 'v' FROM generate_series(1, 600) g;
SELECT buckets, entries, dead_entries FROM xhash_info('xd_k');
DELETE FROM xd WHERE k > 100;
-- lookups of the deleted keys find their rows dead and mark the entries
-- (all 500 of them, unless some row's deletion is not yet known to be
-- durable: hint bits wait for the commit record's flush)
SELECT count(*) FROM generate_series(1, 600) g JOIN xd ON xd.k = g;
SELECT buckets, entries, dead_entries > 0 AS marked,
       dead_entries <= 500 AS only_deleted_rows
  FROM xhash_info('xd_k');
SELECT xhash_check('xd_k');
-- later lookups skip them and find the same; the index returns no TID for
-- a marked entry (k = 100 is the one live row of these eleven)
SELECT count(*) FROM generate_series(1, 600) g JOIN xd ON xd.k = g;
BEGIN;
SELECT pg_stat_get_xact_tuples_returned('xd_k'::regclass) AS r0 \gset
SELECT count(*) FROM generate_series(100, 110) g JOIN xd ON xd.k = g;
SELECT pg_stat_get_xact_tuples_returned('xd_k'::regclass) - :r0 AS tids_returned;
COMMIT;
SELECT k, v FROM xd WHERE k = 100;
SELECT k, v FROM xd WHERE k = 101;
-- inserts fill the page: the dead entries go instead of the bucket splitting
INSERT INTO xd SELECT g, 'w' FROM generate_series(601, 800) g;
SELECT buckets, entries < 800 AS shed, dead_entries FROM xhash_info('xd_k');
SELECT xhash_check('xd_k');
SELECT count(*) FROM generate_series(1, 800) g JOIN xd ON xd.k = g;
-- a bitmap scan does not mark anything, and finds the same
RESET enable_bitmapscan;
SET enable_indexscan = off;
DELETE FROM xd WHERE k > 700;
SELECT xhash_info('xd_k')::text AS before \gset
SELECT count(*) FROM xd WHERE k = ANY (ARRAY(SELECT generate_series(650, 750)));
SELECT xhash_info('xd_k')::text = :'before' AS unchanged;
RESET enable_indexscan;
SET enable_bitmapscan = off;

-- a scan marks at its end: a cursor closed by COMMIT marks what it passed;
-- one whose transaction fails is ended during the abort, and marks nothing
CREATE TABLE xda (k int4, v text) WITH (autovacuum_enabled = off);
CREATE INDEX xda_k ON xda USING xhash (k);
INSERT INTO xda VALUES (1, 'a');
INSERT INTO xda VALUES (1, 'b');
DELETE FROM xda WHERE v = 'a';
BEGIN;
DECLARE c CURSOR FOR SELECT ctid, v FROM xda WHERE k = 1;
FETCH 1 FROM c;
SELECT 1 / 0;
ROLLBACK;
SELECT entries, dead_entries FROM xhash_info('xda_k');
BEGIN;
DECLARE c CURSOR FOR SELECT ctid, v FROM xda WHERE k = 1;
FETCH 1 FROM c;
COMMIT;
SELECT entries, dead_entries FROM xhash_info('xda_k');
DROP TABLE xda;

-- the rows a unique check finds dead are marked too, and skipped after
CREATE TABLE xdu (k int4, v int4) WITH (autovacuum_enabled = off);
CREATE UNIQUE INDEX xdu_k ON xdu USING xhash (k);
INSERT INTO xdu VALUES (1, 1);
DELETE FROM xdu;
INSERT INTO xdu VALUES (1, 2);
SELECT entries, dead_entries FROM xhash_info('xdu_k');
INSERT INTO xdu VALUES (1, 3);
SELECT * FROM xdu WHERE k = 1;
SELECT xhash_check('xdu_k');

-- an lsm table has no HOT: every update adds an entry.  Each update finds
-- its row through the index and the versions older than the one it sees
-- get marked; a full page sheds them, so 2 000 updates of 200 rows do not
-- split the one bucket
CREATE TABLE xdl (k int4, v int4) USING lsm WITH (autovacuum_enabled = off);
CREATE INDEX xdl_k ON xdl USING xhash (k);
INSERT INTO xdl SELECT g, 0 FROM generate_series(1, 200) g;
-- n rounds of one update of each row (found by column col), one
-- transaction per round
CREATE PROCEDURE xd_rounds(tbl regclass, col text, n int) LANGUAGE plpgsql AS $$
BEGIN
	FOR r IN 1 .. n LOOP
		EXECUTE format('UPDATE %s SET v = v + 1 FROM generate_series(1, 200) g WHERE %s.%I = g',
					   tbl, tbl, col);
		COMMIT;
	END LOOP;
END $$;
CALL xd_rounds('xdl', 'k', 10);
SELECT buckets, entries < 680 AS shed FROM xhash_info('xdl_k');
SELECT count(*), sum(v) FROM xdl;
SELECT count(*), sum(v) FROM generate_series(1, 200) g JOIN xdl ON xdl.k = g;
SELECT xhash_check('xdl_k');

-- updates that find their rows through another index and leave the xhash
-- column alone: nothing marks the old versions' entries, but an insert
-- into a full page from such an update asks the table which entries with
-- its hash (the row's older versions) are dead, as nbtree's bottom-up
-- deletion does; 2 000 updates of 200 rows stay in one bucket (4 without)
CREATE TABLE xdb (id int, k int4, v int4) USING lsm WITH (autovacuum_enabled = off);
CREATE INDEX xdb_id ON xdb (id);
CREATE INDEX xdb_k ON xdb USING xhash (k);
INSERT INTO xdb SELECT g, g, 0 FROM generate_series(1, 200) g;
CALL xd_rounds('xdb', 'id', 10);
SELECT buckets, entries < 680 AS shed, dead_entries FROM xhash_info('xdb_k');
SELECT count(*), sum(v) FROM generate_series(1, 200) g JOIN xdb ON xdb.k = g;
SELECT xhash_check('xdb_k');

-- a frequent key has an overflow chain; inserts go to the chain's first
-- page, which sheds the dead older versions of its rows the same way when
-- it is full: 2 000 updates (each its own transaction) of 100 of the key's
-- 1 000 rows leave 3 chain pages and under 1 500 entries (5 and 3 200
-- without)
CREATE TABLE xdc (id int, k int4, v int4) USING lsm WITH (autovacuum_enabled = off);
INSERT INTO xdc SELECT g, CASE WHEN g <= 1000 THEN 0 ELSE g END, 0
  FROM generate_series(1, 1200) g;
CREATE INDEX xdc_id ON xdc (id);
CREATE INDEX xdc_k ON xdc USING xhash (k);
SELECT buckets, overflow_pages, entries FROM xhash_info('xdc_k');
-- n rounds of updates of rows 1 .. nrows of tbl, each in its own
-- transaction
CREATE PROCEDURE xd_each(tbl regclass, n int, nrows int) LANGUAGE plpgsql AS $$
BEGIN
	FOR r IN 1 .. n LOOP
		FOR g IN 1 .. nrows LOOP
			EXECUTE format('UPDATE %s SET v = v + 1 WHERE id = $1', tbl) USING g;
			COMMIT;
		END LOOP;
	END LOOP;
END $$;
CALL xd_each('xdc', 20, 100);
SELECT buckets, overflow_pages <= 3 AS shed, entries < 1500 AS few
  FROM xhash_info('xdc_k');
SELECT count(*), sum(v) FROM xdc WHERE k = 0;
SELECT xhash_check('xdc_k');

-- every row of the frequent key updated in turn: the dead versions are on
-- the chain's older pages, which a full first page looks at for room (the
-- marked entries, then what bottom-up deletion finds), moving entries
-- there: 4 000 updates of the key's 1 000 rows leave 2 chain pages and
-- 1 292 entries (8 and 5 200 when only the first page shed entries)
CALL xd_each('xdc', 4, 1000);
SELECT buckets, overflow_pages <= 3 AS short, entries < 2000 AS few
  FROM xhash_info('xdc_k');
SELECT count(*), sum(v) FROM xdc WHERE k = 0;
SELECT xhash_check('xdc_k');

-- a longer chain (12 000 rows of one key, 18 pages): the dead versions on
-- its oldest pages, at the end, are reached too -- the bottom-up passes
-- start where the previous ones stopped and wrap around at the chain's
-- end: 24 000 updates leave 19 pages and 12 880 entries (53 and 35 502
-- when they always started at the chain's second page and went 16 pages
-- deep)
CREATE TABLE xdr (id int, k int4, v int4) USING lsm WITH (autovacuum_enabled = off);
INSERT INTO xdr SELECT g, 0, 0 FROM generate_series(1, 12000) g;
CREATE INDEX xdr_id ON xdr (id);
CREATE INDEX xdr_k ON xdr USING xhash (k);
SELECT overflow_pages, entries FROM xhash_info('xdr_k');
CALL xd_each('xdr', 2, 12000);
SELECT overflow_pages <= 24 AS short, entries < 15000 AS few FROM xhash_info('xdr_k');
SELECT count(*), sum(v) FROM xdr WHERE k = 0;
SELECT xhash_check('xdr_k');

-- scans mark the entries of dead rows on chain pages too (the key's
-- entries are all in its chain), and later scans skip them
CREATE TABLE xdk (id int, k int4) WITH (autovacuum_enabled = off);
INSERT INTO xdk SELECT g, CASE WHEN g <= 1000 THEN 0 ELSE g END
  FROM generate_series(1, 1200) g;
CREATE INDEX xdk_k ON xdk USING xhash (k);
SELECT buckets, overflow_pages, entries, dead_entries FROM xhash_info('xdk_k');
DELETE FROM xdk WHERE k = 0 AND id > 100;
SELECT count(*) FROM xdk WHERE k = 0;
SELECT overflow_pages, dead_entries > 0 AS marked,
       dead_entries <= 900 AS only_deleted_rows
  FROM xhash_info('xdk_k');
BEGIN;
SELECT pg_stat_get_xact_tuples_returned('xdk_k'::regclass) AS r0 \gset
SELECT count(*) FROM xdk WHERE k = 0;
SELECT pg_stat_get_xact_tuples_returned('xdk_k'::regclass) - :r0 < 1000 AS skipped;
COMMIT;
-- 700 new rows of the key fit where the marked entries were (4 chain
-- pages when nothing was marked there)
INSERT INTO xdk SELECT g, 0 FROM generate_series(2001, 2700) g;
SELECT overflow_pages, entries < 1900 AS shed FROM xhash_info('xdk_k');
SELECT count(*) FROM xdk WHERE k = 0;
SELECT xhash_check('xdk_k');

-- a unique check marks dead rows' entries on chain pages too: 1 000
-- versions of one key, deleted in the transaction that made them, fill a
-- chain; the next insert of the key finds them all dead and marks them
-- (only those on the bucket page, 1, before)
CREATE TABLE xduc (k int4, v int4) WITH (autovacuum_enabled = off);
CREATE UNIQUE INDEX xduc_k ON xduc USING xhash (k);
DO $$
BEGIN
	FOR r IN 1 .. 1000 LOOP
		INSERT INTO xduc VALUES (1, r);
		DELETE FROM xduc;
	END LOOP;
END $$;
SELECT overflow_pages > 0 AS chained, entries, dead_entries FROM xhash_info('xduc_k');
INSERT INTO xduc VALUES (1, 0);
SELECT entries, dead_entries FROM xhash_info('xduc_k');
SELECT * FROM xduc WHERE k = 1;
INSERT INTO xduc VALUES (1, 1);
SELECT xhash_check('xduc_k');

RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_hashjoin;
RESET enable_mergejoin;
DROP TABLE xd, xdu, xdl, xdb, xdc, xdr, xdk, xduc;
DROP PROCEDURE xd_each;
DROP PROCEDURE xd_rounds;
