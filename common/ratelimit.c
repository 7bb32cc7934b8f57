/*
 * ratelimit.c — token buckets, and a bounded LRU table of them keyed by client network. See ratelimit.h.
 */

#include <arpa/inet.h>
#include <string.h>

#include "links.h"
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

/* Clear every bit of addr[0..len) past the first `prefix` bits */
static void mask_bits(guint8 *addr, size_t len, guint prefix) {
	for(size_t i = 0; i < len; i++) {
		guint bits = prefix > i * 8 ? prefix - i * 8 : 0;
		if(bits < 8)
			addr[i] &= (guint8)(0xff00 >> bits);
	}
}

char *p2plink_net_key(const char *ip, guint v4_prefix, guint v6_prefix) {
	guint8 raw[16];
	if(ip == NULL || !p2plink_ip_parse(ip, raw))
		return g_strdup(ip ? ip : "");
	char text[INET6_ADDRSTRLEN];
	/* p2plink_ip_parse() stores IPv4 (and IPv4-mapped IPv6) as ::ffff:a.b.c.d */
	static const guint8 v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if(memcmp(raw, v4mapped, sizeof(v4mapped)) == 0) {
		guint prefix = MIN(v4_prefix, 32);
		mask_bits(raw + 12, 4, prefix);
		inet_ntop(AF_INET, raw + 12, text, sizeof(text));
		return g_strdup_printf("%s/%u", text, prefix);
	}
	guint prefix = MIN(v6_prefix, 128);
	mask_bits(raw, 16, prefix);
	inet_ntop(AF_INET6, raw, text, sizeof(text));
	return g_strdup_printf("%s/%u", text, prefix);
}

/* One tracked network: its bucket and its place in the LRU list (link.data points back here) */
typedef struct rate_entry {
	p2plink_bucket bucket;
	char *key;
	GList link;
} rate_entry;

struct p2plink_rate_table {
	p2plink_rate rate;
	guint max_keys;
	guint v4_prefix, v6_prefix;
	GMutex mutex;
	GHashTable *entries;	/* key → rate_entry (owned by the table, freed on removal) */
	GQueue lru;				/* head: used least recently */
};

static void rate_entry_free(gpointer data) {
	rate_entry *entry = data;
	g_free(entry->key);
	g_free(entry);
}

p2plink_rate_table *p2plink_rate_table_new(const p2plink_rate *rate, guint max_keys) {
	p2plink_rate_table *table = g_new0(p2plink_rate_table, 1);
	table->rate = *rate;
	table->max_keys = MAX(max_keys, 1);
	table->v4_prefix = P2PLINK_NET_PREFIX_V4;
	table->v6_prefix = P2PLINK_NET_PREFIX_V6;
	g_mutex_init(&table->mutex);
	/* The entry owns its key: the hash table borrows it */
	table->entries = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, rate_entry_free);
	g_queue_init(&table->lru);
	return table;
}

void p2plink_rate_table_free(p2plink_rate_table *table) {
	if(table == NULL)
		return;
	g_hash_table_destroy(table->entries);
	g_mutex_clear(&table->mutex);
	g_free(table);
}

void p2plink_rate_table_set_prefixes(p2plink_rate_table *table, guint v4_prefix, guint v6_prefix) {
	g_mutex_lock(&table->mutex);
	table->v4_prefix = v4_prefix;
	table->v6_prefix = v6_prefix;
	g_mutex_unlock(&table->mutex);
}

gboolean p2plink_rate_table_take(p2plink_rate_table *table, const char *key, gint64 now) {
	if(table->rate.per_second <= 0)
		return TRUE;
	g_mutex_lock(&table->mutex);
	char *net = p2plink_net_key(key, table->v4_prefix, table->v6_prefix);
	rate_entry *entry = g_hash_table_lookup(table->entries, net);
	if(entry != NULL) {
		g_free(net);
		/* Most recently used goes to the tail */
		g_queue_unlink(&table->lru, &entry->link);
		g_queue_push_tail_link(&table->lru, &entry->link);
	} else {
		if(g_hash_table_size(table->entries) >= table->max_keys) {
			/* Full: forget the key idle the longest. Its bucket has refilled the most of all, so forgetting it
			 * gives away the least; refusing the newcomer instead would let one busy network lock everyone out. */
			rate_entry *oldest = g_queue_peek_head_link(&table->lru)->data;
			g_queue_unlink(&table->lru, &oldest->link);
			g_hash_table_remove(table->entries, oldest->key);
		}
		entry = g_new0(rate_entry, 1);
		entry->key = net;
		entry->link.data = entry;
		p2plink_bucket_init(&entry->bucket, &table->rate, now);
		g_hash_table_insert(table->entries, entry->key, entry);
		g_queue_push_tail_link(&table->lru, &entry->link);
	}
	gboolean ok = p2plink_bucket_take(&entry->bucket, &table->rate, now);
	g_mutex_unlock(&table->mutex);
	return ok;
}

guint p2plink_rate_table_size(p2plink_rate_table *table) {
	g_mutex_lock(&table->mutex);
	guint n = g_hash_table_size(table->entries);
	g_mutex_unlock(&table->mutex);
	return n;
}

struct p2plink_net_counter {
	guint max_per_key;
	guint v4_prefix, v6_prefix;
	GMutex mutex;
	GHashTable *counts;		/* network key → count (only networks with at least one) */
};

p2plink_net_counter *p2plink_net_counter_new(guint max_per_key, guint v4_prefix, guint v6_prefix) {
	p2plink_net_counter *counter = g_new0(p2plink_net_counter, 1);
	counter->max_per_key = max_per_key;
	counter->v4_prefix = v4_prefix;
	counter->v6_prefix = v6_prefix;
	g_mutex_init(&counter->mutex);
	counter->counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	return counter;
}

void p2plink_net_counter_free(p2plink_net_counter *counter) {
	if(counter == NULL)
		return;
	g_hash_table_destroy(counter->counts);
	g_mutex_clear(&counter->mutex);
	g_free(counter);
}

gboolean p2plink_net_counter_add(p2plink_net_counter *counter, const char *ip, char **key) {
	char *net = p2plink_net_key(ip, counter->v4_prefix, counter->v6_prefix);
	g_mutex_lock(&counter->mutex);
	guint n = GPOINTER_TO_UINT(g_hash_table_lookup(counter->counts, net));
	gboolean ok = counter->max_per_key == 0 || n < counter->max_per_key;
	if(ok)
		g_hash_table_insert(counter->counts, g_strdup(net), GUINT_TO_POINTER(n + 1));
	g_mutex_unlock(&counter->mutex);
	if(!ok)
		g_clear_pointer(&net, g_free);
	*key = net;
	return ok;
}

void p2plink_net_counter_remove(p2plink_net_counter *counter, const char *key) {
	if(key == NULL)
		return;
	g_mutex_lock(&counter->mutex);
	guint n = GPOINTER_TO_UINT(g_hash_table_lookup(counter->counts, key));
	if(n <= 1)
		g_hash_table_remove(counter->counts, key);
	else
		g_hash_table_insert(counter->counts, g_strdup(key), GUINT_TO_POINTER(n - 1));
	g_mutex_unlock(&counter->mutex);
}

guint p2plink_net_counter_get(p2plink_net_counter *counter, const char *ip) {
	char *net = p2plink_net_key(ip, counter->v4_prefix, counter->v6_prefix);
	g_mutex_lock(&counter->mutex);
	guint n = GPOINTER_TO_UINT(g_hash_table_lookup(counter->counts, net));
	g_mutex_unlock(&counter->mutex);
	g_free(net);
	return n;
}
