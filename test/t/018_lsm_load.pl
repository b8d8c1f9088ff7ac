
# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 018_lsm_load.pl -- COPY straight into a run (direct load, lsm_load.c) on
# a primary with a hot standby, wal_consistency_checking = 'generic'.
#
#   * Loads that commit, abort, or are changed by their own transaction
#     afterwards reach the standby: same rows, same runs, lsm_check clean,
#     also after a full compaction merged them.
#   * A crash in the middle of a COPY whose first batches are on run pages
#     that no manifest lists: after recovery the table holds what it held
#     before, lsm_check is clean, VACUUM reclaims the orphan pages (no run
#     page is left that the manifest does not list), and the next load
#     works.  The standby replays all of it.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use LsmTest;

my ($primary, $standby) = primary_and_standby('lsm_load',
	extra_conf => [ 'autovacuum = off', q(lsm.direct_load_min_bytes = '1kB') ]);

# COPY ... FROM PROGRAM of the ids from .. to (then the program sleeps
# $sleep seconds, keeping the COPY open) into ld, or into $table with
# $options
sub copy_sql
{
	my ($from, $to, $sleep, $table, $options) = @_;
	my $prog = "seq $from $to | sed 's/.*/&\\t&\\t7\\tabc/'";
	$prog = "($prog; sleep $sleep)" if $sleep;
	$prog =~ s/'/''/g;
	return "COPY " . ($table // 'ld') . " FROM PROGRAM '$prog'"
	  . ($options ? " WITH ($options)" : '');
}

my $digest = q{SELECT count(*), sum(id), sum(v), count(DISTINCT id) FROM ld};
my $runs = q{SELECT run_id, level, pages, versions, tombstones FROM lsm_runs('ld') ORDER BY run_id};
my $unlisted = q{
	SELECT i.run_pages - coalesce((SELECT sum(pages) + 1 FROM lsm_runs('ld')), 0)
	  FROM lsm_info('ld') i};

$primary->safe_psql('postgres',
	'CREATE TABLE ld (id bigint, r bigint, v int, s text) USING lsm '
	  . 'WITH (autovacuum_enabled = off)');
$primary->safe_psql('postgres', copy_sql(1, 50000));
$primary->safe_psql('postgres',
	'BEGIN; ' . copy_sql(50001, 60000) . '; ROLLBACK;');
$primary->safe_psql('postgres',
	'BEGIN; '
	  . copy_sql(60001, 70000)
	  . '; UPDATE ld SET v = 8 WHERE id % 1000 = 0;'
	  . ' DELETE FROM ld WHERE id % 1000 = 1; COMMIT;');
verify_query($primary, $digest, '59940|1898159940|419640|59940',
	'loads: the committed rows, with their changes');
compare_query($primary, $standby, $digest, 'standby: the same rows');
compare_query($primary, $standby, $runs, 'standby: the same runs');
verify_query($standby, q{SELECT lsm_check('ld')}, '',
	'standby: lsm_check clean');

# COPY FREEZE: an ordinary run of frozen versions
$primary->safe_psql('postgres',
	'BEGIN; CREATE TABLE ldf (id bigint, r bigint, v int, s text) USING lsm; '
	  . copy_sql(1, 20000, 0, 'ldf', 'FREEZE')
	  . '; COMMIT;');
verify_query($primary,
	q{SELECT count(*), bool_and(oldest_xid IS NULL) FROM lsm_runs('ldf')},
	'1|t', 'COPY FREEZE: one run, frozen');
compare_query($primary, $standby, q{SELECT count(*), sum(id) FROM ldf},
	'standby: the rows of COPY FREEZE');

$primary->safe_psql('postgres', q{SELECT lsm_compact('ld', true)});
verify_query($primary, q{SELECT count(*) FROM lsm_runs('ld')}, '1',
	'full compaction: one run (the aborted load dropped)');
compare_query($primary, $standby, $digest,
	'standby: the same rows after the compaction');
compare_query($primary, $standby, $runs,
	'standby: the same runs after the compaction');

# --- a crash in the middle of a COPY ------------------------------------------

my $before = $primary->safe_psql('postgres', $digest);
my $pages0 = $primary->safe_psql('postgres', q{SELECT run_pages FROM lsm_info('ld')});
my $s = start_session($primary, on_error_stop => 0);
$s->query_until(qr/started/,
	"\\echo started\nBEGIN;\n" . copy_sql(100001, 160000, 120) . ";\n");
# wait until the load has written run pages (they are not listed yet)
my $grown = 0;
foreach (1 .. 600)
{
	if ($primary->safe_psql('postgres', q{SELECT run_pages FROM lsm_info('ld')}) > $pages0 + 20)
	{
		$grown = 1;
		last;
	}
	usleep(100_000);
}
ok($grown, 'the load writes run pages before COPY ends');
cmp_ok($primary->safe_psql('postgres', $unlisted), '>', 0,
	'pages of the unfinished load are not listed');
# VACUUM now must leave the pages of the load alone
$primary->safe_psql('postgres', 'VACUUM ld');
cmp_ok($primary->safe_psql('postgres', $unlisted), '>', 0,
	'VACUUM leaves the pages of a load in progress alone');

crash_and_restart($primary);
eval { $s->quit };
verify_after_recovery($primary, $digest, $before,
	'after the crash: the rows of before');
verify_query($primary, q{SELECT lsm_check('ld')}, '',
	'after the crash: lsm_check clean');
$primary->safe_psql('postgres', 'VACUUM ld');
verify_query($primary, $unlisted, '0', 'VACUUM reclaims the orphan pages');
$primary->safe_psql('postgres', copy_sql(200001, 210000));
verify_query($primary, q{SELECT count(*) FROM ld WHERE id > 200000}, '10000',
	'the next load works');
verify_query($primary, q{SELECT lsm_check('ld')}, '',
	'after the next load: lsm_check clean');

# the standby followed through the crash
compare_query($primary, $standby, $digest, 'standby: the same rows at the end');
compare_query($primary, $standby, $runs, 'standby: the same runs at the end');
check_server_log($standby, 'standby: server log clean');

done_testing();
