/*! \file    stun_responder.h
 * \brief   p2plink built-in STUN Binding responder (RFC 5389 / RFC 8489)
 * \details What this module is for: answering STUN Binding requests on a UDP
 * port so that browsers can learn their server-reflexive address from the
 * operator's own server instead of a third-party STUN server. It has three
 * layers, each usable and testable on its own:
 *
 *   1. p2plink_stun_handle(): a pure function, one datagram in, at most one
 *      datagram out. Binding request -> Binding success response with
 *      XOR-MAPPED-ADDRESS, SOFTWARE and FINGERPRINT. Any other method sent
 *      as a request -> a minimal 400 error response (at most twice the
 *      request's size, else dropped). Everything else -> dropped.
 *      Parsing and building is done by libnice's STUN library (stun/stunagent.h);
 *      there is no hand-written STUN parser here.
 *   2. p2plink_stun_limiter: a per-source token bucket (bounded table, LRU
 *      eviction, plus an optional global bucket) with an injected clock, so
 *      one address cannot turn the server into a reflector. It is the shared
 *      limiter of common/ratelimit.h (p2plink_rate_table), the one every
 *      other limit of both modules uses, with STUN's verdicts.
 *   3. p2plink_stun_server: a UDP socket plus counters that the transport
 *      drives either from its own event loop (fd + on_readable) or from a
 *      dedicated GThread (start_thread/stop_thread).
 *
 * What this module is NOT for: TURN. There is no allocation, no relay, no
 * credentials, no RFC 5780 NAT behaviour discovery (CHANGE-REQUEST is
 * answered with 420), no STUN over TCP/TLS. It does not read any Janus
 * configuration and does not log: the transport maps its .jcfg settings onto
 * p2plink_stun_config and reads the counters for its stats.
 *
 * \ingroup transports
 */

#ifndef P2PLINK_STUN_RESPONDER_H
#define P2PLINK_STUN_RESPONDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <glib.h>

/*! \brief Largest datagram we look at. A Binding request from a browser is
 * 20-100 bytes; RFC 8489 says STUN over UDP should stay below the path MTU
 * (576 bytes for IPv4 without PMTU discovery, 1280 for IPv6). Anything bigger
 * is not a client we want to answer and is dropped without parsing. */
#define P2PLINK_STUN_MAX_PACKET	1280
/*! \brief Output buffer size that is always enough for any reply we build */
#define P2PLINK_STUN_MAX_REPLY	548
/*! \brief Value of the SOFTWARE attribute in every response */
#define P2PLINK_STUN_SOFTWARE	"p2plink"
/*! \brief Reason phrase of the 400 answer to every non-Binding request, when
 * it fits within P2PLINK_STUN_MAX_ERROR_FACTOR (a 28-byte Allocate with
 * REQUESTED-TRANSPORT gets it; a bare 20-byte one gets an empty phrase) */
#define P2PLINK_STUN_REASON_BINDING_ONLY	"Binding only"
/*! \brief An error response is at most this many times the request's size,
 * else it is dropped: errors go to whatever address a datagram claims, so they
 * must not make the responder an amplifier (Binding successes are bounded by
 * the rate limits instead: a browser needs them) */
#define P2PLINK_STUN_MAX_ERROR_FACTOR	2

/*! \brief What happened to one datagram. The REPLY_* values mean "send the
 * bytes written to out back to the source"; the DROP_* values mean "send
 * nothing". Every value has a stable name (p2plink_stun_verdict_name) used as
 * a counter key in stats. */
