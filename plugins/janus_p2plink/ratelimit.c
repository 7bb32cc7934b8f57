/*
 * ratelimit.c — token buckets. See ratelimit.h.
 */

#include "ratelimit.h"

void p2plink_bucket_init(p2plink_bucket *bucket, const p2plink_rate *rate, gint64 now) {
	bucket->tokens = rate->burst;
	bucket->last = now;
}

gboolean p2plink_bucket_take(p2plink_bucket *bucket, const p2plink_rate *rate, gint64 now) {
	if(rate->per_second <= 0)
		return TRUE;
	if(now > bucket->last) {
		bucket->tokens += (double)(now - bucket->last) * rate->per_second / G_USEC_PER_SEC;
		if(bucket->tokens > rate->burst)
			bucket->tokens = rate->burst;
		bucket->last = now;
	}
	if(bucket->tokens < 1.0)
		return FALSE;
	bucket->tokens -= 1.0;
	return TRUE;
}

struct p2plink_rate_table {
	p2plink_rate rate;
	guint max_keys;
	GMutex mutex;
	GHashTable *buckets;	/* key → p2plink_bucket */
};

p2plink_rate_table *p2plink_rate_table_new(const p2plink_rate *rate, guint max_keys) {
	p2plink_rate_table *table = g_new0(p2plink_rate_table, 1);
	table->rate = *rate;
	table->max_keys = max_keys;
	g_mutex_init(&table->mutex);
	table->buckets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	return table;
}

void p2plink_rate_table_free(p2plink_rate_table *table) {
	if(table == NULL)
		return;
	g_hash_table_destroy(table->buckets);
	g_mutex_clear(&table->mutex);
	g_free(table);
}

/* Drop buckets that would be full by now: forgetting them changes nothing */
static void forget_idle(p2plink_rate_table *table, gint64 now) {
	gint64 refill = (gint64)(table->rate.burst / table->rate.per_second * G_USEC_PER_SEC);
	GHashTableIter iter;
	gpointer value;
	g_hash_table_iter_init(&iter, table->buckets);
	while(g_hash_table_iter_next(&iter, NULL, &value)) {
		if(now - ((p2plink_bucket *)value)->last >= refill)
			g_hash_table_iter_remove(&iter);
	}
}

gboolean p2plink_rate_table_take(p2plink_rate_table *table, const char *key, gint64 now) {
	if(table->rate.per_second <= 0)
		return TRUE;
	g_mutex_lock(&table->mutex);
	p2plink_bucket *bucket = g_hash_table_lookup(table->buckets, key ? key : "");
	if(bucket == NULL) {
		if(g_hash_table_size(table->buckets) >= table->max_keys)
			forget_idle(table, now);
		if(g_hash_table_size(table->buckets) >= table->max_keys) {
			/* Every tracked key is busy: refusing a newcomer is safer than forgetting an abuser */
			g_mutex_unlock(&table->mutex);
			return FALSE;
		}
		bucket = g_new(p2plink_bucket, 1);
		p2plink_bucket_init(bucket, &table->rate, now);
		g_hash_table_insert(table->buckets, g_strdup(key ? key : ""), bucket);
	}
	gboolean ok = p2plink_bucket_take(bucket, &table->rate, now);
	g_mutex_unlock(&table->mutex);
	return ok;
}
