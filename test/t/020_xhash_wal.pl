# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 020_xhash_wal.pl -- xhash indexes and WAL.
#
#   * A primary and a streaming standby, both with
#     wal_consistency_checking = 'generic' (redo compares every page it
#     rebuilds with a full image and PANICs on a difference): an xhash
#     index built, grown through many splits and directory doublings,
#     given overflow chains (also frequent keys' entries moved from their
#     bucket page to chains of their own, many chains per bucket), vacuumed
#     (chain pages unlinked, from the bucket page and from the overflow
#     page before them, chains and their entries removed, pages
#     recycled), entries marked dead by lookups and unique checks and
#     removed from full bucket pages, entries removed by bottom-up
#     deletion, the same in overflow chains (entries moved from a chain's
#     full first page to a later page that lost dead entries) --
#     on a heap and on an lsm table.  The standby answers index lookups
#     like the primary and its indexes pass xhash_check.  A standby query
#     whose snapshot still sees rows whose entries the primary marked dead
#     finds them (standby scans do not skip marked entries), and is
#     cancelled when the primary removes the entries at insert time.
#   * A crash while concurrent inserts split buckets: after recovery the
#     index passes xhash_check and finds every row.
#   * A crash in the middle of CREATE INDEX: the table is intact and the
#     index can be built again.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

my ($primary, $standby) = primary_and_standby('xhash_wal',
	extra_conf => [ 'autovacuum = off', 'wal_keep_size = 2GB', 'max_wal_size = 2GB' ]);

$primary->safe_psql(
	'postgres', q{
	CREATE TABLE h (k int8, v text);
	INSERT INTO h SELECT g, 'v' || g FROM generate_series(1, 20000) g;
	CREATE UNIQUE INDEX h_k ON h USING xhash (k);
	CREATE TABLE l (k int4, t text) USING lsm;
	CREATE INDEX l_kt ON l USING xhash (k, t);
	INSERT INTO h SELECT g, 'w' || g FROM generate_series(20001, 60000) g;
	INSERT INTO l SELECT g % 1000, 't' || (g % 1000) FROM generate_series(1, 30000) g;
	INSERT INTO l SELECT 7, 'seven' FROM generate_series(1, 3000);
	CREATE TABLE s (k int8);
	INSERT INTO s SELECT g FROM generate_series(1, 20000) g;
	CREATE INDEX s_k ON s USING xhash (k);
	INSERT INTO s SELECT CASE WHEN g % 3 = 0 THEN g + 20000 ELSE 42 END
	  FROM generate_series(1, 6000) g;
	CREATE TABLE m (k int4, v int4);
	CREATE INDEX m_k ON m USING xhash (k);
	INSERT INTO m SELECT k, g FROM generate_series(1, 60) k, generate_series(1, 700) g;
	INSERT INTO m SELECT g % 500 + 100, g FROM generate_series(1, 20000) g;
	CREATE INDEX m_k2 ON m USING xhash (k);
});

my $lookups = q{
	SET enable_seqscan = off;
	SELECT count(*), sum(length(v)) FROM h WHERE k IN (1, 777, 20001, 45678, 59999, 60001);
	SELECT count(*) FROM l WHERE k = 7 AND t = 'seven';
	SELECT count(*) FROM l WHERE k = 999 AND t = 't999';
	SELECT xhash_check('h_k'), xhash_check('l_kt');
	SELECT i1.global_depth > 5, i2.overflow_pages > 0
	  FROM xhash_info('h_k') i1, xhash_info('l_kt') i2;
	SELECT count(*) FROM s WHERE k = 42;
	SELECT count(*) FROM s WHERE k IN (1, 20003, 25998);
	SELECT xhash_check('s_k'), overflow_pages > 0, global_depth < 10 FROM xhash_info('s_k');
	SELECT k, count(*) FROM m WHERE k IN (1, 2, 30, 60, 150) GROUP BY k ORDER BY k;
	SELECT xhash_check('m_k'), xhash_check('m_k2');
	SELECT global_depth <= 6, overflow_pages >= 60 FROM xhash_info('m_k');
};
compare_query($primary, $standby, $lookups, 'standby agrees after splits and chains');

