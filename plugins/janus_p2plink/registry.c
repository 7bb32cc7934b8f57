/*
 * registry.c — peer table, handshake rules, routing, offline queues, liveness. See registry.h.
 *
 * Ownership: the peers table holds one reference on each registered peer; the transport holds one from
 * peer_open until peer_close; a pending Janus bind holds one until it is claimed (then the plugin session owns it).
 * A peer holds one reference on its connection until it is closed, kicked or replaced (peer->conn == NULL after).
 * A peer object lives for one connection: a re-attach with the same id and token creates a new object and the old
 * one is marked unregistered, so late events from the old socket cannot touch the new owner of the id.
 *
 * Reservations: when a socket goes (close, alive timeout, Janus session gone) the peer object moves from the peers
 * table to the reserved table (with the table's reference) for id_grace, keeping its token, owner, link-only flag,
 * grants, contacted set and counterparts. Only the same token gets OPEN for the id meanwhile; its new peer object
 * takes that state over. An admin kick frees the id at once. At most concurrent_limit reservations are kept: when
 * full, the oldest one ends early (reservations are a queue in expiry order, so that and the sweep are O(1) per
 * reservation, never a scan).
 */

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "counters.h"
#include "links.h"
#include "registry_private.h"

void p2plink_registry_config_defaults(p2plink_registry_config *config) {
	config->concurrent_limit = 5000;
	config->expire_timeout = 5 * G_USEC_PER_SEC;
	config->alive_timeout = 60 * G_USEC_PER_SEC;
	config->queue_max_messages = 128;
	config->queue_max_bytes = 256 * 1024;
	config->queue_total_bytes = 64 * 1024 * 1024;
	config->max_counterparts = 256;
	config->max_grants = 256;
	/* A call setup is an OFFER, an ANSWER and a few CANDIDATEs per connection; a heartbeat every 5 s. A stock
	 * client opening 100 DataConnections at once sends about 420 frames (measured: see SECURITY.md): the burst takes
	 * that without pacing; beyond it frames are paced (read later), never dropped. The burst is also half of a
	 * receiver's write queue (the transport's write_queue_max_frames, 1,024): one sender's burst alone cannot make
	 * its receiver a "slow consumer". */
	config->frame_rate.per_second = 500;
	config->frame_rate.burst = 500;
	/* FLOOD: paced for 10 s without the bucket ever getting back to half: that is >= ~475 frames/s sustained for
	 * 10 s after the whole burst, some 5,000 frames beyond it, where the biggest real burst we know of (100
	 * DataConnections at once) is about 420. Pacing already caps what a flooder costs (frame_rate frames/s); this
	 * only frees the socket of a client that will obviously never stop. */
	config->flood_after = 10 * G_USEC_PER_SEC;
	/* Longer than the stock client's peer.reconnect() and a reload of our app (both measured well under 5 s on
	 * loopback, see the jcfg sample), with room for a slow phone network */
	config->id_grace = 30 * G_USEC_PER_SEC;
	config->max_sdp_bytes = 64 * 1024;
	config->max_candidate_bytes = 4 * 1024;
	config->max_control_bytes = 1024;
}

gint64 p2plink_pace_frame(p2plink_bucket *bucket, const p2plink_rate *rate, gint64 now) {
	if(rate->per_second <= 0)
		return 0;
	/* A frame that finds the bucket empty (the transport had already read it when the pause began) is processed
	 * all the same and owed: the bucket goes below zero and the next pause is longer by that much */
	if(!p2plink_bucket_take(bucket, rate, now))
		bucket->tokens -= 1.0;
	if(bucket->tokens >= 1.0)
		return 0;
	/* Until the next whole token, rounded up so the next frame finds it there */
	return (gint64)((1.0 - bucket->tokens) * G_USEC_PER_SEC / rate->per_second) + 1;
}

/* Peers */

p2plink_peer *p2plink_peer_ref(p2plink_peer *peer) {
	g_atomic_ref_count_inc(&peer->ref);
	return peer;
}

void p2plink_peer_unref(p2plink_peer *peer) {
	if(peer == NULL || !g_atomic_ref_count_dec(&peer->ref))
		return;
	/* By now the registry dropped the connection reference (close/kick/replace/free all do) */
	g_free(peer->id);
	/* A token is a credential: wipe it (OPENSSL_cleanse is never optimised away, unlike memset before free) */
	if(peer->token != NULL)
		OPENSSL_cleanse(peer->token, strlen(peer->token));
	g_free(peer->token);
	g_free(peer->owner);
	g_free(peer->ip);
	g_clear_pointer(&peer->counterparts, g_hash_table_unref);
	g_clear_pointer(&peer->contacted, g_hash_table_unref);
	g_clear_pointer(&peer->grants, g_hash_table_unref);
	g_free(peer);
}

const char *p2plink_peer_id(const p2plink_peer *peer) {
	return peer->id;
}

const char *p2plink_peer_owner(const p2plink_peer *peer) {
	return peer->owner;
}

static p2plink_peer *peer_new(p2plink_conn *conn, const char *id, const char *token, const char *ip, gint64 now) {
	p2plink_peer *peer = g_new0(p2plink_peer, 1);
	g_atomic_ref_count_init(&peer->ref);
	peer->id = g_strdup(id);
	peer->token = g_strdup(token);
	peer->owner = p2plink_token_hash(token);
	peer->ip = g_strdup(ip ? ip : "");
	peer->conn = conn;
	peer->connected_at = now;
	peer->connected_wall = g_get_real_time();
	peer->last_seen = now;
	/* The bind nonce is a capability: 128 bits from the CSPRNG, never sent to any client */
	unsigned char raw[P2PLINK_BIND_NONCE_LEN / 2];
	if(peer->owner == NULL || RAND_bytes(raw, sizeof(raw)) != 1) {
		p2plink_peer_unref(peer);
		return NULL;
	}
	for(size_t i = 0; i < sizeof(raw); i++)
		g_snprintf(peer->nonce + 2 * i, 3, "%02x", raw[i]);
	return peer;
}

/* A peer's tables (counterparts, contacted, grants) */

/* Made at the first entry, not with the peer: an idle peer never needs them, and the three cost ~0.5 KiB a peer
 * (bench/idle_heap.mjs). Keys are copies; value_free is g_free for the maps, NULL for the contacted set. */
static GHashTable *peer_table(GHashTable **t, GDestroyNotify value_free) {
	if(*t == NULL)
		*t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, value_free);
	return *t;
}

