/*
 * tls_reload.h — a renewed certificate is used for new connections without restarting Janus.
 *
 * What it is for: certbot (or any renewal) replaces the cert_pem / cert_key files; a timer on the transport's
 * loop stats both files every certificates.reload_interval seconds and, when either changed, loads the pair into
 * a fresh OpenSSL context first (chain, key, SSL_CTX_check_private_key). Only a pair that passes is put into the
 * listener's SSL_CTX, on the loop thread, between two accepts. Connections already up keep the certificate they
 * were accepted with (OpenSSL copies it into each SSL at SSL_new), so nobody is dropped. A pair that fails (key
 * of another certificate, unreadable, half-written) leaves the old one in place and is logged with OpenSSL's
 * reason, once per change of the files.
 * What it is not for: obtaining certificates (certbot does), watching other files, or plain-HTTP listeners.
 */

#ifndef PEERJS_TLS_RELOAD_H
#define PEERJS_TLS_RELOAD_H

#include <libwebsockets.h>
#include <openssl/ssl.h>

#include "peerjs_config.h"

/* certificates.reload_interval, as read and checked by the option table: seconds between two looks at the files
 * (0: never reload; default 60) */
void peerjs_tls_reload_config(const peerjs_config *cfg);
/* LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS: the listener's SSL_CTX, while lws sets the vhost up */
void peerjs_tls_reload_capture(SSL_CTX *ctx);
/* After the vhost exists: remember the files as they are now and start looking. password may be NULL. */
void peerjs_tls_reload_start(struct lws_context *context, const char *cert, const char *key, const char *password);
/* Before the context is destroyed */
void peerjs_tls_reload_stop(void);

#endif
