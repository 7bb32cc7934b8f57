/*
 * security-code.js — a code both people read aloud to check that nobody (the signaling server included) sits in
 * the middle of their connection. SECURITY.md ("The security code") has the reasoning; in short:
 *
 * A man in the middle must present its own DTLS certificate to each side, so each side sees a different set of
 * fingerprints. A code made from the fingerprints alone can be ground: the server sees one side's fingerprint
 * first and can try certificates for the other leg until the two short codes collide (8 digits: ~390 core-seconds
 * in JavaScript). So the code also covers two random nonces, and their order makes grinding useless:
 *   1. the side that opens the connection (A) picks nonce_A and sends only commit = SHA-256(nonce_A) with its
 *      offer (in the PeerJS metadata), before it has seen the other side's answer;
 *   2. the other side (B) answers and, only after it has that commit, sends its own random nonce_B;
 *   3. A reveals nonce_A only once it has nonce_B and the answer (so every fingerprint on its side is fixed);
 *      B checks SHA-256(nonce_A) == commit;
 *   4. both show words from SHA-256(all fingerprints of both connections sorted, commit, nonce_A, nonce_B).
 * A middleman has to fix its fingerprint toward A and the nonce_B it gives A before it learns nonce_A, so A's code
 * is a fresh random value to it: one try, probability 2^-40 of a match, nothing to grind.
 * 5 words from a list of 256 = 40 bits.
 */

export const WORDS = [
	'acorn', 'adult', 'agent', 'album', 'alarm', 'amber', 'angle', 'ankle', 'apple', 'apron', 'arena', 'armor',
	'arrow', 'atlas', 'attic', 'autumn', 'bacon', 'badge', 'bagel', 'baker', 'balloon', 'bamboo', 'banana',
	'banjo', 'barrel', 'basket', 'beach', 'beaver', 'bell', 'bench', 'berry', 'bicycle', 'bishop', 'blanket',
	'blossom', 'boat', 'bonfire', 'boot', 'bottle', 'boulder', 'bowl', 'bracelet', 'branch', 'bread', 'brick',
	'bridge', 'broom', 'bubble', 'bucket', 'buffalo', 'bugle', 'butter', 'button', 'cabin', 'cactus', 'camel',
	'camera', 'candle', 'canoe', 'canyon', 'captain', 'carpet', 'carrot', 'castle', 'cedar', 'cello', 'chalk',
	'cherry', 'chess', 'chimney', 'circle', 'circus', 'clock', 'cloud', 'clover', 'coconut', 'comet', 'compass',
	'copper', 'coral', 'cotton', 'cowboy', 'crayon', 'cricket', 'crown', 'cupcake', 'curtain', 'cushion',
	'dagger', 'daisy', 'dancer', 'desert', 'diamond', 'dinner', 'doctor', 'dolphin', 'donkey', 'dragon', 'drum',
	'eagle', 'easel', 'elbow', 'elephant', 'engine', 'falcon', 'feather', 'fence', 'fern', 'ferry', 'fiddle',
	'finger', 'flag', 'flute', 'forest', 'fossil', 'fountain', 'fox', 'garden', 'garlic', 'giant', 'ginger',
	'giraffe', 'glacier', 'glove', 'goat', 'gold', 'gorilla', 'grape', 'guitar', 'hammer', 'harbor', 'harp',
	'hawk', 'helmet', 'hippo', 'honey', 'horse', 'island', 'ivory', 'jacket', 'jaguar', 'jelly', 'jungle',
	'kayak', 'kettle', 'kitten', 'koala', 'ladder', 'lagoon', 'lamp', 'lantern', 'lemon', 'leopard', 'letter',
	'lily', 'lion', 'lizard', 'lobster', 'magnet', 'mango', 'maple', 'marble', 'meadow', 'melon', 'mirror',
	'mitten', 'monkey', 'moose', 'mountain', 'muffin', 'museum', 'needle', 'nest', 'noodle', 'ocean', 'olive',
	'onion', 'orange', 'orchid', 'otter', 'owl', 'paddle', 'palace', 'panda', 'parrot', 'peach', 'peanut',
	'pencil', 'pepper', 'piano', 'pickle', 'pillow', 'pilot', 'pirate', 'planet', 'plum', 'pocket', 'pony',
	'potato', 'pumpkin', 'puppet', 'quilt', 'rabbit', 'radio', 'rainbow', 'raven', 'ribbon', 'robot', 'rocket',
	'saddle', 'salmon', 'sandal', 'saturn', 'scarf', 'seal', 'shadow', 'shark', 'sheep', 'shell', 'ship',
	'silver', 'skate', 'sled', 'snail', 'socket', 'spider', 'spoon', 'squirrel', 'stamp', 'statue', 'sugar',
	'summer', 'sunset', 'swan', 'sweater', 'table', 'tiger', 'toast', 'tomato', 'tractor', 'trumpet', 'tulip',
	'turtle', 'umbrella', 'valley', 'velvet', 'violin', 'volcano', 'wagon', 'walnut', 'whale', 'window',
	'wizard', 'yogurt', 'zebra', 'zipper',
];
export const CODE_WORDS = 5;

