/*! \file   peerjs_config.h
 * \brief  janus.transport.peerjs's options: one table row each, and the values derived from them
 * \details What this file is for: every option of conf/janus.transport.peerjs.jcfg.sample (name, type, range,
 * default, field) in one table (peerjs_config.c), the checks that span options (secure needs a certificate,
 * trusted_proxies must be CIDRs), and the lists and paths derived from the text. Pure: the values come through a
 * lookup callback (janus_peerjs.c feeds it the parsed .jcfg), so tests/unit/test_peerjs_config.c can drive it
 * and checks the sample against the rows.
 * What it is not for: applying the values (libwebsockets, limits, STUN: janus_peerjs.c and its neighbours).
 */

#ifndef PEERJS_CONFIG_H
#define PEERJS_CONFIG_H

#include <glib.h>

#include "../common/config_table.h"

typedef enum peerjs_event_loop {
	PEERJS_LOOP_POLL = 0,
	PEERJS_LOOP_LIBUV,
} peerjs_event_loop;

typedef struct peerjs_config {
	/* general */
	gint64 port;
	char *interface;
	gboolean secure;
	char *path, *key;
	gboolean allow_discovery;
	char *cors_origins, *html_folder, *trusted_proxies;
	int event_loop;		/* peerjs_event_loop */
	gint64 max_frame_size;
	gint64 max_connections_per_ip, connection_rate_per_ip, connection_burst_per_ip, ipv6_prefix;
	gint64 max_connections_per_network, ipv4_network_prefix, ipv6_network_prefix;
	gint64 write_queue_max_frames, write_queue_max_bytes;
	/* certificates */
	char *cert_pem, *cert_key, *cert_pwd;
	/* ice */
	char *stun_urls;
	gboolean lan_only;
	/* stun */
	gboolean stun_enabled;
	gint64 stun_port;
	char *stun_interface;
	gint64 stun_rate_per_source, stun_burst_per_source, stun_global_rate, stun_global_burst;
	/* Applied by metrics_endpoint.c and tls_reload.c */
	gint64 reload_interval;
	gboolean metrics_enabled;
	gint64 metrics_port;
	char *metrics_interface;
	/* cluster: the switch, then the texts cluster/cluster_config.c checks and turns into numbers (its table holds
	 * their defaults and ranges); NULL when unset. Applied by peerjs_cluster.c */
	gboolean cluster_enabled;
	char *cluster_redis_url, *cluster_node_id, *cluster_key_prefix, *cluster_lease_ms, *cluster_renew_ms;
	char *cluster_liveness_ms, *cluster_heartbeat_ms, *cluster_call_timeout_ms, *cluster_reconnect_min_ms;
	char *cluster_reconnect_max_ms;

	/* Derived by peerjs_config_load: NULL lists and NULL strings where the option is unset or empty */
	char *mount_path;		/* path with a leading and a trailing slash */
	char *html_root, *listen_iface, *stun_bind;
	char **cors, **proxies, **ice_stun_urls;
} peerjs_config;

/* The table itself (tests check the sample against it) */
extern const p2plink_config_option peerjs_config_options[];
extern const guint peerjs_config_option_count;

/* Reads every option, then the cross-option checks. Returns the number of problems, each added to errors as a
 * sentence (the caller logs them all, then refuses to start when there is any). cfg is valid either way. */
guint peerjs_config_load(peerjs_config *cfg, p2plink_config_lookup lookup, void *ctx, GPtrArray *errors);
void peerjs_config_clear(peerjs_config *cfg);

#endif
