/*
 * test_registry.c — handshake, routing, offline queue, EXPIRE, liveness and LEAVE rules, refusals after OPEN,
 * pacing, id reservations and the link-only gate (registry.c), driven through a recording fake transport with an
 * explicit clock.
 */

#include <string.h>

#include "fake_transport.h"
#include "link_service.h"
#include "registry.h"
#include "registry_private.h"	/* the peer's tables, for idle_peer_has_no_tables */

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
		p2plink_registry_close(f->reg, g_ptr_array_index(f->peers, i), 0);
	p2plink_registry_free(f->reg);
	for(guint i = 0; i < f->conns->len; i++)
		fake_conn_free(g_ptr_array_index(f->conns, i));
	g_ptr_array_free(f->conns, TRUE);
	g_ptr_array_free(f->peers, TRUE);
}

/* A fresh registry with the fixture's (changed) config; only before any peer connected */
static void restart_registry(fixture *f) {
	g_assert_cmpuint(f->peers->len, ==, 0);
	p2plink_registry_free(f->reg);
	f->reg = p2plink_registry_new(&f->cfg, &fake_ops);
}

/* Registered peers, as the admin API's stats count them */
static guint peer_count(p2plink_registry *reg) {
	json_t *stats = p2plink_registry_stats(reg);
	guint n = (guint)json_integer_value(json_object_get(stats, "peers"));
	json_decref(stats);
	return n;
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
	p2plink_registry_close(f->reg, peer, 0);
}

static void close_peer_at(fixture *f, p2plink_peer *peer, gint64 now) {
	g_assert_true(g_ptr_array_remove(f->peers, peer));
	p2plink_registry_close(f->reg, peer, now);
}

static p2plink_frame_result frame_at(fixture *f, p2plink_peer *peer, const char *text, gint64 now, gint64 *pause) {
	gint64 ignored;
	return p2plink_registry_frame(f->reg, peer, text, strlen(text), now, pause ? pause : &ignored);
}

static void send_frame(fixture *f, p2plink_peer *peer, const char *text, gint64 now) {
	frame_at(f, peer, text, now, NULL);
}

/* No frame ever sent to this connection after its OPEN is an ERROR (peerjs 1.5.x aborts its Peer on one) */
static void assert_no_error_frame(p2plink_conn *conn) {
	for(guint i = 0; i < fake_conn_count(conn); i++) {
		char *type = fake_conn_type(conn, i);
		g_assert_cmpstr(type, !=, "ERROR");
		g_free(type);
	}
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

static gint64 stat_of(p2plink_registry *reg, const char *key) {
	json_t *stats = p2plink_registry_stats(reg);
	gint64 n = json_integer_value(json_object_get(stats, key));
	json_decref(stats);
	return n;
}

/* The queue depth /metrics reports: up with every queued frame, back to 0 when delivered or expired */
static void test_queue_depth_counts_frames_until_delivered_or_expired(fixture *f, gconstpointer data) {
	p2plink_conn *a;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	send_frame(f, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 0);
	send_frame(f, alice, "{\"type\":\"CANDIDATE\",\"dst\":\"bob\",\"payload\":2}", 0);
	send_frame(f, alice, "{\"type\":\"OFFER\",\"dst\":\"carol\",\"payload\":3}", 0);
	g_assert_cmpint(stat_of(f->reg, "queued_frames"), ==, 3);
	g_assert_cmpint(stat_of(f->reg, "offline_queues"), ==, 2);
	connect_peer(f, "bob", "t", 1, NULL, NULL);
	g_assert_cmpint(stat_of(f->reg, "queued_frames"), ==, 1);
	p2plink_registry_sweep(f->reg, f->cfg.expire_timeout);
	g_assert_cmpint(stat_of(f->reg, "queued_frames"), ==, 0);
	g_assert_cmpint(stat_of(f->reg, "queued_bytes"), ==, 0);
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
	g_assert_cmpuint(fake_conn_count(a), ==, 3);
	assert_frame(a, 1, "{\"type\":\"EXPIRE\",\"src\":\"bob\",\"dst\":\"alice\"}");
	g_assert_true(strstr(fake_conn_frame(a, 2), "\"queue-full\"") != NULL);
	assert_no_error_frame(a);
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
	g_assert_cmpuint(peer_count(f->reg), ==, 1);
}

static void test_leave_without_dst_asks_to_close(fixture *f, gconstpointer data) {
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, NULL, NULL);
	const char *leave = "{\"type\":\"LEAVE\"}";
	g_assert_cmpint(frame_at(f, alice, leave, 0, NULL), ==, P2PLINK_FRAME_CLOSE);
}

/* Every refusal after OPEN: EXPIRE for the dst when there is a usable one, then P2PLINK-REFUSED with the stable
 * code; never ERROR, and the socket stays */
