/*! \file    links.h
 * \brief   p2plink share links: TTL grammar, IP whitelists, tokens, rules
 * \details Pure functions for share links: parse a TTL, parse and match
 * IPv4/IPv6 CIDR whitelists, mint and hash link tokens, the link model with
 * its JSON form for the admin/peer APIs, and the rule evaluation that says
 * whether a visitor may redeem a link right now.
 *
 * What this file is NOT for: storage (see store.h), Janus glue, logging,
 * or deciding *who* may create a link. Nothing here touches Janus headers
 * or does I/O other than asking OpenSSL for random bytes, so every function
 * can be unit-tested and fuzzed on its own.
 *
 * Conventions:
 * - Times are microseconds since the Unix epoch (what g_get_real_time() and
 *   janus_get_real_time() return). expires_at == 0 means "never expires".
 * - Errors come back as GError in the P2PLINK_LINK_ERROR domain with a
 *   stable code (see p2plink_link_error_code()) and a sentence for humans.
 *
 * TTL grammar (strict, case-sensitive, no spaces, no sign):
 * \verbatim
     ttl    = number [ unit ]
     number = nonzero-digit *DIGIT        ; no leading zeros, value >= 1
     unit   = "s" | "m" | "min" | "h" | "d"
   \endverbatim
 * A bare number is seconds. "m" and "min" both mean minutes (there is no
 * month unit). Examples: "10s", "90s", "5min", "30m", "2h", "1d", "3600".
 * Rejected: "", " 5s", "5 min", "5s ", "-1h", "+1h", "0s", "05m", "5M",
 * "5mins", "1.5h", numbers that overflow, and anything longer than the
 * caller's maximum or P2PLINK_TTL_HARD_MAX_SECONDS.
 *
 * IP whitelist entries (parsed with inet_pton, never by hand):
 * - "192.0.2.7", "2001:db8::1"             single address
 * - "192.0.2.0/24", "2001:db8::/32"        CIDR range
 * - "::ffff:192.0.2.0/120"                 IPv4-mapped IPv6 written as IPv6
 * Host bits after the prefix are REJECTED ("10.1.2.3/8" is an error that
 * suggests "10.0.0.0/8"): a typo in an access rule should fail loudly
 * rather than silently widen or narrow the range. All addresses are
 * compared in 128-bit form with IPv4 as ::ffff:a.b.c.d, so an IPv4 rule
 * matches an IPv4-mapped client address and vice versa. Consequence: an
 * IPv6 rule "::/0" matches every client, "0.0.0.0/0" only IPv4 clients.
 * Client addresses with a zone ("fe80::1%eth0") or brackets never match.
 *
 * \author  p2plink
 */

#ifndef P2PLINK_LINKS_H
#define P2PLINK_LINKS_H

#include <glib.h>
#include <jansson.h>

/* ---- Errors ---- */

#define P2PLINK_LINK_ERROR (p2plink_link_error_quark())
GQuark p2plink_link_error_quark(void);

typedef enum p2plink_link_error {
	P2PLINK_LINK_ERROR_BAD_TTL,		/* "bad-ttl": not in the TTL grammar */
	P2PLINK_LINK_ERROR_TTL_TOO_LONG,	/* "ttl-too-long": above the allowed maximum */
	P2PLINK_LINK_ERROR_BAD_CIDR,		/* "bad-cidr": whitelist entry unusable */
	P2PLINK_LINK_ERROR_BAD_REQUEST,	/* "bad-request": other field missing/wrong */
	P2PLINK_LINK_ERROR_INTERNAL,		/* "internal": e.g. OpenSSL RAND failed */
} p2plink_link_error;

/* Stable machine code for a P2PLINK_LINK_ERROR code, e.g. "bad-ttl" */
const char *p2plink_link_error_code(int code);

/* ---- TTL ---- */

/* 100 years: keeps now + ttl in microseconds far from gint64 overflow */
#define P2PLINK_TTL_HARD_MAX_SECONDS G_GINT64_CONSTANT(3155760000)

/* Parse a TTL (grammar above) into seconds. max_seconds <= 0 means "no
 * configured maximum" (the hard maximum still applies). */
gboolean p2plink_ttl_parse(const char *s, gint64 max_seconds, gint64 *out_seconds, GError **error);
/* Shortest exact spelling of a positive number of seconds in the grammar,
 * e.g. 86400 -> "1d", 90 -> "90s", 300 -> "5min". Caller frees. */
char *p2plink_ttl_format(gint64 seconds);

/* ---- IP addresses and CIDR whitelists ---- */

