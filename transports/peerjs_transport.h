/*! \file   peerjs_transport.h
 * \brief  What the files of janus.transport.peerjs share: the running transport's state, and the Janus glue
 * \details What this file is for: the one struct the lws-side files (janus_peerjs.c, peerjs_loop.c,
 * peerjs_ws.c, peerjs_http.c, peerjs_limits.c) read their configuration, the plugin's hot path and the Janus
 * callbacks from, filled once by janus_peerjs_init before the service thread starts and emptied by destroy.
 * What it is not for: anything a unit test drives (peerjs_conn.h, peerjs_session.h, peerjs_config.h are pure).
 */

#ifndef PEERJS_TRANSPORT_H
#define PEERJS_TRANSPORT_H

#include <jansson.h>

#include <transports/transport.h>

#include "../plugins/janus_p2plink/p2plink_hotpath.h"
#include "http_routes.h"
#include "peerjs_config.h"
#include "peerjs_conn.h"
#include "stun_responder.h"

#define JANUS_PEERJS_NAME				"JANUS PeerJS transport"
#define JANUS_PEERJS_PACKAGE			"janus.transport.peerjs"

/* Seconds a closing connection may take to flush what is queued for it before it is dropped anyway */
#define PEERJS_CLOSE_FLUSH_TIMEOUT 5

typedef struct peerjs_transport {
	janus_transport_callbacks *gateway;
	const p2plink_hotpath *hotpath;
	peerjs_config config;
	peerjs_http_config http;	/* http_routes.c's view of config */
	peerjs_conn_env conn_env;	/* the queue bounds and the wake hook every connection gets */
	p2plink_stun_server *stun_server;	/* NULL: not running */
	int stun_port;				/* the port it really listens on */
	/* The core's session_timeout in seconds (0: sessions never expire), which Janus keepalives must beat: from
	 * the core's "info" answer (a core thread), read on the service thread, hence atomic */
	volatile gint session_timeout;
} peerjs_transport;

extern peerjs_transport peerjs;

/* A Janus API request on transport session ts (a janus_transport_session *); the core steals request and never
 * blocks us (janus_peerjs.c) */
void peerjs_janus_request(void *ts, json_t *request);

#endif
