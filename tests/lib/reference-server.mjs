/*
 * reference-server.mjs — dev/test stand-in for the p2plink server, built from the
 * reference PeerJS server (npm `peer`).
 *
 * What it is for: the browser e2e tests and local development of html/ before the Janus
 * transport is ready. It serves, over HTTPS with a throw-away self-signed certificate
 * (made by the `openssl` CLI in a temp dir):
 *   - html/ statically (build html/vendor/ first: node scripts/build-html.mjs),
 *   - /l/<token>       → html/index.html (share-link landing page),
 *   - /peerjs/config   → {"iceServers":[]} (never any external STUN/TURN),
 *   - the PeerJS protocol (GET /peerjs/id, WSS /peerjs) via ExpressPeerServer at '/'.
 * What it is not for: share-link endpoints (/peerjs/links/*, /peerjs/linkonly) are absent
 * and answer 404; link tests skip against this server. tests/lib/janus.mjs exports the
 * same startServer() shape for the real server.
 *
 * Usage: const { baseUrl, stop } = await startServer({ port: 0 });
 *   or   node tests/lib/reference-server.mjs [port]   (prints the URL, Ctrl-C to stop)
 */
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { ExpressPeerServer } from 'peer';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const htmlDir = join(root, 'html');

function makeCert() {
	const dir = mkdtempSync(join(tmpdir(), 'p2plink-cert-'));
	const key = join(dir, 'key.pem');
	const cert = join(dir, 'cert.pem');
	execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
		'-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
		'-keyout', key, '-out', cert], { stdio: 'ignore' });
	const pair = { key: readFileSync(key), cert: readFileSync(cert) };
	rmSync(dir, { recursive: true, force: true });
	return pair;
}

/*
 * The reference PeerServer starts interval timers it never clears, which would keep the
 * test process alive; so startServer() runs the server in a child process and stop()
 * ends that process.
 */
export async function startServer({ port = 0, host = '127.0.0.1' } = {}) {
	const child = spawn(process.execPath, [fileURLToPath(import.meta.url), String(port)], {
		env: { ...process.env, HOST: host, P2PLINK_REF_JSON: '1' },
		stdio: ['ignore', 'pipe', 'inherit'],
	});
	const exited = new Promise((resolve) => child.once('exit', resolve));
	const baseUrl = await new Promise((resolve, reject) => {
		const rl = createInterface({ input: child.stdout });
		rl.once('line', (line) => { try { resolve(JSON.parse(line).baseUrl); } catch (e) { reject(e); } });
		child.once('exit', (code) => reject(new Error(`reference server exited (${code})`)));
	});
	return {
		baseUrl,
		async stop() {
			child.kill('SIGTERM');
			await exited;
		},
	};
}

async function serve({ port = 0, host = '127.0.0.1' } = {}) {
	if (!existsSync(join(htmlDir, 'vendor', 'peerjs.js')))
		execFileSync(process.execPath, [join(root, 'scripts', 'build-html.mjs')], { stdio: 'ignore' });
	const app = express();
	const server = https.createServer(makeCert(), app);
	const sockets = new Set();
	server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });

	app.get('/peerjs/config', (req, res) => res.json({ iceServers: [] }));
	app.get('/l/:token', (req, res) => res.sendFile(join(htmlDir, 'index.html')));
	app.use(express.static(htmlDir, { index: 'index.html' }));
	const peerServer = ExpressPeerServer(server, { path: '/', key: 'peerjs', allow_discovery: false });
	app.use('/', peerServer);
	/* Anything else (including /peerjs/links/*): JSON 404 in the p2plink error shape. */
	app.use((req, res) => res.status(404).json({ error: { code: 'not-found', msg: 'no such endpoint on this server' } }));

	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(port, host, resolve);
	});
	const actual = server.address().port;
	return {
		baseUrl: `https://localhost:${actual}`,
		async stop() {
			for (const s of sockets) s.destroy();
			await new Promise((resolve) => server.close(() => resolve()));
		},
	};
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
	const { baseUrl } = await serve({ port: Number(process.argv[2] ?? 8443), host: process.env.HOST || '127.0.0.1' });
	if (process.env.P2PLINK_REF_JSON) console.log(JSON.stringify({ baseUrl }));
	else console.log(`p2plink reference server on ${baseUrl}`);
	process.on('SIGTERM', () => process.exit(0));
}
