#!/bin/sh
# Bootstraps the autotools build (configure, Makefile.in).
set -e
cd "$(dirname "$0")"
mkdir -p m4
autoreconf --install --force
