/*
 * test_ratelimit.c — token buckets, client-network keys and the bounded LRU per-network table (ratelimit.c).
 */

#include "ratelimit.h"

#define SEC G_USEC_PER_SEC

static void test_bucket_allows_burst_then_refills_at_rate(void) {
	p2plink_rate rate = { 2, 4 };
	p2plink_bucket b;
	p2plink_bucket_init(&b, &rate, 0);
	for(int i = 0; i < 4; i++)
		g_assert_true(p2plink_bucket_take(&b, &rate, 0));
	g_assert_false(p2plink_bucket_take(&b, &rate, 0));
	g_assert_false(p2plink_bucket_take(&b, &rate, SEC / 4));	/* half a token */
	g_assert_true(p2plink_bucket_take(&b, &rate, SEC / 2));	/* one token */
	g_assert_false(p2plink_bucket_take(&b, &rate, SEC / 2));
	/* Never more than the burst, however long the pause */
	for(int i = 0; i < 4; i++)
		g_assert_true(p2plink_bucket_take(&b, &rate, 100 * SEC));
	g_assert_false(p2plink_bucket_take(&b, &rate, 100 * SEC));
}

static void test_zero_rate_means_no_limit(void) {
	p2plink_rate rate = { 0, 0 };
	p2plink_bucket b;
	p2plink_bucket_init(&b, &rate, 0);
	for(int i = 0; i < 1000; i++)
		g_assert_true(p2plink_bucket_take(&b, &rate, 0));
}

static void test_table_keys_are_independent(void) {
	p2plink_rate rate = { 1, 2 };
	p2plink_rate_table *t = p2plink_rate_table_new(&rate, 100);
	g_assert_true(p2plink_rate_table_take(t, "10.0.0.1", 0));
	g_assert_true(p2plink_rate_table_take(t, "10.0.0.1", 0));
	g_assert_false(p2plink_rate_table_take(t, "10.0.0.1", 0));
	g_assert_true(p2plink_rate_table_take(t, "10.0.0.2", 0));
	p2plink_rate_table_free(t);
}

static void test_table_full_evicts_least_recently_used_not_newcomers(void) {
	p2plink_rate rate = { 1, 2 };
	p2plink_rate_table *t = p2plink_rate_table_new(&rate, 2);
	g_assert_true(p2plink_rate_table_take(t, "10.0.0.1", 0));
	g_assert_true(p2plink_rate_table_take(t, "10.0.0.2", 0));
	/* 10.0.0.1 used again: 10.0.0.2 is now the oldest */
	g_assert_true(p2plink_rate_table_take(t, "10.0.0.1", 0));
	g_assert_false(p2plink_rate_table_take(t, "10.0.0.1", 0));
	/* Full of busy keys, still a newcomer gets its own full bucket at once */
	g_assert_true(p2plink_rate_table_take(t, "10.0.0.3", 0));
	g_assert_true(p2plink_rate_table_take(t, "10.0.0.3", 0));
	g_assert_cmpuint(p2plink_rate_table_size(t), ==, 2);
	/* The busy abuser was kept (still empty), the oldest idle key was the one forgotten */
	g_assert_false(p2plink_rate_table_take(t, "10.0.0.1", 0));
	g_assert_cmpuint(p2plink_rate_table_size(t), ==, 2);
	p2plink_rate_table_free(t);
}

static void test_table_one_attacker_network_cannot_lock_out_others(void) {
	/* The attack: one /64 cycling addresses as fast as it likes, table of 100 keys */
	p2plink_rate rate = { 1, 5 };
	p2plink_rate_table *t = p2plink_rate_table_new(&rate, 100);
	for(int i = 0; i < 100000; i++) {
		char ip[64];
		g_snprintf(ip, sizeof(ip), "2001:db8:1:2:%x:%x::1", i >> 16, i & 0xffff);
		p2plink_rate_table_take(t, ip, 0);
	}
	/* All of it was one key: the attacker's /64 */
	g_assert_cmpuint(p2plink_rate_table_size(t), ==, 1);
	g_assert_false(p2plink_rate_table_take(t, "2001:db8:1:2::99", 0));
	/* And everyone else still gets in */
	for(int i = 0; i < 500; i++) {
		char ip[32];
		g_snprintf(ip, sizeof(ip), "198.51.%d.%d", i / 250, i % 250 + 1);
		g_assert_true(p2plink_rate_table_take(t, ip, 0));
	}
	p2plink_rate_table_free(t);
}

