--
-- lsm_alter: table rewrites and other DDL on lsm tables.
--
-- ALTER TABLE rewrites (column type, volatile defaults, generated and
-- identity columns, SET LOGGED/UNLOGGED), SET ACCESS METHOD in both
-- directions, SET TABLESPACE, CREATE TABLE AS / SELECT INTO with
-- default_table_access_method = lsm, and materialized views USING lsm.
--

CREATE TABLE lsm_alt (id int PRIMARY KEY, num int, txt text, big text)
  USING lsm WITH (autovacuum_enabled = off);
CREATE INDEX lsm_alt_num ON lsm_alt (num);
CREATE INDEX lsm_alt_txt ON lsm_alt (txt) WHERE num % 2 = 0;
INSERT INTO lsm_alt
  SELECT g, g % 100, 't' || g,
         CASE WHEN g % 200 = 0
              THEN (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 300) i)
         END
    FROM generate_series(1, 2000) g;
UPDATE lsm_alt SET txt = txt || 'u' WHERE id % 4 = 0;
DELETE FROM lsm_alt WHERE id % 9 = 0;

CREATE FUNCTION lsm_alt_digest() RETURNS text LANGUAGE sql AS $$
  SELECT count(*) || ' rows ' ||
         md5(string_agg(id || ':' || num || ':' || txt || ':' || coalesce(md5(big), '-'),
                        ',' ORDER BY id))
    FROM lsm_alt
$$;
SELECT lsm_alt_digest() AS digest0 \gset
SELECT lsm_alt_digest();
SELECT relfilenode AS node0 FROM pg_class WHERE relname = 'lsm_alt' \gset

--
-- Rewrites by ALTER TABLE.
--
ALTER TABLE lsm_alt ALTER COLUMN num TYPE bigint;
SELECT relfilenode <> :node0 AS rewritten, amname
  FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE relname = 'lsm_alt';
SELECT lsm_alt_digest() = :'digest0' AS same_rows;
SELECT min(ctid) AS first_tid, versions = live_versions AS only_live
  FROM lsm_alt, lsm_info('lsm_alt') GROUP BY versions, live_versions;
SELECT lsm_check('lsm_alt');
SELECT atttypid::regtype FROM pg_attribute WHERE attrelid = 'lsm_alt'::regclass AND attname = 'num';
ALTER TABLE lsm_alt ALTER COLUMN txt TYPE varchar(20) USING upper(txt);
SELECT id, num, txt FROM lsm_alt WHERE id IN (1, 4, 9, 10) ORDER BY id;
ALTER TABLE lsm_alt ALTER COLUMN txt TYPE text USING lower(txt);
SELECT lsm_alt_digest() = :'digest0' AS same_rows;
ALTER TABLE lsm_alt ALTER COLUMN num TYPE int USING num::int;
-- A type change that fails half-way leaves the table as it was.
ALTER TABLE lsm_alt ALTER COLUMN txt TYPE int USING txt::int;
SELECT lsm_alt_digest() = :'digest0' AS same_rows;
VACUUM ANALYZE lsm_alt;
-- The rebuilt indexes are used.
EXPLAIN (COSTS OFF) SELECT * FROM lsm_alt WHERE id = 500;
SELECT id, num, txt FROM lsm_alt WHERE id = 500;
EXPLAIN (COSTS OFF) SELECT id FROM lsm_alt WHERE txt = 't502' AND num % 2 = 0;
SELECT id FROM lsm_alt WHERE txt = 't502' AND num % 2 = 0;
SET enable_seqscan = off;
SELECT count(*), sum(id) FROM lsm_alt WHERE num = 42;
RESET enable_seqscan;
SELECT count(*), sum(id) FROM lsm_alt WHERE num = 42;

