/*! \file   peerjs_session.c
 * \brief  The Janus session each PeerJS connection gets: create → attach → bind, keepalives, destroy
 * \details What this file is for: the requests and the transaction → handler table for their answers (see
 * peerjs_session.h). What it is not for: talking to the core (the ops the caller passes), the connection's queue.
 */

#include <string.h>

#include "peerjs_session.h"

/* Transactions we put on our own Janus requests, to recognise their answers */
#define TX_CREATE		"p2plink-create"
#define TX_ATTACH		"p2plink-attach"
#define TX_BIND			"p2plink-bind"
#define TX_KEEPALIVE	"p2plink-keepalive"
#define TX_DESTROY		"p2plink-destroy"
#define TX_INFO			"p2plink-info"

json_t *peerjs_session_create_request(void) {
	return json_pack("{s:s,s:s}", "janus", "create", "transaction", TX_CREATE);
}

/* "destroy" for a session this connection owns: one hash lookup in the core. (transport_gone would do the same
 * by scanning every session under the core's sessions mutex: O(sessions) per closed socket, which made 18,500
 * peers leaving at once take 5.5 s of a blocked core.) */
json_t *peerjs_session_destroy_request(guint64 session_id) {
	return json_pack("{s:s,s:I,s:s}", "janus", "destroy", "session_id", (json_int_t)session_id,
		"transaction", TX_DESTROY);
}

json_t *peerjs_session_keepalive_request(guint64 session_id) {
	return json_pack("{s:s,s:I,s:s}", "janus", "keepalive", "session_id", (json_int_t)session_id,
		"transaction", TX_KEEPALIVE);
}

json_t *peerjs_session_info_request(void) {
	return json_pack("{s:s,s:s}", "janus", "info", "transaction", TX_INFO);
}

static void log_line(const peerjs_session_ops *ops, const char *format, ...) G_GNUC_PRINTF(2, 3);
static void log_line(const peerjs_session_ops *ops, const char *format, ...) {
	if(ops->log == NULL)
		return;
	va_list args;
	va_start(args, format);
	char *line = g_strdup_vprintf(format, args);
	va_end(args);
	ops->log(line);
	g_free(line);
}

static json_int_t data_id(json_t *message) {
	return json_integer_value(json_object_get(json_object_get(message, "data"), "id"));
}

/* "create" succeeded: keep the session id (whoever tears down destroys it), then attach, unless a close came
 * first: a closing connection needs no handle, only its session destroyed */
static void on_created(p2plink_conn *conn, void *ts, json_t *message, const peerjs_session_ops *ops) {
	json_int_t session_id = data_id(message);
	if(!peerjs_conn_set_session(conn, (guint64)session_id)) {
		/* The socket closed between the transport's check and now: the teardown did not know this id */
		ops->request(ts, peerjs_session_destroy_request((guint64)session_id));
		return;
	}
	if(peerjs_conn_closing(conn) || !peerjs_conn_set_state(conn, PEERJS_CONN_ATTACHING))
		return;
	ops->request(ts, json_pack("{s:s,s:I,s:s,s:s}", "janus", "attach", "session_id", session_id,
		"plugin", "janus.plugin.p2plink", "transaction", TX_ATTACH));
}

static void on_attached(p2plink_conn *conn, void *ts, json_t *message, const peerjs_session_ops *ops) {
	if(peerjs_conn_closing(conn) || !peerjs_conn_set_state(conn, PEERJS_CONN_BINDING))
		return;
	ops->request(ts, json_pack("{s:s,s:I,s:I,s:s,s:{s:s,s:s}}", "janus", "message",
		"session_id", (json_int_t)peerjs_conn_session(conn), "handle_id", data_id(message), "transaction", TX_BIND,
		"body", "request", "bind", "nonce", conn->nonce));
}

