/*! \file   janus_peerjs.c
 * \brief  janus.transport.peerjs — the PeerJS server protocol over HTTPS + WSS, inside Janus
 * \details What this file is for: the libwebsockets server (one context, one vhost, one service thread), the
 * PeerJS WebSocket handshake, per-connection bounded write queues, the Janus session + handle each connection gets
 * (create → attach → bind through the Janus API, keepalives rate-limited), and the HTTP answers decided by
 * http_routes.c. Signaling frames are handed to janus.plugin.p2plink through the in-process hot path
 * (p2plink_hotpath.h) on this thread, never through the Janus core.
 * What it is not for: routing or protocol rules (the plugin), HTTP route decisions (http_routes.c).
 *
 * Threads: everything that touches a struct lws runs on the service thread. Other threads (Janus core, the
 * plugin's sweeper) only queue frames / close requests under conn->mutex and wake the loop with
 * lws_cancel_service(), the one libwebsockets call that is safe from any thread.
 */

#include <arpa/inet.h>
#include <dlfcn.h>
#include <string.h>
#include <sys/resource.h>

#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <uv.h>
#include <openssl/ssl.h>

#include <transports/transport.h>

#include <debug.h>
#include <mutex.h>
#include <utils.h>

#include "../common/jcfg_values.h"
#include "../plugins/janus_p2plink/p2plink_hotpath.h"
#include "http_routes.h"
#include "links.h"
#include "metrics_endpoint.h"
#include "protocol.h"
#include "ratelimit.h"
#include "stun_responder.h"
#include "tls_reload.h"

#define JANUS_PEERJS_VERSION			1
#define JANUS_PEERJS_VERSION_STRING		"0.1.0"
#define JANUS_PEERJS_DESCRIPTION		"PeerJS server protocol (HTTPS + WSS) for janus.plugin.p2plink"
#define JANUS_PEERJS_NAME				"JANUS PeerJS transport"
#define JANUS_PEERJS_AUTHOR				"p2plink"
#define JANUS_PEERJS_PACKAGE			"janus.transport.peerjs"

/* Transport methods */
janus_transport *create(void);
static int janus_peerjs_init(janus_transport_callbacks *callback, const char *config_path);
static void janus_peerjs_destroy(void);
static int janus_peerjs_get_api_compatibility(void);
static int janus_peerjs_get_version(void);
static const char *janus_peerjs_get_version_string(void);
static const char *janus_peerjs_get_description(void);
static const char *janus_peerjs_get_name(void);
static const char *janus_peerjs_get_author(void);
static const char *janus_peerjs_get_package(void);
static gboolean janus_peerjs_is_janus_api_enabled(void);
static gboolean janus_peerjs_is_admin_api_enabled(void);
static int janus_peerjs_send_message(janus_transport_session *transport, void *request_id, gboolean admin,
	json_t *message);
static void janus_peerjs_session_created(janus_transport_session *transport, guint64 session_id);
static void janus_peerjs_session_over(janus_transport_session *transport, guint64 session_id, gboolean timeout,
	gboolean claimed);
static void janus_peerjs_session_claimed(janus_transport_session *transport, guint64 session_id);

static janus_transport janus_peerjs_transport =
	JANUS_TRANSPORT_INIT (
		.init = janus_peerjs_init,
		.destroy = janus_peerjs_destroy,

		.get_api_compatibility = janus_peerjs_get_api_compatibility,
		.get_version = janus_peerjs_get_version,
		.get_version_string = janus_peerjs_get_version_string,
		.get_description = janus_peerjs_get_description,
		.get_name = janus_peerjs_get_name,
		.get_author = janus_peerjs_get_author,
		.get_package = janus_peerjs_get_package,

		.is_janus_api_enabled = janus_peerjs_is_janus_api_enabled,
		.is_admin_api_enabled = janus_peerjs_is_admin_api_enabled,

		.send_message = janus_peerjs_send_message,
		.session_created = janus_peerjs_session_created,
		.session_over = janus_peerjs_session_over,
		.session_claimed = janus_peerjs_session_claimed,
	);

janus_transport *create(void) {
	JANUS_LOG(LOG_VERB, "%s created!\n", JANUS_PEERJS_NAME);
	return &janus_peerjs_transport;
}

/* Transactions we put on our own Janus requests, to recognise their answers */
#define TX_CREATE		"p2plink-create"
#define TX_ATTACH		"p2plink-attach"
#define TX_BIND			"p2plink-bind"
#define TX_KEEPALIVE	"p2plink-keepalive"
#define TX_DESTROY		"p2plink-destroy"

static volatile gint initialized = 0, stopping = 0;
static janus_transport_callbacks *gateway = NULL;
static const p2plink_hotpath *hotpath = NULL;

/* Configuration */
static peerjs_http_config http_config;
static char *config_path_prefix = NULL, *config_key = NULL, *config_html_root = NULL;
static char **config_cors = NULL;
static gsize max_frame_size = 64 * 1024;
static guint write_queue_max_frames = 1024;
static gsize write_queue_max_bytes = 4 * 1024 * 1024;
static gint64 keepalive_interval = 30 * G_USEC_PER_SEC;
static gboolean secure_listener = TRUE;
static char **trusted_proxies = NULL;	/* CIDRs whose X-Forwarded-For we believe; NULL = none */
/* Listener strings handed to libwebsockets, which may keep pointers to them: freed after the context */
static char *listen_iface = NULL, *tls_cert = NULL, *tls_key = NULL, *tls_key_password = NULL;
#define MAX_LINK_BODY (16 * 1024)
#define BAD_FORWARDED_JSON "{\"error\":{\"code\":\"bad-forwarded-for\",\"msg\":\"The proxy's X-Forwarded-For header " \
	"is too long or malformed\"}}"
/* lws keeps all of a request's headers in one buffer of this size (default 4096): room for an X-Forwarded-For of
 * PEERJS_XFF_MAX_LEN plus the usual headers. Only requests being parsed hold one. */
#define PEERJS_MAX_HEADER_DATA 8192
#define PEERJS_RX_BUFFER_SIZE 0

/* ICE configuration handed to the app: our own STUN responder unless the operator says otherwise */
static gboolean ice_lan_only = FALSE;
static char **ice_stun_urls = NULL;		/* explicit list; NULL = stun:<host the page came from>:<stun_port> */
static p2plink_stun_server *stun_server = NULL;
static int stun_port = 3478;
static gboolean stun_enabled = TRUE;
static char *stun_bind = NULL;
static p2plink_stun_config stun_config;

/* libwebsockets */
static struct lws_context *lws_ctx = NULL;
static GThread *service_thread = NULL;
static __thread gboolean on_service_thread = FALSE;

/* Event loop. lws's default poll() loop hands the kernel every socket on every wakeup: with 18,500 idle peers
 * that scan was ~85% of the server's CPU (~80 us per heartbeat). With event_loop = "libuv", lws runs on a libuv
 * (epoll) loop that we own ("foreign loop" to lws): lws's internal libuv loop would install its own SIGINT/SIGTERM
 * handlers over Janus's, and lws 4.1.6 exports no way to stop it from our thread. */
typedef enum peerjs_event_loop {
	PEERJS_LOOP_POLL = 0,
	PEERJS_LOOP_LIBUV,
} peerjs_event_loop;
static peerjs_event_loop event_loop = PEERJS_LOOP_LIBUV;
static uv_loop_t *uv_loop = NULL;

/* File descriptors. Every peer costs us a socket, and Janus needs fds of its own at any time (a GMainContext's
 * eventfd per handle when event_loops = 0, SQLite, logs, admin HTTP): at the limit GLib aborts the whole process
 * ("Creating pipes for GWakeup: Too many open files") instead of failing one request. So new connections are
 * refused while fewer than fd_reserve descriptors are left. Linux hands out the lowest free descriptor, so the
 * accepted socket's number is a cheap, drift-free measure of how many are in use. */
static int fd_limit = 0;			/* RLIMIT_NOFILE soft limit at init; 0 = unknown, no check */
static int fd_reserve = 0;
static gint64 janus_event_loops = -1;	/* janus.jcfg general.event_loops (0: one loop per handle) */
static gint64 fd_refused_last_log = 0;
static guint64 fd_refused = 0;
/* lws clears this (info.pcontext) when it has completely destroyed the context */
static struct lws_context *lws_ctx_alive = NULL;

/* Connections with frames or a close request queued from another thread, and HTTP requests whose answer a
 * plugin worker delivered, for the service thread to arm */
static GPtrArray *pending_conns = NULL;
static GPtrArray *pending_http = NULL;
/* Under pending_mutex: other threads may wake the service thread (lws_cancel_service). Cleared, under the same
 * mutex, before the context is destroyed, and the destroy waits for wakes in progress (service_wakers): a plugin
 * sweeper or link worker calling lws_cancel_service on a context being destroyed (or already freed) used freed
 * memory. The call itself is made outside the mutex, so a wake never blocks the service thread's arm_pending. */
static gboolean service_wakeable = FALSE;
static guint service_wakers = 0;
static janus_condition service_wakers_cond;	/* zeroed static: valid for GCond and for glibc pthread_cond_t */
static janus_mutex pending_mutex = JANUS_MUTEX_INITIALIZER;

/* Another thread wakes the service thread, unless the context is being destroyed. Called with pending_mutex held;
 * releases it. */
static void service_wake_unlock(gboolean wake) {
	if(!wake || !service_wakeable) {
		janus_mutex_unlock(&pending_mutex);
		return;
	}
	service_wakers++;
	janus_mutex_unlock(&pending_mutex);
	lws_cancel_service(lws_ctx);
	janus_mutex_lock(&pending_mutex);
	if(--service_wakers == 0)
		janus_condition_broadcast(&service_wakers_cond);
	janus_mutex_unlock(&pending_mutex);
}

typedef struct out_frame {
	size_t len;
	unsigned char data[];	/* LWS_PRE bytes of headroom, then the frame */
} out_frame;

