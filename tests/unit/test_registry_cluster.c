/*
 * test_registry_cluster.c — the registry's cluster-mode rules (registry_cluster.c, remote_frame.c): two
 * registries, "node-a" and "node-b", joined by a test bus that plays Redis: a route goes to the registry the test
 * says holds the id (its lease), and the answer goes back to the sender, as the transport's glue does.
 * What it shows: a frame crosses nodes with the bytes a single node writes; counterparts on another node get
 * LEAVE when a peer goes and when its node dies; the link-only gate and grants hold across nodes; a frame for an
 * id held nowhere waits on the sender's node, is routed again by the retry and expires as on one node; Redis
 * unreachable is EXPIRE + P2PLINK-REFUSED, never ERROR; a lost lease drops the local copy without a release and
 * without LEAVE; malformed bodies are refused whole.
 */

#include <string.h>

#include "fake_transport.h"
#include "registry.h"
#include "remote_frame.h"

#define SEC G_USEC_PER_SEC

typedef struct bus_item {
	int from;		/* 0: node-a, 1: node-b */
	char *dst;
	char *body;
	size_t len;
} bus_item;

static const char *nodes[2] = { "node-a", "node-b" };
static p2plink_registry *regs[2];
static GQueue bus = G_QUEUE_INIT;
static GHashTable *leases;		/* id → node index + 1 (the test's Redis) */
static GPtrArray *releases;		/* "node:id" */
static gboolean redis_down;

static void route(int from, const char *dst, char *body, size_t len) {
	bus_item *item = g_new0(bus_item, 1);
	item->from = from;
	item->dst = g_strdup(dst);
	item->body = body;
	item->len = len;
	g_queue_push_tail(&bus, item);
}
static void route_a(const char *dst, char *body, size_t len) { route(0, dst, body, len); }
static void route_b(const char *dst, char *body, size_t len) { route(1, dst, body, len); }
static void release_a(const char *id, const char *owner) { g_ptr_array_add(releases, g_strdup_printf("node-a:%s", id)); }
static void release_b(const char *id, const char *owner) { g_ptr_array_add(releases, g_strdup_printf("node-b:%s", id)); }

static gboolean answers_last;	/* the subscription is faster than the command connection: notices come first */

typedef struct late_answer {
	bus_item *route;
	p2plink_remote_result result;
	int holder;
} late_answer;

static void answer(bus_item *item, p2plink_remote_result result, int holder, gint64 now) {
	p2plink_registry_remote_routed(regs[item->from], item->dst, item->body, item->len, result,
		holder >= 0 ? nodes[holder] : NULL, now);
	g_free(item->dst);
	g_free(item->body);
	g_free(item);
}

/* Delivers everything on the bus (and what delivering puts on it), answering each sender as Redis would: at once,
 * or, with answers_last, after everything the deliveries put on the bus (in the order the routes were made) */
static guint pump(gint64 now) {
	guint n = 0;
	GQueue late = G_QUEUE_INIT;
	for(;;) {
		bus_item *item = g_queue_pop_head(&bus);
		if(item == NULL) {
			late_answer *l = g_queue_pop_head(&late);
			if(l == NULL)
				break;
			answer(l->route, l->result, l->holder, now);
			g_free(l);
			continue;
		}
		int holder = GPOINTER_TO_INT(g_hash_table_lookup(leases, item->dst)) - 1;
		p2plink_remote_result result;
		if(redis_down)
			result = P2PLINK_REMOTE_UNREACHABLE;
		else if(holder < 0 || holder == item->from)
			result = P2PLINK_REMOTE_NOT_HELD;
		else {
			g_assert_true(p2plink_registry_remote_deliver(regs[holder], item->dst, item->body, item->len, now));
			result = P2PLINK_REMOTE_DELIVERED;
		}
		n++;
		if(answers_last) {
			late_answer *l = g_new(late_answer, 1);
			*l = (late_answer){ item, result, holder };
			g_queue_push_tail(&late, l);
		} else {
			answer(item, result, holder, now);
		}
	}
	return n;
}

