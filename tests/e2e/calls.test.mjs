/*
 * calls.test.mjs — 1:1 video calls between headless Chromium contexts with fake camera and
 * microphone: accept → frames decode on both sides, security codes equal, remote sees
 * mute/camera state; decline; busy for a third peer; unknown id is "not available";
 * hang-up and tab close end the call on the other side and stop its tracks.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromiumMissing, launch, startServer, openApp, screenshot, within, serverAndBrowser, closeAll } from '../lib/browser.mjs';
import { establish, ring, tracksEnded, videoState } from '../lib/call-actions.mjs';

const skip = chromiumMissing() || false;
let srv, browser;

serverAndBrowser(skip, (s, b) => { srv = s; browser = b; });

async function pair() {
	const [A, B] = await Promise.all([openApp(browser, srv.baseUrl, { name: 'A' }), openApp(browser, srv.baseUrl, { name: 'B' })]);
	return { A, B };
}

test('call accepted: remote video decodes frames on both sides, security codes match', { skip, timeout: 60000 }, async () => {
	const { A, B } = await pair();
	try {
		await within(55000, 'accepted call', async () => {
			await ring(A, B);
			assert.match(await B.page.textContent('#incoming-text'), new RegExp(A.id));
			await screenshot(B.page, 'call-incoming');
			await screenshot(A.page, 'call-outgoing-ringing');
			await B.page.click('#incoming-accept');
			await A.page.waitForSelector('#call:not([hidden])', { timeout: 15000 });
			await B.page.waitForSelector('#call:not([hidden])', { timeout: 15000 });
			for (const P of [A, B]) {
				await P.page.waitForFunction(() => document.querySelector('#remote-video').videoWidth > 0, null, { timeout: 15000 });
				const s1 = await videoState(P.page);
				await P.page.waitForTimeout(1500);
				const s2 = await videoState(P.page);
				assert.ok(s2.width > 0, `${P.name}: remote videoWidth`);
				assert.ok(s2.frames > s1.frames, `${P.name}: decoded frames increase (${s1.frames} → ${s2.frames})`);
			}
			/* Security code: the same 5 words (40 bits) on both sides, after the commitment exchange. */
			const codeRe = /^[a-z]+( [a-z]+){4}$/;
			await A.page.waitForFunction((re) => new RegExp(re).test(document.querySelector('#call-security-code').textContent), codeRe.source);
			await B.page.waitForFunction((re) => new RegExp(re).test(document.querySelector('#call-security-code').textContent), codeRe.source);
			const ca = await A.page.textContent('#call-security-code');
			const cb = await B.page.textContent('#call-security-code');
			assert.equal(ca, cb, 'security codes equal');
			/* Quality readout and direct path. */
			await A.page.waitForFunction(() => /Round trip \d+ ms/.test(document.querySelector('#call-stats').textContent), null, { timeout: 10000 });
			assert.match(await A.page.textContent('#call-stats'), /path: direct/);
			/* and in words: loopback is a good connection */
			await A.page.waitForSelector('#call-quality:not([hidden])', { timeout: 10000 });
			assert.equal(await A.page.textContent('#call-quality'), 'Connection: good');
			/* Remote sees mute and camera-off. */
			await A.page.click('#mute-btn');
			await A.page.click('#cam-btn');
			await B.page.waitForSelector('#remote-muted:not([hidden])', { timeout: 5000 });
			await B.page.waitForSelector('#remote-camoff:not([hidden])', { timeout: 5000 });
			await screenshot(B.page, 'call-remote-muted-camera-off');
			await A.page.click('#mute-btn');
			await A.page.click('#cam-btn');
			await B.page.waitForSelector('#remote-camoff', { state: 'hidden', timeout: 5000 });
			await A.page.waitForTimeout(800);
			await screenshot(A.page, 'call-in-call');
		});
	} finally {
		await closeAll(A, B);
	}
});

test('hang-up ends the call on the other side and stops its tracks', { skip, timeout: 45000 }, async () => {
	const { A, B } = await pair();
	try {
		await within(40000, 'hang-up', async () => {
			await establish(A, B);
			await A.page.click('#hangup-btn');
			await B.page.waitForSelector('#call', { state: 'hidden', timeout: 5000 });
			assert.match(await B.page.textContent('#status'), /hung up/);
			assert.ok(await tracksEnded(A.page), 'A tracks stopped');
			assert.ok(await tracksEnded(B.page), 'B tracks stopped');
			assert.equal(await B.page.evaluate(() => globalThis.__p2plink.calls.state), 'idle');
			await screenshot(B.page, 'call-ended-by-remote');
		});
	} finally {
		await closeAll(A, B);
	}
});

