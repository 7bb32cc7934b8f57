/*
 * test_tls_pair.c — checking a renewed certificate + key and swapping it into a live SSL_CTX
 * (transports/tls_pair.c). Certificates are made here with OpenSSL (EC P-256, self-signed), written to a temp
 * folder the way certbot leaves them.
 */

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include <malloc.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tls_pair.h"

typedef struct pair {
	char *dir, *cert, *key;
	EVP_PKEY *pkey;
	X509 *x509;
} pair;

static void write_pem(const char *path, gboolean key, EVP_PKEY *pkey, X509 *x509) {
	FILE *f = g_fopen(path, "w");
	g_assert_nonnull(f);
	g_assert_true(key ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, x509));
	fclose(f);
}

static pair *pair_new(const char *cn) {
	pair *p = g_new0(pair, 1);
	p->dir = g_dir_make_tmp("p2plink-tls-XXXXXX", NULL);
	g_assert_nonnull(p->dir);
	p->cert = g_build_filename(p->dir, "fullchain.pem", NULL);
	p->key = g_build_filename(p->dir, "privkey.pem", NULL);
	p->pkey = EVP_EC_gen("P-256");
	g_assert_nonnull(p->pkey);
	p->x509 = X509_new();
	ASN1_INTEGER_set(X509_get_serialNumber(p->x509), g_random_int());
	X509_gmtime_adj(X509_getm_notBefore(p->x509), 0);
	X509_gmtime_adj(X509_getm_notAfter(p->x509), 86400);
	X509_set_pubkey(p->x509, p->pkey);
	X509_NAME *name = X509_get_subject_name(p->x509);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(p->x509, name);
	g_assert_cmpint(X509_sign(p->x509, p->pkey, EVP_sha256()), >, 0);
	write_pem(p->cert, FALSE, p->pkey, p->x509);
	write_pem(p->key, TRUE, p->pkey, p->x509);
	return p;
}

static void pair_free(pair *p) {
	g_unlink(p->cert);
	g_unlink(p->key);
	g_rmdir(p->dir);
	EVP_PKEY_free(p->pkey);
	X509_free(p->x509);
	g_free(p->cert);
	g_free(p->key);
	g_free(p->dir);
	g_free(p);
}

static SSL_CTX *ctx_with(pair *p) {
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char *error = NULL;
	g_assert_true(peerjs_tls_pair_load(ctx, p->cert, p->key, NULL, &error));
	g_assert_null(error);
	return ctx;
}

static void test_tls_pair_good_pair_replaces_the_certificate(void) {
	pair *old = pair_new("old"), *renewed = pair_new("new");
	SSL_CTX *live = ctx_with(old), *expected = ctx_with(renewed);
	char *before = peerjs_tls_ctx_fingerprint(live), *want = peerjs_tls_ctx_fingerprint(expected);
	char *error = NULL;
	g_assert_true(peerjs_tls_pair_replace(live, renewed->cert, renewed->key, NULL, &error));
	g_assert_null(error);
	char *after = peerjs_tls_ctx_fingerprint(live);
	g_assert_cmpstr(after, !=, before);
	g_assert_cmpstr(after, ==, want);
	g_assert_cmpint(SSL_CTX_check_private_key(live), ==, 1);
	/* 32 bytes as "AB:" groups */
	g_assert_cmpuint(strlen(after), ==, 32 * 3 - 1);
	g_free(before);
	g_free(want);
	g_free(after);
	SSL_CTX_free(live);
	SSL_CTX_free(expected);
	pair_free(old);
	pair_free(renewed);
}

/* Each bad pair: replace fails with a reason naming the step, and the live context is exactly as before */
static void assert_refused_and_kept(SSL_CTX *live, const char *cert, const char *key, const char *reason_part) {
	char *before = peerjs_tls_ctx_fingerprint(live);
	char *error = NULL;
	g_assert_false(peerjs_tls_pair_replace(live, cert, key, NULL, &error));
	g_assert_nonnull(error);
	g_test_message("refused: %s", error);
	g_assert_nonnull(strstr(error, reason_part));
	char *after = peerjs_tls_ctx_fingerprint(live);
	g_assert_cmpstr(after, ==, before);
	g_assert_cmpint(SSL_CTX_check_private_key(live), ==, 1);
	g_free(error);
	g_free(before);
	g_free(after);
}

static void test_tls_pair_key_of_another_certificate_keeps_the_old_one(void) {
	pair *old = pair_new("old"), *a = pair_new("a"), *b = pair_new("b");
	SSL_CTX *live = ctx_with(old);
	/* OpenSSL refuses the key as it is set: "key values mismatch" */
	assert_refused_and_kept(live, a->cert, b->key, "mismatch");
	SSL_CTX_free(live);
	pair_free(old);
	pair_free(a);
	pair_free(b);
}

