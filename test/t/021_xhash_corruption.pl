
# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 021_xhash_corruption.pl -- a corrupted xhash index is reported with an
# ERROR naming the index and a block, promptly, without writing to the
# index and without unbounded memory use.
#
# An index with a directory of several slots, many buckets and one overflow
# chain (a key with 2 000 rows) is built, the server is stopped, bytes of
# one page of the index file are overwritten and the server is started
# again:
#
#   * the metapage's global depth (one less: every directory page now
#     contradicts the metapage -- lookups used to retry forever);
#   * a directory slot set to 0xFFFFFFFF (InvalidBlockNumber, which the
#     buffer manager takes for "extend the relation": a read-only lookup
#     used to add a page to the index each time);
#   * the link of an overflow page pointing to itself (a lookup of the
#     chain's key used to gather TIDs until memory ran out);
#   * the hash prefix of an overflow page (what a hot standby's scan sees
#     when a stale link leads it into a page recycled for another bucket's
#     chain: it starts over, and fails if the chain really is like that);
#   * the top 32 hash bits of an overflow page (the same, for a page
#     recycled for another key's chain of the same bucket);
#   * the link of an overflow page into a deleted page of another chain
#     (the same, for a page recycled for another chain and deleted again);
#   * the block of a chain entry set to 0xFFFFFFFF (it would end the walk
#     before it starts, and is P_NEW to ReadBuffer);
#   * a flag bit no version of the format defines, on every bucket page;
#
# and last, an index whose pages all say format version 2 (before the dead
# bit): refused with the hint to REINDEX, which makes it usable again.
#
# Each time a lookup, an INSERT and xhash_check() must fail with an ERROR
# that names the index (statement_timeout catches a loop), the index file
# must keep its size, the server must keep running with no crash in the
# log, and after the original file is put back everything works again.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

use constant BLCKSZ => 8192;

my $node = new_node('xhash_corrupt', extra_conf => ['autovacuum = off']);

$node->safe_psql(
	'postgres', q{
	CREATE TABLE xc (k int8, v int4);
	INSERT INTO xc SELECT g, g FROM generate_series(1, 30000) g;
	INSERT INTO xc SELECT 42, -g FROM generate_series(1, 2000) g;
	INSERT INTO xc SELECT 43, -g FROM generate_series(1, 2000) g;
	CREATE INDEX xc_k ON xc USING xhash (k);
	DELETE FROM xc WHERE k = 43;
	VACUUM xc;
});
verify_query($node,
	q{SELECT global_depth >= 2 AND overflow_pages >= 1 FROM xhash_info('xc_k')},
	't', 'the index has a directory of several slots and an overflow chain');

my $file = $node->data_dir . '/'
  . $node->safe_psql('postgres', q{SELECT pg_relation_filepath('xc_k')});
$node->stop;
my $original = slurp_file($file);
is(length($original) % BLCKSZ, 0, 'the file is a whole number of pages');
my $npages = length($original) / BLCKSZ;

# The special space (last 24 bytes): next, link, prefix, aux (uint32 each),
# nsorted (uint16), depth, kind, version, flags (uint8 each), page id.
sub page_kind
{
	my ($blkno) = @_;
	my ($next, $link, $prefix, $aux, $nsorted, $depth, $kind) =
	  unpack('L L L L S C C', substr($original, ($blkno + 1) * BLCKSZ - 24, 20));
	return $kind;
}

# The metapage's contents start at byte 24: magic, version (uint32), seed
# (uint64), global depth, first directory block, directory pages (uint32).
my ($magic, $version, $seed_lo, $seed_hi, $depth, $dir_start, $dir_npages) =
  unpack('L L L L L L L', substr($original, 24, 28));
is($magic, 0x58484153, 'block 0 is the metapage');
is(page_kind($dir_start), 2, 'the metapage names the directory');
my ($overflow) = grep { page_kind($_) == 4 } (1 .. $npages - 1);
ok(defined $overflow, 'found an overflow page');
my ($deleted) = grep { page_kind($_) == 5 } (1 .. $npages - 1);
ok(defined $deleted, 'found a deleted page (of the chain VACUUM emptied)');

# Start the server on the corrupted file and check everything; then stop it
# and put the original file back.
sub check_corruption
{
	my ($what, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my $log_offset = log_position($node);
	$node->start;
	my $started =
	  $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
	my $guard = q{SET statement_timeout = '60s'; SET enable_seqscan = off; };

	my %stmts = (
		'a lookup' => "SELECT count(*) FROM xc WHERE k = $opts{key}",
		'xhash_check' => q{SELECT xhash_check('xc_k')});
	$stmts{'an INSERT'} = "INSERT INTO xc VALUES ($opts{key}, 0)"
	  if $opts{insert};
	foreach my $stmt (sort keys %stmts)
	{
		my ($ret, $out, $err) =
		  $node->psql('postgres', $guard . $stmts{$stmt});
		isnt($ret, 0, "$what: $stmt fails");
		like($err, qr/ERROR:  index "xc_k" (contains corrupted page|is corrupted) at block \d+/,
			"$what: ... with an ERROR naming the index and a block");
		like($err, $opts{error}, "$what: ... saying what is wrong")
		  if $opts{error};
		unlike($err, qr/statement timeout|server closed the connection/,
			"$what: ... at once, without a crash");
	}
	is($node->safe_psql('postgres', q{SELECT pg_relation_size('xc_k') / 8192}),
		$npages, "$what: the index file kept its size");
	is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
		$started, "$what: the server kept running");
	check_server_log($node, "$what: no PANIC or crashed backend in the log",
		offset => $log_offset);

	$node->stop;
	overwrite_file($file, $original);
	return;
}

