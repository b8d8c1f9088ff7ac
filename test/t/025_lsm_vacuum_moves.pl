# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 025_lsm_vacuum_moves.pl -- VACUUM of an lsm table does not advance
# relfrozenxid past xids that reached pages its scan had passed.
#
# VACUUM takes the oldest xid it sees as the table's new relfrozenxid.
# Unlike heap's, versions of an lsm table can carry an old xid to a page
# while the scan runs (lsm_vacuum_unseen_horizon in src/lsm/lsm_vacuum.c):
#
#   * moves: a logical block whose copies on a shared overlay page take
#     more than 1 kB moves them to a page of its own (a new page, which the
#     scan does not read) -- here while VACUUM is stopped at the shared
#     page, after it counted the pages and before it read that one (also
#     with copies whose xmax is a MultiXact, for relminmxid);
#   * copies: the first row lock on a row of a run copies the run's version
#     with its unfrozen xmin to an overlay page -- here while VACUUM (FREEZE)
#     is stopped after its scan, before the merge at its end that freezes
#     the run's own version; and a copy from a run a merge retired after the
#     locker looked the row up in it (the merged run holds it frozen).
#
# Before 2026-12-07 that VACUUM set relfrozenxid past the locker's xid
# (xmax of the moved copies) or the inserter's (xmin of the copy), and the
# next VACUUM failed: "found xmax ... from before relfrozenxid" (found by
# 024_xhash_stress on an assert-enabled build), "found xmin ...".  The
# backend running VACUUM is stopped under gdb; without gdb, or where it
# cannot attach, the test is skipped.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

plan skip_all => 'gdb is not available'
  if `command -v gdb 2>/dev/null` eq '';

my $node = new_node('lsm_vacuum_moves', extra_conf => ['autovacuum = off']);
my $timeout = $PostgreSQL::Test::Utils::timeout_default;

# lock the rows of logical block 0 with offsets from .. to, in a
# transaction of its own; returns its xid
sub lock_rows
{
	my ($table, $from, $to) = @_;
	return $node->safe_psql(
		'postgres', qq{
		BEGIN;
		SELECT count(*) FROM (SELECT * FROM $table
							   WHERE ctid >= '(0,$from)' AND ctid <= '(0,$to)'
							   FOR UPDATE) s \\g /dev/null
		SELECT txid_current();
		COMMIT;});
}

# 2000 rows inserted into $table and compacted into one run while a
# snapshot older than them is open, so that the run keeps their xmin; then
# no snapshot needs it any more.  Returns the inserter's xid.
sub unfrozen_run
{
	my ($table) = @_;
	my $old = psql_pipe($node);
	$old->{in} .= "BEGIN ISOLATION LEVEL REPEATABLE READ;\nSELECT 'snapshot';\n";
	pump_until_match(\$old->{out}, qr/snapshot/, $timeout)
	  or die "the snapshot session did not start: $old->{err}";
	my $inserter = $node->safe_psql(
		'postgres', qq{
		BEGIN;
		INSERT INTO $table SELECT g, repeat('p', 100) FROM generate_series(1, 2000) g;
		SELECT txid_current();
		COMMIT;});
	$node->safe_psql('postgres', qq{SELECT lsm_compact('$table', true)});
	$old->{in} .= "COMMIT;\n\\q\n";
	eval { $old->{h}->finish; };
	return $inserter;
}

# run "$vacuum" in a session stopped at function $fn under gdb; while it is
# stopped, run $meanwhile->(); then let it finish.  Returns false if gdb
# cannot attach.
sub vacuum_stopped_at
{
	my ($vacuum, $fn, $meanwhile) = @_;
	my ($v, $pid) = psql_pipe_pid($node);

	my $g = gdb_attach($pid, "break $fn\n");
	if (!defined $g)
	{
		$v->{h}->kill_kill;
		return 0;
	}
	$v->{in} .= "$vacuum;\nSELECT 'vacuumed';\n";
	ok(pump_until_match(\$g->{out}, qr/Breakpoint 1,/, $timeout),
		"$vacuum stopped in $fn")
	  or diag($g->{out});
	$meanwhile->();
	gdb_detach($g);
	$v->{in} .= "\\q\n";
	ok(pump_until_match(\$v->{out}, qr/vacuumed/, $timeout),
		"$vacuum finished")
	  or diag("VACUUM session: $v->{err}");
	eval { $v->{h}->finish; };
	return 1;
}

