--
-- lsm_onconflict: INSERT ... ON CONFLICT and MERGE on lsm tables.
--
-- Speculative insertion with DO NOTHING and DO UPDATE (EXCLUDED, WHERE,
-- RETURNING), the "cannot affect row a second time" error, arbiters by
-- column list, partial unique index, expression and constraint name,
-- partitioned tables, and MERGE with every kind of clause.
--

CREATE TABLE lsm_upsert (id int PRIMARY KEY, code text NOT NULL, qty int DEFAULT 0,
                         note text, active bool DEFAULT true)
  USING lsm;
CREATE UNIQUE INDEX lsm_upsert_code ON lsm_upsert (lower(code));
CREATE INDEX lsm_upsert_qty ON lsm_upsert (qty);
INSERT INTO lsm_upsert (id, code, qty)
  SELECT g, 'C' || g, g FROM generate_series(1, 100) g;

-- DO NOTHING, with and without a conflict target.
INSERT INTO lsm_upsert (id, code) VALUES (1, 'new1') ON CONFLICT DO NOTHING;
INSERT INTO lsm_upsert (id, code) VALUES (1000, 'c5') ON CONFLICT DO NOTHING;
INSERT INTO lsm_upsert (id, code) VALUES (1, 'new1') ON CONFLICT (id) DO NOTHING
  RETURNING *;
INSERT INTO lsm_upsert (id, code) VALUES (1000, 'c5') ON CONFLICT (id) DO NOTHING;
INSERT INTO lsm_upsert (id, code) VALUES (1001, 'fresh'), (1001, 'again'), (2, 'x')
  ON CONFLICT DO NOTHING RETURNING id, code;
SELECT id, code, qty FROM lsm_upsert WHERE id IN (1, 2, 1000, 1001) ORDER BY id;

-- DO UPDATE with EXCLUDED, a WHERE clause and RETURNING.
INSERT INTO lsm_upsert (id, code, qty) VALUES (3, 'C3', 10)
  ON CONFLICT (id) DO UPDATE SET qty = lsm_upsert.qty + EXCLUDED.qty, note = 'merged'
  RETURNING id, code, qty, note;
INSERT INTO lsm_upsert (id, code, qty) VALUES (4, 'C4', 10), (5, 'C5', 10), (2000, 'C2000', 10)
  ON CONFLICT (id) DO UPDATE SET qty = EXCLUDED.qty * 100
  WHERE lsm_upsert.qty < 5
  RETURNING id, qty, xmax <> 0 AS updated;
INSERT INTO lsm_upsert (id, code) VALUES (6, 'C6')
  ON CONFLICT (id) DO UPDATE SET note = 'never' WHERE false
  RETURNING *;
-- Conflict on the expression index.
INSERT INTO lsm_upsert (id, code, qty) VALUES (3000, 'c7', 1)
  ON CONFLICT (lower(code)) DO UPDATE SET note = 'by code ' || EXCLUDED.code
  RETURNING id, code, note;
-- A conflict on an index that is not the arbiter is an error.
INSERT INTO lsm_upsert (id, code) VALUES (3001, 'C8')
  ON CONFLICT (id) DO UPDATE SET note = 'wrong';
-- No index matches.
INSERT INTO lsm_upsert (id, code) VALUES (8, 'C8')
  ON CONFLICT (code) DO NOTHING;
-- Updating the same row twice in one statement.
INSERT INTO lsm_upsert (id, code, qty) VALUES (9, 'C9', 1), (9, 'C9', 2)
  ON CONFLICT (id) DO UPDATE SET qty = EXCLUDED.qty;
INSERT INTO lsm_upsert (id, code, qty) VALUES (4000, 'new', 1), (4000, 'new', 2)
  ON CONFLICT (id) DO UPDATE SET qty = EXCLUDED.qty;
SELECT id, qty FROM lsm_upsert WHERE id IN (9, 4000) ORDER BY id;
-- The update changes the key itself.
INSERT INTO lsm_upsert (id, code) VALUES (10, 'C10')
  ON CONFLICT (id) DO UPDATE SET id = 5010 RETURNING id, code;
INSERT INTO lsm_upsert (id, code) VALUES (11, 'C11')
  ON CONFLICT (id) DO UPDATE SET id = 12;
SELECT id, code FROM lsm_upsert WHERE id IN (10, 11, 12, 5010) ORDER BY id;

-- Many rows at once, half of them conflicting, then the same again.
INSERT INTO lsm_upsert (id, code, qty)
  SELECT g, 'C' || g, 1 FROM generate_series(51, 150) g
  ON CONFLICT (id) DO UPDATE SET qty = lsm_upsert.qty + 1000;
