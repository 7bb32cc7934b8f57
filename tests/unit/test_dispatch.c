/*
 * test_dispatch.c — the admin API's and the peer link endpoints' {name, handler} tables (admin.c, link_service.c)
 * and the one error list they answer from (p2plink_errors.c).
 *
 * What it is for: an unknown request name is a clear "unknown-request", never the last branch of a chain; every
 * known name reaches its own handler (each answer is told apart by its tag or shape); the error codes the app, the
 * CLI and the tests read stay in the list. Runs against a real registry (fake transport) and a real SQLite store in
 * a temporary folder. What it is not for: the link rules or the store's behaviour (test_links.c, store_suite.c).
 */

#include <glib/gstdio.h>
#include <string.h>

#include "admin.h"
#include "fake_transport.h"
#include "link_service.h"
#include "p2plink_errors.h"

typedef struct fixture {
	p2plink_registry *reg;
	p2plink_conn *conns[2];
	p2plink_peer *alice, *bob;
	char *root;
	p2plink_store *store;
	p2plink_link_service svc;
	gint64 now;
} fixture;

#define ALICE_TOKEN "alice-token"
#define BOB_TOKEN "bob-token"

static void fixture_set_up(fixture *f, gconstpointer data) {
	p2plink_registry_config cfg;
	p2plink_registry_config_defaults(&cfg);
	f->reg = p2plink_registry_new(&cfg, &fake_ops);
	f->now = g_get_real_time();
	char nonce[P2PLINK_BIND_NONCE_LEN + 1];
	p2plink_open_result r;
	f->conns[0] = fake_conn_new();
	f->conns[1] = fake_conn_new();
	f->alice = p2plink_registry_open(f->reg, f->conns[0], "alice", ALICE_TOKEN, "192.0.2.1", f->now, nonce, &r);
	f->bob = p2plink_registry_open(f->reg, f->conns[1], "bob", BOB_TOKEN, "192.0.2.2", f->now, nonce, &r);
	g_assert_nonnull(f->alice);
	g_assert_nonnull(f->bob);
	GError *error = NULL;
	f->root = g_dir_make_tmp("p2plink-dispatch-XXXXXX", &error);
	g_assert_no_error(error);
	p2plink_store_sqlite_options options = { f->root, 0, FALSE };
	f->store = p2plink_store_sqlite_open(&options, &error);
	g_assert_no_error(error);
	memset(&f->svc, 0, sizeof(f->svc));
	f->svc.config.admin_limits.max_ttl_seconds = 86400;
	f->svc.config.admin_limits.default_ttl_seconds = 3600;
	f->svc.config.peer_limits = f->svc.config.admin_limits;
	f->svc.store = f->store;
	f->svc.registry = f->reg;
}

static void fixture_tear_down(fixture *f, gconstpointer data) {
	p2plink_store_close(f->store);
	GDir *dir = g_dir_open(f->root, 0, NULL);
	const char *name;
	while(dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		char *path = g_build_filename(f->root, name, NULL);
		g_unlink(path);
		g_free(path);
	}
	if(dir != NULL)
		g_dir_close(dir);
	g_rmdir(f->root);
	g_free(f->root);
	p2plink_registry_close(f->reg, f->alice, 0);
	if(f->bob != NULL)
		p2plink_registry_close(f->reg, f->bob, 0);
	p2plink_registry_free(f->reg);
	fake_conn_free(f->conns[0]);
	fake_conn_free(f->conns[1]);
}

static json_t *request(const char *text) {
	json_error_t jerr;
	json_t *message = json_loads(text, 0, &jerr);
	g_assert_nonnull(message);
	return message;
}

/* The admin path as the plugin runs it: link requests first, then admin.c */
static json_t *admin(fixture *f, p2plink_link_service *svc, const char *text) {
	json_t *message = request(text);
	const char *name = json_string_value(json_object_get(message, "request"));
	json_t *answer = p2plink_link_service_is_admin_request(name) ?
		p2plink_link_service_admin(svc, name, message, f->now) : p2plink_admin_handle(f->reg, message);
	g_assert_nonnull(answer);
	json_decref(message);
	return answer;
}

/* An admin request about one link */
static json_t *admin_on_link(fixture *f, const char *name, const char *link_id) {
	char *text = g_strdup_printf("{\"request\":\"%s\",\"link_id\":\"%s\"}", name, link_id);
	json_t *answer = admin(f, &f->svc, text);
	g_free(text);
	return answer;
}

