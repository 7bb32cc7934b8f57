/*
 * call.js — 1:1 video calls: the app-level call control protocol and the in-call screen.
 *
 * PeerJS has no way to decline or to say "busy": an incoming MediaConnection can only be
 * answered or dropped silently. So a call starts as a small control conversation on a
 * reliable JSON DataConnection (label "p2plink-ctl", metadata {app:'p2plink', kind:'ctl',
 * v:1, callId}); media only follows once the callee said yes.
 *
 * Control protocol (every message is a JSON object with a type `t`):
 *   caller → callee  {t:'ring', callId, video, name} please ring (sent when the channel opens); name is what the
 *                                                   caller typed as their display name (peer to peer only)
 *   callee → caller  {t:'accept', callId}           callee has its camera/mic; caller now does
 *                                                   peer.call(callee, stream, {metadata:{app, callId}})
 *   callee → caller  {t:'decline', callId, reason}  reason: 'declined' | 'no-media' | 'timeout'
 *   callee → caller  {t:'busy', callId}             callee is already ringing or in a call; the
 *                                                   channel is then closed. Calls are never merged.
 *   caller → callee  {t:'cancel', callId}           caller gave up before an answer
 *   either           {t:'state', mic, cam, screen}  my microphone / camera is on (true) or off; screen: I am
 *                                                   sending my screen instead of my camera
 *   either           {t:'ping'}                     once a second while connected (liveness)
 *   either           {t:'hangup', callId}           call is over
 *   callee → caller  {t:'sas-b', nonce}             security code, after the media offer with metadata.sasCommit
 *   caller → callee  {t:'sas-a', nonce}             the caller's reveal (security-code.js has the reasoning)
 * The callee answers a MediaConnection only if it comes from the peer it accepted and
 * carries the accepted callId; anything else is closed unanswered.
 *
 *   caller → callee  {t:'resume', callId, n}       on a new control channel after a reconnect (below)
 *
 * The call ends on this side (tracks stopped, UI back to idle) on a hangup message, or when the
 * control channel closes while the path was fine (the other tab closed: its data channel is closed
 * at once, while ICE here still says connected and pings were arriving).
 *
 * Reconnecting. A network change (Wi-Fi → mobile, a NAT rebinding, a short drop) shows up as ICE
 * 'disconnected'/'failed' or as pings that stop; the call then goes to 'reconnecting' ("Reconnecting…"
 * on both sides, which each notice on their own) for at most RECONNECT_LIMIT_MS, and only then ends
 * with a sentence saying so. Camera and microphone keep running throughout (no new permission prompt).
 * Two ways back: ICE heals by itself when the old path works again (a short drop), or, when the old
 * path is gone (new address, new NAT mapping), the caller makes a new control channel and a new
 * MediaConnection with the same call identity (metadata {callId, resume:n}) and the callee swaps them in.
 * Why not an ICE restart on the existing RTCPeerConnection: the stock peerjs 1.5 client cannot
 * renegotiate — an OFFER for an existing connectionId closes that connection and makes a new one, and a
 * MediaConnection handles only ANSWER and CANDIDATE — and the old data channel cannot carry the new offer
 * because it runs over the same broken path. The new connection is the path peerjs does support. Its DTLS
 * keys are new, so the security code is worked out again and shown as new.
 * A peerjs 'peer-unavailable' error for the callee (server EXPIRE) ends an outgoing call
 * with "not available" (while reconnecting it only means the other side's server socket is not back yet).
 */
import { $, announce, cleanName, formatDuration, noDirectPath, randomToken, who } from './ui.js';
import { getCallMedia, stopStream, watchStats, describeStats, quality, MediaError } from './media.js';
import { SasOpener, SasAnswerer } from './security-code.js';
import { CallScreen } from './call-screen.js';
import { Ringer } from './ringer.js';

const RING_TIMEOUT_MS = 45000;
const REACH_TIMEOUT_MS = 20000;
const MEDIA_TIMEOUT_MS = 20000;
const ICE_GRACE_MS = 4000;
/* Reconnecting: no message for TROUBLE_SILENCE_MS (pings are once a second) starts it; the caller waits
 * RESUME_AFTER_MS for ICE to heal on its own, then makes new connections every RESUME_EVERY_MS; after
 * RECONNECT_LIMIT_MS the call ends. A control channel closing counts as "they left" only when a message
 * came within LEFT_RECENT_MS and ICE was connected. */
