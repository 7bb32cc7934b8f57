/*
 * cluster_envelope.h — the bytes one node publishes to another node's Redis channel.
 *
 * What it is for: wrapping a relayed PeerJS frame (the exact bytes we would write to the local socket, `src` already
 * set by the sender's node) with who sent it and for which id, and the lease-drop notice a node gets when another
 * node took one of its ids. Length-prefixed binary, so ids with spaces and frames of any bytes survive unchanged; the
 * Lua scripts build the drop notice with Redis's struct.pack in the same layout.
 *   "P2C1" kind(1 byte) u32be(len) src_node u32be(len) dst_id u32be(len) body
 *   kind 'F': body = the frame; kind 'D': body = "<victim since µs> <owner>", src_node = the new holder
 * What it is not for: validating the frame inside (the sending node did, and the receiving node relays as is).
 */

#ifndef P2PLINK_CLUSTER_ENVELOPE_H
#define P2PLINK_CLUSTER_ENVELOPE_H

#include <glib.h>

#define P2PLINK_CLUSTER_ENVELOPE_MAGIC "P2C1"
#define P2PLINK_CLUSTER_ENVELOPE_FRAME 'F'
#define P2PLINK_CLUSTER_ENVELOPE_DROP 'D'

typedef struct p2plink_cluster_envelope {
	char kind;
	const char *src_node;	/* these point into the decoded buffer: not NUL-terminated, use the lengths */
	size_t src_node_len;
	const char *dst_id;
	size_t dst_id_len;
	const char *body;
	size_t body_len;
} p2plink_cluster_envelope;

/* A newly allocated envelope in *out_len bytes */
char *p2plink_cluster_envelope_encode(char kind, const char *src_node, const char *dst_id,
	const char *body, size_t body_len, size_t *out_len);
/* FALSE for anything that is not exactly one well-formed envelope (short, trailing bytes, unknown kind) */
gboolean p2plink_cluster_envelope_decode(const char *buf, size_t len, p2plink_cluster_envelope *env);

#endif
