/*
 * p2plink_errors.h — the one list of stable error codes of the admin API and the peer link endpoints, and the two
 * answers built from it.
 *
 * What it is for: every refusal the plugin answers names a row here: its machine code (API: the app, the CLI and
 * the tests read these strings, so a code never changes meaning or spelling), the HTTP status a peer endpoint
 * answers with, the number an admin answer carries in "error_code" (Janus plugin convention), and a default
 * sentence. A caller may give a more precise sentence (a TTL rule that names the maximum); never a token.
 * What it is not for: PeerJS frame errors (protocol.c's codes go out in ERROR / P2PLINK-REFUSED frames), the
 * Janus API's own 47x answers to "bind", or the transport's HTTP framing errors.
 *
 * The answers:
 *   admin  {"p2plink":"error","error_code":<number>,"code":"<code>","error":"<sentence>"}
 *   peer   HTTP <status> {"error":{"code":"<code>","msg":"<sentence>"}}
 */

#ifndef P2PLINK_ERRORS_H
#define P2PLINK_ERRORS_H

#include <glib.h>
#include <jansson.h>

/* Admin "error_code" numbers: 48x for the registry's requests, 49x for the links', 470 as the plugin's own */
#define P2PLINK_ADMIN_ERROR_INVALID_REQUEST	480
#define P2PLINK_ADMIN_ERROR_MISSING_ELEMENT	481
#define P2PLINK_ADMIN_ERROR_INVALID_ELEMENT	482
#define P2PLINK_ADMIN_ERROR_NOT_FOUND		483
#define P2PLINK_ADMIN_ERROR_UNAVAILABLE		484
#define P2PLINK_ADMIN_ERROR_LINK_INVALID	490
#define P2PLINK_ADMIN_ERROR_LINK_NOT_FOUND	491
#define P2PLINK_ADMIN_ERROR_LINK_STORE		492
#define P2PLINK_ADMIN_ERROR_PLUGIN			470

#define P2PLINK_LINKS_UNAVAILABLE	"Share links are unavailable right now"
#define P2PLINK_LINKS_UNAVAILABLE_CALLS_WORK	P2PLINK_LINKS_UNAVAILABLE "; calls still work"

