/*! \file   peerjs_cluster.c
 * \brief  Cluster mode's Janus glue (see peerjs_cluster.h; the design is docs/cluster.md)
 * \details Threads: the Redis client (cluster/cluster.c) and every callback here run on the transport's service
 * thread, the one that runs the libuv loop. The registry calls remote_route on that thread (a peer's frame) and
 * on the plugin's sweeper and admin threads (EXPIRE, LEAVE, kick notices); those calls, every release (the
 * registry makes them with its lock held, and a release first asks the registry whether the owner came back)
 * and every owner lookup are posted: a mutex-guarded queue and a uv_async wake, worked through on the loop in
 * the order they were posted.
 */

#include <string.h>

#include <openssl/crypto.h>
#include <uv.h>

#include <debug.h>

#include "../cluster/cluster.h"
#include "metrics.h"
#include "peerjs_cluster.h"
#include "peerjs_loop.h"
#include "peerjs_transport.h"
#include "peerjs_ws.h"

/* Offline queues for ids held nowhere are routed again this often (the delay a frame sent just before its
 * destination connected on another node can wait), and the peer count Redis shows is refreshed every 4th time */
#define RETRY_INTERVAL_MS 250
#define PEER_COUNT_EVERY 4

typedef enum work_kind {
	WORK_ROUTE,
	WORK_RELEASE,
	WORK_LOOKUP,
	WORK_MARK,
	WORK_LIST,
} work_kind;



/* A lookup's answer, shared by the asking thread and the loop (two references: either may finish first) */
typedef struct lookup_wait {
	gatomicrefcount ref;
	GMutex mutex;
	GCond cond;
	gboolean done;
	char *owner;		/* lookup */
	json_t *leases;		/* list */
} lookup_wait;

typedef struct posted_work {
	work_kind kind;
	char *id;		/* route: dst */
	char *body;		/* route */
	size_t len;
	char *owner;	/* release */
	lookup_wait *wait;	/* lookup */
	gboolean link_only;	/* mark */
} posted_work;

typedef struct route_ctx {
	char *dst;
	char *body;
	size_t len;
} route_ctx;

typedef struct lease_ctx {
	p2plink_conn *conn;		/* a reference */
	char *id, *token, *owner;
} lease_ctx;

static struct {
	gboolean enabled;
	p2plink_cluster_config cfg;
	p2plink_cluster *client;	/* loop thread (and the destroying thread once the loop stopped) */
	uv_loop_t *loop;
	uv_timer_t retry;
	uv_async_t async;
	gboolean handles;		/* retry and async are initialised */
	gboolean stopping;		/* p2plink_cluster_free is completing the calls still out: open nothing more */
	gboolean attached;		/* the plugin took our ops: its registry exists for the client's callbacks */
	guint ticks;
	volatile gint up;		/* Redis reachable, for the admin thread's stats */
	char *node;				/* this node's id, for the whole life of the transport */
	GMutex mutex;			/* static storage, zeroed: valid without g_mutex_init */
	GQueue posted;			/* posted_work, under mutex */
	gboolean accepting;		/* under mutex: FALSE before start and once stopping */
} cl;

/* ---- Configuration ---- */

guint peerjs_cluster_load(const peerjs_config *c, gboolean libuv, GPtrArray *errors) {
	p2plink_cluster_config_clear(&cl.cfg);
	p2plink_cluster_config_defaults(&cl.cfg);
	cl.enabled = c->cluster_enabled;
	guint bad = 0;
	for(guint i = 0; i < peerjs_config_option_count; i++) {
		const p2plink_config_option *row = &peerjs_config_options[i];
		if(strcmp(row->category, "cluster") != 0 || row->type != P2PLINK_CONFIG_STRING)
			continue;
		const char *value = *(char * const *)((const char *)c + row->offset);
		char *error = NULL;
		if(value != NULL && !p2plink_cluster_config_set(&cl.cfg, row->name, value, &error))
			bad += p2plink_config_report(errors, error);
	}
	if(!cl.enabled)
		return bad;
	char *error = NULL;
	if(bad == 0 && !p2plink_cluster_config_validate(&cl.cfg, &error))
		bad += p2plink_config_report(errors, error);
	if(!libuv)
		bad += p2plink_config_report(errors, g_strdup("cluster mode needs general.event_loop = \"libuv\" (its Redis "
			"client runs on the transport's libuv loop)"));
	return bad;
}

