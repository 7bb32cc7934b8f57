/*! \file    fuzz_stun.c
 * \brief   libFuzzer harness for the STUN Binding responder
 * \details For: feeding arbitrary datagrams to p2plink_stun_handle() under
 * ASan/UBSan, from arbitrary source address families and into reply buffers
 * of arbitrary capacity, and checking that whatever we answer is a STUN
 * message libnice accepts, that fits the buffer, with our transaction id.
 * Not for: the socket runner or the rate limiter's timing (unit tests).
 *
 * Input layout: byte 0 picks the source (IPv4 / IPv6 / IPv4-mapped, port),
 * byte 1 the reply capacity (0: P2PLINK_STUN_MAX_REPLY, else every value
 * from 1 to 1023 using bits 2-3 of byte 0 as the high bits: small odd
 * capacities are where libnice's padding overflow lives), the rest is the
 * datagram. Both are copied to heap buffers of exactly their size so any
 * overread/overwrite trips ASan.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined $(pkg-config --cflags nice glib-2.0) \
 *     tests/fuzz/fuzz_stun.c transports/stun_responder.c $(pkg-config --libs nice glib-2.0) -o fuzz_stun
 *   ./fuzz_stun -max_len=1400 -max_total_time=60 NEW_CORPUS_DIR tests/fuzz/corpus/stun
 *
 * Debian's libnice is not instrumented, so the build above only gives
 * coverage of our code (ASan still checks libnice's memcpy/memset through its
 * interceptors). For coverage of libnice's parser itself, compile its STUN
 * sources into the fuzzer, from the tag matching the installed package:
 *
 *   git -C libnice archive 0.1.21 stun | tar -x -C /tmp/ln
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DHAVE_OPENSSL \
 *     -DPACKAGE_STRING='"libnice 0.1.21"' -I/tmp/ln -I/tmp/ln/stun $(pkg-config --cflags glib-2.0) \
 *     tests/fuzz/fuzz_stun.c transports/stun_responder.c /tmp/ln/stun/{stunagent,stunmessage,stun5389,stuncrc32,stunhmac,utils,debug,rand}.c \
 *     $(pkg-config --libs glib-2.0) -lcrypto -o fuzz_stun_full
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stun/stunagent.h>
#include <stun/stunmessage.h>

#include "../../transports/stun_responder.h"

static socklen_t fuzz_source(uint8_t selector, struct sockaddr_storage *ss) {
	memset(ss, 0, sizeof(*ss));
	switch(selector % 3) {
		case 0: {
			struct sockaddr_in *a = (struct sockaddr_in *)ss;
			a->sin_family = AF_INET;
			a->sin_port = htons(selector);	/* 0 included: must be dropped */
			a->sin_addr.s_addr = htonl(0xC0000201);
			return sizeof(*a);
		}
		case 1: {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
			a->sin6_family = AF_INET6;
			a->sin6_port = htons(50000 + selector);
			inet_pton(AF_INET6, "2001:db8::42", &a->sin6_addr);
			return sizeof(*a);
		}
		default: {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
			a->sin6_family = AF_INET6;
			a->sin6_port = htons(40000 + selector);
			inet_pton(AF_INET6, "::ffff:198.51.100.9", &a->sin6_addr);
			return sizeof(*a);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	static const uint16_t known[] = { STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, STUN_ATTRIBUTE_ERROR_CODE,
		STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES, 0 };
	struct sockaddr_storage src;
	socklen_t srclen;
	size_t cap, outlen, len;
	uint8_t *pkt, *out;
	p2plink_stun_verdict v;

	if(size < 2)
		return 0;
	srclen = fuzz_source(data[0], &src);
	cap = data[1] == 0 ? P2PLINK_STUN_MAX_REPLY : ((size_t)((data[0] >> 2) & 3) << 8) | data[1];
	len = size - 2;
	pkt = malloc(len ? len : 1);
	out = malloc(cap ? cap : 1);
	memcpy(pkt, data + 2, len);
	outlen = cap;
	v = p2plink_stun_handle(pkt, len, (struct sockaddr *)&src, srclen, out, &outlen);
	if(v < 0 || v >= P2PLINK_STUN_VERDICT_COUNT)
		abort();
	if(P2PLINK_STUN_VERDICT_IS_REPLY(v)) {
		StunAgent agent;
		StunMessage reply;
		StunValidationStatus st;
		if(outlen < 20 || outlen > cap)
			abort();
		/* Answered only things libnice itself calls a STUN request... */
		if(len < 20 || (pkt[0] & 0x01) != 0 || (pkt[1] & 0x10) != 0)
			abort();
		/* ...and the answer is a STUN message with the request's id */
		stun_agent_init(&agent, known, STUN_COMPATIBILITY_RFC5389,
			STUN_AGENT_USAGE_IGNORE_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
		/* Response or error class, read from the raw type bits */
		if((out[0] & 0x01) == 0)
			abort();
		st = stun_agent_validate(&agent, &reply, out, outlen, NULL, NULL);
		/* libnice reads type 0x0115 (error response to the obsolete method
		 * 0x005) as a Google data indication, so it is not "unmatched" */
		if(st != STUN_VALIDATION_UNMATCHED_RESPONSE &&
				!(st == STUN_VALIDATION_SUCCESS && out[0] == 0x01 && out[1] == 0x15))
			abort();
		if(memcmp(out + 4, pkt + 4, 16) != 0)
			abort();
		if(v == P2PLINK_STUN_REPLY_BINDING && stun_message_get_method(&reply) != STUN_BINDING)
			abort();
	} else if(outlen != 0) {
		abort();
	}
	free(pkt);
	free(out);
	return 0;
}
