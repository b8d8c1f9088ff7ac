--
-- lsm_errors: bad input gives clear errors and loses no data.
--
CREATE TABLE err_lsm (id int PRIMARY KEY, v text) USING lsm;
INSERT INTO err_lsm SELECT g, 'v' || g FROM generate_series(1, 100) g;
CREATE TABLE err_heap (id int) USING heap;
CREATE VIEW err_view AS SELECT * FROM err_lsm;
CREATE SEQUENCE err_seq;
CREATE MATERIALIZED VIEW err_mv USING lsm AS SELECT id FROM err_lsm WHERE id <= 10;
CREATE TABLE err_part (id int) PARTITION BY RANGE (id);

-- ---------------------------------------------------------------------
-- lsm_info and lsm_check on things that are not lsm tables
-- ---------------------------------------------------------------------
SELECT * FROM lsm_info('err_heap');
SELECT lsm_check('err_heap');
SELECT * FROM lsm_info('err_lsm_pkey');
SELECT lsm_check('err_lsm_pkey');
SELECT * FROM lsm_info('err_view');
SELECT lsm_check('err_view');
SELECT lsm_check('err_seq');
SELECT lsm_check('err_part');
SELECT lsm_check('pg_class');
SELECT lsm_check('no_such_table');
SELECT lsm_check(0);
SELECT lsm_check(NULL) IS NULL AS strict_null;
-- the TOAST table of an lsm table is a heap table
DO $$
BEGIN
  PERFORM lsm_check((SELECT reltoastrelid FROM pg_class WHERE oid = 'err_lsm'::regclass));
EXCEPTION WHEN wrong_object_type THEN
  RAISE NOTICE 'toast table refused: %', regexp_replace(SQLERRM, 'pg_toast_\d+', 'pg_toast_N');
END $$;
-- a materialized view stored with lsm is fine
SELECT format_version, live_versions FROM lsm_info('err_mv');
SELECT lsm_check('err_mv');
REFRESH MATERIALIZED VIEW err_mv;
SELECT count(*) FROM err_mv;
SELECT lsm_check('err_mv');

-- the functions are for superusers (and whoever they grant them to)
CREATE ROLE regress_lsm_errors_user;
GRANT SELECT ON err_lsm TO regress_lsm_errors_user;
SET ROLE regress_lsm_errors_user;
SELECT count(*) FROM err_lsm;
SELECT lsm_check('err_lsm');
SELECT runs FROM lsm_info('err_lsm');
RESET ROLE;
DROP OWNED BY regress_lsm_errors_user;
DROP ROLE regress_lsm_errors_user;

-- ---------------------------------------------------------------------
-- reloptions
-- ---------------------------------------------------------------------
CREATE TABLE err_opt (id int) USING lsm WITH (no_such_option = 1);
CREATE TABLE err_opt (id int) USING lsm WITH (fillfactor = 5);
CREATE TABLE err_opt (id int) USING lsm WITH (fillfactor = 101);
CREATE TABLE err_opt (id int) USING lsm WITH (fillfactor = 'abc');
ALTER TABLE err_lsm SET (no_such_option = 1);
ALTER TABLE err_lsm SET (fillfactor = 0);
SELECT count(*) FROM pg_class WHERE relname = 'err_opt';
-- valid ones are accepted
CREATE TABLE err_opt (id int) USING lsm WITH (fillfactor = 50, autovacuum_enabled = off);
SELECT reloptions FROM pg_class WHERE relname = 'err_opt';
ALTER TABLE err_opt SET (fillfactor = 70);
ALTER TABLE err_opt RESET (autovacuum_enabled);
SELECT reloptions FROM pg_class WHERE relname = 'err_opt';
INSERT INTO err_opt SELECT generate_series(1, 1000);
SELECT count(*) FROM err_opt;
SELECT lsm_check('err_opt');
DROP TABLE err_opt;
-- a partitioned table cannot have an access method
CREATE TABLE err_part2 (id int) PARTITION BY RANGE (id) USING lsm;
-- an unknown access method
CREATE TABLE err_am (id int) USING no_such_am;
CREATE TABLE err_am (id int) USING btree;

-- ---------------------------------------------------------------------
-- rows too big for a page
-- ---------------------------------------------------------------------
CREATE TABLE err_big (id int, v text, w text) USING lsm;
ALTER TABLE err_big ALTER COLUMN v SET STORAGE PLAIN;
INSERT INTO err_big VALUES (1, repeat('a', 100), 'small');
-- (the limit is 8152 bytes: 8 bytes less than heap, see doc/lsm-design.md)
INSERT INTO err_big VALUES (2, repeat('a', 9000), NULL);
UPDATE err_big SET v = repeat('b', 9000) WHERE id = 1;
INSERT INTO err_big VALUES (3, repeat('c', 8000), NULL);
-- incompressible, and PLAIN values are never compressed anyway
INSERT INTO err_big SELECT 4, string_agg(md5(g::text), '') FROM generate_series(1, 300) g;
-- the other column can still be toasted
INSERT INTO err_big VALUES (5, repeat('d', 4000), repeat(md5('w'), 5000));
COPY err_big FROM STDIN;
6	small	ok
7	\N	\N
\.
SELECT id, length(v), length(w) FROM err_big ORDER BY id;
SELECT lsm_check('err_big');
DROP TABLE err_big;