/* One WebSocket. Shared with other threads (the plugin, the Janus core), hence refcounted and locked. */
struct p2plink_conn {
	gatomicrefcount ref;
	janus_mutex mutex;
	/* Guarded by mutex */
	GQueue out;
	gsize out_bytes;
	gboolean close_requested;
	gboolean abort;			/* close without flushing (slow consumer) */
	gboolean gone;			/* the socket is closed; nothing more is queued */
	gboolean pending;		/* in pending_conns (guarded by pending_mutex instead) */
	char close_reason[64];
	/* The Janus session, once "create" answered (0 before). Set under mutex together with the check of gone, so
	 * that exactly one side destroys the session: the teardown if it knows the id, the "create" answer if not */
	guint64 session_id;
	/* Service thread only */
	struct lws *wsi;
	p2plink_peer *peer;
	char *rx;
	size_t rx_len, rx_cap;
	GQueue held;			/* pacing: whole messages read while paced, processed by the TIMER callback */
	gsize held_bytes;
	gboolean paced;			/* the plugin asked for a pause that is not over yet */
	int fail_status;		/* ws_fail: the close code to send from the writable callback (0: none, -1: sent) */
	const char *fail_reason;
	gint64 last_keepalive;
	/* Written on the service thread before the Janus session exists, read by the core threads afterwards */
	janus_transport_session *ts;
	char ip[INET6_ADDRSTRLEN + 8];
	char *ip_key, *net_key;	/* counted under these in conns_per_ip / conns_per_net (NULL: not counted) */
	char nonce[P2PLINK_BIND_NONCE_LEN + 1];
};

/* A share-link HTTP request waiting for the plugin's worker. Shared with that worker thread: refcounted; wsi is
 * only touched on the service thread and only while alive. */
typedef struct http_pending {
	gatomicrefcount ref;
	janus_mutex mutex;
	struct lws *wsi;
	gboolean alive;		/* the HTTP connection is still open (service thread writes, worker reads) */
	gboolean done;		/* reply arrived */
	int status;
	char *body;
} http_pending;
static void http_pending_unref(http_pending *pending);

/* Per-wsi data libwebsockets allocates for us: HTTP request state or the WebSocket's connection */
typedef struct peerjs_pss {
	p2plink_conn *conn;
	peerjs_http_answer answer;
	gboolean answer_ready;
	gboolean headers_sent;
	gboolean close_after;	/* a refused request: the rest of its stream cannot be trusted, close after the answer */
	/* POST share-link endpoints */
	GByteArray *body;
	http_pending *pending;
} peerjs_pss;

static void conn_ref(p2plink_conn *conn) {
	g_atomic_ref_count_inc(&conn->ref);
}

static void drain_locked(p2plink_conn *conn) {
	out_frame *frame;
	while((frame = g_queue_pop_head(&conn->out)) != NULL)
		g_free(frame);
	conn->out_bytes = 0;
}

static void conn_unref(p2plink_conn *conn) {
	if(conn == NULL || !g_atomic_ref_count_dec(&conn->ref))
		return;
	drain_locked(conn);
	g_free(conn->rx);
	g_free(conn->ip_key);
	g_free(conn->net_key);
	g_queue_clear_full(&conn->held, g_free);
	g_free(conn);
}

/* Seconds a closing connection may take to flush what is queued for it before it is dropped anyway */
#define CLOSE_FLUSH_TIMEOUT 5

/* Service thread: act on what other threads asked of this connection. A peer that stops reading never becomes
 * writable again, so closes cannot rely on the writable callback alone: an abort (slow consumer) is killed right
 * away, a close gets CLOSE_FLUSH_TIMEOUT seconds to flush. wsi is only cleared on this thread: checking it is safe. */
static void conn_arm(p2plink_conn *conn) {
	if(conn->wsi == NULL)
		return;
	janus_mutex_lock(&conn->mutex);
	gboolean abort = conn->abort, closing = conn->close_requested;
	janus_mutex_unlock(&conn->mutex);
	if(abort)
		lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	else if(closing)
		lws_set_timeout(conn->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_FLUSH_TIMEOUT);
	if(!abort)
		lws_callback_on_writable(conn->wsi);
}

/* Make the service thread call on_writable for this connection */
static void conn_wake(p2plink_conn *conn) {
	if(on_service_thread) {
		conn_arm(conn);
		return;
	}
	janus_mutex_lock(&pending_mutex);
	gboolean wake = FALSE;
	janus_mutex_lock(&conn->mutex);
	if(!conn->pending && !conn->gone) {
		conn->pending = TRUE;
		conn_ref(conn);
		g_ptr_array_add(pending_conns, conn);
		wake = TRUE;
	}
	janus_mutex_unlock(&conn->mutex);
	service_wake_unlock(wake);
}

static int conn_send(p2plink_conn *conn, const char *text, size_t len) {
	janus_mutex_lock(&conn->mutex);
	if(conn->gone || conn->close_requested) {
		janus_mutex_unlock(&conn->mutex);
		return -1;
	}
	if(conn->out.length >= write_queue_max_frames || conn->out_bytes + len > write_queue_max_bytes) {
		/* A client that stops reading is cut off instead of growing our memory */
		conn->close_requested = TRUE;
		conn->abort = TRUE;
		g_strlcpy(conn->close_reason, "slow consumer: write queue full", sizeof(conn->close_reason));
		drain_locked(conn);
		janus_mutex_unlock(&conn->mutex);
		conn_wake(conn);
		return -1;
	}
	out_frame *frame = g_malloc(sizeof(out_frame) + LWS_PRE + len);
	frame->len = len;
	memcpy(frame->data + LWS_PRE, text, len);
	g_queue_push_tail(&conn->out, frame);
	conn->out_bytes += len;
	janus_mutex_unlock(&conn->mutex);
	conn_wake(conn);
	return 0;
}

static void conn_close(p2plink_conn *conn, const char *reason) {
	janus_mutex_lock(&conn->mutex);
	gboolean wake = !conn->gone && !conn->close_requested;
	if(wake) {
		conn->close_requested = TRUE;
		g_strlcpy(conn->close_reason, reason ? reason : "", sizeof(conn->close_reason));
	}
	janus_mutex_unlock(&conn->mutex);
	if(wake)
		conn_wake(conn);
}

static const p2plink_transport_ops transport_ops = {
	.send = conn_send,
	.close = conn_close,
	.ref = conn_ref,
	.unref = conn_unref,
};

/* Janus API requests on behalf of a connection. The core steals the message and never blocks us. */
static void janus_request(p2plink_conn *conn, json_t *request) {
	gateway->incoming_request(&janus_peerjs_transport, conn->ts, NULL, FALSE, request, NULL);
}

static void janus_session_start(p2plink_conn *conn) {
	conn->ts = janus_transport_session_create(conn, (void (*)(void *))conn_unref);
	conn_ref(conn);	/* the transport session's reference, dropped by the core through p_free */
	janus_request(conn, json_pack("{s:s,s:s}", "janus", "create", "transaction", TX_CREATE));
}

/* "destroy" for a session this connection owns: one hash lookup in the core. (transport_gone would do the same
 * by scanning every session under the core's sessions mutex: O(sessions) per closed socket, which made 18,500
 * peers leaving at once take 5.5 s of a blocked core.) */
static void janus_session_destroy_request(janus_transport_session *ts, guint64 session_id) {
	gateway->incoming_request(&janus_peerjs_transport, ts, NULL, FALSE, json_pack("{s:s,s:I,s:s}", "janus",
		"destroy", "session_id", (json_int_t)session_id, "transaction", TX_DESTROY), NULL);
}

static void janus_keepalive(p2plink_conn *conn, gint64 now) {
	janus_mutex_lock(&conn->mutex);
	guint64 session_id = conn->session_id;
	janus_mutex_unlock(&conn->mutex);
	if(session_id == 0 || keepalive_interval <= 0 || now - conn->last_keepalive < keepalive_interval)
		return;
	conn->last_keepalive = now;
	janus_request(conn, json_pack("{s:s,s:I,s:s}", "janus", "keepalive", "session_id", (json_int_t)session_id,
		"transaction", TX_KEEPALIVE));
}

/* Per client address (IPv6: per ipv6_prefix, a /64 by default) and, optionally, per network (a /24 or /48):
 * open WebSockets, and new WebSockets per second (a token bucket). One stock peerjs client is one WebSocket, so the
 * open-connection cap is sized for a NAT full of people; the flood protection is the rate of new connections and
 * the fd reserve. */
static p2plink_net_counter *conns_per_ip = NULL;
static p2plink_net_counter *conns_per_net = NULL;	/* NULL: no per-network cap */
static p2plink_rate_table *conn_rate = NULL;

static void conn_uncount(p2plink_conn *conn) {
	if(conn->ip_key != NULL)
		p2plink_net_counter_remove(conns_per_ip, conn->ip_key);
	if(conn->net_key != NULL)
		p2plink_net_counter_remove(conns_per_net, conn->net_key);
	g_clear_pointer(&conn->ip_key, g_free);
	g_clear_pointer(&conn->net_key, g_free);
}

/* Socket closed: tell the plugin (unregister, LEAVE to counterparts) and Janus (session teardown). Idempotent. */
static void conn_teardown(p2plink_conn *conn) {
	if(conn->peer != NULL) {
		hotpath->peer_close(conn->peer);
		conn->peer = NULL;
	}
	conn_uncount(conn);
	janus_mutex_lock(&conn->mutex);
	gboolean first = !conn->gone;
	conn->gone = TRUE;
	conn->wsi = NULL;
	guint64 session_id = conn->session_id;
	drain_locked(conn);
	janus_mutex_unlock(&conn->mutex);
	if(!first)
		return;
	janus_transport_session *ts = conn->ts;
	if(ts != NULL) {
		/* Before our reference goes: the request takes its own. No session yet: the "create" answer destroys it */
		if(session_id != 0)
			janus_session_destroy_request(ts, session_id);
		janus_transport_session_destroy(ts);
	}
	conn_unref(conn);	/* the socket's reference */
}

static p2plink_conn *conn_new(struct lws *wsi) {
	p2plink_conn *conn = g_new0(p2plink_conn, 1);
	g_atomic_ref_count_init(&conn->ref);
	janus_mutex_init(&conn->mutex);
	g_queue_init(&conn->out);
	g_queue_init(&conn->held);
	conn->wsi = wsi;
	return conn;
}

/* The client's address as text: the socket's (IPv4-mapped IPv6 from dual-stack sockets shown as IPv4), or the
 * X-Forwarded-For client when the socket is a configured trusted proxy. Nothing a client sends elsewhere counts.
 * FALSE when a trusted proxy's header is too long or malformed: the request must then be refused, since
 * answering it as the proxy's own address would let anyone past address whitelists. FALSE too (out empty) when
 * the socket's address cannot be read. */
