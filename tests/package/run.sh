#!/usr/bin/env bash
# The Debian package, end to end (root only): builds it with dpkg-buildpackage in a copy of this tree, runs lintian,
# installs it with `apt-get install ./p2plink_*.deb`, starts Janus the way p2plink.service does, runs a smoke check
# (OPEN, relay between two raw WSS peers, a link made with p2plink-admin and redeemed) against the installed files,
# then removes and purges it and checks nothing is left. Everything is in package.test.mjs; this script decides
# whether it can run here.
#   tests/package/run.sh        TAP on stdout (node:test); skips, with the reason, where it cannot run
set -uo pipefail
cd "$(dirname "$0")/../.."

skip() {
	echo "TAP version 13"
	echo "ok 1 - Debian package # SKIP $1"
	echo "1..1"
	echo "# pass 0"
	echo "# fail 0"
	echo "# skipped 1"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip "installing a package needs root"
command -v apt-get >/dev/null && command -v dpkg >/dev/null || skip "needs a Debian system (apt-get, dpkg)"
# The test installs, then purges, p2plink: never on a machine where someone installed it for real (or removed it
# and kept its configuration and admin secret)
status=$(dpkg-query -W -f='${Status}' p2plink 2>/dev/null || true)
if { [ -n "$status" ] && [ "$status" != "unknown ok not-installed" ]; } || [ -e /etc/p2plink ]; then
	skip "p2plink is (or was) installed here ($status); the test would purge it and its /etc/p2plink"
fi

# Build tools, and the package's build dependencies that scripts/setup.sh does not install already
tools=(debhelper dpkg-dev lintian fakeroot)
missing=()
for p in "${tools[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "# installing ${missing[*]}" >&2
	apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null || skip "could not install ${missing[*]}"
fi
unmet=$(dpkg-checkbuilddeps 2>&1 | sed -n 's/.*Unmet build dependencies: //p' | sed 's/([^)]*)//g')
if [ -n "$unmet" ]; then
	echo "# installing build dependencies: $unmet" >&2
	# shellcheck disable=SC2086 # a list of package names
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $unmet >/dev/null ||
		skip "could not install the build dependencies $unmet"
fi

exec node --test --test-concurrency=1 --test-reporter=tap tests/package/package.test.mjs
