/*
 * app.js — entry point: connect to the signaling server with this device's identity, wire the screens together,
 * route incoming PeerJS connections, tell the truth about refusals, and run the share-link landing page
 * (/l/<token>).
 *
 * Incoming DataConnections are told apart by their metadata: {app:'p2plink', kind:'ctl'}
 * is call control (call.js), kind:'files' is file transfer (files.js); anything else is
 * closed. An incoming connection that never opens (no direct path between the two browsers)
 * is reported on this side too, so the person being called learns why nothing rang.
 * Nothing here redeems a share link on page load — the landing page only peeks (non-consuming) to show who the
 * link reaches; only the Continue button redeems, so link previews (chat apps, mail scanners) never use a click.
 */
import { $, el, announce, cleanName, copyText, noDirectPath, testHooks, who } from './ui.js';
import { fetchIceConfig, openPeer, keepConnected, onRefusals, BACKOFF_FIRST_MS, BACKOFF_MAX_MS } from './net.js';
import { loadIdentity, Tabs } from './identity.js';
import { parseTarget } from './target.js';
import { Calls } from './call.js';
import { Files } from './files.js';
import { LinksUi } from './links-ui.js';
import { redeemLink, peekLink, explainRefusal, LinkApiError } from './links-api.js';
import { formatDuration } from './ui.js';
import { DeviceCheck } from './devices.js';
import { qrSvg } from './links-ui.js';

const state = { peer: null, calls: null, files: null, links: null, keeper: null, tabs: null };
globalThis.__p2plink = state; /* for the e2e tests and for debugging from the console */

const NAME_KEY = 'p2plink.name';
function myName() { return cleanName($('#my-name').value); }

function landingToken() {
	const m = /^\/l\/([^/?#]+)\/?$/.exec(location.pathname);
	return m ? decodeURIComponent(m[1]) : null;
}

/* The id in the box when it is one, else null (and the reason shown under the box) */
function targetId() {
	const t = parseTarget($('#peer-id').value, location.origin);
	return t.kind === 'id' ? t.id : null;
}

function checkTarget() {
	const t = parseTarget($('#peer-id').value, location.origin);
	const err = $('#peer-id-error');
	const input = $('#peer-id');
	if (t.kind === 'link') {
		err.hidden = false;
		err.dataset.kind = 'info';
		err.textContent = 'That is a share link — opening it…';
		input.removeAttribute('aria-invalid');
		if (state.calls && state.calls.busy()) return t;
		location.assign(t.url);
		return t;
	}
	err.hidden = t.kind !== 'error';
	err.textContent = t.kind === 'error' ? t.msg : '';
	err.dataset.kind = 'error';
	if (t.kind === 'error') input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
	return t;
}

function updateButtons() {
	const ready = !!(state.peer && state.peer.open);
	const id = targetId();
	$('#call-btn').disabled = !ready || !id;
	$('#send-btn').disabled = !ready || !id;
	$('#files-target').textContent = id ? who(id) : 'the ID above';
}

function startCall() {
	const t = checkTarget();
	if (t.kind === 'id' && state.calls) state.calls.start(t.id);
	else if (t.kind === 'empty') { announce('Enter the other person’s ID first.', 'error'); $('#peer-id').focus(); }
}

function pickFiles(peerId) {
	if (peerId) { $('#peer-id').value = peerId; checkTarget(); updateButtons(); }
	$('#file-input').click();
}

function sendTo(files, again) {
	if (!files.length) return;
	const id = targetId();
	if (!id) { checkTarget(); announce(`Enter the ID of the person to send to first${again ? ', then drop the files again' : ''}.`, 'error'); $('#peer-id').focus(); return; }
	state.files.send(id, files);
}

function wireStaticUi() {
	const input = $('#peer-id');
	input.addEventListener('input', () => { checkTarget(); updateButtons(); });
	/* Enter starts the call. preventDefault: without it the same key press goes on to activate the Cancel button
	 * that the calling dialog has just focused, and the call is cancelled at once (issue 12). */
	input.addEventListener('keydown', (e) => {
		if (e.key !== 'Enter' || e.isComposing) return;
		e.preventDefault();
		if (!$('#call-btn').disabled) startCall(); else checkTarget();
	});
	$('#call-btn').addEventListener('click', startCall);
	$('#send-btn').addEventListener('click', () => pickFiles());
	$('#copy-id').addEventListener('click', (e) => copyText(state.peer.id, e.target));
	$('#qr-id').addEventListener('click', (e) => {
		const open = $('#my-qr').hidden;
		$('#my-qr').hidden = !open;
		e.target.setAttribute('aria-expanded', String(open));
	});
	state.devices = new DeviceCheck();
	$('#file-input').addEventListener('change', (e) => {
		const files = Array.from(e.target.files || []);
		e.target.value = '';
		sendTo(files, false);
	});
	const dz = $('#drop-zone');
	dz.addEventListener('click', () => pickFiles());
	dz.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pickFiles(); } });
	dz.addEventListener('dragover', (e) => { e.preventDefault(); dz.classList.add('over'); });
	dz.addEventListener('dragleave', () => dz.classList.remove('over'));
	dz.addEventListener('drop', (e) => {
		e.preventDefault();
		dz.classList.remove('over');
		sendTo(Array.from((e.dataTransfer && e.dataTransfer.files) || []), true);
	});
	/* Dropping a file anywhere else must not navigate away from a call. */
	addEventListener('dragover', (e) => e.preventDefault());
	addEventListener('drop', (e) => e.preventDefault());
	/* Display name: this device only (localStorage), sent peer to peer with a ring or a file offer */
	const name = $('#my-name');
	try { name.value = localStorage.getItem(NAME_KEY) || ''; } catch { /* private mode */ }
	name.addEventListener('change', () => { try { localStorage.setItem(NAME_KEY, myName()); } catch { /* ignore */ } });
	/* System notifications for incoming calls: asked only when the person presses the button */
	const nb = $('#notify-btn');
	if (typeof Notification === 'function' && Notification.permission === 'default') {
		nb.hidden = false;
		nb.addEventListener('click', async () => { try { await Notification.requestPermission(); } catch { /* ignore */ } nb.hidden = true; });
	}
}

