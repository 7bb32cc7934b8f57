/*! \file    store_sqlite.c
 * \brief   p2plink link store: SQLite backend (the embedded default)
 * \details Implements store.h on one SQLite file, folder/p2plink.db:
 * - created with its folder (0700) on first open; WAL journal, synchronous
 *   NORMAL (a killed process loses nothing that was committed; a power cut
 *   may lose the last commits but never corrupts), busy_timeout so
 *   writers queue instead of failing;
 * - schema versioned with PRAGMA user_version, upgraded by the steps in
 *   `migrations` inside one BEGIN IMMEDIATE, so two processes opening a
 *   fresh file at once cannot both migrate;
 * - every statement prepared once at open;
 * - bounded: prune() deletes, one batch per call, links revoked or expired
 *   longer than the retention ago together with their clicks, and click
 *   rows older than the click retention (the plugin's link worker calls it
 *   between requests; each batch is its own short write transaction so
 *   redemptions never wait behind a giant delete);
 * - redemption is SELECT + rule check + UPDATE + INSERT inside one
 *   BEGIN IMMEDIATE transaction: the write lock is taken before the link is
 *   read, so no other connection can slip a click in between.
 *
 * Threading: a handle owns one connection and a mutex; any number of
 * threads may share a handle (calls are serialised). Several handles may
 * be open on the same file in one or more processes; SQLite's file locks
 * plus busy_timeout serialise their writers. Never call from the routing
 * thread: calls block on disk and on other writers.
 *
 * Not for: link rules (links.c), Janus glue, MongoDB (store_mongo.c).
 *
 * \author  p2plink
 */

#include <errno.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"

/* ---- Schema ---- */

/* migrations[v] upgrades a database from user_version v to v + 1.
 * Append new steps; never edit a step that has shipped. */
static const char *const migrations[P2PLINK_SQLITE_SCHEMA_VERSION] = {
	/* 0 -> 1: initial schema */
	"CREATE TABLE links ("
	"  id TEXT PRIMARY KEY,"
	"  token_hash TEXT NOT NULL UNIQUE,"
	"  target TEXT NOT NULL,"
	"  purpose TEXT NOT NULL,"
	"  creator TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"	/* us since epoch */
	"  expires_at INTEGER NOT NULL,"	/* us since epoch, 0 = never */
	"  max_clicks INTEGER NOT NULL,"	/* 0 = unlimited */
	"  clicks INTEGER NOT NULL DEFAULT 0,"
	"  whitelist TEXT NOT NULL DEFAULT '[]',"	/* JSON array of canonical CIDR strings */
	"  revoked INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX links_by_target ON links(target, created_at);"
	"CREATE INDEX links_by_creator ON links(creator, created_at);"
	"CREATE INDEX links_by_created ON links(created_at);"
	"CREATE TABLE clicks ("
	"  id INTEGER PRIMARY KEY,"
	"  link_id TEXT,"			/* NULL: the token matched no link */
	"  at INTEGER NOT NULL,"		/* us since epoch */
	"  ip TEXT,"
	"  user_agent TEXT,"
	"  outcome TEXT NOT NULL"		/* p2plink_link_outcome_code() */
	");"
	"CREATE INDEX clicks_by_link ON clicks(link_id, id);"
	"CREATE INDEX clicks_by_outcome ON clicks(outcome);",
	/* 1 -> 2: links are owned (hex SHA-256 of the PeerJS token of whom they reach), revocation time for the
	 * retention, indexes for pruning. A v1 link made by a peer recorded only an id string, which anyone may hold
	 * later: it cannot be given to the right person, so it is revoked (it answers "revoked", and is pruned after
	 * the retention). A v1 admin link stays unclaimed: the first holder of its target at a redemption claims it,
	 * exactly as an admin link created while its target was offline. */
	"ALTER TABLE links ADD COLUMN owner TEXT;"
	"ALTER TABLE links ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;"
	"UPDATE links SET revoked = 1 WHERE creator <> '@admin';"
	"UPDATE links SET revoked_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000000 WHERE revoked = 1;"
	"CREATE INDEX links_by_owner ON links(owner, created_at);"
	"CREATE INDEX links_by_expiry ON links(expires_at);"
	"CREATE INDEX links_by_revoked_at ON links(revoked_at);"
	"CREATE INDEX clicks_by_at ON clicks(at);",
};

/* ---- Prepared statements ---- */

#define LINK_COLS "id, token_hash, target, purpose, creator, created_at, expires_at, " \
	"max_clicks, clicks, whitelist, revoked, owner, revoked_at"
#define ACTIVE "revoked = 0 AND (expires_at = 0 OR expires_at > ?2) AND (max_clicks = 0 OR clicks < max_clicks)"
#define LIST_WHERE "(?1 IS NULL OR target = ?1) AND (?2 IS NULL OR creator = ?2) AND (?3 OR revoked = 0) " \
	"AND (?6 IS NULL OR owner = ?6)"
#define CLICK_COLS "id, link_id, at, ip, user_agent, outcome"