typedef struct fixture {
	p2plink_registry_config cfg;
	GPtrArray *conns;
	GPtrArray *peers;	/* (registry index, peer) pairs: index in peer_node */
	GArray *peer_node;
} fixture;

static void make_registries(fixture *f) {
	static p2plink_transport_ops ops[2];
	ops[0] = fake_ops;
	ops[0].remote_route = route_a;
	ops[0].remote_release = release_a;
	ops[0].node = nodes[0];
	ops[1] = fake_ops;
	ops[1].remote_route = route_b;
	ops[1].remote_release = release_b;
	ops[1].node = nodes[1];
	regs[0] = p2plink_registry_new(&f->cfg, &ops[0]);
	regs[1] = p2plink_registry_new(&f->cfg, &ops[1]);
}

static void set_up(fixture *f, gconstpointer data) {
	p2plink_registry_config_defaults(&f->cfg);
	f->cfg.id_grace = 0;
	f->conns = g_ptr_array_new();
	f->peers = g_ptr_array_new();
	f->peer_node = g_array_new(FALSE, FALSE, sizeof(int));
	leases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	releases = g_ptr_array_new_with_free_func(g_free);
	redis_down = FALSE;
	answers_last = FALSE;
	make_registries(f);
}

static void tear_down(fixture *f, gconstpointer data) {
	for(guint i = 0; i < f->peers->len; i++)
		p2plink_registry_close(regs[g_array_index(f->peer_node, int, i)], g_ptr_array_index(f->peers, i), 0);
	pump(0);
	p2plink_registry_free(regs[0]);
	p2plink_registry_free(regs[1]);
	for(guint i = 0; i < f->conns->len; i++)
		fake_conn_free(g_ptr_array_index(f->conns, i));
	g_ptr_array_free(f->conns, TRUE);
	g_ptr_array_free(f->peers, TRUE);
	g_array_free(f->peer_node, TRUE);
	g_hash_table_destroy(leases);
	g_ptr_array_free(releases, TRUE);
}

/* Opens id on node (and gives it the lease there, as the transport does before OPEN) */
static p2plink_peer *connect_on(fixture *f, int node, const char *id, p2plink_conn **conn_out) {
	p2plink_conn *conn = fake_conn_new();
	g_ptr_array_add(f->conns, conn);
	char nonce[P2PLINK_BIND_NONCE_LEN + 1];
	p2plink_open_result r;
	char *token = g_strdup_printf("tok-%s", id);
	p2plink_peer *peer = p2plink_registry_open(regs[node], conn, id, token, "127.0.0.1", 0, nonce, &r);
	g_free(token);
	g_assert_nonnull(peer);
	g_ptr_array_add(f->peers, peer);
	g_array_append_val(f->peer_node, node);
	g_hash_table_insert(leases, g_strdup(id), GINT_TO_POINTER(node + 1));
	*conn_out = conn;
	g_assert_cmpstr(fake_conn_frame(conn, 0), ==, "{\"type\":\"OPEN\"}");
	return peer;
}

static void close_on(fixture *f, p2plink_peer *peer, gint64 now) {
	guint i;
	g_assert_true(g_ptr_array_find(f->peers, peer, &i));
	int node = g_array_index(f->peer_node, int, i);
	g_ptr_array_remove_index(f->peers, i);
	g_array_remove_index(f->peer_node, i);
	g_hash_table_remove(leases, p2plink_peer_id(peer));
	p2plink_registry_close(regs[node], peer, now);
}

static void send_on(int node, p2plink_peer *peer, const char *text, gint64 now) {
	gint64 pause;
	p2plink_registry_frame(regs[node], peer, text, strlen(text), now, &pause);
}

static void assert_no_error_frame(p2plink_conn *conn) {
	for(guint i = 0; i < fake_conn_count(conn); i++) {
		char *type = fake_conn_type(conn, i);
		g_assert_cmpstr(type, !=, "ERROR");
		g_free(type);
	}
}

