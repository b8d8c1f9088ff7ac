#!/usr/bin/env bash
# Functions called only from traps or through variables look unreachable
# to shellcheck:
# shellcheck disable=SC2317
#
# bench.sh -- "make bench": the benchmark suite of lsm (doc/benchmarks.md).
#
# Loads the same seeded data into the extension's structures and their core
# counterparts in one throwaway cluster, in one run, and prints a table of
# medians and ratios (extension / core).  Steps:
#
#   1. test/scripts/deps.sh, make clean, make COPT=-Werror, make install
#      (the same steps as "make test"; skipped with LSM_BENCH_NO_BUILD=1)
#   2. a throwaway cluster under /tmp (run by the postgres OS user when we
#      are root; Unix socket in the same private directory) with the fixed
#      configuration below; database "bench" with CREATE EXTENSION lsm
#   3. seeded data files (COPY ... TO), then the workloads; each runs its
#      arms in the order A B B A (A B C C B A for three arms), a CHECKPOINT
#      before each arm; every figure is the median of its samples
#   4. results/bench/: bench.txt (the table printed), bench.json, bench.md,
#      ratios.png, ingest.png, raw.tsv (every sample), logs; a copy of the
#      JSON and Markdown in results/bench/history/
#
# Usage: test/scripts/bench.sh [small|default|large]   (make bench SCALE=...)
#
# Exit status: 0 when every workload ran, 1 when something broke (a step
# failed, the server crashed or logged a PANIC), 2 on bad usage, 130 when
# interrupted.  Never a judgement on the figures themselves.
#
# Environment knobs (all optional):
#   LSM_BENCH_NO_BUILD=1        skip deps/build/install; bench what is installed
#   LSM_BENCH_WORKLOADS="..."   run only these workload groups (names below)
#   LSM_BENCH_ROUNDS=N          A B B A rounds per workload (default 1:
#                               two samples per arm)
#   LSM_BENCH_PORT=5470         port of the cluster (Unix socket only)
#   LSM_BENCH_RESULTS=DIR       output directory (default <repo>/results/bench)
#   LSM_BENCH_KEEP=1            keep the temporary directory (cluster stopped)
#   LSM_BENCH_STEP_TIMEOUT=1800 seconds one step may take before it is killed
#   LSM_BENCH_SETUP_SQL="..."   SQL run in the bench database after
#                               CREATE EXTENSION (development aid)
#   LSM_BENCH_UPDATE_DOC=1      replace the results section of
#                               doc/benchmarks.md with this run's table
#   PG_CONFIG                   pg_config to use
#
# Workload groups: ingest (narrow, narrow_btree, events, insert), maint,
# scan, lookup, tpcb, delete, xhash, zonemap, bitmap.
#
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ALL_GROUPS="ingest maint scan lookup tpcb delete xhash zonemap bitmap"

SCALE=${1:-default}
case "$SCALE" in
	small)
		N_NARROW=500000 # COPY narrow rows
		N_BTREE=500000 # COPY narrow rows with a btree on the random column
		N_EVENTS=300000 # COPY event rows
		INS_TX=2500 # single-row INSERT transactions per client (2 clients)
		LOOKUP_S=1 # seconds of each pgbench query run
		TPCB_SCALE=2 # pgbench -i -s
		TPCB_TX=1000 # tpcb-like transactions per client (2 clients)
		HOT_TX=10000 # updates of the 2-row table per client (2 clients)
		N_CHURN=200000 # rows of the DELETE half + VACUUM table
		N_HASH=200000 # int8 keys of the xhash/hash/btree workload
		N_UUID=200000 # UUID-text keys of the xhash/hash/btree workload
		N_UPD=2000 # rows of the lsm table updated through each index AM
		UPD_TX=5000 # updates of it per client (2 clients)
		FREQ_KEYS=8 # distinct values of the xhash_frequent column
		SCAN_RUNS=2 # executions of each timed query per step
		Q_MULT=2 # query steps alternate arms Q_MULT times as often as loads
		SAMPLE_S=0.2 # progress sampling interval of COPY
		;;
	default)
		N_NARROW=10000000
		N_BTREE=5000000
		N_EVENTS=3000000
		INS_TX=100000
		LOOKUP_S=3
		TPCB_SCALE=10
		TPCB_TX=5000
		HOT_TX=50000
		N_CHURN=1000000
		N_HASH=2000000
		N_UUID=2000000
		N_UPD=20000
		UPD_TX=100000
		FREQ_KEYS=8
		SCAN_RUNS=2
		Q_MULT=2
		SAMPLE_S=0.5
		;;
	large)
		N_NARROW=30000000
		N_BTREE=20000000
		N_EVENTS=10000000
		INS_TX=250000
		LOOKUP_S=5
		TPCB_SCALE=50
		TPCB_TX=50000
		HOT_TX=200000
		N_CHURN=10000000
		N_HASH=10000000 # the sizes issue 5 names: 10 M int8 keys,
		N_UUID=5000000  # 5 M UUID-text keys
		N_UPD=100000
		UPD_TX=500000
		FREQ_KEYS=8
		SCAN_RUNS=3
		Q_MULT=3
		SAMPLE_S=1
		;;
	*)
		echo "bench: usage: $0 [small|default|large]   (got '$SCALE')" >&2
		exit 2
		;;
esac

GROUPS_WANTED=${LSM_BENCH_WORKLOADS:-$ALL_GROUPS}
for g in $GROUPS_WANTED; do
	case " $ALL_GROUPS " in
		*" $g "*) ;;
		*)
			echo "bench: unknown workload group '$g' in LSM_BENCH_WORKLOADS (known: $ALL_GROUPS)" >&2
			exit 2
			;;
	esac
done
want() { case " $GROUPS_WANTED " in *" $1 "*) return 0 ;; *) return 1 ;; esac }

ROUNDS=${LSM_BENCH_ROUNDS:-1}
PORT=${LSM_BENCH_PORT:-5470}
STEP_TIMEOUT=${LSM_BENCH_STEP_TIMEOUT:-1800}
RESULTS=${LSM_BENCH_RESULTS:-$LSM_ROOT/results/bench}
for v in ROUNDS PORT STEP_TIMEOUT; do
	case "${!v}" in '' | *[!0-9]*)
		echo "bench: $v must be a number (got '${!v}')" >&2
		exit 2
		;;
	esac
done
Q_ROUNDS=$((ROUNDS * Q_MULT))

# The fixed configuration of the benchmark cluster (doc/benchmarks.md).
# Durable (fsync on, full-page writes) but without waiting for the WAL
# flush at each commit; no background work that could land in one arm but
# not the other (autovacuum off, checkpoints only where the suite asks);
# single-process plans, so that a figure measures the access method and
# not the scheduling of workers on two cores.
BENCH_CONF=(
	"shared_buffers = 2GB"
	"work_mem = 64MB"
	"maintenance_work_mem = 512MB"
	"max_connections = 20"
	"fsync = on"
	"synchronous_commit = off"
	"full_page_writes = on"
	"wal_level = replica"
	"wal_compression = off"
	"wal_buffers = 16MB"
	"max_wal_size = 32GB"
	"min_wal_size = 2GB"
	"checkpoint_timeout = 1h"
	"autovacuum = off"
	"jit = off"
	"max_parallel_workers_per_gather = 0"
	"max_parallel_maintenance_workers = 0"
	"random_page_cost = 1.1"
	"effective_cache_size = 8GB"
)

DB=bench
FAILED_ITEMS=()
INTERRUPTED=0
TMP=""
DATADIR=""
SAMPLER_PID=""
STARTED_AT=$SECONDS

failed() {
	FAILED_ITEMS+=("$1")
	echo "bench: FAILED: $1" >&2
}

banner() { printf '\n==== %s ====\n' "$*"; }

sampler_stop() {
	local pid=$SAMPLER_PID
	[ -n "$pid" ] || return 0
	SAMPLER_PID=""
	kill -TERM -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	cd /
	sampler_stop
	lsm_kill_child
	lsm_cleanup_cluster "bench (LSM_BENCH_KEEP=1)" "${LSM_BENCH_KEEP:-0}" \
		"${TMP:+$TMP/postmaster.log}" "$RESULTS"
}

