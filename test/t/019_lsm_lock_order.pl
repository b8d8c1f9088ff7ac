
# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 019_lsm_lock_order.pl -- UPDATEs, flushes and overlay pages under
# pgbench never wait for each other's buffer locks in a cycle.
#
# Buffer content locks are LWLocks: PostgreSQL does not detect deadlocks
# among them, and backends caught in one wait forever, with every backend
# that then wants the metapage (any query planning a scan of the table)
# piling up behind them.  Until 2026-12-06 a flush held a memtable page's
# lock while it read the manifest (the metapage's lock next), and a backend
# giving a block an overlay page held the metapage while it waited for the
# shared overlay page it meant to fill, which could be that very page:
# the run below stopped within 6 to 12 seconds in every try (pgbench's own
# TPC-B-like script, in one try out of two or three).
#
# The run: 8 pgbench clients for 30 seconds, each transaction adding 1 to
# a random row of a 20000-row lsm table with a primary key, with
# lsm.memtable_flush_overlay_pages = 1 (a flush after every overlay page:
# flushes racing overlay copies all the time) and autovacuum busy.  A
# watcher polls pg_stat_activity once a second; a backend seen waiting for
# a buffer lock ("BufferContent") in the same statement for 20 polls in a
# row is stuck, and the test says so and stops the server at once (such
# backends cannot be cancelled).  Otherwise pgbench must finish with no
# failed transaction, the column sum must equal the number of
# transactions, and index and sequential scans must agree.
#
# LSM_LOCK_ORDER_SECONDS (default 30) sets the length of the run.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

my $node = new_node(
	'lsm_lock_order',
	extra_conf => \@LsmTest::BUSY_AUTOVACUUM_CONF);

my $seconds = $ENV{LSM_LOCK_ORDER_SECONDS} // 30;
my $stuck_polls = 20;

$node->safe_psql(
	'postgres', q{
	CREATE TABLE t (id int4 PRIMARY KEY, v int4 NOT NULL) USING lsm;
	INSERT INTO t SELECT g, 0 FROM generate_series(1, 20000) g;
	VACUUM ANALYZE t;
});
my $script = $node->basedir . '/add_one.sql';
PostgreSQL::Test::Utils::append_to_file($script,
	"\\set id random(1, 20000)\nUPDATE t SET v = v + 1 WHERE id = :id;\n");

my $log_offset = log_position($node);
my ($out, $err) = ('', '');
my $h;
{
	local $ENV{PGOPTIONS} = '-c lsm.memtable_flush_overlay_pages=1';
	$h = IPC::Run::start(
		[
			$node->installed_command('pgbench'),
			'-h' => $node->host,
			'-p' => $node->port,
			'-n', '-f', $script, '-c', '8', '-j', '2', '-T', $seconds,
			'postgres'
		],
		'<', \undef, '>', \$out, '2>', \$err);
}

# Watch: pid -> [statement start, consecutive polls seen waiting]
my %waiting;
my $stuck;
my $deadline = time() + $seconds + 120;
while ($h->pumpable && time() < $deadline)
{
	my $rows = $node->safe_psql(
		'postgres', q{
		SELECT pid, query_start FROM pg_stat_activity
		 WHERE wait_event = 'BufferContent' AND pid <> pg_backend_pid()});
	my %seen;
	foreach my $row (split /\n/, $rows)
	{
		my ($pid, $start) = split /\|/, $row;
		$seen{$pid} = 1;
		if ($waiting{$pid} && $waiting{$pid}[0] eq $start)
		{
			$waiting{$pid}[1]++;
		}
		else
		{
			$waiting{$pid} = [ $start, 1 ];
		}
		$stuck = $pid if $waiting{$pid}[1] >= $stuck_polls;
	}
	delete $waiting{$_} foreach grep { !$seen{$_} } keys %waiting;
	last if defined $stuck;
	sleep 1;
	$h->pump_nb;
}

ok(!defined $stuck,
	"no backend waited for a buffer lock for $stuck_polls seconds");
if (defined $stuck || $h->pumpable)
{
	diag(
		$node->safe_psql(
			'postgres', q{
		SELECT pid, backend_type, wait_event_type, wait_event,
			   now() - query_start AS waited, left(query, 60)
		  FROM pg_stat_activity WHERE pid <> pg_backend_pid()
		 ORDER BY pid}));
	$h->kill_kill;
	$node->stop('immediate');
	fail('pgbench finished');
	done_testing();
	exit;
}
ok($h->finish, "pgbench -c 8 -T $seconds succeeded") or diag($err);
my ($processed) = $out =~ /number of transactions actually processed: (\d+)/;
ok(defined $processed && $processed > 0, 'pgbench processed transactions')
  or diag($out);
note "pgbench processed " . ($processed // 0) . " transactions";

verify_query($node, 'SELECT sum(v) FROM t', $processed // -1,
	'the column sum is the number of transactions');
my $q = 'SELECT count(*), sum(v), sum(id) FROM t WHERE id > 0';
is( $node->safe_psql('postgres',
		"SET enable_seqscan = off; SET enable_bitmapscan = off; $q"),
	$node->safe_psql('postgres',
		"SET enable_indexscan = off; SET enable_bitmapscan = off; $q"),
	'index scans agree with sequential scans');
my ($ret, $o, $e) = $node->psql('postgres', "SELECT lsm_check('t')");
is($ret, 0, "lsm_check('t') is clean") or diag($e);
check_server_log($node, 'server log', offset => $log_offset);

done_testing();
