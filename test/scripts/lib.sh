# shellcheck shell=bash
#
# lib.sh -- helpers shared by run_tests.sh, test_core.sh, bench.sh and demo.sh.
#
# Source it after "set -euo pipefail"; it defines functions and a few
# variables and runs nothing with side effects.
#
#   LSM_ROOT       top directory of the repository
#   PG_CONFIG      pg_config to use (environment may override; passed to make)
#   PG_OS_USER     OS user that owns and runs clusters (postgres when we are
#                  root, the invoking user otherwise)
#
# lsm_pg_paths (call after deps.sh) sets:
#   PG_BINDIR, PGXS_ROOT, PG_REGRESS, PG_ISOLATION_REGRESS
#

# shellcheck disable=SC2034  # used by the scripts that source this file
LSM_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
# The PostgreSQL 15 pg_config (from postgresql-client-15), not whatever
# /usr/bin/pg_config picks when several server versions are installed.
if [ -z "${PG_CONFIG:-}" ]; then
	if [ -x /usr/lib/postgresql/15/bin/pg_config ]; then
		PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
	else
		PG_CONFIG=pg_config
	fi
fi

if [ "$(id -u)" -eq 0 ]; then
	PG_OS_USER=postgres
else
	PG_OS_USER=$(id -un)
fi

# Process group of the long-running child started by lsm_run_logged, so
# that a signal handler can kill it and everything below it.
LSM_CHILD_PID=""

lsm_msg() { printf '%s\n' "$*"; }
lsm_warn() { printf 'WARNING: %s\n' "$*" >&2; }

lsm_have_user() { id -u "$1" >/dev/null 2>&1; }

# lsm_pg_paths -- locate the server's binaries and the PGXS test programs.
lsm_pg_paths() {
	local pgxs_mk
	PG_BINDIR=$("$PG_CONFIG" --bindir)
	export PG_BINDIR
	pgxs_mk=$("$PG_CONFIG" --pgxs)
	# .../lib/pgxs/src/makefiles/pgxs.mk -> .../lib/pgxs
	PGXS_ROOT=$(cd -- "$(dirname -- "$pgxs_mk")/../.." && pwd)
	PG_REGRESS="$PGXS_ROOT/src/test/regress/pg_regress"
	PG_ISOLATION_REGRESS="$PGXS_ROOT/src/test/isolation/pg_isolation_regress"
	local f
	for f in "$PG_BINDIR/initdb" "$PG_BINDIR/pg_ctl" "$PG_BINDIR/psql" \
		"$PG_REGRESS" "$PG_ISOLATION_REGRESS"; do
		if [ ! -x "$f" ]; then
			lsm_warn "$f not found (is postgresql-server-dev-15 installed?)"
			return 1
		fi
	done
}

# lsm_as_pg VAR=value ... -- command args...
#
# Run a command as PG_OS_USER with a clean, predictable environment: only
# PATH (server bindir first), HOME, LANG=C.UTF-8 and the VAR=value pairs
# given before "--".  Nothing else leaks in (no stray PGDATABASE etc.).
lsm_as_pg() {
	local -a vars=()
	while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
		vars+=("$1")
		shift
	done
	[ "${1:-}" = "--" ] && shift
	local home
	home=$(getent passwd "$PG_OS_USER" | cut -d: -f6)
	[ -n "$home" ] && [ -d "$home" ] || home=/tmp
	local -a envcmd=(env -i
		"PATH=$PG_BINDIR:/usr/local/bin:/usr/bin:/bin"
		"HOME=$home" "LANG=C.UTF-8" "USER=$PG_OS_USER" "LOGNAME=$PG_OS_USER"
		"${vars[@]}")
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$PG_OS_USER" -- "${envcmd[@]}" "$@"
	else
		"${envcmd[@]}" "$@"
	fi
}
# lsm_run_logged runs commands in a child bash: make lsm_as_pg and what it
# needs available there.
export -f lsm_as_pg
export PG_OS_USER

# lsm_mktemp PREFIX -- create a private temp directory under /tmp owned by
# PG_OS_USER (mode 0700: root and that user can use it, nobody else).
lsm_mktemp() {
	local d
	d=$(mktemp -d "/tmp/$1.XXXXXX")
	chmod 0700 "$d"
	if [ "$(id -u)" -eq 0 ]; then
		chown "$PG_OS_USER:" "$d"
	fi
	printf '%s\n' "$d"
}

# lsm_give_to_pg PATH... -- hand files over to PG_OS_USER (when root).
lsm_give_to_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$PG_OS_USER:" "$@"
	fi
}

# lsm_pick_port -- a port number for a cluster that only listens on a Unix
# socket in its own private directory.  No other server can own a socket
# in that directory, so any port is free; we pick a random one so that log
# lines of concurrent runs are easy to tell apart.
lsm_pick_port() {
	printf '%d\n' $((20000 + RANDOM % 10000))
}

# lsm_initdb DATADIR SOCKDIR PORT [conf-line ...]
#
# initdb a cluster (C locale, UTF8, trust auth, superuser "postgres") and
# append the given lines plus Unix-socket-only settings to postgresql.conf.
lsm_initdb() {
	local datadir=$1 sockdir=$2 port=$3
	shift 3
	lsm_as_pg -- initdb -D "$datadir" -U postgres -A trust --locale=C -E UTF8 -N \
		>"$datadir.initdb.log" 2>&1 || {
		cat "$datadir.initdb.log" >&2
		return 1
	}
	{
		printf '\n# --- added by lsm test scripts ---\n'
		printf "listen_addresses = ''\n"
		printf "unix_socket_directories = '%s'\n" "$sockdir"
		printf 'port = %s\n' "$port"
		printf '%s\n' "$@"
	} >>"$datadir/postgresql.conf"
}