static void test_refusals_are_expire_and_refused_never_error(fixture *f, gconstpointer data) {
	static const struct {
		const char *frame;
		const char *code;
		const char *expire_src;	/* NULL: no EXPIRE (no usable dst) */
	} cases[] = {
		{ "{\"type\":\"OFFER\",\"dst\":\"alice\",\"payload\":1}", "invalid-dst", "alice" },
		{ "{\"type\":\"OFFER\",\"dst\":\"bad/id\",\"payload\":1}", "invalid-dst", NULL },
		{ "{\"type\":\"OFFER\",\"payload\":1}", "missing-dst", NULL },
		{ "{\"type\":\"OFFER\"", "invalid-json", NULL },
		{ "[1]", "invalid-frame", NULL },
		{ "{\"type\":\"HELLO\",\"dst\":\"bob\"}", "unknown-type", NULL },
		{ "{\"type\":\"HEARTBEAT\",\"payload\":\"0123456789012345678901234567890123456789012345678901234567890123"
			"456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678"
			"901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123"
			"456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678"
			"901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123"
			"456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678"
			"901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123"
			"456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678"
			"901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123"
			"456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678"
			"901234567890123456789012345678901234567890123456789012345678901234567890123456789\"}", "payload-too-large",
			NULL },
	};
	p2plink_conn *a;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	for(guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		fake_conn_clear(a);
		g_assert_cmpint(frame_at(f, alice, cases[i].frame, 0, NULL), ==, P2PLINK_FRAME_REFUSED);
		guint next = 0;
		if(cases[i].expire_src != NULL) {
			char *expire = g_strdup_printf("{\"type\":\"EXPIRE\",\"src\":\"%s\",\"dst\":\"alice\"}",
				cases[i].expire_src);
			assert_frame(a, next++, expire);
			g_free(expire);
		}
		g_assert_cmpuint(fake_conn_count(a), ==, next + 1);
		json_t *refused = json_loads(fake_conn_frame(a, next), 0, NULL);
		g_assert_cmpstr(json_string_value(json_object_get(refused, "type")), ==, "P2PLINK-REFUSED");
		g_assert_cmpstr(json_string_value(json_object_get(refused, "dst")), ==, "alice");
		json_t *payload = json_object_get(refused, "payload");
		g_assert_cmpstr(json_string_value(json_object_get(payload, "code")), ==, cases[i].code);
		g_assert_nonnull(json_string_value(json_object_get(payload, "msg")));
		g_assert_null(json_object_get(payload, "connectionId"));
		json_decref(refused);
	}
	assert_no_error_frame(a);
	g_assert_false(a->closed);
}

static void test_refused_frame_format(fixture *f, gconstpointer data) {
	p2plink_conn *a, *b;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	p2plink_peer *bob = connect_peer(f, "bob", "tb", 0, &b, NULL);
	p2plink_registry_set_link_only(f->reg, bob, TRUE);
	g_assert_cmpint(frame_at(f, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 0, NULL), ==,
		P2PLINK_FRAME_REFUSED);
	assert_frame(a, 1, "{\"type\":\"EXPIRE\",\"src\":\"bob\",\"dst\":\"alice\"}");
	assert_frame(a, 2, "{\"type\":\"P2PLINK-REFUSED\",\"src\":\"bob\",\"dst\":\"alice\",\"payload\":{\"code\":"
		"\"link-required\",\"msg\":\"This peer only accepts connections through a share link: ask them for one\","
		"\"for\":\"OFFER\"}}");
	/* bob learns nothing */
	g_assert_cmpuint(fake_conn_count(b), ==, 1);
}

/* Overlong C0 AF, surrogate ED A0 80, F4 90 80 80 (> U+10FFFF): yajl lets them through, browsers fail their socket
 * on them. The sender's frame is BAD_TEXT (the transport fails it with 1007) and the victim gets nothing. */
static void test_invalid_utf8_is_bad_text_and_never_relayed(fixture *f, gconstpointer data) {
	static const char *const bad[] = { "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80" };
	p2plink_conn *b;
	p2plink_peer *mallory = connect_peer(f, "mallory", "t", 0, NULL, NULL);
	connect_peer(f, "bob", "t", 0, &b, NULL);
	for(guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		char *frame = g_strdup_printf("{\"type\":\"CANDIDATE\",\"dst\":\"bob\",\"payload\":{\"candidate\":\"%s\"}}",
			bad[i]);
		g_assert_cmpint(frame_at(f, mallory, frame, 0, NULL), ==, P2PLINK_FRAME_BAD_TEXT);
		g_free(frame);
	}
	g_assert_cmpuint(fake_conn_count(b), ==, 1);
	/* Valid multi-byte text is relayed */
	g_assert_cmpint(frame_at(f, mallory, "{\"type\":\"CANDIDATE\",\"dst\":\"bob\",\"payload\":\"\xC3\xA9\xF0\x9F\x98\x80\"}",
		0, NULL), ==, P2PLINK_FRAME_ROUTED);
	g_assert_cmpuint(fake_conn_count(b), ==, 2);
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
	g_assert_cmpuint(peer_count(f->reg), ==, 0);
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

static void test_pace_frame_arithmetic(fixture *f, gconstpointer data) {
	p2plink_rate rate = { 10, 3 };	/* one token per 100 ms, 3 deep */
	p2plink_bucket bucket;
	p2plink_bucket_init(&bucket, &rate, 0);
	g_assert_cmpint(p2plink_pace_frame(&bucket, &rate, 0), ==, 0);
	g_assert_cmpint(p2plink_pace_frame(&bucket, &rate, 0), ==, 0);
	/* The last token goes: pause until the next whole one, 100 ms */
	g_assert_cmpint(p2plink_pace_frame(&bucket, &rate, 0), ==, 100000 + 1);
	/* A frame read anyway (it was already in the transport's buffer) is owed: 200 ms now */
	g_assert_cmpint(p2plink_pace_frame(&bucket, &rate, 0), ==, 200000 + 1);
	/* Half-way through the debt, half of it is left */
	g_assert_cmpint(p2plink_pace_frame(&bucket, &rate, 150000), ==, 150000 + 1);
	/* Unlimited rate: never a pause */
	p2plink_rate unlimited = { 0, 1 };
	for(int i = 0; i < 10; i++)
		g_assert_cmpint(p2plink_pace_frame(&bucket, &unlimited, 0), ==, 0);
}

/* Beyond the burst frames are paced (read later), never dropped: all arrive, in order, and nobody is refused */
static void test_pacing_delays_but_delivers_every_frame_in_order(fixture *f, gconstpointer data) {
	f->cfg.frame_rate.per_second = 10;
	f->cfg.frame_rate.burst = 5;
	restart_registry(f);
	p2plink_conn *a, *b;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	connect_peer(f, "bob", "t", 0, &b, NULL);
	gint64 now = 0, paused_total = 0;
	for(int i = 0; i < 20; i++) {
		char *frame = g_strdup_printf("{\"type\":\"CANDIDATE\",\"dst\":\"bob\",\"payload\":%d}", i);
		gint64 pause = -1;
		g_assert_cmpint(frame_at(f, alice, frame, now, &pause), ==, P2PLINK_FRAME_ROUTED);
		g_free(frame);
		/* The first 4 leave a token; from the 5th on the sender waits for the next one */
		if(i < 4)
			g_assert_cmpint(pause, ==, 0);
		else
			g_assert_cmpint(pause, >, 0);
		/* The transport reads the next frame when the pause is over */
		now += pause;
		paused_total += pause;
	}
	g_assert_cmpuint(fake_conn_count(b), ==, 21);
	for(int i = 0; i < 20; i++) {
		char *expected = g_strdup_printf("{\"type\":\"CANDIDATE\",\"src\":\"alice\",\"dst\":\"bob\",\"payload\":%d}", i);
		assert_frame(b, i + 1, expected);
		g_free(expected);
	}
	/* Every frame from the 5th on was followed by a 100 ms pause: 16 of them */
	g_assert_cmpint(paused_total, >=, 16 * SEC / 10);
	g_assert_cmpint(paused_total, <, 17 * SEC / 10);
	g_assert_cmpuint(fake_conn_count(a), ==, 1);
}

/* 100 frames/s, 100 deep, FLOOD after 5 s of pacing */
static void pacing_config(fixture *f) {
	f->cfg.frame_rate.per_second = 100;
	f->cfg.frame_rate.burst = 100;
	f->cfg.flood_after = 5 * SEC;
	restart_registry(f);
}

/* A sender that keeps its socket paced for flood_after, never letting the bucket get half full, is FLOOD;
 * one second short of it, it is not */
static void test_flood_after_continuous_pacing(fixture *f, gconstpointer data) {
	pacing_config(f);
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, NULL, NULL);
	const char *beat = "{\"type\":\"HEARTBEAT\"}";
	gint64 now = 0, first_pause = -1;
	p2plink_frame_result r;
	do {
		gint64 pause = 0;
		r = frame_at(f, alice, beat, now, &pause);
		if(pause > 0 && first_pause < 0)
			first_pause = now;
		if(r != P2PLINK_FRAME_FLOOD) {
			g_assert_cmpint(r, ==, P2PLINK_FRAME_HEARTBEAT);
			/* Not before flood_after of pacing */
			g_assert_true(first_pause < 0 || now - first_pause < f->cfg.flood_after);
		}
		now += pause;	/* as soon as it may, like a flooder */
		g_assert_cmpint(now, <, 20 * SEC);
	} while(r != P2PLINK_FRAME_FLOOD);
	g_assert_cmpint(now - first_pause, >=, f->cfg.flood_after);
	g_assert_cmpint(now - first_pause, <, f->cfg.flood_after + SEC / 10);
}

