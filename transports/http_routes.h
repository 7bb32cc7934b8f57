/*
 * http_routes.h — which answer an HTTP request to janus.transport.peerjs gets.
 *
 * What it is for: the PeerJS REST routes ({path}, {path}{key}/id, {path}{key}/peers), the share-link landing
 * (/l/<token>), CORS, and mapping other GETs onto files under the html folder without ever leaving it.
 * What it is not for: writing bytes (janus_peerjs.c does that with libwebsockets). Pure: unit-tested without lws.
 */

#ifndef PEERJS_HTTP_ROUTES_H
#define PEERJS_HTTP_ROUTES_H

#include <glib.h>

typedef struct peerjs_http_config {
	const char *path;			/* PeerJS mount path, always with leading and trailing '/' ("/" by default) */
	const char *key;			/* PeerJS key ("peerjs") */
	gboolean allow_discovery;	/* GET {path}{key}/peers */
	const char *html_root;		/* absolute folder served as the web app; NULL disables static files */
	char **cors_origins;		/* NULL: reflect any Origin (the reference server's default) */
} peerjs_http_config;

typedef enum peerjs_route_kind {
	PEERJS_ROUTE_BODY,		/* answer with status, content_type, body */
	PEERJS_ROUTE_FILE,		/* serve file_path with content_type */
	PEERJS_ROUTE_PEERS,		/* answer with the discoverable ids (the caller asks the plugin) */
	PEERJS_ROUTE_NEW_ID,	/* answer with a fresh random id as text/html, like the reference */
	PEERJS_ROUTE_LINK_API,	/* POST share-link endpoint: read the JSON body, hand it to the plugin (api_route) */
	PEERJS_ROUTE_ICE_CONFIG,	/* answer with the ICE servers the app should use */
} peerjs_route_kind;

typedef struct peerjs_http_answer {
	peerjs_route_kind kind;
	int status;
	const char *content_type;
	char *body;				/* g_malloc'd, may be NULL */
	char *file_path;		/* g_malloc'd, for PEERJS_ROUTE_FILE */
	char *allow_origin;		/* g_malloc'd value for Access-Control-Allow-Origin, NULL for none */
	const char *api_route;	/* PEERJS_ROUTE_LINK_API: "links/create", ..., "linkonly" (static string) */
} peerjs_http_answer;

/* method: "GET", "HEAD", "OPTIONS", ...; uri: decoded path without the query; origin may be NULL */
void peerjs_http_route(const peerjs_http_config *config, const char *method, const char *uri, const char *origin,
	peerjs_http_answer *answer);
void peerjs_http_answer_clear(peerjs_http_answer *answer);

/* Content-Type for a file name, by extension */
const char *peerjs_http_mime_type(const char *filename);

/* The client's address: the socket's, unless the socket belongs to a trusted proxy (CIDR list, NULL = none);
 * then the right-most X-Forwarded-For hop that is not itself a trusted proxy. Malformed hops end the walk (the
 * last good address wins), so a client cannot inject an address past the proxy. Returns g_malloc'd text. */
char *peerjs_http_client_ip(const char *socket_ip, const char *forwarded_for, const char * const *trusted_proxies);

/* "https://host[:port]" from a Host header, or NULL when the header is absent or not a plain host[:port] */
char *peerjs_http_base_url(gboolean secure, const char *host);

/* Is this the WebSocket endpoint ({path}peerjs)? */
gboolean peerjs_http_is_ws_path(const peerjs_http_config *config, const char *uri);

#endif