typedef enum stmt_id {
	ST_BEGIN, ST_BEGIN_IMMEDIATE, ST_COMMIT, ST_ROLLBACK,
	ST_INSERT_LINK, ST_GET_BY_HASH, ST_GET_BY_ID, ST_LIST, ST_LIST_COUNT,
	ST_REVOKE, ST_DELETE_LINK, ST_DELETE_CLICKS, ST_ADD_CLICK, ST_INSERT_CLICK,
	ST_CLICKS_OF_LINK, ST_CLICKS_ALL, ST_COUNT_CLICKS_OF_LINK, ST_COUNT_CLICKS_ALL,
	ST_STATS_LINKS, ST_STATS_CLICKS, ST_COUNT_PEER_MADE_BY_OWNER,
	ST_PRUNE_LINK_IDS, ST_PRUNE_CLICKS,
	ST_COUNT
} stmt_id;

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN",
	[ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_INSERT_LINK] = "INSERT INTO links (" LINK_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[ST_GET_BY_HASH] = "SELECT " LINK_COLS " FROM links WHERE token_hash = ?1",
	[ST_GET_BY_ID] = "SELECT " LINK_COLS " FROM links WHERE id = ?1",
	[ST_LIST] = "SELECT " LINK_COLS " FROM links WHERE " LIST_WHERE
		" ORDER BY created_at DESC, id DESC LIMIT ?4 OFFSET ?5",
	[ST_LIST_COUNT] = "SELECT COUNT(*) FROM links WHERE " LIST_WHERE,
	[ST_REVOKE] = "UPDATE links SET revoked_at = CASE WHEN revoked = 1 THEN revoked_at ELSE ?3 END, revoked = 1 "
		"WHERE id = ?1 AND (?2 IS NULL OR owner = ?2)",
	[ST_DELETE_LINK] = "DELETE FROM links WHERE id = ?1",
	[ST_DELETE_CLICKS] = "DELETE FROM clicks WHERE link_id = ?1",
	/* An unclaimed link is claimed by the holder that was checked in this transaction */
	[ST_ADD_CLICK] = "UPDATE links SET clicks = clicks + 1, owner = COALESCE(owner, ?2) WHERE id = ?1",
	[ST_INSERT_CLICK] = "INSERT INTO clicks (link_id, at, ip, user_agent, outcome) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_CLICKS_OF_LINK] = "SELECT " CLICK_COLS " FROM clicks WHERE link_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
	[ST_CLICKS_ALL] = "SELECT " CLICK_COLS " FROM clicks ORDER BY id DESC LIMIT ?2 OFFSET ?3",
	[ST_COUNT_CLICKS_OF_LINK] = "SELECT COUNT(*) FROM clicks WHERE link_id = ?1",
	[ST_COUNT_CLICKS_ALL] = "SELECT COUNT(*) FROM clicks",
	[ST_STATS_LINKS] = "SELECT COUNT(*), COALESCE(SUM(" ACTIVE "), 0) FROM links",
	[ST_STATS_CLICKS] = "SELECT outcome, COUNT(*) FROM clicks GROUP BY outcome",
	[ST_COUNT_PEER_MADE_BY_OWNER] = "SELECT COUNT(*) FROM links WHERE owner = ?1 AND creator <> '" P2PLINK_CREATOR_ADMIN
		"' AND " ACTIVE,
	/* Two index ranges (links_by_revoked_at, links_by_expiry); bounded by ?2 */
	[ST_PRUNE_LINK_IDS] = "SELECT id FROM links WHERE (revoked_at > 0 AND revoked_at < ?1) "
		"OR (expires_at > 0 AND expires_at < ?1) LIMIT ?2",
	[ST_PRUNE_CLICKS] = "DELETE FROM clicks WHERE id IN (SELECT id FROM clicks WHERE at < ?1 ORDER BY at LIMIT ?2)",
};

typedef struct sqlite_store {
	GMutex lock;		/* serialises use of db and stmt */
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_COUNT];
} sqlite_store;

static const p2plink_store_ops sqlite_ops;

/* ---- Errors ---- */

static int error_code_for(int rc) {
	switch(rc & 0xff) {
		case SQLITE_READONLY: return P2PLINK_STORE_ERROR_READONLY;
		case SQLITE_BUSY:
		case SQLITE_LOCKED: return P2PLINK_STORE_ERROR_BUSY;
		case SQLITE_CONSTRAINT: return P2PLINK_STORE_ERROR_EXISTS;
		case SQLITE_CANTOPEN:
		case SQLITE_IOERR:
		case SQLITE_FULL:
		case SQLITE_NOTADB:
		case SQLITE_CORRUPT:
		case SQLITE_PERM:
		case SQLITE_AUTH: return P2PLINK_STORE_ERROR_IO;
		default: return P2PLINK_STORE_ERROR_INTERNAL;
	}
}

/* Sentence = what we tried + SQLite's own words */
static gboolean db_fail(GError **error, sqlite3 *db, int rc, const char *what) {
	const char *detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	g_set_error(error, P2PLINK_STORE_ERROR, error_code_for(rc), "%s: %s", what, detail);
	return FALSE;
}

static gboolean store_fail(GError **error, int code, const char *msg) {
	g_set_error_literal(error, P2PLINK_STORE_ERROR, code, msg);
	return FALSE;
}

