# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 028_lsm_overlay_race.pl -- a row lock that finds its block given an
# overlay page by another backend while it was making one looks again,
# instead of failing when a flush frees that page in between.
#
# The first change of a row that lives only in a run copies it to an
# overlay page of its logical block (lsm_get_overlay_page).  If the block
# has none, the backend makes one (lsm_new_mem_page_internal) under the
# metapage and map locks; if it finds there that another backend mapped one
# meanwhile, it used to let go of the locks and read that page itself --
# and when a flush freed the page in between, it failed with 'memtable
# page of logical block N of "t" vanished' (found by 026_lsm_stress with
# writers flushing).  Now it returns and the caller looks again.
#
# Backend A locks row 1 and is stopped under gdb where it is about to make
# the page; B's row lock on row 2 maps one for the same block; A is stopped
# again at its next look-up of the block's page, and a flush frees B's
# page.  Without gdb, or where it cannot attach, the test is skipped.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

plan skip_all => 'gdb is not available'
  if `command -v gdb 2>/dev/null` eq '';

my $node = new_node('lsm_overlay_race', extra_conf => ['autovacuum = off']);
my $timeout = $PostgreSQL::Test::Utils::timeout_default;

$node->safe_psql(
	'postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, pad text) USING lsm;
	INSERT INTO t SELECT g, repeat('p', 20) FROM generate_series(1, 2000) g;
	SELECT lsm_compact('t', true);
	VACUUM (FREEZE) t;
});
my $mem0 = $node->safe_psql('postgres', q{SELECT memtable_pages FROM lsm_info('t')});

my ($a, $pid) = psql_pipe_pid($node);
my $g = gdb_attach($pid, "break lsm_new_mem_page_internal\n")
  or plan skip_all => 'gdb cannot attach to a backend here';

$a->{in} .= q{BEGIN;
SELECT 'locked ' || id FROM t WHERE id = 1 FOR UPDATE;
COMMIT;
\q
};
ok(pump_until_match(\$g->{out}, qr/Breakpoint 1,/, $timeout),
	'A stopped about to make an overlay page for block 0')
  or diag($g->{out});

# B's lock maps an overlay page for the same block
$node->safe_psql('postgres',
	q{BEGIN; SELECT id FROM t WHERE id = 2 FOR UPDATE \g /dev/null
	  COMMIT;});
is($node->safe_psql('postgres', q{SELECT memtable_pages FROM lsm_info('t')}),
	$mem0 + 1, 'B made an overlay page for block 0');

# A goes on until it looks the block's page up again
$g->{out} = '';
$g->{in} .= "break lsm_read_mem_page_locked\ncontinue\n";
ok(pump_until_match(\$g->{out}, qr/Breakpoint 2,/, $timeout),
	'A stopped at its next look-up of the page')
  or diag($g->{out});

# a flush frees B's page (nobody holds a pin on it)
$node->safe_psql('postgres', q{SELECT lsm_compact('t')});
is($node->safe_psql('postgres', q{SELECT memtable_pages FROM lsm_info('t')}),
	$mem0, 'the flush freed that page');

gdb_detach($g);
ok(pump_until_match(\$a->{out}, qr/locked 1/, $timeout), 'A locked its row')
  or diag("A: $a->{err}");
eval { $a->{h}->finish; };
is($a->{err}, '', 'A reports no error');

is($node->safe_psql('postgres', q{SELECT count(*) FROM t}), '2000', 'all rows');
$node->safe_psql('postgres', q{SELECT lsm_check('t')});
check_server_log($node, 'no errors in the server log', patterns => [qr/ERROR:/]);

$node->stop;
done_testing();
