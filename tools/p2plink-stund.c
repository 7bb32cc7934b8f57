/*! \file    p2plink-stund.c
 * \brief   Standalone p2plink STUN Binding responder
 * \details For: running transports/stun_responder.c outside Janus, so tests
 * can point third-party STUN clients at it and benchmarks can load it. It
 * prints one "listening" line on stdout once the socket is bound (with the
 * real port, so tests can ask for --port 0) and the counters on stderr when
 * it gets SIGINT/SIGTERM.
 *
 * Not for: production. In a deployment the responder runs inside the
 * janus.transport.peerjs transport, configured from its .jcfg file.
 *
 *   p2plink-stund [--bind ADDR] [--port N] [--loop] [--trace] [--rate R] [--burst B]
 *                 [--max-sources N] [--global-rate R] [--global-burst B]
 */

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <glib.h>

#include "../transports/stun_responder.h"

static volatile sig_atomic_t p2plink_stund_stop = 0;

static void p2plink_stund_on_signal(int signum) {
	(void)signum;
	p2plink_stund_stop = 1;
}

/* --trace: one stdout line per datagram, "<verdict> <address> <port>", so a
 * test can compare what a client reports as its mapped address with the
 * source address the server actually saw */
static void p2plink_stund_trace(const struct sockaddr *src, socklen_t srclen,
		p2plink_stun_verdict verdict, gpointer user_data) {
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	(void)srclen;
	(void)user_data;
	if(src->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)src;
		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		port = ntohs(a4->sin_port);
	} else if(src->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)src;
		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		port = ntohs(a6->sin6_port);
	}
	printf("%s %s %d\n", p2plink_stun_verdict_name(verdict), host, port);
	fflush(stdout);
}

static void p2plink_stund_print_counters(p2plink_stun_server *server) {
	p2plink_stun_counters c;
	int i;
	p2plink_stun_server_get_counters(server, &c);
	fprintf(stderr, "received %" G_GUINT64_FORMAT " replies %" G_GUINT64_FORMAT
		" send-errors %" G_GUINT64_FORMAT " evictions %" G_GUINT64_FORMAT "\n",
		c.received, c.replies, c.send_errors, c.evictions);
	for(i = 0; i < P2PLINK_STUN_VERDICT_COUNT; i++) {
		if(c.verdicts[i] > 0)
			fprintf(stderr, "  %s %" G_GUINT64_FORMAT "\n",
				p2plink_stun_verdict_name(i), c.verdicts[i]);
	}
}

/* --loop: drive the fd from our own poll loop on the main thread, the way
 * the transport does with an lws foreign fd */
static void p2plink_stund_run_loop(p2plink_stun_server *server) {
	struct pollfd pfd;
	while(!p2plink_stund_stop) {
		pfd.fd = p2plink_stun_server_fd(server);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if(poll(&pfd, 1, 200) > 0 && (pfd.revents & POLLIN))
			p2plink_stun_server_on_readable(server);
	}
}

/* Default mode: the responder's own thread; main just waits for a signal */
static void p2plink_stund_run_thread(p2plink_stun_server *server) {
	GError *error = NULL;
	if(!p2plink_stun_server_start_thread(server, &error)) {
		fprintf(stderr, "p2plink-stund: %s\n", error->message);
		g_error_free(error);
		return;
	}
	while(!p2plink_stund_stop)
		g_usleep(100 * 1000);
	p2plink_stun_server_stop_thread(server);
}

int main(int argc, char *argv[]) {
	gchar *bind_addr = NULL;
	gint port = 3478, rate = -1, burst = -1, max_sources = -1, global_rate = -1, global_burst = -1;
	gboolean loop = FALSE, trace = FALSE;
	GOptionEntry entries[] = {
		{ "bind", 'b', 0, G_OPTION_ARG_STRING, &bind_addr, "Numeric address to bind (default :: dual-stack)", "ADDR" },
		{ "port", 'p', 0, G_OPTION_ARG_INT, &port, "UDP port, 0 for any free one (default 3478)", "N" },
		{ "loop", 'l', 0, G_OPTION_ARG_NONE, &loop, "Drive the socket from a poll loop on the main thread instead of the responder thread", NULL },
		{ "trace", 't', 0, G_OPTION_ARG_NONE, &trace, "Print one line per datagram: verdict, source address, source port", NULL },
		{ "rate", 0, 0, G_OPTION_ARG_INT, &rate, "Replies per second per source, 0 = unlimited", "R" },
		{ "burst", 0, 0, G_OPTION_ARG_INT, &burst, "Bucket depth per source", "B" },
		{ "max-sources", 0, 0, G_OPTION_ARG_INT, &max_sources, "Sources tracked by the rate limiter", "N" },
		{ "global-rate", 0, 0, G_OPTION_ARG_INT, &global_rate, "Replies per second over all sources, 0 = unlimited", "R" },
		{ "global-burst", 0, 0, G_OPTION_ARG_INT, &global_burst, "Global bucket depth", "B" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL }
	};
	GOptionContext *context = g_option_context_new("- p2plink STUN Binding responder (test/bench tool)");
	GError *error = NULL;
	p2plink_stun_config config;
	p2plink_stun_server *server;
	struct sigaction sa;

	g_option_context_add_main_entries(context, entries, NULL);
	if(!g_option_context_parse(context, &argc, &argv, &error)) {
		fprintf(stderr, "p2plink-stund: %s\n", error->message);
		g_error_free(error);
		g_option_context_free(context);
		return 2;
	}
	g_option_context_free(context);

	p2plink_stun_config_defaults(&config);
	if(rate >= 0)
		config.rate_per_sec = rate;
	if(burst >= 0)
		config.burst = burst;
	if(max_sources >= 0)
		config.max_sources = max_sources;
	if(global_rate >= 0)
		config.global_rate_per_sec = global_rate;
	if(global_burst >= 0)
		config.global_burst = global_burst;

	server = p2plink_stun_server_new(bind_addr, port, &config, &error);
	if(server == NULL) {
		fprintf(stderr, "p2plink-stund: %s\n", error->message);
		g_error_free(error);
		g_free(bind_addr);
		return 1;
	}
	if(trace)
		p2plink_stun_server_set_observer(server, p2plink_stund_trace, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = p2plink_stund_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	printf("p2plink-stund listening on %s port %d (%s)\n", bind_addr ? bind_addr : "::",
		p2plink_stun_server_port(server), loop ? "loop" : "thread");
	fflush(stdout);

	if(loop)
		p2plink_stund_run_loop(server);
	else
		p2plink_stund_run_thread(server);

	p2plink_stund_print_counters(server);
	p2plink_stun_server_free(server);
	g_free(bind_addr);
	return 0;
}