static const char *tag(json_t *answer) {
	return json_string_value(json_object_get(answer, "p2plink"));
}

static void assert_admin_error(json_t *answer, const char *code, int error_code) {
	g_assert_cmpstr(tag(answer), ==, "error");
	g_assert_cmpstr(json_string_value(json_object_get(answer, "code")), ==, code);
	g_assert_cmpint(json_integer_value(json_object_get(answer, "error_code")), ==, error_code);
	const char *sentence = json_string_value(json_object_get(answer, "error"));
	g_assert_true(sentence != NULL && sentence[0] != '\0');
}

static json_t *peer(fixture *f, p2plink_link_service *svc, const char *route, const char *body, int *status) {
	json_t *b = body != NULL ? request(body) : NULL;
	*status = 0;
	json_t *answer = p2plink_link_service_peer(svc, route, b, "198.51.100.9", "test", "https://h", f->now, status);
	g_assert_nonnull(answer);
	json_decref(b);
	return answer;
}

static void assert_peer_error(json_t *answer, int status, int want_status, const char *code) {
	g_assert_cmpint(status, ==, want_status);
	json_t *error = json_object_get(answer, "error");
	g_assert_cmpstr(json_string_value(json_object_get(error, "code")), ==, code);
	const char *msg = json_string_value(json_object_get(error, "msg"));
	g_assert_true(msg != NULL && msg[0] != '\0');
}

/* ---- Admin ---- */

static void test_admin_unknown_name_is_unknown_request(fixture *f, gconstpointer data) {
	/* Neither table has it: not a link request, and admin.c answers unknown-request (not "list_clicks", not the
	 * last branch of anything) */
	static const char *names[] = { "nope", "", "STATS", "stats ", "list_clicks2", "links/create" };
	for(size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		g_assert_false(p2plink_link_service_is_admin_request(names[i]));
		json_t *message = json_pack("{s:s}", "request", names[i]);
		g_assert_null(p2plink_link_service_admin(&f->svc, names[i], message, f->now));
		json_t *answer = p2plink_admin_handle(f->reg, message);
		assert_admin_error(answer, "unknown-request", P2PLINK_ADMIN_ERROR_INVALID_REQUEST);
		json_decref(answer);
		/* Unknown is unknown with or without a transport */
		answer = p2plink_admin_handle(NULL, message);
		assert_admin_error(answer, "unknown-request", P2PLINK_ADMIN_ERROR_INVALID_REQUEST);
		json_decref(answer);
		json_decref(message);
	}
}

static void test_admin_malformed_requests_keep_their_codes(fixture *f, gconstpointer data) {
	json_t *answer = p2plink_admin_handle(f->reg, NULL);
	assert_admin_error(answer, "invalid-request", P2PLINK_ADMIN_ERROR_INVALID_REQUEST);
	json_decref(answer);
	answer = admin(f, &f->svc, "{}");
	assert_admin_error(answer, "missing-element", P2PLINK_ADMIN_ERROR_MISSING_ELEMENT);
	json_decref(answer);
	answer = admin(f, &f->svc, "{\"request\":7}");
	assert_admin_error(answer, "invalid-element", P2PLINK_ADMIN_ERROR_INVALID_ELEMENT);
	json_decref(answer);
	json_t *message = request("{\"request\":\"stats\"}");
	answer = p2plink_admin_handle(NULL, message);
	assert_admin_error(answer, "transport-unavailable", P2PLINK_ADMIN_ERROR_UNAVAILABLE);
	json_decref(answer);
	json_decref(message);
}

static void test_admin_each_registry_request_reaches_its_handler(fixture *f, gconstpointer data) {
	json_t *answer = admin(f, &f->svc, "{\"request\":\"stats\"}");
	g_assert_cmpstr(tag(answer), ==, "stats");
	g_assert_cmpint(json_integer_value(json_object_get(answer, "peers")), ==, 2);
	json_decref(answer);
	answer = admin(f, &f->svc, "{\"request\":\"list_peers\",\"limit\":1}");
	g_assert_cmpstr(tag(answer), ==, "peers");
	g_assert_cmpuint(json_array_size(json_object_get(answer, "peers")), ==, 1);
	json_decref(answer);
	answer = admin(f, &f->svc, "{\"request\":\"kick_peer\",\"id\":\"ghost\"}");
	assert_admin_error(answer, "no-such-peer", P2PLINK_ADMIN_ERROR_NOT_FOUND);
	json_decref(answer);
	answer = admin(f, &f->svc, "{\"request\":\"kick_peer\",\"id\":\"bob\"}");
	g_assert_cmpstr(tag(answer), ==, "kicked");
	g_assert_cmpstr(json_string_value(json_object_get(answer, "id")), ==, "bob");
	json_decref(answer);
	/* The kick closed bob: the registry answers for him no more */
	p2plink_registry_close(f->reg, f->bob, 0);
	f->bob = NULL;
	answer = admin(f, &f->svc, "{\"request\":\"stats\"}");
	g_assert_cmpint(json_integer_value(json_object_get(answer, "peers")), ==, 1);
	json_decref(answer);
}