static gboolean client_address(struct lws *wsi, char *out, size_t len) {
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

/* An ERROR frame, then a close. code NULL: exactly the reference server's frame ({"msg"} only, its exact words,
 * for the handshake errors the stock client knows); otherwise protocol.c's frame with our stable code as well */
static void send_error_and_close(p2plink_conn *conn, const char *code, const char *msg) {
	char *text = code != NULL ? p2plink_frame_encode_error(code, msg, NULL) :
		p2plink_json_text(json_pack("{s:s,s:{s:s}}", "type", "ERROR", "payload", "msg", msg));
	conn_send(conn, text, strlen(text));
	conn_close(conn, msg);
	g_free(text);
}

static void handshake_reject(p2plink_conn *conn, const char *msg) {
	send_error_and_close(conn, NULL, msg);
}


static void ws_established(struct lws *wsi, peerjs_pss *pss) {
	p2plink_conn *conn = conn_new(wsi);
	pss->conn = conn;
	peerjs_metrics_connection();
	if(!client_address(wsi, conn->ip, sizeof(conn->ip))) {
		/* LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION refused these already: only a defence in depth */
		peerjs_metrics_refused(PEERJS_REFUSED_BAD_ADDRESS);
		conn_close(conn, "bad X-Forwarded-For");
		return;
	}
	if(conn_rate != NULL && !p2plink_rate_table_take(conn_rate, conn->ip, janus_get_monotonic_time())) {
		peerjs_metrics_refused(PEERJS_REFUSED_RATE_PER_IP);
		send_error_and_close(conn, "too-many-connections", "Too many new connections from your address: slow down");
		return;
	}
	if(!p2plink_net_counter_add(conns_per_ip, conn->ip, &conn->ip_key)) {
		peerjs_metrics_refused(PEERJS_REFUSED_PER_IP);
		send_error_and_close(conn, "too-many-connections", "Too many open connections from your address");
		return;
	}
	if(conns_per_net != NULL && !p2plink_net_counter_add(conns_per_net, conn->ip, &conn->net_key)) {
		peerjs_metrics_refused(PEERJS_REFUSED_PER_NETWORK);
		send_error_and_close(conn, "too-many-connections", "Too many open connections from your network");
		return;
	}
	char key[256], id[256], token[256];
	const char *k = lws_get_urlarg_by_name(wsi, "key=", key, sizeof(key));
	const char *i = lws_get_urlarg_by_name(wsi, "id=", id, sizeof(id));
	const char *t = lws_get_urlarg_by_name(wsi, "token=", token, sizeof(token));
	if(k == NULL || i == NULL || t == NULL || !*k || !*i || !*t) {
		peerjs_metrics_refused(PEERJS_REFUSED_BAD_HANDSHAKE);
		handshake_reject(conn, "No id, token, or key supplied to websocket server");
	} else if(strcmp(k, config_key) != 0) {
		peerjs_metrics_refused(PEERJS_REFUSED_BAD_KEY);
		handshake_reject(conn, "Invalid key provided");
	} else {
		p2plink_open_result result;
		/* NULL: the plugin already queued ID-TAKEN or ERROR and asked for the close */
		conn->peer = hotpath->peer_open(conn, i, t, conn->ip, conn->nonce, &result);
		peerjs_metrics_open_result(result);
	}
	/* Our copy of the token is not needed past peer_open (the plugin keeps its own): wipe it off the stack.
	 * lws_get_urlarg_by_name copies "token=<token>" whole, and t may be NULL, so the whole buffer goes */
	OPENSSL_cleanse(token, sizeof(token));
	if(conn->peer == NULL)
		return;
	conn->last_keepalive = janus_get_monotonic_time();
	janus_session_start(conn);
}

static void rx_discard(p2plink_conn *conn) {
	g_free(conn->rx);
	conn->rx = NULL;
	conn->rx_len = conn->rx_cap = 0;
}

/* After OPEN a protocol violation fails the WebSocket with a close code and reason (RFC 6455 7.4.1), never an
 * ERROR frame: peerjs 1.5.x aborts its Peer on ERROR, and a close says the same to any client. From here on
 * nothing more of this socket is processed (what it still sends is dropped unread, and what is queued for it is
 * not written); the close frame goes out from the writable callback (ws_writeable). */
static int ws_fail(struct lws *wsi, p2plink_conn *conn, enum lws_close_status status, const char *reason) {
	rx_discard(conn);
	g_queue_clear_full(&conn->held, g_free);
	conn->held_bytes = 0;
	conn->fail_status = status;
	conn->fail_reason = reason;
	lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_FLUSH_TIMEOUT);
	lws_callback_on_writable(wsi);
	return 0;
}

/* A flood is logged, but a client that floods from many sockets must not flood the log: one line per 10 s */
static void log_flood(const char *ip) {
	static gint64 last = 0;
	static guint64 quiet = 0;
	gint64 now = janus_get_monotonic_time();
	if(last != 0 && now - last < 10 * G_USEC_PER_SEC) {
		quiet++;
		return;
	}
	JANUS_LOG(LOG_WARN, "%s: closed a flooding peer from %s (paced continuously past flood_after; %"SCNu64" more "
		"since the last report)\n", JANUS_PEERJS_NAME, ip, quiet);
	last = now;
	quiet = 0;
}

/* Pacing. The plugin processes every frame and says how long to wait before the next (p2plink_hotpath.peer_frame).
 * On a plain socket we also stop reading it (lws_rx_flow_control) so the backlog stays in the client's TCP
 * buffers. Not on TLS: with libwebsockets 4.1.6, a TLS connection whose rx is flow-controlled while decrypted data
 * is pending spins the service thread (measured: a 2,000-frame burst over WSS, the thread 100% in
 * lws_buflist_append_segment, nothing written to anyone for 15 s+). There, messages lws has read while the peer is
 * paced wait in conn->held, in order, and are processed when the pause is over. A backlog no real client has
 * (PACE_HOLD_MAX_FRAMES: 16 s of the default frame_rate; or PACE_HOLD_MAX_BYTES) is a flood. */
#define PACE_HOLD_MAX_FRAMES 8192
#define PACE_HOLD_MAX_BYTES (4 * 1024 * 1024)

typedef struct held_frame {
	size_t len;
	char data[];
} held_frame;

/* A close was asked for (LEAVE, a kick, a replaced id, a refused handshake, a slow consumer): the connection is
 * only flushing what is queued for it. close_requested is set by other threads too, hence the mutex. */
static gboolean conn_closing(p2plink_conn *conn) {
	janus_mutex_lock(&conn->mutex);
	gboolean closing = conn->close_requested || conn->gone;
	janus_mutex_unlock(&conn->mutex);
	return closing;
}

/* One whole text message to the plugin, and what its answer means for the socket */
static int ws_deliver(struct lws *wsi, p2plink_conn *conn, const char *data, size_t len) {
	/* The one gate for frames read now and for held ones: a connection that is closing routes nothing more (the
	 * frames after a LEAVE, or read during the close flush, were routed as if the peer were still there) */
	if(conn->fail_status != 0 || conn_closing(conn))
		return 0;
	gint64 pause_us = 0;
	p2plink_frame_result result = hotpath->peer_frame(conn->peer, data, len, &pause_us);
	if(result == P2PLINK_FRAME_BAD_TEXT)
		return ws_fail(wsi, conn, LWS_CLOSE_STATUS_INVALID_PAYLOAD, "text frame is not valid UTF-8");
	if(result == P2PLINK_FRAME_FLOOD) {
		log_flood(conn->ip);
		return ws_fail(wsi, conn, LWS_CLOSE_STATUS_POLICY_VIOLATION, "flooding: over frame_rate for too long");
	}
	if(pause_us > 0) {
		/* Over its frame rate: nothing more of this peer until its bucket holds a token again (the TIMER callback
		 * resumes it). Its frames wait, in order; nobody else's are held up. */
		conn->paced = TRUE;
		if(!lws_is_ssl(wsi))
			lws_rx_flow_control(wsi, 0);
		lws_set_timer_usecs(wsi, pause_us);
	}
	if(result == P2PLINK_FRAME_HEARTBEAT)
		janus_keepalive(conn, janus_get_monotonic_time());
	else if(result == P2PLINK_FRAME_CLOSE)
		conn_close(conn, "peer left");
	return 0;
}

/* LWS_CALLBACK_TIMER: a paced peer's pause is over. Held messages go first, in order, until the next pause. */
static int ws_resume(struct lws *wsi, p2plink_conn *conn) {
	if(conn == NULL || conn->peer == NULL || conn->fail_status != 0)
		return 0;
	conn->paced = FALSE;
	held_frame *h;
	/* ws_deliver may pace the peer again, fail it (which empties held) or close it (the rest is dropped there) */
	while(!conn->paced && conn->fail_status == 0 && (h = g_queue_pop_head(&conn->held)) != NULL) {
		conn->held_bytes -= h->len;
		ws_deliver(wsi, conn, h->data, h->len);
		g_free(h);
	}
	if(!conn->paced && conn->fail_status == 0 && !lws_is_ssl(wsi))
		lws_rx_flow_control(wsi, 1);
	return 0;
}

