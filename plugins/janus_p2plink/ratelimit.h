/*
 * ratelimit.h — token buckets: one for a single subject (a peer's frames), and a bounded table of them keyed by
 * a string (link redemptions per client IP).
 *
 * What it is for: saying "not now" to floods and token guessing, deterministically (time is passed in).
 * What it is not for: deciding what happens to a refused request (the caller answers with its own ERROR code).
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

/* Buckets by key (e.g. client IP), at most max_keys of them: when full, buckets that have refilled completely
 * (idle keys, indistinguishable from new ones) are dropped first, so memory is bounded and nobody gains by it. */
typedef struct p2plink_rate_table p2plink_rate_table;
p2plink_rate_table *p2plink_rate_table_new(const p2plink_rate *rate, guint max_keys);
void p2plink_rate_table_free(p2plink_rate_table *table);
/* Thread-safe. FALSE when key is over its rate (or the table is full of busy keys) */
gboolean p2plink_rate_table_take(p2plink_rate_table *table, const char *key, gint64 now);

#endif
