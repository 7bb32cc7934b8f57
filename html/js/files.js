/*
 * files.js — direct file transfer between two browsers over one reliable PeerJS
 * DataConnection per peer pair (label "p2plink-files", serialization 'raw', metadata
 * {app:'p2plink', kind:'files', v:1}). The server never sees file bytes.
 *
 * Wire protocol on that channel: text messages are JSON control messages, binary messages
 * are the bytes of the one file currently being streamed (the channel is ordered, so no
 * per-chunk header is needed). Either side may send offers.
 *   S → R  {t:'offer', oid, files:[{fid, name, size, type}], name}   name: the sender's display name
 *   R → S  {t:'sas-b', nonce}  /  S → R {t:'sas-a', nonce}   security code (security-code.js); the side that
 *                                                  opened the channel put metadata.sasCommit in its offer
 *   R → S  {t:'answer', oid, accept}               accept: true | false (declined)
 *   S → R  {t:'begin', oid, fid}                   then `size` bytes as binary messages
 *   S → R  {t:'end', oid, fid, sha256}             hex SHA-256 of the whole file
 *   R → S  {t:'ack', oid, fid, bytes}              bytes received *and written*, every ~1 MiB
 *   R → S  {t:'result', oid, fid, ok, sha256}      receiver's own hash and the comparison
 *   either {t:'cancel', oid}                       stop the whole offer; partial data is dropped
 *
 * Flow control, so memory stays flat for any file size:
 *   - sender reads the file in 1 MiB slices and sends CHUNK-sized messages only while the
 *     RTCDataChannel's bufferedAmount is under HIGH_WATER; otherwise it waits for
 *     'bufferedamountlow' (threshold LOW_WATER);
 *   - the receiver acks what it has written to disk; the sender keeps at most WINDOW bytes
 *     unacknowledged, so a slow disk on the receiver slows the sender instead of piling up
 *     in the receiver's memory.
 * Both sides hash incrementally (sha256.js) and both show verified / failed.
 * Saving without the Save-As picker: one file is one download; several files become one .zip (zip.js) when all
 * are in, because browsers drop rapid downloads; each file also gets its own "Save" button.
 * An offer that arrives during a call is shown on the call screen (which makes the page under it inert) and moves
 * back to the list when the call ends.
 */
import { $, el, announce, formatBytes, formatDuration, noDirectPath, randomToken, who, middleEllipsis, cleanName } from './ui.js';
import { Sha256 } from './sha256.js';
import { chooseTargets, hasSavePicker, download, safeName, uniqueName, FALLBACK_LIMIT_TEXT } from './sinks.js';
import { SasOpener, SasAnswerer } from './security-code.js';
import { buildZip, ZIP_MAX_BYTES } from './zip.js';

const READ_BYTES = 1024 * 1024;
const CHUNK_MAX = 256 * 1024;
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;
const WINDOW = 16 * 1024 * 1024;
const ACK_EVERY = 1024 * 1024;
const OPEN_TIMEOUT_MS = 20000;
const MAX_FILES = 1000;

const FINISHED = new Set(['verified', 'failed', 'declined', 'cancelled']);

/* The list new cards go to: the call screen's while a call is up, else the page's */
function cardList() {
	return document.body.classList.contains('in-call') ? $('#call-offers') : $('#transfers');
}

export class Files {
	constructor(peer, { myName = () => '', onSendBack = () => {} } = {}) {
		this.peer = peer;
		this.myName = myName;
		this.onSendBack = onSendBack;
		this.sessions = new Map(); /* peerId → Session */
		this.offers = new Map(); /* oid → Offer (both directions) */
		$('#save-mode').textContent = hasSavePicker()
			? 'Files you accept are written straight to disk through your browser’s Save dialog.'
			: `This browser cannot stream to disk, so files you receive are assembled in browser storage and then downloaded (several at once as one .zip) — fine up to ${FALLBACK_LIMIT_TEXT}.`;
		$('#clear-finished').addEventListener('click', () => this.clearFinished());
		/* The call screen went away: its cards go back to the list */
		new MutationObserver(() => {
			if (!document.body.classList.contains('in-call')) this._cardsBack();
		}).observe(document.body, { attributes: true, attributeFilter: ['class'] });
	}

	_cardsBack() {
		const from = $('#call-offers');
		const cards = Array.from(from.children);
		if (cards.length) $('#transfers').prepend(...cards);
		this._syncClear();
	}

