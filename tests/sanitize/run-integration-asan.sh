#!/usr/bin/env bash
# Runs the integration suite (tests/integration/*.test.mjs) against ASan+UBSan builds of janus.plugin.p2plink and
# janus.transport.peerjs loaded into Debian's (uninstrumented) /usr/bin/janus, then reads every sanitizer report.
#   tests/sanitize/run-integration-asan.sh [test files...]
# How: tests/sanitize/asan-build.sh builds the modules in test-artifacts/sanitize/src; tests/lib/janus.mjs takes them
# from P2PLINK_BUILD_DIR and starts P2PLINK_JANUS=tests/sanitize/janus-asan.sh, which preloads gcc's libasan and
# sends reports to files. TAP out: the suite's own result, then "no memory error" and "no leak from our modules".
# Leaks whose stack never enters our modules are Janus/GLib/libnice internals: listed as comments, not failures
# (the known ones are suppressed in tests/sanitize/lsan-janus.supp).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
out="${P2PLINK_ASAN_DIR:-$repo/test-artifacts/sanitize}"
logs="$out/integration"
rm -rf "$logs"
mkdir -p "$logs/reports"

echo "1..3"
# tools/p2plink-stund: the STUN responder on its own, for tests/integration/stun_client.test.mjs
if ! build=$(tests/sanitize/asan-build.sh libjanus_p2plink.la libjanus_peerjs.la tools/p2plink-stund \
		2>"$out/build.err" | tail -1) \
		|| [ -z "$build" ]; then
	echo "not ok 1 - ASan build of the Janus modules failed"
	sed 's/^/# /' "$out/build.err" | tail -30
	echo "ok 2 - no memory error # SKIP no build"
	echo "ok 3 - no leak from our modules # SKIP no build"
	exit 1
fi

files=("$@")
if [ ${#files[@]} -eq 0 ]; then files=(tests/integration/*.test.mjs); fi
rc=0
P2PLINK_BUILD_DIR="$build" P2PLINK_JANUS="$repo/tests/sanitize/janus-asan.sh" P2PLINK_ASAN_LOG_DIR="$logs/reports" \
	timeout 2200 node --test --test-concurrency=1 --test-timeout=900000 --test-reporter=tap "${files[@]}" \
	>"$logs/node.tap" 2>&1 || rc=$?
pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$logs/node.tap" | tail -1)
fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$logs/node.tap" | tail -1)
failed=0
if [ "$rc" -eq 0 ]; then
	echo "ok 1 - integration suite with ASan modules: ${pass:-0} passed"
else
	failed=$((failed + 1))
	echo "not ok 1 - integration suite with ASan modules: ${pass:-0} passed, ${fail:-?} failed (exit $rc, $logs/node.tap)"
	grep -E '^\s*not ok|^\s+(error|message|expected|actual):' "$logs/node.tap" | head -30 | sed 's/^/# /' || true
	# Where it stood when it stopped (a hang or a timeout names no failing test)
	echo "# last lines of $logs/node.tap:"
	tail -25 "$logs/node.tap" | sed 's/^/#   /'
fi

# Memory errors and undefined behaviour: any report at all fails (they only come from instrumented code: ours)
errors=$(grep -lE 'ERROR: AddressSanitizer|runtime error:' "$logs"/reports/asan.* 2>/dev/null || true)
if [ -z "$errors" ]; then
	echo "ok 2 - no ASan memory error or UBSan report"
else
	failed=$((failed + 1))
	echo "not ok 2 - ASan/UBSan reports in: $(echo "$errors" | tr '\n' ' ')"
	grep -hE -A12 'ERROR: AddressSanitizer|runtime error:' $errors | head -60 | sed 's/^/# /'
fi

# Leaks: split each report into its blocks ("Direct leak of ..." up to the blank line) and keep those whose stack
# passes through our sources; the rest belongs to Janus and the libraries it uses.
# Only a *direct* leak through our code fails: every leak has a direct root, and when ours lose memory that root's
# stack passes through our code. An *indirect* leak through our code hangs off a block somebody else lost: seen
# when Janus is stopped while a client connects, Janus's own session (janus_session_create) is lost and, with it,
# the transport session and connection it holds (listed, not failed).
ours="$logs/leaks-ours.txt" theirs="$logs/leaks-janus.txt"
: >"$ours"
: >"$theirs"
for f in "$logs"/reports/asan.*; do
	[ -e "$f" ] || continue
	awk -v ours="$ours" -v theirs="$theirs" -v file="$f" '
		/^(Direct|Indirect) leak of/ { block = "# " file "\n" $0 "\n"; inblock = 1; mine = 0; direct = /^Direct/; next }
		inblock && /^$/ { print block >> (mine && direct ? ours : theirs); inblock = 0; next }
		inblock { block = block $0 "\n"; if ($0 ~ /(common|cluster|plugins\/janus_p2plink|transports)\/[a-z_]+\.c|libjanus_p2plink|libjanus_peerjs/) mine = 1 }
		END { if (inblock) print block >> (mine && direct ? ours : theirs) }' "$f"
done
nours=$(grep -cE '^(Direct|Indirect) leak' "$ours" || true)
ntheirs=$(grep -cE '^(Direct|Indirect) leak' "$theirs" || true)
if [ "$nours" -eq 0 ]; then
	echo "ok 3 - no leak from our modules ($ntheirs unsuppressed Janus-internal leak blocks, see $theirs)"
else
	failed=$((failed + 1))
	echo "not ok 3 - $nours leak blocks through our modules, all Janus runs together (full stacks: $ours)"
	# Our frames only, without addresses, each distinct stack once
	awk '/^(Direct|Indirect) leak/ { if (s != "") print s; s = "" } /(common|cluster|plugins\/janus_p2plink|transports)\/[a-z_]+\.c/ { sub(/^ *#[0-9]+ 0x[0-9a-f]+ in /, ""); s = s (s == "" ? "" : " <- ") $0 } END { if (s != "") print s }' "$ours" \
		| sort | uniq -c | sort -rn | head -20 | sed 's/^/# /'
fi
[ "$failed" -eq 0 ]
