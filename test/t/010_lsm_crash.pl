
# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 010_lsm_crash.pl -- crash recovery of lsm tables.
#
#   * A concurrent write workload (pgbench clients inserting, updating,
#     deleting, locking, rolling back, with TOASTed values) on an lsm table
#     with btree indexes, plus an open transaction with uncommitted work
#     and a prepared transaction, is cut by an immediate shutdown.  Every
#     change to the lsm table is made in the same transaction as the same
#     change to a heap table ("expected"), so after recovery the two must
#     agree row for row: every committed change present, no uncommitted
#     one.  lsm_check is clean on every lsm table, index scans return what
#     the sequential scan returns, amcheck finds every row in the indexes,
#     and no row stays locked.
#   * A second crash right after recovery (and a little more work).
#   * A crash in the middle of CREATE INDEX and CREATE INDEX CONCURRENTLY.
#   * A crash in the middle of VACUUM (FREEZE) of a table with many dead
#     versions; index-only scans must not return the removed versions.
#   * A VACUUM of a table whose rows were all deleted, cut short by a crash
#     or a cancel, then a VACUUM to the end: new rows must not be found
#     under the removed rows' keys.
#   * A crash during the first insert into an empty (new or truncated)
#     table, before its WAL reached the disk.
#   * wal_level = minimal: tables created, truncated or rewritten in the
#     same transaction (no WAL, synced or logged whole at commit) survive
#     a crash.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use LsmTest;

my $node = new_node('lsm_crash', allows_streaming => 1,
	extra_conf => [ 'autovacuum = off', 'max_wal_size = 1GB' ]);

$node->safe_psql(
	'postgres', q{
	CREATE EXTENSION amcheck;
	CREATE SEQUENCE item_ids;
	-- incompressible enough to be stored out of line when long
	CREATE FUNCTION mkpayload(seed bigint, n int) RETURNS text
		LANGUAGE sql IMMUTABLE
		AS $$ SELECT string_agg(md5(seed::text || ':' || g), '')
			  FROM generate_series(1, n) g $$;
	CREATE TABLE items (id bigint PRIMARY KEY, grp int NOT NULL,
						val bigint NOT NULL, payload text) USING lsm;
	CREATE INDEX items_grp ON items (grp);
	CREATE INDEX items_val ON items (val);
	-- the reference: a heap table changed in the same transactions
	CREATE TABLE expected (id bigint PRIMARY KEY, grp int NOT NULL,
						   val bigint NOT NULL, pmd5 text);
	-- written by COPY (multi_insert), no index
	CREATE TABLE bulk (a int, b text) USING lsm;

	WITH i AS (
		INSERT INTO items
		SELECT nextval('item_ids'), g % 100, g, mkpayload(g, 1 + g % 120)
		FROM generate_series(1, 4000) g
		RETURNING id, grp, val, payload)
	INSERT INTO expected SELECT id, grp, val, md5(payload) FROM i;
});

# --- helpers -----------------------------------------------------------------

my @lsm_tables = qw(items bulk);

# Row-for-row comparison of items (lsm) with expected (heap): the number of
# rows that differ.
my $diff_sql = q{
	SELECT count(*) FROM items i FULL JOIN expected e USING (id)
	 WHERE i.id IS NULL OR e.id IS NULL OR i.grp <> e.grp OR i.val <> e.val
	    OR md5(i.payload) IS DISTINCT FROM e.pmd5};

# The same query with sequential scans only and with index scans only must
# give the same answer.
sub scan_results
{
	my ($node, $mode) = @_;
	my %set = (
		seq => 'SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;',
		index => 'SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;',
		indexonly => 'SET enable_seqscan = off; SET enable_bitmapscan = off;',
		bitmap => 'SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off;');
	return $node->safe_psql(
		'postgres', qq{$set{$mode}
		SELECT 'grp', count(*), sum(val), sum(id) FROM items WHERE grp BETWEEN 0 AND 99
		UNION ALL
		SELECT 'val', count(*), sum(grp), sum(id) FROM items WHERE val BETWEEN -1000000000 AND 1000000000
		UNION ALL
		SELECT 'id', count(*), sum(grp), sum(val) FROM items WHERE id BETWEEN 0 AND 1000000000
		UNION ALL
		SELECT 'ids', count(*), count(DISTINCT id), max(id) FROM (SELECT id FROM items WHERE id > 0) s
		UNION ALL
		SELECT 'grps', count(*), sum(grp), 0 FROM (SELECT grp FROM items WHERE grp >= 0) s;});
}

