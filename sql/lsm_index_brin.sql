--
-- lsm_index_brin: BRIN indexes on lsm tables.
--
-- BRIN summarizes ranges of logical blocks (TID block numbers).  Built on
-- existing data and CONCURRENTLY, small pages_per_range on correlated data,
-- summarizing new ranges by function and by VACUUM, desummarizing, REINDEX,
-- the minmax, minmax-multi and bloom operator classes, and bitmap scans that
-- return exactly the rows of a sequential scan.
--

CREATE TABLE lsm_brin (id int, ts timestamp, val int, tag text)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO lsm_brin
  SELECT g, timestamp '2024-01-01' + g * interval '1 minute', g % 97,
         'tag' || (g / 500)
    FROM generate_series(1, 4000) g;

CREATE INDEX lsm_brin_id ON lsm_brin USING brin (id) WITH (pages_per_range = 1);
CREATE INDEX lsm_brin_ts ON lsm_brin USING brin (ts) WITH (pages_per_range = 2);
CREATE INDEX lsm_brin_multi ON lsm_brin USING brin (id, ts, tag)
  WITH (pages_per_range = 2);
VACUUM ANALYZE lsm_brin;

SELECT c.relname, c.reloptions
  FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
 WHERE i.indrelid = 'lsm_brin'::regclass
 ORDER BY c.relname;

-- Bitmap scans through the BRIN indexes.
EXPLAIN (COSTS OFF) SELECT id FROM lsm_brin WHERE id BETWEEN 1500 AND 1510;
SELECT id FROM lsm_brin WHERE id BETWEEN 1500 AND 1510 ORDER BY id;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT count(*) FROM lsm_brin WHERE id BETWEEN 1000 AND 1999;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_brin
  WHERE ts >= '2024-01-02 00:00' AND ts < '2024-01-02 06:00';
SELECT count(*), min(id), max(id) FROM lsm_brin
  WHERE ts >= '2024-01-02 00:00' AND ts < '2024-01-02 06:00';
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_brin WHERE tag = 'tag3';
SELECT count(*), min(id), max(id) FROM lsm_brin WHERE tag = 'tag3';

-- The same rows with a sequential scan.
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_brin WHERE id BETWEEN 1000 AND 1999;
SELECT count(*), sum(val), md5(string_agg(id::text, ',' ORDER BY id))
  FROM lsm_brin WHERE id BETWEEN 1000 AND 1999 AND val < 50;
SELECT count(*), min(id), max(id) FROM lsm_brin
  WHERE ts >= '2024-01-02 00:00' AND ts < '2024-01-02 06:00';
RESET enable_bitmapscan;
SET enable_seqscan = off;
SELECT count(*), sum(val), md5(string_agg(id::text, ',' ORDER BY id))
  FROM lsm_brin WHERE id BETWEEN 1000 AND 1999 AND val < 50;
RESET enable_seqscan;

--
-- New rows land in ranges that are not summarized yet; a bitmap scan
-- still returns them (unsummarized ranges always match).
--
INSERT INTO lsm_brin
  SELECT g, timestamp '2024-01-01' + g * interval '1 minute', g % 97,
         'tag' || (g / 500)
    FROM generate_series(4001, 6000) g;
SET enable_seqscan = off;
SELECT count(*), min(id), max(id) FROM lsm_brin WHERE id BETWEEN 3990 AND 5100;
SELECT brin_summarize_new_values('lsm_brin_id') > 0 AS summarized_id;
SELECT brin_summarize_new_values('lsm_brin_id') AS summarized_again;
SELECT count(*), min(id), max(id) FROM lsm_brin WHERE id BETWEEN 3990 AND 5100;
-- brin_summarize_range on one range, then the rest.
SELECT brin_summarize_range('lsm_brin_ts', 0) AS range0_already_summarized;
SELECT brin_summarize_range('lsm_brin_ts', 4294967295) > 0 AS summarized_ts;
SELECT brin_summarize_range('lsm_brin_ts', 4294967295) AS summarized_ts_again;
SELECT count(*), min(id), max(id) FROM lsm_brin
  WHERE ts >= '2024-01-04 00:00' AND ts < '2024-01-04 01:00';
-- Desummarize a range and summarize it again.
SELECT brin_desummarize_range('lsm_brin_id', 3);
SELECT count(*) FROM lsm_brin WHERE id BETWEEN 1 AND 2000;
SELECT brin_summarize_range('lsm_brin_id', 3);
SELECT count(*) FROM lsm_brin WHERE id BETWEEN 1 AND 2000;
-- Out-of-range block numbers are refused or ignored as for heap.
SELECT brin_summarize_range('lsm_brin_id', -1);
SELECT brin_desummarize_range('lsm_brin_id', 1000000);
RESET enable_seqscan;

