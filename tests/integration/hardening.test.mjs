// Bad input, abuse and faults against the real Janus: every case gets its documented answer, other peers are not
// harmed, and server memory stays bounded. Each row of the bad-input table is one assertion below.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { nonReadingSocket, PeerSocket } from '../lib/peer-socket.mjs';
import { request, startJanus } from '../lib/janus.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Under AddressSanitizer (tests/sanitize/run-integration-asan.sh) freed memory sits in ASan's quarantine and
// everything runs several times slower: memory bounds are checked by the plain run, behaviour by both
const sanitized = /asan/.test(process.env.P2PLINK_JANUS || '');
function assertMemoryBound(grownKiB, limitKiB, what) {
	if (sanitized) {
		console.log(`# ${what}: RSS grew ${grownKiB} KiB (not checked under ASan: quarantine keeps freed memory)`);
		return;
	}
	assert.ok(grownKiB < limitKiB, `${what}: server RSS grew by ${grownKiB} KiB`);
}
const rssKiB = (srv) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${srv.child.pid}/status`, 'utf8'))[1]);

async function peer(srv, id, token = `tok-${id}`, opts) {
	const s = await PeerSocket.connect(srv, id, token, opts);
	assert.deepEqual(await s.next(), { type: 'OPEN' });
	return s;
}

// A relay between two fresh peers still works: the proof that a bad client hurt nobody
async function stillRelays(srv, tag) {
	const a = await peer(srv, `${tag}-a`), b = await peer(srv, `${tag}-b`);
	a.send({ type: 'OFFER', dst: `${tag}-b`, payload: { ok: 1 } });
	assert.deepEqual((await b.next('OFFER')).payload, { ok: 1 });
	a.close();
	b.close();
}


/* A client WebSocket frame written by hand (masked with a zero key, so the payload goes as is): lets a test put
 * fragments, a binary frame and the frames after it in one TCP write, so the server reads them in one go */
function wsFrame(opcode, payload, fin = true) {
	const data = Buffer.from(payload);
	const len = data.length;
	const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len])
		: len < 65536 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 0xff])
		: Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); return b; })()]);
	return Buffer.concat([head, Buffer.alloc(4), data]);
}
const offerTo = (dst, tag) => JSON.stringify({ type: 'OFFER', dst, payload: { tag } });

let srv;
before(async () => {
	srv = await startJanus({ transport: { max_connections_per_ip: 0, connection_rate_per_ip: 0 } });
});
after(async () => {
	await srv.stop();
	assert.doesNotMatch(srv.log(), /AddressSanitizer|runtime error|Segmentation/);
});

describe('bad input table', () => {
	test('ids: too long, unicode, spaces at the ends are refused with invalid-id; a NUL never gets past HTTP', async () => {
		/* libwebsockets refuses %00 in a URL before any WebSocket exists */
		await assert.rejects(PeerSocket.connect(srv, 'a\u0000b', 't'));
		for (const id of ['x'.repeat(65), 'café', ' a', 'a-', 'a/b', 'a  b']) {
			const s = await PeerSocket.connect(srv, id, 't');
			const f = await s.next();
			assert.equal(f.type, 'ERROR', JSON.stringify(id));
			assert.equal(f.payload.type, 'invalid-id');
			await s.waitClosed();
		}
		await stillRelays(srv, 'ids');
	});

	test('a frame sent before reading OPEN is routed (the handshake completes first)', async () => {
		const b = await peer(srv, 'early-b');
		const a = new PeerSocket(srv.wsUrl('early-a', 't'));
		await a.opened;
		a.send({ type: 'OFFER', dst: 'early-b', payload: 1 });
		assert.equal((await b.next('OFFER')).src, 'early-a');
		assert.deepEqual(await a.next(), { type: 'OPEN' });
		a.close();
		b.close();
	});

	/* a writes these bytes (frames for b among them) in one go: it is closed (with this code, if given) and b gets
	 * no OFFER */
	async function closesWithoutRouting(tag, frames, code) {
		const a = await peer(srv, `${tag}-a`), b = await peer(srv, `${tag}-b`);
		a.ws._socket.write(Buffer.concat(frames(`${tag}-b`)));
		const closed = await a.waitClosed();
		if (code) assert.equal(closed.code, code);
		assert.ok(await b.silentFor(1000, 'OFFER'), JSON.stringify(b.frames));
		b.close();
	}

	test('after a message grows past max_frame_size, the rest of it is not routed as a frame of its own', async () => {
		/* 60,000 + 10,000 bytes: over the default 65,536 in the second fragment; the final one is a whole OFFER */
		await closesWithoutRouting('frag', (b) => [wsFrame(1, 'x'.repeat(60000), false), wsFrame(0, 'y'.repeat(10000), false),
			wsFrame(0, offerTo(b, 'smuggled'))], 1009);
	});

	test('a frame sent right after a binary frame is not routed', async () => {
		await closesWithoutRouting('binnext', (b) => [wsFrame(2, Buffer.from([1, 2, 3])), wsFrame(1, offerTo(b, 'after'))], 1003);
	});

	test('a frame sent right after LEAVE is not routed', async () => {
		/* No close code: the server closes with the OFFER still unread on the wire, and the client may see 1006 */
		await closesWithoutRouting('leavenext', (b) => [wsFrame(1, JSON.stringify({ type: 'LEAVE' })),
			wsFrame(1, offerTo(b, 'after-leave'))]);
	});

	test('a sustained message flood is paced, then the flooder is cut off with 1008; others are unaffected', async () => {
		const flooder = await peer(srv, 'flood-a');
		const victim = await peer(srv, 'flood-b');
		/* Keep the socket full until the server closes it (pacing: frames are read later, never refused) */
		let sent = 0;
		while (!flooder.closed && sent < 200000) {
			for (let i = 0; i < 200; i++) flooder.send({ type: 'CANDIDATE', dst: 'flood-b', payload: { i: sent++ } });
			await sleep(flooder.ws.bufferedAmount > 1 << 20 ? 50 : 5);
		}
		const closed = await flooder.waitClosed(sanitized ? 60000 : 30000);
		assert.equal(closed.code, 1008);
		assert.ok(!flooder.frames.some((f) => f.type === 'ERROR'), 'the flooder got an ERROR frame');
		/* What was read was relayed in order, with nothing missing in between */
		const got = victim.frames.filter((f) => f.type === 'CANDIDATE').map((f) => f.payload.i);
		/* At least the whole burst (frame_burst 500) was relayed before the cut */
		assert.ok(got.length >= 500, `victim got ${got.length}`);
		assert.ok(got.every((v, k) => v === k), 'relayed frames out of order or with gaps');
		await stillRelays(srv, 'flood');
		victim.close();
	});

	test('half-open TCP connections that never speak do not block anyone', async () => {
		const sockets = await Promise.all(Array.from({ length: 50 }, () => new Promise((resolve) => {
			const s = net.connect(srv.port, '127.0.0.1', () => resolve(s));
			s.on('error', () => {});
		})));
		await stillRelays(srv, 'halfopen');
		for (const s of sockets) s.destroy();
	});

	test('TLS garbage and plain HTTP on the TLS port are dropped', async () => {
		for (const junk of [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.alloc(4096, 0x16), Buffer.from([0x16, 3, 1, 0xff, 0xff, 1])]) {
			const closed = await new Promise((resolve) => {
				const s = net.connect(srv.port, '127.0.0.1', () => s.write(junk));
				s.on('data', () => {});
				s.on('error', () => resolve(true));
				s.on('close', () => resolve(true));
				setTimeout(() => { s.destroy(); resolve(false); }, 5000);
			});
			assert.ok(closed, 'the server kept a garbage connection open');
		}
		await stillRelays(srv, 'tlsjunk');
	});

	test('oversized HTTP headers are refused, not buffered', async () => {
		const status = await new Promise((resolve) => {
			const s = tls.connect({ port: srv.port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
				s.write(`GET /peerjs/id HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
			});
			let text = '';
			s.on('data', (d) => { text += d; });
			s.on('error', () => resolve('reset'));
			s.on('close', () => resolve(text.split('\r\n')[0] || 'closed'));
			setTimeout(() => { s.destroy(); resolve('timeout'); }, 5000);
		});
		assert.notEqual(status, 'timeout');
		assert.doesNotMatch(status, / 200 /);
		await stillRelays(srv, 'bighdr');
	});

	test('path traversal variants against the static files find nothing', async () => {
		for (const p of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '/%252e%252e/etc/passwd',
			'/js/..%5c..%5cetc/passwd', '/.%2e/.%2e/etc/passwd', '//etc/passwd']) {
			const r = await request(`${srv.baseUrl}${p}`);
			assert.ok([400, 403, 404].includes(r.status), `${p} -> ${r.status}`);
			assert.doesNotMatch(r.body, /root:/);
		}
	});
});