	_syncClear() {
		$('#clear-finished').hidden = !document.querySelector('#transfers .transfer[data-state]') ||
			!Array.from(document.querySelectorAll('#transfers .transfer')).some((c) => FINISHED.has(c.dataset.state));
	}

	/* Remove the cards of transfers that are over (and let their memory go) */
	clearFinished() {
		for (const o of Array.from(this.offers.values())) {
			if (!o.done) continue;
			o.card.remove();
			o.release();
			this.offers.delete(o.oid);
		}
		this._syncClear();
	}

	/* ---------- sessions ---------- */

	incoming(conn) {
		const s = new Session(this, conn);
		if (!this.sessions.has(conn.peer) || !this.sessions.get(conn.peer).conn.open) this.sessions.set(conn.peer, s);
	}

	async _session(peerId) {
		let s = this.sessions.get(peerId);
		if (s && s.conn.open) return s;
		if (s && !s.closed) return s.ready;
		const sas = await SasOpener.create();
		const conn = this.peer.connect(peerId, {
			label: 'p2plink-files', serialization: 'raw', reliable: true,
			metadata: { app: 'p2plink', kind: 'files', v: 1, sasCommit: sas.commit },
		});
		s = new Session(this, conn, sas);
		this.sessions.set(peerId, s);
		return s.ready;
	}

	/* peerjs 'peer-unavailable' (server EXPIRE) */
	peerUnavailable(id) {
		const s = this.sessions.get(id);
		if (s && !s.conn.open) s.fail(`${who(id)} is offline — nobody with that ID is online right now.`);
	}

	/* The server refused our offer to connect (P2PLINK-REFUSED) */
	refused(id, text) {
		const s = this.sessions.get(id);
		if (s && !s.conn.open) s.fail(text);
	}

	/* ---------- sending ---------- */

	async send(peerId, fileList) {
		const files = Array.from(fileList || []);
		if (!files.length) return;
		if (!peerId || peerId === this.peer.id) { announce('Enter the ID of the person to send to (not your own).', 'error'); return; }
		if (files.length > MAX_FILES) { announce(`At most ${MAX_FILES} files at a time.`, 'error'); return; }
		const offer = new Offer(this, 'out', peerId, randomToken(8),
			files.map((f, i) => ({ fid: i, name: f.name, size: f.size, type: f.type || '', file: f })));
		offer.setState('Connecting…');
		let s;
		try {
			s = await this._session(peerId);
		} catch (err) {
			offer.finish(`Could not connect: ${err.message || err}`, 'failed');
			return;
		}
		offer.session = s;
		s.showCode(offer);
		offer.setState(`Waiting for ${who(peerId)} to accept…`);
		s.sendJson({ t: 'offer', oid: offer.oid, name: this.myName(), files: offer.files.map(({ fid, name, size, type }) => ({ fid, name, size, type })) });
	}
}

class Session {
	/* sas: our SasOpener when we opened the channel; else the answerer's half is made from the offer's commitment */
	constructor(files, conn, sas = null) {
		this.files = files;
		this.conn = conn;
		this.peerId = conn.peer;
		this.sas = sas || new SasAnswerer(conn.metadata && conn.metadata.sasCommit);
		this.code = new Promise((resolve) => { this._code = resolve; });
		this.closed = false;
		this.sendChain = Promise.resolve(); /* one file streams at a time */
		this.rx = null; /* the incoming file currently streaming */
		this.waiters = new Set();
		this.ready = new Promise((resolve, reject) => { this._resolve = resolve; this._reject = reject; });
		this.ready.catch(() => {});
		const t = setTimeout(() => this.fail(noDirectPath(this.peerId)), OPEN_TIMEOUT_MS);
		conn.on('open', () => {
			clearTimeout(t);
			const dc = conn.dataChannel;
			dc.bufferedAmountLowThreshold = LOW_WATER;
			dc.addEventListener('bufferedamountlow', () => this._wake());
			const max = conn.peerConnection && conn.peerConnection.sctp && conn.peerConnection.sctp.maxMessageSize;
			this.chunk = Math.max(16 * 1024, Math.min(CHUNK_MAX, max || 64 * 1024));
			if (this.sas instanceof SasAnswerer) this.sendJson({ t: 'sas-b', nonce: this.sas.nonce });
			this._resolve(this);
		});
		conn.on('data', (d) => this._onData(d));
		conn.on('close', () => this._onClose());
		conn.on('error', () => {});
	}

