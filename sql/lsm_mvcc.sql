--
-- lsm_mvcc: visibility rules within one session: own changes, cursors,
-- subtransactions, aborted transactions, snapshots, data-modifying CTEs.
--
CREATE TABLE mvcc_t (id int, val text) USING lsm;
INSERT INTO mvcc_t SELECT g, 'v' || g FROM generate_series(1, 10) g;

-- ---------------------------------------------------------------------
-- own changes are visible inside the transaction
-- ---------------------------------------------------------------------
BEGIN;
INSERT INTO mvcc_t VALUES (11, 'new');
UPDATE mvcc_t SET val = 'upd' WHERE id = 2;
DELETE FROM mvcc_t WHERE id = 3;
SELECT * FROM mvcc_t WHERE id IN (2, 3, 11) ORDER BY id;
SELECT count(*) FROM mvcc_t;
-- the command counter: a statement does not see its own changes
INSERT INTO mvcc_t SELECT id + 100, val FROM mvcc_t;
SELECT count(*) FROM mvcc_t;
-- an UPDATE visits each row once, even though it adds new versions
UPDATE mvcc_t SET id = id + 1000 WHERE id > 100;
SELECT count(*), min(id), max(id) FROM mvcc_t WHERE id > 100;
ROLLBACK;
SELECT * FROM mvcc_t ORDER BY id;

-- ---------------------------------------------------------------------
-- a cursor sees the data as of when it was opened
-- ---------------------------------------------------------------------
BEGIN;
DECLARE c1 CURSOR FOR SELECT id, val FROM mvcc_t ORDER BY id;
FETCH 2 FROM c1;
UPDATE mvcc_t SET val = 'changed' WHERE id IN (3, 4);
DELETE FROM mvcc_t WHERE id = 5;
INSERT INTO mvcc_t VALUES (6, 'dup6');
FETCH ALL FROM c1;
CLOSE c1;
SELECT * FROM mvcc_t WHERE id BETWEEN 3 AND 6 ORDER BY id, val;
ROLLBACK;

-- the same for a cursor without ORDER BY (a plain sequential scan)
BEGIN;
DECLARE c2 CURSOR FOR SELECT id FROM mvcc_t;
FETCH 1 FROM c2;
DELETE FROM mvcc_t;
INSERT INTO mvcc_t SELECT g FROM generate_series(100, 2000) g;
DO $$
DECLARE cur refcursor := 'c2'; r int; n int := 0;
BEGIN
  LOOP
    FETCH cur INTO r;
    EXIT WHEN NOT FOUND;
    n := n + 1;
  END LOOP;
  RAISE NOTICE 'cursor returned % more rows', n;
END $$;
ROLLBACK;

-- ---------------------------------------------------------------------
-- aborted transactions
-- ---------------------------------------------------------------------
BEGIN;
INSERT INTO mvcc_t SELECT g, 'aborted' FROM generate_series(1000, 1999) g;
UPDATE mvcc_t SET val = 'aborted' WHERE id <= 5;
DELETE FROM mvcc_t WHERE id > 8;
ROLLBACK;
SELECT count(*) FILTER (WHERE val = 'aborted') AS aborted_rows, count(*)
  FROM mvcc_t;
-- a failed statement leaves nothing behind
INSERT INTO mvcc_t SELECT 1000 / (1000 - g), 'x' FROM generate_series(1, 1000) g;
UPDATE mvcc_t SET val = 'failed' WHERE 1 / (id - 7) > -100;
SELECT count(*), count(*) FILTER (WHERE val = 'failed') FROM mvcc_t;
-- rows of aborted transactions stay invisible after VACUUM
VACUUM mvcc_t;
SELECT * FROM mvcc_t ORDER BY id;
SELECT lsm_check('mvcc_t');

-- ---------------------------------------------------------------------
-- savepoints
-- ---------------------------------------------------------------------
BEGIN;
INSERT INTO mvcc_t VALUES (20, 'kept');
SAVEPOINT s1;
INSERT INTO mvcc_t VALUES (21, 'rolled back');
UPDATE mvcc_t SET val = 'rolled back' WHERE id = 1;
DELETE FROM mvcc_t WHERE id = 2;
SELECT * FROM mvcc_t WHERE id IN (1, 2, 20, 21) ORDER BY id;
ROLLBACK TO s1;
SELECT * FROM mvcc_t WHERE id IN (1, 2, 20, 21) ORDER BY id;
SAVEPOINT s2;
UPDATE mvcc_t SET val = 'sub kept' WHERE id = 1;
RELEASE s2;
SAVEPOINT s3;
UPDATE mvcc_t SET val = 'nested 1' WHERE id = 4;
SAVEPOINT s4;
UPDATE mvcc_t SET val = 'nested 2' WHERE id = 4;
DELETE FROM mvcc_t WHERE id = 5;
ROLLBACK TO s4;
SELECT * FROM mvcc_t WHERE id IN (4, 5) ORDER BY id;
RELEASE s3;
-- an error inside a subtransaction
SAVEPOINT s5;
INSERT INTO mvcc_t VALUES (22, 'before error');
SELECT 1 / 0;
ROLLBACK TO s5;
SELECT * FROM mvcc_t WHERE id >= 20 ORDER BY id;
COMMIT;
SELECT * FROM mvcc_t ORDER BY id;

