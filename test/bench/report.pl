#!/usr/bin/perl
#
# report.pl -- the report of a benchmark run (test/scripts/bench.sh).
#
#   perl test/bench/report.pl --dir RESULTS [--doc doc/benchmarks.md]
#
# Reads RESULTS/raw.tsv (every sample: workload, metric, arm, rep, value),
# RESULTS/workloads.tsv (workloads in run order: id, status, title,
# extension arm, baseline arms, seconds, note), RESULTS/meta.tsv (machine,
# versions, configuration) and RESULTS/progress/ (COPY progress samples,
# pgbench -P lines); writes
#
#   bench.txt    the table printed on stdout
#   bench.md     the same as Markdown, with the machine and configuration
#   bench.json   everything, with every sample
#   ratios.png   extension / baseline for every row (log scale)
#   ingest.png   ingest throughput over time, every arm and repetition
#   plots/       the gnuplot scripts and data behind the PNG files
#
# With --doc FILE, the part of FILE between the lines
# "<!-- bench-results:begin -->" and "<!-- bench-results:end -->" is
# replaced by bench.md.
#
# Every figure is the median of its samples; ratio = extension / baseline.
# A metric's unit and direction follow from its name: *_s seconds, *_ms
# milliseconds, *_us microseconds, *_bytes bytes (shown in MiB) -- lower is
# better; *_per_s and *_tps per second -- higher is better.
# A metric named mixed_BASE__X was measured in runs that mix the extension's
# and baseline BASE's queries, and is compared with BASE only.
#
use strict;
use utf8;
use warnings;
use Getopt::Long;
use JSON::PP;
use File::Path qw(make_path);

binmode STDOUT, ':encoding(UTF-8)';
binmode STDERR, ':encoding(UTF-8)';

my ($dir, $doc);
GetOptions('dir=s' => \$dir, 'doc=s' => \$doc) or die "usage: $0 --dir DIR [--doc FILE]\n";
die "usage: $0 --dir DIR [--doc FILE]\n" unless defined $dir;

sub read_tsv
{
	my ($file) = @_;
	my @rows;
	open(my $fh, '<:encoding(UTF-8)', $file) or die "cannot open $file: $!\n";
	my $header = <$fh>;
	chomp $header;
	my @cols = split /\t/, $header, -1;
	while (my $line = <$fh>)
	{
		chomp $line;
		next if $line eq '';
		my @f = split /\t/, $line, -1;
		my %r;
		@r{@cols} = @f;
		push @rows, \%r;
	}
	close $fh;
	return @rows;
}

# ---------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------
my @workloads = read_tsv("$dir/workloads.tsv");
my @raw = read_tsv("$dir/raw.tsv");

my %meta;
my @config;
open(my $mfh, '<:encoding(UTF-8)', "$dir/meta.tsv") or die "cannot open $dir/meta.tsv: $!\n";
while (my $line = <$mfh>)
{
	chomp $line;
	my ($k, $v) = split /\t/, $line, 2;
	next unless defined $v;
	if ($k eq 'config') { push @config, $v; }
	else { $meta{$k} = $v; }
}
close $mfh;

# samples{workload}{metric}{arm} = [values in run order]
my (%samples, %metric_order);
for my $r (@raw)
{
	my ($w, $m) = ($r->{workload}, $r->{metric});
	push @{ $metric_order{$w} }, $m unless exists $samples{$w}{$m};
	push @{ $samples{$w}{$m}{ $r->{arm} } }, 0 + $r->{value};
}

sub median
{
	my @v = sort { $a <=> $b } @_;
	return undef unless @v;
	my $n = scalar @v;
	return $n % 2 ? $v[ ($n - 1) / 2 ] : ($v[ $n / 2 - 1 ] + $v[ $n / 2 ]) / 2;
}

