/*! \file   janus_peerjs.c
 * \brief  janus.transport.peerjs — the PeerJS server protocol over HTTPS + WSS, inside Janus
 * \details What this file is for: the Janus transport vtable (init, destroy, the core's answers) and the
 * libwebsockets callback switch that hands each event to the file doing that job. Signaling frames go to
 * janus.plugin.p2plink through the in-process hot path (p2plink_hotpath.h) on the service thread, never through
 * the Janus core. The files of this transport, one job each:
 *   peerjs_config.c   the options as a table (pure)         peerjs_conn.c     a connection: state, queue (pure)
 *   peerjs_session.c  the Janus session per connection (pure) peerjs_loop.c    lws context, loop, service thread
 *   peerjs_ws.c       WebSocket handshake, reads, writes     peerjs_http.c     HTTP answers, files, link API
 *   peerjs_limits.c   client address, per-IP and fd limits  http_routes.c     route decisions (pure)
 * What it is not for: any of those jobs; routing or protocol rules (the plugin).
 */

#include <dlfcn.h>
#include <string.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>

#include <transports/transport.h>

#include <debug.h>
#include <utils.h>

#include "../common/jcfg_values.h"
#include "metrics_endpoint.h"
#include "peerjs_cluster.h"
#include "peerjs_http.h"
#include "peerjs_limits.h"
#include "peerjs_loop.h"
#include "peerjs_session.h"
#include "peerjs_transport.h"
#include "peerjs_ws.h"
#include "tls_reload.h"

#define JANUS_PEERJS_VERSION			1
#define JANUS_PEERJS_VERSION_STRING		"0.1.0"
#define JANUS_PEERJS_DESCRIPTION		"PeerJS server protocol (HTTPS + WSS) for janus.plugin.p2plink"
#define JANUS_PEERJS_AUTHOR				"p2plink"
#define PEERJS_RX_BUFFER_SIZE 0

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

peerjs_transport peerjs;
static volatile gint initialized = 0, stopping = 0;
/* Our own transport session for the core's "info" (no connection behind it) */
static janus_transport_session *info_ts = NULL;

void peerjs_janus_request(void *ts, json_t *request) {
	peerjs.gateway->incoming_request(&janus_peerjs_transport, ts, NULL, FALSE, request, NULL);
}

static void log_error(const char *line) {
	JANUS_LOG(LOG_ERR, "%s: %s\n", JANUS_PEERJS_NAME, line);
}

static const peerjs_session_ops session_ops = {
	.request = peerjs_janus_request,
	.log = log_error,
};

