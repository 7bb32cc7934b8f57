// The transport's write path at rest: once every queued frame is written, a connection asks for no more writable
// callbacks. (Found by the real-traffic bench: after lws finished a partially written frame of ~4 KiB or more, the
// callback re-armed itself with an empty queue and the service thread spun at a full core for as long as the peer
// stayed connected.) And a frame goes out in one write: lws cuts every send to the protocol's tx_packet_size
// (4 KiB when unset), which sent each SDP-sized frame in two writes a loop turn apart; counted by
// p2plink_ws_writes_deferred_total, which a reader that stops reading must make count.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { nonReadingSocket, PeerSocket } from '../lib/peer-socket.mjs';
import { metricSample, processCpuSeconds, request, startJanus } from '../lib/janus.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let srv;
const sockets = [];
before(async () => { srv = await startJanus({ metrics: {} }); });
after(async () => {
	for (const s of sockets) s.terminate();
	await srv.stop();
});

// Two peers, both answered OPEN: <tag>-a and <tag>-b
async function openPair(tag) {
	const pair = [];
	for (const side of ['a', 'b']) {
		const s = await PeerSocket.connect(srv, `${tag}-${side}`);
		sockets.push(s);
		assert.deepEqual(await s.next(), { type: 'OPEN' });
		pair.push(s);
	}
	return pair;
}

test('an idle connection costs no CPU after large frames were relayed to it', async () => {
	const [a, b] = await openPair('wr');
	// SDP-sized OFFERs (12 KB). Since tx_packet_size these go out whole; the partly written case is the last test's
	const sdp = 'v=0 '.repeat(3000);
	for (let i = 0; i < 10; i++) a.send({ type: 'OFFER', dst: 'wr-b', payload: { sdp, i } });
	for (let i = 0; i < 10; i++) assert.equal((await b.next('OFFER', 10000)).payload.i, i);
	await sleep(500);
	const before = processCpuSeconds(srv.child.pid);
	await sleep(3000);
	const used = processCpuSeconds(srv.child.pid) - before;
	// Idle Janus with two quiet peers uses a few hundredths of a second in 3 s; the spin used all of it
	assert.ok(used < 0.6, `Janus used ${used.toFixed(2)} CPU seconds in 3 s of idling`);
});

async function writesDeferred(server) {
	const value = metricSample((await request(server.metricsUrl)).body, 'p2plink_ws_writes_deferred_total');
	assert.ok(value !== undefined, 'p2plink_ws_writes_deferred_total is served');
	return value;
}

test('frames up to 48 KiB reach a reader that keeps up in one write each', async () => {
	const [a, b] = await openPair('one');
	const before = await writesDeferred(srv);
	// Before tx_packet_size was set, each of these took two writes (4 KiB, then the rest after POLLOUT): 20 deferred
	for (const [i, size] of [6000, 12000, 24000, 48000].flatMap((n) => Array(5).fill(n)).entries()) {
		a.send({ type: 'OFFER', dst: 'one-b', payload: { sdp: 'v'.repeat(size), i } });
		assert.equal((await b.next('OFFER', 10000)).payload.i, i);
	}
	assert.equal(await writesDeferred(srv) - before, 0, 'frames the socket could take whole were written in parts');
});

test('writes a reader does not take are counted as deferred, and the connection rests once it has read them', async () => {
	// Plain WS, so that the test can stop reading at the socket (a paused TLS socket in Node keeps decrypting)
	const ws = await startJanus({ secure: false, metrics: {}, plugin: { frame_rate: 0 }, transport: { connection_rate_per_ip: 0 } });
	try {
		const reader = await nonReadingSocket(ws, 'deaf-reader');
		let received = 0;
		reader.on('data', (d) => { received += d.length; });
		const writer = await PeerSocket.connect(ws, 'deaf-writer');
		assert.deepEqual(await writer.next(), { type: 'OPEN' });
		const before = await writesDeferred(ws);
		// 6 MiB: past what the kernel buffers for a socket nobody reads (on loopback its send buffer grows to
		// tcp_wmem's 4 MiB), within the reader's write queue (4 MiB more)
		for (let i = 0; i < 100; i++) writer.send({ type: 'OFFER', dst: 'deaf-reader', payload: 'x'.repeat(60 * 1024) });
		let deferred = 0;
		for (let i = 0; i < 50 && deferred === 0; i++) {
			await sleep(100);
			deferred = await writesDeferred(ws) - before;
		}
		assert.ok(deferred > 0, 'no write was deferred although the reader took none of 6 MiB');
		// The reader catches up: lws finishes each partly written frame and must then stop asking for POLLOUT
		reader.resume();
		for (let i = 0; i < 100 && received < 100 * 60 * 1024; i++) await sleep(100);
		assert.ok(received >= 100 * 60 * 1024, `the reader got ${received} bytes of 6 MiB`);
		await sleep(500);
		const cpu = processCpuSeconds(ws.child.pid);
		await sleep(3000);
		const used = processCpuSeconds(ws.child.pid) - cpu;
		assert.ok(used < 0.6, `Janus used ${used.toFixed(2)} CPU seconds in 3 s of idling after the partial writes`);
		reader.destroy();
		writer.terminate();
	} finally {
		await ws.stop();
	}
});
