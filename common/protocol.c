/*
 * protocol.c — decode PeerJS client frames, encode server frames. See protocol.h.
 *
 * Server-set fields: a client's "src" (and any field other than type/dst/payload) is dropped on decode, so a
 * relayed frame always carries the sender's registered id. Frame size limits are enforced by the transport before
 * data reaches us; here the whole frame is validated and every field we use is type-checked.
 * Speed: this runs for every relayed message. The payload (an SDP offer is a few KiB of escaped text) is never
 * parsed into a tree or printed again; see p2plink_frame_decode and p2plink_frame_encode_relay.
 */

#include <stdarg.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "protocol.h"

static const struct {
	const char *name;
	p2plink_msg_type type;
} msg_types[] = {
	{ "HEARTBEAT", P2PLINK_MSG_HEARTBEAT },
	{ "OFFER", P2PLINK_MSG_OFFER },
	{ "ANSWER", P2PLINK_MSG_ANSWER },
	{ "CANDIDATE", P2PLINK_MSG_CANDIDATE },
	{ "LEAVE", P2PLINK_MSG_LEAVE },
	{ "EXPIRE", P2PLINK_MSG_EXPIRE },
};

void p2plink_error_set(p2plink_error *err, const char *code, const char *fmt, ...) {
	if(err == NULL)
		return;
	err->code = code;
	va_list args;
	va_start(args, fmt);
	g_vsnprintf(err->msg, sizeof(err->msg), fmt, args);
	va_end(args);
}

const char *p2plink_msg_type_name(p2plink_msg_type type) {
	for(size_t i = 0; i < G_N_ELEMENTS(msg_types); i++) {
		if(msg_types[i].type == type)
			return msg_types[i].name;
	}
	return "UNKNOWN";
}

static p2plink_msg_type msg_type_from_name(const char *name) {
	for(size_t i = 0; i < G_N_ELEMENTS(msg_types); i++) {
		if(strcmp(msg_types[i].name, name) == 0)
			return msg_types[i].type;
	}
	return P2PLINK_MSG_UNKNOWN;
}

/* Decoding runs yajl's event parser over the frame: it validates the whole text (JSON grammar, UTF-8) without
 * building a tree, while these callbacks pick out the top-level "type" and "dst" and the byte range of "payload".
 * yajl reports, in each callback, how far into the text it has read; that is how the payload's bytes are found. */
typedef enum top_key {
	KEY_OTHER = 0,
	KEY_TYPE,
	KEY_DST,
	KEY_PAYLOAD,
} top_key;

typedef struct decode_state {
	yajl_handle parser;
	yajl_callbacks callbacks;	/* what yajl calls; this frame's own copy, see on_start */
	const char *data;
	int depth;				/* 0 outside the frame, 1 inside the top-level object */
	gboolean top_is_object;
	top_key key;			/* the top-level key whose value comes next */
	guint seen;				/* bit per top_key, to refuse duplicates */
	size_t payload_key_end;	/* offset just after the "payload" key */
	size_t payload_end;
	gboolean type_bad, dst_bad;
	char type[16];
	p2plink_frame *frame;
} decode_state;

static size_t consumed(decode_state *st) {
	return yajl_get_bytes_consumed(st->parser);
}

/* A value directly under the top-level object ended at the current position */
static void top_value_done(decode_state *st) {
	if(st->key == KEY_PAYLOAD)
		st->payload_end = consumed(st);
	st->key = KEY_OTHER;
}

/* A scalar: only strings can be a valid type or dst */
static int on_scalar(decode_state *st, const unsigned char *str, size_t len, gboolean is_string, gboolean is_null) {
	if(st->depth == 0)
		return 1;	/* a scalar frame: refused as invalid-frame after the parse */
	if(st->depth == 1) {
		if(st->key == KEY_TYPE) {
			if(!is_string || len >= sizeof(st->type))
				st->type_bad = TRUE;
			else
				memcpy(st->type, str, len);
		} else if(st->key == KEY_DST && !is_null) {
			/* memchr: "\u0000" decodes to a NUL inside the string, which no id may contain */
			if(!is_string || len > P2PLINK_MAX_ID_LEN || memchr(str, '\0', len) != NULL) {
				st->dst_bad = TRUE;
			} else {
				memcpy(st->frame->dst_buf, str, len);
				st->frame->dst_buf[len] = '\0';
				st->frame->dst = st->frame->dst_buf;
			}
		}
		top_value_done(st);
	}
	return 1;
}

static int on_null(void *ctx) {
	return on_scalar(ctx, NULL, 0, FALSE, TRUE);
}

static int on_boolean(void *ctx, int value) {
	(void)value;
	return on_scalar(ctx, NULL, 0, FALSE, FALSE);
}

