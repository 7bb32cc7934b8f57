/*! \file    links.c
 * \brief   p2plink share links: TTL grammar, IP whitelists, tokens, rules
 * \details Implementation of links.h. Pure: plain inputs, plain outputs,
 * errors as GError values with a stable code. The only outside world it
 * touches is OpenSSL (RAND_bytes for tokens, EVP for SHA-256) and libc's
 * inet_pton/inet_ntop for addresses.
 *
 * Not for: storage, logging, Janus glue, per-peer quotas (the plugin and
 * the store enforce those).
 *
 * \author  p2plink
 */

#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "links.h"

G_DEFINE_QUARK(p2plink-link-error-quark, p2plink_link_error)

const char *p2plink_link_error_code(int code) {
	switch(code) {
		case P2PLINK_LINK_ERROR_BAD_TTL: return "bad-ttl";
		case P2PLINK_LINK_ERROR_TTL_TOO_LONG: return "ttl-too-long";
		case P2PLINK_LINK_ERROR_BAD_CIDR: return "bad-cidr";
		case P2PLINK_LINK_ERROR_BAD_REQUEST: return "bad-request";
		default: return "internal";
	}
}

/* ---- TTL ---- */

typedef struct ttl_unit {
	const char *name;
	gint64 seconds;
} ttl_unit;

/* "" is the bare-number case: seconds */
static const ttl_unit ttl_units[] = {
	{ "", 1 }, { "s", 1 }, { "m", 60 }, { "min", 60 }, { "h", 3600 }, { "d", 86400 },
};

/* Shared by the string and the integer form of a TTL, so both give the
 * same error for the same value */
static gboolean ttl_check_range(gint64 seconds, gint64 max_seconds, GError **error) {
	if(seconds < 1) {
		g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_BAD_TTL,
			"TTL must be at least 1 second");
		return FALSE;
	}
	gint64 limit = P2PLINK_TTL_HARD_MAX_SECONDS;
	if(max_seconds > 0 && max_seconds < limit)
		limit = max_seconds;
	if(seconds > limit) {
		char *max = p2plink_ttl_format(limit);
		g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_TTL_TOO_LONG,
			"TTL is longer than the maximum of %s", max);
		g_free(max);
		return FALSE;
	}
	return TRUE;
}

/* The digits of a TTL: at least one, no leading zero, no overflow.
 * Leaves *end on the first non-digit. */
static gboolean ttl_parse_number(const char *s, gint64 *value, const char **end, GError **error) {
	const char *p = s;
	gint64 v = 0;
	while(g_ascii_isdigit(*p)) {
		int d = *p - '0';
		if(v > (G_MAXINT64 - d) / 10) {
			g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_BAD_TTL,
				"TTL number is too large");
			return FALSE;
		}
		v = v * 10 + d;
		p++;
	}
	if(p == s) {
		g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_BAD_TTL,
			"TTL must start with a number, like 10s, 5min, 2h or 1d");
		return FALSE;
	}
	/* "0s" is caught by the range check; "05m" is a different mistake */
	if(s[0] == '0' && v != 0) {
		g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_BAD_TTL,
			"TTL number must not start with 0");
		return FALSE;
	}
	*value = v;
	*end = p;
	return TRUE;
}

gboolean p2plink_ttl_parse(const char *s, gint64 max_seconds, gint64 *out_seconds, GError **error) {
	if(s == NULL || *s == '\0') {
		g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_BAD_TTL,
			"TTL is empty; write it like 10s, 5min, 2h or 1d");
		return FALSE;
	}
	/* Catch the common mistakes first so the message names them */
	for(const char *p = s; *p; p++) {
		if(g_ascii_isspace(*p)) {
			g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_BAD_TTL,
				"TTL must not contain spaces (write 5min, not 5 min)");
			return FALSE;
		}
	}
	if(s[0] == '-' || s[0] == '+') {
		g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_BAD_TTL,
			"TTL must not have a sign");
		return FALSE;
	}
	gint64 number = 0;
	const char *unit = NULL;
	if(!ttl_parse_number(s, &number, &unit, error))
		return FALSE;
	if(*unit == '.' || *unit == ',') {
		g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_BAD_TTL,
			"TTL must be a whole number (write 90min, not 1.5h)");
		return FALSE;
	}
	gint64 multiplier = 0;
	for(guint i = 0; i < G_N_ELEMENTS(ttl_units); i++) {
		if(strcmp(unit, ttl_units[i].name) == 0)
			multiplier = ttl_units[i].seconds;
	}
	if(multiplier == 0) {
		g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_BAD_TTL,
			"unknown TTL unit; use s, m (or min), h or d, like 10s, 5min, 2h or 1d");
		return FALSE;
	}
	if(number > G_MAXINT64 / multiplier) {
		g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_BAD_TTL,
			"TTL number is too large");
		return FALSE;
	}
	if(!ttl_check_range(number * multiplier, max_seconds, error))
		return FALSE;
	*out_seconds = number * multiplier;
	return TRUE;
}

