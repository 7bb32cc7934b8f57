/*
 * registry.h — who is connected, and where each signaling frame goes.
 *
 * What it is for: the peer table (id → peer), the PeerJS handshake rules (ID-TAKEN, concurrent_limit, re-attach
 * with the same token), the reservation of an id for its owner for id_grace after its socket went, routing
 * OFFER/ANSWER/CANDIDATE/LEAVE/EXPIRE to the destination's connection, the bounded queue for destinations that are
 * not connected yet (delivered on connect or answered with EXPIRE), the link-only gate (when a frame is queued and
 * again when it is delivered), pacing of a peer over its frame rate, alive_timeout, and LEAVE to the counterparts of
 * a peer whose socket closed. After OPEN it never sends ERROR: refusals are EXPIRE + P2PLINK-REFUSED.
 * What it is not for: sockets (it only calls p2plink_transport_ops), Janus sessions (plugin.c binds them), share
 * links. Pure: GLib + jansson + OpenSSL RAND, time passed in by the caller, so every rule is unit-tested.
 *
 * Threading: all functions are thread-safe; one mutex guards the tables. ops->send/close are called with it held,
 * which is fine because they only queue and wake the transport thread. The observer is called after the mutex is
 * released (events are recorded under it and delivered in order), and the sweep works in bounded slices over
 * expiry-ordered lists, so neither an event handler nor a large peer table holds up routing.
 */

#ifndef P2PLINK_REGISTRY_H
#define P2PLINK_REGISTRY_H

#include <glib.h>
#include <jansson.h>

#include "p2plink_hotpath.h"
#include "protocol.h"
#include "ratelimit.h"

typedef struct p2plink_registry_config {
	guint concurrent_limit;		/* registered peers at most (reference default 5000) */
	gint64 expire_timeout;		/* µs an undelivered queue waits before EXPIRE (reference 5 s) */
	gint64 alive_timeout;		/* µs of silence before a peer is dropped (reference CLI 60 s) */
	guint queue_max_messages;	/* per offline destination */
	gsize queue_max_bytes;		/* per offline destination */
	gsize queue_total_bytes;	/* across all offline destinations */
	guint max_counterparts;		/* peers remembered per peer for LEAVE-on-disconnect */
	guint max_grants;			/* share-link grants held per peer */
	p2plink_rate frame_rate;	/* frames a peer may send (token bucket); beyond: its socket is paced */
	gint64 flood_after;			/* µs of continuous pacing (the bucket never half refilled) before FLOOD */
	gint64 id_grace;			/* µs an id stays reserved for its owner after its socket went (0: freed at once) */
	gsize max_sdp_bytes;		/* largest OFFER/ANSWER frame */
	gsize max_candidate_bytes;	/* largest CANDIDATE frame */
	gsize max_control_bytes;	/* largest HEARTBEAT/LEAVE/EXPIRE frame */
} p2plink_registry_config;

void p2plink_registry_config_defaults(p2plink_registry_config *config);

/* Pacing arithmetic: takes one token for a frame that is processed whatever the bucket holds (an empty bucket goes
 * into debt), and returns how long (µs) the sender's socket must not be read so that its next frame finds a whole
 * token; 0 when there is one already or the rate is unlimited. */
gint64 p2plink_pace_frame(p2plink_bucket *bucket, const p2plink_rate *rate, gint64 now);

typedef struct p2plink_registry p2plink_registry;

/* Optional observer for Janus event handlers. Called without the registry lock, in the order the events happened,
 * before the call that caused them returns; it must not call back into the registry (deliveries are serialised). */
typedef enum p2plink_registry_event {
	P2PLINK_EVENT_PEER_OPEN,
	P2PLINK_EVENT_PEER_CLOSE,
	P2PLINK_EVENT_PEER_TIMEOUT,
	P2PLINK_EVENT_EXPIRE,
} p2plink_registry_event;
typedef void (*p2plink_registry_observer)(p2plink_registry_event event, const char *id, const char *other, void *data);

p2plink_registry *p2plink_registry_new(const p2plink_registry_config *config, const p2plink_transport_ops *ops);
void p2plink_registry_set_observer(p2plink_registry *reg, p2plink_registry_observer observer, void *data);
/* Closes every connection it still holds and frees everything */
void p2plink_registry_free(p2plink_registry *reg);

p2plink_peer *p2plink_registry_open(p2plink_registry *reg, p2plink_conn *conn, const char *id, const char *token,
	const char *client_ip, gint64 now, char nonce_out[P2PLINK_BIND_NONCE_LEN + 1], p2plink_open_result *result);
/* The same, link-only from the start (cluster mode: the peer was link-only on the node it came from) */
p2plink_peer *p2plink_registry_open_as(p2plink_registry *reg, p2plink_conn *conn, const char *id, const char *token,
	const char *client_ip, gboolean link_only, gint64 now, char nonce_out[P2PLINK_BIND_NONCE_LEN + 1],
	p2plink_open_result *result);
/* One text frame. *pause_us: see p2plink_hotpath.peer_frame */
p2plink_frame_result p2plink_registry_frame(p2plink_registry *reg, p2plink_peer *peer, const char *data, size_t len,
	gint64 now, gint64 *pause_us);
