/*
 * test_peerjs_config.c — the transport's option table (transports/peerjs_config.c, common/config_table.c) and
 * conf/janus.transport.peerjs.jcfg.sample: every option the sample shows is a row and every row is in the
 * sample with its default (or, for paths and lists, an example), so the two cannot drift; every bad option is
 * reported, not only the first.
 *
 * The sample reader and the sample/table checks are shared with test_p2plink_config.c (jcfg_sample.h).
 */

#include <string.h>

#include <glib.h>

#include "peerjs_config.h"
#include "jcfg_sample.h"

#define SAMPLE "janus.transport.peerjs.jcfg.sample"

static void test_config_every_sample_option_is_a_row(void) {
	g_assert_cmpuint(check_sample_options_are_rows(SAMPLE, peerjs_config_options, peerjs_config_option_count), >,
		20);
}

static void test_config_every_row_is_in_the_sample_with_its_default(void) {
	check_rows_are_in_sample(SAMPLE, peerjs_config_options, peerjs_config_option_count);
}

static void test_config_every_default_parses(void) {
	check_defaults_parse(peerjs_config_options, peerjs_config_option_count);
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
	char *all = joined_errors(errors);
	g_assert_nonnull(strstr(all, "general.port = '0': expected an integer between 1 and 65535"));
	g_assert_nonnull(strstr(all, "general.max_frame_size = 'big'"));
	g_assert_nonnull(strstr(all, "general.secure = 'maybe': expected true or false"));
	g_assert_nonnull(strstr(all, "general.event_loop = 'epoll': expected one of \"poll\", \"libuv\""));
	g_assert_nonnull(strstr(all, "'not-a-cidr' is not an address or CIDR"));
	g_assert_nonnull(strstr(all, "stun.port = '70000'"));
	g_assert_nonnull(strstr(all, "needs certificates.cert_pem"));
	/* A bad value leaves the default */
	g_assert_cmpint(c.port, ==, 9000);
	g_free(all);
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
