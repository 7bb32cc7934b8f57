/* test_store_sqlite.c — the SQLite link store under test
 *
 * What it covers: the shared store suite (store_suite.c) run against
 * store_sqlite.c, plus what only SQLite has: folder/file creation, WAL and
 * schema version, refusing a newer schema, racing first opens, and clean
 * errors for an unreachable folder, a non-database file and a read-only
 * file. Not for: link rules (test_links.c).
 *
 * Build and run by hand (from the repository root):
 *   gcc -Wall -Wextra -O1 -g $(pkg-config --cflags glib-2.0 jansson openssl sqlite3) \
 *     -Icommon -Iplugins/janus_p2plink -Itests/unit tests/unit/test_store_sqlite.c tests/unit/store_suite.c \
 *     plugins/janus_p2plink/store_sqlite.c plugins/janus_p2plink/store.c common/links.c \
 *     -o /tmp/test_store_sqlite $(pkg-config --libs glib-2.0 jansson openssl sqlite3) \
 *     && /tmp/test_store_sqlite --tap
 * Add -fsanitize=address,undefined, or run under
 *   valgrind --leak-check=full --error-exitcode=1 /tmp/test_store_sqlite
 * Temporary folders go to $TMPDIR (default /tmp) and are removed afterwards.
 */

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "store.h"
#include "store_suite.h"
#include "temp_tree.h"

/* ---- Fixture: a fresh temporary folder per test ---- */

typedef struct sqlite_fixture {
	char *root;	/* removed at teardown */
	char *folder;	/* root/db: does not exist until the store creates it */
} sqlite_fixture;

static gpointer fixture_setup(char **skip_reason) {
	(void)skip_reason;
	sqlite_fixture *f = g_new0(sqlite_fixture, 1);
	GError *error = NULL;
	f->root = g_dir_make_tmp("p2plink-store-XXXXXX", &error);
	g_assert_no_error(error);
	f->folder = g_build_filename(f->root, "db", NULL);
	return f;
}

static p2plink_store *fixture_open(gpointer fixture, GError **error) {
	sqlite_fixture *f = fixture;
	p2plink_store_sqlite_options options = { .folder = f->folder };
	return p2plink_store_sqlite_open(&options, error);
}

static void fixture_teardown(gpointer fixture) {
	sqlite_fixture *f = fixture;
	g_chmod(f->root, 0700);
	remove_tree(f->root);
	g_free(f->folder);
	g_free(f->root);
	g_free(f);
}

static const p2plink_store_backend sqlite_backend = {
	"sqlite", fixture_setup, fixture_open, fixture_teardown,
};

/* ---- Helpers ---- */

static char *db_file(sqlite_fixture *f) {
	return g_build_filename(f->folder, P2PLINK_SQLITE_FILE, NULL);
}

static sqlite_fixture *open_and_close(void) {
	sqlite_fixture *f = fixture_setup(NULL);
	GError *error = NULL;
	p2plink_store *s = fixture_open(f, &error);
	g_assert_no_error(error);
	p2plink_store_close(s);
	return f;
}

