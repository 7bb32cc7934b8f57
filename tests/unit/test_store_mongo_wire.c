/* test_store_mongo_wire.c — the MongoDB store over a real wire connection
 *
 * What it covers: store_mongo.c through libmongoc against a scripted
 * wire-protocol server (mongo_wire_mock.py, Debian python3-mockupdb). Each
 * test runs one store call in a worker thread while the main thread plays
 * the server: it reads every command the store sends, asserts on it
 * (command name, database, filter/query, update, options) and writes back
 * the reply a MongoDB 6.0 server would give. So it checks the exact wire
 * conversation of open (indexes), create (and duplicate key), redeem (one
 * findAndModify; the explaining read when it does not match; the click-log
 * insert), list (count + find with sort/skip/limit), server errors, an
 * unreachable server (clean P2PLINK_STORE_ERROR_IO within the timeout) and
 * recovery when the server comes back.
 * Not for: query semantics or atomicity -- the mock evaluates nothing; a
 * real server does that in test_store_mongo.c.
 *
 * Skips (never passes) when /usr/bin/python3 or python3-mockupdb is missing.
 * The mock script is found next to this program, or in $G_TEST_SRCDIR.
 *
 * Build and run by hand (from the repository root):
 *   gcc -Wall -Wextra -g $(pkg-config --cflags libmongoc-1.0 glib-2.0 jansson openssl) \
 *     -Icommon -Iplugins/janus_p2plink tests/unit/test_store_mongo_wire.c plugins/janus_p2plink/store_mongo.c \
 *     plugins/janus_p2plink/store_mongo_bson.c plugins/janus_p2plink/store.c common/links.c \
 *     -o /tmp/test_store_mongo_wire $(pkg-config --libs libmongoc-1.0 glib-2.0 jansson openssl) \
 *     && G_TEST_SRCDIR=$PWD/tests/unit /tmp/test_store_mongo_wire --tap
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "store.h"
#include "bson_json.h"
#include "store_mongo_bson.h"

#define PYTHON "/usr/bin/python3"
#define DB "p2plink_wire"
#define NOW G_GINT64_CONSTANT(1700000000000000)
#define HOUR (G_GINT64_CONSTANT(3600) * G_USEC_PER_SEC)
#define TIMEOUT_MS 400		/* store's server-selection/connect timeout */
#define WAIT_MS 10000		/* how long the test waits for the store to send something */

/* ---- The mock server process ---- */

typedef struct mock {
	GPid pid;
	int to_mock;		/* its stdin */
	int from_mock;		/* its stdout */
	GString *buf;		/* bytes read but not yet returned as lines */
	guint16 port;
} mock;

/* One line from the mock, without the newline; NULL on timeout or EOF */
static char *mock_line(mock *m, int timeout_ms) {
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	for(;;) {
		char *nl = memchr(m->buf->str, '\n', m->buf->len);
		if(nl != NULL) {
			char *line = g_strndup(m->buf->str, nl - m->buf->str);
			g_string_erase(m->buf, 0, nl - m->buf->str + 1);
			return line;
		}
		gint64 left = (deadline - g_get_monotonic_time()) / 1000;
		if(left <= 0)
			return NULL;
		struct pollfd p = { m->from_mock, POLLIN, 0 };
		int rc = poll(&p, 1, (int)left);
		if(rc < 0 && errno == EINTR)
			continue;
		if(rc <= 0)
			return NULL;
		char chunk[65536];
		ssize_t n = read(m->from_mock, chunk, sizeof(chunk));
		if(n <= 0)
			return NULL;
		g_string_append_len(m->buf, chunk, n);
	}
}

/* In the child: die with the test, even if the test aborts */
static void mock_child_setup(gpointer data) {
	(void)data;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* Start the mock (port 0 = any). NULL + *skip when it cannot run here. */
static mock *mock_start(guint16 port, char **skip) {
	if(!g_file_test(PYTHON, G_FILE_TEST_IS_EXECUTABLE)) {
		*skip = g_strdup(PYTHON " is not installed");
		return NULL;
	}
	char *script = g_test_build_filename(G_TEST_DIST, "mongo_wire_mock.py", NULL);
	g_assert_true(g_file_test(script, G_FILE_TEST_EXISTS));
	char *port_s = g_strdup_printf("%u", port);
	char *argv[] = { PYTHON, script, port ? port_s : NULL, NULL };
	mock *m = g_new0(mock, 1);
	GError *error = NULL;
	g_assert_true(g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, mock_child_setup, NULL,
		&m->pid, &m->to_mock, &m->from_mock, NULL, &error));
	g_assert_no_error(error);
	m->buf = g_string_new(NULL);
	g_free(port_s);
	g_free(script);
	char *first = mock_line(m, WAIT_MS);
	g_assert_nonnull(first);
	if(g_str_has_prefix(first, "SKIP ")) {
		*skip = g_strdup(first + 5);
		g_free(first);
		waitpid(m->pid, NULL, 0);
		g_spawn_close_pid(m->pid);
		close(m->to_mock);
		close(m->from_mock);
		g_string_free(m->buf, TRUE);
		g_free(m);
		return NULL;
	}
	g_assert_true(g_str_has_prefix(first, "PORT "));
	m->port = (guint16)atoi(first + 5);
	g_free(first);
	return m;
}

static void mock_stop(mock *m) {
	close(m->to_mock);	/* EOF stops it between requests... */
	kill(m->pid, SIGTERM);	/* ...and this while it waits for one */
	waitpid(m->pid, NULL, 0);
	g_spawn_close_pid(m->pid);
	close(m->from_mock);
	g_string_free(m->buf, TRUE);
	g_free(m);
}

static char *mock_uri(mock *m) {
	return g_strdup_printf("mongodb://127.0.0.1:%u/", m->port);
}

