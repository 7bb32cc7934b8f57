// Starts the real /usr/bin/janus with only our plugin + transport (and Janus's HTTP transport for the admin API,
// on loopback) in a throw-away config folder, and stops it again. Used by every integration and e2e test.
//
//   const srv = await startJanus({ plugin: { expire_timeout: 1000 }, transport: { allow_discovery: true } });
//   srv.baseUrl  -> https://127.0.0.1:<port>      srv.wsUrl(id, token) -> wss://.../peerjs?key=peerjs&id=..&token=..
//   await srv.admin({ request: 'list_peers' })    -> the plugin's admin answer (message_plugin over the admin API)
//   await srv.stop()                              -> SIGTERM, waits for exit, fails if Janus crashed
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './temp-dir.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../..');
const buildDir = process.env.P2PLINK_BUILD_DIR || repoRoot;
const janusBin = process.env.P2PLINK_JANUS || '/usr/bin/janus';
const debianJanusLib = fs.existsSync('/usr/lib/x86_64-linux-gnu/janus') ? '/usr/lib/x86_64-linux-gnu/janus'
	: path.join('/usr/lib', execFileSync('gcc', ['-print-multiarch']).toString().trim(), 'janus');
export const ADMIN_SECRET = 'p2plink-test-admin-secret';

