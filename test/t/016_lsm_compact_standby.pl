
# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 016_lsm_compact_standby.pl -- flushes and compactions on a streaming
# standby.
#
# A primary and a hot standby, wal_consistency_checking = 'generic' (every
# generic WAL record carries full page images that redo compares with the
# pages it rebuilt).  On the primary, pgbench clients transfer amounts
# between accounts (the sum of the balances and the number of accounts
# never change), append to and delete from a history table, and lock rows,
# with a small lsm.memtable_flush_pages so that they flush inline; another
# client runs lsm_compact, lsm_compact(t, true) (which may rewrite the runs
# into free pages, move the manifest and truncate the relation) and VACUUM
# in a loop.  Meanwhile queries on the standby (sequential, index, bitmap,
# index-only scans, TID lookups, and REPEATABLE READ transactions that read
# twice) must always see the invariants; a query may be cancelled by a
# recovery conflict, but must not fail otherwise.  Afterwards the standby
# has exactly the primary's contents, runs and page counts, lsm_check is
# clean on both, and no "inconsistent page found" was logged.  Finally a
# standby session that looked up rows of a run keeps working after the
# primary moved the runs and truncated the relation, and standby cursors
# stopped in the middle of a memtable page return the right rows after the
# primary flushed and freed that page.
#
# LSM_TAP_COMPACT_STANDBY_SECONDS sets the length of the workload
# (default 15).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use LsmTest;

my $seconds = $ENV{LSM_TAP_COMPACT_STANDBY_SECONDS} // 15;
my $naccounts = 20000;
my $total = $naccounts * 100;

my ($primary, $standby) = primary_and_standby(
	'lsm_compact_standby',
	extra_conf => [ 'autovacuum = off', 'max_wal_size = 1GB' ],
	standby_conf =>
	  [ 'max_standby_streaming_delay = 100ms', 'hot_standby_feedback = off' ]);

$primary->safe_psql(
	'postgres', qq{
	CREATE TABLE acct (id int PRIMARY KEY, bal int NOT NULL, pad text) USING lsm
		WITH (autovacuum_enabled = off);
	CREATE INDEX acct_bal ON acct (bal);
	CREATE TABLE hist (id bigserial PRIMARY KEY, aid int NOT NULL, delta int NOT NULL)
		USING lsm WITH (autovacuum_enabled = off);
	INSERT INTO acct SELECT g, 100, md5(g::text) FROM generate_series(1, $naccounts) g;
	INSERT INTO hist (aid, delta) SELECT g, 100 FROM generate_series(1, $naccounts) g;
});
$primary->safe_psql('postgres', q{SELECT lsm_compact('acct'), lsm_compact('hist')});

# --- the workload --------------------------------------------------------------

# A transfer moves an amount between two different accounts in one
# statement (rows are locked in index order: no deadlocks).
my $transfer = qq{
\\set a random(1, $naccounts)
\\set b (:a % $naccounts) + 1
\\set d random(1, 50)
BEGIN;
SET LOCAL lsm.memtable_flush_pages = 16;
UPDATE acct SET bal = bal + CASE WHEN id = :a THEN -:d ELSE :d END WHERE id IN (:a, :b);
INSERT INTO hist (aid, delta) VALUES (:a, -:d), (:b, :d);
COMMIT;
};
my $trim = q{
BEGIN;
SET LOCAL lsm.memtable_flush_pages = 16;
DELETE FROM hist WHERE id IN (SELECT id FROM hist ORDER BY id LIMIT 20);
COMMIT;
};
my $lock = qq{
\\set a random(1, $naccounts)
BEGIN;
SELECT count(*) FROM (SELECT 1 FROM acct WHERE id BETWEEN :a AND :a + 20 FOR KEY SHARE) s;
SELECT count(*) FROM (SELECT 1 FROM acct WHERE id BETWEEN :a + 30 AND :a + 40 FOR SHARE) s;
COMMIT;
};
my $maintain = q{
SELECT runs FROM lsm_compact('acct');
VACUUM acct;
SELECT runs FROM lsm_compact('hist');
SELECT runs FROM lsm_compact('acct', true);
VACUUM hist;
SELECT runs FROM lsm_compact('hist', true);
\sleep 100 ms
};

# What every snapshot of acct must show, through each kind of scan.
my %checks = (
	seq => [
		'SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;',
		'SELECT count(*), sum(bal), sum(id) FROM acct'
	],
	index => [
		'SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;',
		'SELECT count(*), sum(bal), sum(id) FROM acct WHERE id > 0'
	],
	bitmap => [
		'SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off;',
		'SELECT count(*), sum(bal), sum(id) FROM acct WHERE bal > -1000000000'
	],
	indexonly => [
		'SET enable_seqscan = off; SET enable_bitmapscan = off;',
		"SELECT count(*), $total, sum(id) FROM acct WHERE id > 0"
	],);
