/*
 * link_service.c — share-link operations for admins and peers. See link_service.h.
 *
 * Admin requests (message_plugin):
 *   {"request":"create_link","target":"bob","ttl":"2h","max_clicks":10,"whitelist":["10.0.0.0/8"],"purpose":"call",
 *    "owner":"<64 hex, optional>"}
 *       -> {"p2plink":"link","link":{...},"token":"<43 chars, shown once>","url":"https://host/l/<token>"}
 *   {"request":"list_links","target":?,"creator":?,"owner":?,"include_revoked":false,"offset":0,"limit":100}
 *       -> {"p2plink":"links","links":[...],"total":N}
 *   {"request":"get_link","link_id":"..."}          -> {"p2plink":"link","link":{...}}
 *   {"request":"revoke_link","link_id":"..."}       -> {"p2plink":"revoked","link_id":"..."}
 *   {"request":"delete_link","link_id":"..."}       -> {"p2plink":"deleted","link_id":"..."}
 *   {"request":"list_clicks","link_id":"...","offset":0,"limit":100} -> {"p2plink":"clicks","clicks":[...],"total":N}
 *   {"request":"link_stats"}                        -> {"p2plink":"link_stats","links_total":N,"links_active":N,"clicks":{...}}
 * Peer endpoints (POST JSON, authenticated by the caller's own PeerJS id + token):
 *   links/create {id,token,ttl,max_clicks,whitelist,purpose} -> {"link":{...},"token":"...","url":"..."}
 *   links/list   {id,token}                                 -> {"links":[...]}
 *   links/revoke {id,token,link_id}                         -> {"ok":true}
 *   links/redeem {id,token,link_token}                      -> {"ok":true,"target":"...","purpose":"..."}
 *                                                            | {"ok":false,"code":"expired","msg":"..."}
 *   links/peek   {link_token}  (no id/token: the visitor may not be connected yet; uses no click)
 *       -> {"ok":true,"target","purpose","expires_at":ms|null,"clicks_left":n|null,"online":bool} | {"ok":false,..}
 *   linkonly     {id,token,enabled}                         -> {"ok":true,"link_only":true}
 * Times in answers are milliseconds since the epoch. Errors come from the one list of p2plink_errors.h: admin
 * {"p2plink":"error","error_code":49x,"code":..,"error":..}; peers HTTP 4xx/5xx with {"error":{"code":..,"msg":..}}.
 * Both kinds of request are dispatched through {name, handler} tables; a name not in them is "unknown-request".
 * A redemption's denial never names the target or the rules, and is answered with HTTP 200 {"ok":false,...}
 * because it is an answer, not a failure.
 *
 * Owners: a link reaches a person, not an id string. Its owner is the hex SHA-256 of the PeerJS token of whom it
 * reaches (p2plink_peer_owner()): the creator's for links a peer makes; for admin links the "owner" the admin gave,
 * else the owner of whoever holds the target at creation, else (target offline) nobody yet, and then the first
 * holder of the target at a successful redemption claims it (atomically in the store). Redemption and peek ask the
 * registry who holds the target now (p2plink_registry_owner_of(), which includes an id reserved for its owner during
 * a reconnect grace period); when that is nobody or someone else, the answer is "not-online", no click is used and
 * the grant is never made, so an impostor on a freed id receives nothing. links/list and links/revoke work on the
 * caller's owner hash: a new token holding the same id sees none of the old owner's links.
 */

#include <string.h>

#include <openssl/crypto.h>

#include "admin.h"
#include "link_service.h"
#include "p2plink_errors.h"
#include "protocol.h"

/* The sentence a GError is answered with: link-rule errors carry useful ones (e.g. "did you mean 10.0.0.0/8?");
 * store errors are summarised by their row (the database's reason goes to the operator, not the caller) */
static const char *gerror_sentence(const GError *error) {
	return error->domain == P2PLINK_LINK_ERROR ? error->message : NULL;
}

