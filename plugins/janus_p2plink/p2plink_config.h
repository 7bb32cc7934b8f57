/*! \file   p2plink_config.h
 * \brief  janus.plugin.p2plink's options: one table row each, and the settings derived from them
 * \details What this file is for: every option of conf/janus.plugin.p2plink.jcfg.sample (name, type, range,
 * default, field) in one table (p2plink_config.c), the TTL options parsed in the link grammar, and what goes
 * from there into the registry's and the link service's settings. Pure: the values come through a lookup callback
 * (plugin.c feeds it the parsed .jcfg), so tests/unit/test_p2plink_config.c can drive it and checks the sample
 * against the rows.
 * What it is not for: applying the settings (the store, the rate tables, the threads: plugin.c).
 */

#ifndef P2PLINK_PLUGIN_CONFIG_H
#define P2PLINK_PLUGIN_CONFIG_H

#include <glib.h>

#include "../../common/config_table.h"
#include "link_service.h"
#include "registry.h"

typedef enum p2plink_store_kind {
	P2PLINK_STORE_SQLITE = 0,
	P2PLINK_STORE_MONGODB,
} p2plink_store_kind;

typedef struct p2plink_plugin_config {
	/* general: milliseconds and bytes as the operator writes them */
	gint64 expire_timeout, alive_timeout, concurrent_limit;
	gint64 queue_max_messages, queue_max_bytes, queue_total_bytes, max_counterparts;
	gint64 frame_rate, frame_burst, flood_after, id_grace, max_sdp_bytes, max_candidate_bytes;
	gboolean events;
	/* links */
	int store;		/* p2plink_store_kind */
	char *store_folder, *mongodb_uri, *mongodb_database;
	gboolean per_node_links;	/* cluster mode with the SQLite store: accepted only when TRUE */
	gint64 mongodb_timeout_ms;
	char *admin_max_ttl, *admin_default_ttl, *peer_max_ttl, *peer_default_ttl;	/* TTL grammar */
	char *link_retention, *click_retention, *prune_interval;					/* TTL grammar */
	gint64 max_links_per_peer, create_per_minute_per_peer, create_per_minute_per_ip, redeem_attempts_per_minute;
	gboolean click_ip_privacy;
	char *public_url;

	/* Derived by p2plink_plugin_config_load */
	const char *store_name;		/* "sqlite" or "mongodb" (static) */
	gint64 admin_max_ttl_s, admin_default_ttl_s, peer_max_ttl_s, peer_default_ttl_s;
	gint64 link_retention_s, click_retention_s, prune_interval_s;
	char *public_url_base;		/* public_url without a trailing slash; NULL when unset or empty */
} p2plink_plugin_config;

/* The table itself (tests check the sample against it) */
extern const p2plink_config_option p2plink_plugin_config_options[];
extern const guint p2plink_plugin_config_option_count;

/* Reads every option, then parses the TTLs. Returns the number of problems, each added to errors as a sentence
 * (the caller logs them all, then refuses to start when there is any). cfg is valid either way. */
guint p2plink_plugin_config_load(p2plink_plugin_config *cfg, p2plink_config_lookup lookup, void *ctx,
	GPtrArray *errors);
void p2plink_plugin_config_clear(p2plink_plugin_config *cfg);

/* The [general] values into registry settings (µs where the registry counts µs); fields without an option (e.g.
 * max_grants) are left as they are, so call p2plink_registry_config_defaults first */
void p2plink_plugin_config_registry(const p2plink_plugin_config *cfg, p2plink_registry_config *out);
/* The [links] rules into link-service settings; out->public_url points into cfg */
void p2plink_plugin_config_links(const p2plink_plugin_config *cfg, p2plink_link_service_config *out);

#endif
