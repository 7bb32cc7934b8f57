/*
 * promtool_check.h — hand exposition text to `promtool check metrics` (Debian's prometheus package;
 * $P2PLINK_PROMTOOL or PATH) and assert it parses with no lint problem. Skips the test, saying so, where
 * promtool is missing. Shared by test_metrics.c and test_counters.c.
 */

#ifndef P2PLINK_PROMTOOL_CHECK_H
#define P2PLINK_PROMTOOL_CHECK_H

#include <glib.h>
#include <glib/gstdio.h>
#include <unistd.h>

static inline void promtool_check_text(const char *text) {
	const char *env = g_getenv("P2PLINK_PROMTOOL");
	char *promtool = env != NULL ? g_strdup(env) : g_find_program_in_path("promtool");
	if(promtool == NULL) {
		g_test_skip("promtool not found (Debian package prometheus, or set P2PLINK_PROMTOOL)");
		return;
	}
	char *path = NULL;
	int fd = g_file_open_tmp("p2plink-metrics-XXXXXX", &path, NULL);
	g_assert_cmpint(fd, >=, 0);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	close(fd);
	/* promtool reads the exposition on stdin; the file name is ours (g_file_open_tmp), quoted anyway */
	char *quoted_tool = g_shell_quote(promtool), *quoted_path = g_shell_quote(path);
	char *cmd = g_strdup_printf("%s check metrics < %s", quoted_tool, quoted_path);
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	char *out = NULL, *err = NULL;
	int status = -1;
	g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, NULL));
	if(!g_spawn_check_wait_status(status, NULL))
		g_test_message("promtool: %s%s", out, err);
	/* 0: parsed, and no lint problem (1: parse error, 3: lint problems) */
	g_assert_true(g_spawn_check_wait_status(status, NULL));
	g_assert_cmpstr(out, ==, "");
	g_unlink(path);
	g_free(out);
	g_free(err);
	g_free(cmd);
	g_free(quoted_tool);
	g_free(quoted_path);
	g_free(path);
	g_free(promtool);
}

#endif
