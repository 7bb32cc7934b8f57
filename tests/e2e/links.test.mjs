/*
 * links.test.mjs — share links in the browser app.
 * Always: the /l/<token> landing page explains itself and redeems nothing until the
 * visitor presses Continue (link previews must not use up clicks).
 * With a server that has the link endpoints (our Janus server): the landing page peeks (who the link reaches,
 * for what, expiry, uses left, online) without using a click; A creates a 1-click link in the UI, B opens it and
 * reaches A, C is told "used up" by the peek and A's list says used up; a revoked link stays listed as revoked;
 * an expired link is refused; calling a link-only peer without a link says so at once and keeps both connected.
 * Against a server without them (the reference PeerJS server answers 404) those skip.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromiumMissing, countWebSockets, hasLinkEndpoints, launch, startServer, openApp, screenshot, within, NO_LINKS, serverAndBrowser } from '../lib/browser.mjs';

const skip = chromiumMissing() || false;
let srv, browser, linkSupport = false;

serverAndBrowser(skip, (s, b, links) => { srv = s; browser = b; linkSupport = links; }, { askLinks: true });


async function visit(url, name) {
	const P = await openApp(browser, srv.baseUrl, { path: new URL(url, srv.baseUrl).pathname, name });
	await P.page.waitForSelector('#landing:not([hidden])', { timeout: 10000 });
	return P;
}

async function createLinkInUi(A, { ttl = '5min', clicks = 1, purpose = 'call' } = {}) {
	if (!(await A.page.evaluate(() => document.querySelector('#links').open))) await A.page.click('#links > summary');
	await A.page.selectOption('#link-purpose', purpose);
	await A.page.selectOption('#link-ttl', ttl);
	await A.page.fill('#link-clicks', String(clicks));
	const before = await A.page.inputValue('#link-url');
	await A.page.click('#link-create');
	await A.page.waitForFunction((b) => { const v = document.querySelector('#link-url').value; return v && v !== b; }, before, { timeout: 10000 });
	await A.page.waitForSelector('#link-qr svg', { timeout: 5000 });
	return A.page.inputValue('#link-url');
}

test('landing page explains the link and redeems nothing before Continue', { skip, timeout: 40000 }, async () => {
	const V = await openApp(browser, srv.baseUrl, { path: '/l/not-a-real-token-abc', name: 'V' });
	try {
		await within(35000, 'landing', async () => {
			let redeems = 0;
			await V.page.route('**/peerjs/links/redeem', (route) => { redeems++; route.continue(); });
			await V.page.waitForSelector('#landing:not([hidden])', { timeout: 10000 });
			assert.match(await V.page.textContent('#landing'), /Continue/);
			await V.page.waitForTimeout(1000);
			assert.equal(redeems, 0, 'no redeem on page load');
			await screenshot(V.page, 'link-landing');
			if (linkSupport) {
				/* The peek already knows the link is no good: said at once, no click to waste */
				await V.page.waitForSelector('#landing-peek-error:not([hidden])', { timeout: 10000 });
				assert.equal(await V.page.getAttribute('#landing-peek-error', 'data-code'), 'unknown');
				assert.match(await V.page.textContent('#landing-peek-error'), /not valid/);
				assert.equal(await V.page.isDisabled('#landing-go'), true);
				assert.equal(redeems, 0);
				return;
			}
			await V.page.click('#landing-go');
			await V.page.waitForSelector('#landing-result:not([hidden])', { timeout: 10000 });
			assert.equal(redeems, 1, 'one redeem after Continue');
			assert.match(await V.page.textContent('#landing-result'), /does not offer share links/);
		});
	} finally {
		await V.context.close();
	}
});