/* ---- Statement helpers (caller holds the lock) ---- */

/* A clean statement: previous run reset and bindings cleared */
static sqlite3_stmt *stmt(sqlite_store *s, stmt_id id) {
	sqlite3_stmt *q = s->stmt[id];
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return q;
}

static void bind_text(sqlite3_stmt *q, int i, const char *v) {
	if(v == NULL)
		sqlite3_bind_null(q, i);
	else
		sqlite3_bind_text(q, i, v, -1, SQLITE_TRANSIENT);
}

/* Run a statement that returns no rows. Reset right away: a statement left
 * mid-step would keep a read transaction open. */
static gboolean run(sqlite_store *s, sqlite3_stmt *q, const char *what, GError **error) {
	int rc = sqlite3_step(q);
	if(rc != SQLITE_DONE) {
		db_fail(error, s->db, rc, what);
		sqlite3_reset(q);
		return FALSE;
	}
	sqlite3_reset(q);
	return TRUE;
}

/* Run a statement that returns one integer row */
static gboolean run_count(sqlite_store *s, sqlite3_stmt *q, guint64 *out, const char *what, GError **error) {
	int rc = sqlite3_step(q);
	if(rc != SQLITE_ROW) {
		db_fail(error, s->db, rc, what);
		sqlite3_reset(q);
		return FALSE;
	}
	*out = (guint64)sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return TRUE;
}

static gboolean tx_begin(sqlite_store *s, gboolean write, GError **error) {
	return run(s, stmt(s, write ? ST_BEGIN_IMMEDIATE : ST_BEGIN), "could not start a transaction", error);
}

static gboolean tx_commit(sqlite_store *s, GError **error) {
	return run(s, stmt(s, ST_COMMIT), "could not commit", error);
}

/* Best effort: after a failed step SQLite may already have rolled back */
static void tx_rollback(sqlite_store *s) {
	if(!sqlite3_get_autocommit(s->db))
		run(s, stmt(s, ST_ROLLBACK), "rollback", NULL);
}

/* End of a list read started with g_mutex_lock + tx_begin: commit (or roll back), unlock, and hand back the rows,
 * or NULL if any step failed */
static GPtrArray *end_list(sqlite_store *s, gboolean ok, GPtrArray *rows, GError **error) {
	ok = ok && tx_commit(s, error);
	if(!ok)
		tx_rollback(s);
	g_mutex_unlock(&s->lock);
	if(!ok) {
		g_ptr_array_unref(rows);
		return NULL;
	}
	return rows;
}

/* ---- Row mapping ---- */

static char *col_text(sqlite3_stmt *q, int i) {
	return g_strdup((const char *)sqlite3_column_text(q, i));
}

/* The whitelist column is a JSON array. If it is ever unreadable, fail
 * closed: an entry that parses as nothing denies every address. */
static gchar **whitelist_from_text(const char *text) {
	json_t *arr = text ? json_loads(text, 0, NULL) : NULL;
	if(!json_is_array(arr)) {
		json_decref(arr);
		return g_strsplit("unreadable-whitelist", ",", -1);
	}
	if(json_array_size(arr) == 0) {
		json_decref(arr);
		return NULL;
	}
	gchar **wl = g_new0(gchar *, json_array_size(arr) + 1);
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		wl[i] = g_strdup(json_is_string(v) ? json_string_value(v) : "unreadable-whitelist");
	json_decref(arr);
	return wl;
}

static char *whitelist_to_text(gchar **wl) {
	json_t *arr = json_array();
	for(guint i = 0; wl != NULL && wl[i] != NULL; i++)
		json_array_append_new(arr, json_string(wl[i]));
	char *text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return text;
}

static p2plink_link *link_from_row(sqlite3_stmt *q) {
	p2plink_link *l = p2plink_link_new();
	l->id = col_text(q, 0);
	l->token_hash = col_text(q, 1);
	l->target = col_text(q, 2);
	l->purpose = col_text(q, 3);
	l->creator = col_text(q, 4);
	l->created_at = sqlite3_column_int64(q, 5);
	l->expires_at = sqlite3_column_int64(q, 6);
	l->max_clicks = (guint32)sqlite3_column_int64(q, 7);
	l->clicks = (guint32)sqlite3_column_int64(q, 8);
	l->whitelist = whitelist_from_text((const char *)sqlite3_column_text(q, 9));
	l->revoked = sqlite3_column_int(q, 10) != 0;
	l->owner = col_text(q, 11);
	l->revoked_at = sqlite3_column_int64(q, 12);
	return l;
}

static p2plink_click *click_from_row(sqlite3_stmt *q) {
	p2plink_click *c = g_new0(p2plink_click, 1);
	c->id = sqlite3_column_int64(q, 0);
	c->link_id = col_text(q, 1);
	c->at = sqlite3_column_int64(q, 2);
	c->client_ip = col_text(q, 3);
	c->user_agent = col_text(q, 4);
	if(!p2plink_link_outcome_from_code((const char *)sqlite3_column_text(q, 5), &c->outcome))
		c->outcome = P2PLINK_LINK_UNKNOWN;
	return c;
}

