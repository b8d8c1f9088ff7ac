--
-- lsm_index_btree: core btree indexes on lsm tables.
--
-- Index builds on existing data (plain, CONCURRENTLY, REINDEX), unique
-- indexes and constraints (also deferrable and NULLS NOT DISTINCT), partial,
-- expression, multi-column and covering indexes, the plans that use them,
-- and index clean-up by VACUUM after many updates and deletes.
--

CREATE TABLE lsm_bt (id int NOT NULL, k int, v text, pad text)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO lsm_bt
  SELECT g, g % 100, 'v' || g, repeat('p', g % 30)
    FROM generate_series(1, 5000) g;

-- Indexes built on existing data.
CREATE UNIQUE INDEX lsm_bt_id ON lsm_bt (id);
CREATE INDEX lsm_bt_k ON lsm_bt (k);
CREATE INDEX lsm_bt_k_v ON lsm_bt (k, v);
CREATE INDEX lsm_bt_lower_v ON lsm_bt (lower(v));
CREATE INDEX lsm_bt_partial ON lsm_bt (id) WHERE k = 13;
CREATE INDEX lsm_bt_cover ON lsm_bt (k) INCLUDE (id);
VACUUM ANALYZE lsm_bt;

SELECT c.relname, am.amname AS table_am, i.indisvalid, i.indisready
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_am am ON am.oid = t.relam
 WHERE t.relname = 'lsm_bt'
 ORDER BY c.relname;

-- Point lookup through the unique index.
EXPLAIN (COSTS OFF) SELECT * FROM lsm_bt WHERE id = 4242;
SELECT * FROM lsm_bt WHERE id = 4242;

-- Index-only scans need no table fetches after VACUUM.
EXPLAIN (COSTS OFF) SELECT id FROM lsm_bt WHERE id BETWEEN 100 AND 120;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT id FROM lsm_bt WHERE id BETWEEN 100 AND 120;
SELECT id FROM lsm_bt WHERE id BETWEEN 100 AND 120 ORDER BY id;

-- Covering index: k and the included id come from the index alone.
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT k, id FROM lsm_bt WHERE k = 42 AND id < 1000;
SELECT k, id FROM lsm_bt WHERE k = 42 AND id < 1000 ORDER BY id;

-- Bitmap scan on a non-unique key.
EXPLAIN (COSTS OFF) SELECT count(*), sum(id) FROM lsm_bt WHERE k IN (3, 5);
SELECT count(*), sum(id) FROM lsm_bt WHERE k IN (3, 5);

-- Multi-column, expression and partial indexes.
EXPLAIN (COSTS OFF) SELECT id FROM lsm_bt WHERE k = 7 AND v = 'v707';
SELECT id FROM lsm_bt WHERE k = 7 AND v = 'v707';
EXPLAIN (COSTS OFF) SELECT id FROM lsm_bt WHERE lower(v) = 'v123';
SELECT id FROM lsm_bt WHERE lower(v) = 'v123';
EXPLAIN (COSTS OFF) SELECT id FROM lsm_bt WHERE k = 13 AND id < 400;
SELECT id FROM lsm_bt WHERE k = 13 AND id < 400 ORDER BY id;

-- Ordered scans, backwards scans, min/max through the index.
EXPLAIN (COSTS OFF) SELECT id, v FROM lsm_bt ORDER BY id DESC LIMIT 3;
SELECT id, v FROM lsm_bt ORDER BY id DESC LIMIT 3;
EXPLAIN (COSTS OFF) SELECT min(id), max(id) FROM lsm_bt;
SELECT min(id), max(id) FROM lsm_bt;

-- Results with the indexes forced on equal those of a sequential scan.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM lsm_bt WHERE k BETWEEN 10 AND 19 ORDER BY id;
SELECT count(*), sum(id), md5(string_agg(id::text || v || pad, ',' ORDER BY id))
  FROM lsm_bt WHERE k BETWEEN 10 AND 19;
