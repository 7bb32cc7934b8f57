/*
 * counters.c — relaxed atomic counters for the routing path and the link service (see counters.h for what it is
 * and is not for).
 *
 * Why relaxed atomics and not a mutex or per-thread tables: a relayed frame is already counted under the
 * registry's lock, but the new dimensions (type, code, outcome, latency) are also counted by the link workers and
 * the sweeper, and a lock of our own per frame would be a second lock on the hot path. An uncontended relaxed
 * add is one locked instruction (measured no regression in bench/run.sh: see docs/benchmarks.md); per-thread
 * tables would need thread registration for Janus's pool threads, for nothing a scrape every 15 s could see.
 */

#include <string.h>

#include "counters.h"

#define TYPES (P2PLINK_MSG_EXPIRE + 1)

/* The registry's refusal codes (registry.c refuse_locked, protocol.c decode errors); anything else is "other",
 * so a new code can never grow the table or the label set without this list saying so */
static const char *refusal_codes[] = {
	"invalid-utf8", "invalid-json", "invalid-frame", "unknown-type", "invalid-dst", "missing-dst",
	"payload-too-large", "link-required", "queue-full", "server-error", "other",
};
#define CODES G_N_ELEMENTS(refusal_codes)

const double p2plink_store_latency_bounds[P2PLINK_STORE_LATENCY_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
};

static struct {
	guint64 relayed[TYPES];
	guint64 refused[TYPES][CODES];
	guint64 redemptions[P2PLINK_LINK_OUTCOME_COUNT];
	guint64 store_buckets[P2PLINK_STORE_LATENCY_BUCKETS + 1];	/* per bucket (not cumulative); last: +Inf */
	guint64 store_us, store_calls, store_failures;
} counters;

static inline void add(guint64 *counter, guint64 n) {
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static inline guint64 get(const guint64 *counter) {
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static guint type_index(p2plink_msg_type type) {
	return (guint)type < TYPES ? (guint)type : P2PLINK_MSG_UNKNOWN;
}

static guint code_index(const char *code) {
	for(guint i = 0; code != NULL && i < CODES - 1; i++) {
		if(!strcmp(code, refusal_codes[i]))
			return i;
	}
	return CODES - 1;
}

void p2plink_counters_relayed(p2plink_msg_type type) {
	add(&counters.relayed[type_index(type)], 1);
}

void p2plink_counters_refused(p2plink_msg_type type, const char *code) {
	add(&counters.refused[type_index(type)][code_index(code)], 1);
}

void p2plink_counters_redemption(p2plink_link_outcome outcome) {
	if((guint)outcome < P2PLINK_LINK_OUTCOME_COUNT)
		add(&counters.redemptions[outcome], 1);
}

void p2plink_counters_store_call(gint64 elapsed_us) {
	if(elapsed_us < 0)
		elapsed_us = 0;
	double seconds = (double)elapsed_us / G_USEC_PER_SEC;
	guint b = 0;
	while(b < P2PLINK_STORE_LATENCY_BUCKETS && seconds > p2plink_store_latency_bounds[b])
		b++;
	add(&counters.store_buckets[b], 1);
	add(&counters.store_us, (guint64)elapsed_us);
	add(&counters.store_calls, 1);
}

void p2plink_counters_store_failure(void) {
	add(&counters.store_failures, 1);
}

/* The name a type has in frames ("UNKNOWN": a frame whose type did not parse) */
static const char *type_label(guint t) {
	return p2plink_msg_type_name((p2plink_msg_type)t);
}

static json_t *store_histogram(void) {
	json_t *buckets = json_array();
	guint64 cumulative = 0;
	for(guint b = 0; b < P2PLINK_STORE_LATENCY_BUCKETS; b++) {
		cumulative += get(&counters.store_buckets[b]);
		json_array_append_new(buckets, json_pack("[f,I]", p2plink_store_latency_bounds[b], (json_int_t)cumulative));
	}
	/* count is the +Inf bucket: read after the buckets, it is never below the last one */
	guint64 count = cumulative + get(&counters.store_buckets[P2PLINK_STORE_LATENCY_BUCKETS]);
	return json_pack("{s:o,s:f,s:I}", "buckets", buckets, "sum", (double)get(&counters.store_us) / G_USEC_PER_SEC,
		"count", (json_int_t)count);
}

json_t *p2plink_counters_snapshot(void) {
	json_t *relayed = json_object(), *refused = json_object(), *redemptions = json_object();
	for(guint t = 0; t < TYPES; t++) {
		guint64 n = get(&counters.relayed[t]);
		if(n > 0)
			json_object_set_new(relayed, type_label(t), json_integer((json_int_t)n));
		json_t *codes = json_object();
		for(guint c = 0; c < CODES; c++) {
			n = get(&counters.refused[t][c]);
			if(n > 0)
				json_object_set_new(codes, refusal_codes[c], json_integer((json_int_t)n));
		}
		if(json_object_size(codes) > 0)
			json_object_set_new(refused, type_label(t), codes);
		else
			json_decref(codes);
	}
	/* Every outcome, zeros too: a dashboard's "denied / all" should read 0, not "no data" */
	for(guint o = 0; o < P2PLINK_LINK_OUTCOME_COUNT; o++) {
		if(o != P2PLINK_LINK_PREVIEW)
			json_object_set_new(redemptions, p2plink_link_outcome_code(o),
				json_integer((json_int_t)get(&counters.redemptions[o])));
	}
	return json_pack("{s:o,s:o,s:o,s:I,s:o}", "relayed_by_type", relayed, "refused_by_code", refused,
		"redemptions", redemptions, "store_failures", (json_int_t)get(&counters.store_failures),
		"store_seconds", store_histogram());
}

void p2plink_counters_reset(void) {
	memset(&counters, 0, sizeof(counters));
}
