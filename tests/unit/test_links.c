/* test_links.c — unit tests for common/links.c
 *
 * What it covers: the TTL grammar (tables of good and bad inputs), CIDR
 * parsing and IPv4/IPv6/IPv4-mapped matching, token minting and hashing,
 * rule evaluation at its boundaries, and the JSON helpers.
 * Not for: storage (test_store_sqlite.c) or anything that needs Janus.
 *
 * Build and run by hand (from the repository root):
 *   gcc -Wall -Wextra -O1 -g $(pkg-config --cflags glib-2.0 jansson openssl) \
 *     -Icommon -Iplugins/janus_p2plink tests/unit/test_links.c common/links.c \
 *     -o /tmp/test_links $(pkg-config --libs glib-2.0 jansson openssl) && /tmp/test_links --tap
 * Add -fsanitize=address,undefined, or run under
 *   valgrind --leak-check=full --error-exitcode=1 /tmp/test_links
 */

#include <string.h>
#include <glib.h>
#include <jansson.h>

#include "links.h"

#define DAY G_GINT64_CONSTANT(86400)
#define NOW G_GINT64_CONSTANT(1700000000000000)	/* a fixed "now" in us */

/* ---- TTL: tables ---- */

typedef struct ttl_good {
	const char *name;
	const char *input;
	gint64 seconds;
} ttl_good;

static const ttl_good ttl_goods[] = {
	{ "10s", "10s", 10 },
	{ "90s", "90s", 90 },
	{ "5min", "5min", 300 },
	{ "30m", "30m", 1800 },
	{ "2h", "2h", 7200 },
	{ "1d", "1d", 86400 },
	{ "plain_seconds", "3600", 3600 },
	{ "one_second", "1", 1 },
	{ "hard_max_exactly", "36525d", 3155760000 },
};

typedef struct ttl_bad {
	const char *name;
	const char *input;
	gint64 max;
	int code;
	const char *message_part;	/* the sentence must name the mistake */
} ttl_bad;

static const ttl_bad ttl_bads[] = {
	{ "rejects_null", NULL, 0, P2PLINK_LINK_ERROR_BAD_TTL, "empty" },
	{ "rejects_empty", "", 0, P2PLINK_LINK_ERROR_BAD_TTL, "empty" },
	{ "rejects_space_before_unit", "5 min", 0, P2PLINK_LINK_ERROR_BAD_TTL, "spaces" },
	{ "rejects_leading_space", " 5s", 0, P2PLINK_LINK_ERROR_BAD_TTL, "spaces" },
	{ "rejects_trailing_space", "5s ", 0, P2PLINK_LINK_ERROR_BAD_TTL, "spaces" },
	{ "rejects_tab", "5\ts", 0, P2PLINK_LINK_ERROR_BAD_TTL, "spaces" },
	{ "rejects_minus_sign", "-1h", 0, P2PLINK_LINK_ERROR_BAD_TTL, "sign" },
	{ "rejects_plus_sign", "+1h", 0, P2PLINK_LINK_ERROR_BAD_TTL, "sign" },
	{ "rejects_zero_with_unit", "0s", 0, P2PLINK_LINK_ERROR_BAD_TTL, "at least 1 second" },
	{ "rejects_zero_plain", "0", 0, P2PLINK_LINK_ERROR_BAD_TTL, "at least 1 second" },
	{ "rejects_zero_zero", "00h", 0, P2PLINK_LINK_ERROR_BAD_TTL, "at least 1 second" },
	{ "rejects_leading_zero", "05m", 0, P2PLINK_LINK_ERROR_BAD_TTL, "start with 0" },
	{ "rejects_unknown_unit", "5x", 0, P2PLINK_LINK_ERROR_BAD_TTL, "unknown TTL unit" },
	{ "rejects_uppercase_unit", "5M", 0, P2PLINK_LINK_ERROR_BAD_TTL, "unknown TTL unit" },
	{ "rejects_plural_unit", "5mins", 0, P2PLINK_LINK_ERROR_BAD_TTL, "unknown TTL unit" },
	{ "rejects_week_unit", "1w", 0, P2PLINK_LINK_ERROR_BAD_TTL, "unknown TTL unit" },
	{ "rejects_two_units", "1h30m", 0, P2PLINK_LINK_ERROR_BAD_TTL, "unknown TTL unit" },
	{ "rejects_unit_only", "h", 0, P2PLINK_LINK_ERROR_BAD_TTL, "start with a number" },
	{ "rejects_fraction", "1.5h", 0, P2PLINK_LINK_ERROR_BAD_TTL, "whole number" },
	{ "rejects_digit_overflow", "99999999999999999999", 0, P2PLINK_LINK_ERROR_BAD_TTL, "too large" },
	{ "rejects_multiplication_overflow", "999999999999999d", 0, P2PLINK_LINK_ERROR_BAD_TTL, "too large" },
	{ "rejects_above_hard_max", "36526d", 0, P2PLINK_LINK_ERROR_TTL_TOO_LONG, "maximum" },
	{ "rejects_above_configured_max", "2d", DAY, P2PLINK_LINK_ERROR_TTL_TOO_LONG, "maximum of 1d" },
	{ "rejects_one_second_above_max", "86401", DAY, P2PLINK_LINK_ERROR_TTL_TOO_LONG, "maximum of 1d" },
};

static void test_ttl_good(gconstpointer data) {
	const ttl_good *t = data;
	gint64 seconds = -1;
	GError *error = NULL;
	g_assert_true(p2plink_ttl_parse(t->input, 0, &seconds, &error));
	g_assert_no_error(error);
	g_assert_cmpint(seconds, ==, t->seconds);
}