/* Next command the store sent: asserts its name and database, returns it */
static bson_t *mock_expect(mock *m, const char *command) {
	char *line = mock_line(m, WAIT_MS);
	if(line == NULL)
		g_error("the store sent nothing; expected \"%s\"", command);
	char *tab = strchr(line, '\t');
	g_assert_nonnull(tab);
	*tab = '\0';
	if(strcmp(line, command) != 0)
		g_error("the store sent \"%s\" (%s); expected \"%s\"", line, tab + 1, command);
	bson_error_t e;
	bson_t *doc = bson_new_from_json((const uint8_t *)tab + 1, -1, &e);
	if(doc == NULL)
		g_error("unreadable command from the mock: %s", e.message);
	bson_iter_t it;
	g_assert_true(bson_iter_init_find(&it, doc, "$db"));
	g_assert_cmpstr(bson_iter_utf8(&it, NULL), ==, DB);
	g_free(line);
	return doc;
}

static void mock_reply(mock *m, const char *json) {
	char *line = g_strdup_printf("%s\n", json);
	size_t len = strlen(line), off = 0;
	while(off < len) {
		ssize_t n = write(m->to_mock, line + off, len - off);
		g_assert_cmpint(n, >, 0);
		off += (size_t)n;
	}
	g_free(line);
}

/* Nothing else arrives within ms (the store is done talking) */
static void mock_expect_silence(mock *m, int ms) {
	char *line = mock_line(m, ms);
	if(line != NULL)
		g_error("the store sent something unexpected: %s", line);
}

/* ---- Looking into commands ---- */

/* A field of a command, as canonical JSON of a document or array element */
static char *field_json(const bson_t *doc, const char *path) {
	bson_iter_t it;
	g_assert_true(bson_iter_init(&it, doc));
	if(!bson_iter_find_descendant(&it, path, &it))
		g_error("no \"%s\" in the command", path);
	const uint8_t *data = NULL;
	uint32_t len = 0;
	if(BSON_ITER_HOLDS_ARRAY(&it))
		bson_iter_array(&it, &len, &data);	/* rendered with "0", "1", ... keys */
	else if(BSON_ITER_HOLDS_DOCUMENT(&it))
		bson_iter_document(&it, &len, &data);
	else
		g_error("\"%s\" is neither a document nor an array", path);
	bson_t sub;
	g_assert_true(bson_init_static(&sub, data, len));
	return p2plink_mongo_to_json(&sub);
}

static void assert_field_equals(const bson_t *cmd, const char *path, const bson_t *expected) {
	char *got = field_json(cmd, path);
	char *want = p2plink_mongo_to_json(expected);
	g_assert_cmpstr(got, ==, want);
	g_free(got);
	g_free(want);
}

/* The same field of two documents is identical */
static void assert_same_field(const bson_t *cmd, const bson_t *want, const char *path) {
	char *got_s = field_json(cmd, path);
	char *want_s = field_json(want, path);
	g_assert_cmpstr(got_s, ==, want_s);
	g_free(got_s);
	g_free(want_s);
}

static void assert_field_json(const bson_t *cmd, const char *path, const char *expected) {
	bson_error_t e;
	bson_t *want = bson_new_from_json((const uint8_t *)expected, -1, &e);
	g_assert_nonnull(want);
	assert_field_equals(cmd, path, want);
	bson_destroy(want);
}

static gint64 field_int(const bson_t *doc, const char *path) {
	bson_iter_t it;
	g_assert_true(bson_iter_init(&it, doc));
	if(!bson_iter_find_descendant(&it, path, &it))
		g_error("no \"%s\" in the command", path);
	g_assert_true(BSON_ITER_HOLDS_NUMBER(&it));
	return bson_iter_as_int64(&it);
}

static const char *field_str(const bson_t *doc, const char *path) {
	bson_iter_t it;
	g_assert_true(bson_iter_init(&it, doc));
	if(!bson_iter_find_descendant(&it, path, &it))
		g_error("no \"%s\" in the command", path);
	g_assert_true(BSON_ITER_HOLDS_UTF8(&it));
	return bson_iter_utf8(&it, NULL);
}

static gboolean field_bool(const bson_t *doc, const char *path) {
	bson_iter_t it;
	g_assert_true(bson_iter_init(&it, doc));
	g_assert_true(bson_iter_find_descendant(&it, path, &it));
	g_assert_true(BSON_ITER_HOLDS_BOOL(&it));
	return bson_iter_bool(&it);
}

static gboolean has_field(const bson_t *doc, const char *path) {
	bson_iter_t it;
	return bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &it);
}

/* A cursor reply carrying these documents (JSON list without brackets) */
static char *cursor_reply(const char *coll_name, const char *docs) {
	return g_strdup_printf("{\"cursor\":{\"id\":{\"$numberLong\":\"0\"},\"ns\":\"%s.%s\",\"firstBatch\":[%s]},"
		"\"ok\":{\"$numberDouble\":\"1.0\"}}", DB, coll_name, docs);
}

static char *link_json(const p2plink_link *l) {
	bson_t *doc = p2plink_mongo_link_to_bson(l);
	char *json = p2plink_mongo_to_json(doc);
	bson_destroy(doc);
	return json;
}

/* ---- Store calls on a worker thread ---- */

typedef enum op_kind { OP_OPEN, OP_CREATE, OP_REDEEM, OP_LIST, OP_REVOKE } op_kind;

typedef struct op {
	op_kind kind;
	/* in */
	char *uri;
	p2plink_store *store;
	const p2plink_link *link;
	guint max_active;
	p2plink_redeem_request req;
	p2plink_link_filter filter;
	/* out */
	gboolean ok;
	p2plink_store *opened;
	p2plink_link_outcome outcome;
	p2plink_link *got;
	GPtrArray *rows;
	guint64 total;
	GError *error;
	gint64 elapsed_us;
} op;

