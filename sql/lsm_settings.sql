--
-- Per-table settings (lsm_set_option, lsm_reset_option, the table
-- lsm_table_settings): what flushes and compactions of one table follow
-- instead of the lsm.* GUCs.
--
CREATE TABLE lsm_set_t (id int, v int) USING lsm
  WITH (autovacuum_enabled = off);
CREATE TABLE lsm_set_other (id int, v int) USING lsm
  WITH (autovacuum_enabled = off);
CREATE TABLE lsm_set_heap (id int) USING heap;

SELECT lsm_set_option('lsm_set_t', 'compaction_policy', 'TIERED');
SELECT lsm_set_option('lsm_set_t', 'lsm.compaction_size_ratio', '3');
SELECT lsm_set_option('lsm_set_t', 'bloom_bits_per_key', '4');
SELECT lsm_set_option('lsm_set_t', 'memtable_flush_pages', '8');
SELECT lsm_set_option('lsm_set_t', 'compaction_size_ratio', ' 3 ');	-- again: replaced
SELECT rel, setting, value FROM lsm_table_settings ORDER BY rel::text, setting;
-- the table's settings, the GUCs for the other table
SELECT policy, size_ratio FROM lsm_amplification('lsm_set_t');
SELECT policy, size_ratio FROM lsm_amplification('lsm_set_other');

-- bad input is refused and changes nothing
SELECT lsm_set_option('lsm_set_t', 'compaction_size_ratio', '1');
SELECT lsm_set_option('lsm_set_t', 'compaction_size_ratio', 'four');
SELECT lsm_set_option('lsm_set_t', 'compaction_policy', 'sideways');
SELECT lsm_set_option('lsm_set_t', 'nosuch', '1');
SELECT lsm_set_option('lsm_set_heap', 'compaction_size_ratio', '3');
SELECT lsm_reset_option('lsm_set_t', 'nosuch');
SELECT count(*) FROM lsm_table_settings;

-- only the owner may change them
CREATE ROLE lsm_set_stranger;
SET ROLE lsm_set_stranger;
SELECT lsm_set_option('lsm_set_t', 'compaction_size_ratio', '5');
SELECT lsm_reset_option('lsm_set_t');
INSERT INTO lsm_table_settings VALUES ('lsm_set_t', 'compaction_size_ratio', '5');
SELECT count(*) FROM lsm_table_settings;	-- readable by all
RESET ROLE;
DROP ROLE lsm_set_stranger;

-- the compactions follow them: two flushes stay two runs for lsm_set_t
-- (tiered, ratio 3), and are merged for lsm_set_other (the default:
-- leveled, ratio 4); bloom filters with 3 hashes (4 bits per key)
-- against 7 (10 bits)
CREATE PROCEDURE lsm_set_load(tbl regclass, steps int)
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. steps LOOP
		EXECUTE format('INSERT INTO %s SELECT g, g FROM generate_series(1, 2000) g', tbl);
		COMMIT;
		PERFORM lsm_compact(tbl);
		COMMIT;
	END LOOP;
END $$;
CALL lsm_set_load('lsm_set_t', 2);
CALL lsm_set_load('lsm_set_other', 2);
SELECT string_agg(level || ':' || versions, ' ' ORDER BY run_id DESC) AS runs
  FROM lsm_runs('lsm_set_t');
SELECT string_agg(level || ':' || versions, ' ' ORDER BY run_id DESC) AS runs
  FROM lsm_runs('lsm_set_other');
SELECT DISTINCT bloom_hashes FROM lsm_bloom_check('lsm_set_t', 10);
SELECT DISTINCT bloom_hashes FROM lsm_bloom_check('lsm_set_other', 10);

-- back to the GUCs, one setting or all
SELECT lsm_reset_option('lsm_set_t', 'compaction_policy');
SELECT policy, size_ratio FROM lsm_amplification('lsm_set_t');
SELECT lsm_reset_option('lsm_set_t');
SELECT policy, size_ratio FROM lsm_amplification('lsm_set_t');
SELECT count(*) FROM lsm_table_settings;

