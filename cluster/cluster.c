/*
 * cluster.c — the cluster's Redis client: connections, reconnect with backoff, call deadlines, the local lease
 * table, routing, the node view. See cluster.h for the contract and docs/cluster.md for the Redis side.
 *
 * What it is for: driving hiredis on the caller's libuv loop. Every command goes through one path (call_send) so
 * that every call has a deadline and completes exactly once: with Redis's answer, or UNAVAILABLE when the
 * connection is lost (hiredis hands every pending callback a NULL reply), when the oldest call had no answer
 * within call_timeout_ms (the connection is then dropped: a Redis that stopped answering is treated as gone), or
 * when the call was made while Redis was unreachable.
 * What it is not for: the rules themselves (cluster_lease.c, cluster_scripts.c) or anything about peers.
 *
 * States: DOWN (waiting for the next attempt) -> RESOLVING (uv_getaddrinfo: hiredis would resolve a host name with
 * a blocking getaddrinfo) -> CONNECTING (two sockets; AUTH/SELECT/SCRIPT LOAD on the command one, SUBSCRIBE on the
 * other) -> UP (both ready: leases re-asserted, heartbeat sent at once) -> DOWN on any loss. CLOSING once freed.
 */

#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libuv.h>

#include "cluster.h"
#include "cluster_envelope.h"
#include "cluster_lease.h"
#include "cluster_scripts.h"

#define TICK_MS 100
/* Keys per CLAIM script call: one renewal of 10,000 leases is 50 pipelined calls, none holding Redis for long */
#define CLAIM_BATCH 200

typedef enum cluster_state {
	CLUSTER_DOWN,
	CLUSTER_RESOLVING,
	CLUSTER_CONNECTING,
	CLUSTER_UP,
	CLUSTER_CLOSING,
} cluster_state;

typedef enum call_kind {
	CALL_SETUP,		/* AUTH / SELECT / SCRIPT LOAD on a fresh command connection */
	CALL_ACQUIRE,
	CALL_CLAIM,		/* renewal / re-assertion batch */
	CALL_RELEASE,
	CALL_ROUTE,
	CALL_HEARTBEAT,
	CALL_LOOKUP,	/* who holds an id (owner, node) */
	CALL_FLAG,		/* link-only mark (fire and forget: re-sent with every acquire it matters for) */
	CALL_LIST,		/* one page of LIST; the next page is asked for from its answer */
} call_kind;

typedef struct lease_entry {
	char *owner;
	gint64 since;		/* µs, as in Redis */
	gboolean link_only;	/* the lease's link-only mark when acquired (a same-owner take-over keeps it) */
} lease_entry;

/* What a CLAIM batch sent for one id, to recognise a local entry that changed while the call was out */
typedef struct claim_item {
	char *id;
	gint64 since;
} claim_item;

typedef struct cluster_call {
	p2plink_cluster *cluster;
	call_kind kind;
	guint generation;	/* the connection it was sent on */
	gint64 deadline;	/* monotonic µs */
	char *id, *owner;
	GPtrArray *batch;	/* CALL_CLAIM: claim_item */
	p2plink_cluster_lease_cb lease_cb;
	p2plink_cluster_route_cb route_cb;
	p2plink_cluster_lookup_cb lookup_cb;
	p2plink_cluster_list_cb list_cb;
	json_t *list;		/* CALL_LIST: what the pages so far found */
	void *user_data;
} cluster_call;

struct p2plink_cluster {
	uv_loop_t *loop;
	p2plink_cluster_config cfg;
	p2plink_redis_target target;
	p2plink_cluster_callbacks cb;
	char *node_id, *incarnation, *channel, *alive_key, *nodes_key;
	cluster_state state;
	redisAsyncContext *cmd, *sub;
	guint generation;
	guint setup_pending;
	gboolean subscribed;
	gint64 sub_deadline;
	GQueue inflight;	/* calls sent on cmd, in the order their answers come */
	GQueue failed;		/* calls to complete with UNAVAILABLE on the next loop turn */
	uv_timer_t tick, defer;
	uv_getaddrinfo_t gai;
	gboolean resolving;
	guint backoff_ms;
	gint64 reconnect_at, next_renew, next_heartbeat;
	gboolean heartbeat_inflight;
	guint64 progress;		/* answers and messages read, to tell a silent Redis from a busy loop */
	gboolean overdue;
	guint64 overdue_progress;
	guint claims_inflight;
	GHashTable *leases;	/* id -> lease_entry */
	GHashTable *view;	/* node -> incarnation, as of the last heartbeat */
	gint64 view_grace_until;	/* ms; until then a node missing from the list is not reported down */
	guint peers;
	GMutex nodes_mutex;
	json_t *nodes;		/* under nodes_mutex */
	int open_handles;
};

static void call_complete(cluster_call *call, p2plink_cluster_result result, const char *node);
static void list_reply(p2plink_cluster *c, cluster_call *call, redisReply *reply);

/* To the caller's log (JANUS_LOG in the modules), else GLib's; `important` is a warning-level event */
G_GNUC_PRINTF(3, 4)
static void cluster_log(p2plink_cluster *c, gboolean important, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char *text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if(c->cb.log != NULL)
		c->cb.log(c, important, text, c->cb.user_data);
	else if(important)
		g_message("p2plink cluster: %s", text);
	else
		g_info("p2plink cluster: %s", text);
	g_free(text);
}
static void teardown(p2plink_cluster *c, const char *why);
static void renew_all(p2plink_cluster *c);
static void handle_done(p2plink_cluster *c);

