/*! \file   peerjs_ws.c
 * \brief  The PeerJS WebSocket on the service thread (see peerjs_ws.h)
 * \details What this file is for: handshake, reads, writes and teardown of one WebSocket. What it is not for:
 * the queue rules (peerjs_conn.c), the session requests (peerjs_session.c), HTTP (peerjs_http.c).
 *
 * Threads: everything that touches a struct lws runs on the service thread. Other threads (Janus core, the
 * plugin's sweeper) only queue frames / close requests (peerjs_conn.c) and wake the loop (peerjs_loop_wake).
 */

#include <string.h>

#include <openssl/crypto.h>

#include <debug.h>
#include <utils.h>

#include "metrics_endpoint.h"
#include "protocol.h"
#include "peerjs_cluster.h"
#include "peerjs_limits.h"
#include "peerjs_loop.h"
#include "peerjs_session.h"
#include "peerjs_tls_reads.h"
#include "peerjs_transport.h"
#include "peerjs_ws.h"

const p2plink_transport_ops peerjs_ws_transport_ops = {
	.send = peerjs_conn_send,
	.close = peerjs_conn_close,
	.ref = peerjs_conn_ref,
	.unref = peerjs_conn_unref,
};

/* Service thread: act on what other threads asked of this connection. A peer that stops reading never becomes
 * writable again, so closes cannot rely on the writable callback alone: an abort (slow consumer) is killed right
 * away, a close gets PEERJS_CLOSE_FLUSH_TIMEOUT seconds to flush. wsi is only cleared on this thread: checking it
 * is safe. */
static gboolean flush_at_turn_end(p2plink_conn *conn);

static void conn_arm(void *item) {
	p2plink_conn *conn = item;
	gboolean closing = FALSE, abort = FALSE;
	peerjs_conn_armed(conn, &closing, &abort);
	if(conn->wsi == NULL)
		return;
	if(abort)
		lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	else if(closing)
		lws_set_timeout(conn->wsi, PENDING_TIMEOUT_CLOSE_SEND, PEERJS_CLOSE_FLUSH_TIMEOUT);
	if(!abort && (closing || !flush_at_turn_end(conn)))
		lws_callback_on_writable(conn->wsi);
}

static void conn_unref_item(void *item) {
	peerjs_conn_unref(item);
}

static const peerjs_wake_ops conn_wake_ops = { .arm = conn_arm, .unref = conn_unref_item };

void peerjs_ws_wake(p2plink_conn *conn) {
	if(peerjs_on_service_thread) {
		conn_arm(conn);
		return;
	}
	peerjs_conn_ref(conn);	/* the wake list's */
	peerjs_loop_wake(conn, &conn_wake_ops);
}

/* An ERROR frame, then a close. code NULL: exactly the reference server's frame ({"msg"} only, its exact words,
 * for the handshake errors the stock client knows); otherwise protocol.c's frame with our stable code as well */
static void send_error_and_close(p2plink_conn *conn, const char *code, const char *msg) {
	char *text = code != NULL ? p2plink_frame_encode_error(code, msg, NULL) :
		p2plink_json_text(json_pack("{s:s,s:{s:s}}", "type", "ERROR", "payload", "msg", msg));
	peerjs_conn_send(conn, text, strlen(text));
	peerjs_conn_close(conn, msg);
	g_free(text);
}

static void janus_session_start(p2plink_conn *conn) {
	conn->ts = janus_transport_session_create(conn, (void (*)(void *))peerjs_conn_unref);
	peerjs_conn_ref(conn);	/* the transport session's reference, dropped by the core through p_free */
	peerjs_janus_request(conn->ts, peerjs_session_create_request());
}

