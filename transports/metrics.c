/*
 * metrics.c — Prometheus text exposition of the plugin's stats (see metrics.h for what it is and is not for).
 *
 * Every family is one row of metric_table: which answer and key it reads, its name, type, label and help. Names
 * follow Prometheus' conventions: a p2plink_ prefix, counters end in _total, sizes are in bytes. Counters are the
 * registry's own monotonic counts; numbers read from the link store (which a delete_link shrinks) are gauges.
 * A row's member is a number, an object of numbers (one label), an object of such objects (two labels), or for
 * a histogram {"buckets": [[le, cumulative count], ...], "sum": s, "count": n}.
 */

#include <string.h>

#include <glib.h>

#include "metrics.h"

typedef enum metric_source {
	METRIC_FROM_STATS,		/* {"request":"stats"}: the registry's counts, since the plugin started */
	METRIC_FROM_LINK_STATS,	/* {"request":"link_stats"}: what the link store holds */
} metric_source;

typedef struct metric_row {
	metric_source source;
	const char *key;		/* member of the answer */
	const char *name;		/* family name */
	const char *type;		/* "counter" or "gauge" */
	const char *label;		/* NULL: the member is a number; else it is an object of numbers, one sample each */
	const char *label2;		/* non-NULL: the object's members are objects of numbers, labelled label, label2 */
	const char *help;
} metric_row;

static const metric_row metric_table[] = {
	{ METRIC_FROM_STATS, "peers", "p2plink_peers_connected", "gauge", NULL, NULL,
		"Peers holding an open PeerJS connection." },
	{ METRIC_FROM_STATS, "opened", "p2plink_peers_opened_total", "counter", NULL, NULL,
		"Connections that were answered OPEN." },
	{ METRIC_FROM_STATS, "timeouts", "p2plink_peer_timeouts_total", "counter", NULL, NULL,
		"Peers dropped for sending nothing within alive_timeout." },
	{ METRIC_FROM_STATS, "relayed", "p2plink_frames_relayed_total", "counter", NULL, NULL,
		"Signaling frames delivered to a connected peer." },
	{ METRIC_FROM_STATS, "queued", "p2plink_frames_queued_total", "counter", NULL, NULL,
		"Signaling frames queued for a peer that was not connected yet." },
	{ METRIC_FROM_STATS, "rejected", "p2plink_frames_refused_total", "counter", NULL, NULL,
		"Frames refused with an error (bad frame, size or rate limit, full queue)." },
	{ METRIC_FROM_STATS, "expired", "p2plink_expires_total", "counter", NULL, NULL,
		"EXPIRE frames sent: queued frames whose destination did not connect within expire_timeout." },
	{ METRIC_FROM_STATS, "offline_queues", "p2plink_offline_queues", "gauge", NULL, NULL,
		"Destinations with frames queued until they connect." },
	{ METRIC_FROM_STATS, "queued_bytes", "p2plink_offline_queue_bytes", "gauge", NULL, NULL,
		"Bytes of frames queued for destinations that are not connected." },
	{ METRIC_FROM_STATS, "queued_frames", "p2plink_offline_queue_frames", "gauge", NULL, NULL,
		"Frames queued for destinations that are not connected (the offline queues' depth)." },
	{ METRIC_FROM_LINK_STATS, "links_total", "p2plink_links_stored", "gauge", NULL, NULL,
		"Share links in the store, whatever their status." },
	{ METRIC_FROM_LINK_STATS, "links_active", "p2plink_links_active", "gauge", NULL, NULL,
		"Share links that can still be redeemed." },
	{ METRIC_FROM_LINK_STATS, "clicks", "p2plink_link_clicks_stored", "gauge", "outcome", NULL,
		"Redemption attempts in the store's click log, by outcome (deleting a link deletes its clicks)." },
	/* The hot-path counters (plugins/janus_p2plink/counters.h) */
	{ METRIC_FROM_STATS, "relayed_by_type", "p2plink_frames_relayed_by_type_total", "counter", "type", NULL,
		"Signaling frames delivered to a connected peer, by frame type." },
	{ METRIC_FROM_STATS, "refused_by_code", "p2plink_frames_refused_by_code_total", "counter", "type", "code",
		"Frames refused after OPEN (answered EXPIRE and/or P2PLINK-REFUSED), by frame type and refusal code." },
	{ METRIC_FROM_STATS, "redemptions", "p2plink_link_redemptions_total", "counter", "outcome", NULL,
		"Share-link redemptions answered, by outcome." },
	{ METRIC_FROM_STATS, "store_seconds", "p2plink_store_call_duration_seconds", "histogram", NULL, NULL,
		"Time one link store call took." },
	{ METRIC_FROM_STATS, "store_failures", "p2plink_store_failures_total", "counter", NULL, NULL,
		"Link store calls that failed for the store's own reasons (down, read-only, busy, schema)." },
	/* The transport's own (transports/metrics_endpoint.c) */
	{ METRIC_FROM_STATS, "connections", "p2plink_connections_total", "counter", NULL, NULL,
		"WebSocket connections that reached the PeerJS handshake." },
	{ METRIC_FROM_STATS, "connections_refused", "p2plink_connections_refused_total", "counter", "reason", NULL,
		"Connections refused before or at the PeerJS handshake, by reason." },
	{ METRIC_FROM_STATS, "ws_writes_deferred", "p2plink_ws_writes_deferred_total", "counter", NULL, NULL,
		"WebSocket writes the socket did not take whole; the rest went out when it drained (a slow reader)." },
	{ METRIC_FROM_STATS, "stun_responses", "p2plink_stun_responses_total", "counter", "kind", NULL,
		"STUN responses sent, by kind (binding success or error)." },
	{ METRIC_FROM_STATS, "stun_drops", "p2plink_stun_drops_total", "counter", "reason", NULL,
		"STUN datagrams dropped without an answer, by reason." },
	{ METRIC_FROM_STATS, "loop_lag_seconds", "p2plink_event_loop_lag_seconds", "gauge", NULL, NULL,
		"How late the transport's event loop ran its last periodic probe." },
};