static void test_relay_across_nodes_same_bytes(fixture *f, gconstpointer data) {
	p2plink_conn *ca, *cb;
	p2plink_peer *alice = connect_on(f, 0, "alice", &ca);
	p2plink_peer *bob = connect_on(f, 1, "bob", &cb);
	send_on(0, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":{\"sdp\":\"v=0\"}}", 0);
	g_assert_cmpuint(pump(0), ==, 1);
	g_assert_cmpstr(fake_conn_frame(cb, 1), ==,
		"{\"type\":\"OFFER\",\"src\":\"alice\",\"dst\":\"bob\",\"payload\":{\"sdp\":\"v=0\"}}");
	send_on(1, bob, "{\"type\":\"ANSWER\",\"dst\":\"alice\",\"payload\":{\"sdp\":\"v=1\"}}", 0);
	pump(0);
	g_assert_cmpstr(fake_conn_frame(ca, 1), ==,
		"{\"type\":\"ANSWER\",\"src\":\"bob\",\"dst\":\"alice\",\"payload\":{\"sdp\":\"v=1\"}}");
	/* Alice goes: bob (on the other node, a counterpart both ways) hears LEAVE */
	close_on(f, alice, 0);
	pump(0);
	g_assert_cmpstr(fake_conn_frame(cb, 2), ==, "{\"type\":\"LEAVE\",\"src\":\"alice\",\"dst\":\"bob\"}");
	g_assert_cmpuint(fake_conn_count(cb), ==, 3);
	/* With id_grace 0 the id is free at once: its lease is released by its node only */
	g_assert_cmpuint(releases->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(releases, 0), ==, "node-a:alice");
	assert_no_error_frame(ca);
	assert_no_error_frame(cb);
}

static void test_queue_on_sender_node_then_retry_delivers_in_order(fixture *f, gconstpointer data) {
	p2plink_conn *ca, *cc;
	p2plink_peer *alice = connect_on(f, 0, "alice", &ca);
	send_on(0, alice, "{\"type\":\"OFFER\",\"dst\":\"carol\",\"payload\":1}", 0);
	pump(0);
	/* Behind the queued one, not routed ahead of it */
	send_on(0, alice, "{\"type\":\"CANDIDATE\",\"dst\":\"carol\",\"payload\":2}", 1);
	g_assert_cmpuint(pump(1), ==, 0);
	connect_on(f, 1, "carol", &cc);
	g_assert_cmpuint(fake_conn_count(cc), ==, 1);
	g_assert_cmpuint(p2plink_registry_remote_retry(regs[0], 2), ==, 2);
	pump(2);
	g_assert_cmpstr(fake_conn_frame(cc, 1), ==, "{\"type\":\"OFFER\",\"src\":\"alice\",\"dst\":\"carol\",\"payload\":1}");
	g_assert_cmpstr(fake_conn_frame(cc, 2), ==,
		"{\"type\":\"CANDIDATE\",\"src\":\"alice\",\"dst\":\"carol\",\"payload\":2}");
	/* Nothing left to route again, nothing to expire */
	g_assert_cmpuint(p2plink_registry_remote_retry(regs[0], 3), ==, 0);
	p2plink_registry_sweep(regs[0], 10 * SEC);
	g_assert_cmpuint(fake_conn_count(ca), ==, 1);
}

static void test_queue_for_id_held_nowhere_expires_from_first_try(fixture *f, gconstpointer data) {
	p2plink_conn *ca;
	p2plink_peer *alice = connect_on(f, 0, "alice", &ca);
	send_on(0, alice, "{\"type\":\"OFFER\",\"dst\":\"nobody\",\"payload\":1}", 0);
	pump(0);
	/* Routed again and again, still nowhere: the queue keeps its age */
	for(gint64 t = 1; t <= 4; t++) {
		g_assert_cmpuint(p2plink_registry_remote_retry(regs[0], t * SEC), ==, 1);
		pump(t * SEC);
	}
	p2plink_registry_sweep(regs[0], 4 * SEC);
	g_assert_cmpuint(fake_conn_count(ca), ==, 1);
	p2plink_registry_sweep(regs[0], 5 * SEC + 1);
	g_assert_cmpstr(fake_conn_frame(ca, 1), ==, "{\"type\":\"EXPIRE\",\"src\":\"nobody\",\"dst\":\"alice\"}");
	g_assert_cmpuint(fake_conn_count(ca), ==, 2);
}