$primary->safe_psql(
	'postgres', q{
	DELETE FROM h WHERE k % 3 = 0;
	DELETE FROM l WHERE k = 7;
	DELETE FROM s WHERE k = 42 AND ctid < '(10,0)';
	VACUUM s;
	VACUUM h;
	VACUUM l;
	VACUUM l;
	INSERT INTO l SELECT 8, 'eight' FROM generate_series(1, 3000);
	INSERT INTO h SELECT g, 'x' || g FROM generate_series(60001, 90000) g;
	DELETE FROM m WHERE k % 2 = 0 AND k <= 60;
	VACUUM m;
	SELECT pg_current_xact_id() IS NOT NULL;
	VACUUM m;
	INSERT INTO m SELECT g % 60 + 1, g FROM generate_series(1, 30000) g;
});
compare_query($primary, $standby, $lookups . q{
	SELECT count(*) FROM l WHERE k = 8 AND t = 'eight';
	SELECT count(*) FROM h WHERE k = 89999;
}, 'standby agrees after vacuum and page reuse');

# a chain of six pages: VACUUM empties pages after its first one, and
# unlinks them from the overflow page before them (not from the bucket
# page), then more, down to two pages
$primary->safe_psql(
	'postgres', q{
	CREATE TABLE ch (id int4, k int4);
	CREATE INDEX ch_k ON ch USING xhash (k);
	INSERT INTO ch SELECT g, 1 FROM generate_series(1, 4000) g;
	INSERT INTO ch SELECT g, g FROM generate_series(2, 50) g;
	DELETE FROM ch WHERE k = 1 AND id BETWEEN 1201 AND 2400;
	VACUUM ch;
	DELETE FROM ch WHERE k = 1 AND id > 2400;
	VACUUM ch;
});
is( $primary->safe_psql(
		'postgres',
		q{SELECT buckets, overflow_pages, free_pages FROM xhash_info('ch_k')}),
	'1|2|4',
	'chain pages unlinked behind its first page');
compare_query($primary, $standby, q{
	SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*), min(id), max(id) FROM ch WHERE k = 1;
	SELECT count(*) FROM ch WHERE k BETWEEN 2 AND 50;
	SELECT xhash_check('ch_k');
}, 'standby agrees after chain pages behind the first were unlinked');
# entries marked dead by lookups (an lsm table's updates, which find their
# rows through the index) and by unique checks, then removed from full
# bucket pages: all WAL-logged, so the standby's pages stay identical to
# the primary's (wal_consistency_checking compares them)
$primary->safe_psql(
	'postgres', q{
	CREATE TABLE d (k int4, v int4) USING lsm;
	CREATE INDEX d_k ON d USING xhash (k);
	INSERT INTO d SELECT g, 0 FROM generate_series(1, 300) g;
	CREATE TABLE du (k int4);
	CREATE UNIQUE INDEX du_k ON du USING xhash (k);
	INSERT INTO du SELECT g FROM generate_series(1, 600) g;
	CREATE TABLE db (id int4, k int4, v int4) USING lsm;
	CREATE INDEX db_id ON db (id);
	CREATE INDEX db_k ON db USING xhash (k);
	INSERT INTO db SELECT g, g, 0 FROM generate_series(1, 300) g;
});
# lookups one key at a time, by plain index scans (which mark entries)
my $index_lookups = q{
	SET enable_seqscan = off;
	SET enable_bitmapscan = off;
	SET enable_hashjoin = off;
	SET enable_mergejoin = off;
};
for my $round (1 .. 8)
{
	$primary->safe_psql(
		'postgres', $index_lookups . q{
		UPDATE d SET v = v + 1 FROM generate_series(1, 300) g WHERE d.k = g;
		UPDATE db SET v = v + 1 FROM generate_series(1, 300) g WHERE db.id = g;
		DELETE FROM du WHERE k % 4 = 0;
		INSERT INTO du SELECT g FROM generate_series(4, 600, 4) g;
	});
}
is( $primary->safe_psql(
		'postgres', q{
		SELECT buckets, entries < 1000 FROM xhash_info('d_k');
		SELECT entries < 600 + 8 * 150 FROM xhash_info('du_k');
		SELECT buckets, entries < 1000 FROM xhash_info('db_k');
	}),
	"1|t\nt\n1|t",
	'dead entries were marked and removed instead of splitting');
