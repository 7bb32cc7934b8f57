/*
 * test_peerjs_config.c — the transport's option table (transports/peerjs_config.c, common/config_table.c) and
 * conf/janus.transport.peerjs.jcfg.sample: every option the sample shows is a row and every row is in the
 * sample with its default (or, for paths and lists, an example), so the two cannot drift; every bad option is
 * reported, not only the first.
 *
 * The sample's options are all commented out ("#port = 9000"), which Janus's parser (not linkable here anyway)
 * would skip: the reader below takes exactly the sample's "<tab>#name = value" lines inside "category: {".
 */

#include <string.h>

#include <glib.h>

#include "peerjs_config.h"

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

static GPtrArray *read_sample(void) {
	char *path = g_build_filename(P2PLINK_SRCDIR, "conf", "janus.transport.peerjs.jcfg.sample", NULL);
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

static void test_config_every_sample_option_is_a_row(void) {
	GPtrArray *sample = read_sample();
	g_assert_cmpuint(sample->len, >, 20);
	for(guint i = 0; i < sample->len; i++) {
		sample_option *o = g_ptr_array_index(sample, i);
		const p2plink_config_option *row = p2plink_config_find(peerjs_config_options, peerjs_config_option_count,
			o->category, o->name);
		if(row == NULL)
			g_error("the sample shows %s.%s, which is no row of peerjs_config_options", o->category, o->name);
		/* The value shown must at least be a valid one */
		if(!p2plink_config_parse(row, o->value, NULL))
			g_error("the sample's %s.%s = %s does not parse", o->category, o->name, o->value);
	}
	g_ptr_array_free(sample, TRUE);
}

static void test_config_every_row_is_in_the_sample_with_its_default(void) {
	GPtrArray *sample = read_sample();
	for(guint r = 0; r < peerjs_config_option_count; r++) {
		const p2plink_config_option *row = &peerjs_config_options[r];
		sample_option *found = NULL;
		for(guint i = 0; i < sample->len && found == NULL; i++) {
			sample_option *o = g_ptr_array_index(sample, i);
			if(!strcmp(o->category, row->category) && !strcmp(o->name, row->name))
				found = o;
		}
		if(found == NULL)
			g_error("%s.%s is not in the sample", row->category, row->name);
		if(row->sample_is_example) {
			g_assert_null(row->default_value);
			continue;
		}
		g_assert_nonnull(row->default_value);
		if(strcmp(found->value, row->default_value) != 0)
			g_error("%s.%s: the sample says %s, the table's default is %s", row->category, row->name, found->value,
				row->default_value);
	}
	g_ptr_array_free(sample, TRUE);
}

static void test_config_every_default_parses(void) {
	for(guint r = 0; r < peerjs_config_option_count; r++) {
		const p2plink_config_option *row = &peerjs_config_options[r];
		if(row->default_value != NULL && !p2plink_config_parse(row, row->default_value, NULL))
			g_error("%s.%s: default %s does not parse", row->category, row->name, row->default_value);
	}
}

static GHashTable *values(const char *first, ...) G_GNUC_NULL_TERMINATED;
static GHashTable *values(const char *first, ...) {
	GHashTable *h = g_hash_table_new(g_str_hash, g_str_equal);
	va_list args;
	va_start(args, first);
	for(const char *key = first; key != NULL; key = va_arg(args, const char *))
		g_hash_table_insert(h, (gpointer)key, va_arg(args, char *));
	va_end(args);
	return h;
}

static void test_config_defaults_when_nothing_is_set(void) {
	peerjs_config c;
	GHashTable *h = values("certificates.cert_pem", "c.pem", "certificates.cert_key", "c.key", NULL);
	g_assert_cmpuint(peerjs_config_load(&c, p2plink_config_hash_lookup, h, NULL), ==, 0);
	g_assert_cmpint(c.port, ==, 9000);
	g_assert_true(c.secure);
	g_assert_cmpstr(c.mount_path, ==, "/");
	g_assert_cmpstr(c.key, ==, "peerjs");
	g_assert_cmpint(c.event_loop, ==, PEERJS_LOOP_LIBUV);
	g_assert_cmpint(c.write_queue_max_bytes, ==, 4194304);
	g_assert_cmpint(c.ipv6_prefix, ==, 64);
	g_assert_true(c.stun_enabled);
	g_assert_null(c.cors);
	g_assert_null(c.html_root);
	peerjs_config_clear(&c);
	g_hash_table_destroy(h);
}

static void test_config_values_and_derived_lists(void) {
	peerjs_config c;
	GHashTable *h = values("general.port", "8443", "general.secure", "false", "general.path", "app",
		"general.cors_origins", "https://a.example, https://b.example", "general.event_loop", "poll",
		"general.trusted_proxies", "127.0.0.1, 10.0.0.0/8", "general.html_folder", "", "ice.lan_only", "yes",
		"stun.global_burst", "5", NULL);
	g_assert_cmpuint(peerjs_config_load(&c, p2plink_config_hash_lookup, h, NULL), ==, 0);
	g_assert_cmpint(c.port, ==, 8443);
	g_assert_false(c.secure);
	g_assert_cmpstr(c.mount_path, ==, "/app/");
	g_assert_cmpstr(c.cors[1], ==, "https://b.example");
	g_assert_cmpint(c.event_loop, ==, PEERJS_LOOP_POLL);
	g_assert_cmpstr(c.proxies[1], ==, "10.0.0.0/8");
	g_assert_null(c.html_root);
	/* lan_only turns the STUN responder off */
	g_assert_false(c.stun_enabled);
	g_assert_cmpint(c.stun_global_burst, ==, 5);
	peerjs_config_clear(&c);
	g_hash_table_destroy(h);
}

static void test_config_every_bad_option_is_reported(void) {
	peerjs_config c;
	GHashTable *h = values("general.port", "0", "general.max_frame_size", "big", "general.secure", "maybe",
		"general.event_loop", "epoll", "general.trusted_proxies", "10.0.0.0/8, not-a-cidr", "stun.port", "70000",
		NULL);
	GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);
	/* 5 bad values, one bad list entry, and secure (left at its default, true) without certificates */
	g_assert_cmpuint(peerjs_config_load(&c, p2plink_config_hash_lookup, h, errors), ==, 7);
	g_assert_cmpuint(errors->len, ==, 7);
	GString *all = g_string_new(NULL);
	for(guint i = 0; i < errors->len; i++)
		g_string_append_printf(all, "%s\n", (char *)g_ptr_array_index(errors, i));
	g_assert_nonnull(strstr(all->str, "general.port = '0': expected an integer between 1 and 65535"));
	g_assert_nonnull(strstr(all->str, "general.max_frame_size = 'big'"));
	g_assert_nonnull(strstr(all->str, "general.secure = 'maybe': expected true or false"));
	g_assert_nonnull(strstr(all->str, "general.event_loop = 'epoll': expected one of \"poll\", \"libuv\""));
	g_assert_nonnull(strstr(all->str, "'not-a-cidr' is not an address or CIDR"));
	g_assert_nonnull(strstr(all->str, "stun.port = '70000'"));
	g_assert_nonnull(strstr(all->str, "needs certificates.cert_pem"));
	/* A bad value leaves the default */
	g_assert_cmpint(c.port, ==, 9000);
	g_string_free(all, TRUE);
	g_ptr_array_free(errors, TRUE);
	peerjs_config_clear(&c);
	g_hash_table_destroy(h);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/peerjs_config/every_sample_option_is_a_row", test_config_every_sample_option_is_a_row);
	g_test_add_func("/peerjs_config/every_row_is_in_the_sample_with_its_default",
		test_config_every_row_is_in_the_sample_with_its_default);
	g_test_add_func("/peerjs_config/every_default_parses", test_config_every_default_parses);
	g_test_add_func("/peerjs_config/defaults_when_nothing_is_set", test_config_defaults_when_nothing_is_set);
	g_test_add_func("/peerjs_config/values_and_derived_lists", test_config_values_and_derived_lists);
	g_test_add_func("/peerjs_config/every_bad_option_is_reported", test_config_every_bad_option_is_reported);
	return g_test_run();
}
