--
-- lsm_triggers_fk: triggers and foreign keys on lsm tables.
--
-- Row and statement triggers BEFORE and AFTER INSERT/UPDATE/DELETE (AFTER
-- row triggers fetch the versions by TID), transition tables, deferred
-- constraint triggers, foreign keys between lsm tables and between lsm and
-- heap tables in both directions, and row locks in one transaction.
--

CREATE TABLE lsm_trg (id int PRIMARY KEY, val text, n int DEFAULT 0)
  USING lsm;
CREATE TABLE lsm_trg_log (seq serial, what text) USING lsm;

CREATE FUNCTION lsm_trg_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO lsm_trg_log (what) VALUES (
    format('%s %s %s: old=%s new=%s', TG_WHEN, TG_LEVEL, TG_OP,
           CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN OLD::text END,
           CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN NEW::text END));
  IF TG_WHEN = 'BEFORE' THEN
    IF TG_OP = 'INSERT' THEN
      NEW.val := upper(NEW.val);
    ELSIF TG_OP = 'UPDATE' THEN
      NEW.n := OLD.n + 1;
    ELSIF TG_OP = 'DELETE' AND OLD.val = 'KEEP' THEN
      RETURN NULL;              -- skip this delete
    END IF;
    IF TG_OP = 'DELETE' THEN
      RETURN OLD;
    END IF;
    RETURN NEW;
  END IF;
  RETURN NULL;
END;
$$;

CREATE FUNCTION lsm_trg_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO lsm_trg_log (what) VALUES (format('%s %s %s', TG_WHEN, TG_LEVEL, TG_OP));
  RETURN NULL;
END;
$$;

CREATE TRIGGER lsm_trg_b_row BEFORE INSERT OR UPDATE OR DELETE ON lsm_trg
  FOR EACH ROW EXECUTE FUNCTION lsm_trg_row();
CREATE TRIGGER lsm_trg_a_row AFTER INSERT OR UPDATE OR DELETE ON lsm_trg
  FOR EACH ROW EXECUTE FUNCTION lsm_trg_row();
CREATE TRIGGER lsm_trg_b_stmt BEFORE INSERT OR UPDATE OR DELETE ON lsm_trg
  FOR EACH STATEMENT EXECUTE FUNCTION lsm_trg_stmt();
CREATE TRIGGER lsm_trg_a_stmt AFTER INSERT OR UPDATE OR DELETE ON lsm_trg
  FOR EACH STATEMENT EXECUTE FUNCTION lsm_trg_stmt();

INSERT INTO lsm_trg (id, val) VALUES (1, 'one'), (2, 'two'), (3, 'keep');
UPDATE lsm_trg SET val = val || '!' WHERE id = 1;
UPDATE lsm_trg SET val = 'KEEP' WHERE id = 2;   -- BEFORE trigger bumps n
DELETE FROM lsm_trg WHERE id = 2;               -- the BEFORE trigger skips it
DELETE FROM lsm_trg WHERE id = 3;               -- and this one
DELETE FROM lsm_trg WHERE val = 'nothing';       -- statement triggers only
UPDATE lsm_trg SET val = 'two' WHERE id = 2;
DELETE FROM lsm_trg WHERE id = 2;
SELECT * FROM lsm_trg ORDER BY id;
SELECT seq, what FROM lsm_trg_log ORDER BY seq;
TRUNCATE lsm_trg_log;

-- Several updates of one row in one transaction: each AFTER trigger sees
-- the versions of its own update.
BEGIN;
UPDATE lsm_trg SET val = 'a' WHERE id = 1;
UPDATE lsm_trg SET val = 'b' WHERE id = 1;
UPDATE lsm_trg SET val = 'c' WHERE id = 1;
COMMIT;
SELECT what FROM lsm_trg_log WHERE what LIKE 'AFTER ROW%' ORDER BY seq;
TRUNCATE lsm_trg_log;

