/*
 * test_metrics.c — the stats answers as Prometheus text (transports/metrics.c). The last test hands the text to
 * promtool (Debian's prometheus package; $P2PLINK_PROMTOOL or PATH), which parses and lints it; it skips, saying
 * so, where promtool is missing.
 */

#include <glib.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "metrics.h"
#include "promtool_check.h"

/* What the plugin answers today (registry.c p2plink_registry_stats, link_service.c link_stats) */
static json_t *sample_stats(void) {
	return json_pack("{s:s,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "p2plink", "stats", "peers", 3,
		"offline_queues", 1, "queued_bytes", (json_int_t)512, "opened", (json_int_t)40, "relayed", (json_int_t)12345,
		"queued", (json_int_t)7, "expired", (json_int_t)2, "rejected", (json_int_t)5, "timeouts", (json_int_t)1);
}

static json_t *sample_link_stats(void) {
	return json_pack("{s:s,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I,s:I}}", "p2plink", "link_stats", "links_total",
		(json_int_t)9, "links_active", (json_int_t)4, "clicks", "ok", (json_int_t)20, "expired", (json_int_t)3,
		"exhausted", (json_int_t)1, "ip-denied", (json_int_t)2, "revoked", (json_int_t)0, "unknown", (json_int_t)6);
}

static char *render_samples(void) {
	json_t *stats = sample_stats(), *links = sample_link_stats();
	char *text = p2plink_metrics_render(stats, links);
	json_decref(stats);
	json_decref(links);
	return text;
}

static void test_metrics_counter_family_has_help_type_and_total_suffix(void) {
	char *text = render_samples();
	g_assert_nonnull(strstr(text, "# HELP p2plink_frames_relayed_total Signaling frames delivered to a connected peer.\n"
		"# TYPE p2plink_frames_relayed_total counter\np2plink_frames_relayed_total 12345\n"));
	g_free(text);
}

static void test_metrics_connected_peers_and_queue_bytes_are_gauges(void) {
	char *text = render_samples();
	g_assert_nonnull(strstr(text, "# TYPE p2plink_peers_connected gauge\np2plink_peers_connected 3\n"));
	g_assert_nonnull(strstr(text, "# TYPE p2plink_offline_queue_bytes gauge\np2plink_offline_queue_bytes 512\n"));
	g_free(text);
}

static void test_metrics_every_stats_counter_is_exported(void) {
	char *text = render_samples();
	const char *expected[] = { "p2plink_peers_opened_total 40\n", "p2plink_peer_timeouts_total 1\n",
		"p2plink_frames_queued_total 7\n", "p2plink_frames_refused_total 5\n", "p2plink_expires_total 2\n",
		"p2plink_offline_queues 1\n", "p2plink_links_stored 9\n", "p2plink_links_active 4\n" };
	for(gsize i = 0; i < G_N_ELEMENTS(expected); i++)
		g_assert_nonnull(strstr(text, expected[i]));
	/* The answers' tag is not a number and never becomes a sample */
	g_assert_null(strstr(text, "stats"));
	g_free(text);
}

static void test_metrics_object_of_numbers_becomes_labelled_samples(void) {
	char *text = render_samples();
	g_assert_nonnull(strstr(text, "# TYPE p2plink_link_clicks_stored gauge\n"
		"p2plink_link_clicks_stored{outcome=\"ok\"} 20\n"
		"p2plink_link_clicks_stored{outcome=\"expired\"} 3\n"));
	g_assert_nonnull(strstr(text, "p2plink_link_clicks_stored{outcome=\"ip-denied\"} 2\n"));
	g_assert_nonnull(strstr(text, "p2plink_link_clicks_stored{outcome=\"unknown\"} 6\n"));
	g_free(text);
}

static void test_metrics_label_values_are_escaped(void) {
	json_t *links = json_pack("{s:{s:i}}", "clicks", "a\"b\\c\nd", 1);
	char *text = p2plink_metrics_render(NULL, links);
	g_assert_nonnull(strstr(text, "p2plink_link_clicks_stored{outcome=\"a\\\"b\\\\c\\nd\"} 1\n"));
	g_free(text);
	json_decref(links);
}

static void test_metrics_missing_answer_leaves_its_families_out(void) {
	json_t *stats = sample_stats();
	char *text = p2plink_metrics_render(stats, NULL);
	g_assert_nonnull(strstr(text, "p2plink_peers_connected 3\n"));
	/* A store that is down is not reported as 0 links */
	g_assert_null(strstr(text, "p2plink_links"));
	g_free(text);
	json_decref(stats);
	text = p2plink_metrics_render(NULL, NULL);
	g_assert_cmpstr(text, ==, "");
	g_free(text);
}

static void test_metrics_non_numbers_are_left_out_with_their_headers(void) {
	json_t *stats = json_pack("{s:s,s:n,s:b,s:i}", "peers", "three", "relayed", "rejected", 1, "timeouts", 4);
	json_t *links = json_pack("{s:{s:s}}", "clicks", "ok", "many");
	char *text = p2plink_metrics_render(stats, links);
	g_assert_cmpstr(text, ==, "# HELP p2plink_peer_timeouts_total Peers dropped for sending nothing within "
		"alive_timeout.\n# TYPE p2plink_peer_timeouts_total counter\np2plink_peer_timeouts_total 4\n");
	g_free(text);
	json_decref(stats);
	json_decref(links);
}

static void test_metrics_real_values_keep_all_their_digits(void) {
	json_t *stats = json_pack("{s:f}", "queued_bytes", 0.1);
	char *text = p2plink_metrics_render(stats, NULL);
	g_assert_nonnull(strstr(text, "p2plink_offline_queue_bytes 0.10000000000000001\n"));
	g_free(text);
	json_decref(stats);
}

static void test_metrics_text_passes_promtool_check_metrics(void) {
	char *text = render_samples();
	promtool_check_text(text);
	g_free(text);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/metrics/counter_family_has_help_type_and_total_suffix",
		test_metrics_counter_family_has_help_type_and_total_suffix);
	g_test_add_func("/metrics/connected_peers_and_queue_bytes_are_gauges", test_metrics_connected_peers_and_queue_bytes_are_gauges);
	g_test_add_func("/metrics/every_stats_counter_is_exported", test_metrics_every_stats_counter_is_exported);
	g_test_add_func("/metrics/object_of_numbers_becomes_labelled_samples", test_metrics_object_of_numbers_becomes_labelled_samples);
	g_test_add_func("/metrics/label_values_are_escaped", test_metrics_label_values_are_escaped);
	g_test_add_func("/metrics/missing_answer_leaves_its_families_out", test_metrics_missing_answer_leaves_its_families_out);
	g_test_add_func("/metrics/non_numbers_are_left_out_with_their_headers", test_metrics_non_numbers_are_left_out_with_their_headers);
	g_test_add_func("/metrics/real_values_keep_all_their_digits", test_metrics_real_values_keep_all_their_digits);
	g_test_add_func("/metrics/text_passes_promtool_check_metrics", test_metrics_text_passes_promtool_check_metrics);
	return g_test_run();
}