on_exit() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	cleanup
	if [ "$INTERRUPTED" -eq 1 ]; then
		failed "interrupted"
	elif [ "$rc" -ne 0 ] && [ "${#FAILED_ITEMS[@]}" -eq 0 ]; then
		failed "bench.sh itself failed (exit status $rc)"
	fi
	banner "bench: done in $((SECONDS - STARTED_AT)) s"
	local item
	for item in "${FAILED_ITEMS[@]}"; do
		echo "FAILED: $item"
	done
	[ -d "$RESULTS" ] && echo "results: $RESULTS"
	if [ "$INTERRUPTED" -eq 1 ]; then
		exit 130
	elif [ "${#FAILED_ITEMS[@]}" -ne 0 ]; then
		echo "bench: ${#FAILED_ITEMS[@]} problem(s)"
		exit 1
	fi
	echo "bench: every workload ran"
	exit 0
}

on_signal() {
	INTERRUPTED=1
	echo "bench: interrupted, cleaning up" >&2
	exit 130
}

trap on_exit EXIT
trap on_signal INT TERM

# ---------------------------------------------------------------------------
# results directory: the last run's files; history/ keeps every run's
# JSON and Markdown
# ---------------------------------------------------------------------------
mkdir -p "$RESULTS"
find "$RESULTS" -mindepth 1 -maxdepth 1 ! -name history -exec rm -rf {} +
mkdir -p "$RESULTS/logs" "$RESULTS/progress" "$RESULTS/history"
LOGDIR="$RESULTS/logs"
STEPLOG="$LOGDIR/steps.log"
RAW="$RESULTS/raw.tsv"
WORKLOADS="$RESULTS/workloads.tsv"
META="$RESULTS/meta.tsv"
PROG="$RESULTS/progress"
printf 'workload\tmetric\tarm\trep\tvalue\n' >"$RAW"
printf 'id\tstatus\ttitle\textension\tbaselines\tseconds\tnote\n' >"$WORKLOADS"
: >"$META"
: >"$STEPLOG"

meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }

# ---------------------------------------------------------------------------
# deps and build: the same steps as test/scripts/run_tests.sh
# ---------------------------------------------------------------------------
if [ "${LSM_BENCH_NO_BUILD:-0}" = 1 ]; then
	echo "bench: LSM_BENCH_NO_BUILD=1, benchmarking the installed build"
	lsm_pg_paths || {
		failed "PostgreSQL programs not found"
		exit 1
	}
else
	banner "dependencies"
	if ! lsm_run_logged "$LOGDIR/deps.log" "$LSM_ROOT/test/scripts/deps.sh"; then
		failed "test/scripts/deps.sh failed, see $LOGDIR/deps.log"
		exit 1
	fi
	echo "all present"
	lsm_pg_paths || {
		failed "PostgreSQL programs not found"
		exit 1
	}
	banner "build (make COPT=-Werror)"
	if lsm_run_logged "$LOGDIR/build.log" make -C "$LSM_ROOT" "PG_CONFIG=$PG_CONFIG" clean >/dev/null &&
		lsm_run_logged "$LOGDIR/build.log" make -C "$LSM_ROOT" -j "$(nproc)" "PG_CONFIG=$PG_CONFIG" "COPT=-Werror" &&
		lsm_run_logged "$LOGDIR/build.log" make -C "$LSM_ROOT" "PG_CONFIG=$PG_CONFIG" install >/dev/null; then
		echo "build and install OK"
	else
		failed "build failed, see $LOGDIR/build.log"
		exit 1
	fi
fi
for prog in pgbench gnuplot; do
	if [ "$prog" = pgbench ] && [ -x "$PG_BINDIR/pgbench" ]; then continue; fi
	if [ "$prog" = gnuplot ] && command -v gnuplot >/dev/null 2>&1; then continue; fi
	lsm_warn "$prog not found (test/scripts/deps.sh installs what is missing)"
done
if [ "$(id -u)" -eq 0 ] && ! lsm_have_user "$PG_OS_USER"; then
	failed "OS user $PG_OS_USER does not exist"
	exit 1
fi

# ---------------------------------------------------------------------------
# cluster
# ---------------------------------------------------------------------------
banner "starting the benchmark cluster (scale $SCALE)"
TMP=$(lsm_mktemp lsm-bench)
DATADIR="$TMP/data"
SOCKDIR="$TMP"
DATA="$TMP/files"
SCRIPTS="$TMP/scripts"
mkdir -p "$DATADIR" "$DATA" "$SCRIPTS"
chmod 0700 "$DATADIR"
lsm_give_to_pg "$TMP"
lsm_initdb "$DATADIR" "$SOCKDIR" "$PORT" \
	"${BENCH_CONF[@]}" \
	"lc_messages = 'C'" \
	"log_line_prefix = '%m [%p] %q%a '" \
	"log_min_messages = warning" \
	"log_checkpoints = off" || {
	failed "initdb failed"
	exit 1
}
lsm_pg_start "$DATADIR" "$TMP/postmaster.log" || {
	failed "the benchmark cluster did not start"
	exit 1
}

QUIET_OPTS="-c client_min_messages=warning"
PG_ENV=("PGHOST=$SOCKDIR" "PGPORT=$PORT" "PGUSER=postgres" "PGDATABASE=$DB"
	"PGAPPNAME=lsm-bench" "PGOPTIONS=$QUIET_OPTS")

# psql_b ARGS... -- psql on the bench database, unaligned, quiet, stop on error
psql_b() {
	lsm_as_pg "${PG_ENV[@]}" -- timeout "$STEP_TIMEOUT" \
		psql -X -q -At -v ON_ERROR_STOP=1 "$@"
}

# value SQL -- print one value
value() { psql_b -c "$1"; }

# in_background OUT ERR [VAR=value ...] -- command args... -- run a command
# as PG_OS_USER (lsm_as_pg, the bench cluster's environment plus the VAR=
# pairs) in a process group of its own, stdout to OUT, stderr appended to
# ERR; wait for it.  Waiting in the background lets a SIGTERM handler run
# at once (bash defers traps while a foreground command runs) and kill the
# group (lsm_kill_child).
in_background() {
	local out=$1 err=$2 rc=0
	shift 2
	# shellcheck disable=SC2016
	setsid bash -c 'out=$1 err=$2; shift 2; lsm_as_pg "$@" >"$out" 2>>"$err" </dev/null' \
		in_background "$out" "$err" "${PG_ENV[@]}" "$@" &
	LSM_CHILD_PID=$!
	wait "$LSM_CHILD_PID" || rc=$?
	LSM_CHILD_PID=""
	return "$rc"
}

echo "cluster running: PGHOST=$SOCKDIR PGPORT=$PORT (log: $TMP/postmaster.log)"
psql_b -d postgres -c "CREATE DATABASE $DB" || {
	failed "CREATE DATABASE failed"
	exit 1
}
if ! psql_b -c "CREATE EXTENSION lsm" 2>"$LOGDIR/create_extension.log"; then
	cat "$LOGDIR/create_extension.log" >&2
	failed "CREATE EXTENSION lsm failed (is the extension installed?)"
	exit 1
fi
psql_b -f "$LSM_ROOT/test/bench/setup.sql" >/dev/null || {
	failed "test/bench/setup.sql failed"
	exit 1
}
if [ -n "${LSM_BENCH_SETUP_SQL:-}" ]; then
	echo "bench: running LSM_BENCH_SETUP_SQL"
	psql_b -c "$LSM_BENCH_SETUP_SQL" >/dev/null || {
		failed "LSM_BENCH_SETUP_SQL failed"
		exit 1
	}
fi

# pg_prewarm (contrib) loads an index arm's table and index before its
# pgbench runs; without it they start from whatever the previous arm left
HAS_PREWARM=0
psql_b -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" >/dev/null 2>&1 && HAS_PREWARM=1

has_am() { [ "$(value "SELECT bench_has_am('$1', '$2')")" = t ]; }
HAS_LSM=0 HAS_COMPACT=0
has_am lsm t && HAS_LSM=1
[ "$(value "SELECT to_regprocedure('lsm_compact(regclass,boolean)') IS NOT NULL")" = t ] && HAS_COMPACT=1
if [ "$HAS_LSM" -ne 1 ]; then
	failed "the lsm table access method does not exist after CREATE EXTENSION lsm"
	exit 1
fi

# ---------------------------------------------------------------------------
# what the run was measured on
# ---------------------------------------------------------------------------
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta scale "$SCALE"
meta rounds "$ROUNDS"
meta nproc "$(nproc)"
meta memory "$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
meta cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
meta kernel "$(uname -sr)"
meta postgresql "$(value 'SELECT version()')"
meta lsm_version "$(value 'SELECT lsm_version()')"
git_rev=$(git -C "$LSM_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$LSM_ROOT" status --porcelain -- src 2>/dev/null)" ]; then
	git_rev+=" + uncommitted changes in src/"