/* The lws callback switch: each event to the file whose job it is */
static int janus_peerjs_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		size_t len) {
	peerjs_pss *pss = user;
	switch(reason) {
		case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
			peerjs_loop_woken();
			return 0;
		case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
			/* user is the listener's SSL_CTX: where renewed certificates go (tls_reload.c) */
			peerjs_tls_reload_capture(user);
			return 0;
		case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
			/* user is lws's filter arguments here, not our pss */
			return peerjs_fd_accept_allowed((int)(intptr_t)in) ? 0 : -1;
		case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
			/* Only {path}peerjs upgrades to a WebSocket */
			char uri[256];
			if(lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 || !peerjs_http_is_ws_path(&peerjs.http, uri))
				return -1;
			/* A trusted proxy's X-Forwarded-For that cannot be read: no WebSocket (never the proxy's address) */
			char ip[PEERJS_IP_LEN];
			if(!peerjs_client_address(wsi, ip, sizeof(ip))) {
				peerjs_metrics_refused(PEERJS_REFUSED_BAD_ADDRESS);
				return -1;
			}
			if(peerjs_serve_framing_problem(wsi) != NULL) {
				peerjs_metrics_refused(PEERJS_REFUSED_BAD_REQUEST);
				return -1;
			}
			return 0;
		}
		case LWS_CALLBACK_ESTABLISHED:
			pss->conn = peerjs_ws_established(wsi);
			return 0;
		case LWS_CALLBACK_RECEIVE:
			return peerjs_ws_receive(wsi, pss->conn, in, len);
		case LWS_CALLBACK_TIMER:
			return peerjs_ws_resume(wsi, pss->conn);
		case LWS_CALLBACK_SERVER_WRITEABLE:
			return peerjs_ws_writeable(wsi, pss->conn);
		case LWS_CALLBACK_CLOSED:
		case LWS_CALLBACK_WSI_DESTROY:
			if(pss != NULL && pss->conn != NULL) {
				peerjs_ws_teardown(pss->conn);
				pss->conn = NULL;
			}
			return 0;
		case LWS_CALLBACK_HTTP:
			return peerjs_serve_request(wsi, pss, in ? (const char *)in : "/");
		case LWS_CALLBACK_HTTP_WRITEABLE:
			return peerjs_serve_writeable(wsi, pss);
		case LWS_CALLBACK_HTTP_BODY:
			return peerjs_serve_body(wsi, pss, in, len);
		case LWS_CALLBACK_HTTP_BODY_COMPLETION:
			return peerjs_serve_body_done(wsi, pss);
		case LWS_CALLBACK_HTTP_FILE_COMPLETION:
			if(lws_http_transaction_completed(wsi))
				return -1;
			return 0;
		case LWS_CALLBACK_CLOSED_HTTP:
		case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
			if(pss != NULL)
				peerjs_serve_clear(pss);
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

/* janus.jcfg's general.event_loops, which decides how many fds Janus itself needs per peer (peerjs_limits.c);
 * -1 when unknown. The core's API does not tell it (its "info" answer has no event loops). */
static gint64 read_event_loops(const char *config_path) {
	char filename[255];
	g_snprintf(filename, sizeof(filename), "%s/janus.jcfg", config_path);
	janus_config *config = janus_config_parse(filename);
	gint64 loops = -1;
	if(config != NULL) {
		janus_config_category *general = janus_config_get_create(config, NULL, janus_config_type_category, "general");
		if(!p2plink_jcfg_int(config, general, "event_loops", -1, 65536, &loops))
			loops = -1;
		janus_config_destroy(config);
	}
	return loops;
}

/* Reads our .jcfg through the option table: every bad option is logged, then FALSE */
static gboolean load_config(const char *config_path) {
	char filename[255];
	g_snprintf(filename, sizeof(filename), "%s/%s.jcfg", config_path, JANUS_PEERJS_PACKAGE);
	janus_config *config = janus_config_parse(filename);
	if(config != NULL)
		janus_config_print(config);
	GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);
	guint bad = peerjs_config_load(&peerjs.config, p2plink_jcfg_lookup, config, errors);
	bad += peerjs_cluster_load(&peerjs.config, peerjs.config.event_loop == PEERJS_LOOP_LIBUV, errors);
	for(guint i = 0; i < errors->len; i++)
		JANUS_LOG(LOG_ERR, "%s: %s\n", JANUS_PEERJS_NAME, (const char *)g_ptr_array_index(errors, i));
	if(bad > 0)
		JANUS_LOG(LOG_FATAL, "%s: %u bad option%s in %s: not starting\n", JANUS_PEERJS_NAME, bad, bad == 1 ? "" : "s",
			filename);
	g_ptr_array_free(errors, TRUE);
	/* [metrics] and certificates.reload_interval are rows of the table too */
	peerjs_metrics_config(&peerjs.config);
	peerjs_tls_reload_config(&peerjs.config);
	if(config != NULL)
		janus_config_destroy(config);
	const peerjs_config *c = &peerjs.config;
	peerjs.http.path = c->mount_path;
	peerjs.http.key = c->key;
	peerjs.http.allow_discovery = c->allow_discovery;
	peerjs.http.html_root = c->html_root;
	peerjs.http.cors_origins = c->cors;
	peerjs.conn_env.max_frames = (guint)c->write_queue_max_frames;
	peerjs.conn_env.max_bytes = (gsize)c->write_queue_max_bytes;
	peerjs.conn_env.headroom = LWS_PRE;
	peerjs.conn_env.wake = peerjs_ws_wake;
	peerjs.conn_env.log = log_error;
	if(!c->secure)
		JANUS_LOG(LOG_WARN, "%s: plain HTTP/WS on port %d, as configured (secure = false)\n", JANUS_PEERJS_NAME,
			(int)c->port);
	return bad == 0;
}

