--
-- xhash_lsm: xhash indexes on lsm tables -- build, inserts, unique checks,
-- updates, deletes and VACUUM -- agree with a sequential scan.
--
CREATE TABLE xl (id int8, grp int4, name text) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO xl SELECT g, g % 50, 'n' || g FROM generate_series(1, 20000) g;
CREATE UNIQUE INDEX xl_id ON xl USING xhash (id);
CREATE INDEX xl_grp_name ON xl USING xhash (grp, name);
SELECT xhash_check('xl_id'), xhash_check('xl_grp_name');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM xl WHERE id = 777;
SELECT * FROM xl WHERE id = 777;
SELECT * FROM xl WHERE grp = 27 AND name = 'n777';
SET enable_indexscan = off;
SELECT * FROM xl WHERE id = 778;
RESET enable_indexscan;

-- unique violations, same wording as btree
INSERT INTO xl VALUES (777, 1, 'dup');
UPDATE xl SET id = 778 WHERE id = 777;
-- updates and deletes, then re-inserted keys
UPDATE xl SET name = name || '!' WHERE id BETWEEN 100 AND 199;
DELETE FROM xl WHERE id BETWEEN 200 AND 299;
INSERT INTO xl SELECT g, 0, 'back' FROM generate_series(200, 249) g;
INSERT INTO xl SELECT g, 1, 'new' FROM generate_series(20001, 40000) g;
SELECT * FROM xl WHERE id = 150;
SELECT * FROM xl WHERE id = 210;
SELECT count(*) FROM xl WHERE id = 260;
SELECT * FROM xl WHERE id = 39999;
VACUUM xl;
SELECT xhash_check('xl_id'), xhash_check('xl_grp_name');

-- every row is found through the index
SET enable_seqscan = on;
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE (SELECT count(*) FROM xl x2 WHERE x2.id = xl.id) = 1) AS found
  FROM xl;
RESET enable_seqscan;
DROP TABLE xl;

-- CREATE UNIQUE INDEX sees duplicates made by updates (as the heap case in
-- xhash_unique), in the memtable and after a flush
CREATE TABLE xl_up (id int4, a int4) USING lsm;
INSERT INTO xl_up VALUES (1, 1), (2, 2);
UPDATE xl_up SET a = 2 WHERE id = 1;
CREATE UNIQUE INDEX xl_up_a ON xl_up USING xhash (a);
SELECT lsm_compact('xl_up') IS NOT NULL AS compacted;
CREATE UNIQUE INDEX xl_up_a ON xl_up USING xhash (a);
UPDATE xl_up SET a = 1 WHERE id = 1;
CREATE UNIQUE INDEX xl_up_a ON xl_up USING xhash (a);
SELECT xhash_check('xl_up_a');
DROP TABLE xl_up;
