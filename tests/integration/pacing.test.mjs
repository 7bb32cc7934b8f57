// Issue 11 over the wire, against the real Janus: limits slow a peer down instead of dropping its frames, refusals
// after OPEN never reach a stock client as ERROR (it would abort its Peer), a flood is still cut off (WebSocket
// 1008) without hurting anyone else, and the handshake errors stay byte for byte the reference server's.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { PeerSocket } from '../lib/peer-socket.mjs';
import { postPeerjs, startJanus } from '../lib/janus.mjs';
import { startServer as startReference } from '../lib/reference-server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sanitized = /asan/.test(process.env.P2PLINK_JANUS || '');

let srv;
const sockets = [];
async function peer(server, id, token) {
	const s = await PeerSocket.connect(server, id, token);
	sockets.push(s);
	assert.deepEqual(await s.next(), { type: 'OPEN' });
	return s;
}

function percentile(sorted, p) {
	return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

before(async () => {
	// Default limits: what a stock client meets on a default install
	srv = await startJanus({ transport: { max_connections_per_ip: 0, connection_rate_per_ip: 0 } });
});
after(async () => {
	for (const s of sockets) s.terminate();
	await srv.stop();
	assert.doesNotMatch(srv.log(), /AddressSanitizer|runtime error|Segmentation/);
});

describe('pacing instead of dropping', () => {
	test('a burst of 2,000 frames arrives complete and in order, and the sender gets no ERROR and no refusal', async () => {
		const a = await peer(srv, 'burst-a'), b = await peer(srv, 'burst-b');
		const t0 = performance.now();
		for (let i = 0; i < 2000; i++)
			a.send({ type: 'CANDIDATE', dst: 'burst-b', payload: { type: 'data', connectionId: 'dc_x', candidate: { candidate: `candidate:${i} 1 udp 2122260223 192.0.2.1 ${40000 + (i % 20000)} typ host`, sdpMid: '0', sdpMLineIndex: 0 } } });
		let got = 0;
		while (got < 2000) {
			const f = await b.next('CANDIDATE', 30000);
			assert.equal(f.payload.candidate.candidate.split(' ')[0], `candidate:${got}`, 'out of order');
			got++;
		}
		const ms = performance.now() - t0;
		console.log(`# 2,000-frame burst relayed complete and in order in ${ms.toFixed(0)} ms (default frame_rate/frame_burst)`);
		assert.ok(!a.frames.some((f) => f.type === 'ERROR' || f.type === 'P2PLINK-REFUSED' || f.type === 'EXPIRE'),
			JSON.stringify(a.frames.slice(0, 5)));
		assert.equal(a.closed, null);
		assert.equal(b.closed, null);
	});

	test('a paced sender (frame_rate 100, burst 50) keeps every frame, in order, and others are not held up', async () => {
		const slow = await startJanus({ plugin: { frame_rate: 100, frame_burst: 50 }, transport: { connection_rate_per_ip: 0 } });
		try {
			const a = await peer(slow, 'pace-a'), b = await peer(slow, 'pace-b');
			const c = await peer(slow, 'pace-c'), d = await peer(slow, 'pace-d');
			const t0 = performance.now();
			for (let i = 0; i < 250; i++) a.send({ type: 'CANDIDATE', dst: 'pace-b', payload: { i } });
			// While a is paced, c's frames to d go through at once
			await sleep(200);
			const c0 = performance.now();
			c.send({ type: 'OFFER', dst: 'pace-d', payload: { hello: 1 } });
			await d.next('OFFER', 2000);
			const otherMs = performance.now() - c0;
			for (let i = 0; i < 250; i++) assert.equal((await b.next('CANDIDATE', 10000)).payload.i, i);
			const ms = performance.now() - t0;
			console.log(`# 250 frames at frame_rate 100 / burst 50: all delivered in ${ms.toFixed(0)} ms; another peer's frame meanwhile: ${otherMs.toFixed(1)} ms`);
			// 200 frames beyond the burst at 100/s: about 2 s; they were paced, not dropped
			assert.ok(ms >= 1800, `delivered in ${ms} ms: not paced`);
			assert.ok(otherMs < 100, `another peer waited ${otherMs} ms`);
			assert.ok(!a.frames.some((f) => f.type === 'ERROR' || f.type === 'P2PLINK-REFUSED'));
			assert.equal(a.closed, null);
		} finally {
			await slow.stop();
		}
	});

	test('a sustained flood is cut off with 1008 after flood_after (default 10 s) of pacing, while another peer keeps its latency', async () => {
		const flooder = await peer(srv, 'fl-a'), sink = await peer(srv, 'fl-b');
		const ping = await peer(srv, 'fl-ping'), pong = await peer(srv, 'fl-pong');
		pong.ws.on('message', (data) => {
			const f = JSON.parse(data.toString());
			if (f.type === 'OFFER') pong.send({ type: 'ANSWER', dst: 'fl-ping', payload: f.payload });
		});
		const rtts = [];
		let stop = false;
		const prober = (async () => {
			for (let n = 0; !stop; n++) {
				const t = performance.now();
				ping.send({ type: 'OFFER', dst: 'fl-pong', payload: { n } });
				for (;;) {
					const f = await ping.next('ANSWER', 5000);
					if (f.payload.n === n) break;
				}
				rtts.push(performance.now() - t);
				await sleep(20);
			}
		})();
		const t0 = performance.now();
		let sent = 0;
		while (!flooder.closed && performance.now() - t0 < 40000) {
			for (let i = 0; i < 200; i++) flooder.send({ type: 'CANDIDATE', dst: 'fl-b', payload: { i: sent++ } });
			await sleep(flooder.ws.bufferedAmount > 1 << 20 ? 50 : 2);
		}
		const closed = await flooder.waitClosed(5000);
		const cutMs = performance.now() - t0;
		stop = true;
		await prober;
		rtts.sort((x, y) => x - y);
		const relayed = sink.frames.filter((f) => f.type === 'CANDIDATE').length;
		console.log(`# flood: cut off with ${closed.code} "${closed.reason}" after ${(cutMs / 1000).toFixed(1)} s, ${relayed} frames relayed (of ${sent} written); ` +
			`another peer's round trip meanwhile: p50 ${percentile(rtts, 0.5).toFixed(1)} ms, p99 ${percentile(rtts, 0.99).toFixed(1)} ms, max ${rtts[rtts.length - 1].toFixed(1)} ms over ${rtts.length} probes`);
		assert.equal(closed.code, 1008);
		assert.match(closed.reason, /flood/);
		// Not before the whole burst (1,000 at once) and 10 s of pacing at 500/s
		assert.ok(cutMs >= 10000, `cut off after ${cutMs} ms: before flood_after`);
		assert.ok(cutMs < 20000, `cut off only after ${cutMs} ms`);
		assert.ok(!flooder.frames.some((f) => f.type === 'ERROR'));
		// Everything read was relayed in order
		const order = sink.frames.filter((f) => f.type === 'CANDIDATE').map((f) => f.payload.i);
		assert.ok(order.every((v, k) => v === k));
		// The other pair: its round trip (two relays) stays far below what a person notices
		assert.ok(percentile(rtts, 0.99) < (sanitized ? 200 : 50), `p99 round trip ${percentile(rtts, 0.99)} ms`);
		assert.equal(ping.closed, null);
		assert.equal(sink.closed, null);
		assert.match(srv.log(), /closed a flooding peer from 127\.0\.0\.1/);
	});
});

describe('refusals after OPEN are EXPIRE + P2PLINK-REFUSED, never ERROR', () => {
	async function expectRefusal(s, dst, code, type) {
		if (dst) assert.deepEqual(await s.next(), { type: 'EXPIRE', src: dst, dst: s.id });
		const f = await s.next();
		assert.equal(f.type, 'P2PLINK-REFUSED');
		assert.equal(f.dst, s.id);
		assert.equal(f.src, dst ?? undefined);
		assert.equal(f.payload.code, code);
		assert.equal(f.payload.for, type);
		assert.ok(f.payload.msg.length > 10);
	}

	test('link-required, queue-full, payload-too-large, invalid-dst, missing-dst, invalid-json, invalid-frame, unknown-type', async () => {
		const small = await startJanus({ plugin: { queue_max_messages: 2 }, transport: { connection_rate_per_ip: 0 } });
		try {
			const a = await peer(small, 'rf-a');
			a.id = 'rf-a';
			await peer(small, 'rf-hidden', 'tok-hidden');
			assert.equal((await postPeerjs(small, 'linkonly', { id: 'rf-hidden', token: 'tok-hidden', enabled: true })).json.ok, true);
			a.send({ type: 'OFFER', dst: 'rf-hidden', payload: {} });
			await expectRefusal(a, 'rf-hidden', 'link-required', 'OFFER');
			for (let i = 0; i < 2; i++) a.send({ type: 'CANDIDATE', dst: 'rf-offline', payload: { i } });
			a.send({ type: 'CANDIDATE', dst: 'rf-offline', payload: { i: 3 } });
			await expectRefusal(a, 'rf-offline', 'queue-full', 'CANDIDATE');
			a.send({ type: 'CANDIDATE', dst: 'rf-other', payload: 'x'.repeat(5000) });
			await expectRefusal(a, 'rf-other', 'payload-too-large', 'CANDIDATE');
			a.send({ type: 'ANSWER', dst: 'rf-a', payload: {} });
			await expectRefusal(a, 'rf-a', 'invalid-dst', 'ANSWER');
			a.send({ type: 'OFFER', dst: 'no/such', payload: {} });
			await expectRefusal(a, null, 'invalid-dst', 'OFFER');
			a.send({ type: 'OFFER', payload: {} });
			await expectRefusal(a, null, 'missing-dst', 'OFFER');
			a.send('{"type":"OFFER",');
			await expectRefusal(a, null, 'invalid-json', 'UNKNOWN');
			a.send('"OFFER"');
			await expectRefusal(a, null, 'invalid-frame', 'UNKNOWN');
			a.send({ type: 'PING', dst: 'rf-other' });
			await expectRefusal(a, null, 'unknown-type', 'UNKNOWN');
			assert.ok(!a.frames.some((f) => f.type === 'ERROR'));
			assert.equal(a.closed, null);
		} finally {
			await small.stop();
		}
	});
});

describe('handshake errors are the reference server\'s, byte for byte', () => {
	// The raw text of every frame the server sends before it closes
	function rawFrames(url, insecure) {
		return new Promise((resolve, reject) => {
			const ws = new WebSocket(url, insecure ? { rejectUnauthorized: false } : { ca: undefined, rejectUnauthorized: false });
			const frames = [];
			ws.on('message', (d) => frames.push(d.toString()));
			ws.on('close', () => resolve(frames));
			ws.on('error', reject);
			setTimeout(() => { ws.terminate(); resolve(frames); }, 3000);
		});
	}
	function holder(url) {
		return new Promise((resolve, reject) => {
			const ws = new WebSocket(url, { rejectUnauthorized: false });
			ws.on('message', (d) => { if (JSON.parse(d.toString()).type === 'OPEN') resolve(ws); });
			ws.on('error', reject);
		});
	}

	test('missing parameters, a wrong key and ID-TAKEN', async () => {
		const ref = await startReference();
		try {
			const refWs = ref.baseUrl.replace('https://', 'wss://') + '/peerjs';
			const ourWs = srv.wsBase + '/peerjs';
			const held = [await holder(`${refWs}?key=peerjs&id=hs-held&token=one`), await holder(`${ourWs}?key=peerjs&id=hs-held&token=one`)];
			for (const query of ['', 'key=peerjs', 'key=peerjs&id=a', 'id=a&token=b', 'key=nope&id=a&token=b',
				'key=peerjs&id=hs-held&token=two']) {
				const theirs = await rawFrames(`${refWs}?${query}`, true);
				const ours = await rawFrames(`${ourWs}?${query}`, true);
				assert.ok(theirs.length > 0, `the reference sent nothing for ?${query}`);
				assert.deepEqual(ours, theirs, `?${query}`);
			}
			for (const ws of held) ws.terminate();
		} finally {
			await ref.stop();
		}
	});
});
