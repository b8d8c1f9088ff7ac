--
-- xhash_basic: the access method, every operator class, multi-column keys,
-- NULLs, cross-type lookups, the planner's choices, and the verifier.
--
SELECT amname, amtype FROM pg_am WHERE amname = 'xhash';

-- every operator class validates
SELECT opc.opcname, amvalidate(opc.oid)
  FROM pg_opclass opc JOIN pg_am am ON am.oid = opc.opcmethod
 WHERE am.amname = 'xhash'
 ORDER BY 1;

-- one table with a column of every supported type
CREATE TYPE xh_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE xh_types (
	id int4, c_int2 int2, c_int8 int8, c_text text, c_varchar varchar(20),
	c_bpchar char(8), c_bytea bytea, c_uuid uuid, c_numeric numeric,
	c_bool bool, c_char "char", c_oid oid, c_date date, c_time time,
	c_ts timestamp, c_tstz timestamptz, c_interval interval, c_float4 float4,
	c_float8 float8, c_inet inet, c_jsonb jsonb, c_enum xh_mood);
INSERT INTO xh_types
SELECT g, (g % 300)::int2, g * 1000000007::int8, 'text ' || g, 'vc' || g,
	   'bp' || (g % 50), decode(md5(g::text), 'hex'),
	   md5(g::text)::uuid, g / 7.0, g % 2 = 0, chr(65 + g % 26)::"char",
	   g::oid, date '2020-01-01' + g, time '00:00' + g * interval '1 second',
	   timestamp '2020-01-01' + g * interval '1 minute',
	   timestamptz '2020-01-01 00:00+00' + g * interval '1 hour',
	   g * interval '1 day', g / 4.0, g / 8.0,
	   ('10.0.' || (g / 256) % 256 || '.' || g % 256)::inet,
	   jsonb_build_object('k', g % 100), (ARRAY['sad','ok','happy'])[1 + g % 3]::xh_mood
  FROM generate_series(1, 2000) g;

DO $$
DECLARE
	col text;
BEGIN
	FOR col IN SELECT attname FROM pg_attribute
				WHERE attrelid = 'xh_types'::regclass AND attnum > 0 AND attname <> 'id'
				ORDER BY attnum
	LOOP
		EXECUTE format('CREATE INDEX %I ON xh_types USING xhash (%I)', 'xh_types_' || col, col);
	END LOOP;
END;
$$;

