--
-- lsm_dml: INSERT, UPDATE and DELETE on lsm tables give the same results
-- as on heap tables.
--

-- ---------------------------------------------------------------------
-- INSERT
-- ---------------------------------------------------------------------
CREATE TABLE dml_t (id int, name text, qty int) USING lsm;

SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
 WHERE c.oid = 'dml_t'::regclass;

-- an empty table
SELECT count(*) FROM dml_t;
SELECT * FROM dml_t;

INSERT INTO dml_t VALUES (1, 'one', 10);
INSERT INTO dml_t VALUES (2, 'two', 20), (3, 'three', 30), (4, NULL, NULL);
INSERT INTO dml_t (name, id) VALUES ('five', 5);
INSERT INTO dml_t DEFAULT VALUES;
INSERT INTO dml_t SELECT g, 'gen' || g, g * 10 FROM generate_series(6, 10) g;
SELECT * FROM dml_t ORDER BY id NULLS FIRST;

-- RETURNING, with expressions and system columns other than xmin/xmax
INSERT INTO dml_t VALUES (11, 'eleven', 110)
  RETURNING id, upper(name), qty * 2 AS dbl,
            tableoid::regclass, ctid IS NOT NULL AS has_ctid;
INSERT INTO dml_t SELECT id + 100, name, qty FROM dml_t WHERE id <= 3
  RETURNING *;
-- INSERT ... SELECT from itself
INSERT INTO dml_t SELECT id + 1000, name, qty FROM dml_t WHERE id > 100;
SELECT count(*), sum(id), count(name), count(qty) FROM dml_t;

-- ctid values are distinct and name the rows
SELECT count(DISTINCT ctid) = count(*) AS ctids_unique FROM dml_t;
SELECT t.id FROM dml_t t
 WHERE t.ctid = (SELECT ctid FROM dml_t WHERE id = 7);

-- TIDs in a fresh table are handed out in order; an UPDATE writes the new
-- version under a new TID
CREATE TABLE dml_tid (a int, b text) USING lsm;
INSERT INTO dml_tid VALUES (1, 'a'), (2, 'b'), (3, 'c');
SELECT ctid, * FROM dml_tid ORDER BY a;
UPDATE dml_tid SET b = 'B' WHERE a = 2 RETURNING ctid, *;
SELECT ctid, * FROM dml_tid ORDER BY a;
DROP TABLE dml_tid;

-- NULL handling
SELECT id FROM dml_t WHERE name IS NULL ORDER BY id NULLS FIRST;
SELECT id FROM dml_t WHERE qty IS NOT DISTINCT FROM NULL ORDER BY id NULLS FIRST;

-- ---------------------------------------------------------------------
-- UPDATE
-- ---------------------------------------------------------------------
UPDATE dml_t SET qty = qty + 1 WHERE id BETWEEN 2 AND 3 RETURNING *;
UPDATE dml_t SET name = 'null-name' WHERE name IS NULL RETURNING id, name;
UPDATE dml_t SET qty = 0 WHERE id = -1;  -- no rows
SELECT * FROM dml_t WHERE id <= 11 ORDER BY id NULLS FIRST;

-- every row
UPDATE dml_t SET qty = coalesce(qty, 0) + 1000;
SELECT count(*), sum(qty), min(qty) FROM dml_t;

-- a new version gets a new ctid; the old ctid no longer finds the row
CREATE TEMP TABLE dml_old_ctid AS SELECT ctid AS c FROM dml_t WHERE id = 1;
UPDATE dml_t SET name = 'uno' WHERE id = 1;
SELECT (SELECT c FROM dml_old_ctid) <> ctid AS new_ctid FROM dml_t WHERE id = 1;
SELECT count(*) FROM dml_t WHERE ctid = (SELECT c FROM dml_old_ctid);
DROP TABLE dml_old_ctid;

-- the same row updated many times in one transaction
BEGIN;
UPDATE dml_t SET qty = 0 WHERE id = 5;
DO $$
BEGIN
  FOR i IN 1..500 LOOP
    UPDATE dml_t SET qty = qty + 1 WHERE id = 5;
  END LOOP;
