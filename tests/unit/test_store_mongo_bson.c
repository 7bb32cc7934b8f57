/* test_store_mongo_bson.c — the BSON the MongoDB store sends and reads
 *
 * What it covers: store_mongo_bson.c, byte for byte. Every builder's output
 * is rendered as canonical extended JSON and compared with a literal, so a
 * type change (Int32 vs Int64, Date vs number) or a reordered key fails a
 * test. Also: link and click round trips, parsers refusing broken
 * documents, and the whitelist ranges agreeing with p2plink_cidr_contains().
 * Not for: talking to a server (test_store_mongo_wire.c, test_store_mongo.c).
 *
 * Build and run by hand (from the repository root):
 *   gcc -Wall -Wextra -g $(pkg-config --cflags libmongoc-1.0 glib-2.0 jansson openssl) \
 *     -Icommon -Iplugins/janus_p2plink tests/unit/test_store_mongo_bson.c plugins/janus_p2plink/store_mongo_bson.c \
 *     plugins/janus_p2plink/store.c common/links.c \
 *     -o /tmp/test_store_mongo_bson $(pkg-config --libs libmongoc-1.0 glib-2.0 jansson openssl) \
 *     && /tmp/test_store_mongo_bson --tap
 */

#include <string.h>

#include "bson_json.h"
#include "store_mongo_bson.h"
#include "store_suite.h"

#define NOW G_GINT64_CONSTANT(1700000000000000)
#define OWNER "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HOUR (G_GINT64_CONSTANT(3600) * G_USEC_PER_SEC)

/* The literal is canonical extended JSON written compactly; both sides are
 * rendered by libbson so only content, types and key order count. */
static void assert_json(const bson_t *doc, const char *expected) {
	bson_error_t e;
	bson_t *want = bson_new_from_json((const uint8_t *)expected, -1, &e);
	if(want == NULL)
		g_error("bad expected JSON in the test: %s\n%s", e.message, expected);
	char *got_s = p2plink_mongo_to_json(doc);
	char *want_s = p2plink_mongo_to_json(want);
	g_assert_cmpstr(got_s, ==, want_s);
	g_free(got_s);
	g_free(want_s);
	bson_destroy(want);
}

static p2plink_link *sample_link(void) {
	p2plink_link *l = p2plink_link_new();
	l->id = g_strdup("AAAAAAAAAAAAAAAA");
	l->token_hash = g_strdup("ab01");
	l->target = g_strdup("alice");
	l->purpose = g_strdup("call");
	l->creator = g_strdup("bob");
	l->created_at = NOW;
	l->expires_at = NOW + HOUR + 999;	/* sub-millisecond part is kept in expires_at only */
	l->max_clicks = 10;
	l->clicks = 3;
	const char *wl[] = { "10.0.0.0/8", "2001:db8::/32", NULL };
	l->whitelist = g_strdupv((gchar **)wl);
	return l;
}

#define RANGE_10_8 "{\"lo\":{\"$binary\":{\"base64\":\"AAAAAAAAAAAAAP//CgAAAA==\",\"subType\":\"00\"}}," \
	"\"hi\":{\"$binary\":{\"base64\":\"AAAAAAAAAAAAAP//Cv///w==\",\"subType\":\"00\"}}}"
#define RANGE_DB8_32 "{\"lo\":{\"$binary\":{\"base64\":\"IAENuAAAAAAAAAAAAAAAAA==\",\"subType\":\"00\"}}," \
	"\"hi\":{\"$binary\":{\"base64\":\"IAENuP///////////////w==\",\"subType\":\"00\"}}}"
#define RANGE_NONE "{\"lo\":{\"$binary\":{\"base64\":\"/////////////////////w==\",\"subType\":\"00\"}}," \
	"\"hi\":{\"$binary\":{\"base64\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"subType\":\"00\"}}}"
#define IP_192_0_2_7 "{\"$binary\":{\"base64\":\"AAAAAAAAAAAAAP//wAACBw==\",\"subType\":\"00\"}}"
#define NOT_EXPIRED(now) "{\"$or\":[{\"expires_at\":{\"$numberLong\":\"0\"}}," \
	"{\"expires_at\":{\"$gt\":{\"$numberLong\":\"" now "\"}}}]}"
