/*! \file   peerjs_cluster.h
 * \brief  Cluster mode's Janus glue: the [cluster] options, the Redis client on the transport's loop, and the
 *         remote_* members of the transport ops the registry routes through
 * \details What this file is for: connecting cluster/ (Redis: leases, routing, node liveness) to the plugin's
 * registry (which applies the PeerJS rules, registry_cluster.c) and to the handshake (an id's lease is taken
 * before OPEN). Everything runs on the transport's libuv loop thread; what other threads ask for (the plugin's
 * sweeper: EXPIRE and LEAVE for peers on other nodes; admin and link workers: who holds an id) is posted to it.
 * What it is not for: PeerJS rules (the registry) or Redis details (cluster/). Off (the default): nothing here
 * runs and the transport's paths are the single-node ones.
 */

#ifndef PEERJS_CLUSTER_H
#define PEERJS_CLUSTER_H

#include <glib.h>

#include "p2plink_hotpath.h"
#include "peerjs_config.h"

/* Applies the cluster rows of the transport's option table (enabled, and every cluster_config.h option by its
 * name); errors are sentences added to errors, the count returned. Cluster mode needs the libuv event loop. */
guint peerjs_cluster_load(const peerjs_config *c, gboolean libuv, GPtrArray *errors);
gboolean peerjs_cluster_enabled(void);
/* Creates the Redis client on the transport's loop (before the service thread runs it); FALSE: logged */
gboolean peerjs_cluster_start(guint port);
/* The remote_* members and the node id (left NULL when off) */
void peerjs_cluster_fill_ops(p2plink_transport_ops *ops);
/* TRUE once the plugin attached with those ops, FALSE before it detaches (or when it refused them): the client's
 * callbacks reach the plugin only in between */
void peerjs_cluster_attached(gboolean attached);
/* After the service thread stopped, on the destroying thread: releases this node's leases (a clean stop frees
 * its ids at once), frees the client and runs the loop until its handles are closed. Idempotent. */
void peerjs_cluster_stop(void);
void peerjs_cluster_clear_config(void);

/* The handshake passed the transport's checks: take the id's lease (unless this node holds it already for the
 * same token), then open the peer (peerjs_ws_open_peer) or answer ID-TAKEN. Frames that arrive meanwhile wait. */
void peerjs_cluster_open(p2plink_conn *conn, const char *id, const char *token);
/* GET /peers: every discoverable id of the cluster (this node's from the registry, the others' from their
 * leases, link-only ones never), answered through reply later on this thread. Service thread. */
void peerjs_cluster_discover(p2plink_http_reply reply, void *reply_ctx);

#endif