const char *p2plink_cluster_result_name(p2plink_cluster_result result) {
	switch(result) {
		case P2PLINK_CLUSTER_OK: return "ok";
		case P2PLINK_CLUSTER_MOVED: return "moved";
		case P2PLINK_CLUSTER_TAKEN: return "taken";
		case P2PLINK_CLUSTER_NOT_HELD: return "not-held";
		case P2PLINK_CLUSTER_SELF: return "self";
		case P2PLINK_CLUSTER_UNDELIVERED: return "undelivered";
		case P2PLINK_CLUSTER_UNAVAILABLE: return "cluster-unavailable";
		case P2PLINK_CLUSTER_ERROR: return "cluster-error";
	}
	return "?";
}

static gint64 now_ms(void) {
	return g_get_monotonic_time() / 1000;
}

static void lease_entry_free(gpointer data) {
	lease_entry *e = data;
	g_free(e->owner);
	g_free(e);
}

static void claim_item_free(gpointer data) {
	claim_item *item = data;
	g_free(item->id);
	g_free(item);
}

static char *lease_key(p2plink_cluster *c, const char *id) {
	return g_strconcat(c->cfg.key_prefix, "id:", id, NULL);
}

/* ---- Calls ---- */

static cluster_call *call_new(p2plink_cluster *c, call_kind kind) {
	cluster_call *call = g_new0(cluster_call, 1);
	call->cluster = c;
	call->kind = kind;
	return call;
}

static void call_free(cluster_call *call) {
	if(call->list != NULL)
		json_decref(call->list);
	g_free(call->id);
	g_free(call->owner);
	if(call->batch != NULL)
		g_ptr_array_unref(call->batch);
	g_free(call);
}

static void on_defer(uv_timer_t *timer) {
	p2plink_cluster *c = timer->data;
	/* Completions may make new calls that fail too: those wait for the next turn, so this never spins */
	GQueue batch = c->failed;
	g_queue_init(&c->failed);
	cluster_call *call;
	while((call = g_queue_pop_head(&batch)) != NULL)
		call_complete(call, P2PLINK_CLUSTER_UNAVAILABLE, NULL);
}

static void call_fail_later(p2plink_cluster *c, cluster_call *call) {
	if(c->state == CLUSTER_CLOSING) {
		call_complete(call, P2PLINK_CLUSTER_UNAVAILABLE, NULL);
		return;
	}
	g_queue_push_tail(&c->failed, call);
	uv_timer_start(&c->defer, on_defer, 0, 0);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata);

/* Send one command on the command connection; on any failure the call completes UNAVAILABLE next turn */
static void call_send(p2plink_cluster *c, cluster_call *call, int argc, const char **argv, const size_t *lens) {
	gboolean usable = c->cmd != NULL && (c->state == CLUSTER_UP || c->state == CLUSTER_CONNECTING);
	if(!usable || redisAsyncCommandArgv(c->cmd, on_reply, call, argc, argv, lens) != REDIS_OK) {
		call_fail_later(c, call);
		return;
	}
	call->generation = c->generation;
	call->deadline = g_get_monotonic_time() + (gint64)c->cfg.call_timeout_ms * 1000;
	g_queue_push_tail(&c->inflight, call);
}

/* EVALSHA sha numkeys keys... args... (NUL-terminated strings) */
static void call_evalsha(p2plink_cluster *c, cluster_call *call, p2plink_cluster_script_id script,
		GPtrArray *keys, GPtrArray *args) {
	int argc = 3 + keys->len + args->len;
	const char **argv = g_new(const char *, argc);
	char numkeys[16];
	g_snprintf(numkeys, sizeof(numkeys), "%u", keys->len);
	argv[0] = "EVALSHA";
	argv[1] = p2plink_cluster_script_sha(script);
	argv[2] = numkeys;
	int n = 3;
	for(guint i = 0; i < keys->len; i++)
		argv[n++] = keys->pdata[i];
	for(guint i = 0; i < args->len; i++)
		argv[n++] = args->pdata[i];
	call_send(c, call, argc, argv, NULL);
	g_free(argv);
}

/* ---- Replies ---- */

static const char *reply_str(redisReply *reply, size_t i) {
	if(reply == NULL || reply->type != REDIS_REPLY_ARRAY || i >= reply->elements)
		return NULL;
	redisReply *e = reply->element[i];
	return (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) ? e->str : NULL;
}

static gint64 parse_since(const char *text) {
	gint64 v = 0;
	if(text == NULL || !g_ascii_string_to_signed(text, 10, 0, G_MAXINT64, &v, NULL))
		return 0;
	return v;
}

static void lease_store(p2plink_cluster *c, const char *id, const char *owner, gint64 since) {
	lease_entry *e = g_new0(lease_entry, 1);
	e->owner = g_strdup(owner);
	e->since = since;
	g_hash_table_replace(c->leases, g_strdup(id), e);
}

static void maybe_up(p2plink_cluster *c) {
	if(c->state != CLUSTER_CONNECTING || c->setup_pending > 0 || !c->subscribed)
		return;
	c->state = CLUSTER_UP;
	c->backoff_ms = c->cfg.reconnect_min_ms;
	cluster_log(c, FALSE, "node %s connected to Redis", c->node_id);
	if(c->cb.state != NULL)
		c->cb.state(c, TRUE, c->cb.user_data);
	if(c->state != CLUSTER_UP)
		return;
	/* After a Redis restart (or a hang longer than liveness_ms) the node list holds only the nodes that have
	 * heartbeated since; the others are reconnecting on their own backoff (at most reconnect_max_ms + 20%
	 * jitter). Until they all had the time to, a missing node is not taken for dead: its peers' counterparts
	 * would get a LEAVE, and the stock client closes every connection to a peer on LEAVE. */
	c->view_grace_until = now_ms() + c->cfg.liveness_ms + c->cfg.reconnect_max_ms + c->cfg.reconnect_max_ms / 5;
	/* Re-assert at once: after a Redis restart every lease is gone, and after a partition some may be contested */
	c->next_heartbeat = now_ms();
	renew_all(c);
}

