/*
 * nat.test.mjs — calls between browsers behind real NAT gateways, with our STUN responder as the only STUN
 * server in reach. Run by tests/nat/run.sh, which builds the namespaces (see the drawing there) and starts this
 * file inside the "inet" namespace; each Chromium runs in its own LAN namespace.
 *   - lan1 ↔ lan2, both behind port-preserving NATs: the call connects directly, over the NATs' public addresses
 *     that our STUN responder reported (server-reflexive candidates);
 *   - lan1 ↔ lan2, lan2's gateway stops forwarding for 3 s (a short drop): both sides show "Reconnecting…" and
 *     the call comes back on its own, frames flowing again, with the same camera and microphone tracks;
 *   - lan1 ↔ lan2, one gateway (the callee's, then the caller's) goes down for 3 s and comes back with a new port
 *     range (a NAT rebinding, as on a network change): the old path is gone for good, so the call comes back only
 *     over the new connection with the same call identity that the caller makes;
 *   - lan1 ↔ lan2, lan2's gateway stops forwarding and stays down: both sides show "Reconnecting…" within
 *     seconds, and after the app's 20 s bound both end the call with the same sentence and release the camera;
 *   - a file transfer lan1 → lan2 across a 3 s drop of lan2's network: it pauses and finishes, verified (a
 *     transfer is not moved to a new connection: a drop that ICE heals by itself is what it survives);
 *   - lan1 ↔ lan3, lan3 behind a symmetric NAT: no direct path exists and p2plink relays nothing, so both people
 *     are told so in plain words within the app's 20 s bound, and both apps return to idle.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumMissing, launch, openApp, screenshot, within } from '../lib/browser.mjs';
import { establish, tracksEnded, videoState } from '../lib/call-actions.mjs';
import { lowContrast } from '../lib/ui-checks.mjs';
import { startJanus } from '../lib/janus.mjs';

const prefix = process.env.P2PLINK_NAT_PREFIX;
const serverIp = process.env.P2PLINK_NAT_SERVER;
const skip = (!prefix && 'run through tests/nat/run.sh, which builds the namespaces') || chromiumMissing() || false;
const wrapper = fileURLToPath(new URL('./chromium-in-netns.sh', import.meta.url));
/* Public (inet-side) address of each NAT: what the other browser must see as the remote end */
const natPublic = { lan1: '198.51.100.2', lan2: '198.51.100.6', lan3: '198.51.100.10' };

let srv;
const browsers = {};

before(async () => {
	if (skip) return;
	srv = await startJanus({ host: serverIp });
	for (const lan of ['lan1', 'lan2', 'lan3']) {
		browsers[lan] = await launch({ executablePath: wrapper, env: { ...process.env, P2PLINK_NETNS: `${prefix}-${lan}` } });
	}
});

after(async () => {
	for (const b of Object.values(browsers)) await b.close().catch(() => {});
	if (srv) await srv.stop();
});

const appIn = (lan, opts = {}) => openApp(browsers[lan], srv.baseUrl, { name: lan, ...opts });
const PHONE = { width: 390, height: 844 };
const LAPTOP = { width: 1280, height: 800 };
const ns = (n, ...cmd) => execFileSync('ip', ['netns', 'exec', `${prefix}-${n}`, ...cmd]);
/* Everything through nat2 is dropped: media, the DataChannels and B's signaling socket alike */
const cutNat2 = () => ns('nat2', 'iptables', '-I', 'FORWARD', '-j', 'DROP');
const mendNat2 = () => { try { ns('nat2', 'iptables', '-D', 'FORWARD', '-j', 'DROP'); } catch { /* not inserted */ } };

