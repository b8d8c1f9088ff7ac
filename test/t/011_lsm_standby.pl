
# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 011_lsm_standby.pl -- lsm tables on a streaming standby.
#
# A primary and a hot standby, both with wal_consistency_checking =
# 'generic' (every generic WAL record carries full page images that redo
# compares with the pages it rebuilt).  A mixed workload on lsm tables:
# inserts, updates (new versions on other pages, TOASTed values changed and
# kept), deletes, row locks (MultiXacts, rolled back locks), ON CONFLICT
# (also racing), COPY, VACUUM that frees pages and sets the visibility map,
# VACUUM FREEZE, VACUUM FULL, CLUSTER, TRUNCATE, SET TABLESPACE, CREATE
# INDEX CONCURRENTLY under concurrent writes, a table large enough to need
# map pages; a second standby is made from a base backup taken while the
# workload writes.  After each stage the standby must return exactly what the
# primary returns (table digests, index scans, index-only scans without
# heap fetches after VACUUM), page-level facts from lsm_info must match,
# lsm_check must be clean on both nodes, and the standby log must have no
# "inconsistent page found".  Finally VACUUM on the primary must cancel a
# standby query whose snapshot still needs the removed versions, and
# VACUUM (FREEZE) one whose snapshot saw a frozen xid as running.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

my ($primary, $standby) = primary_and_standby(
	'lsm_standby',
	extra_conf => [
		'autovacuum = off', 'allow_in_place_tablespaces = on',
		'max_wal_size = 1GB', 'wal_keep_size = 1GB'
	],
	standby_conf => ['max_standby_streaming_delay = 0']);

