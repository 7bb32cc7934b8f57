#!/usr/bin/env bash
# Calls across real NAT gateways, in network namespaces this script creates and removes (root only):
#
#                   ┌──────────── inet ─────────────┐   Janus with our plugin + transport, bound to 203.0.113.10
#                   │ 203.0.113.10 (server, on lo)   │   (HTTPS/WSS and the STUN responder), routes between the NATs
#                   └──┬──────────────┬──────────┬───┘
#          198.51.100.1│     .5       │     .9   │
#          198.51.100.2│     .6       │    .10   │      MASQUERADE to inet:
#                    nat1           nat2       nat3     nat1, nat2: port-preserving ("cone" mapping, the common
#             10.0.1.1 │   10.0.2.1   │  10.0.3.1 │       home router); nat3: --random-fully, a new port for every
#             10.0.1.2 │   10.0.2.2   │  10.0.3.2 │       destination ("symmetric", as on many mobile networks)
#                    lan1           lan2       lan3     one headless Chromium each, default route via its NAT
#
# No LAN reaches another except through both NATs, and nothing reaches any STUN server but ours: a call between
# lan1 and lan2 connects only if our STUN responder taught both browsers their public address; a call between
# lan1 and lan3 cannot connect without a relay, and the app must say so on both sides.
#   tests/nat/run.sh             TAP on stdout (node:test); skips, with the reason, where namespaces are not possible
set -uo pipefail
cd "$(dirname "$0")/../.."

skip() {
	echo "TAP version 13"
	echo "ok 1 - calls across NAT gateways # SKIP $1"
	echo "1..1"
	echo "# pass 0"
	echo "# fail 0"
	echo "# skipped 1"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip "creating network namespaces needs root"
command -v ip >/dev/null && command -v iptables >/dev/null || skip "needs ip (iproute2) and iptables"

p="pn$$" # prefix of every namespace and interface this run makes: runs never collide, cleanup finds them all
in_ns() { local n=$1; shift; ip netns exec "$p-$n" "$@"; }
cleanup() { for n in inet nat1 nat2 nat3 lan1 lan2 lan3; do ip netns del "$p-$n" 2>/dev/null; done; }
trap cleanup EXIT

# veth pair between two namespaces, with an address on each end: link NS_A IF_A ADDR_A NS_B IF_B ADDR_B
# IPv4 only: with IPv6 on, each link-local address finishes duplicate address detection a second or two after the
# link comes up, and Chromium aborts whatever page is loading then with ERR_NETWORK_CHANGED
link() {
	ip link add "$2" type veth peer name "$5" &&
		ip link set "$2" netns "$p-$1" && ip link set "$5" netns "$p-$4" &&
		in_ns "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1" && in_ns "$4" sysctl -qw "net.ipv6.conf.$5.disable_ipv6=1" &&
		in_ns "$1" ip addr add "$3" dev "$2" && in_ns "$1" ip link set "$2" up &&
		in_ns "$4" ip addr add "$6" dev "$5" && in_ns "$4" ip link set "$5" up
}

build() {
	ip netns add "$p-inet" || return 1
	in_ns inet ip link set lo up && in_ns inet ip addr add 203.0.113.10/32 dev lo &&
		in_ns inet sysctl -qw net.ipv4.ip_forward=1 || return 1
	local n base
	for n in 1 2 3; do
		base=$((4 * n - 3)) # inet side of the /30 towards natN; natN takes the next address
		ip netns add "$p-nat$n" && ip netns add "$p-lan$n" &&
			in_ns "nat$n" ip link set lo up && in_ns "lan$n" ip link set lo up &&
			link inet "$p-i$n" "198.51.100.$base/30" "nat$n" "$p-o$n" "198.51.100.$((base + 1))/30" &&
			link "nat$n" "$p-g$n" "10.0.$n.1/24" "lan$n" "$p-l$n" "10.0.$n.2/24" &&
			in_ns "nat$n" ip route add default via "198.51.100.$base" &&
			in_ns "lan$n" ip route add default via "10.0.$n.1" &&
			in_ns "nat$n" sysctl -qw net.ipv4.ip_forward=1 || return 1
	done
	in_ns nat1 iptables -t nat -A POSTROUTING -o "$p-o1" -j MASQUERADE &&
		in_ns nat2 iptables -t nat -A POSTROUTING -o "$p-o2" -j MASQUERADE &&
		in_ns nat3 iptables -t nat -A POSTROUTING -o "$p-o3" -j MASQUERADE --random-fully || return 1
	# Unsolicited packets from outside are dropped, as by any home router's firewall. Dropped before conntrack
	# confirms them, they leave no entry behind: otherwise a peer's early connectivity check would occupy the
	# very port tuple the NAT needs when the browser behind it answers, and MASQUERADE would pick another port
	for n in 1 2 3; do
		in_ns "nat$n" iptables -A INPUT -i "$p-o$n" -m conntrack --ctstate NEW -j DROP || return 1
	done
}
if ! err=$(build 2>&1); then
	skip "could not build the namespaces and NATs here: $(echo "$err" | tail -1)"
fi

# The test itself runs inside inet, where Janus listens; it starts each Chromium in its LAN through
# chromium-in-netns.sh
in_ns inet env P2PLINK_NAT_PREFIX="$p" P2PLINK_NAT_SERVER=203.0.113.10 P2PLINK_TEST_CERT_IPS=203.0.113.10 \
	node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=tap tests/nat/nat.test.mjs