#define NOT_EXHAUSTED "{\"$or\":[{\"max_clicks\":{\"$numberLong\":\"0\"}}," \
	"{\"$expr\":{\"$lt\":[\"$clicks\",\"$max_clicks\"]}}]}"

/* ---- Links ---- */

static void test_link_to_bson_exact(void) {
	p2plink_link *l = sample_link();
	bson_t *doc = p2plink_mongo_link_to_bson(l);
	assert_json(doc, "{\"_id\":\"AAAAAAAAAAAAAAAA\",\"token_hash\":\"ab01\",\"target\":\"alice\","
		"\"purpose\":\"call\",\"creator\":\"bob\","
		"\"created_at\":{\"$numberLong\":\"1700000000000000\"},"
		"\"expires_at\":{\"$numberLong\":\"1700003600000999\"},"
		"\"expire_at\":{\"$date\":{\"$numberLong\":\"1700003600000\"}},"
		"\"max_clicks\":{\"$numberLong\":\"10\"},\"clicks\":{\"$numberLong\":\"3\"},"
		"\"whitelist\":[\"10.0.0.0/8\",\"2001:db8::/32\"],"
		"\"ip_ranges\":[" RANGE_10_8 "," RANGE_DB8_32 "],"
		"\"revoked\":false,\"owner\":null}");
	bson_destroy(doc);
	p2plink_link_free(l);
}

static void test_link_without_expiry_has_no_ttl_field(void) {
	p2plink_link *l = sample_link();
	l->expires_at = 0;
	g_strfreev(l->whitelist);
	l->whitelist = NULL;
	l->revoked = TRUE;
	l->revoked_at = NOW + 7;
	l->owner = g_strdup(OWNER);
	bson_t *doc = p2plink_mongo_link_to_bson(l);
	g_assert_false(bson_has_field(doc, "expire_at"));
	assert_json(doc, "{\"_id\":\"AAAAAAAAAAAAAAAA\",\"token_hash\":\"ab01\",\"target\":\"alice\","
		"\"purpose\":\"call\",\"creator\":\"bob\","
		"\"created_at\":{\"$numberLong\":\"1700000000000000\"},"
		"\"expires_at\":{\"$numberLong\":\"0\"},"
		"\"max_clicks\":{\"$numberLong\":\"10\"},\"clicks\":{\"$numberLong\":\"3\"},"
		"\"whitelist\":[],\"ip_ranges\":[],\"revoked\":true,\"owner\":\"" OWNER "\","
		"\"revoked_at\":{\"$numberLong\":\"1700000000000007\"}}");
	bson_destroy(doc);
	p2plink_link_free(l);
}

static void test_link_round_trip(void) {
	p2plink_link *l = sample_link();
	g_free(l->purpose);
	l->purpose = g_strdup("file: holiday \xc3\xa9");
	l->max_clicks = G_MAXUINT32;
	l->clicks = G_MAXUINT32 - 1;
	for(int variant = 0; variant < 2; variant++) {
		bson_t *doc = p2plink_mongo_link_to_bson(l);
		GError *error = NULL;
		p2plink_link *back = p2plink_mongo_link_from_bson(doc, &error);
		g_assert_no_error(error);
		p2plink_assert_same_link(l, back);
		g_assert_cmpint(back->revoked_at, ==, l->revoked_at);
		p2plink_link_free(back);
		bson_destroy(doc);
		/* Second pass: no whitelist, no expiry, revoked, owned */
		g_strfreev(l->whitelist);
		l->whitelist = NULL;
		l->expires_at = 0;
		l->revoked = TRUE;
		l->revoked_at = NOW + 1;
		g_free(l->owner);
		l->owner = g_strdup(OWNER);
	}
	p2plink_link_free(l);
}