static int ws_receive(struct lws *wsi, p2plink_conn *conn, const void *in, size_t len) {
	if(conn == NULL || conn->peer == NULL)
		return 0;	/* handshake was refused: the close is on its way */
	if(conn->fail_status != 0)
		return 0;	/* failed: its close frame is on its way, nothing more of it is read */
	if(conn_closing(conn)) {
		/* Closing: nothing more is routed (ws_deliver), so nothing more is buffered or held either */
		rx_discard(conn);
		g_queue_clear_full(&conn->held, g_free);
		conn->held_bytes = 0;
		return 0;
	}
	if(lws_frame_is_binary(wsi))
		return ws_fail(wsi, conn, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "binary frames are not part of PeerJS");
	if(conn->rx_len + len > max_frame_size) {
		/* Stop buffering now: a peer streaming a giant frame must not cost us memory */
		return ws_fail(wsi, conn, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message exceeds max_frame_size");
	}
	const char *data = in;
	size_t total = len;
	if(!lws_is_final_fragment(wsi) || conn->rx_len > 0) {
		if(conn->rx_len + len > conn->rx_cap) {
			/* Frames bigger than rx_buffer_size arrive in pieces: grow geometrically, one realloc or two per frame */
			conn->rx_cap = MAX(conn->rx_len + len, MIN(MAX(conn->rx_cap * 2, 4096), max_frame_size));
			conn->rx = g_realloc(conn->rx, conn->rx_cap);
		}
		memcpy(conn->rx + conn->rx_len, in, len);
		conn->rx_len += len;
		if(!lws_is_final_fragment(wsi))
			return 0;
		data = conn->rx;
		total = conn->rx_len;
	}
	if(conn->paced) {
		if(conn->held.length >= PACE_HOLD_MAX_FRAMES || conn->held_bytes + total > PACE_HOLD_MAX_BYTES) {
			log_flood(conn->ip);
			return ws_fail(wsi, conn, LWS_CLOSE_STATUS_POLICY_VIOLATION, "flooding: too many frames waiting");
		}
		held_frame *h = g_malloc(sizeof(held_frame) + total);
		h->len = total;
		memcpy(h->data, data, total);
		g_queue_push_tail(&conn->held, h);
		conn->held_bytes += total;
		rx_discard(conn);
		return 0;
	}
	int r = ws_deliver(wsi, conn, data, total);
	/* Idle peers keep no reassembly buffer */
	rx_discard(conn);
	return r;
}

/* Frames written per writable callback at most: enough to drain a burst (an OFFER and its candidates) in one
 * wakeup instead of one epoll round trip per frame, few enough that one busy peer cannot starve the others */
#define WRITES_PER_CALLBACK 16

static int ws_writeable(struct lws *wsi, p2plink_conn *conn) {
	if(conn == NULL)
		return -1;
	if(conn->fail_status == -1)
		return 0;
	if(conn->fail_status != 0) {
		/* Written by hand: with input still arriving, lws_close_reason + return -1 closed the TCP connection without
		 * the close frame (the client saw 1006). The client answers this close and lws then closes; a client that
		 * does not gets PENDING_TIMEOUT_CLOSE_ACK. */
		unsigned char frame[LWS_PRE + 125];
		size_t n = MIN(strlen(conn->fail_reason), sizeof(frame) - LWS_PRE - 2);
		frame[LWS_PRE] = (unsigned char)(conn->fail_status >> 8);
		frame[LWS_PRE + 1] = (unsigned char)(conn->fail_status & 0xff);
		memcpy(frame + LWS_PRE + 2, conn->fail_reason, n);
		conn->fail_status = -1;	/* sent: from now on only the client's answer (or the timeout) is awaited */
		/* Opcode 4 is LWS_WRITE_CLOSE, which the public header leaves out ("handled by lws_close_reason") */
		if(lws_write(wsi, frame + LWS_PRE, n + 2, (enum lws_write_protocol)4) < 0)
			return -1;
		lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, CLOSE_FLUSH_TIMEOUT);
		return 0;
	}
	for(int n = 0; n < WRITES_PER_CALLBACK; n++) {
		janus_mutex_lock(&conn->mutex);
		if(conn->abort) {
			janus_mutex_unlock(&conn->mutex);
			lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"slow consumer", 13);
			return -1;
		}
		/* A partial write leaves lws holding the rest: then the pipe reads as choked and we wait for POLLOUT */
		out_frame *frame = lws_send_pipe_choked(wsi) ? NULL : g_queue_pop_head(&conn->out);
		if(frame != NULL)
			conn->out_bytes -= frame->len;
		gboolean more = conn->out.length > 0;
		gboolean closing = conn->close_requested;
		char reason[64];
		g_strlcpy(reason, conn->close_reason, sizeof(reason));
		janus_mutex_unlock(&conn->mutex);
		if(frame == NULL) {
			if(closing && !more) {
				lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)reason, strlen(reason));
				return -1;
			}
			/* Nothing queued: ask for nothing. (lws calls us once more after it finished a partially written frame;
			 * re-arming here with an empty queue made the service thread spin at a full core after any frame
			 * larger than ~4 KiB: tests/integration/writable.test.mjs) */
			if(!more && !closing)
				return 0;
			break;
		}
		int written = lws_write(wsi, frame->data + LWS_PRE, frame->len, LWS_WRITE_TEXT);
		g_free(frame);
		if(written < 0)
			return -1;
		if(!more && !closing)
			return 0;
	}
	/* Come back for the rest, or for the pending close */
	lws_callback_on_writable(wsi);
	return 0;
}

/* Arm every connection other threads queued for, from LWS_CALLBACK_EVENT_WAIT_CANCELLED */
static void arm_pending(void) {
	janus_mutex_lock(&pending_mutex);
	GPtrArray *list = pending_conns;
	pending_conns = g_ptr_array_new();
	GPtrArray *answers = pending_http;
	pending_http = g_ptr_array_new();
	for(guint i = 0; i < list->len; i++) {
		p2plink_conn *conn = g_ptr_array_index(list, i);
		janus_mutex_lock(&conn->mutex);
		conn->pending = FALSE;
		janus_mutex_unlock(&conn->mutex);
	}
	janus_mutex_unlock(&pending_mutex);
	for(guint i = 0; i < list->len; i++) {
		p2plink_conn *conn = g_ptr_array_index(list, i);
		conn_arm(conn);
		conn_unref(conn);
	}
	g_ptr_array_free(list, TRUE);
	for(guint i = 0; i < answers->len; i++) {
		http_pending *pending = g_ptr_array_index(answers, i);
		/* alive and wsi only change on this thread, so no lock is needed to read them here */
		if(pending->alive && pending->wsi != NULL)
			lws_callback_on_writable(pending->wsi);
		http_pending_unref(pending);
	}
	g_ptr_array_free(answers, TRUE);
}

/* HTTP */

/* Link requests carry the peer's PeerJS token (and link tokens) in their body, and links/create answers a new
 * link's token: wiped before they are freed, with OPENSSL_cleanse (a memset before free may be optimised away) */
static void link_body_free(GByteArray **body) {
	if(*body == NULL)
		return;
	OPENSSL_cleanse((*body)->data, (*body)->len);
	g_byte_array_free(*body, TRUE);
	*body = NULL;
}

static void http_pending_unref(http_pending *pending) {
	if(pending == NULL || !g_atomic_ref_count_dec(&pending->ref))
		return;
	peerjs_http_text_wipe_free(pending->body);
	g_free(pending);
}

/* The plugin's worker thread delivers a share-link answer: keep it and wake the service thread to write it */
static void http_pending_reply(void *ctx, int status, char *body) {
	http_pending *pending = ctx;
	janus_mutex_lock(&pending->mutex);
	pending->status = status;
	pending->body = body;
	pending->done = TRUE;
	gboolean alive = pending->alive;
	janus_mutex_unlock(&pending->mutex);
	if(alive) {
		janus_mutex_lock(&pending_mutex);
		if(pending_http != NULL) {
			g_atomic_ref_count_inc(&pending->ref);
			g_ptr_array_add(pending_http, pending);
		}
		service_wake_unlock(TRUE);	/* like conn_wake: never on a context being destroyed */
	}
	http_pending_unref(pending);	/* the reference the plugin held */
}

static void http_pss_clear(peerjs_pss *pss) {
	/* Safe on a zeroed answer; file answers never set answer_ready, so clear unconditionally */
	peerjs_http_answer_clear(&pss->answer);
	pss->answer_ready = FALSE;
	link_body_free(&pss->body);
	if(pss->pending != NULL) {
		janus_mutex_lock(&pss->pending->mutex);
		pss->pending->alive = FALSE;
		pss->pending->wsi = NULL;
		janus_mutex_unlock(&pss->pending->mutex);
		http_pending_unref(pss->pending);
		pss->pending = NULL;
	}
}

static char *random_uuid(void) {
	unsigned char b[16];
	if(RAND_bytes(b, sizeof(b)) != 1)
		return NULL;
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	return g_strdup_printf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p, unsigned char *end) {
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
		(int)strlen(value), p, end);
}

/* Headers every answer gets: the security headers (the full CSP for files of the web app, a deny-all one for
 * the rest), and CORS like the reference */
static int add_common_headers(struct lws *wsi, const peerjs_http_answer *answer, unsigned char **p,
		unsigned char *end) {
	char host[256];
	if(lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
		host[0] = '\0';
	peerjs_http_header security[PEERJS_HTTP_SECURITY_HEADERS];
	guint n = peerjs_http_security_headers(answer->kind == PEERJS_ROUTE_FILE, secure_listener,
		host[0] ? host : NULL, security);
	int failed = 0;
	for(guint i = 0; i < n && !failed; i++)
		failed = add_header(wsi, security[i].name, security[i].value, p, end);
	peerjs_http_headers_clear(security, n);
	if(failed)
		return -1;
	if(answer->allow_origin != NULL) {
		if(add_header(wsi, "access-control-allow-origin:", answer->allow_origin, p, end) ||
				add_header(wsi, "vary:", "Origin", p, end) ||
				add_header(wsi, "access-control-allow-methods:", "GET, POST, OPTIONS", p, end) ||
				add_header(wsi, "access-control-allow-headers:", "Content-Type", p, end))
			return -1;
	}
	return 0;
}

static int http_send_headers(struct lws *wsi, peerjs_http_answer *answer, size_t body_len) {
	unsigned char buf[LWS_PRE + 2048], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof(buf) - 1];
	if(lws_add_http_common_headers(wsi, answer->status, answer->content_type, body_len, &p, end) ||
			add_common_headers(wsi, answer, &p, end) ||
			add_header(wsi, "cache-control:", "no-store", &p, end))
		return -1;
	if(lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	return 0;
}

static int http_serve_file(struct lws *wsi, peerjs_http_answer *answer) {
	unsigned char buf[2048], *p = buf, *end = &buf[sizeof(buf) - 1];
	if(add_common_headers(wsi, answer, &p, end) ||
			add_header(wsi, "cache-control:", "no-cache", &p, end))
		return -1;
	int n = lws_serve_http_file(wsi, answer->file_path, answer->content_type, (const char *)buf, (int)(p - buf));
	if(n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
		return -1;
	return 0;
}

/* Replace the routed answer with this status and JSON body, and write it when writable */
static int http_answer_now(struct lws *wsi, peerjs_pss *pss, int status, const char *json) {
	peerjs_http_answer *answer = &pss->answer;
	peerjs_http_text_wipe_free(answer->body);
	answer->kind = PEERJS_ROUTE_BODY;
	answer->status = status;
	answer->content_type = "application/json; charset=utf-8";
	answer->body = g_strdup(json);
	link_body_free(&pss->body);
	pss->answer_ready = TRUE;
	lws_callback_on_writable(wsi);
	return 0;
}

/* {"iceServers":[{"urls":[...]}],"lanOnly":bool}: the STUN servers the app may use, never a third party unless
 * the operator listed it */
static char *ice_config_json(struct lws *wsi) {
	json_t *urls = json_array();
	if(!ice_lan_only) {
		if(ice_stun_urls != NULL) {
			for(char **u = ice_stun_urls; *u; u++)
				json_array_append_new(urls, json_string(*u));
		} else if(stun_server != NULL) {
			/* Our own responder, at the host name the browser used to reach us */
			char host[256];
			if(lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) > 0) {
				char *base = peerjs_http_base_url(TRUE, host);
				if(base != NULL) {
					char *name = host;
					char *colon = strrchr(host, ':');
					if(colon != NULL && strchr(host, ']') < colon)
						*colon = '\0';
					json_array_append_new(urls, json_sprintf("stun:%s:%d", name, stun_port));
					g_free(base);
				}
			}
		}
	}
	json_t *servers = json_array();
	if(json_array_size(urls) > 0)
		json_array_append_new(servers, json_pack("{s:O}", "urls", urls));
	json_t *config = json_pack("{s:o,s:b}", "iceServers", servers, "lanOnly", ice_lan_only);
	json_decref(urls);
	return p2plink_json_text(config);
}

/* Hand a complete share-link request to the plugin's workers; the answer arrives in http_pending_reply */
static int link_api_dispatch(struct lws *wsi, peerjs_pss *pss) {
	char ip[INET6_ADDRSTRLEN + 8], ua[512], host[256];
	if(!client_address(wsi, ip, sizeof(ip)))
		return http_answer_now(wsi, pss, 400, BAD_FORWARDED_JSON);
	if(lws_hdr_copy(wsi, ua, sizeof(ua), WSI_TOKEN_HTTP_USER_AGENT) <= 0)
		ua[0] = '\0';
	char *base = NULL;
	if(lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) > 0)
		base = peerjs_http_base_url(secure_listener, host);
	http_pending *pending = g_new0(http_pending, 1);
	g_atomic_ref_count_init(&pending->ref);	/* pss's reference */
	janus_mutex_init(&pending->mutex);
	pending->wsi = wsi;
	pending->alive = TRUE;
	pss->pending = pending;
	g_atomic_ref_count_inc(&pending->ref);	/* the plugin's, dropped in http_pending_reply */
	GByteArray *body = pss->body;
	hotpath->peer_http(pss->answer.api_route, body ? (const char *)body->data : NULL, body ? body->len : 0, ip,
		ua[0] ? ua : NULL, base, http_pending_reply, pending);
	g_free(base);
	link_body_free(&pss->body);
	return 0;
}