-- Many rows: the queued AFTER events fetch every version back by TID.
DROP TRIGGER lsm_trg_b_row ON lsm_trg;
INSERT INTO lsm_trg (id, val) SELECT g, 'bulk' FROM generate_series(100, 1099) g;
UPDATE lsm_trg SET n = n + id WHERE id >= 100;
DELETE FROM lsm_trg WHERE id >= 100 AND id % 2 = 0;
SELECT split_part(what, ':', 1) AS event, count(*)
  FROM lsm_trg_log GROUP BY 1 ORDER BY 1;
SELECT count(*) AS consistent FROM lsm_trg_log
 WHERE what LIKE 'AFTER ROW UPDATE%'
   AND substring(what FROM 'old=\((\d+),') = substring(what FROM 'new=\((\d+),')
   AND substring(what FROM 'new=\(\d+,bulk,(\d+)\)')::int
       = substring(what FROM 'new=\((\d+),')::int;
TRUNCATE lsm_trg_log;
DELETE FROM lsm_trg WHERE id >= 100;

-- AFTER UPDATE trigger with a WHEN condition on OLD and NEW.
CREATE TRIGGER lsm_trg_when AFTER UPDATE ON lsm_trg
  FOR EACH ROW WHEN (OLD.val IS DISTINCT FROM NEW.val)
  EXECUTE FUNCTION lsm_trg_stmt();
DROP TRIGGER lsm_trg_a_row ON lsm_trg;
DROP TRIGGER lsm_trg_b_stmt ON lsm_trg;
DROP TRIGGER lsm_trg_a_stmt ON lsm_trg;
TRUNCATE lsm_trg_log;
UPDATE lsm_trg SET n = 42 WHERE id = 1;
UPDATE lsm_trg SET val = 'changed' WHERE id = 1;
SELECT what FROM lsm_trg_log ORDER BY seq;
DROP TRIGGER lsm_trg_when ON lsm_trg;
TRUNCATE lsm_trg_log;

--
-- Transition tables.
--
CREATE FUNCTION lsm_trg_transition() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  o text;
  n text;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    SELECT count(*) || ' rows, ids ' || coalesce(sum(id), 0) || ', vals '
           || coalesce(string_agg(val, ',' ORDER BY id), '-')
      INTO o FROM old_rows;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    SELECT count(*) || ' rows, ids ' || coalesce(sum(id), 0) || ', vals '
           || coalesce(string_agg(val, ',' ORDER BY id), '-')
      INTO n FROM new_rows;
  END IF;
  INSERT INTO lsm_trg_log (what) VALUES (format('%s: old: %s; new: %s', TG_OP, o, n));
  RETURN NULL;
END;
$$;
CREATE TRIGGER lsm_trg_tt_ins AFTER INSERT ON lsm_trg
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION lsm_trg_transition();
CREATE TRIGGER lsm_trg_tt_upd AFTER UPDATE ON lsm_trg
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION lsm_trg_transition();
CREATE TRIGGER lsm_trg_tt_del AFTER DELETE ON lsm_trg
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION lsm_trg_transition();
INSERT INTO lsm_trg (id, val) VALUES (10, 'x'), (11, 'y'), (12, 'z');
UPDATE lsm_trg SET val = val || val WHERE id >= 10;
UPDATE lsm_trg SET id = id + 10 WHERE id IN (10, 11);
DELETE FROM lsm_trg WHERE id > 12;
UPDATE lsm_trg SET val = 'none' WHERE id = 999;
SELECT seq, what FROM lsm_trg_log ORDER BY seq;
DROP TRIGGER lsm_trg_tt_ins ON lsm_trg;
DROP TRIGGER lsm_trg_tt_upd ON lsm_trg;
DROP TRIGGER lsm_trg_tt_del ON lsm_trg;
TRUNCATE lsm_trg_log;