test('the landing page shows who the link reaches, for what, expiry and uses left, and uses no click', { skip, timeout: 60000 }, async (t) => {
	if (!linkSupport) { t.skip(NO_LINKS); return; }
	const A = await openApp(browser, srv.baseUrl, { name: 'A' });
	const opened = [A];
	try {
		await within(55000, 'peek', async () => {
			const url = await createLinkInUi(A, { clicks: 1, purpose: 'file', ttl: '1h' });
			for (const name of ['V1', 'V2', 'V3']) {
				const V = await visit(url, name);
				opened.push(V);
				await V.page.waitForSelector('#landing-peek:not([hidden])', { timeout: 10000 });
				assert.match(await V.page.textContent('#peek-target'), new RegExp(A.id));
				assert.equal(await V.page.textContent('#peek-purpose'), 'sending files');
				assert.match(await V.page.textContent('#peek-expires'), /^in (59|1:00):\d\d/);
				assert.equal(await V.page.textContent('#peek-uses'), '1');
				assert.match(await V.page.textContent('#peek-online'), /^online/);
				if (name === 'V1') await screenshot(V.page, 'link-landing-peek');
			}
			await A.page.evaluate(() => globalThis.__p2plink.links.refresh());
			await A.page.waitForFunction(() => /0 of 1 used/.test(document.querySelector('#link-list').textContent), null, { timeout: 5000 });
			/* and the one click is still there for the person who continues */
			await opened[3].page.click('#landing-go');
			await opened[3].page.waitForSelector('#landing', { state: 'hidden', timeout: 10000 });
		});
	} finally {
		for (const P of opened) await P.context.close().catch(() => {});
	}
});

test('1-click link: B reaches A through it, C is told "used up" before any click, A\'s list says used up', { skip, timeout: 60000 }, async (t) => {
	if (!linkSupport) { t.skip(NO_LINKS); return; }
	const A = await openApp(browser, srv.baseUrl, { name: 'A' });
	const opened = [A];
	try {
		await within(55000, 'link flow', async () => {
			const url = await createLinkInUi(A, { clicks: 1 });
			await screenshot(A.page, 'links-created');
			const B = await visit(url, 'B');
			opened.push(B);
			await B.page.click('#landing-go');
			await A.page.waitForSelector('#incoming[open]', { timeout: 20000 });
			assert.match(await A.page.textContent('#incoming-text'), new RegExp(B.id));
			await A.page.click('#incoming-accept');
			await B.page.waitForSelector('#call:not([hidden])', { timeout: 15000 });
			await B.page.click('#hangup-btn');
			const C = await visit(url, 'C');
			opened.push(C);
			await C.page.waitForSelector('#landing-peek-error:not([hidden])', { timeout: 10000 });
			assert.equal(await C.page.getAttribute('#landing-peek-error', 'data-code'), 'exhausted');
			assert.match(await C.page.textContent('#landing-peek-error'), /used up/);
			assert.equal(await C.page.isDisabled('#landing-go'), true, 'nothing to continue to');
			await screenshot(C.page, 'link-refused-used-up');
			await A.page.evaluate(() => globalThis.__p2plink.links.refresh());
			await A.page.waitForFunction(() => /1 of 1 used · used up/.test(document.querySelector('#link-list').textContent), null, { timeout: 5000 });
			assert.doesNotMatch(await A.page.textContent('#link-list'), /0 left|expires in/, 'a used-up link does not read as live');
			assert.equal(await A.page.getAttribute('#link-list .link-item', 'data-state'), 'used-up');
			await screenshot(A.page, 'links-list');
		});
	} finally {
		for (const P of opened) await P.context.close().catch(() => {});
	}
});

