#!/usr/bin/env bash
# Runs every p2plink test: unit (GLib), integration (real Janus on loopback) and browser end-to-end (Chromium).
# Sets the machine up first (scripts/setup.sh). The last line is "N passed, N failed, N skipped".
#   scripts/test.sh               everything
#   P2PLINK_TEST_ONLY=unit|integration|e2e|nat|package|fuzz|sanitize scripts/test.sh    one layer
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
echo "setup: $SECONDS s"

out=test-artifacts/tap
rm -rf "$out"
mkdir -p "$out"
only="${P2PLINK_TEST_ONLY:-all}"
passed=0 failed=0 skipped=0

# When a step failed without naming a failing test (killed by its timeout, crashed, died early), its last lines are
# the only clue CI can show: print them
explain_exit() {
	local file=$1 rc=$2 limit=${3:-}
	[ "$rc" -ne 0 ] || return 0
	if [ "$rc" -eq 124 ]; then echo "    killed by its ${limit:-time} limit (exit 124); last lines of $file:"
	else echo "    exit $rc; last lines of $file:"; fi
	tail -25 "$file" | sed 's/^/    | /'
}

# GLib TAP: one "ok"/"not ok" line per test; a crash mid-run counts as one more failure
count_glib() {
	local file=$1 rc=$2 p f s
	p=$(grep -cE '^ok [0-9]+' "$file" | head -1)
	s=$(grep -cE '^ok [0-9]+ .*# SKIP' "$file" | head -1)
	f=$(grep -cE '^not ok [0-9]+' "$file" | head -1)
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	echo "  $(basename "$file" .tap): $p passed, $f failed, $s skipped"
}

# One step that prints TAP, GLib's or node:test's (count_glib / count_node): output in $out/<name>.tap, counted;
# on failure the failing tests (and node's assertion details) are named and the last lines shown (the only clue
# when it timed out or crashed)
run_tap_step() {
	local kind=$1 name=$2 limit=$3 rc
	shift 3
	timeout "$limit" "$@" > "$out/$name.tap" 2>&1
	rc=$?
	"count_$kind" "$out/$name.tap" $rc
	[ "$rc" -eq 0 ] || grep -E '^\s*not ok|^\s+(error|message|expected|actual):' "$out/$name.tap" | head -20
	explain_exit "$out/$name.tap" $rc "$limit s"
}
run_glib_step() { run_tap_step glib "$@"; }

# Each layer's heading, and its time when done ($SECONDS counts from the start of this script, setup included)
layer_started=$SECONDS
layer() {
	echo "$1"
	layer_started=$SECONDS
}
layer_done() {
	echo "    ($((SECONDS - layer_started)) s; $SECONDS s since the start)"
}

# node:test TAP: the run's own totals at the end
count_node() {
	local file=$1 rc=$2 p f s c
	p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$file" | tail -1)
	f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$file" | tail -1)
	s=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$file" | tail -1)
	c=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$file" | tail -1)
	p=${p:-0} f=${f:-0} s=${s:-0} c=${c:-0}
	f=$((f + c))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	echo "  $(basename "$file" .tap): $p passed, $f failed, $s skipped"
}

run_node_suite() {
	local name=$1; shift
	local files=("$@")
	[ ${#files[@]} -gt 0 ] || return 0
	# Each test file gets at most 15 minutes (then it is reported as cancelled, by name), the suite 30
	timeout 1800 node --test --test-concurrency=1 --test-timeout=900000 --test-reporter=tap "${files[@]}" \
		> "$out/$name.tap" 2>&1
	local rc=$?
	count_node "$out/$name.tap" "$rc"
	if [ "$rc" -ne 0 ]; then
		grep -E '^\s*not ok|^\s+(error|message|expected|actual):' "$out/$name.tap" | head -40
		explain_exit "$out/$name.tap" "$rc" "1800 s"
	fi
}

if [ "$only" = all ] || [ "$only" = unit ]; then
	layer "unit tests"
	make -s -j"$(nproc)" $(make -s print-unit-tests) >/dev/null 2>&1
	for t in $(make -s print-unit-tests); do
		run_glib_step "$(basename "$t")" 600 "./$t" --tap
	done
	layer_done
fi

if [ "$only" = all ] || [ "$only" = integration ]; then
	layer "integration tests (real Janus on loopback)"
	run_node_suite integration tests/integration/*.test.mjs
	layer_done
fi

if [ "$only" = all ] || [ "$only" = e2e ]; then
	layer "browser end-to-end tests (headless Chromium)"
	shopt -s nullglob
	e2e=(tests/e2e/*.test.mjs)
	shopt -u nullglob
	P2PLINK_E2E_SERVER="${P2PLINK_E2E_SERVER:-$PWD/tests/lib/janus.mjs}" run_node_suite e2e "${e2e[@]}"
	layer_done
fi

if [ "$only" = all ] || [ "$only" = package ]; then
	layer "Debian package: dpkg-buildpackage, lintian, apt-get install, smoke check as the unit runs it, purge"
	run_tap_step node package 900 tests/package/run.sh
	grep -E '# SKIP|lintian: |built p2plink' "$out/package.tap" | sed 's/^/    /'
	layer_done
fi

if [ "$only" = all ] || [ "$only" = nat ]; then
	layer "calls across real NAT gateways (network namespaces, iptables MASQUERADE; Chromium in each LAN)"
	run_tap_step node nat 900 tests/nat/run.sh
	grep -E '^# (SKIP|\\# )|# SKIP' "$out/nat.tap" | sed 's/^/    /'
	layer_done
fi

if [ "$only" = all ] || [ "$only" = fuzz ]; then
	layer "fuzzing (libFuzzer): seed replay, then ${P2PLINK_FUZZ_SECONDS:-15}s per harness"
	run_glib_step fuzz-replay 600 tests/fuzz/run.sh --replay
	run_glib_step fuzz 900 tests/fuzz/run.sh "${P2PLINK_FUZZ_SECONDS:-15}"
	grep -E '^ok .*execs' "$out/fuzz.tap" | sed 's/^/    /'
	layer_done
fi

if [ "$only" = all ] || [ "$only" = sanitize ]; then
	layer "unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer"
	run_glib_step unit-asan 900 tests/sanitize/run-unit-asan.sh
	layer_done
	layer "integration tests again, with ASan + UBSan builds of our modules inside Janus"
	run_glib_step integration-asan 2400 tests/sanitize/run-integration-asan.sh
	layer_done
	layer "one valgrind memcheck run of Janus with our modules"
	run_glib_step valgrind 900 tests/sanitize/run-valgrind.sh
	layer_done
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
