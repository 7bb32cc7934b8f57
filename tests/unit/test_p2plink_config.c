/*
 * test_p2plink_config.c — the plugin's option table (plugins/janus_p2plink/p2plink_config.c) and
 * conf/janus.plugin.p2plink.jcfg.sample: every option the sample shows is a row and every row is in the sample
 * with its default (jcfg_sample.h, shared with test_peerjs_config.c); the values reach the registry and the link
 * service in their units; every bad option is reported, not only the first, and leaves its default.
 */

#include <string.h>

#include <glib.h>

#include "p2plink_config.h"
#include "jcfg_sample.h"

#define SAMPLE "janus.plugin.p2plink.jcfg.sample"

static void test_config_every_sample_option_is_a_row(void) {
	g_assert_cmpuint(check_sample_options_are_rows(SAMPLE, p2plink_plugin_config_options,
		p2plink_plugin_config_option_count), ==, p2plink_plugin_config_option_count);
}

static void test_config_every_row_is_in_the_sample_with_its_default(void) {
	check_rows_are_in_sample(SAMPLE, p2plink_plugin_config_options, p2plink_plugin_config_option_count);
}

static void test_config_every_default_parses(void) {
	check_defaults_parse(p2plink_plugin_config_options, p2plink_plugin_config_option_count);
}

/* The table's defaults are the registry's own (p2plink_registry_config_defaults): no file = no change */
static void test_config_defaults_are_the_registry_defaults(void) {
	p2plink_plugin_config c;
	g_assert_cmpuint(p2plink_plugin_config_load(&c, NULL, NULL, NULL), ==, 0);
	p2plink_registry_config built, defaults;
	/* Padding too, for the byte comparison */
	memset(&built, 0, sizeof(built));
	memset(&defaults, 0, sizeof(defaults));
	p2plink_registry_config_defaults(&defaults);
	p2plink_registry_config_defaults(&built);
	p2plink_plugin_config_registry(&c, &built);
	g_assert_cmpmem(&built, sizeof(built), &defaults, sizeof(defaults));
	g_assert_true(c.events);
	g_assert_cmpint(c.store, ==, P2PLINK_STORE_SQLITE);
	g_assert_cmpstr(c.store_name, ==, "sqlite");
	g_assert_cmpstr(c.store_folder, ==, "/var/lib/p2plink");
	g_assert_cmpint(c.mongodb_timeout_ms, ==, 2000);
	g_assert_cmpint(c.link_retention_s, ==, 7 * 86400);
	g_assert_cmpint(c.prune_interval_s, ==, 60);
	p2plink_link_service_config lc;
	p2plink_plugin_config_links(&c, &lc);
	g_assert_cmpint(lc.admin_limits.max_ttl_seconds, ==, 30 * 86400);
	g_assert_cmpint(lc.admin_limits.default_ttl_seconds, ==, 86400);
	g_assert_cmpint(lc.peer_limits.max_ttl_seconds, ==, 86400);
	g_assert_cmpint(lc.peer_limits.default_ttl_seconds, ==, 3600);
	g_assert_cmpuint(lc.max_links_per_peer, ==, 20);
	g_assert_null(lc.public_url);
	g_assert_false(lc.private_click_ips);
	p2plink_plugin_config_clear(&c);
}