--
-- Deferred constraint triggers fire at commit and see the version each
-- event was queued for, even if the row changed later in the transaction.
--
CREATE FUNCTION lsm_trg_deferred() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO lsm_trg_log (what) VALUES (
    format('deferred %s: old=%s new=%s', TG_OP,
           CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN OLD::text END,
           CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN NEW::text END));
  RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER lsm_trg_def AFTER INSERT OR UPDATE OR DELETE ON lsm_trg
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION lsm_trg_deferred();
BEGIN;
INSERT INTO lsm_trg (id, val) VALUES (50, 'fifty');
UPDATE lsm_trg SET val = 'fifty-1' WHERE id = 50;
UPDATE lsm_trg SET val = 'fifty-2' WHERE id = 50;
DELETE FROM lsm_trg WHERE id = 50;
SELECT count(*) AS before_commit FROM lsm_trg_log;
COMMIT;
SELECT what FROM lsm_trg_log ORDER BY seq;
TRUNCATE lsm_trg_log;
-- SET CONSTRAINTS IMMEDIATE fires the queued events right away.
BEGIN;
INSERT INTO lsm_trg (id, val) VALUES (51, 'fifty-one');
SET CONSTRAINTS lsm_trg_def IMMEDIATE;
SELECT what FROM lsm_trg_log ORDER BY seq;
UPDATE lsm_trg SET val = 'later' WHERE id = 51;
SELECT count(*) FROM lsm_trg_log;
ROLLBACK;
SELECT count(*) FROM lsm_trg_log;
DROP TRIGGER lsm_trg_def ON lsm_trg;

--
-- Foreign keys.
--
CREATE TABLE lsm_fk_parent (id int PRIMARY KEY, name text) USING lsm;
CREATE TABLE lsm_fk_child (id int PRIMARY KEY,
  pid int REFERENCES lsm_fk_parent ON DELETE CASCADE ON UPDATE CASCADE,
  note text) USING lsm;
CREATE TABLE lsm_fk_child_null (id int PRIMARY KEY,
  pid int REFERENCES lsm_fk_parent ON DELETE SET NULL) USING lsm;
CREATE TABLE lsm_fk_child_strict (id int PRIMARY KEY,
  pid int REFERENCES lsm_fk_parent ON DELETE RESTRICT) USING lsm;
INSERT INTO lsm_fk_parent SELECT g, 'p' || g FROM generate_series(1, 10) g;
INSERT INTO lsm_fk_child SELECT g, g % 10 + 1, 'c' || g FROM generate_series(1, 50) g;
INSERT INTO lsm_fk_child_null SELECT g, g % 5 + 1 FROM generate_series(1, 10) g;
INSERT INTO lsm_fk_child_strict VALUES (1, 10);
-- Violations.
INSERT INTO lsm_fk_child VALUES (100, 11, 'orphan');
UPDATE lsm_fk_child SET pid = 0 WHERE id = 1;
DELETE FROM lsm_fk_parent WHERE id = 10;
UPDATE lsm_fk_parent SET id = 100 WHERE id = 10;
-- A parent update that does not change the key needs no check.
UPDATE lsm_fk_parent SET name = 'renamed' WHERE id = 10;
-- ON UPDATE CASCADE.
UPDATE lsm_fk_parent SET id = id + 100 WHERE id IN (8, 9);
SELECT pid, count(*) FROM lsm_fk_child GROUP BY pid ORDER BY pid;
-- ON DELETE CASCADE and SET NULL.
DELETE FROM lsm_fk_parent WHERE id IN (3, 108);
SELECT pid, count(*) FROM lsm_fk_child GROUP BY pid ORDER BY pid;
SELECT id, pid FROM lsm_fk_child_null ORDER BY id;
-- Deleting a parent and its children in one transaction, then adding back.
BEGIN;
DELETE FROM lsm_fk_child WHERE pid = 4;
DELETE FROM lsm_fk_parent WHERE id = 4;
INSERT INTO lsm_fk_parent VALUES (4, 'again');
INSERT INTO lsm_fk_child VALUES (200, 4, 'new child');
COMMIT;
SELECT p.id, p.name, count(c.id)
  FROM lsm_fk_parent p LEFT JOIN lsm_fk_child c ON c.pid = p.id
 GROUP BY p.id, p.name ORDER BY p.id;