/* Into counterparts or grants (a map of copied strings) */
static void peer_table_insert(GHashTable **t, const char *key, const char *value) {
	g_hash_table_insert(peer_table(t, g_free), g_strdup(key), g_strdup(value));
}

static void copy_set(GHashTable **to, GHashTable *from) {
	peer_table_iter iter;
	gpointer key;
	peer_table_iter_init(&iter, from);
	while(peer_table_iter_next(&iter, &key, NULL))
		g_hash_table_add(peer_table(to, NULL), g_strdup(key));
}

static void copy_map(GHashTable **to, GHashTable *from) {
	peer_table_iter iter;
	gpointer key, value;
	peer_table_iter_init(&iter, from);
	while(peer_table_iter_next(&iter, &key, &value))
		peer_table_insert(to, key, value);
}

/* Bounded set insert: FALSE when full (the caller decides what a full set means) */
gboolean set_add_bounded(GHashTable **set, const char *key, guint max) {
	if(peer_table_contains(*set, key))
		return TRUE;
	if(peer_table_size(*set) >= max)
		return FALSE;
	g_hash_table_add(peer_table(set, NULL), g_strdup(key));
	return TRUE;
}

/* Registry */

p2plink_registry *p2plink_registry_new(const p2plink_registry_config *config, const p2plink_transport_ops *ops) {
	p2plink_registry *reg = g_new0(p2plink_registry, 1);
	reg->cfg = *config;
	reg->ops = *ops;
	reg->cluster = ops->remote_route != NULL;
	g_mutex_init(&reg->mutex);
	g_mutex_init(&reg->delivery);
	reg->peers = g_hash_table_new(g_str_hash, g_str_equal);
	reg->binds = g_hash_table_new(g_str_hash, g_str_equal);
	reg->queues = g_hash_table_new(g_str_hash, g_str_equal);
	reg->reserved = g_hash_table_new(g_str_hash, g_str_equal);
	reg->refused_early = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_queue_init(&reg->reservations);
	return reg;
}

void p2plink_registry_set_observer(p2plink_registry *reg, p2plink_registry_observer observer, void *data) {
	g_mutex_lock(&reg->mutex);
	reg->observer = observer;
	reg->observer_data = data;
	g_mutex_unlock(&reg->mutex);
}

/* Observer events are recorded under the lock and delivered after it is released (unlock_and_deliver), so an
 * event handler never holds up routing */
typedef struct pending_event {
	p2plink_registry_event event;
	char *id, *other;
} pending_event;

void notify(p2plink_registry *reg, p2plink_registry_event event, const char *id, const char *other) {
	if(reg->observer == NULL)
		return;
	pending_event *e = g_new0(pending_event, 1);
	e->event = event;
	e->id = g_strdup(id);
	e->other = g_strdup(other);
	g_queue_push_tail(&reg->events, e);
}

static void pending_event_free(pending_event *e) {
	g_free(e->id);
	g_free(e->other);
	g_free(e);
}

/* Releases the registry lock, then delivers the events recorded so far. Deliverers take turns on reg->delivery
 * and each takes everything pending at once, so events from several threads still arrive in the order they were
 * recorded; the registry lock is held only to take the list. */
void unlock_and_deliver(p2plink_registry *reg) {
	gboolean pending = reg->events.length > 0;
	g_mutex_unlock(&reg->mutex);
	if(!pending)
		return;
	g_mutex_lock(&reg->delivery);
	g_mutex_lock(&reg->mutex);
	GQueue events = reg->events;
	g_queue_init(&reg->events);
	p2plink_registry_observer observer = reg->observer;
	void *data = reg->observer_data;
	g_mutex_unlock(&reg->mutex);
	pending_event *e;
	while((e = g_queue_pop_head(&events)) != NULL) {
		if(observer != NULL)
			observer(e->event, e->id, e->other, data);
		pending_event_free(e);
	}
	g_mutex_unlock(&reg->delivery);
}

/* Liveness order: peers seen least recently first. `now` only moves forward in the plugin, so the right place is
 * the tail and this is O(1); the walk back only keeps the order true for a caller whose clock went back. */
static void alive_touch_locked(p2plink_registry *reg, p2plink_peer *peer, gint64 now) {
	peer->last_seen = now;
	if(peer->alive != NULL)
		g_queue_unlink(&reg->alive, peer->alive);
	else
		peer->alive = g_list_alloc();
	peer->alive->data = peer;
	GList *after = reg->alive.tail;
	while(after != NULL && ((p2plink_peer *)after->data)->last_seen > now)
		after = after->prev;
	if(after == NULL)
		g_queue_push_head_link(&reg->alive, peer->alive);
	else if(after == reg->alive.tail)
		g_queue_push_tail_link(&reg->alive, peer->alive);
	else {
		/* g_queue has no insert-link-after: insert before the next node */
		g_queue_insert_before_link(&reg->alive, after->next, peer->alive);
	}
}

void alive_forget_locked(p2plink_registry *reg, p2plink_peer *peer) {
	if(peer->alive == NULL)
		return;
	g_queue_unlink(&reg->alive, peer->alive);
	g_list_free_1(peer->alive);
	peer->alive = NULL;
}

void queue_free(p2plink_registry *reg, offline_queue *q) {
	queued_frame *f;
	reg->queued_frames -= q->frames.length;
	while((f = g_queue_pop_head(&q->frames)) != NULL) {
		g_free(f->src);
		g_free(f->src_owner);
		g_free(f->src_node);
		g_free(f->grant);
		g_free(f->text);
		g_free(f);
	}
	reg->queued_bytes -= q->bytes;
	if(q->order != NULL)
		g_queue_delete_link(&reg->queue_order, q->order);
	g_free(q->dst);
	g_free(q);
}

/* Forget the peer's connection: after this the plugin never sends to it again */
void peer_release_conn_locked(p2plink_registry *reg, p2plink_peer *peer) {
	if(peer->conn == NULL)
		return;
	reg->ops.unref(peer->conn);
	peer->conn = NULL;
}

void send_text_locked(p2plink_registry *reg, p2plink_peer *peer, const char *text, size_t len) {
	if(peer->conn != NULL)
		reg->ops.send(peer->conn, text, len);
}

/* A frame refused after OPEN. Never ERROR: peerjs 1.5.x aborts its Peer on any. The sender gets EXPIRE
 * {src: dst, dst: sender} when dst is a usable id (the stock client's non-fatal "peer-unavailable", so a
 * DataConnection or call it started fails instead of hanging) and always our P2PLINK-REFUSED frame with the code
 * and the sentence (ignored by the stock client, read by our app). A refused LEAVE or EXPIRE gets no EXPIRE back:
 * the stock client would report a connection it is closing anyway as unavailable. */
