/*
 * target.js — what the person typed or pasted into "Their ID": an id, a share link (to open), or a mistake
 * explained at once (issue 12: a pasted link or a malformed id used to hang on "Connecting…" for 20 s and then
 * blame a firewall). Ids follow the stock peerjs client's rule (letters and digits, single '-', '_' or space
 * between them) and the server's limit of 64 characters. Pure: no DOM.
 */
export const ID_MAX = 64;
const ID_RE = /^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$/;
const LINK_PATH = /^\/l\/([^/?#]+)\/?$/;

export function parseTarget(text, origin) {
	const t = String(text || '').trim();
	if (t === '') return { kind: 'empty' };
	if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t) || t.startsWith('/l/') || /^[\w-]+(\.[\w-]+)+(:\d+)?\//.test(t)) {
		let u;
		try { u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(t) || t.startsWith('/') ? t : `https://${t}`, origin); } catch { u = null; }
		if (u && LINK_PATH.test(u.pathname)) {
			if (u.origin === origin) return { kind: 'link', url: u.href, path: u.pathname };
			return { kind: 'error', msg: `That is a share link for another server (${u.host}). Open it in your browser’s address bar instead.` };
		}
		return { kind: 'error', msg: 'That is a web address, not an ID. Paste the other person’s ID (shown at the top of their page), or open the share link they sent you.' };
	}
	if (t.length > ID_MAX) return { kind: 'error', msg: `That is too long for an ID (${t.length} characters; at most ${ID_MAX}).` };
	if (!ID_RE.test(t)) {
		const bad = Array.from(t).find((c) => !/[A-Za-z0-9 _-]/.test(c));
		return { kind: 'error', msg: bad
			? `An ID has only letters, digits, “-”, “_” and spaces — “${bad}” cannot be part of one. Check what you copied.`
			: 'An ID cannot start or end with “-”, “_” or a space, or have two of them in a row. Check what you copied.' };
	}
	return { kind: 'id', id: t };
}