/* X(id, code, HTTP status, admin error_code, default sentence) */
#define P2PLINK_ERRORS(X) \
	X(INVALID_REQUEST, "invalid-request", 400, P2PLINK_ADMIN_ERROR_INVALID_REQUEST, \
		"The admin request must be a JSON object") \
	X(UNKNOWN_REQUEST, "unknown-request", 404, P2PLINK_ADMIN_ERROR_INVALID_REQUEST, \
		"Unknown request (README.md lists the admin requests and link endpoints)") \
	X(MISSING_ELEMENT, "missing-element", 400, P2PLINK_ADMIN_ERROR_MISSING_ELEMENT, "Missing element") \
	X(INVALID_ELEMENT, "invalid-element", 400, P2PLINK_ADMIN_ERROR_INVALID_ELEMENT, "Invalid element") \
	X(NO_SUCH_PEER, "no-such-peer", 404, P2PLINK_ADMIN_ERROR_NOT_FOUND, "No such peer is connected") \
	X(NO_TRANSPORT, "transport-unavailable", 503, P2PLINK_ADMIN_ERROR_UNAVAILABLE, \
		"janus.transport.peerjs is not loaded: no peers can connect") \
	X(SHUTTING_DOWN, "shutting-down", 503, P2PLINK_ADMIN_ERROR_PLUGIN, "Shutting down") \
	X(BAD_REQUEST, "bad-request", 400, P2PLINK_ADMIN_ERROR_LINK_INVALID, "The request is not valid") \
	X(BAD_TTL, "bad-ttl", 400, P2PLINK_ADMIN_ERROR_LINK_INVALID, "The TTL is not valid") \
	X(TTL_TOO_LONG, "ttl-too-long", 400, P2PLINK_ADMIN_ERROR_LINK_INVALID, "The TTL is longer than allowed") \
	X(BAD_CIDR, "bad-cidr", 400, P2PLINK_ADMIN_ERROR_LINK_INVALID, "A whitelist entry is not a network") \
	X(NOT_FOUND, "not-found", 404, P2PLINK_ADMIN_ERROR_LINK_NOT_FOUND, "No such link") \
	X(LIMIT, "limit", 429, P2PLINK_ADMIN_ERROR_LINK_STORE, "You already have the maximum number of active links") \
	X(EXISTS, "exists", 409, P2PLINK_ADMIN_ERROR_LINK_STORE, P2PLINK_LINKS_UNAVAILABLE) \
	X(INVALID, "invalid", 400, P2PLINK_ADMIN_ERROR_LINK_STORE, P2PLINK_LINKS_UNAVAILABLE) \
	X(STORE_UNAVAILABLE, "store-unavailable", 503, P2PLINK_ADMIN_ERROR_LINK_STORE, \
		P2PLINK_LINKS_UNAVAILABLE_CALLS_WORK) \
	X(STORE_READ_ONLY, "store-read-only", 503, P2PLINK_ADMIN_ERROR_LINK_STORE, P2PLINK_LINKS_UNAVAILABLE_CALLS_WORK) \
	X(STORE_BUSY, "store-busy", 503, P2PLINK_ADMIN_ERROR_LINK_STORE, P2PLINK_LINKS_UNAVAILABLE_CALLS_WORK) \
	X(STORE_SCHEMA, "store-schema", 503, P2PLINK_ADMIN_ERROR_LINK_STORE, P2PLINK_LINKS_UNAVAILABLE) \
	X(STORE_INTERNAL, "store-internal", 503, P2PLINK_ADMIN_ERROR_LINK_STORE, P2PLINK_LINKS_UNAVAILABLE) \
	X(INTERNAL, "internal", 500, P2PLINK_ADMIN_ERROR_LINK_STORE, P2PLINK_LINKS_UNAVAILABLE) \
	X(TOO_MANY_LINKS, "too-many-links", 429, P2PLINK_ADMIN_ERROR_LINK_INVALID, \
		"You are creating links too fast; try again in a minute") \
	X(TOO_MANY_ATTEMPTS, "too-many-attempts", 429, P2PLINK_ADMIN_ERROR_LINK_INVALID, \
		"Too many link attempts from your network; try again in a minute") \
	X(NOT_CONNECTED, "not-connected", 401, P2PLINK_ADMIN_ERROR_LINK_INVALID, \
		"id and token of a connected peer are required")

typedef enum p2plink_error_id {
#define P2PLINK_ERROR_ENUM(id, code, http, admin, sentence) P2PLINK_E_##id,
	P2PLINK_ERRORS(P2PLINK_ERROR_ENUM)
#undef P2PLINK_ERROR_ENUM
	P2PLINK_E_COUNT
} p2plink_error_id;

typedef struct p2plink_error_info {
	const char *code;
	int http_status;
	int admin_code;
	const char *sentence;
} p2plink_error_info;

/* The row of id (the INTERNAL row for an id out of range) */
const p2plink_error_info *p2plink_error_info_of(p2plink_error_id id);
/* The id whose code is `code` ("bad-ttl" → P2PLINK_E_BAD_TTL); P2PLINK_E_INTERNAL for a code not in the list */
p2plink_error_id p2plink_error_by_code(const char *code);
/* The id of a store or link-rule GError (by its stable code); P2PLINK_E_INTERNAL for any other domain */
p2plink_error_id p2plink_error_of_gerror(const GError *error);

/* The admin answer for id; sentence NULL: the row's */
json_t *p2plink_error_admin(p2plink_error_id id, const char *sentence);
/* The peer answer for id, *status set to its HTTP status; sentence NULL: the row's */
json_t *p2plink_error_peer(p2plink_error_id id, const char *sentence, int *status);

#endif