# Everything we check after a recovery.
sub verify_items
{
	my ($node, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	verify_query($node, $diff_sql, '0',
		"$what: items (lsm) equals expected (heap) row for row");
	foreach my $t (@lsm_tables)
	{
		my ($ret, $out, $err) =
		  $node->psql('postgres', "SELECT lsm_check('$t')");
		is($ret, 0, "$what: lsm_check('$t') is clean")
		  or diag($err);
	}
	my $seq = scan_results($node, 'seq');
	is(scan_results($node, 'index'), $seq,
		"$what: index scans return what the sequential scan returns");
	is(scan_results($node, 'indexonly'), $seq,
		"$what: index-only scans return what the sequential scan returns");
	is(scan_results($node, 'bitmap'), $seq,
		"$what: bitmap scans return what the sequential scan returns");
	my ($ret, $out, $err) = $node->psql(
		'postgres', q{
		SELECT bt_index_parent_check(c.oid, true)
		  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		 WHERE i.indrelid = 'items'::regclass AND i.indisvalid});
	is($ret, 0, "$what: amcheck finds every row in every index of items")
	  or diag($err);
	# no row is left locked by a dead transaction
	verify_query($node,
		q{SELECT count(*) FROM (SELECT 1 FROM items FOR UPDATE NOWAIT) s},
		$node->safe_psql('postgres', 'SELECT count(*) FROM expected'),
		"$what: every row can be locked at once");
	return;
}

# Wait until a statement matching $pattern runs in another backend.
sub wait_for_statement
{
	my ($node, $pattern) = @_;
	$node->poll_query_until('postgres',
		qq{SELECT count(*) > 0 FROM pg_stat_activity
		    WHERE state = 'active' AND query LIKE '$pattern'})
	  or die "statement $pattern did not start";
	return;
}

# --- the workload --------------------------------------------------------------

# Rows the open transaction below changes or locks, and the row of the
# prepared transaction, are left alone by the workload, which would
# otherwise wait for them until the crash.
my $free = '(id > 4000 OR id % 10 NOT IN (3, 4, 5)) AND id <> 17';

my $ins = q{
\set grp random(0, 99)
\set n random(1, 150)
\set v random(1, 1000000)
WITH i AS (INSERT INTO items VALUES (nextval('item_ids'), :grp, :v, mkpayload(:v, :n))
           RETURNING id, grp, val, payload)
INSERT INTO expected SELECT id, grp, val, md5(payload) FROM i;
};

# Updates change an indexed column; half of them keep the TOASTed payload
# (the TOAST pointer is copied), half write a new one.
my $upd = qq{
\\set id random(1, 6000)
\\set n random(0, 120)
BEGIN;
WITH u AS (UPDATE items SET val = val + 1, grp = (grp + 1) % 100,
                            payload = CASE WHEN :n < 60 THEN payload ELSE mkpayload(val, :n) END
            WHERE id = :id AND $free RETURNING id, grp, val, payload)
UPDATE expected e SET grp = u.grp, val = u.val, pmd5 = md5(u.payload) FROM u WHERE e.id = u.id;
COMMIT;
};

my $del = qq{
\\set id random(1, 6000)
WITH d AS (DELETE FROM items WHERE id = :id AND $free RETURNING id)
DELETE FROM expected e USING d WHERE e.id = d.id;
};

# Work that is rolled back, whole or in part.
my $rollback = qq{
\\set id random(1, 6000)
BEGIN;
INSERT INTO items VALUES (nextval('item_ids'), 1, -1, mkpayload(:id, 100));
UPDATE items SET val = -2, payload = 'rolled back' WHERE id = :id AND $free;
DELETE FROM items WHERE id = :id + 1 AND $free;
ROLLBACK;
BEGIN;
SAVEPOINT a;
UPDATE items SET val = -3 WHERE id = :id + 2 AND $free;
INSERT INTO items VALUES (nextval('item_ids'), 2, -4, 'rolled back');
ROLLBACK TO SAVEPOINT a;
WITH u AS (UPDATE items SET val = val + 7 WHERE id = :id + 2 AND $free RETURNING id, val)
UPDATE expected e SET val = u.val FROM u WHERE e.id = u.id;
COMMIT;
};

# Row locks (lock-only xmax, MultiXacts with concurrent lockers).
my $lock = qq{
\\set id random(1, 6000)
BEGIN;
SELECT count(*) FROM (SELECT 1 FROM items WHERE id BETWEEN :id AND :id + 20 AND $free ORDER BY id FOR KEY SHARE) s;
SELECT count(*) FROM (SELECT 1 FROM items WHERE id BETWEEN :id + 30 AND :id + 40 AND $free ORDER BY id FOR SHARE) s;
COMMIT;
};

# An open transaction whose work must vanish: inserts, updates, deletes,
# locks, COPY.
my $open = start_session($node);
$open->query_safe('BEGIN');
$open->query_safe(
	q{INSERT INTO items SELECT nextval('item_ids'), 7, -100, mkpayload(g, 90)
	  FROM generate_series(1, 2000) g});
$open->query_safe(q{UPDATE items SET val = -101 WHERE id % 10 = 3 AND id <= 4000});
$open->query_safe(q{DELETE FROM items WHERE id % 10 = 4 AND id <= 4000});
$open->query_safe(
	q{SELECT count(*) FROM (SELECT 1 FROM items WHERE id % 10 = 5 AND id <= 4000 FOR UPDATE) s});
$open->query_safe(q{COPY bulk (a) FROM PROGRAM 'seq 1 5000' WITH (FORMAT csv)});

# A prepared transaction that updates a row and inserts another: survives
# the crash and keeps its row lock.
$node->safe_psql(
	'postgres', q{
	BEGIN;
	WITH u AS (UPDATE items SET val = val + 1000000 WHERE id = 17 RETURNING id, val)
	UPDATE expected e SET val = u.val FROM u WHERE e.id = u.id;
	WITH i AS (INSERT INTO items VALUES (900000, 5, 5, mkpayload(5, 100))
			   RETURNING id, grp, val, payload)
	INSERT INTO expected SELECT id, grp, val, md5(payload) FROM i;
	PREPARE TRANSACTION 'crash_px';
});

# Committed COPY.
$node->safe_psql('postgres',
	q{COPY bulk (a) FROM PROGRAM 'seq 1 3000' WITH (FORMAT csv)});

my $log_offset = log_position($node);
my $w = start_workload(
	$node,
	scripts => [ "$ins\n", "$upd\n", "$del\n", "$rollback\n", "$lock\n" ],
	clients => 6,
	jobs => 2,
	seconds => 60);

# Let the workload run, checkpoint in the middle (so that recovery starts
# from a checkpoint taken while pages were being changed), let it run some
# more and crash.
sleep 3;
$node->safe_psql('postgres', 'CHECKPOINT');
sleep 3;
my $committed_before =
  $node->safe_psql('postgres', 'SELECT count(*) FROM expected');
crash_and_restart($node);
my $res = finish_workload($w);
eval { $open->quit; };
note "workload: rc $res->{rc}, committed rows seen before the crash: $committed_before";
like($res->{stderr}, qr/server closed the connection|terminating connection|connection to server/,
	'the workload was cut by the crash');
check_server_log($node, 'crash recovery: server log', offset => $log_offset);

verify_query($node, 'SELECT count(*) FROM bulk', '3000',
	'the committed COPY survived, the uncommitted one did not');
verify_query($node, 'SELECT count(*) FROM items WHERE val < 0', '0',
	'no uncommitted or rolled back value is visible');
verify_query($node, 'SELECT gid FROM pg_prepared_xacts', 'crash_px',
	'the prepared transaction survived');

# the prepared transaction still holds its row lock
my ($ret, $out, $err) = $node->psql('postgres',
	'SELECT id FROM items WHERE id = 17 FOR UPDATE NOWAIT');
like($err, qr/could not obtain lock on row/,
	'the prepared transaction still locks its updated row');
$node->safe_psql('postgres', q{COMMIT PREPARED 'crash_px'});
verify_query($node, 'SELECT val >= 1000000 FROM items WHERE id = 17', 't',
	'the prepared update is visible after COMMIT PREPARED');

verify_items($node, 'after the first crash');

# --- a second crash right after recovery ----------------------------------------

$node->safe_psql(
	'postgres', q{
	WITH i AS (INSERT INTO items SELECT nextval('item_ids'), 3, g, mkpayload(g, 70)
			   FROM generate_series(1, 500) g RETURNING id, grp, val, payload)
	INSERT INTO expected SELECT id, grp, val, md5(payload) FROM i;
	WITH u AS (UPDATE items SET val = val + 3 WHERE id % 7 = 0 RETURNING id, val)
	UPDATE expected e SET val = u.val FROM u WHERE e.id = u.id;
	WITH d AS (DELETE FROM items WHERE id % 13 = 0 RETURNING id)
	DELETE FROM expected e USING d WHERE e.id = d.id;
});
$open = start_session($node);
$open->query_safe('BEGIN');
$open->query_safe(q{UPDATE items SET val = -7 WHERE id % 5 = 0});
$log_offset = log_position($node);
crash_and_restart($node);
eval { $open->quit; };
check_server_log($node, 'second crash: server log', offset => $log_offset);
verify_items($node, 'after the second crash');

# and once more without any work in between
$log_offset = log_position($node);
crash_and_restart($node);
check_server_log($node, 'third crash: server log', offset => $log_offset);
verify_query($node, $diff_sql, '0',
	'after a crash right after recovery: items equals expected');

# --- a crash in the middle of CREATE INDEX ------------------------------------------

$node->safe_psql(
	'postgres', q{
	CREATE FUNCTION slow_key(bigint) RETURNS bigint LANGUAGE plpgsql IMMUTABLE
		AS $$ BEGIN PERFORM pg_sleep(0.0005); RETURN $1; END $$;
	CHECKPOINT;
});
my $digest = table_digest($node, 'items');

my $ddl = start_session($node);
$ddl->query_until(qr/started/,
	"\\echo started\nCREATE INDEX items_slow ON items (slow_key(id));\n");
wait_for_statement($node, 'CREATE INDEX items_slow%');
sleep 1;
$log_offset = log_position($node);
crash_and_restart($node);
eval { $ddl->quit; };
check_server_log($node, 'crash during CREATE INDEX: server log',
	offset => $log_offset);
verify_query($node,
	q{SELECT count(*) FROM pg_class WHERE relname = 'items_slow'}, '0',
	'the interrupted CREATE INDEX left no index');
is(table_digest($node, 'items'), $digest,
	'the table is unchanged after a crash during CREATE INDEX');

# CREATE INDEX CONCURRENTLY, with concurrent writes
$ddl = start_session($node);
$ddl->query_until(qr/started/,
	"\\echo started\nCREATE INDEX CONCURRENTLY items_slow ON items (slow_key(id));\n");
wait_for_statement($node, 'CREATE INDEX CONCURRENTLY items_slow%');
$node->safe_psql(
	'postgres', q{
	WITH u AS (UPDATE items SET val = val + 1 WHERE id % 11 = 1 RETURNING id, val)
	UPDATE expected e SET val = u.val FROM u WHERE e.id = u.id;
});
sleep 1;
$log_offset = log_position($node);
crash_and_restart($node);
eval { $ddl->quit; };
check_server_log($node, 'crash during CREATE INDEX CONCURRENTLY: server log',
	offset => $log_offset);
verify_query($node,
	q{SELECT count(*) FROM pg_index WHERE indexrelid = 'items_slow'::regclass AND indisvalid},
	'0', 'the interrupted CREATE INDEX CONCURRENTLY left an invalid index');
$node->safe_psql('postgres', 'DROP INDEX items_slow');
$node->safe_psql('postgres',
	'CREATE INDEX CONCURRENTLY items_id2 ON items ((id * 2))');
verify_query(
	$node,
	q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	  SELECT count(*) = (SELECT count(*) FROM expected) FROM items WHERE id * 2 > 0},
	't',
	'an index built after the crashes finds every row');