test('a revoked link stays listed as revoked, and its visitors are told so', { skip, timeout: 45000 }, async (t) => {
	if (!linkSupport) { t.skip(NO_LINKS); return; }
	const A = await openApp(browser, srv.baseUrl, { name: 'A' });
	const opened = [A];
	try {
		await within(40000, 'revoked', async () => {
			const url = await createLinkInUi(A, { clicks: 3 });
			await A.page.click('#link-list .link-item button.danger');
			await A.page.waitForFunction(() => document.querySelector('#link-list .link-item[data-state=revoked]'), null, { timeout: 10000 });
			await A.page.evaluate(() => globalThis.__p2plink.links.refresh());
			await A.page.waitForTimeout(500);
			assert.equal(await A.page.locator('#link-list .link-item').count(), 1, 'still listed after a refresh');
			assert.match(await A.page.textContent('#link-list .link-item'), /revoked/);
			await A.page.reload();
			await A.page.waitForSelector('body[data-ready="1"]', { timeout: 20000 });
			await A.page.click('#links > summary');
			await A.page.waitForSelector('#link-list .link-item[data-state=revoked]', { timeout: 10000 });
			await screenshot(A.page, 'links-revoked');
			const V = await visit(url, 'V');
			opened.push(V);
			await V.page.waitForSelector('#landing-peek-error:not([hidden])', { timeout: 10000 });
			assert.equal(await V.page.getAttribute('#landing-peek-error', 'data-code'), 'revoked');
			assert.match(await V.page.textContent('#landing-peek-error'), /withdrawn/);
		});
	} finally {
		for (const P of opened) await P.context.close().catch(() => {});
	}
});

test('calling a link-only peer without a link: told at once, no reconnect, both stay connected', { skip, timeout: 45000 }, async (t) => {
	if (!linkSupport) { t.skip(NO_LINKS); return; }
	const [A, B] = await Promise.all([openApp(browser, srv.baseUrl, { name: 'A', initScript: countWebSockets }), openApp(browser, srv.baseUrl, { name: 'B' })]);
	try {
		await within(40000, 'link-only refusal', async () => {
			await B.page.click('#links > summary');
			await B.page.check('#link-only');
			await B.page.waitForSelector('#link-only-badge:not([hidden])', { timeout: 10000 });
			const sockets = await A.page.evaluate(() => globalThis.__wsAttempts.length);
			const t0 = Date.now();
			await A.page.fill('#peer-id', B.id);
			await A.page.click('#call-btn');
			await A.page.waitForFunction(() => globalThis.__p2plink.calls.lastEnd, null, { timeout: 15000 });
			console.log(`link_only_refusal_shown_ms=${Date.now() - t0}`);
			assert.equal(await A.page.evaluate(() => globalThis.__p2plink.calls.lastEnd.reason), 'link-required');
			assert.match(await A.page.textContent('#status'), /only accepts connections through a share link — ask them for one/);
			assert.equal(await A.page.evaluate(() => globalThis.__p2plink.calls.state), 'idle');
			await A.page.waitForTimeout(2000);
			assert.equal(await A.page.evaluate(() => globalThis.__p2plink.peer.open), true, 'A still connected to the server');
			assert.equal(await B.page.evaluate(() => globalThis.__p2plink.peer.open), true, 'B still connected');
			assert.equal(await A.page.evaluate(() => globalThis.__wsAttempts.length), sockets, 'no reconnect');
			assert.doesNotMatch(await A.page.textContent('#status'), /Lost the connection|offline/);
			assert.equal(await B.page.evaluate(() => document.querySelector('#incoming').open), false, 'B never rang');
			await screenshot(A.page, 'call-refused-link-only');
		});
	} finally {
		await A.context.close().catch(() => {});
		await B.context.close().catch(() => {});
	}
});

test('expired link is refused', { skip, timeout: 45000 }, async (t) => {
	if (!linkSupport) { t.skip(NO_LINKS); return; }
	const A = await openApp(browser, srv.baseUrl, { name: 'A' });
	const opened = [A];
	try {
		await within(40000, 'expired link', async () => {
			const url = await createLinkInUi(A, { ttl: '10s', clicks: 5 });
			const V = await visit(url, 'V');
			opened.push(V);
			await V.page.waitForTimeout(11500);
			await V.page.click('#landing-go');
			await V.page.waitForSelector('#landing-result:not([hidden])', { timeout: 10000 });
			assert.equal(await V.page.getAttribute('#landing-result', 'data-code'), 'expired');
			assert.match(await V.page.textContent('#landing-result'), /expired/);
			await screenshot(V.page, 'link-refused-expired');
		});
	} finally {
		for (const P of opened) await P.context.close().catch(() => {});
	}
});
