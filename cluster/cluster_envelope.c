/*
 * cluster_envelope.c — encode and decode cross-node envelopes. See cluster_envelope.h. Pure.
 */

#include <string.h>

#include "cluster_envelope.h"

#define MAGIC_LEN 4

static void put_part(GString *out, const char *part, size_t len) {
	guint32 be = GUINT32_TO_BE((guint32)len);
	g_string_append_len(out, (const char *)&be, 4);
	g_string_append_len(out, part, len);
}

char *p2plink_cluster_envelope_encode(char kind, const char *src_node, const char *dst_id,
		const char *body, size_t body_len, size_t *out_len) {
	size_t src_len = strlen(src_node), dst_len = strlen(dst_id);
	GString *out = g_string_sized_new(MAGIC_LEN + 1 + 12 + src_len + dst_len + body_len);
	g_string_append_len(out, P2PLINK_CLUSTER_ENVELOPE_MAGIC, MAGIC_LEN);
	g_string_append_c(out, kind);
	put_part(out, src_node, src_len);
	put_part(out, dst_id, dst_len);
	put_part(out, body, body_len);
	*out_len = out->len;
	return g_string_free(out, FALSE);
}

/* One length-prefixed part at *pos; FALSE when it runs past the end */
static gboolean get_part(const char *buf, size_t len, size_t *pos, const char **part, size_t *part_len) {
	guint32 be;
	if(len - *pos < 4)
		return FALSE;
	memcpy(&be, buf + *pos, 4);
	*pos += 4;
	size_t n = GUINT32_FROM_BE(be);
	if(len - *pos < n)
		return FALSE;
	*part = buf + *pos;
	*part_len = n;
	*pos += n;
	return TRUE;
}

gboolean p2plink_cluster_envelope_decode(const char *buf, size_t len, p2plink_cluster_envelope *env) {
	memset(env, 0, sizeof(*env));
	if(buf == NULL || len < MAGIC_LEN + 1 || memcmp(buf, P2PLINK_CLUSTER_ENVELOPE_MAGIC, MAGIC_LEN))
		return FALSE;
	env->kind = buf[MAGIC_LEN];
	if(env->kind != P2PLINK_CLUSTER_ENVELOPE_FRAME && env->kind != P2PLINK_CLUSTER_ENVELOPE_DROP)
		return FALSE;
	size_t pos = MAGIC_LEN + 1;
	if(!get_part(buf, len, &pos, &env->src_node, &env->src_node_len)
			|| !get_part(buf, len, &pos, &env->dst_id, &env->dst_id_len)
			|| !get_part(buf, len, &pos, &env->body, &env->body_len))
		return FALSE;
	return pos == len;
}
