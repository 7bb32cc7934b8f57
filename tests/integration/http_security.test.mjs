// The HTTP side of the transport as an attacker meets it: X-Forwarded-For from a trusted proxy read whole (a long
// header no longer turns an outside client into the proxy's own whitelisted address), malformed or too long ones
// refused for REST and WebSocket alike, request-smuggling framing refused, and the security headers on every answer.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { PeerSocket } from '../lib/peer-socket.mjs';
import { externalIPv4, postPeerjs, request, startJanus, tcpConnectOutcome, testCertificate } from '../lib/janus.mjs';

const createLink = (server, id, rules) => postPeerjs(server, 'links/create', { id, token: `tok-${id}`, ...rules });
const redeem = (server, id, linkToken, opts) => postPeerjs(server, 'links/redeem', { id, token: `tok-${id}`, link_token: linkToken }, opts);

async function peer(srv, id) {
	const s = await PeerSocket.connect(srv, id, `tok-${id}`);
	assert.deepEqual(await s.next(), { type: 'OPEN' });
	return s;
}

// A WebSocket through "the proxy" (source 127.0.0.5) with this X-Forwarded-For: 'open' or 'refused'
function wsVia(srv, id, xff) {
	return new Promise((resolve) => {
		const ws = new WebSocket(srv.wsUrl(id, `tok-${id}`).replace('[::1]', '127.0.0.1'), {
			ca: fs.readFileSync(testCertificate().cert), localAddress: '127.0.0.5', headers: { 'x-forwarded-for': xff },
			handshakeTimeout: 10000 });
		ws.on('message', (m) => { resolve(JSON.parse(m.toString()).type === 'OPEN' ? 'open' : 'refused'); ws.terminate(); });
		ws.on('error', () => resolve('refused'));
		ws.on('close', () => resolve('refused'));
	});
}

// Raw bytes over TLS: the status line of the answer and whether the server closed the connection after it
function raw(srv, text) {
	return new Promise((resolve) => {
		const s = tls.connect({ port: srv.port, host: '127.0.0.1', rejectUnauthorized: false }, () => s.write(text));
		let out = '';
		s.on('data', (d) => { out += d; });
		s.on('error', () => {});
		s.on('close', () => resolve({ status: out.split('\r\n')[0], closed: true, text: out }));
		setTimeout(() => { s.destroy(); resolve({ status: out.split('\r\n')[0], closed: false, text: out }); }, 5000);
	});
}

describe('trusted proxy X-Forwarded-For', () => {
	let srv, link;
	// The proxy is 127.0.0.5; the link is limited to the internal network 127.0.0.0/8, the proxy's own
	before(async () => {
		srv = await startJanus({ host: '::', transport: { trusted_proxies: '127.0.0.5' } });
		await peer(srv, 'xo-owner');
		await peer(srv, 'xo-visitor');
		link = (await createLink(srv, 'xo-owner', { ttl: '10min', max_clicks: 100, whitelist: ['127.0.0.0/8'] })).json;
		assert.ok(link.token, JSON.stringify(link));
	});
	after(async () => {
		await srv.stop();
	});
	const viaProxy = (xff) => redeem(srv, 'xo-visitor', link.token, { localAddress: '127.0.0.5', headers: { 'x-forwarded-for': xff } });

	test('an internal client through the proxy redeems (the control)', async () => {
		const r = await viaProxy('127.0.0.9');
		assert.equal(r.json.ok, true, JSON.stringify(r.json));
	});

	test('a 1,010+ byte header does not make an outside client look like the proxy (whitelist holds)', async () => {
		// What the attacker writes, then what the proxy appends: the outside address it saw
		const padding = Array.from({ length: 100 }, (_, i) => `10.0.${i}.1`).join(', ');
		const xff = `${padding}, 203.0.113.9`;
		assert.ok(xff.length >= 1010, `${xff.length} bytes`);
		const r = await viaProxy(xff);
		assert.equal(r.json.code, 'ip-denied', JSON.stringify(r.json));
	});

	test('a too long header is refused with 400, never answered as the proxy', async () => {
		const xff = `${Array.from({ length: 400 }, (_, i) => `10.1.${i % 250}.${i % 200}`).join(', ')}, 203.0.113.9`;
		assert.ok(xff.length > 4096 && xff.length < 7000, `${xff.length} bytes`);
		const r = await viaProxy(xff);
		assert.equal(r.status, 400);
		assert.equal(r.json.error.code, 'bad-forwarded-for');
	});

	test('a malformed last hop is refused with 400', async () => {
		for (const xff of ['127.0.0.9, garbage', '127.0.0.9,', '127.0.0.9, 203.0.113.9:443', 'x']) {
			const r = await viaProxy(xff);
			assert.equal(r.status, 400, xff);
			assert.equal(r.json.error.code, 'bad-forwarded-for', xff);
		}
	});

	test('the WebSocket upgrade is refused for the same headers, and opens for a good one', async () => {
		assert.equal(await wsVia(srv, 'xo-ws-bad', '127.0.0.9, garbage'), 'refused');
		const long = `${Array.from({ length: 400 }, (_, i) => `10.1.${i % 250}.${i % 200}`).join(', ')}, 203.0.113.9`;
		assert.equal(await wsVia(srv, 'xo-ws-long', long), 'refused');
		assert.equal(await wsVia(srv, 'xo-ws-good', '198.51.100.7'), 'open');
	});
});

