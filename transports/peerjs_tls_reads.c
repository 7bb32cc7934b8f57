/*! \file   peerjs_tls_reads.c
 * \brief  TLS read-ahead for WebSocket connections, without the stall it would bring (see peerjs_tls_reads.h)
 */

#include <libwebsockets.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "peerjs_loop.h"
#include "peerjs_tls_reads.h"

/* How often one turn's end serves the same connection again before it lets the loop go round (other sockets, timers)
 * and comes back right after, without blocking: a client streaming records cannot hold the thread */
#define SERVE_ROUNDS 16

static GPtrArray *listed = NULL;

static void list_conn(p2plink_conn *conn) {
	if(conn->reads_listed)
		return;
	if(listed == NULL)
		listed = g_ptr_array_new();
	peerjs_conn_ref(conn);
	conn->reads_listed = TRUE;
	g_ptr_array_add(listed, conn);
}

/* Called by OpenSSL around every read of the connection's socket BIO; only the returns matter */
static long on_socket_read(BIO *bio, int oper, const char *argp, size_t len, int argi, long argl, int ret,
		size_t *processed) {
	(void)argp;
	(void)len;
	(void)argi;
	(void)argl;
	if(oper != (BIO_CB_READ | BIO_CB_RETURN))
		return ret;
	p2plink_conn *conn = (p2plink_conn *)BIO_get_callback_arg(bio);
	if(conn == NULL)
		return ret;
	if(ret > 0 && processed != NULL && *processed > 0) {
		conn->read_starved = FALSE;
		list_conn(conn);
	} else {
		conn->read_starved = TRUE;
	}
	return ret;
}

/* The connection's TLS object while read-ahead is on and its socket is open (the service may close it: wsi is
 * cleared then), else NULL */
static SSL *reading_ssl(p2plink_conn *conn) {
	return conn->read_ahead && conn->wsi != NULL ? lws_get_ssl(conn->wsi) : NULL;
}

void peerjs_tls_reads_start(p2plink_conn *conn) {
	if(conn->wsi == NULL || !lws_is_ssl(conn->wsi) || !peerjs_loop_turn_end_available())
		return;
	SSL *ssl = lws_get_ssl(conn->wsi);
	BIO *bio = ssl != NULL ? SSL_get_rbio(ssl) : NULL;
	if(bio == NULL || BIO_get_callback_ex(bio) != NULL)
		return;
	/* Nothing is buffered yet: until now OpenSSL read exactly what each record needed */
	BIO_set_callback_arg(bio, (char *)conn);
	BIO_set_callback_ex(bio, on_socket_read);
	SSL_set_read_ahead(ssl, 1);
	conn->read_ahead = TRUE;
}

void peerjs_tls_reads_stop(p2plink_conn *conn) {
	SSL *ssl = reading_ssl(conn);
	conn->read_ahead = FALSE;
	BIO *bio = ssl != NULL ? SSL_get_rbio(ssl) : NULL;
	if(bio != NULL && BIO_get_callback_arg(bio) == (char *)conn) {
		BIO_set_callback_ex(bio, NULL);
		BIO_set_callback_arg(bio, NULL);
	}
}

/* What epoll would have said if the records were still in the socket */
static void serve_again(struct lws *wsi) {
	struct lws_pollfd pfd = { .fd = lws_get_socket_fd(wsi), .events = LWS_POLLIN, .revents = LWS_POLLIN };
	lws_service_fd(lws_get_context(wsi), &pfd);
}

void peerjs_tls_reads_turn_end(void) {
	for(int round = 0; listed != NULL && listed->len > 0; round++) {
		if(round == SERVE_ROUNDS) {
			peerjs_loop_turn_end_again();
			return;
		}
		GPtrArray *list = listed;
		listed = NULL;
		for(guint i = 0; i < list->len; i++) {
			p2plink_conn *conn = g_ptr_array_index(list, i);
			conn->reads_listed = FALSE;
			SSL *ssl = reading_ssl(conn);
			if(ssl != NULL && SSL_has_pending(ssl)) {
				conn->read_starved = FALSE;
				serve_again(conn->wsi);
				/* Served from OpenSSL's buffer alone (no socket read listed it again) and more is there: once more,
				 * unless its socket read came back empty (only part of a record is there; epoll tells the rest) */
				ssl = reading_ssl(conn);
				if(ssl != NULL && !conn->read_starved && SSL_has_pending(ssl))
					list_conn(conn);
			}
			peerjs_conn_unref(conn);
		}
		g_ptr_array_free(list, TRUE);
	}
}
