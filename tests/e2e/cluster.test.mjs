/*
 * cluster.test.mjs — the app (stock peerjs client) in two headless Chromium contexts behind HAProxy, on two different
 * nodes of a three-node cluster started by scripts/cluster-demo.mjs (so the demo itself is tested): a call with
 * frames flowing both ways, a file whose SHA-256 matches, then the node one of them is on is killed (SIGKILL) and
 * that client reconnects through HAProxy to another node and gets its id back.
 * Where each client is comes from the admin API (list_peers on any node lists every node's peers with their node).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import { chromiumMissing, launch, openApp, screenshot, within, closeAll, root } from '../lib/browser.mjs';
import { establish, videoState } from '../lib/call-actions.mjs';
import { freePort } from '../lib/janus.mjs';

const has = (cmd) => { try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; } };
const skip = chromiumMissing() || (!has('redis-server') && 'redis-server is not installed')
	|| (!has('haproxy') && 'haproxy is not installed') || false;
let demo, dir, url, nodes = [], secret, browser, A, B;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function admin(node, request) {
	const res = await fetch(node.admin, { method: 'POST', signal: AbortSignal.timeout(15000), body: JSON.stringify({
		janus: 'message_plugin', transaction: `c${Math.random()}`, admin_secret: secret, plugin: 'janus.plugin.p2plink', request }) });
	const j = await res.json();
	return j.response ?? j;
}

/* The node holding id, as the cluster's list says (asked on a node that is alive) */
async function nodeOf(id) {
	for (const n of nodes.filter((x) => !x.dead)) {
		try {
			const list = await admin(n, { request: 'list_peers' });
			const p = (list.peers || []).find((e) => e.id === id);
			return p ? p.node : null;
		} catch { /* that node is not answering: ask the next */ }
	}
	return null;
}

async function sha256File(path) {
	const h = createHash('sha256');
	for await (const c of createReadStream(path)) h.update(c);
	return h.digest('hex');
}

before(async () => {
	if (skip) return;
	dir = mkdtempSync(join(tmpdir(), 'p2plink-cluster-e2e-'));
	const port = await freePort();
	demo = spawn(process.execPath, [join(root, 'scripts', 'cluster-demo.mjs'), '--dir', dir],
		{ env: { ...process.env, P2PLINK_PORT: String(port), P2PLINK_BIND: '127.0.0.1', P2PLINK_ADMIN_PORT: '0' },
			stdio: ['ignore', 'pipe', 'inherit'] });
	await within(60000, 'cluster demo start', () => new Promise((resolve, reject) => {
		demo.on('exit', (code) => reject(new Error(`cluster demo exited ${code}`)));
		readline.createInterface({ input: demo.stdout }).on('line', (line) => {
			const n = line.match(/^P2PLINK_CLUSTER_NODE=(\S+) port=(\d+) admin=(\S+) pid=(\d+)/);
			if (n) nodes.push({ id: n[1], port: Number(n[2]), admin: n[3], pid: Number(n[4]) });
			const u = line.match(/^P2PLINK_CLUSTER_URL=(\S+)/);
			if (u) url = u[1];
			if (url && nodes.length === 3) resolve();
		});
	}));
	secret = readFileSync(join(dir, 'admin-secret'), 'utf8').trim();
	// Every node sees the other two (heartbeats every 2 s)
	await within(15000, 'cluster view', async () => {
		for (;;) {
			const s = await admin(nodes[0], { request: 'stats' });
			if ((s.cluster?.nodes || []).length === 3) return;
			await sleep(300);
		}
	});
	browser = await launch();
});

after(async () => {
	if (browser) await browser.close();
	await closeAll(A, B);
	if (demo && demo.exitCode === null) {
		const exited = new Promise((r) => demo.once('exit', r));
		demo.kill('SIGTERM');
		await within(20000, 'cluster demo stop', () => exited);
	}
	if (dir) rmSync(dir, { recursive: true, force: true });
});

test('two stock clients on different nodes behind HAProxy: call, file (SHA-256), then one node killed and its client back with its id', { skip, timeout: 240000 }, async () => {
	A = await openApp(browser, url, { name: 'A' });
	const nodeA = await within(10000, 'A registered', async () => { for (;;) { const n = await nodeOf(A.id); if (n) return n; await sleep(200); } });
	// HAProxy balances by connection count: a second client may still land on A's node; a fresh one tries again
	let nodeB = null;
	for (let attempt = 0; attempt < 8; attempt++) {
		B = await openApp(browser, url, { name: 'B' });
		nodeB = await within(10000, 'B registered', async () => { for (;;) { const n = await nodeOf(B.id); if (n) return n; await sleep(200); } });
		if (nodeB !== nodeA) break;
		await closeAll(B);
		B = null;
	}
	assert.ok(B, `B never landed on a node other than A's (${nodeA})`);
	console.log(`cluster_e2e A=${A.id}@${nodeA} B=${B.id}@${nodeB}`);
	assert.notEqual(nodeA, nodeB);

	// A call across the two nodes: remote video frames flowing on both sides
	await within(60000, 'call across nodes', async () => {
		await establish(A, B);
		for (const P of [A, B]) {
			await P.page.waitForFunction(() => {
				const v = document.querySelector('#remote-video');
				return v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 5;
			}, null, { timeout: 30000 });
		}
		const a = await videoState(A.page), b = await videoState(B.page);
		console.log(`cluster_e2e video A ${a.width}px ${a.frames} frames, B ${b.width}px ${b.frames} frames`);
		await screenshot(A.page, 'cluster-call-A');
		await screenshot(B.page, 'cluster-call-B');
		await A.page.click('#hangup-btn');
		await B.page.waitForSelector('#call', { state: 'hidden', timeout: 15000 });
	});

	// A file across the two nodes (signaling crosses nodes; the bytes go browser to browser)
	await within(90000, 'file across nodes', async () => {
		const path = join(dir, 'cluster file.bin');
		writeFileSync(path, randomBytes(8 * 1024 * 1024));
		const want = await sha256File(path);
		await A.page.fill('#peer-id', B.id);
		await A.page.setInputFiles('#file-input', path);
		await B.page.waitForSelector('.transfer[data-dir=in]', { timeout: 20000 });
		const download = B.page.waitForEvent('download', { timeout: 60000 });
		await B.page.locator('.transfer[data-dir=in]').first().locator('.accept-btn').click();
		const d = await download;
		assert.equal(await sha256File(await d.path()), want, 'received bytes hash');
		await B.page.waitForSelector('.transfer[data-dir=in][data-state=verified]', { timeout: 10000 });
		await screenshot(B.page, 'cluster-file-B');
	});

	// The node A is on dies: A's client reconnects through HAProxy (which takes the dead node out after two failed
	// health checks) to a live node, with its id and token: OPEN there, the id listed on that node
	const victim = nodes.find((n) => n.id === nodeA);
	const t0 = Date.now();
	process.kill(victim.pid, 'SIGKILL');
	victim.dead = true;
	const back = await within(60000, 'A back on another node', async () => {
		for (;;) {
			const n = await nodeOf(A.id);
			if (n && n !== nodeA) return n;
			await sleep(250);
		}
	});
	console.log(`cluster_e2e node ${nodeA} killed: A back on ${back} with its id after ${Date.now() - t0} ms`);
	assert.equal((await A.page.textContent('#my-id')).trim(), A.id, 'same id in the app');
	await screenshot(A.page, 'cluster-A-after-node-death');
});
