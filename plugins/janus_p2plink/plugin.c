/*! \file   plugin.c
 * \brief  janus.plugin.p2plink — PeerJS-style signaling for 1:1 calls and file transfer (Janus glue)
 * \details What this file is for: the Janus plugin callbacks. It loads the config, owns the peer registry and its
 * sweeper thread, exposes the in-process hot path to janus.transport.peerjs, binds each PeerJS connection to the
 * Janus session its transport created (so peers show up in the admin API and time out the Janus way), answers
 * admin requests and feeds event handlers.
 * What it is not for: routing rules (registry.c), the wire format (protocol.c), sockets (the transport).
 *
 * This plugin never relays media: a request carrying a JSEP is refused and the PeerConnection the core started for
 * it is closed. PeerJS SDP travels inside frame payloads, which only ever pass through the hot path.
 *
 * Janus API (only janus.transport.peerjs uses it; other transports cannot do anything useful):
 * \verbatim
{"request":"bind","nonce":"<32 hex>"}   -> {"p2plink":"bound","id":"<peer id>"}
\endverbatim
 * Admin API (message_plugin with the admin secret): see admin.c.
 */

#include <plugins/plugin.h>

#include <jansson.h>

#include <debug.h>
#include <mutex.h>
#include <refcount.h>
#include <utils.h>

#include "../../common/jcfg_values.h"
#include "admin.h"
#include "p2plink_hotpath.h"
#include "registry.h"

#define JANUS_P2PLINK_VERSION			1
#define JANUS_P2PLINK_VERSION_STRING	"0.1.0"
#define JANUS_P2PLINK_DESCRIPTION		"PeerJS-compatible signaling for 1:1 calls and file transfer; never relays media."
#define JANUS_P2PLINK_NAME				"p2plink"
#define JANUS_P2PLINK_AUTHOR			"p2plink"
#define JANUS_P2PLINK_PACKAGE			"janus.plugin.p2plink"

#define JANUS_P2PLINK_ERROR_INVALID_REQUEST	470
#define JANUS_P2PLINK_ERROR_MISSING_ELEMENT	471
#define JANUS_P2PLINK_ERROR_INVALID_ELEMENT	472
#define JANUS_P2PLINK_ERROR_NO_MEDIA		473
#define JANUS_P2PLINK_ERROR_UNKNOWN_NONCE	474

/* Plugin methods */
janus_plugin *create(void);
static int janus_p2plink_init(janus_callbacks *callback, const char *config_path);
static void janus_p2plink_destroy(void);
static int janus_p2plink_get_api_compatibility(void);
static int janus_p2plink_get_version(void);
static const char *janus_p2plink_get_version_string(void);
static const char *janus_p2plink_get_description(void);
static const char *janus_p2plink_get_name(void);
static const char *janus_p2plink_get_author(void);
static const char *janus_p2plink_get_package(void);
static void janus_p2plink_create_session(janus_plugin_session *handle, int *error);
static struct janus_plugin_result *janus_p2plink_handle_message(janus_plugin_session *handle, char *transaction,
	json_t *message, json_t *jsep);
static json_t *janus_p2plink_handle_admin_message(json_t *message);
static void janus_p2plink_setup_media(janus_plugin_session *handle);
static void janus_p2plink_hangup_media(janus_plugin_session *handle);
static void janus_p2plink_destroy_session(janus_plugin_session *handle, int *error);
static json_t *janus_p2plink_query_session(janus_plugin_session *handle);

static janus_plugin janus_p2plink_plugin =
	JANUS_PLUGIN_INIT (
		.init = janus_p2plink_init,
		.destroy = janus_p2plink_destroy,

		.get_api_compatibility = janus_p2plink_get_api_compatibility,
		.get_version = janus_p2plink_get_version,
		.get_version_string = janus_p2plink_get_version_string,
		.get_description = janus_p2plink_get_description,
		.get_name = janus_p2plink_get_name,
		.get_author = janus_p2plink_get_author,
		.get_package = janus_p2plink_get_package,

		.create_session = janus_p2plink_create_session,
		.handle_message = janus_p2plink_handle_message,
		.handle_admin_message = janus_p2plink_handle_admin_message,
		.setup_media = janus_p2plink_setup_media,
		.hangup_media = janus_p2plink_hangup_media,
		.destroy_session = janus_p2plink_destroy_session,
		.query_session = janus_p2plink_query_session,
	);