-- VACUUM summarizes the remaining new ranges.
INSERT INTO lsm_brin
  SELECT g, timestamp '2024-01-01' + g * interval '1 minute', g % 97,
         'tag' || (g / 500)
    FROM generate_series(6001, 7000) g;
VACUUM lsm_brin;
SELECT brin_summarize_new_values('lsm_brin_multi') AS left_for_multi;
SELECT brin_summarize_new_values('lsm_brin_id') AS left_for_id;

--
-- Updates and deletes: updated versions are new row ids at the end, so
-- they widen the last ranges; results stay right.
--
UPDATE lsm_brin SET val = -1, id = id + 100000 WHERE id % 100 = 0;
DELETE FROM lsm_brin WHERE id BETWEEN 2000 AND 2999;
VACUUM ANALYZE lsm_brin;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM lsm_brin WHERE id > 100000;
SELECT count(*), min(id), max(id) FROM lsm_brin WHERE id > 100000;
SELECT count(*) FROM lsm_brin WHERE id BETWEEN 1900 AND 3100;
SELECT count(*) FROM lsm_brin WHERE val = -1;
RESET enable_seqscan;
SET enable_bitmapscan = off;
SELECT count(*), min(id), max(id) FROM lsm_brin WHERE id > 100000;
SELECT count(*) FROM lsm_brin WHERE id BETWEEN 1900 AND 3100;
RESET enable_bitmapscan;

--
-- CREATE INDEX CONCURRENTLY, REINDEX, other operator classes.
--
CREATE INDEX CONCURRENTLY lsm_brin_val_mm ON lsm_brin
  USING brin (val int4_minmax_multi_ops) WITH (pages_per_range = 1);
CREATE INDEX CONCURRENTLY lsm_brin_tag_bloom ON lsm_brin
  USING brin (tag text_bloom_ops) WITH (pages_per_range = 2);
CREATE INDEX lsm_brin_expr ON lsm_brin USING brin ((id * 2))
  WITH (pages_per_range = 1);
REINDEX INDEX lsm_brin_id;
REINDEX INDEX CONCURRENTLY lsm_brin_ts;
REINDEX TABLE CONCURRENTLY lsm_brin;
SELECT c.relname, i.indisvalid, i.indisready
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'lsm_brin'::regclass
 ORDER BY c.relname;
VACUUM ANALYZE lsm_brin;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_brin WHERE tag = 'tag11';
SELECT count(*), min(id), max(id) FROM lsm_brin WHERE tag = 'tag11';
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_brin WHERE id * 2 = 8642;
SELECT id FROM lsm_brin WHERE id * 2 = 8642;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_brin WHERE val = 96;
SELECT count(*), sum(id) FROM lsm_brin WHERE val = 96;
RESET enable_seqscan;
SET enable_bitmapscan = off;
SELECT count(*), min(id), max(id) FROM lsm_brin WHERE tag = 'tag11';
SELECT count(*), sum(id) FROM lsm_brin WHERE val = 96;
RESET enable_bitmapscan;

-- A fresh BRIN index built over this table agrees with the rebuilt ones.
CREATE INDEX lsm_brin_id2 ON lsm_brin USING brin (id) WITH (pages_per_range = 2);
SELECT brin_summarize_new_values('lsm_brin_id2') AS unsummarized_after_build;
SET enable_seqscan = off;
SELECT count(*), sum(id) FROM lsm_brin WHERE id BETWEEN 3000 AND 5000;
RESET enable_seqscan;
SELECT count(*), sum(id) FROM lsm_brin WHERE id BETWEEN 3000 AND 5000;

-- autosummarize is accepted.
ALTER INDEX lsm_brin_id2 SET (autosummarize = on);
SELECT reloptions FROM pg_class WHERE relname = 'lsm_brin_id2';

SELECT lsm_check('lsm_brin');
DROP TABLE lsm_brin;

-- A BRIN index on an empty lsm table, then on its first rows.
CREATE TABLE lsm_brin_empty (a int) USING lsm;
CREATE INDEX lsm_brin_empty_a ON lsm_brin_empty USING brin (a)
  WITH (pages_per_range = 1);
SELECT brin_summarize_new_values('lsm_brin_empty_a');
INSERT INTO lsm_brin_empty SELECT generate_series(1, 1000);
SELECT brin_summarize_new_values('lsm_brin_empty_a') > 0 AS summarized;
SET enable_seqscan = off;
SELECT count(*) FROM lsm_brin_empty WHERE a BETWEEN 10 AND 20;
RESET enable_seqscan;
TRUNCATE lsm_brin_empty;
SELECT brin_summarize_new_values('lsm_brin_empty_a');
INSERT INTO lsm_brin_empty VALUES (5);
SET enable_seqscan = off;
SELECT * FROM lsm_brin_empty WHERE a = 5;
RESET enable_seqscan;
DROP TABLE lsm_brin_empty;
