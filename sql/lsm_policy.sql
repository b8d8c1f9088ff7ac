--
-- Compaction policies (lsm.compaction_policy, lsm.compaction_size_ratio,
-- lsm.compaction_max_runs, lsm.compaction_max_levels), run levels by size, lsm_amplification() and
-- lsm_bloom_check().
--
-- Each step loads one batch, commits, and flushes it with lsm_compact(),
-- which then lets the policy merge; the log keeps the levels and versions of
-- the runs after each step, newest first.
--
SET lsm.memtable_flush_pages = 8;	-- level 1 = up to 64 kB of entries
CREATE TABLE lsm_pol (id int, v int) USING lsm
  WITH (autovacuum_enabled = off);
CREATE TABLE lsm_pol_log (step int, runs text);
CREATE PROCEDURE lsm_pol_load(steps int, batch int)
LANGUAGE plpgsql AS $$
DECLARE
	base int;
BEGIN
	FOR i IN 1 .. steps LOOP
		SELECT coalesce(max(id), 0) INTO base FROM lsm_pol;
		INSERT INTO lsm_pol SELECT base + g, g % 7 FROM generate_series(1, batch) g;
		COMMIT;
		PERFORM lsm_compact('lsm_pol');
		INSERT INTO lsm_pol_log
			SELECT (SELECT coalesce(max(step), 0) + 1 FROM lsm_pol_log),
				   string_agg(level || ':' || versions, ' ' ORDER BY run_id DESC)
			  FROM lsm_runs('lsm_pol');
		COMMIT;
	END LOOP;
END $$;

-- leveled, ratio 4: every run stays more than 4 times all newer runs
SET lsm.compaction_policy = leveled;
SET lsm.compaction_size_ratio = 4;
CALL lsm_pol_load(8, 2000);
SELECT * FROM lsm_pol_log ORDER BY step;
SELECT policy, size_ratio, runs, levels, write_amplification > 1 AS rewrote,
       space_amplification, runs_searched_max,
       runs_searched_expected BETWEEN 1 AND runs_searched_max AS expected_ok
  FROM lsm_amplification('lsm_pol');

-- tiered, ratio 3: three runs of one level become one of the next
SELECT lsm_compact('lsm_pol', true) IS NOT NULL AS compacted;
TRUNCATE lsm_pol, lsm_pol_log;
SET lsm.compaction_policy = tiered;
SET lsm.compaction_size_ratio = 3;
CALL lsm_pol_load(10, 2000);
SELECT * FROM lsm_pol_log ORDER BY step;
SELECT policy, size_ratio, runs, levels, runs_searched_max
  FROM lsm_amplification('lsm_pol');

-- lsm.compaction_max_runs caps the runs whatever the policy
TRUNCATE lsm_pol, lsm_pol_log;
SET lsm.compaction_size_ratio = 10;
SET lsm.compaction_max_runs = 3;
CALL lsm_pol_load(6, 2000);
SELECT * FROM lsm_pol_log ORDER BY step;

-- every row is there once, whatever was merged
SELECT count(*), count(DISTINCT id), min(id), max(id), sum(v) FROM lsm_pol;
SELECT lsm_check('lsm_pol');

-- lsm.compaction_max_levels caps the levels (size classes) the runs occupy,
-- whatever the policy: tiered with ratio 10 alone would keep runs of
-- levels 1 and 2 side by side below an older run of level 3
TRUNCATE lsm_pol, lsm_pol_log;
RESET lsm.compaction_max_runs;
SET lsm.compaction_policy = tiered;
SET lsm.compaction_size_ratio = 10;
INSERT INTO lsm_pol SELECT g, g % 7 FROM generate_series(1, 60000) g;
SELECT lsm_compact('lsm_pol', true) IS NOT NULL AS compacted;
CALL lsm_pol_load(3, 10000);
CALL lsm_pol_load(2, 2000);
SELECT * FROM lsm_pol_log ORDER BY step;
SET lsm.compaction_max_levels = 2;
CALL lsm_pol_load(1, 2000);
SELECT * FROM lsm_pol_log ORDER BY step DESC LIMIT 1;
SELECT runs, levels FROM lsm_amplification('lsm_pol');
SELECT count(*), count(DISTINCT id), sum(v) FROM lsm_pol;
SELECT lsm_check('lsm_pol');
RESET lsm.compaction_max_levels;

-- updated rows leave older copies in the runs until a merge reaches them
TRUNCATE lsm_pol, lsm_pol_log;
RESET lsm.compaction_max_runs;
SET lsm.compaction_policy = leveled;
SET lsm.compaction_size_ratio = 4;
INSERT INTO lsm_pol SELECT g, 0 FROM generate_series(1, 4000) g;
SELECT lsm_compact('lsm_pol', true) IS NOT NULL AS compacted;
UPDATE lsm_pol SET v = 1 WHERE id <= 2000;
SELECT lsm_compact('lsm_pol') IS NOT NULL AS compacted;
SELECT runs, run_entries, memtable_versions, versions_kept,
       round(space_amplification::numeric, 2) AS space_amplification
  FROM lsm_amplification('lsm_pol');
VACUUM lsm_pol;
SELECT lsm_compact('lsm_pol', true) IS NOT NULL AS compacted;
SELECT runs, run_entries, memtable_versions, versions_kept,
       round(space_amplification::numeric, 2) AS space_amplification
  FROM lsm_amplification('lsm_pol');
SELECT count(*), sum(v) FROM lsm_pol;

-- bad settings are refused
SET lsm.compaction_policy = sideways;
SET lsm.compaction_size_ratio = 1;

-- the bloom filters' false-positive rate, predicted and measured
CREATE TABLE lsm_bloom (id int, v int) USING lsm
  WITH (autovacuum_enabled = off);
INSERT INTO lsm_bloom SELECT g, g FROM generate_series(1, 30000) g;
SELECT lsm_compact('lsm_bloom', true) IS NOT NULL AS compacted;
INSERT INTO lsm_bloom SELECT g, g FROM generate_series(30001, 40000) g;
SET lsm.bloom_bits_per_key = 4;
SET lsm.compaction_size_ratio = 2;
SELECT lsm_compact('lsm_bloom') IS NOT NULL AS compacted;
RESET lsm.bloom_bits_per_key;
RESET lsm.compaction_size_ratio;
SELECT entries, bloom_bits / entries AS bits_per_key, bloom_hashes,
       round(expected_fpr::numeric, 3) AS expected_fpr, probed, absent,
       false_positives, round(measured_fpr::numeric, 3) AS measured_fpr,
       measured_fpr BETWEEN expected_fpr / 2 AND expected_fpr * 2 AS as_predicted
  FROM lsm_bloom_check('lsm_bloom', 20000);
SELECT lsm_bloom_check('lsm_bloom', 0);
DROP TABLE lsm_bloom;

DROP PROCEDURE lsm_pol_load(int, int);
DROP TABLE lsm_pol, lsm_pol_log;
RESET lsm.compaction_policy;
RESET lsm.compaction_size_ratio;
RESET lsm.memtable_flush_pages;