$primary->safe_psql(
	'postgres', q{
	CREATE EXTENSION amcheck;
	CREATE FUNCTION mkpayload(seed bigint, n int) RETURNS text
		LANGUAGE sql IMMUTABLE
		AS $$ SELECT string_agg(md5(seed::text || ':' || g), '')
			  FROM generate_series(1, n) g $$;
	CREATE TABLE s_items (id int PRIMARY KEY, grp int NOT NULL, val int NOT NULL,
						  payload text) USING lsm;
	CREATE INDEX s_items_grp ON s_items (grp);
	-- wide rows: few per memtable page, so many logical blocks (map pages)
	CREATE TABLE s_wide (id int PRIMARY KEY, filler text) USING lsm;
	CREATE TABLE s_trunc (a int, b text) USING lsm;
	-- small and updated all the time (pgbench's tellers): dead blocks
	CREATE TABLE s_hot (id int PRIMARY KEY, v int NOT NULL) USING lsm;
});

my @lsm_tables = qw(s_items s_wide s_trunc s_hot);

# Compare one table on both nodes: digest, index scans, page-level facts.
sub compare_all
{
	my ($stage) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	wait_for_replay($primary, $standby);
	foreach my $t (@lsm_tables)
	{
		is(table_digest($standby, $t), table_digest($primary, $t),
			"$stage: $t has the same contents on the standby");
	}
	compare_query(
		$primary, $standby,
		q{SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
		  SELECT count(*), sum(val), sum(length(payload)) FROM s_items WHERE id > 0
		  UNION ALL
		  SELECT count(*), sum(val), sum(id) FROM s_items WHERE grp BETWEEN 10 AND 20},
		"$stage: index scans match on the standby",
		wait => 0);
	# live versions only: the primary's scans prune dead ones (lsm_prune.c),
	# and the standby sees that only when it has replayed what they logged;
	# the scans above may also have freed pages that pruning emptied (dead
	# blocks, freed at scan end): wait for that WAL before comparing
	compare_query(
		$primary, $standby,
		q{SELECT format_version, total_pages, memtable_pages, map_pages,
				 free_pages, logical_blocks, rowids_assigned, live_versions,
				 dead_blocks
			FROM lsm_info('s_items')
		  UNION ALL
		  SELECT format_version, total_pages, memtable_pages, map_pages,
				 free_pages, logical_blocks, rowids_assigned, live_versions,
				 dead_blocks
			FROM lsm_info('s_wide')
		  UNION ALL
		  SELECT format_version, total_pages, memtable_pages, map_pages,
				 free_pages, logical_blocks, rowids_assigned, live_versions,
				 dead_blocks
			FROM lsm_info('s_hot')},
		"$stage: lsm_info page counts match on the standby");
	foreach my $node ($primary, $standby)
	{
		my $role = $node eq $primary ? 'primary' : 'standby';
		foreach my $t (@lsm_tables)
		{
			my ($ret, $out, $err) =
			  $node->psql('postgres', "SELECT lsm_check('$t')");
			is($ret, 0, "$stage: lsm_check('$t') on the $role")
			  or diag($err);
		}
	}
	return;
}

# --- inserts, updates, deletes, TOAST -------------------------------------------

$primary->safe_psql(
	'postgres', q{
	INSERT INTO s_items
	  SELECT g, g % 100, g,
			 CASE WHEN g % 10 = 0 THEN mkpayload(g, 100) ELSE 'p' || g END
	  FROM generate_series(1, 6000) g;
	-- new versions on other pages; values TOASTed, un-TOASTed and kept
	UPDATE s_items SET val = val + 1 WHERE id % 5 = 0;
	UPDATE s_items SET payload = mkpayload(id, 120) WHERE id % 50 = 1;
	UPDATE s_items SET payload = 'short again' WHERE id % 100 = 0;
	UPDATE s_items SET grp = grp + 1 WHERE id % 30 = 0;
	DELETE FROM s_items WHERE id % 7 = 0;
	-- a subtransaction rolled back, one committed
	BEGIN;
	SAVEPOINT a;
	UPDATE s_items SET val = -1 WHERE id < 100;
	ROLLBACK TO SAVEPOINT a;
	SAVEPOINT b;
	DELETE FROM s_items WHERE id BETWEEN 100 AND 110;
	RELEASE SAVEPOINT b;
	COMMIT;

	INSERT INTO s_wide SELECT g, repeat(chr(65 + g % 26), 1900)
	  FROM generate_series(1, 5000) g;
	INSERT INTO s_trunc SELECT g, 'x' || g FROM generate_series(1, 1000) g;
});
verify_query($primary, q{SELECT map_pages > 0 FROM lsm_info('s_wide')},
	't', 's_wide is large enough to need map pages');
compare_all('inserts, updates, deletes');

# --- row locks ---------------------------------------------------------------------

my $l1 = start_session($primary);
my $l2 = start_session($primary);
$l1->query_safe('BEGIN');
$l1->query_safe(
	'SELECT count(*) FROM (SELECT 1 FROM s_items WHERE id <= 300 FOR SHARE) s');
$l2->query_safe('BEGIN');
$l2->query_safe(
	'SELECT count(*) FROM (SELECT 1 FROM s_items WHERE id <= 200 FOR KEY SHARE) s');
$l2->query_safe(
	'UPDATE s_items SET val = val + 10 WHERE id BETWEEN 301 AND 320');
$l1->query_safe('COMMIT');
$l2->query_safe('COMMIT');
$l1->query_safe('BEGIN');
$l1->query_safe(
	'SELECT count(*) FROM (SELECT 1 FROM s_items WHERE id BETWEEN 400 AND 500 FOR UPDATE) s');
$l1->query_safe('ROLLBACK');
$l1->query_safe('BEGIN');
$l1->query_safe(
	'SELECT count(*) FROM (SELECT 1 FROM s_items WHERE id BETWEEN 500 AND 600 FOR NO KEY UPDATE) s');
$l1->query_safe('SAVEPOINT s');
$l1->query_safe(
	'SELECT count(*) FROM (SELECT 1 FROM s_items WHERE id BETWEEN 550 AND 650 FOR UPDATE) s');
$l1->query_safe('UPDATE s_items SET val = val + 1 WHERE id = 560');
$l1->query_safe('ROLLBACK TO SAVEPOINT s');
$l1->query_safe('COMMIT');
$l1->quit;
$l2->quit;
# after the lockers are gone, every row can be updated at once
$primary->safe_psql('postgres',
	'UPDATE s_items SET val = val + 0 WHERE id <= 700');
compare_all('row locks');

# --- ON CONFLICT and COPY ------------------------------------------------------------

my $csv = $primary->basedir . '/s_items.csv';
$primary->safe_psql(
	'postgres', qq{
	INSERT INTO s_items SELECT g, 1, g, 'upsert ' || g FROM generate_series(5900, 6500) g
	  ON CONFLICT (id) DO UPDATE SET val = excluded.val + 1, payload = s_items.payload || '+';
	INSERT INTO s_items SELECT g, 2, g, 'nothing' FROM generate_series(6400, 6700) g
	  ON CONFLICT DO NOTHING;
	COPY (SELECT g, g % 100, -g, CASE WHEN g % 20 = 0 THEN mkpayload(g, 90) ELSE 'copy' END
		  FROM generate_series(7001, 9000) g) TO '$csv' WITH (FORMAT csv);
	COPY s_items FROM '$csv' WITH (FORMAT csv);
});
compare_all('ON CONFLICT and COPY');

# --- a concurrent workload, with CREATE INDEX CONCURRENTLY ----------------------------

my @scripts = (
	q{
\set id random(1, 12000)
\set v random(1, 100000)
INSERT INTO s_items VALUES (:id, :v % 100, :v, CASE WHEN :v % 10 = 0 THEN mkpayload(:v, 100) ELSE 'w' END)
  ON CONFLICT (id) DO UPDATE SET val = s_items.val + 1, grp = excluded.grp;
},
	q{
\set id random(1, 12000)
INSERT INTO s_items VALUES (:id, 3, 3, 'nothing') ON CONFLICT DO NOTHING;
},
	q{
\set id random(1, 12000)
UPDATE s_items SET val = val - 1, payload = CASE WHEN :id % 3 = 0 THEN payload ELSE 'u' || :id END
 WHERE id = :id;
},
	q{
\set id random(1, 12000)
DELETE FROM s_items WHERE id = :id;
},
	q{
\set id random(1, 12000)
BEGIN;
SELECT count(*) FROM (SELECT 1 FROM s_items WHERE id BETWEEN :id AND :id + 10 ORDER BY id FOR KEY SHARE) s;
SELECT count(*) FROM (SELECT 1 FROM s_items WHERE id > :id ORDER BY id LIMIT 3 FOR UPDATE SKIP LOCKED) s;
COMMIT;
});
my $w = start_workload(
	$primary,
	scripts => \@scripts,
	clients => 4,
	jobs => 2,
	seconds => 6);
sleep 1;
# a base backup taken while the workload writes: torn pages in the copy
# are repaired by the full page images in the WAL
# (a slot made with it keeps the WAL the new standby needs: the workload
# can write more than wal_keep_size before that standby connects)
$primary->backup('during_load',
	backup_options => [ '--create-slot', '--slot=during_load' ]);
$primary->safe_psql('postgres',
	'CREATE INDEX CONCURRENTLY s_items_val ON s_items (val)');
my $res = finish_workload($w);
my $standby2 = PostgreSQL::Test::Cluster->new('lsm_standby_standby2');
$standby2->init_from_backup($primary, 'during_load', has_streaming => 1);
$standby2->append_conf('postgresql.conf', "primary_slot_name = 'during_load'");
$standby2->start;
wait_for_replay($primary, $standby2);
foreach my $t (@lsm_tables)
{
	is(table_digest($standby2, $t), table_digest($primary, $t),
		"a standby from a backup taken during the workload has the same $t");
	my ($ret, $out, $err) = $standby2->psql('postgres', "SELECT lsm_check('$t')");
	is($ret, 0, "lsm_check('$t') on the standby from that backup") or diag($err);
}
check_server_log($standby2,
	'no PANIC, TRAP or inconsistent page on the standby from that backup');
$standby2->stop;
$primary->safe_psql('postgres', q{SELECT pg_drop_replication_slot('during_load')});
is($res->{rc}, 0, 'the concurrent workload ran without errors')
  or diag($res->{stderr});
verify_query($primary,
	q{SELECT indisvalid FROM pg_index WHERE indexrelid = 's_items_val'::regclass},
	't', 'CREATE INDEX CONCURRENTLY under concurrent writes succeeded');
compare_all('concurrent workload');
compare_query(
	$primary, $standby,
	q{SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
	  SELECT count(*), sum(id) FROM s_items WHERE val > -100000000},
	'the index built concurrently finds the same rows on the standby');
is( $primary->safe_psql(
		'postgres',
		q{SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
		  SELECT count(*), sum(id) FROM s_items WHERE val > -100000000}),
	$primary->safe_psql('postgres', 'SELECT count(*), sum(id) FROM s_items'),
	'the index built concurrently has every row');

# --- VACUUM: free pages, visibility map, freezing ---------------------------------------

$primary->safe_psql(
	'postgres', q{
	DELETE FROM s_items WHERE id BETWEEN 1000 AND 3000;
	DELETE FROM s_wide WHERE id % 4 <> 0 OR id BETWEEN 2000 AND 4000;
	VACUUM s_items;
	VACUUM s_wide;
});
verify_query($primary,
	q{SELECT free_pages > 0 FROM lsm_info('s_wide')},
	't', 'VACUUM freed pages');
compare_all('VACUUM');

# index-only scans on the standby use the visibility map set by VACUUM
my $ios = q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*), sum(id) FROM s_items WHERE id > 0};
my $expected = $primary->safe_psql('postgres',
	'SELECT count(*), sum(id) FROM s_items');
