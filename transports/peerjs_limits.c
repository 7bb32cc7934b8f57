/*! \file   peerjs_limits.c
 * \brief  Client address, per-IP / per-network connection limits and the fd reserve (see peerjs_limits.h)
 * \details What this file is for: deciding whether a socket may be served. What it is not for: the limiter code
 * (ratelimit.c), refusing (the WebSocket side sends the ERROR: peerjs_ws.c).
 */

#include <string.h>
#include <sys/resource.h>

#include <debug.h>
#include <utils.h>

#include "links.h"
#include "metrics_endpoint.h"
#include "ratelimit.h"
#include "peerjs_limits.h"
#include "peerjs_transport.h"

/* Per client address (IPv6: per ipv6_prefix, a /64 by default) and, optionally, per network (a /24 or /48):
 * open WebSockets, and new WebSockets per second (a token bucket). One stock peerjs client is one WebSocket, so the
 * open-connection cap is sized for a NAT full of people; the flood protection is the rate of new connections and
 * the fd reserve. */
static p2plink_net_counter *conns_per_ip = NULL;
static p2plink_net_counter *conns_per_net = NULL;	/* NULL: no per-network cap */
static p2plink_rate_table *conn_rate = NULL;

/* File descriptors. Every peer costs us a socket, and Janus needs fds of its own at any time (a GMainContext's
 * eventfd per handle when event_loops = 0, SQLite, logs, admin HTTP): at the limit GLib aborts the whole process
 * ("Creating pipes for GWakeup: Too many open files") instead of failing one request. So new connections are
 * refused while fewer than fd_reserve descriptors are left. Linux hands out the lowest free descriptor, so the
 * accepted socket's number is a cheap, drift-free measure of how many are in use. */
static int fd_limit = 0;			/* RLIMIT_NOFILE soft limit at init; 0 = unknown, no check */
static int fd_reserve = 0;
static gint64 fd_refused_last_log = 0;
static guint64 fd_refused = 0;

static void fd_limit_init(gint64 event_loops) {
	struct rlimit rl;
	if(getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > G_MAXINT) {
		fd_limit = 0;
		return;
	}
	fd_limit = (int)rl.rlim_cur;
	/* With event_loops = 0 each handle that is still being attached will take one more fd (and a thread) */
	fd_reserve = 64 + fd_limit / (event_loops == 0 ? 10 : 40);
	if(event_loops == 0)
		JANUS_LOG(LOG_WARN, "%s: Janus event_loops = 0 gives every peer its own thread and eventfd (2 fds per peer); "
			"set event_loops in janus.jcfg\n", JANUS_PEERJS_NAME);
	JANUS_LOG(LOG_INFO, "%s: fd limit %d, refusing new connections with fewer than %d left\n", JANUS_PEERJS_NAME,
		fd_limit, fd_reserve);
}

void peerjs_limits_init(gint64 event_loops) {
	const peerjs_config *c = &peerjs.config;
	if(c->connection_rate_per_ip > 0) {
		p2plink_rate rate = { (double)c->connection_rate_per_ip, (double)MAX(c->connection_burst_per_ip, 1) };
		conn_rate = p2plink_rate_table_new(&rate, 65536);
		p2plink_rate_table_set_prefixes(conn_rate, P2PLINK_NET_PREFIX_V4, (guint)c->ipv6_prefix);
	}
	conns_per_ip = p2plink_net_counter_new((guint)c->max_connections_per_ip, P2PLINK_NET_PREFIX_V4,
		(guint)c->ipv6_prefix);
	if(c->max_connections_per_network > 0)
		conns_per_net = p2plink_net_counter_new((guint)c->max_connections_per_network,
			(guint)c->ipv4_network_prefix, (guint)c->ipv6_network_prefix);
	fd_limit_init(event_loops);
}

void peerjs_limits_free(void) {
	g_clear_pointer(&conn_rate, p2plink_rate_table_free);
	g_clear_pointer(&conns_per_ip, p2plink_net_counter_free);
	g_clear_pointer(&conns_per_net, p2plink_net_counter_free);
}

/* The client's address as text: the socket's (IPv4-mapped IPv6 from dual-stack sockets shown as IPv4), or the
 * X-Forwarded-For client when the socket is a configured trusted proxy. Nothing a client sends elsewhere counts.
 * FALSE when a trusted proxy's header is too long or malformed: the request must then be refused, since
 * answering it as the proxy's own address would let anyone past address whitelists. FALSE too (out empty) when
 * the socket's address cannot be read. */