static void test_link_from_bson_accepts_int32_numbers(void) {
	/* A document edited by hand in the mongo shell stores small numbers as Int32 */
	bson_error_t e;
	bson_t *doc = bson_new_from_json((const uint8_t *)"{\"_id\":\"x\",\"token_hash\":\"h\",\"target\":\"t\","
		"\"purpose\":\"call\",\"creator\":\"c\",\"created_at\":{\"$numberLong\":\"5\"},"
		"\"expires_at\":{\"$numberInt\":\"0\"},\"max_clicks\":{\"$numberInt\":\"2\"},"
		"\"clicks\":{\"$numberInt\":\"1\"},\"revoked\":false}", -1, &e);
	p2plink_link *l = p2plink_mongo_link_from_bson(doc, NULL);
	g_assert_nonnull(l);
	g_assert_cmpuint(l->max_clicks, ==, 2);
	g_assert_cmpuint(l->clicks, ==, 1);
	g_assert_null(l->whitelist);
	/* Written before links were owned: unclaimed, never revoked */
	g_assert_null(l->owner);
	g_assert_cmpint(l->revoked_at, ==, 0);
	p2plink_link_free(l);
	bson_destroy(doc);
}

static void test_link_from_bson_refuses_broken_documents(void) {
	const char *broken[] = {
		"{}",
		/* no token_hash */
		"{\"_id\":\"x\",\"target\":\"t\",\"purpose\":\"p\",\"creator\":\"c\",\"created_at\":1,\"expires_at\":0,"
		"\"max_clicks\":0,\"clicks\":0,\"revoked\":false}",
		/* _id of the wrong type */
		"{\"_id\":7,\"token_hash\":\"h\",\"target\":\"t\",\"purpose\":\"p\",\"creator\":\"c\",\"created_at\":1,"
		"\"expires_at\":0,\"max_clicks\":0,\"clicks\":0,\"revoked\":false}",
		/* negative clicks */
		"{\"_id\":\"x\",\"token_hash\":\"h\",\"target\":\"t\",\"purpose\":\"p\",\"creator\":\"c\",\"created_at\":1,"
		"\"expires_at\":0,\"max_clicks\":0,\"clicks\":-1,\"revoked\":false}",
		/* revoked as a number */
		"{\"_id\":\"x\",\"token_hash\":\"h\",\"target\":\"t\",\"purpose\":\"p\",\"creator\":\"c\",\"created_at\":1,"
		"\"expires_at\":0,\"max_clicks\":0,\"clicks\":0,\"revoked\":0}",
		/* whitelist not an array */
		"{\"_id\":\"x\",\"token_hash\":\"h\",\"target\":\"t\",\"purpose\":\"p\",\"creator\":\"c\",\"created_at\":1,"
		"\"expires_at\":0,\"max_clicks\":0,\"clicks\":0,\"whitelist\":\"10.0.0.0/8\",\"revoked\":false}",
	};
	for(guint i = 0; i < G_N_ELEMENTS(broken); i++) {
		bson_error_t e;
		bson_t *doc = bson_new_from_json((const uint8_t *)broken[i], -1, &e);
		g_assert_nonnull(doc);
		GError *error = NULL;
		g_assert_null(p2plink_mongo_link_from_bson(doc, &error));
		g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_SCHEMA);
		g_clear_error(&error);
		bson_destroy(doc);
	}
}

static void test_link_unreadable_whitelist_entry_fails_closed(void) {
	bson_error_t e;
	bson_t *doc = bson_new_from_json((const uint8_t *)"{\"_id\":\"x\",\"token_hash\":\"h\",\"target\":\"t\","
		"\"purpose\":\"p\",\"creator\":\"c\",\"created_at\":1,\"expires_at\":0,\"max_clicks\":0,\"clicks\":0,"
		"\"whitelist\":[42],\"revoked\":false}", -1, &e);
	p2plink_link *l = p2plink_mongo_link_from_bson(doc, NULL);
	g_assert_nonnull(l);
	g_assert_cmpuint(g_strv_length(l->whitelist), ==, 1);
	g_assert_cmpint(p2plink_link_check(l, NOW, "192.0.2.7"), ==, P2PLINK_LINK_IP_DENIED);
	/* And its stored range matches nothing either */
	bson_t *ranges = bson_new();
	p2plink_mongo_append_ip_ranges(ranges, "r", l->whitelist);
	assert_json(ranges, "{\"r\":[" RANGE_NONE "]}");
	bson_destroy(ranges);
	p2plink_link_free(l);
	bson_destroy(doc);
}

/* The server compares same-length BinData byte by byte; memcmp is that
 * comparison. Every (entry, address) pair must agree with links.c. */
