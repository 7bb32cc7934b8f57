/*! \file    store_mongo_bson.c
 * \brief   p2plink MongoDB store: the BSON documents it sends and reads
 * \details Builders and parsers declared in store_mongo_bson.h. Every
 * function is pure (plain inputs -> a new document), so the exact shape of
 * each query is pinned by unit tests.
 *
 * Not for: network I/O and error handling of the driver (store_mongo.c),
 * link rules (links.c).
 *
 * \author  p2plink
 */

#include <string.h>

#include "store_mongo_bson.h"

/* Never matches: lo > hi (used for whitelist entries that do not parse) */
static const guint8 range_none_lo[16] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const guint8 range_none_hi[16] = { 0 };

/* ---- Small helpers ---- */

static void append_str_or_null(bson_t *doc, const char *key, const char *value) {
	if(value != NULL)
		bson_append_utf8(doc, key, -1, value, -1);
	else
		bson_append_null(doc, key, -1);
}

static void append_bin16(bson_t *doc, const char *key, const guint8 bytes[16]) {
	bson_append_binary(doc, key, -1, BSON_SUBTYPE_BINARY, bytes, 16);
}

/* First and last address of a whitelist entry, 16-byte form */
static void cidr_range(const char *entry, guint8 lo[16], guint8 hi[16]) {
	p2plink_cidr c;
	if(entry == NULL || !p2plink_cidr_parse(entry, &c, NULL)) {
		memcpy(lo, range_none_lo, 16);
		memcpy(hi, range_none_hi, 16);
		return;
	}
	memcpy(lo, c.addr, 16);
	memcpy(hi, c.addr, 16);
	for(guint bit = c.prefix; bit < 128; bit++)
		hi[bit / 8] |= (guint8)(0x80 >> (bit % 8));
	/* A parsed CIDR has no host bits set, but do not rely on it */
	for(guint bit = c.prefix; bit < 128; bit++)
		lo[bit / 8] &= (guint8)~(0x80 >> (bit % 8));
}

void p2plink_mongo_append_ip_ranges(bson_t *parent, const char *key, gchar **whitelist) {
	bson_t arr, range;
	bson_append_array_begin(parent, key, -1, &arr);
	for(guint i = 0; whitelist != NULL && whitelist[i] != NULL; i++) {
		char idx[16];
		const char *ikey;
		guint8 lo[16], hi[16];
		bson_uint32_to_string(i, &ikey, idx, sizeof(idx));
		cidr_range(whitelist[i], lo, hi);
		bson_append_document_begin(&arr, ikey, -1, &range);
		append_bin16(&range, "lo", lo);
		append_bin16(&range, "hi", hi);
		bson_append_document_end(&arr, &range);
	}
	bson_append_array_end(parent, &arr);
}

static void append_str_array(bson_t *parent, const char *key, gchar **strv) {
	bson_t arr;
	bson_append_array_begin(parent, key, -1, &arr);
	for(guint i = 0; strv != NULL && strv[i] != NULL; i++) {
		char idx[16];
		const char *ikey;
		bson_uint32_to_string(i, &ikey, idx, sizeof(idx));
		bson_append_utf8(&arr, ikey, -1, strv[i], -1);
	}
	bson_append_array_end(parent, &arr);
}

/* { "$or": [ { "expires_at": 0 }, { "expires_at": { "$gt": now } } ] } */
static void append_not_expired(bson_t *and_arr, const char *key, gint64 now) {
	bson_t clause, or_arr, a, b, gt;
	bson_append_document_begin(and_arr, key, -1, &clause);
	bson_append_array_begin(&clause, "$or", -1, &or_arr);
	bson_append_document_begin(&or_arr, "0", -1, &a);
	bson_append_int64(&a, "expires_at", -1, 0);
	bson_append_document_end(&or_arr, &a);
	bson_append_document_begin(&or_arr, "1", -1, &b);
	bson_append_document_begin(&b, "expires_at", -1, &gt);
	bson_append_int64(&gt, "$gt", -1, now);
	bson_append_document_end(&b, &gt);
	bson_append_document_end(&or_arr, &b);
	bson_append_array_end(&clause, &or_arr);
	bson_append_document_end(and_arr, &clause);
}

