// The PeerJS protocol against the real Janus with janus.transport.peerjs + janus.plugin.p2plink, over WSS on
// loopback, with a raw WebSocket client: every frame type, queueing, EXPIRE, ID-TAKEN, spoofed src, liveness,
// bad input, JSEP refusal, LEAVE on disconnect, reconnects.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PeerSocket } from '../lib/peer-socket.mjs';
import { request, startJanus } from '../lib/janus.mjs';

let srv;
const connect = (id, token, opts) => PeerSocket.connect(srv, id, token, opts);
const sockets = [];
async function peer(id, token) {
	const s = await connect(id, token);
	sockets.push(s);
	assert.deepEqual(await s.next(), { type: 'OPEN' });
	return s;
}

before(async () => {
	srv = await startJanus({ janusApi: true, plugin: { expire_timeout: 1000, alive_timeout: 3000, id_grace: 1500 } });
});
after(async () => {
	for (const s of sockets) s.terminate();
	const exit = await srv.stop();
	assert.equal(exit.signal === null || exit.signal === 'SIGTERM', true);
	assert.doesNotMatch(srv.log(), /AddressSanitizer|runtime error|Segmentation/);
});

describe('handshake', () => {
	test('a new id gets OPEN', async () => {
		await peer('hs-open');
	});

	test('missing id, token or key gets the reference ERROR and a close', async () => {
		for (const query of ['', 'key=peerjs', 'key=peerjs&id=a', 'id=a&token=b']) {
			const s = new PeerSocket(`${srv.wsBase}/peerjs?${query}`);
			await s.opened;
			assert.deepEqual(await s.next(), { type: 'ERROR', payload: { msg: 'No id, token, or key supplied to websocket server' } });
			await s.waitClosed();
		}
	});

	test('a wrong key gets "Invalid key provided" and a close', async () => {
		const s = await connect('hs-key', 't', { key: 'nope' });
		assert.deepEqual(await s.next(), { type: 'ERROR', payload: { msg: 'Invalid key provided' } });
		await s.waitClosed();
	});

	test('the same id with another token gets ID-TAKEN and the owner keeps it', async () => {
		const owner = await peer('hs-taken', 'token-1');
		const thief = await connect('hs-taken', 'token-2');
		assert.deepEqual(await thief.next(), { type: 'ID-TAKEN', payload: { msg: 'ID is taken' } });
		await thief.waitClosed();
		const other = await peer('hs-taken-2');
		other.send({ type: 'OFFER', dst: 'hs-taken', payload: { n: 1 } });
		assert.equal((await owner.next('OFFER')).src, 'hs-taken-2');
	});

	test('a reconnect with the same id and token gets OPEN and replaces the old socket', async () => {
		const first = await peer('hs-re', 'same');
		const second = await connect('hs-re', 'same');
		sockets.push(second);
		assert.deepEqual(await second.next(), { type: 'OPEN' });
		await first.waitClosed();
		const other = await peer('hs-re-other');
		other.send({ type: 'OFFER', dst: 'hs-re', payload: {} });
		assert.equal((await second.next('OFFER')).src, 'hs-re-other');
	});

	test('an id that breaks the client rule is refused with an ERROR', async () => {
		const s = await connect('bad.id', 't');
		const f = await s.next();
		assert.equal(f.type, 'ERROR');
		assert.equal(f.payload.type, 'invalid-id');
		await s.waitClosed();
	});

	test('after a disconnect the id is kept for its token for id_grace, then free for any token', async () => {
		const a = await peer('hs-free', 'one');
		a.close();
		await a.waitClosed();
		const closed = Date.now();
		const early = await connect('hs-free', 'two');
		assert.deepEqual(await early.next(), { type: 'ID-TAKEN', payload: { msg: 'ID is taken' } });
		assert.ok(Date.now() - closed < 1500, 'the ID-TAKEN check came too late to prove anything');
		const deadline = Date.now() + 4000;
		for (;;) {
			const b = await connect('hs-free', 'two');
			const f = await b.next();
			if (f.type === 'OPEN') { sockets.push(b); break; }
			assert.ok(Date.now() < deadline, 'id was not released');
			await new Promise((r) => setTimeout(r, 100));
		}
	});
});