/* The caller's side gives up after 20 s (call.js, files.js) and says why; the same bound here. ICE reporting
 * 'failed' is the earlier signal: every candidate pair was tried and none got through. */
const INCOMING_REACH_MS = 20000;
function reportIfUnreachable(conn, what) {
	let settled = false;
	const report = () => {
		if (settled || conn.open) return;
		settled = true;
		announce(`${who(conn.peer)} tried to ${what}. ${noDirectPath(who(conn.peer))}`, 'error');
	};
	const timer = setTimeout(report, INCOMING_REACH_MS);
	conn.on('open', () => { settled = true; clearTimeout(timer); });
	const pc = conn.peerConnection;
	if (pc) pc.addEventListener('iceconnectionstatechange', () => { if (pc.iceConnectionState === 'failed') report(); });
}

function routeConnection(conn) {
	const md = conn.metadata || {};
	if (md.app !== 'p2plink') { conn.close(); return; }
	if (md.kind === 'ctl') {
		if (!md.resume) reportIfUnreachable(conn, 'call you'); /* a reconnect of a running call says its own */
		state.calls.incomingControl(conn);
	} else if (md.kind === 'files') {
		reportIfUnreachable(conn, 'send you files');
		state.files.incoming(conn);
	} else conn.close();
}

/* "Missed call from Ana · Call back", "Ana tried to call you while you were in a call · Call back",
 * "The call with Ana dropped · Call again" (the connection could not be restored) */
function notice(id, name, kind) {
	const text = kind === 'busy' ? `${who(id, name)} tried to call you while you were in a call.`
		: kind === 'lost' ? `The call with ${who(id, name)} dropped (the connection could not be restored).` : `Missed call from ${who(id, name)}.`;
	const back = el('button', { type: 'button', class: 'primary call-back-btn' }, kind === 'lost' ? 'Call again' : 'Call back');
	const dismiss = el('button', { type: 'button', class: 'dismiss-btn', 'aria-label': 'Dismiss' }, 'Dismiss');
	const li = el('li', { class: 'notice card', dataset: { kind, peer: id } }, el('p', { title: id }, text), el('div', { class: 'row' }, back, dismiss));
	back.addEventListener('click', () => { li.remove(); $('#peer-id').value = id; checkTarget(); updateButtons(); startCall(); });
	dismiss.addEventListener('click', () => li.remove());
	$('#notices').prepend(li);
	if (kind === 'busy') announce(text);
}

/*
 * Refusals. The server answers a refused OFFER with EXPIRE (→ peerjs 'peer-unavailable') and our P2PLINK-REFUSED
 * frame, in either order. The refusal is the truth, so 'peer-unavailable' waits a moment for one before it says
 * "offline"; a refusal that comes second still wins because it is handled at once.
 */
