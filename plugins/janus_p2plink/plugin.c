/*! \file   plugin.c
 * \brief  janus.plugin.p2plink — PeerJS-style signaling for 1:1 calls and file transfer (Janus glue)
 * \details What this file is for: the Janus plugin callbacks. It loads the config, owns the peer registry and its
 * sweeper thread, exposes the in-process hot path to janus.transport.peerjs, binds each PeerJS connection to the
 * Janus session its transport created (so peers show up in the admin API and time out the Janus way), answers
 * admin requests and feeds event handlers.
 * What it is not for: routing rules (registry.c), the wire format (protocol.c), sockets (the transport), the
 * options' names, ranges and defaults (p2plink_config.c: this file only applies them).
 *
 * This plugin never relays media: a request carrying a JSEP is refused and the PeerConnection the core started for
 * it is closed. PeerJS SDP travels inside frame payloads, which only ever pass through the hot path.
 *
 * Janus API (only janus.transport.peerjs uses it; other transports cannot do anything useful):
 * \verbatim
{"request":"bind","nonce":"<32 hex>"}   -> {"p2plink":"bound","id":"<peer id>"}
\endverbatim
 * Admin API (message_plugin with the admin secret): see admin.c.
 */

#include <plugins/plugin.h>

#include <jansson.h>

#include <debug.h>
#include <mutex.h>
#include <refcount.h>
#include <utils.h>

#include "../../common/jcfg_values.h"
#include "p2plink_config.h"
#include "admin.h"
#include "counters.h"
#include "link_service.h"
#include "p2plink_hotpath.h"
#include "protocol.h"
#include "registry.h"
#include "store.h"

#define JANUS_P2PLINK_VERSION			1
#define JANUS_P2PLINK_VERSION_STRING	"0.1.0"
#define JANUS_P2PLINK_DESCRIPTION		"PeerJS-compatible signaling for 1:1 calls and file transfer; never relays media."
#define JANUS_P2PLINK_NAME				"p2plink"
#define JANUS_P2PLINK_AUTHOR			"p2plink"
#define JANUS_P2PLINK_PACKAGE			"janus.plugin.p2plink"

#define JANUS_P2PLINK_ERROR_INVALID_REQUEST	470
#define JANUS_P2PLINK_ERROR_MISSING_ELEMENT	471
#define JANUS_P2PLINK_ERROR_INVALID_ELEMENT	472
#define JANUS_P2PLINK_ERROR_NO_MEDIA		473
#define JANUS_P2PLINK_ERROR_UNKNOWN_NONCE	474

/* Plugin methods */
janus_plugin *create(void);
static int janus_p2plink_init(janus_callbacks *callback, const char *config_path);
static void janus_p2plink_destroy(void);
static int janus_p2plink_get_api_compatibility(void);
static int janus_p2plink_get_version(void);
static const char *janus_p2plink_get_version_string(void);
static const char *janus_p2plink_get_description(void);
static const char *janus_p2plink_get_name(void);
static const char *janus_p2plink_get_author(void);
static const char *janus_p2plink_get_package(void);
static void janus_p2plink_create_session(janus_plugin_session *handle, int *error);
static struct janus_plugin_result *janus_p2plink_handle_message(janus_plugin_session *handle, char *transaction,
	json_t *message, json_t *jsep);
static json_t *janus_p2plink_handle_admin_message(json_t *message);
static void janus_p2plink_setup_media(janus_plugin_session *handle);
static void janus_p2plink_hangup_media(janus_plugin_session *handle);
static void janus_p2plink_destroy_session(janus_plugin_session *handle, int *error);
static json_t *janus_p2plink_query_session(janus_plugin_session *handle);

static janus_plugin janus_p2plink_plugin =
	JANUS_PLUGIN_INIT (
		.init = janus_p2plink_init,
		.destroy = janus_p2plink_destroy,

		.get_api_compatibility = janus_p2plink_get_api_compatibility,
		.get_version = janus_p2plink_get_version,
		.get_version_string = janus_p2plink_get_version_string,
		.get_description = janus_p2plink_get_description,
		.get_name = janus_p2plink_get_name,
		.get_author = janus_p2plink_get_author,
		.get_package = janus_p2plink_get_package,

		.create_session = janus_p2plink_create_session,
		.handle_message = janus_p2plink_handle_message,
		.handle_admin_message = janus_p2plink_handle_admin_message,
		.setup_media = janus_p2plink_setup_media,
		.hangup_media = janus_p2plink_hangup_media,
		.destroy_session = janus_p2plink_destroy_session,
		.query_session = janus_p2plink_query_session,
	);

janus_plugin *create(void) {
	JANUS_LOG(LOG_VERB, "%s created!\n", JANUS_P2PLINK_NAME);
	return &janus_p2plink_plugin;
}

static struct janus_json_parameter request_parameters[] = {
	{"request", JSON_STRING, JANUS_JSON_PARAM_REQUIRED}
};
static struct janus_json_parameter bind_parameters[] = {
	{"nonce", JSON_STRING, JANUS_JSON_PARAM_REQUIRED}
};

static volatile gint initialized = 0, stopping = 0;
static janus_callbacks *gateway = NULL;
/* Every option as read at init (p2plink_config.h); fixed until destroy */
static p2plink_plugin_config plugin_config;
static p2plink_registry_config registry_config;