const callState = (page) => page.evaluate(() => globalThis.__p2plink.calls.state);
const waitState = (page, want, timeout) => page.waitForFunction((w) => globalThis.__p2plink.calls.state === w, want, { timeout, polling: 100 });
/* The camera and microphone tracks of the call are still the same, running ones (no new permission prompt) */
const sameTracks = (page) => page.evaluate(() => {
	const c = globalThis.__p2plink.calls;
	return c.localStream === c.lastLocalStream && c.localStream.getTracks().length > 0 && c.localStream.getTracks().every((t) => t.readyState === 'live');
});
async function framesFlow(P) {
	const s1 = await videoState(P.page);
	await P.page.waitForFunction((f) => document.querySelector('#remote-video').getVideoPlaybackQuality().totalVideoFrames > f + 10, s1.frames, { timeout: 15000 });
}
/* Both sides in a call with frames flowing, and what they show while reconnecting: visible, readable, in the viewport */
async function showsReconnecting(P, shot) {
	await waitState(P.page, 'reconnecting', 15000);
	assert.ok(await P.page.isVisible('#call-reconnecting'), `${P.name}: "Reconnecting…" shown`);
	assert.match(await P.page.textContent('#call-reconnect-left'), /Trying for \d+ more seconds?/);
	const c = await lowContrast(P.page);
	assert.deepEqual(c.bad, [], `${P.name}: contrast while reconnecting`);
	if (shot) await screenshot(P.page, shot);
}

/* The selected ICE candidate pair of the running call, and every local candidate gathered, from getStats() */
const callPath = (page) => page.evaluate(async () => {
	const pc = globalThis.__p2plink.calls.media.peerConnection;
	const stats = [...(await pc.getStats()).values()];
	const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
	const pair = stats.find((s) => s.id === transport.selectedCandidatePairId);
	const cand = (id) => { const c = stats.find((s) => s.id === id); return { type: c.candidateType, address: c.address, port: c.port }; };
	return {
		local: cand(pair.localCandidateId), remote: cand(pair.remoteCandidateId),
		gathered: stats.filter((s) => s.type === 'local-candidate').map((c) => ({ type: c.candidateType, address: c.address, url: c.url })),
	};
});

/* Break the network with `cut`, see both sides reconnecting, mend it 3 s after the cut, and see both back in the
 * call: "Reconnecting…" gone, frames flowing, the same tracks. Seconds from the cut to "Reconnecting…" on both
 * and from the mend to both back. */
async function outageOf3s(A, B, cut, mend, shots) {
	const t0 = Date.now();
	cut();
	await Promise.all([showsReconnecting(A, shots[0]), showsReconnecting(B, shots[1])]);
	const shown = (Date.now() - t0) / 1000;
	const wait = 3000 - (Date.now() - t0);
	if (wait > 0) await A.page.waitForTimeout(wait);
	mend();
	const t1 = Date.now();
	for (const P of [A, B]) {
		await waitState(P.page, 'active', 19000);
		assert.ok(await P.page.isHidden('#call-reconnecting'), `${P.name}: "Reconnecting…" gone`);
		await framesFlow(P);
		assert.ok(await sameTracks(P.page), `${P.name}: the same camera and microphone tracks, still live`);
	}
	return { shown, back: (Date.now() - t1) / 1000 };
}

const status = (page) => page.textContent('#status');
const idle = (page) => page.evaluate(() => globalThis.__p2plink.calls.state === 'idle' &&
	document.querySelector('#call').hidden && !document.querySelector('#outgoing').open && !document.querySelector('#incoming').open);

test('behind two ordinary NATs, a call connects directly over the addresses our STUN responder reported', { skip, timeout: 90000 }, async () => {
	const [A, B] = await Promise.all([appIn('lan1'), appIn('lan2')]);
	try {
		await within(80000, 'call across NATs', async () => {
			const ice = await A.page.evaluate(async () => (await fetch('/peerjs/config')).json());
			const urls = ice.iceServers.flatMap((s) => [].concat(s.urls));
			assert.ok(urls.length > 0 && urls.every((u) => u.startsWith(`stun:${serverIp}:`)), `ICE servers: ${urls.join(', ')}`);
			await establish(A, B);
			for (const P of [A, B]) {
				await P.page.waitForFunction(() => document.querySelector('#remote-video').videoWidth > 0, null, { timeout: 20000 });
				const s1 = await videoState(P.page);
				await P.page.waitForTimeout(1500);
				const s2 = await videoState(P.page);
				assert.ok(s2.frames > s1.frames, `${P.name}: remote video frames decode (${s1.frames} → ${s2.frames})`);
			}
			for (const [P, own, other] of [[A, 'lan1', 'lan2'], [B, 'lan2', 'lan1']]) {
				const path = await callPath(P.page);
				console.log(`# ${own}: selected pair ${JSON.stringify(path.local)} ↔ ${JSON.stringify(path.remote)}`);
				/* Our STUN responder told this browser its NAT's public address: the only STUN server there is */
				const srflx = path.gathered.filter((c) => c.type === 'srflx');
				assert.ok(srflx.some((c) => c.address === natPublic[own]), `${own}: no srflx candidate ${natPublic[own]} in ${JSON.stringify(path.gathered)}`);
				assert.ok(srflx.every((c) => !c.url || c.url.startsWith(`stun:${serverIp}:`)), `${own}: srflx from elsewhere: ${JSON.stringify(srflx)}`);
				/* Media flows to the other side's NAT, not to its private address (unreachable) nor through a relay */
				assert.equal(path.remote.address, natPublic[other], `${own}: remote end of the selected pair`);
				assert.notEqual(path.local.type, 'relay');
				await P.page.waitForFunction(() => /path: direct/.test(document.querySelector('#call-stats').textContent), null, { timeout: 10000 });
			}
			await screenshot(A.page, 'nat-call-connected');
			await A.page.click('#hangup-btn');
			await B.page.waitForFunction(() => globalThis.__p2plink.calls.state === 'idle', null, { timeout: 10000 });
		});
	} finally {
		for (const P of [A, B]) await P.context.close().catch(() => {});
	}
});

