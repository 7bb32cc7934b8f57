/* store_suite.h — the backend-independent test suite for store.h
 *
 * What it is for: one set of GLib tests that every store backend must pass
 * (CRUD, list filter/paging, revoke, delete, click log per outcome, stats,
 * counts, reopen, exact click counts under concurrency). A backend's test
 * program describes how to make fresh storage and open handles on it, then
 * calls p2plink_store_suite_add() before g_test_run().
 * Not for: backend-specific checks (file permissions, schema migration,
 * BSON shapes); those live in the backend's own test program.
 */

#ifndef P2PLINK_STORE_SUITE_H
#define P2PLINK_STORE_SUITE_H

#include <glib.h>

#include "store.h"

typedef struct p2plink_store_backend {
	/* Tests are registered as /store/<name>/<behaviour> */
	const char *name;
	/* Fresh, empty storage for one test (a temp folder, a new database
	 * name). Return NULL and set *skip_reason (g_strdup'd) when the
	 * backend cannot run here: the test then reports SKIP, never ok. */
	gpointer (*setup)(char **skip_reason);
	/* Open a handle on the fixture's storage. Called several times per
	 * fixture: sequentially (reopen) and from many threads at once
	 * (one handle per thread), so each call must be an independent handle. */
	p2plink_store *(*open)(gpointer fixture, GError **error);
	/* Remove the storage; every handle is closed by then */
	void (*teardown)(gpointer fixture);
} p2plink_store_backend;

/* Register every suite test for this backend. `backend` must outlive g_test_run(). */
void p2plink_store_suite_add(const p2plink_store_backend *backend);

/* Every field of two links is equal (also used by the MongoDB BSON round-trip tests) */
void p2plink_assert_same_link(const p2plink_link *a, const p2plink_link *b);

#endif
