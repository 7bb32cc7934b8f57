// Certificates renewed in place, against the real Janus: peers connected with the old certificate, the files
// replaced the way certbot does it (new files renamed over the old ones), and then: the old connections still
// relay, a new TLS connection is served the new certificate (SHA-256 fingerprints compared), the log names it.
// Then bad pairs (the key of another certificate, a half-written certificate): the certificate in use stays,
// and the log says why.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { PeerSocket } from '../lib/peer-socket.mjs';
import { startJanus, testCertificate } from '../lib/janus.mjs';
import { tempDir } from '../lib/temp-dir.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let srv, dir, live;
const sockets = [];

// A self-signed EC certificate for 127.0.0.1 in its own folder: { cert, key, fingerprint }
function makePair(name) {
	const d = tempDir(`p2plink-${name}-`);
	const cert = path.join(d, 'cert.pem'), key = path.join(d, 'key.pem');
	execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
		'-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'],
	{ stdio: 'ignore' });
	return { cert, key, fingerprint: fingerprintOf(cert) };
}

function fingerprintOf(certFile) {
	return new crypto.X509Certificate(fs.readFileSync(certFile)).fingerprint256;
}

// certbot's way: write next to the live files, then rename over them
function install(certText, keyText) {
	fs.writeFileSync(path.join(dir, 'cert.pem.new'), certText);
	fs.writeFileSync(path.join(dir, 'key.pem.new'), keyText);
	fs.renameSync(path.join(dir, 'key.pem.new'), live.key);
	fs.renameSync(path.join(dir, 'cert.pem.new'), live.cert);
}

// The certificate a new TLS connection is served
function servedFingerprint() {
	return new Promise((resolve, reject) => {
		const s = tls.connect({ host: '127.0.0.1', port: srv.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
			const fp = s.getPeerCertificate().fingerprint256;
			s.destroy();
			resolve(fp);
		});
		s.once('error', reject);
	});
}

async function waitFor(what, check, timeoutMs = 15000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		if (await check()) return;
		if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}; log tail:\n${srv.log().slice(-2000)}`);
		await sleep(100);
	}
}

const peer = (id) => PeerSocket.open(srv, id, sockets);

async function relays(a, b, n) {
	a.send({ type: 'OFFER', dst: b.id, payload: { sdp: { type: 'offer', sdp: `v=0 ${n}` }, type: 'data', connectionId: `dc_${n}` } });
	const f = await b.socket.next('OFFER');
	assert.equal(f.payload.sdp.sdp, `v=0 ${n}`);
}


before(async () => {
	// The live files start as the test certificate every PeerSocket trusts
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2plink-live-cert-'));
	live = { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') };
	fs.copyFileSync(testCertificate().cert, live.cert);
	fs.copyFileSync(testCertificate().key, live.key);
	srv = await startJanus({ certificate: live, certificates: { reload_interval: 1 } });
});

after(async () => {
	for (const s of sockets) s.terminate();
	await srv.stop();
	assert.doesNotMatch(srv.log(), /AddressSanitizer|runtime error|Segmentation/);
	fs.rmSync(dir, { recursive: true, force: true });
});

test('renewed files: old connections keep relaying, new connections get the new certificate', async () => {
	const old = fingerprintOf(testCertificate().cert);
	assert.equal(await servedFingerprint(), old);
	const a = await peer('tr-alice'), b = await peer('tr-bob');
	const renewed = makePair('renewed');
	assert.notEqual(renewed.fingerprint, old);
	install(fs.readFileSync(renewed.cert), fs.readFileSync(renewed.key));
	await waitFor('the new certificate on a new connection', async () => (await servedFingerprint()) === renewed.fingerprint);
	assert.match(srv.log(), new RegExp(`reloaded certificate ${live.cert.replace(/[.]/g, '\\.')} \\(SHA-256 ${renewed.fingerprint}\\)`));
	// The peers that connected with the old certificate are still there and still relay, both ways
	await relays(a, { id: 'tr-bob', socket: b }, 1);
	await relays(b, { id: 'tr-alice', socket: a }, 2);
	assert.equal(a.closed, null);
	assert.equal(b.closed, null);
	// And a new WebSocket gets OPEN over the new certificate, trusting only it
	const ws = new WebSocket(srv.wsUrl('tr-carol', 'tok-tr-carol'), { ca: fs.readFileSync(renewed.cert) });
	const first = await new Promise((resolve, reject) => {
		ws.once('message', (m) => resolve(JSON.parse(m.toString())));
		ws.once('error', reject);
	});
	ws.terminate();
	assert.deepEqual(first, { type: 'OPEN' });
});

test('a bad pair keeps the certificate in use, and the log says why', async () => {
	const current = await servedFingerprint();
	const a = makePair('a'), b = makePair('b');
	// The key of another certificate
	install(fs.readFileSync(a.cert), fs.readFileSync(b.key));
	await waitFor('the mismatch in the log', () => /pair was not loaded, the current certificate stays in use: private key .*key\.pem: .*mismatch/.test(srv.log()));
	assert.equal(await servedFingerprint(), current);
	// A half-written certificate (a copy still in progress)
	const text = fs.readFileSync(a.cert);
	install(text.subarray(0, Math.floor(text.length / 2)), fs.readFileSync(a.key));
	await waitFor('the half-written certificate in the log', () => /pair was not loaded, the current certificate stays in use: certificate .*cert\.pem: /.test(srv.log()));
	assert.equal(await servedFingerprint(), current);
	// Finished at last: the good pair is taken
	install(fs.readFileSync(a.cert), fs.readFileSync(a.key));
	await waitFor('the finished pair on a new connection', async () => (await servedFingerprint()) === a.fingerprint);
});