test('a 3 s network drop on one side: both show "Reconnecting…", the call comes back with frames flowing and the same tracks', { skip, timeout: 90000 }, async () => {
	const [A, B] = await Promise.all([appIn('lan1', { viewport: PHONE, colorScheme: 'dark' }), appIn('lan2', { viewport: LAPTOP })]);
	try {
		await within(80000, '3 s drop', async () => {
			await establish(A, B);
			for (const P of [A, B]) { await waitState(P.page, 'active', 20000); await framesFlow(P); }
			const { shown, back } = await outageOf3s(A, B, cutNat2, mendNat2, ['nat-reconnecting-phone-dark', 'nat-reconnecting-laptop-light']);
			for (const P of [A, B]) assert.match(await status(P.page), /Reconnected/);
			const spells = await Promise.all([A, B].map((P) => P.page.evaluate(() => globalThis.__p2plink.calls.reconnects)));
			const resumes = await A.page.evaluate(() => globalThis.__p2plink.calls.resumeN);
			console.log(`# reconnecting shown ${shown.toFixed(1)} s after the drop; both back ${back.toFixed(1)} s after the network returned; spells A=${spells[0].length} B=${spells[1].length}; new connections ${resumes}`);
			for (const [i, P] of [A, B].entries()) assert.ok(spells[i].length >= 1 && spells[i].every((x) => x.back), `${P.name}: ${JSON.stringify(spells[i])}`);
			await screenshot(A.page, 'nat-reconnected-phone-dark');
			await A.page.click('#hangup-btn');
			await waitState(B.page, 'idle', 10000);
			assert.match(await status(B.page), /hung up/);
		});
	} finally {
		mendNat2();
		for (const P of [A, B]) await P.context.close().catch(() => {});
	}
});

/* Either side's network may change: the callee's (B, lan2) and the caller's (A, lan1, which also makes the new
 * connection, once its own signaling socket is back) */
