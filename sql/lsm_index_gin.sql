--
-- lsm_index_gin: GIN indexes on lsm tables.
--
-- Arrays, jsonb (both operator classes) and tsvector; fastupdate on and
-- off, the pending list and gin_clean_pending_list; builds on existing data,
-- CONCURRENTLY and REINDEX; bitmap scans returning exactly the rows of a
-- sequential scan, also after updates, deletes and VACUUM.
--

CREATE TABLE lsm_gin (id int, arr int[], doc jsonb, body text)
  USING lsm WITH (autovacuum_enabled = off);
INSERT INTO lsm_gin
  SELECT g,
         ARRAY[g % 10, g % 7 + 100, g % 3 + 1000],
         jsonb_build_object('id', g, 'color', (ARRAY['red', 'green', 'blue'])[g % 3 + 1],
                            'tags', jsonb_build_array('t' || (g % 5), 't' || (g % 11))),
         'word' || (g % 13) || ' common ' || CASE WHEN g % 50 = 0 THEN 'rare' ELSE 'text' END
    FROM generate_series(1, 3000) g;

CREATE INDEX lsm_gin_arr ON lsm_gin USING gin (arr) WITH (fastupdate = off);
CREATE INDEX lsm_gin_doc ON lsm_gin USING gin (doc);
CREATE INDEX lsm_gin_doc_path ON lsm_gin USING gin (doc jsonb_path_ops)
  WITH (fastupdate = on, gin_pending_list_limit = 64);
CREATE INDEX lsm_gin_fts ON lsm_gin USING gin (to_tsvector('simple', body));
VACUUM ANALYZE lsm_gin;

SELECT c.relname, c.reloptions
  FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
 WHERE i.indrelid = 'lsm_gin'::regclass
 ORDER BY c.relname;

-- The queries, each through a bitmap scan and then a sequential scan.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_gin WHERE arr @> '{3, 101}';
SELECT count(*), sum(id) FROM lsm_gin WHERE arr @> '{3, 101}';
SELECT count(*), sum(id) FROM lsm_gin WHERE arr && '{5, 1002}';
SELECT count(*), sum(id) FROM lsm_gin WHERE arr <@ '{0, 1, 2, 100, 101, 1000, 1001}';
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_gin WHERE doc @> '{"color": "red"}';
SELECT count(*), sum(id) FROM lsm_gin WHERE doc @> '{"color": "red", "tags": ["t3"]}';
SELECT count(*), sum(id) FROM lsm_gin WHERE doc ? 'color';
SELECT count(*), sum(id) FROM lsm_gin WHERE doc ?| ARRAY['nope', 'id'];
SELECT count(*), sum(id) FROM lsm_gin WHERE doc @@ '$.tags[*] == "t10"';
EXPLAIN (COSTS OFF) SELECT id FROM lsm_gin
  WHERE to_tsvector('simple', body) @@ to_tsquery('simple', 'rare & word3');
SELECT id FROM lsm_gin
  WHERE to_tsvector('simple', body) @@ to_tsquery('simple', 'rare & word3') ORDER BY id;
SELECT count(*) FROM lsm_gin
  WHERE to_tsvector('simple', body) @@ to_tsquery('simple', 'common & !text');
RESET enable_seqscan;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_gin WHERE arr @> '{3, 101}';
SELECT count(*), sum(id) FROM lsm_gin WHERE arr @> '{3, 101}';
SELECT count(*), sum(id) FROM lsm_gin WHERE arr && '{5, 1002}';
SELECT count(*), sum(id) FROM lsm_gin WHERE arr <@ '{0, 1, 2, 100, 101, 1000, 1001}';
SELECT count(*), sum(id) FROM lsm_gin WHERE doc @> '{"color": "red", "tags": ["t3"]}';
SELECT count(*), sum(id) FROM lsm_gin WHERE doc ? 'color';
SELECT count(*), sum(id) FROM lsm_gin WHERE doc ?| ARRAY['nope', 'id'];
SELECT count(*), sum(id) FROM lsm_gin WHERE doc @@ '$.tags[*] == "t10"';
SELECT id FROM lsm_gin
  WHERE to_tsvector('simple', body) @@ to_tsquery('simple', 'rare & word3') ORDER BY id;
SELECT count(*) FROM lsm_gin
  WHERE to_tsvector('simple', body) @@ to_tsquery('simple', 'common & !text');
RESET enable_bitmapscan;

--
-- fastupdate: new entries go to the pending list first and are found
-- there; gin_clean_pending_list moves them into the main structure.
--
INSERT INTO lsm_gin
  SELECT g, ARRAY[-1, g], jsonb_build_object('id', g, 'color', 'violet'),
         'pending entry'
    FROM generate_series(3001, 3200) g;
SET enable_seqscan = off;
SELECT count(*), min(id), max(id) FROM lsm_gin WHERE doc @> '{"color": "violet"}';
SELECT count(*), min(id), max(id) FROM lsm_gin WHERE arr @> '{-1}';
SELECT gin_clean_pending_list('lsm_gin_doc_path') > 0 AS cleaned;
SELECT gin_clean_pending_list('lsm_gin_doc_path') AS cleaned_again;
SELECT gin_clean_pending_list('lsm_gin_arr') AS no_pending_list;
SELECT count(*), min(id), max(id) FROM lsm_gin WHERE doc @> '{"color": "violet"}';
RESET enable_seqscan;
-- Switch fastupdate off and on again.
ALTER INDEX lsm_gin_doc_path SET (fastupdate = off);
ALTER INDEX lsm_gin_arr SET (fastupdate = on);
INSERT INTO lsm_gin VALUES (3201, '{-2}', '{"color": "black"}', 'last one');
SET enable_seqscan = off;
SELECT id FROM lsm_gin WHERE doc @> '{"color": "black"}';
SELECT id FROM lsm_gin WHERE arr && '{-2}';
RESET enable_seqscan;