/* The registry exists while a transport is attached: it needs the transport's send/close to do anything.
 * Readers (sweeper, admin, link workers, session teardown) hold the read lock while they use it; only attach and
 * detach write. A reader that waits on a slow store therefore never holds up another reader. */
static p2plink_registry *registry = NULL;
static GRWLock registry_lock;
/* Cluster mode: this node's id, for event-handler events (set when the transport attaches; NULL: one node) */
static char *cluster_node = NULL;

/* Share links: the store (opened at init, re-tried lazily while unavailable), its rules, and the worker pool that
 * runs peer requests off the transport's event loop */
static p2plink_link_service link_defaults;
static p2plink_store *store = NULL;
static janus_mutex store_mutex = JANUS_MUTEX_INITIALIZER;
static gint64 store_last_attempt = 0;
static gboolean store_ever_tried = FALSE;
#define STORE_RETRY_INTERVAL (5 * G_USEC_PER_SEC)
/* Link workers: threads that take queued peer requests in batches (see link_worker) */
#define LINK_WORKERS_MAX 4
#define LINK_BATCH_MAX 64
static GAsyncQueue *link_queue = NULL;
static GThread *link_workers[LINK_WORKERS_MAX];
static guint link_worker_count = 0;
static p2plink_rate_table *redeem_limiter = NULL;
static p2plink_rate_table *create_owner_limiter = NULL, *create_ip_limiter = NULL;
/* Retention ([links] link_retention, click_retention): the link worker prunes one bounded batch at a time, every
 * prune_interval ([links], default 1 min), and again at once while the last batch deleted something (maybe_prune).
 * Batch size measured on a loaded 2-core box: ~35 us per row deleted (p50), so 200 links (with their clicks) and 200
 * click rows hold the store for ~15 ms, and redemptions queue behind a batch no longer than that. */
#define PRUNE_BATCH 200
static p2plink_prune_policy prune_policy;
static gint64 prune_last = 0;
static gint prune_running = 0, prune_more = 0;

/* Sweeper: EXPIRE for stale queues and alive_timeout, every SWEEP_INTERVAL */
#define SWEEP_INTERVAL (250 * G_TIME_SPAN_MILLISECOND)
static GThread *sweeper_thread = NULL;
static GMutex sweeper_mutex;
static GCond sweeper_cond;

/* One Janus handle per PeerJS connection */
typedef struct janus_p2plink_session {
	janus_plugin_session *handle;
	p2plink_peer *peer;		/* set by "bind"; guarded by sessions_mutex */
	volatile gint destroyed;
	janus_refcount ref;
} janus_p2plink_session;

static GHashTable *sessions = NULL;
static janus_mutex sessions_mutex = JANUS_MUTEX_INITIALIZER;

static void janus_p2plink_session_free(const janus_refcount *session_ref) {
	janus_p2plink_session *session = janus_refcount_containerof(session_ref, janus_p2plink_session, ref);
	/* The core gave the plugin one reference on the handle when it created the session */
	janus_refcount_decrease(&session->handle->ref);
	p2plink_peer_unref(session->peer);
	g_free(session);
}

static void janus_p2plink_session_destroy(janus_p2plink_session *session) {
	if(session && g_atomic_int_compare_and_exchange(&session->destroyed, 0, 1))
		janus_refcount_decrease(&session->ref);
}

/* Must be called with sessions_mutex held */
static janus_p2plink_session *janus_p2plink_lookup_session(janus_plugin_session *handle) {
	return g_hash_table_lookup(sessions, handle);
}

/* The registry for a reader, or NULL when no transport is attached; pair a non-NULL result with registry_release */
static p2plink_registry *registry_acquire(void) {
	g_rw_lock_reader_lock(&registry_lock);
	if(registry == NULL)
		g_rw_lock_reader_unlock(&registry_lock);
	return registry;
}

static void registry_release(void) {
	g_rw_lock_reader_unlock(&registry_lock);
}

/* The store, opening it if it is not open yet (at most every STORE_RETRY_INTERVAL): a store that was unreachable
 * at start-up comes into use when it becomes reachable, without a restart. */
static p2plink_store *store_get(void) {
	janus_mutex_lock(&store_mutex);
	gint64 now = janus_get_monotonic_time();
	if(store == NULL && (!store_ever_tried || now - store_last_attempt >= STORE_RETRY_INTERVAL)) {
		store_ever_tried = TRUE;
		store_last_attempt = now;
		GError *error = NULL;
		gboolean mongo = plugin_config.store == P2PLINK_STORE_MONGODB;
		if(mongo) {
			p2plink_store_mongo_options options = { plugin_config.mongodb_uri, plugin_config.mongodb_database,
				(guint)plugin_config.mongodb_timeout_ms,
				(guint32)MIN(plugin_config.link_retention_s, G_MAXINT32),
				(guint32)MIN(plugin_config.click_retention_s, G_MAXINT32) };
			store = p2plink_store_mongo_open(&options, &error);
		} else {
			/* Only this process uses the file: an exclusive lock saves two fcntl() per redemption */
			p2plink_store_sqlite_options options = { plugin_config.store_folder, 0, TRUE };
			store = p2plink_store_sqlite_open(&options, &error);
		}
		/* The URI may carry credentials: log only the store kind and database or folder */
		const char *where = mongo ? plugin_config.mongodb_database : plugin_config.store_folder;
		if(store == NULL) {
			JANUS_LOG(LOG_ERR, "[%s] Link store (%s, %s) unavailable: %s; signaling goes on, link operations "
				"fail until it is back\n", JANUS_P2PLINK_NAME,
				plugin_config.store_name, where, error ? error->message : "?");
			g_clear_error(&error);
		} else {
			JANUS_LOG(LOG_INFO, "[%s] Link store: %s, %s\n", JANUS_P2PLINK_NAME,
				plugin_config.store_name, where);
		}
	}
	p2plink_store *current = store;
	janus_mutex_unlock(&store_mutex);
	return current;
}