SELECT count(*), md5(string_agg(id::text, ',' ORDER BY id))
  FROM lsm_bt WHERE lower(v) LIKE 'v1%' AND lower(v) >= 'v1' AND lower(v) < 'v2';
RESET enable_bitmapscan;
SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM lsm_bt WHERE k BETWEEN 10 AND 19 ORDER BY id;
SELECT count(*), sum(id), md5(string_agg(id::text || v || pad, ',' ORDER BY id))
  FROM lsm_bt WHERE k BETWEEN 10 AND 19;
RESET enable_seqscan;
SET enable_bitmapscan = off;
SET enable_indexonlyscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM lsm_bt WHERE k BETWEEN 10 AND 19 ORDER BY id;
SELECT count(*), sum(id), md5(string_agg(id::text || v || pad, ',' ORDER BY id))
  FROM lsm_bt WHERE k BETWEEN 10 AND 19;
SELECT count(*), md5(string_agg(id::text, ',' ORDER BY id))
  FROM lsm_bt WHERE lower(v) LIKE 'v1%' AND lower(v) >= 'v1' AND lower(v) < 'v2';
RESET enable_bitmapscan;
RESET enable_indexscan;
RESET enable_indexonlyscan;

--
-- Unique indexes: the usual errors and details.
--
INSERT INTO lsm_bt VALUES (42, 0, 'dup', '');
UPDATE lsm_bt SET id = 43 WHERE id = 42;
COPY lsm_bt FROM stdin;
6001	1	x	
6001	1	y	
\.
SELECT count(*) FROM lsm_bt WHERE id IN (42, 43, 6001);

-- A key deleted and inserted again, in one transaction and across them.
BEGIN;
DELETE FROM lsm_bt WHERE id = 42;
INSERT INTO lsm_bt VALUES (42, 42, 'again', '');
INSERT INTO lsm_bt VALUES (42, 42, 'twice', '');  -- fails
ROLLBACK;
BEGIN;
DELETE FROM lsm_bt WHERE id = 42;
INSERT INTO lsm_bt VALUES (42, 42, 'again', '');
UPDATE lsm_bt SET id = 42 WHERE id = 42;
UPDATE lsm_bt SET v = 'again2' WHERE id = 42;
COMMIT;
SELECT id, k, v FROM lsm_bt WHERE id = 42;
-- Swapping keys in one statement violates a non-deferrable unique index.
UPDATE lsm_bt SET id = CASE id WHEN 1 THEN 2 ELSE 1 END WHERE id IN (1, 2);
-- A failed insert leaves nothing behind.
SELECT count(*) AS rows, count(DISTINCT id) AS ids FROM lsm_bt;

-- A unique index cannot be built over duplicates.
CREATE UNIQUE INDEX lsm_bt_k_unique ON lsm_bt (k);

-- A primary key added to a table with data.
ALTER TABLE lsm_bt ADD CONSTRAINT lsm_bt_pkey PRIMARY KEY USING INDEX lsm_bt_id;
INSERT INTO lsm_bt VALUES (100, 0, 'dup', '');
\d lsm_bt