static void observe(p2plink_link_service *svc, p2plink_link_event event, const char *link_id, const char *target,
		const char *outcome) {
	if(svc != NULL && svc->observer != NULL)
		svc->observer(event, link_id, target, outcome, svc->observer_data);
}

/* The store failed us (not the caller's mistake): the visitor only learns "unavailable", the operator must learn
 * why. Store messages name the operation and the database's reason, never a token. */
static void report_store_failure(p2plink_link_service *svc, const GError *error) {
	if(error->domain != P2PLINK_STORE_ERROR)
		return;
	switch(error->code) {
		case P2PLINK_STORE_ERROR_IO:
		case P2PLINK_STORE_ERROR_READONLY:
		case P2PLINK_STORE_ERROR_BUSY:
		case P2PLINK_STORE_ERROR_SCHEMA:
		case P2PLINK_STORE_ERROR_INTERNAL:
			p2plink_counters_store_failure();
			observe(svc, P2PLINK_LINK_EVENT_STORE_FAILED, NULL, NULL, error->message);
			break;
		default:
			break;
	}
}

/* Link JSON for answers: times in ms, and never the token hash */
static json_t *link_json(const p2plink_link *link, gint64 now) {
	json_t *o = p2plink_link_to_json(link, now, FALSE);
	json_object_set_new(o, "created_at", json_integer(link->created_at / 1000));
	json_object_set_new(o, "expires_at", link->expires_at ? json_integer(link->expires_at / 1000) : json_null());
	return o;
}

static json_t *links_json(GPtrArray *links, gint64 now) {
	json_t *array = json_array();
	for(guint i = 0; links != NULL && i < links->len; i++)
		json_array_append_new(array, link_json(g_ptr_array_index(links, i), now));
	return array;
}

static char *link_url(const char *base, const char *token) {
	return g_strdup_printf("%s/l/%s", base ? base : "", token);
}

static const char *string_member(json_t *message, const char *name) {
	return json_string_value(json_object_get(message, name));
}

/* Creation shared by admins and peers: parse + rules, store, answer with the token once. owner may be NULL (an
 * unclaimed admin link). */
static json_t *create_link(p2plink_link_service *svc, json_t *request, const char *creator, const char *owner,
		const p2plink_link_limits *limits, guint max_per_owner, const char *base_url, gint64 now,
		GError **error) {
	char *token = NULL;
	p2plink_link *link = p2plink_link_from_create_json(request, creator, now, limits, &token, error);
	if(link == NULL)
		return NULL;
	link->owner = g_strdup(owner);
	if(!p2plink_store_create_link(svc->store, link, now, max_per_owner, error)) {
		p2plink_link_free(link);
		g_free(token);
		return NULL;
	}
	char *url = link_url(base_url, token);
	json_t *answer = json_pack("{s:o,s:s,s:s}", "link", link_json(link, now), "token", token, "url", url);
	observe(svc, P2PLINK_LINK_EVENT_CREATED, link->id, link->target, NULL);
	g_free(url);
	/* The token lives only in this answer: wipe our copy */
	OPENSSL_cleanse(token, strlen(token));
	g_free(token);
	p2plink_link_free(link);
	return answer;
}

/* ---- Admin ---- */

static json_t *admin_store_error(p2plink_link_service *svc, GError *error) {
	report_store_failure(svc, error);
	json_t *answer = p2plink_error_admin(p2plink_error_of_gerror(error), gerror_sentence(error));
	g_error_free(error);
	return answer;
}

#define BAD_PAGE	"offset/limit must be non-negative integers (limit <= 1000)"