static void test_table_eviction_is_constant_time(void) {
	/* 200,000 distinct newcomers into a full 1,000-key table: a scan per newcomer would be 2e8 steps */
	p2plink_rate rate = { 1, 2 };
	p2plink_rate_table *t = p2plink_rate_table_new(&rate, 1000);
	gint64 start = g_get_monotonic_time();
	for(int i = 0; i < 200000; i++) {
		char ip[32];
		g_snprintf(ip, sizeof(ip), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		g_assert_true(p2plink_rate_table_take(t, ip, 0));
	}
	gint64 took = g_get_monotonic_time() - start;
	g_assert_cmpuint(p2plink_rate_table_size(t), ==, 1000);
	g_test_message("200,000 newcomers into a full table: %" G_GINT64_FORMAT " ms", took / 1000);
	g_assert_cmpint(took, <, 20 * G_USEC_PER_SEC);
	p2plink_rate_table_free(t);
}

static void test_net_key_groups_ipv6_by_64_and_ipv4_by_address(void) {
	struct { const char *ip; const char *key; } cases[] = {
		{ "2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64" },
		{ "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64" },
		{ "2001:db8:1:3::1", "2001:db8:1:3::/64" },
		{ "::1", "::/64" },
		{ "198.51.100.7", "198.51.100.7/32" },
		{ "::ffff:198.51.100.7", "198.51.100.7/32" },
		{ "not an address", "not an address" },
	};
	for(size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		char *key = p2plink_net_key(cases[i].ip, P2PLINK_NET_PREFIX_V4, P2PLINK_NET_PREFIX_V6);
		g_assert_cmpstr(key, ==, cases[i].key);
		g_free(key);
	}
}

static void test_net_key_prefixes_are_configurable(void) {
	char *k = p2plink_net_key("198.51.100.7", 24, 48);
	g_assert_cmpstr(k, ==, "198.51.100.0/24");
	g_free(k);
	k = p2plink_net_key("2001:db8:1:2::1", 24, 48);
	g_assert_cmpstr(k, ==, "2001:db8:1::/48");
	g_free(k);
	k = p2plink_net_key("2001:db8:1:2::1", 24, 128);
	g_assert_cmpstr(k, ==, "2001:db8:1:2::1/128");
	g_free(k);
	k = p2plink_net_key("198.51.100.7", 40, 200);	/* clamped */
	g_assert_cmpstr(k, ==, "198.51.100.7/32");
	g_free(k);
	k = p2plink_net_key("198.51.100.7", 0, 0);
	g_assert_cmpstr(k, ==, "0.0.0.0/0");
	g_free(k);
}

static void test_table_counts_ipv6_per_64_ipv4_mapped_as_ipv4(void) {
	p2plink_rate rate = { 1, 2 };
	p2plink_rate_table *t = p2plink_rate_table_new(&rate, 100);
	g_assert_true(p2plink_rate_table_take(t, "2001:db8::1", 0));
	g_assert_true(p2plink_rate_table_take(t, "2001:db8::2", 0));
	g_assert_false(p2plink_rate_table_take(t, "2001:db8::ffff:3", 0));	/* same /64 */
	g_assert_true(p2plink_rate_table_take(t, "2001:db8:0:1::1", 0));		/* next /64 */
	g_assert_true(p2plink_rate_table_take(t, "192.0.2.1", 0));
	g_assert_true(p2plink_rate_table_take(t, "::ffff:192.0.2.1", 0));
	g_assert_false(p2plink_rate_table_take(t, "192.0.2.1", 0));
	g_assert_true(p2plink_rate_table_take(t, "192.0.2.2", 0));
	/* With a /128 prefix every IPv6 address is its own key again */
	p2plink_rate_table_set_prefixes(t, 32, 128);
	g_assert_true(p2plink_rate_table_take(t, "2001:db8::1", 0));
	p2plink_rate_table_free(t);
}

static void test_counter_caps_each_network_and_frees_on_remove(void) {
	p2plink_net_counter *c = p2plink_net_counter_new(2, 32, 64);
	char *k1 = NULL, *k2 = NULL, *k3 = NULL, *other = NULL;
	g_assert_true(p2plink_net_counter_add(c, "2001:db8::1", &k1));
	g_assert_true(p2plink_net_counter_add(c, "2001:db8::2", &k2));
	/* A third address of the same /64 is the same network: over the cap */
	g_assert_false(p2plink_net_counter_add(c, "2001:db8::ffff:3", &k3));
	g_assert_null(k3);
	g_assert_true(p2plink_net_counter_add(c, "2001:db8:0:1::1", &other));
	g_assert_cmpuint(p2plink_net_counter_get(c, "2001:db8::9"), ==, 2);
	p2plink_net_counter_remove(c, k1);
	g_assert_cmpuint(p2plink_net_counter_get(c, "2001:db8::9"), ==, 1);
	g_assert_true(p2plink_net_counter_add(c, "2001:db8::ffff:3", &k3));
	p2plink_net_counter_remove(c, k2);
	p2plink_net_counter_remove(c, k3);
	p2plink_net_counter_remove(c, other);
	g_assert_cmpuint(p2plink_net_counter_get(c, "2001:db8::9"), ==, 0);
	g_free(k1);
	g_free(k2);
	g_free(k3);
	g_free(other);
	p2plink_net_counter_free(c);
}

static void test_counter_per_24_option_groups_ipv4_networks(void) {
	p2plink_net_counter *c = p2plink_net_counter_new(1, 24, 64);
	char *k1 = NULL, *k2 = NULL;
	g_assert_true(p2plink_net_counter_add(c, "198.51.100.7", &k1));
	g_assert_false(p2plink_net_counter_add(c, "198.51.100.200", &k2));
	g_assert_true(p2plink_net_counter_add(c, "198.51.101.7", &k2));
	g_free(k1);
	g_free(k2);
	p2plink_net_counter_free(c);
	/* 0 = count, never refuse */
	c = p2plink_net_counter_new(0, 32, 64);
	for(int i = 0; i < 5000; i++) {
		char *k = NULL;
		g_assert_true(p2plink_net_counter_add(c, "192.0.2.1", &k));
		g_free(k);
	}
	g_assert_cmpuint(p2plink_net_counter_get(c, "192.0.2.1"), ==, 5000);
	p2plink_net_counter_free(c);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ratelimit/bucket/allows_burst_then_refills_at_rate", test_bucket_allows_burst_then_refills_at_rate);
	g_test_add_func("/ratelimit/bucket/zero_rate_means_no_limit", test_zero_rate_means_no_limit);
	g_test_add_func("/ratelimit/table/keys_are_independent", test_table_keys_are_independent);
	g_test_add_func("/ratelimit/table/full_evicts_least_recently_used_not_newcomers", test_table_full_evicts_least_recently_used_not_newcomers);
	g_test_add_func("/ratelimit/table/one_attacker_network_cannot_lock_out_others", test_table_one_attacker_network_cannot_lock_out_others);
	g_test_add_func("/ratelimit/table/eviction_is_constant_time", test_table_eviction_is_constant_time);
	g_test_add_func("/ratelimit/table/counts_ipv6_per_64_ipv4_mapped_as_ipv4", test_table_counts_ipv6_per_64_ipv4_mapped_as_ipv4);
	g_test_add_func("/ratelimit/net_key/groups_ipv6_by_64_and_ipv4_by_address", test_net_key_groups_ipv6_by_64_and_ipv4_by_address);
	g_test_add_func("/ratelimit/net_key/prefixes_are_configurable", test_net_key_prefixes_are_configurable);
	g_test_add_func("/ratelimit/counter/caps_each_network_and_frees_on_remove", test_counter_caps_each_network_and_frees_on_remove);
	g_test_add_func("/ratelimit/counter/per_24_option_groups_ipv4_networks", test_counter_per_24_option_groups_ipv4_networks);
	return g_test_run();
}
