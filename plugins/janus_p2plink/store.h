/*! \file    store.h
 * \brief   p2plink link store: one interface, several backends
 * \details The persistence contract for share links and their click log.
 * A store is a vtable (p2plink_store_ops) plus backend-private state; the
 * SQLite backend lives in store_sqlite.c, the MongoDB one in store_mongo.c.
 * The p2plink_store_* inline wrappers below are what callers use.
 *
 * What this file is NOT for: link rules (links.h decides outcomes; every
 * backend calls p2plink_link_check() so the rules exist once), Janus glue,
 * scheduling. The API is synchronous and may block on disk or network:
 * call it from a worker thread, never from the routing/event-loop thread.
 *
 * Contract every backend keeps:
 * - Times are microseconds since the Unix epoch, as in links.h. Callers
 *   pass `now` explicitly so tests and clocks stay outside the store.
 * - Links are found by token hash (redeem) or public id (management);
 *   the token itself never reaches the store.
 * - p2plink_store_redeem() is ONE atomic operation: rule check, click
 *   increment and click-log append commit together or not at all, so a
 *   link with max_clicks = N is granted exactly N times under any
 *   concurrency, across threads and across store handles on the same data.
 *   Every attempt is logged, unknown tokens included (link_id NULL).
 *   MongoDB without transactions: the grant decision and the increment
 *   are one findAndModify, the log append is a second write right after
 *   (if the server is lost in between, the click counts but is not logged
 *   and redeem fails: never a grant too many; see store_mongo.c).
 * - "Active" (stats, per-owner limit) means: not revoked, not
 *   expired at `now`, and not exhausted; the IP whitelist does not matter.
 * - Links are owned (links.h, p2plink_link.owner): listing, revoking and the
 *   creation limit work by owner hash, never by the id string. When the
 *   request names the target's current holder (holder_owner), redemption
 *   grants only if that holder owns the link, or claims an unclaimed link for
 *   that holder, in the same atomic step; otherwise the outcome is
 *   "not-online" and no click is used (see p2plink_link_check_owner()).
 * - A preview (req->preview) runs the same checks, never counts, never
 *   claims, and is logged with outcome "preview".
 * - Bounded: prune() deletes links revoked or expired longer than a
 *   retention ago (with their clicks) and click rows older than the click
 *   retention, a bounded batch per call.
 * - Functions returning a pointer or gboolean report failure with a GError
 *   in P2PLINK_STORE_ERROR; a missing link is P2PLINK_STORE_ERROR_NOT_FOUND.
 * - Returned links/clicks are owned by the caller (p2plink_link_free,
 *   p2plink_click_free; GPtrArrays come with their free function set).
 * - Threading: each backend documents it; the SQLite one allows several
 *   threads to share one handle (serialised by a mutex) and several
 *   handles on the same file (serialised by SQLite's locks); the MongoDB
 *   one has a client pool, so threads share a handle and run in parallel.
 *
 * \author  p2plink
 */

#ifndef P2PLINK_STORE_H
#define P2PLINK_STORE_H

#include <glib.h>

#include "counters.h"
#include "links.h"

#define P2PLINK_STORE_ERROR (p2plink_store_error_quark())
GQuark p2plink_store_error_quark(void);

typedef enum p2plink_store_error {
	P2PLINK_STORE_ERROR_IO,		/* "store-unavailable": cannot open/read/write the storage */
	P2PLINK_STORE_ERROR_READONLY,	/* "store-read-only": storage refuses writes */
	P2PLINK_STORE_ERROR_BUSY,	/* "store-busy": lock/timeout, worth retrying */
	P2PLINK_STORE_ERROR_SCHEMA,	/* "store-schema": data written by a newer/unknown version */
	P2PLINK_STORE_ERROR_NOT_FOUND,	/* "not-found": no such link (or not yours) */
	P2PLINK_STORE_ERROR_EXISTS,	/* "exists": id or token hash already taken */
	P2PLINK_STORE_ERROR_LIMIT,	/* "limit": creator already has the maximum of active links */
	P2PLINK_STORE_ERROR_INVALID,	/* "invalid": bad argument from the caller */
	P2PLINK_STORE_ERROR_INTERNAL,	/* "store-internal": anything else */
} p2plink_store_error;

