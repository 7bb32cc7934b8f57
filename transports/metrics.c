/*
 * metrics.c — Prometheus text exposition of the plugin's stats (see metrics.h for what it is and is not for).
 *
 * Every family is one row of metric_table: which answer and key it reads, its name, type, label and help. Names
 * follow Prometheus' conventions: a p2plink_ prefix, counters end in _total, sizes are in bytes. Counters are the
 * registry's own monotonic counts; numbers read from the link store (which a delete_link shrinks) are gauges.
 */

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
	const char *help;
} metric_row;

static const metric_row metric_table[] = {
	{ METRIC_FROM_STATS, "peers", "p2plink_peers_connected", "gauge", NULL,
		"Peers holding an open PeerJS connection." },
	{ METRIC_FROM_STATS, "opened", "p2plink_peers_opened_total", "counter", NULL,
		"Connections that were answered OPEN." },
	{ METRIC_FROM_STATS, "timeouts", "p2plink_peer_timeouts_total", "counter", NULL,
		"Peers dropped for sending nothing within alive_timeout." },
	{ METRIC_FROM_STATS, "relayed", "p2plink_frames_relayed_total", "counter", NULL,
		"Signaling frames delivered to a connected peer." },
	{ METRIC_FROM_STATS, "queued", "p2plink_frames_queued_total", "counter", NULL,
		"Signaling frames queued for a peer that was not connected yet." },
	{ METRIC_FROM_STATS, "rejected", "p2plink_frames_refused_total", "counter", NULL,
		"Frames refused with an error (bad frame, size or rate limit, full queue)." },
	{ METRIC_FROM_STATS, "expired", "p2plink_expires_total", "counter", NULL,
		"EXPIRE frames sent: queued frames whose destination did not connect within expire_timeout." },
	{ METRIC_FROM_STATS, "offline_queues", "p2plink_offline_queues", "gauge", NULL,
		"Destinations with frames queued until they connect." },
	{ METRIC_FROM_STATS, "queued_bytes", "p2plink_offline_queue_bytes", "gauge", NULL,
		"Bytes of frames queued for destinations that are not connected." },
	{ METRIC_FROM_LINK_STATS, "links_total", "p2plink_links_stored", "gauge", NULL,
		"Share links in the store, whatever their status." },
	{ METRIC_FROM_LINK_STATS, "links_active", "p2plink_links_active", "gauge", NULL,
		"Share links that can still be redeemed." },
	{ METRIC_FROM_LINK_STATS, "clicks", "p2plink_link_clicks_stored", "gauge", "outcome",
		"Redemption attempts in the store's click log, by outcome (deleting a link deletes its clicks)." },
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

/* name{label="value"} v, or name v without a label */
static gboolean append_sample(GString *out, const metric_row *row, const char *label_value, const json_t *value) {
	gsize start = out->len;
	g_string_append(out, row->name);
	if(label_value != NULL) {
		g_string_append_printf(out, "{%s=\"", row->label);
		append_escaped(out, label_value, TRUE);
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

/* One family: HELP and TYPE, then its samples; nothing at all when it has no sample */
static void append_family(GString *out, const metric_row *row, const json_t *value) {
	gsize start = out->len;
	g_string_append_printf(out, "# HELP %s ", row->name);
	append_escaped(out, row->help, FALSE);
	g_string_append_printf(out, "\n# TYPE %s %s\n", row->name, row->type);
	guint samples = 0;
	if(row->label == NULL) {
		samples += append_sample(out, row, NULL, value);
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