-- A constant default is stored in the catalog, no rewrite; a volatile one
-- rewrites the table.
SELECT relfilenode AS node1 FROM pg_class WHERE relname = 'lsm_alt' \gset
ALTER TABLE lsm_alt ADD COLUMN fixed text DEFAULT 'fixed';
SELECT relfilenode = :node1 AS not_rewritten FROM pg_class WHERE relname = 'lsm_alt';
CREATE SEQUENCE lsm_alt_seq;
ALTER TABLE lsm_alt ADD COLUMN seq int DEFAULT nextval('lsm_alt_seq');
SELECT relfilenode <> :node1 AS rewritten FROM pg_class WHERE relname = 'lsm_alt';
SELECT count(*), count(DISTINCT seq), min(seq), max(seq), min(fixed), max(fixed) FROM lsm_alt;
ALTER TABLE lsm_alt ADD COLUMN ts timestamptz DEFAULT clock_timestamp();
SELECT count(ts) = count(*) AS all_set FROM lsm_alt;
ALTER TABLE lsm_alt ADD COLUMN gen int GENERATED ALWAYS AS (num * 2) STORED;
ALTER TABLE lsm_alt ADD COLUMN ident int GENERATED ALWAYS AS IDENTITY;
SELECT count(*), sum(gen) = 2 * sum(num) AS gen_ok, count(DISTINCT ident) FROM lsm_alt;
INSERT INTO lsm_alt (id, num, txt) VALUES (5000, 1, 'after') RETURNING fixed, gen, seq > 0 AS has_seq;
ALTER TABLE lsm_alt DROP COLUMN ts, DROP COLUMN seq, DROP COLUMN gen, DROP COLUMN ident,
  DROP COLUMN fixed;
DELETE FROM lsm_alt WHERE id = 5000;
SELECT lsm_alt_digest() = :'digest0' AS same_rows;
SELECT lsm_check('lsm_alt');

-- Scans for new constraints.
ALTER TABLE lsm_alt ADD CONSTRAINT lsm_alt_num_check CHECK (num < 50);
ALTER TABLE lsm_alt ADD CONSTRAINT lsm_alt_num_check CHECK (num < 100);
ALTER TABLE lsm_alt ALTER COLUMN big SET NOT NULL;
ALTER TABLE lsm_alt ALTER COLUMN txt SET NOT NULL;
INSERT INTO lsm_alt (id, num, txt) VALUES (5001, 100, 'x');
INSERT INTO lsm_alt (id, num) VALUES (5001, 1);
ALTER TABLE lsm_alt DROP CONSTRAINT lsm_alt_num_check;

-- SET UNLOGGED and SET LOGGED rewrite the table.
ALTER TABLE lsm_alt SET UNLOGGED;
SELECT relpersistence, amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam
 WHERE relname = 'lsm_alt';
SELECT lsm_alt_digest() = :'digest0' AS same_rows;
UPDATE lsm_alt SET num = num WHERE id = 1;
ALTER TABLE lsm_alt SET LOGGED;
SELECT relpersistence FROM pg_class WHERE relname = 'lsm_alt';
SELECT lsm_alt_digest() = :'digest0' AS same_rows;
SELECT lsm_check('lsm_alt');

--
-- SET ACCESS METHOD: heap to lsm and back.
--
CREATE TABLE lsm_alt_am (id int PRIMARY KEY, v text, n int UNIQUE, w int,
  CHECK (n >= 0))
  USING heap WITH (autovacuum_enabled = off);
CREATE INDEX lsm_alt_am_v ON lsm_alt_am (v);
INSERT INTO lsm_alt_am SELECT g, 'v' || (g % 50), g, g FROM generate_series(1, 1500) g;
DELETE FROM lsm_alt_am WHERE id % 10 = 0;
UPDATE lsm_alt_am SET v = v || '*' WHERE id % 7 = 0;
CREATE VIEW lsm_alt_am_digest AS
  SELECT count(*) AS n, sum(id) AS ids, md5(string_agg(id || v || n, ',' ORDER BY id)) AS digest
    FROM lsm_alt_am;