verify_items($node, 'after the crashes during CREATE INDEX');

# --- a crash in the middle of VACUUM ---------------------------------------------------

$node->safe_psql(
	'postgres', q{
	WITH d AS (DELETE FROM items WHERE id % 3 <> 0 RETURNING id)
	DELETE FROM expected e USING d WHERE e.id = d.id;
	WITH u AS (UPDATE items SET val = val + 1 WHERE id % 2 = 0 RETURNING id, val)
	UPDATE expected e SET val = u.val FROM u WHERE e.id = u.id;
	-- leave some pages without any row so that VACUUM frees them
	WITH d AS (DELETE FROM items WHERE id BETWEEN 1000 AND 2500 RETURNING id)
	DELETE FROM expected e USING d WHERE e.id = d.id;
	CHECKPOINT;
});
$digest = table_digest($node, 'items');
my $ids_before_vacuum = $node->safe_psql('postgres',
	q{SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
	  SELECT count(*), sum(id) FROM items WHERE id > 0});

my $vac = start_session($node);
$vac->query_safe(q{SET vacuum_cost_delay = '20ms'});
$vac->query_safe(q{SET vacuum_cost_limit = 50});
$vac->query_until(qr/started/,
	"\\echo started\nVACUUM (FREEZE, VERBOSE) items;\n");
