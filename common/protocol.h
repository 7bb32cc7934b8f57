/*
 * protocol.h — the PeerJS wire format: decoding client frames and encoding server frames.
 *
 * What it is for: turning one WebSocket text frame into a typed, validated p2plink_frame, and producing the exact
 * frames the stock peerjs client expects (OPEN, ERROR, ID-TAKEN, relayed OFFER/ANSWER/CANDIDATE/LEAVE/EXPIRE).
 * What it is not for: deciding where a frame goes (registry.c) or touching sockets (the transport). Pure: no Janus,
 * no logging, no global state — unit-tested and fuzzed on its own.
 */

#ifndef P2PLINK_PROTOCOL_H
#define P2PLINK_PROTOCOL_H

#include <glib.h>
#include <jansson.h>

/* Longest peer id we accept; the reference server has no limit, its ids are 36-character UUIDs */
#define P2PLINK_MAX_ID_LEN 64
#define P2PLINK_MAX_TOKEN_LEN 128

typedef enum p2plink_msg_type {
	P2PLINK_MSG_UNKNOWN = 0,
	P2PLINK_MSG_HEARTBEAT,
	P2PLINK_MSG_OFFER,
	P2PLINK_MSG_ANSWER,
	P2PLINK_MSG_CANDIDATE,
	P2PLINK_MSG_LEAVE,
	P2PLINK_MSG_EXPIRE,
} p2plink_msg_type;

/* The decode error of a text that is not UTF-8 (RFC 6455: the connection must be failed with 1007, and nothing of
 * it may reach another peer, whose browser would fail its own socket on it) */
#define P2PLINK_ERR_INVALID_UTF8 "invalid-utf8"

/* A rejection: a stable machine code and a sentence for humans */
typedef struct p2plink_error {
	const char *code;
	char msg[160];
} p2plink_error;

/* A decoded client frame. Nothing is allocated: payload is a slice of the input (the exact JSON text the client
 * sent, validated), which is relayed as is instead of being parsed into a tree and printed again. */
typedef struct p2plink_frame {
	p2plink_msg_type type;
	const char *dst;		/* NULL when absent (or JSON null); points into dst_buf */
	const char *payload;	/* NULL when absent; any JSON value, relayed opaquely */
	size_t payload_len;
	char dst_buf[P2PLINK_MAX_ID_LEN + 1];
} p2plink_frame;

/* Decodes one frame (data need not be NUL-terminated). Returns TRUE on success, FALSE with err filled (err->code
 * P2PLINK_ERR_INVALID_UTF8 when the text is not strict UTF-8; then nothing else was looked at). On failure
 * frame->type still says what the frame was when that much could be read (UNKNOWN otherwise), so a refusal can
 * name it. The frame borrows from data: use it before data goes away. */
gboolean p2plink_frame_decode(const char *data, size_t len, p2plink_frame *frame, p2plink_error *err);
void p2plink_frame_clear(p2plink_frame *frame);

const char *p2plink_msg_type_name(p2plink_msg_type type);

/* Encoders return g_malloc'd NUL-terminated compact JSON; *len (if not NULL) gets strlen. */
/* src and dst must be valid ids (p2plink_id_is_valid), which need no JSON escaping; payload is raw JSON or NULL */
char *p2plink_frame_encode_relay(p2plink_msg_type type, const char *src, const char *dst, const char *payload,
	size_t payload_len, size_t *len);
char *p2plink_frame_encode_open(size_t *len);
char *p2plink_frame_encode_error(const char *code, const char *msg, size_t *len);
char *p2plink_frame_encode_id_taken(size_t *len);
/* Our extension frame for a refusal after OPEN (the stock client ignores an unknown type without
 * payload.connectionId; our app reads it): {"type":"P2PLINK-REFUSED","src":<src, omitted when NULL>,"dst":<dst>,
 * "payload":{"code","msg","for":<frame type>}}. src and dst must be valid ids. */
#define P2PLINK_REFUSED_TYPE "P2PLINK-REFUSED"
char *p2plink_frame_encode_refused(const char *src, const char *dst, const char *code, const char *msg,
	p2plink_msg_type refused_type, size_t *len);

/* Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF); U+0000 is allowed (RFC 3629) */
gboolean p2plink_text_is_utf8(const char *data, size_t len);

/* Compact JSON text of value (keys in insertion order) as a g_malloc'd string; takes the reference. NULL when value
 * is NULL or cannot be encoded. One place for jansson's malloc'd output → GLib string. */
char *p2plink_json_text(json_t *value);

/* The stock client's own id rule (peerjs lib/utils/validateId.ts), plus a length limit */
gboolean p2plink_id_is_valid(const char *id);
/* Tokens are opaque: printable ASCII without spaces, bounded length */
gboolean p2plink_token_is_valid(const char *token);

void p2plink_error_set(p2plink_error *err, const char *code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

#endif
