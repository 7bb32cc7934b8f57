/*
 * test_ratelimit.c — token buckets, client-network keys and the bounded LRU per-network table (ratelimit.c).
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "net_counter_probe.h"
#include "ratelimit.h"

#define SEC G_USEC_PER_SEC

/* Keys the table tracks now, through its stats */
static guint table_keys(p2plink_rate_table *t) {
	p2plink_rate_table_stats stats;
	p2plink_rate_table_get_stats(t, &stats);
	return stats.keys;
}

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
	g_assert_cmpuint(table_keys(t), ==, 2);
	/* The busy abuser was kept (still empty), the oldest idle key was the one forgotten */
	g_assert_false(p2plink_rate_table_take(t, "10.0.0.1", 0));
	g_assert_cmpuint(table_keys(t), ==, 2);
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
	g_assert_cmpuint(table_keys(t), ==, 1);
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
	g_assert_cmpuint(table_keys(t), ==, 1000);
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
	g_assert_cmpuint(net_counter_probe(c, "2001:db8::9", 2), ==, 2);
	p2plink_net_counter_remove(c, k1);
	g_assert_cmpuint(net_counter_probe(c, "2001:db8::9", 2), ==, 1);
	g_assert_true(p2plink_net_counter_add(c, "2001:db8::ffff:3", &k3));
	p2plink_net_counter_remove(c, k2);
	p2plink_net_counter_remove(c, k3);
	p2plink_net_counter_remove(c, other);
	g_assert_cmpuint(net_counter_probe(c, "2001:db8::9", 2), ==, 0);
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
		g_assert_cmpstr(k, ==, "192.0.2.1/32");	/* counted under its network */
		g_free(k);
	}
	p2plink_net_counter_free(c);
}

static socklen_t sockaddr_of(struct sockaddr_storage *ss, const char *ip) {
	memset(ss, 0, sizeof(*ss));
	if(strchr(ip, ':') == NULL) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
		a4->sin_family = AF_INET;
		a4->sin_port = htons(3478);
		g_assert_cmpint(inet_pton(AF_INET, ip, &a4->sin_addr), ==, 1);
		return sizeof(*a4);
	}
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	a6->sin6_family = AF_INET6;
	a6->sin6_port = htons(3478);
	g_assert_cmpint(inet_pton(AF_INET6, ip, &a6->sin6_addr), ==, 1);
	return sizeof(*a6);
}

static p2plink_rate_verdict check_addr(p2plink_rate_table *t, const char *ip, gint64 now) {
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(&ss, ip);
	return p2plink_rate_table_check_addr(t, (struct sockaddr *)&ss, len, now);
}

static void test_table_socket_addresses_count_per_64_like_text(void) {
	/* What the STUN responder asks (a socket address) and what the transport and plugin ask (text) land on one
	 * key per network: one limiter, one keying */
	p2plink_rate rate = { 1, 1 };
	p2plink_rate_table *t = p2plink_rate_table_new(&rate, 100);
	g_assert_cmpint(check_addr(t, "2001:db8:0:1::1", 0), ==, P2PLINK_RATE_ALLOWED);
	g_assert_cmpint(check_addr(t, "2001:db8:0:1:ffff:1:2:3", 0), ==, P2PLINK_RATE_KEY_LIMITED);	/* same /64 */
	g_assert_false(p2plink_rate_table_take(t, "2001:db8:0:1:aaaa::9", 0));	/* same /64, as text */
	g_assert_cmpint(check_addr(t, "2001:db8:0:2::1", 0), ==, P2PLINK_RATE_ALLOWED);		/* next /64 */
	/* IPv4 as sockaddr_in, as IPv4-mapped sockaddr_in6 and as text: one key */
	g_assert_cmpint(check_addr(t, "192.0.2.7", 0), ==, P2PLINK_RATE_ALLOWED);
	g_assert_cmpint(check_addr(t, "::ffff:192.0.2.7", 0), ==, P2PLINK_RATE_KEY_LIMITED);
	g_assert_false(p2plink_rate_table_take(t, "192.0.2.7", 0));
	g_assert_cmpuint(table_keys(t), ==, 3);
	/* The table's own prefixes apply to socket addresses too */
	p2plink_rate_table_set_prefixes(t, 24, 48);
	g_assert_cmpint(check_addr(t, "2001:db8:0:3::1", 0), ==, P2PLINK_RATE_ALLOWED);
	g_assert_cmpint(check_addr(t, "2001:db8:0:4::1", 0), ==, P2PLINK_RATE_KEY_LIMITED);	/* same /48 */
	g_assert_cmpint(check_addr(t, "198.51.100.1", 0), ==, P2PLINK_RATE_ALLOWED);
	g_assert_cmpint(check_addr(t, "198.51.100.200", 0), ==, P2PLINK_RATE_KEY_LIMITED);	/* same /24 */
	p2plink_rate_table_free(t);
}