janus_plugin *create(void) {
	JANUS_LOG(LOG_VERB, "%s created!\n", JANUS_P2PLINK_NAME);
	return &janus_p2plink_plugin;
}

static struct janus_json_parameter request_parameters[] = {
	{"request", JSON_STRING, JANUS_JSON_PARAM_REQUIRED}
};
static struct janus_json_parameter bind_parameters[] = {
	{"nonce", JSON_STRING, JANUS_JSON_PARAM_REQUIRED}
};

static volatile gint initialized = 0, stopping = 0;
static janus_callbacks *gateway = NULL;
static gboolean notify_events = TRUE;
static p2plink_registry_config registry_config;

/* The registry exists while a transport is attached: it needs the transport's send/close to do anything */
static p2plink_registry *registry = NULL;
static janus_mutex registry_mutex = JANUS_MUTEX_INITIALIZER;

/* Sweeper: EXPIRE for stale queues and alive_timeout, every SWEEP_INTERVAL */
#define SWEEP_INTERVAL (250 * G_TIME_SPAN_MILLISECOND)
static GThread *sweeper_thread = NULL;
static GMutex sweeper_mutex;
static GCond sweeper_cond;

/* One Janus handle per PeerJS connection */
typedef struct janus_p2plink_session {
	janus_plugin_session *handle;
	p2plink_peer *peer;		/* set by "bind"; guarded by sessions_mutex */
	volatile gint destroyed;
	janus_refcount ref;
} janus_p2plink_session;

static GHashTable *sessions = NULL;
static janus_mutex sessions_mutex = JANUS_MUTEX_INITIALIZER;

static void janus_p2plink_session_free(const janus_refcount *session_ref) {
	janus_p2plink_session *session = janus_refcount_containerof(session_ref, janus_p2plink_session, ref);
	/* The core gave the plugin one reference on the handle when it created the session */
	janus_refcount_decrease(&session->handle->ref);
	p2plink_peer_unref(session->peer);
	g_free(session);
}

static void janus_p2plink_session_destroy(janus_p2plink_session *session) {
	if(session && g_atomic_int_compare_and_exchange(&session->destroyed, 0, 1))
		janus_refcount_decrease(&session->ref);
}

/* Must be called with sessions_mutex held */
static janus_p2plink_session *janus_p2plink_lookup_session(janus_plugin_session *handle) {
	return g_hash_table_lookup(sessions, handle);
}

/* Returns a reference to the registry's owner lock-free readers can use, or NULL; pair with registry_release */
static p2plink_registry *registry_acquire(void) {
	janus_mutex_lock(&registry_mutex);
	if(registry == NULL)
		janus_mutex_unlock(&registry_mutex);
	return registry;
}

static void registry_release(void) {
	janus_mutex_unlock(&registry_mutex);
}

/* Events for Janus event handlers: connection lifecycle only, never payloads */
static void janus_p2plink_observe(p2plink_registry_event event, const char *id, const char *other, void *data) {
	(void)data;
	if(!notify_events || gateway == NULL || !gateway->events_is_enabled())
		return;
	static const char *names[] = { "peer-open", "peer-close", "peer-timeout", "expire" };
	json_t *info = json_pack("{s:s,s:s}", "event", names[event], "id", id);
	if(other != NULL)
		json_object_set_new(info, event == P2PLINK_EVENT_EXPIRE ? "unreachable" : "ip", json_string(other));
	gateway->notify_event(&janus_p2plink_plugin, NULL, info);
}

