--
-- lsm_unlogged: unlogged lsm tables, and switching between logged and
-- unlogged (crash behaviour is tested by the TAP suite).
--
CREATE UNLOGGED TABLE unlog_t (id int PRIMARY KEY, v text, n int) USING lsm;
SELECT c.relpersistence, a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
 WHERE c.oid = 'unlog_t'::regclass;
-- its indexes and TOAST table are unlogged too
SELECT relname ~ '^pg_toast' AS is_toast, relkind, relpersistence
  FROM pg_class
 WHERE oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'unlog_t'::regclass)
    OR oid = (SELECT reltoastrelid FROM pg_class WHERE oid = 'unlog_t'::regclass)
 ORDER BY 1, 2;

-- the init fork of the table is empty (an empty relation is an empty table)
SELECT (pg_stat_file(pg_relation_filepath('unlog_t') || '_init')).size AS init_fork_size;

INSERT INTO unlog_t SELECT g, 'v' || g, g % 10 FROM generate_series(1, 2000) g;
SELECT (pg_stat_file(pg_relation_filepath('unlog_t') || '_init')).size AS init_fork_size;
CREATE INDEX unlog_t_n ON unlog_t (n);
UPDATE unlog_t SET v = v || '!' WHERE n = 3;
DELETE FROM unlog_t WHERE n = 4;
INSERT INTO unlog_t VALUES (5000, repeat('big', 100000), 0);
SELECT count(*), sum(id), count(*) FILTER (WHERE v LIKE '%!') AS updated FROM unlog_t;
SELECT id, length(v) FROM unlog_t WHERE id = 5000;
SET enable_seqscan = off;
SELECT id, v FROM unlog_t WHERE id BETWEEN 10 AND 15 ORDER BY id;
SELECT count(*) FROM unlog_t WHERE n = 3;
SELECT count(*) FROM unlog_t WHERE n = 4;
RESET enable_seqscan;
-- uniqueness is enforced
INSERT INTO unlog_t VALUES (10, 'dup', 0);
-- ON CONFLICT
INSERT INTO unlog_t VALUES (10, 'upsert', 0), (6000, 'new', 0)
  ON CONFLICT (id) DO UPDATE SET v = excluded.v RETURNING id, v;
VACUUM unlog_t;
SELECT count(*), sum(id) FROM unlog_t;
SELECT lsm_check('unlog_t');

-- a transaction and a savepoint rolled back
BEGIN;
DELETE FROM unlog_t;
SAVEPOINT s;
INSERT INTO unlog_t VALUES (1, 'x', 1);
ROLLBACK TO s;
SELECT count(*) FROM unlog_t;
ROLLBACK;
SELECT count(*) FROM unlog_t;

-- ---------------------------------------------------------------------
-- SET LOGGED / SET UNLOGGED rewrite the table with its data
-- ---------------------------------------------------------------------
ALTER TABLE unlog_t SET LOGGED;
SELECT c.relpersistence, a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
 WHERE c.oid = 'unlog_t'::regclass;
SELECT relname ~ '^pg_toast' AS is_toast, relkind, relpersistence
  FROM pg_class
 WHERE oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'unlog_t'::regclass)
    OR oid = (SELECT reltoastrelid FROM pg_class WHERE oid = 'unlog_t'::regclass)
 ORDER BY 1, 2;
SELECT pg_stat_file(pg_relation_filepath('unlog_t') || '_init', true) IS NULL AS no_init_fork;
SELECT count(*), sum(id) FROM unlog_t;
SELECT id, length(v) FROM unlog_t WHERE id = 5000;
SET enable_seqscan = off;
SELECT id, v FROM unlog_t WHERE id BETWEEN 10 AND 15 ORDER BY id;
RESET enable_seqscan;
SELECT lsm_check('unlog_t');
UPDATE unlog_t SET n = n + 100 WHERE id <= 100;
INSERT INTO unlog_t VALUES (7000, 'logged now', 7);