-- ---------------------------------------------------------------------
-- publications (the line numbers of the guard function are not interesting)
\set SHOW_CONTEXT never
-- ---------------------------------------------------------------------
-- (wal_level may be too low for logical decoding; its WARNING is hidden)
SET client_min_messages = error;
CREATE PUBLICATION err_pub FOR TABLE err_lsm;
CREATE PUBLICATION err_pub FOR TABLE err_heap, err_lsm;
SELECT count(*) FROM pg_publication WHERE pubname LIKE 'err_pub%';
CREATE PUBLICATION err_pub FOR TABLE err_heap;
ALTER PUBLICATION err_pub ADD TABLE err_lsm;
ALTER PUBLICATION err_pub SET TABLE err_lsm;
SELECT tablename FROM pg_publication_tables WHERE pubname = 'err_pub';
-- a schema with an lsm table cannot be published
CREATE SCHEMA err_s1;
CREATE TABLE err_s1.t (id int) USING lsm;
CREATE PUBLICATION err_pub_s FOR TABLES IN SCHEMA err_s1;
ALTER PUBLICATION err_pub ADD TABLES IN SCHEMA err_s1;
-- nor a partitioned table with an lsm partition
CREATE TABLE err_part_1 PARTITION OF err_part FOR VALUES FROM (0) TO (100) USING lsm;
INSERT INTO err_part VALUES (1);
CREATE PUBLICATION err_pub_p FOR TABLE err_part;
-- also not when the changes are published as the root's
DO $$
BEGIN
  CREATE PUBLICATION err_pub_v FOR TABLE err_part WITH (publish_via_partition_root = true);
EXCEPTION WHEN feature_not_supported THEN
  NULL;
END $$;
SELECT pubname FROM pg_publication WHERE pubname LIKE 'err_pub%' ORDER BY 1;
DROP PUBLICATION IF EXISTS err_pub_v;
RESET client_min_messages;
INSERT INTO err_part VALUES (2);
SELECT * FROM err_part ORDER BY id;

-- an lsm table that becomes part of a publication later refuses writes
SET client_min_messages = error;
CREATE SCHEMA err_s2;
CREATE PUBLICATION err_pub_s FOR TABLES IN SCHEMA err_s2;
RESET client_min_messages;
-- created in a published schema
CREATE TABLE err_s2.t (id int PRIMARY KEY, v text) USING lsm;
INSERT INTO err_s2.t VALUES (1, 'refused');
\set VERBOSITY terse
COPY err_s2.t FROM STDIN;
1	refused
\.
\set VERBOSITY default
CREATE TABLE err_s2.ctas USING lsm AS SELECT 1 AS id;
SELECT count(*) FROM pg_class WHERE relname = 'ctas'
   AND relnamespace = 'err_s2'::regnamespace;
SELECT count(*) FROM err_s2.t;
-- publications that do not include an lsm table are still fine
SET client_min_messages = error;
CREATE PUBLICATION err_pub_x FOR TABLE err_heap;
SELECT pubname FROM pg_publication WHERE pubname = 'err_pub_x';
DROP PUBLICATION IF EXISTS err_pub_x;
RESET client_min_messages;
-- moved into a published schema
CREATE TABLE err_move (id int PRIMARY KEY, v text) USING lsm;
INSERT INTO err_move VALUES (1, 'one'), (2, 'two');
ALTER TABLE err_move SET SCHEMA err_s2;
INSERT INTO err_s2.err_move VALUES (3, 'three');
UPDATE err_s2.err_move SET v = 'changed' WHERE id = 1;
DELETE FROM err_s2.err_move WHERE id = 2;
INSERT INTO err_s2.err_move VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET v = 'upsert';
INSERT INTO err_s2.err_move VALUES (4, 'x') ON CONFLICT DO NOTHING;
MERGE INTO err_s2.err_move m USING (VALUES (1), (5)) s(id) ON m.id = s.id
  WHEN MATCHED THEN UPDATE SET v = 'merged'
  WHEN NOT MATCHED THEN INSERT VALUES (s.id, 'merged');
-- statements that change nothing are fine, and so are reads and row locks
UPDATE err_s2.err_move SET v = 'none' WHERE id = 100;
DELETE FROM err_s2.err_move WHERE false;
SELECT id FROM err_s2.err_move ORDER BY id FOR UPDATE;
SELECT * FROM err_s2.err_move ORDER BY id;
SELECT lsm_check('err_s2.err_move');
-- a heap table in the published schema cannot become an lsm table
CREATE TABLE err_s2.h (id int PRIMARY KEY, v text) USING heap;
INSERT INTO err_s2.h VALUES (1, 'one'), (2, 'two');
DO $$
BEGIN
  ALTER TABLE err_s2.h SET ACCESS METHOD lsm;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'SET ACCESS METHOD lsm refused';
