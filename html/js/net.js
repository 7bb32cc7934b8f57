/*
 * net.js — connect to the p2plink signaling server with the stock peerjs client and stay connected.
 *
 * What it is for: fetching the ICE configuration from GET /peerjs/config, creating the Peer with the device's
 * id and token (identity.js), one reconnect loop with a capped backoff, and reading our extension frame
 * P2PLINK-REFUSED, which the server sends with the EXPIRE for a frame it refused (the stock client ignores it).
 * Privacy: we ALWAYS pass `config`. peerjs's built-in default points at Google STUN and
 * peerjs.com TURN; we never contact any server the operator did not configure, so when
 * /peerjs/config fails or is empty we use {iceServers: []} (LAN/host candidates only).
 */
import { Peer } from '/vendor/peerjs.js';
import { freshIdentity, loadIdentity, saveIdentity } from './identity.js';

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

/* ID-TAKEN for our own id right after a reload means the server has not yet seen the old socket go: try again for
 * this long before giving the id up (the server's grace period keeps it ours meanwhile). */
const TAKEN_RETRY_MS = [500, 1000, 2000, 4000];

/*
 * Open a Peer with the device's identity; resolves with { peer, lostId } once the server said OPEN. lostId is the
 * remembered id when it could not be had (someone else holds it): the person then gets a new one and is told.
 */
export async function openPeer(config) {
	let ident = loadIdentity() || freshIdentity();
	if (ident.id) {
		for (let i = 0; ; i++) {
			try {
				return { peer: await tryOpen(ident.id, ident.token, config, 10000), lostId: null };
			} catch (err) {
				const taken = err && err.type === 'unavailable-id';
				if (!taken && !(err && err.type === 'timeout')) throw err;
				if (i >= TAKEN_RETRY_MS.length) break;
				await new Promise((r) => setTimeout(r, TAKEN_RETRY_MS[i]));
			}
		}
		const lostId = ident.id;
		ident = freshIdentity();
		return { peer: await tryOpen(undefined, ident.token, config, 20000), lostId };
	}
	return { peer: await tryOpen(undefined, ident.token, config, 20000), lostId: null };
}

function tryOpen(id, token, config, timeoutMs) {
	return new Promise((resolve, reject) => {
		const peer = id ? new Peer(id, serverOptions(config, token)) : new Peer(serverOptions(config, token));
		const timer = setTimeout(() => {
			cleanup(); peer.destroy();
			reject(Object.assign(new Error('The server did not answer.'), { type: 'timeout' }));
		}, timeoutMs);
		const onOpen = (gotId) => {
			cleanup();
			saveIdentity(gotId, token);
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

export const BACKOFF_FIRST_MS = 1000;
export const BACKOFF_MAX_MS = 15000;
/* A WebSocket that neither opens nor fails (a dead network path) is abandoned after this long */
const ATTEMPT_TIMEOUT_MS = 10000;

/*
 * Stay connected: ONE retry chain per Peer. peerjs emits 'disconnected' again after every failed reconnect(), so
 * a handler that starts a loop on each 'disconnected' multiplies the loops (the 46–77 attempts in 48 s of
 * issue 12); here 'disconnected' only schedules the next attempt when none is pending. The delay doubles from 1 s
 * to 15 s and starts over after an OPEN. keeper.pause() stops it (another tab took the identity), resume() restarts.
 */
export function keepConnected(peer) {
	let timer = null;
	let watchdog = null;
	let delay = BACKOFF_FIRST_MS;
	let paused = false;
	const keeper = { attempts: 0, pause() { paused = true; clearTimeout(timer); timer = null; }, resume() { paused = false; delay = BACKOFF_FIRST_MS; attempt(); } };
	function schedule() {
		if (paused || timer || peer.destroyed || peer.open) return;
		timer = setTimeout(() => { timer = null; attempt(); }, delay);
		delay = Math.min(delay * 2, BACKOFF_MAX_MS);
	}
	function attempt() {
		if (paused || peer.destroyed || peer.open) return;
		clearTimeout(watchdog);
		if (!peer.disconnected) { schedule(); return; }
		keeper.attempts++;
		try { peer.reconnect(); } catch { schedule(); return; }
		watchdog = setTimeout(() => { if (!peer.open && !peer.disconnected && !paused) peer.disconnect(); }, ATTEMPT_TIMEOUT_MS);
	}
	peer.on('disconnected', schedule);
	peer.on('open', () => { clearTimeout(timer); clearTimeout(watchdog); timer = null; delay = BACKOFF_FIRST_MS; });
	return keeper;
}

/*
 * The server's refusal of a frame we sent: {type:'P2PLINK-REFUSED', src:<peer we tried>, payload:{code, msg, for}}.
 * It comes with an EXPIRE for the same peer (which the stock client turns into 'peer-unavailable'), in either order.
 * onRefused(peerId, code, msg) is called for each.
 */
export function onRefusals(peer, onRefused) {
	const sock = peer.socket;
	if (!sock || typeof sock.on !== 'function') return;
	sock.on('message', (m) => {
		if (!m || m.type !== 'P2PLINK-REFUSED' || !m.payload || typeof m.payload !== 'object') return;
		onRefused(typeof m.src === 'string' ? m.src : '', String(m.payload.code || ''), String(m.payload.msg || ''));
	});
}
