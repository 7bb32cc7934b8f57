// Starts the p2plink demo: Debian's Janus with only our plugin + transport (and Janus's HTTP transport for the
// admin API on 127.0.0.1), a self-signed certificate made on first run, state kept in ./run.
//   P2PLINK_PORT=8443 P2PLINK_BIND=0.0.0.0 node scripts/demo.mjs
//   P2PLINK_EVENTS_URL=http://collector/path   the plugin's events there (default: run/events.jsonl)
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, writeJanusConfig } from '../tests/lib/janus.mjs';
import { startEventCollector } from '../tests/lib/event-collector.mjs';

const runDir = path.join(repoRoot, 'run');
const port = Number(process.env.P2PLINK_PORT || 8443);
const bind = process.env.P2PLINK_BIND || '0.0.0.0';
fs.mkdirSync(path.join(runDir, 'certs'), { recursive: true, mode: 0o700 });

const addresses = Object.values(os.networkInterfaces()).flat().filter((a) => a && !a.internal).map((a) => a.address);
const cert = path.join(runDir, 'certs', 'p2plink.crt'), key = path.join(runDir, 'certs', 'p2plink.key');
if (!fs.existsSync(cert) || !fs.existsSync(key)) {
	const san = ['DNS:localhost', `DNS:${os.hostname()}`, 'IP:127.0.0.1', 'IP:::1', ...addresses.map((a) => `IP:${a}`)];
	execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
		'-keyout', key, '-out', cert, '-days', '825', '-subj', `/CN=${os.hostname()}`, '-addext',
		`subjectAltName=${san.join(',')}`], { stdio: 'ignore' });
	console.log(`demo: made a self-signed certificate: ${cert}`);
}

// The admin API must never run without a secret: one is generated on first run and kept in run/admin-secret
const secretFile = path.join(runDir, 'admin-secret');
if (!fs.existsSync(secretFile)) fs.writeFileSync(secretFile, crypto.randomBytes(24).toString('base64url') + '\n', { mode: 0o600 });
const adminSecret = fs.readFileSync(secretFile, 'utf8').trim();
if (adminSecret.length < 16) {
	console.error(`demo: ${secretFile} holds an empty or short admin secret; refusing to start`);
	process.exit(1);
}

// Events through Janus's own sample HTTP event handler (plugin events only): to P2PLINK_EVENTS_URL when set, else
// to a collector here on loopback that appends each one to run/events.jsonl, so an operator sees what a real
// collector would get (fields: README.md, "Events")
let eventsBackend = process.env.P2PLINK_EVENTS_URL;
const eventsFile = path.join(runDir, 'events.jsonl');
if (!eventsBackend) {
	const collector = await startEventCollector({ onEvent: (e) => fs.appendFileSync(eventsFile, JSON.stringify(e) + '\n') });
	eventsBackend = collector.url;
}

const conf = await writeJanusConfig(runDir, {
	port, host: bind, adminPort: 7088, adminSecret, certificate: { cert, key },
	links: { store_folder: path.join(runDir, 'data') },
	stun: { port: Number(process.env.P2PLINK_STUN_PORT || 3478) },
	eventsBackend, eventHandler: { events: 'plugins', grouping: true },
});
const shown = bind === '0.0.0.0' || bind === '::' ? (addresses.find((a) => a.includes('.')) || 'localhost') : bind;
console.log(`
p2plink demo
  open       https://${shown}:${port}/   (also https://localhost:${port}/; accept the self-signed certificate)
  admin API  http://127.0.0.1:${conf.adminPort}/admin  (admin_secret in ${secretFile})
  events     ${process.env.P2PLINK_EVENTS_URL ? eventsBackend : eventsFile}  (Janus's sample HTTP event handler)
  stop       Ctrl+C
`);
const janus = spawn('/usr/bin/janus', conf.args, { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => janus.kill('SIGTERM'));
janus.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