static gboolean listen_vhost(void) {
	const peerjs_config *c = &peerjs.config;
	struct lws_context_creation_info vhost;
	memset(&vhost, 0, sizeof(vhost));
	vhost.port = (int)c->port;
	vhost.iface = c->listen_iface;
	/* lws sends at most tx_packet_size per write (0: rx_buffer_size, 4 KiB): an SDP frame or a coalesced batch above
	 * that went out in two writes, the rest a loop turn later behind an armed POLLOUT (at real traffic 11 % of the
	 * frames, each with an extra TLS record, write, wake-up of the reader and two epoll_ctl). One write each. */
	protocols[0].tx_packet_size = peerjs_ws_largest_write(c->max_frame_size);
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
	if(c->secure) {
		vhost.ssl_cert_filepath = c->cert_pem;
		vhost.ssl_private_key_filepath = c->cert_key;
		vhost.ssl_private_key_password = c->cert_pwd;
		/* TLS 1.2 and newer only */
		vhost.ssl_options_set = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
			SSL_OP_NO_COMPRESSION | SSL_OP_PRIORITIZE_CHACHA;
		/* lws makes the server's order win, and OpenSSL's own order starts with AES-256-GCM-SHA384: every browser
		 * (which offers AES-128-GCM first) got a SHA-384 handshake, ~35 us more server CPU than SHA-256 here
		 * (docs/benchmarks.md, "No session tickets, AES-128 first, TLS records read ahead"). AES-128-GCM first, as
		 * browsers and Mozilla's "intermediate" profile order them; ChaCha20 for a client that puts it first (no AES
		 * in hardware: SSL_OP_PRIORITIZE_CHACHA). */
		vhost.tls1_3_plus_cipher_list = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
		vhost.ssl_cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
			"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
			"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
		vhost.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	}
	if(lws_create_vhost(peerjs_loop_context(), &vhost) == NULL) {
		JANUS_LOG(LOG_FATAL, "%s: could not listen on port %d\n", JANUS_PEERJS_NAME, vhost.port);
		return FALSE;
	}
	return TRUE;
}

/* The STUN responder: calls on a LAN still work without it, so a failure is said loudly and init goes on */
static void stun_start(void) {
	const peerjs_config *c = &peerjs.config;
	peerjs.stun_port = (int)c->stun_port;
	if(!c->stun_enabled)
		return;
	p2plink_stun_config stun;
	p2plink_stun_config_defaults(&stun);
	stun.rate_per_sec = c->stun_rate_per_source;
	stun.burst = c->stun_burst_per_source;
	stun.global_rate_per_sec = c->stun_global_rate;
	stun.global_burst = c->stun_global_burst;
	GError *error = NULL;
	peerjs.stun_server = p2plink_stun_server_new(c->stun_bind, peerjs.stun_port, &stun, &error);
	if(peerjs.stun_server == NULL || !p2plink_stun_server_start_thread(peerjs.stun_server, &error)) {
		JANUS_LOG(LOG_ERR, "%s: STUN responder on UDP %d not started: %s\n", JANUS_PEERJS_NAME, peerjs.stun_port,
			error ? error->message : "?");
		g_clear_error(&error);
		g_clear_pointer(&peerjs.stun_server, p2plink_stun_server_free);
		return;
	}
	peerjs.stun_port = p2plink_stun_server_port(peerjs.stun_server);
	JANUS_LOG(LOG_INFO, "%s: STUN responder on UDP port %d\n", JANUS_PEERJS_NAME, peerjs.stun_port);
}

