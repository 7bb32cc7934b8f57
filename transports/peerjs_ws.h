/*! \file   peerjs_ws.h
 * \brief  The PeerJS WebSocket on the service thread: handshake, reading (reassembly, pacing), writing, teardown
 * \details What this file is for (Redis's networking.c): what libwebsockets' WebSocket callbacks do with a
 * connection. The handshake checks key/id/token and the per-address limits and opens the peer in the plugin; whole
 * text messages go to the plugin's hot path, paced as it says; the writable callback drains the connection's
 * queue (peerjs_conn.c) and sends close frames; a closed socket is torn down in the plugin and in Janus.
 * What it is not for: the queue and state rules (peerjs_conn.c), Janus session answers (peerjs_session.c), HTTP
 * (peerjs_http.c), the callback switch (janus_peerjs.c).
 */

#ifndef PEERJS_WS_H
#define PEERJS_WS_H

#include <libwebsockets.h>

#include "peerjs_conn.h"

/* What the plugin calls to send to / close a connection (its hot path's transport ops) */
extern const p2plink_transport_ops peerjs_ws_transport_ops;
/* peerjs_conn_env.wake: the service thread arms the connection (now if we are on it) */
void peerjs_ws_wake(p2plink_conn *conn);

/* LWS_CALLBACK_ESTABLISHED: returns the new connection (the socket's reference) */
p2plink_conn *peerjs_ws_established(struct lws *wsi);
/* The handshake is accepted: the plugin registers the peer (OPEN, or the refusal it sends) and its Janus session
 * starts; frames held while a cluster lease was taken run then. TRUE when the peer is open. Service thread. */
gboolean peerjs_ws_open_peer(p2plink_conn *conn, const char *id, const char *token, gboolean link_only);
/* Cluster mode: another token holds the id on another node: ID-TAKEN (a single node's very frame) and a close */
void peerjs_ws_refuse_id_taken(p2plink_conn *conn);
int peerjs_ws_receive(struct lws *wsi, p2plink_conn *conn, const void *in, size_t len);
/* LWS_CALLBACK_TIMER: a paced peer's pause is over */
int peerjs_ws_resume(struct lws *wsi, p2plink_conn *conn);
int peerjs_ws_writeable(struct lws *wsi, p2plink_conn *conn);
/* Socket closed: tell the plugin and Janus; drops the socket's reference. Idempotent. */
void peerjs_ws_teardown(p2plink_conn *conn);
/* The end of a loop turn (peerjs_loop_at_turn_end): writes the frames routed during it */
void peerjs_ws_turn_end(void);
/* The most one of our lws_write calls carries (a relayed frame at max_frame_size, or a coalesced batch): the
 * protocol's tx_packet_size, since lws cuts every send to that (0: rx_buffer_size or 4 KiB) */
size_t peerjs_ws_largest_write(gint64 max_frame_size);

#endif