static void claim_reply(p2plink_cluster *c, cluster_call *call, redisReply *reply) {
	for(guint i = 0; i < call->batch->len; i++) {
		claim_item *item = call->batch->pdata[i];
		const char *decision = reply_str(reply, 3 * i), *holder = reply_str(reply, 3 * i + 1);
		lease_entry *e = g_hash_table_lookup(c->leases, item->id);
		/* Released, lost or re-acquired while the call was out: this answer is about a lease we no longer have */
		if(decision == NULL || e == NULL || e->since != item->since)
			continue;
		if(strcmp(decision, "lose")) {
			e->since = parse_since(reply_str(reply, 3 * i + 2));
			continue;
		}
		char *owner = g_strdup(e->owner), *id = g_strdup(item->id);
		g_hash_table_remove(c->leases, item->id);
		if(c->cb.lease_lost != NULL)
			c->cb.lease_lost(c, id, owner, holder, c->cb.user_data);
		g_free(owner);
		g_free(id);
	}
}

static void acquire_reply(p2plink_cluster *c, cluster_call *call, redisReply *reply) {
	const char *decision = reply_str(reply, 0), *holder = reply_str(reply, 1);
	if(decision == NULL) {
		call_complete(call, P2PLINK_CLUSTER_ERROR, NULL);
		return;
	}
	if(!strcmp(decision, "lose")) {
		call_complete(call, P2PLINK_CLUSTER_TAKEN, holder);
		return;
	}
	lease_store(c, call->id, call->owner, parse_since(reply_str(reply, 2)));
	const char *mark = reply_str(reply, 3);
	lease_entry *e = g_hash_table_lookup(c->leases, call->id);
	e->link_only = mark != NULL && !strcmp(mark, "1");
	if(!strcmp(decision, "take"))
		call_complete(call, P2PLINK_CLUSTER_MOVED, holder);
	else
		call_complete(call, P2PLINK_CLUSTER_OK, NULL);
}

static void route_reply(cluster_call *call, redisReply *reply) {
	const char *status = reply_str(reply, 0), *node = reply_str(reply, 1);
	p2plink_cluster_result result = P2PLINK_CLUSTER_ERROR;
	if(status == NULL)
		result = P2PLINK_CLUSTER_ERROR;
	else if(!strcmp(status, "sent"))
		result = P2PLINK_CLUSTER_OK;
	else if(!strcmp(status, "not-held"))
		result = P2PLINK_CLUSTER_NOT_HELD;
	else if(!strcmp(status, "self"))
		result = P2PLINK_CLUSTER_SELF;
	else if(!strcmp(status, "undelivered"))
		result = P2PLINK_CLUSTER_UNDELIVERED;
	call_complete(call, result, (node != NULL && node[0] != '\0') ? node : NULL);
}

static void publish_nodes(p2plink_cluster *c, redisReply *reply) {
	json_t *nodes = json_array();
	GPtrArray *ids = g_ptr_array_new(), *incarnations = g_ptr_array_new_with_free_func(g_free);
	for(size_t i = 0; reply_str(reply, i) != NULL && reply_str(reply, i + 1) != NULL; i += 2) {
		char *incarnation = NULL;
		guint peers = 0;
		if(!p2plink_node_value_parse(reply_str(reply, i + 1), &incarnation, &peers))
			continue;
		g_ptr_array_add(ids, (gpointer)reply_str(reply, i));
		g_ptr_array_add(incarnations, incarnation);
		json_array_append_new(nodes, json_pack("{sssisb}", "node", reply_str(reply, i), "peers", (json_int_t)peers,
			"self", !strcmp(reply_str(reply, i), c->node_id)));
	}
	g_mutex_lock(&c->nodes_mutex);
	json_decref(c->nodes);
	c->nodes = nodes;
	g_mutex_unlock(&c->nodes_mutex);
	GPtrArray *down = g_ptr_array_new_with_free_func(g_free), *up = g_ptr_array_new_with_free_func(g_free);
	p2plink_node_view_update(c->view, c->node_id, ids, incarnations, now_ms() < c->view_grace_until, down, up);
	g_ptr_array_unref(ids);
	g_ptr_array_unref(incarnations);
	for(guint i = 0; i < down->len && c->cb.node_down != NULL; i++)
		c->cb.node_down(c, down->pdata[i], c->cb.user_data);
	for(guint i = 0; i < up->len && c->cb.node_up != NULL; i++)
		c->cb.node_up(c, up->pdata[i], c->cb.user_data);
	g_ptr_array_unref(down);
	g_ptr_array_unref(up);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata) {
	cluster_call *call = privdata;
	p2plink_cluster *c = call->cluster;
	redisReply *reply = r;
	c->progress++;
	if(g_queue_peek_head(&c->inflight) == call)
		g_queue_pop_head(&c->inflight);
	else
		g_queue_remove(&c->inflight, call);
	gboolean current = call->generation == c->generation && c->cmd == ac;
	if(reply == NULL) {
		call_complete(call, P2PLINK_CLUSTER_UNAVAILABLE, NULL);
		return;
	}
	if(reply->type == REDIS_REPLY_ERROR) {
		cluster_log(c, TRUE, "Redis answered an error: %s", reply->str);
		gboolean fatal = call->kind == CALL_SETUP || !strncmp(reply->str, "NOSCRIPT", 8)
			|| !strncmp(reply->str, "LOADING", 7);
		call_complete(call, P2PLINK_CLUSTER_ERROR, NULL);
		/* The scripts are gone (SCRIPT FLUSH) or the connection is unusable: start again on a new one */
		if(fatal && current)
			teardown(c, reply->str);
		return;
	}
	switch(call->kind) {
		case CALL_SETUP:
			if(current && c->setup_pending > 0) {
				c->setup_pending--;
				maybe_up(c);
			}
			call_free(call);
			return;
		case CALL_ACQUIRE:
			acquire_reply(c, call, reply);
			return;
		case CALL_CLAIM:
			claim_reply(c, call, reply);
			break;
		case CALL_RELEASE:
			call_complete(call, reply->type == REDIS_REPLY_INTEGER && reply->integer == 1
				? P2PLINK_CLUSTER_OK : P2PLINK_CLUSTER_NOT_HELD, NULL);
			return;
		case CALL_ROUTE:
			route_reply(call, reply);
			return;
		case CALL_LOOKUP: {
			const char *owner = reply_str(reply, 0), *node = reply_str(reply, 1);
			if(call->lookup_cb != NULL)
				call->lookup_cb(c, owner != NULL ? P2PLINK_CLUSTER_OK : P2PLINK_CLUSTER_NOT_HELD, owner, node,
					call->user_data);
			call->lookup_cb = NULL;
			call_free(call);
			return;
		}
		case CALL_HEARTBEAT:
			publish_nodes(c, reply);
			break;
		case CALL_FLAG:
			break;
		case CALL_LIST:
			list_reply(c, call, reply);
			return;
	}
	call_complete(call, P2PLINK_CLUSTER_OK, NULL);
}