/* HELP text escapes backslash and newline; label values also the double quote (exposition format 0.0.4) */
static void append_escaped(GString *out, const char *text, gboolean quote) {
	for(const char *c = text; *c != '\0'; c++) {
		if(*c == '\\')
			g_string_append(out, "\\\\");
		else if(*c == '\n')
			g_string_append(out, "\\n");
		else if(*c == '"' && quote)
			g_string_append(out, "\\\"");
		else
			g_string_append_c(out, *c);
	}
}

/* A sample's value; FALSE when the JSON value is not a number (the sample is then left out). jansson holds no NaN
 * or infinity, so every real prints as a plain float, with all its digits */
static gboolean append_value(GString *out, const json_t *value) {
	if(json_is_integer(value))
		g_string_append_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
	else if(json_is_real(value))
		g_string_append_printf(out, "%.17g", json_real_value(value));
	else
		return FALSE;
	return TRUE;
}

/* name{label="value",label2="value2"} v, or name v without labels; suffix: "_bucket", "_sum"... for histograms */
static gboolean append_sample_as(GString *out, const char *name, const char *suffix, const char *label,
		const char *label_value, const char *label2, const char *label2_value, const json_t *value) {
	gsize start = out->len;
	g_string_append(out, name);
	g_string_append(out, suffix);
	if(label_value != NULL) {
		g_string_append_printf(out, "{%s=\"", label);
		append_escaped(out, label_value, TRUE);
		if(label2_value != NULL) {
			g_string_append_printf(out, "\",%s=\"", label2);
			append_escaped(out, label2_value, TRUE);
		}
		g_string_append(out, "\"}");
	}
	g_string_append_c(out, ' ');
	if(!append_value(out, value)) {
		g_string_truncate(out, start);
		return FALSE;
	}
	g_string_append_c(out, '\n');
	return TRUE;
}

