#!/usr/bin/env bash
# Builds p2plink (installing what is missing: redis-server and haproxy come with the rest) and starts a cluster
# demo in the foreground: Redis, three nodes and HAProxy on this machine; prints the URL to open. Ctrl+C stops it.
#   scripts/cluster-demo.sh [--dir DIR] [--nodes N]      (P2PLINK_PORT, P2PLINK_BIND, P2PLINK_MONGODB_URI: see
#   scripts/cluster-demo.mjs)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec node scripts/cluster-demo.mjs "$@"