#define LIST_PAGE "500"

static void list_page(p2plink_cluster *c, cluster_call *call, const char *cursor) {
	const char *argv[] = { "EVALSHA", p2plink_cluster_script_sha(P2PLINK_SCRIPT_LIST), "0", cursor, c->cfg.key_prefix,
		LIST_PAGE };
	call_send(c, call, 6, argv, NULL);
}

/* One page: keep what it found, ask for the next (the same call goes on, so it still completes exactly once) */
static void list_reply(p2plink_cluster *c, cluster_call *call, redisReply *reply) {
	const char *cursor = reply_str(reply, 0);
	if(cursor == NULL) {
		call_complete(call, P2PLINK_CLUSTER_ERROR, NULL);
		return;
	}
	for(size_t i = 1; i + 2 < reply->elements; i += 3) {
		const char *id = reply_str(reply, i), *node = reply_str(reply, i + 1), *mark = reply_str(reply, i + 2);
		if(id == NULL || node == NULL)
			continue;
		json_array_append_new(call->list, json_pack("{s:s,s:s,s:b}", "id", id, "node", node, "link_only",
			mark != NULL && !strcmp(mark, "1")));
	}
	if(!strcmp(cursor, "0")) {
		call_complete(call, P2PLINK_CLUSTER_OK, NULL);
		return;
	}
	list_page(c, call, cursor);
}

/* Every call ends here exactly once */
static void call_complete(cluster_call *call, p2plink_cluster_result result, const char *node) {
	p2plink_cluster *c = call->cluster;
	switch(call->kind) {
		case CALL_SETUP:
			break;
		case CALL_HEARTBEAT:
			c->heartbeat_inflight = FALSE;
			break;
		case CALL_FLAG:
			break;
		case CALL_LIST:
			if(call->list_cb != NULL)
				call->list_cb(c, result, result == P2PLINK_CLUSTER_OK ? call->list : NULL, call->user_data);
			break;
		case CALL_CLAIM:
			if(c->claims_inflight > 0)
				c->claims_inflight--;
			break;
		case CALL_ACQUIRE:
		case CALL_RELEASE:
			if(call->lease_cb != NULL)
				call->lease_cb(c, result, call->id, node, call->user_data);
			break;
		case CALL_ROUTE:
			if(call->route_cb != NULL)
				call->route_cb(c, result, node, call->user_data);
			break;
		case CALL_LOOKUP:
			if(call->lookup_cb != NULL)
				call->lookup_cb(c, result, NULL, NULL, call->user_data);
			break;
	}
	call_free(call);
}

/* ---- Subscriber connection ---- */

static void handle_drop(p2plink_cluster *c, const p2plink_cluster_envelope *env) {
	char *id = g_strndup(env->dst_id, env->dst_id_len), *holder = g_strndup(env->src_node, env->src_node_len);
	char *body = g_strndup(env->body, env->body_len);
	char *space = strchr(body, ' ');
	lease_entry *e = g_hash_table_lookup(c->leases, id);
	/* Only the exact lease that was displaced: a drop that crossed our own newer acquire of the id is stale */
	if(space != NULL && e != NULL) {
		*space = '\0';
		if(e->since == parse_since(body) && !strcmp(e->owner, space + 1)) {
			g_hash_table_remove(c->leases, id);
			if(c->cb.lease_lost != NULL)
				c->cb.lease_lost(c, id, space + 1, holder, c->cb.user_data);
		}
	}
	g_free(body);
	g_free(holder);
	g_free(id);
}

