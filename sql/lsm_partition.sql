--
-- lsm_partition: partitioned tables with lsm partitions.
--
-- Partitions declared USING lsm and through default_table_access_method,
-- a mix of heap and lsm partitions, tuple routing (INSERT and COPY), rows
-- moved between partitions by UPDATE, pruning, ATTACH/DETACH, indexes and
-- unique constraints across partitions, partitionwise aggregates and joins.
--

-- PostgreSQL 15 does not take an access method on a partitioned table.
CREATE TABLE lsm_part_bad (a int) PARTITION BY RANGE (a) USING lsm;

CREATE TABLE lsm_part (id int NOT NULL, region text NOT NULL, amount numeric,
                       note text)
  PARTITION BY RANGE (id);
CREATE TABLE lsm_part_1 PARTITION OF lsm_part FOR VALUES FROM (0) TO (1000)
  USING lsm WITH (autovacuum_enabled = off);
CREATE TABLE lsm_part_2 PARTITION OF lsm_part FOR VALUES FROM (1000) TO (2000)
  USING lsm WITH (autovacuum_enabled = off);
-- A heap partition among lsm ones.
CREATE TABLE lsm_part_3 PARTITION OF lsm_part FOR VALUES FROM (2000) TO (3000)
  USING heap WITH (autovacuum_enabled = off);
-- Partitions that take the default access method, one of them partitioned
-- again by list.
SET default_table_access_method = lsm;
CREATE TABLE lsm_part_4 PARTITION OF lsm_part FOR VALUES FROM (3000) TO (4000)
  PARTITION BY LIST (region);
CREATE TABLE lsm_part_4_ne PARTITION OF lsm_part_4 FOR VALUES IN ('north', 'east')
  WITH (autovacuum_enabled = off);
CREATE TABLE lsm_part_4_other PARTITION OF lsm_part_4 DEFAULT
  WITH (autovacuum_enabled = off);
CREATE TABLE lsm_part_def PARTITION OF lsm_part DEFAULT
  WITH (autovacuum_enabled = off);
RESET default_table_access_method;

SELECT c.relname, c.relkind, coalesce(am.amname, '-') AS am
  FROM pg_class c LEFT JOIN pg_am am ON am.oid = c.relam
 WHERE c.relname LIKE 'lsm\_part%' AND c.relkind IN ('r', 'p')
 ORDER BY c.relname;

-- Indexes on the parent are created on every partition.
ALTER TABLE lsm_part ADD PRIMARY KEY (id, region);
CREATE INDEX lsm_part_region ON lsm_part (region, amount);

--
-- Routing.
--
INSERT INTO lsm_part
  SELECT g, (ARRAY['north', 'south', 'east', 'west'])[g % 4 + 1], g * 1.5, 'n' || g
    FROM generate_series(0, 4499) g
   WHERE g % 1000 < 800;
COPY lsm_part (id, region, amount, note) FROM stdin;
5000	north	1	copied
999	south	2	copied
1999	west	3	copied
3999	east	4	copied
3998	west	5	copied
\.
SELECT tableoid::regclass AS part, count(*), min(id), max(id)
  FROM lsm_part GROUP BY 1 ORDER BY 1;
SELECT tableoid::regclass AS part, id, region, note
  FROM lsm_part WHERE note = 'copied' ORDER BY id, region;
-- Rows outside every range go to the default partition; key and partition
-- constraint violations.
INSERT INTO lsm_part VALUES (-1, 'north', 0, 'neg') RETURNING tableoid::regclass, id;
INSERT INTO lsm_part VALUES (5, 'south', 0, 'dup');
INSERT INTO lsm_part_1 VALUES (1500, 'south', 0, 'wrong partition');
INSERT INTO lsm_part_4_ne VALUES (3500, 'south', 0, 'wrong region');

--
-- Partition pruning.
--
VACUUM ANALYZE lsm_part;
EXPLAIN (COSTS OFF) SELECT * FROM lsm_part WHERE id = 1234;
SELECT * FROM lsm_part WHERE id = 1234;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_part WHERE id BETWEEN 900 AND 1100;
SELECT count(*) FROM lsm_part WHERE id BETWEEN 900 AND 1100;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_part WHERE id >= 3000 AND id < 4000
  AND region = 'east';
