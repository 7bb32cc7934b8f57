/*
 * metrics.h — the plugin's counters as Prometheus text (exposition format 0.0.4), for a GET /metrics to serve.
 *
 * What it is for: turning the JSON the plugin answers to {"request":"stats"} and {"request":"link_stats"}, and the
 * snapshot GET /metrics gathers (the hot path's metrics_snapshot: registry stats plus counters.h, and the
 * transport's own counters), into metric families with Prometheus names (p2plink_..._total for counters, base
 * units), HELP and TYPE lines and labels (a JSON object of numbers, such as link_stats' clicks by outcome, becomes
 * one labelled sample per member; an object of such objects two labels; a histogram its _bucket/_sum/_count
 * samples), escaped as the format requires. One table row per family, in metrics.c.
 * What it is not for: serving HTTP or deciding who may scrape (metrics_endpoint.c), or counting (the registry,
 * counters.c and the transport count). Pure: jansson and GLib only, unit-tested and checked with promtool.
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