# unit, direction and label of a metric, from its name
sub metric_info
{
	my ($m) = @_;
	my ($base, $unit, $better, $scale);
	if ($m =~ /^(.*)_bytes$/) { ($base, $unit, $better, $scale) = ($1, 'MiB', 'lower', 1 / 1048576); }
	elsif ($m =~ /^(.*)_ms$/) { ($base, $unit, $better, $scale) = ($1, 'ms', 'lower', 1); }
	elsif ($m =~ /^(.*)_us$/) { ($base, $unit, $better, $scale) = ($1, 'µs', 'lower', 1); }
	elsif ($m =~ /^(.*)_rows_per_s$/) { ($base, $unit, $better, $scale) = ($1, 'rows/s', 'higher', 1); }
	elsif ($m =~ /^(.*)_per_s$/) { ($base, $unit, $better, $scale) = ($1, '/s', 'higher', 1); }
	elsif ($m =~ /^(.*)_tps$/) { ($base, $unit, $better, $scale) = ($1, 'tps', 'higher', 1); }
	elsif ($m =~ /^(.*)_s$/) { ($base, $unit, $better, $scale) = ($1, 's', 'lower', 1); }
	else { ($base, $unit, $better, $scale) = ($m, '', '', 1); }
	my $label = $base;
	# mixed_BASE__X: X measured in runs that mix the extension and BASE
	$label =~ s/^mixed_.+?__(.*)$/$1, mixed runs/;
	$label =~ s/_/ /g;
	$label =~ s/\bwal\b/WAL/g;
	$label =~ s/\btpcb\b/tpcb-like/g;
	$label =~ s/^count$/count(*)/;
	$label =~ s/^sum$/sum(v)/;
	$label =~ s/\bvacuum analyze\b/VACUUM ANALYZE/g;
	$label =~ s/\bvacuum\b/VACUUM/g;
	$label =~ s/\bcopy\b/COPY/g;
	$label =~ s/\bcompact\b/lsm_compact/g;
	$label .= " ($unit)" if $unit ne '';
	return { label => $label, unit => $unit, better => $better, scale => $scale };
}

# (max - min) / median of the samples, in per cent; undef for fewer than two
sub spread
{
	my @v = @_;
	return undef if @v < 2;
	my $m = median(@v);
	my ($lo, $hi) = (sort { $a <=> $b } @v)[ 0, -1 ];
	return undef if $m == 0;
	return 100 * ($hi - $lo) / abs($m);
}

sub fmt_spread
{
	my ($b, $e) = @_;
	return '' if !defined $b && !defined $e;
	return join('/', map { defined $_ ? sprintf('%.0f%%', $_) : '-' } $b, $e);
}

sub fmt
{
	my ($v, $info) = @_;
	return '-' unless defined $v;
	$v *= $info->{scale};
	my $a = abs($v);
	return sprintf('%.0f', $v) if $a >= 1000;
	return sprintf('%.1f', $v) if $a >= 100;
	return sprintf('%.2f', $v) if $a >= 10;
	return sprintf('%.3f', $v) if $a >= 0.01 || $a == 0;
	return sprintf('%.2g', $v);
}

sub fmt_ratio
{
	my ($r) = @_;
	return '-' unless defined $r;
	return sprintf('%.0f', $r) if $r >= 100;
	return sprintf('%.2f', $r);
}