static void test_ip_ranges_agree_with_cidr_contains(void) {
	const char *entries[] = { "10.0.0.0/8", "192.0.2.7", "0.0.0.0/0", "2001:db8::/32", "::/0",
		"::ffff:192.0.2.0/120", "2001:db8::1", "fe80::/10", "198.51.100.0/31", "not-an-ip" };
	const char *ips[] = { "10.0.0.0", "10.255.255.255", "11.0.0.0", "9.255.255.255", "192.0.2.7", "192.0.2.8",
		"::ffff:192.0.2.7", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::", "::1",
		"fe80::1", "febf:ffff::1", "fec0::", "198.51.100.1", "198.51.100.2", "0.0.0.0", "255.255.255.255" };
	for(guint i = 0; i < G_N_ELEMENTS(entries); i++) {
		gchar *wl[] = { (gchar *)entries[i], NULL };
		bson_t *doc = bson_new();
		p2plink_mongo_append_ip_ranges(doc, "r", wl);
		bson_iter_t it;
		g_assert_true(bson_iter_init(&it, doc));
		g_assert_true(bson_iter_find_descendant(&it, "r.0.lo", &it));
		const uint8_t *lo = NULL, *hi = NULL;
		uint32_t len = 0;
		bson_subtype_t st;
		bson_iter_binary(&it, &st, &len, &lo);
		g_assert_cmpuint(len, ==, 16);
		bson_iter_t it2;
		g_assert_true(bson_iter_init(&it2, doc));
		g_assert_true(bson_iter_find_descendant(&it2, "r.0.hi", &it2));
		bson_iter_binary(&it2, &st, &len, &hi);
		g_assert_cmpuint(len, ==, 16);
		for(guint j = 0; j < G_N_ELEMENTS(ips); j++) {
			guint8 ip[16];
			g_assert_true(p2plink_ip_parse(ips[j], ip));
			gboolean in_range = memcmp(lo, ip, 16) <= 0 && memcmp(ip, hi, 16) <= 0;
			const char *one[] = { entries[i], NULL };
			gboolean allowed = p2plink_whitelist_allows(one, ips[j]);
			if(in_range != allowed)
				g_error("%s vs %s: range says %d, links.c says %d", entries[i], ips[j], in_range, allowed);
		}
		bson_destroy(doc);
	}
}

/* ---- Redemption ---- */

static void test_redeem_query_with_client_ip_exact(void) {
	bson_t *q = p2plink_mongo_redeem_query("ab01", NOW, "192.0.2.7", NULL);
	assert_json(q, "{\"token_hash\":\"ab01\",\"revoked\":false,\"$and\":["
		NOT_EXPIRED("1700000000000000") ","
		NOT_EXHAUSTED ","
		"{\"$or\":[{\"ip_ranges\":{\"$size\":{\"$numberInt\":\"0\"}}},"
		"{\"ip_ranges\":{\"$elemMatch\":{\"lo\":{\"$lte\":" IP_192_0_2_7 "},\"hi\":{\"$gte\":" IP_192_0_2_7 "}}}}]}"
		"]}");
	bson_destroy(q);
}

static void test_redeem_query_ipv4_mapped_equals_ipv4(void) {
	bson_t *a = p2plink_mongo_redeem_query("h", NOW, "192.0.2.7", NULL);
	bson_t *b = p2plink_mongo_redeem_query("h", NOW, "::ffff:192.0.2.7", NULL);
	g_assert_true(bson_equal(a, b));
	bson_destroy(a);
	bson_destroy(b);
}

static void test_redeem_query_without_ip_only_matches_open_links(void) {
	const char *no_ips[] = { NULL, "not-an-ip", "fe80::1%eth0", "[::1]" };
	for(guint i = 0; i < G_N_ELEMENTS(no_ips); i++) {
		bson_t *q = p2plink_mongo_redeem_query("ab01", NOW, no_ips[i], NULL);
		assert_json(q, "{\"token_hash\":\"ab01\",\"revoked\":false,\"$and\":["
			NOT_EXPIRED("1700000000000000") ","
			NOT_EXHAUSTED ","
			"{\"ip_ranges\":{\"$size\":{\"$numberInt\":\"0\"}}}"
			"]}");
		bson_destroy(q);
	}
}

