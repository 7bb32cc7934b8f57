#!/usr/bin/env bash
# Installs everything p2plink needs on Debian bookworm (idempotent), then builds it.
#   scripts/setup.sh            packages (if missing) + npm ci + autotools build + web app bundle
# Runs as root (CI, containers) or through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
	gcc make autoconf automake libtool pkg-config
	janus janus-dev libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libjansson-dev libyajl-dev libglib2.0-dev libssl-dev libsqlite3-dev
	libmongoc-dev libbson-dev libnice-dev libhiredis-dev redis-server haproxy
	openssl ca-certificates curl chromium python3 python3-mockupdb
	clang libclang-rt-14-dev valgrind stun-client coturn
	iproute2 iptables
	prometheus
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js: the machine's own (v20 here) if present, Debian's otherwise
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	echo "setup: installing ${missing[*]}"
	$SUDO apt-get update -qq
	# Non-interactive: CI and fresh boxes have no one to answer prompts
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# coturn is installed for its turnutils_stunclient (a third-party STUN client for our tests); its TURN server
	# must never run here: we do not relay, and it would take the STUN port
	if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now coturn >/dev/null 2>&1 || true; fi
	# redis-server and haproxy are for the cluster tests, which start their own on free loopback ports: the
	# packages' system services are not used
	if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now redis-server haproxy >/dev/null 2>&1 || true; fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm ci --no-audit --no-fund --loglevel=error
fi

if [ ! -f configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	./autogen.sh >/dev/null 2>&1
fi
if [ ! -f Makefile ] || [ configure -nt Makefile ]; then
	./configure --quiet
fi
make -j"$(nproc)" >/dev/null
if [ -f scripts/build-html.mjs ]; then
	node scripts/build-html.mjs
fi
echo "setup: build ok ($(ls .libs/libjanus_p2plink.so .libs/libjanus_peerjs.so | tr '\n' ' '))"
