/*
 * metrics_endpoint.c — the loopback /metrics listener, the transport's own counters and the event-loop lag probe
 * (see metrics_endpoint.h for what it is and is not for).
 *
 * A scrape costs one snapshot from the plugin (the registry's lock once, then lock-free counters), one render and
 * one write, all on the transport's loop: it competes with signaling for that thread for well under a
 * millisecond every scrape_interval, and in exchange the lag it reports is the lag signaling sees.
 */

#include <arpa/inet.h>
#include <string.h>

#include <jansson.h>
#include <libwebsockets.h>

#include <debug.h>

#include "metrics.h"
#include "metrics_endpoint.h"

#define METRICS_NAME "JANUS PeerJS transport"

/* The probe's period: often enough that a stall between two scrapes (15 s by default) is seen, rarely enough to
 * cost nothing (4 timer callbacks a second) */
#define LAG_PROBE_US (250 * 1000)

static const char *refusal_names[PEERJS_REFUSAL_COUNT] = {
	[PEERJS_REFUSED_FD_LIMIT] = "fd-limit",
	[PEERJS_REFUSED_BAD_ADDRESS] = "bad-address",
	[PEERJS_REFUSED_BAD_REQUEST] = "bad-request",
	[PEERJS_REFUSED_RATE_PER_IP] = "rate-per-ip",
	[PEERJS_REFUSED_PER_IP] = "per-ip",
	[PEERJS_REFUSED_PER_NETWORK] = "per-network",
	[PEERJS_REFUSED_BAD_HANDSHAKE] = "bad-handshake",
	[PEERJS_REFUSED_BAD_KEY] = "bad-key",
	[PEERJS_REFUSED_ID_TAKEN] = "id-taken",
	[PEERJS_REFUSED_INVALID] = "invalid-id-or-token",
	[PEERJS_REFUSED_LIMIT] = "concurrent-limit",
	[PEERJS_REFUSED_UNAVAILABLE] = "unavailable",
};

/* Configuration (the rows and their defaults: peerjs_config.c) */
static gboolean metrics_enabled = FALSE;
static int metrics_port = 9464;
static char *metrics_iface = NULL;

/* State */
static const p2plink_hotpath *metrics_hotpath = NULL;
static p2plink_stun_server *metrics_stun = NULL;
static struct lws_context *metrics_context = NULL;
static guint64 connections = 0, refused[PEERJS_REFUSAL_COUNT], writes_deferred = 0;
static lws_sorted_usec_list_t lag_sul;
static gint64 lag_due = 0;		/* transport thread only */
static gint64 lag_us = 0;		/* written by the probe, read by a scrape: both on the transport thread */

void peerjs_metrics_connection(void) {
	__atomic_fetch_add(&connections, 1, __ATOMIC_RELAXED);
}

void peerjs_metrics_write_deferred(void) {
	__atomic_fetch_add(&writes_deferred, 1, __ATOMIC_RELAXED);
}

void peerjs_metrics_refused(peerjs_refusal reason) {
	if((guint)reason < PEERJS_REFUSAL_COUNT)
		__atomic_fetch_add(&refused[reason], 1, __ATOMIC_RELAXED);
}

void peerjs_metrics_open_result(p2plink_open_result result) {
	switch(result) {
		case P2PLINK_OPEN_OK:
			break;
		case P2PLINK_OPEN_ID_TAKEN:
			peerjs_metrics_refused(PEERJS_REFUSED_ID_TAKEN);
			break;
		case P2PLINK_OPEN_INVALID:
			peerjs_metrics_refused(PEERJS_REFUSED_INVALID);
			break;
		case P2PLINK_OPEN_LIMIT:
			peerjs_metrics_refused(PEERJS_REFUSED_LIMIT);
			break;
		case P2PLINK_OPEN_UNAVAILABLE:
			peerjs_metrics_refused(PEERJS_REFUSED_UNAVAILABLE);
			break;
	}
}

