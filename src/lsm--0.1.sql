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
	OUT bytes_compacted bigint)
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

-- Flush the memtable into a run and merge runs (all into one with full).
CREATE FUNCTION lsm_compact(rel regclass, full boolean DEFAULT false,
	OUT flushed_pages integer,
	OUT merged_runs integer,
	OUT runs integer)
RETURNS record
AS 'MODULE_PATHNAME', 'lsm_compact'
LANGUAGE C STRICT PARALLEL UNSAFE;

REVOKE ALL ON FUNCTION lsm_info(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION lsm_runs(regclass) FROM PUBLIC;
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