/* A burst that is paced, then a pause long enough for the bucket to get half full, then another burst: two
 * pacing episodes, neither long enough to be a flood, even though the second ends past flood_after */
static void test_pacing_episode_ends_when_bucket_half_refills(fixture *f, gconstpointer data) {
	pacing_config(f);
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, NULL, NULL);
	const char *beat = "{\"type\":\"HEARTBEAT\"}";
	gint64 now = 0;
	for(int burst = 0; burst < 2; burst++) {
		/* 100 from the bucket + 300 paced = 3 s of pacing */
		for(int i = 0; i < 400; i++) {
			gint64 pause = 0;
			g_assert_cmpint(frame_at(f, alice, beat, now, &pause), ==, P2PLINK_FRAME_HEARTBEAT);
			now += pause;
		}
		now += SEC;	/* quiet: 100 tokens back */
	}
	g_assert_cmpint(now, >, f->cfg.flood_after);
}

/* Reconnecting is no way around pacing: the new socket inherits the bucket */
static void test_reconnect_does_not_refill_the_bucket(fixture *f, gconstpointer data) {
	f->cfg.frame_rate.per_second = 10;
	f->cfg.frame_rate.burst = 3;
	restart_registry(f);
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, NULL, NULL);
	const char *beat = "{\"type\":\"HEARTBEAT\"}";
	gint64 pause = 0;
	for(int i = 0; i < 3; i++)
		frame_at(f, alice, beat, 0, &pause);
	g_assert_cmpint(pause, >, 0);
	close_peer(f, alice);
	p2plink_peer *again = connect_peer(f, "alice", "t", 0, NULL, NULL);
	g_assert_nonnull(again);
	frame_at(f, again, beat, 0, &pause);
	g_assert_cmpint(pause, >, 0);
}

static void test_frame_size_limits_per_type(fixture *f, gconstpointer data) {
	p2plink_conn *a, *b;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	connect_peer(f, "bob", "t", 0, &b, NULL);
	GString *big = g_string_new("{\"type\":\"CANDIDATE\",\"dst\":\"bob\",\"payload\":\"");
	while(big->len <= f->cfg.max_candidate_bytes)
		g_string_append_c(big, 'x');
	g_string_append(big, "\"}");
	gint64 pause;
	g_assert_cmpint(p2plink_registry_frame(f->reg, alice, big->str, big->len, 0, &pause), ==, P2PLINK_FRAME_REFUSED);
	assert_frame(a, 1, "{\"type\":\"EXPIRE\",\"src\":\"bob\",\"dst\":\"alice\"}");
	g_assert_true(strstr(fake_conn_frame(a, 2), "\"payload-too-large\"") != NULL);
	g_assert_cmpuint(fake_conn_count(b), ==, 1);
	/* The same size is fine for an OFFER */
	g_string_free(big, TRUE);
	char *offer = g_strdup_printf("{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":\"%0*d\"}",
		(int)f->cfg.max_candidate_bytes + 10, 0);
	g_assert_cmpint(frame_at(f, alice, offer, 0, NULL), ==, P2PLINK_FRAME_ROUTED);
	g_assert_cmpuint(fake_conn_count(b), ==, 2);
	g_free(offer);
}