test('closing the tab ends the call on the other side and stops its tracks', { skip, timeout: 45000 }, async () => {
	const { A, B } = await pair();
	try {
		await within(40000, 'tab close', async () => {
			await establish(A, B);
			const t0 = Date.now();
			await B.page.close();
			await A.page.waitForSelector('#call', { state: 'hidden', timeout: 10000 });
			console.log(`tab_close_detected_ms=${Date.now() - t0}`);
			assert.ok(await tracksEnded(A.page), 'A tracks stopped');
			assert.equal(await A.page.evaluate(() => globalThis.__p2plink.calls.state), 'idle');
		});
	} finally {
		await closeAll(A, B);
	}
});

test('declined call: caller is told "declined", nobody keeps a camera open', { skip, timeout: 40000 }, async () => {
	const { A, B } = await pair();
	try {
		await within(35000, 'decline', async () => {
			await ring(A, B);
			await B.page.click('#incoming-decline');
			await A.page.waitForSelector('#outgoing', { state: 'hidden', timeout: 5000 });
			assert.match(await A.page.textContent('#status'), /declined/);
			assert.equal(await A.page.evaluate(() => globalThis.__p2plink.calls.lastEnd.reason), 'declined');
			assert.ok(await tracksEnded(A.page), 'caller camera stopped');
			await screenshot(A.page, 'call-declined');
		});
	} finally {
		await closeAll(A, B);
	}
});

test('busy: a third peer calling someone in a call is refused, the call goes on', { skip, timeout: 50000 }, async () => {
	const { A, B } = await pair();
	const C = await openApp(browser, srv.baseUrl, { name: 'C' });
	try {
		await within(45000, 'busy', async () => {
			await establish(A, B);
			await C.page.fill('#peer-id', B.id);
			await C.page.click('#call-btn');
			await C.page.waitForFunction(() => globalThis.__p2plink.calls.lastEnd && globalThis.__p2plink.calls.state === 'idle', null, { timeout: 15000 });
			assert.equal(await C.page.evaluate(() => globalThis.__p2plink.calls.lastEnd.reason), 'busy');
			assert.match(await C.page.textContent('#status'), /busy/);
			await screenshot(C.page, 'call-busy');
			assert.equal(await B.page.evaluate(() => document.querySelector('#incoming').open), false, 'B never rang');
			assert.equal(await B.page.evaluate(() => globalThis.__p2plink.calls.state), 'active');
			assert.equal(await A.page.evaluate(() => globalThis.__p2plink.calls.state), 'active');
			const s1 = await videoState(A.page);
			await A.page.waitForTimeout(1000);
			assert.ok((await videoState(A.page)).frames > s1.frames, 'A–B call still running');
		});
	} finally {
		await closeAll(A, B, C);
	}
});

test('calling an id nobody has: "offline" (server EXPIRE → peer-unavailable)', { skip, timeout: 40000 }, async () => {
	const A = await openApp(browser, srv.baseUrl, { name: 'A' });
	try {
		await within(35000, 'unavailable', async () => {
			await A.page.fill('#peer-id', 'nobody-here-12345');
			await A.page.click('#call-btn');
			await A.page.waitForFunction(() => globalThis.__p2plink.calls.lastEnd, null, { timeout: 30000 });
			assert.equal(await A.page.evaluate(() => globalThis.__p2plink.calls.lastEnd.reason), 'unavailable');
			assert.match(await A.page.textContent('#status'), /offline/);
			assert.ok(await tracksEnded(A.page), 'camera stopped');
			await screenshot(A.page, 'call-unavailable');
		});
	} finally {
		await closeAll(A);
	}
});

