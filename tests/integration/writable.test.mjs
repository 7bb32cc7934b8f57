// The transport's write path at rest: once every queued frame is written, a connection asks for no more writable
// callbacks. (Found by the real-traffic bench: after lws finished a partially written frame of ~4 KiB or more, the
// callback re-armed itself with an empty queue and the service thread spun at a full core for as long as the peer
// stayed connected.)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PeerSocket } from '../lib/peer-socket.mjs';
import { processCpuSeconds, startJanus } from '../lib/janus.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let srv;
const sockets = [];
before(async () => { srv = await startJanus(); });
after(async () => {
	for (const s of sockets) s.terminate();
	await srv.stop();
});

test('an idle connection costs no CPU after large frames were relayed to it', async () => {
	const a = await PeerSocket.connect(srv, 'wr-a');
	const b = await PeerSocket.connect(srv, 'wr-b');
	sockets.push(a, b);
	assert.deepEqual(await a.next(), { type: 'OPEN' });
	assert.deepEqual(await b.next(), { type: 'OPEN' });
	// SDP-sized OFFERs, each bigger than one TLS record / lws's write chunk, so that lws writes them in parts
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
