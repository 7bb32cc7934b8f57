/* test_cluster.c — cluster mode's pure parts: options and their ranges, the default node id, Redis URLs, the
 * cross-node envelope, the lease rule and the node-view difference.
 * Not for: anything that needs Redis (test_cluster_redis.c runs the same rule through the Lua scripts).
 */

#include <string.h>

#include "cluster_config.h"
#include "cluster_envelope.h"
#include "cluster_lease.h"

static void test_config_defaults_valid_and_bound_under_10s(void) {
	p2plink_cluster_config cfg;
	p2plink_cluster_config_defaults(&cfg);
	char *error = NULL;
	g_assert_true(p2plink_cluster_config_validate(&cfg, &error));
	g_assert_null(error);
	g_assert_cmpuint(cfg.lease_ms, ==, 15000);
	g_assert_cmpuint(cfg.renew_ms, ==, 5000);
	g_assert_cmpuint(cfg.liveness_ms, ==, 6000);
	g_assert_cmpuint(cfg.heartbeat_ms, ==, 2000);
	g_assert_cmpuint(p2plink_cluster_config_detect_bound_ms(&cfg), ==, 8100);
	g_assert_cmpuint(p2plink_cluster_config_detect_bound_ms(&cfg), <=, 10000);
	p2plink_cluster_config_clear(&cfg);
}

static void test_config_set_rejects_out_of_range_and_unknown(void) {
	p2plink_cluster_config cfg;
	p2plink_cluster_config_defaults(&cfg);
	char *error = NULL;
	g_assert_false(p2plink_cluster_config_set(&cfg, "lease_ms", "100", &error));
	g_assert_nonnull(strstr(error, "lease_ms"));
	g_clear_pointer(&error, g_free);
	g_assert_false(p2plink_cluster_config_set(&cfg, "lease_ms", "12x", &error));
	g_clear_pointer(&error, g_free);
	g_assert_false(p2plink_cluster_config_set(&cfg, "lease", "5000", &error));
	g_assert_nonnull(strstr(error, "unknown"));
	g_clear_pointer(&error, g_free);
	g_assert_true(p2plink_cluster_config_set(&cfg, "lease_ms", "30000", &error));
	g_assert_cmpuint(cfg.lease_ms, ==, 30000);
	g_assert_true(p2plink_cluster_config_set(&cfg, "redis_url", "redis://10.0.0.5:7000/2", &error));
	g_assert_true(p2plink_cluster_config_validate(&cfg, &error));
	p2plink_cluster_config_clear(&cfg);
}

static void test_config_renew_must_be_a_third_of_lease(void) {
	p2plink_cluster_config cfg;
	p2plink_cluster_config_defaults(&cfg);
	char *error = NULL;
	cfg.renew_ms = 6000;
	g_assert_false(p2plink_cluster_config_validate(&cfg, &error));
	g_assert_nonnull(strstr(error, "renew_ms"));
	g_clear_pointer(&error, g_free);
	cfg.renew_ms = 5000;
	cfg.heartbeat_ms = 2500;
	g_assert_false(p2plink_cluster_config_validate(&cfg, &error));
	g_assert_nonnull(strstr(error, "heartbeat_ms"));
	g_clear_pointer(&error, g_free);
	cfg.heartbeat_ms = 2000;
	cfg.reconnect_max_ms = 50;
	g_assert_false(p2plink_cluster_config_validate(&cfg, &error));
	g_clear_pointer(&error, g_free);
	cfg.reconnect_max_ms = 5000;
	g_free(cfg.node_id);
	cfg.node_id = g_strdup("has space");
	g_assert_false(p2plink_cluster_config_validate(&cfg, &error));
	g_assert_nonnull(strstr(error, "node_id"));
	g_clear_pointer(&error, g_free);
	p2plink_cluster_config_clear(&cfg);
}

