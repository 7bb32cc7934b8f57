/*! \file    p2plink-stun-load.c
 * \brief   Load generator for the p2plink STUN responder (bench tool)
 * \details For: measuring Binding responses per second and the responder's
 * CPU use. Closed loop: keeps --window requests in flight from --sources
 * UDP sockets bound to distinct loopback addresses (127.0.x.y, so the rate
 * limiter sees distinct sources), counts Binding success responses, and
 * reads the server's CPU time from /proc/PID/stat when given --pid.
 * Not for: correctness (the unit and integration tests do that); it only
 * checks the response type bytes.
 *
 *   p2plink-stun-load --port N [--server 127.0.0.1] [--sources 64]
 *                     [--window 256] [--seconds 5] [--pid PID]
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <stun/stunagent.h>
#include <stun/stunmessage.h>

static double p2plink_load_cpu_seconds(int pid) {
	char path[64], buf[1024], *p;
	unsigned long utime = 0, stime = 0;
	FILE *f;
	int i;
	if(pid <= 0)
		return 0;
	g_snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if(f == NULL)
		return 0;
	if(fgets(buf, sizeof(buf), f) == NULL) {
		fclose(f);
		return 0;
	}
	fclose(f);
	/* Fields 14 and 15 (utime, stime) come after the ")" of the comm field */
	p = strrchr(buf, ')');
	if(p == NULL)
		return 0;
	p += 2;
	for(i = 3; i < 14 && p; i++) {
		p = strchr(p, ' ');
		if(p)
			p++;
	}
	if(p == NULL || sscanf(p, "%lu %lu", &utime, &stime) != 2)
		return 0;
	return (double)(utime + stime) / sysconf(_SC_CLK_TCK);
}

int main(int argc, char *argv[]) {
	static const uint16_t known[] = { STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, 0 };
	gchar *server_ip = NULL;
	gint port = 3478, sources = 64, window = 256, seconds = 5, pid = 0;
	GOptionEntry entries[] = {
		{ "server", 's', 0, G_OPTION_ARG_STRING, &server_ip, "Server IPv4 address (default 127.0.0.1)", "ADDR" },
		{ "port", 'p', 0, G_OPTION_ARG_INT, &port, "Server port", "N" },
		{ "sources", 'n', 0, G_OPTION_ARG_INT, &sources, "Client sockets, each on its own 127.0.x.y address", "N" },
		{ "window", 'w', 0, G_OPTION_ARG_INT, &window, "Requests in flight", "N" },
		{ "seconds", 't', 0, G_OPTION_ARG_INT, &seconds, "Duration", "S" },
		{ "pid", 0, 0, G_OPTION_ARG_INT, &pid, "Server process id, to report its CPU use", "PID" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL }
	};
	GOptionContext *context = g_option_context_new("- STUN Binding load generator");
	GError *error = NULL;
	StunAgent agent;
	StunMessage msg;
	uint8_t request[64], reply[600];
	size_t reqlen;
	struct sockaddr_in dst;
	struct pollfd *fds;
	int i, inflight = 0, next = 0;
	guint64 sent = 0, answered = 0, other = 0, resets = 0;
	gint64 start, end, last_progress;
	double cpu0, cpu1;

	g_option_context_add_main_entries(context, entries, NULL);
	if(!g_option_context_parse(context, &argc, &argv, &error)) {
		fprintf(stderr, "%s\n", error->message);
		return 2;
	}
	g_option_context_free(context);
	if(sources < 1 || window < 1 || seconds < 1)
		return 2;

	stun_agent_init(&agent, known, STUN_COMPATIBILITY_RFC5389, STUN_AGENT_USAGE_IGNORE_CREDENTIALS);
	stun_agent_init_request(&agent, &msg, request, sizeof(request), STUN_BINDING);
	reqlen = stun_agent_finish_message(&agent, &msg, NULL, 0);

	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	dst.sin_port = htons(port);
	inet_pton(AF_INET, server_ip ? server_ip : "127.0.0.1", &dst.sin_addr);

	fds = g_new0(struct pollfd, sources);
	for(i = 0; i < sources; i++) {
		struct sockaddr_in src;
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(0x7F000000 | ((i / 250) << 8) | (i % 250 + 1));
		fds[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		fds[i].events = POLLIN;
		if(fds[i].fd < 0 || bind(fds[i].fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
				connect(fds[i].fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
			fprintf(stderr, "socket %d: %s\n", i, g_strerror(errno));
			return 1;
		}
	}

	cpu0 = p2plink_load_cpu_seconds(pid);
	start = g_get_monotonic_time();
	end = start + (gint64)seconds * G_USEC_PER_SEC;
	last_progress = start;
	while(g_get_monotonic_time() < end) {
		/* Fill the window, round-robin over the sources */
		while(inflight < window) {
			if(send(fds[next].fd, request, reqlen, 0) < 0)
				break;
			next = (next + 1) % sources;
			inflight++;
			sent++;
		}
		if(poll(fds, sources, 10) <= 0) {
			/* Nothing for 10 ms: the rest of the window was lost (rate
			 * limited or dropped under load); start a fresh window */
			if(g_get_monotonic_time() - last_progress > 10000) {
				inflight = 0;
				resets++;
			}
			continue;
		}
		for(i = 0; i < sources; i++) {
			ssize_t n;
			if(!(fds[i].revents & POLLIN))
				continue;
			while((n = recv(fds[i].fd, reply, sizeof(reply), 0)) > 0) {
				if(n >= 20 && reply[0] == 0x01 && reply[1] == 0x01)
					answered++;
				else
					other++;
				if(inflight > 0)
					inflight--;
				last_progress = g_get_monotonic_time();
			}
		}
	}
	cpu1 = p2plink_load_cpu_seconds(pid);
	{
		double elapsed = (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
		printf("sent %" G_GUINT64_FORMAT " answered %" G_GUINT64_FORMAT " other %" G_GUINT64_FORMAT
			" window-resets %" G_GUINT64_FORMAT "\n", sent, answered, other, resets);
		printf("%.0f Binding responses/s over %.1f s from %d sources, window %d\n",
			answered / elapsed, elapsed, sources, window);
		if(pid > 0) {
			printf("server CPU %.2f s = %.0f%% of one core; %.2f us CPU per response\n",
				cpu1 - cpu0, 100.0 * (cpu1 - cpu0) / elapsed,
				answered ? 1e6 * (cpu1 - cpu0) / answered : 0.0);
		}
	}
	for(i = 0; i < sources; i++)
		close(fds[i].fd);
	g_free(fds);
	g_free(server_ip);
	return 0;
}