p2plink_conn *peerjs_ws_established(struct lws *wsi) {
	p2plink_conn *conn = peerjs_conn_new(&peerjs.conn_env, wsi);
	peerjs_metrics_connection();
	peerjs_tls_reads_start(conn);
	if(!peerjs_client_address(wsi, conn->ip, sizeof(conn->ip))) {
		/* LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION refused these already: only a defence in depth */
		peerjs_metrics_refused(PEERJS_REFUSED_BAD_ADDRESS);
		peerjs_conn_close(conn, "bad X-Forwarded-For");
		return conn;
	}
	const char *refused = peerjs_limits_admit(conn);
	if(refused != NULL) {
		send_error_and_close(conn, "too-many-connections", refused);
		return conn;
	}
	char key[256], id[256], token[256];
	const char *k = lws_get_urlarg_by_name(wsi, "key=", key, sizeof(key));
	const char *i = lws_get_urlarg_by_name(wsi, "id=", id, sizeof(id));
	const char *t = lws_get_urlarg_by_name(wsi, "token=", token, sizeof(token));
	if(k == NULL || i == NULL || t == NULL || !*k || !*i || !*t) {
		peerjs_metrics_refused(PEERJS_REFUSED_BAD_HANDSHAKE);
		send_error_and_close(conn, NULL, "No id, token, or key supplied to websocket server");
	} else if(strcmp(k, peerjs.config.key) != 0) {
		peerjs_metrics_refused(PEERJS_REFUSED_BAD_KEY);
		send_error_and_close(conn, NULL, "Invalid key provided");
	} else if(peerjs_cluster_enabled()) {
		/* The id's lease first (it keeps its own copy of the token until then) */
		peerjs_cluster_open(conn, i, t);
	} else {
		peerjs_ws_open_peer(conn, i, t, FALSE);
	}
	/* Our copy of the token is not needed past peer_open (the plugin keeps its own): wipe it off the stack.
	 * lws_get_urlarg_by_name copies "token=<token>" whole, and t may be NULL, so the whole buffer goes */
	OPENSSL_cleanse(token, sizeof(token));
	return conn;
}

gboolean peerjs_ws_open_peer(p2plink_conn *conn, const char *id, const char *token, gboolean link_only) {
	p2plink_open_result result;
	/* NULL: the plugin already queued ID-TAKEN or ERROR and asked for the close */
	conn->peer = (link_only ? peerjs.hotpath->peer_open_link_only : peerjs.hotpath->peer_open)(conn, id, token,
		conn->ip, conn->nonce, &result);
	peerjs_metrics_open_result(result);
	if(conn->peer == NULL)
		return FALSE;
	conn->last_keepalive = janus_get_monotonic_time();
	janus_session_start(conn);
	/* Cluster mode: what the client sent while the lease was being taken waited in held */
	if(conn->paced)
		peerjs_ws_resume(conn->wsi, conn);
	return TRUE;
}

void peerjs_ws_refuse_id_taken(p2plink_conn *conn) {
	char *text = p2plink_frame_encode_id_taken(NULL);
	peerjs_conn_send(conn, text, strlen(text));
	peerjs_conn_close(conn, "id taken");
	g_free(text);
	peerjs_metrics_open_result(P2PLINK_OPEN_ID_TAKEN);
}

/* After OPEN a protocol violation fails the WebSocket with a close code and reason (RFC 6455 7.4.1), never an
 * ERROR frame: peerjs 1.5.x aborts its Peer on ERROR, and a close says the same to any client. From here on
 * nothing more of this socket is processed (what it still sends is dropped unread, and what is queued for it is
 * not written); the close frame goes out from the writable callback (peerjs_ws_writeable). */
static int ws_fail(struct lws *wsi, p2plink_conn *conn, enum lws_close_status status, const char *reason) {
	peerjs_conn_rx_discard(conn);
	peerjs_conn_held_clear(conn);
	conn->fail_status = status;
	conn->fail_reason = reason;
	lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, PEERJS_CLOSE_FLUSH_TIMEOUT);
	lws_callback_on_writable(wsi);
	return 0;
}

/* A flood is logged, but a client that floods from many sockets must not flood the log: one line per 10 s */
static void log_flood(const char *ip) {
	static gint64 last = 0;
	static guint64 quiet = 0;
	gint64 now = janus_get_monotonic_time();
	if(last != 0 && now - last < 10 * G_USEC_PER_SEC) {
		quiet++;
		return;
	}
	JANUS_LOG(LOG_WARN, "%s: closed a flooding peer from %s (paced continuously past flood_after; %"SCNu64" more "
		"since the last report)\n", JANUS_PEERJS_NAME, ip, quiet);
	last = now;
	quiet = 0;
}