/* Store failures go to the Janus log at most once per STORE_FAILURE_LOG_INTERVAL, with a count of the ones in
 * between: an outage under load must not become one log line per visitor */
#define STORE_FAILURE_LOG_INTERVAL (10 * G_USEC_PER_SEC)
static void log_store_failure(const char *message) {
	static janus_mutex lock = JANUS_MUTEX_INITIALIZER;
	static gint64 last = 0;
	static guint quiet = 0;
	gint64 now = janus_get_monotonic_time();
	janus_mutex_lock(&lock);
	gboolean log = last == 0 || now - last >= STORE_FAILURE_LOG_INTERVAL;
	guint before = quiet;
	if(log) {
		last = now;
		quiet = 0;
	} else {
		quiet++;
	}
	janus_mutex_unlock(&lock);
	if(log)
		JANUS_LOG(LOG_ERR, "[%s] Link store failure: %s (%u more since the last report); signaling goes on, "
			"link requests get \"store-unavailable\"\n", JANUS_P2PLINK_NAME, message, before);
}

static void janus_p2plink_link_observe(p2plink_link_event event, const char *link_id, const char *target,
		const char *outcome, void *data) {
	(void)data;
	if(event == P2PLINK_LINK_EVENT_STORE_FAILED)
		log_store_failure(outcome);
	if(!plugin_config.events || gateway == NULL || !gateway->events_is_enabled())
		return;
	static const char *names[] = { "link-created", "link-redeemed", "link-denied", "link-revoked", "link-deleted",
		"link-store-failed" };
	json_t *info = json_pack("{s:s}", "event", names[event]);
	if(link_id != NULL)
		json_object_set_new(info, "link_id", json_string(link_id));
	if(target != NULL)
		json_object_set_new(info, "target", json_string(target));
	if(outcome != NULL)
		json_object_set_new(info, event == P2PLINK_LINK_EVENT_STORE_FAILED ? "error" : "outcome", json_string(outcome));
	gateway->notify_event(&janus_p2plink_plugin, NULL, info);
}

/* A link service for one request: the configured rules plus the current store and registry */
static p2plink_link_service link_service_for(p2plink_registry *reg) {
	p2plink_link_service svc = link_defaults;
	svc.store = store_get();
	svc.registry = reg;
	return svc;
}

/* Peer-side link requests, queued by the transport thread and run on link_workers */
typedef struct link_job {
	char *route, *body, *client_ip, *user_agent, *base_url;
	size_t len;
	p2plink_http_reply reply;
	void *ctx;
} link_job;

static void link_job_free(link_job *job) {
	g_free(job->route);
	g_free(job->body);
	g_free(job->client_ip);
	g_free(job->user_agent);
	g_free(job->base_url);
	g_free(job);
}

/* Answer a batch of peer requests in arrival order; runs of redemptions share one store commit */
static void run_link_jobs(link_job **jobs, guint n) {
	p2plink_peer_request *requests = g_new0(p2plink_peer_request, n);
	for(guint i = 0; i < n; i++) {
		requests[i].route = jobs[i]->route;
		requests[i].body = json_loadb(jobs[i]->body, jobs[i]->len, JSON_REJECT_DUPLICATES, NULL);
		requests[i].client_ip = jobs[i]->client_ip;
		requests[i].user_agent = jobs[i]->user_agent;
		requests[i].base_url = jobs[i]->base_url;
	}
	p2plink_registry *reg = registry_acquire();
	if(reg != NULL) {
		p2plink_link_service svc = link_service_for(reg);
		p2plink_link_service_peer_batch(&svc, requests, n, janus_get_real_time());
		registry_release();
	}
	for(guint i = 0; i < n; i++) {
		if(requests[i].answer == NULL) {
			requests[i].status = 503;
			requests[i].answer = json_pack("{s:{s:s,s:s}}", "error", "code", "unavailable", "msg", "Server is shutting down");
		}
		json_decref(requests[i].body);
		jobs[i]->reply(jobs[i]->ctx, requests[i].status, p2plink_json_text(requests[i].answer));
		link_job_free(jobs[i]);
	}
	g_free(requests);
}

/* One bounded prune batch when one is due: every prune_interval, or right away while the last batch deleted
 * something (a backlog drains one batch per worker turn, between request batches, never as one long delete).
 * One worker at a time; stores that prune by themselves (MongoDB TTL) have no prune op. */
static void maybe_prune(void) {
	gint64 now = janus_get_monotonic_time();
	if(!g_atomic_int_get(&prune_more) && prune_last != 0 && now - prune_last <
		plugin_config.prune_interval_s * G_USEC_PER_SEC)
		return;
	if(!g_atomic_int_compare_and_exchange(&prune_running, 0, 1))
		return;
	prune_last = now;
	p2plink_store *st = store_get();
	guint deleted = 0;
	GError *error = NULL;
	if(st != NULL && p2plink_store_can_prune(st) &&
			(prune_policy.link_retention > 0 || prune_policy.click_retention > 0)) {
		if(!p2plink_store_prune(st, janus_get_real_time(), &prune_policy, &deleted, &error)) {
			log_store_failure(error->message);
			g_clear_error(&error);
			deleted = 0;
		}
	}
	g_atomic_int_set(&prune_more, deleted > 0);
	g_atomic_int_set(&prune_running, 0);
}

