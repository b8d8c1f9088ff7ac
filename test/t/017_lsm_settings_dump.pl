
# Copyright (c) the lsm developers.  Released under the PostgreSQL license.
#
# 017_lsm_settings_dump.pl -- per-table settings survive pg_dump/pg_restore.
#
#   * the rows of lsm_table_settings are dumped with the extension (it is an
#     extension configuration table) and, restored into a new database,
#     find their tables again by name although the OIDs differ;
#   * the restored tables follow them (lsm_amplification reports the
#     table's policy), and tables without rows follow the GUCs;
#   * the rows of a table dropped after the restore go with it.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LsmTest;

my $node = new_node('lsm_settings_dump', extra_conf => ['autovacuum = off']);

$node->safe_psql(
	'postgres', q{
	CREATE SCHEMA s;
	CREATE TABLE s.t1 (id int PRIMARY KEY, v text) USING lsm;
	CREATE TABLE t2 (id int, v text) USING lsm;
	CREATE TABLE t3 (id int) USING lsm;
	INSERT INTO s.t1 SELECT g, 'v' || g FROM generate_series(1, 1000) g;
	INSERT INTO t2 SELECT g, 'w' || g FROM generate_series(1, 1000) g;
	SELECT lsm_set_option('s.t1', 'compaction_policy', 'tiered');
	SELECT lsm_set_option('s.t1', 'compaction_size_ratio', '6');
	SELECT lsm_set_option('t2', 'bloom_bits_per_key', '4');
	SELECT lsm_set_option('t2', 'memtable_flush_pages', '64');
});

my $settings_q = q{SELECT rel::text, setting, value FROM lsm_table_settings
				   ORDER BY 1, 2};
my $before = $node->safe_psql('postgres', $settings_q);
is( $before,
	"s.t1|compaction_policy|tiered\n"
	  . "s.t1|compaction_size_ratio|6\n"
	  . "t2|bloom_bits_per_key|4\n"
	  . "t2|memtable_flush_pages|64",
	'settings before the dump');

my $dump = $node->basedir . '/settings.dump';
$node->command_ok(
	[ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ],
	'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
# a table created first shifts the OIDs of the restored ones
$node->safe_psql('restored', 'CREATE TABLE shift (a int)');
$node->command_ok(
	[ 'pg_restore', '-d', $node->connstr('restored'), $dump ],
	'pg_restore');

is($node->safe_psql('restored', $settings_q),
	$before, 'the settings are restored and name the same tables');
isnt(
	$node->safe_psql('restored', q{SELECT 's.t1'::regclass::oid}),
	$node->safe_psql('postgres', q{SELECT 's.t1'::regclass::oid}),
	'... although the table has another OID');
is( $node->safe_psql(
		'restored',
		q{SELECT policy || ' ' || size_ratio FROM lsm_amplification('s.t1')
		  UNION ALL
		  SELECT policy || ' ' || size_ratio FROM lsm_amplification('t3')}),
	"tiered 6\nleveled 4",
	'the restored tables follow their settings, the others the GUCs');
is($node->safe_psql('restored', 'SELECT count(*) FROM s.t1 JOIN t2 USING (id)'),
	'1000', 'the rows are restored');

$node->safe_psql('restored', 'DROP TABLE t2');
is( $node->safe_psql('restored', $settings_q),
	"s.t1|compaction_policy|tiered\ns.t1|compaction_size_ratio|6",
	'the settings of a dropped table go with it');

$node->stop;
done_testing();
