#!/usr/bin/env bash
# One valgrind memcheck run of Debian's /usr/bin/janus with our modules (built without sanitizers, -O1 -g, in a
# separate tree) under a short scenario (tests/sanitize/valgrind-scenario.mjs). TAP out:
#   ok 1 - scenario ran          ok 2 - no memcheck error in our code          ok 3 - no definite leak from our code
# Suppressions: tests/sanitize/janus.supp (Janus/GLib/libnice/OpenSSL internals only, each explained). Errors and
# leaks whose stack never reaches our sources are listed as comments, not failures: they are not ours to fix.
# Takes well under a minute for this scenario; scripts/test.sh runs it once.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
out="${P2PLINK_VALGRIND_DIR:-$repo/test-artifacts/valgrind}"
rm -rf "$out"
mkdir -p "$out"
echo "1..3"
if ! command -v valgrind >/dev/null 2>&1; then
	for i in 1 2 3; do echo "ok $i - valgrind run # SKIP valgrind is not installed"; done
	exit 0
fi
build=$(P2PLINK_SANITIZERS=no tests/sanitize/asan-build.sh libjanus_p2plink.la libjanus_peerjs.la 2>"$out/build.err" | tail -1) \
	|| { echo "not ok 1 - build failed"; sed 's/^/# /' "$out/build.err" | tail -20; exit 1; }

# --errors-for-leak-kinds=definite: "definitely lost" counts as an error, "possibly"/"still reachable" (GLib's
# one-time type/quark tables, Janus globals alive at exit) do not. --gen-suppressions=all prints a ready-made
# suppression under every report, to copy into janus.supp when it is a Janus/library internal.
rc=0
P2PLINK_BUILD_DIR="$build" timeout 900 node tests/sanitize/valgrind-scenario.mjs "$out/janus" \
	valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
	--track-origins=yes --num-callers=40 --suppressions="$repo/tests/sanitize/janus.supp" --gen-suppressions=all \
	--log-file="$out/valgrind.%p.log" >"$out/scenario.log" 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
	echo "ok 1 - scenario ran under valgrind ($(grep -c . "$out/scenario.log") lines in $out/scenario.log)"
else
	echo "not ok 1 - scenario failed (exit $rc): $(tail -3 "$out/scenario.log" | tr '\n' ' ')"
fi

# Split every valgrind log into reports (a line "==pid== <Kind>" up to the next blank "==pid== " line), and sort
# them by whether a frame names one of our sources.
ours_err="$out/errors-ours.txt" ours_leak="$out/leaks-ours.txt" other="$out/reports-janus.txt"
: >"$ours_err"
: >"$ours_leak"
: >"$other"
for f in "$out"/valgrind.*.log; do
	[ -e "$f" ] || continue
	awk -v oe="$ours_err" -v ol="$ours_leak" -v ot="$other" '
		function flush() {
			if (block == "") return
			dest = !mine ? ot : (leak ? ol : oe)
			print block >> dest
			block = ""; mine = 0; leak = 0
		}
		# A report starts at column one after the pid: "Invalid read of size 4", "Conditional jump ...",
		# "10 bytes in 1 blocks are definitely lost ..."; banners and summaries are not reports
		/^==[0-9]+== [A-Z0-9]/ && !/^==[0-9]+== (HEAP|LEAK|ERROR|Memcheck|Copyright|Using|Command|Parent|Reachable|To see|For (lists|counts))/ {
			flush(); block = $0 "\n"; leak = ($0 ~ /are definitely lost/); next }
		/^==[0-9]+== *$/ { flush(); next }
		block != "" { block = block $0 "\n"; if ($0 ~ /\((plugin|registry|protocol|admin|links|store[a-z_]*|link_service|janus_peerjs|peerjs_[a-z]+|config_table|http_routes|stun_responder)\.c:[0-9]+\)/) mine = 1 }
		END { flush() }' "$f"
done
n_err=$(grep -cE '^==[0-9]+== [A-Z0-9]' "$ours_err" || true)
n_leak=$(grep -cE '^==[0-9]+== [A-Z0-9]' "$ours_leak" || true)
n_other=$(grep -cE '^==[0-9]+== [A-Z0-9]' "$other" || true)
summary=$(grep -h "ERROR SUMMARY" "$out"/valgrind.*.log | tail -1 | sed 's/^==[0-9]*== //')
if [ "$n_err" -eq 0 ]; then
	echo "ok 2 - no memcheck error in our code ($summary)"
else
	echo "not ok 2 - $n_err memcheck errors through our code (stacks: $ours_err)"
	grep -E '^==[0-9]+== [A-Z0-9]|\((plugin|registry|protocol|admin|links|janus_peerjs|peerjs_|config_table|http_routes)[a-z_]*\.c' "$ours_err" | head -30 | sed 's/^/# /'
fi
if [ "$n_leak" -eq 0 ]; then
	echo "ok 3 - no definite leak from our code ($n_other unsuppressed reports outside our code: $other)"
else
	echo "not ok 3 - $n_leak definite leaks through our code (stacks: $ours_leak)"
	grep -E 'definitely lost|\((plugin|registry|protocol|admin|links|janus_peerjs|peerjs_|config_table|http_routes)[a-z_]*\.c' "$ours_leak" | head -30 | sed 's/^/# /'
fi
[ "$rc" -eq 0 ] && [ "$n_err" -eq 0 ] && [ "$n_leak" -eq 0 ]
