/*! \file    stun_responder.c
 * \brief   p2plink built-in STUN Binding responder (RFC 5389 / RFC 8489)
 * \details For: answering STUN Binding requests so that browsers learn their
 * server-reflexive address from the operator's own server, with a per-source
 * rate limit (the shared limiter of common/ratelimit.c), on a UDP socket that a transport drives from its own loop or
 * from a thread. See stun_responder.h for the three layers.
 *
 * Not for: TURN (no allocation and no relay, ever: every non-Binding request
 * gets a 400), authentication, RFC 5780 NAT behaviour discovery, STUN over
 * TCP/TLS, configuration parsing or logging (the transport does those).
 *
 * Every byte of STUN parsing and building goes through libnice's STUN
 * library; the only bytes assembled here are the value of one ERROR-CODE
 * attribute, because libnice's helper cannot carry our own reason phrase.
 *
 * \ingroup transports
 */

/* recvmmsg/sendmmsg, in6_pktinfo */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "stun_responder.h"
#include "ratelimit.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <stun/stunagent.h>
#include <stun/stunmessage.h>


/* ---------------------------------------------------------------------------
 * Verdict names
 * ------------------------------------------------------------------------- */

static const char *p2plink_stun_verdict_names[P2PLINK_STUN_VERDICT_COUNT] = {
	[P2PLINK_STUN_REPLY_BINDING] = "reply-binding",
	[P2PLINK_STUN_REPLY_ERROR] = "reply-error",
	[P2PLINK_STUN_DROP_OVERSIZED] = "drop-oversized",
	[P2PLINK_STUN_DROP_NOT_STUN] = "drop-not-stun",
	[P2PLINK_STUN_DROP_TRUNCATED] = "drop-truncated",
	[P2PLINK_STUN_DROP_BAD_COOKIE] = "drop-bad-cookie",
	[P2PLINK_STUN_DROP_BAD_FINGERPRINT] = "drop-bad-fingerprint",
	[P2PLINK_STUN_DROP_NOT_REQUEST] = "drop-not-request",
	[P2PLINK_STUN_DROP_BAD_SOURCE] = "drop-bad-source",
	[P2PLINK_STUN_DROP_INTERNAL] = "drop-internal",
	[P2PLINK_STUN_DROP_RATE_LIMITED] = "drop-rate-limited",
	[P2PLINK_STUN_DROP_GLOBAL_LIMITED] = "drop-global-limited",
	[P2PLINK_STUN_DROP_AMPLIFICATION] = "drop-amplification",
};

const char *p2plink_stun_verdict_name(p2plink_stun_verdict v) {
	if((int)v < 0 || v >= P2PLINK_STUN_VERDICT_COUNT)
		return "unknown";
	return p2plink_stun_verdict_names[v];
}


/* ---------------------------------------------------------------------------
 * Source addresses
 * ------------------------------------------------------------------------- */

/* Turn whatever recvfrom gave us into the address the client should see:
 * on a dual-stack socket an IPv4 client shows up as ::ffff:a.b.c.d, but its
 * NAT mapping is an IPv4 address, so that is what XOR-MAPPED-ADDRESS (and the
 * rate limiter key) must carry. Port 0 cannot be a real client: drop it. */
static gboolean p2plink_stun_normalize_source(const struct sockaddr *src, socklen_t srclen,
		struct sockaddr_storage *ss, socklen_t *sslen) {
	if(src == NULL || srclen < (socklen_t)sizeof(sa_family_t))
		return FALSE;
	memset(ss, 0, sizeof(*ss));
	if(src->sa_family == AF_INET) {
		if(srclen < (socklen_t)sizeof(struct sockaddr_in))
			return FALSE;
		memcpy(ss, src, sizeof(struct sockaddr_in));
		*sslen = sizeof(struct sockaddr_in);
		return ((struct sockaddr_in *)ss)->sin_port != 0;
	}
	if(src->sa_family == AF_INET6) {
		struct sockaddr_in6 a6;
		if(srclen < (socklen_t)sizeof(struct sockaddr_in6))
			return FALSE;
		memcpy(&a6, src, sizeof(a6));
		if(a6.sin6_port == 0)
			return FALSE;
		if(IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr)) {
			struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
			a4->sin_family = AF_INET;
			a4->sin_port = a6.sin6_port;
			memcpy(&a4->sin_addr, &a6.sin6_addr.s6_addr[12], 4);
			*sslen = sizeof(struct sockaddr_in);
			return TRUE;
		}
		memcpy(ss, &a6, sizeof(a6));
		*sslen = sizeof(struct sockaddr_in6);
		return TRUE;
	}
	return FALSE;
}


/* ---------------------------------------------------------------------------
 * The pure handler
 * ------------------------------------------------------------------------- */