/* Row mappers for collect() */
static gpointer link_row(sqlite3_stmt *q) {
	return link_from_row(q);
}

static gpointer click_row(sqlite3_stmt *q) {
	return click_from_row(q);
}

/* Fetch zero or one link by key. TRUE with *out == NULL means "no such link". */
static gboolean fetch_link(sqlite_store *s, stmt_id id, const char *key, p2plink_link **out, GError **error) {
	sqlite3_stmt *q = stmt(s, id);
	bind_text(q, 1, key);
	int rc = sqlite3_step(q);
	*out = NULL;
	if(rc == SQLITE_ROW)
		*out = link_from_row(q);
	else if(rc != SQLITE_DONE)
		db_fail(error, s->db, rc, "could not read the link");
	sqlite3_reset(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

/* Step through a SELECT, mapping each row into `rows` */
static gboolean collect(sqlite_store *s, sqlite3_stmt *q, GPtrArray *rows,
		gpointer (*map)(sqlite3_stmt *q), const char *what, GError **error) {
	int rc;
	while((rc = sqlite3_step(q)) == SQLITE_ROW)
		g_ptr_array_add(rows, map(q));
	sqlite3_reset(q);
	if(rc != SQLITE_DONE)
		return db_fail(error, s->db, rc, what);
	return TRUE;
}

/* ---- Operations ---- */

static gboolean link_fields_ok(const p2plink_link *l, GError **error) {
	if(l == NULL || l->id == NULL || l->token_hash == NULL || l->target == NULL ||
			l->purpose == NULL || l->creator == NULL)
		return store_fail(error, P2PLINK_STORE_ERROR_INVALID, "a link needs id, token_hash, target, purpose and creator");
	return TRUE;
}

/* Inside the write transaction of create_link */
static gboolean owner_under_limit(sqlite_store *s, const p2plink_link *l, gint64 now, guint max, GError **error) {
	guint64 active = 0;
	if(l->owner == NULL)
		return TRUE;
	sqlite3_stmt *q = stmt(s, ST_COUNT_PEER_MADE_BY_OWNER);
	bind_text(q, 1, l->owner);
	sqlite3_bind_int64(q, 2, now);
	if(!run_count(s, q, &active, "could not count links", error))
		return FALSE;
	if(active >= max) {
		g_set_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_LIMIT,
			"you already have %u active links, the most allowed; revoke one first", max);
		return FALSE;
	}
	return TRUE;
}

static gboolean insert_link(sqlite_store *s, const p2plink_link *l, GError **error) {
	char *wl = whitelist_to_text(l->whitelist);
	sqlite3_stmt *q = stmt(s, ST_INSERT_LINK);
	bind_text(q, 1, l->id);
	bind_text(q, 2, l->token_hash);
	bind_text(q, 3, l->target);
	bind_text(q, 4, l->purpose);
	bind_text(q, 5, l->creator);
	sqlite3_bind_int64(q, 6, l->created_at);
	sqlite3_bind_int64(q, 7, l->expires_at);
	sqlite3_bind_int64(q, 8, l->max_clicks);
	sqlite3_bind_int64(q, 9, l->clicks);
	bind_text(q, 10, wl);
	sqlite3_bind_int(q, 11, l->revoked ? 1 : 0);
	bind_text(q, 12, l->owner);
	sqlite3_bind_int64(q, 13, l->revoked ? l->revoked_at : 0);
	gboolean ok = run(s, q, "could not save the link", error);
	free(wl);	/* json_dumps uses malloc */
	return ok;
}

static gboolean sqlite_create_link(p2plink_store *store, const p2plink_link *link,
		gint64 now, guint max_active_per_owner, GError **error) {
	sqlite_store *s = store->priv;
	if(!link_fields_ok(link, error))
		return FALSE;
	g_mutex_lock(&s->lock);
	gboolean ok = tx_begin(s, TRUE, error) &&
		(max_active_per_owner == 0 || owner_under_limit(s, link, now, max_active_per_owner, error)) &&
		insert_link(s, link, error) &&
		tx_commit(s, error);
	if(!ok)
		tx_rollback(s);
	g_mutex_unlock(&s->lock);
	return ok;
}

static p2plink_link *get_link_common(p2plink_store *store, stmt_id id, const char *key, GError **error) {
	sqlite_store *s = store->priv;
	p2plink_link *l = NULL;
	if(key == NULL) {
		store_fail(error, P2PLINK_STORE_ERROR_INVALID, "no link id or token hash given");
		return NULL;
	}
	g_mutex_lock(&s->lock);
	gboolean ok = fetch_link(s, id, key, &l, error);
	g_mutex_unlock(&s->lock);
	if(ok && l == NULL)
		store_fail(error, P2PLINK_STORE_ERROR_NOT_FOUND, "no such link");
	return l;
}

static p2plink_link *sqlite_get_link(p2plink_store *store, const char *id, GError **error) {
	return get_link_common(store, ST_GET_BY_ID, id, error);
}

static void bind_filter(sqlite3_stmt *q, const p2plink_link_filter *f) {
	bind_text(q, 1, f->target);
	bind_text(q, 2, f->creator);
	sqlite3_bind_int(q, 3, f->include_revoked ? 1 : 0);
	bind_text(q, 6, f->owner);
}

/* Page and total read in one read transaction so they agree */
static GPtrArray *sqlite_list_links(p2plink_store *store, const p2plink_link_filter *filter,
		guint64 *total, GError **error) {
	static const p2plink_link_filter all = { NULL, NULL, FALSE, 0, 0, NULL };
	const p2plink_link_filter *f = filter ? filter : &all;
	sqlite_store *s = store->priv;
	GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify)p2plink_link_free);
	g_mutex_lock(&s->lock);
	gboolean ok = tx_begin(s, FALSE, error);
	if(ok && total != NULL) {
		sqlite3_stmt *q = stmt(s, ST_LIST_COUNT);
		bind_filter(q, f);
		ok = run_count(s, q, total, "could not count links", error);
	}
	if(ok) {
		sqlite3_stmt *q = stmt(s, ST_LIST);
		bind_filter(q, f);
		sqlite3_bind_int64(q, 4, p2plink_store_page_size(f->limit));
		sqlite3_bind_int64(q, 5, f->offset);
		ok = collect(s, q, rows, link_row, "could not list links", error);
	}
	return end_list(s, ok, rows, error);
}

