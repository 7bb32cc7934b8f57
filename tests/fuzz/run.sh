#!/usr/bin/env bash
# Builds and runs every libFuzzer harness in tests/fuzz/fuzz_*.c (clang, -fsanitize=fuzzer,address,undefined) and
# prints TAP, one line per harness, so scripts/test.sh can count them.
#
#   tests/fuzz/run.sh [SECONDS]     fuzz each harness for SECONDS (default 20), up to nproc harnesses at a time
#   tests/fuzz/run.sh --replay      run each harness once over every file of its seed corpus (fast regression)
#
# Environment:
#   P2PLINK_FUZZ_ONLY="frame registry"   only these harnesses (names without the fuzz_ prefix)
#   P2PLINK_FUZZ_JOBS=N                  harnesses fuzzed at the same time (default: nproc)
#   P2PLINK_FUZZ_OUT=DIR                 build + work folder (default test-artifacts/fuzz)
#
# Harness "fuzz_NAME.c" gets its seeds from tests/fuzz/corpus/NAME/ (read-only: new inputs go to
# $OUT/corpus/NAME/, which is kept between runs so longer runs build on shorter ones). A crash, leak, sanitizer
# report or timeout fails the harness; libFuzzer's reproducer is saved as $OUT/NAME-crash-<sha1> (or leak-/timeout-)
# and the TAP line says how to replay it. Longer runs, e.g. one hour per harness in parallel on every core:
#   tests/fuzz/run.sh 3600
# Replay one reproducer by hand:  test-artifacts/fuzz/build/fuzz_NAME test-artifacts/fuzz/NAME-crash-...
#
# Every harness links against an archive of all pure modules (common/*.c, plugins/janus_p2plink/*.c without plugin.c,
# transports/*.c without the transport's Janus/lws glue: janus_peerjs.c, peerjs_loop.c, peerjs_ws.c, peerjs_http.c,
# peerjs_limits.c, peerjs_cluster.c, metrics_endpoint.c, tls_reload.c): the linker only pulls the modules a harness calls, so a new harness
# needs no list of sources here, and a new pure module is picked up by itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

mode=fuzz
seconds=20
case "${1:-}" in
	--replay) mode=replay ;;
	'') ;;
	*[!0-9]*) echo "usage: $0 [SECONDS | --replay]" >&2; exit 2 ;;
	*) seconds=$1 ;;
esac

out="${P2PLINK_FUZZ_OUT:-$repo/test-artifacts/fuzz}"
build="$out/build"
jobs="${P2PLINK_FUZZ_JOBS:-$(nproc)}"
CC="${P2PLINK_FUZZ_CC:-clang-14}"
command -v "$CC" >/dev/null 2>&1 || CC=clang
mkdir -p "$build" "$out/corpus" "$out/logs" "$out/tmp"