static int on_number(void *ctx, const char *text, size_t len) {
	(void)text;
	(void)len;
	return on_scalar(ctx, NULL, 0, FALSE, FALSE);
}

static int on_string(void *ctx, const unsigned char *str, size_t len) {
	return on_scalar(ctx, str, len, TRUE, FALSE);
}

static const yajl_callbacks decode_callbacks;

/* Inside a nested value (the payload's object: an SDP, a candidate) nothing is read, only validated. yajl decodes a
 * string with escapes (every SDP line ends in \r\n) into its own buffer before calling its callback, and only when
 * there is one: so below the top level the scalar and key callbacks are taken away (yajl reads them through the
 * pointer it was given, on every token) and put back when the nested value ends. The lexer still checks every
 * string, escape and number, so validation is the same; the copy and the decode are gone. */
static void read_nested_values(decode_state *st, gboolean read) {
	st->callbacks.yajl_null = read ? decode_callbacks.yajl_null : NULL;
	st->callbacks.yajl_boolean = read ? decode_callbacks.yajl_boolean : NULL;
	st->callbacks.yajl_number = read ? decode_callbacks.yajl_number : NULL;
	st->callbacks.yajl_string = read ? decode_callbacks.yajl_string : NULL;
	st->callbacks.yajl_map_key = read ? decode_callbacks.yajl_map_key : NULL;
}

static int on_start(decode_state *st, gboolean is_map) {
	if(st->depth == 0)
		st->top_is_object = is_map;
	else if(st->depth == 1 && (st->key == KEY_TYPE || st->key == KEY_DST))
		*(st->key == KEY_TYPE ? &st->type_bad : &st->dst_bad) = TRUE;
	st->depth++;
	if(st->depth == 2)
		read_nested_values(st, FALSE);
	return 1;
}

static int on_end(decode_state *st) {
	st->depth--;
	if(st->depth == 1) {
		read_nested_values(st, TRUE);
		top_value_done(st);
	}
	return 1;
}

static int on_start_map(void *ctx) {
	return on_start(ctx, TRUE);
}

static int on_start_array(void *ctx) {
	return on_start(ctx, FALSE);
}

static int on_end_container(void *ctx) {
	return on_end(ctx);
}

static int on_map_key(void *ctx, const unsigned char *key, size_t len) {
	decode_state *st = ctx;
	if(st->depth != 1)
		return 1;
	st->key = KEY_OTHER;
	if(len == 4 && !memcmp(key, "type", 4))
		st->key = KEY_TYPE;
	else if(len == 3 && !memcmp(key, "dst", 3))
		st->key = KEY_DST;
	else if(len == 7 && !memcmp(key, "payload", 7))
		st->key = KEY_PAYLOAD;
	if(st->key != KEY_OTHER) {
		/* {"dst":"a","dst":"b"} must not mean different things to different readers: refuse it */
		if(st->seen & (1u << st->key))
			return 0;
		st->seen |= 1u << st->key;
	}
	if(st->key == KEY_PAYLOAD)
		st->payload_key_end = consumed(st);
	return 1;
}

static const yajl_callbacks decode_callbacks = {
	.yajl_null = on_null,
	.yajl_boolean = on_boolean,
	.yajl_number = on_number,	/* numbers stay text: no overflow errors for big but valid JSON numbers */
	.yajl_string = on_string,
	.yajl_start_map = on_start_map,
	.yajl_map_key = on_map_key,
	.yajl_end_map = on_end_container,
	.yajl_start_array = on_start_array,
	.yajl_end_array = on_end_container,
};

/* The payload value starts after the key's closing quote, optional whitespace, ':' and optional whitespace */
static size_t skip_to_value(const char *data, size_t pos, size_t end) {
	while(pos < end && (data[pos] == ' ' || data[pos] == '\t' || data[pos] == '\n' || data[pos] == '\r' ||
			data[pos] == ':'))
		pos++;
	return pos;
}

/* Length of the ASCII run that starts data (up to len): 8 bytes per step while no byte has its high bit set */
static size_t ascii_prefix(const char *data, size_t len) {
	size_t i = 0;
	for(; i + 8 <= len; i += 8) {
		guint64 w;
		memcpy(&w, data + i, 8);
		if(w & G_GUINT64_CONSTANT(0x8080808080808080))
			break;
	}
	while(i < len && !(data[i] & 0x80))
		i++;
	return i;
}