gboolean peerjs_cluster_enabled(void) {
	return cl.enabled;
}

void peerjs_cluster_clear_config(void) {
	p2plink_cluster_config_clear(&cl.cfg);
	g_clear_pointer(&cl.node, g_free);
	cl.enabled = FALSE;
	cl.attached = FALSE;
}

void peerjs_cluster_attached(gboolean attached) {
	cl.attached = attached;
}

/* The plugin's hot path while its registry exists, else NULL. The client is made before the plugin takes our ops
 * (they carry its node id) and may run after it refused them: stopping pumps the loop with no registry there. */
static const p2plink_hotpath *plugin(void) {
	return cl.attached ? peerjs.hotpath : NULL;
}

/* ---- Posting work to the loop ---- */

static void lookup_wait_unref(lookup_wait *w) {
	if(!g_atomic_ref_count_dec(&w->ref))
		return;
	g_free(w->owner);
	if(w->leases != NULL)
		json_decref(w->leases);
	g_mutex_clear(&w->mutex);
	g_cond_clear(&w->cond);
	g_free(w);
}

static void lookup_finish(lookup_wait *w, const char *owner, json_t *leases) {
	g_mutex_lock(&w->mutex);
	w->owner = g_strdup(owner);
	w->leases = leases != NULL ? json_incref(leases) : NULL;
	w->done = TRUE;
	g_cond_signal(&w->cond);
	g_mutex_unlock(&w->mutex);
	lookup_wait_unref(w);
}

static void work_free(posted_work *w) {
	if(w->wait != NULL)
		lookup_finish(w->wait, NULL, NULL);	/* never run: the asker gets "nobody" */
	g_free(w->id);
	g_free(w->body);
	g_free(w->owner);
	g_free(w);
}

static void post(posted_work *w) {
	g_mutex_lock(&cl.mutex);
	if(!cl.accepting) {
		g_mutex_unlock(&cl.mutex);
		work_free(w);
		return;
	}
	g_queue_push_tail(&cl.posted, w);
	/* uv_async_send is the one libuv call that is safe from any thread; made under the mutex so that stop
	 * (which closes the handle) cannot run between the check above and the send */
	uv_async_send(&cl.async);
	g_mutex_unlock(&cl.mutex);
}

/* ---- Routing ---- */

static p2plink_remote_result remote_result(p2plink_cluster_result result) {
	switch(result) {
		case P2PLINK_CLUSTER_OK:
			return P2PLINK_REMOTE_DELIVERED;
		case P2PLINK_CLUSTER_NOT_HELD:
		case P2PLINK_CLUSTER_SELF:	/* held here, so the peer connected or left since the registry looked */
			return P2PLINK_REMOTE_NOT_HELD;
		default:
			return P2PLINK_REMOTE_UNREACHABLE;
	}
}

static void on_routed(p2plink_cluster *client, p2plink_cluster_result result, const char *node, void *data) {
	route_ctx *ctx = data;
	const p2plink_hotpath *hp = plugin();
	if(hp != NULL)
		hp->remote_routed(ctx->dst, ctx->body, ctx->len, remote_result(result), node);
	g_free(ctx->dst);
	g_free(ctx->body);
	g_free(ctx);
}

/* Takes body */
static void route_now(const char *dst, char *body, size_t len) {
	route_ctx *ctx = g_new0(route_ctx, 1);
	ctx->dst = g_strdup(dst);
	ctx->body = body;
	ctx->len = len;
	p2plink_cluster_route(cl.client, dst, body, len, on_routed, ctx);
}

static void remote_route(const char *dst, char *body, size_t len) {
	if(peerjs_on_service_thread && cl.client != NULL) {
		route_now(dst, body, len);
		return;
	}
	posted_work *w = g_new0(posted_work, 1);
	w->kind = WORK_ROUTE;
	w->id = g_strdup(dst);
	w->body = body;
	w->len = len;
	post(w);
}

