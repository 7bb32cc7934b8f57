/*! \file    store_mongo.c
 * \brief   p2plink link store: MongoDB backend (libmongoc 1.23)
 * \details Implements store.h on two collections, "links" and "clicks"
 * (document shapes and every query in store_mongo_bson.c).
 *
 * Redemption without an owner rule (req->holder_owner NULL: tools, tests)
 * is ONE conditional findAndModify on "links": the query says
 * "this token hash, not revoked, not expired at `now`, clicks < max_clicks
 * (or unlimited), and the client IP inside the whitelist (or none)", the
 * update is $inc clicks, and the new document comes back. The server
 * evaluates and applies it atomically on one document, so N racing
 * clients of a max_clicks = N link get exactly N grants, whatever the
 * number of threads, handles or processes.
 * - The IP whitelist is part of that condition, not a check before it:
 *   each whitelist entry is also stored as a [lo, hi] range of 16-byte
 *   BinData, which the server compares as 128-bit numbers. A denied IP
 *   therefore never matches, so it can never consume or be granted a
 *   click, and no read-then-write window exists.
 * - When the findAndModify matches nothing, a plain read by token hash
 *   finds out why (p2plink_link_check() on what it reads: revoked,
 *   expired, ip-denied, exhausted; no document: unknown). That read never
 *   writes, so it cannot over-count. If the read says "ok" (the link
 *   appeared or changed between the two calls), the findAndModify is
 *   retried a few times; it is never turned into a grant by the read.
 * - With the owner rule (the plugin), the target is needed before the
 *   holder can be asked: a read by token hash comes first, the rules and
 *   the owner rule run on it, and only a link that passes gets the
 *   findAndModify, whose condition now also says "owner is that holder,
 *   or none" and whose update claims it ($set owner). A link that changed
 *   in between does not match, and the read is repeated (a few times).
 *   Refusals (not-online included) and previews never write to "links".
 * - Then the attempt is appended to "clicks". That insert is a second
 *   write, not in one transaction with the increment (transactions need
 *   a replica set): if the server is lost between the two, the click is
 *   counted but not logged, and redeem reports an error. This fails safe
 *   (a link can lose a click, never grant one too many).
 *
 * TTL: links with an expiry carry "expire_at" (a Date), links without one
 * do not (the TTL monitor ignores them). The TTL index deletes a link
 * expired_retention_s after its expiry (default 7 days), so for that
 * long visitors are told "expired" rather than "unknown" and admins still
 * see it; exhausted links are kept like in SQLite (they may be the only
 * record of who used them; they expire like any link). Revoking moves
 * expire_at to the revocation time, so a revoked link goes the same
 * retention after it was revoked. Click rows carry "at_date" and a second
 * TTL index deletes them click_retention_s after they were logged
 * (default 30 days); a pruned link's clicks go with that TTL (the click log
 * is the audit trail and may outlive its link). No prune() here. The server's
 * TTL monitor runs about once a minute and uses the server's clock, while
 * every rule here uses the caller's `now`; the TTL only ever removes
 * links that are already expired, so it never changes an outcome other
 * than "expired" -> "unknown" after the retention period.
 *
 * Documents older than owners: at open, links made by peers without an
 * "owner" are withdrawn (revoked, like the SQLite migration; one updateMany
 * that matches nothing once done); admin links without one stay unclaimed.
 *
 * Indexes (created at open, idempotent): links: unique token_hash,
 * target+created_at, creator+created_at, created_at+_id, TTL expire_at;
 * clicks: link_id+seq, seq, outcome. A TTL index made earlier with another
 * retention is changed with collMod.
 *
 * Not atomic here, unlike SQLite (documented in store.h terms):
 * - create_link with a per-creator limit inserts, then counts the other
 *   active links of the creator and removes its own link if that is at
 *   the limit: racing creations can never overshoot, but two racing for
 *   the last slot may both be refused.
 * - list_links/list_clicks read the page and the total in two commands.
 * - delete_link removes the link, then its clicks.
 *
 * Threading: a handle owns a mongoc_client_pool_t; every call pops a
 * client, uses it and pushes it back, so any number of threads share one
 * handle and run in parallel. Calls block on the network (at most
 * timeout_ms while the server is unreachable): never call from the
 * routing thread.
 *
 * Not for: link rules (links.c), BSON shapes (store_mongo_bson.c), Janus
 * glue, SQLite (store_sqlite.c).
 *
 * \author  p2plink
 */

