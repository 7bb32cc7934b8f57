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

/* Status line (aria-live="polite" in the markup) — screen readers hear every change. */
export function announce(text, kind = 'info') {
	const s = $('#status');
	s.textContent = text;
	s.dataset.kind = kind;
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

/* Random token for PeerJS (the server keys our id on it; link endpoints authenticate with it). */
export function randomToken(bytes = 18) {
	const b = crypto.getRandomValues(new Uint8Array(bytes));
	return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/* Test hooks: tests set window.P2PLINK_TEST_HOOKS before the app loads (addInitScript). */
export const testHooks = globalThis.P2PLINK_TEST_HOOKS || {};
