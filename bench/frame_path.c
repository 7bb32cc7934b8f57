/*
 * frame_path.c — CPU per relayed frame of the plugin's own work: decode + rules + encode + the queue copy.
 *
 * What it is for: the before/after figure for changes to the per-frame path in process (issue 16), free of the
 * kernel, TLS and the machine's noise that the socket benches carry. 200 registered peers in 100 pairs relay the
 * real-traffic mix of bench/loadgen.c (OFFER/ANSWER with 2-6 KiB of SDP, CANDIDATEs of ~300 B) through
 * p2plink_registry_frame into a sink transport that copies each frame once, as the transport's queue does.
 * Reports thread CPU per frame (best of 5 rounds) for the decoder alone and for the whole path.
 * What it is not for: a test (nothing here asserts), or a socket benchmark (bench/run.sh).
 * Not built by make; after `make`:
 *   gcc -O2 -o /tmp/frame_path bench/frame_path.c -Icommon -Iplugins/janus_p2plink -Itransports \
 *     .libs/libp2plink_core.a .libs/libp2plink_rules.a \
 *     $(pkg-config --cflags --libs glib-2.0 jansson openssl sqlite3 libmongoc-1.0) -lyajl && /tmp/frame_path
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "protocol.h"
#include "registry.h"

#define PAIRS 100
#define FRAMES 200000
#define ROUNDS 5

struct p2plink_conn {
	guint64 frames, bytes;
};

/* The transport copies every frame into its queue; so does the sink, then drops it */
static int sink_send(p2plink_conn *conn, const char *text, size_t len) {
	char *copy = g_malloc(len + 16);
	memcpy(copy + 16, text, len);
	conn->frames++;
	conn->bytes += len;
	g_free(copy);
	return 0;
}

static void sink_close(p2plink_conn *conn, const char *reason) {
	(void)conn;
	(void)reason;
}

static void sink_ref(p2plink_conn *conn) {
	(void)conn;
}

static const p2plink_transport_ops sink_ops = {
	.send = sink_send, .close = sink_close, .ref = sink_ref, .unref = sink_ref,
};

static double thread_cpu_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* An SDP body of about `bytes`, lines ended by an escaped CRLF, as peerjs 1.5 sends it */
static void sdp_text(GString *out, size_t bytes) {
	static const char *lines[] = {
		"a=candidate:842163049 1 udp 1677729535 198.51.100.7 61234 typ srflx raddr 0.0.0.0 rport 0 generation 0",
		"a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1", "a=rtcp-fb:96 nack pli",
		"a=ssrc:3735928559 msid:stream0 track0", "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport",
		"a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3F:AD:B9:B1",
	};
	g_string_append(out, "v=0\\r\\no=- 4611731400430051336 2 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n");
	for(guint i = 0; out->len < bytes; i++)
		g_string_append_printf(out, "%s\\r\\n", lines[i % G_N_ELEMENTS(lines)]);
}

static char *offer_frame(const char *dst, size_t sdp_bytes, size_t *len) {
	GString *f = g_string_new(NULL);
	g_string_append_printf(f, "{\"type\":\"OFFER\",\"payload\":{\"sdp\":{\"type\":\"offer\",\"sdp\":\"");
	sdp_text(f, sdp_bytes);
	g_string_append_printf(f, "\"},\"type\":\"media\",\"connectionId\":\"mc_abcdefghijkl\",\"browser\":\"chrome\","
		"\"label\":\"mc_abcdefghijkl\",\"reliable\":false,\"serialization\":\"binary\"},\"dst\":\"%s\"}", dst);
	*len = f->len;
	return g_string_free(f, FALSE);
}

static char *candidate_frame(const char *dst, size_t *len) {
	char *f = g_strdup_printf("{\"type\":\"CANDIDATE\",\"payload\":{\"candidate\":{\"candidate\":\"candidate:"
		"1467250027 1 udp 2122260223 192.168.1.42 56143 typ host generation 0 ufrag 3a4b network-id 1 network-cost"
		" 10\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0,\"usernameFragment\":\"3a4b\"},\"type\":\"media\","
		"\"connectionId\":\"mc_abcdefghijkl\"},\"dst\":\"%s\"}", dst);
	*len = strlen(f);
	return f;
}