# relfrozenxid <= xid, and a second VACUUM (which checks every version it
# keeps against relfrozenxid) succeeds
sub check_horizon
{
	my ($table, $xid, $what) = @_;
	is( $node->safe_psql(
			'postgres',
			qq{SELECT relfrozenxid::text::bigint <= $xid FROM pg_class
				WHERE relname = '$table'}),
		't',
		"$table: relfrozenxid is not past the xid of $what");
	my ($rc, $out, $err) = $node->psql('postgres', "VACUUM $table");
	is($err, '', "$table: the next VACUUM finds no xid before relfrozenxid");
}

# --- moves ------------------------------------------------------------------

# 2000 rows of 100 bytes compacted into a frozen run; three rows of logical
# block 0 locked: their copies (xmax = the locker) on a shared overlay page
$node->safe_psql(
	'postgres', q{
	CREATE TABLE mv (id int, pad text) USING lsm;
	INSERT INTO mv SELECT g, repeat('p', 100) FROM generate_series(1, 2000) g;
	SELECT lsm_compact('mv', true);
	VACUUM (FREEZE) mv;
});
my $locker = lock_rows('mv', 1, 3);

vacuum_stopped_at(
	'VACUUM mv',
	'lsm_vacuum_shared_page',
	sub {
		# 17 more copies of block 0: more than 1 kB, the block moves its
		# copies to a new page of its own
		lock_rows('mv', 4, 20);
	}) or plan skip_all => 'gdb cannot attach to a backend here';
check_horizon('mv', $locker, 'the copies moved while VACUUM ran');

# --- moves of copies whose xmax is a MultiXact ------------------------------

# two transactions share-lock the same three rows: their copies' xmax is a
# MultiXact, which VACUUM keeps (newer than its cutoff) and must count in
# relminmxid
$node->safe_psql(
	'postgres', q{
	CREATE TABLE mm (id int, pad text) USING lsm;
	INSERT INTO mm SELECT g, repeat('p', 100) FROM generate_series(1, 2000) g;
	SELECT lsm_compact('mm', true);
	VACUUM (FREEZE) mm;
});
my $sharer = psql_pipe($node);
$sharer->{in} .= q{BEGIN;
SELECT count(*) FROM (SELECT * FROM mm WHERE ctid >= '(0,1)' AND ctid <= '(0,3)' FOR SHARE) s;
SELECT 'shared';
};
pump_until_match(\$sharer->{out}, qr/shared/, $timeout)
  or die "the share-locking session did not start: $sharer->{err}";
$node->safe_psql(
	'postgres', q{
	SELECT count(*) FROM (SELECT * FROM mm WHERE ctid >= '(0,1)' AND ctid <= '(0,3)' FOR SHARE) s;
});
$sharer->{in} .= "COMMIT;\n\\q\n";
eval { $sharer->{h}->finish; };
my $multi = $node->safe_psql('postgres',
	q{SELECT xmax::text FROM mm WHERE ctid = '(0,1)'});
is( $node->safe_psql(
		'postgres', qq{SELECT count(*) FROM pg_get_multixact_members('$multi')}),
	'2',
	'mm: the copies\' xmax is a MultiXact of two lockers');

vacuum_stopped_at(
	'VACUUM mm',
	'lsm_vacuum_shared_page',
	sub {
		lock_rows('mm', 4, 20);
	});
is( $node->safe_psql(
		'postgres',
		qq{SELECT relminmxid::text::bigint <= $multi FROM pg_class
			WHERE relname = 'mm'}),
	't',
	'mm: relminmxid is not past the MultiXact of the copies moved while VACUUM ran');
my ($mrc, $mout, $merr) = $node->psql('postgres', 'VACUUM mm');
is($merr, '', 'mm: the next VACUUM finds no MultiXact before relminmxid');

# --- copies -----------------------------------------------------------------

$node->safe_psql('postgres',
	q{CREATE TABLE cp (id int, pad text) USING lsm});
my $inserter = unfrozen_run('cp');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*), min(oldest_xid::text::bigint) FROM lsm_runs('cp')}),
	"1|$inserter",
	'cp: one run, holding the inserter xid unfrozen');
$node->safe_psql('postgres', 'VACUUM cp');

vacuum_stopped_at(
	'VACUUM (FREEZE) cp',
	'lsm_vacuum_indexes',
	sub {
		# the first copies of three rows, on a new shared page
		lock_rows('cp', 1, 3);
	});
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*), count(oldest_xid) FILTER (WHERE oldest_xid::text <> '0')
			FROM lsm_runs('cp')}),
	'1|0',
	'cp: VACUUM (FREEZE) merged the run, freezing its versions');