compare_query($primary, $standby, q{
	SET enable_seqscan = off;
	SELECT count(*), sum(v) FROM d WHERE k IN (1, 150, 300);
	SELECT count(*) FROM du WHERE k IN (4, 5, 600);
	SELECT count(*), sum(v) FROM db WHERE k IN (1, 150, 300);
	SELECT xhash_check('d_k'), xhash_check('du_k'), xhash_check('db_k');
	SELECT * FROM xhash_info('db_k');
	SELECT * FROM xhash_info('d_k');
	SELECT * FROM xhash_info('du_k');
}, 'standby agrees after entries were marked dead and removed');
# the same in overflow chains (a frequent key): lookups and unique checks
# mark entries on chain pages, a chain's full first page gets room from its
# later pages (removal there, entries moved), VACUUM raises the bucket's
# removal count after removing entries from a chain's later pages
$primary->safe_psql(
	'postgres', q{
	CREATE TABLE dc (id int4, k int4, v int4) USING lsm;
	INSERT INTO dc SELECT g, CASE WHEN g <= 1000 THEN 0 ELSE g END, 0
	  FROM generate_series(1, 1200) g;
	CREATE INDEX dc_id ON dc (id);
	CREATE INDEX dc_k ON dc USING xhash (k);
	CREATE TABLE dk (id int4, k int4);
	INSERT INTO dk SELECT g, CASE WHEN g <= 1000 THEN 0 ELSE g END
	  FROM generate_series(1, 1200) g;
	CREATE INDEX dk_k ON dk USING xhash (k);
	CREATE TABLE duc (k int4, v int4);
	CREATE UNIQUE INDEX duc_k ON duc USING xhash (k);
	CREATE PROCEDURE dc_turn() LANGUAGE plpgsql AS $$
	BEGIN
		FOR g IN 1 .. 1000 LOOP
			UPDATE dc SET v = v + 1 WHERE id = g;
			COMMIT;
		END LOOP;
	END $$;
});
for my $round (1 .. 3)
{
	$primary->safe_psql(
		'postgres', $index_lookups . qq{
		CALL dc_turn();
		DELETE FROM dk WHERE k = 0 AND id % 3 = $round - 1;
		SELECT count(*) FROM dk WHERE k = 0;
		INSERT INTO dk SELECT g, 0 FROM generate_series($round * 10000, $round * 10000 + 299) g;
		DO \$\$ BEGIN
			FOR r IN 1 .. 800 LOOP
				INSERT INTO duc VALUES (1, r);
				DELETE FROM duc;
			END LOOP;
		END \$\$;
		INSERT INTO duc VALUES (1, 0);
		DELETE FROM duc;
	});
	$primary->safe_psql('postgres', 'VACUUM dk');
}
is( $primary->safe_psql(
		'postgres', q{
		SELECT overflow_pages <= 3 FROM xhash_info('dc_k');
		SELECT overflow_pages <= 4 FROM xhash_info('dk_k');
	}),
	"t\nt",
	'chains kept short by removing dead entries from their later pages');
# (the lookups run on the primary first: they mark what they find dead)
my $chain_lookups = q{
	SET enable_seqscan = off;
	SELECT count(*), sum(v) FROM dc WHERE k = 0;
	SELECT count(*) FROM dk WHERE k = 0;
	SELECT count(*) FROM duc WHERE k = 1;
	SELECT xhash_check('dc_k'), xhash_check('dk_k'), xhash_check('duc_k');
	SELECT * FROM xhash_info('dc_k');
	SELECT * FROM xhash_info('dk_k');
	SELECT * FROM xhash_info('duc_k');
};
$primary->safe_psql('postgres', $chain_lookups);
compare_query($primary, $standby, $chain_lookups,
	'standby agrees after dead entries in chains were marked, moved and removed');