/* 127.0.0.0/8 or ::1, as a literal: a name could resolve to anything */
static gboolean is_loopback(const char *iface) {
	struct in_addr v4;
	struct in6_addr v6;
	if(inet_pton(AF_INET, iface, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, iface, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

void peerjs_metrics_config(const peerjs_config *cfg) {
	metrics_port = (int)cfg->metrics_port;
	metrics_enabled = cfg->metrics_enabled;
	const char *iface = cfg->metrics_interface;
	g_clear_pointer(&metrics_iface, g_free);
	metrics_iface = g_strdup(iface && *iface ? iface : "127.0.0.1");
	if(metrics_enabled && !is_loopback(metrics_iface)) {
		JANUS_LOG(LOG_ERR, "%s: metrics.interface '%s' is not a loopback address (127.0.0.0/8 or ::1): /metrics "
			"is not served (it has no authentication; scrape it on the host or through a tunnel)\n", METRICS_NAME,
			metrics_iface);
		metrics_enabled = FALSE;
	}
}

/* ---- What a scrape sees ---- */

static json_t *stun_json(void) {
	json_t *out = json_object();
	if(metrics_stun == NULL)
		return out;
	p2plink_stun_counters c;
	p2plink_stun_server_get_counters(metrics_stun, &c);
	json_t *responses = json_object(), *drops = json_object();
	for(guint v = 0; v < P2PLINK_STUN_VERDICT_COUNT; v++) {
		const char *name = p2plink_stun_verdict_name(v);
		if(P2PLINK_STUN_VERDICT_IS_REPLY(v))
			json_object_set_new(responses, name + strlen("reply-"), json_integer((json_int_t)c.verdicts[v]));
		else
			json_object_set_new(drops, name + strlen("drop-"), json_integer((json_int_t)c.verdicts[v]));
	}
	/* A reply the kernel would not take never reached the client */
	json_object_set_new(drops, "send-error", json_integer((json_int_t)c.send_errors));
	json_object_set_new(out, "stun_responses", responses);
	json_object_set_new(out, "stun_drops", drops);
	return out;
}

static json_t *transport_json(void) {
	json_t *reasons = json_object();
	for(guint r = 0; r < PEERJS_REFUSAL_COUNT; r++)
		json_object_set_new(reasons, refusal_names[r],
			json_integer((json_int_t)__atomic_load_n(&refused[r], __ATOMIC_RELAXED)));
	json_t *out = json_pack("{s:I,s:o,s:I,s:f}", "connections",
		(json_int_t)__atomic_load_n(&connections, __ATOMIC_RELAXED), "connections_refused", reasons,
		"ws_writes_deferred", (json_int_t)__atomic_load_n(&writes_deferred, __ATOMIC_RELAXED),
		"loop_lag_seconds", (double)lag_us / G_USEC_PER_SEC);
	json_t *stun = stun_json();
	json_object_update(out, stun);
	json_decref(stun);
	return out;
}

static char *render(void) {
	json_t *stats = metrics_hotpath->metrics_snapshot != NULL ? metrics_hotpath->metrics_snapshot() : json_object();
	json_t *own = transport_json();
	json_object_update(stats, own);
	json_decref(own);
	char *text = p2plink_metrics_render(stats, NULL);
	json_decref(stats);
	return text;
}

/* ---- The listener ---- */

typedef struct metrics_pss {
	int status;
	char *body;
} metrics_pss;

static int answer_headers(struct lws *wsi, metrics_pss *pss) {
	unsigned char buf[LWS_PRE + 512], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof(buf) - 1];
	const char *type = pss->status == 200 ? P2PLINK_METRICS_CONTENT_TYPE : "text/plain; charset=utf-8";
	if(lws_add_http_common_headers(wsi, pss->status, type, strlen(pss->body), &p, end) ||
			lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:", (const unsigned char *)"no-store",
				8, &p, end) ||
			lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int metrics_request(struct lws *wsi, metrics_pss *pss, const char *uri) {
	/* GET (or HEAD) /metrics, with or without a query (Prometheus sends none): anything else is 404 */
	gboolean get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0 || lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
	if(get && !strcmp(uri, "/metrics")) {
		pss->status = 200;
		pss->body = render();
	} else {
		pss->status = 404;
		pss->body = g_strdup("Not found\n");
	}
	return answer_headers(wsi, pss);
}

static int metrics_writeable(struct lws *wsi, metrics_pss *pss) {
	if(pss->body == NULL)
		return 0;
	size_t len = strlen(pss->body);
	int n = 0;
	if(lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0 || len == 0) {
		n = lws_write(wsi, (unsigned char *)"", 0, LWS_WRITE_HTTP_FINAL);
	} else {
		unsigned char *buf = g_malloc(LWS_PRE + len);
		memcpy(buf + LWS_PRE, pss->body, len);
		n = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
		g_free(buf);
	}
	g_clear_pointer(&pss->body, g_free);
	if(n < 0 || lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

static int metrics_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
	metrics_pss *pss = user;
	switch(reason) {
		case LWS_CALLBACK_HTTP:
			return metrics_request(wsi, pss, in ? (const char *)in : "/");
		case LWS_CALLBACK_HTTP_WRITEABLE:
			return metrics_writeable(wsi, pss);
		case LWS_CALLBACK_CLOSED_HTTP:
		case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
			if(pss != NULL)
				g_clear_pointer(&pss->body, g_free);
			return 0;
		default:
			break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static struct lws_protocols metrics_protocols[] = {
	{ "p2plink-metrics", metrics_callback, sizeof(metrics_pss), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* ---- Event-loop lag ---- */

static void lag_probe(lws_sorted_usec_list_t *sul) {
	gint64 now = g_get_monotonic_time();
	lag_us = MAX(now - lag_due, 0);
	lag_due = now + LAG_PROBE_US;
	lws_sul_schedule(metrics_context, 0, &lag_sul, lag_probe, LAG_PROBE_US);
}

gboolean peerjs_metrics_start(struct lws_context *context, const p2plink_hotpath *hotpath,
		p2plink_stun_server *stun) {
	metrics_context = context;
	metrics_hotpath = hotpath;
	metrics_stun = stun;
	memset(&lag_sul, 0, sizeof(lag_sul));
	lag_due = g_get_monotonic_time() + LAG_PROBE_US;
	lws_sul_schedule(context, 0, &lag_sul, lag_probe, LAG_PROBE_US);
	if(!metrics_enabled)
		return TRUE;
	struct lws_context_creation_info vhost;
	memset(&vhost, 0, sizeof(vhost));
	vhost.vhost_name = "p2plink-metrics";
	vhost.port = metrics_port;
	vhost.iface = metrics_iface;
	vhost.protocols = metrics_protocols;
	vhost.alpn = "http/1.1";
	vhost.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
	/* lws 4.1 reads an IPv4 literal into the wrong field of an IPv6 socket's address and binds [::], every
	 * address of the host (seen with ss -ltn): an IPv4 interface gets an IPv4 socket */
	struct in_addr v4;
	if(inet_pton(AF_INET, metrics_iface, &v4) == 1)
		vhost.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if(lws_create_vhost(context, &vhost) == NULL) {
		JANUS_LOG(LOG_FATAL, "%s: could not listen for /metrics on %s port %d\n", METRICS_NAME, metrics_iface,
			metrics_port);
		return FALSE;
	}
	JANUS_LOG(LOG_INFO, "%s: Prometheus metrics on http://%s:%d/metrics (loopback only)\n", METRICS_NAME,
		metrics_iface, metrics_port);
	return TRUE;
}

void peerjs_metrics_stop(void) {
	if(metrics_context != NULL)
		lws_sul_cancel(&lag_sul);
	metrics_context = NULL;
	metrics_hotpath = NULL;
	metrics_stun = NULL;
	g_clear_pointer(&metrics_iface, g_free);
	metrics_enabled = FALSE;
}