void refuse_locked(p2plink_registry *reg, p2plink_peer *peer, const char *dst, p2plink_msg_type type,
		const char *code, const char *msg) {
	size_t len;
	if(dst != NULL && type != P2PLINK_MSG_LEAVE && type != P2PLINK_MSG_EXPIRE) {
		char *expire = p2plink_frame_encode_relay(P2PLINK_MSG_EXPIRE, dst, peer->id, NULL, 0, &len);
		send_text_locked(reg, peer, expire, len);
		g_free(expire);
	}
	char *text = p2plink_frame_encode_refused(dst, peer->id, code, msg, type, &len);
	send_text_locked(reg, peer, text, len);
	g_free(text);
	reg->rejected++;
	p2plink_counters_refused(type, code);
}

/* Whoever holds an id: connected, or reserved for its owner */
p2plink_peer *held_locked(p2plink_registry *reg, const char *id) {
	p2plink_peer *peer = g_hash_table_lookup(reg->peers, id);
	return peer != NULL ? peer : g_hash_table_lookup(reg->reserved, id);
}

/* End a reservation: the id is free (drops the reserved table's reference) */
void unreserve_locked(p2plink_registry *reg, p2plink_peer *peer) {
	g_hash_table_remove(reg->reserved, peer->id);
	g_queue_delete_link(&reg->reservations, peer->reservation);
	peer->reservation = NULL;
	peer->reserved = FALSE;
	p2plink_peer_unref(peer);
}

/* Keep a dropped peer's id for its owner; takes over the peers table's reference */
static void reserve_locked(p2plink_registry *reg, p2plink_peer *peer, gint64 now) {
	/* Bounded: when full the oldest reservation ends early, so a mass disconnect cannot grow memory */
	while(g_hash_table_size(reg->reserved) >= MAX(reg->cfg.concurrent_limit, 1)) {
		p2plink_peer *oldest = g_queue_peek_head(&reg->reservations);
		cluster_release_locked(reg, oldest);
		unreserve_locked(reg, oldest);
	}
	peer->reserved = TRUE;
	peer->reserved_until = now + reg->cfg.id_grace;
	g_hash_table_insert(reg->reserved, peer->id, peer);
	g_queue_push_tail(&reg->reservations, peer);
	peer->reservation = reg->reservations.tail;
}

/* Unregister the peer (if it still owns its id) and tell everyone it signaled with that it left. reserve: keep
 * the id for its owner for id_grace (socket closed, timeout); FALSE frees it at once (admin kick). */
static void peer_drop_locked(p2plink_registry *reg, p2plink_peer *peer, p2plink_registry_event why, gboolean reserve,
		gint64 now) {
	if(g_hash_table_lookup(reg->binds, peer->nonce) == peer) {
		g_hash_table_remove(reg->binds, peer->nonce);
		p2plink_peer_unref(peer);
	}
	if(!peer->registered)
		return;
	peer->registered = FALSE;
	alive_forget_locked(reg, peer);
	g_hash_table_remove(reg->peers, peer->id);
	peer_table_iter iter;
	gpointer key;
	peer_table_iter_init(&iter, peer->counterparts);
	while(peer_table_iter_next(&iter, &key, NULL)) {
		p2plink_peer *other = g_hash_table_lookup(reg->peers, key);
		size_t len;
		char *text = p2plink_frame_encode_relay(P2PLINK_MSG_LEAVE, peer->id, key, NULL, 0, &len);
		if(other != NULL) {
			peer_table_remove(other->counterparts, peer->id);
			send_text_locked(reg, other, text, len);
		} else if(reg->cluster) {
			/* Wherever it is now: its node finds it through its lease */
			cluster_notice_locked(reg, P2PLINK_REMOTE_LEAVE, key, peer->id, text, len);
			continue;
		}
		g_free(text);
	}
	notify(reg, why, peer->id, NULL);
	if(reserve && reg->cfg.id_grace > 0) {
		/* Its counterparts stay in its set: they are linked again if the owner comes back */
		reserve_locked(reg, peer, now);
		return;
	}
	cluster_release_locked(reg, peer);
	g_clear_pointer(&peer->counterparts, g_hash_table_unref);
	p2plink_peer_unref(peer);	/* the peers table's reference */
}

/* Bounded: a peer that signals thousands of ids cannot grow this map (it only loses LEAVE-on-disconnect). A known
 * counterpart's node is updated: the peer may have moved to another node since */
void counterpart_add_locked(p2plink_registry *reg, p2plink_peer *peer, const char *id, const char *node) {
	gpointer known;
	/* Called for every relayed frame: a known counterpart on the same node costs one lookup, no allocation */
	if(peer->counterparts != NULL && g_hash_table_lookup_extended(peer->counterparts, id, NULL, &known)) {
		if(g_strcmp0(known, node) != 0)
			peer_table_insert(&peer->counterparts, id, node);
		return;
	}
	if(peer_table_size(peer->counterparts) >= reg->cfg.max_counterparts)
		return;
	peer_table_insert(&peer->counterparts, id, node);
}

static void remember_counterparts_locked(p2plink_registry *reg, p2plink_peer *a, p2plink_peer *b) {
	counterpart_add_locked(reg, a, b->id, NULL);
	counterpart_add_locked(reg, b, a->id, NULL);
}

/* Gated signaling: may `from` send this frame to a link-only `to`? (to may be reserved: the gate holds while its
 * owner is away, and for frames queued for it) */
static gboolean link_gate_allows_locked(p2plink_peer *from, p2plink_peer *to) {
	if(!to->link_only)
		return TRUE;
	/* A grant from a redeemed link, or an answer to someone the link-only peer contacted itself */
	const char *owner = peer_table_lookup(from->grants, to->id);
	return (owner != NULL && strcmp(owner, to->owner) == 0) || peer_table_contains(to->contacted, from->id);
}

static void forget_counterparts_locked(p2plink_peer *a, p2plink_peer *b) {
	peer_table_remove(a->counterparts, b->id);
	peer_table_remove(b->counterparts, a->id);
}

