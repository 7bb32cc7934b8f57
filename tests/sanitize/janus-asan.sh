#!/usr/bin/env bash
# Runs Debian's /usr/bin/janus with the ASan runtime preloaded, so our ASan-built modules can be dlopen'ed into it.
# Point tests/lib/janus.mjs at it with P2PLINK_JANUS=tests/sanitize/janus-asan.sh (it then passes Janus's arguments).
#
# Why a preload: janus itself is not instrumented, and an ASan module refuses to load into a process whose first
# library is not the ASan runtime ("ASan runtime does not come first in initial library list").
# Reports go to files ($P2PLINK_ASAN_LOG_DIR/asan.<pid>), not to the Janus log, so run-integration-asan.sh can
# tell reports that involve our code from Janus/GLib/libnice internals (see lsan-janus.supp).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
logdir="${P2PLINK_ASAN_LOG_DIR:-/tmp/p2plink-asan}"
mkdir -p "$logdir"
libasan="$(gcc -print-file-name=libasan.so)"
export LD_PRELOAD="$libasan${LD_PRELOAD:+:$LD_PRELOAD}"
# fast_unwind_on_malloc=0: Debian's janus, GLib and libnice have no frame pointers, so the fast unwinder would stop
#   at their first frame and leak stacks would not reach our code.
# detect_leaks=1 + suppressions: leaks are checked at exit, minus the known one-time allocations of Janus itself.
# abort_on_error=0, halt_on_error=1: the first memory error ends Janus (the test then fails) with a full report.
# new_delete_type_mismatch etc. are irrelevant (C); alloc_dealloc_mismatch=0 because libnice/OpenSSL mix allocators.
export ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0:malloc_context_size=30:halt_on_error=1:abort_on_error=0:alloc_dealloc_mismatch=0:log_path=$logdir/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$here/lsan-janus.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# Same log_path as ASan: both runtimes share it, and the one parsed last would otherwise win for both
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0:log_path=$logdir/asan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export G_SLICE=always-malloc
exec "${P2PLINK_JANUS_REAL:-/usr/bin/janus}" "$@"
