/*
 * test_http_routes.c — PeerJS REST routes, CORS and the static file jail (http_routes.c).
 */

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "http_routes.h"

static char *html_root = NULL;
static char *outside = NULL;

static peerjs_http_config config(const char *path, gboolean discovery, char **cors) {
	peerjs_http_config c = { path, "peerjs", discovery, html_root, cors };
	return c;
}

static void route(const peerjs_http_config *c, const char *method, const char *uri, const char *origin,
		peerjs_http_answer *a) {
	peerjs_http_route(c, method, uri, origin, a);
}

static void test_id_route_answers_any_key_like_reference(void) {
	peerjs_http_config c = config("/", FALSE, NULL);
	peerjs_http_answer a;
	route(&c, "GET", "/peerjs/id", NULL, &a);
	g_assert_cmpint(a.kind, ==, PEERJS_ROUTE_NEW_ID);
	g_assert_cmpstr(a.content_type, ==, "text/html; charset=utf-8");
	peerjs_http_answer_clear(&a);
	route(&c, "GET", "/otherkey/id", NULL, &a);
	g_assert_cmpint(a.kind, ==, PEERJS_ROUTE_NEW_ID);
	peerjs_http_answer_clear(&a);
}

static void test_peers_is_401_unless_discovery(void) {
	peerjs_http_config off = config("/", FALSE, NULL), on = config("/", TRUE, NULL);
	peerjs_http_answer a;
	route(&off, "GET", "/peerjs/peers", NULL, &a);
	g_assert_cmpint(a.status, ==, 401);
	g_assert_cmpstr(a.body, ==, "Unauthorized");
	peerjs_http_answer_clear(&a);
	route(&on, "GET", "/peerjs/peers", NULL, &a);
	g_assert_cmpint(a.kind, ==, PEERJS_ROUTE_PEERS);
	peerjs_http_answer_clear(&a);
}

static void test_custom_path_serves_app_json_and_ws_path(void) {
	peerjs_http_config c = config("/myapp/", FALSE, NULL);
	peerjs_http_answer a;
	route(&c, "GET", "/myapp/", NULL, &a);
	g_assert_cmpint(a.status, ==, 200);
	g_assert_true(strstr(a.body, "PeerJS Server") != NULL);
	peerjs_http_answer_clear(&a);
	route(&c, "GET", "/myapp/peerjs/id", NULL, &a);
	g_assert_cmpint(a.kind, ==, PEERJS_ROUTE_NEW_ID);
	peerjs_http_answer_clear(&a);
	g_assert_true(peerjs_http_is_ws_path(&c, "/myapp/peerjs"));
	g_assert_false(peerjs_http_is_ws_path(&c, "/peerjs"));
	g_assert_false(peerjs_http_is_ws_path(&c, "/myapp/peerjsx"));
}

static void test_cors_reflects_origin_or_allow_list(void) {
	peerjs_http_config any = config("/", FALSE, NULL);
	char *list[] = { "https://a.example", NULL };
	peerjs_http_config some = config("/", FALSE, list);
	peerjs_http_answer a;
	route(&any, "GET", "/peerjs/id", "https://x.example", &a);
	g_assert_cmpstr(a.allow_origin, ==, "https://x.example");
	peerjs_http_answer_clear(&a);
	route(&some, "GET", "/peerjs/id", "https://a.example", &a);
	g_assert_cmpstr(a.allow_origin, ==, "https://a.example");
	peerjs_http_answer_clear(&a);
	route(&some, "GET", "/peerjs/id", "https://x.example", &a);
	g_assert_null(a.allow_origin);
	peerjs_http_answer_clear(&a);
	route(&some, "OPTIONS", "/peerjs/id", "https://a.example", &a);
	g_assert_cmpint(a.status, ==, 204);
	peerjs_http_answer_clear(&a);
}

