/*! \file   peerjs_conn.h
 * \brief  One PeerJS WebSocket's shared state: refcount, explicit state, bounded write queue, wake hook
 * \details What this file is for: the connection object the plugin, the Janus core and the lws service thread
 * share. Its lifecycle is one enum (creating → attaching → binding → bound, then closing, then gone) whose allowed
 * transitions are in one table (peerjs_conn.c), its write queue is bounded in frames and bytes (a client that stops
 * reading is cut off), and other threads make the service thread write through one function pointer (the wake
 * hook) that the lws side sets, called once per arm however many frames are queued meanwhile.
 * What it is not for: libwebsockets or Janus calls (none here: this file is unit-tested without either, see
 * tests/unit/test_peerjs_conn.c), the Janus session requests (peerjs_session.c), reading frames (janus_peerjs.c).
 *
 * Threads: the fields under "Guarded by mutex" may be touched from any thread, with the mutex; the fields under
 * "Service thread only" belong to the lws service thread.
 */

#ifndef PEERJS_CONN_H
#define PEERJS_CONN_H

#include <arpa/inet.h>
#include <glib.h>

#include "p2plink_hotpath.h"

struct lws;

/* Where a connection is in its life. Setting up its Janus session walks the first four in order; any of them may
 * end in closing (a close was asked for: only what is queued is flushed) and every one ends in gone (the socket
 * closed). Only peerjs_conn_set_state changes it, and it refuses (and logs) the transitions the table leaves out. */
typedef enum peerjs_conn_state {
	PEERJS_CONN_CREATING = 0,	/* the WebSocket is open; "create" (the Janus session) is asked for or refused */
	PEERJS_CONN_ATTACHING,		/* the session exists (session_id set); "attach" to janus.plugin.p2plink asked */
	PEERJS_CONN_BINDING,		/* the handle exists; "bind" (peer ↔ handle, by nonce) asked */
	PEERJS_CONN_BOUND,			/* the plugin bound the peer to its handle */
	PEERJS_CONN_CLOSING,		/* a close was asked for: nothing more is queued or routed, the queue is flushed */
	PEERJS_CONN_GONE,			/* the socket is closed: nothing more happens to this connection */
	PEERJS_CONN_STATES
} peerjs_conn_state;

const char *peerjs_conn_state_name(peerjs_conn_state state);
/* The transition table: TRUE when from → to is allowed */
gboolean peerjs_conn_transition_allowed(peerjs_conn_state from, peerjs_conn_state to);

/* What all connections of one transport share: the queue bounds, the frame headroom (LWS_PRE for lws_write),
 * and the hooks */
typedef struct peerjs_conn_env {
	guint max_frames;
	gsize max_bytes;
	gsize headroom;
	/* Called, outside the connection's mutex, when the connection needs the service thread: the first frame or
	 * close after the last peerjs_conn_armed. May run on any thread, the service thread included. */
	void (*wake)(p2plink_conn *conn);
	/* A refused transition and the like (NULL: not logged) */
	void (*log)(const char *line);
} peerjs_conn_env;

/* A queued frame: headroom bytes, then len bytes of text */
typedef struct peerjs_out_frame {
	size_t len;
	unsigned char data[];
} peerjs_out_frame;

struct p2plink_conn {
	gatomicrefcount ref;
	GMutex mutex;
	const peerjs_conn_env *env;
	/* Guarded by mutex */
	peerjs_conn_state state;
	GQueue out;
	gsize out_bytes;
	gboolean abort;			/* closing without flushing (slow consumer) */
	gboolean pending;		/* the wake hook was called and the service thread has not armed us since */
	char close_reason[64];
	/* The Janus session, once "create" answered (0 before). Set under mutex together with the check of gone, so
	 * that exactly one side destroys the session: the teardown if it knows the id, the "create" answer if not */
	guint64 session_id;
	/* Service thread only */
	struct lws *wsi;
	p2plink_peer *peer;
	char *rx;
	size_t rx_len, rx_cap;
	GQueue held;			/* pacing: whole messages read while paced, processed by the TIMER callback */
	gsize held_bytes;
	gboolean paced;			/* the plugin asked for a pause that is not over yet */
	gboolean leasing;		/* cluster mode: the id's lease is being taken; frames wait in held until OPEN */
	int fail_status;		/* ws_fail: the close code to send from the writable callback (0: none, -1: sent) */
	gboolean writable_seen;	/* lws called the writable callback once: frames may be written at a turn's end */
	gboolean turn_end_listed;	/* in peerjs_ws.c's turn-end list (which holds a reference) */
	gboolean read_ahead;	/* TLS read-ahead on, socket reads watched (peerjs_tls_reads.c) */
	gboolean reads_listed;	/* in peerjs_tls_reads.c's list (which holds a reference) */
	gboolean read_starved;	/* the last socket read found nothing: OpenSSL waits for the network */
	const char *fail_reason;
	gint64 last_keepalive;
	/* Written on the service thread before the Janus session exists, read by the core threads afterwards */
	void *ts;				/* the janus_transport_session */
	char ip[INET6_ADDRSTRLEN + 8];
	char *ip_key, *net_key;	/* counted under these in conns_per_ip / conns_per_net (NULL: not counted) */
	char nonce[P2PLINK_BIND_NONCE_LEN + 1];
};