char *p2plink_ttl_format(gint64 seconds) {
	if(seconds > 0 && seconds % 86400 == 0)
		return g_strdup_printf("%" G_GINT64_FORMAT "d", seconds / 86400);
	if(seconds > 0 && seconds % 3600 == 0)
		return g_strdup_printf("%" G_GINT64_FORMAT "h", seconds / 3600);
	if(seconds > 0 && seconds % 60 == 0)
		return g_strdup_printf("%" G_GINT64_FORMAT "min", seconds / 60);
	return g_strdup_printf("%" G_GINT64_FORMAT "s", seconds);
}

/* ---- IP addresses and CIDR ---- */

/* Both helpers put IPv4 in its IPv4-mapped IPv6 form so a single 128-bit
 * comparison serves every combination of rule and client family. */
static gboolean ip_parse_family(const char *text, guint8 out[16], gboolean *v4) {
	if(strchr(text, ':') != NULL) {
		struct in6_addr a6;
		if(inet_pton(AF_INET6, text, &a6) != 1)
			return FALSE;
		memcpy(out, &a6, 16);
		*v4 = FALSE;
		return TRUE;
	}
	struct in_addr a4;
	if(inet_pton(AF_INET, text, &a4) != 1)
		return FALSE;
	memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	memcpy(out + 12, &a4, 4);
	*v4 = TRUE;
	return TRUE;
}

gboolean p2plink_ip_parse(const char *text, guint8 out[16]) {
	gboolean v4 = FALSE;
	if(text == NULL)
		return FALSE;
	return ip_parse_family(text, out, &v4);
}

/* Clear every bit after the first `prefix` bits */
static void mask_bits(guint8 addr[16], guint prefix) {
	for(guint i = 0; i < 16; i++) {
		guint bit = i * 8;
		if(bit >= prefix)
			addr[i] = 0;
		else if(prefix - bit < 8)
			addr[i] &= (guint8)(0xff << (8 - (prefix - bit)));
	}
}

/* Prefix length: 1..3 digits, no leading zero, at most max */
static gboolean cidr_parse_prefix(const char *s, guint max, guint *out) {
	size_t len = strlen(s);
	if(len < 1 || len > 3 || (len > 1 && s[0] == '0'))
		return FALSE;
	guint v = 0;
	for(size_t i = 0; i < len; i++) {
		if(!g_ascii_isdigit(s[i]))
			return FALSE;
		v = v * 10 + (guint)(s[i] - '0');
	}
	if(v > max)
		return FALSE;
	*out = v;
	return TRUE;
}

static gboolean cidr_fail(GError **error, const char *text, const char *why) {
	char *echo = g_strescape(text, NULL);
	g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_BAD_CIDR,
		"whitelist entry '%s' %s", echo, why);
	g_free(echo);
	return FALSE;
}

/* A host-bits error names the range the admin probably meant */
static gboolean cidr_fail_host_bits(GError **error, const char *text, const p2plink_cidr *masked) {
	char *meant = p2plink_cidr_to_string(masked);
	char *why = g_strdup_printf("has address bits set after the prefix; did you mean %s?", meant);
	cidr_fail(error, text, why);
	g_free(why);
	g_free(meant);
	return FALSE;
}

gboolean p2plink_cidr_parse(const char *text, p2plink_cidr *out, GError **error) {
	char buf[INET6_ADDRSTRLEN + 5];
	if(text == NULL || *text == '\0')
		return cidr_fail(error, "", "is empty");
	if(strlen(text) >= sizeof(buf))
		return cidr_fail(error, "...", "is too long to be an address or CIDR range");
	g_strlcpy(buf, text, sizeof(buf));
	char *slash = strchr(buf, '/');
	if(slash != NULL)
		*slash = '\0';
	p2plink_cidr c = { { 0 }, 0, FALSE };
	if(!ip_parse_family(buf, c.addr, &c.written_v4))
		return cidr_fail(error, text, "is not an IPv4 or IPv6 address or CIDR range");
	guint max = c.written_v4 ? 32 : 128;
	guint prefix = max;
	if(slash != NULL && !cidr_parse_prefix(slash + 1, max, &prefix)) {
		return cidr_fail(error, text, c.written_v4 ?
			"has a bad prefix length (IPv4: /0 to /32)" : "has a bad prefix length (IPv6: /0 to /128)");
	}
	c.prefix = c.written_v4 ? prefix + 96 : prefix;
	p2plink_cidr masked = c;
	mask_bits(masked.addr, masked.prefix);
	if(memcmp(masked.addr, c.addr, 16) != 0)
		return cidr_fail_host_bits(error, text, &masked);
	*out = c;
	return TRUE;
}