/* Ids belong to their token for id_grace after the socket went */

static void test_grace_other_token_gets_id_taken_then_id_is_free(fixture *f, gconstpointer data) {
	p2plink_peer *alice = connect_peer(f, "alice", "t1", 0, NULL, NULL);
	close_peer_at(f, alice, 10 * SEC);
	p2plink_conn *m;
	p2plink_open_result r;
	g_assert_null(connect_peer(f, "alice", "mallory", 10 * SEC + f->cfg.id_grace - 1, &m, &r));
	g_assert_cmpint(r, ==, P2PLINK_OPEN_ID_TAKEN);
	assert_frame(m, 0, "{\"type\":\"ID-TAKEN\",\"payload\":{\"msg\":\"ID is taken\"}}");
	/* The sweeper ends the reservation once the grace is over: then the id is anyone's */
	p2plink_registry_sweep(f->reg, 10 * SEC + f->cfg.id_grace);
	g_assert_nonnull(connect_peer(f, "alice", "mallory", 10 * SEC + f->cfg.id_grace, NULL, &r));
	g_assert_cmpint(r, ==, P2PLINK_OPEN_OK);
}

/* The same answer, byte for byte, whatever state holds the id: ID-TAKEN tells nobody a link-only peer is online */
static void test_grace_id_taken_is_identical_for_every_held_state(fixture *f, gconstpointer data) {
	p2plink_peer *plain = connect_peer(f, "plain", "t1", 0, NULL, NULL);
	p2plink_peer *hidden = connect_peer(f, "hidden", "t2", 0, NULL, NULL);
	p2plink_registry_set_link_only(f->reg, hidden, TRUE);
	p2plink_conn *c1, *c2, *c3;
	connect_peer(f, "plain", "x", 0, &c1, NULL);
	connect_peer(f, "hidden", "x", 0, &c2, NULL);
	close_peer(f, hidden);
	connect_peer(f, "hidden", "x", 0, &c3, NULL);
	g_assert_cmpstr(fake_conn_frame(c1, 0), ==, fake_conn_frame(c2, 0));
	g_assert_cmpstr(fake_conn_frame(c1, 0), ==, fake_conn_frame(c3, 0));
	g_assert_cmpstr(c1->close_reason, ==, c2->close_reason);
	g_assert_cmpstr(c1->close_reason, ==, c3->close_reason);
	g_assert_cmpuint(fake_conn_count(c3), ==, 1);
	(void)plain;
}

/* The owner comes back within the grace: OPEN, with its link-only flag, grants and contacted set */
static void test_grace_owner_gets_state_back(fixture *f, gconstpointer data) {
	p2plink_conn *b, *v;
	p2plink_peer *bob = connect_peer(f, "bob", "tb", 0, &b, NULL);
	p2plink_peer *visitor = connect_peer(f, "visitor", "tv", 0, &v, NULL);
	p2plink_registry_set_link_only(f->reg, bob, TRUE);
	g_assert_true(p2plink_registry_grant(f->reg, visitor, "bob", p2plink_peer_owner(bob)));
	/* Both sockets drop, both come back with their tokens */
	close_peer_at(f, bob, SEC);
	close_peer_at(f, visitor, SEC);
	p2plink_conn *b2, *v2;
	p2plink_open_result r;
	bob = connect_peer(f, "bob", "tb", 2 * SEC, &b2, &r);
	g_assert_cmpint(r, ==, P2PLINK_OPEN_OK);
	visitor = connect_peer(f, "visitor", "tv", 2 * SEC, &v2, &r);
	g_assert_cmpint(r, ==, P2PLINK_OPEN_OK);
	json_t *info = p2plink_registry_peer_info(f->reg, bob);
	g_assert_true(json_is_true(json_object_get(info, "link_only")));
	json_decref(info);
	/* The visitor's grant came back: its OFFER reaches bob */
	send_frame(f, visitor, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 2 * SEC);
	assert_frame(b2, 1, "{\"type\":\"OFFER\",\"src\":\"visitor\",\"dst\":\"bob\",\"payload\":1}");
	/* and a stranger is still refused */
	p2plink_conn *s;
	p2plink_peer *stranger = connect_peer(f, "stranger", "ts", 2 * SEC, &s, NULL);
	g_assert_cmpint(frame_at(f, stranger, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 2 * SEC, NULL),
		==, P2PLINK_FRAME_REFUSED);
	g_assert_cmpuint(fake_conn_count(b2), ==, 2);
}

/* bob contacted carol first (so carol may answer the link-only bob); that survives bob's reconnect */
static void test_grace_contacted_set_comes_back(fixture *f, gconstpointer data) {
	p2plink_conn *b2;
	p2plink_peer *bob = connect_peer(f, "bob", "tb", 0, NULL, NULL);
	p2plink_peer *carol = connect_peer(f, "carol", "tc", 0, NULL, NULL);
	p2plink_registry_set_link_only(f->reg, bob, TRUE);
	send_frame(f, bob, "{\"type\":\"OFFER\",\"dst\":\"carol\",\"payload\":1}", 0);
	close_peer(f, bob);
	connect_peer(f, "bob", "tb", 1, &b2, NULL);
	g_assert_cmpint(frame_at(f, carol, "{\"type\":\"ANSWER\",\"dst\":\"bob\",\"payload\":2}", 1, NULL), ==,
		P2PLINK_FRAME_ROUTED);
	assert_frame(b2, 1, "{\"type\":\"ANSWER\",\"src\":\"carol\",\"dst\":\"bob\",\"payload\":2}");
}

/* A peer's counterparts, contacted set and grants are made at their first entry: an idle peer has none, also after
 * a reconnect, and one that signaled gets its tables back when it reconnects */
