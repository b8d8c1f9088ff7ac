--
-- lsm_truncate: TRUNCATE of lsm tables, in and out of transactions.
--
CREATE TABLE trunc_t (id int, v text) USING lsm WITH (autovacuum_enabled = off);
INSERT INTO trunc_t SELECT g, 'v' || g FROM generate_series(1, 1000) g;
CREATE INDEX trunc_t_id ON trunc_t (id);
SELECT count(*) FROM trunc_t;

TRUNCATE trunc_t;
SELECT count(*) FROM trunc_t;
SELECT versions, live_versions FROM lsm_info('trunc_t');
SELECT lsm_check('trunc_t');

-- inserts after TRUNCATE: TIDs start over, indexes work
INSERT INTO trunc_t VALUES (1, 'a'), (2, 'b');
SELECT ctid, * FROM trunc_t ORDER BY id;
SET enable_seqscan = off;
SELECT * FROM trunc_t WHERE id = 2;
SELECT count(*) FROM trunc_t WHERE id > 0;
RESET enable_seqscan;
SELECT lsm_check('trunc_t');

-- TRUNCATE rolled back: the rows come back, with their TIDs
INSERT INTO trunc_t SELECT g, 'w' || g FROM generate_series(3, 500) g;
BEGIN;
TRUNCATE trunc_t;
SELECT count(*) FROM trunc_t;
INSERT INTO trunc_t VALUES (-1, 'inside');
SELECT ctid, * FROM trunc_t;
ROLLBACK;
SELECT count(*), sum(id) FROM trunc_t;
SELECT ctid, * FROM trunc_t WHERE id <= 2 ORDER BY id;
SET enable_seqscan = off;
SELECT * FROM trunc_t WHERE id = 250;
SELECT * FROM trunc_t WHERE id = -1;
RESET enable_seqscan;
SELECT versions, live_versions FROM lsm_info('trunc_t');
SELECT lsm_check('trunc_t');

-- TRUNCATE rolled back to a savepoint
BEGIN;
SAVEPOINT s1;
TRUNCATE trunc_t;
INSERT INTO trunc_t VALUES (-2, 'sub');
ROLLBACK TO s1;
SELECT count(*), sum(id) FROM trunc_t;
COMMIT;
SELECT count(*), sum(id) FROM trunc_t;
SELECT lsm_check('trunc_t');

-- TRUNCATE committed after changes in the same transaction
BEGIN;
UPDATE trunc_t SET v = 'upd' WHERE id < 100;
DELETE FROM trunc_t WHERE id > 400;
TRUNCATE trunc_t;
INSERT INTO trunc_t VALUES (7, 'after');
COMMIT;
SELECT ctid, * FROM trunc_t;
SELECT versions, live_versions FROM lsm_info('trunc_t');
SELECT lsm_check('trunc_t');

-- TRUNCATE twice in one transaction, with inserts in between
BEGIN;
TRUNCATE trunc_t;
INSERT INTO trunc_t SELECT g, 'x' FROM generate_series(1, 300) g;
TRUNCATE trunc_t;
INSERT INTO trunc_t SELECT g, 'y' FROM generate_series(1, 3) g;
COMMIT;
SELECT ctid, * FROM trunc_t ORDER BY id;
SELECT lsm_check('trunc_t');
DROP TABLE trunc_t;

-- ---------------------------------------------------------------------
-- TRUNCATE in the transaction that created the table
-- ---------------------------------------------------------------------
BEGIN;
CREATE TABLE trunc_new (id int PRIMARY KEY, v text) USING lsm;
INSERT INTO trunc_new SELECT g, 'n' FROM generate_series(1, 100) g;
TRUNCATE trunc_new;
INSERT INTO trunc_new VALUES (1, 'one');
SELECT * FROM trunc_new;
COMMIT;
SELECT * FROM trunc_new;
INSERT INTO trunc_new VALUES (1, 'dup');
SELECT lsm_check('trunc_new');
BEGIN;
CREATE TABLE trunc_new2 (id int) USING lsm;
INSERT INTO trunc_new2 VALUES (1);
TRUNCATE trunc_new2;
ROLLBACK;
SELECT count(*) FROM pg_class WHERE relname = 'trunc_new2';
DROP TABLE trunc_new;

-- ---------------------------------------------------------------------
-- RESTART IDENTITY
-- ---------------------------------------------------------------------
CREATE TABLE trunc_id (id int GENERATED ALWAYS AS IDENTITY, s serial, v text) USING lsm;
INSERT INTO trunc_id (v) VALUES ('a'), ('b'), ('c');
SELECT * FROM trunc_id ORDER BY id;
TRUNCATE trunc_id;
INSERT INTO trunc_id (v) VALUES ('d');
SELECT * FROM trunc_id ORDER BY id;
TRUNCATE trunc_id RESTART IDENTITY;
INSERT INTO trunc_id (v) VALUES ('e'), ('f');
SELECT * FROM trunc_id ORDER BY id;
-- rolled back, the sequences are reset too
BEGIN;
TRUNCATE trunc_id RESTART IDENTITY;
INSERT INTO trunc_id (v) VALUES ('g');
SELECT * FROM trunc_id ORDER BY id;
ROLLBACK;
SELECT * FROM trunc_id ORDER BY id;
INSERT INTO trunc_id (v) VALUES ('h');
SELECT * FROM trunc_id ORDER BY id;
TRUNCATE trunc_id CONTINUE IDENTITY;
INSERT INTO trunc_id (v) VALUES ('i');
SELECT * FROM trunc_id ORDER BY id;
SELECT lsm_check('trunc_id');
DROP TABLE trunc_id;