/* link_id is the request's "link_id" for the requests that need one (the table says which), else NULL */
static json_t *admin_create_link(p2plink_link_service *svc, json_t *message, const char *link_id, gint64 now) {
	GError *error = NULL;
	/* Whom it reaches: the owner named, else whoever holds the target now, else the first holder to be redeemed
	 * for (see the opening comment) */
	json_t *named = json_object_get(message, "owner");
	if(named != NULL && !p2plink_owner_looks_valid(json_string_value(named)))
		return p2plink_error_admin(P2PLINK_E_BAD_REQUEST,
			"owner must be 64 lowercase hex characters: the SHA-256 of the person's PeerJS token");
	char *owner = named != NULL ? g_strdup(json_string_value(named)) :
		(svc->registry != NULL && json_is_string(json_object_get(message, "target")) ?
			p2plink_registry_owner_of(svc->registry, string_member(message, "target")) : NULL);
	json_t *answer = create_link(svc, message, P2PLINK_CREATOR_ADMIN, owner, &svc->config.admin_limits, 0,
		svc->config.public_url, now, &error);
	g_free(owner);
	if(answer == NULL)
		return admin_store_error(svc, error);
	json_object_set_new(answer, "p2plink", json_string("link"));
	return answer;
}

static json_t *admin_list_links(p2plink_link_service *svc, json_t *message, const char *link_id, gint64 now) {
	GError *error = NULL;
	p2plink_link_filter filter = { string_member(message, "target"), string_member(message, "creator"),
		json_is_true(json_object_get(message, "include_revoked")), 0, 0, string_member(message, "owner") };
	if(!p2plink_admin_page(message, 0, P2PLINK_STORE_MAX_LIMIT, &filter.offset, &filter.limit))
		return p2plink_error_admin(P2PLINK_E_BAD_REQUEST, BAD_PAGE);
	guint64 total = 0;
	GPtrArray *links = p2plink_store_list_links(svc->store, &filter, &total, &error);
	if(links == NULL)
		return admin_store_error(svc, error);
	json_t *answer = json_pack("{s:s,s:o,s:I}", "p2plink", "links", "links", links_json(links, now),
		"total", (json_int_t)total);
	g_ptr_array_free(links, TRUE);
	return answer;
}

static json_t *admin_link_stats(p2plink_link_service *svc, json_t *message, const char *link_id, gint64 now) {
	GError *error = NULL;
	p2plink_store_stats stats;
	if(!p2plink_store_stats_get(svc->store, now, &stats, &error))
		return admin_store_error(svc, error);
	json_t *clicks = json_object();
	for(int o = 0; o < P2PLINK_LINK_OUTCOME_COUNT; o++)
		json_object_set_new(clicks, p2plink_link_outcome_code(o), json_integer(stats.clicks[o]));
	return json_pack("{s:s,s:I,s:I,s:o}", "p2plink", "link_stats", "links_total", (json_int_t)stats.links_total,
		"links_active", (json_int_t)stats.links_active, "clicks", clicks);
}

static json_t *admin_get_link(p2plink_link_service *svc, json_t *message, const char *link_id, gint64 now) {
	GError *error = NULL;
	p2plink_link *link = p2plink_store_get_link(svc->store, link_id, &error);
	if(link == NULL)
		return admin_store_error(svc, error);
	json_t *answer = json_pack("{s:s,s:o}", "p2plink", "link", "link", link_json(link, now));
	p2plink_link_free(link);
	return answer;
}

/* revoke_link and delete_link: the same steps, another store call, event and tag */
static json_t *admin_end_link(p2plink_link_service *svc, const char *link_id, gboolean revoke, gint64 now) {
	GError *error = NULL;
	p2plink_link *link = p2plink_store_get_link(svc->store, link_id, &error);
	if(link == NULL)
		return admin_store_error(svc, error);
	gboolean ok = revoke ? p2plink_store_revoke_link(svc->store, link_id, NULL, now, &error) :
		p2plink_store_delete_link(svc->store, link_id, &error);
	if(!ok) {
		p2plink_link_free(link);
		return admin_store_error(svc, error);
	}
	observe(svc, revoke ? P2PLINK_LINK_EVENT_REVOKED : P2PLINK_LINK_EVENT_DELETED, link_id, link->target, NULL);
	p2plink_link_free(link);
	return json_pack("{s:s,s:s}", "p2plink", revoke ? "revoked" : "deleted", "link_id", link_id);
}