/* The hot path, called by the transport on its event-loop thread. The registry outlives every call because the
 * transport detaches (and stops calling) before the plugin is destroyed: Janus destroys transports first. */

static int janus_p2plink_attach_transport(const p2plink_transport_ops *ops) {
	janus_mutex_lock(&registry_mutex);
	if(registry != NULL) {
		janus_mutex_unlock(&registry_mutex);
		JANUS_LOG(LOG_ERR, "A transport is already attached to %s\n", JANUS_P2PLINK_NAME);
		return -1;
	}
	registry = p2plink_registry_new(&registry_config, ops);
	p2plink_registry_set_observer(registry, janus_p2plink_observe, NULL);
	janus_mutex_unlock(&registry_mutex);
	JANUS_LOG(LOG_INFO, "janus.transport.peerjs attached to %s\n", JANUS_P2PLINK_NAME);
	return 0;
}

static void janus_p2plink_detach_transport(void) {
	janus_mutex_lock(&registry_mutex);
	p2plink_registry *old = registry;
	registry = NULL;
	janus_mutex_unlock(&registry_mutex);
	p2plink_registry_free(old);
}

static p2plink_peer *janus_p2plink_peer_open(p2plink_conn *conn, const char *id, const char *token,
		const char *client_ip, char nonce_out[P2PLINK_BIND_NONCE_LEN + 1], p2plink_open_result *result) {
	/* Only the transport thread calls this and it detaches before destroy, so registry is stable here */
	return p2plink_registry_open(registry, conn, id, token, client_ip, janus_get_monotonic_time(), nonce_out, result);
}

static p2plink_frame_result janus_p2plink_peer_frame(p2plink_peer *peer, const char *data, size_t len) {
	return p2plink_registry_frame(registry, peer, data, len, janus_get_monotonic_time());
}

static void janus_p2plink_peer_close(p2plink_peer *peer) {
	p2plink_registry_close(registry, peer);
}

static char *janus_p2plink_discoverable_ids_json(void) {
	return p2plink_registry_discoverable_ids_json(registry);
}

static const p2plink_hotpath janus_p2plink_hotpath = {
	.version = P2PLINK_HOTPATH_VERSION,
	.attach_transport = janus_p2plink_attach_transport,
	.detach_transport = janus_p2plink_detach_transport,
	.peer_open = janus_p2plink_peer_open,
	.peer_frame = janus_p2plink_peer_frame,
	.peer_close = janus_p2plink_peer_close,
	.discoverable_ids_json = janus_p2plink_discoverable_ids_json,
};

/* Resolved by the transport with dlsym(RTLD_DEFAULT, P2PLINK_HOTPATH_SYMBOL) */
__attribute__((visibility("default"))) const p2plink_hotpath *janus_p2plink_hotpath_get(void);
const p2plink_hotpath *janus_p2plink_hotpath_get(void) {
	return &janus_p2plink_hotpath;
}

static gpointer janus_p2plink_sweeper(gpointer data) {
	(void)data;
	g_mutex_lock(&sweeper_mutex);
	while(!g_atomic_int_get(&stopping)) {
		gint64 deadline = g_get_monotonic_time() + SWEEP_INTERVAL;
		g_cond_wait_until(&sweeper_cond, &sweeper_mutex, deadline);
		if(g_atomic_int_get(&stopping))
			break;
		p2plink_registry *reg = registry_acquire();
		if(reg != NULL) {
			p2plink_registry_sweep(reg, janus_get_monotonic_time());
			registry_release();
		}
	}
	g_mutex_unlock(&sweeper_mutex);
	return NULL;
}