-- many subtransactions, every other one rolled back (more than the 64
-- subxids a PGPROC caches, so the subtrans SLRU is consulted)
BEGIN;
DO $$
BEGIN
  FOR i IN 1..300 LOOP
    BEGIN
      INSERT INTO mvcc_t VALUES (1000 + i, 'sub');
      UPDATE mvcc_t SET val = 'sub ' || i WHERE id = 6;
      IF i % 2 = 0 THEN
        RAISE EXCEPTION 'roll back %', i;
      END IF;
    EXCEPTION WHEN raise_exception THEN
      NULL;
    END;
  END LOOP;
END $$;
SELECT count(*), min(id), max(id), sum(id) FROM mvcc_t WHERE id > 1000;
SELECT val FROM mvcc_t WHERE id = 6;
COMMIT;
SELECT count(*), min(id), max(id), sum(id) FROM mvcc_t WHERE id > 1000;
SELECT count(*) FILTER (WHERE id % 2 = 0) AS even FROM mvcc_t WHERE id > 1000;
SELECT val FROM mvcc_t WHERE id = 6;
DELETE FROM mvcc_t WHERE id > 1000;
SELECT lsm_check('mvcc_t');

-- a subtransaction that deletes a row inserted by its parent, rolled back
BEGIN;
INSERT INTO mvcc_t VALUES (30, 'parent');
SAVEPOINT a;
DELETE FROM mvcc_t WHERE id = 30;
UPDATE mvcc_t SET val = 'child' WHERE id = 30;
ROLLBACK TO a;
SELECT * FROM mvcc_t WHERE id = 30;
SAVEPOINT b;
UPDATE mvcc_t SET val = 'child' WHERE id = 30;
RELEASE b;
COMMIT;
SELECT * FROM mvcc_t WHERE id = 30;

-- ---------------------------------------------------------------------
-- xmin / xmax (never the raw values)
-- ---------------------------------------------------------------------
BEGIN;
INSERT INTO mvcc_t VALUES (40, 'x');
SELECT xmin = pg_current_xact_id()::xid AS mine, xmax = '0'::xid AS no_xmax
  FROM mvcc_t WHERE id = 40;
SELECT count(*) FROM mvcc_t WHERE xmin = pg_current_xact_id()::xid;
COMMIT;
SELECT xmax = '0'::xid AS no_xmax FROM mvcc_t WHERE id = 40;
-- a locked row shows the locker in xmax, the row is still there
BEGIN;
SELECT id FROM mvcc_t WHERE id = 40 FOR UPDATE;
SELECT xmax = pg_current_xact_id()::xid AS locked_by_me FROM mvcc_t WHERE id = 40;
COMMIT;
-- a deleted row whose deleter aborted shows that xmax, and is visible
BEGIN;
DELETE FROM mvcc_t WHERE id = 40;
ROLLBACK;
SELECT id, xmax <> '0'::xid AS has_aborted_xmax FROM mvcc_t WHERE id = 40;
SELECT count(*) FROM mvcc_t WHERE xmin = xmax;
-- an UPDATE after lockers and deleters that are gone (committed lockers,
-- aborted lockers and deleters) gives a new version without xmax
INSERT INTO mvcc_t VALUES (41, 'a'), (42, 'b'), (43, 'c'), (44, 'd');
SELECT id FROM mvcc_t WHERE id = 41 FOR UPDATE;
SELECT id FROM mvcc_t WHERE id = 42 FOR KEY SHARE;
BEGIN;
SELECT id FROM mvcc_t WHERE id = 43 FOR SHARE;
ROLLBACK;
BEGIN;
DELETE FROM mvcc_t WHERE id = 44;
ROLLBACK;
UPDATE mvcc_t SET val = val || '+' WHERE id BETWEEN 40 AND 44;
SELECT id, val, xmax = '0'::xid AS no_xmax FROM mvcc_t WHERE id BETWEEN 40 AND 44 ORDER BY id;
-- the same when the lock was taken in an aborted subtransaction
BEGIN;
SAVEPOINT s;
SELECT id FROM mvcc_t WHERE id = 41 FOR UPDATE;
ROLLBACK TO s;
UPDATE mvcc_t SET val = val || '+' WHERE id = 41;
SELECT id, val, xmax = '0'::xid AS no_xmax FROM mvcc_t WHERE id = 41;
COMMIT;
-- while a lock taken by the updating transaction itself stays on the new
-- version
BEGIN;
SELECT id FROM mvcc_t WHERE id = 42 FOR KEY SHARE;
UPDATE mvcc_t SET val = val || '+' WHERE id = 42;
SELECT id, val, xmax = pg_current_xact_id()::xid AS locked_by_me FROM mvcc_t WHERE id = 42;
COMMIT;
DELETE FROM mvcc_t WHERE id BETWEEN 41 AND 44;