static gint64 pragma(const char *path, const char *sql) {
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	g_assert_cmpint(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &q, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_step(q), ==, SQLITE_ROW);
	gint64 v = sqlite3_column_type(q, 0) == SQLITE_TEXT ?
		(strcmp((const char *)sqlite3_column_text(q, 0), "wal") == 0 ? 1 : 0) : sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

static void exec_sql(const char *path, const char *sql) {
	sqlite3 *db = NULL;
	g_assert_cmpint(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_exec(db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
	sqlite3_close(db);
}

/* ---- SQLite-specific tests ---- */

static void test_open_creates_folder_and_file(void) {
	sqlite_fixture *f = fixture_setup(NULL);
	g_assert_false(g_file_test(f->folder, G_FILE_TEST_EXISTS));
	GError *error = NULL;
	p2plink_store *s = fixture_open(f, &error);
	g_assert_no_error(error);
	char *path = db_file(f);
	g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
	GStatBuf st;
	g_assert_cmpint(g_stat(f->folder, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0700);
	p2plink_store_close(s);
	g_free(path);
	fixture_teardown(f);
}

static void test_open_uses_wal_and_current_schema_version(void) {
	sqlite_fixture *f = open_and_close();
	char *path = db_file(f);
	g_assert_cmpint(pragma(path, "PRAGMA journal_mode"), ==, 1);
	g_assert_cmpint(pragma(path, "PRAGMA user_version"), ==, P2PLINK_SQLITE_SCHEMA_VERSION);
	g_free(path);
	fixture_teardown(f);
}

static void test_open_twice_keeps_schema(void) {
	sqlite_fixture *f = open_and_close();
	GError *error = NULL;
	p2plink_store *s = fixture_open(f, &error);
	g_assert_no_error(error);
	p2plink_store_close(s);
	char *path = db_file(f);
	g_assert_cmpint(pragma(path, "PRAGMA user_version"), ==, P2PLINK_SQLITE_SCHEMA_VERSION);
	g_free(path);
	fixture_teardown(f);
}

static void test_open_refuses_newer_schema(void) {
	sqlite_fixture *f = open_and_close();
	char *path = db_file(f);
	exec_sql(path, "PRAGMA user_version = 99");
	GError *error = NULL;
	g_assert_null(fixture_open(f, &error));
	g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_SCHEMA);
	g_assert_nonnull(strstr(error->message, "newer"));
	g_error_free(error);
	g_free(path);
	fixture_teardown(f);
}

/* A file as p2plink with schema 1 left it: links without owners, one made by a peer, one by an admin */
static void write_v1_file(sqlite_fixture *f) {
	g_assert_cmpint(g_mkdir_with_parents(f->folder, 0700), ==, 0);
	char *path = db_file(f);
	sqlite3 *db = NULL;
	g_assert_cmpint(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_exec(db,
		"CREATE TABLE links (id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, target TEXT NOT NULL,"
		" purpose TEXT NOT NULL, creator TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
		" max_clicks INTEGER NOT NULL, clicks INTEGER NOT NULL DEFAULT 0, whitelist TEXT NOT NULL DEFAULT '[]',"
		" revoked INTEGER NOT NULL DEFAULT 0);"
		"CREATE TABLE clicks (id INTEGER PRIMARY KEY, link_id TEXT, at INTEGER NOT NULL, ip TEXT, user_agent TEXT,"
		" outcome TEXT NOT NULL);"
		"INSERT INTO links (id, token_hash, target, purpose, creator, created_at, expires_at, max_clicks)"
		" VALUES ('peer-made', 'h1', 'bob', 'call', 'bob', 1, 4102444800000000, 0),"
		" ('admin-made', 'h2', 'carol', 'call', '@admin', 1, 4102444800000000, 0);"
		"INSERT INTO clicks (link_id, at, outcome) VALUES ('peer-made', 2, 'ok');"
		"PRAGMA user_version = 1;", NULL, NULL, NULL), ==, SQLITE_OK);
	sqlite3_close(db);
	g_free(path);
}

static void test_migration_v1_revokes_peer_links_and_leaves_admin_links_unclaimed(void) {
	sqlite_fixture *f = fixture_setup(NULL);
	write_v1_file(f);
	GError *error = NULL;
	p2plink_store *s = fixture_open(f, &error);
	g_assert_no_error(error);
	/* A peer-made v1 link names only an id, which someone else may hold now: withdrawn */
	p2plink_link *peer = p2plink_store_get_link(s, "peer-made", &error);
	g_assert_no_error(error);
	g_assert_true(peer->revoked);
	g_assert_cmpint(peer->revoked_at, >, 0);
	g_assert_null(peer->owner);
	/* An admin v1 link stays usable, claimed by the first holder of its target at a redemption */
	p2plink_link *admin = p2plink_store_get_link(s, "admin-made", &error);
	g_assert_no_error(error);
	g_assert_false(admin->revoked);
	g_assert_null(admin->owner);
	/* Its clicks are kept */
	guint64 total = 0;
	GPtrArray *rows = p2plink_store_list_clicks(s, "peer-made", 0, 0, &total, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(total, ==, 1);
	g_ptr_array_unref(rows);
	p2plink_link_free(peer);
	p2plink_link_free(admin);
	p2plink_store_close(s);
	char *path = db_file(f);
	g_assert_cmpint(pragma(path, "PRAGMA user_version"), ==, 2);
	g_assert_cmpint(pragma(path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN "
		"('links_by_owner', 'links_by_expiry', 'links_by_revoked_at', 'clicks_by_at')"), ==, 4);
	g_free(path);
	fixture_teardown(f);
}

/* Pruning must not scan the tables: each of its queries runs on an index */
static void test_prune_queries_use_indexes(void) {
	sqlite_fixture *f = open_and_close();
	char *path = db_file(f);
	sqlite3 *db = NULL;
	g_assert_cmpint(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
	const char *queries[] = {
		"EXPLAIN QUERY PLAN SELECT id FROM links WHERE (revoked_at > 0 AND revoked_at < 5) "
			"OR (expires_at > 0 AND expires_at < 5) LIMIT 10",
		"EXPLAIN QUERY PLAN SELECT id FROM clicks WHERE at < 5 ORDER BY at LIMIT 10",
	};
	for(guint i = 0; i < G_N_ELEMENTS(queries); i++) {
		sqlite3_stmt *q = NULL;
		g_assert_cmpint(sqlite3_prepare_v2(db, queries[i], -1, &q, NULL), ==, SQLITE_OK);
		while(sqlite3_step(q) == SQLITE_ROW) {
			const char *detail = (const char *)sqlite3_column_text(q, 3);
			g_test_message("%s", detail);
			g_assert_false(g_str_has_prefix(detail, "SCAN"));
		}
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
	g_free(path);
	fixture_teardown(f);
}

typedef struct first_open {
	sqlite_fixture *f;
	gint failures;
} first_open;

static gpointer first_open_worker(gpointer data) {
	first_open *fo = data;
	GError *error = NULL;
	p2plink_store *s = fixture_open(fo->f, &error);
	if(s == NULL) {
		g_test_message("first open failed: %s", error->message);
		g_error_free(error);
		g_atomic_int_inc(&fo->failures);
	}
	p2plink_store_close(s);
	return NULL;
}

static void test_open_racing_first_opens_all_succeed(void) {
	first_open fo = { fixture_setup(NULL), 0 };
	GThread *threads[8];
	for(int i = 0; i < 8; i++)
		threads[i] = g_thread_new("opener", first_open_worker, &fo);
	for(int i = 0; i < 8; i++)
		g_thread_join(threads[i]);
	g_assert_cmpint(fo.failures, ==, 0);
	fixture_teardown(fo.f);
}

static void test_open_unreachable_folder_is_clean_error(void) {
	sqlite_fixture *f = fixture_setup(NULL);
	/* A folder "inside" a regular file cannot exist, even for root */
	char *file = g_build_filename(f->root, "plain-file", NULL);
	g_assert_true(g_file_set_contents(file, "x", 1, NULL));
	char *folder = g_build_filename(file, "db", NULL);
	p2plink_store_sqlite_options options = { .folder = folder };
	GError *error = NULL;
	g_assert_null(p2plink_store_sqlite_open(&options, &error));
	g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_IO);
	g_assert_nonnull(strstr(error->message, folder));
	g_error_free(error);
	g_free(folder);
	g_free(file);
	fixture_teardown(f);
}

static void test_open_without_folder_is_invalid(void) {
	p2plink_store_sqlite_options options = { .folder = NULL };
	GError *error = NULL;
	g_assert_null(p2plink_store_sqlite_open(&options, &error));
	g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_INVALID);
	g_clear_error(&error);
	g_assert_null(p2plink_store_sqlite_open(NULL, &error));
	g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_INVALID);
	g_clear_error(&error);
}

static void test_open_non_database_file_is_clean_error(void) {
	sqlite_fixture *f = fixture_setup(NULL);
	g_assert_cmpint(g_mkdir(f->folder, 0700), ==, 0);
	char *path = db_file(f);
	const char junk[] = "this is not an SQLite database, just some text that is long enough to have a header";
	g_assert_true(g_file_set_contents(path, junk, sizeof(junk), NULL));
	GError *error = NULL;
	g_assert_null(fixture_open(f, &error));
	g_assert_error(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_IO);
	g_error_free(error);
	g_free(path);
	fixture_teardown(f);
}

/* What opening a read-only store gave, as a process exit status */
enum { RO_REFUSED = 0, RO_OPENED = 1, RO_WRONG_ERROR = 2, RO_NO_PRIVDROP = 3 };

static int read_only_attempt(const char *folder) {
	p2plink_store_sqlite_options options = { .folder = folder };
	GError *error = NULL;
	p2plink_store *s = p2plink_store_sqlite_open(&options, &error);
	if(s != NULL) {
		p2plink_store_close(s);
		return RO_OPENED;
	}
	int rc = g_error_matches(error, P2PLINK_STORE_ERROR, P2PLINK_STORE_ERROR_READONLY) &&
		strstr(error->message, "read-only") != NULL ? RO_REFUSED : RO_WRONG_ERROR;
	g_error_free(error);
	return rc;
}

/* Root ignores file modes, so as root the attempt runs in a forked child
 * that drops to nobody (65534) first. A plain fork rather than
 * g_test_trap_subprocess: the latter starts a GLib helper thread that
 * never exits, which valgrind reports as a leak. */
static int read_only_attempt_unprivileged(const char *folder) {
	if(geteuid() != 0)
		return read_only_attempt(folder);
	pid_t pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if(pid == 0) {
		if(setgid(65534) != 0 || setuid(65534) != 0)
			_exit(RO_NO_PRIVDROP);
		_exit(read_only_attempt(folder));
	}
	int status = 0;
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_open_read_only_file_is_clean_error(void) {
	sqlite_fixture *f = open_and_close();
	char *path = db_file(f);
	/* nobody must reach the file, but neither write it nor its folder */
	g_assert_cmpint(g_chmod(f->root, 0755), ==, 0);
	g_assert_cmpint(g_chmod(f->folder, 0555), ==, 0);
	g_assert_cmpint(g_chmod(path, 0444), ==, 0);
	g_assert_cmpint(read_only_attempt_unprivileged(f->folder), ==, RO_REFUSED);
	/* Nothing was written: the file is still a valid current database */
	g_assert_cmpint(pragma(path, "PRAGMA user_version"), ==, P2PLINK_SQLITE_SCHEMA_VERSION);
	g_free(path);
	fixture_teardown(f);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	p2plink_store_suite_add(&sqlite_backend);
	g_test_add_func("/sqlite/open/creates_folder_and_file", test_open_creates_folder_and_file);
	g_test_add_func("/sqlite/open/uses_wal_and_current_schema_version", test_open_uses_wal_and_current_schema_version);
	g_test_add_func("/sqlite/open/twice_keeps_schema", test_open_twice_keeps_schema);
	g_test_add_func("/sqlite/open/refuses_newer_schema", test_open_refuses_newer_schema);
	g_test_add_func("/sqlite/open/racing_first_opens_all_succeed", test_open_racing_first_opens_all_succeed);
	g_test_add_func("/sqlite/open/unreachable_folder_is_clean_error", test_open_unreachable_folder_is_clean_error);
	g_test_add_func("/sqlite/open/without_folder_is_invalid", test_open_without_folder_is_invalid);
	g_test_add_func("/sqlite/open/non_database_file_is_clean_error", test_open_non_database_file_is_clean_error);
	g_test_add_func("/sqlite/open/read_only_file_is_clean_error", test_open_read_only_file_is_clean_error);
	g_test_add_func("/sqlite/migration/v1_revokes_peer_links_and_leaves_admin_links_unclaimed",
		test_migration_v1_revokes_peer_links_and_leaves_admin_links_unclaimed);
	g_test_add_func("/sqlite/prune/queries_use_indexes", test_prune_queries_use_indexes);
	return g_test_run();
}