/* Attributes we "understand" in a Binding request, i.e. that do not trigger a
 * 420: everything RFC 5389/8489 itself defines for requests. We ignore their
 * content (no credentials here), which RFC 8489 section 9 allows for a server
 * that does not authenticate. Anything else in the comprehension-required
 * range (< 0x8000), e.g. CHANGE-REQUEST from an RFC 5780 client or ICE's
 * PRIORITY, gets 420 Unknown Attribute so the client knows we ignored it. */
static const uint16_t p2plink_stun_known_attributes[] = {
	STUN_ATTRIBUTE_MAPPED_ADDRESS,
	STUN_ATTRIBUTE_USERNAME,
	STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
	STUN_ATTRIBUTE_ERROR_CODE,
	STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES,
	STUN_ATTRIBUTE_REALM,
	STUN_ATTRIBUTE_NONCE,
	0x001C,	/* MESSAGE-INTEGRITY-SHA256 (RFC 8489), unknown to libnice 0.1.21 */
	0x001D,	/* PASSWORD-ALGORITHM (RFC 8489) */
	0x001E,	/* USERHASH (RFC 8489) */
	STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
	0
};

/* Two libnice agents per thread. libnice's StunAgent is ~11 KB (it keeps 200
 * saved transaction ids for clients) and stun_agent_validate() may write to
 * it, so one shared agent would race and one per call would cost a 200-entry
 * init loop per packet. A per-thread pair is both thread-safe and cheap. */
typedef struct p2plink_stun_agents {
	/* parser: RFC 5389 framing + magic cookie, credentials ignored, FINGERPRINT
	 * optional (browsers do not send it in Binding requests to a STUN server) */
	StunAgent parser;
	/* builder: adds SOFTWARE and FINGERPRINT to what we send, and checks
	 * FINGERPRINT on requests that carry one */
	StunAgent builder;
	/* errors: FINGERPRINT but no SOFTWARE. An error goes to whoever the
	 * source address claims to be, so it must stay small (see
	 * P2PLINK_STUN_MAX_ERROR_FACTOR): 12 bytes of SOFTWARE are a third of
	 * the answer to a 20-byte request */
	StunAgent errors;
} p2plink_stun_agents;

static void p2plink_stun_agents_free(gpointer data) {
	g_free(data);
}

static GPrivate p2plink_stun_thread_agents = G_PRIVATE_INIT(p2plink_stun_agents_free);

