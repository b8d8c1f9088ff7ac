--
-- setup.sql -- helpers of the benchmark suite ("make bench"), created in
-- the benchmark database by test/scripts/bench.sh after CREATE EXTENSION.
--
-- A step of a workload is one psql script that prints its results as
-- lines "metric|value" (psql -At).  These helpers take the time and the
-- WAL position at a mark and report the difference later:
--
--   CALL bench_mark();
--   COPY t FROM '...';
--   SELECT 'copy_s', bench_elapsed_s();
--   SELECT 'copy_wal_bytes', bench_wal_bytes();
--
-- Times are taken by the server (clock_timestamp()), WAL from the
-- difference of pg_current_wal_insert_lsn().
--

-- Remember the current time and WAL insert position (session-local).
CREATE PROCEDURE bench_mark()
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('bench.t0', extract(epoch FROM clock_timestamp())::text, false);
	PERFORM set_config('bench.lsn0', pg_current_wal_insert_lsn()::text, false);
END $$;

-- Seconds since the last bench_mark().
CREATE FUNCTION bench_elapsed_s() RETURNS float8
LANGUAGE sql VOLATILE AS $$
	SELECT extract(epoch FROM clock_timestamp())::float8
		 - current_setting('bench.t0')::float8
$$;

-- WAL bytes written since the last bench_mark().
CREATE FUNCTION bench_wal_bytes() RETURNS numeric
LANGUAGE sql VOLATILE AS $$
	SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(),
						   current_setting('bench.lsn0')::pg_lsn)
$$;

-- Wall time of one execution of a query, in milliseconds (the result
-- rows are discarded).
CREATE FUNCTION bench_query_ms(q text) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
BEGIN
	t0 := clock_timestamp();
	EXECUTE q;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;

-- Size of a table's indexes (0 when it has none).
CREATE FUNCTION bench_index_bytes(rel regclass) RETURNS bigint
LANGUAGE sql STABLE AS $$
	SELECT coalesce(sum(pg_relation_size(indexrelid)), 0)::bigint
	  FROM pg_index WHERE indrelid = rel
$$;

-- Whether an access method of the given type ('t' table, 'i' index) exists.
CREATE FUNCTION bench_has_am(name text, kind "char") RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT EXISTS (SELECT FROM pg_am WHERE amname = name AND amtype = kind)
$$;
