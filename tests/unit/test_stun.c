/*! \file    test_stun.c
 * \brief   Unit tests of the STUN Binding responder (transports/stun_responder.c)
 * \details For: the pure handler (requests built and responses checked with
 * libnice's STUN client API, the way a real client would), the rate limiter
 * with an injected clock, and the UDP server over loopback sockets.
 * Not for: third-party clients (tests/integration/stun_client.test.mjs) or
 * random input (tests/fuzz/fuzz_stun.c).
 *
 * Run: test_stun --tap
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <stun/stunagent.h>
#include <stun/stunmessage.h>

#include "../../transports/stun_responder.h"

/* What a client needs to understand in our answers */
static const uint16_t client_known_attributes[] = {
	STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
	STUN_ATTRIBUTE_MAPPED_ADDRESS,
	STUN_ATTRIBUTE_ERROR_CODE,
	STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES,
	0
};

/* ---- helpers ------------------------------------------------------------ */

/* PADDING (RFC 5780), comprehension-optional: a harmless way to grow a request */
#define ATTR_PADDING	0x8026
/* TURN Send (RFC 8656); libnice's STUN_SEND is the draft value 0x004 (= Refresh) */
#define METHOD_TURN_SEND	((StunMethod)0x006)

typedef struct stun_client {
	StunAgent agent;
	StunMessage request;
	uint8_t buf[P2PLINK_STUN_MAX_PACKET + 64];
	size_t len;
} stun_client;

/* A browser-like client: RFC 5389, no credentials, FINGERPRINT optional */
static stun_client *client_new(gboolean fingerprint) {
	stun_client *c = g_malloc0(sizeof(*c));
	stun_agent_init(&c->agent, client_known_attributes, STUN_COMPATIBILITY_RFC5389,
		STUN_AGENT_USAGE_IGNORE_CREDENTIALS | (fingerprint ? STUN_AGENT_USAGE_USE_FINGERPRINT : 0));
	return c;
}

static void client_begin(stun_client *c, StunMethod method) {
	g_assert_true(stun_agent_init_request(&c->agent, &c->request, c->buf, sizeof(c->buf), method));
}

static void client_finish(stun_client *c) {
	c->len = stun_agent_finish_message(&c->agent, &c->request, NULL, 0);
	g_assert_cmpuint(c->len, >=, 20);
}

static stun_client *client_binding(gboolean fingerprint) {
	stun_client *c = client_new(fingerprint);
	client_begin(c, STUN_BINDING);
	client_finish(c);
	return c;
}

static socklen_t addr_v4(struct sockaddr_storage *ss, const char *ip, int port) {
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof(*ss));
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	g_assert_cmpint(inet_pton(AF_INET, ip, &a->sin_addr), ==, 1);
	return sizeof(*a);
}

static socklen_t addr_v6(struct sockaddr_storage *ss, const char *ip, int port) {
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof(*ss));
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	g_assert_cmpint(inet_pton(AF_INET6, ip, &a->sin6_addr), ==, 1);
	return sizeof(*a);
}

typedef struct handled {
	p2plink_stun_verdict verdict;
	uint8_t out[P2PLINK_STUN_MAX_REPLY];
	size_t outlen;
} handled;

static void handle(handled *h, const uint8_t *pkt, size_t len, const struct sockaddr_storage *src, socklen_t srclen) {
	h->outlen = sizeof(h->out);
	h->verdict = p2plink_stun_handle(pkt, len, (const struct sockaddr *)src, srclen, h->out, &h->outlen);
	if(!P2PLINK_STUN_VERDICT_IS_REPLY(h->verdict))
		g_assert_cmpuint(h->outlen, ==, 0);
}

/* Validate a reply the way the client that sent the request would: libnice
 * matches the transaction id against the ones it sent (and, for a client
 * with USE_FINGERPRINT, checks FINGERPRINT) */
static void client_accepts(stun_client *c, handled *h, StunMessage *response) {
	StunValidationStatus st = stun_agent_validate(&c->agent, response, h->out, h->outlen, NULL, NULL);
	g_assert_cmpint(st, ==, STUN_VALIDATION_SUCCESS);
}

static void assert_same_transaction(stun_client *c, StunMessage *response) {
	StunTransactionId a, b;
	stun_message_id(&c->request, a);
	stun_message_id(response, b);
	g_assert_cmpmem(a, sizeof(a), b, sizeof(b));
}

