--
-- lsm_index_hash: core hash indexes on lsm tables.
--
-- Builds on existing data (plain, CONCURRENTLY, REINDEX), partial and
-- expression indexes, hash exclusion constraints as a uniqueness check,
-- index and bitmap scans, and clean-up by VACUUM after updates and deletes.
--

CREATE TABLE lsm_hash (id int NOT NULL, k int, name text, note text)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO lsm_hash
  SELECT g, g % 250, 'name' || (g % 1000), 'note ' || g
    FROM generate_series(1, 6000) g;

CREATE INDEX lsm_hash_id ON lsm_hash USING hash (id);
CREATE INDEX lsm_hash_k ON lsm_hash USING hash (k);
CREATE INDEX lsm_hash_name ON lsm_hash USING hash (name);
CREATE INDEX lsm_hash_upper ON lsm_hash USING hash (upper(name));
CREATE INDEX lsm_hash_partial ON lsm_hash USING hash (k) WHERE id > 5900;
VACUUM ANALYZE lsm_hash;

-- What hash indexes cannot do.
CREATE UNIQUE INDEX lsm_hash_bad ON lsm_hash USING hash (id);
CREATE INDEX lsm_hash_bad ON lsm_hash USING hash (id, k);

-- Index scans and bitmap scans.
EXPLAIN (COSTS OFF) SELECT * FROM lsm_hash WHERE id = 1234;
SELECT * FROM lsm_hash WHERE id = 1234;
EXPLAIN (COSTS OFF) SELECT id FROM lsm_hash WHERE k = 17;
SELECT id FROM lsm_hash WHERE k = 17 ORDER BY id;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_hash WHERE name = 'name42';
SELECT count(*), sum(id) FROM lsm_hash WHERE name = 'name42';
EXPLAIN (COSTS OFF) SELECT id FROM lsm_hash WHERE upper(name) = 'NAME999';
SELECT id FROM lsm_hash WHERE upper(name) = 'NAME999' ORDER BY id;
EXPLAIN (COSTS OFF) SELECT id FROM lsm_hash WHERE k = 201 AND id > 5900;
SELECT id FROM lsm_hash WHERE k = 201 AND id > 5900;
-- Hash indexes support only equality.
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_hash WHERE id < 10;
-- IN lists and ORs through bitmap scans.
EXPLAIN (COSTS OFF) SELECT id FROM lsm_hash WHERE id IN (10, 20, 30) OR k = 3;
SELECT id FROM lsm_hash WHERE id IN (10, 20, 30) OR k = 3 ORDER BY id;

-- Index forced on, and off: the same rows.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id, note FROM lsm_hash WHERE k = 99;
SELECT count(*), md5(string_agg(id || note, ',' ORDER BY id))
  FROM lsm_hash WHERE k = 99;
SELECT count(*), md5(string_agg(id || note, ',' ORDER BY id))
  FROM lsm_hash WHERE name = 'name7';
RESET enable_bitmapscan;
SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT id, note FROM lsm_hash WHERE k = 99;
SELECT count(*), md5(string_agg(id || note, ',' ORDER BY id))
  FROM lsm_hash WHERE k = 99;
RESET enable_seqscan;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id, note FROM lsm_hash WHERE k = 99;
SELECT count(*), md5(string_agg(id || note, ',' ORDER BY id))
  FROM lsm_hash WHERE k = 99;
SELECT count(*), md5(string_agg(id || note, ',' ORDER BY id))
  FROM lsm_hash WHERE name = 'name7';
RESET enable_bitmapscan;
RESET enable_indexscan;

--
-- A hash exclusion constraint enforces uniqueness.
--
CREATE TABLE lsm_hash_excl (code text, info int,
  EXCLUDE USING hash (code WITH =)) USING lsm;
INSERT INTO lsm_hash_excl SELECT 'c' || g, g FROM generate_series(1, 200) g;
INSERT INTO lsm_hash_excl VALUES ('c17', 0);
UPDATE lsm_hash_excl SET code = 'c18' WHERE code = 'c17';
UPDATE lsm_hash_excl SET info = info + 1 WHERE code = 'c17';
BEGIN;
DELETE FROM lsm_hash_excl WHERE code = 'c19';
INSERT INTO lsm_hash_excl VALUES ('c19', -19);
COMMIT;
SELECT * FROM lsm_hash_excl WHERE code IN ('c17', 'c18', 'c19') ORDER BY code;
-- Building the constraint over duplicates fails.
CREATE TABLE lsm_hash_excl2 (code text) USING lsm;
INSERT INTO lsm_hash_excl2 VALUES ('a'), ('b'), ('a');
ALTER TABLE lsm_hash_excl2 ADD EXCLUDE USING hash (code WITH =);
DROP TABLE lsm_hash_excl, lsm_hash_excl2;

