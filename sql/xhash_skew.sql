--
-- xhash_skew: frequent keys do not deepen the index.  A group of entries
-- sharing their top 32 hash bits (one key with many rows) that fills half
-- a bucket page goes to the bucket's overflow chain -- at build time and
-- when inserts fill the page -- instead of the bucket being split until
-- no other hash is left near the frequent one (which used to take the
-- global depth to about log2 of the row count, and the directory with it).
--
SET enable_seqscan = off;
SET enable_bitmapscan = off;

-- inserts: one key with 3 000 rows arrives in an index of 100 000 keys
CREATE TABLE xs (k int8, v int4);
INSERT INTO xs SELECT g, g FROM generate_series(1, 100000) g;
CREATE INDEX xs_k ON xs USING xhash (k);
SELECT global_depth AS depth0 FROM xhash_info('xs_k') \gset
INSERT INTO xs SELECT 42, -g FROM generate_series(1, 3000) g;
SELECT global_depth <= :depth0 + 1 AS shallow, overflow_pages >= 4 AS chained
  FROM xhash_info('xs_k');
SELECT xhash_check('xs_k');
SELECT count(*) FROM xs WHERE k = 42;
-- and keys near it keep arriving: the chain takes the key, splits the rest
INSERT INTO xs SELECT g, g FROM generate_series(100001, 150000) g;
INSERT INTO xs SELECT 42, -g FROM generate_series(3001, 4000) g;
SELECT global_depth <= :depth0 + 2 AS shallow FROM xhash_info('xs_k');
SELECT xhash_check('xs_k');
SELECT count(*) FROM xs WHERE k = 42;
SELECT count(*) AS missing FROM generate_series(1, 150000) g
 WHERE (SELECT count(*) FROM xs WHERE k = g) <> CASE WHEN g = 42 THEN 4001 ELSE 1 END;

-- the build of the same rows is as shallow
CREATE INDEX xs_k2 ON xs USING xhash (k);
SELECT global_depth <= :depth0 + 1 AS shallow, overflow_pages >= 5 AS chained
  FROM xhash_info('xs_k2');
SELECT xhash_check('xs_k2');
DROP INDEX xs_k;
SELECT count(*) FROM xs WHERE k = 42;
SELECT count(*) FROM xs WHERE k = 43;

-- VACUUM empties the chain; the key can come back
DELETE FROM xs WHERE k = 42;
VACUUM xs;
SELECT xhash_check('xs_k2');
SELECT count(*) FROM xs WHERE k = 42;
INSERT INTO xs SELECT 42, g FROM generate_series(1, 1000) g;
SELECT count(*) FROM xs WHERE k = 42;
SELECT xhash_check('xs_k2');
DROP TABLE xs;

-- many frequent keys: 50 keys with 1 000 rows each among 50 000 others,
-- arriving mixed, then built.  Each of them gets a chain of its own, and a
-- bucket may have any number of chains, so they do not drive buckets apart
-- (the same rows without frequent keys: depth 8; with one chain per
-- bucket: depth 12; before frequent keys went to chains: depth 23, a
-- directory of 4 113 pages)
CREATE TABLE xm (k int4, v int4);
CREATE INDEX xm_k ON xm USING xhash (k);
INSERT INTO xm SELECT CASE WHEN g % 2 = 0 THEN g ELSE -(((g % 100) + 1) / 2) END, g
  FROM generate_series(1, 100000) g;
CREATE INDEX xm_k2 ON xm USING xhash (k);
CREATE TABLE xm_flat (k int4);
INSERT INTO xm_flat SELECT g FROM generate_series(1, 100000) g;
CREATE INDEX xm_flat_k ON xm_flat USING xhash (k);
SELECT global_depth AS flat_depth FROM xhash_info('xm_flat_k') \gset
SELECT global_depth <= :flat_depth AS bounded, directory_pages FROM xhash_info('xm_k');
SELECT global_depth <= :flat_depth AS bounded, directory_pages FROM xhash_info('xm_k2');
SELECT xhash_check('xm_k'), xhash_check('xm_k2');
SELECT count(*) FROM xm WHERE k = -7;
SELECT count(*) AS missing FROM generate_series(-50, 100000) g
 WHERE g <> 0 AND (SELECT count(*) FROM xm WHERE k = g) <>
	   CASE WHEN g < 0 THEN 1000 WHEN g % 2 = 0 THEN 1 ELSE 0 END;
DROP TABLE xm, xm_flat;