static void assert_fingerprint_valid(handled *h) {
	/* An agent that insists on FINGERPRINT but never sent this transaction:
	 * a bad FINGERPRINT is reported as BAD_REQUEST before the transaction
	 * check, so UNMATCHED_RESPONSE proves the FINGERPRINT is right */
	StunAgent checker;
	StunMessage m;
	stun_agent_init(&checker, client_known_attributes, STUN_COMPATIBILITY_RFC5389,
		STUN_AGENT_USAGE_IGNORE_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
	g_assert_cmpint(stun_agent_validate(&checker, &m, h->out, h->outlen, NULL, NULL), ==, STUN_VALIDATION_UNMATCHED_RESPONSE);
	g_assert_true(stun_message_has_attribute(&m, STUN_ATTRIBUTE_FINGERPRINT));
}

static void assert_software(StunMessage *response) {
	char software[64];
	g_assert_cmpint(stun_message_find_string(response, STUN_ATTRIBUTE_SOFTWARE, software, sizeof(software)),
		==, STUN_MESSAGE_RETURN_SUCCESS);
	g_assert_cmpstr(software, ==, P2PLINK_STUN_SOFTWARE);
}

static void assert_mapped_equals(StunMessage *response, const struct sockaddr_storage *expected, socklen_t expectedlen) {
	struct sockaddr_storage got;
	socklen_t gotlen = sizeof(got);
	memset(&got, 0, sizeof(got));
	g_assert_cmpint(stun_message_find_xor_addr(response, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, &got, &gotlen),
		==, STUN_MESSAGE_RETURN_SUCCESS);
	g_assert_cmpint(got.ss_family, ==, expected->ss_family);
	g_assert_cmpint(gotlen, ==, expectedlen);
	if(expected->ss_family == AF_INET) {
		struct sockaddr_in *g = (struct sockaddr_in *)&got, *e = (struct sockaddr_in *)expected;
		g_assert_cmpint(g->sin_port, ==, e->sin_port);
		g_assert_cmpmem(&g->sin_addr, 4, &e->sin_addr, 4);
	} else {
		struct sockaddr_in6 *g = (struct sockaddr_in6 *)&got, *e = (struct sockaddr_in6 *)expected;
		g_assert_cmpint(g->sin6_port, ==, e->sin6_port);
		g_assert_cmpmem(&g->sin6_addr, 16, &e->sin6_addr, 16);
	}
}

static int error_code_of(StunMessage *response, char *reason, size_t reasonlen) {
	int code = -1;
	uint16_t alen = 0;
	const uint8_t *value;
	g_assert_cmpint(stun_message_find_error(response, &code), ==, STUN_MESSAGE_RETURN_SUCCESS);
	value = stun_message_find(response, STUN_ATTRIBUTE_ERROR_CODE, &alen);
	g_assert_nonnull(value);
	g_assert_cmpuint(alen, >=, 4);
	memset(reason, 0, reasonlen);
	memcpy(reason, value + 4, MIN((size_t)alen - 4, reasonlen - 1));
	return code;
}

/* ---- Binding success ---------------------------------------------------- */

static void test_binding_ipv4_maps_source(void) {
	stun_client *c = client_binding(FALSE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "203.0.113.7", 54321);
	StunMessage response;
	handled h;
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_REPLY_BINDING);
	client_accepts(c, &h, &response);
	g_assert_cmpint(stun_message_get_class(&response), ==, STUN_RESPONSE);
	g_assert_cmpint(stun_message_get_method(&response), ==, STUN_BINDING);
	assert_same_transaction(c, &response);
	assert_mapped_equals(&response, &src, srclen);
	assert_software(&response);
	assert_fingerprint_valid(&h);
	g_free(c);
}

static void test_binding_ipv6_maps_source(void) {
	stun_client *c = client_binding(FALSE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v6(&src, "2001:db8:1:2:3:4:5:6", 3479);
	StunMessage response;
	handled h;
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_REPLY_BINDING);
	client_accepts(c, &h, &response);
	assert_same_transaction(c, &response);
	assert_mapped_equals(&response, &src, srclen);
	assert_fingerprint_valid(&h);
	g_free(c);
}

static void test_binding_v4mapped_source_reports_ipv4(void) {
	stun_client *c = client_binding(FALSE);
	struct sockaddr_storage src, expected;
	socklen_t srclen = addr_v6(&src, "::ffff:198.51.100.20", 40000);
	socklen_t expectedlen = addr_v4(&expected, "198.51.100.20", 40000);
	StunMessage response;
	handled h;
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_REPLY_BINDING);
	client_accepts(c, &h, &response);
	assert_mapped_equals(&response, &expected, expectedlen);
	g_free(c);
}

static void test_binding_with_fingerprint_accepted_and_answered_with_fingerprint(void) {
	/* This client's agent rejects any answer without a valid FINGERPRINT */
	stun_client *c = client_binding(TRUE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.1", 1234);
	StunMessage response;
	handled h;
	g_assert_true(stun_message_has_attribute(&c->request, STUN_ATTRIBUTE_FINGERPRINT));
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_REPLY_BINDING);
	client_accepts(c, &h, &response);
	assert_same_transaction(c, &response);
	g_free(c);
}

static void test_binding_with_bad_fingerprint_dropped(void) {
	stun_client *c = client_binding(TRUE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.1", 1234);
	handled h;
	c->buf[c->len - 1] ^= 0x01;	/* last byte of the FINGERPRINT value */
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_BAD_FINGERPRINT);
	g_free(c);
}

static void test_binding_with_credentials_answered_without_auth(void) {
	/* USERNAME + MESSAGE-INTEGRITY from an ICE-minded client: we do no
	 * authentication, so we answer and add no MESSAGE-INTEGRITY */
	stun_client *c = client_new(FALSE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.2", 5000);
	StunMessage response;
	handled h;
	client_begin(c, STUN_BINDING);
	g_assert_cmpint(stun_message_append_string(&c->request, STUN_ATTRIBUTE_USERNAME, "alice:bob"), ==, STUN_MESSAGE_RETURN_SUCCESS);
	c->len = stun_agent_finish_message(&c->agent, &c->request, (const uint8_t *)"secret", 6);
	g_assert_true(stun_message_has_attribute(&c->request, STUN_ATTRIBUTE_MESSAGE_INTEGRITY));
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_REPLY_BINDING);
	g_assert_cmpint(stun_agent_validate(&c->agent, &response, h.out, h.outlen, NULL, NULL), !=, STUN_VALIDATION_NOT_STUN);
	g_assert_false(stun_message_has_attribute(&response, STUN_ATTRIBUTE_MESSAGE_INTEGRITY));
	g_free(c);
}

static void test_binding_unknown_optional_attribute_ignored(void) {
	stun_client *c = client_new(FALSE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.3", 5001);
	handled h;
	client_begin(c, STUN_BINDING);
	g_assert_cmpint(stun_message_append32(&c->request, 0x80FE, 42), ==, STUN_MESSAGE_RETURN_SUCCESS);
	client_finish(c);
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_REPLY_BINDING);
	g_free(c);
}