describe('routing', () => {
	test('OFFER, ANSWER, CANDIDATE and LEAVE are relayed with the server-set src', async () => {
		const a = await peer('rt-a'), b = await peer('rt-b');
		for (const type of ['OFFER', 'ANSWER', 'CANDIDATE', 'LEAVE']) {
			a.send({ type, src: 'someone-else', dst: 'rt-b', payload: { type: 'data', connectionId: 'dc_1', sdp: { x: type } }, extra: 1 });
			assert.deepEqual(await b.next(), { type, src: 'rt-a', dst: 'rt-b', payload: { type: 'data', connectionId: 'dc_1', sdp: { x: type } } });
		}
	});

	test('EXPIRE from a client is relayed like the reference', async () => {
		const a = await peer('rt-ex-a'), b = await peer('rt-ex-b');
		a.send({ type: 'EXPIRE', dst: 'rt-ex-b' });
		assert.deepEqual(await b.next(), { type: 'EXPIRE', src: 'rt-ex-a', dst: 'rt-ex-b' });
	});

	test('frames to a peer that is not connected yet are delivered in order after its OPEN', async () => {
		const a = await peer('q-a');
		a.send({ type: 'OFFER', dst: 'q-b', payload: { n: 1 } });
		a.send({ type: 'CANDIDATE', dst: 'q-b', payload: { n: 2 } });
		await new Promise((r) => setTimeout(r, 100));
		const b = await connect('q-b');
		sockets.push(b);
		assert.deepEqual(await b.next(), { type: 'OPEN' });
		assert.deepEqual(await b.next(), { type: 'OFFER', src: 'q-a', dst: 'q-b', payload: { n: 1 } });
		assert.deepEqual(await b.next(), { type: 'CANDIDATE', src: 'q-a', dst: 'q-b', payload: { n: 2 } });
	});

	test('a peer that never connects makes the sender get EXPIRE after expire_timeout', async () => {
		const a = await peer('exp-a');
		const sent = Date.now();
		a.send({ type: 'OFFER', dst: 'exp-nobody', payload: {} });
		assert.deepEqual(await a.next('EXPIRE', 4000), { type: 'EXPIRE', src: 'exp-nobody', dst: 'exp-a' });
		const waited = Date.now() - sent;
		assert.ok(waited >= 900 && waited < 2500, `EXPIRE after ${waited} ms`);
	});

	test('when a socket closes, the peers it signaled with get LEAVE within a second', async () => {
		const a = await peer('lv-a'), b = await peer('lv-b'), c = await peer('lv-c');
		a.send({ type: 'OFFER', dst: 'lv-b', payload: {} });
		await b.next('OFFER');
		const t0 = Date.now();
		a.terminate();
		assert.deepEqual(await b.next('LEAVE', 1000), { type: 'LEAVE', src: 'lv-a', dst: 'lv-b' });
		assert.ok(Date.now() - t0 < 1000);
		assert.ok(await c.silentFor(200, 'LEAVE'), 'an unrelated peer learned about lv-a');
	});

	test('LEAVE without dst unregisters the sender and closes it', async () => {
		const a = await peer('lv-self');
		a.send({ type: 'LEAVE' });
		await a.waitClosed();
	});
});

describe('liveness', () => {
	test('a silent peer is dropped after alive_timeout and its counterparts get LEAVE', async () => {
		const quiet = await peer('al-quiet'), chatty = await peer('al-chatty');
		quiet.send({ type: 'OFFER', dst: 'al-chatty', payload: {} });
		await chatty.next('OFFER');
		const beat = setInterval(() => chatty.send({ type: 'HEARTBEAT' }), 500);
		try {
			await quiet.waitClosed(5000);
			assert.deepEqual(await chatty.next('LEAVE', 1000), { type: 'LEAVE', src: 'al-quiet', dst: 'al-chatty' });
			await new Promise((r) => setTimeout(r, 1000));
			assert.equal(chatty.closed, null, 'a peer sending HEARTBEATs was dropped');
		} finally {
			clearInterval(beat);
		}
	});
});

