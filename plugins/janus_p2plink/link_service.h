/*
 * link_service.h — share-link requests: the admin API's link operations and the peer-side HTTP endpoints.
 *
 * What it is for: turning a decoded request (admin JSON, or a peer's POST body plus the client IP the transport
 * attested) into store operations, registry grants and a JSON answer with a stable error code and a sentence.
 * What it is not for: threads (the plugin runs these on its worker pool or the admin thread, never on the routing
 * thread), sockets, Janus. Pure: store + registry + jansson, time passed in.
 */

#ifndef P2PLINK_LINK_SERVICE_H
#define P2PLINK_LINK_SERVICE_H

#include <jansson.h>

#include "links.h"
#include "ratelimit.h"
#include "registry.h"
#include "store.h"

typedef struct p2plink_link_service_config {
	p2plink_link_limits admin_limits;	/* TTL rules for links made by admins */
	p2plink_link_limits peer_limits;	/* TTL rules for links peers make to themselves */
	guint max_links_per_peer;			/* active links a peer (owner) may have; 0 = no limit */
	const char *public_url;				/* e.g. "https://p2p.example.org"; NULL: answers carry only the path */
	gboolean private_click_ips;			/* the click log keeps client IPs cut to /24 (IPv4) or /48 (IPv6) */
} p2plink_link_service_config;

typedef enum p2plink_link_event {
	P2PLINK_LINK_EVENT_CREATED,
	P2PLINK_LINK_EVENT_REDEEMED,
	P2PLINK_LINK_EVENT_DENIED,
	P2PLINK_LINK_EVENT_REVOKED,
	P2PLINK_LINK_EVENT_DELETED,
	P2PLINK_LINK_EVENT_STORE_FAILED,	/* the store could not serve a request; outcome: its error message */
} p2plink_link_event;
/* For Janus event handlers: link id (never the token), target, and for redemptions the outcome code */
typedef void (*p2plink_link_observer)(p2plink_link_event event, const char *link_id, const char *target,
	const char *outcome, void *data);

typedef struct p2plink_link_service {
	p2plink_link_service_config config;
	p2plink_store *store;			/* may be NULL: link operations then fail with store-unavailable */
	p2plink_registry *registry;		/* may be NULL for admin-only use */
	p2plink_link_observer observer;
	void *observer_data;
	p2plink_rate_table *redeem_limiter;	/* redemptions and peeks per client IP (token guessing); NULL = none */
	p2plink_rate_table *create_owner_limiter;	/* links/create per owner hash; NULL = none */
	p2plink_rate_table *create_ip_limiter;		/* links/create per client IP; NULL = none */
} p2plink_link_service;

/* Admin requests, one {name, handler} table: create_link, list_links, get_link, revoke_link, delete_link,
 * list_clicks, link_stats. Returns NULL when `request` is not one of them. is_admin_request says which requests those are, so the plugin
 * opens (or waits on) the store only for them: stats, list_peers and kick_peer are answered from the registry. */
gboolean p2plink_link_service_is_admin_request(const char *request);
json_t *p2plink_link_service_admin(p2plink_link_service *svc, const char *request, json_t *message, gint64 now);

/* Peer endpoints (route is what follows {path}{key}/), one {name, handler} table: "links/create", "links/list",
 * "links/revoke", "links/redeem", "links/peek" (the only one without id/token), "linkonly"; any other route is
 * HTTP 404 "unknown-request". body may be NULL (not JSON). client_ip is the attested socket (or trusted proxy)
 * address. *status gets the HTTP status. Returns the JSON answer (new reference); errors as p2plink_errors.h. */
json_t *p2plink_link_service_peer(p2plink_link_service *svc, const char *route, json_t *body, const char *client_ip,
	const char *user_agent, const char *base_url, gint64 now, int *status);

/* One peer request of a batch: inputs, and status + answer (new reference) filled in */
typedef struct p2plink_peer_request {
	const char *route;
	json_t *body;
	const char *client_ip, *user_agent, *base_url;
	int status;
	json_t *answer;
} p2plink_peer_request;

/* Many peer requests in arrival order, with the same answers as one p2plink_link_service_peer call each; runs of
 * consecutive redemptions share one store commit when the store offers it (SQLite: group commit). */
void p2plink_link_service_peer_batch(p2plink_link_service *svc, p2plink_peer_request *requests, guint n, gint64 now);

#endif
