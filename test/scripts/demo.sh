#!/usr/bin/env bash
#
# demo.sh -- "make demo": build and install lsm, start a throwaway cluster
# in a fixed place, load a sample data set (test/scripts/demo.sql) and
# print side-by-side summaries.  The cluster is left running so that you
# can look around; "make demo-stop" (demo.sh stop) stops and removes it.
#
#   test/scripts/demo.sh          (re)create the demo; an old one is
#                                 stopped and removed first
#   test/scripts/demo.sh stop     stop and remove the demo cluster
#
# Environment knobs (optional):
#   LSM_DEMO_DIR=/tmp/lsm-demo    cluster directory (data/ and the socket)
#   LSM_DEMO_PORT=5499            port (of the Unix socket; no TCP)
#   LSM_DEMO_ROWS=1000000         rows in the sample table
#   LSM_DEMO_NO_BUILD=1           skip deps/build/install
#
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

DEMO_DIR=${LSM_DEMO_DIR:-/tmp/lsm-demo}
DEMO_PORT=${LSM_DEMO_PORT:-5499}
DEMO_ROWS=${LSM_DEMO_ROWS:-1000000}
DEMO_DB=demo
DATADIR="$DEMO_DIR/data"
MARKER="$DEMO_DIR/.lsm-demo"

die() {
	echo "demo: ERROR: $*" >&2
	exit 1
}

case "$DEMO_DIR" in
	/*/*) ;;
	*) die "LSM_DEMO_DIR must be an absolute path below a top-level directory (got '$DEMO_DIR')" ;;
esac
case "$DEMO_PORT" in '' | *[!0-9]*) die "LSM_DEMO_PORT must be a number" ;; esac
case "$DEMO_ROWS" in '' | *[!0-9]*) die "LSM_DEMO_ROWS must be a number" ;; esac

# stop_demo -- stop the demo cluster if it runs, and remove its directory.
stop_demo() {
	if [ ! -e "$DEMO_DIR" ]; then
		return 0
	fi
	if [ ! -f "$MARKER" ]; then
		die "$DEMO_DIR exists but was not made by demo.sh (no $MARKER); remove it yourself"
	fi
	if [ -f "$DATADIR/postmaster.pid" ]; then
		echo "demo: stopping the demo cluster in $DATADIR"
		if PG_BINDIR=$("$PG_CONFIG" --bindir 2>/dev/null); then
			lsm_pg_stop "$DATADIR"
		fi
	fi
	lsm_kill_postmasters_under "$DEMO_DIR"
	rm -rf "$DEMO_DIR"
}

if [ "${1:-}" = stop ]; then
	if [ ! -e "$DEMO_DIR" ]; then
		echo "demo: no demo cluster in $DEMO_DIR"
		exit 0
	fi
	stop_demo
	echo "demo: stopped and removed $DEMO_DIR"
	exit 0
elif [ -n "${1:-}" ]; then
	die "usage: $0 [stop]"
fi

started=$SECONDS

if [ "${LSM_DEMO_NO_BUILD:-0}" != 1 ]; then
	echo "== dependencies, build, install =="
	"$LSM_ROOT/test/scripts/deps.sh"
	make -C "$LSM_ROOT" -s -j "$(nproc)" "PG_CONFIG=$PG_CONFIG" >/dev/null
	make -C "$LSM_ROOT" -s "PG_CONFIG=$PG_CONFIG" install >/dev/null
fi
lsm_pg_paths

if [ "$(id -u)" -eq 0 ] && ! lsm_have_user "$PG_OS_USER"; then
	die "OS user $PG_OS_USER does not exist"
fi

stop_demo

echo "== starting a demo cluster in $DEMO_DIR (port $DEMO_PORT) =="
mkdir -p "$DATADIR"
touch "$MARKER"
chmod 0700 "$DEMO_DIR" "$DATADIR"
lsm_give_to_pg "$DEMO_DIR"
lsm_initdb "$DATADIR" "$DEMO_DIR" "$DEMO_PORT" \
	"shared_buffers = 256MB" \
	"maintenance_work_mem = 256MB" \
	"work_mem = 32MB" \
	"max_wal_size = 4GB" \
	"checkpoint_timeout = 30min" \
	"max_prepared_transactions = 10" \
	"jit = off" \
	"lc_messages = 'C'" \
	"log_line_prefix = '%m [%p] %q%a '" ||
	die "initdb failed"
lsm_pg_start "$DATADIR" "$DEMO_DIR/postmaster.log" || die "the demo cluster did not start"

psql_demo() {
	"$PG_BINDIR/psql" -X -h "$DEMO_DIR" -p "$DEMO_PORT" -U postgres "$@"
}

psql_demo -q -d postgres -c "CREATE DATABASE $DEMO_DB"
psql_demo -q -d "$DEMO_DB" -c "CREATE EXTENSION lsm"
echo "== extension lsm $(psql_demo -d "$DEMO_DB" -A -t -c 'SELECT lsm_version()') installed in database $DEMO_DB =="

psql_demo -d "$DEMO_DB" -v ON_ERROR_STOP=1 -v rows="$DEMO_ROWS" \
	-v datafile="$DEMO_DIR/demo_events.tsv" \
	-f "$LSM_ROOT/test/scripts/demo.sql" || die "the demo workload failed"

cat <<EOF
== the demo cluster keeps running (made in $((SECONDS - started)) s) ==
connect:  psql -h $DEMO_DIR -p $DEMO_PORT -U postgres $DEMO_DB
    (as root, or as the postgres user: runuser -u postgres -- psql -h $DEMO_DIR -p $DEMO_PORT $DEMO_DB)
log:      $DEMO_DIR/postmaster.log
stop:     make demo-stop
EOF