static void test_admin_each_link_request_reaches_its_handler(fixture *f, gconstpointer data) {
	json_t *answer = admin(f, &f->svc, "{\"request\":\"create_link\",\"target\":\"alice\",\"ttl\":\"2h\"}");
	g_assert_cmpstr(tag(answer), ==, "link");
	g_assert_true(json_is_string(json_object_get(answer, "token")));
	char *id = g_strdup(json_string_value(json_object_get(json_object_get(answer, "link"), "id")));
	json_decref(answer);
	answer = admin(f, &f->svc, "{\"request\":\"list_links\"}");
	g_assert_cmpstr(tag(answer), ==, "links");
	g_assert_cmpint(json_integer_value(json_object_get(answer, "total")), ==, 1);
	json_decref(answer);
	answer = admin(f, &f->svc, "{\"request\":\"link_stats\"}");
	g_assert_cmpstr(tag(answer), ==, "link_stats");
	g_assert_cmpint(json_integer_value(json_object_get(answer, "links_total")), ==, 1);
	json_decref(answer);
	answer = admin_on_link(f, "get_link", id);
	g_assert_cmpstr(tag(answer), ==, "link");
	g_assert_cmpstr(json_string_value(json_object_get(json_object_get(answer, "link"), "id")), ==, id);
	json_decref(answer);
	/* Each of these reaches its own handler: the answer's tag says which */
	static const char *const on_link[][2] = { { "list_clicks", "clicks" }, { "revoke_link", "revoked" },
		{ "delete_link", "deleted" } };
	for(size_t i = 0; i < G_N_ELEMENTS(on_link); i++) {
		answer = admin_on_link(f, on_link[i][0], id);
		g_assert_cmpstr(tag(answer), ==, on_link[i][1]);
		json_decref(answer);
	}
	/* Gone: the store's not-found, the admin number links have always had */
	answer = admin_on_link(f, "get_link", id);
	assert_admin_error(answer, "not-found", P2PLINK_ADMIN_ERROR_LINK_NOT_FOUND);
	json_decref(answer);
	g_free(id);
	/* The requests that need a link id say so, before any store call */
	static const char *need_id[] = { "get_link", "revoke_link", "delete_link", "list_clicks" };
	for(size_t i = 0; i < G_N_ELEMENTS(need_id); i++) {
		char *text = g_strdup_printf("{\"request\":\"%s\"}", need_id[i]);
		answer = admin(f, &f->svc, text);
		assert_admin_error(answer, "bad-request", P2PLINK_ADMIN_ERROR_LINK_INVALID);
		json_decref(answer);
		g_free(text);
	}
	/* A link-rule error keeps its own code and sentence */
	answer = admin(f, &f->svc, "{\"request\":\"create_link\",\"target\":\"alice\",\"ttl\":\"5 min\"}");
	assert_admin_error(answer, "bad-ttl", P2PLINK_ADMIN_ERROR_LINK_INVALID);
	json_decref(answer);
}

static void test_admin_link_requests_without_a_store(fixture *f, gconstpointer data) {
	p2plink_link_service svc = f->svc;
	svc.store = NULL;
	static const char *names[] = { "create_link", "list_links", "get_link", "revoke_link", "delete_link",
		"list_clicks", "link_stats" };
	for(size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		g_assert_true(p2plink_link_service_is_admin_request(names[i]));
		char *text = g_strdup_printf("{\"request\":\"%s\",\"link_id\":\"x\"}", names[i]);
		json_t *answer = admin(f, &svc, text);
		assert_admin_error(answer, "store-unavailable", P2PLINK_ADMIN_ERROR_LINK_STORE);
		json_decref(answer);
		g_free(text);
	}
}

/* ---- Peers ---- */

