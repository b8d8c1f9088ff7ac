
# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 001_harness.pl -- the TAP harness itself, on ordinary heap tables:
#   * a primary and a streaming standby (wal_consistency_checking =
#     'generic'), the extension loaded on both;
#   * INSERT/UPDATE/DELETE on the primary show up on the standby;
#   * a crash (immediate shutdown) in the middle of committed, uncommitted
#     and prepared work: after recovery every committed row is there and
#     no uncommitted one; prepared transactions survive; unlogged tables
#     come back empty;
#   * no PANIC / TRAP / inconsistent page in any server log.
#
# Later tests do the same on lsm tables and with the extension's indexes.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

my ($primary, $standby) = primary_and_standby('harness');

# --- the extension on both nodes -------------------------------------------

verify_query($primary, 'SELECT lsm_version()', '0.1',
	'lsm_version() on the primary');
verify_query($standby, 'SELECT lsm_version()', '0.1',
	'lsm_version() on the standby');
verify_query($standby, 'SELECT pg_is_in_recovery()', 't',
	'the standby is in recovery');
verify_query($standby, q{SHOW wal_consistency_checking}, 'generic',
	'wal_consistency_checking is generic');

# --- DML on the primary, compared on the standby ---------------------------

$primary->safe_psql(
	'postgres', q{
	CREATE TABLE h (id int PRIMARY KEY, grp int NOT NULL, payload text);
	CREATE INDEX h_grp ON h (grp);
	INSERT INTO h
	  SELECT g, g % 10, repeat(md5(g::text), 1 + g % 5)
	  FROM generate_series(1, 5000) g;
	UPDATE h SET payload = 'updated ' || id WHERE id % 7 = 0;
	DELETE FROM h WHERE id % 11 = 0;
	INSERT INTO h VALUES (100001, 1, 'late');
	-- a value big enough to be TOASTed
	INSERT INTO h VALUES (100002, 2, repeat('x', 100000));
});

verify_query($primary, 'SELECT count(*) FROM h', '4548',
	'rows on the primary after insert, update and delete');
compare_query($primary, $standby,
	'SELECT count(*), sum(id), sum(grp), sum(length(payload)) FROM h',
	'aggregates match on the standby');
compare_query($primary, $standby,
	q{SELECT table_digest FROM (SELECT 1) s,
	  LATERAL (SELECT count(*) || ':' || md5(string_agg(h::text, ',' ORDER BY id))
	           AS table_digest FROM h) d},
	'contents match on the standby');
compare_query(
	$primary, $standby,
	q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	  SELECT count(*), min(id), max(id) FROM h WHERE grp = 3},
	'an index scan matches on the standby');
is(table_digest($standby, 'h'),
	table_digest($primary, 'h'), 'table_digest matches');

my ($ret, $stdout, $stderr) =
  $standby->psql('postgres', q{INSERT INTO h VALUES (0, 0, 'no')});
isnt($ret, 0, 'the standby rejects writes');
like($stderr, qr/read-only transaction/, '... with the expected error');

# --- crash in the middle of committed and uncommitted work -----------------

$primary->safe_psql(
	'postgres', q{
	CREATE UNLOGGED TABLE u (id int);
	INSERT INTO u SELECT generate_series(1, 1000);
	INSERT INTO h SELECT g, 42, 'committed ' || g
	  FROM generate_series(200001, 201000) g;
});

my $grp5_before =
  $primary->safe_psql('postgres', 'SELECT count(*) FROM h WHERE grp = 5');

# A transaction left open: inserts, updates committed rows, deletes some.
my $open = start_session($primary);
$open->query_safe('BEGIN');
$open->query_safe(
	q{INSERT INTO h SELECT g, 43, 'uncommitted ' || g
	  FROM generate_series(300001, 310000) g});
$open->query_safe(q{UPDATE h SET payload = 'uncommitted' WHERE grp = 42});
$open->query_safe('DELETE FROM h WHERE grp = 5');

# A prepared transaction: must survive the crash.
$primary->safe_psql(
	'postgres', q{
	BEGIN;
	INSERT INTO h SELECT g, 44, 'prepared' FROM generate_series(400001, 400010) g;
	PREPARE TRANSACTION 'harness_px';
});

# Put the uncommitted changes on disk, then commit more after the
# checkpoint so that recovery has work to redo.
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->safe_psql(
	'postgres', q{
	INSERT INTO h SELECT g, 45, 'after checkpoint'
	  FROM generate_series(500001, 500100) g;
	UPDATE h SET payload = 'updated after checkpoint' WHERE id = 100001;
});

my $digest_before = table_digest($primary, 'h');
my $log_offset = log_position($primary);

crash_and_restart($primary);
eval { $open->quit; };    # its server is gone; don't care how psql exits

verify_after_recovery($primary, 'SELECT count(*) FROM h WHERE grp = 42',
	'1000', 'committed rows survive the crash', offset => $log_offset);
verify_query($primary,
	q{SELECT count(*) FROM h WHERE payload = 'uncommitted' OR grp = 43},
	'0', 'no uncommitted insert or update is visible');
verify_query($primary, 'SELECT count(*) FROM h WHERE grp = 5',
	$grp5_before, 'uncommitted deletes did not happen');
verify_query($primary, 'SELECT count(*) FROM h WHERE grp = 45',
	'100', 'rows committed after the checkpoint were redone');
verify_query($primary, 'SELECT payload FROM h WHERE id = 100001',
	'updated after checkpoint', 'an update after the checkpoint was redone');
is(table_digest($primary, 'h'), $digest_before,
	'table contents are exactly the committed state');
verify_query($primary, 'SELECT count(*) FROM u', '0',
	'the unlogged table is empty after the crash');
verify_query($primary, 'SELECT gid FROM pg_prepared_xacts', 'harness_px',
	'the prepared transaction survived');

$primary->safe_psql('postgres', q{COMMIT PREPARED 'harness_px'});
verify_query($primary, 'SELECT count(*) FROM h WHERE grp = 44', '10',
	'rows of the prepared transaction are visible after COMMIT PREPARED');

# The index is consistent with the table after recovery.
verify_query(
	$primary,
	q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	  SELECT count(*) FROM h WHERE grp = 42},
	'1000',
	'the index finds the committed rows after recovery');

# --- the standby followed all of it ------------------------------------------

compare_query($primary, $standby,
	'SELECT count(*), sum(id), sum(grp), sum(length(payload)) FROM h',
	'the standby matches the recovered primary');
is(table_digest($standby, 'h'),
	table_digest($primary, 'h'), 'table_digest matches after the crash');
verify_query($standby, 'SELECT lsm_version()', '0.1',
	'the extension still loads on the standby');

# --- a crash of the standby --------------------------------------------------

crash_and_restart($standby);
$primary->safe_psql('postgres',
	q{INSERT INTO h VALUES (600001, 46, 'after standby crash')});
compare_query($primary, $standby,
	'SELECT count(*), sum(id) FROM h',
	'the standby catches up after its own crash');

check_server_log($primary, 'no PANIC, TRAP or inconsistent page on the primary');
check_server_log($standby, 'no PANIC, TRAP or inconsistent page on the standby');

done_testing();
