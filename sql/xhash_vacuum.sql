--
-- xhash_vacuum: growth by splits and directory doubling, overflow chains
-- for long runs of equal keys, VACUUM removing entries, unlinking empty
-- overflow pages and recycling them, and the verifier after each step.
--
CREATE TABLE xv (k int4, v text);
CREATE INDEX xv_k ON xv USING xhash (k);
SELECT global_depth, buckets, entries FROM xhash_info('xv_k');
-- grow from an empty index: many splits and doublings
INSERT INTO xv SELECT g, 'v' || g FROM generate_series(1, 50000) g;
SELECT global_depth > 5 AS grew, buckets > 50 AS split, entries FROM xhash_info('xv_k');
SELECT xhash_check('xv_k');
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT v FROM xv WHERE k = 31337;
RESET enable_bitmapscan;

-- a long run of one key goes to an overflow chain
INSERT INTO xv SELECT 7, 'seven' FROM generate_series(1, 5000);
SELECT overflow_pages >= 7 AS chained FROM xhash_info('xv_k');
SELECT xhash_check('xv_k');
SELECT count(*) FROM xv WHERE k = 7;
-- other keys of that bucket still split away from the chain
INSERT INTO xv SELECT g, 'w' FROM generate_series(50001, 60000) g;
SELECT xhash_check('xv_k');
SELECT count(*) FROM xv WHERE k = 7;
SELECT count(*) FROM xv WHERE k = 55555;

-- VACUUM removes entries of deleted rows
DELETE FROM xv WHERE k % 2 = 0;
VACUUM xv;
SELECT entries FROM xhash_info('xv_k');
SELECT xhash_check('xv_k');
SELECT count(*) FROM xv WHERE k = 31338;
SELECT count(*) FROM xv WHERE k = 31337;

-- emptying the chain unlinks its pages; they become free for reuse
DELETE FROM xv WHERE k = 7;
VACUUM xv;
SELECT overflow_pages, free_pages >= 7 AS freed FROM xhash_info('xv_k');
SELECT xhash_check('xv_k');
-- a second VACUUM hands them to the free space map
VACUUM xv;
SELECT pg_relation_size('xv_k') / 8192 AS pages_before \gset
-- a new chain reuses them instead of growing the index
INSERT INTO xv SELECT 9, 'nine' FROM generate_series(1, 4000);
SELECT pg_relation_size('xv_k') / 8192 - :pages_before AS pages_added;
SELECT overflow_pages >= 5 AS chained FROM xhash_info('xv_k');
SELECT xhash_check('xv_k');
SELECT count(*) FROM xv WHERE k = 9;

-- space freed inside buckets is reused by later inserts
SELECT pg_relation_size('xv_k') / 8192 AS pages_before \gset
INSERT INTO xv SELECT g, 'again' FROM generate_series(2, 40000, 2) g;
SELECT pg_relation_size('xv_k') / 8192 - :pages_before AS pages_added;
SELECT xhash_check('xv_k');
SELECT count(*) FROM xv WHERE k = 31338;

-- VACUUM FULL rebuilds
VACUUM FULL xv;
SELECT overflow_pages >= 5 AS chained, free_pages FROM xhash_info('xv_k');
SELECT xhash_check('xv_k');
SELECT count(*) FROM xv WHERE k = 9;

-- a build with a long run of equal keys and a small fillfactor
CREATE TABLE xv2 (k int8);
INSERT INTO xv2 SELECT CASE WHEN g % 3 = 0 THEN 42 ELSE g END FROM generate_series(1, 30000) g;
CREATE INDEX xv2_k ON xv2 USING xhash (k) WITH (fillfactor = 30);
SELECT overflow_pages > 10 AS chained FROM xhash_info('xv2_k');
SELECT xhash_check('xv2_k');
SELECT count(*) FROM xv2 WHERE k = 42;
SELECT count(*) FROM xv2 WHERE k = 29999;
INSERT INTO xv2 SELECT g FROM generate_series(30001, 40000) g;
SELECT xhash_check('xv2_k');
SELECT count(*) FROM xv2 WHERE k = 39999;
RESET enable_seqscan;

DROP TABLE xv, xv2;
