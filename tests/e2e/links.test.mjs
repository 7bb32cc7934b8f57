/*
 * links.test.mjs — share links in the browser app.
 * Always: the /l/<token> landing page explains itself and redeems nothing until the
 * visitor presses Continue (link previews must not use up clicks).
 * With a server that has the link endpoints (our Janus server): A creates a 1-click link
 * in the UI, B opens it and reaches A, C is refused "used up"; an expired link is refused.
 * Against a server without them (the reference PeerJS server answers 404) those skip.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { chromiumMissing, launch, startServer, openApp, screenshot, within } from '../lib/browser.mjs';

const skip = chromiumMissing() || false;
let srv, browser, linkSupport = false;

function postStatus(baseUrl, path, body) {
	return new Promise((resolve, reject) => {
		const req = https.request(new URL(path, baseUrl), { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
			res.resume();
			res.on('end', () => resolve(res.statusCode));
			res.on('close', () => { if (!res.complete) reject(new Error(`response cut off: POST ${path}`)); });
		});
		req.on('error', reject);
		req.setTimeout(15000, () => req.destroy(new Error(`timeout: POST ${path}`)));
		req.end(JSON.stringify(body));
	});
}

before(async () => {
	if (skip) return;
	srv = await startServer();
	browser = await launch();
	linkSupport = (await postStatus(srv.baseUrl, '/peerjs/links/list', { id: 'probe', token: 'probe-token-0000000' })) !== 404;
});

after(async () => {
	if (browser) await browser.close();
	if (srv) await srv.stop();
});

const NO_LINKS = 'server under test has no share-link endpoints (POST /peerjs/links/list → 404); run with P2PLINK_E2E_SERVER=tests/lib/janus.mjs';

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
			await V.page.click('#landing-go');
			await V.page.waitForSelector('#landing-result:not([hidden])', { timeout: 10000 });
			assert.equal(redeems, 1, 'one redeem after Continue');
			const text = await V.page.textContent('#landing-result');
			assert.ok(text.trim().length > 10, `refusal explained: ${text}`);
			if (linkSupport) assert.match(text, /not valid/);
			else assert.match(text, /does not offer share links/);
		});
	} finally {
		await V.context.close();
	}
});

test('1-click link: B reaches A through it, C is refused "used up"', { skip, timeout: 60000 }, async (t) => {
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
			await C.page.click('#landing-go');
			await C.page.waitForSelector('#landing-result:not([hidden])', { timeout: 10000 });
			assert.equal(await C.page.getAttribute('#landing-result', 'data-code'), 'exhausted');
			assert.match(await C.page.textContent('#landing-result'), /used up/);
			await screenshot(C.page, 'link-refused-used-up');
			await A.page.evaluate(() => globalThis.__p2plink.links.refresh());
			await A.page.waitForFunction(() => /1 of 1 used/.test(document.querySelector('#link-list').textContent), null, { timeout: 5000 });
			await screenshot(A.page, 'links-list');
		});
	} finally {
		for (const P of opened) await P.context.close().catch(() => {});
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