-- ---------------------------------------------------------------------
-- REPEATABLE READ: one snapshot for the whole transaction
-- ---------------------------------------------------------------------
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*), sum(id) FROM mvcc_t;
-- (changes by other sessions are tested by the isolation suite); the
-- transaction's own changes are visible in spite of the fixed snapshot
INSERT INTO mvcc_t VALUES (50, 'rr');
SELECT count(*), sum(id) FROM mvcc_t;
UPDATE mvcc_t SET val = 'rr2' WHERE id = 50;
SELECT * FROM mvcc_t WHERE id = 50;
COMMIT;
-- the same for a DELETE, then the row is back after the rollback
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM mvcc_t;
DELETE FROM mvcc_t WHERE id = 50;
SELECT count(*) FROM mvcc_t;
ROLLBACK;
SELECT count(*) FROM mvcc_t WHERE id = 50;

-- ---------------------------------------------------------------------
-- cursors
-- ---------------------------------------------------------------------
CREATE TABLE mvcc_cur (id int, val text) USING lsm;
INSERT INTO mvcc_cur SELECT g, 'c' || g FROM generate_series(1, 1000) g;
-- update some rows so that later versions live elsewhere in the table
UPDATE mvcc_cur SET val = val || 'u' WHERE id % 3 = 0;

BEGIN;
DECLARE sc SCROLL CURSOR FOR SELECT id, val FROM mvcc_cur;
FETCH 3 FROM sc;
FETCH BACKWARD 2 FROM sc;
FETCH ABSOLUTE 500 FROM sc;
FETCH RELATIVE -1 FROM sc;
MOVE FORWARD 10 FROM sc;
FETCH NEXT FROM sc;
FETCH LAST FROM sc;
FETCH PRIOR FROM sc;
MOVE ABSOLUTE 0 FROM sc;
FETCH FORWARD 1 FROM sc;
FETCH ABSOLUTE -1 FROM sc;
MOVE BACKWARD ALL FROM sc;
FETCH NEXT FROM sc;
MOVE FORWARD ALL IN sc;
FETCH BACKWARD 1 FROM sc;
FETCH FIRST FROM sc;
FETCH ABSOLUTE 2000 FROM sc;
FETCH BACKWARD 1 FROM sc;
CLOSE sc;
-- the whole table read backwards equals the forward read, reversed
DECLARE sc2 SCROLL CURSOR FOR SELECT id FROM mvcc_cur;
MOVE FORWARD ALL IN sc2;
CREATE TEMP TABLE mvcc_back (pos int, id int);
DO $$
DECLARE cur refcursor := 'sc2'; r int; n int := 0;
BEGIN
  LOOP
    FETCH BACKWARD FROM cur INTO r;
    EXIT WHEN NOT FOUND;
    n := n + 1;
    INSERT INTO mvcc_back VALUES (n, r);
  END LOOP;
END $$;
SELECT count(*), sum(id) FROM mvcc_back;
-- backward position n holds the row at forward position count + 1 - n
SELECT count(*) AS matched, count(*) FILTER (WHERE f.id <> b.id) AS mismatches
  FROM mvcc_back b
  JOIN (SELECT row_number() OVER () AS pos, id FROM mvcc_cur) f
    ON f.pos = 1001 - b.pos;
COMMIT;
DROP TABLE mvcc_back;

-- WITH HOLD cursors survive the commit, and keep the old data
BEGIN;
DECLARE hc CURSOR WITH HOLD FOR SELECT id, val FROM mvcc_cur WHERE id <= 6 ORDER BY id;
FETCH 2 FROM hc;
COMMIT;
UPDATE mvcc_cur SET val = 'after commit' WHERE id <= 6;
FETCH ALL FROM hc;
CLOSE hc;
-- a holdable cursor whose transaction aborts is gone
BEGIN;
DECLARE hc2 CURSOR WITH HOLD FOR SELECT id FROM mvcc_cur;
ROLLBACK;
FETCH 1 FROM hc2;

