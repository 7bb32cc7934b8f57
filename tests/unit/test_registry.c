/*
 * test_registry.c — handshake, routing, offline queue, EXPIRE, liveness and LEAVE rules (registry.c),
 * driven through a recording fake transport with an explicit clock.
 */

#include <string.h>

#include "fake_transport.h"
#include "registry.h"

#define SEC G_USEC_PER_SEC

typedef struct fixture {
	p2plink_registry *reg;
	p2plink_registry_config cfg;
	GPtrArray *conns;
	GPtrArray *peers;
} fixture;

static void fixture_set_up(fixture *f, gconstpointer data) {
	p2plink_registry_config_defaults(&f->cfg);
	f->cfg.concurrent_limit = 3;
	f->cfg.queue_max_messages = 4;
	f->reg = p2plink_registry_new(&f->cfg, &fake_ops);
	f->conns = g_ptr_array_new();
	f->peers = g_ptr_array_new();
}

static void fixture_tear_down(fixture *f, gconstpointer data) {
	for(guint i = 0; i < f->peers->len; i++)
		p2plink_registry_close(f->reg, g_ptr_array_index(f->peers, i));
	p2plink_registry_free(f->reg);
	for(guint i = 0; i < f->conns->len; i++)
		fake_conn_free(g_ptr_array_index(f->conns, i));
	g_ptr_array_free(f->conns, TRUE);
	g_ptr_array_free(f->peers, TRUE);
}

/* Connect a peer; the fixture closes it at tear-down unless the test does */
static p2plink_peer *connect_peer(fixture *f, const char *id, const char *token, gint64 now, p2plink_conn **conn_out,
		p2plink_open_result *result) {
	p2plink_conn *conn = fake_conn_new();
	g_ptr_array_add(f->conns, conn);
	char nonce[P2PLINK_BIND_NONCE_LEN + 1];
	p2plink_open_result r;
	p2plink_peer *peer = p2plink_registry_open(f->reg, conn, id, token, "127.0.0.1", now, nonce, &r);
	if(peer != NULL)
		g_ptr_array_add(f->peers, peer);
	if(conn_out)
		*conn_out = conn;
	if(result)
		*result = r;
	return peer;
}

static void close_peer(fixture *f, p2plink_peer *peer) {
	g_assert_true(g_ptr_array_remove(f->peers, peer));
	p2plink_registry_close(f->reg, peer);
}

static void send_frame(fixture *f, p2plink_peer *peer, const char *text, gint64 now) {
	p2plink_registry_frame(f->reg, peer, text, strlen(text), now);
}

static void assert_frame(p2plink_conn *conn, guint i, const char *expected) {
	g_assert_cmpstr(fake_conn_frame(conn, i), ==, expected);
}

static void test_open_sends_open(fixture *f, gconstpointer data) {
	p2plink_conn *a;
	p2plink_open_result r;
	g_assert_nonnull(connect_peer(f, "alice", "t1", 0, &a, &r));
	g_assert_cmpint(r, ==, P2PLINK_OPEN_OK);
	assert_frame(a, 0, "{\"type\":\"OPEN\"}");
	g_assert_false(a->closed);
}

static void test_duplicate_id_other_token_gets_id_taken(fixture *f, gconstpointer data) {
	p2plink_conn *a, *b;
	connect_peer(f, "alice", "t1", 0, &a, NULL);
	p2plink_open_result r;
	g_assert_null(connect_peer(f, "alice", "t2", 0, &b, &r));
	g_assert_cmpint(r, ==, P2PLINK_OPEN_ID_TAKEN);
	assert_frame(b, 0, "{\"type\":\"ID-TAKEN\",\"payload\":{\"msg\":\"ID is taken\"}}");
	g_assert_true(b->closed);
	g_assert_false(a->closed);
}