wait_for_statement($node, 'VACUUM (FREEZE, VERBOSE) items%');
$node->poll_query_until('postgres',
	q{SELECT coalesce((SELECT heap_blks_scanned > 20 FROM pg_stat_progress_vacuum
	                    WHERE relid = 'items'::regclass), true)})
  or die 'VACUUM made no progress';
# While VACUUM is busy (dead versions removed from some pages, their index
# entries not yet), an index-only scan must not return removed rows.
is( $node->safe_psql(
		'postgres',
		q{SET enable_seqscan = off; SET enable_bitmapscan = off;
		  SELECT count(*), sum(id) FROM items WHERE id > 0}),
	$ids_before_vacuum,
	'an index-only scan during VACUUM returns only live rows');
my $vacuum_running = $node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_progress_vacuum WHERE relid = 'items'::regclass});
note "VACUUM still running at the crash: $vacuum_running";
$log_offset = log_position($node);
crash_and_restart($node);
eval { $vac->quit; };
check_server_log($node, 'crash during VACUUM: server log',
	offset => $log_offset);
is(table_digest($node, 'items'), $digest,
	'the table is unchanged after a crash during VACUUM');
verify_items($node, 'after a crash during VACUUM');

# VACUUM again, to the end, and once more after another crash.
$node->safe_psql('postgres', 'VACUUM (FREEZE) items');
verify_query($node,
	q{SELECT dead_versions + recently_dead_versions, versions = live_versions
	  FROM lsm_info('items')},
	'0|t', 'VACUUM removed every dead version');
