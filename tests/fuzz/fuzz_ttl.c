/*
 * fuzz_ttl.c — libFuzzer harness for the share-link TTL grammar (p2plink_ttl_parse / p2plink_ttl_format, links.c).
 *
 * Input: byte 0 picks the operator's max_ttl (none, negative, small, a day, the hard maximum, above it, G_MAXINT64),
 * the rest up to the first NUL is the TTL string. Checks, against an independent oracle (a regular expression for
 * the grammar and GLib's own overflow-checked number parser):
 *  - accepted exactly when the oracle accepts, with the same number of seconds, within 1..min(max, hard max);
 *  - a rejection is a P2PLINK_LINK_ERROR with code bad-ttl or ttl-too-long and a non-empty, valid UTF-8 sentence;
 *  - format(seconds) is a shortest spelling that parses back to the same seconds.
 * What it is not for: the link JSON around a TTL (fuzz_link_rules.c).
 */

#include <stdio.h>

#include "links.h"
#include "fuzz_input.h"

static const gint64 maxima[] = { 0, -5, 60, 86400, P2PLINK_TTL_HARD_MAX_SECONDS, P2PLINK_TTL_HARD_MAX_SECONDS + 1,
	G_MAXINT64, 1 };

/* The grammar as a regular expression (\z: PCRE's $ would also match before a trailing newline) */
static gboolean oracle(const char *s, gint64 max, gint64 *seconds, int *code) {
	static GRegex *re = NULL;
	if(re == NULL)
		re = g_regex_new("\\A([1-9][0-9]*)(s|m|min|h|d)?\\z", G_REGEX_RAW, 0, NULL);
	GMatchInfo *m = NULL;
	gboolean ok = g_regex_match(re, s, 0, &m);
	*code = P2PLINK_LINK_ERROR_BAD_TTL;
	if(ok) {
		char *digits = g_match_info_fetch(m, 1), *unit = g_match_info_fetch(m, 2);
		guint64 n = 0;
		gint64 mult = 1;
		if(unit && !strcmp(unit, "h"))
			mult = 3600;
		else if(unit && !strcmp(unit, "d"))
			mult = 86400;
		else if(unit && (!strcmp(unit, "m") || !strcmp(unit, "min")))
			mult = 60;
		if(!g_ascii_string_to_unsigned(digits, 10, 1, G_MAXINT64, &n, NULL) || (gint64)n > G_MAXINT64 / mult) {
			ok = FALSE;	/* overflow: bad-ttl */
		} else {
			gint64 limit = (max > 0 && max < P2PLINK_TTL_HARD_MAX_SECONDS) ? max : P2PLINK_TTL_HARD_MAX_SECONDS;
			*seconds = (gint64)n * mult;
			if(*seconds > limit) {
				ok = FALSE;
				*code = P2PLINK_LINK_ERROR_TTL_TOO_LONG;
			}
		}
		g_free(digits);
		g_free(unit);
	}
	g_match_info_free(m);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz_input in;
	fuzz_input_init(&in, data, size);
	gint64 max = maxima[fuzz_u8(&in) % G_N_ELEMENTS(maxima)];
	char *s = fuzz_cstr(&in);
	gint64 seconds = -1, expect = -1;
	int expect_code = -1;
	GError *error = NULL;
	gboolean ok = p2plink_ttl_parse(s, max, &seconds, &error);
	gboolean want = oracle(s, max, &expect, &expect_code);
	if(ok != want) {
		fprintf(stderr, "ttl \"%s\" max %" G_GINT64_FORMAT ": parser says %d, oracle says %d\n", s, max, ok, want);
		abort();
	}
	if(ok) {
		FUZZ_CHECK(error == NULL);
		FUZZ_CHECK(seconds == expect);
		char *text = p2plink_ttl_format(seconds);
		gint64 again = -1;
		FUZZ_CHECK(p2plink_ttl_parse(text, max, &again, NULL) && again == seconds);
		FUZZ_CHECK(strlen(text) <= strlen(s) + 2);	/* "60s" may become "1min", never longer than that */
		g_free(text);
	} else {
		FUZZ_CHECK(error != NULL && error->domain == P2PLINK_LINK_ERROR);
		FUZZ_CHECK(error->code == expect_code);
		FUZZ_CHECK(error->message[0] != '\0' && g_utf8_validate(error->message, -1, NULL));
		g_error_free(error);
	}
	g_free(s);
	return 0;
}
