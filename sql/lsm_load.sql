--
-- lsm_load: COPY straight into a run (direct load, src/lsm/lsm_load.c).
-- A COPY batch of at least lsm.direct_load_min_bytes into a table without
-- indexes and triggers sends the rest of the COPY into a run of its own,
-- published when COPY ends; its rows carry the loading transaction's xid.
--
\getenv abs_builddir PG_ABS_BUILDDIR
\set f1 :abs_builddir '/results/lsm_load1.data'
\set f2 :abs_builddir '/results/lsm_load2.data'
\set fbad :abs_builddir '/results/lsm_load_bad.data'
\set fgood :abs_builddir '/results/lsm_load_good.data'
COPY (SELECT g, g * 7, g % 1000, repeat('x', g % 50) FROM generate_series(1, 30000) g) TO :'f1';
COPY (SELECT g, g * 7, g % 1000, repeat('y', g % 50) FROM generate_series(30001, 40000) g) TO :'f2';
COPY (SELECT g::text, (g * 7)::text, (g % 1000)::text, 'z' FROM generate_series(40001, 45000) g
      UNION ALL SELECT '45001', 'not a number', '0', 'z') TO :'fbad';
COPY (SELECT g, g * 7, g % 1000, 'z' FROM generate_series(50001, 54000) g) TO :'fgood';

SET lsm.direct_load_min_bytes = '1kB';
CREATE TABLE load_t (id bigint, r bigint, v int, s text) USING lsm
  WITH (autovacuum_enabled = off);

-- one run, no memtable page
COPY load_t FROM :'f1';
SELECT count(*) AS runs, sum(versions) AS versions FROM lsm_runs('load_t');
SELECT memtable_pages FROM lsm_info('load_t');
SELECT count(*), sum(id), sum(v), sum(length(s)) FROM load_t;
SELECT * FROM load_t WHERE id IN (1, 15000, 30000) ORDER BY id;
SELECT lsm_check('load_t');

-- in the loading transaction: visible to the next commands, and its rows
-- can be updated, deleted and locked there
BEGIN;
COPY load_t FROM :'f2';
SELECT count(*), sum(id) FROM load_t;
UPDATE load_t SET v = -1 WHERE id = 35000;
DELETE FROM load_t WHERE id = 35001;
SELECT id, v FROM load_t WHERE id = 35002 FOR UPDATE;
SELECT id, v FROM load_t WHERE id BETWEEN 34999 AND 35002 ORDER BY id;
COMMIT;
SELECT count(*), sum(id) FROM load_t;
SELECT id, v FROM load_t WHERE id BETWEEN 34999 AND 35002 ORDER BY id;
SELECT count(*) AS runs FROM lsm_runs('load_t');
SELECT lsm_check('load_t');

-- aborted: the rows never resurface, and a merge drops them
BEGIN;
COPY load_t FROM :'f2';
SELECT count(*) FROM load_t;
ROLLBACK;
SELECT count(*), sum(id) FROM load_t;
SELECT count(*) AS runs FROM lsm_runs('load_t');
SELECT runs FROM lsm_compact('load_t', true);
SELECT count(*) AS runs, sum(versions) AS versions, sum(tombstones) AS tombstones
  FROM lsm_runs('load_t');
SELECT count(*), sum(id) FROM load_t;
SELECT id, v FROM load_t WHERE id BETWEEN 34999 AND 35002 ORDER BY id;
SELECT lsm_check('load_t');

-- a savepoint rolled back takes its COPY along; the next one stays
BEGIN;
SAVEPOINT a;
COPY load_t FROM :'f2';
ROLLBACK TO SAVEPOINT a;
SELECT count(*) FROM load_t;
SAVEPOINT b;
COPY load_t FROM :'f2';
RELEASE SAVEPOINT b;
SELECT count(*) FROM load_t;
COMMIT;
SELECT count(*), sum(id) FROM load_t;

-- a COPY that fails half-way leaves orphan pages, which VACUUM reclaims
-- (frees, or truncates away at the end of the relation); a first VACUUM
-- cleans what there is to clean (the dead entries of the aborted rows get
-- a run of tombstones), so that the second one has only orphans to reclaim
VACUUM load_t;
SELECT total_pages - free_pages AS used_before FROM lsm_info('load_t') \gset
COPY load_t FROM :'fbad';
SELECT count(*) FROM load_t;
SELECT total_pages - free_pages > :used_before AS orphans FROM lsm_info('load_t');
VACUUM load_t;
SELECT total_pages - free_pages <= :used_before AS reclaimed FROM lsm_info('load_t');
SELECT lsm_check('load_t');
COPY load_t FROM :'fgood';
SELECT count(*), sum(id) FROM load_t;