static void test_peer_unknown_route_is_unknown_request(fixture *f, gconstpointer data) {
	static const char *routes[] = { "links/nope", "", "links", "links/create/", "LINKONLY", "id" };
	int status;
	for(size_t i = 0; i < G_N_ELEMENTS(routes); i++) {
		/* Before authentication, whatever the body */
		json_t *answer = peer(f, &f->svc, routes[i], "{\"id\":\"alice\",\"token\":\"" ALICE_TOKEN "\"}", &status);
		assert_peer_error(answer, status, 404, "unknown-request");
		json_decref(answer);
		answer = peer(f, &f->svc, routes[i], NULL, &status);
		assert_peer_error(answer, status, 404, "unknown-request");
		json_decref(answer);
	}
}

static void test_peer_each_route_reaches_its_handler(fixture *f, gconstpointer data) {
	int status;
	json_t *answer = peer(f, &f->svc, "linkonly",
		"{\"id\":\"alice\",\"token\":\"" ALICE_TOKEN "\",\"enabled\":false}", &status);
	g_assert_cmpint(status, ==, 200);
	g_assert_true(json_is_false(json_object_get(answer, "link_only")));
	json_decref(answer);
	answer = peer(f, &f->svc, "links/create", "{\"id\":\"alice\",\"token\":\"" ALICE_TOKEN "\",\"ttl\":\"1h\"}",
		&status);
	g_assert_cmpint(status, ==, 200);
	char *token = g_strdup(json_string_value(json_object_get(answer, "token")));
	char *id = g_strdup(json_string_value(json_object_get(json_object_get(answer, "link"), "id")));
	g_assert_nonnull(token);
	g_assert_true(g_str_has_prefix(json_string_value(json_object_get(answer, "url")), "https://h/l/"));
	json_decref(answer);
	answer = peer(f, &f->svc, "links/list", "{\"id\":\"alice\",\"token\":\"" ALICE_TOKEN "\"}", &status);
	g_assert_cmpint(status, ==, 200);
	g_assert_cmpuint(json_array_size(json_object_get(answer, "links")), ==, 1);
	json_decref(answer);
	char *body = g_strdup_printf("{\"link_token\":\"%s\"}", token);
	answer = peer(f, &f->svc, "links/peek", body, &status);
	g_assert_cmpint(status, ==, 200);
	g_assert_true(json_is_true(json_object_get(answer, "ok")));
	g_assert_true(json_is_true(json_object_get(answer, "online")));
	json_decref(answer);
	g_free(body);
	body = g_strdup_printf("{\"id\":\"bob\",\"token\":\"" BOB_TOKEN "\",\"link_token\":\"%s\"}", token);
	answer = peer(f, &f->svc, "links/redeem", body, &status);
	g_assert_cmpint(status, ==, 200);
	g_assert_true(json_is_true(json_object_get(answer, "ok")));
	g_assert_cmpstr(json_string_value(json_object_get(answer, "target")), ==, "alice");
	json_decref(answer);
	g_free(body);
	body = g_strdup_printf("{\"id\":\"alice\",\"token\":\"" ALICE_TOKEN "\",\"link_id\":\"%s\"}", id);
	answer = peer(f, &f->svc, "links/revoke", body, &status);
	g_assert_cmpint(status, ==, 200);
	g_assert_true(json_is_true(json_object_get(answer, "ok")));
	json_decref(answer);
	g_free(body);
	/* No such link: the store's not-found, HTTP 404 */
	answer = peer(f, &f->svc, "links/revoke", "{\"id\":\"alice\",\"token\":\"" ALICE_TOKEN "\",\"link_id\":\"nope\"}",
		&status);
	assert_peer_error(answer, status, 404, "not-found");
	json_decref(answer);
	g_free(token);
	g_free(id);
}

