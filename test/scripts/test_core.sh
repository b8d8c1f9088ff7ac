#!/usr/bin/env bash
# Functions called only from traps look unreachable to shellcheck:
# shellcheck disable=SC2317
#
# test_core.sh AM -- run PostgreSQL's own regression suites with
# default_table_access_method = AM ("make test-core", "make test-core heap",
# "make test-core AM=heap").
#
#  1. deps (plus dpkg-dev for "apt-get source"); build and install lsm
#  2. a throwaway cluster whose postgresql.conf sets
#     default_table_access_method = 'AM'; CREATE EXTENSION lsm in template1,
#     from which the test databases "regression" and "isolation_regression"
#     are made (with pg_regress's own per-database settings; the drivers
#     run with --use-existing); also for AM=heap, so that a heap run and an
#     lsm run differ only by the AM
#  3. PostgreSQL's source for exactly the installed server version, from
#     the distribution's source package (apt-get source postgresql-15=VER,
#     adding deb-src entries in our own sources file if none exist),
#     unpacked once under /var/tmp/lsm-pgsrc/VER and reused afterwards
#  4. regress.so, autoinc.so and refint.so built from that source with PGXS
#  5. src/test/regress parallel_schedule with pg_regress, then
#     src/test/isolation isolation_schedule (plus the prepared-transaction
#     specs) with pg_isolation_regress
#  6. each failing test is listed; a failure whose diff consists only of
#     lines that differ by the AM's name (e.g. "Access method: lsm" in \d+
#     output, with the column widths that follow from it) is marked
#     "AM-name-only"; a test whose diff only adds catalog rows listing the
#     extension's own objects (e.g. "lsm | Table" in \dA output: present in
#     every database with the extension, also with AM=heap) counts as
#     passed and is named in the summary; the last line is
#     "N passed, M failed" over both suites (classify_diffs.pl)
#
# Exit status: 0 if nothing failed, 1 otherwise, 130 when interrupted.
#
# Environment knobs (optional):
#   LSM_CORE_SUITES="regress isolation"   which core suites to run
#   LSM_CORE_REGRESS="t1 t2"     run only these regress tests (after
#                                test_setup, which the others need)
#   LSM_CORE_ISOLATION="s1 s2"   run only these isolation specs
#   LSM_CORE_MAX_CONNECTIONS=10  parallel tests per group (pg_regress)
#   LSM_CORE_NO_BUILD=1          skip deps/build/install of lsm
#   LSM_CORE_KEEP=1              keep the temp dir
#   LSM_CORE_RESULTS=DIR         where diffs and logs are saved
#                                (default <repo>/results/test-core-AM)
#   LSM_PGSRC_DIR=/var/tmp/lsm-pgsrc   where the PostgreSQL source goes
#   LSM_CORE_SETUP_SQL="..."     SQL run in template1 after CREATE EXTENSION
#                                (e.g. to try the harness with a renamed
#                                heap: CREATE ACCESS METHOD heap2 TYPE TABLE
#                                HANDLER heap_tableam_handler, then AM=heap2)
#
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

AM=${1:-lsm}
case "$AM" in
	[a-z_]*) ;;
	*) AM="" ;;
esac
if [ -z "$AM" ] || [ -n "${AM//[a-z0-9_]/}" ]; then
	echo "test_core: usage: $0 AM   (AM: a table access method name, e.g. heap or lsm)" >&2
	exit 2
fi

SUITES=${LSM_CORE_SUITES:-regress isolation}
RESULTS=${LSM_CORE_RESULTS:-$LSM_ROOT/results/test-core-$AM}
PGSRC_ROOT=${LSM_PGSRC_DIR:-/var/tmp/lsm-pgsrc}
MAXCONN=${LSM_CORE_MAX_CONNECTIONS:-10}

PASS=0
FAIL=0
NAMEONLY=0
EXTONLY=()
FAILED_ITEMS=()
INTERRUPTED=0
TMP=""
DATADIR=""

want_suite() { case " $SUITES " in *" $1 "*) return 0 ;; *) return 1 ;; esac }
banner() { printf '\n==== %s ====\n' "$*"; }
passed() { PASS=$((PASS + $1)); }
failed() {
	FAIL=$((FAIL + 1))
	FAILED_ITEMS+=("$1")
}