-- 300 keys with 700 rows each, more than a bucket page holds: their
-- chains share buckets (one bucket page can hold the chain entries of all
-- of them).  With one chain per bucket the keys had to be split apart:
-- global depth 19 and 258 directory pages for these 210 000 rows, by
-- inserts and by the build alike.
CREATE TABLE xf (k int4, v int4);
CREATE INDEX xf_k ON xf USING xhash (k);
INSERT INTO xf SELECT k, g FROM generate_series(1, 300) k, generate_series(1, 700) g;
CREATE INDEX xf_k2 ON xf USING xhash (k);
SELECT global_depth <= 2 AS shallow, overflow_pages >= 300 AS chained,
	   entries FROM xhash_info('xf_k');
SELECT global_depth <= 2 AS shallow, overflow_pages >= 300 AS chained,
	   entries FROM xhash_info('xf_k2');
SELECT xhash_check('xf_k'), xhash_check('xf_k2');
SELECT count(*) AS missing FROM generate_series(0, 301) g
 WHERE (SELECT count(*) FROM xf WHERE k = g) <> CASE WHEN g BETWEEN 1 AND 300 THEN 700 ELSE 0 END;
-- VACUUM: half of the keys lose all their rows (their chains and chain
-- entries go, and the pages are recycled), the others part of theirs
DROP INDEX xf_k2;
DELETE FROM xf WHERE k % 2 = 0 OR v > 600;
VACUUM xf;
SELECT overflow_pages <= 150 AS fewer, free_pages >= 300 AS freed, entries
  FROM xhash_info('xf_k');
-- (the freed pages become reusable once a transaction ID has been used)
SELECT pg_current_xact_id() IS NOT NULL AS xid_used;
VACUUM xf;
SELECT total_pages AS pages0 FROM xhash_info('xf_k') \gset
SELECT xhash_check('xf_k');
SELECT count(*) AS missing FROM generate_series(0, 301) g
 WHERE (SELECT count(*) FROM xf WHERE k = g) <>
	   CASE WHEN g BETWEEN 1 AND 300 AND g % 2 = 1 THEN 600 ELSE 0 END;
-- the emptied keys come back, arriving interleaved with the others: the
-- odd keys' rows go to their chains, the even ones' fill the two buckets,
-- which split as usual (64 buckets hold 30 000 entries), in freed pages
-- (only the directory's doublings extend the index, as they take a run of
-- new pages)
INSERT INTO xf SELECT g % 300 + 1, 1000 + g FROM generate_series(0, 59999) g;
SELECT global_depth <= 9 AS bounded, total_pages < :pages0 + 20 AS reused
  FROM xhash_info('xf_k');
SELECT xhash_check('xf_k');
SELECT count(*) AS missing FROM generate_series(1, 300) g
 WHERE (SELECT count(*) FROM xf WHERE k = g) <> CASE WHEN g % 2 = 1 THEN 800 ELSE 200 END;
DROP TABLE xf;

-- the same keys arriving interleaved from the start: buckets split while
-- the keys are small, until their entries move to chains (one chain per
-- bucket: depth 19)
CREATE TABLE xg (k int4, v int4);
CREATE INDEX xg_k ON xg USING xhash (k);
INSERT INTO xg SELECT g % 300, g FROM generate_series(1, 210000) g;
SELECT global_depth <= 12 AS bounded FROM xhash_info('xg_k');
SELECT xhash_check('xg_k');
SELECT count(*) AS missing FROM generate_series(0, 299) g
 WHERE (SELECT count(*) FROM xg WHERE k = g) <> 700;
DROP TABLE xg;

-- a unique index gets a frequent hash from dead versions: one row updated
-- 2 000 times (not HOT: v is indexed too); its entries move to a chain,
-- and the unique check still finds the live one there
CREATE TABLE xq (k int4, v int4);
CREATE UNIQUE INDEX xq_k ON xq USING xhash (k);
CREATE INDEX xq_v ON xq (v);
INSERT INTO xq SELECT g, g FROM generate_series(1, 20000) g;
DO $$
BEGIN
	FOR i IN 1..2000 LOOP
		UPDATE xq SET v = v + 1 WHERE k = 5;
	END LOOP;
END $$;
SELECT overflow_pages > 0 AS chained, global_depth <= 7 AS shallow FROM xhash_info('xq_k');
INSERT INTO xq VALUES (5, 0);
INSERT INTO xq VALUES (20001, 0);
SELECT k, v FROM xq WHERE k = 5;
SELECT xhash_check('xq_k');
DROP TABLE xq;

RESET enable_seqscan;
RESET enable_bitmapscan;