static void test_redeem_query_with_holder_requires_owner_or_none(void) {
	bson_t *q = p2plink_mongo_redeem_query("ab01", NOW, NULL, OWNER);
	assert_json(q, "{\"token_hash\":\"ab01\",\"revoked\":false,\"$and\":["
		NOT_EXPIRED("1700000000000000") ","
		NOT_EXHAUSTED ","
		"{\"ip_ranges\":{\"$size\":{\"$numberInt\":\"0\"}}},"
		"{\"$or\":[{\"owner\":\"" OWNER "\"},{\"owner\":null}]}"
		"]}");
	bson_destroy(q);
}

static void test_redeem_update_exact(void) {
	bson_t *u = p2plink_mongo_redeem_update(NULL);
	assert_json(u, "{\"$inc\":{\"clicks\":{\"$numberLong\":\"1\"}}}");
	bson_destroy(u);
	/* With a holder: the claim of an unclaimed link, in the same update */
	u = p2plink_mongo_redeem_update(OWNER);
	assert_json(u, "{\"$inc\":{\"clicks\":{\"$numberLong\":\"1\"}},\"$set\":{\"owner\":\"" OWNER "\"}}");
	bson_destroy(u);
}

static void test_small_filters_exact(void) {
	bson_t *d = p2plink_mongo_hash_filter("ab01");
	assert_json(d, "{\"token_hash\":\"ab01\"}");
	bson_destroy(d);
	d = p2plink_mongo_id_filter("L1", NULL);
	assert_json(d, "{\"_id\":\"L1\"}");
	bson_destroy(d);
	d = p2plink_mongo_id_filter("L1", OWNER);
	assert_json(d, "{\"_id\":\"L1\",\"owner\":\"" OWNER "\"}");
	bson_destroy(d);
	/* $min: a second revocation keeps the first time, and the TTL then counts from the revocation */
	d = p2plink_mongo_revoke_update(NOW);
	assert_json(d, "{\"$set\":{\"revoked\":true},\"$min\":{\"revoked_at\":{\"$numberLong\":\"1700000000000000\"},"
		"\"expire_at\":{\"$date\":{\"$numberLong\":\"1700000000000\"}}}}");
	bson_destroy(d);
}

/* ---- Listing ---- */

static void test_active_filter_exact(void) {
	bson_t *f = p2plink_mongo_active_filter(NULL, NOW, NULL, FALSE);
	assert_json(f, "{\"revoked\":false,\"$and\":[" NOT_EXPIRED("1700000000000000") "," NOT_EXHAUSTED "]}");
	bson_destroy(f);
	/* The per-owner creation limit: that owner's peer-made links other than the new one */
	f = p2plink_mongo_active_filter(OWNER, NOW + 1, "L1", TRUE);
	assert_json(f, "{\"owner\":\"" OWNER "\",\"creator\":{\"$ne\":\"@admin\"},\"revoked\":false,\"$and\":["
		NOT_EXPIRED("1700000000000001") "," NOT_EXHAUSTED "],\"_id\":{\"$ne\":\"L1\"}}");
	bson_destroy(f);
}

static void test_list_filter_exact(void) {
	bson_t *f = p2plink_mongo_list_filter(NULL);
	assert_json(f, "{\"revoked\":false}");
	bson_destroy(f);
	p2plink_link_filter lf = { "alice", "bob", FALSE, 0, 0, NULL };
	f = p2plink_mongo_list_filter(&lf);
	assert_json(f, "{\"target\":\"alice\",\"creator\":\"bob\",\"revoked\":false}");
	bson_destroy(f);
	lf.target = NULL;
	lf.include_revoked = TRUE;
	f = p2plink_mongo_list_filter(&lf);
	assert_json(f, "{\"creator\":\"bob\"}");
	bson_destroy(f);
	lf.creator = NULL;
	lf.include_revoked = FALSE;
	lf.owner = OWNER;
	f = p2plink_mongo_list_filter(&lf);
	assert_json(f, "{\"revoked\":false,\"owner\":\"" OWNER "\"}");
	bson_destroy(f);
}