	fail(msg) {
		if (this.closed) return;
		this._reject(new Error(msg));
		this._onClose(msg);
		try { this.conn.close(); } catch { /* ignore */ }
	}

	sendJson(obj) {
		if (this.conn.open) this.conn.send(JSON.stringify(obj));
	}

	async showCode(offer) {
		const code = await this.code;
		if (code) offer.setCode(code);
	}

	async _sas(msg) {
		if (msg.t === 'sas-b' && this.sas instanceof SasOpener) {
			const words = await this.sas.onNonceB(msg.nonce, [this.conn.peerConnection]);
			if (!words) return;
			this.sendJson({ t: 'sas-a', nonce: this.sas.nonce });
			this._code(words);
		} else if (msg.t === 'sas-a' && this.sas instanceof SasAnswerer) {
			try {
				this._code(await this.sas.onReveal(msg.nonce, [this.conn.peerConnection]));
			} catch (err) {
				this._code(null);
				announce(err.message, 'error');
			}
		}
	}

	_wake() {
		for (const w of this.waiters) w();
		this.waiters.clear();
	}

	/* Wait until there is room to send `len` more bytes of file `f`. */
	async _room(f, len) {
		for (;;) {
			const dc = this.conn.dataChannel;
			if (!dc || this.closed) throw new Error('connection closed');
			if (dc.bufferedAmount + len <= HIGH_WATER && f.sent - f.acked <= WINDOW) return;
			await new Promise((resolve) => {
				const t = setTimeout(resolve, 250);
				this.waiters.add(() => { clearTimeout(t); resolve(); });
			});
		}
	}

	_onData(d) {
		if (typeof d === 'string') {
			let msg;
			try { msg = JSON.parse(d); } catch { return; }
			if (msg && typeof msg === 'object') this._onMsg(msg);
			return;
		}
		const rx = this.rx;
		if (!rx || rx.offer.done) return; /* bytes of a cancelled file still in flight */
		const u8 = d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
		if (rx.received + u8.length > rx.meta.size) { rx.offer.cancel(`${this.peerId} sent more data than announced.`, true); return; }
		rx.hash.update(u8);
		rx.received += u8.length;
		rx.offer.progress(rx.meta, rx.received);
		const upto = rx.received;
		const chunk = u8.buffer.byteLength === u8.length ? u8.buffer : u8.slice().buffer;
		rx.chain = rx.chain.then(() => rx.sink.write(chunk)).then(() => {
			if (upto - rx.acked >= ACK_EVERY) { rx.acked = upto; this.sendJson({ t: 'ack', oid: rx.offer.oid, fid: rx.meta.fid, bytes: upto }); }
		});
		rx.chain.catch((err) => rx.offer.cancel(`Could not write the file: ${err.message || err}`, true));
	}

	_onMsg(msg) {
		const offers = this.files.offers;
		const offer = offers.get(String(msg.oid));
		switch (msg.t) {
		case 'sas-a':
		case 'sas-b':
			this._sas(msg);
			break;
		case 'offer': {
			if (offers.has(String(msg.oid)) || !Array.isArray(msg.files) || msg.files.length > MAX_FILES) return;
			const metas = [];
			for (const f of msg.files) {
				if (!f || !Number.isSafeInteger(f.size) || f.size < 0) return;
				/* the name shown is the name it will be saved under: no separators, control or bidi characters */
				metas.push({ fid: metas.length, rfid: f.fid, name: safeName(String(f.name || 'file').slice(0, 255)), size: f.size, type: String(f.type || '').slice(0, 100) });
			}
			const o = new Offer(this.files, 'in', this.peerId, String(msg.oid), metas, cleanName(msg.name));
			o.session = this;
			this.showCode(o);
			o.askAccept();
			announce(`${who(this.peerId, o.peerName)} wants to send you ${metas.length === 1 ? `“${middleEllipsis(metas[0].name, 60)}”` : `${metas.length} files`}.`);
			break;
		}
		case 'answer':
			if (!offer || offer.dir !== 'out' || offer.done) return;
			if (msg.accept) this._streamOffer(offer);
			else offer.finish(`${this.peerId} declined.`, 'declined');
			break;
		case 'begin': {
			if (!offer || offer.dir !== 'in' || offer.done) { this.rx = null; return; }
			const meta = offer.files.find((f) => f.rfid === msg.fid);
			if (!meta) return;
			this.rx = { offer, meta, hash: new Sha256(), received: 0, acked: 0, chain: Promise.resolve(), sink: null };
			const rx = this.rx;
			rx.chain = Promise.resolve(meta.makeSink()).then((sink) => { rx.sink = sink; offer.activeSink = sink; });
			offer.begin(meta);
			break;
		}
		case 'end': {
			const rx = this.rx;
			if (!rx || !offer || rx.offer !== offer || offer.done) return;
			this.rx = null;
			this._finishRx(rx, String(msg.sha256 || ''));
			break;
		}
		case 'ack': {
			if (!offer || offer.dir !== 'out') return;
			const f = offer.files.find((x) => x.fid === msg.fid);
			if (f && Number.isFinite(msg.bytes)) { f.acked = Math.max(f.acked, msg.bytes); this._wake(); }
			break;
		}
		case 'result': {
			if (!offer || offer.dir !== 'out') return;
			const f = offer.files.find((x) => x.fid === msg.fid);
			if (!f) return;
			const ok = !!msg.ok && msg.sha256 === f.sha256;
			offer.verdict(f, ok, f.sha256);
			break;
		}
		case 'cancel':
			if (offer && !offer.done) offer.cancel(`${this.peerId} cancelled the transfer.`, false);
			break;
		default:
			break;
		}
	}