static void test_peer_refusals_keep_their_codes(fixture *f, gconstpointer data) {
	int status;
	json_t *answer = peer(f, &f->svc, "links/list", "[1]", &status);
	assert_peer_error(answer, status, 400, "bad-request");
	json_decref(answer);
	answer = peer(f, &f->svc, "links/peek", NULL, &status);
	assert_peer_error(answer, status, 400, "bad-request");
	json_decref(answer);
	answer = peer(f, &f->svc, "links/list", "{\"id\":\"alice\"}", &status);
	assert_peer_error(answer, status, 401, "not-connected");
	json_decref(answer);
	answer = peer(f, &f->svc, "links/list", "{\"id\":\"alice\",\"token\":\"wrong\"}", &status);
	assert_peer_error(answer, status, 401, "not-connected");
	json_decref(answer);
	answer = peer(f, &f->svc, "links/create", "{\"id\":\"alice\",\"token\":\"" ALICE_TOKEN "\",\"ttl\":\"9d\"}",
		&status);
	assert_peer_error(answer, status, 400, "ttl-too-long");
	json_decref(answer);
	/* Without a store every links/ route says so; linkonly does not need one */
	p2plink_link_service svc = f->svc;
	svc.store = NULL;
	static const char *routes[] = { "links/create", "links/list", "links/revoke", "links/redeem" };
	for(size_t i = 0; i < G_N_ELEMENTS(routes); i++) {
		answer = peer(f, &svc, routes[i], "{\"id\":\"alice\",\"token\":\"" ALICE_TOKEN "\"}", &status);
		assert_peer_error(answer, status, 503, "store-unavailable");
		json_decref(answer);
	}
	answer = peer(f, &svc, "links/peek", "{\"link_token\":\"x\"}", &status);
	assert_peer_error(answer, status, 503, "store-unavailable");
	json_decref(answer);
	answer = peer(f, &svc, "linkonly", "{\"id\":\"alice\",\"token\":\"" ALICE_TOKEN "\",\"enabled\":true}", &status);
	g_assert_cmpint(status, ==, 200);
	json_decref(answer);
}

/* ---- The list ---- */

static void test_error_codes_are_one_list(void) {
	/* Unique codes, a sentence each, an HTTP error status and an admin number each */
	for(int i = 0; i < P2PLINK_E_COUNT; i++) {
		const p2plink_error_info *info = p2plink_error_info_of(i);
		g_assert_true(info->code != NULL && info->sentence != NULL && info->sentence[0] != '\0');
		g_assert_cmpint(info->http_status, >=, 400);
		g_assert_cmpint(info->http_status, <, 600);
		g_assert_cmpint(info->admin_code, >=, 470);
		g_assert_cmpint(p2plink_error_by_code(info->code), ==, i);
	}
	/* Every code the store and the link rules can name is a row of its own (not folded into "internal") */
	for(int c = P2PLINK_STORE_ERROR_IO; c <= P2PLINK_STORE_ERROR_INTERNAL; c++) {
		const char *code = p2plink_store_error_code(c);
		g_assert_cmpstr(p2plink_error_info_of(p2plink_error_by_code(code))->code, ==, code);
	}
	for(int c = P2PLINK_LINK_ERROR_BAD_TTL; c <= P2PLINK_LINK_ERROR_INTERNAL; c++) {
		const char *code = p2plink_link_error_code(c);
		g_assert_cmpstr(p2plink_error_info_of(p2plink_error_by_code(code))->code, ==, code);
	}
	/* The codes the app and the integration tests read (html/, tests/integration/), spelled as they read them */
	static const char *read_by_clients[] = { "store-unavailable", "ttl-too-long", "bad-ttl", "bad-cidr", "limit",
		"not-found", "too-many-links", "too-many-attempts", "not-connected", "bad-request" };
	for(size_t i = 0; i < G_N_ELEMENTS(read_by_clients); i++) {
		g_assert_cmpstr(p2plink_error_info_of(p2plink_error_by_code(read_by_clients[i]))->code, ==,
			read_by_clients[i]);
	}
	g_assert_cmpint(p2plink_error_by_code("no such code"), ==, P2PLINK_E_INTERNAL);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, fixture, NULL, fixture_set_up, fn, fixture_tear_down)
	ADD("/dispatch/admin/unknown_name_is_unknown_request", test_admin_unknown_name_is_unknown_request);
	ADD("/dispatch/admin/malformed_requests_keep_their_codes", test_admin_malformed_requests_keep_their_codes);
	ADD("/dispatch/admin/each_registry_request_reaches_its_handler", test_admin_each_registry_request_reaches_its_handler);
	ADD("/dispatch/admin/each_link_request_reaches_its_handler", test_admin_each_link_request_reaches_its_handler);
	ADD("/dispatch/admin/link_requests_without_a_store", test_admin_link_requests_without_a_store);
	ADD("/dispatch/peer/unknown_route_is_unknown_request", test_peer_unknown_route_is_unknown_request);
	ADD("/dispatch/peer/each_route_reaches_its_handler", test_peer_each_route_reaches_its_handler);
	ADD("/dispatch/peer/refusals_keep_their_codes", test_peer_refusals_keep_their_codes);
	g_test_add_func("/dispatch/errors/codes_are_one_list", test_error_codes_are_one_list);
	return g_test_run();
}