my $want = join('|', $naccounts, $total, $naccounts * ($naccounts + 1) / 2);

my $w = start_workload(
	$primary,
	scripts => [ $transfer, $transfer, $transfer, $transfer, $trim, $lock ],
	clients => 3,
	seconds => $seconds,
	extra_args => [ '-R', '300' ]);
my $m = start_workload(
	$primary,
	script  => $maintain,
	clients => 1,
	seconds => $seconds);

# Query the standby until the workload ends.
my %stat = (ok => 0, cancelled => 0, wrong => 0, failed => 0);
my $end = time() + $seconds;
my $i = 0;
while (time() < $end)
{
	my $kind = (sort keys %checks)[ $i++ % 4 ];
	my ($set, $sql) = @{ $checks{$kind} };
	my ($ret, $out, $err);
	my $expect = $want;
	if ($i % 5 == 0)
	{
		# one snapshot read twice, with replay going on in between
		($ret, $out, $err) = $standby->psql(
			'postgres', qq{$set
			BEGIN ISOLATION LEVEL REPEATABLE READ;
			$sql;
			SELECT 'slept' FROM pg_sleep(0.2);
			$sql;
			COMMIT;});
		$expect = "$want\nslept\n$want";
	}
	else
	{
		($ret, $out, $err) = $standby->psql('postgres', "$set $sql");
	}
	if ($ret != 0)
	{
		if ($err =~ /conflict with recovery/)
		{
			$stat{cancelled}++;
		}
		else
		{
			$stat{failed}++;
			diag("standby query ($kind) failed: $err");
		}
	}
	elsif ($out ne $expect)
	{
		$stat{wrong}++;
		diag("standby query ($kind) returned '$out', expected '$expect'");
	}
	else
	{
		$stat{ok}++;
	}
}
my $wres = finish_workload($w);
my $mres = finish_workload($m);
note "standby queries: "
  . join(', ', map { "$_ $stat{$_}" } sort keys %stat);
note "workload: $wres->{transactions} transactions; maintenance: $mres->{transactions} rounds";
is($mres->{rc}, 0, 'the compactions ran without errors') or diag($mres->{stderr});
ok($mres->{transactions} >= 2, 'several rounds of compaction ran');
ok($stat{ok} > 0, 'queries on the standby succeeded during the compactions');
# Readers that looked at the list of runs just before a compaction published
# a merge go on reading the replaced runs (retired runs keep their pages
# until no snapshot can need them); an UPDATE of a row whose page a flush
# frees meanwhile finds the row in the new run.
# A standby scan returns memtable versions from a copy taken under the
# buffer lock: replay of the record that frees a flushed page does not wait
# for the scan's pin (lsm_pages_may_vanish).
is($stat{wrong}, 0, 'no query on the standby returned a wrong result');
is($wres->{rc}, 0, 'the workload ran without errors')
  or diag($wres->{stderr});
is($stat{failed}, 0,
	'no query on the standby failed other than by a recovery conflict');

# --- afterwards: the standby equals the primary ---------------------------------------

verify_query($primary, $checks{seq}[0] . $checks{seq}[1], $want,
	'the primary keeps the invariants');
wait_for_replay($primary, $standby);
foreach my $t (qw(acct hist))
{
	is(table_digest($standby, $t), table_digest($primary, $t),
		"$t has the same contents on the standby");
	# the digest's scan on the primary may have freed pages that pruning
	# emptied (dead blocks, freed at scan end): wait for that WAL too
	compare_query(
		$primary, $standby,
		qq{SELECT total_pages, memtable_pages, map_pages, free_pages, runs,
				  logical_blocks, run_pages, run_entries, bytes_flushed, bytes_compacted
			 FROM lsm_info('$t')},
		"$t: lsm_info page figures match on the standby");
	compare_query(
		$primary, $standby,
		qq{SELECT run_id, level, min_tid, max_tid, pages, versions, tombstones, root_block
			 FROM lsm_runs('$t')},
		"$t: the same runs on the standby",
		wait => 0);
	foreach my $node ($primary, $standby)
	{
		my $role = $node eq $primary ? 'primary' : 'standby';
		my ($ret, $out, $err) =
		  $node->psql('postgres', "SELECT lsm_check('$t')");
		is($ret, 0, "lsm_check('$t') on the $role") or diag($err);
	}
}
foreach my $kind (sort keys %checks)
{
	verify_query($standby, join(' ', @{ $checks{$kind} }),
		$want, "after replay: $kind scan on the standby");
}

# --- a standby session's view of the runs across a move and truncation -------------------