verify_query($standby, $ios, $expected,
	'an index-only scan on the standby returns the right rows');
my $plan = $standby->safe_psql('postgres',
	q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	  EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
	  SELECT count(*) FROM s_items WHERE id > 0});
like($plan, qr/Index Only Scan/, 'the standby uses an index-only scan');
like($plan, qr/Heap Fetches: 0/,
	'... without heap fetches: the visibility map was replayed');

$primary->safe_psql(
	'postgres', q{
	VACUUM (FREEZE) s_items;
	VACUUM (FREEZE) s_wide;
	-- new pages reuse freed ones
	INSERT INTO s_wide SELECT g, repeat('z', 1900) FROM generate_series(10001, 11000) g;
	UPDATE s_wide SET filler = repeat('y', 1800) WHERE id % 8 = 0;
});
compare_all('VACUUM FREEZE and page reuse');

# --- dead blocks: pages that pruning leaves without versions are freed at once ----------

$primary->safe_psql(
	'postgres', q{
	INSERT INTO s_hot SELECT g, 0 FROM generate_series(1, 10) g;
	CREATE PROCEDURE s_hot_hammer(n int) LANGUAGE plpgsql AS $$
	BEGIN
		FOR i IN 1 .. n LOOP
			UPDATE s_hot SET v = v + 1 WHERE id = 1 + i % 10;
			COMMIT;
		END LOOP;
	END $$;
	CALL s_hot_hammer(3000);
	SELECT count(*) FROM s_hot;
});
verify_query($primary,
	q{SELECT dead_blocks > 5 AND memtable_pages < 5 FROM lsm_info('s_hot')},
	't', 'pruning freed the pages of the hot table as dead blocks');
