/*
 * ratelimit.h — the one token-bucket limiter of both modules: a bucket for a single subject (a peer's frames), a
 * bounded table of them keyed by client network (new connections per IP, link redemptions and creations, STUN
 * replies per source, with an optional cap over all keys), how a client address becomes such a key, and open
 * connections counted per network.
 *
 * What it is for: saying "not now" to floods, reflection and token guessing, deterministically (time is passed in),
 * with IPv6 clients counted per network rather than per address (one subscriber holds a whole /64: 2^64 addresses).
 * What it is not for: deciding what happens to a refused request (the caller answers with its own code or verdict).
 */

#ifndef P2PLINK_RATELIMIT_H
#define P2PLINK_RATELIMIT_H

#include <sys/socket.h>

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
 * is forgotten (O(1): an LRU list threads through the entries, nothing ever walks the table): a newcomer is never
 * refused because the table is full, and an abuser, being the most recently active key, is the last to be
 * forgotten. The hash is seeded per process: keys can come from spoofed sources, so colliding ones cannot be
 * precomputed. Every call is thread-safe (one mutex per table, held for one lookup). */
typedef struct p2plink_rate_table p2plink_rate_table;
p2plink_rate_table *p2plink_rate_table_new(const p2plink_rate *rate, guint max_keys);
void p2plink_rate_table_free(p2plink_rate_table *table);
/* How addresses are grouped (defaults P2PLINK_NET_PREFIX_V4 / _V6); call before the first take */
void p2plink_rate_table_set_prefixes(p2plink_rate_table *table, guint v4_prefix, guint v6_prefix);
/* An optional cap over all keys together (per_second 0, the default: none), e.g. the STUN responder's bound on
 * replies to spoofed, ever-changing sources that each start with a full bucket. Call before the first take. */
void p2plink_rate_table_set_total(p2plink_rate_table *table, const p2plink_rate *total);

typedef enum p2plink_rate_verdict {
	P2PLINK_RATE_ALLOWED = 0,
	P2PLINK_RATE_KEY_LIMITED,		/* the key's network is over its rate */
	P2PLINK_RATE_TOTAL_LIMITED		/* the table's total cap is over (the key's network was not charged) */
} p2plink_rate_verdict;

/* Take one token for key's network (and one of the total cap, if set). A token is taken only when both agree, so
 * a total refusal does not also cost the network one. */
p2plink_rate_verdict p2plink_rate_table_check(p2plink_rate_table *table, const char *key, gint64 now);
/* The same for a socket address (AF_INET, or AF_INET6: IPv4-mapped counts as its IPv4 address), without turning
 * it into text first. Another family is its own key ("?"), so the caller should refuse it before asking. */
p2plink_rate_verdict p2plink_rate_table_check_addr(p2plink_rate_table *table, const struct sockaddr *addr,
	socklen_t addrlen, gint64 now);
/* check() == P2PLINK_RATE_ALLOWED */
gboolean p2plink_rate_table_take(p2plink_rate_table *table, const char *key, gint64 now);

/* What the table holds now and how many keys it forgot to stay within max_keys (for stats) */
typedef struct p2plink_rate_table_stats {
	guint keys;
	guint64 evictions;
} p2plink_rate_table_stats;
void p2plink_rate_table_get_stats(p2plink_rate_table *table, p2plink_rate_table_stats *stats);

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

#endif