static gboolean sqlite_revoke_link(p2plink_store *store, const char *id, const char *owner, gint64 now,
		GError **error) {
	sqlite_store *s = store->priv;
	if(id == NULL)
		return store_fail(error, P2PLINK_STORE_ERROR_INVALID, "no link id given");
	g_mutex_lock(&s->lock);
	sqlite3_stmt *q = stmt(s, ST_REVOKE);
	bind_text(q, 1, id);
	bind_text(q, 2, owner);
	sqlite3_bind_int64(q, 3, now);
	gboolean ok = run(s, q, "could not revoke the link", error);
	/* changes() counts matched rows even if revoked was already 1 */
	gboolean found = ok && sqlite3_changes(s->db) > 0;
	g_mutex_unlock(&s->lock);
	if(ok && !found)
		return store_fail(error, P2PLINK_STORE_ERROR_NOT_FOUND, "no such link");
	return ok;
}

static gboolean sqlite_delete_link(p2plink_store *store, const char *id, GError **error) {
	sqlite_store *s = store->priv;
	if(id == NULL)
		return store_fail(error, P2PLINK_STORE_ERROR_INVALID, "no link id given");
	g_mutex_lock(&s->lock);
	gboolean found = FALSE;
	gboolean ok = tx_begin(s, TRUE, error);
	if(ok) {
		sqlite3_stmt *q = stmt(s, ST_DELETE_LINK);
		bind_text(q, 1, id);
		ok = run(s, q, "could not delete the link", error);
		found = ok && sqlite3_changes(s->db) > 0;
	}
	if(ok && found) {
		sqlite3_stmt *q = stmt(s, ST_DELETE_CLICKS);
		bind_text(q, 1, id);
		ok = run(s, q, "could not delete the link's clicks", error);
	}
	ok = ok && tx_commit(s, error);
	if(!ok)
		tx_rollback(s);
	g_mutex_unlock(&s->lock);
	if(ok && !found)
		return store_fail(error, P2PLINK_STORE_ERROR_NOT_FOUND, "no such link");
	return ok;
}

static gboolean log_click(sqlite_store *s, const p2plink_link *l, const p2plink_redeem_request *req,
		p2plink_link_outcome outcome, GError **error) {
	char *ua = p2plink_user_agent_clean(req->user_agent);
	char *ip = req->private_ip ? p2plink_ip_truncate(req->client_ip) : NULL;
	sqlite3_stmt *q = stmt(s, ST_INSERT_CLICK);
	bind_text(q, 1, l ? l->id : NULL);
	sqlite3_bind_int64(q, 2, req->now);
	bind_text(q, 3, req->private_ip ? ip : req->client_ip);
	bind_text(q, 4, ua);
	bind_text(q, 5, p2plink_link_outcome_code(outcome));
	gboolean ok = run(s, q, "could not log the click", error);
	g_free(ua);
	g_free(ip);
	return ok;
}

/* Count the click, and claim an unclaimed link for the holder just checked */
static gboolean count_click(sqlite_store *s, p2plink_link *l, const char *holder, GError **error) {
	sqlite3_stmt *q = stmt(s, ST_ADD_CLICK);
	bind_text(q, 1, l->id);
	bind_text(q, 2, holder);
	if(!run(s, q, "could not count the click", error))
		return FALSE;
	l->clicks++;
	if(l->owner == NULL)
		l->owner = g_strdup(holder);
	return TRUE;
}

/* One redemption inside a write transaction the caller holds: rule check on the committed click count, then the
 * count and the click-log row. *l gets the link (NULL for unknown tokens) even when a later step fails. */
