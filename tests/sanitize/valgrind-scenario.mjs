// One short signaling scenario against Janus started by the caller's wrapper (valgrind), for leak and memory-error
// hunting: peers connect, relay, queue for an offline peer, send bad frames, reconnect, get kicked through the admin
// API, hit the HTTP routes, disconnect. Janus runs in cluster mode (a redis-server this script starts) and a second
// node (not under valgrind) joins for the cross-node part: relay both ways, discovery and list_peers across nodes,
// a peer moving away (lease lost), a remote kick, the second node killed (LEAVE on node death), Redis gone (EXPIRE).
// Janus is then stopped with SIGTERM so valgrind sees a clean shutdown.
//   node tests/sanitize/valgrind-scenario.mjs <dir> <wrapper...>      (run-valgrind.sh passes valgrind as wrapper)
// Not a test: it prints what it did and exits non-zero only if the scenario itself could not run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { request, writeJanusConfig, startJanus, freePort, ADMIN_SECRET } from '../lib/janus.mjs';
import { PeerSocket } from '../lib/peer-socket.mjs';

const [dir, ...wrapper] = process.argv.slice(2);
fs.mkdirSync(dir, { recursive: true });
const redisPort = await freePort();
const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
	{ stdio: 'ignore' });
// Timings for a slow process: valgrind's node must answer Redis within call_timeout_ms and refresh its liveness key
const cluster = { redis_url: `redis://127.0.0.1:${redisPort}`, lease_ms: 6000, renew_ms: 2000, liveness_ms: 3000,
	heartbeat_ms: 1000, call_timeout_ms: 5000 };
const cfg = await writeJanusConfig(dir, { plugin: { expire_timeout: 1000, alive_timeout: 30000 }, transport: { allow_discovery: true },
	cluster: { ...cluster, node_id: 'vg-a' }, links: { per_node_links: true } });
const log = fs.openSync(path.join(dir, 'janus.log'), 'w');
const child = spawn(wrapper[0], [...wrapper.slice(1), '/usr/bin/janus', ...cfg.args], { stdio: ['ignore', log, log],
	env: { ...process.env, G_SLICE: 'always-malloc' } });