static void test_node_id_default_from_host_and_port(void) {
	char *id = p2plink_cluster_node_id_default("web-1.example.org", 9000);
	g_assert_cmpstr(id, ==, "web-1.example.org-9000");
	g_assert_true(p2plink_cluster_node_id_valid(id));
	g_free(id);
	id = p2plink_cluster_node_id_default("odd host:name/x", 443);
	g_assert_cmpstr(id, ==, "odd-host-name-x-443");
	g_free(id);
	/* A host name longer than the id allows is cut, the port kept: two ports on one host stay distinct */
	char *long_host = g_strnfill(200, 'h');
	id = p2plink_cluster_node_id_default(long_host, 9001);
	g_assert_cmpuint(strlen(id), ==, P2PLINK_CLUSTER_NODE_ID_MAX);
	g_assert_true(g_str_has_suffix(id, "-9001"));
	g_assert_true(p2plink_cluster_node_id_valid(id));
	g_free(id);
	g_free(long_host);
	g_assert_false(p2plink_cluster_node_id_valid(""));
	g_assert_false(p2plink_cluster_node_id_valid("a:b"));
}

static void test_redis_url_forms(void) {
	p2plink_redis_target t;
	char *error = NULL;
	g_assert_true(p2plink_redis_target_parse("redis://127.0.0.1:6380", &t, &error));
	g_assert_cmpstr(t.host, ==, "127.0.0.1");
	g_assert_cmpuint(t.port, ==, 6380);
	g_assert_null(t.password);
	g_assert_cmpint(t.db, ==, 0);
	p2plink_redis_target_clear(&t);
	g_assert_true(p2plink_redis_target_parse("redis://:s3cret@redis.internal/3", &t, &error));
	g_assert_cmpstr(t.host, ==, "redis.internal");
	g_assert_cmpuint(t.port, ==, 6379);
	g_assert_cmpstr(t.password, ==, "s3cret");
	g_assert_null(t.username);
	g_assert_cmpint(t.db, ==, 3);
	p2plink_redis_target_clear(&t);
	g_assert_true(p2plink_redis_target_parse("redis://p2p:pw@[::1]:7000", &t, &error));
	g_assert_cmpstr(t.host, ==, "::1");
	g_assert_cmpstr(t.username, ==, "p2p");
	g_assert_cmpstr(t.password, ==, "pw");
	p2plink_redis_target_clear(&t);
	g_assert_true(p2plink_redis_target_parse("unix:///run/redis/redis.sock", &t, &error));
	g_assert_cmpstr(t.socket_path, ==, "/run/redis/redis.sock");
	g_assert_null(t.host);
	p2plink_redis_target_clear(&t);
	const char *bad[] = { "http://x", "rediss://x:1", "redis://x/99", "redis:///0", "not a url", NULL };
	for(int i = 0; bad[i] != NULL; i++) {
		g_assert_false(p2plink_redis_target_parse(bad[i], &t, &error));
		g_assert_nonnull(error);
		g_clear_pointer(&error, g_free);
	}
}

static void test_envelope_round_trip_with_spaces_and_nul(void) {
	const char frame[] = "{\"type\":\"OFFER\",\"src\":\"a b\",\"payload\":\"\x00\xff\"}";
	size_t len = 0;
	char *env = p2plink_cluster_envelope_encode(P2PLINK_CLUSTER_ENVELOPE_FRAME, "node-a", "peer one", frame,
		sizeof(frame), &len);
	p2plink_cluster_envelope e;
	g_assert_true(p2plink_cluster_envelope_decode(env, len, &e));
	g_assert_cmpint(e.kind, ==, 'F');
	g_assert_cmpmem(e.src_node, e.src_node_len, "node-a", 6);
	g_assert_cmpmem(e.dst_id, e.dst_id_len, "peer one", 8);
	g_assert_cmpmem(e.body, e.body_len, frame, sizeof(frame));
	/* Truncated anywhere, one byte too many, another magic or kind: refused */
	for(size_t cut = 0; cut < len; cut++)
		g_assert_false(p2plink_cluster_envelope_decode(env, cut, &e));
	char *longer = g_malloc(len + 1);
	memcpy(longer, env, len);
	longer[len] = 'x';
	g_assert_false(p2plink_cluster_envelope_decode(longer, len + 1, &e));
	longer[4] = 'Z';
	g_assert_false(p2plink_cluster_envelope_decode(longer, len, &e));
	longer[4] = 'F';
	longer[0] = 'Q';
	g_assert_false(p2plink_cluster_envelope_decode(longer, len, &e));
	g_free(longer);
	g_free(env);
}