-- after the commit, compactions merge a loaded run like any other
SELECT runs FROM lsm_compact('load_t', true);
SELECT count(*) AS runs FROM lsm_runs('load_t');
SELECT count(*), sum(id), sum(v), sum(length(s)) FROM load_t;
SELECT lsm_check('load_t');

-- TOAST values, and rows too wide for a run (they go to the memtable)
CREATE TABLE load_wide (id int, t text, p text) USING lsm
  WITH (autovacuum_enabled = off);
ALTER TABLE load_wide ALTER COLUMN p SET STORAGE PLAIN;
COPY (SELECT g, CASE WHEN g % 10 <> 0 THEN
                  (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 100) i) END,
             CASE WHEN g % 10 = 0 THEN repeat('w', 8100) END
        FROM generate_series(1, 200) g) TO :'f1';
COPY load_wide FROM :'f1';
SELECT count(*) AS runs, sum(versions) AS versions FROM lsm_runs('load_wide');
SELECT memtable_pages > 0 AS wide_rows_in_memtable FROM lsm_info('load_wide');
SELECT count(*), sum(length(t)), count(p), sum(length(p)),
       bool_and(t = (SELECT string_agg(md5(id::text || i::text), '') FROM generate_series(1, 100) i)
                OR id % 10 = 0) AS toast_ok
  FROM load_wide;
SELECT lsm_check('load_wide');

-- not loaded: tables with an index or a trigger, or the setting at 0
COPY (SELECT g, g * 7, g % 1000, 'a' FROM generate_series(1, 5000) g) TO :'f1';
CREATE TABLE load_idx (id bigint, r bigint, v int, s text) USING lsm
  WITH (autovacuum_enabled = off);
CREATE INDEX ON load_idx (id);
COPY load_idx FROM :'f1';
SELECT count(*) AS runs FROM lsm_runs('load_idx');
CREATE TABLE load_trg (id bigint, r bigint, v int, s text) USING lsm
  WITH (autovacuum_enabled = off);
CREATE FUNCTION load_trg_f() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER load_trg_t AFTER INSERT ON load_trg FOR EACH ROW EXECUTE FUNCTION load_trg_f();
COPY load_trg FROM :'f1';
SELECT count(*) AS runs FROM lsm_runs('load_trg');
CREATE TABLE load_off (id bigint, r bigint, v int, s text) USING lsm
  WITH (autovacuum_enabled = off);
SET lsm.direct_load_min_bytes = 0;
COPY load_off FROM :'f1';
SELECT count(*) AS runs FROM lsm_runs('load_off');
-- COPY FREEZE (into a table created or truncated in the same transaction):
-- an ordinary run of frozen versions, visible to every snapshot
SET lsm.direct_load_min_bytes = '1kB';
BEGIN;
CREATE TABLE load_frz (id bigint, r bigint, v int, s text) USING lsm
  WITH (autovacuum_enabled = off);
COPY load_frz FROM :'f1' WITH (FREEZE);
SELECT count(*) AS runs, sum(versions) AS versions, bool_and(oldest_xid IS NULL) AS frozen
  FROM lsm_runs('load_frz');
SELECT count(*), sum(id) FROM load_frz;
COMMIT;
SELECT count(*), sum(id) FROM load_frz;
BEGIN;
TRUNCATE load_frz;
COPY load_frz FROM :'f1' WITH (FREEZE);
ROLLBACK;
SELECT count(*), sum(id) FROM load_frz;
SELECT lsm_check('load_frz');
DROP TABLE load_frz;
RESET lsm.direct_load_min_bytes;
-- the default (32kB): a small COPY uses the memtable, a large one a run
COPY (SELECT 1, 2, 3, 'a') TO :'f2';
COPY load_off FROM :'f2';
SELECT count(*) AS runs FROM lsm_runs('load_off');
COPY load_off FROM :'f1';
SELECT count(*) AS runs FROM lsm_runs('load_off');
SELECT count(*) FROM load_off;

-- partitions: each lsm partition gets a run of its own
SET lsm.direct_load_min_bytes = '1kB';
CREATE TABLE load_p (id bigint, r bigint, v int, s text) PARTITION BY RANGE (id);
CREATE TABLE load_p1 PARTITION OF load_p FOR VALUES FROM (0) TO (2500) USING lsm
  WITH (autovacuum_enabled = off);
CREATE TABLE load_p2 PARTITION OF load_p FOR VALUES FROM (2500) TO (10000) USING lsm
  WITH (autovacuum_enabled = off);
COPY load_p FROM :'f1';
SELECT (SELECT count(*) FROM lsm_runs('load_p1')) AS runs1,
       (SELECT count(*) FROM lsm_runs('load_p2')) AS runs2;