ALTER TABLE unlog_t SET UNLOGGED;
SELECT relpersistence FROM pg_class WHERE oid = 'unlog_t'::regclass;
SELECT (pg_stat_file(pg_relation_filepath('unlog_t') || '_init')).size AS init_fork_size;
SELECT count(*), sum(id), sum(n) FROM unlog_t;
SELECT * FROM unlog_t WHERE id = 7000;
SET enable_seqscan = off;
SELECT count(*) FROM unlog_t WHERE n >= 100;
RESET enable_seqscan;
SELECT lsm_check('unlog_t');

-- a rolled back SET LOGGED leaves the table unlogged, with its rows
BEGIN;
ALTER TABLE unlog_t SET LOGGED;
DELETE FROM unlog_t WHERE id > 1000;
ROLLBACK;
SELECT relpersistence FROM pg_class WHERE oid = 'unlog_t'::regclass;
SELECT count(*), sum(id) FROM unlog_t;

-- TRUNCATE and VACUUM FULL of an unlogged table
VACUUM FULL unlog_t;
SELECT relpersistence FROM pg_class WHERE oid = 'unlog_t'::regclass;
SELECT count(*), sum(id) FROM unlog_t;
SELECT lsm_check('unlog_t');
TRUNCATE unlog_t;
INSERT INTO unlog_t VALUES (1, 'after truncate', 1);
SELECT ctid, * FROM unlog_t;
SELECT lsm_check('unlog_t');
DROP TABLE unlog_t;

-- a logged table made unlogged and back, with a foreign key between an
-- unlogged lsm table and another unlogged table
CREATE TABLE unlog_a (id int PRIMARY KEY) USING lsm;
INSERT INTO unlog_a SELECT generate_series(1, 100);
ALTER TABLE unlog_a SET UNLOGGED;
CREATE UNLOGGED TABLE unlog_b (id int, a_id int REFERENCES unlog_a) USING lsm;
INSERT INTO unlog_b SELECT g, g FROM generate_series(1, 50) g;
INSERT INTO unlog_b VALUES (999, 999);
-- a logged table cannot reference an unlogged one
ALTER TABLE unlog_b SET LOGGED;
ALTER TABLE unlog_a SET LOGGED;
ALTER TABLE unlog_b SET LOGGED;
SELECT relname, relpersistence FROM pg_class
 WHERE relname IN ('unlog_a', 'unlog_b') ORDER BY relname;
SELECT count(*) FROM unlog_b JOIN unlog_a ON unlog_a.id = unlog_b.a_id;
SELECT lsm_check('unlog_a');
SELECT lsm_check('unlog_b');
DROP TABLE unlog_b, unlog_a;

-- CREATE UNLOGGED TABLE AS
CREATE UNLOGGED TABLE unlog_c USING lsm AS
  SELECT g AS id, g * 2 AS dbl FROM generate_series(1, 500) g;
SELECT relpersistence, (SELECT amname FROM pg_am WHERE oid = relam) AS am
  FROM pg_class WHERE oid = 'unlog_c'::regclass;
SELECT count(*), sum(dbl) FROM unlog_c;
SELECT lsm_check('unlog_c');
DROP TABLE unlog_c;

-- a flush frees the memtable pages of unlogged and temporary tables too
-- (their pages have no LSN to tell a change by; a flush used to keep every
-- page as an overlay page); deleted rows: see lsm_dead
CREATE UNLOGGED TABLE unlog_f (id int, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO unlog_f SELECT g, repeat('u', 100) FROM generate_series(1, 20000) g;
SELECT memtable_pages > 300 AS big_memtable FROM lsm_info('unlog_f');
SELECT lsm_compact('unlog_f') IS NOT NULL AS flushed;
SELECT memtable_pages, runs FROM lsm_info('unlog_f');
SELECT count(*), sum(id) FROM unlog_f;
SELECT lsm_check('unlog_f');
DROP TABLE unlog_f;
CREATE TEMP TABLE temp_f (id int, pad text) USING lsm;
INSERT INTO temp_f SELECT g, repeat('t', 100) FROM generate_series(1, 20000) g;
SELECT lsm_compact('temp_f') IS NOT NULL AS flushed;
SELECT memtable_pages, runs FROM lsm_info('temp_f');
SELECT count(*), sum(id) FROM temp_f;
SELECT lsm_check('temp_f');
DROP TABLE temp_f;