fi
meta git "$git_rev"
meta parameters "N_NARROW=$N_NARROW N_BTREE=$N_BTREE N_EVENTS=$N_EVENTS INS_TX=$INS_TX LOOKUP_S=$LOOKUP_S TPCB_SCALE=$TPCB_SCALE TPCB_TX=$TPCB_TX HOT_TX=$HOT_TX N_CHURN=$N_CHURN N_HASH=$N_HASH N_UUID=$N_UUID SCAN_RUNS=$SCAN_RUNS ROUNDS=$ROUNDS Q_ROUNDS=$Q_ROUNDS"
for c in "${BENCH_CONF[@]}"; do
	meta config "$c"
done

# ---------------------------------------------------------------------------
# helpers of the workloads
# ---------------------------------------------------------------------------

# record WORKLOAD METRIC ARM REP VALUE
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; }

# record_output WORKLOAD ARM REP < output -- every "metric|number" line of a
# step's output is a sample; a short summary goes to the console.
record_output() {
	local wl=$1 arm=$2 rep=$3 line m v shown=""
	while IFS= read -r line; do
		if [[ "$line" =~ ^([a-z][a-z0-9_]*)\|(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)$ ]]; then
			m=${BASH_REMATCH[1]}
			v=${BASH_REMATCH[2]}
			record "$wl" "$m" "$arm" "$rep" "$v"
			shown+=" $m=$(LC_ALL=C printf '%.4g' "$v")"
		fi
	done
	[ -n "$shown" ] && printf '  %-8s #%s:%s\n' "$arm" "$rep" "$shown"
	return 0
}

# sql_step WORKLOAD ARM REP [psql args] <<'SQL' -- run a step's SQL (psql
# variables: arm, rep, and those given); record its "metric|value" lines.
sql_step() {
	local wl=$1 arm=$2 rep=$3 out rc=0
	shift 3
	printf '\n== %s: %s #%s (%s) ==\n' "$wl" "$arm" "$rep" "$(date '+%H:%M:%S')" >>"$STEPLOG"
	cat >"$SCRIPTS/step.sql"
	in_background "$SCRIPTS/step.out" "$STEPLOG" -- timeout "$STEP_TIMEOUT" \
		psql -X -q -At -v ON_ERROR_STOP=1 -v arm="$arm" -v rep="$rep" "$@" \
		-f "$SCRIPTS/step.sql" || rc=$?
	out=$(cat "$SCRIPTS/step.out")
	printf '%s\n' "$out" >>"$STEPLOG"
	if [ "$rc" -ne 0 ]; then
		echo "bench: step $wl $arm #$rep failed (exit status $rc); last lines of $STEPLOG:" >&2
		tail -n 8 "$STEPLOG" >&2
		return 1
	fi
	record_output "$wl" "$arm" "$rep" <<<"$out"
}

# pgbench_step WORKLOAD ARM REP METRIC [PGOPTIONS] -- pgbench args...
# Runs pgbench on the bench database; records its tps as METRIC (unless
# METRIC is empty); its progress lines (-P) are kept in
# progress/WORKLOAD.ARM.REP.pgbench.
pgbench_step() {
	local wl=$1 arm=$2 rep=$3 metric=$4 opts="" out rc=0 tps
	shift 4
	if [ "$1" != "--" ]; then
		opts=$1
		shift
	fi
	shift
	local prog="$PROG/$wl.$arm.$rep.pgbench"
	printf '\n== %s: %s #%s pgbench %s (%s) ==\n' "$wl" "$arm" "$rep" "$*" "$(date '+%H:%M:%S')" >>"$STEPLOG"
	: >"$prog"
	in_background "$SCRIPTS/step.out" "$prog" "PGOPTIONS=$QUIET_OPTS $opts" -- \
		timeout "$STEP_TIMEOUT" pgbench "$@" || rc=$?
	out=$(cat "$SCRIPTS/step.out")
	printf '%s\n' "$out" >>"$STEPLOG"
	grep -v '^progress: ' "$prog" >>"$STEPLOG" || true
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | tail -n 1)
	if [ "$rc" -ne 0 ] || [ -z "$tps" ]; then
		echo "bench: pgbench step $wl $arm #$rep failed (exit status $rc); last lines of $STEPLOG:" >&2
		tail -n 8 "$STEPLOG" >&2
		return 1
	fi
	if ! grep -q '^number of failed transactions: 0 ' <<<"$out" &&
		grep -q '^number of failed transactions:' <<<"$out"; then
		echo "bench: pgbench step $wl $arm #$rep had failed transactions" >&2
		return 1
	fi
	[ -z "$metric" ] || record_output "$wl" "$arm" "$rep" <<<"$metric|$tps"
}

# checkpoint -- the CHECKPOINT before an arm that is not one SQL step
checkpoint() { psql_b -c CHECKPOINT; }

# sampler_start FILE -- sample the progress of COPY (pg_stat_progress_copy)
# every SAMPLE_S seconds into FILE ("epoch|tuples" lines) until sampler_stop.
sampler_start() {
	sampler_stop
	# shellcheck disable=SC2016
	setsid bash -c 'out=$1; shift; lsm_as_pg "$@" >"$out" 2>/dev/null' \
		sampler "$1" "${PG_ENV[@]}" -- psql -X -q -At -f "$SCRIPTS/copy_progress.sql" &
	SAMPLER_PID=$!
}
cat >"$SCRIPTS/copy_progress.sql" <<EOF
SELECT extract(epoch FROM clock_timestamp())::numeric(16,3),
       coalesce((SELECT sum(tuples_processed) FROM pg_stat_progress_copy
                  WHERE command = 'COPY FROM'), -1) \\watch $SAMPLE_S
EOF