--
-- Updates, deletes and VACUUM.
--
UPDATE lsm_gin SET arr = arr || 555 WHERE id % 4 = 0;
UPDATE lsm_gin SET doc = doc || '{"color": "grey"}' WHERE id % 9 = 0;
DELETE FROM lsm_gin WHERE id % 5 = 0;
SET enable_seqscan = off;
SELECT count(*), sum(id) FROM lsm_gin WHERE arr @> '{555}';
SELECT count(*), sum(id) FROM lsm_gin WHERE doc @> '{"color": "grey"}';
SELECT count(*), sum(id) FROM lsm_gin WHERE doc @> '{"color": "red"}';
VACUUM ANALYZE lsm_gin;
SELECT versions, dead_versions FROM lsm_info('lsm_gin');
SELECT count(*), sum(id) FROM lsm_gin WHERE arr @> '{555}';
SELECT count(*), sum(id) FROM lsm_gin WHERE arr && '{555, 5}';
SELECT count(*), sum(id) FROM lsm_gin WHERE doc @> '{"color": "grey"}';
SELECT count(*), sum(id) FROM lsm_gin WHERE doc @> '{"color": "red"}';
SELECT count(*) FROM lsm_gin
  WHERE to_tsvector('simple', body) @@ to_tsquery('simple', 'rare');
RESET enable_seqscan;
SET enable_bitmapscan = off;
SELECT count(*), sum(id) FROM lsm_gin WHERE arr @> '{555}';
SELECT count(*), sum(id) FROM lsm_gin WHERE arr && '{555, 5}';
SELECT count(*), sum(id) FROM lsm_gin WHERE doc @> '{"color": "grey"}';
SELECT count(*), sum(id) FROM lsm_gin WHERE doc @> '{"color": "red"}';
SELECT count(*) FROM lsm_gin
  WHERE to_tsvector('simple', body) @@ to_tsquery('simple', 'rare');
RESET enable_bitmapscan;

--
-- CREATE INDEX CONCURRENTLY, multi-column GIN, REINDEX.
--
CREATE INDEX CONCURRENTLY lsm_gin_multi ON lsm_gin USING gin (arr, doc);
REINDEX INDEX lsm_gin_arr;
REINDEX INDEX CONCURRENTLY lsm_gin_doc;
REINDEX TABLE CONCURRENTLY lsm_gin;
SELECT c.relname, i.indisvalid, i.indisready
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'lsm_gin'::regclass
 ORDER BY c.relname;
DROP INDEX lsm_gin_arr, lsm_gin_doc, lsm_gin_doc_path;
VACUUM ANALYZE lsm_gin;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_gin
  WHERE arr @> '{4}' AND doc @> '{"color": "blue"}';
SELECT count(*), sum(id) FROM lsm_gin WHERE arr @> '{4}' AND doc @> '{"color": "blue"}';
RESET enable_seqscan;
SET enable_bitmapscan = off;
SELECT count(*), sum(id) FROM lsm_gin WHERE arr @> '{4}' AND doc @> '{"color": "blue"}';
RESET enable_bitmapscan;
SELECT lsm_check('lsm_gin');
DROP TABLE lsm_gin;

--
-- Repeated update + VACUUM cycles (memtable pages are freed and reused),
-- then deletes: a count(*) bitmap scan may skip all-visible blocks, so
-- every index entry of a removed version must be gone.
--
CREATE TABLE lsm_gin_churn (id int, tags int[])
  USING lsm WITH (autovacuum_enabled = off);
CREATE INDEX lsm_gin_churn_tags ON lsm_gin_churn USING gin (tags)
  WITH (fastupdate = off);
INSERT INTO lsm_gin_churn SELECT g, ARRAY[g % 10, 0] FROM generate_series(1, 2000) g;
VACUUM lsm_gin_churn;
UPDATE lsm_gin_churn SET tags = tags || 1;
VACUUM lsm_gin_churn;
UPDATE lsm_gin_churn SET tags = tags || 2;
VACUUM lsm_gin_churn;
UPDATE lsm_gin_churn SET tags = tags || 3;
VACUUM lsm_gin_churn;
DELETE FROM lsm_gin_churn WHERE id % 10 <> 0;
VACUUM ANALYZE lsm_gin_churn;
SELECT versions, dead_versions FROM lsm_info('lsm_gin_churn');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lsm_gin_churn WHERE tags && '{0}';
SELECT count(*) FROM lsm_gin_churn WHERE tags && '{0}';
SELECT count(*) FROM lsm_gin_churn WHERE tags @> '{1, 2, 3}';
SELECT count(*) FROM lsm_gin_churn WHERE tags && '{5}';
RESET enable_seqscan;
SELECT count(*) FROM lsm_gin_churn;
SELECT lsm_check('lsm_gin_churn');
DROP TABLE lsm_gin_churn;