/* The request's Content-Length: FALSE when absent, or when present but not a plain number (checked by
 * http_framing_problem before anything reads it). Read whole whatever its length: a value longer than the copy
 * buffer used to read as "no length", and atoll() took "-5" or "2abc" as a length too. */
static gboolean http_content_length(struct lws *wsi, guint64 *length) {
	int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
	if(total <= 0 || total > 32)
		return FALSE;	/* longer is no length peerjs_http_content_length accepts anyway */
	char text[33];
	if(lws_hdr_copy(wsi, text, sizeof(text), WSI_TOKEN_HTTP_CONTENT_LENGTH) != total)
		return FALSE;
	guint64 n = 0;
	if(!peerjs_http_content_length(text, &n))
		return FALSE;
	if(length != NULL)
		*length = n;
	return TRUE;
}

/* HTTP framing we refuse, because a proxy in front of us may read the same bytes differently (request
 * smuggling): a message with both Content-Length and Transfer-Encoding (RFC 9112 6.3 lets a server reject it;
 * lws 4.1 silently goes by one of them). Bare-LF line ends are NOT caught: lws 4.1.6 takes a lone LF as a line end
 * and leaves no trace of it in what it parsed (measured: every header token of "GET / HTTP/1.1\nHost: x\n\n"
 * reads exactly as if CRLF had been sent), so nothing this callback can see tells them apart (SECURITY.md).
 * Returns the sentence for the 400, or NULL when the request is fine. */