static void test_tls_pair_half_written_or_missing_files_keep_the_old_one(void) {
	pair *old = pair_new("old"), *renewed = pair_new("new");
	SSL_CTX *live = ctx_with(old);
	/* Half a certificate, as a copy in progress leaves it */
	char *text = NULL;
	gsize len = 0;
	g_assert_true(g_file_get_contents(renewed->cert, &text, &len, NULL));
	g_assert_true(g_file_set_contents(renewed->cert, text, len / 2, NULL));
	assert_refused_and_kept(live, renewed->cert, renewed->key, "certificate");
	/* A key file that is empty */
	g_assert_true(g_file_set_contents(renewed->cert, text, len, NULL));
	g_assert_true(g_file_set_contents(renewed->key, "", 0, NULL));
	assert_refused_and_kept(live, renewed->cert, renewed->key, "private key");
	/* Files that are not there */
	assert_refused_and_kept(live, "/nonexistent/fullchain.pem", renewed->key, "/nonexistent/fullchain.pem");
	g_free(text);
	SSL_CTX_free(live);
	pair_free(old);
	pair_free(renewed);
}

static void test_tls_pair_files_change_is_seen_on_rewrite_and_rename(void) {
	pair *p = pair_new("p");
	peerjs_tls_files a, b;
	peerjs_tls_files_stat(p->cert, p->key, &a);
	g_assert_true(a.cert_ok && a.key_ok);
	peerjs_tls_files_stat(p->cert, p->key, &b);
	g_assert_true(peerjs_tls_files_equal(&a, &b));
	/* certbot's way: a new file renamed over the old one (new inode, maybe the same size and second) */
	char *tmp = g_strconcat(p->cert, ".new", NULL);
	write_pem(tmp, FALSE, p->pkey, p->x509);
	g_assert_cmpint(g_rename(tmp, p->cert), ==, 0);
	peerjs_tls_files_stat(p->cert, p->key, &b);
	g_assert_false(peerjs_tls_files_equal(&a, &b));
	/* A file that disappears is a change too */
	peerjs_tls_files_stat(p->cert, "/nonexistent/privkey.pem", &a);
	g_assert_false(a.key_ok);
	g_assert_false(peerjs_tls_files_equal(&a, &b));
	g_free(tmp);
	pair_free(p);
}

/* Bytes OpenSSL holds right now (glibc's usable size of each block): counted from the first allocation on */
static gssize ossl_live = 0;

static void *count_malloc(size_t n, const char *file, int line) {
	(void)file;
	(void)line;
	void *p = malloc(n);
	if(p != NULL)
		ossl_live += malloc_usable_size(p);
	return p;
}

static void *count_realloc(void *p, size_t n, const char *file, int line) {
	(void)file;
	(void)line;
	gssize old = p != NULL ? (gssize)malloc_usable_size(p) : 0;
	void *q = realloc(p, n);
	if(q != NULL || n == 0) {
		ossl_live -= old;
		if(q != NULL)
			ossl_live += malloc_usable_size(q);
	}
	return q;
}

static void count_free(void *p, const char *file, int line) {
	(void)file;
	(void)line;
	if(p != NULL)
		ossl_live -= malloc_usable_size(p);
	free(p);
}

static void handshake(SSL *client, SSL *server) {
	int c = 0, s = 0;
	for(int i = 0; i < 50 && (c != 1 || s != 1); i++) {
		if(c != 1)
			c = SSL_do_handshake(client);
		if(s != 1)
			s = SSL_do_handshake(server);
	}
	g_assert_cmpint(c, ==, 1);
	g_assert_cmpint(s, ==, 1);
}

static void one_frame(SSL *from, SSL *to, int len) {
	char out[512], in[512];
	memset(out, 'x', sizeof(out));
	g_assert_cmpint(SSL_write(from, out, len), ==, len);
	g_assert_cmpint(SSL_read(to, in, sizeof(in)), ==, len);
}

/* What the server side of one connection holds after its handshake and a HEARTBEAT-sized exchange each way, as
 * an idle peer does (the client side is the same in both runs, so the difference of two runs is the server's) */
/* A server context for the pair, lean or with OpenSSL's defaults */
static SSL_CTX *server_ctx(const pair *p, gboolean lean) {
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	g_assert_true(peerjs_tls_pair_load(sctx, p->cert, p->key, NULL, NULL));
	if(lean)
		peerjs_tls_ctx_lean(sctx);
	return sctx;
}

/* A client and a server over a BIO pair, handshake done; offer (may be NULL): the session the client resumes */
static void connect_over_bio_pair(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *offer, SSL **client, SSL **server) {
	*client = SSL_new(cctx);
	*server = SSL_new(sctx);
	BIO *bc = NULL, *bs = NULL;
	g_assert_cmpint(BIO_new_bio_pair(&bc, 0, &bs, 0), ==, 1);
	SSL_set_bio(*client, bc, bc);
	SSL_set_bio(*server, bs, bs);
	SSL_set_connect_state(*client);
	SSL_set_accept_state(*server);
	if(offer != NULL)
		g_assert_cmpint(SSL_set_session(*client, offer), ==, 1);
	handshake(*client, *server);
}