--
-- NULLS NOT DISTINCT, and the default (NULLS DISTINCT).
--
CREATE TABLE lsm_bt_nulls (a int, b int) USING lsm;
CREATE UNIQUE INDEX lsm_bt_nulls_a ON lsm_bt_nulls (a);
CREATE UNIQUE INDEX lsm_bt_nulls_b ON lsm_bt_nulls (b) NULLS NOT DISTINCT;
INSERT INTO lsm_bt_nulls VALUES (NULL, 1), (NULL, 2);
INSERT INTO lsm_bt_nulls VALUES (1, NULL);
INSERT INTO lsm_bt_nulls VALUES (2, NULL);
-- A second NULL is fine once the first one is gone.
DELETE FROM lsm_bt_nulls WHERE a = 1;
INSERT INTO lsm_bt_nulls VALUES (2, NULL);
SELECT * FROM lsm_bt_nulls ORDER BY a NULLS FIRST, b;
-- Building such an index over duplicate NULLs fails.
INSERT INTO lsm_bt_nulls VALUES (3, 3), (4, 3);
DELETE FROM lsm_bt_nulls WHERE a = 4;
INSERT INTO lsm_bt_nulls VALUES (NULL, NULL);
DROP INDEX lsm_bt_nulls_b;
INSERT INTO lsm_bt_nulls VALUES (5, NULL);
CREATE UNIQUE INDEX lsm_bt_nulls_b ON lsm_bt_nulls (b) NULLS NOT DISTINCT;
CREATE UNIQUE INDEX lsm_bt_nulls_b ON lsm_bt_nulls (b);
SELECT * FROM lsm_bt_nulls ORDER BY a NULLS FIRST, b;
DROP TABLE lsm_bt_nulls;

--
-- Deferrable unique constraints.
--
CREATE TABLE lsm_bt_def (id int UNIQUE DEFERRABLE INITIALLY IMMEDIATE, t text)
  USING lsm;
INSERT INTO lsm_bt_def SELECT g, 'r' || g FROM generate_series(1, 5) g;
-- Checked at the end of the statement: shifting all keys works.
UPDATE lsm_bt_def SET id = id + 1;
UPDATE lsm_bt_def SET id = CASE id WHEN 2 THEN 3 WHEN 3 THEN 2 ELSE id END;
SELECT * FROM lsm_bt_def ORDER BY id;
-- Still violated at the end of the statement.
UPDATE lsm_bt_def SET id = 2 WHERE id = 4;
-- Deferred to commit.
BEGIN;
SET CONSTRAINTS lsm_bt_def_id_key DEFERRED;
INSERT INTO lsm_bt_def VALUES (2, 'dup');
UPDATE lsm_bt_def SET id = 7 WHERE t = 'dup';
COMMIT;
BEGIN;
SET CONSTRAINTS ALL DEFERRED;
INSERT INTO lsm_bt_def VALUES (3, 'dup');
COMMIT;
BEGIN;
SET CONSTRAINTS ALL DEFERRED;
INSERT INTO lsm_bt_def VALUES (4, 'dup');
SET CONSTRAINTS ALL IMMEDIATE;
ROLLBACK;
SELECT * FROM lsm_bt_def ORDER BY id;
DROP TABLE lsm_bt_def;

-- Unique builds ignore versions that are dead but still visible to some
-- snapshot (a prepared transaction holds back the horizon).
CREATE TABLE lsm_bt_rd (id int, v text) USING lsm WITH (autovacuum_enabled = off);
CREATE TABLE lsm_bt_rd_aux (a int) USING lsm;
INSERT INTO lsm_bt_rd SELECT g, 'a' FROM generate_series(1, 100) g;
BEGIN;
INSERT INTO lsm_bt_rd_aux VALUES (1);
PREPARE TRANSACTION 'lsm_index_btree_hold';
UPDATE lsm_bt_rd SET v = 'b' WHERE id <= 10;
DELETE FROM lsm_bt_rd WHERE id = 50;
INSERT INTO lsm_bt_rd VALUES (50, 'again');
SELECT recently_dead_versions FROM lsm_info('lsm_bt_rd');
CREATE UNIQUE INDEX lsm_bt_rd_id ON lsm_bt_rd (id);
CREATE UNIQUE INDEX CONCURRENTLY lsm_bt_rd_id2 ON lsm_bt_rd (id);
REINDEX TABLE lsm_bt_rd;
REINDEX TABLE CONCURRENTLY lsm_bt_rd;
ALTER TABLE lsm_bt_rd ADD PRIMARY KEY (id);
INSERT INTO lsm_bt_rd VALUES (50, 'dup');
SET enable_seqscan = off;
SELECT count(*), string_agg(DISTINCT v, ',') FROM lsm_bt_rd WHERE id <= 10;
SELECT * FROM lsm_bt_rd WHERE id = 50;
RESET enable_seqscan;
COMMIT PREPARED 'lsm_index_btree_hold';
SELECT lsm_check('lsm_bt_rd');
DROP TABLE lsm_bt_rd, lsm_bt_rd_aux;