/* Stable machine code for a P2PLINK_STORE_ERROR code */
const char *p2plink_store_error_code(int code);

/* List sizes: 0 asks for the default, larger values are clamped */
#define P2PLINK_STORE_DEFAULT_LIMIT 100
#define P2PLINK_STORE_MAX_LIMIT 1000
/* Effective page size for a requested limit */
guint p2plink_store_page_size(guint limit);

typedef struct p2plink_link_filter {
	const char *target;		/* only links to this peer; NULL = any */
	const char *creator;		/* only links by this creator; NULL = any */
	gboolean include_revoked;	/* revoked links are hidden unless TRUE */
	guint offset;
	guint limit;			/* see p2plink_store_page_size() */
	const char *owner;		/* only links owned by this owner hash; NULL = any */
} p2plink_link_filter;

typedef struct p2plink_redeem_request {
	const char *token_hash;	/* p2plink_token_hash() of what the visitor sent */
	gint64 now;		/* us since epoch */
	const char *client_ip;	/* attested by the transport; NULL if none */
	const char *user_agent;	/* stored cleaned (p2plink_user_agent_clean); may be NULL */
	/* The owner of whoever holds a target id now (g_malloc'd, NULL = nobody), asked inside the atomic step once
	 * the link (and so its target) is known. NULL function: the owner rule is not applied (store tests, tools). */
	char *(*holder_owner)(const char *target, void *data);
	void *holder_data;
	gboolean preview;	/* a peek: check only, log as "preview" */
	gboolean private_ip;	/* log p2plink_ip_truncate(client_ip) instead of the address */
} p2plink_redeem_request;

typedef struct p2plink_prune_policy {
	gint64 link_retention;		/* us a revoked or expired link is kept; <= 0: never pruned */
	gint64 click_retention;		/* us a click row is kept; <= 0: never pruned */
	guint batch;			/* rows deleted per call at most (links and clicks each); 0 = 500 */
} p2plink_prune_policy;

typedef struct p2plink_store_stats {
	guint64 links_total;
	guint64 links_active;
	guint64 clicks[P2PLINK_LINK_OUTCOME_COUNT];	/* indexed by p2plink_link_outcome */
} p2plink_store_stats;

typedef struct p2plink_store p2plink_store;