/* The socket closed: the id stays reserved for the same token for id_grace (link-only state, grants, contacted set
 * and counterparts come back with it), then it is free. Drops the transport's reference. */
void p2plink_registry_close(p2plink_registry *reg, p2plink_peer *peer, gint64 now);
/* EXPIRE for queues older than expire_timeout, drop peers silent past alive_timeout (their ids are reserved like
 * on close), free reservations older than id_grace. Looks only at what is due (plus one entry per list), at most
 * a bounded slice of each per call (see SWEEP_SLICE in registry.c): the rest waits for the next call. Returns the
 * number of entries it looked at, so tests can check it never scans the whole table. */
guint p2plink_registry_sweep(p2plink_registry *reg, gint64 now);

/* Janus session binding: returns a new reference to the peer that was given this nonce, or NULL */
p2plink_peer *p2plink_registry_bind(p2plink_registry *reg, const char *nonce);
/* Closes the peer's connection because its Janus session went (timeout, destroy): the id is reserved as on close.
 * Returns FALSE if it was not connected. */
gboolean p2plink_registry_kick_peer(p2plink_registry *reg, p2plink_peer *peer, const char *reason, gint64 now);
/* Admin kick: closes the connection of whoever holds the id and frees the id at once (no reservation: the admin
 * meant it). Returns FALSE if nobody held it. */
gboolean p2plink_registry_kick_id(p2plink_registry *reg, const char *id, const char *reason);

/* Share-link grants and gated signaling.
 * authenticate: the connected peer with this id whose token matches (constant time), new reference, or NULL.
 * grant: the grantee may now OFFER to target even when target is link-only (held while the grantee is connected,
 * carried over a same-token reconnect). Returns FALSE when the grantee holds too many grants already.
 * set_link_only: frames to this peer are routed only from grantees (or peers it contacted first), others get
 * EXPIRE + P2PLINK-REFUSED "link-required" and the peer learns nothing; it is also left out of discovery.
 * authenticate finds connected peers only: a reserved id's owner is not connected, so it cannot use the link
 * endpoints until it is back. */
p2plink_peer *p2plink_registry_authenticate(p2plink_registry *reg, const char *id, const char *token);
gboolean p2plink_registry_grant(p2plink_registry *reg, p2plink_peer *grantee, const char *target, const char *owner);
/* Who owns an id: the hex SHA-256 of the token that holds it (links, grants and revocation are keyed on this,
 * never on the id string). owner_of: a g_malloc'd copy of the owner of the peer now holding `id` (connected, or
 * reserved during its grace period), or NULL. */
const char *p2plink_peer_owner(const p2plink_peer *peer);
char *p2plink_registry_owner_of(p2plink_registry *reg, const char *id);
void p2plink_registry_set_link_only(p2plink_registry *reg, p2plink_peer *peer, gboolean link_only);

/* Cluster mode (registry_cluster.c; ops.remote_route set). precheck: p2plink_hotpath.peer_precheck.
 * remote_deliver: a remote_frame.h body another node routed to the local id dst; FALSE when it is malformed
 * (nothing done). remote_routed: the answer to an ops.remote_route. remote_lost: the id's lease went to another
 * node with the same owner: the local copy goes without a LEAVE and without a release. remote_node_down: LEAVE to
 * local peers from their counterparts on that node. remote_retry: routes again every offline queue whose id is
 * not held here, in order (returns frames routed). kick_remote: an admin kick for an id held elsewhere. */
p2plink_open_result p2plink_registry_precheck(p2plink_registry *reg, const char *id, const char *token,
	char **owner_out, gboolean *held_here);
gboolean p2plink_registry_remote_deliver(p2plink_registry *reg, const char *dst, const char *body, size_t len,
	gint64 now);
void p2plink_registry_remote_routed(p2plink_registry *reg, const char *dst, const char *body, size_t len,
	p2plink_remote_result result, const char *node, gint64 now);
void p2plink_registry_remote_lost(p2plink_registry *reg, const char *id, const char *owner, gint64 now);
void p2plink_registry_remote_node_down(p2plink_registry *reg, const char *node);
guint p2plink_registry_remote_retry(p2plink_registry *reg, gint64 now);
void p2plink_registry_kick_remote(p2plink_registry *reg, const char *id);
guint p2plink_registry_peer_count(p2plink_registry *reg);
/* Peers on the other nodes (concurrent_limit is the cluster's) */
void p2plink_registry_set_remote_peers(p2plink_registry *reg, guint peers);
gboolean p2plink_registry_holds(p2plink_registry *reg, const char *id, const char *owner);

/* Introspection for the admin API; new references */
json_t *p2plink_registry_peer_info(p2plink_registry *reg, p2plink_peer *peer);
json_t *p2plink_registry_list_peers(p2plink_registry *reg, guint offset, guint limit);
json_t *p2plink_registry_stats(p2plink_registry *reg);
/* Ids listed by GET /peers (discovery): compact JSON array, g_malloc'd */
char *p2plink_registry_discoverable_ids_json(p2plink_registry *reg);

/* Peer references (peer_open hands one to the transport, bind one to the plugin session) */
p2plink_peer *p2plink_peer_ref(p2plink_peer *peer);
void p2plink_peer_unref(p2plink_peer *peer);
const char *p2plink_peer_id(const p2plink_peer *peer);

#endif