SELECT * FROM lsm_alt_am_digest;
ALTER TABLE lsm_alt_am SET ACCESS METHOD lsm;
SELECT amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE relname = 'lsm_alt_am';
SELECT * FROM lsm_alt_am_digest;
SELECT lsm_check('lsm_alt_am');
SELECT versions, dead_versions FROM lsm_info('lsm_alt_am');
SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'lsm_alt_am'::regclass ORDER BY 1;
VACUUM ANALYZE lsm_alt_am;
EXPLAIN (COSTS OFF) SELECT * FROM lsm_alt_am WHERE v = 'v7*';
SELECT count(*), sum(id) FROM lsm_alt_am WHERE v = 'v7*';
INSERT INTO lsm_alt_am VALUES (1, 'dup', 99999, 0);
INSERT INTO lsm_alt_am VALUES (99999, 'dup', 1, 0);
INSERT INTO lsm_alt_am VALUES (99999, 'neg', -1, 0);
INSERT INTO lsm_alt_am VALUES (2000, 'new', 2000, 2000);
-- Changed as lsm, then back to heap.
UPDATE lsm_alt_am SET n = n + 100000 WHERE id % 3 = 0;
DELETE FROM lsm_alt_am WHERE id % 11 = 0;
SELECT * FROM lsm_alt_am_digest \gset digest_lsm_
ALTER TABLE lsm_alt_am SET ACCESS METHOD heap;
SELECT amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE relname = 'lsm_alt_am';
SELECT (n, ids, digest) = (:digest_lsm_n, :digest_lsm_ids, :'digest_lsm_digest') AS same_rows
  FROM lsm_alt_am_digest;
SELECT * FROM lsm_alt_am_digest;
-- And once more to lsm, within a transaction that is rolled back.
BEGIN;
ALTER TABLE lsm_alt_am SET ACCESS METHOD lsm;
INSERT INTO lsm_alt_am VALUES (3000, 'rolled back', 3000, 3000);
SELECT amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE relname = 'lsm_alt_am';
ROLLBACK;
SELECT amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE relname = 'lsm_alt_am';
SELECT * FROM lsm_alt_am_digest;
-- SET ACCESS METHOD together with another rewrite.
ALTER TABLE lsm_alt_am SET ACCESS METHOD lsm, ALTER COLUMN w TYPE bigint;
SELECT * FROM lsm_alt_am_digest;
SELECT count(*), sum(w) FROM lsm_alt_am;
SELECT lsm_check('lsm_alt_am');
-- Not on a partitioned table in PostgreSQL 15.
CREATE TABLE lsm_alt_parted (a int) PARTITION BY LIST (a);
ALTER TABLE lsm_alt_parted SET ACCESS METHOD lsm;
DROP TABLE lsm_alt_parted;

--
-- SET TABLESPACE with an in-place tablespace.
--
SET allow_in_place_tablespaces = on;
CREATE TABLESPACE lsm_regress_tblspc LOCATION '';
RESET allow_in_place_tablespaces;
VACUUM ANALYZE lsm_alt;
SELECT relfilenode AS node2 FROM pg_class WHERE relname = 'lsm_alt' \gset
ALTER TABLE lsm_alt SET TABLESPACE lsm_regress_tblspc;
SELECT t.spcname, c.relfilenode <> :node2 AS new_file
  FROM pg_class c JOIN pg_tablespace t ON t.oid = c.reltablespace
 WHERE c.relname = 'lsm_alt';