check_horizon('cp', $inserter, 'the run versions copied while VACUUM ran');

# --- copies from a retired run ----------------------------------------------

# A backend that looked a row up in the runs before a merge makes its copy
# after it, from the run the merge retired (kept while the backend's
# snapshot may read it), once VACUUM's scan has passed: the copy carries
# the retired run's unfrozen xmin, which the merged run holds frozen.
# VACUUM bounds relfrozenxid by the retired runs' oldest xid (the
# metapage's retired_xid); until 2026-12-07 it kept relfrozenxid unchanged
# whenever retired runs were left.
$node->safe_psql('postgres',
	q{CREATE TABLE rt (id int, pad text) USING lsm});
my $created = $node->safe_psql('postgres',
	q{SELECT relfrozenxid::text FROM pg_class WHERE relname = 'rt'});
$node->safe_psql('postgres', 'SELECT txid_current()') for 1 .. 3;
my $rinserter = unfrozen_run('rt');

# the locker stops after looking row (0,1) up in the run, before copying it
my ($w, $wpid) = psql_pipe_pid($node);
my $wg = gdb_attach($wpid, "break lsm_get_overlay_page\n");
if (defined $wg)
{
	$w->{in} .= q{BEGIN;
SELECT count(*) FROM (SELECT * FROM rt WHERE ctid = '(0,1)' FOR UPDATE) s;
SELECT 'locked ' || txid_current();
};
	ok(pump_until_match(\$wg->{out}, qr/Breakpoint 1,/, $timeout),
		'rt: the locker stopped between its lookup and its copy')
	  or diag($wg->{out});

	# the merge freezes the run's versions in a new run and retires the old
	$node->safe_psql('postgres', q{SELECT lsm_compact('rt', true)});
	is( $node->safe_psql(
			'postgres',
			q{SELECT count(*), count(oldest_xid) FILTER (WHERE oldest_xid::text <> '0'),
				(SELECT retired_runs FROM lsm_info('rt'))
			  FROM lsm_runs('rt')}),
		'1|0|1',
		'rt: the run was merged frozen, the old one retired');

	# (FREEZE: the rows of the table's last block, left in the memtable,
	# would bound relfrozenxid by the inserter's xid as well)
	vacuum_stopped_at(
		'VACUUM (FREEZE) rt',
		'lsm_vacuum_indexes',
		sub {
			gdb_detach($wg);
			ok(pump_until_match(\$w->{out}, qr/locked \d+/, $timeout),
				'rt: the locker made its copy')
			  or diag("locking session: $w->{err}");
		});
	is( $node->safe_psql(
			'postgres', q{SELECT xmin FROM rt WHERE ctid = '(0,1)'}),
		$rinserter,
		'rt: the copy carries the retired run\'s xmin');
	is( $node->safe_psql(
			'postgres',
			qq{SELECT relfrozenxid::text::bigint > $created FROM pg_class
				WHERE relname = 'rt'}),
		't',
		'rt: relfrozenxid advanced although a retired run was left');
	check_horizon('rt', $rinserter, 'the copy from the retired run');
	$w->{in} .= "COMMIT;\n\\q\n";
	eval { $w->{h}->finish; };
}

# and relfrozenxid still advances: in a quiet database, a VACUUM (FREEZE)
# that finds nothing left to freeze brings it to the present
$node->safe_psql('postgres', 'VACUUM (FREEZE) mv, cp, rt');
$node->safe_psql('postgres', 'VACUUM (FREEZE) mv, cp, rt');
is( $node->safe_psql(
		'postgres',
		q{SELECT string_agg(relname || ':' || (age(relfrozenxid) <= 2), ',' ORDER BY relname)
			FROM pg_class WHERE relname IN ('mv', 'cp', 'rt')}),
	'cp:true,mv:true,rt:true',
	'relfrozenxid advances to the present once nothing old is left');

is($node->safe_psql('postgres', q{SELECT count(*) FROM mv}), '2000', 'mv: rows');
is($node->safe_psql('postgres', q{SELECT count(*) FROM mm}), '2000', 'mm: rows');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cp}), '2000', 'cp: rows');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rt}), '2000', 'rt: rows');
is( $node->safe_psql(
		'postgres',
		q{SELECT lsm_check('mv')::text || lsm_check('mm')::text ||
				 lsm_check('cp')::text || lsm_check('rt')::text}),
	'', 'the tables check out');

$node->stop;
done_testing();