#include <string.h>

#include <mongoc/mongoc.h>

#include "store.h"
#include "store_mongo_bson.h"

/* findAndModify attempts when the second read says the link is redeemable */
#define REDEEM_ATTEMPTS 3
/* socketTimeoutMS unless the URI sets one: a hung server fails a call
 * instead of holding a worker thread for the driver's default 5 minutes */
#define SOCKET_TIMEOUT_MS 10000

typedef struct mongo_store {
	mongoc_client_pool_t *pool;
	char *database;
} mongo_store;

static const p2plink_store_ops mongo_ops;

/* ---- libmongoc process state ---- */

static gsize mongoc_ready = 0;

/* libmongoc's own log: warnings and errors go to its default handler
 * (stderr), its debug chatter (every failed heartbeat while the server is
 * away) is dropped. Errors that matter reach callers as GErrors. */
static void mongo_log(mongoc_log_level_t level, const char *domain, const char *message, void *data) {
	if(level <= MONGOC_LOG_LEVEL_WARNING)
		mongoc_log_default_handler(level, domain, message, data);
}

static void mongo_global_init(void) {
	if(g_once_init_enter(&mongoc_ready)) {
		mongoc_log_set_handler(mongo_log, NULL);
		mongoc_init();
		g_once_init_leave(&mongoc_ready, 1);
	}
}

void p2plink_store_mongo_shutdown(void) {
	if(mongoc_ready != 0)
		mongoc_cleanup();
}

/* ---- Click ids ---- */

/* Click ids increase in logging order: the wall clock in us, bumped past
 * the last id this process handed out. Across processes they follow the
 * clocks (ties are possible, order among them is then arbitrary). */
static GMutex seq_lock;
static gint64 seq_last = 0;

static gint64 next_click_seq(void) {
	g_mutex_lock(&seq_lock);
	gint64 seq = MAX(seq_last + 1, g_get_real_time());
	seq_last = seq;
	g_mutex_unlock(&seq_lock);
	return seq;
}

/* ---- Errors ---- */

static int error_code_for(const bson_error_t *e) {
	switch(e->domain) {
		case MONGOC_ERROR_SERVER_SELECTION:
		case MONGOC_ERROR_STREAM:
			return P2PLINK_STORE_ERROR_IO;
		case MONGOC_ERROR_CLIENT:
			return e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE ? P2PLINK_STORE_ERROR_IO : P2PLINK_STORE_ERROR_INTERNAL;
		case MONGOC_ERROR_SERVER:
		case MONGOC_ERROR_WRITE_CONCERN:
		case MONGOC_ERROR_COLLECTION:
		case MONGOC_ERROR_COMMAND:
		case MONGOC_ERROR_QUERY:
			switch(e->code) {
				case 11000: case 11001: case 12582:	/* duplicate key */
					return P2PLINK_STORE_ERROR_EXISTS;
				case 13: case 18:			/* Unauthorized, AuthenticationFailed */
					return P2PLINK_STORE_ERROR_IO;
				case 50:				/* MaxTimeMSExpired */
				case 91: case 189: case 10107: case 11600: case 11602: case 13435: case 13436:
					return P2PLINK_STORE_ERROR_BUSY;	/* shutting down, stepping down, not primary */
				default:
					return P2PLINK_STORE_ERROR_INTERNAL;
			}
		default:
			return P2PLINK_STORE_ERROR_INTERNAL;
	}
}

/* Sentence = what we tried + the driver's own words */
static gboolean db_fail(GError **error, const bson_error_t *e, const char *what) {
	g_set_error(error, P2PLINK_STORE_ERROR, error_code_for(e), "%s: %s", what, e->message);
	return FALSE;
}

static gboolean store_fail(GError **error, int code, const char *msg) {
	g_set_error_literal(error, P2PLINK_STORE_ERROR, code, msg);
	return FALSE;
}

/* ---- Driver helpers ---- */

static mongoc_collection_t *coll(mongo_store *s, mongoc_client_t *client, const char *name) {
	return mongoc_client_get_collection(client, s->database, name);
}