/* Waits for a request, then takes whatever else is already queued (up to LINK_BATCH_MAX): under load one store
 * commit serves many redemptions (group commit), when idle a request is answered at once. A NULL-route job is
 * the stop signal; requests queued before it are still answered, each owes its transport a reply. Between
 * batches, maybe_prune(). */
static gpointer link_worker(gpointer data) {
	(void)data;
	gboolean stop = FALSE;
	while(!stop) {
		link_job *batch[LINK_BATCH_MAX];
		guint n = 0;
		maybe_prune();
		link_job *job = g_atomic_int_get(&prune_more) ? g_async_queue_try_pop(link_queue) :
			g_async_queue_timeout_pop(link_queue, plugin_config.prune_interval_s * G_USEC_PER_SEC);
		while(job != NULL) {
			if(job->route == NULL) {
				link_job_free(job);
				stop = TRUE;
				break;
			}
			batch[n++] = job;
			job = n < LINK_BATCH_MAX ? g_async_queue_try_pop(link_queue) : NULL;
		}
		if(n > 0)
			run_link_jobs(batch, n);
	}
	return NULL;
}

/* Events for Janus event handlers: connection lifecycle only, never payloads */
static void janus_p2plink_observe(p2plink_registry_event event, const char *id, const char *other, void *data) {
	(void)data;
	if(!plugin_config.events || gateway == NULL || !gateway->events_is_enabled())
		return;
	static const char *names[] = { "peer-open", "peer-close", "peer-timeout", "expire" };
	json_t *info = json_pack("{s:s,s:s}", "event", names[event], "id", id);
	if(cluster_node != NULL)
		json_object_set_new(info, "node", json_string(cluster_node));
	if(other != NULL)
		json_object_set_new(info, event == P2PLINK_EVENT_EXPIRE ? "unreachable" : "ip", json_string(other));
	gateway->notify_event(&janus_p2plink_plugin, NULL, info);
}

/* The hot path, called by the transport on its event-loop thread. The registry outlives every call because the
 * transport detaches (and stops calling) before the plugin is destroyed: Janus destroys transports first. */

static int janus_p2plink_attach_transport(const p2plink_transport_ops *ops) {
	/* One store for the whole cluster, or links that only work on the node they were made on: the operator
	 * must say which (a link made through node A and redeemed through node B would otherwise just fail) */
	if(ops->remote_route != NULL && plugin_config.store == P2PLINK_STORE_SQLITE && !plugin_config.per_node_links) {
		JANUS_LOG(LOG_FATAL, "[%s] Cluster mode needs a link store shared by every node: set links.store = "
			"\"mongodb\" (or links.per_node_links = true to keep a SQLite store per node, whose links work only "
			"through the node they were made on)\n", JANUS_P2PLINK_NAME);
		return -1;
	}
	g_rw_lock_writer_lock(&registry_lock);
	if(registry != NULL) {
		g_rw_lock_writer_unlock(&registry_lock);
		JANUS_LOG(LOG_ERR, "A transport is already attached to %s\n", JANUS_P2PLINK_NAME);
		return -1;
	}
	g_free(cluster_node);
	cluster_node = g_strdup(ops->node);
	registry = p2plink_registry_new(&registry_config, ops);
	p2plink_registry_set_observer(registry, janus_p2plink_observe, NULL);
	g_rw_lock_writer_unlock(&registry_lock);
	JANUS_LOG(LOG_INFO, "janus.transport.peerjs attached to %s\n", JANUS_P2PLINK_NAME);
	return 0;
}

static void janus_p2plink_detach_transport(void) {
	g_rw_lock_writer_lock(&registry_lock);
	p2plink_registry *old = registry;
	registry = NULL;
	g_rw_lock_writer_unlock(&registry_lock);
	p2plink_registry_free(old);
	g_clear_pointer(&cluster_node, g_free);
}

static p2plink_peer *janus_p2plink_peer_open(p2plink_conn *conn, const char *id, const char *token,
		const char *client_ip, char nonce_out[P2PLINK_BIND_NONCE_LEN + 1], p2plink_open_result *result) {
	/* Only the transport thread calls this and it detaches before destroy, so registry is stable here */
	return p2plink_registry_open(registry, conn, id, token, client_ip, janus_get_monotonic_time(), nonce_out, result);
}

static p2plink_peer *janus_p2plink_peer_open_link_only(p2plink_conn *conn, const char *id, const char *token,
		const char *client_ip, char nonce_out[P2PLINK_BIND_NONCE_LEN + 1], p2plink_open_result *result) {
	return p2plink_registry_open_as(registry, conn, id, token, client_ip, TRUE, janus_get_monotonic_time(), nonce_out,
		result);
}

static p2plink_frame_result janus_p2plink_peer_frame(p2plink_peer *peer, const char *data, size_t len,
		gint64 *pause_us) {
	return p2plink_registry_frame(registry, peer, data, len, janus_get_monotonic_time(), pause_us);
}

static void janus_p2plink_peer_close(p2plink_peer *peer) {
	p2plink_registry_close(registry, peer, janus_get_monotonic_time());
}