const REFUSAL_WAIT_MS = 300;
const refusals = new Map(); /* peer id → time of the last refusal */

function refusalText(id, code, msg) {
	switch (code) {
	case 'link-required': return `${who(id)} only accepts connections through a share link — ask them for one.`;
	case 'invalid-dst': return `${who(id)} is not a valid ID. Check what you copied.`;
	case 'queue-full': return `${who(id)} cannot be reached right now (too many messages are waiting for them). Try again in a minute.`;
	default: return msg ? `${who(id)} cannot be reached: ${msg}` : `The server refused to reach ${who(id)}.`;
	}
}

function onRefused(id, code, msg) {
	refusals.set(id, performance.now());
	const text = refusalText(id, code, msg);
	const wasCalling = state.calls.busy();
	state.calls.refused(id, text, code);
	state.files.refused(id, text);
	if (!wasCalling) announce(text, 'error');
}

function peerUnavailable(id) {
	const recent = (t) => t !== undefined && performance.now() - t < 3000;
	if (recent(refusals.get(id))) return;
	setTimeout(() => {
		if (recent(refusals.get(id))) return;
		const busy = state.calls.busy();
		state.calls.peerUnavailable(id);
		state.files.peerUnavailable(id);
		if (!busy) announce(`${who(id) || 'That peer'} is offline — nobody with that ID is online right now.`, 'error');
	}, REFUSAL_WAIT_MS);
}

let serverLost = false;
function onPeerError(err) {
	const type = err && err.type;
	if (type === 'peer-unavailable') {
		const m = /peer (.+)$/.exec(err.message || '');
		peerUnavailable(m ? m[1] : '');
		return;
	}
	if (type === 'network' || type === 'disconnected' || type === 'server-error' || type === 'socket-error' || type === 'socket-closed' || type === 'unavailable-id') {
		if (!serverLost && !state.handedOver) {
			serverLost = true;
			announce('Lost the connection to the server. Calls and transfers already running continue; reconnecting…', 'error');
		}
		return;
	}
	if (type === 'negotiation-failed' || type === 'connection-closed') return; /* handled per connection */
	announce(`Error: ${(err && err.message) || err}`, 'error');
}

/* A link that opens p2plink with this id in "Their ID": what the QR code in the header carries */
export function callMeUrl(id) {
	return `${location.origin}/#call=${encodeURIComponent(id)}`;
}

function showMe(peer) {
	$('#my-id').textContent = peer.id;
	$('#copy-id').disabled = false;
	$('#qr-id').disabled = false;
	$('#my-qr-code').innerHTML = qrSvg(callMeUrl(peer.id));
}

/* Opened from someone's QR code (/#call=<id>): their id goes in the box; calling stays the person's choice */
function idFromHash() {
	const m = /^#call=(.+)$/.exec(location.hash);
	if (!m) return;
	try { $('#peer-id').value = decodeURIComponent(m[1]); } catch { return; }
	history.replaceState(null, '', location.pathname + location.search);
}

/* Another tab asked for the identity: let go (end a call here), and offer to take it back */
function handedOver() {
	state.handedOver = true;
	state.keeper.pause();
	if (state.calls) state.calls.end('', 'info', 'moved');
	state.peer.disconnect();
	updateButtons();
	showElsewhere('p2plink moved to another tab of this browser. You can take it back here.', async () => {
		await state.tabs.takeOver();
		state.tabs.holding = true;
		state.handedOver = false;
		state.keeper.resume();
	});
}

function showElsewhere(text, onTake) {
	$('#elsewhere').hidden = false;
	$('#elsewhere-text').textContent = text;
	const btn = $('#elsewhere-take');
	btn.disabled = false;
	btn.onclick = async () => {
		btn.disabled = true;
		$('#elsewhere').hidden = true;
		await onTake();
	};
	btn.focus();
}

function watchServer(peer) {
	state.keeper = keepConnected(peer);
	peer.on('disconnected', updateButtons);
	peer.on('open', () => {
		updateButtons();
		if (serverLost) { serverLost = false; announce('Connected to the server again.', 'ok'); }
	});
}