static gpointer op_run(gpointer data) {
	op *o = data;
	gint64 start = g_get_monotonic_time();
	switch(o->kind) {
		case OP_OPEN: {
			p2plink_store_mongo_options opts = { o->uri, DB, TIMEOUT_MS, 0, 0 };
			o->opened = p2plink_store_mongo_open(&opts, &o->error);
			o->ok = o->opened != NULL;
			break;
		}
		case OP_CREATE:
			o->ok = p2plink_store_create_link(o->store, o->link, NOW, o->max_active, &o->error);
			break;
		case OP_REDEEM:
			o->ok = p2plink_store_redeem(o->store, &o->req, &o->outcome, &o->got, &o->error);
			break;
		case OP_LIST:
			o->rows = p2plink_store_list_links(o->store, &o->filter, &o->total, &o->error);
			o->ok = o->rows != NULL;
			break;
		case OP_REVOKE:
			o->ok = p2plink_store_revoke_link(o->store, "L1", "bob", NOW, &o->error);
			break;
	}
	o->elapsed_us = g_get_monotonic_time() - start;
	return NULL;
}

static GThread *op_start(op *o) {
	return g_thread_new("store-op", op_run, o);
}

static void op_clear(op *o) {
	g_free(o->uri);
	g_clear_error(&o->error);
	p2plink_link_free(o->got);
	if(o->rows)
		g_ptr_array_unref(o->rows);
}

/* Open a store against the mock, answering the index commands */
/* The last step of every open: links made by peers before owners existed are withdrawn */
static void expect_withdraw_unowned(mock *m) {
	bson_t *cmd = mock_expect(m, "update");
	g_assert_cmpstr(field_str(cmd, "update"), ==, "links");
	bson_t *f = p2plink_mongo_unowned_peer_links_filter();
	assert_field_equals(cmd, "updates.0.q", f);
	bson_destroy(f);
	g_assert_true(field_bool(cmd, "updates.0.multi"));
	g_assert_true(field_bool(cmd, "updates.0.u.$set.revoked"));
	bson_destroy(cmd);
	mock_reply(m, "{\"n\":0,\"nModified\":0,\"ok\":1}");
}

static p2plink_store *open_on(mock *m) {
	op o = { .kind = OP_OPEN, .uri = mock_uri(m) };
	GThread *t = op_start(&o);
	bson_t *cmd = mock_expect(m, "createIndexes");
	g_assert_cmpstr(field_str(cmd, "createIndexes"), ==, "links");
	bson_destroy(cmd);
	mock_reply(m, "{\"ok\":1}");
	cmd = mock_expect(m, "createIndexes");
	g_assert_cmpstr(field_str(cmd, "createIndexes"), ==, "clicks");
	bson_destroy(cmd);
	mock_reply(m, "{\"ok\":1}");
	expect_withdraw_unowned(m);
	g_thread_join(t);
	g_assert_no_error(o.error);
	p2plink_store *s = o.opened;
	op_clear(&o);
	return s;
}

/* A mock server on any free port, or NULL after marking the test skipped (python3-mockupdb missing) */
static mock *mock_start_or_skip(void) {
	char *skip = NULL;
	mock *m = mock_start(0, &skip);
	if(m == NULL) {
		g_test_skip(skip);
		g_free(skip);
	}
	return m;
}

typedef struct wire_ctx {
	mock *m;
	p2plink_store *store;
} wire_ctx;

static gboolean ctx_begin(wire_ctx *ctx) {
	ctx->m = mock_start_or_skip();
	if(ctx->m == NULL)
		return FALSE;
	ctx->store = open_on(ctx->m);
	return TRUE;
}

static void ctx_end(wire_ctx *ctx) {
	p2plink_store_close(ctx->store);
	mock_stop(ctx->m);
}

static p2plink_link *sample_link(guint32 max_clicks, const char *whitelist_entry) {
	p2plink_link *l = p2plink_link_new();
	l->id = g_strdup("L1");
	l->token_hash = g_strdup("ab01");
	l->target = g_strdup("alice");
	l->purpose = g_strdup("call");
	l->creator = g_strdup("bob");
	l->owner = g_strdup("bob");	/* an owner hash, spelled short */
	l->created_at = NOW;
	l->expires_at = NOW + HOUR;
	l->max_clicks = max_clicks;
	if(whitelist_entry != NULL) {
		const char *wl[] = { whitelist_entry, NULL };
		l->whitelist = g_strdupv((gchar **)wl);
	}
	return l;
}

/* ---- Tests ---- */

static void test_open_creates_indexes_with_ttl(void) {
	mock *m = mock_start_or_skip();
	if(m == NULL)
		return;
	op o = { .kind = OP_OPEN, .uri = mock_uri(m) };
	GThread *t = op_start(&o);
	bson_t *cmd = mock_expect(m, "createIndexes");
	g_assert_cmpstr(field_str(cmd, "createIndexes"), ==, "links");
	bson_t *want = p2plink_mongo_links_indexes_command(P2PLINK_MONGO_DEFAULT_RETENTION_S);
	assert_same_field(cmd, want, "indexes");
	g_assert_true(field_bool(cmd, "indexes.0.unique"));
	g_assert_cmpstr(field_str(cmd, "indexes.5.name"), ==, P2PLINK_MONGO_TTL_INDEX);
	g_assert_cmpint(field_int(cmd, "indexes.5.expireAfterSeconds"), ==, 7 * 24 * 3600);
	bson_destroy(want);
	bson_destroy(cmd);
	mock_reply(m, "{\"ok\":1}");
	cmd = mock_expect(m, "createIndexes");
	g_assert_cmpstr(field_str(cmd, "createIndexes"), ==, "clicks");
	want = p2plink_mongo_clicks_indexes_command(P2PLINK_MONGO_DEFAULT_CLICK_RETENTION_S);
	assert_same_field(cmd, want, "indexes");
	bson_destroy(want);
	bson_destroy(cmd);
	mock_reply(m, "{\"ok\":1}");
	expect_withdraw_unowned(m);
	g_thread_join(t);
	g_assert_no_error(o.error);
	g_assert_true(o.ok);
	p2plink_store_close(o.opened);
	mock_expect_silence(m, 200);
	op_clear(&o);
	mock_stop(m);
}