cleanup() {
	cd /
	lsm_kill_child
	lsm_cleanup_cluster "test_core (LSM_CORE_KEEP=1)" "${LSM_CORE_KEEP:-0}" \
		"${TMP:+$TMP/postmaster.log}" "$RESULTS"
}

on_exit() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	cleanup
	if [ "$INTERRUPTED" -eq 1 ]; then
		failed "interrupted"
	elif [ "$rc" -ne 0 ] && [ "$FAIL" -eq 0 ]; then
		failed "test_core.sh itself failed (exit status $rc)"
	fi
	banner "summary (default_table_access_method = $AM)"
	local item
	for item in "${FAILED_ITEMS[@]}"; do
		echo "FAILED: $item"
	done
	if [ "${#EXTONLY[@]}" -gt 0 ]; then
		echo "passed although their output differs: ${EXTONLY[*]} (the diffs only add catalog" \
			"rows for the extension's own objects, as in any database with lsm installed; see the .diffs files)"
	fi
	if [ "$NAMEONLY" -gt 0 ]; then
		echo "($NAMEONLY of the failures differ only by the access method's name)"
	fi
	[ -d "$RESULTS" ] && echo "diffs and logs: $RESULTS"
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
	echo "test_core: interrupted, cleaning up" >&2
	exit 130
}

trap on_exit EXIT
trap on_signal INT TERM

rm -rf "$RESULTS"
mkdir -p "$RESULTS"
LOGDIR="$RESULTS"

# ---------------------------------------------------------------------------
# deps, build, install
# ---------------------------------------------------------------------------
if [ "${LSM_CORE_NO_BUILD:-0}" != 1 ]; then
	banner "dependencies and build"
	if ! "$LSM_ROOT/test/scripts/deps.sh" dpkg-dev; then
		failed "setup: test/scripts/deps.sh failed"
		exit 1
	fi
	if ! lsm_run_logged "$LOGDIR/build.log" make -C "$LSM_ROOT" -j "$(nproc)" "PG_CONFIG=$PG_CONFIG" >/dev/null ||
		! lsm_run_logged "$LOGDIR/build.log" make -C "$LSM_ROOT" "PG_CONFIG=$PG_CONFIG" install >/dev/null; then
		failed "setup: building or installing lsm failed (see $LOGDIR/build.log)"
		exit 1
	fi
	echo "lsm built and installed"
fi
if ! lsm_pg_paths; then
	failed "setup: PostgreSQL test programs not found"
	exit 1
fi
if [ "$(id -u)" -eq 0 ] && ! lsm_have_user "$PG_OS_USER"; then
	failed "setup: OS user $PG_OS_USER does not exist"
	exit 1
fi

PG_PKG_VERSION=$(dpkg-query -W -f='${Version}' postgresql-15)
SRC_BASE="$PGSRC_ROOT/$PG_PKG_VERSION"
PGSRC="$SRC_BASE/source"
DLDIR="$SRC_BASE/regress-lib"

# ---------------------------------------------------------------------------
# the cluster; check that the AM exists before fetching anything
# ---------------------------------------------------------------------------
banner "starting a cluster with default_table_access_method = $AM"
TMP=$(lsm_mktemp "lsm-core-$AM")
DATADIR="$TMP/data"
SOCKDIR="$TMP/sock"
PORT=$(lsm_pick_port)
mkdir -p "$DATADIR" "$SOCKDIR" "$TMP/regress" "$TMP/isolation"
chmod 0700 "$DATADIR"
lsm_give_to_pg "$TMP"

if ! lsm_initdb "$DATADIR" "$SOCKDIR" "$PORT" \
	"default_table_access_method = '$AM'" \
	"fsync = off" \
	"max_prepared_transactions = 10" \
	"max_connections = 60" \
	"shared_buffers = 128MB" \
	"lc_messages = 'C'" \
	"log_line_prefix = '%m [%p] %q%a '" \
	"log_min_messages = warning" ||
	! lsm_pg_start "$DATADIR" "$TMP/postmaster.log"; then
	failed "setup: the cluster did not start (see $RESULTS/postmaster.log)"
	exit 1
