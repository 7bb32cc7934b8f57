/*
 * test_ratelimit.c — token buckets and the bounded per-key table (ratelimit.c).
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

static void test_table_is_bounded_and_forgets_only_idle_keys(void) {
	p2plink_rate rate = { 1, 2 };
	p2plink_rate_table *t = p2plink_rate_table_new(&rate, 2);
	g_assert_true(p2plink_rate_table_take(t, "a", 0));
	g_assert_true(p2plink_rate_table_take(t, "b", 0));
	/* Full of busy keys: a newcomer is refused rather than an abuser forgotten */
	g_assert_false(p2plink_rate_table_take(t, "c", 0));
	/* Two seconds later a and b are full again, i.e. idle, and may be forgotten */
	g_assert_true(p2plink_rate_table_take(t, "c", 2 * SEC));
	p2plink_rate_table_free(t);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ratelimit/bucket/allows_burst_then_refills_at_rate", test_bucket_allows_burst_then_refills_at_rate);
	g_test_add_func("/ratelimit/bucket/zero_rate_means_no_limit", test_zero_rate_means_no_limit);
	g_test_add_func("/ratelimit/table/keys_are_independent", test_table_keys_are_independent);
	g_test_add_func("/ratelimit/table/is_bounded_and_forgets_only_idle_keys", test_table_is_bounded_and_forgets_only_idle_keys);
	return g_test_run();
}