INSERT INTO lsm_upsert (id, code, qty)
  SELECT g, 'C' || g, 1 FROM generate_series(51, 150) g
  ON CONFLICT (id) DO UPDATE SET qty = lsm_upsert.qty + 1000;
SELECT count(*), sum(qty), count(*) FILTER (WHERE qty >= 2000) AS twice
  FROM lsm_upsert WHERE id BETWEEN 51 AND 150;

-- In a transaction, with savepoints.
BEGIN;
INSERT INTO lsm_upsert (id, code) VALUES (6000, 'tx');
INSERT INTO lsm_upsert (id, code, qty) VALUES (6000, 'tx', 5)
  ON CONFLICT (id) DO UPDATE SET qty = EXCLUDED.qty;
SAVEPOINT s1;
INSERT INTO lsm_upsert (id, code, qty) VALUES (6000, 'tx', 6)
  ON CONFLICT (id) DO UPDATE SET qty = EXCLUDED.qty;
ROLLBACK TO SAVEPOINT s1;
DELETE FROM lsm_upsert WHERE id = 6000;
INSERT INTO lsm_upsert (id, code, qty) VALUES (6000, 'tx', 7)
  ON CONFLICT (id) DO UPDATE SET qty = -1;
COMMIT;
SELECT id, code, qty FROM lsm_upsert WHERE id = 6000;

-- ON CONSTRAINT.
ALTER TABLE lsm_upsert ADD CONSTRAINT lsm_upsert_note_key UNIQUE (note);
INSERT INTO lsm_upsert (id, code, note) VALUES (7000, 'n1', 'merged')
  ON CONFLICT ON CONSTRAINT lsm_upsert_note_key DO UPDATE SET qty = -3
  RETURNING id, qty, note;
INSERT INTO lsm_upsert (id, code, note) VALUES (7001, 'n2', 'merged')
  ON CONFLICT ON CONSTRAINT lsm_upsert_pkey DO NOTHING;
INSERT INTO lsm_upsert (id, code, note) VALUES (7001, 'n2', 'other')
  ON CONFLICT ON CONSTRAINT lsm_upsert_nope DO NOTHING;

--
-- A partial unique index as arbiter.
--
CREATE TABLE lsm_upsert_partial (id serial, k text, live bool, v int) USING lsm;
CREATE UNIQUE INDEX lsm_upsert_partial_k ON lsm_upsert_partial (k) WHERE live;
INSERT INTO lsm_upsert_partial (k, live, v) VALUES ('a', true, 1), ('a', false, 2), ('b', false, 3);
INSERT INTO lsm_upsert_partial (k, live, v) VALUES ('a', true, 10)
  ON CONFLICT (k) WHERE live DO UPDATE SET v = lsm_upsert_partial.v + EXCLUDED.v;
INSERT INTO lsm_upsert_partial (k, live, v) VALUES ('b', true, 20)
  ON CONFLICT (k) WHERE live DO UPDATE SET v = -1;
INSERT INTO lsm_upsert_partial (k, live, v) VALUES ('b', false, 30)
  ON CONFLICT (k) WHERE live DO UPDATE SET v = -1;
INSERT INTO lsm_upsert_partial (k, live, v) VALUES ('a', true, 5)
  ON CONFLICT (k) DO NOTHING;
INSERT INTO lsm_upsert_partial (k, live, v) VALUES ('c', true, 5)
  ON CONFLICT (k) WHERE v > 0 DO NOTHING;
SELECT k, live, v FROM lsm_upsert_partial ORDER BY k, live, v;

-- Exclusion constraints are arbiters only for DO NOTHING; deferrable
-- constraints are no arbiters at all.
CREATE TABLE lsm_upsert_excl (r int4range, EXCLUDE USING gist (r WITH &&),
  d int UNIQUE DEFERRABLE) USING lsm;
INSERT INTO lsm_upsert_excl VALUES ('[1,5)', 1);
INSERT INTO lsm_upsert_excl VALUES ('[3,8)', 2) ON CONFLICT DO NOTHING;
INSERT INTO lsm_upsert_excl VALUES ('[3,8)', 2) ON CONFLICT (r) DO NOTHING;
INSERT INTO lsm_upsert_excl VALUES ('[3,8)', 2) ON CONFLICT (r) DO UPDATE SET d = 9;
INSERT INTO lsm_upsert_excl VALUES ('[10,12)', 1) ON CONFLICT (d) DO NOTHING;
SELECT * FROM lsm_upsert_excl ORDER BY r;
DROP TABLE lsm_upsert_excl;

