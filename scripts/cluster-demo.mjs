// Starts a p2plink cluster on this machine: Debian's redis-server (no persistence: it holds soft state only), three
// Janus nodes with our plugin + transport in cluster mode (each its own config folder, node id, admin port and STUN
// port), and Debian's HAProxy in TCP mode in front of them (TLS passed through to the nodes, health check
// GET /peerjs/id over TLS on each), then prints the one URL to open. Ctrl+C (or SIGTERM) stops everything it started.
//   node scripts/cluster-demo.mjs [--dir DIR] [--nodes N]
//   P2PLINK_PORT=8443 (HAProxy's port)  P2PLINK_BIND=0.0.0.0  P2PLINK_ADMIN_PORT=7090 (node i: 7090 + i; 0: free ports)
//   P2PLINK_MONGODB_URI=mongodb://...   a shared link store (without it each node keeps its own SQLite links)
// When everything is up it prints a line "P2PLINK_CLUSTER_URL=https://..." (tests read it) and one
// "P2PLINK_CLUSTER_NODE=<id> port=<p> admin=<url> pid=<janus pid>" per node.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import { freePort, repoRoot, writeJanusConfig } from '../tests/lib/janus.mjs';

const arg = (name, fallback) => {
	const i = process.argv.indexOf(name);
	return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
};
const runDir = path.resolve(arg('--dir', path.join(repoRoot, 'run', 'cluster')));
const nodeCount = Number(arg('--nodes', 3));
const port = Number(process.env.P2PLINK_PORT || 8443);
const bind = process.env.P2PLINK_BIND || '0.0.0.0';
const adminBase = Number(process.env.P2PLINK_ADMIN_PORT ?? 7090);
const mongo = process.env.P2PLINK_MONGODB_URI;
fs.mkdirSync(path.join(runDir, 'certs'), { recursive: true, mode: 0o700 });

const children = [];
let stopping = false;
async function stopAll(code) {
	if (stopping) return;
	stopping = true;
	for (const c of children.reverse()) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
	await new Promise((r) => setTimeout(r, 300));
	const deadline = Date.now() + 10000;
	while (children.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline)
		await new Promise((r) => setTimeout(r, 100));
	for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
	process.exit(code);
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => stopAll(0));
function start(name, cmd, args, logFile) {
	const log = fs.openSync(logFile, 'a');
	const child = spawn(cmd, args, { stdio: ['ignore', log, log] });
	child.on('exit', (code, signal) => {
		if (!stopping) console.log(`cluster-demo: ${name} exited (${signal || code}); see ${logFile}`);
	});
	children.push(child);
	return child;
}
const waitFor = async (what, ms, fn) => {
	const deadline = Date.now() + ms;
	for (;;) {
		try { if (await fn()) return; } catch { /* not yet */ }
		if (Date.now() > deadline) { console.error(`cluster-demo: ${what} did not come up`); await stopAll(1); }
		await new Promise((r) => setTimeout(r, 100));
	}
};
// The nodes' self-signed certificate is this demo's own: their health is checked without verifying it
const idAnswers = (p) => new Promise((resolve) => {
	const req = https.get({ host: '127.0.0.1', port: p, path: '/peerjs/id', rejectUnauthorized: false, timeout: 1000 },
		(res) => { res.resume(); resolve(res.statusCode === 200); });
	req.on('error', () => resolve(false));
	req.on('timeout', () => { req.destroy(); resolve(false); });
});
const tcpOpen = (p) => new Promise((resolve) => {
	const s = net.connect(p, '127.0.0.1', () => { s.destroy(); resolve(true); });
	s.on('error', () => resolve(false));
});

// One certificate for every node: HAProxy passes TLS through, so the browser sees the nodes' certificate
const addresses = Object.values(os.networkInterfaces()).flat().filter((a) => a && !a.internal).map((a) => a.address);
const cert = path.join(runDir, 'certs', 'p2plink.crt'), key = path.join(runDir, 'certs', 'p2plink.key');
if (!fs.existsSync(cert) || !fs.existsSync(key)) {
	const san = ['DNS:localhost', `DNS:${os.hostname()}`, 'IP:127.0.0.1', 'IP:::1', ...addresses.map((a) => `IP:${a}`)];
	execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
		'-keyout', key, '-out', cert, '-days', '825', '-subj', `/CN=${os.hostname()}`, '-addext',
		`subjectAltName=${san.join(',')}`], { stdio: 'ignore' });
}
const secretFile = path.join(runDir, 'admin-secret');
if (!fs.existsSync(secretFile)) fs.writeFileSync(secretFile, crypto.randomBytes(24).toString('base64url') + '\n', { mode: 0o600 });
const adminSecret = fs.readFileSync(secretFile, 'utf8').trim();

