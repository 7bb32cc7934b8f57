/* test_store_mongo.c — the MongoDB link store against a real server
 *
 * What it covers: the shared store suite (store_suite.c) run against
 * store_mongo.c on a real MongoDB -- the only place where query semantics
 * and atomicity are proven (1,000 racing redemptions, shared handle and one
 * handle per thread) -- plus what only MongoDB has: the indexes and the TTL
 * index, the TTL field only on expiring links, and the whitelist evaluated
 * by the server (BinData ranges) agreeing with links.c for every pair of a
 * table of entries and addresses.
 *
 * It needs P2PLINK_TEST_MONGODB_URI (e.g. mongodb://127.0.0.1:27017/).
 * Without it every test reports SKIP ("P2PLINK_TEST_MONGODB_URI not set"),
 * never ok. Each test uses a fresh database p2plink_test_<random> and drops
 * it afterwards. The wire conversation itself is checked without a server
 * in test_store_mongo_wire.c.
 * Not for: BSON shapes (test_store_mongo_bson.c), link rules (test_links.c).
 *
 * Build and run by hand (from the repository root):
 *   gcc -Wall -Wextra -g $(pkg-config --cflags libmongoc-1.0 glib-2.0 jansson openssl) \
 *     -Icommon -Iplugins/janus_p2plink -Itests/unit tests/unit/test_store_mongo.c tests/unit/store_suite.c \
 *     plugins/janus_p2plink/store_mongo.c plugins/janus_p2plink/store_mongo_bson.c \
 *     plugins/janus_p2plink/store.c common/links.c \
 *     -o /tmp/test_store_mongo $(pkg-config --libs libmongoc-1.0 glib-2.0 jansson openssl) \
 *     && P2PLINK_TEST_MONGODB_URI=mongodb://127.0.0.1:27017/ /tmp/test_store_mongo --tap
 */

#include <string.h>

#include <mongoc/mongoc.h>

#include "store.h"
#include "store_mongo_bson.h"
#include "store_suite.h"

#define URI_ENV "P2PLINK_TEST_MONGODB_URI"
#define SKIP_REASON URI_ENV " not set"
#define NOW G_GINT64_CONSTANT(1700000000000000)
#define HOUR (G_GINT64_CONSTANT(3600) * G_USEC_PER_SEC)
/* The suite's fixed "now" is in 2023, so its links expired long ago by the
 * server's clock: keep the TTL monitor away from them (68 years) */
#define TEST_RETENTION_S G_MAXINT32

/* ---- Fixture: a fresh database per test ---- */

typedef struct mongo_fixture {
	char *uri;
	char *database;	/* dropped at teardown */
} mongo_fixture;

static gpointer fixture_setup(char **skip_reason) {
	const char *uri = g_getenv(URI_ENV);
	if(uri == NULL || *uri == '\0') {
		*skip_reason = g_strdup(SKIP_REASON);
		return NULL;
	}
	mongo_fixture *f = g_new0(mongo_fixture, 1);
	f->uri = g_strdup(uri);
	f->database = g_strdup_printf("p2plink_test_%08x%08x", g_random_int(), g_random_int());
	return f;
}

static p2plink_store *fixture_open_retention(mongo_fixture *f, guint32 retention_s, GError **error) {
	p2plink_store_mongo_options options = { f->uri, f->database, 5000, retention_s, 0 };
	return p2plink_store_mongo_open(&options, error);
}

static p2plink_store *fixture_open(gpointer fixture, GError **error) {
	return fixture_open_retention(fixture, TEST_RETENTION_S, error);
}

/* A plain driver client on the test database, for looking behind the store */
static mongoc_client_t *raw_client(mongo_fixture *f) {
	mongoc_client_t *client = mongoc_client_new(f->uri);
	g_assert_nonnull(client);
	mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
	return client;
}

static void fixture_teardown(gpointer fixture) {
	mongo_fixture *f = fixture;
	mongoc_client_t *client = raw_client(f);
	mongoc_database_t *db = mongoc_client_get_database(client, f->database);
	bson_error_t e;
	if(!mongoc_database_drop(db, &e))
		g_test_message("could not drop %s: %s", f->database, e.message);
	mongoc_database_destroy(db);
	mongoc_client_destroy(client);
	g_free(f->database);
	g_free(f->uri);
	g_free(f);
}

static const p2plink_store_backend mongo_backend = {
	"mongodb", fixture_setup, fixture_open, fixture_teardown,
};