static void test_same_token_reattach_gets_open_and_replaces_old_socket(fixture *f, gconstpointer data) {
	p2plink_conn *a1, *a2, *b;
	p2plink_peer *old = connect_peer(f, "alice", "t1", 0, &a1, NULL);
	p2plink_peer *bob = connect_peer(f, "bob", "tb", 0, &b, NULL);
	p2plink_peer *fresh = connect_peer(f, "alice", "t1", 1, &a2, NULL);
	g_assert_nonnull(fresh);
	assert_frame(a2, 0, "{\"type\":\"OPEN\"}");
	g_assert_true(a1->closed);
	/* The old socket's late close must not unregister the new owner */
	close_peer(f, old);
	fake_conn_clear(b);
	send_frame(f, bob, "{\"type\":\"OFFER\",\"dst\":\"alice\",\"payload\":{}}", 2);
	assert_frame(a2, 1, "{\"type\":\"OFFER\",\"src\":\"bob\",\"dst\":\"alice\",\"payload\":{}}");
}

static void test_concurrent_limit(fixture *f, gconstpointer data) {
	connect_peer(f, "a", "t", 0, NULL, NULL);
	connect_peer(f, "b", "t", 0, NULL, NULL);
	connect_peer(f, "c", "t", 0, NULL, NULL);
	p2plink_conn *d;
	p2plink_open_result r;
	g_assert_null(connect_peer(f, "d", "t", 0, &d, &r));
	g_assert_cmpint(r, ==, P2PLINK_OPEN_LIMIT);
	g_assert_true(strstr(fake_conn_frame(d, 0), "Server has reached its concurrent user limit") != NULL);
	g_assert_true(d->closed);
}

static void test_invalid_id_refused(fixture *f, gconstpointer data) {
	p2plink_conn *c;
	p2plink_open_result r;
	g_assert_null(connect_peer(f, "bad/id", "t", 0, &c, &r));
	g_assert_cmpint(r, ==, P2PLINK_OPEN_INVALID);
	char *type = fake_conn_type(c, 0);
	g_assert_cmpstr(type, ==, "ERROR");
	g_free(type);
	g_assert_true(c->closed);
}

static void test_relay_uses_server_src(fixture *f, gconstpointer data) {
	p2plink_conn *a, *b;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	connect_peer(f, "bob", "t", 0, &b, NULL);
	send_frame(f, alice, "{\"type\":\"ANSWER\",\"src\":\"bob\",\"dst\":\"bob\",\"payload\":{\"x\":[1]}}", 1);
	assert_frame(b, 1, "{\"type\":\"ANSWER\",\"src\":\"alice\",\"dst\":\"bob\",\"payload\":{\"x\":[1]}}");
	g_assert_cmpuint(fake_conn_count(a), ==, 1);
}

static void test_queue_delivered_in_order_on_connect(fixture *f, gconstpointer data) {
	p2plink_conn *a, *b;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	send_frame(f, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 1);
	send_frame(f, alice, "{\"type\":\"CANDIDATE\",\"dst\":\"bob\",\"payload\":2}", 2);
	connect_peer(f, "bob", "t", 3, &b, NULL);
	assert_frame(b, 0, "{\"type\":\"OPEN\"}");
	assert_frame(b, 1, "{\"type\":\"OFFER\",\"src\":\"alice\",\"dst\":\"bob\",\"payload\":1}");
	assert_frame(b, 2, "{\"type\":\"CANDIDATE\",\"src\":\"alice\",\"dst\":\"bob\",\"payload\":2}");
	/* Delivered queues never expire afterwards */
	p2plink_registry_sweep(f->reg, 60 * SEC);
	g_assert_cmpuint(fake_conn_count(a), ==, 1);
}