static gboolean load_config(const char *config_path) {
	p2plink_registry_config_defaults(&registry_config);
	char filename[255];
	g_snprintf(filename, sizeof(filename), "%s/%s.jcfg", config_path, JANUS_P2PLINK_PACKAGE);
	janus_config *config = janus_config_parse(filename);
	if(config == NULL) {
		JANUS_LOG(LOG_WARN, "No %s, using defaults\n", filename);
		return TRUE;
	}
	janus_config_print(config);
	janus_config_category *general = janus_config_get_create(config, NULL, janus_config_type_category, "general");
	gint64 expire_ms = registry_config.expire_timeout / 1000, alive_ms = registry_config.alive_timeout / 1000;
	gint64 limit = registry_config.concurrent_limit, qmsgs = registry_config.queue_max_messages;
	gint64 qbytes = registry_config.queue_max_bytes, qtotal = registry_config.queue_total_bytes;
	gint64 counterparts = registry_config.max_counterparts;
	gboolean ok = p2plink_jcfg_int(config, general, "expire_timeout", 100, 3600000, &expire_ms) &&
		p2plink_jcfg_int(config, general, "alive_timeout", 1000, 86400000, &alive_ms) &&
		p2plink_jcfg_int(config, general, "concurrent_limit", 1, 10000000, &limit) &&
		p2plink_jcfg_int(config, general, "queue_max_messages", 1, 100000, &qmsgs) &&
		p2plink_jcfg_int(config, general, "queue_max_bytes", 1024, G_GINT64_CONSTANT(1) << 30, &qbytes) &&
		p2plink_jcfg_int(config, general, "queue_total_bytes", 1024, G_GINT64_CONSTANT(1) << 40, &qtotal) &&
		p2plink_jcfg_int(config, general, "max_counterparts", 1, 100000, &counterparts);
	registry_config.expire_timeout = expire_ms * 1000;
	registry_config.alive_timeout = alive_ms * 1000;
	registry_config.concurrent_limit = limit;
	registry_config.queue_max_messages = qmsgs;
	registry_config.queue_max_bytes = qbytes;
	registry_config.queue_total_bytes = qtotal;
	registry_config.max_counterparts = counterparts;
	notify_events = p2plink_jcfg_bool(config, general, "events", TRUE);
	janus_config_destroy(config);
	return ok;
}

static int janus_p2plink_init(janus_callbacks *callback, const char *config_path) {
	if(g_atomic_int_get(&stopping))
		return -1;
	if(callback == NULL || config_path == NULL)
		return -1;
	if(!load_config(config_path))
		return -1;
	gateway = callback;
	sessions = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)janus_p2plink_session_destroy);
	g_mutex_init(&sweeper_mutex);
	g_cond_init(&sweeper_cond);
	GError *error = NULL;
	sweeper_thread = g_thread_try_new("p2plink sweeper", janus_p2plink_sweeper, NULL, &error);
	if(error != NULL) {
		JANUS_LOG(LOG_ERR, "Could not start the p2plink sweeper thread: %s\n", error->message);
		g_error_free(error);
		g_hash_table_destroy(sessions);
		return -1;
	}
	g_atomic_int_set(&initialized, 1);
	JANUS_LOG(LOG_INFO, "%s initialized (expire_timeout=%"G_GINT64_FORMAT"ms, alive_timeout=%"G_GINT64_FORMAT
		"ms, concurrent_limit=%u)\n", JANUS_P2PLINK_NAME, registry_config.expire_timeout / 1000,
		registry_config.alive_timeout / 1000, registry_config.concurrent_limit);
	return 0;
}

static void janus_p2plink_destroy(void) {
	if(!g_atomic_int_get(&initialized))
		return;
	g_atomic_int_set(&stopping, 1);
	g_mutex_lock(&sweeper_mutex);
	g_cond_signal(&sweeper_cond);
	g_mutex_unlock(&sweeper_mutex);
	if(sweeper_thread != NULL) {
		g_thread_join(sweeper_thread);
		sweeper_thread = NULL;
	}
	janus_mutex_lock(&sessions_mutex);
	g_hash_table_destroy(sessions);
	sessions = NULL;
	janus_mutex_unlock(&sessions_mutex);
	/* Normally the transport detached already; this covers a transport that failed half-way */
	janus_p2plink_detach_transport();
	g_atomic_int_set(&initialized, 0);
	JANUS_LOG(LOG_INFO, "%s destroyed!\n", JANUS_P2PLINK_NAME);
}

