// A raw PeerJS WebSocket client for integration tests: connects like the stock client, records every frame,
// and lets a test wait for the next frame (optionally of one type) with a deadline.
import fs from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';
import { testCertificate } from './janus.mjs';

export class PeerSocket {
	constructor(url, opts = {}) {
		this.frames = [];
		this.texts = [];	/* the same frames as the server wrote them (byte comparisons) */
		this.waiters = [];
		this.closed = null;
		this.ws = new WebSocket(url, { ca: fs.readFileSync(testCertificate().cert), localAddress: opts.localAddress,
			// A server that accepts TCP and then never answers must fail the test, not hang it
			maxPayload: 64 * 1024 * 1024, handshakeTimeout: opts.handshakeTimeoutMs ?? 15000 });
		this.opened = new Promise((resolve, reject) => {
			this.ws.once('open', resolve);
			this.ws.once('error', reject);
		});
		this.ws.on('message', (data) => {
			const text = data.toString();
			let frame;
			try { frame = JSON.parse(text); } catch { frame = { raw: text }; }
			this.frames.push(frame);
			this.texts.push(text);
			this._wake();
		});
		this.ws.on('close', (code, reason) => { this.closed = { code, reason: reason.toString() }; this._wake(); });
		this.ws.on('error', () => {});
		this.cursor = 0;
	}

	_wake() {
		for (const w of this.waiters.splice(0)) w();
	}

	static async connect(server, id, token = 'tok-' + id, opts = {}) {
		const s = new PeerSocket(server.wsUrl(id, token, opts.key), opts);
		await s.opened;
		return s;
	}

	// Connects `id` with token `tok-<id>`, expects OPEN first, and adds the socket to `list` (for the test's after())
	static async open(server, id, list) {
		const s = await PeerSocket.connect(server, id);
		list.push(s);
		const first = await s.next();
		if (first.type !== 'OPEN') throw new Error(`${id}: expected OPEN, got ${JSON.stringify(first)}`);
		return s;
	}

	send(frame) {
		this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
	}

	// Next unread frame (of `type` if given, skipping others), or throws after timeoutMs
	async next(type, timeoutMs = 5000) {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			while (this.cursor < this.frames.length) {
				const f = this.frames[this.cursor++];
				if (!type || f.type === type) return f;
			}
			if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting for ${type || 'a frame'}; got ${JSON.stringify(this.frames)}`);
			const left = deadline - Date.now();
			if (left <= 0) throw new Error(`timeout waiting for ${type || 'a frame'}; got ${JSON.stringify(this.frames)}`);
			await new Promise((resolve) => { const t = setTimeout(resolve, left); this.waiters.push(() => { clearTimeout(t); resolve(); }); });
		}
	}

	// Like next(), but the frame's text exactly as the server wrote it
	async nextText(type, timeoutMs = 5000) {
		await this.next(type, timeoutMs);
		return this.texts[this.cursor - 1];
	}

	// Resolves true if no frame of `type` arrives within ms
	async silentFor(ms, type) {
		const start = this.frames.length;
		await new Promise((r) => setTimeout(r, ms));
		return !this.frames.slice(start).some((f) => !type || f.type === type);
	}

	async waitClosed(timeoutMs = 5000) {
		const deadline = Date.now() + timeoutMs;
		while (!this.closed) {
			if (Date.now() > deadline) throw new Error('socket did not close');
			await new Promise((r) => { const t = setTimeout(r, 50); this.waiters.push(() => { clearTimeout(t); r(); }); });
		}
		return this.closed;
	}

	close() {
		this.ws.close();
	}

	terminate() {
		this.ws.terminate();
	}
}

/* A raw WebSocket (plain WS only) that stops reading right after its handshake request: the kernel buffers fill,
 * then the server's write queue for it. The socket is paused, so a 'data' listener added later reads nothing until
 * the caller resumes it. */
export async function nonReadingSocket(server, id) {
	const s = net.connect(server.port, '127.0.0.1');
	s.on('error', () => {});
	await new Promise((r) => s.once('connect', r));
	s.write(`GET /peerjs?key=peerjs&id=${id}&token=t HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n` +
		'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
	s.pause();
	return s;
}