static void test_unreachable_is_expire_and_refused_never_error(fixture *f, gconstpointer data) {
	p2plink_conn *ca, *cb;
	p2plink_peer *alice = connect_on(f, 0, "alice", &ca);
	connect_on(f, 1, "bob", &cb);
	redis_down = TRUE;
	send_on(0, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 0);
	pump(0);
	g_assert_cmpstr(fake_conn_frame(ca, 1), ==, "{\"type\":\"EXPIRE\",\"src\":\"bob\",\"dst\":\"alice\"}");
	char *type = fake_conn_type(ca, 2);
	g_assert_cmpstr(type, ==, "P2PLINK-REFUSED");
	g_free(type);
	g_assert_nonnull(strstr(fake_conn_frame(ca, 2), "\"code\":\"cluster-unavailable\""));
	g_assert_cmpuint(fake_conn_count(cb), ==, 1);
	assert_no_error_frame(ca);
}

/* alice on node-a, bob on node-b and link-only: the cases of the share-link gate across nodes */
/* How many counterparts the admin API reports for a peer (a refused frame must make none) */
static json_int_t counterparts_of(p2plink_registry *reg, p2plink_peer *peer) {
	json_t *info = p2plink_registry_peer_info(reg, peer);
	json_int_t n = json_integer_value(json_object_get(info, "counterparts"));
	json_decref(info);
	return n;
}

static void alice_and_link_only_bob(fixture *f, p2plink_peer **alice, p2plink_conn **ca, p2plink_peer **bob,
		p2plink_conn **cb) {
	*alice = connect_on(f, 0, "alice", ca);
	*bob = connect_on(f, 1, "bob", cb);
	p2plink_registry_set_link_only(regs[1], *bob, TRUE);
}

static void test_link_only_gate_and_grant_across_nodes(fixture *f, gconstpointer data) {
	p2plink_conn *ca, *cb, *cm;
	p2plink_peer *alice, *bob;
	alice_and_link_only_bob(f, &alice, &ca, &bob, &cb);
	p2plink_peer *mallory = connect_on(f, 0, "mallory", &cm);
	/* No grant: refused on bob's node, told on alice's, bob learns nothing */
	send_on(0, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 0);
	pump(0);
	g_assert_cmpuint(fake_conn_count(cb), ==, 1);
	g_assert_cmpstr(fake_conn_frame(ca, 1), ==, "{\"type\":\"EXPIRE\",\"src\":\"bob\",\"dst\":\"alice\"}");
	g_assert_nonnull(strstr(fake_conn_frame(ca, 2), "\"code\":\"link-required\""));
	/* The refused frame made no counterpart: bob hears nothing when alice goes */
	g_assert_cmpint(counterparts_of(regs[0], alice), ==, 0);
	/* A grant redeemed on alice's node for bob's owner opens it for alice, and only for alice */
	g_assert_true(p2plink_registry_grant(regs[0], alice, "bob", p2plink_peer_owner(bob)));
	send_on(0, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":2}", 1);
	pump(1);
	g_assert_cmpstr(fake_conn_frame(cb, 1), ==, "{\"type\":\"OFFER\",\"src\":\"alice\",\"dst\":\"bob\",\"payload\":2}");
	send_on(0, mallory, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":3}", 2);
	pump(2);
	g_assert_cmpuint(fake_conn_count(cb), ==, 2);
	/* A grant naming another owner (the id changed hands) opens nothing */
	g_assert_true(p2plink_registry_grant(regs[0], mallory, "bob", p2plink_peer_owner(alice)));
	send_on(0, mallory, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":4}", 3);
	pump(3);
	g_assert_cmpuint(fake_conn_count(cb), ==, 2);
	/* Bob contacting someone on the other node opens his gate for their answers */
	p2plink_conn *cc;
	connect_on(f, 0, "carol", &cc);
	send_on(1, bob, "{\"type\":\"OFFER\",\"dst\":\"carol\",\"payload\":5}", 4);
	pump(4);
	p2plink_peer *carol = g_ptr_array_index(f->peers, f->peers->len - 1);
	send_on(0, carol, "{\"type\":\"ANSWER\",\"dst\":\"bob\",\"payload\":6}", 5);
	pump(5);
	g_assert_cmpstr(fake_conn_frame(cb, 2), ==, "{\"type\":\"ANSWER\",\"src\":\"carol\",\"dst\":\"bob\",\"payload\":6}");
	assert_no_error_frame(ca);
	assert_no_error_frame(cm);
}