static void test_static_files_and_landing(void) {
	peerjs_http_config c = config("/", FALSE, NULL);
	peerjs_http_answer a;
	route(&c, "GET", "/", NULL, &a);
	g_assert_cmpint(a.kind, ==, PEERJS_ROUTE_FILE);
	g_assert_true(g_str_has_suffix(a.file_path, "/index.html"));
	peerjs_http_answer_clear(&a);
	route(&c, "GET", "/js/app.js", NULL, &a);
	g_assert_cmpint(a.kind, ==, PEERJS_ROUTE_FILE);
	g_assert_cmpstr(a.content_type, ==, "text/javascript; charset=utf-8");
	peerjs_http_answer_clear(&a);
	route(&c, "GET", "/l/abcDEF123_-", NULL, &a);
	g_assert_cmpint(a.kind, ==, PEERJS_ROUTE_FILE);
	g_assert_true(g_str_has_suffix(a.file_path, "/index.html"));
	peerjs_http_answer_clear(&a);
}

static void test_static_files_cannot_leave_the_root(void) {
	peerjs_http_config c = config("/", FALSE, NULL);
	char *outside_name = g_path_get_basename(outside);
	char *escape = g_strdup_printf("/../%s/secret.txt", outside_name);
	g_free(outside_name);
	const char *bad[] = { "/../etc/passwd", "/js/../../etc/passwd", "/./index.html", "//etc/passwd",
		"/js/..\\..\\etc", "/missing.html", "/js", "/link-out/secret.txt", escape };
	for(size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		peerjs_http_answer a;
		route(&c, "GET", bad[i], NULL, &a);
		g_assert_cmpint(a.status, ==, 404);
		peerjs_http_answer_clear(&a);
	}
	g_free(escape);
}

static void test_other_methods_refused(void) {
	peerjs_http_config c = config("/", FALSE, NULL);
	peerjs_http_answer a;
	route(&c, "DELETE", "/index.html", NULL, &a);
	g_assert_cmpint(a.status, ==, 405);
	peerjs_http_answer_clear(&a);
}

static void make_tree(void) {
	char *base = g_dir_make_tmp("p2plink-routes-XXXXXX", NULL);
	html_root = g_build_filename(base, "html", NULL);
	outside = g_build_filename(base, "outside", NULL);
	char *js = g_build_filename(html_root, "js", NULL);
	g_mkdir_with_parents(js, 0700);
	g_mkdir_with_parents(outside, 0700);
	char *f1 = g_build_filename(html_root, "index.html", NULL);
	char *f2 = g_build_filename(js, "app.js", NULL);
	char *f3 = g_build_filename(outside, "secret.txt", NULL);
	char *link = g_build_filename(html_root, "link-out", NULL);
	g_file_set_contents(f1, "<!doctype html>", -1, NULL);
	g_file_set_contents(f2, "export {}", -1, NULL);
	g_file_set_contents(f3, "secret", -1, NULL);
	g_assert_cmpint(symlink(outside, link), ==, 0);
	g_free(f1); g_free(f2); g_free(f3); g_free(link); g_free(js); g_free(base);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	make_tree();
	g_test_add_func("/http/id/answers_any_key_like_reference", test_id_route_answers_any_key_like_reference);
	g_test_add_func("/http/peers/401_unless_discovery", test_peers_is_401_unless_discovery);
	g_test_add_func("/http/path/custom_path_serves_app_json_and_ws_path", test_custom_path_serves_app_json_and_ws_path);
	g_test_add_func("/http/cors/reflects_origin_or_allow_list", test_cors_reflects_origin_or_allow_list);
	g_test_add_func("/http/static/files_and_landing", test_static_files_and_landing);
	g_test_add_func("/http/static/cannot_leave_the_root", test_static_files_cannot_leave_the_root);
	g_test_add_func("/http/methods/other_methods_refused", test_other_methods_refused);
	int rc = g_test_run();
	return rc;
}