/* { "$or": [ { "max_clicks": 0 }, { "$expr": { "$lt": [ "$clicks", "$max_clicks" ] } } ] } */
static void append_not_exhausted(bson_t *and_arr, const char *key) {
	bson_t clause, or_arr, a, b, expr, lt;
	bson_append_document_begin(and_arr, key, -1, &clause);
	bson_append_array_begin(&clause, "$or", -1, &or_arr);
	bson_append_document_begin(&or_arr, "0", -1, &a);
	bson_append_int64(&a, "max_clicks", -1, 0);
	bson_append_document_end(&or_arr, &a);
	bson_append_document_begin(&or_arr, "1", -1, &b);
	bson_append_document_begin(&b, "$expr", -1, &expr);
	bson_append_array_begin(&expr, "$lt", -1, &lt);
	bson_append_utf8(&lt, "0", -1, "$clicks", -1);
	bson_append_utf8(&lt, "1", -1, "$max_clicks", -1);
	bson_append_array_end(&expr, &lt);
	bson_append_document_end(&b, &expr);
	bson_append_document_end(&or_arr, &b);
	bson_append_array_end(&clause, &or_arr);
	bson_append_document_end(and_arr, &clause);
}

/* No IP: { "ip_ranges": { "$size": 0 } }. With one:
 * { "$or": [ { "ip_ranges": { "$size": 0 } },
 *            { "ip_ranges": { "$elemMatch": { "lo": { "$lte": ip }, "hi": { "$gte": ip } } } } ] } */
static void append_ip_allowed(bson_t *and_arr, const char *key, const char *client_ip) {
	guint8 ip[16];
	gboolean have_ip = client_ip != NULL && p2plink_ip_parse(client_ip, ip);
	bson_t clause, or_arr, a, b, size, elem, match, lte, gte;
	bson_append_document_begin(and_arr, key, -1, &clause);
	if(!have_ip) {
		bson_append_document_begin(&clause, "ip_ranges", -1, &size);
		bson_append_int32(&size, "$size", -1, 0);
		bson_append_document_end(&clause, &size);
		bson_append_document_end(and_arr, &clause);
		return;
	}
	bson_append_array_begin(&clause, "$or", -1, &or_arr);
	bson_append_document_begin(&or_arr, "0", -1, &a);
	bson_append_document_begin(&a, "ip_ranges", -1, &size);
	bson_append_int32(&size, "$size", -1, 0);
	bson_append_document_end(&a, &size);
	bson_append_document_end(&or_arr, &a);
	bson_append_document_begin(&or_arr, "1", -1, &b);
	bson_append_document_begin(&b, "ip_ranges", -1, &elem);
	bson_append_document_begin(&elem, "$elemMatch", -1, &match);
	bson_append_document_begin(&match, "lo", -1, &lte);
	append_bin16(&lte, "$lte", ip);
	bson_append_document_end(&match, &lte);
	bson_append_document_begin(&match, "hi", -1, &gte);
	append_bin16(&gte, "$gte", ip);
	bson_append_document_end(&match, &gte);
	bson_append_document_end(&elem, &match);
	bson_append_document_end(&b, &elem);
	bson_append_document_end(&or_arr, &b);
	bson_append_array_end(&clause, &or_arr);
	bson_append_document_end(and_arr, &clause);
}

/* ---- Links ---- */