--
-- CREATE INDEX CONCURRENTLY, REINDEX, REINDEX CONCURRENTLY over a table
-- with dead and updated versions.
--
UPDATE lsm_hash SET note = note || ' upd' WHERE id % 5 = 0;
DELETE FROM lsm_hash WHERE id % 11 = 0;
CREATE INDEX CONCURRENTLY lsm_hash_note ON lsm_hash USING hash (note);
REINDEX INDEX lsm_hash_id;
REINDEX INDEX CONCURRENTLY lsm_hash_k;
REINDEX TABLE CONCURRENTLY lsm_hash;
SELECT c.relname, i.indisvalid, i.indisready
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'lsm_hash'::regclass
 ORDER BY c.relname;
VACUUM ANALYZE lsm_hash;
EXPLAIN (COSTS OFF) SELECT id FROM lsm_hash WHERE note = 'note 35 upd';
SELECT id FROM lsm_hash WHERE note = 'note 35 upd';
SELECT id FROM lsm_hash WHERE note = 'note 35';
SELECT id FROM lsm_hash WHERE note = 'note 33 upd';
SELECT id FROM lsm_hash WHERE id = 55;
SELECT id, note FROM lsm_hash WHERE id = 56;
SET enable_seqscan = off;
SELECT count(*), sum(id) FROM lsm_hash WHERE k = 100;
SELECT count(*), sum(id) FROM lsm_hash WHERE note LIKE '%upd' AND note = 'note 100 upd';
RESET enable_seqscan;
SELECT count(*), sum(id) FROM lsm_hash WHERE k = 100;
SELECT lsm_check('lsm_hash');

--
-- Repeated updates and VACUUM: hash indexes are cleaned and their size
-- stays bounded; results stay right.
--
CREATE TABLE lsm_hash_churn (id int, n int)
  USING lsm WITH (autovacuum_enabled = off);
CREATE INDEX lsm_hash_churn_id ON lsm_hash_churn USING hash (id);
CREATE INDEX lsm_hash_churn_n ON lsm_hash_churn USING hash (n);
INSERT INTO lsm_hash_churn SELECT g, 0 FROM generate_series(1, 3000) g;
VACUUM lsm_hash_churn;
-- Warm-up cycles.
UPDATE lsm_hash_churn SET n = n + 1;
VACUUM lsm_hash_churn;
UPDATE lsm_hash_churn SET n = n + 1;
VACUUM lsm_hash_churn;
UPDATE lsm_hash_churn SET n = n + 1;
VACUUM lsm_hash_churn;
SELECT pg_relation_size('lsm_hash_churn_id') AS id_size0,
       pg_relation_size('lsm_hash_churn_n') AS n_size0 \gset
UPDATE lsm_hash_churn SET n = n + 1;
VACUUM lsm_hash_churn;
UPDATE lsm_hash_churn SET n = n + 1;
VACUUM lsm_hash_churn;
UPDATE lsm_hash_churn SET n = n + 1;
VACUUM lsm_hash_churn;
UPDATE lsm_hash_churn SET n = n + 1;
VACUUM lsm_hash_churn;
UPDATE lsm_hash_churn SET n = n + 1;
VACUUM lsm_hash_churn;
UPDATE lsm_hash_churn SET n = n + 1;
VACUUM lsm_hash_churn;
SELECT pg_relation_size('lsm_hash_churn_id') <= 1.5 * :id_size0 AS id_bounded,
       pg_relation_size('lsm_hash_churn_n') <= 1.5 * :n_size0 AS n_bounded;
SELECT versions, dead_versions FROM lsm_info('lsm_hash_churn');
DELETE FROM lsm_hash_churn WHERE id % 4 <> 0;
VACUUM ANALYZE lsm_hash_churn;
SELECT versions, dead_versions FROM lsm_info('lsm_hash_churn');
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM lsm_hash_churn WHERE id = 400;
SELECT * FROM lsm_hash_churn WHERE id = 400;
SELECT * FROM lsm_hash_churn WHERE id = 401;
SELECT count(*), sum(id) FROM lsm_hash_churn WHERE n = 9;
RESET enable_bitmapscan;
SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_hash_churn WHERE n = 9;
SELECT count(*), sum(id) FROM lsm_hash_churn WHERE n = 9;
RESET enable_seqscan;
RESET enable_indexscan;
SELECT count(*), sum(id), min(n), max(n) FROM lsm_hash_churn;
SELECT lsm_check('lsm_hash_churn');
-- Everything deleted: VACUUM truncates the table, row ids start again from
-- (0,1), and no old index entry may point at the new rows.
UPDATE lsm_hash_churn SET n = n + 1;
VACUUM lsm_hash_churn;
DELETE FROM lsm_hash_churn;
VACUUM lsm_hash_churn;
SELECT pg_relation_size('lsm_hash_churn') = 0 AS truncated;
INSERT INTO lsm_hash_churn SELECT g, -1 FROM generate_series(100001, 110000) g;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT * FROM lsm_hash_churn WHERE id = 400;
SELECT count(*) FROM lsm_hash_churn WHERE n IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
SELECT count(*) FROM lsm_hash_churn WHERE n = -1;
RESET enable_bitmapscan;
SET enable_indexscan = off;
SELECT count(*) FROM lsm_hash_churn WHERE n IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
RESET enable_seqscan;
RESET enable_indexscan;
DROP TABLE lsm_hash_churn;

DROP TABLE lsm_hash;
