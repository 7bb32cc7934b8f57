/*
 * test_peerjs_conn.c — the transport's connection object without libwebsockets or Janus (transports/peerjs_conn.c):
 * the state table, the write queue's bounds in frames and bytes, the wake hook (once per arm), a closing
 * connection queueing nothing more, and unref freeing exactly once (ASan: scripts/test.sh's sanitize layer).
 */

#include <string.h>

#include <glib.h>

#include "peerjs_conn.h"

static gint wakes = 0;	/* atomic: the concurrent test wakes from two threads */
static p2plink_conn *last_woken = NULL;
static GPtrArray *logged = NULL;

static void count_wake(p2plink_conn *conn) {
	g_atomic_int_inc(&wakes);
	last_woken = conn;
}

static void keep_log(const char *line) {
	g_ptr_array_add(logged, g_strdup(line));
}

static const peerjs_conn_env env = {
	.max_frames = 4, .max_bytes = 100, .headroom = 16, .wake = count_wake, .log = keep_log,
};

static gsize queued_frames(p2plink_conn *conn) {
	gsize n = 0;
	peerjs_conn_queued(conn, &n, NULL);
	return n;
}

static gsize queued_bytes(p2plink_conn *conn) {
	gsize n = 0;
	peerjs_conn_queued(conn, NULL, &n);
	return n;
}

static p2plink_conn *new_conn(void) {
	wakes = 0;
	last_woken = NULL;
	if(logged != NULL)
		g_ptr_array_free(logged, TRUE);
	logged = g_ptr_array_new_with_free_func(g_free);
	return peerjs_conn_new(&env, NULL);
}

static void test_conn_transition_table(void) {
	/* The session set-up walks forward one step at a time */
	g_assert_true(peerjs_conn_transition_allowed(PEERJS_CONN_CREATING, PEERJS_CONN_ATTACHING));
	g_assert_true(peerjs_conn_transition_allowed(PEERJS_CONN_ATTACHING, PEERJS_CONN_BINDING));
	g_assert_true(peerjs_conn_transition_allowed(PEERJS_CONN_BINDING, PEERJS_CONN_BOUND));
	g_assert_false(peerjs_conn_transition_allowed(PEERJS_CONN_CREATING, PEERJS_CONN_BINDING));
	g_assert_false(peerjs_conn_transition_allowed(PEERJS_CONN_CREATING, PEERJS_CONN_BOUND));
	g_assert_false(peerjs_conn_transition_allowed(PEERJS_CONN_BOUND, PEERJS_CONN_ATTACHING));
	g_assert_false(peerjs_conn_transition_allowed(PEERJS_CONN_BINDING, PEERJS_CONN_BINDING));
	/* Any live state may close or go; closing only goes; gone is the end */
	for(peerjs_conn_state s = PEERJS_CONN_CREATING; s <= PEERJS_CONN_BOUND; s++) {
		g_assert_true(peerjs_conn_transition_allowed(s, PEERJS_CONN_CLOSING));
		g_assert_true(peerjs_conn_transition_allowed(s, PEERJS_CONN_GONE));
	}
	for(peerjs_conn_state s = PEERJS_CONN_CREATING; s < PEERJS_CONN_STATES; s++) {
		g_assert_false(peerjs_conn_transition_allowed(PEERJS_CONN_CLOSING, s) && s != PEERJS_CONN_GONE);
		g_assert_false(peerjs_conn_transition_allowed(PEERJS_CONN_GONE, s));
	}
	g_assert_false(peerjs_conn_transition_allowed(PEERJS_CONN_STATES, PEERJS_CONN_GONE));
	g_assert_cmpstr(peerjs_conn_state_name(PEERJS_CONN_BINDING), ==, "binding");
}

static void test_conn_refused_transition_is_logged_and_changes_nothing(void) {
	p2plink_conn *conn = new_conn();
	peerjs_conn_close(conn, "bye");
	g_assert_false(peerjs_conn_set_state(conn, PEERJS_CONN_ATTACHING));
	g_assert_cmpint(peerjs_conn_get_state(conn), ==, PEERJS_CONN_CLOSING);
	g_assert_cmpuint(logged->len, ==, 1);
	g_assert_nonnull(strstr(g_ptr_array_index(logged, 0), "closing -> attaching"));
	peerjs_conn_unref(conn);
}