static json_t *admin_revoke_link(p2plink_link_service *svc, json_t *message, const char *link_id, gint64 now) {
	return admin_end_link(svc, link_id, TRUE, now);
}

static json_t *admin_delete_link(p2plink_link_service *svc, json_t *message, const char *link_id, gint64 now) {
	return admin_end_link(svc, link_id, FALSE, now);
}

static json_t *admin_list_clicks(p2plink_link_service *svc, json_t *message, const char *link_id, gint64 now) {
	GError *error = NULL;
	guint offset = 0, limit = 0;
	if(!p2plink_admin_page(message, 0, P2PLINK_STORE_MAX_LIMIT, &offset, &limit))
		return p2plink_error_admin(P2PLINK_E_BAD_REQUEST, BAD_PAGE);
	guint64 total = 0;
	GPtrArray *clicks = p2plink_store_list_clicks(svc->store, link_id, offset, limit, &total, &error);
	if(clicks == NULL)
		return admin_store_error(svc, error);
	json_t *array = json_array();
	for(guint i = 0; i < clicks->len; i++) {
		p2plink_click *click = g_ptr_array_index(clicks, i);
		json_t *c = p2plink_click_to_json(click);
		json_object_set_new(c, "at", json_integer(click->at / 1000));
		json_array_append_new(array, c);
	}
	g_ptr_array_free(clicks, TRUE);
	return json_pack("{s:s,s:o,s:I}", "p2plink", "clicks", "clicks", array, "total", (json_int_t)total);
}

typedef struct admin_link_request {
	const char *name;
	gboolean needs_link_id;
	json_t *(*handler)(p2plink_link_service *svc, json_t *message, const char *link_id, gint64 now);
} admin_link_request;

static const admin_link_request admin_requests[] = {
	{ "create_link", FALSE, admin_create_link },
	{ "list_links", FALSE, admin_list_links },
	{ "link_stats", FALSE, admin_link_stats },
	{ "get_link", TRUE, admin_get_link },
	{ "revoke_link", TRUE, admin_revoke_link },
	{ "delete_link", TRUE, admin_delete_link },
	{ "list_clicks", TRUE, admin_list_clicks },
};

static const admin_link_request *find_admin_request(const char *name) {
	for(size_t i = 0; name != NULL && i < G_N_ELEMENTS(admin_requests); i++) {
		if(!strcmp(admin_requests[i].name, name))
			return &admin_requests[i];
	}
	return NULL;
}

gboolean p2plink_link_service_is_admin_request(const char *request) {
	return find_admin_request(request) != NULL;
}

json_t *p2plink_link_service_admin(p2plink_link_service *svc, const char *request, json_t *message, gint64 now) {
	const admin_link_request *r = find_admin_request(request);
	if(r == NULL)
		return NULL;
	if(svc->store == NULL)
		return p2plink_error_admin(P2PLINK_E_STORE_UNAVAILABLE,
			"The link store is not available (see the Janus log); signaling is not affected");
	const char *link_id = NULL;
	if(r->needs_link_id && (link_id = string_member(message, "link_id")) == NULL)
		return p2plink_error_admin(P2PLINK_E_BAD_REQUEST, "Missing element (link_id must be a string)");
	return r->handler(svc, message, link_id, now);
}

/* ---- Peers ---- */

/* One peer request as its handler sees it */
typedef struct peer_call {
	p2plink_peer *peer;		/* the authenticated caller; NULL for the routes without id/token (links/peek) */
	json_t *body;			/* a JSON object (the dispatch checked) */
	const char *client_ip, *user_agent, *base_url;
	gint64 now;
} peer_call;