for (const { moving, lan, n, gw } of [{ moving: 'callee', lan: 'lan2', n: 2, gw: '198.51.100.5' }, { moving: 'caller', lan: 'lan1', n: 1, gw: '198.51.100.1' }]) {
	test(`a NAT rebinding on the ${moving}'s side (its gateway goes down and comes back mapping to new ports): the call comes back over a new connection with the same call`, { skip, timeout: 90000 }, async () => {
		const [A, B] = await Promise.all([appIn('lan1', { viewport: LAPTOP, colorScheme: moving === 'callee' ? 'dark' : 'light' }), appIn('lan2', { viewport: PHONE, colorScheme: moving === 'callee' ? 'light' : 'dark' })]);
		const [Moving, Other] = moving === 'callee' ? [B, A] : [A, B];
		const gateway = `nat${n}`, out = `${prefix}-o${n}`;
		/* UDP (the media and data channels) masqueraded to other ports, ahead of the gateway's own rule */
		const newPorts = (op) => ns(gateway, 'iptables', '-t', 'nat', op, 'POSTROUTING', ...(op === '-I' ? ['1'] : []), '-o', out, '-p', 'udp', '-j', 'MASQUERADE', '--to-ports', '40000-40999');
		const linkUp = () => { ns(gateway, 'ip', 'link', 'set', out, 'up'); ns(gateway, 'ip', 'route', 'replace', 'default', 'via', gw); };
		try {
			await within(80000, `rebinding (${moving})`, async () => {
				await establish(A, B);
				for (const P of [A, B]) { await waitState(P.page, 'active', 20000); await framesFlow(P); }
				const before = (await callPath(Other.page)).remote;
				/* Link down: the kernel forgets every mapping masqueraded through it (media and signaling alike); it
				 * comes back mapping to other ports, so the old candidate pair can never work again */
				const linkDown = () => { ns(gateway, 'ip', 'link', 'set', out, 'down'); newPorts('-I'); };
				const { back } = await outageOf3s(A, B, linkDown, linkUp, moving === 'callee' ? ['nat-reconnecting-laptop-dark', 'nat-reconnecting-phone-light'] : []);
				const after = (await callPath(Other.page)).remote;
				const resumes = await A.page.evaluate(() => globalThis.__p2plink.calls.resumeN);
				console.log(`# rebinding (${moving}): ${lan} was ${before.address}:${before.port}, now ${after.address}:${after.port}; back ${back.toFixed(1)} s after the link came up, after ${resumes} new connection(s)`);
				assert.equal(after.address, natPublic[lan]);
				assert.ok(after.port >= 40000 && after.port <= 40999, `media now flows to ${lan}'s new mapping (port ${after.port})`);
				assert.ok(resumes >= 1, 'the caller made a new connection');
				/* The new connection has new keys: a new security code, the same on both sides */
				for (const P of [A, B]) await P.page.waitForFunction(() => globalThis.__p2plink.calls.code, null, { timeout: 15000 });
				const codes = await Promise.all([A, B].map((P) => P.page.evaluate(() => globalThis.__p2plink.calls.code)));
				assert.equal(codes[0], codes[1]);
				for (const P of [A, B]) assert.ok(await P.page.isVisible('#call-code-new'), `${P.name}: told the code is new`);
				if (moving === 'callee') await screenshot(B.page, 'nat-rebound-phone-light');
				await Moving.page.click('#hangup-btn');
				await waitState(Other.page, 'idle', 10000);
			});
		} finally {
			try { linkUp(); } catch { /* as it was */ }
			try { newPorts('-D'); } catch { /* not inserted */ }
			for (const P of [A, B]) await P.context.close().catch(() => {});
		}
	});
}

test('a network that stays down: both sides show "Reconnecting…", then after 20 s both end the call with the same sentence and release the camera', { skip, timeout: 90000 }, async () => {
	const [A, B] = await Promise.all([appIn('lan1', { viewport: PHONE }), appIn('lan2', { viewport: LAPTOP, colorScheme: 'dark' })]);
	try {
		await within(80000, 'network stays down', async () => {
			await establish(A, B);
			for (const P of [A, B]) await waitState(P.page, 'active', 20000);
			const t0 = Date.now();
			cutNat2();
			await Promise.all([showsReconnecting(A), showsReconnecting(B)]);
			const shown = (Date.now() - t0) / 1000;
			assert.ok(shown < 12, `"Reconnecting…" only after ${shown} s`);
			/* Not over before the bound: still reconnecting 15 s in */
			await A.page.waitForTimeout(Math.max(0, 15000 - (Date.now() - t0)));
			for (const P of [A, B]) assert.equal(await callState(P.page), 'reconnecting', `${P.name}: still trying at 15 s`);
			const ended = await Promise.all([A, B].map(async (P) => { await waitState(P.page, 'idle', 20000); return (Date.now() - t0) / 1000; }));
			console.log(`# reconnecting shown ${shown.toFixed(1)} s after the drop; call ended at A ${ended[0].toFixed(1)} s, B ${ended[1].toFixed(1)} s`);
			for (const [i, P] of [A, B].entries()) {
				assert.ok(ended[i] >= 20 && ended[i] < 35, `${P.name}: ended at ${ended[i]} s`);
				assert.match(await status(P.page), /was lost and could not be restored within 20 s — the call ended\./);
				assert.equal(await P.page.evaluate(() => globalThis.__p2plink.calls.lastEnd.reason), 'reconnect-failed');
				assert.ok(await tracksEnded(P.page), `${P.name}: camera and microphone released`);
				assert.ok(await idle(P.page), `${P.name}: back to idle`);
				assert.equal(await P.page.textContent('.notice[data-kind=lost] .call-back-btn'), 'Call again');
			}
			await screenshot(A.page, 'nat-reconnect-gave-up-phone-light');
			await screenshot(B.page, 'nat-reconnect-gave-up-laptop-dark');
		});
	} finally {
		mendNat2();
		for (const P of [A, B]) await P.context.close().catch(() => {});
	}
});