/* ---- MongoDB-specific tests ---- */

typedef struct real_ctx {
	mongo_fixture *f;
	p2plink_store *store;
} real_ctx;

static gboolean real_begin(real_ctx *ctx) {
	char *reason = NULL;
	ctx->f = fixture_setup(&reason);
	if(ctx->f == NULL) {
		g_test_skip(reason);
		g_free(reason);
		return FALSE;
	}
	GError *error = NULL;
	ctx->store = fixture_open(ctx->f, &error);
	g_assert_no_error(error);
	return TRUE;
}

static void real_end(real_ctx *ctx) {
	p2plink_store_close(ctx->store);
	fixture_teardown(ctx->f);
}

/* The index document called `name` on a collection, or NULL */
static bson_t *find_index(mongo_fixture *f, const char *collection, const char *name) {
	mongoc_client_t *client = raw_client(f);
	mongoc_collection_t *c = mongoc_client_get_collection(client, f->database, collection);
	mongoc_cursor_t *cursor = mongoc_collection_find_indexes_with_opts(c, NULL);
	const bson_t *doc = NULL;
	bson_t *found = NULL;
	while(found == NULL && mongoc_cursor_next(cursor, &doc)) {
		bson_iter_t it;
		if(bson_iter_init_find(&it, doc, "name") && strcmp(bson_iter_utf8(&it, NULL), name) == 0)
			found = bson_copy(doc);
	}
	bson_error_t e;
	g_assert_false(mongoc_cursor_error(cursor, &e));
	mongoc_cursor_destroy(cursor);
	mongoc_collection_destroy(c);
	mongoc_client_destroy(client);
	return found;
}

static gint64 index_int(const bson_t *index, const char *key) {
	bson_iter_t it;
	g_assert_true(bson_iter_init_find(&it, index, key));
	return bson_iter_as_int64(&it);
}

static void test_open_creates_indexes_and_ttl(void) {
	real_ctx ctx;
	if(!real_begin(&ctx))
		return;
	const char *links[] = { "token_hash_unique", "target_created", "creator_created", "created", P2PLINK_MONGO_TTL_INDEX };
	for(guint i = 0; i < G_N_ELEMENTS(links); i++) {
		bson_t *index = find_index(ctx.f, P2PLINK_MONGO_LINKS, links[i]);
		g_assert_nonnull(index);
		if(i == 0) {
			bson_iter_t it;
			g_assert_true(bson_iter_init_find(&it, index, "unique") && bson_iter_as_bool(&it));
		}
		if(strcmp(links[i], P2PLINK_MONGO_TTL_INDEX) == 0)
			g_assert_cmpint(index_int(index, "expireAfterSeconds"), ==, TEST_RETENTION_S);
		bson_destroy(index);
	}
	const char *clicks[] = { "link_seq", "seq", "outcome" };
	for(guint i = 0; i < G_N_ELEMENTS(clicks); i++) {
		bson_t *index = find_index(ctx.f, P2PLINK_MONGO_CLICKS, clicks[i]);
		g_assert_nonnull(index);
		bson_destroy(index);
	}
	real_end(&ctx);
}

static void test_reopen_with_other_retention_changes_ttl(void) {
	real_ctx ctx;
	if(!real_begin(&ctx))
		return;
	GError *error = NULL;
	p2plink_store *other = fixture_open_retention(ctx.f, 3600, &error);
	g_assert_no_error(error);
	bson_t *index = find_index(ctx.f, P2PLINK_MONGO_LINKS, P2PLINK_MONGO_TTL_INDEX);
	g_assert_nonnull(index);
	g_assert_cmpint(index_int(index, "expireAfterSeconds"), ==, 3600);
	bson_destroy(index);
	p2plink_store_close(other);
	real_end(&ctx);
}

/* Raw stored document of a link */
static bson_t *raw_link(mongo_fixture *f, const char *id) {
	mongoc_client_t *client = raw_client(f);
	mongoc_collection_t *c = mongoc_client_get_collection(client, f->database, P2PLINK_MONGO_LINKS);
	bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(c, filter, NULL, NULL);
	const bson_t *doc = NULL;
	bson_t *copy = mongoc_cursor_next(cursor, &doc) ? bson_copy(doc) : NULL;
	mongoc_cursor_destroy(cursor);
	bson_destroy(filter);
	mongoc_collection_destroy(c);
	mongoc_client_destroy(client);
	return copy;
}

