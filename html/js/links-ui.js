/*
 * links-ui.js — the "Share links" panel: create a link to yourself (purpose, TTL, uses, IP
 * whitelist), copy it, show its QR code, list your links with uses and a live expiry
 * countdown, revoke, and the "only people with a link can call me" switch.
 * All server calls go through links-api.js.
 */
import qrcode from '/vendor/qrcode.js';
import { $, el, copyText, formatDuration } from './ui.js';
import { createLink, listLinks, revokeLink, setLinkOnly, LinkApiError } from './links-api.js';

export function linkUrl(link) {
	if (!link.url) return null;
	try { return new URL(link.url, location.origin).href; } catch { return String(link.url); }
}

/* The server keeps only a hash of each link's token, so a link's URL is known only to the
 * tab that created it: remember them for this tab (sessionStorage), keyed by link id. */
const URLS = 'p2plink.linkUrls';
function rememberUrl(id, url) {
	try {
		const m = JSON.parse(sessionStorage.getItem(URLS) || '{}');
		m[id] = url;
		sessionStorage.setItem(URLS, JSON.stringify(m));
	} catch { /* private mode: list shows no URL */ }
}
function knownUrl(id) {
	try { return JSON.parse(sessionStorage.getItem(URLS) || '{}')[id] || null; } catch { return null; }
}

function qrSvg(text) {
	const q = qrcode(0, 'M');
	q.addData(text);
	q.make();
	return q.createSvgTag({ cellSize: 4, margin: 2, scalable: true });
}

export class LinksUi {
	constructor(peer) {
		this.peer = peer;
		this.links = [];
		this.supported = true;
		$('#link-unlimited').addEventListener('change', (e) => { $('#link-clicks').disabled = e.target.checked; });
		$('#link-form').addEventListener('submit', (e) => { e.preventDefault(); this.create(); });
		$('#link-copy').addEventListener('click', (e) => copyText($('#link-url').value, e.target));
		$('#link-only').addEventListener('change', (e) => this.linkOnly(e.target.checked));
		$('#links').addEventListener('toggle', () => { if ($('#links').open) this.refresh(); });
		setInterval(() => this._tick(), 1000);
		this.refresh();
	}

	_error(err) {
		const p = $('#link-error');
		if (!err) { p.hidden = true; p.textContent = ''; return; }
		if (err instanceof LinkApiError && err.code === 'unsupported') { this._unsupported(); return; }
		p.hidden = false;
		p.textContent = err.message || String(err);
	}

	_unsupported() {
		this.supported = false;
		$('#links-unsupported').hidden = false;
		for (const n of document.querySelectorAll('#link-form input, #link-form select, #link-form textarea, #link-form button, #link-only'))
			n.disabled = true;
	}

	async create() {
		if (!this.supported) return;
		this._error(null);
		const unlimited = $('#link-unlimited').checked;
		const clicks = unlimited ? 0 : Math.max(1, Math.floor(Number($('#link-clicks').value) || 1));
		const whitelist = $('#link-whitelist').value.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
		const btn = $('#link-create');
		btn.disabled = true;
		try {
			const link = await createLink(this.peer, { ttl: $('#link-ttl').value, maxClicks: clicks, whitelist, purpose: $('#link-purpose').value });
			const url = linkUrl(link);
			if (!url) throw new Error('The server did not return the link address.');
			rememberUrl(link.link_id, url);
			$('#link-url').value = url;
			$('#link-qr').innerHTML = qrSvg(url);
			$('#link-new').hidden = false;
			$('#link-url').select();
			await this.refresh();
		} catch (err) {
			this._error(err);
		} finally {
			btn.disabled = !this.supported;
		}
	}

	async refresh() {
		if (!this.supported) return;
		try {
			this.links = await listLinks(this.peer);
			this._render();
		} catch (err) {
			this._error(err);
		}
	}

	async revoke(link) {
		try {
			await revokeLink(this.peer, link.link_id);
			await this.refresh();
		} catch (err) {
			this._error(err);
		}
	}

	async linkOnly(enabled) {
		this._error(null);
		try {
			await setLinkOnly(this.peer, enabled);
		} catch (err) {
			$('#link-only').checked = !enabled;
			this._error(err);
		}
	}

	_render() {
		const ul = $('#link-list');
		if (!this.links.length) { ul.replaceChildren(el('li', { class: 'hint' }, 'No links yet.')); return; }
		ul.replaceChildren(...this.links.map((l) => {
			const url = linkUrl(l) || knownUrl(l.link_id);
			const max = Number(l.max_clicks) || 0;
			const used = Number(l.clicks) || 0;
			const uses = max === 0 ? `${used} used · unlimited` : `${used} of ${max} used · ${Math.max(0, max - used)} left`;
			const copy = url ? el('button', { type: 'button' }, 'Copy') : null;
			if (copy) copy.addEventListener('click', () => copyText(url, copy));
			const revoke = el('button', { type: 'button', class: 'danger', disabled: l.revoked || undefined }, 'Revoke');
			revoke.addEventListener('click', () => this.revoke(l));
			return el('li', { class: 'link-item', dataset: { linkId: l.link_id } },
				el('div', {}, el('strong', {}, l.purpose === 'file' ? 'Files' : 'Call'), ' · ', url ? el('code', {}, url) : el('span', { class: 'hint' }, 'address shown only in the tab that created it')),
				el('div', { class: 'meta' }, uses, ' · ', el('span', { class: 'expiry', dataset: { expires: String(l.expires_at), revoked: l.revoked ? '1' : '' } })),
				el('div', { class: 'row' }, copy, revoke));
		}));
		this._tick();
	}

	_tick() {
		for (const s of document.querySelectorAll('#link-list .expiry')) {
			if (s.dataset.revoked) { s.textContent = 'revoked'; continue; }
			const left = (Number(s.dataset.expires) - Date.now()) / 1000;
			s.textContent = left > 0 ? `expires in ${formatDuration(left)}` : 'expired';
		}
	}
}