	async _finishRx(rx, theirHash) {
		const { offer, meta } = rx;
		try {
			await rx.chain;
		} catch {
			return; /* already reported */
		}
		const mine = rx.hash.hex();
		const ok = rx.received === meta.size && mine === theirHash;
		let saved = null;
		if (ok) saved = await rx.sink.finish().catch(() => null);
		else await rx.sink.abort();
		offer.activeSink = null;
		this.sendJson({ t: 'result', oid: offer.oid, fid: meta.rfid, ok, sha256: mine });
		offer.verdict(meta, ok, mine, saved);
	}

	_streamOffer(offer) {
		offer.setState('Sending…');
		this.sendChain = this.sendChain.then(async () => {
			for (const f of offer.files) {
				if (offer.done) return;
				try {
					await this._sendFile(offer, f);
				} catch (err) {
					if (!offer.done) offer.finish(`Transfer failed: ${err.message || err}`, 'failed');
					return;
				}
			}
		});
	}

	async _sendFile(offer, f) {
		f.sent = 0;
		f.acked = 0;
		const hash = new Sha256();
		this.sendJson({ t: 'begin', oid: offer.oid, fid: f.fid });
		offer.begin(f);
		for (let off = 0; off < f.size;) {
			const block = new Uint8Array(await f.file.slice(off, off + READ_BYTES).arrayBuffer());
			if (block.length === 0) throw new Error('the file could not be read (changed or removed?)');
			hash.update(block);
			for (let i = 0; i < block.length; i += this.chunk) {
				const part = block.subarray(i, Math.min(block.length, i + this.chunk));
				await this._room(f, part.length);
				if (offer.done) return;
				this.conn.dataChannel.send(part);
				f.sent += part.length;
				offer.progress(f, f.sent);
			}
			off += block.length;
		}
		f.sha256 = hash.hex();
		this.sendJson({ t: 'end', oid: offer.oid, fid: f.fid, sha256: f.sha256 });
		offer.sentAll(f);
	}

	_onClose(msg) {
		if (this.closed) return;
		this.closed = true;
		this._reject(new Error(msg || 'connection closed'));
		this._wake();
		if (this.files.sessions.get(this.peerId) === this) this.files.sessions.delete(this.peerId);
		for (const o of this.files.offers.values()) {
			if (o.session === this && !o.done) o.finish(msg || `The connection to ${this.peerId} closed.`, 'failed');
		}
	}
}

/* One batch of files in one direction, and its card in the transfer list. */
class Offer {
	constructor(files, dir, peerId, oid, metas, peerName = '') {
		this.mgr = files;
		this.dir = dir;
		this.peerId = peerId;
		this.peerName = peerName;
		this.oid = oid;
		this.files = metas.map((m) => ({ ...m, sent: 0, acked: 0 }));
		this.total = this.files.reduce((a, f) => a + f.size, 0);
		this.doneBytes = 0;
		this.done = false;
		this.session = null;
		this.activeSink = null;
		this.samples = [];
		this.lastPaint = 0;
		files.offers.set(oid, this);
		this._render();
	}