export const RECONNECT_LIMIT_MS = 20000;
const TROUBLE_SILENCE_MS = 3000;
const RESUME_AFTER_MS = 3000;
const RESUME_EVERY_MS = 5000;
const LEFT_RECENT_MS = 2500;
const RETIRE_MS = 3000;

export class Calls {
	constructor(peer, { onSendFiles, myName = () => '', onMissed = () => {} } = {}) {
		this.peer = peer;
		this.onSendFiles = onSendFiles;
		this.myName = myName;
		this.onMissed = onMissed;
		this.screen = new CallScreen({ onHangup: () => this.hangup() });
		this.ringer = new Ringer();
		this.state = 'idle'; /* idle | outgoing | incoming | connecting | active | reconnecting */
		this.reconnects = []; /* for tests: {at, back} of each reconnecting spell of the last call */
		this.timers = new Set();
		this.lastLocalStream = null; /* kept for tests: are its tracks stopped? */
		this._reset();
		this._wireUi();
		peer.on('call', (mc) => this._onMediaCall(mc));
		addEventListener('pagehide', () => {
			if (this.state !== 'idle') this._send({ t: 'hangup', callId: this.callId });
		});
	}

	_reset() {
		this.ctl = null;
		this.media = null;
		this.callId = null;
		this.remoteId = null;
		this.remoteName = '';
		this.sas = null;
		this.localStream = null;
		this.remoteStream = null;
		this.startedAt = 0;
		this.lastSeen = 0;
		this.stopStats = null;
		this.mic = true;
		this.cam = true;
		this.screenTrack = null;
		this.role = null; /* 'caller' | 'callee' */
		this.troubleAt = 0;
		this.resumeN = 0;
		this.ctlIce = '';
		for (const t of this.timers) { clearTimeout(t); clearInterval(t); }
		this.timers.clear();
	}