--
-- CREATE INDEX CONCURRENTLY and REINDEX on a table with dead and updated
-- versions.
--
CREATE TABLE lsm_bt_cic (id int, grp int, val text)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO lsm_bt_cic SELECT g, g % 10, md5(g::text) FROM generate_series(1, 3000) g;
UPDATE lsm_bt_cic SET val = val || '!' WHERE id % 3 = 0;
DELETE FROM lsm_bt_cic WHERE id % 7 = 0;
CREATE UNIQUE INDEX CONCURRENTLY lsm_bt_cic_id ON lsm_bt_cic (id);
CREATE INDEX CONCURRENTLY lsm_bt_cic_grp ON lsm_bt_cic (grp, id);
CREATE INDEX CONCURRENTLY lsm_bt_cic_val ON lsm_bt_cic (val) WHERE id > 2900;
-- A unique build over duplicates fails and leaves an invalid index.
INSERT INTO lsm_bt_cic VALUES (3001, 1, 'x'), (3002, 1, 'x');
CREATE UNIQUE INDEX CONCURRENTLY lsm_bt_cic_bad ON lsm_bt_cic (val);
SELECT c.relname, i.indisvalid, i.indisready, i.indisunique
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'lsm_bt_cic'::regclass
 ORDER BY c.relname;
DROP INDEX lsm_bt_cic_bad;
VACUUM ANALYZE lsm_bt_cic;
EXPLAIN (COSTS OFF) SELECT * FROM lsm_bt_cic WHERE id = 300;
SELECT * FROM lsm_bt_cic WHERE id = 300;
SELECT * FROM lsm_bt_cic WHERE id = 301;
EXPLAIN (COSTS OFF) SELECT id FROM lsm_bt_cic WHERE grp = 4 AND id < 100;
SELECT id FROM lsm_bt_cic WHERE grp = 4 AND id < 100 ORDER BY id;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM lsm_bt_cic WHERE id > 2950 AND val LIKE '%!';
SELECT id FROM lsm_bt_cic WHERE id > 2950 AND val LIKE '%!' ORDER BY id;
SELECT count(*), sum(id) FROM lsm_bt_cic WHERE grp = 4;
RESET enable_seqscan;
SELECT count(*), sum(id) FROM lsm_bt_cic WHERE grp = 4;
INSERT INTO lsm_bt_cic VALUES (300, 0, 'dup');

REINDEX INDEX lsm_bt_cic_id;
REINDEX TABLE lsm_bt_cic;
REINDEX INDEX CONCURRENTLY lsm_bt_cic_grp;
REINDEX TABLE CONCURRENTLY lsm_bt_cic;
SELECT c.relname, i.indisvalid, i.indisready
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'lsm_bt_cic'::regclass
 ORDER BY c.relname;
INSERT INTO lsm_bt_cic VALUES (300, 0, 'dup');
SET enable_seqscan = off;
SELECT count(*), sum(id) FROM lsm_bt_cic WHERE grp = 4;
SELECT * FROM lsm_bt_cic WHERE id = 300;
RESET enable_seqscan;

-- amcheck: every index entry is sound and every visible row is indexed.
BEGIN;
CREATE EXTENSION amcheck;
SELECT bt_index_check('lsm_bt_cic_id', true);
SELECT bt_index_parent_check('lsm_bt_cic_grp', true);
SELECT bt_index_check('lsm_bt_cic_val', true);
SELECT bt_index_check('lsm_bt_pkey', true);
SELECT bt_index_check('lsm_bt_lower_v', true);
SELECT bt_index_check('lsm_bt_partial', true);
SELECT bt_index_check('lsm_bt_cover', true);
ROLLBACK;
SELECT lsm_check('lsm_bt_cic');
DROP TABLE lsm_bt_cic;

