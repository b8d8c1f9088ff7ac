--
-- lsm_copy: COPY into and out of lsm tables (COPY FROM uses multi_insert).
--
\getenv abs_builddir PG_ABS_BUILDDIR
\set filename :abs_builddir '/results/lsm_copy.data'

CREATE TABLE copy_t (id int, name text, price numeric, tags text[]) USING lsm;

-- text format: NULLs, escapes, empty strings
COPY copy_t FROM STDIN;
1	apple	1.50	{red,green}
2	\N	\N	\N
3		0	{}
4	tab\there	2.25	{"a b"}
5	back\\slash	-1	{NULL}
6	new\nline	3	{x}
\.
SELECT id, name, price, tags, name IS NULL AS name_null FROM copy_t ORDER BY id;

-- csv format with a header, quoting and a custom NULL string
COPY copy_t (id, name, price) FROM STDIN WITH (FORMAT csv, HEADER true, NULL 'NULL');
id,name,price
7,"comma, inside",7
8,"quote "" inside",8
9,NULL,NULL
10,"",10
11,"multi
line",11
\.
SELECT id, name, price, name IS NULL AS name_null FROM copy_t WHERE id >= 7 ORDER BY id;

-- COPY TO STDOUT, text and csv
COPY copy_t TO STDOUT;
COPY copy_t (id, name) TO STDOUT WITH (FORMAT csv, HEADER true, FORCE_QUOTE (name));
COPY (SELECT id, upper(name) FROM copy_t WHERE id % 2 = 1 ORDER BY id DESC) TO STDOUT;
COPY (SELECT count(*), sum(id) FROM copy_t) TO STDOUT WITH (FORMAT csv);

-- round trip through a file, binary format too
COPY copy_t TO :'filename' WITH (FORMAT binary);
CREATE TABLE copy_t2 (LIKE copy_t) USING lsm;
COPY copy_t2 FROM :'filename' WITH (FORMAT binary);
SELECT count(*) FROM (SELECT * FROM copy_t EXCEPT ALL SELECT * FROM copy_t2) d;
SELECT count(*) FROM (SELECT * FROM copy_t2 EXCEPT ALL SELECT * FROM copy_t) d;
SELECT lsm_check('copy_t');
SELECT lsm_check('copy_t2');
DROP TABLE copy_t2;

-- a larger COPY that fills many pages
CREATE TABLE copy_big (id int, v text) USING lsm;
COPY (SELECT g, 'value ' || g FROM generate_series(1, 20000) g) TO :'filename';
COPY copy_big FROM :'filename';
SELECT count(*), sum(id), count(DISTINCT v), min(v), max(v) FROM copy_big;
SELECT count(DISTINCT ctid) FROM copy_big;
SELECT versions, live_versions FROM lsm_info('copy_big');
SELECT lsm_check('copy_big');
-- a failing row in the middle: nothing of the COPY is left
COPY (SELECT CASE WHEN g = 15000 THEN 'oops' ELSE g::text END, 'x'
        FROM generate_series(1, 20000) g) TO :'filename';
COPY copy_big FROM :'filename';
SELECT count(*), sum(id) FROM copy_big;
DROP TABLE copy_big;

-- ---------------------------------------------------------------------
-- COPY into a table with indexes
-- ---------------------------------------------------------------------
CREATE TABLE copy_idx (id int PRIMARY KEY, code text UNIQUE, grp int) USING lsm;
CREATE INDEX copy_idx_grp ON copy_idx (grp);
COPY copy_idx FROM STDIN WITH (FORMAT csv);
1,a,10
2,b,10
3,c,20
4,d,20
5,e,30
\.
SET enable_seqscan = off;
SELECT id, code FROM copy_idx WHERE grp = 20 ORDER BY id;
SELECT id FROM copy_idx WHERE code = 'e';
SELECT id FROM copy_idx WHERE id = 3;
RESET enable_seqscan;
-- a unique violation rolls the whole COPY back
COPY copy_idx FROM STDIN WITH (FORMAT csv);
6,f,40
7,g,40
3,h,40
\.
COPY copy_idx FROM STDIN WITH (FORMAT csv);
8,i,50
9,a,50
\.
SELECT count(*), max(id) FROM copy_idx;
SET enable_seqscan = off;
SELECT count(*) FROM copy_idx WHERE grp >= 40;
SELECT id FROM copy_idx WHERE id IN (6, 7, 8, 9);
RESET enable_seqscan;
-- a unique violation inside a transaction, the transaction rolled back
BEGIN;
COPY copy_idx FROM STDIN WITH (FORMAT csv);
10,j,60
\.
COPY copy_idx FROM STDIN WITH (FORMAT csv);
11,k,60
10,l,60
\.
ROLLBACK;
SELECT id, code, grp FROM copy_idx ORDER BY id;
SELECT lsm_check('copy_idx');

-- ---------------------------------------------------------------------
-- a BEFORE ROW trigger changes and filters rows
-- ---------------------------------------------------------------------
CREATE TABLE copy_trig (id int, name text, added_by text) USING lsm;
CREATE FUNCTION copy_trig_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id < 0 THEN
    RETURN NULL;          -- skip the row
  END IF;
  NEW.name := upper(NEW.name);
  NEW.added_by := 'trigger';
  RETURN NEW;