/* The refusal of a frame reaches the sender's node before the answer to its route (two Redis connections): the
 * answer makes no counterpart, so the link-only peer hears no LEAVE from a peer it refused; a later frame that is
 * let through (a grant) makes one as usual */
static void test_refusal_before_route_answer_makes_no_counterpart(fixture *f, gconstpointer data) {
	p2plink_conn *ca, *cb;
	p2plink_peer *alice, *bob;
	alice_and_link_only_bob(f, &alice, &ca, &bob, &cb);
	answers_last = TRUE;
	for(int i = 0; i < 3; i++)
		send_on(0, alice, "{\"type\":\"CANDIDATE\",\"dst\":\"bob\",\"payload\":1}", 0);
	pump(0);
	g_assert_nonnull(strstr(fake_conn_frame(ca, 2), "\"code\":\"link-required\""));
	g_assert_cmpint(counterparts_of(regs[0], alice), ==, 0);
	/* Granted, alice's next frame is delivered, and its late answer does make bob a counterpart */
	g_assert_true(p2plink_registry_grant(regs[0], alice, "bob", p2plink_peer_owner(bob)));
	send_on(0, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":2}", 1);
	pump(1);
	g_assert_cmpstr(fake_conn_frame(cb, 1), ==, "{\"type\":\"OFFER\",\"src\":\"alice\",\"dst\":\"bob\",\"payload\":2}");
	g_assert_cmpint(counterparts_of(regs[0], alice), ==, 1);
	close_on(f, alice, 2);
	pump(2);
	g_assert_cmpstr(fake_conn_frame(cb, 2), ==, "{\"type\":\"LEAVE\",\"src\":\"alice\",\"dst\":\"bob\"}");
	g_assert_cmpuint(fake_conn_count(cb), ==, 3);
}