static void test_binding_unknown_required_attribute_gets_420(void) {
	/* CHANGE-REQUEST: an RFC 5780 client learns we do not do NAT discovery (its request carries FINGERPRINT,
	 * 36 bytes, so the 420 fits within twice that) */
	stun_client *c = client_new(TRUE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.4", 5002);
	StunMessage response;
	handled h;
	char reason[128];
	uint16_t alen = 0;
	const uint8_t *unknown;
	client_begin(c, STUN_BINDING);
	g_assert_cmpint(stun_message_append32(&c->request, STUN_ATTRIBUTE_CHANGE_REQUEST, 0), ==, STUN_MESSAGE_RETURN_SUCCESS);
	client_finish(c);
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_REPLY_ERROR);
	client_accepts(c, &h, &response);
	g_assert_cmpint(stun_message_get_class(&response), ==, STUN_ERROR);
	g_assert_cmpint(error_code_of(&response, reason, sizeof(reason)), ==, 420);
	unknown = stun_message_find(&response, STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES, &alen);
	g_assert_nonnull(unknown);
	g_assert_cmpuint(alen, ==, 2);
	g_assert_cmpuint((unknown[0] << 8) | unknown[1], ==, STUN_ATTRIBUTE_CHANGE_REQUEST);
	assert_fingerprint_valid(&h);
	g_free(c);
}

/* ---- Dropped -------------------------------------------------------------- */

static void test_wrong_magic_cookie_dropped(void) {
	stun_client *c = client_binding(FALSE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.5", 5003);
	handled h;
	c->buf[4] ^= 0xff;
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_BAD_COOKIE);
	g_free(c);
}

static void test_truncated_dropped(void) {
	stun_client *c = client_new(FALSE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.6", 5004);
	handled h;
	size_t cut;
	client_begin(c, STUN_BINDING);
	g_assert_cmpint(stun_message_append32(&c->request, 0x80FE, 42), ==, STUN_MESSAGE_RETURN_SUCCESS);
	client_finish(c);
	/* Shorter than the header, then shorter than the header's length field */
	for(cut = 1; cut < c->len; cut++) {
		handle(&h, c->buf, cut, &src, srclen);
		g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_TRUNCATED);
	}
	g_free(c);
}

static void test_trailing_bytes_dropped(void) {
	stun_client *c = client_binding(FALSE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.6", 5004);
	handled h;
	memset(c->buf + c->len, 0, 4);
	handle(&h, c->buf, c->len + 4, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_NOT_STUN);
	g_free(c);
}

static void test_oversized_dropped(void) {
	stun_client *c = client_new(FALSE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.7", 5005);
	uint8_t padding[P2PLINK_STUN_MAX_PACKET];
	handled h;
	/* A well-formed Binding request of exactly the limit is answered... */
	memset(padding, 0, sizeof(padding));
	client_begin(c, STUN_BINDING);
	g_assert_cmpint(stun_message_append_bytes(&c->request, ATTR_PADDING, padding,
		P2PLINK_STUN_MAX_PACKET - 20 - 4), ==, STUN_MESSAGE_RETURN_SUCCESS);
	client_finish(c);
	g_assert_cmpuint(c->len, ==, P2PLINK_STUN_MAX_PACKET);
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_REPLY_BINDING);
	/* ...and one 4 bytes longer is not even parsed */
	client_begin(c, STUN_BINDING);
	g_assert_cmpint(stun_message_append_bytes(&c->request, ATTR_PADDING, padding,
		P2PLINK_STUN_MAX_PACKET - 20), ==, STUN_MESSAGE_RETURN_SUCCESS);
	client_finish(c);
	g_assert_cmpuint(c->len, ==, P2PLINK_STUN_MAX_PACKET + 4);
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_OVERSIZED);
	g_free(c);
}

static void test_binding_indication_dropped(void) {
	stun_client *c = client_new(FALSE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.8", 5006);
	handled h;
	g_assert_true(stun_agent_init_indication(&c->agent, &c->request, c->buf, sizeof(c->buf), STUN_BINDING));
	client_finish(c);
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_NOT_REQUEST);
	/* TURN Send indication: no relay, no answer */
	g_assert_true(stun_agent_init_indication(&c->agent, &c->request, c->buf, sizeof(c->buf), METHOD_TURN_SEND));
	client_finish(c);
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_NOT_REQUEST);
	g_free(c);
}

static void test_response_sent_to_us_dropped(void) {
	/* Our own answer bounced back (or a spoofed reflection loop) */
	stun_client *c = client_binding(FALSE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.9", 5007);
	handled h, h2;
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_REPLY_BINDING);
	handle(&h2, h.out, h.outlen, &src, srclen);
	g_assert_cmpint(h2.verdict, ==, P2PLINK_STUN_DROP_NOT_REQUEST);
	g_free(c);
}

