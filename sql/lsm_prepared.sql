--
-- lsm_prepared: two-phase commit with changes and row locks on lsm tables.
-- (Needs max_prepared_transactions > 0.)
--
CREATE TABLE prep_t (id int PRIMARY KEY, v text) USING lsm;
INSERT INTO prep_t SELECT g, 'v' || g FROM generate_series(1, 10) g;

-- ---------------------------------------------------------------------
-- changes, then COMMIT PREPARED
-- ---------------------------------------------------------------------
BEGIN;
INSERT INTO prep_t VALUES (11, 'new');
UPDATE prep_t SET v = 'updated' WHERE id = 2;
DELETE FROM prep_t WHERE id = 3;
SAVEPOINT s;
DELETE FROM prep_t WHERE id = 4;
ROLLBACK TO s;
PREPARE TRANSACTION 'lsm_prep_1';
SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'lsm_prep%' ORDER BY gid;
-- nothing of it is visible yet
SELECT * FROM prep_t ORDER BY id;
-- xmax shows the change (never the value)
SELECT id, xmax <> '0'::xid AS has_xmax FROM prep_t WHERE id IN (2, 3, 9) ORDER BY id;
-- its row locks hold: the changed rows cannot be locked or changed
SELECT id FROM prep_t WHERE id = 2 FOR UPDATE NOWAIT;
SELECT id FROM prep_t WHERE id = 3 FOR SHARE NOWAIT;
SELECT id FROM prep_t WHERE id = 4 FOR UPDATE NOWAIT;
SET lock_timeout = '50ms';
UPDATE prep_t SET v = 'blocked' WHERE id = 2;
DELETE FROM prep_t WHERE id = 3;
-- the uncommitted key 11 blocks an insert of the same key
INSERT INTO prep_t VALUES (11, 'dup');
RESET lock_timeout;
-- rows it did not touch are free
SELECT id FROM prep_t WHERE id IN (1, 5) ORDER BY id FOR UPDATE NOWAIT;
SELECT id FROM prep_t ORDER BY id FOR UPDATE SKIP LOCKED;
COMMIT PREPARED 'lsm_prep_1';
SELECT * FROM prep_t ORDER BY id;
SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'lsm_prep%';
SELECT id FROM prep_t WHERE id = 2 FOR UPDATE NOWAIT;
SELECT lsm_check('prep_t');

-- ---------------------------------------------------------------------
-- changes, then ROLLBACK PREPARED
-- ---------------------------------------------------------------------
BEGIN;
INSERT INTO prep_t SELECT g, 'rolled back' FROM generate_series(100, 400) g;
UPDATE prep_t SET v = 'rolled back' WHERE id <= 5;
DELETE FROM prep_t WHERE id > 8 AND id < 100;
PREPARE TRANSACTION 'lsm_prep_2';
SELECT count(*), count(*) FILTER (WHERE v = 'rolled back') FROM prep_t;
ROLLBACK PREPARED 'lsm_prep_2';
SELECT * FROM prep_t ORDER BY id;
-- the rows are free again
SELECT id FROM prep_t WHERE id <= 5 ORDER BY id FOR UPDATE NOWAIT;
UPDATE prep_t SET v = 'after rollback' WHERE id = 1;
INSERT INTO prep_t VALUES (100, 'key free again');
SELECT * FROM prep_t WHERE id IN (1, 100) ORDER BY id;
VACUUM prep_t;
SELECT count(*) FROM prep_t;
SELECT lsm_check('prep_t');

