/*! \file   peerjs_tls_reads.h
 * \brief  TLS read-ahead for WebSocket connections, without the stall it would bring
 * \details What this file is for: one socket read per burst of TLS records instead of two per record. OpenSSL
 * without read-ahead reads a record's 5-byte header and then its body, two read() calls per frame (2.1-2.2 reads
 * per relayed frame, docs/benchmarks.md). With read-ahead it reads what the socket has, and records past the first
 * wait, still encrypted, in its buffer, where neither epoll nor SSL_pending() (all lws 4.1 asks) can see them:
 * lws would leave them there until the client sent more. So every socket read that returned data puts the
 * connection on a list, and at the loop turn's end each listed connection with SSL_has_pending() is served again
 * (lws_service_fd with POLLIN) until OpenSSL's buffer is empty or holds only part of a record (its next socket read
 * then came back empty, and epoll will say when the rest arrives).
 * What it is not for: HTTP connections (never switched on: they are short and lws reads them itself), the poll
 * loop (no turn end: never switched on). Service thread only.
 */

#ifndef PEERJS_TLS_READS_H
#define PEERJS_TLS_READS_H

#include "peerjs_conn.h"

/* At LWS_CALLBACK_ESTABLISHED: read-ahead on and the socket's reads watched, for a TLS WebSocket on the libuv loop */
void peerjs_tls_reads_start(p2plink_conn *conn);
/* At teardown, while conn->wsi is still set: nothing of conn stays reachable from OpenSSL */
void peerjs_tls_reads_stop(p2plink_conn *conn);
/* At the turn's end, before its writes: serve what OpenSSL holds already */
void peerjs_tls_reads_turn_end(void);

#endif