static char *janus_p2plink_discoverable_ids_json(void) {
	return p2plink_registry_discoverable_ids_json(registry);
}

static void janus_p2plink_peer_http(const char *route, const char *body, size_t len, const char *client_ip,
		const char *user_agent, const char *base_url, p2plink_http_reply reply, void *ctx) {
	link_job *job = g_new0(link_job, 1);
	job->route = g_strdup(route);
	job->body = g_strndup(body ? body : "", body ? len : 0);
	job->len = body ? len : 0;
	job->client_ip = g_strdup(client_ip);
	job->user_agent = g_strdup(user_agent);
	job->base_url = g_strdup(base_url);
	job->reply = reply;
	job->ctx = ctx;
	if(link_queue == NULL || link_worker_count == 0 || g_atomic_int_get(&stopping)) {
		link_job_free(job);
		reply(ctx, 503, g_strdup("{\"error\":{\"code\":\"unavailable\",\"msg\":\"Server is busy\"}}"));
		return;
	}
	g_async_queue_push(link_queue, job);
}

/* GET /metrics, on the transport's thread (attached, so registry is stable, like peer_open): the registry's counts
 * (its lock once per scrape) and the hot-path counters (lock-free) */
/* Cluster mode, on the transport's thread (attached, so registry is stable) */
static p2plink_open_result janus_p2plink_peer_precheck(const char *id, const char *token, char **owner_out,
		gboolean *held_here) {
	return p2plink_registry_precheck(registry, id, token, owner_out, held_here);
}

static void janus_p2plink_remote_deliver(const char *src_node, const char *dst, const char *body, size_t len) {
	if(p2plink_registry_remote_deliver(registry, dst, body, len, janus_get_monotonic_time()))
		return;
	/* Only a node of another build (or something else publishing on our channel) sends these: say so, rarely */
	static gint64 last = 0;
	gint64 now = janus_get_monotonic_time();
	if(now - last >= 10 * G_USEC_PER_SEC) {
		last = now;
		JANUS_LOG(LOG_WARN, "[%s] Dropped a malformed frame node %s routed to %s\n", JANUS_P2PLINK_NAME,
			src_node ? src_node : "?", dst ? dst : "?");
	}
}

static void janus_p2plink_remote_routed(const char *dst, const char *body, size_t len, p2plink_remote_result result,
		const char *node) {
	p2plink_registry_remote_routed(registry, dst, body, len, result, node, janus_get_monotonic_time());
}

static void janus_p2plink_remote_lost(const char *id, const char *owner) {
	p2plink_registry_remote_lost(registry, id, owner, janus_get_monotonic_time());
}

static void janus_p2plink_remote_node_down(const char *node) {
	p2plink_registry_remote_node_down(registry, node);
}

static void janus_p2plink_remote_retry(void) {
	p2plink_registry_remote_retry(registry, janus_get_monotonic_time());
}

static gboolean janus_p2plink_peer_held(const char *id, const char *owner) {
	return p2plink_registry_holds(registry, id, owner);
}

static void janus_p2plink_remote_peers(guint peers) {
	p2plink_registry_set_remote_peers(registry, peers);
}

static guint janus_p2plink_peer_count(void) {
	return p2plink_registry_peer_count(registry);
}

static json_t *janus_p2plink_metrics_snapshot(void) {
	json_t *snapshot = p2plink_counters_snapshot();
	json_t *stats = p2plink_registry_stats(registry);
	json_object_update(snapshot, stats);
	json_decref(stats);
	return snapshot;
}

static const p2plink_hotpath janus_p2plink_hotpath = {
	.version = P2PLINK_HOTPATH_VERSION,
	.attach_transport = janus_p2plink_attach_transport,
	.detach_transport = janus_p2plink_detach_transport,
	.peer_open = janus_p2plink_peer_open,
	.peer_open_link_only = janus_p2plink_peer_open_link_only,
	.peer_frame = janus_p2plink_peer_frame,
	.peer_close = janus_p2plink_peer_close,
	.discoverable_ids_json = janus_p2plink_discoverable_ids_json,
	.peer_http = janus_p2plink_peer_http,
	.metrics_snapshot = janus_p2plink_metrics_snapshot,
	.peer_precheck = janus_p2plink_peer_precheck,
	.remote_deliver = janus_p2plink_remote_deliver,
	.remote_routed = janus_p2plink_remote_routed,
	.remote_lost = janus_p2plink_remote_lost,
	.remote_node_down = janus_p2plink_remote_node_down,
	.remote_retry = janus_p2plink_remote_retry,
	.peer_count = janus_p2plink_peer_count,
	.peer_held = janus_p2plink_peer_held,
	.remote_peers = janus_p2plink_remote_peers,
};

/* Resolved by the transport with dlsym(RTLD_DEFAULT, P2PLINK_HOTPATH_SYMBOL) */
__attribute__((visibility("default"))) const p2plink_hotpath *janus_p2plink_hotpath_get(void);
const p2plink_hotpath *janus_p2plink_hotpath_get(void) {
	return &janus_p2plink_hotpath;
}

