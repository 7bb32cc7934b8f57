/* store_suite.c — the backend-independent test suite for store.h
 *
 * What it is for: the behaviour every store backend must show, written once
 * against the p2plink_store_* interface (see store_suite.h). Each test gets
 * fresh storage from the backend, one behaviour per test.
 * Not for: anything backend-specific.
 */

#include <string.h>

#include "store_suite.h"

#define NOW G_GINT64_CONSTANT(1700000000000000)	/* fixed "now", us */
#define HOUR (G_GINT64_CONSTANT(3600) * G_USEC_PER_SEC)

/* ---- Fixture ---- */

typedef struct suite_ctx {
	const p2plink_store_backend *backend;
	gpointer fixture;
	p2plink_store *store;
} suite_ctx;

/* FALSE means the test was skipped and must return at once */
static gboolean ctx_begin(suite_ctx *ctx, gconstpointer data) {
	char *reason = NULL;
	GError *error = NULL;
	ctx->backend = data;
	ctx->fixture = ctx->backend->setup(&reason);
	if(ctx->fixture == NULL) {
		g_test_skip(reason ? reason : "backend not available");
		g_free(reason);
		return FALSE;
	}
	ctx->store = ctx->backend->open(ctx->fixture, &error);
	g_assert_no_error(error);
	g_assert_nonnull(ctx->store);
	return TRUE;
}

static void ctx_end(suite_ctx *ctx) {
	p2plink_store_close(ctx->store);
	ctx->backend->teardown(ctx->fixture);
}

/* A valid link with fresh token/hash/id. The token is returned if asked. */
static p2plink_link *make_link(const char *target, const char *creator, guint32 max_clicks,
		gint64 created_at, char **token_out) {
	char *token = p2plink_token_new(NULL);
	p2plink_link *l = p2plink_link_new();
	l->id = p2plink_link_id_new(NULL);
	l->token_hash = p2plink_token_hash(token);
	l->target = g_strdup(target);
	l->purpose = g_strdup("call");
	l->creator = g_strdup(creator);
	/* Peer-made links are owned by their creator; in these tests the owner hash is spelled as the creator's name.
	 * Admin links start unclaimed. */
	l->owner = strcmp(creator, P2PLINK_CREATOR_ADMIN) != 0 ? g_strdup(creator) : NULL;
	l->created_at = created_at;
	l->expires_at = created_at + HOUR;
	l->max_clicks = max_clicks;
	if(token_out)
		*token_out = token;
	else
		g_free(token);
	return l;
}

static void must_create(suite_ctx *ctx, const p2plink_link *l) {
	GError *error = NULL;
	g_assert_true(p2plink_store_create_link(ctx->store, l, NOW, 0, &error));
	g_assert_no_error(error);
}

static p2plink_link *stored_link(suite_ctx *ctx, const char *target, const char *creator, guint32 max_clicks) {
	p2plink_link *l = make_link(target, creator, max_clicks, NOW, NULL);
	must_create(ctx, l);
	return l;
}

static p2plink_link_outcome must_redeem(p2plink_store *store, const char *hash, gint64 now,
		const char *ip, const char *ua) {
	p2plink_redeem_request req = { hash, now, ip, ua, NULL, NULL, FALSE, FALSE };
	p2plink_link_outcome o = P2PLINK_LINK_OUTCOME_COUNT;
	GError *error = NULL;
	g_assert_true(p2plink_store_redeem(store, &req, &o, NULL, &error));
	g_assert_no_error(error);
	return o;
}

void p2plink_assert_same_link(const p2plink_link *a, const p2plink_link *b) {
	g_assert_cmpstr(a->id, ==, b->id);
	g_assert_cmpstr(a->token_hash, ==, b->token_hash);
	g_assert_cmpstr(a->target, ==, b->target);
	g_assert_cmpstr(a->purpose, ==, b->purpose);
	g_assert_cmpstr(a->creator, ==, b->creator);
	g_assert_cmpint(a->created_at, ==, b->created_at);
	g_assert_cmpint(a->expires_at, ==, b->expires_at);
	g_assert_cmpuint(a->max_clicks, ==, b->max_clicks);
	g_assert_cmpuint(a->clicks, ==, b->clicks);
	g_assert_cmpint(a->revoked, ==, b->revoked);
	g_assert_cmpstr(a->owner, ==, b->owner);
	g_assert_cmpuint(a->whitelist ? g_strv_length(a->whitelist) : 0, ==, b->whitelist ? g_strv_length(b->whitelist) : 0);
	for(guint i = 0; a->whitelist && a->whitelist[i]; i++)
		g_assert_cmpstr(a->whitelist[i], ==, b->whitelist[i]);
}

/* ---- CRUD ---- */

/* Every field comes back as stored; found by token hash the way visitors find it (a preview redemption: it
 * neither counts nor claims) */
static void test_create_then_get_by_hash(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = make_link("alice", "bob", 5, NOW, NULL);
	const char *wl[] = { "10.0.0.0/8", "2001:db8::/32", NULL };
	l->whitelist = g_strdupv((gchar **)wl);
	g_free(l->purpose);
	l->purpose = g_strdup("file: holiday photos \xc3\xa9");
	must_create(&ctx, l);
	GError *error = NULL;
	p2plink_link *got = NULL;
	p2plink_link_outcome outcome;
	p2plink_redeem_request req = { .token_hash = l->token_hash, .now = NOW, .preview = TRUE };
	g_assert_true(p2plink_store_redeem(ctx.store, &req, &outcome, &got, &error));
	g_assert_no_error(error);
	p2plink_assert_same_link(l, got);
	p2plink_link_free(got);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_create_then_get_by_id(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", P2PLINK_CREATOR_ADMIN, 0);
	p2plink_link *got = p2plink_store_get_link(ctx.store, l->id, NULL);
	g_assert_nonnull(got);
	p2plink_assert_same_link(l, got);
	g_assert_null(got->whitelist);
	p2plink_link_free(got);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_get_unknown_is_not_found(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	GError *error = NULL;
	g_assert_null(p2plink_store_get_link(ctx.store, "no-such-id", &error));
	g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_NOT_FOUND);
	g_clear_error(&error);
	/* An unknown token is not an error for redeem: it is the outcome "unknown", with no link */
	p2plink_link *got = NULL;
	p2plink_link_outcome outcome;
	p2plink_redeem_request req = { .token_hash = "00", .now = NOW, .preview = TRUE };
	g_assert_true(p2plink_store_redeem(ctx.store, &req, &outcome, &got, &error));
	g_assert_no_error(error);
	g_assert_null(got);
	g_assert_cmpint(outcome, ==, P2PLINK_LINK_UNKNOWN);
	ctx_end(&ctx);
}

static void test_create_duplicate_is_exists(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "bob", 0);
	GError *error = NULL;
	g_assert_false(p2plink_store_create_link(ctx.store, l, NOW, 0, &error));
	g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_EXISTS);
	g_clear_error(&error);
	/* Same token hash under another id is refused too */
	g_free(l->id);
	l->id = p2plink_link_id_new(NULL);
	g_assert_false(p2plink_store_create_link(ctx.store, l, NOW, 0, &error));
	g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_EXISTS);
	g_clear_error(&error);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_create_refuses_over_creator_limit(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	GError *error = NULL;
	for(int i = 0; i < 3; i++) {
		p2plink_link *l = make_link("bob", "bob", 0, NOW, NULL);
		gboolean ok = p2plink_store_create_link(ctx.store, l, NOW, 2, &error);
		g_assert_cmpint(ok, ==, i < 2);
		if(i == 2) {
			g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_LIMIT);
			g_clear_error(&error);
		}
		p2plink_link_free(l);
	}
	/* Another creator is not affected */
	p2plink_link *other = make_link("carol", "carol", 0, NOW, NULL);
	g_assert_true(p2plink_store_create_link(ctx.store, other, NOW, 2, NULL));
	p2plink_link_free(other);
	ctx_end(&ctx);
}

