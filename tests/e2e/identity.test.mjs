/*
 * identity.test.mjs — one identity per device (issue 12, issue 10 "the app keeps its id and token across
 * reloads"): a reload keeps the id, the links list and link-only (re-asserted after the reconnect, with the
 * badge); a second tab of the same browser does not fight the first for the id — it offers "Use it here", and the
 * first tab then offers to take it back. Nobody is stranded on ID-TAKEN.
 * The reload keeping link-only and links needs the server's id grace period and link endpoints (our Janus
 * server: P2PLINK_E2E_SERVER=tests/lib/janus.mjs); against the reference server those parts skip.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromiumMissing, hasLinkEndpoints, launch, startServer, openApp, openTab, screenshot, within, NO_LINKS, serverAndBrowser } from '../lib/browser.mjs';
import { establish } from '../lib/call-actions.mjs';

const skip = chromiumMissing() || false;
let srv, browser, linkSupport = false;

serverAndBrowser(skip, (s, b, links) => { srv = s; browser = b; linkSupport = links; }, { askLinks: true });

async function reload(P) {
	const t0 = Date.now();
	await P.page.reload();
	await P.page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
	await P.page.waitForFunction(() => globalThis.__p2plink.peer && globalThis.__p2plink.peer.open, null, { timeout: 30000 });
	return Date.now() - t0;
}

test('a reload keeps the id (and the token that owns it)', { skip, timeout: 60000 }, async () => {
	const A = await openApp(browser, srv.baseUrl, { name: 'A' });
	try {
		await within(55000, 'reload', async () => {
			const token = await A.page.evaluate(() => globalThis.__p2plink.peer.options.token);
			const ms = await reload(A);
			console.log(`reload_to_open_ms=${ms}`);
			assert.equal((await A.page.textContent('#my-id')).trim(), A.id, 'same id');
			assert.equal(await A.page.evaluate(() => globalThis.__p2plink.peer.options.token), token, 'same token');
			/* and it is reachable under that id */
			const B = await openApp(browser, srv.baseUrl, { name: 'B' });
			try {
				await establish(B, A);
			} finally {
				await B.context.close();
			}
		});
	} finally {
		await A.context.close();
	}
});

test('a reload keeps the links list and link-only, re-asserted with the badge', { skip, timeout: 90000 }, async (t) => {
	if (!linkSupport) { t.skip(NO_LINKS); return; }
	const A = await openApp(browser, srv.baseUrl, { name: 'A' });
	const C = await openApp(browser, srv.baseUrl, { name: 'C' });
	try {
		await within(85000, 'reload keeps links', async () => {
			await A.page.click('#links > summary');
			await A.page.click('#link-create');
			await A.page.waitForSelector('#link-list .link-item', { timeout: 10000 });
			const url = await A.page.inputValue('#link-url');
			await A.page.check('#link-only');
			await A.page.waitForSelector('#link-only-badge:not([hidden])', { timeout: 10000 });
			await reload(A);
			assert.equal((await A.page.textContent('#my-id')).trim(), A.id, 'same id');
			await A.page.waitForSelector('#link-only-badge:not([hidden])', { timeout: 10000 });
			assert.equal(await A.page.isChecked('#link-only'), true, 'the switch says on');
			await A.page.click('#links > summary');
			await A.page.waitForSelector('#link-list .link-item', { timeout: 10000 });
			assert.match(await A.page.textContent('#link-list'), new RegExp(url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the link, with its address');
			await screenshot(A.page, 'identity-after-reload');
			/* link-only is really on at the server after the reload: C without a link is refused */
			await C.page.fill('#peer-id', A.id);
			await C.page.click('#call-btn');
			await C.page.waitForFunction(() => globalThis.__p2plink.calls.lastEnd, null, { timeout: 15000 });
			assert.equal(await C.page.evaluate(() => globalThis.__p2plink.calls.lastEnd.reason), 'link-required');
		});
	} finally {
		await A.context.close();
		await C.context.close();
	}
});

test('a second tab shares the identity: "Use it here" moves it, the first tab can take it back', { skip, timeout: 90000 }, async () => {
	const A = await openApp(browser, srv.baseUrl, { name: 'A1' });
	try {
		await within(85000, 'two tabs', async () => {
			const tab2 = await openTab(A.context, srv.baseUrl, { name: 'A2', ready: false });
			await tab2.page.waitForSelector('#elsewhere:not([hidden])', { timeout: 15000 });
			assert.match(await tab2.page.textContent('#elsewhere'), /another tab/);
			await screenshot(tab2.page, 'identity-second-tab');
			assert.equal(await A.page.evaluate(() => globalThis.__p2plink.peer.open), true, 'the first tab keeps it until asked');
			await tab2.page.click('#elsewhere-take');
			await tab2.page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
			assert.equal((await tab2.page.textContent('#my-id')).trim(), A.id, 'the second tab has the same id');
			await A.page.waitForSelector('#elsewhere:not([hidden])', { timeout: 10000 });
			assert.match(await A.page.textContent('#elsewhere'), /moved to another tab/);
			/* reachable in the tab that has it */
			const B = await openApp(browser, srv.baseUrl, { name: 'B' });
			try {
				await establish(B, { ...tab2, id: A.id });
				await B.page.click('#hangup-btn');
			} finally {
				await B.context.close();
			}
			/* and back */
			await A.page.click('#elsewhere-take');
			await A.page.waitForFunction(() => globalThis.__p2plink.peer.open, null, { timeout: 30000 });
			assert.equal((await A.page.textContent('#my-id')).trim(), A.id);
			await tab2.page.waitForSelector('#elsewhere:not([hidden])', { timeout: 10000 });
			assert.equal(await tab2.page.evaluate(() => globalThis.__p2plink.peer.open), false);
		});
	} finally {
		await A.context.close();
	}
});
