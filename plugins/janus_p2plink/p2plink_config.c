/*! \file   p2plink_config.c
 * \brief  janus.plugin.p2plink's options as a table (see p2plink_config.h)
 * \details What this file is for: the rows, the TTLs parsed from them, and the copy into the registry's and the
 * link service's settings. What it is not for: reading the file, opening the store.
 * The defaults here are the ones the sample and the README show; tests/unit/test_p2plink_config.c fails if the
 * sample and the rows drift.
 */

#include <string.h>

#include "links.h"
#include "store.h"
#include "p2plink_config.h"

#define ROW_INT(cat, name, lo, hi, def, field) \
	P2PLINK_CONFIG_INT_ROW(cat, name, lo, hi, def, p2plink_plugin_config, field)
#define ROW_BOOL(cat, name, def, field) P2PLINK_CONFIG_BOOL_ROW(cat, name, def, p2plink_plugin_config, field)
#define ROW_STRING(cat, name, def, field) \
	P2PLINK_CONFIG_STRING_ROW(cat, name, def, FALSE, p2plink_plugin_config, field)

static const char * const store_kinds[] = { "sqlite", "mongodb", NULL };

const p2plink_config_option p2plink_plugin_config_options[] = {
	ROW_INT("general", "expire_timeout", 100, 3600000, "5000", expire_timeout),
	ROW_INT("general", "alive_timeout", 1000, 86400000, "60000", alive_timeout),
	ROW_INT("general", "concurrent_limit", 1, 10000000, "5000", concurrent_limit),
	ROW_INT("general", "queue_max_messages", 1, 100000, "128", queue_max_messages),
	ROW_INT("general", "queue_max_bytes", 1024, G_GINT64_CONSTANT(1) << 30, "262144", queue_max_bytes),
	ROW_INT("general", "queue_total_bytes", 1024, G_GINT64_CONSTANT(1) << 40, "67108864", queue_total_bytes),
	ROW_INT("general", "max_counterparts", 1, 100000, "256", max_counterparts),
	ROW_INT("general", "frame_rate", 0, 1000000, "500", frame_rate),
	ROW_INT("general", "frame_burst", 1, 1000000, "500", frame_burst),
	ROW_INT("general", "flood_after", 0, 3600000, "10000", flood_after),
	ROW_INT("general", "id_grace", 0, 86400000, "30000", id_grace),
	ROW_INT("general", "max_sdp_bytes", 256, 16 * 1024 * 1024, "65536", max_sdp_bytes),
	ROW_INT("general", "max_candidate_bytes", 256, 16 * 1024 * 1024, "4096", max_candidate_bytes),
	ROW_BOOL("general", "events", "true", events),
	P2PLINK_CONFIG_ENUM_ROW("links", "store", store_kinds, "sqlite", p2plink_plugin_config, store),
	ROW_STRING("links", "store_folder", "/var/lib/p2plink", store_folder),
	/* Cluster mode needs one store for all nodes (MongoDB); SQLite only when each node keeping its own links is
	 * what the operator wants (a link then works only through the node it was made on) */
	ROW_BOOL("links", "per_node_links", "false", per_node_links),
	ROW_STRING("links", "mongodb_uri", "mongodb://127.0.0.1:27017", mongodb_uri),
	ROW_STRING("links", "mongodb_database", "p2plink", mongodb_database),
	ROW_INT("links", "mongodb_timeout_ms", 100, 600000, G_STRINGIFY(P2PLINK_MONGO_DEFAULT_TIMEOUT_MS),
		mongodb_timeout_ms),
	/* TTL grammar (links.h): parsed by p2plink_plugin_config_load */
	ROW_STRING("links", "admin_max_ttl", "30d", admin_max_ttl),
	ROW_STRING("links", "admin_default_ttl", "1d", admin_default_ttl),
	ROW_STRING("links", "peer_max_ttl", "1d", peer_max_ttl),
	ROW_STRING("links", "peer_default_ttl", "1h", peer_default_ttl),
	ROW_INT("links", "max_links_per_peer", 0, 100000, "20", max_links_per_peer),
	ROW_INT("links", "create_per_minute_per_peer", 0, 1000000, "10", create_per_minute_per_peer),
	ROW_INT("links", "create_per_minute_per_ip", 0, 1000000, "30", create_per_minute_per_ip),
	ROW_STRING("links", "link_retention", "7d", link_retention),
	ROW_STRING("links", "click_retention", "30d", click_retention),
	ROW_STRING("links", "prune_interval", "1min", prune_interval),
	ROW_BOOL("links", "click_ip_privacy", "false", click_ip_privacy),
	ROW_INT("links", "redeem_attempts_per_minute", 0, 1000000, "30", redeem_attempts_per_minute),
	/* The sample shows an example, the default is unset */
	P2PLINK_CONFIG_STRING_ROW("links", "public_url", NULL, TRUE, p2plink_plugin_config, public_url),
};
const guint p2plink_plugin_config_option_count = G_N_ELEMENTS(p2plink_plugin_config_options);

