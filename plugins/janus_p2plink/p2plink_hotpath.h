/*
 * p2plink_hotpath.h — the in-process interface between janus.transport.peerjs and janus.plugin.p2plink.
 *
 * What it is for: PeerJS frames (OFFER/ANSWER/CANDIDATE/LEAVE/EXPIRE/HEARTBEAT) are parsed and routed on the
 * transport's event-loop thread by calling straight into the plugin, instead of taking the Janus core's
 * request → task pool → plugin → push_event → transport round trip (which costs ~120 µs of CPU and several thread
 * hand-offs per message). Session setup, teardown, admin and events still go through Janus as designed.
 *
 * What it is not for: anything a client of another Janus transport could call. Janus loads plugins before
 * transports, with RTLD_GLOBAL, so the transport resolves P2PLINK_HOTPATH_SYMBOL at init and refuses to start when
 * P2PLINK_HOTPATH_VERSION differs.
 *
 * Threading: every p2plink_transport_ops function is safe from any thread; the plugin calls them from the
 * transport thread (routing), its own sweeper thread (EXPIRE, alive timeout) and Janus core threads (kick).
 * peer_open / peer_frame / peer_close are called only from the transport's event-loop thread.
 */

#ifndef P2PLINK_HOTPATH_H
#define P2PLINK_HOTPATH_H

#include <stddef.h>

#include <glib.h>
#include <jansson.h>

/* 4: cluster mode (the remote_* members of both tables, peer_precheck, peer_count). 3: metrics_snapshot (GET
 * /metrics). Any change to a struct below bumps it: the two modules are built together,
 * and a transport refusing a plugin of another version is better than one calling past the end of its table */
#define P2PLINK_HOTPATH_VERSION 4
#define P2PLINK_HOTPATH_SYMBOL "janus_p2plink_hotpath_get"

/* A transport connection (one WebSocket), opaque to the plugin */
typedef struct p2plink_conn p2plink_conn;
/* A registered peer, opaque to the transport */
typedef struct p2plink_peer p2plink_peer;

/* What the transport offers the plugin. All functions are thread-safe. */
typedef struct p2plink_transport_ops {
	/* Queue one text frame for the connection. Returns 0, or -1 when the connection is closing or its bounded
	 * write queue overflowed (the transport then closes it: a slow consumer cannot grow server memory). */
	int (*send)(p2plink_conn *conn, const char *text, size_t len);
	/* Close the connection once the frames queued so far are written. */
	void (*close)(p2plink_conn *conn, const char *reason);
	/* The plugin holds a reference on every connection it can still send to. */
	void (*ref)(p2plink_conn *conn);
	void (*unref)(p2plink_conn *conn);
	/* Cluster mode (docs/cluster.md); all NULL when it is off, and then nothing below is ever called.
	 * remote_route: send `body` (a remote_frame.h body, ownership passes) to the node holding `dst`; the answer
	 * comes back through p2plink_hotpath.remote_routed with the same body. Any thread, never blocks; called with
	 * the registry lock held, so it only queues (or calls into the cluster client, which never calls back inline).
	 * remote_release: the id is free here (its owner's socket and grace period are over): release its lease.
	 * remote_owner_of: the owner (token hash) of whoever holds `id` on another node, g_malloc'd, or NULL; blocks
	 * up to the cluster's call timeout, so never from the transport thread (link workers and admin threads ask).
	 * remote_stats: {"node", "up", "nodes": [...]} for the admin API. node: this node's id. */
	void (*remote_route)(const char *dst, char *body, size_t len);
	void (*remote_release)(const char *id, const char *owner);
	char *(*remote_owner_of)(const char *id);
	json_t *(*remote_stats)(void);
	/* remote_mark: the peer holding id (for owner) turned link-only on or off; any thread, never blocks */
	void (*remote_mark)(const char *id, const char *owner, gboolean link_only);
	/* remote_list: every id held in the cluster, [{"id","node","link_only"}] (new reference), or NULL when Redis
	 * cannot be asked; blocks like remote_owner_of, so never from the transport thread */
	json_t *(*remote_list)(void);
	const char *node;
} p2plink_transport_ops;

/* The answer to a remote_route */
typedef enum p2plink_remote_result {
	P2PLINK_REMOTE_DELIVERED = 0,	/* published to the node holding dst */
	P2PLINK_REMOTE_NOT_HELD,		/* nobody holds dst (or this node does, with nobody connected): queue it */
	P2PLINK_REMOTE_UNREACHABLE,		/* Redis or dst's node cannot be reached: EXPIRE to the sender */
} p2plink_remote_result;

/* Outcome of peer_open: the transport has already sent the matching frame when it is not OPENED. */
typedef enum p2plink_open_result {
	P2PLINK_OPEN_OK = 0,		/* OPEN sent, queued frames delivered */
	P2PLINK_OPEN_ID_TAKEN,		/* ID-TAKEN sent */
	P2PLINK_OPEN_INVALID,		/* ERROR sent: bad id or token */
	P2PLINK_OPEN_LIMIT,			/* ERROR sent: concurrent_limit reached */
	P2PLINK_OPEN_UNAVAILABLE,	/* ERROR sent: plugin stopping */
} p2plink_open_result;

/* What peer_frame saw, so the transport can keep the Janus session alive without parsing frames itself. After
 * OPEN the plugin never sends ERROR (peerjs 1.5.x aborts its Peer on any): a refused frame is answered with EXPIRE
 * and/or a P2PLINK-REFUSED frame and the socket stays; only the last two results end the connection. */