static gpointer janus_p2plink_sweeper(gpointer data) {
	(void)data;
	g_mutex_lock(&sweeper_mutex);
	while(!g_atomic_int_get(&stopping)) {
		gint64 deadline = g_get_monotonic_time() + SWEEP_INTERVAL;
		g_cond_wait_until(&sweeper_cond, &sweeper_mutex, deadline);
		if(g_atomic_int_get(&stopping))
			break;
		p2plink_registry *reg = registry_acquire();
		if(reg != NULL) {
			p2plink_registry_sweep(reg, janus_get_monotonic_time());
			registry_release();
		}
	}
	g_mutex_unlock(&sweeper_mutex);
	return NULL;
}

/* A token bucket of n per minute (burst n) per key; NULL (no limit) for 0 */
static p2plink_rate_table *per_minute_limiter(gint64 n) {
	if(n <= 0)
		return NULL;
	p2plink_rate rate = { n / 60.0, (double)n };
	return p2plink_rate_table_new(&rate, 65536);
}

/* [links] settings into the link service and its rate tables */
static void apply_link_config(void) {
	memset(&link_defaults, 0, sizeof(link_defaults));
	p2plink_plugin_config_links(&plugin_config, &link_defaults.config);
	prune_policy.link_retention = plugin_config.link_retention_s * G_USEC_PER_SEC;
	prune_policy.click_retention = plugin_config.click_retention_s * G_USEC_PER_SEC;
	prune_policy.batch = PRUNE_BATCH;
	/* Token guessing: a 256-bit token cannot be guessed, but each attempt costs a store write (the click log) */
	redeem_limiter = per_minute_limiter(plugin_config.redeem_attempts_per_minute);
	link_defaults.redeem_limiter = redeem_limiter;
	/* Creation: per owner and per client IP (new tokens cost nothing, addresses do); see SECURITY.md */
	create_owner_limiter = per_minute_limiter(plugin_config.create_per_minute_per_peer);
	create_ip_limiter = per_minute_limiter(plugin_config.create_per_minute_per_ip);
	link_defaults.create_owner_limiter = create_owner_limiter;
	link_defaults.create_ip_limiter = create_ip_limiter;
	link_defaults.observer = janus_p2plink_link_observe;
}

/* Every option through the table (p2plink_config.c): all bad ones are logged, then the plugin refuses to start */
static gboolean load_config(const char *config_path) {
	char filename[255];
	g_snprintf(filename, sizeof(filename), "%s/%s.jcfg", config_path, JANUS_P2PLINK_PACKAGE);
	janus_config *config = janus_config_parse(filename);
	if(config == NULL)
		JANUS_LOG(LOG_WARN, "No %s, using defaults\n", filename);
	else
		janus_config_print(config);
	GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);
	guint bad = p2plink_plugin_config_load(&plugin_config, p2plink_jcfg_lookup, config, errors);
	if(p2plink_jcfg_lookup(config, "general", "flood_close_after") != NULL)
		JANUS_LOG(LOG_WARN, "[%s] general.flood_close_after is obsolete and ignored: frames over frame_rate are "
			"paced now, never refused; see flood_after\n", JANUS_P2PLINK_NAME);
	if(config != NULL)
		janus_config_destroy(config);
	for(guint i = 0; i < errors->len; i++)
		JANUS_LOG(LOG_ERR, "[%s] Invalid option %s\n", JANUS_P2PLINK_NAME, (char *)g_ptr_array_index(errors, i));
	g_ptr_array_free(errors, TRUE);
	if(bad > 0) {
		JANUS_LOG(LOG_FATAL, "[%s] %u bad option%s in %s: not starting\n", JANUS_P2PLINK_NAME, bad,
			bad == 1 ? "" : "s", filename);
		p2plink_plugin_config_clear(&plugin_config);
		return FALSE;
	}
	p2plink_registry_config_defaults(&registry_config);
	p2plink_plugin_config_registry(&plugin_config, &registry_config);
	apply_link_config();
	return TRUE;
}

static int janus_p2plink_init(janus_callbacks *callback, const char *config_path) {
	if(g_atomic_int_get(&stopping))
		return -1;
	if(callback == NULL || config_path == NULL)
		return -1;
	if(!load_config(config_path))
		return -1;
	gateway = callback;
	sessions = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)janus_p2plink_session_destroy);
	g_mutex_init(&sweeper_mutex);
	g_cond_init(&sweeper_cond);
	GError *error = NULL;
	sweeper_thread = g_thread_try_new("p2plink sweeper", janus_p2plink_sweeper, NULL, &error);
	if(error != NULL) {
		JANUS_LOG(LOG_ERR, "Could not start the p2plink sweeper thread: %s\n", error->message);
		g_error_free(error);
		g_hash_table_destroy(sessions);
		return -1;
	}
	g_atomic_int_set(&initialized, 1);
	store_get();
	/* SQLite serialises writers on one connection anyway: more than one worker only adds lock hand-offs (measured:
	 * context switches were a quarter of the CPU per redemption with four). MongoDB calls wait on the network, so
	 * there a few in flight at once pay off. */
	link_queue = g_async_queue_new();
	guint workers = plugin_config.store != P2PLINK_STORE_MONGODB ? 1 : LINK_WORKERS_MAX;
	for(guint i = 0; i < workers; i++) {
		link_workers[link_worker_count] = g_thread_try_new("p2plink links", link_worker, NULL, &error);
		if(link_workers[link_worker_count] == NULL) {
			JANUS_LOG(LOG_ERR, "Could not start a p2plink link worker: %s\n", error->message);
			g_clear_error(&error);
			break;
		}
		link_worker_count++;
	}
	JANUS_LOG(LOG_INFO, "%s initialized (expire_timeout=%"G_GINT64_FORMAT"ms, alive_timeout=%"G_GINT64_FORMAT
		"ms, concurrent_limit=%u)\n", JANUS_P2PLINK_NAME, registry_config.expire_timeout / 1000,
		registry_config.alive_timeout / 1000, registry_config.concurrent_limit);
	return 0;
}

