/* test_cluster_redis.c — cluster/cluster.c against a real redis-server
 *
 * What it covers: two or three cluster clients in this one process, each its own "node" on one libuv loop, talking
 * to a redis-server this program starts itself (a free loopback port, `--save '' --appendonly no`, a temp dir):
 * lease conflicts across nodes, same-owner takeover (the old node is told and drops its copy), renewal past the
 * lease's PX, release, the Lua CLAIM script against the C lease rule, routing to the right node in order (1,000
 * frames), node death noticed within the stated bound after a node vanishes without releasing anything, and Redis
 * stopped, killed and restarted mid-run: pending calls fail cleanly (never hang), the clients reconnect by
 * themselves, leases are re-asserted, and a duplicate claim made during the outage is resolved by the rule.
 * Every client is freed and the loop closed at the end of each test (uv_loop_close must succeed: no handle left).
 * Not for: the pure rules on their own (test_cluster.c).
 *
 * Skips (never passes) when /usr/bin/redis-server is missing.
 */

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <glib/gstdio.h>
#include <hiredis/hiredis.h>

#include "cluster.h"
#include "cluster_lease.h"
#include "cluster_scripts.h"

#define REDIS_SERVER "/usr/bin/redis-server"

/* ---- The Redis server process ---- */

static struct {
	GPid pid;
	guint port;
	char *dir;
	char *url;
} redis;

