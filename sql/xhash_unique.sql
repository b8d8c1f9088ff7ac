--
-- xhash_unique: UNIQUE xhash indexes behave like btree unique indexes --
-- same errors, same details -- plus deferred constraints, NULLS NOT
-- DISTINCT, exclusion constraints, and the ON CONFLICT host limit.
--
CREATE TABLE xu (a int4, b text, c int8);
CREATE UNIQUE INDEX xu_a ON xu USING xhash (a);
INSERT INTO xu SELECT g, 'b' || g, g FROM generate_series(1, 3000) g;
INSERT INTO xu VALUES (1, 'dup', 0);
INSERT INTO xu VALUES (3001, 'x', 0), (3001, 'y', 0);
UPDATE xu SET a = 2 WHERE a = 3;
-- a non-key update keeps working (old and new version share the key)
UPDATE xu SET b = 'changed' WHERE a = 10;
UPDATE xu SET a = a + 0 WHERE a < 100;
-- delete, then re-insert the same key
DELETE FROM xu WHERE a = 5;
INSERT INTO xu VALUES (5, 'again', 5);
-- in one transaction, and after a rollback
BEGIN;
DELETE FROM xu WHERE a = 6;
INSERT INTO xu VALUES (6, 'six', 6);
INSERT INTO xu VALUES (6, 'six again', 6);
ROLLBACK;
SELECT a, b FROM xu WHERE a IN (5, 6, 10) ORDER BY a;
-- the same error as a btree unique index gives
CREATE TABLE xu_bt (a int4);
CREATE UNIQUE INDEX xu_bt_a ON xu_bt USING btree (a);
INSERT INTO xu_bt VALUES (1);
INSERT INTO xu_bt VALUES (1);
-- NULLs are distinct by default
INSERT INTO xu VALUES (NULL, 'n1', 0), (NULL, 'n2', 0);
SELECT count(*) FROM xu WHERE a IS NULL;

-- CREATE UNIQUE INDEX over duplicates fails as with btree
CREATE TABLE xu_dups (a int4, b text);
INSERT INTO xu_dups VALUES (1, 'x'), (2, 'y'), (1, 'z');
CREATE UNIQUE INDEX xu_dups_a ON xu_dups USING xhash (a);
CREATE UNIQUE INDEX xu_dups_btree ON xu_dups USING btree (a);
-- dead duplicates do not count
DELETE FROM xu_dups WHERE b = 'z';
CREATE UNIQUE INDEX xu_dups_a ON xu_dups USING xhash (a);
-- duplicates made by HOT updates are found: the build indexes the live
-- version under its chain's root TID, and must compare that version's key
CREATE TABLE xu_hot (id int4, a int4);
INSERT INTO xu_hot VALUES (1, 1), (2, 2);
UPDATE xu_hot SET a = 2 WHERE id = 1;
CREATE UNIQUE INDEX xu_hot_a ON xu_hot USING xhash (a);
CREATE UNIQUE INDEX xu_hot_btree ON xu_hot USING btree (a);
-- and a HOT chain whose key changed back and forth is no duplicate
UPDATE xu_hot SET a = 3 WHERE id = 1;
UPDATE xu_hot SET a = 1 WHERE id = 2;
UPDATE xu_hot SET a = 2 WHERE id = 2;
CREATE UNIQUE INDEX xu_hot_a ON xu_hot USING xhash (a);
SELECT xhash_check('xu_hot_a');
DROP TABLE xu_hot;
-- multi-column unique
CREATE UNIQUE INDEX xu_dups_ab ON xu_dups USING xhash (a, b);
INSERT INTO xu_dups VALUES (3, 'y');
INSERT INTO xu_dups VALUES (2, 'y');
-- text keys; many keys
CREATE TABLE xu_text (k text);
CREATE UNIQUE INDEX xu_text_k ON xu_text USING xhash (k);
INSERT INTO xu_text SELECT md5(g::text) FROM generate_series(1, 20000) g;
INSERT INTO xu_text VALUES (md5('777'));
SELECT xhash_check('xu_text_k');

-- NULLS NOT DISTINCT
CREATE TABLE xu_nnd (a int4, b int4);
CREATE UNIQUE INDEX xu_nnd_ab ON xu_nnd USING xhash (a, b) NULLS NOT DISTINCT;
INSERT INTO xu_nnd VALUES (1, NULL), (NULL, NULL), (1, 1);
INSERT INTO xu_nnd VALUES (1, NULL);
INSERT INTO xu_nnd VALUES (NULL, NULL);
INSERT INTO xu_nnd VALUES (2, NULL);
SELECT * FROM xu_nnd ORDER BY a, b;
CREATE TABLE xu_nnd2 (a int4);
INSERT INTO xu_nnd2 VALUES (NULL), (NULL);
CREATE UNIQUE INDEX ON xu_nnd2 USING xhash (a) NULLS NOT DISTINCT;

-- unique constraints cannot name an xhash index (host limit)
ALTER TABLE xu ADD CONSTRAINT xu_a_key UNIQUE USING INDEX xu_a;

-- deferred uniqueness through an exclusion constraint with "="
CREATE TABLE xu_ex (a int4, b text,
	EXCLUDE USING xhash (a WITH =) DEFERRABLE INITIALLY DEFERRED);
INSERT INTO xu_ex VALUES (1, 'one'), (2, 'two');
BEGIN;
UPDATE xu_ex SET a = 3 - a;	-- swaps 1 and 2: transiently duplicate
COMMIT;
SELECT * FROM xu_ex ORDER BY a;
BEGIN;
INSERT INTO xu_ex VALUES (1, 'another one');
COMMIT;
-- immediate exclusion constraints
CREATE TABLE xu_ex2 (a int4, b int4, EXCLUDE USING xhash (a WITH =, b WITH =));
INSERT INTO xu_ex2 VALUES (1, 1), (1, 2), (2, 1);
INSERT INTO xu_ex2 VALUES (1, 2);
INSERT INTO xu_ex2 VALUES (1, NULL), (1, NULL);
SELECT count(*) FROM xu_ex2;

-- A DEFERRABLE unique constraint (the only source of deferred unique
-- checks) must be a btree index in PostgreSQL 15:
CREATE TABLE xu_def (a int4);
CREATE UNIQUE INDEX xu_def_a ON xu_def USING xhash (a);
ALTER TABLE xu_def ADD CONSTRAINT xu_def_key UNIQUE USING INDEX xu_def_a
	DEFERRABLE INITIALLY DEFERRED;

-- ON CONFLICT: PostgreSQL 15 refuses any table with a non-btree unique index
INSERT INTO xu VALUES (1, 'oc', 0) ON CONFLICT DO NOTHING;
INSERT INTO xu VALUES (1, 'oc', 0) ON CONFLICT (a) DO NOTHING;
-- exclusion constraints with ON CONFLICT DO NOTHING work
INSERT INTO xu_ex2 VALUES (1, 1) ON CONFLICT DO NOTHING;
SELECT count(*) FROM xu_ex2;

-- COPY and multi-row inserts hit the same checks
COPY xu (a, b, c) FROM stdin;
5000	c1	0
5000	c2	0
\.
SELECT count(*) FROM xu WHERE a = 5000;

-- all indexes sound
SELECT xhash_check('xu_a'), xhash_check('xu_dups_ab'), xhash_check('xu_nnd_ab');

DROP TABLE xu, xu_bt, xu_dups, xu_text, xu_nnd, xu_nnd2, xu_ex, xu_ex2, xu_def;
