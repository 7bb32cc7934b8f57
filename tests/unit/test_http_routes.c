/*
 * test_http_routes.c — PeerJS REST routes, CORS and the static file jail (http_routes.c).
 */

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "http_routes.h"
#include "temp_tree.h"

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

static const char *const proxies[] = { "10.0.0.0/8", "2001:db8:aaaa::/48", NULL };

static peerjs_client_ip_result client_ip(const char *socket_ip, const char *xff, char **got) {
	return peerjs_http_client_ip(socket_ip, xff, xff ? strlen(xff) : 0, proxies, got);
}

static void test_client_ip_walks_trusted_hops_to_the_client(void) {
	char *got = NULL;
	g_assert_cmpint(client_ip("10.0.0.1", "203.0.113.9, 198.51.100.7, 10.2.3.4", &got), ==, PEERJS_CLIENT_IP_OK);
	g_assert_cmpstr(got, ==, "198.51.100.7");
	g_free(got);
	/* Without a header, or from an untrusted socket, the socket's own address */
	g_assert_cmpint(client_ip("10.0.0.1", NULL, &got), ==, PEERJS_CLIENT_IP_OK);
	g_assert_cmpstr(got, ==, "10.0.0.1");
	g_free(got);
	g_assert_cmpint(client_ip("192.0.2.1", "garbage", &got), ==, PEERJS_CLIENT_IP_OK);
	g_assert_cmpstr(got, ==, "192.0.2.1");
	g_free(got);
	/* Client-written garbage left of the client's hop is never read */
	g_assert_cmpint(client_ip("10.0.0.1", "<script>, 1.2.3.4.5, 198.51.100.7", &got), ==, PEERJS_CLIENT_IP_OK);
	g_assert_cmpstr(got, ==, "198.51.100.7");
	g_free(got);
}

static void test_client_ip_long_header_is_read_whole(void) {
	/* The attack: >= 1,010 bytes made the server fall back to the proxy's address. 200 trusted hops
	 * (2.6 KB) are read to the end. */
	GString *xff = g_string_new("198.51.100.7");
	for(int i = 0; i < 200; i++)
		g_string_append_printf(xff, ", 10.0.%d.%d", i / 200, i % 200 + 1);
	g_assert_cmpuint(xff->len, >, 1010);
	g_assert_cmpuint(xff->len, <=, PEERJS_XFF_MAX_LEN);
	char *got = NULL;
	g_assert_cmpint(client_ip("10.0.0.1", xff->str, &got), ==, PEERJS_CLIENT_IP_OK);
	g_assert_cmpstr(got, ==, "198.51.100.7");
	g_free(got);
	g_string_free(xff, TRUE);
}

static void test_client_ip_too_long_header_is_refused(void) {
	GString *xff = g_string_new("198.51.100.7");
	while(xff->len <= PEERJS_XFF_MAX_LEN)
		g_string_append(xff, ", 10.9.9.9");
	char *got = (char *)"sentinel";
	g_assert_cmpint(client_ip("10.0.0.1", xff->str, &got), ==, PEERJS_CLIENT_IP_TOO_LONG);
	g_assert_null(got);
	/* The length that counts is the header's real one, even when the caller could copy only part of it */
	g_assert_cmpint(peerjs_http_client_ip("10.0.0.1", "198.51.100.7", PEERJS_XFF_MAX_LEN + 1, proxies, &got), ==,
		PEERJS_CLIENT_IP_TOO_LONG);
	g_assert_null(got);
	g_assert_cmpint(peerjs_http_client_ip("10.0.0.1", NULL, 40, proxies, &got), ==, PEERJS_CLIENT_IP_MALFORMED);
	g_assert_null(got);
	g_string_free(xff, TRUE);
}

static void test_client_ip_malformed_trusted_hop_is_refused(void) {
	const char *bad[] = { "198.51.100.7, not-an-ip", "198.51.100.7, ", "", " ", "198.51.100.7,,10.1.1.1",
		"198.51.100.7, 10.1.1.1:443", "garbage, 10.1.1.1", "198.51.100.7 10.1.1.1" };
	for(size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		char *got = NULL;
		peerjs_client_ip_result r = peerjs_http_client_ip("10.0.0.1", bad[i], strlen(bad[i]), proxies, &got);
		if(strlen(bad[i]) == 0) {
			/* An empty header is no header */
			g_assert_cmpint(r, ==, PEERJS_CLIENT_IP_OK);
			g_assert_cmpstr(got, ==, "10.0.0.1");
			g_free(got);
			continue;
		}
		g_assert_cmpint(r, ==, PEERJS_CLIENT_IP_MALFORMED);
		g_assert_null(got);
	}
}

static const char *header(peerjs_http_header *h, guint n, const char *name) {
	for(guint i = 0; i < n; i++) {
		if(strcmp(h[i].name, name) == 0)
			return h[i].value;
	}
	return NULL;
}

