/*
 * fake_transport.h — a p2plink_transport_ops implementation that records frames, for registry unit tests.
 * Each fake connection keeps every frame sent to it and whether (and why) it was closed.
 */

#ifndef P2PLINK_FAKE_TRANSPORT_H
#define P2PLINK_FAKE_TRANSPORT_H

#include <glib.h>

#include "p2plink_hotpath.h"

struct p2plink_conn {
	gint refs;
	GPtrArray *frames;	/* char * */
	gboolean closed;
	char *close_reason;
	gboolean refuse;	/* simulate a full write queue */
};

extern const p2plink_transport_ops fake_ops;

p2plink_conn *fake_conn_new(void);
void fake_conn_free(p2plink_conn *conn);
/* Frame i sent to conn, or NULL */
const char *fake_conn_frame(p2plink_conn *conn, guint i);
guint fake_conn_count(p2plink_conn *conn);
/* The "type" of frame i */
char *fake_conn_type(p2plink_conn *conn, guint i);
void fake_conn_clear(p2plink_conn *conn);

#endif
