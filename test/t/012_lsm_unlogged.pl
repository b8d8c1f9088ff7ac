
# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 012_lsm_unlogged.pl -- unlogged lsm tables.
#
#   * rows and indexes of an unlogged lsm table survive a clean restart;
#   * after a crash (immediate shutdown) the table is empty and usable:
#     inserts, index scans, UPDATE, VACUUM work and lsm_check is clean;
#     logged lsm tables next to it keep their rows;
#   * the standby has the table in its catalog but none of its data (only
#     the init fork), refuses to read it during recovery, and after
#     promotion has an empty, usable table;
#   * ALTER TABLE ... SET LOGGED makes the rows crash-safe and replicated,
#     SET UNLOGGED makes them go away in the next crash;
#   * an unlogged table moved with SET TABLESPACE keeps its init fork (also
#     on the standby) and behaves the same.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

my ($primary, $standby) = primary_and_standby('lsm_unlogged',
	extra_conf => [ 'autovacuum = off', 'allow_in_place_tablespaces = on' ]);

$primary->safe_psql(
	'postgres', q{
	CREATE UNLOGGED TABLE u (id int PRIMARY KEY, grp int NOT NULL, v text) USING lsm;
	CREATE INDEX u_grp ON u (grp);
	INSERT INTO u SELECT g, g % 10,
		CASE WHEN g % 100 = 0 THEN repeat(md5(g::text), 200) ELSE 'v' || g END
	  FROM generate_series(1, 5000) g;
	UPDATE u SET grp = grp + 10 WHERE id % 3 = 0;
	DELETE FROM u WHERE id % 5 = 0;
	CREATE UNLOGGED TABLE u2 (id int, v text) USING lsm;
	INSERT INTO u2 SELECT g, 'to be logged' FROM generate_series(1, 1000) g;
	CREATE TABLE l (id int PRIMARY KEY, v text) USING lsm;
	INSERT INTO l SELECT g, 'l' || g FROM generate_series(1, 2000) g;
	CREATE UNLOGGED TABLE u3 (id int, v text) USING lsm;
	INSERT INTO u3 SELECT g, 'logged for a while' FROM generate_series(1, 500) g;
	ALTER TABLE u3 SET LOGGED;
	-- moved to another tablespace: the init fork goes along
	CREATE TABLESPACE u_ts LOCATION '';
	CREATE UNLOGGED TABLE ut (id int PRIMARY KEY, v text) USING lsm;
	INSERT INTO ut SELECT g, 'moved' FROM generate_series(1, 1000) g;
	ALTER TABLE ut SET TABLESPACE u_ts;
	INSERT INTO ut VALUES (5000, 'after the move');
});
verify_query($primary,
	q{SELECT relpersistence FROM pg_class WHERE relname = 'u'}, 'u',
	'u is unlogged');
verify_query($primary, 'SELECT count(*) FROM u', '4000',
	'the unlogged table has its rows');

sub check_lsm
{
	my ($node, $table, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($ret, $out, $err) =
	  $node->psql('postgres', "SELECT lsm_check('$table')");
	is($ret, 0, "$what: lsm_check('$table') is clean") or diag($err);
	return;
}

# --- the standby has no data of unlogged tables ---------------------------------

wait_for_replay($primary, $standby);
my $path = $primary->safe_psql('postgres',
	q{SELECT pg_relation_filepath('u')});
my $standby_main = $standby->data_dir . "/$path";
ok(!-e $standby_main || -s $standby_main == 0,
	'the standby has no data in the main fork of the unlogged table');
ok(-e "${standby_main}_init", 'the standby has the init fork');
my ($ret, $out, $err) = $standby->psql('postgres', 'SELECT count(*) FROM u');
isnt($ret, 0, 'the standby refuses to read the unlogged table');
like($err, qr/cannot access temporary or unlogged relations during recovery/,
	'... with the usual error');
verify_query($standby, 'SELECT count(*) FROM l', '2000',
	'the standby has the logged table');
my $ut_path = $primary->safe_psql('postgres', q{SELECT pg_relation_filepath('ut')});
ok(-e $standby->data_dir . "/${ut_path}_init",
	'the standby has the init fork of the table moved to another tablespace');
verify_query($standby, 'SELECT count(*) FROM u3', '500',
	'the standby has the rows of a table set logged');

# --- clean restart: the rows stay ------------------------------------------------

my $digest = table_digest($primary, 'u');
$primary->restart;
is(table_digest($primary, 'u'), $digest,
	'the unlogged table keeps its rows across a clean restart');
verify_query(
	$primary,
	q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	  SELECT count(*) FROM u WHERE grp >= 10},
	$primary->safe_psql('postgres', 'SELECT count(*) FROM u WHERE grp >= 10'),
	'its index works after a clean restart');