char *p2plink_cidr_to_string(const p2plink_cidr *cidr) {
	char addr[INET6_ADDRSTRLEN];
	guint full = cidr->written_v4 ? 32 : 128;
	guint prefix = cidr->written_v4 ? cidr->prefix - 96 : cidr->prefix;
	if(cidr->written_v4)
		inet_ntop(AF_INET, cidr->addr + 12, addr, sizeof(addr));
	else
		inet_ntop(AF_INET6, cidr->addr, addr, sizeof(addr));
	if(prefix == full)
		return g_strdup(addr);
	return g_strdup_printf("%s/%u", addr, prefix);
}

gboolean p2plink_cidr_contains(const p2plink_cidr *cidr, const guint8 ip[16]) {
	guint8 masked[16];
	memcpy(masked, ip, 16);
	mask_bits(masked, cidr->prefix);
	return memcmp(masked, cidr->addr, 16) == 0;
}

gboolean p2plink_whitelist_allows(const char * const *whitelist, const char *client_ip) {
	if(whitelist == NULL || whitelist[0] == NULL)
		return TRUE;
	guint8 ip[16];
	if(!p2plink_ip_parse(client_ip, ip))
		return FALSE;
	for(guint i = 0; whitelist[i] != NULL; i++) {
		p2plink_cidr c;
		if(p2plink_cidr_parse(whitelist[i], &c, NULL) && p2plink_cidr_contains(&c, ip))
			return TRUE;
	}
	return FALSE;
}

/* ---- Tokens ---- */

/* n random bytes as URL-safe base64 without padding. GLib does the base64;
 * we only swap the two characters that are not URL-safe. */
static char *random_urlsafe(int n, GError **error) {
	guint8 raw[64];
	g_assert(n > 0 && n <= (int)sizeof(raw));
	if(RAND_bytes(raw, n) != 1) {
		g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_INTERNAL,
			"the random number generator failed");
		return NULL;
	}
	char *s = g_base64_encode(raw, n);
	OPENSSL_cleanse(raw, sizeof(raw));
	for(char *p = s; *p; p++) {
		if(*p == '+')
			*p = '-';
		else if(*p == '/')
			*p = '_';
		else if(*p == '=')
			*p = '\0';
		if(*p == '\0')
			break;
	}
	return s;
}

char *p2plink_token_new(GError **error) {
	return random_urlsafe(P2PLINK_TOKEN_BYTES, error);
}

char *p2plink_link_id_new(GError **error) {
	return random_urlsafe(12, error);
}

