/*
 * security-code.js — a short code both people can read aloud to check that the signaling
 * server did not put itself in the middle of the connection.
 *
 * Each browser's DTLS certificate fingerprint is in its SDP (a=fingerprint:...). A
 * man-in-the-middle would have to present its own certificate to each side, so the two
 * sides would see different fingerprint pairs. We take the fingerprint lines of the local
 * and remote description, normalise and sort them (so both sides build the same string),
 * SHA-256 them (WebCrypto) and show 8 decimal digits: "1234 5678".
 */
export function fingerprints(sdp) {
	const out = [];
	for (const line of String(sdp || '').split(/\r?\n/)) {
		const m = /^a=fingerprint:\s*(\S+)\s+([0-9A-Fa-f:]+)\s*$/.exec(line);
		if (m) out.push(`${m[1].toLowerCase()} ${m[2].toUpperCase()}`);
	}
	return [...new Set(out)];
}

export async function securityCode(localSdp, remoteSdp) {
	const a = fingerprints(localSdp);
	const b = fingerprints(remoteSdp);
	if (!a.length || !b.length) return null;
	const text = [...new Set([...a, ...b])].sort().join('\n');
	const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
	const n = ((digest[0] << 24) | (digest[1] << 16) | (digest[2] << 8) | digest[3]) >>> 0;
	const s = String(n % 100000000).padStart(8, '0');
	return `${s.slice(0, 4)} ${s.slice(4)}`;
}

/* Convenience: code for a live RTCPeerConnection (null until both descriptions exist). */
export function codeForPc(pc) {
	if (!pc || !pc.localDescription || !pc.remoteDescription) return Promise.resolve(null);
	return securityCode(pc.localDescription.sdp, pc.remoteDescription.sdp);
}