typedef struct frame_mix {
	char *text[PAIRS * 2][4];
	size_t len[PAIRS * 2][4];
} frame_mix;

/* Peer i's frames to its partner: two SDP sizes and two candidates (20 % / 80 % of the traffic below) */
static void mix_build(frame_mix *mix) {
	for(int i = 0; i < PAIRS * 2; i++) {
		char dst[32];
		g_snprintf(dst, sizeof(dst), "peer%d", i ^ 1);
		mix->text[i][0] = offer_frame(dst, 2048 + (i % 5) * 1024, &mix->len[i][0]);
		mix->text[i][1] = candidate_frame(dst, &mix->len[i][1]);
		mix->text[i][2] = candidate_frame(dst, &mix->len[i][2]);
		mix->text[i][3] = candidate_frame(dst, &mix->len[i][3]);
	}
}

/* Which of the four: an SDP frame one time in five */
static int pick(guint n) {
	return n % 5 == 0 ? 0 : 1 + (int)(n % 3);
}

int main(void) {
	frame_mix mix;
	mix_build(&mix);
	p2plink_registry_config cfg;
	p2plink_registry_config_defaults(&cfg);
	cfg.frame_rate.per_second = 0;	/* frames come faster than any peer may send: pacing would only refuse them */
	p2plink_registry *reg = p2plink_registry_new(&cfg, &sink_ops);
	struct p2plink_conn conns[PAIRS * 2] = { { 0 } };
	p2plink_peer *peers[PAIRS * 2];
	char nonce[P2PLINK_BIND_NONCE_LEN + 1];
	for(int i = 0; i < PAIRS * 2; i++) {
		char id[32];
		g_snprintf(id, sizeof(id), "peer%d", i);
		p2plink_open_result r;
		peers[i] = p2plink_registry_open(reg, &conns[i], id, "tok", "127.0.0.1", 0, nonce, &r);
		if(peers[i] == NULL) {
			fprintf(stderr, "open %s failed (%d)\n", id, r);
			return 1;
		}
	}
	double best_decode = 1e18, best_path = 1e18;
	guint64 bytes = 0;
	for(int round = 0; round < ROUNDS; round++) {
		p2plink_frame frame;
		double a = thread_cpu_us();
		for(guint n = 0; n < FRAMES; n++) {
			int i = (int)(n % (PAIRS * 2)), k = pick(n / (PAIRS * 2) + (guint)i);
			if(!p2plink_frame_decode(mix.text[i][k], mix.len[i][k], &frame, NULL))
				return 2;
			bytes += mix.len[i][k];
		}
		best_decode = MIN(best_decode, (thread_cpu_us() - a) / FRAMES);
		a = thread_cpu_us();
		for(guint n = 0; n < FRAMES; n++) {
			int i = (int)(n % (PAIRS * 2)), k = pick(n / (PAIRS * 2) + (guint)i);
			gint64 pause = 0;
			if(p2plink_registry_frame(reg, peers[i], mix.text[i][k], mix.len[i][k], 1000 + n, &pause) !=
					P2PLINK_FRAME_ROUTED)
				return 3;
		}
		best_path = MIN(best_path, (thread_cpu_us() - a) / FRAMES);
	}
	guint64 delivered = 0;
	for(int i = 0; i < PAIRS * 2; i++)
		delivered += conns[i].frames;
	printf("mix: %.0f B per frame on average (20 %% SDP 2-6 KiB, 80 %% candidates)\n",
		(double)bytes / (FRAMES * ROUNDS));
	printf("decode only:        %.3f us per frame\n", best_decode);
	printf("decode+route+copy:  %.3f us per frame (%" G_GUINT64_FORMAT " delivered)\n", best_path, delivered);
	for(int i = 0; i < PAIRS * 2; i++)
		p2plink_registry_close(reg, peers[i], 0);
	p2plink_registry_free(reg);
	return delivered == (guint64)FRAMES * ROUNDS + PAIRS * 2 ? 0 : 4;	/* + each peer's OPEN */
}
