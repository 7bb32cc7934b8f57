/*
 * stock-client.test.mjs — the unmodified peerjs 1.5.x client (html/vendor/peerjs.js, bundled from npm) in headless
 * Chromium against our server: nothing we do may make it abort its Peer (it does on any ERROR frame). 100
 * DataConnections opened at once all open and both Peers stay connected; a refusal (link-required: EXPIRE +
 * P2PLINK-REFUSED) leaves both Peers connected; and the time the stock client's peer.reconnect(), a page reload
 * and a reload of our app take to get OPEN again (what id_grace must outlast) is measured. Needs our Janus server.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromiumMissing, launch, openApp, within } from '../lib/browser.mjs';
import { postPeerjs, startJanus } from '../lib/janus.mjs';

const skip = chromiumMissing() || false;
let srv, browser;

before(async () => {
	if (skip) return;
	srv = await startJanus({ transport: { max_connections_per_ip: 0, connection_rate_per_ip: 0 } });
	browser = await launch();
});

after(async () => {
	if (browser) await browser.close();
	if (srv) await srv.stop();
});

/* A page of our origin with the stock client loaded as window.Peer, and a Peer `id` (token `tok-<id>`) open */
async function stockPeer(id) {
	const context = await browser.newContext({ ignoreHTTPSErrors: true });
	const page = await context.newPage();
	page.on('pageerror', (err) => console.error(`[${id}] pageerror: ${err.message}`));
	await page.goto(`${srv.baseUrl}/vendor/peerjs.js`);
	await page.evaluate(async ({ id, port }) => {
		const { Peer } = await import('/vendor/peerjs.js');
		window.Peer = Peer;
		window.events = [];
		window.peer = new Peer(id, { host: '127.0.0.1', port, path: '/', key: 'peerjs', secure: true, token: `tok-${id}`,
			config: { iceServers: [] }, debug: 1 });
		const p = window.peer;
		p.on('error', (e) => window.events.push(`error:${e.type}`));
		p.on('disconnected', () => window.events.push('disconnected'));
		p.on('close', () => window.events.push('close'));
		p.on('connection', (c) => { c.on('open', () => { window.inbound = (window.inbound || 0) + 1; }); });
		await new Promise((resolve, reject) => { p.once('open', resolve); p.once('error', reject); });
	}, { id, port: srv.port });
	return { context, page, id };
}

const alive = (page) => page.evaluate(() => ({ open: window.peer.open, disconnected: window.peer.disconnected,
	destroyed: window.peer.destroyed, events: window.events }));

test('100 DataConnections opened at once all open, and both stock Peers stay connected', { skip, timeout: 180000 }, async () => {
	const a = await stockPeer('sc-mesh-a'), b = await stockPeer('sc-mesh-b');
	try {
		const ms = await within(150000, '100 DataConnections', () => a.page.evaluate(async () => {
			const t0 = performance.now();
			const conns = Array.from({ length: 100 }, () => window.peer.connect('sc-mesh-b', { reliable: true }));
			await Promise.all(conns.map((c) => new Promise((resolve, reject) => {
				c.once('open', resolve);
				c.once('error', reject);
			})));
			return performance.now() - t0;
		}));
		await within(20000, 'inbound opens', async () => {
			while ((await b.page.evaluate(() => window.inbound || 0)) < 100) await new Promise((r) => setTimeout(r, 100));
		});
		console.log(`# stock client: 100 DataConnections open in ${ms.toFixed(0)} ms`);
		for (const side of [a, b]) {
			const state = await alive(side.page);
			assert.deepEqual(state, { open: true, disconnected: false, destroyed: false, events: [] }, side.id);
		}
		const stats = await srv.admin({ request: 'stats' });
		console.log(`# server stats after the mesh: relayed ${stats.relayed}, paced ${stats.paced}, rejected ${stats.rejected}`);
		assert.equal(stats.floods, 0);
	} finally {
		await a.context.close();
		await b.context.close();
	}
});