-- ---------------------------------------------------------------------
-- row locks only
-- ---------------------------------------------------------------------
BEGIN;
SELECT id FROM prep_t WHERE id = 1 FOR UPDATE;
SELECT id FROM prep_t WHERE id = 5 FOR SHARE;
SELECT id FROM prep_t WHERE id = 6 FOR KEY SHARE;
SELECT id FROM prep_t WHERE id = 7 FOR NO KEY UPDATE;
PREPARE TRANSACTION 'lsm_prep_3';
-- FOR UPDATE
SELECT id FROM prep_t WHERE id = 1 FOR UPDATE NOWAIT;
SELECT id FROM prep_t WHERE id = 1 FOR KEY SHARE NOWAIT;
-- FOR SHARE: shared lockers are fine, writers are not
SELECT id FROM prep_t WHERE id = 5 FOR SHARE NOWAIT;
SELECT id FROM prep_t WHERE id = 5 FOR KEY SHARE NOWAIT;
SELECT id FROM prep_t WHERE id = 5 FOR NO KEY UPDATE NOWAIT;
SELECT id FROM prep_t WHERE id = 5 FOR UPDATE NOWAIT;
-- FOR KEY SHARE: only FOR UPDATE (and key changes, deletes) conflict
SELECT id FROM prep_t WHERE id = 6 FOR NO KEY UPDATE NOWAIT;
SELECT id FROM prep_t WHERE id = 6 FOR UPDATE NOWAIT;
UPDATE prep_t SET v = 'non-key update' WHERE id = 6;
SELECT * FROM prep_t WHERE id = 6;
-- the new version carries the key share lock
SELECT id FROM prep_t WHERE id = 6 FOR UPDATE NOWAIT;
-- (terse: the error context would name the version's TID)
\set VERBOSITY terse
SET lock_timeout = '50ms';
DELETE FROM prep_t WHERE id = 6;
UPDATE prep_t SET id = 60 WHERE id = 6;
RESET lock_timeout;
\set VERBOSITY default
-- FOR NO KEY UPDATE: KEY SHARE is compatible
SELECT id FROM prep_t WHERE id = 7 FOR KEY SHARE NOWAIT;
SELECT id FROM prep_t WHERE id = 7 FOR SHARE NOWAIT;
-- SKIP LOCKED skips the rows locked in a conflicting mode
SELECT id FROM prep_t WHERE id <= 8 ORDER BY id FOR UPDATE SKIP LOCKED;
SELECT id FROM prep_t WHERE id <= 8 ORDER BY id FOR KEY SHARE SKIP LOCKED;
-- readers are never blocked
SELECT * FROM prep_t WHERE id <= 8 ORDER BY id;
COMMIT PREPARED 'lsm_prep_3';
SELECT id FROM prep_t WHERE id IN (1, 5, 6, 7) ORDER BY id FOR UPDATE NOWAIT;
SELECT lsm_check('prep_t');

-- locks taken by a transaction that is rolled back after PREPARE
BEGIN;
SELECT id FROM prep_t WHERE id = 8 FOR UPDATE;
PREPARE TRANSACTION 'lsm_prep_4';
SELECT id FROM prep_t WHERE id = 8 FOR UPDATE NOWAIT;
ROLLBACK PREPARED 'lsm_prep_4';
SELECT id FROM prep_t WHERE id = 8 FOR UPDATE NOWAIT;

-- several lockers of one row: a MultiXact including a prepared transaction
BEGIN;
SELECT id FROM prep_t WHERE id = 2 FOR SHARE;
PREPARE TRANSACTION 'lsm_prep_5';
BEGIN;
SELECT id FROM prep_t WHERE id = 2 FOR KEY SHARE;
PREPARE TRANSACTION 'lsm_prep_6';
SELECT id FROM prep_t WHERE id = 2 FOR SHARE NOWAIT;
SELECT id FROM prep_t WHERE id = 2 FOR UPDATE NOWAIT;
COMMIT PREPARED 'lsm_prep_5';
SELECT id FROM prep_t WHERE id = 2 FOR NO KEY UPDATE NOWAIT;
SELECT id FROM prep_t WHERE id = 2 FOR UPDATE NOWAIT;
ROLLBACK PREPARED 'lsm_prep_6';
SELECT id FROM prep_t WHERE id = 2 FOR UPDATE NOWAIT;
UPDATE prep_t SET v = 'after multixact' WHERE id = 2;
SELECT * FROM prep_t WHERE id = 2;

-- ---------------------------------------------------------------------
-- a table created and filled in a prepared transaction
-- ---------------------------------------------------------------------
BEGIN;
CREATE TABLE prep_new (id int, v text) USING lsm;
INSERT INTO prep_new SELECT g, 'p' FROM generate_series(1, 1000) g;
PREPARE TRANSACTION 'lsm_prep_7';
SELECT count(*) FROM pg_class WHERE relname = 'prep_new';
COMMIT PREPARED 'lsm_prep_7';
SELECT count(*), sum(id) FROM prep_new;
SELECT lsm_check('prep_new');
-- COPY and a TRUNCATE in a prepared transaction
BEGIN;
TRUNCATE prep_new;
COPY prep_new FROM STDIN;
1	copied
2	rows
\.
PREPARE TRANSACTION 'lsm_prep_8';
-- the prepared transaction holds the TRUNCATE's exclusive lock
SET lock_timeout = '50ms';
SELECT count(*) FROM prep_new;
RESET lock_timeout;
COMMIT PREPARED 'lsm_prep_8';
SELECT * FROM prep_new ORDER BY id;
SELECT lsm_check('prep_new');

SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'lsm_prep%';
SELECT * FROM prep_t ORDER BY id;
DROP TABLE prep_t, prep_new;
