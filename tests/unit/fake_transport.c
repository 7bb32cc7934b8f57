/*
 * fake_transport.c — recording transport for registry tests. See fake_transport.h.
 */

#include <jansson.h>

#include "fake_transport.h"

static int fake_send(p2plink_conn *conn, const char *text, size_t len) {
	if(conn->closed || conn->refuse)
		return -1;
	g_ptr_array_add(conn->frames, g_strndup(text, len));
	return 0;
}

static void fake_close(p2plink_conn *conn, const char *reason) {
	if(conn->closed)
		return;
	conn->closed = TRUE;
	conn->close_reason = g_strdup(reason);
}

static void fake_ref(p2plink_conn *conn) {
	conn->refs++;
}

static void fake_unref(p2plink_conn *conn) {
	g_assert_cmpint(conn->refs, >, 0);
	conn->refs--;
}

const p2plink_transport_ops fake_ops = {
	.send = fake_send,
	.close = fake_close,
	.ref = fake_ref,
	.unref = fake_unref,
};

p2plink_conn *fake_conn_new(void) {
	p2plink_conn *conn = g_new0(p2plink_conn, 1);
	conn->frames = g_ptr_array_new_with_free_func(g_free);
	return conn;
}

void fake_conn_free(p2plink_conn *conn) {
	/* Every reference the registry took must have been given back */
	g_assert_cmpint(conn->refs, ==, 0);
	g_ptr_array_free(conn->frames, TRUE);
	g_free(conn->close_reason);
	g_free(conn);
}

const char *fake_conn_frame(p2plink_conn *conn, guint i) {
	return i < conn->frames->len ? g_ptr_array_index(conn->frames, i) : NULL;
}

guint fake_conn_count(p2plink_conn *conn) {
	return conn->frames->len;
}

char *fake_conn_type(p2plink_conn *conn, guint i) {
	const char *text = fake_conn_frame(conn, i);
	if(text == NULL)
		return NULL;
	json_t *root = json_loads(text, 0, NULL);
	char *type = g_strdup(json_string_value(json_object_get(root, "type")));
	json_decref(root);
	return type;
}

void fake_conn_clear(p2plink_conn *conn) {
	g_ptr_array_set_size(conn->frames, 0);
}