static void test_idle_peer_has_no_tables(fixture *f, gconstpointer data) {
	p2plink_conn *a, *b, *c, *a2, *c2;
	p2plink_peer *alice = connect_peer(f, "alice", "ta", 0, &a, NULL);
	p2plink_peer *bob = connect_peer(f, "bob", "tb", 0, &b, NULL);
	p2plink_peer *carol = connect_peer(f, "carol", "tc", 0, &c, NULL);
	p2plink_peer *all[] = { alice, bob, carol };
	for(guint i = 0; i < G_N_ELEMENTS(all); i++) {
		g_assert_null(all[i]->counterparts);
		g_assert_null(all[i]->contacted);
		g_assert_null(all[i]->grants);
	}
	json_t *info = p2plink_registry_peer_info(f->reg, carol);
	g_assert_cmpint(json_integer_value(json_object_get(info, "counterparts")), ==, 0);
	g_assert_cmpint(json_integer_value(json_object_get(info, "grants")), ==, 0);
	json_decref(info);
	/* A heartbeat makes nothing */
	send_frame(f, carol, "{\"type\":\"HEARTBEAT\"}", 1);
	g_assert_null(carol->counterparts);
	g_assert_null(carol->contacted);
	/* The first relayed frame: both ends have a counterpart, the sender a contacted set; the answer opens none */
	send_frame(f, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 1);
	assert_frame(b, 1, "{\"type\":\"OFFER\",\"src\":\"alice\",\"dst\":\"bob\",\"payload\":1}");
	g_assert_nonnull(alice->counterparts);
	g_assert_nonnull(bob->counterparts);
	g_assert_nonnull(alice->contacted);
	g_assert_true(g_hash_table_contains(alice->contacted, "bob"));
	send_frame(f, bob, "{\"type\":\"ANSWER\",\"dst\":\"alice\",\"payload\":2}", 1);
	assert_frame(a, 1, "{\"type\":\"ANSWER\",\"src\":\"bob\",\"dst\":\"alice\",\"payload\":2}");
	g_assert_null(bob->contacted);
	g_assert_null(alice->grants);
	g_assert_true(p2plink_registry_grant(f->reg, carol, "bob", p2plink_peer_owner(bob)));
	g_assert_nonnull(carol->grants);
	/* alice and the still idle-but-granted carol reconnect within the grace: bob hears alice leave, and both get
	 * what they had (a table that was never made stays NULL) */
	close_peer_at(f, alice, 2 * SEC);
	assert_frame(b, 2, "{\"type\":\"LEAVE\",\"src\":\"alice\",\"dst\":\"bob\"}");
	close_peer_at(f, carol, 2 * SEC);
	alice = connect_peer(f, "alice", "ta", 3 * SEC, &a2, NULL);
	carol = connect_peer(f, "carol", "tc", 3 * SEC, &c2, NULL);
	g_assert_nonnull(alice);
	g_assert_nonnull(carol);
	g_assert_true(g_hash_table_contains(alice->counterparts, "bob"));
	g_assert_true(g_hash_table_contains(alice->contacted, "bob"));
	g_assert_null(alice->grants);
	g_assert_null(carol->counterparts);
	g_assert_null(carol->contacted);
	g_assert_cmpuint(g_hash_table_size(carol->grants), ==, 1);
	/* and relaying still works both ways; alice's LEAVE reaches bob, and her close tells nobody again */
	send_frame(f, bob, "{\"type\":\"CANDIDATE\",\"dst\":\"alice\",\"payload\":3}", 3 * SEC);
	assert_frame(a2, 1, "{\"type\":\"CANDIDATE\",\"src\":\"bob\",\"dst\":\"alice\",\"payload\":3}");
	send_frame(f, alice, "{\"type\":\"LEAVE\",\"dst\":\"bob\"}", 3 * SEC);
	assert_frame(b, 3, "{\"type\":\"LEAVE\",\"src\":\"alice\",\"dst\":\"bob\"}");
	g_assert_false(g_hash_table_contains(alice->counterparts, "bob"));
	close_peer_at(f, alice, 4 * SEC);
	g_assert_cmpuint(fake_conn_count(b), ==, 4);
	(void)c;
}

/* owner_of answers for a reserved id too (links stay the owner's); authenticate does not (not connected) */
static void test_grace_owner_of_reserved_id_but_not_authenticated(fixture *f, gconstpointer data) {
	p2plink_peer *alice = connect_peer(f, "alice", "t1", 0, NULL, NULL);
	char *owner = g_strdup(p2plink_peer_owner(alice));
	close_peer(f, alice);
	char *reserved_owner = p2plink_registry_owner_of(f->reg, "alice");
	g_assert_cmpstr(reserved_owner, ==, owner);
	g_assert_null(p2plink_registry_authenticate(f->reg, "alice", "t1"));
	g_free(reserved_owner);
	g_free(owner);
	g_assert_null(p2plink_registry_owner_of(f->reg, "nobody"));
}

/* Frames to a reserved id wait as for an offline peer: delivered on the owner's return, EXPIRE otherwise */
static void test_grace_frames_to_reserved_id_are_queued(fixture *f, gconstpointer data) {
	p2plink_conn *a, *b2;
	p2plink_peer *alice = connect_peer(f, "alice", "ta", 0, &a, NULL);
	p2plink_peer *bob = connect_peer(f, "bob", "tb", 0, NULL, NULL);
	close_peer(f, bob);
	send_frame(f, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 1);
	connect_peer(f, "bob", "tb", 2, &b2, NULL);
	assert_frame(b2, 1, "{\"type\":\"OFFER\",\"src\":\"alice\",\"dst\":\"bob\",\"payload\":1}");
	g_assert_cmpuint(fake_conn_count(a), ==, 1);
}

