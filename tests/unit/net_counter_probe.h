/*
 * net_counter_probe.h — how many connections a p2plink_net_counter holds for a network, read through its public API
 * only (ratelimit.c has no reader: nothing but tests needs one).
 *
 * What it is for: test assertions on a counter with a cap. What it is not for: counters without a cap (they never
 * refuse, so there is nothing to read the count from) or use outside tests/.
 */

#ifndef P2PLINK_NET_COUNTER_PROBE_H
#define P2PLINK_NET_COUNTER_PROBE_H

#include "ratelimit.h"

/* Fill ip's network up to cap (the counter's max_per_key, > 0), then hand every added slot back: the count is
 * cap minus the slots that were still free. The counter is left as it was. */
static inline guint net_counter_probe(p2plink_net_counter *counter, const char *ip, guint cap) {
	char **keys = g_new0(char *, cap);
	guint free_slots = 0;
	while(free_slots < cap && p2plink_net_counter_add(counter, ip, &keys[free_slots]))
		free_slots++;
	for(guint i = 0; i < free_slots; i++) {
		p2plink_net_counter_remove(counter, keys[i]);
		g_free(keys[i]);
	}
	g_free(keys);
	return cap - free_slots;
}

#endif