static void test_undelivered_queue_expires_once_per_sender(fixture *f, gconstpointer data) {
	p2plink_conn *a;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	send_frame(f, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 0);
	send_frame(f, alice, "{\"type\":\"CANDIDATE\",\"dst\":\"bob\",\"payload\":2}", 0);
	p2plink_registry_sweep(f->reg, f->cfg.expire_timeout - 1);
	g_assert_cmpuint(fake_conn_count(a), ==, 1);
	p2plink_registry_sweep(f->reg, f->cfg.expire_timeout);
	g_assert_cmpuint(fake_conn_count(a), ==, 2);
	assert_frame(a, 1, "{\"type\":\"EXPIRE\",\"src\":\"bob\",\"dst\":\"alice\"}");
	p2plink_registry_sweep(f->reg, 2 * f->cfg.expire_timeout);
	g_assert_cmpuint(fake_conn_count(a), ==, 2);
}

static void test_leave_and_expire_to_offline_are_not_queued(fixture *f, gconstpointer data) {
	p2plink_conn *a, *b;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	send_frame(f, alice, "{\"type\":\"LEAVE\",\"dst\":\"bob\"}", 0);
	send_frame(f, alice, "{\"type\":\"EXPIRE\",\"dst\":\"bob\"}", 0);
	connect_peer(f, "bob", "t", 1, &b, NULL);
	g_assert_cmpuint(fake_conn_count(b), ==, 1);
}

static void test_queue_is_bounded(fixture *f, gconstpointer data) {
	p2plink_conn *a;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	for(guint i = 0; i < f->cfg.queue_max_messages; i++)
		send_frame(f, alice, "{\"type\":\"CANDIDATE\",\"dst\":\"bob\",\"payload\":1}", 0);
	g_assert_cmpuint(fake_conn_count(a), ==, 1);
	send_frame(f, alice, "{\"type\":\"CANDIDATE\",\"dst\":\"bob\",\"payload\":1}", 0);
	g_assert_cmpuint(fake_conn_count(a), ==, 2);
	g_assert_true(strstr(fake_conn_frame(a, 1), "\"queue-full\"") != NULL);
}

static void test_close_sends_leave_to_counterparts(fixture *f, gconstpointer data) {
	p2plink_conn *a, *b, *c;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	connect_peer(f, "bob", "t", 0, &b, NULL);
	connect_peer(f, "carol", "t", 0, &c, NULL);
	send_frame(f, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 1);
	close_peer(f, alice);
	assert_frame(b, 2, "{\"type\":\"LEAVE\",\"src\":\"alice\",\"dst\":\"bob\"}");
	/* carol never signaled with alice and learns nothing */
	g_assert_cmpuint(fake_conn_count(c), ==, 1);
	/* the id is free again, for any token */
	p2plink_open_result r;
	g_assert_nonnull(connect_peer(f, "alice", "other", 2, NULL, &r));
}

static void test_alive_timeout_drops_silent_peer(fixture *f, gconstpointer data) {
	p2plink_conn *a, *b;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	p2plink_peer *bob = connect_peer(f, "bob", "t", 0, &b, NULL);
	send_frame(f, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 0);
	/* bob keeps sending heartbeats, alice goes silent */
	send_frame(f, bob, "{\"type\":\"HEARTBEAT\"}", f->cfg.alive_timeout - SEC);
	p2plink_registry_sweep(f->reg, f->cfg.alive_timeout);
	g_assert_true(a->closed);
	g_assert_false(b->closed);
	assert_frame(b, 2, "{\"type\":\"LEAVE\",\"src\":\"alice\",\"dst\":\"bob\"}");
	g_assert_cmpuint(p2plink_registry_count(f->reg), ==, 1);
}

static void test_leave_without_dst_asks_to_close(fixture *f, gconstpointer data) {
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, NULL, NULL);
	const char *leave = "{\"type\":\"LEAVE\"}";
	g_assert_cmpint(p2plink_registry_frame(f->reg, alice, leave, strlen(leave), 0), ==, P2PLINK_FRAME_CLOSE);
}