	_render() {
		const title = this.dir === 'out' ? `To ${who(this.peerId, this.peerName)}` : `From ${who(this.peerId, this.peerName)}`;
		/* Not a live region: progress and rates change several times a second; start, finish and errors are
		 * announced once through the status line */
		this.stateEl = el('p', { class: 'meta offer-state' });
		this.codeEl = el('span', { class: 'meta' });
		this.progressEl = el('progress', { max: Math.max(1, this.total), value: 0, 'aria-label': `${title}: progress` });
		this.rateEl = el('p', { class: 'meta offer-rate' });
		this.buttons = el('div', { class: 'row' });
		const list = el('ul', { class: 'files' }, this.files.map((f) => {
			f.row = el('li', { dataset: { fid: String(f.fid), verdict: 'pending' } },
				el('span', { class: 'name', title: f.name }, middleEllipsis(f.name, 60)), ' ',
				el('span', { class: 'meta' }, `${formatBytes(f.size)} · ${f.type || 'unknown type'}`), ' ',
				f.statusEl = el('span', { class: 'file-status meta' }));
			return f.row;
		}));
		this.card = el('li', { class: 'transfer', dataset: { dir: this.dir, oid: this.oid, state: 'pending' } },
			el('div', { class: 'row tight' }, el('strong', { title: this.peerId }, `${title} — ${this.files.length} file${this.files.length === 1 ? '' : 's'}, ${formatBytes(this.total)}`), ' ', this.codeEl),
			list, this.progressEl, this.rateEl, this.stateEl, this.buttons);
		cardList().prepend(this.card);
	}

	/* Let go of received Blobs and their URLs (the card is being cleared) */
	release() {
		for (const f of this.files) {
			if (f.url) URL.revokeObjectURL(f.url);
			f.saved = null;
		}
	}

	setCode(code) { this.codeEl.textContent = `· security code ${code}`; this.codeEl.dataset.code = code; }

	setState(text) { this.stateEl.textContent = text; }

	_setButtons(...btns) { this.buttons.replaceChildren(...btns); }

	askAccept() {
		this.setState('Accept these files?');
		const accept = el('button', { type: 'button', class: 'primary accept-btn' }, 'Accept');
		const decline = el('button', { type: 'button', class: 'decline-btn' }, 'Decline');
		accept.addEventListener('click', async () => {
			if (this.done) return;
			accept.disabled = true;
			const targets = await chooseTargets(this.files);
			if (!targets) { accept.disabled = false; this.setState('Choose where to save, or decline.'); return; }
			if (this.done) return;
			this.files.forEach((f, i) => { f.makeSink = targets[i]; });
			this.session.sendJson({ t: 'answer', oid: this.oid, accept: true });
			this.setState('Receiving…');
			this._cancelButton();
		});
		decline.addEventListener('click', () => {
			if (this.done) return;
			this.session.sendJson({ t: 'answer', oid: this.oid, accept: false });
			this.finish('You declined.', 'declined');
		});
		this._setButtons(accept, decline);
		/* Focus follows the offer only where it is visible and nothing else is going on (not during a call) */
		if (!document.body.classList.contains('in-call')) accept.focus();
	}

	_cancelButton() {
		const cancel = el('button', { type: 'button', class: 'cancel-btn' }, 'Cancel');
		cancel.addEventListener('click', () => this.cancel('You cancelled the transfer.', true));
		this._setButtons(cancel);
	}

	begin(f) {
		this.card.dataset.state = 'active';
		if (this.dir === 'out' && !this.buttons.querySelector('.cancel-btn')) this._cancelButton();
		f.statusEl.textContent = this.dir === 'out' ? 'sending…' : 'receiving…';
		if (!this.t0) this.t0 = performance.now();
	}

	progress(f, bytes) {
		f.cur = bytes;
		const now = performance.now();
		if (now - this.lastPaint < 250 && bytes !== f.size) return;
		this.lastPaint = now;
		const done = this.doneBytes + bytes;
		this.progressEl.value = done;
		this.samples.push([now, done]);
		while (this.samples.length > 2 && now - this.samples[0][0] > 3000) this.samples.shift();
		const [t0, b0] = this.samples[0];
		const speed = now > t0 ? ((done - b0) * 1000) / (now - t0) : 0;
		const left = speed > 0 ? (this.total - done) / speed : NaN;
		this.rateEl.textContent = `${formatBytes(done)} of ${formatBytes(this.total)} · ${formatBytes(speed)}/s · ${formatDuration(left)} left`;
	}

