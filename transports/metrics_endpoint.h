/*
 * metrics_endpoint.h — GET /metrics for Prometheus, on a listener of its own that only binds a loopback address.
 *
 * What it is for: the [metrics] section of janus.transport.peerjs.jcfg, a second libwebsockets vhost (plain HTTP,
 * on the transport's own context and event loop) that answers GET /metrics with the exposition text and 404 to
 * everything else, the transport's own counters (connections set up and refused, by reason), the STUN
 * responder's counters, and the event-loop lag probe (a timer on the transport's loop that measures how late it
 * runs).
 * Why loopback and not a bearer secret: a listener nobody off the host can reach leaks nothing even when
 * misconfigured, and needs no secret to rotate; Prometheus (or its agent) runs on the same host, or reaches it
 * through an SSH tunnel. An interface that is not a loopback address is refused (logged, no listener).
 * What it is not for: rendering (metrics.c, pure) or counting on the routing path (the plugin's counters.c,
 * read through the hot path's metrics_snapshot). Transport thread only, except where a function says otherwise.
 */

#ifndef PEERJS_METRICS_ENDPOINT_H
#define PEERJS_METRICS_ENDPOINT_H

#include <libwebsockets.h>

#include "peerjs_config.h"

#include "p2plink_hotpath.h"
#include "stun_responder.h"

/* Why a connection was refused before or at the PeerJS handshake (label "reason" of
 * p2plink_connections_refused_total) */
typedef enum peerjs_refusal {
	PEERJS_REFUSED_FD_LIMIT = 0,		/* out of file descriptors: closed at accept */
	PEERJS_REFUSED_BAD_ADDRESS,			/* no readable peer address, or a trusted proxy's bad X-Forwarded-For */
	PEERJS_REFUSED_BAD_REQUEST,			/* an upgrade with request-smuggling framing */
	PEERJS_REFUSED_RATE_PER_IP,			/* connection_rate_per_ip */
	PEERJS_REFUSED_PER_IP,				/* max_connections_per_ip */
	PEERJS_REFUSED_PER_NETWORK,			/* max_connections_per_network */
	PEERJS_REFUSED_BAD_HANDSHAKE,		/* no id, token or key */
	PEERJS_REFUSED_BAD_KEY,				/* wrong PeerJS key */
	PEERJS_REFUSED_ID_TAKEN,			/* the plugin: ID-TAKEN */
	PEERJS_REFUSED_INVALID,				/* the plugin: bad id or token */
	PEERJS_REFUSED_LIMIT,				/* the plugin: concurrent_limit */
	PEERJS_REFUSED_UNAVAILABLE,			/* the plugin: stopping */
	PEERJS_REFUSAL_COUNT
} peerjs_refusal;

/* Takes the [metrics] rows (enabled, port, interface) as the option table read and checked them (ranges:
 * peerjs_config.c). A non-loopback interface is logged and leaves metrics off, the transport itself still starts. */
void peerjs_metrics_config(const peerjs_config *cfg);
/* After the context exists: the metrics vhost (when enabled) and the lag probe. FALSE when the port cannot be
 * bound. stun may be NULL (no responder). */
gboolean peerjs_metrics_start(struct lws_context *context, const p2plink_hotpath *hotpath,
	p2plink_stun_server *stun);
/* Before the context is destroyed (any thread, once the service thread is gone) */
void peerjs_metrics_stop(void);

/* Counting (any thread: relaxed atomics) */
void peerjs_metrics_connection(void);
void peerjs_metrics_refused(peerjs_refusal reason);
/* A WebSocket write the socket did not take whole (lws keeps the rest until POLLOUT) */
void peerjs_metrics_write_deferred(void);
/* peer_open's result, counted when it is a refusal */
void peerjs_metrics_open_result(p2plink_open_result result);

#endif