static gboolean resolve_hotpath(void) {
	p2plink_hotpath_get_fn get = (p2plink_hotpath_get_fn)dlsym(RTLD_DEFAULT, P2PLINK_HOTPATH_SYMBOL);
	if(get == NULL) {
		JANUS_LOG(LOG_FATAL, "%s needs janus.plugin.p2plink (libjanus_p2plink.so) loaded: %s not found\n",
			JANUS_PEERJS_NAME, P2PLINK_HOTPATH_SYMBOL);
		return FALSE;
	}
	const p2plink_hotpath *hotpath = get();
	if(hotpath == NULL || hotpath->version != P2PLINK_HOTPATH_VERSION) {
		JANUS_LOG(LOG_FATAL, "%s: janus.plugin.p2plink hot path version %d, this transport needs %d: "
			"install matching builds of both modules\n", JANUS_PEERJS_NAME, hotpath ? hotpath->version : -1,
			P2PLINK_HOTPATH_VERSION);
		return FALSE;
	}
	peerjs.hotpath = hotpath;
	return TRUE;
}

/* What init set up, undone: a failed init (the STUN thread too, which a failed init once left running, answering
 * on its port with Janus believing the transport was never loaded) and destroy */
static void state_free(void) {
	peerjs_cluster_stop();
	peerjs_loop_unwakeable();
	peerjs_tls_reload_stop();
	peerjs_metrics_stop();
	peerjs_loop_destroy();
	g_clear_pointer(&peerjs.stun_server, p2plink_stun_server_free);	/* stops its thread first */
	peerjs_limits_free();
	peerjs_cluster_clear_config();
	peerjs_config_clear(&peerjs.config);
	memset(&peerjs, 0, sizeof(peerjs));
}

/* Keepalives must beat the core's session_timeout. Rather than re-reading janus.jcfg to guess it (a guess that is
 * wrong whenever -s on the command line, or a different file, set it), ask the core: its "info" answer carries
 * "session-timeout" and arrives in send_message (the core queues the request and answers it as soon as its
 * request thread runs; measured in the integration runs: before the first peer connects). Until then a keepalive
 * follows every PeerJS heartbeat, which is safe for any timeout. */
static void ask_session_timeout(void) {
	g_atomic_int_set(&peerjs.session_timeout, -1);
	info_ts = janus_transport_session_create(NULL, NULL);
	peerjs_janus_request(info_ts, peerjs_session_info_request());
}

static int janus_peerjs_init(janus_transport_callbacks *callback, const char *config_path) {
	if(g_atomic_int_get(&stopping) || callback == NULL || config_path == NULL)
		return -1;
	memset(&peerjs, 0, sizeof(peerjs));
	if(!resolve_hotpath() || !load_config(config_path)) {
		state_free();
		return -1;
	}
	peerjs.gateway = callback;
	peerjs_limits_init(read_event_loops(config_path));
	if(!peerjs_loop_create((peerjs_event_loop)peerjs.config.event_loop) || !listen_vhost()) {
		state_free();
		return -1;
	}
	/* Frames routed in a turn of the loop leave at its end, without POLLOUT round trips (peerjs_ws.c) */
	peerjs_loop_at_turn_end(peerjs_ws_turn_end);
	stun_start();
	if(!peerjs_metrics_start(peerjs_loop_context(), peerjs.hotpath, peerjs.stun_server)) {
		state_free();
		return -1;
	}
	if(peerjs.config.secure)
		peerjs_tls_reload_start(peerjs_loop_context(), peerjs.config.cert_pem, peerjs.config.cert_key,
			peerjs.config.cert_pwd);
	/* Cluster mode: the Redis client on the loop, and the remote_* ops the registry routes through */
	p2plink_transport_ops ops = peerjs_ws_transport_ops;
	if(!peerjs_cluster_start((guint)peerjs.config.port)) {
		state_free();
		return -1;
	}
	peerjs_cluster_fill_ops(&ops);
	if(peerjs.hotpath->attach_transport(&ops) < 0) {
		state_free();
		return -1;
	}
	peerjs_cluster_attached(TRUE);
	g_atomic_int_set(&initialized, 1);
	if(!peerjs_loop_start()) {
		g_atomic_int_set(&initialized, 0);
		peerjs_cluster_attached(FALSE);
		peerjs.hotpath->detach_transport();
		state_free();
		return -1;
	}
	ask_session_timeout();
	const peerjs_config *c = &peerjs.config;
	JANUS_LOG(LOG_INFO, "%s listening on %s:%d (%s, %s event loop), PeerJS path %s, key %s\n", JANUS_PEERJS_NAME,
		c->listen_iface ? c->listen_iface : "*", (int)c->port, c->secure ? "HTTPS/WSS" : "HTTP/WS",
		peerjs_loop_is_libuv() ? "libuv" : "poll", c->mount_path, c->key);
	return 0;
}

