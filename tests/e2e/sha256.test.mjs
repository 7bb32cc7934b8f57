/*
 * sha256.test.mjs — test vectors for html/js/sha256.js (the incremental hash the file
 * transfer uses on both sides). Runs in Node, no browser: NIST vectors plus random
 * inputs fed in odd-sized pieces, compared with node:crypto.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Sha256, sha256Hex } from '../../html/js/sha256.js';

const enc = (s) => new TextEncoder().encode(s);

test('sha256 NIST vectors', () => {
	assert.equal(sha256Hex(new Uint8Array(0)), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
	assert.equal(sha256Hex(enc('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
	assert.equal(sha256Hex(enc('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')),
		'248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
	const h = new Sha256();
	const a = enc('a'.repeat(1000));
	for (let i = 0; i < 1000; i++) h.update(a);
	assert.equal(h.hex(), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
});

test('sha256 incremental equals one-shot for random splits', () => {
	for (const len of [1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 70000]) {
		const data = randomBytes(len);
		const h = new Sha256();
		let off = 0;
		while (off < len) {
			const n = Math.min(len - off, 1 + Math.floor(Math.random() * 150));
			h.update(data.subarray(off, off + n));
			off += n;
		}
		assert.equal(h.hex(), createHash('sha256').update(data).digest('hex'), `len ${len}`);
	}
});

test('sha256 throughput is usable for large files', () => {
	const block = randomBytes(1 << 20);
	const h = new Sha256();
	const t0 = performance.now();
	for (let i = 0; i < 16; i++) h.update(block);
	h.hex();
	const mibs = 16 / ((performance.now() - t0) / 1000);
	console.log(`sha256_js_mib_s=${mibs.toFixed(1)}`);
	assert.ok(mibs > 20, `too slow: ${mibs} MiB/s`);
});
