/*
 * registry.c — peer table, handshake rules, routing, offline queues, liveness. See registry.h.
 *
 * Ownership: the peers table holds one reference on each registered peer; the transport holds one from
 * peer_open until peer_close; a pending Janus bind holds one until it is claimed (then the plugin session owns it).
 * A peer holds one reference on its connection until it is closed, kicked or replaced (peer->conn == NULL after).
 * A peer object lives for one connection: a re-attach with the same id and token creates a new object and the old
 * one is marked unregistered, so late events from the old socket cannot touch the new owner of the id.
 */

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "links.h"
#include "registry.h"

struct p2plink_peer {
	gatomicrefcount ref;
	char *id;
	char *token;
	char *owner;	/* hex SHA-256 of token: the identity links and grants are bound to */
	char *ip;
	char nonce[P2PLINK_BIND_NONCE_LEN + 1];
	/* Everything below is guarded by the registry mutex */
	p2plink_conn *conn;
	gboolean registered;
	gint64 connected_at;
	gint64 connected_wall;	/* real time, for people reading the admin API */
	gint64 last_seen;
	GHashTable *counterparts;	/* ids this peer signaled with (set), for LEAVE on disconnect */
	GHashTable *contacted;		/* ids this peer sent frames to first (set): they may answer a link-only peer */
	GHashTable *grants;			/* target id → owner hash, for each share link this peer redeemed */
	gboolean link_only;
	/* Only the transport thread touches these (all frames of a peer arrive there) */
	p2plink_bucket frames;
	p2plink_bucket refusals;	/* how many refused frames we still put up with (flood_close_after per 10 s) */
	guint64 frames_in;
};

typedef struct queued_frame {
	char *src;
	char *text;
	size_t len;
} queued_frame;

/* Frames for a destination that is not connected (yet) */
typedef struct offline_queue {
	char *dst;
	gint64 created;
	GQueue frames;
	gsize bytes;
} offline_queue;

struct p2plink_registry {
	p2plink_registry_config cfg;
	p2plink_transport_ops ops;
	p2plink_registry_observer observer;
	void *observer_data;
	GMutex mutex;
	GHashTable *peers;		/* id (owned by the peer) → peer */
	GHashTable *binds;		/* nonce (owned by the peer) → peer */
	GHashTable *queues;		/* dst (owned by the queue) → offline_queue */
	gsize queued_bytes;
	/* Counters for stats */
	guint64 relayed, queued, expired, rejected, timeouts, opened;
};

void p2plink_registry_config_defaults(p2plink_registry_config *config) {
	config->concurrent_limit = 5000;
	config->expire_timeout = 5 * G_USEC_PER_SEC;
	config->alive_timeout = 60 * G_USEC_PER_SEC;
	config->queue_max_messages = 128;
	config->queue_max_bytes = 256 * 1024;
	config->queue_total_bytes = 64 * 1024 * 1024;
	config->max_counterparts = 256;
	config->max_grants = 256;
	/* A call setup is an OFFER, an ANSWER and a few dozen CANDIDATEs per connection within a second or two;
	 * a heartbeat every 5 s. Far below these, nobody notices them. */
	config->frame_rate.per_second = 50;
	config->frame_rate.burst = 200;
	config->flood_close_after = 200;
	config->max_sdp_bytes = 64 * 1024;
	config->max_candidate_bytes = 4 * 1024;
	config->max_control_bytes = 1024;
}

/* Refused frames a peer is allowed: flood_close_after of them, refilling over REFUSAL_WINDOW_S seconds */
#define REFUSAL_WINDOW_S 10
static p2plink_rate refusal_budget(const p2plink_registry_config *cfg) {
	p2plink_rate rate = { (double)cfg->flood_close_after / REFUSAL_WINDOW_S, (double)cfg->flood_close_after };
	return rate;
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
	g_free(peer->token);
	g_free(peer->owner);
	g_free(peer->ip);
	g_hash_table_destroy(peer->counterparts);
	g_hash_table_destroy(peer->contacted);
	g_hash_table_destroy(peer->grants);
	g_free(peer);
}