SELECT count(*) FROM lsm_part WHERE id >= 3000 AND id < 4000 AND region = 'east';
-- Run-time pruning with a generic plan.
SET plan_cache_mode = force_generic_plan;
PREPARE lsm_part_q(int) AS SELECT id, region FROM lsm_part WHERE id = $1;
EXPLAIN (COSTS OFF) EXECUTE lsm_part_q(2500);
EXECUTE lsm_part_q(2500);
EXECUTE lsm_part_q(3501);
DEALLOCATE lsm_part_q;
RESET plan_cache_mode;

--
-- UPDATEs that move rows between partitions: lsm to lsm, lsm to heap,
-- heap to lsm, into and out of the default partition and sub-partitions.
--
UPDATE lsm_part SET id = id + 1900, note = 'moved up'
 WHERE id IN (10, 11, 1010, 2010, 3010) RETURNING tableoid::regclass, id, region;
UPDATE lsm_part SET id = id - 1100, note = 'moved down'
 WHERE id IN (2011, 3015) RETURNING tableoid::regclass, id, region;
UPDATE lsm_part SET region = 'north' WHERE id = 3019 AND region = 'west'
  RETURNING tableoid::regclass, id, region;
UPDATE lsm_part SET id = 100000 WHERE id = 12 RETURNING tableoid::regclass, id;
UPDATE lsm_part SET id = 12 WHERE id = 100000 RETURNING tableoid::regclass, id;
SELECT tableoid::regclass AS part, id, region, note FROM lsm_part
 WHERE note LIKE 'moved%' OR id IN (12, 3019) ORDER BY id, region;
-- A move that would violate the primary key in the target partition.
UPDATE lsm_part SET id = 1013 WHERE id = 13;
SELECT tableoid::regclass AS part, id, region FROM lsm_part WHERE id IN (13, 1013) ORDER BY id;
-- The same row reached twice by one statement is moved only once.
UPDATE lsm_part p SET id = p.id + 1800, note = 'joined twice'
  FROM (VALUES (14), (14), (15)) v(x) WHERE p.id = v.x
  RETURNING tableoid::regclass, p.id;
-- Moves inside a transaction, rolled back to a savepoint, moved again.
BEGIN;
UPDATE lsm_part SET id = id + 1800 WHERE id = 16;
SAVEPOINT s1;
UPDATE lsm_part SET id = id + 1000 WHERE id = 1816;
SELECT tableoid::regclass, id FROM lsm_part WHERE id IN (16, 1816, 2816) ORDER BY id;
ROLLBACK TO SAVEPOINT s1;
SELECT tableoid::regclass, id FROM lsm_part WHERE id IN (16, 1816, 2816) ORDER BY id;
UPDATE lsm_part SET id = 16 WHERE id = 1816;
UPDATE lsm_part SET note = 'back home' WHERE id = 16;
COMMIT;
SELECT tableoid::regclass, id, note FROM lsm_part WHERE id IN (16, 1816, 2816) ORDER BY id;
-- A cursor moving the row it is positioned on.
BEGIN;
DECLARE lsm_part_cur CURSOR FOR
  SELECT id FROM lsm_part WHERE id % 1000 BETWEEN 20 AND 24 ORDER BY id FOR UPDATE;
FETCH lsm_part_cur;
UPDATE lsm_part SET id = id + 1800 WHERE CURRENT OF lsm_part_cur;
FETCH lsm_part_cur;
UPDATE lsm_part SET note = 'cursor' WHERE CURRENT OF lsm_part_cur;
FETCH lsm_part_cur;
DELETE FROM lsm_part WHERE CURRENT OF lsm_part_cur;
COMMIT;
SELECT tableoid::regclass, id, note FROM lsm_part WHERE id IN (20, 21, 22, 1820) ORDER BY id;
-- A data-modifying CTE that moves rows, read by the outer query.
WITH moved AS (
  UPDATE lsm_part SET id = id + 1800 WHERE id BETWEEN 30 AND 33 RETURNING id
)
SELECT count(*), min(id), max(id) FROM moved;
SELECT tableoid::regclass, count(*) FROM lsm_part WHERE id % 1000 BETWEEN 30 AND 33
 GROUP BY 1 ORDER BY 1;
-- Deleting from the parent.
DELETE FROM lsm_part WHERE id % 1000 = 500 RETURNING tableoid::regclass, id;
SELECT lsm_check('lsm_part_1'), lsm_check('lsm_part_2'), lsm_check('lsm_part_4_ne'),
       lsm_check('lsm_part_4_other'), lsm_check('lsm_part_def');