static p2plink_stun_agents *p2plink_stun_get_agents(void) {
	p2plink_stun_agents *agents = g_private_get(&p2plink_stun_thread_agents);
	if(agents == NULL) {
		agents = g_malloc0(sizeof(*agents));
		stun_agent_init(&agents->parser, p2plink_stun_known_attributes,
			STUN_COMPATIBILITY_RFC5389, STUN_AGENT_USAGE_IGNORE_CREDENTIALS);
		stun_agent_init(&agents->builder, p2plink_stun_known_attributes,
			STUN_COMPATIBILITY_RFC5389,
			STUN_AGENT_USAGE_IGNORE_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
		stun_agent_set_software(&agents->builder, P2PLINK_STUN_SOFTWARE);
		stun_agent_init(&agents->errors, p2plink_stun_known_attributes,
			STUN_COMPATIBILITY_RFC5389,
			STUN_AGENT_USAGE_IGNORE_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
		g_private_set(&p2plink_stun_thread_agents, agents);
	}
	return agents;
}

/* An error response with our own reason phrase, no SOFTWARE, and no larger
 * than max_len: the phrase is left out when it would not fit, and 0 is
 * returned when even that is too large. libnice's stun_agent_init_error()
 * always writes its canned phrase ("Bad request"), which would tell a TURN
 * client nothing; so this is stun_agent_init_error() with the ERROR-CODE
 * value (RFC 8489 section 14.8) assembled here. */
static size_t p2plink_stun_build_error(StunAgent *errors, const StunMessage *request,
		uint8_t *out, size_t cap, int code, const char *reason, size_t max_len) {
	StunMessage response;
	StunTransactionId id;
	uint8_t value[4 + 128];
	size_t reason_len = strlen(reason);
	if(reason_len > sizeof(value) - 4)
		reason_len = sizeof(value) - 4;
	for(int attempt = 0; attempt < 2; attempt++) {
		memset(&response, 0, sizeof(response));
		response.buffer = out;
		response.buffer_len = cap;
		response.agent = errors;
		stun_message_id(request, id);
		if(!stun_message_init(&response, STUN_ERROR, stun_message_get_method(request), id))
			return 0;
		value[0] = 0;
		value[1] = 0;
		value[2] = code / 100;
		value[3] = code % 100;
		memcpy(value + 4, reason, reason_len);
		if(stun_message_append_bytes(&response, STUN_ATTRIBUTE_ERROR_CODE, value, 4 + reason_len) != STUN_MESSAGE_RETURN_SUCCESS)
			return 0;
		size_t written = stun_agent_finish_message(errors, &response, NULL, 0);
		if(written != 0 && written <= max_len)
			return written;
		/* Too large (or did not fit): once more without the phrase */
		reason_len = 0;
	}
	return 0;
}

static size_t p2plink_stun_build_binding_success(StunAgent *builder, const StunMessage *request,
		uint8_t *out, size_t cap, const struct sockaddr_storage *mapped, socklen_t mappedlen) {
	StunMessage response;
	if(!stun_agent_init_response(builder, &response, out, cap, request))
		return 0;
	if(stun_message_append_xor_addr(&response, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, mapped, mappedlen) != STUN_MESSAGE_RETURN_SUCCESS)
		return 0;
	return stun_agent_finish_message(builder, &response, NULL, 0);
}

p2plink_stun_verdict p2plink_stun_handle(const uint8_t *pkt, size_t len,
		const struct sockaddr *src, socklen_t srclen, uint8_t *out, size_t *outlen) {
	struct sockaddr_storage mapped;
	socklen_t mappedlen = 0;
	StunMessage request;
	StunValidationStatus status;
	p2plink_stun_agents *agents;
	size_t cap, written;
	gboolean unknown_attributes = FALSE;

	if(outlen == NULL)
		return P2PLINK_STUN_DROP_INTERNAL;
	/* libnice 0.1.21 (and upstream master) checks an attribute against the
	 * buffer length without its padding, then writes up to 3 padding bytes
	 * past it (stun_message_append). Attributes always start 4-aligned, so a
	 * capacity rounded down to a multiple of 4 keeps the padding inside. */
	cap = *outlen & ~(size_t)3;
	*outlen = 0;
	if(out == NULL)
		return P2PLINK_STUN_DROP_INTERNAL;
	if(pkt == NULL || len == 0)
		return P2PLINK_STUN_DROP_NOT_STUN;
	/* Checked before parsing: big datagrams are the cheapest way to make a
	 * responder burn CPU, and no honest Binding request comes close */
	if(len > P2PLINK_STUN_MAX_PACKET)
		return P2PLINK_STUN_DROP_OVERSIZED;
	if(!p2plink_stun_normalize_source(src, srclen, &mapped, &mappedlen))
		return P2PLINK_STUN_DROP_BAD_SOURCE;

	agents = p2plink_stun_get_agents();
	memset(&request, 0, sizeof(request));
	status = stun_agent_validate(&agents->parser, &request, pkt, len, NULL, NULL);
	switch(status) {
		case STUN_VALIDATION_SUCCESS:
			break;
		case STUN_VALIDATION_UNKNOWN_REQUEST_ATTRIBUTE:
		case STUN_VALIDATION_UNKNOWN_ATTRIBUTE:
			/* Message is valid; what to answer depends on class and method */
			unknown_attributes = TRUE;
			break;
		case STUN_VALIDATION_NOT_STUN:
			return P2PLINK_STUN_DROP_NOT_STUN;
		case STUN_VALIDATION_INCOMPLETE_STUN:
			return P2PLINK_STUN_DROP_TRUNCATED;
		case STUN_VALIDATION_UNMATCHED_RESPONSE:
			/* A response or error response: we never send requests */
			return P2PLINK_STUN_DROP_NOT_REQUEST;
		case STUN_VALIDATION_BAD_REQUEST:
			/* With the parser's flags the only BAD_REQUEST cause is the
			 * missing cookie; RFC 3489 clients have no XOR-MAPPED-ADDRESS */
			if(request.buffer != NULL && !stun_message_has_cookie(&request))
				return P2PLINK_STUN_DROP_BAD_COOKIE;
			return P2PLINK_STUN_DROP_NOT_STUN;
		default:
			/* UNAUTHORIZED*, FORBIDDEN: cannot happen with credentials
			 * ignored, but never answer something we did not expect */
			return P2PLINK_STUN_DROP_NOT_STUN;
	}
	/* Indications never get an answer, by definition; and answering
	 * responses would let two responders ping-pong forever */
	if(stun_message_get_class(&request) != STUN_REQUEST)
		return P2PLINK_STUN_DROP_NOT_REQUEST;
	/* FINGERPRINT is optional in a request; if present it must be right,
	 * otherwise this is some other protocol that happens to look like STUN */
	if(stun_message_has_attribute(&request, STUN_ATTRIBUTE_FINGERPRINT)) {
		StunMessage checked;
		StunValidationStatus fp = stun_agent_validate(&agents->builder, &checked, pkt, len, NULL, NULL);
		if(fp != STUN_VALIDATION_SUCCESS && fp != STUN_VALIDATION_UNKNOWN_REQUEST_ATTRIBUTE)
			return P2PLINK_STUN_DROP_BAD_FINGERPRINT;
	}

	if(stun_message_get_method(&request) != STUN_BINDING) {
		/* Allocate, Refresh, Send, CreatePermission, ChannelBind and every
		 * unknown method. STUN has no "method not supported" code; 400 Bad
		 * Request means "do not retry this unchanged", which is the truth,
		 * and the reason phrase says why. Checked before unknown attributes
		 * so a TURN client reads "no TURN here", not a 420 about
		 * REQUESTED-TRANSPORT. */
		written = p2plink_stun_build_error(&agents->errors, &request, out, cap,
			STUN_ERROR_BAD_REQUEST, P2PLINK_STUN_REASON_BINDING_ONLY, P2PLINK_STUN_MAX_ERROR_FACTOR * len);
		if(written == 0)
			return P2PLINK_STUN_DROP_AMPLIFICATION;
		*outlen = written;
		return P2PLINK_STUN_REPLY_ERROR;
	}
	if(unknown_attributes) {
		StunMessage response;
		/* libnice's own 420 (it lists the unknown attributes for us), sent
		 * only when it stays within the amplification bound */
		written = stun_agent_build_unknown_attributes_error(&agents->errors, &response, out, cap, &request);
		if(written == 0)
			return P2PLINK_STUN_DROP_INTERNAL;
		if(written > P2PLINK_STUN_MAX_ERROR_FACTOR * len)
			return P2PLINK_STUN_DROP_AMPLIFICATION;
		*outlen = written;
		return P2PLINK_STUN_REPLY_ERROR;
	}
	written = p2plink_stun_build_binding_success(&agents->builder, &request, out, cap, &mapped, mappedlen);
	if(written == 0)
		return P2PLINK_STUN_DROP_INTERNAL;
	*outlen = written;
	return P2PLINK_STUN_REPLY_BINDING;
}


/* ---------------------------------------------------------------------------
 * Rate limiter
 * ------------------------------------------------------------------------- */

/* Defaults. A Binding response is ~3x the size of the request, so an
 * unlimited responder is a (small) amplifier for spoofed traffic. Legitimate
 * load per address is low but bursty: a browser sends one request per local
 * interface per STUN URL while gathering (plus retransmits), then a keepalive
 * about every 10 s during a call; a carrier-grade NAT can put hundreds of
 * users behind one IPv4 address. 100/s with a burst of 200 serves that and
 * caps what a victim address can receive at ~6 KB/s. The global cap bounds
 * reflection from spoofed, ever-changing sources (which each start with a full
 * bucket) to ~2 MB/s. 16384 tracked sources cost about 2 MB (an entry of the
 * shared table is ~120 bytes with its key and hash slot). */
void p2plink_stun_config_defaults(p2plink_stun_config *config) {
	if(config == NULL)
		return;
	config->rate_per_sec = 100;
	config->burst = 200;
	config->max_sources = 16384;
	config->global_rate_per_sec = 20000;
	config->global_burst = 40000;
}

/* The per-source table and the global cap are the shared limiter (common/ratelimit.c): one token-bucket table for
 * every limit of both modules, keyed by client network (IPv4 per address, IPv6 per /64: one subscriber usually
 * holds a whole /64, so per-address buckets would be trivially sidestepped), bounded with O(1) LRU eviction and a
 * seeded hash (sources can be spoofed, so an attacker chooses the keys). */
struct p2plink_stun_limiter {
	p2plink_rate_table *table;
};

p2plink_stun_limiter *p2plink_stun_limiter_new(const p2plink_stun_config *config) {
	p2plink_stun_config c;
	if(config != NULL)
		c = *config;
	else
		p2plink_stun_config_defaults(&c);
	/* A bucket shallower than one token would refuse everything */
	p2plink_rate rate = { c.rate_per_sec, MAX(c.burst, 1) };
	p2plink_rate total = { c.global_rate_per_sec, MAX(c.global_burst, 1) };
	p2plink_stun_limiter *limiter = g_malloc0(sizeof(*limiter));
	limiter->table = p2plink_rate_table_new(&rate, MAX(c.max_sources, 1));
	p2plink_rate_table_set_total(limiter->table, &total);
	return limiter;
}

void p2plink_stun_limiter_free(p2plink_stun_limiter *limiter) {
	if(limiter == NULL)
		return;
	p2plink_rate_table_free(limiter->table);
	g_free(limiter);
}

guint p2plink_stun_limiter_size(const p2plink_stun_limiter *limiter) {
	p2plink_rate_table_stats stats = { 0 };
	if(limiter != NULL)
		p2plink_rate_table_get_stats(limiter->table, &stats);
	return stats.keys;
}

guint64 p2plink_stun_limiter_evictions(const p2plink_stun_limiter *limiter) {
	p2plink_rate_table_stats stats = { 0 };
	if(limiter != NULL)
		p2plink_rate_table_get_stats(limiter->table, &stats);
	return stats.evictions;
}

p2plink_stun_verdict p2plink_stun_limiter_take(p2plink_stun_limiter *limiter,
		const struct sockaddr *src, socklen_t srclen, gint64 now_us) {
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	if(limiter == NULL)
		return P2PLINK_STUN_REPLY_BINDING;
	/* Port 0 or another family is no client; a dual-stack socket's ::ffff:a.b.c.d counts as the IPv4 address */
	if(!p2plink_stun_normalize_source(src, srclen, &ss, &sslen))
		return P2PLINK_STUN_DROP_BAD_SOURCE;
	switch(p2plink_rate_table_check_addr(limiter->table, (const struct sockaddr *)&ss, sslen, now_us)) {
		case P2PLINK_RATE_KEY_LIMITED:
			return P2PLINK_STUN_DROP_RATE_LIMITED;
		case P2PLINK_RATE_TOTAL_LIMITED:
			return P2PLINK_STUN_DROP_GLOBAL_LIMITED;
		default:
			return P2PLINK_STUN_REPLY_BINDING;
	}
}


/* ---------------------------------------------------------------------------
 * UDP server
 * ------------------------------------------------------------------------- */

G_DEFINE_QUARK(p2plink-stun-error-quark, p2plink_stun_error)

/* recvmmsg/sendmmsg batch, and batches per on_readable call: 8 x 32 datagrams
 * (~50 us of work) before we hand the caller's loop back its thread */
#define P2PLINK_STUN_BATCH			32
#define P2PLINK_STUN_BATCHES_PER_CALL	8
#define P2PLINK_STUN_REPLY_CAP		640	/* >= P2PLINK_STUN_MAX_REPLY; a 420 listing 256 attributes needs 584 */
#define P2PLINK_STUN_CONTROL_LEN	(CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo)))

G_STATIC_ASSERT(P2PLINK_STUN_REPLY_CAP >= P2PLINK_STUN_MAX_REPLY);

struct p2plink_stun_server {
	int fd;
	int port;
	int family;					/* of the socket: AF_INET6 (maybe dual-stack) or AF_INET */
	p2plink_stun_limiter *limiter;
	GMutex lock;				/* serializes on_readable: the buffers below (the limiter has its own lock) */
	GThread *thread;
	int wake_fd;				/* eventfd that tells the thread to stop */
	gint stopping;
	p2plink_stun_counters counters;	/* updated with relaxed atomics */
	p2plink_stun_observer observer;
	gpointer observer_data;
	/* Receive batch. One byte more than the max so oversized is detectable. */
	struct mmsghdr in_msgs[P2PLINK_STUN_BATCH];
	struct iovec in_iov[P2PLINK_STUN_BATCH];
	struct sockaddr_storage in_addr[P2PLINK_STUN_BATCH];
	union {
		char buf[P2PLINK_STUN_CONTROL_LEN];
		size_t align;		/* struct cmsghdr alignment (cmsg_len is a size_t) */
	} in_control[P2PLINK_STUN_BATCH];
	uint8_t in_buf[P2PLINK_STUN_BATCH][P2PLINK_STUN_MAX_PACKET + 1];
	/* Reply batch */
	struct mmsghdr out_msgs[P2PLINK_STUN_BATCH];
	struct iovec out_iov[P2PLINK_STUN_BATCH];
	union {
		char buf[P2PLINK_STUN_CONTROL_LEN];
		size_t align;		/* struct cmsghdr alignment (cmsg_len is a size_t) */
	} out_control[P2PLINK_STUN_BATCH];
	uint8_t out_buf[P2PLINK_STUN_BATCH][P2PLINK_STUN_REPLY_CAP];
};

#define P2PLINK_STUN_COUNT(s, field, n)	__atomic_fetch_add(&(s)->counters.field, (n), __ATOMIC_RELAXED)

static gboolean p2plink_stun_set_error(GError **error, int code, const char *what, int err) {
	g_set_error(error, P2PLINK_STUN_ERROR, code, "STUN responder: %s: %s", what, g_strerror(err));
	return FALSE;
}

/* Ask the kernel for the destination address of each request, so the reply
 * leaves from the address the client wrote to. Without this, on a host with
 * several addresses a wildcard socket may answer from another one, and
 * browsers (libwebrtc checks the response's source against the server
 * address) would silently ignore the answer. */
static void p2plink_stun_enable_pktinfo(int fd, int family) {
	int on = 1;
	if(family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on));
	/* Also on a dual-stack IPv6 socket: IPv4 clients arrive with IP_PKTINFO */
	(void)setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
}

static int p2plink_stun_open_socket(int family, gboolean v6only, const struct sockaddr *addr, socklen_t addrlen, int *err) {
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if(fd < 0) {
		*err = errno;
		return -1;
	}
	if(family == AF_INET6) {
		int v = v6only ? 1 : 0;
		if(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)) < 0) {
			*err = errno;
			close(fd);
			return -1;
		}
	}
	if(bind(fd, addr, addrlen) < 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	p2plink_stun_enable_pktinfo(fd, family);
	return fd;
}