/* ---- Leases ---- */

static void release_if_not_back(const char *id, const char *owner) {
	const p2plink_hotpath *hp = plugin();
	if(hp != NULL && hp->peer_held(id, owner))
		return;
	p2plink_cluster_lease_release(cl.client, id, owner, NULL, NULL);
}

static void remote_release(const char *id, const char *owner) {
	posted_work *w = g_new0(posted_work, 1);
	w->kind = WORK_RELEASE;
	w->id = g_strdup(id);
	w->owner = g_strdup(owner);
	post(w);
}

static void remote_mark(const char *id, const char *owner, gboolean link_only) {
	posted_work *w = g_new0(posted_work, 1);
	w->kind = WORK_MARK;
	w->id = g_strdup(id);
	w->owner = g_strdup(owner);
	w->link_only = link_only;
	post(w);
}

static void on_lookup(p2plink_cluster *client, p2plink_cluster_result result, const char *owner, const char *node,
		void *data) {
	lookup_finish(data, result == P2PLINK_CLUSTER_OK ? owner : NULL, NULL);
}

static void on_listed(p2plink_cluster *client, p2plink_cluster_result result, json_t *leases, void *data) {
	lookup_finish(data, NULL, leases);
}

/* Posts a lookup or a list and waits for its answer. Bounded: a call completes within call_timeout_ms plus two
 * ticks (cluster.h), a list within that per page; a stopping loop drops it (the answer is then "nothing") */
static lookup_wait *ask_and_wait(work_kind kind, const char *id, guint timeout_ms) {
	lookup_wait *wait = g_new0(lookup_wait, 1);
	g_atomic_ref_count_init(&wait->ref);
	g_atomic_ref_count_inc(&wait->ref);	/* the loop's */
	g_mutex_init(&wait->mutex);
	g_cond_init(&wait->cond);
	posted_work *w = g_new0(posted_work, 1);
	w->kind = kind;
	w->id = g_strdup(id);
	w->wait = wait;
	post(w);
	gint64 until = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	g_mutex_lock(&wait->mutex);
	while(!wait->done && g_cond_wait_until(&wait->cond, &wait->mutex, until))
		;
	g_mutex_unlock(&wait->mutex);
	return wait;
}

static char *remote_owner_of(const char *id) {
	if(peerjs_on_service_thread)
		return NULL;	/* would wait for itself */
	lookup_wait *wait = ask_and_wait(WORK_LOOKUP, id, cl.cfg.call_timeout_ms + 500);
	g_mutex_lock(&wait->mutex);
	char *owner = g_steal_pointer(&wait->owner);
	g_mutex_unlock(&wait->mutex);
	lookup_wait_unref(wait);
	return owner;
}

static json_t *remote_list(void) {
	if(peerjs_on_service_thread)
		return NULL;
	lookup_wait *wait = ask_and_wait(WORK_LIST, NULL, 4 * cl.cfg.call_timeout_ms + 500);
	g_mutex_lock(&wait->mutex);
	json_t *leases = g_steal_pointer(&wait->leases);
	g_mutex_unlock(&wait->mutex);
	lookup_wait_unref(wait);
	return leases;
}

/* Admin threads: cl.mutex keeps the client from being freed under them (stop clears accepting first) */
static json_t *remote_stats(void) {
	g_mutex_lock(&cl.mutex);
	json_t *nodes = cl.accepting ? p2plink_cluster_nodes_json(cl.client) : NULL;
	g_mutex_unlock(&cl.mutex);
	return json_pack("{s:s,s:b,s:o}", "node", cl.node, "up", g_atomic_int_get(&cl.up),
		"nodes", nodes != NULL ? nodes : json_array());
}

void peerjs_cluster_fill_ops(p2plink_transport_ops *ops) {
	if(!cl.enabled)
		return;
	ops->remote_route = remote_route;
	ops->remote_release = remote_release;
	ops->remote_owner_of = remote_owner_of;
	ops->remote_stats = remote_stats;
	ops->remote_mark = remote_mark;
	ops->remote_list = remote_list;
	ops->node = cl.node;
}