typedef enum p2plink_stun_verdict {
	P2PLINK_STUN_REPLY_BINDING = 0,		/* Binding success response */
	P2PLINK_STUN_REPLY_ERROR,			/* error response: 400 non-Binding method, 420 unknown attribute */
	P2PLINK_STUN_DROP_OVERSIZED,		/* longer than P2PLINK_STUN_MAX_PACKET */
	P2PLINK_STUN_DROP_NOT_STUN,			/* first bits, length or attribute layout are not STUN */
	P2PLINK_STUN_DROP_TRUNCATED,		/* shorter than its header says */
	P2PLINK_STUN_DROP_BAD_COOKIE,		/* no RFC 5389 magic cookie (RFC 3489 client or garbage) */
	P2PLINK_STUN_DROP_BAD_FINGERPRINT,	/* FINGERPRINT present but wrong */
	P2PLINK_STUN_DROP_NOT_REQUEST,		/* indication, response or error response */
	P2PLINK_STUN_DROP_BAD_SOURCE,		/* source address not IPv4/IPv6, or port 0 */
	P2PLINK_STUN_DROP_INTERNAL,			/* reply did not fit in the caller's buffer */
	P2PLINK_STUN_DROP_RATE_LIMITED,		/* per-source bucket empty (set by the server, not by handle) */
	P2PLINK_STUN_DROP_GLOBAL_LIMITED,	/* global bucket empty (set by the server, not by handle) */
	P2PLINK_STUN_DROP_AMPLIFICATION,	/* the error reply would be over P2PLINK_STUN_MAX_ERROR_FACTOR x the request */
	P2PLINK_STUN_VERDICT_COUNT
} p2plink_stun_verdict;

/*! \brief TRUE if the verdict asks for the reply to be sent */
#define P2PLINK_STUN_VERDICT_IS_REPLY(v)	((v) == P2PLINK_STUN_REPLY_BINDING || (v) == P2PLINK_STUN_REPLY_ERROR)

/*! \brief Stable machine name of a verdict ("reply-binding", "drop-oversized", ...) */
const char *p2plink_stun_verdict_name(p2plink_stun_verdict v);

/*! \brief Answer one datagram.
 * @param[in] pkt The received datagram
 * @param[in] len Its length in bytes
 * @param[in] src The address it came from (AF_INET, or AF_INET6; an IPv4-mapped
 * IPv6 address is reported to the client as the IPv4 address it maps)
 * @param[in] srclen Length of src
 * @param[out] out Where the reply is written; P2PLINK_STUN_MAX_REPLY bytes always suffice
 * @param[in,out] outlen In: capacity of out. Out: reply length (0 when dropped)
 * @returns A verdict; send out[0..*outlen) to src if P2PLINK_STUN_VERDICT_IS_REPLY().
 * Pure: no globals, no I/O, thread-safe, never asserts on its input. */
p2plink_stun_verdict p2plink_stun_handle(const uint8_t *pkt, size_t len,
	const struct sockaddr *src, socklen_t srclen, uint8_t *out, size_t *outlen);


/*! \brief Rate limiter settings. rate_per_sec == 0 disables per-source limiting,
 * global_rate_per_sec == 0 disables the global cap. */
typedef struct p2plink_stun_config {
	guint rate_per_sec;			/* replies per second refilled per source */
	guint burst;				/* bucket depth per source */
	guint max_sources;			/* sources tracked at once; least recently seen is evicted */
	guint global_rate_per_sec;	/* replies per second over all sources */
	guint global_burst;			/* depth of the global bucket */
} p2plink_stun_config;

/*! \brief Fill in the defaults (see stun_responder.c for why these numbers) */
void p2plink_stun_config_defaults(p2plink_stun_config *config);

/*! \brief Per-source token bucket table (a p2plink_rate_table). Thread-safe:
 * the table has its own lock, so stats may read it while the STUN thread serves. */
typedef struct p2plink_stun_limiter p2plink_stun_limiter;

p2plink_stun_limiter *p2plink_stun_limiter_new(const p2plink_stun_config *config);
void p2plink_stun_limiter_free(p2plink_stun_limiter *limiter);
/*! \brief Take one token for src at time now_us (monotonic microseconds, e.g.
 * g_get_monotonic_time(); tests inject their own). IPv4-mapped IPv6 counts as
 * the IPv4 address; IPv6 sources are bucketed per /64, the smallest block one
 * subscriber usually gets.
 * @returns P2PLINK_STUN_REPLY_BINDING when allowed (the value only means
 * "go on"), P2PLINK_STUN_DROP_RATE_LIMITED, P2PLINK_STUN_DROP_GLOBAL_LIMITED
 * or P2PLINK_STUN_DROP_BAD_SOURCE */
p2plink_stun_verdict p2plink_stun_limiter_take(p2plink_stun_limiter *limiter,
	const struct sockaddr *src, socklen_t srclen, gint64 now_us);
