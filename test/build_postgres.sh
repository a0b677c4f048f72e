#!/usr/bin/env bash
#
# test/build_postgres.sh MAJOR
#
# Builds PostgreSQL MAJOR (17 or 18) from Debian's source package, with the
# contrib module the suite uses (dblink), installed under
# /var/tmp/mongo_etl/pg/MAJOR, and prints the path of its pg_config on
# stdout.  An installation is reused while the source package's version is
# unchanged.  pg_cron is built from Debian's pg-cron source package the
# same way when the mirror serves it; when it does not (this project's
# machines reach a mirror that serves PostgreSQL's sources but not
# pg-cron's), the PostgreSQL is installed without it and test/run.sh skips
# the one test that needs it, saying why.
#
# The sources come from `apt-get source` with a sources list of its own
# (deb-src lines for Debian's trixie and sid suites) and apt state under
# /var/tmp/mongo_etl/apt, so the system's apt setup is left alone.  Only the
# upstream tarball inside the source package is built (Debian's patches move
# files into Debian's own layout), configured minimally: ICU, which the
# suite's collation tests need, and no readline or other optional library.
#
# Settings: MONGO_ETL_CACHE (default /var/tmp/mongo_etl), MONGO_ETL_DEBIAN_MIRROR
# (the Debian mirror, default the one the system's apt uses).
#
set -euo pipefail
shopt -s inherit_errexit

major=${1:-}
case "$major" in
17 | 18) ;;
*)
	echo "usage: $0 17|18" >&2
	exit 2
	;;
esac

cache=${MONGO_ETL_CACHE:-/var/tmp/mongo_etl}
prefix=$cache/pg/$major
apt_dir=$cache/apt
mirror=${MONGO_ETL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# how PostgreSQL is configured; a build made otherwise is made again
configure_flags=(--without-readline --enable-debug)
# packages the build needs, beyond those test/servers.sh installs
packages=(bison flex dpkg-dev make gcc zlib1g-dev pkg-config libicu-dev)

log() { echo "build_postgres.sh: $*" >&2; }

install_packages() {
	local missing=()
	for p in "${packages[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq "${missing[@]}" >&2
	fi
}

# apt-get and apt-cache with the private sources list and state
apt_private() {
	local tool=$1
	shift
	"$tool" -o Dir::Etc::SourceList="$apt_dir/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State="$apt_dir/state" \
		-o Dir::Cache="$apt_dir/cache" \
		-o Dir::State::status=/var/lib/dpkg/status \
		-o APT::Sandbox::User=root "$@"
}

setup_apt() {
	mkdir -p "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial"
	cat >"$apt_dir/sources.list" <<-EOF
		deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main
		deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main
	EOF
	apt_private apt-get update -qq >&2
}

# the newest version of a source package the private lists know
source_version() {
	apt_private apt-cache showsrc "$1" |
		awk '/^Version:/ { print $2 }' | sort -V | tail -1
}

# downloads a source package and unpacks its upstream tarball into $2,
# whose single top directory is printed
fetch_upstream() {
	local package=$1 version=$2 dir=$3
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && apt_private apt-get source -qq --download-only \
		"$package=$version") >&2 || return 1
	local tarball
	tarball=$(find "$dir" -maxdepth 1 -name '*.orig.tar.*' | head -1)
	[ -n "$tarball" ] && tar -xf "$tarball" -C "$dir" || return 1
	find "$dir" -mindepth 1 -maxdepth 1 -type d | head -1
}

build_postgres() {
	local version=$1 work=$cache/src/postgresql-$major src
	src=$(fetch_upstream "postgresql-$major" "$version" "$work")
	log "building PostgreSQL $version in $src (a few minutes)"
	rm -rf "$prefix"
	(
		cd "$src"
		./configure --prefix="$prefix" "${configure_flags[@]}" \
			>"$work/configure.log"
		{
			make -s -j"$(nproc)" &&
				make -s -C contrib/dblink -j"$(nproc)" &&
				make -s install &&
				make -s -C contrib/dblink install
		} >"$work/make.log" 2>&1 || { tail -40 "$work/make.log"; exit 1; }
	) >&2
}

# pg_cron, when its source package can be had; returns non-zero if not
build_pg_cron() {
	local version work=$cache/src/pg_cron-$major src
	version=$(source_version pg-cron)
	mkdir -p "$cache/src"
	if ! src=$(fetch_upstream pg-cron "$version" "$work" 2>"$work.log"); then
		log "no pg_cron for PostgreSQL $major: the source package" \
			"pg-cron $version could not be downloaded"
		return 1
	fi
	log "building pg_cron $version for PostgreSQL $major"
	make -s -C "$src" PG_CONFIG="$prefix/bin/pg_config" install \
		>"$work/make.log" 2>&1 || { tail -40 "$work/make.log" >&2; return 1; }
}

install_packages
mkdir -p "$cache"
if ! setup_apt; then
	# offline: a build made earlier is still good enough
	if [ -x "$prefix/bin/pg_config" ]; then
		log "apt lists unreachable; using the PostgreSQL $major built before"
		echo "$prefix/bin/pg_config"
		exit 0
	fi
	log "cannot reach Debian's source packages to build PostgreSQL $major"
	exit 1
fi
version=$(source_version "postgresql-$major")
[ -n "$version" ] || { log "no source package postgresql-$major"; exit 1; }
stamp=$prefix/.debian-source-version
if [ "$(cat "$stamp" 2>/dev/null)" != "$version ${configure_flags[*]}" ]; then
	build_postgres "$version"
	echo "$version ${configure_flags[*]}" >"$stamp"
fi
if [ ! -e "$prefix/lib/pg_cron.so" ]; then
	build_pg_cron || true
fi
echo "$prefix/bin/pg_config"