static void on_bound(p2plink_conn *conn, void *ts, json_t *message, const peerjs_session_ops *ops) {
	(void)ts;
	json_t *data = json_object_get(json_object_get(message, "plugindata"), "data");
	const char *state = json_string_value(json_object_get(data, "p2plink"));
	if(state == NULL || strcmp(state, "bound") != 0) {
		log_line(ops, "binding a peer to its Janus handle failed: %s",
			json_string_value(json_object_get(data, "error")));
		peerjs_conn_close(conn, "server error");
		return;
	}
	if(!peerjs_conn_closing(conn))
		peerjs_conn_set_state(conn, PEERJS_CONN_BOUND);
}

typedef void (*answer_handler)(p2plink_conn *conn, void *ts, json_t *message, const peerjs_session_ops *ops);

/* Every transaction we send, what its "success" does, and whether its "error" closes the connection. A destroy
 * may race a session timeout: "no such session" then is the outcome we wanted. Keepalives are answered "ack". */
static const struct {
	const char *transaction;
	answer_handler on_success;
	gboolean error_closes;
} answers[] = {
	{ TX_CREATE, on_created, TRUE },
	{ TX_ATTACH, on_attached, TRUE },
	{ TX_BIND, on_bound, TRUE },
	{ TX_KEEPALIVE, NULL, TRUE },
	{ TX_DESTROY, NULL, FALSE },
	{ TX_INFO, NULL, FALSE },
};

static int answer_index(const char *tx) {
	for(guint i = 0; tx != NULL && i < G_N_ELEMENTS(answers); i++) {
		if(!strcmp(answers[i].transaction, tx))
			return (int)i;
	}
	return -1;
}

void peerjs_session_answer(p2plink_conn *conn, void *ts, json_t *message, const peerjs_session_ops *ops) {
	const char *janus = json_string_value(json_object_get(message, "janus"));
	const char *tx = json_string_value(json_object_get(message, "transaction"));
	janus = janus ? janus : "";
	int i = answer_index(tx);
	if(!strcmp(janus, "success")) {
		if(i >= 0 && answers[i].on_success != NULL)
			answers[i].on_success(conn, ts, message, ops);
	} else if(!strcmp(janus, "error")) {
		/* Not one of ours (i < 0): nothing we asked for can have made it, so it is as bad as any */
		if(i < 0 || answers[i].error_closes) {
			log_line(ops, "Janus refused %s: %s", tx ? tx : "", json_string_value(json_object_get(
				json_object_get(message, "error"), "reason")));
			peerjs_conn_close(conn, "server error");
		}
	} else if(!strcmp(janus, "timeout")) {
		peerjs_conn_close(conn, "session timeout");
	}
	/* Everything else (acks, keepalive answers, events) is swallowed: the browser never sees Janus messages */
}

guint64 peerjs_session_orphan(json_t *message) {
	const char *janus = json_string_value(json_object_get(message, "janus"));
	const char *tx = json_string_value(json_object_get(message, "transaction"));
	json_int_t session_id = data_id(message);
	if(janus && tx && !strcmp(janus, "success") && !strcmp(tx, TX_CREATE) && session_id > 0)
		return (guint64)session_id;
	return 0;
}

gboolean peerjs_session_info_answer(json_t *message, gint64 *timeout) {
	const char *tx = json_string_value(json_object_get(message, "transaction"));
	json_t *value = json_object_get(message, "session-timeout");
	if(tx == NULL || strcmp(tx, TX_INFO) != 0 || !json_is_integer(value) || json_integer_value(value) < 0)
		return FALSE;
	*timeout = json_integer_value(value);
	return TRUE;
}

/* At most one keepalive per session_timeout/2: often enough that one late heartbeat cannot let the session
 * expire, never one per heartbeat. Unknown (negative: the core has not answered "info" yet): one per heartbeat,
 * which is safe for any timeout. */
gint64 peerjs_session_keepalive_interval(gint64 session_timeout) {
	if(session_timeout < 0)
		return 1;
	return session_timeout > 0 ? session_timeout * G_USEC_PER_SEC / 2 : 0;
}

gboolean peerjs_session_keepalive_due(p2plink_conn *conn, gint64 now, gint64 interval, guint64 *session_id) {
	*session_id = peerjs_conn_session(conn);
	if(*session_id == 0 || interval <= 0 || now - conn->last_keepalive < interval)
		return FALSE;
	conn->last_keepalive = now;
	return TRUE;
}
