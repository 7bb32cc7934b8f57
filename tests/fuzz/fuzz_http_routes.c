/*
 * fuzz_http_routes.c — libFuzzer harness for HTTP routing and the static-file jail (transports/http_routes.c).
 *
 * A throw-away html root is made once in $TMPDIR: index.html, app.js, sub/page.html, a symlink to a file inside
 * the root, a symlink to the folder above the root and one to /etc, and a secret.txt next to (outside) the root.
 * Input: byte 0 picks the configuration (mount path "/" or "/myapp/", discovery, CORS list or reflect), then
 * "<method>\0<uri>\0<origin>". libwebsockets hands us an already percent-decoded path, so the fuzzer plays that
 * role too: the uri is used as is.
 * Checks: every answer has a sane status and kind; a FILE answer names a regular file whose real path is strictly
 * inside the real html root (never secret.txt, never /etc/...), with a Content-Type; Access-Control-Allow-Origin
 * is only ever the request's own Origin, and only a listed one when a list is configured; nothing leaks.
 * The same strings also drive the two header helpers:
 *  - peerjs_http_client_ip: the uri plays a client-written X-Forwarded-For prefix; a trusted proxy appends the
 *    real client's address, and whatever the prefix, the answer must be that address (no spoofing past the proxy);
 *    with no proxy list, or from an untrusted socket, the answer is the socket's address;
 *  - peerjs_http_base_url: the origin plays the Host header; an answer must be scheme://host with nothing in it
 *    that could end a header or redirect elsewhere.
 */

#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>

#include "http_routes.h"
#include "links.h"
#include "fuzz_input.h"

static char *root, *root_real;

static void write_file(const char *dir, const char *name, const char *text) {
	char *path = g_build_filename(dir, name, NULL);
	FUZZ_CHECK(g_file_set_contents(path, text, -1, NULL));
	g_free(path);
}

static void make_root(void) {
	char *base = g_dir_make_tmp("p2plink-fuzz-http-XXXXXX", NULL);
	FUZZ_CHECK(base != NULL);
	write_file(base, "secret.txt", "outside the root");
	root = g_build_filename(base, "html", NULL);
	FUZZ_CHECK(g_mkdir_with_parents(root, 0700) == 0);
	char *sub = g_build_filename(root, "sub", NULL);
	FUZZ_CHECK(g_mkdir_with_parents(sub, 0700) == 0);
	write_file(root, "index.html", "<!doctype html>");
	write_file(root, "app.js", "export {};");
	write_file(sub, "page.html", "<p>sub</p>");
	char *l1 = g_build_filename(root, "inside-link.html", NULL);
	char *l2 = g_build_filename(root, "up", NULL);
	char *l3 = g_build_filename(root, "etc", NULL);
	FUZZ_CHECK(symlink("index.html", l1) == 0 && symlink("..", l2) == 0 && symlink("/etc", l3) == 0);
	char buf[PATH_MAX];
	FUZZ_CHECK(realpath(root, buf) != NULL);
	root_real = g_strdup(buf);
	g_free(l1);
	g_free(l2);
	g_free(l3);
	g_free(sub);
	g_free(base);
}

/* peerjs_http_client_ip with the header's real length, as the transport calls it */
static peerjs_client_ip_result client_ip(const char *socket_ip, const char *xff, const char * const *proxies,
		char **got) {
	return peerjs_http_client_ip(socket_ip, xff, strlen(xff), proxies, got);
}

static void check_client_ip(const char *prefix, uint8_t pick) {
	static const char *const proxies[] = { "10.0.0.0/8", "2001:db8:aaaa::/48", NULL };
	static const char *const clients[] = { "198.51.100.7", "2001:db8:beef::9", "192.0.2.1" };
	const char *client = clients[(pick >> 5) % G_N_ELEMENTS(clients)];
	/* What a trusted proxy forwards: the client's own header, then the address it saw */
	char *xff = *prefix ? g_strdup_printf("%s, %s", prefix, client) : g_strdup(client);
	char *got = NULL;
	peerjs_client_ip_result r = client_ip("10.1.2.3", xff, proxies, &got);
	if(strlen(xff) > PEERJS_XFF_MAX_LEN) {
		/* Too long: refused, never the proxy's own address */
		FUZZ_CHECK(r == PEERJS_CLIENT_IP_TOO_LONG && got == NULL);
	} else if(r != PEERJS_CLIENT_IP_OK || strcmp(got, client) != 0) {
		fprintf(stderr, "X-Forwarded-For \"%s\" from a trusted proxy gave %d/%s, not the client %s\n", xff, r,
			got ? got : "(null)", client);
		abort();
	}
	g_free(got);
	/* Not from a trusted proxy, or no proxies configured: the header is ignored */
	FUZZ_CHECK(client_ip("203.0.113.5", xff, proxies, &got) == PEERJS_CLIENT_IP_OK);
	FUZZ_CHECK(strcmp(got, "203.0.113.5") == 0);
	g_free(got);
	FUZZ_CHECK(client_ip("10.1.2.3", xff, NULL, &got) == PEERJS_CLIENT_IP_OK);
	FUZZ_CHECK(strcmp(got, "10.1.2.3") == 0);
	g_free(got);
	/* The raw header alone (no appended client): a refusal, or a hop that parses and was in the header; never
	 * the proxy's address unless the header named it (an empty header is no header: the socket's address) */
	r = client_ip("10.1.2.3", prefix, proxies, &got);
	guint8 raw[16];
	if(r == PEERJS_CLIENT_IP_OK && *prefix == '\0')
		FUZZ_CHECK(strcmp(got, "10.1.2.3") == 0);
	else if(r == PEERJS_CLIENT_IP_OK)
		FUZZ_CHECK(p2plink_ip_parse(got, raw) && strstr(prefix, got) != NULL);
	else
		FUZZ_CHECK(got == NULL);
	g_free(got);
	g_free(xff);
}

