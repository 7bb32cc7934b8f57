/*
 * http_routes.c — HTTP routing decisions for janus.transport.peerjs. See http_routes.h.
 *
 * Static files: the URI is split into segments and every segment must be a plain name (no "..", no ".", no
 * backslash, no NUL, not empty), then the joined path is resolved with realpath() and must still be inside the
 * html root — so neither "/../", its percent-encoded forms (libwebsockets decodes before we see them) nor symlinks
 * lead out of the folder.
 */

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "http_routes.h"
#include "links.h"

static const char app_json[] = "{\"name\":\"PeerJS Server\",\"description\":\"A server side element to broker "
	"connections between PeerJS clients.\",\"website\":\"https://peerjs.com/\"}";

void peerjs_http_text_wipe_free(char *text) {
	if(text == NULL)
		return;
	OPENSSL_cleanse(text, strlen(text));
	g_free(text);
}

void peerjs_http_answer_clear(peerjs_http_answer *answer) {
	/* A link endpoint's answer may hold a token (links/create) */
	peerjs_http_text_wipe_free(answer->body);
	g_free(answer->file_path);
	g_free(answer->allow_origin);
	memset(answer, 0, sizeof(*answer));
}

const char *peerjs_http_mime_type(const char *filename) {
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".webmanifest", "application/manifest+json" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".map", "application/json" },
	};
	const char *dot = strrchr(filename, '.');
	if(dot != NULL) {
		for(size_t i = 0; i < G_N_ELEMENTS(types); i++) {
			if(g_ascii_strcasecmp(dot, types[i].ext) == 0)
				return types[i].type;
		}
	}
	return "application/octet-stream";
}

static void set_body(peerjs_http_answer *answer, int status, const char *type, const char *body) {
	answer->kind = PEERJS_ROUTE_BODY;
	answer->status = status;
	answer->content_type = type;
	answer->body = g_strdup(body);
}

/* CORS like the reference (npm cors with origin:true): reflect the Origin, or only listed origins */
static char *allowed_origin(const peerjs_http_config *config, const char *origin) {
	if(origin == NULL || *origin == '\0')
		return NULL;
	if(config->cors_origins == NULL)
		return g_strdup(origin);
	for(char **o = config->cors_origins; *o != NULL; o++) {
		if(strcmp(*o, origin) == 0)
			return g_strdup(origin);
	}
	return NULL;
}

gboolean peerjs_http_is_ws_path(const peerjs_http_config *config, const char *uri) {
	size_t plen = strlen(config->path);
	return strncmp(uri, config->path, plen) == 0 && strcmp(uri + plen, "peerjs") == 0;
}

static gboolean segment_is_safe(const char *segment) {
	if(*segment == '\0' || strcmp(segment, ".") == 0 || strcmp(segment, "..") == 0)
		return FALSE;
	return strchr(segment, '\\') == NULL;
}

/* Resolve uri under html_root, or NULL if it is not a regular file inside it */
static char *static_file(const char *html_root, const char *uri) {
	if(html_root == NULL || uri[0] != '/')
		return NULL;
	const char *rel = uri + 1;
	if(*rel == '\0' || g_str_has_suffix(uri, "/"))
		rel = "index.html";
	char **segments = g_strsplit(rel, "/", -1);
	gboolean safe = TRUE;
	for(char **s = segments; *s != NULL && safe; s++)
		safe = segment_is_safe(*s);
	char *joined = safe ? g_build_filenamev((char *[]){ (char *)html_root, (char *)rel, NULL }) : NULL;
	g_strfreev(segments);
	if(joined == NULL)
		return NULL;
	char resolved[PATH_MAX], root[PATH_MAX];
	char *out = NULL;
	if(realpath(joined, resolved) != NULL && realpath(html_root, root) != NULL) {
		size_t rlen = strlen(root);
		if(strncmp(resolved, root, rlen) == 0 && resolved[rlen] == '/' &&
				g_file_test(resolved, G_FILE_TEST_IS_REGULAR))
			out = g_strdup(resolved);
	}
	g_free(joined);
	return out;
}

static void route_file(const peerjs_http_config *config, const char *uri, peerjs_http_answer *answer) {
	char *file = static_file(config->html_root, uri);
	if(file == NULL) {
		set_body(answer, 404, "text/plain; charset=utf-8", "Not Found");
		return;
	}
	answer->kind = PEERJS_ROUTE_FILE;
	answer->status = 200;
	answer->content_type = peerjs_http_mime_type(file);
	answer->file_path = file;
}