describe('HTTP framing and headers', () => {
	let srv;
	before(async () => {
		srv = await startJanus({});
	});
	after(async () => {
		await srv.stop();
	});

	test('Content-Length together with Transfer-Encoding is refused with 400 and the connection closed', async () => {
		const r = await raw(srv, 'GET /peerjs/id HTTP/1.1\r\nHost: x\r\n' +
			'Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /peerjs/id HTTP/1.1\r\nHost: x\r\n\r\n');
		assert.match(r.status, /^HTTP\/1\.1 400/);
		assert.ok(r.closed, 'connection left open after a smuggling attempt');
		// The request hidden behind it was never answered
		assert.equal(r.text.split('HTTP/1.1').length - 1, 1, r.text);
	});

	test('a POST with both Content-Length and Transfer-Encoding never reaches the link endpoints', async () => {
		const r = await raw(srv, 'POST /peerjs/links/list HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
			'Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}');
		assert.match(r.status, /^HTTP\/1\.1 400/);
		assert.match(r.text, /Malformed HTTP framing/);
	});

	test('a link request whose Content-Length is not a plain number is refused with 400 and the connection closed', async () => {
		/* "00…0002" is 40 characters: more than the transport's copy of the header held (it read it as absent) and
		 * than libwebsockets reads (it waits for no body) */
		for (const length of ['-5', '2abc', '0'.repeat(39) + '2']) {
			const r = await raw(srv, 'POST /peerjs/links/list HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
				`Content-Length: ${length}\r\n\r\n{}`);
			assert.match(r.status, /^HTTP\/1\.1 400/, `${length}: ${r.text}`);
			assert.match(r.text, /Malformed HTTP framing/, length);
			assert.ok(r.closed, `${length}: connection left open`);
		}
	});

	test('a WebSocket upgrade with both Content-Length and Transfer-Encoding is refused', async () => {
		const r = await raw(srv, 'GET /peerjs?key=peerjs&id=cl-te&token=tok-cl-te HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n' +
			'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
			'Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n');
		assert.doesNotMatch(r.status, / 101 /);
	});

	test('the app is served with a strict CSP, HSTS and the privacy headers', async () => {
		for (const path of ['/', '/index.html', '/l/some-link-token']) {
			const r = await request(`${srv.baseUrl}${path}`);
			assert.equal(r.status, 200, path);
			const csp = r.headers['content-security-policy'];
			assert.match(csp, /script-src 'self';/);
			assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
			assert.match(csp, /frame-ancestors 'none'/);
			assert.match(csp, /connect-src 'self' wss:\/\/127\.0\.0\.1:\d+;/);
			assert.match(csp, /img-src 'self' data: blob:/);
			assert.match(csp, /media-src 'self' blob:/);
			assert.equal(r.headers['strict-transport-security'], 'max-age=31536000');
			assert.equal(r.headers['x-content-type-options'], 'nosniff');
			assert.equal(r.headers['referrer-policy'], 'no-referrer');
			assert.equal(r.headers['x-frame-options'], 'DENY');
			assert.match(r.headers['permissions-policy'], /camera=\(self\), microphone=\(self\), display-capture=\(self\)/);
		}
	});

	test('API answers get a CSP that allows nothing', async () => {
		for (const path of ['/peerjs/id', '/peerjs/peers', '/peerjs/config', '/no-such-file']) {
			const r = await request(`${srv.baseUrl}${path}`);
			assert.match(r.headers['content-security-policy'], /^default-src 'none';.*frame-ancestors 'none'/, path);
			assert.equal(r.headers['x-content-type-options'], 'nosniff', path);
		}
		const post = await postPeerjs(srv, 'links/list', { id: 'nobody', token: 'tok-nobody' });
		assert.ok(post.status >= 200);
	});

	test('/favicon.ico is an icon, not a 404', async () => {
		const r = await request(`${srv.baseUrl}/favicon.ico`);
		assert.equal(r.status, 200);
		assert.equal(r.headers['content-type'], 'image/x-icon');
	});

	test('no HSTS on a plain-HTTP listener (TLS terminated by a proxy that sets its own)', async () => {
		const plain = await startJanus({ secure: false });
		try {
			const r = await request(`${plain.baseUrl}/`);
			assert.equal(r.status, 200);
			assert.equal(r.headers['strict-transport-security'], undefined);
			assert.match(r.headers['content-security-policy'], /frame-ancestors 'none'/);
		} finally {
			await plain.stop();
		}
	});
});

test('interface = 127.0.0.1 listens on loopback only (lws 4.1 bound [::] for an IPv4 literal)', async (t) => {
	const external = externalIPv4();
	if (!external) return t.skip('this host has no non-loopback IPv4 address');
	const local = await startJanus({});
	try {
		assert.equal(await tcpConnectOutcome(external, local.port), 'ECONNREFUSED');
		assert.equal((await request(`${local.baseUrl}/peerjs/id`)).status, 200);
	} finally {
		await local.stop();
	}
});