static gboolean redeem_locked(sqlite_store *s, const p2plink_redeem_request *req, p2plink_link_outcome *o,
		p2plink_link **l, GError **error) {
	*l = NULL;
	if(!fetch_link(s, ST_GET_BY_HASH, req->token_hash, l, error))
		return FALSE;
	/* The holder is asked under the write lock: the owner compared is the one the click is counted for */
	char *holder = *l != NULL && req->holder_owner != NULL ? req->holder_owner((*l)->target, req->holder_data) : NULL;
	*o = req->holder_owner != NULL ? p2plink_link_check_owner(*l, req->now, req->client_ip, holder) :
		p2plink_link_check(*l, req->now, req->client_ip);
	gboolean counts = *o == P2PLINK_LINK_OK && !req->preview;
	gboolean ok = (!counts || count_click(s, *l, holder, error)) &&
		log_click(s, *l, req, req->preview ? P2PLINK_LINK_PREVIEW : *o, error);
	g_free(holder);
	return ok;
}

/* The atomic redemption: the write lock is held from BEGIN IMMEDIATE, so
 * the rule check sees the committed click count and nobody can change it
 * before our UPDATE and INSERT commit together. */
static gboolean sqlite_redeem(p2plink_store *store, const p2plink_redeem_request *req,
		p2plink_link_outcome *outcome, p2plink_link **link_out, GError **error) {
	if(req == NULL || req->token_hash == NULL || outcome == NULL)
		return store_fail(error, P2PLINK_STORE_ERROR_INVALID, "redeem needs a token hash and an outcome");
	p2plink_link *links[1] = { NULL };
	if(!store->ops->redeem_batch(store, req, 1, outcome, links, error))
		return FALSE;
	if(link_out != NULL)
		*link_out = links[0];
	else
		p2plink_link_free(links[0]);
	return TRUE;
}

/* Group commit: many redemptions, one transaction, one WAL sync. Each one still reads the click count as left by
 * the ones before it in the same transaction, so the exact count holds; a failure rolls all of them back. */
static gboolean sqlite_redeem_batch(p2plink_store *store, const p2plink_redeem_request *reqs, guint n,
		p2plink_link_outcome *outcomes, p2plink_link **links, GError **error) {
	sqlite_store *s = store->priv;
	for(guint i = 0; i < n; i++) {
		links[i] = NULL;
		if(reqs[i].token_hash == NULL)
			return store_fail(error, P2PLINK_STORE_ERROR_INVALID, "redeem needs a token hash");
	}
	g_mutex_lock(&s->lock);
	gboolean ok = tx_begin(s, TRUE, error);
	for(guint i = 0; ok && i < n; i++)
		ok = redeem_locked(s, &reqs[i], &outcomes[i], &links[i], error);
	ok = ok && tx_commit(s, error);
	if(!ok)
		tx_rollback(s);
	g_mutex_unlock(&s->lock);
	if(!ok) {
		for(guint i = 0; i < n; i++)
			g_clear_pointer(&links[i], p2plink_link_free);
	}
	return ok;
}

static GPtrArray *sqlite_list_clicks(p2plink_store *store, const char *link_id, guint offset, guint limit,
		guint64 *total, GError **error) {
	sqlite_store *s = store->priv;
	GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify)p2plink_click_free);
	g_mutex_lock(&s->lock);
	gboolean ok = tx_begin(s, FALSE, error);
	if(ok && total != NULL) {
		sqlite3_stmt *q = stmt(s, link_id ? ST_COUNT_CLICKS_OF_LINK : ST_COUNT_CLICKS_ALL);
		if(link_id)
			bind_text(q, 1, link_id);
		ok = run_count(s, q, total, "could not count clicks", error);
	}
	if(ok) {
		sqlite3_stmt *q = stmt(s, link_id ? ST_CLICKS_OF_LINK : ST_CLICKS_ALL);
		if(link_id)
			bind_text(q, 1, link_id);
		sqlite3_bind_int64(q, 2, p2plink_store_page_size(limit));
		sqlite3_bind_int64(q, 3, offset);
		ok = collect(s, q, rows, click_row, "could not list clicks", error);
	}
	return end_list(s, ok, rows, error);
}

static gboolean stats_links(sqlite_store *s, gint64 now, p2plink_store_stats *st, GError **error) {
	sqlite3_stmt *q = stmt(s, ST_STATS_LINKS);
	sqlite3_bind_int64(q, 2, now);
	int rc = sqlite3_step(q);
	if(rc != SQLITE_ROW) {
		db_fail(error, s->db, rc, "could not count links");
		sqlite3_reset(q);
		return FALSE;
	}
	st->links_total = (guint64)sqlite3_column_int64(q, 0);
	st->links_active = (guint64)sqlite3_column_int64(q, 1);
	sqlite3_reset(q);
	return TRUE;
}

static gboolean stats_clicks(sqlite_store *s, p2plink_store_stats *st, GError **error) {
	sqlite3_stmt *q = stmt(s, ST_STATS_CLICKS);
	int rc;
	while((rc = sqlite3_step(q)) == SQLITE_ROW) {
		p2plink_link_outcome o;
		if(p2plink_link_outcome_from_code((const char *)sqlite3_column_text(q, 0), &o))
			st->clicks[o] = (guint64)sqlite3_column_int64(q, 1);
	}
	sqlite3_reset(q);
	if(rc != SQLITE_DONE)
		return db_fail(error, s->db, rc, "could not count clicks");
	return TRUE;
}

