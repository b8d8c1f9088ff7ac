
# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 013_lsm_corruption.pl -- a corrupted lsm table is reported, not crashed on.
#
# Known rows are written, the server is stopped cleanly, bytes of one page
# of the table's file are overwritten, and the server is started again:
#
#   * the special area of a memtable page (page id and type),
#   * a line pointer of a memtable page (pointing past the page),
#   * the flags of a memtable page ("made for copies" on an ordinary page),
#   * a tuple header of a memtable page (header size),
#   * the metapage's magic number,
#   * the map in the metapage (a logical block mapped to the memtable page
#     of another logical block, or to a block past the end of the file),
#   * the TID prefix of an item of a shared overlay page,
#   * the table of parts of a run data page (an entry out of place, with a
#     checksum that matches; a number of parts out of range),
#   * the flags of an entry of a run data page (an unknown bit, with a
#     checksum that matches),
#   * one bit of the compressed bytes of a run data page (the checksum
#     fails).
#
# Each time lsm_check() must fail with an ERROR naming the relation and the
# block, a SELECT must fail with an ERROR (not crash the server: the
# postmaster keeps running, the log has no PANIC or crashed backend), other
# tables must be unaffected, and after the original file is put back
# lsm_check() is clean again.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

use constant BLCKSZ => 8192;

my $node = new_node('lsm_corrupt', extra_conf => ['autovacuum = off']);

$node->safe_psql(
	'postgres', q{
	CREATE TABLE victim (id int PRIMARY KEY, v text) USING lsm;
	INSERT INTO victim SELECT g, 'row ' || g FROM generate_series(1, 2000) g;
	CREATE TABLE bystander (id int PRIMARY KEY, v text) USING lsm;
	INSERT INTO bystander SELECT g, 'bystander ' || g FROM generate_series(1, 1000) g;
	CREATE TABLE plain (id int PRIMARY KEY, v text);
	INSERT INTO plain SELECT g, 'plain ' || g FROM generate_series(1, 1000) g;
});
verify_query($node, q{SELECT memtable_pages >= 3 FROM lsm_info('victim')},
	't', 'the victim has several memtable pages');

my $file = $node->data_dir . '/'
  . $node->safe_psql('postgres', q{SELECT pg_relation_filepath('victim')});
my $bystander_digest = table_digest($node, 'bystander');
my $plain_digest = table_digest($node, 'plain');

$node->stop;
my $original = slurp_file($file);
is(length($original) % BLCKSZ, 0, 'the file is a whole number of pages');

# read one page of the (stopped) server's file
sub read_page
{
	my ($blkno) = @_;
	return substr(slurp_file($file), $blkno * BLCKSZ, BLCKSZ);
}

# special area: lpo_aux (uint32), lpo_type (uint8), lpo_flags (uint8),
# lpo_page_id (uint16)
sub page_type
{
	my ($page) = @_;
	my ($aux, $type, $flags, $id) =
	  unpack('L C C S', substr($page, BLCKSZ - 8, 8));
	return $id == 0xFF91 ? $type : -1;
}

is(page_type(read_page(0)), 1, 'block 0 is the metapage');
is(page_type(read_page(1)), 4, 'block 1 is a memtable page');
is(page_type(read_page(2)), 4, 'block 2 is a memtable page');

# Offset within block $blkno of the tuple at line pointer $off.
sub tuple_offset
{
	my ($blkno, $off) = @_;
	my $lp = unpack('L', substr(read_page($blkno), 24 + 4 * ($off - 1), 4));
	return $lp & 0x7FFF;
}