static void test_conn_queue_bound_in_frames(void) {
	p2plink_conn *conn = new_conn();
	for(int i = 0; i < 4; i++)
		g_assert_cmpint(peerjs_conn_send(conn, "x", 1), ==, 0);
	g_assert_cmpuint(queued_frames(conn), ==, 4);
	/* The fifth frame overflows: the connection aborts (queue dropped, no flush) */
	g_assert_cmpint(peerjs_conn_send(conn, "x", 1), ==, -1);
	g_assert_cmpuint(queued_frames(conn), ==, 0);
	gboolean closing = FALSE, abort = FALSE;
	peerjs_conn_armed(conn, &closing, &abort);
	g_assert_true(closing);
	g_assert_true(abort);
	peerjs_conn_next next;
	peerjs_conn_next_out(conn, TRUE, &next);
	g_assert_null(next.frame);
	g_assert_true(next.abort);
	g_assert_cmpstr(next.reason, ==, "slow consumer: write queue full");
	peerjs_conn_unref(conn);
}

static void test_conn_queue_bound_in_bytes(void) {
	p2plink_conn *conn = new_conn();
	char text[60];
	memset(text, 'a', sizeof(text));
	g_assert_cmpint(peerjs_conn_send(conn, text, 60), ==, 0);
	g_assert_cmpint(peerjs_conn_send(conn, text, 40), ==, 0);	/* exactly max_bytes */
	g_assert_cmpuint(queued_bytes(conn), ==, 100);
	g_assert_cmpint(peerjs_conn_send(conn, text, 1), ==, -1);
	g_assert_cmpuint(queued_bytes(conn), ==, 0);
	g_assert_true(peerjs_conn_closing(conn));
	peerjs_conn_unref(conn);
}

static void test_conn_frames_come_out_in_order_with_headroom(void) {
	p2plink_conn *conn = new_conn();
	peerjs_conn_send(conn, "one", 3);
	peerjs_conn_send(conn, "two!", 4);
	peerjs_conn_next next;
	peerjs_conn_next_out(conn, TRUE, &next);
	g_assert_nonnull(next.frame);
	g_assert_cmpuint(next.frame->len, ==, 3);
	g_assert_cmpint(memcmp(next.frame->data + env.headroom, "one", 3), ==, 0);
	g_assert_true(next.more);
	g_free(next.frame);
	/* A choked pipe takes nothing */
	peerjs_conn_next_out(conn, FALSE, &next);
	g_assert_null(next.frame);
	g_assert_true(next.more);
	peerjs_conn_next_out(conn, TRUE, &next);
	g_assert_cmpint(memcmp(next.frame->data + env.headroom, "two!", 4), ==, 0);
	g_assert_false(next.more);
	g_assert_cmpuint(queued_bytes(conn), ==, 0);
	g_free(next.frame);
	peerjs_conn_unref(conn);
}

/* One lock takes several frames for one coalesced write: in order, within the byte budget, but the first frame
 * always (a frame larger than the budget goes out alone), and nothing at all when aborting or choked */