# arm_order ROUNDS ARM... -- the order in which arms run: forward then
# backward, ROUNDS times (A B B A, or A B C C B A); prints "arm rep" lines.
arm_order() {
	local rounds=$1 r a
	shift
	local -A n=()
	local -a fwd=("$@") bwd=()
	for ((r = $#; r > 0; r--)); do bwd+=("${!r}"); done
	for ((r = 0; r < rounds; r++)); do
		for a in "${fwd[@]}" "${bwd[@]}"; do
			n[$a]=$((${n[$a]:-0} + 1))
			echo "$a ${n[$a]}"
		done
	done
}

# arms FUNCTION ARM... -- call FUNCTION ARM REP in arm_order, ROUNDS
# rounds; stop at the first failure.  arms_q: Q_ROUNDS rounds, for the
# short query measurements, whose arms can alternate more often.
arms() { arms_n "$ROUNDS" "$@"; }
arms_q() { arms_n "$Q_ROUNDS" "$@"; }
arms_n() {
	local rounds=$1 fn=$2 step
	local -a order
	shift 2
	mapfile -t order < <(arm_order "$rounds" "$@")
	for step in "${order[@]}"; do
		# shellcheck disable=SC2086  # "arm rep"
		"$fn" $step || return 1
	done
}

# server_alive -- the server answers; if it does not (a crash), try to
# start it again so that later workloads can still run.
server_alive() {
	psql_b -c 'SELECT 1' >/dev/null 2>&1 && return 0
	failed "the server stopped answering (crash?); see $RESULTS/postmaster.log"
	lsm_pg_stop "$DATADIR"
	lsm_pg_start "$DATADIR" "$TMP/postmaster.log" && psql_b -c 'SELECT 1' >/dev/null 2>&1
}

# workload ID "TITLE" EXTENSION "BASELINES" FUNCTION -- run one workload
# and register it for the report (ratio = EXTENSION / each BASELINE).
workload() {
	local id=$1 title=$2 ext=$3 bases=$4 fn=$5 t0=$SECONDS status=ok
	banner "$id: $title"
	if ! "$fn"; then
		status=failed
		failed "workload $id (see $STEPLOG)"
		server_alive || true
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t\n' "$id" "$status" "$title" "$ext" "$bases" \
		"$((SECONDS - t0))" >>"$WORKLOADS"
	echo "($id: $((SECONDS - t0)) s)"
}

# skipped ID "TITLE" "WHY" -- a workload whose access method does not exist
skipped() {
	banner "$1: $2"
	echo "$3"
	printf '%s\tskipped\t%s\t\t\t0\t%s\n' "$1" "$2" "$3" >>"$WORKLOADS"
}

# ---------------------------------------------------------------------------
# data: seeded, generated once per run by the server into files
# ---------------------------------------------------------------------------
banner "generating data files"
t0=$SECONDS
# narrow rows: id (1..N, in order), r (random bigint), v (random int 0..999)
NMAX=$N_NARROW
[ "$N_BTREE" -gt "$NMAX" ] && NMAX=$N_BTREE
[ "$N_CHURN" -gt "$NMAX" ] && NMAX=$N_CHURN
psql_b -v n="$NMAX" -v file="$DATA/narrow_all.tsv" <<'SQL' || { failed "generating data failed"; exit 1; }
SELECT setseed(0.42) \g /dev/null
COPY (SELECT g, (random() * 1e12)::bigint, (random() * 999)::int
        FROM generate_series(1::bigint, :n) g) TO :'file';
SQL
# prefixes of the same rows for the workloads that use fewer
for spec in "narrow:$N_NARROW" "narrow_btree:$N_BTREE" "churn:$N_CHURN"; do
	head -n "${spec#*:}" "$DATA/narrow_all.tsv" >"$DATA/${spec%%:*}.tsv"
done
rm -f "$DATA/narrow_all.tsv"
# events: increasing timestamps (20 a second), 16 hosts, three levels
# (90 % info, 8 % warning, 2 % error), repetitive HTTP-log-like messages
psql_b -v n="$N_EVENTS" -v file="$DATA/events.tsv" <<'SQL' || { failed "generating data failed"; exit 1; }
COPY (
  SELECT timestamptz '2024-01-01 00:00:00+00'
           + (g * 50 + (g * 7919) % 37) * interval '1 millisecond' AS ts,
         'web-' || lpad(((g * 7) % 16)::text, 2, '0') AS host,
         CASE WHEN h < 900 THEN 'info' WHEN h < 980 THEN 'warning' ELSE 'error' END AS level,
         (ARRAY['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'])[1 + (g * 13) % 6]
           || ' /api/v1/'
           || (ARRAY['items', 'users', 'orders', 'carts', 'search', 'sessions'])[1 + (g * 17) % 6]
           || '/' || (g * 31) % 5000
           || ' -> ' || CASE WHEN h < 900 THEN '200 OK' WHEN h < 980 THEN '404 Not Found'
                            ELSE '500 Internal Server Error' END
           || ' in ' || (g * 7) % 500 || ' ms' AS msg
    FROM (SELECT g, (g * 2654435761) % 1000 AS h
            FROM generate_series(1::bigint, :n) g) s
) TO :'file';
SQL
lsm_give_to_pg "$DATA"
# WAL segment files: create 1.5 GB of them now and let a checkpoint recycle
# them (min_wal_size keeps 2 GB), so that the first arm to write much WAL
# does not pay for creating files that later arms merely reuse
psql_b >/dev/null <<'SQL' || { failed "WAL warm-up failed"; exit 1; }
CREATE TABLE bench_wal_warmup (i int);
SELECT 'INSERT INTO bench_wal_warmup VALUES (1)', 'SELECT pg_switch_wal()'
  FROM generate_series(1, 96) \gexec
DROP TABLE bench_wal_warmup;
CHECKPOINT;
SQL
echo "data files ready ($((SECONDS - t0)) s): $(du -sh "$DATA" | cut -f1)"

# ---------------------------------------------------------------------------
# ingest
# ---------------------------------------------------------------------------

# copy_step WORKLOAD TABLE_PREFIX FILE ROWS "COLUMNS" INDEX_COLUMN ARM REP
copy_step() {
	local wl=$1 prefix=$2 file=$3 rows=$4 cols=$5 idx=$6 arm=$7 rep=$8 rc=0
	sampler_start "$PROG/$wl.$arm.$rep.copy"
	sql_step "$wl" "$arm" "$rep" -v tbl="${prefix}_$arm" -v file="$file" -v rows="$rows" \
		-v cols="$cols" -v idx="${idx:-none}" -v has_idx="$([ -n "$idx" ] && echo true || echo false)" <<'SQL' || rc=$?
DROP TABLE IF EXISTS :"tbl";
CREATE TABLE :"tbl" (:cols) USING :"arm";
\if :has_idx
CREATE INDEX ON :"tbl" (:"idx");
\endif
CHECKPOINT;
CALL bench_mark();
COPY :"tbl" FROM :'file';
SELECT bench_elapsed_s() AS s, bench_wal_bytes() AS w \gset
SELECT 'copy_time_s', :s;
SELECT 'copy_rows_per_s', round(:rows / :s);
SELECT 'wal_bytes', :w;
SELECT 'table_size_bytes', pg_table_size(:'tbl');
\if :has_idx
SELECT 'index_size_bytes', bench_index_bytes(:'tbl');
\endif
SQL
	sampler_stop
	return "$rc"
}

NARROW_COLS="id bigint, r bigint, v int"
EVENTS_COLS="ts timestamptz, host text, level text, msg text"

narrow_step() { copy_step ingest_narrow narrow "$DATA/narrow.tsv" "$N_NARROW" "$NARROW_COLS" "" "$@"; }
wl_ingest_narrow() { arms narrow_step heap lsm; }

narrow_btree_step() { copy_step ingest_narrow_btree narrow_btree "$DATA/narrow_btree.tsv" "$N_BTREE" "$NARROW_COLS" r "$@"; }
wl_ingest_narrow_btree() {
	arms narrow_btree_step heap lsm || return 1
	# not needed any more; keep the disk and the cache for the rest
	psql_b -c "DROP TABLE narrow_btree_heap, narrow_btree_lsm"
}

events_step() { copy_step ingest_events events "$DATA/events.tsv" "$N_EVENTS" "$EVENTS_COLS" "" "$@"; }
wl_ingest_events() { arms events_step heap lsm; }

insert_step() {
	local arm=$1 rep=$2 l0
	cat >"$SCRIPTS/insert_$arm.sql" <<EOF
\\set r random(1, 1000000000000)
\\set v random(0, 999)
\\set id :client_id * 1000000000 + :r % 1000000000
INSERT INTO ins_$arm (id, r, v) VALUES (:id, :r, :v);
EOF
	psql_b -v arm="$arm" -v tbl="ins_$arm" <<'SQL' || return 1
DROP TABLE IF EXISTS :"tbl";
CREATE TABLE :"tbl" (id bigint, r bigint, v int) USING :"arm";
CHECKPOINT;
SQL
	l0=$(value "SELECT pg_current_wal_insert_lsn()") || return 1
	pgbench_step ingest_insert "$arm" "$rep" insert_tps -- \
		-n -M prepared -c 2 -j 2 -t "$INS_TX" -P 1 -f "$SCRIPTS/insert_$arm.sql" || return 1
	sql_step ingest_insert "$arm" "$rep" -v l0="$l0" <<'SQL'
SELECT 'wal_bytes', pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :'l0');
SELECT 'table_size_bytes', pg_table_size('ins_' || :'arm');
SQL
}
wl_ingest_insert() {
	arms insert_step heap lsm || return 1
	psql_b -c "DROP TABLE ins_heap, ins_lsm"
}

# ensure_loaded PREFIX -- the narrow or events tables of both arms, for a
# workload group run without "ingest" (LSM_BENCH_WORKLOADS); not timed.
ensure_loaded() {
	local prefix=$1 arm file cols
	case "$prefix" in
		narrow) file="$DATA/narrow.tsv" cols=$NARROW_COLS ;;
		events) file="$DATA/events.tsv" cols=$EVENTS_COLS ;;
	esac
	for arm in heap lsm; do
		[ "$(value "SELECT to_regclass('${prefix}_$arm') IS NOT NULL")" = t ] && continue
		echo "(loading ${prefix}_$arm, not timed)"
		psql_b -v tbl="${prefix}_$arm" -v arm="$arm" -v cols="$cols" -v file="$file" <<'SQL' || return 1
CREATE TABLE :"tbl" (:cols) USING :"arm";
COPY :"tbl" FROM :'file';
VACUUM ANALYZE :"tbl";
SQL
	done
}