crash_and_restart($node);
is(table_digest($node, 'items'), $digest,
	'the table is unchanged after VACUUM and a crash');
verify_items($node, 'after VACUUM and a crash');

# --- VACUUM of an emptied table cut short, then VACUUM to the end ------------------------------

# A VACUUM that ends early (crash, or cancel) after removing versions from
# some pages but before deleting their index entries; the next VACUUM
# finds the table empty.  Rows inserted afterwards must not be found under
# the keys of the removed rows, and those keys must be insertable again.
foreach my $how ('crash', 'cancel')
{
	$node->safe_psql(
		'postgres', qq{
		CREATE TABLE emptied_$how (id int PRIMARY KEY, v text) USING lsm
			WITH (autovacuum_enabled = off);
		INSERT INTO emptied_$how SELECT g, 'old ' || g FROM generate_series(1, 20000) g;
		DELETE FROM emptied_$how;
		CHECKPOINT;
	});
	my $s = start_session($node, on_error_stop => 0);
	$s->query_safe(q{SET vacuum_cost_delay = '20ms'});
	$s->query_safe(q{SET vacuum_cost_limit = 50});
	$s->query_until(qr/started/, "\\echo started\nVACUUM emptied_$how;\n");
	$node->poll_query_until(
		'postgres', qq{
		SELECT coalesce((SELECT heap_blks_scanned > 20 FROM pg_stat_progress_vacuum
						  WHERE relid = 'emptied_$how'::regclass), false)})
	  or die "VACUUM of emptied_$how made no progress";
	if ($how eq 'crash')
	{
		crash_and_restart($node);
	}
	else
	{
		$node->safe_psql('postgres',
			qq{SELECT pg_cancel_backend(pid) FROM pg_stat_activity
			    WHERE query = 'VACUUM emptied_$how;'});
	}
	eval { $s->quit; };
	$node->safe_psql('postgres', "VACUUM emptied_$how");
	$node->safe_psql('postgres',
		qq{INSERT INTO emptied_$how SELECT g, 'new ' || g FROM generate_series(100001, 120000) g});
	verify_query(
		$node,
		qq{SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
		   SELECT id, v FROM emptied_$how WHERE id = 5},
		'', "VACUUM cut short by a $how: an index scan for a removed key finds nothing");
	verify_query(
		$node,
		qq{SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off;
		   SELECT count(*) FROM emptied_$how WHERE id < 100000},
		'0', "VACUUM cut short by a $how: a bitmap scan for removed keys finds nothing");
	my ($ret, $out, $err) = $node->psql('postgres',
		qq{INSERT INTO emptied_$how VALUES (5, 'five')});
	is($ret, 0, "VACUUM cut short by a $how: a removed key can be inserted again")
	  or diag($err);
	($ret, $out, $err) =
	  $node->psql('postgres', "SELECT lsm_check('emptied_$how')");
	is($ret, 0, "VACUUM cut short by a $how: lsm_check is clean") or diag($err);
}