static void test_create_limit_ignores_inactive_links(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *revoked = stored_link(&ctx, "bob", "bob", 0);
	g_assert_true(p2plink_store_revoke_link(ctx.store, revoked->id, NULL, NOW, NULL));
	p2plink_link *old = make_link("bob", "bob", 0, NOW - 2 * HOUR, NULL);	/* expired */
	must_create(&ctx, old);
	p2plink_link *used = stored_link(&ctx, "bob", "bob", 1);
	g_assert_cmpint(must_redeem(ctx.store, used->token_hash, NOW, NULL, NULL), ==, P2PLINK_LINK_OK);
	p2plink_link *l = make_link("bob", "bob", 0, NOW, NULL);
	GError *error = NULL;
	g_assert_true(p2plink_store_create_link(ctx.store, l, NOW, 1, &error));
	g_assert_no_error(error);
	p2plink_link_free(l);
	p2plink_link_free(used);
	p2plink_link_free(old);
	p2plink_link_free(revoked);
	ctx_end(&ctx);
}

/* ---- Listing ---- */

static guint list_count(suite_ctx *ctx, const p2plink_link_filter *f, guint64 *total) {
	GError *error = NULL;
	GPtrArray *rows = p2plink_store_list_links(ctx->store, f, total, &error);
	g_assert_no_error(error);
	guint n = rows->len;
	g_ptr_array_unref(rows);
	return n;
}

static void test_list_filters_by_target(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *a1 = stored_link(&ctx, "alice", P2PLINK_CREATOR_ADMIN, 0);
	p2plink_link *a2 = stored_link(&ctx, "alice", "bob", 0);
	p2plink_link *c = stored_link(&ctx, "carol", "bob", 0);
	p2plink_link_filter f = { "alice", NULL, FALSE, 0, 0, NULL };
	guint64 total = 0;
	GPtrArray *rows = p2plink_store_list_links(ctx.store, &f, &total, NULL);
	g_assert_cmpuint(rows->len, ==, 2);
	g_assert_cmpuint(total, ==, 2);
	for(guint i = 0; i < rows->len; i++)
		g_assert_cmpstr(((p2plink_link *)rows->pdata[i])->target, ==, "alice");
	g_ptr_array_unref(rows);
	p2plink_link_free(a1);
	p2plink_link_free(a2);
	p2plink_link_free(c);
	ctx_end(&ctx);
}

static void test_list_filters_by_creator(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *a = stored_link(&ctx, "alice", P2PLINK_CREATOR_ADMIN, 0);
	p2plink_link *b = stored_link(&ctx, "bob", "bob", 0);
	p2plink_link_filter f = { NULL, "bob", FALSE, 0, 0, NULL };
	GPtrArray *rows = p2plink_store_list_links(ctx.store, &f, NULL, NULL);
	g_assert_cmpuint(rows->len, ==, 1);
	g_assert_cmpstr(((p2plink_link *)rows->pdata[0])->id, ==, b->id);
	g_ptr_array_unref(rows);
	p2plink_link_filter both = { "alice", P2PLINK_CREATOR_ADMIN, FALSE, 0, 0, NULL };
	g_assert_cmpuint(list_count(&ctx, &both, NULL), ==, 1);
	p2plink_link_free(a);
	p2plink_link_free(b);
	ctx_end(&ctx);
}

static void test_list_hides_revoked_unless_asked(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *keep = stored_link(&ctx, "alice", "bob", 0);
	p2plink_link *gone = stored_link(&ctx, "alice", "bob", 0);
	g_assert_true(p2plink_store_revoke_link(ctx.store, gone->id, NULL, NOW, NULL));
	p2plink_link_filter f = { NULL, NULL, FALSE, 0, 0, NULL };
	guint64 total = 0;
	g_assert_cmpuint(list_count(&ctx, &f, &total), ==, 1);
	g_assert_cmpuint(total, ==, 1);
	f.include_revoked = TRUE;
	g_assert_cmpuint(list_count(&ctx, &f, &total), ==, 2);
	g_assert_cmpuint(total, ==, 2);
	g_assert_cmpuint(list_count(&ctx, NULL, NULL), ==, 1);
	p2plink_link_free(keep);
	p2plink_link_free(gone);
	ctx_end(&ctx);
}

static void test_list_paginates_newest_first_with_total(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	/* created_at NOW+0..NOW+6: newest first means 6,5,4,... */
	char *ids[7];
	for(int i = 0; i < 7; i++) {
		p2plink_link *l = make_link("alice", "bob", 0, NOW + i, NULL);
		must_create(&ctx, l);
		ids[i] = g_strdup(l->id);
		p2plink_link_free(l);
	}
	p2plink_link_filter f = { NULL, NULL, FALSE, 0, 3, NULL };
	int expect = 6;
	for(guint page = 0; page < 3; page++) {
		guint64 total = 0;
		f.offset = page * 3;
		GPtrArray *rows = p2plink_store_list_links(ctx.store, &f, &total, NULL);
		g_assert_cmpuint(total, ==, 7);
		g_assert_cmpuint(rows->len, ==, page < 2 ? 3 : 1);
		for(guint i = 0; i < rows->len; i++)
			g_assert_cmpstr(((p2plink_link *)rows->pdata[i])->id, ==, ids[expect--]);
		g_ptr_array_unref(rows);
	}
	f.offset = 100;
	guint64 total = 0;
	g_assert_cmpuint(list_count(&ctx, &f, &total), ==, 0);
	g_assert_cmpuint(total, ==, 7);
	for(int i = 0; i < 7; i++)
		g_free(ids[i]);
	ctx_end(&ctx);
}