static void janus_p2plink_destroy(void) {
	if(!g_atomic_int_get(&initialized))
		return;
	g_atomic_int_set(&stopping, 1);
	g_mutex_lock(&sweeper_mutex);
	g_cond_signal(&sweeper_cond);
	g_mutex_unlock(&sweeper_mutex);
	if(sweeper_thread != NULL) {
		g_thread_join(sweeper_thread);
		sweeper_thread = NULL;
	}
	/* One stop signal per worker, behind what is queued: queued link requests are still answered */
	for(guint i = 0; i < link_worker_count; i++)
		g_async_queue_push(link_queue, g_new0(link_job, 1));
	for(guint i = 0; i < link_worker_count; i++)
		g_thread_join(link_workers[i]);
	link_worker_count = 0;
	g_clear_pointer(&link_queue, g_async_queue_unref);
	janus_mutex_lock(&sessions_mutex);
	g_hash_table_destroy(sessions);
	sessions = NULL;
	janus_mutex_unlock(&sessions_mutex);
	/* Normally the transport detached already; this covers a transport that failed half-way */
	janus_p2plink_detach_transport();
	janus_mutex_lock(&store_mutex);
	p2plink_store_close(store);
	store = NULL;
	store_ever_tried = FALSE;
	janus_mutex_unlock(&store_mutex);
	/* libmongoc's process-wide state, once every MongoDB store is closed */
	p2plink_store_mongo_shutdown();
	g_clear_pointer(&redeem_limiter, p2plink_rate_table_free);
	g_clear_pointer(&create_owner_limiter, p2plink_rate_table_free);
	g_clear_pointer(&create_ip_limiter, p2plink_rate_table_free);
	prune_last = 0;
	p2plink_plugin_config_clear(&plugin_config);
	g_atomic_int_set(&initialized, 0);
	JANUS_LOG(LOG_INFO, "%s destroyed!\n", JANUS_P2PLINK_NAME);
}

static int janus_p2plink_get_api_compatibility(void) {
	return JANUS_PLUGIN_API_VERSION;
}

static int janus_p2plink_get_version(void) {
	return JANUS_P2PLINK_VERSION;
}

static const char *janus_p2plink_get_version_string(void) {
	return JANUS_P2PLINK_VERSION_STRING;
}

static const char *janus_p2plink_get_description(void) {
	return JANUS_P2PLINK_DESCRIPTION;
}

static const char *janus_p2plink_get_name(void) {
	return JANUS_P2PLINK_NAME;
}

static const char *janus_p2plink_get_author(void) {
	return JANUS_P2PLINK_AUTHOR;
}

static const char *janus_p2plink_get_package(void) {
	return JANUS_P2PLINK_PACKAGE;
}

static void janus_p2plink_create_session(janus_plugin_session *handle, int *error) {
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized)) {
		*error = -1;
		return;
	}
	janus_p2plink_session *session = g_new0(janus_p2plink_session, 1);
	session->handle = handle;
	janus_refcount_init(&session->ref, janus_p2plink_session_free);
	handle->plugin_handle = session;
	janus_mutex_lock(&sessions_mutex);
	g_hash_table_insert(sessions, handle, session);
	janus_mutex_unlock(&sessions_mutex);
}

static void janus_p2plink_destroy_session(janus_plugin_session *handle, int *error) {
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized)) {
		*error = -1;
		return;
	}
	janus_mutex_lock(&sessions_mutex);
	janus_p2plink_session *session = janus_p2plink_lookup_session(handle);
	if(session == NULL) {
		janus_mutex_unlock(&sessions_mutex);
		*error = -2;
		return;
	}
	p2plink_peer *peer = session->peer ? p2plink_peer_ref(session->peer) : NULL;
	g_hash_table_remove(sessions, handle);
	janus_mutex_unlock(&sessions_mutex);
	if(peer != NULL) {
		/* The Janus session went away (timeout, admin destroy, transport gone): the PeerJS socket goes too */
		p2plink_registry *reg = registry_acquire();
		if(reg != NULL) {
			p2plink_registry_kick_peer(reg, peer, "Janus session destroyed", janus_get_monotonic_time());
			registry_release();
		}
		p2plink_peer_unref(peer);
	}
}

static json_t *janus_p2plink_query_session(janus_plugin_session *handle) {
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized))
		return NULL;
	janus_mutex_lock(&sessions_mutex);
	janus_p2plink_session *session = janus_p2plink_lookup_session(handle);
	p2plink_peer *peer = (session && session->peer) ? p2plink_peer_ref(session->peer) : NULL;
	janus_mutex_unlock(&sessions_mutex);
	if(session == NULL)
		return NULL;
	json_t *info = NULL;
	p2plink_registry *reg = peer ? registry_acquire() : NULL;
	if(reg != NULL) {
		info = p2plink_registry_peer_info(reg, peer);
		registry_release();
	}
	p2plink_peer_unref(peer);
	return info ? info : json_pack("{s:b}", "bound", FALSE);
}