gboolean p2plink_token_looks_valid(const char *s) {
	if(s == NULL || strlen(s) != P2PLINK_TOKEN_LEN)
		return FALSE;
	for(const char *p = s; *p; p++) {
		if(!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
			return FALSE;
	}
	return TRUE;
}

char *p2plink_token_hash(const char *token) {
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if(token == NULL)
		return NULL;
	if(EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL) != 1)
		return NULL;
	static const char hex[] = "0123456789abcdef";
	char *out = g_malloc(len * 2 + 1);
	for(unsigned int i = 0; i < len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[len * 2] = '\0';
	return out;
}

/* ---- Link model ---- */

p2plink_link *p2plink_link_new(void) {
	return g_new0(p2plink_link, 1);
}

p2plink_link *p2plink_link_copy(const p2plink_link *link) {
	if(link == NULL)
		return NULL;
	p2plink_link *c = g_new0(p2plink_link, 1);
	*c = *link;
	c->id = g_strdup(link->id);
	c->token_hash = g_strdup(link->token_hash);
	c->target = g_strdup(link->target);
	c->purpose = g_strdup(link->purpose);
	c->creator = g_strdup(link->creator);
	c->owner = g_strdup(link->owner);
	c->whitelist = g_strdupv(link->whitelist);
	return c;
}

void p2plink_link_free(p2plink_link *link) {
	if(link == NULL)
		return;
	g_free(link->id);
	g_free(link->token_hash);
	g_free(link->target);
	g_free(link->purpose);
	g_free(link->creator);
	g_free(link->owner);
	g_strfreev(link->whitelist);
	g_free(link);
}

/* A short human string: valid UTF-8, no control characters, length in range */
static gboolean text_field_ok(const char *s, gsize min_chars, gsize max_chars, gsize max_bytes) {
	if(s == NULL || strlen(s) > max_bytes || !g_utf8_validate(s, -1, NULL))
		return FALSE;
	glong n = g_utf8_strlen(s, -1);
	if(n < (glong)min_chars || n > (glong)max_chars)
		return FALSE;
	for(const char *p = s; *p; p = g_utf8_next_char(p)) {
		if(g_unichar_iscntrl(g_utf8_get_char(p)))
			return FALSE;
	}
	return TRUE;
}

static gboolean bad_request(GError **error, const char *msg) {
	g_set_error_literal(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_BAD_REQUEST, msg);
	return FALSE;
}

static gboolean request_ttl(const json_t *req, const p2plink_link_limits *limits, gint64 *ttl, GError **error) {
	json_t *v = json_object_get(req, "ttl");
	if(v == NULL) {
		if(limits->default_ttl_seconds <= 0)
			return bad_request(error, "ttl is required, like \"10s\", \"5min\", \"2h\" or \"1d\"");
		*ttl = limits->default_ttl_seconds;
		return ttl_check_range(*ttl, limits->max_ttl_seconds, error);
	}
	if(json_is_string(v))
		return p2plink_ttl_parse(json_string_value(v), limits->max_ttl_seconds, ttl, error);
	if(json_is_integer(v)) {
		*ttl = json_integer_value(v);
		return ttl_check_range(*ttl, limits->max_ttl_seconds, error);
	}
	g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_BAD_TTL,
		"ttl must be a string like \"5min\" or a number of seconds");
	return FALSE;
}

static gboolean request_whitelist(const json_t *req, gchar ***out, GError **error) {
	json_t *list = json_object_get(req, "whitelist");
	*out = NULL;
	if(list == NULL || (json_is_array(list) && json_array_size(list) == 0))
		return TRUE;
	if(!json_is_array(list))
		return bad_request(error, "whitelist must be an array of addresses or CIDR ranges");
	if(json_array_size(list) > P2PLINK_WHITELIST_MAX)
		return bad_request(error, "whitelist has too many entries (at most 64)");
	GPtrArray *canon = g_ptr_array_new();
	size_t i;
	json_t *entry;
	json_array_foreach(list, i, entry) {
		p2plink_cidr c;
		if(!json_is_string(entry)) {
			g_ptr_array_add(canon, NULL);
			g_strfreev((gchar **)g_ptr_array_free(canon, FALSE));
			return bad_request(error, "whitelist entries must be strings");
		}
		if(!p2plink_cidr_parse(json_string_value(entry), &c, error)) {
			g_ptr_array_add(canon, NULL);
			g_strfreev((gchar **)g_ptr_array_free(canon, FALSE));
			return FALSE;
		}
		g_ptr_array_add(canon, p2plink_cidr_to_string(&c));
	}
	g_ptr_array_add(canon, NULL);
	*out = (gchar **)g_ptr_array_free(canon, FALSE);
	return TRUE;
}

static gboolean request_fields(const json_t *req, p2plink_link *l, GError **error) {
	json_t *target = json_object_get(req, "target");
	if(!json_is_string(target) || !text_field_ok(json_string_value(target), 1, 256, 256))
		return bad_request(error, "target must be a peer id (1 to 256 characters)");
	l->target = g_strdup(json_string_value(target));
	json_t *purpose = json_object_get(req, "purpose");
	if(purpose == NULL) {
		l->purpose = g_strdup("call");
	} else if(!json_is_string(purpose) ||
			!text_field_ok(json_string_value(purpose), 1, P2PLINK_PURPOSE_MAX_CHARS, 4 * P2PLINK_PURPOSE_MAX_CHARS)) {
		return bad_request(error, "purpose must be \"call\", \"file\" or a label of 1 to 64 characters");
	} else {
		l->purpose = g_strdup(json_string_value(purpose));
	}
	json_t *max = json_object_get(req, "max_clicks");
	if(max != NULL && (!json_is_integer(max) || json_integer_value(max) < 0 ||
			json_integer_value(max) > G_MAXUINT32))
		return bad_request(error, "max_clicks must be a whole number from 0 (unlimited) to 4294967295");
	l->max_clicks = max ? (guint32)json_integer_value(max) : 0;
	return TRUE;
}

