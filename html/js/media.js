/*
 * media.js — camera/microphone access with plain-language errors, and the connection
 * quality readout from RTCPeerConnection.getStats().
 * Not for: call signalling (call.js) or the security code (security-code.js).
 */

export class MediaError extends Error {}

function explain(err) {
	switch (err && err.name) {
	case 'NotAllowedError':
	case 'SecurityError':
		return 'Camera and microphone access was denied. Allow it for this site (the camera icon in the address bar or the site settings), then try again.';
	case 'NotFoundError':
	case 'OverconstrainedError':
		return 'No camera or microphone was found on this device.';
	case 'NotReadableError':
	case 'AbortError':
		return 'The camera or microphone is in use by another application, or the device failed. Close other apps using it and try again.';
	default:
		return `Could not start the camera or microphone (${(err && err.message) || err}).`;
	}
}

/* The camera and microphone the person picked in the device check (this device only), or nulls */
const DEVICES = 'p2plink.devices';
export function chosenDevices() {
	try { const j = JSON.parse(localStorage.getItem(DEVICES) || '{}'); return { cam: j.cam || null, mic: j.mic || null }; } catch { return { cam: null, mic: null }; }
}
export function chooseDevices(cam, mic) {
	try { localStorage.setItem(DEVICES, JSON.stringify({ cam: cam || null, mic: mic || null })); } catch { /* private mode */ }
}

/*
 * Get a stream for a call: camera+microphone, else microphone only, else camera only; the chosen devices when
 * there is a choice (`ideal`, so an unplugged one falls back to the default instead of failing the call).
 * Permission denial is final (asking again would just fail the same way).
 */
export async function getCallMedia() {
	if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia)
		throw new MediaError('This browser cannot use a camera or microphone here (it needs HTTPS and a current browser).');
	const { cam, mic } = chosenDevices();
	const audio = mic ? { deviceId: { ideal: mic } } : true;
	const video = { width: { ideal: 1280 }, height: { ideal: 720 }, ...(cam ? { deviceId: { ideal: cam } } : {}) };
	const tries = [
		{ audio, video },
		{ audio, video: false },
		{ audio: false, video },
	];
	let last;
	for (const c of tries) {
		try {
			return await navigator.mediaDevices.getUserMedia(c);
		} catch (err) {
			last = err;
			if (err && (err.name === 'NotAllowedError' || err.name === 'SecurityError')) break;
		}
	}
	throw new MediaError(explain(last));
}

export function stopStream(stream) {
	if (!stream) return;
	for (const t of stream.getTracks()) t.stop();
}

/*
 * Poll getStats() once a second and hand a summary to onUpdate:
 * {rttMs, inKbps, outKbps, lossPct, path: 'direct'|'relay', local, remote}.
 * Returns a stop function.
 */
export function watchStats(pc, onUpdate, intervalMs = 1000) {
	let prev = null;
	let stopped = false;
	async function tick() {
		if (stopped || !pc || pc.connectionState === 'closed') return;
		let report;
		try { report = await pc.getStats(); } catch { return; }
		const byId = new Map();
		report.forEach((s) => byId.set(s.id, s));
		let pair = null;
		report.forEach((s) => {
			if (s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId) || pair;
		});
		if (!pair) report.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
		let bytesIn = 0, bytesOut = 0, lost = 0, recv = 0;
		report.forEach((s) => {
			if (s.type === 'inbound-rtp') { bytesIn += s.bytesReceived || 0; lost += s.packetsLost || 0; recv += s.packetsReceived || 0; }
			if (s.type === 'outbound-rtp') bytesOut += s.bytesSent || 0;
		});
		const now = performance.now();
		const out = { rttMs: null, inKbps: null, outKbps: null, lossPct: null, path: null, local: null, remote: null };
		if (pair) {
			if (typeof pair.currentRoundTripTime === 'number') out.rttMs = pair.currentRoundTripTime * 1000;
			const lc = byId.get(pair.localCandidateId);
			const rc = byId.get(pair.remoteCandidateId);
			out.local = lc && lc.candidateType;
			out.remote = rc && rc.candidateType;
			out.path = (out.local === 'relay' || out.remote === 'relay') ? 'relay' : 'direct';
		}
		if (prev) {
			const dt = (now - prev.t) / 1000;
			out.inKbps = ((bytesIn - prev.bytesIn) * 8) / 1000 / dt;
			out.outKbps = ((bytesOut - prev.bytesOut) * 8) / 1000 / dt;
			const dLost = lost - prev.lost;
			const dTotal = dLost + (recv - prev.recv);
			out.lossPct = dTotal > 0 ? Math.max(0, (100 * dLost) / dTotal) : 0;
		}
		prev = { t: now, bytesIn, bytesOut, lost, recv };
		if (!stopped) onUpdate(out);
	}
	const timer = setInterval(tick, intervalMs);
	tick();
	return () => { stopped = true; clearInterval(timer); };
}

/* A readable verdict from the numbers: good (round trip under 150 ms, loss under 2 %), poor (over 400 ms or 8 %),
 * else fair; null until there is a round trip to judge */
export function quality(s) {
	if (!s || s.rttMs === null) return null;
	const loss = s.lossPct || 0;
	if (s.rttMs > 400 || loss > 8) return 'poor';
	if (s.rttMs >= 150 || loss >= 2) return 'fair';
	return 'good';
}

export function describeStats(s) {
	const parts = [];
	parts.push(`Round trip ${s.rttMs === null ? '–' : `${Math.round(s.rttMs)} ms`}`);
	parts.push(`in ${s.inKbps === null ? '–' : `${Math.round(s.inKbps)} kbit/s`}`);
	parts.push(`out ${s.outKbps === null ? '–' : `${Math.round(s.outKbps)} kbit/s`}`);
	parts.push(`loss ${s.lossPct === null ? '–' : `${s.lossPct.toFixed(1)} %`}`);
	if (s.path) parts.push(s.path === 'relay' ? 'path: via relay (TURN)' : `path: direct (${s.local}↔${s.remote})`);
	return parts.join(' · ');
}