describe('bad input', () => {
	test('malformed JSON, unknown types, bad dst and self-signaling get P2PLINK-REFUSED codes (never ERROR) and the socket stays usable', async () => {
		const a = await peer('bad-a'), b = await peer('bad-b');
		const cases = [
			['{"type":', 'invalid-json', null],
			['[1,2,3]', 'invalid-frame', null],
			['{"type":"WHATEVER","dst":"bad-b"}', 'unknown-type', null],
			['{"type":"OFFER","dst":{"x":1}}', 'invalid-dst', null],
			['{"type":"OFFER","dst":"bad-a","payload":{}}', 'invalid-dst', 'bad-a'],
			['{"type":"OFFER","payload":{}}', 'missing-dst', null],
			['{"type":"OFFER","dst":"a\\u0000b"}', 'invalid-dst', null],
			[`{"type":"OFFER","dst":"${'x'.repeat(5000)}"}`, 'invalid-dst', null],
		];
		for (const [text, code, expireSrc] of cases) {
			a.send(text);
			if (expireSrc) assert.deepEqual(await a.next(), { type: 'EXPIRE', src: expireSrc, dst: 'bad-a' });
			const f = await a.next();
			assert.equal(f.type, 'P2PLINK-REFUSED', text.slice(0, 60));
			assert.equal(f.payload.code, code, text.slice(0, 60));
			assert.equal(f.dst, 'bad-a');
			assert.ok(f.payload.msg.length > 0);
			assert.equal(f.payload.connectionId, undefined);
		}
		a.send({ type: 'OFFER', dst: 'bad-b', payload: { still: 'works' } });
		assert.deepEqual((await b.next('OFFER')).payload, { still: 'works' });
		assert.ok(!a.frames.some((f) => f.type === 'ERROR'), JSON.stringify(a.frames));
		assert.equal(a.closed, null);
	});

	test('an oversized message fails the socket with close code 1009 (no ERROR frame), others are unaffected', async () => {
		const a = await peer('big-a'), b = await peer('big-b');
		a.send({ type: 'OFFER', dst: 'big-b', payload: 'x'.repeat(200 * 1024) });
		const closed = await a.waitClosed();
		assert.equal(closed.code, 1009);
		assert.match(closed.reason, /max_frame_size/);
		assert.ok(!a.frames.some((f) => f.type === 'ERROR'), JSON.stringify(a.frames));
		const c = await peer('big-c');
		c.send({ type: 'OFFER', dst: 'big-b', payload: 1 });
		assert.equal((await b.next('OFFER')).src, 'big-c');
	});

	test('a binary frame fails the socket with close code 1003 (no ERROR frame)', async () => {
		const a = await peer('bin-a');
		a.ws.send(Buffer.from([1, 2, 3]));
		const closed = await a.waitClosed();
		assert.equal(closed.code, 1003);
		assert.ok(!a.frames.some((f) => f.type === 'ERROR'), JSON.stringify(a.frames));
	});
});

describe('Janus integration', () => {
	async function janusHandle() {
		const session = await srv.janusApi('', { janus: 'create', transaction: 'c' });
		const sid = session.data.id;
		const handle = await srv.janusApi(`/${sid}`, { janus: 'attach', plugin: 'janus.plugin.p2plink', transaction: 'a' });
		return { sid, hid: handle.data.id };
	}

	test('a JSEP sent to the plugin is refused: this server never relays media', async () => {
		const { sid, hid } = await janusHandle();
		const offer = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\n';
		const reply = await srv.janusApi(`/${sid}/${hid}`, { janus: 'message', transaction: 'm', body: { request: 'bind', nonce: 'x' }, jsep: { type: 'offer', sdp: offer } });
		const data = reply.plugindata?.data ?? {};
		assert.equal(data.error_code, 473, JSON.stringify(reply));
		assert.match(data.error, /never relays media/);
	});

	test('a client of another transport cannot claim a peer without the in-process nonce', async () => {
		await peer('nonce-victim');
		const { sid, hid } = await janusHandle();
		const reply = await srv.janusApi(`/${sid}/${hid}`, { janus: 'message', transaction: 'm', body: { request: 'bind', nonce: '0'.repeat(32) } });
		assert.equal(reply.plugindata.data.error_code, 474);
	});

	test('each connected peer is a Janus session with a p2plink handle in the admin API', async () => {
		await peer('adm-one');
		const deadline = Date.now() + 3000;
		let found = false;
		while (!found && Date.now() < deadline) {
			const list = await srv.adminRaw({ janus: 'list_sessions', transaction: 'l', admin_secret: 'p2plink-test-admin-secret' });
			for (const sid of list.sessions) {
				const handles = await srv.adminRaw({ janus: 'list_handles', session_id: sid, transaction: 'h', admin_secret: 'p2plink-test-admin-secret' });
				for (const hid of handles.handles || []) {
					const info = await srv.adminRaw({ janus: 'handle_info', session_id: sid, handle_id: hid, transaction: 'i', admin_secret: 'p2plink-test-admin-secret' });
					if (info.info?.plugin_specific?.id === 'adm-one') found = true;
				}
			}
			if (!found) await new Promise((r) => setTimeout(r, 100));
		}
		assert.ok(found, 'peer adm-one not visible through handle_info');
	});

	test('admin list_peers, kick_peer and stats; a wrong admin secret is refused', async () => {
		const victim = await peer('adm-kick');
		const list = await srv.admin({ request: 'list_peers', limit: 1000 });
		assert.ok(list.peers.some((p) => p.id === 'adm-kick' && p.ip === '127.0.0.1'));
		assert.deepEqual(await srv.admin({ request: 'kick_peer', id: 'adm-kick' }), { p2plink: 'kicked', id: 'adm-kick' });
		await victim.waitClosed();
		assert.equal((await srv.admin({ request: 'kick_peer', id: 'adm-kick' })).error_code, 483);
		const stats = await srv.admin({ request: 'stats' });
		assert.equal(stats.p2plink, 'stats');
		assert.ok(stats.relayed > 0);
		const denied = await srv.admin({ request: 'stats' }, 'wrong-secret');
		assert.equal(denied.janus, 'error');
		assert.equal(denied.error.code, 403);
	});
});

