/*
 * registry_peers.h — how many peers a registry holds, for fuzz checks: read from its admin stats (the public
 * answer an operator sees), since the registry has no count function of its own for tests to lean on.
 */
#ifndef P2PLINK_FUZZ_REGISTRY_PEERS_H
#define P2PLINK_FUZZ_REGISTRY_PEERS_H

#include "registry.h"

static inline guint registry_peers(p2plink_registry *reg) {
	json_t *stats = p2plink_registry_stats(reg);
	guint n = (guint)json_integer_value(json_object_get(stats, "peers"));
	json_decref(stats);
	return n;
}

#endif