/* Zero or one link. TRUE with *out == NULL means "no such link". */
static gboolean find_link(mongoc_collection_t *links, bson_t *filter, p2plink_link **out, GError **error) {
	bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(links, filter, opts, NULL);
	const bson_t *doc = NULL;
	bson_error_t e;
	gboolean ok = TRUE;
	*out = NULL;
	if(mongoc_cursor_next(cursor, &doc)) {
		*out = p2plink_mongo_link_from_bson(doc, error);
		ok = *out != NULL;
	} else if(mongoc_cursor_error(cursor, &e)) {
		ok = db_fail(error, &e, "could not read the link");
	}
	mongoc_cursor_destroy(cursor);
	bson_destroy(opts);
	bson_destroy(filter);
	return ok;
}

typedef gpointer (*row_parser)(const bson_t *doc, GError **error);

static gpointer link_row(const bson_t *doc, GError **error) {
	return p2plink_mongo_link_from_bson(doc, error);
}

static gpointer click_row(const bson_t *doc, GError **error) {
	return p2plink_mongo_click_from_bson(doc, error);
}

/* Run a find and parse every document into rows. Consumes filter and opts. */
static gboolean collect(mongoc_collection_t *c, bson_t *filter, bson_t *opts, GPtrArray *rows,
		row_parser parse, const char *what, GError **error) {
	mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(c, filter, opts, NULL);
	const bson_t *doc = NULL;
	bson_error_t e;
	gboolean ok = TRUE;
	while(ok && mongoc_cursor_next(cursor, &doc)) {
		gpointer row = parse(doc, error);
		if(row == NULL)
			ok = FALSE;
		else
			g_ptr_array_add(rows, row);
	}
	if(ok && mongoc_cursor_error(cursor, &e))
		ok = db_fail(error, &e, what);
	mongoc_cursor_destroy(cursor);
	bson_destroy(filter);
	bson_destroy(opts);
	return ok;
}

/* countDocuments; consumes filter */
static gboolean count(mongoc_collection_t *c, bson_t *filter, guint64 *out, const char *what, GError **error) {
	bson_error_t e;
	int64_t n = mongoc_collection_count_documents(c, filter, NULL, NULL, NULL, &e);
	bson_destroy(filter);
	if(n < 0)
		return db_fail(error, &e, what);
	*out = (guint64)n;
	return TRUE;
}

/* An int32/int64 field of a command reply, 0 if absent */
static gint64 reply_int(const bson_t *reply, const char *key) {
	bson_iter_t it;
	if(bson_iter_init_find(&it, reply, key) && BSON_ITER_HOLDS_NUMBER(&it))
		return bson_iter_as_int64(&it);
	return 0;
}

/* ---- Operations ---- */

static gboolean link_fields_ok(const p2plink_link *l, GError **error) {
	if(l == NULL || l->id == NULL || l->token_hash == NULL || l->target == NULL ||
			l->purpose == NULL || l->creator == NULL)
		return store_fail(error, P2PLINK_STORE_ERROR_INVALID, "a link needs id, token_hash, target, purpose and creator");
	return TRUE;
}

/* After inserting `l`: are the creator's OTHER active links already at
 * the limit? Then take ours back. Racers see each other's inserts, so at
 * worst both give up; neither can push the creator past the limit. */
static gboolean enforce_owner_limit(mongoc_collection_t *links, const p2plink_link *l, gint64 now,
		guint max, GError **error) {
	guint64 others = 0;
	gboolean counted = count(links, p2plink_mongo_active_filter(l->owner, now, l->id, TRUE), &others,
		"could not count links", error);
	if(counted && others < max)
		return TRUE;
	/* Best effort: nobody holds this link's token yet, so a left-over copy
	 * (if this delete fails too) cannot be redeemed by anyone */
	bson_t *filter = p2plink_mongo_id_filter(l->id, NULL);
	mongoc_collection_delete_one(links, filter, NULL, NULL, NULL);
	bson_destroy(filter);
	if(!counted)
		return FALSE;
	g_set_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_LIMIT,
		"you already have %u active links, the most allowed; revoke one first", max);
	return FALSE;
}