# Start the server on the corrupted file and check everything; then stop it
# and put the original file back.
sub check_corruption
{
	my ($what, $blkno, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my $log_offset = log_position($node);
	$node->start;
	my $started = $node->safe_psql('postgres',
		'SELECT pg_postmaster_start_time()');

	my ($ret, $out, $err) =
	  $node->psql('postgres', q{SELECT lsm_check('victim')});
	isnt($ret, 0, "$what: lsm_check fails");
	like(
		$err,
		qr/ERROR:  lsm table "victim" is corrupted at block $blkno\b/,
		"$what: lsm_check names the relation and block");

	my %scans = (
		'a sequential scan' => '',
		'an index scan' =>
		  'SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;',
		'a bitmap scan' =>
		  'SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off;');
	foreach my $scan (sort keys %scans)
	{
		($ret, $out, $err) = $node->psql('postgres',
			"$scans{$scan} SELECT count(*), sum(length(v)) FROM victim WHERE id > 0");
		isnt($ret, 0, "$what: $scan fails");
		like($err, $opts{error} || qr/ERROR:  .*"victim"/,
			"$what: ... with an ERROR naming the relation");
		unlike($err, qr/server closed the connection|terminated abnormally/,
			"$what: ... and the backend did not crash");
	}

	if ($opts{writes})
	{
		# writes to the table run into the corruption too, without a crash
		($ret, $out, $err) = $node->psql('postgres',
			q{UPDATE victim SET v = v || '!'});
		isnt($ret, 0, "$what: an UPDATE of every row fails");
		($ret, $out, $err) = $node->psql('postgres', q{VACUUM victim});
		isnt($ret, 0, "$what: VACUUM fails");
		like($err, qr/ERROR:  lsm table "victim" is corrupted at block $blkno\b/,
			"$what: ... naming the relation and block");
	}

	is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
		$started, "$what: the server kept running");
	is(table_digest($node, 'bystander'), $bystander_digest,
		"$what: another lsm table is unaffected");
	is(table_digest($node, 'plain'), $plain_digest,
		"$what: a heap table is unaffected");
	($ret, $out, $err) =
	  $node->psql('postgres', q{SELECT lsm_check('bystander')});
	is($ret, 0, "$what: lsm_check of another lsm table is clean")
	  or diag($err);
	check_server_log($node, "$what: no PANIC or crashed backend in the log",
		offset => $log_offset);

	$node->stop;
	overwrite_file($file, $original);
	return;
}

# --- the special area of block 1 -----------------------------------------------------

write_file_bytes($file, 1 * BLCKSZ + BLCKSZ - 8, "\xAB" x 8);
check_corruption('special area of block 1', 1);

# --- a line pointer of block 2 pointing past the end of the page ------------------------

# lp_off = 8180, lp_flags = LP_NORMAL, lp_len = 200
write_file_bytes($file, 2 * BLCKSZ + 24 + 4 * 4, pack('L', 8180 | (1 << 15) | (200 << 17)));
check_corruption('line pointer of block 2', 2);

# --- a tuple header of block 1 (t_hoff) ---------------------------------------------------

my $toff = tuple_offset(1, 3);
ok($toff > 24 && $toff < BLCKSZ - 8, 'found a tuple on block 1');
write_file_bytes($file, 1 * BLCKSZ + $toff + 22, pack('C', 250));
check_corruption('tuple header on block 1', 1);

# --- the metapage magic -----------------------------------------------------------------

write_file_bytes($file, 24, pack('L', 0xDEADBEEF));
check_corruption('metapage magic', 0, writes => 1);

# --- the mark below which sequential scans find nothing (empty_below) ---------------------

# LsmMetaPageData: empty_below is 64 bytes into the page contents.  Beyond
# the logical blocks assigned, a sequential scan would pass over every row:
# it and lsm_check report the metapage instead.  Within them, only
# lsm_check can tell (a scan trusts the mark and skips those blocks).
use constant EMPTY_BELOW => 24 + 64;
is(unpack('L', substr(read_page(0), EMPTY_BELOW, 4)), 0,
	'empty_below is 0 before any VACUUM');
foreach my $case ([ 'beyond the logical blocks', 0x7FFFFFF0, 1 ],
	[ 'below rows still there', 2, 0 ])
{
	my ($what, $value, $scan_fails) = @$case;

	write_file_bytes($file, EMPTY_BELOW, pack('L', $value));
	$node->start;
	my ($ret, $out, $err) =
	  $node->psql('postgres', q{SELECT lsm_check('victim')});
	like(
		$err,
		qr/ERROR:  lsm table "victim" is corrupted at block 0\b/,
		"empty_below $what: lsm_check names the relation and the metapage");
	($ret, $out, $err) = $node->psql('postgres',
		'SELECT count(*) FROM victim WHERE id > 0');
	if ($scan_fails)
	{
		like(
			$err,
			qr/ERROR:  lsm table "victim" is corrupted at block 0\b/,
			"empty_below $what: a sequential scan fails naming the metapage");
	}
	else
	{
		is($ret, 0, "empty_below $what: a sequential scan runs");
	}
	unlike($err, qr/server closed the connection|terminated abnormally/,
		"empty_below $what: the backend did not crash");
	($ret, $out, $err) = $node->psql('postgres',
		'SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM victim WHERE id > 0'
	);
	is($ret, 0, "empty_below $what: an index scan still reads the rows");
	is(table_digest($node, 'bystander'), $bystander_digest,
		"empty_below $what: another lsm table is unaffected");
	$node->stop;
	overwrite_file($file, $original);
}