static void test_bad_frames_get_error_and_sender_stays(fixture *f, gconstpointer data) {
	p2plink_conn *a;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	const char *self = "{\"type\":\"OFFER\",\"dst\":\"alice\",\"payload\":1}";
	g_assert_cmpint(p2plink_registry_frame(f->reg, alice, self, strlen(self), 0), ==, P2PLINK_FRAME_REJECTED);
	const char *nodst = "{\"type\":\"OFFER\",\"payload\":1}";
	g_assert_cmpint(p2plink_registry_frame(f->reg, alice, nodst, strlen(nodst), 0), ==, P2PLINK_FRAME_REJECTED);
	g_assert_true(strstr(fake_conn_frame(a, 1), "\"invalid-dst\"") != NULL);
	g_assert_true(strstr(fake_conn_frame(a, 2), "\"missing-dst\"") != NULL);
	g_assert_false(a->closed);
}

static void test_bind_nonce_works_once(fixture *f, gconstpointer data) {
	p2plink_conn *conn = fake_conn_new();
	g_ptr_array_add(f->conns, conn);
	char nonce[P2PLINK_BIND_NONCE_LEN + 1];
	p2plink_open_result r;
	p2plink_peer *peer = p2plink_registry_open(f->reg, conn, "alice", "t", "::1", 0, nonce, &r);
	g_ptr_array_add(f->peers, peer);
	g_assert_cmpuint(strlen(nonce), ==, P2PLINK_BIND_NONCE_LEN);
	g_assert_null(p2plink_registry_bind(f->reg, "00000000000000000000000000000000"));
	p2plink_peer *bound = p2plink_registry_bind(f->reg, nonce);
	g_assert_true(bound == peer);
	g_assert_null(p2plink_registry_bind(f->reg, nonce));
	p2plink_peer_unref(bound);
}

static void test_kick_closes_and_frees_id(fixture *f, gconstpointer data) {
	p2plink_conn *a;
	connect_peer(f, "alice", "t", 0, &a, NULL);
	g_assert_true(p2plink_registry_kick_id(f->reg, "alice", "kicked"));
	g_assert_true(a->closed);
	g_assert_cmpuint(p2plink_registry_count(f->reg), ==, 0);
	g_assert_false(p2plink_registry_kick_id(f->reg, "alice", "kicked"));
}

static void test_list_peers_paginates_sorted(fixture *f, gconstpointer data) {
	connect_peer(f, "c", "t", 0, NULL, NULL);
	connect_peer(f, "a", "t", 0, NULL, NULL);
	connect_peer(f, "b", "t", 0, NULL, NULL);
	json_t *page = p2plink_registry_list_peers(f->reg, 1, 1);
	g_assert_cmpint(json_integer_value(json_object_get(page, "total")), ==, 3);
	json_t *peers = json_object_get(page, "peers");
	g_assert_cmpuint(json_array_size(peers), ==, 1);
	g_assert_cmpstr(json_string_value(json_object_get(json_array_get(peers, 0), "id")), ==, "b");
	json_decref(page);
}

static void test_frame_rate_limit_then_flood_close(fixture *f, gconstpointer data) {
	p2plink_conn *a;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	const char *beat = "{\"type\":\"HEARTBEAT\"}";
	guint burst = (guint)f->cfg.frame_rate.burst;
	for(guint i = 0; i < burst; i++)
		g_assert_cmpint(p2plink_registry_frame(f->reg, alice, beat, strlen(beat), 0), ==, P2PLINK_FRAME_HEARTBEAT);
	g_assert_cmpint(p2plink_registry_frame(f->reg, alice, beat, strlen(beat), 0), ==, P2PLINK_FRAME_REJECTED);
	g_assert_true(strstr(fake_conn_frame(a, fake_conn_count(a) - 1), "\"rate-limited\"") != NULL);
	/* A second later the bucket has refilled by frame_rate tokens */
	g_assert_cmpint(p2plink_registry_frame(f->reg, alice, beat, strlen(beat), SEC), ==, P2PLINK_FRAME_HEARTBEAT);
	/* Keep flooding: after flood_close_after refusals in a row the peer must go */
	p2plink_frame_result r = P2PLINK_FRAME_REJECTED;
	guint sent = 0;
	while(r == P2PLINK_FRAME_REJECTED || r == P2PLINK_FRAME_HEARTBEAT) {
		r = p2plink_registry_frame(f->reg, alice, beat, strlen(beat), SEC);
		g_assert_cmpuint(++sent, <=, burst + f->cfg.flood_close_after);
	}
	g_assert_cmpint(r, ==, P2PLINK_FRAME_CLOSE);
}

