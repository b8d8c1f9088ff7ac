
# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 015_lsm_compact_crash.pl -- crashes during flushes and compactions.
#
# An lsm table ("items") and a heap table ("expected") are changed in the
# same transactions, so after a crash they must agree row for row.  A
# large lsm_compact (or VACUUM) runs in a background session while
# pgbench clients update, delete, insert and lock rows (pages change under
# the flush and become overlay pages), and the server is stopped with
# 'immediate' at several points:
#
#   * as soon as lsm_compact runs (the flush reads the memtable);
#   * while the flush writes its run (the relation grows);
#   * once the new run is published (the flush then frees the flushed
#     pages, or marks changed ones as overlay pages, one by one) -- also
#     with a cancel instead of a crash at that point;
#   * during lsm_compact(t, true) merging runs: while the merged run is
#     written, and once it is published (the inputs are being freed);
#   * during a VACUUM that flushes, once its run is published.
#
# Which phase a crash really hit depends on timing; what is checked holds
# wherever it hit: after recovery the server log is clean (no PANIC, no
# "inconsistent page found": wal_consistency_checking = 'generic'), items
# equals expected, index, bitmap and index-only scans agree with the
# sequential scan, lsm_check is clean; then rows are changed again, VACUUM,
# lsm_compact and lsm_compact(t, true) run (pages flushed before the crash
# are flushed once more, VACUUM removes versions from them, a full
# compaction drops what newer entries hid) and items must still equal
# expected.  After VACUUM no run page is left that the manifest does not
# list (pages of a run that was being written, or of merged inputs not
# freed yet, are reclaimed), and repeated crashes during full compactions,
# each followed by VACUUM, do not make the relation grow.
#
# LSM_TAP_COMPACT_CRASH_ROWS sets the table size (default 40000).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use LsmTest;

# VACUUM does not flush unless told to; small WAL buffers, so that what
# was written some 256 kB of WAL ago has surely reached the WAL files (see
# the crash once a run is published).
my $node = new_node('lsm_compact_crash', allows_streaming => 1,
	extra_conf => [ 'autovacuum = off', 'max_wal_size = 1GB',
		'wal_buffers = 64kB', 'lsm.vacuum_flush_min_pages = 1000000' ]);

my $rows = $ENV{LSM_TAP_COMPACT_CRASH_ROWS} // 40000;

$node->safe_psql(
	'postgres', qq{
	CREATE SEQUENCE item_ids START 10000001;
	CREATE TABLE items (id bigint PRIMARY KEY, grp int NOT NULL,
						val bigint NOT NULL, pad text) USING lsm
		WITH (autovacuum_enabled = off);
	CREATE INDEX items_grp ON items (grp);
	CREATE TABLE expected (id bigint PRIMARY KEY, grp int NOT NULL,
						   val bigint NOT NULL, pad text);
	INSERT INTO items SELECT g, g % 100, g, md5(g::text) FROM generate_series(1, $rows) g;
	INSERT INTO expected SELECT * FROM items;
});
my $maxid = int($rows * 1.1);

# --- helpers -------------------------------------------------------------------

my $diff_sql = q{
	SELECT count(*) FROM items i FULL JOIN expected e USING (id)
	 WHERE i.id IS NULL OR e.id IS NULL OR i.grp <> e.grp OR i.val <> e.val
	    OR i.pad IS DISTINCT FROM e.pad};

sub scan_results
{
	my ($mode) = @_;
	my %set = (
		seq => 'SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;',
		index => 'SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;',
		indexonly => 'SET enable_seqscan = off; SET enable_bitmapscan = off;',
		bitmap => 'SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off;');
	return $node->safe_psql(
		'postgres', qq{$set{$mode}
		SELECT 'id', count(*), count(DISTINCT id), sum(val), sum(grp) FROM items WHERE id > 0
		UNION ALL
		SELECT 'grp', count(*), count(DISTINCT id), sum(val), sum(id) FROM items WHERE grp BETWEEN 0 AND 99;});
}

# Pages of runs no listed run owns (0 after a VACUUM: orphans reclaimed).
my $unlisted_sql = q{
	SELECT i.run_pages - coalesce((SELECT sum(pages) + 1 FROM lsm_runs('items')), 0)
	  FROM lsm_info('items') i};