--
-- Many updates and deletes, then VACUUM: the index is cleaned and does
-- not grow without bound over repeated cycles.
--
CREATE TABLE lsm_bt_churn (id int PRIMARY KEY, n int, t text)
  USING lsm WITH (autovacuum_enabled = off);
CREATE INDEX lsm_bt_churn_n ON lsm_bt_churn (n);
INSERT INTO lsm_bt_churn SELECT g, 0, 'x' FROM generate_series(1, 2000) g;
VACUUM lsm_bt_churn;
-- Four warm-up cycles of two updates of every row and a VACUUM.
UPDATE lsm_bt_churn SET n = n + 1;
UPDATE lsm_bt_churn SET n = n + 1;
VACUUM lsm_bt_churn;
UPDATE lsm_bt_churn SET n = n + 1;
UPDATE lsm_bt_churn SET n = n + 1;
VACUUM lsm_bt_churn;
UPDATE lsm_bt_churn SET n = n + 1;
UPDATE lsm_bt_churn SET n = n + 1;
VACUUM lsm_bt_churn;
UPDATE lsm_bt_churn SET n = n + 1;
UPDATE lsm_bt_churn SET n = n + 1;
VACUUM lsm_bt_churn;
SELECT pg_relation_size('lsm_bt_churn_pkey') AS pkey_size0,
       pg_relation_size('lsm_bt_churn_n') AS n_size0 \gset
-- Six more cycles: the indexes reuse the space VACUUM freed.
UPDATE lsm_bt_churn SET n = n + 1;
UPDATE lsm_bt_churn SET n = n + 1;
VACUUM lsm_bt_churn;
UPDATE lsm_bt_churn SET n = n + 1;
UPDATE lsm_bt_churn SET n = n + 1;
VACUUM lsm_bt_churn;
UPDATE lsm_bt_churn SET n = n + 1;
UPDATE lsm_bt_churn SET n = n + 1;
VACUUM lsm_bt_churn;
UPDATE lsm_bt_churn SET n = n + 1;
UPDATE lsm_bt_churn SET n = n + 1;
VACUUM lsm_bt_churn;
UPDATE lsm_bt_churn SET n = n + 1;
UPDATE lsm_bt_churn SET n = n + 1;
VACUUM lsm_bt_churn;
UPDATE lsm_bt_churn SET n = n + 1;
UPDATE lsm_bt_churn SET n = n + 1;
VACUUM lsm_bt_churn;
SELECT pg_relation_size('lsm_bt_churn_pkey') <= 1.5 * :pkey_size0 AS pkey_bounded,
       pg_relation_size('lsm_bt_churn_n') <= 1.5 * :n_size0 AS n_bounded;
SELECT count(*), min(n), max(n) FROM lsm_bt_churn;
-- Delete most rows, then VACUUM: lookups still right, no dead versions.
DELETE FROM lsm_bt_churn WHERE id % 10 <> 0;
VACUUM ANALYZE lsm_bt_churn;
SELECT versions, dead_versions FROM lsm_info('lsm_bt_churn');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT id FROM lsm_bt_churn WHERE id < 100;
SELECT id, n FROM lsm_bt_churn WHERE id < 100 ORDER BY id;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), sum(id), min(n), max(n) FROM lsm_bt_churn WHERE n = 20;
SELECT count(*), sum(id) FROM lsm_bt_churn WHERE id BETWEEN 1 AND 2000;
-- A bitmap scan that needs no columns skips all-visible blocks.
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
RESET enable_bitmapscan;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_bt_churn WHERE n BETWEEN 0 AND 20;
SELECT count(*) FROM lsm_bt_churn WHERE n BETWEEN 0 AND 20;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_bt_churn WHERE id > 1000;
SELECT count(*) FROM lsm_bt_churn WHERE id > 1000;
RESET enable_indexscan;
RESET enable_indexonlyscan;
RESET enable_seqscan;
SELECT count(*), sum(id), min(n), max(n) FROM lsm_bt_churn;
-- Freed keys can be inserted again.
INSERT INTO lsm_bt_churn SELECT g, -1, 'y' FROM generate_series(1, 2000) g
  WHERE g % 10 <> 0;