test('a file transfer across a 3 s network drop pauses and finishes, SHA-256 verified on both sides', { skip, timeout: 120000 }, async () => {
	const [A, B] = await Promise.all([appIn('lan1'), appIn('lan2')]);
	const dir = mkdtempSync(join(tmpdir(), 'p2plink-nat-files-'));
	try {
		await within(110000, 'file across a drop', async () => {
			const path = join(dir, 'across a drop.bin');
			const bytes = randomBytes(96 * 1024 * 1024);
			writeFileSync(path, bytes);
			const want = createHash('sha256').update(bytes).digest('hex');
			await A.page.fill('#peer-id', B.id);
			await A.page.setInputFiles('#file-input', path);
			await B.page.waitForSelector('.transfer[data-dir=in] .accept-btn', { timeout: 20000 });
			const download = B.page.waitForEvent('download', { timeout: 100000 });
			await B.page.click('.transfer[data-dir=in] .accept-btn');
			const received = () => B.page.evaluate(() => document.querySelector('.transfer[data-dir=in] progress').value);
			await B.page.waitForFunction(() => document.querySelector('.transfer[data-dir=in] progress').value > 4 * 1024 * 1024, null, { timeout: 30000, polling: 50 });
			cutNat2();
			const atCut = await received();
			await B.page.waitForTimeout(3000);
			const atMend = await received();
			mendNat2();
			const d = await download;
			console.log(`# file: ${(atCut / 2 ** 20).toFixed(1)} MiB in at the drop, ${(atMend / 2 ** 20).toFixed(1)} MiB when the network came back, then finished`);
			assert.ok(atMend < bytes.length, 'the drop happened during the transfer');
			assert.equal(createHash('sha256').update(readFileSync(await d.path())).digest('hex'), want, 'downloaded bytes hash');
			await B.page.waitForSelector('.transfer[data-dir=in][data-state=verified]', { timeout: 10000 });
			await A.page.waitForSelector('.transfer[data-dir=out][data-state=verified]', { timeout: 10000 });
		});
	} finally {
		mendNat2();
		rmSync(dir, { recursive: true, force: true });
		for (const P of [A, B]) await P.context.close().catch(() => {});
	}
});

test('behind a symmetric NAT there is no direct path: both sides are told why and return to idle', { skip, timeout: 90000 }, async () => {
	const [A, C] = await Promise.all([appIn('lan1'), appIn('lan3')]);
	try {
		await within(80000, 'call into a symmetric NAT', async () => {
			const t0 = Date.now();
			await A.page.fill('#peer-id', C.id);
			await A.page.click('#call-btn');
			const told = (page) => page.waitForFunction(() => /No direct connection/.test(document.querySelector('#status').textContent),
				null, { timeout: 35000 });
			await Promise.all([told(A.page), told(C.page)]);
			const seconds = (Date.now() - t0) / 1000;
			console.log(`# both sides told after ${seconds.toFixed(1)} s`);
			assert.match(await status(A.page), /symmetric NAT/);
			// Long ids are shown middle-ellipsized (the app keeps them inside a 390 px screen): match the start of the id
			assert.match(await status(C.page), new RegExp(`${A.id.slice(0, 8)}.*tried to call you.*symmetric NAT`));
			await screenshot(A.page, 'nat-symmetric-caller');
			await screenshot(C.page, 'nat-symmetric-callee');
			for (const P of [A, C]) assert.ok(await idle(P.page), `${P.name}: back to idle`);
			/* The callee never rang: nothing reached it but the signaling */
			assert.equal(await C.page.evaluate(() => globalThis.__p2plink.calls.state), 'idle');
		});
	} finally {
		for (const P of [A, C]) await P.context.close().catch(() => {});
	}
});