/* One TTL row: its text (already the default when unset or bad) into seconds */
static guint parse_ttl(const char *name, const char *text, gint64 *seconds, GPtrArray *errors) {
	GError *error = NULL;
	if(p2plink_ttl_parse(text, P2PLINK_TTL_HARD_MAX_SECONDS, seconds, &error))
		return 0;
	p2plink_config_report(errors, g_strdup_printf("links.%s = '%s': %s", name, text, error->message));
	g_error_free(error);
	/* A bad value leaves the default, as for every other row */
	const p2plink_config_option *row = p2plink_config_find(p2plink_plugin_config_options,
		p2plink_plugin_config_option_count, "links", name);
	p2plink_ttl_parse(row->default_value, P2PLINK_TTL_HARD_MAX_SECONDS, seconds, NULL);
	return 1;
}

guint p2plink_plugin_config_load(p2plink_plugin_config *cfg, p2plink_config_lookup lookup, void *ctx,
		GPtrArray *errors) {
	memset(cfg, 0, sizeof(*cfg));
	guint bad = p2plink_config_apply(p2plink_plugin_config_options, p2plink_plugin_config_option_count, cfg,
		lookup, ctx, errors);
	struct { const char *name, *text; gint64 *seconds; } ttls[] = {
		{ "admin_max_ttl", cfg->admin_max_ttl, &cfg->admin_max_ttl_s },
		{ "admin_default_ttl", cfg->admin_default_ttl, &cfg->admin_default_ttl_s },
		{ "peer_max_ttl", cfg->peer_max_ttl, &cfg->peer_max_ttl_s },
		{ "peer_default_ttl", cfg->peer_default_ttl, &cfg->peer_default_ttl_s },
		{ "link_retention", cfg->link_retention, &cfg->link_retention_s },
		{ "click_retention", cfg->click_retention, &cfg->click_retention_s },
		{ "prune_interval", cfg->prune_interval, &cfg->prune_interval_s },
	};
	for(guint i = 0; i < G_N_ELEMENTS(ttls); i++)
		bad += parse_ttl(ttls[i].name, ttls[i].text, ttls[i].seconds, errors);
	cfg->store_name = store_kinds[cfg->store];
	if(cfg->public_url != NULL && *cfg->public_url != '\0') {
		cfg->public_url_base = g_strdup(cfg->public_url);
		if(g_str_has_suffix(cfg->public_url_base, "/"))
			cfg->public_url_base[strlen(cfg->public_url_base) - 1] = '\0';
	}
	return bad;
}

void p2plink_plugin_config_clear(p2plink_plugin_config *cfg) {
	p2plink_config_clear(p2plink_plugin_config_options, p2plink_plugin_config_option_count, cfg);
	g_clear_pointer(&cfg->public_url_base, g_free);
}

void p2plink_plugin_config_registry(const p2plink_plugin_config *cfg, p2plink_registry_config *out) {
	out->expire_timeout = cfg->expire_timeout * 1000;
	out->alive_timeout = cfg->alive_timeout * 1000;
	out->concurrent_limit = cfg->concurrent_limit;
	out->queue_max_messages = cfg->queue_max_messages;
	out->queue_max_bytes = cfg->queue_max_bytes;
	out->queue_total_bytes = cfg->queue_total_bytes;
	out->max_counterparts = cfg->max_counterparts;
	out->frame_rate.per_second = cfg->frame_rate;
	out->frame_rate.burst = cfg->frame_burst;
	out->flood_after = cfg->flood_after * 1000;
	out->id_grace = cfg->id_grace * 1000;
	out->max_sdp_bytes = cfg->max_sdp_bytes;
	out->max_candidate_bytes = cfg->max_candidate_bytes;
}

void p2plink_plugin_config_links(const p2plink_plugin_config *cfg, p2plink_link_service_config *out) {
	memset(out, 0, sizeof(*out));
	out->admin_limits.max_ttl_seconds = cfg->admin_max_ttl_s;
	out->admin_limits.default_ttl_seconds = cfg->admin_default_ttl_s;
	out->peer_limits.max_ttl_seconds = cfg->peer_max_ttl_s;
	out->peer_limits.default_ttl_seconds = cfg->peer_default_ttl_s;
	out->max_links_per_peer = cfg->max_links_per_peer;
	out->public_url = cfg->public_url_base;
	out->private_click_ips = cfg->click_ip_privacy;
}
