#!/bin/sh
# Refuses to start without an admin secret; makes a self-signed certificate if none was mounted.
set -eu
if [ -z "${P2PLINK_ADMIN_SECRET:-}" ] || [ "${#P2PLINK_ADMIN_SECRET}" -lt 16 ]; then
	echo "p2plink: set P2PLINK_ADMIN_SECRET (16 characters or more); refusing to start" >&2
	exit 1
fi
if [ ! -f /etc/janus/certs/p2plink.crt ]; then
	mkdir -p /etc/janus/certs
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
		-keyout /etc/janus/certs/p2plink.key -out /etc/janus/certs/p2plink.crt -subj "/CN=$(hostname)" 2>/dev/null
	echo "p2plink: using a self-signed certificate; mount yours at /etc/janus/certs" >&2
fi
# Janus reads admin_secret only from its config file: write a private copy with the secret in it
umask 077
sed "s|@P2PLINK_ADMIN_SECRET@|$P2PLINK_ADMIN_SECRET|" /etc/janus/janus.jcfg > /run/janus.jcfg
exec janus -C /run/janus.jcfg -F /etc/janus