static void test_list_opts_sort_skip_limit_exact(void) {
	p2plink_link_filter lf = { NULL, NULL, FALSE, 20, 10, NULL };
	bson_t *o = p2plink_mongo_list_opts(&lf);
	assert_json(o, "{\"sort\":{\"created_at\":{\"$numberInt\":\"-1\"},\"_id\":{\"$numberInt\":\"-1\"}},"
		"\"skip\":{\"$numberLong\":\"20\"},\"limit\":{\"$numberLong\":\"10\"}}");
	bson_destroy(o);
	/* 0 = default page, too large = clamped */
	o = p2plink_mongo_list_opts(NULL);
	assert_json(o, "{\"sort\":{\"created_at\":{\"$numberInt\":\"-1\"},\"_id\":{\"$numberInt\":\"-1\"}},"
		"\"skip\":{\"$numberLong\":\"0\"},\"limit\":{\"$numberLong\":\"100\"}}");
	bson_destroy(o);
	lf.limit = 5000;
	o = p2plink_mongo_list_opts(&lf);
	assert_json(o, "{\"sort\":{\"created_at\":{\"$numberInt\":\"-1\"},\"_id\":{\"$numberInt\":\"-1\"}},"
		"\"skip\":{\"$numberLong\":\"20\"},\"limit\":{\"$numberLong\":\"1000\"}}");
	bson_destroy(o);
}

/* ---- Clicks ---- */

static void test_click_to_bson_exact_and_round_trip(void) {
	p2plink_redeem_request req = { "ab01", NOW + 5, "2001:db8::7", "UA\r\nInjected: yes", NULL, NULL, FALSE, FALSE };
	bson_t *doc = p2plink_mongo_click_to_bson(42, "L1", &req, P2PLINK_LINK_IP_DENIED);
	assert_json(doc, "{\"seq\":{\"$numberLong\":\"42\"},\"link_id\":\"L1\","
		"\"at\":{\"$numberLong\":\"1700000000000005\"},\"at_date\":{\"$date\":{\"$numberLong\":\"1700000000000\"}},"
		"\"ip\":\"2001:db8::7\","
		"\"ua\":\"UA  Injected: yes\",\"outcome\":\"ip-denied\"}");
	GError *error = NULL;
	p2plink_click *c = p2plink_mongo_click_from_bson(doc, &error);
	g_assert_no_error(error);
	g_assert_cmpint(c->id, ==, 42);
	g_assert_cmpstr(c->link_id, ==, "L1");
	g_assert_cmpint(c->at, ==, NOW + 5);
	g_assert_cmpstr(c->client_ip, ==, "2001:db8::7");
	g_assert_cmpstr(c->user_agent, ==, "UA  Injected: yes");
	g_assert_cmpint(c->outcome, ==, P2PLINK_LINK_IP_DENIED);
	p2plink_click_free(c);
	bson_destroy(doc);
}

static void test_click_unknown_token_has_null_fields(void) {
	p2plink_redeem_request req = { "zz", NOW, NULL, NULL, NULL, NULL, FALSE, FALSE };
	bson_t *doc = p2plink_mongo_click_to_bson(7, NULL, &req, P2PLINK_LINK_UNKNOWN);
	assert_json(doc, "{\"seq\":{\"$numberLong\":\"7\"},\"link_id\":null,"
		"\"at\":{\"$numberLong\":\"1700000000000000\"},\"at_date\":{\"$date\":{\"$numberLong\":\"1700000000000\"}},"
		"\"ip\":null,\"ua\":null,\"outcome\":\"unknown\"}");
	p2plink_click *c = p2plink_mongo_click_from_bson(doc, NULL);
	g_assert_nonnull(c);
	g_assert_null(c->link_id);
	g_assert_null(c->client_ip);
	g_assert_null(c->user_agent);
	g_assert_cmpint(c->outcome, ==, P2PLINK_LINK_UNKNOWN);
	p2plink_click_free(c);
	bson_destroy(doc);
}

static void test_click_private_ip_is_cut_and_preview_is_an_outcome(void) {
	p2plink_redeem_request req = { "ab01", NOW, "2001:db8:aaaa:bbbb::7", NULL, NULL, NULL, TRUE, TRUE };
	bson_t *doc = p2plink_mongo_click_to_bson(1, "L1", &req, P2PLINK_LINK_PREVIEW);
	p2plink_click *c = p2plink_mongo_click_from_bson(doc, NULL);
	g_assert_nonnull(c);
	g_assert_cmpstr(c->client_ip, ==, "2001:db8:aaaa::");
	g_assert_cmpint(c->outcome, ==, P2PLINK_LINK_PREVIEW);
	p2plink_click_free(c);
	bson_destroy(doc);
}