static gboolean mongo_create_link(p2plink_store *store, const p2plink_link *link,
		gint64 now, guint max_active_per_owner, GError **error) {
	mongo_store *s = store->priv;
	if(!link_fields_ok(link, error))
		return FALSE;
	mongoc_client_t *client = mongoc_client_pool_pop(s->pool);
	mongoc_collection_t *links = coll(s, client, P2PLINK_MONGO_LINKS);
	bson_t *doc = p2plink_mongo_link_to_bson(link);
	bson_error_t e;
	gboolean ok = mongoc_collection_insert_one(links, doc, NULL, NULL, &e);
	if(!ok)
		db_fail(error, &e, "could not save the link");
	else if(max_active_per_owner > 0 && link->owner != NULL)
		ok = enforce_owner_limit(links, link, now, max_active_per_owner, error);
	bson_destroy(doc);
	mongoc_collection_destroy(links);
	mongoc_client_pool_push(s->pool, client);
	return ok;
}

static p2plink_link *get_link_common(p2plink_store *store, bson_t *filter, GError **error) {
	mongo_store *s = store->priv;
	mongoc_client_t *client = mongoc_client_pool_pop(s->pool);
	mongoc_collection_t *links = coll(s, client, P2PLINK_MONGO_LINKS);
	p2plink_link *l = NULL;
	gboolean ok = find_link(links, filter, &l, error);
	mongoc_collection_destroy(links);
	mongoc_client_pool_push(s->pool, client);
	if(ok && l == NULL)
		store_fail(error, P2PLINK_STORE_ERROR_NOT_FOUND, "no such link");
	return l;
}

static p2plink_link *mongo_get_link(p2plink_store *store, const char *id, GError **error) {
	if(id == NULL) {
		store_fail(error, P2PLINK_STORE_ERROR_INVALID, "no link id given");
		return NULL;
	}
	return get_link_common(store, p2plink_mongo_id_filter(id, NULL), error);
}

static GPtrArray *mongo_list_links(p2plink_store *store, const p2plink_link_filter *filter,
		guint64 *total, GError **error) {
	mongo_store *s = store->priv;
	GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify)p2plink_link_free);
	mongoc_client_t *client = mongoc_client_pool_pop(s->pool);
	mongoc_collection_t *links = coll(s, client, P2PLINK_MONGO_LINKS);
	gboolean ok = total == NULL ||
		count(links, p2plink_mongo_list_filter(filter), total, "could not count links", error);
	ok = ok && collect(links, p2plink_mongo_list_filter(filter), p2plink_mongo_list_opts(filter),
		rows, link_row, "could not list links", error);
	mongoc_collection_destroy(links);
	mongoc_client_pool_push(s->pool, client);
	if(!ok) {
		g_ptr_array_unref(rows);
		return NULL;
	}
	return rows;
}

static gboolean mongo_revoke_link(p2plink_store *store, const char *id, const char *owner, gint64 now,
		GError **error) {
	mongo_store *s = store->priv;
	if(id == NULL)
		return store_fail(error, P2PLINK_STORE_ERROR_INVALID, "no link id given");
	mongoc_client_t *client = mongoc_client_pool_pop(s->pool);
	mongoc_collection_t *links = coll(s, client, P2PLINK_MONGO_LINKS);
	bson_t *filter = p2plink_mongo_id_filter(id, owner);
	bson_t *update = p2plink_mongo_revoke_update(now);
	bson_t reply;
	bson_error_t e;
	/* matchedCount counts the link even when it was already revoked */
	gboolean ok = mongoc_collection_update_one(links, filter, update, NULL, &reply, &e);
	gboolean found = ok && reply_int(&reply, "matchedCount") > 0;
	if(!ok)
		db_fail(error, &e, "could not revoke the link");
	bson_destroy(&reply);
	bson_destroy(update);
	bson_destroy(filter);
	mongoc_collection_destroy(links);
	mongoc_client_pool_push(s->pool, client);
	if(ok && !found)
		return store_fail(error, P2PLINK_STORE_ERROR_NOT_FOUND, "no such link");
	return ok;
}

