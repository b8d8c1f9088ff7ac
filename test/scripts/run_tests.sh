#!/usr/bin/env bash
# Functions called only from traps look unreachable to shellcheck:
# shellcheck disable=SC2317
#
# run_tests.sh -- build lsm and run all of its test suites ("make test").
#
# Steps:
#   1. test/scripts/deps.sh (installs missing packages when run as root)
#   2. make clean; make COPT=-Werror; make install
#   3. a throwaway cluster in a private temp dir under /tmp (run by the
#      postgres OS user when we are root), then
#        regress    pg_regress: sql/*.sql vs expected/*.out, order from
#                   test/schedule (every sql/*.sql must be listed there)
#        isolation  pg_isolation_regress: test/isolation/specs/*.spec vs
#                   test/isolation/expected/*.out, order from
#                   test/isolation_schedule
#   4. tap        prove on test/t/*.pl, one script at a time (the TAP
#                   tests create their own clusters; helpers in test/perl)
#   5. clean-up (also on failure and Ctrl-C) and a closing line
#          N passed, M failed
#      counting each pg_regress test, each isolation spec and each TAP
#      assertion; a suite that cannot run at all counts as one failure.
#
# Exit status: 0 if nothing failed, 1 otherwise, 130 when interrupted.
#
# Environment knobs (all optional):
#   LSM_TEST_SUITES="regress isolation tap"   suites to run (any subset)
#   LSM_TEST_REGRESS="a b"     run only these pg_regress tests (names)
#   LSM_TEST_ISOLATION="a b"   run only these isolation specs (names)
#   LSM_TEST_TAP="001_harness" run only these TAP scripts (names or t/x.pl)
#   LSM_TEST_NO_BUILD=1        skip deps/build/install, test what is installed
#   LSM_TEST_KEEP=1            keep the temp dir (clusters are still stopped)
#   LSM_TEST_RESULTS=DIR       where logs and diffs are saved
#                              (default: <repo>/results/test, git-ignored)
#   PG_TEST_TIMEOUT_DEFAULT    TAP timeouts in seconds (default 180)
#   LSM_TEST_TAP_LIMIT         wall-clock limit of one TAP script in seconds
#                              (default 900): a script that hangs (say, on
#                              an undetected lock deadlock in a server) is
#                              killed, its clusters stopped, and it counts
#                              as a failure; the next script runs
#   PG_CONFIG                  pg_config to use
#                              (default /usr/lib/postgresql/15/bin/pg_config)
#
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ALL_SUITES=(regress isolation tap)
SUITES=${LSM_TEST_SUITES:-${ALL_SUITES[*]}}
RESULTS=${LSM_TEST_RESULTS:-$LSM_ROOT/results/test}

PASS=0
FAIL=0
FAILED_ITEMS=()
INTERRUPTED=0
TMP=""
DATADIR=""
SERVER_LOG=""

for s in $SUITES; do
	case " ${ALL_SUITES[*]} " in
		*" $s "*) ;;
		*)
			echo "run_tests: unknown suite '$s' in LSM_TEST_SUITES (known: ${ALL_SUITES[*]})" >&2
			exit 2
			;;
	esac
done

want_suite() { case " $SUITES " in *" $1 "*) return 0 ;; *) return 1 ;; esac }

passed() { PASS=$((PASS + $1)); }
failed() {
	FAIL=$((FAIL + 1))
	FAILED_ITEMS+=("$1")
}

banner() { printf '\n==== %s ====\n' "$*"; }

# A setup step failed: every selected suite in "$@" cannot run.
suites_not_run() {
	local why=$1 s
	shift
	for s in "$@"; do
		if want_suite "$s"; then
			echo "run_tests: suite $s cannot run: $why" >&2
			failed "$s: not run ($why)"
		fi
	done
}

cleanup() {
	cd /
	lsm_kill_child
	lsm_cleanup_cluster "run_tests (LSM_TEST_KEEP=1)" "${LSM_TEST_KEEP:-0}" \
		"$SERVER_LOG" "$RESULTS"
}