static void test_config_values_in_their_units(void) {
	p2plink_plugin_config c;
	GHashTable *h = values("general.expire_timeout", "250", "general.id_grace", "0", "general.frame_rate", "0",
		"general.frame_burst", "7", "general.events", "no", "links.store", "mongodb", "links.peer_max_ttl", "2h",
		"links.click_retention", "90", "links.public_url", "https://p2p.example.org/", "links.click_ip_privacy",
		"yes", NULL);
	g_assert_cmpuint(p2plink_plugin_config_load(&c, p2plink_config_hash_lookup, h, NULL), ==, 0);
	p2plink_registry_config r;
	p2plink_registry_config_defaults(&r);
	p2plink_plugin_config_registry(&c, &r);
	g_assert_cmpint(r.expire_timeout, ==, 250 * G_TIME_SPAN_MILLISECOND);
	g_assert_cmpint(r.id_grace, ==, 0);
	g_assert_cmpfloat(r.frame_rate.per_second, ==, 0);
	g_assert_cmpfloat(r.frame_rate.burst, ==, 7);
	g_assert_false(c.events);
	g_assert_cmpstr(c.store_name, ==, "mongodb");
	g_assert_cmpint(c.click_retention_s, ==, 90);
	p2plink_link_service_config lc;
	p2plink_plugin_config_links(&c, &lc);
	g_assert_cmpint(lc.peer_limits.max_ttl_seconds, ==, 7200);
	/* No trailing slash: answers append "/l/<token>" */
	g_assert_cmpstr(lc.public_url, ==, "https://p2p.example.org");
	g_assert_true(lc.private_click_ips);
	p2plink_plugin_config_clear(&c);
	g_hash_table_destroy(h);
	/* Empty public_url: unset */
	h = values("links.public_url", "", NULL);
	g_assert_cmpuint(p2plink_plugin_config_load(&c, p2plink_config_hash_lookup, h, NULL), ==, 0);
	g_assert_null(c.public_url_base);
	p2plink_plugin_config_clear(&c);
	g_hash_table_destroy(h);
}

static void test_config_every_bad_option_is_reported(void) {
	p2plink_plugin_config c;
	/* Before the table the plugin stopped at the first; events and click_ip_privacy took any word as false */
	GHashTable *h = values("general.expire_timeout", "50", "general.concurrent_limit", "many",
		"general.events", "maybe", "links.store", "redis", "links.admin_max_ttl", "forever",
		"links.prune_interval", "0", "links.click_ip_privacy", "sometimes", "links.max_links_per_peer", "-1", NULL);
	GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);
	g_assert_cmpuint(p2plink_plugin_config_load(&c, p2plink_config_hash_lookup, h, errors), ==, 8);
	g_assert_cmpuint(errors->len, ==, 8);
	char *all = joined_errors(errors);
	g_assert_nonnull(strstr(all, "general.expire_timeout = '50': expected an integer between 100 and 3600000"));
	g_assert_nonnull(strstr(all, "general.concurrent_limit = 'many'"));
	g_assert_nonnull(strstr(all, "general.events = 'maybe': expected true or false"));
	g_assert_nonnull(strstr(all, "links.store = 'redis': expected one of \"sqlite\", \"mongodb\""));
	g_assert_nonnull(strstr(all, "links.admin_max_ttl = 'forever': "));
	g_assert_nonnull(strstr(all, "links.prune_interval = '0': "));
	g_assert_nonnull(strstr(all, "links.click_ip_privacy = 'sometimes'"));
	g_assert_nonnull(strstr(all, "links.max_links_per_peer = '-1'"));
	/* A bad value leaves the default */
	g_assert_cmpint(c.expire_timeout, ==, 5000);
	g_assert_cmpint(c.admin_max_ttl_s, ==, 30 * 86400);
	g_assert_cmpint(c.prune_interval_s, ==, 60);
	g_assert_cmpstr(c.store_name, ==, "sqlite");
	g_free(all);
	g_ptr_array_free(errors, TRUE);
	p2plink_plugin_config_clear(&c);
	g_hash_table_destroy(h);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/p2plink_config/every_sample_option_is_a_row", test_config_every_sample_option_is_a_row);
	g_test_add_func("/p2plink_config/every_row_is_in_the_sample_with_its_default",
		test_config_every_row_is_in_the_sample_with_its_default);
	g_test_add_func("/p2plink_config/every_default_parses", test_config_every_default_parses);
	g_test_add_func("/p2plink_config/defaults_are_the_registry_defaults",
		test_config_defaults_are_the_registry_defaults);
	g_test_add_func("/p2plink_config/values_in_their_units", test_config_values_in_their_units);
	g_test_add_func("/p2plink_config/every_bad_option_is_reported", test_config_every_bad_option_is_reported);
	return g_test_run();
}