--
-- ON CONFLICT on a partitioned table with lsm partitions.
--
CREATE TABLE lsm_upsert_part (id int PRIMARY KEY, grp int, v text) PARTITION BY RANGE (id);
CREATE TABLE lsm_upsert_part_1 PARTITION OF lsm_upsert_part FOR VALUES FROM (0) TO (100)
  USING lsm;
CREATE TABLE lsm_upsert_part_2 PARTITION OF lsm_upsert_part FOR VALUES FROM (100) TO (200)
  USING lsm;
INSERT INTO lsm_upsert_part SELECT g, g % 3, 'v' || g FROM generate_series(0, 199, 2) g;
INSERT INTO lsm_upsert_part VALUES (10, 0, 'x'), (11, 0, 'x'), (110, 0, 'x'), (111, 0, 'x')
  ON CONFLICT (id) DO UPDATE SET v = lsm_upsert_part.v || '+' || EXCLUDED.v
  RETURNING tableoid::regclass, id, v;
INSERT INTO lsm_upsert_part VALUES (12, 0, 'y'), (13, 0, 'y') ON CONFLICT DO NOTHING
  RETURNING tableoid::regclass, id, v;
-- DO UPDATE cannot move the row to another partition.
INSERT INTO lsm_upsert_part VALUES (14, 0, 'z')
  ON CONFLICT (id) DO UPDATE SET id = 150;
INSERT INTO lsm_upsert_part VALUES (14, 0, 'z')
  ON CONFLICT (id) DO UPDATE SET id = 15 RETURNING tableoid::regclass, id, v;
SELECT tableoid::regclass, count(*), sum(id) FROM lsm_upsert_part GROUP BY 1 ORDER BY 1;
SELECT lsm_check('lsm_upsert_part_1'), lsm_check('lsm_upsert_part_2');

--
-- MERGE.
--
CREATE TABLE lsm_merge_target (id int PRIMARY KEY, balance int, status text)
  USING lsm;
CREATE TABLE lsm_merge_source (id int, delta int, action text) USING lsm;
INSERT INTO lsm_merge_target SELECT g, g * 10, 'open' FROM generate_series(1, 20) g;
INSERT INTO lsm_merge_source VALUES
  (1, 5, 'add'), (2, 0, 'close'), (3, -30, 'add'), (4, 0, 'delete'),
  (21, 100, 'add'), (22, 0, 'close'), (23, 7, 'skip');
MERGE INTO lsm_merge_target t
USING lsm_merge_source s ON t.id = s.id
WHEN MATCHED AND s.action = 'delete' THEN DELETE
WHEN MATCHED AND s.action = 'close' THEN UPDATE SET status = 'closed'
WHEN MATCHED AND t.balance + s.delta < 0 THEN DO NOTHING
WHEN MATCHED THEN UPDATE SET balance = t.balance + s.delta
WHEN NOT MATCHED AND s.action = 'skip' THEN DO NOTHING
WHEN NOT MATCHED AND s.action = 'add' THEN INSERT VALUES (s.id, s.delta, 'new')
WHEN NOT MATCHED THEN INSERT (id, status) VALUES (s.id, 'empty');
SELECT * FROM lsm_merge_target WHERE id <= 5 OR id > 20 ORDER BY id;
-- A source row matching the same target row twice.
INSERT INTO lsm_merge_source VALUES (5, 1, 'add'), (5, 2, 'add');
MERGE INTO lsm_merge_target t
USING lsm_merge_source s ON t.id = s.id
WHEN MATCHED THEN UPDATE SET balance = t.balance + s.delta;
SELECT id, balance FROM lsm_merge_target WHERE id = 5;
-- Twice, but only one of them acts: fine.
MERGE INTO lsm_merge_target t
USING (SELECT * FROM lsm_merge_source WHERE id = 5) s ON t.id = s.id
WHEN MATCHED AND s.delta = 2 THEN UPDATE SET balance = t.balance + s.delta;
SELECT id, balance FROM lsm_merge_target WHERE id = 5;
-- MERGE with a VALUES source and the key updated.
MERGE INTO lsm_merge_target t
USING (VALUES (6, 'renumber'), (7, 'delete'), (99, 'insert')) AS s(id, what)
   ON t.id = s.id