describe('faults', () => {
	async function listed(server, id) {
		for (let i = 0; i < 50; i++) {
			await sleep(50);
			if ((await server.admin({ request: 'list_peers' })).peers.some((p) => p.id === id)) return;
		}
	}

	test('a client that stops reading is cut off and server memory does not grow with it', async () => {
		// Plain WS so that the test can stop reading at the socket (a paused TLS socket in Node keeps decrypting)
		const other = await startJanus({ secure: false, plugin: { frame_rate: 0 }, transport: { connection_rate_per_ip: 0 } });
		try {
			const reader = await nonReadingSocket(other, 'slow-reader');
			const writer = await peer(other, 'slow-writer');
			await listed(other, 'slow-reader');
			const before = rssKiB(other);
			const blob = 'x'.repeat(60 * 1024);
			/* Up to 600 x 60 KiB = 36 MiB: past the kernel's socket buffers and the reader's 4 MiB write queue. The
			 * writer stops when the server says the reader is gone (queue-full for a peer no longer connected). */
			let sent = 0;
			for (; sent < 600 && !writer.closed && !writer.frames.some((f) => f.type === 'P2PLINK-REFUSED'); sent++) {
				writer.send({ type: 'OFFER', dst: 'slow-reader', payload: blob });
				if (sent % 20 === 0) await sleep(5);
			}
			let gone = false;
			for (let i = 0; i < 50 && !gone; i++) {
				await sleep(100);
				gone = !(await other.admin({ request: 'list_peers' })).peers.some((p) => p.id === 'slow-reader');
			}
			assert.ok(gone, `the slow reader is still connected after ${sent} frames`);
			const grown = rssKiB(other) - before;
			console.log(`# slow consumer cut off after at most ${sent} frames of 60 KiB; server RSS grew ${grown} KiB`);
			assertMemoryBound(grown, 16 * 1024, 'slow consumer');
			assert.equal(writer.closed, null, 'the writer was hurt');
			await stillRelays(other, 'slow');
			reader.destroy();
			writer.close();
		} finally {
			await other.stop();
		}
	});

	test('a connection flushing its queue after LEAVE routes nothing it sends meanwhile', async () => {
		/* Plain WS and a raw socket that stops reading: what is queued for it keeps its close flush going (up to
		 * 5 s), and a frame it sends during that flush must not be routed. A write queue big enough for the
		 * backlog, so that it is not cut off as a slow consumer instead. */
		const other = await startJanus({ secure: false, plugin: { frame_rate: 0 },
			transport: { connection_rate_per_ip: 0, write_queue_max_frames: 4096, write_queue_max_bytes: 64 * 1024 * 1024 } });
		try {
			const leaver = await nonReadingSocket(other, 'flush-leaver');
			const writer = await peer(other, 'flush-writer');
			await listed(other, 'flush-leaver');
			/* 300 x 60 KiB = 18 MiB: more than loopback's socket buffers hold */
			const blob = 'x'.repeat(60 * 1024);
			for (let i = 0; i < 300; i++) {
				writer.send({ type: 'OFFER', dst: 'flush-leaver', payload: blob });
				if (i % 20 === 0) await sleep(5);
			}
			await sleep(500);
			leaver.write(wsFrame(1, JSON.stringify({ type: 'LEAVE' })));
			await sleep(300);
			leaver.write(wsFrame(1, offerTo('flush-writer', 'during-flush')));
			assert.ok(await writer.silentFor(1500, 'OFFER'), JSON.stringify(writer.frames.filter((f) => f.type === 'OFFER')));
			assert.equal(writer.closed, null, 'the writer was hurt');
			leaver.destroy();
			writer.close();
		} finally {
			await other.stop();
		}
	});

	test('per-IP limits: open connections and connection rate', async () => {
		const other = await startJanus({ host: '0.0.0.0', transport: { max_connections_per_ip: 3, connection_rate_per_ip: 0 } });
		try {
			const mine = [];
			for (let i = 0; i < 3; i++) mine.push(await peer(other, `lim-${i}`));
			const fourth = await PeerSocket.connect(other, 'lim-3', 't');
			const f = await fourth.next();
			assert.equal(f.type, 'ERROR');
			assert.equal(f.payload.type, 'too-many-connections');
			await fourth.waitClosed();
			// Another source address is not affected
			const elsewhere = await peer(other, 'lim-other', 't', { localAddress: '127.0.0.2' });
			elsewhere.close();
			mine[0].close();
			await mine[0].waitClosed();
			await sleep(100);
			const again = await peer(other, 'lim-3b');
			again.close();
			for (const s of mine) s.close();
		} finally {
			await other.stop();
		}
		const rated = await startJanus({ transport: { connection_rate_per_ip: 2, connection_burst_per_ip: 10 } });
		try {
			const outcomes = [];
			for (let i = 0; i < 14; i++) {
				const s = await PeerSocket.connect(rated, `rate-${i}`, 't');
				const f = await s.next();
				outcomes.push(f.type === 'OPEN' ? 'open' : f.payload.type);
				s.close();
			}
			assert.deepEqual(outcomes.slice(0, 10), Array(10).fill('open'));
			assert.ok(outcomes.slice(10).includes('too-many-connections'), outcomes.join(','));
		} finally {
			await rated.stop();
		}
	});

	/* Under ASan every malloc walks its full stack (fast_unwind_on_malloc=0) and the cycles run many times slower: there
	 * 2,000 cycles exercise the same paths for memory errors and leaks, and a TLS handshake that hits libwebsockets'
	 * accept timeout is retried; the plain run does all 10,000, allows no failed handshake and checks memory */
	const cycles = sanitized ? 2000 : 10000;
	test(`${cycles.toLocaleString('en')} connect/disconnect cycles: memory back to baseline, no session left behind`, async () => {
		const warm = async (n, tag) => {
			let next = 0;
			await Promise.all(Array.from({ length: 16 }, async () => {
				while (next < n) {
					const i = next++;
					for (let attempt = 1; ; attempt++) {
						try {
							const s = await PeerSocket.connect(srv, `${tag}${i}`, 't');
							await s.next('OPEN');
							s.terminate();
							break;
						} catch (e) {
							if (!sanitized || attempt >= 3) throw e;
						}
					}
				}
			}));
		};
		await warm(500, 'cyc-warm');
		await sleep(1500);
		const baseline = rssKiB(srv);
		const t0 = Date.now();
		await warm(cycles, 'cyc');
		const seconds = (Date.now() - t0) / 1000;
		let sessions = -1;
		for (let i = 0; i < 50 && sessions !== 0; i++) {
			await sleep(200);
			sessions = (await srv.adminRaw({ janus: 'list_sessions', transaction: 'c', admin_secret: 'p2plink-test-admin-secret' })).sessions.length;
		}
		assert.equal(sessions, 0, 'Janus sessions left behind');
		assert.equal((await srv.admin({ request: 'stats' })).peers, 0);
		const grown = rssKiB(srv) - baseline;
		console.log(`# ${cycles} cycles in ${seconds.toFixed(1)} s; RSS ${baseline} KiB -> ${baseline + grown} KiB`);
		assertMemoryBound(grown, 8 * 1024, `${cycles} connect/disconnect cycles`);
	});
});