bson_t *p2plink_mongo_link_to_bson(const p2plink_link *l) {
	bson_t *doc = bson_new();
	bson_append_utf8(doc, "_id", -1, l->id, -1);
	bson_append_utf8(doc, "token_hash", -1, l->token_hash, -1);
	bson_append_utf8(doc, "target", -1, l->target, -1);
	bson_append_utf8(doc, "purpose", -1, l->purpose, -1);
	bson_append_utf8(doc, "creator", -1, l->creator, -1);
	bson_append_int64(doc, "created_at", -1, l->created_at);
	bson_append_int64(doc, "expires_at", -1, l->expires_at);
	/* Only expiring links carry the TTL field: the TTL monitor ignores
	 * documents without it, so links that never expire are never removed */
	if(l->expires_at != 0)
		bson_append_date_time(doc, "expire_at", -1, l->expires_at / 1000);
	bson_append_int64(doc, "max_clicks", -1, l->max_clicks);
	bson_append_int64(doc, "clicks", -1, l->clicks);
	append_str_array(doc, "whitelist", l->whitelist);
	p2plink_mongo_append_ip_ranges(doc, "ip_ranges", l->whitelist);
	bson_append_bool(doc, "revoked", -1, l->revoked ? true : false);
	append_str_or_null(doc, "owner", l->owner);
	/* Only revoked links carry revoked_at: revoking sets it with $min, which keeps the first revocation */
	if(l->revoked && l->revoked_at != 0)
		bson_append_int64(doc, "revoked_at", -1, l->revoked_at);
	return doc;
}

static gboolean read_opt_str(const bson_t *doc, const char *key, char **out);

static gboolean schema_fail(GError **error, const char *field) {
	g_set_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_SCHEMA,
		"a stored link has no usable \"%s\" field (written by another program or version?)", field);
	return FALSE;
}

static gboolean read_str(const bson_t *doc, const char *key, char **out, GError **error) {
	bson_iter_t it;
	if(!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it))
		return schema_fail(error, key);
	*out = g_strdup(bson_iter_utf8(&it, NULL));
	return TRUE;
}

static gboolean read_int(const bson_t *doc, const char *key, gint64 *out, GError **error) {
	bson_iter_t it;
	if(!bson_iter_init_find(&it, doc, key) ||
			!(BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_DOUBLE(&it)))
		return schema_fail(error, key);
	*out = bson_iter_as_int64(&it);
	return TRUE;
}

static gboolean read_u32(const bson_t *doc, const char *key, guint32 *out, GError **error) {
	gint64 v = 0;
	if(!read_int(doc, key, &v, error))
		return FALSE;
	if(v < 0 || v > G_MAXUINT32)
		return schema_fail(error, key);
	*out = (guint32)v;
	return TRUE;
}

/* Absent or empty -> NULL (any IP). Non-string entries are kept as an
 * entry that parses as nothing, so the link fails closed. */
static gboolean read_whitelist(const bson_t *doc, gchar ***out, GError **error) {
	bson_iter_t it, arr;
	*out = NULL;
	if(!bson_iter_init_find(&it, doc, "whitelist"))
		return TRUE;
	if(!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr))
		return schema_fail(error, "whitelist");
	GPtrArray *wl = g_ptr_array_new();
	while(bson_iter_next(&arr))
		g_ptr_array_add(wl, g_strdup(BSON_ITER_HOLDS_UTF8(&arr) ? bson_iter_utf8(&arr, NULL) : "unreadable-whitelist"));
	if(wl->len == 0) {
		g_ptr_array_free(wl, TRUE);
		return TRUE;
	}
	g_ptr_array_add(wl, NULL);
	*out = (gchar **)g_ptr_array_free(wl, FALSE);
	return TRUE;
}

p2plink_link *p2plink_mongo_link_from_bson(const bson_t *doc, GError **error) {
	p2plink_link *l = p2plink_link_new();
	bson_iter_t it;
	gboolean ok = read_str(doc, "_id", &l->id, error) &&
		read_str(doc, "token_hash", &l->token_hash, error) &&
		read_str(doc, "target", &l->target, error) &&
		read_str(doc, "purpose", &l->purpose, error) &&
		read_str(doc, "creator", &l->creator, error) &&
		read_int(doc, "created_at", &l->created_at, error) &&
		read_int(doc, "expires_at", &l->expires_at, error) &&
		read_u32(doc, "max_clicks", &l->max_clicks, error) &&
		read_u32(doc, "clicks", &l->clicks, error) &&
		read_whitelist(doc, &l->whitelist, error);
	if(ok) {
		if(!bson_iter_init_find(&it, doc, "revoked") || !BSON_ITER_HOLDS_BOOL(&it))
			ok = schema_fail(error, "revoked");
		else
			l->revoked = bson_iter_bool(&it) ? TRUE : FALSE;
	}
	/* Both optional: documents written before links were owned have neither (owner absent = unclaimed) */
	if(ok && !read_opt_str(doc, "owner", &l->owner))
		ok = schema_fail(error, "owner");
	if(ok && bson_iter_init_find(&it, doc, "revoked_at") && !read_int(doc, "revoked_at", &l->revoked_at, error))
		ok = FALSE;
	if(!ok) {
		p2plink_link_free(l);
		return NULL;
	}
	return l;
}

