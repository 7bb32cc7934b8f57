/*! \file   peerjs_config.c
 * \brief  janus.transport.peerjs's options as a table (see peerjs_config.h)
 * \details What this file is for: the rows, and what is derived from them. What it is not for: reading the file.
 * The defaults here are the ones the sample shows; tests/unit/test_peerjs_config.c fails if the two drift.
 */

#include <string.h>

#include "links.h"
#include "ratelimit.h"
#include "peerjs_config.h"

#define ROW_INT(cat, name, lo, hi, def, field) P2PLINK_CONFIG_INT_ROW(cat, name, lo, hi, def, peerjs_config, field)
#define ROW_BOOL(cat, name, def, field) P2PLINK_CONFIG_BOOL_ROW(cat, name, def, peerjs_config, field)
#define ROW_STRING(cat, name, def, field) P2PLINK_CONFIG_STRING_ROW(cat, name, def, FALSE, peerjs_config, field)
/* The sample shows an example, the default is unset */
#define ROW_EXAMPLE(cat, name, field) P2PLINK_CONFIG_STRING_ROW(cat, name, NULL, TRUE, peerjs_config, field)

static const char * const event_loops[] = { "poll", "libuv", NULL };

const p2plink_config_option peerjs_config_options[] = {
	ROW_INT("general", "port", 1, 65535, "9000", port),
	ROW_EXAMPLE("general", "interface", interface),
	ROW_BOOL("general", "secure", "true", secure),
	ROW_STRING("general", "path", "/", path),
	ROW_STRING("general", "key", "peerjs", key),
	ROW_BOOL("general", "allow_discovery", "false", allow_discovery),
	ROW_EXAMPLE("general", "cors_origins", cors_origins),
	ROW_EXAMPLE("general", "html_folder", html_folder),
	P2PLINK_CONFIG_ENUM_ROW("general", "event_loop", event_loops, "libuv", peerjs_config, event_loop),
	ROW_INT("general", "max_frame_size", 1024, 16 * 1024 * 1024, "65536", max_frame_size),
	/* Defaults: 2,000 open per address, twice the 1,000 people an office or carrier NAT may put behind one (each
	 * stock client holds one WebSocket) and well under the plugin's concurrent_limit (5,000); 20 new per second
	 * sustained, with a burst of 1,000, so all of such a NAT reconnecting at once after a restart gets in */
	ROW_INT("general", "max_connections_per_ip", 0, 10000000, "2000", max_connections_per_ip),
	ROW_INT("general", "connection_rate_per_ip", 0, 1000000, "20", connection_rate_per_ip),
	ROW_INT("general", "connection_burst_per_ip", 1, 10000000, "1000", connection_burst_per_ip),
	ROW_INT("general", "ipv6_prefix", 32, 128, G_STRINGIFY(P2PLINK_NET_PREFIX_V6), ipv6_prefix),
	ROW_INT("general", "max_connections_per_network", 0, 10000000, "0", max_connections_per_network),
	ROW_INT("general", "ipv4_network_prefix", 8, 32, "24", ipv4_network_prefix),
	ROW_INT("general", "ipv6_network_prefix", 16, 128, "48", ipv6_network_prefix),
	ROW_EXAMPLE("general", "trusted_proxies", trusted_proxies),
	ROW_INT("general", "write_queue_max_frames", 16, 1000000, "1024", write_queue_max_frames),
	ROW_INT("general", "write_queue_max_bytes", 65536, G_GINT64_CONSTANT(1) << 30, "4194304", write_queue_max_bytes),
	ROW_EXAMPLE("certificates", "cert_pem", cert_pem),
	ROW_EXAMPLE("certificates", "cert_key", cert_key),
	ROW_EXAMPLE("certificates", "cert_pwd", cert_pwd),
	/* Applied by tls_reload.c and metrics_endpoint.c (peerjs_tls_reload_config, peerjs_metrics_config) */
	ROW_INT("certificates", "reload_interval", 0, 86400, "60", reload_interval),
	ROW_BOOL("metrics", "enabled", "false", metrics_enabled),
	/* 9464: the port Prometheus' registry lists for exporters of this kind */
	ROW_INT("metrics", "port", 1, 65535, "9464", metrics_port),
	ROW_STRING("metrics", "interface", "127.0.0.1", metrics_interface),
	ROW_EXAMPLE("ice", "stun_urls", stun_urls),
	ROW_BOOL("ice", "lan_only", "false", lan_only),
	ROW_BOOL("stun", "enabled", "true", stun_enabled),
	ROW_INT("stun", "port", 0, 65535, "3478", stun_port),
	ROW_EXAMPLE("stun", "interface", stun_interface),
	/* The STUN responder's own defaults (stun_responder.c p2plink_stun_config_defaults) */
	ROW_INT("stun", "rate_per_source", 1, 1000000, "100", stun_rate_per_source),
	ROW_INT("stun", "burst_per_source", 1, 1000000, "200", stun_burst_per_source),
	ROW_INT("stun", "global_rate", 1, 10000000, "20000", stun_global_rate),
	ROW_INT("stun", "global_burst", 1, 10000000, "40000", stun_global_burst),
	ROW_BOOL("cluster", "enabled", "false", cluster_enabled),
	/* Checked by cluster_config.c (p2plink_cluster_config_set: one table of defaults and ranges), so the sample
	 * shows them as examples; every other "cluster" row is one of its options, by the same name */
	ROW_EXAMPLE("cluster", "redis_url", cluster_redis_url),
	ROW_EXAMPLE("cluster", "node_id", cluster_node_id),
	ROW_EXAMPLE("cluster", "key_prefix", cluster_key_prefix),
	ROW_EXAMPLE("cluster", "lease_ms", cluster_lease_ms),
	ROW_EXAMPLE("cluster", "renew_ms", cluster_renew_ms),
	ROW_EXAMPLE("cluster", "liveness_ms", cluster_liveness_ms),
	ROW_EXAMPLE("cluster", "heartbeat_ms", cluster_heartbeat_ms),
	ROW_EXAMPLE("cluster", "call_timeout_ms", cluster_call_timeout_ms),
	ROW_EXAMPLE("cluster", "reconnect_min_ms", cluster_reconnect_min_ms),
	ROW_EXAMPLE("cluster", "reconnect_max_ms", cluster_reconnect_max_ms),
};
const guint peerjs_config_option_count = G_N_ELEMENTS(peerjs_config_options);