# All rows of st in a run, whose pages, and the manifest, come after the
# memtable pages the flush freed; a standby session looks up rows by TID
# (the backend's cached view of the runs); then lsm_compact(st, true) on
# the primary rewrites the run into the freed pages, moves the manifest
# and truncates the end of the relation; the standby session looks up
# rows again.
$primary->safe_psql(
	'postgres', q{
	CREATE TABLE st (id int PRIMARY KEY, v int NOT NULL, pad text) USING lsm
		WITH (autovacuum_enabled = off);
	INSERT INTO st SELECT g, g, repeat('t', 200) FROM generate_series(1, 3000) g;
});
$primary->safe_psql('postgres', q{SELECT lsm_compact('st')});
$primary->safe_psql('postgres', 'SELECT pg_current_xact_id()');
$primary->safe_psql('postgres', 'VACUUM st');
$primary->safe_psql('postgres', 'SELECT pg_current_xact_id()');
wait_for_replay($primary, $standby);
my $tid_sql = q{SELECT id, v FROM st WHERE ctid = (SELECT ctid FROM st WHERE id = %d)};
my $s = start_session($standby, on_error_stop => 0);
is($s->query(sprintf($tid_sql, 5)), '5|5',
	'a standby session looks up a row of a run by TID');
my $before = $primary->safe_psql('postgres', q{SELECT total_pages FROM lsm_info('st')});
$primary->safe_psql('postgres', q{SELECT lsm_compact('st', true)});
my $after = $primary->safe_psql('postgres', q{SELECT total_pages FROM lsm_info('st')});
note "st: $before pages before the full compaction, $after after";
wait_for_replay($primary, $standby);
my $got = $s->query(sprintf($tid_sql, 6));
is($got, '6|6',
	'after the primary moved the runs and truncated st, the standby session looks up rows')
  or diag($s->{stderr});
$s->quit;

# --- standby cursors across the replay of a flush that frees their pages ---------------

# A cursor on the standby stops in the middle of a memtable page: its scan
# keeps a pin and the visible versions of that page.  The primary flushes
# the memtable to a run and frees the page (no pin there stops it); generic
# WAL redo of the free does not wait for the standby's pin.  The rest of
# the cursor's rows must still be right: standby readers return versions
# copied under the buffer lock (lsm_pages_may_vanish).  One cursor for each
# kind of scan that reads memtable pages: sequential, index and bitmap.
$primary->safe_psql(
	'postgres', q{
	CREATE TABLE sc (id int PRIMARY KEY, v int NOT NULL, pad text) USING lsm
		WITH (autovacuum_enabled = off);
	INSERT INTO sc SELECT g, g, repeat('c', 200) FROM generate_series(1, 2000) g;
});
wait_for_replay($primary, $standby);
my %cursor = (
	seq => 'SET enable_indexscan = off; SET enable_bitmapscan = off;',
	index => 'SET enable_seqscan = off; SET enable_bitmapscan = off;',
	bitmap => 'SET enable_seqscan = off; SET enable_indexscan = off;');
my %cs;
foreach my $kind (sort keys %cursor)
{
	$cs{$kind} = start_session($standby, on_error_stop => 0);
	$cs{$kind}->query_safe(
		"$cursor{$kind} BEGIN ISOLATION LEVEL REPEATABLE READ;"
		  . " DECLARE c CURSOR FOR SELECT id, v, length(pad) FROM sc WHERE id > 0;");
	is($cs{$kind}->query('FETCH 3 FROM c'), "1|1|200\n2|2|200\n3|3|200",
		"$kind cursor on the standby: first rows");
}
$primary->safe_psql('postgres', q{SELECT lsm_compact('sc')});
is( $primary->safe_psql(
		'postgres', q{SELECT memtable_pages < 3 FROM lsm_info('sc')}),
	't', 'the primary flushed and freed the memtable pages of sc');
wait_for_replay($primary, $standby);
foreach my $kind (sort keys %cursor)
{
	my $rows = $cs{$kind}->query('FETCH ALL FROM c');
	my ($n, $bad, $sum) = (0, 0, 0);
	foreach my $line (split /\n/, $rows)
	{
		my ($id, $v, $len) = split /\|/, $line;
		$n++;
		$sum += $id // 0;
		$bad++
		  unless defined $len && $id =~ /^\d+$/ && $id == $v && $len == 200;
	}
	is("$n|$bad|$sum", '1997|0|' . (2000 * 2001 / 2 - 6),
		"$kind cursor on the standby: the rest of the rows after the free was replayed")
	  or diag("stderr: $cs{$kind}->{stderr}");
	$cs{$kind}->quit;
}

check_server_log($standby, 'standby log: no PANIC, TRAP or inconsistent page');
check_server_log($primary, 'primary log: no PANIC, TRAP or inconsistent page');

done_testing();
