/*
 * tls_reload.c — the timer that notices renewed certificate files and swaps them in (see tls_reload.h).
 *
 * Periodic stat() rather than inotify (uv_fs_event): certbot's live/ files are symlinks into archive/ that are
 * re-pointed, a watch on the link's target misses that, and a watch per folder fires for every unrelated file.
 * Two stat() calls every reload_interval seconds cost nothing and see every way a file can be replaced. The
 * check and the swap run on the transport's loop thread (a libwebsockets timer), the thread that accepts and
 * calls SSL_new with that context: nothing else touches the SSL_CTX, so no lock is needed.
 */

#include <string.h>

#include <openssl/crypto.h>

#include <debug.h>

#include "tls_pair.h"
#include "tls_reload.h"

#define RELOAD_NAME "JANUS PeerJS transport"

static gint64 reload_interval = 60;		/* seconds; 0: never (the row's default, peerjs_config.c) */
static SSL_CTX *listener_ctx = NULL;
static struct lws_context *reload_context = NULL;
static char *reload_cert = NULL, *reload_key = NULL, *reload_password = NULL;
static peerjs_tls_files last_seen;		/* the files as they were when last loaded or last tried */
static lws_sorted_usec_list_t reload_sul;

void peerjs_tls_reload_config(const peerjs_config *cfg) {
	reload_interval = cfg->reload_interval;
}

void peerjs_tls_reload_capture(SSL_CTX *ctx) {
	listener_ctx = ctx;
	/* The one moment we hold the listener's context before its first connection: idle peers keep no TLS buffers */
	if(ctx != NULL)
		peerjs_tls_ctx_lean(ctx);
}

static void log_loaded(const char *what) {
	char *fingerprint = peerjs_tls_ctx_fingerprint(listener_ctx);
	JANUS_LOG(LOG_INFO, "%s: %s certificate %s (SHA-256 %s); connections already open keep theirs\n", RELOAD_NAME,
		what, reload_cert, fingerprint ? fingerprint : "?");
	g_free(fingerprint);
}

static void reload_look(lws_sorted_usec_list_t *sul) {
	peerjs_tls_files now;
	peerjs_tls_files_stat(reload_cert, reload_key, &now);
	if(!peerjs_tls_files_equal(&now, &last_seen)) {
		/* Tried once per change of the files: a bad pair is logged once, not every interval */
		last_seen = now;
		char *error = NULL;
		if(peerjs_tls_pair_replace(listener_ctx, reload_cert, reload_key, reload_password, &error)) {
			log_loaded("reloaded");
		} else {
			JANUS_LOG(LOG_ERR, "%s: the new certificate/key pair was not loaded, the current certificate stays in "
				"use: %s\n", RELOAD_NAME, error);
			g_free(error);
		}
	}
	lws_sul_schedule(reload_context, 0, &reload_sul, reload_look, reload_interval * G_USEC_PER_SEC);
}

void peerjs_tls_reload_start(struct lws_context *context, const char *cert, const char *key, const char *password) {
	if(cert == NULL || key == NULL || reload_interval == 0)
		return;
	if(listener_ctx == NULL) {
		JANUS_LOG(LOG_WARN, "%s: no TLS context to reload certificates into: renewals need a restart\n", RELOAD_NAME);
		return;
	}
	reload_context = context;
	reload_cert = g_strdup(cert);
	reload_key = g_strdup(key);
	reload_password = g_strdup(password);
	peerjs_tls_files_stat(cert, key, &last_seen);
	memset(&reload_sul, 0, sizeof(reload_sul));
	lws_sul_schedule(context, 0, &reload_sul, reload_look, reload_interval * G_USEC_PER_SEC);
	log_loaded("serving");
	JANUS_LOG(LOG_INFO, "%s: looking for renewed certificate files every %" G_GINT64_FORMAT " s\n", RELOAD_NAME,
		reload_interval);
}

void peerjs_tls_reload_stop(void) {
	if(reload_context != NULL)
		lws_sul_cancel(&reload_sul);
	reload_context = NULL;
	listener_ctx = NULL;
	g_clear_pointer(&reload_cert, g_free);
	g_clear_pointer(&reload_key, g_free);
	if(reload_password != NULL)
		OPENSSL_cleanse(reload_password, strlen(reload_password));
	g_clear_pointer(&reload_password, g_free);
}