function describePeek(p) {
	$('#peek-target').textContent = who(p.target, '', 64);
	$('#peek-purpose').textContent = p.purpose === 'file' ? 'sending files' : 'a video call';
	const left = (Number(p.expires_at) - Date.now()) / 1000;
	$('#peek-expires').textContent = !p.expires_at ? 'never' : left > 0 ? `in ${formatDuration(left)}` : 'expired';
	$('#peek-uses').textContent = p.clicks_left === null || p.clicks_left === undefined ? 'unlimited' : String(p.clicks_left);
	$('#peek-online').textContent = p.online ? 'online — they can answer now' : 'not online right now';
	$('#landing-peek').hidden = false;
	$('#landing-peek').dataset.online = p.online ? '1' : '';
}

async function peek(token) {
	let p;
	try { p = await peekLink(token); } catch { return; /* no peek on this server: the generic text stays */ }
	if (!p) return;
	if (p.ok) { describePeek(p); return; }
	const out = $('#landing-peek-error');
	out.hidden = false;
	out.dataset.code = p.code || 'unknown';
	out.textContent = explainRefusal(p.code);
	if (['expired', 'exhausted', 'revoked', 'unknown'].includes(p.code)) $('#landing-go').disabled = true;
}

async function landing(token) {
	$('#landing').hidden = false;
	$('#landing-go').focus();
	peek(token);
	$('#landing-go').addEventListener('click', async () => {
		const out = $('#landing-result');
		out.hidden = true;
		if (!state.peer || !state.peer.open) { out.hidden = false; out.textContent = 'Still connecting to the server — try again in a moment.'; return; }
		$('#landing-go').disabled = true;
		let res;
		try {
			res = await redeemLink(state.peer, token);
		} catch (err) {
			$('#landing-go').disabled = false;
			out.hidden = false;
			out.textContent = err instanceof LinkApiError ? err.message : String(err);
			return;
		}
		if (!res.ok) {
			out.hidden = false;
			out.dataset.code = res.code || 'unknown';
			out.textContent = `${explainRefusal(res.code)}${res.msg ? ` (${res.msg})` : ''}`;
			if (res.code === 'not-online') $('#landing-go').disabled = false;
			return;
		}
		$('#landing').hidden = true;
		$('#peer-id').value = res.target;
		checkTarget();
		updateButtons();
		history.replaceState(null, '', '/');
		if (res.purpose === 'file') {
			announce(`Link accepted. Choose files to send to ${who(res.target)}, or wait for their files.`, 'ok');
			$('#drop-zone').focus();
		} else {
			state.calls.start(res.target);
		}
	});
}

async function main() {
	wireStaticUi();
	idFromHash();
	addEventListener('hashchange', () => { idFromHash(); checkTarget(); updateButtons(); });
	const token = landingToken();
	const tabs = state.tabs = new Tabs();
	const ident = loadIdentity();
	if (ident && ident.id && await tabs.otherTabHolds()) {
		announce('');
		await new Promise((resolve) => showElsewhere(
			`This browser keeps one ID for you (${who(ident.id)}), and another tab of it is using it right now. Use it here instead? A call in the other tab would end.`,
			async () => { await tabs.takeOver(); resolve(); }));
	}
	tabs.holding = true;
	tabs.onTakenAway = handedOver;
	/* The server may be down when the page loads: keep trying, with the same capped backoff as reconnects */
	let opened, config;
	for (let delay = BACKOFF_FIRST_MS; ; delay = Math.min(delay * 2, BACKOFF_MAX_MS)) {
		config = await fetchIceConfig();
		try {
			opened = await openPeer(config);
			break;
		} catch (err) {
			const why = String((err && err.message) || err).replace(/\.+$/, '');
			announce(`Could not reach the server (${why}). Trying again in ${Math.round(delay / 1000)} s…`, 'error');
			await new Promise((r) => setTimeout(r, delay));
		}
	}
	const { peer, lostId } = opened;
	state.peer = peer;
	state.iceConfig = config;
	showMe(peer);
	state.files = new Files(peer, { myName, onSendBack: (id) => pickFiles(id) });
	state.calls = new Calls(peer, { onSendFiles: (id) => pickFiles(id), myName, onMissed: notice });
	state.links = new LinksUi(peer);
	peer.on('connection', routeConnection);
	peer.on('error', onPeerError);
	onRefusals(peer, onRefused);
	watchServer(peer);
	if (lostId) announce(`Your previous ID ${who(lostId)} is in use somewhere else, so you have a new one. Links made for the old ID no longer reach you.`, 'error');
	else announce('Connected. Share your ID or a link to be reached.', 'ok');
	checkTarget();
	updateButtons();
	if (token) landing(token);
	document.body.dataset.ready = '1';
	if (testHooks.onReady) testHooks.onReady(state);
}

main();