const char *p2plink_peer_id(const p2plink_peer *peer) {
	return peer->id;
}

const char *p2plink_peer_owner(const p2plink_peer *peer) {
	return peer->owner;
}

const char *p2plink_peer_ip(const p2plink_peer *peer) {
	return peer->ip;
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
	peer->counterparts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	peer->contacted = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	peer->grants = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
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

/* Sets of ids */

static void copy_set(GHashTable *to, GHashTable *from) {
	GHashTableIter iter;
	gpointer key;
	g_hash_table_iter_init(&iter, from);
	while(g_hash_table_iter_next(&iter, &key, NULL))
		g_hash_table_add(to, g_strdup(key));
}

static void copy_map(GHashTable *to, GHashTable *from) {
	GHashTableIter iter;
	gpointer key, value;
	g_hash_table_iter_init(&iter, from);
	while(g_hash_table_iter_next(&iter, &key, &value))
		g_hash_table_insert(to, g_strdup(key), g_strdup(value));
}

/* Bounded set insert: FALSE when full (the caller decides what a full set means) */
static gboolean set_add_bounded(GHashTable *set, const char *key, guint max) {
	if(g_hash_table_contains(set, key))
		return TRUE;
	if(g_hash_table_size(set) >= max)
		return FALSE;
	g_hash_table_add(set, g_strdup(key));
	return TRUE;
}

/* Registry */

p2plink_registry *p2plink_registry_new(const p2plink_registry_config *config, const p2plink_transport_ops *ops) {
	p2plink_registry *reg = g_new0(p2plink_registry, 1);
	reg->cfg = *config;
	reg->ops = *ops;
	g_mutex_init(&reg->mutex);
	reg->peers = g_hash_table_new(g_str_hash, g_str_equal);
	reg->binds = g_hash_table_new(g_str_hash, g_str_equal);
	reg->queues = g_hash_table_new(g_str_hash, g_str_equal);
	return reg;
}

void p2plink_registry_set_observer(p2plink_registry *reg, p2plink_registry_observer observer, void *data) {
	g_mutex_lock(&reg->mutex);
	reg->observer = observer;
	reg->observer_data = data;
	g_mutex_unlock(&reg->mutex);
}

static void notify(p2plink_registry *reg, p2plink_registry_event event, const char *id, const char *other) {
	if(reg->observer != NULL)
		reg->observer(event, id, other, reg->observer_data);
}

static void queue_free(p2plink_registry *reg, offline_queue *q) {
	queued_frame *f;
	while((f = g_queue_pop_head(&q->frames)) != NULL) {
		g_free(f->src);
		g_free(f->text);
		g_free(f);
	}
	reg->queued_bytes -= q->bytes;
	g_free(q->dst);
	g_free(q);
}

/* Forget the peer's connection: after this the plugin never sends to it again */
static void peer_release_conn_locked(p2plink_registry *reg, p2plink_peer *peer) {
	if(peer->conn == NULL)
		return;
	reg->ops.unref(peer->conn);
	peer->conn = NULL;
}

static void send_text_locked(p2plink_registry *reg, p2plink_peer *peer, const char *text, size_t len) {
	if(peer->conn != NULL)
		reg->ops.send(peer->conn, text, len);
}

static void send_error_locked(p2plink_registry *reg, p2plink_peer *peer, const char *code, const char *msg) {
	size_t len;
	char *text = p2plink_frame_encode_error(code, msg, &len);
	send_text_locked(reg, peer, text, len);
	g_free(text);
	reg->rejected++;
}

/* Unregister the peer (if it still owns its id) and tell everyone it signaled with that it left */
static void peer_drop_locked(p2plink_registry *reg, p2plink_peer *peer, p2plink_registry_event why) {
	if(g_hash_table_lookup(reg->binds, peer->nonce) == peer) {
		g_hash_table_remove(reg->binds, peer->nonce);
		p2plink_peer_unref(peer);
	}
	if(!peer->registered)
		return;
	peer->registered = FALSE;
	g_hash_table_remove(reg->peers, peer->id);
	GHashTableIter iter;
	gpointer key;
	g_hash_table_iter_init(&iter, peer->counterparts);
	while(g_hash_table_iter_next(&iter, &key, NULL)) {
		p2plink_peer *other = g_hash_table_lookup(reg->peers, key);
		if(other == NULL)
			continue;
		g_hash_table_remove(other->counterparts, peer->id);
		size_t len;
		char *text = p2plink_frame_encode_relay(P2PLINK_MSG_LEAVE, peer->id, other->id, NULL, 0, &len);
		send_text_locked(reg, other, text, len);
		g_free(text);
	}
	g_hash_table_remove_all(peer->counterparts);
	notify(reg, why, peer->id, NULL);
	p2plink_peer_unref(peer);	/* the peers table's reference */
}

static void remember_counterparts_locked(p2plink_registry *reg, p2plink_peer *a, p2plink_peer *b) {
	/* Bounded: a peer that signals thousands of ids cannot grow this set (it only loses LEAVE-on-disconnect) */
	set_add_bounded(a->counterparts, b->id, reg->cfg.max_counterparts);
	set_add_bounded(b->counterparts, a->id, reg->cfg.max_counterparts);
}

/* Gated signaling: may `from` send this frame to a link-only `to`? */
static gboolean link_gate_allows_locked(p2plink_peer *from, p2plink_peer *to) {
	if(!to->link_only)
		return TRUE;
	/* A grant from a redeemed link, or an answer to someone the link-only peer contacted itself */
	const char *owner = g_hash_table_lookup(from->grants, to->id);
	return (owner != NULL && strcmp(owner, to->owner) == 0) || g_hash_table_contains(to->contacted, from->id);
}

static void forget_counterparts_locked(p2plink_peer *a, p2plink_peer *b) {
	g_hash_table_remove(a->counterparts, b->id);
	g_hash_table_remove(b->counterparts, a->id);
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

/* Deliver what was queued for a peer that just connected, in order, after OPEN */
static void flush_queue_locked(p2plink_registry *reg, p2plink_peer *peer) {
	offline_queue *q = NULL;
	if(!g_hash_table_steal_extended(reg->queues, peer->id, NULL, (gpointer *)&q))
		return;
	for(GList *l = q->frames.head; l != NULL; l = l->next) {
		queued_frame *f = l->data;
		send_text_locked(reg, peer, f->text, f->len);
		p2plink_peer *src = g_hash_table_lookup(reg->peers, f->src);
		if(src != NULL)
			remember_counterparts_locked(reg, src, peer);
	}
	queue_free(reg, q);
}

p2plink_peer *p2plink_registry_open(p2plink_registry *reg, p2plink_conn *conn, const char *id, const char *token,
		const char *client_ip, gint64 now, char nonce_out[P2PLINK_BIND_NONCE_LEN + 1], p2plink_open_result *result) {
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
	if(existing != NULL && !tokens_equal(existing->token, token)) {
		g_mutex_unlock(&reg->mutex);
		reject_conn(reg, conn, p2plink_frame_encode_id_taken(NULL), "id taken");
		*result = P2PLINK_OPEN_ID_TAKEN;
		return NULL;
	}
	if(existing == NULL && g_hash_table_size(reg->peers) >= reg->cfg.concurrent_limit) {
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
	if(existing != NULL) {
		/* Same id and token: the client reconnected (peer.reconnect(), or a new socket before the old one timed
		 * out). The new socket takes over; unlike the reference server we answer OPEN, or the client hangs. */
		copy_set(peer->counterparts, existing->counterparts);
		copy_set(peer->contacted, existing->contacted);
		copy_map(peer->grants, existing->grants);
		peer->link_only = existing->link_only;
		existing->registered = FALSE;
		g_hash_table_remove(reg->peers, existing->id);
		if(existing->conn != NULL)
			reg->ops.close(existing->conn, "replaced by a new connection");
		peer_release_conn_locked(reg, existing);
		p2plink_peer_unref(existing);
	}
	peer->registered = TRUE;
	p2plink_bucket_init(&peer->frames, &reg->cfg.frame_rate, now);
	p2plink_rate refusal_rate = refusal_budget(&reg->cfg);
	p2plink_bucket_init(&peer->refusals, &refusal_rate, now);
	g_hash_table_insert(reg->peers, peer->id, p2plink_peer_ref(peer));
	g_hash_table_insert(reg->binds, peer->nonce, p2plink_peer_ref(peer));
	char *open = p2plink_frame_encode_open(&len);
	send_text_locked(reg, peer, open, len);
	g_free(open);
	flush_queue_locked(reg, peer);
	reg->opened++;
	notify(reg, P2PLINK_EVENT_PEER_OPEN, peer->id, peer->ip);
	g_mutex_unlock(&reg->mutex);
	g_strlcpy(nonce_out, peer->nonce, P2PLINK_BIND_NONCE_LEN + 1);
	*result = P2PLINK_OPEN_OK;
	return peer;	/* the reference from peer_new goes to the caller */
}

/* Queue a frame for a destination that is not connected; FALSE when a bound says no */
static gboolean enqueue_locked(p2plink_registry *reg, const char *src, const char *dst, char *text, size_t len,
		gint64 now) {
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
	}
	queued_frame *f = g_new0(queued_frame, 1);
	f->src = g_strdup(src);
	f->text = text;
	f->len = len;
	g_queue_push_tail(&q->frames, f);
	q->bytes += len;
	reg->queued_bytes += len;
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
	peer->last_seen = now;
	peer->frames_in++;
	p2plink_peer *dst = g_hash_table_lookup(reg->peers, frame->dst);
	if(dst != NULL && dst->conn != NULL && !link_gate_allows_locked(peer, dst)) {
		/* The target learns nothing; the sender learns only that a link is needed */
		g_free(text);
		send_error_locked(reg, peer, "link-required",
			"This peer only accepts connections through a share link");
		g_mutex_unlock(&reg->mutex);
		return P2PLINK_FRAME_REJECTED;
	}
	if(dst != NULL && dst->conn != NULL) {
		send_text_locked(reg, dst, text, len);
		if(frame->type != P2PLINK_MSG_LEAVE && frame->type != P2PLINK_MSG_EXPIRE &&
				!g_hash_table_contains(dst->contacted, peer->id))
			set_add_bounded(peer->contacted, dst->id, reg->cfg.max_counterparts);
		if(frame->type == P2PLINK_MSG_LEAVE)
			forget_counterparts_locked(peer, dst);
		else
			remember_counterparts_locked(reg, peer, dst);
		reg->relayed++;
		g_free(text);
	} else if(frame->type == P2PLINK_MSG_LEAVE || frame->type == P2PLINK_MSG_EXPIRE) {
		/* Like the reference: nobody to tell, nothing to keep */
		g_free(text);
	} else if(!enqueue_locked(reg, peer->id, frame->dst, text, len, now)) {
		g_free(text);
		send_error_locked(reg, peer, "queue-full",
			"Too many messages are waiting for a peer that is not connected");
		g_mutex_unlock(&reg->mutex);
		return P2PLINK_FRAME_REJECTED;
	}
	g_mutex_unlock(&reg->mutex);
	return P2PLINK_FRAME_ROUTED;
}

static p2plink_frame_result reject(p2plink_registry *reg, p2plink_peer *peer, const char *code, const char *msg) {
	g_mutex_lock(&reg->mutex);
	if(peer->registered)
		send_error_locked(reg, peer, code, msg);
	g_mutex_unlock(&reg->mutex);
	return P2PLINK_FRAME_REJECTED;
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

/* A peer that keeps sending what we refuse is flooding, whatever our speed: it is cut off once it has used up
 * its refusal budget (refusal_budget) */
static p2plink_frame_result refused(p2plink_registry *reg, p2plink_peer *peer, p2plink_frame_result result,
		gint64 now) {
	p2plink_rate budget = refusal_budget(&reg->cfg);
	if(result == P2PLINK_FRAME_REJECTED && !p2plink_bucket_take(&peer->refusals, &budget, now))
		return P2PLINK_FRAME_CLOSE;
	return result;
}

static p2plink_frame_result handle_frame(p2plink_registry *reg, p2plink_peer *peer, const char *data, size_t len,
		gint64 now);

p2plink_frame_result p2plink_registry_frame(p2plink_registry *reg, p2plink_peer *peer, const char *data, size_t len,
		gint64 now) {
	if(!p2plink_bucket_take(&peer->frames, &reg->cfg.frame_rate, now)) {
		/* Not even decoded: a flood costs us as little as possible */
		return refused(reg, peer, reject(reg, peer, "rate-limited", "Too many messages: slow down"), now);
	}
	return refused(reg, peer, handle_frame(reg, peer, data, len, now), now);
}

static p2plink_frame_result handle_frame(p2plink_registry *reg, p2plink_peer *peer, const char *data, size_t len,
		gint64 now) {
	p2plink_frame frame;
	p2plink_error err;
	if(!p2plink_frame_decode(data, len, &frame, &err))
		return reject(reg, peer, err.code, err.msg);
	if(len > max_frame_bytes(&reg->cfg, frame.type)) {
		char msg[96];
		g_snprintf(msg, sizeof(msg), "%s frames are limited to %zu bytes", p2plink_msg_type_name(frame.type),
			max_frame_bytes(&reg->cfg, frame.type));
		return reject(reg, peer, "payload-too-large", msg);
	}
	p2plink_frame_result result;
	if(frame.type == P2PLINK_MSG_HEARTBEAT) {
		g_mutex_lock(&reg->mutex);
		peer->last_seen = now;
		g_mutex_unlock(&reg->mutex);
		result = P2PLINK_FRAME_HEARTBEAT;
	} else if(frame.dst == NULL) {
		/* The reference server treats LEAVE without dst as "unregister me" */
		if(frame.type == P2PLINK_MSG_LEAVE)
			result = P2PLINK_FRAME_CLOSE;
		else
			result = reject(reg, peer, "missing-dst", "This frame type needs a \"dst\" peer id");
	} else if(strcmp(frame.dst, peer->id) == 0) {
		result = reject(reg, peer, "invalid-dst", "A peer cannot signal itself");
	} else {
		result = route(reg, peer, &frame, now);
	}
	p2plink_frame_clear(&frame);
	return result;
}

void p2plink_registry_close(p2plink_registry *reg, p2plink_peer *peer) {
	g_mutex_lock(&reg->mutex);
	peer_drop_locked(reg, peer, P2PLINK_EVENT_PEER_CLOSE);
	peer_release_conn_locked(reg, peer);
	g_mutex_unlock(&reg->mutex);
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
		if(src == NULL)
			continue;
		size_t len;
		char *text = p2plink_frame_encode_relay(P2PLINK_MSG_EXPIRE, q->dst, f->src, NULL, 0, &len);
		send_text_locked(reg, src, text, len);
		g_free(text);
		reg->expired++;
		notify(reg, P2PLINK_EVENT_EXPIRE, f->src, q->dst);
	}
	g_hash_table_destroy(told);
}

void p2plink_registry_sweep(p2plink_registry *reg, gint64 now) {
	g_mutex_lock(&reg->mutex);
	GHashTableIter iter;
	gpointer value;
	g_hash_table_iter_init(&iter, reg->queues);
	while(g_hash_table_iter_next(&iter, NULL, &value)) {
		offline_queue *q = value;
		if(now - q->created < reg->cfg.expire_timeout)
			continue;
		g_hash_table_iter_steal(&iter);
		expire_queue_locked(reg, q);
		queue_free(reg, q);
	}
	/* Collect first: dropping a peer edits other peers' counterpart sets and the peers table */
	GSList *silent = NULL;
	g_hash_table_iter_init(&iter, reg->peers);
	while(g_hash_table_iter_next(&iter, NULL, &value)) {
		p2plink_peer *peer = value;
		if(now - peer->last_seen >= reg->cfg.alive_timeout)
			silent = g_slist_prepend(silent, p2plink_peer_ref(peer));
	}
	for(GSList *l = silent; l != NULL; l = l->next) {
		p2plink_peer *peer = l->data;
		if(peer->conn != NULL)
			reg->ops.close(peer->conn, "no heartbeat within alive_timeout");
		peer_drop_locked(reg, peer, P2PLINK_EVENT_PEER_TIMEOUT);
		peer_release_conn_locked(reg, peer);
		reg->timeouts++;
	}
	g_mutex_unlock(&reg->mutex);
	g_slist_free_full(silent, (GDestroyNotify)p2plink_peer_unref);
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

gboolean p2plink_registry_kick_peer(p2plink_registry *reg, p2plink_peer *peer, const char *reason) {
	g_mutex_lock(&reg->mutex);
	gboolean connected = peer->conn != NULL;
	if(connected)
		reg->ops.close(peer->conn, reason);
	peer_drop_locked(reg, peer, P2PLINK_EVENT_PEER_CLOSE);
	peer_release_conn_locked(reg, peer);
	g_mutex_unlock(&reg->mutex);
	return connected;
}

gboolean p2plink_registry_kick_id(p2plink_registry *reg, const char *id, const char *reason) {
	g_mutex_lock(&reg->mutex);
	p2plink_peer *peer = g_hash_table_lookup(reg->peers, id);
	if(peer != NULL)
		p2plink_peer_ref(peer);
	g_mutex_unlock(&reg->mutex);
	if(peer == NULL)
		return FALSE;
	gboolean kicked = p2plink_registry_kick_peer(reg, peer, reason);
	p2plink_peer_unref(peer);
	return kicked;
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
	gboolean ok = g_hash_table_contains(grantee->grants, target) ||
		g_hash_table_size(grantee->grants) < reg->cfg.max_grants;
	if(ok)
		g_hash_table_insert(grantee->grants, g_strdup(target), g_strdup(owner));
	g_mutex_unlock(&reg->mutex);
	return ok;
}

char *p2plink_registry_owner_of(p2plink_registry *reg, const char *id) {
	g_mutex_lock(&reg->mutex);
	p2plink_peer *peer = id != NULL ? g_hash_table_lookup(reg->peers, id) : NULL;
	char *owner = peer != NULL && peer->conn != NULL ? g_strdup(peer->owner) : NULL;
	g_mutex_unlock(&reg->mutex);
	return owner;
}

void p2plink_registry_set_link_only(p2plink_registry *reg, p2plink_peer *peer, gboolean link_only) {
	g_mutex_lock(&reg->mutex);
	peer->link_only = link_only;
	g_mutex_unlock(&reg->mutex);
}

static json_t *peer_info_locked(p2plink_peer *peer) {
	return json_pack("{s:s,s:s,s:b,s:b,s:i,s:I,s:i,s:I}",
		"id", peer->id,
		"ip", peer->ip,
		"connected", peer->conn != NULL && peer->registered,
		"link_only", peer->link_only,
		"grants", (int)g_hash_table_size(peer->grants),
		"connected_at", (json_int_t)(peer->connected_wall / 1000),
		"counterparts", (int)g_hash_table_size(peer->counterparts),
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
	json_t *stats = json_pack("{s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"peers", (int)g_hash_table_size(reg->peers),
		"offline_queues", (int)g_hash_table_size(reg->queues),
		"queued_bytes", (json_int_t)reg->queued_bytes,
		"opened", (json_int_t)reg->opened,
		"relayed", (json_int_t)reg->relayed,
		"queued", (json_int_t)reg->queued,
		"expired", (json_int_t)reg->expired,
		"rejected", (json_int_t)reg->rejected,
		"timeouts", (json_int_t)reg->timeouts);
	g_mutex_unlock(&reg->mutex);
	return stats;
}

guint p2plink_registry_count(p2plink_registry *reg) {
	g_mutex_lock(&reg->mutex);
	guint n = g_hash_table_size(reg->peers);
	g_mutex_unlock(&reg->mutex);
	return n;
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
	g_mutex_unlock(&reg->mutex);
	g_mutex_clear(&reg->mutex);
	g_free(reg);
}