/* The same race without a grant: alice goes and bob, who refused every frame, hears nothing */
static void test_refused_peer_hears_no_leave_whatever_the_order(fixture *f, gconstpointer data) {
	p2plink_conn *ca, *cb;
	p2plink_peer *alice, *bob;
	alice_and_link_only_bob(f, &alice, &ca, &bob, &cb);
	for(int order = 0; order < 2; order++) {
		answers_last = order == 1;
		send_on(0, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", order);
		pump(order);
	}
	close_on(f, alice, 3);
	pump(3);
	g_assert_cmpuint(fake_conn_count(cb), ==, 1);
	assert_no_error_frame(ca);
}

static void test_node_down_sends_leave_for_its_peers(fixture *f, gconstpointer data) {
	p2plink_conn *ca, *cb, *cc;
	p2plink_peer *alice = connect_on(f, 0, "alice", &ca);
	p2plink_peer *carol = connect_on(f, 0, "carol", &cc);
	connect_on(f, 1, "bob", &cb);
	send_on(0, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 0);
	send_on(0, carol, "{\"type\":\"OFFER\",\"dst\":\"alice\",\"payload\":1}", 0);
	pump(0);
	p2plink_registry_remote_node_down(regs[0], "node-b");
	g_assert_cmpstr(fake_conn_frame(ca, 2), ==, "{\"type\":\"LEAVE\",\"src\":\"bob\",\"dst\":\"alice\"}");
	/* Once: the counterpart is forgotten; a local counterpart (carol) is not on that node */
	p2plink_registry_remote_node_down(regs[0], "node-b");
	g_assert_cmpuint(fake_conn_count(ca), ==, 3);
	g_assert_cmpuint(fake_conn_count(cc), ==, 1);
}

static void test_lease_lost_drops_copy_without_release_or_leave(fixture *f, gconstpointer data) {
	p2plink_conn *ca, *cb;
	p2plink_peer *alice = connect_on(f, 0, "alice", &ca);
	p2plink_peer *bob = connect_on(f, 0, "bob", &cb);
	send_on(0, alice, "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":1}", 0);
	g_assert_cmpuint(fake_conn_count(cb), ==, 2);
	/* Another owner's loss report changes nothing */
	p2plink_registry_remote_lost(regs[0], "alice", p2plink_peer_owner(bob), 1);
	g_assert_false(ca->closed);
	/* Alice reconnected through node-b: her copy here goes, bob is not told she left, nothing is released */
	p2plink_registry_remote_lost(regs[0], "alice", p2plink_peer_owner(alice), 1);
	g_assert_true(ca->closed);
	g_assert_cmpuint(fake_conn_count(cb), ==, 2);
	g_assert_cmpuint(releases->len, ==, 0);
	guint i;
	g_assert_true(g_ptr_array_find(f->peers, alice, &i));
	g_ptr_array_remove_index(f->peers, i);
	g_array_remove_index(f->peer_node, i);
	p2plink_registry_close(regs[0], alice, 2);
	g_assert_cmpuint(releases->len, ==, 0);
	/* Bob's LEAVE when he goes is routed to her through her lease */
	g_hash_table_insert(leases, g_strdup("alice"), GINT_TO_POINTER(2));
	p2plink_conn *ca2;
	p2plink_peer *alice2 = connect_on(f, 1, "alice", &ca2);
	(void)alice2;
	close_on(f, bob, 3);
	pump(3);
	g_assert_cmpstr(fake_conn_frame(ca2, 1), ==, "{\"type\":\"LEAVE\",\"src\":\"bob\",\"dst\":\"alice\"}");
}

static void test_reserved_id_released_only_when_its_grace_ends(fixture *f, gconstpointer data) {
	p2plink_registry_free(regs[0]);
	p2plink_registry_free(regs[1]);
	f->cfg.id_grace = 10 * SEC;
	make_registries(f);
	p2plink_conn *ca;
	p2plink_peer *alice = connect_on(f, 0, "alice", &ca);
	close_on(f, alice, 0);
	g_assert_cmpuint(releases->len, ==, 0);
	p2plink_registry_sweep(regs[0], 5 * SEC);
	g_assert_cmpuint(releases->len, ==, 0);
	p2plink_registry_sweep(regs[0], 11 * SEC);
	g_assert_cmpuint(releases->len, ==, 1);
}

static void test_precheck_matches_open(fixture *f, gconstpointer data) {
	p2plink_conn *ca;
	connect_on(f, 0, "alice", &ca);
	char *owner = NULL;
	gboolean here = FALSE;
	g_assert_cmpint(p2plink_registry_precheck(regs[0], "alice", "tok-alice", &owner, &here), ==, P2PLINK_OPEN_OK);
	g_assert_true(here);
	g_assert_cmpuint(strlen(owner), ==, 64);
	g_assert_true(p2plink_registry_holds(regs[0], "alice", owner));
	g_free(owner);
	g_assert_cmpint(p2plink_registry_precheck(regs[0], "alice", "other", &owner, &here), ==, P2PLINK_OPEN_ID_TAKEN);
	g_assert_null(owner);
	g_assert_cmpint(p2plink_registry_precheck(regs[0], "new", "tok", &owner, &here), ==, P2PLINK_OPEN_OK);
	g_assert_false(here);
	g_assert_false(p2plink_registry_holds(regs[0], "new", owner));
	g_free(owner);
	g_assert_cmpint(p2plink_registry_precheck(regs[0], "bad id!", "tok", &owner, &here), ==, P2PLINK_OPEN_INVALID);
}

static void test_remote_frame_roundtrip_and_malformed_bodies(void) {
	p2plink_remote_frame in = { P2PLINK_REMOTE_RELAY, P2PLINK_MSG_OFFER, "alice",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "", "node-a", 42, "{\"x\":\"é\"}", 10,
		G_GUINT64_CONSTANT(0x0102030405060708) };
	size_t len;
	char *body = p2plink_remote_frame_encode(&in, &len);
	p2plink_remote_frame out;
	g_assert_true(p2plink_remote_frame_decode(body, len, &out));
	g_assert_cmpint(out.kind, ==, P2PLINK_REMOTE_RELAY);
	g_assert_cmpint(out.type, ==, P2PLINK_MSG_OFFER);
	g_assert_cmpstr(out.src, ==, "alice");
	g_assert_cmpstr(out.origin, ==, "node-a");
	g_assert_cmpint(out.queued_since, ==, 42);
	g_assert_cmpuint(out.seq, ==, G_GUINT64_CONSTANT(0x0102030405060708));
	g_assert_cmpuint(out.len, ==, 10);
	g_assert_cmpmem(out.text, out.len, in.text, 10);
	p2plink_remote_frame_clear(&out);
	/* Every truncation is refused */
	for(size_t n = 0; n < len - 10; n++)
		g_assert_false(p2plink_remote_frame_decode(body, n, &out));
	/* Invalid UTF-8 in the frame */
	char *bad = g_memdup2(body, len);
	bad[len - 3] = (char)0xff;
	g_assert_false(p2plink_remote_frame_decode(bad, len, &out));
	g_free(bad);
	g_free(body);
	/* An invalid sender id, an upper-case owner, an unknown kind, a node id outside the alphabet */
	p2plink_remote_frame bads[] = {
		{ P2PLINK_REMOTE_RELAY, P2PLINK_MSG_OFFER, "bad id!", in.src_owner, "", "node-a", 0, "{}", 2, 0 },
		{ P2PLINK_REMOTE_RELAY, P2PLINK_MSG_OFFER, "alice",
			"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "", "node-a", 0, "{}", 2, 0 },
		{ 'Z', P2PLINK_MSG_OFFER, "alice", in.src_owner, "", "node-a", 0, "{}", 2, 0 },
		{ P2PLINK_REMOTE_RELAY, P2PLINK_MSG_OFFER, "alice", in.src_owner, "", "node a", 0, "{}", 2, 0 },
		{ P2PLINK_REMOTE_RELAY, P2PLINK_MSG_HEARTBEAT, "alice", in.src_owner, "", "node-a", 0, "{}", 2, 0 },
	};
	for(guint i = 0; i < G_N_ELEMENTS(bads); i++) {
		body = p2plink_remote_frame_encode(&bads[i], &len);
		g_assert_false(p2plink_remote_frame_decode(body, len, &out));
		g_free(body);
	}
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add("/registry_cluster/" path, fixture, NULL, set_up, fn, tear_down)
	ADD("relay_across_nodes_same_bytes", test_relay_across_nodes_same_bytes);
	ADD("queue_on_sender_node_then_retry_delivers_in_order", test_queue_on_sender_node_then_retry_delivers_in_order);
	ADD("queue_for_id_held_nowhere_expires_from_first_try", test_queue_for_id_held_nowhere_expires_from_first_try);
	ADD("unreachable_is_expire_and_refused_never_error", test_unreachable_is_expire_and_refused_never_error);
	ADD("link_only_gate_and_grant_across_nodes", test_link_only_gate_and_grant_across_nodes);
	ADD("refusal_before_route_answer_makes_no_counterpart", test_refusal_before_route_answer_makes_no_counterpart);
	ADD("refused_peer_hears_no_leave_whatever_the_order", test_refused_peer_hears_no_leave_whatever_the_order);
	ADD("node_down_sends_leave_for_its_peers", test_node_down_sends_leave_for_its_peers);
	ADD("lease_lost_drops_copy_without_release_or_leave", test_lease_lost_drops_copy_without_release_or_leave);
	ADD("reserved_id_released_only_when_its_grace_ends", test_reserved_id_released_only_when_its_grace_ends);
	ADD("precheck_matches_open", test_precheck_matches_open);
	g_test_add_func("/registry_cluster/remote_frame_roundtrip_and_malformed_bodies",
		test_remote_frame_roundtrip_and_malformed_bodies);
	return g_test_run();
}
