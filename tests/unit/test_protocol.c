/*
 * test_protocol.c — PeerJS frame decoding/encoding and id rules (protocol.c).
 */

#include <string.h>

#include "protocol.h"

static void test_decode_offer_keeps_dst_and_payload(void) {
	const char *in = "{\"type\":\"OFFER\",\"dst\":\"bob\",\"payload\":{\"sdp\":{\"type\":\"offer\"},\"type\":\"media\"}}";
	p2plink_frame frame;
	p2plink_error err;
	g_assert_true(p2plink_frame_decode(in, strlen(in), &frame, &err));
	g_assert_cmpint(frame.type, ==, P2PLINK_MSG_OFFER);
	g_assert_cmpstr(frame.dst, ==, "bob");
	g_assert_cmpint(frame.payload_len, ==, strlen("{\"sdp\":{\"type\":\"offer\"},\"type\":\"media\"}"));
	g_assert_true(strncmp(frame.payload, "{\"sdp\":{\"type\":\"offer\"},\"type\":\"media\"}", frame.payload_len) == 0);
	p2plink_frame_clear(&frame);
}

static void test_relay_sets_server_src_and_drops_extra_fields(void) {
	const char *in = "{\"type\":\"CANDIDATE\",\"src\":\"mallory\",\"dst\":\"bob\",\"extra\":1,\"payload\":{\"c\":1}}";
	p2plink_frame frame;
	p2plink_error err;
	g_assert_true(p2plink_frame_decode(in, strlen(in), &frame, &err));
	char *out = p2plink_frame_encode_relay(frame.type, "alice", frame.dst, frame.payload, frame.payload_len, NULL);
	g_assert_cmpstr(out, ==, "{\"type\":\"CANDIDATE\",\"src\":\"alice\",\"dst\":\"bob\",\"payload\":{\"c\":1}}");
	g_free(out);
	p2plink_frame_clear(&frame);
}

static void test_relay_without_payload_omits_it(void) {
	char *out = p2plink_frame_encode_relay(P2PLINK_MSG_EXPIRE, "bob", "alice", NULL, 0, NULL);
	g_assert_cmpstr(out, ==, "{\"type\":\"EXPIRE\",\"src\":\"bob\",\"dst\":\"alice\"}");
	g_free(out);
}

/* The payload is relayed byte for byte, whatever JSON value it is, with its inner duplicates and spacing */
static void test_decode_payload_slices_every_value_kind(void) {
	static const char *payloads[] = { "123", "-1.5e300", "true", "false", "null", "\"a\\\"b\"", "[1,[2,{}]]",
		"{\"k\":1,\"k\":2}", "{ \"sdp\" : \"v=0\\r\\n\" }", "123456789012345678901234567890" };
	for(size_t i = 0; i < G_N_ELEMENTS(payloads); i++) {
		char *in = g_strdup_printf("{\"payload\" : %s ,\"type\":\"OFFER\",\"dst\":\"b\"}", payloads[i]);
		p2plink_frame frame;
		p2plink_error err;
		g_assert_true(p2plink_frame_decode(in, strlen(in), &frame, &err));
		g_assert_cmpuint(frame.payload_len, ==, strlen(payloads[i]));
		g_assert_true(strncmp(frame.payload, payloads[i], frame.payload_len) == 0);
		g_free(in);
	}
}

/* Below the top level nothing is read (decode skips it), yet everything is still checked: a bad escape, number,
 * raw control character or literal deep in the payload refuses the frame; and top-level keys after a nested value
 * are read again, escapes decoded ("peer\u0031" is peer1) */
