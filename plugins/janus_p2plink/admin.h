/*
 * admin.h — the p2plink Admin API: requests that reach handle_admin_message through Janus's "message_plugin".
 *
 * What it is for: decoding and validating admin requests and building their JSON answers, so the logic is testable
 * without Janus. What it is not for: authentication (Janus checks admin_secret before we are called).
 */

#ifndef P2PLINK_ADMIN_H
#define P2PLINK_ADMIN_H

#include <jansson.h>

#include "p2plink_errors.h"
#include "registry.h"

/* "offset" and "limit" of a paged admin request (absent: 0 and default_limit). FALSE when either is present but
 * not an integer in range (offset <= G_MAXINT, limit <= max_limit); the caller answers with its own error. */
gboolean p2plink_admin_page(json_t *message, guint default_limit, guint max_limit, guint *offset, guint *limit);

/* The registry's admin requests ("stats", "list_peers", "kick_peer"), dispatched through one {name, handler} table;
 * any other name is answered "unknown-request" (the plugin hands link requests to link_service.c first). message is
 * borrowed (may be NULL); reg may be NULL when no transport is attached. Returns a new object. */
json_t *p2plink_admin_handle(p2plink_registry *reg, json_t *message);

#endif