END $$;
SELECT a.amname, (SELECT count(*) FROM err_s2.h) AS n
  FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = 'err_s2.h'::regclass;
-- out of the publication, writes work again
ALTER PUBLICATION err_pub_s DROP TABLES IN SCHEMA err_s2;
INSERT INTO err_s2.err_move VALUES (3, 'three');
UPDATE err_s2.err_move SET v = 'changed' WHERE id = 1;
DELETE FROM err_s2.err_move WHERE id = 2;
SELECT * FROM err_s2.err_move ORDER BY id;
-- a table in a publication by name, switched to lsm: writes are refused
-- from then on
SET client_min_messages = error;
CREATE PUBLICATION err_pub_h FOR TABLE err_s2.h;
RESET client_min_messages;
ALTER TABLE err_s2.h SET ACCESS METHOD lsm;
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
 WHERE c.oid = 'err_s2.h'::regclass;
INSERT INTO err_s2.h VALUES (3, 'three');
SELECT * FROM err_s2.h ORDER BY id;
DROP PUBLICATION err_pub_h;
-- an lsm partition attached to a published partitioned table
SET client_min_messages = error;
CREATE TABLE err_part3 (id int) PARTITION BY RANGE (id);
CREATE TABLE err_part3_h PARTITION OF err_part3 FOR VALUES FROM (0) TO (10) USING heap;
CREATE PUBLICATION err_pub_p FOR TABLE err_part3 WITH (publish = 'insert');
RESET client_min_messages;
CREATE TABLE err_part3_l (id int) USING lsm;
INSERT INTO err_part3_l VALUES (15);
ALTER TABLE err_part3 ATTACH PARTITION err_part3_l FOR VALUES FROM (10) TO (20);
INSERT INTO err_part3 VALUES (5);
INSERT INTO err_part3 VALUES (16);
UPDATE err_part3 SET id = 17 WHERE id = 15;
DELETE FROM err_part3;
SELECT tableoid::regclass, id FROM err_part3 ORDER BY id;
DROP PUBLICATION err_pub, err_pub_s, err_pub_p;
INSERT INTO err_part3 VALUES (16);
SELECT tableoid::regclass, id FROM err_part3 ORDER BY id;
DROP TABLE err_part3;
DROP SCHEMA err_s1, err_s2 CASCADE;

-- ---------------------------------------------------------------------
-- default_table_access_method
-- ---------------------------------------------------------------------
SET default_table_access_method = lsm;
CREATE TABLE err_def (id int);
CREATE TABLE err_def_ctas AS SELECT generate_series(1, 10) AS id;
SELECT generate_series(1, 5) AS id INTO err_def_into;
CREATE TABLE err_def_heap (id int) USING heap;
CREATE TABLE err_def_part (id int) PARTITION BY LIST (id);
CREATE TABLE err_def_part_1 PARTITION OF err_def_part FOR VALUES IN (1);
SELECT c.relname, a.amname FROM pg_class c LEFT JOIN pg_am a ON a.oid = c.relam
 WHERE c.relname LIKE 'err_def%' ORDER BY c.relname;
INSERT INTO err_def VALUES (1), (2);
INSERT INTO err_def_part VALUES (1);
SELECT (SELECT count(*) FROM err_def) AS def, (SELECT count(*) FROM err_def_ctas) AS ctas,
       (SELECT count(*) FROM err_def_into) AS into_, (SELECT count(*) FROM err_def_part) AS part;
SELECT lsm_check('err_def'), lsm_check('err_def_ctas'), lsm_check('err_def_into'),
       lsm_check('err_def_part_1');
RESET default_table_access_method;
CREATE TABLE err_def_after (id int);
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'err_def_after';
SET default_table_access_method = no_such_am;
SET default_table_access_method = btree;
DROP TABLE err_def, err_def_ctas, err_def_into, err_def_heap, err_def_part, err_def_after;

-- ---------------------------------------------------------------------
-- after all of this the data is intact
-- ---------------------------------------------------------------------
-- failed statements in the middle of a transaction
BEGIN;
INSERT INTO err_lsm VALUES (101, 'ok');
INSERT INTO err_lsm VALUES (1, 'duplicate');
ROLLBACK;
INSERT INTO err_lsm VALUES (101, 'ok'), (1, 'duplicate');
UPDATE err_lsm SET id = 2 WHERE id = 1;
UPDATE err_lsm SET id = id + 1;
INSERT INTO err_lsm VALUES (NULL, 'null key');
SELECT count(*), sum(id), min(v), max(v) FROM err_lsm;
SET enable_seqscan = off;
SELECT * FROM err_lsm WHERE id IN (1, 50, 100, 101) ORDER BY id;
RESET enable_seqscan;
SELECT lsm_check('err_lsm');
DROP VIEW err_view;
DROP MATERIALIZED VIEW err_mv;
DROP TABLE err_lsm, err_heap, err_part;
DROP SEQUENCE err_seq;