# --- a crash during the first insert into an empty table ------------------------------------

# The first insert into an empty lsm table extends the file (the metapage
# and a memtable page) and WAL-logs their contents; if the server crashes
# before that WAL is flushed (the transaction had not committed), the file
# keeps the new blocks as zeroes.  Such never-initialized pages are what a
# heap has after the same crash: the table must stay empty and usable.
# (wal_writer_delay keeps the WAL writer from flushing the record early.)
{
	my $e = new_node('lsm_crash_empty', allows_streaming => 1,
		extra_conf => [ 'autovacuum = off', 'wal_writer_delay = 10s',
			'wal_writer_flush_after = 0' ]);
	$e->safe_psql(
		'postgres', q{
		CREATE TABLE fresh (id int PRIMARY KEY, v text) USING lsm;
		CREATE TABLE truncated (id int PRIMARY KEY, v text) USING lsm;
		INSERT INTO truncated SELECT g, 'old' FROM generate_series(1, 1000) g;
		TRUNCATE truncated;
		CHECKPOINT;
	});
	my $s = start_session($e);
	$s->query_safe('BEGIN');
	$s->query_safe(q{INSERT INTO fresh VALUES (1, 'uncommitted')});
	$s->query_safe(q{INSERT INTO truncated VALUES (1, 'uncommitted')});
	crash_and_restart($e);
	eval { $s->quit; };
	foreach my $t (qw(fresh truncated))
	{
		my ($ret, $out, $err) = $e->psql('postgres', "SELECT count(*) FROM $t");
		is($ret, 0, "crash during the first insert into $t: the table can be read")
		  or diag($err);
		($ret, $out, $err) =
		  $e->psql('postgres', "INSERT INTO $t VALUES (2, 'after the crash')");
		is($ret, 0, "crash during the first insert into $t: the table can be written")
		  or diag($err);
		($ret, $out, $err) = $e->psql('postgres', "SELECT id FROM $t");
		is($out, '2', "crash during the first insert into $t: only the new row is there");
		($ret, $out, $err) = $e->psql('postgres', "SELECT lsm_check('$t')");
		is($ret, 0, "crash during the first insert into $t: lsm_check is clean")
		  or diag($err);
	}
	check_server_log($e, 'crash during the first insert: server log');
	$e->stop;
}

# --- wal_level = minimal: relfilenodes created in the transaction skip WAL -----------------