/* {path}<key>/<what>: returns what, or NULL when the uri has another shape */
static const char *api_suffix(const peerjs_http_config *config, const char *uri, char **key_out) {
	size_t plen = strlen(config->path);
	if(strncmp(uri, config->path, plen) != 0)
		return NULL;
	const char *rest = uri + plen;
	const char *slash = strchr(rest, '/');
	if(slash == NULL || slash == rest)
		return NULL;
	*key_out = g_strndup(rest, slash - rest);
	return slash + 1;
}

/* Our own JSON endpoints under {path}{key}/ (the key must match, unlike /id and /peers) */
static const char *link_api_route(const char *what) {
	static const char *routes[] = { "links/create", "links/list", "links/revoke", "links/redeem", "links/peek",
		"linkonly" };
	for(size_t i = 0; i < G_N_ELEMENTS(routes); i++) {
		if(strcmp(what, routes[i]) == 0)
			return routes[i];
	}
	return NULL;
}

void peerjs_http_route(const peerjs_http_config *config, const char *method, const char *uri, const char *origin,
		peerjs_http_answer *answer) {
	memset(answer, 0, sizeof(*answer));
	answer->allow_origin = allowed_origin(config, origin);
	if(strcmp(method, "OPTIONS") == 0) {
		/* CORS preflight: headers are added by the caller; no body */
		set_body(answer, 204, "text/plain; charset=utf-8", NULL);
		return;
	}
	if(strcmp(method, "POST") == 0) {
		char *key = NULL;
		const char *what = api_suffix(config, uri, &key);
		const char *route = what ? link_api_route(what) : NULL;
		if(route != NULL && strcmp(key, config->key) == 0) {
			answer->kind = PEERJS_ROUTE_LINK_API;
			answer->status = 200;
			answer->content_type = "application/json; charset=utf-8";
			answer->api_route = route;
		} else {
			set_body(answer, 404, "application/json; charset=utf-8",
				"{\"error\":{\"code\":\"not-found\",\"msg\":\"No such endpoint\"}}");
		}
		g_free(key);
		return;
	}
	if(strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		set_body(answer, 405, "text/plain; charset=utf-8", "Method Not Allowed");
		return;
	}
	/* The reference answers {path} with app.json; at "/" that URL is our web app instead */
	if(strcmp(config->path, "/") != 0 && strcmp(uri, config->path) == 0) {
		set_body(answer, 200, "application/json; charset=utf-8", app_json);
		return;
	}
	char *key = NULL;
	const char *what = api_suffix(config, uri, &key);
	/* Like the reference, /id and /peers do not check the key: only the WebSocket does */
	if(what != NULL && strcmp(what, "id") == 0) {
		answer->kind = PEERJS_ROUTE_NEW_ID;
		answer->status = 200;
		answer->content_type = "text/html; charset=utf-8";
	} else if(what != NULL && strcmp(what, "peers") == 0) {
		if(config->allow_discovery) {
			answer->kind = PEERJS_ROUTE_PEERS;
			answer->status = 200;
			answer->content_type = "application/json; charset=utf-8";
		} else {
			set_body(answer, 401, "text/plain; charset=utf-8", "Unauthorized");
		}
	} else if(what != NULL && strcmp(what, "config") == 0 && strcmp(key, config->key) == 0) {
		answer->kind = PEERJS_ROUTE_ICE_CONFIG;
		answer->status = 200;
		answer->content_type = "application/json; charset=utf-8";
	} else if(g_str_has_prefix(uri, "/l/") && strchr(uri + 3, '/') == NULL) {
		/* Share-link landing: the app's script redeems the link; opening the page alone consumes nothing */
		route_file(config, "/index.html", answer);
	} else {
		route_file(config, uri, answer);
	}
	g_free(key);
}