/* ---- Redemption ---- */

/* { "$or": [ { "owner": holder }, { "owner": null } ] } (null also matches documents without the field) */
static void append_owned_by(bson_t *and_arr, const char *key, const char *holder) {
	bson_t clause, or_arr, a, b;
	bson_append_document_begin(and_arr, key, -1, &clause);
	bson_append_array_begin(&clause, "$or", -1, &or_arr);
	bson_append_document_begin(&or_arr, "0", -1, &a);
	bson_append_utf8(&a, "owner", -1, holder, -1);
	bson_append_document_end(&or_arr, &a);
	bson_append_document_begin(&or_arr, "1", -1, &b);
	bson_append_null(&b, "owner", -1);
	bson_append_document_end(&or_arr, &b);
	bson_append_array_end(&clause, &or_arr);
	bson_append_document_end(and_arr, &clause);
}

bson_t *p2plink_mongo_redeem_query(const char *token_hash, gint64 now, const char *client_ip, const char *holder) {
	bson_t *q = bson_new();
	bson_t and_arr;
	bson_append_utf8(q, "token_hash", -1, token_hash, -1);
	bson_append_bool(q, "revoked", -1, false);
	bson_append_array_begin(q, "$and", -1, &and_arr);
	append_not_expired(&and_arr, "0", now);
	append_not_exhausted(&and_arr, "1");
	append_ip_allowed(&and_arr, "2", client_ip);
	if(holder != NULL)
		append_owned_by(&and_arr, "3", holder);
	bson_append_array_end(q, &and_arr);
	return q;
}

bson_t *p2plink_mongo_redeem_update(const char *holder) {
	if(holder == NULL)
		return BCON_NEW("$inc", "{", "clicks", BCON_INT64(1), "}");
	/* The query matched owner == holder or no owner: setting it claims an unclaimed link and changes no other */
	return BCON_NEW("$inc", "{", "clicks", BCON_INT64(1), "}", "$set", "{", "owner", BCON_UTF8(holder), "}");
}

bson_t *p2plink_mongo_hash_filter(const char *token_hash) {
	return BCON_NEW("token_hash", BCON_UTF8(token_hash));
}

bson_t *p2plink_mongo_id_filter(const char *id, const char *owner) {
	bson_t *f = BCON_NEW("_id", BCON_UTF8(id));
	if(owner != NULL)
		bson_append_utf8(f, "owner", -1, owner, -1);
	return f;
}

bson_t *p2plink_mongo_revoke_update(gint64 now) {
	/* $min: a second revocation keeps the first time; expire_at moves to the revocation (if earlier) so the TTL
	 * index deletes a revoked link the retention after it was revoked, as SQLite's prune does */
	return BCON_NEW("$set", "{", "revoked", BCON_BOOL(true), "}",
		"$min", "{", "revoked_at", BCON_INT64(now), "expire_at", BCON_DATE_TIME(now / 1000), "}");
}

/* ---- Listing and counting ---- */

bson_t *p2plink_mongo_active_filter(const char *owner, gint64 now, const char *except_id, gboolean peer_made_only) {
	bson_t *f = bson_new();
	bson_t and_arr, ne, cne;
	if(owner != NULL)
		bson_append_utf8(f, "owner", -1, owner, -1);
	if(peer_made_only) {
		bson_append_document_begin(f, "creator", -1, &cne);
		bson_append_utf8(&cne, "$ne", -1, P2PLINK_CREATOR_ADMIN, -1);
		bson_append_document_end(f, &cne);
	}
	bson_append_bool(f, "revoked", -1, false);
	bson_append_array_begin(f, "$and", -1, &and_arr);
	append_not_expired(&and_arr, "0", now);
	append_not_exhausted(&and_arr, "1");
	bson_append_array_end(f, &and_arr);
	if(except_id != NULL) {
		bson_append_document_begin(f, "_id", -1, &ne);
		bson_append_utf8(&ne, "$ne", -1, except_id, -1);
		bson_append_document_end(f, &ne);
	}
	return f;
}