static void run_posted(uv_async_t *handle) {
	g_mutex_lock(&cl.mutex);
	GQueue work = cl.posted;
	g_queue_init(&cl.posted);
	g_mutex_unlock(&cl.mutex);
	posted_work *w;
	while((w = g_queue_pop_head(&work)) != NULL) {
		if(cl.client != NULL) {
			if(w->kind == WORK_ROUTE) {
				route_now(w->id, g_steal_pointer(&w->body), w->len);
			} else if(w->kind == WORK_RELEASE) {
				release_if_not_back(w->id, w->owner);
			} else if(w->kind == WORK_MARK) {
				p2plink_cluster_lease_mark(cl.client, w->id, w->owner, w->link_only);
			} else if(w->kind == WORK_LIST) {
				p2plink_cluster_list(cl.client, on_listed, g_steal_pointer(&w->wait));
			} else {
				p2plink_cluster_lease_lookup(cl.client, w->id, on_lookup, g_steal_pointer(&w->wait));
			}
		}
		work_free(w);
	}
}

/* ---- Discovery: GET {path}{key}/peers for the whole cluster ---- */

typedef struct discover_ctx {
	p2plink_http_reply reply;
	void *reply_ctx;
} discover_ctx;

static void on_discovered(p2plink_cluster *client, p2plink_cluster_result result, json_t *leases, void *data) {
	discover_ctx *ctx = data;
	/* This node's own discoverable peers are the registry's (always current); the others' from their leases,
	 * link-only ones left out as on one node */
	char *local = peerjs.hotpath->discoverable_ids_json();
	json_t *ids = json_loads(local, 0, NULL);
	g_free(local);
	if(ids == NULL)
		ids = json_array();
	size_t i;
	json_t *lease;
	json_array_foreach(leases, i, lease) {
		const char *node = json_string_value(json_object_get(lease, "node"));
		if(node != NULL && strcmp(node, cl.node) != 0 && !json_is_true(json_object_get(lease, "link_only")))
			json_array_append(ids, json_object_get(lease, "id"));
	}
	char *text = json_dumps(ids, JSON_COMPACT);
	json_decref(ids);
	ctx->reply(ctx->reply_ctx, 200, g_strdup(text));
	free(text);
	g_free(ctx);
}

void peerjs_cluster_discover(p2plink_http_reply reply, void *reply_ctx) {
	discover_ctx *ctx = g_new0(discover_ctx, 1);
	ctx->reply = reply;
	ctx->reply_ctx = reply_ctx;
	/* Redis unreachable: the lease list is empty and only this node's peers are listed (never an error) */
	p2plink_cluster_list(cl.client, on_discovered, ctx);
}

/* ---- The handshake: lease, then OPEN ---- */

static void lease_ctx_free(lease_ctx *ctx) {
	if(ctx->token != NULL)
		OPENSSL_cleanse(ctx->token, strlen(ctx->token));
	g_free(ctx->token);
	g_free(ctx->id);
	g_free(ctx->owner);
	peerjs_conn_unref(ctx->conn);
	g_free(ctx);
}

static void on_acquired(p2plink_cluster *client, p2plink_cluster_result result, const char *id, const char *node,
		void *data) {
	lease_ctx *ctx = data;
	p2plink_conn *conn = ctx->conn;
	conn->leasing = FALSE;
	gboolean ours = result == P2PLINK_CLUSTER_OK || result == P2PLINK_CLUSTER_MOVED;
	if(result == P2PLINK_CLUSTER_TAKEN) {
		/* Another token holds it on another node: the very frame a single node sends */
		if(!peerjs_conn_closing(conn))
			peerjs_ws_refuse_id_taken(conn);
	} else if(peerjs_conn_closing(conn) || cl.client == NULL || cl.stopping) {
		/* The socket went while the lease was out (or the transport is stopping: the socket goes next) */
		if(ours && cl.client != NULL && !cl.stopping)
			release_if_not_back(ctx->id, ctx->owner);
	} else if(peerjs_ws_open_peer(conn, ctx->id, ctx->token,
			result == P2PLINK_CLUSTER_MOVED && p2plink_cluster_lease_link_only(cl.client, ctx->id))) {
		/* Redis unreachable (or misconfigured): accepted here, asserted by the lease rule once it is back */
		if(!ours)
			p2plink_cluster_lease_assume(cl.client, ctx->id, ctx->owner);
	} else if(ours) {
		/* Refused after all (concurrent_limit reached meanwhile, say): the lease is not needed */
		release_if_not_back(ctx->id, ctx->owner);
	}
	lease_ctx_free(ctx);
}