/* What the server side of one connection holds after its handshake and a HEARTBEAT-sized exchange each way, as
 * an idle peer does (the client side is the same in both runs, so the difference of two runs is the server's) */
static gssize idle_connection_bytes(const pair *p, gboolean lean) {
	SSL_CTX *sctx = server_ctx(p, lean), *cctx = SSL_CTX_new(TLS_client_method());
	gssize before = ossl_live;
	SSL *client, *server;
	connect_over_bio_pair(sctx, cctx, NULL, &client, &server);
	for(int i = 0; i < 3; i++) {
		one_frame(client, server, 26);
		one_frame(server, client, 200);
	}
	gssize held = ossl_live - before;
	SSL_free(client);
	SSL_free(server);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return held;
}

static void test_tls_pair_lean_context_keeps_no_buffers_while_idle(void) {
	pair *p = pair_new("lean.example");
	gssize full = idle_connection_bytes(p, FALSE), lean = idle_connection_bytes(p, TRUE);
	g_test_message("one idle connection (both sides): %" G_GSSIZE_FORMAT " bytes, %" G_GSSIZE_FORMAT
		" with a lean server context", full, lean);
	/* The server's read and write record buffers, ~17 KiB each, are gone while nothing is in flight */
	g_assert_cmpint(full - lean, >=, 30 * 1024);
	pair_free(p);
}

/* One connection offering `offer` (may be NULL) as the session to resume, closed cleanly (a session of a
 * connection freed without close_notify is never resumable). Returns whether the server resumed; *next: the
 * client's session afterwards, with whatever ticket the server sent */
static gboolean connect_once(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *offer, SSL_SESSION **next) {
	SSL *client, *server;
	connect_over_bio_pair(sctx, cctx, offer, &client, &server);
	/* The client reads: any NewSessionTicket the server sent after the handshake is taken in here */
	one_frame(client, server, 26);
	one_frame(server, client, 200);
	gboolean reused = SSL_session_reused(server);
	SSL_shutdown(client);
	SSL_shutdown(server);
	*next = SSL_get1_session(client);
	SSL_free(client);
	SSL_free(server);
	return reused;
}

/* Whether a client of `version` that connected once resumes its session on a second connection */
static gboolean resumes(const pair *p, gboolean lean, int version) {
	SSL_CTX *sctx = server_ctx(p, lean), *cctx = SSL_CTX_new(TLS_client_method());
	/* lws gives the listener a session id context; TLS 1.2 resumption needs one */
	SSL_CTX_set_session_id_context(sctx, (const unsigned char *)"p2plink", 7);
	g_assert_cmpint(SSL_CTX_set_min_proto_version(cctx, version), ==, 1);
	g_assert_cmpint(SSL_CTX_set_max_proto_version(cctx, version), ==, 1);
	SSL_SESSION *first = NULL, *second = NULL;
	g_assert_false(connect_once(sctx, cctx, NULL, &first));
	gboolean reused = connect_once(sctx, cctx, first, &second);
	SSL_SESSION_free(first);
	SSL_SESSION_free(second);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return reused;
}

static void test_tls_pair_lean_context_offers_no_resumption(void) {
	pair *p = pair_new("tickets.example");
	/* The control: OpenSSL's defaults resume in both versions, so the lean checks below can fail */
	g_assert_true(resumes(p, FALSE, TLS1_3_VERSION));
	g_assert_true(resumes(p, FALSE, TLS1_2_VERSION));
	g_assert_false(resumes(p, TRUE, TLS1_3_VERSION));
	g_assert_false(resumes(p, TRUE, TLS1_2_VERSION));
	pair_free(p);
}

int main(int argc, char **argv) {
	/* Before OpenSSL's first allocation, or OpenSSL refuses */
	g_assert_true(CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free));
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tls_pair/good_pair_replaces_the_certificate", test_tls_pair_good_pair_replaces_the_certificate);
	g_test_add_func("/tls_pair/key_of_another_certificate_keeps_the_old_one",
		test_tls_pair_key_of_another_certificate_keeps_the_old_one);
	g_test_add_func("/tls_pair/half_written_or_missing_files_keep_the_old_one",
		test_tls_pair_half_written_or_missing_files_keep_the_old_one);
	g_test_add_func("/tls_pair/files_change_is_seen_on_rewrite_and_rename",
		test_tls_pair_files_change_is_seen_on_rewrite_and_rename);
	g_test_add_func("/tls_pair/lean_context_keeps_no_buffers_while_idle",
		test_tls_pair_lean_context_keeps_no_buffers_while_idle);
	g_test_add_func("/tls_pair/lean_context_offers_no_resumption", test_tls_pair_lean_context_offers_no_resumption);
	return g_test_run();
}
