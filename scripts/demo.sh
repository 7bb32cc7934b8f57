#!/usr/bin/env bash
# Builds p2plink (installing what is missing) and starts the demo in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec node scripts/demo.mjs
