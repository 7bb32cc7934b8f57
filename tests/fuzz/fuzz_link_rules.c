/*
 * fuzz_link_rules.c — libFuzzer harness for share links (links.c): a create request as JSON → the link →
 * p2plink_link_check at a fuzzed time from a fuzzed client address.
 *
 * Input: byte 0 picks the operator limits, bytes 1-8 the check time, 9-12 the clicks already counted, 13 flags
 * (bit 0 revoked, bit 1 owned, bits 2-3 who holds the target), then "<create JSON>\0<client ip>\0<user agent>".
 * Checks:
 *  - a created link is consistent: 43-char token whose SHA-256 is the stored hash (the token is not stored),
 *    16-char id, expires_at = now + ttl within the limits, every whitelist entry canonical, purpose/target as
 *    given; a refused request has one of the documented error codes and a sentence;
 *  - the JSON form and a copy describe the same link; status agrees with check for an allowed address;
 *  - p2plink_link_check follows the documented order (revoked → expired → ip-denied → exhausted) exactly;
 *  - p2plink_link_check_owner is the link rules, then "not-online" unless the holder owns the link (or it is
 *    unclaimed and someone holds the target);
 *  - privacy mode: a truncated client address parses, is its own truncation, and lies in the client's /24 or /48;
 *  - outcome codes round-trip; the user-agent cleaner returns bounded, valid UTF-8 without control characters.
 * The creation time is a realistic clock (2020..2100): only the check time takes any 64-bit value.
 */

#include <stdio.h>

#include "links.h"
#include "fuzz_input.h"

static const p2plink_link_limits limit_sets[] = {
	{ 0, 0 }, { 0, 3600 }, { 86400, 300 }, { 60, 0 }, { -1, 1 }, { P2PLINK_TTL_HARD_MAX_SECONDS, 0 },
};

static void check_outcome(const p2plink_link *l, gint64 t, const char *ip) {
	p2plink_link_outcome o = p2plink_link_check(l, t, ip);
	p2plink_link_outcome want;
	if(l->revoked)
		want = P2PLINK_LINK_REVOKED;
	else if(l->expires_at != 0 && t >= l->expires_at)
		want = P2PLINK_LINK_EXPIRED;
	else if(!p2plink_whitelist_allows((const char * const *)l->whitelist, ip))
		want = P2PLINK_LINK_IP_DENIED;
	else if(l->max_clicks != 0 && l->clicks >= l->max_clicks)
		want = P2PLINK_LINK_EXHAUSTED;
	else
		want = P2PLINK_LINK_OK;
	FUZZ_CHECK(o == want);
	p2plink_link_outcome back;
	FUZZ_CHECK(p2plink_link_outcome_from_code(p2plink_link_outcome_code(o), &back) && back == o);
	FUZZ_CHECK(p2plink_link_outcome_message(o)[0] != '\0');
	/* The JSON status is the same rule without the address */
	json_t *j = p2plink_link_to_json(l, t, FALSE);
	const char *status = json_string_value(json_object_get(j, "status"));
	FUZZ_CHECK(status != NULL);
	if(o != P2PLINK_LINK_IP_DENIED)
		FUZZ_CHECK(strcmp(status, o == P2PLINK_LINK_OK ? "active" : p2plink_link_outcome_code(o)) == 0);
	FUZZ_CHECK(json_object_get(j, "token_hash") == NULL);
	json_decref(j);
}

#define OWNER_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define OWNER_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void check_owner_rule(const p2plink_link *l, gint64 t, const char *ip, const char *holder) {
	p2plink_link_outcome rules = p2plink_link_check(l, t, ip);
	p2plink_link_outcome o = p2plink_link_check_owner(l, t, ip, holder);
	if(rules != P2PLINK_LINK_OK)
		FUZZ_CHECK(o == rules);
	else if(holder == NULL || (l->owner != NULL && strcmp(l->owner, holder) != 0))
		FUZZ_CHECK(o == P2PLINK_LINK_NOT_ONLINE);
	else
		FUZZ_CHECK(o == P2PLINK_LINK_OK);
}

static void check_truncate(const char *ip) {
	char *cut = p2plink_ip_truncate(ip);
	guint8 a[16];
	if(cut == NULL) {
		FUZZ_CHECK(ip == NULL || !p2plink_ip_parse(ip, a));
		return;
	}
	FUZZ_CHECK(p2plink_ip_parse(ip, a));
	char *again = p2plink_ip_truncate(cut);
	FUZZ_CHECK(again != NULL && strcmp(again, cut) == 0);
	char *net = g_strdup_printf("%s/%s", cut, strchr(cut, ':') ? "48" : "24");
	p2plink_cidr c;
	FUZZ_CHECK(p2plink_cidr_parse(net, &c, NULL) && p2plink_cidr_contains(&c, a));
	g_free(net);
	g_free(again);
	g_free(cut);
}

