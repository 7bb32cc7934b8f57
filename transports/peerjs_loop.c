/*! \file   peerjs_loop.c
 * \brief  The libwebsockets context, its libuv or poll loop, the service thread and cross-thread wakes
 * \details What this file is for: see peerjs_loop.h. What it is not for: any connection's or request's logic.
 *
 * Event loop. lws's default poll() loop hands the kernel every socket on every wakeup: with 18,500 idle peers
 * that scan was ~85% of the server's CPU (~80 us per heartbeat). With event_loop = "libuv", lws runs on a libuv
 * (epoll) loop that we own ("foreign loop" to lws): lws's internal libuv loop would install its own SIGINT/SIGTERM
 * handlers over Janus's, and lws 4.1.6 exports no way to stop it from our thread.
 */

#include <string.h>

#include <uv.h>

#include <debug.h>
#include <mutex.h>

#include "peerjs_loop.h"
#include "peerjs_transport.h"

/* lws keeps all of a request's headers in one buffer of this size (default 4096): room for an X-Forwarded-For of
 * PEERJS_XFF_MAX_LEN plus the usual headers. Only requests being parsed hold one. */
#define PEERJS_MAX_HEADER_DATA 8192

__thread gboolean peerjs_on_service_thread = FALSE;

static struct lws_context *lws_ctx = NULL;
/* lws clears this (info.pcontext) when it has completely destroyed the context */
static struct lws_context *lws_ctx_alive = NULL;
static uv_loop_t *uv_loop = NULL;
static GThread *service_thread = NULL;
static volatile gint stopping = 0;

/* Items other threads queued (a connection with frames or a close, an HTTP answer a plugin worker delivered),
 * for the service thread to arm */
typedef struct wake_item {
	void *item;
	const peerjs_wake_ops *ops;
} wake_item;
static GArray *pending = NULL;
/* Under pending_mutex: other threads may wake the service thread (lws_cancel_service). Cleared, under the same
 * mutex, before the context is destroyed, and the destroy waits for wakes in progress (service_wakers): a plugin
 * sweeper or link worker calling lws_cancel_service on a context being destroyed (or already freed) used freed
 * memory. The call itself is made outside the mutex, so a wake never blocks the service thread's arm. */
static gboolean service_wakeable = FALSE;
static guint service_wakers = 0;
static janus_condition service_wakers_cond;	/* zeroed static: valid for GCond and for glibc pthread_cond_t */
static janus_mutex pending_mutex = JANUS_MUTEX_INITIALIZER;

static void lws_log_to_janus(int level, const char *line) {
	if(level == LLL_ERR)
		JANUS_LOG(LOG_ERR, "[libwebsockets] %s", line);
	else
		JANUS_LOG(LOG_WARN, "[libwebsockets] %s", line);
}

/* libuv for event_loop = "libuv": FALSE (and a log line) when it cannot be used, so the caller falls back to poll */
static gboolean uv_load(void) {
	uv_loop = g_new0(uv_loop_t, 1);
	int err = uv_loop_init(uv_loop);
	if(err == 0)
		return TRUE;
	JANUS_LOG(LOG_WARN, "%s: uv_loop_init failed: %s\n", JANUS_PEERJS_NAME, uv_strerror(err));
	g_clear_pointer(&uv_loop, g_free);
	return FALSE;
}

static void uv_unload(void) {
	if(uv_loop == NULL)
		return;
	int err = uv_loop_close(uv_loop);
	if(err != 0) {
		/* A handle still open: freeing the loop under it would be worse than this leak */
		JANUS_LOG(LOG_WARN, "%s: libuv loop not closed: %s\n", JANUS_PEERJS_NAME, uv_strerror(err));
	} else {
		g_free(uv_loop);
	}
	uv_loop = NULL;
}