static gboolean mongo_delete_link(p2plink_store *store, const char *id, GError **error) {
	mongo_store *s = store->priv;
	if(id == NULL)
		return store_fail(error, P2PLINK_STORE_ERROR_INVALID, "no link id given");
	mongoc_client_t *client = mongoc_client_pool_pop(s->pool);
	mongoc_collection_t *links = coll(s, client, P2PLINK_MONGO_LINKS);
	mongoc_collection_t *clicks = coll(s, client, P2PLINK_MONGO_CLICKS);
	bson_t *filter = p2plink_mongo_id_filter(id, NULL);
	bson_t *cfilter = p2plink_mongo_clicks_filter(id);
	bson_t reply;
	bson_error_t e;
	gboolean ok = mongoc_collection_delete_one(links, filter, NULL, &reply, &e);
	gboolean found = ok && reply_int(&reply, "deletedCount") > 0;
	bson_destroy(&reply);
	if(!ok)
		db_fail(error, &e, "could not delete the link");
	if(found && !mongoc_collection_delete_many(clicks, cfilter, NULL, NULL, &e))
		ok = db_fail(error, &e, "could not delete the link's clicks");
	bson_destroy(cfilter);
	bson_destroy(filter);
	mongoc_collection_destroy(clicks);
	mongoc_collection_destroy(links);
	mongoc_client_pool_push(s->pool, client);
	if(ok && !found)
		return store_fail(error, P2PLINK_STORE_ERROR_NOT_FOUND, "no such link");
	return ok;
}

/* The atomic step. TRUE + *out != NULL: granted, *out is the link after
 * the increment. TRUE + *out == NULL: the condition did not match. */