static void test_frame_size_limits_per_type(fixture *f, gconstpointer data) {
	p2plink_conn *a, *b;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	connect_peer(f, "bob", "t", 0, &b, NULL);
	GString *big = g_string_new("{\"type\":\"CANDIDATE\",\"dst\":\"bob\",\"payload\":\"");
	while(big->len <= f->cfg.max_candidate_bytes)
		g_string_append_c(big, 'x');
	g_string_append(big, "\"}");
	g_assert_cmpint(p2plink_registry_frame(f->reg, alice, big->str, big->len, 0), ==, P2PLINK_FRAME_REJECTED);
	g_assert_true(strstr(fake_conn_frame(a, 1), "\"payload-too-large\"") != NULL);
	g_assert_cmpuint(fake_conn_count(b), ==, 1);
	/* The same size is fine for an OFFER */
	g_string_free(big, TRUE);
	char *offer = g_strdup_printf("{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":\"%0*d\"}",
		(int)f->cfg.max_candidate_bytes + 10, 0);
	g_assert_cmpint(p2plink_registry_frame(f->reg, alice, offer, strlen(offer), 0), ==, P2PLINK_FRAME_ROUTED);
	g_assert_cmpuint(fake_conn_count(b), ==, 2);
	g_free(offer);
}

#define ADD(name, fn) g_test_add(name, fixture, NULL, fixture_set_up, fn, fixture_tear_down)

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	ADD("/registry/open/sends_open", test_open_sends_open);
	ADD("/registry/open/duplicate_id_other_token_gets_id_taken", test_duplicate_id_other_token_gets_id_taken);
	ADD("/registry/open/same_token_reattach_gets_open_and_replaces_old_socket",
		test_same_token_reattach_gets_open_and_replaces_old_socket);
	ADD("/registry/open/concurrent_limit", test_concurrent_limit);
	ADD("/registry/open/invalid_id_refused", test_invalid_id_refused);
	ADD("/registry/route/relay_uses_server_src", test_relay_uses_server_src);
	ADD("/registry/route/bad_frames_get_error_and_sender_stays", test_bad_frames_get_error_and_sender_stays);
	ADD("/registry/queue/delivered_in_order_on_connect", test_queue_delivered_in_order_on_connect);
	ADD("/registry/queue/undelivered_expires_once_per_sender", test_undelivered_queue_expires_once_per_sender);
	ADD("/registry/queue/leave_and_expire_to_offline_are_not_queued", test_leave_and_expire_to_offline_are_not_queued);
	ADD("/registry/queue/is_bounded", test_queue_is_bounded);
	ADD("/registry/close/sends_leave_to_counterparts", test_close_sends_leave_to_counterparts);
	ADD("/registry/close/leave_without_dst_asks_to_close", test_leave_without_dst_asks_to_close);
	ADD("/registry/alive/timeout_drops_silent_peer", test_alive_timeout_drops_silent_peer);
	ADD("/registry/bind/nonce_works_once", test_bind_nonce_works_once);
	ADD("/registry/limits/frame_rate_limit_then_flood_close", test_frame_rate_limit_then_flood_close);
	ADD("/registry/limits/frame_size_limits_per_type", test_frame_size_limits_per_type);
	ADD("/registry/admin/kick_closes_and_frees_id", test_kick_closes_and_frees_id);
	ADD("/registry/admin/list_peers_paginates_sorted", test_list_peers_paginates_sorted);
	return g_test_run();
}