/* ---- Revoke and delete ---- */

static void test_revoke_marks_link_revoked(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "bob", 0);
	GError *error = NULL;
	g_assert_true(p2plink_store_revoke_link(ctx.store, l->id, "bob", NOW, &error));
	g_assert_no_error(error);
	/* Idempotent */
	g_assert_true(p2plink_store_revoke_link(ctx.store, l->id, NULL, NOW, &error));
	g_assert_no_error(error);
	p2plink_link *got = p2plink_store_get_link(ctx.store, l->id, NULL);
	g_assert_true(got->revoked);
	g_assert_cmpint(must_redeem(ctx.store, l->token_hash, NOW, NULL, NULL), ==, P2PLINK_LINK_REVOKED);
	p2plink_link_free(got);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_revoke_by_other_creator_is_not_found(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "bob", 0);
	GError *error = NULL;
	g_assert_false(p2plink_store_revoke_link(ctx.store, l->id, "mallory", NOW, &error));
	g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_NOT_FOUND);
	g_clear_error(&error);
	p2plink_link *got = p2plink_store_get_link(ctx.store, l->id, NULL);
	g_assert_false(got->revoked);
	p2plink_link_free(got);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_revoke_unknown_is_not_found(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	GError *error = NULL;
	g_assert_false(p2plink_store_revoke_link(ctx.store, "no-such-id", NULL, NOW, &error));
	g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_NOT_FOUND);
	g_clear_error(&error);
	ctx_end(&ctx);
}

static void test_delete_removes_link_and_its_clicks(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "bob", 0);
	p2plink_link *other = stored_link(&ctx, "alice", "bob", 0);
	must_redeem(ctx.store, l->token_hash, NOW, "192.0.2.1", NULL);
	must_redeem(ctx.store, other->token_hash, NOW, "192.0.2.1", NULL);
	GError *error = NULL;
	g_assert_true(p2plink_store_delete_link(ctx.store, l->id, &error));
	g_assert_no_error(error);
	g_assert_null(p2plink_store_get_link(ctx.store, l->id, &error));
	g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_NOT_FOUND);
	g_clear_error(&error);
	guint64 total = 99;
	GPtrArray *rows = p2plink_store_list_clicks(ctx.store, l->id, 0, 0, &total, NULL);
	g_assert_cmpuint(rows->len, ==, 0);
	g_assert_cmpuint(total, ==, 0);
	g_ptr_array_unref(rows);
	/* The other link and its click are untouched */
	rows = p2plink_store_list_clicks(ctx.store, other->id, 0, 0, &total, NULL);
	g_assert_cmpuint(total, ==, 1);
	g_ptr_array_unref(rows);
	p2plink_link_free(l);
	p2plink_link_free(other);
	ctx_end(&ctx);
}

static void test_delete_unknown_is_not_found(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	GError *error = NULL;
	g_assert_false(p2plink_store_delete_link(ctx.store, "no-such-id", &error));
	g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_NOT_FOUND);
	g_clear_error(&error);
	ctx_end(&ctx);
}

/* ---- Redemption and click log ---- */

static void test_redeem_ok_counts_click_and_returns_link(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "bob", 3);
	p2plink_redeem_request req = { l->token_hash, NOW, "192.0.2.1", "Mozilla/5.0", NULL, NULL, FALSE, FALSE };
	p2plink_link_outcome o = P2PLINK_LINK_OUTCOME_COUNT;
	p2plink_link *got = NULL;
	GError *error = NULL;
	g_assert_true(p2plink_store_redeem(ctx.store, &req, &o, &got, &error));
	g_assert_no_error(error);
	g_assert_cmpint(o, ==, P2PLINK_LINK_OK);
	g_assert_cmpstr(got->target, ==, "alice");
	g_assert_cmpuint(got->clicks, ==, 1);
	p2plink_link_free(got);
	got = p2plink_store_get_link(ctx.store, l->id, NULL);
	g_assert_cmpuint(got->clicks, ==, 1);
	p2plink_link_free(got);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