static void check_link(const p2plink_link *l, const json_t *req, const char *token, gint64 now,
		const p2plink_link_limits *lim) {
	FUZZ_CHECK(p2plink_token_looks_valid(token) && strlen(token) == P2PLINK_TOKEN_LEN);
	char *hash = p2plink_token_hash(token);
	FUZZ_CHECK(hash != NULL && strcmp(hash, l->token_hash) == 0 && strlen(hash) == P2PLINK_TOKEN_HASH_LEN);
	g_free(hash);
	FUZZ_CHECK(l->id != NULL && strlen(l->id) == P2PLINK_LINK_ID_LEN);
	FUZZ_CHECK(strcmp(l->creator, "@admin") == 0 && l->created_at == now);
	FUZZ_CHECK(strcmp(l->target, json_string_value(json_object_get(req, "target"))) == 0);
	gint64 ttl = (l->expires_at - now) / G_USEC_PER_SEC;
	FUZZ_CHECK(l->expires_at > now && (l->expires_at - now) % G_USEC_PER_SEC == 0);
	FUZZ_CHECK(ttl <= P2PLINK_TTL_HARD_MAX_SECONDS && (lim->max_ttl_seconds <= 0 || ttl <= lim->max_ttl_seconds));
	guint n = l->whitelist ? g_strv_length(l->whitelist) : 0;
	FUZZ_CHECK(n <= P2PLINK_WHITELIST_MAX);
	for(guint i = 0; i < n; i++) {
		p2plink_cidr c;
		FUZZ_CHECK(p2plink_cidr_parse(l->whitelist[i], &c, NULL));
		char *canon = p2plink_cidr_to_string(&c);
		FUZZ_CHECK(strcmp(canon, l->whitelist[i]) == 0);
		g_free(canon);
	}
	/* A copy is deep and equal */
	p2plink_link *copy = p2plink_link_copy(l);
	json_t *a = p2plink_link_to_json(l, now, TRUE), *b = p2plink_link_to_json(copy, now, TRUE);
	FUZZ_CHECK(json_equal(a, b));
	char *text = json_dumps(a, JSON_COMPACT);
	FUZZ_CHECK(text != NULL && strstr(text, token) == NULL);	/* the token itself never appears */
	free(text);
	json_decref(a);
	json_decref(b);
	p2plink_link_free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz_input in;
	fuzz_input_init(&in, data, size);
	const p2plink_link_limits *lim = &limit_sets[fuzz_u8(&in) % G_N_ELEMENTS(limit_sets)];
	gint64 t = (gint64)fuzz_u64(&in);
	guint32 clicks = (guint32)fuzz_u64(&in);
	uint8_t flags = fuzz_u8(&in);
	char *json = fuzz_cstr(&in), *ip = fuzz_cstr(&in), *ua = fuzz_cstr(&in);
	/* A clock between 2020 and 2100, so now + ttl cannot overflow (a real clock never gets near) */
	const gint64 now = G_GINT64_CONSTANT(1577836800000000) + (gint64)(clicks % 2524608000u) * G_USEC_PER_SEC;

	json_t *req = json_loads(json, JSON_DECODE_ANY, NULL);
	char *token = NULL;
	GError *error = NULL;
	p2plink_link *l = p2plink_link_from_create_json(req, P2PLINK_CREATOR_ADMIN, now, lim, &token, &error);
	if(l != NULL) {
		FUZZ_CHECK(error == NULL && token != NULL);
		check_link(l, req, token, now, lim);
		l->clicks = clicks;
		l->revoked = flags & 1;
		check_outcome(l, t, ip);
		check_outcome(l, now, ip);
		check_outcome(l, l->expires_at, ip);
		check_outcome(l, l->expires_at - 1, NULL);
		static const char *holders[] = { NULL, OWNER_A, OWNER_B, OWNER_A };
		l->owner = (flags & 2) ? g_strdup(OWNER_A) : NULL;
		check_owner_rule(l, t, ip, holders[(flags >> 2) & 3]);
		check_owner_rule(l, now, ip, holders[(flags >> 2) & 3]);
		g_free(token);
		p2plink_link_free(l);
	} else {
		FUZZ_CHECK(token == NULL && error != NULL && error->domain == P2PLINK_LINK_ERROR);
		const char *code = p2plink_link_error_code(error->code);
		FUZZ_CHECK(strcmp(code, "internal") != 0);
		FUZZ_CHECK(error->message[0] != '\0' && g_utf8_validate(error->message, -1, NULL));
		g_error_free(error);
	}
	FUZZ_CHECK(p2plink_link_check(NULL, t, ip) == P2PLINK_LINK_UNKNOWN);
	FUZZ_CHECK(p2plink_link_check_owner(NULL, t, ip, OWNER_A) == P2PLINK_LINK_UNKNOWN);
	check_truncate(ip);
	json_decref(req);

	char *clean = p2plink_user_agent_clean(ua);
	FUZZ_CHECK(clean != NULL && strlen(clean) <= P2PLINK_USER_AGENT_MAX && g_utf8_validate(clean, -1, NULL));
	for(const char *p = clean; *p; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	g_free(clean);
	g_free(json);
	g_free(ip);
	g_free(ua);
	return 0;
}