-- The visibility map moved with the table.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT id FROM lsm_alt WHERE id < 500;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT lsm_alt_digest() = :'digest0' AS same_rows;
SELECT lsm_check('lsm_alt');
ALTER INDEX lsm_alt_pkey SET TABLESPACE lsm_regress_tblspc;
INSERT INTO lsm_alt (id, num, txt) VALUES (6000, 1, 'in tablespace');
UPDATE lsm_alt SET txt = 'moved' WHERE id = 6000;
SET enable_seqscan = off;
SELECT id, txt FROM lsm_alt WHERE id = 6000;
RESET enable_seqscan;
DELETE FROM lsm_alt WHERE id = 6000;
VACUUM lsm_alt;
SELECT lsm_check('lsm_alt');
-- Tables and materialized views created directly in the tablespace.
CREATE TABLE lsm_alt_ts (a int PRIMARY KEY, b text) USING lsm TABLESPACE lsm_regress_tblspc;
INSERT INTO lsm_alt_ts SELECT g, 'b' || g FROM generate_series(1, 500) g;
VACUUM FULL lsm_alt_ts;
SELECT count(*), sum(a) FROM lsm_alt_ts;
SELECT lsm_check('lsm_alt_ts');
CREATE MATERIALIZED VIEW lsm_alt_ts_mv USING lsm TABLESPACE lsm_regress_tblspc AS
  SELECT a, b FROM lsm_alt_ts WHERE a <= 10;
SELECT count(*) FROM lsm_alt_ts_mv;
ALTER TABLE ALL IN TABLESPACE lsm_regress_tblspc SET TABLESPACE pg_default;
ALTER MATERIALIZED VIEW ALL IN TABLESPACE lsm_regress_tblspc SET TABLESPACE pg_default;
ALTER INDEX ALL IN TABLESPACE lsm_regress_tblspc SET TABLESPACE pg_default;
SELECT count(*) FROM pg_class WHERE reltablespace =
  (SELECT oid FROM pg_tablespace WHERE spcname = 'lsm_regress_tblspc');
SELECT count(*), sum(a) FROM lsm_alt_ts;
SELECT count(*) FROM lsm_alt_ts_mv;
SELECT lsm_alt_digest() = :'digest0' AS same_rows;
SELECT lsm_check('lsm_alt'), lsm_check('lsm_alt_ts'), lsm_check('lsm_alt_ts_mv');
DROP TABLESPACE lsm_regress_tblspc;
DROP MATERIALIZED VIEW lsm_alt_ts_mv;
DROP TABLE lsm_alt_ts;

--
-- CREATE TABLE AS and SELECT INTO with default_table_access_method = lsm.
--
SET default_table_access_method = lsm;
CREATE TABLE lsm_alt_ctas AS SELECT id, num, txt FROM lsm_alt WHERE num < 10;
SELECT * INTO lsm_alt_into FROM lsm_alt WHERE num >= 90;
CREATE TABLE lsm_alt_ctas_empty AS SELECT * FROM lsm_alt WITH NO DATA;
CREATE TABLE lsm_alt_ctas_heap USING heap AS SELECT id FROM lsm_alt LIMIT 3;
CREATE UNLOGGED TABLE lsm_alt_ctas_unlogged AS SELECT id, txt FROM lsm_alt WHERE id < 100;
RESET default_table_access_method;
SELECT c.relname, am.amname, c.relpersistence
  FROM pg_class c JOIN pg_am am ON am.oid = c.relam
 WHERE c.relname LIKE 'lsm\_alt\_ctas%' OR c.relname = 'lsm_alt_into'
 ORDER BY c.relname;
SELECT count(*), sum(id), sum(num) FROM lsm_alt_ctas;
SELECT count(*), sum(id), count(big) FROM lsm_alt_into;
SELECT count(*) FROM lsm_alt_ctas_empty;
SELECT count(*), sum(id) FROM lsm_alt_ctas_unlogged;
INSERT INTO lsm_alt_ctas_empty SELECT * FROM lsm_alt WHERE id < 10;
SELECT count(*) FROM lsm_alt_ctas_empty;
SELECT lsm_check('lsm_alt_ctas'), lsm_check('lsm_alt_into'), lsm_check('lsm_alt_ctas_empty'),
       lsm_check('lsm_alt_ctas_unlogged');