/* Like the client: always a leading and a trailing slash */
static char *normalise_path(const char *path) {
	char *trimmed = g_strstrip(g_strdup(path ? path : "/"));
	char *out = g_strdup_printf("%s%s%s", trimmed[0] == '/' ? "" : "/", trimmed,
		g_str_has_suffix(trimmed, "/") ? "" : "/");
	g_free(trimmed);
	return out;
}

/* A comma-separated list, each entry trimmed; NULL when unset or empty */
static char **split_list(const char *text) {
	if(text == NULL || *text == '\0')
		return NULL;
	char **list = g_strsplit(text, ",", -1);
	for(char **s = list; *s; s++)
		g_strstrip(*s);
	return list;
}

static char *non_empty(const char *text) {
	return text != NULL && *text != '\0' ? g_strdup(text) : NULL;
}

guint peerjs_config_load(peerjs_config *cfg, p2plink_config_lookup lookup, void *ctx, GPtrArray *errors) {
	memset(cfg, 0, sizeof(*cfg));
	guint bad = p2plink_config_apply(peerjs_config_options, peerjs_config_option_count, cfg, lookup, ctx, errors);
	cfg->mount_path = normalise_path(cfg->path);
	cfg->html_root = non_empty(cfg->html_folder);
	cfg->listen_iface = non_empty(cfg->interface);
	cfg->stun_bind = non_empty(cfg->stun_interface);
	cfg->cors = split_list(cfg->cors_origins);
	cfg->ice_stun_urls = split_list(cfg->stun_urls);
	cfg->proxies = split_list(cfg->trusted_proxies);
	for(char **p = cfg->proxies; p != NULL && *p; p++) {
		p2plink_cidr cidr;
		if(!p2plink_cidr_parse(*p, &cidr, NULL))
			bad += p2plink_config_report(errors,
				g_strdup_printf("general.trusted_proxies entry '%s' is not an address or CIDR", *p));
	}
	if(cfg->secure && (cfg->cert_pem == NULL || cfg->cert_key == NULL))
		bad += p2plink_config_report(errors, g_strdup("secure = true needs certificates.cert_pem and cert_key "
			"(set secure = false only behind a trusted TLS proxy)"));
	/* No STUN on a LAN without internet: host candidates only */
	if(cfg->lan_only)
		cfg->stun_enabled = FALSE;
	return bad;
}

void peerjs_config_clear(peerjs_config *cfg) {
	p2plink_config_clear(peerjs_config_options, peerjs_config_option_count, cfg);
	g_clear_pointer(&cfg->mount_path, g_free);
	g_clear_pointer(&cfg->html_root, g_free);
	g_clear_pointer(&cfg->listen_iface, g_free);
	g_clear_pointer(&cfg->stun_bind, g_free);
	g_clear_pointer(&cfg->cors, g_strfreev);
	g_clear_pointer(&cfg->ice_stun_urls, g_strfreev);
	g_clear_pointer(&cfg->proxies, g_strfreev);
}
