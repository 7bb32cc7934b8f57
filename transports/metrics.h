/*
 * metrics.h — the plugin's counters as Prometheus text (exposition format 0.0.4), for a GET /metrics to serve.
 *
 * What it is for: turning the JSON the plugin already answers to {"request":"stats"} and {"request":"link_stats"}
 * into metric families with Prometheus names (p2plink_..._total for counters, base units), HELP and TYPE lines
 * and labels (a JSON object of numbers, such as link_stats' clicks by outcome, becomes one labelled sample per
 * member), escaped as the format requires. One table row per family, in metrics.c.
 * What it is not for: serving HTTP, deciding who may scrape, or counting (the registry and the link service count;
 * the transport is to serve the text). Pure: jansson and GLib only, unit-tested and checked with promtool.
 */

#ifndef P2PLINK_METRICS_H
#define P2PLINK_METRICS_H

#include <jansson.h>

/* The Content-Type a /metrics answer carries */
#define P2PLINK_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * The exposition text for the two answers (either may be NULL: a store that is down has no link_stats, and its
 * families are then left out rather than reported as 0). Keys that are missing or not numbers are left out too,
 * so a plugin older or newer than this table still renders. Returns a g_malloc'd string, never NULL.
 */
char *p2plink_metrics_render(const json_t *stats, const json_t *link_stats);

#endif