	/* sender: last byte handed to the channel; the receiver's result follows */
	sentAll(f) {
		this.doneBytes += f.size;
		f.statusEl.textContent = 'sent, checking…';
		this.progress(f, 0);
	}

	/* saved: {name, blob, crc} for a received file kept in browser storage (no picker), else null */
	verdict(f, ok, hash, saved) {
		if (this.dir === 'in') this.doneBytes += f.size;
		f.verified = ok;
		f.saved = saved || null;
		f.row.dataset.verdict = ok ? 'verified' : 'failed';
		f.row.dataset.sha256 = hash || '';
		f.saveEl = el('span', { class: 'save-state' });
		f.statusEl.replaceChildren(
			el('span', { class: ok ? 'verdict-ok' : 'verdict-bad' }, ok ? '✓ verified' : '✗ failed — checksum mismatch, file discarded'),
			el('span', { class: 'meta hash', title: 'SHA-256' }, ` SHA-256 ${hash ? `${hash.slice(0, 16)}…` : ''}`), ' ', f.saveEl);
		if (f.saved) {
			const btn = el('button', { type: 'button', class: 'save-btn' }, 'Save');
			btn.addEventListener('click', () => { f.url = download(f.saved.blob, f.saved.name); f.saveEl.firstChild.textContent = 'saved · '; });
			f.saveEl.replaceChildren(el('span', {}, 'click to save · '), btn);
		}
		if (this.files.every((x) => x.verified !== undefined)) {
			const allOk = this.files.every((x) => x.verified);
			const secs = (performance.now() - (this.t0 || performance.now())) / 1000;
			this._saveAll();
			this.finish(allOk ? `All verified (SHA-256 matches on both sides) in ${formatDuration(secs)}.` : 'Some files failed verification.', allOk ? 'verified' : 'failed');
		}
	}

	/* Without the picker: one file → one download; several → one .zip (browsers drop rapid downloads) */
	_saveAll() {
		const kept = this.files.filter((f) => f.saved);
		if (!kept.length) return;
		const mark = (f) => { if (f.saveEl.firstChild) f.saveEl.firstChild.textContent = 'saved · '; };
		const total = kept.reduce((a, f) => a + f.saved.blob.size, 0);
		if (kept.length === 1 || total > ZIP_MAX_BYTES) {
			/* one download (or, past the zip size limit, one at a time with the per-file buttons as the fallback) */
			kept[0].url = download(kept[0].saved.blob, kept[0].saved.name);
			mark(kept[0]);
			return;
		}
		const used = new Set();
		const zip = buildZip(kept.map((f) => ({ name: uniqueName(f.saved.name, used), blob: f.saved.blob, crc: f.saved.crc })));
		const name = safeName(`p2plink ${kept.length} files from ${this.peerName || this.peerId.slice(0, 12)}.zip`);
		this.zipUrl = download(zip, name);
		kept.forEach(mark);
		const again = el('a', { href: this.zipUrl, download: name, class: 'again' }, `Save the .zip again`);
		this.rateEl.replaceChildren(`${kept.length} files saved as one .zip · `, again);
	}

	cancel(text, tellPeer) {
		if (this.done) return;
		if (tellPeer && this.session) this.session.sendJson({ t: 'cancel', oid: this.oid });
		this.finish(text, 'cancelled');
	}

	finish(text, state) {
		if (this.done) return;
		this.done = true;
		if (this.activeSink) { this.activeSink.abort(); this.activeSink = null; }
		if (this.session && this.session.rx && this.session.rx.offer === this) this.session.rx = null;
		this.card.dataset.state = state;
		for (const f of this.files) if (f.verified === undefined && f.statusEl.textContent !== '') f.statusEl.textContent = state;
		this.setState(text);
		if (this.dir === 'in') {
			const back = el('button', { type: 'button', class: 'send-back-btn' }, 'Send files back');
			back.addEventListener('click', () => this.mgr.onSendBack(this.peerId));
			this._setButtons(back);
		} else this._setButtons();
		announce(`${this.dir === 'out' ? 'To' : 'From'} ${who(this.peerId, this.peerName)}: ${text}`, state === 'verified' ? 'ok' : state === 'failed' ? 'error' : 'info');
		this.session && this.session._wake();
		this.mgr._syncClear();
	}
}