/*! \brief Number of sources currently tracked */
guint p2plink_stun_limiter_size(const p2plink_stun_limiter *limiter);
/*! \brief Number of sources evicted to respect max_sources */
guint64 p2plink_stun_limiter_evictions(const p2plink_stun_limiter *limiter);


/*! \brief Counters of a running server, a consistent-enough snapshot for stats */
typedef struct p2plink_stun_counters {
	guint64 received;			/* datagrams read from the socket */
	guint64 replies;			/* datagrams sent back (success + error) */
	guint64 send_errors;		/* sendmsg failures (reply lost) */
	guint64 evictions;			/* limiter table evictions */
	guint64 verdicts[P2PLINK_STUN_VERDICT_COUNT];	/* per verdict, see p2plink_stun_verdict_name */
} p2plink_stun_counters;

/*! \brief A UDP STUN responder socket */
typedef struct p2plink_stun_server p2plink_stun_server;

/*! \brief Open and bind the socket (non-blocking). Nothing is read until the
 * caller polls the fd or starts the thread.
 * @param bind_addr Numeric address to bind; NULL or "::" means every IPv4 and
 * IPv6 address through one dual-stack socket (IPV6_V6ONLY=0), falling back to
 * 0.0.0.0 on hosts without IPv6. A specific IPv6 address is bound IPv6-only.
 * @param port UDP port; 0 picks a free one (see p2plink_stun_server_port)
 * @param config Rate limiter settings, NULL for the defaults
 * @param error Set on failure (bad address, bind error, ...)
 * @returns The server, or NULL with error set */
p2plink_stun_server *p2plink_stun_server_new(const char *bind_addr, int port,
	const p2plink_stun_config *config, GError **error);
/*! \brief Stop the thread if running, close the socket, free. NULL-safe. */
void p2plink_stun_server_free(p2plink_stun_server *server);
/*! \brief The UDP socket, to be watched for POLLIN by a foreign event loop
 * (e.g. lws foreign fd). Do not read it yourself. */
int p2plink_stun_server_fd(const p2plink_stun_server *server);
/*! \brief The bound port (useful after port 0) */
int p2plink_stun_server_port(const p2plink_stun_server *server);
/*! \brief Read and answer pending datagrams without blocking. Reads at most a
 * bounded number per call so a flood cannot starve the caller's loop; the
 * level-triggered poll will report the fd again if more is pending.
 * Safe to call from any one thread at a time (serialized internally).
 * @returns The number of datagrams read */
guint p2plink_stun_server_on_readable(p2plink_stun_server *server);
/*! \brief Serve from a dedicated thread ("p2plink-stun") until stop_thread.
 * Do not also drive the fd from another loop while the thread runs. */
gboolean p2plink_stun_server_start_thread(p2plink_stun_server *server, GError **error);
/*! \brief Stop and join the thread; no-op if it is not running */
void p2plink_stun_server_stop_thread(p2plink_stun_server *server);
/*! \brief Called once per datagram with its source and final verdict, on the
 * thread that drives the server. For debug logging and tests; keep it cheap.
 * src is the address as received (IPv4 clients may appear as ::ffff:a.b.c.d). */
typedef void (*p2plink_stun_observer)(const struct sockaddr *src, socklen_t srclen,
	p2plink_stun_verdict verdict, gpointer user_data);
/*! \brief Set (or clear with NULL) the observer. Call before serving starts. */
void p2plink_stun_server_set_observer(p2plink_stun_server *server,
	p2plink_stun_observer observer, gpointer user_data);
/*! \brief Copy the counters (any thread) */
void p2plink_stun_server_get_counters(p2plink_stun_server *server, p2plink_stun_counters *counters);

/*! \brief GError domain of p2plink_stun_server_new/start_thread */
#define P2PLINK_STUN_ERROR	(p2plink_stun_error_quark())
GQuark p2plink_stun_error_quark(void);
typedef enum {
	P2PLINK_STUN_ERROR_BAD_ADDRESS,	/* bind_addr is not a numeric IPv4/IPv6 address, or port out of range */
	P2PLINK_STUN_ERROR_SOCKET,		/* socket/setsockopt/bind failed (errno text in the message) */
	P2PLINK_STUN_ERROR_THREAD		/* thread already running or could not be created */
} p2plink_stun_error_code;

#endif