static int janus_p2plink_get_api_compatibility(void) {
	return JANUS_PLUGIN_API_VERSION;
}

static int janus_p2plink_get_version(void) {
	return JANUS_P2PLINK_VERSION;
}

static const char *janus_p2plink_get_version_string(void) {
	return JANUS_P2PLINK_VERSION_STRING;
}

static const char *janus_p2plink_get_description(void) {
	return JANUS_P2PLINK_DESCRIPTION;
}

static const char *janus_p2plink_get_name(void) {
	return JANUS_P2PLINK_NAME;
}

static const char *janus_p2plink_get_author(void) {
	return JANUS_P2PLINK_AUTHOR;
}

static const char *janus_p2plink_get_package(void) {
	return JANUS_P2PLINK_PACKAGE;
}

static void janus_p2plink_create_session(janus_plugin_session *handle, int *error) {
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized)) {
		*error = -1;
		return;
	}
	janus_p2plink_session *session = g_new0(janus_p2plink_session, 1);
	session->handle = handle;
	janus_refcount_init(&session->ref, janus_p2plink_session_free);
	handle->plugin_handle = session;
	janus_mutex_lock(&sessions_mutex);
	g_hash_table_insert(sessions, handle, session);
	janus_mutex_unlock(&sessions_mutex);
}

static void janus_p2plink_destroy_session(janus_plugin_session *handle, int *error) {
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized)) {
		*error = -1;
		return;
	}
	janus_mutex_lock(&sessions_mutex);
	janus_p2plink_session *session = janus_p2plink_lookup_session(handle);
	if(session == NULL) {
		janus_mutex_unlock(&sessions_mutex);
		*error = -2;
		return;
	}
	p2plink_peer *peer = session->peer ? p2plink_peer_ref(session->peer) : NULL;
	g_hash_table_remove(sessions, handle);
	janus_mutex_unlock(&sessions_mutex);
	if(peer != NULL) {
		/* The Janus session went away (timeout, admin destroy, transport gone): the PeerJS socket goes too */
		p2plink_registry *reg = registry_acquire();
		if(reg != NULL) {
			p2plink_registry_kick_peer(reg, peer, "Janus session destroyed");
			registry_release();
		}
		p2plink_peer_unref(peer);
	}
}

static json_t *janus_p2plink_query_session(janus_plugin_session *handle) {
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized))
		return NULL;
	janus_mutex_lock(&sessions_mutex);
	janus_p2plink_session *session = janus_p2plink_lookup_session(handle);
	p2plink_peer *peer = (session && session->peer) ? p2plink_peer_ref(session->peer) : NULL;
	janus_mutex_unlock(&sessions_mutex);
	if(session == NULL)
		return NULL;
	json_t *info = NULL;
	p2plink_registry *reg = peer ? registry_acquire() : NULL;
	if(reg != NULL) {
		info = p2plink_registry_peer_info(reg, peer);
		registry_release();
	}
	p2plink_peer_unref(peer);
	return info ? info : json_pack("{s:b}", "bound", FALSE);
}

static json_t *error_response(int code, const char *cause) {
	return json_pack("{s:s,s:i,s:s}", "p2plink", "event", "error_code", code, "error", cause);
}

