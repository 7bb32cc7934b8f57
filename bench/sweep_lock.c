/*
 * sweep_lock.c — how long one p2plink_registry_sweep() holds the registry mutex at 20,000 registered peers.
 *
 * What it is for: the before/after figure for the sweeper (issue 13, "off the hot locks"). The sweep holds the lock
 * for its whole run, so its duration is the hold. Two cases: steady state (nothing due: the sweeper's usual tick)
 * and a mass timeout (every peer silent at once). What it is not for: a test; the unit tests assert on the work
 * done per tick (entries looked at), never on time. Not built by make; after `make`:
 *   gcc -O2 -o /tmp/sweep_lock bench/sweep_lock.c tests/unit/fake_transport.c -Icommon -Iplugins/janus_p2plink -Itransports \
 *     -Itests/unit .libs/libp2plink_core.a .libs/libp2plink_rules.a \
 *     $(pkg-config --cflags --libs glib-2.0 jansson openssl sqlite3 libmongoc-1.0) -lyajl && /tmp/sweep_lock
 */
#include <string.h>
#include <stdio.h>
#include "fake_transport.h"
#include "registry.h"
#define N 20000
#define SEC G_USEC_PER_SEC
static guint peer_count(p2plink_registry *reg) {
	json_t *stats = p2plink_registry_stats(reg);
	guint n = (guint)json_integer_value(json_object_get(stats, "peers"));
	json_decref(stats);
	return n;
}

int main(void) {
	p2plink_registry_config cfg;
	p2plink_registry_config_defaults(&cfg);
	cfg.concurrent_limit = N;
	p2plink_registry *reg = p2plink_registry_new(&cfg, &fake_ops);
	p2plink_conn **conns = g_new0(p2plink_conn *, N);
	p2plink_peer **peers = g_new0(p2plink_peer *, N);
	char nonce[P2PLINK_BIND_NONCE_LEN + 1];
	for(int i = 0; i < N; i++) {
		char id[32];
		g_snprintf(id, sizeof(id), "peer%d", i);
		p2plink_open_result r;
		conns[i] = fake_conn_new();
		peers[i] = p2plink_registry_open(reg, conns[i], id, "tok", "127.0.0.1", i, nonce, &r);
		/* a quarter of them have an offline queue */
		if(i % 4 == 0) {
			char f[96];
			g_snprintf(f, sizeof(f), "{\"type\":\"OFFER\",\"dst\":\"gone%d\",\"payload\":1}", i);
			gint64 pause;
			p2plink_registry_frame(reg, peers[i], f, strlen(f), i, &pause);
		}
	}
	/* Steady state: nobody expired, sweeps every 250 ms */
	gint64 worst = 0, total = 0;
	for(int t = 1; t <= 40; t++) {
		gint64 now = N + t * 250 * G_TIME_SPAN_MILLISECOND / 100;	/* well before expire_timeout */
		gint64 a = g_get_monotonic_time();
		p2plink_registry_sweep(reg, now);
		gint64 d = g_get_monotonic_time() - a;
		total += d;
		worst = MAX(worst, d);
	}
	printf("steady (20000 peers, 5000 queues, nothing due): worst %" G_GINT64_FORMAT " us, mean %" G_GINT64_FORMAT " us per sweep\n", worst, total / 40);
	/* Mass expiry: every queue and every peer due at once */
	gint64 now = N + cfg.alive_timeout + SEC;
	worst = 0;
	int sweeps = 0;
	while(peer_count(reg) > 0 && sweeps < 1000) {
		gint64 a = g_get_monotonic_time();
		p2plink_registry_sweep(reg, now);
		gint64 d = g_get_monotonic_time() - a;
		worst = MAX(worst, d);
		sweeps++;
		now += 250 * G_TIME_SPAN_MILLISECOND;
	}
	printf("mass expiry (20000 silent peers): %d sweeps, longest %" G_GINT64_FORMAT " us\n", sweeps, worst);
	for(int i = 0; i < N; i++)
		p2plink_registry_close(reg, peers[i], now);
	p2plink_registry_free(reg);
	for(int i = 0; i < N; i++)
		fake_conn_free(conns[i]);
	g_free(conns);
	g_free(peers);
	return 0;
}
