/*
 * nat.test.mjs — calls between browsers behind real NAT gateways, with our STUN responder as the only STUN
 * server in reach. Run by tests/nat/run.sh, which builds the namespaces (see the drawing there) and starts this
 * file inside the "inet" namespace; each Chromium runs in its own LAN namespace.
 *   - lan1 ↔ lan2, both behind port-preserving NATs: the call connects directly, over the NATs' public addresses
 *     that our STUN responder reported (server-reflexive candidates);
 *   - lan1 ↔ lan2 again, then lan2's gateway stops forwarding (the other person's network drops): the call ends
 *     on the lan1 side within seconds and its camera and microphone are released;
 *   - lan1 ↔ lan3, lan3 behind a symmetric NAT: no direct path exists and p2plink relays nothing, so both people
 *     are told so in plain words within the app's 20 s bound, and both apps return to idle.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromiumMissing, launch, openApp, screenshot, within } from '../lib/browser.mjs';
import { establish, tracksEnded, videoState } from '../lib/call-actions.mjs';
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

const appIn = (lan) => openApp(browsers[lan], srv.baseUrl, { name: lan });

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

test('when the other side drops off the network, the call ends here within seconds and the camera is released', { skip, timeout: 90000 }, async () => {
	const [A, B] = await Promise.all([appIn('lan1'), appIn('lan2')]);
	/* Everything through nat2 is dropped: media, the DataChannel and B's signaling socket alike */
	const cut = ['netns', 'exec', `${prefix}-nat2`, 'iptables', '-I', 'FORWARD', '-j', 'DROP'];
	try {
		await within(80000, 'network drop', async () => {
			await establish(A, B);
			await A.page.waitForFunction(() => globalThis.__p2plink.calls.state === 'active', null, { timeout: 20000 });
			const t0 = Date.now();
			execFileSync('ip', cut);
			await A.page.waitForFunction(() => globalThis.__p2plink.calls.state === 'idle', null, { timeout: 20000 });
			const seconds = (Date.now() - t0) / 1000;
			console.log(`# call ended ${seconds.toFixed(1)} s after the other side's network dropped`);
			assert.ok(seconds < 12, `call ended only after ${seconds} s`);
			assert.match(await status(A.page), /Lost the connection|connection .* failed|left/);
			assert.ok(await tracksEnded(A.page), 'camera and microphone released');
			assert.ok(await idle(A.page), 'back to idle');
		});
	} finally {
		try { execFileSync('ip', cut.map((a) => (a === '-I' ? '-D' : a))); } catch { /* not inserted */ }
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