static void on_message(redisAsyncContext *ac, void *r, void *privdata) {
	p2plink_cluster *c = privdata;
	redisReply *reply = r;
	const char *type = reply_str(reply, 0);
	if(type == NULL || ac != c->sub)
		return;
	c->progress++;
	if(!strcmp(type, "subscribe")) {
		c->subscribed = TRUE;
		maybe_up(c);
		return;
	}
	if(strcmp(type, "message") || reply->elements < 3 || reply->element[2]->type != REDIS_REPLY_STRING)
		return;
	p2plink_cluster_envelope env;
	if(!p2plink_cluster_envelope_decode(reply->element[2]->str, reply->element[2]->len, &env)) {
		cluster_log(c, TRUE, "dropped a malformed message on %s", c->channel);
		return;
	}
	if(env.kind == P2PLINK_CLUSTER_ENVELOPE_DROP) {
		handle_drop(c, &env);
		return;
	}
	if(c->cb.frame == NULL)
		return;
	char *src = g_strndup(env.src_node, env.src_node_len), *dst = g_strndup(env.dst_id, env.dst_id_len);
	c->cb.frame(c, src, dst, env.body, env.body_len, c->cb.user_data);
	g_free(src);
	g_free(dst);
}

static void on_sub_setup(redisAsyncContext *ac, void *r, void *privdata) {
	p2plink_cluster *c = privdata;
	redisReply *reply = r;
	if(reply != NULL && reply->type == REDIS_REPLY_ERROR && ac == c->sub)
		teardown(c, reply->str);
}

/* ---- Connections ---- */

static void context_gone(const redisAsyncContext *ac) {
	p2plink_cluster *c = ac->data;
	if(ac == c->cmd)
		c->cmd = NULL;
	else if(ac == c->sub)
		c->sub = NULL;
	else
		return;		/* one we freed ourselves */
	teardown(c, ac->errstr[0] ? ac->errstr : "connection closed");
}

static void on_connect(const redisAsyncContext *ac, int status) {
	if(status != REDIS_OK)
		context_gone(ac);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
	context_gone(ac);
}

