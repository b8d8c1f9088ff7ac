--
-- lsm_cluster: CLUSTER and VACUUM FULL on lsm tables.
--
-- Both copy the versions some snapshot may still see into a new relation:
-- the rows are unchanged, row ids start again from (0,1), dead versions
-- are gone, indexes are rebuilt and used, toasted values and tables with
-- dropped columns survive.
--

CREATE TABLE lsm_clu (id int PRIMARY KEY, grp int NOT NULL, name text,
                      big text, extra int DEFAULT 7)
  USING lsm WITH (autovacuum_enabled = off);
CREATE INDEX lsm_clu_grp ON lsm_clu (grp, id);
CREATE INDEX lsm_clu_lower ON lsm_clu (lower(name));
-- Insert in an order unrelated to the clustering key.
INSERT INTO lsm_clu (id, grp, name, big)
  SELECT g, (g * 7919) % 13, 'Name' || g,
         CASE WHEN g % 100 = 0
              THEN (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 300) i)
         END
    FROM generate_series(1, 3000) g
   ORDER BY (g * 7919) % 3001;
UPDATE lsm_clu SET name = name || '!' WHERE id % 3 = 0;
DELETE FROM lsm_clu WHERE id % 7 = 0;

-- Fingerprint of the contents, to compare after each rewrite.
CREATE VIEW lsm_clu_digest AS
  SELECT count(*) AS n, sum(id) AS ids,
         md5(string_agg(id || ':' || grp || ':' || name || ':' || coalesce(md5(big), '-')
                        || ':' || extra, ',' ORDER BY id)) AS digest,
         count(big) AS toasted, sum(length(big)) AS big_len
    FROM lsm_clu;
SELECT * FROM lsm_clu_digest;
SELECT dead_versions > 0 AS has_dead FROM lsm_info('lsm_clu');
SELECT pg_relation_size(reltoastrelid) > 0 AS toast_used FROM pg_class WHERE relname = 'lsm_clu';
SELECT relfilenode AS relfilenode0 FROM pg_class WHERE relname = 'lsm_clu' \gset

--
-- CLUSTER with an index.
--
CLUSTER lsm_clu USING lsm_clu_grp;
SELECT * FROM lsm_clu_digest;
SELECT relfilenode <> :relfilenode0 AS rewritten FROM pg_class WHERE relname = 'lsm_clu';
SELECT versions, live_versions, dead_versions FROM lsm_info('lsm_clu');
SELECT lsm_check('lsm_clu');
-- Row ids start from (0,1), in index order.
SELECT ctid, grp, id FROM lsm_clu ORDER BY ctid LIMIT 5;
SELECT min(ctid) AS first_tid FROM lsm_clu;
SELECT count(*) AS out_of_order
  FROM (SELECT grp, id, lag(grp) OVER w AS pgrp, lag(id) OVER w AS pid
          FROM lsm_clu WINDOW w AS (ORDER BY ctid)) s
 WHERE (pgrp, pid) > (grp, id);
SELECT c.relname, i.indisclustered
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'lsm_clu'::regclass
 ORDER BY c.relname;

-- The rebuilt indexes are used and right.
VACUUM ANALYZE lsm_clu;
EXPLAIN (COSTS OFF) SELECT * FROM lsm_clu WHERE id = 1234;
SELECT id, grp, name, extra FROM lsm_clu WHERE id = 1234;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT grp, id FROM lsm_clu WHERE grp = 5 AND id < 200;
SELECT id FROM lsm_clu WHERE grp = 5 AND id < 200 ORDER BY id;
EXPLAIN (COSTS OFF) SELECT id FROM lsm_clu WHERE lower(name) = 'name2001';
SELECT id FROM lsm_clu WHERE lower(name) = 'name2001';
SELECT id FROM lsm_clu WHERE lower(name) = 'name2000';
SELECT id FROM lsm_clu WHERE lower(name) = 'name2001!';
SELECT id FROM lsm_clu WHERE lower(name) = 'name2001';
-- Constraints still hold, and the table takes changes.
INSERT INTO lsm_clu (id, grp, name) VALUES (1, 0, 'dup');
INSERT INTO lsm_clu (id, grp, name) VALUES (7, 0, 'seven');
UPDATE lsm_clu SET grp = 99 WHERE id = 8;
DELETE FROM lsm_clu WHERE id = 9;
SELECT id, grp, name FROM lsm_clu WHERE id BETWEEN 6 AND 10 ORDER BY id;

-- CLUSTER again, using the remembered index.
CLUSTER lsm_clu;
SELECT * FROM lsm_clu_digest;
SELECT ctid, grp, id FROM lsm_clu ORDER BY ctid LIMIT 3;
SELECT lsm_check('lsm_clu');
-- Cluster on the primary key instead.
CLUSTER lsm_clu USING lsm_clu_pkey;
SELECT ctid, id FROM lsm_clu ORDER BY ctid LIMIT 3;
SELECT count(*) AS out_of_order
  FROM (SELECT id, lag(id) OVER (ORDER BY ctid) AS pid FROM lsm_clu) s
 WHERE pid > id;
SELECT c.relname, i.indisclustered
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'lsm_clu'::regclass
 ORDER BY c.relname;
-- CLUSTER reads through the index, or sorts a sequential scan, by cost.
SET enable_sort = off;
CLUSTER lsm_clu USING lsm_clu_grp;
RESET enable_sort;
SELECT * FROM lsm_clu_digest;
SELECT count(*) AS out_of_order
  FROM (SELECT grp, id, lag(grp) OVER w AS pgrp, lag(id) OVER w AS pid
          FROM lsm_clu WINDOW w AS (ORDER BY ctid)) s
 WHERE (pgrp, pid) > (grp, id);
