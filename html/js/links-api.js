/*
 * links-api.js — the only module that talks to the server's share-link endpoints (README: "Share links for peers").
 *
 * Contract (all POST, JSON body, JSON answer; `id`/`token` are our own PeerJS id and the
 * token we passed to new Peer()):
 *   /peerjs/links/create  {id, token, ttl:"5min", max_clicks:1 (0 = unlimited), whitelist:[cidr...], purpose:"call"|"file"}
 *                         → {link:{id, target, purpose, expires_at (ms epoch), max_clicks, clicks, revoked, status}, token, url}
 *   /peerjs/links/list    {id, token}                → {links:[link...]}   (no tokens: the server keeps only hashes,
 *                                                                          so a link's URL is known only where it was made)
 *   /peerjs/links/revoke  {id, token, link_id}       → {ok:true}
 *   /peerjs/links/redeem  {id, token, link_token}    → {ok:true, target, purpose}
 *                                                    | {ok:false, code:"expired"|"exhausted"|"ip-denied"|"revoked"|"unknown", msg}
 *   /peerjs/links/peek    {link_token}               → {ok:true, target, purpose, expires_at, clicks_left (null =
 *                                                    unlimited), online} | {ok:false, code, msg}   (uses no click)
 *   /peerjs/linkonly      {id, token, enabled}       → {ok:true, link_only}
 * Errors: HTTP 4xx/5xx with {error:{code, msg}} → thrown as LinkApiError(status, code, msg).
 * A 404 means the server has no link support (LinkApiError.code === 'unsupported').
 * normalizeLink() turns a server link into what the UI uses ({link_id, url, ...}).
 */
export class LinkApiError extends Error {
	constructor(status, code, msg) {
		super(msg);
		this.status = status;
		this.code = code;
	}
}

async function post(path, body) {
	let r;
	try {
		r = await fetch(path, {
			method: 'POST',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify(body),
			cache: 'no-store',
			credentials: 'same-origin',
		});
	} catch (err) {
		throw new LinkApiError(0, 'network', 'Could not reach the server. Check your connection and try again.');
	}
	let j = null;
	try { j = await r.json(); } catch { j = null; }
	if (r.status === 404 && !(j && j.ok === false)) {
		throw new LinkApiError(404, 'unsupported', 'This server does not offer share links.');
	}
	if (!r.ok) {
		const e = (j && (j.error || (j.ok === false ? j : null))) || {};
		throw new LinkApiError(r.status, e.code || `http-${r.status}`, e.msg || `The server refused the request (HTTP ${r.status}).`);
	}
	if (!j) throw new LinkApiError(r.status, 'bad-response', 'The server sent an answer this page does not understand.');
	return j;
}

function auth(peer) {
	return { id: peer.id, token: peer.options.token };
}

/*
 * A server link ({link:{id, ...}, token, url} from create; list entries have no url because the server only keeps
 * a hash of the token) as the UI wants it. Links whose url we never saw have url === null.
 */
function normalizeLink(l, top = {}) {
	const url = l.url || top.url || ((l.token || top.token) ? `/l/${encodeURIComponent(l.token || top.token)}` : null);
	return {
		link_id: String(l.link_id ?? l.id ?? ''),
		url,
		expires_at: Number(l.expires_at),
		max_clicks: Number(l.max_clicks) || 0,
		clicks: Number(l.clicks) || 0,
		purpose: l.purpose === 'file' ? 'file' : 'call',
		revoked: !!l.revoked || l.status === 'revoked',
		status: typeof l.status === 'string' ? l.status : null,
		whitelist: Array.isArray(l.whitelist) ? l.whitelist : [],
	};
}

export async function createLink(peer, { ttl, maxClicks, whitelist, purpose }) {
	const j = await post('/peerjs/links/create', { ...auth(peer), ttl, max_clicks: maxClicks, whitelist, purpose });
	if (!j.link) throw new LinkApiError(200, 'bad-response', 'The server did not return the new link.');
	return normalizeLink(j.link, j);
}

export async function listLinks(peer) {
	const j = await post('/peerjs/links/list', auth(peer));
	return Array.isArray(j.links) ? j.links.map((l) => normalizeLink(l)) : [];
}

export async function revokeLink(peer, linkId) {
	return post('/peerjs/links/revoke', { ...auth(peer), link_id: linkId });
}

export async function setLinkOnly(peer, enabled) {
	return post('/peerjs/linkonly', { ...auth(peer), enabled: !!enabled });
}

/* Redeem refusals come back as values, not exceptions: {ok:false, code, msg}. */
export async function redeemLink(peer, linkToken) {
	try {
		return await post('/peerjs/links/redeem', { ...auth(peer), link_token: linkToken });
	} catch (err) {
		if (err instanceof LinkApiError && err.code !== 'network' && err.code !== 'unsupported' && err.status >= 400)
			return { ok: false, code: err.code, msg: err.message };
		throw err;
	}
}

/* What the landing page may show before a click is used; null when this server has no peek endpoint */
export async function peekLink(linkToken) {
	try {
		return await post('/peerjs/links/peek', { link_token: linkToken });
	} catch (err) {
		if (err instanceof LinkApiError && err.code === 'unsupported') return null;
		if (err instanceof LinkApiError && err.status >= 400) return { ok: false, code: err.code, msg: err.message };
		throw err;
	}
}

/* Plain-words explanation of a refusal code. */
export function explainRefusal(code) {
	switch (code) {
	case 'expired': return 'This link has expired. Ask the person who sent it for a new one.';
	case 'exhausted': return 'This link has already been used up — it cannot be used again. Ask for a new one.';
	case 'ip-denied': return 'This link is not allowed from your network. The person who made it limited where it can be used from.';
	case 'revoked': return 'The person who made this link has withdrawn it.';
	case 'unknown': return 'This link is not valid. Check that you copied all of it.';
	case 'not-online': return 'The person this link reaches is not online right now. Try again later.';
	default: return 'This link cannot be used right now.';
	}
}