/* Pacing. The plugin processes every frame and says how long to wait before the next (p2plink_hotpath.peer_frame).
 * On a plain socket we also stop reading it (lws_rx_flow_control) so the backlog stays in the client's TCP
 * buffers. Not on TLS: with libwebsockets 4.1.6, a TLS connection whose rx is flow-controlled while decrypted data
 * is pending spins the service thread (measured: a 2,000-frame burst over WSS, the thread 100% in
 * lws_buflist_append_segment, nothing written to anyone for 15 s+). There, messages lws has read while the peer is
 * paced wait in conn->held, in order, and are processed when the pause is over. A backlog no real client has
 * (PACE_HOLD_MAX_FRAMES: 16 s of the default frame_rate; or PACE_HOLD_MAX_BYTES) is a flood. */
#define PACE_HOLD_MAX_FRAMES 8192
#define PACE_HOLD_MAX_BYTES (4 * 1024 * 1024)

typedef struct held_frame {
	size_t len;
	char data[];
} held_frame;

static void keepalive(p2plink_conn *conn) {
	guint64 session_id = 0;
	gint64 interval = peerjs_session_keepalive_interval(g_atomic_int_get(&peerjs.session_timeout));
	if(peerjs_session_keepalive_due(conn, janus_get_monotonic_time(), interval, &session_id))
		peerjs_janus_request(conn->ts, peerjs_session_keepalive_request(session_id));
}

/* One whole text message to the plugin, and what its answer means for the socket */
static int ws_deliver(struct lws *wsi, p2plink_conn *conn, const char *data, size_t len) {
	/* The one gate for frames read now and for held ones: a connection that is closing routes nothing more (the
	 * frames after a LEAVE, or read during the close flush, were routed as if the peer were still there) */
	if(conn->fail_status != 0 || peerjs_conn_closing(conn))
		return 0;
	gint64 pause_us = 0;
	p2plink_frame_result result = peerjs.hotpath->peer_frame(conn->peer, data, len, &pause_us);
	if(result == P2PLINK_FRAME_BAD_TEXT)
		return ws_fail(wsi, conn, LWS_CLOSE_STATUS_INVALID_PAYLOAD, "text frame is not valid UTF-8");
	if(result == P2PLINK_FRAME_FLOOD) {
		log_flood(conn->ip);
		return ws_fail(wsi, conn, LWS_CLOSE_STATUS_POLICY_VIOLATION, "flooding: over frame_rate for too long");
	}
	if(pause_us > 0) {
		/* Over its frame rate: nothing more of this peer until its bucket holds a token again (the TIMER callback
		 * resumes it). Its frames wait, in order; nobody else's are held up. */
		conn->paced = TRUE;
		if(!lws_is_ssl(wsi))
			lws_rx_flow_control(wsi, 0);
		lws_set_timer_usecs(wsi, pause_us);
	}
	if(result == P2PLINK_FRAME_HEARTBEAT)
		keepalive(conn);
	else if(result == P2PLINK_FRAME_CLOSE)
		peerjs_conn_close(conn, "peer left");
	return 0;
}

int peerjs_ws_resume(struct lws *wsi, p2plink_conn *conn) {
	if(conn == NULL || conn->peer == NULL || conn->fail_status != 0)
		return 0;
	conn->paced = FALSE;
	held_frame *h;
	/* ws_deliver may pace the peer again, fail it (which empties held) or close it (the rest is dropped there) */
	while(!conn->paced && conn->fail_status == 0 && (h = g_queue_pop_head(&conn->held)) != NULL) {
		conn->held_bytes -= h->len;
		ws_deliver(wsi, conn, h->data, h->len);
		g_free(h);
	}
	if(!conn->paced && conn->fail_status == 0 && !lws_is_ssl(wsi))
		lws_rx_flow_control(wsi, 1);
	return 0;
}