-- ---------------------------------------------------------------------
-- foreign keys
-- ---------------------------------------------------------------------
CREATE TABLE trunc_parent (id int PRIMARY KEY, v text) USING lsm;
CREATE TABLE trunc_child (id int, pid int REFERENCES trunc_parent) USING lsm;
CREATE TABLE trunc_grandchild (cid int, pid int REFERENCES trunc_parent ON DELETE CASCADE) USING heap;
INSERT INTO trunc_parent SELECT g, 'p' || g FROM generate_series(1, 10) g;
INSERT INTO trunc_child SELECT g, g % 10 + 1 FROM generate_series(1, 50) g;
INSERT INTO trunc_grandchild VALUES (1, 1);
-- refused: referenced by other tables
TRUNCATE trunc_parent;
SELECT count(*) FROM trunc_parent;
-- truncating the referencing table alone is fine
TRUNCATE trunc_child;
SELECT count(*) FROM trunc_child;
INSERT INTO trunc_child VALUES (1, 1), (2, 2);
-- all together
TRUNCATE trunc_parent, trunc_child, trunc_grandchild;
SELECT (SELECT count(*) FROM trunc_parent) AS p, (SELECT count(*) FROM trunc_child) AS c,
       (SELECT count(*) FROM trunc_grandchild) AS g;
INSERT INTO trunc_parent VALUES (1, 'p1'), (2, 'p2');
INSERT INTO trunc_child VALUES (1, 1), (2, 2);
INSERT INTO trunc_grandchild VALUES (1, 2);
-- CASCADE
BEGIN;
TRUNCATE trunc_parent CASCADE;
SELECT (SELECT count(*) FROM trunc_parent) AS p, (SELECT count(*) FROM trunc_child) AS c,
       (SELECT count(*) FROM trunc_grandchild) AS g;
ROLLBACK;
SELECT (SELECT count(*) FROM trunc_parent) AS p, (SELECT count(*) FROM trunc_child) AS c,
       (SELECT count(*) FROM trunc_grandchild) AS g;
TRUNCATE trunc_parent CASCADE;
SELECT (SELECT count(*) FROM trunc_parent) AS p, (SELECT count(*) FROM trunc_child) AS c,
       (SELECT count(*) FROM trunc_grandchild) AS g;
-- the foreign keys still work after the TRUNCATE
INSERT INTO trunc_child VALUES (1, 1);
INSERT INTO trunc_parent VALUES (1, 'new');
INSERT INTO trunc_child VALUES (1, 1);
DELETE FROM trunc_parent WHERE id = 1;
SELECT * FROM trunc_child;
SELECT lsm_check('trunc_parent');
SELECT lsm_check('trunc_child');
DROP TABLE trunc_grandchild, trunc_child, trunc_parent;

-- ---------------------------------------------------------------------
-- TRUNCATE of a partitioned table, and ON TRUNCATE triggers
-- ---------------------------------------------------------------------
CREATE TABLE trunc_part (k int, v text) PARTITION BY RANGE (k);
CREATE TABLE trunc_part_1 PARTITION OF trunc_part FOR VALUES FROM (0) TO (10) USING lsm;
CREATE TABLE trunc_part_2 PARTITION OF trunc_part FOR VALUES FROM (10) TO (20) USING lsm;
INSERT INTO trunc_part SELECT g, 'x' FROM generate_series(0, 19) g;
TRUNCATE trunc_part_1;
SELECT tableoid::regclass, count(*) FROM trunc_part GROUP BY 1 ORDER BY 1;
CREATE TABLE trunc_log (what text);
CREATE FUNCTION trunc_trig_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO trunc_log VALUES (TG_WHEN || ' ' || TG_OP || ' ' || TG_TABLE_NAME);
  RETURN NULL;
END $$;
CREATE TRIGGER trunc_before BEFORE TRUNCATE ON trunc_part_2
  FOR EACH STATEMENT EXECUTE FUNCTION trunc_trig_fn();
CREATE TRIGGER trunc_after AFTER TRUNCATE ON trunc_part_2
  FOR EACH STATEMENT EXECUTE FUNCTION trunc_trig_fn();
TRUNCATE trunc_part;
SELECT count(*) FROM trunc_part;
SELECT * FROM trunc_log ORDER BY what;
INSERT INTO trunc_part VALUES (5, 'again'), (15, 'again');
SELECT tableoid::regclass, k, v FROM trunc_part ORDER BY k;
SELECT lsm_check('trunc_part_1');
SELECT lsm_check('trunc_part_2');
DROP TABLE trunc_part, trunc_log;
DROP FUNCTION trunc_trig_fn();

-- TRUNCATE of a table with TOAST data
CREATE TABLE trunc_toast (id int, big text) USING lsm;
INSERT INTO trunc_toast VALUES (1, repeat(md5('x'), 10000));
BEGIN;
TRUNCATE trunc_toast;
ROLLBACK;
SELECT id, length(big), md5(big) = md5(repeat(md5('x'), 10000)) AS same FROM trunc_toast;
TRUNCATE trunc_toast;
INSERT INTO trunc_toast VALUES (2, repeat(md5('y'), 10000));
SELECT id, length(big) FROM trunc_toast;
SELECT lsm_check('trunc_toast');
DROP TABLE trunc_toast;