/* svc NULL: the failure was already reported (one report for a whole batch) */
static json_t *peer_store_error(p2plink_link_service *svc, int *status, GError *error) {
	if(svc != NULL)
		report_store_failure(svc, error);
	json_t *answer = p2plink_error_peer(p2plink_error_of_gerror(error), gerror_sentence(error), status);
	g_error_free(error);
	return answer;
}

/* Creation rate per owner and per client IP, on top of max_links_per_peer: a peer that creates and revokes in a
 * loop never reaches the active maximum, and new tokens are free, so both keys are needed */
static gboolean create_allowed(p2plink_link_service *svc, p2plink_peer *peer, const char *client_ip, gint64 now) {
	if(svc->create_owner_limiter != NULL &&
			!p2plink_rate_table_take(svc->create_owner_limiter, p2plink_peer_owner(peer), now))
		return FALSE;
	return svc->create_ip_limiter == NULL || p2plink_rate_table_take(svc->create_ip_limiter, client_ip, now);
}

static json_t *peer_create(p2plink_link_service *svc, const peer_call *call, int *status) {
	p2plink_peer *peer = call->peer;
	if(!create_allowed(svc, peer, call->client_ip, call->now))
		return p2plink_error_peer(P2PLINK_E_TOO_MANY_LINKS, NULL, status);
	/* A peer can only make links to itself: whatever "target" it sent is replaced */
	json_t *request = json_deep_copy(call->body);
	json_object_set_new(request, "target", json_string(p2plink_peer_id(peer)));
	json_object_del(request, "token");
	json_object_del(request, "id");
	GError *error = NULL;
	json_t *answer = create_link(svc, request, p2plink_peer_id(peer), p2plink_peer_owner(peer),
		&svc->config.peer_limits, svc->config.max_links_per_peer, call->base_url, call->now, &error);
	json_decref(request);
	if(answer == NULL)
		return peer_store_error(svc, status, error);
	*status = 200;
	return answer;
}

static json_t *peer_list(p2plink_link_service *svc, const peer_call *call, int *status) {
	/* By owner, not by id: a new token holding this id later sees none of these */
	p2plink_link_filter filter = { NULL, NULL, FALSE, 0, P2PLINK_STORE_MAX_LIMIT, p2plink_peer_owner(call->peer) };
	GError *error = NULL;
	GPtrArray *links = p2plink_store_list_links(svc->store, &filter, NULL, &error);
	if(links == NULL)
		return peer_store_error(svc, status, error);
	*status = 200;
	json_t *answer = json_pack("{s:o}", "links", links_json(links, call->now));
	g_ptr_array_free(links, TRUE);
	return answer;
}

static json_t *peer_revoke(p2plink_link_service *svc, const peer_call *call, int *status) {
	p2plink_peer *peer = call->peer;
	const char *link_id = string_member(call->body, "link_id");
	if(link_id == NULL)
		return p2plink_error_peer(P2PLINK_E_BAD_REQUEST, "link_id must be a string", status);
	GError *error = NULL;
	/* Only the owner may revoke: anyone else (the same id with another token included) gets not-found */
	if(!p2plink_store_revoke_link(svc->store, link_id, p2plink_peer_owner(peer), call->now, &error))
		return peer_store_error(svc, status, error);
	observe(svc, P2PLINK_LINK_EVENT_REVOKED, link_id, p2plink_peer_id(peer), NULL);
	*status = 200;
	return json_pack("{s:b}", "ok", TRUE);
}

/* The store asks this, inside its atomic step, who holds a link's target now */
static char *holder_of(const char *target, void *data) {
	return data != NULL ? p2plink_registry_owner_of(data, target) : NULL;
}