static redisAsyncContext *open_context(p2plink_cluster *c, const char *ip) {
	redisAsyncContext *ac = c->target.socket_path != NULL ? redisAsyncConnectUnix(c->target.socket_path)
		: redisAsyncConnect(ip, (int)c->target.port);
	if(ac == NULL)
		return NULL;
	if(ac->err) {
		cluster_log(c, TRUE, "cannot connect to Redis: %s", ac->errstr);
		redisAsyncFree(ac);
		return NULL;
	}
	ac->data = c;
	/* TCP keepalive: an idle subscribed socket that a middlebox dropped silently is noticed (no command on it
	 * would time out) */
	if(c->target.socket_path == NULL)
		redisEnableKeepAlive(&ac->c);
	if(redisLibuvAttach(ac, c->loop) != REDIS_OK) {
		redisAsyncFree(ac);
		return NULL;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	return ac;
}

static void setup_command(p2plink_cluster *c, int argc, const char **argv) {
	c->setup_pending++;
	call_send(c, call_new(c, CALL_SETUP), argc, argv, NULL);
}

/* AUTH and SELECT, on either connection */
static void send_login(p2plink_cluster *c, redisAsyncContext *ac) {
	char db[16];
	g_snprintf(db, sizeof(db), "%d", c->target.db);
	const char *auth[] = { "AUTH", c->target.username ? c->target.username : c->target.password, c->target.password };
	const char *select[] = { "SELECT", db };
	int auth_argc = c->target.username ? 3 : 2;
	if(ac == c->cmd) {
		if(c->target.password != NULL)
			setup_command(c, auth_argc, auth);
		if(c->target.db > 0)
			setup_command(c, 2, select);
		return;
	}
	if(c->target.password != NULL)
		redisAsyncCommandArgv(ac, on_sub_setup, c, auth_argc, auth, NULL);
	if(c->target.db > 0)
		redisAsyncCommandArgv(ac, on_sub_setup, c, 2, select, NULL);
}

static void connect_to(p2plink_cluster *c, const char *ip) {
	c->generation++;
	c->setup_pending = 0;
	c->subscribed = FALSE;
	c->cmd = open_context(c, ip);
	c->sub = c->cmd != NULL ? open_context(c, ip) : NULL;
	if(c->cmd == NULL || c->sub == NULL) {
		teardown(c, "cannot open a connection");
		return;
	}
	c->state = CLUSTER_CONNECTING;
	c->sub_deadline = g_get_monotonic_time() + (gint64)c->cfg.call_timeout_ms * 1000;
	/* Commands are pipelined behind the connect: SCRIPT LOAD before any EVALSHA, in order on this socket */
	send_login(c, c->cmd);
	for(int i = 0; i < P2PLINK_SCRIPT_COUNT; i++) {
		const char *load[] = { "SCRIPT", "LOAD", p2plink_cluster_script_text(i) };
		setup_command(c, 3, load);
	}
	send_login(c, c->sub);
	const char *subscribe[] = { "SUBSCRIBE", c->channel };
	if(c->sub != NULL && redisAsyncCommandArgv(c->sub, on_message, c, 2, subscribe, NULL) != REDIS_OK)
		teardown(c, "cannot subscribe");
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
	p2plink_cluster *c = req->data;
	c->resolving = FALSE;
	if(c->state == CLUSTER_CLOSING) {
		if(res != NULL)
			uv_freeaddrinfo(res);
		handle_done(c);
		return;
	}
	char ip[64] = "";
	/* An IPv4 address first: "localhost" often lists ::1 first, and Redis binds 127.0.0.1 by default */
	struct addrinfo *pick = NULL;
	for(struct addrinfo *ai = status == 0 ? res : NULL; ai != NULL; ai = ai->ai_next)
		if(pick == NULL || (ai->ai_family == AF_INET && pick->ai_family != AF_INET))
			pick = ai;
	if(pick != NULL && pick->ai_family == AF_INET6)
		uv_ip6_name((struct sockaddr_in6 *)pick->ai_addr, ip, sizeof(ip));
	else if(pick != NULL)
		uv_ip4_name((struct sockaddr_in *)pick->ai_addr, ip, sizeof(ip));
	if(res != NULL)
		uv_freeaddrinfo(res);
	if(ip[0] == '\0') {
		cluster_log(c, TRUE, "cannot resolve %s: %s", c->target.host, status ? uv_strerror(status) : "no address");
		c->state = CLUSTER_CONNECTING;
		teardown(c, "name not resolved");
		return;
	}
	connect_to(c, ip);
}

static void start_connect(p2plink_cluster *c) {
	if(c->target.socket_path != NULL || g_hostname_is_ip_address(c->target.host)) {
		connect_to(c, c->target.host);
		return;
	}
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	c->gai.data = c;
	if(uv_getaddrinfo(c->loop, &c->gai, on_resolved, c->target.host, NULL, &hints) != 0) {
		c->state = CLUSTER_CONNECTING;
		teardown(c, "cannot resolve");
		return;
	}
	c->resolving = TRUE;
	c->state = CLUSTER_RESOLVING;
}

/* Drop both connections (every pending call completes UNAVAILABLE) and plan the next attempt */
static void teardown(p2plink_cluster *c, const char *why) {
	gboolean was_up = c->state == CLUSTER_UP;
	if(c->state != CLUSTER_CLOSING) {
		c->state = CLUSTER_DOWN;
		/* ±20% jitter so nodes that lost Redis together do not come back in lockstep */
		guint jitter = c->backoff_ms / 5;
		c->reconnect_at = now_ms() + c->backoff_ms - jitter + (jitter > 0 ? g_random_int_range(0, 2 * jitter + 1) : 0);
		c->backoff_ms = MIN(c->backoff_ms * 2, c->cfg.reconnect_max_ms);
	}
	redisAsyncContext *cmd = c->cmd, *sub = c->sub;
	c->cmd = NULL;
	c->sub = NULL;
	c->subscribed = FALSE;
	c->setup_pending = 0;
	c->overdue = FALSE;
	if(was_up)
		cluster_log(c, TRUE, "node %s lost Redis (%s)", c->node_id, why);
	if(cmd != NULL)
		redisAsyncFree(cmd);
	if(sub != NULL)
		redisAsyncFree(sub);
	/* Not when a callback run by the frees above has just freed the client */
	if(was_up && c->state != CLUSTER_CLOSING && c->cb.state != NULL)
		c->cb.state(c, FALSE, c->cb.user_data);
}

/* ---- Periodic work ---- */

static void claim_send(p2plink_cluster *c, GPtrArray *ids) {
	cluster_call *call = call_new(c, CALL_CLAIM);
	call->batch = g_ptr_array_new_with_free_func(claim_item_free);
	GPtrArray *keys = g_ptr_array_new_with_free_func(g_free), *args = g_ptr_array_new_with_free_func(g_free);
	char px[16];
	g_snprintf(px, sizeof(px), "%u", c->cfg.lease_ms);
	g_ptr_array_add(args, g_strdup("assert"));
	g_ptr_array_add(args, g_strdup(c->node_id));
	g_ptr_array_add(args, g_strdup(px));
	g_ptr_array_add(args, g_strdup(c->cfg.key_prefix));
	for(guint i = 0; i < ids->len; i++) {
		const char *id = ids->pdata[i];
		lease_entry *e = g_hash_table_lookup(c->leases, id);
		claim_item *item = g_new0(claim_item, 1);
		item->id = g_strdup(id);
		item->since = e->since;
		g_ptr_array_add(call->batch, item);
		g_ptr_array_add(keys, lease_key(c, id));
		g_ptr_array_add(args, g_strdup(id));
		g_ptr_array_add(args, g_strdup(e->owner));
		g_ptr_array_add(args, g_strdup_printf("%" G_GINT64_FORMAT, e->since));
	}
	c->claims_inflight++;
	call_evalsha(c, call, P2PLINK_SCRIPT_CLAIM, keys, args);
	g_ptr_array_unref(keys);
	g_ptr_array_unref(args);
}

/* One pipelined round of CLAIM calls for every local lease */
static void renew_all(p2plink_cluster *c) {
	c->next_renew = now_ms() + c->cfg.renew_ms;
	if(c->claims_inflight > 0)
		return;		/* the previous round is still out: Redis is slow, do not pile up */
	GPtrArray *ids = g_ptr_array_new();
	GHashTableIter iter;
	gpointer key;
	g_hash_table_iter_init(&iter, c->leases);
	while(g_hash_table_iter_next(&iter, &key, NULL)) {
		g_ptr_array_add(ids, key);
		if(ids->len == CLAIM_BATCH) {
			claim_send(c, ids);
			g_ptr_array_set_size(ids, 0);
		}
	}
	if(ids->len > 0)
		claim_send(c, ids);
	g_ptr_array_unref(ids);
}

static void heartbeat(p2plink_cluster *c) {
	c->next_heartbeat = now_ms() + c->cfg.heartbeat_ms;
	if(c->heartbeat_inflight)
		return;
	c->heartbeat_inflight = TRUE;
	GPtrArray *keys = g_ptr_array_new(), *args = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(keys, c->nodes_key);
	g_ptr_array_add(keys, c->alive_key);
	g_ptr_array_add(args, g_strdup(c->node_id));
	g_ptr_array_add(args, p2plink_node_value_format(c->incarnation, c->peers));
	g_ptr_array_add(args, g_strdup_printf("%u", c->cfg.liveness_ms));
	g_ptr_array_add(args, g_strdup(c->cfg.key_prefix));
	call_evalsha(c, call_new(c, CALL_HEARTBEAT), P2PLINK_SCRIPT_HEARTBEAT, keys, args);
	g_ptr_array_unref(keys);
	g_ptr_array_unref(args);
}

static void on_tick(uv_timer_t *timer) {
	p2plink_cluster *c = timer->data;
	gint64 now = g_get_monotonic_time();
	if(c->state == CLUSTER_DOWN) {
		if(now / 1000 >= c->reconnect_at)
			start_connect(c);
		return;
	}
	if(c->state != CLUSTER_CONNECTING && c->state != CLUSTER_UP)
		return;
	cluster_call *oldest = g_queue_peek_head(&c->inflight);
	gboolean overdue = (oldest != NULL && oldest->deadline < now)
		|| (c->state == CLUSTER_CONNECTING && !c->subscribed && now > c->sub_deadline);
	/* Overdue on two ticks in a row with nothing read in between: the loop polled the sockets meanwhile, so it is
	 * Redis that is silent, not this loop that was busy (a burst of calls can take longer than the timeout to
	 * make, and timers run before the poll that would read their answers) */
	if(!overdue) {
		c->overdue = FALSE;
	} else if(!c->overdue || c->overdue_progress != c->progress) {
		c->overdue = TRUE;
		c->overdue_progress = c->progress;
	} else {
		teardown(c, oldest != NULL ? "no answer within call_timeout_ms" : "not subscribed within call_timeout_ms");
		return;
	}
	if(c->state != CLUSTER_UP)
		return;
	if(now / 1000 >= c->next_heartbeat)
		heartbeat(c);
	if(now / 1000 >= c->next_renew)
		renew_all(c);
}

/* ---- Public API ---- */

p2plink_cluster *p2plink_cluster_new(uv_loop_t *loop, const p2plink_cluster_config *cfg, guint default_port,
		const p2plink_cluster_callbacks *callbacks, char **error) {
	if(!p2plink_cluster_config_validate(cfg, error))
		return NULL;
	p2plink_cluster *c = g_new0(p2plink_cluster, 1);
	c->loop = loop;
	p2plink_cluster_config_copy(&c->cfg, cfg);
	p2plink_redis_target_parse(cfg->redis_url, &c->target, error);
	if(callbacks != NULL)
		c->cb = *callbacks;
	c->node_id = (cfg->node_id != NULL && cfg->node_id[0] != '\0') ? g_strdup(cfg->node_id)
		: p2plink_cluster_node_id_default(g_get_host_name(), default_port);
	c->incarnation = g_strdup_printf("%08x%08x", g_random_int(), g_random_int());
	c->channel = g_strconcat(cfg->key_prefix, "node:", c->node_id, NULL);
	c->alive_key = g_strconcat(cfg->key_prefix, "alive:", c->node_id, NULL);
	c->nodes_key = g_strconcat(cfg->key_prefix, "nodes", NULL);
	c->leases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, lease_entry_free);
	c->view = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	c->nodes = json_array();
	g_mutex_init(&c->nodes_mutex);
	g_queue_init(&c->inflight);
	g_queue_init(&c->failed);
	c->backoff_ms = c->cfg.reconnect_min_ms;
	c->state = CLUSTER_DOWN;
	uv_timer_init(loop, &c->tick);
	uv_timer_init(loop, &c->defer);
	c->tick.data = c;
	c->defer.data = c;
	c->open_handles = 2;
	uv_timer_start(&c->tick, on_tick, TICK_MS, TICK_MS);
	start_connect(c);
	return c;
}