on_exit() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	cleanup
	if [ "$INTERRUPTED" -eq 1 ]; then
		failed "interrupted"
	elif [ "$rc" -ne 0 ] && [ "$FAIL" -eq 0 ]; then
		failed "run_tests.sh itself failed (exit status $rc)"
	fi
	banner "summary"
	local item
	for item in "${FAILED_ITEMS[@]}"; do
		echo "FAILED: $item"
	done
	[ -d "$RESULTS" ] && echo "logs and diffs: $RESULTS"
	echo "$PASS passed, $FAIL failed"
	if [ "$INTERRUPTED" -eq 1 ]; then
		exit 130
	elif [ "$FAIL" -ne 0 ]; then
		exit 1
	fi
	exit 0
}

on_signal() {
	INTERRUPTED=1
	echo "run_tests: interrupted, cleaning up" >&2
	exit 130
}

trap on_exit EXIT
trap on_signal INT TERM

# ---------------------------------------------------------------------------
# results directory (the last run's logs; recreated every run)
# ---------------------------------------------------------------------------
rm -rf "$RESULTS"
mkdir -p "$RESULTS/logs"
LOGDIR="$RESULTS/logs"

# ---------------------------------------------------------------------------
# deps and build
# ---------------------------------------------------------------------------
build_ok=1
if [ "${LSM_TEST_NO_BUILD:-0}" = 1 ]; then
	echo "run_tests: LSM_TEST_NO_BUILD=1, testing the installed build"
	lsm_pg_paths || build_ok=0
else
	banner "dependencies"
	if ! lsm_run_logged "$LOGDIR/deps.log" "$LSM_ROOT/test/scripts/deps.sh"; then
		build_ok=0
		suites_not_run "test/scripts/deps.sh failed, see $LOGDIR/deps.log" "${ALL_SUITES[@]}"
	else
		echo "all present"
	fi
	if [ "$build_ok" -eq 1 ] && ! lsm_pg_paths; then
		build_ok=0
		suites_not_run "PostgreSQL test programs not found" "${ALL_SUITES[@]}"
	fi
	if [ "$build_ok" -eq 1 ]; then
		banner "build (make COPT=-Werror)"
		if lsm_run_logged "$LOGDIR/build.log" make -C "$LSM_ROOT" "PG_CONFIG=$PG_CONFIG" clean >/dev/null &&
			lsm_run_logged "$LOGDIR/build.log" make -C "$LSM_ROOT" -j "$(nproc)" "PG_CONFIG=$PG_CONFIG" "COPT=-Werror" &&
			lsm_run_logged "$LOGDIR/build.log" make -C "$LSM_ROOT" "PG_CONFIG=$PG_CONFIG" install >/dev/null; then
			echo "build and install OK"
		else
			build_ok=0
			echo "run_tests: build failed (full output: $LOGDIR/build.log)" >&2
			suites_not_run "build failed, see $LOGDIR/build.log" "${ALL_SUITES[@]}"
		fi
	fi
fi
if [ "$build_ok" -eq 0 ]; then
	exit 1
fi

if [ "$(id -u)" -eq 0 ] && ! lsm_have_user "$PG_OS_USER"; then
	suites_not_run "OS user $PG_OS_USER does not exist" "${ALL_SUITES[@]}"
	exit 1
fi

# ---------------------------------------------------------------------------
# private copy of the test files, readable by the cluster's OS user
# ---------------------------------------------------------------------------
TMP=$(lsm_mktemp lsm-test)
SRC="$TMP/src"
mkdir -p "$SRC"
tar -C "$LSM_ROOT" \
	--exclude=./test/tmp_check --exclude=./test/isolation/results \
	--exclude=./test/isolation/output_iso --exclude=./test/bench/results \
	-cf - ./sql ./expected ./test | tar -C "$SRC" -xf -
mkdir -p "$TMP/tap/tmp"
lsm_give_to_pg "$TMP"
echo "run_tests: working directory $TMP"