static void test_open_retention_conflict_uses_collmod(void) {
	mock *m = mock_start_or_skip();
	if(m == NULL)
		return;
	op o = { .kind = OP_OPEN, .uri = mock_uri(m) };
	GThread *t = op_start(&o);
	bson_destroy(mock_expect(m, "createIndexes"));
	mock_reply(m, "{\"ok\":0,\"errmsg\":\"An equivalent index already exists with different options\","
		"\"code\":85,\"codeName\":\"IndexOptionsConflict\"}");
	bson_t *cmd = mock_expect(m, "collMod");
	g_assert_cmpstr(field_str(cmd, "collMod"), ==, "links");
	g_assert_cmpstr(field_str(cmd, "index.name"), ==, P2PLINK_MONGO_TTL_INDEX);
	g_assert_cmpint(field_int(cmd, "index.expireAfterSeconds"), ==, 7 * 24 * 3600);
	bson_destroy(cmd);
	mock_reply(m, "{\"ok\":1}");
	bson_destroy(mock_expect(m, "createIndexes"));
	mock_reply(m, "{\"ok\":1}");
	/* The click log's TTL index made with another click retention: the same, on "clicks" */
	bson_destroy(mock_expect(m, "createIndexes"));
	mock_reply(m, "{\"ok\":0,\"errmsg\":\"An equivalent index already exists with different options\","
		"\"code\":85,\"codeName\":\"IndexOptionsConflict\"}");
	cmd = mock_expect(m, "collMod");
	g_assert_cmpstr(field_str(cmd, "collMod"), ==, "clicks");
	g_assert_cmpstr(field_str(cmd, "index.name"), ==, P2PLINK_MONGO_CLICK_TTL_INDEX);
	g_assert_cmpint(field_int(cmd, "index.expireAfterSeconds"), ==, 30 * 24 * 3600);
	bson_destroy(cmd);
	mock_reply(m, "{\"ok\":1}");
	bson_destroy(mock_expect(m, "createIndexes"));
	mock_reply(m, "{\"ok\":1}");
	expect_withdraw_unowned(m);
	g_thread_join(t);
	g_assert_no_error(o.error);
	p2plink_store_close(o.opened);
	op_clear(&o);
	mock_stop(m);
}

