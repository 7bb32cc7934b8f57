/*! \file   peerjs_http.h
 * \brief  HTTP serving on the service thread: static files, the REST answers, ICE config, the link API, headers
 * \details What this file is for: carrying out what http_routes.c decided for a request — serving a file of the
 * web app, a new id or the peer list, the ICE configuration, handing a share-link request (body read whole,
 * bounded) to the plugin's workers and writing their answer — with the security and CORS headers every answer
 * gets, and refusing framing a proxy might read differently.
 * What it is not for: deciding routes, parsing headers' contents (http_routes.c, pure and unit-tested), the
 * WebSocket (peerjs_ws.c).
 */

#ifndef PEERJS_HTTP_H
#define PEERJS_HTTP_H

#include <libwebsockets.h>

#include "http_routes.h"
#include "peerjs_conn.h"

typedef struct peerjs_link_request peerjs_link_request;

/* Per-wsi data libwebsockets allocates for us: HTTP request state or the WebSocket's connection */
typedef struct peerjs_pss {
	p2plink_conn *conn;
	peerjs_http_answer answer;
	gboolean answer_ready;
	gboolean headers_sent;
	gboolean close_after;	/* a refused request: the rest of its stream cannot be trusted, close after the answer */
	/* POST share-link endpoints */
	GByteArray *body;
	peerjs_link_request *pending;
} peerjs_pss;

/* NULL when the request's framing is fine, else the sentence for its 400 (also refuses WebSocket upgrades) */
const char *peerjs_serve_framing_problem(struct lws *wsi);
/* LWS_CALLBACK_HTTP */
int peerjs_serve_request(struct lws *wsi, peerjs_pss *pss, const char *uri);
/* LWS_CALLBACK_HTTP_BODY / _BODY_COMPLETION */
int peerjs_serve_body(struct lws *wsi, peerjs_pss *pss, const void *in, size_t len);
int peerjs_serve_body_done(struct lws *wsi, peerjs_pss *pss);
/* LWS_CALLBACK_HTTP_WRITEABLE */
int peerjs_serve_writeable(struct lws *wsi, peerjs_pss *pss);
/* LWS_CALLBACK_CLOSED_HTTP and the next request on a keep-alive connection: forget the answer */
void peerjs_serve_clear(peerjs_pss *pss);

#endif
