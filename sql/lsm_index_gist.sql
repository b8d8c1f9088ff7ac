--
-- lsm_index_gist: GiST indexes on lsm tables.
--
-- Points, boxes and ranges: containment and overlap through index,
-- index-only and bitmap scans, KNN ordering, builds (also buffered and
-- CONCURRENTLY), REINDEX, exclusion constraints, and clean-up by VACUUM.
--

CREATE TABLE lsm_gist (id int, p point, b box, r int4range)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO lsm_gist
  SELECT g,
         point(g % 100, g / 100),
         box(point(g % 100, g / 100), point(g % 100 + 2, g / 100 + 3)),
         int4range(g * 10, g * 10 + 15)
    FROM generate_series(0, 4999) g;

CREATE INDEX lsm_gist_p ON lsm_gist USING gist (p);
CREATE INDEX lsm_gist_b ON lsm_gist USING gist (b) WITH (buffering = on);
CREATE INDEX lsm_gist_r ON lsm_gist USING gist (r);
VACUUM ANALYZE lsm_gist;

-- Points inside a box: index-only scan without table fetches.
EXPLAIN (COSTS OFF) SELECT p FROM lsm_gist WHERE p <@ box '((10,10),(12,12))';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT p FROM lsm_gist WHERE p <@ box '((10,10),(12,12))';
SELECT p FROM lsm_gist WHERE p <@ box '((10,10),(12,12))' ORDER BY p[0], p[1];
-- Fetching another column: a bitmap scan.
EXPLAIN (COSTS OFF) SELECT id FROM lsm_gist WHERE p <@ box '((10,10),(12,12))';
SELECT id FROM lsm_gist WHERE p <@ box '((10,10),(12,12))' ORDER BY id;

-- KNN: nearest neighbours through the index.
EXPLAIN (COSTS OFF) SELECT id, p FROM lsm_gist ORDER BY p <-> point '(50.2, 20.3)' LIMIT 5;
SELECT id, p, round((p <-> point '(50.2, 20.3)')::numeric, 4) AS dist
  FROM lsm_gist ORDER BY p <-> point '(50.2, 20.3)' LIMIT 5;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT p FROM lsm_gist ORDER BY p <-> point '(0, 0)' LIMIT 3;
SELECT p FROM lsm_gist ORDER BY p <-> point '(0, 0)' LIMIT 3;

-- Boxes overlapping a box; ranges overlapping and containing.
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_gist WHERE b && box '((30,30),(31,31))';
SELECT count(*), sum(id) FROM lsm_gist WHERE b && box '((30,30),(31,31))';
EXPLAIN (COSTS OFF) SELECT id FROM lsm_gist WHERE r && int4range(1000, 1031);
SELECT id, r FROM lsm_gist WHERE r && int4range(1000, 1031) ORDER BY id;
SELECT id FROM lsm_gist WHERE r @> 40003 ORDER BY id;
SELECT count(*) FROM lsm_gist WHERE r <@ int4range(0, 500);
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT r FROM lsm_gist WHERE r <@ int4range(0, 100);

-- Forced index vs sequential scan.
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), md5(string_agg(id::text, ',' ORDER BY id))
  FROM lsm_gist WHERE p <@ box '((20,5),(40,30))';
SELECT count(*), md5(string_agg(id::text, ',' ORDER BY id))
  FROM lsm_gist WHERE b && box '((70,20),(90,22))';
SELECT count(*), md5(string_agg(id::text, ',' ORDER BY id))
  FROM lsm_gist WHERE r && int4range(20000, 21000);
RESET enable_seqscan;
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_gist WHERE b && box '((70,20),(90,22))';
SELECT count(*), md5(string_agg(id::text, ',' ORDER BY id))
  FROM lsm_gist WHERE p <@ box '((20,5),(40,30))';
SELECT count(*), md5(string_agg(id::text, ',' ORDER BY id))
  FROM lsm_gist WHERE b && box '((70,20),(90,22))';
SELECT count(*), md5(string_agg(id::text, ',' ORDER BY id))
  FROM lsm_gist WHERE r && int4range(20000, 21000);
RESET enable_bitmapscan;
RESET enable_indexscan;
RESET enable_indexonlyscan;

--
-- Updates, deletes, VACUUM; CREATE INDEX CONCURRENTLY; REINDEX.
--
UPDATE lsm_gist SET p = point(p[0] + 1000, p[1]) WHERE id % 10 = 0;
DELETE FROM lsm_gist WHERE id % 10 = 1;
SET enable_seqscan = off;
SELECT count(*) FROM lsm_gist WHERE p <@ box '((0,0),(99,49))';
SELECT count(*) FROM lsm_gist WHERE p <@ box '((1000,0),(1099,49))';
VACUUM ANALYZE lsm_gist;
SELECT versions, dead_versions FROM lsm_info('lsm_gist');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT p FROM lsm_gist WHERE p <@ box '((0,0),(99,49))';
SELECT count(*) FROM lsm_gist WHERE p <@ box '((1000,0),(1099,49))';
SELECT id, p FROM lsm_gist ORDER BY p <-> point '(1000, 0)' LIMIT 3;
RESET enable_seqscan;