static void test_ttl_bad(gconstpointer data) {
	const ttl_bad *t = data;
	gint64 seconds = -1;
	GError *error = NULL;
	g_assert_false(p2plink_ttl_parse(t->input, t->max, &seconds, &error));
	g_assert_error(error, P2PLINK_LINK_ERROR, t->code);
	g_test_message("message: %s", error->message);
	g_assert_nonnull(strstr(error->message, t->message_part));
	g_assert_cmpint(seconds, ==, -1);
	g_error_free(error);
}

static void test_ttl_accepts_exactly_the_max(void) {
	gint64 seconds = 0;
	g_assert_true(p2plink_ttl_parse("1d", DAY, &seconds, NULL));
	g_assert_cmpint(seconds, ==, DAY);
	g_assert_true(p2plink_ttl_parse("86400", DAY, &seconds, NULL));
}

static void test_ttl_format_picks_largest_exact_unit(void) {
	const struct { gint64 s; const char *text; } rows[] = {
		{ 86400, "1d" }, { 7200, "2h" }, { 300, "5min" }, { 90, "90s" }, { 3660, "61min" }, { 1, "1s" },
	};
	for(guint i = 0; i < G_N_ELEMENTS(rows); i++) {
		char *t = p2plink_ttl_format(rows[i].s);
		g_assert_cmpstr(t, ==, rows[i].text);
		/* What we print, we must be able to read back */
		gint64 back = 0;
		g_assert_true(p2plink_ttl_parse(t, 0, &back, NULL));
		g_assert_cmpint(back, ==, rows[i].s);
		g_free(t);
	}
}

/* ---- CIDR: tables ---- */

typedef struct cidr_good {
	const char *name;
	const char *input;
	const char *canonical;
} cidr_good;

