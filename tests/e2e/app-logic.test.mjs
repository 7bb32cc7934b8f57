/*
 * app-logic.test.mjs — the app's pure modules, in Node without a browser: the security code's commitment
 * exchange (security-code.js), what the ID box accepts (target.js), safe file names (sinks.js), zip CRC-32
 * (zip.js) and middle-ellipsis (ui.js helpers without DOM).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { WORDS, CODE_WORDS, SasOpener, SasAnswerer, SasMismatch, securityWords } from '../../html/js/security-code.js';
import { parseTarget } from '../../html/js/target.js';
import { Crc32 } from '../../html/js/zip.js';

/* An RTCPeerConnection as far as the code is concerned: two descriptions with a fingerprint line each */
const sdp = (fp) => `v=0\r\na=fingerprint:sha-256 ${fp}\r\n`;
const fp = () => Array.from(randomBytes(32), (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
const pc = (local, remote) => ({ localDescription: { sdp: sdp(local) }, remoteDescription: { sdp: sdp(remote) } });

test('security code: 5 words from 256 distinct words is 40 bits', () => {
	assert.equal(WORDS.length, 256);
	assert.equal(new Set(WORDS).size, 256);
	assert.ok(CODE_WORDS * Math.log2(WORDS.length) >= 40);
});

test('security code: both ends of one connection derive the same words after commit, nonce, reveal', async () => {
	const fa = fp(), fb = fp();
	const opener = await SasOpener.create();
	const answerer = new SasAnswerer(opener.commit); /* the commit came with the offer */
	const wordsA = await opener.onNonceB(answerer.nonce, [pc(fa, fb)]);
	const wordsB = await answerer.onReveal(opener.nonce, [pc(fb, fa)]);
	assert.match(wordsA, /^[a-z]+( [a-z]+){4}$/);
	assert.equal(wordsA, wordsB);
});

test('security code: a reveal that does not open the commitment is refused', async () => {
	const opener = await SasOpener.create();
	const answerer = new SasAnswerer(opener.commit);
	const other = await SasOpener.create();
	await assert.rejects(answerer.onReveal(other.nonce, [pc(fp(), fp())]), SasMismatch);
});

test('security code: a middleman with its own certificate on each leg gets different words on the two sides', async () => {
	const fa = fp(), fb = fp(), fm1 = fp(), fm2 = fp();
	const opener = await SasOpener.create();
	/* M forwards the commitment it cannot open, gives A a nonce of its choice, relays A's reveal to B */
	const answerer = new SasAnswerer(opener.commit);
	const nonceToA = (await SasOpener.create()).nonce;
	const wordsA = await opener.onNonceB(nonceToA, [pc(fa, fm1)]);
	const wordsB = await answerer.onReveal(opener.nonce, [pc(fb, fm2)]);
	assert.notEqual(wordsA, wordsB);
});

test('security code: the opener reveals for one nonce only (no second try for a middleman)', async () => {
	const opener = await SasOpener.create();
	const first = await opener.onNonceB(new SasAnswerer(opener.commit).nonce, [pc(fp(), fp())]);
	assert.ok(first);
	assert.equal(await opener.onNonceB(new SasAnswerer(opener.commit).nonce, [pc(fp(), fp())]), null);
	assert.equal(await opener.onNonceB('not-a-nonce', [pc(fp(), fp())]), null);
});

test('security code: every input changes the words', async () => {
	const fps = [fp(), fp()].sort();
	const base = await securityWords(fps, 'c', 'a', 'b');
	assert.notEqual(await securityWords(fps, 'c', 'a', 'x'), base);
	assert.notEqual(await securityWords(fps, 'c', 'x', 'b'), base);
	assert.notEqual(await securityWords([fp(), fps[1]].sort(), 'c', 'a', 'b'), base);
});

test('ID box: ids, links of this server, links of others, web addresses, bad characters, length', () => {
	const o = 'https://p2p.example';
	assert.deepEqual(parseTarget('  abc-123 ', o), { kind: 'id', id: 'abc-123' });
	assert.equal(parseTarget('a'.repeat(64), o).kind, 'id');
	assert.equal(parseTarget('a'.repeat(65), o).kind, 'error');
	assert.deepEqual(parseTarget('https://p2p.example/l/tok_en-1', o), { kind: 'link', url: 'https://p2p.example/l/tok_en-1', path: '/l/tok_en-1' });
	assert.equal(parseTarget('/l/abc', o).kind, 'link');
	assert.equal(parseTarget('p2p.example/l/abc', o).kind, 'link');
	assert.match(parseTarget('https://other.example/l/abc', o).msg, /another server \(other\.example\)/);
	assert.match(parseTarget('https://p2p.example/', o).msg, /web address/);
	assert.match(parseTarget('a$b', o).msg, /“\$”/);
	assert.match(parseTarget('a--b', o).msg, /two of them in a row/);
	assert.equal(parseTarget('', o).kind, 'empty');
});

test('zip CRC-32 equals zlib\'s, fed in odd pieces', () => {
	const data = randomBytes(100003);
	const c = new Crc32();
	for (let i = 0; i < data.length; i += 7919) c.update(data.subarray(i, i + 7919));
	assert.equal(c.value(), crc32(data));
});

test('received file names are only names: no separators, control or bidi characters, capped, extension kept', async () => {
	const { safeName } = await import('../../html/js/sinks.js');
	assert.equal(safeName('../../etc/passwd'), '_.._etc_passwd');
	assert.equal(safeName('a\u0000b\u0007c.txt'), 'abc.txt');
	assert.equal(safeName('\u202etxt.exe'), 'txt.exe');
	assert.equal(safeName('...hidden'), 'hidden');
	assert.equal(safeName('CON.txt'), '_CON.txt');
	assert.equal(safeName(''), 'file');
	const long = safeName(`${'x'.repeat(500)}.tar.gz`);
	assert.equal(long.length, 120);
	assert.ok(long.endsWith('.gz'));
});

test('middle-ellipsis keeps both ends of a long id', async () => {
	const { middleEllipsis, who } = await import('../../html/js/ui.js');
	assert.equal(middleEllipsis('short'), 'short');
	const id = `start-${'m'.repeat(50)}-end9`;
	const cut = middleEllipsis(id, 20);
	assert.equal(cut.length, 20);
	assert.ok(cut.startsWith('start-') && cut.endsWith('-end9') && cut.includes('…'));
	assert.equal(who(id, 'Ana'), `Ana (${cut})`);
});