bson_t *p2plink_mongo_list_filter(const p2plink_link_filter *filter) {
	bson_t *f = bson_new();
	if(filter != NULL && filter->target != NULL)
		bson_append_utf8(f, "target", -1, filter->target, -1);
	if(filter != NULL && filter->creator != NULL)
		bson_append_utf8(f, "creator", -1, filter->creator, -1);
	if(filter == NULL || !filter->include_revoked)
		bson_append_bool(f, "revoked", -1, false);
	if(filter != NULL && filter->owner != NULL)
		bson_append_utf8(f, "owner", -1, filter->owner, -1);
	return f;
}

bson_t *p2plink_mongo_list_opts(const p2plink_link_filter *filter) {
	guint offset = filter ? filter->offset : 0;
	guint limit = p2plink_store_page_size(filter ? filter->limit : 0);
	return BCON_NEW("sort", "{", "created_at", BCON_INT32(-1), "_id", BCON_INT32(-1), "}",
		"skip", BCON_INT64(offset), "limit", BCON_INT64(limit));
}

/* ---- Clicks ---- */

bson_t *p2plink_mongo_click_to_bson(gint64 seq, const char *link_id, const p2plink_redeem_request *req,
		p2plink_link_outcome outcome) {
	char *ua = p2plink_user_agent_clean(req->user_agent);
	char *ip = req->private_ip ? p2plink_ip_truncate(req->client_ip) : NULL;
	bson_t *doc = bson_new();
	bson_append_int64(doc, "seq", -1, seq);
	append_str_or_null(doc, "link_id", link_id);
	bson_append_int64(doc, "at", -1, req->now);
	/* For the click-log TTL index (P2PLINK_MONGO_CLICK_TTL_INDEX) */
	bson_append_date_time(doc, "at_date", -1, req->now / 1000);
	append_str_or_null(doc, "ip", req->private_ip ? ip : req->client_ip);
	append_str_or_null(doc, "ua", ua);
	bson_append_utf8(doc, "outcome", -1, p2plink_link_outcome_code(outcome), -1);
	g_free(ua);
	g_free(ip);
	return doc;
}

/* NULL for a null/absent field; FALSE for a field of another type */
static gboolean read_opt_str(const bson_t *doc, const char *key, char **out) {
	bson_iter_t it;
	*out = NULL;
	if(!bson_iter_init_find(&it, doc, key) || BSON_ITER_HOLDS_NULL(&it))
		return TRUE;
	if(!BSON_ITER_HOLDS_UTF8(&it))
		return FALSE;
	*out = g_strdup(bson_iter_utf8(&it, NULL));
	return TRUE;
}

p2plink_click *p2plink_mongo_click_from_bson(const bson_t *doc, GError **error) {
	p2plink_click *c = g_new0(p2plink_click, 1);
	char *outcome = NULL;
	gboolean ok = read_int(doc, "seq", &c->id, error) && read_int(doc, "at", &c->at, error);
	if(ok && !(read_opt_str(doc, "link_id", &c->link_id) && read_opt_str(doc, "ip", &c->client_ip) &&
			read_opt_str(doc, "ua", &c->user_agent) && read_opt_str(doc, "outcome", &outcome)))
		ok = schema_fail(error, "link_id/ip/ua/outcome");
	if(ok && (outcome == NULL || !p2plink_link_outcome_from_code(outcome, &c->outcome)))
		ok = schema_fail(error, "outcome");
	g_free(outcome);
	if(!ok) {
		p2plink_click_free(c);
		return NULL;
	}
	return c;
}

bson_t *p2plink_mongo_clicks_filter(const char *link_id) {
	if(link_id == NULL)
		return bson_new();
	return BCON_NEW("link_id", BCON_UTF8(link_id));
}

