/*
 * remote_frame.h — what one node's registry hands another node's registry in cluster mode: a frame as it is
 * written to a socket, plus what the destination's node needs to apply the same rules a single node applies
 * (who sent it and with which token hash, the share-link grant the sender holds for the destination, the kind).
 *
 * What it is for: the body of a cluster "F" envelope (cluster/cluster_envelope.h carries it unchanged between
 * nodes), encoded and decoded here, and checked as input on the way in (a body from Redis is untrusted bytes: ids
 * must be valid PeerJS ids, owners 64 hex characters or empty, the frame valid UTF-8).
 * What it is not for: routing (registry_cluster.c) or talking to Redis (cluster/). Pure: GLib only.
 */

#ifndef P2PLINK_REMOTE_FRAME_H
#define P2PLINK_REMOTE_FRAME_H

#include <glib.h>

#include "protocol.h"

typedef enum p2plink_remote_kind {
	P2PLINK_REMOTE_RELAY = 'R',		/* a peer's frame: gated, queued and counted as a local one would be */
	P2PLINK_REMOTE_LEAVE = 'L',		/* the LEAVE the sender's node sends for a peer that went, to a counterpart */
	P2PLINK_REMOTE_NOTICE = 'N',	/* an EXPIRE or P2PLINK-REFUSED for the destination: delivered as is or dropped */
	P2PLINK_REMOTE_KICK = 'K',		/* an admin on another node kicked the destination id */
} p2plink_remote_kind;

typedef struct p2plink_remote_frame {
	p2plink_remote_kind kind;
	p2plink_msg_type type;		/* RELAY and LEAVE: the frame's type */
	char *src;				/* the sending peer's id ("" for NOTICE and KICK) */
	char *src_owner;		/* its token hash, so a queued frame is attributed to that owner only */
	char *grant;			/* the owner hash the sender's share-link grant for dst names, or "" */
	char *origin;			/* RELAY, LEAVE, KICK: the node the sender is connected to (a node routing a frame
							 * again is not it). NOTICE: the node whose route it answers (see seq) */
	gint64 queued_since;	/* the routing node's clock at the frame's first try (its offline queue's age when
							 * nobody holds dst: only that node reads it, in the answer to its own route) */
	char *text;				/* the frame as written to the destination's socket */
	size_t len;
	guint64 seq;			/* RELAY: the sender's node's number for this route (0 when another node routes it
							 * again). NOTICE: the seq of the RELAY it refuses, or 0. The notice travels on
							 * another Redis connection than the route's answer and can come first: the number
							 * tells the sender's node which answer it belongs to (registry_cluster.c). */
} p2plink_remote_frame;

/* A g_malloc'd body */
char *p2plink_remote_frame_encode(const p2plink_remote_frame *frame, size_t *out_len);
/* FALSE (and nothing to clear) when the body is malformed: bad magic, lengths past the end, unknown kind or type,
 * an invalid id or owner, or a frame that is not valid UTF-8 */
gboolean p2plink_remote_frame_decode(const char *body, size_t len, p2plink_remote_frame *frame);
void p2plink_remote_frame_clear(p2plink_remote_frame *frame);

#endif