static gboolean append_sample(GString *out, const metric_row *row, const char *label_value, const json_t *value) {
	return append_sample_as(out, row->name, "", row->label, label_value, NULL, NULL, value);
}

/* A histogram: cumulative buckets in increasing le, then +Inf (= count), sum and count. Nothing when the shape
 * is wrong, so a half-read value never becomes a histogram promtool or Prometheus would reject. */
static guint append_histogram(GString *out, const metric_row *row, const json_t *value) {
	const json_t *buckets = json_object_get(value, "buckets"), *sum = json_object_get(value, "sum"),
		*count = json_object_get(value, "count");
	if(!json_is_array(buckets) || !json_is_number(sum) || !json_is_integer(count))
		return 0;
	gsize start = out->len;
	size_t i;
	const json_t *bucket;
	json_array_foreach(buckets, i, bucket) {
		const json_t *le = json_array_get(bucket, 0), *n = json_array_get(bucket, 1);
		if(!json_is_number(le) || !json_is_integer(n)) {
			g_string_truncate(out, start);
			return 0;
		}
		char bound[G_ASCII_DTOSTR_BUF_SIZE];
		g_ascii_formatd(bound, sizeof(bound), "%g", json_number_value(le));
		append_sample_as(out, row->name, "_bucket", "le", bound, NULL, NULL, n);
	}
	append_sample_as(out, row->name, "_bucket", "le", "+Inf", NULL, NULL, count);
	append_sample_as(out, row->name, "_sum", NULL, NULL, NULL, NULL, sum);
	append_sample_as(out, row->name, "_count", NULL, NULL, NULL, NULL, count);
	return 1;
}

/* Two labels: {"OFFER": {"queue-full": 3}} */
static guint append_nested(GString *out, const metric_row *row, const json_t *value) {
	guint samples = 0;
	const char *outer, *inner;
	json_t *o, *v;
	json_object_foreach((json_t *)value, outer, o) {
		if(!json_is_object(o))
			continue;
		json_object_foreach(o, inner, v)
			samples += append_sample_as(out, row->name, "", row->label, outer, row->label2, inner, v);
	}
	return samples;
}

/* One family: HELP and TYPE, then its samples; nothing at all when it has no sample */
static void append_family(GString *out, const metric_row *row, const json_t *value) {
	gsize start = out->len;
	g_string_append_printf(out, "# HELP %s ", row->name);
	append_escaped(out, row->help, FALSE);
	g_string_append_printf(out, "\n# TYPE %s %s\n", row->name, row->type);
	guint samples = 0;
	if(!strcmp(row->type, "histogram")) {
		samples = json_is_object(value) ? append_histogram(out, row, value) : 0;
	} else if(row->label == NULL) {
		samples += append_sample(out, row, NULL, value);
	} else if(row->label2 != NULL && json_is_object(value)) {
		samples = append_nested(out, row, value);
	} else if(json_is_object(value)) {
		const char *member;
		json_t *v;
		json_object_foreach((json_t *)value, member, v)
			samples += append_sample(out, row, member, v);
	}
	if(samples == 0)
		g_string_truncate(out, start);
}

char *p2plink_metrics_render(const json_t *stats, const json_t *link_stats) {
	GString *out = g_string_new(NULL);
	for(gsize i = 0; i < G_N_ELEMENTS(metric_table); i++) {
		const metric_row *row = &metric_table[i];
		const json_t *answer = row->source == METRIC_FROM_STATS ? stats : link_stats;
		const json_t *value = json_is_object(answer) ? json_object_get(answer, row->key) : NULL;
		if(value != NULL)
			append_family(out, row, value);
	}
	return g_string_free(out, FALSE);
}