static p2plink_redeem_request redeem_request(p2plink_link_service *svc, const char *hash, gint64 now,
		const char *client_ip, const char *user_agent, gboolean preview) {
	p2plink_redeem_request req = { hash, now, client_ip, user_agent, holder_of, svc->registry, preview,
		svc->config.private_click_ips };
	return req;
}

/* Redemption, in two halves so that many can share one store commit: prepare (token-guessing limit, token hash),
 * then the store, then finish (grant, answer, event). A NULL answer from prepare means "go on" and sets *hash. */
static json_t *redeem_prepare(p2plink_link_service *svc, json_t *body, const char *client_ip, gint64 now,
		int *status, char **hash) {
	if(svc->redeem_limiter != NULL && !p2plink_rate_table_take(svc->redeem_limiter, client_ip, now))
		return p2plink_error_peer(P2PLINK_E_TOO_MANY_ATTEMPTS, NULL, status);
	const char *token = string_member(body, "link_token");
	/* A malformed token is looked up anyway (it matches nothing) so that the attempt is logged like any other */
	*hash = p2plink_token_hash(token ? token : "");
	return NULL;
}

/* Takes ownership of link */
static json_t *redeem_finish(p2plink_link_service *svc, p2plink_peer *peer, p2plink_link_outcome outcome,
		p2plink_link *link, int *status) {
	*status = 200;
	p2plink_counters_redemption(outcome);
	json_t *answer;
	if(outcome == P2PLINK_LINK_OK) {
		/* Bound to the link's owner (the store checked it is who holds the target, or claimed it for them): if
		 * the id changes hands, the grant opens nothing for the new holder */
		p2plink_registry_grant(svc->registry, peer, link->target, link->owner);
		answer = json_pack("{s:b,s:s,s:s}", "ok", TRUE, "target", link->target, "purpose", link->purpose);
		observe(svc, P2PLINK_LINK_EVENT_REDEEMED, link->id, link->target, "ok");
	} else {
		answer = json_pack("{s:b,s:s,s:s}", "ok", FALSE, "code", p2plink_link_outcome_code(outcome),
			"msg", p2plink_link_outcome_message(outcome));
		observe(svc, P2PLINK_LINK_EVENT_DENIED, link ? link->id : NULL, link ? link->target : NULL,
			p2plink_link_outcome_code(outcome));
	}
	p2plink_link_free(link);
	return answer;
}

/* One redemption or peek through the store: the limit, the hash, the store call. NULL means *outcome and *link
 * (caller frees) are set; otherwise the refusal or failure to answer with. */
static json_t *redeem_in_store(p2plink_link_service *svc, json_t *body, const char *client_ip, const char *user_agent,
		gint64 now, gboolean preview, int *status, p2plink_link_outcome *outcome, p2plink_link **link) {
	char *hash = NULL;
	json_t *refused = redeem_prepare(svc, body, client_ip, now, status, &hash);
	if(refused != NULL)
		return refused;
	*outcome = P2PLINK_LINK_UNKNOWN;
	*link = NULL;
	GError *error = NULL;
	p2plink_redeem_request req = redeem_request(svc, hash, now, client_ip, user_agent, preview);
	gboolean ok = p2plink_store_redeem(svc->store, &req, outcome, link, &error);
	g_free(hash);
	return ok ? NULL : peer_store_error(svc, status, error);
}

static json_t *peer_redeem(p2plink_link_service *svc, const peer_call *call, int *status) {
	p2plink_link_outcome outcome;
	p2plink_link *link;
	json_t *failed = redeem_in_store(svc, call->body, call->client_ip, call->user_agent, call->now, FALSE, status,
		&outcome, &link);
	return failed != NULL ? failed : redeem_finish(svc, call->peer, outcome, link, status);
}

/* What the landing page shows, without using a click: the same checks as a redemption (and the same per-IP
 * limit), logged as "preview". Never the whitelist, the creator, the owner or the click count beyond what is left.
 * A link whose person is not online is still a good link: ok with online false. */