# --- the metapage's global depth -----------------------------------------------------------

write_file_bytes($file, 40, pack('L', $depth - 1));
check_corruption('global depth one less', key => 777, insert => 1);

# --- every directory slot names no page ------------------------------------------------------

foreach my $d ($dir_start .. $dir_start + $dir_npages - 1)
{
	my $pd_lower = unpack('S', substr($original, $d * BLCKSZ + 12, 2));
	write_file_bytes($file, $d * BLCKSZ + 24, "\xFF" x ($pd_lower - 24));
}
check_corruption('directory slots of 0xFFFFFFFF', key => 777, insert => 1);

# --- an overflow page linked to itself ------------------------------------------------------

# (an INSERT of a non-unique key only touches the head of the chain)
write_file_bytes($file, ($overflow + 1) * BLCKSZ - 24, pack('L', $overflow));
check_corruption('overflow chain loop', key => 42);

# --- an overflow page of another hash range -------------------------------------------------

# What a hot standby's scan can meet when it follows a stale link into a
# page recycled for another bucket's chain: the scan starts over from the
# bucket, and gives up with an error when the chain itself is like that.
my ($o_next, $o_link, $o_prefix, $o_aux, $o_nsorted, $o_depth) =
  unpack('L L L L S C', substr($original, ($overflow + 1) * BLCKSZ - 24, 19));
ok($o_depth > 0, 'the overflow page has a hash prefix');
write_file_bytes($file, ($overflow + 1) * BLCKSZ - 24 + 8, pack('L', $o_prefix ^ 1));
check_corruption('overflow page of another range', key => 42,
	error => qr/pages that are not its own|another hash range/);

# --- an overflow page of another chain of the same range ----------------------------------

# The same, for a page recycled for another key's chain in the same bucket:
# its top 32 hash bits differ.
write_file_bytes($file, ($overflow + 1) * BLCKSZ - 24 + 12, pack('L', $o_aux ^ 1));
check_corruption('overflow page of another chain', key => 42,
	error => qr/pages that are not its own|belongs to another chain/);

# --- a link into a deleted page of another chain -----------------------------------------

# What a hot standby's scan can meet when the page its stale link leads to
# was recycled for another chain and deleted again: it must not follow the
# deleted page's link (the end of the other chain) but start over, and
# fail if the chain really is like that.
write_file_bytes($file, ($overflow + 1) * BLCKSZ - 24, pack('L', $deleted));
check_corruption('link into a deleted page of another chain', key => 42,
	error => qr/pages that are not its own|not an overflow page/);

# --- a chain entry that leads to no page ----------------------------------------------------

# The chain entry of the frequent key: an entry with offset 0 on a bucket
# page.  Its block, 0xFFFFFFFF, would end the walk at once (the key's rows
# silently missing) and is P_NEW to the buffer manager.
my $chain_entry;
foreach my $blkno (grep { page_kind($_) == 3 } (1 .. $npages - 1))
{
	my $pd_lower = unpack('S', substr($original, $blkno * BLCKSZ + 12, 2));
	for (my $off = 24; $off + 12 <= $pd_lower; $off += 12)
	{
		my ($key_hi, $key_lo, $blk) =
		  unpack('L L L', substr($original, $blkno * BLCKSZ + $off, 12));
		$chain_entry = $blkno * BLCKSZ + $off if ($key_lo & 511) == 0;
	}
}
ok(defined $chain_entry, 'found the chain entry');
write_file_bytes($file, $chain_entry + 8, pack('L', 0xFFFFFFFF));
check_corruption('chain entry leading to no page', key => 42, insert => 1,
	error => qr/chain entry leads to no overflow page/);

# --- unknown page flags on every bucket page ------------------------------------------------

foreach my $blkno (grep { page_kind($_) == 3 } (1 .. $npages - 1))
{
	write_file_bytes($file, ($blkno + 1) * BLCKSZ - 3, pack('C', 0x80));
}
check_corruption('unknown page flags', key => 777, insert => 1,
	error => qr/page flags are unknown/);

# --- all is well again with the original file ---------------------------------------------

$node->start;
verify_query($node, q{SELECT xhash_check('xc_k') IS NOT NULL}, 't',
	'the original file passes xhash_check');
verify_query($node,
	q{SET enable_seqscan = off; SELECT count(*) FROM xc WHERE k = 42},
	'2001', 'the chain key is found through the index');
$node->stop;

# --- an index of format version 2 (before the dead bit) -------------------------------------

# Every page's special space says version 2; the index must be refused
# with the hint to REINDEX it, and REINDEX must make it usable again.
foreach my $blkno (0 .. $npages - 1)
{
	write_file_bytes($file, ($blkno + 1) * BLCKSZ - 4, pack('C', 2));
}
$node->start;
{
	my ($ret, $out, $err) = $node->psql('postgres',
		q{SET enable_seqscan = off; SELECT count(*) FROM xc WHERE k = 777});
	isnt($ret, 0, 'version 2 index: a lookup fails');
	like($err,
		qr/ERROR:  version mismatch in index "xc_k" at block 0: page version 2, current version 3/,
		'version 2 index: ... naming the versions');
	like($err, qr/HINT:  REINDEX the index/, 'version 2 index: ... with the hint to REINDEX');
}
verify_query($node,
	q{REINDEX INDEX xc_k; SET enable_seqscan = off;
	  SELECT count(*) FROM xc WHERE k = 777; SELECT xhash_check('xc_k') IS NOT NULL},
	"1\nt", 'version 2 index: REINDEX makes it usable again');
$node->stop;

done_testing();
