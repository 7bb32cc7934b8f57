/*! \file   peerjs_conn.c
 * \brief  One PeerJS WebSocket's shared state: refcount, explicit state, bounded write queue, wake hook
 * \details What this file is for: the connection's lifecycle table, its write queue and its close request, all
 * under the connection's own mutex, and the one place that decides when the service thread must be woken.
 * What it is not for: writing to a socket, reading frames, the Janus session (janus_peerjs.c, peerjs_session.c).
 * No libwebsockets or Janus here: tests/unit/test_peerjs_conn.c drives it with a fake wake hook.
 */

#include <string.h>

#include "peerjs_conn.h"

static gint live_conns = 0;

static const char *state_names[PEERJS_CONN_STATES] = {
	[PEERJS_CONN_CREATING] = "creating",
	[PEERJS_CONN_ATTACHING] = "attaching",
	[PEERJS_CONN_BINDING] = "binding",
	[PEERJS_CONN_BOUND] = "bound",
	[PEERJS_CONN_CLOSING] = "closing",
	[PEERJS_CONN_GONE] = "gone",
};

/* The allowed transitions, all of them. The session set-up only moves forward, one step per Janus answer; a close
 * may come at any point before the socket goes; gone is the end. Everything else is a bug somewhere (an answer
 * arriving twice, or for a connection already closing), refused so that it cannot undo a close. */
#define TO(s) (1u << (s))
static const guint transitions[PEERJS_CONN_STATES] = {
	[PEERJS_CONN_CREATING] = TO(PEERJS_CONN_ATTACHING) | TO(PEERJS_CONN_CLOSING) | TO(PEERJS_CONN_GONE),
	[PEERJS_CONN_ATTACHING] = TO(PEERJS_CONN_BINDING) | TO(PEERJS_CONN_CLOSING) | TO(PEERJS_CONN_GONE),
	[PEERJS_CONN_BINDING] = TO(PEERJS_CONN_BOUND) | TO(PEERJS_CONN_CLOSING) | TO(PEERJS_CONN_GONE),
	[PEERJS_CONN_BOUND] = TO(PEERJS_CONN_CLOSING) | TO(PEERJS_CONN_GONE),
	[PEERJS_CONN_CLOSING] = TO(PEERJS_CONN_GONE),
	[PEERJS_CONN_GONE] = 0,
};
#undef TO

const char *peerjs_conn_state_name(peerjs_conn_state state) {
	return state < PEERJS_CONN_STATES ? state_names[state] : "?";
}

gboolean peerjs_conn_transition_allowed(peerjs_conn_state from, peerjs_conn_state to) {
	if(from >= PEERJS_CONN_STATES || to >= PEERJS_CONN_STATES)
		return FALSE;
	return (transitions[from] & (1u << to)) != 0;
}

static gboolean set_state_locked(p2plink_conn *conn, peerjs_conn_state to) {
	if(peerjs_conn_transition_allowed(conn->state, to)) {
		conn->state = to;
		return TRUE;
	}
	if(conn->env->log != NULL) {
		char line[128];
		g_snprintf(line, sizeof(line), "connection %p: refused state change %s -> %s", (void *)conn,
			peerjs_conn_state_name(conn->state), peerjs_conn_state_name(to));
		conn->env->log(line);
	}
	return FALSE;
}

static gboolean closing_locked(p2plink_conn *conn) {
	return conn->state >= PEERJS_CONN_CLOSING;
}

static void drain_locked(p2plink_conn *conn) {
	peerjs_out_frame *frame;
	while((frame = g_queue_pop_head(&conn->out)) != NULL)
		g_free(frame);
	conn->out_bytes = 0;
}

/* The service thread is needed (a frame or a close): TRUE when the caller must call the wake hook, once the
 * mutex is released. Once per arm: frames queued before the service thread armed us ride on the same wake. */
static gboolean need_wake_locked(p2plink_conn *conn) {
	if(conn->pending || conn->state == PEERJS_CONN_GONE)
		return FALSE;
	conn->pending = TRUE;
	return TRUE;
}

static void wake(p2plink_conn *conn, gboolean needed) {
	if(needed && conn->env->wake != NULL)
		conn->env->wake(conn);
}

p2plink_conn *peerjs_conn_new(const peerjs_conn_env *env, struct lws *wsi) {
	p2plink_conn *conn = g_new0(p2plink_conn, 1);
	g_atomic_ref_count_init(&conn->ref);
	g_mutex_init(&conn->mutex);
	conn->env = env;
	conn->state = PEERJS_CONN_CREATING;
	g_queue_init(&conn->out);
	g_queue_init(&conn->held);
	conn->wsi = wsi;
	g_atomic_int_inc(&live_conns);
	return conn;
}

void peerjs_conn_ref(p2plink_conn *conn) {
	g_atomic_ref_count_inc(&conn->ref);
}

void peerjs_conn_unref(p2plink_conn *conn) {
	if(conn == NULL || !g_atomic_ref_count_dec(&conn->ref))
		return;
	drain_locked(conn);
	g_free(conn->rx);
	g_free(conn->ip_key);
	g_free(conn->net_key);
	g_queue_clear_full(&conn->held, g_free);
	g_mutex_clear(&conn->mutex);
	g_free(conn);
	g_atomic_int_add(&live_conns, -1);
}

guint peerjs_conn_live(void) {
	return (guint)g_atomic_int_get(&live_conns);
}

gboolean peerjs_conn_set_state(p2plink_conn *conn, peerjs_conn_state to) {
	g_mutex_lock(&conn->mutex);
	gboolean ok = set_state_locked(conn, to);
	g_mutex_unlock(&conn->mutex);
	return ok;
}

