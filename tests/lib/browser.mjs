/*
 * browser.mjs — headless Debian Chromium for the e2e tests (playwright-core; never
 * downloads a browser), plus helpers to start the server under test and open app pages.
 *
 * The server module comes from env P2PLINK_E2E_SERVER (path of a module exporting
 * startServer({port}) → {baseUrl, stop()}), default tests/lib/reference-server.mjs.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import https from 'node:https';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM = process.env.P2PLINK_CHROMIUM || '/usr/bin/chromium';
export const shotsDir = join(root, 'test-artifacts', 'screenshots');

export const CHROMIUM_ARGS = [
	'--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync',
	'--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
	'--ignore-certificate-errors',
];

/* Reason to skip, or null when Chromium is usable. */
export function chromiumMissing() {
	return existsSync(CHROMIUM) ? null : `Chromium not found at ${CHROMIUM}`;
}

/* opts: playwright launch options on top of ours (the NAT test starts Chromium through a netns wrapper) */
export async function launch(opts = {}) {
	return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, ...opts });
}

/* opts.port: a fixed port (a test that stops the server and starts it again where the browsers expect it) */
export async function startServer(opts = {}) {
	const spec = process.env.P2PLINK_E2E_SERVER || join(root, 'tests', 'lib', 'reference-server.mjs');
	const mod = await import(pathToFileURL(resolve(spec)).href);
	return mod.startServer({ port: 0, ...opts });
}

/*
 * A fresh browser context (its own origin storage, like a separate person) with one app
 * page opened at `path` and waiting for the peer id. Test hooks go in before app code runs.
 * viewport / colorScheme: as a phone or in dark mode; identity: {id, token} this device already has (put in
 * localStorage before the first page load only, so a reload keeps what the app stored); initScript: a function
 * run in every page before the app (e.g. to count WebSockets); ready: false to not wait for the app.
 */
export async function openApp(browser, baseUrl, {
	path = '/', hooks = { noSavePicker: true }, name = 'peer', viewport = { width: 900, height: 760 },
	colorScheme = 'light', identity = null, initScript = null, ready = true,
} = {}) {
	const context = await browser.newContext({
		ignoreHTTPSErrors: true,
		acceptDownloads: true,
		viewport,
		colorScheme,
		permissions: ['camera', 'microphone'],
	});
	await context.addInitScript((h) => { globalThis.P2PLINK_TEST_HOOKS = h; }, hooks);
	if (identity) {
		await context.addInitScript((ident) => {
			if (!localStorage.getItem('p2plink.identity')) localStorage.setItem('p2plink.identity', JSON.stringify(ident));
		}, identity);
	}
	if (initScript) await context.addInitScript(initScript);
	const P = await openTab(context, baseUrl, { path, name, ready });
	return { context, ...P };
}

/* Another tab of the same browser context (same device, same localStorage), waiting until the app is ready */
export async function openTab(context, baseUrl, { path = '/', name = 'tab', ready = true } = {}) {
	const page = await context.newPage();
	page.on('pageerror', (err) => console.error(`[${name}] pageerror: ${err.message}`));
	page.on('console', (m) => { if (m.type() === 'error' && !/status of 404/.test(m.text())) console.error(`[${name}] console: ${m.text()}`); });
	await page.goto(new URL(path, baseUrl).href);
	if (!ready) return { context, page, id: null, name };
	await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
	const id = (await page.textContent('#my-id')).trim();
	return { context, page, id, name };
}

export async function screenshot(page, name) {
	mkdirSync(shotsDir, { recursive: true });
	await page.screenshot({ path: join(shotsDir, `${name}.png`) });
}

/* Run fn with a deadline so no test can hang the suite. */
export async function within(ms, what, fn) {
	let timer;
	try {
		return await Promise.race([
			fn(),
			new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms); }),
		]);
	} finally {
		clearTimeout(timer);
	}
}

/* Does the server under test have the share-link endpoints? (our Janus server: yes; the reference server: 404) */
export function hasLinkEndpoints(baseUrl) {
	return new Promise((resolve, reject) => {
		const req = https.request(new URL('/peerjs/links/list', baseUrl), { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
			res.resume();
			res.on('end', () => resolve(res.statusCode !== 404));
		});
		req.on('error', reject);
		req.setTimeout(15000, () => req.destroy(new Error('timeout: POST /peerjs/links/list')));
		req.end(JSON.stringify({ id: 'probe', token: 'probe-token-0000000' }));
	});
}

export const NO_LINKS = 'server under test has no share-link endpoints (POST /peerjs/links/list → 404); run with P2PLINK_E2E_SERVER=tests/lib/janus.mjs';

/* An initScript for openApp(): every WebSocket the page opens is counted, with its time, in __wsAttempts */
export function countWebSockets() {
	const W = globalThis.WebSocket;
	globalThis.__wsAttempts = [];
	globalThis.WebSocket = class extends W {
		constructor(...a) { super(...a); globalThis.__wsAttempts.push(performance.now()); }
	};
}

// One test server and one Chromium for a whole test file: before() starts both and hands them to `use` (with, when
// asked, whether the server has the share-link endpoints), after() stops them (nothing starts when skipped)
export function serverAndBrowser(skip, use, { askLinks = false } = {}) {
	let srv, browser;
	before(async () => {
		if (skip) return;
		srv = await startServer();
		browser = await launch();
		use(srv, browser, askLinks ? await hasLinkEndpoints(srv.baseUrl) : false);
	});
	after(async () => {
		if (browser) await browser.close();
		if (srv) await srv.stop();
	});
}

// Closes the browser contexts of the given app peers (those that were opened)
export async function closeAll(...peers) {
	for (const p of peers) if (p) await p.context.close().catch(() => {});
}