/* A new connection in state creating, holding one reference (the socket's) */
p2plink_conn *peerjs_conn_new(const peerjs_conn_env *env, struct lws *wsi);
void peerjs_conn_ref(p2plink_conn *conn);
/* Frees on the last reference (the held and queued frames with it) */
void peerjs_conn_unref(p2plink_conn *conn);
/* Connections allocated and not yet freed, in this process (tests: unref frees exactly once) */
guint peerjs_conn_live(void);

/* Moves to state to; FALSE (and a log line) when the table does not allow it */
gboolean peerjs_conn_set_state(p2plink_conn *conn, peerjs_conn_state to);
peerjs_conn_state peerjs_conn_get_state(p2plink_conn *conn);
/* Closing or gone: nothing more of this connection is routed or queued */
gboolean peerjs_conn_closing(p2plink_conn *conn);

/* Queues a text frame: 0, or -1 when closing/gone or the queue is full (then the connection aborts: cut off
 * without flushing, its queue dropped). Any thread. */
int peerjs_conn_send(p2plink_conn *conn, const char *text, size_t len);
/* Asks for a close after the queue is flushed; reason goes into the close frame. Idempotent. Any thread. */
void peerjs_conn_close(p2plink_conn *conn, const char *reason);
/* Service thread, acting on a wake: the next frame or close calls the wake hook again. Says (each may be NULL)
 * whether the connection is closing (close after the flush) and/or aborting (at once), in the same lock. */
void peerjs_conn_armed(p2plink_conn *conn, gboolean *closing, gboolean *abort);

/* The next step of the writable callback, read under the mutex in one go */
typedef struct peerjs_conn_next {
	peerjs_out_frame *frame;	/* the caller's to free (g_free); NULL when nothing was taken */
	gboolean abort, closing;
	gboolean more;				/* frames are still queued after this one */
	char reason[64];
} peerjs_conn_next;
/* take FALSE (the pipe is choked): only the flags */
void peerjs_conn_next_out(p2plink_conn *conn, gboolean take, peerjs_conn_next *next);

/* Frames taken by one peerjs_conn_take_out at most */
#define PEERJS_CONN_TAKE_MAX 16
/* Several frames in one lock, for one write (the writable callback coalesces them into one TLS record) */
typedef struct peerjs_conn_batch {
	peerjs_out_frame *frames[PEERJS_CONN_TAKE_MAX];	/* the caller's to free (g_free) */
	guint count;				/* 0 when nothing was taken */
	gsize bytes;				/* text bytes in frames, together */
	gboolean abort, closing;
	gboolean more;				/* frames are still queued after these */
	char reason[64];
} peerjs_conn_batch;
/* Takes queued frames in order, up to max_frames (≤ PEERJS_CONN_TAKE_MAX) and while their text stays within
 * max_bytes together; the first frame is always taken, whatever its size. max_frames 0: only the flags */
void peerjs_conn_take_out(p2plink_conn *conn, guint max_frames, gsize max_bytes, peerjs_conn_batch *batch);
/* What is queued: frames and bytes (either may be NULL) */
void peerjs_conn_queued(p2plink_conn *conn, gsize *frames, gsize *bytes);

/* The Janus session id ("create" answered). FALSE (id not kept) when the connection is already gone: then the
 * caller destroys the session, since the teardown did not know it */
gboolean peerjs_conn_set_session(p2plink_conn *conn, guint64 session_id);
guint64 peerjs_conn_session(p2plink_conn *conn);
/* The socket closed: state gone, queue dropped. TRUE the first time only, with the session id to destroy (0: none
 * yet, the "create" answer destroys it) */
gboolean peerjs_conn_set_gone(p2plink_conn *conn, guint64 *session_id);

/* The service-thread buffers: reassembly and held (paced) frames dropped */
void peerjs_conn_rx_discard(p2plink_conn *conn);
void peerjs_conn_held_clear(p2plink_conn *conn);

#endif
