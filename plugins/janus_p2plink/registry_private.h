/*
 * registry_private.h — the registry's tables and the helpers its two files share: registry.c (one node's rules)
 * and registry_cluster.c (the same rules when the other end of a frame is on another node).
 *
 * What it is for: nothing outside those two files and their unit tests includes it. Everything here expects the
 * registry mutex held unless its name says otherwise (the _locked suffix is the reminder).
 */

#ifndef P2PLINK_REGISTRY_PRIVATE_H
#define P2PLINK_REGISTRY_PRIVATE_H

#include "registry.h"
#include "remote_frame.h"

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
	GList *alive;				/* its node in the registry's alive queue while registered */
	/* These three are NULL until their first entry (registry.c, peer_table): read them with the peer_table_ helpers */
	GHashTable *counterparts;	/* ids this peer signaled with → their node (NULL: this one), for LEAVE on
								 * disconnect and when their node dies */
	GHashTable *contacted;		/* ids this peer sent frames to first (set): they may answer a link-only peer */
	GHashTable *grants;			/* target id → owner hash, for each share link this peer redeemed */
	gboolean link_only;
	gboolean reserved;			/* in the reserved table: the socket went, the id waits for its owner */
	gboolean lease_lost;		/* cluster: another node holds the id now, so it is not ours to release */
	gint64 reserved_until;
	GList *reservation;			/* its node in the registry's reservations queue */
	/* Only the transport thread touches these (all frames of a peer arrive there) */
	p2plink_bucket frames;
	gboolean pacing;			/* in a pacing episode: the bucket emptied and has not been half refilled since */
	gint64 paced_since;
	guint64 frames_in;
};

typedef struct queued_frame {
	char *src;
	char *src_owner;	/* who sent it: at delivery the gate checks that owner, not whoever holds src by then */
	char *src_node;		/* cluster: the sender's node when it is not this one, else NULL */
	char *grant;		/* cluster, remote sender: the owner its share-link grant for dst names, or NULL */
	p2plink_msg_type type;
	char *text;
	size_t len;
} queued_frame;

/* Frames for a destination that is not connected (yet) */
typedef struct offline_queue {
	char *dst;
	gint64 created;
	GList *order;		/* its node in the registry's queue_order */
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
	GHashTable *reserved;	/* id (owned by the peer) → reserved peer (one reference) */
	GQueue reservations;	/* the same peers, oldest first (= in expiry order: id_grace is one constant) */
	GQueue alive;			/* registered peers, least recently seen first: the sweeper looks at the head only */
	GQueue queue_order;		/* offline queues, oldest first: the sweeper looks at the head only */
	GQueue events;			/* observer events waiting for delivery outside the lock, oldest first */
	GMutex delivery;		/* one deliverer at a time, so events reach the observer in the order they happened */
	gboolean cluster;		/* ops.remote_route is set: ids may be held on other nodes */
	guint remote_peers;		/* cluster: peers on the other nodes, as their last heartbeats said */
	guint64 route_seq;		/* cluster: the number of the last RELAY this node routed for its own peer */
	guint64 answered_seq;	/* cluster: the highest of those whose answer came back */
	GHashTable *refused_early;	/* cluster: "src\ndst" → seq (guint64 *) of a refusal whose route's answer has
								 * not come yet: that answer makes no counterpart (registry_cluster.c) */
	gsize queued_bytes;
	guint64 queued_frames;	/* frames in all offline queues: the queue depth /metrics reports */
	/* Counters for stats */
	guint64 relayed, queued, expired, rejected, timeouts, opened, paced, floods;
};


#define LINK_REQUIRED_MSG "This peer only accepts connections through a share link: ask them for one"

void unlock_and_deliver(p2plink_registry *reg);
void notify(p2plink_registry *reg, p2plink_registry_event event, const char *id, const char *other);
void send_text_locked(p2plink_registry *reg, p2plink_peer *peer, const char *text, size_t len);
void refuse_locked(p2plink_registry *reg, p2plink_peer *peer, const char *dst, p2plink_msg_type type,
	const char *code, const char *msg);
