#!/usr/bin/env bash
# Runs every unit test program (Makefile.am's check_PROGRAMS) built with ASan + UBSan + LeakSanitizer, in a build
# tree of its own (tests/sanitize/asan-build.sh), and prints TAP: one line per program, its own TAP as comments.
# A sanitizer report, a leak or a failing test makes the program's line "not ok".
#   tests/sanitize/run-unit-asan.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
out="${P2PLINK_ASAN_DIR:-$repo/test-artifacts/sanitize}"
mkdir -p "$out/unit"

if ! build=$(tests/sanitize/asan-build.sh "$@" 2>"$out/build.err" | tail -1) || [ -z "$build" ]; then
	echo "1..1"
	echo "not ok 1 - ASan build failed"
	sed 's/^/# /' "$out/build.err" | tail -30
	exit 1
fi

# halt_on_error: UBSan's default is to print and go on, which would let a test pass over undefined behaviour.
# detect_leaks: a definite leak fails the program (exit code 23 from LeakSanitizer).
# fast_unwind_on_malloc=0: GLib has no frame pointers; without it leak stacks stop at g_malloc
export ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# GLib's slice allocator and type system keep memory on purpose; make it use malloc so ASan sees every block
export G_SLICE=always-malloc G_DEBUG=gc-friendly

programs=$(make -s -C "$build" print-unit-tests)
n=$(echo "$programs" | wc -w)
echo "1..$n"
i=0 failed=0
for t in $programs; do
	i=$((i + 1))
	name=$(basename "$t")
	log="$out/unit/$name.log"
	rc=0
	(cd "$build" && timeout 900 "./$t" --tap) >"$log" 2>&1 || rc=$?
	passed=$(grep -cE '^ok [0-9]+' "$log" || true)
	notok=$(grep -cE '^not ok [0-9]+' "$log" || true)
	reports=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log" || true)
	if [ "$rc" -eq 0 ] && [ "$notok" -eq 0 ] && [ "$reports" -eq 0 ]; then
		echo "ok $i - $name under ASan+UBSan: $passed tests, no sanitizer report"
	else
		failed=$((failed + 1))
		echo "not ok $i - $name under ASan+UBSan: exit $rc, $notok failing tests, $reports sanitizer reports (log: $log)"
		grep -E '^not ok|ERROR: |SUMMARY|runtime error:|^    #[0-9]+ ' "$log" | head -40 | sed 's/^/# /'
	fi
done
[ "$failed" -eq 0 ]
