/*
 * test_peerjs_session.c — the Janus session state machine of a PeerJS connection without Janus
 * (transports/peerjs_session.c): each answer of the core moves the connection one state on and asks for the next
 * request, errors and timeouts close it, a closing connection asks for nothing more, a "create" answered after the
 * socket went destroys its session, and the "info" answer gives the keepalive interval.
 */

#include <string.h>

#include <glib.h>

#include "peerjs_session.h"

static GPtrArray *requests = NULL;	/* json_t *, what the connection asked the core for */
static GPtrArray *logged = NULL;

static void keep_request(void *ts, json_t *request) {
	g_assert_true(ts == (void *)0x7e);
	g_ptr_array_add(requests, request);
}

static void keep_log(const char *line) {
	g_ptr_array_add(logged, g_strdup(line));
}

static const peerjs_session_ops ops = { .request = keep_request, .log = keep_log };
static const peerjs_conn_env env = { .max_frames = 16, .max_bytes = 4096, .headroom = 0, .wake = NULL, .log = keep_log };
#define TS ((void *)0x7e)

static p2plink_conn *setup(void) {
	requests = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
	logged = g_ptr_array_new_with_free_func(g_free);
	p2plink_conn *conn = peerjs_conn_new(&env, NULL);
	g_strlcpy(conn->nonce, "n0nce", sizeof(conn->nonce));
	return conn;
}

static void teardown(p2plink_conn *conn) {
	peerjs_conn_unref(conn);
	g_ptr_array_free(requests, TRUE);
	g_ptr_array_free(logged, TRUE);
}

static void answer(p2plink_conn *conn, json_t *message) {
	peerjs_session_answer(conn, TS, message, &ops);
	json_decref(message);
}

static json_t *success(const char *tx, json_int_t id) {
	return json_pack("{s:s,s:s,s:{s:I}}", "janus", "success", "transaction", tx, "data", "id", id);
}

static json_t *bind_answer(const char *state) {
	return json_pack("{s:s,s:s,s:{s:{s:s}}}", "janus", "success", "transaction", "p2plink-bind", "plugindata", "data",
		"p2plink", state);
}

static const char *request_field(guint i, const char *name) {
	return json_string_value(json_object_get(g_ptr_array_index(requests, i), name));
}

static void test_session_create_attach_bind_in_order(void) {
	p2plink_conn *conn = setup();
	json_t *create = peerjs_session_create_request();
	g_assert_cmpstr(json_string_value(json_object_get(create, "janus")), ==, "create");
	json_decref(create);
	answer(conn, success("p2plink-create", 1001));
	g_assert_cmpint(peerjs_conn_get_state(conn), ==, PEERJS_CONN_ATTACHING);
	g_assert_cmpuint(peerjs_conn_session(conn), ==, 1001);
	g_assert_cmpuint(requests->len, ==, 1);
	g_assert_cmpstr(request_field(0, "janus"), ==, "attach");
	g_assert_cmpstr(request_field(0, "plugin"), ==, "janus.plugin.p2plink");
	answer(conn, success("p2plink-attach", 2002));
	g_assert_cmpint(peerjs_conn_get_state(conn), ==, PEERJS_CONN_BINDING);
	g_assert_cmpuint(requests->len, ==, 2);
	json_t *bind = g_ptr_array_index(requests, 1);
	g_assert_cmpstr(request_field(1, "janus"), ==, "message");
	g_assert_cmpint(json_integer_value(json_object_get(bind, "session_id")), ==, 1001);
	g_assert_cmpint(json_integer_value(json_object_get(bind, "handle_id")), ==, 2002);
	g_assert_cmpstr(json_string_value(json_object_get(json_object_get(bind, "body"), "nonce")), ==, "n0nce");
	answer(conn, bind_answer("bound"));
	g_assert_cmpint(peerjs_conn_get_state(conn), ==, PEERJS_CONN_BOUND);
	g_assert_cmpuint(requests->len, ==, 2);
	g_assert_cmpuint(logged->len, ==, 0);
	teardown(conn);
}