# ---------------------------------------------------------------------------
# maintenance after load: heap VACUUM ANALYZE; lsm lsm_compact(full) when
# it exists, then VACUUM ANALYZE.  One sample per arm (it changes the
# table: a second run would measure something else).
# ---------------------------------------------------------------------------
maint_step() {
	local prefix=$1 arm=$2 rep=$3
	sql_step "maint_$prefix" "$arm" "$rep" -v tbl="${prefix}_$arm" -v compact="$HAS_COMPACT" <<'SQL'
SELECT :'arm' = 'lsm' AND :compact = 1 AS do_compact \gset
\if :do_compact
CHECKPOINT;
CALL bench_mark();
SELECT lsm_compact(:'tbl'::regclass, true);
SELECT bench_elapsed_s() AS s, bench_wal_bytes() AS w \gset
SELECT 'compact_s', :s;
SELECT 'compact_wal_bytes', :w;
SELECT 'table_after_compact_bytes', pg_table_size(:'tbl');
\endif
CHECKPOINT;
CALL bench_mark();
VACUUM ANALYZE :"tbl";
SELECT bench_elapsed_s() AS s, bench_wal_bytes() AS w \gset
SELECT 'vacuum_analyze_s', :s;
SELECT 'vacuum_analyze_wal_bytes', :w;
SELECT 'table_size_bytes', pg_table_size(:'tbl');
SQL
}
maint_narrow_step() { maint_step narrow "$@"; }
maint_events_step() { maint_step events "$@"; }
wl_maint_narrow() {
	ensure_loaded narrow || return 1
	maint_narrow_step heap 1 && maint_narrow_step lsm 1
}
wl_maint_events() {
	ensure_loaded events || return 1
	maint_events_step heap 1 && maint_events_step lsm 1
}

# ---------------------------------------------------------------------------
# scans of cached tables: count(*), sum(v)
# ---------------------------------------------------------------------------
scan_run() {
	local wl=$1 arm=$2 rep=$3
	sql_step "$wl" "$arm" "$rep" -v tbl="narrow_$arm" -v runs="$SCAN_RUNS" <<'SQL'
CHECKPOINT;
SELECT 'table_size_bytes', pg_table_size(:'tbl');
-- one untimed run of each first: a new session loads its caches
SELECT bench_query_ms(format('SELECT count(*) FROM %I', :'tbl')) \g /dev/null
SELECT 'count_ms', bench_query_ms(format('SELECT count(*) FROM %I', :'tbl'))
  FROM generate_series(1, :runs);
SELECT bench_query_ms(format('SELECT sum(v) FROM %I', :'tbl')) \g /dev/null
SELECT 'sum_ms', bench_query_ms(format('SELECT sum(v) FROM %I', :'tbl'))
  FROM generate_series(1, :runs);
SQL
}
wl_scan() {
	ensure_loaded narrow || return 1
	# warm-up: read both tables into the cache (not recorded)
	psql_b -c "SELECT count(*), sum(v) FROM narrow_heap" -c "SELECT count(*), sum(v) FROM narrow_lsm" \
		-c "SELECT count(*), sum(v) FROM narrow_heap" -c "SELECT count(*), sum(v) FROM narrow_lsm" \
		>/dev/null || return 1
	arms_q scan_step heap lsm
}
scan_step() { scan_run scan_narrow "$1" "$2"; }

# the same with an lsm table whose runs are stored uncompressed
# (lsm.compression none): what decompression costs a scan
scan_raw_step() { scan_run scan_narrow_raw "$1" "$2"; }
wl_scan_raw() {
	ensure_loaded narrow || return 1
	if [ "$(value "SELECT to_regclass('narrow_lsm_raw') IS NOT NULL")" != t ]; then
		echo "(loading narrow_lsm_raw, not timed)"
		psql_b -v cols="$NARROW_COLS" -v file="$DATA/narrow.tsv" <<'SQL' || return 1
CREATE TABLE narrow_lsm_raw (:cols) USING lsm;
SELECT lsm_set_option('narrow_lsm_raw', 'compression', 'none');
COPY narrow_lsm_raw FROM :'file';
VACUUM ANALYZE narrow_lsm_raw;
SQL
	fi
	psql_b -c "SELECT count(*), sum(v) FROM narrow_heap" -c "SELECT count(*), sum(v) FROM narrow_lsm_raw" \
		-c "SELECT count(*), sum(v) FROM narrow_heap" -c "SELECT count(*), sum(v) FROM narrow_lsm_raw" \
		>/dev/null || return 1
	arms_q scan_raw_step heap lsm_raw || return 1
	psql_b -c "DROP TABLE narrow_lsm_raw" >/dev/null
}

# ---------------------------------------------------------------------------
# btree on id of the narrow tables: build, point lookups, short ranges
# ---------------------------------------------------------------------------
lookup_build_step() {
	local arm=$1 rep=$2
	sql_step lookup_btree "$arm" "$rep" -v tbl="narrow_$arm" -v idx="narrow_${arm}_id" <<'SQL' || return 1
DROP INDEX IF EXISTS :"idx";
CHECKPOINT;
CALL bench_mark();
CREATE INDEX :"idx" ON :"tbl" (id);
SELECT bench_elapsed_s() AS s, bench_wal_bytes() AS w \gset
SELECT 'build_s', :s;
SELECT 'build_wal_bytes', :w;
SELECT 'index_size_bytes', pg_relation_size(:'idx');
SQL
}
lookup_query_step() {
	local arm=$1 rep=$2
	cat >"$SCRIPTS/point_$arm.sql" <<EOF
\\set id random(1, $N_NARROW)
SELECT v FROM narrow_$arm WHERE id = :id;
EOF
	cat >"$SCRIPTS/range_$arm.sql" <<EOF
\\set id random(1, $((N_NARROW - 99)))
SELECT sum(v) FROM narrow_$arm WHERE id BETWEEN :id AND :id + 99;
EOF
	checkpoint >/dev/null || return 1
	pgbench_step lookup_btree "$arm" "$rep" point_lookup_tps -- \
		-n -M prepared -c 2 -j 2 -T "$LOOKUP_S" -f "$SCRIPTS/point_$arm.sql" || return 1
	pgbench_step lookup_btree "$arm" "$rep" range_100_rows_tps -- \
		-n -M prepared -c 2 -j 2 -T "$LOOKUP_S" -f "$SCRIPTS/range_$arm.sql"
}
wl_lookup() {
	ensure_loaded narrow || return 1
	arms lookup_build_step heap lsm || return 1
	arms_q lookup_query_step heap lsm || return 1
	# the plans, for the log
	{
		echo "== lookup_btree: plans =="
		psql_b -c "EXPLAIN (COSTS OFF) SELECT v FROM narrow_heap WHERE id = 42" \
			-c "EXPLAIN (COSTS OFF) SELECT v FROM narrow_lsm WHERE id = 42" \
			-c "EXPLAIN (COSTS OFF) SELECT sum(v) FROM narrow_lsm WHERE id BETWEEN 42 AND 141"
	} >>"$STEPLOG" 2>&1
}

# ---------------------------------------------------------------------------
# pgbench tpcb-like, every table heap or lsm (one database per arm)
# ---------------------------------------------------------------------------
TPCB_SIZE_SQL="SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 'pgbench%'"

tpcb_step() {
	local arm=$1 rep=$2 db="bench_tpcb_$1" t0 t1 l0 l1 s0 s1
	local -a dbenv=("${PG_ENV[@]}" "PGDATABASE=$db")
	printf '\n== tpcb: %s #%s init (%s) ==\n' "$arm" "$rep" "$(date '+%H:%M:%S')" >>"$STEPLOG"
	checkpoint >/dev/null || return 1
	l0=$(value "SELECT pg_current_wal_insert_lsn()") || return 1
	t0=$(date +%s.%N)
	lsm_as_pg "${dbenv[@]}" "PGOPTIONS=$QUIET_OPTS -c default_table_access_method=$arm" -- \
		timeout "$STEP_TIMEOUT" pgbench -i -q -s "$TPCB_SCALE" >>"$STEPLOG" 2>&1 || return 1
	t1=$(date +%s.%N)
	l1=$(value "SELECT pg_current_wal_insert_lsn()") || return 1
	s0=$(lsm_as_pg "${dbenv[@]}" -- psql -X -At -c "$TPCB_SIZE_SQL") || return 1
	record_output tpcb "$arm" "$rep" <<EOF
init_s|$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
init_wal_bytes|$(value "SELECT pg_wal_lsn_diff('$l1', '$l0')")
size_after_init_bytes|$s0
EOF
	checkpoint >/dev/null || return 1
	l0=$(value "SELECT pg_current_wal_insert_lsn()") || return 1
	local -a pgb=(-n -M prepared -c 2 -j 2 -t "$TPCB_TX" -P 1 "$db")
	# pgbench_step uses PGDATABASE of PG_ENV; the database is the last argument
	pgbench_step tpcb "$arm" "$rep" tpcb_tps -- "${pgb[@]}" || return 1
	l1=$(value "SELECT pg_current_wal_insert_lsn()") || return 1
	s1=$(lsm_as_pg "${dbenv[@]}" -- psql -X -At -c "$TPCB_SIZE_SQL") || return 1
	record_output tpcb "$arm" "$rep" <<EOF
tpcb_wal_bytes|$(value "SELECT pg_wal_lsn_diff('$l1', '$l0')")
size_after_run_bytes|$s1
growth_bytes|$((s1 - s0))
EOF
}
wl_tpcb() {
	local arm
	for arm in heap lsm; do
		psql_b -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench_tpcb_$arm" -c "CREATE DATABASE bench_tpcb_$arm" >/dev/null || return 1
		lsm_as_pg "${PG_ENV[@]}" "PGDATABASE=bench_tpcb_$arm" -- psql -X -q -c "CREATE EXTENSION lsm" || return 1
	done
	arms tpcb_step heap lsm || return 1
	psql_b -c "DROP DATABASE bench_tpcb_heap" -c "DROP DATABASE bench_tpcb_lsm" >/dev/null
}