END $$;
SELECT id, qty FROM dml_t WHERE id = 5;
SELECT count(*) FROM dml_t WHERE id = 5;
COMMIT;
SELECT id, qty FROM dml_t WHERE id = 5;
SELECT count(*), count(DISTINCT ctid) FROM dml_t;

-- UPDATE ... FROM
CREATE TABLE dml_price (id int, price numeric) USING lsm;
INSERT INTO dml_price VALUES (1, 1.5), (2, 2.5), (3, 3.5), (99, 0);
UPDATE dml_t t SET qty = t.qty * p.price
  FROM dml_price p WHERE p.id = t.id
  RETURNING t.id, t.qty, p.price;
-- an update that changes the key used to find it
UPDATE dml_t SET id = id + 10000 WHERE id > 1000;
SELECT id FROM dml_t WHERE id > 1000 ORDER BY id;

-- ---------------------------------------------------------------------
-- DELETE
-- ---------------------------------------------------------------------
DELETE FROM dml_t WHERE id > 10000 RETURNING id, name;
DELETE FROM dml_t t USING dml_price p WHERE p.id = t.id AND p.price > 3
  RETURNING t.id, p.price;
DELETE FROM dml_t WHERE id IS NULL;
SELECT id, name, qty FROM dml_t ORDER BY id;
-- delete the same row twice in one transaction
BEGIN;
DELETE FROM dml_t WHERE id = 10;
DELETE FROM dml_t WHERE id = 10;
SELECT count(*) FROM dml_t WHERE id = 10;
COMMIT;
-- delete everything, then insert again
DELETE FROM dml_t;
SELECT count(*) FROM dml_t;
INSERT INTO dml_t VALUES (1, 'again', 1);
SELECT * FROM dml_t;
SELECT lsm_check('dml_t');
DROP TABLE dml_t, dml_price;

-- ---------------------------------------------------------------------
-- many data types in one table
-- ---------------------------------------------------------------------
CREATE TYPE dml_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE dml_pair AS (x int, y text);
CREATE DOMAIN dml_posint AS int CHECK (VALUE > 0);

CREATE TABLE dml_types (
  c_i2 int2, c_i4 int4, c_i8 int8, c_num numeric(20,5),
  c_f4 float4, c_f8 float8, c_text text, c_vc varchar(10), c_ch char(5),
  c_bytea bytea, c_bool bool, c_date date, c_time time, c_ts timestamp,
  c_tstz timestamptz, c_iv interval, c_uuid uuid, c_jsonb jsonb,
  c_arr int[], c_tarr text[], c_pair dml_pair, c_mood dml_mood,
  c_pos dml_posint
) USING lsm;

SET TimeZone = 'UTC';
INSERT INTO dml_types VALUES
 (1, 2, 3, 4.5, 1.5, 2.25, 'text', 'varchar', 'ch',
  '\xdeadbeef', true, '2024-02-29', '12:34:56', '2024-02-29 12:34:56',
  '2024-02-29 12:34:56+02', '1 year 2 mons 3 days 04:05:06',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2, {"b": null}]}',
  '{1,2,3}', '{"x","y z",NULL}', ROW(7, 'seven'), 'happy', 42),
 (-32768, -2147483648, -9223372036854775808, -99999.99999,
  '-Infinity', 'NaN', '', '', '', '\x', false, '4713-01-01 BC', '00:00',
  '-infinity', 'infinity', '-1 day', '00000000-0000-0000-0000-000000000000',
  '[]', '{}', '{}', ROW(NULL, NULL), 'sad', 1),
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT * FROM dml_types ORDER BY c_i2 NULLS LAST;
SELECT (c_pair).x, (c_pair).y, c_arr[2], c_tarr[2], c_jsonb -> 'a' -> 2,
       c_mood > 'ok' AS happy, length(c_ch), octet_length(c_bytea)
  FROM dml_types ORDER BY c_i2 NULLS LAST;
UPDATE dml_types SET c_pair.y = 'changed', c_arr[2] = 20,
       c_mood = 'ok', c_jsonb = c_jsonb || '{"k": 1}'
 WHERE c_i2 = 1;
