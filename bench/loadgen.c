/*
 * loadgen.c — p2plink benchmark load generator (and a trivial relay server to prove it is not the ceiling).
 *
 * One thread, epoll (edge-triggered), non-blocking sockets, OpenSSL non-blocking TLS, hand-rolled WebSocket
 * framing (RFC 6455 client frames with a zero masking key, which is valid on the wire and makes client-side
 * masking free; servers still run their unmasking code). Speaks the PeerJS server protocol:
 *   GET /peerjs?key=peerjs&id=..&token=..&version=1.5.5 (Upgrade: websocket) -> {"type":"OPEN"}
 *
 * Modes (all bounded in time and count; JSON result on stdout, progress on stderr):
 *   relay    N pairs (A,B). Closed loop: each A keeps --inflight OFFERs circulating, B answers every OFFER with an
 *            ANSWER, A answers every ANSWER with the next OFFER. Open loop (--rate R): A sends R OFFERs/s in total,
 *            B answers each; nothing else. Every received frame carries the send time (CLOCK_MONOTONIC ns) in its
 *            payload: one-way relay latency = receive time - send time (same clock, same process).
 *   connect  open → TLS → upgrade → OPEN → close (RST), --concurrency in flight, for --duration seconds.
 *   httpid   --conns keep-alive connections doing GET /peerjs/id back to back for --duration seconds.
 *   idle     ramp to each of --levels idle peers (each sends HEARTBEAT every --heartbeat s), hold --hold s at each
 *            level, sample the server's RSS and CPU (--server-pid) at the end of the hold.
 *   redeem   share-link redemptions: opens --peers PeerJS peers over WS(S) (kept open, HEARTBEAT every
 *            --heartbeat s), then --conns keep-alive HTTP(S) connections POST /peerjs/links/redeem
 *            {"id","token","link_token":--link-token} back to back (one request in flight per connection), for
 *            --warmup + --duration seconds or until --attempts requests were sent, then waits (bounded) for every
 *            answer. Counts "ok":true / "ok":false (by code) / other HTTP statuses exactly, over the whole run.
 *   realtraffic  signaling as browsers make it: --pairs N pairs of WSS peers (ids a/b, each other's only counterpart),
 *            every peer an independent Poisson process of --peer-rate frames/s (--sdp-share of them OFFER/ANSWER with
 *            2-6 KiB of SDP, the rest CANDIDATEs of 200-300 B) to its partner, plus HEARTBEAT every --heartbeat s
 *            (phases spread evenly). --warmup, then a --duration window (server CPU, RSS, latency of every relayed
 *            frame received in it), then --after s more of the same load (stderr "PROFILE-START": the bench profiles
 *            the server there, outside the window), then sending stops and every frame sent must arrive (bounded).
 *   serve    the trivial relay: accepts PeerJS upgrades (answers OPEN), forwards every text frame to the
 *            connection named by its "dst" (no JSON parsing, no checks), answers GET /peerjs/id with a fixed id
 *            and any POST (body skipped by Content-Length) with a fixed {"ok":true,...}.
 *
 * Build: gcc -O2 -o loadgen loadgen.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

enum { M_RELAY, M_CONNECT, M_HTTPID, M_IDLE, M_SERVE, M_REDEEM, M_REAL };
enum { ST_CONNECTING, ST_TLS, ST_UPGRADE, ST_WAIT_OPEN, ST_READY, ST_HTTP, ST_CLOSED };

typedef struct conn {
	int fd;
	SSL *ssl;
	uint8_t st, is_server, dirty, is_a, http;	/* http: a plain HTTP client conn (httpid, redeem) */
	int idx;				/* index in the client conn table (relay/idle), -1 otherwise */
	int partner;			/* relay: partner index */
	uint64_t t0;			/* start of setup (ns) */
	uint64_t next_hb;		/* idle: next heartbeat (ns) */
	char *rb; uint32_t rlen, rcap;
	char *wb; uint32_t wlen, woff, wcap;
	char id[32];
	struct conn *next_dirty;
} conn;

/* ---------- options ---------- */
static int mode = M_RELAY, use_tls = 0, port = 9000, nsrc = 8;
static const char *host = "127.0.0.1", *cert_file = NULL, *key_file = NULL, *path_key = "peerjs";
static int pairs = 100, inflight = 1, payload_bytes = 2048, concurrency = 200, hconns = 32;
static double warmup = 2, duration = 10, rate = 0, hold = 6, heartbeat_s = 5, ramp_timeout = 120;
static int levels[16], nlevels = 0;
static int server_pid = 0;
/* Cluster bench: B-side peers (ids <tag>b<n>) connect to --port-b (another node), and the CPU of --extra-pids
 * (the other node, Redis) is added to the server's */
static int port_b = 0;
static int extra_pids[8], nextra = 0;
static const char *run_tag = "x";
static const char *link_token = "";
static int npeers = 1;
static uint64_t max_attempts = 0;
static uint32_t src_base = 0x7f000002;	/* first source address: 127.0.0.2 (--src-base) */
static double peer_rate = 2, sdp_share = 0.2, after_s = 0;	/* realtraffic */
static int sdp_max = 6144;	/* realtraffic: largest SDP text (B); OFFER/ANSWER carry 2048..sdp_max */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* ---------- globals ---------- */
static int ep = -1;
static SSL_CTX *sslctx = NULL;
static conn *dirty_head = NULL;
static uint64_t t_now;
static struct sockaddr_in dst_addr, dst_addr_b;
static int src_rr = 0;

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void die(const char *m) { fprintf(stderr, "loadgen: %s: %s\n", m, strerror(errno)); exit(2); }