/* The table the Lua script is also checked against (test_cluster_redis.c has its own copy of the cases it runs) */
static void test_lease_rule(void) {
	p2plink_lease_claim cur = { "node-b", "owner-1", 1000 };
	p2plink_lease_claim claim = { "node-a", "owner-1", 2000 };
	g_assert_cmpint(p2plink_lease_decide(P2PLINK_LEASE_ACQUIRE, NULL, &claim), ==, P2PLINK_LEASE_NEW);
	g_assert_cmpint(p2plink_lease_decide(P2PLINK_LEASE_ASSERT, NULL, &claim), ==, P2PLINK_LEASE_NEW);
	/* Same owner, another node: acquire takes over; assert: the newer since wins */
	g_assert_cmpint(p2plink_lease_decide(P2PLINK_LEASE_ACQUIRE, &cur, &claim), ==, P2PLINK_LEASE_TAKE);
	g_assert_cmpint(p2plink_lease_decide(P2PLINK_LEASE_ASSERT, &cur, &claim), ==, P2PLINK_LEASE_TAKE);
	claim.since = 500;
	g_assert_cmpint(p2plink_lease_decide(P2PLINK_LEASE_ACQUIRE, &cur, &claim), ==, P2PLINK_LEASE_TAKE);
	g_assert_cmpint(p2plink_lease_decide(P2PLINK_LEASE_ASSERT, &cur, &claim), ==, P2PLINK_LEASE_LOSE);
	/* Another owner: acquire never takes it; assert: the older since wins */
	claim.owner = "owner-2";
	g_assert_cmpint(p2plink_lease_decide(P2PLINK_LEASE_ACQUIRE, &cur, &claim), ==, P2PLINK_LEASE_LOSE);
	g_assert_cmpint(p2plink_lease_decide(P2PLINK_LEASE_ASSERT, &cur, &claim), ==, P2PLINK_LEASE_TAKE);
	claim.since = 2000;
	g_assert_cmpint(p2plink_lease_decide(P2PLINK_LEASE_ASSERT, &cur, &claim), ==, P2PLINK_LEASE_LOSE);
	/* Equal since: the lower node id, whichever of the two asks */
	claim.since = 1000;
	g_assert_cmpint(p2plink_lease_decide(P2PLINK_LEASE_ASSERT, &cur, &claim), ==, P2PLINK_LEASE_TAKE);
	g_assert_cmpint(p2plink_lease_decide(P2PLINK_LEASE_ASSERT, &claim, &cur), ==, P2PLINK_LEASE_LOSE);
	/* Own lease */
	g_assert_cmpint(p2plink_lease_decide(P2PLINK_LEASE_ASSERT, &cur, &cur), ==, P2PLINK_LEASE_MINE);
	g_assert_cmpint(p2plink_lease_decide(P2PLINK_LEASE_ACQUIRE, &cur, &cur), ==, P2PLINK_LEASE_MINE);
}

/* Whatever order two asserting nodes reach Redis in, the same one ends up holding the id */
static void test_lease_rule_order_independent(void) {
	const char *owners[] = { "o1", "o2" };
	const char *nodes[] = { "node-a", "node-b" };
	gint64 sinces[] = { 10, 20 };
	for(int oa = 0; oa < 2; oa++) for(int sa = 0; sa < 2; sa++) for(int sb = 0; sb < 2; sb++) {
		p2plink_lease_claim a = { nodes[0], owners[0], sinces[sa] }, b = { nodes[1], owners[oa], sinces[sb] };
		/* a first, then b asserts against it; and b first, then a */
		gboolean b_wins_1 = p2plink_lease_decide(P2PLINK_LEASE_ASSERT, &a, &b) == P2PLINK_LEASE_TAKE;
		gboolean a_wins_2 = p2plink_lease_decide(P2PLINK_LEASE_ASSERT, &b, &a) == P2PLINK_LEASE_TAKE;
		g_assert_true(b_wins_1 != a_wins_2);
	}
}

