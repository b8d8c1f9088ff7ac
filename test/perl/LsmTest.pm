
# Copyright (c) the lsm developers.  Released under the PostgreSQL license.

=pod

=head1 NAME

LsmTest - helpers for the lsm extension's TAP tests

=head1 SYNOPSIS

  use strict;
  use warnings;
  use PostgreSQL::Test::Cluster;
  use PostgreSQL::Test::Utils;
  use Test::More;
  use LsmTest;

  my ($primary, $standby) = primary_and_standby('mytest');
  $primary->safe_psql('postgres', 'CREATE TABLE t (a int) USING lsm');
  compare_query($primary, $standby, 'SELECT count(*) FROM t', 'same count');

  crash_and_restart($primary);
  verify_after_recovery($primary, 'SELECT count(*) FROM t', '0', 'empty');

  done_testing();

=head1 DESCRIPTION

Built on PostgreSQL::Test::Cluster and PostgreSQL::Test::Utils (shipped
with postgresql-server-dev-15).  test/scripts/run_tests.sh runs every
test/t/*.pl with this directory on PERL5LIB, as the postgres OS user.

All nodes use Unix sockets only, C<wal_consistency_checking = 'generic'>
(so that every generic WAL record carries full-page images which redo --
crash recovery or a standby -- compares with the pages it rebuilt), and
have C<CREATE EXTENSION lsm> done in the test database.

Every function dies (croaks) on a setup error instead of returning a
status, so that a broken setup never looks like a passing test.  The
functions that make assertions report failures at the caller's line and
honour the caller's C<$TODO>.

=cut

package LsmTest;

use strict;
use warnings;

use Carp;
use POSIX ();
use Exporter 'import';
use IPC::Run;
use Time::HiRes ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(
  new_node
  primary_and_standby
  wait_for_replay
  compare_query
  crash_and_restart
  verify_query
  verify_after_recovery
  check_server_log
  server_log_problems
  log_position
  table_digest
  write_file_bytes
  overwrite_file
  has_am
  start_session
  last_query
  start_workload
  finish_workload
  check_workloads
  start_verifiers
  psql_pipe
  psql_pipe_pid
  pump_until_match
  gdb_attach
  gdb_detach
);

# Lines matched in server logs by check_server_log.  Signal 9 (SIGKILL) is
# left out on purpose: tests kill backends deliberately.
our @LOG_PROBLEMS = (
	qr/PANIC:/,
	qr/inconsistent page found/,
	qr/TRAP:/,
	qr/was terminated by signal (?:4|6|7|8|11)\b/,
	qr/was terminated by exception/,
);

# Settings for a node whose tables are vacuumed all the time, as under a
# long pgbench run (extra_conf of the pgbench tests).
our @BUSY_AUTOVACUUM_CONF = (
	'autovacuum_naptime = 1s',
	'autovacuum_vacuum_scale_factor = 0.01',
	'autovacuum_vacuum_insert_scale_factor = 0.01',
	'autovacuum_analyze_scale_factor = 0.01',
	'max_wal_size = 1GB',
);

# Settings every node gets.  The Cluster.pm defaults for streaming nodes
# (shared_buffers = 1MB, max_connections = 10) are too small for workloads.
our %DEFAULT_CONF = (
	shared_buffers            => '32MB',
	max_connections           => '20',
	max_prepared_transactions => '10',
	wal_consistency_checking  => q('generic'),
	lc_messages               => q('C'),
);

# _conf_lines(\%defaults_overrides, $extra) -> string for append_conf
sub _conf_lines
{
	my ($opts) = @_;
	my %conf = %DEFAULT_CONF;
	if (defined $opts->{wal_consistency_checking})
	{
		if ($opts->{wal_consistency_checking} eq '')
		{
			delete $conf{wal_consistency_checking};
		}
		else
		{
			$conf{wal_consistency_checking} =
			  "'$opts->{wal_consistency_checking}'";
		}
	}
	$conf{shared_buffers} = $opts->{shared_buffers}
	  if defined $opts->{shared_buffers};

	my $text = join('', map { "$_ = $conf{$_}\n" } sort keys %conf);
	$text .= _extra_text($opts->{extra_conf});
	return $text;
}

# extra_conf may be a string or a reference to an array of lines.
sub _extra_text
{
	my ($extra) = @_;
	return '' unless defined $extra;
	return join('', map { "$_\n" } @$extra) if ref $extra eq 'ARRAY';
	return "$extra\n";
}

sub _db
{
	my ($opts) = @_;
	return defined $opts->{db} ? $opts->{db} : 'postgres';
}

=pod

=head1 FUNCTIONS

=over

=item new_node($name, %opts) => $node

Initialize and start one node, then C<CREATE EXTENSION lsm> in the test
database.  Options:

=over

=item allows_streaming => 0|1 (default 0: C<wal_level = minimal>, which
exercises the "skip WAL for new relfilenodes" path; 1 gives C<replica>)

=item db => name (default C<postgres>; created if it does not exist)

=item extra_conf => string or [lines] appended to postgresql.conf

=item wal_consistency_checking => value (default C<generic>; C<''> turns
it off)

=item shared_buffers => value (default 32MB)

=item extension => 0 to skip C<CREATE EXTENSION lsm>

=back

=cut

sub new_node
{
	my ($name, %opts) = @_;

	croak 'LsmTest expects Unix-socket connections'
	  if $PostgreSQL::Test::Cluster::use_tcp;

	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => $opts{allows_streaming} ? 1 : 0);
	$node->append_conf('postgresql.conf', _conf_lines(\%opts));
	$node->start;

	my $db = _db(\%opts);
	if ($db ne 'postgres')
	{
		$node->safe_psql('postgres', qq(CREATE DATABASE "$db"));
	}
	$node->safe_psql($db, 'CREATE EXTENSION lsm')
	  unless defined $opts{extension} && !$opts{extension};
	return $node;
}

=pod

=item primary_and_standby($name, %opts) => ($primary, $standby)

Create a primary (C<allows_streaming =E<gt> 1>,
C<wal_consistency_checking = 'generic'>, extension created) named
C<${name}_primary>, take a base backup and start a streaming standby named
C<${name}_standby> from it; wait until the standby has replayed
everything.  Options as for new_node, plus:

=over

=item standby_conf => string or [lines] appended to the standby's
postgresql.conf only (the primary's settings reach the standby through
the backup)

=back

=cut

sub primary_and_standby
{
	my ($name, %opts) = @_;

	my $primary = new_node("${name}_primary", %opts, allows_streaming => 1);

	my $backup = "${name}_backup";
	$primary->backup($backup);

	my $standby = PostgreSQL::Test::Cluster->new("${name}_standby");
	$standby->init_from_backup($primary, $backup, has_streaming => 1);
	$standby->append_conf('postgresql.conf',
		_extra_text($opts{standby_conf}))
	  if defined $opts{standby_conf};
	$standby->start;

	wait_for_replay($primary, $standby);
	return ($primary, $standby);
}

=pod

=item wait_for_replay($primary, $standby)

Wait until C<$standby> has replayed all WAL that C<$primary> had inserted
when the call was made (its current insert LSN).  Dies on timeout
(C<$PostgreSQL::Test::Utils::timeout_default> seconds).

To be sure the WAL up to that point actually gets flushed and streamed,
it then commits one tiny transaction on the primary (an xid assignment
and its commit record), which also guarantees that a record ends beyond
the target even if the insert LSN points just past a page header.

=cut

sub wait_for_replay
{
	my ($primary, $standby) = @_;

	my $target = $primary->safe_psql('postgres',
		'SELECT pg_current_wal_insert_lsn()');
	$primary->safe_psql('postgres', 'SELECT pg_current_xact_id()');

	$standby->poll_query_until('postgres',
		"SELECT pg_last_wal_replay_lsn() >= '$target'::pg_lsn")
	  or croak sprintf('standby "%s" did not replay up to %s (now at %s)',
		$standby->name, $target,
		$standby->safe_psql('postgres', 'SELECT pg_last_wal_replay_lsn()'));
	return;
}

=pod

=item compare_query($primary, $standby, $sql, $test_name, %opts)

Run C<$sql> on both nodes and check that the standby returns exactly what
the primary returns (one C<is()> assertion).  Unless C<wait =E<gt> 0> is
given it first calls wait_for_replay.  C<db =E<gt> name> picks the
database (default C<postgres>).  Returns the primary's result.

=cut

sub compare_query
{
	my ($primary, $standby, $sql, $test_name, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	wait_for_replay($primary, $standby)
	  unless defined $opts{wait} && !$opts{wait};

	my $db = _db(\%opts);
	my $expected = $primary->safe_psql($db, $sql);
	my $got = $standby->safe_psql($db, $sql);
	is($got, $expected, $test_name);
	return $expected;
}

=pod

=item crash_and_restart($node)

Simulate a crash: C<stop('immediate')> (the postmaster and every backend
get SIGQUIT; nothing is flushed or checkpointed) and start again, which
runs crash recovery.  Background sessions on the node are dead afterwards.

=cut

sub crash_and_restart
{
	my ($node) = @_;
	$node->stop('immediate');
	$node->start;
	return;
}

=pod

=item verify_query($node, $sql, $expected, $test_name, %opts)

C<is()> the result of C<$sql> (psql unaligned, tuples only, so columns
are separated by C<|> and rows by newlines) against C<$expected>.
C<db =E<gt> name> picks the database.  Returns the result.

=cut

sub verify_query
{
	my ($node, $sql, $expected, $test_name, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $got = $node->safe_psql(_db(\%opts), $sql);
	is($got, $expected, $test_name);
	return $got;
}

=pod

=item verify_after_recovery($node, $sql, $expected, $test_name, %opts)

verify_query, then check_server_log (two assertions): use it after
crash_and_restart or on a standby.

=cut

sub verify_after_recovery
{
	my ($node, $sql, $expected, $test_name, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $got = verify_query($node, $sql, $expected, $test_name, %opts);
	check_server_log($node, "$test_name: server log", %opts);
	return $got;
}

=pod

=item server_log_problems($node, %opts) => list of lines

The lines of the node's server log that match C<@LsmTest::LOG_PROBLEMS>
(PANIC, C<inconsistent page found> from wal_consistency_checking,
assertion failures C<TRAP:>, backends killed by SIGSEGV/SIGABRT/SIGBUS/
SIGILL/SIGFPE).  Options: C<offset =E<gt> bytes> to skip the start of the
log (see log_position), C<allow =E<gt> qr/.../> for lines to ignore,
C<patterns =E<gt> [qr/.../]> to add patterns.

=cut

sub server_log_problems
{
	my ($node, %opts) = @_;

	my @patterns = (@LOG_PROBLEMS, @{ $opts{patterns} || [] });
	my $offset = $opts{offset} || 0;
	my $log = -f $node->logfile ? slurp_file($node->logfile, $offset) : '';

	my @bad;
	foreach my $line (split /\n/, $log)
	{
		next if defined $opts{allow} && $line =~ $opts{allow};
		push @bad, $line if grep { $line =~ $_ } @patterns;
	}
	return @bad;
}

=pod

=item check_server_log($node, $test_name, %opts)

One assertion: server_log_problems (same options) finds nothing.  The
offending lines are shown with diag().

=cut

sub check_server_log
{
	my ($node, $test_name, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my @bad = server_log_problems($node, %opts);
	ok(!@bad, $test_name)
	  or diag(join("\n", 'problems in ' . $node->logfile . ':',
			@bad[ 0 .. ($#bad > 19 ? 19 : $#bad) ]));
	return !@bad;
}

=pod

=item log_position($node) => bytes

Current size of the node's server log, to pass as C<offset> to
check_server_log.

=cut

sub log_position
{
	my ($node) = @_;
	return -s $node->logfile || 0;
}

=pod

=item table_digest($node, $table, %opts) => "count:md5"

A digest of a table's visible contents, independent of physical order:
the row count and the md5 of all rows' text forms sorted.  Compare it
across nodes or before and after a crash.  C<db =E<gt> name>,
C<where =E<gt> 'sql condition'>.

=cut

sub table_digest
{
	my ($node, $table, %opts) = @_;
	my $where = defined $opts{where} ? "WHERE $opts{where}" : '';
	return $node->safe_psql(_db(\%opts),
		    "SELECT count(*) || ':' || coalesce(md5(string_agg(r::text, E'\\n' "
		  . "ORDER BY r::text)), '') FROM $table r $where");
}

=pod

=item write_file_bytes($file, $offset, $bytes)

Overwrite C<$bytes> at byte C<$offset> of C<$file> (a relation file of a
stopped server, to damage a page on purpose); dies on any I/O error.

=cut

sub write_file_bytes
{
	my ($file, $offset, $bytes) = @_;
	open(my $fh, '+<', $file) or die "open $file: $!";
	binmode $fh;
	sysseek($fh, $offset, 0) or die "seek: $!";
	syswrite($fh, $bytes) == length($bytes) or die "write: $!";
	close($fh) or die "close: $!";
	return;
}

=pod

=item overwrite_file($file, $contents)

Replace the whole contents of C<$file> (to put a saved relation file back
after write_file_bytes); dies on any I/O error.

=cut

sub overwrite_file
{
	my ($file, $contents) = @_;
	open(my $fh, '>', $file) or die "open $file: $!";
	binmode $fh;
	print $fh $contents or die "write $file: $!";
	close($fh) or die "close: $!";
	return;
}

=pod

=item has_am($node, $amname, %opts) => bool

Whether access method C<$amname> exists in the database (e.g. to skip a
test until an AM has been built: C<plan skip_all =E<gt> ...>).

=cut

sub has_am
{
	my ($node, $amname, %opts) = @_;
	return $node->safe_psql(_db(\%opts),
		"SELECT count(*) FROM pg_am WHERE amname = '$amname'") eq '1';
}

=pod

=item start_session($node, %opts) => PostgreSQL::Test::BackgroundPsql

A psql session kept open in the background (e.g. to hold a transaction
open across a crash).  Use C<< $s->query_safe($sql) >>, C<< $s->query($sql) >>
and C<< $s->quit >>.  Options: C<db>, C<on_error_stop> (default 1).

=cut

sub start_session
{
	my ($node, %opts) = @_;
	my %params;
	$params{on_error_stop} = $opts{on_error_stop}
	  if defined $opts{on_error_stop};
	return $node->background_psql(_db(\%opts), %params);
}

=pod

=item last_query($session, $sql) => ($output, $cancelled)

Run C<$sql> in a background session (C<start_session> with
C<< on_error_stop => 0 >>) that the server may have cancelled or terminated
meanwhile, e.g. for a recovery conflict, and close the session.
C<$cancelled> is true if the query failed or the session was gone.

=cut

sub last_query
{
	my ($session, $sql) = @_;
	my ($out, $failed);
	eval { ($out, $failed) = $session->query($sql); };
	$failed = 1 if $@;
	eval { $session->quit; };
	return ($out, $failed);
}

=pod

=item start_workload($node, %opts) => $workload

Start pgbench in the background with custom SQL scripts and return at
once.  Options:

=over

=item script => SQL text, or scripts => [SQL text, ...] (pgbench script
syntax: C<\set id random(1, 1000)> and C<:id> work)

=item clients => N (default 2), jobs => N (default 1)

=item seconds => N (default 5) or transactions => N per client

=item db => name, extra_args => [ ... ]

=item restart_after => qr/.../ (only with seconds): when pgbench fails and
the node's server log has gained a line matching the pattern since that
pgbench started, start pgbench again for the seconds left (if less than
one, end the workload as a success).  For a session the server ends on
purpose, such as a hot standby's that replay terminates (C<FATAL:
terminating connection due to conflict with recovery>): pgbench cannot
reconnect a client by itself.

=back

Errors in the workload (e.g. because the server crashed) do not die here;
look at finish_workload's result.

=cut

sub start_workload
{
	my ($node, %opts) = @_;

	my @scripts =
	  defined $opts{scripts} ? @{ $opts{scripts} }
	  : defined $opts{script} ? ($opts{script})
	  :   croak 'start_workload needs script or scripts';

	my $dir = PostgreSQL::Test::Utils::tempdir('workload');
	my @files;
	foreach my $i (0 .. $#scripts)
	{
		my $f = "$dir/script_$i.sql";
		PostgreSQL::Test::Utils::append_to_file($f, $scripts[$i]);
		push @files, '-f', $f;
	}

	my @cmd = (
		$node->installed_command('pgbench'),
		'-n',
		'-h' => $node->host,
		'-p' => $node->port,
		'-c' => $opts{clients} || 2,
		'-j' => $opts{jobs} || 1,
		defined $opts{transactions}
		? ('-t' => $opts{transactions})
		: ('-T' => $opts{seconds} || 5),
		@files,
		@{ $opts{extra_args} || [] },
		_db(\%opts));

	my %w = (cmd => \@cmd, stdout => '', stderr => '');
	my $run = \@cmd;
	if (defined $opts{restart_after})
	{
		croak 'restart_after needs seconds, not transactions'
		  if defined $opts{transactions};
		$run = sub {
			_restarting_pgbench(\@cmd, $opts{seconds} || 5, $node->logfile,
				$opts{restart_after});
		};
	}
	$w{harness} = IPC::Run::start($run, '<', \undef, '>', \$w{stdout},
		'2>', \$w{stderr});
	return \%w;
}

# The body of a restart_after workload, run in a child process forked by
# IPC::Run (its stdout and stderr are the workload's): run pgbench (@$cmd,
# whose -T is replaced by the seconds left) until the time is up, again
# after each failure that left a line matching $pattern in $logfile (such a
# failure in the last second just ends the workload).  Each run's output is
# passed on; a line "lsm workload: pgbench restarted" on stderr counts the
# restarts.  Exits (POSIX::_exit, so that no END block of the test runs
# twice) with 0, or with the status of the pgbench that failed otherwise.
sub _restarting_pgbench
{
	my ($cmd, $seconds, $logfile, $pattern) = @_;
	my $deadline = Time::HiRes::time() + $seconds;
	my ($rc, $pid);

	# killed with the workload (finish_workload's kill): kill pgbench too
	local $SIG{TERM} = sub { kill 'KILL', $pid if $pid; POSIX::_exit(1) };

	while (1)
	{
		my $left = int($deadline - Time::HiRes::time() + 0.5);
		my @run = @$cmd;
		my $offset = -s $logfile || 0;

		for my $i (0 .. $#run - 1)
		{
			$run[ $i + 1 ] = $left if $run[$i] eq '-T';
		}
		$pid = fork();
		POSIX::_exit(127) unless defined $pid;
		if ($pid == 0)
		{
			exec(@run) or POSIX::_exit(127);
		}
		waitpid($pid, 0);
		$rc = $? >> 8 || ($? ? 1 : 0);
		last if $rc == 0;

		# the server writes its log line before it closes the connection;
		# give a log collector a moment all the same
		my $found = 0;
		foreach (1 .. 20)
		{
			$found = (slurp_file($logfile, $offset) =~ $pattern);
			last if $found;
			Time::HiRes::usleep(100_000);
		}
		last unless $found;
		$rc = 0;
		last if $deadline - Time::HiRes::time() < 1;
		print STDERR "lsm workload: pgbench restarted\n";
	}
	POSIX::_exit($rc);
}

=pod

=item finish_workload($workload, %opts) => { rc, stdout, stderr, transactions, retried, failed, restarts }

Wait for a workload from start_workload to end (C<kill =E<gt> 1> kills it
first).  C<transactions>, C<retried> and C<failed> are pgbench's "number of
transactions actually processed", "... retried" and "number of failed
transactions" (summed over the runs of a C<restart_after> workload), or
undef; C<restarts> is how often such a workload started pgbench again.

=cut

sub finish_workload
{
	my ($w, %opts) = @_;

	$w->{harness}->kill_kill if $opts{kill};
	eval { $w->{harness}->finish; };
	my @results = $w->{harness}->full_results;
	my $rc = @results ? $results[0] : -1;
	# a figure of pgbench's summary, summed over the runs of a
	# restart_after workload; undef where no run printed it
	my $sum = sub {
		my ($label) = @_;
		my $total;
		$total += $_ foreach $w->{stdout} =~ /\Q$label\E: (\d+)/g;
		return $total;
	};
	return {
		rc           => $rc,
		stdout       => $w->{stdout},
		stderr       => $w->{stderr},
		transactions => $sum->('number of transactions actually processed'),
		retried      => $sum->('number of transactions retried'),
		failed       => $sum->('number of failed transactions'),
		restarts     => scalar(() = $w->{stderr} =~ /^lsm workload: pgbench restarted$/mg),
	};
}

=pod

=item check_workloads(\%workloads)

Finish each named workload (in name order) and check that pgbench
succeeded and ran transactions, none failed; note how many ran and were
retried, and how often pgbench was restarted.  Two tests per workload.

=cut

sub check_workloads
{
	my ($work) = @_;
	foreach my $name (sort keys %$work)
	{
		my $res = finish_workload($work->{$name});
		is($res->{rc}, 0, "$name: pgbench succeeded")
		  or diag($res->{stderr});
		ok(defined $res->{transactions} && $res->{transactions} > 0
			  && defined $res->{failed} && $res->{failed} == 0,
			"$name: transactions done, none failed")
		  or diag($res->{stdout});
		note("$name: " . ($res->{transactions} // 'no') . ' transactions'
			  . (defined $res->{retried} ? ", $res->{retried} retried" : '')
			  . ($res->{restarts} ? ", pgbench restarted $res->{restarts} times" : ''));
	}
	return;
}

=pod

=item start_verifiers(\%workloads, $primary, $standby, $script, $seconds)

Start C<$script> for C<$seconds> on each node, one client, as the workloads
C<primary verifier> and C<standby verifier>, in REPEATABLE READ by default
(one snapshot per transaction).  Replay may cancel the standby's
transactions (recovery conflicts); pgbench retries them (with
C<@STRESS_STANDBY_CONF> most conflicts are kept away).  A conflict that
reaches the backend just as a statement ends is taken for one of an idle
session in a transaction block (PostgreSQL 15's ProcessInterrupts), and
the server ends the session with C<FATAL:  terminating connection due to
conflict with recovery>; a conflict during connection start-up fails the
connection (C<FATAL:  canceling statement due to conflict with
recovery>).  After either the standby verifier's pgbench is started again
(C<restart_after>).

=cut

# a hot standby for the stress tests: feedback, replay cancels conflicting
# queries after a second
our @STRESS_STANDBY_CONF = (
	'hot_standby_feedback = on', 'wal_receiver_status_interval = 1s',
	'max_standby_streaming_delay = 1s');

sub start_verifiers
{
	my ($work, $primary, $standby, $script, $seconds) = @_;
	local $ENV{PGOPTIONS} = '-c default_transaction_isolation=repeatable\\ read';
	$work->{'primary verifier'} = start_workload($primary, script => $script,
		seconds => $seconds, clients => 1);
	$work->{'standby verifier'} = start_workload($standby, script => $script,
		seconds => $seconds, clients => 1, extra_args => ['--max-tries=1000'],
		restart_after => qr/FATAL:  .* due to conflict with recovery/);
	return;
}

=pod

=item psql_pipe($node, %opts) => $session

A psql process reading SQL from C<$session-E<gt>{in}> (append to it; the
text is sent as C<pump_until_match> pumps), its output in C<{out}> and C<{err}>,
the IPC::Run harness in C<{h}>; unaligned, tuples only, stops at the first
error.  C<db> as for new_node.  Unlike start_session, nothing waits for a
statement to finish: the session can stay blocked (in a lock, under a
debugger) while the test goes on.  End it with C<\q> and
C<$session-E<gt>{h}-E<gt>finish>.

=cut

# every harness started by psql_pipe and gdb_attach, pumped by pump_until_match
my @pumped;

sub psql_pipe
{
	my ($node, %opts) = @_;
	my %s = (in => '', out => '', err => '');
	$s{h} = IPC::Run::start(
		[
			$node->installed_command('psql'), '-XAtq',
			'-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr(_db(\%opts))
		],
		'<', \$s{in}, '>', \$s{out}, '2>', \$s{err});
	push @pumped, $s{h};
	return \%s;
}

=pod

=item psql_pipe_pid($node, %opts) => ($session, $pid)

A psql_pipe session with lsm loaded, and its backend's pid (for gdb_attach).

=cut

sub psql_pipe_pid
{
	my ($node, %opts) = @_;
	my $s = psql_pipe($node, %opts);
	$s->{in} .= "LOAD 'lsm';\nSELECT 'pid=' || pg_backend_pid();\n";
	pump_until_match(\$s->{out}, qr/pid=(\d+)/,
		$PostgreSQL::Test::Utils::timeout_default)
	  or die "a psql session did not start: $s->{err}";
	my ($pid) = $s->{out} =~ /pid=(\d+)/;
	return ($s, $pid);
}

=pod

=item pump_until_match(\$buffer, qr/.../, $seconds) => bool

Pump every psql_pipe and gdb_attach harness (so that all get their input
and their output is collected) until C<$buffer> matches or C<$seconds>
pass; true if it matched.

=cut

sub pump_until_match
{
	my ($buf, $re, $secs) = @_;
	my $deadline = time() + $secs;
	while (1)
	{
		$_->pump_nb foreach grep { $_->pumpable } @pumped;
		return 1 if $$buf =~ $re;
		return 0 if time() >= $deadline;
		Time::HiRes::usleep(20_000);
	}
}

=pod

=item gdb_attach($pid, $commands) => { h, in, out } or undef

Attach gdb to a backend (the node's server runs as the same user), run
C<$commands> (e.g. C<"break fn\ncommands 1\nbt 3\nend\n">), then continue
it.  Returns undef, with gdb's output in a note, where gdb is missing or
cannot attach (no ptrace permission), so that the caller can skip.  A
breakpoint hit appears in C<{out}> as C<Breakpoint N,> (wait with
pump_until_match).  PostgreSQL 15 has no injection points; this is how a test
stops a backend at a chosen function (doc/testing.md).

=cut

sub gdb_attach
{
	my ($pid, $commands) = @_;
	my $gdb = `command -v gdb 2>/dev/null`;
	chomp $gdb;
	return undef if $gdb eq '';

	my %g = (in => '', out => '');
	$g{h} = IPC::Run::start([ $gdb, '-q', '-nx', '-p', $pid ],
		'<', \$g{in}, '>&', \$g{out});
	push @pumped, $g{h};
	$g{in} .= "set pagination off\nset confirm off\n" . $commands
	  . "echo ATTACHED\\n\ncontinue\n";
	if (!pump_until_match(\$g{out}, qr/ATTACHED/, $PostgreSQL::Test::Utils::timeout_default)
		|| $g{out} !~ /Breakpoint 1 at/)
	{
		$g{h}->kill_kill;
		note("gdb output:\n$g{out}");
		return undef;
	}
	return \%g;
}

=pod

=item gdb_detach($gdb)

Delete the breakpoints and let the backend go on (interrupting it first if
no breakpoint stopped it), then end gdb.

=cut

sub gdb_detach
{
	my ($g) = @_;
	if ($g->{out} !~ /Breakpoint \d+,/)
	{
		$g->{h}->signal('INT');
		pump_until_match(\$g->{out}, qr/\(gdb\) $/, $PostgreSQL::Test::Utils::timeout_default);
	}
	$g->{in} .= "delete\ndetach\nquit\n";
	pump_until_match(\$g->{out}, qr/Detaching|detached/, $PostgreSQL::Test::Utils::timeout_default);
	eval { $g->{h}->finish; };
	return;
}

=pod

=back

=cut

1;
