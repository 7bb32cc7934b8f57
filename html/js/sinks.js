/*
 * sinks.js — where received file bytes go.
 *
 * FsSink: a FileSystemWritableFileStream from the native Save-As picker
 *   (showSaveFilePicker, or showDirectoryPicker for several files). Bytes go straight to
 *   disk; the browser writes to a temporary file and only replaces the target on close(),
 *   so abort() after a failed hash check leaves nothing behind. No size limit beyond disk.
 * BlobSink: fallback for browsers without the picker (Firefox, Safari, phones). Chunks are
 *   folded into a Blob every few MiB (Chrome keeps big Blobs in its blob store, which can
 *   page to disk); finish() hands the Blob back and files.js saves it (one file: a download; several: one zip,
 *   zip.js). The limit is the browser's blob storage: roughly 2 GB on a desktop, a few hundred MB on phones.
 * Received bytes are never rendered in our origin: every Blob is application/octet-stream whatever type the
 * sender claimed (a text/html "file" opened from our origin would run as our page), and names are made safe.
 */
import { testHooks } from './ui.js';
import { Crc32 } from './zip.js';

export const FALLBACK_LIMIT_TEXT = 'about 2 GB on a computer, a few hundred MB on a phone';
export const SAFE_TYPE = 'application/octet-stream';
const NAME_MAX = 120;

export function hasSavePicker() {
	return !testHooks.noSavePicker && typeof globalThis.showSaveFilePicker === 'function';
}

/*
 * A file name that is only a name: no path separators, no control or bidi-override characters (which can make
 * "txt.exe" read as "exe.txt"), no leading dots, not a Windows device name, at most NAME_MAX characters with the
 * extension kept.
 */
export function safeName(name) {
	let n = String(name || '').normalize('NFC')
		.replace(/[\\/:*?"<>|]/g, '_')
		.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, '')
		.trim()
		.replace(/^[.\s]+/, '')
		.replace(/[.\s]+$/, '');
	if (/^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i.test(n)) n = `_${n}`;
	if (n === '') return 'file';
	const chars = Array.from(n);
	if (chars.length <= NAME_MAX) return n;
	const dot = n.lastIndexOf('.');
	const ext = dot > 0 && n.length - dot <= 16 ? n.slice(dot) : '';
	return Array.from(n.slice(0, n.length - ext.length)).slice(0, NAME_MAX - Array.from(ext).length).join('') + ext;
}

/*
 * Ask the user where to save (must run inside the click handler: the pickers need a user
 * gesture). Returns an array of sink factories, one per file, or null if the user cancelled.
 */
export async function chooseTargets(metas) {
	if (!hasSavePicker()) return metas.map((m) => () => new BlobSink(m.name));
	try {
		if (metas.length === 1) {
			const h = await showSaveFilePicker({ suggestedName: safeName(metas[0].name) });
			return [async () => new FsSink(await h.createWritable())];
		}
		if (typeof globalThis.showDirectoryPicker === 'function') {
			const dir = await showDirectoryPicker({ mode: 'readwrite' });
			const used = new Set();
			return metas.map((m) => async () => {
				const h = await dir.getFileHandle(uniqueName(safeName(m.name), used), { create: true });
				return new FsSink(await h.createWritable());
			});
		}
	} catch (err) {
		if (err && err.name === 'AbortError') return null;
		/* picker refused (no gesture, policy): fall back to downloads */
	}
	return metas.map((m) => () => new BlobSink(m.name));
}

export function uniqueName(name, used) {
	let n = name;
	for (let i = 1; used.has(n); i++) {
		const dot = name.lastIndexOf('.');
		n = dot > 0 ? `${name.slice(0, dot)} (${i})${name.slice(dot)}` : `${name} (${i})`;
	}
	used.add(n);
	return n;
}

export class FsSink {
	constructor(writable) { this.w = writable; this.kind = 'disk'; }
	write(chunk) { return this.w.write(chunk); }
	async finish() { await this.w.close(); return null; }
	async abort() { try { await this.w.abort(); } catch { /* already closed */ } }
}

const FOLD_BYTES = 8 * 1024 * 1024;

export class BlobSink {
	constructor(name) {
		this.name = safeName(name);
		this.kind = 'download';
		this.blob = new Blob([], { type: SAFE_TYPE });
		this.pending = [];
		this.pendingBytes = 0;
		this.crc = new Crc32();
	}

	write(chunk) {
		this.crc.update(new Uint8Array(chunk));
		this.pending.push(chunk);
		this.pendingBytes += chunk.byteLength;
		if (this.pendingBytes >= FOLD_BYTES) this._fold();
	}

	_fold() {
		this.blob = new Blob([this.blob, ...this.pending], { type: SAFE_TYPE });
		this.pending = [];
		this.pendingBytes = 0;
	}

	/* The finished file: {name, blob, crc}; files.js decides how it is saved. */
	async finish() {
		this._fold();
		const out = { name: this.name, blob: this.blob, crc: this.crc.value() };
		this.blob = null;
		return out;
	}

	async abort() { this.blob = null; this.pending = []; }
}

/* Offer a Blob as a download under a safe name, as application/octet-stream. Returns the object URL (kept
 * 10 minutes for "Save again"). */
export function download(blob, name) {
	const safe = blob.type === SAFE_TYPE || blob.type === 'application/zip' ? blob : new Blob([blob], { type: SAFE_TYPE });
	const url = URL.createObjectURL(safe);
	const a = document.createElement('a');
	a.href = url;
	a.download = safeName(name);
	a.rel = 'noopener';
	document.body.append(a);
	a.click();
	a.remove();
	setTimeout(() => URL.revokeObjectURL(url), 10 * 60 * 1000);
	return url;
}