static void finish_free(p2plink_cluster *c) {
	p2plink_cluster_config_clear(&c->cfg);
	p2plink_redis_target_clear(&c->target);
	g_free(c->node_id);
	g_free(c->incarnation);
	g_free(c->channel);
	g_free(c->alive_key);
	g_free(c->nodes_key);
	g_hash_table_unref(c->leases);
	g_hash_table_unref(c->view);
	json_decref(c->nodes);
	g_mutex_clear(&c->nodes_mutex);
	g_free(c);
}

/* A timer closed or a cancelled name lookup returned: the last one frees */
static void handle_done(p2plink_cluster *c) {
	if(--c->open_handles == 0)
		finish_free(c);
}

static void on_handle_closed(uv_handle_t *handle) {
	handle_done(handle->data);
}

void p2plink_cluster_free(p2plink_cluster *c) {
	if(c == NULL || c->state == CLUSTER_CLOSING)
		return;
	c->state = CLUSTER_CLOSING;
	teardown(c, "freed");
	cluster_call *call;
	while((call = g_queue_pop_head(&c->failed)) != NULL)
		call_complete(call, P2PLINK_CLUSTER_UNAVAILABLE, NULL);
	if(c->resolving) {
		/* Its callback still runs (UV_ECANCELED) and must find the struct: counted as an open handle */
		c->open_handles++;
		uv_cancel((uv_req_t *)&c->gai);
	}
	uv_close((uv_handle_t *)&c->tick, on_handle_closed);
	uv_close((uv_handle_t *)&c->defer, on_handle_closed);
}

const char *p2plink_cluster_node_id(const p2plink_cluster *c) {
	return c->node_id;
}

gboolean p2plink_cluster_is_up(const p2plink_cluster *c) {
	return c->state == CLUSTER_UP;
}

static void send_claim_one(p2plink_cluster *c, cluster_call *call, const char *mode, const char *id,
		const char *owner, gint64 since) {
	GPtrArray *keys = g_ptr_array_new_with_free_func(g_free), *args = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(keys, lease_key(c, id));
	g_ptr_array_add(args, g_strdup(mode));
	g_ptr_array_add(args, g_strdup(c->node_id));
	g_ptr_array_add(args, g_strdup_printf("%u", c->cfg.lease_ms));
	g_ptr_array_add(args, g_strdup(c->cfg.key_prefix));
	g_ptr_array_add(args, g_strdup(id));
	g_ptr_array_add(args, g_strdup(owner));
	g_ptr_array_add(args, g_strdup_printf("%" G_GINT64_FORMAT, since));
	call_evalsha(c, call, P2PLINK_SCRIPT_CLAIM, keys, args);
	g_ptr_array_unref(keys);
	g_ptr_array_unref(args);
}