static void test_session_answer_out_of_order_is_refused(void) {
	p2plink_conn *conn = setup();
	/* An "attach" answer before "create": the table refuses creating -> binding, nothing is asked */
	answer(conn, success("p2plink-attach", 2002));
	g_assert_cmpint(peerjs_conn_get_state(conn), ==, PEERJS_CONN_CREATING);
	g_assert_cmpuint(requests->len, ==, 0);
	g_assert_cmpuint(logged->len, ==, 1);
	teardown(conn);
}

static void test_session_failed_bind_closes(void) {
	p2plink_conn *conn = setup();
	answer(conn, success("p2plink-create", 1));
	answer(conn, success("p2plink-attach", 2));
	json_t *failed = json_pack("{s:s,s:s,s:{s:{s:s,s:s}}}", "janus", "success", "transaction", "p2plink-bind",
		"plugindata", "data", "p2plink", "error", "error", "no such nonce");
	answer(conn, failed);
	g_assert_cmpint(peerjs_conn_get_state(conn), ==, PEERJS_CONN_CLOSING);
	g_assert_nonnull(strstr(g_ptr_array_index(logged, 0), "no such nonce"));
	teardown(conn);
}

static void test_session_errors_close_except_destroy(void) {
	p2plink_conn *conn = setup();
	/* A destroy racing a session timeout: "no such session" is what we wanted */
	answer(conn, json_pack("{s:s,s:s,s:{s:s}}", "janus", "error", "transaction", "p2plink-destroy", "error", "reason",
		"No such session"));
	g_assert_false(peerjs_conn_closing(conn));
	answer(conn, json_pack("{s:s,s:s,s:{s:s}}", "janus", "error", "transaction", "p2plink-keepalive", "error",
		"reason", "No such session"));
	g_assert_cmpint(peerjs_conn_get_state(conn), ==, PEERJS_CONN_CLOSING);
	g_assert_nonnull(strstr(g_ptr_array_index(logged, 0), "p2plink-keepalive"));
	teardown(conn);
}

static void test_session_unknown_error_closes_timeout_closes_ack_swallowed(void) {
	p2plink_conn *conn = setup();
	answer(conn, json_pack("{s:s,s:s}", "janus", "ack", "transaction", "p2plink-keepalive"));
	answer(conn, json_pack("{s:s,s:s}", "janus", "success", "transaction", "someone-else"));
	g_assert_false(peerjs_conn_closing(conn));
	g_assert_cmpuint(requests->len, ==, 0);
	answer(conn, json_pack("{s:s}", "janus", "timeout"));
	g_assert_true(peerjs_conn_closing(conn));
	teardown(conn);
	conn = setup();
	answer(conn, json_pack("{s:s,s:s,s:{s:s}}", "janus", "error", "transaction", "not-ours", "error", "reason", "?"));
	g_assert_true(peerjs_conn_closing(conn));
	teardown(conn);
}

static void test_session_closing_connection_asks_for_nothing_more(void) {
	p2plink_conn *conn = setup();
	peerjs_conn_close(conn, "peer left");
	answer(conn, success("p2plink-create", 77));
	/* The id is kept, so that the teardown destroys the session; no attach for a connection that is leaving */
	g_assert_cmpuint(peerjs_conn_session(conn), ==, 77);
	g_assert_cmpuint(requests->len, ==, 0);
	g_assert_cmpint(peerjs_conn_get_state(conn), ==, PEERJS_CONN_CLOSING);
	g_assert_cmpuint(logged->len, ==, 0);
	teardown(conn);
}

static void test_session_create_after_gone_destroys_the_session(void) {
	p2plink_conn *conn = setup();
	guint64 known = 0;
	peerjs_conn_set_gone(conn, &known);
	g_assert_cmpuint(known, ==, 0);
	answer(conn, success("p2plink-create", 88));
	g_assert_cmpuint(requests->len, ==, 1);
	g_assert_cmpstr(request_field(0, "janus"), ==, "destroy");
	g_assert_cmpint(json_integer_value(json_object_get(g_ptr_array_index(requests, 0), "session_id")), ==, 88);
	teardown(conn);
}