fi

psql_pg() {
	lsm_as_pg -- psql -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PORT" -U postgres "$@"
}

# New databases are made from template1 (core tests create some); give
# them the extension too.
if ! psql_pg -d template1 -c 'CREATE EXTENSION lsm'; then
	failed "setup: CREATE EXTENSION lsm failed"
	exit 1
fi
if [ -n "${LSM_CORE_SETUP_SQL:-}" ] && ! psql_pg -d template1 -c "$LSM_CORE_SETUP_SQL"; then
	failed "setup: LSM_CORE_SETUP_SQL failed"
	exit 1
fi
amtype=$(psql_pg -d template1 -A -t -c "SELECT amtype FROM pg_am WHERE amname = '$AM'")
if [ "$amtype" != t ]; then
	if [ -z "$amtype" ]; then
		echo "test_core: table access method \"$AM\" does not exist, even after CREATE EXTENSION lsm." >&2
		echo "test_core: table access methods available: $(psql_pg -d template1 -A -t -c \
			"SELECT string_agg(amname, ', ' ORDER BY amname) FROM pg_am WHERE amtype = 't'")" >&2
		[ "$AM" = lsm ] && echo "test_core: the lsm table access method is not built yet; try: make test-core heap" >&2
	else
		echo "test_core: \"$AM\" is an index access method, not a table access method" >&2
	fi
	failed "setup: no table access method \"$AM\""
	exit 1
fi
echo "cluster running: PGHOST=$SOCKDIR PGPORT=$PORT; table AM $AM exists"

# Names and OIDs of the extension's own objects (access methods, functions,
# operator classes, ...), for recognizing catalog listings that merely show
# them (opr_sanity lists operator families by access method OID).
EXT_NAMES="$TMP/extension-objects.txt"
psql_pg -d template1 -A -t -c "
	SELECT DISTINCT coalesce(o.name, regexp_replace(o.identity, '^([^.(]*[.])?([^( ]+).*\$', '\2'))
	  FROM pg_depend d
	  JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
	 CROSS JOIN LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) o
	 WHERE e.extname = 'lsm' AND d.deptype = 'e'
	UNION
	SELECT d.objid::text
	  FROM pg_depend d
	  JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
	 WHERE e.extname = 'lsm' AND d.deptype = 'e'" >"$EXT_NAMES"
cp "$EXT_NAMES" "$RESULTS/"

# The test databases, made as pg_regress makes them (same per-database
# settings) but from template1, so that they have the extension and
# whatever LSM_CORE_SETUP_SQL did; pg_regress then runs with --use-existing.
create_test_db() {
	local db=$1
	psql_pg -d postgres \
		-c "CREATE DATABASE \"$db\" TEMPLATE template1" \
		-c "ALTER DATABASE \"$db\" SET lc_messages TO 'C'" \
		-c "ALTER DATABASE \"$db\" SET lc_monetary TO 'C'" \
		-c "ALTER DATABASE \"$db\" SET lc_numeric TO 'C'" \
		-c "ALTER DATABASE \"$db\" SET lc_time TO 'C'" \
		-c "ALTER DATABASE \"$db\" SET bytea_output TO 'hex'" \
		-c "ALTER DATABASE \"$db\" SET timezone_abbreviations TO 'Default'"
}
if ! create_test_db regression || ! create_test_db isolation_regression; then
	failed "setup: could not create the test databases"
	exit 1
fi

# ---------------------------------------------------------------------------
# PostgreSQL source of the installed version
# ---------------------------------------------------------------------------