/* "bind": link the PeerJS peer that was given this nonce to this Janus handle */
static json_t *handle_bind(janus_plugin_session *handle, json_t *root) {
	int error_code = 0;
	char error_cause[512];
	JANUS_VALIDATE_JSON_OBJECT(root, bind_parameters, error_code, error_cause, TRUE,
		JANUS_P2PLINK_ERROR_MISSING_ELEMENT, JANUS_P2PLINK_ERROR_INVALID_ELEMENT);
	if(error_code != 0)
		return error_response(error_code, error_cause);
	p2plink_registry *reg = registry_acquire();
	p2plink_peer *peer = NULL;
	if(reg != NULL) {
		peer = p2plink_registry_bind(reg, json_string_value(json_object_get(root, "nonce")));
		registry_release();
	}
	if(peer == NULL)
		return error_response(JANUS_P2PLINK_ERROR_UNKNOWN_NONCE, "Unknown or already used bind nonce");
	janus_mutex_lock(&sessions_mutex);
	janus_p2plink_session *session = janus_p2plink_lookup_session(handle);
	if(session == NULL || session->peer != NULL || g_atomic_int_get(&session->destroyed)) {
		janus_mutex_unlock(&sessions_mutex);
		p2plink_peer_unref(peer);
		return error_response(JANUS_P2PLINK_ERROR_INVALID_REQUEST, "This handle is gone or already bound");
	}
	session->peer = peer;
	janus_mutex_unlock(&sessions_mutex);
	return json_pack("{s:s,s:s}", "p2plink", "bound", "id", p2plink_peer_id(peer));
}

static struct janus_plugin_result *janus_p2plink_handle_message(janus_plugin_session *handle, char *transaction,
		json_t *message, json_t *jsep) {
	json_t *response = NULL;
	int error_code = 0;
	char error_cause[512];
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized)) {
		response = error_response(JANUS_P2PLINK_ERROR_INVALID_REQUEST, "Shutting down");
		goto done;
	}
	if(jsep != NULL) {
		/* The core already started ICE for this SDP before we saw it: tear that PeerConnection down */
		JANUS_LOG(LOG_WARN, "[%s] Refusing a JSEP: this server never relays media\n", JANUS_P2PLINK_NAME);
		gateway->close_pc(handle);
		response = error_response(JANUS_P2PLINK_ERROR_NO_MEDIA,
			"p2plink never relays media: media and files flow directly between browsers, JSEP is not accepted");
		goto done;
	}
	if(message == NULL || !json_is_object(message)) {
		response = error_response(JANUS_P2PLINK_ERROR_INVALID_REQUEST, "The message body must be a JSON object");
		goto done;
	}
	JANUS_VALIDATE_JSON_OBJECT(message, request_parameters, error_code, error_cause, TRUE,
		JANUS_P2PLINK_ERROR_MISSING_ELEMENT, JANUS_P2PLINK_ERROR_INVALID_ELEMENT);
	if(error_code != 0) {
		response = error_response(error_code, error_cause);
		goto done;
	}
	const char *request = json_string_value(json_object_get(message, "request"));
	if(!strcasecmp(request, "bind")) {
		response = handle_bind(handle, message);
	} else {
		response = error_response(JANUS_P2PLINK_ERROR_INVALID_REQUEST,
			"Unknown request: p2plink peers speak the PeerJS protocol through janus.transport.peerjs");
	}
done:
	g_free(transaction);
	if(message != NULL)
		json_decref(message);
	if(jsep != NULL)
		json_decref(jsep);
	return janus_plugin_result_new(JANUS_PLUGIN_OK, NULL, response);
}

static json_t *janus_p2plink_handle_admin_message(json_t *message) {
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized))
		return error_response(JANUS_P2PLINK_ERROR_INVALID_REQUEST, "Shutting down");
	p2plink_registry *reg = registry_acquire();
	json_t *response = p2plink_admin_handle(reg, message);
	if(reg != NULL)
		registry_release();
	return response;
}

static void janus_p2plink_setup_media(janus_plugin_session *handle) {
	/* Only reachable if a PeerConnection got through before we refused its JSEP: close it again */
	JANUS_LOG(LOG_WARN, "[%s] Unexpected PeerConnection, closing it: this server never relays media\n",
		JANUS_P2PLINK_NAME);
	gateway->close_pc(handle);
}

static void janus_p2plink_hangup_media(janus_plugin_session *handle) {
	(void)handle;
}
