#!/bin/sh
# Debian's Chromium inside the network namespace named by $P2PLINK_NETNS: playwright starts this as its browser
# (tests/nat/nat.test.mjs). `ip netns exec` keeps the pipe file descriptors playwright talks over.
exec ip netns exec "$P2PLINK_NETNS" "${P2PLINK_CHROMIUM_REAL:-/usr/bin/chromium}" "$@"
