/*
 * remote_frame.c — the body of a cross-node frame (see remote_frame.h).
 * Layout: "P2R2" kind(1) type(1), then u16be length + bytes of src, src_owner, grant and origin, i64be queued_since,
 * u64be seq, then the frame bytes to the end. Every length is checked against what is left before it is used.
 */

#include <string.h>

#include "remote_frame.h"

#define MAGIC "P2R2"
#define MAGIC_LEN 4
#define OWNER_HEX 64

static void put_string(GString *out, const char *s) {
	size_t n = s != NULL ? strlen(s) : 0;
	guint16 be = GUINT16_TO_BE((guint16)MIN(n, G_MAXUINT16));
	g_string_append_len(out, (const char *)&be, 2);
	g_string_append_len(out, s != NULL ? s : "", MIN(n, G_MAXUINT16));
}

char *p2plink_remote_frame_encode(const p2plink_remote_frame *frame, size_t *out_len) {
	GString *out = g_string_sized_new(MAGIC_LEN + 2 + 8 + 16 + 140 + frame->len);
	g_string_append_len(out, MAGIC, MAGIC_LEN);
	g_string_append_c(out, (char)frame->kind);
	g_string_append_c(out, (char)frame->type);
	put_string(out, frame->src);
	put_string(out, frame->src_owner);
	put_string(out, frame->grant);
	put_string(out, frame->origin);
	guint64 be = GUINT64_TO_BE((guint64)frame->queued_since);
	g_string_append_len(out, (const char *)&be, 8);
	be = GUINT64_TO_BE(frame->seq);
	g_string_append_len(out, (const char *)&be, 8);
	g_string_append_len(out, frame->text, frame->len);
	*out_len = out->len;
	return g_string_free(out, FALSE);
}

static gboolean get_string(const char *body, size_t len, size_t *pos, char **out) {
	guint16 be;
	if(len - *pos < 2)
		return FALSE;
	memcpy(&be, body + *pos, 2);
	*pos += 2;
	size_t n = GUINT16_FROM_BE(be);
	if(len - *pos < n || memchr(body + *pos, '\0', n) != NULL)
		return FALSE;
	*out = g_strndup(body + *pos, n);
	*pos += n;
	return TRUE;
}

static gboolean owner_ok(const char *owner) {
	if(*owner == '\0')
		return TRUE;
	if(strlen(owner) != OWNER_HEX)
		return FALSE;
	for(const char *c = owner; *c; c++) {
		if(!g_ascii_isxdigit(*c) || g_ascii_isupper(*c))
			return FALSE;
	}
	return TRUE;
}

/* Node ids: cluster_config.h's alphabet, checked here too so that nothing else reaches a log line or a key */
static gboolean node_ok(const char *node) {
	size_t n = strlen(node);
	if(n > 64)
		return FALSE;
	for(const char *c = node; *c; c++) {
		if(!g_ascii_isalnum(*c) && *c != '.' && *c != '_' && *c != '-')
			return FALSE;
	}
	return TRUE;
}

static gboolean kind_ok(int kind) {
	return kind == P2PLINK_REMOTE_RELAY || kind == P2PLINK_REMOTE_LEAVE || kind == P2PLINK_REMOTE_NOTICE ||
		kind == P2PLINK_REMOTE_KICK;
}

/* The ids a kind must carry, and the frame types it may carry */
static gboolean fields_ok(const p2plink_remote_frame *f) {
	switch(f->kind) {
		case P2PLINK_REMOTE_RELAY:
			return p2plink_id_is_valid(f->src) && *f->src_owner != '\0' && (f->type == P2PLINK_MSG_OFFER ||
				f->type == P2PLINK_MSG_ANSWER || f->type == P2PLINK_MSG_CANDIDATE || f->type == P2PLINK_MSG_LEAVE ||
				f->type == P2PLINK_MSG_EXPIRE);
		case P2PLINK_REMOTE_LEAVE:
			return p2plink_id_is_valid(f->src) && f->type == P2PLINK_MSG_LEAVE;
		default:
			return TRUE;
	}
}

gboolean p2plink_remote_frame_decode(const char *body, size_t len, p2plink_remote_frame *frame) {
	memset(frame, 0, sizeof(*frame));
	size_t pos = MAGIC_LEN + 2;
	if(body == NULL || len < pos || memcmp(body, MAGIC, MAGIC_LEN) != 0 || !kind_ok((unsigned char)body[4]))
		return FALSE;
	frame->kind = (p2plink_remote_kind)(unsigned char)body[4];
	frame->type = (p2plink_msg_type)(unsigned char)body[5];
	guint64 be;
	if(!get_string(body, len, &pos, &frame->src) || !get_string(body, len, &pos, &frame->src_owner) ||
			!get_string(body, len, &pos, &frame->grant) || !get_string(body, len, &pos, &frame->origin) ||
			len - pos < 16)
		goto bad;
	memcpy(&be, body + pos, 8);
	pos += 8;
	frame->queued_since = (gint64)GUINT64_FROM_BE(be);
	memcpy(&be, body + pos, 8);
	pos += 8;
	frame->seq = GUINT64_FROM_BE(be);
	frame->len = len - pos;
	if(!owner_ok(frame->src_owner) || !owner_ok(frame->grant) || !fields_ok(frame) ||
			(*frame->origin != '\0' && !node_ok(frame->origin)) ||
			!p2plink_text_is_utf8(body + pos, frame->len))
		goto bad;
	frame->text = g_strndup(body + pos, frame->len);
	return TRUE;
bad:
	p2plink_remote_frame_clear(frame);
	return FALSE;
}

void p2plink_remote_frame_clear(p2plink_remote_frame *frame) {
	g_clear_pointer(&frame->src, g_free);
	g_clear_pointer(&frame->src_owner, g_free);
	g_clear_pointer(&frame->grant, g_free);
	g_clear_pointer(&frame->origin, g_free);
	g_clear_pointer(&frame->text, g_free);
	frame->len = 0;
}