static void janus_peerjs_destroy(void) {
	if(!g_atomic_int_get(&initialized))
		return;
	g_atomic_int_set(&stopping, 1);
	peerjs_loop_stop();
	/* The loop is ours now (the service thread is gone): this node's leases are released while it runs */
	peerjs_cluster_stop();
	/* The plugin's sweeper and link workers still run: they must stop waking a context we destroy now
	 * (peerjs_loop_destroy makes the loop unwakeable first, then closes every socket on this thread) */
	const p2plink_hotpath *hotpath = peerjs.hotpath;
	peerjs_loop_unwakeable();
	peerjs_tls_reload_stop();
	peerjs_metrics_stop();
	peerjs_loop_destroy();
	peerjs_cluster_attached(FALSE);
	hotpath->detach_transport();
	if(info_ts != NULL) {
		janus_transport_session_destroy(info_ts);
		info_ts = NULL;
	}
	state_free();
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


static p2plink_conn *transport_conn(janus_transport_session *transport) {
	janus_mutex_lock(&transport->mutex);
	p2plink_conn *conn = transport->transport_p;
	if(conn != NULL)
		peerjs_conn_ref(conn);
	janus_mutex_unlock(&transport->mutex);
	return conn;
}

/* Answers from the Janus core to the requests we made for a connection (peerjs_session.c's table says what each
 * does). Called from core threads: only json inspection, further (non-blocking) requests, and close requests. */
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
	gint64 timeout = 0;
	if(peerjs_session_info_answer(message, &timeout)) {
		g_atomic_int_set(&peerjs.session_timeout, (gint)MIN(timeout, G_MAXINT));
		JANUS_LOG(LOG_INFO, "%s: Janus session_timeout %"G_GINT64_FORMAT" s: at most one keepalive per %"
			G_GINT64_FORMAT" s per peer\n", JANUS_PEERJS_NAME, timeout, timeout / 2);
		json_decref(message);
		return 0;
	}
	if(g_atomic_int_get(&transport->destroyed)) {
		/* The socket closed while "create" was on its way: the teardown had no session id to destroy, so this one
		 * would linger until session_timeout. Destroy it now (the request we are answering still holds transport). */
		guint64 orphan = peerjs_session_orphan(message);
		if(orphan != 0)
			peerjs_janus_request(transport, peerjs_session_destroy_request(orphan));
		json_decref(message);
		return -1;
	}
	p2plink_conn *conn = transport_conn(transport);
	if(conn == NULL) {
		json_decref(message);
		return -1;
	}
	peerjs_session_answer(conn, transport, message, &session_ops);
	peerjs_conn_unref(conn);
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
	p2plink_conn *conn = transport_conn(transport);
	if(conn != NULL) {
		peerjs_conn_close(conn, timeout ? "session timeout" : "session claimed elsewhere");
		peerjs_conn_unref(conn);
	}
}

static void janus_peerjs_session_claimed(janus_transport_session *transport, guint64 session_id) {
	(void)transport;
	(void)session_id;
}