static gboolean sqlite_stats(p2plink_store *store, gint64 now, p2plink_store_stats *stats, GError **error) {
	sqlite_store *s = store->priv;
	if(stats == NULL)
		return store_fail(error, P2PLINK_STORE_ERROR_INVALID, "no stats buffer given");
	memset(stats, 0, sizeof(*stats));
	g_mutex_lock(&s->lock);
	gboolean ok = tx_begin(s, FALSE, error) && stats_links(s, now, stats, error) &&
		stats_clicks(s, stats, error) && tx_commit(s, error);
	if(!ok)
		tx_rollback(s);
	g_mutex_unlock(&s->lock);
	return ok;
}

/* ---- Retention ---- */

#define PRUNE_DEFAULT_BATCH 500

/* Up to `batch` links past the retention, with their clicks (clicks first: clicks_by_link finds them) */
static gboolean prune_links(sqlite_store *s, gint64 cut, guint batch, guint *deleted, GError **error) {
	GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
	sqlite3_stmt *q = stmt(s, ST_PRUNE_LINK_IDS);
	sqlite3_bind_int64(q, 1, cut);
	sqlite3_bind_int64(q, 2, batch);
	int rc;
	while((rc = sqlite3_step(q)) == SQLITE_ROW)
		g_ptr_array_add(ids, col_text(q, 0));
	sqlite3_reset(q);
	gboolean ok = rc == SQLITE_DONE || db_fail(error, s->db, rc, "could not find links to prune");
	for(guint i = 0; ok && i < ids->len; i++) {
		q = stmt(s, ST_DELETE_CLICKS);
		bind_text(q, 1, g_ptr_array_index(ids, i));
		ok = run(s, q, "could not prune a link's clicks", error);
		*deleted += ok ? (guint)sqlite3_changes(s->db) : 0;
		q = stmt(s, ST_DELETE_LINK);
		bind_text(q, 1, g_ptr_array_index(ids, i));
		ok = ok && run(s, q, "could not prune a link", error);
		*deleted += ok ? 1 : 0;
	}
	g_ptr_array_free(ids, TRUE);
	return ok;
}

static gboolean sqlite_prune(p2plink_store *store, gint64 now, const p2plink_prune_policy *policy, guint *deleted,
		GError **error) {
	sqlite_store *s = store->priv;
	guint batch = policy->batch ? policy->batch : PRUNE_DEFAULT_BATCH;
	*deleted = 0;
	g_mutex_lock(&s->lock);
	gboolean ok = tx_begin(s, TRUE, error);
	if(ok && policy->link_retention > 0)
		ok = prune_links(s, now - policy->link_retention, batch, deleted, error);
	if(ok && policy->click_retention > 0) {
		sqlite3_stmt *q = stmt(s, ST_PRUNE_CLICKS);
		sqlite3_bind_int64(q, 1, now - policy->click_retention);
		sqlite3_bind_int64(q, 2, batch);
		ok = run(s, q, "could not prune the click log", error);
		*deleted += ok ? (guint)sqlite3_changes(s->db) : 0;
	}
	ok = ok && tx_commit(s, error);
	if(!ok)
		tx_rollback(s);
	g_mutex_unlock(&s->lock);
	return ok;
}

/* ---- Open and close ---- */

static void sqlite_free(sqlite_store *s) {
	for(int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	/* Statements are finalized, so close cannot be refused */
	sqlite3_close(s->db);
	g_mutex_clear(&s->lock);
	g_free(s);
}

static void sqlite_close(p2plink_store *store) {
	sqlite_free(store->priv);
	g_free(store);
}

static gboolean pragma_int(sqlite3 *db, const char *sql, gint64 *out, GError **error) {
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
	if(rc == SQLITE_OK)
		rc = sqlite3_step(q);
	if(rc == SQLITE_ROW)
		*out = sqlite3_column_int64(q, 0);
	else
		db_fail(error, db, rc, "could not read the link database");
	sqlite3_finalize(q);
	return rc == SQLITE_ROW;
}

static gboolean exec(sqlite3 *db, const char *sql, const char *what, GError **error) {
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if(rc != SQLITE_OK)
		return db_fail(error, db, rc, what);
	return TRUE;
}

/* Bring the schema to P2PLINK_SQLITE_SCHEMA_VERSION. The version is read
 * again under the write lock: another process may have migrated first. */
static gboolean migrate_steps(sqlite3 *db, GError **error) {
	gint64 version = 0;
	if(!pragma_int(db, "PRAGMA user_version", &version, error))
		return FALSE;
	if(version > P2PLINK_SQLITE_SCHEMA_VERSION) {
		g_set_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_SCHEMA,
			"the link database has schema version %" G_GINT64_FORMAT ", newer than this p2plink (%d); "
			"upgrade p2plink or point it at another folder", version, P2PLINK_SQLITE_SCHEMA_VERSION);
		return FALSE;
	}
	for(gint64 v = version; v < P2PLINK_SQLITE_SCHEMA_VERSION; v++) {
		if(!exec(db, migrations[v], "could not upgrade the link database", error))
			return FALSE;
	}
	char *set = g_strdup_printf("PRAGMA user_version = %d", P2PLINK_SQLITE_SCHEMA_VERSION);
	gboolean ok = exec(db, set, "could not upgrade the link database", error);
	g_free(set);
	return ok;
}