export async function freePort(host = '127.0.0.1') {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.on('error', reject);
		srv.listen(0, host, () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

// A non-loopback IPv4 address of this host (to show a loopback listener is not reachable on it), or undefined
export function externalIPv4() {
	return Object.values(os.networkInterfaces()).flat().find((i) => i.family === 'IPv4' && !i.internal)?.address;
}

// 'connected' or the error code (ECONNREFUSED, ...) of a plain TCP connect
export function tcpConnectOutcome(host, port) {
	return new Promise((resolve) => {
		const s = net.connect({ host, port });
		s.once('connect', () => { s.destroy(); resolve('connected'); });
		s.once('error', (e) => resolve(e.code));
	});
}

let certCache = null;
// One self-signed certificate per test process, for 127.0.0.1, ::1 and localhost, plus the addresses listed in
// P2PLINK_TEST_CERT_IPS (comma-separated: the NAT test's server address in its namespace)
// CPU seconds (user + system) a process has used so far
export function processCpuSeconds(pid) {
	const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
	return (Number(fields[11]) + Number(fields[12])) / 100;	/* utime, stime in clock ticks (USER_HZ = 100) */
}

// A sample's value in Prometheus exposition text (no labels, or exactly these labels), or undefined
export function metricSample(text, name, labels = '') {
	const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
	return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

export function testCertificate() {
	if (certCache) return certCache;
	const dir = tempDir('p2plink-cert-');
	const cert = path.join(dir, 'cert.pem'), key = path.join(dir, 'key.pem');
	execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
		'-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost',
		'-addext', `subjectAltName=${['DNS:localhost', 'IP:127.0.0.1', 'IP:::1',
			...(process.env.P2PLINK_TEST_CERT_IPS || '').split(',').filter(Boolean).map((ip) => `IP:${ip}`)].join(',')}`],
	{ stdio: 'ignore' });
	certCache = { cert, key, dir };
	return certCache;
}

// HTTP(S) request trusting the test certificate: resolves { status, headers, body }
// agent: a shared (keep-alive) https.Agent, for tests that send many requests at once; default: one connection each
export function request(url, { method = 'GET', headers = {}, body, localAddress, agent = false, timeoutMs = 10000 } = {}) {
	return new Promise((resolve, reject) => {
		const u = new URL(url);
		const mod = u.protocol === 'https:' ? https : http;
		const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
		if (payload !== undefined) headers = { 'content-length': Buffer.byteLength(payload), ...headers };
		const req = mod.request(u, { method, headers, ca: fs.readFileSync(testCertificate().cert), localAddress,
			agent }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
			// A server that dies mid-body (the SIGKILL test) ends the response without 'end' and without an error on
			// req: without this the promise would never settle
			res.on('error', reject);
			res.on('close', () => { if (!res.complete) reject(new Error(`response cut off: ${method} ${url}`)); });
		});
		req.on('error', reject);
		req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout: ${method} ${url}`)));
		req.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
	});
}

// POST a JSON body to one of the transport's PeerJS-side endpoints ({path}peerjs/<route>): resolves
// { status, json }. The dual-stack test server is reached over IPv4 when the caller picks an IPv4 source address.
export function postPeerjs(server, route, body, { localAddress, headers = {}, agent } = {}) {
	const base = localAddress && localAddress.includes('.') ? server.baseUrl.replace('[::1]', '127.0.0.1') : server.baseUrl;
	return request(`${base}/peerjs/${route}`, { method: 'POST', body, localAddress, agent, timeoutMs: agent ? 60000 : 10000,
		headers: { 'content-type': 'application/json', ...headers } })
		.then((r) => ({ status: r.status, json: JSON.parse(r.body) }));
}

// libconfig syntax: category { key = value; ... }
function jcfg(sections) {
	const value = (v) => (typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? `[${v.map(value).join(', ')}]` : String(v));
	return Object.entries(sections).map(([name, items]) =>
		`${name}: {\n${Object.entries(items).filter(([, v]) => v !== undefined).map(([k, v]) => `\t${k} = ${value(v)}`).join('\n')}\n}\n`).join('\n');
}

function moduleFolder(dir, files) {
	fs.mkdirSync(dir, { recursive: true });
	for (const [name, target] of Object.entries(files)) {
		if (!fs.existsSync(target)) throw new Error(`${target} is missing: build first (make)`);
		fs.symlinkSync(target, path.join(dir, name));
	}
	return dir;
}

// Writes a complete Janus configuration into dir/conf (module folders hold symlinks to our build and to Debian's
// HTTP transport, which serves the admin API on loopback only). Returns what a caller needs to start and reach it.
export async function writeJanusConfig(dir, opts = {}) {
	const port = opts.port || await freePort();
	const adminPort = opts.adminPort || await freePort();
	// Janus's own HTTP API (not used by browsers): only for tests that play "a client of another transport"
	const janusApiPort = opts.janusApi ? await freePort() : undefined;
	// The loopback /metrics listener: opts.metrics ({} or overrides such as { interface: ... }) turns it on
	const metricsPort = opts.metrics ? opts.metrics.port || await freePort() : undefined;
	const secure = opts.secure !== false;
	const host = opts.host || '127.0.0.1';
	const { cert, key } = opts.certificate || testCertificate();
	const confDir = path.join(dir, 'conf');
	for (const sub of ['conf', 'plugins', 'transports']) fs.rmSync(path.join(dir, sub), { recursive: true, force: true });
	fs.mkdirSync(confDir, { recursive: true });
	const plugins = moduleFolder(path.join(dir, 'plugins'), {
		'libjanus_p2plink.so': path.join(buildDir, '.libs', 'libjanus_p2plink.so'),
	});
	const transports = moduleFolder(path.join(dir, 'transports'), {
		'libjanus_peerjs.so': path.join(buildDir, '.libs', 'libjanus_peerjs.so'),
		'libjanus_http.so': path.join(debianJanusLib, 'transports', 'libjanus_http.so'),
	});
	// Event handlers: only Debian's sample handler, POSTing every event to opts.eventsBackend (a test's HTTP server);
	// opts.eventHandler overrides its settings (e.g. { events: 'plugins', grouping: true }, as deploy/ has them)
	const eventsDir = path.join(dir, 'events');
	fs.rmSync(eventsDir, { recursive: true, force: true });
	if (opts.eventsBackend) {
		moduleFolder(eventsDir, { 'libjanus_sampleevh.so': path.join(debianJanusLib, 'events', 'libjanus_sampleevh.so') });
		fs.writeFileSync(path.join(confDir, 'janus.eventhandler.sampleevh.jcfg'), jcfg({
			general: { enabled: true, events: 'all', grouping: false, json: 'compact', backend: opts.eventsBackend,
				...(opts.eventHandler || {}) },
		}));
	}
	const adminSecret = opts.adminSecret || ADMIN_SECRET;
	fs.writeFileSync(path.join(confDir, 'janus.jcfg'), jcfg({
		general: {
			configs_folder: confDir, plugins_folder: plugins, transports_folder: transports,
			events_folder: opts.eventsBackend ? eventsDir : path.join(dir, 'none'), loggers_folder: path.join(dir, 'none'),
			debug_level: opts.debugLevel ?? 4, admin_secret: adminSecret,
			session_timeout: opts.sessionTimeout ?? 60, server_name: 'p2plink',
			// Janus gives every handle its own thread and event loop unless told otherwise; ours never carry
			// media, so a couple of shared loops serve any number of peers
			event_loops: opts.eventLoops ?? 2,
			...(opts.janus || {}),
		},
		certificates: {}, media: {}, nat: { ice_ignore_list: 'vmnet' }, plugins: {}, transports: {},
		events: { broadcast: !!opts.eventsBackend },
	}));
	fs.writeFileSync(path.join(confDir, 'janus.transport.http.jcfg'), jcfg({
		general: { json: 'compact', base_path: '/janus', http: !!opts.janusApi, port: janusApiPort, ip: '127.0.0.1',
			https: false },
		admin: { admin_base_path: '/admin', admin_http: true, admin_port: adminPort, admin_ip: '127.0.0.1', admin_https: false },
		cors: {},
	}));
	fs.writeFileSync(path.join(confDir, 'janus.transport.peerjs.jcfg'), jcfg({
		general: {
			port, interface: host, secure, html_folder: path.join(repoRoot, 'html'), ...(opts.transport || {}),
		},
		certificates: secure ? { cert_pem: cert, cert_key: key, ...(opts.certificates || {}) } : {},
		metrics: opts.metrics ? { enabled: true, port: metricsPort, interface: '127.0.0.1', ...opts.metrics } : {},
		// Port 0: every test server gets its own free UDP port for the STUN responder
		stun: { port: 0, ...(opts.stun || {}) },
		ice: { ...(opts.ice || {}) },
		// Cluster mode (docs/cluster.md): opts.cluster = { redis_url, node_id, lease_ms, ... } turns it on
		cluster: opts.cluster ? { enabled: true, ...opts.cluster } : {},
	}));
	fs.writeFileSync(path.join(confDir, 'janus.plugin.p2plink.jcfg'), jcfg({
		general: { ...(opts.plugin || {}) },
		links: { store_folder: path.join(dir, 'data'), ...(opts.links || {}) },
	}));
	return { confDir, port, adminPort, janusApiPort, metricsPort, secure, host, adminSecret,
		args: ['-C', path.join(confDir, 'janus.jcfg'), '-F', confDir, '-o'] };
}

// Starts Janus with these options without waiting for it to serve (it may refuse to), waits until its log matches
// `done` (or 20 s), awaits check(log text, the config writeJanusConfig wrote, exited(), read() for the log now) while it runs, then stops it.
// exited(): null while Janus runs, else its { code, signal }. Resolves the exit ({ signal: 'SIGTERM' } when we
// stopped it), so a caller can tell a refusal from a crash.
export async function startupLog(options, done, check) {
	const dir = tempDir('p2plink-janus-');
	const config = await writeJanusConfig(dir, options);
	const logFile = path.join(dir, 'janus.log');
	const log = fs.openSync(logFile, 'w');
	const child = spawn(janusBin, config.args, { stdio: ['ignore', log, log] });
	let exit = null;
	const exited = new Promise((resolve) => child.on('exit', (code, signal) => { exit = { code, signal }; resolve(exit); }));
	const read = () => fs.readFileSync(logFile, 'utf8');
	try {
		const deadline = Date.now() + 20000;
		while (!done.test(read()) && Date.now() < deadline)
			await new Promise((r) => setTimeout(r, 100));
		await check(read(), config, () => exit, read);
	} finally {
		if (!exit) child.kill('SIGTERM');
		const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
		await exited;
		clearTimeout(timer);
		fs.closeSync(log);
	}
	return exit;
}

export async function startJanus(opts = {}) {
	// opts.dir: reuse a folder (and its link store) from an earlier server, e.g. to restart after a crash
	const dir = opts.dir || tempDir('p2plink-janus-');
	const { port, adminPort, janusApiPort, metricsPort, secure, host, args } = await writeJanusConfig(dir, opts);
	const logFile = path.join(dir, 'janus.log');
	const log = fs.openSync(logFile, 'w');
	const child = spawn(opts.wrapper ? opts.wrapper[0] : janusBin,
		[...(opts.wrapper ? [...opts.wrapper.slice(1), janusBin] : []), ...args],
		{ stdio: ['ignore', log, log], env: { ...process.env, ...(opts.env || {}) } });
	let exit = null;
	const exited = new Promise((resolve) => child.on('exit', (code, signal) => { exit = { code, signal }; resolve(exit); }));
	const scheme = secure ? 'https' : 'http';
	// A wildcard bind is reached through loopback
	const reach = host === '::' ? '::1' : host === '0.0.0.0' ? '127.0.0.1' : host;
	const urlHost = reach.includes(':') ? `[${reach}]` : reach;
	const baseUrl = `${scheme}://${urlHost}:${port}`;
	const server = {
		dir, port, adminPort, metricsPort, baseUrl, logFile, child, secure,
		metricsUrl: metricsPort ? `http://127.0.0.1:${metricsPort}/metrics` : undefined,
		wsBase: `${secure ? 'wss' : 'ws'}://${urlHost}:${port}`,
		wsUrl(id, token, key = 'peerjs') {
			return `${this.wsBase}/peerjs?key=${encodeURIComponent(key)}&id=${encodeURIComponent(id)}&token=${encodeURIComponent(token)}&version=1.5.5`;
		},
		log() { return fs.readFileSync(logFile, 'utf8'); },
		janusApiUrl: janusApiPort ? `http://127.0.0.1:${janusApiPort}/janus` : undefined,
		async janusApi(pathSuffix, body) {
			const res = await request(`${this.janusApiUrl}${pathSuffix}`, { method: 'POST', body });
			return JSON.parse(res.body);
		},
		async adminRaw(body) {
			// Bounded: a wedged Janus must fail the test, not hang the suite
			const res = await fetch(`http://127.0.0.1:${adminPort}/admin`, { method: 'POST', body: JSON.stringify(body),
				signal: AbortSignal.timeout(15000) });
			return res.json();
		},
		async admin(request, secret = ADMIN_SECRET) {
			const reply = await this.adminRaw({ janus: 'message_plugin', transaction: `t${Date.now()}${Math.random()}`,
				admin_secret: secret, plugin: 'janus.plugin.p2plink', request });
			return reply.response ?? reply;
		},
		get exited() { return exit; },
		async stop() {
			if (!exit) {
				child.kill('SIGTERM');
				const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
				await exited;
				clearTimeout(timer);
			}
			fs.closeSync(log);
			if (exit.signal && exit.signal !== 'SIGTERM') throw new Error(`janus died with ${exit.signal}; log: ${logFile}`);
			return exit;
		},
	};
	// Ready when the transport answers and the admin API knows our plugin
	const deadline = Date.now() + 15000;
	for (;;) {
		if (exit) throw new Error(`janus exited (${JSON.stringify(exit)}):\n${server.log().slice(-3000)}`);
		try {
			const res = await request(`${baseUrl}/peerjs/id`);
			if (res.status === 200) {
				const ping = await server.adminRaw({ janus: 'ping', transaction: 'ready', admin_secret: ADMIN_SECRET });
				if (ping.janus === 'pong') break;
			}
		} catch { /* not listening yet */ }
		if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`janus did not start:\n${server.log().slice(-3000)}`); }
		await new Promise((r) => setTimeout(r, 100));
	}
	return server;
}

// The shape the e2e tests expect from a server module
export async function startServer(opts = {}) {
	const srv = await startJanus(opts);
	return { baseUrl: srv.baseUrl, janus: srv, stop: () => srv.stop() };
}