SELECT tableoid::regclass, count(*), sum(id) FROM load_p GROUP BY 1 ORDER BY 1;
-- a statement trigger of a partitioned table runs before the partitions'
-- COPY ends, so it must find the rows there: partitions of a table with
-- triggers (at any level above them) are not loaded
CREATE TABLE load_pp (id bigint, r bigint, v int, s text) PARTITION BY RANGE (id);
CREATE TABLE load_pp1 PARTITION OF load_pp FOR VALUES FROM (0) TO (2500) USING lsm
  WITH (autovacuum_enabled = off);
CREATE TABLE load_pp2 PARTITION OF load_pp FOR VALUES FROM (2500) TO (10000)
  PARTITION BY RANGE (id);
CREATE TABLE load_pp21 PARTITION OF load_pp2 FOR VALUES FROM (2500) TO (10000) USING lsm
  WITH (autovacuum_enabled = off);
CREATE FUNCTION load_pp_f() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN
    RAISE NOTICE '% on %: % rows in load_pp', TG_WHEN, TG_TABLE_NAME,
      (SELECT count(*) FROM load_pp);
    RETURN NULL;
  END$$;
CREATE TRIGGER load_pp_t AFTER INSERT ON load_pp
  FOR EACH STATEMENT EXECUTE FUNCTION load_pp_f();
COPY load_pp FROM :'f1';
COPY load_pp2 FROM :'f1' WHERE id >= 2500;
DROP TRIGGER load_pp_t ON load_pp;
CREATE TRIGGER load_pp_t AFTER INSERT ON load_pp2
  FOR EACH STATEMENT EXECUTE FUNCTION load_pp_f();
COPY load_pp2 FROM :'f1' WHERE id >= 2500;
SELECT (SELECT count(*) FROM lsm_runs('load_pp1')) AS runs1,
       (SELECT count(*) FROM lsm_runs('load_pp21')) AS runs21;
-- without the trigger, the partitions are loaded again
DROP TRIGGER load_pp_t ON load_pp2;
COPY load_pp FROM :'f1';
SELECT (SELECT count(*) FROM lsm_runs('load_pp1')) AS runs1,
       (SELECT count(*) FROM lsm_runs('load_pp21')) AS runs21;
SELECT tableoid::regclass, count(*), sum(id) FROM load_pp GROUP BY 1 ORDER BY 1;
DROP TABLE load_pp;
DROP FUNCTION load_pp_f();

-- an index created afterwards finds the loaded rows
CREATE INDEX ON load_t (id);
SET enable_seqscan = off;
SELECT id, r FROM load_t WHERE id = 31234;
-- index fetches in descending TID order within a data page: a lookup
-- decodes a page only up to the TID it wants, so the next, smaller TID
-- needs the whole page
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT id, r FROM load_t WHERE id BETWEEN 31195 AND 31200 ORDER BY id DESC;
SELECT string_agg(id || ':' || r, ',') FROM
  (SELECT id, r FROM load_t WHERE id BETWEEN 31195 AND 31200 ORDER BY id DESC) s;
-- forward and backward through many parts and pages: each fetch decodes
-- the part of its TID (the whole part after the first lookup there)
SET enable_seqscan = on;
SET enable_indexscan = off;
CREATE TEMP TABLE load_t_seq AS
  SELECT count(*) AS n, sum(r) AS r, sum(length(s)) AS s
    FROM load_t WHERE id BETWEEN 30400 AND 32600;
RESET enable_indexscan;
SET enable_seqscan = off;
SELECT (SELECT n FROM load_t_seq) AS rows,
       (SELECT (count(*), sum(r), sum(length(s)))
          FROM (SELECT * FROM load_t WHERE id BETWEEN 30400 AND 32600 ORDER BY id) f)
       = (SELECT (n, r, s) FROM load_t_seq) AS forward_ok,
       (SELECT (count(*), sum(r), sum(length(s)))
          FROM (SELECT * FROM load_t WHERE id BETWEEN 30400 AND 32600 ORDER BY id DESC) b)
       = (SELECT (n, r, s) FROM load_t_seq) AS backward_ok;
RESET enable_bitmapscan;
RESET enable_seqscan;

-- incompressible rows: data pages in parts stored uncompressed (a part
-- that does not fit compressed makes the page raw; its table stays whole)
CREATE TABLE load_rand (id int, b bytea) USING lsm
  WITH (autovacuum_enabled = off);
COPY (SELECT g, decode(md5(g || 'a') || md5(g || 'b') || md5(g || 'c') ||
                       md5(g || 'd'), 'hex')
        FROM generate_series(1, 20000) g) TO :'f1';
COPY load_rand FROM :'f1';
SELECT count(*) AS runs, sum(versions) AS versions,
       sum(compressed_bytes) >= sum(raw_bytes) AS stored_raw
  FROM lsm_runs('load_rand');
