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
# Which version to build comes from apt's lists of Debian's trixie and sid
# source packages (apt-cache showsrc with a sources list of its own and apt
# state under /var/tmp/mongo_etl/apt, so the system's apt setup is left
# alone); the package's signed .dsc and upstream tarball from the mirror's
# pool, checked as apt-get source checks them.  Only the upstream tarball
# is built (Debian's patches move files into Debian's own layout),
# configured minimally: ICU, which the suite's collation tests need, and no
# readline or other optional library.
#
# Settings: MONGO_ETL_CACHE (default /var/tmp/mongo_etl), MONGO_ETL_DEBIAN_MIRROR
# (the Debian mirror, default the one the system's apt uses).
#
set -euo pipefail
# run from `make test PG=...`, this script would hand the outer make's
# settings to PostgreSQL's build: a MAKELEVEL above 0 makes it skip its
# generated headers (utils/errcodes.h missing on a first build), and
# MAKEFLAGS carries the outer command line's variables (REGRESS, PG)
unset MAKELEVEL MAKEFLAGS MFLAGS
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
packages=(bison flex make gcc zlib1g-dev pkg-config libicu-dev curl gpgv
	debian-keyring)

log() { echo "build_postgres.sh: $*" >&2; }

# shellcheck source=packages.sh
source "$(dirname "$0")/packages.sh"

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

# "version directory" of the newest source package $1 the private lists
# know
source_entry() {
	apt_private apt-cache showsrc "$1" |
		awk '/^Version:/ { v = $2 } /^Directory:/ { print v, $2 }' |
		sort -V -r | head -1
}

# The .dsc file of source package $1 at version $2
dsc_name() {
	echo "${1}_${2#*:}.dsc"
}

# The version of source package $1 to build, as "version directory": the
# lists' newest when the mirror serves it, else the newest of the three
# point releases before it (same Debian revision) that it serves.  The
# mirror this project's machines reach can lag behind its own lists: it
# listed postgresql-17 17.12-0+deb13u1 and served 17.11-0+deb13u1.
served_version() {
	local package=$1 version directory upstream revision minor m candidate
	read -r version directory <<<"$(source_entry "$package")"
	[ -n "$version" ] || return 1
	upstream=${version%%-*}
	revision=${version#*-}
	minor=${upstream##*.}
	for ((m = minor; m >= 0 && m > minor - 4; m--)); do
		candidate=${upstream%.*}.$m-$revision
		if curl -sfI -o /dev/null \
			"$mirror/$directory/$(dsc_name "$package" "$candidate")"; then
			echo "$candidate $directory"
			return 0
		fi
	done
	return 1
}

# Downloads source package $1 at version $2 from pool directory $3 and
# unpacks its upstream tarball into $4, whose single top directory is
# printed.  The .dsc must carry a good signature of a Debian developer
# (debian-keyring), and the tarball the SHA-256 sum the signed .dsc gives:
# what apt-get source checks against the lists, checked for versions the
# lists no longer name as well.
fetch_upstream() {
	local package=$1 version=$2 directory=$3 dir=$4 dsc sum tarball
	dsc=$(dsc_name "$package" "$version")
	rm -rf "$dir"
	mkdir -p "$dir"
	curl -sf -o "$dir/$dsc" "$mirror/$directory/$dsc" || return 1
	gpgv --keyring /usr/share/keyrings/debian-keyring.gpg \
		--output "$dir/verified.dsc" "$dir/$dsc" 2>"$dir/gpgv.log" ||
		{ log "$dsc: no good signature"; return 1; }
	read -r sum tarball <<<"$(awk '/^Checksums-Sha256:/ { f = 1; next }
		/^[^ ]/ { f = 0 }
		f && $3 ~ /\.orig\.tar\./ { print $1, $3 }' "$dir/verified.dsc")"
	[ -n "$tarball" ] || return 1
	curl -sf -o "$dir/$tarball" "$mirror/$directory/$tarball" || return 1
	echo "$sum  $dir/$tarball" | sha256sum -c --quiet >&2 ||
		{ log "$tarball: checksum differs from $dsc"; return 1; }
	tar -xf "$dir/$tarball" -C "$dir" || return 1
	find "$dir" -mindepth 1 -maxdepth 1 -type d | head -1
}

build_postgres() {
	local version=$1 directory=$2 work=$cache/src/postgresql-$major src
	src=$(fetch_upstream "postgresql-$major" "$version" "$directory" "$work")
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
	local version directory work=$cache/src/pg_cron-$major src
	if ! read -r version directory <<<"$(served_version pg-cron)" ||
		! src=$(fetch_upstream pg-cron "$version" "$directory" "$work"); then
		log "no pg_cron for PostgreSQL $major: the mirror serves no" \
			"pg-cron source package of the version its lists name," \
			"nor of the three before it"
		return 1
	fi
	log "building pg_cron $version for PostgreSQL $major"
	make -s -C "$src" PG_CONFIG="$prefix/bin/pg_config" install \
		>"$work/make.log" 2>&1 || { tail -40 "$work/make.log" >&2; return 1; }
}

install_packages "${packages[@]}"
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
read -r version directory <<<"$(served_version "postgresql-$major")" ||
	{ log "the mirror serves no postgresql-$major source package"; exit 1; }
stamp=$prefix/.debian-source-version
if [ "$(cat "$stamp" 2>/dev/null)" != "$version ${configure_flags[*]}" ]; then
	build_postgres "$version" "$directory"
	echo "$version ${configure_flags[*]}" >"$stamp"
fi
if [ ! -e "$prefix/lib/pg_cron.so" ]; then
	build_pg_cron || true
fi
echo "$prefix/bin/pg_config"
