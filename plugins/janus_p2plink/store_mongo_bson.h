/*! \file    store_mongo_bson.h
 * \brief   p2plink MongoDB store: the BSON documents it sends and reads
 * \details Pure builders and parsers for store_mongo.c: link and click
 * documents, the redemption query and update, list filters and options,
 * and the index commands. No I/O and no libmongoc here (only libbson), so
 * every document the backend sends can be checked byte for byte by unit
 * tests (compare bson_as_canonical_extended_json() with a literal).
 *
 * What this file is NOT for: talking to a server (store_mongo.c), link
 * rules (links.c: the redemption query below must agree with
 * p2plink_link_check(), and tests keep them in step).
 *
 * Document shapes (collection "links", one document per link):
 * \verbatim
   { "_id": "<public id>", "token_hash": "<hex sha-256>", "target": "...",
     "purpose": "...", "creator": "...",
     "created_at": Int64 us, "expires_at": Int64 us (0 = never),
     "expire_at": Date ms,                 only when expires_at != 0 (TTL index)
     "max_clicks": Int64 (0 = unlimited), "clicks": Int64,
     "whitelist": [ "10.0.0.0/8", ... ],   canonical CIDR strings, as given
     "ip_ranges": [ { "lo": BinData(0, 16 bytes), "hi": BinData(0, 16 bytes) }, ... ],
     "revoked": bool,
     "owner": "<hex sha-256 of the owner's PeerJS token>" | null,   absent in documents older than owners
     "revoked_at": Int64 us }              only once revoked (set with $min; revoking also moves
                                           expire_at to the revocation, so the TTL index prunes it)
   \endverbatim
 * ip_ranges is whitelist in a form the server can match: each entry as
 * the first and last address of its range in the 16-byte form of links.h
 * (IPv4 as ::ffff:a.b.c.d). Same-length, same-subtype BinData compares
 * byte by byte on the server, i.e. as 128-bit big-endian numbers, so
 * "lo <= ip <= hi" is CIDR membership. An entry that does not parse gets
 * lo > hi and matches nothing (fail closed, as p2plink_whitelist_allows).
 *
 * Collection "clicks", one document per redemption attempt:
 * \verbatim
   { "seq": Int64, "link_id": "<public id>" | null, "at": Int64 us,
     "at_date": Date ms (the click-log TTL index),
     "ip": "..." | null (cut to /24 or /48 in privacy mode), "ua": "..." | null,
     "outcome": "ok" | "expired" | ... | "not-online" | "preview" }
   \endverbatim
 * seq is the click's id (p2plink_click.id): assigned by the writer,
 * increasing in logging order; _id is left to the driver (ObjectId).
 *
 * \author  p2plink
 */

#ifndef P2PLINK_STORE_MONGO_BSON_H
#define P2PLINK_STORE_MONGO_BSON_H

#include <bson/bson.h>
#include <glib.h>

#include "store.h"

#define P2PLINK_MONGO_LINKS "links"
#define P2PLINK_MONGO_CLICKS "clicks"
#define P2PLINK_MONGO_TTL_INDEX "expire_at_ttl"
#define P2PLINK_MONGO_CLICK_TTL_INDEX "at_date_ttl"

/* ---- Links ---- */

/* The stored form of a link (shape above). Caller frees with bson_destroy. */
bson_t *p2plink_mongo_link_to_bson(const p2plink_link *link);
/* Back to a link. A document missing a required field or holding the
 * wrong type gives NULL and P2PLINK_STORE_ERROR_SCHEMA. Unreadable
 * whitelist entries are kept as entries that match nothing. */
p2plink_link *p2plink_mongo_link_from_bson(const bson_t *doc, GError **error);
/* The "ip_ranges" array for a whitelist: appended to `parent` under `key` */
void p2plink_mongo_append_ip_ranges(bson_t *parent, const char *key, gchar **whitelist);

/* ---- Redemption ---- */

