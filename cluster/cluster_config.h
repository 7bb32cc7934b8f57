/*
 * cluster_config.h — the [cluster] settings of a p2plink node: the Redis URL, this node's id, lease, renewal,
 * liveness and timeout periods, with their defaults and allowed ranges in one table (cluster_config.c).
 *
 * What it is for: turning operator settings into a validated p2plink_cluster_config (errors are sentences), deriving
 * a unique default node id from the host name and the PeerJS port, and splitting a redis:// or unix:// URL into
 * what hiredis needs (through GLib's GUri, no hand-written URL parser).
 * What it is not for: reading .jcfg files (the Janus glue does that and fills this struct) or talking to Redis
 * (cluster.c).
 */

#ifndef P2PLINK_CLUSTER_CONFIG_H
#define P2PLINK_CLUSTER_CONFIG_H

#include <glib.h>

/* Node ids: 1..64 characters of [A-Za-z0-9._-], so they are safe in Redis key and channel names and logs */
#define P2PLINK_CLUSTER_NODE_ID_MAX 64

typedef struct p2plink_cluster_config {
	char *redis_url;		/* redis://[[user]:password@]host[:port][/db] or unix:///path/to/redis.sock */
	char *node_id;			/* NULL or "": p2plink_cluster_node_id_default() */
	char *key_prefix;		/* every key and channel starts with it; default "p2plink:" */
	guint lease_ms;			/* an id lease's expiry (PX) without renewal */
	guint renew_ms;			/* how often all local leases are renewed in one batch */
	guint liveness_ms;		/* a node's liveness key expiry (PX) */
	guint heartbeat_ms;		/* how often the liveness key is refreshed and the node list read */
	guint call_timeout_ms;		/* a call with no answer by then fails the connection (cluster unavailable) */
	guint reconnect_min_ms;		/* first reconnect delay, doubled after each failure ... */
	guint reconnect_max_ms;		/* ... up to this */
} p2plink_cluster_config;

/* Every field at its default (redis_url "redis://127.0.0.1:6379", node_id NULL, key_prefix "p2plink:") */
void p2plink_cluster_config_defaults(p2plink_cluster_config *cfg);
/* Copies of the strings are owned by the struct; free them with this (the struct itself is the caller's) */
void p2plink_cluster_config_clear(p2plink_cluster_config *cfg);
void p2plink_cluster_config_copy(p2plink_cluster_config *dst, const p2plink_cluster_config *src);
/* The i-th option's .jcfg name, NULL past the last (the Janus glue reads each one) */
const char *p2plink_cluster_config_name(guint i);
/* Set one option by its .jcfg name from text ("lease_ms", "15000"); FALSE with *error set when unknown or invalid */
gboolean p2plink_cluster_config_set(p2plink_cluster_config *cfg, const char *name, const char *value, char **error);
/* Ranges and cross-field rules (renew_ms <= lease_ms / 3, heartbeat_ms <= liveness_ms / 3, max >= min, URL and node
 * id well-formed); FALSE with *error (a sentence naming the option) when violated */
gboolean p2plink_cluster_config_validate(const p2plink_cluster_config *cfg, char **error);
/* The longest a dead node stays unnoticed by the others: liveness_ms + heartbeat_ms (+ one 100 ms tick) */
guint p2plink_cluster_config_detect_bound_ms(const p2plink_cluster_config *cfg);

/* "<host>-<port>", characters outside the node id alphabet replaced by '-', the host cut so the port always fits:
 * unique because no two processes on one host listen on the same port. Newly allocated. */
char *p2plink_cluster_node_id_default(const char *hostname, guint port);
gboolean p2plink_cluster_node_id_valid(const char *node_id);

/* A parsed Redis URL */
typedef struct p2plink_redis_target {
	char *host;		/* NULL for a unix socket */
	guint port;
	char *socket_path;	/* unix:///path, else NULL */
	char *username;		/* NULL: AUTH <password> alone */
	char *password;		/* NULL: no AUTH */
	int db;			/* SELECT when > 0 */
} p2plink_redis_target;

gboolean p2plink_redis_target_parse(const char *url, p2plink_redis_target *target, char **error);
void p2plink_redis_target_clear(p2plink_redis_target *target);

#endif