gboolean peerjs_client_address(struct lws *wsi, char *out, size_t len) {
	/* lws_get_peer_simple returns NULL and leaves out untouched when getpeername fails (the client already went):
	 * out was then an uninitialised stack buffer (link_api_dispatch, http_request) read by inet_pton and handed
	 * to the plugin as the client's address for its rate limits and whitelists. No address: refuse the request. */
	out[0] = '\0';
	if(lws_get_peer_simple(wsi, out, len) == NULL || out[0] == '\0') {
		out[0] = '\0';
		JANUS_LOG(LOG_VERB, "%s: refusing a request whose peer address cannot be read\n", JANUS_PEERJS_NAME);
		return FALSE;
	}
	struct in6_addr v6;
	if(inet_pton(AF_INET6, out, &v6) == 1 && IN6_IS_ADDR_V4MAPPED(&v6))
		inet_ntop(AF_INET, &v6.s6_addr[12], out, len);
	char **trusted_proxies = peerjs.config.proxies;
	if(trusted_proxies == NULL)
		return TRUE;
	int total = lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR);
	if(total <= 0)
		return TRUE;
	/* Read the header whole (its real length, up to the cap); peerjs_http_client_ip refuses anything longer */
	char *xff = NULL;
	if(total <= PEERJS_XFF_MAX_LEN) {
		xff = g_malloc(total + 1);
		if(lws_hdr_copy(wsi, xff, total + 1, WSI_TOKEN_X_FORWARDED_FOR) < 0)
			g_clear_pointer(&xff, g_free);
	}
	char *client = NULL;
	peerjs_client_ip_result r = peerjs_http_client_ip(out, xff, (size_t)total,
		(const char * const *)trusted_proxies, &client);
	g_free(xff);
	if(r != PEERJS_CLIENT_IP_OK) {
		JANUS_LOG(LOG_WARN, "%s: refusing a request from proxy %s: X-Forwarded-For %s (%d bytes)\n", JANUS_PEERJS_NAME,
			out, r == PEERJS_CLIENT_IP_TOO_LONG ? "too long" : "malformed", total);
		return FALSE;
	}
	g_strlcpy(out, client, len);
	g_free(client);
	return TRUE;
}

const char *peerjs_limits_admit(p2plink_conn *conn) {
	if(conn_rate != NULL && !p2plink_rate_table_take(conn_rate, conn->ip, janus_get_monotonic_time())) {
		peerjs_metrics_refused(PEERJS_REFUSED_RATE_PER_IP);
		return "Too many new connections from your address: slow down";
	}
	if(!p2plink_net_counter_add(conns_per_ip, conn->ip, &conn->ip_key)) {
		peerjs_metrics_refused(PEERJS_REFUSED_PER_IP);
		return "Too many open connections from your address";
	}
	if(conns_per_net != NULL && !p2plink_net_counter_add(conns_per_net, conn->ip, &conn->net_key)) {
		peerjs_metrics_refused(PEERJS_REFUSED_PER_NETWORK);
		return "Too many open connections from your network";
	}
	return NULL;
}

void peerjs_limits_release(p2plink_conn *conn) {
	if(conn->ip_key != NULL)
		p2plink_net_counter_remove(conns_per_ip, conn->ip_key);
	if(conn->net_key != NULL)
		p2plink_net_counter_remove(conns_per_net, conn->net_key);
	g_clear_pointer(&conn->ip_key, g_free);
	g_clear_pointer(&conn->net_key, g_free);
}

gboolean peerjs_fd_accept_allowed(int fd) {
	if(fd_limit <= 0 || fd < fd_limit - fd_reserve)
		return TRUE;
	fd_refused++;
	peerjs_metrics_refused(PEERJS_REFUSED_FD_LIMIT);
	gint64 now = janus_get_monotonic_time();
	if(now - fd_refused_last_log >= 10 * G_USEC_PER_SEC) {
		fd_refused_last_log = now;
		JANUS_LOG(LOG_WARN, "%s: out of file descriptors (fd %d of %d, %d kept for Janus): refusing new connections "
			"(%"SCNu64" so far); raise LimitNOFILE / ulimit -n\n", JANUS_PEERJS_NAME, fd, fd_limit, fd_reserve, fd_refused);
	}
	return FALSE;
}
