/*
 * fuzz_input.h — a tiny reader over libFuzzer's byte buffer, shared by the p2plink harnesses.
 *
 * What it is for: slicing one fuzz input into small integers and NUL-terminated strings so a harness can drive an
 * API that takes several arguments (method + uri + origin, JSON + client ip + time, a sequence of registry calls).
 * Every string is a fresh g_malloc'd copy of exactly the bytes taken, so ASan sees any overread. When the input runs
 * out, readers return 0 / "" instead of failing: the harness keeps going and libFuzzer learns to make inputs longer.
 * What it is not for: anything outside tests/fuzz (header-only, static functions).
 */

#ifndef P2PLINK_FUZZ_INPUT_H
#define P2PLINK_FUZZ_INPUT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

/* Crash on a broken invariant: libFuzzer saves the input as a reproducer. Never used on our code's input errors. */
#define FUZZ_CHECK(cond) do { if(!(cond)) { fprintf(stderr, "invariant broken at %s:%d: %s\n", __FILE__, __LINE__, #cond); abort(); } } while(0)

typedef struct fuzz_input {
	const uint8_t *data;
	size_t len;
	size_t pos;
} fuzz_input;

static inline void fuzz_input_init(fuzz_input *in, const uint8_t *data, size_t len) {
	in->data = data;
	in->len = len;
	in->pos = 0;
}

static inline size_t fuzz_left(const fuzz_input *in) {
	return in->len - in->pos;
}

static inline uint8_t fuzz_u8(fuzz_input *in) {
	return in->pos < in->len ? in->data[in->pos++] : 0;
}

static inline uint64_t fuzz_u64(fuzz_input *in) {
	uint64_t v = 0;
	for(int i = 0; i < 8; i++)
		v = (v << 8) | fuzz_u8(in);
	return v;
}

/* Bytes up to the next NUL (consumed, not included) or the end: a C string the way a caller would hand it to us */
static inline char *fuzz_cstr(fuzz_input *in) {
	const uint8_t *start = in->data + in->pos;
	size_t n = 0;
	while(in->pos + n < in->len && start[n] != '\0')
		n++;
	char *s = g_malloc(n + 1);
	memcpy(s, start, n);
	s[n] = '\0';
	in->pos += n + (in->pos + n < in->len ? 1 : 0);
	return s;
}

/* Exactly n bytes (fewer if the input ends), in a heap buffer of exactly that size (no NUL: overreads trip ASan) */
static inline uint8_t *fuzz_bytes(fuzz_input *in, size_t n, size_t *got) {
	if(n > fuzz_left(in))
		n = fuzz_left(in);
	uint8_t *b = g_malloc(n ? n : 1);
	memcpy(b, in->data + in->pos, n);
	in->pos += n;
	*got = n;
	return b;
}

/* The rest of the input as an exact-size heap buffer */
static inline uint8_t *fuzz_rest(fuzz_input *in, size_t *got) {
	return fuzz_bytes(in, fuzz_left(in), got);
}

#endif