static void test_conn_take_out_batches_in_order_within_budget(void) {
	p2plink_conn *conn = new_conn();
	peerjs_conn_send(conn, "aa", 2);
	peerjs_conn_send(conn, "bbb", 3);
	peerjs_conn_send(conn, "cccc", 4);
	peerjs_conn_batch batch;
	peerjs_conn_take_out(conn, 0, 100, &batch);
	g_assert_cmpuint(batch.count, ==, 0);
	g_assert_true(batch.more);
	peerjs_conn_take_out(conn, PEERJS_CONN_TAKE_MAX, 6, &batch);
	g_assert_cmpuint(batch.count, ==, 2);
	g_assert_cmpuint(batch.bytes, ==, 5);
	g_assert_cmpint(memcmp(batch.frames[0]->data + env.headroom, "aa", 2), ==, 0);
	g_assert_cmpint(memcmp(batch.frames[1]->data + env.headroom, "bbb", 3), ==, 0);
	g_assert_true(batch.more);
	g_assert_cmpuint(queued_bytes(conn), ==, 4);
	g_free(batch.frames[0]);
	g_free(batch.frames[1]);
	/* Larger than the budget: taken alone */
	peerjs_conn_take_out(conn, PEERJS_CONN_TAKE_MAX, 1, &batch);
	g_assert_cmpuint(batch.count, ==, 1);
	g_assert_cmpuint(batch.frames[0]->len, ==, 4);
	g_assert_false(batch.more);
	g_assert_cmpuint(queued_frames(conn), ==, 0);
	g_free(batch.frames[0]);
	/* More than PEERJS_CONN_TAKE_MAX asked for: capped */
	peerjs_conn_send(conn, "d", 1);
	peerjs_conn_take_out(conn, PEERJS_CONN_TAKE_MAX + 5, 100, &batch);
	g_assert_cmpuint(batch.count, ==, 1);
	g_free(batch.frames[0]);
	/* A full queue aborts: nothing is handed out any more */
	for(guint i = 0; i <= env.max_frames; i++)
		peerjs_conn_send(conn, "e", 1);
	peerjs_conn_take_out(conn, PEERJS_CONN_TAKE_MAX, 100, &batch);
	g_assert_true(batch.abort);
	g_assert_cmpuint(batch.count, ==, 0);
	peerjs_conn_unref(conn);
}

static void test_conn_wake_hook_called_once_per_arm(void) {
	p2plink_conn *conn = new_conn();
	peerjs_conn_send(conn, "a", 1);
	peerjs_conn_send(conn, "b", 1);
	peerjs_conn_send(conn, "c", 1);
	g_assert_cmpint(g_atomic_int_get(&wakes), ==, 1);
	g_assert_true(last_woken == conn);
	/* The service thread armed it: the next frame needs another wake */
	peerjs_conn_armed(conn, NULL, NULL);
	peerjs_conn_send(conn, "d", 1);
	g_assert_cmpint(g_atomic_int_get(&wakes), ==, 2);
	/* A close before the arm rides on the same wake */
	peerjs_conn_close(conn, "bye");
	g_assert_cmpint(g_atomic_int_get(&wakes), ==, 2);
	peerjs_conn_armed(conn, NULL, NULL);
	peerjs_conn_close(conn, "again");	/* idempotent: no second close, no wake */
	g_assert_cmpint(g_atomic_int_get(&wakes), ==, 2);
	peerjs_conn_unref(conn);
}

static void test_conn_closing_queues_nothing_more(void) {
	p2plink_conn *conn = new_conn();
	peerjs_conn_send(conn, "before", 6);
	peerjs_conn_close(conn, "peer left");
	g_assert_true(peerjs_conn_closing(conn));
	g_assert_cmpint(peerjs_conn_send(conn, "after", 5), ==, -1);
	g_assert_cmpuint(queued_frames(conn), ==, 1);
	/* What was queued before the close is still flushed, then the close */
	peerjs_conn_next next;
	peerjs_conn_next_out(conn, TRUE, &next);
	g_assert_nonnull(next.frame);
	g_assert_true(next.closing);
	g_assert_false(next.more);
	g_assert_cmpstr(next.reason, ==, "peer left");
	g_free(next.frame);
	peerjs_conn_unref(conn);
}

static void test_conn_gone_once_and_never_woken(void) {
	p2plink_conn *conn = new_conn();
	g_assert_true(peerjs_conn_set_session(conn, 42));
	peerjs_conn_send(conn, "x", 1);
	guint64 session_id = 0;
	g_assert_true(peerjs_conn_set_gone(conn, &session_id));
	g_assert_cmpuint(session_id, ==, 42);
	g_assert_cmpuint(queued_frames(conn), ==, 0);
	g_assert_false(peerjs_conn_set_gone(conn, &session_id));
	/* Gone: the "create" answer must destroy its session itself, nothing is queued or woken */
	g_assert_false(peerjs_conn_set_session(conn, 43));
	peerjs_conn_armed(conn, NULL, NULL);
	g_assert_cmpint(peerjs_conn_send(conn, "y", 1), ==, -1);
	peerjs_conn_close(conn, "late");
	g_assert_cmpint(g_atomic_int_get(&wakes), ==, 1);
	g_assert_cmpint(peerjs_conn_get_state(conn), ==, PEERJS_CONN_GONE);
	peerjs_conn_unref(conn);
}