SET enable_indexscan = off;
CLUSTER lsm_clu USING lsm_clu_lower;
RESET enable_indexscan;
SELECT * FROM lsm_clu_digest;
SELECT count(*) AS out_of_order
  FROM (SELECT name, lag(name) OVER (ORDER BY ctid) AS pname FROM lsm_clu) s
 WHERE lower(pname) > lower(name);
SELECT lsm_check('lsm_clu');
ALTER TABLE lsm_clu SET WITHOUT CLUSTER;
CLUSTER lsm_clu;
-- A partial index cannot be clustered on.
CREATE INDEX lsm_clu_partial ON lsm_clu (id) WHERE grp = 1;
CLUSTER lsm_clu USING lsm_clu_partial;
DROP INDEX lsm_clu_partial;

--
-- VACUUM FULL.
--
UPDATE lsm_clu SET extra = extra + 1 WHERE id % 2 = 0;
DELETE FROM lsm_clu WHERE id % 11 = 0;
SELECT * FROM lsm_clu_digest;
SELECT relfilenode AS relfilenode1 FROM pg_class WHERE relname = 'lsm_clu' \gset
VACUUM FULL lsm_clu;
SELECT * FROM lsm_clu_digest;
SELECT relfilenode <> :relfilenode1 AS rewritten,
       pg_relation_size(reltoastrelid) > 0 AS toast_used
  FROM pg_class WHERE relname = 'lsm_clu';
SELECT versions = live_versions AS only_live, dead_versions FROM lsm_info('lsm_clu');
SELECT min(ctid) AS first_tid FROM lsm_clu;
SELECT lsm_check('lsm_clu');
VACUUM FULL ANALYZE lsm_clu;
VACUUM (FULL, FREEZE) lsm_clu;
SELECT * FROM lsm_clu_digest;
VACUUM ANALYZE lsm_clu;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT id FROM lsm_clu WHERE id BETWEEN 100 AND 130;
SET enable_seqscan = off;
SELECT count(*), sum(id) FROM lsm_clu WHERE grp = 3;
SELECT count(*) FROM lsm_clu WHERE lower(name) LIKE 'name1%' AND lower(name) >= 'name1' AND lower(name) < 'name2';
RESET enable_seqscan;
SELECT count(*), sum(id) FROM lsm_clu WHERE grp = 3;
SELECT count(*) FROM lsm_clu WHERE lower(name) LIKE 'name1%' AND lower(name) >= 'name1' AND lower(name) < 'name2';

--
-- Versions some snapshot may still see survive the rewrite: hold back the
-- horizon with a prepared transaction.
--
CREATE TABLE lsm_clu_aux (a int) USING lsm;
BEGIN;
INSERT INTO lsm_clu_aux VALUES (1);
PREPARE TRANSACTION 'lsm_cluster_hold';
UPDATE lsm_clu SET extra = -1 WHERE id <= 100;
DELETE FROM lsm_clu WHERE id BETWEEN 101 AND 200;
VACUUM FULL lsm_clu;
SELECT recently_dead_versions > 0 AS kept_recently_dead, dead_versions
  FROM lsm_info('lsm_clu');
SELECT lsm_check('lsm_clu');
SELECT * FROM lsm_clu_digest;
COMMIT PREPARED 'lsm_cluster_hold';
CLUSTER lsm_clu USING lsm_clu_pkey;
SELECT recently_dead_versions, dead_versions FROM lsm_info('lsm_clu');
SELECT * FROM lsm_clu_digest;
SELECT lsm_check('lsm_clu');
DROP TABLE lsm_clu_aux;

--
-- Dropped columns.
--
DROP VIEW lsm_clu_digest;
ALTER TABLE lsm_clu DROP COLUMN extra;
ALTER TABLE lsm_clu ADD COLUMN later text DEFAULT 'later';
ALTER TABLE lsm_clu DROP COLUMN name;
SELECT count(*), sum(id), count(big), min(later), max(later) FROM lsm_clu;
VACUUM FULL lsm_clu;
SELECT count(*), sum(id), count(big), min(later), max(later) FROM lsm_clu;
SELECT md5(string_agg(id || ':' || grp || ':' || coalesce(md5(big), '-') || later, ',' ORDER BY id))
  FROM lsm_clu;
CLUSTER lsm_clu USING lsm_clu_grp;
SELECT md5(string_agg(id || ':' || grp || ':' || coalesce(md5(big), '-') || later, ',' ORDER BY id))
  FROM lsm_clu;
SELECT attname, attisdropped FROM pg_attribute
 WHERE attrelid = 'lsm_clu'::regclass AND attnum > 0 ORDER BY attnum;
INSERT INTO lsm_clu (id, grp, big) VALUES (100000, 1, repeat('x', 10000));
SELECT id, grp, length(big), later FROM lsm_clu WHERE id = 100000;
SELECT lsm_check('lsm_clu');
DROP TABLE lsm_clu;

-- CLUSTER and VACUUM FULL of an empty table and of a table never written.
CREATE TABLE lsm_clu_empty (a int PRIMARY KEY) USING lsm;
VACUUM FULL lsm_clu_empty;
CLUSTER lsm_clu_empty USING lsm_clu_empty_pkey;
INSERT INTO lsm_clu_empty VALUES (1), (2);
DELETE FROM lsm_clu_empty;
VACUUM FULL lsm_clu_empty;
SELECT count(*) FROM lsm_clu_empty;
INSERT INTO lsm_clu_empty VALUES (2), (1);
CLUSTER lsm_clu_empty;
SELECT ctid, a FROM lsm_clu_empty ORDER BY ctid;
SELECT lsm_check('lsm_clu_empty');
DROP TABLE lsm_clu_empty;