# lsm_pg_start DATADIR LOGFILE [pg_ctl args...]
lsm_pg_start() {
	local datadir=$1 logfile=$2
	shift 2
	lsm_as_pg -- pg_ctl -D "$datadir" -l "$logfile" -w -t 120 "$@" start >/dev/null || {
		lsm_warn "server in $datadir did not start; last lines of $logfile:"
		tail -n 30 "$logfile" >&2 || true
		return 1
	}
}

# lsm_pg_stop DATADIR -- fast shutdown, then immediate if that hangs.
lsm_pg_stop() {
	local datadir=$1
	[ -f "$datadir/postmaster.pid" ] || return 0
	lsm_as_pg -- pg_ctl -D "$datadir" -m fast -w -t 60 stop >/dev/null 2>&1 ||
		lsm_as_pg -- pg_ctl -D "$datadir" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
		true
}

# lsm_kill_postmasters_under DIR -- last-resort clean-up: any postmaster
# whose data directory lies under DIR (found via postmaster.pid) is sent
# SIGQUIT (immediate shutdown), then SIGKILL if it is still there after
# 10 seconds.  Only processes whose command line names DIR are touched.
lsm_kill_postmasters_under() {
	local dir=$1 pidfile pid cmdline
	local -a pids=()
	[ -d "$dir" ] || return 0
	while IFS= read -r -d '' pidfile; do
		pid=$(head -n 1 "$pidfile" 2>/dev/null || true)
		case "$pid" in '' | *[!0-9]*) continue ;; esac
		[ -r "/proc/$pid/cmdline" ] || continue
		cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
		case "$cmdline" in
			*"$dir"*) pids+=("$pid") ;;
		esac
	done < <(find "$dir" -name postmaster.pid -print0 2>/dev/null)
	[ "${#pids[@]}" -gt 0 ] || return 0
	lsm_warn "stopping leftover postmaster(s) under $dir: ${pids[*]}"
	kill -QUIT "${pids[@]}" 2>/dev/null || true
	local _ p alive
	for _ in $(seq 1 100); do
		alive=0
		for p in "${pids[@]}"; do
			kill -0 "$p" 2>/dev/null && alive=1
		done
		[ "$alive" -eq 0 ] && return 0
		sleep 0.1
	done
	kill -KILL "${pids[@]}" 2>/dev/null || true
}

# lsm_cleanup_cluster PROG KEEP LOG RESULTS -- the clean-up the scripts
# share: stop the cluster in $DATADIR (if any) and copy its log LOG (if
# given and present) to RESULTS/postmaster.log (if RESULTS exists); stop
# any postmaster left under $TMP (a TAP script's, a killed run's) and
# remove $TMP unless KEEP is 1 (then say so, as PROG).  Empties DATADIR
# and TMP, so that a second call does nothing.
lsm_cleanup_cluster() {
	local prog=$1 keep=$2 log=$3 results=$4
	if [ -n "${DATADIR:-}" ]; then
		lsm_pg_stop "$DATADIR"
		if [ -n "$log" ] && [ -f "$log" ] && [ -d "$results" ]; then
			cp "$log" "$results/postmaster.log" 2>/dev/null || true
		fi
		DATADIR=""
	fi
	if [ -n "${TMP:-}" ]; then
		lsm_kill_postmasters_under "$TMP"
		if [ "$keep" = 1 ]; then
			echo "$prog: keeping $TMP"
		else
			rm -rf "$TMP"
		fi
		TMP=""
	fi
}

# lsm_run_logged LOGFILE cmd args... -- run a command in its own process
# group, with output shown and appended to LOGFILE; returns its status.
#
# The command runs in the background and we "wait" for it, so that a
# SIGINT/SIGTERM handler in the calling script runs at once (bash defers
# traps while a foreground command runs) and can kill the whole group via
# lsm_kill_child.
lsm_run_logged() {
	local log=$1
	shift
	# shellcheck disable=SC2016
	setsid bash -c 'log=$1; shift; set -o pipefail; "$@" 2>&1 | tee -a "$log"' \
		lsm_run_logged "$log" "$@" &
	LSM_CHILD_PID=$!
	local rc=0
	wait "$LSM_CHILD_PID" || rc=$?
	LSM_CHILD_PID=""
	return "$rc"
}

# lsm_kill_child -- kill the process group started by lsm_run_logged.
lsm_kill_child() {
	local pid=$LSM_CHILD_PID
	[ -n "$pid" ] || return 0
	kill -TERM -- "-$pid" 2>/dev/null || true
	local _
	for _ in $(seq 1 50); do
		kill -0 -- "-$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
	LSM_CHILD_PID=""
}

# lsm_regress_results OUTPUT_FILE -- parse the per-test status lines that
# pg_regress and pg_isolation_regress print, one "name status" line per
# test on stdout, status being ok, FAILED or ignored.
lsm_regress_results() {
	sed -n -E \
		-e 's/^(test | +)([^ ]+) +\.\.\. (ok|FAILED|failed \(ignored\)).*/\2 \3/p' \
		"$1" | sed -e 's/ failed (ignored)$/ ignored/'
}

# lsm_schedule_tests SCHEDULE -- the test names of a pg_regress schedule,
# one per line, in order.
lsm_schedule_tests() {
	sed -n -E 's/^[[:space:]]*test:[[:space:]]*//p' "$1" | tr -s '[:blank:]' '\n' | sed '/^$/d'
}