static void test_click_from_bson_refuses_bad_outcome(void) {
	const char *broken[] = {
		"{\"seq\":1,\"at\":1,\"outcome\":\"maybe\"}",
		"{\"seq\":1,\"at\":1}",
		"{\"at\":1,\"outcome\":\"ok\"}",
		"{\"seq\":1,\"at\":1,\"outcome\":\"ok\",\"ip\":5}",
	};
	for(guint i = 0; i < G_N_ELEMENTS(broken); i++) {
		bson_error_t e;
		bson_t *doc = bson_new_from_json((const uint8_t *)broken[i], -1, &e);
		GError *error = NULL;
		g_assert_null(p2plink_mongo_click_from_bson(doc, &error));
		g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_SCHEMA);
		g_clear_error(&error);
		bson_destroy(doc);
	}
}

static void test_clicks_filter_opts_pipeline_exact(void) {
	bson_t *d = p2plink_mongo_clicks_filter("L1");
	assert_json(d, "{\"link_id\":\"L1\"}");
	bson_destroy(d);
	d = p2plink_mongo_clicks_filter(NULL);
	assert_json(d, "{}");
	bson_destroy(d);
	d = p2plink_mongo_clicks_opts(1, 2);
	assert_json(d, "{\"sort\":{\"seq\":{\"$numberInt\":\"-1\"}},\"skip\":{\"$numberLong\":\"1\"},"
		"\"limit\":{\"$numberLong\":\"2\"}}");
	bson_destroy(d);
	d = p2plink_mongo_clicks_by_outcome_pipeline();
	assert_json(d, "{\"pipeline\":[{\"$group\":{\"_id\":\"$outcome\",\"n\":{\"$sum\":{\"$numberInt\":\"1\"}}}}]}");
	bson_destroy(d);
}

/* ---- Indexes ---- */

static void test_links_indexes_command_exact(void) {
	bson_t *c = p2plink_mongo_links_indexes_command(604800);
	assert_json(c, "{\"createIndexes\":\"links\",\"indexes\":["
		"{\"key\":{\"token_hash\":{\"$numberInt\":\"1\"}},\"name\":\"token_hash_unique\",\"unique\":true},"
		"{\"key\":{\"target\":{\"$numberInt\":\"1\"},\"created_at\":{\"$numberInt\":\"-1\"}},\"name\":\"target_created\"},"
		"{\"key\":{\"creator\":{\"$numberInt\":\"1\"},\"created_at\":{\"$numberInt\":\"-1\"}},\"name\":\"creator_created\"},"
		"{\"key\":{\"owner\":{\"$numberInt\":\"1\"},\"created_at\":{\"$numberInt\":\"-1\"}},\"name\":\"owner_created\"},"
		"{\"key\":{\"created_at\":{\"$numberInt\":\"-1\"},\"_id\":{\"$numberInt\":\"-1\"}},\"name\":\"created\"},"
		"{\"key\":{\"expire_at\":{\"$numberInt\":\"1\"}},\"name\":\"expire_at_ttl\","
		"\"expireAfterSeconds\":{\"$numberInt\":\"604800\"}}]}");
	bson_destroy(c);
	/* The server's limit is a 32-bit int */
	c = p2plink_mongo_ttl_collmod_command("links", "expire_at_ttl", G_MAXUINT32);
	assert_json(c, "{\"collMod\":\"links\",\"index\":{\"name\":\"expire_at_ttl\","
		"\"expireAfterSeconds\":{\"$numberInt\":\"2147483647\"}}}");
	bson_destroy(c);
}

static void test_clicks_indexes_command_exact(void) {
	bson_t *c = p2plink_mongo_clicks_indexes_command(2592000);
	assert_json(c, "{\"createIndexes\":\"clicks\",\"indexes\":["
		"{\"key\":{\"link_id\":{\"$numberInt\":\"1\"},\"seq\":{\"$numberInt\":\"-1\"}},\"name\":\"link_seq\"},"
		"{\"key\":{\"seq\":{\"$numberInt\":\"-1\"}},\"name\":\"seq\"},"
		"{\"key\":{\"outcome\":{\"$numberInt\":\"1\"}},\"name\":\"outcome\"},"
		"{\"key\":{\"at_date\":{\"$numberInt\":\"1\"}},\"name\":\"at_date_ttl\","
		"\"expireAfterSeconds\":{\"$numberInt\":\"2592000\"}}]}");
	bson_destroy(c);
	c = p2plink_mongo_ttl_collmod_command("clicks", "at_date_ttl", 86400);
	assert_json(c, "{\"collMod\":\"clicks\",\"index\":{\"name\":\"at_date_ttl\","
		"\"expireAfterSeconds\":{\"$numberInt\":\"86400\"}}}");
	bson_destroy(c);
}