static gboolean tokens_equal(const char *a, const char *b) {
	size_t la = strlen(a), lb = strlen(b);
	return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

/* Takes ownership of text */
static void reject_conn(p2plink_registry *reg, p2plink_conn *conn, char *text, const char *reason) {
	reg->ops.send(conn, text, strlen(text));
	reg->ops.close(conn, reason);
	g_free(text);
}

/* Deliver what was queued for a peer that just connected, in order, after OPEN. The link-only gate is checked
 * again here (the frame may have been queued before the id was known to be link-only, or the grant is gone): a
 * frame that fails it is dropped and its sender, if connected, told once (EXPIRE + link-required). Delivery never
 * adds to `contacted`: only the link-only peer's own frames open its gate. */
void flush_queue_locked(p2plink_registry *reg, p2plink_peer *peer) {
	offline_queue *q = NULL;
	if(!g_hash_table_steal_extended(reg->queues, peer->id, NULL, (gpointer *)&q))
		return;
	GHashTable *told = NULL;
	for(GList *l = q->frames.head; l != NULL; l = l->next) {
		queued_frame *f = l->data;
		if(f->src_node != NULL) {
			/* From a peer on another node: its grant came with the frame, the refusal goes back there */
			if(peer->link_only && !remote_gate_allows_locked(f->src, f->grant, peer)) {
				if(told == NULL)
					told = g_hash_table_new(g_str_hash, g_str_equal);
				if(!g_hash_table_contains(told, f->src)) {
					g_hash_table_add(told, f->src);
					cluster_refuse_remote_locked(reg, f->src, peer->id, f->type, "link-required", LINK_REQUIRED_MSG,
						NULL, 0);
				}
				continue;
			}
			send_text_locked(reg, peer, f->text, f->len);
			counterpart_add_locked(reg, peer, f->src, f->src_node);
			continue;
		}
		p2plink_peer *held = held_locked(reg, f->src);
		/* The id may have changed hands since: the sender is the owner that queued the frame, or nobody */
		p2plink_peer *sender = held != NULL && strcmp(held->owner, f->src_owner) == 0 ? held : NULL;
		if(peer->link_only && (sender == NULL || !link_gate_allows_locked(sender, peer))) {
			if(sender != NULL && sender->conn != NULL) {
				if(told == NULL)
					told = g_hash_table_new(g_str_hash, g_str_equal);
				if(!g_hash_table_contains(told, f->src)) {
					g_hash_table_add(told, f->src);
					refuse_locked(reg, sender, peer->id, f->type, "link-required", LINK_REQUIRED_MSG);
				}
			}
			continue;
		}
		send_text_locked(reg, peer, f->text, f->len);
		if(sender != NULL && sender->conn != NULL)
			remember_counterparts_locked(reg, sender, peer);
	}
	if(told != NULL)
		g_hash_table_destroy(told);
	queue_free(reg, q);
}

/* The owner is back: its new peer object takes over what the old one (connected or reserved) held */
static void take_over_locked(p2plink_registry *reg, p2plink_peer *peer, p2plink_peer *old) {
	copy_map(&peer->counterparts, old->counterparts);
	copy_set(&peer->contacted, old->contacted);
	copy_map(&peer->grants, old->grants);
	peer->link_only = old->link_only;
	/* A reconnect does not refill the frame bucket, or reconnecting would be a way around pacing */
	peer->frames = old->frames;
	peer->pacing = old->pacing;
	peer->paced_since = old->paced_since;
	if(!old->reserved)
		return;
	/* Those it signaled with before it went (and who are still here) hear when it leaves again */
	peer_table_iter iter;
	gpointer key;
	peer_table_iter_init(&iter, peer->counterparts);
	while(peer_table_iter_next(&iter, &key, NULL)) {
		p2plink_peer *other = g_hash_table_lookup(reg->peers, key);
		if(other != NULL)
			counterpart_add_locked(reg, other, peer->id, NULL);
	}
	unreserve_locked(reg, old);
}

p2plink_open_result p2plink_registry_precheck(p2plink_registry *reg, const char *id, const char *token,
		char **owner_out, gboolean *held_here) {
	*owner_out = NULL;
	*held_here = FALSE;
	if(!p2plink_id_is_valid(id) || !p2plink_token_is_valid(token))
		return P2PLINK_OPEN_INVALID;
	g_mutex_lock(&reg->mutex);
	p2plink_peer *existing = g_hash_table_lookup(reg->peers, id);
	p2plink_peer *held = existing != NULL ? existing : g_hash_table_lookup(reg->reserved, id);
	p2plink_open_result result = P2PLINK_OPEN_OK;
	if(held != NULL && !tokens_equal(held->token, token))
		result = P2PLINK_OPEN_ID_TAKEN;
	else if(existing == NULL && g_hash_table_size(reg->peers) + reg->remote_peers >= reg->cfg.concurrent_limit)
		result = P2PLINK_OPEN_LIMIT;
	*held_here = held != NULL;
	g_mutex_unlock(&reg->mutex);
	if(result == P2PLINK_OPEN_OK && (*owner_out = p2plink_token_hash(token)) == NULL)
		result = P2PLINK_OPEN_UNAVAILABLE;
	return result;
}

p2plink_peer *p2plink_registry_open(p2plink_registry *reg, p2plink_conn *conn, const char *id, const char *token,
		const char *client_ip, gint64 now, char nonce_out[P2PLINK_BIND_NONCE_LEN + 1], p2plink_open_result *result) {
	return p2plink_registry_open_as(reg, conn, id, token, client_ip, FALSE, now, nonce_out, result);
}

p2plink_peer *p2plink_registry_open_as(p2plink_registry *reg, p2plink_conn *conn, const char *id, const char *token,
		const char *client_ip, gboolean link_only, gint64 now, char nonce_out[P2PLINK_BIND_NONCE_LEN + 1],
		p2plink_open_result *result) {
	size_t len;
	if(!p2plink_id_is_valid(id) || !p2plink_token_is_valid(token)) {
		/* The stock client validates ids with the same rule, so only hand-made clients get here */
		reject_conn(reg, conn, p2plink_frame_encode_error("invalid-id",
			"Invalid id or token: ids are letters and digits, optionally joined by single spaces, '_' or '-'", NULL),
			"invalid id");
		*result = P2PLINK_OPEN_INVALID;
		return NULL;
	}
	g_mutex_lock(&reg->mutex);
	p2plink_peer *existing = g_hash_table_lookup(reg->peers, id);
	p2plink_peer *held = existing != NULL ? existing : g_hash_table_lookup(reg->reserved, id);
	/* One answer for every held state (connected or reserved, link-only or not): ID-TAKEN must not tell anyone
	 * whether a hidden link-only peer is online */
	if(held != NULL && !tokens_equal(held->token, token)) {
		g_mutex_unlock(&reg->mutex);
		reject_conn(reg, conn, p2plink_frame_encode_id_taken(NULL), "id taken");
		*result = P2PLINK_OPEN_ID_TAKEN;
		return NULL;
	}
	/* In a cluster the limit is the whole cluster's (the other nodes' counts are a heartbeat old: a burst of
	 * opens on several nodes at once can pass it by what they accept in one heartbeat_ms) */
	if(existing == NULL && g_hash_table_size(reg->peers) + reg->remote_peers >= reg->cfg.concurrent_limit) {
		g_mutex_unlock(&reg->mutex);
		reject_conn(reg, conn, p2plink_frame_encode_error("concurrent-limit",
			"Server has reached its concurrent user limit", NULL), "limit");
		*result = P2PLINK_OPEN_LIMIT;
		return NULL;
	}
	p2plink_peer *peer = peer_new(conn, id, token, client_ip, now);
	if(peer == NULL) {
		g_mutex_unlock(&reg->mutex);
		reject_conn(reg, conn, p2plink_frame_encode_error("server-error", "Server could not register this peer", NULL),
			"no randomness");
		*result = P2PLINK_OPEN_UNAVAILABLE;
		return NULL;
	}
	reg->ops.ref(conn);
	p2plink_bucket_init(&peer->frames, &reg->cfg.frame_rate, now);
	if(held != NULL)
		take_over_locked(reg, peer, held);
	/* Link-only on the node it came from (cluster): hidden before anything queued for it is let through */
	if(link_only)
		peer->link_only = TRUE;
	if(existing != NULL) {
		/* Same id and token: the client reconnected (peer.reconnect(), or a new socket before the old one timed
		 * out). The new socket takes over; unlike the reference server we answer OPEN, or the client hangs. */
		existing->registered = FALSE;
		alive_forget_locked(reg, existing);
		g_hash_table_remove(reg->peers, existing->id);
		if(existing->conn != NULL)
			reg->ops.close(existing->conn, "replaced by a new connection");
		peer_release_conn_locked(reg, existing);
		p2plink_peer_unref(existing);
	}
	peer->registered = TRUE;
	alive_touch_locked(reg, peer, now);
	g_hash_table_insert(reg->peers, peer->id, p2plink_peer_ref(peer));
	g_hash_table_insert(reg->binds, peer->nonce, p2plink_peer_ref(peer));
	char *open = p2plink_frame_encode_open(&len);
	send_text_locked(reg, peer, open, len);
	g_free(open);
	flush_queue_locked(reg, peer);
	reg->opened++;
	notify(reg, P2PLINK_EVENT_PEER_OPEN, peer->id, peer->ip);
	unlock_and_deliver(reg);
	g_strlcpy(nonce_out, peer->nonce, P2PLINK_BIND_NONCE_LEN + 1);
	*result = P2PLINK_OPEN_OK;
	return peer;	/* the reference from peer_new goes to the caller */
}

/* Queue a frame for a destination that is not connected; FALSE when a bound says no */
gboolean enqueue_locked(p2plink_registry *reg, const char *dst, const char *src, const char *src_owner,
		const char *src_node, const char *grant, p2plink_msg_type type, char *text, size_t len, gint64 now) {
	offline_queue *q = g_hash_table_lookup(reg->queues, dst);
	if(q != NULL && (q->frames.length >= reg->cfg.queue_max_messages || q->bytes + len > reg->cfg.queue_max_bytes))
		return FALSE;
	if(reg->queued_bytes + len > reg->cfg.queue_total_bytes)
		return FALSE;
	if(q == NULL) {
		q = g_new0(offline_queue, 1);
		q->dst = g_strdup(dst);
		q->created = now;
		g_queue_init(&q->frames);
		g_hash_table_insert(reg->queues, q->dst, q);
		/* Creation order (the tail, unless the caller's clock went back), so the sweeper checks only the head */
		GList *after = reg->queue_order.tail;
		while(after != NULL && ((offline_queue *)after->data)->created > now)
			after = after->prev;
		if(after == NULL) {
			g_queue_push_head(&reg->queue_order, q);
			q->order = reg->queue_order.head;
		} else {
			g_queue_insert_after(&reg->queue_order, after, q);
			q->order = after->next;
		}
	}
	queued_frame *f = g_new0(queued_frame, 1);
	f->src = g_strdup(src);
	f->src_owner = g_strdup(src_owner);
	f->src_node = g_strdup(src_node);
	f->grant = grant != NULL && *grant != '\0' ? g_strdup(grant) : NULL;
	f->type = type;
	f->text = text;
	f->len = len;
	g_queue_push_tail(&q->frames, f);
	q->bytes += len;
	reg->queued_bytes += len;
	reg->queued_frames++;
	reg->queued++;
	return TRUE;
}

static p2plink_frame_result route(p2plink_registry *reg, p2plink_peer *peer, p2plink_frame *frame, gint64 now) {
	size_t len;
	char *text = p2plink_frame_encode_relay(frame->type, peer->id, frame->dst, frame->payload, frame->payload_len,
		&len);
	g_mutex_lock(&reg->mutex);
	if(!peer->registered) {
		/* Replaced or kicked while this frame was in flight: its socket is closing, drop it */
		g_mutex_unlock(&reg->mutex);
		g_free(text);
		return P2PLINK_FRAME_ROUTED;
	}
	alive_touch_locked(reg, peer, now);
	peer->frames_in++;
	p2plink_peer *dst = g_hash_table_lookup(reg->peers, frame->dst);
	/* Gated when sent and when queued: a reserved link-only id is as closed as a connected one */
	p2plink_peer *held = dst != NULL ? dst : g_hash_table_lookup(reg->reserved, frame->dst);
	if(held != NULL && !link_gate_allows_locked(peer, held)) {
		/* The target learns nothing; the sender learns only that a link is needed */
		g_free(text);
		refuse_locked(reg, peer, frame->dst, frame->type, "link-required", LINK_REQUIRED_MSG);
		g_mutex_unlock(&reg->mutex);
		return P2PLINK_FRAME_REFUSED;
	}
	if(held == NULL && reg->cluster) {
		/* Maybe on another node: the answer (delivered, queue it, unreachable) comes back in remote_routed */
		cluster_route_locked(reg, peer, frame->dst, frame->type, text, len, now);
		g_mutex_unlock(&reg->mutex);
		return P2PLINK_FRAME_ROUTED;
	}
	if(dst != NULL && dst->conn != NULL) {
		send_text_locked(reg, dst, text, len);
		if(frame->type != P2PLINK_MSG_LEAVE && frame->type != P2PLINK_MSG_EXPIRE &&
				!peer_table_contains(dst->contacted, peer->id))
			set_add_bounded(&peer->contacted, dst->id, reg->cfg.max_counterparts);
		if(frame->type == P2PLINK_MSG_LEAVE)
			forget_counterparts_locked(peer, dst);
		else
			remember_counterparts_locked(reg, peer, dst);
		reg->relayed++;
		p2plink_counters_relayed(frame->type);
		g_free(text);
	} else if(frame->type == P2PLINK_MSG_LEAVE || frame->type == P2PLINK_MSG_EXPIRE) {
		/* Like the reference: nobody to tell, nothing to keep */
		g_free(text);
	} else if(!enqueue_locked(reg, frame->dst, peer->id, peer->owner, NULL, NULL, frame->type, text, len, now)) {
		g_free(text);
		refuse_locked(reg, peer, frame->dst, frame->type, "queue-full",
			"Too many messages are waiting for a peer that is not connected");
		g_mutex_unlock(&reg->mutex);
		return P2PLINK_FRAME_REFUSED;
	}
	g_mutex_unlock(&reg->mutex);
	return P2PLINK_FRAME_ROUTED;
}

static p2plink_frame_result refuse(p2plink_registry *reg, p2plink_peer *peer, const char *dst, p2plink_msg_type type,
		const char *code, const char *msg) {
	g_mutex_lock(&reg->mutex);
	if(peer->registered)
		refuse_locked(reg, peer, dst, type, code, msg);
	g_mutex_unlock(&reg->mutex);
	return P2PLINK_FRAME_REFUSED;
}

static gsize max_frame_bytes(const p2plink_registry_config *cfg, p2plink_msg_type type) {
	switch(type) {
		case P2PLINK_MSG_OFFER:
		case P2PLINK_MSG_ANSWER:
			return cfg->max_sdp_bytes;
		case P2PLINK_MSG_CANDIDATE:
			return cfg->max_candidate_bytes;
		default:
			return cfg->max_control_bytes;
	}
}

/* Pacing episodes: one starts when the peer's bucket empties and ends when a frame finds it at least half full
 * again (the peer slowed down for a while). A peer still paced flood_after into an episode is flooding: real
 * clients send bursts, not a stream at the full rate. Transport thread only, like the bucket. */
static gboolean pacing_is_flood(const p2plink_registry_config *cfg, p2plink_peer *peer, gint64 pause, gint64 now) {
	if(pause == 0) {
		if(peer->pacing && peer->frames.tokens >= cfg->frame_rate.burst / 2)
			peer->pacing = FALSE;
		return FALSE;
	}
	if(!peer->pacing) {
		peer->pacing = TRUE;
		peer->paced_since = now;
		return FALSE;
	}
	return cfg->flood_after > 0 && now - peer->paced_since >= cfg->flood_after;
}

static p2plink_frame_result handle_frame(p2plink_registry *reg, p2plink_peer *peer, const char *data, size_t len,
		gint64 now);

p2plink_frame_result p2plink_registry_frame(p2plink_registry *reg, p2plink_peer *peer, const char *data, size_t len,
		gint64 now, gint64 *pause_us) {
	gint64 pause = p2plink_pace_frame(&peer->frames, &reg->cfg.frame_rate, now);
	*pause_us = pause;
	if(pacing_is_flood(&reg->cfg, peer, pause, now)) {
		g_mutex_lock(&reg->mutex);
		reg->floods++;
		g_mutex_unlock(&reg->mutex);
		return P2PLINK_FRAME_FLOOD;
	}
	if(pause > 0) {
		g_mutex_lock(&reg->mutex);
		reg->paced++;
		g_mutex_unlock(&reg->mutex);
	}
	/* Every frame read is processed: pacing delays the next one, it never drops this one */
	return handle_frame(reg, peer, data, len, now);
}

static p2plink_frame_result handle_frame(p2plink_registry *reg, p2plink_peer *peer, const char *data, size_t len,
		gint64 now) {
	p2plink_frame frame;
	p2plink_error err;
	if(!p2plink_frame_decode(data, len, &frame, &err)) {
		if(strcmp(err.code, P2PLINK_ERR_INVALID_UTF8) == 0)
			return P2PLINK_FRAME_BAD_TEXT;
		return refuse(reg, peer, NULL, frame.type, err.code, err.msg);
	}
	if(len > max_frame_bytes(&reg->cfg, frame.type)) {
		char msg[96];
		g_snprintf(msg, sizeof(msg), "%s frames are limited to %zu bytes", p2plink_msg_type_name(frame.type),
			max_frame_bytes(&reg->cfg, frame.type));
		p2plink_frame_result r = refuse(reg, peer, frame.dst, frame.type, "payload-too-large", msg);
		p2plink_frame_clear(&frame);
		return r;
	}
	p2plink_frame_result result;
	if(frame.type == P2PLINK_MSG_HEARTBEAT) {
		g_mutex_lock(&reg->mutex);
		if(peer->registered)
			alive_touch_locked(reg, peer, now);
		g_mutex_unlock(&reg->mutex);
		result = P2PLINK_FRAME_HEARTBEAT;
	} else if(frame.dst == NULL) {
		/* The reference server treats LEAVE without dst as "unregister me" */
		if(frame.type == P2PLINK_MSG_LEAVE)
			result = P2PLINK_FRAME_CLOSE;
		else
			result = refuse(reg, peer, NULL, frame.type, "missing-dst", "This frame type needs a \"dst\" peer id");
	} else if(strcmp(frame.dst, peer->id) == 0) {
		result = refuse(reg, peer, frame.dst, frame.type, "invalid-dst", "A peer cannot signal itself");
	} else {
		result = route(reg, peer, &frame, now);
	}
	p2plink_frame_clear(&frame);
	return result;
}

void p2plink_registry_close(p2plink_registry *reg, p2plink_peer *peer, gint64 now) {
	g_mutex_lock(&reg->mutex);
	peer_drop_locked(reg, peer, P2PLINK_EVENT_PEER_CLOSE, TRUE, now);
	peer_release_conn_locked(reg, peer);
	unlock_and_deliver(reg);
	p2plink_peer_unref(peer);	/* the transport's reference */
}

/* EXPIRE goes once per distinct sender of an expired queue, as {src: unreachable peer, dst: sender} */
static void expire_queue_locked(p2plink_registry *reg, offline_queue *q) {
	GHashTable *told = g_hash_table_new(g_str_hash, g_str_equal);
	for(GList *l = q->frames.head; l != NULL; l = l->next) {
		queued_frame *f = l->data;
		if(g_hash_table_contains(told, f->src))
			continue;
		g_hash_table_add(told, f->src);
		p2plink_peer *src = g_hash_table_lookup(reg->peers, f->src);
		if(src == NULL && f->src_node == NULL)
			continue;
		size_t len;
		char *text = p2plink_frame_encode_relay(P2PLINK_MSG_EXPIRE, q->dst, f->src, NULL, 0, &len);
		if(src != NULL) {
			send_text_locked(reg, src, text, len);
			g_free(text);
		} else {
			cluster_notice_locked(reg, P2PLINK_REMOTE_NOTICE, f->src, q->dst, text, len);
		}
		reg->expired++;
		notify(reg, P2PLINK_EVENT_EXPIRE, f->src, q->dst);
	}
	g_hash_table_destroy(told);
}

/* Work per sweep, in bounded slices (Redis clientsCron style) so one tick never holds the lock for long. Expiry
 * is kept in order (alive: least recently seen first; queue_order and reservations: oldest first), so a tick
 * looks only at what is due plus one head each, never at every peer: at 20,000 peers and nothing due that is 3
 * entries, where a full scan walked all 20,000 four times a second. When much is due at once (a network outage
 * silencing everyone) a tick handles at most SWEEP_SLICE of each kind and the next tick goes on. Measured (2-core
 * box, fake transport): one drop with its LEAVEs ~4 us, so a slice holds the lock ~1 ms; the sweeper ticks every
 * 250 ms, so 4 x 256 = 1,024 drops a second: a mass timeout of 20,000 peers is done within 20 s, under a third of
 * the default alive_timeout (60 s), and a due peer is never dropped later than that. */
#define SWEEP_SLICE 256

guint p2plink_registry_sweep(p2plink_registry *reg, gint64 now) {
	guint visited = 0, done = 0;
	g_mutex_lock(&reg->mutex);
	offline_queue *q;
	while(done < SWEEP_SLICE && (q = g_queue_peek_head(&reg->queue_order)) != NULL) {
		visited++;
		if(now - q->created < reg->cfg.expire_timeout)
			break;
		g_hash_table_steal(reg->queues, q->dst);
		expire_queue_locked(reg, q);
		queue_free(reg, q);
		done++;
	}
	/* Reservations are in expiry order: only the ones that are over are looked at */
	p2plink_peer *oldest;
	done = 0;
	while(done < SWEEP_SLICE && (oldest = g_queue_peek_head(&reg->reservations)) != NULL) {
		visited++;
		if(oldest->reserved_until > now)
			break;
		cluster_release_locked(reg, oldest);
		unreserve_locked(reg, oldest);
		done++;
	}
	/* Dropping the head unlinks it from `alive`, so the loop always looks at the next least recently seen */
	GSList *silent = NULL;
	done = 0;
	p2plink_peer *peer;
	while(done < SWEEP_SLICE && (peer = g_queue_peek_head(&reg->alive)) != NULL) {
		visited++;
		if(now - peer->last_seen < reg->cfg.alive_timeout)
			break;
		/* Held until after the unlock: the drop releases the tables' references */
		silent = g_slist_prepend(silent, p2plink_peer_ref(peer));
		if(peer->conn != NULL)
			reg->ops.close(peer->conn, "no heartbeat within alive_timeout");
		peer_drop_locked(reg, peer, P2PLINK_EVENT_PEER_TIMEOUT, TRUE, now);
		peer_release_conn_locked(reg, peer);
		reg->timeouts++;
		done++;
	}
	unlock_and_deliver(reg);
	g_slist_free_full(silent, (GDestroyNotify)p2plink_peer_unref);
	return visited;
}

p2plink_peer *p2plink_registry_bind(p2plink_registry *reg, const char *nonce) {
	p2plink_peer *peer = NULL;
	g_mutex_lock(&reg->mutex);
	/* The binds table's reference moves to the caller */
	if(nonce != NULL && g_hash_table_steal_extended(reg->binds, nonce, NULL, (gpointer *)&peer)) {
		g_mutex_unlock(&reg->mutex);
		return peer;
	}
	g_mutex_unlock(&reg->mutex);
	return NULL;
}

gboolean kick_locked(p2plink_registry *reg, p2plink_peer *peer, const char *reason, gboolean reserve,
		gint64 now) {
	gboolean connected = peer->conn != NULL;
	if(connected)
		reg->ops.close(peer->conn, reason);
	peer_drop_locked(reg, peer, P2PLINK_EVENT_PEER_CLOSE, reserve, now);
	peer_release_conn_locked(reg, peer);
	return connected;
}

gboolean p2plink_registry_kick_peer(p2plink_registry *reg, p2plink_peer *peer, const char *reason, gint64 now) {
	g_mutex_lock(&reg->mutex);
	gboolean connected = kick_locked(reg, peer, reason, TRUE, now);
	unlock_and_deliver(reg);
	return connected;
}

gboolean p2plink_registry_kick_id(p2plink_registry *reg, const char *id, const char *reason) {
	g_mutex_lock(&reg->mutex);
	p2plink_peer *peer = g_hash_table_lookup(reg->peers, id);
	gboolean held = peer != NULL;
	if(peer != NULL) {
		kick_locked(reg, peer, reason, FALSE, 0);
	} else if((peer = g_hash_table_lookup(reg->reserved, id)) != NULL) {
		/* An admin kick frees the id: a reservation ends too */
		held = TRUE;
		cluster_release_locked(reg, peer);
		unreserve_locked(reg, peer);
	}
	unlock_and_deliver(reg);
	return held;
}

p2plink_peer *p2plink_registry_authenticate(p2plink_registry *reg, const char *id, const char *token) {
	if(id == NULL || token == NULL)
		return NULL;
	g_mutex_lock(&reg->mutex);
	p2plink_peer *peer = g_hash_table_lookup(reg->peers, id);
	if(peer != NULL && (peer->conn == NULL || !tokens_equal(peer->token, token)))
		peer = NULL;
	if(peer != NULL)
		p2plink_peer_ref(peer);
	g_mutex_unlock(&reg->mutex);
	return peer;
}

gboolean p2plink_registry_grant(p2plink_registry *reg, p2plink_peer *grantee, const char *target, const char *owner) {
	g_mutex_lock(&reg->mutex);
	gboolean ok = peer_table_contains(grantee->grants, target) ||
		peer_table_size(grantee->grants) < reg->cfg.max_grants;
	if(ok)
		peer_table_insert(&grantee->grants, target, owner);
	g_mutex_unlock(&reg->mutex);
	return ok;
}

char *p2plink_registry_owner_of(p2plink_registry *reg, const char *id) {
	g_mutex_lock(&reg->mutex);
	p2plink_peer *peer = id != NULL ? held_locked(reg, id) : NULL;
	char *owner = peer != NULL && (peer->conn != NULL || peer->reserved) ? g_strdup(peer->owner) : NULL;
	g_mutex_unlock(&reg->mutex);
	/* Cluster: whoever holds it on another node (the lease names its owner); blocks, never on the transport thread */
	if(owner == NULL && id != NULL && reg->ops.remote_owner_of != NULL)
		owner = reg->ops.remote_owner_of(id);
	return owner;
}

void p2plink_registry_set_link_only(p2plink_registry *reg, p2plink_peer *peer, gboolean link_only) {
	g_mutex_lock(&reg->mutex);
	peer->link_only = link_only;
	/* Cluster: on its lease too, so that the peer is hidden from its first frame on whichever node it moves to */
	if(reg->cluster && peer->registered && !peer->lease_lost && reg->ops.remote_mark != NULL)
		reg->ops.remote_mark(peer->id, peer->owner, link_only);
	g_mutex_unlock(&reg->mutex);
}

json_t *peer_info_locked(p2plink_peer *peer) {
	return json_pack("{s:s,s:s,s:b,s:b,s:i,s:I,s:i,s:I}",
		"id", peer->id,
		"ip", peer->ip,
		"connected", peer->conn != NULL && peer->registered,
		"link_only", peer->link_only,
		"grants", (int)peer_table_size(peer->grants),
		"connected_at", (json_int_t)(peer->connected_wall / 1000),
		"counterparts", (int)peer_table_size(peer->counterparts),
		"frames_in", (json_int_t)peer->frames_in);
}

json_t *p2plink_registry_peer_info(p2plink_registry *reg, p2plink_peer *peer) {
	g_mutex_lock(&reg->mutex);
	json_t *info = peer_info_locked(peer);
	g_mutex_unlock(&reg->mutex);
	return info;
}

static gint compare_peer_ids(gconstpointer a, gconstpointer b) {
	return strcmp(((const p2plink_peer *)a)->id, ((const p2plink_peer *)b)->id);
}

json_t *p2plink_registry_list_peers(p2plink_registry *reg, guint offset, guint limit) {
	if(reg->ops.remote_list != NULL)
		return cluster_list_peers(reg, offset, limit);
	json_t *list = json_array();
	g_mutex_lock(&reg->mutex);
	/* Sorted by id so that offset/limit pages are stable between calls */
	GList *peers = g_list_sort(g_hash_table_get_values(reg->peers), compare_peer_ids);
	guint total = g_hash_table_size(reg->peers), i = 0;
	for(GList *l = peers; l != NULL && json_array_size(list) < limit; l = l->next, i++) {
		if(i >= offset)
			json_array_append_new(list, peer_info_locked(l->data));
	}
	g_mutex_unlock(&reg->mutex);
	g_list_free(peers);
	return json_pack("{s:o,s:i,s:i,s:i}", "peers", list, "total", total, "offset", offset, "limit", limit);
}

json_t *p2plink_registry_stats(p2plink_registry *reg) {
	g_mutex_lock(&reg->mutex);
	json_t *stats = json_pack("{s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"peers", (int)g_hash_table_size(reg->peers),
		"reserved", (int)g_hash_table_size(reg->reserved),
		"offline_queues", (int)g_hash_table_size(reg->queues),
		"queued_bytes", (json_int_t)reg->queued_bytes,
		"queued_frames", (json_int_t)reg->queued_frames,
		"opened", (json_int_t)reg->opened,
		"relayed", (json_int_t)reg->relayed,
		"queued", (json_int_t)reg->queued,
		"expired", (json_int_t)reg->expired,
		"rejected", (json_int_t)reg->rejected,
		"timeouts", (json_int_t)reg->timeouts,
		"paced", (json_int_t)reg->paced,
		"floods", (json_int_t)reg->floods);
	g_mutex_unlock(&reg->mutex);
	if(reg->ops.remote_stats != NULL)
		json_object_set_new(stats, "cluster", reg->ops.remote_stats());
	return stats;
}

char *p2plink_registry_discoverable_ids_json(p2plink_registry *reg) {
	json_t *ids = json_array();
	g_mutex_lock(&reg->mutex);
	GHashTableIter iter;
	gpointer key;
	gpointer value;
	g_hash_table_iter_init(&iter, reg->peers);
	while(g_hash_table_iter_next(&iter, &key, &value)) {
		/* Link-only peers are never listed: a link is the only way to learn about them */
		if(!((p2plink_peer *)value)->link_only)
			json_array_append_new(ids, json_string(key));
	}
	g_mutex_unlock(&reg->mutex);
	return p2plink_json_text(ids);
}

void p2plink_registry_free(p2plink_registry *reg) {
	if(reg == NULL)
		return;
	g_mutex_lock(&reg->mutex);
	GList *peers = g_hash_table_get_values(reg->peers);
	for(GList *l = peers; l != NULL; l = l->next) {
		p2plink_peer *peer = l->data;
		if(peer->conn != NULL)
			reg->ops.close(peer->conn, "server shutting down");
		peer->registered = FALSE;
		alive_forget_locked(reg, peer);
		peer_release_conn_locked(reg, peer);
		p2plink_peer_unref(peer);
	}
	g_list_free(peers);
	g_hash_table_destroy(reg->peers);
	GList *binds = g_hash_table_get_values(reg->binds);
	g_list_free_full(binds, (GDestroyNotify)p2plink_peer_unref);
	g_hash_table_destroy(reg->binds);
	GHashTableIter iter;
	gpointer value;
	g_hash_table_iter_init(&iter, reg->queues);
	while(g_hash_table_iter_next(&iter, NULL, &value)) {
		g_hash_table_iter_steal(&iter);
		queue_free(reg, value);
	}
	g_hash_table_destroy(reg->queues);
	p2plink_peer *reserved;
	while((reserved = g_queue_peek_head(&reg->reservations)) != NULL)
		unreserve_locked(reg, reserved);
	g_hash_table_destroy(reg->reserved);
	g_hash_table_destroy(reg->refused_early);
	/* Every public call delivers what it recorded before it returns: nothing is left, but free whatever is */
	g_queue_clear_full(&reg->events, (GDestroyNotify)pending_event_free);
	g_mutex_unlock(&reg->mutex);
	g_mutex_clear(&reg->mutex);
	g_mutex_clear(&reg->delivery);
	g_free(reg);
}