int peerjs_ws_receive(struct lws *wsi, p2plink_conn *conn, const void *in, size_t len) {
	if(conn == NULL || (conn->peer == NULL && !conn->leasing))
		return 0;	/* handshake was refused: the close is on its way */
	if(conn->fail_status != 0)
		return 0;	/* failed: its close frame is on its way, nothing more of it is read */
	if(peerjs_conn_closing(conn)) {
		/* Closing: nothing more is routed (ws_deliver), so nothing more is buffered or held either */
		peerjs_conn_rx_discard(conn);
		peerjs_conn_held_clear(conn);
		return 0;
	}
	if(lws_frame_is_binary(wsi))
		return ws_fail(wsi, conn, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "binary frames are not part of PeerJS");
	gsize max_frame_size = (gsize)peerjs.config.max_frame_size;
	if(conn->rx_len + len > max_frame_size) {
		/* Stop buffering now: a peer streaming a giant frame must not cost us memory */
		return ws_fail(wsi, conn, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message exceeds max_frame_size");
	}
	const char *data = in;
	size_t total = len;
	if(!lws_is_final_fragment(wsi) || conn->rx_len > 0) {
		if(conn->rx_len + len > conn->rx_cap) {
			/* Frames bigger than rx_buffer_size arrive in pieces: grow geometrically, one realloc or two per frame */
			conn->rx_cap = MAX(conn->rx_len + len, MIN(MAX(conn->rx_cap * 2, 4096), max_frame_size));
			conn->rx = g_realloc(conn->rx, conn->rx_cap);
		}
		memcpy(conn->rx + conn->rx_len, in, len);
		conn->rx_len += len;
		if(!lws_is_final_fragment(wsi))
			return 0;
		data = conn->rx;
		total = conn->rx_len;
	}
	if(conn->paced) {
		if(conn->held.length >= PACE_HOLD_MAX_FRAMES || conn->held_bytes + total > PACE_HOLD_MAX_BYTES) {
			log_flood(conn->ip);
			return ws_fail(wsi, conn, LWS_CLOSE_STATUS_POLICY_VIOLATION, "flooding: too many frames waiting");
		}
		held_frame *h = g_malloc(sizeof(held_frame) + total);
		h->len = total;
		memcpy(h->data, data, total);
		g_queue_push_tail(&conn->held, h);
		conn->held_bytes += total;
		peerjs_conn_rx_discard(conn);
		return 0;
	}
	int r = ws_deliver(wsi, conn, data, total);
	/* Idle peers keep no reassembly buffer */
	peerjs_conn_rx_discard(conn);
	return r;
}

/* Frames written per writable callback at most: enough to drain a burst (an OFFER and its candidates) in one
 * wakeup instead of one epoll round trip per frame, few enough that one busy peer cannot starve the others */
#define WRITES_PER_CALLBACK 16

/* Written by hand: with input still arriving, lws_close_reason + return -1 closed the TCP connection without
 * the close frame (the client saw 1006). The client answers this close and lws then closes; a client that does
 * not gets PENDING_TIMEOUT_CLOSE_ACK. */
static int write_fail_close(struct lws *wsi, p2plink_conn *conn) {
	unsigned char frame[LWS_PRE + 125];
	size_t n = MIN(strlen(conn->fail_reason), sizeof(frame) - LWS_PRE - 2);
	frame[LWS_PRE] = (unsigned char)(conn->fail_status >> 8);
	frame[LWS_PRE + 1] = (unsigned char)(conn->fail_status & 0xff);
	memcpy(frame + LWS_PRE + 2, conn->fail_reason, n);
	conn->fail_status = -1;	/* sent: from now on only the client's answer (or the timeout) is awaited */
	/* Opcode 4 is LWS_WRITE_CLOSE, which the public header leaves out ("handled by lws_close_reason") */
	if(lws_write(wsi, frame + LWS_PRE, n + 2, (enum lws_write_protocol)4) < 0)
		return -1;
	lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, PEERJS_CLOSE_FLUSH_TIMEOUT);
	return 0;
}

/* Frames waiting for one socket go out in one lws_write: their WebSocket headers written here (server frames are
 * unmasked: FIN + text opcode, then the 7-, 16- or 64-bit length of RFC 6455 5.2) and the lot written raw, so one
 * TLS record, one write() and one wake-up of the reader carry them all instead of one each. Kept under one TLS
 * record's plaintext (16 KiB) so that a batch never costs more records than its frames would alone. */