// Redis: loopback only, no persistence (leases, liveness and frames in flight are soft state)
const redisPort = await freePort();
start('redis-server', 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
	'--appendonly', 'no', '--daemonize', 'no', '--dir', runDir], path.join(runDir, 'redis.log'));
await waitFor('redis-server', 10000, () => tcpOpen(redisPort));

// The nodes: loopback ports HAProxy forwards to
const nodes = [];
for (let i = 1; i <= nodeCount; i++) {
	const id = `node-${i}`;
	const dir = path.join(runDir, id);
	const nodePort = await freePort();
	const conf = await writeJanusConfig(dir, {
		port: nodePort, host: '127.0.0.1', adminPort: adminBase > 0 ? adminBase + i : await freePort(), adminSecret,
		certificate: { cert, key },
		cluster: { redis_url: `redis://127.0.0.1:${redisPort}`, node_id: id },
		links: mongo ? { store: 'mongodb', mongodb_uri: mongo, mongodb_database: 'p2plink' }
			: { store_folder: path.join(dir, 'data'), per_node_links: true },
		stun: { port: 0 },
	});
	const janus = start(id, '/usr/bin/janus', conf.args, path.join(dir, 'janus.log'));
	nodes.push({ id, port: nodePort, admin: `http://127.0.0.1:${conf.adminPort}/admin`, log: path.join(dir, 'janus.log'),
		pid: janus.pid });
}
for (const n of nodes)
	await waitFor(n.id, 20000, () => idAnswers(n.port));

// HAProxy: TCP mode, TLS passed through (the nodes terminate it), a node taken out when its health check fails.
// Long client/server/tunnel timeouts: a PeerJS WebSocket is idle between heartbeats (5 s) for hours.
const haproxyCfg = path.join(runDir, 'haproxy.cfg');
fs.writeFileSync(haproxyCfg, [
	'global',
	'    maxconn 8000',
	'defaults',
	'    mode tcp',
	'    timeout connect 5s',
	'    timeout client 1h',
	'    timeout server 1h',
	'    timeout tunnel 1h',
	'frontend p2plink',
	`    bind ${bind}:${port}`,
	'    default_backend nodes',
	'backend nodes',
	'    balance leastconn',
	'    option httpchk',
	'    http-check send meth GET uri /peerjs/id ver HTTP/1.1 hdr Host localhost',
	'    http-check expect status 200',
	...nodes.map((n) => `    server ${n.id} 127.0.0.1:${n.port} check check-ssl verify none inter 1s fall 2 rise 1`),
	'',
].join('\n'));
execFileSync('haproxy', ['-c', '-q', '-f', haproxyCfg]);
start('haproxy', 'haproxy', ['-db', '-f', haproxyCfg], path.join(runDir, 'haproxy.log'));
await waitFor('haproxy', 10000, () => tcpOpen(port));

const shown = bind === '0.0.0.0' || bind === '::' ? (addresses.find((a) => a.includes('.')) || 'localhost') : bind;
console.log(`
p2plink cluster demo: ${nodeCount} nodes, Redis on 127.0.0.1:${redisPort}, HAProxy on ${bind}:${port}
  open       https://${shown}:${port}/   (also https://localhost:${port}/; accept the self-signed certificate)
${nodes.map((n) => `  ${n.id}     127.0.0.1:${n.port}, admin API ${n.admin}, log ${n.log}`).join('\n')}
  admin      admin_secret in ${secretFile}; "stats" on any node shows the cluster
  links      ${mongo ? 'shared MongoDB store' : 'SQLite per node (per_node_links: set P2PLINK_MONGODB_URI for one shared store)'}
  stop       Ctrl+C
`);
console.log(`P2PLINK_CLUSTER_URL=https://localhost:${port}/`);
for (const n of nodes) console.log(`P2PLINK_CLUSTER_NODE=${n.id} port=${n.port} admin=${n.admin} pid=${n.pid}`);
