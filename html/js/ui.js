/*
 * ui.js — tiny DOM and formatting helpers shared by the app modules.
 * Not for: state. Modules own their state; this file only touches the DOM it is given.
 */
export const $ = (sel, root = document) => root.querySelector(sel);

/* Build an element: el('button', {class: 'x', onclick}, 'text', child...) */
export function el(tag, attrs = {}, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) {
		if (v === undefined || v === null || v === false) continue;
		if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
		else if (k === 'class') e.className = v;
		else if (k === 'dataset') Object.assign(e.dataset, v);
		else if (v === true) e.setAttribute(k, '');
		else e.setAttribute(k, String(v));
	}
	for (const c of children.flat()) {
		if (c === null || c === undefined || c === false) continue;
		e.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
	return e;
}

export function show(node, visible = true) {
	node.hidden = !visible;
}

/*
 * Status line (role=status in the markup). Screen readers hear every change, so it carries only what a person
 * must know: errors stay until the next thing happens (the next announce() replaces them, clearStatus(kind)
 * removes them when what they describe is over); info and ok lines fade after STATUS_FADE_MS so an old
 * "Call cancelled." never sits next to the next call. While the call screen is up the rest of the page is inert
 * (hidden from assistive technology), so the same text also goes to the call screen's own status line.
 */
const STATUS_FADE_MS = 8000;
let fadeTimer = null;
export function announce(text, kind = 'info') {
	for (const s of [$('#status'), $('#call-status')]) {
		if (!s) continue;
		s.textContent = text;
		s.dataset.kind = kind;
	}
	clearTimeout(fadeTimer);
	if (kind !== 'error' && text) fadeTimer = setTimeout(() => clearStatus(), STATUS_FADE_MS);
}

/* Remove the status line, or only when it is of `kind` (e.g. the "lost the server" error once we are back) */
export function clearStatus(kind) {
	const s = $('#status');
	if (kind && s.dataset.kind !== kind) return;
	announce('', 'info');
}

/*
 * "abcdefghij…uvwxyz": ids may be 64 characters and names are whatever people type; the middle is cut so both
 * ends stay recognisable. Callers put the full text in a title attribute.
 */
export function middleEllipsis(text, max = 24) {
	const t = String(text ?? '');
	if (t.length <= max) return t;
	const head = Math.ceil((max - 1) / 2);
	const tail = Math.floor((max - 1) / 2);
	return `${t.slice(0, head)}…${t.slice(t.length - tail)}`;
}

/* Who a peer is, for people: "Ana (k3f9…x8q2)" when they told us a name, else the id (cut past idMax) */
export function who(id, name, idMax = 20) {
	const short = middleEllipsis(id, idMax);
	return name ? `${middleEllipsis(name, 32)} (${short})` : short;
}

/* What to tell people when two browsers cannot reach each other directly. p2plink has no TURN relay, on purpose:
 * the cause is almost always a symmetric NAT (mobile networks, some corporate gateways) or a firewall. */
export function noDirectPath(peerId) {
	return `No direct connection to ${peerId} could be made: a strict firewall or a symmetric NAT (common on mobile ` +
		'and corporate networks) is probably in the way. p2plink never relays calls or files through the server; ' +
		'try another network on one side.';
}

export function formatBytes(n) {
	if (!Number.isFinite(n)) return '–';
	const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let i = 0;
	while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
	return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(sec) {
	if (!Number.isFinite(sec) || sec < 0) return '–';
	sec = Math.round(sec);
	const h = Math.floor(sec / 3600);
	const m = Math.floor((sec % 3600) / 60);
	const s = sec % 60;
	const mm = String(m).padStart(h ? 2 : 1, '0');
	return h ? `${h}:${mm}:${String(s).padStart(2, '0')}` : `${mm}:${String(s).padStart(2, '0')}`;
}

export async function copyText(text, button) {
	let ok = false;
	try {
		await navigator.clipboard.writeText(text);
		ok = true;
	} catch {
		/* Clipboard API needs a secure context + permission; fall back to a hidden textarea. */
		const ta = el('textarea', { 'aria-hidden': 'true', class: 'offscreen' }, text);
		document.body.append(ta);
		ta.select();
		try { ok = document.execCommand('copy'); } catch { ok = false; }
		ta.remove();
	}
	if (button) {
		const old = button.textContent;
		button.textContent = ok ? 'Copied' : 'Copy failed';
		setTimeout(() => { button.textContent = old; }, 1500);
	}
	return ok;
}

/* A display name as the other side typed it: text only, one line, bounded (names travel peer to peer only) */
export function cleanName(name) {
	return typeof name === 'string' ? name.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '').trim().slice(0, 40) : '';
}

/* Random token for PeerJS (the server keys our id on it; link endpoints authenticate with it). */
export function randomToken(bytes = 18) {
	const b = crypto.getRandomValues(new Uint8Array(bytes));
	return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/* Test hooks: tests set window.P2PLINK_TEST_HOOKS before the app loads (addInitScript). */
export const testHooks = globalThis.P2PLINK_TEST_HOOKS || {};
