/*! \file   peerjs_loop.h
 * \brief  The event loop: the libwebsockets context on libuv or poll, its service thread, wakes from other threads
 * \details What this file is for (Redis's ae.c): creating and destroying the lws context (on a libuv loop we own,
 * or lws's poll loop), running it on the one service thread, and the one safe way for other threads to get work
 * onto that thread (peerjs_loop_wake: queue an item, lws_cancel_service, and the item's arm runs on the thread).
 * What it is not for: what runs on the loop (peerjs_ws.c, peerjs_http.c), the lws callback switch (janus_peerjs.c).
 */

#ifndef PEERJS_LOOP_H
#define PEERJS_LOOP_H

#include <glib.h>
#include <libwebsockets.h>

#include "peerjs_config.h"

/* TRUE on the service thread (and on the thread destroying the context, while it does) */
extern __thread gboolean peerjs_on_service_thread;

/* Creates the context (libuv when asked and available, else poll, with a warning). FALSE: nothing to undo. */
gboolean peerjs_loop_create(peerjs_event_loop loop);
struct lws_context *peerjs_loop_context(void);
gboolean peerjs_loop_is_libuv(void);
/* The libuv loop lws runs on (NULL with the poll loop): cluster mode's Redis client runs on it too */
struct uv_loop_s *peerjs_loop_uv(void);
/* fn runs on the service thread after every turn's reads and before the libuv loop blocks (uv_check and
 * uv_prepare handles), and once more when the loop is destroyed. Set once, after create; nothing with poll. */
void peerjs_loop_at_turn_end(void (*fn)(void));
/* TRUE when a turn-end function is set and runs (libuv) */
gboolean peerjs_loop_turn_end_available(void);
/* Service thread: the next turn does not block in epoll, so its turn end comes soon (work the last one left) */
void peerjs_loop_turn_end_again(void);
/* Starts the service thread; FALSE (logged) when it cannot */
gboolean peerjs_loop_start(void);
/* LWS_CALLBACK_EVENT_WAIT_CANCELLED: arm everything other threads queued; leaves uv_run when stopping */
void peerjs_loop_woken(void);
/* Stops the service thread (joined) and destroys the context; after peerjs_loop_unwakeable */
void peerjs_loop_stop(void);
/* Nobody may wake the service thread any more: from here on the context may be destroyed. Waits for wakes that
 * are in progress. */
void peerjs_loop_unwakeable(void);
/* Destroys the context and the libuv loop (a failed init, or after peerjs_loop_stop's join) */
void peerjs_loop_destroy(void);

/* Work for the service thread from any other thread: arm(item) runs there, then unref(item). The caller hands
 * over one reference; after destroy, the item is only unref'd. */
typedef struct peerjs_wake_ops {
	void (*arm)(void *item);
	void (*unref)(void *item);
} peerjs_wake_ops;
void peerjs_loop_wake(void *item, const peerjs_wake_ops *ops);

#endif
