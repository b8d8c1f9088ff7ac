# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 024_xhash_stress.pl -- xhash indexes under concurrent writes, VACUUM and
# scans, on a primary and a hot standby checking every generic WAL record.
#
# The other xhash tests drive one path at a time into a known state.  This
# one lets them race: on a heap and on an lsm table (each with a UNIQUE
# xhash index, one on a skewed key whose frequent values have overflow
# chains, and one on two columns), six clients insert, delete and update
# rows -- keys, unique keys and other columns -- while a seventh vacuums
# both tables in a loop, and a verifier on the primary and one on the
# standby (wal_consistency_checking = 'generic', so replay compares every
# page with its full image) count a random key's rows in one REPEATABLE
# READ snapshot by an index scan, a slow cursor over an index scan, a
# bitmap scan and a sequential scan, and raise an error when they differ.
# Inserts mark and remove dead entries, grow chains and split buckets,
# VACUUM frees and reuses pages and TIDs, all while scans run.
#
# Afterwards, on both nodes: every index passes xhash_check, every key's
# rows are found by the index as by a sequential scan, every row is found
# by its unique key, no unique key is duplicated, and the standby answers
# like the primary.  LSM_TAP_STRESS_SECONDS sets the length of the run
# (default 30).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

my $seconds = $ENV{LSM_TAP_STRESS_SECONDS} || 30;

# The standby's verifier holds snapshots that replay may conflict with
# (VACUUM's cleanup, its truncation's AccessExclusiveLock): feedback keeps
# most conflicts away, replay cancels the rest after a second, and the
# verifier retries a cancelled transaction (pgbench --max-tries) and is
# started again after a conflict ended its session (see start_verifiers).
my ($primary, $standby) = primary_and_standby(
	'xhash_stress',
	extra_conf => [ 'autovacuum = off', 'wal_keep_size = 2GB', 'max_wal_size = 2GB' ],
	standby_conf => \@LsmTest::STRESS_STANDBY_CONF);