#define COALESCE_BYTES (16384 - PEERJS_CONN_TAKE_MAX * 10)
static unsigned char coalesce_buf[LWS_PRE + COALESCE_BYTES + PEERJS_CONN_TAKE_MAX * 10];

size_t peerjs_ws_largest_write(gint64 max_frame_size) {
	/* A relayed frame grows by the "src" the plugin adds (an id) and its WebSocket header: 1 KiB covers both */
	return MAX((size_t)max_frame_size + 1024, sizeof(coalesce_buf) - LWS_PRE);
}

static size_t ws_header(unsigned char *p, size_t len) {
	p[0] = 0x81;
	if(len < 126) {
		p[1] = (unsigned char)len;
		return 2;
	}
	if(len <= 0xffff) {
		p[1] = 126;
		p[2] = (unsigned char)(len >> 8);
		p[3] = (unsigned char)len;
		return 4;
	}
	p[1] = 127;
	for(int i = 0; i < 8; i++)
		p[2 + i] = (unsigned char)((guint64)len >> (56 - 8 * i));
	return 10;
}

/* Writes the batch and frees its frames: one frame as it is (its headroom is lws's), several coalesced */
static int write_batch(struct lws *wsi, peerjs_conn_batch *batch) {
	int written;
	if(batch->count == 1) {
		written = lws_write(wsi, batch->frames[0]->data + LWS_PRE, batch->frames[0]->len, LWS_WRITE_TEXT);
	} else {
		/* Service thread only, and lws_write is done with the buffer when it returns (a partial write is copied
		 * into lws's own buflist), so one static buffer serves every connection */
		unsigned char *p = coalesce_buf + LWS_PRE;
		for(guint i = 0; i < batch->count; i++) {
			p += ws_header(p, batch->frames[i]->len);
			memcpy(p, batch->frames[i]->data + LWS_PRE, batch->frames[i]->len);
			p += batch->frames[i]->len;
		}
		written = lws_write(wsi, coalesce_buf + LWS_PRE, (size_t)(p - coalesce_buf - LWS_PRE), LWS_WRITE_RAW);
	}
	if(written >= 0 && lws_partial_buffered(wsi))
		peerjs_metrics_write_deferred();
	for(guint i = 0; i < batch->count; i++)
		g_free(batch->frames[i]);
	return written < 0 ? -1 : 0;
}

/* Writes what is queued, WRITES_PER_CALLBACK frames at most: 1 when nothing is left to do, 0 when lws must call
 * the writable callback again (more frames, the pipe choked, a close pending), -1 when the connection must close
 * now (its close reason set). direct: called outside the writable callback (at the loop turn's end), where closing
 * a connection is not ours to do: an abort or a close is left to the writable callback (0), only a failed write is
 * -1. */
static int write_queued(struct lws *wsi, p2plink_conn *conn, gboolean direct) {
	guint budget = WRITES_PER_CALLBACK;
	while(budget > 0) {
		/* A partial write leaves lws holding the rest: then the pipe reads as choked and we wait for POLLOUT.
		 * Directly, only lws's own buffer counts (lws_partial_buffered, no poll() syscall): a socket whose kernel
		 * buffer is full takes what it can and lws keeps the rest and arms POLLOUT itself, as for any partial write */
		gboolean choked = direct ? lws_partial_buffered(wsi) : lws_send_pipe_choked(wsi);
		peerjs_conn_batch batch;
		peerjs_conn_take_out(conn, choked ? 0 : budget, COALESCE_BYTES, &batch);
		if(batch.abort) {
			if(direct)
				return 0;
			lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"slow consumer", 13);
			return -1;
		}
		if(batch.count == 0) {
			if(batch.closing && !batch.more) {
				if(direct)
					return 0;
				lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)batch.reason, strlen(batch.reason));
				return -1;
			}
			/* Nothing queued: ask for nothing. (lws calls us once more after it finished a partially written frame;
			 * re-arming here with an empty queue made the service thread spin at a full core after any frame
			 * larger than ~4 KiB: tests/integration/writable.test.mjs) */
			return !batch.more && !batch.closing ? 1 : 0;
		}
		budget -= batch.count;
		if(write_batch(wsi, &batch) < 0)
			return -1;
		if(!batch.more && !batch.closing)
			return 1;
	}
	return 0;
}