gboolean peerjs_loop_create(peerjs_event_loop loop) {
	g_atomic_int_set(&stopping, 0);
	pending = g_array_new(FALSE, FALSE, sizeof(wake_item));
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_janus);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.count_threads = 1;
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.pcontext = &lws_ctx_alive;
	info.max_http_header_data = PEERJS_MAX_HEADER_DATA;
	if(loop == PEERJS_LOOP_LIBUV && uv_load()) {
		void *foreign_loops[1] = { uv_loop };
		info.options |= LWS_SERVER_OPTION_LIBUV;
		info.foreign_loops = foreign_loops;
		lws_ctx = lws_create_context(&info);
		info.foreign_loops = NULL;
		if(lws_ctx == NULL) {
			/* Typically Debian's libwebsockets-evlib-uv package is missing */
			JANUS_LOG(LOG_WARN, "%s: libwebsockets cannot use libuv (is libwebsockets-evlib-uv installed?): "
				"falling back to event_loop = \"poll\"\n", JANUS_PEERJS_NAME);
			uv_unload();
			info.options &= ~LWS_SERVER_OPTION_LIBUV;
		}
	}
	if(lws_ctx == NULL)
		lws_ctx = lws_create_context(&info);
	if(lws_ctx == NULL) {
		JANUS_LOG(LOG_FATAL, "%s: could not create the libwebsockets context\n", JANUS_PEERJS_NAME);
		g_array_free(pending, TRUE);
		pending = NULL;
		return FALSE;
	}
	lws_ctx_alive = lws_ctx;
	janus_mutex_lock(&pending_mutex);
	service_wakeable = TRUE;
	janus_mutex_unlock(&pending_mutex);
	return TRUE;
}

struct lws_context *peerjs_loop_context(void) {
	return lws_ctx;
}

gboolean peerjs_loop_is_libuv(void) {
	return uv_loop != NULL;
}

/* Two handles call fn: a check, which libuv runs right after a turn's I/O callbacks (the reads), and a prepare,
 * which it runs right before it blocks in epoll. The prepare is what keeps frames from waiting: frames routed in
 * the turn's earlier phases (timers, lws's idle handle serving TLS data it had already decrypted, pending
 * callbacks) come after the previous check, and without it they waited for the next wake-up (1-50 ms stalls at
 * 2,000 msgs/s over WSS, found by bench/run.sh before this handle existed) */
static uv_check_t turn_end_check;
static uv_prepare_t turn_end_prepare;
static uv_idle_t turn_end_idle;		/* active: the next turn polls without blocking (peerjs_loop_turn_end_again) */
static void (*turn_end_fn)(void) = NULL;

static void turn_end_idle_once(uv_idle_t *handle) {
	uv_idle_stop(handle);
}

void peerjs_loop_turn_end_again(void) {
	if(turn_end_fn != NULL)
		uv_idle_start(&turn_end_idle, turn_end_idle_once);
}

static void turn_end_after_reads(uv_check_t *handle) {
	(void)handle;
	turn_end_fn();
}

static void turn_end_before_sleep(uv_prepare_t *handle) {
	(void)handle;
	turn_end_fn();
}

void peerjs_loop_at_turn_end(void (*fn)(void)) {
	if(uv_loop == NULL || fn == NULL || turn_end_fn != NULL)
		return;
	if(uv_check_init(uv_loop, &turn_end_check) != 0)
		return;
	if(uv_prepare_init(uv_loop, &turn_end_prepare) != 0) {
		uv_close((uv_handle_t *)&turn_end_check, NULL);
		return;
	}
	if(uv_idle_init(uv_loop, &turn_end_idle) != 0) {
		uv_close((uv_handle_t *)&turn_end_check, NULL);
		uv_close((uv_handle_t *)&turn_end_prepare, NULL);
		return;
	}
	turn_end_fn = fn;
	uv_check_start(&turn_end_check, turn_end_after_reads);
	uv_prepare_start(&turn_end_prepare, turn_end_before_sleep);
	/* They must not keep uv_run going on their own (the context's destroy runs the loop until nothing is left) */
	uv_unref((uv_handle_t *)&turn_end_check);
	uv_unref((uv_handle_t *)&turn_end_prepare);
	uv_unref((uv_handle_t *)&turn_end_idle);
}

gboolean peerjs_loop_turn_end_available(void) {
	return turn_end_fn != NULL;
}

/* Before the loop closes: the handles go, and whatever the last turn left is handed to fn once more */
static void turn_end_close(void) {
	if(turn_end_fn == NULL)
		return;
	uv_check_stop(&turn_end_check);
	uv_prepare_stop(&turn_end_prepare);
	uv_idle_stop(&turn_end_idle);
	uv_close((uv_handle_t *)&turn_end_check, NULL);
	uv_close((uv_handle_t *)&turn_end_prepare, NULL);
	uv_close((uv_handle_t *)&turn_end_idle, NULL);
	int budget = 1000;
	while(budget-- > 0 && uv_run(uv_loop, UV_RUN_NOWAIT) != 0)
		;
	void (*fn)(void) = turn_end_fn;
	turn_end_fn = NULL;
	fn();
}