static void test_security_headers_for_the_app(void) {
	peerjs_http_header h[PEERJS_HTTP_SECURITY_HEADERS];
	guint n = peerjs_http_security_headers(TRUE, TRUE, "p2p.example.org:8443", h);
	const char *csp = header(h, n, "content-security-policy:");
	g_assert_nonnull(csp);
	g_assert_nonnull(strstr(csp, "script-src 'self';"));
	g_assert_null(strstr(csp, "unsafe-inline"));
	g_assert_null(strstr(csp, "unsafe-eval"));
	g_assert_nonnull(strstr(csp, "frame-ancestors 'none'"));
	g_assert_nonnull(strstr(csp, "connect-src 'self' wss://p2p.example.org:8443;"));
	g_assert_nonnull(strstr(csp, "img-src 'self' data: blob:"));
	g_assert_nonnull(strstr(csp, "media-src 'self' blob:"));
	g_assert_nonnull(strstr(csp, "object-src 'none'"));
	g_assert_cmpstr(header(h, n, "x-content-type-options:"), ==, "nosniff");
	g_assert_cmpstr(header(h, n, "referrer-policy:"), ==, "no-referrer");
	g_assert_cmpstr(header(h, n, "strict-transport-security:"), ==, "max-age=31536000");
	g_assert_nonnull(strstr(header(h, n, "permissions-policy:"), "camera=(self), microphone=(self), display-capture=(self)"));
	peerjs_http_headers_clear(h, n);
	/* No TLS: no HSTS; a Host that is not a plain host[:port] never reaches the policy */
	n = peerjs_http_security_headers(TRUE, FALSE, "evil.org; script-src *", h);
	g_assert_null(header(h, n, "strict-transport-security:"));
	csp = header(h, n, "content-security-policy:");
	g_assert_nonnull(strstr(csp, "connect-src 'self';"));
	g_assert_null(strstr(csp, "evil"));
	peerjs_http_headers_clear(h, n);
}

static void test_security_headers_for_api_answers_allow_nothing(void) {
	peerjs_http_header h[PEERJS_HTTP_SECURITY_HEADERS];
	guint n = peerjs_http_security_headers(FALSE, TRUE, "p2p.example.org", h);
	const char *csp = header(h, n, "content-security-policy:");
	g_assert_true(g_str_has_prefix(csp, "default-src 'none';"));
	g_assert_nonnull(strstr(csp, "frame-ancestors 'none'"));
	g_assert_cmpstr(header(h, n, "x-content-type-options:"), ==, "nosniff");
	peerjs_http_headers_clear(h, n);
}

static void test_content_length_accepts_only_digits(void) {
	guint64 n = 1;
	g_assert_true(peerjs_http_content_length("0", &n));
	g_assert_cmpuint(n, ==, 0);
	g_assert_true(peerjs_http_content_length("16384", &n));
	g_assert_cmpuint(n, ==, 16384);
	g_assert_true(peerjs_http_content_length("00012", &n));
	g_assert_cmpuint(n, ==, 12);
	g_assert_true(peerjs_http_content_length("18446744073709551615", &n));
	g_assert_cmpuint(n, ==, G_MAXUINT64);
	const char *bad[] = { "", "-5", "+5", " 5", "5 ", "12abc", "5, 5", "0x10", "1e3", "18446744073709551616",
		"000000000000000000012" };
	for(guint i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(peerjs_http_content_length(bad[i], &n));
	g_assert_false(peerjs_http_content_length(NULL, &n));
}

static char *tree_base;

static void make_tree(void) {
	char *base = tree_base = g_dir_make_tmp("p2plink-routes-XXXXXX", NULL);
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
	g_free(f1); g_free(f2); g_free(f3); g_free(link); g_free(js);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	make_tree();
	g_test_add_func("/http/content_length/accepts_only_digits", test_content_length_accepts_only_digits);
	g_test_add_func("/http/id/answers_any_key_like_reference", test_id_route_answers_any_key_like_reference);
	g_test_add_func("/http/peers/401_unless_discovery", test_peers_is_401_unless_discovery);
	g_test_add_func("/http/path/custom_path_serves_app_json_and_ws_path", test_custom_path_serves_app_json_and_ws_path);
	g_test_add_func("/http/cors/reflects_origin_or_allow_list", test_cors_reflects_origin_or_allow_list);
	g_test_add_func("/http/static/files_and_landing", test_static_files_and_landing);
	g_test_add_func("/http/static/cannot_leave_the_root", test_static_files_cannot_leave_the_root);
	g_test_add_func("/http/methods/other_methods_refused", test_other_methods_refused);
	g_test_add_func("/http/client_ip/walks_trusted_hops_to_the_client", test_client_ip_walks_trusted_hops_to_the_client);
	g_test_add_func("/http/client_ip/long_header_is_read_whole", test_client_ip_long_header_is_read_whole);
	g_test_add_func("/http/client_ip/too_long_header_is_refused", test_client_ip_too_long_header_is_refused);
	g_test_add_func("/http/client_ip/malformed_trusted_hop_is_refused", test_client_ip_malformed_trusted_hop_is_refused);
	g_test_add_func("/http/headers/security_headers_for_the_app", test_security_headers_for_the_app);
	g_test_add_func("/http/headers/api_answers_allow_nothing", test_security_headers_for_api_answers_allow_nothing);
	int rc = g_test_run();
	remove_tree(tree_base);
	g_free(tree_base);
	return rc;
}