static void test_create_inserts_the_link_document(void) {
	wire_ctx ctx;
	if(!ctx_begin(&ctx))
		return;
	p2plink_link *l = sample_link(10, "10.0.0.0/8");
	op o = { .kind = OP_CREATE, .store = ctx.store, .link = l };
	GThread *t = op_start(&o);
	bson_t *cmd = mock_expect(ctx.m, "insert");
	g_assert_cmpstr(field_str(cmd, "insert"), ==, "links");
	bson_t *want = p2plink_mongo_link_to_bson(l);
	assert_field_equals(cmd, "documents.0", want);
	g_assert_false(has_field(cmd, "documents.1"));
	bson_destroy(want);
	bson_destroy(cmd);
	mock_reply(ctx.m, "{\"n\":1,\"ok\":1}");
	g_thread_join(t);
	g_assert_no_error(o.error);
	g_assert_true(o.ok);
	mock_expect_silence(ctx.m, 200);
	op_clear(&o);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_create_over_creator_limit_takes_the_link_back(void) {
	wire_ctx ctx;
	if(!ctx_begin(&ctx))
		return;
	p2plink_link *l = sample_link(0, NULL);
	op o = { .kind = OP_CREATE, .store = ctx.store, .link = l, .max_active = 2 };
	GThread *t = op_start(&o);
	bson_destroy(mock_expect(ctx.m, "insert"));
	mock_reply(ctx.m, "{\"n\":1,\"ok\":1}");
	/* countDocuments of the creator's OTHER active links */
	bson_t *cmd = mock_expect(ctx.m, "aggregate");
	bson_t *want = p2plink_mongo_active_filter("bob", NOW, "L1", TRUE);
	assert_field_equals(cmd, "pipeline.0.$match", want);
	bson_destroy(want);
	bson_destroy(cmd);
	char *reply = cursor_reply("links", "{\"_id\":1,\"n\":2}");
	mock_reply(ctx.m, reply);
	g_free(reply);
	cmd = mock_expect(ctx.m, "delete");
	assert_field_json(cmd, "deletes.0.q", "{\"_id\":\"L1\"}");
	g_assert_cmpint(field_int(cmd, "deletes.0.limit"), ==, 1);
	bson_destroy(cmd);
	mock_reply(ctx.m, "{\"n\":1,\"ok\":1}");
	g_thread_join(t);
	g_assert_false(o.ok);
	g_assert_error(o.error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_LIMIT);
	op_clear(&o);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_create_duplicate_key_is_exists(void) {
	wire_ctx ctx;
	if(!ctx_begin(&ctx))
		return;
	p2plink_link *l = sample_link(0, NULL);
	op o = { .kind = OP_CREATE, .store = ctx.store, .link = l };
	GThread *t = op_start(&o);
	bson_destroy(mock_expect(ctx.m, "insert"));
	mock_reply(ctx.m, "{\"n\":0,\"writeErrors\":[{\"index\":0,\"code\":11000,\"codeName\":\"DuplicateKey\","
		"\"errmsg\":\"E11000 duplicate key error collection: p2plink_wire.links index: token_hash_unique\"}],\"ok\":1}");
	g_thread_join(t);
	g_assert_false(o.ok);
	g_assert_error(o.error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_EXISTS);
	g_assert_nonnull(strstr(o.error->message, "could not save the link"));
	op_clear(&o);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

/* Answer the click-log insert and check it */
static void expect_click(mock *m, const char *link_id, const char *ip, const char *outcome) {
	bson_t *cmd = mock_expect(m, "insert");
	g_assert_cmpstr(field_str(cmd, "insert"), ==, "clicks");
	if(link_id != NULL)
		g_assert_cmpstr(field_str(cmd, "documents.0.link_id"), ==, link_id);
	else
		g_assert_true(has_field(cmd, "documents.0.link_id") && !has_field(cmd, "documents.0.link_id.x"));
	if(ip != NULL)
		g_assert_cmpstr(field_str(cmd, "documents.0.ip"), ==, ip);
	g_assert_cmpstr(field_str(cmd, "documents.0.outcome"), ==, outcome);
	g_assert_cmpint(field_int(cmd, "documents.0.at"), ==, NOW);
	g_assert_cmpint(field_int(cmd, "documents.0.seq"), >, 0);
	bson_destroy(cmd);
	mock_reply(m, "{\"n\":1,\"ok\":1}");
}

/* The conditional findAndModify of a grant from 10.1.2.3 (owner condition and claim for holder, if any), answered
 * with `after`, then its click row */
static void expect_grant(mock *m, const char *holder, const p2plink_link *after) {
	bson_t *cmd = mock_expect(m, "findAndModify");
	g_assert_cmpstr(field_str(cmd, "findAndModify"), ==, "links");
	bson_t *q = p2plink_mongo_redeem_query("ab01", NOW, "10.1.2.3", holder);
	bson_t *u = p2plink_mongo_redeem_update(holder);
	assert_field_equals(cmd, "query", q);
	assert_field_equals(cmd, "update", u);
	g_assert_true(field_bool(cmd, "new"));
	g_assert_false(has_field(cmd, "upsert") && field_bool(cmd, "upsert"));
	bson_destroy(q);
	bson_destroy(u);
	bson_destroy(cmd);
	char *doc = link_json(after);
	char *reply = g_strdup_printf("{\"lastErrorObject\":{\"n\":1,\"updatedExisting\":true},\"value\":%s,\"ok\":1}", doc);
	mock_reply(m, reply);
	g_free(reply);
	g_free(doc);
	expect_click(m, "L1", "10.1.2.3", "ok");
}

static void test_redeem_ok_is_one_find_and_modify_then_click(void) {
	wire_ctx ctx;
	if(!ctx_begin(&ctx))
		return;
	op o = { .kind = OP_REDEEM, .store = ctx.store, .req = { "ab01", NOW, "10.1.2.3", "Firefox" } };
	GThread *t = op_start(&o);
	/* The server answers with the document after $inc */
	p2plink_link *after = sample_link(10, "10.0.0.0/8");
	after->clicks = 4;
	expect_grant(ctx.m, NULL, after);
	g_thread_join(t);
	g_assert_no_error(o.error);
	g_assert_cmpint(o.outcome, ==, P2PLINK_LINK_OK);
	g_assert_nonnull(o.got);
	g_assert_cmpuint(o.got->clicks, ==, 4);
	g_assert_cmpstr(o.got->target, ==, "alice");
	/* One findAndModify, one insert: no read, no second write */
	mock_expect_silence(ctx.m, 200);
	op_clear(&o);
	p2plink_link_free(after);
	ctx_end(&ctx);
}

/* A refused redemption: findAndModify matched nothing, the read returns
 * `doc_json` (or nothing), and the click is logged with `outcome` */
static void refused_redeem(const p2plink_redeem_request *req, const char *doc_json, const char *link_id,
		const char *outcome_code, p2plink_link_outcome outcome) {
	wire_ctx ctx;
	if(!ctx_begin(&ctx))
		return;
	op o = { .kind = OP_REDEEM, .store = ctx.store, .req = *req };
	GThread *t = op_start(&o);
	bson_t *cmd = mock_expect(ctx.m, "findAndModify");
	bson_t *q = p2plink_mongo_redeem_query(req->token_hash, req->now, req->client_ip, NULL);
	assert_field_equals(cmd, "query", q);
	bson_destroy(q);
	bson_destroy(cmd);
	mock_reply(ctx.m, "{\"lastErrorObject\":{\"n\":0,\"updatedExisting\":false},\"value\":null,\"ok\":1}");
	/* The explaining read: by token hash only, one document */
	cmd = mock_expect(ctx.m, "find");
	g_assert_cmpstr(field_str(cmd, "find"), ==, "links");
	bson_t *f = p2plink_mongo_hash_filter(req->token_hash);
	assert_field_equals(cmd, "filter", f);
	bson_destroy(f);
	g_assert_cmpint(field_int(cmd, "limit"), ==, 1);
	bson_destroy(cmd);
	char *reply = cursor_reply("links", doc_json ? doc_json : "");
	mock_reply(ctx.m, reply);
	g_free(reply);
	expect_click(ctx.m, link_id, req->client_ip, outcome_code);
	g_thread_join(t);
	g_assert_no_error(o.error);
	g_assert_true(o.ok);
	g_assert_cmpint(o.outcome, ==, outcome);
	/* No second findAndModify: a refusal never turns into a write */
	mock_expect_silence(ctx.m, 200);
	op_clear(&o);
	ctx_end(&ctx);
}

static void test_redeem_refused_reads_why_and_never_counts(void) {
	p2plink_link *l = sample_link(2, NULL);
	l->clicks = 2;
	char *doc = link_json(l);
	p2plink_redeem_request req = { "ab01", NOW, "192.0.2.1", NULL, NULL, NULL, FALSE, FALSE };
	refused_redeem(&req, doc, "L1", "exhausted", P2PLINK_LINK_EXHAUSTED);
	g_free(doc);
	/* Expired and revoked are told apart the same way */
	l->clicks = 0;
	l->expires_at = NOW;
	doc = link_json(l);
	refused_redeem(&req, doc, "L1", "expired", P2PLINK_LINK_EXPIRED);
	g_free(doc);
	l->expires_at = NOW + HOUR;
	l->revoked = TRUE;
	doc = link_json(l);
	refused_redeem(&req, doc, "L1", "revoked", P2PLINK_LINK_REVOKED);
	g_free(doc);
	p2plink_link_free(l);
}

static void test_redeem_unknown_token_logs_null_link(void) {
	p2plink_redeem_request req = { "feed", NOW, NULL, "curl", NULL, NULL, FALSE, FALSE };
	refused_redeem(&req, NULL, NULL, "unknown", P2PLINK_LINK_UNKNOWN);
}

static void test_redeem_ip_denied_is_decided_by_the_server_query(void) {
	/* The whitelist is in the findAndModify query (checked by
	 * refused_redeem against the builder, which carries the IP); a
	 * refused IP is then explained as ip-denied, not counted */
	p2plink_link *l = sample_link(5, "10.0.0.0/8");
	char *doc = link_json(l);
	p2plink_redeem_request req = { "ab01", NOW, "192.0.2.1", NULL, NULL, NULL, FALSE, FALSE };
	refused_redeem(&req, doc, "L1", "ip-denied", P2PLINK_LINK_IP_DENIED);
	g_free(doc);
	p2plink_link_free(l);
}

static void test_redeem_read_says_ok_retries_never_grants(void) {
	wire_ctx ctx;
	if(!ctx_begin(&ctx))
		return;
	p2plink_link *l = sample_link(5, NULL);
	char *doc = link_json(l);
	char *found = cursor_reply("links", doc);
	op o = { .kind = OP_REDEEM, .store = ctx.store, .req = { "ab01", NOW, NULL, NULL } };
	GThread *t = op_start(&o);
	/* Every time: the update does not match, but the read looks redeemable */
	for(int i = 0; i < 3; i++) {
		bson_destroy(mock_expect(ctx.m, "findAndModify"));
		mock_reply(ctx.m, "{\"lastErrorObject\":{\"n\":0,\"updatedExisting\":false},\"value\":null,\"ok\":1}");
		bson_destroy(mock_expect(ctx.m, "find"));
		mock_reply(ctx.m, found);
	}
	g_thread_join(t);
	g_assert_false(o.ok);
	g_assert_error(o.error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_BUSY);
	mock_expect_silence(ctx.m, 200);
	op_clear(&o);
	g_free(found);
	g_free(doc);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

/* The registry's answer to "who holds this target now", for the owned-redemption tests */
static char *holder_is(const char *target, void *data) {
	(void)target;
	return g_strdup(data);
}

/* Reply to the first read by token hash with `l` */
static void reply_read(mock *m, const p2plink_link *l) {
	bson_t *cmd = mock_expect(m, "find");
	bson_t *f = p2plink_mongo_hash_filter("ab01");
	assert_field_equals(cmd, "filter", f);
	bson_destroy(f);
	bson_destroy(cmd);
	char *doc = link_json(l);
	char *reply = cursor_reply("links", doc);
	mock_reply(m, reply);
	g_free(reply);
	g_free(doc);
}

static void test_redeem_owned_reads_then_conditional_update_with_holder(void) {
	wire_ctx ctx;
	if(!ctx_begin(&ctx))
		return;
	p2plink_link *l = sample_link(5, NULL);
	op o = { .kind = OP_REDEEM, .store = ctx.store,
		.req = { "ab01", NOW, "10.1.2.3", NULL, holder_is, "bob", FALSE, FALSE } };
	GThread *t = op_start(&o);
	reply_read(ctx.m, l);
	/* The grant: owner is the holder (or none) in the condition, the claim in the update */
	l->clicks = 1;
	expect_grant(ctx.m, "bob", l);
	g_thread_join(t);
	g_assert_no_error(o.error);
	g_assert_cmpint(o.outcome, ==, P2PLINK_LINK_OK);
	g_assert_cmpstr(o.got->owner, ==, "bob");
	mock_expect_silence(ctx.m, 200);
	op_clear(&o);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

/* A redemption that is decided on the first read (a refusal, or a preview): no findAndModify, one click row */
static void decided_on_the_read(const char *holder, gboolean preview, const char *logged, p2plink_link_outcome outcome) {
	wire_ctx ctx;
	if(!ctx_begin(&ctx))
		return;
	p2plink_link *l = sample_link(1, NULL);
	op o = { .kind = OP_REDEEM, .store = ctx.store,
		.req = { "ab01", NOW, "10.1.2.3", NULL, holder_is, (void *)holder, preview, FALSE } };
	GThread *t = op_start(&o);
	reply_read(ctx.m, l);
	expect_click(ctx.m, "L1", "10.1.2.3", logged);
	g_thread_join(t);
	g_assert_no_error(o.error);
	g_assert_cmpint(o.outcome, ==, outcome);
	g_assert_cmpuint(o.got->clicks, ==, 0);
	/* Nothing else: no findAndModify */
	mock_expect_silence(ctx.m, 200);
	op_clear(&o);
	p2plink_link_free(l);
	ctx_end(&ctx);
}

static void test_redeem_impostor_holding_the_target_is_not_online_without_a_write(void) {
	decided_on_the_read("mallory", FALSE, "not-online", P2PLINK_LINK_NOT_ONLINE);
}

static void test_preview_reads_and_logs_preview_only(void) {
	decided_on_the_read("bob", TRUE, "preview", P2PLINK_LINK_OK);
}

static void test_redeem_server_error_is_clean(void) {
	wire_ctx ctx;
	if(!ctx_begin(&ctx))
		return;
	op o = { .kind = OP_REDEEM, .store = ctx.store, .req = { "ab01", NOW, NULL, NULL } };
	GThread *t = op_start(&o);
	bson_destroy(mock_expect(ctx.m, "findAndModify"));
	mock_reply(ctx.m, "{\"ok\":0,\"errmsg\":\"boom\",\"code\":2,\"codeName\":\"BadValue\"}");
	g_thread_join(t);
	g_assert_false(o.ok);
	g_assert_error(o.error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_INTERNAL);
	g_assert_nonnull(strstr(o.error->message, "boom"));
	/* Nothing was counted, so nothing is logged */
	mock_expect_silence(ctx.m, 200);
	op_clear(&o);
	ctx_end(&ctx);
}

static void test_list_counts_then_finds_with_sort_skip_limit(void) {
	wire_ctx ctx;
	if(!ctx_begin(&ctx))
		return;
	op o = { .kind = OP_LIST, .store = ctx.store, .filter = { "alice", NULL, FALSE, 2, 2 } };
	GThread *t = op_start(&o);
	bson_t *cmd = mock_expect(ctx.m, "aggregate");
	g_assert_cmpstr(field_str(cmd, "aggregate"), ==, "links");
	bson_t *f = p2plink_mongo_list_filter(&o.filter);
	assert_field_equals(cmd, "pipeline.0.$match", f);
	bson_destroy(cmd);
	char *reply = cursor_reply("links", "{\"_id\":1,\"n\":7}");
	mock_reply(ctx.m, reply);
	g_free(reply);
	cmd = mock_expect(ctx.m, "find");
	assert_field_equals(cmd, "filter", f);
	assert_field_json(cmd, "sort", "{\"created_at\":{\"$numberInt\":\"-1\"},\"_id\":{\"$numberInt\":\"-1\"}}");
	g_assert_cmpint(field_int(cmd, "skip"), ==, 2);
	g_assert_cmpint(field_int(cmd, "limit"), ==, 2);
	bson_destroy(f);
	bson_destroy(cmd);
	p2plink_link *a = sample_link(0, NULL), *b = sample_link(0, "2001:db8::/32");
	g_free(b->id);
	b->id = g_strdup("L0");
	char *ja = link_json(a), *jb = link_json(b);
	char *docs = g_strdup_printf("%s,%s", ja, jb);
	reply = cursor_reply("links", docs);
	mock_reply(ctx.m, reply);
	g_thread_join(t);
	g_assert_no_error(o.error);
	g_assert_cmpuint(o.total, ==, 7);
	g_assert_cmpuint(o.rows->len, ==, 2);
	g_assert_cmpstr(((p2plink_link *)o.rows->pdata[1])->id, ==, "L0");
	g_assert_cmpstr(((p2plink_link *)o.rows->pdata[1])->whitelist[0], ==, "2001:db8::/32");
	g_free(reply);
	g_free(docs);
	g_free(ja);
	g_free(jb);
	p2plink_link_free(a);
	p2plink_link_free(b);
	op_clear(&o);
	ctx_end(&ctx);
}

static void test_revoke_by_other_creator_is_not_found(void) {
	wire_ctx ctx;
	if(!ctx_begin(&ctx))
		return;
	op o = { .kind = OP_REVOKE, .store = ctx.store };
	GThread *t = op_start(&o);
	bson_t *cmd = mock_expect(ctx.m, "update");
	g_assert_cmpstr(field_str(cmd, "update"), ==, "links");
	assert_field_json(cmd, "updates.0.q", "{\"_id\":\"L1\",\"owner\":\"bob\"}");
	bson_t *u = p2plink_mongo_revoke_update(NOW);
	assert_field_equals(cmd, "updates.0.u", u);
	bson_destroy(u);
	bson_destroy(cmd);
	mock_reply(ctx.m, "{\"n\":0,\"nModified\":0,\"ok\":1}");
	g_thread_join(t);
	g_assert_false(o.ok);
	g_assert_error(o.error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_NOT_FOUND);
	op_clear(&o);
	ctx_end(&ctx);
}

/* A loopback port with nobody listening (bound, then released) */
static guint16 free_port(void) {
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { 0 };
	socklen_t len = sizeof(a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	g_assert_cmpint(bind(fd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&a, &len), ==, 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_open_server_down_is_io_error_within_timeout(void) {
	op o = { .kind = OP_OPEN };
	o.uri = g_strdup_printf("mongodb://127.0.0.1:%u/", free_port());
	op_run(&o);
	g_assert_false(o.ok);
	g_assert_null(o.opened);
	g_assert_error(o.error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_IO);
	g_test_message("down: %s after %" G_GINT64_FORMAT " ms", o.error->message, o.elapsed_us / 1000);
	g_assert_cmpint(o.elapsed_us, <, (gint64)(TIMEOUT_MS + 1500) * 1000);
	op_clear(&o);
}

static void test_open_bad_uri_or_database_is_invalid(void) {
	const p2plink_store_mongo_options bad[] = {
		{ "http://nope", "db", 0, 0, 0 },
		{ NULL, "db", 0, 0, 0 },
		{ "mongodb://127.0.0.1:1/", "bad.name", 0, 0, 0 },
		{ "mongodb://127.0.0.1:1/", "", 0, 0, 0 },
	};
	for(guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		GError *error = NULL;
		g_assert_null(p2plink_store_mongo_open(&bad[i], &error));
		g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_INVALID);
		g_clear_error(&error);
	}
	GError *error = NULL;
	g_assert_null(p2plink_store_mongo_open(NULL, &error));
	g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_INVALID);
	g_clear_error(&error);
}

static void test_server_gone_then_back_recovers(void) {
	wire_ctx ctx;
	if(!ctx_begin(&ctx))
		return;
	guint16 port = ctx.m->port;
	/* The server goes away */
	mock_stop(ctx.m);
	op o = { .kind = OP_REDEEM, .store = ctx.store, .req = { "ab01", NOW, NULL, NULL } };
	op_run(&o);
	g_assert_false(o.ok);
	g_assert_error(o.error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_IO);
	g_test_message("gone: %s after %" G_GINT64_FORMAT " ms", o.error->message, o.elapsed_us / 1000);
	g_assert_cmpint(o.elapsed_us, <, (gint64)(TIMEOUT_MS + 1500) * 1000);
	op_clear(&o);
	/* A second call while it is still away fails the same clean way */
	op o2 = { .kind = OP_REDEEM, .store = ctx.store, .req = { "ab01", NOW, NULL, NULL } };
	op_run(&o2);
	g_assert_error(o2.error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_IO);
	g_assert_cmpint(o2.elapsed_us, <, (gint64)(TIMEOUT_MS + 1500) * 1000);
	op_clear(&o2);
	/* It comes back on the same port: the same handle works again. The
	 * driver re-checks a lost server at most every 500 ms, so the first
	 * calls may still fail (cleanly) before one gets through. */
	char *skip = NULL;
	ctx.m = mock_start(port, &skip);
	g_assert_nonnull(ctx.m);
	op o3;
	GThread *t = NULL;
	char *line = NULL;
	gint64 back = g_get_monotonic_time();
	for(int attempt = 0; line == NULL; attempt++) {
		g_assert_cmpint(attempt, <, 20);
		memset(&o3, 0, sizeof(o3));
		o3.kind = OP_REDEEM;
		o3.store = ctx.store;
		o3.req = (p2plink_redeem_request){ "ab01", NOW, NULL, NULL, NULL, NULL, FALSE, FALSE };
		t = op_start(&o3);
		line = mock_line(ctx.m, TIMEOUT_MS + 1000);
		if(line == NULL) {
			g_thread_join(t);
			g_assert_error(o3.error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_IO);
			op_clear(&o3);
		}
	}
	g_test_message("back: first command %" G_GINT64_FORMAT " ms after the restart",
		(g_get_monotonic_time() - back) / 1000);
	g_assert_true(g_str_has_prefix(line, "findAndModify\t"));
	g_free(line);
	mock_reply(ctx.m, "{\"lastErrorObject\":{\"n\":0,\"updatedExisting\":false},\"value\":null,\"ok\":1}");
	bson_destroy(mock_expect(ctx.m, "find"));
	char *reply = cursor_reply("links", "");
	mock_reply(ctx.m, reply);
	g_free(reply);
	expect_click(ctx.m, NULL, NULL, "unknown");
	g_thread_join(t);
	g_assert_no_error(o3.error);
	g_assert_cmpint(o3.outcome, ==, P2PLINK_LINK_UNKNOWN);
	op_clear(&o3);
	ctx_end(&ctx);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/mongo/wire/open_creates_indexes_with_ttl", test_open_creates_indexes_with_ttl);
	g_test_add_func("/mongo/wire/open_retention_conflict_uses_collmod", test_open_retention_conflict_uses_collmod);
	g_test_add_func("/mongo/wire/open_bad_uri_or_database_is_invalid", test_open_bad_uri_or_database_is_invalid);
	g_test_add_func("/mongo/wire/open_server_down_is_io_error_within_timeout", test_open_server_down_is_io_error_within_timeout);
	g_test_add_func("/mongo/wire/create_inserts_the_link_document", test_create_inserts_the_link_document);
	g_test_add_func("/mongo/wire/create_over_creator_limit_takes_the_link_back", test_create_over_creator_limit_takes_the_link_back);
	g_test_add_func("/mongo/wire/create_duplicate_key_is_exists", test_create_duplicate_key_is_exists);
	g_test_add_func("/mongo/wire/redeem_ok_is_one_find_and_modify_then_click", test_redeem_ok_is_one_find_and_modify_then_click);
	g_test_add_func("/mongo/wire/redeem_refused_reads_why_and_never_counts", test_redeem_refused_reads_why_and_never_counts);
	g_test_add_func("/mongo/wire/redeem_unknown_token_logs_null_link", test_redeem_unknown_token_logs_null_link);
	g_test_add_func("/mongo/wire/redeem_ip_denied_is_decided_by_the_server_query", test_redeem_ip_denied_is_decided_by_the_server_query);
	g_test_add_func("/mongo/wire/redeem_read_says_ok_retries_never_grants", test_redeem_read_says_ok_retries_never_grants);
	g_test_add_func("/mongo/wire/redeem_server_error_is_clean", test_redeem_server_error_is_clean);
	g_test_add_func("/mongo/wire/redeem_owned_reads_then_conditional_update_with_holder",
		test_redeem_owned_reads_then_conditional_update_with_holder);
	g_test_add_func("/mongo/wire/redeem_impostor_holding_the_target_is_not_online_without_a_write",
		test_redeem_impostor_holding_the_target_is_not_online_without_a_write);
	g_test_add_func("/mongo/wire/preview_reads_and_logs_preview_only", test_preview_reads_and_logs_preview_only);
	g_test_add_func("/mongo/wire/list_counts_then_finds_with_sort_skip_limit", test_list_counts_then_finds_with_sort_skip_limit);
	g_test_add_func("/mongo/wire/revoke_by_other_creator_is_not_found", test_revoke_by_other_creator_is_not_found);
	g_test_add_func("/mongo/wire/server_gone_then_back_recovers", test_server_gone_then_back_recovers);
	int rc = g_test_run();
	p2plink_store_mongo_shutdown();
	return rc;
}