static void test_non_stun_dropped(void) {
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t rtp[] = { 0x80, 0x60, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t dtls[] = { 0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	/* Length 3: not a multiple of 4 */
	static const uint8_t badlen[] = { 0x00, 0x01, 0x00, 0x03, 0x21, 0x12, 0xa4, 0x42,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0 };
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.10", 5008);
	handled h;
	handle(&h, (const uint8_t *)http, sizeof(http) - 1, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_NOT_STUN);
	handle(&h, rtp, sizeof(rtp), &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_NOT_STUN);
	handle(&h, dtls, sizeof(dtls), &src, srclen);
	g_assert_cmpint(h.verdict, !=, P2PLINK_STUN_REPLY_BINDING);
	g_assert_false(P2PLINK_STUN_VERDICT_IS_REPLY(h.verdict));
	handle(&h, badlen, sizeof(badlen), &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_NOT_STUN);
	handle(&h, NULL, 0, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_NOT_STUN);
}

static void test_bad_source_dropped(void) {
	stun_client *c = client_binding(FALSE);
	struct sockaddr_storage src;
	struct sockaddr_un un;
	socklen_t srclen;
	handled h;
	srclen = addr_v4(&src, "192.0.2.11", 0);
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_BAD_SOURCE);
	srclen = addr_v4(&src, "192.0.2.11", 1);
	handle(&h, c->buf, c->len, &src, srclen - 1);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_BAD_SOURCE);
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	memset(&src, 0, sizeof(src));
	memcpy(&src, &un, sizeof(un));
	handle(&h, c->buf, c->len, &src, sizeof(un));
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_BAD_SOURCE);
	handle(&h, c->buf, c->len, NULL, 0);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_BAD_SOURCE);
	g_free(c);
}

