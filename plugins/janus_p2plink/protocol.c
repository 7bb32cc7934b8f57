/*
 * protocol.c — decode PeerJS client frames, encode server frames. See protocol.h.
 *
 * Server-set fields: a client's "src" (and any field other than type/dst/payload) is dropped on decode, so a
 * relayed frame always carries the sender's registered id. Frame size limits are enforced by the transport before
 * data reaches us; here every field is type-checked.
 */

#include <stdarg.h>
#include <string.h>

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

gboolean p2plink_frame_decode(const char *data, size_t len, p2plink_frame *frame, p2plink_error *err) {
	memset(frame, 0, sizeof(*frame));
	json_error_t jerr;
	/* JSON_REJECT_DUPLICATES: {"dst":"a","dst":"b"} must not mean different things to different readers */
	json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if(root == NULL) {
		/* jansson's own text can quote a partial UTF-8 sequence from the input: give the position only */
		p2plink_error_set(err, "invalid-json", "Frame is not valid JSON (near byte %d)", jerr.position);
		return FALSE;
	}
	if(!json_is_object(root)) {
		p2plink_error_set(err, "invalid-frame", "Frame must be a JSON object");
		goto fail;
	}
	json_t *type = json_object_get(root, "type");
	if(!json_is_string(type)) {
		p2plink_error_set(err, "invalid-frame", "Frame needs a string \"type\"");
		goto fail;
	}
	frame->type = msg_type_from_name(json_string_value(type));
	if(frame->type == P2PLINK_MSG_UNKNOWN) {
		p2plink_error_set(err, "unknown-type", "Unknown frame type");
		goto fail;
	}
	json_t *dst = json_object_get(root, "dst");
	if(dst != NULL && !json_is_null(dst)) {
		if(!json_is_string(dst) || !p2plink_id_is_valid(json_string_value(dst))) {
			p2plink_error_set(err, "invalid-dst", "\"dst\" must be a valid peer id");
			goto fail;
		}
		frame->dst = json_string_value(dst);
	}
	frame->payload = json_object_get(root, "payload");
	frame->root = root;
	return TRUE;
fail:
	json_decref(root);
	memset(frame, 0, sizeof(*frame));
	return FALSE;
}

void p2plink_frame_clear(p2plink_frame *frame) {
	if(frame->root != NULL)
		json_decref(frame->root);
	memset(frame, 0, sizeof(*frame));
}

/* Every encoder ends here: compact output, keys in insertion order (type first, as the reference server sends).
 * Never NULL: if a value could not be encoded (json_pack refuses invalid UTF-8), a generic ERROR goes out instead
 * of an empty frame. */
static char *encode(json_t *obj, size_t *len) {
	char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(obj);
	/* jansson allocates with malloc; callers free with g_free, so hand back a GLib copy */
	char *out = g_strdup(text ? text : "{\"type\":\"ERROR\",\"payload\":{\"type\":\"server-error\",\"msg\":\"Server error\"}}");
	free(text);
	if(len != NULL)
		*len = out ? strlen(out) : 0;
	return out;
}

char *p2plink_frame_encode_relay(p2plink_msg_type type, const char *src, const char *dst, json_t *payload, size_t *len) {
	json_t *obj = json_object();
	json_object_set_new(obj, "type", json_string(p2plink_msg_type_name(type)));
	json_object_set_new(obj, "src", json_string(src));
	json_object_set_new(obj, "dst", json_string(dst));
	if(payload != NULL)
		json_object_set(obj, "payload", payload);
	return encode(obj, len);
}

char *p2plink_frame_encode_open(size_t *len) {
	return encode(json_pack("{s:s}", "type", "OPEN"), len);
}

char *p2plink_frame_encode_error(const char *code, const char *msg, size_t *len) {
	/* The stock client reads payload.msg; payload.type is our stable code */
	return encode(json_pack("{s:s,s:{s:s,s:s}}", "type", "ERROR", "payload", "type", code, "msg", msg), len);
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