static json_t *error_response(int code, const char *cause) {
	return json_pack("{s:s,s:i,s:s}", "p2plink", "event", "error_code", code, "error", cause);
}

/* "bind": link the PeerJS peer that was given this nonce to this Janus handle */
static json_t *handle_bind(janus_plugin_session *handle, json_t *root) {
	int error_code = 0;
	char error_cause[512];
	JANUS_VALIDATE_JSON_OBJECT(root, bind_parameters, error_code, error_cause, TRUE,
		JANUS_P2PLINK_ERROR_MISSING_ELEMENT, JANUS_P2PLINK_ERROR_INVALID_ELEMENT);
	if(error_code != 0)
		return error_response(error_code, error_cause);
	p2plink_registry *reg = registry_acquire();
	p2plink_peer *peer = NULL;
	if(reg != NULL) {
		peer = p2plink_registry_bind(reg, json_string_value(json_object_get(root, "nonce")));
		registry_release();
	}
	if(peer == NULL)
		return error_response(JANUS_P2PLINK_ERROR_UNKNOWN_NONCE, "Unknown or already used bind nonce");
	janus_mutex_lock(&sessions_mutex);
	janus_p2plink_session *session = janus_p2plink_lookup_session(handle);
	if(session == NULL || session->peer != NULL || g_atomic_int_get(&session->destroyed)) {
		janus_mutex_unlock(&sessions_mutex);
		p2plink_peer_unref(peer);
		return error_response(JANUS_P2PLINK_ERROR_INVALID_REQUEST, "This handle is gone or already bound");
	}
	/* The answer is built before unlocking: from then on the session owns the peer, and a concurrent
	 * destroy_session (the socket closed meanwhile) may free both */
	json_t *answer = json_pack("{s:s,s:s}", "p2plink", "bound", "id", p2plink_peer_id(peer));
	session->peer = peer;
	janus_mutex_unlock(&sessions_mutex);
	return answer;
}

static struct janus_plugin_result *janus_p2plink_handle_message(janus_plugin_session *handle, char *transaction,
		json_t *message, json_t *jsep) {
	json_t *response = NULL;
	int error_code = 0;
	char error_cause[512];
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized)) {
		response = error_response(JANUS_P2PLINK_ERROR_INVALID_REQUEST, "Shutting down");
		goto done;
	}
	if(jsep != NULL) {
		/* The core already started ICE for this SDP before we saw it: tear that PeerConnection down */
		JANUS_LOG(LOG_WARN, "[%s] Refusing a JSEP: this server never relays media\n", JANUS_P2PLINK_NAME);
		gateway->close_pc(handle);
		response = error_response(JANUS_P2PLINK_ERROR_NO_MEDIA,
			"p2plink never relays media: media and files flow directly between browsers, JSEP is not accepted");
		goto done;
	}
	if(message == NULL || !json_is_object(message)) {
		response = error_response(JANUS_P2PLINK_ERROR_INVALID_REQUEST, "The message body must be a JSON object");
		goto done;
	}
	JANUS_VALIDATE_JSON_OBJECT(message, request_parameters, error_code, error_cause, TRUE,
		JANUS_P2PLINK_ERROR_MISSING_ELEMENT, JANUS_P2PLINK_ERROR_INVALID_ELEMENT);
	if(error_code != 0) {
		response = error_response(error_code, error_cause);
		goto done;
	}
	const char *request = json_string_value(json_object_get(message, "request"));
	if(!strcasecmp(request, "bind")) {
		response = handle_bind(handle, message);
	} else {
		response = error_response(JANUS_P2PLINK_ERROR_INVALID_REQUEST,
			"Unknown request: p2plink peers speak the PeerJS protocol through janus.transport.peerjs");
	}
done:
	g_free(transaction);
	if(message != NULL)
		json_decref(message);
	if(jsep != NULL)
		json_decref(jsep);
	return janus_plugin_result_new(JANUS_PLUGIN_OK, NULL, response);
}

/* Admin requests: link requests (link_service.c's table) first, since only they open the store; everything else,
 * an unknown name included ("unknown-request"), goes to admin.c's table. Errors in p2plink_errors.h's shape. */
static json_t *janus_p2plink_handle_admin_message(json_t *message) {
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized))
		return p2plink_error_admin(P2PLINK_E_SHUTTING_DOWN, NULL);
	p2plink_registry *reg = registry_acquire();
	json_t *response = NULL;
	const char *request = json_is_object(message) ? json_string_value(json_object_get(message, "request")) : NULL;
	/* Only link requests need the store: store_get() may wait on a store reconnect (store_mutex is held while it
	 * opens), and stats/list_peers/kick_peer must answer while the store is away */
	if(p2plink_link_service_is_admin_request(request)) {
		p2plink_link_service svc = link_service_for(reg);
		response = p2plink_link_service_admin(&svc, request, message, janus_get_real_time());
	}
	if(response == NULL)
		response = p2plink_admin_handle(reg, message);
	if(reg != NULL)
		registry_release();
	return response;
}

static void janus_p2plink_setup_media(janus_plugin_session *handle) {
	/* Only reachable if a PeerConnection got through before we refused its JSEP: close it again */
	JANUS_LOG(LOG_WARN, "[%s] Unexpected PeerConnection, closing it: this server never relays media\n",
		JANUS_P2PLINK_NAME);
	gateway->close_pc(handle);
}

static void janus_p2plink_hangup_media(janus_plugin_session *handle) {
	(void)handle;
}