typedef enum p2plink_frame_result {
	P2PLINK_FRAME_ROUTED = 0,
	P2PLINK_FRAME_HEARTBEAT,
	P2PLINK_FRAME_REFUSED,		/* EXPIRE and/or P2PLINK-REFUSED queued to the sender, which stays connected */
	P2PLINK_FRAME_CLOSE,		/* the sender asked to go (LEAVE without dst): close normally */
	P2PLINK_FRAME_FLOOD,		/* paced continuously far beyond any real client: close with 1008 (policy) */
	P2PLINK_FRAME_BAD_TEXT,		/* not UTF-8: fail the connection with 1007 (RFC 6455 8.1), nothing relayed */
} p2plink_frame_result;

#define P2PLINK_BIND_NONCE_LEN 32	/* hex characters, 128 bits */

typedef void (*p2plink_http_reply)(void *ctx, int status, char *body);

typedef struct p2plink_hotpath {
	int version;				/* P2PLINK_HOTPATH_VERSION */
	/* Called once by the transport at init and destroy */
	int (*attach_transport)(const p2plink_transport_ops *ops);
	void (*detach_transport)(void);
	/* A WebSocket completed the PeerJS handshake. On success returns the peer (one reference owned by the caller,
	 * released by peer_close) and writes a bind nonce: the transport sends it in a Janus "bind" request on the
	 * handle it attached, which is how the plugin links the peer to its Janus session. The nonce never leaves
	 * the process, so clients of other transports cannot claim a peer (or its attested IP). */
	p2plink_peer *(*peer_open)(p2plink_conn *conn, const char *id, const char *token, const char *client_ip,
		char nonce_out[P2PLINK_BIND_NONCE_LEN + 1], p2plink_open_result *result);
	/* (Version 4) peer_open for a peer that must be link-only from its OPEN on (cluster mode: its lease says it
	 * was link-only on the node it came from) */
	p2plink_peer *(*peer_open_link_only)(p2plink_conn *conn, const char *id, const char *token, const char *client_ip,
		char nonce_out[P2PLINK_BIND_NONCE_LEN + 1], p2plink_open_result *result);
	/* One text frame from the peer's socket. Every frame is processed; when the peer is over its frame rate,
	 * *pause_us (> 0) says how long the transport must stop reading this socket (rx flow control) before the next
	 * frame: that is how a burst is paced instead of dropped. 0: read on. */
	p2plink_frame_result (*peer_frame)(p2plink_peer *peer, const char *data, size_t len, gint64 *pause_us);
	/* The socket closed: unregister (if still the current owner of the id), tell counterparts, drop the ref */
	void (*peer_close)(p2plink_peer *peer);
	/* GET {path}{key}/peers when discovery is enabled: a g_malloc'd JSON array of discoverable ids */
	char *(*discoverable_ids_json)(void);
	/* A peer-side share-link request (POST {path}{key}/<route>). Store I/O must not block the event loop, so the
	 * plugin answers later, from one of its worker threads, by calling reply exactly once: reply(ctx, status,
	 * body) with a g_malloc'd JSON body the transport then owns. client_ip is what the transport attested. */
	void (*peer_http)(const char *route, const char *body, size_t len, const char *client_ip,
		const char *user_agent, const char *base_url, p2plink_http_reply reply, void *ctx);
	/* GET /metrics (version 3): the registry's stats answer plus the hot-path counters (counters.h), as one JSON
	 * object the caller owns. Transport thread; costs the registry lock once, never one per frame. */
	json_t *(*metrics_snapshot)(void);
	/* Version 4, cluster mode; transport thread only. peer_precheck: peer_open's checks without registering
	 * anything, so the transport knows whether to take the id's lease first (P2PLINK_OPEN_OK and *held_here FALSE)
	 * or can open at once (held here by the same token: the lease is ours already); *owner_out: the token's hash,
	 * g_malloc'd (the lease names the owner, never the token). Other results: peer_open will refuse the same way. */
	p2plink_open_result (*peer_precheck)(const char *id, const char *token, char **owner_out, gboolean *held_here);
	/* What another node sent for the local peer dst (body: remote_frame.h, untrusted, validated here) */
	void (*remote_deliver)(const char *src_node, const char *dst, const char *body, size_t len);
	/* The answer to remote_route; `node` is dst's node (DELIVERED) or NULL */
	void (*remote_routed)(const char *dst, const char *body, size_t len, p2plink_remote_result result,
		const char *node);
	/* The lease of id (for owner) went to another node: drop the local copy without releasing it, no LEAVE */
	void (*remote_lost)(const char *id, const char *owner);
	/* A node died: LEAVE to every local peer that signaled with one of its peers */
	void (*remote_node_down)(const char *node);
	/* Route again what waits in offline queues for ids not held here (they may have connected elsewhere) */
	void (*remote_retry)(void);
	guint (*peer_count)(void);
	/* Does this node hold id (connected or reserved) for owner? A release is skipped when it does: the owner came
	 * back here between the registry's release and the transport acting on it */
	gboolean (*peer_held)(const char *id, const char *owner);
	/* Peers connected to the other nodes (their last heartbeats): concurrent_limit counts the whole cluster */
	void (*remote_peers)(guint peers);
} p2plink_hotpath;

typedef const p2plink_hotpath *(*p2plink_hotpath_get_fn)(void);

#endif
