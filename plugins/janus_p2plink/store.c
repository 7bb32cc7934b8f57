/*! \file    store.c
 * \brief   p2plink link store: pieces shared by every backend
 * \details The error domain, its stable codes and the paging rule, so that
 * each backend reports errors and pages lists the same way.
 *
 * Not for: any storage logic (store_sqlite.c, store_mongo.c) or link rules
 * (links.c).
 *
 * \author  p2plink
 */

#include "store.h"

G_DEFINE_QUARK(p2plink-store-error-quark, p2plink_store_error)

const char *p2plink_store_error_code(int code) {
	switch(code) {
		case P2PLINK_STORE_ERROR_IO: return "store-unavailable";
		case P2PLINK_STORE_ERROR_READONLY: return "store-read-only";
		case P2PLINK_STORE_ERROR_BUSY: return "store-busy";
		case P2PLINK_STORE_ERROR_SCHEMA: return "store-schema";
		case P2PLINK_STORE_ERROR_NOT_FOUND: return "not-found";
		case P2PLINK_STORE_ERROR_EXISTS: return "exists";
		case P2PLINK_STORE_ERROR_LIMIT: return "limit";
		case P2PLINK_STORE_ERROR_INVALID: return "invalid";
		default: return "store-internal";
	}
}

guint p2plink_store_page_size(guint limit) {
	if(limit == 0)
		return P2PLINK_STORE_DEFAULT_LIMIT;
	return MIN(limit, P2PLINK_STORE_MAX_LIMIT);
}