# ---------------------------------------------------------------------------
# a table of 2 rows that are updated all the time (as pgbench's branches at
# scale 2): each UPDATE finds its row by a sequential scan; lsm gives every
# new version a new TID, so the table collects logical blocks without a
# page, which every scan walks through until VACUUM lets scans start beyond
# them; the later phases run after a VACUUM
# ---------------------------------------------------------------------------
hot_step() {
	local arm=$1 rep=$2
	cat >"$SCRIPTS/hot_update_$arm.sql" <<EOF
\\set id random(1, 2)
UPDATE hot_$arm SET v = v + 1 WHERE id = :id;
EOF
	cat >"$SCRIPTS/hot_scan_$arm.sql" <<EOF
SELECT count(*) FROM hot_$arm;
EOF
	psql_b -c "DROP TABLE IF EXISTS hot_$arm" \
		-c "CREATE TABLE hot_$arm (id int, v int) USING $arm" \
		-c "INSERT INTO hot_$arm VALUES (1, 0), (2, 0)" >/dev/null || return 1
	checkpoint >/dev/null || return 1
	pgbench_step hot_rows "$arm" "$rep" update_tps -- \
		-n -M prepared -c 2 -j 2 -t "$HOT_TX" -P 1 -f "$SCRIPTS/hot_update_$arm.sql" || return 1
	# what autovacuum would have done by then (lsm: sequential scans start
	# beyond the blocks left empty, doc/lsm-design.md section 7)
	psql_b -c "VACUUM hot_$arm" >/dev/null || return 1
	pgbench_step hot_rows "$arm" "$rep" update_after_tps -- \
		-n -M prepared -c 2 -j 2 -T "$LOOKUP_S" -f "$SCRIPTS/hot_update_$arm.sql" || return 1
	pgbench_step hot_rows "$arm" "$rep" scan_after_tps -- \
		-n -M prepared -c 2 -j 2 -T "$LOOKUP_S" -f "$SCRIPTS/hot_scan_$arm.sql" || return 1
	record_output hot_rows "$arm" "$rep" <<EOF
table_bytes|$(value "SELECT pg_table_size('hot_$arm')")
EOF
	psql_b -c "DROP TABLE hot_$arm" >/dev/null
}
wl_hot() { arms hot_step heap lsm; }

# ---------------------------------------------------------------------------
# DELETE half + VACUUM, then INSERT the half again
# ---------------------------------------------------------------------------
delete_step() {
	sql_step delete_half "$1" "$2" -v tbl="churn_$1" -v file="$DATA/churn.tsv" -v n="$N_CHURN" <<'SQL'
DROP TABLE IF EXISTS :"tbl";
CREATE TABLE :"tbl" (id bigint, r bigint, v int) USING :"arm";
COPY :"tbl" FROM :'file';
CREATE INDEX ON :"tbl" (id);
VACUUM ANALYZE :"tbl";
SELECT 'table_before_bytes', pg_table_size(:'tbl');
SELECT 'index_before_bytes', bench_index_bytes(:'tbl');
CHECKPOINT;
CALL bench_mark();
DELETE FROM :"tbl" WHERE id % 2 = 0;
SELECT bench_elapsed_s() AS s, bench_wal_bytes() AS w \gset
SELECT 'delete_s', :s;
SELECT 'delete_wal_bytes', :w;
CALL bench_mark();
VACUUM :"tbl";
SELECT bench_elapsed_s() AS s, bench_wal_bytes() AS w \gset
SELECT 'vacuum_s', :s;
SELECT 'vacuum_wal_bytes', :w;
SELECT 'table_after_vacuum_bytes', pg_table_size(:'tbl');
SELECT 'index_after_vacuum_bytes', bench_index_bytes(:'tbl');
CALL bench_mark();
INSERT INTO :"tbl" SELECT g * 2, g, (g % 1000)::int FROM generate_series(1, :n / 2) g;
SELECT bench_elapsed_s() AS s \gset
SELECT 'reinsert_s', :s;
SELECT 'table_after_reinsert_bytes', pg_table_size(:'tbl');
SELECT 'index_after_reinsert_bytes', bench_index_bytes(:'tbl');
DROP TABLE :"tbl";
SQL
}
wl_delete() { arms delete_step heap lsm; }

# ---------------------------------------------------------------------------
# index AMs: build time, size, queries.  Each arm has its own copy of the
# (heap) table, so that only the index differs and the query runs of the
# arms can alternate without rebuilding; enable_seqscan = off for them.
# ---------------------------------------------------------------------------

# Parameters of the index workload that runs (set by index_workload).
IX_WL="" IX_SRC="" IX_COL="" IX_BODY="" IX_METRIC="" IX_KIND=""

# index_copies SRC ARM... -- SRC_ARM: a copy of table SRC (same physical
# order) for each arm, vacuumed and analyzed; not timed.
index_copies() {
	local src=$1 arm
	shift
	for arm in "$@"; do
		[ "$(value "SELECT to_regclass('${src}_$arm') IS NOT NULL")" = t ] && continue
		psql_b -v src="$src" -v tbl="${src}_$arm" <<'SQL' || return 1
CREATE TABLE :"tbl" (LIKE :"src") USING heap;
INSERT INTO :"tbl" SELECT * FROM :"src";
VACUUM ANALYZE :"tbl";
SQL
	done
}

index_build_step() {
	local arm=$1 rep=$2
	sql_step "$IX_WL" "$arm" "$rep" -v tbl="${IX_SRC}_$arm" -v col="$IX_COL" \
		-v idx="${IX_SRC}_${arm}_bench_idx" <<'SQL'
DROP INDEX IF EXISTS :"idx";
CHECKPOINT;
CALL bench_mark();
CREATE INDEX :"idx" ON :"tbl" USING :"arm" (:col);
SELECT bench_elapsed_s() AS s, bench_wal_bytes() AS w \gset
SELECT 'build_s', :s;
SELECT 'build_wal_bytes', :w;
SELECT 'index_size_bytes', pg_relation_size(:'idx');
SQL
}

# index_restart_prewarm ARM... -- when pg_prewarm is there, restart the
# server (empty shared buffers) and load each arm's table and index
index_restart_prewarm() {
	local arm sql=""
	[ "$HAS_PREWARM" -eq 1 ] || return 0
	for arm in "$@"; do
		sql+="${sql:+, }pg_prewarm('${IX_SRC}_$arm'), pg_prewarm('${IX_SRC}_${arm}_bench_idx')"
	done
	lsm_pg_stop "$DATADIR"
	lsm_pg_start "$DATADIR" "$TMP/postmaster.log" || return 1
	psql_b -c "SELECT $sql" >/dev/null
}