typedef struct p2plink_cidr {
	guint8 addr[16];	/* network address; IPv4 stored as ::ffff:a.b.c.d */
	guint prefix;		/* 0..128 bits over the 16-byte form */
	gboolean written_v4;	/* entry was written in IPv4 notation (for formatting) */
} p2plink_cidr;

/* Parse one whitelist entry; see the header comment for what is accepted */
gboolean p2plink_cidr_parse(const char *text, p2plink_cidr *out, GError **error);
/* Canonical text of a parsed entry ("10.0.0.0/8", "2001:db8::1"). Caller frees. */
char *p2plink_cidr_to_string(const p2plink_cidr *cidr);
/* Parse a client address (IPv4 or IPv6, no prefix) into 16-byte form */
gboolean p2plink_ip_parse(const char *text, guint8 out[16]);
gboolean p2plink_cidr_contains(const p2plink_cidr *cidr, const guint8 ip[16]);
/* TRUE if the whitelist is empty/NULL, or client_ip parses and matches one
 * entry. A NULL or unparsable client_ip never passes a non-empty whitelist.
 * Unparsable entries match nothing (fail closed). */
gboolean p2plink_whitelist_allows(const char * const *whitelist, const char *client_ip);

/* ---- Tokens ---- */

#define P2PLINK_TOKEN_BYTES 32		/* 256 bits of OpenSSL RAND */
#define P2PLINK_TOKEN_LEN 43		/* URL-safe base64 of 32 bytes, no padding */
#define P2PLINK_TOKEN_HASH_LEN 64	/* hex SHA-256 */
#define P2PLINK_LINK_ID_LEN 16		/* URL-safe base64 of 12 random bytes */

/* A fresh link token: 32 bytes from RAND_bytes, URL-safe base64 without
 * padding (43 chars of [A-Za-z0-9_-]). NULL + error if RAND fails. */
char *p2plink_token_new(GError **error);
/* A fresh public link id (16 chars, same alphabet): not a secret, used to
 * list/revoke/delete a link without ever handling its token. */
char *p2plink_link_id_new(GError **error);
/* TRUE if s has the exact shape of a token (length and alphabet) */
gboolean p2plink_token_looks_valid(const char *s);
/* Lowercase hex SHA-256 of the token string. Links are stored and looked
 * up only by this hash, so a leaked database does not leak live tokens. */
char *p2plink_token_hash(const char *token);

/* ---- Link model ---- */

/* Creator of links made through the admin API. '@' cannot occur in a
 * PeerJS id, so no peer can pass itself off as the admin. */
#define P2PLINK_CREATOR_ADMIN "@admin"
#define P2PLINK_PURPOSE_MAX_CHARS 64
#define P2PLINK_WHITELIST_MAX 64	/* entries per link */

typedef struct p2plink_link {
	char *id;		/* public id (P2PLINK_LINK_ID_LEN chars), not a secret */
	char *token_hash;	/* hex SHA-256 of the token; the token itself is never kept */
	char *target;		/* peer id the link reaches */
	char *purpose;		/* "call", "file" or a free label, 1..64 characters */
	char *creator;		/* P2PLINK_CREATOR_ADMIN or the creating peer's id (information only) */
	char *owner;		/* whom the link reaches: p2plink_peer_owner() of that person (hex SHA-256 of
				 * their PeerJS token); NULL = an admin link not claimed yet (see link_service.c) */
	gint64 created_at;	/* us since epoch */
	gint64 expires_at;	/* us since epoch; 0 = never. Expired when now >= expires_at */
	guint32 max_clicks;	/* successful redemptions allowed; 0 = unlimited */
	guint32 clicks;		/* successful redemptions so far */
	gchar **whitelist;	/* NULL-terminated canonical CIDR strings; NULL/empty = any IP */
	gboolean revoked;
	gint64 revoked_at;	/* us since epoch when first revoked; 0 if not revoked (or revoked before v2) */
} p2plink_link;

p2plink_link *p2plink_link_new(void);		/* all fields zero/NULL */
p2plink_link *p2plink_link_copy(const p2plink_link *link);
void p2plink_link_free(p2plink_link *link);	/* NULL-safe */

/* Limits the operator configured for link creation */
typedef struct p2plink_link_limits {
	gint64 max_ttl_seconds;		/* <= 0: only the hard maximum */
	gint64 default_ttl_seconds;	/* used when "ttl" is absent; 0 = "ttl" required */
} p2plink_link_limits;

/* Build a new link from a create request:
 * \verbatim
   { "target": "peer-id",              required, 1..256 bytes
     "purpose": "call",                optional, default "call", 1..64 chars
     "ttl": "5min" | 300,              string in the TTL grammar or positive integer seconds
     "max_clicks": 10,                 optional, 0..4294967295, default 0 = unlimited
     "whitelist": ["10.0.0.0/8", ...]  optional, at most P2PLINK_WHITELIST_MAX entries }
   \endverbatim
 * Unknown keys are ignored (Janus style). Mints the token, its hash and the
 * public id; the token is returned once in *token_out (caller frees) and is
 * never stored in the struct. Whitelist entries are stored canonicalised. */
