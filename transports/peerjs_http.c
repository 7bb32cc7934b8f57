/*! \file   peerjs_http.c
 * \brief  HTTP serving on the service thread (see peerjs_http.h)
 * \details What this file is for: writing the answers http_routes.c decides, and the link API's round trip to
 * the plugin's workers. What it is not for: route decisions (http_routes.c), WebSockets (peerjs_ws.c).
 */

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <debug.h>
#include <mutex.h>

#include "protocol.h"
#include "peerjs_cluster.h"
#include "peerjs_http.h"
#include "peerjs_limits.h"
#include "peerjs_loop.h"
#include "peerjs_transport.h"

#define MAX_LINK_BODY (16 * 1024)
#define BAD_FORWARDED_JSON "{\"error\":{\"code\":\"bad-forwarded-for\",\"msg\":\"The proxy's X-Forwarded-For header " \
	"is too long or malformed\"}}"
#define BAD_FRAMING_JSON "{\"error\":{\"code\":\"bad-request\",\"msg\":\"Malformed HTTP framing\"}}"
#define TOO_LARGE_JSON "{\"error\":{\"code\":\"too-large\",\"msg\":\"Request body too large\"}}"

/* A share-link HTTP request waiting for the plugin's worker. Shared with that worker thread: refcounted; wsi is
 * only touched on the service thread and only while alive. */
struct peerjs_link_request {
	gatomicrefcount ref;
	janus_mutex mutex;
	struct lws *wsi;
	gboolean alive;		/* the HTTP connection is still open (service thread writes, worker reads) */
	gboolean done;		/* reply arrived */
	int status;
	char *body;
};

/* Link requests carry the peer's PeerJS token (and link tokens) in their body, and links/create answers a new
 * link's token: wiped before they are freed, with OPENSSL_cleanse (a memset before free may be optimised away) */
static void link_body_free(GByteArray **body) {
	if(*body == NULL)
		return;
	OPENSSL_cleanse((*body)->data, (*body)->len);
	g_byte_array_free(*body, TRUE);
	*body = NULL;
}

static void link_request_unref(peerjs_link_request *pending) {
	if(pending == NULL || !g_atomic_ref_count_dec(&pending->ref))
		return;
	peerjs_http_text_wipe_free(pending->body);
	g_free(pending);
}

/* Service thread: the answer arrived, write it. alive and wsi only change on this thread, so no lock is needed
 * to read them here */
static void link_request_arm(void *item) {
	peerjs_link_request *pending = item;
	if(pending->alive && pending->wsi != NULL)
		lws_callback_on_writable(pending->wsi);
}

static void link_request_unref_item(void *item) {
	link_request_unref(item);
}

static const peerjs_wake_ops link_request_wake_ops = { .arm = link_request_arm, .unref = link_request_unref_item };

/* The plugin's worker thread delivers a share-link answer: keep it and wake the service thread to write it */
static void link_request_reply(void *ctx, int status, char *body) {
	peerjs_link_request *pending = ctx;
	janus_mutex_lock(&pending->mutex);
	pending->status = status;
	pending->body = body;
	pending->done = TRUE;
	gboolean alive = pending->alive;
	janus_mutex_unlock(&pending->mutex);
	if(alive) {
		g_atomic_ref_count_inc(&pending->ref);	/* the wake list's */
		peerjs_loop_wake(pending, &link_request_wake_ops);	/* never on a context being destroyed */
	}
	link_request_unref(pending);	/* the reference the plugin held */
}