bson_t *p2plink_mongo_clicks_opts(guint offset, guint limit) {
	return BCON_NEW("sort", "{", "seq", BCON_INT32(-1), "}",
		"skip", BCON_INT64(offset), "limit", BCON_INT64(p2plink_store_page_size(limit)));
}

bson_t *p2plink_mongo_clicks_by_outcome_pipeline(void) {
	return BCON_NEW("pipeline", "[",
		"{", "$group", "{", "_id", BCON_UTF8("$outcome"), "n", "{", "$sum", BCON_INT32(1), "}", "}", "}",
		"]");
}

/* ---- Indexes ---- */

bson_t *p2plink_mongo_links_indexes_command(guint32 retention_s) {
	/* expireAfterSeconds is a 32-bit int on the server */
	gint32 after = (gint32)MIN(retention_s, (guint32)G_MAXINT32);
	return BCON_NEW("createIndexes", BCON_UTF8(P2PLINK_MONGO_LINKS), "indexes", "[",
		"{", "key", "{", "token_hash", BCON_INT32(1), "}", "name", BCON_UTF8("token_hash_unique"),
			"unique", BCON_BOOL(true), "}",
		"{", "key", "{", "target", BCON_INT32(1), "created_at", BCON_INT32(-1), "}",
			"name", BCON_UTF8("target_created"), "}",
		"{", "key", "{", "creator", BCON_INT32(1), "created_at", BCON_INT32(-1), "}",
			"name", BCON_UTF8("creator_created"), "}",
		"{", "key", "{", "owner", BCON_INT32(1), "created_at", BCON_INT32(-1), "}",
			"name", BCON_UTF8("owner_created"), "}",
		"{", "key", "{", "created_at", BCON_INT32(-1), "_id", BCON_INT32(-1), "}",
			"name", BCON_UTF8("created"), "}",
		"{", "key", "{", "expire_at", BCON_INT32(1), "}", "name", BCON_UTF8(P2PLINK_MONGO_TTL_INDEX),
			"expireAfterSeconds", BCON_INT32(after), "}",
		"]");
}

bson_t *p2plink_mongo_clicks_indexes_command(guint32 click_retention_s) {
	gint32 after = (gint32)MIN(click_retention_s, (guint32)G_MAXINT32);
	return BCON_NEW("createIndexes", BCON_UTF8(P2PLINK_MONGO_CLICKS), "indexes", "[",
		"{", "key", "{", "link_id", BCON_INT32(1), "seq", BCON_INT32(-1), "}", "name", BCON_UTF8("link_seq"), "}",
		"{", "key", "{", "seq", BCON_INT32(-1), "}", "name", BCON_UTF8("seq"), "}",
		"{", "key", "{", "outcome", BCON_INT32(1), "}", "name", BCON_UTF8("outcome"), "}",
		"{", "key", "{", "at_date", BCON_INT32(1), "}", "name", BCON_UTF8(P2PLINK_MONGO_CLICK_TTL_INDEX),
			"expireAfterSeconds", BCON_INT32(after), "}",
		"]");
}

bson_t *p2plink_mongo_ttl_collmod_command(const char *collection, const char *index, guint32 retention_s) {
	gint32 after = (gint32)MIN(retention_s, (guint32)G_MAXINT32);
	return BCON_NEW("collMod", BCON_UTF8(collection),
		"index", "{", "name", BCON_UTF8(index), "expireAfterSeconds", BCON_INT32(after), "}");
}

/* ---- Documents older than owners ---- */

bson_t *p2plink_mongo_unowned_peer_links_filter(void) {
	return BCON_NEW("owner", "{", "$exists", BCON_BOOL(false), "}", "creator", "{", "$ne", BCON_UTF8(P2PLINK_CREATOR_ADMIN), "}");
}

bson_t *p2plink_mongo_unowned_peer_links_update(gint64 now) {
	return BCON_NEW("$set", "{", "revoked", BCON_BOOL(true), "owner", BCON_NULL, "}",
		"$min", "{", "revoked_at", BCON_INT64(now), "expire_at", BCON_DATE_TIME(now / 1000), "}");
}
