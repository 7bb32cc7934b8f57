/*
 * tls_pair.c — checking a certificate + key pair and swapping it into a live SSL_CTX (see tls_pair.h).
 */

#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tls_pair.h"

void peerjs_tls_files_stat(const char *cert, const char *key, peerjs_tls_files *out) {
	memset(out, 0, sizeof(*out));
	out->cert_ok = cert != NULL && stat(cert, &out->cert) == 0;
	out->key_ok = key != NULL && stat(key, &out->key) == 0;
	if(!out->cert_ok)
		memset(&out->cert, 0, sizeof(out->cert));
	if(!out->key_ok)
		memset(&out->key, 0, sizeof(out->key));
}

static gboolean stat_equal(const struct stat *a, const struct stat *b) {
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
		a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
		a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

gboolean peerjs_tls_files_equal(const peerjs_tls_files *a, const peerjs_tls_files *b) {
	return a->cert_ok == b->cert_ok && a->key_ok == b->key_ok && stat_equal(&a->cert, &b->cert) &&
		stat_equal(&a->key, &b->key);
}

/* "step: OpenSSL's reason" (the oldest error in the queue is the root cause), and the queue emptied */
static gboolean fail(char **error, const char *step, const char *file) {
	unsigned long e = ERR_get_error();
	char reason[256] = "no reason given";
	if(e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	if(error != NULL)
		*error = g_strdup_printf("%s %s: %s", step, file, reason);
	return FALSE;
}

gboolean peerjs_tls_pair_load(SSL_CTX *ctx, const char *cert, const char *key, const char *password, char **error) {
	ERR_clear_error();
	/* OpenSSL's default password callback reads the userdata as the password; NULL asks for none */
	SSL_CTX_set_default_passwd_cb(ctx, NULL);
	SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)password);
	gboolean ok = TRUE;
	if(SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		ok = fail(error, "certificate", cert);
	else if(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		ok = fail(error, "private key", key);
	else if(SSL_CTX_check_private_key(ctx) != 1)
		ok = fail(error, "the key does not belong to the certificate:", key);
	/* The password must not stay reachable from the context */
	SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
	return ok;
}

gboolean peerjs_tls_pair_replace(SSL_CTX *live, const char *cert, const char *key, const char *password,
		char **error) {
	SSL_CTX *fresh = SSL_CTX_new(TLS_server_method());
	if(fresh == NULL)
		return fail(error, "a fresh TLS context for", cert);
	gboolean ok = peerjs_tls_pair_load(fresh, cert, key, password, error);
	if(ok) {
		/* The objects the fresh context checked, not the files read a second time: a renewal landing between two
		 * reads could otherwise leave the live context with a new certificate and no key (OpenSSL drops a key
		 * that does not match a certificate being set). One call, override on: certificate, key and chain
		 * replace the old ones together, after OpenSSL checked once more that they match. */
		STACK_OF(X509) *chain = NULL;
		SSL_CTX_get0_chain_certs(fresh, &chain);
		if(SSL_CTX_use_cert_and_key(live, SSL_CTX_get0_certificate(fresh), SSL_CTX_get0_privatekey(fresh), chain,
				1) != 1)
			ok = fail(error, "replacing the listener's certificate with", cert);
	}
	SSL_CTX_free(fresh);
	return ok;
}

void peerjs_tls_ctx_lean(SSL_CTX *ctx) {
	/* Set on the context: every SSL object lws makes from it afterwards inherits it (lws only ORs its own modes in) */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* No resumption, neither TLS 1.3 tickets nor TLS 1.2 tickets or session cache. Without 0-RTT (we enable none) a
	 * TLS 1.3 resumption saves no round trip, and it costs the server what a ticketless full handshake does, while
	 * the two tickets OpenSSL sends after every full handshake cost ~55 us of server CPU each time (measured:
	 * docs/benchmarks.md, "No session tickets, AES-128 first, TLS records read ahead"). It also keeps forward
	 * secrecy whole: a ticket is sealed with a key that lives as long as the process. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

char *peerjs_tls_ctx_fingerprint(SSL_CTX *ctx) {
	X509 *x = SSL_CTX_get0_certificate(ctx);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if(x == NULL || X509_digest(x, EVP_sha256(), md, &len) != 1)
		return NULL;
	GString *out = g_string_sized_new(len * 3);
	for(unsigned int i = 0; i < len; i++)
		g_string_append_printf(out, "%s%02X", i ? ":" : "", md[i]);
	return g_string_free(out, FALSE);
}