END $$;
CREATE TRIGGER copy_trig_before BEFORE INSERT ON copy_trig
  FOR EACH ROW EXECUTE FUNCTION copy_trig_fn();
-- an AFTER ROW trigger sees the rows too
CREATE TABLE copy_trig_log (id int, name text);
CREATE FUNCTION copy_trig_after_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO copy_trig_log VALUES (NEW.id, NEW.name);
  RETURN NULL;
END $$;
CREATE TRIGGER copy_trig_after AFTER INSERT ON copy_trig
  FOR EACH ROW EXECUTE FUNCTION copy_trig_after_fn();
COPY copy_trig (id, name) FROM STDIN;
1	one
-2	skipped
3	three
\N	nullid
\.
SELECT * FROM copy_trig ORDER BY id NULLS LAST;
SELECT * FROM copy_trig_log ORDER BY id NULLS LAST;
DROP TABLE copy_trig, copy_trig_log;
DROP FUNCTION copy_trig_fn(), copy_trig_after_fn();

-- ---------------------------------------------------------------------
-- a partitioned table with lsm partitions (and one heap partition)
-- ---------------------------------------------------------------------
CREATE TABLE copy_part (k int, v text) PARTITION BY RANGE (k);
CREATE TABLE copy_part_1 PARTITION OF copy_part FOR VALUES FROM (0) TO (100) USING lsm;
CREATE TABLE copy_part_2 PARTITION OF copy_part FOR VALUES FROM (100) TO (200) USING lsm;
CREATE TABLE copy_part_h PARTITION OF copy_part FOR VALUES FROM (200) TO (300) USING heap;
CREATE TABLE copy_part_d PARTITION OF copy_part DEFAULT USING lsm;
COPY copy_part FROM STDIN WITH (FORMAT csv);
1,a
150,b
250,c
99,d
100,e
1000,f
-5,g
199,h
\.
SELECT tableoid::regclass AS part, k, v FROM copy_part ORDER BY k;
-- rows alternating between partitions (multi-insert buffers per partition)
COPY (SELECT (g % 4) * 100 + g % 100, 'r' || g FROM generate_series(1, 4000) g) TO :'filename';
COPY copy_part FROM :'filename' WITH (FORMAT text);
SELECT tableoid::regclass AS part, count(*), sum(k) FROM copy_part
 GROUP BY 1 ORDER BY 1;
SELECT lsm_check('copy_part_1'), lsm_check('copy_part_2'), lsm_check('copy_part_d');
-- a failure in one partition rolls back all of them
COPY copy_part FROM STDIN WITH (FORMAT csv);
5,x
105,y
205,z
notanumber,w
\.
SELECT count(*) FROM copy_part;
DROP TABLE copy_part;

-- ---------------------------------------------------------------------
-- COPY FREEZE
-- ---------------------------------------------------------------------
BEGIN;
CREATE TABLE copy_frz (id int, v text) USING lsm;
COPY copy_frz FROM STDIN WITH (FREEZE);
1	frozen
2	rows
\.
SELECT * FROM copy_frz ORDER BY id;
COMMIT;
SELECT * FROM copy_frz ORDER BY id;
-- after TRUNCATE in the same transaction
BEGIN;
TRUNCATE copy_frz;
COPY copy_frz FROM STDIN WITH (FORMAT csv, FREEZE true);
3,after truncate
4,again
\.
SELECT * FROM copy_frz ORDER BY id;
COMMIT;
SELECT * FROM copy_frz ORDER BY id;
SELECT lsm_check('copy_frz');
-- a frozen COPY that is rolled back leaves nothing
BEGIN;
TRUNCATE copy_frz;
COPY copy_frz FROM STDIN WITH (FREEZE);
5	rolled back
\.
ROLLBACK;
SELECT * FROM copy_frz ORDER BY id;
-- not allowed unless the table was created or truncated in this transaction
BEGIN;
COPY copy_frz FROM STDIN WITH (FREEZE);
6	refused
\.
ROLLBACK;
-- rows can be updated and deleted after a frozen COPY
BEGIN;
TRUNCATE copy_frz;
COPY copy_frz FROM STDIN WITH (FREEZE);
7	seven
8	eight
\.
COMMIT;
UPDATE copy_frz SET v = 'SEVEN' WHERE id = 7;
DELETE FROM copy_frz WHERE id = 8;
SELECT * FROM copy_frz ORDER BY id;
SELECT lsm_check('copy_frz');
DROP TABLE copy_frz;

-- COPY FREEZE of many rows, then a VACUUM
BEGIN;
CREATE TABLE copy_frz2 (id int) USING lsm;
COPY (SELECT generate_series(1, 5000)) TO :'filename';
COPY copy_frz2 FROM :'filename' WITH (FREEZE);
COMMIT;
VACUUM copy_frz2;
SELECT count(*), sum(id) FROM copy_frz2;
SELECT lsm_check('copy_frz2');
DROP TABLE copy_frz2;

DROP TABLE copy_t, copy_idx;