int peerjs_ws_writeable(struct lws *wsi, p2plink_conn *conn) {
	if(conn == NULL)
		return -1;
	conn->writable_seen = TRUE;
	if(conn->fail_status == -1)
		return 0;
	if(conn->fail_status != 0)
		return write_fail_close(wsi, conn);
	int r = write_queued(wsi, conn, FALSE);
	if(r < 0)
		return -1;
	/* Come back for the rest, or for the pending close */
	if(r == 0)
		lws_callback_on_writable(wsi);
	return 0;
}

/* Frames routed during one turn of the libuv loop are written at its end (peerjs_loop_at_turn_end), without
 * asking lws for POLLOUT first. Arming for every frame cost two epoll_ctl() (POLLOUT on, then off), a poll() in
 * lws_send_pipe_choked and one more loop turn per relayed frame (9.55 syscalls per real-traffic frame, docs/
 * benchmarks.md); writing at once from the reading callback instead (tried, reverted) took the batching away:
 * frames left one by one and the WSS closed loop needed twice the reads. At the turn's end, every frame routed to
 * a socket in that turn leaves in one write, as from the writable callback, and nothing is armed unless something
 * is left over. Service thread only; the list holds a reference on each connection. */
static GPtrArray *turn_end_list = NULL;

static gboolean flush_at_turn_end(p2plink_conn *conn) {
	/* Only once lws has called the writable callback for it (established, its handshake answer out), never for a
	 * failed one, and only where there is a turn end (libuv) */
	if(!conn->writable_seen || conn->fail_status != 0 || !peerjs_loop_turn_end_available())
		return FALSE;
	if(conn->turn_end_listed)
		return TRUE;
	if(turn_end_list == NULL)
		turn_end_list = g_ptr_array_new();
	peerjs_conn_ref(conn);
	conn->turn_end_listed = TRUE;
	g_ptr_array_add(turn_end_list, conn);
	return TRUE;
}

void peerjs_ws_turn_end(void) {
	/* First what OpenSSL already holds: the frames it carries are routed, and written below */
	peerjs_tls_reads_turn_end();
	if(turn_end_list == NULL || turn_end_list->len == 0)
		return;
	/* Taken first: a write can end in a teardown, and nothing written here lists a connection again */
	GPtrArray *list = turn_end_list;
	turn_end_list = NULL;
	for(guint i = 0; i < list->len; i++) {
		p2plink_conn *conn = g_ptr_array_index(list, i);
		conn->turn_end_listed = FALSE;
		if(conn->wsi != NULL && conn->fail_status == 0) {
			int r = write_queued(conn->wsi, conn, TRUE);
			if(r < 0)	/* the socket failed under us: lws closes it (and the teardown runs) from its own loop */
				lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
			else if(r == 0)
				lws_callback_on_writable(conn->wsi);
		}
		peerjs_conn_unref(conn);
	}
	if(turn_end_list == NULL) {
		g_ptr_array_set_size(list, 0);
		turn_end_list = list;
	} else {
		g_ptr_array_free(list, TRUE);
	}
}

void peerjs_ws_teardown(p2plink_conn *conn) {
	peerjs_tls_reads_stop(conn);
	if(conn->peer != NULL) {
		peerjs.hotpath->peer_close(conn->peer);
		conn->peer = NULL;
	}
	peerjs_limits_release(conn);
	guint64 session_id = 0;
	if(!peerjs_conn_set_gone(conn, &session_id))
		return;
	janus_transport_session *ts = conn->ts;
	if(ts != NULL) {
		/* Before our reference goes: the request takes its own. No session yet: the "create" answer destroys it */
		if(session_id != 0)
			peerjs_janus_request(ts, peerjs_session_destroy_request(session_id));
		janus_transport_session_destroy(ts);
	}
	peerjs_conn_unref(conn);	/* the socket's reference */
}