static void test_session_orphan_only_for_successful_create(void) {
	json_t *m = success("p2plink-create", 5);
	g_assert_cmpuint(peerjs_session_orphan(m), ==, 5);
	json_decref(m);
	m = success("p2plink-attach", 5);
	g_assert_cmpuint(peerjs_session_orphan(m), ==, 0);
	json_decref(m);
	m = json_pack("{s:s,s:s}", "janus", "error", "transaction", "p2plink-create");
	g_assert_cmpuint(peerjs_session_orphan(m), ==, 0);
	json_decref(m);
}

static void test_session_info_answer_gives_keepalive_interval(void) {
	json_t *info = json_pack("{s:s,s:s,s:i}", "janus", "server_info", "transaction", "p2plink-info",
		"session-timeout", 60);
	gint64 timeout = -1;
	g_assert_true(peerjs_session_info_answer(info, &timeout));
	g_assert_cmpint(timeout, ==, 60);
	json_decref(info);
	info = json_pack("{s:s,s:s,s:i}", "janus", "server_info", "transaction", "someone-else", "session-timeout", 60);
	g_assert_false(peerjs_session_info_answer(info, &timeout));
	json_decref(info);
	g_assert_cmpint(peerjs_session_keepalive_interval(60), ==, 30 * G_USEC_PER_SEC);
	g_assert_cmpint(peerjs_session_keepalive_interval(0), ==, 0);
	/* Before the core answered: every heartbeat */
	g_assert_cmpint(peerjs_session_keepalive_interval(-1), ==, 1);
}

static void test_session_keepalive_due_once_per_interval(void) {
	p2plink_conn *conn = setup();
	guint64 session_id = 0;
	g_assert_false(peerjs_session_keepalive_due(conn, 100 * G_USEC_PER_SEC, 30 * G_USEC_PER_SEC, &session_id));
	peerjs_conn_set_session(conn, 9);
	conn->last_keepalive = 100 * G_USEC_PER_SEC;
	g_assert_false(peerjs_session_keepalive_due(conn, 129 * G_USEC_PER_SEC, 30 * G_USEC_PER_SEC, &session_id));
	g_assert_true(peerjs_session_keepalive_due(conn, 130 * G_USEC_PER_SEC, 30 * G_USEC_PER_SEC, &session_id));
	g_assert_cmpuint(session_id, ==, 9);
	g_assert_false(peerjs_session_keepalive_due(conn, 131 * G_USEC_PER_SEC, 30 * G_USEC_PER_SEC, &session_id));
	g_assert_false(peerjs_session_keepalive_due(conn, 999 * G_USEC_PER_SEC, 0, &session_id));
	teardown(conn);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerjs_session/create_attach_bind_in_order", test_session_create_attach_bind_in_order);
	g_test_add_func("/peerjs_session/answer_out_of_order_is_refused", test_session_answer_out_of_order_is_refused);
	g_test_add_func("/peerjs_session/failed_bind_closes", test_session_failed_bind_closes);
	g_test_add_func("/peerjs_session/errors_close_except_destroy", test_session_errors_close_except_destroy);
	g_test_add_func("/peerjs_session/unknown_error_closes_timeout_closes_ack_swallowed",
		test_session_unknown_error_closes_timeout_closes_ack_swallowed);
	g_test_add_func("/peerjs_session/closing_connection_asks_for_nothing_more",
		test_session_closing_connection_asks_for_nothing_more);
	g_test_add_func("/peerjs_session/create_after_gone_destroys_the_session",
		test_session_create_after_gone_destroys_the_session);
	g_test_add_func("/peerjs_session/orphan_only_for_successful_create", test_session_orphan_only_for_successful_create);
	g_test_add_func("/peerjs_session/info_answer_gives_keepalive_interval",
		test_session_info_answer_gives_keepalive_interval);
	g_test_add_func("/peerjs_session/keepalive_due_once_per_interval", test_session_keepalive_due_once_per_interval);
	return g_test_run();
}
