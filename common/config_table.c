/*! \file   config_table.c
 * \brief  Configuration as a table: defaults, parsing and range checks for every row (see config_table.h)
 * \details What this file is for: the one loop over a module's options. What it is not for: reading files (the
 * lookup callback), the module's own cross-option checks.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_table.h"

static gboolean parse_bool(const char *text, gboolean *value) {
	/* The words janus_is_true accepts, and their opposites: anything else is a typo worth reporting */
	static const char *yes[] = { "true", "yes", "1", NULL }, *no[] = { "false", "no", "0", NULL };
	for(guint i = 0; yes[i] != NULL; i++) {
		if(!g_ascii_strcasecmp(text, yes[i])) {
			*value = TRUE;
			return TRUE;
		}
		if(!g_ascii_strcasecmp(text, no[i])) {
			*value = FALSE;
			return TRUE;
		}
	}
	return FALSE;
}

static gboolean parse_int(const char *text, gint64 min, gint64 max, gint64 *value) {
	char *end = NULL;
	errno = 0;
	long long parsed = strtoll(text, &end, 10);
	if(errno != 0 || end == text || *end != '\0' || parsed < min || parsed > max)
		return FALSE;
	*value = parsed;
	return TRUE;
}

gboolean p2plink_config_parse(const p2plink_config_option *row, const char *text, void *out) {
	gint64 i = 0;
	gboolean b = FALSE;
	switch(row->type) {
		case P2PLINK_CONFIG_INT:
			if(!parse_int(text, row->min, row->max, &i))
				return FALSE;
			if(out != NULL)
				*(gint64 *)out = i;
			return TRUE;
		case P2PLINK_CONFIG_BOOL:
			if(!parse_bool(text, &b))
				return FALSE;
			if(out != NULL)
				*(gboolean *)out = b;
			return TRUE;
		case P2PLINK_CONFIG_ENUM:
			for(int n = 0; row->choices != NULL && row->choices[n] != NULL; n++) {
				if(!strcmp(row->choices[n], text)) {
					if(out != NULL)
						*(int *)out = n;
					return TRUE;
				}
			}
			return FALSE;
		case P2PLINK_CONFIG_STRING:
		default:
			return TRUE;
	}
}

static char *expected(const p2plink_config_option *row) {
	switch(row->type) {
		case P2PLINK_CONFIG_INT:
			return g_strdup_printf("an integer between %"G_GINT64_FORMAT" and %"G_GINT64_FORMAT, row->min, row->max);
		case P2PLINK_CONFIG_BOOL:
			return g_strdup("true or false");
		case P2PLINK_CONFIG_ENUM: {
			GString *s = g_string_new("one of");
			for(int n = 0; row->choices[n] != NULL; n++)
				g_string_append_printf(s, "%s \"%s\"", n ? "," : "", row->choices[n]);
			return g_string_free(s, FALSE);
		}
		case P2PLINK_CONFIG_STRING:
		default:
			return g_strdup("text");
	}
}

static gboolean set_value(const p2plink_config_option *row, void *target, const char *text) {
	void *field = (char *)target + row->offset;
	if(row->type == P2PLINK_CONFIG_STRING) {
		char **s = field;
		g_free(*s);
		*s = text != NULL ? g_strdup(text) : NULL;
		return TRUE;
	}
	return text == NULL || p2plink_config_parse(row, text, field);
}

guint p2plink_config_apply(const p2plink_config_option *table, guint rows, void *target,
		p2plink_config_lookup lookup, void *ctx, GPtrArray *errors) {
	guint bad = 0;
	for(guint i = 0; i < rows; i++) {
		const p2plink_config_option *row = &table[i];
		/* A default that does not parse is a bug in the table: tests/unit checks every row's */
		set_value(row, target, row->default_value);
		const char *text = lookup != NULL ? lookup(ctx, row->category, row->name) : NULL;
		if(text == NULL || set_value(row, target, text))
			continue;
		char *want = expected(row);
		bad += p2plink_config_report(errors, g_strdup_printf("%s.%s = '%s': expected %s", row->category, row->name,
			text, want));
		g_free(want);
	}
	return bad;
}

guint p2plink_config_report(GPtrArray *errors, char *sentence) {
	if(errors != NULL)
		g_ptr_array_add(errors, sentence);
	else
		g_free(sentence);
	return 1;
}

void p2plink_config_clear(const p2plink_config_option *table, guint rows, void *target) {
	for(guint i = 0; i < rows; i++) {
		if(table[i].type == P2PLINK_CONFIG_STRING)
			g_clear_pointer((char **)((char *)target + table[i].offset), g_free);
	}
}

const p2plink_config_option *p2plink_config_find(const p2plink_config_option *table, guint rows,
		const char *category, const char *name) {
	for(guint i = 0; i < rows; i++) {
		if(!strcmp(table[i].category, category) && !strcmp(table[i].name, name))
			return &table[i];
	}
	return NULL;
}

const char *p2plink_config_hash_lookup(void *hash_table, const char *category, const char *name) {
	char *key = g_strdup_printf("%s.%s", category, name);
	const char *value = g_hash_table_lookup(hash_table, key);
	g_free(key);
	return value;
}