CREATE INDEX CONCURRENTLY lsm_gist_pb ON lsm_gist USING gist (p, b);
CREATE INDEX CONCURRENTLY lsm_gist_rpart ON lsm_gist USING gist (r) WHERE id > 4000;
REINDEX INDEX lsm_gist_p;
REINDEX INDEX CONCURRENTLY lsm_gist_b;
REINDEX TABLE CONCURRENTLY lsm_gist;
SELECT c.relname, i.indisvalid, i.indisready
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'lsm_gist'::regclass
 ORDER BY c.relname;
VACUUM ANALYZE lsm_gist;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM lsm_gist WHERE r && int4range(45000, 45020) AND id > 4000;
SELECT id FROM lsm_gist WHERE r && int4range(45000, 45020) AND id > 4000 ORDER BY id;
SELECT count(*), sum(id) FROM lsm_gist WHERE p <@ box '((5,5),(25,25))';
RESET enable_seqscan;
SELECT count(*), sum(id) FROM lsm_gist WHERE p <@ box '((5,5),(25,25))';
SELECT lsm_check('lsm_gist');
DROP TABLE lsm_gist;

--
-- Exclusion constraints with GiST.
--
CREATE TABLE lsm_gist_booking (room int, during tsrange, spot box,
  EXCLUDE USING gist (during WITH &&))
  USING lsm;
INSERT INTO lsm_gist_booking VALUES
  (1, '[2024-01-01 10:00, 2024-01-01 12:00)', NULL),
  (2, '[2024-01-01 12:00, 2024-01-01 13:00)', NULL);
INSERT INTO lsm_gist_booking VALUES
  (3, '[2024-01-01 11:00, 2024-01-01 11:30)', NULL);
UPDATE lsm_gist_booking SET during = '[2024-01-01 11:00, 2024-01-01 12:30)' WHERE room = 2;
-- Updating a row to a range overlapping only itself is fine.
UPDATE lsm_gist_booking SET during = '[2024-01-01 12:00, 2024-01-01 14:00)' WHERE room = 2;
-- Delete and re-insert the same range in one transaction.
BEGIN;
DELETE FROM lsm_gist_booking WHERE room = 1;
INSERT INTO lsm_gist_booking VALUES (4, '[2024-01-01 10:00, 2024-01-01 12:00)', NULL);
COMMIT;
SELECT room, during FROM lsm_gist_booking ORDER BY lower(during);
-- Deferrable exclusion constraint on boxes.
ALTER TABLE lsm_gist_booking ADD CONSTRAINT lsm_gist_booking_spot
  EXCLUDE USING gist (spot WITH &&) DEFERRABLE INITIALLY DEFERRED;
BEGIN;
UPDATE lsm_gist_booking SET spot = box '((0,0),(1,1))' WHERE room = 2;
UPDATE lsm_gist_booking SET spot = box '((0.5,0.5),(2,2))' WHERE room = 4;
UPDATE lsm_gist_booking SET spot = box '((5,5),(6,6))' WHERE room = 4;
COMMIT;
BEGIN;
UPDATE lsm_gist_booking SET spot = box '((0.5,0.5),(2,2))' WHERE room = 4;
COMMIT;
SELECT room, spot FROM lsm_gist_booking ORDER BY room;
-- Adding a constraint over overlapping data fails.
CREATE TABLE lsm_gist_excl2 (r int4range) USING lsm;
INSERT INTO lsm_gist_excl2 VALUES ('[1,10)'), ('[20,30)'), ('[5,6)');
ALTER TABLE lsm_gist_excl2 ADD EXCLUDE USING gist (r WITH &&);
DELETE FROM lsm_gist_excl2 WHERE r = '[5,6)';
ALTER TABLE lsm_gist_excl2 ADD EXCLUDE USING gist (r WITH &&);
INSERT INTO lsm_gist_excl2 VALUES ('[9,21)');
INSERT INTO lsm_gist_excl2 VALUES ('[10,20)');
SELECT * FROM lsm_gist_excl2 ORDER BY r;
SELECT lsm_check('lsm_gist_booking');
DROP TABLE lsm_gist_booking, lsm_gist_excl2;

--
-- Repeated update + VACUUM cycles, then deletes: index-only scans return
-- only live rows and need no table fetches.
--
CREATE TABLE lsm_gist_churn (id int, p point)
  USING lsm WITH (autovacuum_enabled = off);
CREATE INDEX lsm_gist_churn_p ON lsm_gist_churn USING gist (p);
INSERT INTO lsm_gist_churn SELECT g, point(g, 0) FROM generate_series(1, 2000) g;
VACUUM lsm_gist_churn;
UPDATE lsm_gist_churn SET p = point(p[0], p[1] + 1);
VACUUM lsm_gist_churn;
UPDATE lsm_gist_churn SET p = point(p[0], p[1] + 1);
VACUUM lsm_gist_churn;
UPDATE lsm_gist_churn SET p = point(p[0], p[1] + 1);
VACUUM lsm_gist_churn;
DELETE FROM lsm_gist_churn WHERE id % 10 <> 0;
VACUUM ANALYZE lsm_gist_churn;
SELECT versions, dead_versions FROM lsm_info('lsm_gist_churn');
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT p FROM lsm_gist_churn WHERE p <@ box '((0,0),(3000,10))';
SELECT count(*) FROM lsm_gist_churn WHERE p <@ box '((0,0),(3000,10))';
SELECT count(*) FROM lsm_gist_churn WHERE p <@ box '((0,2.5),(3000,3.5))';
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT count(*) FROM lsm_gist_churn;
SELECT lsm_check('lsm_gist_churn');
DROP TABLE lsm_gist_churn;
