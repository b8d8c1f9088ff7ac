# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 023_xhash_kill_locks.pl -- a scan that marks dead entries on a bucket's
# overflow pages does not keep the bucket's other keys from being looked up.
#
# At its end, a scan whose rows the executor found dead marks their entries
# (xh_kill_flush): on the bucket page under an exclusive lock, then on the
# chain pages it took TIDs from, holding the bucket page meanwhile so that
# its removal count cannot change.  It used to hold the bucket page
# exclusively for the whole walk (about 20 ms for a chain of 300 pages), and
# every lookup of a key of that bucket waited; a share lock is enough and
# lets them go on.
#
# Such a wait lasts milliseconds and cannot be made to happen from SQL, so
# the test stops the marking backend under gdb at its first chain page
# (xh_mark_tids, whose first call is for the bucket page) and looks up
# another key of the same bucket (the index has one bucket) meanwhile.
# Without gdb, or where it cannot attach to a backend, the test is skipped.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

plan skip_all => 'gdb is not available'
  if `command -v gdb 2>/dev/null` eq '';

my $node = new_node('xhash_kill_locks', extra_conf => ['autovacuum = off']);

# one bucket: the key 2, and a chain of 20 000 entries of key 1 whose rows
# are all deleted
$node->safe_psql(
	'postgres', q{
	CREATE TABLE kl (id int4, k int4);
	CREATE INDEX kl_k ON kl USING xhash (k);
	INSERT INTO kl VALUES (0, 2);
	INSERT INTO kl SELECT g, 1 FROM generate_series(1, 20000) g;
	DELETE FROM kl WHERE k = 1;
});
my $timeout = $PostgreSQL::Test::Utils::timeout_default;

# the marking session: load the module and plan index scans first
my $a = psql_pipe($node);
$a->{in} .= q{SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM kl WHERE k = 2;
SELECT 'pid=' || pg_backend_pid();
};
pump_until_match(\$a->{out}, qr/pid=(\d+)/, $timeout)
  or die "session A did not start: $a->{err}";
my ($pid) = $a->{out} =~ /pid=(\d+)/;

my $g = gdb_attach($pid, "break xh_mark_tids\nignore 1 1\ncommands 1\nbt 3\nend\n");
if (!defined $g)
{
	$a->{h}->kill_kill;
	plan skip_all => 'gdb cannot attach to a backend here';
}

is( $node->safe_psql(
		'postgres',
		q{SELECT buckets, overflow_pages > 20, dead_entries FROM xhash_info('kl_k')}
	),
	'1|t|0',
	'one bucket with a long chain, nothing marked yet');

# the lookup that kills 20 000 entries: it stops at its first chain page
$a->{out} = '';
$a->{in} .= "SELECT 'dead=' || count(*) FROM kl WHERE k = 1;\n";
ok(pump_until_match(\$g->{out}, qr/Breakpoint 1,/, $timeout),
	'the scan stopped marking entries on a chain page')
  or diag($g->{out});
# the backtrace (bt 3: frames #0 to #2) comes after the stop itself
pump_until_match(\$g->{out}, qr/^#2 /m, $timeout);
like($g->{out}, qr/xh_kill_chain_page|xh_kill_flush/, 'called from the kill flush')
  or diag($g->{out});

# meanwhile, a lookup of the bucket's other key
my $b = psql_pipe($node);
$b->{in} .=
  "SET enable_seqscan = off;\nSET enable_bitmapscan = off;\n"
  . "SELECT 'found=' || count(*) FROM kl WHERE k = 2;\n\\q\n";
ok(pump_until_match(\$b->{out}, qr/found=1/, 30),
	'a lookup of another key of the bucket is not held up')
  or diag("session B: out '$b->{out}' err '$b->{err}'");

# let the scan go on
gdb_detach($g);
$a->{in} .= "\\q\n";
ok(pump_until_match(\$a->{out}, qr/dead=0/, $timeout),
	'the marking scan finished')
  or diag("session A: $a->{err}");
eval { $a->{h}->finish; };
eval { $b->{h}->finish; };
like($b->{out}, qr/found=1/, 'the lookup found its row');

is( $node->safe_psql(
		'postgres', q{SELECT dead_entries FROM xhash_info('kl_k')}),
	'20000',
	'the scan marked every entry of the deleted rows');
is($node->safe_psql('postgres', q{SELECT xhash_check('kl_k')}),
	'', 'the index checks out');

$node->stop;
done_testing();
