/*
 * cluster_lease.h — who holds an id when two claims meet, and which nodes came and went between two reads of the
 * node list. The rules the Lua scripts (cluster_scripts.c) apply inside Redis, written once more in C so they are
 * unit-tested on their own and the scripts are tested against them (tests/unit/test_cluster_redis.c).
 *
 * The lease rule (documented in docs/cluster.md):
 *   - no lease: the claim takes it;
 *   - the same node and owner: it is the claimant's own lease (refreshed, `since` kept);
 *   - live acquire (a peer's handshake): another owner's lease is never taken (ID-TAKEN); the same owner's lease on
 *     another node is taken over (the client reconnected through the balancer; the old node drops its copy);
 *   - assert (periodic renewal, and re-assertion after Redis came back): the same owner on two nodes -> the newer
 *     `since` wins (the client's latest connection); two owners -> the older `since` wins (first come, as PeerJS);
 *     equal `since` -> the lower node id (byte order). Every node reaches the same answer whatever order the claims
 *     arrive in.
 * `since` is µs since the epoch: Redis TIME when the lease was created in Redis (made strictly greater than the
 * lease it replaces), or the node's clock for an id it accepted while Redis was unreachable.
 * What it is not for: talking to Redis (cluster.c) or deciding what a peer is told (the registry).
 */

#ifndef P2PLINK_CLUSTER_LEASE_H
#define P2PLINK_CLUSTER_LEASE_H

#include <glib.h>

typedef enum p2plink_lease_mode {
	P2PLINK_LEASE_ACQUIRE,		/* a peer's handshake */
	P2PLINK_LEASE_ASSERT,		/* renewal and re-assertion of leases this node believes it holds */
} p2plink_lease_mode;

typedef struct p2plink_lease_claim {
	const char *node;
	const char *owner;
	gint64 since;
} p2plink_lease_claim;

typedef enum p2plink_lease_decision {
	P2PLINK_LEASE_NEW,		/* nobody held it: the claim takes it */
	P2PLINK_LEASE_MINE,		/* the claimant already holds it */
	P2PLINK_LEASE_TAKE,		/* the claim displaces the current holder (who is told to drop it) */
	P2PLINK_LEASE_LOSE,		/* the current holder keeps it */
} p2plink_lease_decision;

/* current NULL: no lease in Redis */
p2plink_lease_decision p2plink_lease_decide(p2plink_lease_mode mode, const p2plink_lease_claim *current,
	const p2plink_lease_claim *claim);
const char *p2plink_lease_decision_name(p2plink_lease_decision decision);

/* A node's liveness value: "<incarnation> <peers>". The incarnation is random per process start, so a node that
 * restarts with the same node id before its key expired is still seen as having died (its peers are gone). */
char *p2plink_node_value_format(const char *incarnation, guint peers);
gboolean p2plink_node_value_parse(const char *value, char **incarnation, guint *peers);

/* Update `view` (node id -> incarnation, both owned by the table) to the nodes just read as alive (parallel arrays
 * of ids and incarnations). Ids that were in the view and are no longer alive, or are alive with another
 * incarnation, are appended to `down`; ids new to the view (or with a new incarnation) to `up`. `self` is never
 * reported. down/up hold newly allocated strings (use g_ptr_array_new_with_free_func(g_free)).
 * With `keep_missing`, ids absent from the list stay in the view and are not reported (a node back with another
 * incarnation still is): right after Redis came back, the list lacks every node that has not heartbeated yet. */
void p2plink_node_view_update(GHashTable *view, const char *self, GPtrArray *alive_nodes,
	GPtrArray *alive_incarnations, gboolean keep_missing, GPtrArray *down, GPtrArray *up);

#endif