# --- the map: logical block 1 mapped to the page of logical block 2 --------------------------

# LsmMetaPageData: direct[] starts 92 bytes into the page contents
use constant DIRECT => 24 + 92;
my @direct = unpack('L4', substr(read_page(0), DIRECT, 16));
is("@direct[0..2]", '1 2 3', 'logical blocks 0, 1, 2 are on blocks 1, 2, 3');
write_file_bytes($file, DIRECT + 4, pack('L', 3));
check_corruption('map entry of logical block 1', '(?:0|2|3)');

# --- the map: logical block 1 mapped past the end of the file ------------------------------

write_file_bytes($file, DIRECT + 4, pack('L', 100000));
check_corruption('map entry past the end of the file', '(?:0|100000)',
	error => qr/ERROR:  .*(?:"victim"|block 100000)/);

# --- a line pointer shorter than a tuple header --------------------------------------------

# lp_off unchanged, lp_flags = LP_NORMAL, lp_len = 10
my $lp3 = unpack('L', substr(read_page(3), 24, 4));
write_file_bytes($file, 3 * BLCKSZ + 24, pack('L', ($lp3 & 0x7FFF) | (1 << 15) | (10 << 17)));
check_corruption('short line pointer on block 3', 3);

# --- the flags of block 1: "made for copies" on an ordinary page ---------------------------

# A flush writes no version of a page made for copies (0x10), so the flag
# on a page that holds the table's own rows must be caught before a flush
# could drop them.  (Block 1, the first the writes read: they fail before
# they change anything that putting the file back would not undo.)
my $flags1 = unpack('C', substr(read_page(1), BLCKSZ - 3, 1));
is($flags1 & 0x12, 0, 'block 1 is an ordinary memtable page');
write_file_bytes($file, 1 * BLCKSZ + BLCKSZ - 3, pack('C', $flags1 | 0x10));
check_corruption('flag "made for copies" on block 1', 1, writes => 1);

# --- the TID prefix of an item of a shared overlay page -----------------------------------

# Rows in a run, then one row changed in each logical block: the copies of
# the changed rows share an overlay page (special area flag 0x08); every
# item there starts with its TID (logical block, offset).
$node->start;
$node->safe_psql('postgres', q{SELECT lsm_compact('victim', true)});
$node->safe_psql('postgres',
	q{UPDATE victim SET v = v || '?' WHERE id % 150 = 1});
verify_query($node, q{SELECT lsm_check('victim')}, '',
	'lsm_check is clean with a shared overlay page');
$node->stop;
$original = slurp_file($file);

my $shared_blk = -1;
for my $blkno (1 .. length($original) / BLCKSZ - 1)
{
	my $page = substr($original, $blkno * BLCKSZ, BLCKSZ);
	my ($aux, $type, $flags) = unpack('L C C', substr($page, BLCKSZ - 8, 6));
	if (page_type($page) == 4 && ($flags & 0x08))
	{
		$shared_blk = $blkno;
		last;
	}
}
ok($shared_blk > 0, 'found a shared overlay page');
my $item = tuple_offset($shared_blk, 1);
ok($item > 24 && $item < BLCKSZ - 8, 'found an item on the shared overlay page');
write_file_bytes($file, $shared_blk * BLCKSZ + $item, pack('L', 0x7FFFFFF0));
check_corruption('TID prefix of an item of a shared overlay page', $shared_blk);

# --- the table of parts of a run data page ---------------------------------------------------

# CRC-32C as PostgreSQL computes it (to write a page whose checksum holds
# while its contents are wrong)
sub crc32c
{
	my ($data) = @_;
	my $crc = 0xFFFFFFFF;
	foreach my $byte (unpack('C*', $data))
	{
		$crc ^= $byte;
		$crc = ($crc & 1) ? (($crc >> 1) ^ 0x82F63B78) : ($crc >> 1)
		  for 1 .. 8;
	}
	return $crc ^ 0xFFFFFFFF;
}