WHEN MATCHED AND s.what = 'renumber' THEN UPDATE SET id = 600
WHEN MATCHED THEN DELETE
WHEN NOT MATCHED THEN INSERT VALUES (s.id, 0, s.what);
SELECT * FROM lsm_merge_target WHERE id IN (6, 7, 99, 600) ORDER BY id;
MERGE INTO lsm_merge_target t
USING (VALUES (8)) AS s(id) ON t.id = s.id
WHEN MATCHED THEN UPDATE SET id = 9;
-- Rolled back, then repeated.
BEGIN;
MERGE INTO lsm_merge_target t USING lsm_merge_source s ON t.id = s.id AND s.id < 5
WHEN MATCHED THEN DELETE;
SELECT count(*) FROM lsm_merge_target;
ROLLBACK;
SELECT count(*), sum(balance) FROM lsm_merge_target;
-- MERGE into a partitioned table with lsm partitions, moving rows.
MERGE INTO lsm_upsert_part t
USING (VALUES (0, 'to upper half'), (2, 'stay'), (101, 'new upper'), (1, 'new lower')) AS s(id, what)
   ON t.id = s.id
WHEN MATCHED AND s.what = 'to upper half' THEN UPDATE SET id = t.id + 191, v = s.what
WHEN MATCHED THEN UPDATE SET v = s.what
WHEN NOT MATCHED THEN INSERT VALUES (s.id, -1, s.what);
SELECT tableoid::regclass, id, grp, v FROM lsm_upsert_part
 WHERE id IN (0, 1, 2, 101, 191) ORDER BY id;
SELECT lsm_check('lsm_merge_target'), lsm_check('lsm_upsert_part_1'),
       lsm_check('lsm_upsert_part_2');

-- Row and statement triggers fired by MERGE and by ON CONFLICT DO UPDATE;
-- a BEFORE UPDATE trigger changes the new row.
CREATE TABLE lsm_merge_log (seq serial, what text) USING lsm;
CREATE TABLE lsm_merge_trg (id int PRIMARY KEY, v int) USING lsm;
INSERT INTO lsm_merge_trg SELECT g, g FROM generate_series(1, 10) g;
CREATE FUNCTION lsm_merge_trg_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO lsm_merge_log (what) VALUES (format('%s %s %s old=%s new=%s',
    TG_WHEN, TG_LEVEL, TG_OP,
    CASE WHEN TG_LEVEL = 'ROW' AND TG_OP IN ('UPDATE', 'DELETE') THEN OLD::text END,
    CASE WHEN TG_LEVEL = 'ROW' AND TG_OP IN ('UPDATE', 'INSERT') THEN NEW::text END));
  IF TG_LEVEL = 'ROW' AND TG_WHEN = 'BEFORE' THEN
    IF TG_OP = 'DELETE' THEN
      RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
      NEW.v := NEW.v + 1000;
    END IF;
    RETURN NEW;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER lsm_merge_trg_b BEFORE INSERT OR UPDATE OR DELETE ON lsm_merge_trg
  FOR EACH ROW EXECUTE FUNCTION lsm_merge_trg_fn();
CREATE TRIGGER lsm_merge_trg_a AFTER INSERT OR UPDATE OR DELETE ON lsm_merge_trg
  FOR EACH ROW EXECUTE FUNCTION lsm_merge_trg_fn();
CREATE TRIGGER lsm_merge_trg_bs BEFORE INSERT OR UPDATE OR DELETE ON lsm_merge_trg
  FOR EACH STATEMENT EXECUTE FUNCTION lsm_merge_trg_fn();
CREATE TRIGGER lsm_merge_trg_as AFTER INSERT OR UPDATE OR DELETE ON lsm_merge_trg
  FOR EACH STATEMENT EXECUTE FUNCTION lsm_merge_trg_fn();
MERGE INTO lsm_merge_trg t
USING (VALUES (1, 'u'), (2, 'd'), (11, 'i')) AS s(id, a) ON t.id = s.id
WHEN MATCHED AND s.a = 'u' THEN UPDATE SET v = -1
WHEN MATCHED AND s.a = 'd' THEN DELETE
WHEN NOT MATCHED THEN INSERT VALUES (s.id, 11);
SELECT seq, what FROM lsm_merge_log ORDER BY seq;
TRUNCATE lsm_merge_log;
INSERT INTO lsm_merge_trg VALUES (3, 0), (12, 12)
  ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v + lsm_merge_trg.v
  RETURNING *;
SELECT what FROM lsm_merge_log ORDER BY seq;
SELECT * FROM lsm_merge_trg ORDER BY id;
SELECT lsm_check('lsm_merge_trg');
DROP TABLE lsm_merge_trg, lsm_merge_log;
DROP FUNCTION lsm_merge_trg_fn();

VACUUM lsm_upsert;
SELECT dead_versions FROM lsm_info('lsm_upsert');
SELECT lsm_check('lsm_upsert'), lsm_check('lsm_upsert_partial');
SELECT count(*), sum(id), sum(qty) FROM lsm_upsert;
DROP TABLE lsm_upsert, lsm_upsert_partial, lsm_upsert_part, lsm_merge_target,
  lsm_merge_source;