/* ---------- server process sampling ---------- */
static long clk_tck = 100;
static double one_cpu_s(int pid) {
	if(pid <= 0) return 0;
	char p[64], buf[2048];
	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	FILE *f = fopen(p, "r");
	if(!f) return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *s = strrchr(buf, ')');
	if(!s) return -1;
	unsigned long ut = 0, st = 0;
	/* after ") ": state(3) ppid(4) ... utime(14) stime(15) */
	int field = 2;
	char *tok = strtok(s + 1, " ");
	while(tok) {
		field++;
		if(field == 14) ut = strtoul(tok, NULL, 10);
		if(field == 15) { st = strtoul(tok, NULL, 10); break; }
		tok = strtok(NULL, " ");
	}
	return (double)(ut + st) / clk_tck;
}
/* The server's CPU seconds; for the server under test, with the other processes serving the same load */
static double proc_cpu_s(int pid) {
	double s = one_cpu_s(pid);
	for(int i = 0; pid == server_pid && i < nextra; i++)
		s += one_cpu_s(extra_pids[i]);
	return s;
}
static long proc_rss_kb(int pid) {
	if(pid <= 0) return 0;
	char p[64], line[256];
	snprintf(p, sizeof(p), "/proc/%d/status", pid);
	FILE *f = fopen(p, "r");
	if(!f) return -1;
	long kb = -1;
	while(fgets(line, sizeof(line), f))
		if(!strncmp(line, "VmRSS:", 6)) { kb = strtol(line + 6, NULL, 10); break; }
	fclose(f);
	return kb;
}
/* whole machine busy CPU seconds (all CPUs), to see load from anything other than server + loadgen */
static double machine_busy_s(void) {
	FILE *f = fopen("/proc/stat", "r");
	if(!f) return 0;
	unsigned long long v[10] = { 0 };
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if(n < 8) return 0;
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / clk_tck;
}
static double self_cpu_s(void) {
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* server CPU by thread name (/proc/<pid>/task/<tid>/stat, comm = field 2), to see which threads do the work */
#include <dirent.h>
#define MAXCOMM 64
typedef struct { char comm[32]; double s; int n; } comm_cpu;
static int threads_cpu(int pid, comm_cpu *out) {
	int k = 0;
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/task", pid);
	DIR *d = pid > 0 ? opendir(p) : NULL;
	if(!d) return 0;
	struct dirent *e;
	while((e = readdir(d)) != NULL) {
		if(e->d_name[0] == '.') continue;
		char f[300], buf[1024];
		snprintf(f, sizeof(f), "/proc/%d/task/%s/stat", pid, e->d_name);
		FILE *fp = fopen(f, "r");
		if(!fp) continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
		buf[n] = 0;
		char *l = strchr(buf, '('), *r = strrchr(buf, ')');
		if(!l || !r) continue;
		char comm[32];
		snprintf(comm, sizeof(comm), "%.*s", (int)(r - l - 1), l + 1);
		unsigned long ut = 0, st = 0;
		int field = 2;
		for(char *tok = strtok(r + 1, " "); tok; tok = strtok(NULL, " ")) {
			field++;
			if(field == 14) ut = strtoul(tok, NULL, 10);
			if(field == 15) { st = strtoul(tok, NULL, 10); break; }
		}
		int i = 0;
		while(i < k && strcmp(out[i].comm, comm)) i++;
		if(i == k) { if(k == MAXCOMM) continue; snprintf(out[k].comm, sizeof(out[k].comm), "%s", comm); out[k].s = 0; out[k].n = 0; k++; }
		out[i].s += (double)(ut + st) / clk_tck;
		out[i].n++;
	}
	closedir(d);
	return k;
}
/* prints "threads_cpu_pct":{"comm (n)":pct,...} for the window between two samples (threads that existed at the end) */
static void threads_report(FILE *o, comm_cpu *a, int na, comm_cpu *b, int nb, double win) {
	fprintf(o, "\"server_threads_cpu_pct\":{");
	int first = 1;
	for(int i = 0; i < nb; i++) {
		double s0 = 0;
		for(int j = 0; j < na; j++) if(!strcmp(a[j].comm, b[i].comm)) s0 = a[j].s;
		double pct = 100.0 * (b[i].s - s0) / win;
		if(pct < 0.05) continue;
		fprintf(o, "%s\"", first ? "" : ",");
		for(const char *c = b[i].comm; *c; c++) if(*c != '"' && *c != '\\') fputc(*c, o);
		fprintf(o, " (x%d)\":%.1f", b[i].n, pct);
		first = 0;
	}
	fprintf(o, "}");
}

/* ---------- latency samples ---------- */
static uint64_t *lat = NULL;	/* ns; 64 bits: a saturated server's latencies pass 4.3 s */
static size_t nlat = 0, caplat = 0;
static int recording = 0;
static void lat_add(uint64_t ns) {
	if(!recording) return;
	if(nlat == caplat) {
		if(caplat >= 64u * 1024 * 1024) return;
		caplat = caplat ? caplat * 2 : 1 << 20;
		lat = realloc(lat, caplat * sizeof(*lat));
	}
	lat[nlat++] = ns;
}
static int cmp_u64(const void *a, const void *b) {
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}
static void lat_report(FILE *o) {
	if(nlat == 0) { fprintf(o, "\"lat_samples\":0"); return; }
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	double sum = 0;
	for(size_t i = 0; i < nlat; i++) sum += lat[i];
	#define PCT(p) (lat[(size_t)((p) * (nlat - 1))] / 1000.0)
	fprintf(o, "\"lat_samples\":%zu,\"lat_us_mean\":%.1f,\"lat_us_p50\":%.1f,\"lat_us_p90\":%.1f,\"lat_us_p99\":%.1f,"
		"\"lat_us_p999\":%.1f,\"lat_us_max\":%.1f", nlat, sum / nlat / 1000.0, PCT(0.5), PCT(0.9), PCT(0.99), PCT(0.999),
		lat[nlat - 1] / 1000.0);
}

/* ---------- buffers & I/O ---------- */
static void wb_append(conn *c, const void *d, size_t n) {
	if(c->st == ST_CLOSED) return;
	if(c->woff == c->wlen) c->woff = c->wlen = 0;
	if(c->wlen + n > c->wcap) {
		if(c->woff > 0 && c->wlen - c->woff + n <= c->wcap) {
			memmove(c->wb, c->wb + c->woff, c->wlen - c->woff);
			c->wlen -= c->woff; c->woff = 0;
		} else {
			uint32_t nc = c->wcap ? c->wcap : 4096;
			while(nc < c->wlen + n) nc *= 2;
			c->wb = realloc(c->wb, nc);
			c->wcap = nc;
		}
	}
	memcpy(c->wb + c->wlen, d, n);
	c->wlen += n;
	if(!c->dirty) { c->dirty = 1; c->next_dirty = dirty_head; dirty_head = c; }
}

static char io_error[96];	/* why the last write failed (errno / SSL error), for last_error */
static int io_flush(conn *c) {
	while(c->woff < c->wlen) {
		int n;
		if(c->ssl) {
			n = SSL_write(c->ssl, c->wb + c->woff, c->wlen - c->woff);
			if(n <= 0) {
				int e = SSL_get_error(c->ssl, n);
				if(e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return 0;
				snprintf(io_error, sizeof(io_error), "SSL error %d, errno %s", e, strerror(errno));
				return -1;
			}
		} else {
			n = (int)send(c->fd, c->wb + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
			if(n < 0 && errno != EAGAIN) snprintf(io_error, sizeof(io_error), "%s", strerror(errno));
			if(n < 0) return errno == EAGAIN ? 0 : -1;
		}
		c->woff += n;
	}
	c->woff = c->wlen = 0;
	return 0;
}

static ssize_t io_read(conn *c, char *buf, size_t n) {
	if(c->ssl) {
		int r = SSL_read(c->ssl, buf, (int)n);
		if(r > 0) return r;
		int e = SSL_get_error(c->ssl, r);
		if(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return -2;
		return -1;
	}
	ssize_t r = recv(c->fd, buf, n, 0);
	if(r > 0) return r;
	if(r < 0 && errno == EAGAIN) return -2;
	return -1;
}

/* ---------- stats ---------- */
static uint64_t n_recv = 0, n_sent = 0, n_opened = 0, n_failed = 0, n_unexpected_close = 0, n_errors_frames = 0;
static uint64_t n_http = 0, n_ready = 0, n_active = 0, n_started = 0, n_hb = 0;
static int64_t n_handshaking = 0;
static const char *last_error = "";
/* realtraffic: a peer whose connection fails before OPEN connects again, as a browser would (counted, bounded) */
static int *retry_idx = NULL, nretry = 0;
static uint64_t n_setup_retries = 0;
static const char *first_retry_error = "";
/* share-link redemptions (redeem mode) */
static uint64_t r_sent = 0, r_answered = 0, r_ok = 0, r_denied = 0, r_http_err = 0, r_ok_window = 0;
static uint64_t r_denied_code[8];
static const char *denied_codes[] = { "exhausted", "expired", "unknown", "revoked", "ip-denied", "other" };
static int redeem_sending = 1;
static char r_first_err[200];
static int redeem_can_send(void) { return redeem_sending && (max_attempts == 0 || r_sent < max_attempts); }

/* ---------- connection lifecycle ---------- */
static conn **table = NULL;			/* client conns by idx (relay / idle) */
static int ntable = 0;
static void on_closed(conn *c, int failed);

static void conn_free(conn *c) {
	if(c->ssl) SSL_free(c->ssl);
	if(c->fd >= 0) close(c->fd);
	free(c->rb); free(c->wb);
	free(c);
}

/* realtraffic: queue a table peer whose setup failed for ramp() to start again (at most 5% of the peers + 10);
 * the old conn leaves the table and is freed like any other. 1 when queued. */
static int setup_retry(conn *c, const char *why) {
	if(mode != M_REAL || c->idx < 0 || retry_idx == NULL || n_setup_retries >= (uint64_t)ntable / 20 + 10)
		return 0;
	if(!first_retry_error[0] && why) first_retry_error = why;
	retry_idx[nretry++] = c->idx;
	n_setup_retries++;
	c->idx = -1;
	return 1;
}

static void conn_close(conn *c, int failed, const char *why) {
	if(c->st == ST_CLOSED) return;
	if(!c->is_server && c->st < ST_READY) {
		n_handshaking--;
		if(failed && setup_retry(c, why)) failed = 0;
	}
	if(failed && why) last_error = why;
	c->st = ST_CLOSED;
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	struct linger lg = { 1, 0 };	/* RST: no TIME_WAIT on the load generator side */
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if(c->ssl) { SSL_free(c->ssl); c->ssl = NULL; }
	close(c->fd);
	c->fd = -1;
	on_closed(c, failed);
	/* freed by flush_dirty() after the current epoll batch (table conns are kept) */
	if(!c->dirty) { c->dirty = 1; c->next_dirty = dirty_head; dirty_head = c; }
}

static conn *conn_alloc(int fd, int is_server) {
	conn *c = calloc(1, sizeof(*c));
	c->fd = fd; c->is_server = is_server; c->idx = -1; c->partner = -1;
	c->rcap = 2048; c->rb = malloc(c->rcap);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = c };
	if(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
	return c;
}

static conn *client_start(const char *id) {
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if(fd < 0) { n_failed++; last_error = "socket() failed (fd limit?)"; return NULL; }
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if(nsrc > 0) {
		struct sockaddr_in src = { .sin_family = AF_INET };
		src.sin_addr.s_addr = htonl(src_base + (src_rr++ % nsrc));	/* --src-base and the nsrc - 1 addresses after it */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if(bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) { close(fd); n_failed++; last_error = "bind"; return NULL; }
	}
	/* relay and realtraffic ids are <tag>a<n> / <tag>b<n>: the B side may be on another node */
	const struct sockaddr_in *to = port_b > 0 && id != NULL && strlen(id) > strlen(run_tag) && id[strlen(run_tag)] == 'b'
		? &dst_addr_b : &dst_addr;
	if(connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0 && errno != EINPROGRESS) {
		close(fd); n_failed++; last_error = "connect() failed"; return NULL;
	}
	conn *c = conn_alloc(fd, 0);
	c->st = ST_CONNECTING;
	c->t0 = now_ns();
	if(id) snprintf(c->id, sizeof(c->id), "%s", id);
	n_started++; n_active++; n_handshaking++;
	return c;
}

static void send_request(conn *c) {
	char req[512];
	int n;
	if(c->http && mode == M_REDEEM) {
		/* a peer of the table (round robin) redeems; the answer is parsed in process() */
		static uint64_t rr_peer = 0;
		if(!redeem_can_send()) return;
		r_sent++;
		conn *peer = table[rr_peer++ % npeers];
		char body[320];
		int bl = snprintf(body, sizeof(body), "{\"id\":\"%s\",\"token\":\"t%s\",\"link_token\":\"%s\"}", peer->id, peer->id,
			link_token);
		n = snprintf(req, sizeof(req), "POST /%s/links/redeem HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: p2plink-loadgen\r\n"
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path_key, host, port, bl, body);
		c->st = ST_HTTP;
	} else if(c->http) {
		n = snprintf(req, sizeof(req), "GET /%s/id HTTP/1.1\r\nHost: %s:%d\r\nConnection: keep-alive\r\n\r\n",
			path_key, host, port);
		c->st = ST_HTTP;
	} else {
		n = snprintf(req, sizeof(req), "GET /peerjs?key=%s&id=%s&token=t%s&version=1.5.5 HTTP/1.1\r\nHost: %s:%d\r\n"
			"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			"Sec-WebSocket-Version: 13\r\n\r\n", path_key, c->id, c->id, host, port);
		c->st = ST_UPGRADE;
	}
	c->t0 = c->t0 ? c->t0 : now_ns();
	wb_append(c, req, n);
}

/* client → server frame, zero masking key */
static size_t ws_header(uint8_t *h, size_t len, int masked, int opcode) {
	size_t i = 0;
	h[i++] = 0x80 | opcode;
	uint8_t m = masked ? 0x80 : 0;
	if(len < 126) h[i++] = m | len;
	else if(len < 65536) { h[i++] = m | 126; h[i++] = len >> 8; h[i++] = len & 0xff; }
	else { h[i++] = m | 127; for(int k = 7; k >= 0; k--) h[i++] = (len >> (8 * k)) & 0xff; }
	if(masked) { memset(h + i, 0, 4); i += 4; }
	return i;
}
static void ws_send_text(conn *c, const char *text, size_t len) {
	uint8_t h[16];
	size_t hl = ws_header(h, len, !c->is_server, 1);
	wb_append(c, h, hl);
	wb_append(c, text, len);
}

/* ---------- relay payloads ---------- */
static char *pad_offer = NULL, *pad_answer = NULL;
/* SDP-looking text of at least `size` bytes with JSON-escaped CRLFs, as a browser's offer/answer looks inside a
 * PeerJS payload */
static char *sdp_text(int size) {
	static const char *lines[] = { "a=candidate:1 1 udp 2122260223 192.168.1.23 54321 typ host generation 0",
		"a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1", "a=ice-ufrag:Ab3d",
		"a=fingerprint:sha-256 4F:2A:9C:11:0B:7E:55:D1:AA:02:3C:98:EF:61:70:24:CD:8B:19:46:5A:E3:07:BC:92:1F:6D:38:A4:C5:E0:73",
		"a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level" };
	char *p = malloc(size + 256);
	size_t n = 0; int li = 0;
	while((int)n < size)
		n += sprintf(p + n, "%s\\r\\n", lines[li++ % 6]);
	p[n] = 0;
	return p;
}
static void make_pads(void) {
	pad_offer = sdp_text(payload_bytes * 5 / 4);	/* OFFER ~2.5 KiB, ANSWER ~1.2 KiB at 2048 */
	pad_answer = sdp_text(payload_bytes * 3 / 5);
}
static void relay_send(conn *from, int offer, uint64_t ts) {
	conn *to = table[from->partner];
	char buf[16384];
	int n = snprintf(buf, sizeof(buf), "{\"type\":\"%s\",\"dst\":\"%s\",\"payload\":{\"sdp\":{\"type\":\"%s\",\"sdp\":"
		"\"v=0\\r\\nts=%020llu;\\r\\n%s\"},\"type\":\"media\",\"connectionId\":\"mc_bench%s\",\"browser\":\"loadgen\"}}",
		offer ? "OFFER" : "ANSWER", to->id, offer ? "offer" : "answer", (unsigned long long)ts,
		offer ? pad_offer : pad_answer, from->is_a ? from->id : to->id);
	ws_send_text(from, buf, n);
	n_sent++;
}

/* ---------- realtraffic frames ---------- */
/* xorshift64*: a reproducible stream of random numbers (timing, types, sizes) that costs nothing per frame */
static uint64_t rng_next(void) {
	rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}
static double rng_unit(void) { return ((rng_next() >> 11) + 0.5) / 9007199254740992.0; }	/* (0, 1) */
/* An SDP body of 6 KiB+ (JSON-escaped CRLFs, as inside a PeerJS payload) and the offsets where its lines end: an
 * OFFER/ANSWER takes a prefix that ends at a line end, so every size in 2-6 KiB stays valid JSON. */
static char *rt_sdp = NULL;
static uint32_t rt_sdp_cut[512], rt_sdp_ncut = 0;
static uint64_t rt_sent_type[3], rt_bytes_sent = 0;	/* OFFER, ANSWER, CANDIDATE; frame bytes (JSON) */
static void rt_make_sdp(void) {
	rt_sdp = sdp_text(sdp_max + 256);
	for(char *q = rt_sdp; (q = strstr(q, "\\r\\n")) != NULL && rt_sdp_ncut < 512; q += 4)
		rt_sdp_cut[rt_sdp_ncut++] = (uint32_t)(q + 4 - rt_sdp);
}
static uint32_t rt_sdp_len(void) {
	/* a line end between 2 KiB and --sdp-max (6 KiB) of SDP text, uniformly */
	uint32_t want = 2048 + (uint32_t)(rng_next() % (uint32_t)(sdp_max > 2048 ? sdp_max - 2048 + 1 : 1)), best = rt_sdp_cut[0];
	for(uint32_t k = 0; k < rt_sdp_ncut && rt_sdp_cut[k] <= want; k++) best = rt_sdp_cut[k];
	return best;
}
/* One frame from `from` to its partner, as peerjs 1.5 builds them; ts = send time, read back by the receiver */
static void rt_send(conn *from, uint64_t ts) {
	static const char *cands[] = {
		"1 udp 2122260223 192.168.1.23 54321 typ host generation 0 ufrag Ab3d network-id 1",
		"1 udp 1686052607 203.0.113.77 61002 typ srflx raddr 192.168.1.23 rport 54321 generation 0 ufrag Ab3d",
		"1 tcp 1518280447 192.168.1.23 9 typ host tcptype active generation 0 ufrag Ab3d",
		"2 udp 41885439 198.51.100.9 3478 typ relay raddr 203.0.113.77 rport 61002 generation 0 ufrag Ab3d",
	};
	conn *to = table[from->partner];
	char buf[8192];
	int n, pair = from->idx / 2;
	double u = rng_unit();
	if(u < sdp_share) {
		int offer = u < sdp_share / 2;
		uint32_t sl = rt_sdp_len();
		n = snprintf(buf, sizeof(buf), "{\"type\":\"%s\",\"payload\":{\"sdp\":{\"type\":\"%s\",\"sdp\":\"v=0\\r\\n"
			"o=- ts=%020llu 2 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n%.*s\"},\"type\":\"media\",\"connectionId\":"
			"\"mc_rt%d\",\"browser\":\"chrome\"%s},\"dst\":\"%s\"}", offer ? "OFFER" : "ANSWER", offer ? "offer" : "answer",
			(unsigned long long)ts, (int)sl, rt_sdp, pair, offer ? ",\"label\":null,\"metadata\":{}" : "", to->id);
		rt_sent_type[offer ? 0 : 1]++;
	} else {
		int k = (int)(rng_next() % 4);
		n = snprintf(buf, sizeof(buf), "{\"type\":\"CANDIDATE\",\"payload\":{\"candidate\":{\"candidate\":\"candidate:"
			"ts=%llu %s\",\"sdpMid\":\"%d\",\"sdpMLineIndex\":%d,\"usernameFragment\":\"Ab3d\"},\"type\":\"media\","
			"\"connectionId\":\"mc_rt%d\"},\"dst\":\"%s\"}", (unsigned long long)ts, cands[k], k & 1, k & 1, pair, to->id);
		rt_sent_type[2]++;
	}
	ws_send_text(from, buf, n);
	rt_bytes_sent += n;
	n_sent++;
}

/* ---------- frame handling (client side) ---------- */
static void client_message(conn *c, char *p, size_t len) {
	if(c->st == ST_WAIT_OPEN) {
		if(len >= 15 && memmem(p, len, "\"OPEN\"", 6)) {
			c->st = ST_READY;
			n_opened++; n_ready++; n_handshaking--;
			uint64_t t = now_ns();
			if(mode == M_CONNECT) {
				lat_add(t - c->t0);
				conn_close(c, 0, NULL);
			} else if(mode == M_IDLE || mode == M_REDEEM || mode == M_REAL) {
				c->next_hb = t + (uint64_t)(heartbeat_s * 1e9);
			}
		} else {
			n_errors_frames++;
			static char ebuf[160];
			snprintf(ebuf, sizeof(ebuf), "first frame not OPEN: %.*s", (int)(len > 120 ? 120 : len), p);
			last_error = ebuf;
			conn_close(c, 1, NULL);
		}
		return;
	}
	if(mode == M_RELAY) {
		char *ts = memmem(p, len > 200 ? 200 : len, "ts=", 3);
		if(!ts) {
			if(memmem(p, len, "\"ERROR\"", 7) || memmem(p, len, "EXPIRE", 6) || memmem(p, len, "LEAVE", 5)) {
				n_errors_frames++;
				static char ebuf[160];
				snprintf(ebuf, sizeof(ebuf), "unexpected frame: %.*s", (int)(len > 120 ? 120 : len), p);
				last_error = ebuf;
			}
			return;
		}
		uint64_t sent = strtoull(ts + 3, NULL, 10);
		uint64_t t = now_ns();
		n_recv++;
		lat_add(t - sent);
		if(rate > 0) {
			if(!c->is_a) relay_send(c, 0, t);	/* open loop: B answers, A just counts */
		} else {
			relay_send(c, !c->is_a ? 0 : 1, t);
		}
	} else if(mode == M_REAL) {
		/* a relayed frame carries ts= (the reference re-serialises the JSON, so it is looked for anywhere);
		 * anything else the server sends a peer here (EXPIRE, ERROR, P2PLINK-REFUSED, LEAVE) is a failure */
		char *ts = memmem(p, len, "ts=", 3);
		if(!ts) {
			n_errors_frames++;
			static char ebuf[160];
			snprintf(ebuf, sizeof(ebuf), "unexpected frame: %.*s", (int)(len > 120 ? 120 : len), p);
			last_error = ebuf;
			return;
		}
		n_recv++;
		lat_add(now_ns() - strtoull(ts + 3, NULL, 10));
	} else if(mode == M_IDLE || mode == M_REDEEM) {
		if(memmem(p, len, "\"ERROR\"", 7) || memmem(p, len, "\"ID-TAKEN\"", 10)) {
			n_errors_frames++;
			static char ebuf[160];
			snprintf(ebuf, sizeof(ebuf), "peer got: %.*s", (int)(len > 120 ? 120 : len), p);
			last_error = ebuf;
		}
	}
}

/* ---------- trivial relay server ---------- */
#define HT_SIZE (1 << 18)
static struct { char id[32]; conn *c; } *ht;
static uint32_t ht_hash(const char *s, size_t n) {
	uint32_t h = 2166136261u;
	for(size_t i = 0; i < n; i++) { h ^= (uint8_t)s[i]; h *= 16777619u; }
	return h;
}
static conn **ht_slot(const char *id, size_t n, int create) {
	uint32_t h = ht_hash(id, n) & (HT_SIZE - 1);
	for(int probe = 0; probe < HT_SIZE; probe++, h = (h + 1) & (HT_SIZE - 1)) {
		if(ht[h].id[0] == 0) {
			if(!create) return NULL;
			memcpy(ht[h].id, id, n); ht[h].id[n] = 0;
			return &ht[h].c;
		}
		if(strlen(ht[h].id) == n && !memcmp(ht[h].id, id, n)) return &ht[h].c;
	}
	return NULL;
}
static uint64_t uuid_ctr = 0;
static void server_http(conn *c) {
	for(;;) {
		char *end = memmem(c->rb, c->rlen, "\r\n\r\n", 4);
		if(!end) return;
		size_t hl = end + 4 - c->rb;
		char *line_end = memchr(c->rb, '\r', hl);
		char *idp = memmem(c->rb, line_end - c->rb, "id=", 3);
		if(memmem(c->rb, hl, "Upgrade: websocket", 18) || memmem(c->rb, hl, "upgrade: websocket", 18)) {
			if(idp) {
				char *e = idp + 3;
				while(e < line_end && *e != '&' && *e != ' ') e++;
				size_t n = e - idp - 3;
				if(n > 0 && n < 31) {
					memcpy(c->id, idp + 3, n); c->id[n] = 0;
					conn **slot = ht_slot(c->id, n, 1);
					if(slot) *slot = c;
				}
			}
			static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
			wb_append(c, resp, sizeof(resp) - 1);
			ws_send_text(c, "{\"type\":\"OPEN\"}", 15);
			memmove(c->rb, c->rb + hl, c->rlen - hl);
			c->rlen -= hl;
			c->st = ST_READY;
			return;
		}
		char *clh = memmem(c->rb, hl, "ontent-Length:", 14);
		if(!clh) clh = memmem(c->rb, hl, "ontent-length:", 14);
		size_t clen = clh ? strtoul(clh + 14, NULL, 10) : 0;
		if(c->rlen < hl + clen) return;	/* wait for the whole body */
		char body[96];
		int bl = !memcmp(c->rb, "POST", 4) ? snprintf(body, sizeof(body), "{\"ok\":true,\"target\":\"bench-target\",\"purpose\":\"call\"}")
			: snprintf(body, sizeof(body), "%08llx-0000-4000-8000-000000000000", (unsigned long long)++uuid_ctr);
		char resp[256];
		int n = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
			body[0] == '{' ? "application/json" : "text/html", bl, body);
		wb_append(c, resp, n);
		memmove(c->rb, c->rb + hl + clen, c->rlen - hl - clen);
		c->rlen -= hl + clen;
		n_http++;
	}
}
static void server_message(conn *c, char *p, size_t len) {
	char *d = memmem(p, len, "\"dst\":\"", 7);
	if(!d) return;
	d += 7;
	char *e = memchr(d, '"', p + len - d);
	if(!e || e - d >= 31) return;
	conn **slot = ht_slot(d, e - d, 0);
	if(!slot || !*slot) return;
	ws_send_text(*slot, p, len);
	n_recv++;
}

/* ---------- share-link redemptions (client side) ---------- */
static void redeem_answer(int status, const char *body, size_t blen) {
	r_answered++;
	if(status == 200 && memmem(body, blen, "\"ok\":true", 9)) {
		r_ok++;
		if(recording) r_ok_window++;
	} else if(status == 200 && memmem(body, blen, "\"ok\":false", 10)) {
		r_denied++;
		int k = 0;
		while(k < 5 && !memmem(body, blen, denied_codes[k], strlen(denied_codes[k]))) k++;
		r_denied_code[k]++;
	} else {
		r_http_err++;
		if(!r_first_err[0])
			snprintf(r_first_err, sizeof(r_first_err), "HTTP %d: %.*s", status, (int)(blen > 150 ? 150 : blen), body);
	}
}

/* ---------- reading & framing ---------- */
static void process(conn *c) {
	if(c->is_server && c->st == ST_UPGRADE) { server_http(c); if(c->st != ST_READY) return; }
	if(!c->is_server && c->st == ST_UPGRADE) {
		char *end = memmem(c->rb, c->rlen, "\r\n\r\n", 4);
		if(!end) return;
		if(c->rlen < 12 || memcmp(c->rb + 9, "101", 3) != 0) {
			static char ebuf[160];
			snprintf(ebuf, sizeof(ebuf), "upgrade refused: %.*s", (int)(c->rlen > 100 ? 100 : c->rlen), c->rb);
			last_error = ebuf;
			conn_close(c, 1, NULL);
			return;
		}
		size_t hl = end + 4 - c->rb;
		memmove(c->rb, c->rb + hl, c->rlen - hl);
		c->rlen -= hl;
		c->st = ST_WAIT_OPEN;
	}
	if(c->st == ST_HTTP) {
		size_t off = 0;
		for(;;) {
			char *end = memmem(c->rb + off, c->rlen - off, "\r\n\r\n", 4);
			if(!end) break;
			size_t hl = end + 4 - (c->rb + off);
			char *cl = memmem(c->rb + off, hl, "ontent-Length:", 14);
			if(!cl) cl = memmem(c->rb + off, hl, "ontent-length:", 14);
			int status = hl > 12 ? atoi(c->rb + off + 9) : 0;
			if(!cl || (mode != M_REDEEM && status != 200)) {
				static char ebuf[160];
				snprintf(ebuf, sizeof(ebuf), "bad HTTP answer: %.*s", (int)(hl > 120 ? 120 : hl), c->rb + off);
				last_error = ebuf;
				conn_close(c, 1, NULL);
				return;
			}
			size_t blen = strtoul(cl + 14, NULL, 10);
			if(c->rlen - off < hl + blen) break;
			if(mode == M_REDEEM) redeem_answer(status, c->rb + off + hl, blen);
			off += hl + blen;
			n_http++;
			if(recording) lat_add(now_ns() - c->t0);
			c->t0 = now_ns();
			if(mode == M_REDEEM && !redeem_can_send()) continue;	/* stays idle: budget or time is up */
			send_request(c);
		}
		if(off) { memmove(c->rb, c->rb + off, c->rlen - off); c->rlen -= off; }
		return;
	}
	size_t off = 0;
	while(c->st != ST_CLOSED && c->rlen - off >= 2) {
		uint8_t *h = (uint8_t *)c->rb + off;
		int opcode = h[0] & 0x0f, masked = h[1] & 0x80;
		uint64_t len = h[1] & 0x7f;
		size_t hl = 2;
		if(len == 126) { if(c->rlen - off < 4) break; len = (h[2] << 8) | h[3]; hl = 4; }
		else if(len == 127) { if(c->rlen - off < 10) break; len = 0; for(int k = 0; k < 8; k++) len = (len << 8) | h[2 + k]; hl = 10; }
		uint8_t mask[4] = { 0, 0, 0, 0 };
		if(masked) { if(c->rlen - off < hl + 4) break; memcpy(mask, h + hl, 4); hl += 4; }
		if(c->rlen - off < hl + len) break;
		char *p = c->rb + off + hl;
		if(masked && (mask[0] | mask[1] | mask[2] | mask[3]))
			for(uint64_t i = 0; i < len; i++) p[i] ^= mask[i & 3];
		off += hl + len;
		if(opcode == 1 || opcode == 0) {
			if(c->is_server) server_message(c, p, len); else client_message(c, p, len);
		} else if(opcode == 8) {
			if(!c->is_server) n_unexpected_close++;
			conn_close(c, !c->is_server, "server sent close");
			return;
		} else if(opcode == 9) {
			uint8_t hh[16];
			size_t n = ws_header(hh, len, !c->is_server, 10);
			wb_append(c, hh, n); wb_append(c, p, len);
		}
	}
	if(c->st != ST_CLOSED && off) { memmove(c->rb, c->rb + off, c->rlen - off); c->rlen -= off; }
}

static void on_event(conn *c, uint32_t ev) {
	if(c->st == ST_CLOSED) return;
	if(c->st == ST_CONNECTING) {
		int err = 0; socklen_t sl = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
		if(err) { conn_close(c, 1, "connect refused/failed"); return; }
		if(!(ev & EPOLLOUT)) return;
		if(use_tls) {
			c->ssl = SSL_new(sslctx);
			SSL_set_fd(c->ssl, c->fd);
			SSL_set_connect_state(c->ssl);
			c->st = ST_TLS;
		} else send_request(c);
	}
	if(c->st == ST_TLS) {
		int r = SSL_do_handshake(c->ssl);
		if(r != 1) {
			int e = SSL_get_error(c->ssl, r);
			if(e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) { conn_close(c, 1, "TLS handshake failed"); return; }
			return;
		}
		if(c->is_server) c->st = ST_UPGRADE; else send_request(c);
	}
	if(io_flush(c) < 0) {
		static char ebuf[160];
		snprintf(ebuf, sizeof(ebuf), "write failed%s (%s)", c->st == ST_READY ? "" : " during setup", io_error);
		conn_close(c, !c->is_server, ebuf);
		return;
	}
	for(;;) {
		if(c->rcap - c->rlen < 4096) {
			c->rcap = c->rcap < 16384 ? 16384 : c->rcap * 2;
			c->rb = realloc(c->rb, c->rcap);
		}
		ssize_t n = io_read(c, c->rb + c->rlen, c->rcap - c->rlen);
		if(n == -2) break;
		if(n == -1) {
			if(!c->is_server && c->st != ST_CONNECTING) n_unexpected_close++;
			conn_close(c, !c->is_server, "server closed the connection");
			return;
		}
		c->rlen += n;
		process(c);
		if(c->st == ST_CLOSED) return;
	}
}

static void flush_dirty(void) {
	while(dirty_head) {
		conn *c = dirty_head;
		dirty_head = c->next_dirty;
		c->dirty = 0;
		if(c->st == ST_CLOSED) { if(c->idx < 0) conn_free(c); continue; }
		if(c->st == ST_CONNECTING || c->st == ST_TLS) continue;
		if(io_flush(c) < 0) conn_close(c, !c->is_server, "write failed");
	}
}

/* Heartbeats for the peers in table[0..n): every ready peer whose --heartbeat interval has passed sends one.
 * Scans at most every 100 ms (*last_scan), so thousands of idle peers cost little load-generator CPU. */
static void send_due_heartbeats(int n, uint64_t *last_scan) {
	if(t_now - *last_scan <= 100000000ull)
		return;
	*last_scan = t_now;
	for(int i = 0; i < n; i++) {
		conn *c = table[i];
		if(c && c->st == ST_READY && t_now >= c->next_hb) {
			ws_send_text(c, "{\"type\":\"HEARTBEAT\"}", 20);
			c->next_hb += (uint64_t)(heartbeat_s * 1e9);
			n_hb++;
		}
	}
	flush_dirty();
}

/* ---------- mode logic ---------- */
static uint64_t next_conn_seq = 0;
static void on_closed(conn *c, int failed) {
	n_active--;
	if(failed) n_failed++;
	if(c->is_server && c->id[0]) {
		conn **slot = ht_slot(c->id, strlen(c->id), 0);
		if(slot && *slot == c) *slot = NULL;
	}
	if(c->idx >= 0 && c->st == ST_CLOSED && n_ready > 0 && mode != M_CONNECT && failed) { /* keep counts honest */ }
}

static int pump(int timeout_ms) {
	struct epoll_event evs[512];
	int n = epoll_wait(ep, evs, 512, timeout_ms);
	t_now = now_ns();
	for(int i = 0; i < n; i++) {
		conn *c = evs[i].data.ptr;
		if(c == NULL) {	/* listening socket */
			continue;
		}
		on_event(c, evs[i].events);
	}
	flush_dirty();
	return n;
}

/* s inside a JSON string: quotes and backslashes escaped, control characters left out */
static void json_chars(FILE *o, const char *s) {
	for(; *s; s++) {
		if(*s == '"' || *s == '\\') fputc('\\', o);
		if((unsigned char)*s >= 0x20) fputc(*s, o);
	}
}

static void print_common(FILE *o) {
	fprintf(o, "\"mode\":\"%s\",\"tls\":%d,\"port\":%d,\"opened\":%llu,\"failed\":%llu,\"unexpected_close\":%llu,"
		"\"error_frames\":%llu,\"last_error\":\"", mode == M_RELAY ? "relay" : mode == M_CONNECT ? "connect" :
		mode == M_HTTPID ? "httpid" : mode == M_IDLE ? "idle" : mode == M_REDEEM ? "redeem" : mode == M_REAL ? "realtraffic" :
		"serve", use_tls, port,
		(unsigned long long)n_opened, (unsigned long long)n_failed, (unsigned long long)n_unexpected_close,
		(unsigned long long)n_errors_frames);
	json_chars(o, last_error);
	fputc('"', o);
}

/* Connect conns [from, to) of the table with at most `concurrency` handshakes in flight, until all are READY. */
static int ramp(int from, int to, double timeout_s) {
	uint64_t deadline = now_ns() + (uint64_t)(timeout_s * 1e9);
	int next = from;
	uint64_t ready0 = n_ready - 0;
	uint64_t want = n_ready + (to - from);
	(void)ready0;
	while(n_ready < want) {
		int pending = (int)n_handshaking;
		while((next < to || nretry > 0) && pending < concurrency) {
			/* a retried peer (realtraffic) takes a new id: the server may still hold the old one */
			int idx = nretry > 0 ? retry_idx[--nretry] : next++;
			char id[32];
			snprintf(id, sizeof(id), "%s%c%d%s", run_tag, mode == M_RELAY || mode == M_REAL ? (idx % 2 ? 'b' : 'a') : 'i', idx,
				table[idx] != NULL ? "r" : "");
			conn *c = client_start(id);
			if(!c) { fprintf(stderr, "loadgen: %s\n", last_error); return -1; }
			c->idx = idx;
			table[idx] = c;
			pending++;
		}
		if(n_failed > 0) return -1;
		if(now_ns() > deadline) { last_error = "ramp timed out"; return -1; }
		pump(10);
		if(mode == M_IDLE || mode == M_REAL) {	/* heartbeats keep flowing while ramping */
			static uint64_t last_scan = 0;
			send_due_heartbeats(next, &last_scan);
		}
	}
	return 0;
}

/* realtraffic: see the opening comment. Returns the exit status. */
static int run_realtraffic(FILE *o) {
	rt_make_sdp();
	ntable = pairs * 2;
	table = calloc(ntable, sizeof(conn *));
	retry_idx = calloc(ntable / 20 + 10, sizeof(int));
	long rss_empty = proc_rss_kb(server_pid);	/* before the first peer: per-peer RSS is measured from here */
	uint64_t r0 = now_ns();
	if(ramp(0, ntable, ramp_timeout) < 0) {
		fprintf(o, "{"); print_common(o); fprintf(o, ",\"ok\":false}\n");
		return 1;
	}
	double ramp_s = (now_ns() - r0) / 1e9;
	for(int i = 0; i < ntable; i++) table[i]->partner = i ^ 1;
	fprintf(stderr, "loadgen realtraffic: %d peers open in %.1f s\n", ntable, ramp_s);
	uint64_t hb_ns = (uint64_t)(heartbeat_s * 1e9), t_start = now_ns();
	/* heartbeat phases spread evenly over one period, in table order, so one cursor finds every due heartbeat */
	for(int i = 0; i < ntable; i++) table[i]->next_hb = t_start + hb_ns * (uint64_t)i / (uint64_t)ntable;
	int hb_cur = 0;
	/* N independent Poisson processes of rate r are one Poisson process of rate N*r whose events go to a peer
	 * drawn uniformly: one clock instead of N timers */
	double total_rate = peer_rate * ntable;
	uint64_t next_ev = t_start;
	uint64_t t_win = t_start + (uint64_t)(warmup * 1e9), t_end = t_win + (uint64_t)(duration * 1e9);
	uint64_t t_stop = t_end + (uint64_t)(after_s * 1e9);
	uint64_t sent0 = 0, recv0 = 0, hb0 = 0, bytes0 = 0, type0[3] = { 0 };
	uint64_t sent_w = 0, recv_w = 0, hb_w = 0, bytes_w = 0, type_w[3] = { 0 };
	double scpu0 = 0, lcpu0 = 0, mcpu0 = 0, scpu = 0, lcpu = 0, mcpu = 0, win = 0;
	long rss_loaded = 0;
	comm_cpu th0[MAXCOMM], th1[MAXCOMM];
	int nth0 = 0, nth1 = 0, phase = 0;	/* 0 warm-up, 1 window, 2 after (profile) */
	uint64_t not_ready = 0, lag_max = 0;
	for(;;) {
		pump(1);
		t_now = now_ns();
		int burst = 0;
		while(total_rate > 0 && next_ev <= t_now && burst < 20000) {
			conn *c = table[rng_next() % (uint64_t)ntable];
			if(c->st == ST_READY && table[c->partner]->st == ST_READY) rt_send(c, now_ns());
			else not_ready++;
			/* how far behind its Poisson schedule the load generator sends (it is the ceiling when this grows) */
			if(phase == 1 && t_now - next_ev > lag_max) lag_max = t_now - next_ev;
			next_ev += (uint64_t)(-log(rng_unit()) / total_rate * 1e9);
			burst++;
		}
		while(hb_ns > 0 && table[hb_cur]->next_hb <= t_now) {
			conn *c = table[hb_cur];
			if(c->st == ST_READY) { ws_send_text(c, "{\"type\":\"HEARTBEAT\"}", 20); n_hb++; }
			c->next_hb += hb_ns;
			hb_cur = (hb_cur + 1) % ntable;
		}
		flush_dirty();
		if(phase == 0 && t_now >= t_win) {
			phase = 1; recording = 1;
			sent0 = n_sent; recv0 = n_recv; hb0 = n_hb; bytes0 = rt_bytes_sent; memcpy(type0, rt_sent_type, sizeof(type0));
			scpu0 = proc_cpu_s(server_pid); lcpu0 = self_cpu_s(); mcpu0 = machine_busy_s(); nth0 = threads_cpu(server_pid, th0);
		} else if(phase == 1 && t_now >= t_end) {
			win = (double)(t_now - t_win) / 1e9;
			scpu = proc_cpu_s(server_pid) - scpu0; lcpu = self_cpu_s() - lcpu0; mcpu = machine_busy_s() - mcpu0;
			nth1 = threads_cpu(server_pid, th1);
			rss_loaded = proc_rss_kb(server_pid);
			sent_w = n_sent - sent0; recv_w = n_recv - recv0; hb_w = n_hb - hb0; bytes_w = rt_bytes_sent - bytes0;
			for(int k = 0; k < 3; k++) type_w[k] = rt_sent_type[k] - type0[k];
			phase = 2; recording = 0;
			if(after_s > 0) { fprintf(stderr, "PROFILE-START\n"); fflush(stderr); }
		}
		if(phase == 2 && t_now >= t_stop) break;
		if(n_failed > 0 || n_unexpected_close > 0) {
			fprintf(stderr, "loadgen realtraffic: stopped %.1f s into the %s: %s\n", (t_now - t_start) / 1e9,
				phase == 0 ? "warm-up" : phase == 1 ? "window" : "profile phase", last_error);
			break;
		}
	}
	/* sending has stopped: every frame sent must arrive (bounded wait) */
	uint64_t drain_end = now_ns() + 10000000000ull;
	while(n_recv < n_sent && now_ns() < drain_end && n_unexpected_close == 0) pump(20);
	int alive = 0;
	for(int i = 0; i < ntable; i++) if(table[i]->st == ST_READY) alive++;
	int ok = n_failed == 0 && n_unexpected_close == 0 && n_errors_frames == 0 && n_recv == n_sent && win > 0;
	fprintf(o, "{"); print_common(o);
	fprintf(o, ",\"ok\":%s,\"peers\":%d,\"alive_at_end\":%d,\"ramp_s\":%.2f,\"peer_rate\":%.3f,\"sdp_share\":%.3f,"
		"\"heartbeat_s\":%.1f,\"window_s\":%.3f,\"sent_in_window\":%llu,\"received_in_window\":%llu,\"sent_per_s\":%.1f,"
		"\"received_per_s\":%.1f,\"heartbeats_in_window\":%llu,\"heartbeats_per_s\":%.1f,\"offers_in_window\":%llu,"
		"\"answers_in_window\":%llu,\"candidates_in_window\":%llu,\"mean_frame_bytes\":%.0f,\"sent_total\":%llu,"
		"\"received_total\":%llu,\"lost\":%lld,\"not_ready_skipped\":%llu,\"server_cpu_s\":%.3f,\"server_cpu_pct\":%.1f,"
		"\"server_cpu_us_per_frame\":%.2f,\"server_cpu_us_per_frame_incl_heartbeats\":%.2f,\"loadgen_cpu_pct\":%.1f,"
		"\"other_cpu_pct\":%.1f,\"server_rss_kb_empty\":%ld,\"server_rss_kb\":%ld,\"server_rss_kb_per_peer\":%.2f,"
		"\"send_lag_ms_max\":%.1f,\"setup_retries\":%llu,\"first_retry_error\":\"",
		ok ? "true" : "false", ntable, alive, ramp_s, peer_rate, sdp_share, heartbeat_s, win, (unsigned long long)sent_w,
		(unsigned long long)recv_w, win > 0 ? sent_w / win : 0.0, win > 0 ? recv_w / win : 0.0, (unsigned long long)hb_w,
		win > 0 ? hb_w / win : 0.0, (unsigned long long)type_w[0], (unsigned long long)type_w[1],
		(unsigned long long)type_w[2], sent_w ? (double)bytes_w / sent_w : 0.0, (unsigned long long)n_sent,
		(unsigned long long)n_recv, (long long)(n_sent - n_recv), (unsigned long long)not_ready, scpu,
		win > 0 ? 100.0 * scpu / win : 0.0, recv_w ? scpu * 1e6 / recv_w : 0.0,
		recv_w + hb_w ? scpu * 1e6 / (recv_w + hb_w) : 0.0, win > 0 ? 100.0 * lcpu / win : 0.0,
		win > 0 ? 100.0 * (mcpu - scpu - lcpu) / win : 0.0, rss_empty, rss_loaded,
		ntable ? (double)(rss_loaded - rss_empty) / ntable : 0.0, lag_max / 1e6, (unsigned long long)n_setup_retries);
	json_chars(o, first_retry_error);
	fprintf(o, "\",");
	threads_report(o, th0, nth0, th1, nth1, win > 0 ? win : 1);
	fprintf(o, ",");
	lat_report(o);
	fprintf(o, "}\n");
	return ok ? 0 : 1;
}

static void usage(void) {
	fprintf(stderr, "usage: loadgen relay|connect|httpid|idle|redeem|serve [--port P] [--tls 0|1] [--host IP] [--src N]\n"
		"  [--pairs N] [--inflight K] [--payload B] [--rate R] [--warmup S] [--duration S] [--concurrency K]\n"
		"  [--conns K] [--levels a,b,c] [--hold S] [--heartbeat S] [--server-pid PID] [--tag T]\n"
		"  relay/realtraffic across nodes: --port-b P (B sides there) --extra-pids P,Q (their CPU counts too)\n"
		"  redeem: --link-token T [--peers N] [--conns K] [--attempts N] [--warmup S] [--duration S]\n"
		"  realtraffic: --pairs N [--peer-rate F] [--sdp-share P] [--heartbeat S] [--warmup S] [--duration S] [--after S]\n"
		"    [--sdp-max B] [--concurrency K] [--ramp-timeout S] [--seed N]   (all: --src N --src-base A.B.C.D: source addresses)\n"
		"  serve: --port P [--tls 1 --cert F --key F]\n");
	exit(2);
}

int main(int argc, char **argv) {
	if(argc < 2) usage();
	const char *m = argv[1];
	mode = !strcmp(m, "relay") ? M_RELAY : !strcmp(m, "connect") ? M_CONNECT : !strcmp(m, "httpid") ? M_HTTPID :
		!strcmp(m, "idle") ? M_IDLE : !strcmp(m, "serve") ? M_SERVE : !strcmp(m, "redeem") ? M_REDEEM :
		!strcmp(m, "realtraffic") ? M_REAL : -1;
	if(mode < 0) usage();
	for(int i = 2; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if(!strcmp(k, "--port")) port = atoi(v);
		else if(!strcmp(k, "--tls")) use_tls = atoi(v);
		else if(!strcmp(k, "--host")) host = v;
		else if(!strcmp(k, "--src")) nsrc = atoi(v);
		else if(!strcmp(k, "--pairs")) pairs = atoi(v);
		else if(!strcmp(k, "--inflight")) inflight = atoi(v);
		else if(!strcmp(k, "--payload")) payload_bytes = atoi(v);
		else if(!strcmp(k, "--rate")) rate = atof(v);
		else if(!strcmp(k, "--warmup")) warmup = atof(v);
		else if(!strcmp(k, "--duration")) duration = atof(v);
		else if(!strcmp(k, "--concurrency")) concurrency = atoi(v);
		else if(!strcmp(k, "--conns")) hconns = atoi(v);
		else if(!strcmp(k, "--hold")) hold = atof(v);
		else if(!strcmp(k, "--heartbeat")) heartbeat_s = atof(v);
		else if(!strcmp(k, "--ramp-timeout")) ramp_timeout = atof(v);
		else if(!strcmp(k, "--server-pid")) server_pid = atoi(v);
		else if(!strcmp(k, "--port-b")) port_b = atoi(v);
		else if(!strcmp(k, "--extra-pids")) {
			char *list = strdup(v);
			for(char *t = strtok(list, ","); t != NULL && nextra < 8; t = strtok(NULL, ","))
				extra_pids[nextra++] = atoi(t);
			free(list);
		}
		else if(!strcmp(k, "--tag")) run_tag = v;
		else if(!strcmp(k, "--cert")) cert_file = v;
		else if(!strcmp(k, "--key")) key_file = v;
		else if(!strcmp(k, "--link-token")) link_token = v;
		else if(!strcmp(k, "--peers")) npeers = atoi(v);
		else if(!strcmp(k, "--attempts")) max_attempts = strtoull(v, NULL, 10);
		else if(!strcmp(k, "--peer-rate")) peer_rate = atof(v);
		else if(!strcmp(k, "--sdp-share")) sdp_share = atof(v);
		else if(!strcmp(k, "--after")) after_s = atof(v);
		else if(!strcmp(k, "--sdp-max")) sdp_max = atoi(v) > 7000 ? 7000 : atoi(v);	/* frames fit buf[8192] */
		else if(!strcmp(k, "--seed")) rng_state ^= strtoull(v, NULL, 10) * 0x2545f4914f6cdd1dull;
		else if(!strcmp(k, "--src-base")) {
			struct in_addr a;
			if(inet_pton(AF_INET, v, &a) != 1) usage();
			src_base = ntohl(a.s_addr);
		}
		else if(!strcmp(k, "--levels")) {
			char *s = strdup(v), *tok = strtok(s, ",");
			while(tok && nlevels < 16) { levels[nlevels++] = atoi(tok); tok = strtok(NULL, ","); }
		} else usage();
	}
	signal(SIGPIPE, SIG_IGN);
	clk_tck = sysconf(_SC_CLK_TCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if(use_tls) {
		sslctx = SSL_CTX_new(mode == M_SERVE ? TLS_server_method() : TLS_client_method());
		SSL_CTX_set_mode(sslctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			SSL_MODE_RELEASE_BUFFERS);
		if(mode == M_SERVE) {
			if(!cert_file || SSL_CTX_use_certificate_chain_file(sslctx, cert_file) != 1 ||
					SSL_CTX_use_PrivateKey_file(sslctx, key_file, SSL_FILETYPE_PEM) != 1) {
				fprintf(stderr, "loadgen serve: cannot load --cert/--key\n");
				return 2;
			}
			SSL_CTX_set_session_cache_mode(sslctx, SSL_SESS_CACHE_OFF);
			SSL_CTX_set_num_tickets(sslctx, 0);
		} else {
			SSL_CTX_set_verify(sslctx, SSL_VERIFY_NONE, NULL);	/* loopback, throw-away certificate */
			SSL_CTX_set1_groups_list(sslctx, "X25519:P-256");	/* what browsers offer first */
			/* and their suite order (OpenSSL's own starts with AES-256-GCM-SHA384): a server that follows the
			 * client's order, as the reference does, gets what it would get from a browser */
			SSL_CTX_set_ciphersuites(sslctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
			SSL_CTX_set_session_cache_mode(sslctx, SSL_SESS_CACHE_OFF);	/* every connection: full handshake */
		}
	}
	dst_addr.sin_family = AF_INET;
	dst_addr.sin_port = htons(port);
	inet_pton(AF_INET, host, &dst_addr.sin_addr);
	dst_addr_b = dst_addr;
	dst_addr_b.sin_port = htons(port_b > 0 ? port_b : port);
	FILE *o = stdout;

	if(mode == M_SERVE) {
		ht = calloc(HT_SIZE, sizeof(*ht));
		int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
		setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if(bind(ls, (struct sockaddr *)&dst_addr, sizeof(dst_addr)) < 0 || listen(ls, 4096) < 0) die("listen");
		struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
		epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
		fprintf(stdout, "READY %d\n", port);
		fflush(stdout);
		for(;;) {
			struct epoll_event evs[512];
			int n = epoll_wait(ep, evs, 512, 1000);
			for(int i = 0; i < n; i++) {
				conn *c = evs[i].data.ptr;
				if(c == NULL) {
					for(;;) {
						int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
						if(fd < 0) break;
						setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
						conn *nc = conn_alloc(fd, 1);
						n_active++;
						if(use_tls) {
							nc->ssl = SSL_new(sslctx);
							SSL_set_fd(nc->ssl, fd);
							SSL_set_accept_state(nc->ssl);
							nc->st = ST_TLS;
						} else nc->st = ST_UPGRADE;
						on_event(nc, EPOLLIN | EPOLLOUT);
					}
					continue;
				}
				on_event(c, evs[i].events);
			}
			flush_dirty();
		}
	}

	if(mode == M_RELAY) {
		make_pads();
		ntable = pairs * 2;
		table = calloc(ntable, sizeof(conn *));
		if(ramp(0, ntable, 60) < 0) {
			fprintf(o, "{"); print_common(o); fprintf(o, ",\"ok\":false}\n");
			return 1;
		}
		for(int i = 0; i < ntable; i++) { table[i]->partner = i ^ 1; table[i]->is_a = (i % 2) == 0; }
		fprintf(stderr, "loadgen relay: %d pairs open\n", pairs);
		uint64_t t_start = now_ns();
		uint64_t t_win = t_start + (uint64_t)(warmup * 1e9), t_end = t_win + (uint64_t)(duration * 1e9);
		if(rate <= 0)
			for(int k = 0; k < inflight; k++)
				for(int i = 0; i < ntable; i += 2) relay_send(table[i], 1, now_ns());
		flush_dirty();
		uint64_t recv0 = 0, offers = 0;
		double scpu0 = 0, lcpu0 = 0, mcpu0 = 0;
		long rss0 = 0;
		int rr = 0;
		for(;;) {
			pump(rate > 0 ? 1 : 100);
			if(rate > 0) {
				/* open loop: OFFERs due by now, round-robin over the A sides */
				uint64_t due = (uint64_t)((double)(t_now - t_start) * 1e-9 * rate);
				int burst = 0;
				while(offers < due && burst < 10000) {
					relay_send(table[rr], 1, now_ns());
					rr = (rr + 2) % ntable;
					offers++; burst++;
				}
				flush_dirty();
			}
			if(!recording && t_now >= t_win) {
				recording = 1; recv0 = n_recv; scpu0 = proc_cpu_s(server_pid); lcpu0 = self_cpu_s(); mcpu0 = machine_busy_s();
				rss0 = proc_rss_kb(server_pid);
			}
			if(t_now >= t_end) break;
			if(n_failed > 0 || n_unexpected_close > 0) break;
		}
		if(!recording) { fprintf(o, "{"); print_common(o); fprintf(o, ",\"ok\":false}\n"); return 1; }
		double scpu = proc_cpu_s(server_pid) - scpu0, lcpu = self_cpu_s() - lcpu0, mcpu = machine_busy_s() - mcpu0;
		double win = (double)(now_ns() - t_win) / 1e9;
		uint64_t msgs = n_recv - recv0;
		recording = 0;
		fprintf(o, "{"); print_common(o);
		fprintf(o, ",\"ok\":%s,\"pairs\":%d,\"inflight\":%d,\"rate_target\":%.0f,\"payload\":%d,\"window_s\":%.3f,"
			"\"msgs\":%llu,\"msgs_per_s\":%.1f,\"server_cpu_s\":%.3f,\"server_cpu_pct\":%.1f,\"server_cpu_us_per_msg\":%.2f,"
			"\"loadgen_cpu_pct\":%.1f,\"other_cpu_pct\":%.1f,\"server_rss_kb\":%ld,",
			(n_failed == 0 && n_unexpected_close == 0 && n_errors_frames == 0) ? "true" : "false", pairs, inflight, rate,
			payload_bytes, win, (unsigned long long)msgs, msgs / win, scpu, 100.0 * scpu / win,
			msgs ? scpu * 1e6 / msgs : 0.0, 100.0 * lcpu / win, 100.0 * (mcpu - scpu - lcpu) / win, rss0);
		lat_report(o);
		fprintf(o, "}\n");
		return 0;
	}

	if(mode == M_REAL) return run_realtraffic(o);

	if(mode == M_CONNECT) {
		uint64_t t_start = now_ns(), t_end = t_start + (uint64_t)(duration * 1e9);
		double scpu0 = proc_cpu_s(server_pid), lcpu0 = self_cpu_s(), mcpu0 = machine_busy_s();
		recording = 1;
		uint64_t seq = 0;
		while(now_ns() < t_end) {
			while((int)n_active < concurrency) {
				char id[32];
				snprintf(id, sizeof(id), "%sc%llu", run_tag, (unsigned long long)seq++);
				if(!client_start(id)) break;
			}
			pump(5);
			if(n_failed > 100) break;
		}
		double win = (double)(now_ns() - t_start) / 1e9;
		double scpu = proc_cpu_s(server_pid) - scpu0, lcpu = self_cpu_s() - lcpu0, mcpu = machine_busy_s() - mcpu0;
		uint64_t done = n_opened;
		recording = 0;
		fprintf(o, "{"); print_common(o);
		fprintf(o, ",\"ok\":%s,\"concurrency\":%d,\"window_s\":%.3f,\"setups\":%llu,\"setups_per_s\":%.1f,"
			"\"server_cpu_pct\":%.1f,\"server_cpu_us_per_setup\":%.1f,\"loadgen_cpu_pct\":%.1f,\"other_cpu_pct\":%.1f,",
			n_failed == 0 ? "true" : "false", concurrency, win, (unsigned long long)done, done / win,
			100.0 * scpu / win, done ? scpu * 1e6 / done : 0.0, 100.0 * lcpu / win, 100.0 * (mcpu - scpu - lcpu) / win);
		lat_report(o);
		fprintf(o, "}\n");
		(void)next_conn_seq;
		return 0;
	}

	if(mode == M_REDEEM) {
		ntable = npeers;
		table = calloc(ntable, sizeof(conn *));
		if(!link_token[0] || ramp(0, npeers, 30) < 0) {
			if(!link_token[0]) last_error = "--link-token is required";
			fprintf(o, "{"); print_common(o); fprintf(o, ",\"ok\":false}\n");
			return 1;
		}
		fprintf(stderr, "loadgen redeem: %d peers open, %d HTTP connections\n", npeers, hconns);
		for(int i = 0; i < hconns; i++) { conn *c = client_start(NULL); if(c) c->http = 1; }
		uint64_t t_start = now_ns(), t_win = t_start + (uint64_t)(warmup * 1e9), t_end = t_win + (uint64_t)(duration * 1e9);
		uint64_t h0 = 0, last_hb = 0, t_rec = 0, h1 = 0, ok1 = 0;
		double scpu0 = 0, lcpu0 = 0, mcpu0 = 0, scpu = 0, lcpu = 0, mcpu = 0, win = 0;
		comm_cpu th0[MAXCOMM], th1[MAXCOMM];
		int nth0 = 0, nth1 = 0;
		for(;;) {
			pump(20);
			send_due_heartbeats(npeers, &last_hb);
			if(!recording && t_now >= t_win) {
				recording = 1; t_rec = t_now; h0 = n_http; scpu0 = proc_cpu_s(server_pid); lcpu0 = self_cpu_s();
				mcpu0 = machine_busy_s(); nth0 = threads_cpu(server_pid, th0);
			}
			int budget_done = max_attempts > 0 && r_answered >= max_attempts;
			if(t_now >= t_end || budget_done || n_failed > 0 || n_unexpected_close > 0) break;
		}
		/* the window ends here: stop sending, then wait (bounded) for every answer so that the counts are exact */
		redeem_sending = 0;
		if(recording) {
			win = (double)(now_ns() - t_rec) / 1e9;
			h1 = n_http - h0; ok1 = r_ok_window;
			scpu = proc_cpu_s(server_pid) - scpu0; lcpu = self_cpu_s() - lcpu0; mcpu = machine_busy_s() - mcpu0;
			nth1 = threads_cpu(server_pid, th1);
		}
		recording = 0;
		uint64_t drain_end = now_ns() + 10000000000ull;
		while(r_answered < r_sent && now_ns() < drain_end && n_active > 0) pump(20);
		int ok = n_failed == 0 && n_unexpected_close == 0 && n_errors_frames == 0 && r_answered == r_sent && win > 0;
		fprintf(o, "{"); print_common(o);
		fprintf(o, ",\"ok\":%s,\"peers\":%d,\"conns\":%d,\"window_s\":%.3f,\"requests\":%llu,\"requests_per_s\":%.1f,"
			"\"granted_in_window\":%llu,\"granted_per_s\":%.1f,\"sent_total\":%llu,\"answered_total\":%llu,\"granted_total\":%llu,"
			"\"denied_total\":%llu,\"http_errors_total\":%llu,\"first_http_error\":\"",
			ok ? "true" : "false", npeers, hconns, win, (unsigned long long)h1, win > 0 ? h1 / win : 0.0,
			(unsigned long long)ok1, win > 0 ? ok1 / win : 0.0, (unsigned long long)r_sent, (unsigned long long)r_answered,
			(unsigned long long)r_ok, (unsigned long long)r_denied, (unsigned long long)r_http_err);
		json_chars(o, r_first_err);
		fprintf(o, "\",\"denied_by_code\":{");
		for(int k = 0; k < 6; k++) fprintf(o, "%s\"%s\":%llu", k ? "," : "", denied_codes[k], (unsigned long long)r_denied_code[k]);
		fprintf(o, "},\"server_cpu_pct\":%.1f,\"server_cpu_us_per_req\":%.1f,\"loadgen_cpu_pct\":%.1f,\"other_cpu_pct\":%.1f,",
			win > 0 ? 100.0 * scpu / win : 0.0, h1 ? scpu * 1e6 / h1 : 0.0, win > 0 ? 100.0 * lcpu / win : 0.0,
			win > 0 ? 100.0 * (mcpu - scpu - lcpu) / win : 0.0);
		threads_report(o, th0, nth0, th1, nth1, win > 0 ? win : 1);
		fprintf(o, ",");
		lat_report(o);
		fprintf(o, "}\n");
		return ok ? 0 : 1;
	}

	if(mode == M_HTTPID) {
		ntable = hconns;
		table = calloc(ntable, sizeof(conn *));
		for(int i = 0; i < hconns; i++) { table[i] = client_start(NULL); if(table[i]) { table[i]->idx = i; table[i]->http = 1; } }
		uint64_t t_start = now_ns(), t_win = t_start + (uint64_t)(warmup * 1e9), t_end = t_win + (uint64_t)(duration * 1e9);
		uint64_t h0 = 0; double scpu0 = 0, lcpu0 = 0, mcpu0 = 0;
		while(now_ns() < t_end) {
			pump(100);
			if(!recording && t_now >= t_win) { recording = 1; h0 = n_http; scpu0 = proc_cpu_s(server_pid); lcpu0 = self_cpu_s(); mcpu0 = machine_busy_s(); }
			if(n_failed > 0) break;
		}
		if(!recording) { fprintf(o, "{"); print_common(o); fprintf(o, ",\"ok\":false}\n"); return 1; }
		double win = (double)(now_ns() - t_win) / 1e9;
		double scpu = proc_cpu_s(server_pid) - scpu0, lcpu = self_cpu_s() - lcpu0, mcpu = machine_busy_s() - mcpu0;
		uint64_t done = n_http - h0;
		recording = 0;
		fprintf(o, "{"); print_common(o);
		fprintf(o, ",\"ok\":%s,\"conns\":%d,\"window_s\":%.3f,\"requests\":%llu,\"requests_per_s\":%.1f,"
			"\"server_cpu_pct\":%.1f,\"server_cpu_us_per_req\":%.1f,\"loadgen_cpu_pct\":%.1f,\"other_cpu_pct\":%.1f,",
			n_failed == 0 ? "true" : "false", hconns, win, (unsigned long long)done, done / win, 100.0 * scpu / win,
			done ? scpu * 1e6 / done : 0.0, 100.0 * lcpu / win, 100.0 * (mcpu - scpu - lcpu) / win);
		lat_report(o);
		fprintf(o, "}\n");
		return 0;
	}

	/* M_IDLE */
	int maxl = 0;
	for(int i = 0; i < nlevels; i++) if(levels[i] > maxl) maxl = levels[i];
	ntable = maxl;
	table = calloc(ntable > 0 ? ntable : 1, sizeof(conn *));
	fprintf(o, "{"); 
	int reached = 0, ok = 1;
	char samples[4096]; size_t sl = 0;
	sl += snprintf(samples + sl, sizeof(samples) - sl, "[");
	for(int li = 0; li < nlevels; li++) {
		int target = levels[li];
		uint64_t r0 = now_ns();
		if(target > reached && ramp(reached, target, ramp_timeout) < 0) { ok = 0; }
		double ramp_s = (now_ns() - r0) / 1e9;
		int have = (int)n_ready - (int)n_unexpected_close;
		fprintf(stderr, "loadgen idle: level %d reached (%d ready, %llu failed) in %.1f s; holding %.0f s\n", target, have,
			(unsigned long long)n_failed, ramp_s, hold);
		reached = target;
		/* hold with heartbeats, sample the server over the hold */
		double scpu0 = proc_cpu_s(server_pid);
		uint64_t th = now_ns(), tend = th + (uint64_t)(hold * 1e9), last_scan = 0;
		while((t_now = now_ns()) < tend) {
			pump(50);
			send_due_heartbeats(reached, &last_scan);
		}
		double scpu = proc_cpu_s(server_pid) - scpu0;
		long rss = proc_rss_kb(server_pid);
		int alive = 0;
		for(int i = 0; i < reached; i++) if(table[i] && table[i]->st == ST_READY) alive++;
		sl += snprintf(samples + sl, sizeof(samples) - sl, "%s{\"level\":%d,\"alive\":%d,\"ramp_s\":%.2f,\"rss_kb\":%ld,"
			"\"server_cpu_pct_hold\":%.1f,\"failed\":%llu,\"unexpected_close\":%llu}", li ? "," : "", target, alive, ramp_s,
			rss, 100.0 * scpu / hold, (unsigned long long)n_failed, (unsigned long long)n_unexpected_close);
		if(!ok || alive < target) { ok = 0; break; }
	}
	sl += snprintf(samples + sl, sizeof(samples) - sl, "]");
	print_common(o);
	fprintf(o, ",\"ok\":%s,\"heartbeats_sent\":%llu,\"levels\":%s}\n", ok ? "true" : "false", (unsigned long long)n_hb,
		samples);
	return 0;
}