static json_t *peer_peek(p2plink_link_service *svc, const peer_call *call, int *status) {
	p2plink_link_outcome outcome;
	p2plink_link *link;
	json_t *failed = redeem_in_store(svc, call->body, call->client_ip, call->user_agent, call->now, TRUE, status,
		&outcome, &link);
	if(failed != NULL)
		return failed;
	*status = 200;
	json_t *answer;
	if(outcome == P2PLINK_LINK_OK || outcome == P2PLINK_LINK_NOT_ONLINE) {
		answer = json_pack("{s:b,s:s,s:s,s:o,s:o,s:b}", "ok", TRUE, "target", link->target, "purpose", link->purpose,
			"expires_at", link->expires_at ? json_integer(link->expires_at / 1000) : json_null(),
			"clicks_left", link->max_clicks ? json_integer(link->max_clicks - link->clicks) : json_null(),
			"online", outcome == P2PLINK_LINK_OK);
	} else {
		answer = json_pack("{s:b,s:s,s:s}", "ok", FALSE, "code", p2plink_link_outcome_code(outcome),
			"msg", p2plink_link_outcome_message(outcome));
	}
	p2plink_link_free(link);
	return answer;
}

static json_t *peer_link_only(p2plink_link_service *svc, const peer_call *call, int *status) {
	json_t *enabled = json_object_get(call->body, "enabled");
	if(!json_is_boolean(enabled))
		return p2plink_error_peer(P2PLINK_E_BAD_REQUEST, "enabled must be true or false", status);
	p2plink_registry_set_link_only(svc->registry, call->peer, json_is_true(enabled));
	*status = 200;
	return json_pack("{s:b,s:b}", "ok", TRUE, "link_only", json_is_true(enabled));
}

#define BAD_BODY	"The request body must be a JSON object"

/* The caller's peer for a peer request, or NULL with *refused set to the answer */
static p2plink_peer *authenticate(p2plink_link_service *svc, json_t *body, int *status, json_t **refused) {
	*refused = NULL;
	if(!json_is_object(body)) {
		*refused = p2plink_error_peer(P2PLINK_E_BAD_REQUEST, BAD_BODY, status);
		return NULL;
	}
	const char *id = string_member(body, "id"), *token = string_member(body, "token");
	if(id == NULL || token == NULL || svc->registry == NULL) {
		*refused = p2plink_error_peer(P2PLINK_E_NOT_CONNECTED, NULL, status);
		return NULL;
	}
	p2plink_peer *peer = p2plink_registry_authenticate(svc->registry, id, token);
	if(peer == NULL)
		*refused = p2plink_error_peer(P2PLINK_E_NOT_CONNECTED, "No connected peer has this id and token", status);
	return peer;
}

typedef struct peer_route {
	const char *name;		/* what follows {path}{key}/ */
	gboolean needs_peer;	/* id + token of a connected peer */
	gboolean needs_store;
	json_t *(*handler)(p2plink_link_service *svc, const peer_call *call, int *status);
} peer_route;

static const peer_route peer_routes[] = {
	{ "links/create", TRUE, TRUE, peer_create },
	{ "links/list", TRUE, TRUE, peer_list },
	{ "links/revoke", TRUE, TRUE, peer_revoke },
	{ "links/redeem", TRUE, TRUE, peer_redeem },
	/* The visitor may not be connected yet; uses no click */
	{ "links/peek", FALSE, TRUE, peer_peek },
	{ "linkonly", TRUE, FALSE, peer_link_only },
};