void p2plink_cluster_lease_acquire(p2plink_cluster *c, const char *id, const char *owner,
		p2plink_cluster_lease_cb cb, void *user_data) {
	cluster_call *call = call_new(c, CALL_ACQUIRE);
	call->id = g_strdup(id);
	call->owner = g_strdup(owner);
	call->lease_cb = cb;
	call->user_data = user_data;
	send_claim_one(c, call, "acquire", id, owner, 0);
}

void p2plink_cluster_lease_assume(p2plink_cluster *c, const char *id, const char *owner) {
	lease_store(c, id, owner, g_get_real_time());
}

void p2plink_cluster_lease_release(p2plink_cluster *c, const char *id, const char *owner,
		p2plink_cluster_lease_cb cb, void *user_data) {
	lease_entry *e = g_hash_table_lookup(c->leases, id);
	if(e != NULL && !strcmp(e->owner, owner))
		g_hash_table_remove(c->leases, id);
	cluster_call *call = call_new(c, CALL_RELEASE);
	call->id = g_strdup(id);
	call->owner = g_strdup(owner);
	call->lease_cb = cb;
	call->user_data = user_data;
	char *key = lease_key(c, id);
	const char *argv[] = { "EVALSHA", p2plink_cluster_script_sha(P2PLINK_SCRIPT_RELEASE), "1", key, c->node_id, owner };
	call_send(c, call, 6, argv, NULL);
	g_free(key);
}

void p2plink_cluster_release_all(p2plink_cluster *c) {
	GList *ids = g_hash_table_get_keys(c->leases);
	for(GList *l = ids; l != NULL; l = l->next) {
		lease_entry *e = g_hash_table_lookup(c->leases, l->data);
		char *id = g_strdup(l->data), *owner = g_strdup(e->owner);
		p2plink_cluster_lease_release(c, id, owner, NULL, NULL);
		g_free(id);
		g_free(owner);
	}
	g_list_free(ids);
}

gboolean p2plink_cluster_lease_link_only(const p2plink_cluster *c, const char *id) {
	lease_entry *e = g_hash_table_lookup(c->leases, id);
	return e != NULL && e->link_only;
}

void p2plink_cluster_lease_mark(p2plink_cluster *c, const char *id, const char *owner, gboolean link_only) {
	lease_entry *e = g_hash_table_lookup(c->leases, id);
	if(e == NULL || strcmp(e->owner, owner) != 0)
		return;
	e->link_only = link_only;
	cluster_call *call = call_new(c, CALL_FLAG);
	char *key = lease_key(c, id);
	const char *argv[] = { "EVALSHA", p2plink_cluster_script_sha(P2PLINK_SCRIPT_FLAG), "1", key, c->node_id, owner,
		link_only ? "1" : "" };
	call_send(c, call, 7, argv, NULL);
	g_free(key);
}

guint p2plink_cluster_lease_count(const p2plink_cluster *c) {
	return g_hash_table_size(c->leases);
}

gboolean p2plink_cluster_lease_held(const p2plink_cluster *c, const char *id) {
	return g_hash_table_contains(c->leases, id);
}

void p2plink_cluster_route(p2plink_cluster *c, const char *dst_id, const char *frame, size_t len,
		p2plink_cluster_route_cb cb, void *user_data) {
	cluster_call *call = call_new(c, CALL_ROUTE);
	call->route_cb = cb;
	call->user_data = user_data;
	size_t env_len = 0;
	char *env = p2plink_cluster_envelope_encode(P2PLINK_CLUSTER_ENVELOPE_FRAME, c->node_id, dst_id, frame, len, &env_len);
	char *key = lease_key(c, dst_id);
	const char *argv[] = { "EVALSHA", p2plink_cluster_script_sha(P2PLINK_SCRIPT_ROUTE), "1", key, c->node_id,
		c->cfg.key_prefix, env };
	size_t lens[] = { 7, 40, 1, strlen(key), strlen(c->node_id), strlen(c->cfg.key_prefix), env_len };
	call_send(c, call, 7, argv, lens);
	g_free(key);
	g_free(env);
}

void p2plink_cluster_lease_lookup(p2plink_cluster *c, const char *id, p2plink_cluster_lookup_cb cb, void *user_data) {
	cluster_call *call = call_new(c, CALL_LOOKUP);
	call->lookup_cb = cb;
	call->user_data = user_data;
	char *key = lease_key(c, id);
	const char *argv[] = { "HMGET", key, "owner", "node" };
	call_send(c, call, 4, argv, NULL);
	g_free(key);
}

void p2plink_cluster_list(p2plink_cluster *c, p2plink_cluster_list_cb cb, void *user_data) {
	cluster_call *call = call_new(c, CALL_LIST);
	call->list_cb = cb;
	call->user_data = user_data;
	call->list = json_array();
	list_page(c, call, "0");
}

void p2plink_cluster_set_peer_count(p2plink_cluster *c, guint peers) {
	c->peers = peers;
}

json_t *p2plink_cluster_nodes_json(p2plink_cluster *c) {
	g_mutex_lock(&c->nodes_mutex);
	json_t *copy = json_deep_copy(c->nodes);
	g_mutex_unlock(&c->nodes_mutex);
	return copy;
}