p2plink_peer *held_locked(p2plink_registry *reg, const char *id);
/* A counterpart on `node` (NULL: this node); bounded by max_counterparts */
void counterpart_add_locked(p2plink_registry *reg, p2plink_peer *peer, const char *id, const char *node);
/* Into a peer's contacted set, made at its first entry */
gboolean set_add_bounded(GHashTable **set, const char *key, guint max);

/* A peer's counterparts, contacted or grants table that may not exist yet (NULL) reads as empty */
static inline gboolean peer_table_contains(GHashTable *t, const char *key) {
	return t != NULL && g_hash_table_contains(t, key);
}

static inline gpointer peer_table_lookup(GHashTable *t, const char *key) {
	return t != NULL ? g_hash_table_lookup(t, key) : NULL;
}

static inline guint peer_table_size(GHashTable *t) {
	return t != NULL ? g_hash_table_size(t) : 0;
}

static inline void peer_table_remove(GHashTable *t, const char *key) {
	if(t != NULL)
		g_hash_table_remove(t, key);
}

/* Iteration over a table that may be NULL: next is FALSE at once then. For g_hash_table_iter_remove: &it.iter */
typedef struct peer_table_iter {
	GHashTableIter iter;
	gboolean any;
} peer_table_iter;

static inline void peer_table_iter_init(peer_table_iter *it, GHashTable *t) {
	it->any = t != NULL;
	if(t != NULL)
		g_hash_table_iter_init(&it->iter, t);
}

static inline gboolean peer_table_iter_next(peer_table_iter *it, gpointer *key, gpointer *value) {
	return it->any && g_hash_table_iter_next(&it->iter, key, value);
}
/* Queue a frame for dst, which is not connected here. created: when a queue made for it begins (a frame routed
 * again keeps its queue's age, so EXPIRE still comes expire_timeout after the first try). FALSE when full. */
gboolean enqueue_locked(p2plink_registry *reg, const char *dst, const char *src, const char *src_owner,
	const char *src_node, const char *grant, p2plink_msg_type type, char *text, size_t len, gint64 created);
void queue_free(p2plink_registry *reg, offline_queue *q);
gboolean kick_locked(p2plink_registry *reg, p2plink_peer *peer, const char *reason, gboolean reserve, gint64 now);
void unreserve_locked(p2plink_registry *reg, p2plink_peer *peer);
void alive_forget_locked(p2plink_registry *reg, p2plink_peer *peer);
void peer_release_conn_locked(p2plink_registry *reg, p2plink_peer *peer);
void flush_queue_locked(p2plink_registry *reg, p2plink_peer *peer);

json_t *peer_info_locked(p2plink_peer *peer);

/* registry_cluster.c, called by registry.c when reg->cluster */
/* list_peers for the whole cluster: this node's peers in full, the others' id, node and link-only mark */
json_t *cluster_list_peers(p2plink_registry *reg, guint offset, guint limit);
/* Route a peer's frame to dst, which is not held here (queued behind frames already waiting for it) */
void cluster_route_locked(p2plink_registry *reg, p2plink_peer *peer, const char *dst, p2plink_msg_type type,
	char *text, size_t len, gint64 now);
/* A frame the registry made (EXPIRE, P2PLINK-REFUSED; LEAVE for a peer that went) for a peer on another node */
void cluster_notice_locked(p2plink_registry *reg, p2plink_remote_kind kind, const char *dst, const char *src,
	char *text, size_t len);
/* The id is free on this node: its lease goes */
void cluster_release_locked(p2plink_registry *reg, p2plink_peer *peer);
/* EXPIRE (unless type is LEAVE/EXPIRE) and P2PLINK-REFUSED to the peer src on another node, about local dst;
 * route_node and seq name the route refused (the frame's origin and seq), or NULL and 0 */
void cluster_refuse_remote_locked(p2plink_registry *reg, const char *src, const char *dst, p2plink_msg_type type,
	const char *code, const char *msg, const char *route_node, guint64 seq);
/* The share-link gate for a frame from another node: the sender's grant (owner hash, or "") or the target's own
 * first contact */
gboolean remote_gate_allows_locked(const char *src, const char *grant, p2plink_peer *to);

#endif
