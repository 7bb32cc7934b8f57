/*
 * jcfg_sample.h — reads a conf/NAME.jcfg.sample and checks it against a module's option table (common/config_table.h),
 * for test_peerjs_config.c and test_p2plink_config.c: every option the sample shows is a row and every row is in
 * the sample with its default (or, for paths and lists, an example), so the sample and the table cannot drift.
 * Not for checking the values themselves (each test does that for its module).
 *
 * The samples' options are all commented out ("#port = 9000"), which Janus's parser (not linkable here anyway)
 * would skip: the reader takes exactly the samples' "<tab>#name = value" lines inside "category: {".
 * Static functions in a header: each test program is one source file (needs P2PLINK_SRCDIR).
 */

#ifndef P2PLINK_TEST_JCFG_SAMPLE_H
#define P2PLINK_TEST_JCFG_SAMPLE_H

#include <string.h>

#include <glib.h>

#include "config_table.h"

typedef struct sample_option {
	char *category, *name, *value;
} sample_option;

static void sample_option_free(gpointer data) {
	sample_option *o = data;
	g_free(o->category);
	g_free(o->name);
	g_free(o->value);
	g_free(o);
}

/* The options of conf/<file> */
static GPtrArray *read_sample(const char *file) {
	char *path = g_build_filename(P2PLINK_SRCDIR, "conf", file, NULL);
	char *text = NULL;
	GError *error = NULL;
	g_assert_true(g_file_get_contents(path, &text, NULL, &error));
	g_assert_no_error(error);
	GRegex *category = g_regex_new("^([a-z_]+): \\{$", 0, 0, NULL);
	GRegex *option = g_regex_new("^\\t#?([a-z_0-9]+) = (\"?)(.*)\\2$", 0, 0, NULL);
	GPtrArray *options = g_ptr_array_new_with_free_func(sample_option_free);
	char **lines = g_strsplit(text, "\n", -1);
	char *current = NULL;
	for(char **line = lines; *line; line++) {
		GMatchInfo *m = NULL;
		if(g_regex_match(category, *line, 0, &m)) {
			g_free(current);
			current = g_match_info_fetch(m, 1);
			g_match_info_free(m);
			continue;
		}
		/* g_regex_match hands out a match info even when nothing matched */
		g_match_info_free(m);
		m = NULL;
		if(g_regex_match(option, *line, 0, &m)) {
			g_assert_nonnull(current);
			sample_option *o = g_new0(sample_option, 1);
			o->category = g_strdup(current);
			o->name = g_match_info_fetch(m, 1);
			o->value = g_match_info_fetch(m, 3);
			g_ptr_array_add(options, o);
		}
		g_match_info_free(m);
	}
	g_free(current);
	g_strfreev(lines);
	g_regex_unref(category);
	g_regex_unref(option);
	g_free(text);
	g_free(path);
	return options;
}

/* Every option the sample shows is a row, and the value shown parses; returns how many options it shows */
static G_GNUC_UNUSED guint check_sample_options_are_rows(const char *file, const p2plink_config_option *table,
		guint rows) {
	GPtrArray *sample = read_sample(file);
	guint shown = sample->len;
	for(guint i = 0; i < sample->len; i++) {
		sample_option *o = g_ptr_array_index(sample, i);
		const p2plink_config_option *row = p2plink_config_find(table, rows, o->category, o->name);
		if(row == NULL)
			g_error("%s shows %s.%s, which is no row of the table", file, o->category, o->name);
		/* The value shown must at least be a valid one */
		if(!p2plink_config_parse(row, o->value, NULL))
			g_error("%s: %s.%s = %s does not parse", file, o->category, o->name, o->value);
	}
	g_ptr_array_free(sample, TRUE);
	return shown;
}

/* Every row is in the sample, with its default unless the sample shows an example */
static G_GNUC_UNUSED void check_rows_are_in_sample(const char *file, const p2plink_config_option *table,
		guint rows) {
	GPtrArray *sample = read_sample(file);
	for(guint r = 0; r < rows; r++) {
		const p2plink_config_option *row = &table[r];
		sample_option *found = NULL;
		for(guint i = 0; i < sample->len && found == NULL; i++) {
			sample_option *o = g_ptr_array_index(sample, i);
			if(!strcmp(o->category, row->category) && !strcmp(o->name, row->name))
				found = o;
		}
		if(found == NULL)
			g_error("%s.%s is not in %s", row->category, row->name, file);
		if(row->sample_is_example) {
			g_assert_null(row->default_value);
			continue;
		}
		g_assert_nonnull(row->default_value);
		if(strcmp(found->value, row->default_value) != 0)
			g_error("%s.%s: %s says %s, the table's default is %s", row->category, row->name, file, found->value,
				row->default_value);
	}
	g_ptr_array_free(sample, TRUE);
}

/* Every default parses as its row's type (a default that does not would be a bug in the table) */
static G_GNUC_UNUSED void check_defaults_parse(const p2plink_config_option *table, guint rows) {
	for(guint r = 0; r < rows; r++) {
		const p2plink_config_option *row = &table[r];
		if(row->default_value != NULL && !p2plink_config_parse(row, row->default_value, NULL))
			g_error("%s.%s: default %s does not parse", row->category, row->name, row->default_value);
	}
}

/* A lookup table for p2plink_config_hash_lookup: "category.name", value, ..., NULL */
static G_GNUC_UNUSED G_GNUC_NULL_TERMINATED GHashTable *values(const char *first, ...) {
	GHashTable *h = g_hash_table_new(g_str_hash, g_str_equal);
	va_list args;
	va_start(args, first);
	for(const char *key = first; key != NULL; key = va_arg(args, const char *))
		g_hash_table_insert(h, (gpointer)key, va_arg(args, char *));
	va_end(args);
	return h;
}

/* All sentences of an error list, one a line (for strstr) */
static G_GNUC_UNUSED char *joined_errors(GPtrArray *errors) {
	GString *all = g_string_new(NULL);
	for(guint i = 0; i < errors->len; i++)
		g_string_append_printf(all, "%s\n", (char *)g_ptr_array_index(errors, i));
	return g_string_free(all, FALSE);
}

#endif