DROP TABLE lsm_alt_ctas, lsm_alt_into, lsm_alt_ctas_empty, lsm_alt_ctas_heap,
  lsm_alt_ctas_unlogged;

--
-- Materialized views USING lsm.
--
CREATE MATERIALIZED VIEW lsm_alt_mv USING lsm AS
  SELECT num, count(*) AS cnt, sum(id) AS total FROM lsm_alt GROUP BY num;
CREATE MATERIALIZED VIEW lsm_alt_mv_nodata USING lsm AS
  SELECT id FROM lsm_alt WITH NO DATA;
SELECT c.relname, am.amname, c.relispopulated
  FROM pg_class c JOIN pg_am am ON am.oid = c.relam
 WHERE c.relname LIKE 'lsm\_alt\_mv%' ORDER BY 1;
SELECT count(*), sum(cnt), sum(total) FROM lsm_alt_mv;
SELECT * FROM lsm_alt_mv_nodata;
REFRESH MATERIALIZED VIEW lsm_alt_mv_nodata;
SELECT count(*) FROM lsm_alt_mv_nodata;
-- Changes show up after REFRESH.
UPDATE lsm_alt SET num = 1000 WHERE id <= 50;
DELETE FROM lsm_alt WHERE id BETWEEN 51 AND 60;
SELECT cnt, total FROM lsm_alt_mv WHERE num = 1000;
REFRESH MATERIALIZED VIEW lsm_alt_mv;
SELECT cnt, total FROM lsm_alt_mv WHERE num = 1000;
SELECT count(*), sum(cnt), sum(total) FROM lsm_alt_mv;
SELECT amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE relname = 'lsm_alt_mv';
-- REFRESH CONCURRENTLY needs a unique index and keeps the view readable.
REFRESH MATERIALIZED VIEW CONCURRENTLY lsm_alt_mv;
CREATE UNIQUE INDEX lsm_alt_mv_num ON lsm_alt_mv (num);
UPDATE lsm_alt SET num = 2000 WHERE id BETWEEN 61 AND 70;
DELETE FROM lsm_alt WHERE num = 1000;
INSERT INTO lsm_alt (id, num, txt) VALUES (7000, 3000, 'new group');
REFRESH MATERIALIZED VIEW CONCURRENTLY lsm_alt_mv;
SELECT num, cnt, total FROM lsm_alt_mv WHERE num >= 1000 ORDER BY num;
SELECT count(*), sum(cnt), sum(total) FROM lsm_alt_mv;
SELECT count(*), sum(cnt), sum(total)
  FROM (SELECT num, count(*) AS cnt, sum(id) AS total FROM lsm_alt GROUP BY num) s;
REFRESH MATERIALIZED VIEW CONCURRENTLY lsm_alt_mv;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM lsm_alt_mv WHERE num = 2000;
SELECT * FROM lsm_alt_mv WHERE num = 2000;
RESET enable_seqscan;
SELECT lsm_check('lsm_alt_mv'), lsm_check('lsm_alt_mv_nodata');
-- Refresh WITH NO DATA empties it; CLUSTER and VACUUM FULL work on it.
REFRESH MATERIALIZED VIEW lsm_alt_mv_nodata WITH NO DATA;
SELECT count(*) FROM lsm_alt_mv_nodata;
CLUSTER lsm_alt_mv USING lsm_alt_mv_num;
VACUUM FULL lsm_alt_mv;
SELECT count(*), sum(cnt), sum(total) FROM lsm_alt_mv;
SELECT lsm_check('lsm_alt_mv');
DROP MATERIALIZED VIEW lsm_alt_mv, lsm_alt_mv_nodata;

SELECT lsm_check('lsm_alt'), lsm_check('lsm_alt_am');
DROP VIEW lsm_alt_am_digest;
DROP TABLE lsm_alt, lsm_alt_am;
DROP FUNCTION lsm_alt_digest();
DROP SEQUENCE lsm_alt_seq;
