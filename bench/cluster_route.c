/*
 * cluster_route.c — what one cross-node frame costs through the cluster engine and Redis: frames per second, this
 * process's CPU per frame (both engine clients; Redis's own CPU is not counted), and the route → delivery latency
 * (p50/p99), for two clients ("nodes") on one libuv loop.
 *
 * What it is for: the engine's share of the cross-node relay figures issue 14 asks for, before the engine is wired
 * into the transport (bench/run.sh will measure the whole path through Janus then). What it is not for: a test.
 * Window: at most W frames routed and not yet delivered, so latency is measured under load, not under an unbounded
 * queue. Not built by make; after `make`, against a redis-server you started (e.g. `redis-server --port 6399
 * --save '' --appendonly no`):
 *   gcc -O2 -o /tmp/cluster_route bench/cluster_route.c -Icluster .libs/libp2plink_cluster.a \
 *     $(pkg-config --cflags --libs glib-2.0 jansson libuv hiredis) && /tmp/cluster_route redis://127.0.0.1:6399
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "cluster.h"

#define FRAMES 100000
#define WINDOW 1000
#define FRAME_BYTES 300		/* a typical CANDIDATE frame */

static gint64 *sent_at, *latency;
static int routed, delivered, failed, ups;

static void on_frame(p2plink_cluster *c, const char *src_node, const char *dst_id, const char *frame, size_t len,
		void *user_data) {
	int n = atoi(frame + 1);	/* frames are "#<n> ..." */
	if(n >= 0 && n < FRAMES)
		latency[delivered++] = g_get_monotonic_time() - sent_at[n];
}

static void on_state(p2plink_cluster *c, gboolean up, void *user_data) {
	if(up)
		ups++;
}

static void on_routed(p2plink_cluster *c, p2plink_cluster_result result, const char *node, void *user_data) {
	if(result != P2PLINK_CLUSTER_OK)
		failed++;
}

static void on_acquired(p2plink_cluster *c, p2plink_cluster_result result, const char *id, const char *node,
		void *user_data) {
	*(int *)user_data = result == P2PLINK_CLUSTER_OK ? 1 : -1;
}

static int cmp_gint64(const void *a, const void *b) {
	gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;
	return x < y ? -1 : x > y;
}

static double cpu_seconds(void) {
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Route `frames` frames keeping at most `window` in flight; prints one result line; returns the failures */
static int run(uv_loop_t *loop, p2plink_cluster *a, int window, int frames) {
	routed = delivered = failed = 0;
	char frame[FRAME_BYTES + 1];
	memset(frame, 'x', FRAME_BYTES);
	frame[FRAME_BYTES] = '\0';
	double cpu0 = cpu_seconds();
	gint64 t0 = g_get_monotonic_time();
	while(delivered + failed < frames) {
		while(routed < frames && routed - delivered - failed < window) {
			int n = g_snprintf(frame, sizeof(frame), "#%d ", routed);
			frame[n] = 'x';
			sent_at[routed] = g_get_monotonic_time();
			p2plink_cluster_route(a, "bench-dst", frame, FRAME_BYTES, on_routed, NULL);
			routed++;
		}
		uv_run(loop, UV_RUN_ONCE);
	}
	double secs = (g_get_monotonic_time() - t0) / 1e6, cpu = cpu_seconds() - cpu0;
	qsort(latency, delivered, sizeof(gint64), cmp_gint64);
	printf("cluster_route: %d frames of %d bytes, window %d: %.0f frames/s, %.1f µs CPU per frame (both clients), "
		"latency p50 %" G_GINT64_FORMAT " µs p99 %" G_GINT64_FORMAT " µs, %d failed\n",
		frames, FRAME_BYTES, window, delivered / secs, cpu * 1e6 / frames,
		delivered ? latency[delivered / 2] : 0, delivered ? latency[delivered * 99 / 100] : 0, failed);
	return failed;
}

int main(int argc, char **argv) {
	uv_loop_t loop;
	uv_loop_init(&loop);
	p2plink_cluster_config cfg;
	p2plink_cluster_config_defaults(&cfg);
	g_free(cfg.redis_url);
	cfg.redis_url = g_strdup(argc > 1 ? argv[1] : "redis://127.0.0.1:6379");
	p2plink_cluster_callbacks cbs = { .frame = on_frame, .state = on_state };
	char *error = NULL;
	cfg.node_id = g_strdup("bench-a");
	p2plink_cluster *a = p2plink_cluster_new(&loop, &cfg, 0, &cbs, &error);
	g_free(cfg.node_id);
	cfg.node_id = g_strdup("bench-b");
	p2plink_cluster *b = a ? p2plink_cluster_new(&loop, &cfg, 0, &cbs, &error) : NULL;
	p2plink_cluster_config_clear(&cfg);
	if(b == NULL) {
		fprintf(stderr, "cluster_route: %s\n", error);
		return 1;
	}
	gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	while(ups < 2 && g_get_monotonic_time() < deadline)
		uv_run(&loop, UV_RUN_ONCE);
	int acquired = 0;
	p2plink_cluster_lease_acquire(b, "bench-dst", "owner", on_acquired, &acquired);
	while(acquired == 0 && g_get_monotonic_time() < deadline)
		uv_run(&loop, UV_RUN_ONCE);
	if(acquired != 1) {
		fprintf(stderr, "cluster_route: Redis at %s not reachable\n", argc > 1 ? argv[1] : "redis://127.0.0.1:6379");
		return 1;
	}
	sent_at = g_new0(gint64, FRAMES);
	latency = g_new0(gint64, FRAMES);
	/* Loaded (throughput, latency under a full window), then one frame at a time (the latency Redis adds) */
	int bad = run(&loop, a, WINDOW, FRAMES) + run(&loop, a, 1, FRAMES / 20);
	p2plink_cluster_free(a);
	p2plink_cluster_free(b);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	g_free(sent_at);
	g_free(latency);
	return bad ? 1 : 0;
}