static void test_decode_nested_values_checked_not_read(void) {
	static const char *bad[] = { "{\"a\":\"\\x\"}", "{\"a\":[01]}", "{\"a\":\"\t\"}", "{\"a\":[tru]}",
		"{\"a\":{\"b\":\"\\u12\"}}", "[{\"\\q\":1}]", "{\"a\":-}", "{\"a\":nul}" };
	for(size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		char *in = g_strdup_printf("{\"type\":\"OFFER\",\"payload\":%s,\"dst\":\"b\"}", bad[i]);
		p2plink_frame frame;
		p2plink_error err;
		g_assert_false(p2plink_frame_decode(in, strlen(in), &frame, &err));
		g_assert_cmpstr(err.code, ==, "invalid-json");
		g_free(in);
	}
	const char *nested = "{\"sdp\":{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n\\u00e9\"},\"n\":[1.5e3,true,null]}";
	char *in = g_strdup_printf("{\"payload\":%s,\"dst\":\"peer\\u0031\",\"type\":\"OF\\u0046ER\"}", nested);
	p2plink_frame frame;
	p2plink_error err;
	g_assert_true(p2plink_frame_decode(in, strlen(in), &frame, &err));
	g_assert_cmpint(frame.type, ==, P2PLINK_MSG_OFFER);
	g_assert_cmpstr(frame.dst, ==, "peer1");
	g_assert_cmpuint(frame.payload_len, ==, strlen(nested));
	g_assert_true(strncmp(frame.payload, nested, frame.payload_len) == 0);
	g_free(in);
	/* A "dst" inside the payload is the payload's, not the frame's */
	const char *inner = "{\"type\":\"OFFER\",\"payload\":{\"dst\":\"x\",\"type\":\"LEAVE\"},\"dst\":\"b\"}";
	g_assert_true(p2plink_frame_decode(inner, strlen(inner), &frame, &err));
	g_assert_cmpint(frame.type, ==, P2PLINK_MSG_OFFER);
	g_assert_cmpstr(frame.dst, ==, "b");
}

static void test_decode_heartbeat(void) {
	p2plink_frame frame;
	p2plink_error err;
	g_assert_true(p2plink_frame_decode("{\"type\":\"HEARTBEAT\"}", 20, &frame, &err));
	g_assert_cmpint(frame.type, ==, P2PLINK_MSG_HEARTBEAT);
	g_assert_null(frame.dst);
	p2plink_frame_clear(&frame);
}

/* Each bad input gets its stable error code */
static void test_decode_rejects_bad_frames_with_codes(void) {
	static const struct { const char *in, *code; } cases[] = {
		{ "not json", "invalid-json" },
		{ "", "invalid-json" },
		{ "[1,2]", "invalid-frame" },
		{ "\"OFFER\"", "invalid-frame" },
		{ "{}", "invalid-frame" },
		{ "{\"type\":1}", "invalid-frame" },
		{ "{\"type\":\"NOPE\"}", "unknown-type" },
		{ "{\"type\":\"OPEN\"}", "unknown-type" },
		{ "{\"type\":\"offer\",\"dst\":\"b\"}", "unknown-type" },
		{ "{\"type\":\"OFFER\",\"dst\":5}", "invalid-dst" },
		{ "{\"type\":\"OFFER\",\"dst\":\"\"}", "invalid-dst" },
		{ "{\"type\":\"OFFER\",\"dst\":\"a/b\"}", "invalid-dst" },
		{ "{\"type\":\"OFFER\",\"dst\":\"a\",\"dst\":\"b\"}", "invalid-json" },
		{ "{\"type\":\"OFFER\",\"type\":\"ANSWER\",\"dst\":\"b\"}", "invalid-json" },
		{ "{\"type\":\"OFFER\",\"dst\":\"b\",\"payload\":1,\"payload\":2}", "invalid-json" },
		{ "{\"type\":\"OFFER\",\"dst\":\"b\"} {}", "invalid-json" },
		{ "{\"type\":\"OFFER\",\"dst\":\"b\",\"payload\":\"\xc3\x28\"}", P2PLINK_ERR_INVALID_UTF8 },
		{ "\"\\u\xc3\xa9\"", "invalid-json" },
		{ "{\"type\":[\"OFFER\"],\"dst\":\"b\"}", "invalid-frame" },
		{ "{\"type\":\"OFFER\",\"dst\":[\"b\"]}", "invalid-dst" },
		{ "{\"type\":\"OFFER\",\"dst\":\"a\\u0000b\"}", "invalid-dst" },
		{ "{\"type\":\"OFFER\",\"dst\":\"b\",\"payload\"\f:{}}", "invalid-json" },
		{ "{\"type\":\"OFFER\",\"dst\":\"b\",\"payload\":{\"a\":\v1}}", "invalid-json" },
	};
	for(size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		p2plink_frame frame;
		p2plink_error err = { 0 };
		g_assert_false(p2plink_frame_decode(cases[i].in, strlen(cases[i].in), &frame, &err));
		g_assert_cmpstr(err.code, ==, cases[i].code);
		g_assert_cmpuint(strlen(err.msg), >, 0);
		g_assert_null(frame.payload);
	}
}