static gboolean migrate(sqlite3 *db, GError **error) {
	gint64 version = 0;
	if(!pragma_int(db, "PRAGMA user_version", &version, error))
		return FALSE;
	if(version == P2PLINK_SQLITE_SCHEMA_VERSION)
		return TRUE;
	if(!exec(db, "BEGIN IMMEDIATE", "could not lock the link database", error))
		return FALSE;
	if(!migrate_steps(db, error) || !exec(db, "COMMIT", "could not upgrade the link database", error)) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return FALSE;
	}
	return TRUE;
}

/* Switching a fresh file to WAL needs an exclusive lock, and SQLite does
 * not call the busy handler when that could deadlock (two first opens
 * racing). So retry here, within the same time budget. */
static int journal_mode_wal(sqlite3 *db, guint timeout_ms, gboolean *wal) {
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	int rc;
	for(;;) {
		sqlite3_stmt *q = NULL;
		rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &q, NULL);
		if(rc == SQLITE_OK)
			rc = sqlite3_step(q);
		if(rc == SQLITE_ROW)
			*wal = g_ascii_strcasecmp((const char *)sqlite3_column_text(q, 0), "wal") == 0;
		sqlite3_finalize(q);
		if((rc & 0xff) != SQLITE_BUSY || g_get_monotonic_time() >= deadline)
			return rc;
		g_usleep(2000);
	}
}

static gboolean configure(sqlite3 *db, guint busy_timeout_ms, gboolean exclusive, GError **error) {
	guint timeout = busy_timeout_ms ? busy_timeout_ms : 5000;
	sqlite3_busy_timeout(db, (int)timeout);
	if(sqlite3_db_readonly(db, "main") == 1)
		return store_fail(error, P2PLINK_STORE_ERROR_READONLY,
			"the link database is read-only; p2plink needs to write it");
	gboolean wal = FALSE;
	int rc = journal_mode_wal(db, timeout, &wal);
	if(rc != SQLITE_ROW)
		return db_fail(error, db, rc, "could not open the link database");
	if(!wal)
		return store_fail(error, P2PLINK_STORE_ERROR_IO, "the link database cannot use WAL mode on this file system");
	if(exclusive && !exec(db, "PRAGMA locking_mode = EXCLUSIVE", "could not lock the link database", error))
		return FALSE;
	return exec(db, "PRAGMA synchronous = NORMAL", "could not configure the link database", error);
}

static gboolean prepare_all(sqlite_store *s, GError **error) {
	for(int i = 0; i < ST_COUNT; i++) {
		int rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL);
		if(rc != SQLITE_OK)
			return db_fail(error, s->db, rc, "could not prepare a link database query");
	}
	return TRUE;
}

static char *db_path(const char *folder, GError **error) {
	if(folder == NULL || *folder == '\0') {
		store_fail(error, P2PLINK_STORE_ERROR_INVALID, "no folder configured for the link database");
		return NULL;
	}
	if(g_mkdir_with_parents(folder, 0700) != 0) {
		int err = errno;
		g_set_error(error, P2PLINK_STORE_ERROR, err == EROFS || err == EACCES ?
			P2PLINK_STORE_ERROR_READONLY : P2PLINK_STORE_ERROR_IO,
			"cannot create the link database folder %s: %s", folder, g_strerror(err));
		return NULL;
	}
	return g_build_filename(folder, P2PLINK_SQLITE_FILE, NULL);
}

p2plink_store *p2plink_store_sqlite_open(const p2plink_store_sqlite_options *options, GError **error) {
	char *path = db_path(options ? options->folder : NULL, error);
	if(path == NULL)
		return NULL;
	sqlite_store *s = g_new0(sqlite_store, 1);
	g_mutex_init(&s->lock);
	/* NOMUTEX: our own mutex already serialises every use of this handle */
	int rc = sqlite3_open_v2(path, &s->db,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	gboolean ok = rc == SQLITE_OK;
	if(!ok) {
		g_set_error(error, P2PLINK_STORE_ERROR, error_code_for(rc),
			"cannot open the link database %s: %s", path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	}
	ok = ok && configure(s->db, options->busy_timeout_ms, options->exclusive, error) &&
		migrate(s->db, error) && prepare_all(s, error);
	g_free(path);
	if(!ok) {
		sqlite_free(s);
		return NULL;
	}
	p2plink_store *store = g_new0(p2plink_store, 1);
	store->ops = &sqlite_ops;
	store->priv = s;
	return store;
}

static const p2plink_store_ops sqlite_ops = {
	.name = "sqlite",
	.close = sqlite_close,
	.create_link = sqlite_create_link,
	.get_link = sqlite_get_link,
	.list_links = sqlite_list_links,
	.revoke_link = sqlite_revoke_link,
	.delete_link = sqlite_delete_link,
	.redeem = sqlite_redeem,
	.redeem_batch = sqlite_redeem_batch,
	.list_clicks = sqlite_list_clicks,
	.stats = sqlite_stats,
	.prune = sqlite_prune,
};