compare_all('dead blocks');
my $hot_ios = q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(id), sum(id) FROM s_hot WHERE id > 0};
verify_query($standby, $hot_ios, '10|55',
	'an index-only scan on the standby skips the dead blocks\' entries');
$primary->safe_psql('postgres', 'VACUUM s_hot');
verify_query($primary, q{SELECT dead_blocks FROM lsm_info('s_hot')},
	'0', 'VACUUM cleared the dead blocks');
compare_all('dead blocks cleared by VACUUM');
verify_query($standby, $hot_ios, '10|55',
	'... and the index-only scan still returns the right rows');

# --- VACUUM FULL, CLUSTER, TRUNCATE, SET TABLESPACE ------------------------------------

$primary->safe_psql(
	'postgres', q{
	VACUUM FULL s_items;
	CLUSTER s_wide USING s_wide_pkey;
	TRUNCATE s_trunc;
	INSERT INTO s_trunc SELECT g, 'after truncate ' || g FROM generate_series(1, 500) g;
	BEGIN;
	TRUNCATE s_trunc;
	INSERT INTO s_trunc SELECT g, 'truncated in the same transaction' FROM generate_series(1, 300) g;
	COMMIT;
	BEGIN;
	TRUNCATE s_trunc;
	INSERT INTO s_trunc VALUES (-1, 'rolled back');
	ROLLBACK;
	CREATE TABLESPACE s_ts LOCATION '';
	ALTER TABLE s_trunc SET TABLESPACE s_ts;
	INSERT INTO s_trunc VALUES (301, 'in the new tablespace');
	ALTER TABLE s_wide SET TABLESPACE s_ts;
	UPDATE s_wide SET filler = 'moved' WHERE id % 100 = 0;
});
verify_query($primary, 'SELECT count(*) FROM s_trunc', '301',
	'TRUNCATE and SET TABLESPACE kept the right rows');
