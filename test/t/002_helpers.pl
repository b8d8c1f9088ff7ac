
# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 002_helpers.pl -- the LsmTest helpers not covered by 001_harness.pl:
# new_node options, has_am, the pgbench workload helpers (also across a
# crash, and started again after the server ended a session), background
# sessions, table_digest's "where", and that the log check really finds
# problems (a fake PANIC line) and honours "allow" and "offset".

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use LsmTest;

my $node = new_node(
	'helpers',
	db         => 'other',
	extra_conf => [ 'work_mem = 8MB', 'log_checkpoints = on' ]);
my %db = (db => 'other');

verify_query($node, 'SHOW wal_level', 'minimal',
	'new_node: wal_level = minimal by default', %db);
verify_query($node, 'SHOW work_mem', '8MB', 'new_node: extra_conf applied',
	%db);
verify_query($node, 'SHOW wal_consistency_checking', 'generic',
	'new_node: wal_consistency_checking = generic', %db);
verify_query($node, 'SELECT lsm_version()', '0.1',
	'new_node: extension created in the requested database', %db);
ok(has_am($node, 'heap', %db), 'has_am finds heap');
ok(!has_am($node, 'no_such_am', %db), 'has_am does not find no_such_am');

# --- workload helpers ---------------------------------------------------------

$node->safe_psql('other', 'CREATE TABLE w (id serial PRIMARY KEY, v int)');
my $w = start_workload(
	$node, %db,
	script  => "\\set v random(1, 100)\nINSERT INTO w (v) VALUES (:v);\n",
	clients => 2,
	seconds => 2);
my $r = finish_workload($w);
is($r->{rc}, 0, 'workload: pgbench succeeded') or diag($r->{stderr});
ok(defined $r->{transactions} && $r->{transactions} > 0,
	'workload: transactions were counted');
verify_query($node, 'SELECT count(*) FROM w', $r->{transactions},
	'workload: one row per transaction', %db);

# A workload running into a crash: it fails, committed rows survive.
my $w2 = start_workload(
	$node, %db,
	script  => "INSERT INTO w (v) VALUES (0);\n",
	clients => 2,
	seconds => 60);
$node->poll_query_until('other', 'SELECT count(*) > 0 FROM w WHERE v = 0')
  or die 'the workload did not start';
my $offset = log_position($node);
crash_and_restart($node);
my $r2 = finish_workload($w2, kill => 1);
isnt($r2->{rc}, 0, 'workload: a crash makes pgbench fail');
verify_after_recovery($node, 'SELECT count(*) > 0 FROM w WHERE v = 0',
	't', 'workload: committed rows survive the crash', %db,
	offset => $offset);

# A restart_after workload: after a session the server ended with a log
# line matching the pattern, pgbench starts again for the time left, and
# the runs' counts are summed; a session ended otherwise fails it; killing
# the workload kills its pgbench.
my $admin_fatal = qr/FATAL:  terminating connection due to administrator command/;
my $of_pgbench = "FROM pg_stat_activity WHERE query LIKE 'INSERT INTO w (v) VALUES (3)%'";
my $pgbench_sessions = "SELECT count(*) $of_pgbench";

# start one, and wait until its session is there
my $start_restarting = sub {
	my ($seconds, $pattern) = @_;
	my $w = start_workload(
		$node, %db,
		script        => "INSERT INTO w (v) VALUES (3);\n\\sleep 20 ms\n",
		clients       => 1,
		seconds       => $seconds,
		restart_after => $pattern);
	$node->poll_query_until('other', "SELECT ($pgbench_sessions) > 0")
	  or die 'the workload did not start';
	return $w;
};
my $terminate = sub {
	$node->safe_psql('other',
		"SELECT pg_sleep(0.5); SELECT pg_terminate_backend(pid) $of_pgbench");
};

my $w3 = $start_restarting->(3, $admin_fatal);
$terminate->();
my $r3 = finish_workload($w3);
is($r3->{rc}, 0, 'restart_after: pgbench succeeded after its session was ended')
  or diag($r3->{stderr});
is($r3->{restarts}, 1, 'restart_after: ... started again once');
my @runs = $r3->{stdout} =~ /number of transactions actually processed: (\d+)/g;
ok(@runs == 2 && $runs[0] > 0 && $runs[1] > 0
	  && $r3->{transactions} == $runs[0] + $runs[1],
	'restart_after: both runs did transactions, and they are summed')
  or diag($r3->{stdout});

my $w4 = $start_restarting->(30, qr/due to conflict with recovery/);
$terminate->();
my $r4 = finish_workload($w4);
ok($r4->{rc} != 0 && $r4->{restarts} == 0,
	'restart_after: a session ended for another reason fails the workload');

# (its pgbench would run on for a minute if it were left behind)
finish_workload($start_restarting->(60, $admin_fatal), kill => 1);
my $left_behind;
foreach (1 .. 50)
{
	$left_behind = $node->safe_psql('other', $pgbench_sessions);
	last if $left_behind == 0;
	Time::HiRes::usleep(200_000);
}
is($left_behind, 0, 'restart_after: killing the workload ends its pgbench');

# --- sessions, digests ----------------------------------------------------------

my $s = start_session($node, %db);
is($s->query_safe('SELECT 6 * 7'), '42', 'start_session: queries work');
$s->query_safe('BEGIN');
$s->query_safe('INSERT INTO w (v) VALUES (-1)');
verify_query($node, 'SELECT count(*) FROM w WHERE v = -1', '0',
	'start_session: an open transaction is invisible to others', %db);
$s->query_safe('COMMIT');
$s->quit;
verify_query($node, 'SELECT count(*) FROM w WHERE v = -1', '1',
	'start_session: ... and visible after COMMIT', %db);

is(table_digest($node, 'w', %db, where => 'false'),
	'0:', 'table_digest of no rows');
isnt(
	table_digest($node, 'w', %db),
	table_digest($node, 'w', %db, where => 'v <> -1'),
	'table_digest depends on the rows');

# --- check_server_log finds problems ------------------------------------------

$offset = log_position($node);
$node->safe_psql('other',
	q{DO $$ BEGIN RAISE LOG 'lsm-selftest: PANIC: not a real one'; END $$});
my @found = server_log_problems($node, offset => $offset);
ok(scalar(grep { /lsm-selftest: PANIC/ } @found),
	'server_log_problems finds a PANIC line');
check_server_log(
	$node, 'check_server_log: allow skips matching lines',
	allow => qr/lsm-selftest/);
check_server_log(
	$node, 'check_server_log: offset skips earlier lines',
	offset => log_position($node));

done_testing();
