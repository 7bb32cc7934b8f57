/*
 * cluster_config.c — [cluster] option table, defaults, validation, default node id, Redis URL parsing.
 * See cluster_config.h. Pure: no Redis, no Janus.
 */

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_config.h"

/* One row per numeric option: name, where it lives, default, range. The defaults give a node-death bound of
 * 6 s + 2 s (+ 0.1 s tick) = 8.1 s, under the 10 s the cluster promises, and leases that survive two missed
 * renewals (15 s lease, renewed every 5 s). */
typedef struct cluster_option {
	const char *name;
	size_t offset;
	guint def, min, max;
} cluster_option;

static const cluster_option cluster_options[] = {
	{ "lease_ms", offsetof(p2plink_cluster_config, lease_ms), 15000, 3000, 600000 },
	{ "renew_ms", offsetof(p2plink_cluster_config, renew_ms), 5000, 500, 200000 },
	{ "liveness_ms", offsetof(p2plink_cluster_config, liveness_ms), 6000, 1000, 60000 },
	{ "heartbeat_ms", offsetof(p2plink_cluster_config, heartbeat_ms), 2000, 250, 20000 },
	{ "call_timeout_ms", offsetof(p2plink_cluster_config, call_timeout_ms), 2000, 100, 30000 },
	{ "reconnect_min_ms", offsetof(p2plink_cluster_config, reconnect_min_ms), 100, 10, 10000 },
	{ "reconnect_max_ms", offsetof(p2plink_cluster_config, reconnect_max_ms), 5000, 10, 60000 },
};
#define CLUSTER_OPTIONS (sizeof(cluster_options) / sizeof(cluster_options[0]))

#define DEFAULT_URL "redis://127.0.0.1:6379"
#define DEFAULT_PREFIX "p2plink:"
#define DEFAULT_PORT 6379

static guint *option_field(p2plink_cluster_config *cfg, const cluster_option *o) {
	return (guint *)((char *)cfg + o->offset);
}

void p2plink_cluster_config_defaults(p2plink_cluster_config *cfg) {
	memset(cfg, 0, sizeof(*cfg));
	for(size_t i = 0; i < CLUSTER_OPTIONS; i++)
		*option_field(cfg, &cluster_options[i]) = cluster_options[i].def;
	cfg->redis_url = g_strdup(DEFAULT_URL);
	cfg->key_prefix = g_strdup(DEFAULT_PREFIX);
}

void p2plink_cluster_config_clear(p2plink_cluster_config *cfg) {
	g_clear_pointer(&cfg->redis_url, g_free);
	g_clear_pointer(&cfg->node_id, g_free);
	g_clear_pointer(&cfg->key_prefix, g_free);
}

void p2plink_cluster_config_copy(p2plink_cluster_config *dst, const p2plink_cluster_config *src) {
	*dst = *src;
	dst->redis_url = g_strdup(src->redis_url);
	dst->node_id = g_strdup(src->node_id);
	dst->key_prefix = g_strdup(src->key_prefix);
}

const char *p2plink_cluster_config_name(guint i) {
	static const char * const strings[] = { "redis_url", "node_id", "key_prefix" };
	if(i < G_N_ELEMENTS(strings))
		return strings[i];
	i -= G_N_ELEMENTS(strings);
	return i < CLUSTER_OPTIONS ? cluster_options[i].name : NULL;
}

gboolean p2plink_cluster_config_set(p2plink_cluster_config *cfg, const char *name, const char *value, char **error) {
	char **text = NULL;
	if(!strcmp(name, "redis_url"))
		text = &cfg->redis_url;
	else if(!strcmp(name, "node_id"))
		text = &cfg->node_id;
	else if(!strcmp(name, "key_prefix"))
		text = &cfg->key_prefix;
	if(text != NULL) {
		g_free(*text);
		*text = g_strdup(value);
		return TRUE;
	}
	for(size_t i = 0; i < CLUSTER_OPTIONS; i++) {
		const cluster_option *o = &cluster_options[i];
		if(strcmp(name, o->name))
			continue;
		guint64 v = 0;
		if(!g_ascii_string_to_unsigned(value, 10, o->min, o->max, &v, NULL)) {
			*error = g_strdup_printf("cluster option %s must be a whole number of milliseconds from %u to %u, not \"%s\"",
				o->name, o->min, o->max, value);
			return FALSE;
		}
		*option_field(cfg, o) = (guint)v;
		return TRUE;
	}
	*error = g_strdup_printf("unknown cluster option %s", name);
	return FALSE;
}

gboolean p2plink_cluster_config_validate(const p2plink_cluster_config *cfg, char **error) {
	for(size_t i = 0; i < CLUSTER_OPTIONS; i++) {
		const cluster_option *o = &cluster_options[i];
		guint v = *option_field((p2plink_cluster_config *)cfg, o);
		if(v < o->min || v > o->max) {
			*error = g_strdup_printf("cluster option %s is %u ms; it must be from %u to %u", o->name, v, o->min, o->max);
			return FALSE;
		}
	}
	/* Why a third: a lease (or a liveness key) must survive two late renewals before anyone sees it expire */
	if(cfg->renew_ms > cfg->lease_ms / 3) {
		*error = g_strdup_printf("cluster renew_ms (%u) must be at most a third of lease_ms (%u)", cfg->renew_ms, cfg->lease_ms);
		return FALSE;
	}
	if(cfg->heartbeat_ms > cfg->liveness_ms / 3) {
		*error = g_strdup_printf("cluster heartbeat_ms (%u) must be at most a third of liveness_ms (%u)",
			cfg->heartbeat_ms, cfg->liveness_ms);
		return FALSE;
	}
	if(cfg->reconnect_max_ms < cfg->reconnect_min_ms) {
		*error = g_strdup_printf("cluster reconnect_max_ms (%u) must not be below reconnect_min_ms (%u)",
			cfg->reconnect_max_ms, cfg->reconnect_min_ms);
		return FALSE;
	}
	if(cfg->node_id != NULL && cfg->node_id[0] != '\0' && !p2plink_cluster_node_id_valid(cfg->node_id)) {
		*error = g_strdup_printf("cluster node_id \"%s\" must be 1 to %d letters, digits, '.', '_' or '-'",
			cfg->node_id, P2PLINK_CLUSTER_NODE_ID_MAX);
		return FALSE;
	}
	if(cfg->key_prefix == NULL || strlen(cfg->key_prefix) > 64) {
		*error = g_strdup("cluster key_prefix must be set and at most 64 characters");
		return FALSE;
	}
	p2plink_redis_target target;
	if(!p2plink_redis_target_parse(cfg->redis_url, &target, error))
		return FALSE;
	p2plink_redis_target_clear(&target);
	return TRUE;
}