compare_all('VACUUM FULL, CLUSTER, TRUNCATE, SET TABLESPACE');

# amcheck on the standby: every row is in every index
my ($ret, $out, $err) = $standby->psql(
	'postgres', q{
	SELECT bt_index_check(c.oid, true)
	  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	 WHERE i.indrelid IN ('s_items'::regclass, 's_wide'::regclass)});
is($ret, 0, 'amcheck on the standby finds every row in every index')
  or diag($err);

# --- recovery conflict: VACUUM cancels a standby query that needs old versions ---------

# (on a table without indexes, so that only lsm's own record can conflict)
my $standby_log = log_position($standby);
my $reader = start_session($standby, on_error_stop => 0);
$reader->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
my $before = $reader->query_safe('SELECT count(*), sum(a) FROM s_trunc');
$primary->safe_psql(
	'postgres', q{
	DELETE FROM s_trunc WHERE a % 2 = 0;
	VACUUM s_trunc;
});
wait_for_replay($primary, $standby);
# The session is cancelled or terminated; if it survived, it must still
# see what it saw.
my ($after, $failed) = last_query($reader, 'SELECT count(*), sum(a) FROM s_trunc');
ok($failed || $after eq $before,
	'a standby snapshot never sees the effects of VACUUM on the primary');
ok( $standby->log_contains(qr/conflict with recovery/, $standby_log),
	'the standby query that needed removed versions was cancelled');

# --- recovery conflict: freezing cancels a standby snapshot that saw the xid running ------

# X inserts a row and is still running when a REPEATABLE READ snapshot is
# taken on the standby; X commits; VACUUM (FREEZE) on the primary freezes
# the row while another open insert keeps the page from becoming
# all-visible.  The frozen row would become visible to the old snapshot,
# so replaying the freeze must cancel it (heap's freeze records do).
$primary->safe_psql('postgres',
	q{CREATE TABLE s_frz (id int, v text) USING lsm WITH (autovacuum_enabled = off);
	  INSERT INTO s_frz VALUES (0, 'old')});
my $x = start_session($primary);
$x->query_safe('BEGIN');
$x->query_safe(q{INSERT INTO s_frz VALUES (1, 'X')});
wait_for_replay($primary, $standby);
$standby_log = log_position($standby);
$reader = start_session($standby, on_error_stop => 0);
$reader->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$before = $reader->query_safe('SELECT count(*) FROM s_frz');
my $y = start_session($primary);
$y->query_safe('BEGIN');
$y->query_safe(q{INSERT INTO s_frz VALUES (2, 'Y')});
$x->query_safe('COMMIT');
$primary->safe_psql('postgres', 'VACUUM (FREEZE) s_frz');
wait_for_replay($primary, $standby);
($after, $failed) = last_query($reader, 'SELECT count(*) FROM s_frz');
ok($failed || $after eq $before,
	'a standby snapshot does not see a row frozen after it was taken')
  or diag("the standby transaction counted $before rows, then $after");
ok( $standby->log_contains(qr/conflict with recovery/, $standby_log),
	'replaying the freeze cancelled the standby query');
$y->query_safe('COMMIT');
$x->quit;
$y->quit;
push @lsm_tables, 's_frz';

compare_all('after the recovery conflict');

check_server_log($primary, 'no PANIC, TRAP or inconsistent page on the primary');
check_server_log($standby, 'no PANIC, TRAP or inconsistent page on the standby');

done_testing();
