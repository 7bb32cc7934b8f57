/*
 * fuzz_frame.c — libFuzzer harness for the PeerJS frame codec (common/protocol.c).
 *
 * What it checks, for any bytes a WebSocket client can send:
 *  - p2plink_frame_decode never crashes, leaks or reads past len (the input is an exact-size heap copy, no NUL);
 *  - a rejection has a stable code and a sentence, and both can be put in a P2PLINK-REFUSED frame (the registry
 *    sends exactly that after OPEN: a NULL encoding would reach the transport as an empty frame);
 *  - UTF-8 oracle: an independent validator (RFC 3629's table, written out below) decides whether the input is
 *    UTF-8; input that is not must be refused as invalid-utf8, and every frame we would relay is UTF-8, so no
 *    frame of ours can make a browser fail its socket;
 *  - an accepted frame has a known type and a dst that passes the id rule;
 *  - round trip: the relay encoding of an accepted frame decodes again to the same type, dst and payload, and
 *    carries the server-set src, never one the client wrote;
 *  - p2plink_id_is_valid / p2plink_token_is_valid agree with the rules written as regular expressions.
 * What it is not for: routing (fuzz_registry.c).
 *
 * Build and run: tests/fuzz/run.sh (builds every tests/fuzz/fuzz_*.c); seeds in tests/fuzz/corpus/frame/.
 */

#include <stdio.h>

#include "protocol.h"
#include "fuzz_input.h"

static const char *const error_codes[] = { "invalid-json", "invalid-frame", "unknown-type", "invalid-dst",
	P2PLINK_ERR_INVALID_UTF8 };

/* RFC 3629 section 4, byte by byte, independent of GLib: well-formed UTF-8 without overlong forms, surrogates
 * (U+D800..DFFF) or code points above U+10FFFF. NUL (U+0000) is UTF-8. */
