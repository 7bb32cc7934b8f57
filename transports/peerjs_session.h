/*! \file   peerjs_session.h
 * \brief  The Janus session each PeerJS connection gets: create → attach → bind, keepalives, destroy
 * \details What this file is for: the Janus API requests the transport makes on behalf of a connection, and what
 * their answers do, as a transaction → handler table: "create" answered moves the connection to attaching and asks
 * for "attach" to janus.plugin.p2plink, "attach" answered moves it to binding and asks the plugin to "bind" the
 * handle to the peer (by the nonce peer_open gave), "bind" answered moves it to bound. Errors and timeouts close
 * the connection. Also the core's "info" answer, which says the session_timeout keepalives must beat.
 * What it is not for: sending the requests (the caller's send hook: gateway->incoming_request in janus_peerjs.c),
 * the connection's queue and state table (peerjs_conn.c). No Janus headers: tests/unit/test_peerjs_session.c.
 */

#ifndef PEERJS_SESSION_H
#define PEERJS_SESSION_H

#include <glib.h>
#include <jansson.h>

#include "peerjs_conn.h"

/* How requests reach the Janus core. ts is the transport session the request goes out on (the connection's, or
 * the one the answer came in on); request is stolen. */
typedef struct peerjs_session_ops {
	void (*request)(void *ts, json_t *request);
	void (*log)(const char *line);	/* errors worth an operator's attention (NULL: not logged) */
} peerjs_session_ops;

/* The requests. Each returns a new object for ops->request. */
json_t *peerjs_session_create_request(void);
json_t *peerjs_session_destroy_request(guint64 session_id);
json_t *peerjs_session_keepalive_request(guint64 session_id);
json_t *peerjs_session_info_request(void);

/* An answer from the core for conn (on transport session ts). Never steals message. */
void peerjs_session_answer(p2plink_conn *conn, void *ts, json_t *message, const peerjs_session_ops *ops);
/* An answer for a connection whose transport session is already destroyed: a "create" that succeeded after the
 * socket closed leaves a session nobody would destroy until session_timeout. Returns its id (0: nothing to do). */
guint64 peerjs_session_orphan(json_t *message);
/* TRUE when message answers peerjs_session_info_request; *timeout then is the core's session_timeout in seconds
 * (0: sessions never time out) */
gboolean peerjs_session_info_answer(json_t *message, gint64 *timeout);

/* Keepalives: at most one per interval (half the session_timeout), on a PeerJS heartbeat. 0: never needed
 * (session_timeout 0); session_timeout unknown (< 0): every heartbeat. */
gint64 peerjs_session_keepalive_interval(gint64 session_timeout);
/* Service thread, on a heartbeat at now: TRUE (and last_keepalive updated) when a keepalive is due */
gboolean peerjs_session_keepalive_due(p2plink_conn *conn, gint64 now, gint64 interval, guint64 *session_id);

#endif
