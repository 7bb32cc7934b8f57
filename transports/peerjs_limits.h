/*! \file   peerjs_limits.h
 * \brief  Who the client is, and whether it may have another connection: client address, per-IP and fd limits
 * \details What this file is for: the client's address (the socket's, or a trusted proxy's X-Forwarded-For), the
 * open-connection caps per address and per network, the new-connection rate per address, and the file descriptor
 * reserve that keeps Janus from running out of fds. Service thread only.
 * What it is not for: the limiter and CIDR code itself (ratelimit.c, links.c, http_routes.c's XFF parsing).
 */

#ifndef PEERJS_LIMITS_H
#define PEERJS_LIMITS_H

#include <arpa/inet.h>

#include <libwebsockets.h>

#include "peerjs_conn.h"

#define PEERJS_IP_LEN (INET6_ADDRSTRLEN + 8)

/* From the configuration; event_loops is janus.jcfg's general.event_loops (-1: unknown) */
void peerjs_limits_init(gint64 event_loops);
void peerjs_limits_free(void);

/* The client's address as text into out. FALSE when a trusted proxy's header is too long or malformed, or the
 * socket's address cannot be read (out empty): the request must then be refused. */
gboolean peerjs_client_address(struct lws *wsi, char *out, size_t len);
/* NULL when conn (its ip filled in) may stay, else the sentence for its "too-many-connections" ERROR; it is then
 * counted nowhere */
const char *peerjs_limits_admit(p2plink_conn *conn);
/* The connection closed: it no longer counts. Idempotent. */
void peerjs_limits_release(p2plink_conn *conn);
/* LWS_CALLBACK_FILTER_NETWORK_CONNECTION: FALSE closes the just-accepted socket before TLS or anything else */
gboolean peerjs_fd_accept_allowed(int fd);

#endif
