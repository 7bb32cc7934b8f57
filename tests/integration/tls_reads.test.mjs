// The transport reads TLS records ahead (one socket read per burst, peerjs_tls_reads.c): records that arrive
// together and wait, still encrypted, in OpenSSL's buffer must be read without the client sending anything more.
// Each case below sends frames in one TCP write (many TLS records, or one frame spread over several records) and
// then nothing: every frame must be relayed. And a record that arrives in two parts, 300 ms apart, is relayed when
// its second part comes, with the server idle in between (no busy loop while it waits for the network).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { PeerSocket } from '../lib/peer-socket.mjs';
import { processCpuSeconds, startJanus, testCertificate } from '../lib/janus.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let srv;
const sockets = [];
before(async () => { srv = await startJanus(); });
after(async () => {
	for (const s of sockets) s.terminate();
	await srv.stop();
});

const offer = (dst, n, sdpBytes = 40) => ({ type: 'OFFER', dst,
	payload: { sdp: { type: 'offer', sdp: `v=0 ${n} ${'a'.repeat(sdpBytes)}` }, type: 'media', connectionId: `mc_${n}` } });

async function receivesAll(peer, count) {
	for (let i = 0; i < count; i++) {
		const f = await peer.socket.next('OFFER', 3000);
		assert.match(f.payload.sdp.sdp, new RegExp(`^v=0 ${i} `), `frame ${i} in order`);
	}
}

// A TLS connection whose bytes to the server go through `hold`: hold(chunk) returns the parts to write now and
// later (ms); hold null: what the TLS layer writes within 30 ms goes in one TCP write. The WebSocket runs over it.
function heldConnection(port, hold) {
	const tcp = net.connect(port, '127.0.0.1');
	let backlog = null;	/* while a part is held back, everything after it waits behind it, in order */
	const wire = new Duplex({
		write(chunk, _enc, done) {
			if (hold === null) {
				/* what the TLS layer writes within 30 ms leaves in one TCP write: many records in one segment */
				if (!backlog) setTimeout(() => { tcp.write(Buffer.concat(backlog)); backlog = null; }, 30);
				(backlog ??= []).push(chunk);
				return done();
			}
			if (backlog) {
				backlog.push(chunk);
				return done();
			}
			const [now, later, ms] = hold(chunk);
			tcp.write(now);
			if (later) {
				backlog = [later];
				setTimeout(() => { for (const c of backlog) tcp.write(c); backlog = null; }, ms);
			}
			done();
		},
		read() {},
	});
	tcp.on('data', (d) => wire.push(d));
	tcp.on('end', () => wire.push(null));
	tcp.on('error', (e) => wire.destroy(e));
	wire.on('finish', () => tcp.end());
	return wire;
}

// A WebSocket for `id` over heldConnection(hold); resolves once OPEN came: { ws, frames }
async function openHeld(id, hold) {
	const ws = new WebSocket(`wss://127.0.0.1:${srv.port}/peerjs?key=peerjs&id=${id}&token=tok-${id}`, {
		ca: fs.readFileSync(testCertificate().cert), servername: '',
		createConnection: (opts) => tls.connect({ ...opts, socket: heldConnection(srv.port, hold) }),
	});
	sockets.push(ws);
	const frames = [];
	ws.on('message', (d) => frames.push(JSON.parse(d)));
	await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
	for (let i = 0; i < 100 && !frames.some((f) => f.type === 'OPEN'); i++) await sleep(20);
	assert.ok(frames.some((f) => f.type === 'OPEN'), `${id} is open`);
	return { ws, frames };
}

test('40 frames, a TLS record each, in one TCP write are all relayed, with nothing sent after them', async () => {
	const b = await PeerSocket.open(srv, 'burst-b', sockets);
	const a = await openHeld('burst-a', null);
	/* one TLS record each (Node's TLS socket puts what is written in one tick in one record) */
	for (let i = 0; i < 40; i++) {
		a.ws.send(JSON.stringify(offer('burst-b', i)));
		await new Promise(setImmediate);
	}
	await receivesAll({ socket: b }, 40);
});

test('frames over several TLS records each (40 KiB), three in one TCP write, are all relayed', async () => {
	const b = await PeerSocket.open(srv, 'big-b', sockets);
	const a = await openHeld('big-a', null);
	for (let i = 0; i < 3; i++) a.ws.send(JSON.stringify(offer('big-b', i, 40 * 1024)));
	await receivesAll({ socket: b }, 3);
});

test('a record that arrives in two parts is relayed when the rest comes, and the server idles meanwhile', async () => {
	const b = await PeerSocket.open(srv, 'split-b', sockets);
	let splitNext = false;
	const a = await openHeld('split-a', (chunk) => {
		if (!splitNext || chunk.length < 64) return [chunk];
		splitNext = false;
		const half = chunk.length >> 1;
		return [chunk.subarray(0, half), chunk.subarray(half), 300];
	});
	splitNext = true;
	const cpuBefore = processCpuSeconds(srv.child.pid);
	a.ws.send(JSON.stringify(offer('split-b', 0, 8 * 1024)));
	await sleep(200);
	const cpuWhileWaiting = processCpuSeconds(srv.child.pid) - cpuBefore;
	assert.equal(b.frames.filter((f) => f.type === 'OFFER').length, 0, 'nothing relayed before the rest arrived');
	await receivesAll({ socket: b }, 1);
	assert.ok(cpuWhileWaiting <= 0.05, `server CPU while the record was half there: ${cpuWhileWaiting} s in 200 ms`);
});