# ---------------------------------------------------------------------------
# comparison rows
# ---------------------------------------------------------------------------
my (@rows, @skipped, @failed_wl, @json_workloads);
for my $w (@workloads)
{
	my $id = $w->{id};
	if ($w->{status} eq 'skipped')
	{
		push @skipped, { workload => $id, title => $w->{title}, reason => $w->{note} };
		next;
	}
	push @failed_wl, $id if $w->{status} ne 'ok';
	my $ext = $w->{extension};
	my @bases = split ' ', $w->{baselines};
	my @jrows;
	for my $m (@{ $metric_order{$id} || [] })
	{
		my $info = metric_info($m);
		my $s = $samples{$id}{$m};
		my $ev = median(@{ $s->{$ext} || [] });
		for my $b (@bases)
		{
			# a metric of runs mixed with one baseline (mixed_BASE__...) is
			# compared with that baseline only
			next if $m =~ /^mixed_(.+?)__/ && $1 ne $b;
			my $bv = median(@{ $s->{$b} || [] });
			# a metric no arm measured against this baseline: skip the pair
			next if !defined $bv && !defined $ev;
			my $ratio = (defined $bv && defined $ev && $bv != 0) ? $ev / $bv : undef;
			my $row = {
				workload => $id,
				metric => $m,
				label => $info->{label},
				unit => $info->{unit},
				better => $info->{better},
				baseline => $b,
				extension => $ext,
				baseline_value => $bv,
				extension_value => $ev,
				ratio => $ratio,
				spread_baseline => spread(@{ $s->{$b} || [] }),
				spread_extension => spread(@{ $s->{$ext} || [] }),
				n_baseline => scalar @{ $s->{$b} || [] },
				n_extension => scalar @{ $s->{$ext} || [] },
				info => $info,
			};
			push @rows, $row;
			push @jrows, {
				metric => $m,
				label => $info->{label},
				unit => $info->{unit},
				better => $info->{better},
				baseline => $b,
				baseline_value => $bv,
				extension_value => $ev,
				ratio => $ratio,
				samples => { $b => $s->{$b} || [], $ext => $s->{$ext} || [] },
			};
			# metrics only the extension has (e.g. lsm_compact): one row
			last if !defined $bv && @bases > 1;
		}
	}
	push @json_workloads, {
		id => $id,
		title => $w->{title},
		status => $w->{status},
		extension => $ext,
		baselines => \@bases,
		seconds => 0 + $w->{seconds},
		rows => \@jrows,
	};
}

