/*
 * fuzz_cidr.c — libFuzzer harness for whitelist entries and client addresses (links.c: p2plink_cidr_parse,
 * p2plink_cidr_to_string, p2plink_ip_parse, p2plink_cidr_contains, p2plink_whitelist_allows).
 *
 * Input: "<entry>\0<client ip>\0<second entry>". Checks:
 *  - an accepted entry has no host bits after its prefix, a prefix <= 128 (>= 96 with IPv4 in mapped form),
 *    contains its own network address, and its canonical text parses back to exactly the same entry;
 *  - a rejection is a bad-cidr error whose sentence is valid UTF-8 (entries are echoed, escaped, to admins);
 *  - whitelist_allows agrees with parse + contains over the two entries, fails closed on unparsable entries and
 *    on an unparsable client, and an empty whitelist allows everyone.
 * What it is not for: link rules as a whole (fuzz_link_rules.c).
 */

#include <stdio.h>

#include "links.h"
#include "fuzz_input.h"

static gboolean parse_entry(const char *text, p2plink_cidr *c) {
	GError *error = NULL;
	if(p2plink_cidr_parse(text, c, &error)) {
		FUZZ_CHECK(error == NULL);
		return TRUE;
	}
	FUZZ_CHECK(error != NULL && error->domain == P2PLINK_LINK_ERROR && error->code == P2PLINK_LINK_ERROR_BAD_CIDR);
	FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
	g_error_free(error);
	return FALSE;
}

static void check_entry(const p2plink_cidr *c) {
	FUZZ_CHECK(c->prefix <= 128);
	if(c->written_v4) {
		static const guint8 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		FUZZ_CHECK(c->prefix >= 96 && memcmp(c->addr, mapped, 12) == 0);
	}
	/* No host bits: the network address is inside its own range, and masking changes nothing */
	FUZZ_CHECK(p2plink_cidr_contains(c, c->addr));
	char *text = p2plink_cidr_to_string(c);
	p2plink_cidr again;
	FUZZ_CHECK(p2plink_cidr_parse(text, &again, NULL));
	FUZZ_CHECK(memcmp(again.addr, c->addr, 16) == 0 && again.prefix == c->prefix &&
		again.written_v4 == c->written_v4);
	/* Canonical text is a fixed point */
	char *text2 = p2plink_cidr_to_string(&again);
	FUZZ_CHECK(strcmp(text, text2) == 0);
	g_free(text2);
	g_free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz_input in;
	fuzz_input_init(&in, data, size);
	char *entry = fuzz_cstr(&in), *client = fuzz_cstr(&in), *entry2 = fuzz_cstr(&in);
	p2plink_cidr c1, c2;
	gboolean ok1 = parse_entry(entry, &c1), ok2 = parse_entry(entry2, &c2);
	if(ok1)
		check_entry(&c1);
	if(ok2)
		check_entry(&c2);
	guint8 ip[16];
	gboolean ip_ok = p2plink_ip_parse(client, ip);
	gboolean expect = ip_ok && ((ok1 && p2plink_cidr_contains(&c1, ip)) || (ok2 && p2plink_cidr_contains(&c2, ip)));
	const char *const list[] = { entry, entry2, NULL };
	FUZZ_CHECK(p2plink_whitelist_allows(list, client) == expect);
	const char *const empty[] = { NULL };
	FUZZ_CHECK(p2plink_whitelist_allows(empty, client));
	FUZZ_CHECK(p2plink_whitelist_allows(NULL, client));
	FUZZ_CHECK(!p2plink_whitelist_allows(list, NULL));
	g_free(entry);
	g_free(client);
	g_free(entry2);
	return 0;
}