# A run data page compressed in parts: LsmRunDataHeader (40 bytes) at the
# page contents (offset 24): crc at 8, raw_len at 12, comp_len at 16,
# nparts at 36; then nparts LsmRunDataPart of 16 bytes (raw_off, comp_off,
# first_entry, first TID), then the parts' bytes, which the crc covers
# with the table.
$node->start;
$node->safe_psql('postgres', q{SELECT lsm_compact('victim', true)});
verify_query($node, q{SELECT lsm_check('victim')}, '',
	'lsm_check is clean after a full compaction');
$node->stop;
$original = slurp_file($file);

my ($parts_blk, $nparts) = (-1, 0);
for my $blkno (1 .. length($original) / BLCKSZ - 1)
{
	my $page = substr($original, $blkno * BLCKSZ, BLCKSZ);
	next unless page_type($page) == 7;
	my $np = unpack('S', substr($page, 24 + 36, 2));
	if ($np >= 2)
	{
		($parts_blk, $nparts) = ($blkno, $np);
		last;
	}
}
ok($parts_blk > 0, 'found a run data page compressed in parts');

# part 1 claims to start at the first entry (and the checksum agrees)
{
	my $page = substr($original, $parts_blk * BLCKSZ, BLCKSZ);
	my ($raw_len, $comp_len) = unpack('L L', substr($page, 24 + 12, 8));
	my $covered = 16 * $nparts + ($comp_len > 0 ? $comp_len : $raw_len);
	substr($page, 64 + 16 + 6, 2) = pack('S', 0);
	substr($page, 24 + 8, 4) = pack('L', crc32c(substr($page, 64, $covered)));
	write_file_bytes($file, $parts_blk * BLCKSZ, $page);
}
check_corruption('table of parts of a run data page', $parts_blk,
	error => qr/DETAIL:  Run data page part \d+ of \d+ is out of place/);

# more parts than a page may have (found before the checksum is computed)
write_file_bytes($file, $parts_blk * BLCKSZ + 24 + 36, pack('S', 9));
check_corruption('number of parts of a run data page', $parts_blk);

# an unknown flag bit in the first entry of the page (and the checksum
# agrees): the first entry is the first literal of the first LZ4 sequence,
# after its token byte and any extra literal-length bytes
{
	my $page = substr($original, $parts_blk * BLCKSZ, BLCKSZ);
	my ($raw_len, $comp_len) = unpack('L L', substr($page, 24 + 12, 8));
	my $covered = 16 * $nparts + ($comp_len > 0 ? $comp_len : $raw_len);
	my $pos = 64 + 16 * $nparts;
	if ($comp_len > 0)
	{
		my $token = unpack('C', substr($page, $pos++, 1));
		if (($token >> 4) == 15)
		{
			$pos++ while unpack('C', substr($page, $pos, 1)) == 255;
			$pos++;
		}
	}
	my $flags = unpack('C', substr($page, $pos, 1));
	substr($page, $pos, 1) = pack('C', $flags | 0x40);
	substr($page, 24 + 8, 4) = pack('L', crc32c(substr($page, 64, $covered)));
	write_file_bytes($file, $parts_blk * BLCKSZ, $page);
}
check_corruption('unknown flag of a run entry', $parts_blk,
	error => qr/DETAIL:  Malformed entries/);

# one flipped bit in the compressed bytes, the checksum left alone (LZ4
# might well decompress them into other, well-formed entries): in the
# middle of the page, then in the last byte the checksum covers
{
	my $page = substr($original, $parts_blk * BLCKSZ, BLCKSZ);
	my ($raw_len, $comp_len) = unpack('L L', substr($page, 24 + 12, 8));
	my $covered = 16 * $nparts + ($comp_len > 0 ? $comp_len : $raw_len);
	foreach my $at (int($covered / 2), $covered - 1)
	{
		my $byte = unpack('C', substr($page, 64 + $at, 1));
		write_file_bytes($file, $parts_blk * BLCKSZ + 64 + $at, pack('C', $byte ^ 0x10));
		check_corruption("flipped bit at byte $at of a run data page",
			$parts_blk, error => qr/DETAIL:  Run data page checksum/);
	}
}

# --- the original file is clean again ------------------------------------------------------

$node->start;
verify_query($node, q{SELECT lsm_check('victim')}, '',
	'lsm_check is clean with the original file');
verify_query($node, q{SELECT count(*), sum(id) FROM victim}, '2000|2001000',
	'every row is back');
check_server_log($node, 'no PANIC or crashed backend in the whole run');

done_testing();
