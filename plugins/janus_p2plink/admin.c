/*
 * admin.c — Admin API requests. See admin.h; each request and its JSON is documented in README.md.
 *
 *   {"request":"stats"}                                  -> {"p2plink":"stats", ...registry counters}
 *   {"request":"list_peers","offset":0,"limit":100}      -> {"p2plink":"peers","peers":[...],"total":N,...}
 *   {"request":"kick_peer","id":"<peer id>"}             -> {"p2plink":"kicked","id":"..."}
 * Errors (p2plink_errors.h): {"p2plink":"error","error_code":48x,"code":"<stable code>","error":"sentence"}; an
 * unknown request name is "unknown-request".
 */

#include <string.h>

#include "admin.h"
#include "protocol.h"

#define DEFAULT_PAGE 100
#define MAX_PAGE 1000

/* Reads an optional non-negative integer member; FALSE if present with the wrong type or range */
static gboolean optional_uint(json_t *message, const char *name, guint fallback, guint max, guint *out) {
	json_t *value = json_object_get(message, name);
	if(value == NULL) {
		*out = fallback;
		return TRUE;
	}
	if(!json_is_integer(value) || json_integer_value(value) < 0 || json_integer_value(value) > max)
		return FALSE;
	*out = (guint)json_integer_value(value);
	return TRUE;
}

gboolean p2plink_admin_page(json_t *message, guint default_limit, guint max_limit, guint *offset, guint *limit) {
	return optional_uint(message, "offset", 0, G_MAXINT, offset) &&
		optional_uint(message, "limit", default_limit, max_limit, limit);
}

static json_t *with_tag(json_t *object, const char *tag) {
	json_object_set_new(object, "p2plink", json_string(tag));
	return object;
}

static json_t *handle_list_peers(p2plink_registry *reg, json_t *message) {
	guint offset, limit;
	if(!p2plink_admin_page(message, DEFAULT_PAGE, MAX_PAGE, &offset, &limit))
		return p2plink_error_admin(P2PLINK_E_INVALID_ELEMENT,
			"offset must be a non-negative integer and limit an integer from 0 to 1000");
	return with_tag(p2plink_registry_list_peers(reg, offset, limit), "peers");
}

static json_t *handle_kick_peer(p2plink_registry *reg, json_t *message) {
	json_t *id = json_object_get(message, "id");
	if(id == NULL)
		return p2plink_error_admin(P2PLINK_E_MISSING_ELEMENT, "Missing element (id)");
	if(!json_is_string(id) || !p2plink_id_is_valid(json_string_value(id)))
		return p2plink_error_admin(P2PLINK_E_INVALID_ELEMENT, "Invalid element (id must be a peer id)");
	const char *target = json_string_value(id);
	if(!p2plink_registry_kick_id(reg, target, "kicked by an administrator")) {
		/* Cluster: held on another node (its lease names an owner)? That node kicks it */
		char *owner = p2plink_registry_owner_of(reg, target);
		if(owner == NULL)
			return p2plink_error_admin(P2PLINK_E_NO_SUCH_PEER, NULL);
		g_free(owner);
		p2plink_registry_kick_remote(reg, target);
		return json_pack("{s:s,s:s,s:b}", "p2plink", "kicked", "id", target, "remote", TRUE);
	}
	return json_pack("{s:s,s:s}", "p2plink", "kicked", "id", json_string_value(id));
}

static json_t *handle_stats(p2plink_registry *reg, json_t *message) {
	return with_tag(p2plink_registry_stats(reg), "stats");
}

typedef struct admin_request {
	const char *name;
	json_t *(*handler)(p2plink_registry *reg, json_t *message);
} admin_request;

static const admin_request requests[] = {
	{ "stats", handle_stats },
	{ "list_peers", handle_list_peers },
	{ "kick_peer", handle_kick_peer },
};

static const admin_request *find_request(const char *name) {
	for(size_t i = 0; name != NULL && i < G_N_ELEMENTS(requests); i++) {
		if(!strcmp(requests[i].name, name))
			return &requests[i];
	}
	return NULL;
}

json_t *p2plink_admin_handle(p2plink_registry *reg, json_t *message) {
	if(message == NULL || !json_is_object(message))
		return p2plink_error_admin(P2PLINK_E_INVALID_REQUEST, NULL);
	json_t *name = json_object_get(message, "request");
	if(name == NULL)
		return p2plink_error_admin(P2PLINK_E_MISSING_ELEMENT, "Missing element (request)");
	if(!json_is_string(name))
		return p2plink_error_admin(P2PLINK_E_INVALID_ELEMENT, "Invalid element (request should be a string)");
	const admin_request *request = find_request(json_string_value(name));
	if(request == NULL)
		return p2plink_error_admin(P2PLINK_E_UNKNOWN_REQUEST, NULL);
	if(reg == NULL)
		return p2plink_error_admin(P2PLINK_E_NO_TRANSPORT, NULL);
	return request->handler(reg, message);
}