static void test_conn_unref_frees_exactly_once(void) {
	guint before = peerjs_conn_live();
	p2plink_conn *conn = new_conn();
	peerjs_conn_send(conn, "queued", 6);
	conn->rx = g_strdup("partial");
	g_assert_cmpuint(peerjs_conn_live(), ==, before + 1);
	peerjs_conn_ref(conn);
	peerjs_conn_ref(conn);
	peerjs_conn_unref(conn);
	peerjs_conn_unref(conn);
	g_assert_cmpuint(peerjs_conn_live(), ==, before + 1);
	peerjs_conn_unref(conn);	/* the last one: frees the queue and the buffers too (ASan/LSan would say) */
	g_assert_cmpuint(peerjs_conn_live(), ==, before);
	peerjs_conn_unref(NULL);
}

/* Two threads sending while the "service thread" arms and drains: every frame comes out exactly once */
static gpointer sender(gpointer data) {
	p2plink_conn *conn = data;
	for(int i = 0; i < 2000; i++)
		peerjs_conn_send(conn, "z", 1);
	return NULL;
}

static const peerjs_conn_env big_env = {
	.max_frames = 100000, .max_bytes = 1000000, .headroom = 0, .wake = count_wake, .log = NULL,
};

static void test_conn_concurrent_senders_every_frame_out_once(void) {
	wakes = 0;
	p2plink_conn *conn = peerjs_conn_new(&big_env, NULL);
	GThread *a = g_thread_new("a", sender, conn), *b = g_thread_new("b", sender, conn);
	guint taken = 0;
	while(taken < 4000) {
		peerjs_conn_armed(conn, NULL, NULL);
		peerjs_conn_next next;
		do {
			peerjs_conn_next_out(conn, TRUE, &next);
			if(next.frame != NULL)
				taken++;
			g_free(next.frame);
		} while(next.frame != NULL);
		g_thread_yield();
	}
	g_thread_join(a);
	g_thread_join(b);
	g_assert_cmpuint(taken, ==, 4000);
	g_assert_cmpint(g_atomic_int_get(&wakes), >=, 1);
	peerjs_conn_unref(conn);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerjs_conn/transition_table", test_conn_transition_table);
	g_test_add_func("/peerjs_conn/refused_transition_is_logged_and_changes_nothing",
		test_conn_refused_transition_is_logged_and_changes_nothing);
	g_test_add_func("/peerjs_conn/queue_bound_in_frames", test_conn_queue_bound_in_frames);
	g_test_add_func("/peerjs_conn/queue_bound_in_bytes", test_conn_queue_bound_in_bytes);
	g_test_add_func("/peerjs_conn/frames_come_out_in_order_with_headroom", test_conn_frames_come_out_in_order_with_headroom);
	g_test_add_func("/peerjs_conn/take_out_batches_in_order_within_budget",
		test_conn_take_out_batches_in_order_within_budget);
	g_test_add_func("/peerjs_conn/wake_hook_called_once_per_arm", test_conn_wake_hook_called_once_per_arm);
	g_test_add_func("/peerjs_conn/closing_queues_nothing_more", test_conn_closing_queues_nothing_more);
	g_test_add_func("/peerjs_conn/gone_once_and_never_woken", test_conn_gone_once_and_never_woken);
	g_test_add_func("/peerjs_conn/unref_frees_exactly_once", test_conn_unref_frees_exactly_once);
	g_test_add_func("/peerjs_conn/concurrent_senders_every_frame_out_once", test_conn_concurrent_senders_every_frame_out_once);
	int r = g_test_run();
	if(logged != NULL)
		g_ptr_array_free(logged, TRUE);
	return r;
}