# deb-src entries for the distribution, derived from its deb entries, in a
# sources file of our own (only if no deb-src entry is configured at all).
ensure_deb_src() {
	local f etc=${LSM_APT_ETC:-/etc/apt} # LSM_APT_ETC: only to test this function
	for f in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
		[ -f "$f" ] && grep -qE '^[[:space:]]*deb-src[[:space:]]' "$f" && return 0
	done
	for f in "$etc"/sources.list.d/*.sources; do
		[ -f "$f" ] && grep -qiE '^Types:.*\bdeb-src\b' "$f" && return 0
	done
	if [ "$(id -u)" -ne 0 ]; then
		echo "test_core: no deb-src entries in the apt sources; as root, run this script once" \
			"or add deb-src entries for your distribution" >&2
		return 1
	fi
	local codename out_sources="$etc/sources.list.d/lsm-test-core-src.sources"
	local out_list="$etc/sources.list.d/lsm-test-core-src.list"
	codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
	[ -n "$codename" ] || {
		echo "test_core: cannot tell the distribution's codename from /etc/os-release" >&2
		return 1
	}
	# deb822 stanzas of type deb for this codename -> the same with deb-src
	for f in "$etc"/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v cn="$codename" '
			function flush() {
				if (n > 0 && isdeb && suiteok && enabled) {
					for (i = 1; i <= n; i++) print lines[i]
					print ""
				}
				n = 0; isdeb = 0; suiteok = 0; enabled = 1
			}
			BEGIN { n = 0; enabled = 1 }
			/^[[:space:]]*$/ { flush(); next }
			/^#/ { next }
			/^[Tt]ypes:/ {
				if ($0 ~ /[[:space:]]deb([[:space:]]|$)/) isdeb = 1
				lines[++n] = "Types: deb-src"; next
			}
			/^[Ss]uites:/ { if (index($0, cn) > 0) suiteok = 1 }
			/^[Ee]nabled:[[:space:]]*no/ { enabled = 0 }
			{ lines[++n] = $0 }
			END { flush() }
		' "$f"
	done >"$out_sources.tmp"
	# one-line entries: "deb [opts] uri suite comp..." -> "deb-src ..."
	for f in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk -v cn="$codename" '
			$1 == "deb" && index($0, " " cn) > 0 { sub(/^deb/, "deb-src"); print }
		' "$f"
	done >"$out_list.tmp"
	if [ ! -s "$out_sources.tmp" ] && [ ! -s "$out_list.tmp" ]; then
		rm -f "$out_sources.tmp" "$out_list.tmp"
		echo "test_core: found no deb entries for $codename to derive deb-src entries from" >&2
		return 1
	fi
	local tmpf
	for tmpf in "$out_sources.tmp" "$out_list.tmp"; do
		if [ -s "$tmpf" ]; then
			mv "$tmpf" "${tmpf%.tmp}"
			echo "test_core: added deb-src entries in ${tmpf%.tmp}"
		else
			rm -f "$tmpf"
		fi
	done
	[ "$etc" = /etc/apt ] || return 0
	apt-get update -q
}

fetch_source() {
	if [ -f "$PGSRC/src/test/regress/parallel_schedule" ] &&
		[ -f "$PGSRC/src/test/isolation/isolation_schedule" ]; then
		echo "PostgreSQL $PG_PKG_VERSION source: $PGSRC (already there)"
		return 0
	fi
	if [ "$(id -u)" -ne 0 ] && [ ! -w "$PGSRC_ROOT" ]; then
		echo "test_core: cannot write to $PGSRC_ROOT; run once as root or set LSM_PGSRC_DIR" >&2
		return 1
	fi
	ensure_deb_src || return 1
	echo "fetching the source package postgresql-15=$PG_PKG_VERSION into $SRC_BASE"
	mkdir -p "$PGSRC_ROOT"
	local work="$SRC_BASE.tmp.$$"
	rm -rf "$work"
	mkdir -p "$work"
	# let apt's download sandbox user write there (avoids a warning as root)
	if [ "$(id -u)" -eq 0 ] && lsm_have_user _apt; then
		chown _apt "$work"
	fi
	# apt-get source needs the deb-src index files; update once if missing
	if ! (cd "$work" && apt-get source -q "postgresql-15=$PG_PKG_VERSION"); then
		if [ "$(id -u)" -eq 0 ]; then
			echo "test_core: apt-get source failed; running apt-get update and retrying"
			apt-get update -q || true
			if ! (cd "$work" && apt-get source -q "postgresql-15=$PG_PKG_VERSION"); then
				rm -rf "$work"
				echo "test_core: apt-get source postgresql-15=$PG_PKG_VERSION failed" \
					"(is this version still in the archive?)" >&2
				return 1
			fi
		else
			rm -rf "$work"
			return 1
		fi
	fi
	# dpkg-source unpacks into postgresql-15-<upstream version>; rename it
	local unpacked
	unpacked=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'postgresql-*' | head -n 1)
	if [ -z "$unpacked" ] || [ ! -f "$unpacked/src/test/regress/parallel_schedule" ]; then
		echo "test_core: the source package did not unpack as expected in $work" >&2
		rm -rf "$work"
		return 1
	fi
	mv "$unpacked" "$work/source"
	chown -R "$(id -u):$(id -g)" "$work"
	rm -rf "$SRC_BASE"
	mv "$work" "$SRC_BASE"
	chmod -R a+rX "$SRC_BASE"
}

# regress.so (from src/test/regress/regress.c) and autoinc.so, refint.so
# (from contrib/spi; the triggers test loads them from the same directory),
# compiled against the installed server headers with a minimal PGXS file.
build_regress_lib() {
	local makefile
	# REFINT_VERBOSE as in contrib/spi/Makefile: the triggers test expects
	# refint's NOTICEs.
	makefile=$(
		cat <<-'EOF'
			# Built by lsm's test/scripts/test_core.sh
			MODULES = regress autoinc refint
			PG_CPPFLAGS = -DREFINT_VERBOSE
			PG_CONFIG = pg_config
			PGXS := $(shell $(PG_CONFIG) --pgxs)
			include $(PGXS)
		EOF
	)
	# the server they are built for is part of the key: a build against
	# another server's headers (say an assert-enabled one) is not reused
	makefile="$makefile
# server: $("$PG_CONFIG" --bindir) $("$PG_CONFIG" --configure | cksum)"
	if [ -f "$DLDIR/regress.so" ] && [ -f "$DLDIR/autoinc.so" ] && [ -f "$DLDIR/refint.so" ] &&
		[ "$(cat "$DLDIR/Makefile" 2>/dev/null)" = "$makefile" ]; then
		return 0
	fi
	echo "building regress.so, autoinc.so and refint.so in $DLDIR"
	rm -rf "$DLDIR"
	mkdir -p "$DLDIR"
	cp "$PGSRC/src/test/regress/regress.c" "$PGSRC/contrib/spi/autoinc.c" \
		"$PGSRC/contrib/spi/refint.c" "$DLDIR/"
	printf '%s\n' "$makefile" >"$DLDIR/Makefile"
	make -C "$DLDIR" -s with_llvm=no "PG_CONFIG=$PG_CONFIG" >"$DLDIR/build.log" 2>&1 || {
		cat "$DLDIR/build.log" >&2
		return 1
	}
	chmod -R a+rX "$DLDIR"
}

banner "PostgreSQL $PG_PKG_VERSION source and regress.so"
if ! fetch_source; then
	failed "setup: could not get the PostgreSQL $PG_PKG_VERSION source"
	exit 1
fi
if ! build_regress_lib; then
	failed "setup: could not build regress.so"
	exit 1
fi
echo "source: $PGSRC"
echo "regress.so: $DLDIR/regress.so"

# ---------------------------------------------------------------------------
# the suites
# ---------------------------------------------------------------------------

# count_core SUITE OUTPUT_LOG DIFFS STATUS TEST... -- one result per test;
# failures classified with classify_diffs.pl.
count_core() {
	local suite=$1 out=$2 diffs=$3 rc=$4
	shift 4
	local results classes="" name status class before=$FAIL
	results=$(lsm_regress_results "$out")
	if [ -s "$diffs" ]; then
		classes=$(perl "$LSM_ROOT/test/scripts/classify_diffs.pl" "$AM" "$diffs" "$EXT_NAMES" || true)
	fi
	for name in "$@"; do
		status=$(awk -v n="$name" '$1 == n { s = $2 } END { print s }' <<<"$results")
		case "$status" in
			ok) passed 1 ;;
			ignored)
				passed 1
				echo "$suite/$name failed but is marked 'ignore' in the schedule"
				;;
			FAILED)
				class=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$classes")
				if [ "$class" = extension-objects ]; then
					passed 1
					EXTONLY+=("$suite/$name")
					echo "$suite/$name: counted as passed: its diff only lists the extension's own objects"
				elif [ "$class" = am-name-only ]; then
					NAMEONLY=$((NAMEONLY + 1))
					failed "$suite/$name (AM-name-only)"
				else
					failed "$suite/$name"
				fi
				;;
			*) failed "$suite/$name (no result: did not run or the run aborted)" ;;
		esac
	done
	# pg_regress exits non-zero when a test failed; otherwise it is a problem
	if [ "$rc" -ne 0 ] && [ "$FAIL" -eq "$before" ] && ! grep -q ' FAILED$' <<<"$results"; then
		failed "$suite: driver exited with status $rc (see $out)"
	fi
}

save_diffs() {
	local suite=$1 outdir=$2
	if [ -f "$outdir/regression.diffs" ]; then
		cp "$outdir/regression.diffs" "$RESULTS/$suite.diffs"
		echo "$suite diffs: $RESULTS/$suite.diffs"
	fi
	[ -f "$outdir/regression.out" ] && cp "$outdir/regression.out" "$RESULTS/$suite.out"
	return 0
}

run_core_regress() {
	banner "core regress: parallel_schedule (max $MAXCONN connections)"
	local sched="$PGSRC/src/test/regress/parallel_schedule"
	local -a tests sel
	if [ -n "${LSM_CORE_REGRESS:-}" ]; then
		read -r -a tests <<<"test_setup $LSM_CORE_REGRESS"
		sel=("${tests[@]}")
	else
		mapfile -t tests < <(lsm_schedule_tests "$sched")
		sel=(--schedule="$sched")
	fi
	local rc=0 start=$SECONDS
	lsm_run_logged "$LOGDIR/regress.log" lsm_as_pg -- "$PG_REGRESS" \
		--inputdir="$PGSRC/src/test/regress" --outputdir="$TMP/regress" \
		--bindir="$PG_BINDIR" --dlpath="$DLDIR" \
		--host="$SOCKDIR" --port="$PORT" --user=postgres \
		--max-connections="$MAXCONN" --use-existing --dbname=regression \
		"${sel[@]}" || rc=$?
	save_diffs regress "$TMP/regress"
	count_core regress "$LOGDIR/regress.log" "$TMP/regress/regression.diffs" "$rc" "${tests[@]}"
	echo "core regress: $((SECONDS - start)) s"
}

run_core_isolation() {
	banner "core isolation: isolation_schedule + prepared-transaction specs"
	local sched="$PGSRC/src/test/isolation/isolation_schedule"
	local -a tests sel
	if [ -n "${LSM_CORE_ISOLATION:-}" ]; then
		read -r -a tests <<<"$LSM_CORE_ISOLATION"
		sel=("${tests[@]}")
	else
		mapfile -t tests < <(lsm_schedule_tests "$sched")
		# not in the schedule because they need max_prepared_transactions > 0
		tests+=(prepared-transactions prepared-transactions-cic)
		sel=(--schedule="$sched" prepared-transactions prepared-transactions-cic)
	fi
	local rc=0 start=$SECONDS
	lsm_run_logged "$LOGDIR/isolation.log" lsm_as_pg -- "$PG_ISOLATION_REGRESS" \
		--inputdir="$PGSRC/src/test/isolation" --outputdir="$TMP/isolation" \
		--bindir="$PG_BINDIR" \
		--host="$SOCKDIR" --port="$PORT" --user=postgres \
		--use-existing --dbname=isolation_regression \
		"${sel[@]}" || rc=$?
	save_diffs isolation "$TMP/isolation"
	count_core isolation "$LOGDIR/isolation.log" "$TMP/isolation/regression.diffs" "$rc" "${tests[@]}"
	echo "core isolation: $((SECONDS - start)) s"
}

want_suite regress && run_core_regress
want_suite isolation && run_core_isolation

if grep -nE 'PANIC|TRAP:|terminated by signal' "$TMP/postmaster.log" >"$RESULTS/server-problems.txt"; then
	echo "test_core: the server logged crashes or PANICs (see $RESULTS/server-problems.txt):" >&2
	head -n 20 "$RESULTS/server-problems.txt" >&2
	failed "server log: PANIC/TRAP/crash"
else
	rm -f "$RESULTS/server-problems.txt"
fi

exit 0
