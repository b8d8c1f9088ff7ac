# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 029_lsm_vacuum_lock.pl -- VACUUM of an lsm table takes the
# AccessExclusiveLock only when it has space to give back.
#
# Heap's VACUUM truncates only a free tail worth it (1 000 pages or a 16th
# of the table).  The lock it takes for that is WAL-logged, which assigns a
# transaction id, and a hot standby replaying the lock waits for every
# query that has read the table (and cancels it after
# max_standby_streaming_delay).  Until 2026-12-07 every VACUUM of an lsm
# table took the lock, with nothing to give back too: each one held up a
# standby's replay behind its readers of the table.  Here, with
# max_standby_streaming_delay = -1 and a standby transaction that has read
# the table kept open:
#
#  1. VACUUM of a table with nothing to give back: the standby replays past
#     it while the transaction stays open, and the VACUUM assigned no
#     transaction id on the primary;
#  2. VACUUM that frees the upper half of a table still truncates it (the
#     standby's replay waits for the transaction, as for heap's
#     truncation), and both nodes end with the same table; a VACUUM that
#     then frees one page leaves it (below heap's thresholds) and takes no
#     lock;
#  3. two VACUUM (FREEZE) in a quiet cluster still bring relfrozenxid to the
#     present (an aggressive VACUUM takes the lock to free the runs its
#     merge retired).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use LsmTest;

my ($primary, $standby) = primary_and_standby(
	'lsm_vacuum_lock',
	extra_conf => [ 'autovacuum = off', 'wal_keep_size = 1GB' ],
	standby_conf =>
	  [ 'max_standby_streaming_delay = -1', 'hot_standby_feedback = off' ]);

# Does the standby replay up to the primary's current position within
# $seconds?
sub replays_within
{
	my ($seconds) = @_;
	my $target = $primary->safe_psql('postgres',
		'SELECT pg_current_wal_insert_lsn()');
	$primary->safe_psql('postgres', 'SELECT pg_current_xact_id()');
	my $deadline = time() + $seconds;
	while (time() < $deadline)
	{
		return 1
		  if $standby->safe_psql('postgres',
			"SELECT pg_last_wal_replay_lsn() >= '$target'::pg_lsn") eq 't';
		usleep(100_000);
	}
	return 0;
}

# a table with rows in a run, rows in the memtable, and some dead rows
$primary->safe_psql(
	'postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v int) USING lsm;
	INSERT INTO t SELECT g, g FROM generate_series(1, 20000) g;
	SELECT lsm_compact('t', true);
	INSERT INTO t SELECT g, g FROM generate_series(20001, 21000) g;
	UPDATE t SET v = -v WHERE id % 50 = 0;
	VACUUM t;
	CREATE TABLE t3 (id int PRIMARY KEY, v int) USING lsm;
	SET lsm.memtable_flush_pages = 100000;
	INSERT INTO t3 SELECT g, g FROM generate_series(1, 20000) g;
});
wait_for_replay($primary, $standby);

# --- 1. nothing to give back ---------------------------------------------------

my $reader = start_session($standby);
$reader->query_safe('BEGIN');
$reader->query_safe('SELECT count(*) FROM t');
$reader->query_safe('SELECT count(*) FROM t3');

my $xid_before = $primary->safe_psql('postgres', 'SELECT pg_current_xact_id()');
$primary->safe_psql('postgres', 'VACUUM t');
my $xid_after = $primary->safe_psql('postgres', 'SELECT pg_current_xact_id()');
is($xid_after - $xid_before, 1,
	'a VACUUM with nothing to give back assigns no transaction id');
ok(replays_within(20),
	'the standby replays past that VACUUM while a transaction that read the table is open');
is($reader->query_safe('SELECT count(*) FROM t'), '21000',
	'the standby transaction goes on');

# --- 2. a free tail is still cut off --------------------------------------------

# (no flush: the memtable pages of the deleted rows are freed, at the end)
my $vacuum_t3 = q{SET lsm.vacuum_flush_min_pages = 100000; VACUUM t3;};
my $pages_before = $primary->safe_psql('postgres',
	q{SELECT pg_relation_size('t3') / 8192});
$primary->safe_psql('postgres', 'DELETE FROM t3 WHERE id > 10000');
$primary->safe_psql('postgres', $vacuum_t3);
my $pages_after = $primary->safe_psql('postgres',
	q{SELECT pg_relation_size('t3') / 8192});
ok($pages_after < $pages_before * 0.6,
	"VACUUM cuts off the free half ($pages_before -> $pages_after pages)");
ok(!replays_within(2),
	'the standby waits with replaying that truncation while the transaction is open');
is($reader->query_safe('SELECT count(*) FROM t3'), '10000',
	'the standby transaction goes on reading the table');
$reader->query_safe('COMMIT');
$reader->quit;
wait_for_replay($primary, $standby);
is($standby->safe_psql('postgres', q{SELECT pg_relation_size('t3') / 8192, count(*) FROM t3}),
	"$pages_after|10000", 'standby: the same size and rows after the transaction ended');

# one more page freed: below the thresholds, no lock
$primary->safe_psql('postgres', 'DELETE FROM t3 WHERE id > 9900');
$xid_before = $primary->safe_psql('postgres', 'SELECT pg_current_xact_id()');
$primary->safe_psql('postgres', $vacuum_t3);
$xid_after = $primary->safe_psql('postgres', 'SELECT pg_current_xact_id()');
is($xid_after - $xid_before, 1,
	'a VACUUM that frees a single page assigns no transaction id');
is($primary->safe_psql('postgres', q{SELECT pg_relation_size('t3') / 8192}),
	$pages_after, '... and leaves the size');

# --- 3. relfrozenxid of a quiet table -------------------------------------------

$primary->safe_psql(
	'postgres', q{
	INSERT INTO t SELECT g, g FROM generate_series(1, 20000) g
		ON CONFLICT DO NOTHING;
	SELECT lsm_compact('t', false);
	UPDATE t SET v = v + 1 WHERE id % 3 = 0;
	SELECT lsm_compact('t', false);
	UPDATE t SET v = v + 1 WHERE id % 5 = 0;
});
$primary->safe_psql('postgres', 'VACUUM (FREEZE) t');
$primary->safe_psql('postgres', 'VACUUM (FREEZE) t');
is( $primary->safe_psql(
		'postgres',
		q{SELECT age(relfrozenxid) <= 1 FROM pg_class WHERE relname = 't'}),
	't',
	'two VACUUM (FREEZE) bring relfrozenxid to the present');
is($primary->safe_psql('postgres', q{SELECT retired_runs FROM lsm_info('t')}),
	'0', 'no retired run is left');
is($primary->safe_psql('postgres', q{SELECT lsm_check('t')}), '', 'lsm_check');
wait_for_replay($primary, $standby);
compare_query($primary, $standby, 'SELECT count(*), sum(v) FROM t',
	'standby: same rows');

check_server_log($primary, 'primary: no errors in the server log',
	patterns => [qr/ERROR:/]);
check_server_log($standby, 'standby: no errors in the server log',
	patterns => [qr/ERROR:/]);

done_testing();
