/*
 * counters.h — the plugin's hot-path counters for /metrics: frames relayed by type, frames refused by type and
 * code, link redemptions by outcome, store call latency (a histogram) and store failures.
 *
 * What it is for: counting on the routing path without adding a lock or a cache-line fight per frame. Every
 * counter is a relaxed atomic add (one lock-free instruction, no ordering with anything else: a scrape sees each
 * number exact, the set of them only "consistent enough", which is all Prometheus wants). The counters are
 * process-wide, like the one plugin instance Janus loads.
 * What it is not for: what the registry already counts under its own lock (peers, queues, EXPIREs, timeouts: see
 * p2plink_registry_stats), rendering Prometheus text (transports/metrics.c) or serving it
 * (transports/metrics_endpoint.c). Pure: GLib and jansson only, unit-tested in tests/unit/test_counters.c.
 */

#ifndef P2PLINK_COUNTERS_H
#define P2PLINK_COUNTERS_H

#include <glib.h>
#include <jansson.h>

#include "links.h"
#include "protocol.h"

/* The store latency histogram's upper bounds, in seconds (Prometheus "le"): SQLite commits on a local disk take
 * well under a millisecond, a remote MongoDB a few, a store in trouble seconds (its open timeout is 4 s) */
#define P2PLINK_STORE_LATENCY_BUCKETS 12
extern const double p2plink_store_latency_bounds[P2PLINK_STORE_LATENCY_BUCKETS];

/* A frame delivered to a connected peer */
void p2plink_counters_relayed(p2plink_msg_type type);
/* A frame refused after OPEN with one of the registry's stable codes ("queue-full", ...; others count as "other") */
void p2plink_counters_refused(p2plink_msg_type type, const char *code);
/* A redemption's answer (peeks are not redemptions and are not counted) */
void p2plink_counters_redemption(p2plink_link_outcome outcome);
/* One store call took this long (microseconds); failed: it reported a store failure (not the caller's mistake) */
void p2plink_counters_store_call(gint64 elapsed_us);
void p2plink_counters_store_failure(void);

/*
 * A snapshot as JSON, the shape transports/metrics.c renders:
 *   "relayed_by_type": {"OFFER": n, ...}, "refused_by_code": {"OFFER": {"queue-full": n}, ...},
 *   "redemptions": {"ok": n, "expired": n, ...}, "store_failures": n,
 *   "store_seconds": {"buckets": [[0.0005, cumulative n], ...], "sum": seconds, "count": n}
 * Members that never counted are left out of the objects (every type x code would be 100 samples of 0).
 */
json_t *p2plink_counters_snapshot(void);

/* Tests only: back to zero */
void p2plink_counters_reset(void);

#endif