-- each index finds exactly what a sequential scan finds, for a few values
SET enable_seqscan = off;
SET enable_bitmapscan = off;
CREATE FUNCTION xh_probe(col text, val text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	n_idx bigint;
	n_seq bigint;
	plan text;
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_indexscan', 'on', true);
	EXECUTE format('EXPLAIN (COSTS OFF) SELECT id FROM xh_types WHERE %I = %L', col, val) INTO plan;
	EXECUTE format('SELECT count(*) FROM xh_types WHERE %I = %L', col, val) INTO n_idx;
	SET LOCAL enable_indexscan = off;
	SET LOCAL enable_seqscan = on;
	EXECUTE format('SELECT count(*) FROM xh_types WHERE %I = %L', col, val) INTO n_seq;
	RETURN format('%s: %s rows, %s', col, n_idx,
				  CASE WHEN n_idx = n_seq THEN 'same as seqscan' ELSE 'MISMATCH ' || n_seq END)
		   || CASE WHEN plan LIKE '%xh_types_%' THEN '' ELSE ' (index not used)' END;
END;
$$;
SELECT xh_probe(col, val) FROM (VALUES
	('c_int2', '17'), ('c_int8', (1234 * 1000000007::int8)::text), ('c_text', 'text 77'),
	('c_varchar', 'vc99'), ('c_bpchar', 'bp7'), ('c_bytea', decode(md5('5'), 'hex')::text),
	('c_uuid', md5('6')::uuid::text), ('c_numeric', (70 / 7.0)::text), ('c_bool', 'true'),
	('c_char', 'C'), ('c_oid', '321'), ('c_date', '2020-02-01'), ('c_time', '00:16:40'),
	('c_ts', '2020-01-01 10:00'), ('c_tstz', '2020-01-02 00:00+00'), ('c_interval', '3 days'),
	('c_float4', '2.5'), ('c_float8', '1.25'), ('c_inet', '10.0.1.5'),
	('c_jsonb', '{"k": 42}'), ('c_enum', 'happy')) v(col, val);

-- numeric: equal values with different scales hash alike
SELECT count(*) FROM xh_types WHERE c_numeric = 10.000;
-- cross-type integer and float lookups use the index
EXPLAIN (COSTS OFF) SELECT id FROM xh_types WHERE c_int8 = 1000000007::int8 * 3;
SELECT id FROM xh_types WHERE c_int2 = 17::int8 ORDER BY id LIMIT 3;
SELECT id FROM xh_types WHERE c_int8 = 2000000014::int8 AND c_int8 = 2000000014::int4 * 1;
SELECT id FROM xh_types WHERE c_float8 = 2.5::float4;
SELECT count(*) FROM xh_types WHERE c_float4 = 0.5::float8;

-- char(n) under a nondeterministic collation: trailing spaces do not
-- count, as for "=" (core's hashbpcharextended would hash them)
CREATE COLLATION xh_ci (provider = icu, locale = 'und-u-ks-level2',
						deterministic = false);
CREATE TABLE xh_ci_t (b char(6) COLLATE xh_ci, v bpchar COLLATE xh_ci);
INSERT INTO xh_ci_t VALUES ('abc', 'abc'), ('ABC', 'x'), ('xyz', 'xyz  ');
CREATE INDEX xh_ci_b ON xh_ci_t USING xhash (b);
SELECT count(*) FROM xh_ci_t WHERE b = 'xyz';
SELECT count(*) FROM xh_ci_t WHERE b = 'Abc   ';
CREATE UNIQUE INDEX xh_ci_v ON xh_ci_t USING xhash (v);
INSERT INTO xh_ci_t VALUES ('q', 'ABC   ');
INSERT INTO xh_ci_t VALUES ('q', 'XYZ');
SELECT xhash_check('xh_ci_b'), xhash_check('xh_ci_v');
DROP TABLE xh_ci_t;
DROP COLLATION xh_ci;

-- every index is sound
SELECT c.relname, xhash_check(c.oid) IS NOT NULL AS ok
  FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
 WHERE i.indrelid = 'xh_types'::regclass ORDER BY 1;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- multi-column keys: all columns needed
CREATE TABLE xh_multi (a int4, b text, c int8, pad text);
INSERT INTO xh_multi SELECT g % 100, 'b' || (g % 37), g, repeat('x', 20)
  FROM generate_series(1, 20000) g;
CREATE INDEX xh_multi_abc ON xh_multi USING xhash (a, b);
ANALYZE xh_multi;
-- all key columns: the planner picks xhash
EXPLAIN (COSTS OFF) SELECT count(*) FROM xh_multi WHERE a = 5 AND b = 'b5';
SELECT count(*) FROM xh_multi WHERE a = 5 AND b = 'b5';
-- a partial key: not usable, a sequential scan instead
EXPLAIN (COSTS OFF) SELECT count(*) FROM xh_multi WHERE a = 5;
SELECT count(*) FROM xh_multi WHERE a = 5;
-- even with sequential scans disabled, a partial-key path costs too much
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM xh_multi WHERE a = 5;
-- (should a partial-key scan run anyway, it reads the whole index; the
-- isolation and TAP tests do not depend on it)
SET enable_bitmapscan = off;
SELECT count(*) FROM xh_multi WHERE a = 5;
SET enable_bitmapscan = on;
SET enable_indexscan = off;
SELECT count(*) FROM xh_multi WHERE a = 5;
RESET enable_indexscan;
RESET enable_seqscan;
-- forced anyway (a prohibitive sequential scan), a partial-key scan walks
-- every bucket and every chain (here frequent keys', several of them per
-- bucket) and finds the rows
CREATE TABLE xh_pk (a int4, b int4);
INSERT INTO xh_pk SELECT g % 100, g FROM generate_series(1, 2000) g;
INSERT INTO xh_pk SELECT 7, 7 FROM generate_series(1, 2000);
INSERT INTO xh_pk SELECT 8, -(g % 40) FROM generate_series(1, 16000) g;
CREATE INDEX xh_pk_ab ON xh_pk USING xhash (a, b);
SELECT overflow_pages >= 41 AS chained, buckets < 41 AS shared
  FROM xhash_info('xh_pk_ab');
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET seq_page_cost = 1e6;
SET cpu_tuple_cost = 1e3;
EXPLAIN (COSTS OFF) SELECT count(*) FROM xh_pk WHERE a = 7;
SELECT count(*) FROM xh_pk WHERE a = 7;
SELECT count(*) FROM xh_pk WHERE a = 8;
RESET seq_page_cost;
RESET cpu_tuple_cost;
RESET enable_bitmapscan;
RESET enable_seqscan;
DROP TABLE xh_pk;
-- the planner prefers xhash for a unique equality lookup
CREATE INDEX xh_multi_c ON xh_multi USING xhash (c);
EXPLAIN (COSTS OFF) SELECT * FROM xh_multi WHERE c = 777;
SELECT a, b, c FROM xh_multi WHERE c = 777;
-- no range scans, no ordering
EXPLAIN (COSTS OFF) SELECT * FROM xh_multi WHERE c > 19990 ORDER BY c;
-- not for IS NULL
EXPLAIN (COSTS OFF) SELECT * FROM xh_multi WHERE c IS NULL;

-- NULLs: rows with a NULL key are not indexed (no "=" can find them)
CREATE TABLE xh_nulls (a int4, b int4);
INSERT INTO xh_nulls VALUES (1, 1), (1, NULL), (NULL, 1), (NULL, NULL), (2, 2);
CREATE INDEX xh_nulls_ab ON xh_nulls USING xhash (a, b);
SELECT entries FROM xhash_info('xh_nulls_ab');
SET enable_seqscan = off;
SELECT * FROM xh_nulls WHERE a = 1 AND b = 1;
SELECT * FROM xh_nulls WHERE a = 1 AND b = NULL;
RESET enable_seqscan;

-- options
CREATE INDEX xh_ff ON xh_multi USING xhash (c) WITH (fillfactor = 50);
SELECT reloptions FROM pg_class WHERE relname = 'xh_ff';
SELECT global_depth >= 6 AS deeper, fill_pct < 55 AS half_full FROM xhash_info('xh_ff');
CREATE INDEX xh_bad ON xh_multi USING xhash (c) WITH (fillfactor = 5);
CREATE INDEX xh_bad ON xh_multi USING xhash (c) WITH (pages = 5);
-- what xhash does not do
CREATE INDEX xh_bad ON xh_multi USING xhash (c) INCLUDE (a);
CREATE INDEX xh_bad ON xh_multi USING xhash (pad text_pattern_ops);
-- the functions refuse other relations
SELECT xhash_check('xh_multi');
SELECT xhash_info('pg_class_oid_index');
-- and name a partitioned index as such (its partitions' indexes are checked)
CREATE TABLE xh_part (k int4) PARTITION BY RANGE (k);
CREATE TABLE xh_part_1 PARTITION OF xh_part FOR VALUES FROM (0) TO (1000);
CREATE INDEX xh_part_k ON xh_part USING xhash (k);
INSERT INTO xh_part SELECT generate_series(0, 999);
SELECT xhash_check('xh_part_k');
SELECT xhash_check('xh_part_1_k_idx');
DROP TABLE xh_part;

-- unlogged tables and temporary tables
CREATE UNLOGGED TABLE xh_unlogged (a int4);
CREATE INDEX ON xh_unlogged USING xhash (a);
INSERT INTO xh_unlogged SELECT generate_series(1, 5000);
SET enable_seqscan = off;
SELECT * FROM xh_unlogged WHERE a = 4321;
CREATE TEMP TABLE xh_temp (a text);
CREATE INDEX xh_temp_a ON xh_temp USING xhash (a);
INSERT INTO xh_temp SELECT 'k' || g FROM generate_series(1, 5000) g;
SELECT * FROM xh_temp WHERE a = 'k4321';
SELECT xhash_check('xh_temp_a');
RESET enable_seqscan;

-- expression and partial indexes
CREATE INDEX xh_expr ON xh_multi USING xhash (lower(b)) WHERE c < 1000;
EXPLAIN (COSTS OFF) SELECT count(*) FROM xh_multi WHERE lower(b) = 'b3' AND c < 1000;
SELECT count(*) FROM xh_multi WHERE lower(b) = 'b3' AND c < 1000;

-- REINDEX, TRUNCATE, CLUSTER refusal
REINDEX INDEX xh_multi_c;
SELECT xhash_check('xh_multi_c');
CLUSTER xh_multi USING xh_multi_c;
TRUNCATE xh_multi;
SELECT entries, buckets FROM xhash_info('xh_multi_c');
INSERT INTO xh_multi SELECT 1, 'x', g FROM generate_series(1, 3000) g;
SELECT xhash_check('xh_multi_c');
SELECT count(*) FROM xh_multi WHERE c = 2999;

DROP TABLE xh_types, xh_multi, xh_nulls, xh_unlogged, xh_temp;
DROP FUNCTION xh_probe(text, text);
DROP TYPE xh_mood;