/* The findAndModify condition: this token hash, and the link may be
 * redeemed by client_ip at `now` (us) -- not revoked, not expired
 * (expires_at == 0 or expires_at > now), clicks < max_clicks (or
 * max_clicks == 0), the IP inside one of ip_ranges (or no whitelist), and
 * when holder != NULL, owned by holder or by nobody yet.
 * client_ip NULL or unparsable: only links without a whitelist match. */
bson_t *p2plink_mongo_redeem_query(const char *token_hash, gint64 now, const char *client_ip, const char *holder);
/* { "$inc": { "clicks": 1 } }, plus { "$set": { "owner": holder } } (the claim) when holder != NULL */
bson_t *p2plink_mongo_redeem_update(const char *holder);
/* { "token_hash": h }: the second read that finds out why a redemption
 * was refused */
bson_t *p2plink_mongo_hash_filter(const char *token_hash);
/* { "_id": id }, plus { "owner": o } when owner != NULL */
bson_t *p2plink_mongo_id_filter(const char *id, const char *owner);
/* { "$set": { "revoked": true }, "$min": { "revoked_at": now, "expire_at": Date(now) } } */
bson_t *p2plink_mongo_revoke_update(gint64 now);

/* ---- Listing and counting ---- */

/* Links that are active at `now` (store.h's meaning), optionally only of
 * one owner, optionally leaving out one link id, optionally only links made
 * by peers (creator != "@admin": the per-owner creation limit) */
bson_t *p2plink_mongo_active_filter(const char *owner, gint64 now, const char *except_id, gboolean peer_made_only);
/* Filter for list_links; filter may be NULL (= defaults) */
bson_t *p2plink_mongo_list_filter(const p2plink_link_filter *filter);
/* { "sort": { "created_at": -1, "_id": -1 }, "skip": N, "limit": N } */
bson_t *p2plink_mongo_list_opts(const p2plink_link_filter *filter);

/* ---- Clicks ---- */

/* One click-log document (shape above); user_agent is cleaned with
 * p2plink_user_agent_clean() here */
bson_t *p2plink_mongo_click_to_bson(gint64 seq, const char *link_id, const p2plink_redeem_request *req,
	p2plink_link_outcome outcome);
p2plink_click *p2plink_mongo_click_from_bson(const bson_t *doc, GError **error);
/* { "link_id": id }, or {} for every click */
bson_t *p2plink_mongo_clicks_filter(const char *link_id);
/* { "sort": { "seq": -1 }, "skip": N, "limit": N } */
bson_t *p2plink_mongo_clicks_opts(guint offset, guint limit);
/* [ { "$group": { "_id": "$outcome", "n": { "$sum": 1 } } } ] as a
 * { "pipeline": [...] } document */
bson_t *p2plink_mongo_clicks_by_outcome_pipeline(void);

/* ---- Indexes ---- */

/* createIndexes for "links": unique token_hash, target+created_at,
 * creator+created_at, owner+created_at, created_at, and the TTL index on
 * expire_at that deletes a link retention_s seconds after it expired (or
 * was revoked) */
bson_t *p2plink_mongo_links_indexes_command(guint32 retention_s);
/* createIndexes for "clicks": link_id+seq, seq, outcome, and the TTL index
 * on at_date that deletes a click row click_retention_s after it was logged */
bson_t *p2plink_mongo_clicks_indexes_command(guint32 click_retention_s);
/* collMod that changes a TTL index's expireAfterSeconds (an index made
 * with another retention makes createIndexes fail with IndexOptionsConflict) */
bson_t *p2plink_mongo_ttl_collmod_command(const char *collection, const char *index, guint32 retention_s);

/* ---- Documents older than owners ---- */

/* { "owner": { "$exists": false }, "creator": { "$ne": "@admin" } }: links made by peers before links were owned
 * (they name only an id string, which anyone may hold later) */
bson_t *p2plink_mongo_unowned_peer_links_filter(void);
/* { "$set": { "revoked": true, "owner": null }, "$min": { "revoked_at": now, "expire_at": Date(now) } }: withdrawn,
 * as the SQLite migration does, and pruned by the TTL index after the retention; owner null so a second open
 * does not match them again */
bson_t *p2plink_mongo_unowned_peer_links_update(gint64 now);

#endif
