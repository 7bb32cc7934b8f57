/*
 * bson_json.h — canonical extended JSON of a BSON document, for tests that compare documents as text.
 * Test-only: the store never needs a document as text, so this lives with the tests, not in store_mongo_bson.c.
 */

#ifndef P2PLINK_TEST_BSON_JSON_H
#define P2PLINK_TEST_BSON_JSON_H

#include <bson/bson.h>
#include <glib.h>

/* g_malloc'd */
static inline char *p2plink_mongo_to_json(const bson_t *doc) {
	size_t len = 0;
	char *json = bson_as_canonical_extended_json(doc, &len);
	char *copy = g_strndup(json, len);
	bson_free(json);
	return copy;
}

#endif
