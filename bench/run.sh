#!/bin/sh
# bench/run.sh — one command: p2plink vs the reference PeerJS server (npm peer), same machine, same run.
# Writes bench/results/latest.md + latest.json and prints the table. Loopback only; about 10-15 minutes.
# Knobs (environment): BENCH_QUICK=1 (short smoke run), BENCH_ONLY=trivial,ours,reference, BENCH_PERF=0,
#   BENCH_PAIRS, BENCH_INFLIGHT, BENCH_DURATION, BENCH_FIXED_RATE, BENCH_IDLE_LEVELS=0,1000,10000,50000,
#   BENCH_SERVER_CPU=1, BENCH_LOADGEN_CPU=0 (taskset CPUs), BENCH_ONLY=...,ourspoll,redeem, BENCH_SECURE=wss,ws,
#   BENCH_MERGE=1 (merge into the existing latest.json), BENCH_REDEEM_* (see docs/benchmarks.md),
#   BENCH_ONLY=...,stun and BENCH_STUN_SECONDS (section 7: our STUN responder vs coturn's),
#   BENCH_ONLY=realtraffic[,ours,reference,trivial] (section 9: many WSS peers, Poisson-timed realistic frames, shipped
#   defaults; all three servers when none is named) with BENCH_RT_PEERS, BENCH_RT_RATE, BENCH_RT_SDP_SHARE,
#   BENCH_RT_SDP_MAX, BENCH_RT_PER_IP, BENCH_RT_WARMUP, BENCH_RT_DURATION, BENCH_RT_SETUP_* (see docs/benchmarks.md).
set -eu
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null 2>&1 || { echo "bench: $1 is required ($2)" >&2; exit 1; }; }
need gcc "apt-get install -y build-essential"
need node "apt-get install -y nodejs"
need taskset "apt-get install -y util-linux"
need /usr/bin/janus "apt-get install -y janus"
pkg-config --exists openssl || { echo "bench: OpenSSL headers are required (apt-get install -y libssl-dev)" >&2; exit 1; }

# The reference server, from npm (pinned to the version the comparison is about)
if [ ! -f node_modules/peer/package.json ]; then
	npm install --no-save --no-audit --no-fund peer@1.0.2
fi
# Our modules
if [ ! -f .libs/libjanus_p2plink.so ] || [ ! -f .libs/libjanus_peerjs.so ]; then
	[ -f Makefile ] || { ./autogen.sh && ./configure; }
	make -j2
fi
# Measure one consistent build even if .libs is rebuilt while the bench runs: a private copy of both modules
# (BENCH_MODULES_DIR=<a build tree> measures that build's .libs instead of this one's)
mkdir -p bench/build/snapshot/.libs
cp "${BENCH_MODULES_DIR:-.}"/.libs/libjanus_p2plink.so "${BENCH_MODULES_DIR:-.}"/.libs/libjanus_peerjs.so bench/build/snapshot/.libs/
P2PLINK_BUILD_DIR="$PWD/bench/build/snapshot"; export P2PLINK_BUILD_DIR
# The STUN load generator (built with the project; section 7 compares with coturn's STUN-only server)
[ -x tools/p2plink-stun-load ] || make -j2 tools/p2plink-stun-load
command -v turnserver >/dev/null 2>&1 || echo "bench: turnserver not found (apt-get install -y coturn): the STUN rows lack coturn" >&2
# The load generator (and trivial relay)
mkdir -p bench/build bench/results
gcc -O2 -Wall -o bench/build/loadgen bench/loadgen.c $(pkg-config --cflags --libs openssl) -lm

# One fd per idle peer on each side: raise the soft limit to the hard one (and the hard one when we may).
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "bench: fd limit $(ulimit -n) (hard $(ulimit -Hn)); $(nproc) CPUs" >&2
if command -v perf >/dev/null 2>&1; then :; else
	echo "bench: perf not found (apt-get install -y linux-perf): skipping the profile" >&2
	BENCH_PERF=0; export BENCH_PERF
fi
exec node bench/bench.mjs
