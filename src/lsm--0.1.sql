/* src/lsm--0.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION lsm" to load this file. \quit

-- Version of the loaded shared library.
CREATE FUNCTION lsm_version()
RETURNS text
AS 'MODULE_PATHNAME', 'lsm_version'
LANGUAGE C STRICT PARALLEL SAFE;

-- ---------------------------------------------------------------------
-- lsm table access method
-- ---------------------------------------------------------------------

CREATE FUNCTION lsm_tableam_handler(internal)
RETURNS table_am_handler
AS 'MODULE_PATHNAME', 'lsm_tableam_handler'
LANGUAGE C STRICT;

CREATE ACCESS METHOD lsm TYPE TABLE HANDLER lsm_tableam_handler;
COMMENT ON ACCESS METHOD lsm IS 'LSM-tree table access method';

-- Page counts, logical blocks and version counts of an lsm table.
CREATE FUNCTION lsm_info(rel regclass,
	OUT format_version integer,
	OUT total_pages bigint,
	OUT memtable_pages bigint,
	OUT map_pages bigint,
	OUT free_pages bigint,
	OUT runs integer,
	OUT logical_blocks bigint,
	OUT rowids_assigned bigint,
	OUT rowid_space_used_pct double precision,
	OUT versions bigint,
	OUT live_versions bigint,
	OUT recently_dead_versions bigint,
	OUT dead_versions bigint,
	OUT run_pages bigint,
	OUT run_entries bigint,
	OUT bytes_flushed bigint,
	OUT bytes_compacted bigint,
	OUT retired_runs integer,
	OUT dead_blocks bigint,
	OUT empty_below bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'lsm_info'
LANGUAGE C STRICT PARALLEL RESTRICTED;

-- amcheck-style verification of an lsm table; raises an ERROR naming the
-- block at the first inconsistency.
CREATE FUNCTION lsm_check(rel regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'lsm_check'
LANGUAGE C STRICT PARALLEL RESTRICTED;

-- The runs of an lsm table, newest first.
CREATE FUNCTION lsm_runs(rel regclass,
	OUT run_id bigint,
	OUT level integer,
	OUT min_tid tid,
	OUT max_tid tid,
	OUT pages bigint,
	OUT data_pages bigint,
	OUT versions bigint,
	OUT tombstones bigint,
	OUT raw_bytes bigint,
	OUT compressed_bytes bigint,
	OUT bloom_bits bigint,
	OUT bloom_hashes integer,
	OUT oldest_xid xid,
	OUT root_block bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lsm_runs'
LANGUAGE C STRICT PARALLEL RESTRICTED;

-- Write, space and read amplification of an lsm table under the compaction
-- policy in force (doc/lsm-design.md, "Compaction policy").
CREATE FUNCTION lsm_amplification(rel regclass,
	OUT policy text,
	OUT size_ratio integer,
	OUT runs integer,
	OUT levels integer,
	OUT bytes_flushed bigint,
	OUT bytes_compacted bigint,
	OUT write_amplification double precision,
	OUT run_entries bigint,
	OUT memtable_versions bigint,
	OUT versions_kept bigint,
	OUT space_amplification double precision,
	OUT runs_searched_max integer,
	OUT runs_searched_expected double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'lsm_amplification'
LANGUAGE C STRICT PARALLEL RESTRICTED;

-- The false-positive rate of each run's bloom filter, predicted and measured
-- with probes at random TIDs the run does not hold (repeatable: fixed seed).
CREATE FUNCTION lsm_bloom_check(rel regclass, probes integer DEFAULT 10000,
	OUT run_id bigint,
	OUT entries bigint,
	OUT bloom_bits bigint,
	OUT bloom_hashes integer,
	OUT expected_fpr double precision,
	OUT probed integer,
	OUT absent bigint,
	OUT false_positives bigint,
	OUT measured_fpr double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lsm_bloom_check'
LANGUAGE C STRICT PARALLEL RESTRICTED;

-- Flush the memtable into a run and merge runs (all into one with full).
CREATE FUNCTION lsm_compact(rel regclass, full boolean DEFAULT false,
	OUT flushed_pages integer,
	OUT merged_runs integer,
	OUT runs integer)
RETURNS record
AS 'MODULE_PATHNAME', 'lsm_compact'
LANGUAGE C STRICT PARALLEL UNSAFE;

-- Per-table values of lsm.* settings (PostgreSQL 15 gives table access
-- methods no storage parameters of their own).  Written through
-- lsm_set_option()/lsm_reset_option(); pg_dump dumps the rows, which find
-- their tables again by name (rel is a regclass).
CREATE TABLE lsm_table_settings (
	rel regclass NOT NULL,
	setting text NOT NULL,
	value text NOT NULL,
	PRIMARY KEY (rel, setting)
) USING heap;
SELECT pg_catalog.pg_extension_config_dump('lsm_table_settings', '');
REVOKE ALL ON lsm_table_settings FROM PUBLIC;
GRANT SELECT ON lsm_table_settings TO PUBLIC;

-- Give an lsm table its own value of lsm.memtable_flush_pages,
-- lsm.compaction_policy, lsm.compaction_size_ratio, lsm.compaction_max_runs,
-- lsm.compaction_max_levels or lsm.bloom_bits_per_key (owner only).
CREATE FUNCTION lsm_set_option(rel regclass, setting text, value text)
RETURNS void
AS 'MODULE_PATHNAME', 'lsm_set_option'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

-- Back to the GUC for one setting of an lsm table, or for all (NULL).
CREATE FUNCTION lsm_reset_option(rel regclass, setting text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'lsm_reset_option'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;

-- Rows of dropped tables go with them.
CREATE FUNCTION lsm_table_settings_cleanup()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	settings regclass;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects()
					WHERE object_type = 'table') THEN
		RETURN;
	END IF;
	-- the extension is relocatable: find its table (gone with DROP EXTENSION)
	SELECT c.oid INTO settings
	  FROM pg_extension e
	  JOIN pg_class c ON c.relnamespace = e.extnamespace
	 WHERE e.extname = 'lsm' AND c.relname = 'lsm_table_settings';
	IF settings IS NOT NULL THEN
		EXECUTE format('DELETE FROM %s s
						 WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = s.rel)',
					   settings);
	END IF;
END;
$$;
CREATE EVENT TRIGGER lsm_table_settings_cleanup ON sql_drop
	EXECUTE FUNCTION lsm_table_settings_cleanup();

REVOKE ALL ON FUNCTION lsm_info(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION lsm_runs(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION lsm_amplification(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION lsm_bloom_check(regclass, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION lsm_check(regclass) FROM PUBLIC;

-- Logical decoding ignores generic WAL, so a publication would silently miss
-- every change to an lsm table.  Refuse CREATE/ALTER PUBLICATION that would
-- make the publication include one (also FOR ALL TABLES, FOR TABLES IN
-- SCHEMA, and partitions published through their root).  Tables that become
-- published later (created in a published schema, switched to lsm, attached
-- as partitions) are caught when they are written to.
CREATE FUNCTION lsm_publication_guard()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
	r record;
BEGIN
	-- the publications this command created or changed ...
	WITH cmd AS (
		SELECT classid, objid FROM pg_event_trigger_ddl_commands()
	), pubs AS (
		SELECT objid AS pubid FROM cmd
		 WHERE classid = 'pg_publication'::regclass
		UNION
		SELECT pr.prpubid FROM cmd JOIN pg_publication_rel pr ON pr.oid = cmd.objid
		 WHERE cmd.classid = 'pg_publication_rel'::regclass
		UNION
		SELECT pn.pnpubid FROM cmd JOIN pg_publication_namespace pn ON pn.oid = cmd.objid
		 WHERE cmd.classid = 'pg_publication_namespace'::regclass
	)
	-- ... and the tables they publish, partitions included
	SELECT p.pubname, c.oid::regclass AS rel
	  INTO r
	  FROM pubs
	  JOIN pg_publication p ON p.oid = pubs.pubid
	 CROSS JOIN LATERAL pg_get_publication_tables(p.pubname) t
	 CROSS JOIN LATERAL (SELECT t.relid
						 UNION
						 SELECT tree.relid FROM pg_partition_tree(t.relid) tree) rels
	  JOIN pg_class c ON c.oid = rels.relid
	  JOIN pg_am am ON am.oid = c.relam
	 WHERE am.amname = 'lsm'
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'publication "%" would include lsm table %', r.pubname, r.rel
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'Changes to lsm tables are written as generic WAL records, which logical decoding ignores.',
				  HINT = 'Leave lsm tables out of publications, or change their access method to heap.';
	END IF;
END;
$$;

CREATE EVENT TRIGGER lsm_publication_guard
	ON ddl_command_end
	WHEN TAG IN ('CREATE PUBLICATION', 'ALTER PUBLICATION')
	EXECUTE FUNCTION lsm_publication_guard();

-- ---------------------------------------------------------------------
-- xhash index access method
-- ---------------------------------------------------------------------

CREATE FUNCTION xhash_handler(internal)
RETURNS index_am_handler
AS 'MODULE_PATHNAME', 'xhashhandler'
LANGUAGE C STRICT;

CREATE ACCESS METHOD xhash TYPE INDEX HANDLER xhash_handler;
COMMENT ON ACCESS METHOD xhash IS 'extendible-hashing index access method (multi-column, UNIQUE-capable)';

-- Operator classes reuse core's 64-bit seeded ("extended") hash functions
-- as support function 1; operator 1 is "=".  Integers and floats form
-- cross-type families, as in core hash.
CREATE OPERATOR FAMILY integer_ops USING xhash;
CREATE OPERATOR CLASS int2_ops DEFAULT FOR TYPE int2 USING xhash FAMILY integer_ops AS
	OPERATOR 1 = (int2, int2), FUNCTION 1 hashint2extended(int2, int8);
CREATE OPERATOR CLASS int4_ops DEFAULT FOR TYPE int4 USING xhash FAMILY integer_ops AS
	OPERATOR 1 = (int4, int4), FUNCTION 1 hashint4extended(int4, int8);
CREATE OPERATOR CLASS int8_ops DEFAULT FOR TYPE int8 USING xhash FAMILY integer_ops AS
	OPERATOR 1 = (int8, int8), FUNCTION 1 hashint8extended(int8, int8);
ALTER OPERATOR FAMILY integer_ops USING xhash ADD
	OPERATOR 1 = (int2, int4), OPERATOR 1 = (int2, int8),
	OPERATOR 1 = (int4, int2), OPERATOR 1 = (int4, int8),
	OPERATOR 1 = (int8, int2), OPERATOR 1 = (int8, int4);

CREATE OPERATOR FAMILY float_ops USING xhash;
CREATE OPERATOR CLASS float4_ops DEFAULT FOR TYPE float4 USING xhash FAMILY float_ops AS
	OPERATOR 1 = (float4, float4), FUNCTION 1 hashfloat4extended(float4, int8);
CREATE OPERATOR CLASS float8_ops DEFAULT FOR TYPE float8 USING xhash FAMILY float_ops AS
	OPERATOR 1 = (float8, float8), FUNCTION 1 hashfloat8extended(float8, int8);
ALTER OPERATOR FAMILY float_ops USING xhash ADD
	OPERATOR 1 = (float4, float8), OPERATOR 1 = (float8, float4);

CREATE OPERATOR CLASS text_ops DEFAULT FOR TYPE text USING xhash AS
	OPERATOR 1 = (text, text), FUNCTION 1 hashtextextended(text, int8);
-- bpchar: core's hashbpcharextended keeps trailing spaces under
-- nondeterministic collations in PostgreSQL 15 (xh_hashfuncs.c)
CREATE FUNCTION xhash_bpchar_extended(bpchar, int8)
RETURNS int8
AS 'MODULE_PATHNAME', 'xhash_bpchar_extended'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR CLASS bpchar_ops DEFAULT FOR TYPE bpchar USING xhash AS
	OPERATOR 1 = (bpchar, bpchar), FUNCTION 1 xhash_bpchar_extended(bpchar, int8);
CREATE OPERATOR CLASS bytea_ops DEFAULT FOR TYPE bytea USING xhash AS
	OPERATOR 1 = (bytea, bytea), FUNCTION 1 (bytea, bytea) hashvarlenaextended(internal, int8);
CREATE OPERATOR CLASS uuid_ops DEFAULT FOR TYPE uuid USING xhash AS
	OPERATOR 1 = (uuid, uuid), FUNCTION 1 uuid_hash_extended(uuid, int8);
CREATE OPERATOR CLASS numeric_ops DEFAULT FOR TYPE numeric USING xhash AS
	OPERATOR 1 = (numeric, numeric), FUNCTION 1 hash_numeric_extended(numeric, int8);
CREATE OPERATOR CLASS bool_ops DEFAULT FOR TYPE bool USING xhash AS
	OPERATOR 1 = (bool, bool), FUNCTION 1 (bool, bool) hashcharextended("char", int8);
CREATE OPERATOR CLASS char_ops DEFAULT FOR TYPE "char" USING xhash AS
	OPERATOR 1 = ("char", "char"), FUNCTION 1 hashcharextended("char", int8);
CREATE OPERATOR CLASS oid_ops DEFAULT FOR TYPE oid USING xhash AS
	OPERATOR 1 = (oid, oid), FUNCTION 1 hashoidextended(oid, int8);
CREATE OPERATOR CLASS date_ops DEFAULT FOR TYPE date USING xhash AS
	OPERATOR 1 = (date, date), FUNCTION 1 (date, date) hashint4extended(int4, int8);
CREATE OPERATOR CLASS time_ops DEFAULT FOR TYPE time USING xhash AS
	OPERATOR 1 = (time, time), FUNCTION 1 time_hash_extended(time, int8);
CREATE OPERATOR CLASS timestamp_ops DEFAULT FOR TYPE timestamp USING xhash AS
	OPERATOR 1 = (timestamp, timestamp), FUNCTION 1 timestamp_hash_extended(timestamp, int8);
CREATE OPERATOR CLASS timestamptz_ops DEFAULT FOR TYPE timestamptz USING xhash AS
	OPERATOR 1 = (timestamptz, timestamptz),
	FUNCTION 1 (timestamptz, timestamptz) timestamp_hash_extended(timestamp, int8);
CREATE OPERATOR CLASS interval_ops DEFAULT FOR TYPE interval USING xhash AS
	OPERATOR 1 = (interval, interval), FUNCTION 1 interval_hash_extended(interval, int8);
CREATE OPERATOR CLASS inet_ops DEFAULT FOR TYPE inet USING xhash AS
	OPERATOR 1 = (inet, inet), FUNCTION 1 hashinetextended(inet, int8);
CREATE OPERATOR CLASS jsonb_ops DEFAULT FOR TYPE jsonb USING xhash AS
	OPERATOR 1 = (jsonb, jsonb), FUNCTION 1 jsonb_hash_extended(jsonb, int8);
CREATE OPERATOR CLASS enum_ops DEFAULT FOR TYPE anyenum USING xhash AS
	OPERATOR 1 = (anyenum, anyenum), FUNCTION 1 hashenumextended(anyenum, int8);

-- Shape and fill of an xhash index.
CREATE FUNCTION xhash_info(rel regclass,
	OUT format_version integer,
	OUT global_depth integer,
	OUT min_local_depth integer,
	OUT max_local_depth integer,
	OUT buckets bigint,
	OUT overflow_pages bigint,
	OUT directory_pages bigint,
	OUT free_pages bigint,
	OUT total_pages bigint,
	OUT entries bigint,
	OUT fill_pct double precision,
	OUT dead_entries bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'xhash_info'
LANGUAGE C STRICT PARALLEL RESTRICTED;

-- amcheck-style verification of an xhash index; raises an ERROR naming the
-- block at the first inconsistency.
CREATE FUNCTION xhash_check(rel regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'xhash_check'
LANGUAGE C STRICT PARALLEL RESTRICTED;

REVOKE ALL ON FUNCTION xhash_info(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION xhash_check(regclass) FROM PUBLIC;