-- the rows of a dropped table go with it
SELECT lsm_set_option('lsm_set_t', 'compaction_max_runs', '7');
SELECT lsm_set_option('lsm_set_other', 'compaction_max_runs', '9');
SELECT lsm_set_option('lsm_set_other', 'compaction_max_levels', '3');
SELECT lsm_set_option('lsm_set_other', 'compaction_max_levels', '33');
DROP TABLE lsm_set_t;
SELECT rel, setting, value FROM lsm_table_settings ORDER BY 1, 2;
SELECT lsm_reset_option(NULL);

-- A COPY straight into a run follows the table's own settings even when
-- nothing in the session has read them yet (it used the GUCs: a filter
-- of 10 bits per key here).
\getenv abs_builddir PG_ABS_BUILDDIR
\set fset :abs_builddir '/results/lsm_settings.data'
COPY (SELECT g, g % 100 FROM generate_series(1, 20000) g) TO :'fset';
SET lsm.direct_load_min_bytes = '1kB';
CREATE TABLE lsm_set_bloom (id int, v int) USING lsm
  WITH (autovacuum_enabled = off);
SELECT lsm_set_option('lsm_set_bloom', 'bloom_bits_per_key', '0');
COPY lsm_set_bloom FROM :'fset';
SELECT count(*) AS runs, sum(bloom_bits) AS bloom_bits FROM lsm_runs('lsm_set_bloom');

-- lsm.compression: new runs' data pages stored without LZ4 (larger, read
-- faster), from the GUC or from the table's own setting; the rows read
-- back alike, and a compaction with lz4 compresses them again.
CREATE TABLE lsm_set_raw (id int, v int) USING lsm
  WITH (autovacuum_enabled = off);
SELECT lsm_set_option('lsm_set_raw', 'compression', 'NONE');
SELECT setting, value FROM lsm_table_settings
 WHERE rel = 'lsm_set_raw'::regclass;
COPY lsm_set_raw FROM :'fset';
SELECT count(*) AS runs, sum(compressed_bytes) >= sum(raw_bytes) AS stored_raw
  FROM lsm_runs('lsm_set_raw');
SELECT count(*), sum(id), sum(v) FROM lsm_set_raw;
CREATE INDEX ON lsm_set_raw (id);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT id, v FROM lsm_set_raw WHERE id IN (1, 4321, 20000) ORDER BY id;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT lsm_check('lsm_set_raw');
SELECT lsm_reset_option('lsm_set_raw', 'compression');
SELECT lsm_compact('lsm_set_raw', true) IS NOT NULL AS compacted;
SELECT count(*) AS runs, sum(compressed_bytes) < sum(raw_bytes) AS compressed
  FROM lsm_runs('lsm_set_raw');
-- the GUC: a flush of the memtable (INSERT, not COPY)
SET lsm.compression = none;
INSERT INTO lsm_set_raw SELECT g, g % 100 FROM generate_series(20001, 30000) g;
SELECT lsm_compact('lsm_set_raw') IS NOT NULL AS flushed;
SELECT bool_or(compressed_bytes >= raw_bytes) AS a_run_stored_raw
  FROM lsm_runs('lsm_set_raw');
SELECT count(*), sum(id), sum(v) FROM lsm_set_raw;
RESET lsm.compression;
SELECT lsm_set_option('lsm_set_raw', 'compression', 'zstd');
SET lsm.compression = zstd;
RESET lsm.direct_load_min_bytes;
DROP TABLE lsm_set_bloom, lsm_set_raw;

DROP PROCEDURE lsm_set_load(regclass, int);
DROP TABLE lsm_set_other, lsm_set_heap;
SELECT count(*) FROM lsm_table_settings;