SELECT count(*), count(*) FILTER (WHERE n = -1) FROM lsm_bt_churn;
BEGIN;
CREATE EXTENSION amcheck;
SELECT bt_index_parent_check('lsm_bt_churn_pkey', true);
SELECT bt_index_check('lsm_bt_churn_n', true);
ROLLBACK;
SELECT lsm_check('lsm_bt_churn');
-- Everything deleted: VACUUM truncates the table and row ids start again
-- from (0,1), so no index entry of an old row id may survive.
UPDATE lsm_bt_churn SET n = n + 1;
VACUUM lsm_bt_churn;
DELETE FROM lsm_bt_churn;
VACUUM lsm_bt_churn;
SELECT pg_relation_size('lsm_bt_churn') = 0 AS truncated;
INSERT INTO lsm_bt_churn SELECT g, -2, 'z' FROM generate_series(100001, 110000) g;
SELECT min(ctid) AS first_tid FROM lsm_bt_churn;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT * FROM lsm_bt_churn WHERE id = 5;
SELECT count(*) FROM lsm_bt_churn WHERE id <= 2000;
SELECT count(*) FROM lsm_bt_churn WHERE n >= 0;
RESET enable_seqscan;
RESET enable_bitmapscan;
INSERT INTO lsm_bt_churn VALUES (5, 5, 'five');
SELECT * FROM lsm_bt_churn WHERE id = 5;
SELECT count(*), min(id), max(id) FROM lsm_bt_churn;
DROP TABLE lsm_bt_churn;

SELECT lsm_check('lsm_bt');
DROP TABLE lsm_bt;

-- Bottom-up index deletion that finds nothing to delete: the table AM must
-- return an empty array then, or nbtree logs a deletion of nothing (an
-- assertion failure in assert-enabled servers; elsewhere an empty record
-- and a dirtied leaf page per pass).  Every UPDATE inserts into the
-- primary key with the "unchanged" hint; within one transaction no old
-- version is dead yet, so every pass is fruitless.
CREATE EXTENSION pg_walinspect;
CREATE TABLE lsm_bt_bu (id int PRIMARY KEY, v int) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO lsm_bt_bu SELECT g, 0 FROM generate_series(1, 10) g;
SET synchronous_commit = on;
SELECT pg_current_wal_insert_lsn() AS bu_lsn0 \gset
BEGIN;
DO $$BEGIN FOR i IN 1..200 LOOP UPDATE lsm_bt_bu SET v = v + 1 WHERE id <= 10; END LOOP; END$$;
COMMIT;
SELECT count(*) AS empty_btree_deletions
  FROM pg_get_wal_records_info(:'bu_lsn0', pg_current_wal_flush_lsn())
 WHERE resource_manager = 'Btree' AND record_type = 'DELETE'
   AND description LIKE '%ndeleted 0; nupdated 0%';
SELECT pg_relation_size('lsm_bt_bu_pkey') > 8192 AS leaf_pages_split;
SELECT count(*), sum(v) FROM lsm_bt_bu;
RESET synchronous_commit;
BEGIN;
CREATE EXTENSION amcheck;
SELECT bt_index_parent_check('lsm_bt_bu_pkey', true);
ROLLBACK;
DROP TABLE lsm_bt_bu;
DROP EXTENSION pg_walinspect;