static const char *http_framing_problem(struct lws *wsi) {
	if(lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
			lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
		return "both Content-Length and Transfer-Encoding";
	if(lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 && !http_content_length(wsi, NULL))
		return "a Content-Length that is not a plain number";
	return NULL;
}

#define BAD_FRAMING_JSON "{\"error\":{\"code\":\"bad-request\",\"msg\":\"Malformed HTTP framing\"}}"

static int http_request(struct lws *wsi, peerjs_pss *pss, const char *uri) {
	char method[16] = "GET", origin[512];
	if(lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0)
		g_strlcpy(method, "OPTIONS", sizeof(method));
	else if(lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
		g_strlcpy(method, "POST", sizeof(method));
	else if(lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0)
		g_strlcpy(method, "HEAD", sizeof(method));
	else if(lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
		g_strlcpy(method, "OTHER", sizeof(method));
	if(lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
		origin[0] = '\0';
	/* A keep-alive connection's previous answer (a served file keeps its path here) */
	http_pss_clear(pss);
	char ip[INET6_ADDRSTRLEN + 8];
	if(!client_address(wsi, ip, sizeof(ip))) {
		pss->close_after = TRUE;
		return http_answer_now(wsi, pss, 400, BAD_FORWARDED_JSON);
	}
	const char *framing = http_framing_problem(wsi);
	if(framing != NULL) {
		JANUS_LOG(LOG_VERB, "%s: refusing an HTTP request from %s: %s\n", JANUS_PEERJS_NAME, ip, framing);
		pss->close_after = TRUE;
		return http_answer_now(wsi, pss, 400, BAD_FRAMING_JSON);
	}
	peerjs_http_route(&http_config, method, uri, origin[0] ? origin : NULL, &pss->answer);
	peerjs_http_answer *answer = &pss->answer;
	if(answer->kind == PEERJS_ROUTE_FILE)
		return http_serve_file(wsi, answer);
	if(answer->kind == PEERJS_ROUTE_NEW_ID) {
		answer->body = random_uuid();
		if(answer->body == NULL) {
			answer->status = 500;
			answer->body = g_strdup("Internal Server Error");
		}
	} else if(answer->kind == PEERJS_ROUTE_PEERS) {
		answer->body = hotpath->discoverable_ids_json();
	} else if(answer->kind == PEERJS_ROUTE_ICE_CONFIG) {
		answer->body = ice_config_json(wsi);
	} else if(answer->kind == PEERJS_ROUTE_LINK_API) {
		/* The body arrives in LWS_CALLBACK_HTTP_BODY; the answer comes back from a plugin worker */
		pss->answer_ready = TRUE;
		pss->body = g_byte_array_new();
		guint64 length = 0;
		if(!http_content_length(wsi, &length)) {
			/* Absent (a bad one was refused by http_framing_problem). Browsers always send a length for these
			 * small JSON bodies; chunked uploads are not worth accepting */
			if(lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
				return http_answer_now(wsi, pss, 411, "{\"error\":{\"code\":\"length-required\",\"msg\":\"Send a Content-Length\"}}");
			return link_api_dispatch(wsi, pss);
		}
		if(length == 0)
			return link_api_dispatch(wsi, pss);
		if(length > MAX_LINK_BODY)
			return http_answer_now(wsi, pss, 413, "{\"error\":{\"code\":\"too-large\",\"msg\":\"Request body too large\"}}");
		return 0;
	}
	size_t len = answer->body ? strlen(answer->body) : 0;
	if(http_send_headers(wsi, answer, len))
		return -1;
	pss->answer_ready = TRUE;
	pss->headers_sent = TRUE;
	lws_callback_on_writable(wsi);
	return 0;
}

static int http_writeable(struct lws *wsi, peerjs_pss *pss) {
	if(!pss->answer_ready)
		return 0;
	peerjs_http_answer *answer = &pss->answer;
	if(pss->pending != NULL) {
		/* A share-link answer from the plugin: headers now, then the body below */
		janus_mutex_lock(&pss->pending->mutex);
		gboolean done = pss->pending->done;
		if(done) {
			answer->status = pss->pending->status;
			peerjs_http_text_wipe_free(answer->body);
			answer->body = pss->pending->body;
			pss->pending->body = NULL;
		}
		janus_mutex_unlock(&pss->pending->mutex);
		if(!done)
			return 0;
		http_pending_unref(pss->pending);
		pss->pending = NULL;
		answer->kind = PEERJS_ROUTE_BODY;
		pss->headers_sent = TRUE;
		if(http_send_headers(wsi, answer, answer->body ? strlen(answer->body) : 0))
			return -1;
		lws_callback_on_writable(wsi);
		return 0;
	}
	if(answer->kind == PEERJS_ROUTE_LINK_API)
		return 0;	/* still reading the body */
	if(!pss->headers_sent) {
		/* An answer decided after the request line (body too large, link reply): headers first */
		pss->headers_sent = TRUE;
		if(http_send_headers(wsi, answer, answer->body ? strlen(answer->body) : 0))
			return -1;
		lws_callback_on_writable(wsi);
		return 0;
	}
	size_t len = answer->body ? strlen(answer->body) : 0;
	int head = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
	if(len > 0 && !head) {
		/* Small bodies (ids, JSON lists): one write, with lws's headroom */
		unsigned char *buf = g_malloc(LWS_PRE + len);
		memcpy(buf + LWS_PRE, answer->body, len);
		int n = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
		g_free(buf);
		if(n < 0)
			return -1;
	} else {
		lws_write(wsi, (unsigned char *)"", 0, LWS_WRITE_HTTP_FINAL);
	}
	http_pss_clear(pss);
	pss->headers_sent = FALSE;
	if(pss->close_after)
		return -1;
	if(lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

static void fd_limit_init(void) {
	struct rlimit rl;
	if(getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > G_MAXINT) {
		fd_limit = 0;
		return;
	}
	fd_limit = (int)rl.rlim_cur;
	/* With event_loops = 0 each handle that is still being attached will take one more fd (and a thread) */
	fd_reserve = 64 + fd_limit / (janus_event_loops == 0 ? 10 : 40);
	if(janus_event_loops == 0)
		JANUS_LOG(LOG_WARN, "%s: Janus event_loops = 0 gives every peer its own thread and eventfd (2 fds per peer); "
			"set event_loops in janus.jcfg\n", JANUS_PEERJS_NAME);
	JANUS_LOG(LOG_INFO, "%s: fd limit %d, refusing new connections with fewer than %d left\n", JANUS_PEERJS_NAME,
		fd_limit, fd_reserve);
}

/* LWS_CALLBACK_FILTER_NETWORK_CONNECTION: FALSE closes the just-accepted socket before TLS or anything else */
static gboolean fd_accept_allowed(int fd) {
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

static int janus_peerjs_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		size_t len) {
	peerjs_pss *pss = user;
	switch(reason) {
		case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
			arm_pending();
			/* janus_peerjs_destroy woke us: leave uv_run (the poll loop checks the flag itself) */
			if(uv_loop != NULL && g_atomic_int_get(&stopping))
				uv_stop(uv_loop);
			return 0;
		case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
			/* user is the listener's SSL_CTX: where renewed certificates go (tls_reload.c) */
			peerjs_tls_reload_capture(user);
			return 0;
		case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
			/* user is lws's filter arguments here, not our pss */
			return fd_accept_allowed((int)(intptr_t)in) ? 0 : -1;
		case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
			/* Only {path}peerjs upgrades to a WebSocket */
			char uri[256];
			if(lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 || !peerjs_http_is_ws_path(&http_config, uri))
				return -1;
			/* A trusted proxy's X-Forwarded-For that cannot be read: no WebSocket (never the proxy's address) */
			char ip[INET6_ADDRSTRLEN + 8];
			if(!client_address(wsi, ip, sizeof(ip))) {
				peerjs_metrics_refused(PEERJS_REFUSED_BAD_ADDRESS);
				return -1;
			}
			if(http_framing_problem(wsi) != NULL) {
				peerjs_metrics_refused(PEERJS_REFUSED_BAD_REQUEST);
				return -1;
			}
			return 0;
		}
		case LWS_CALLBACK_ESTABLISHED:
			ws_established(wsi, pss);
			return 0;
		case LWS_CALLBACK_RECEIVE:
			return ws_receive(wsi, pss->conn, in, len);
		case LWS_CALLBACK_TIMER:
			return ws_resume(wsi, pss->conn);
		case LWS_CALLBACK_SERVER_WRITEABLE:
			return ws_writeable(wsi, pss->conn);
		case LWS_CALLBACK_CLOSED:
			if(pss->conn != NULL) {
				conn_teardown(pss->conn);
				pss->conn = NULL;
			}
			return 0;
		case LWS_CALLBACK_HTTP:
			return http_request(wsi, pss, in ? (const char *)in : "/");
		case LWS_CALLBACK_HTTP_WRITEABLE:
			return http_writeable(wsi, pss);
		case LWS_CALLBACK_HTTP_BODY:
			if(pss->body == NULL)
				return 0;
			if(pss->body->len + len > MAX_LINK_BODY)
				return http_answer_now(wsi, pss, 413,
					"{\"error\":{\"code\":\"too-large\",\"msg\":\"Request body too large\"}}");
			g_byte_array_append(pss->body, in, len);
			return 0;
		case LWS_CALLBACK_HTTP_BODY_COMPLETION:
			if(pss->body == NULL)
				return 0;
			return link_api_dispatch(wsi, pss);
		case LWS_CALLBACK_HTTP_FILE_COMPLETION:
			if(lws_http_transaction_completed(wsi))
				return -1;
			return 0;
		case LWS_CALLBACK_CLOSED_HTTP:
		case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
			if(pss != NULL)
				http_pss_clear(pss);
			return 0;
		case LWS_CALLBACK_WSI_DESTROY:
			if(pss != NULL && pss->conn != NULL) {
				conn_teardown(pss->conn);
				pss->conn = NULL;
			}
			return 0;
		default:
			break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static struct lws_protocols protocols[] = {
	/* The stock client asks for no subprotocol, so the first protocol takes HTTP and WebSocket alike */
	/* rx_buffer_size: lws keeps this much (+LWS_PRE) per WebSocket for its whole life (0: pt_serv_buf_size, 4 KiB,
	 * ~1/5 of an idle peer's memory). Measured: 1024 saves ~3 KiB per idle peer but halves relay throughput (SDP
	 * frames then arrive in pieces), so whole frames win. */
	{ "peerjs", janus_peerjs_callback, sizeof(peerjs_pss), PEERJS_RX_BUFFER_SIZE, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static gpointer janus_peerjs_service(gpointer data) {
	(void)data;
	on_service_thread = TRUE;
	while(g_atomic_int_get(&initialized) && !g_atomic_int_get(&stopping)) {
		if(uv_loop != NULL)
			uv_run(uv_loop, UV_RUN_DEFAULT);	/* returns after uv_stop (destroy) */
		else
			lws_service(lws_ctx, 0);
	}
	return NULL;
}

static void lws_log_to_janus(int level, const char *line) {
	if(level == LLL_ERR)
		JANUS_LOG(LOG_ERR, "[libwebsockets] %s", line);
	else
		JANUS_LOG(LOG_WARN, "[libwebsockets] %s", line);
}

/* The core's session_timeout decides how often a Janus keepalive must follow PeerJS heartbeats */
static void read_session_timeout(const char *config_path) {
	char filename[255];
	g_snprintf(filename, sizeof(filename), "%s/janus.jcfg", config_path);
	janus_config *config = janus_config_parse(filename);
	gint64 timeout = 60;
	if(config != NULL) {
		janus_config_category *general = janus_config_get_create(config, NULL, janus_config_type_category, "general");
		p2plink_jcfg_int(config, general, "session_timeout", 0, 86400, &timeout);
		gint64 loops = 0;
		if(p2plink_jcfg_int(config, general, "event_loops", -1, 65536, &loops))
			janus_event_loops = loops;
		janus_config_destroy(config);
	}
	/* At most one keepalive per session_timeout/2: often enough, never per heartbeat */
	keepalive_interval = timeout > 0 ? timeout * G_USEC_PER_SEC / 2 : 0;
}

static char *normalise_path(const char *path) {
	/* Like the client: always a leading and a trailing slash */
	char *trimmed = g_strstrip(g_strdup(path));
	char *out = g_strdup_printf("%s%s%s", trimmed[0] == '/' ? "" : "/", trimmed,
		g_str_has_suffix(trimmed, "/") ? "" : "/");
	g_free(trimmed);
	return out;
}

static gboolean load_config(const char *config_path, struct lws_context_creation_info *vhost) {
	char filename[255];
	g_snprintf(filename, sizeof(filename), "%s/%s.jcfg", config_path, JANUS_PEERJS_PACKAGE);
	janus_config *config = janus_config_parse(filename);
	if(config != NULL)
		janus_config_print(config);
	janus_config_category *general = config ?
		janus_config_get_create(config, NULL, janus_config_type_category, "general") : NULL;
	janus_config_category *certs = config ?
		janus_config_get_create(config, NULL, janus_config_type_category, "certificates") : NULL;
	gint64 port = 9000, frame = max_frame_size, qframes = write_queue_max_frames, qbytes = write_queue_max_bytes;
	gboolean ok = p2plink_jcfg_int(config, general, "port", 1, 65535, &port) &&
		p2plink_jcfg_int(config, general, "max_frame_size", 1024, 16 * 1024 * 1024, &frame) &&
		p2plink_jcfg_int(config, general, "write_queue_max_frames", 16, 1000000, &qframes) &&
		p2plink_jcfg_int(config, general, "write_queue_max_bytes", 65536, G_GINT64_CONSTANT(1) << 30, &qbytes);
	max_frame_size = frame;
	write_queue_max_frames = qframes;
	write_queue_max_bytes = qbytes;
	config_path_prefix = normalise_path(p2plink_jcfg_string(config, general, "path", "/"));
	config_key = g_strdup(p2plink_jcfg_string(config, general, "key", "peerjs"));
	const char *html = p2plink_jcfg_string(config, general, "html_folder", NULL);
	config_html_root = html && *html ? g_strdup(html) : NULL;
	/* Defaults: 2,000 open per address, twice the 1,000 people an office or carrier NAT may put behind one (each
	 * stock client holds one WebSocket) and well under the plugin's concurrent_limit (5,000); 20 new per second
	 * sustained, with a burst of 1,000, so all of such a NAT reconnecting at once after a restart gets in */
	gint64 per_ip = 2000, rate_per_ip = 20, burst_per_ip = 1000, v6_prefix = P2PLINK_NET_PREFIX_V6;
	gint64 per_net = 0, net_v4 = 24, net_v6 = 48;
	ok = p2plink_jcfg_int(config, general, "max_connections_per_ip", 0, 10000000, &per_ip) &&
		p2plink_jcfg_int(config, general, "connection_rate_per_ip", 0, 1000000, &rate_per_ip) &&
		p2plink_jcfg_int(config, general, "connection_burst_per_ip", 1, 10000000, &burst_per_ip) &&
		p2plink_jcfg_int(config, general, "ipv6_prefix", 32, 128, &v6_prefix) &&
		p2plink_jcfg_int(config, general, "max_connections_per_network", 0, 10000000, &per_net) &&
		p2plink_jcfg_int(config, general, "ipv4_network_prefix", 8, 32, &net_v4) &&
		p2plink_jcfg_int(config, general, "ipv6_network_prefix", 16, 128, &net_v6) && ok;
	if(rate_per_ip > 0) {
		p2plink_rate rate = { (double)rate_per_ip, (double)MAX(burst_per_ip, 1) };
		conn_rate = p2plink_rate_table_new(&rate, 65536);
		p2plink_rate_table_set_prefixes(conn_rate, P2PLINK_NET_PREFIX_V4, (guint)v6_prefix);
	}
	conns_per_ip = p2plink_net_counter_new((guint)per_ip, P2PLINK_NET_PREFIX_V4, (guint)v6_prefix);
	if(per_net > 0)
		conns_per_net = p2plink_net_counter_new((guint)per_net, (guint)net_v4, (guint)net_v6);
	const char *proxies = p2plink_jcfg_string(config, general, "trusted_proxies", NULL);
	if(proxies != NULL && *proxies != '\0') {
		trusted_proxies = g_strsplit(proxies, ",", -1);
		for(char **p = trusted_proxies; *p; p++) {
			g_strstrip(*p);
			p2plink_cidr cidr;
			if(!p2plink_cidr_parse(*p, &cidr, NULL)) {
				JANUS_LOG(LOG_ERR, "%s: trusted_proxies entry '%s' is not an address or CIDR\n", JANUS_PEERJS_NAME, *p);
				ok = FALSE;
			}
		}
	}
	janus_config_category *ice = config ? janus_config_get_create(config, NULL, janus_config_type_category, "ice") : NULL;
	ice_lan_only = p2plink_jcfg_bool(config, ice, "lan_only", FALSE);
	const char *stun_urls = p2plink_jcfg_string(config, ice, "stun_urls", NULL);
	if(stun_urls != NULL && *stun_urls != '\0') {
		ice_stun_urls = g_strsplit(stun_urls, ",", -1);
		for(char **u = ice_stun_urls; *u; u++)
			g_strstrip(*u);
	}
	janus_config_category *stun = config ? janus_config_get_create(config, NULL, janus_config_type_category, "stun") : NULL;
	gint64 sport = stun_port, srate = 0, sburst = 0, grate = 0, gburst = 0;
	stun_enabled = p2plink_jcfg_bool(config, stun, "enabled", TRUE) && !ice_lan_only;
	const char *sbind = p2plink_jcfg_string(config, stun, "interface", NULL);
	stun_bind = sbind && *sbind ? g_strdup(sbind) : NULL;
	p2plink_stun_config_defaults(&stun_config);
	srate = stun_config.rate_per_sec;
	sburst = stun_config.burst;
	grate = stun_config.global_rate_per_sec;
	gburst = stun_config.global_burst;
	ok = p2plink_jcfg_int(config, stun, "port", 0, 65535, &sport) &&
		p2plink_jcfg_int(config, stun, "rate_per_source", 1, 1000000, &srate) &&
		p2plink_jcfg_int(config, stun, "burst_per_source", 1, 1000000, &sburst) &&
		p2plink_jcfg_int(config, stun, "global_rate", 1, 10000000, &grate) &&
		p2plink_jcfg_int(config, stun, "global_burst", 1, 10000000, &gburst) && ok;
	stun_port = (int)sport;
	stun_config.rate_per_sec = srate;
	stun_config.burst = sburst;
	stun_config.global_rate_per_sec = grate;
	stun_config.global_burst = gburst;
	const char *cors = p2plink_jcfg_string(config, general, "cors_origins", NULL);
	if(cors != NULL && *cors != '\0') {
		config_cors = g_strsplit(cors, ",", -1);
		for(char **o = config_cors; *o; o++)
			g_strstrip(*o);
	}
	http_config.path = config_path_prefix;
	http_config.key = config_key;
	http_config.allow_discovery = p2plink_jcfg_bool(config, general, "allow_discovery", FALSE);
	http_config.html_root = config_html_root;
	http_config.cors_origins = config_cors;

	vhost->port = (int)port;
	const char *iface = p2plink_jcfg_string(config, general, "interface", NULL);
	listen_iface = iface && *iface ? g_strdup(iface) : NULL;
	vhost->iface = listen_iface;
	const char *loop = p2plink_jcfg_string(config, general, "event_loop", "libuv");
	if(!strcmp(loop, "libuv")) {
		event_loop = PEERJS_LOOP_LIBUV;
	} else if(!strcmp(loop, "poll")) {
		event_loop = PEERJS_LOOP_POLL;
	} else {
		JANUS_LOG(LOG_ERR, "%s: event_loop must be \"poll\" or \"libuv\", not '%s'\n", JANUS_PEERJS_NAME, loop);
		ok = FALSE;
	}
	gboolean secure = p2plink_jcfg_bool(config, general, "secure", TRUE);
	secure_listener = secure;
	if(secure) {
		const char *cert = p2plink_jcfg_string(config, certs, "cert_pem", NULL);
		const char *key = p2plink_jcfg_string(config, certs, "cert_key", NULL);
		if(cert == NULL || key == NULL) {
			JANUS_LOG(LOG_ERR, "%s: secure = true needs certificates.cert_pem and cert_key "
				"(set secure = false only behind a trusted TLS proxy)\n", JANUS_PEERJS_NAME);
			ok = FALSE;
		} else {
			tls_cert = g_strdup(cert);
			tls_key = g_strdup(key);
			const char *pwd = p2plink_jcfg_string(config, certs, "cert_pwd", NULL);
			tls_key_password = pwd ? g_strdup(pwd) : NULL;
			vhost->ssl_cert_filepath = tls_cert;
			vhost->ssl_private_key_filepath = tls_key;
			vhost->ssl_private_key_password = tls_key_password;
			/* TLS 1.2 and newer only */
			vhost->ssl_options_set = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
				SSL_OP_NO_COMPRESSION;
		}
	} else {
		JANUS_LOG(LOG_WARN, "%s: plain HTTP/WS on port %d, as configured (secure = false)\n", JANUS_PEERJS_NAME,
			(int)port);
	}
	ok = peerjs_metrics_config(config) && peerjs_tls_reload_config(config, certs) && ok;
	if(config != NULL)
		janus_config_destroy(config);
	return ok;
}

/* libuv for event_loop = "libuv": FALSE (and a log line) when it cannot be used, so the caller falls back to poll */
static gboolean uv_load(void) {
	uv_loop = g_new0(uv_loop_t, 1);
	int err = uv_loop_init(uv_loop);
	if(err == 0)
		return TRUE;
	JANUS_LOG(LOG_WARN, "%s: uv_loop_init failed: %s\n", JANUS_PEERJS_NAME, uv_strerror(err));
	g_clear_pointer(&uv_loop, g_free);
	return FALSE;
}

static void uv_unload(void) {
	if(uv_loop == NULL)
		return;
	int err = uv_loop_close(uv_loop);
	if(err != 0) {
		/* A handle still open: freeing the loop under it would be worse than this leak */
		JANUS_LOG(LOG_WARN, "%s: libuv loop not closed: %s\n", JANUS_PEERJS_NAME, uv_strerror(err));
	} else {
		g_free(uv_loop);
	}
	uv_loop = NULL;
}

/* lws_context_destroy for both loops. With libuv, lws closes every socket asynchronously (uv_close): run the
 * loop on this thread until lws reports the context gone (info.pcontext), then a second lws_context_destroy
 * finishes what lws 4.1.6 leaves to it for foreign loops. Bounded: a stuck handle cannot hang Janus's shutdown. */
static void context_destroy(void) {
	if(lws_ctx == NULL)
		return;
	lws_context_destroy(lws_ctx);
	if(uv_loop != NULL) {
		int budget = 100000;
		while(lws_ctx_alive != NULL && budget-- > 0 && uv_run(uv_loop, UV_RUN_NOWAIT) != 0)
			;
		if(lws_ctx_alive != NULL)
			lws_context_destroy(lws_ctx);
		budget = 1000;
		while(budget-- > 0 && uv_run(uv_loop, UV_RUN_NOWAIT) != 0)
			;
	}
	lws_ctx = NULL;
	lws_ctx_alive = NULL;
}

static gboolean resolve_hotpath(void) {
	p2plink_hotpath_get_fn get = (p2plink_hotpath_get_fn)dlsym(RTLD_DEFAULT, P2PLINK_HOTPATH_SYMBOL);
	if(get == NULL) {
		JANUS_LOG(LOG_FATAL, "%s needs janus.plugin.p2plink (libjanus_p2plink.so) loaded: %s not found\n",
			JANUS_PEERJS_NAME, P2PLINK_HOTPATH_SYMBOL);
		return FALSE;
	}
	hotpath = get();
	if(hotpath == NULL || hotpath->version != P2PLINK_HOTPATH_VERSION) {
		JANUS_LOG(LOG_FATAL, "%s: janus.plugin.p2plink hot path version %d, this transport needs %d: "
			"install matching builds of both modules\n", JANUS_PEERJS_NAME, hotpath ? hotpath->version : -1,
			P2PLINK_HOTPATH_VERSION);
		hotpath = NULL;
		return FALSE;
	}
	return TRUE;
}

/* Nobody may wake the service thread any more: from here on the context may be destroyed */
static void service_unwakeable(void) {
	janus_mutex_lock(&pending_mutex);
	service_wakeable = FALSE;
	while(service_wakers > 0)
		janus_condition_wait(&service_wakers_cond, &pending_mutex);
	janus_mutex_unlock(&pending_mutex);
}

/* A failed init after the context exists: undo all of it. The STUN thread too, which a failed init left
 * running (answering on its port, with Janus believing the transport was never loaded). */
static void init_undo(void) {
	service_unwakeable();
	peerjs_tls_reload_stop();
	peerjs_metrics_stop();
	p2plink_stun_server_free(stun_server);	/* stops its thread first */
	stun_server = NULL;
	context_destroy();
	uv_unload();
}

static int janus_peerjs_init(janus_transport_callbacks *callback, const char *config_path) {
	if(g_atomic_int_get(&stopping) || callback == NULL || config_path == NULL)
		return -1;
	if(!resolve_hotpath())
		return -1;
	struct lws_context_creation_info vhost;
	memset(&vhost, 0, sizeof(vhost));
	if(!load_config(config_path, &vhost))
		return -1;
	read_session_timeout(config_path);
	fd_limit_init();
	gateway = callback;
	pending_conns = g_ptr_array_new();
	pending_http = g_ptr_array_new();

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_janus);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.count_threads = 1;
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.pcontext = &lws_ctx_alive;
	info.max_http_header_data = PEERJS_MAX_HEADER_DATA;
	if(event_loop == PEERJS_LOOP_LIBUV && uv_load()) {
		void *foreign_loops[1] = { uv_loop };
		info.options |= LWS_SERVER_OPTION_LIBUV;
		info.foreign_loops = foreign_loops;
		lws_ctx = lws_create_context(&info);
		info.foreign_loops = NULL;
		if(lws_ctx == NULL) {
			/* Typically Debian's libwebsockets-evlib-uv package is missing */
			JANUS_LOG(LOG_WARN, "%s: libwebsockets cannot use libuv (is libwebsockets-evlib-uv installed?): "
				"falling back to event_loop = \"poll\"\n", JANUS_PEERJS_NAME);
			uv_unload();
			info.options &= ~LWS_SERVER_OPTION_LIBUV;
		}
	}
	if(lws_ctx == NULL)
		lws_ctx = lws_create_context(&info);
	if(lws_ctx == NULL) {
		JANUS_LOG(LOG_FATAL, "%s: could not create the libwebsockets context\n", JANUS_PEERJS_NAME);
		return -1;
	}
	lws_ctx_alive = lws_ctx;
	janus_mutex_lock(&pending_mutex);
	service_wakeable = TRUE;
	janus_mutex_unlock(&pending_mutex);
	vhost.protocols = protocols;
	vhost.vhost_name = "peerjs";
	/* HTTP/1.1 only: the stock client's WebSocket must not be negotiated over an h2 connection */
	vhost.alpn = "http/1.1";
	vhost.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND | LWS_SERVER_OPTION_VALIDATE_UTF8;
	/* lws 4.1 reads an IPv4 literal into the wrong field of an IPv6 socket's address and binds [::]: "interface
	 * = 127.0.0.1" listened on every address of the host. An IPv4 interface gets an IPv4 socket. */
	struct in_addr iface_v4;
	if(vhost.iface != NULL && inet_pton(AF_INET, vhost.iface, &iface_v4) == 1)
		vhost.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if(vhost.ssl_cert_filepath != NULL)
		vhost.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	struct lws_vhost *vh = lws_create_vhost(lws_ctx, &vhost);
	if(vh == NULL) {
		JANUS_LOG(LOG_FATAL, "%s: could not listen on port %d\n", JANUS_PEERJS_NAME, vhost.port);
		init_undo();
		return -1;
	}
	if(stun_enabled) {
		GError *serror = NULL;
		stun_server = p2plink_stun_server_new(stun_bind, stun_port, &stun_config, &serror);
		if(stun_server == NULL || !p2plink_stun_server_start_thread(stun_server, &serror)) {
			/* Calls on a LAN still work without it; say so loudly and go on */
			JANUS_LOG(LOG_ERR, "%s: STUN responder on UDP %d not started: %s\n", JANUS_PEERJS_NAME, stun_port,
				serror ? serror->message : "?");
			g_clear_error(&serror);
			p2plink_stun_server_free(stun_server);
			stun_server = NULL;
		} else {
			stun_port = p2plink_stun_server_port(stun_server);
			JANUS_LOG(LOG_INFO, "%s: STUN responder on UDP port %d\n", JANUS_PEERJS_NAME, stun_port);
		}
	}
	if(!peerjs_metrics_start(lws_ctx, hotpath, stun_server)) {
		init_undo();
		return -1;
	}
	peerjs_tls_reload_start(lws_ctx, tls_cert, tls_key, tls_key_password);
	if(hotpath->attach_transport(&transport_ops) < 0) {
		init_undo();
		return -1;
	}
	g_atomic_int_set(&initialized, 1);
	GError *error = NULL;
	service_thread = g_thread_try_new("peerjs lws", janus_peerjs_service, NULL, &error);
	if(error != NULL) {
		JANUS_LOG(LOG_FATAL, "%s: could not start the service thread: %s\n", JANUS_PEERJS_NAME, error->message);
		g_error_free(error);
		g_atomic_int_set(&initialized, 0);
		hotpath->detach_transport();
		init_undo();
		return -1;
	}
	JANUS_LOG(LOG_INFO, "%s listening on %s:%d (%s, %s event loop), PeerJS path %s, key %s\n", JANUS_PEERJS_NAME,
		vhost.iface ? vhost.iface : "*", vhost.port, vhost.ssl_cert_filepath ? "HTTPS/WSS" : "HTTP/WS",
		uv_loop != NULL ? "libuv" : "poll", config_path_prefix, config_key);
	return 0;
}

static void janus_peerjs_destroy(void) {
	if(!g_atomic_int_get(&initialized))
		return;
	g_atomic_int_set(&stopping, 1);
	lws_cancel_service(lws_ctx);
	if(service_thread != NULL) {
		g_thread_join(service_thread);
		service_thread = NULL;
	}
	/* The plugin's sweeper and link workers still run: they must stop waking a context we destroy now */
	service_unwakeable();
	peerjs_tls_reload_stop();
	peerjs_metrics_stop();
	/* Closing the context closes every socket (CLOSED callbacks tear connections down) on this thread */
	on_service_thread = TRUE;
	context_destroy();
	on_service_thread = FALSE;
	uv_unload();
	hotpath->detach_transport();
	janus_mutex_lock(&pending_mutex);
	for(guint i = 0; i < pending_conns->len; i++)
		conn_unref(g_ptr_array_index(pending_conns, i));
	g_ptr_array_free(pending_conns, TRUE);
	pending_conns = NULL;
	for(guint i = 0; i < pending_http->len; i++)
		http_pending_unref(g_ptr_array_index(pending_http, i));
	g_ptr_array_free(pending_http, TRUE);
	pending_http = NULL;
	janus_mutex_unlock(&pending_mutex);
	p2plink_stun_server_free(stun_server);
	stun_server = NULL;
	g_clear_pointer(&stun_bind, g_free);
	g_clear_pointer(&listen_iface, g_free);
	g_clear_pointer(&tls_cert, g_free);
	g_clear_pointer(&tls_key, g_free);
	g_clear_pointer(&tls_key_password, g_free);
	g_clear_pointer(&trusted_proxies, g_strfreev);
	g_clear_pointer(&conn_rate, p2plink_rate_table_free);
	g_clear_pointer(&conns_per_ip, p2plink_net_counter_free);
	g_clear_pointer(&conns_per_net, p2plink_net_counter_free);
	g_clear_pointer(&ice_stun_urls, g_strfreev);
	g_free(config_path_prefix);
	g_free(config_key);
	g_free(config_html_root);
	g_strfreev(config_cors);
	g_atomic_int_set(&initialized, 0);
	JANUS_LOG(LOG_INFO, "%s destroyed!\n", JANUS_PEERJS_NAME);
}

static int janus_peerjs_get_api_compatibility(void) {
	return JANUS_TRANSPORT_API_VERSION;
}

static int janus_peerjs_get_version(void) {
	return JANUS_PEERJS_VERSION;
}

static const char *janus_peerjs_get_version_string(void) {
	return JANUS_PEERJS_VERSION_STRING;
}

static const char *janus_peerjs_get_description(void) {
	return JANUS_PEERJS_DESCRIPTION;
}

static const char *janus_peerjs_get_name(void) {
	return JANUS_PEERJS_NAME;
}

static const char *janus_peerjs_get_author(void) {
	return JANUS_PEERJS_AUTHOR;
}

static const char *janus_peerjs_get_package(void) {
	return JANUS_PEERJS_PACKAGE;
}

static gboolean janus_peerjs_is_janus_api_enabled(void) {
	return TRUE;
}

static gboolean janus_peerjs_is_admin_api_enabled(void) {
	/* Admins use Janus's own admin transports (HTTP on loopback in the demo) */
	return FALSE;
}

/* Answers from the Janus core to the requests we made for a connection. Called from core threads: only
 * json inspection, further (non-blocking) requests, and close requests happen here. */
static int janus_peerjs_send_message(janus_transport_session *transport, void *request_id, gboolean admin,
		json_t *message) {
	(void)request_id;
	(void)admin;
	if(message == NULL)
		return -1;
	if(transport == NULL) {
		json_decref(message);
		return -1;
	}
	if(g_atomic_int_get(&transport->destroyed)) {
		/* The socket closed while "create" was on its way: the teardown had no session id to destroy, so this one
		 * would linger until session_timeout. Destroy it now (the request we are answering still holds transport). */
		const char *janus = json_string_value(json_object_get(message, "janus"));
		const char *tx = json_string_value(json_object_get(message, "transaction"));
		json_int_t session_id = json_integer_value(json_object_get(json_object_get(message, "data"), "id"));
		if(janus && tx && !strcmp(janus, "success") && !strcmp(tx, TX_CREATE) && session_id > 0)
			janus_session_destroy_request(transport, session_id);
		json_decref(message);
		return -1;
	}
	janus_mutex_lock(&transport->mutex);
	p2plink_conn *conn = transport->transport_p;
	if(conn != NULL)
		conn_ref(conn);
	janus_mutex_unlock(&transport->mutex);
	if(conn == NULL) {
		json_decref(message);
		return -1;
	}
	const char *janus = json_string_value(json_object_get(message, "janus"));
	const char *tx = json_string_value(json_object_get(message, "transaction"));
	janus = janus ? janus : "";
	tx = tx ? tx : "";
	if(!strcmp(janus, "success") && !strcmp(tx, TX_CREATE)) {
		json_int_t session_id = json_integer_value(json_object_get(json_object_get(message, "data"), "id"));
		janus_mutex_lock(&conn->mutex);
		gboolean gone = conn->gone;
		if(!gone)
			conn->session_id = session_id;
		janus_mutex_unlock(&conn->mutex);
		if(gone)	/* the socket closed between the check above and now: the teardown did not know this id */
			janus_session_destroy_request(transport, session_id);
		else
			janus_request(conn, json_pack("{s:s,s:I,s:s,s:s}", "janus", "attach", "session_id", session_id,
				"plugin", "janus.plugin.p2plink", "transaction", TX_ATTACH));
	} else if(!strcmp(janus, "success") && !strcmp(tx, TX_ATTACH)) {
		json_int_t handle_id = json_integer_value(json_object_get(json_object_get(message, "data"), "id"));
		janus_mutex_lock(&conn->mutex);
		guint64 session_id = conn->session_id;
		janus_mutex_unlock(&conn->mutex);
		janus_request(conn, json_pack("{s:s,s:I,s:I,s:s,s:{s:s,s:s}}", "janus", "message",
			"session_id", (json_int_t)session_id, "handle_id", handle_id, "transaction", TX_BIND,
			"body", "request", "bind", "nonce", conn->nonce));
	} else if(!strcmp(janus, "success") && !strcmp(tx, TX_BIND)) {
		json_t *data = json_object_get(json_object_get(message, "plugindata"), "data");
		const char *state = json_string_value(json_object_get(data, "p2plink"));
		if(state == NULL || strcmp(state, "bound") != 0) {
			JANUS_LOG(LOG_ERR, "%s: binding a peer to its Janus handle failed: %s\n", JANUS_PEERJS_NAME,
				json_string_value(json_object_get(data, "error")));
			conn_close(conn, "server error");
		}
	} else if(!strcmp(janus, "error") && strcmp(tx, TX_DESTROY) != 0) {
		/* (A destroy may race a session timeout: "no such session" then is the outcome we wanted) */
		JANUS_LOG(LOG_ERR, "%s: Janus refused %s: %s\n", JANUS_PEERJS_NAME, tx,
			json_string_value(json_object_get(json_object_get(message, "error"), "reason")));
		conn_close(conn, "server error");
	} else if(!strcmp(janus, "timeout")) {
		conn_close(conn, "session timeout");
	}
	/* Everything else (acks, keepalive answers) is swallowed: the browser never sees Janus messages */
	conn_unref(conn);
	json_decref(message);
	return 0;
}

static void janus_peerjs_session_created(janus_transport_session *transport, guint64 session_id) {
	(void)transport;
	(void)session_id;
}

static void janus_peerjs_session_over(janus_transport_session *transport, guint64 session_id, gboolean timeout,
		gboolean claimed) {
	(void)session_id;
	if(transport == NULL || (!timeout && !claimed))
		return;
	janus_mutex_lock(&transport->mutex);
	p2plink_conn *conn = transport->transport_p;
	if(conn != NULL)
		conn_ref(conn);
	janus_mutex_unlock(&transport->mutex);
	if(conn != NULL) {
		conn_close(conn, timeout ? "session timeout" : "session claimed elsewhere");
		conn_unref(conn);
	}
}

static void janus_peerjs_session_claimed(janus_transport_session *transport, guint64 session_id) {
	(void)transport;
	(void)session_id;
}
