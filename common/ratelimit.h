/*
 * ratelimit.h — token buckets: one for a single subject (a peer's frames), a bounded table of them keyed by client
 * network (link redemptions, new connections per IP), and how a client address becomes such a key.
 *
 * What it is for: saying "not now" to floods and token guessing, deterministically (time is passed in), with
 * IPv6 clients counted per network rather than per address (one subscriber holds a whole /64: 2^64 addresses).
 * What it is not for: deciding what happens to a refused request (the caller answers with its own code).
 */

#ifndef P2PLINK_RATELIMIT_H
#define P2PLINK_RATELIMIT_H

#include <glib.h>

typedef struct p2plink_bucket {
	double tokens;
	gint64 last;		/* µs */
} p2plink_bucket;

typedef struct p2plink_rate {
	double per_second;	/* refill; 0 disables the limit */
	double burst;		/* bucket depth */
} p2plink_rate;

/* A full bucket at `now` */
void p2plink_bucket_init(p2plink_bucket *bucket, const p2plink_rate *rate, gint64 now);
/* Take one token: TRUE if allowed */
gboolean p2plink_bucket_take(p2plink_bucket *bucket, const p2plink_rate *rate, gint64 now);

/* Default grouping of client addresses: IPv4 per address, IPv6 per /64 (what one subscriber is given) */
#define P2PLINK_NET_PREFIX_V4	32
#define P2PLINK_NET_PREFIX_V6	64

/* The key a client address is counted under: "a.b.c.d/v4_prefix" for IPv4 (IPv4-mapped IPv6 included) and
 * "x:y::/v6_prefix" for IPv6, host bits cleared; text that is not an address is its own key (so callers that key
 * by something else keep working). Prefixes are clamped to 0..32 and 0..128. Returns g_malloc'd text. */
char *p2plink_net_key(const char *ip, guint v4_prefix, guint v6_prefix);

/* Buckets by client network, at most max_keys of them. Keys go through p2plink_net_key() (by default IPv4 per
 * address, IPv6 per /64), so every caller counts a /64 once. When the table is full, the key used least recently
 * is forgotten (O(1): an LRU list threads through the entries): a newcomer is never refused because the table is
 * full, and an abuser, being the most recently active key, is the last to be forgotten. */
typedef struct p2plink_rate_table p2plink_rate_table;
p2plink_rate_table *p2plink_rate_table_new(const p2plink_rate *rate, guint max_keys);
void p2plink_rate_table_free(p2plink_rate_table *table);
/* How addresses are grouped (defaults P2PLINK_NET_PREFIX_V4 / _V6); call before the first take */
void p2plink_rate_table_set_prefixes(p2plink_rate_table *table, guint v4_prefix, guint v6_prefix);
/* Thread-safe. FALSE when key's network is over its rate */
gboolean p2plink_rate_table_take(p2plink_rate_table *table, const char *key, gint64 now);
/* Keys tracked now (for tests and stats) */
guint p2plink_rate_table_size(p2plink_rate_table *table);

/* Open connections per client network (same keys as the rate table), each network at most max_per_key of them
 * (0: counted, never refused). Thread-safe. */
typedef struct p2plink_net_counter p2plink_net_counter;
p2plink_net_counter *p2plink_net_counter_new(guint max_per_key, guint v4_prefix, guint v6_prefix);
void p2plink_net_counter_free(p2plink_net_counter *counter);
/* One more for ip's network. TRUE and *key (g_malloc'd, to hand back to _remove) when under the cap; FALSE and
 * *key = NULL, nothing counted, when the network already has max_per_key. */
gboolean p2plink_net_counter_add(p2plink_net_counter *counter, const char *ip, char **key);
/* One less for a key _add returned; the key is not freed */
void p2plink_net_counter_remove(p2plink_net_counter *counter, const char *key);
/* How many ip's network has open */
guint p2plink_net_counter_get(p2plink_net_counter *counter, const char *ip);

#endif
