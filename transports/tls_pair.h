/*
 * tls_pair.h — checking a certificate + key pair and putting it into a live OpenSSL context.
 *
 * What it is for: the pure half of the certificate reload (tls_reload.c is the timer and the log lines): has a
 * file pair changed since we last looked (device, inode, size, mtime and ctime of both: certbot renames new files
 * into place, an editor rewrites in place, either shows), is the new pair good (chain and key load, the key
 * belongs to the certificate), and swapping it into the listener's SSL_CTX only after that check passed on a
 * fresh context, so a failed load can never leave the listener half-updated. The SHA-256 fingerprint names a
 * certificate in logs and tests.
 * What it is not for: scheduling, logging, libwebsockets. OpenSSL and GLib only, unit-tested in
 * tests/unit/test_tls_pair.c.
 */

#ifndef PEERJS_TLS_PAIR_H
#define PEERJS_TLS_PAIR_H

#include <sys/stat.h>

#include <glib.h>
#include <openssl/ssl.h>

/* What stat() said about both files; all zero when a file could not be read */
typedef struct peerjs_tls_files {
	struct stat cert, key;
	gboolean cert_ok, key_ok;
} peerjs_tls_files;

void peerjs_tls_files_stat(const char *cert, const char *key, peerjs_tls_files *out);
gboolean peerjs_tls_files_equal(const peerjs_tls_files *a, const peerjs_tls_files *b);

/* Load the pair into ctx: chain, key (password may be NULL), then the key-matches-certificate check. FALSE and
 * *error (g_malloc'd: which step failed and OpenSSL's reason) when any step fails; ctx is then in an unknown
 * state, which is why peerjs_tls_pair_replace only ever loads files into a fresh context. */
gboolean peerjs_tls_pair_load(SSL_CTX *ctx, const char *cert, const char *key, const char *password, char **error);

/* Check the pair on a fresh context, and only then put what it loaded into live (certificate, key and chain
 * together). FALSE (live untouched) and *error. A renewal is expected to keep the key type (certbot does): a
 * certificate of another type is added next to the old one, and OpenSSL picks between them per client. */
gboolean peerjs_tls_pair_replace(SSL_CTX *live, const char *cert, const char *key, const char *password,
	char **error);

/* What every TLS connection of ctx keeps while idle: no record buffers. OpenSSL otherwise keeps a ~17 KiB read
 * and a ~17 KiB write buffer per connection for its whole life (SSL_MODE_RELEASE_BUFFERS frees each one as soon
 * as it is empty and takes a new one for the next record burst; docs/benchmarks.md, "What an idle peer costs"),
 * and no session state for resumption (no tickets, no session cache: see tls_pair.c) */
void peerjs_tls_ctx_lean(SSL_CTX *ctx);

/* "AB:CD:..." SHA-256 of the context's current certificate (g_malloc'd), or NULL when it has none */
char *peerjs_tls_ctx_fingerprint(SSL_CTX *ctx);

#endif
