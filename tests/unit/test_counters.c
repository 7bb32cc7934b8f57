/*
 * test_counters.c — the plugin's hot-path counters (plugins/janus_p2plink/counters.c): what a snapshot holds,
 * the store latency histogram's buckets, counting from many threads at once without a lock, and that the
 * snapshot renders (transports/metrics.c) into families promtool accepts.
 */

#include <glib.h>
#include <string.h>

#include "counters.h"
#include "metrics.h"
#include "promtool_check.h"

static json_int_t member_int(json_t *o, const char *a, const char *b) {
	json_t *v = json_object_get(o, a);
	if(b != NULL)
		v = json_object_get(v, b);
	g_assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static void test_counters_relayed_are_counted_by_type(void) {
	p2plink_counters_reset();
	p2plink_counters_relayed(P2PLINK_MSG_OFFER);
	p2plink_counters_relayed(P2PLINK_MSG_OFFER);
	p2plink_counters_relayed(P2PLINK_MSG_CANDIDATE);
	json_t *s = p2plink_counters_snapshot();
	g_assert_cmpint(member_int(s, "relayed_by_type", "OFFER"), ==, 2);
	g_assert_cmpint(member_int(s, "relayed_by_type", "CANDIDATE"), ==, 1);
	/* Types that never counted are left out */
	g_assert_null(json_object_get(json_object_get(s, "relayed_by_type"), "ANSWER"));
	json_decref(s);
}

static void test_counters_refusals_by_type_and_code_unknown_codes_are_other(void) {
	p2plink_counters_reset();
	p2plink_counters_refused(P2PLINK_MSG_OFFER, "queue-full");
	p2plink_counters_refused(P2PLINK_MSG_OFFER, "queue-full");
	p2plink_counters_refused(P2PLINK_MSG_CANDIDATE, "link-required");
	p2plink_counters_refused(P2PLINK_MSG_UNKNOWN, "invalid-json");
	p2plink_counters_refused(P2PLINK_MSG_ANSWER, "a-code-nobody-listed");
	p2plink_counters_refused(P2PLINK_MSG_ANSWER, NULL);
	json_t *s = p2plink_counters_snapshot();
	json_t *r = json_object_get(s, "refused_by_code");
	g_assert_cmpint(member_int(r, "OFFER", "queue-full"), ==, 2);
	g_assert_cmpint(member_int(r, "CANDIDATE", "link-required"), ==, 1);
	g_assert_cmpint(member_int(r, "UNKNOWN", "invalid-json"), ==, 1);
	g_assert_cmpint(member_int(r, "ANSWER", "other"), ==, 2);
	g_assert_null(json_object_get(json_object_get(r, "ANSWER"), "a-code-nobody-listed"));
	json_decref(s);
}

static void test_counters_redemptions_list_every_outcome_but_preview(void) {
	p2plink_counters_reset();
	p2plink_counters_redemption(P2PLINK_LINK_OK);
	p2plink_counters_redemption(P2PLINK_LINK_EXPIRED);
	p2plink_counters_redemption(P2PLINK_LINK_EXPIRED);
	json_t *s = p2plink_counters_snapshot();
	g_assert_cmpint(member_int(s, "redemptions", "ok"), ==, 1);
	g_assert_cmpint(member_int(s, "redemptions", "expired"), ==, 2);
	/* Zeros too, so "denied / all" reads 0 rather than no data */
	g_assert_cmpint(member_int(s, "redemptions", "revoked"), ==, 0);
	g_assert_null(json_object_get(json_object_get(s, "redemptions"), "preview"));
	json_decref(s);
}

static void test_counters_store_histogram_is_cumulative_with_bounds_inclusive(void) {
	p2plink_counters_reset();
	p2plink_counters_store_call(100);		/* 0.1 ms: first bucket */
	p2plink_counters_store_call(500);		/* exactly 0.5 ms: le is inclusive, still the first */
	p2plink_counters_store_call(3000);		/* 3 ms: le 0.005 */
	p2plink_counters_store_call(60 * G_USEC_PER_SEC);	/* a minute: only +Inf */
	p2plink_counters_store_failure();
	json_t *s = p2plink_counters_snapshot();
	json_t *h = json_object_get(s, "store_seconds");
	json_t *buckets = json_object_get(h, "buckets");
	g_assert_cmpuint(json_array_size(buckets), ==, P2PLINK_STORE_LATENCY_BUCKETS);
	g_assert_cmpfloat(json_real_value(json_array_get(json_array_get(buckets, 0), 0)), ==, 0.0005);
	g_assert_cmpint(json_integer_value(json_array_get(json_array_get(buckets, 0), 1)), ==, 2);
	g_assert_cmpint(json_integer_value(json_array_get(json_array_get(buckets, 2), 1)), ==, 2);	/* le 0.0025 */
	g_assert_cmpint(json_integer_value(json_array_get(json_array_get(buckets, 3), 1)), ==, 3);	/* le 0.005 */
	g_assert_cmpint(json_integer_value(json_array_get(json_array_get(buckets, P2PLINK_STORE_LATENCY_BUCKETS - 1),
		1)), ==, 3);
	g_assert_cmpint(member_int(h, "count", NULL), ==, 4);
	g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(h, "sum")), 60.0036, 1e-9);
	g_assert_cmpint(member_int(s, "store_failures", NULL), ==, 1);
	json_decref(s);
}

