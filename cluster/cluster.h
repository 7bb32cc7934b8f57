/*
 * cluster.h — one p2plink node's client of the cluster's Redis: id leases, cross-node frame routing, node
 * liveness. hiredis async (its libuv adapter) on a uv_loop_t the caller gives (the transport's loop), so nothing
 * here ever blocks that loop or needs another thread.
 *
 * What it is for: the Redis half of cluster mode (docs/cluster.md has the keys, scripts, channels, timings and the
 * failure behaviour). Two connections: one for commands (every EVALSHA, in the order they were made: frames from
 * this node to another node arrive in the order this node routed them), one subscribed to this node's channel.
 * Leases this node acquired are kept in a table here, renewed in one batch every renew_ms and re-asserted by
 * themselves when Redis comes back.
 * What it is not for: peers, sockets, PeerJS frames, queues or EXPIRE (the registry and transport decide what a
 * result means for a peer); it never parses a relayed frame.
 *
 * Threading: every function, and every callback, runs on the loop's thread; only p2plink_cluster_nodes_json() may be
 * called from any thread. A callback never runs inside the call that started it (results of calls made while Redis
 * is unreachable come on the next loop turn), except during p2plink_cluster_free().
 */

#ifndef P2PLINK_CLUSTER_H
#define P2PLINK_CLUSTER_H

#include <glib.h>
#include <jansson.h>
#include <uv.h>

#include "cluster_config.h"

typedef struct p2plink_cluster p2plink_cluster;

typedef enum p2plink_cluster_result {
	P2PLINK_CLUSTER_OK = 0,		/* acquire: the id is this node's (new, or already ours); route: published; release: done */
	P2PLINK_CLUSTER_MOVED,		/* acquire: taken over from another node (same owner); `node` is that node */
	P2PLINK_CLUSTER_TAKEN,		/* acquire: another owner holds it (on `node`) */
	P2PLINK_CLUSTER_NOT_HELD,	/* route: nobody holds the destination; release: it was no longer ours */
	P2PLINK_CLUSTER_SELF,		/* route: this node holds the destination (nothing published) */
	P2PLINK_CLUSTER_UNDELIVERED,	/* route: `node` holds it but does not listen (lost Redis, or dead) */
	P2PLINK_CLUSTER_UNAVAILABLE,	/* Redis unreachable, no answer within call_timeout_ms, or the client is freed */
	P2PLINK_CLUSTER_ERROR,		/* Redis answered with an error (misconfiguration; logged) */
} p2plink_cluster_result;

const char *p2plink_cluster_result_name(p2plink_cluster_result result);

/* Result of an acquire or release; `node` is the other node involved or NULL */
typedef void (*p2plink_cluster_lease_cb)(p2plink_cluster *cluster, p2plink_cluster_result result, const char *id,
	const char *node, void *user_data);
/* Result of a route; `node` is the destination's node or NULL */
typedef void (*p2plink_cluster_route_cb)(p2plink_cluster *cluster, p2plink_cluster_result result, const char *node,
	void *user_data);

typedef struct p2plink_cluster_callbacks {
	/* A frame another node routed here for the local id `dst_id` (bytes as the sender's node relayed them) */
	void (*frame)(p2plink_cluster *cluster, const char *src_node, const char *dst_id, const char *frame, size_t len,
		void *user_data);
	/* A lease this node held is no longer its own (another node took it over or won a conflict): drop the local
	 * copy of that peer. `holder` is the node that has it now */
	void (*lease_lost)(p2plink_cluster *cluster, const char *id, const char *owner, const char *holder, void *user_data);
	/* Another node appeared, or died (its liveness key expired, or it restarted with a new incarnation): send LEAVE
	 * to the local counterparts of that node's peers */
	void (*node_up)(p2plink_cluster *cluster, const char *node, void *user_data);
	void (*node_down)(p2plink_cluster *cluster, const char *node, void *user_data);
	/* Redis reachable (both connections ready, scripts loaded, subscribed) or not */
	void (*state)(p2plink_cluster *cluster, gboolean up, void *user_data);
	/* Connection events and Redis errors, one sentence each (NULL: GLib's g_message / g_info) */
	void (*log)(p2plink_cluster *cluster, gboolean important, const char *text, void *user_data);
	void *user_data;
} p2plink_cluster_callbacks;