typedef struct p2plink_store_ops {
	const char *name;	/* "sqlite", "mongodb" */
	/* Release everything; the handle is gone afterwards */
	void (*close)(p2plink_store *store);
	/* Insert a new link (clicks and revoked are taken from it as given).
	 * max_active_per_owner > 0: refuse with LIMIT if link->owner already
	 * has that many active links made by peers (creator not "@admin") at
	 * `now` -- checked in the same atomic step as the insert, so racing
	 * creations cannot overshoot. */
	gboolean (*create_link)(p2plink_store *store, const p2plink_link *link,
		gint64 now, guint max_active_per_owner, GError **error);
	p2plink_link *(*get_link)(p2plink_store *store, const char *id, GError **error);
	/* Newest first (created_at, then id, descending). *total (optional)
	 * receives the number of links matching the filter ignoring paging. */
	GPtrArray *(*list_links)(p2plink_store *store, const p2plink_link_filter *filter,
		guint64 *total, GError **error);
	/* owner != NULL: only revoke if the link is owned by it; otherwise
	 * NOT_FOUND (a peer cannot learn that someone else's link exists).
	 * Revoking a revoked link succeeds (idempotent, revoked_at kept). */
	gboolean (*revoke_link)(p2plink_store *store, const char *id, const char *owner, gint64 now, GError **error);
	/* Remove the link and its click-log rows. NOT_FOUND if absent. */
	gboolean (*delete_link)(p2plink_store *store, const char *id, GError **error);
	/* The atomic redemption. On success *outcome is set; *link (optional)
	 * gets the link as it is after this attempt (NULL for unknown tokens). */
	gboolean (*redeem)(p2plink_store *store, const p2plink_redeem_request *req,
		p2plink_link_outcome *outcome, p2plink_link **link, GError **error);
	/* Optional (NULL: not offered). n redemptions as one commit ("group commit"), each checked and counted in
	 * order exactly as redeem would, all or nothing: on FALSE none of them happened. links[i] as redeem's link. */
	gboolean (*redeem_batch)(p2plink_store *store, const p2plink_redeem_request *reqs, guint n,
		p2plink_link_outcome *outcomes, p2plink_link **links, GError **error);
	/* Click log, newest first. link_id NULL = every click, including
	 * attempts with unknown tokens. */
	GPtrArray *(*list_clicks)(p2plink_store *store, const char *link_id, guint offset, guint limit,
		guint64 *total, GError **error);
	gboolean (*stats)(p2plink_store *store, gint64 now, p2plink_store_stats *stats, GError **error);
	/* Optional (NULL: the backend prunes by itself, e.g. MongoDB TTL indexes). One bounded batch: at most
	 * policy->batch links past their retention (revoked_at or expires_at older than now - link_retention) with
	 * their clicks, and at most policy->batch clicks older than now - click_retention. *deleted = rows removed;
	 * call again while it equals the batch size. */
	gboolean (*prune)(p2plink_store *store, gint64 now, const p2plink_prune_policy *policy, guint *deleted,
		GError **error);
} p2plink_store_ops;

struct p2plink_store {
	const p2plink_store_ops *ops;
	void *priv;	/* backend state */
};

/* ---- Backends ---- */

typedef struct p2plink_store_sqlite_options {
	const char *folder;	/* created (0700) if missing; the file is folder/P2PLINK_SQLITE_FILE */
	guint busy_timeout_ms;	/* how long a writer waits for another; 0 = 5000 */
	gboolean exclusive;	/* this handle is the file's only user (the plugin): keep the lock, skip the per-
				 * transaction file locking (PRAGMA locking_mode = EXCLUSIVE) */
} p2plink_store_sqlite_options;

#define P2PLINK_SQLITE_FILE "p2plink.db"
#define P2PLINK_SQLITE_SCHEMA_VERSION 2

/* Open (creating folder, file and schema on first use) a SQLite store */
p2plink_store *p2plink_store_sqlite_open(const p2plink_store_sqlite_options *options, GError **error);

typedef struct p2plink_store_mongo_options {
	const char *uri;		/* mongodb://... (may carry its own options) */
	const char *database;		/* database holding the "links" and "clicks" collections */
	guint timeout_ms;		/* connectTimeoutMS and serverSelectionTimeoutMS: how long a
					 * call waits for an unreachable server before failing with
					 * P2PLINK_STORE_ERROR_IO; 0 = the URI's values, else 2000 */
	guint32 expired_retention_s;	/* the TTL index deletes a link this long after it
					 * expired or was revoked; 0 = P2PLINK_MONGO_DEFAULT_RETENTION_S */
	guint32 click_retention_s;	/* the TTL index deletes a click row this long after it was
					 * logged; 0 = P2PLINK_MONGO_DEFAULT_CLICK_RETENTION_S */
} p2plink_store_mongo_options;

#define P2PLINK_MONGO_DEFAULT_TIMEOUT_MS 2000
#define P2PLINK_MONGO_DEFAULT_RETENTION_S (7 * 24 * 3600)
#define P2PLINK_MONGO_DEFAULT_CLICK_RETENTION_S (30 * 24 * 3600)

/* Open a MongoDB store: connects, creates the indexes (see store_mongo.c).
 * An unreachable server is P2PLINK_STORE_ERROR_IO after timeout_ms; a bad
 * URI or database name is P2PLINK_STORE_ERROR_INVALID. Once open, calls
 * fail with P2PLINK_STORE_ERROR_IO while the server is away and work
 * again when it is back. */