void peerjs_cluster_open(p2plink_conn *conn, const char *id, const char *token) {
	char *owner = NULL;
	gboolean held_here = FALSE;
	p2plink_open_result precheck = peerjs.hotpath->peer_precheck(id, token, &owner, &held_here);
	if(precheck != P2PLINK_OPEN_OK || held_here || cl.client == NULL) {
		/* Refused the way peer_open refuses, or this node holds the lease already (same token, back within its
		 * grace period, or a second socket) */
		g_free(owner);
		peerjs_ws_open_peer(conn, id, token, FALSE);
		return;
	}
	lease_ctx *ctx = g_new0(lease_ctx, 1);
	peerjs_conn_ref(conn);
	ctx->conn = conn;
	ctx->id = g_strdup(id);
	ctx->token = g_strdup(token);
	ctx->owner = owner;
	/* What the client sends before OPEN waits in conn->held, as while paced, and runs after OPEN */
	conn->leasing = TRUE;
	conn->paced = TRUE;
	p2plink_cluster_lease_acquire(cl.client, id, owner, on_acquired, ctx);
}

/* ---- The client's callbacks ---- */

static void on_frame(p2plink_cluster *client, const char *src_node, const char *dst_id, const char *frame, size_t len,
		void *data) {
	const p2plink_hotpath *hp = plugin();
	if(hp != NULL)
		hp->remote_deliver(src_node, dst_id, frame, len);
}

static void on_lease_lost(p2plink_cluster *client, const char *id, const char *owner, const char *holder, void *data) {
	JANUS_LOG(LOG_INFO, "%s: id %s is held by node %s now: its copy here goes\n", JANUS_PEERJS_NAME, id,
		holder ? holder : "?");
	const p2plink_hotpath *hp = plugin();
	if(hp != NULL)
		hp->remote_lost(id, owner);
}

static void on_node_up(p2plink_cluster *client, const char *node, void *data) {
	JANUS_LOG(LOG_INFO, "%s: cluster node %s is up\n", JANUS_PEERJS_NAME, node);
}

static void on_node_down(p2plink_cluster *client, const char *node, void *data) {
	JANUS_LOG(LOG_WARN, "%s: cluster node %s is gone: LEAVE to the peers here that signaled with its peers\n",
		JANUS_PEERJS_NAME, node);
	const p2plink_hotpath *hp = plugin();
	if(hp != NULL)
		hp->remote_node_down(node);
}

static void on_state(p2plink_cluster *client, gboolean up, void *data) {
	g_atomic_int_set(&cl.up, up);
	if(up)
		JANUS_LOG(LOG_INFO, "%s: cluster connected to Redis\n", JANUS_PEERJS_NAME);
	else
		JANUS_LOG(LOG_WARN, "%s: cluster lost Redis: frames to other nodes get EXPIRE until it is back\n",
			JANUS_PEERJS_NAME);
}

static void on_log(p2plink_cluster *client, gboolean important, const char *text, void *data) {
	if(important)
		JANUS_LOG(LOG_WARN, "%s: cluster: %s\n", JANUS_PEERJS_NAME, text);
	else
		JANUS_LOG(LOG_VERB, "%s: cluster: %s\n", JANUS_PEERJS_NAME, text);
}