$primary->safe_psql(
	'postgres', q{
	CREATE TABLE sh (id int8, k int8, j text, v text);
	CREATE TABLE sl (id int8, k int8, j text, v text) USING lsm;

	-- 20 000 rows, the keys skewed: key 1 has about a thousand rows
	INSERT INTO sh
	  SELECT g, least(300, 1 + floor(-ln(1 - random()) * 20))::int8, NULL,
			 repeat('x', g % 50)
		FROM generate_series(1, 20000) g;
	UPDATE sh SET j = (k % 7)::text;
	INSERT INTO sl SELECT * FROM sh;

	CREATE UNIQUE INDEX sh_id ON sh USING xhash (id);
	CREATE INDEX sh_k ON sh USING xhash (k);
	CREATE INDEX sh_kj ON sh USING xhash (k, j);
	CREATE UNIQUE INDEX sl_id ON sl USING xhash (id);
	CREATE INDEX sl_k ON sl USING xhash (k);
	CREATE INDEX sl_kj ON sl USING xhash (k, j);

	-- one random write on table tab; r picks its kind
	CREATE FUNCTION op(tab text, id int8, k int8, r int) RETURNS void
	LANGUAGE plpgsql AS $$
	BEGIN
		IF r < 40 THEN
			EXECUTE format('INSERT INTO %I VALUES ($1, $2, ($2 %% 7)::text,'
						   ' repeat(''x'', ($1 %% 50)::int))', tab) USING id, k;
		ELSIF r < 55 THEN
			EXECUTE format('DELETE FROM %I WHERE id = $1', tab) USING id;
		ELSIF r < 65 THEN
			EXECUTE format('DELETE FROM %I WHERE k = $1 AND id %% 3 = 0', tab)
			  USING k;
		ELSIF r < 75 THEN
			EXECUTE format('UPDATE %I SET id = id + 1 WHERE id = $1', tab)
			  USING id;
		ELSIF r < 85 THEN
			EXECUTE format('UPDATE %I SET k = $2, j = ($2 %% 7)::text'
						   ' WHERE id = $1', tab) USING id, k;
		ELSE
			-- other columns only: bottom-up deletion on the heap table
			EXECUTE format('UPDATE %I SET v = v || ''y'''
						   ' WHERE k = $1 AND id %% 5 = 1', tab) USING k;
		END IF;
	EXCEPTION
		-- a taken unique key, or two multi-row writes locking rows in
		-- opposite orders: both belong to the workload, not to the index
		WHEN unique_violation OR deadlock_detected THEN NULL;
	END $$;

	-- the rows of key k in table tab counted four ways in the caller's
	-- snapshot; an error if the counts differ
	CREATE FUNCTION verify(tab text, k int8) RETURNS void
	LANGUAGE plpgsql AS $$
	DECLARE
		q text := format('SELECT count(*) FROM %I WHERE k = $1', tab);
		qj text := format('SELECT count(*) FROM %I WHERE k = $1 AND j = ($1 %% 7)::text', tab);
		idx int8; idxj int8; cur int8 := 0; bm int8; seq int8; seqj int8;
		r record;
	BEGIN
		IF current_setting('transaction_isolation') <> 'repeatable read' THEN
			RAISE EXCEPTION 'verify() needs one snapshot for all its counts';
		END IF;
		PERFORM set_config('enable_seqscan', 'off', true);
		PERFORM set_config('enable_bitmapscan', 'off', true);
		EXECUTE q USING k INTO idx;
		EXECUTE qj USING k INTO idxj;
		-- a cursor: the scan stays open while the others write
		FOR r IN EXECUTE format('SELECT id FROM %I WHERE k = $1', tab) USING k
		LOOP
			cur := cur + 1;
			IF cur % 100 = 1 THEN
				PERFORM pg_sleep(0.005);
			END IF;
		END LOOP;
		PERFORM set_config('enable_bitmapscan', 'on', true);
		PERFORM set_config('enable_indexscan', 'off', true);
		EXECUTE q USING k INTO bm;
		PERFORM set_config('enable_seqscan', 'on', true);
		PERFORM set_config('enable_bitmapscan', 'off', true);
		EXECUTE q USING k INTO seq;
		EXECUTE qj USING k INTO seqj;
		PERFORM set_config('enable_indexscan', 'on', true);
		PERFORM set_config('enable_bitmapscan', 'on', true);
		IF idx <> seq OR cur <> seq OR bm <> seq OR idxj <> seqj THEN
			RAISE EXCEPTION 'xhash stress: % key %: index scan %, cursor %, bitmap scan %, sequential scan % (two columns: index %, sequential %)',
				tab, k, idx, cur, bm, seq, idxj, seqj;
		END IF;
	END $$;

	-- every key's rows counted by index scans (by_index) or sequential
	-- scans; functions, because the standby cannot create temporary tables
	CREATE FUNCTION counts(by_index bool, OUT t text, OUT k int8, OUT n int8, OUT nj int8)
	RETURNS SETOF record LANGUAGE plpgsql AS $$
	DECLARE
		g int;
	BEGIN
		PERFORM set_config('enable_seqscan', (NOT by_index)::text, true);
		PERFORM set_config('enable_indexscan', by_index::text, true);
		PERFORM set_config('enable_bitmapscan', 'off', true);
		FOREACH t IN ARRAY ARRAY['sh', 'sl']
		LOOP
			-- (a FOR loop's variable would hide the OUT parameter k)
			FOR g IN 1 .. 300
			LOOP
				k := g;
				EXECUTE format('SELECT count(*) FROM %I WHERE k = $1', t) USING k INTO n;
				EXECUTE format('SELECT count(*) FROM %I WHERE k = $1 AND j = ($1 %% 7)::text', t)
				  USING k INTO nj;
				RETURN NEXT;
			END LOOP;
		END LOOP;
	END $$;

	-- how many rows of table tab an index scan of its unique key finds
	CREATE FUNCTION found_by_id(tab text) RETURNS int8 LANGUAGE plpgsql AS $$
	DECLARE
		n int8;
	BEGIN
		PERFORM set_config('enable_seqscan', 'off', true);
		PERFORM set_config('enable_bitmapscan', 'off', true);
		PERFORM set_config('enable_tidscan', 'off', true);
		EXECUTE format('SELECT count(*) FROM %1$I s WHERE EXISTS'
					   ' (SELECT 1 FROM %1$I x WHERE x.id = s.id AND x.ctid = s.ctid)', tab)
		  INTO n;
		RETURN n;
	END $$;
});

# the plans verify() relies on
like(
	$primary->safe_psql(
		'postgres', q{
		SET enable_seqscan = off; SET enable_bitmapscan = off;
		EXPLAIN (COSTS OFF) SELECT count(*) FROM sl WHERE k = 1}),
	qr/Index Scan using sl_k on sl/,
	'an index scan of the lsm table uses its xhash index');
like(
	$primary->safe_psql(
		'postgres', q{
		SET enable_seqscan = off; SET enable_indexscan = off;
		EXPLAIN (COSTS OFF) SELECT count(*) FROM sh WHERE k = 1 AND j = '1'}),
	qr/Bitmap Index Scan on sh_kj/,
	'a bitmap scan of the heap table uses its two-column xhash index');

like(
	$primary->safe_psql(
		'postgres', q{
		SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_tidscan = off;
		EXPLAIN (COSTS OFF) SELECT count(*) FROM sh s
		 WHERE EXISTS (SELECT 1 FROM sh x WHERE x.id = s.id AND x.ctid = s.ctid)}),
	qr/Index Scan using sh_id on sh x/,
	'each row is looked up by its unique key');

wait_for_replay($primary, $standby);

my $writes = q{
\set id random(1, 60000)
\set k random_exponential(1, 300, 15)
\set r random(0, 99)
SELECT op('sh', :id, :k, :r);
SELECT op('sl', :id, :k, :r);
};
my $vacuum = q{
VACUUM sh;
VACUUM sl;
\sleep 100 ms
};

# Each verify() in a transaction of its own, REPEATABLE READ by default
# (below): a recovery conflict cancels a statement, which pgbench retries,
# but it ends the session of one idle in a transaction block -- or of one
# whose statement ended just as the conflict came, and then
# start_verifiers starts pgbench again.
my $check = q{
\set k random_exponential(1, 300, 15)
SELECT verify('sh', :k);
SELECT verify('sl', :k);
};
my %work = (
	writes => start_workload($primary, script => $writes, clients => 6, jobs => 3,
		seconds => $seconds),
	vacuum => start_workload($primary, script => $vacuum, seconds => $seconds,
		clients => 1));
start_verifiers(\%work, $primary, $standby, $check, $seconds);

check_workloads(\%work);

# the structures the run left, for the log
note(
	$primary->safe_psql(
		'postgres', q{
		SELECT string_agg(format('%s: %s buckets, %s overflow pages, %s free pages, %s entries (%s dead)',
								 i, buckets, overflow_pages, free_pages, entries, dead_entries), E'\n')
		  FROM unnest('{sh_id,sh_k,sh_kj,sl_id,sl_k,sl_kj}'::regclass[]) i,
			   LATERAL xhash_info(i)}));

# every key's rows found by each index as by a sequential scan, every row
# by its unique key, no duplicate unique key; the result is the same on
# the standby
my $final = q{
	SELECT string_agg(xhash_check(i)::text, ',')
	  FROM unnest('{sh_id,sh_k,sh_kj,sl_id,sl_k,sl_kj}'::regclass[]) i;
	SELECT 'rows', (SELECT count(*) FROM sh), (SELECT count(*) FROM sl);
	SELECT 'found by id', found_by_id('sh'), found_by_id('sl');
	SELECT 'keys', count(*) FILTER (WHERE i.n IS DISTINCT FROM s.n OR i.nj IS DISTINCT FROM s.nj),
		   count(*) FILTER (WHERE s.n > 0), sum(s.n)
	  FROM counts(true) i FULL JOIN counts(false) s USING (t, k);
	SELECT 'duplicates', count(*) FROM
	  (SELECT id FROM sh GROUP BY id HAVING count(*) > 1
	   UNION ALL SELECT id FROM sl GROUP BY id HAVING count(*) > 1) d;
	SELECT 'digest', md5(string_agg(n::text || '/' || nj, ',' ORDER BY t, k)) FROM counts(false);
};

my $result = $primary->safe_psql('postgres', $final);
my ($rows_h, $rows_l) = $result =~ /^rows\|(\d+)\|(\d+)$/m;
like($result, qr/^,,,,,\n/, 'primary: every index passes xhash_check');
like($result, qr/^found by id\|$rows_h\|$rows_l$/m,
	'primary: every row is found by its unique key');
like($result, qr/^keys\|0\|\d+\|@{[$rows_h + $rows_l]}$/m,
	'primary: every key has as many rows by index as by sequential scan');
like($result, qr/^duplicates\|0$/m, 'primary: no unique key is duplicated');
note($result);

wait_for_replay($primary, $standby);
is($standby->safe_psql('postgres', $final), $result,
	'standby: the same checks give the same result');

check_server_log($primary, 'primary: no errors in the server log', patterns => [qr/ERROR:/]);
check_server_log($standby, 'standby: no errors in the server log',
	patterns => [qr/ERROR:/], allow => qr/conflict with recovery/);

done_testing();