static void test_grace_admin_kick_frees_the_id(fixture *f, gconstpointer data) {
	p2plink_peer *alice = connect_peer(f, "alice", "t1", 0, NULL, NULL);
	close_peer(f, alice);
	/* An admin kick of a reserved id ends the reservation */
	g_assert_true(p2plink_registry_kick_id(f->reg, "alice", "kicked"));
	p2plink_open_result r;
	g_assert_nonnull(connect_peer(f, "alice", "other", 1, NULL, &r));
	/* and a kick of a connected peer leaves no reservation behind */
	g_assert_true(p2plink_registry_kick_id(f->reg, "alice", "kicked"));
	g_assert_nonnull(connect_peer(f, "alice", "third", 2, NULL, &r));
	g_assert_cmpint(r, ==, P2PLINK_OPEN_OK);
}

/* A Janus session that goes (timeout) reserves the id like a closed socket */
static void test_grace_session_gone_reserves_the_id(fixture *f, gconstpointer data) {
	p2plink_peer *alice = connect_peer(f, "alice", "t1", 0, NULL, NULL);
	g_assert_true(p2plink_registry_kick_peer(f->reg, alice, "Janus session destroyed", 0));
	p2plink_open_result r;
	g_assert_null(connect_peer(f, "alice", "other", 1, NULL, &r));
	g_assert_cmpint(r, ==, P2PLINK_OPEN_ID_TAKEN);
}

/* At most concurrent_limit reservations (3 here): a fourth ends the oldest early */
static void test_grace_reservations_are_bounded_oldest_ends_first(fixture *f, gconstpointer data) {
	const char *ids[] = { "p1", "p2", "p3", "p4" };
	for(guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		p2plink_peer *p = connect_peer(f, ids[i], "owner", i, NULL, NULL);
		close_peer_at(f, p, i);
	}
	json_t *stats = p2plink_registry_stats(f->reg);
	g_assert_cmpint(json_integer_value(json_object_get(stats, "reserved")), ==, 3);
	json_decref(stats);
	p2plink_open_result r;
	g_assert_nonnull(connect_peer(f, "p1", "other", 10, NULL, &r));
	g_assert_null(connect_peer(f, "p2", "other", 10, NULL, &r));
	g_assert_cmpint(r, ==, P2PLINK_OPEN_ID_TAKEN);
}

/* The alive timeout reserves the id as well */
static void test_grace_alive_timeout_reserves_the_id(fixture *f, gconstpointer data) {
	connect_peer(f, "alice", "t1", 0, NULL, NULL);
	p2plink_registry_sweep(f->reg, f->cfg.alive_timeout);
	p2plink_open_result r;
	g_assert_null(connect_peer(f, "alice", "other", f->cfg.alive_timeout, NULL, &r));
	g_assert_cmpint(r, ==, P2PLINK_OPEN_ID_TAKEN);
}

/* The link-only gate on every path */

/* A reserved link-only id is as closed as a connected one: a stranger's frame is refused when it would be queued */
static void test_gate_reserved_link_only_refuses_at_queue_time(fixture *f, gconstpointer data) {
	p2plink_conn *s, *b2;
	p2plink_peer *bob = connect_peer(f, "bob", "tb", 0, NULL, NULL);
	p2plink_registry_set_link_only(f->reg, bob, TRUE);
	close_peer(f, bob);
	p2plink_peer *stranger = connect_peer(f, "stranger", "ts", 0, &s, NULL);
	g_assert_cmpint(frame_at(f, stranger, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 1, NULL), ==,
		P2PLINK_FRAME_REFUSED);
	assert_frame(s, 1, "{\"type\":\"EXPIRE\",\"src\":\"bob\",\"dst\":\"stranger\"}");
	g_assert_true(strstr(fake_conn_frame(s, 2), "\"link-required\"") != NULL);
	connect_peer(f, "bob", "tb", 2, &b2, NULL);
	g_assert_cmpuint(fake_conn_count(b2), ==, 1);
}

/* A frame queued by a grantee is checked again at delivery against the owner that queued it: when the sender's
 * id has changed hands meanwhile, the frame is dropped and the new holder learns nothing; a grantee still there
 * gets its frame through */
static void test_gate_queued_frame_rechecked_at_delivery(fixture *f, gconstpointer data) {
	f->cfg.concurrent_limit = 10;
	restart_registry(f);
	p2plink_conn *b2, *v2, *g;
	p2plink_peer *bob = connect_peer(f, "bob", "tb", 0, NULL, NULL);
	p2plink_peer *visitor = connect_peer(f, "visitor", "tv", 0, NULL, NULL);
	p2plink_peer *guest = connect_peer(f, "guest", "tg", 0, &g, NULL);
	p2plink_registry_set_link_only(f->reg, bob, TRUE);
	g_assert_true(p2plink_registry_grant(f->reg, visitor, "bob", p2plink_peer_owner(bob)));
	g_assert_true(p2plink_registry_grant(f->reg, guest, "bob", p2plink_peer_owner(bob)));
	close_peer(f, bob);
	/* Allowed when queued: both hold a grant */
	g_assert_cmpint(frame_at(f, visitor, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 1, NULL), ==,
		P2PLINK_FRAME_ROUTED);
	g_assert_cmpint(frame_at(f, guest, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":2}", 1, NULL), ==,
		P2PLINK_FRAME_ROUTED);
	/* The visitor is kicked (its id is free at once) and someone else takes it */
	g_assert_true(p2plink_registry_kick_id(f->reg, "visitor", "kicked"));
	g_assert_nonnull(connect_peer(f, "visitor", "impostor", 2, &v2, NULL));
	connect_peer(f, "bob", "tb", 3, &b2, NULL);
	/* Only the guest's frame is delivered */
	g_assert_cmpuint(fake_conn_count(b2), ==, 2);
	assert_frame(b2, 1, "{\"type\":\"OFFER\",\"src\":\"guest\",\"dst\":\"bob\",\"payload\":2}");
	/* The impostor is told nothing about the frame it did not send */
	g_assert_cmpuint(fake_conn_count(v2), ==, 1);
	g_assert_cmpuint(fake_conn_count(g), ==, 1);
	(void)visitor;
}

/* Sweep work: the sweeper must never scan the whole peer table under the lock */