void peerjs_serve_clear(peerjs_pss *pss) {
	/* Safe on a zeroed answer; file answers never set answer_ready, so clear unconditionally */
	peerjs_http_answer_clear(&pss->answer);
	pss->answer_ready = FALSE;
	link_body_free(&pss->body);
	if(pss->pending != NULL) {
		janus_mutex_lock(&pss->pending->mutex);
		pss->pending->alive = FALSE;
		pss->pending->wsi = NULL;
		janus_mutex_unlock(&pss->pending->mutex);
		link_request_unref(pss->pending);
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
	guint n = peerjs_http_security_headers(answer->kind == PEERJS_ROUTE_FILE, peerjs.config.secure,
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
	if(!peerjs.config.lan_only) {
		if(peerjs.config.ice_stun_urls != NULL) {
			for(char **u = peerjs.config.ice_stun_urls; *u; u++)
				json_array_append_new(urls, json_string(*u));
		} else if(peerjs.stun_server != NULL) {
			/* Our own responder, at the host name the browser used to reach us */
			char host[256];
			if(lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) > 0) {
				char *base = peerjs_http_base_url(TRUE, host);
				if(base != NULL) {
					char *name = host;
					char *colon = strrchr(host, ':');
					if(colon != NULL && strchr(host, ']') < colon)
						*colon = '\0';
					json_array_append_new(urls, json_sprintf("stun:%s:%d", name, peerjs.stun_port));
					g_free(base);
				}
			}
		}
	}
	json_t *servers = json_array();
	if(json_array_size(urls) > 0)
		json_array_append_new(servers, json_pack("{s:O}", "urls", urls));
	json_t *config = json_pack("{s:o,s:b}", "iceServers", servers, "lanOnly", peerjs.config.lan_only);
	json_decref(urls);
	return p2plink_json_text(config);
}

/* An answer that comes later, from another thread or a later loop turn, through link_request_reply (which
 * drops the second reference) */
static peerjs_link_request *answer_later(struct lws *wsi, peerjs_pss *pss) {
	peerjs_link_request *pending = g_new0(peerjs_link_request, 1);
	g_atomic_ref_count_init(&pending->ref);	/* pss's reference */
	janus_mutex_init(&pending->mutex);
	pending->wsi = wsi;
	pending->alive = TRUE;
	pss->pending = pending;
	g_atomic_ref_count_inc(&pending->ref);	/* the answerer's, dropped in link_request_reply */
	return pending;
}

/* Hand a complete share-link request to the plugin's workers; the answer arrives in link_request_reply */
static int link_api_dispatch(struct lws *wsi, peerjs_pss *pss) {
	char ip[PEERJS_IP_LEN], ua[512], host[256];
	if(!peerjs_client_address(wsi, ip, sizeof(ip)))
		return http_answer_now(wsi, pss, 400, BAD_FORWARDED_JSON);
	if(lws_hdr_copy(wsi, ua, sizeof(ua), WSI_TOKEN_HTTP_USER_AGENT) <= 0)
		ua[0] = '\0';
	char *base = NULL;
	if(lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) > 0)
		base = peerjs_http_base_url(peerjs.config.secure, host);
	peerjs_link_request *pending = answer_later(wsi, pss);
	GByteArray *body = pss->body;
	peerjs.hotpath->peer_http(pss->answer.api_route, body ? (const char *)body->data : NULL, body ? body->len : 0, ip,
		ua[0] ? ua : NULL, base, link_request_reply, pending);
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
const char *peerjs_serve_framing_problem(struct lws *wsi) {
	if(lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
			lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
		return "both Content-Length and Transfer-Encoding";
	if(lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 && !http_content_length(wsi, NULL))
		return "a Content-Length that is not a plain number";
	return NULL;
}

int peerjs_serve_request(struct lws *wsi, peerjs_pss *pss, const char *uri) {
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
	peerjs_serve_clear(pss);
	char ip[PEERJS_IP_LEN];
	if(!peerjs_client_address(wsi, ip, sizeof(ip))) {
		pss->close_after = TRUE;
		return http_answer_now(wsi, pss, 400, BAD_FORWARDED_JSON);
	}
	const char *framing = peerjs_serve_framing_problem(wsi);
	if(framing != NULL) {
		JANUS_LOG(LOG_VERB, "%s: refusing an HTTP request from %s: %s\n", JANUS_PEERJS_NAME, ip, framing);
		pss->close_after = TRUE;
		return http_answer_now(wsi, pss, 400, BAD_FRAMING_JSON);
	}
	peerjs_http_route(&peerjs.http, method, uri, origin[0] ? origin : NULL, &pss->answer);
	peerjs_http_answer *answer = &pss->answer;
	if(answer->kind == PEERJS_ROUTE_FILE)
		return http_serve_file(wsi, answer);
	if(answer->kind == PEERJS_ROUTE_NEW_ID) {
		answer->body = random_uuid();
		if(answer->body == NULL) {
			answer->status = 500;
			answer->body = g_strdup("Internal Server Error");
		}
	} else if(answer->kind == PEERJS_ROUTE_PEERS && peerjs_cluster_enabled()) {
		/* The whole cluster's ids: Redis is asked, the answer is written when it comes */
		pss->answer_ready = TRUE;
		peerjs_cluster_discover(link_request_reply, answer_later(wsi, pss));
		return 0;
	} else if(answer->kind == PEERJS_ROUTE_PEERS) {
		answer->body = peerjs.hotpath->discoverable_ids_json();
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
			return http_answer_now(wsi, pss, 413, TOO_LARGE_JSON);
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

int peerjs_serve_writeable(struct lws *wsi, peerjs_pss *pss) {
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
		link_request_unref(pss->pending);
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
	peerjs_serve_clear(pss);
	pss->headers_sent = FALSE;
	if(pss->close_after)
		return -1;
	if(lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}


int peerjs_serve_body(struct lws *wsi, peerjs_pss *pss, const void *in, size_t len) {
	if(pss->body == NULL)
		return 0;
	if(pss->body->len + len > MAX_LINK_BODY)
		return http_answer_now(wsi, pss, 413, TOO_LARGE_JSON);
	g_byte_array_append(pss->body, in, len);
	return 0;
}

int peerjs_serve_body_done(struct lws *wsi, peerjs_pss *pss) {
	if(pss->body == NULL)
		return 0;
	return link_api_dispatch(wsi, pss);
}