p2plink_store *p2plink_store_mongo_open(const p2plink_store_mongo_options *options, GError **error);
/* Release libmongoc's process-wide state. Call once, at process (plugin)
 * exit, after every MongoDB store is closed; no MongoDB store may be
 * opened afterwards. Harmless if none was ever opened. */
void p2plink_store_mongo_shutdown(void);

/* ---- Call-site wrappers ---- */

/* Every store call is timed for the store latency histogram (counters.h: two clock reads and relaxed adds, next
 * to a database round trip) */
#define P2PLINK_STORE_TIMED(call) ({ \
	gint64 p2plink_store_t0_ = g_get_monotonic_time(); \
	__typeof__(call) p2plink_store_r_ = (call); \
	p2plink_counters_store_call(g_get_monotonic_time() - p2plink_store_t0_); \
	p2plink_store_r_; })

static inline void p2plink_store_close(p2plink_store *store) {
	if(store != NULL)
		store->ops->close(store);
}
static inline gboolean p2plink_store_create_link(p2plink_store *store, const p2plink_link *link,
		gint64 now, guint max_active_per_owner, GError **error) {
	return P2PLINK_STORE_TIMED(store->ops->create_link(store, link, now, max_active_per_owner, error));
}
static inline p2plink_link *p2plink_store_get_link(p2plink_store *store, const char *id, GError **error) {
	return P2PLINK_STORE_TIMED(store->ops->get_link(store, id, error));
}
static inline GPtrArray *p2plink_store_list_links(p2plink_store *store, const p2plink_link_filter *filter,
		guint64 *total, GError **error) {
	return P2PLINK_STORE_TIMED(store->ops->list_links(store, filter, total, error));
}
static inline gboolean p2plink_store_revoke_link(p2plink_store *store, const char *id, const char *owner, gint64 now,
		GError **error) {
	return P2PLINK_STORE_TIMED(store->ops->revoke_link(store, id, owner, now, error));
}
static inline gboolean p2plink_store_delete_link(p2plink_store *store, const char *id, GError **error) {
	return P2PLINK_STORE_TIMED(store->ops->delete_link(store, id, error));
}
static inline gboolean p2plink_store_redeem(p2plink_store *store, const p2plink_redeem_request *req,
		p2plink_link_outcome *outcome, p2plink_link **link, GError **error) {
	return P2PLINK_STORE_TIMED(store->ops->redeem(store, req, outcome, link, error));
}
static inline gboolean p2plink_store_can_batch(p2plink_store *store) {
	return store->ops->redeem_batch != NULL;
}
static inline gboolean p2plink_store_redeem_batch(p2plink_store *store, const p2plink_redeem_request *reqs, guint n,
		p2plink_link_outcome *outcomes, p2plink_link **links, GError **error) {
	return P2PLINK_STORE_TIMED(store->ops->redeem_batch(store, reqs, n, outcomes, links, error));
}
static inline GPtrArray *p2plink_store_list_clicks(p2plink_store *store, const char *link_id,
		guint offset, guint limit, guint64 *total, GError **error) {
	return P2PLINK_STORE_TIMED(store->ops->list_clicks(store, link_id, offset, limit, total, error));
}
static inline gboolean p2plink_store_stats_get(p2plink_store *store, gint64 now, p2plink_store_stats *stats, GError **error) {
	return P2PLINK_STORE_TIMED(store->ops->stats(store, now, stats, error));
}
static inline gboolean p2plink_store_can_prune(p2plink_store *store) {
	return store->ops->prune != NULL;
}
static inline gboolean p2plink_store_prune(p2plink_store *store, gint64 now, const p2plink_prune_policy *policy,
		guint *deleted, GError **error) {
	return P2PLINK_STORE_TIMED(store->ops->prune(store, now, policy, deleted, error));
}

#endif