peerjs_client_ip_result peerjs_http_client_ip(const char *socket_ip, const char *forwarded_for, size_t forwarded_len,
		const char * const *trusted_proxies, char **client) {
	*client = NULL;
	/* An empty list means "no trusted proxies", not "trust everyone" (as an empty link whitelist would) */
	if(trusted_proxies == NULL || trusted_proxies[0] == NULL || forwarded_len == 0 ||
			!p2plink_whitelist_allows(trusted_proxies, socket_ip)) {
		*client = g_strdup(socket_ip);
		return PEERJS_CLIENT_IP_OK;
	}
	if(forwarded_len > PEERJS_XFF_MAX_LEN)
		return PEERJS_CLIENT_IP_TOO_LONG;
	/* What the caller read must be the whole header (a NUL inside, or a short copy, is not a chain we can read) */
	if(forwarded_for == NULL || strlen(forwarded_for) != forwarded_len)
		return PEERJS_CLIENT_IP_MALFORMED;
	char **hops = g_strsplit(forwarded_for, ",", -1);
	guint n = g_strv_length(hops);
	peerjs_client_ip_result result = PEERJS_CLIENT_IP_MALFORMED;
	/* Walk from the proxy nearest to us towards the client: each hop was appended by the (trusted) one after it */
	for(guint i = n; i > 0; i--) {
		char *hop = g_strstrip(hops[i - 1]);
		guint8 raw[16];
		if(!p2plink_ip_parse(hop, raw)) {
			result = PEERJS_CLIENT_IP_MALFORMED;
			break;
		}
		g_free(*client);
		*client = g_strdup(hop);
		result = PEERJS_CLIENT_IP_OK;
		if(!p2plink_whitelist_allows(trusted_proxies, hop))
			break;
	}
	g_strfreev(hops);
	if(result != PEERJS_CLIENT_IP_OK)
		g_clear_pointer(client, g_free);
	return result;
}

/* What the web app needs, and nothing more: its own scripts, styles and images (QR codes are SVG markup; avatars
 * and previews may be data:/blob: URLs), received media as blob: URLs, and the PeerJS server, which is this
 * origin over https (REST) and wss (the WebSocket; listed explicitly because 'self' matching wss: is CSP Level 3).
 * No inline script or style, no plugins, no <base>, no framing (clickjacking of Accept / Continue / link-only). */
static char *app_csp(const char *host) {
	char *base = peerjs_http_base_url(TRUE, host);
	char *wss = base != NULL ? g_strdup_printf(" wss://%s", base + strlen("https://")) : g_strdup("");
	char *csp = g_strdup_printf("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
		"media-src 'self' blob:; connect-src 'self'%s; font-src 'self'; worker-src 'self' blob:; object-src 'none'; "
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'", wss);
	g_free(wss);
	g_free(base);
	return csp;
}

guint peerjs_http_security_headers(gboolean app, gboolean secure, const char *host,
		peerjs_http_header out[PEERJS_HTTP_SECURITY_HEADERS]) {
	guint n = 0;
	out[n++] = (peerjs_http_header){ "content-security-policy:", app ? app_csp(host) :
		g_strdup("default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'") };
	out[n++] = (peerjs_http_header){ "x-content-type-options:", g_strdup("nosniff") };
	/* Share-link tokens are in our URLs: never hand them to another site */
	out[n++] = (peerjs_http_header){ "referrer-policy:", g_strdup("no-referrer") };
	/* For browsers older than frame-ancestors */
	out[n++] = (peerjs_http_header){ "x-frame-options:", g_strdup("DENY") };
	out[n++] = (peerjs_http_header){ "permissions-policy:",
		g_strdup("camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), usb=()") };
	out[n++] = (peerjs_http_header){ "cross-origin-opener-policy:", g_strdup("same-origin") };
	if(secure)
		out[n++] = (peerjs_http_header){ "strict-transport-security:", g_strdup("max-age=31536000") };
	return n;
}

void peerjs_http_headers_clear(peerjs_http_header *headers, guint n) {
	for(guint i = 0; i < n; i++)
		g_clear_pointer(&headers[i].value, g_free);
}

char *peerjs_http_base_url(gboolean secure, const char *host) {
	if(host == NULL || *host == '\0' || strlen(host) > 255)
		return NULL;
	for(const char *p = host; *p; p++) {
		if(!g_ascii_isalnum(*p) && strchr(".-:[]", *p) == NULL)
			return NULL;
	}
	return g_strdup_printf("%s://%s", secure ? "https" : "http", host);
}

gboolean peerjs_http_content_length(const char *text, guint64 *length) {
	/* Over 20 characters (2^64 has 20 digits) is only zero padding: lws 4.1 reads at most 30 characters of the
	 * header and takes a longer one as no body at all, so its request would hang instead of being read */
	if(text == NULL || *text == '\0' || strlen(text) > 20)
		return FALSE;
	for(const char *p = text; *p; p++) {
		if(!g_ascii_isdigit(*p))
			return FALSE;
	}
	/* Digits only, so this fails only on overflow */
	return g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, length, NULL);
}