	_after(ms, fn) { const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms); this.timers.add(t); return t; }
	_every(ms, fn) { const t = setInterval(fn, ms); this.timers.add(t); return t; }
	_clear(t) { clearTimeout(t); clearInterval(t); this.timers.delete(t); }

	_wireUi() {
		$('#outgoing-cancel').addEventListener('click', () => this.cancelOutgoing());
		$('#outgoing').addEventListener('cancel', (e) => { e.preventDefault(); this.cancelOutgoing(); });
		$('#incoming-accept').addEventListener('click', () => this.accept());
		$('#incoming-decline').addEventListener('click', () => this.decline());
		$('#incoming').addEventListener('cancel', (e) => { e.preventDefault(); this.decline(); });
		$('#hangup-btn').addEventListener('click', () => this.hangup());
		$('#mute-btn').addEventListener('click', () => this.toggleMic());
		$('#cam-btn').addEventListener('click', () => this.toggleCam());
		$('#screen-btn').addEventListener('click', () => this.toggleScreen());
		$('#screen-btn').hidden = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
		/* Their video in a floating window, to keep seeing them while using another tab or app */
		$('#pip-btn').hidden = !document.pictureInPictureEnabled;
		$('#pip-btn').addEventListener('click', () => {
			const p = document.pictureInPictureElement ? document.exitPictureInPicture() : $('#remote-video').requestPictureInPicture();
			p.catch((err) => announce(`Picture in picture is not available (${err.message || err}).`, 'error'));
		});
		$('#files-in-call-btn').addEventListener('click', () => this.onSendFiles && this.onSendFiles(this.remoteId));
	}

	busy() { return this.state !== 'idle'; }

	/* ---------- caller side ---------- */

	async start(remoteId) {
		if (this.state !== 'idle') return;
		if (!remoteId || remoteId === this.peer.id) { announce('Enter the other person’s ID first (not your own).', 'error'); return; }
		this.state = 'outgoing';
		this.role = 'caller';
		this.reconnects = [];
		this.remoteId = remoteId;
		this.callId = randomToken(8);
		$('#outgoing-title').textContent = `Calling ${who(remoteId, '', 64)}`;
		$('#outgoing-title').title = remoteId;
		announce(`Calling ${who(remoteId)}…`);
		$('#outgoing-text').textContent = 'Starting your camera…';
		$('#outgoing').showModal();
		const callId = this.callId;
		try {
			this.localStream = this.lastLocalStream = await getCallMedia();
		} catch (err) {
			if (this.callId === callId) this.end(err instanceof MediaError ? err.message : String(err), 'error');
			return;
		}
		if (this.callId !== callId) { stopStream(this.localStream); return; } /* cancelled meanwhile */
		$('#outgoing-preview').srcObject = this.localStream;
		$('#outgoing-text').textContent = 'Connecting…';
		const ctl = this.peer.connect(remoteId, {
			label: 'p2plink-ctl', serialization: 'json', reliable: true,
			metadata: { app: 'p2plink', kind: 'ctl', v: 1, callId },
		});
		this._adoptCtl(ctl);
		this._after(REACH_TIMEOUT_MS, () => {
			if (this.state === 'outgoing' && !ctl.open) this.end(noDirectPath(remoteId), 'error');
		});
		ctl.on('open', () => {
			if (this.ctl !== ctl) return;
			$('#outgoing-text').textContent = 'Ringing…';
			this._send({ t: 'ring', callId, video: this.localStream.getVideoTracks().length > 0, name: this.myName() });
			this._after(RING_TIMEOUT_MS, () => {
				if (this.state === 'outgoing') { this._send({ t: 'cancel', callId }); this.end(`${who(remoteId)} did not answer.`, 'info', 'no-answer'); }
			});
		});
	}

	cancelOutgoing() {
		if (this.state !== 'outgoing' && this.state !== 'connecting') return;
		this._send({ t: 'cancel', callId: this.callId });
		this.end('Call cancelled.', 'info');
	}

	/* peerjs 'peer-unavailable' (server EXPIRE) for this peer id */
	peerUnavailable(id) {
		if (this.state === 'reconnecting' || this.state === 'active') return; /* their socket is not back yet */
		if (this.state !== 'idle' && id === this.remoteId)
			this.end(`${who(id)} is offline — nobody with that ID is online right now.`, 'error', 'unavailable');
	}

	/* The server refused our offer (P2PLINK-REFUSED): say why, back to idle. `reason` is the refusal code. */
	refused(id, text, reason) {
		if (this.state !== 'idle' && id === this.remoteId) this.end(text, 'error', reason);
	}

	/* ---------- callee side ---------- */

	/* app.js hands us every incoming DataConnection with metadata.kind === 'ctl' */
	incomingControl(conn) {
		const md = conn.metadata || {};
		if (md.resume) { this._incomingResume(conn, md); return; }
		conn.on('data', (msg) => {
			if (!msg || typeof msg !== 'object') return;
			if (conn === this.ctl) return; /* handled by _adoptCtl */
			if (msg.t === 'ring') {
				if (this.state !== 'idle') {
					/* Busy: refuse, never merge; tell our person someone tried. */
					conn.send({ t: 'busy', callId: msg.callId });
					setTimeout(() => conn.close(), 1000);
					const name = cleanName(msg.name);
					this.busyNotice = { id: conn.peer, name, at: Date.now() };
					this.onMissed(conn.peer, name, 'busy');
					return;
				}
				this._ringIn(conn, msg);
			}
		});
		conn.on('error', () => {});
	}

	/* A new control channel for the call we are in (the caller reconnecting): swap it in once it opens. For a
	 * call that is over here, say so on it, so the caller ends too instead of trying until its limit. */
	_incomingResume(conn, md) {
		conn.on('error', () => {});
		const ours = () => (this.state === 'active' || this.state === 'reconnecting') && conn.peer === this.remoteId && md.callId === this.callId;
		conn.on('open', () => {
			if (!ours()) {
				try { conn.send({ t: 'hangup', callId: md.callId }); } catch { /* closing */ }
				setTimeout(() => conn.close(), 1000);
				return;
			}
			const old = this.ctl;
			this._adoptCtl(conn);
			this._retire(old, conn);
			this._sendSasB();
		});
	}

	_ringIn(conn, msg) {
		this.state = 'incoming';
		this.role = 'callee';
		this.reconnects = [];
		this.remoteId = conn.peer;
		this.remoteName = cleanName(msg.name);
		this.callId = String(msg.callId || '');
		this._adoptCtl(conn);
		const caller = who(conn.peer, this.remoteName, 64);
		$('#incoming-title').textContent = this.remoteName ? `${this.remoteName} is calling` : 'Incoming call';
		$('#incoming-text').textContent = `${caller} is calling you${msg.video === false ? ' (audio only)' : ''}.`;
		$('#incoming-text').title = conn.peer;
		$('#incoming').showModal();
		$('#incoming-accept').focus();
		announce(`Incoming call from ${caller}`);
		this.ringer.start(`Incoming call from ${this.remoteName || 'someone'}`, caller);
		this._after(RING_TIMEOUT_MS + 5000, () => {
			if (this.state === 'incoming') { this._send({ t: 'decline', callId: this.callId, reason: 'timeout' }); this._missed(); }
		});
	}

	_missed() {
		const id = this.remoteId, name = this.remoteName;
		this.end(`Missed call from ${who(id, name)}.`, 'info', 'missed');
		this.onMissed(id, name, 'missed');
	}

	async accept() {
		if (this.state !== 'incoming') return;
		this.ringer.stop();
		const callId = this.callId;
		$('#incoming-text').textContent = 'Starting your camera…';
		$('#incoming-accept').disabled = true;
		try {
			this.localStream = this.lastLocalStream = await getCallMedia();
		} catch (err) {
			$('#incoming-accept').disabled = false;
			this._send({ t: 'decline', callId, reason: 'no-media' });
			this.end(err instanceof MediaError ? err.message : String(err), 'error');
			return;
		}
		$('#incoming-accept').disabled = false;
		if (this.callId !== callId || this.state !== 'incoming') { stopStream(this.localStream); return; }
		this.state = 'connecting';
		$('#incoming').close();
		announce(`Connecting to ${who(this.remoteId, this.remoteName)}…`);
		this._send({ t: 'accept', callId });
		this._after(MEDIA_TIMEOUT_MS, () => {
			if (this.state === 'connecting') this.end(noDirectPath(this.remoteId), 'error');
		});
	}

	decline() {
		if (this.state !== 'incoming') return;
		this._send({ t: 'decline', callId: this.callId, reason: 'declined' });
		this.end(`You declined the call from ${who(this.remoteId, this.remoteName)}.`, 'info', 'you-declined');
	}

	_onMediaCall(mc) {
		const md = mc.metadata || {};
		const same = mc.peer === this.remoteId && md.callId === this.callId;
		const first = this.state === 'connecting' && !this.media && same && !md.resume;
		const resume = (this.state === 'active' || this.state === 'reconnecting') && this.role === 'callee' && same && md.resume;
		if (!first && !resume) { mc.close(); return; }
		if (resume) this._stopScreen(); /* the new connection sends the camera */
		const old = this.media;
		mc.answer(this.localStream);
		this._adoptMedia(mc);
		this._retire(old, mc);
		/* Security code, answerer's half: our nonce only now that we hold the caller's commitment */
		this.sas = new SasAnswerer(md.sasCommit);
		this.sasBOn = null;
		if (resume) this._codeRenewing();
		this._sendSasB();
	}

	/* Our nonce goes on the current control channel, and again on a new one that replaces it: on a reconnect
	 * the new media offer usually comes while the old channel still looks open but leads nowhere. Not once the
	 * reveal came (`used`): an old answerer's nonce must not meet the caller's new commitment. */
	_sendSasB() {
		const sas = this.sas;
		if (!(sas instanceof SasAnswerer) || sas.used || this.sasBOn === this.ctl || !this.ctl || !this.ctl.open) return;
		this.sasBOn = this.ctl;
		this._send({ t: 'sas-b', callId: this.callId, nonce: sas.nonce });
	}

	/* ---------- both sides ---------- */

	_adoptCtl(ctl) {
		this.ctl = ctl;
		this.lastSeen = performance.now();
		this.ctlIce = '';
		ctl.on('data', (msg) => { if (this.ctl === ctl) this._onCtl(msg); });
		const watch = () => {
			const pc = ctl.peerConnection;
			if (!pc) return;
			pc.addEventListener('iceconnectionstatechange', () => {
				if (this.ctl !== ctl) return;
				this.ctlIce = pc.iceConnectionState;
				if (this.ctlIce === 'disconnected' || this.ctlIce === 'failed') this._trouble();
			});
		};
		if (ctl.peerConnection) watch(); else ctl.on('open', watch);
		ctl.on('close', () => {
			if (this.ctl !== ctl || this.state === 'idle') return;
			if (this.state === 'incoming') { this._missed(); return; }
			/* Closed by them (their tab went) while the path was fine: they left. Closed with the path broken
			 * (peerjs closes on ICE 'failed' and on a server LEAVE when their socket dropped): reconnect. */
			const fine = this.ctlIce !== 'disconnected' && this.ctlIce !== 'failed' && performance.now() - this.lastSeen < LEFT_RECENT_MS;
			if (this.state === 'active' && fine) this.end(`${who(this.remoteId, this.remoteName)} left — the call ended.`, 'info', 'remote-gone');
			else if (this.state === 'active' || this.state === 'reconnecting') this._trouble();
			else this.end(`${who(this.remoteId, this.remoteName)} left — the call ended.`, 'info', 'remote-gone');
		});
		ctl.on('error', () => {});
	}

	_onCtl(msg) {
		if (!msg || typeof msg !== 'object') return;
		this.lastSeen = performance.now();
		if (this.state === 'reconnecting') this._checkBack();
		const peerId = this.remoteId;
		const them = who(peerId, this.remoteName);
		switch (msg.t) {
		case 'accept':
			if (this.state !== 'outgoing' || msg.callId !== this.callId) return;
			this.state = 'connecting';
			$('#outgoing-text').textContent = 'Accepted — connecting…';
			this.remoteName = this.remoteName || cleanName(msg.name);
			this._callMedia(peerId);
			break;
		case 'decline':
			if (this.state === 'outgoing' || this.state === 'connecting') {
				const why = msg.reason === 'no-media' ? `${them} could not start their camera or microphone.`
					: msg.reason === 'timeout' ? `${them} did not answer.` : `${them} declined the call.`;
				this.end(why, 'info', 'declined');
			}
			break;
		case 'busy':
			if (this.state === 'outgoing') this.end(`${them} is busy in another call. We told them you tried — try again later.`, 'info', 'busy');
			break;
		case 'cancel':
			if (this.state === 'incoming') this._missed();
			else if (this.state === 'connecting') this.end(`${them} cancelled the call.`, 'info');
			break;
		case 'hangup':
			if (this.state !== 'idle') this.end(`${them} hung up.`, 'info', 'remote-hangup');
			break;
		case 'state':
			$('#remote-muted').hidden = msg.mic !== false;
			$('#remote-camoff').hidden = msg.cam !== false || msg.screen === true;
			$('#remote-screen').hidden = msg.screen !== true;
			$('#remote-video').classList.toggle('screen', msg.screen === true);
			break;
		case 'ring':
		case 'resume':
			/* a second ring on the same channel, the caller's first word on a new one: nothing to do */
			break;
		case 'sas-b':
			if (this.sas instanceof SasOpener) this._revealSas(msg.nonce);
			break;
		case 'sas-a':
			if (this.sas instanceof SasAnswerer) this._checkSas(msg.nonce);
			break;
		default:
			break;
		}
	}

	async _callMedia(peerId) {
		const callId = this.callId;
		const sas = await SasOpener.create();
		if (this.callId !== callId || this.state !== 'connecting') return;
		this.sas = sas;
		this._adoptMedia(this.peer.call(peerId, this.localStream, { metadata: { app: 'p2plink', callId, sasCommit: sas.commit } }));
		this._after(MEDIA_TIMEOUT_MS, () => {
			if (this.state === 'connecting') this.end(noDirectPath(peerId), 'error');
		});
	}

	/* Both connections (control and media) are covered: a middleman on either changes the words */
	_sasPcs() { return [this.ctl && this.ctl.peerConnection, this.media && this.media.peerConnection]; }

	async _revealSas(nonceB) {
		const sas = this.sas;
		const words = await sas.onNonceB(nonceB, this._sasPcs());
		if (this.sas !== sas || !words) return;
		this._send({ t: 'sas-a', callId: this.callId, nonce: sas.nonce });
		this._setCode(words);
	}

	async _checkSas(nonceA) {
		const sas = this.sas;
		let words;
		try {
			words = await sas.onReveal(nonceA, this._sasPcs());
		} catch (err) {
			if (this.sas === sas) { this.code = null; $('#call-security-code').textContent = 'check failed'; announce(err.message, 'error'); }
			return;
		}
		if (this.sas === sas && words) this._setCode(words);
	}

	_setCode(words) {
		this.code = words;
		$('#call-security-code').textContent = words;
		$('#call-code-new').hidden = !this.codeRenewed;
	}

	/* After a reconnect the connection (and its keys) is new: so is the code, worked out again */
	_codeRenewing() {
		this.code = null;
		this.codeRenewed = true;
		$('#call-security-code').textContent = '…';
		$('#call-code-new').hidden = true;
	}

	_adoptMedia(mc) {
		this.media = mc;
		mc.on('stream', (stream) => { if (this.media === mc) this._onRemoteStream(stream); });
		mc.on('close', () => {
			if (this.media !== mc || this.state === 'idle') return;
			/* In a call, the control channel says whether they left; a media connection closing alone is the path */
			if (this.state === 'active' || this.state === 'reconnecting') this._trouble();
			else this.end(`The call with ${this.remoteId} ended.`, 'info', 'remote-gone');
		});
		mc.on('error', () => {});
		const pc = mc.peerConnection;
		if (pc) {
			let graceTimer = null;
			pc.addEventListener('iceconnectionstatechange', () => {
				if (this.media !== mc) return;
				const s = pc.iceConnectionState;
				if (this.state === 'active' || this.state === 'reconnecting') {
					if (s === 'disconnected' || s === 'failed') this._trouble(); else if (s === 'connected' || s === 'completed') this._checkBack();
					return;
				}
				/* 'failed' before the call ever connected means no path was found, not that someone left */
				if (s === 'failed') this.end(noDirectPath(this.remoteId), 'error', 'remote-gone');
				else if (s === 'disconnected') {
					if (!graceTimer) graceTimer = this._after(ICE_GRACE_MS, () => {
						graceTimer = null;
						if (this.media === mc && pc.iceConnectionState === 'disconnected')
							this.end(`Lost the connection to ${this.remoteId}.`, 'error', 'remote-gone');
					});
				} else if (graceTimer) { this._clear(graceTimer); graceTimer = null; }
			});
		}
	}

	_onRemoteStream(stream) {
		this.remoteStream = stream;
		const rv = $('#remote-video');
		if (rv.srcObject !== stream) rv.srcObject = stream;
		if (this.state === 'active' || this.state === 'reconnecting') {
			/* a new connection after a reconnect: its numbers from now on */
			if (this.stopStats) this.stopStats();
			this._watchStats();
			this._checkBack();
			return;
		}
		this.state = 'active';
		this.startedAt = performance.now();
		this.lastSeen = performance.now();
		if ($('#outgoing').open) $('#outgoing').close();
		if ($('#incoming').open) $('#incoming').close();
		$('#outgoing-preview').srcObject = null;
		$('#local-video').srcObject = this.localStream;
		$('#call-peer').textContent = who(this.remoteId, this.remoteName);
		$('#call-peer').title = this.remoteId;
		$('#call-timer').textContent = '0:00';
		if (!this.code) $('#call-security-code').textContent = '…';
		$('#call-stats').textContent = 'Measuring connection…';
		$('#call-quality').hidden = true;
		$('#remote-muted').hidden = true;
		$('#remote-camoff').hidden = true;
		this.mic = this.localStream.getAudioTracks().some((t) => t.enabled);
		this.cam = this.localStream.getVideoTracks().some((t) => t.enabled);
		this._syncButtons();
		this.screen.show();
		announce(`In a call with ${who(this.remoteId, this.remoteName)}`, 'ok');
		this._send({ t: 'state', mic: this.mic, cam: this.cam });
		this._every(1000, () => {
			$('#call-timer').textContent = formatDuration((performance.now() - this.startedAt) / 1000);
			this._send({ t: 'ping' });
			if (this.state === 'active' && performance.now() - this.lastSeen > TROUBLE_SILENCE_MS) this._trouble();
			else if (this.state === 'reconnecting') { this._checkBack(); this._showLeft(); }
		});
		this._watchStats();
	}

	_watchStats() {
		const pc = this.media && this.media.peerConnection;
		if (!pc) { this.stopStats = null; return; }
		this.stopStats = watchStats(pc, (s) => {
			/* While reconnecting the last round trip is stale: "good" over a frozen picture would be a lie */
			if (this.state === 'reconnecting') { this._showLost(); return; }
			$('#call-stats').textContent = describeStats(s);
			const q = quality(s);
			const badge = $('#call-quality');
			badge.hidden = !q;
			if (q) { badge.textContent = `Connection: ${q}`; badge.dataset.quality = q; }
		});
	}

	_showLost() {
		const badge = $('#call-quality');
		badge.hidden = false;
		badge.textContent = 'Connection: lost';
		badge.dataset.quality = 'poor';
		$('#call-stats').textContent = 'Nothing is arriving from them right now.';
	}

	/* ---------- reconnecting ---------- */

	_trouble() {
		if (this.state !== 'active') return;
		this.state = 'reconnecting';
		this.troubleAt = performance.now();
		this.reconnects.push({ at: Date.now(), back: null });
		$('#call-reconnecting').hidden = false;
		this._showLeft();
		this._showLost();
		announce(`The connection to ${who(this.remoteId, this.remoteName)} dropped. Reconnecting…`, 'error');
		const at = this.troubleAt;
		this.giveUpTimer = this._after(RECONNECT_LIMIT_MS, () => {
			if (this.state !== 'reconnecting' || this.troubleAt !== at) return;
			const id = this.remoteId, name = this.remoteName;
			this._send({ t: 'hangup', callId: this.callId });
			this.end(`The connection to ${who(id, name)} was lost and could not be restored within ${RECONNECT_LIMIT_MS / 1000} s — the call ended.`, 'error', 'reconnect-failed');
			this.onMissed(id, name, 'lost'); /* "Call again" for when the network is back */
		});
		if (this.role === 'caller') this.resumeTimer = this._after(RESUME_AFTER_MS, () => this._resume(at));
	}

	_showLeft() {
		const left = Math.max(0, Math.ceil((RECONNECT_LIMIT_MS - (performance.now() - this.troubleAt)) / 1000));
		$('#call-reconnect-left').textContent = `The connection dropped. Trying for ${left} more second${left === 1 ? '' : 's'} before the call ends.`;
	}

	/* Back when media ICE is connected again and the control channel carries messages */
	_checkBack() {
		if (this.state !== 'reconnecting') return;
		const pc = this.media && this.media.peerConnection;
		const ice = pc && pc.iceConnectionState;
		if (!(ice === 'connected' || ice === 'completed') || !this.ctl || !this.ctl.open) return;
		if (performance.now() - this.lastSeen > 1500) return;
		this.state = 'active';
		this._clear(this.giveUpTimer);
		this._clear(this.resumeTimer);
		const spell = this.reconnects[this.reconnects.length - 1];
		if (spell) spell.back = Date.now();
		$('#call-reconnecting').hidden = true;
		announce(`Reconnected to ${who(this.remoteId, this.remoteName)}.`, 'ok');
		this._send({ t: 'state', mic: this.mic, cam: this.cam, screen: !!this.screenTrack });
	}

	/* Caller: a new control channel and a new MediaConnection with the same call identity, while signaling is up */
	async _resume(at) {
		if (this.state !== 'reconnecting' || this.troubleAt !== at) return;
		this.resumeTimer = this._after(RESUME_EVERY_MS, () => this._resume(at));
		if (!this.peer.open) return; /* our server socket is reconnecting (net.js); next round */
		const n = ++this.resumeN;
		const callId = this.callId, remoteId = this.remoteId;
		const ctl = this.peer.connect(remoteId, {
			label: 'p2plink-ctl', serialization: 'json', reliable: true,
			metadata: { app: 'p2plink', kind: 'ctl', v: 1, callId, resume: n },
		});
		ctl.on('error', () => {});
		ctl.on('open', () => {
			if (this.callId !== callId || this.resumeN !== n || (this.state !== 'reconnecting' && this.state !== 'active')) { ctl.close(); return; }
			const old = this.ctl;
			this._adoptCtl(ctl);
			this._retire(old, ctl);
			this._send({ t: 'resume', callId, n });
		});
		const sas = await SasOpener.create();
		if (this.callId !== callId || this.resumeN !== n || this.state !== 'reconnecting') return;
		this._stopScreen();
		const old = this.media;
		this.sas = sas;
		this._codeRenewing();
		const mc = this.peer.call(remoteId, this.localStream, { metadata: { app: 'p2plink', callId, resume: n, sasCommit: sas.commit } });
		this._adoptMedia(mc);
		this._retire(old, mc);
	}

	/* Close a connection a new one replaced, a little later: closing it at once could reach the other side before
	 * it swapped in the new one, where it would look like "they left" */
	_retire(old, now) {
		if (!old || old === now) return;
		setTimeout(() => { try { old.close(); } catch { /* gone */ } }, RETIRE_MS);
	}

	_videoSender() {
		const pc = this.media && this.media.peerConnection;
		return pc ? pc.getSenders().find((x) => x.track && x.track.kind === 'video') : null;
	}

	/* Send the screen instead of the camera (same video sender: no renegotiation), and back */
	async toggleScreen() {
		if (this.state !== 'active') return;
		if (this.screenTrack) { this._stopScreen(); return; }
		const sender = this._videoSender();
		if (!sender) { announce('Screen sharing needs a camera in the call (this call is audio only).', 'error'); return; }
		let stream;
		try {
			stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
		} catch (err) {
			if (err && err.name !== 'NotAllowedError') announce(`Could not share the screen (${err.message || err}).`, 'error');
			return;
		}
		const track = stream.getVideoTracks()[0];
		if (this.state !== 'active' || !track) { stopStream(stream); return; }
		await sender.replaceTrack(track);
		this.screenTrack = track;
		track.addEventListener('ended', () => { if (this.screenTrack === track) this._stopScreen(); });
		$('#local-video').srcObject = stream;
		$('#local-video').classList.remove('mirror');
		this._syncButtons();
		this._send({ t: 'state', mic: this.mic, cam: this.cam, screen: true });
	}

	_stopScreen() {
		const track = this.screenTrack;
		if (!track) return;
		this.screenTrack = null;
		track.stop();
		const cam = this.localStream && this.localStream.getVideoTracks()[0];
		const sender = this._videoSender() || (this.media && this.media.peerConnection && this.media.peerConnection.getSenders().find((x) => x.track === track));
		if (sender && cam && this.state === 'active') sender.replaceTrack(cam).catch(() => {});
		$('#local-video').srcObject = this.localStream;
		$('#local-video').classList.add('mirror');
		this._syncButtons();
		this._send({ t: 'state', mic: this.mic, cam: this.cam, screen: false });
	}

	toggleMic() {
		if (!this.localStream) return;
		this.mic = !this.mic;
		for (const t of this.localStream.getAudioTracks()) t.enabled = this.mic;
		this._syncButtons();
		this._send({ t: 'state', mic: this.mic, cam: this.cam, screen: !!this.screenTrack });
	}

	toggleCam() {
		if (!this.localStream) return;
		this.cam = !this.cam;
		for (const t of this.localStream.getVideoTracks()) t.enabled = this.cam;
		this._syncButtons();
		this._send({ t: 'state', mic: this.mic, cam: this.cam, screen: !!this.screenTrack });
	}

	_syncButtons() {
		const hasA = !!(this.localStream && this.localStream.getAudioTracks().length);
		const hasV = !!(this.localStream && this.localStream.getVideoTracks().length);
		const m = $('#mute-btn');
		m.textContent = this.mic ? 'Mute' : 'Unmute';
		m.setAttribute('aria-pressed', String(!this.mic));
		m.disabled = !hasA;
		const c = $('#cam-btn');
		c.textContent = this.cam ? 'Camera off' : 'Camera on';
		c.setAttribute('aria-pressed', String(!this.cam));
		c.disabled = !hasV;
		const sc = $('#screen-btn');
		sc.textContent = this.screenTrack ? 'Stop sharing' : 'Share screen';
		sc.setAttribute('aria-pressed', String(!!this.screenTrack));
		sc.disabled = !hasV;
	}

	hangup() {
		if (this.state === 'idle') return;
		if (this.state === 'incoming') { this.decline(); return; }
		this._send({ t: 'hangup', callId: this.callId });
		this.end('Call ended.', 'info', 'hangup');
	}

	_send(msg) {
		const c = this.ctl;
		if (c && c.open) { try { c.send(msg); } catch { /* closing */ } }
	}

	/* Idempotent teardown: stop every track, close connections, back to the idle screen. */
	end(message, kind = 'info', reason = 'ended') {
		if (this.state === 'idle') return;
		const { ctl, media, localStream, stopStats } = this;
		if (this.screenTrack) { this.screenTrack.stop(); this.screenTrack = null; }
		if (document.pictureInPictureElement) document.exitPictureInPicture().catch(() => {});
		$('#local-video').classList.add('mirror');
		$('#remote-screen').hidden = true;
		$('#remote-video').classList.remove('screen');
		this.state = 'idle';
		this.ringer.stop();
		this.code = null;
		this.codeRenewed = false;
		$('#call-reconnecting').hidden = true;
		$('#call-code-new').hidden = true;
		if (stopStats) stopStats();
		stopStream(localStream);
		if (media) { try { media.close(); } catch { /* already closed */ } }
		/* Give a just-sent hangup/decline a moment to leave before the channel goes. */
		if (ctl) setTimeout(() => { try { ctl.close(); } catch { /* already closed */ } }, 400);
		this._reset();
		for (const id of ['#outgoing', '#incoming']) if ($(id).open) $(id).close();
		for (const id of ['#outgoing-preview', '#local-video', '#remote-video']) $(id).srcObject = null;
		this.screen.hide();
		this.lastEnd = { reason, message, at: Date.now() };
		if (message) announce(message, kind);
		$('#peer-id').focus();
	}
}

