# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 026_lsm_stress.pl -- an lsm table under concurrent writes, row locks,
# flushes, merges and freezing VACUUMs, with long snapshots reading it, on
# a primary and a hot standby checking every generic WAL record.
#
# The lsm tests drive one path at a time into a known state, and
# 024_xhash_stress races the xhash paths over a table that seldom compacts.
# This one races the table's own: six clients move balance between
# accounts (the total never changes), insert and delete accounts, lock
# groups of rows (FOR SHARE and FOR KEY SHARE, so copies of rows that live
# only in runs, some with a MultiXact as xmax) and change indexed and
# unindexed columns; a seventh flushes and merges (lsm_compact, partial and
# full) and VACUUMs with vacuum_freeze_min_age = 0, so that every VACUUM
# freezes and advances relfrozenxid while versions move between pages and
# runs are merged, retired and reaped; and a verifier on each node sums the
# balances in one REPEATABLE READ snapshot through a slow cursor (its view
# of the runs outlives merges) and by index, and counts a group's rows by
# its xhash index and by a sequential scan, raising an error when anything
# differs.  A VACUUM that met an xid before relfrozenxid (the bug fixed on
# 2026-12-07, see 025_lsm_vacuum_moves) would fail the seventh client.
#
# Afterwards, on both nodes: lsm_check and xhash_check pass, the total is
# unchanged, every row is found by its primary key and every group's rows
# by the xhash index as by a sequential scan, and the standby answers like
# the primary; on the primary two VACUUM (FREEZE) bring relfrozenxid to
# the present.  Then the writers and the maintenance client run again,
# and the primary crashes (immediate shutdown) a third of the way through:
# after recovery the same checks pass on both nodes.
# LSM_TAP_STRESS_SECONDS sets the length of the run
# (default 30); LSM_TAP_STRESS_CONF adds settings to the primary's
# configuration (lines separated by ';', e.g. 'lsm.memtable_flush_pages =
# 16; lsm.compaction_policy = tiered': writers flush too, other merges).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

my $seconds = $ENV{LSM_TAP_STRESS_SECONDS} || 30;