static void test_decode_rejects_embedded_nul(void) {
	const char in[] = "{\"type\":\"OFFER\",\"dst\":\"b\0c\"}";
	p2plink_frame frame;
	p2plink_error err;
	g_assert_false(p2plink_frame_decode(in, sizeof(in) - 1, &frame, &err));
	/* A raw NUL is UTF-8 (RFC 3629) but not JSON: refused as such, the socket is not failed for it */
	g_assert_cmpstr(err.code, ==, "invalid-json");
}

static void test_id_rule_matches_stock_client(void) {
	static const char *good[] = { "a", "abc123", "a-b", "a_b", "a b", "3f1c2d4e-1111-4222-8333-123456789abc" };
	static const char *bad[] = { "", "-a", "a-", "a--b", "a -b", " a", "a/b", "a.b", "é", "a\tb",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 65 */ };
	for(size_t i = 0; i < G_N_ELEMENTS(good); i++)
		g_assert_true(p2plink_id_is_valid(good[i]));
	for(size_t i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(p2plink_id_is_valid(bad[i]));
	g_assert_false(p2plink_id_is_valid(NULL));
}

static void test_token_rule(void) {
	g_assert_true(p2plink_token_is_valid("x7f3k2q9m1"));
	g_assert_false(p2plink_token_is_valid(""));
	g_assert_false(p2plink_token_is_valid("a b"));
	g_assert_false(p2plink_token_is_valid(NULL));
	char long_token[P2PLINK_MAX_TOKEN_LEN + 2];
	memset(long_token, 'a', sizeof(long_token) - 1);
	long_token[sizeof(long_token) - 1] = '\0';
	g_assert_false(p2plink_token_is_valid(long_token));
}

static void test_server_frames_match_reference(void) {
	char *open = p2plink_frame_encode_open(NULL);
	g_assert_cmpstr(open, ==, "{\"type\":\"OPEN\"}");
	char *taken = p2plink_frame_encode_id_taken(NULL);
	g_assert_cmpstr(taken, ==, "{\"type\":\"ID-TAKEN\",\"payload\":{\"msg\":\"ID is taken\"}}");
	char *error = p2plink_frame_encode_error("queue-full", "words", NULL);
	g_assert_cmpstr(error, ==, "{\"type\":\"ERROR\",\"payload\":{\"type\":\"queue-full\",\"msg\":\"words\"}}");
	g_free(open);
	g_free(taken);
	g_free(error);
}

/* yajl lets these through; we refuse them before anything else reads the frame */
/* The ASCII run is skipped a word at a time: a bad sequence at every offset (so at every alignment and on both
 * sides of the 8-byte steps), after ASCII with NULs in it, is still found, and good text around it is still good */
static void test_utf8_after_ascii_runs_at_every_offset(void) {
	static const char *const bad[] = { "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC3", "\xFF", "\x80" };
	static const char *const good[] = { "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80" };
	char buf[64];
	for(size_t at = 0; at < 40; at++) {
		for(size_t i = 0; i < at; i++)
			buf[i] = i % 7 == 3 ? '\0' : (char)('a' + i % 26);
		for(guint b = 0; b < G_N_ELEMENTS(bad); b++) {
			size_t n = strlen(bad[b]);
			memcpy(buf + at, bad[b], n);
			memset(buf + at + n, 'z', 12);
			g_assert_false(p2plink_text_is_utf8(buf, at + n + 12));
			/* cut right after the bad bytes too (the tail shorter than a word) */
			g_assert_false(p2plink_text_is_utf8(buf, at + n));
		}
		for(guint g = 0; g < G_N_ELEMENTS(good); g++) {
			size_t n = strlen(good[g]);
			memcpy(buf + at, good[g], n);
			memset(buf + at + n, 'z', 12);
			g_assert_true(p2plink_text_is_utf8(buf, at + n + 12));
			/* a multi-byte character cut short at the end of the text is not UTF-8 */
			g_assert_false(p2plink_text_is_utf8(buf, at + n - 1));
		}
		g_assert_true(p2plink_text_is_utf8(buf, at));
	}
}

static void test_decode_refuses_invalid_utf8(void) {
	static const char *const bad[] = { "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC3", "\xE2\x82", "\xFF" };
	for(guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		char *in = g_strdup_printf("{\"type\":\"CANDIDATE\",\"dst\":\"bob\",\"payload\":\"%s\"}", bad[i]);
		p2plink_frame frame;
		p2plink_error err;
		g_assert_false(p2plink_frame_decode(in, strlen(in), &frame, &err));
		g_assert_cmpstr(err.code, ==, P2PLINK_ERR_INVALID_UTF8);
		g_assert_false(p2plink_text_is_utf8(in, strlen(in)));
		g_free(in);
	}
	const char *good = "{\"type\":\"CANDIDATE\",\"dst\":\"bob\",\"payload\":\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\"}";
	p2plink_frame frame;
	p2plink_error err;
	g_assert_true(p2plink_frame_decode(good, strlen(good), &frame, &err));
	p2plink_frame_clear(&frame);
}

static void test_invalid_dst_keeps_the_frame_type(void) {
	const char *in = "{\"type\":\"ANSWER\",\"dst\":\"no/such\"}";
	p2plink_frame frame;
	p2plink_error err;
	g_assert_false(p2plink_frame_decode(in, strlen(in), &frame, &err));
	g_assert_cmpstr(err.code, ==, "invalid-dst");
	g_assert_cmpint(frame.type, ==, P2PLINK_MSG_ANSWER);
	g_assert_null(frame.dst);
}

static void test_encode_refused(void) {
	char *with_src = p2plink_frame_encode_refused("bob", "alice", "queue-full", "Too many", P2PLINK_MSG_CANDIDATE, NULL);
	g_assert_cmpstr(with_src, ==, "{\"type\":\"P2PLINK-REFUSED\",\"src\":\"bob\",\"dst\":\"alice\",\"payload\":"
		"{\"code\":\"queue-full\",\"msg\":\"Too many\",\"for\":\"CANDIDATE\"}}");
	g_free(with_src);
	char *without = p2plink_frame_encode_refused(NULL, "alice", "invalid-json", "Bad", P2PLINK_MSG_UNKNOWN, NULL);
	g_assert_cmpstr(without, ==, "{\"type\":\"P2PLINK-REFUSED\",\"dst\":\"alice\",\"payload\":"
		"{\"code\":\"invalid-json\",\"msg\":\"Bad\",\"for\":\"UNKNOWN\"}}");
	g_free(without);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/protocol/decode/offer_keeps_dst_and_payload", test_decode_offer_keeps_dst_and_payload);
	g_test_add_func("/protocol/decode/heartbeat", test_decode_heartbeat);
	g_test_add_func("/protocol/decode/nested_values_checked_not_read", test_decode_nested_values_checked_not_read);
	g_test_add_func("/protocol/decode/payload_slices_every_value_kind", test_decode_payload_slices_every_value_kind);
	g_test_add_func("/protocol/decode/rejects_bad_frames_with_codes", test_decode_rejects_bad_frames_with_codes);
	g_test_add_func("/protocol/decode/rejects_embedded_nul", test_decode_rejects_embedded_nul);
	g_test_add_func("/protocol/relay/sets_server_src_and_drops_extra_fields",
		test_relay_sets_server_src_and_drops_extra_fields);
	g_test_add_func("/protocol/relay/without_payload_omits_it", test_relay_without_payload_omits_it);
	g_test_add_func("/protocol/encode/server_frames_match_reference", test_server_frames_match_reference);
	g_test_add_func("/protocol/ids/rule_matches_stock_client", test_id_rule_matches_stock_client);
	g_test_add_func("/protocol/ids/token_rule", test_token_rule);
	g_test_add_func("/protocol/decode/refuses_invalid_utf8", test_decode_refuses_invalid_utf8);
	g_test_add_func("/protocol/utf8_after_ascii_runs_at_every_offset", test_utf8_after_ascii_runs_at_every_offset);
	g_test_add_func("/protocol/decode/invalid_dst_keeps_the_frame_type", test_invalid_dst_keeps_the_frame_type);
	g_test_add_func("/protocol/encode/refused", test_encode_refused);
	return g_test_run();
}
