#!/usr/bin/perl
#
# classify_diffs.pl AM regression.diffs [EXTENSION_OBJECT_NAMES_FILE]
#
# Reads a pg_regress regression.diffs file and prints one line per test
# that has a diff, "NAME<TAB>CLASS", CLASS being:
#
#   extension-objects   the diff only adds rows that list the extension's
#                       own catalog objects (first column of a psql table
#                       row is the name of one of them, e.g. "lsm | Table"
#                       in \dA output) and changes "(N rows)" footers --
#                       what any database with the extension installed
#                       shows, whatever the default table access method
#   am-name-only        every changed line differs from its expected line
#                       only by the access method's name
#   real                anything else
#
# Lines are compared after normalizing what a different text length
# changes in psql's aligned output (runs of spaces; runs of dashes in
# header rules).  For am-name-only, the whole word AM in the actual output
# is replaced by "heap", and the removed and added lines must be the same
# multiset.  For extension-objects, removed and added lines that are equal
# cancel out first (column widths may change); what is left must be row
# count footers and added rows naming an object listed in the names file
# (one name per line).
#
# Copyright (c) the lsm developers.  Released under the PostgreSQL license.

use strict;
use warnings;

die "usage: $0 AM regression.diffs [names-file]\n"
  unless @ARGV == 2 || @ARGV == 3;
my ($am, $file, $names_file) = @ARGV;

my %ext_name;
if (defined $names_file)
{
	open(my $nf, '<', $names_file) or die "could not open $names_file: $!\n";
	while (my $n = <$nf>)
	{
		chomp $n;
		$ext_name{$n} = 1 if $n ne '';
	}
	close $nf;
}

open(my $fh, '<', $file) or die "could not open $file: $!\n";

my (@order, %minus, %plus);
my $test;
while (my $line = <$fh>)
{
	chomp $line;
	if ($line =~ m{^diff .*\s\S*/results/([^/\s]+)\.out\s*$})
	{
		$test = $1;
		push @order, $test unless exists $minus{$test};
		$minus{$test} ||= [];
		$plus{$test}  ||= [];
		next;
	}
	next unless defined $test;
	next if $line =~ /^(?:---|\+\+\+) /;
	next if $line =~ /^@@ /;
	if ($line =~ /^-(.*)$/)
	{
		push @{ $minus{$test} }, $1;
	}
	elsif ($line =~ /^\+(.*)$/)
	{
		push @{ $plus{$test} }, $1;
	}
}
close $fh;

foreach my $t (@order)
{
	my $class =
	    extension_objects_only($minus{$t}, $plus{$t}) ? 'extension-objects'
	  : am_name_only($minus{$t}, $plus{$t}) ? 'am-name-only'
	  :                                       'real';
	printf "%s\t%s\n", $t, $class;
}

sub normalize
{
	my ($s) = @_;
	$s =~ s/-{2,}/-/g;
	$s =~ s/\s+/ /g;
	$s =~ s/^ //;
	$s =~ s/ $//;
	return $s;
}

sub am_name_only
{
	my ($minus, $plus) = @_;
	return 0 unless @$minus && @$plus;
	my @m = sort map { normalize($_) } @$minus;
	my @p = sort map {
		my $s = $_;
		$s =~ s/\b\Q$am\E\b/heap/g;
		normalize($s)
	} @$plus;
	return join("\n", @m) eq join("\n", @p);
}

sub is_row_count
{
	return $_[0] =~ /^\(\d+ rows?\)$/;
}

sub extension_objects_only
{
	my ($minus, $plus) = @_;
	return 0 unless %ext_name && @$plus;

	# cancel lines that are equal after normalization
	my %count;
	$count{ normalize($_) }++ foreach @$minus;
	my @added;
	foreach my $p (@$plus)
	{
		my $n = normalize($p);
		if ($count{$n})
		{
			$count{$n}--;
		}
		else
		{
			push @added, $n;
		}
	}
	foreach my $m (keys %count)
	{
		next unless $count{$m};
		return 0 unless is_row_count($m);
	}

	my $objects = 0;
	foreach my $a (@added)
	{
		next if is_row_count($a);
		# first cell of a psql aligned-format row
		my ($first) = split /\s*\|\s*/, $a;
		$first = '' unless defined $first;
		return 0 unless $ext_name{$first};
		$objects++;
	}
	return $objects > 0;
}