gboolean p2plink_text_is_utf8(const char *data, size_t len) {
	/* Signaling text is nearly all ASCII (SDP, candidates, ids): an ASCII byte is always valid UTF-8, so the run of
	 * them is skipped a word at a time (g_utf8_validate_len goes byte by byte: 6% of the relay CPU in the profile).
	 * The first non-ASCII byte starts a character, and from there on GLib validates as before. */
	size_t ascii = ascii_prefix(data, len);
	/* U+0000 is UTF-8 (a raw NUL is not JSON, but that is the decoder's "invalid-json", not a reason to fail the
	 * socket), and g_utf8_validate_len stops at NUL bytes: validate the runs between them */
	const char *p = data + ascii, *end = data + len;
	while(p < end) {
		const char *stop = NULL;
		if(g_utf8_validate_len(p, end - p, &stop))
			return TRUE;
		if(*stop != '\0')
			return FALSE;
		p = stop + 1;
	}
	return TRUE;
}

gboolean p2plink_frame_decode(const char *data, size_t len, p2plink_frame *frame, p2plink_error *err) {
	memset(frame, 0, sizeof(*frame));
	/* yajl checks only the structure of multi-byte sequences: overlong forms (C0 AF), surrogates (ED A0 80) and
	 * code points above U+10FFFF (F4 90 80 80) pass it, and we relay payload bytes as they are. A browser fails its
	 * WebSocket on such a text frame, so relaying one would let any peer disconnect any other. Checked on the whole
	 * message, before anything else reads it. */
	if(!p2plink_text_is_utf8(data, len)) {
		p2plink_error_set(err, P2PLINK_ERR_INVALID_UTF8, "Frame is not valid UTF-8 text");
		return FALSE;
	}
	/* yajl also takes form feed and vertical tab as whitespace; JSON (and the browsers' JSON.parse) do not, and
	 * they can appear nowhere else in valid JSON (inside strings they must be escaped). Refusing them keeps every
	 * payload we relay readable by its receiver. */
	if(memchr(data, '\f', len) != NULL || memchr(data, '\v', len) != NULL) {
		p2plink_error_set(err, "invalid-json", "Frame is not valid JSON (form feed or vertical tab)");
		return FALSE;
	}
	decode_state st = { 0 };
	st.data = data;
	st.frame = frame;
	st.callbacks = decode_callbacks;
	st.parser = yajl_alloc(&st.callbacks, NULL, &st);
	if(st.parser == NULL) {
		p2plink_error_set(err, "server-error", "Out of memory");
		return FALSE;
	}
	/* p2plink_text_is_utf8 above checked every byte already: yajl need not do it again per string byte (it still
	 * refuses raw control characters in strings, which is JSON, not UTF-8) */
	yajl_config(st.parser, yajl_dont_validate_strings, 1);
	yajl_status status = yajl_parse(st.parser, (const unsigned char *)data, len);
	if(status == yajl_status_ok)
		status = yajl_complete_parse(st.parser);
	if(status == yajl_status_client_canceled) {
		p2plink_error_set(err, "invalid-json", "Frame repeats a key (type, dst or payload)");
		goto fail;
	}
	if(status != yajl_status_ok || len == 0) {
		/* yajl's own message quotes input bytes; the position is enough and always clean text */
		p2plink_error_set(err, "invalid-json", "Frame is not valid JSON (near byte %zu)",
			len == 0 ? (size_t)0 : yajl_get_bytes_consumed(st.parser));
		goto fail;
	}
	if(!st.top_is_object) {
		p2plink_error_set(err, "invalid-frame", "Frame must be a JSON object");
		goto fail;
	}
	if(!(st.seen & (1u << KEY_TYPE)) || st.type_bad) {
		p2plink_error_set(err, "invalid-frame", "Frame needs a string \"type\"");
		goto fail;
	}
	frame->type = msg_type_from_name(st.type);
	if(frame->type == P2PLINK_MSG_UNKNOWN) {
		p2plink_error_set(err, "unknown-type", "Unknown frame type");
		goto fail;
	}
	if(st.dst_bad || (frame->dst != NULL && !p2plink_id_is_valid(frame->dst))) {
		p2plink_error_set(err, "invalid-dst", "\"dst\" must be a valid peer id");
		p2plink_msg_type type = frame->type;
		yajl_free(st.parser);
		memset(frame, 0, sizeof(*frame));
		frame->type = type;	/* so that the refusal can say which frame it was */
		return FALSE;
	}
	if(st.seen & (1u << KEY_PAYLOAD)) {
		size_t start = skip_to_value(data, st.payload_key_end, st.payload_end);
		frame->payload = data + start;
		frame->payload_len = st.payload_end - start;
	}
	yajl_free(st.parser);
	return TRUE;
fail:
	yajl_free(st.parser);
	memset(frame, 0, sizeof(*frame));
	return FALSE;
}