-- Foreign keys between lsm and heap tables, both directions.
CREATE TABLE lsm_fk_heap_parent (id int PRIMARY KEY) USING heap;
CREATE TABLE lsm_fk_lsm_child (id int PRIMARY KEY,
  hid int REFERENCES lsm_fk_heap_parent ON DELETE CASCADE ON UPDATE CASCADE)
  USING lsm;
CREATE TABLE lsm_fk_heap_child (id int PRIMARY KEY,
  lid int REFERENCES lsm_fk_parent ON DELETE SET NULL ON UPDATE CASCADE)
  USING heap;
INSERT INTO lsm_fk_heap_parent SELECT generate_series(1, 5);
INSERT INTO lsm_fk_lsm_child SELECT g, g % 5 + 1 FROM generate_series(1, 20) g;
INSERT INTO lsm_fk_heap_child SELECT g, g % 5 + 4 FROM generate_series(1, 10) g;
INSERT INTO lsm_fk_lsm_child VALUES (99, 6);
INSERT INTO lsm_fk_heap_child VALUES (99, 3);
UPDATE lsm_fk_heap_parent SET id = 50 WHERE id = 5;
DELETE FROM lsm_fk_heap_parent WHERE id = 1;
SELECT hid, count(*) FROM lsm_fk_lsm_child GROUP BY hid ORDER BY hid;
UPDATE lsm_fk_parent SET id = 40 WHERE id = 4;
DELETE FROM lsm_fk_parent WHERE id = 5;
SELECT lid, count(*) FROM lsm_fk_heap_child GROUP BY lid ORDER BY lid NULLS FIRST;

-- Deferred foreign key: children may come first within a transaction.
CREATE TABLE lsm_fk_deferred (id int PRIMARY KEY,
  pid int REFERENCES lsm_fk_parent DEFERRABLE INITIALLY DEFERRED) USING lsm;
BEGIN;
INSERT INTO lsm_fk_deferred VALUES (1, 300);
INSERT INTO lsm_fk_parent VALUES (300, 'late parent');
COMMIT;
BEGIN;
INSERT INTO lsm_fk_deferred VALUES (2, 301);
COMMIT;
BEGIN;
DELETE FROM lsm_fk_parent WHERE id = 300;
INSERT INTO lsm_fk_parent VALUES (300, 'replaced parent');
COMMIT;
SELECT d.id, d.pid, p.name FROM lsm_fk_deferred d JOIN lsm_fk_parent p ON p.id = d.pid;

-- Adding a foreign key to existing data validates it.
CREATE TABLE lsm_fk_late (id int, pid int) USING lsm;
INSERT INTO lsm_fk_late VALUES (1, 6), (2, 6), (3, 999);
ALTER TABLE lsm_fk_late ADD CONSTRAINT lsm_fk_late_fk FOREIGN KEY (pid) REFERENCES lsm_fk_parent;
ALTER TABLE lsm_fk_late ADD CONSTRAINT lsm_fk_late_fk FOREIGN KEY (pid)
  REFERENCES lsm_fk_parent NOT VALID;
INSERT INTO lsm_fk_late VALUES (4, 998);
ALTER TABLE lsm_fk_late VALIDATE CONSTRAINT lsm_fk_late_fk;
DELETE FROM lsm_fk_late WHERE pid = 999;
ALTER TABLE lsm_fk_late VALIDATE CONSTRAINT lsm_fk_late_fk;
SELECT conname, convalidated FROM pg_constraint WHERE conname = 'lsm_fk_late_fk';

-- Self-referencing foreign key with cascading deletes down a chain.
CREATE TABLE lsm_fk_tree (id int PRIMARY KEY,
  parent int REFERENCES lsm_fk_tree ON DELETE CASCADE) USING lsm;