SELECT c_pair, c_arr, c_mood, c_jsonb FROM dml_types WHERE c_i2 = 1;
-- domain and varchar(n) constraints are checked
INSERT INTO dml_types (c_pos) VALUES (0);
INSERT INTO dml_types (c_vc) VALUES ('12345678901');
UPDATE dml_types SET c_pos = -1 WHERE c_i2 = 1;
SELECT count(*) FROM dml_types;
RESET TimeZone;
DROP TABLE dml_types;
DROP TYPE dml_mood, dml_pair;
DROP DOMAIN dml_posint;

-- ---------------------------------------------------------------------
-- dropped and added columns
-- ---------------------------------------------------------------------
CREATE TABLE dml_cols (a int, b text, c int) USING lsm;
INSERT INTO dml_cols SELECT g, 'b' || g, g * 2 FROM generate_series(1, 5) g;
ALTER TABLE dml_cols DROP COLUMN b;
SELECT * FROM dml_cols ORDER BY a;
INSERT INTO dml_cols VALUES (6, 12);
-- no default: old rows read NULL
ALTER TABLE dml_cols ADD COLUMN d text;
-- constant default: old rows read the default without a rewrite
ALTER TABLE dml_cols ADD COLUMN e int DEFAULT 42;
-- volatile default: the table is rewritten
ALTER TABLE dml_cols ADD COLUMN f int DEFAULT 7 + (random() * 0)::int;
ALTER TABLE dml_cols ADD COLUMN g timestamptz DEFAULT '2000-01-01 00:00+00';
INSERT INTO dml_cols (a, c, d) VALUES (7, 14, 'new');
SELECT a, c, d, e, f, g AT TIME ZONE 'UTC' AS g FROM dml_cols ORDER BY a;
UPDATE dml_cols SET e = e + 1 WHERE a <= 2;
ALTER TABLE dml_cols DROP COLUMN c;
ALTER TABLE dml_cols ADD COLUMN h text[] DEFAULT '{x}';
SELECT a, d, e, f, g AT TIME ZONE 'UTC' AS g, h
  FROM dml_cols WHERE a IN (1, 3, 7) ORDER BY a;
ALTER TABLE dml_cols ALTER COLUMN e TYPE bigint;
SELECT a, e, pg_typeof(e) FROM dml_cols ORDER BY a;
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
 WHERE c.oid = 'dml_cols'::regclass;
SELECT lsm_check('dml_cols');
DROP TABLE dml_cols;

-- ---------------------------------------------------------------------
-- many rows
-- ---------------------------------------------------------------------
CREATE TABLE dml_big (id int, v int, pad text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO dml_big SELECT g, g % 1000, 'pad' FROM generate_series(1, 100000) g;
SELECT count(*), sum(id), sum(v), count(DISTINCT ctid) FROM dml_big;
SELECT format_version, runs, versions, live_versions FROM lsm_info('dml_big');
UPDATE dml_big SET v = v + 1 WHERE id % 10 = 0;
DELETE FROM dml_big WHERE id % 7 = 0;
SELECT count(*), sum(id), sum(v) FROM dml_big;
SELECT count(*), sum(id::bigint * v) FROM dml_big WHERE id BETWEEN 50000 AND 50999;
VACUUM dml_big;
SELECT format_version, live_versions,
       versions = live_versions + recently_dead_versions + dead_versions
         AS counts_add_up
  FROM lsm_info('dml_big');
SELECT lsm_check('dml_big');
SELECT count(*), sum(id), sum(v) FROM dml_big;

-- tableoid
SELECT tableoid = 'dml_big'::regclass AS same, tableoid::regclass
  FROM dml_big WHERE id = 1;
DROP TABLE dml_big;

-- lsm_info on a fresh, empty table and after a few inserts
CREATE TABLE dml_info (a int) USING lsm WITH (autovacuum_enabled = off);
SELECT format_version, runs, versions, live_versions, recently_dead_versions,
       dead_versions FROM lsm_info('dml_info');
SELECT lsm_check('dml_info');
INSERT INTO dml_info SELECT generate_series(1, 10);
SELECT format_version, runs, versions, live_versions FROM lsm_info('dml_info');
DELETE FROM dml_info WHERE a <= 3;
SELECT versions, live_versions FROM lsm_info('dml_info');
SELECT lsm_check('dml_info');
DROP TABLE dml_info;