--
-- Partitionwise aggregate and join.
--
VACUUM ANALYZE lsm_part;
SET enable_partitionwise_aggregate = on;
SET enable_partitionwise_join = on;
EXPLAIN (COSTS OFF)
  SELECT region, count(*), sum(amount) FROM lsm_part WHERE id < 3000 GROUP BY region ORDER BY 1;
SELECT region, count(*), sum(amount) FROM lsm_part WHERE id < 3000 GROUP BY region ORDER BY 1;
EXPLAIN (COSTS OFF)
  SELECT id, region, count(*) FROM lsm_part WHERE id < 2000 GROUP BY id, region
  HAVING count(*) > 1;
SELECT id / 1000 AS k, count(*), sum(amount) FROM lsm_part GROUP BY id / 1000 ORDER BY 1;
CREATE TABLE lsm_part_other (id int NOT NULL, region text NOT NULL, w int)
  PARTITION BY RANGE (id);
CREATE TABLE lsm_part_other_1 PARTITION OF lsm_part_other FOR VALUES FROM (0) TO (1000)
  USING lsm WITH (autovacuum_enabled = off);
CREATE TABLE lsm_part_other_2 PARTITION OF lsm_part_other FOR VALUES FROM (1000) TO (2000)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO lsm_part_other
  SELECT g, (ARRAY['north', 'south', 'east', 'west'])[g % 4 + 1], g % 3
    FROM generate_series(0, 1999, 5) g;
ANALYZE lsm_part_other;
EXPLAIN (COSTS OFF)
  SELECT p.region, sum(o.w) FROM lsm_part p JOIN lsm_part_other o USING (id, region)
   WHERE p.id < 2000 GROUP BY p.region ORDER BY 1;
SELECT p.region, count(*), sum(o.w) FROM lsm_part p JOIN lsm_part_other o USING (id, region)
 WHERE p.id < 2000 GROUP BY p.region ORDER BY 1;
RESET enable_partitionwise_aggregate;
RESET enable_partitionwise_join;
SELECT id / 1000 AS k, count(*), sum(amount) FROM lsm_part GROUP BY id / 1000 ORDER BY 1;
SELECT p.region, count(*), sum(o.w) FROM lsm_part p JOIN lsm_part_other o USING (id, region)
 WHERE p.id < 2000 GROUP BY p.region ORDER BY 1;
DROP TABLE lsm_part_other;

--
-- ATTACH and DETACH.
--
CREATE TABLE lsm_part_5 (id int NOT NULL, region text NOT NULL, amount numeric,
                         note text)
  USING lsm;
INSERT INTO lsm_part_5 SELECT g, 'south', 0, 'attached' FROM generate_series(6000, 6099) g;
INSERT INTO lsm_part_5 VALUES (7000, 'south', 0, 'out of range');
-- Validation scans the lsm table and finds the row out of range.
ALTER TABLE lsm_part ATTACH PARTITION lsm_part_5 FOR VALUES FROM (6000) TO (7000);
DELETE FROM lsm_part_5 WHERE id = 7000;
-- The default partition is scanned too: it must not hold rows of the new range.
INSERT INTO lsm_part VALUES (6050, 'north', 0, 'in default');
ALTER TABLE lsm_part ATTACH PARTITION lsm_part_5 FOR VALUES FROM (6000) TO (7000);
DELETE FROM lsm_part WHERE id = 6050 AND region = 'north';
ALTER TABLE lsm_part ATTACH PARTITION lsm_part_5 FOR VALUES FROM (6000) TO (7000);
SELECT tableoid::regclass, count(*) FROM lsm_part WHERE id >= 6000 GROUP BY 1 ORDER BY 1;
INSERT INTO lsm_part VALUES (6500, 'east', 1, 'routed to attached');
SELECT tableoid::regclass, id, note FROM lsm_part WHERE id = 6500;
-- The attached partition got the parent's indexes.
SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'lsm_part_5'::regclass
 ORDER BY 1::text;
INSERT INTO lsm_part VALUES (6001, 'south', 0, 'dup');
-- A CHECK constraint that implies the partition bound skips the scan.
CREATE TABLE lsm_part_6 (id int NOT NULL, region text NOT NULL, amount numeric,
                         note text, CHECK (id >= 7000 AND id < 8000))
  USING lsm;
