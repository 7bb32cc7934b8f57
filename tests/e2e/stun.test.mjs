/*
 * stun.test.mjs — ICE without third parties: the app's ICE configuration comes from our server
 * (GET /peerjs/config) and names only our own STUN responder, and Chromium gathers a
 * server-reflexive candidate from it. Needs our Janus server (the reference server has no
 * STUN responder: the test skips there).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, chromiumMissing, startServer } from '../lib/browser.mjs';

const skip = chromiumMissing() || false;
let srv, browser;

before(async () => {
	if (skip) return;
	srv = await startServer();
	/* Without the fake media flags: with camera access granted, Chromium shows real host addresses and then drops a
	 * srflx candidate equal to one of them (as on this loopback test box); without it host addresses are mDNS names
	 * and the server-reflexive candidate is reported */
	browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS.filter((a) => !a.includes('media-stream')) });
});

after(async () => {
	if (browser) await browser.close();
	if (srv) await srv.stop();
});

test('the app gets its ICE servers from us and gathers a server-reflexive candidate from our STUN responder', { skip }, async (t) => {
	const context = await browser.newContext({ ignoreHTTPSErrors: true });
	t.after(() => context.close());
	const page = await context.newPage();
	await page.goto(srv.baseUrl);
	const result = await page.evaluate(async () => {
		const config = await (await fetch('/peerjs/config')).json();
		if (!config.iceServers.length) return { config, candidates: [] };
		const pc = new RTCPeerConnection(config);
		pc.createDataChannel('probe');
		const candidates = [];
		pc.onicecandidate = (e) => { if (e.candidate) candidates.push(e.candidate.candidate); };
		await pc.setLocalDescription(await pc.createOffer());
		await new Promise((resolve) => {
			pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') resolve(); };
			setTimeout(resolve, 8000);
		});
		pc.close();
		return { config, candidates };
	});
	if (!result.config.iceServers.length) {
		t.skip('the server under test hands out no STUN server (reference server or lan_only)');
		return;
	}
	const urls = result.config.iceServers.flatMap((s) => [].concat(s.urls));
	const host = new URL(srv.baseUrl).hostname;
	assert.ok(urls.length > 0 && urls.every((u) => u.startsWith(`stun:${host}:`)), `ICE servers: ${urls.join(', ')}`);
	assert.ok(result.candidates.some((c) => / typ srflx /.test(c)), `no srflx candidate among ${result.candidates.join(' | ')}`);
});
