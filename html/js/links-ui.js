/*
 * links-ui.js — the "Share links" panel: create a link to yourself (purpose, TTL, uses, IP
 * whitelist), copy it, show its QR code, list your links with uses and a live expiry
 * countdown, revoke, and the "only people with a link can call me" switch.
 * All server calls go through links-api.js.
 * The links and the link-only choice belong to this device's identity (identity.js), so they are kept in
 * localStorage: a link's URL (the server keeps only a hash of its token), the last state seen of each link (a
 * revoked link stays listed as revoked even when the server's list leaves it out), and link-only, which is
 * re-asserted after every (re)connect — the header badge shows "link-only: on" only once the server said so.
 */
import qrcode from '/vendor/qrcode.js';
import { $, el, copyText, formatDuration } from './ui.js';
import { createLink, listLinks, revokeLink, setLinkOnly, LinkApiError } from './links-api.js';
import { wantLinkOnly, setWantLinkOnly } from './identity.js';

export function linkUrl(link) {
	if (!link.url) return null;
	try { return new URL(link.url, location.origin).href; } catch { return String(link.url); }
}

/* The server keeps only a hash of each link's token, so a link's URL is known only to the
 * device that created it: remember them (localStorage), keyed by link id, with the last state we saw. */
const KNOWN = 'p2plink.links';
function known() {
	try { return JSON.parse(localStorage.getItem(KNOWN) || '{}') || {}; } catch { return {}; }
}
function remember(link) {
	try {
		const m = known();
		m[link.link_id] = { ...(m[link.link_id] || {}), ...link, url: link.url || (m[link.link_id] && m[link.link_id].url) || null };
		/* forget links long over, so the record stays small */
		for (const [k, v] of Object.entries(m)) if (Number(v.expires_at) && Number(v.expires_at) < Date.now() - 7 * 86400000) delete m[k];
		localStorage.setItem(KNOWN, JSON.stringify(m));
	} catch { /* private mode: list shows no URL */ }
}

/* What a link's state is, in words: active · used up · expired · revoked */
export function linkState(l, now = Date.now()) {
	if (l.revoked || l.status === 'revoked') return 'revoked';
	if (l.status === 'exhausted' || (l.max_clicks > 0 && l.clicks >= l.max_clicks)) return 'used-up';
	if (l.status === 'expired' || (Number(l.expires_at) && Number(l.expires_at) <= now)) return 'expired';
	return 'active';
}

export function qrSvg(text) {
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
		$('#link-only').checked = wantLinkOnly();
		/* Re-assert link-only on every OPEN: the server may have lost it with the old socket */
		peer.on('open', () => { this._badge(false); this._assertLinkOnly(); });
		peer.on('disconnected', () => this._badge(false));
		if (peer.open) this._assertLinkOnly();
		this.refresh();
	}

	_badge(on) { $('#link-only-badge').hidden = !on; }

	async _assertLinkOnly() {
		if (!wantLinkOnly() || !this.supported) return;
		try {
			await setLinkOnly(this.peer, true);
			this._badge(wantLinkOnly());
		} catch (err) {
			this._error(err);
		}
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
			remember({ ...link, url });
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
			const fresh = await listLinks(this.peer);
			for (const l of fresh) remember(l);
			/* The server's list may leave revoked links out: ours stay, marked as we last saw them */
			const ids = new Set(fresh.map((l) => l.link_id));
			const kept = Object.values(known()).filter((l) => !ids.has(l.link_id) && l.revoked);
			this.links = [...fresh, ...kept].sort((a, b) => Number(b.expires_at) - Number(a.expires_at));
			this._render();
		} catch (err) {
			this._error(err);
		}
	}

	async revoke(link) {
		try {
			await revokeLink(this.peer, link.link_id);
			remember({ ...link, revoked: true, status: 'revoked' });
			await this.refresh();
		} catch (err) {
			this._error(err);
		}
	}

	async linkOnly(enabled) {
		this._error(null);
		try {
			await setLinkOnly(this.peer, enabled);
			setWantLinkOnly(enabled);
			this._badge(enabled);
		} catch (err) {
			$('#link-only').checked = !enabled;
			this._error(err);
		}
	}

	_render() {
		const ul = $('#link-list');
		if (!this.links.length) { ul.replaceChildren(el('li', { class: 'hint' }, 'No links yet.')); return; }
		const kn = known();
		ul.replaceChildren(...this.links.map((l) => {
			const url = linkUrl(l) || (kn[l.link_id] && kn[l.link_id].url) || null;
			const max = Number(l.max_clicks) || 0;
			const used = Number(l.clicks) || 0;
			const st = linkState(l);
			const uses = max === 0 ? `${used} used · unlimited` : `${used} of ${max} used`;
			const over = st !== 'active';
			const copy = url && !over ? el('button', { type: 'button' }, 'Copy') : null;
			if (copy) copy.addEventListener('click', () => copyText(url, copy));
			const revoke = st === 'revoked' ? null : el('button', { type: 'button', class: 'danger' }, 'Revoke');
			if (revoke) revoke.addEventListener('click', () => this.revoke(l));
			return el('li', { class: 'link-item', dataset: { linkId: l.link_id, state: st } },
				el('div', {}, el('strong', {}, l.purpose === 'file' ? 'Files' : 'Call'), ' · ', url ? el('code', {}, url) : el('span', { class: 'hint' }, 'address shown only on the device that created it')),
				el('div', { class: 'meta' }, uses, ' · ', el('span', { class: 'expiry link-state', dataset: { expires: String(l.expires_at), state: st, left: max === 0 ? '' : String(Math.max(0, max - used)) } })),
				el('div', { class: 'row' }, copy, revoke));
		}));
		this._tick();
	}

	_tick() {
		for (const s of document.querySelectorAll('#link-list .expiry')) {
			const st = s.dataset.state;
			if (st === 'revoked') { s.textContent = 'revoked'; continue; }
			if (st === 'used-up') { s.textContent = 'used up'; continue; }
			const left = (Number(s.dataset.expires) - Date.now()) / 1000;
			if (left <= 0) { s.textContent = 'expired'; s.dataset.state = 'expired'; continue; }
			s.textContent = `${s.dataset.left ? `${s.dataset.left} left · ` : ''}expires in ${formatDuration(left)}`;
		}
	}
}