void p2plink_frame_clear(p2plink_frame *frame) {
	memset(frame, 0, sizeof(*frame));
}

/* Every encoder ends here: compact output, keys in insertion order (type first, as the reference server sends).
 * Never NULL: if a value could not be encoded (json_pack refuses invalid UTF-8), a generic ERROR goes out instead
 * of an empty frame. */
char *p2plink_json_text(json_t *value) {
	char *text = value ? json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(value);
	/* jansson allocates with malloc; callers free with g_free, so hand back a GLib copy */
	char *out = g_strdup(text);
	free(text);
	return out;
}

static char *encode(json_t *obj, size_t *len) {
	char *out = p2plink_json_text(obj);
	if(out == NULL)
		out = g_strdup("{\"type\":\"ERROR\",\"payload\":{\"type\":\"server-error\",\"msg\":\"Server error\"}}");
	if(len != NULL)
		*len = strlen(out);
	return out;
}

char *p2plink_frame_encode_relay(p2plink_msg_type type, const char *src, const char *dst, const char *payload,
		size_t payload_len, size_t *len) {
	/* Written directly: the names are fixed, ids need no escaping (p2plink_id_is_valid), and the payload is the
	 * client's own validated JSON text, copied byte for byte */
	const char *name = p2plink_msg_type_name(type);
	size_t name_len = strlen(name), src_len = strlen(src), dst_len = strlen(dst);
	GString *out = g_string_sized_new(40 + name_len + src_len + dst_len + payload_len);
	/* Pieces appended, not printf'd: this runs for every relayed frame and vfprintf showed in its profile */
	g_string_append_len(out, "{\"type\":\"", 9);
	g_string_append_len(out, name, name_len);
	g_string_append_len(out, "\",\"src\":\"", 9);
	g_string_append_len(out, src, src_len);
	g_string_append_len(out, "\",\"dst\":\"", 9);
	g_string_append_len(out, dst, dst_len);
	g_string_append_c(out, '"');
	if(payload != NULL) {
		g_string_append(out, ",\"payload\":");
		g_string_append_len(out, payload, payload_len);
	}
	g_string_append_c(out, '}');
	if(len != NULL)
		*len = out->len;
	return g_string_free(out, FALSE);
}

char *p2plink_frame_encode_open(size_t *len) {
	return encode(json_pack("{s:s}", "type", "OPEN"), len);
}

char *p2plink_frame_encode_error(const char *code, const char *msg, size_t *len) {
	/* The stock client reads payload.msg; payload.type is our stable code */
	return encode(json_pack("{s:s,s:{s:s,s:s}}", "type", "ERROR", "payload", "type", code, "msg", msg), len);
}

char *p2plink_frame_encode_refused(const char *src, const char *dst, const char *code, const char *msg,
		p2plink_msg_type refused_type, size_t *len) {
	json_t *frame = json_pack("{s:s}", "type", P2PLINK_REFUSED_TYPE);
	if(src != NULL)
		json_object_set_new(frame, "src", json_string(src));
	json_object_set_new(frame, "dst", json_string(dst));
	/* No "connectionId" in the payload: that is what keeps the stock client from looking for a connection */
	json_object_set_new(frame, "payload", json_pack("{s:s,s:s,s:s}", "code", code, "msg", msg, "for",
		p2plink_msg_type_name(refused_type)));
	return encode(frame, len);
}

char *p2plink_frame_encode_id_taken(size_t *len) {
	return encode(json_pack("{s:s,s:{s:s}}", "type", "ID-TAKEN", "payload", "msg", "ID is taken"), len);
}

gboolean p2plink_id_is_valid(const char *id) {
	/* ^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$ without a regex engine: alphanumerics, single separators between them */
	if(id == NULL || *id == '\0')
		return FALSE;
	size_t n = 0;
	gboolean prev_sep = TRUE;	/* the first character must be alphanumeric */
	for(const char *p = id; *p; p++, n++) {
		if(n >= P2PLINK_MAX_ID_LEN)
			return FALSE;
		if(g_ascii_isalnum(*p)) {
			prev_sep = FALSE;
		} else if(*p == ' ' || *p == '_' || *p == '-') {
			if(prev_sep)
				return FALSE;
			prev_sep = TRUE;
		} else {
			return FALSE;
		}
	}
	return !prev_sep;
}

gboolean p2plink_token_is_valid(const char *token) {
	if(token == NULL || *token == '\0' || strlen(token) > P2PLINK_MAX_TOKEN_LEN)
		return FALSE;
	for(const char *p = token; *p; p++) {
		if(*p <= 0x20 || *p >= 0x7f)
			return FALSE;
	}
	return TRUE;
}