static p2plink_link *new_link(gint64 expires_at, const char *whitelist_entry) {
	char *token = p2plink_token_new(NULL);
	p2plink_link *l = p2plink_link_new();
	l->id = p2plink_link_id_new(NULL);
	l->token_hash = p2plink_token_hash(token);
	l->target = g_strdup("alice");
	l->purpose = g_strdup("call");
	l->creator = g_strdup("bob");
	l->created_at = NOW;
	l->expires_at = expires_at;
	if(whitelist_entry != NULL) {
		const char *wl[] = { whitelist_entry, NULL };
		l->whitelist = g_strdupv((gchar **)wl);
	}
	g_free(token);
	return l;
}

static void test_ttl_field_only_on_expiring_links(void) {
	real_ctx ctx;
	if(!real_begin(&ctx))
		return;
	p2plink_link *expiring = new_link(NOW + HOUR, NULL), *forever = new_link(0, NULL);
	g_assert_true(p2plink_store_create_link(ctx.store, expiring, NOW, 0, NULL));
	g_assert_true(p2plink_store_create_link(ctx.store, forever, NOW, 0, NULL));
	bson_t *a = raw_link(ctx.f, expiring->id), *b = raw_link(ctx.f, forever->id);
	bson_iter_t it;
	g_assert_true(bson_iter_init_find(&it, a, "expire_at") && BSON_ITER_HOLDS_DATE_TIME(&it));
	g_assert_cmpint(bson_iter_date_time(&it), ==, (NOW + HOUR) / 1000);
	g_assert_false(bson_has_field(b, "expire_at"));
	bson_destroy(a);
	bson_destroy(b);
	p2plink_link_free(expiring);
	p2plink_link_free(forever);
	real_end(&ctx);
}

/* The server evaluates the whitelist (BinData ranges in the findAndModify
 * query); it must agree with links.c on every pair */
static void test_server_whitelist_agrees_with_link_rules(void) {
	real_ctx ctx;
	if(!real_begin(&ctx))
		return;
	const char *entries[] = { "10.0.0.0/8", "192.0.2.7", "0.0.0.0/0", "2001:db8::/32", "::/0",
		"::ffff:192.0.2.0/120", "fe80::/10", "198.51.100.0/31" };
	const char *ips[] = { "10.0.0.0", "10.255.255.255", "11.0.0.0", "192.0.2.7", "192.0.2.8",
		"::ffff:192.0.2.7", "2001:db8::", "2001:db9::", "::1", "fe80::1", "fec0::", "198.51.100.1",
		"198.51.100.2", NULL, "garbage" };
	for(guint i = 0; i < G_N_ELEMENTS(entries); i++) {
		p2plink_link *l = new_link(NOW + HOUR, entries[i]);
		g_assert_true(p2plink_store_create_link(ctx.store, l, NOW, 0, NULL));
		for(guint j = 0; j < G_N_ELEMENTS(ips); j++) {
			p2plink_link_outcome want = p2plink_link_check(l, NOW, ips[j]);
			p2plink_redeem_request req = { l->token_hash, NOW, ips[j], NULL, NULL, NULL, FALSE, FALSE };
			p2plink_link_outcome got = P2PLINK_LINK_OUTCOME_COUNT;
			GError *error = NULL;
			g_assert_true(p2plink_store_redeem(ctx.store, &req, &got, NULL, &error));
			g_assert_no_error(error);
			if(got != want)
				g_error("%s from %s: server says %s, links.c says %s", entries[i], ips[j] ? ips[j] : "(none)",
					p2plink_link_outcome_code(got), p2plink_link_outcome_code(want));
		}
		p2plink_link_free(l);
	}
	real_end(&ctx);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	p2plink_store_suite_add(&mongo_backend);
	g_test_add_func("/mongodb/open/creates_indexes_and_ttl", test_open_creates_indexes_and_ttl);
	g_test_add_func("/mongodb/open/reopen_with_other_retention_changes_ttl", test_reopen_with_other_retention_changes_ttl);
	g_test_add_func("/mongodb/ttl_field_only_on_expiring_links", test_ttl_field_only_on_expiring_links);
	g_test_add_func("/mongodb/server_whitelist_agrees_with_link_rules", test_server_whitelist_agrees_with_link_rules);
	int rc = g_test_run();
	p2plink_store_mongo_shutdown();
	return rc;
}
