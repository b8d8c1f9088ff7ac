# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 022_xhash_vacuum_locks.pl -- VACUUM of an xhash index never sleeps
# (vacuum_delay_point) while it holds a bucket page's lock.
#
# The index has one bucket whose page leads to 300 overflow chains (300
# keys with 700 rows each), and a seventh of its entries are dead.  A
# cost-delayed VACUUM cleans it while a pgbench client looks keys up.  A
# watcher polls pg_stat_activity every few milliseconds during the index
# pass and records how long the VACUUM was seen sleeping ("VacuumDelay")
# while the lookup waited for a buffer lock ("BufferContent") -- the whole
# sleep, when the bucket's lock was held across all of its chains and the
# delay points inside them (a lookup then waited seconds behind a VACUUM
# with a long cost delay); at most an instant now.  Nothing is timed: the
# test compares states seen at the same moment.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

my $node = new_node('xhash_vacuum_locks', extra_conf => ['autovacuum = off']);

$node->safe_psql(
	'postgres', q{
	CREATE TABLE vl (k int4, v int4);
	CREATE INDEX vl_k ON vl USING xhash (k);
	INSERT INTO vl SELECT k, g FROM generate_series(1, 300) k, generate_series(1, 700) g;
	DELETE FROM vl WHERE v % 7 = 0;

	-- the longest run of consecutive polls that saw the VACUUM sleeping in
	-- its index pass while another client backend (the lookups: TAP tests
	-- set every client's application_name) waited for a buffer lock, and
	-- how many polls saw it sleeping in its index pass at all
	CREATE FUNCTION watch(OUT longest int, OUT sleeping int)
	LANGUAGE plpgsql AS $$
	DECLARE
		run int := 0;
		seen_vacuum bool := false;
		vac_pid int;
		t0 timestamptz := clock_timestamp();
	BEGIN
		longest := 0;
		sleeping := 0;
		LOOP
			PERFORM pg_stat_clear_snapshot();
			SELECT pid INTO vac_pid FROM pg_stat_progress_vacuum
			 WHERE relid = 'vl'::regclass AND phase = 'vacuuming indexes';
			IF vac_pid IS NOT NULL THEN
				seen_vacuum := true;
				IF EXISTS (SELECT 1 FROM pg_stat_activity
							WHERE pid = vac_pid AND wait_event = 'VacuumDelay') THEN
					sleeping := sleeping + 1;
					IF EXISTS (SELECT 1 FROM pg_stat_activity
								WHERE backend_type = 'client backend'
								  AND pid <> vac_pid AND pid <> pg_backend_pid()
								  AND wait_event = 'BufferContent') THEN
						run := run + 1;
						longest := greatest(longest, run);
					ELSE
						run := 0;
					END IF;
				ELSE
					run := 0;
				END IF;
			ELSIF seen_vacuum OR clock_timestamp() > t0 + interval '120 s' THEN
				EXIT;
			END IF;
			PERFORM pg_sleep(0.002);
		END LOOP;
	END $$;
});

my $lookups = start_workload($node,
	script => q{
SET enable_seqscan = off;
SET enable_bitmapscan = off;
\set k random(1, 300)
SELECT count(*) FROM vl WHERE k = :k;
},
	clients => 1, seconds => 600);

my $vacuum = start_session($node);
$vacuum->query_until(qr/started/, q{
	SET vacuum_cost_delay = '50ms';
	SET vacuum_cost_limit = 100;
	\echo started
	VACUUM vl;
});
my ($longest, $sleeping) =
  split /\|/, $node->safe_psql('postgres', 'SELECT * FROM watch()');
$vacuum->query_safe('SELECT 1');
$vacuum->quit;
finish_workload($lookups, kill => 1);

cmp_ok($sleeping, '>', 0,
	'the VACUUM was seen sleeping during its index pass');
cmp_ok($longest, '<', 3,
	'no lookup waited for a buffer lock while the VACUUM slept');
diag("polls with the VACUUM sleeping: $sleeping; longest run with a lookup waiting: $longest");

verify_query($node, q{
	SET enable_seqscan = off;
	SELECT xhash_check('vl_k');
	SELECT count(*) FROM vl WHERE k = 150;
}, "\n600", 'the index is sound and complete after the VACUUM');
check_server_log($node, 'server log');

done_testing();
