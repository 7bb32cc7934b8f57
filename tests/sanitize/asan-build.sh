#!/usr/bin/env bash
# Builds p2plink with AddressSanitizer + UndefinedBehaviorSanitizer in a separate tree, never touching the main
# build: the repository's files (tracked and untracked, minus .gitignore'd build outputs) are copied into
# $P2PLINK_ASAN_DIR/src and built there with `./configure --enable-sanitizers`, so Makefile.am stays the one place
# that says which sources make which program.
#
#   tests/sanitize/asan-build.sh [make targets...]    default: the two Janus modules and every unit test program
#   prints the build folder (…/src) on its last line; .libs/libjanus_*.so in there are the ASan modules
#   P2PLINK_SANITIZERS=no  same copy-and-build without sanitizers (for valgrind, which cannot run ASan code);
#                          default folder then test-artifacts/sanitize-plain
#
# Why gcc and not clang: the Janus modules are loaded into Debian's uninstrumented /usr/bin/janus, which then needs
# the ASan runtime LD_PRELOADed; gcc's libasan is a plain shared library (gcc -print-file-name=libasan.so), and
# modules built by gcc -fsanitize=address link against exactly that runtime.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
sanitizers="${P2PLINK_SANITIZERS:-yes}"
if [ "$sanitizers" = yes ]; then
	dir="${P2PLINK_ASAN_DIR:-$repo/test-artifacts/sanitize}"
	flags=(--enable-sanitizers)
else
	dir="${P2PLINK_PLAIN_DIR:-$repo/test-artifacts/sanitize-plain}"
	flags=()
fi
src="$dir/src"
mkdir -p "$src"

# Copy sources; tar keeps mtimes, so make only rebuilds what changed since the last run. Core dumps and anything
# over 5 MB are not sources (a crashed Janus can leave an 80 GB sparse "core" in the repository root).
git ls-files -z --cached --others --exclude-standard \
	| grep -zvE '^test-artifacts/|(^|/)core(\.[0-9]+)?$' \
	| while IFS= read -r -d '' f; do
		# Listed but deleted in the work tree, or too big: skip
		if [ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 5000000 ]; then printf '%s\0' "$f"; fi
	done \
	| tar -C "$repo" --null -T - -cf - 2>/dev/null \
	| tar -C "$src" -xf -

cd "$src"
if [ ! -f configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	./autogen.sh >"$dir/autogen.log" 2>&1 || { cat "$dir/autogen.log" >&2; exit 1; }
fi
if [ ! -f Makefile ] || [ configure -nt Makefile ]; then
	# -O1 -g: accurate stacks; --enable-sanitizers adds -fsanitize=address,undefined -fno-omit-frame-pointer
	./configure --quiet "${flags[@]}" CC=gcc CFLAGS="-g -O1" >"$dir/configure.log" 2>&1 \
		|| { tail -30 "$dir/configure.log" >&2; exit 1; }
fi
if [ $# -eq 0 ]; then
	set -- libjanus_p2plink.la libjanus_peerjs.la $(make -s print-unit-tests)
fi
make -s -j"$(nproc)" "$@" >"$dir/make.log" 2>&1 || { tail -40 "$dir/make.log" >&2; exit 1; }
echo "$src"