static void test_table_total_cap_does_not_charge_the_key(void) {
	/* One token per 10 s per key, one per second in total */
	p2plink_rate rate = { 0.1, 1 }, total = { 1, 1 };
	p2plink_rate_table *t = p2plink_rate_table_new(&rate, 100);
	p2plink_rate_table_set_total(t, &total);
	g_assert_cmpint(check_addr(t, "10.0.0.1", 0), ==, P2PLINK_RATE_ALLOWED);
	g_assert_cmpint(check_addr(t, "10.0.0.2", 0), ==, P2PLINK_RATE_TOTAL_LIMITED);
	/* 10.0.0.2 was not charged for the refusal: a second later its bucket is still full (had it been charged, it
	 * would need 10 s) */
	g_assert_cmpint(check_addr(t, "10.0.0.2", SEC), ==, P2PLINK_RATE_ALLOWED);
	/* A key over its own rate is refused as such, and costs the total nothing */
	g_assert_cmpint(check_addr(t, "10.0.0.2", 2 * SEC), ==, P2PLINK_RATE_KEY_LIMITED);
	g_assert_cmpint(check_addr(t, "10.0.0.3", 2 * SEC), ==, P2PLINK_RATE_ALLOWED);
	/* Text keys share the same total */
	g_assert_cmpint(p2plink_rate_table_check(t, "owner@x", 2 * SEC), ==, P2PLINK_RATE_TOTAL_LIMITED);
	p2plink_rate_table_free(t);
}

static void test_table_per_key_off_keeps_the_total_and_tracks_nothing(void) {
	p2plink_rate rate = { 0, 0 }, total = { 10, 3 };
	p2plink_rate_table *t = p2plink_rate_table_new(&rate, 1);
	p2plink_rate_table_set_total(t, &total);
	for(int i = 0; i < 3; i++)
		g_assert_cmpint(check_addr(t, "10.0.0.1", 0), ==, P2PLINK_RATE_ALLOWED);
	g_assert_cmpint(check_addr(t, "10.0.0.9", 0), ==, P2PLINK_RATE_TOTAL_LIMITED);
	g_assert_cmpuint(table_keys(t), ==, 0);
	p2plink_rate_table_free(t);
}

static void test_table_stats_count_evictions(void) {
	p2plink_rate rate = { 1, 1 };
	p2plink_rate_table *t = p2plink_rate_table_new(&rate, 10);
	for(int i = 0; i < 25; i++) {
		char ip[32];
		g_snprintf(ip, sizeof(ip), "2001:db8:%x::1", i);
		g_assert_cmpint(check_addr(t, ip, 0), ==, P2PLINK_RATE_ALLOWED);
	}
	p2plink_rate_table_stats stats;
	p2plink_rate_table_get_stats(t, &stats);
	g_assert_cmpuint(stats.keys, ==, 10);
	g_assert_cmpuint(stats.evictions, ==, 15);
	p2plink_rate_table_free(t);
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
	g_test_add_func("/ratelimit/table/socket_addresses_count_per_64_like_text", test_table_socket_addresses_count_per_64_like_text);
	g_test_add_func("/ratelimit/table/total_cap_does_not_charge_the_key", test_table_total_cap_does_not_charge_the_key);
	g_test_add_func("/ratelimit/table/per_key_off_keeps_the_total_and_tracks_nothing", test_table_per_key_off_keeps_the_total_and_tracks_nothing);
	g_test_add_func("/ratelimit/table/stats_count_evictions", test_table_stats_count_evictions);
	return g_test_run();
}