SELECT lsm_check('load_rand');
SELECT count(*), sum(length(b)),
       bool_and(b = decode(md5(id || 'a') || md5(id || 'b') || md5(id || 'c') ||
                           md5(id || 'd'), 'hex')) AS bytes_ok
  FROM load_rand;
CREATE INDEX ON load_rand (id);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT id, length(b), b = decode(md5(id || 'a') || md5(id || 'b') ||
                                 md5(id || 'c') || md5(id || 'd'), 'hex') AS ok
  FROM load_rand WHERE id IN (1, 7777, 19999) ORDER BY id;
SELECT count(*) FROM (SELECT * FROM load_rand WHERE id BETWEEN 5000 AND 6000 ORDER BY id DESC) d;
RESET enable_bitmapscan;
RESET enable_seqscan;

-- Sequential scans read a block of a run whose entries are all visible to
-- the snapshot straight from the decoded page, also when the block goes on
-- over the next data page (a page holds the rows of a few blocks, and
-- their boundaries do not meet): each row once, in TID order, in the
-- loading transaction (whose snapshot does not see the rows by the
-- shortcut), after its commit, with tombstones in the run after VACUUM,
-- and after a full compaction.
CREATE TABLE load_blk (id bigint, r bigint, v int) USING lsm
  WITH (autovacuum_enabled = off);
COPY (SELECT g, g * 7, g % 1000 FROM generate_series(1, 20000) g) TO :'f1';
CREATE FUNCTION load_blk_scan(t regclass, OUT n bigint, OUT ids numeric,
                              OUT distinct_tids bigint, OUT tid_order bool,
                              OUT id_order bool)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SELECT count(*), sum(id), count(DISTINCT ctid),
                         bool_and(ctid > prev_ctid), bool_and(id > prev_id)
                    FROM (SELECT ctid, id, lag(ctid) OVER () AS prev_ctid,
                                 lag(id) OVER () AS prev_id FROM %s) s', t)
    INTO n, ids, distinct_tids, tid_order, id_order;
END $$;
BEGIN;
COPY load_blk FROM :'f1';
SELECT * FROM load_blk_scan('load_blk');
COMMIT;
SELECT count(*) AS runs, sum(versions) AS versions, sum(pages) > 20 AS pages
  FROM lsm_runs('load_blk');
SELECT * FROM load_blk_scan('load_blk');
DELETE FROM load_blk WHERE id % 7 = 0 OR id BETWEEN 5000 AND 5600;
SELECT * FROM load_blk_scan('load_blk');
VACUUM load_blk;
SELECT sum(tombstones) > 0 AS tombstones FROM lsm_runs('load_blk');
SELECT * FROM load_blk_scan('load_blk');
SELECT lsm_compact('load_blk', true);
SELECT * FROM load_blk_scan('load_blk');
SELECT lsm_check('load_blk');
-- Run pages of rows that lean on the entry before for their shape: null
-- bitmaps that alternate at the same length (one of v and w NULL), rows
-- without NULLs, and rows whose length changes (some need a two-byte
-- length) are read back as written, block by block.
CREATE TABLE load_blk2 (id bigint, v int, w int, s text) USING lsm
  WITH (autovacuum_enabled = off);
COPY (SELECT g, CASE WHEN g % 400 < 100 AND g % 2 = 1 THEN NULL ELSE g % 1000 END,
             CASE WHEN g % 400 < 100 AND g % 2 = 0 THEN NULL ELSE g % 7 END,
             CASE WHEN g % 400 < 100 THEN NULL WHEN g % 400 < 200 THEN 'abc'
                  ELSE repeat('x', g % 140) END
        FROM generate_series(1, 20000) g) TO :'f1';
COPY load_blk2 FROM :'f1';
SELECT * FROM load_blk_scan('load_blk2');
SELECT count(v) AS nv, count(w) AS nw, count(s) AS ns, sum(length(s)) AS ls,
       count(*) FILTER (WHERE id IS NULL OR
         v IS DISTINCT FROM
           CASE WHEN id % 400 < 100 AND id % 2 = 1 THEN NULL ELSE id % 1000 END OR
         w IS DISTINCT FROM
           CASE WHEN id % 400 < 100 AND id % 2 = 0 THEN NULL ELSE id % 7 END OR
         s IS DISTINCT FROM
           CASE WHEN id % 400 < 100 THEN NULL WHEN id % 400 < 200 THEN 'abc'
                ELSE repeat('x', (id % 140)::int) END) AS wrong
  FROM load_blk2;
SELECT lsm_check('load_blk2');

DROP TABLE load_t, load_wide, load_idx, load_trg, load_off, load_p, load_rand,
  load_blk, load_blk2;
DROP FUNCTION load_trg_f();
DROP FUNCTION load_blk_scan(regclass);
