# test/packages.sh: sourced by the scripts that install Debian packages.
#
# install_packages PACKAGE...  installs those not installed yet (apt-get
# update first, once something is missing); its messages go to stderr, so
# that a script's stdout keeps only what it prints on purpose.
install_packages() {
	local missing=()
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "$(basename "$0"): installing ${missing[*]}" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq "${missing[@]}" >&2
	fi
}