sub verify_items
{
	my ($what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	verify_query($node, $diff_sql, '0',
		"$what: items (lsm) equals expected (heap) row for row");
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT lsm_check('items')");
	is($ret, 0, "$what: lsm_check is clean") or diag($err);
	my $seq = scan_results('seq');
	is(scan_results('index'), $seq, "$what: index scans agree with the sequential scan");
	is(scan_results('bitmap'), $seq, "$what: bitmap scans agree with the sequential scan");
	is(scan_results('indexonly'), $seq,
		"$what: index-only scans agree with the sequential scan");
	return;
}

# Change rows again (in runs and in the memtable), then VACUUM and
# compact: pages flushed before the crash are flushed once more, removed
# versions become tombstones, a full compaction drops what runs hid.
my $round = 0;

sub change_and_compact
{
	my ($what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	$round++;
	$node->safe_psql(
		'postgres', qq{
		WITH u AS (UPDATE items SET val = val + 1000000 * $round
		            WHERE id % 97 = $round RETURNING id, val)
		UPDATE expected e SET val = u.val FROM u WHERE e.id = u.id;
		WITH d AS (DELETE FROM items WHERE id % 89 = $round RETURNING id)
		DELETE FROM expected e USING d WHERE e.id = d.id;
	});
	$node->safe_psql('postgres', 'VACUUM items');
	$node->safe_psql('postgres', q{SELECT lsm_compact('items')});
	verify_query($node, $diff_sql, '0',
		"$what, changed, vacuumed and compacted: items equals expected");
	$node->safe_psql('postgres', 'VACUUM items');
	$node->safe_psql('postgres', q{SELECT lsm_compact('items', true)});
	$node->safe_psql('postgres', 'VACUUM items');
	verify_query($node, $diff_sql, '0',
		"$what, after a full compaction: items equals expected");
	verify_query($node, $unlisted_sql, '0',
		"$what: after VACUUM every run page belongs to a listed run");
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT lsm_check('items')");
	is($ret, 0, "$what, after a full compaction: lsm_check is clean") or diag($err);
	return;
}

# The workload running during the compactions: every change to items is
# made to expected in the same transaction.
my $upd = qq{
\\set id random(1, $maxid)
BEGIN;
WITH u AS (UPDATE items SET val = val + 1, grp = (grp + 1) % 100
            WHERE id = :id RETURNING id, grp, val)
UPDATE expected e SET grp = u.grp, val = u.val FROM u WHERE e.id = u.id;
COMMIT;
};
my $del = qq{
\\set id random(1, $maxid)
WITH d AS (DELETE FROM items WHERE id = :id RETURNING id)
DELETE FROM expected e USING d WHERE e.id = d.id;
};
my $ins = qq{
\\set v random(1, 1000000)
WITH i AS (INSERT INTO items VALUES (nextval('item_ids'), :v % 100, :v, md5(:v::text))
           RETURNING *)
INSERT INTO expected SELECT * FROM i;
};
my $lock = qq{
\\set id random(1, $maxid)
BEGIN;
SELECT count(*) FROM (SELECT 1 FROM items WHERE id BETWEEN :id AND :id + 10 FOR KEY SHARE) s;
COMMIT;
};

# A watcher session waits in the server (no client round trip between
# seeing the condition and acting on it) until a statement matching
# $pattern runs or has run, then until $cond holds or the statement has
# ended, then acts: 'crash' sends SIGQUIT to the postmaster (what an immediate
# shutdown does), 'cancel' cancels the statement.  With $wal_after, it
# first waits until that many more bytes of WAL have been written after
# $cond held.  Returns the session.
sub start_watcher
{
	my ($pattern, $cond, $action, $wal_after) = @_;
	$wal_after //= 0;
	my $act =
	  $action eq 'cancel'
	  ? q{PERFORM pg_cancel_backend(pid) FROM pg_stat_activity
	       WHERE query LIKE '} . $pattern . q{' AND pid <> pg_backend_pid();}
	  : q{EXECUTE format('COPY (SELECT 1) TO PROGRAM %L',
	       'kill -QUIT ' || split_part(pg_read_file('postmaster.pid'), E'\n', 1));};
	my $running = qq{EXISTS (SELECT 1 FROM pg_stat_activity
		WHERE state = 'active' AND query LIKE '$pattern' AND pid <> pg_backend_pid())};
	# (a statement that ended before the watcher's first look is still
	# there, idle with its text: a short flush once was, and the watcher
	# waited for it until its statement_timeout and never crashed the
	# server)
	my $started = qq{EXISTS (SELECT 1 FROM pg_stat_activity
		WHERE query LIKE '$pattern' AND pid <> pg_backend_pid())};
	my $w = start_session($node, on_error_stop => 0);
	$w->query_until(
		qr/watching/, qq{SET statement_timeout = '120s';
\\echo watching
DO \$\$ DECLARE lsn pg_lsn; BEGIN
	WHILE NOT $started LOOP PERFORM pg_stat_clear_snapshot(); END LOOP;
	WHILE NOT ($cond) LOOP
		PERFORM pg_stat_clear_snapshot();
		EXIT WHEN NOT $running;
	END LOOP;
	lsn := pg_current_wal_insert_lsn();
	WHILE pg_wal_lsn_diff(pg_current_wal_insert_lsn(), lsn) < $wal_after LOOP
		PERFORM pg_stat_clear_snapshot();
		EXIT WHEN NOT $running;
	END LOOP;
	$act
END \$\$;
\\echo watched
});
	return $w;
}

# Wait until the postmaster has exited (after start_watcher's 'crash')
# and start it again: crash recovery.
sub restart_after_crash
{
	my $pidfile = $node->data_dir . '/postmaster.pid';
	my $waited = 0;
	while (-e $pidfile && $waited < $PostgreSQL::Test::Utils::timeout_default * 10)
	{
		usleep(100_000);
		$waited++;
	}
	die 'the postmaster did not exit' if -e $pidfile;
	$node->stop('immediate', fail_ok => 1);
	$node->start;
	return;
}

# What a flush or compaction about to start will find: the relation's size
# in pages and the number of runs.
sub sizes
{
	return split /\|/,
	  $node->safe_psql('postgres',
		q{SELECT pg_relation_size('items') / 8192, count(*) FROM lsm_runs('items')});
}

# Where to stop: conditions on what the statement has done.
my %until = (
	start => sub { 'true' },
	grown => sub {
		my ($pages, $runs) = @_;
		return "pg_relation_size('items') / 8192 > " . ($pages + 16);
	},
	published => sub {
		my ($pages, $runs) = @_;
		return "(SELECT count(*) FROM lsm_runs('items')) > $runs";
	},
	merged => sub {
		my ($pages, $runs) = @_;
		return "(SELECT count(*) FROM lsm_runs('items')) <= 1";
	});

# Run $p{sql} in a background session while the workload runs and crash
# (or cancel it) where $p{until} says.
sub interrupt
{
	my (%p) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $action = $p{cancel} ? 'cancel' : 'crash';

	# (at a limited rate: with wal_consistency_checking every record
	# carries full page images)
	my $w = start_workload(
		$node,
		scripts => [ $upd, $del, $ins, $lock ],
		clients => 2,
		seconds => 120,
		extra_args => [ '-R', '200' ]);
	$node->poll_query_until('postgres',
		q{SELECT count(*) >= 2 FROM pg_stat_activity
		   WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'
		     AND query ~ 'items|COMMIT'})
	  or die 'the workload did not start: '
	  . finish_workload($w, kill => 1)->{stderr};

	my $offset = log_position($node);
	my $watcher =
	  start_watcher($p{pattern}, $p{until}, $action, $p{wal_after});
	my $s = start_session($node, on_error_stop => 0);
	$s->query_until(qr/started/, "\\echo started\n$p{sql}\n");
	if ($action eq 'cancel')
	{
		$watcher->query_until(qr/watched/, '');
		$s->query('SELECT 1');
		finish_workload($w, kill => 1);
		$s->quit;
		$watcher->quit;
	}
	else
	{
		restart_after_crash();
		finish_workload($w);
		eval { $s->quit; };
		eval { $watcher->quit; };
	}
	check_server_log($node, "$p{name}: server log", offset => $offset);
	return;
}

# Make the memtable large: change a third of the rows (new versions on new
# pages; the old ones, materialized from the runs onto overlay pages,
# become tombstones in VACUUM, which does not flush here).
sub fill_memtable
{
	$node->safe_psql(
		'postgres', q{
		WITH u AS (UPDATE items SET val = val + 1 WHERE id % 3 = 0 RETURNING id, val)
		UPDATE expected e SET val = u.val FROM u WHERE e.id = u.id;
	});
	$node->safe_psql('postgres', 'VACUUM items');
	return;
}

# --- flushes ------------------------------------------------------------------------

# The first flush finds every row in the memtable.  A crash once the run
# is published comes after 256 kB more WAL, so that the record publishing
# it surely reached the WAL files (the flushed pages are then being freed,
# each in its own record); a cancel comes at once.
foreach my $point ([ 'start', 0 ], [ 'grown', 0 ], [ 'published', 0 ], [ 'published', 1 ])
{
	my ($at, $cancel) = @$point;
	my $name = "flush, " . ($cancel ? 'cancel' : 'crash') . " at '$at'";
	fill_memtable() if $at ne 'start';
	my ($pages, $runs) = sizes();
	interrupt(
		name      => $name,
		sql       => q{SELECT * FROM lsm_compact('items');},
		pattern   => 'SELECT * FROM lsm_compact(%',
		until     => $until{$at}->($pages, $runs),
		cancel    => $cancel,
		wal_after => ($at eq 'published' && !$cancel) ? 256 * 1024 : 0);
	verify_items($name);
	change_and_compact($name);
}

# --- merges ------------------------------------------------------------------------

foreach my $at ('grown', 'merged')
{
	my $name = "full compaction, crash at '$at'";
	# a large run and a small one (that the policy does not merge)
	fill_memtable();
	$node->safe_psql('postgres', q{SELECT lsm_compact('items')});
	$node->safe_psql(
		'postgres', q{
		WITH u AS (UPDATE items SET val = val + 1 WHERE id % 50 = 0 RETURNING id, val)
		UPDATE expected e SET val = u.val FROM u WHERE e.id = u.id;
	});
	$node->safe_psql('postgres', 'VACUUM items');
	$node->safe_psql('postgres', q{SELECT lsm_compact('items')});
	my ($pages, $runs) = sizes();
	note "$name: $runs runs before";
	interrupt(
		name    => $name,
		sql     => q{SELECT * FROM lsm_compact('items', true);},
		pattern => 'SELECT * FROM lsm_compact(%',
		until   => $until{$at}->($pages, $runs));
	verify_items($name);
	change_and_compact($name);
}

# --- VACUUM ----------------------------------------------------------------------------

{
	my $name = "VACUUM flushing, crash at 'published'";
	fill_memtable();
	my ($pages, $runs) = sizes();
	interrupt(
		name    => $name,
		sql     => q{SET lsm.vacuum_flush_min_pages = 1; VACUUM items;},
		pattern => 'VACUUM items%',
		until   => $until{published}->($pages, $runs));
	verify_items($name);
	change_and_compact($name);
}

# --- repeated crashes during full compactions, each followed by VACUUM ------------------

# No workload: the amount of data stays the same, so what a crash leaves
# behind (a partly written run) must be reclaimed and reused, not
# accumulate.  (The first clean-up may still grow the relation: free pages
# are reused only once no snapshot from before they were freed remains.)
my @sizes;
foreach my $i (1 .. 4)
{
	fill_memtable();
	$node->safe_psql('postgres', q{SELECT lsm_compact('items')});
	my ($pages, $runs) = sizes();
	my $watcher = start_watcher('SELECT * FROM lsm_compact(%',
		$until{grown}->($pages, $runs), 'crash');
	my $s = start_session($node, on_error_stop => 0);
	$s->query_until(qr/started/,
		"\\echo started\nSELECT * FROM lsm_compact('items', true);\n");
	restart_after_crash();
	eval { $s->quit; };
	eval { $watcher->quit; };
	$node->safe_psql('postgres', 'VACUUM items');
	verify_query($node, $unlisted_sql, '0',
		"crash $i during a full compaction: VACUUM reclaimed every page of the unfinished run");
	$node->safe_psql('postgres', 'SELECT pg_current_xact_id()');
	$node->safe_psql('postgres', q{SELECT lsm_compact('items', true)});
	$node->safe_psql('postgres', 'VACUUM items');
	push @sizes, $node->safe_psql('postgres',
		q{SELECT total_pages FROM lsm_info('items')});
}
note "relation size after each crash and clean-up: @sizes";
ok($sizes[3] <= $sizes[1] * 1.1,
	'repeated crashes during full compactions do not make the relation grow')
  or diag("sizes: @sizes");
verify_items('after the repeated crashes');

check_server_log($node, 'no PANIC, TRAP or inconsistent page in the whole run');

done_testing();
