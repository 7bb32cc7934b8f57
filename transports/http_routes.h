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
/* g_free after OPENSSL_cleanse: for answer and request texts that may hold a token (NULL is fine) */
void peerjs_http_text_wipe_free(char *text);

/* Content-Type for a file name, by extension */
const char *peerjs_http_mime_type(const char *filename);

/* Longest X-Forwarded-For accepted from a trusted proxy, in bytes: ~250 IPv4 or ~100 IPv6 hops, far beyond any
 * real proxy chain. A longer header is refused, never cut: cutting would drop the hops nearest to us. */
#define PEERJS_XFF_MAX_LEN 4096

typedef enum peerjs_client_ip_result {
	PEERJS_CLIENT_IP_OK = 0,
	PEERJS_CLIENT_IP_TOO_LONG,		/* X-Forwarded-For from a trusted proxy longer than PEERJS_XFF_MAX_LEN */
	PEERJS_CLIENT_IP_MALFORMED,		/* a hop a trusted proxy wrote is not an address (or is empty) */
} peerjs_client_ip_result;

/* The client's address: the socket's, unless the socket belongs to a trusted proxy (CIDR list, NULL = none);
 * then the right-most X-Forwarded-For hop that is not itself a trusted proxy. forwarded_len is the header's real
 * length (forwarded_for may hold less, or be NULL, when it is over the limit). Every hop up to that one was
 * written by a trusted proxy, so one that does not parse means the chain cannot be believed: the request must be
 * refused (never answered as if it came from the proxy itself). Hops left of the client's are the client's own
 * text and are not read. On PEERJS_CLIENT_IP_OK *client is g_malloc'd text; otherwise it is NULL. */
peerjs_client_ip_result peerjs_http_client_ip(const char *socket_ip, const char *forwarded_for, size_t forwarded_len,
	const char * const *trusted_proxies, char **client);

/* Security headers of one answer. app: the answer serves the web app (a file from html/), which gets the full
 * Content-Security-Policy; other answers (JSON, text, errors) get one that allows nothing at all. secure: TLS is
 * on, so HSTS is sent. host: the Host header (NULL or invalid: connect-src is 'self' only) */
#define PEERJS_HTTP_SECURITY_HEADERS 7
typedef struct peerjs_http_header {
	const char *name;		/* static, with the trailing ':' libwebsockets wants */
	char *value;			/* g_malloc'd */
} peerjs_http_header;
guint peerjs_http_security_headers(gboolean app, gboolean secure, const char *host,
	peerjs_http_header out[PEERJS_HTTP_SECURITY_HEADERS]);
void peerjs_http_headers_clear(peerjs_http_header *headers, guint n);

/* "https://host[:port]" from a Host header, or NULL when the header is absent or not a plain host[:port] */
char *peerjs_http_base_url(gboolean secure, const char *host);

/* A Content-Length value (RFC 9110 8.6: 1*DIGIT, nothing else: no sign, space, list, overflow or
 * more than 20 characters). TRUE and
 * *length when it is one; FALSE for anything else, which the request must then be refused for (lws reads such
 * a value its own lenient way, and atoll read "-5", "12abc" or an unreadable header as a body of 0 bytes). */
gboolean peerjs_http_content_length(const char *text, guint64 *length);

/* Is this the WebSocket endpoint ({path}peerjs)? */
gboolean peerjs_http_is_ws_path(const peerjs_http_config *config, const char *uri);

#endif