static gboolean redeem_once(mongoc_collection_t *links, const p2plink_redeem_request *req, const char *holder,
		p2plink_link **out, GError **error) {
	bson_t *query = p2plink_mongo_redeem_query(req->token_hash, req->now, req->client_ip, holder);
	bson_t *update = p2plink_mongo_redeem_update(holder);
	mongoc_find_and_modify_opts_t *opts = mongoc_find_and_modify_opts_new();
	mongoc_find_and_modify_opts_set_update(opts, update);
	mongoc_find_and_modify_opts_set_flags(opts, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
	bson_t reply;
	bson_error_t e;
	bson_iter_t it;
	gboolean ok = mongoc_collection_find_and_modify_with_opts(links, query, opts, &reply, &e);
	*out = NULL;
	if(!ok) {
		db_fail(error, &e, "could not redeem the link");
	} else if(bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		const uint8_t *data = NULL;
		uint32_t len = 0;
		bson_t value;
		bson_iter_document(&it, &len, &data);
		if(bson_init_static(&value, data, len))
			*out = p2plink_mongo_link_from_bson(&value, error);
		else
			store_fail(error, P2PLINK_STORE_ERROR_INTERNAL, "the server sent back an unreadable link");
		ok = *out != NULL;
	}
	bson_destroy(&reply);
	mongoc_find_and_modify_opts_destroy(opts);
	bson_destroy(update);
	bson_destroy(query);
	return ok;
}

/* Decide the outcome: the conditional increment, and when it does not
 * match, a read that explains why. *link gets what was read (or NULL). */
static gboolean redeem_decide(mongoc_collection_t *links, const p2plink_redeem_request *req,
		p2plink_link_outcome *outcome, p2plink_link **link, GError **error) {
	for(int attempt = 0; attempt < REDEEM_ATTEMPTS; attempt++) {
		if(!redeem_once(links, req, NULL, link, error))
			return FALSE;
		if(*link != NULL) {
			*outcome = P2PLINK_LINK_OK;
			return TRUE;
		}
		if(!find_link(links, p2plink_mongo_hash_filter(req->token_hash), link, error))
			return FALSE;
		*outcome = p2plink_link_check(*link, req->now, req->client_ip);
		if(*outcome != P2PLINK_LINK_OK)
			return TRUE;
		/* The read found a redeemable link the update did not match: it was
		 * created (or replaced) in between. Never grant on a read: retry. */
		p2plink_link_free(*link);
		*link = NULL;
	}
	return store_fail(error, P2PLINK_STORE_ERROR_BUSY,
		"the link kept changing while it was being redeemed; try again");
}

/* With the owner rule, or a preview: read first (the target names the holder to ask), decide on what was read, and
 * only for a grant run the conditional findAndModify that also checks and claims the owner. */
static gboolean redeem_decide_owned(mongoc_collection_t *links, const p2plink_redeem_request *req,
		p2plink_link_outcome *outcome, p2plink_link **link, GError **error) {
	for(int attempt = 0; attempt < REDEEM_ATTEMPTS; attempt++) {
		if(!find_link(links, p2plink_mongo_hash_filter(req->token_hash), link, error))
			return FALSE;
		char *holder = *link != NULL && req->holder_owner != NULL ?
			req->holder_owner((*link)->target, req->holder_data) : NULL;
		*outcome = req->holder_owner != NULL ? p2plink_link_check_owner(*link, req->now, req->client_ip, holder) :
			p2plink_link_check(*link, req->now, req->client_ip);
		if(*outcome != P2PLINK_LINK_OK || req->preview) {
			g_free(holder);
			return TRUE;
		}
		p2plink_link_free(*link);
		*link = NULL;
		gboolean ok = redeem_once(links, req, holder, link, error);
		g_free(holder);
		if(!ok)
			return FALSE;
		if(*link != NULL)
			return TRUE;
		/* Changed between the read and the update (a click, a revocation, a claim): read again */
	}
	return store_fail(error, P2PLINK_STORE_ERROR_BUSY,
		"the link kept changing while it was being redeemed; try again");
}

static gboolean log_click(mongoc_collection_t *clicks, const p2plink_link *l, const p2plink_redeem_request *req,
		p2plink_link_outcome outcome, GError **error) {
	bson_t *doc = p2plink_mongo_click_to_bson(next_click_seq(), l ? l->id : NULL, req, outcome);
	bson_error_t e;
	gboolean ok = mongoc_collection_insert_one(clicks, doc, NULL, NULL, &e);
	if(!ok)
		db_fail(error, &e, "could not log the click");
	bson_destroy(doc);
	return ok;
}

static gboolean mongo_redeem(p2plink_store *store, const p2plink_redeem_request *req,
		p2plink_link_outcome *outcome, p2plink_link **link_out, GError **error) {
	mongo_store *s = store->priv;
	if(req == NULL || req->token_hash == NULL || outcome == NULL)
		return store_fail(error, P2PLINK_STORE_ERROR_INVALID, "redeem needs a token hash and an outcome");
	mongoc_client_t *client = mongoc_client_pool_pop(s->pool);
	mongoc_collection_t *links = coll(s, client, P2PLINK_MONGO_LINKS);
	mongoc_collection_t *clicks = coll(s, client, P2PLINK_MONGO_CLICKS);
	p2plink_link *l = NULL;
	p2plink_link_outcome o = P2PLINK_LINK_UNKNOWN;
	gboolean ok = (req->holder_owner != NULL || req->preview ? redeem_decide_owned(links, req, &o, &l, error) :
		redeem_decide(links, req, &o, &l, error)) &&
		log_click(clicks, l, req, req->preview ? P2PLINK_LINK_PREVIEW : o, error);
	mongoc_collection_destroy(clicks);
	mongoc_collection_destroy(links);
	mongoc_client_pool_push(s->pool, client);
	if(!ok) {
		p2plink_link_free(l);
		return FALSE;
	}
	*outcome = o;
	if(link_out != NULL)
		*link_out = l;
	else
		p2plink_link_free(l);
	return TRUE;
}

static GPtrArray *mongo_list_clicks(p2plink_store *store, const char *link_id, guint offset, guint limit,
		guint64 *total, GError **error) {
	mongo_store *s = store->priv;
	GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify)p2plink_click_free);
	mongoc_client_t *client = mongoc_client_pool_pop(s->pool);
	mongoc_collection_t *clicks = coll(s, client, P2PLINK_MONGO_CLICKS);
	gboolean ok = total == NULL ||
		count(clicks, p2plink_mongo_clicks_filter(link_id), total, "could not count clicks", error);
	ok = ok && collect(clicks, p2plink_mongo_clicks_filter(link_id), p2plink_mongo_clicks_opts(offset, limit),
		rows, click_row, "could not list clicks", error);
	mongoc_collection_destroy(clicks);
	mongoc_client_pool_push(s->pool, client);
	if(!ok) {
		g_ptr_array_unref(rows);
		return NULL;
	}
	return rows;
}