describe('STUN responder limits (inside Janus)', () => {
	// A minimal RFC 5389 Binding request: type 0x0001, no attributes, magic cookie, 12-byte transaction id
	const bindingRequest = (i) => {
		const b = Buffer.alloc(20);
		b.writeUInt16BE(0x0001, 0);
		b.writeUInt32BE(0x2112a442, 4);
		b.writeUInt32BE(i, 16);
		return b;
	};
	// Sends n requests at once from one socket; counts Binding success responses (0x0101) within 1 s
	async function answered(server, n) {
		const config = JSON.parse((await request(`${server.baseUrl}/peerjs/config`)).body);
		const port = Number(/:(\d+)$/.exec([].concat(config.iceServers[0].urls)[0])[1]);
		const sock = dgram.createSocket('udp4');
		let count = 0;
		sock.on('message', (m) => { if (m.readUInt16BE(0) === 0x0101) count++; });
		await new Promise((r) => sock.bind(0, '127.0.0.1', r));
		for (let i = 0; i < n; i++) sock.send(bindingRequest(i), port, '127.0.0.1');
		await sleep(1000);
		sock.close();
		return count;
	}

	test('the global cap ([stun] global_rate / global_burst) bounds replies from all sources together', async () => {
		const capped = await startJanus({ stun: { global_rate: 1, global_burst: 3 } });
		try {
			assert.equal(await answered(capped, 10), 3, 'a burst of 3, then 1/s');
		} finally {
			await capped.stop();
		}
		const open = await startJanus({});
		try {
			assert.equal(await answered(open, 10), 10, 'defaults: 10 requests from one source all answered');
		} finally {
			await open.stop();
		}
	});
});
