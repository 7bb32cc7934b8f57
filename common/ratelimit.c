/*
 * ratelimit.c — token buckets, a bounded LRU table of them keyed by client network (with an optional total cap),
 * and open connections counted per network. See ratelimit.h.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "links.h"
#include "ratelimit.h"

void p2plink_bucket_init(p2plink_bucket *bucket, const p2plink_rate *rate, gint64 now) {
	bucket->tokens = rate->burst;
	bucket->last = now;
}

/* Refill to now, then TRUE if a whole token is there (nothing taken yet) */
static gboolean bucket_has_token(p2plink_bucket *bucket, const p2plink_rate *rate, gint64 now) {
	if(now > bucket->last) {
		bucket->tokens += (double)(now - bucket->last) * rate->per_second / G_USEC_PER_SEC;
		if(bucket->tokens > rate->burst)
			bucket->tokens = rate->burst;
		bucket->last = now;
	}
	return bucket->tokens >= 1.0;
}

gboolean p2plink_bucket_take(p2plink_bucket *bucket, const p2plink_rate *rate, gint64 now) {
	if(rate->per_second <= 0)
		return TRUE;
	if(!bucket_has_token(bucket, rate, now))
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

/* Clear the host bits of an address in p2plink_ip_parse()'s form (IPv4 as ::ffff:a.b.c.d); returns the prefix kept
 * (clamped to 0..32 for IPv4, 0..128 for IPv6) and sets *v4 */
static guint net_mask(guint8 raw[16], guint v4_prefix, guint v6_prefix, gboolean *v4) {
	static const guint8 v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	*v4 = memcmp(raw, v4mapped, sizeof(v4mapped)) == 0;
	guint prefix = *v4 ? MIN(v4_prefix, 32) : MIN(v6_prefix, 128);
	if(*v4)
		mask_bits(raw + 12, 4, prefix);
	else
		mask_bits(raw, 16, prefix);
	return prefix;
}

char *p2plink_net_key(const char *ip, guint v4_prefix, guint v6_prefix) {
	guint8 raw[16];
	if(ip == NULL || !p2plink_ip_parse(ip, raw))
		return g_strdup(ip ? ip : "");
	gboolean v4;
	guint prefix = net_mask(raw, v4_prefix, v6_prefix, &v4);
	char text[INET6_ADDRSTRLEN];
	if(v4)
		inet_ntop(AF_INET, raw + 12, text, sizeof(text));
	else
		inet_ntop(AF_INET6, raw, text, sizeof(text));
	return g_strdup_printf("%s/%u", text, prefix);
}

/* What a table entry is keyed by, without text on the hot path (the STUN thread asks once per datagram): a network
 * (its masked address and prefix, the same network p2plink_net_key() names) or, for a key that is not an address
 * (an owner hash), its text. The bytes are borrowed for a lookup and owned by the entry once stored. */
typedef struct rate_key {
	gboolean is_net;
	gsize len;
	const guint8 *bytes;
} rate_key;

/* Masked address + prefix */
#define NET_KEY_BYTES	17

static void net_key_bytes(guint8 raw[16], guint v4_prefix, guint v6_prefix, guint8 out[NET_KEY_BYTES]) {
	gboolean v4;
	guint prefix = net_mask(raw, v4_prefix, v6_prefix, &v4);
	memcpy(out, raw, 16);
	out[16] = (guint8)prefix;
}

/* One tracked network: its bucket and its place in the LRU list (link.data points back here) */
typedef struct rate_entry {
	p2plink_bucket bucket;
	rate_key key;
	GList link;
} rate_entry;

struct p2plink_rate_table {
	p2plink_rate rate;
	p2plink_rate total;		/* cap over all keys; per_second 0: none */
	p2plink_bucket total_bucket;
	gboolean total_started;
	guint max_keys;
	guint v4_prefix, v6_prefix;
	guint64 evictions;
	GMutex mutex;
	GHashTable *entries;	/* &entry->key → rate_entry (owned by the table, freed on removal) */
	GQueue lru;				/* head: used least recently */
};

/* Keys can come from spoofed STUN sources, so an attacker picks them: a per-process random seed keeps colliding
 * keys from being precomputed (g_str_hash is unseeded). Eight bytes a step (a network key is two and a tail byte),
 * then a 64-bit finalizer. */
static guint64 rate_hash_seed;

static guint rate_key_hash(gconstpointer data) {
	const rate_key *key = data;
	guint64 h = rate_hash_seed ^ (key->is_net ? 0x9E3779B97F4A7C15ULL : 0), w;
	gsize i = 0;
	for(; i + 8 <= key->len; i += 8) {
		memcpy(&w, key->bytes + i, 8);
		h ^= w;
		h *= 0x9E3779B97F4A7C15ULL;
		h ^= h >> 29;
	}
	for(; i < key->len; i++) {
		h ^= key->bytes[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (guint)(h ^ (h >> 32));
}

static gboolean rate_key_equal(gconstpointer a, gconstpointer b) {
	const rate_key *x = a, *y = b;
	return x->is_net == y->is_net && x->len == y->len && memcmp(x->bytes, y->bytes, x->len) == 0;
}

static void rate_entry_free(gpointer data) {
	rate_entry *entry = data;
	g_free((guint8 *)entry->key.bytes);
	g_free(entry);
}

p2plink_rate_table *p2plink_rate_table_new(const p2plink_rate *rate, guint max_keys) {
	static gsize seeded = 0;
	if(g_once_init_enter(&seeded)) {
		rate_hash_seed = ((guint64)g_random_int() << 32) | g_random_int();
		g_once_init_leave(&seeded, 1);
	}
	p2plink_rate_table *table = g_new0(p2plink_rate_table, 1);
	table->rate = *rate;
	table->max_keys = MAX(max_keys, 1);
	table->v4_prefix = P2PLINK_NET_PREFIX_V4;
	table->v6_prefix = P2PLINK_NET_PREFIX_V6;
	g_mutex_init(&table->mutex);
	/* The entry owns its key: the hash table borrows it */
	table->entries = g_hash_table_new_full(rate_key_hash, rate_key_equal, NULL, rate_entry_free);
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

void p2plink_rate_table_set_total(p2plink_rate_table *table, const p2plink_rate *total) {
	g_mutex_lock(&table->mutex);
	table->total = *total;
	table->total_started = FALSE;
	g_mutex_unlock(&table->mutex);
}

/* The entry of key, made most recently used; a new one (full bucket) when absent, forgetting the least recently
 * used key if the table is full. Under the table's mutex. */
static rate_entry *rate_entry_get(p2plink_rate_table *table, const rate_key *key, gint64 now) {
	rate_entry *entry = g_hash_table_lookup(table->entries, key);
	if(entry != NULL) {
		/* Most recently used goes to the tail */
		g_queue_unlink(&table->lru, &entry->link);
		g_queue_push_tail_link(&table->lru, &entry->link);
		return entry;
	}
	if(g_hash_table_size(table->entries) >= table->max_keys) {
		/* Full: forget the key idle the longest. Its bucket has refilled the most of all, so forgetting it gives
		 * away the least; refusing the newcomer instead would let one busy network lock everyone out. */
		rate_entry *oldest = g_queue_peek_head_link(&table->lru)->data;
		g_queue_unlink(&table->lru, &oldest->link);
		g_hash_table_remove(table->entries, &oldest->key);
		table->evictions++;
	}
	entry = g_new0(rate_entry, 1);
	entry->key.is_net = key->is_net;
	entry->key.len = key->len;
	entry->key.bytes = g_memdup2(key->bytes, key->len ? key->len : 1);
	entry->link.data = entry;
	p2plink_bucket_init(&entry->bucket, &table->rate, now);
	g_hash_table_insert(table->entries, &entry->key, entry);
	g_queue_push_tail_link(&table->lru, &entry->link);
	return entry;
}

/* The check itself, for a key (NULL: the per-key rate is off) */
static p2plink_rate_verdict rate_table_check_key(p2plink_rate_table *table, const rate_key *key, gint64 now) {
	p2plink_bucket *bucket = NULL;
	if(key != NULL) {
		bucket = &rate_entry_get(table, key, now)->bucket;
		if(!bucket_has_token(bucket, &table->rate, now))
			return P2PLINK_RATE_KEY_LIMITED;
	}
	if(table->total.per_second > 0) {
		if(!table->total_started) {
			p2plink_bucket_init(&table->total_bucket, &table->total, now);
			table->total_started = TRUE;
		}
		if(!bucket_has_token(&table->total_bucket, &table->total, now))
			return P2PLINK_RATE_TOTAL_LIMITED;
		table->total_bucket.tokens -= 1.0;
	}
	/* Taken only once both agreed */
	if(bucket != NULL)
		bucket->tokens -= 1.0;
	return P2PLINK_RATE_ALLOWED;
}

/* raw (p2plink_ip_parse()'s form) as a network key of this table, or with raw NULL the text key itself */
static p2plink_rate_verdict rate_table_check(p2plink_rate_table *table, guint8 *raw, const char *text, gint64 now) {
	guint8 net[NET_KEY_BYTES];
	rate_key key = { FALSE, 0, NULL };
	g_mutex_lock(&table->mutex);
	if(table->rate.per_second > 0) {
		if(raw != NULL) {
			net_key_bytes(raw, table->v4_prefix, table->v6_prefix, net);
			key = (rate_key){ TRUE, sizeof(net), net };
		} else {
			/* Text that is not an address (an owner hash) is its own key */
			key = (rate_key){ FALSE, strlen(text), (const guint8 *)text };
		}
	}
	p2plink_rate_verdict verdict = rate_table_check_key(table, table->rate.per_second > 0 ? &key : NULL, now);
	g_mutex_unlock(&table->mutex);
	return verdict;
}

p2plink_rate_verdict p2plink_rate_table_check(p2plink_rate_table *table, const char *key, gint64 now) {
	guint8 raw[16];
	if(key != NULL && p2plink_ip_parse(key, raw))
		return rate_table_check(table, raw, NULL, now);
	return rate_table_check(table, NULL, key ? key : "", now);
}

p2plink_rate_verdict p2plink_rate_table_check_addr(p2plink_rate_table *table, const struct sockaddr *addr,
		socklen_t addrlen, gint64 now) {
	guint8 raw[16] = { 0 };
	if(addr != NULL && addr->sa_family == AF_INET && addrlen >= (socklen_t)sizeof(struct sockaddr_in)) {
		/* p2plink_ip_parse()'s form: ::ffff:a.b.c.d */
		raw[10] = raw[11] = 0xff;
		memcpy(raw + 12, &((const struct sockaddr_in *)addr)->sin_addr, 4);
	} else if(addr != NULL && addr->sa_family == AF_INET6 && addrlen >= (socklen_t)sizeof(struct sockaddr_in6)) {
		memcpy(raw, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
	} else {
		/* Not an address: one key for all of them ("?"), so they cannot fill the table either */
		return rate_table_check(table, NULL, "?", now);
	}
	return rate_table_check(table, raw, NULL, now);
}

gboolean p2plink_rate_table_take(p2plink_rate_table *table, const char *key, gint64 now) {
	return p2plink_rate_table_check(table, key, now) == P2PLINK_RATE_ALLOWED;
}

void p2plink_rate_table_get_stats(p2plink_rate_table *table, p2plink_rate_table_stats *stats) {
	g_mutex_lock(&table->mutex);
	stats->keys = g_hash_table_size(table->entries);
	stats->evictions = table->evictions;
	g_mutex_unlock(&table->mutex);
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