describe('HTTP', () => {
	test('GET /peerjs/id returns a fresh UUID as text/html, with CORS reflecting the Origin', async () => {
		const r1 = await request(`${srv.baseUrl}/peerjs/id?ts=1`, { headers: { origin: 'https://app.example' } });
		const r2 = await request(`${srv.baseUrl}/peerjs/id`);
		assert.equal(r1.status, 200);
		assert.match(r1.body, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
		assert.notEqual(r1.body, r2.body);
		assert.equal(r1.headers['content-type'], 'text/html; charset=utf-8');
		assert.equal(r1.headers['access-control-allow-origin'], 'https://app.example');
	});

	test('GET /peerjs/peers is 401 while discovery is off', async () => {
		const r = await request(`${srv.baseUrl}/peerjs/peers`);
		assert.equal(r.status, 401);
	});

	test('the app is served, the landing path too, and traversal finds nothing', async () => {
		const index = await request(`${srv.baseUrl}/`);
		assert.equal(index.status, 200);
		assert.match(index.headers['content-type'], /text\/html/);
		const landing = await request(`${srv.baseUrl}/l/AbCdEf0123456789`);
		assert.equal(landing.status, 200);
		assert.equal(landing.body, index.body);
		for (const p of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '/nope.html']) {
			const r = await request(`${srv.baseUrl}${p}`);
			assert.ok(r.status === 404 || r.status === 403 || r.status === 400, `${p} -> ${r.status}`);
			assert.doesNotMatch(r.body, /root:/);
		}
	});
});

describe('discovery and limits (own server)', () => {
	test('with allow_discovery, GET /peerjs/peers lists connected ids', async () => {
		const other = await startJanus({ transport: { allow_discovery: true } });
		try {
			const a = await PeerSocket.connect(other, 'disc-a');
			await a.next('OPEN');
			const r = await request(`${other.baseUrl}/peerjs/peers`);
			assert.equal(r.status, 200);
			assert.deepEqual(JSON.parse(r.body), ['disc-a']);
			a.close();
		} finally {
			await other.stop();
		}
	});

	test('concurrent_limit refuses the next peer with the reference message', async () => {
		const other = await startJanus({ plugin: { concurrent_limit: 1 } });
		try {
			const a = await PeerSocket.connect(other, 'lim-a');
			await a.next('OPEN');
			const b = await PeerSocket.connect(other, 'lim-b');
			assert.equal((await b.next()).payload.msg, 'Server has reached its concurrent user limit');
			await b.waitClosed();
			a.close();
		} finally {
			await other.stop();
		}
	});

	test('HEARTBEATs keep the Janus session alive past session_timeout', async () => {
		const other = await startJanus({ sessionTimeout: 3 });
		try {
			const a = await PeerSocket.connect(other, 'ka-a');
			await a.next('OPEN');
			const beat = setInterval(() => a.send({ type: 'HEARTBEAT' }), 500);
			await new Promise((r) => setTimeout(r, 7000));
			clearInterval(beat);
			assert.equal(a.closed, null, 'the session timed out despite heartbeats');
			// And without heartbeats the Janus session times out and the socket is closed
			await a.waitClosed(8000);
		} finally {
			await other.stop();
		}
	});
});