#define THREADS 4
#define PER_THREAD 100000

static gpointer count_many(gpointer data) {
	for(int i = 0; i < PER_THREAD; i++) {
		p2plink_counters_relayed(P2PLINK_MSG_CANDIDATE);
		p2plink_counters_store_call(10);
	}
	return NULL;
}

static void test_counters_many_threads_lose_no_count(void) {
	p2plink_counters_reset();
	GThread *threads[THREADS];
	for(int i = 0; i < THREADS; i++)
		threads[i] = g_thread_new("count", count_many, NULL);
	for(int i = 0; i < THREADS; i++)
		g_thread_join(threads[i]);
	json_t *s = p2plink_counters_snapshot();
	g_assert_cmpint(member_int(s, "relayed_by_type", "CANDIDATE"), ==, THREADS * PER_THREAD);
	g_assert_cmpint(member_int(json_object_get(s, "store_seconds"), "count", NULL), ==, THREADS * PER_THREAD);
	json_decref(s);
}

/* The snapshot as metrics.c renders it: labelled families and a histogram in the exposition format */
static char *render_snapshot(void) {
	p2plink_counters_reset();
	p2plink_counters_relayed(P2PLINK_MSG_OFFER);
	p2plink_counters_refused(P2PLINK_MSG_OFFER, "queue-full");
	p2plink_counters_redemption(P2PLINK_LINK_IP_DENIED);
	p2plink_counters_store_call(2000);
	json_t *s = p2plink_counters_snapshot();
	char *text = p2plink_metrics_render(s, NULL);
	json_decref(s);
	return text;
}

static void test_counters_render_as_labelled_families_and_histogram(void) {
	char *text = render_snapshot();
	g_assert_nonnull(strstr(text, "# TYPE p2plink_frames_relayed_by_type_total counter\n"
		"p2plink_frames_relayed_by_type_total{type=\"OFFER\"} 1\n"));
	g_assert_nonnull(strstr(text, "p2plink_frames_refused_by_code_total{type=\"OFFER\",code=\"queue-full\"} 1\n"));
	g_assert_nonnull(strstr(text, "p2plink_link_redemptions_total{outcome=\"ip-denied\"} 1\n"));
	g_assert_nonnull(strstr(text, "# TYPE p2plink_store_call_duration_seconds histogram\n"
		"p2plink_store_call_duration_seconds_bucket{le=\"0.0005\"} 0\n"));
	g_assert_nonnull(strstr(text, "p2plink_store_call_duration_seconds_bucket{le=\"0.0025\"} 1\n"));
	g_assert_nonnull(strstr(text, "p2plink_store_call_duration_seconds_bucket{le=\"+Inf\"} 1\n"
		"p2plink_store_call_duration_seconds_sum 0.002\n"
		"p2plink_store_call_duration_seconds_count 1\n"));
	g_assert_nonnull(strstr(text, "p2plink_store_failures_total 0\n"));
	g_free(text);
}

static void test_counters_histogram_of_the_wrong_shape_is_left_out(void) {
	json_t *s = json_pack("{s:{s:[[s,i]],s:f,s:i}}", "store_seconds", "buckets", "x", 1, "sum", 1.0, "count", 1);
	char *text = p2plink_metrics_render(s, NULL);
	g_assert_cmpstr(text, ==, "");
	g_free(text);
	json_decref(s);
}

static void test_counters_rendered_text_passes_promtool(void) {
	char *text = render_snapshot();
	promtool_check_text(text);
	g_free(text);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/counters/relayed_are_counted_by_type", test_counters_relayed_are_counted_by_type);
	g_test_add_func("/counters/refusals_by_type_and_code_unknown_codes_are_other",
		test_counters_refusals_by_type_and_code_unknown_codes_are_other);
	g_test_add_func("/counters/redemptions_list_every_outcome_but_preview",
		test_counters_redemptions_list_every_outcome_but_preview);
	g_test_add_func("/counters/store_histogram_is_cumulative_with_bounds_inclusive",
		test_counters_store_histogram_is_cumulative_with_bounds_inclusive);
	g_test_add_func("/counters/many_threads_lose_no_count", test_counters_many_threads_lose_no_count);
	g_test_add_func("/counters/render_as_labelled_families_and_histogram",
		test_counters_render_as_labelled_families_and_histogram);
	g_test_add_func("/counters/histogram_of_the_wrong_shape_is_left_out",
		test_counters_histogram_of_the_wrong_shape_is_left_out);
	g_test_add_func("/counters/rendered_text_passes_promtool", test_counters_rendered_text_passes_promtool);
	return g_test_run();
}