json_t *p2plink_link_service_peer(p2plink_link_service *svc, const char *route, json_t *body, const char *client_ip,
		const char *user_agent, const char *base_url, gint64 now, int *status) {
	const peer_route *r = NULL;
	for(size_t i = 0; route != NULL && r == NULL && i < G_N_ELEMENTS(peer_routes); i++) {
		if(!strcmp(peer_routes[i].name, route))
			r = &peer_routes[i];
	}
	if(r == NULL)
		return p2plink_error_peer(P2PLINK_E_UNKNOWN_REQUEST, "No such endpoint", status);
	peer_call call = { NULL, body, client_ip, user_agent, base_url, now };
	json_t *answer = NULL;
	if(r->needs_peer) {
		if((call.peer = authenticate(svc, body, status, &answer)) == NULL)
			return answer;
	} else if(!json_is_object(body)) {
		return p2plink_error_peer(P2PLINK_E_BAD_REQUEST, BAD_BODY, status);
	}
	if(r->needs_store && svc->store == NULL)
		answer = p2plink_error_peer(P2PLINK_E_STORE_UNAVAILABLE, NULL, status);
	else
		answer = r->handler(svc, &call, status);
	if(call.peer != NULL)
		p2plink_peer_unref(call.peer);
	return answer;
}

/* ---- Many peer requests at once ---- */

typedef struct pending_redeem {
	p2plink_peer_request *request;
	p2plink_peer *peer;
	p2plink_redeem_request store_request;
} pending_redeem;

/* Run the consecutive redemptions gathered so far as one store commit */
static void flush_redeems(p2plink_link_service *svc, GArray *pending) {
	guint n = pending->len;
	if(n == 0)
		return;
	p2plink_redeem_request *reqs = g_new(p2plink_redeem_request, n);
	p2plink_link_outcome *outcomes = g_new0(p2plink_link_outcome, n);
	p2plink_link **links = g_new0(p2plink_link *, n);
	for(guint i = 0; i < n; i++)
		reqs[i] = g_array_index(pending, pending_redeem, i).store_request;
	GError *error = NULL;
	gboolean ok = p2plink_store_redeem_batch(svc->store, reqs, n, outcomes, links, &error);
	if(!ok)
		report_store_failure(svc, error);
	for(guint i = 0; i < n; i++) {
		pending_redeem *p = &g_array_index(pending, pending_redeem, i);
		p2plink_peer_request *r = p->request;
		r->answer = ok ? redeem_finish(svc, p->peer, outcomes[i], links[i], &r->status) :
			peer_store_error(NULL, &r->status, g_error_copy(error));
		p2plink_peer_unref(p->peer);
		g_free((char *)p->store_request.token_hash);
	}
	g_clear_error(&error);
	g_free(reqs);
	g_free(outcomes);
	g_free(links);
	g_array_set_size(pending, 0);
}

void p2plink_link_service_peer_batch(p2plink_link_service *svc, p2plink_peer_request *requests, guint n, gint64 now) {
	gboolean group = svc->store != NULL && p2plink_store_can_batch(svc->store);
	GArray *pending = g_array_new(FALSE, FALSE, sizeof(pending_redeem));
	for(guint i = 0; i < n; i++) {
		p2plink_peer_request *r = &requests[i];
		if(!group || strcmp(r->route, "links/redeem") != 0) {
			/* Anything else keeps its place in the order: earlier redemptions commit first */
			flush_redeems(svc, pending);
			r->answer = p2plink_link_service_peer(svc, r->route, r->body, r->client_ip, r->user_agent, r->base_url,
				now, &r->status);
			continue;
		}
		pending_redeem p = { r, NULL, redeem_request(svc, NULL, now, r->client_ip, r->user_agent, FALSE) };
		p.peer = authenticate(svc, r->body, &r->status, &r->answer);
		if(p.peer == NULL)
			continue;
		r->answer = redeem_prepare(svc, r->body, r->client_ip, now, &r->status, (char **)&p.store_request.token_hash);
		if(r->answer != NULL) {
			p2plink_peer_unref(p.peer);
			continue;
		}
		g_array_append_val(pending, p);
	}
	flush_redeems(svc, pending);
	g_array_free(pending, TRUE);
}