static const cidr_good cidr_goods[] = {
	{ "v4_address", "192.0.2.7", "192.0.2.7" },
	{ "v4_slash32_is_address", "192.0.2.7/32", "192.0.2.7" },
	{ "v4_range", "192.0.2.0/24", "192.0.2.0/24" },
	{ "v4_odd_prefix", "10.0.0.0/9", "10.0.0.0/9" },
	{ "v4_everything", "0.0.0.0/0", "0.0.0.0/0" },
	{ "v6_address", "2001:db8::1", "2001:db8::1" },
	{ "v6_uppercase_is_lowercased", "2001:DB8::/32", "2001:db8::/32" },
	{ "v6_long_form_is_shortened", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1" },
	{ "v6_everything", "::/0", "::/0" },
	{ "v6_loopback", "::1", "::1" },
	{ "v4_mapped_range", "::ffff:192.0.2.0/120", "::ffff:192.0.2.0/120" },
};

typedef struct cidr_bad {
	const char *name;
	const char *input;
	const char *message_part;
} cidr_bad;

static const cidr_bad cidr_bads[] = {
	{ "rejects_empty", "", "is empty" },
	{ "rejects_v4_host_bits", "10.1.2.3/8", "did you mean 10.0.0.0/8?" },
	{ "rejects_v6_host_bits", "2001:db8::1/32", "did you mean 2001:db8::/32?" },
	{ "rejects_v4_prefix_33", "10.0.0.0/33", "/0 to /32" },
	{ "rejects_v6_prefix_129", "::/129", "/0 to /128" },
	{ "rejects_empty_prefix", "10.0.0.0/", "prefix" },
	{ "rejects_negative_prefix", "10.0.0.0/-1", "prefix" },
	{ "rejects_prefix_leading_zero", "10.0.0.0/08", "prefix" },
	{ "rejects_double_slash", "10.0.0.0/8/9", "prefix" },
	{ "rejects_short_v4", "10.0.0/8", "not an IPv4 or IPv6" },
	{ "rejects_five_octets", "1.2.3.4.5", "not an IPv4 or IPv6" },
	{ "rejects_hostname", "example.com", "not an IPv4 or IPv6" },
	{ "rejects_leading_space", " 10.0.0.1", "not an IPv4 or IPv6" },
	{ "rejects_trailing_space", "10.0.0.1 ", "not an IPv4 or IPv6" },
	{ "rejects_zone_id", "fe80::1%eth0", "not an IPv4 or IPv6" },
	{ "rejects_brackets", "[::1]", "not an IPv4 or IPv6" },
	{ "rejects_overlong", "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb/128", "too long" },
};

static void test_cidr_good(gconstpointer data) {
	const cidr_good *t = data;
	p2plink_cidr c;
	GError *error = NULL;
	g_assert_true(p2plink_cidr_parse(t->input, &c, &error));
	g_assert_no_error(error);
	char *s = p2plink_cidr_to_string(&c);
	g_assert_cmpstr(s, ==, t->canonical);
	g_free(s);
}

static void test_cidr_bad(gconstpointer data) {
	const cidr_bad *t = data;
	p2plink_cidr c;
	GError *error = NULL;
	g_assert_false(p2plink_cidr_parse(t->input, &c, &error));
	g_assert_error(error, P2PLINK_LINK_ERROR, P2PLINK_LINK_ERROR_BAD_CIDR);
	g_test_message("message: %s", error->message);
	g_assert_nonnull(strstr(error->message, t->message_part));
	g_error_free(error);
}

typedef struct cidr_match {
	const char *name;
	const char *rule;
	const char *client;
	gboolean match;
} cidr_match;

static const cidr_match cidr_matches[] = {
	{ "v4_inside_range", "192.0.2.0/24", "192.0.2.77", TRUE },
	{ "v4_outside_range", "192.0.2.0/24", "192.0.3.1", FALSE },
	{ "v4_same_address", "192.0.2.7", "192.0.2.7", TRUE },
	{ "v4_next_address", "192.0.2.7", "192.0.2.8", FALSE },
	{ "v4_odd_prefix_last_inside", "10.0.0.0/9", "10.127.255.255", TRUE },
	{ "v4_odd_prefix_first_outside", "10.0.0.0/9", "10.128.0.0", FALSE },
	{ "v4_everything_takes_v4", "0.0.0.0/0", "203.0.113.5", TRUE },
	{ "v4_everything_refuses_v6", "0.0.0.0/0", "2001:db8::1", FALSE },
	{ "v6_inside_range", "2001:db8::/32", "2001:db8:ffff::1", TRUE },
	{ "v6_outside_range", "2001:db8::/32", "2001:db9::1", FALSE },
	{ "v6_odd_prefix_last_inside", "2001:db8::/33", "2001:db8:7fff:ffff::1", TRUE },
	{ "v6_odd_prefix_first_outside", "2001:db8::/33", "2001:db8:8000::", FALSE },
	{ "v6_loopback", "::1", "::1", TRUE },
	{ "v6_everything_takes_v4", "::/0", "10.0.0.1", TRUE },
	{ "v4_rule_takes_mapped_client", "192.0.2.0/24", "::ffff:192.0.2.9", TRUE },
	{ "v4_rule_refuses_other_mapped_client", "192.0.2.0/24", "::ffff:192.0.3.9", FALSE },
	{ "mapped_rule_takes_v4_client", "::ffff:192.0.2.0/120", "192.0.2.9", TRUE },
	{ "mapped_rule_refuses_other_v4_client", "::ffff:192.0.2.0/120", "192.0.3.9", FALSE },
	{ "mapped_address_rule_takes_v4_client", "::ffff:127.0.0.2", "127.0.0.2", TRUE },
	{ "v4_loopback_rule_refuses_v6_loopback", "127.0.0.1", "::1", FALSE },
	{ "refuses_garbage_client", "0.0.0.0/0", "not-an-ip", FALSE },
	{ "refuses_client_with_zone", "fe80::/10", "fe80::1%eth0", FALSE },
	{ "refuses_client_with_prefix", "10.0.0.0/8", "10.0.0.1/32", FALSE },
};

static void test_cidr_match(gconstpointer data) {
	const cidr_match *t = data;
	const char *list[] = { t->rule, NULL };
	g_assert_cmpint(p2plink_whitelist_allows(list, t->client), ==, t->match);
}

static void test_whitelist_empty_allows_anyone(void) {
	const char *empty[] = { NULL };
	g_assert_true(p2plink_whitelist_allows(NULL, "192.0.2.1"));
	g_assert_true(p2plink_whitelist_allows(empty, "192.0.2.1"));
	g_assert_true(p2plink_whitelist_allows(empty, NULL));
}

static void test_whitelist_refuses_missing_client_ip(void) {
	const char *list[] = { "0.0.0.0/0", "::/0", NULL };
	g_assert_false(p2plink_whitelist_allows(list, NULL));
	g_assert_false(p2plink_whitelist_allows(list, ""));
}

static void test_whitelist_any_entry_matches(void) {
	const char *list[] = { "10.0.0.0/8", "2001:db8::/32", "127.0.0.2", NULL };
	g_assert_true(p2plink_whitelist_allows(list, "127.0.0.2"));
	g_assert_true(p2plink_whitelist_allows(list, "2001:db8::5"));
	g_assert_true(p2plink_whitelist_allows(list, "10.9.9.9"));
	g_assert_false(p2plink_whitelist_allows(list, "127.0.0.3"));
}

static void test_whitelist_bad_entry_matches_nothing(void) {
	const char *list[] = { "10.1.2.3/8", "garbage", NULL };
	g_assert_false(p2plink_whitelist_allows(list, "10.1.2.3"));
}

/* ---- Tokens ---- */

static void test_token_is_43_urlsafe_chars(void) {
	char *t = p2plink_token_new(NULL);
	g_assert_nonnull(t);
	g_assert_cmpuint(strlen(t), ==, P2PLINK_TOKEN_LEN);
	for(const char *p = t; *p; p++)
		g_assert_true(g_ascii_isalnum(*p) || *p == '-' || *p == '_');
	g_assert_true(p2plink_token_looks_valid(t));
	g_free(t);
}

static void test_token_carries_256_random_bits(void) {
	char *t = p2plink_token_new(NULL);
	/* Undo the URL-safe alphabet and padding, then decode */
	GString *b64 = g_string_new(t);
	for(gsize i = 0; i < b64->len; i++) {
		if(b64->str[i] == '-')
			b64->str[i] = '+';
		else if(b64->str[i] == '_')
			b64->str[i] = '/';
	}
	while(b64->len % 4 != 0)
		g_string_append_c(b64, '=');
	gsize len = 0;
	guchar *raw = g_base64_decode(b64->str, &len);
	g_assert_cmpuint(len, ==, 32);
	g_free(raw);
	g_string_free(b64, TRUE);
	g_free(t);
}

static void test_token_10000_are_distinct(void) {
	GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for(int i = 0; i < 10000; i++) {
		char *t = p2plink_token_new(NULL);
		g_assert_false(g_hash_table_contains(seen, t));
		g_hash_table_add(seen, t);
	}
	g_assert_cmpuint(g_hash_table_size(seen), ==, 10000);
	g_hash_table_destroy(seen);
}

static void test_token_hash_is_sha256_hex(void) {
	/* FIPS 180-2 test vector */
	char *h = p2plink_token_hash("abc");
	g_assert_cmpstr(h, ==, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	g_free(h);
}

static void test_token_hash_is_stable_and_differs_from_token(void) {
	char *t = p2plink_token_new(NULL);
	char *h1 = p2plink_token_hash(t);
	char *h2 = p2plink_token_hash(t);
	g_assert_cmpuint(strlen(h1), ==, P2PLINK_TOKEN_HASH_LEN);
	g_assert_cmpstr(h1, ==, h2);
	g_assert_null(strstr(h1, t));
	g_free(t);
	g_free(h1);
	g_free(h2);
}

static void test_token_looks_valid_rejects_wrong_shape(void) {
	g_assert_false(p2plink_token_looks_valid(NULL));
	g_assert_false(p2plink_token_looks_valid(""));
	g_assert_false(p2plink_token_looks_valid("abc"));
	/* 43 chars but '+' is not URL-safe */
	g_assert_false(p2plink_token_looks_valid("+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	g_assert_true(p2plink_token_looks_valid("-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_"));
}

static void test_link_id_is_16_urlsafe_chars(void) {
	char *id = p2plink_link_id_new(NULL);
	g_assert_cmpuint(strlen(id), ==, P2PLINK_LINK_ID_LEN);
	for(const char *p = id; *p; p++)
		g_assert_true(g_ascii_isalnum(*p) || *p == '-' || *p == '_');
	g_free(id);
}

/* ---- Rules ---- */

static p2plink_link *rule_link(void) {
	p2plink_link *l = p2plink_link_new();
	l->id = g_strdup("id");
	l->token_hash = g_strdup("hash");
	l->target = g_strdup("alice");
	l->purpose = g_strdup("call");
	l->creator = g_strdup(P2PLINK_CREATOR_ADMIN);
	l->created_at = NOW;
	l->expires_at = NOW + 60 * (gint64)G_USEC_PER_SEC;
	l->max_clicks = 3;
	return l;
}

static void test_rules_ok_one_microsecond_before_expiry(void) {
	p2plink_link *l = rule_link();
	g_assert_cmpint(p2plink_link_check(l, l->expires_at - 1, "192.0.2.1"), ==, P2PLINK_LINK_OK);
	p2plink_link_free(l);
}

static void test_rules_expired_exactly_at_expiry(void) {
	p2plink_link *l = rule_link();
	g_assert_cmpint(p2plink_link_check(l, l->expires_at, "192.0.2.1"), ==, P2PLINK_LINK_EXPIRED);
	p2plink_link_free(l);
}

static void test_rules_never_expires_when_expiry_zero(void) {
	p2plink_link *l = rule_link();
	l->expires_at = 0;
	g_assert_cmpint(p2plink_link_check(l, G_MAXINT64, "192.0.2.1"), ==, P2PLINK_LINK_OK);
	p2plink_link_free(l);
}

static void test_rules_last_click_is_granted(void) {
	p2plink_link *l = rule_link();
	l->clicks = l->max_clicks - 1;
	g_assert_cmpint(p2plink_link_check(l, NOW, "192.0.2.1"), ==, P2PLINK_LINK_OK);
	p2plink_link_free(l);
}

static void test_rules_exhausted_after_last_click(void) {
	p2plink_link *l = rule_link();
	l->clicks = l->max_clicks;
	g_assert_cmpint(p2plink_link_check(l, NOW, "192.0.2.1"), ==, P2PLINK_LINK_EXHAUSTED);
	p2plink_link_free(l);
}

static void test_rules_unlimited_when_max_clicks_zero(void) {
	p2plink_link *l = rule_link();
	l->max_clicks = 0;
	l->clicks = G_MAXUINT32;
	g_assert_cmpint(p2plink_link_check(l, NOW, "192.0.2.1"), ==, P2PLINK_LINK_OK);
	p2plink_link_free(l);
}

static void test_rules_revoked_wins_over_everything(void) {
	p2plink_link *l = rule_link();
	const char *wl[] = { "10.0.0.0/8", NULL };
	l->whitelist = g_strdupv((gchar **)wl);
	l->revoked = TRUE;
	l->clicks = l->max_clicks;
	g_assert_cmpint(p2plink_link_check(l, l->expires_at + 1, "192.0.2.1"), ==, P2PLINK_LINK_REVOKED);
	p2plink_link_free(l);
}

static void test_rules_expiry_checked_before_ip(void) {
	p2plink_link *l = rule_link();
	const char *wl[] = { "10.0.0.0/8", NULL };
	l->whitelist = g_strdupv((gchar **)wl);
	g_assert_cmpint(p2plink_link_check(l, l->expires_at, "192.0.2.1"), ==, P2PLINK_LINK_EXPIRED);
	p2plink_link_free(l);
}

static void test_rules_ip_checked_before_exhaustion(void) {
	p2plink_link *l = rule_link();
	const char *wl[] = { "10.0.0.0/8", NULL };
	l->whitelist = g_strdupv((gchar **)wl);
	l->clicks = l->max_clicks;
	g_assert_cmpint(p2plink_link_check(l, NOW, "192.0.2.1"), ==, P2PLINK_LINK_IP_DENIED);
	g_assert_cmpint(p2plink_link_check(l, NOW, "10.1.1.1"), ==, P2PLINK_LINK_EXHAUSTED);
	p2plink_link_free(l);
}

static void test_rules_whitelist_denies_missing_ip(void) {
	p2plink_link *l = rule_link();
	const char *wl[] = { "0.0.0.0/0", NULL };
	l->whitelist = g_strdupv((gchar **)wl);
	g_assert_cmpint(p2plink_link_check(l, NOW, NULL), ==, P2PLINK_LINK_IP_DENIED);
	p2plink_link_free(l);
}

static void test_rules_unknown_without_link(void) {
	g_assert_cmpint(p2plink_link_check(NULL, NOW, "192.0.2.1"), ==, P2PLINK_LINK_UNKNOWN);
}

static void test_rules_outcome_codes_are_stable(void) {
	const char *codes[] = { "ok", "expired", "exhausted", "ip-denied", "revoked", "unknown", "not-online", "preview" };
	G_STATIC_ASSERT(G_N_ELEMENTS(codes) == P2PLINK_LINK_OUTCOME_COUNT);
	for(guint i = 0; i < P2PLINK_LINK_OUTCOME_COUNT; i++) {
		p2plink_link_outcome back = P2PLINK_LINK_OUTCOME_COUNT;
		g_assert_cmpstr(p2plink_link_outcome_code(i), ==, codes[i]);
		g_assert_true(p2plink_link_outcome_from_code(codes[i], &back));
		g_assert_cmpint(back, ==, i);
	}
	p2plink_link_outcome o;
	g_assert_false(p2plink_link_outcome_from_code("granted", &o));
}

static void test_rules_messages_do_not_leak_rules(void) {
	/* The visitor learns why, not what the rule or the target is */
	const char *leaks[] = { "alice", "10.", "/", "clicks", "max", NULL };
	for(guint i = 0; i < P2PLINK_LINK_OUTCOME_COUNT; i++) {
		const char *m = p2plink_link_outcome_message(i);
		g_assert_nonnull(m);
		g_assert_cmpuint(strlen(m), >, 10);
		for(guint j = 0; leaks[j] != NULL; j++)
			g_assert_null(strstr(m, leaks[j]));
	}
	g_assert_cmpstr(p2plink_link_outcome_message(P2PLINK_LINK_EXPIRED), ==, "This link has expired.");
	g_assert_cmpstr(p2plink_link_outcome_message(P2PLINK_LINK_EXHAUSTED), ==, "This link has been used up.");
	g_assert_cmpstr(p2plink_link_outcome_message(P2PLINK_LINK_IP_DENIED), ==,
		"This link cannot be used from your network.");
}

#define OWNER_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define OWNER_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void test_owner_rule_grants_when_the_owner_holds_the_target(void) {
	p2plink_link *l = rule_link();
	l->owner = g_strdup(OWNER_A);
	g_assert_cmpint(p2plink_link_check_owner(l, NOW, "192.0.2.1", OWNER_A), ==, P2PLINK_LINK_OK);
	p2plink_link_free(l);
}

static void test_owner_rule_impostor_on_the_id_is_not_online(void) {
	p2plink_link *l = rule_link();
	l->owner = g_strdup(OWNER_A);
	g_assert_cmpint(p2plink_link_check_owner(l, NOW, "192.0.2.1", OWNER_B), ==, P2PLINK_LINK_NOT_ONLINE);
	p2plink_link_free(l);
}

static void test_owner_rule_nobody_online_is_not_online(void) {
	p2plink_link *l = rule_link();
	l->owner = g_strdup(OWNER_A);
	g_assert_cmpint(p2plink_link_check_owner(l, NOW, "192.0.2.1", NULL), ==, P2PLINK_LINK_NOT_ONLINE);
	/* An unclaimed link with nobody online cannot be claimed by nobody either */
	g_clear_pointer(&l->owner, g_free);
	g_assert_cmpint(p2plink_link_check_owner(l, NOW, "192.0.2.1", NULL), ==, P2PLINK_LINK_NOT_ONLINE);
	p2plink_link_free(l);
}

static void test_owner_rule_unclaimed_link_passes_for_any_holder(void) {
	p2plink_link *l = rule_link();
	g_assert_cmpint(p2plink_link_check_owner(l, NOW, "192.0.2.1", OWNER_B), ==, P2PLINK_LINK_OK);
	p2plink_link_free(l);
}

static void test_owner_rule_comes_after_the_link_rules(void) {
	p2plink_link *l = rule_link();
	l->owner = g_strdup(OWNER_A);
	l->clicks = l->max_clicks;
	g_assert_cmpint(p2plink_link_check_owner(l, NOW, "192.0.2.1", OWNER_B), ==, P2PLINK_LINK_EXHAUSTED);
	l->revoked = TRUE;
	g_assert_cmpint(p2plink_link_check_owner(l, NOW, "192.0.2.1", NULL), ==, P2PLINK_LINK_REVOKED);
	g_assert_cmpint(p2plink_link_check_owner(NULL, NOW, "192.0.2.1", OWNER_A), ==, P2PLINK_LINK_UNKNOWN);
	p2plink_link_free(l);
}

static void test_ip_truncate_ipv4_to_24(void) {
	char *t = p2plink_ip_truncate("192.0.2.77");
	g_assert_cmpstr(t, ==, "192.0.2.0");
	g_free(t);
	t = p2plink_ip_truncate("::ffff:198.51.100.9");
	g_assert_cmpstr(t, ==, "198.51.100.0");
	g_free(t);
}

static void test_ip_truncate_ipv6_to_48(void) {
	char *t = p2plink_ip_truncate("2001:db8:1234:5678:9abc::1");
	g_assert_cmpstr(t, ==, "2001:db8:1234::");
	g_free(t);
}

static void test_ip_truncate_unparsable_is_null(void) {
	g_assert_null(p2plink_ip_truncate(NULL));
	g_assert_null(p2plink_ip_truncate("not-an-ip"));
	g_assert_null(p2plink_ip_truncate("10.0.0.0/8"));
}

static void test_owner_looks_valid_only_for_64_lowercase_hex(void) {
	g_assert_true(p2plink_owner_looks_valid(OWNER_A));
	g_assert_false(p2plink_owner_looks_valid(NULL));
	g_assert_false(p2plink_owner_looks_valid("aaaa"));
	g_assert_false(p2plink_owner_looks_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	g_assert_false(p2plink_owner_looks_valid(OWNER_A "a"));
}

/* ---- JSON ---- */

static const p2plink_link_limits limits = { DAY, 0 };

static p2plink_link *create_from(const char *json, char **token, GError **error) {
	json_t *req = json_loads(json, 0, NULL);
	g_assert_nonnull(req);
	p2plink_link *l = p2plink_link_from_create_json(req, "bob", NOW, &limits, token, error);
	json_decref(req);
	return l;
}

static void test_json_create_minimal_uses_defaults(void) {
	char *token = NULL;
	GError *error = NULL;
	p2plink_link *l = create_from("{\"target\":\"alice\",\"ttl\":\"5min\"}", &token, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(l->target, ==, "alice");
	g_assert_cmpstr(l->purpose, ==, "call");
	g_assert_cmpstr(l->creator, ==, "bob");
	g_assert_cmpint(l->created_at, ==, NOW);
	g_assert_cmpint(l->expires_at, ==, NOW + 300 * (gint64)G_USEC_PER_SEC);
	g_assert_cmpuint(l->max_clicks, ==, 0);
	g_assert_null(l->whitelist);
	g_assert_false(l->revoked);
	g_assert_cmpuint(strlen(l->id), ==, P2PLINK_LINK_ID_LEN);
	g_assert_true(p2plink_token_looks_valid(token));
	char *h = p2plink_token_hash(token);
	g_assert_cmpstr(l->token_hash, ==, h);
	g_free(h);
	g_free(token);
	p2plink_link_free(l);
}

static void test_json_create_canonicalises_whitelist(void) {
	char *token = NULL;
	GError *error = NULL;
	p2plink_link *l = create_from("{\"target\":\"alice\",\"ttl\":60,\"purpose\":\"file\",\"max_clicks\":10,"
		"\"whitelist\":[\"2001:DB8::/32\",\"192.0.2.7/32\"]}", &token, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(l->purpose, ==, "file");
	g_assert_cmpuint(l->max_clicks, ==, 10);
	g_assert_cmpint(l->expires_at, ==, NOW + 60 * (gint64)G_USEC_PER_SEC);
	g_assert_cmpuint(g_strv_length(l->whitelist), ==, 2);
	g_assert_cmpstr(l->whitelist[0], ==, "2001:db8::/32");
	g_assert_cmpstr(l->whitelist[1], ==, "192.0.2.7");
	g_free(token);
	p2plink_link_free(l);
}

typedef struct json_bad {
	const char *name;
	const char *json;
	int code;
} json_bad;

static const json_bad json_bads[] = {
	{ "rejects_missing_target", "{\"ttl\":\"1h\"}", P2PLINK_LINK_ERROR_BAD_REQUEST },
	{ "rejects_empty_target", "{\"target\":\"\",\"ttl\":\"1h\"}", P2PLINK_LINK_ERROR_BAD_REQUEST },
	{ "rejects_missing_ttl_without_default", "{\"target\":\"a\"}", P2PLINK_LINK_ERROR_BAD_REQUEST },
	{ "rejects_bad_ttl", "{\"target\":\"a\",\"ttl\":\"5 min\"}", P2PLINK_LINK_ERROR_BAD_TTL },
	{ "rejects_zero_integer_ttl", "{\"target\":\"a\",\"ttl\":0}", P2PLINK_LINK_ERROR_BAD_TTL },
	{ "rejects_ttl_as_float", "{\"target\":\"a\",\"ttl\":1.5}", P2PLINK_LINK_ERROR_BAD_TTL },
	{ "rejects_ttl_above_max", "{\"target\":\"a\",\"ttl\":\"2d\"}", P2PLINK_LINK_ERROR_TTL_TOO_LONG },
	{ "rejects_integer_ttl_above_max", "{\"target\":\"a\",\"ttl\":86401}", P2PLINK_LINK_ERROR_TTL_TOO_LONG },
	{ "rejects_purpose_of_65_chars", "{\"target\":\"a\",\"ttl\":\"1h\",\"purpose\":"
		"\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", P2PLINK_LINK_ERROR_BAD_REQUEST },
	{ "rejects_purpose_with_newline", "{\"target\":\"a\",\"ttl\":\"1h\",\"purpose\":\"a\\nb\"}",
		P2PLINK_LINK_ERROR_BAD_REQUEST },
	{ "rejects_negative_max_clicks", "{\"target\":\"a\",\"ttl\":\"1h\",\"max_clicks\":-1}",
		P2PLINK_LINK_ERROR_BAD_REQUEST },
	{ "rejects_huge_max_clicks", "{\"target\":\"a\",\"ttl\":\"1h\",\"max_clicks\":4294967296}",
		P2PLINK_LINK_ERROR_BAD_REQUEST },
	{ "rejects_bad_whitelist_entry", "{\"target\":\"a\",\"ttl\":\"1h\",\"whitelist\":[\"10.0.0.0/8\",\"10.1.2.3/8\"]}",
		P2PLINK_LINK_ERROR_BAD_CIDR },
	{ "rejects_whitelist_number", "{\"target\":\"a\",\"ttl\":\"1h\",\"whitelist\":[\"10.0.0.0/8\",10]}",
		P2PLINK_LINK_ERROR_BAD_REQUEST },
	{ "rejects_whitelist_string", "{\"target\":\"a\",\"ttl\":\"1h\",\"whitelist\":\"10.0.0.0/8\"}",
		P2PLINK_LINK_ERROR_BAD_REQUEST },
	{ "rejects_not_an_object", "[1,2]", P2PLINK_LINK_ERROR_BAD_REQUEST },
};

static void test_json_create_bad(gconstpointer data) {
	const json_bad *t = data;
	char *token = NULL;
	GError *error = NULL;
	p2plink_link *l = create_from(t->json, &token, &error);
	g_assert_null(l);
	g_assert_null(token);
	g_assert_error(error, P2PLINK_LINK_ERROR, t->code);
	g_assert_cmpuint(strlen(error->message), >, 0);
	g_error_free(error);
}

static void test_json_create_accepts_purpose_of_64_chars(void) {
	char *token = NULL;
	p2plink_link *l = create_from("{\"target\":\"a\",\"ttl\":\"1h\",\"purpose\":"
		"\"\xc3\xa9xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", &token, NULL);
	g_assert_nonnull(l);
	g_assert_cmpint(g_utf8_strlen(l->purpose, -1), ==, 64);
	g_free(token);
	p2plink_link_free(l);
}

static void test_json_create_uses_default_ttl(void) {
	const p2plink_link_limits with_default = { DAY, 3600 };
	char *token = NULL;
	json_t *req = json_pack("{s:s}", "target", "a");
	p2plink_link *l = p2plink_link_from_create_json(req, P2PLINK_CREATOR_ADMIN, NOW, &with_default, &token, NULL);
	g_assert_nonnull(l);
	g_assert_cmpint(l->expires_at, ==, NOW + 3600 * (gint64)G_USEC_PER_SEC);
	g_assert_cmpstr(l->creator, ==, P2PLINK_CREATOR_ADMIN);
	json_decref(req);
	g_free(token);
	p2plink_link_free(l);
}

static void test_json_output_hides_token_hash_unless_asked(void) {
	char *token = NULL;
	p2plink_link *l = create_from("{\"target\":\"alice\",\"ttl\":\"1h\",\"whitelist\":[\"::1\"]}", &token, NULL);
	json_t *pub = p2plink_link_to_json(l, NOW, FALSE);
	char *text = json_dumps(pub, 0);
	g_assert_null(json_object_get(pub, "token_hash"));
	g_assert_null(strstr(text, l->token_hash));
	g_assert_null(strstr(text, token));
	g_assert_cmpstr(json_string_value(json_object_get(pub, "id")), ==, l->id);
	g_assert_cmpstr(json_string_value(json_object_get(pub, "status")), ==, "active");
	g_assert_cmpstr(json_string_value(json_array_get(json_object_get(pub, "whitelist"), 0)), ==, "::1");
	g_free(text);
	json_t *admin = p2plink_link_to_json(l, NOW, TRUE);
	text = json_dumps(admin, 0);
	g_assert_cmpstr(json_string_value(json_object_get(admin, "token_hash")), ==, l->token_hash);
	g_assert_null(strstr(text, token));
	g_free(text);
	json_decref(pub);
	json_decref(admin);
	g_free(token);
	p2plink_link_free(l);
}

static void test_json_output_status_follows_rules(void) {
	p2plink_link *l = rule_link();
	const struct { gint64 now; guint32 clicks; gboolean revoked; const char *status; } rows[] = {
		{ NOW, 0, FALSE, "active" },
		{ NOW + 60 * (gint64)G_USEC_PER_SEC, 0, FALSE, "expired" },
		{ NOW, 3, FALSE, "exhausted" },
		{ NOW, 0, TRUE, "revoked" },
	};
	for(guint i = 0; i < G_N_ELEMENTS(rows); i++) {
		l->clicks = rows[i].clicks;
		l->revoked = rows[i].revoked;
		json_t *o = p2plink_link_to_json(l, rows[i].now, FALSE);
		g_assert_cmpstr(json_string_value(json_object_get(o, "status")), ==, rows[i].status);
		json_decref(o);
	}
	p2plink_link_free(l);
}

static void test_json_click_unknown_link_is_null(void) {
	p2plink_click c = { 7, NULL, NOW, NULL, g_strdup("curl/8"), P2PLINK_LINK_UNKNOWN };
	json_t *o = p2plink_click_to_json(&c);
	g_assert_true(json_is_null(json_object_get(o, "link_id")));
	g_assert_true(json_is_null(json_object_get(o, "ip")));
	g_assert_cmpstr(json_string_value(json_object_get(o, "user_agent")), ==, "curl/8");
	g_assert_cmpstr(json_string_value(json_object_get(o, "outcome")), ==, "unknown");
	g_assert_cmpint(json_integer_value(json_object_get(o, "at")), ==, NOW);
	json_decref(o);
	g_free(c.user_agent);
}

static void test_link_copy_is_deep(void) {
	p2plink_link *l = rule_link();
	const char *wl[] = { "10.0.0.0/8", NULL };
	l->whitelist = g_strdupv((gchar **)wl);
	l->owner = g_strdup(OWNER_A);
	p2plink_link *c = p2plink_link_copy(l);
	g_assert_true(c->target != l->target && c->whitelist != l->whitelist && c->owner != l->owner);
	g_assert_cmpstr(c->owner, ==, OWNER_A);
	g_assert_cmpstr(c->target, ==, "alice");
	g_assert_cmpstr(c->whitelist[0], ==, "10.0.0.0/8");
	g_assert_cmpint(c->expires_at, ==, l->expires_at);
	p2plink_link_free(l);
	p2plink_link_free(c);
	p2plink_link_free(NULL);
}

/* ---- User agents ---- */

static void test_user_agent_cut_on_character_boundary(void) {
	/* 511 ASCII bytes then a 2-byte character straddling the 512 limit */
	GString *ua = g_string_new(NULL);
	for(int i = 0; i < 511; i++)
		g_string_append_c(ua, 'a');
	g_string_append(ua, "\xc3\xa9tail");
	char *clean = p2plink_user_agent_clean(ua->str);
	g_assert_cmpuint(strlen(clean), ==, 511);
	g_assert_true(g_utf8_validate(clean, -1, NULL));
	g_free(clean);
	g_string_free(ua, TRUE);
}

static void test_user_agent_invalid_utf8_and_controls_replaced(void) {
	char *clean = p2plink_user_agent_clean("Mozilla\xff/5.0\r\nX-Evil: 1");
	g_assert_true(g_utf8_validate(clean, -1, NULL));
	g_assert_null(strchr(clean, '\n'));
	g_assert_null(strchr(clean, '\r'));
	g_assert_nonnull(strstr(clean, "Mozilla"));
	g_free(clean);
	g_assert_null(p2plink_user_agent_clean(NULL));
}

/* ---- Registration ---- */

#define ADD_TABLE(prefix, table, fn) \
	for(guint i = 0; i < G_N_ELEMENTS(table); i++) { \
		char *path = g_strdup_printf("%s%s", prefix, table[i].name); \
		g_test_add_data_func(path, &table[i], fn); \
		g_free(path); \
	}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);

	ADD_TABLE("/links/ttl/accepts/", ttl_goods, test_ttl_good);
	ADD_TABLE("/links/ttl/", ttl_bads, test_ttl_bad);
	g_test_add_func("/links/ttl/accepts_exactly_the_max", test_ttl_accepts_exactly_the_max);
	g_test_add_func("/links/ttl/format_picks_largest_exact_unit", test_ttl_format_picks_largest_exact_unit);

	ADD_TABLE("/links/cidr/parses/", cidr_goods, test_cidr_good);
	ADD_TABLE("/links/cidr/", cidr_bads, test_cidr_bad);
	ADD_TABLE("/links/cidr/match/", cidr_matches, test_cidr_match);
	g_test_add_func("/links/whitelist/empty_allows_anyone", test_whitelist_empty_allows_anyone);
	g_test_add_func("/links/whitelist/refuses_missing_client_ip", test_whitelist_refuses_missing_client_ip);
	g_test_add_func("/links/whitelist/any_entry_matches", test_whitelist_any_entry_matches);
	g_test_add_func("/links/whitelist/bad_entry_matches_nothing", test_whitelist_bad_entry_matches_nothing);

	g_test_add_func("/links/token/is_43_urlsafe_chars", test_token_is_43_urlsafe_chars);
	g_test_add_func("/links/token/carries_256_random_bits", test_token_carries_256_random_bits);
	g_test_add_func("/links/token/10000_are_distinct", test_token_10000_are_distinct);
	g_test_add_func("/links/token/hash_is_sha256_hex", test_token_hash_is_sha256_hex);
	g_test_add_func("/links/token/hash_is_stable_and_differs_from_token", test_token_hash_is_stable_and_differs_from_token);
	g_test_add_func("/links/token/looks_valid_rejects_wrong_shape", test_token_looks_valid_rejects_wrong_shape);
	g_test_add_func("/links/token/link_id_is_16_urlsafe_chars", test_link_id_is_16_urlsafe_chars);

	g_test_add_func("/links/rules/ok_one_microsecond_before_expiry", test_rules_ok_one_microsecond_before_expiry);
	g_test_add_func("/links/rules/expired_exactly_at_expiry", test_rules_expired_exactly_at_expiry);
	g_test_add_func("/links/rules/never_expires_when_expiry_zero", test_rules_never_expires_when_expiry_zero);
	g_test_add_func("/links/rules/last_click_is_granted", test_rules_last_click_is_granted);
	g_test_add_func("/links/rules/exhausted_after_last_click", test_rules_exhausted_after_last_click);
	g_test_add_func("/links/rules/unlimited_when_max_clicks_zero", test_rules_unlimited_when_max_clicks_zero);
	g_test_add_func("/links/rules/revoked_wins_over_everything", test_rules_revoked_wins_over_everything);
	g_test_add_func("/links/rules/expiry_checked_before_ip", test_rules_expiry_checked_before_ip);
	g_test_add_func("/links/rules/ip_checked_before_exhaustion", test_rules_ip_checked_before_exhaustion);
	g_test_add_func("/links/rules/whitelist_denies_missing_ip", test_rules_whitelist_denies_missing_ip);
	g_test_add_func("/links/rules/unknown_without_link", test_rules_unknown_without_link);
	g_test_add_func("/links/rules/outcome_codes_are_stable", test_rules_outcome_codes_are_stable);
	g_test_add_func("/links/rules/messages_do_not_leak_rules", test_rules_messages_do_not_leak_rules);

	g_test_add_func("/links/json/create_minimal_uses_defaults", test_json_create_minimal_uses_defaults);
	g_test_add_func("/links/json/create_canonicalises_whitelist", test_json_create_canonicalises_whitelist);
	ADD_TABLE("/links/json/create/", json_bads, test_json_create_bad);
	g_test_add_func("/links/json/create_accepts_purpose_of_64_chars", test_json_create_accepts_purpose_of_64_chars);
	g_test_add_func("/links/json/create_uses_default_ttl", test_json_create_uses_default_ttl);
	g_test_add_func("/links/json/output_hides_token_hash_unless_asked", test_json_output_hides_token_hash_unless_asked);
	g_test_add_func("/links/json/output_status_follows_rules", test_json_output_status_follows_rules);
	g_test_add_func("/links/json/click_unknown_link_is_null", test_json_click_unknown_link_is_null);
	g_test_add_func("/links/model/copy_is_deep", test_link_copy_is_deep);
	g_test_add_func("/links/owner/grants_when_the_owner_holds_the_target", test_owner_rule_grants_when_the_owner_holds_the_target);
	g_test_add_func("/links/owner/impostor_on_the_id_is_not_online", test_owner_rule_impostor_on_the_id_is_not_online);
	g_test_add_func("/links/owner/nobody_online_is_not_online", test_owner_rule_nobody_online_is_not_online);
	g_test_add_func("/links/owner/unclaimed_link_passes_for_any_holder", test_owner_rule_unclaimed_link_passes_for_any_holder);
	g_test_add_func("/links/owner/comes_after_the_link_rules", test_owner_rule_comes_after_the_link_rules);
	g_test_add_func("/links/owner/looks_valid_only_for_64_lowercase_hex", test_owner_looks_valid_only_for_64_lowercase_hex);
	g_test_add_func("/links/privacy/ipv4_to_24", test_ip_truncate_ipv4_to_24);
	g_test_add_func("/links/privacy/ipv6_to_48", test_ip_truncate_ipv6_to_48);
	g_test_add_func("/links/privacy/unparsable_is_null", test_ip_truncate_unparsable_is_null);

	g_test_add_func("/links/user_agent/cut_on_character_boundary", test_user_agent_cut_on_character_boundary);
	g_test_add_func("/links/user_agent/invalid_utf8_and_controls_replaced", test_user_agent_invalid_utf8_and_controls_replaced);

	return g_test_run();
}