static gboolean stats_clicks(mongoc_collection_t *clicks, p2plink_store_stats *st, GError **error) {
	bson_t *pipeline = p2plink_mongo_clicks_by_outcome_pipeline();
	mongoc_cursor_t *cursor = mongoc_collection_aggregate(clicks, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
	const bson_t *doc = NULL;
	bson_error_t e;
	gboolean ok = TRUE;
	while(mongoc_cursor_next(cursor, &doc)) {
		bson_iter_t it;
		p2plink_link_outcome o;
		if(bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it) &&
				p2plink_link_outcome_from_code(bson_iter_utf8(&it, NULL), &o))
			st->clicks[o] = (guint64)reply_int(doc, "n");
	}
	if(mongoc_cursor_error(cursor, &e))
		ok = db_fail(error, &e, "could not count clicks");
	mongoc_cursor_destroy(cursor);
	bson_destroy(pipeline);
	return ok;
}

static gboolean mongo_stats(p2plink_store *store, gint64 now, p2plink_store_stats *stats, GError **error) {
	mongo_store *s = store->priv;
	if(stats == NULL)
		return store_fail(error, P2PLINK_STORE_ERROR_INVALID, "no stats buffer given");
	memset(stats, 0, sizeof(*stats));
	mongoc_client_t *client = mongoc_client_pool_pop(s->pool);
	mongoc_collection_t *links = coll(s, client, P2PLINK_MONGO_LINKS);
	mongoc_collection_t *clicks = coll(s, client, P2PLINK_MONGO_CLICKS);
	gboolean ok = count(links, bson_new(), &stats->links_total, "could not count links", error) &&
		count(links, p2plink_mongo_active_filter(NULL, now, NULL, FALSE), &stats->links_active, "could not count links",
			error) &&
		stats_clicks(clicks, stats, error);
	mongoc_collection_destroy(clicks);
	mongoc_collection_destroy(links);
	mongoc_client_pool_push(s->pool, client);
	return ok;
}

/* ---- Open and close ---- */

/* Run one admin-ish command on the database; reply error code in *code */
static gboolean run_command(mongoc_client_t *client, const char *db, bson_t *cmd, bson_error_t *e) {
	bson_t reply;
	gboolean ok = mongoc_client_write_command_with_opts(client, db, cmd, NULL, &reply, e);
	bson_destroy(&reply);
	bson_destroy(cmd);
	return ok;
}

#define INDEX_OPTIONS_CONFLICT 85

static gboolean ensure_indexes(mongoc_client_t *client, const char *db, guint32 retention_s,
		guint32 click_retention_s, GError **error) {
	bson_error_t e;
	gboolean ok = run_command(client, db, p2plink_mongo_links_indexes_command(retention_s), &e);
	if(!ok && e.code == INDEX_OPTIONS_CONFLICT) {
		/* The TTL index exists with another retention: change it in place */
		ok = run_command(client, db, p2plink_mongo_ttl_collmod_command(P2PLINK_MONGO_LINKS, P2PLINK_MONGO_TTL_INDEX,
			retention_s), &e) && run_command(client, db, p2plink_mongo_links_indexes_command(retention_s), &e);
	}
	if(!ok)
		return db_fail(error, &e, "could not create the link indexes");
	ok = run_command(client, db, p2plink_mongo_clicks_indexes_command(click_retention_s), &e);
	if(!ok && e.code == INDEX_OPTIONS_CONFLICT) {
		ok = run_command(client, db, p2plink_mongo_ttl_collmod_command(P2PLINK_MONGO_CLICKS,
			P2PLINK_MONGO_CLICK_TTL_INDEX, click_retention_s), &e) &&
			run_command(client, db, p2plink_mongo_clicks_indexes_command(click_retention_s), &e);
	}
	if(!ok)
		return db_fail(error, &e, "could not create the click-log indexes");
	return TRUE;
}

/* Links made by peers before links were owned: withdrawn (see p2plink_mongo_unowned_peer_links_update()) */
static gboolean withdraw_unowned_peer_links(mongoc_client_t *client, const char *db, GError **error) {
	mongoc_collection_t *links = mongoc_client_get_collection(client, db, P2PLINK_MONGO_LINKS);
	bson_t *filter = p2plink_mongo_unowned_peer_links_filter();
	bson_t *update = p2plink_mongo_unowned_peer_links_update(g_get_real_time());
	bson_error_t e;
	gboolean ok = mongoc_collection_update_many(links, filter, update, NULL, NULL, &e);
	if(!ok)
		db_fail(error, &e, "could not withdraw the links made before links were owned");
	bson_destroy(update);
	bson_destroy(filter);
	mongoc_collection_destroy(links);
	return ok;
}