static void test_small_output_buffer_drops_instead_of_overflowing(void) {
	stun_client *c = client_binding(FALSE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.12", 5009);
	uint8_t out[64];
	size_t outlen;
	size_t cap;
	for(cap = 0; cap < 40; cap++) {
		memset(out, 0xAA, sizeof(out));
		outlen = cap;
		g_assert_cmpint(p2plink_stun_handle(c->buf, c->len, (struct sockaddr *)&src, srclen, out, &outlen),
			==, P2PLINK_STUN_DROP_INTERNAL);
		g_assert_cmpuint(outlen, ==, 0);
		g_assert_cmpuint(out[cap], ==, 0xAA);	/* nothing written past the capacity */
	}
	g_free(c);
}

/* ---- No TURN -------------------------------------------------------------- */

static void assert_method_refused(StunMethod method) {
	stun_client *c = client_new(FALSE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.13", 5010);
	StunMessage response;
	handled h;
	char reason[128];
	client_begin(c, method);
	/* REQUESTED-TRANSPORT = UDP, as a TURN client would send it */
	g_assert_cmpint(stun_message_append32(&c->request, STUN_ATTRIBUTE_REQUESTED_TRANSPORT, 17 << 24), ==, STUN_MESSAGE_RETURN_SUCCESS);
	client_finish(c);
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_REPLY_ERROR);
	client_accepts(c, &h, &response);
	g_assert_cmpint(stun_message_get_class(&response), ==, STUN_ERROR);
	g_assert_cmpint(stun_message_get_method(&response), ==, method);
	assert_same_transaction(c, &response);
	g_assert_cmpint(error_code_of(&response, reason, sizeof(reason)), ==, 400);
	g_assert_cmpstr(reason, ==, P2PLINK_STUN_REASON_BINDING_ONLY);
	g_assert_false(stun_message_has_attribute(&response, STUN_ATTRIBUTE_XOR_RELAYED_ADDRESS));
	g_assert_false(stun_message_has_attribute(&response, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS));
	g_assert_false(stun_message_has_attribute(&response, STUN_ATTRIBUTE_LIFETIME));
	/* Small: no SOFTWARE, at most twice the request */
	g_assert_false(stun_message_has_attribute(&response, STUN_ATTRIBUTE_SOFTWARE));
	g_assert_cmpuint(h.outlen, <=, P2PLINK_STUN_MAX_ERROR_FACTOR * c->len);
	assert_fingerprint_valid(&h);
	g_free(c);
}

static void test_error_reply_is_at_most_twice_the_request(void) {
	/* The reflection: a bare 20-byte Allocate got a 92-byte error (4.6x). Now: an empty reason phrase,
	 * FINGERPRINT, 36 bytes */
	uint8_t pkt[20] = { 0x00, 0x03, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.14", 5011);
	handled h;
	handle(&h, pkt, sizeof(pkt), &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_REPLY_ERROR);
	g_test_message("20-byte Allocate -> %zu-byte error", h.outlen);
	g_assert_cmpuint(h.outlen, <=, 2 * sizeof(pkt));
	g_assert_cmpuint(h.out[0], ==, 0x01);	/* error response class ... */
	g_assert_cmpuint(h.out[1], ==, 0x13);	/* ... of Allocate */
	assert_fingerprint_valid(&h);
}

static void test_small_binding_with_unknown_required_attribute_is_dropped(void) {
	/* 28 bytes: libnice's 420 (canned phrase + UNKNOWN-ATTRIBUTES) would be more than twice that */
	stun_client *c = client_new(FALSE);
	struct sockaddr_storage src;
	socklen_t srclen = addr_v4(&src, "192.0.2.15", 5012);
	handled h;
	client_begin(c, STUN_BINDING);
	g_assert_cmpint(stun_message_append32(&c->request, STUN_ATTRIBUTE_CHANGE_REQUEST, 0), ==, STUN_MESSAGE_RETURN_SUCCESS);
	client_finish(c);
	handle(&h, c->buf, c->len, &src, srclen);
	g_assert_cmpint(h.verdict, ==, P2PLINK_STUN_DROP_AMPLIFICATION);
	g_assert_cmpuint(h.outlen, ==, 0);
	g_free(c);
}

static void test_turn_allocate_gets_400_never_allocation(void) {
	assert_method_refused(STUN_ALLOCATE);
}

static void test_other_turn_methods_get_400(void) {
	assert_method_refused(STUN_REFRESH);
	assert_method_refused(METHOD_TURN_SEND);
	assert_method_refused(STUN_CREATEPERMISSION);
	assert_method_refused(STUN_CHANNELBIND);
	/* Not STUN_CONNECT (0x005): libnice decodes its error response type
	 * 0x0115 as a Google data indication, a client-side quirk */
	assert_method_refused((StunMethod)0x000A);	/* TURN-TCP Connect (RFC 6062) */
	assert_method_refused((StunMethod)0x0ABC);	/* unassigned */
}

/* ---- Rate limiter (fake clock) ------------------------------------------- */

static p2plink_stun_limiter *limiter_new(guint rate, guint burst, guint max_sources, guint global_rate, guint global_burst) {
	p2plink_stun_config config;
	config.rate_per_sec = rate;
	config.burst = burst;
	config.max_sources = max_sources;
	config.global_rate_per_sec = global_rate;
	config.global_burst = global_burst;
	return p2plink_stun_limiter_new(&config);
}

static p2plink_stun_verdict take(p2plink_stun_limiter *l, const char *ip, gint64 now_us) {
	struct sockaddr_storage ss;
	socklen_t len = strchr(ip, ':') ? addr_v6(&ss, ip, 1000) : addr_v4(&ss, ip, 1000);
	return p2plink_stun_limiter_take(l, (struct sockaddr *)&ss, len, now_us);
}

#define ALLOWED	P2PLINK_STUN_REPLY_BINDING

static void test_rate_limit_burst_then_refill(void) {
	p2plink_stun_limiter *l = limiter_new(10, 5, 100, 0, 0);
	gint64 t = 1000000000;
	int i;
	for(i = 0; i < 5; i++)
		g_assert_cmpint(take(l, "192.0.2.1", t), ==, ALLOWED);
	g_assert_cmpint(take(l, "192.0.2.1", t), ==, P2PLINK_STUN_DROP_RATE_LIMITED);
	/* 10/s: one token every 100 ms */
	g_assert_cmpint(take(l, "192.0.2.1", t + 99999), ==, P2PLINK_STUN_DROP_RATE_LIMITED);
	g_assert_cmpint(take(l, "192.0.2.1", t + 100000), ==, ALLOWED);
	g_assert_cmpint(take(l, "192.0.2.1", t + 100000), ==, P2PLINK_STUN_DROP_RATE_LIMITED);
	/* A long pause refills to the burst, not beyond */
	t += (gint64)3600 * G_USEC_PER_SEC;
	for(i = 0; i < 5; i++)
		g_assert_cmpint(take(l, "192.0.2.1", t), ==, ALLOWED);
	g_assert_cmpint(take(l, "192.0.2.1", t), ==, P2PLINK_STUN_DROP_RATE_LIMITED);
	p2plink_stun_limiter_free(l);
}

static void test_rate_limit_is_per_source(void) {
	p2plink_stun_limiter *l = limiter_new(1, 1, 100, 0, 0);
	g_assert_cmpint(take(l, "192.0.2.1", 0), ==, ALLOWED);
	g_assert_cmpint(take(l, "192.0.2.1", 0), ==, P2PLINK_STUN_DROP_RATE_LIMITED);
	g_assert_cmpint(take(l, "192.0.2.2", 0), ==, ALLOWED);
	g_assert_cmpint(take(l, "2001:db8::1", 0), ==, ALLOWED);
	g_assert_cmpuint(p2plink_stun_limiter_size(l), ==, 3);
	p2plink_stun_limiter_free(l);
}

static void test_rate_limit_ipv6_bucket_is_the_slash64(void) {
	p2plink_stun_limiter *l = limiter_new(1, 1, 100, 0, 0);
	g_assert_cmpint(take(l, "2001:db8:0:1::1", 0), ==, ALLOWED);
	/* Same /64, another interface id: same bucket */
	g_assert_cmpint(take(l, "2001:db8:0:1:ffff:1:2:3", 0), ==, P2PLINK_STUN_DROP_RATE_LIMITED);
	/* Next /64: its own bucket */
	g_assert_cmpint(take(l, "2001:db8:0:2::1", 0), ==, ALLOWED);
	p2plink_stun_limiter_free(l);
}

static void test_rate_limit_v4mapped_shares_ipv4_bucket(void) {
	p2plink_stun_limiter *l = limiter_new(1, 1, 100, 0, 0);
	g_assert_cmpint(take(l, "192.0.2.77", 0), ==, ALLOWED);
	g_assert_cmpint(take(l, "::ffff:192.0.2.77", 0), ==, P2PLINK_STUN_DROP_RATE_LIMITED);
	p2plink_stun_limiter_free(l);
}

static void test_rate_limit_table_is_bounded_and_evicts_least_recent(void) {
	p2plink_stun_limiter *l = limiter_new(1, 1, 3, 0, 0);
	g_assert_cmpint(take(l, "10.0.0.1", 0), ==, ALLOWED);
	g_assert_cmpint(take(l, "10.0.0.2", 0), ==, ALLOWED);
	g_assert_cmpint(take(l, "10.0.0.3", 0), ==, ALLOWED);
	/* Touch .1 so .2 becomes the least recently seen */
	g_assert_cmpint(take(l, "10.0.0.1", 0), ==, P2PLINK_STUN_DROP_RATE_LIMITED);
	g_assert_cmpint(take(l, "10.0.0.4", 0), ==, ALLOWED);
	g_assert_cmpuint(p2plink_stun_limiter_size(l), ==, 3);
	g_assert_cmpuint(p2plink_stun_limiter_evictions(l), ==, 1);
	/* .1 and .3 are still tracked (and empty); .2 was forgotten */
	g_assert_cmpint(take(l, "10.0.0.1", 0), ==, P2PLINK_STUN_DROP_RATE_LIMITED);
	g_assert_cmpint(take(l, "10.0.0.2", 0), ==, ALLOWED);
	g_assert_cmpuint(p2plink_stun_limiter_size(l), ==, 3);
	p2plink_stun_limiter_free(l);
}

static void test_rate_limit_many_sources_memory_stays_bounded(void) {
	p2plink_stun_limiter *l = limiter_new(1, 1, 1000, 0, 0);
	char ip[32];
	int i;
	for(i = 0; i < 100000; i++) {
		g_snprintf(ip, sizeof(ip), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		g_assert_cmpint(take(l, ip, i), ==, ALLOWED);
	}
	g_assert_cmpuint(p2plink_stun_limiter_size(l), ==, 1000);
	g_assert_cmpuint(p2plink_stun_limiter_evictions(l), ==, 99000);
	p2plink_stun_limiter_free(l);
}

static void test_global_limit_caps_all_sources(void) {
	p2plink_stun_limiter *l = limiter_new(100, 100, 100, 10, 3);
	g_assert_cmpint(take(l, "10.0.0.1", 0), ==, ALLOWED);
	g_assert_cmpint(take(l, "10.0.0.2", 0), ==, ALLOWED);
	g_assert_cmpint(take(l, "10.0.0.3", 0), ==, ALLOWED);
	g_assert_cmpint(take(l, "10.0.0.4", 0), ==, P2PLINK_STUN_DROP_GLOBAL_LIMITED);
	g_assert_cmpint(take(l, "10.0.0.4", 100000), ==, ALLOWED);
	p2plink_stun_limiter_free(l);
}

static void test_rate_zero_disables_limits(void) {
	p2plink_stun_limiter *l = limiter_new(0, 0, 1, 0, 0);
	int i;
	for(i = 0; i < 10000; i++)
		g_assert_cmpint(take(l, "192.0.2.1", 0), ==, ALLOWED);
	g_assert_cmpuint(p2plink_stun_limiter_size(l), ==, 0);
	p2plink_stun_limiter_free(l);
}

/* The limiter is the shared one (common/ratelimit.c): a source cycling through the 2^64 addresses of its /64 is one
 * key, fills nothing and evicts no one, while every other /64 keeps its own bucket */
static void test_rate_limit_ipv6_slash64_cycling_is_one_key(void) {
	p2plink_stun_limiter *l = limiter_new(1, 5, 100, 0, 0);
	char ip[64];
	int i, allowed = 0;
	for(i = 0; i < 100000; i++) {
		g_snprintf(ip, sizeof(ip), "2001:db8:77:1:%x:%x::1", i >> 16, i & 0xffff);
		if(take(l, ip, 0) == ALLOWED)
			allowed++;
	}
	g_assert_cmpint(allowed, ==, 5);
	g_assert_cmpuint(p2plink_stun_limiter_size(l), ==, 1);
	g_assert_cmpuint(p2plink_stun_limiter_evictions(l), ==, 0);
	for(i = 0; i < 99; i++) {
		g_snprintf(ip, sizeof(ip), "2001:db8:78:%x::1", i);
		g_assert_cmpint(take(l, ip, 0), ==, ALLOWED);
	}
	g_assert_cmpuint(p2plink_stun_limiter_size(l), ==, 100);
	g_assert_cmpuint(p2plink_stun_limiter_evictions(l), ==, 0);
	p2plink_stun_limiter_free(l);
}

/* The STUN thread takes while stats read the table from another thread: the shared table's lock keeps it exact */
typedef struct {
	p2plink_stun_limiter *limiter;
	gint allowed;
} stun_race;

static gpointer stun_race_taker(gpointer data) {
	stun_race *race = data;
	int i;
	for(i = 0; i < 5000; i++) {
		if(take(race->limiter, i % 2 ? "2001:db8:5::1" : "2001:db8:5::2", 0) == ALLOWED)
			g_atomic_int_inc(&race->allowed);
		if(i % 100 == 0)
			g_assert_cmpuint(p2plink_stun_limiter_size(race->limiter), <=, 1);
	}
	return NULL;
}

static void test_rate_limit_is_exact_across_threads(void) {
	int i;
	/* One /64, a burst of 3,000 and (at a fixed clock) no refill: 4 threads x 5,000 requests */
	stun_race race = { limiter_new(1, 3000, 16, 0, 0), 0 };
	GThread *threads[4];
	for(i = 0; i < 4; i++)
		threads[i] = g_thread_new("stun-taker", stun_race_taker, &race);
	for(i = 0; i < 4; i++)
		g_thread_join(threads[i]);
	g_assert_cmpint(race.allowed, ==, 3000);
	p2plink_stun_limiter_free(race.limiter);
}

static void test_verdict_names_are_stable(void) {
	int i;
	g_assert_cmpstr(p2plink_stun_verdict_name(P2PLINK_STUN_REPLY_BINDING), ==, "reply-binding");
	g_assert_cmpstr(p2plink_stun_verdict_name(P2PLINK_STUN_DROP_RATE_LIMITED), ==, "drop-rate-limited");
	for(i = 0; i < P2PLINK_STUN_VERDICT_COUNT; i++)
		g_assert_nonnull(p2plink_stun_verdict_name(i));
	g_assert_cmpstr(p2plink_stun_verdict_name(P2PLINK_STUN_VERDICT_COUNT), ==, "unknown");
}

/* ---- UDP server over loopback ------------------------------------------- */

static gboolean have_ipv6_loopback(void) {
	struct sockaddr_storage ss;
	socklen_t len = addr_v6(&ss, "::1", 0);
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	gboolean ok = fd >= 0 && bind(fd, (struct sockaddr *)&ss, len) == 0;
	if(fd >= 0)
		close(fd);
	return ok;
}

/* Send a Binding request from a fresh socket, let the server answer (from
 * its thread if it runs one, else by calling on_readable here), and check
 * the mapped address is the client socket's own address */
static void roundtrip(p2plink_stun_server *server, const char *client_ip, const char *server_ip, gboolean drive) {
	struct sockaddr_storage local, dst;
	socklen_t locallen, dstlen;
	int family = strchr(server_ip, ':') ? AF_INET6 : AF_INET;
	int fd = socket(family, SOCK_DGRAM, 0);
	stun_client *c = client_binding(FALSE);
	StunMessage response;
	struct pollfd pfd;
	handled h;
	ssize_t n;
	int tries;
	g_assert_cmpint(fd, >=, 0);
	locallen = family == AF_INET6 ? addr_v6(&local, client_ip, 0) : addr_v4(&local, client_ip, 0);
	g_assert_cmpint(bind(fd, (struct sockaddr *)&local, locallen), ==, 0);
	locallen = sizeof(local);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&local, &locallen), ==, 0);
	dstlen = family == AF_INET6 ? addr_v6(&dst, server_ip, p2plink_stun_server_port(server))
		: addr_v4(&dst, server_ip, p2plink_stun_server_port(server));
	g_assert_cmpint(sendto(fd, c->buf, c->len, 0, (struct sockaddr *)&dst, dstlen), ==, (ssize_t)c->len);
	pfd.fd = fd;
	pfd.events = POLLIN;
	for(tries = 0; tries < 200; tries++) {
		if(drive)
			p2plink_stun_server_on_readable(server);
		if(poll(&pfd, 1, 10) > 0)
			break;
	}
	n = recv(fd, h.out, sizeof(h.out), MSG_DONTWAIT);
	g_assert_cmpint(n, >, 0);
	h.outlen = n;
	client_accepts(c, &h, &response);
	assert_mapped_equals(&response, &local, locallen);
	close(fd);
	g_free(c);
}

static void test_server_dual_stack_answers_ipv4_and_ipv6(void) {
	GError *error = NULL;
	p2plink_stun_server *server = p2plink_stun_server_new(NULL, 0, NULL, &error);
	p2plink_stun_counters counters;
	g_assert_no_error(error);
	g_assert_nonnull(server);
	g_assert_cmpint(p2plink_stun_server_port(server), >, 0);
	roundtrip(server, "127.0.0.1", "127.0.0.1", TRUE);
	if(have_ipv6_loopback())
		roundtrip(server, "::1", "::1", TRUE);
	p2plink_stun_server_get_counters(server, &counters);
	g_assert_cmpuint(counters.replies, ==, counters.verdicts[P2PLINK_STUN_REPLY_BINDING]);
	g_assert_cmpuint(counters.received, >=, 1);
	p2plink_stun_server_free(server);
}

static void test_server_thread_answers_and_stops(void) {
	GError *error = NULL;
	p2plink_stun_server *server = p2plink_stun_server_new("127.0.0.1", 0, NULL, &error);
	p2plink_stun_counters counters;
	g_assert_no_error(error);
	g_assert_true(p2plink_stun_server_start_thread(server, &error));
	g_assert_no_error(error);
	g_assert_false(p2plink_stun_server_start_thread(server, &error));
	g_assert_error(error, P2PLINK_STUN_ERROR, P2PLINK_STUN_ERROR_THREAD);
	g_clear_error(&error);
	roundtrip(server, "127.0.0.1", "127.0.0.1", FALSE);
	roundtrip(server, "127.0.0.1", "127.0.0.1", FALSE);
	p2plink_stun_server_stop_thread(server);
	p2plink_stun_server_get_counters(server, &counters);
	g_assert_cmpuint(counters.verdicts[P2PLINK_STUN_REPLY_BINDING], ==, 2);
	g_assert_cmpuint(counters.replies, ==, 2);
	p2plink_stun_server_free(server);
}

static void test_server_rate_limits_one_source(void) {
	GError *error = NULL;
	p2plink_stun_config config;
	p2plink_stun_server *server;
	p2plink_stun_counters counters;
	struct sockaddr_storage dst;
	socklen_t dstlen;
	stun_client *c = client_binding(FALSE);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), i, got = 0;
	uint8_t buf[P2PLINK_STUN_MAX_REPLY];
	p2plink_stun_config_defaults(&config);
	config.rate_per_sec = 1;
	config.burst = 3;
	server = p2plink_stun_server_new("127.0.0.1", 0, &config, &error);
	g_assert_no_error(error);
	dstlen = addr_v4(&dst, "127.0.0.1", p2plink_stun_server_port(server));
	for(i = 0; i < 10; i++)
		g_assert_cmpint(sendto(fd, c->buf, c->len, 0, (struct sockaddr *)&dst, dstlen), ==, (ssize_t)c->len);
	g_usleep(20000);
	p2plink_stun_server_on_readable(server);
	while(recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		got++;
	g_assert_cmpint(got, ==, 3);
	p2plink_stun_server_get_counters(server, &counters);
	g_assert_cmpuint(counters.received, ==, 10);
	g_assert_cmpuint(counters.verdicts[P2PLINK_STUN_DROP_RATE_LIMITED], ==, 7);
	close(fd);
	g_free(c);
	p2plink_stun_server_free(server);
}

static void test_server_oversized_datagram_dropped(void) {
	GError *error = NULL;
	p2plink_stun_server *server = p2plink_stun_server_new("127.0.0.1", 0, NULL, &error);
	p2plink_stun_counters counters;
	struct sockaddr_storage dst;
	socklen_t dstlen;
	uint8_t big[4000];
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	stun_client *c = client_binding(FALSE);
	g_assert_no_error(error);
	/* A valid request followed by garbage: only the size gives it away */
	memset(big, 0, sizeof(big));
	memcpy(big, c->buf, c->len);
	dstlen = addr_v4(&dst, "127.0.0.1", p2plink_stun_server_port(server));
	g_assert_cmpint(sendto(fd, big, sizeof(big), 0, (struct sockaddr *)&dst, dstlen), ==, (ssize_t)sizeof(big));
	g_usleep(20000);
	p2plink_stun_server_on_readable(server);
	p2plink_stun_server_get_counters(server, &counters);
	g_assert_cmpuint(counters.verdicts[P2PLINK_STUN_DROP_OVERSIZED], ==, 1);
	g_assert_cmpuint(counters.replies, ==, 0);
	close(fd);
	g_free(c);
	p2plink_stun_server_free(server);
}

static void test_server_rejects_bad_bind_address(void) {
	GError *error = NULL;
	g_assert_null(p2plink_stun_server_new("stun.example.com", 0, NULL, &error));
	g_assert_error(error, P2PLINK_STUN_ERROR, P2PLINK_STUN_ERROR_BAD_ADDRESS);
	g_clear_error(&error);
	g_assert_null(p2plink_stun_server_new("127.0.0.1", 70000, NULL, &error));
	g_assert_error(error, P2PLINK_STUN_ERROR, P2PLINK_STUN_ERROR_BAD_ADDRESS);
	g_clear_error(&error);
	/* TEST-NET address is not ours: bind fails with a socket error */
	g_assert_null(p2plink_stun_server_new("192.0.2.1", 0, NULL, &error));
	g_assert_error(error, P2PLINK_STUN_ERROR, P2PLINK_STUN_ERROR_SOCKET);
	g_clear_error(&error);
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/stun/binding/ipv4-maps-source", test_binding_ipv4_maps_source);
	g_test_add_func("/stun/binding/ipv6-maps-source", test_binding_ipv6_maps_source);
	g_test_add_func("/stun/binding/v4mapped-source-reports-ipv4", test_binding_v4mapped_source_reports_ipv4);
	g_test_add_func("/stun/binding/fingerprint-accepted-and-answered", test_binding_with_fingerprint_accepted_and_answered_with_fingerprint);
	g_test_add_func("/stun/binding/bad-fingerprint-dropped", test_binding_with_bad_fingerprint_dropped);
	g_test_add_func("/stun/binding/credentials-answered-without-auth", test_binding_with_credentials_answered_without_auth);
	g_test_add_func("/stun/binding/unknown-optional-attribute-ignored", test_binding_unknown_optional_attribute_ignored);
	g_test_add_func("/stun/binding/unknown-required-attribute-gets-420", test_binding_unknown_required_attribute_gets_420);
	g_test_add_func("/stun/binding/small-unknown-required-attribute-dropped", test_small_binding_with_unknown_required_attribute_is_dropped);
	g_test_add_func("/stun/error/at-most-twice-the-request", test_error_reply_is_at_most_twice_the_request);
	g_test_add_func("/stun/drop/wrong-magic-cookie", test_wrong_magic_cookie_dropped);
	g_test_add_func("/stun/drop/truncated", test_truncated_dropped);
	g_test_add_func("/stun/drop/trailing-bytes", test_trailing_bytes_dropped);
	g_test_add_func("/stun/drop/oversized", test_oversized_dropped);
	g_test_add_func("/stun/drop/indication", test_binding_indication_dropped);
	g_test_add_func("/stun/drop/response-sent-to-us", test_response_sent_to_us_dropped);
	g_test_add_func("/stun/drop/non-stun", test_non_stun_dropped);
	g_test_add_func("/stun/drop/bad-source", test_bad_source_dropped);
	g_test_add_func("/stun/drop/small-output-buffer", test_small_output_buffer_drops_instead_of_overflowing);
	g_test_add_func("/stun/no-turn/allocate-gets-400-never-allocation", test_turn_allocate_gets_400_never_allocation);
	g_test_add_func("/stun/no-turn/other-methods-get-400", test_other_turn_methods_get_400);
	g_test_add_func("/stun/limiter/burst-then-refill", test_rate_limit_burst_then_refill);
	g_test_add_func("/stun/limiter/per-source", test_rate_limit_is_per_source);
	g_test_add_func("/stun/limiter/ipv6-per-64", test_rate_limit_ipv6_bucket_is_the_slash64);
	g_test_add_func("/stun/limiter/v4mapped-shares-ipv4-bucket", test_rate_limit_v4mapped_shares_ipv4_bucket);
	g_test_add_func("/stun/limiter/bounded-evicts-least-recent", test_rate_limit_table_is_bounded_and_evicts_least_recent);
	g_test_add_func("/stun/limiter/many-sources-bounded", test_rate_limit_many_sources_memory_stays_bounded);
	g_test_add_func("/stun/limiter/global-cap", test_global_limit_caps_all_sources);
	g_test_add_func("/stun/limiter/zero-disables", test_rate_zero_disables_limits);
	g_test_add_func("/stun/limiter/ipv6-slash64-cycling-is-one-key", test_rate_limit_ipv6_slash64_cycling_is_one_key);
	g_test_add_func("/stun/limiter/exact-across-threads", test_rate_limit_is_exact_across_threads);
	g_test_add_func("/stun/verdict-names-stable", test_verdict_names_are_stable);
	g_test_add_func("/stun/server/dual-stack-ipv4-and-ipv6", test_server_dual_stack_answers_ipv4_and_ipv6);
	g_test_add_func("/stun/server/thread-answers-and-stops", test_server_thread_answers_and_stops);
	g_test_add_func("/stun/server/rate-limits-one-source", test_server_rate_limits_one_source);
	g_test_add_func("/stun/server/oversized-datagram-dropped", test_server_oversized_datagram_dropped);
	g_test_add_func("/stun/server/rejects-bad-bind-address", test_server_rejects_bad_bind_address);
	return g_test_run();
}