test('a refused connection (link-only peer, no grant) leaves both stock Peers connected', { skip }, async () => {
	const owner = await stockPeer('sc-lo-owner'), caller = await stockPeer('sc-lo-caller');
	try {
		assert.equal((await postPeerjs(srv, 'linkonly', { id: 'sc-lo-owner', token: 'tok-sc-lo-owner', enabled: true })).json.ok, true);
		const error = await caller.page.evaluate(() => new Promise((resolve) => {
			window.peer.once('error', (e) => resolve(e.type));
			window.peer.connect('sc-lo-owner');
		}));
		// EXPIRE: the stock client's non-fatal peer-unavailable; the P2PLINK-REFUSED frame is ignored
		assert.equal(error, 'peer-unavailable');
		await new Promise((r) => setTimeout(r, 500));
		const state = await alive(caller.page);
		assert.deepEqual({ ...state, events: undefined }, { open: true, disconnected: false, destroyed: false, events: undefined });
		// One peer-unavailable per refused frame (the OFFER and each CANDIDATE), nothing else: no disconnect
		assert.ok(state.events.length >= 1 && state.events.every((e) => e === 'error:peer-unavailable'), JSON.stringify(state.events));
		assert.deepEqual(await alive(owner.page), { open: true, disconnected: false, destroyed: false, events: [] });
	} finally {
		await owner.context.close();
		await caller.context.close();
	}
});

test('peer.reconnect() and a page reload get OPEN for the same id well within id_grace', { skip }, async () => {
	const p = await stockPeer('sc-re');
	try {
		const reconnectMs = await p.page.evaluate(async () => {
			const peer = window.peer;
			const t0 = performance.now();
			peer.socket._socket.close();
			await new Promise((r) => peer.once('disconnected', r));
			peer.reconnect();
			await new Promise((resolve, reject) => { peer.once('open', resolve); peer.once('error', (e) => reject(new Error(e.type))); });
			return performance.now() - t0;
		});
		const t0 = Date.now();
		await p.page.reload();
		await p.page.evaluate(async ({ port }) => {
			const { Peer } = await import('/vendor/peerjs.js');
			const peer = new Peer('sc-re', { host: '127.0.0.1', port, path: '/', key: 'peerjs', secure: true, token: 'tok-sc-re',
				config: { iceServers: [] } });
			await new Promise((resolve, reject) => { peer.once('open', resolve); peer.once('error', (e) => reject(new Error(e.type))); });
		}, { port: srv.port });
		const reloadMs = Date.now() - t0;
		console.log(`# stock client: peer.reconnect() back to OPEN in ${reconnectMs.toFixed(0)} ms; page reload to OPEN in ${reloadMs} ms (id_grace default 30,000 ms)`);
		assert.ok(reconnectMs < 30000 && reloadMs < 30000);
		// Someone else cannot take the id in between: right after a close the id is reserved
		const thief = await p.page.evaluate(async ({ port }) => {
			const { Peer } = await import('/vendor/peerjs.js');
			const peer = new Peer('sc-re', { host: '127.0.0.1', port, path: '/', key: 'peerjs', secure: true, token: 'someone-else',
				config: { iceServers: [] } });
			return new Promise((resolve) => { peer.once('open', () => resolve('open')); peer.once('error', (e) => resolve(e.type)); });
		}, { port: srv.port });
		assert.equal(thief, 'unavailable-id');
	} finally {
		await p.context.close();
	}
});

test('a reload of our app gets its id back (same token) well within id_grace', { skip }, async () => {
	const app = await openApp(browser, srv.baseUrl, { name: 'reload' });
	try {
		const t0 = Date.now();
		await app.page.reload();
		await app.page.waitForSelector('body[data-ready="1"]', { timeout: 20000 });
		const ms = Date.now() - t0;
		const id = (await app.page.textContent('#my-id')).trim();
		console.log(`# our app: reload back to OPEN with the same id in ${ms} ms (id_grace default 30,000 ms)`);
		assert.equal(id, app.id);
		assert.ok(ms < 30000);
	} finally {
		await app.context.close();
	}
});