# IX_BODY names the table as TBL.
#   IX_KIND pgbench: IX_BODY is a pgbench script, run LOOKUP_S seconds
#   IX_KIND query:   IX_BODY is one SQL query, timed SCAN_RUNS times
index_query_step() {
	local arm=$1 rep=$2 body
	body=${IX_BODY//TBL/${IX_SRC}_$arm}
	if [ "$IX_KIND" = pgbench ]; then
		printf '%s\n' "$body" >"$SCRIPTS/$IX_WL.$arm.sql"
		checkpoint >/dev/null || return 1
		# every arm starts from the same state: a restarted server (empty
		# shared buffers; the restart's checkpoint has little to write) with
		# this arm's table and index loaded.  Without the restart the arm
		# that ran last before, and so came first in the next round (the
		# order alternates), found its pages in the buffers with high usage
		# counts, and the one that came after two other arms did not: at the
		# large scale the three copies do not all fit, and the int8 samples
		# split 6-9 % by position.
		index_restart_prewarm "$arm" || return 1
		pgbench_step "$IX_WL" "$arm" "$rep" "$IX_METRIC" "-c enable_seqscan=off" -- \
			-n -M prepared -c 2 -j 2 -T "$LOOKUP_S" -f "$SCRIPTS/$IX_WL.$arm.sql"
	else
		sql_step "$IX_WL" "$arm" "$rep" -v q="$body" -v metric="$IX_METRIC" -v runs="$SCAN_RUNS" <<'SQL'
CHECKPOINT;
SET enable_seqscan = off;
-- one untimed run first: a new session loads its caches
SELECT bench_query_ms(:'q') \g /dev/null
SELECT :'metric', bench_query_ms(:'q') FROM generate_series(1, :runs);
SQL
	fi
}

# index_plan ARM -- the plan of the query, for the log: prepared as
# pgbench -M prepared does (pgbench variables become parameters), executed
# with 1 for each parameter
index_plan() {
	local arm=$1 body prep nparams args=""
	body=${IX_BODY//TBL/${IX_SRC}_$arm}
	prep=$(grep -v '^[\]' <<<"$body" | perl -0pe 'my %n; s/(?<!:):([a-z_]+)/$n{$1} = 1 + keys %n unless exists $n{$1}; "\$$n{$1}"/ge; s/;\s*$//')
	nparams=$(grep -o '\$[0-9]*' <<<"$prep" | sort -u | wc -l)
	# shellcheck disable=SC2046
	((nparams > 0)) && args="($(printf '1%.0s,' $(seq "$nparams") | sed 's/,$//'))"
	{
		echo "== $IX_WL: plan with $arm =="
		lsm_as_pg "${PG_ENV[@]}" "PGOPTIONS=$QUIET_OPTS -c enable_seqscan=off" -- psql -X -At \
			-c "PREPARE p AS $prep" -c "EXPLAIN (COSTS OFF) EXECUTE p$args"
	} >>"$STEPLOG" 2>&1 || true
}

# index_workload WORKLOAD SRC COLUMN BODY METRIC KIND ARM...
index_workload() {
	IX_WL=$1 IX_SRC=$2 IX_COL=$3 IX_BODY=$4 IX_METRIC=$5 IX_KIND=$6
	shift 6
	local arm
	index_copies "$IX_SRC" "$@" || return 1
	arms index_build_step "$@" || return 1
	for arm in "$@"; do index_plan "$arm"; done
	arms_q index_query_step "$@" || return 1
	if [ "$IX_KIND" = pgbench ]; then
		local rep base ext=${!#}
		for ((rep = 1; rep <= ROUNDS; rep++)); do
			for base in "${@:1:$#-1}"; do
				index_mixed_step "$rep" "$base" "$ext" || return 1
			done
		done
	fi
}

# index_mixed_step REP BASE EXT -- the pgbench scripts of arms BASE and EXT
# (written by index_query_step) in one pgbench run of 2 * LOOKUP_S
# seconds, in which each of the 2 clients picks one of the two scripts at
# random for every transaction, after a restart and a pg_prewarm of both
# arms' tables and indexes.  Records each arm's mean transaction latency
# (from pgbench's log of every transaction) as mixed_BASE__<metric>_us,
# which the report compares with BASE only.  Separate runs' rates spread by
# 10-30 % on a machine whose speed swings; here both arms are measured at
# the same moments, so the swings cancel out of the ratio (these ratios
# spread by about 1 %).  Two arms at a time, not all: at the large scale
# the three int8 copies do not fit in shared_buffers together, and the
# arm with the smallest index would win by keeping its pages in the
# buffers.  The arms still share the CPU caches, so their latencies are
# not those of the separate runs.
index_mixed_step() {
	local rep=$1 base=$2 ext=$3 arm out metric script_no=0
	metric="mixed_${base}__${IX_METRIC%_tps}_latency_us"
	checkpoint >/dev/null || return 1
	index_restart_prewarm "$base" "$ext" || return 1
	rm -rf "$SCRIPTS/txlog"
	mkdir "$SCRIPTS/txlog"
	lsm_give_to_pg "$SCRIPTS/txlog"
	pgbench_step "$IX_WL" "mixed_$base" "$rep" "" "-c enable_seqscan=off" -- \
		-n -M prepared -c 2 -j 2 -T "$((2 * LOOKUP_S))" \
		-f "$SCRIPTS/$IX_WL.$base.sql@1" -f "$SCRIPTS/$IX_WL.$ext.sql@1" \
		-l --log-prefix="$SCRIPTS/txlog/tx" || return 1
	# a log line: client transaction latency_us script_no epoch epoch_us
	out=$(cat "$SCRIPTS/txlog"/tx.* |
		awk '{ n[$4]++; s[$4] += $3 } END { for (i in n) printf "%d %.3f\n", i, s[i] / n[i] }')
	rm -rf "$SCRIPTS/txlog"
	for arm in "$base" "$ext"; do
		record_output "$IX_WL" "$arm" "$rep" <<<"$metric|$(awk -v i="$script_no" '$1 == i { print $2 }' <<<"$out")"
		script_no=$((script_no + 1))
	done
}

# drop_index_copies SRC -- the copies are not needed any more
drop_index_copies() {
	psql_b -c "DROP TABLE IF EXISTS $1_btree, $1_hash, $1_brin, $1_xhash, $1_zonemap, $1_bitmap"
}

# ensure_key_table TABLE ROWS COLUMN TYPE EXPR WHAT -- a table (i bigint,
# COLUMN TYPE, v int) of ROWS rows, i = 1..ROWS and COLUMN = EXPR of i
# (written with g), unless it exists
ensure_key_table() {
	local tbl=$1 n=$2 col=$3 type=$4 expr=$5 what=$6
	[ "$(value "SELECT to_regclass('$tbl') IS NOT NULL")" = t ] && return 0
	echo "(creating table $tbl: $n rows of $what keys, not timed)"
	psql_b <<SQL
CREATE TABLE $tbl (i bigint, $col $type, v int) USING heap;
INSERT INTO $tbl
  SELECT g, $expr, (g % 1000)::int
    FROM generate_series(1, $n) g;
VACUUM ANALYZE $tbl;
SQL
}

# the int8 keys: k is a permutation of 1..N_HASH spread over 0 .. 2^32
ensure_kv() {
	ensure_key_table kv "$N_HASH" k bigint '(g * 2654435761) % 4294967296' int8
}

# the UUID keys: u is the UUID text of md5(i)
ensure_kvu() {
	ensure_key_table kvu "$N_UUID" u text 'md5(g::text)::uuid::text' 'UUID text'
}

# xhash: point lookups of existing keys, one table per key type, each
# holding only its key (each arm gets a copy; at the large scale the three
# UUID copies and their indexes take 1.7 GB of shared_buffers' 2 GB, the
# three int8 ones 2.2 GB)
wl_xhash_int8() {
	ensure_kv || return 1
	index_workload xhash_int8 kv k "\\set i random(1, $N_HASH)
\\set k (:i * 2654435761) % 4294967296
SELECT v FROM TBL WHERE k = :k;" point_lookup_tps pgbench hash btree xhash
}
wl_xhash_uuid() {
	ensure_kvu || return 1
	index_workload xhash_uuid kvu u "\\set i random(1, $N_UUID)
SELECT v FROM TBL WHERE u = md5(:i::text)::uuid::text;" point_lookup_tps pgbench hash btree xhash
}

# upd_run WL ARM REP TBL IDX SQL...: make table TBL with the statements
# SQL..., then record index IDX's size, run UPDATE ... SET v = v + 1 by a
# random id of 1..N_UPD through pgbench (2 clients, UPD_TX each) and record
# the size again; the table is made again for each run, so every arm starts
# from the same state
upd_run() {
	local wl=$1 arm=$2 rep=$3 tbl=$4 idx=$5 sql
	local setup=()
	shift 5
	for sql in "$@"; do setup+=(-c "$sql"); done
	cat >"$SCRIPTS/$tbl.sql" <<EOF
\\set id random(1, $N_UPD)
UPDATE $tbl SET v = v + 1 WHERE id = :id;
EOF
	psql_b -c "DROP TABLE IF EXISTS $tbl" "${setup[@]}" \
		-c "VACUUM ANALYZE $tbl" >/dev/null || return 1
	checkpoint >/dev/null || return 1
	record_output "$wl" "$arm" "$rep" <<EOF
index_before_bytes|$(value "SELECT pg_relation_size('$idx')")
EOF
	pgbench_step "$wl" "$arm" "$rep" update_tps "-c enable_seqscan=off -c enable_bitmapscan=off" -- \
		-n -M prepared -c 2 -j 2 -t "$UPD_TX" -P 1 -f "$SCRIPTS/$tbl.sql" || return 1
	record_output "$wl" "$arm" "$rep" <<EOF
index_after_bytes|$(value "SELECT pg_relation_size('$idx')")
EOF
	psql_b -c "DROP TABLE $tbl" >/dev/null
}

# xhash, hash, btree on an lsm table whose rows are updated all the time,
# each UPDATE finding its row through the index (lsm has no HOT: every
# update adds an entry to the index); what the index grows to and how fast
# the updates run
upd_step() {
	local arm=$1 tbl="upd_$1"
	upd_run xhash_update "$arm" "$2" "$tbl" "${tbl}_id" \
		"CREATE TABLE $tbl (id int, v int) USING lsm" \
		"INSERT INTO $tbl SELECT g, 0 FROM generate_series(1, $N_UPD) g" \
		"CREATE INDEX ${tbl}_id ON $tbl USING $arm (id)"
}
wl_xhash_update() { arms upd_step hash btree xhash; }

# xhash, hash, btree on the column k of an lsm table with only FREQ_KEYS
# distinct values (each key with N_UPD / FREQ_KEYS rows: xhash keeps them
# in overflow chains, hash in overflow pages, btree deduplicates), the
# rows updated through a btree on id, which leaves k alone: every update
# still adds an entry for k (no HOT in lsm), and only the index itself
# can shed the old versions' entries before VACUUM
freq_step() {
	local arm=$1 tbl="freq_$1"
	upd_run xhash_frequent "$arm" "$2" "$tbl" "${tbl}_k" \
		"CREATE TABLE $tbl (id int, k int, v int) USING lsm" \
		"INSERT INTO $tbl SELECT g, g % $FREQ_KEYS, 0 FROM generate_series(1, $N_UPD) g" \
		"CREATE INDEX ${tbl}_id ON $tbl (id)" \
		"CREATE INDEX ${tbl}_k ON $tbl USING $arm (k)"
}
wl_xhash_frequent() { arms freq_step hash btree xhash; }

# zonemap: time ranges of one minute on the event table's timestamps
wl_zonemap() {
	local minutes=$((N_EVENTS / 1200 - 1))
	[ "$minutes" -ge 1 ] || minutes=1
	ensure_loaded events || return 1
	index_workload zonemap_ts events_heap ts "\\set m random(0, $((minutes - 1)))
SELECT count(*) FROM TBL
 WHERE ts >= timestamptz '2024-01-01 00:00:00+00' + :m * interval '1 minute'
   AND ts < timestamptz '2024-01-01 00:01:00+00' + :m * interval '1 minute';" \
		range_1_minute_tps pgbench brin btree zonemap
}

# bitmap: the rare value of a low-cardinality column
wl_bitmap() {
	ensure_loaded events || return 1
	index_workload bitmap_level events_heap level \
		"SELECT count(*) FROM TBL WHERE level = 'error'" error_count_ms query btree bitmap
}

# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------
if want ingest; then
	workload ingest_narrow "ingest: COPY $N_NARROW narrow rows (bigint, bigint, int)" lsm heap wl_ingest_narrow
	workload ingest_narrow_btree "ingest: COPY $N_BTREE narrow rows, btree on the random column" lsm heap wl_ingest_narrow_btree
	workload ingest_events "ingest: COPY $N_EVENTS event rows (timestamptz, 3 repetitive texts)" lsm heap wl_ingest_events
	workload ingest_insert "ingest: $((2 * INS_TX)) single-row INSERT transactions (pgbench, 2 clients)" lsm heap wl_ingest_insert
fi
if want maint; then
	if [ "$HAS_COMPACT" -eq 1 ]; then
		what="VACUUM ANALYZE; lsm: lsm_compact(full), then VACUUM ANALYZE"
	else
		what="VACUUM ANALYZE"
		skipped compact "size after lsm_compact(full)" "lsm_compact(regclass, boolean): not built yet"
	fi
	workload maint_narrow "after load, narrow table: $what" lsm heap wl_maint_narrow
	workload maint_events "after load, event table: $what" lsm heap wl_maint_events
fi
if want scan; then
	workload scan_narrow "scans of the cached narrow table: count(*), sum(v) (${SCAN_RUNS} runs per step)" lsm heap wl_scan
	# LOAD: the library's GUCs exist in a session once it is loaded
	if [ "$(psql_b -c "LOAD 'lsm'" -c "SELECT current_setting('lsm.compression', true) IS NOT NULL")" = t ]; then
		workload scan_narrow_raw "the same scans, lsm runs stored uncompressed (lsm.compression none)" lsm_raw heap wl_scan_raw
	else
		skipped scan_narrow_raw "scans of uncompressed runs" "lsm.compression: not built yet"
	fi
fi
if want lookup; then
	workload lookup_btree "btree on id of the narrow table: build, point lookups, 100-row ranges (pgbench runs of ${LOOKUP_S} s, 2 clients)" lsm heap wl_lookup
fi
if want tpcb; then
	workload tpcb "pgbench tpcb-like, scale $TPCB_SCALE, $((2 * TPCB_TX)) transactions (2 clients), all tables" lsm heap wl_tpcb
	workload hot_rows "2 rows updated $((2 * HOT_TX)) times (2 clients, sequential scans), then updates and count(*) for ${LOOKUP_S} s each" lsm heap wl_hot
fi
if want delete; then
	workload delete_half "$N_CHURN rows with a btree: DELETE half, VACUUM, INSERT the half again" lsm heap wl_delete
fi
if want xhash; then
	if has_am xhash i; then
		workload xhash_int8 "index on $N_HASH int8 keys: build, size, point lookups (pgbench runs of ${LOOKUP_S} s, 2 clients)" xhash "hash btree" wl_xhash_int8
		workload xhash_uuid "index on $N_UUID UUID text keys: build, size, point lookups (pgbench runs of ${LOOKUP_S} s, 2 clients)" xhash "hash btree" wl_xhash_uuid
		workload xhash_update "index on the id of an lsm table of $N_UPD rows, updated $((2 * UPD_TX)) times through it (2 clients): size before and after, update rate" xhash "hash btree" wl_xhash_update
		workload xhash_frequent "index on a column with $FREQ_KEYS values of an lsm table of $N_UPD rows, updated $((2 * UPD_TX)) times through a btree on id (2 clients): size before and after, update rate" xhash "hash btree" wl_xhash_frequent
		drop_index_copies kv >/dev/null || true
		drop_index_copies kvu >/dev/null || true
	else
		skipped xhash "xhash vs hash and btree" "xhash: not built yet"
	fi
fi
if want zonemap; then
	if has_am zonemap i; then
		workload zonemap_ts "index on the event table's timestamp: build, size, 1-minute ranges (pgbench runs of ${LOOKUP_S} s, 2 clients)" zonemap "brin btree" wl_zonemap
	else
		skipped zonemap "zonemap vs BRIN and btree" "zonemap: not built yet"
	fi
fi
if want bitmap; then
	if has_am bitmap i; then
		workload bitmap_level "index on the event table's level (3 values): build, size, count of the 2 % value" bitmap btree wl_bitmap
		drop_index_copies events_heap >/dev/null || true
	else
		skipped bitmap "bitmap vs btree" "bitmap: not built yet"
	fi
fi
meta workload_seconds "$((SECONDS - STARTED_AT))"

# ---------------------------------------------------------------------------
# stop the cluster, check its log, report
# ---------------------------------------------------------------------------
lsm_pg_stop "$DATADIR"
DATADIR=""
cp "$TMP/postmaster.log" "$RESULTS/postmaster.log" 2>/dev/null || true
if grep -nE 'PANIC|TRAP:|terminated by signal' "$RESULTS/postmaster.log" >"$LOGDIR/server-problems.txt"; then
	echo "bench: the server logged crashes or PANICs:" >&2
	head -n 20 "$LOGDIR/server-problems.txt" >&2
	failed "server log: PANIC/TRAP/crash (see $RESULTS/postmaster.log)"
fi
meta total_seconds "$((SECONDS - STARTED_AT))"

banner "results"
report_args=(--dir "$RESULTS")
[ "${LSM_BENCH_UPDATE_DOC:-0}" = 1 ] && report_args+=(--doc "$LSM_ROOT/doc/benchmarks.md")
if ! perl "$LSM_ROOT/test/bench/report.pl" "${report_args[@]}"; then
	failed "test/bench/report.pl failed"
fi
stamp=$(date -u '+%Y%m%d-%H%M%S')
cp "$RESULTS/bench.json" "$RESULTS/history/$stamp-$SCALE.json" 2>/dev/null || true
cp "$RESULTS/bench.md" "$RESULTS/history/$stamp-$SCALE.md" 2>/dev/null || true
exit 0