static gpointer service_run(gpointer data) {
	(void)data;
	peerjs_on_service_thread = TRUE;
	while(!g_atomic_int_get(&stopping)) {
		if(uv_loop != NULL)
			uv_run(uv_loop, UV_RUN_DEFAULT);	/* returns after uv_stop (destroy) */
		else
			lws_service(lws_ctx, 0);
	}
	return NULL;
}

struct uv_loop_s *peerjs_loop_uv(void) {
	return uv_loop;
}

gboolean peerjs_loop_start(void) {
	GError *error = NULL;
	service_thread = g_thread_try_new("peerjs lws", service_run, NULL, &error);
	if(error != NULL) {
		JANUS_LOG(LOG_FATAL, "%s: could not start the service thread: %s\n", JANUS_PEERJS_NAME, error->message);
		g_error_free(error);
		service_thread = NULL;
		return FALSE;
	}
	return TRUE;
}

void peerjs_loop_wake(void *item, const peerjs_wake_ops *ops) {
	janus_mutex_lock(&pending_mutex);
	if(pending == NULL) {
		janus_mutex_unlock(&pending_mutex);
		ops->unref(item);
		return;
	}
	wake_item w = { item, ops };
	g_array_append_val(pending, w);
	if(!service_wakeable) {
		janus_mutex_unlock(&pending_mutex);
		return;
	}
	service_wakers++;
	janus_mutex_unlock(&pending_mutex);
	lws_cancel_service(lws_ctx);
	janus_mutex_lock(&pending_mutex);
	if(--service_wakers == 0)
		janus_condition_broadcast(&service_wakers_cond);
	janus_mutex_unlock(&pending_mutex);
}

void peerjs_loop_woken(void) {
	janus_mutex_lock(&pending_mutex);
	GArray *list = pending;
	pending = g_array_new(FALSE, FALSE, sizeof(wake_item));
	janus_mutex_unlock(&pending_mutex);
	for(guint i = 0; i < list->len; i++) {
		wake_item *w = &g_array_index(list, wake_item, i);
		w->ops->arm(w->item);
		w->ops->unref(w->item);
	}
	g_array_free(list, TRUE);
	/* peerjs_loop_stop woke us: leave uv_run (the poll loop checks the flag itself) */
	if(uv_loop != NULL && g_atomic_int_get(&stopping))
		uv_stop(uv_loop);
}

void peerjs_loop_unwakeable(void) {
	janus_mutex_lock(&pending_mutex);
	service_wakeable = FALSE;
	while(service_wakers > 0)
		janus_condition_wait(&service_wakers_cond, &pending_mutex);
	janus_mutex_unlock(&pending_mutex);
}

/* lws_context_destroy for both loops. With libuv, lws closes every socket asynchronously (uv_close): run the
 * loop on this thread until lws reports the context gone (info.pcontext), then a second lws_context_destroy
 * finishes what lws 4.1.6 leaves to it for foreign loops. Bounded: a stuck handle cannot hang Janus's shutdown. */
static void context_destroy(void) {
	if(lws_ctx == NULL)
		return;
	lws_context_destroy(lws_ctx);
	if(uv_loop != NULL) {
		int budget = 100000;
		while(lws_ctx_alive != NULL && budget-- > 0 && uv_run(uv_loop, UV_RUN_NOWAIT) != 0)
			;
		if(lws_ctx_alive != NULL)
			lws_context_destroy(lws_ctx);
		budget = 1000;
		while(budget-- > 0 && uv_run(uv_loop, UV_RUN_NOWAIT) != 0)
			;
	}
	lws_ctx = NULL;
	lws_ctx_alive = NULL;
}

void peerjs_loop_stop(void) {
	g_atomic_int_set(&stopping, 1);
	lws_cancel_service(lws_ctx);
	if(service_thread != NULL) {
		g_thread_join(service_thread);
		service_thread = NULL;
	}
}

void peerjs_loop_destroy(void) {
	peerjs_loop_unwakeable();
	/* Closing the context closes every socket (CLOSED callbacks tear connections down) on this thread */
	gboolean was = peerjs_on_service_thread;
	peerjs_on_service_thread = TRUE;
	context_destroy();
	if(uv_loop != NULL)
		turn_end_close();
	peerjs_on_service_thread = was;
	uv_unload();
	janus_mutex_lock(&pending_mutex);
	GArray *list = pending;
	pending = NULL;
	janus_mutex_unlock(&pending_mutex);
	for(guint i = 0; list != NULL && i < list->len; i++) {
		wake_item *w = &g_array_index(list, wake_item, i);
		w->ops->unref(w->item);
	}
	if(list != NULL)
		g_array_free(list, TRUE);
}