/* Starts connecting at once (and keeps reconnecting). cfg is copied; a NULL node_id becomes
 * p2plink_cluster_node_id_default(g_get_host_name(), default_port). NULL with *error on an invalid cfg. */
p2plink_cluster *p2plink_cluster_new(uv_loop_t *loop, const p2plink_cluster_config *cfg, guint default_port,
	const p2plink_cluster_callbacks *callbacks, char **error);
/* Every pending call completes (UNAVAILABLE) before this returns; the memory goes back once the loop has run the
 * handles' close callbacks (the next uv_run turn). Leases are not released: they expire (a clean stop releases
 * them first with p2plink_cluster_release_all). */
void p2plink_cluster_free(p2plink_cluster *cluster);

const char *p2plink_cluster_node_id(const p2plink_cluster *cluster);
gboolean p2plink_cluster_is_up(const p2plink_cluster *cluster);

/* Acquire `id` for `owner` (an opaque hash of the peer's token). OK/MOVED: the lease is in the local table,
 * renewed until released or lost. */
void p2plink_cluster_lease_acquire(p2plink_cluster *cluster, const char *id, const char *owner,
	p2plink_cluster_lease_cb cb, void *user_data);
/* Record `id` as held here without asking Redis (the caller accepted it while the cluster was unavailable): it is
 * asserted with the rule of cluster_lease.h when Redis is back, since = now */
void p2plink_cluster_lease_assume(p2plink_cluster *cluster, const char *id, const char *owner);
/* Forget `id` locally at once and compare-and-delete it in Redis; cb may be NULL */
void p2plink_cluster_lease_release(p2plink_cluster *cluster, const char *id, const char *owner,
	p2plink_cluster_lease_cb cb, void *user_data);
/* Release every local lease (a clean shutdown); one script call per lease, all pipelined */
void p2plink_cluster_release_all(p2plink_cluster *cluster);
guint p2plink_cluster_lease_count(const p2plink_cluster *cluster);
/* The link-only mark: set by the holder (for the lease's owner only) whenever its peer turns link-only on or off;
 * read after an acquire (MOVED: the peer was link-only on its old node, and is again before its OPEN) */
void p2plink_cluster_lease_mark(p2plink_cluster *cluster, const char *id, const char *owner, gboolean link_only);
gboolean p2plink_cluster_lease_link_only(const p2plink_cluster *cluster, const char *id);
gboolean p2plink_cluster_lease_held(const p2plink_cluster *cluster, const char *id);

/* Send `frame` to the node holding `dst_id` */
void p2plink_cluster_route(p2plink_cluster *cluster, const char *dst_id, const char *frame, size_t len,
	p2plink_cluster_route_cb cb, void *user_data);

/* Who holds `id`: OK with its owner (the opaque hash given to acquire) and node, NOT_HELD, or a failure */
typedef void (*p2plink_cluster_lookup_cb)(p2plink_cluster *cluster, p2plink_cluster_result result, const char *owner,
	const char *node, void *user_data);
void p2plink_cluster_lease_lookup(p2plink_cluster *cluster, const char *id, p2plink_cluster_lookup_cb cb,
	void *user_data);

/* Every id held in the cluster: [{"id", "node", "link_only"}, ...] (borrowed: valid during the callback), or
 * NULL with a failure. SCAN in pages of 500 inside one read-only script each: O(ids), for the admin API and
 * discovery, never the hot path. */
typedef void (*p2plink_cluster_list_cb)(p2plink_cluster *cluster, p2plink_cluster_result result, json_t *leases,
	void *user_data);
void p2plink_cluster_list(p2plink_cluster *cluster, p2plink_cluster_list_cb cb, void *user_data);

/* The local peer count published with this node's liveness key (admin stats) */
void p2plink_cluster_set_peer_count(p2plink_cluster *cluster, guint peers);
/* [{"node": id, "peers": n, "self": bool}, ...] as of the last heartbeat, any thread; new reference */
json_t *p2plink_cluster_nodes_json(p2plink_cluster *cluster);

#endif