# Harness list: every tests/fuzz/fuzz_*.c, optionally narrowed by P2PLINK_FUZZ_ONLY
names=()
for f in tests/fuzz/fuzz_*.c; do
	[ -e "$f" ] || continue
	n=$(basename "$f" .c)
	n=${n#fuzz_}
	if [ -n "${P2PLINK_FUZZ_ONLY:-}" ] && [[ " $P2PLINK_FUZZ_ONLY " != *" $n "* ]]; then continue; fi
	names+=("$n")
done
echo "1..${#names[@]}"
[ ${#names[@]} -gt 0 ] || exit 0

# A machine without clang or the libFuzzer runtime skips (never passes) every harness
probe="$build/probe.c"
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' > "$probe"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$probe" -o "$build/probe" >/dev/null 2>&1; then
	i=0
	for n in "${names[@]}"; do
		i=$((i + 1))
		echo "ok $i - fuzz_$n # SKIP $CC with the libFuzzer runtime is missing (apt-get install clang libclang-rt-14-dev)"
	done
	exit 0
fi

# Optional libraries only some pure modules use (libnice for the STUN responder, mongoc for its store)
pkgs="glib-2.0 jansson yajl openssl sqlite3"
for p in nice libmongoc-1.0; do
	if pkg-config --exists "$p"; then pkgs="$pkgs $p"; fi
done
# -O1 + no frame-pointer omission: readable sanitizer stacks at a good exec rate. -fno-sanitize-recover: a UBSan
# finding must fail the run, not scroll by.
cflags="-g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all -Wall -Wno-unused-parameter -std=gnu11
	-Iplugins/janus_p2plink -Itransports -Icommon $(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs $pkgs)"

# The pure modules, instrumented for coverage (fuzzer-no-link: the harness brings libFuzzer's main)
objs=()
for src in common/*.c plugins/janus_p2plink/*.c transports/*.c; do
	case "$(basename "$src")" in plugin.c|janus_peerjs.c|peerjs_loop.c|peerjs_ws.c|peerjs_http.c|peerjs_limits.c|peerjs_cluster.c|metrics_endpoint.c|tls_reload.c) continue ;; esac
	obj="$build/$(echo "${src%.c}" | tr '/' '_').o"
	if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$0" -nt "$obj" ] || [ -n "$(find "$(dirname "$src")" -name '*.h' -newer "$obj" -print -quit)" ]; then
		# A module that does not compile here only fails the harnesses that need it (at link time)
		# shellcheck disable=SC2086
		if ! "$CC" $cflags -fsanitize=fuzzer-no-link,address,undefined -c "$src" -o "$obj" 2>"$obj.log"; then
			echo "# warning: $src does not compile, harnesses that need it will fail: $(head -3 "$obj.log" | tr '\n' ' ')"
			rm -f "$obj"
			continue
		fi
	fi
	objs+=("$obj")
done
rm -f "$build/libpure.a"
ar rcs "$build/libpure.a" "${objs[@]}"

build_one() {
	local n=$1
	# shellcheck disable=SC2086
	"$CC" $cflags -fsanitize=fuzzer,address,undefined "tests/fuzz/fuzz_$n.c" "$build/libpure.a" $libs \
		-o "$build/fuzz_$n" >"$out/logs/$n.build.log" 2>&1
}

# Last libFuzzer "stat::number_of_executed_units" line, or the "Done N runs" line
execs_of() {
	local e
	e=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$1" | tail -1)
	[ -n "$e" ] || e=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$1" | tail -1)
	echo "${e:-0}"
}

# Sanitizers: stop at the first UBSan report with a stack; LeakSanitizer on (libFuzzer checks leaks per input)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# Harnesses that need scratch files (fuzz_http_routes' html root) make them here, not in /tmp
export TMPDIR="$out/tmp"

run_fuzz() {
	local n=$1 seed="tests/fuzz/corpus/$1" work="$out/corpus/$1" log="$out/logs/$1.log"
	mkdir -p "$work"
	local dirs=("$work")
	[ -d "$seed" ] && dirs+=("$seed")
	local rc=0
	# timeout: a hang in libFuzzer itself must not stall CI; -timeout: one input taking >10 s is a finding.
	# -seed: fixed by default, so a short CI run explores a prefix of the inputs a longer run with the same seed has
	# already explored (same binary, same corpus); P2PLINK_FUZZ_SEED=0 picks a random seed for exploratory runs.
	timeout -k 10 $((seconds + 120)) "$build/fuzz_$n" -max_total_time="$seconds" -seed="${P2PLINK_FUZZ_SEED:-1}" \
		-print_final_stats=1 -timeout=10 \
		-rss_limit_mb=2560 -max_len=4096 -artifact_prefix="$out/$n-" "${dirs[@]}" >"$log" 2>&1 || rc=$?
	echo "$rc" > "$out/logs/$n.rc"
}

run_replay() {
	local n=$1 seed="tests/fuzz/corpus/$1" log="$out/logs/$1.replay.log" rc=0
	local files=()
	if [ -d "$seed" ]; then
		while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$seed" -type f -print0 | sort -z)
	fi
	if [ ${#files[@]} -eq 0 ]; then
		echo 0 > "$out/logs/$n.replay.count"
		echo 0 > "$out/logs/$n.rc"
		: > "$log"
		return
	fi
	# Files as arguments: libFuzzer runs each once and does not mutate
	timeout -k 10 600 "$build/fuzz_$n" -timeout=10 -artifact_prefix="$out/$n-" "${files[@]}" >"$log" 2>&1 || rc=$?
	echo "${#files[@]}" > "$out/logs/$n.replay.count"
	echo "$rc" > "$out/logs/$n.rc"
}

# Build everything first (sequential: clang already uses the machine well and errors stay readable)
declare -A built
for n in "${names[@]}"; do
	rm -f "$out/logs/$n.rc"
	if build_one "$n"; then built[$n]=1; else built[$n]=0; fi
done

# Run up to $jobs harnesses at a time
for n in "${names[@]}"; do
	[ "${built[$n]}" = 1 ] || continue
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
	if [ "$mode" = replay ]; then run_replay "$n" & else run_fuzz "$n" & fi
done
wait || true

i=0 failed=0
for n in "${names[@]}"; do
	i=$((i + 1))
	if [ "${built[$n]}" != 1 ]; then
		echo "not ok $i - fuzz_$n: build failed"
		sed 's/^/# /' "$out/logs/$n.build.log" | head -20
		failed=$((failed + 1))
		continue
	fi
	rc=$(cat "$out/logs/$n.rc" 2>/dev/null || echo 1)
	if [ "$mode" = replay ]; then
		log="$out/logs/$n.replay.log"
		what="replay of $(cat "$out/logs/$n.replay.count") seed inputs"
	else
		log="$out/logs/$n.log"
		what="$(execs_of "$log") execs in ${seconds}s"
	fi
	if [ "$rc" = 0 ]; then
		echo "ok $i - fuzz_$n: $what, no crash"
	else
		failed=$((failed + 1))
		# Fuzzing: the unit libFuzzer saved; replay: the seed file it was running when it died
		artifact=$(sed -n "s/.*Test unit written to \(.*\)$/\1/p" "$log" | tail -1)
		[ -n "$artifact" ] || artifact=$(sed -n 's/^Running: \(.*\)$/\1/p' "$log" | tail -1)
		echo "not ok $i - fuzz_$n: $what, exit $rc${artifact:+, reproducer $artifact}"
		# The sanitizer's verdict and our frames, enough to start from; the full log stays in $out/logs
		grep -aE "ERROR|SUMMARY|invariant broken|runtime error|#[0-9]+ .* in [A-Za-z_0-9]+ $repo/" "$log" \
			| head -25 | sed 's/^/# /'
		[ -n "$artifact" ] && echo "# replay: $build/fuzz_$n $artifact"
		echo "# log: $log"
	fi
done
[ "$failed" -eq 0 ]
