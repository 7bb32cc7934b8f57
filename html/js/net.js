/*
 * net.js — connect to the p2plink signaling server with the stock peerjs client.
 *
 * What it is for: fetching the ICE configuration from GET /peerjs/config and creating the
 * Peer with an explicit random token (the share-link endpoints authenticate with id+token).
 * Privacy: we ALWAYS pass `config`. peerjs's built-in default points at Google STUN and
 * peerjs.com TURN; we never contact any server the operator did not configure, so when
 * /peerjs/config fails or is empty we use {iceServers: []} (LAN/host candidates only).
 * The id+token are kept in sessionStorage so a reload keeps the same id (share links keep
 * working); a second tab gets its own id.
 */
import { Peer } from '/vendor/peerjs.js';
import { randomToken } from './ui.js';

export async function fetchIceConfig() {
	try {
		const r = await fetch('/peerjs/config', { cache: 'no-store' });
		if (!r.ok) throw new Error(`HTTP ${r.status}`);
		const j = await r.json();
		if (j && Array.isArray(j.iceServers)) return { iceServers: j.iceServers };
	} catch {
		/* fall through: no external servers, ever */
	}
	return { iceServers: [] };
}

function serverOptions(config, token) {
	const secure = location.protocol === 'https:';
	return {
		host: location.hostname,
		port: Number(location.port) || (secure ? 443 : 80),
		path: '/',
		secure,
		key: 'peerjs',
		token,
		config,
		debug: 0,
	};
}

const STORE = 'p2plink.identity';

/*
 * Open a Peer; resolves with it once the server said OPEN. Tries the remembered id first;
 * if that id is taken or the server never answers OPEN (a stale registration), starts
 * over with a fresh server-assigned id.
 */
export async function openPeer(config) {
	let saved = null;
	try { saved = JSON.parse(sessionStorage.getItem(STORE) || 'null'); } catch { saved = null; }
	if (saved && saved.id && saved.token) {
		try {
			return await tryOpen(saved.id, saved.token, config, 6000);
		} catch {
			sessionStorage.removeItem(STORE);
		}
	}
	return tryOpen(undefined, randomToken(), config, 20000);
}

function tryOpen(id, token, config, timeoutMs) {
	return new Promise((resolve, reject) => {
		const peer = id ? new Peer(id, serverOptions(config, token)) : new Peer(serverOptions(config, token));
		const timer = setTimeout(() => { cleanup(); peer.destroy(); reject(new Error('The server did not answer.')); }, timeoutMs);
		const onOpen = (gotId) => {
			cleanup();
			try { sessionStorage.setItem(STORE, JSON.stringify({ id: gotId, token })); } catch { /* private mode */ }
			resolve(peer);
		};
		const onError = (err) => { cleanup(); peer.destroy(); reject(err); };
		function cleanup() { clearTimeout(timer); peer.off('open', onOpen); peer.off('error', onError); }
		peer.on('open', onOpen);
		peer.on('error', onError);
	});
}

/* The token we passed in (peerjs keeps it in options). */
export function peerToken(peer) {
	return peer.options.token;
}