const enc = new TextEncoder();

function hex(bytes) {
	return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256(text) {
	return new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(text)));
}

export function fingerprints(sdp) {
	const out = [];
	for (const line of String(sdp || '').split(/\r?\n/)) {
		const m = /^a=fingerprint:\s*(\S+)\s+([0-9A-Fa-f:]+)\s*$/.exec(line);
		if (m) out.push(`${m[1].toLowerCase()} ${m[2].toUpperCase()}`);
	}
	return [...new Set(out)];
}

/* Step 1: a fresh nonce and its commitment (both hex) */
export async function newCommitment() {
	const nonce = hex(crypto.getRandomValues(new Uint8Array(16)));
	return { nonce, commit: hex(await sha256(`p2plink-commit-v1\n${nonce}`)) };
}

/* Step 2: B's nonce */
export function newNonce() {
	return hex(crypto.getRandomValues(new Uint8Array(16)));
}

/* Step 3: does the revealed nonce open the commitment? */
export async function opensCommitment(nonce, commit) {
	if (typeof nonce !== 'string' || !/^[0-9a-f]{32}$/.test(nonce) || typeof commit !== 'string') return false;
	return hex(await sha256(`p2plink-commit-v1\n${nonce}`)) === commit;
}

/* The fingerprints of every connection the code must cover, or null while a description is missing */
export function pcFingerprints(pcs) {
	const all = [];
	for (const pc of pcs) {
		if (!pc || !pc.localDescription || !pc.remoteDescription) return null;
		const a = fingerprints(pc.localDescription.sdp);
		const b = fingerprints(pc.remoteDescription.sdp);
		if (!a.length || !b.length) return null;
		all.push(...a, ...b);
	}
	return [...new Set(all)].sort();
}

/* Step 4: the words. Both sides pass the same commit and nonces and (without a middleman) the same fingerprints. */
export async function securityWords(fps, commit, nonceA, nonceB) {
	const d = await sha256(['p2plink-sas-v1', ...fps, commit, nonceA, nonceB].join('\n'));
	return Array.from(d.slice(0, CODE_WORDS), (b) => WORDS[b]).join(' ');
}

/* Wait (up to ms) until every connection has both descriptions; resolves with the fingerprints or null */
export async function settledFingerprints(pcs, ms = 10000) {
	const t0 = performance.now();
	for (;;) {
		const fps = pcFingerprints(pcs);
		if (fps || performance.now() - t0 > ms) return fps;
		await new Promise((r) => setTimeout(r, 100));
	}
}

const NONCE_RE = /^[0-9a-f]{32}$/;

/* The opener's half (A): put `commit` in the offer's metadata; on B's nonce, fix the fingerprints, derive the words,
 * and only then send `nonce` (the reveal). One exchange per connection. */
export class SasOpener {
	static async create() { return new SasOpener(await newCommitment()); }
	constructor({ nonce, commit }) { this.nonce = nonce; this.commit = commit; this.used = false; }
	async onNonceB(nonceB, pcs) {
		if (this.used || typeof nonceB !== 'string' || !NONCE_RE.test(nonceB)) return null;
		this.used = true;
		const fps = await settledFingerprints(pcs);
		return fps ? securityWords(fps, this.commit, this.nonce, nonceB) : null;
	}
}

/* The answerer's half (B): made from the commit that came with the offer; send `nonce`; check the reveal. */
export class SasAnswerer {
	constructor(commit) { this.commit = typeof commit === 'string' ? commit : ''; this.nonce = newNonce(); this.used = false; }
	/* Resolves with the words, or throws SasMismatch when the reveal does not open the commitment */
	async onReveal(nonceA, pcs) {
		if (this.used) return null;
		this.used = true;
		if (!(await opensCommitment(nonceA, this.commit))) throw new SasMismatch();
		const fps = await settledFingerprints(pcs);
		return fps ? securityWords(fps, this.commit, nonceA, this.nonce) : null;
	}
}

export class SasMismatch extends Error {
	constructor() { super('The security check failed: the other side’s answer does not match what it promised. Someone may be in the middle — hang up.'); }
}
