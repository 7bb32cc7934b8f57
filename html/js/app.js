/*
 * app.js — entry point: connect to the signaling server, wire the screens together,
 * route incoming PeerJS connections, and run the share-link landing page (/l/<token>).
 *
 * Incoming DataConnections are told apart by their metadata: {app:'p2plink', kind:'ctl'}
 * is call control (call.js), kind:'files' is file transfer (files.js); anything else is
 * closed. An incoming connection that never opens (no direct path between the two browsers)
 * is reported on this side too, so the person being called learns why nothing rang.
 * Nothing here redeems a share link on page load — only the Continue button does,
 * so link previews (chat apps, mail scanners) never use up a click.
 */
import { $, announce, copyText, noDirectPath, testHooks } from './ui.js';
import { fetchIceConfig, openPeer } from './net.js';
import { Calls } from './call.js';
import { Files } from './files.js';
import { LinksUi } from './links-ui.js';
import { redeemLink, explainRefusal, LinkApiError } from './links-api.js';

const state = { peer: null, calls: null, files: null, links: null };
globalThis.__p2plink = state; /* for the e2e tests and for debugging from the console */

function landingToken() {
	const m = /^\/l\/([^/?#]+)\/?$/.exec(location.pathname);
	return m ? decodeURIComponent(m[1]) : null;
}

function targetId() {
	return $('#peer-id').value.trim();
}

function updateButtons() {
	const ready = !!(state.peer && state.peer.open);
	const has = targetId() !== '';
	$('#call-btn').disabled = !ready || !has;
	$('#send-btn').disabled = !ready || !has;
	$('#files-target').textContent = has ? targetId() : 'the ID above';
}

function pickFiles(peerId) {
	if (peerId) { $('#peer-id').value = peerId; updateButtons(); }
	$('#file-input').click();
}

function wireStaticUi() {
	$('#peer-id').addEventListener('input', updateButtons);
	$('#peer-id').addEventListener('keydown', (e) => { if (e.key === 'Enter' && !$('#call-btn').disabled) state.calls.start(targetId()); });
	$('#call-btn').addEventListener('click', () => state.calls.start(targetId()));
	$('#send-btn').addEventListener('click', () => pickFiles());
	$('#copy-id').addEventListener('click', (e) => copyText(state.peer.id, e.target));
	$('#file-input').addEventListener('change', (e) => {
		const files = Array.from(e.target.files || []);
		e.target.value = '';
		if (!files.length) return;
		if (!targetId()) { announce('Enter the ID of the person to send to first.', 'error'); $('#peer-id').focus(); return; }
		state.files.send(targetId(), files);
	});
	const dz = $('#drop-zone');
	dz.addEventListener('click', () => pickFiles());
	dz.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pickFiles(); } });
	dz.addEventListener('dragover', (e) => { e.preventDefault(); dz.classList.add('over'); });
	dz.addEventListener('dragleave', () => dz.classList.remove('over'));
	dz.addEventListener('drop', (e) => {
		e.preventDefault();
		dz.classList.remove('over');
		const files = Array.from((e.dataTransfer && e.dataTransfer.files) || []);
		if (!files.length) return;
		if (!targetId()) { announce('Enter the ID of the person to send to first, then drop the files again.', 'error'); $('#peer-id').focus(); return; }
		state.files.send(targetId(), files);
	});
	/* Dropping a file anywhere else must not navigate away from a call. */
	addEventListener('dragover', (e) => e.preventDefault());
	addEventListener('drop', (e) => e.preventDefault());
}

/* The caller's side gives up after 20 s (call.js, files.js) and says why; the same bound here. ICE reporting
 * 'failed' is the earlier signal: every candidate pair was tried and none got through. */
const INCOMING_REACH_MS = 20000;
function reportIfUnreachable(conn, what) {
	let settled = false;
	const report = () => {
		if (settled || conn.open) return;
		settled = true;
		announce(`${conn.peer} tried to ${what}. ${noDirectPath(conn.peer)}`, 'error');
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
		reportIfUnreachable(conn, 'call you');
		state.calls.incomingControl(conn);
	} else if (md.kind === 'files') {
		reportIfUnreachable(conn, 'send you files');
		state.files.incoming(conn);
	} else conn.close();
}

function onPeerError(err) {
	const type = err && err.type;
	if (type === 'peer-unavailable') {
		const m = /peer (.+)$/.exec(err.message || '');
		const id = m ? m[1] : '';
		state.calls.peerUnavailable(id);
		state.files.peerUnavailable(id);
		if (!state.calls.busy()) announce(`${id || 'That peer'} is not available — nobody with that ID is online right now.`, 'error');
		return;
	}
	if (type === 'network' || type === 'disconnected' || type === 'server-error' || type === 'socket-error' || type === 'socket-closed') {
		announce('Lost the connection to the server. Calls and transfers already running continue; reconnecting…', 'error');
		return;
	}
	if (type === 'negotiation-failed' || type === 'connection-closed') return; /* handled per connection */
	announce(`Error: ${(err && err.message) || err}`, 'error');
}

function keepConnected(peer) {
	peer.on('disconnected', () => {
		updateButtons();
		let delay = 1000;
		const retry = () => {
			if (peer.destroyed || peer.open) return;
			try { peer.reconnect(); } catch { /* try again */ }
			setTimeout(() => { if (!peer.open && !peer.destroyed) { delay = Math.min(delay * 2, 15000); retry(); } }, delay);
		};
		setTimeout(retry, delay);
	});
	peer.on('open', () => { announce('Connected. Share your ID or a link to be reached.', 'ok'); updateButtons(); });
}

async function landing(token) {
	$('#landing').hidden = false;
	$('#landing-go').focus();
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
			return;
		}
		$('#landing').hidden = true;
		$('#peer-id').value = res.target;
		updateButtons();
		history.replaceState(null, '', '/');
		if (res.purpose === 'file') {
			announce(`Link accepted. Choose files to send to ${res.target}, or wait for their files.`, 'ok');
			$('#drop-zone').focus();
		} else {
			state.calls.start(res.target);
		}
	});
}

async function main() {
	wireStaticUi();
	const token = landingToken();
	const config = await fetchIceConfig();
	let peer;
	try {
		peer = await openPeer(config);
	} catch (err) {
		announce(`Could not connect to the server: ${(err && err.message) || err}. Reload the page to try again.`, 'error');
		return;
	}
	state.peer = peer;
	state.iceConfig = config;
	$('#my-id').textContent = peer.id;
	$('#copy-id').disabled = false;
	state.files = new Files(peer);
	state.calls = new Calls(peer, { onSendFiles: (id) => pickFiles(id) });
	state.links = new LinksUi(peer);
	peer.on('connection', routeConnection);
	peer.on('error', onPeerError);
	keepConnected(peer);
	announce('Connected. Share your ID or a link to be reached.', 'ok');
	updateButtons();
	if (token) landing(token);
	document.body.dataset.ready = '1';
	if (testHooks.onReady) testHooks.onReady(state);
}

main();