INSERT INTO lsm_part_6 VALUES (7001, 'west', 2, 'checked');
ALTER TABLE lsm_part ATTACH PARTITION lsm_part_6 FOR VALUES FROM (7000) TO (8000);
SELECT tableoid::regclass, id, note FROM lsm_part WHERE id >= 7000 ORDER BY id;
-- Detach: the rows stay in the detached table.
ALTER TABLE lsm_part DETACH PARTITION lsm_part_5;
SELECT count(*) FROM lsm_part WHERE id BETWEEN 6000 AND 6999;
SELECT count(*), min(id), max(id) FROM lsm_part_5;
INSERT INTO lsm_part_5 VALUES (9999, 'north', 0, 'free again');
ALTER TABLE lsm_part DETACH PARTITION lsm_part_6 CONCURRENTLY;
ALTER TABLE lsm_part DETACH PARTITION lsm_part_6;
SELECT count(*) FROM lsm_part WHERE id >= 7000;
SELECT id, note FROM lsm_part_6 ORDER BY id;
INSERT INTO lsm_part VALUES (7002, 'west', 2, 'now in default') RETURNING tableoid::regclass;
-- An lsm table attached beside a heap partition of a list-partitioned
-- table, rows moved between them, and DETACH CONCURRENTLY.
CREATE TABLE lsm_part_list (k text, v int) PARTITION BY LIST (k);
CREATE TABLE lsm_part_list_a PARTITION OF lsm_part_list FOR VALUES IN ('a');
CREATE TABLE lsm_part_list_b (k text, v int) USING lsm;
INSERT INTO lsm_part_list_b VALUES ('b', 1), ('b', 2);
ALTER TABLE lsm_part_list ATTACH PARTITION lsm_part_list_b FOR VALUES IN ('b');
INSERT INTO lsm_part_list VALUES ('a', 10), ('b', 3);
UPDATE lsm_part_list SET k = 'b' WHERE k = 'a';
UPDATE lsm_part_list SET k = 'a', v = v * 100 WHERE v = 1;
SELECT tableoid::regclass, k, v FROM lsm_part_list ORDER BY k, v;
ALTER TABLE lsm_part_list DETACH PARTITION lsm_part_list_b CONCURRENTLY;
SELECT tableoid::regclass, k, v FROM lsm_part_list ORDER BY k, v;
SELECT k, v FROM lsm_part_list_b ORDER BY k, v;
SELECT lsm_check('lsm_part_list_b');
DROP TABLE lsm_part_list, lsm_part_list_b, lsm_part_5, lsm_part_6;

--
-- Hash partitioning, TRUNCATE of a partition, VACUUM of the parent.
--
CREATE TABLE lsm_part_hash (id int PRIMARY KEY, v text) PARTITION BY HASH (id);
CREATE TABLE lsm_part_hash_0 PARTITION OF lsm_part_hash
  FOR VALUES WITH (MODULUS 3, REMAINDER 0) USING lsm WITH (autovacuum_enabled = off);
CREATE TABLE lsm_part_hash_1 PARTITION OF lsm_part_hash
  FOR VALUES WITH (MODULUS 3, REMAINDER 1) USING lsm WITH (autovacuum_enabled = off);
CREATE TABLE lsm_part_hash_2 PARTITION OF lsm_part_hash
  FOR VALUES WITH (MODULUS 3, REMAINDER 2) USING heap WITH (autovacuum_enabled = off);
INSERT INTO lsm_part_hash SELECT g, 'v' || g FROM generate_series(1, 3000) g;
SELECT tableoid::regclass, count(*) FROM lsm_part_hash GROUP BY 1 ORDER BY 1;
UPDATE lsm_part_hash SET id = id + 10000 WHERE id <= 30;
SELECT count(*), sum(id) FROM lsm_part_hash;
TRUNCATE lsm_part_hash_1;
SELECT tableoid::regclass, count(*) FROM lsm_part_hash GROUP BY 1 ORDER BY 1;
DELETE FROM lsm_part_hash WHERE id % 2 = 0;
VACUUM lsm_part_hash;
SELECT versions, dead_versions FROM lsm_info('lsm_part_hash_0');
EXPLAIN (COSTS OFF) SELECT * FROM lsm_part_hash WHERE id = 42;
SELECT * FROM lsm_part_hash WHERE id IN (41, 42, 43) ORDER BY id;
SELECT lsm_check('lsm_part_hash_0'), lsm_check('lsm_part_hash_1');
DROP TABLE lsm_part_hash;

SELECT lsm_check('lsm_part_1'), lsm_check('lsm_part_2'), lsm_check('lsm_part_4_ne'),
       lsm_check('lsm_part_4_other'), lsm_check('lsm_part_def');
DROP TABLE lsm_part;
