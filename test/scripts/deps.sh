#!/usr/bin/env bash
#
# deps.sh -- make sure everything needed to build and test lsm is installed.
#
# Idempotent and fast when nothing is missing (it only asks dpkg).  As root
# it installs what is missing with apt-get; as any other user it prints the
# command to run and fails.
#
# The server development package is always pinned to the exact version of
# the installed postgresql-15 server package, so that apt never upgrades the
# server behind our back (headers and server must match).
#
# Usage: test/scripts/deps.sh [extra-package ...]
#   Extra packages (e.g. dpkg-dev for "apt-get source") are checked and
#   installed the same way.
#
set -euo pipefail

PG_MAJOR=15
SERVER_PKG="postgresql-${PG_MAJOR}"
DEV_PKG="postgresql-server-dev-${PG_MAJOR}"

log() { printf 'deps: %s\n' "$*" >&2; }
die() { printf 'deps: ERROR: %s\n' "$*" >&2; exit 1; }

# Prints the installed version of a package, or nothing if not installed.
installed_version() {
	local status
	status=$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' "$1" 2>/dev/null || true)
	case "$status" in
		ii*\|*) printf '%s\n' "${status#*|}" ;;
		*) ;;
	esac
}

command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script supports Debian/Ubuntu only"

server_version=$(installed_version "$SERVER_PKG")
if [ -z "$server_version" ]; then
	die "$SERVER_PKG (the PostgreSQL ${PG_MAJOR} server) is not installed; install it first, e.g. apt-get install $SERVER_PKG"
fi

# Each entry: "package" or "package=version" (version must match exactly).
wanted=(
	"${DEV_PKG}=${server_version}"
	liblz4-dev
	libipc-run-perl
	libroaring-dev
	gnuplot-nox
	gdb
	make
	gcc
	perl
	"$@"
)

missing=()
for spec in "${wanted[@]}"; do
	pkg=${spec%%=*}
	want=""
	[ "$pkg" != "$spec" ] && want=${spec#*=}
	have=$(installed_version "$pkg")
	if [ -z "$have" ]; then
		missing+=("$spec")
	elif [ -n "$want" ] && [ "$have" != "$want" ]; then
		log "$pkg is at version $have but the server is $server_version"
		missing+=("$spec")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	log "missing packages: ${missing[*]}"
	log "install them as root with:"
	log "  apt-get install --no-install-recommends ${missing[*]}"
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() {
	# --allow-downgrades: the pinned dev package may be older than what the
	# archive offers as candidate (or older than a dev package installed by
	# someone else).  The server package itself is never named here, so apt
	# has no reason to touch it; we check that afterwards anyway.
	apt-get install -y -q --no-install-recommends --allow-downgrades \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${missing[@]}"
}

log "installing: ${missing[*]}"
if ! apt_install; then
	log "install failed; running apt-get update and retrying"
	apt-get update -q || die "apt-get update failed"
	apt_install || die "apt-get install ${missing[*]} failed"
fi

now=$(installed_version "$SERVER_PKG")
if [ "$now" != "$server_version" ]; then
	die "$SERVER_PKG changed from $server_version to ${now:-<removed>} during the install; this must not happen"
fi
log "done"