static void test_unowned_peer_links_are_withdrawn_exact(void) {
	bson_t *f = p2plink_mongo_unowned_peer_links_filter();
	assert_json(f, "{\"owner\":{\"$exists\":false},\"creator\":{\"$ne\":\"@admin\"}}");
	bson_destroy(f);
	bson_t *u = p2plink_mongo_unowned_peer_links_update(NOW);
	assert_json(u, "{\"$set\":{\"revoked\":true,\"owner\":null},\"$min\":{\"revoked_at\":{\"$numberLong\":\"1700000000000000\"},"
		"\"expire_at\":{\"$date\":{\"$numberLong\":\"1700000000000\"}}}}");
	bson_destroy(u);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mongo/bson/link_to_bson_exact", test_link_to_bson_exact);
	g_test_add_func("/mongo/bson/link_without_expiry_has_no_ttl_field", test_link_without_expiry_has_no_ttl_field);
	g_test_add_func("/mongo/bson/link_round_trip", test_link_round_trip);
	g_test_add_func("/mongo/bson/link_from_bson_accepts_int32_numbers", test_link_from_bson_accepts_int32_numbers);
	g_test_add_func("/mongo/bson/link_from_bson_refuses_broken_documents", test_link_from_bson_refuses_broken_documents);
	g_test_add_func("/mongo/bson/link_unreadable_whitelist_entry_fails_closed", test_link_unreadable_whitelist_entry_fails_closed);
	g_test_add_func("/mongo/bson/ip_ranges_agree_with_cidr_contains", test_ip_ranges_agree_with_cidr_contains);
	g_test_add_func("/mongo/bson/redeem_query_with_client_ip_exact", test_redeem_query_with_client_ip_exact);
	g_test_add_func("/mongo/bson/redeem_query_ipv4_mapped_equals_ipv4", test_redeem_query_ipv4_mapped_equals_ipv4);
	g_test_add_func("/mongo/bson/redeem_query_without_ip_only_matches_open_links", test_redeem_query_without_ip_only_matches_open_links);
	g_test_add_func("/mongo/bson/redeem_update_exact", test_redeem_update_exact);
	g_test_add_func("/mongo/bson/redeem_query_with_holder_requires_owner_or_none", test_redeem_query_with_holder_requires_owner_or_none);
	g_test_add_func("/mongo/bson/click_private_ip_is_cut_and_preview_is_an_outcome", test_click_private_ip_is_cut_and_preview_is_an_outcome);
	g_test_add_func("/mongo/bson/small_filters_exact", test_small_filters_exact);
	g_test_add_func("/mongo/bson/active_filter_exact", test_active_filter_exact);
	g_test_add_func("/mongo/bson/list_filter_exact", test_list_filter_exact);
	g_test_add_func("/mongo/bson/list_opts_sort_skip_limit_exact", test_list_opts_sort_skip_limit_exact);
	g_test_add_func("/mongo/bson/click_to_bson_exact_and_round_trip", test_click_to_bson_exact_and_round_trip);
	g_test_add_func("/mongo/bson/click_unknown_token_has_null_fields", test_click_unknown_token_has_null_fields);
	g_test_add_func("/mongo/bson/click_from_bson_refuses_bad_outcome", test_click_from_bson_refuses_bad_outcome);
	g_test_add_func("/mongo/bson/clicks_filter_opts_pipeline_exact", test_clicks_filter_opts_pipeline_exact);
	g_test_add_func("/mongo/bson/links_indexes_command_exact", test_links_indexes_command_exact);
	g_test_add_func("/mongo/bson/clicks_indexes_command_exact", test_clicks_indexes_command_exact);
	g_test_add_func("/mongo/bson/unowned_peer_links_are_withdrawn_exact", test_unowned_peer_links_are_withdrawn_exact);
	return g_test_run();
}
