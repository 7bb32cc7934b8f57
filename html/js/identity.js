/*
 * identity.js — one p2plink identity per device: the PeerJS id and the token that owns it, kept in localStorage so
 * a reload, a new tab or tomorrow's visit is the same person (same id, same links, same link-only choice).
 *
 * The server reserves an id for its token for a grace period after the socket goes, so reconnecting with the
 * stored pair gets the same id back. Only one tab can hold the id at a time: tabs of this origin talk over a
 * BroadcastChannel. A new tab asks whether another tab holds the id; if one does, the new tab offers "Use it here",
 * which asks the holder to let go (it disconnects from the server and shows "Use it here" itself).
 * Not for: talking to the server (net.js) or the links (links-ui.js).
 */
import { randomToken } from './ui.js';

const KEY = 'p2plink.identity';
const LINK_ONLY = 'p2plink.linkOnly';

export function loadIdentity() {
	try {
		const j = JSON.parse(localStorage.getItem(KEY) || 'null');
		if (j && typeof j.token === 'string' && j.token.length >= 16) return { id: typeof j.id === 'string' ? j.id : null, token: j.token };
	} catch { /* unreadable: start over */ }
	return null;
}

export function saveIdentity(id, token) {
	try { localStorage.setItem(KEY, JSON.stringify({ id, token })); } catch { /* private mode: this tab only */ }
}

/* A new identity (the old id was lost for good): a new token, and nothing that belonged to the old one */
export function freshIdentity() {
	const ident = { id: null, token: randomToken() };
	saveIdentity(null, ident.token);
	setWantLinkOnly(false);
	return ident;
}

/* Link-only is the person's choice, so it is stored with the identity and re-asserted after every (re)connect */
export function wantLinkOnly() {
	try { return localStorage.getItem(LINK_ONLY) === '1'; } catch { return false; }
}
export function setWantLinkOnly(on) {
	try { if (on) localStorage.setItem(LINK_ONLY, '1'); else localStorage.removeItem(LINK_ONLY); } catch { /* ignore */ }
}

/*
 * Tabs: {t:'who'} → the holder answers {t:'here', id}; {t:'take'} → the holder lets go and answers {t:'released'}.
 * `holding` is true while this tab is (or is becoming) the one connected with the id.
 */
export class Tabs {
	constructor() {
		this.holding = false;
		this.onTakenAway = null;
		this.ch = typeof BroadcastChannel === 'function' ? new BroadcastChannel('p2plink') : null;
		if (this.ch) this.ch.addEventListener('message', (e) => this._onMessage(e.data || {}));
	}

	_onMessage(m) {
		if (m.t === 'who' && this.holding) this.ch.postMessage({ t: 'here' });
		else if (m.t === 'take' && this.holding) {
			this.holding = false;
			if (this.onTakenAway) this.onTakenAway();
			this.ch.postMessage({ t: 'released' });
		}
	}

	_ask(question, answer, ms) {
		if (!this.ch) return Promise.resolve(false);
		return new Promise((resolve) => {
			const onMsg = (e) => { if (e.data && e.data.t === answer) done(true); };
			const timer = setTimeout(() => done(false), ms);
			const done = (v) => { clearTimeout(timer); this.ch.removeEventListener('message', onMsg); resolve(v); };
			this.ch.addEventListener('message', onMsg);
			this.ch.postMessage({ t: question });
		});
	}

	/* Does another tab of this browser hold the identity? */
	otherTabHolds() { return this._ask('who', 'here', 300); }

	/* Ask it to let go; resolves once it did (or nobody answered) */
	takeOver() { return this._ask('take', 'released', 1500); }
}
