# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 027_lsm_map_recheck.pl -- a reader that finds a memtable page gone
# between its map lookup and its read asks the map again; the page the map
# names then is the block's page, not one freed meanwhile.
#
# A reader looks a logical block's memtable page up in the map and reads
# it without holding the map: by then the page may have been flushed and
# freed (lsm_read_mem_page_hint notices and asks the map again).  Until
# 2026-12-07 that second lookup had the same gap, and a page freed in it
# was reported as corruption: 'lsm table "t" is corrupted at block N ...
# Page type "free" (5), expected "memtable"' (seen on a hot standby in
# 026_lsm_stress, where replay frees pages without waiting for pins).  Now
# the second lookup locks the page before letting go of the map
# (lsm_map_lookup_lock).
#
# Here the reader, an index fetch, is stopped under gdb right after its map
# lookups (lsm_map_lookup returning) while flushes free the page it found:
# first the one its first lookup found, then -- with the fix there is no
# such stop -- the one its second lookup found.  Without gdb, or where it
# cannot attach, the test is skipped.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

plan skip_all => 'gdb is not available'
  if `command -v gdb 2>/dev/null` eq '';

my $node = new_node('lsm_map_recheck', extra_conf => ['autovacuum = off']);
my $timeout = $PostgreSQL::Test::Utils::timeout_default;

# 2000 rows in a run (the last block's page may stay in the memtable)
$node->safe_psql(
	'postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, pad text) USING lsm;
	INSERT INTO t SELECT g, repeat('p', 20) FROM generate_series(1, 2000) g;
	SELECT lsm_compact('t', true);
	VACUUM (FREEZE) t;
});
my $mem0 = $node->safe_psql('postgres', q{SELECT memtable_pages FROM lsm_info('t')});

# a copy of row id on a memtable page of its block: a row lock that ends
sub lock_row
{
	my ($id) = @_;
	$node->safe_psql('postgres',
		qq{BEGIN; SELECT id FROM t WHERE id = $id FOR UPDATE \\g /dev/null
		   COMMIT;});
}

sub memtable_pages
{
	return $node->safe_psql('postgres', q{SELECT memtable_pages FROM lsm_info('t')});
}

lock_row(1);
is(memtable_pages(), $mem0 + 1, 'the lock put a copy on a memtable page of its own');

my ($r, $pid) = psql_pipe_pid($node);
my $g = gdb_attach($pid, "break lsm_map_lookup\n")
  or plan skip_all => 'gdb cannot attach to a backend here';

# the reader: an index fetch of row 1
$r->{in} .= q{SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT 'row ' || id || ' ' || pad FROM t WHERE id = 1;
};

# returns the block the stopped lookup returned (after "finish")
sub lookup_returns
{
	my ($what) = @_;
	ok(pump_until_match(\$g->{out}, qr/Breakpoint 1,/, $timeout),
		"the reader stopped in lsm_map_lookup ($what)")
	  or diag($g->{out});
	$g->{out} = '';
	$g->{in} .= "finish\n";
	pump_until_match(\$g->{out}, qr/Value returned is \$\d+ = (\d+)/, $timeout)
	  or diag($g->{out});
	my ($blk) = $g->{out} =~ /Value returned is \$\d+ = (\d+)/;
	$g->{out} = '';
	return $blk // -1;
}

my $first = lookup_returns('first lookup');
ok($first > 0, "its first lookup found a page ($first)");

# the flush frees that page (nobody holds a pin on it); a new row lock puts
# block 0 on another page (the freed one cannot be reused while the
# reader's snapshot is older than its release)
$node->safe_psql('postgres', q{SELECT lsm_compact('t')});
is(memtable_pages(), $mem0, 'the flush freed the page');
lock_row(2);
is(memtable_pages(), $mem0 + 1, 'block 0 has another memtable page');

$g->{in} .= "continue\n";

# the old code stops in a second lsm_map_lookup; free its page as well
my $deadline = time() + $timeout;
until ($g->{out} =~ /Breakpoint 1,/ || $r->{out} =~ /row 1 p/ || time() > $deadline)
{
	pump_until_match(\$g->{out}, qr/Breakpoint 1,/, 1);
}
if ($g->{out} =~ /Breakpoint 1,/)
{
	my $second = lookup_returns('second lookup');
	ok($second > 0 && $second != $first,
		"its second lookup found the new page ($second)");
	$node->safe_psql('postgres', q{SELECT lsm_compact('t')});
	is(memtable_pages(), $mem0, 'the flush freed that page too');
	$g->{in} .= "continue\n";
}
gdb_detach($g);

$r->{in} .= "\\q\n";
ok(pump_until_match(\$r->{out}, qr/row 1 p+/, $timeout),
	'the reader returns the row')
  or diag("reader: $r->{err}");
eval { $r->{h}->finish; };
is($r->{err}, '', 'the reader reports no corruption');

is($node->safe_psql('postgres', q{SELECT count(*) FROM t}), '2000', 'all rows');
$node->safe_psql('postgres', q{SELECT lsm_check('t')});
check_server_log($node, 'no errors in the server log', patterns => [qr/ERROR:/]);

$node->stop;
done_testing();