static void test_node_value_and_view(void) {
	char *value = p2plink_node_value_format("abc123", 42), *inc = NULL;
	guint peers = 0;
	g_assert_cmpstr(value, ==, "abc123 42");
	g_assert_true(p2plink_node_value_parse(value, &inc, &peers));
	g_assert_cmpstr(inc, ==, "abc123");
	g_assert_cmpuint(peers, ==, 42);
	g_free(inc);
	g_free(value);
	g_assert_false(p2plink_node_value_parse("nospace", &inc, &peers));
	g_assert_false(p2plink_node_value_parse("x -1", &inc, &peers));

	GHashTable *view = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	GPtrArray *ids = g_ptr_array_new(), *incs = g_ptr_array_new();
	GPtrArray *down = g_ptr_array_new_with_free_func(g_free), *up = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(ids, "self"); g_ptr_array_add(incs, "s1");
	g_ptr_array_add(ids, "b"); g_ptr_array_add(incs, "b1");
	g_ptr_array_add(ids, "c"); g_ptr_array_add(incs, "c1");
	p2plink_node_view_update(view, "self", ids, incs, FALSE, down, up);
	g_assert_cmpuint(down->len, ==, 0);
	g_assert_cmpuint(up->len, ==, 2);		/* b and c; never self */
	g_ptr_array_set_size(up, 0);
	/* c died, b restarted with the same id (new incarnation) */
	g_ptr_array_set_size(ids, 0); g_ptr_array_set_size(incs, 0);
	g_ptr_array_add(ids, "self"); g_ptr_array_add(incs, "s1");
	g_ptr_array_add(ids, "b"); g_ptr_array_add(incs, "b2");
	p2plink_node_view_update(view, "self", ids, incs, FALSE, down, up);
	g_assert_cmpuint(down->len, ==, 2);
	g_assert_cmpuint(up->len, ==, 1);
	g_assert_cmpstr(up->pdata[0], ==, "b");
	g_assert_cmpuint(g_hash_table_size(view), ==, 2);
	g_assert_cmpstr(g_hash_table_lookup(view, "b"), ==, "b2");
	/* Redis just came back: only self has heartbeated. Kept missing, b is not down; a restarted b still is */
	g_ptr_array_set_size(up, 0); g_ptr_array_set_size(down, 0);
	g_ptr_array_set_size(ids, 0); g_ptr_array_set_size(incs, 0);
	g_ptr_array_add(ids, "self"); g_ptr_array_add(incs, "s1");
	p2plink_node_view_update(view, "self", ids, incs, TRUE, down, up);
	g_assert_cmpuint(down->len, ==, 0);
	g_assert_cmpuint(up->len, ==, 0);
	g_assert_cmpstr(g_hash_table_lookup(view, "b"), ==, "b2");
	g_ptr_array_add(ids, "b"); g_ptr_array_add(incs, "b3");
	p2plink_node_view_update(view, "self", ids, incs, TRUE, down, up);
	g_assert_cmpuint(down->len, ==, 1);
	g_assert_cmpuint(up->len, ==, 1);
	g_assert_cmpstr(g_hash_table_lookup(view, "b"), ==, "b3");
	/* After the grace, still missing: down */
	g_ptr_array_set_size(up, 0); g_ptr_array_set_size(down, 0);
	g_ptr_array_set_size(ids, 1); g_ptr_array_set_size(incs, 1);
	p2plink_node_view_update(view, "self", ids, incs, FALSE, down, up);
	g_assert_cmpuint(down->len, ==, 1);
	g_assert_cmpstr(down->pdata[0], ==, "b");
	g_ptr_array_unref(ids); g_ptr_array_unref(incs); g_ptr_array_unref(down); g_ptr_array_unref(up);
	g_hash_table_unref(view);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/cluster/config/defaults_valid_and_bound_under_10s", test_config_defaults_valid_and_bound_under_10s);
	g_test_add_func("/cluster/config/set_rejects_out_of_range_and_unknown", test_config_set_rejects_out_of_range_and_unknown);
	g_test_add_func("/cluster/config/renew_must_be_a_third_of_lease", test_config_renew_must_be_a_third_of_lease);
	g_test_add_func("/cluster/node_id/default_from_host_and_port", test_node_id_default_from_host_and_port);
	g_test_add_func("/cluster/redis_url/forms", test_redis_url_forms);
	g_test_add_func("/cluster/envelope/round_trip_with_spaces_and_nul", test_envelope_round_trip_with_spaces_and_nul);
	g_test_add_func("/cluster/lease/rule", test_lease_rule);
	g_test_add_func("/cluster/lease/rule_order_independent", test_lease_rule_order_independent);
	g_test_add_func("/cluster/nodes/value_and_view", test_node_value_and_view);
	return g_test_run();
}