INSERT INTO lsm_fk_tree SELECT g, NULLIF(g - 1, 0) FROM generate_series(1, 200) g;
DELETE FROM lsm_fk_tree WHERE id = 101;
SELECT count(*), max(id) FROM lsm_fk_tree;

-- A foreign key to a partitioned table with lsm partitions; updates that
-- move referenced rows between partitions cascade, and fire the row
-- triggers of the partitions and the statement trigger of the parent.
CREATE TABLE lsm_fk_part (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE lsm_fk_part_1 PARTITION OF lsm_fk_part FOR VALUES FROM (0) TO (100)
  USING lsm;
CREATE TABLE lsm_fk_part_2 PARTITION OF lsm_fk_part FOR VALUES FROM (100) TO (200)
  USING lsm;
CREATE TABLE lsm_fk_part_child (id int PRIMARY KEY,
  pid int REFERENCES lsm_fk_part ON UPDATE CASCADE ON DELETE CASCADE) USING lsm;
INSERT INTO lsm_fk_part SELECT g, 'v' || g FROM generate_series(0, 199, 3) g;
INSERT INTO lsm_fk_part_child SELECT g, g * 3 FROM generate_series(0, 66) g;
CREATE FUNCTION lsm_fk_part_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO lsm_trg_log (what) VALUES (format('%s %s on %s: old=%s new=%s',
    TG_WHEN, TG_OP, TG_TABLE_NAME,
    CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN OLD::text END,
    CASE WHEN TG_OP IN ('UPDATE', 'INSERT') THEN NEW::text END));
  RETURN NULL;
END;
$$;
CREATE FUNCTION lsm_fk_part_tt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO lsm_trg_log (what)
    SELECT 'old rows ' || string_agg(id::text, ',' ORDER BY id) FROM old_rows;
  INSERT INTO lsm_trg_log (what)
    SELECT 'new rows ' || string_agg(id::text, ',' ORDER BY id) FROM new_rows;
  RETURN NULL;
END;
$$;
CREATE TRIGGER lsm_fk_part_a AFTER INSERT OR UPDATE OR DELETE ON lsm_fk_part
  FOR EACH ROW EXECUTE FUNCTION lsm_fk_part_trg();
CREATE TRIGGER lsm_fk_part_t AFTER UPDATE ON lsm_fk_part
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION lsm_fk_part_tt();
TRUNCATE lsm_trg_log;
UPDATE lsm_fk_part SET id = id + 100 WHERE id IN (3, 6, 9);
UPDATE lsm_fk_part SET id = id - 100 WHERE id = 103;
UPDATE lsm_fk_part SET v = 'same partition' WHERE id = 12;
SELECT what FROM lsm_trg_log ORDER BY seq;
SELECT id, pid FROM lsm_fk_part_child WHERE id IN (1, 2, 3, 4) ORDER BY id;
DELETE FROM lsm_fk_part WHERE id = 106;
SELECT id, pid FROM lsm_fk_part_child WHERE id IN (1, 2, 3, 4) ORDER BY id;
INSERT INTO lsm_fk_part_child VALUES (100, 106);
DELETE FROM lsm_fk_part_child WHERE pid = 109;
UPDATE lsm_fk_part SET id = 190 WHERE id = 109;
SELECT tableoid::regclass, id, v FROM lsm_fk_part WHERE id IN (3, 12, 103, 109, 190)
 ORDER BY id;
SELECT lsm_check('lsm_fk_part_1'), lsm_check('lsm_fk_part_2'),
       lsm_check('lsm_fk_part_child');
DROP TABLE lsm_fk_part_child, lsm_fk_part;
DROP FUNCTION lsm_fk_part_trg(), lsm_fk_part_tt();
TRUNCATE lsm_trg_log;

--
-- Row locks taken and combined in one transaction.
--
BEGIN;
SELECT id, name FROM lsm_fk_parent WHERE id = 6 FOR KEY SHARE;
-- The FK check's lock and our own key-share lock do not conflict with an
-- update of a non-key column.
INSERT INTO lsm_fk_child VALUES (300, 6, 'locked parent');
UPDATE lsm_fk_parent SET name = 'updated while key-shared' WHERE id = 6;
SELECT id, name FROM lsm_fk_parent WHERE id = 6 FOR SHARE;
SELECT id, name FROM lsm_fk_parent WHERE id = 6 FOR NO KEY UPDATE;
SAVEPOINT s1;
SELECT id, name FROM lsm_fk_parent WHERE id = 6 FOR UPDATE;
UPDATE lsm_fk_parent SET name = 'in savepoint' WHERE id = 6;
ROLLBACK TO SAVEPOINT s1;
SELECT id, name FROM lsm_fk_parent WHERE id = 6;
SELECT id FROM lsm_fk_parent WHERE id IN (6, 7) ORDER BY id FOR KEY SHARE NOWAIT;
SELECT id FROM lsm_fk_parent WHERE id IN (6, 7) ORDER BY id FOR UPDATE SKIP LOCKED;
DELETE FROM lsm_fk_parent WHERE id = 7;
COMMIT;
SELECT id, name FROM lsm_fk_parent WHERE id IN (6, 7) ORDER BY id;
SELECT count(*) FROM lsm_fk_child WHERE pid = 7;
-- Locks and updates by a transaction and its subtransactions (MultiXacts),
-- partly rolled back.
CREATE TABLE lsm_lock (id int PRIMARY KEY, v text) USING lsm;
INSERT INTO lsm_lock SELECT g, 'v' || g FROM generate_series(1, 20) g;
BEGIN;
SELECT id FROM lsm_lock WHERE id <= 5 ORDER BY id FOR KEY SHARE;
SAVEPOINT a;
UPDATE lsm_lock SET v = v || '-a' WHERE id <= 3;
SAVEPOINT b;
SELECT id FROM lsm_lock WHERE id <= 5 ORDER BY id FOR UPDATE;
DELETE FROM lsm_lock WHERE id = 4;
ROLLBACK TO SAVEPOINT b;
UPDATE lsm_lock SET v = v || '-b' WHERE id <= 2;
ROLLBACK TO SAVEPOINT a;
UPDATE lsm_lock SET v = v || '-c' WHERE id = 1;
SELECT * FROM lsm_lock WHERE id <= 5 ORDER BY id;
COMMIT;
SELECT * FROM lsm_lock WHERE id <= 5 ORDER BY id;
BEGIN;
SELECT id FROM lsm_lock WHERE id = 6 FOR SHARE;
SAVEPOINT s;
SELECT id FROM lsm_lock WHERE id = 6 FOR NO KEY UPDATE;
UPDATE lsm_lock SET v = 'x' WHERE id = 6;
RELEASE SAVEPOINT s;
SAVEPOINT t;
DELETE FROM lsm_lock WHERE id = 6;
ROLLBACK TO SAVEPOINT t;
COMMIT;
SELECT * FROM lsm_lock WHERE id = 6;
VACUUM FREEZE lsm_lock;
SELECT * FROM lsm_lock WHERE id <= 6 ORDER BY id;
UPDATE lsm_lock SET v = 'final' WHERE id <= 6;
SELECT count(*) FROM lsm_lock WHERE v = 'final';
SELECT lsm_check('lsm_lock');
DROP TABLE lsm_lock;

SELECT lsm_check('lsm_fk_parent'), lsm_check('lsm_fk_child'), lsm_check('lsm_fk_tree'),
       lsm_check('lsm_trg'), lsm_check('lsm_trg_log');

DROP TABLE lsm_fk_late, lsm_fk_deferred, lsm_fk_heap_child, lsm_fk_lsm_child,
  lsm_fk_heap_parent, lsm_fk_child_strict, lsm_fk_child_null, lsm_fk_child,
  lsm_fk_parent, lsm_fk_tree;
DROP TABLE lsm_trg, lsm_trg_log;
DROP FUNCTION lsm_trg_row(), lsm_trg_stmt(), lsm_trg_transition(), lsm_trg_deferred();