# Removing entries of dead rows at insert time logs their horizon as a
# recovery conflict first: a standby snapshot that still sees the rows is
# cancelled instead of losing them from its index scans.  The rows are
# wide and stored uncompressed (three to a table page, which keeps more
# free space than heap's opportunistic pruning waits for), so that no
# pruning record of the table can be what cancels the query.
$standby->append_conf('postgresql.conf', 'max_standby_streaming_delay = 0');
$standby->reload;
$primary->safe_psql(
	'postgres', q{
	CREATE TABLE wc (k int4, pad text);
	ALTER TABLE wc ALTER pad SET STORAGE PLAIN;
	CREATE INDEX wc_k ON wc USING xhash (k);
	INSERT INTO wc SELECT g, repeat('x', 2100) FROM generate_series(1, 600) g;
});
wait_for_replay($primary, $standby);
my $standby_log = log_position($standby);
my $reader = start_session($standby, on_error_stop => 0);
my $count_sql = q{SET enable_seqscan = off;
	SELECT count(*) FROM generate_series(1, 600) g JOIN wc ON wc.k = g;};
$reader->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
my $before = $reader->query_safe($count_sql);
$primary->safe_psql(
	'postgres', $index_lookups . q{
	DELETE FROM wc WHERE k > 100;
	SELECT count(*) FROM generate_series(1, 600) g JOIN wc ON wc.k = g;
});
is($primary->safe_psql('postgres',
		q{SELECT dead_entries > 0 FROM xhash_info('wc_k')}),
	't', 'the primary marked the deleted rows\' entries dead');
# marks reach the standby, whose scans must not skip them: its snapshot
# still sees those rows
wait_for_replay($primary, $standby);
is($reader->query_safe($count_sql), $before,
	'a standby scan does not skip entries marked dead on the primary');
$primary->safe_psql('postgres',
	q{INSERT INTO wc SELECT g, 'new' FROM generate_series(601, 800) g});
is( $primary->safe_psql('postgres',
		q{SELECT buckets, entries < 800 FROM xhash_info('wc_k')}),
	'1|t', 'the full bucket page lost its dead entries');
wait_for_replay($primary, $standby);
my ($after, $failed) = last_query($reader, $count_sql);
ok($failed || $after eq $before,
	'a standby snapshot never misses rows whose entries were removed at insert time');
ok($standby->log_contains(qr/conflict with recovery/, $standby_log),
	'the standby query that needed them was cancelled');

check_server_log($standby, 'standby log');
check_server_log($primary, 'primary log');
$standby->stop;

# a crash while inserts split buckets
$primary->safe_psql('postgres', 'CREATE SEQUENCE hs START 1000000');
my $w = start_workload($primary,
	script => q{
\set k random(100000, 100000000)
INSERT INTO h VALUES (nextval('hs'), 'c');
INSERT INTO l VALUES (:k % 5000, 'c' || (:k % 5000));
},
	clients => 2, seconds => 30);
sleep 3;
crash_and_restart($primary);
finish_workload($w, kill => 1);
verify_after_recovery($primary, q{
	SET enable_seqscan = off;
	SELECT xhash_check('h_k'), xhash_check('l_kt');
	SELECT bool_and((SELECT count(*) FROM h h2 WHERE h2.k = h.k) = 1) FROM h WHERE k % 97 = 0;
}, "|\nt", 'after a crash during splits the index is sound and complete');

# a crash in the middle of CREATE INDEX
$primary->safe_psql('postgres',
	q{CREATE TABLE big (k int8); INSERT INTO big SELECT g FROM generate_series(1, 300000) g;});
my $s = start_session($primary);
$s->query_until(qr/started/, q{
	\echo started
	CREATE INDEX big_k ON big USING xhash (k);
});
sleep 1;
crash_and_restart($primary);
verify_after_recovery($primary, q{
	SELECT count(*) FROM big;
	CREATE INDEX big_k2 ON big USING xhash (k);
	SELECT xhash_check('big_k2');
	SET enable_seqscan = off;
	SELECT k FROM big WHERE k = 4242;
}, "300000\n\n4242", 'after a crash during CREATE INDEX the table is intact');
check_server_log($primary, 'primary log after crashes', allow => qr/terminating connection|could not send data|connection to client lost/);

done_testing();