# (as in 024: feedback, a short streaming delay and retries keep the
# standby's verifier going through recovery conflicts)
my ($primary, $standby) = primary_and_standby(
	'lsm_stress',
	extra_conf => [
		'autovacuum = off', 'wal_keep_size = 2GB', 'max_wal_size = 2GB',
		'vacuum_freeze_min_age = 0', 'vacuum_multixact_freeze_min_age = 0',
		split(/;/, $ENV{LSM_TAP_STRESS_CONF} // '')
	],
	standby_conf => \@LsmTest::STRESS_STANDBY_CONF);

my $total = 20000 * 100;

$primary->safe_psql(
	'postgres', qq{
	CREATE TABLE acc (id int8 PRIMARY KEY, grp int8, bal int, pad text) USING lsm;
	CREATE SEQUENCE acc_new START 100001;
	INSERT INTO acc
	  SELECT g, 1 + g % 200, 100, repeat('p', g % 60) FROM generate_series(1, 20000) g;
	CREATE INDEX acc_grp ON acc USING xhash (grp);
	SELECT lsm_compact('acc', true);
	VACUUM acc;
}
	  . q{
	-- one random write; r picks its kind
	CREATE FUNCTION op(a int8, b int8, g int8, r int) RETURNS void
	LANGUAGE plpgsql AS $$
	DECLARE
		n int;
	BEGIN
		IF r < 35 THEN
			-- move 1 from a to b, if both exist (locked in id order)
			SELECT count(*) INTO n FROM
			  (SELECT 1 FROM acc WHERE id IN (a, b) ORDER BY id FOR UPDATE) s;
			IF n = 2 AND a <> b THEN
				UPDATE acc SET bal = bal - 1 WHERE id = a;
				UPDATE acc SET bal = bal + 1 WHERE id = b;
			END IF;
		ELSIF r < 45 THEN
			INSERT INTO acc VALUES (nextval('acc_new'), g, 0, repeat('n', (a % 60)::int));
		ELSIF r < 55 THEN
			DELETE FROM acc WHERE id = a AND bal = 0;
		ELSIF r < 65 THEN
			PERFORM FROM acc WHERE grp = g AND id % 4 = 0 FOR SHARE;
		ELSIF r < 72 THEN
			PERFORM FROM acc WHERE grp = g AND id % 4 = 1 FOR KEY SHARE;
		ELSIF r < 85 THEN
			UPDATE acc SET grp = g WHERE id = a;
		ELSE
			UPDATE acc SET pad = left(pad || 'y', 80) WHERE id = a;
		END IF;
	EXCEPTION
		-- rows locked in opposite orders by the multi-row locks: the
		-- workload's, not the table's
		WHEN deadlock_detected THEN NULL;
	END $$;

	-- in the caller's snapshot: the total through a slow cursor and by
	-- an index scan, the rows of group g by xhash and by a sequential scan
	CREATE FUNCTION verify(g int8, total int8) RETURNS void
	LANGUAGE plpgsql AS $$
	DECLARE
		slow int8 := 0; byidx int8; seq int8; ng_idx int8; ng_seq int8;
		i int := 0;
		r record;
	BEGIN
		IF current_setting('transaction_isolation') <> 'repeatable read' THEN
			RAISE EXCEPTION 'verify() needs one snapshot for all its sums';
		END IF;
		PERFORM set_config('enable_indexscan', 'off', true);
		PERFORM set_config('enable_bitmapscan', 'off', true);
		FOR r IN SELECT bal FROM acc
		LOOP
			slow := slow + r.bal;
			i := i + 1;
			IF i % 2000 = 0 THEN
				PERFORM pg_sleep(0.01);
			END IF;
		END LOOP;
		SELECT count(*) INTO ng_seq FROM acc WHERE grp = g;
		PERFORM set_config('enable_seqscan', 'off', true);
		PERFORM set_config('enable_indexscan', 'on', true);
		SELECT sum(bal) INTO byidx FROM acc WHERE id > 0;
		SELECT count(*) INTO ng_idx FROM acc WHERE grp = g;
		SELECT sum(bal) INTO seq FROM acc;
		PERFORM set_config('enable_seqscan', 'on', true);
		IF slow <> total OR byidx <> total OR seq <> total OR ng_idx <> ng_seq THEN
			RAISE EXCEPTION 'lsm stress: total % by a slow cursor, % by index, % (expected %); group %: % rows by xhash, % by a sequential scan',
				slow, byidx, seq, total, g, ng_idx, ng_seq;
		END IF;
	END $$;

	-- every group's rows by the xhash index or by sequential scans
	CREATE FUNCTION groups(by_index bool, OUT g int8, OUT n int8)
	RETURNS SETOF record LANGUAGE plpgsql AS $$
	DECLARE
		x int;
	BEGIN
		PERFORM set_config('enable_seqscan', (NOT by_index)::text, true);
		PERFORM set_config('enable_indexscan', by_index::text, true);
		PERFORM set_config('enable_bitmapscan', 'off', true);
		FOR x IN 1 .. 200
		LOOP
			g := x;
			SELECT count(*) INTO n FROM acc WHERE grp = g;
			RETURN NEXT;
		END LOOP;
	END $$;

	-- how many rows an index scan of the primary key finds
	CREATE FUNCTION found_by_id() RETURNS int8 LANGUAGE plpgsql AS $$
	DECLARE
		n int8;
	BEGIN
		PERFORM set_config('enable_seqscan', 'off', true);
		PERFORM set_config('enable_bitmapscan', 'off', true);
		PERFORM set_config('enable_tidscan', 'off', true);
		SELECT count(*) INTO n FROM acc s
		 WHERE EXISTS (SELECT 1 FROM acc x WHERE x.id = s.id AND x.ctid = s.ctid);
		RETURN n;
	END $$;
});

like(
	$primary->safe_psql(
		'postgres', q{
		SET enable_seqscan = off; SET enable_bitmapscan = off;
		EXPLAIN (COSTS OFF) SELECT count(*) FROM acc WHERE grp = 1}),
	qr/Index Scan using acc_grp on acc/,
	'a group is counted through the xhash index');
ok( $primary->safe_psql('postgres', q{SELECT runs FROM lsm_info('acc')}) >= 1,
	'the rows start in a run');

wait_for_replay($primary, $standby);

my $writes = q{
\set a random(1, 20000)
\set b random(1, 20000)
\set g random(1, 200)
\set r random(0, 99)
SELECT op(:a, :b, :g, :r);
};
my $maintenance = q{
SELECT lsm_compact('acc');
VACUUM acc;
\sleep 50 ms
SELECT lsm_compact('acc', true);
VACUUM (FREEZE) acc;
\sleep 50 ms
};
my $check = qq{
\\set g random(1, 200)
SELECT verify(:g, $total);
};

# the six writers and the maintenance client, started on the primary
sub start_writers
{
	return (
		writes => start_workload($primary, script => $writes, clients => 6,
			jobs => 3, seconds => $seconds),
		maintenance => start_workload($primary, script => $maintenance,
			seconds => $seconds, clients => 1));
}

my %work = start_writers();
start_verifiers(\%work, $primary, $standby, $check, $seconds);

check_workloads(\%work);

# what the run left, for the log
note(
	$primary->safe_psql(
		'postgres', q{
		SELECT format('%s pages (%s memtable, %s free, %s in %s runs), %s retired runs, %s versions, %s dead blocks',
					  total_pages, memtable_pages, free_pages, run_pages, runs, retired_runs,
					  versions, dead_blocks)
		  FROM lsm_info('acc')}));

my $final = qq{
	SELECT lsm_check('acc'), xhash_check('acc_grp');
	SELECT 'total', sum(bal), count(*) FROM acc;
	SELECT 'found by id', found_by_id();
	SELECT 'groups', count(*) FILTER (WHERE i.n IS DISTINCT FROM s.n), sum(s.n)
	  FROM groups(true) i FULL JOIN groups(false) s USING (g);
	SELECT 'digest', md5(string_agg(id || ':' || grp || ':' || bal || ':' || pad, ',' ORDER BY id))
	  FROM acc;
};

# $final on the primary, checked; returns its output
sub final_checks
{
	my ($when) = @_;
	my $result = $primary->safe_psql('postgres', $final);
	my ($rows) = $result =~ /^total\|\d+\|(\d+)$/m;
	like($result, qr/^\|\n/, "$when: lsm_check and xhash_check pass");
	like($result, qr/^total\|$total\|/m, "$when: the total is unchanged");
	like($result, qr/^found by id\|$rows$/m,
		"$when: every row is found by its primary key");
	like($result, qr/^groups\|0\|$rows$/m,
		"$when: every group has as many rows by xhash as by sequential scan");
	return $result;
}

my $result = final_checks('primary');
note($result);

wait_for_replay($primary, $standby);
is($standby->safe_psql('postgres', $final), $result,
	'standby: the same checks give the same result');

# relfrozenxid: nothing the run left is older than it, and it still
# reaches the present -- once the standby's feedback no longer holds back
# the horizon (its replay, slowed down by the consistency checks, lagged
# behind the writers, and the retired runs its snapshots might still read
# are kept as long as heap would keep dead versions)
my $last = $primary->safe_psql('postgres', 'SELECT txid_current()');
wait_for_replay($primary, $standby);
$primary->poll_query_until('postgres',
	qq{SELECT bool_and(backend_xmin IS NULL OR backend_xmin::text::bigint > $last)
		FROM pg_stat_replication})
  or die 'the standby\'s feedback still holds the horizon back';
my ($rc, $out, $err) = $primary->psql('postgres', 'VACUUM (FREEZE) acc');
is($err, '', 'a VACUUM (FREEZE) after the run finds no xid before relfrozenxid');
$primary->safe_psql('postgres', 'VACUUM (FREEZE) acc');
is( $primary->safe_psql(
		'postgres',
		q{SELECT age(relfrozenxid) <= 2, mxid_age(relminmxid) <= 1
			FROM pg_class WHERE relname = 'acc'}),
	't|t',
	'relfrozenxid and relminmxid reach the present')
  or diag(
	$primary->safe_psql(
		'postgres', q{
		SELECT format('relfrozenxid %s (next xid %s), retired runs %s, runs'' oldest xids %s',
					  relfrozenxid, txid_current(), retired_runs,
					  (SELECT string_agg(oldest_xid::text, ',') FROM lsm_runs('acc')))
		  FROM pg_class, lsm_info('acc') WHERE relname = 'acc'}));
note(
	$primary->safe_psql(
		'postgres', q{
		SELECT format('after VACUUM: %s pages (%s free)', total_pages, free_pages)
		  FROM lsm_info('acc')}));

# the space the retired runs took comes back: a full compaction rewrites
# the runs into the lowest free pages and cuts off the rest
$primary->safe_psql('postgres', q{SELECT lsm_compact('acc', true)});
my ($pages, $run_pages) = split /\|/, $primary->safe_psql('postgres',
	q{SELECT total_pages, run_pages FROM lsm_info('acc')});
note("after lsm_compact: $pages pages, $run_pages in runs");
ok($pages < 2 * $run_pages + 100,
	'a full compaction gives the free pages back');

check_server_log($primary, 'primary: no errors in the server log', patterns => [qr/ERROR:/]);
check_server_log($standby, 'standby: no errors in the server log',
	patterns => [qr/ERROR:/], allow => qr/conflict with recovery/);

# --- a crash in the middle of it all -----------------------------------------

# The writers and the maintenance client again, the primary stopped by an
# immediate shutdown a third of the way: after recovery the total is
# unchanged (each move is one transaction), the table and its indexes check
# out, a full compaction and a VACUUM (FREEZE) succeed, and the standby,
# which replayed the same WAL, answers like the primary.
my $pos = log_position($primary);
my %crash_work = start_writers();
sleep(int($seconds / 3) || 1);
$primary->stop('immediate');
finish_workload($_, kill => 1) foreach values %crash_work;
$primary->start;

$result = final_checks('after the crash');
wait_for_replay($primary, $standby);
is($standby->safe_psql('postgres', $final), $result,
	'after the crash: the standby gives the same result');
($rc, $out, $err) = $primary->psql('postgres',
	q{SELECT lsm_compact('acc', true); VACUUM (FREEZE) acc; SELECT lsm_check('acc')});
is($err, '', 'after the crash: a full compaction and VACUUM (FREEZE) succeed');
check_server_log($primary, 'after the crash: no errors in the server log',
	offset => $pos, patterns => [qr/ERROR:/]);

done_testing();
