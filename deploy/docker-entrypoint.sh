#!/bin/sh
# Refuses to start without an admin secret (p2plink-render-config checks it); makes a self-signed certificate if
# none was mounted.
set -eu
# Janus reads admin_secret only from its config file: write a private copy with the secret in it (escaped, never
# through sed); refuses a missing or short secret
p2plink-render-config /etc/janus/janus.jcfg /run/janus.jcfg
if [ ! -f /etc/janus/certs/p2plink.crt ]; then
	mkdir -p /etc/janus/certs
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
		-keyout /etc/janus/certs/p2plink.key -out /etc/janus/certs/p2plink.crt -subj "/CN=$(hostname)" 2>/dev/null
	echo "p2plink: using a self-signed certificate; mount yours at /etc/janus/certs" >&2
fi
exec janus -C /run/janus.jcfg -F /etc/janus