p2plink_stun_server *p2plink_stun_server_new(const char *bind_addr, int port,
		const p2plink_stun_config *config, GError **error) {
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd = -1, family, err = 0;
	p2plink_stun_server *server;

	if(port < 0 || port > 65535) {
		g_set_error(error, P2PLINK_STUN_ERROR, P2PLINK_STUN_ERROR_BAD_ADDRESS,
			"STUN responder: port %d is not between 0 and 65535", port);
		return NULL;
	}
	memset(&ss, 0, sizeof(ss));
	if(bind_addr == NULL || *bind_addr == '\0' || !strcmp(bind_addr, "::")) {
		/* Wildcard: one dual-stack socket serves IPv4 and IPv6 clients, so
		 * the transport has one fd to watch. Hosts without IPv6 get 0.0.0.0. */
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_addr = in6addr_any;
		a6->sin6_port = htons(port);
		family = AF_INET6;
		fd = p2plink_stun_open_socket(AF_INET6, FALSE, (struct sockaddr *)&ss, sizeof(*a6), &err);
		if(fd < 0 && (err == EAFNOSUPPORT || err == EADDRNOTAVAIL)) {
			struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
			memset(&ss, 0, sizeof(ss));
			a4->sin_family = AF_INET;
			a4->sin_addr.s_addr = htonl(INADDR_ANY);
			a4->sin_port = htons(port);
			family = AF_INET;
			fd = p2plink_stun_open_socket(AF_INET, FALSE, (struct sockaddr *)&ss, sizeof(*a4), &err);
		}
	} else {
		struct addrinfo hints, *res = NULL;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_DGRAM;
		hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
		/* Numeric only: resolving a name here would block the caller and
		 * bind whatever DNS says today */
		if(getaddrinfo(bind_addr, NULL, &hints, &res) != 0 || res == NULL) {
			g_set_error(error, P2PLINK_STUN_ERROR, P2PLINK_STUN_ERROR_BAD_ADDRESS,
				"STUN responder: bind address '%s' is not a numeric IPv4 or IPv6 address", bind_addr);
			return NULL;
		}
		family = res->ai_family;
		sslen = res->ai_addrlen;
		memcpy(&ss, res->ai_addr, MIN((size_t)sslen, sizeof(ss)));
		freeaddrinfo(res);
		if(family == AF_INET6)
			((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
		else
			((struct sockaddr_in *)&ss)->sin_port = htons(port);
		fd = p2plink_stun_open_socket(family, TRUE, (struct sockaddr *)&ss, sslen, &err);
	}
	if(fd < 0) {
		p2plink_stun_set_error(error, P2PLINK_STUN_ERROR_SOCKET, "cannot open UDP socket", err);
		return NULL;
	}

	server = g_malloc0(sizeof(*server));
	server->fd = fd;
	server->family = family;
	server->wake_fd = -1;
	server->limiter = p2plink_stun_limiter_new(config);
	g_mutex_init(&server->lock);
	sslen = sizeof(ss);
	if(getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
		server->port = ntohs(ss.ss_family == AF_INET6 ?
			((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
	return server;
}

void p2plink_stun_server_free(p2plink_stun_server *server) {
	if(server == NULL)
		return;
	p2plink_stun_server_stop_thread(server);
	if(server->fd >= 0)
		close(server->fd);
	p2plink_stun_limiter_free(server->limiter);
	g_mutex_clear(&server->lock);
	g_free(server);
}

int p2plink_stun_server_fd(const p2plink_stun_server *server) {
	return server ? server->fd : -1;
}

int p2plink_stun_server_port(const p2plink_stun_server *server) {
	return server ? server->port : 0;
}

/* Build the control message of reply i from the request's PKTINFO: same local
 * address (and, for IPv6, interface, which link-local addresses need). */
static void p2plink_stun_reply_control(struct msghdr *request, char *control, struct msghdr *reply) {
	struct cmsghdr *in, *out;
	reply->msg_control = NULL;
	reply->msg_controllen = 0;
	for(in = CMSG_FIRSTHDR(request); in != NULL; in = CMSG_NXTHDR(request, in)) {
		if(in->cmsg_level == IPPROTO_IPV6 && in->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo info;
			memcpy(&info, CMSG_DATA(in), sizeof(info));
			reply->msg_control = control;
			reply->msg_controllen = CMSG_SPACE(sizeof(info));
			out = CMSG_FIRSTHDR(reply);
			out->cmsg_level = IPPROTO_IPV6;
			out->cmsg_type = IPV6_PKTINFO;
			out->cmsg_len = CMSG_LEN(sizeof(info));
			memcpy(CMSG_DATA(out), &info, sizeof(info));
			return;
		}
		if(in->cmsg_level == IPPROTO_IP && in->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo info;
			memcpy(&info, CMSG_DATA(in), sizeof(info));
			/* ipi_spec_dst is the local address the packet was accepted on;
			 * let routing pick the interface */
			info.ipi_ifindex = 0;
			info.ipi_addr.s_addr = 0;
			reply->msg_control = control;
			reply->msg_controllen = CMSG_SPACE(sizeof(info));
			out = CMSG_FIRSTHDR(reply);
			out->cmsg_level = IPPROTO_IP;
			out->cmsg_type = IP_PKTINFO;
			out->cmsg_len = CMSG_LEN(sizeof(info));
			memcpy(CMSG_DATA(out), &info, sizeof(info));
			return;
		}
	}
}

/* Send the queued replies; never blocks. A full socket buffer loses the rest
 * of the batch (the client retransmits), counted as send_errors. */
static void p2plink_stun_flush(p2plink_stun_server *server, unsigned int count) {
	unsigned int done = 0;
	while(done < count) {
		int sent = sendmmsg(server->fd, &server->out_msgs[done], count - done, MSG_DONTWAIT);
		if(sent < 0) {
			if(errno == EINTR)
				continue;
			if(errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
				P2PLINK_STUN_COUNT(server, send_errors, count - done);
				return;
			}
			/* This one datagram cannot go (e.g. unreachable): skip it */
			P2PLINK_STUN_COUNT(server, send_errors, 1);
			done++;
			continue;
		}
		P2PLINK_STUN_COUNT(server, replies, sent);
		done += sent;
	}
}

/* One recvmmsg batch. Returns the number of datagrams read, 0 when the
 * socket is drained. */
static int p2plink_stun_serve_batch(p2plink_stun_server *server, gint64 now_us) {
	int i, n;
	unsigned int replies = 0;
	for(i = 0; i < P2PLINK_STUN_BATCH; i++) {
		struct msghdr *h = &server->in_msgs[i].msg_hdr;
		server->in_iov[i].iov_base = server->in_buf[i];
		server->in_iov[i].iov_len = sizeof(server->in_buf[i]);
		h->msg_name = &server->in_addr[i];
		h->msg_namelen = sizeof(server->in_addr[i]);
		h->msg_iov = &server->in_iov[i];
		h->msg_iovlen = 1;
		h->msg_control = server->in_control[i].buf;
		h->msg_controllen = sizeof(server->in_control[i].buf);
		h->msg_flags = 0;
		server->in_msgs[i].msg_len = 0;
	}
	do {
		n = recvmmsg(server->fd, server->in_msgs, P2PLINK_STUN_BATCH, MSG_DONTWAIT, NULL);
	} while(n < 0 && errno == EINTR);
	if(n <= 0)
		return 0;
	P2PLINK_STUN_COUNT(server, received, n);
	for(i = 0; i < n; i++) {
		struct msghdr *h = &server->in_msgs[i].msg_hdr;
		const struct sockaddr *src = (const struct sockaddr *)&server->in_addr[i];
		size_t len = server->in_msgs[i].msg_len, outlen = P2PLINK_STUN_REPLY_CAP;
		p2plink_stun_verdict v;
		if(h->msg_flags & MSG_TRUNC)
			len = P2PLINK_STUN_MAX_PACKET + 1;
		v = p2plink_stun_handle(server->in_buf[i], len, src, h->msg_namelen,
			server->out_buf[replies], &outlen);
		/* Only what we would answer takes a token: garbage from spoofed
		 * sources does not fill the limiter table, and a reply is what
		 * a reflection attack needs from us */
		if(P2PLINK_STUN_VERDICT_IS_REPLY(v)) {
			p2plink_stun_verdict limit = p2plink_stun_limiter_take(server->limiter, src, h->msg_namelen, now_us);
			if(limit != P2PLINK_STUN_REPLY_BINDING)
				v = limit;
		}
		P2PLINK_STUN_COUNT(server, verdicts[v], 1);
		if(server->observer != NULL)
			server->observer(src, h->msg_namelen, v, server->observer_data);
		if(P2PLINK_STUN_VERDICT_IS_REPLY(v)) {
			struct msghdr *r = &server->out_msgs[replies].msg_hdr;
			server->out_iov[replies].iov_base = server->out_buf[replies];
			server->out_iov[replies].iov_len = outlen;
			r->msg_name = &server->in_addr[i];
			r->msg_namelen = h->msg_namelen;
			r->msg_iov = &server->out_iov[replies];
			r->msg_iovlen = 1;
			r->msg_flags = 0;
			p2plink_stun_reply_control(h, server->out_control[replies].buf, r);
			replies++;
		}
	}
	if(replies > 0)
		p2plink_stun_flush(server, replies);
	return n;
}

guint p2plink_stun_server_on_readable(p2plink_stun_server *server) {
	guint total = 0;
	int b, n;
	gint64 now_us;
	if(server == NULL || server->fd < 0)
		return 0;
	g_mutex_lock(&server->lock);
	now_us = g_get_monotonic_time();
	for(b = 0; b < P2PLINK_STUN_BATCHES_PER_CALL; b++) {
		n = p2plink_stun_serve_batch(server, now_us);
		total += n;
		if(n < P2PLINK_STUN_BATCH)
			break;
	}
	__atomic_store_n(&server->counters.evictions, p2plink_stun_limiter_evictions(server->limiter), __ATOMIC_RELAXED);
	g_mutex_unlock(&server->lock);
	return total;
}

static gpointer p2plink_stun_thread(gpointer data) {
	p2plink_stun_server *server = data;
	struct pollfd fds[2];
	while(!g_atomic_int_get(&server->stopping)) {
		fds[0].fd = server->fd;
		fds[0].events = POLLIN;
		fds[0].revents = 0;
		fds[1].fd = server->wake_fd;
		fds[1].events = POLLIN;
		fds[1].revents = 0;
		if(poll(fds, 2, -1) < 0) {
			if(errno == EINTR)
				continue;
			break;
		}
		if(fds[1].revents)
			break;
		if(fds[0].revents & POLLIN)
			p2plink_stun_server_on_readable(server);
	}
	return NULL;
}

gboolean p2plink_stun_server_start_thread(p2plink_stun_server *server, GError **error) {
	if(server == NULL || server->thread != NULL) {
		g_set_error(error, P2PLINK_STUN_ERROR, P2PLINK_STUN_ERROR_THREAD,
			"STUN responder: thread already running");
		return FALSE;
	}
	server->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if(server->wake_fd < 0)
		return p2plink_stun_set_error(error, P2PLINK_STUN_ERROR_THREAD, "eventfd", errno);
	g_atomic_int_set(&server->stopping, 0);
	server->thread = g_thread_try_new("p2plink-stun", p2plink_stun_thread, server, error);
	if(server->thread == NULL) {
		close(server->wake_fd);
		server->wake_fd = -1;
		return FALSE;
	}
	return TRUE;
}

void p2plink_stun_server_stop_thread(p2plink_stun_server *server) {
	uint64_t one = 1;
	if(server == NULL || server->thread == NULL)
		return;
	g_atomic_int_set(&server->stopping, 1);
	if(write(server->wake_fd, &one, sizeof(one)) < 0) {
		/* Cannot fail for an eventfd below its max; the flag still stops
		 * the thread at its next wakeup */
	}
	g_thread_join(server->thread);
	server->thread = NULL;
	close(server->wake_fd);
	server->wake_fd = -1;
}

void p2plink_stun_server_set_observer(p2plink_stun_server *server,
		p2plink_stun_observer observer, gpointer user_data) {
	if(server == NULL)
		return;
	g_mutex_lock(&server->lock);
	server->observer = observer;
	server->observer_data = user_data;
	g_mutex_unlock(&server->lock);
}

void p2plink_stun_server_get_counters(p2plink_stun_server *server, p2plink_stun_counters *counters) {
	int i;
	if(counters == NULL)
		return;
	memset(counters, 0, sizeof(*counters));
	if(server == NULL)
		return;
	counters->received = __atomic_load_n(&server->counters.received, __ATOMIC_RELAXED);
	counters->replies = __atomic_load_n(&server->counters.replies, __ATOMIC_RELAXED);
	counters->send_errors = __atomic_load_n(&server->counters.send_errors, __ATOMIC_RELAXED);
	counters->evictions = __atomic_load_n(&server->counters.evictions, __ATOMIC_RELAXED);
	for(i = 0; i < P2PLINK_STUN_VERDICT_COUNT; i++)
		counters->verdicts[i] = __atomic_load_n(&server->counters.verdicts[i], __ATOMIC_RELAXED);
}