test('the caller\'s display name is shown on the ring and on a file offer (sent peer to peer)', { skip, timeout: 50000 }, async () => {
	const { A, B } = await pair();
	try {
		await within(45000, 'names', async () => {
			let serverSawName = false;
			A.page.on('websocket', (ws) => ws.on('framesent', (f) => { if (String(f.payload).includes('Ana Lima')) serverSawName = true; }));
			await A.page.fill('#my-name', 'Ana Lima');
			await A.page.dispatchEvent('#my-name', 'change');
			await ring(A, B);
			assert.match(await B.page.textContent('#incoming-title'), /^Ana Lima is calling$/);
			assert.match(await B.page.textContent('#incoming-text'), new RegExp(`Ana Lima \\(${A.id}\\)`));
			await screenshot(B.page, 'call-incoming-with-name');
			await B.page.click('#incoming-decline');
			await A.page.waitForSelector('#outgoing', { state: 'hidden', timeout: 5000 });
			await A.page.evaluate(() => globalThis.__p2plink.files.send(document.querySelector('#peer-id').value.trim(), [new File(['x'], 'x.txt')]));
			const card = B.page.locator('.transfer[data-dir=in]').first();
			await card.waitFor({ timeout: 20000 });
			assert.match(await card.textContent(), /From Ana Lima \(/);
			assert.equal(serverSawName, false, 'the name never went through the signaling server');
			assert.equal(await A.page.evaluate(() => localStorage.getItem('p2plink.name')), 'Ana Lima', 'kept on this device');
		});
	} finally {
		await closeAll(A, B);
	}
});

test('busy: the person in a call is told who tried, and can call back', { skip, timeout: 60000 }, async () => {
	const { A, B } = await pair();
	const C = await openApp(browser, srv.baseUrl, { name: 'C' });
	try {
		await within(55000, 'busy notice', async () => {
			await C.page.fill('#my-name', 'Carla');
			await C.page.dispatchEvent('#my-name', 'change');
			await establish(A, B);
			await C.page.fill('#peer-id', B.id);
			await C.page.click('#call-btn');
			await C.page.waitForFunction(() => globalThis.__p2plink.calls.lastEnd, null, { timeout: 15000 });
			assert.match(await C.page.textContent('#status'), /told them you tried/);
			await B.page.waitForFunction(() => /Carla .* tried to call you while you were in a call/.test(document.querySelector('#call-status').textContent), null, { timeout: 5000 });
			await A.page.click('#hangup-btn');
			await B.page.waitForSelector('#call', { state: 'hidden', timeout: 10000 });
			const notice = B.page.locator('#notices .notice[data-kind=busy]');
			assert.match(await notice.textContent(), /Carla/);
			await screenshot(B.page, 'call-busy-notice');
			await notice.locator('.call-back-btn').click();
			await C.page.waitForSelector('#incoming[open]', { timeout: 15000 });
			assert.match(await C.page.textContent('#incoming-text'), new RegExp(B.id));
		});
	} finally {
		await closeAll(A, B, C);
	}
});

test('a missed call leaves "Call back" behind', { skip, timeout: 50000 }, async () => {
	const { A, B } = await pair();
	try {
		await within(45000, 'missed', async () => {
			await ring(A, B);
			await A.page.click('#outgoing-cancel');
			await B.page.waitForSelector('#notices .notice[data-kind=missed]', { timeout: 10000 });
			await B.page.click('#notices .call-back-btn');
			await A.page.waitForSelector('#incoming[open]', { timeout: 15000 });
			assert.match(await A.page.textContent('#incoming-text'), new RegExp(B.id));
		});
	} finally {
		await closeAll(A, B);
	}
});

test('screen share: the screen replaces the camera on the same connection, the other side is told, and back', { skip, timeout: 50000 }, async () => {
	const { A, B } = await pair();
	try {
		await within(45000, 'screen share', async () => {
			await establish(A, B);
			await A.page.click('#screen-btn');
			await B.page.waitForSelector('#remote-screen:not([hidden])', { timeout: 10000 });
			const sent = () => A.page.evaluate(() => globalThis.__p2plink.calls.media.peerConnection.getSenders().find((s) => s.track && s.track.kind === 'video').track.label);
			assert.match(await sent(), /^screen/, 'the video sender carries the screen');
			assert.equal(await A.page.getAttribute('#screen-btn', 'aria-pressed'), 'true');
			const s1 = await videoState(B.page);
			await B.page.waitForTimeout(1000);
			assert.ok((await videoState(B.page)).frames > s1.frames, 'B keeps decoding frames');
			await screenshot(B.page, 'call-remote-screen-share');
			await A.page.click('#screen-btn');
			await B.page.waitForSelector('#remote-screen', { state: 'hidden', timeout: 10000 });
			// replaceTrack() is asynchronous: the other side may be told before the camera is back on the sender
			await A.page.waitForFunction(() => !/^screen/.test(globalThis.__p2plink.calls.media.peerConnection.getSenders()
				.find((s) => s.track && s.track.kind === 'video').track.label), null, { timeout: 10000 })
				.catch(() => {});
			assert.doesNotMatch(await sent(), /^screen/, 'back to the camera');
		});
	} finally {
		await closeAll(A, B);
	}
});

test('picture in picture: their video floats, and goes back when the call ends', { skip, timeout: 45000 }, async (t) => {
	const { A, B } = await pair();
	try {
		if (!(await A.page.evaluate(() => document.pictureInPictureEnabled))) { t.skip('this Chromium has no picture-in-picture'); return; }
		await within(40000, 'pip', async () => {
			await establish(A, B);
			await A.page.waitForFunction(() => document.querySelector('#remote-video').videoWidth > 0, null, { timeout: 15000 });
			await A.page.click('#pip-btn');
			await A.page.waitForFunction(() => document.pictureInPictureElement && document.pictureInPictureElement.id === 'remote-video', null, { timeout: 5000 });
			await B.page.click('#hangup-btn');
			await A.page.waitForSelector('#call', { state: 'hidden', timeout: 10000 });
			await A.page.waitForFunction(() => !document.pictureInPictureElement, null, { timeout: 5000 });
		});
	} finally {
		await closeAll(A, B);
	}
});