# --- crash: the unlogged table is empty --------------------------------------------

$primary->safe_psql('postgres', q{
	ALTER TABLE u2 SET LOGGED;
	ALTER TABLE u3 SET UNLOGGED;
});
# an open transaction with more rows in the unlogged table
my $open = start_session($primary);
$open->query_safe('BEGIN');
$open->query_safe(
	q{INSERT INTO u SELECT g, 1, 'uncommitted' FROM generate_series(10001, 12000) g});
$primary->safe_psql('postgres',
	q{INSERT INTO u SELECT g, 2, 'committed' FROM generate_series(20001, 21000) g});
my $log_offset = log_position($primary);
crash_and_restart($primary);
eval { $open->quit; };
check_server_log($primary, 'crash: server log', offset => $log_offset);

verify_query($primary, 'SELECT count(*) FROM u', '0',
	'the unlogged table is empty after the crash');
verify_query(
	$primary,
	q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	  SELECT count(*) FROM u WHERE id > 0},
	'0', 'its index is empty too');
verify_query($primary, 'SELECT count(*) FROM u3', '0',
	'a table set unlogged is empty after the crash');
verify_query($primary, 'SELECT count(*) FROM ut', '0',
	'a table moved to another tablespace is empty after the crash');
verify_query($primary, 'SELECT count(*) FROM u2', '1000',
	'a table set logged kept its rows');
verify_query($primary, 'SELECT count(*) FROM l', '2000',
	'the logged table kept its rows');
check_lsm($primary, $_, 'after the crash') foreach qw(u u2 u3 ut l);
verify_query($primary,
	q{SELECT versions, memtable_pages FROM lsm_info('u')},
	'0|0', 'lsm_info sees an empty table');

# The empty table is usable.
$primary->safe_psql(
	'postgres', q{
	INSERT INTO u SELECT g, g % 10, 'new ' || g FROM generate_series(1, 3000) g;
	INSERT INTO u VALUES (5000, 5, repeat(md5('toast'), 300));
	UPDATE u SET v = v || '+' WHERE id % 4 = 0;
	DELETE FROM u WHERE id % 9 = 0;
	VACUUM u;
	INSERT INTO u3 VALUES (1, 'again');
	INSERT INTO ut VALUES (1, 'again');
});
verify_query($primary,
	q{SELECT count(*), sum(id), count(*) FILTER (WHERE v LIKE '%+') FROM u},
	'2668|4006001|668', 'the unlogged table works after the crash');
verify_query(
	$primary,
	q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	  SELECT count(*), sum(id) FROM u WHERE grp BETWEEN 0 AND 9},
	'2668|4006001', 'an index scan finds the new rows');
# a primary key violation is still detected
($ret, $out, $err) =
  $primary->psql('postgres', q{INSERT INTO u VALUES (1, 1, 'dup')});
like($err, qr/duplicate key value violates unique constraint "u_pkey"/,
	'the primary key of the unlogged table works after the crash');
check_lsm($primary, $_, 'after new work') foreach qw(u u3);

# A second crash: empty again.
crash_and_restart($primary);
verify_query($primary, 'SELECT count(*) FROM u', '0',
	'the unlogged table is empty after a second crash');
check_lsm($primary, 'u', 'after a second crash');

# --- the promoted standby ---------------------------------------------------------

wait_for_replay($primary, $standby);
verify_query($standby, 'SELECT count(*) FROM u2', '1000',
	'the standby has the rows of the table set logged');
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'standby was not promoted';
verify_query($standby, 'SELECT count(*) FROM u', '0',
	'the unlogged table is empty on the promoted standby');
$standby->safe_psql('postgres',
	q{INSERT INTO u SELECT g, 1, 'on the new primary' FROM generate_series(1, 100) g});
verify_query($standby, 'SELECT count(*) FROM u', '100',
	'the unlogged table is usable on the promoted standby');
$standby->safe_psql('postgres', q{INSERT INTO ut VALUES (1, 'on the new primary')});
verify_query($standby, 'SELECT count(*) FROM ut', '1',
	'the table moved to another tablespace is usable on the promoted standby');
check_lsm($standby, $_, 'on the promoted standby') foreach qw(u u2 ut l);

check_server_log($primary, 'no PANIC, TRAP or inconsistent page on the primary');
check_server_log($standby, 'no PANIC, TRAP or inconsistent page on the standby');

done_testing();