# check_schedule SUITE SCHEDULE DIR EXT EXPECTED_DIR
# Every DIR/*.EXT must be listed in SCHEDULE, every listed test must have
# its file and an expected output.  Problems count as failures.
check_schedule() {
	local suite=$1 schedule=$2 dir=$3 ext=$4 expdir=$5 f name bad=0
	if [ ! -f "$schedule" ]; then
		failed "$suite: schedule ${schedule#"$SRC"/} is missing"
		return 1
	fi
	local listed
	listed=$(lsm_schedule_tests "$schedule")
	for f in "$dir"/*."$ext"; do
		[ -e "$f" ] || continue
		name=$(basename "$f" ".$ext")
		if ! grep -qx -- "$name" <<<"$listed"; then
			echo "!!!! $suite: ${f#"$SRC"/} is not listed in ${schedule#"$SRC"/} -- add a 'test: $name' line !!!!" >&2
			failed "$suite: ${f#"$SRC"/} missing from ${schedule#"$SRC"/}"
			bad=1
		fi
	done
	while IFS= read -r name; do
		[ -n "$name" ] || continue
		if [ ! -f "$dir/$name.$ext" ]; then
			echo "!!!! $suite: ${schedule#"$SRC"/} lists '$name' but ${dir#"$SRC"/}/$name.$ext does not exist !!!!" >&2
			failed "$suite: $name listed but has no .$ext file"
			bad=1
		elif ! compgen -G "$expdir/$name.out" >/dev/null && ! compgen -G "$expdir/${name}_[0-9].out" >/dev/null; then
			echo "!!!! $suite: ${expdir#"$SRC"/}/$name.out does not exist !!!!" >&2
			failed "$suite: $name has no expected output"
			bad=1
		fi
	done <<<"$listed"
	local dups
	dups=$(sort <<<"$listed" | uniq -d)
	if [ -n "$dups" ]; then
		echo "!!!! $suite: listed more than once in ${schedule#"$SRC"/}: $dups !!!!" >&2
		failed "$suite: duplicate schedule entries: $dups"
		bad=1
	fi
	return "$bad"
}

# count_regress_results SUITE OUTPUT_LOG STATUS TEST...
# Count one result per expected test from pg_regress-style output.
count_regress_results() {
	local suite=$1 out=$2 rc=$3
	shift 3
	local results name status nfail_before=$FAIL
	results=$(lsm_regress_results "$out")
	for name in "$@"; do
		status=$(awk -v n="$name" '$1 == n { s = $2 } END { print s }' <<<"$results")
		case "$status" in
			ok) passed 1 ;;
			ignored)
				passed 1
				echo "$suite/$name failed but is marked 'ignore' in the schedule"
				;;
			FAILED) failed "$suite/$name" ;;
			*) failed "$suite/$name (no result: the test did not run or the run aborted)" ;;
		esac
	done
	if [ "$rc" -ne 0 ] && [ "$FAIL" -eq "$nfail_before" ]; then
		failed "$suite: driver exited with status $rc (see $out)"
	fi
}

# show_diffs SUITE OUTPUT_DIR -- save the output directory and show the diffs
show_diffs() {
	local suite=$1 outdir=$2
	cp -r "$outdir" "$RESULTS/$suite" 2>/dev/null || true
	# The temp dir goes away: point the saved diffs at the repository's
	# files and at the saved copy of the results.
	if [ -f "$RESULTS/$suite/regression.diffs" ]; then
		sed -i -e "s|$SRC/||g" -e "s|$outdir/|$RESULTS/$suite/|g" \
			"$RESULTS/$suite/regression.diffs"
	fi
	if [ -s "$RESULTS/$suite/regression.diffs" ]; then
		echo
		echo "---- $suite: first 200 lines of $RESULTS/$suite/regression.diffs ----"
		head -n 200 "$RESULTS/$suite/regression.diffs"
		echo "---- end of excerpt; full diffs: $RESULTS/$suite/regression.diffs ----"
	fi
}

# ---------------------------------------------------------------------------
# shared cluster for pg_regress and isolation
# ---------------------------------------------------------------------------
run_regress() {
	banner "regress (pg_regress)"
	local -a tests
	if [ -n "${LSM_TEST_REGRESS:-}" ]; then
		read -r -a tests <<<"$LSM_TEST_REGRESS"
	else
		check_schedule regress "$SRC/test/schedule" "$SRC/sql" sql "$SRC/expected" || true
		[ -f "$SRC/test/schedule" ] || return 0
		mapfile -t tests < <(lsm_schedule_tests "$SRC/test/schedule")
	fi
	local -a sel=(--schedule="$SRC/test/schedule")
	[ -n "${LSM_TEST_REGRESS:-}" ] && sel=("${tests[@]}")
	local outdir="$TMP/regress" rc=0 start=$SECONDS
	mkdir -p "$outdir"
	lsm_give_to_pg "$outdir"
	lsm_run_logged "$LOGDIR/regress.log" lsm_as_pg -- "$PG_REGRESS" \
		--inputdir="$SRC" --outputdir="$outdir" --bindir="$PG_BINDIR" \
		--host="$SOCKDIR" --port="$PORT" --user=postgres \
		--dbname=lsm_regress --load-extension=lsm \
		"${sel[@]}" || rc=$?
	local before=$FAIL
	count_regress_results regress "$LOGDIR/regress.log" "$rc" "${tests[@]}"
	[ "$FAIL" -ne "$before" ] && show_diffs regress "$outdir"
	echo "regress: $((SECONDS - start)) s"
}

run_isolation() {
	banner "isolation (pg_isolation_regress)"
	local idir="$SRC/test/isolation" sched="$SRC/test/isolation_schedule"
	local -a tests
	if [ -n "${LSM_TEST_ISOLATION:-}" ]; then
		read -r -a tests <<<"$LSM_TEST_ISOLATION"
	else
		check_schedule isolation "$sched" "$idir/specs" spec "$idir/expected" || true
		[ -f "$sched" ] || return 0
		mapfile -t tests < <(lsm_schedule_tests "$sched")
	fi
	local -a sel=(--schedule="$sched")
	[ -n "${LSM_TEST_ISOLATION:-}" ] && sel=("${tests[@]}")
	local outdir="$TMP/isolation" rc=0 start=$SECONDS
	mkdir -p "$outdir"
	lsm_give_to_pg "$outdir"
	lsm_run_logged "$LOGDIR/isolation.log" lsm_as_pg -- "$PG_ISOLATION_REGRESS" \
		--inputdir="$idir" --outputdir="$outdir" --bindir="$PG_BINDIR" \
		--host="$SOCKDIR" --port="$PORT" --user=postgres \
		--dbname=lsm_isolation --load-extension=lsm \
		"${sel[@]}" || rc=$?
	local before=$FAIL
	count_regress_results isolation "$LOGDIR/isolation.log" "$rc" "${tests[@]}"
	[ "$FAIL" -ne "$before" ] && show_diffs isolation "$outdir"
	echo "isolation: $((SECONDS - start)) s"
}

run_tap() {
	banner "tap (prove)"
	local -a scripts=()
	local t
	if [ -n "${LSM_TEST_TAP:-}" ]; then
		for t in $LSM_TEST_TAP; do
			t=${t#t/}
			t=${t%.pl}
			scripts+=("t/$t.pl")
		done
	else
		for t in "$SRC"/test/t/*.pl; do
			[ -e "$t" ] && scripts+=("t/$(basename "$t")")
		done
	fi
	if [ "${#scripts[@]}" -eq 0 ]; then
		echo "no TAP scripts in test/t"
		return 0
	fi
	local -a env=(
		"PERL5LIB=$PGXS_ROOT/src/test/perl:$SRC/test/perl"
		"PG_REGRESS=$PG_REGRESS"
		"TESTDIR=$TMP/tap"
		"TMPDIR=$TMP/tap/tmp"
		"LSM_TEST_SRCDIR=$SRC"
		"PG_TEST_TIMEOUT_DEFAULT=${PG_TEST_TIMEOUT_DEFAULT:-180}"
	)
	# knobs of individual TAP scripts (e.g. LSM_PGBENCH_SECONDS) pass through
	local v
	for v in $(compgen -e | grep -E '^LSM_(PGBENCH|TAP)_' || true); do
		env+=("$v=${!v}")
	done
	local start=$SECONDS tap_limit=${LSM_TEST_TAP_LIMIT:-900}
	cd "$SRC/test"
	for t in "${scripts[@]}"; do
		local name log rc=0 nok nnotok ntodo killed=0
		name=$(basename "$t" .pl)
		log="$LOGDIR/tap_$name.log"
		if [ ! -f "$t" ]; then
			failed "tap/$name: $t does not exist"
			continue
		fi
		# prove, with autoflush so that progress shows up as it happens,
		# under a wall-clock limit (timeout signals prove's process group;
		# the script's postmasters run in sessions of their own and are
		# stopped below)
		# shellcheck disable=SC2016
		lsm_run_logged "$log" lsm_as_pg "${env[@]}" -- \
			timeout --kill-after=30 "$tap_limit" perl -MApp::Prove -e \
			'$| = 1; my $p = App::Prove->new; $p->process_args(@ARGV); exit($p->run ? 0 : 1);' \
			-- -v --timer --formatter=TAP::Formatter::Console "$t" || rc=$?
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			killed=1
			failed "tap/$name: killed after the limit of $tap_limit s (LSM_TEST_TAP_LIMIT)"
			lsm_kill_postmasters_under "$TMP/tap"
		fi
		nok=$(grep -cE '^ok [0-9]+' "$log" || true)
		nnotok=$(grep -cE '^not ok [0-9]+' "$log" || true)
		ntodo=$(grep -E '^not ok [0-9]+' "$log" | grep -c '# TODO' || true)
		passed $((nok + ntodo))
		local line
		while IFS= read -r line; do
			failed "tap/$name: ${line}"
		done < <(grep -E '^not ok [0-9]+' "$log" | grep -v '# TODO' || true)
		if [ "$killed" -eq 0 ] && [ "$rc" -ne 0 ] && [ $((nnotok - ntodo)) -eq 0 ]; then
			failed "tap/$name: script died, exited with an error or had a bad plan (see $log)"
		elif [ "$rc" -eq 0 ] && ! grep -qE '^1\.\.[0-9]+' "$log"; then
			failed "tap/$name: no TAP plan in the output (see $log)"
		fi
		if [ "$rc" -ne 0 ]; then
			mkdir -p "$RESULTS/tap"
			cp -r "$TMP/tap/tmp_check/log/." "$RESULTS/tap/" 2>/dev/null || true
			if [ -f "$RESULTS/tap/regress_log_$name" ]; then
				echo "---- tap/$name: last 60 lines of $RESULTS/tap/regress_log_$name ----"
				tail -n 60 "$RESULTS/tap/regress_log_$name"
				echo "---- full log and server logs: $RESULTS/tap/ ----"
			fi
		fi
	done
	cd /
	echo "tap: $((SECONDS - start)) s"
}

if want_suite regress || want_suite isolation; then
	banner "starting a test cluster"
	DATADIR="$TMP/data"
	SOCKDIR="$TMP/sock"
	PORT=$(lsm_pick_port)
	SERVER_LOG="$TMP/postmaster.log"
	mkdir -p "$DATADIR" "$SOCKDIR"
	chmod 0700 "$DATADIR"
	lsm_give_to_pg "$DATADIR" "$SOCKDIR"
	started=0
	if lsm_initdb "$DATADIR" "$SOCKDIR" "$PORT" \
		"fsync = off" \
		"max_prepared_transactions = 10" \
		"wal_level = replica" \
		"max_connections = 40" \
		"shared_buffers = 128MB" \
		"lc_messages = 'C'" \
		"log_line_prefix = '%m [%p] %q%a '" \
		"log_min_messages = warning" \
		"log_autovacuum_min_duration = -1"; then
		if lsm_pg_start "$DATADIR" "$SERVER_LOG"; then
			started=1
		fi
	fi
	if [ "$started" -eq 1 ]; then
		echo "cluster running: PGHOST=$SOCKDIR PGPORT=$PORT (log: $SERVER_LOG)"
		want_suite regress && run_regress
		want_suite isolation && run_isolation
		lsm_pg_stop "$DATADIR"
		cp "$SERVER_LOG" "$RESULTS/postmaster.log" 2>/dev/null || true
		if grep -nE 'PANIC|TRAP:|terminated by signal' "$SERVER_LOG" >"$LOGDIR/server-problems.txt"; then
			echo "run_tests: the test server logged crashes or PANICs:" >&2
			head -n 20 "$LOGDIR/server-problems.txt" >&2
			failed "server log: PANIC/TRAP/crash (see $RESULTS/postmaster.log)"
		fi
	else
		suites_not_run "the test cluster did not start (see $LOGDIR)" regress isolation
		cp "$DATADIR.initdb.log" "$SERVER_LOG" "$LOGDIR/" 2>/dev/null || true
	fi
	DATADIR=""
fi

if want_suite tap; then
	run_tap
fi

exit 0
