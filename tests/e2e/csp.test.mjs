/*
 * csp.test.mjs — the web app works under the Content-Security-Policy our server sends (no inline script or style,
 * frame-ancestors 'none', connect-src our own origin): in headless Chromium the app page, a share link's landing
 * page and a created link (QR code markup) raise no `securitypolicyviolation` event and no CSP console error, and
 * the app cannot be framed by another origin.
 * Always against our Janus server (tests/lib/janus.mjs): the reference PeerJS server sends no CSP to check.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromiumMissing, launch } from '../lib/browser.mjs';
import { startJanus } from '../lib/janus.mjs';

const skip = chromiumMissing() || false;
let srv, browser;

before(async () => {
	if (skip) return;
	srv = await startJanus({});
	browser = await launch();
});

after(async () => {
	if (browser) await browser.close();
	if (srv) await srv.stop();
});

/* A page with every CSP violation and console error recorded from before the app's first line runs */
async function watchedPage() {
	const context = await browser.newContext({ ignoreHTTPSErrors: true, permissions: ['camera', 'microphone'] });
	await context.addInitScript(() => {
		globalThis.P2PLINK_TEST_HOOKS = { noSavePicker: true };
		globalThis.__cspViolations = [];
		document.addEventListener('securitypolicyviolation', (e) => {
			globalThis.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
		});
	});
	const page = await context.newPage();
	const errors = [];
	page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
	page.on('pageerror', (e) => errors.push(e.message));
	const violations = async () => [...await page.evaluate(() => globalThis.__cspViolations),
		...errors.filter((t) => /Content Security Policy|Refused to/i.test(t))];
	return { context, page, errors, violations };
}

test('the app page runs under the CSP without a violation', { skip }, async () => {
	const { context, page, violations } = await watchedPage();
	try {
		const res = await page.goto(`${srv.baseUrl}/`);
		assert.match(res.headers()['content-security-policy'], /frame-ancestors 'none'/);
		await page.waitForSelector('body[data-ready="1"]', { timeout: 20000 });
		assert.notEqual((await page.textContent('#my-id')).trim(), '');
		// Make a share link: the QR code is inserted as SVG markup
		if (!(await page.evaluate(() => document.querySelector('#links').open))) await page.click('#links > summary');
		await page.click('#link-create');
		await page.waitForSelector('#link-qr svg', { timeout: 15000 });
		await page.waitForTimeout(500);
		assert.deepEqual(await violations(), []);
		// The watcher does see a violation when there is one: an injected inline script is blocked and reported
		await page.evaluate(() => { const s = document.createElement('script'); s.textContent = 'globalThis.__ran = 1'; document.body.append(s); });
		await page.waitForTimeout(200);
		assert.equal(await page.evaluate(() => globalThis.__ran), undefined);
		assert.ok((await violations()).some((v) => /script-src/.test(v)), 'inline script not reported');
	} finally {
		await context.close();
	}
});

test('a share-link landing page runs under the CSP without a violation', { skip }, async () => {
	const { context, page, violations } = await watchedPage();
	try {
		await page.goto(`${srv.baseUrl}/l/${'x'.repeat(43)}`);
		await page.waitForSelector('#landing:not([hidden])', { timeout: 20000 });
		await page.waitForTimeout(500);
		assert.deepEqual(await violations(), []);
	} finally {
		await context.close();
	}
});

test('another origin cannot frame the app (clickjacking)', { skip }, async () => {
	const { context, page } = await watchedPage();
	try {
		// A page of another origin (data: URL) that frames the app
		await page.goto(`data:text/html,<iframe id="f" src="${srv.baseUrl}/"></iframe>`);
		await page.waitForTimeout(2000);
		const framed = page.frames().find((f) => f.url().startsWith(srv.baseUrl));
		const loaded = framed ? await framed.evaluate(() => !!document.querySelector('#my-id')).catch(() => false) : false;
		assert.equal(loaded, false, 'the app rendered inside a foreign frame');
	} finally {
		await context.close();
	}
});