peerjs_conn_state peerjs_conn_get_state(p2plink_conn *conn) {
	g_mutex_lock(&conn->mutex);
	peerjs_conn_state state = conn->state;
	g_mutex_unlock(&conn->mutex);
	return state;
}

gboolean peerjs_conn_closing(p2plink_conn *conn) {
	g_mutex_lock(&conn->mutex);
	gboolean closing = closing_locked(conn);
	g_mutex_unlock(&conn->mutex);
	return closing;
}

int peerjs_conn_send(p2plink_conn *conn, const char *text, size_t len) {
	g_mutex_lock(&conn->mutex);
	if(closing_locked(conn)) {
		g_mutex_unlock(&conn->mutex);
		return -1;
	}
	if(conn->out.length >= conn->env->max_frames || conn->out_bytes + len > conn->env->max_bytes) {
		/* A client that stops reading is cut off instead of growing our memory */
		set_state_locked(conn, PEERJS_CONN_CLOSING);
		conn->abort = TRUE;
		g_strlcpy(conn->close_reason, "slow consumer: write queue full", sizeof(conn->close_reason));
		drain_locked(conn);
		gboolean needed = need_wake_locked(conn);
		g_mutex_unlock(&conn->mutex);
		wake(conn, needed);
		return -1;
	}
	gsize headroom = conn->env->headroom;
	peerjs_out_frame *frame = g_malloc(sizeof(peerjs_out_frame) + headroom + len);
	frame->len = len;
	memcpy(frame->data + headroom, text, len);
	g_queue_push_tail(&conn->out, frame);
	conn->out_bytes += len;
	gboolean needed = need_wake_locked(conn);
	g_mutex_unlock(&conn->mutex);
	wake(conn, needed);
	return 0;
}

void peerjs_conn_close(p2plink_conn *conn, const char *reason) {
	g_mutex_lock(&conn->mutex);
	gboolean needed = FALSE;
	if(!closing_locked(conn) && set_state_locked(conn, PEERJS_CONN_CLOSING)) {
		g_strlcpy(conn->close_reason, reason ? reason : "", sizeof(conn->close_reason));
		needed = need_wake_locked(conn);
	}
	g_mutex_unlock(&conn->mutex);
	wake(conn, needed);
}

void peerjs_conn_armed(p2plink_conn *conn, gboolean *closing, gboolean *abort) {
	g_mutex_lock(&conn->mutex);
	conn->pending = FALSE;
	if(closing != NULL)
		*closing = conn->state == PEERJS_CONN_CLOSING;
	if(abort != NULL)
		*abort = conn->abort;
	g_mutex_unlock(&conn->mutex);
}

void peerjs_conn_next_out(p2plink_conn *conn, gboolean take, peerjs_conn_next *next) {
	peerjs_conn_batch batch;
	peerjs_conn_take_out(conn, take ? 1 : 0, 0, &batch);
	next->frame = batch.count > 0 ? batch.frames[0] : NULL;
	next->abort = batch.abort;
	next->closing = batch.closing;
	next->more = batch.more;
	g_strlcpy(next->reason, batch.reason, sizeof(next->reason));
}

void peerjs_conn_take_out(p2plink_conn *conn, guint max_frames, gsize max_bytes, peerjs_conn_batch *batch) {
	max_frames = MIN(max_frames, PEERJS_CONN_TAKE_MAX);
	g_mutex_lock(&conn->mutex);
	batch->abort = conn->abort;
	batch->count = 0;
	batch->bytes = 0;
	peerjs_out_frame *head;
	while(!conn->abort && batch->count < max_frames && (head = g_queue_peek_head(&conn->out)) != NULL &&
			(batch->count == 0 || batch->bytes + head->len <= max_bytes)) {
		g_queue_pop_head(&conn->out);
		conn->out_bytes -= head->len;
		batch->bytes += head->len;
		batch->frames[batch->count++] = head;
	}
	batch->more = conn->out.length > 0;
	batch->closing = conn->state == PEERJS_CONN_CLOSING;
	g_strlcpy(batch->reason, conn->close_reason, sizeof(batch->reason));
	g_mutex_unlock(&conn->mutex);
}

void peerjs_conn_queued(p2plink_conn *conn, gsize *frames, gsize *bytes) {
	g_mutex_lock(&conn->mutex);
	if(frames != NULL)
		*frames = conn->out.length;
	if(bytes != NULL)
		*bytes = conn->out_bytes;
	g_mutex_unlock(&conn->mutex);
}

gboolean peerjs_conn_set_session(p2plink_conn *conn, guint64 session_id) {
	g_mutex_lock(&conn->mutex);
	gboolean kept = conn->state != PEERJS_CONN_GONE;
	if(kept)
		conn->session_id = session_id;
	g_mutex_unlock(&conn->mutex);
	return kept;
}

guint64 peerjs_conn_session(p2plink_conn *conn) {
	g_mutex_lock(&conn->mutex);
	guint64 session_id = conn->session_id;
	g_mutex_unlock(&conn->mutex);
	return session_id;
}

gboolean peerjs_conn_set_gone(p2plink_conn *conn, guint64 *session_id) {
	g_mutex_lock(&conn->mutex);
	gboolean first = conn->state != PEERJS_CONN_GONE;
	if(first)
		set_state_locked(conn, PEERJS_CONN_GONE);
	conn->wsi = NULL;
	*session_id = conn->session_id;
	drain_locked(conn);
	g_mutex_unlock(&conn->mutex);
	return first;
}

void peerjs_conn_rx_discard(p2plink_conn *conn) {
	g_clear_pointer(&conn->rx, g_free);
	conn->rx_len = conn->rx_cap = 0;
}

void peerjs_conn_held_clear(p2plink_conn *conn) {
	g_queue_clear_full(&conn->held, g_free);
	conn->held_bytes = 0;
}