static gboolean utf8_oracle(const uint8_t *s, size_t len) {
	size_t i = 0;
	while(i < len) {
		uint8_t c = s[i];
		size_t n;
		uint8_t lo = 0x80, hi = 0xBF;	/* bounds of the second byte */
		if(c < 0x80) {
			i++;
			continue;
		}
		if(c >= 0xC2 && c <= 0xDF)
			n = 1;
		else if(c == 0xE0)
			n = 2, lo = 0xA0;
		else if((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
			n = 2;
		else if(c == 0xED)
			n = 2, hi = 0x9F;
		else if(c == 0xF0)
			n = 3, lo = 0x90;
		else if(c >= 0xF1 && c <= 0xF3)
			n = 3;
		else if(c == 0xF4)
			n = 3, hi = 0x8F;
		else
			return FALSE;
		if(i + n >= len)
			return FALSE;	/* truncated sequence */
		if(s[i + 1] < lo || s[i + 1] > hi)
			return FALSE;
		for(size_t k = 2; k <= n; k++) {
			if(s[i + k] < 0x80 || s[i + k] > 0xBF)
				return FALSE;
		}
		i += n + 1;
	}
	return TRUE;
}

static gboolean is_known_error_code(const char *code) {
	for(size_t i = 0; i < G_N_ELEMENTS(error_codes); i++) {
		if(code != NULL && strcmp(code, error_codes[i]) == 0)
			return TRUE;
	}
	return FALSE;
}

/* The id rule as the stock client writes it (lib/utils/validateId.ts), plus our length limit. \\z, not $:
 * PCRE's $ also matches before a trailing newline. */
static gboolean id_oracle(const char *id) {
	static GRegex *re = NULL;
	if(re == NULL)
		re = g_regex_new("\\A[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*\\z", G_REGEX_RAW, 0, NULL);
	return strlen(id) <= P2PLINK_MAX_ID_LEN && g_regex_match(re, id, 0, NULL);
}

static gboolean token_oracle(const char *token) {
	size_t n = strlen(token);
	if(n == 0 || n > P2PLINK_MAX_TOKEN_LEN)
		return FALSE;
	for(size_t i = 0; i < n; i++) {
		if((unsigned char)token[i] <= 0x20 || (unsigned char)token[i] >= 0x7f)
			return FALSE;
	}
	return TRUE;
}

/* Round trip through our own decoder, and an independent check with jansson: whenever jansson can read the
 * client's frame, it must read our relayed frame too, with exactly type/src/dst(/payload) and the server's src */
static void check_round_trip(const p2plink_frame *frame, const uint8_t *input, size_t input_len) {
	const char *dst = frame->dst ? frame->dst : "fuzz-dst";
	size_t len = 0;
	char *text = p2plink_frame_encode_relay(frame->type, "fuzz-src", dst, frame->payload, frame->payload_len, &len);
	FUZZ_CHECK(text != NULL && len == strlen(text));
	p2plink_frame again;
	p2plink_error err;
	/* What we relay is UTF-8, whatever came in */
	FUZZ_CHECK(utf8_oracle((const uint8_t *)text, len));
	FUZZ_CHECK(p2plink_frame_decode(text, len, &again, &err));
	FUZZ_CHECK(again.type == frame->type);
	FUZZ_CHECK(again.dst != NULL && strcmp(again.dst, dst) == 0);
	FUZZ_CHECK((frame->payload == NULL) == (again.payload == NULL));
	if(frame->payload != NULL)
		FUZZ_CHECK(again.payload_len == frame->payload_len && memcmp(again.payload, frame->payload, frame->payload_len) == 0);
	json_t *original = json_loadb((const char *)input, input_len, 0, NULL);
	if(original != NULL) {
		json_t *relayed = json_loadb(text, len, 0, NULL);
		FUZZ_CHECK(relayed != NULL);
		/* The relayed frame carries the src the server set, whatever the client put in its frame */
		FUZZ_CHECK(strcmp(json_string_value(json_object_get(relayed, "src")), "fuzz-src") == 0);
		/* Only type, src, dst and payload are forwarded, payload unchanged */
		FUZZ_CHECK(json_object_size(relayed) == (frame->payload ? 4u : 3u));
		if(frame->payload != NULL)
			FUZZ_CHECK(json_equal(json_object_get(original, "payload"), json_object_get(relayed, "payload")));
		json_decref(relayed);
		json_decref(original);
	}
	p2plink_frame_clear(&again);
	g_free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	/* Exact-size copy: the decoder gets (data, len) with no terminating NUL, like a WebSocket payload */
	uint8_t *copy = g_malloc(size ? size : 1);
	memcpy(copy, data, size);
	p2plink_frame frame;
	p2plink_error err = { 0 };
	gboolean utf8 = utf8_oracle(copy, size);
	gboolean decoded = p2plink_frame_decode((const char *)copy, size, &frame, &err);
	/* Not UTF-8: refused as such, before anything else is looked at */
	FUZZ_CHECK(utf8 || (!decoded && strcmp(err.code, P2PLINK_ERR_INVALID_UTF8) == 0));
	/* ... and UTF-8 is never called invalid-utf8 (GLib and the oracle agree) */
	if(utf8 && !decoded)
		FUZZ_CHECK(strcmp(err.code, P2PLINK_ERR_INVALID_UTF8) != 0);
	if(decoded) {
		FUZZ_CHECK(frame.type != P2PLINK_MSG_UNKNOWN);
		FUZZ_CHECK(strcmp(p2plink_msg_type_name(frame.type), "UNKNOWN") != 0);
		if(frame.dst != NULL)
			FUZZ_CHECK(p2plink_id_is_valid(frame.dst));
		FUZZ_CHECK(frame.payload == NULL || (frame.payload >= (const char *)copy &&
			frame.payload + frame.payload_len <= (const char *)copy + size));
		check_round_trip(&frame, copy, size);
		p2plink_frame_clear(&frame);
	} else {
		FUZZ_CHECK(frame.dst == NULL && frame.payload == NULL);
		FUZZ_CHECK(is_known_error_code(err.code));
		FUZZ_CHECK(err.msg[0] != '\0');
		/* What the registry does with a rejection after OPEN: a P2PLINK-REFUSED frame with this code and sentence
		 * (never containing the client's bytes: it must be UTF-8 and decodable JSON whatever came in) */
		size_t len = 0;
		char *text = p2plink_frame_encode_refused(NULL, "fuzz-sender", err.code, err.msg, frame.type, &len);
		if(text == NULL || strstr(text, P2PLINK_REFUSED_TYPE) == NULL) {
			fprintf(stderr, "P2PLINK-REFUSED frame could not be encoded for code %s, msg \"%s\"\n", err.code,
				err.msg);
			abort();
		}
		FUZZ_CHECK(len > 0 && len == strlen(text));
		FUZZ_CHECK(utf8_oracle((const uint8_t *)text, len));
		json_t *refused = json_loadb(text, len, 0, NULL);
		FUZZ_CHECK(refused != NULL);
		json_decref(refused);
		g_free(text);
	}
	g_free(copy);

	/* The same bytes as an id and as a token (the transport hands them over as C strings) */
	fuzz_input in;
	fuzz_input_init(&in, data, size);
	char *s = fuzz_cstr(&in);
	FUZZ_CHECK(p2plink_id_is_valid(s) == id_oracle(s));
	FUZZ_CHECK(p2plink_token_is_valid(s) == token_oracle(s));
	g_free(s);
	return 0;
}