# Tables created, truncated or rewritten in a transaction are not WAL-logged
# but synced (or logged whole, below wal_skip_threshold) at commit; later
# changes are logged as usual.
foreach my $threshold ('2MB', '0')
{
	my $min = new_node("lsm_crash_min_$threshold",
		extra_conf => [ 'autovacuum = off', "wal_skip_threshold = '$threshold'" ]);
	$min->safe_psql(
		'postgres', q{
		BEGIN;
		CREATE TABLE a (id int PRIMARY KEY, v text) USING lsm;
		INSERT INTO a SELECT g, repeat('a', g % 300) FROM generate_series(1, 20000) g;
		UPDATE a SET v = 'u' WHERE id % 3 = 0;
		COMMIT;
		UPDATE a SET v = 'after commit' WHERE id % 7 = 0;
		CREATE TABLE b (id int PRIMARY KEY, v text) USING lsm;
		INSERT INTO b SELECT g, 'b' FROM generate_series(1, 5000) g;
		BEGIN;
		TRUNCATE b;
		INSERT INTO b SELECT g, 'b2' FROM generate_series(1, 3000) g;
		COMMIT;
		INSERT INTO b SELECT g, 'b3' FROM generate_series(3001, 4000) g;
		CREATE TABLE c (id int PRIMARY KEY, v text) USING lsm;
		INSERT INTO c SELECT g, 'c' FROM generate_series(1, 5000) g;
		DELETE FROM c WHERE id % 2 = 0;
		VACUUM FULL c;
		UPDATE c SET v = 'c2' WHERE id % 5 = 0;
		CLUSTER c USING c_pkey;
		INSERT INTO c VALUES (100001, 'after cluster');
		BEGIN;
		CREATE TABLE d (id int, v text) USING lsm;
		COPY d (id) FROM PROGRAM 'seq 1 10000' WITH (FORMAT csv);
		CREATE INDEX d_id ON d (id);
		COMMIT;
		INSERT INTO d VALUES (-1, 'x');
		BEGIN;
		CREATE TABLE e (id int, v text) USING lsm;
		INSERT INTO e VALUES (1, 'one');
		SAVEPOINT s;
		INSERT INTO e VALUES (2, 'two');
		ROLLBACK TO s;
		TRUNCATE e;
		INSERT INTO e VALUES (3, 'three');
		COMMIT;
		BEGIN;
		CREATE TABLE f (id int, v text) USING lsm;
		INSERT INTO f SELECT g, 'f' FROM generate_series(1, 1000) g;
		ALTER TABLE f ALTER COLUMN id TYPE bigint;
		INSERT INTO f VALUES (5000000000, 'big');
		COMMIT;
		BEGIN;
		CREATE TABLE g (id int, v text) USING lsm;
		INSERT INTO g VALUES (1, 'rolled back');
		ROLLBACK;
	});
	my %want;
	$want{$_} = table_digest($min, $_) foreach qw(a b c d e f);
	crash_and_restart($min);
	foreach my $t (qw(a b c d e f))
	{
		is(table_digest($min, $t), $want{$t},
			"wal_level = minimal, wal_skip_threshold = $threshold: $t survives a crash");
		my ($ret, $out, $err) = $min->psql('postgres', "SELECT lsm_check('$t')");
		is($ret, 0, "wal_level = minimal, wal_skip_threshold = $threshold: lsm_check('$t') is clean")
		  or diag($err);
	}
	verify_query(
		$min,
		q{SET enable_seqscan = off; SET enable_bitmapscan = off;
		  SELECT count(*) FROM d WHERE id > 0},
		'10000',
		"wal_level = minimal, wal_skip_threshold = $threshold: the index built in the creating transaction works");
	$min->safe_psql('postgres',
		q{INSERT INTO a VALUES (30000, 'x'); INSERT INTO e VALUES (4, 'four')});
	crash_and_restart($min);
	verify_query($min, q{SELECT count(*) FROM a WHERE id = 30000}, '1',
		"wal_level = minimal, wal_skip_threshold = $threshold: later changes survive a second crash");
	check_server_log($min, "wal_level = minimal, wal_skip_threshold = $threshold: server log");
	$min->stop;
}

check_server_log($node, 'no PANIC, TRAP or inconsistent page in the whole run');

done_testing();