-- WHERE CURRENT OF
BEGIN;
DECLARE uc CURSOR FOR SELECT id, val FROM mvcc_cur WHERE id BETWEEN 10 AND 20 FOR UPDATE;
FETCH 1 FROM uc;
UPDATE mvcc_cur SET val = 'current' WHERE CURRENT OF uc RETURNING *;
FETCH 2 FROM uc;
DELETE FROM mvcc_cur WHERE CURRENT OF uc RETURNING *;
FETCH 1 FROM uc;
UPDATE mvcc_cur SET val = 'current 2' WHERE CURRENT OF uc;
UPDATE mvcc_cur SET val = 'current 3' WHERE CURRENT OF uc;
COMMIT;
SELECT id, val FROM mvcc_cur WHERE id BETWEEN 10 AND 20 ORDER BY id;
-- WHERE CURRENT OF with a plain (non-FOR UPDATE) cursor over a seq scan
BEGIN;
DECLARE uc2 CURSOR FOR SELECT id FROM mvcc_cur WHERE id > 995;
FETCH 2 FROM uc2;
DELETE FROM mvcc_cur WHERE CURRENT OF uc2;
FETCH 1 FROM uc2;
UPDATE mvcc_cur SET val = 'cur' WHERE CURRENT OF uc2;
COMMIT;
SELECT id, val FROM mvcc_cur WHERE id > 995 ORDER BY id;
-- a cursor positioned on a row deleted by the same transaction
BEGIN;
DECLARE uc3 CURSOR FOR SELECT id FROM mvcc_cur WHERE id = 30;
FETCH 1 FROM uc3;
DELETE FROM mvcc_cur WHERE id = 30;
UPDATE mvcc_cur SET val = 'gone' WHERE CURRENT OF uc3;
ROLLBACK;
SELECT lsm_check('mvcc_cur');

-- ---------------------------------------------------------------------
-- data-modifying CTEs
-- ---------------------------------------------------------------------
CREATE TABLE mvcc_cte (id int, n int) USING lsm;
INSERT INTO mvcc_cte SELECT g, 0 FROM generate_series(1, 10) g;
-- the outer query sees the snapshot from before the CTEs
WITH u AS (UPDATE mvcc_cte SET n = n + 1 WHERE id <= 5 RETURNING id, n)
SELECT (SELECT sum(n) FROM mvcc_cte) AS table_sum,
       (SELECT sum(n) FROM u) AS returned_sum;
SELECT sum(n) FROM mvcc_cte;
-- delete and reinsert in one statement
WITH d AS (DELETE FROM mvcc_cte WHERE id > 8 RETURNING *),
     i AS (INSERT INTO mvcc_cte SELECT id + 100, n FROM d RETURNING *)
SELECT (SELECT count(*) FROM d) AS deleted, (SELECT count(*) FROM i) AS inserted,
       (SELECT count(*) FROM mvcc_cte) AS visible;
SELECT id, n FROM mvcc_cte ORDER BY id;
-- two CTEs updating the same row: only one wins, the other sees nothing
WITH a AS (UPDATE mvcc_cte SET n = 10 WHERE id = 1 RETURNING id),
     b AS (UPDATE mvcc_cte SET n = 20 WHERE id = 1 RETURNING id)
SELECT (SELECT count(*) FROM a) AS a, (SELECT count(*) FROM b) AS b;
SELECT id, n FROM mvcc_cte WHERE id = 1;
-- move rows between two lsm tables
CREATE TABLE mvcc_cte2 (id int, n int) USING lsm;
WITH moved AS (DELETE FROM mvcc_cte WHERE id % 2 = 0 RETURNING *)
INSERT INTO mvcc_cte2 SELECT * FROM moved;
SELECT 'src' AS t, id FROM mvcc_cte UNION ALL SELECT 'dst', id FROM mvcc_cte2
 ORDER BY 1, 2;
-- a recursive CTE over an lsm table
WITH RECURSIVE r(id) AS (
  SELECT min(id) FROM mvcc_cte
  UNION ALL
  SELECT (SELECT min(id) FROM mvcc_cte c WHERE c.id > r.id) FROM r WHERE r.id IS NOT NULL
)
SELECT array_agg(id ORDER BY id) FROM r WHERE id IS NOT NULL;
SELECT lsm_check('mvcc_cte');
SELECT lsm_check('mvcc_cte2');

DROP TABLE mvcc_t, mvcc_cur, mvcc_cte, mvcc_cte2;