/* Token, its hash and the public id; only the token leaves through token_out */
static gboolean link_mint(p2plink_link *l, char **token_out, GError **error) {
	char *token = p2plink_token_new(error);
	if(token == NULL)
		return FALSE;
	l->token_hash = p2plink_token_hash(token);
	l->id = p2plink_link_id_new(error);
	if(l->token_hash == NULL || l->id == NULL) {
		if(l->token_hash == NULL)
			g_set_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_INTERNAL, "hashing the token failed");
		OPENSSL_cleanse(token, strlen(token));
		g_free(token);
		return FALSE;
	}
	*token_out = token;
	return TRUE;
}

p2plink_link *p2plink_link_from_create_json(const json_t *request, const char *creator,
		gint64 now, const p2plink_link_limits *limits, char **token_out, GError **error) {
	if(!json_is_object(request)) {
		bad_request(error, "the request must be a JSON object");
		return NULL;
	}
	if(creator == NULL || *creator == '\0' || limits == NULL || token_out == NULL) {
		bad_request(error, "internal: creator, limits and token_out are required");
		return NULL;
	}
	p2plink_link *l = p2plink_link_new();
	gint64 ttl = 0;
	if(!request_fields(request, l, error) ||
			!request_ttl(request, limits, &ttl, error) ||
			!request_whitelist(request, &l->whitelist, error) ||
			!link_mint(l, token_out, error)) {
		p2plink_link_free(l);
		return NULL;
	}
	l->creator = g_strdup(creator);
	l->created_at = now;
	l->expires_at = now + ttl * G_USEC_PER_SEC;
	return l;
}

/* Whether the link can still be redeemed by someone, ignoring the IP */
static const char *link_status(const p2plink_link *l, gint64 now) {
	if(l->revoked)
		return "revoked";
	if(l->expires_at != 0 && now >= l->expires_at)
		return "expired";
	if(l->max_clicks != 0 && l->clicks >= l->max_clicks)
		return "exhausted";
	return "active";
}

json_t *p2plink_link_to_json(const p2plink_link *link, gint64 now, gboolean include_token_hash) {
	json_t *wl = json_array();
	for(guint i = 0; link->whitelist != NULL && link->whitelist[i] != NULL; i++)
		json_array_append_new(wl, json_string(link->whitelist[i]));
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(link->id));
	json_object_set_new(o, "target", json_string(link->target));
	json_object_set_new(o, "purpose", json_string(link->purpose));
	json_object_set_new(o, "creator", json_string(link->creator));
	json_object_set_new(o, "created_at", json_integer(link->created_at));
	json_object_set_new(o, "expires_at", json_integer(link->expires_at));
	json_object_set_new(o, "max_clicks", json_integer(link->max_clicks));
	json_object_set_new(o, "clicks", json_integer(link->clicks));
	json_object_set_new(o, "whitelist", wl);
	json_object_set_new(o, "revoked", json_boolean(link->revoked));
	json_object_set_new(o, "owner", link->owner ? json_string(link->owner) : json_null());
	json_object_set_new(o, "status", json_string(link_status(link, now)));
	if(include_token_hash)
		json_object_set_new(o, "token_hash", json_string(link->token_hash));
	return o;
}

/* ---- Rules ---- */

p2plink_link_outcome p2plink_link_check(const p2plink_link *l, gint64 now, const char *client_ip) {
	if(l == NULL)
		return P2PLINK_LINK_UNKNOWN;
	if(l->revoked)
		return P2PLINK_LINK_REVOKED;
	if(l->expires_at != 0 && now >= l->expires_at)
		return P2PLINK_LINK_EXPIRED;
	if(!p2plink_whitelist_allows((const char * const *)l->whitelist, client_ip))
		return P2PLINK_LINK_IP_DENIED;
	if(l->max_clicks != 0 && l->clicks >= l->max_clicks)
		return P2PLINK_LINK_EXHAUSTED;
	return P2PLINK_LINK_OK;
}

p2plink_link_outcome p2plink_link_check_owner(const p2plink_link *l, gint64 now, const char *client_ip,
		const char *holder) {
	p2plink_link_outcome o = p2plink_link_check(l, now, client_ip);
	if(o != P2PLINK_LINK_OK)
		return o;
	if(holder == NULL || (l->owner != NULL && strcmp(l->owner, holder) != 0))
		return P2PLINK_LINK_NOT_ONLINE;
	return P2PLINK_LINK_OK;
}

