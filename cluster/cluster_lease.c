/*
 * cluster_lease.c — the lease rule and the node-view difference. See cluster_lease.h. Pure.
 */

#include <string.h>

#include "cluster_lease.h"

/* Equal `since`: the lower node id wins, so two nodes asserting in either order agree */
static gboolean claim_wins_tie(const p2plink_lease_claim *current, const p2plink_lease_claim *claim) {
	return strcmp(claim->node, current->node) < 0;
}

p2plink_lease_decision p2plink_lease_decide(p2plink_lease_mode mode, const p2plink_lease_claim *current,
		const p2plink_lease_claim *claim) {
	if(current == NULL)
		return P2PLINK_LEASE_NEW;
	gboolean same_owner = !strcmp(current->owner, claim->owner);
	if(same_owner && !strcmp(current->node, claim->node))
		return P2PLINK_LEASE_MINE;
	if(mode == P2PLINK_LEASE_ACQUIRE)
		return same_owner ? P2PLINK_LEASE_TAKE : P2PLINK_LEASE_LOSE;
	if(claim->since == current->since)
		return claim_wins_tie(current, claim) ? P2PLINK_LEASE_TAKE : P2PLINK_LEASE_LOSE;
	gboolean claim_newer = claim->since > current->since;
	/* Same owner: its latest connection is the live one. Two owners: first come keeps the id */
	return (same_owner == claim_newer) ? P2PLINK_LEASE_TAKE : P2PLINK_LEASE_LOSE;
}

const char *p2plink_lease_decision_name(p2plink_lease_decision decision) {
	switch(decision) {
		case P2PLINK_LEASE_NEW: return "new";
		case P2PLINK_LEASE_MINE: return "mine";
		case P2PLINK_LEASE_TAKE: return "take";
		case P2PLINK_LEASE_LOSE: return "lose";
	}
	return "?";
}

char *p2plink_node_value_format(const char *incarnation, guint peers) {
	return g_strdup_printf("%s %u", incarnation, peers);
}

gboolean p2plink_node_value_parse(const char *value, char **incarnation, guint *peers) {
	const char *space = value != NULL ? strchr(value, ' ') : NULL;
	guint64 n = 0;
	if(space == NULL || space == value || !g_ascii_string_to_unsigned(space + 1, 10, 0, G_MAXUINT, &n, NULL))
		return FALSE;
	*incarnation = g_strndup(value, space - value);
	*peers = (guint)n;
	return TRUE;
}

void p2plink_node_view_update(GHashTable *view, const char *self, GPtrArray *alive_nodes,
		GPtrArray *alive_incarnations, gboolean keep_missing, GPtrArray *down, GPtrArray *up) {
	GHashTable *alive = g_hash_table_new(g_str_hash, g_str_equal);
	for(guint i = 0; i < alive_nodes->len; i++)
		g_hash_table_insert(alive, alive_nodes->pdata[i], alive_incarnations->pdata[i]);
	/* Gone, or back with another incarnation (restarted with the same node id): down */
	GHashTableIter iter;
	gpointer key, value;
	g_hash_table_iter_init(&iter, view);
	while(g_hash_table_iter_next(&iter, &key, &value)) {
		const char *now = g_hash_table_lookup(alive, key);
		if(now != NULL ? !strcmp(now, value) : keep_missing)
			continue;
		if(strcmp(key, self))
			g_ptr_array_add(down, g_strdup(key));
		g_hash_table_iter_remove(&iter);
	}
	for(guint i = 0; i < alive_nodes->len; i++) {
		const char *node = alive_nodes->pdata[i];
		if(g_hash_table_contains(view, node))
			continue;	/* same incarnation (a new one was removed above) */
		g_hash_table_insert(view, g_strdup(node), g_strdup(alive_incarnations->pdata[i]));
		if(strcmp(node, self))
			g_ptr_array_add(up, g_strdup(node));
	}
	g_hash_table_unref(alive);
}