#define MANY_PEERS 2000

static void connect_many(fixture *f, guint n, gint64 now) {
	f->cfg.concurrent_limit = n;
	restart_registry(f);
	for(guint i = 0; i < n; i++) {
		char id[32];
		g_snprintf(id, sizeof(id), "peer%u", i);
		g_assert_nonnull(connect_peer(f, id, "t", now, NULL, NULL));
	}
}

static void test_sweep_with_nothing_due_looks_at_one_entry_per_list(fixture *f, gconstpointer data) {
	connect_many(f, MANY_PEERS, 0);
	/* An offline queue and a reservation too, neither due yet */
	send_frame(f, g_ptr_array_index(f->peers, 0), "{\"type\":\"OFFER\",\"dst\":\"away\",\"payload\":1}", 0);
	close_peer_at(f, g_ptr_array_index(f->peers, 1), 0);
	guint visited = p2plink_registry_sweep(f->reg, 1);
	/* One head each of queues, reservations and peers, not MANY_PEERS */
	g_assert_cmpuint(visited, ==, 3);
	g_assert_cmpuint(peer_count(f->reg), ==, MANY_PEERS - 1);
}

static void test_sweep_drops_a_mass_timeout_in_bounded_slices(fixture *f, gconstpointer data) {
	connect_many(f, MANY_PEERS, 0);
	guint sweeps = 0, most = 0;
	while(peer_count(f->reg) > 0 && sweeps < MANY_PEERS) {
		guint before = peer_count(f->reg);
		guint visited = p2plink_registry_sweep(f->reg, f->cfg.alive_timeout + sweeps);
		most = MAX(most, visited);
		/* Every sweep makes progress, none does everything at once */
		g_assert_cmpuint(peer_count(f->reg), <, before);
		sweeps++;
	}
	g_assert_cmpuint(peer_count(f->reg), ==, 0);
	g_assert_cmpuint(sweeps, >, 1);
	/* A slice (256 peers) plus the heads of the other lists (reservations fill up as peers drop) */
	g_assert_cmpuint(most, <=, 2 * 256 + 1);
	for(guint i = 0; i < f->conns->len; i++)
		g_assert_true(((p2plink_conn *)g_ptr_array_index(f->conns, i))->closed);
}

static void test_sweep_drops_only_the_silent_peer_among_busy_ones(fixture *f, gconstpointer data) {
	p2plink_conn *a, *b, *c;
	connect_peer(f, "alice", "t", 0, &a, NULL);
	p2plink_peer *bob = connect_peer(f, "bob", "t", 0, &b, NULL);
	p2plink_peer *carol = connect_peer(f, "carol", "t", 0, &c, NULL);
	/* bob and carol heartbeat in turn: the least recently seen stays at the head */
	send_frame(f, carol, "{\"type\":\"HEARTBEAT\"}", 10 * SEC);
	send_frame(f, bob, "{\"type\":\"HEARTBEAT\"}", 20 * SEC);
	send_frame(f, carol, "{\"type\":\"HEARTBEAT\"}", 30 * SEC);
	/* alice (due, dropped) and bob (the next head, not due): carol is never looked at */
	g_assert_cmpuint(p2plink_registry_sweep(f->reg, f->cfg.alive_timeout), ==, 2);
	g_assert_true(a->closed);
	g_assert_false(b->closed);
	g_assert_false(c->closed);
	p2plink_registry_sweep(f->reg, f->cfg.alive_timeout + 20 * SEC);
	g_assert_true(b->closed);
	g_assert_false(c->closed);
}

static void test_queue_expiry_checks_oldest_queue_first(fixture *f, gconstpointer data) {
	p2plink_conn *a;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	send_frame(f, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 0);
	send_frame(f, alice, "{\"type\":\"OFFER\",\"dst\":\"carol\",\"payload\":1}", SEC);
	p2plink_registry_sweep(f->reg, f->cfg.expire_timeout);
	g_assert_cmpuint(fake_conn_count(a), ==, 2);
	assert_frame(a, 1, "{\"type\":\"EXPIRE\",\"src\":\"bob\",\"dst\":\"alice\"}");
	p2plink_registry_sweep(f->reg, f->cfg.expire_timeout + SEC);
	g_assert_cmpuint(fake_conn_count(a), ==, 3);
	assert_frame(a, 2, "{\"type\":\"EXPIRE\",\"src\":\"carol\",\"dst\":\"alice\"}");
}

/* Observers */

typedef struct observed {
	p2plink_registry *reg;
	GString *log;
	guint count_seen;	/* what the observer read from the registry: only possible without its lock held */
} observed;

static void observe(p2plink_registry_event event, const char *id, const char *other, void *data) {
	observed *o = data;
	static const char *names[] = { "open", "close", "timeout", "expire" };
	g_string_append_printf(o->log, "%s:%s:%s;", names[event], id, other ? other : "");
	/* Takes the registry lock: this would deadlock if observers ran under it */
	o->count_seen = peer_count(o->reg);
}

static void test_observer_runs_outside_the_lock_in_order(fixture *f, gconstpointer data) {
	observed o = { f->reg, g_string_new(NULL), 0 };
	p2plink_registry_set_observer(f->reg, observe, &o);
	p2plink_conn *a;
	p2plink_peer *alice = connect_peer(f, "alice", "t", 0, &a, NULL);
	g_assert_cmpuint(o.count_seen, ==, 1);
	p2plink_peer *bob = connect_peer(f, "bob", "t", 0, NULL, NULL);
	send_frame(f, alice, "{\"type\":\"OFFER\",\"dst\":\"carol\",\"payload\":1}", 0);
	send_frame(f, bob, "{\"type\":\"HEARTBEAT\"}", SEC);
	p2plink_registry_sweep(f->reg, f->cfg.alive_timeout);
	close_peer(f, bob);
	g_assert_cmpstr(o.log->str, ==, "open:alice:127.0.0.1;open:bob:127.0.0.1;expire:alice:carol;timeout:alice:;"
		"close:bob:;");
	g_assert_cmpuint(o.count_seen, ==, 0);
	(void)alice;
	p2plink_registry_set_observer(f->reg, NULL, NULL);
	g_string_free(o.log, TRUE);
}