let exited = null;
const exit = new Promise((r) => child.on('exit', (code, signal) => { exited = { code, signal }; r(exited); }));
const base = `https://127.0.0.1:${cfg.port}`;
const srv = {
	wsUrl: (id, token) => `wss://127.0.0.1:${cfg.port}/peerjs?key=peerjs&id=${encodeURIComponent(id)}&token=${encodeURIComponent(token)}&version=1.5.5`,
};
async function admin(req) {
	const res = await fetch(`http://127.0.0.1:${cfg.adminPort}/admin`, { method: 'POST', body: JSON.stringify({
		janus: 'message_plugin', transaction: `v${Math.random()}`, admin_secret: ADMIN_SECRET, plugin: 'janus.plugin.p2plink', request: req }) });
	const j = await res.json();
	return j.response ?? j;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Valgrind makes Janus ~20-50x slower: wait up to 3 minutes for it to listen
const deadline = Date.now() + 180000;
for (;;) {
	if (exited) { console.error('janus exited early', exited); process.exit(2); }
	try { if ((await request(`${base}/peerjs/id`)).status === 200) break; } catch { /* not yet */ }
	if (Date.now() > deadline) { console.error('janus did not start'); child.kill('SIGKILL'); process.exit(2); }
	await sleep(500);
}
console.log('janus up');
const T = 30000;
const open = async (id, token = `tok-${id}`) => { const s = await PeerSocket.connect(srv, id, token); await s.next('OPEN', T); return s; };
const a = await open('alice'), b = await open('bob'), c = await open('carol');
a.send({ type: 'OFFER', dst: 'bob', payload: { sdp: { type: 'offer', sdp: 'v=0\r\n' }, type: 'data', connectionId: 'dc_1' } });
await b.next('OFFER', T);
b.send({ type: 'ANSWER', dst: 'alice', payload: { sdp: { type: 'answer', sdp: 'v=0\r\n' }, type: 'data', connectionId: 'dc_1' } });
await a.next('ANSWER', T);
a.send({ type: 'CANDIDATE', dst: 'bob', payload: { candidate: { candidate: 'candidate:1 1 udp 1 192.0.2.1 9 typ host' } } });
await b.next('CANDIDATE', T);
a.send({ type: 'HEARTBEAT' });
// Queued for an offline peer, delivered when it connects; another queue left to EXPIRE
c.send({ type: 'OFFER', dst: 'dave', payload: { n: 1 } });
c.send({ type: 'OFFER', dst: 'nobody', payload: { n: 2 } });
const d = await open('dave');
await d.next('OFFER', T);
await c.next('EXPIRE', T);
// Bad input: every kind of rejection, including the invalid-escape frame whose ERROR cannot be encoded
for (const bad of ['not json', '{"type":"OFFER"}', '{"type":"NOPE","dst":"bob"}', '{"type":"OFFER","dst":"bad.id"}',
	'{"type":"OFFER","dst":"alice"}', Buffer.from([0x22, 0x5c, 0x75, 0xc3, 0xa9, 0x22]).toString()]) a.send(bad);
await sleep(2000);
// ID-TAKEN, reconnect with the same token (old socket replaced), discovery, admin
const thief = new PeerSocket(srv.wsUrl('bob', 'other'));
await thief.opened; await thief.next('ID-TAKEN', T); await thief.waitClosed(T);
const b2 = await open('bob');
await b.waitClosed(T);
console.log('peers', (await request(`${base}/peerjs/peers`)).body);
console.log('stats', JSON.stringify(await admin({ request: 'stats' })));
console.log('list', JSON.stringify(await admin({ request: 'list_peers', offset: 0, limit: 10 })).slice(0, 200));
console.log('kick', JSON.stringify(await admin({ request: 'kick_peer', id: 'carol' })));
await c.waitClosed(T);
console.log('bad admin', JSON.stringify(await admin({ request: 'kick_peer', id: 42 })));
// HTTP routes, traversal
for (const p of ['/', '/index.html', '/../etc/passwd', '/%2e%2e/etc/passwd', '/peerjs/id', '/nope']) {
	console.log('GET', p, (await request(`${base}${p}`)).status);
}
// Everyone leaves: one LEAVE, one close, one hard drop
a.send({ type: 'LEAVE', dst: 'bob' });
await b2.next('LEAVE', T);
a.close(); d.terminate(); b2.close();
await sleep(5000);
console.log('stats', JSON.stringify(await admin({ request: 'stats' })));
// Cluster: a second node on the same Redis
const n2 = await startJanus({ cluster: { ...cluster, node_id: 'vg-b' }, links: { per_node_links: true },
	transport: { allow_discovery: true } });
await sleep(3000);
const openOn = async (server, id, token = `tok-${id}`) => { const s = await PeerSocket.connect(server, id, token); await s.next('OPEN', T); return s; };
const f = await open('frank'), g = await openOn(n2, 'gina');
f.send({ type: 'OFFER', dst: 'gina', payload: { n: 3 } });
await g.next('OFFER', T);
g.send({ type: 'ANSWER', dst: 'frank', payload: { n: 4 } });
await f.next('ANSWER', T);
console.log('cluster peers', (await request(`${base}/peerjs/peers`)).body);
console.log('cluster list', JSON.stringify(await admin({ request: 'list_peers' })).slice(0, 300));
// frank reconnects through the other node: his copy here goes (lease lost)
const f2 = await openOn(n2, 'frank');
await f.waitClosed(T);
console.log('remote kick', JSON.stringify(await admin({ request: 'kick_peer', id: 'gina' })));
await g.waitClosed(T);
// The other node dies with a counterpart of ivy's on it: ivy hears LEAVE
const ivy = await open('ivy'), hank = await openOn(n2, 'hank');
hank.send({ type: 'OFFER', dst: 'ivy', payload: { n: 5 } });
await ivy.next('OFFER', T);
n2.child.kill('SIGKILL');
console.log('node death', JSON.stringify(await ivy.next('LEAVE', 60000)));
// Redis gone: a frame for another node's id gets EXPIRE + P2PLINK-REFUSED
redis.kill('SIGKILL');
await sleep(1000);
ivy.send({ type: 'OFFER', dst: 'frank', payload: { n: 6 } });
console.log('redis gone', JSON.stringify(await ivy.next('EXPIRE', T)));
ivy.close(); f2.terminate();
await sleep(2000);
child.kill('SIGTERM');
const timer = setTimeout(() => child.kill('SIGKILL'), 180000);
console.log('janus exit', JSON.stringify(await exit));
clearTimeout(timer);
process.exit(0);