/* MongoDB database names: 1..63 bytes, none of these characters */
static gboolean database_name_ok(const char *name) {
	if(name == NULL || *name == '\0' || strlen(name) > 63)
		return FALSE;
	return strpbrk(name, "/\\. \"$*<>:|?") == NULL;
}

static void uri_default_int(mongoc_uri_t *uri, const char *key, guint forced, gint32 fallback) {
	if(forced > 0)
		mongoc_uri_set_option_as_int32(uri, key, (gint32)MIN(forced, (guint)G_MAXINT32));
	else if(!mongoc_uri_has_option(uri, key))
		mongoc_uri_set_option_as_int32(uri, key, fallback);
}

static mongoc_uri_t *make_uri(const p2plink_store_mongo_options *options, GError **error) {
	bson_error_t e;
	mongoc_uri_t *uri = mongoc_uri_new_with_error(options->uri, &e);
	if(uri == NULL) {
		g_set_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_INVALID,
			"the MongoDB URI is not usable: %s", e.message);
		return NULL;
	}
	uri_default_int(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, options->timeout_ms, P2PLINK_MONGO_DEFAULT_TIMEOUT_MS);
	uri_default_int(uri, MONGOC_URI_CONNECTTIMEOUTMS, options->timeout_ms, P2PLINK_MONGO_DEFAULT_TIMEOUT_MS);
	uri_default_int(uri, MONGOC_URI_SOCKETTIMEOUTMS, 0, SOCKET_TIMEOUT_MS);
	return uri;
}

static void mongo_free(mongo_store *s) {
	if(s->pool != NULL)
		mongoc_client_pool_destroy(s->pool);
	g_free(s->database);
	g_free(s);
}

static void mongo_close(p2plink_store *store) {
	mongo_free(store->priv);
	g_free(store);
}

p2plink_store *p2plink_store_mongo_open(const p2plink_store_mongo_options *options, GError **error) {
	if(options == NULL || options->uri == NULL || *options->uri == '\0') {
		store_fail(error, P2PLINK_STORE_ERROR_INVALID, "no MongoDB URI configured for the link store");
		return NULL;
	}
	if(!database_name_ok(options->database)) {
		g_set_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_INVALID,
			"\"%s\" cannot be a MongoDB database name (1 to 63 characters, none of /\\. \"$*<>:|?)",
			options->database ? options->database : "");
		return NULL;
	}
	mongo_global_init();
	mongoc_uri_t *uri = make_uri(options, error);
	if(uri == NULL)
		return NULL;
	mongo_store *s = g_new0(mongo_store, 1);
	s->database = g_strdup(options->database);
	bson_error_t e;
	s->pool = mongoc_client_pool_new_with_error(uri, &e);
	mongoc_uri_destroy(uri);
	if(s->pool == NULL) {
		g_set_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_INVALID,
			"the MongoDB URI is not usable: %s", e.message);
		mongo_free(s);
		return NULL;
	}
	mongoc_client_pool_set_error_api(s->pool, MONGOC_ERROR_API_VERSION_2);
	mongoc_client_pool_set_appname(s->pool, "p2plink");
	mongoc_client_t *client = mongoc_client_pool_pop(s->pool);
	guint32 retention = options->expired_retention_s ? options->expired_retention_s : P2PLINK_MONGO_DEFAULT_RETENTION_S;
	guint32 click_retention = options->click_retention_s ? options->click_retention_s :
		P2PLINK_MONGO_DEFAULT_CLICK_RETENTION_S;
	gboolean ok = ensure_indexes(client, s->database, retention, click_retention, error) &&
		withdraw_unowned_peer_links(client, s->database, error);
	mongoc_client_pool_push(s->pool, client);
	if(!ok) {
		mongo_free(s);
		return NULL;
	}
	p2plink_store *store = g_new0(p2plink_store, 1);
	store->ops = &mongo_ops;
	store->priv = s;
	return store;
}

static const p2plink_store_ops mongo_ops = {
	.name = "mongodb",
	.close = mongo_close,
	.create_link = mongo_create_link,
	.get_link = mongo_get_link,
	.list_links = mongo_list_links,
	.revoke_link = mongo_revoke_link,
	.delete_link = mongo_delete_link,
	.redeem = mongo_redeem,
	.list_clicks = mongo_list_clicks,
	.stats = mongo_stats,
};