static guint free_port(void) {
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sa, &len), ==, 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void die_with_parent(gpointer data) {
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static redisContext *redis_sync(void) {
	struct timeval tv = { 1, 0 };
	redisContext *rc = redisConnectWithTimeout("127.0.0.1", (int)redis.port, tv);
	if(rc != NULL && rc->err) {
		redisFree(rc);
		return NULL;
	}
	return rc;
}

/* Start redis-server on redis.port (picked once, kept across restarts) and wait until it answers PING */
static void redis_start(void) {
	if(redis.port == 0)
		redis.port = free_port();
	char port[16];
	g_snprintf(port, sizeof(port), "%u", redis.port);
	char *log = g_build_filename(redis.dir, "redis.log", NULL);
	const char *argv[] = { REDIS_SERVER, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", redis.dir, "--logfile", log, "--daemonize", "no", NULL };
	GError *error = NULL;
	g_assert_true(g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, die_with_parent, NULL,
		&redis.pid, &error));
	g_free(log);
	gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	for(;;) {
		redisContext *rc = redis_sync();
		redisReply *reply = rc ? redisCommand(rc, "PING") : NULL;
		gboolean ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;
		if(reply)
			freeReplyObject(reply);
		if(rc)
			redisFree(rc);
		if(ok)
			return;
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(20000);
	}
}

static void redis_signal(int sig) {
	g_assert_cmpint(kill(redis.pid, sig), ==, 0);
}

static void redis_kill(void) {
	redis_signal(SIGKILL);
	waitpid(redis.pid, NULL, 0);
	g_spawn_close_pid(redis.pid);
	redis.pid = 0;
}

/* One command on a fresh blocking connection (the test's own view of Redis); caller frees */
static redisReply *redis_cmd(const char *fmt, ...) {
	redisContext *rc = redis_sync();
	g_assert_nonnull(rc);
	va_list ap;
	va_start(ap, fmt);
	redisReply *reply = redisvCommand(rc, fmt, ap);
	va_end(ap);
	redisFree(rc);
	g_assert_nonnull(reply);
	return reply;
}

/* The node holding lease `id` in Redis, or NULL; newly allocated */
static char *lease_holder(const char *id) {
	redisReply *reply = redis_cmd("HGET p2plink:id:%s node", id);
	char *node = reply->type == REDIS_REPLY_STRING ? g_strdup(reply->str) : NULL;
	freeReplyObject(reply);
	return node;
}

static long long lease_pttl(const char *id) {
	redisReply *reply = redis_cmd("PTTL p2plink:id:%s", id);
	long long ttl = reply->integer;
	freeReplyObject(reply);
	return ttl;
}

/* ---- Nodes ---- */

typedef struct frame_seen {
	char *src_node, *dst;
	GString *frame;
} frame_seen;

typedef struct test_node {
	p2plink_cluster *c;
	GPtrArray *frames;		/* frame_seen */
	GPtrArray *lost;		/* "id owner holder" */
	GPtrArray *down, *up;		/* node ids */
	gboolean is_up;
	int ups;
	gint64 down_at;			/* monotonic µs of the first node_down */
} test_node;

static void frame_seen_free(gpointer data) {
	frame_seen *f = data;
	g_free(f->src_node);
	g_free(f->dst);
	g_string_free(f->frame, TRUE);
	g_free(f);
}

static void on_frame(p2plink_cluster *c, const char *src_node, const char *dst_id, const char *frame, size_t len,
		void *user_data) {
	test_node *n = user_data;
	frame_seen *f = g_new0(frame_seen, 1);
	f->src_node = g_strdup(src_node);
	f->dst = g_strdup(dst_id);
	f->frame = g_string_new_len(frame, len);
	g_ptr_array_add(n->frames, f);
}

static void on_lease_lost(p2plink_cluster *c, const char *id, const char *owner, const char *holder, void *user_data) {
	test_node *n = user_data;
	g_ptr_array_add(n->lost, g_strdup_printf("%s %s %s", id, owner, holder ? holder : "-"));
}

static void on_node_up(p2plink_cluster *c, const char *node, void *user_data) {
	g_ptr_array_add(((test_node *)user_data)->up, g_strdup(node));
}

static void on_node_down(p2plink_cluster *c, const char *node, void *user_data) {
	test_node *n = user_data;
	if(n->down->len == 0)
		n->down_at = g_get_monotonic_time();
	g_ptr_array_add(n->down, g_strdup(node));
}

static void on_state(p2plink_cluster *c, gboolean up, void *user_data) {
	test_node *n = user_data;
	n->is_up = up;
	if(up)
		n->ups++;
}

/* Fast timings for tests (the node-death test uses the defaults) */
static void fast_config(p2plink_cluster_config *cfg) {
	p2plink_cluster_config_defaults(cfg);
	g_free(cfg->redis_url);
	cfg->redis_url = g_strdup(redis.url);
	cfg->lease_ms = 3000;
	cfg->renew_ms = 1000;
	cfg->liveness_ms = 1000;
	cfg->heartbeat_ms = 250;
	cfg->call_timeout_ms = 500;
	cfg->reconnect_min_ms = 50;
	cfg->reconnect_max_ms = 400;
}

static test_node *node_new_with(uv_loop_t *loop, const char *id, p2plink_cluster_config *cfg) {
	test_node *n = g_new0(test_node, 1);
	n->frames = g_ptr_array_new_with_free_func(frame_seen_free);
	n->lost = g_ptr_array_new_with_free_func(g_free);
	n->down = g_ptr_array_new_with_free_func(g_free);
	n->up = g_ptr_array_new_with_free_func(g_free);
	g_free(cfg->node_id);
	cfg->node_id = g_strdup(id);
	p2plink_cluster_callbacks cbs = { on_frame, on_lease_lost, on_node_up, on_node_down, on_state, NULL, n };
	char *error = NULL;
	n->c = p2plink_cluster_new(loop, cfg, 9000, &cbs, &error);
	g_assert_null(error);
	g_assert_nonnull(n->c);
	return n;
}

static test_node *node_new(uv_loop_t *loop, const char *id) {
	p2plink_cluster_config cfg;
	fast_config(&cfg);
	test_node *n = node_new_with(loop, id, &cfg);
	p2plink_cluster_config_clear(&cfg);
	return n;
}

/* A node with fast timings on another redis_url (printf format; the port is its one argument) */
static test_node *node_new_url(uv_loop_t *loop, const char *id, const char *url_format) {
	p2plink_cluster_config cfg;
	fast_config(&cfg);
	g_free(cfg.redis_url);
	cfg.redis_url = g_strdup_printf(url_format, redis.port);
	test_node *n = node_new_with(loop, id, &cfg);
	p2plink_cluster_config_clear(&cfg);
	return n;
}

/* Free the client now (as a process that dies: nothing released); the record stays for assertions */
static void node_kill(test_node *n) {
	p2plink_cluster_free(n->c);
	n->c = NULL;
}

static void node_free(test_node *n) {
	if(n->c != NULL)
		p2plink_cluster_free(n->c);
	g_ptr_array_unref(n->frames);
	g_ptr_array_unref(n->lost);
	g_ptr_array_unref(n->down);
	g_ptr_array_unref(n->up);
	g_free(n);
}

/* ---- Loop helpers ---- */

typedef gboolean (*cond_fn)(gpointer data);

/* Run the loop until cond holds or timeout_ms passed; the clients' 100 ms tick keeps the loop waking up */
static gboolean run_until(uv_loop_t *loop, cond_fn cond, gpointer data, int timeout_ms) {
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	while(!cond(data)) {
		if(g_get_monotonic_time() > deadline)
			return FALSE;
		uv_run(loop, UV_RUN_ONCE);
	}
	return TRUE;
}

static gboolean is_up(gpointer data) {
	return ((test_node *)data)->is_up;
}

static void run_for(uv_loop_t *loop, int ms) {
	gint64 deadline = g_get_monotonic_time() + (gint64)ms * 1000;
	while(g_get_monotonic_time() < deadline)
		uv_run(loop, UV_RUN_ONCE);
}

/* One call's result, filled by its callback */
typedef struct result_box {
	gboolean done;
	p2plink_cluster_result result;
	char *node;
	gint64 at;
} result_box;

static void on_lease_result(p2plink_cluster *c, p2plink_cluster_result result, const char *id, const char *node,
		void *user_data) {
	result_box *box = user_data;
	g_assert_false(box->done);		/* exactly once */
	box->done = TRUE;
	box->result = result;
	box->node = g_strdup(node);
	box->at = g_get_monotonic_time();
}

static void on_route_result(p2plink_cluster *c, p2plink_cluster_result result, const char *node, void *user_data) {
	on_lease_result(c, result, NULL, node, user_data);
}

static gboolean box_done(gpointer data) {
	return ((result_box *)data)->done;
}

static void box_clear(result_box *box) {
	g_clear_pointer(&box->node, g_free);
	memset(box, 0, sizeof(*box));
}

static p2plink_cluster_result acquire(uv_loop_t *loop, test_node *n, const char *id, const char *owner, char **node) {
	result_box box = { 0 };
	p2plink_cluster_lease_acquire(n->c, id, owner, on_lease_result, &box);
	g_assert_false(box.done);		/* never inside the call */
	g_assert_true(run_until(loop, box_done, &box, 3000));
	if(node != NULL)
		*node = g_strdup(box.node);
	p2plink_cluster_result r = box.result;
	box_clear(&box);
	return r;
}

/* Leases "<prefix>-0" .. "<prefix>-<count-1>", one after the other, each must be OK */
static void acquire_many(uv_loop_t *loop, test_node *n, const char *prefix, int count, const char *owner) {
	for(int i = 0; i < count; i++) {
		char *id = g_strdup_printf("%s-%d", prefix, i);
		g_assert_cmpint(acquire(loop, n, id, owner, NULL), ==, P2PLINK_CLUSTER_OK);
		g_free(id);
	}
}

/* Every one of those leases is held by `node` in Redis, with more than min_pttl ms to live */
static void assert_held_by(const char *prefix, int count, const char *node, long long min_pttl) {
	for(int i = 0; i < count; i++) {
		char *id = g_strdup_printf("%s-%d", prefix, i);
		char *holder = lease_holder(id);
		g_assert_cmpstr(holder, ==, node);
		g_assert_cmpint(lease_pttl(id), >, min_pttl);
		g_free(holder);
		g_free(id);
	}
}

/* Each test: a fresh loop, an empty Redis */
typedef struct fixture {
	uv_loop_t loop;
} fixture;

static void fixture_setup(fixture *f, gconstpointer data) {
	uv_loop_init(&f->loop);
	freeReplyObject(redis_cmd("FLUSHALL"));
}

static void fixture_teardown(fixture *f, gconstpointer data) {
	/* Every client freed: the loop must run dry and close without a handle left behind */
	uv_run(&f->loop, UV_RUN_DEFAULT);
	g_assert_cmpint(uv_loop_close(&f->loop), ==, 0);
}

static void bring_up(fixture *f, test_node **nodes, int count) {
	for(int i = 0; i < count; i++)
		g_assert_true(run_until(&f->loop, is_up, nodes[i], 5000));
}

/* ---- Leases ---- */

static void test_lease_conflict_across_nodes(fixture *f, gconstpointer data) {
	test_node *a = node_new(&f->loop, "node-a"), *b = node_new(&f->loop, "node-b");
	bring_up(f, (test_node *[]){ a, b }, 2);
	char *node = NULL;
	g_assert_cmpint(acquire(&f->loop, a, "alice", "owner-1", &node), ==, P2PLINK_CLUSTER_OK);
	g_assert_null(node);
	g_assert_cmpint(acquire(&f->loop, b, "alice", "owner-2", &node), ==, P2PLINK_CLUSTER_TAKEN);
	g_assert_cmpstr(node, ==, "node-a");
	g_free(node);
	/* The same owner asking again on its own node: still OK, nothing moved */
	g_assert_cmpint(acquire(&f->loop, a, "alice", "owner-1", NULL), ==, P2PLINK_CLUSTER_OK);
	g_assert_true(p2plink_cluster_lease_held(a->c, "alice"));
	g_assert_false(p2plink_cluster_lease_held(b->c, "alice"));
	char *holder = lease_holder("alice");
	g_assert_cmpstr(holder, ==, "node-a");
	g_free(holder);
	g_assert_cmpuint(a->lost->len, ==, 0);
	node_free(a);
	node_free(b);
}

static gboolean has_lost(gpointer data) {
	return ((test_node *)data)->lost->len > 0;
}

static void test_lease_same_owner_takeover_reports_old_node(fixture *f, gconstpointer data) {
	test_node *a = node_new(&f->loop, "node-a"), *b = node_new(&f->loop, "node-b");
	bring_up(f, (test_node *[]){ a, b }, 2);
	g_assert_cmpint(acquire(&f->loop, a, "bob", "owner-1", NULL), ==, P2PLINK_CLUSTER_OK);
	char *node = NULL;
	g_assert_cmpint(acquire(&f->loop, b, "bob", "owner-1", &node), ==, P2PLINK_CLUSTER_MOVED);
	g_assert_cmpstr(node, ==, "node-a");
	g_free(node);
	/* The old node is told (drop notice on its channel) and drops its stale copy */
	g_assert_true(run_until(&f->loop, has_lost, a, 2000));
	g_assert_cmpstr(a->lost->pdata[0], ==, "bob owner-1 node-b");
	g_assert_false(p2plink_cluster_lease_held(a->c, "bob"));
	g_assert_true(p2plink_cluster_lease_held(b->c, "bob"));
	/* And its next renewal does not take it back */
	run_for(&f->loop, 1300);
	char *holder = lease_holder("bob");
	g_assert_cmpstr(holder, ==, "node-b");
	g_free(holder);
	g_assert_cmpuint(b->lost->len, ==, 0);
	/* The client comes back to node A: A takes it over again, B is told; the late drop A got earlier is stale */
	g_assert_cmpint(acquire(&f->loop, a, "bob", "owner-1", &node), ==, P2PLINK_CLUSTER_MOVED);
	g_assert_cmpstr(node, ==, "node-b");
	g_free(node);
	g_assert_true(run_until(&f->loop, has_lost, b, 2000));
	g_assert_true(p2plink_cluster_lease_held(a->c, "bob"));
	g_assert_cmpuint(a->lost->len, ==, 1);
	node_free(a);
	node_free(b);
}

static void on_lookup_done(p2plink_cluster *c, p2plink_cluster_result result, const char *owner, const char *node,
		void *data) {
	char **out = data;
	*out = g_strdup_printf("%s %s %s", p2plink_cluster_result_name(result), owner ? owner : "-", node ? node : "-");
}

static gboolean has_text(gpointer data) {
	return *(char **)data != NULL;
}

/* The link-only mark follows the owner to its new node, and only the holder can set it; lookup names the holder */
static void test_lease_link_only_mark_follows_owner(fixture *f, gconstpointer data) {
	test_node *a = node_new(&f->loop, "node-a"), *b = node_new(&f->loop, "node-b");
	bring_up(f, (test_node *[]){ a, b }, 2);
	g_assert_cmpint(acquire(&f->loop, a, "bob", "owner-1", NULL), ==, P2PLINK_CLUSTER_OK);
	g_assert_false(p2plink_cluster_lease_link_only(a->c, "bob"));
	/* Not the holder: nothing marked */
	p2plink_cluster_lease_mark(b->c, "bob", "owner-1", TRUE);
	p2plink_cluster_lease_mark(a->c, "bob", "owner-2", TRUE);
	run_for(&f->loop, 200);
	redisReply *reply = redis_cmd("HGET p2plink:id:bob lo");
	g_assert_cmpint(reply->type, ==, REDIS_REPLY_NIL);
	freeReplyObject(reply);
	p2plink_cluster_lease_mark(a->c, "bob", "owner-1", TRUE);
	run_for(&f->loop, 200);
	g_assert_cmpint(acquire(&f->loop, b, "bob", "owner-1", NULL), ==, P2PLINK_CLUSTER_MOVED);
	g_assert_true(p2plink_cluster_lease_link_only(b->c, "bob"));
	char *found = NULL;
	p2plink_cluster_lease_lookup(a->c, "bob", on_lookup_done, &found);
	g_assert_true(run_until(&f->loop, has_text, &found, 2000));
	g_assert_cmpstr(found, ==, "ok owner-1 node-b");
	g_free(found);
	found = NULL;
	p2plink_cluster_lease_lookup(a->c, "nobody", on_lookup_done, &found);
	g_assert_true(run_until(&f->loop, has_text, &found, 2000));
	g_assert_cmpstr(found, ==, "not-held - -");
	g_free(found);
	/* Unmarked by its holder: a later move arrives unmarked */
	p2plink_cluster_lease_mark(b->c, "bob", "owner-1", FALSE);
	run_for(&f->loop, 200);
	g_assert_true(run_until(&f->loop, has_lost, a, 2000));
	g_assert_cmpint(acquire(&f->loop, a, "bob", "owner-1", NULL), ==, P2PLINK_CLUSTER_MOVED);
	g_assert_false(p2plink_cluster_lease_link_only(a->c, "bob"));
	node_free(a);
	node_free(b);
}

typedef struct list_result {
	gboolean done;
	p2plink_cluster_result result;
	json_t *leases;
} list_result;

static void on_list(p2plink_cluster *c, p2plink_cluster_result result, json_t *leases, void *data) {
	list_result *r = data;
	r->done = TRUE;
	r->result = result;
	r->leases = leases != NULL ? json_incref(leases) : NULL;
}

static gboolean list_done(gpointer data) {
	return ((list_result *)data)->done;
}

/* Every lease of every node, across SCAN pages (1,200 ids: three pages of 500), with holder and mark */
static void test_lease_list_spans_pages_and_nodes(fixture *f, gconstpointer data) {
	test_node *a = node_new(&f->loop, "node-a"), *b = node_new(&f->loop, "node-b");
	bring_up(f, (test_node *[]){ a, b }, 2);
	acquire_many(&f->loop, a, "pa", 1100, "o");
	acquire_many(&f->loop, b, "pb", 100, "o");
	p2plink_cluster_lease_mark(b->c, "pb-7", "o", TRUE);
	run_for(&f->loop, 100);
	list_result r = { 0 };
	p2plink_cluster_list(a->c, on_list, &r);
	g_assert_true(run_until(&f->loop, list_done, &r, 5000));
	g_assert_cmpint(r.result, ==, P2PLINK_CLUSTER_OK);
	g_assert_cmpuint(json_array_size(r.leases), ==, 1200);
	guint on_b = 0, marked = 0;
	GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
	size_t i;
	json_t *lease;
	json_array_foreach(r.leases, i, lease) {
		const char *id = json_string_value(json_object_get(lease, "id"));
		const char *node = json_string_value(json_object_get(lease, "node"));
		g_assert_true(g_hash_table_add(seen, (gpointer)id));
		g_assert_cmpstr(node, ==, g_str_has_prefix(id, "pb-") ? "node-b" : "node-a");
		on_b += g_str_has_prefix(id, "pb-");
		if(json_is_true(json_object_get(lease, "link_only"))) {
			marked++;
			g_assert_cmpstr(id, ==, "pb-7");
		}
	}
	g_assert_cmpuint(on_b, ==, 100);
	g_assert_cmpuint(marked, ==, 1);
	g_hash_table_destroy(seen);
	json_decref(r.leases);
	node_free(a);
	node_free(b);
}

static void test_lease_renew_keeps_alive_past_px(fixture *f, gconstpointer data) {
	test_node *a = node_new(&f->loop, "node-a"), *b = node_new(&f->loop, "node-b");
	bring_up(f, (test_node *[]){ a, b }, 2);
	acquire_many(&f->loop, a, "peer", 300, "o");
	g_assert_cmpint(acquire(&f->loop, b, "orphan", "o", NULL), ==, P2PLINK_CLUSTER_OK);
	node_kill(b);		/* nobody renews "orphan" any more */
	/* 4.5 s: one and a half lease lifetimes (3 s PX); 300 leases renewed in two batched script calls a second */
	run_for(&f->loop, 4500);
	assert_held_by("peer", 300, "node-a", 1000);
	g_assert_null(lease_holder("orphan"));
	g_assert_cmpuint(p2plink_cluster_lease_count(a->c), ==, 300);
	node_free(a);
	node_free(b);
}

static void test_lease_release_frees(fixture *f, gconstpointer data) {
	test_node *a = node_new(&f->loop, "node-a"), *b = node_new(&f->loop, "node-b");
	bring_up(f, (test_node *[]){ a, b }, 2);
	g_assert_cmpint(acquire(&f->loop, a, "carol", "owner-1", NULL), ==, P2PLINK_CLUSTER_OK);
	/* Compare-and-delete: another owner's release (or another node's) deletes nothing */
	result_box box = { 0 };
	p2plink_cluster_lease_release(b->c, "carol", "owner-1", on_lease_result, &box);
	g_assert_true(run_until(&f->loop, box_done, &box, 3000));
	g_assert_cmpint(box.result, ==, P2PLINK_CLUSTER_NOT_HELD);
	box_clear(&box);
	p2plink_cluster_lease_release(a->c, "carol", "owner-2", on_lease_result, &box);
	g_assert_true(run_until(&f->loop, box_done, &box, 3000));
	g_assert_cmpint(box.result, ==, P2PLINK_CLUSTER_NOT_HELD);
	box_clear(&box);
	char *holder = lease_holder("carol");
	g_assert_cmpstr(holder, ==, "node-a");
	g_free(holder);
	p2plink_cluster_lease_release(a->c, "carol", "owner-1", on_lease_result, &box);
	g_assert_false(p2plink_cluster_lease_held(a->c, "carol"));	/* forgotten locally at once */
	g_assert_true(run_until(&f->loop, box_done, &box, 3000));
	g_assert_cmpint(box.result, ==, P2PLINK_CLUSTER_OK);
	box_clear(&box);
	g_assert_null(lease_holder("carol"));
	g_assert_cmpint(acquire(&f->loop, b, "carol", "owner-2", NULL), ==, P2PLINK_CLUSTER_OK);
	node_free(a);
	node_free(b);
}

/* The CLAIM script in assert mode, run directly, agrees with p2plink_lease_decide on every case */
static void test_lease_script_matches_c_rule(fixture *f, gconstpointer data) {
	const char *script = p2plink_cluster_script_text(P2PLINK_SCRIPT_CLAIM);
	const char *nodes[] = { "node-a", "node-b", "Node-a" };	/* byte order, not locale collation */
	const char *owners[] = { "o1", "o2" };
	gint64 sinces[] = { 1000, 2000 };
	int cases = 0;
	for(int cn = 0; cn < 3; cn++) for(int co = 0; co < 2; co++) for(int cs = 0; cs < 2; cs++)
	for(int kn = 0; kn < 3; kn++) for(int ko = 0; ko < 2; ko++) for(int ks = 0; ks < 2; ks++)
	for(int mode = 0; mode < 2; mode++) {
		p2plink_lease_claim cur = { nodes[cn], owners[co], sinces[cs] }, claim = { nodes[kn], owners[ko], sinces[ks] };
		p2plink_lease_mode m = mode ? P2PLINK_LEASE_ASSERT : P2PLINK_LEASE_ACQUIRE;
		const char *want = p2plink_lease_decision_name(p2plink_lease_decide(m, &cur, &claim));
		freeReplyObject(redis_cmd("HSET p2plink:id:x node %s owner %s since %lld", cur.node, cur.owner,
			(long long)cur.since));
		redisReply *reply = redis_cmd("EVAL %s 1 p2plink:id:x %s %s 5000 p2plink: x %s %lld", script,
			mode ? "assert" : "acquire", claim.node, claim.owner, (long long)claim.since);
		g_assert_cmpint(reply->type, ==, REDIS_REPLY_ARRAY);
		g_assert_cmpstr(reply->element[0]->str, ==, want);
		freeReplyObject(reply);
		cases++;
	}
	g_assert_cmpint(cases, ==, 288);
	/* No lease at all: "new" in both modes */
	freeReplyObject(redis_cmd("DEL p2plink:id:x"));
	redisReply *reply = redis_cmd("EVAL %s 1 p2plink:id:x assert node-a 5000 p2plink: x o1 1000", script);
	g_assert_cmpint(reply->type, ==, REDIS_REPLY_ARRAY);
	g_assert_cmpstr(reply->element[0]->str, ==, "new");
	freeReplyObject(reply);
}

/* ---- Routing ---- */

typedef struct route_tally {
	int done, ok, other;
} route_tally;

static void on_route_count(p2plink_cluster *c, p2plink_cluster_result result, const char *node, void *user_data) {
	route_tally *t = user_data;
	t->done++;
	if(result == P2PLINK_CLUSTER_OK)
		t->ok++;
	else
		t->other++;
}

typedef struct frames_wait {
	test_node *n;
	guint count;
} frames_wait;

static gboolean frames_arrived(gpointer data) {
	frames_wait *w = data;
	return w->n->frames->len >= w->count;
}

static void test_route_to_right_node_in_order(fixture *f, gconstpointer data) {
	test_node *a = node_new(&f->loop, "node-a"), *b = node_new(&f->loop, "node-b"), *c = node_new(&f->loop, "node-c");
	bring_up(f, (test_node *[]){ a, b, c }, 3);
	g_assert_cmpint(acquire(&f->loop, b, "peer b", "ob", NULL), ==, P2PLINK_CLUSTER_OK);
	g_assert_cmpint(acquire(&f->loop, c, "peer-c", "oc", NULL), ==, P2PLINK_CLUSTER_OK);
	g_assert_cmpint(acquire(&f->loop, a, "peer-a", "oa", NULL), ==, P2PLINK_CLUSTER_OK);
	/* 1,000 frames from A to the peer on B, interleaved with 1,000 to the peer on C, all made in one go */
	route_tally tally = { 0 };
	for(int i = 0; i < 1000; i++) {
		char *fb = g_strdup_printf("{\"type\":\"CANDIDATE\",\"src\":\"peer-a\",\"dst\":\"peer b\",\"payload\":{\"n\":%d}}", i);
		char *fc = g_strdup_printf("{\"type\":\"CANDIDATE\",\"src\":\"peer-a\",\"dst\":\"peer-c\",\"payload\":{\"n\":%d}}", i);
		p2plink_cluster_route(a->c, "peer b", fb, strlen(fb), on_route_count, &tally);
		p2plink_cluster_route(a->c, "peer-c", fc, strlen(fc), on_route_count, &tally);
		g_free(fb);
		g_free(fc);
	}
	frames_wait wb = { b, 1000 }, wc = { c, 1000 };
	g_assert_true(run_until(&f->loop, frames_arrived, &wb, 10000));
	g_assert_true(run_until(&f->loop, frames_arrived, &wc, 10000));
	run_for(&f->loop, 200);		/* nothing more, nothing twice */
	g_assert_cmpuint(b->frames->len, ==, 1000);
	g_assert_cmpuint(c->frames->len, ==, 1000);
	g_assert_cmpuint(a->frames->len, ==, 0);
	g_assert_cmpint(tally.ok, ==, 2000);
	g_assert_cmpint(tally.other, ==, 0);
	for(int i = 0; i < 1000; i++) {
		frame_seen *fb = b->frames->pdata[i], *fc = c->frames->pdata[i];
		char *want = g_strdup_printf("{\"type\":\"CANDIDATE\",\"src\":\"peer-a\",\"dst\":\"peer b\",\"payload\":{\"n\":%d}}", i);
		g_assert_cmpstr(fb->frame->str, ==, want);
		g_assert_cmpstr(fb->src_node, ==, "node-a");
		g_assert_cmpstr(fb->dst, ==, "peer b");
		g_free(want);
		want = g_strdup_printf("{\"type\":\"CANDIDATE\",\"src\":\"peer-a\",\"dst\":\"peer-c\",\"payload\":{\"n\":%d}}", i);
		g_assert_cmpstr(fc->frame->str, ==, want);
		g_assert_cmpstr(fc->dst, ==, "peer-c");
		g_free(want);
	}
	/* Nobody holds it; this node holds it: the caller is told, nothing is published */
	result_box box = { 0 };
	p2plink_cluster_route(a->c, "nobody", "{}", 2, on_route_result, &box);
	g_assert_true(run_until(&f->loop, box_done, &box, 3000));
	g_assert_cmpint(box.result, ==, P2PLINK_CLUSTER_NOT_HELD);
	box_clear(&box);
	p2plink_cluster_route(a->c, "peer-a", "{}", 2, on_route_result, &box);
	g_assert_true(run_until(&f->loop, box_done, &box, 3000));
	g_assert_cmpint(box.result, ==, P2PLINK_CLUSTER_SELF);
	box_clear(&box);
	/* The holder's node is gone but its lease not yet expired: undelivered, not silently lost */
	node_kill(c);
	/* Once Redis has read the closed sockets (a few ms; allowed 2 s on a loaded machine) */
	gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
	do {
		box_clear(&box);
		p2plink_cluster_route(a->c, "peer-c", "{}", 2, on_route_result, &box);
		g_assert_true(run_until(&f->loop, box_done, &box, 3000));
	} while(box.result == P2PLINK_CLUSTER_OK && g_get_monotonic_time() < deadline);
	g_assert_cmpint(box.result, ==, P2PLINK_CLUSTER_UNDELIVERED);
	g_assert_cmpstr(box.node, ==, "node-c");
	box_clear(&box);
	node_free(a);
	node_free(b);
	node_free(c);
}

/* ---- Nodes ---- */

static gboolean saw_node(gpointer data) {
	return ((test_node *)data)->up->len > 0;
}

static gboolean saw_down(gpointer data) {
	return ((test_node *)data)->down->len > 0;
}

/* With the default timings (liveness 6 s, heartbeat 2 s): noticed within 8.1 s, the stated bound */
static void test_nodes_death_detected_within_bound(fixture *f, gconstpointer data) {
	p2plink_cluster_config cfg;
	p2plink_cluster_config_defaults(&cfg);
	g_free(cfg.redis_url);
	cfg.redis_url = g_strdup(redis.url);
	test_node *a = node_new_with(&f->loop, "node-a", &cfg), *b = node_new_with(&f->loop, "node-b", &cfg);
	guint bound = p2plink_cluster_config_detect_bound_ms(&cfg);
	p2plink_cluster_config_clear(&cfg);
	bring_up(f, (test_node *[]){ a, b }, 2);
	p2plink_cluster_set_peer_count(b->c, 7);
	g_assert_cmpint(acquire(&f->loop, b, "dana", "o", NULL), ==, P2PLINK_CLUSTER_OK);
	/* B's first heartbeat went out before the peer count was set: wait for A to see B, then one more round */
	g_assert_true(run_until(&f->loop, saw_node, a, 5000));
	g_assert_cmpstr(a->up->pdata[0], ==, "node-b");
	run_for(&f->loop, 4200);
	json_t *nodes = p2plink_cluster_nodes_json(a->c);
	g_assert_cmpuint(json_array_size(nodes), ==, 2);
	size_t i;
	json_t *n;
	gboolean seen_b = FALSE;
	json_array_foreach(nodes, i, n) {
		if(!strcmp(json_string_value(json_object_get(n, "node")), "node-b")) {
			seen_b = TRUE;
			g_assert_cmpint(json_integer_value(json_object_get(n, "peers")), ==, 7);
			g_assert_false(json_is_true(json_object_get(n, "self")));
		} else {
			g_assert_true(json_is_true(json_object_get(n, "self")));
		}
	}
	g_assert_true(seen_b);
	json_decref(nodes);
	/* B vanishes as a killed process would: sockets closed, nothing released or deleted */
	gint64 killed = g_get_monotonic_time();
	node_kill(b);
	g_assert_true(run_until(&f->loop, saw_down, a, 12000));
	gint64 took_ms = (a->down_at - killed) / 1000;
	g_test_message("node death noticed after %" G_GINT64_FORMAT " ms (bound %u ms)", took_ms, bound);
	g_assert_cmpstr(a->down->pdata[0], ==, "node-b");
	g_assert_cmpuint(a->down->len, ==, 1);
	g_assert_cmpint(took_ms, <=, bound + 400);	/* timer slack on a loaded machine; still under 10 s */
	/* Noticed through the key's expiry, not a disconnect: at least liveness - (heartbeat + one tick) after the kill
	 * (B's last refresh can have been that long before it died) */
	g_assert_cmpint(took_ms, >=, 6000 - 2100 - 100);
	nodes = p2plink_cluster_nodes_json(a->c);
	g_assert_cmpuint(json_array_size(nodes), ==, 1);
	json_decref(nodes);
	node_free(a);
	node_free(b);
}

/* A node restarted under the same node id before its key expired is still seen as having died */
static void test_nodes_restart_same_id_is_a_death(fixture *f, gconstpointer data) {
	test_node *a = node_new(&f->loop, "node-a"), *b = node_new(&f->loop, "node-b");
	bring_up(f, (test_node *[]){ a, b }, 2);
	g_assert_true(run_until(&f->loop, saw_node, a, 3000));
	node_kill(b);
	test_node *b2 = node_new(&f->loop, "node-b");
	g_assert_true(run_until(&f->loop, saw_down, a, 3000));
	g_assert_cmpstr(a->down->pdata[0], ==, "node-b");
	g_assert_cmpuint(a->up->len, ==, 2);		/* and back up */
	node_free(a);
	node_free(b);
	node_free(b2);
}

/* ---- Redis down ---- */

static gboolean is_down(gpointer data) {
	return !((test_node *)data)->is_up;
}

static gboolean has_ups(gpointer data) {
	return ((test_node *)data)->ups >= 2;
}

static void test_redis_down_fails_pending_reconnects_reasserts(fixture *f, gconstpointer data) {
	test_node *a = node_new(&f->loop, "node-a"), *b = node_new(&f->loop, "node-b");
	bring_up(f, (test_node *[]){ a, b }, 2);
	acquire_many(&f->loop, a, "held", 50, "oa");
	g_assert_cmpint(acquire(&f->loop, b, "peer-b", "ob", NULL), ==, P2PLINK_CLUSTER_OK);

	/* 1. Redis hangs (SIGSTOP): calls in flight fail after call_timeout_ms (500 ms) + at most 200 ms, never hang */
	redis_signal(SIGSTOP);
	result_box acq = { 0 }, route = { 0 };
	gint64 start = g_get_monotonic_time();
	p2plink_cluster_lease_acquire(a->c, "late", "oa", on_lease_result, &acq);
	p2plink_cluster_route(a->c, "peer-b", "{}", 2, on_route_result, &route);
	g_assert_true(run_until(&f->loop, box_done, &acq, 3000));
	g_assert_true(run_until(&f->loop, box_done, &route, 3000));
	g_assert_cmpint(acq.result, ==, P2PLINK_CLUSTER_UNAVAILABLE);
	g_assert_cmpint(route.result, ==, P2PLINK_CLUSTER_UNAVAILABLE);
	gint64 took_ms = (acq.at - start) / 1000;
	g_test_message("calls to a stopped Redis failed after %" G_GINT64_FORMAT " ms", took_ms);
	/* call_timeout_ms, then two 100 ms ticks with nothing read */
	g_assert_cmpint(took_ms, <=, 500 + 200 + 300);
	box_clear(&acq);
	box_clear(&route);
	g_assert_true(run_until(&f->loop, is_down, a, 1000));
	g_assert_false(p2plink_cluster_lease_held(a->c, "late"));
	g_assert_cmpuint(p2plink_cluster_lease_count(a->c), ==, 50);	/* the local table survives the outage */

	/* 2. Redis killed: calls made while it is gone fail on the next loop turn */
	redis_signal(SIGCONT);
	redis_kill();
	g_assert_true(run_until(&f->loop, is_down, b, 2000));
	p2plink_cluster_route(a->c, "peer-b", "{}", 2, on_route_result, &route);
	g_assert_false(route.done);
	g_assert_true(run_until(&f->loop, box_done, &route, 1000));
	g_assert_cmpint(route.result, ==, P2PLINK_CLUSTER_UNAVAILABLE);
	box_clear(&route);
	/* Both nodes accept the same id for different owners while Redis is away; A's claim is older */
	p2plink_cluster_lease_assume(a->c, "dup", "owner-a");
	g_usleep(2000);
	p2plink_cluster_lease_assume(b->c, "dup", "owner-b");
	run_for(&f->loop, 500);		/* a few failed reconnects: backoff */

	/* 3. Redis back, empty (no persistence): both reconnect by themselves and re-assert */
	redis_start();
	g_assert_true(run_until(&f->loop, has_ups, a, 5000));
	g_assert_true(run_until(&f->loop, has_ups, b, 5000));
	g_assert_true(run_until(&f->loop, has_lost, b, 3000));
	g_assert_cmpstr(b->lost->pdata[0], ==, "dup owner-b node-a");
	g_assert_cmpuint(a->lost->len, ==, 0);
	assert_held_by("held", 50, "node-a", 0);
	char *holder = lease_holder("dup");
	g_assert_cmpstr(holder, ==, "node-a");
	g_free(holder);
	holder = lease_holder("peer-b");
	g_assert_cmpstr(holder, ==, "node-b");
	g_free(holder);
	/* Routing works again */
	p2plink_cluster_route(a->c, "peer-b", "{\"n\":1}", 7, on_route_result, &route);
	g_assert_true(run_until(&f->loop, box_done, &route, 3000));
	g_assert_cmpint(route.result, ==, P2PLINK_CLUSTER_OK);
	box_clear(&route);
	frames_wait wb = { b, 1 };
	g_assert_true(run_until(&f->loop, frames_arrived, &wb, 3000));
	node_free(a);
	node_free(b);
}

/* redis_url with a password, a database and a host name (resolved off the loop): everything lands in that database;
 * a node without the password never comes up (and keeps retrying) */
static void test_url_password_database_host_name(fixture *f, gconstpointer data) {
	freeReplyObject(redis_cmd("CONFIG SET requirepass s3cret"));
	test_node *a = node_new_url(&f->loop, "node-a", "redis://:s3cret@localhost:%u/2");
	test_node *x = node_new(&f->loop, "node-x");
	bring_up(f, &a, 1);
	g_assert_cmpint(acquire(&f->loop, a, "eve", "o", NULL), ==, P2PLINK_CLUSTER_OK);
	run_for(&f->loop, 300);
	g_assert_false(x->is_up);
	g_assert_cmpint(x->ups, ==, 0);
	redisContext *rc = redis_sync();
	freeReplyObject(redisCommand(rc, "AUTH s3cret"));
	freeReplyObject(redisCommand(rc, "SELECT 2"));
	redisReply *reply = redisCommand(rc, "HGET p2plink:id:eve node");
	g_assert_cmpint(reply->type, ==, REDIS_REPLY_STRING);
	g_assert_cmpstr(reply->str, ==, "node-a");
	freeReplyObject(reply);
	freeReplyObject(redisCommand(rc, "CONFIG SET requirepass %s", ""));
	redisFree(rc);
	g_assert_null(lease_holder("eve"));		/* not in database 0 */
	/* Without the password required any more, the other node comes up by itself */
	g_assert_true(run_until(&f->loop, is_up, x, 3000));
	node_free(a);
	node_free(x);
}

/* Freeing a client with calls in flight completes each of them (UNAVAILABLE) before free returns */
static void test_free_completes_pending_calls(fixture *f, gconstpointer data) {
	test_node *a = node_new(&f->loop, "node-a");
	bring_up(f, &a, 1);
	result_box boxes[20];
	memset(boxes, 0, sizeof(boxes));
	for(int i = 0; i < 20; i++) {
		char id[16];
		g_snprintf(id, sizeof(id), "p%d", i);
		if(i % 2)
			p2plink_cluster_lease_acquire(a->c, id, "o", on_lease_result, &boxes[i]);
		else
			p2plink_cluster_route(a->c, id, "{}", 2, on_route_result, &boxes[i]);
	}
	node_kill(a);
	for(int i = 0; i < 20; i++) {
		g_assert_true(boxes[i].done);
		g_assert_cmpint(boxes[i].result, ==, P2PLINK_CLUSTER_UNAVAILABLE);
		box_clear(&boxes[i]);
	}
	node_free(a);
	/* Freed while its host name is still being resolved (a thread-pool request): the lookup is cancelled or
	 * finishes, and only then is the memory returned (the fixture checks the loop closes with nothing left) */
	test_node *b = node_new_url(&f->loop, "node-b", "redis://localhost:%u");
	result_box box = { 0 };
	p2plink_cluster_route(b->c, "x", "{}", 2, on_route_result, &box);
	node_kill(b);
	g_assert_true(box.done);
	g_assert_cmpint(box.result, ==, P2PLINK_CLUSTER_UNAVAILABLE);
	box_clear(&box);
	node_free(b);
}

static void test_skipped(void) {
	g_test_skip(REDIS_SERVER " missing (apt-get install redis-server)");
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	if(!g_file_test(REDIS_SERVER, G_FILE_TEST_IS_EXECUTABLE)) {
		g_test_add_func("/cluster_redis/skipped", test_skipped);
		return g_test_run();
	}
	redis.dir = g_dir_make_tmp("p2plink-redis-XXXXXX", NULL);
	g_assert_nonnull(redis.dir);
	redis_start();
	redis.url = g_strdup_printf("redis://127.0.0.1:%u", redis.port);
#define ADD(path, fn) g_test_add(path, fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/cluster_redis/lease/conflict_across_nodes", test_lease_conflict_across_nodes);
	ADD("/cluster_redis/lease/same_owner_takeover_reports_old_node", test_lease_same_owner_takeover_reports_old_node);
	ADD("/cluster_redis/lease/renew_keeps_alive_past_px", test_lease_renew_keeps_alive_past_px);
	ADD("/cluster_redis/lease/link_only_mark_follows_owner", test_lease_link_only_mark_follows_owner);
	ADD("/cluster_redis/lease/list_spans_pages_and_nodes", test_lease_list_spans_pages_and_nodes);
	ADD("/cluster_redis/lease/release_frees", test_lease_release_frees);
	ADD("/cluster_redis/lease/script_matches_c_rule", test_lease_script_matches_c_rule);
	ADD("/cluster_redis/route/to_right_node_in_order", test_route_to_right_node_in_order);
	ADD("/cluster_redis/nodes/death_detected_within_bound", test_nodes_death_detected_within_bound);
	ADD("/cluster_redis/nodes/restart_same_id_is_a_death", test_nodes_restart_same_id_is_a_death);
	ADD("/cluster_redis/redis_down/fails_pending_reconnects_reasserts", test_redis_down_fails_pending_reconnects_reasserts);
	ADD("/cluster_redis/free/completes_pending_calls", test_free_completes_pending_calls);
	ADD("/cluster_redis/url/password_database_host_name", test_url_password_database_host_name);
	int rc = g_test_run();
	if(redis.pid != 0)
		redis_kill();
	/* --save '' and --appendonly no: the log is the only file Redis wrote there */
	char *log = g_build_filename(redis.dir, "redis.log", NULL);
	g_unlink(log);
	g_free(log);
	g_rmdir(redis.dir);
	g_free(redis.dir);
	g_free(redis.url);
	return rc;
}