static void check_base_url(const char *host, gboolean secure) {
	char *url = peerjs_http_base_url(secure, host);
	if(url == NULL)
		return;
	const char *scheme = secure ? "https://" : "http://";
	FUZZ_CHECK(g_str_has_prefix(url, scheme) && strcmp(url + strlen(scheme), host) == 0);
	for(const char *p = url + strlen(scheme); *p; p++)
		FUZZ_CHECK(g_ascii_isalnum(*p) || strchr(".-:[]", *p) != NULL);
	g_free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if(root == NULL)
		make_root();
	fuzz_input in;
	fuzz_input_init(&in, data, size);
	uint8_t pick = fuzz_u8(&in);
	char *method = fuzz_cstr(&in), *uri = fuzz_cstr(&in), *origin = fuzz_cstr(&in);
	char *origins[] = { "https://app.example", "http://127.0.0.1:8443", NULL };
	peerjs_http_config config = {
		.path = (pick & 1) ? "/myapp/" : "/",
		.key = "peerjs",
		.allow_discovery = (pick & 2) != 0,
		.html_root = (pick & 4) ? NULL : root,
		.cors_origins = (pick & 8) ? origins : NULL,
	};
	const char *origin_arg = (pick & 16) ? NULL : origin;
	peerjs_http_answer answer;
	peerjs_http_route(&config, method, uri, origin_arg, &answer);

	FUZZ_CHECK(answer.status >= 200 && answer.status <= 599);
	FUZZ_CHECK(answer.content_type != NULL);
	switch(answer.kind) {
		case PEERJS_ROUTE_FILE: {
			FUZZ_CHECK(answer.status == 200 && answer.file_path != NULL && config.html_root != NULL);
			char buf[PATH_MAX];
			FUZZ_CHECK(realpath(answer.file_path, buf) != NULL);
			size_t n = strlen(root_real);
			if(strncmp(buf, root_real, n) != 0 || buf[n] != '/') {
				fprintf(stderr, "jail escape: uri \"%s\" served %s (root %s)\n", uri, buf, root_real);
				abort();
			}
			struct stat st;
			FUZZ_CHECK(stat(buf, &st) == 0 && S_ISREG(st.st_mode));
			break;
		}
		case PEERJS_ROUTE_BODY:
			FUZZ_CHECK(answer.file_path == NULL);
			FUZZ_CHECK(answer.body != NULL || answer.status == 204);
			break;
		case PEERJS_ROUTE_PEERS:
			FUZZ_CHECK(config.allow_discovery && answer.status == 200);
			break;
		case PEERJS_ROUTE_NEW_ID:
			FUZZ_CHECK(answer.status == 200);
			break;
		case PEERJS_ROUTE_LINK_API:
			FUZZ_CHECK(answer.status == 200 && answer.api_route != NULL && strcmp(method, "POST") == 0);
			break;
		default:
			/* Kinds added later (ICE config, ...) only get the generic checks above */
			break;
	}
	if(answer.allow_origin != NULL) {
		FUZZ_CHECK(origin_arg != NULL && strcmp(answer.allow_origin, origin_arg) == 0);
		if(config.cors_origins != NULL)
			FUZZ_CHECK(!strcmp(origin_arg, origins[0]) || !strcmp(origin_arg, origins[1]));
	}
	peerjs_http_answer_clear(&answer);
	FUZZ_CHECK(answer.body == NULL && answer.file_path == NULL && answer.allow_origin == NULL);
	check_client_ip(uri, pick);
	check_base_url(origin, pick & 32);
	/* Cheap neighbours that take the same untrusted strings */
	(void)peerjs_http_is_ws_path(&config, uri);
	FUZZ_CHECK(peerjs_http_mime_type(uri) != NULL);
	g_free(method);
	g_free(uri);
	g_free(origin);
	return 0;
}