/* Group commit (stores that offer it): one batch, in order, with the exact count, and every attempt logged */
static void test_redeem_batch_counts_exactly_in_order(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	if(!p2plink_store_can_batch(ctx.store)) {
		g_test_skip("this store has no batch redemption");
		ctx_end(&ctx);
		return;
	}
	p2plink_link *l = stored_link(&ctx, "alice", "bob", 3);
	p2plink_redeem_request reqs[6];
	for(guint i = 0; i < G_N_ELEMENTS(reqs); i++)
		reqs[i] = (p2plink_redeem_request){ i == 4 ? "0000" : l->token_hash, NOW, "192.0.2.1", "ua", NULL, NULL, FALSE,
			FALSE };
	p2plink_link_outcome outcomes[6];
	p2plink_link *links[6];
	GError *error = NULL;
	g_assert_true(p2plink_store_redeem_batch(ctx.store, reqs, 6, outcomes, links, &error));
	g_assert_no_error(error);
	static const p2plink_link_outcome expected[6] = { P2PLINK_LINK_OK, P2PLINK_LINK_OK, P2PLINK_LINK_OK,
		P2PLINK_LINK_EXHAUSTED, P2PLINK_LINK_UNKNOWN, P2PLINK_LINK_EXHAUSTED };
	for(guint i = 0; i < 6; i++) {
		g_assert_cmpint(outcomes[i], ==, expected[i]);
		g_assert_true((links[i] == NULL) == (i == 4));
		if(links[i] != NULL)
			g_assert_cmpuint(links[i]->clicks, ==, MIN(i + 1, 3));
		p2plink_link_free(links[i]);
	}
	guint64 total = 0;
	GPtrArray *clicks = p2plink_store_list_clicks(ctx.store, l->id, 0, 0, &total, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(total, ==, 5);
	g_ptr_array_unref(clicks);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_redeem_last_click_then_exhausted(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "bob", 2);
	g_assert_cmpint(must_redeem(ctx.store, l->token_hash, NOW, NULL, NULL), ==, P2PLINK_LINK_OK);
	g_assert_cmpint(must_redeem(ctx.store, l->token_hash, NOW, NULL, NULL), ==, P2PLINK_LINK_OK);
	g_assert_cmpint(must_redeem(ctx.store, l->token_hash, NOW, NULL, NULL), ==, P2PLINK_LINK_EXHAUSTED);
	p2plink_link *got = p2plink_store_get_link(ctx.store, l->id, NULL);
	g_assert_cmpuint(got->clicks, ==, 2);
	p2plink_link_free(got);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_redeem_expired_exactly_at_expiry(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "bob", 0);
	g_assert_cmpint(must_redeem(ctx.store, l->token_hash, l->expires_at - 1, NULL, NULL), ==, P2PLINK_LINK_OK);
	g_assert_cmpint(must_redeem(ctx.store, l->token_hash, l->expires_at, NULL, NULL), ==, P2PLINK_LINK_EXPIRED);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_redeem_denied_does_not_count(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = make_link("alice", "bob", 1, NOW, NULL);
	const char *wl[] = { "127.0.0.2", "::1", NULL };
	l->whitelist = g_strdupv((gchar **)wl);
	must_create(&ctx, l);
	g_assert_cmpint(must_redeem(ctx.store, l->token_hash, NOW, "127.0.0.3", NULL), ==, P2PLINK_LINK_IP_DENIED);
	g_assert_cmpint(must_redeem(ctx.store, l->token_hash, NOW, NULL, NULL), ==, P2PLINK_LINK_IP_DENIED);
	g_assert_cmpint(must_redeem(ctx.store, l->token_hash, NOW, "::ffff:127.0.0.2", NULL), ==, P2PLINK_LINK_OK);
	p2plink_link *got = p2plink_store_get_link(ctx.store, l->id, NULL);
	g_assert_cmpuint(got->clicks, ==, 1);
	p2plink_link_free(got);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_redeem_logs_one_row_per_outcome(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = make_link("alice", "bob", 1, NOW, NULL);
	const char *wl[] = { "192.0.2.0/24", NULL };
	l->whitelist = g_strdupv((gchar **)wl);
	must_create(&ctx, l);
	p2plink_link *r = stored_link(&ctx, "alice", "bob", 0);
	g_assert_true(p2plink_store_revoke_link(ctx.store, r->id, NULL, NOW, NULL));
	g_assert_cmpint(must_redeem(ctx.store, l->token_hash, NOW, "192.0.2.1", "a"), ==, P2PLINK_LINK_OK);
	g_assert_cmpint(must_redeem(ctx.store, l->token_hash, NOW, "192.0.2.1", "b"), ==, P2PLINK_LINK_EXHAUSTED);
	g_assert_cmpint(must_redeem(ctx.store, l->token_hash, NOW, "198.51.100.1", "c"), ==, P2PLINK_LINK_IP_DENIED);
	g_assert_cmpint(must_redeem(ctx.store, l->token_hash, l->expires_at, "192.0.2.1", "d"), ==, P2PLINK_LINK_EXPIRED);
	g_assert_cmpint(must_redeem(ctx.store, r->token_hash, NOW, "192.0.2.1", "e"), ==, P2PLINK_LINK_REVOKED);
	g_assert_cmpint(must_redeem(ctx.store, "feed", NOW, "192.0.2.1", "f"), ==, P2PLINK_LINK_UNKNOWN);
	/* Newest first across all links */
	const struct { p2plink_link_outcome o; const char *ua; } want[] = {
		{ P2PLINK_LINK_UNKNOWN, "f" }, { P2PLINK_LINK_REVOKED, "e" }, { P2PLINK_LINK_EXPIRED, "d" },
		{ P2PLINK_LINK_IP_DENIED, "c" }, { P2PLINK_LINK_EXHAUSTED, "b" }, { P2PLINK_LINK_OK, "a" },
	};
	guint64 total = 0;
	GPtrArray *rows = p2plink_store_list_clicks(ctx.store, NULL, 0, 0, &total, NULL);
	g_assert_cmpuint(total, ==, 6);
	g_assert_cmpuint(rows->len, ==, 6);
	for(guint i = 0; i < rows->len; i++) {
		p2plink_click *c = rows->pdata[i];
		g_assert_cmpint(c->outcome, ==, want[i].o);
		g_assert_cmpstr(c->user_agent, ==, want[i].ua);
	}
	g_assert_null(((p2plink_click *)rows->pdata[0])->link_id);
	g_assert_cmpstr(((p2plink_click *)rows->pdata[1])->link_id, ==, r->id);
	g_ptr_array_unref(rows);
	rows = p2plink_store_list_clicks(ctx.store, l->id, 0, 0, &total, NULL);
	g_assert_cmpuint(total, ==, 4);
	g_ptr_array_unref(rows);
	p2plink_link_free(l);
	p2plink_link_free(r);
	ctx_end(&ctx);
}

static void test_redeem_logs_time_ip_and_clean_user_agent(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "bob", 0);
	must_redeem(ctx.store, l->token_hash, NOW + 5, "2001:db8::7", "UA\r\nInjected: yes");
	must_redeem(ctx.store, l->token_hash, NOW + 6, NULL, NULL);
	GPtrArray *rows = p2plink_store_list_clicks(ctx.store, l->id, 0, 0, NULL, NULL);
	g_assert_cmpuint(rows->len, ==, 2);
	p2plink_click *bare = rows->pdata[0], *full = rows->pdata[1];
	g_assert_cmpint(full->at, ==, NOW + 5);
	g_assert_cmpstr(full->client_ip, ==, "2001:db8::7");
	g_assert_cmpstr(full->user_agent, ==, "UA  Injected: yes");
	g_assert_cmpstr(full->link_id, ==, l->id);
	g_assert_cmpint(bare->at, ==, NOW + 6);
	g_assert_null(bare->client_ip);
	g_assert_null(bare->user_agent);
	g_assert_cmpint(bare->id, >, full->id);
	g_ptr_array_unref(rows);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_list_clicks_paginates_newest_first(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "bob", 0);
	for(int i = 0; i < 5; i++)
		must_redeem(ctx.store, l->token_hash, NOW + i, NULL, NULL);
	guint64 total = 0;
	GPtrArray *rows = p2plink_store_list_clicks(ctx.store, l->id, 1, 2, &total, NULL);
	g_assert_cmpuint(total, ==, 5);
	g_assert_cmpuint(rows->len, ==, 2);
	g_assert_cmpint(((p2plink_click *)rows->pdata[0])->at, ==, NOW + 3);
	g_assert_cmpint(((p2plink_click *)rows->pdata[1])->at, ==, NOW + 2);
	g_ptr_array_unref(rows);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

/* ---- Stats and counts ---- */

static void test_stats_counts_links_and_clicks_by_outcome(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *a = stored_link(&ctx, "alice", "bob", 1);
	p2plink_link *b = stored_link(&ctx, "alice", "bob", 0);
	p2plink_link *c = stored_link(&ctx, "alice", "bob", 0);
	g_assert_true(p2plink_store_revoke_link(ctx.store, c->id, NULL, NOW, NULL));
	must_redeem(ctx.store, a->token_hash, NOW, NULL, NULL);	/* ok, now exhausted */
	must_redeem(ctx.store, a->token_hash, NOW, NULL, NULL);	/* exhausted */
	must_redeem(ctx.store, b->token_hash, NOW, NULL, NULL);	/* ok */
	must_redeem(ctx.store, "nope", NOW, NULL, NULL);		/* unknown */
	p2plink_store_stats st;
	GError *error = NULL;
	g_assert_true(p2plink_store_stats_get(ctx.store, NOW, &st, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(st.links_total, ==, 3);
	g_assert_cmpuint(st.links_active, ==, 1);
	g_assert_cmpuint(st.clicks[P2PLINK_LINK_OK], ==, 2);
	g_assert_cmpuint(st.clicks[P2PLINK_LINK_EXHAUSTED], ==, 1);
	g_assert_cmpuint(st.clicks[P2PLINK_LINK_UNKNOWN], ==, 1);
	g_assert_cmpuint(st.clicks[P2PLINK_LINK_REVOKED], ==, 0);
	/* Later, b has expired too */
	g_assert_true(p2plink_store_stats_get(ctx.store, b->expires_at, &st, NULL));
	g_assert_cmpuint(st.links_active, ==, 0);
	p2plink_link_free(a);
	p2plink_link_free(b);
	p2plink_link_free(c);
	ctx_end(&ctx);
}

/* Links are counted by owner the way the app lists them (list_links with an owner filter; revoked ones only when
 * asked for) */
static void test_owner_filter_counts_links_with_revoked_on_request(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *a = stored_link(&ctx, "bob", "bob", 0);
	p2plink_link *b = stored_link(&ctx, "bob", "bob", 0);
	p2plink_link *c = stored_link(&ctx, "alice", P2PLINK_CREATOR_ADMIN, 0);
	g_assert_true(p2plink_store_revoke_link(ctx.store, b->id, NULL, NOW, NULL));
	guint64 n = 0;
	GError *error = NULL;
	p2plink_link_filter all = { .owner = "bob", .include_revoked = TRUE };
	g_ptr_array_unref(p2plink_store_list_links(ctx.store, &all, &n, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(n, ==, 2);
	p2plink_link_filter live = { .owner = "bob" };
	g_ptr_array_unref(p2plink_store_list_links(ctx.store, &live, &n, NULL));
	g_assert_cmpuint(n, ==, 1);
	p2plink_link_filter nobody = { .owner = "nobody", .include_revoked = TRUE };
	g_ptr_array_unref(p2plink_store_list_links(ctx.store, &nobody, &n, NULL));
	g_assert_cmpuint(n, ==, 0);
	p2plink_link_free(a);
	p2plink_link_free(b);
	p2plink_link_free(c);
	ctx_end(&ctx);
}

/* ---- Durability ---- */

static void test_reopen_keeps_links_and_clicks(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "bob", 5);
	must_redeem(ctx.store, l->token_hash, NOW, "192.0.2.1", "ua");
	p2plink_store_close(ctx.store);
	GError *error = NULL;
	ctx.store = ctx.backend->open(ctx.fixture, &error);
	g_assert_no_error(error);
	p2plink_link *got = p2plink_store_get_link(ctx.store, l->id, NULL);
	g_assert_nonnull(got);
	g_assert_cmpuint(got->clicks, ==, 1);
	guint64 total = 0;
	GPtrArray *rows = p2plink_store_list_clicks(ctx.store, l->id, 0, 0, &total, NULL);
	g_assert_cmpuint(total, ==, 1);
	g_ptr_array_unref(rows);
	p2plink_link_free(got);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

/* ---- Concurrency ---- */

#define RACE_ATTEMPTS 1000
#define RACE_THREADS 16
#define RACE_MAX_CLICKS 10

typedef struct race {
	suite_ctx *ctx;
	const char *hash;
	gboolean handle_per_thread;
	gint go;		/* start gate: all threads begin together */
	gint next;		/* attempts handed out so far */
	gint ok;
	gint errors;
} race;

static gpointer race_worker(gpointer data) {
	race *r = data;
	p2plink_store *store = r->ctx->store;
	if(r->handle_per_thread) {
		store = r->ctx->backend->open(r->ctx->fixture, NULL);
		if(store == NULL) {
			g_atomic_int_inc(&r->errors);
			return NULL;
		}
	}
	while(!g_atomic_int_get(&r->go))
		g_thread_yield();
	while(g_atomic_int_add(&r->next, 1) < RACE_ATTEMPTS) {
		p2plink_redeem_request req = { r->hash, NOW, "192.0.2.1", "racer", NULL, NULL, FALSE, FALSE };
		p2plink_link_outcome o;
		if(!p2plink_store_redeem(store, &req, &o, NULL, NULL))
			g_atomic_int_inc(&r->errors);
		else if(o == P2PLINK_LINK_OK)
			g_atomic_int_inc(&r->ok);
	}
	if(r->handle_per_thread)
		p2plink_store_close(store);
	return NULL;
}

static void run_race(gconstpointer data, gboolean handle_per_thread) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "bob", RACE_MAX_CLICKS);
	race r = { &ctx, l->token_hash, handle_per_thread, 0, 0, 0, 0 };
	GThread *threads[RACE_THREADS];
	for(int i = 0; i < RACE_THREADS; i++)
		threads[i] = g_thread_new("racer", race_worker, &r);
	g_atomic_int_set(&r.go, 1);
	for(int i = 0; i < RACE_THREADS; i++)
		g_thread_join(threads[i]);
	g_assert_cmpint(r.errors, ==, 0);
	g_assert_cmpint(r.ok, ==, RACE_MAX_CLICKS);
	p2plink_link *got = p2plink_store_get_link(ctx.store, l->id, NULL);
	g_assert_cmpuint(got->clicks, ==, RACE_MAX_CLICKS);
	p2plink_store_stats st;
	g_assert_true(p2plink_store_stats_get(ctx.store, NOW, &st, NULL));
	g_assert_cmpuint(st.clicks[P2PLINK_LINK_OK], ==, RACE_MAX_CLICKS);
	g_assert_cmpuint(st.clicks[P2PLINK_LINK_EXHAUSTED], ==, RACE_ATTEMPTS - RACE_MAX_CLICKS);
	guint64 total = 0;
	GPtrArray *rows = p2plink_store_list_clicks(ctx.store, l->id, 0, 1, &total, NULL);
	g_assert_cmpuint(total, ==, RACE_ATTEMPTS);
	g_ptr_array_unref(rows);
	p2plink_link_free(got);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_race_1000_redeems_shared_handle_grant_exactly_10(gconstpointer data) {
	run_race(data, FALSE);
}

static void test_race_1000_redeems_handle_per_thread_grant_exactly_10(gconstpointer data) {
	run_race(data, TRUE);
}


/* ---- Owners ---- */

/* The registry's "who holds this target now", fixed per test */
static char *holder_is(const char *target, void *data) {
	(void)target;
	return g_strdup(data);
}

static p2plink_link_outcome redeem_as(p2plink_store *store, const char *hash, const char *holder, gboolean preview,
		p2plink_link **link) {
	p2plink_redeem_request req = { hash, NOW, "192.0.2.1", "ua", holder_is, (void *)holder, preview, FALSE };
	p2plink_link_outcome o = P2PLINK_LINK_OUTCOME_COUNT;
	GError *error = NULL;
	g_assert_true(p2plink_store_redeem(store, &req, &o, link, &error));
	g_assert_no_error(error);
	return o;
}

static guint32 clicks_of(suite_ctx *ctx, const char *id) {
	p2plink_link *got = p2plink_store_get_link(ctx->store, id, NULL);
	guint32 n = got->clicks;
	p2plink_link_free(got);
	return n;
}

static void test_redeem_owner_holding_the_target_is_granted(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "alice", 1);
	g_assert_cmpint(redeem_as(ctx.store, l->token_hash, "alice", FALSE, NULL), ==, P2PLINK_LINK_OK);
	g_assert_cmpuint(clicks_of(&ctx, l->id), ==, 1);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_redeem_impostor_holding_the_target_is_not_online_and_uses_no_click(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "alice", 1);
	for(int i = 0; i < 3; i++)
		g_assert_cmpint(redeem_as(ctx.store, l->token_hash, "mallory", FALSE, NULL), ==, P2PLINK_LINK_NOT_ONLINE);
	g_assert_cmpint(redeem_as(ctx.store, l->token_hash, NULL, FALSE, NULL), ==, P2PLINK_LINK_NOT_ONLINE);
	g_assert_cmpuint(clicks_of(&ctx, l->id), ==, 0);
	/* The one click is still there for the owner */
	g_assert_cmpint(redeem_as(ctx.store, l->token_hash, "alice", FALSE, NULL), ==, P2PLINK_LINK_OK);
	GPtrArray *rows = p2plink_store_list_clicks(ctx.store, l->id, 0, 0, NULL, NULL);
	g_assert_cmpuint(rows->len, ==, 5);
	g_assert_cmpint(((p2plink_click *)rows->pdata[1])->outcome, ==, P2PLINK_LINK_NOT_ONLINE);
	g_ptr_array_unref(rows);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_redeem_claims_an_unclaimed_link_for_the_first_holder(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "carol", P2PLINK_CREATOR_ADMIN, 0);
	g_assert_null(l->owner);
	p2plink_link *got = NULL;
	g_assert_cmpint(redeem_as(ctx.store, l->token_hash, "carol-1", FALSE, &got), ==, P2PLINK_LINK_OK);
	g_assert_cmpstr(got->owner, ==, "carol-1");
	p2plink_link_free(got);
	/* Claimed for good: a later holder of the id is someone else */
	g_assert_cmpint(redeem_as(ctx.store, l->token_hash, "carol-2", FALSE, NULL), ==, P2PLINK_LINK_NOT_ONLINE);
	got = p2plink_store_get_link(ctx.store, l->id, NULL);
	g_assert_cmpstr(got->owner, ==, "carol-1");
	p2plink_link_free(got);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_preview_never_counts_nor_claims_and_is_logged_as_preview(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "carol", P2PLINK_CREATOR_ADMIN, 1);
	p2plink_link *got = NULL;
	for(int i = 0; i < 3; i++) {
		g_assert_cmpint(redeem_as(ctx.store, l->token_hash, "carol-1", TRUE, &got), ==, P2PLINK_LINK_OK);
		g_assert_cmpuint(got->clicks, ==, 0);
		g_clear_pointer(&got, p2plink_link_free);
	}
	got = p2plink_store_get_link(ctx.store, l->id, NULL);
	g_assert_cmpuint(got->clicks, ==, 0);
	g_assert_null(got->owner);
	p2plink_link_free(got);
	GPtrArray *rows = p2plink_store_list_clicks(ctx.store, l->id, 0, 0, NULL, NULL);
	g_assert_cmpuint(rows->len, ==, 3);
	for(guint i = 0; i < rows->len; i++)
		g_assert_cmpint(((p2plink_click *)rows->pdata[i])->outcome, ==, P2PLINK_LINK_PREVIEW);
	g_ptr_array_unref(rows);
	p2plink_store_stats st;
	g_assert_true(p2plink_store_stats_get(ctx.store, NOW, &st, NULL));
	g_assert_cmpuint(st.clicks[P2PLINK_LINK_OK], ==, 0);
	g_assert_cmpuint(st.clicks[P2PLINK_LINK_PREVIEW], ==, 3);
	/* The single click is still there */
	g_assert_cmpint(redeem_as(ctx.store, l->token_hash, "carol-1", FALSE, NULL), ==, P2PLINK_LINK_OK);
	g_assert_cmpint(redeem_as(ctx.store, l->token_hash, "carol-1", TRUE, NULL), ==, P2PLINK_LINK_EXHAUSTED);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_list_filters_by_owner(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *a = stored_link(&ctx, "bob", "bob", 0);
	p2plink_link *b = make_link("bob", "bob", 0, NOW, NULL);
	g_free(b->owner);
	b->owner = g_strdup("bob-new-token");	/* the same id, another person */
	must_create(&ctx, b);
	p2plink_link_filter f = { NULL, NULL, FALSE, 0, 0, "bob" };
	guint64 total = 0;
	GPtrArray *rows = p2plink_store_list_links(ctx.store, &f, &total, NULL);
	g_assert_cmpuint(rows->len, ==, 1);
	g_assert_cmpuint(total, ==, 1);
	g_assert_cmpstr(((p2plink_link *)rows->pdata[0])->id, ==, a->id);
	g_ptr_array_unref(rows);
	p2plink_link_free(a);
	p2plink_link_free(b);
	ctx_end(&ctx);
}

static void test_create_limit_counts_the_owners_peer_made_links_only(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	/* An admin link bound to bob does not use bob's own quota */
	p2plink_link *admin = make_link("bob", P2PLINK_CREATOR_ADMIN, 0, NOW, NULL);
	admin->owner = g_strdup("bob");
	must_create(&ctx, admin);
	p2plink_link *mine = make_link("bob", "bob", 0, NOW, NULL);
	GError *error = NULL;
	g_assert_true(p2plink_store_create_link(ctx.store, mine, NOW, 1, &error));
	g_assert_no_error(error);
	p2plink_link *more = make_link("bob", "bob", 0, NOW, NULL);
	g_assert_false(p2plink_store_create_link(ctx.store, more, NOW, 1, &error));
	g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_LIMIT);
	g_clear_error(&error);
	p2plink_link_free(admin);
	p2plink_link_free(mine);
	p2plink_link_free(more);
	ctx_end(&ctx);
}

static void test_private_mode_logs_the_network_not_the_address(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "bob", 0);
	p2plink_redeem_request v4 = { l->token_hash, NOW, "198.51.100.77", NULL, NULL, NULL, FALSE, TRUE };
	p2plink_redeem_request v6 = { l->token_hash, NOW + 1, "2001:db8:5:6::9", NULL, NULL, NULL, FALSE, TRUE };
	p2plink_link_outcome o;
	g_assert_true(p2plink_store_redeem(ctx.store, &v4, &o, NULL, NULL));
	g_assert_true(p2plink_store_redeem(ctx.store, &v6, &o, NULL, NULL));
	GPtrArray *rows = p2plink_store_list_clicks(ctx.store, l->id, 0, 0, NULL, NULL);
	g_assert_cmpuint(rows->len, ==, 2);
	g_assert_cmpstr(((p2plink_click *)rows->pdata[0])->client_ip, ==, "2001:db8:5::");
	g_assert_cmpstr(((p2plink_click *)rows->pdata[1])->client_ip, ==, "198.51.100.0");
	g_ptr_array_unref(rows);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_revoke_keeps_the_first_revocation_time(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin(&ctx, data))
		return;
	p2plink_link *l = stored_link(&ctx, "alice", "bob", 0);
	g_assert_true(p2plink_store_revoke_link(ctx.store, l->id, "bob", NOW + 10, NULL));
	g_assert_true(p2plink_store_revoke_link(ctx.store, l->id, "bob", NOW + 20, NULL));
	p2plink_link *got = p2plink_store_get_link(ctx.store, l->id, NULL);
	g_assert_cmpint(got->revoked_at, ==, NOW + 10);
	p2plink_link_free(got);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

/* ---- Retention (backends with a prune op; MongoDB prunes with TTL indexes) ---- */

#define DAY (24 * HOUR)

static gboolean ctx_begin_prunable(suite_ctx *ctx, gconstpointer data) {
	if(!ctx_begin(ctx, data))
		return FALSE;
	if(!p2plink_store_can_prune(ctx->store)) {
		ctx_end(ctx);
		g_test_skip("this backend prunes by itself (TTL indexes)");
		return FALSE;
	}
	return TRUE;
}

static gboolean link_exists(suite_ctx *ctx, const char *id) {
	p2plink_link *got = p2plink_store_get_link(ctx->store, id, NULL);
	p2plink_link_free(got);
	return got != NULL;
}

static guint prune_all(suite_ctx *ctx, gint64 now, const p2plink_prune_policy *policy, guint *calls) {
	guint total = 0, deleted = 0;
	*calls = 0;
	do {
		GError *error = NULL;
		g_assert_true(p2plink_store_prune(ctx->store, now, policy, &deleted, &error));
		g_assert_no_error(error);
		total += deleted;
		(*calls)++;
	} while(deleted > 0);
	return total;
}

static void test_prune_deletes_old_revoked_and_expired_links_with_their_clicks(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin_prunable(&ctx, data))
		return;
	p2plink_link *revoked = stored_link(&ctx, "alice", "bob", 0);	/* expires NOW + 1 h */
	p2plink_link *expired = make_link("alice", "bob", 0, NOW - 10 * DAY, NULL);	/* expired 10 days ago */
	must_create(&ctx, expired);
	p2plink_link *active = make_link("alice", "bob", 0, NOW, NULL);
	active->expires_at = NOW + 30 * DAY;
	must_create(&ctx, active);
	must_redeem(ctx.store, revoked->token_hash, NOW, "192.0.2.1", NULL);
	must_redeem(ctx.store, expired->token_hash, NOW, "192.0.2.1", NULL);
	must_redeem(ctx.store, active->token_hash, NOW, "192.0.2.1", NULL);
	g_assert_true(p2plink_store_revoke_link(ctx.store, revoked->id, NULL, NOW, NULL));
	p2plink_prune_policy policy = { 7 * DAY, 0, 0 };
	guint calls = 0;
	/* Revoked 1 day ago: kept; expired 10 days ago: gone with its click */
	g_assert_cmpuint(prune_all(&ctx, NOW + DAY, &policy, &calls), ==, 2);
	g_assert_true(link_exists(&ctx, revoked->id));
	g_assert_false(link_exists(&ctx, expired->id));
	guint64 total = 0;
	GPtrArray *rows = p2plink_store_list_clicks(ctx.store, expired->id, 0, 0, &total, NULL);
	g_assert_cmpuint(total, ==, 0);
	g_ptr_array_unref(rows);
	/* Revoked 8 days ago: gone; the active one (expires in 30 days) stays */
	g_assert_cmpuint(prune_all(&ctx, NOW + 8 * DAY, &policy, &calls), ==, 2);
	g_assert_false(link_exists(&ctx, revoked->id));
	g_assert_true(link_exists(&ctx, active->id));
	p2plink_link_free(revoked);
	p2plink_link_free(expired);
	p2plink_link_free(active);
	ctx_end(&ctx);
}

static void test_prune_click_log_keeps_the_retention(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin_prunable(&ctx, data))
		return;
	p2plink_link *l = make_link("alice", "bob", 0, NOW, NULL);
	l->expires_at = NOW + 100 * DAY;
	must_create(&ctx, l);
	for(int day = 0; day < 40; day++)
		must_redeem(ctx.store, l->token_hash, NOW + day * DAY, "192.0.2.1", NULL);
	p2plink_prune_policy policy = { 7 * DAY, 30 * DAY, 0 };
	guint calls = 0;
	/* At day 40 the clicks of days 0..9 are older than 30 days */
	g_assert_cmpuint(prune_all(&ctx, NOW + 40 * DAY, &policy, &calls), ==, 10);
	guint64 total = 0;
	GPtrArray *rows = p2plink_store_list_clicks(ctx.store, NULL, 0, 0, &total, NULL);
	g_assert_cmpuint(total, ==, 30);
	g_assert_cmpint(((p2plink_click *)rows->pdata[rows->len - 1])->at, ==, NOW + 10 * DAY);
	g_ptr_array_unref(rows);
	g_assert_true(link_exists(&ctx, l->id));
	p2plink_link_free(l);
	ctx_end(&ctx);
}

/* The attack, in store terms: a peer made and revoked thousands of links; pruning takes them back in
 * bounded batches, and after the retention nothing of them is left */
static void test_prune_takes_back_thousands_of_revoked_links_in_bounded_batches(gconstpointer data) {
	suite_ctx ctx;
	if(!ctx_begin_prunable(&ctx, data))
		return;
	const guint n = 2000;
	for(guint i = 0; i < n; i++) {
		p2plink_link *l = stored_link(&ctx, "alice", "bob", 0);
		must_redeem(ctx.store, l->token_hash, NOW, "192.0.2.1", NULL);
		g_assert_true(p2plink_store_revoke_link(ctx.store, l->id, "bob", NOW, NULL));
		p2plink_link_free(l);
	}
	p2plink_prune_policy policy = { 7 * DAY, 30 * DAY, 100 };
	guint deleted = 0;
	g_assert_true(p2plink_store_prune(ctx.store, NOW + 8 * DAY, &policy, &deleted, NULL));
	/* One call: at most 100 links (each with its one click) */
	g_assert_cmpuint(deleted, ==, 200);
	guint calls = 0;
	g_assert_cmpuint(prune_all(&ctx, NOW + 8 * DAY, &policy, &calls), ==, 2 * n - 200);
	g_assert_cmpuint(calls, ==, n / 100);	/* 19 full batches, then one that finds nothing */
	p2plink_store_stats st;
	g_assert_true(p2plink_store_stats_get(ctx.store, NOW + 8 * DAY, &st, NULL));
	g_assert_cmpuint(st.links_total, ==, 0);
	g_assert_cmpuint(st.clicks[P2PLINK_LINK_OK], ==, 0);
	ctx_end(&ctx);
}

/* ---- Registration ---- */

typedef struct suite_test {
	const char *name;
	GTestDataFunc fn;
} suite_test;

static const suite_test suite_tests[] = {
	{ "create_then_get_by_hash", test_create_then_get_by_hash },
	{ "create_then_get_by_id", test_create_then_get_by_id },
	{ "get_unknown_is_not_found", test_get_unknown_is_not_found },
	{ "create_duplicate_is_exists", test_create_duplicate_is_exists },
	{ "create_refuses_over_creator_limit", test_create_refuses_over_creator_limit },
	{ "create_limit_ignores_inactive_links", test_create_limit_ignores_inactive_links },
	{ "list_filters_by_target", test_list_filters_by_target },
	{ "list_filters_by_creator", test_list_filters_by_creator },
	{ "list_hides_revoked_unless_asked", test_list_hides_revoked_unless_asked },
	{ "list_paginates_newest_first_with_total", test_list_paginates_newest_first_with_total },
	{ "revoke_marks_link_revoked", test_revoke_marks_link_revoked },
	{ "revoke_by_other_creator_is_not_found", test_revoke_by_other_creator_is_not_found },
	{ "revoke_unknown_is_not_found", test_revoke_unknown_is_not_found },
	{ "delete_removes_link_and_its_clicks", test_delete_removes_link_and_its_clicks },
	{ "delete_unknown_is_not_found", test_delete_unknown_is_not_found },
	{ "redeem_ok_counts_click_and_returns_link", test_redeem_ok_counts_click_and_returns_link },
	{ "redeem_batch_counts_exactly_in_order", test_redeem_batch_counts_exactly_in_order },
	{ "redeem_last_click_then_exhausted", test_redeem_last_click_then_exhausted },
	{ "redeem_expired_exactly_at_expiry", test_redeem_expired_exactly_at_expiry },
	{ "redeem_denied_does_not_count", test_redeem_denied_does_not_count },
	{ "redeem_logs_one_row_per_outcome", test_redeem_logs_one_row_per_outcome },
	{ "redeem_logs_time_ip_and_clean_user_agent", test_redeem_logs_time_ip_and_clean_user_agent },
	{ "list_clicks_paginates_newest_first", test_list_clicks_paginates_newest_first },
	{ "stats_counts_links_and_clicks_by_outcome", test_stats_counts_links_and_clicks_by_outcome },
	{ "owner_filter_counts_links_with_revoked_on_request", test_owner_filter_counts_links_with_revoked_on_request },
	{ "reopen_keeps_links_and_clicks", test_reopen_keeps_links_and_clicks },
	{ "redeem_owner_holding_the_target_is_granted", test_redeem_owner_holding_the_target_is_granted },
	{ "redeem_impostor_holding_the_target_is_not_online_and_uses_no_click",
		test_redeem_impostor_holding_the_target_is_not_online_and_uses_no_click },
	{ "redeem_claims_an_unclaimed_link_for_the_first_holder", test_redeem_claims_an_unclaimed_link_for_the_first_holder },
	{ "preview_never_counts_nor_claims_and_is_logged_as_preview",
		test_preview_never_counts_nor_claims_and_is_logged_as_preview },
	{ "list_filters_by_owner", test_list_filters_by_owner },
	{ "create_limit_counts_the_owners_peer_made_links_only", test_create_limit_counts_the_owners_peer_made_links_only },
	{ "private_mode_logs_the_network_not_the_address", test_private_mode_logs_the_network_not_the_address },
	{ "revoke_keeps_the_first_revocation_time", test_revoke_keeps_the_first_revocation_time },
	{ "prune_deletes_old_revoked_and_expired_links_with_their_clicks",
		test_prune_deletes_old_revoked_and_expired_links_with_their_clicks },
	{ "prune_click_log_keeps_the_retention", test_prune_click_log_keeps_the_retention },
	{ "prune_takes_back_thousands_of_revoked_links_in_bounded_batches",
		test_prune_takes_back_thousands_of_revoked_links_in_bounded_batches },
	{ "race_1000_redeems_shared_handle_grant_exactly_10", test_race_1000_redeems_shared_handle_grant_exactly_10 },
	{ "race_1000_redeems_handle_per_thread_grant_exactly_10", test_race_1000_redeems_handle_per_thread_grant_exactly_10 },
};

void p2plink_store_suite_add(const p2plink_store_backend *backend) {
	for(guint i = 0; i < G_N_ELEMENTS(suite_tests); i++) {
		char *path = g_strdup_printf("/store/%s/%s", backend->name, suite_tests[i].name);
		g_test_add_data_func(path, backend, suite_tests[i].fn);
		g_free(path);
	}
}