p2plink_link *p2plink_link_from_create_json(const json_t *request, const char *creator,
	gint64 now, const p2plink_link_limits *limits, char **token_out, GError **error);
/* JSON for the admin/peer APIs. Includes a computed "status"
 * ("active", "expired", "exhausted", "revoked") at `now`. The token hash is
 * added only when include_token_hash is TRUE; the token never is. */
json_t *p2plink_link_to_json(const p2plink_link *link, gint64 now, gboolean include_token_hash);

/* ---- Rules ---- */

typedef enum p2plink_link_outcome {
	P2PLINK_LINK_OK = 0,
	P2PLINK_LINK_EXPIRED,
	P2PLINK_LINK_EXHAUSTED,
	P2PLINK_LINK_IP_DENIED,
	P2PLINK_LINK_REVOKED,
	P2PLINK_LINK_UNKNOWN,
	P2PLINK_LINK_NOT_ONLINE,	/* the target id is held by nobody, or by someone who is not the link's owner */
	P2PLINK_LINK_PREVIEW,		/* click-log only: a peek, never a check result and never a click */
	P2PLINK_LINK_OUTCOME_COUNT
} p2plink_link_outcome;

/* Decide whether a visitor at client_ip may redeem link l at time now.
 * l == NULL -> UNKNOWN. Order of checks, first failure wins:
 *   revoked -> expired (now >= expires_at; exactly at expiry IS expired)
 *   -> ip-denied -> exhausted (clicks >= max_clicks, so the click that
 *   makes clicks == max_clicks was the last one granted).
 * IP comes before exhaustion so a visitor from a foreign network learns
 * nothing about how much a link has been used. Pure: does not count. */
p2plink_link_outcome p2plink_link_check(const p2plink_link *l, gint64 now, const char *client_ip);
/* p2plink_link_check(), then the owner rule: `holder` is the owner of whoever holds l->target right now
 * (p2plink_registry_owner_of(), NULL = nobody). NOT_ONLINE when nobody holds it, or when the link has an owner and
 * the holder is someone else (an impostor on a freed id is told nothing more than "not online"). An unclaimed link
 * (owner NULL) held by someone passes: the store then records that holder as its owner in the same atomic step.
 * Last, so that a used-up or withdrawn link says so whoever is online. */
p2plink_link_outcome p2plink_link_check_owner(const p2plink_link *l, gint64 now, const char *client_ip,
	const char *holder);
/* Stable codes: "ok", "expired", "exhausted", "ip-denied", "revoked", "unknown", "not-online", "preview" */
const char *p2plink_link_outcome_code(p2plink_link_outcome outcome);
/* Parse a stable code back; FALSE if unknown */
gboolean p2plink_link_outcome_from_code(const char *code, p2plink_link_outcome *out);
/* Plain-words sentence for the visitor; never mentions target or rules */
const char *p2plink_link_outcome_message(p2plink_link_outcome outcome);

/* ---- Click log entries (filled by stores) ---- */

#define P2PLINK_USER_AGENT_MAX 512	/* bytes kept of a user agent */

typedef struct p2plink_click {
	gint64 id;		/* store-assigned, increases with time of logging */
	char *link_id;		/* public id; NULL when the token matched no link */
	gint64 at;		/* us since epoch */
	char *client_ip;	/* NULL when the request carried no attested IP */
	char *user_agent;	/* NULL if absent */
	p2plink_link_outcome outcome;
} p2plink_click;

void p2plink_click_free(p2plink_click *click);	/* NULL-safe */
json_t *p2plink_click_to_json(const p2plink_click *click);
/* A user agent safe to store: valid UTF-8 (invalid bytes replaced), at
 * most P2PLINK_USER_AGENT_MAX bytes, cut on a character boundary.
 * NULL in -> NULL out. Caller frees. */
char *p2plink_user_agent_clean(const char *ua);
/* The click log's privacy mode: an address cut to its network, IPv4 to /24 ("192.0.2.0"), IPv6 to /48
 * ("2001:db8:1::"); IPv4-mapped IPv6 counts as IPv4. NULL or unparsable in -> NULL out. Caller frees. */
char *p2plink_ip_truncate(const char *ip);
/* TRUE if s is 64 lowercase hex characters (an owner hash as p2plink_peer_owner() gives) */
gboolean p2plink_owner_looks_valid(const char *s);

#endif