static void on_retry(uv_timer_t *timer) {
	const p2plink_hotpath *hp = plugin();
	if(cl.client == NULL || hp == NULL)
		return;
	hp->remote_retry();
	if(++cl.ticks % PEER_COUNT_EVERY != 0)
		return;
	p2plink_cluster_set_peer_count(cl.client, hp->peer_count());
	/* concurrent_limit counts the whole cluster: the others' counts from their last heartbeats */
	json_t *nodes = p2plink_cluster_nodes_json(cl.client);
	guint others = 0;
	size_t i;
	json_t *node;
	json_array_foreach(nodes, i, node) {
		if(!json_is_true(json_object_get(node, "self")))
			others += (guint)json_integer_value(json_object_get(node, "peers"));
	}
	json_decref(nodes);
	hp->remote_peers(others);
}

gboolean peerjs_cluster_start(guint port) {
	if(!cl.enabled)
		return TRUE;
	cl.loop = peerjs_loop_uv();
	if(cl.loop == NULL) {
		JANUS_LOG(LOG_FATAL, "%s: cluster mode needs the libuv event loop, which could not be loaded\n",
			JANUS_PEERJS_NAME);
		return FALSE;
	}
	static const p2plink_cluster_callbacks callbacks = {
		.frame = on_frame, .lease_lost = on_lease_lost, .node_up = on_node_up, .node_down = on_node_down,
		.state = on_state, .log = on_log,
	};
	char *error = NULL;
	cl.client = p2plink_cluster_new(cl.loop, &cl.cfg, port, &callbacks, &error);
	if(cl.client == NULL) {
		JANUS_LOG(LOG_FATAL, "%s: cluster mode not started: %s\n", JANUS_PEERJS_NAME, error ? error : "?");
		g_free(error);
		return FALSE;
	}
	g_free(cl.node);
	cl.node = g_strdup(p2plink_cluster_node_id(cl.client));
	g_queue_init(&cl.posted);
	uv_async_init(cl.loop, &cl.async, run_posted);
	uv_timer_init(cl.loop, &cl.retry);
	uv_timer_start(&cl.retry, on_retry, RETRY_INTERVAL_MS, RETRY_INTERVAL_MS);
	cl.handles = TRUE;
	g_mutex_lock(&cl.mutex);
	cl.accepting = TRUE;
	g_mutex_unlock(&cl.mutex);
	JANUS_LOG(LOG_INFO, "%s: cluster mode, node %s (Redis lease %u ms, node death noticed within %u ms)\n",
		JANUS_PEERJS_NAME, cl.node, cl.cfg.lease_ms, p2plink_cluster_config_detect_bound_ms(&cl.cfg));
	return TRUE;
}

/* Runs the loop on this thread (the service thread is gone) for up to ms */
static void pump(guint ms) {
	gint64 until = g_get_monotonic_time() + (gint64)ms * 1000;
	gboolean was = peerjs_on_service_thread;
	peerjs_on_service_thread = TRUE;
	while(g_get_monotonic_time() < until) {
		if(uv_run(cl.loop, UV_RUN_NOWAIT) == 0)
			break;
		g_usleep(2000);
	}
	peerjs_on_service_thread = was;
}

void peerjs_cluster_stop(void) {
	if(cl.client == NULL)
		return;
	g_mutex_lock(&cl.mutex);
	cl.accepting = FALSE;
	GQueue left = cl.posted;
	g_queue_init(&cl.posted);
	g_mutex_unlock(&cl.mutex);
	g_queue_clear_full(&left, (GDestroyNotify)work_free);
	/* A clean stop frees this node's ids at once: their owners reconnect through the balancer elsewhere. A node
	 * whose plugin refused our ops holds none and must not even connect (it would heartbeat: the others would
	 * see it join, then die) */
	if(cl.attached) {
		p2plink_cluster_release_all(cl.client);
		pump(300);
	}
	cl.stopping = TRUE;
	p2plink_cluster_free(cl.client);
	cl.client = NULL;
	if(cl.handles) {
		uv_close((uv_handle_t *)&cl.retry, NULL);
		uv_close((uv_handle_t *)&cl.async, NULL);
		cl.handles = FALSE;
	}
	pump(100);
	cl.stopping = FALSE;
}
