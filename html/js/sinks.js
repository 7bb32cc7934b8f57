/*
 * sinks.js — where received file bytes go.
 *
 * FsSink: a FileSystemWritableFileStream from the native Save-As picker
 *   (showSaveFilePicker, or showDirectoryPicker for several files). Bytes go straight to
 *   disk; the browser writes to a temporary file and only replaces the target on close(),
 *   so abort() after a failed hash check leaves nothing behind. No size limit beyond disk.
 * BlobSink: fallback for browsers without the picker (Firefox, Safari, phones). Chunks are
 *   folded into a Blob every few MiB (Chrome keeps big Blobs in its blob store, which can
 *   page to disk); at the end the Blob is offered as a normal download. The limit is the
 *   browser's blob storage: roughly 2 GB on a desktop, a few hundred MB on phones.
 */
import { testHooks } from './ui.js';

export const FALLBACK_LIMIT_TEXT = 'about 2 GB on a computer, a few hundred MB on a phone';

export function hasSavePicker() {
	return !testHooks.noSavePicker && typeof globalThis.showSaveFilePicker === 'function';
}

export function safeName(name) {
	const n = String(name || 'file').replace(/[\\/:*?"<>|\u0000-\u001f]/g, '_').trim();
	return n === '' || n === '.' || n === '..' ? 'file' : n.slice(0, 200);
}

/*
 * Ask the user where to save (must run inside the click handler: the pickers need a user
 * gesture). Returns an array of sink factories, one per file, or null if the user cancelled.
 */
export async function chooseTargets(metas) {
	if (!hasSavePicker()) return metas.map((m) => () => new BlobSink(m.name, m.type));
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
	return metas.map((m) => () => new BlobSink(m.name, m.type));
}

function uniqueName(name, used) {
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
	constructor(name, type) {
		this.name = name;
		this.type = type || 'application/octet-stream';
		this.kind = 'download';
		this.blob = new Blob([], { type: this.type });
		this.pending = [];
		this.pendingBytes = 0;
	}

	write(chunk) {
		this.pending.push(chunk);
		this.pendingBytes += chunk.byteLength;
		if (this.pendingBytes >= FOLD_BYTES) this._fold();
	}

	_fold() {
		this.blob = new Blob([this.blob, ...this.pending], { type: this.type });
		this.pending = [];
		this.pendingBytes = 0;
	}

	/* Returns an object URL the UI can offer again ("Save again"). */
	async finish() {
		this._fold();
		const url = URL.createObjectURL(this.blob);
		const a = document.createElement('a');
		a.href = url;
		a.download = safeName(this.name);
		a.rel = 'noopener';
		document.body.append(a);
		a.click();
		a.remove();
		/* Keep the URL a while so "Save again" works, then let the memory go. */
		setTimeout(() => URL.revokeObjectURL(url), 10 * 60 * 1000);
		this.blob = null;
		return url;
	}

	async abort() { this.blob = null; this.pending = []; }
}