/* The plugin opens the store (which may wait on a reconnect) only for requests the link service answers */
static void test_admin_registry_requests_do_not_need_the_store(void) {
	static const char *registry_only[] = { "stats", "list_peers", "kick_peer", "nonsense", "" };
	for(guint i = 0; i < G_N_ELEMENTS(registry_only); i++)
		g_assert_false(p2plink_link_service_is_admin_request(registry_only[i]));
	g_assert_false(p2plink_link_service_is_admin_request(NULL));
	static const char *link_requests[] = { "create_link", "list_links", "get_link", "revoke_link", "delete_link",
		"list_clicks", "link_stats" };
	for(guint i = 0; i < G_N_ELEMENTS(link_requests); i++)
		g_assert_true(p2plink_link_service_is_admin_request(link_requests[i]));
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
	ADD("/registry/refuse/refusals_are_expire_and_refused_never_error",
		test_refusals_are_expire_and_refused_never_error);
	ADD("/registry/refuse/refused_frame_format", test_refused_frame_format);
	ADD("/registry/utf8/invalid_utf8_is_bad_text_and_never_relayed", test_invalid_utf8_is_bad_text_and_never_relayed);
	ADD("/registry/queue/delivered_in_order_on_connect", test_queue_delivered_in_order_on_connect);
	ADD("/registry/queue/depth_counts_frames_until_delivered_or_expired",
		test_queue_depth_counts_frames_until_delivered_or_expired);
	ADD("/registry/queue/undelivered_expires_once_per_sender", test_undelivered_queue_expires_once_per_sender);
	ADD("/registry/queue/leave_and_expire_to_offline_are_not_queued", test_leave_and_expire_to_offline_are_not_queued);
	ADD("/registry/queue/is_bounded", test_queue_is_bounded);
	ADD("/registry/close/sends_leave_to_counterparts", test_close_sends_leave_to_counterparts);
	ADD("/registry/close/leave_without_dst_asks_to_close", test_leave_without_dst_asks_to_close);
	ADD("/registry/alive/timeout_drops_silent_peer", test_alive_timeout_drops_silent_peer);
	ADD("/registry/bind/nonce_works_once", test_bind_nonce_works_once);
	ADD("/registry/pacing/pace_frame_arithmetic", test_pace_frame_arithmetic);
	ADD("/registry/pacing/delays_but_delivers_every_frame_in_order",
		test_pacing_delays_but_delivers_every_frame_in_order);
	ADD("/registry/pacing/flood_after_continuous_pacing", test_flood_after_continuous_pacing);
	ADD("/registry/pacing/episode_ends_when_bucket_half_refills", test_pacing_episode_ends_when_bucket_half_refills);
	ADD("/registry/pacing/reconnect_does_not_refill_the_bucket", test_reconnect_does_not_refill_the_bucket);
	ADD("/registry/grace/other_token_gets_id_taken_then_id_is_free",
		test_grace_other_token_gets_id_taken_then_id_is_free);
	ADD("/registry/grace/id_taken_is_identical_for_every_held_state",
		test_grace_id_taken_is_identical_for_every_held_state);
	ADD("/registry/grace/owner_gets_state_back", test_grace_owner_gets_state_back);
	ADD("/registry/grace/contacted_set_comes_back", test_grace_contacted_set_comes_back);
	ADD("/registry/idle_peer_has_no_tables", test_idle_peer_has_no_tables);
	ADD("/registry/grace/owner_of_reserved_id_but_not_authenticated",
		test_grace_owner_of_reserved_id_but_not_authenticated);
	ADD("/registry/grace/frames_to_reserved_id_are_queued", test_grace_frames_to_reserved_id_are_queued);
	ADD("/registry/grace/admin_kick_frees_the_id", test_grace_admin_kick_frees_the_id);
	ADD("/registry/grace/session_gone_reserves_the_id", test_grace_session_gone_reserves_the_id);
	ADD("/registry/grace/reservations_are_bounded_oldest_ends_first",
		test_grace_reservations_are_bounded_oldest_ends_first);
	ADD("/registry/grace/alive_timeout_reserves_the_id", test_grace_alive_timeout_reserves_the_id);
	ADD("/registry/gate/reserved_link_only_refuses_at_queue_time", test_gate_reserved_link_only_refuses_at_queue_time);
	ADD("/registry/gate/queued_frame_rechecked_at_delivery", test_gate_queued_frame_rechecked_at_delivery);
	ADD("/registry/limits/frame_size_limits_per_type", test_frame_size_limits_per_type);
	ADD("/registry/admin/kick_closes_and_frees_id", test_kick_closes_and_frees_id);
	ADD("/registry/admin/list_peers_paginates_sorted", test_list_peers_paginates_sorted);
	ADD("/registry/sweep/with_nothing_due_looks_at_one_entry_per_list",
		test_sweep_with_nothing_due_looks_at_one_entry_per_list);
	ADD("/registry/sweep/drops_a_mass_timeout_in_bounded_slices", test_sweep_drops_a_mass_timeout_in_bounded_slices);
	ADD("/registry/sweep/drops_only_the_silent_peer_among_busy_ones",
		test_sweep_drops_only_the_silent_peer_among_busy_ones);
	ADD("/registry/sweep/queue_expiry_checks_oldest_queue_first", test_queue_expiry_checks_oldest_queue_first);
	ADD("/registry/observer/runs_outside_the_lock_in_order", test_observer_runs_outside_the_lock_in_order);
	g_test_add_func("/registry/admin/registry_requests_do_not_need_the_store",
		test_admin_registry_requests_do_not_need_the_store);
	return g_test_run();
}