static const struct {
	const char *code;
	const char *message;
} outcomes[P2PLINK_LINK_OUTCOME_COUNT] = {
	[P2PLINK_LINK_OK] = { "ok", "Link accepted." },
	[P2PLINK_LINK_EXPIRED] = { "expired", "This link has expired." },
	[P2PLINK_LINK_EXHAUSTED] = { "exhausted", "This link has been used up." },
	[P2PLINK_LINK_IP_DENIED] = { "ip-denied", "This link cannot be used from your network." },
	[P2PLINK_LINK_REVOKED] = { "revoked", "This link has been withdrawn by its owner." },
	[P2PLINK_LINK_UNKNOWN] = { "unknown", "This link is not valid. Check that you copied all of it." },
	[P2PLINK_LINK_NOT_ONLINE] = { "not-online", "The person this link reaches is not online right now. "
		"Your click was not used; try again later." },
	[P2PLINK_LINK_PREVIEW] = { "preview", "Link looked at." },
};

const char *p2plink_link_outcome_code(p2plink_link_outcome outcome) {
	if((guint)outcome >= P2PLINK_LINK_OUTCOME_COUNT)
		return "unknown";
	return outcomes[outcome].code;
}

gboolean p2plink_link_outcome_from_code(const char *code, p2plink_link_outcome *out) {
	for(guint i = 0; code != NULL && i < P2PLINK_LINK_OUTCOME_COUNT; i++) {
		if(strcmp(code, outcomes[i].code) == 0) {
			*out = (p2plink_link_outcome)i;
			return TRUE;
		}
	}
	return FALSE;
}

const char *p2plink_link_outcome_message(p2plink_link_outcome outcome) {
	if((guint)outcome >= P2PLINK_LINK_OUTCOME_COUNT)
		return outcomes[P2PLINK_LINK_UNKNOWN].message;
	return outcomes[outcome].message;
}

/* ---- Click log entries ---- */

void p2plink_click_free(p2plink_click *click) {
	if(click == NULL)
		return;
	g_free(click->link_id);
	g_free(click->client_ip);
	g_free(click->user_agent);
	g_free(click);
}

static json_t *json_string_or_null(const char *s) {
	return s ? json_string(s) : json_null();
}

json_t *p2plink_click_to_json(const p2plink_click *click) {
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(click->id));
	json_object_set_new(o, "link_id", json_string_or_null(click->link_id));
	json_object_set_new(o, "at", json_integer(click->at));
	json_object_set_new(o, "ip", json_string_or_null(click->client_ip));
	json_object_set_new(o, "user_agent", json_string_or_null(click->user_agent));
	json_object_set_new(o, "outcome", json_string(p2plink_link_outcome_code(click->outcome)));
	return o;
}

char *p2plink_user_agent_clean(const char *ua) {
	if(ua == NULL)
		return NULL;
	char *s = g_utf8_make_valid(ua, -1);
	if(strlen(s) > P2PLINK_USER_AGENT_MAX) {
		/* Cut before the character that straddles the limit */
		char *p = s + P2PLINK_USER_AGENT_MAX;
		while(p > s && (*p & 0xC0) == 0x80)
			p--;
		*p = '\0';
	}
	/* Control characters would end up in logs and admin terminals */
	for(char *p = s; *p; p++) {
		if((guchar)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	return s;
}

char *p2plink_ip_truncate(const char *ip) {
	guint8 a[16];
	if(ip == NULL || !p2plink_ip_parse(ip, a))
		return NULL;
	static const guint8 v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char out[INET6_ADDRSTRLEN];
	if(memcmp(a, v4_mapped, sizeof(v4_mapped)) == 0) {
		a[15] = 0;	/* /24 */
		inet_ntop(AF_INET, a + 12, out, sizeof(out));
	} else {
		memset(a + 6, 0, 10);	/* /48 */
		inet_ntop(AF_INET6, a, out, sizeof(out));
	}
	return g_strdup(out);
}

gboolean p2plink_owner_looks_valid(const char *s) {
	if(s == NULL || strlen(s) != P2PLINK_TOKEN_HASH_LEN)
		return FALSE;
	for(const char *p = s; *p; p++) {
		if(!g_ascii_isdigit(*p) && !(*p >= 'a' && *p <= 'f'))
			return FALSE;
	}
	return TRUE;
}