# ---------------------------------------------------------------------------
# text table
# ---------------------------------------------------------------------------
my @head = ('workload', 'metric', 'vs', 'heap/core', 'extension', 'ratio', 'better', 'n', 'spread');
my @tab;
for my $r (@rows)
{
	push @tab, [
		$r->{workload}, $r->{label}, $r->{baseline},
		fmt($r->{baseline_value}, $r->{info}), fmt($r->{extension_value}, $r->{info}),
		fmt_ratio($r->{ratio}), $r->{better},
		"$r->{n_baseline}/$r->{n_extension}",
		fmt_spread($r->{spread_baseline}, $r->{spread_extension}),
	];
}
my @width = map { length $_ } @head;
for my $t (@tab)
{
	for my $i (0 .. $#$t)
	{
		$width[$i] = length $t->[$i] if length $t->[$i] > $width[$i];
	}
}
my @right = (0, 0, 0, 1, 1, 1, 0, 1, 1);

sub text_line
{
	my @f = @_;
	return join('  ', map { $right[$_] ? sprintf('%*s', $width[$_], $f[$_]) : sprintf('%-*s', $width[$_], $f[$_]) } 0 .. $#f) =~ s/\s+$//r;
}

my $machine = sprintf('%s cores, %s RAM, %s, %s', $meta{nproc} // '?', $meta{memory} // '?',
	$meta{cpu} // '?', $meta{kernel} // '?');
my $text = '';
$text .= "lsm benchmark, scale $meta{scale}, $meta{date}\n";
$text .= "machine:    $machine\n";
$text .= "server:     $meta{postgresql}\n";
$text .= "lsm:        $meta{lsm_version}, commit $meta{git}\n";
$text .= "parameters: $meta{parameters}\n";
$text .= "config:     " . join(', ', @config) . "\n";
$text .= sprintf("time:       %s s of workloads, %s s in all\n", $meta{workload_seconds} // '?',
	$meta{total_seconds} // '?');
$text .= "ratio = extension / baseline (heap, or the core index AM named under \"vs\"); figures are medians of n samples\n";
$text .= "(baseline/extension); spread = (max - min) / median of the samples, baseline/extension\n\n";
$text .= text_line(@head) . "\n";
$text .= text_line(map { '-' x $_ } @width) . "\n";
my $prev = '';
for my $i (0 .. $#tab)
{
	my @f = @{ $tab[$i] };
	my $same = $f[0] eq $prev;
	$prev = $f[0];
	$f[0] = '' if $same;
	$text .= text_line(@f) . "\n";
}
$text .= "\n";
for my $w (@json_workloads)
{
	$text .= sprintf("%-20s %4d s  %s%s\n", $w->{id}, $w->{seconds}, $w->{title},
		$w->{status} eq 'ok' ? '' : "  ** $w->{status} **");
}
for my $s (@skipped)
{
	$text .= sprintf("%-20s %4s    %s: %s\n", $s->{workload}, '-', $s->{title}, $s->{reason});
}
print $text;
write_file("$dir/bench.txt", $text);

# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------
my $md = '';
$md .= "Measured $meta{date} at scale `$meta{scale}` on $machine;\n";
$md .= "$meta{postgresql}; lsm $meta{lsm_version}, commit $meta{git}.\n";
$md .= sprintf("Workloads took %s s (the whole run %s s).\n\n", $meta{workload_seconds} // '?',
	$meta{total_seconds} // '?');
$md .= "Ratio = extension ÷ baseline; each figure is the median of *n* samples (baseline/extension);\n";
$md .= "spread = (max − min) ÷ median of the samples (baseline/extension).\n\n";
$md .= "| workload | metric | vs | heap/core | extension | ratio | better | n | spread |\n";
$md .= "|---|---|---|--:|--:|--:|---|--:|--:|\n";
$prev = '';
for my $i (0 .. $#tab)
{
	my @f = @{ $tab[$i] };
	my $same = $f[0] eq $prev;
	$prev = $f[0];
	$f[0] = $same ? '' : "`$f[0]`";
	$md .= '| ' . join(' | ', @f) . " |\n";
}
if (@skipped)
{
	$md .= "\n";
	$md .= "- `$_->{workload}` ($_->{title}): $_->{reason}\n" for @skipped;
}
if (@failed_wl)
{
	$md .= "\n**Failed:** " . join(', ', map { "`$_`" } @failed_wl) . " (figures above are partial).\n";
}
$md .= "\nWorkloads, in run order, with the time each took:\n\n";
$md .= "- `$_->{id}` ($_->{seconds} s): $_->{title}\n" for @json_workloads;
$md .= "\nParameters: `$meta{parameters}`.\n";
$md .= "\nConfiguration: " . join(', ', map { "`$_`" } @config) . ".\n";
write_file("$dir/bench.md", $md);

# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------
my $json = {
	date => $meta{date},
	scale => $meta{scale},
	rounds => 0 + ($meta{rounds} // 1),
	machine => {
		nproc => 0 + ($meta{nproc} // 0),
		memory => $meta{memory},
		cpu => $meta{cpu},
		kernel => $meta{kernel},
	},
	postgresql => $meta{postgresql},
	lsm_version => $meta{lsm_version},
	git => $meta{git},
	parameters => $meta{parameters},
	configuration => \@config,
	workload_seconds => 0 + ($meta{workload_seconds} // 0),
	total_seconds => 0 + ($meta{total_seconds} // 0),
	ratio => 'extension / baseline, medians',
	workloads => \@json_workloads,
	skipped => \@skipped,
	failed => \@failed_wl,
};
write_file("$dir/bench.json", JSON::PP->new->pretty->canonical->encode($json));

# ---------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------
make_path("$dir/plots");
my $have_gnuplot = system('sh', '-c', 'command -v gnuplot >/dev/null 2>&1') == 0;
warn "report: gnuplot not found, no PNG files\n" unless $have_gnuplot;

# ratios.png: one horizontal bar per row with a ratio, log scale around 1
my @pr = grep { defined $_->{ratio} && $_->{ratio} > 0 } @rows;
if (@pr)
{
	my ($lo, $hi) = (1, 1);
	open(my $fh, '>:encoding(UTF-8)', "$dir/plots/ratios.dat") or die;
	my $i = 0;
	for my $r (@pr)
	{
		my $x = $r->{ratio};
		$lo = $x if $x < $lo;
		$hi = $x if $x > $hi;
		my $good = $r->{better} eq 'lower' ? $x < 1 : $r->{better} eq 'higher' ? $x > 1 : 0;
		my $color = abs(log($x)) < 0.02 ? 0x888888 : $good ? 0x2ca02c : 0xd62728;
		my $label = "$r->{workload}: $r->{label}" . ($r->{baseline} ne 'heap' ? " vs $r->{baseline}" : '');
		printf $fh "%d\t%g\t%g\t%d\t%s\t%s\n", $i++, ($x < 1 ? $x : 1), ($x < 1 ? 1 : $x), $color,
			$label, fmt_ratio($x);
	}
	close $fh;
	$lo /= 1.6;
	$hi *= 1.6;
	my @tics = grep { $_ >= $lo && $_ <= $hi }
	  map { my $e = $_; map { $_ * 10**$e } 1, 2, 5 } -4 .. 4;
	my $tics = join(', ', map { sprintf('"%s" %s', $_, $_) } map { 0 + sprintf('%.4g', $_) } @tics);
	my $h = 140 + 19 * scalar @pr;
	my $n = scalar @pr;
	my $gp = <<"EOF";
set encoding utf8
set terminal pngcairo size 1200,$h font "sans,9" noenhanced
set output '$dir/ratios.png'
set datafile separator "\\t"
set title "lsm benchmark ($meta{scale}, $meta{date}): extension / baseline, medians\\ngreen: extension better, red: worse, grey: within 2 %"
set logscale x 10
set xrange [$lo:$hi]
set xtics ($tics)
set yrange [$n:-1]
set ytics scale 0 font "sans,8"
set xtics nomirror
set grid xtics
set lmargin 44
set style fill solid 0.8 noborder
set arrow from 1, graph 0 to 1, graph 1 nohead lw 1.5 lc rgb "black"
plot '$dir/plots/ratios.dat' using (sqrt(\$2*\$3)):1:2:3:(\$1-0.38):(\$1+0.38):4:ytic(5) with boxxyerror lc rgb variable notitle, \\
     '' using 3:1:(" ".strcol(6)) with labels left font "sans,8" notitle
EOF
	write_file("$dir/plots/ratios.gp", $gp);
	system('gnuplot', "$dir/plots/ratios.gp") == 0 or warn "report: gnuplot failed on ratios.gp\n"
	  if $have_gnuplot;
}

# ingest.png: throughput over time of the ingest workloads
my @panels;
for my $w (@json_workloads)
{
	my $id = $w->{id};
	opendir(my $dh, "$dir/progress") or last;
	my @files = sort grep { /^\Q$id\E\.[a-z0-9_]+\.\d+\.(copy|pgbench)$/ } readdir $dh;
	closedir $dh;
	next unless @files && $id =~ /^ingest_/;
	my @series;
	for my $f (@files)
	{
		my ($arm, $rep, $kind) = $f =~ /^\Q$id\E\.([a-z0-9_]+)\.(\d+)\.(copy|pgbench)$/;
		my @pts;
		open(my $fh, '<', "$dir/progress/$f") or next;
		if ($kind eq 'copy')
		{
			# "epoch|rows" samples, rows -1 while no COPY runs: the load
			# started after the last -1 sample before the first count
			# and ended before the first -1 sample after it
			my ($t0, $pt, $pn);
			while (<$fh>)
			{
				next unless /^([0-9.]+)\|(-?\d+)$/;
				my ($t, $n) = ($1, $2);
				if ($n < 0)
				{
					last if defined $t0;
					$pt = $t;
					$pn = 0;
					next;
				}
				$t0 //= $pt // $t;
				$pn //= $n;
				$pt //= $t;
				push @pts, [ $t - $t0, ($n - $pn) / ($t - $pt) ] if $t > $pt;
				($pt, $pn) = ($t, $n);
			}
		}
		else
		{
			while (<$fh>)
			{
				push @pts, [ $1, $2 ] if /^progress: ([0-9.]+) s, ([0-9.]+) tps/;
			}
		}
		close $fh;
		next unless @pts;
		my $dat = "$dir/plots/$id.$arm.$rep.dat";
		open(my $out, '>', $dat) or die;
		printf $out "%.3f\t%.1f\n", @$_ for @pts;
		close $out;
		push @series, { arm => $arm, rep => $rep, file => $dat };
	}
	next unless @series;
	my $unit = $files[0] =~ /\.pgbench$/ ? 'transactions/s' : 'rows/s';
	push @panels, { id => $id, title => $w->{title}, unit => $unit, series => \@series };
}
if (@panels)
{
	my $cols = @panels > 1 ? 2 : 1;
	my $nrows = int((@panels + $cols - 1) / $cols);
	my ($wpx, $hpx) = (600 * $cols, 360 * $nrows + 40);
	my %color = (heap => '#1f77b4', lsm => '#ff7f0e');
	my $gp = <<"EOF";
set terminal pngcairo size $wpx,$hpx font "sans,9" noenhanced
set output '$dir/ingest.png'
set datafile separator "\\t"
set multiplot layout $nrows,$cols title "lsm benchmark ($meta{scale}, $meta{date}): ingest throughput over time"
set xlabel "seconds since the start of the load"
set grid
set key top right
set yrange [0:*]
set xrange [0:*]
EOF
	for my $p (@panels)
	{
		(my $t = $p->{title}) =~ s/"/\\"/g;
		$t =~ s/^ingest: //;
		$gp .= "set title \"$t\" font \"sans,9\"\nset ylabel \"$p->{unit}\"\n";
		my @plot;
		for my $s (@{ $p->{series} })
		{
			my $c = $color{ $s->{arm} } // '#7f7f7f';
			my $dt = $s->{rep} == 1 ? 1 : 2;
			push @plot, "'$s->{file}' using 1:2 with linespoints pt 7 ps 0.4 lw 1.5 dt $dt lc rgb '$c' title '$s->{arm} #$s->{rep}'";
		}
		$gp .= 'plot ' . join(", \\\n     ", @plot) . "\n";
	}
	$gp .= "unset multiplot\n";
	write_file("$dir/plots/ingest.gp", $gp);
	system('gnuplot', "$dir/plots/ingest.gp") == 0 or warn "report: gnuplot failed on ingest.gp\n"
	  if $have_gnuplot;
}

# ---------------------------------------------------------------------------
# doc/benchmarks.md
# ---------------------------------------------------------------------------
if (defined $doc)
{
	open(my $fh, '<:encoding(UTF-8)', $doc) or die "cannot open $doc: $!\n";
	local $/;
	my $content = <$fh>;
	close $fh;
	my $begin = '<!-- bench-results:begin -->';
	my $end = '<!-- bench-results:end -->';
	if ($content =~ /\Q$begin\E.*?\Q$end\E/s)
	{
		$content =~ s/\Q$begin\E.*?\Q$end\E/$begin\n$md$end/s;
		write_file($doc, $content);
		print "report: updated the results in $doc\n";
	}
	else
	{
		warn "report: $doc has no $begin ... $end section; not updated\n";
	}
}

sub write_file
{
	my ($file, $content) = @_;
	open(my $fh, '>', $file) or die "cannot write $file: $!\n";
	binmode $fh, ':utf8';
	print $fh $content;
	close $fh;
}
