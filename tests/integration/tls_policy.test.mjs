// What the listener's TLS offers, against the real Janus: the cipher suite a client gets for the order it offers
// (the server's order wins, AES-128-GCM first; ChaCha20 for a client that puts it first), and no resumption at
// all (no TLS 1.3 ticket after a full handshake, a TLS 1.2 session not resumed). Why: transports/tls_pair.c,
// transports/janus_peerjs.c, docs/benchmarks.md "No session tickets, AES-128 first,
// TLS records read ahead".
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { startJanus } from '../lib/janus.mjs';

let srv;
before(async () => { srv = await startJanus({ secure: true }); });
after(async () => { await srv?.stop(); });

// One TLS connection that asks for an id over HTTPS (so the client reads whatever the server sends after the
// handshake, where TLS 1.3 tickets come): { cipher, protocol, reused, ticketed, session }
function connectOnce(options = {}) {
	return new Promise((resolve, reject) => {
		let ticketed = false, reused, cipher, protocol, body = '';
		const s = tls.connect({ host: '127.0.0.1', port: srv.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'],
			...options }, () => {
			reused = s.isSessionReused();
			cipher = s.getCipher().name;
			protocol = s.getProtocol();
			s.write('GET /peerjs/id HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
		});
		s.on('session', () => { ticketed = true; });
		s.on('data', (d) => { body += d; });
		s.once('error', reject);
		s.once('close', () => {
			assert.match(body, /^HTTP\/1\.1 200/, 'the id request was answered');
			resolve({ cipher, protocol, reused, ticketed, session: s.getSession() });
		});
	});
}

test('the server picks AES-128-GCM first, whatever order the client offers, and ChaCha20 when the client puts it first', async () => {
	const cases = [
		// what Chromium and Firefox offer
		[{ ciphers: 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256' }, 'TLS_AES_128_GCM_SHA256', 'TLSv1.3'],
		// OpenSSL's (and Node's) default order starts with AES-256
		[{ ciphers: 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256' }, 'TLS_AES_128_GCM_SHA256', 'TLSv1.3'],
		// a device without AES in hardware
		[{ ciphers: 'TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256' }, 'TLS_CHACHA20_POLY1305_SHA256', 'TLSv1.3'],
		[{ maxVersion: 'TLSv1.2' }, 'ECDHE-ECDSA-AES128-GCM-SHA256', 'TLSv1.2'],
		[{ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384' }, 'ECDHE-ECDSA-CHACHA20-POLY1305', 'TLSv1.2'],
	];
	for (const [options, cipher, protocol] of cases) {
		const c = await connectOnce(options);
		assert.deepEqual([c.cipher, c.protocol], [cipher, protocol], JSON.stringify(options));
	}
});

test('no TLS resumption is offered, in TLS 1.3 or 1.2', async () => {
	for (const version of ['TLSv1.3', 'TLSv1.2']) {
		const first = await connectOnce({ minVersion: version, maxVersion: version });
		assert.equal(first.ticketed, false, `${version}: no session ticket after a full handshake`);
		const second = await connectOnce({ minVersion: version, maxVersion: version, session: first.session });
		assert.equal(second.reused, false, `${version}: the first connection's session is not resumed`);
	}
});