guint p2plink_cluster_config_detect_bound_ms(const p2plink_cluster_config *cfg) {
	/* The node's last refresh can be just before it dies: its key lives liveness_ms more, and the others read the
	 * node list every heartbeat_ms, on a 100 ms tick */
	return cfg->liveness_ms + cfg->heartbeat_ms + 100;
}

static gboolean node_id_char(char ch) {
	return g_ascii_isalnum(ch) || ch == '.' || ch == '_' || ch == '-';
}

gboolean p2plink_cluster_node_id_valid(const char *node_id) {
	size_t len = node_id != NULL ? strlen(node_id) : 0;
	if(len == 0 || len > P2PLINK_CLUSTER_NODE_ID_MAX)
		return FALSE;
	for(size_t i = 0; i < len; i++)
		if(!node_id_char(node_id[i]))
			return FALSE;
	return TRUE;
}

char *p2plink_cluster_node_id_default(const char *hostname, guint port) {
	char suffix[16];
	g_snprintf(suffix, sizeof(suffix), "-%u", port);
	size_t room = P2PLINK_CLUSTER_NODE_ID_MAX - strlen(suffix);
	GString *id = g_string_new(NULL);
	for(const char *p = (hostname != NULL && hostname[0] != '\0') ? hostname : "node"; *p != '\0' && id->len < room; p++)
		g_string_append_c(id, node_id_char(*p) ? *p : '-');
	g_string_append(id, suffix);
	return g_string_free(id, FALSE);
}

void p2plink_redis_target_clear(p2plink_redis_target *target) {
	g_clear_pointer(&target->host, g_free);
	g_clear_pointer(&target->socket_path, g_free);
	g_clear_pointer(&target->username, g_free);
	if(target->password != NULL)
		memset(target->password, 0, strlen(target->password));
	g_clear_pointer(&target->password, g_free);
}

/* userinfo "user:pass", ":pass" or "pass" (redis-cli's forms) */
static void parse_userinfo(GUri *uri, p2plink_redis_target *target) {
	const char *user = g_uri_get_user(uri), *password = g_uri_get_password(uri);
	if(password != NULL) {
		target->password = g_strdup(password);
		if(user != NULL && user[0] != '\0')
			target->username = g_strdup(user);
	} else if(user != NULL && user[0] != '\0') {
		target->password = g_strdup(user);
	}
}

gboolean p2plink_redis_target_parse(const char *url, p2plink_redis_target *target, char **error) {
	memset(target, 0, sizeof(*target));
	GError *gerr = NULL;
	GUri *uri = url != NULL ? g_uri_parse(url, G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_ENCODED_PATH, &gerr) : NULL;
	if(uri == NULL) {
		*error = g_strdup_printf("cluster redis_url \"%s\" is not a URL (%s)", url ? url : "",
			gerr ? gerr->message : "missing");
		g_clear_error(&gerr);
		return FALSE;
	}
	const char *scheme = g_uri_get_scheme(uri);
	gboolean ok = TRUE;
	if(!g_ascii_strcasecmp(scheme, "unix")) {
		const char *path = g_uri_get_path(uri);
		if(path == NULL || path[0] != '/') {
			*error = g_strdup_printf("cluster redis_url \"%s\": unix:// needs an absolute socket path", url);
			ok = FALSE;
		} else {
			target->socket_path = g_uri_unescape_string(path, NULL);
			parse_userinfo(uri, target);
		}
	} else if(!g_ascii_strcasecmp(scheme, "redis")) {
		const char *host = g_uri_get_host(uri), *path = g_uri_get_path(uri);
		int port = g_uri_get_port(uri);
		guint64 db = 0;
		if(host == NULL || host[0] == '\0') {
			*error = g_strdup_printf("cluster redis_url \"%s\" has no host", url);
			ok = FALSE;
		} else if(path != NULL && path[0] == '/' && path[1] != '\0'
				&& !g_ascii_string_to_unsigned(path + 1, 10, 0, 15, &db, NULL)) {
			*error = g_strdup_printf("cluster redis_url \"%s\": the database after the host must be 0 to 15", url);
			ok = FALSE;
		} else {
			target->host = g_strdup(host);
			target->port = port > 0 ? (guint)port : DEFAULT_PORT;
			target->db = (int)db;
			parse_userinfo(uri, target);
		}
	} else {
		*error = g_strdup_printf("cluster redis_url \"%s\" must start with redis:// or unix:// (TLS is not supported)", url);
		ok = FALSE;
	}
	g_uri_unref(uri);
	if(!ok)
		p2plink_redis_target_clear(target);
	return ok;
}
