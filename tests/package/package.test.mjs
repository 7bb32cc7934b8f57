/*
 * package.test.mjs — the Debian package as an operator meets it. Run by tests/package/run.sh (root, build tools
 * present); each test is one step and needs the ones before it:
 *   build (dpkg-buildpackage -us -uc -b in a copy of this tree) → lintian → apt-get install ./p2plink_*.deb →
 *   installed files, owners and modes → Janus started the way p2plink.service does (its ExecStartPre and ExecStart
 *   lines, as its User; systemd is not assumed to be PID 1) → smoke check against the installed files → remove →
 *   purge, with nothing of ours left in /etc/janus, Janus's module folders, /etc/p2plink or /var/lib/p2plink.
 * What it is not for: the protocol itself (tests/integration does that against the build tree).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, testCertificate, request, postPeerjs } from '../lib/janus.mjs';
import { PeerSocket } from '../lib/peer-socket.mjs';

const multiarch = execFileSync('dpkg-architecture', ['-qDEB_HOST_MULTIARCH']).toString().trim();
const janusLib = `/usr/lib/${multiarch}/janus`;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'p2plink-package-'));
const src = path.join(work, 'p2plink');
const unitFile = '/lib/systemd/system/p2plink.service';
const ours = [`${janusLib}/plugins/libjanus_p2plink.so`, `${janusLib}/transports/libjanus_peerjs.so`,
	'/etc/janus/janus.plugin.p2plink.jcfg.sample', '/etc/janus/janus.transport.peerjs.jcfg.sample',
	'/etc/p2plink', '/var/lib/p2plink', '/usr/share/p2plink', '/usr/bin/p2plink-admin', unitFile];
/* The installed service's addresses (fixed by the package's config: this test checks what an operator gets) */
const server = {
	baseUrl: 'https://127.0.0.1:8443',
	wsUrl: (id, token) => `wss://127.0.0.1:8443/peerjs?key=peerjs&id=${encodeURIComponent(id)}&token=${encodeURIComponent(token)}&version=1.5.5`,
};

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
const installed = () => {
	try {
		return run('dpkg-query', ['-W', '-f=${Status}', 'p2plink'], { stdio: ['ignore', 'pipe', 'ignore'] }).includes('installed');
	} catch {
		return false; /* unknown to dpkg: purged */
	}
};
/* The .deb and lintian's report are kept for CI to show */
const artifacts = path.join(repoRoot, 'test-artifacts', 'package');
let deb, janus, janusLog, failed = null;
/* Someone's real install (or its kept configuration) is never touched: tests/package/run.sh skips then, and so does
 * this file when run on its own */
const preexisting = installed() || fs.existsSync('/etc/p2plink');
if (preexisting) failed = 'a machine without p2plink (it is, or was, installed here)';

/* Steps run in order; once one fails the rest are skipped, naming the failed step, instead of piling up errors */
function step(name, fn) {
	test(name, async (t) => {
		if (failed) return t.skip(`needs "${failed}"`);
		try {
			await fn(t);
		} catch (e) {
			failed = name;
			throw e;
		}
	});
}

/* ExecStartPre=/ExecStart=/User= of the installed unit, as systemd would read them (one line each here) */
function unit() {
	const text = fs.readFileSync(unitFile, 'utf8');
	const get = (key) => text.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
	return { pre: get('ExecStartPre'), start: get('ExecStart')[0], user: get('User')[0], runtime: get('RuntimeDirectory')[0] };
}

/* As the unit's User, with only its groups, like systemd's User=/Group= */
const asUser = (user, argv) => ['setpriv', ['--reuid', user, '--regid', user, '--init-groups', '--', ...argv]];

function portFree(port, udp = false) {
	const out = run('ss', [udp ? '-Hlun' : '-Hltn', `sport = :${port}`]);
	return out.trim() === '';
}

after(async () => {
	if (preexisting) return fs.rmSync(work, { recursive: true, force: true });
	// Whatever happened, the machine is left as it was: the later test layers must not meet our installed copy
	if (janus && janus.exitCode === null) janus.kill('SIGKILL');
	if (installed()) run('apt-get', ['purge', '-y', '-qq', 'p2plink'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
	fs.rmSync('/etc/p2plink', { recursive: true, force: true });
	fs.rmSync(work, { recursive: true, force: true });
});

step('dpkg-buildpackage -us -uc -b builds p2plink_*.deb from a copy of the tree', () => {
	// A copy: the build configures and cleans its tree, and the next test layers load modules from this one
	const files = run('git', ['-C', repoRoot, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'])
		.split('\0').filter((f) => f && fs.existsSync(path.join(repoRoot, f)) && !fs.lstatSync(path.join(repoRoot, f)).isDirectory());
	for (const f of files) {
		fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
		fs.copyFileSync(path.join(repoRoot, f), path.join(src, f));
		fs.chmodSync(path.join(src, f), fs.statSync(path.join(repoRoot, f)).mode);
	}
	// npm ci's output, as debian/rules expects it (a Debian build never fetches)
	fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(src, 'node_modules'));
	const started = Date.now();
	try {
		run('dpkg-buildpackage', ['-us', '-uc', '-b'], { cwd: src, stdio: ['ignore', 'pipe', 'pipe'] });
	} catch (e) {
		throw new Error(`dpkg-buildpackage failed:\n${(e.stdout || '').slice(-3000)}\n${(e.stderr || '').slice(-3000)}`);
	}
	deb = fs.readdirSync(work).find((f) => /^p2plink_.*\.deb$/.test(f));
	assert.ok(deb, `no .deb in ${work}: ${fs.readdirSync(work)}`);
	deb = path.join(work, deb);
	fs.mkdirSync(artifacts, { recursive: true });
	fs.copyFileSync(deb, path.join(artifacts, path.basename(deb)));
	console.log(`built ${path.basename(deb)} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
});

step('lintian reports no error', () => {
	let out;
	try {
		out = run('lintian', ['--info', '--display-level', '>=pedantic', '--tag-display-limit', '0', deb],
			{ stdio: ['ignore', 'pipe', 'pipe'] });
	} catch (e) {
		out = (e.stdout || '') + (e.stderr || '');
	}
	fs.writeFileSync(path.join(artifacts, 'lintian.txt'), out);
	for (const line of out.split('\n').filter((l) => /^[EWIPX]: /.test(l))) console.log(`lintian: ${line}`);
	const count = (tag) => out.split('\n').filter((l) => l.startsWith(`${tag}: `)).length;
	console.log(`lintian: ${count('E')} errors, ${count('W')} warnings, ${count('I')} info, ${count('P')} pedantic`);
	assert.deepEqual(out.split('\n').filter((l) => l.startsWith('E:')), []);
});

step('the package ships no admin secret and depends on Debian\'s janus and its libraries', () => {
	const list = run('dpkg-deb', ['-c', deb]);
	assert.doesNotMatch(list, /admin-secret(\.jcfg)?$/m);
	const depends = run('dpkg-deb', ['-f', deb, 'Depends']);
	assert.match(depends, /\bjanus \(>= 1\.1\)/);
	for (const lib of ['libwebsockets', 'libjansson', 'libglib2.0', 'libssl', 'libsqlite3', 'libmongoc', 'libnice', 'libyajl'])
		assert.match(depends, new RegExp(`\\b${lib.replace('.', '\\.')}`), `${lib} missing from Depends: ${depends}`);
});

step('apt-get install ./p2plink_*.deb installs it', () => {
	run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', deb],
		{ stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
	assert.ok(installed());
});

step('modules, samples, web app, CLI and unit are where Janus and the operator look for them', () => {
	for (const f of ours) assert.ok(fs.existsSync(f), `${f} missing`);
	for (const f of ['index.html', 'vendor/peerjs.js', 'vendor/qrcode.js', 'js/app.js'])
		assert.ok(fs.statSync(`/usr/share/p2plink/html/${f}`).size > 0, f);
	assert.equal(run('sh', ['-c', 'command -v p2plink-admin']).trim(), '/usr/bin/p2plink-admin');
	const conffiles = fs.readFileSync('/var/lib/dpkg/info/p2plink.conffiles', 'utf8').split('\n');
	for (const f of ['/etc/janus/janus.plugin.p2plink.jcfg.sample', '/etc/janus/janus.transport.peerjs.jcfg.sample',
		'/etc/p2plink/janus.jcfg', '/etc/p2plink/janus.transport.peerjs.jcfg', '/etc/p2plink/janus.plugin.p2plink.jcfg',
		'/etc/p2plink/janus.transport.http.jcfg', '/etc/p2plink/janus.eventhandler.sampleevh.jcfg'])
		assert.ok(conffiles.includes(f), `${f} is not a conffile`);
});

step('systemd-analyze verify accepts the installed unit', (t) => {
	if (!fs.existsSync('/usr/bin/systemd-analyze')) return t.skip('systemd-analyze is not installed');
	try {
		run('systemd-analyze', ['verify', unitFile], { stdio: ['ignore', 'pipe', 'pipe'] });
	} catch (e) {
		assert.fail(`systemd-analyze verify: ${e.stdout}${e.stderr}`);
	}
});

step('the state folder belongs to p2plink, mode 0700', () => {
	const st = fs.statSync('/var/lib/p2plink');
	assert.equal(st.uid, Number(run('id', ['-u', 'p2plink']).trim()));
	assert.equal(st.mode & 0o777, 0o700);
});

step('the admin secret is made on install: 32 random characters, root:p2plink 0640, never world-readable', () => {
	const st = fs.statSync('/etc/p2plink/admin-secret');
	assert.equal(st.mode & 0o777, 0o640);
	assert.equal(st.uid, 0);
	assert.equal(st.gid, Number(run('id', ['-g', 'p2plink']).trim()));
	assert.match(fs.readFileSync('/etc/p2plink/admin-secret', 'utf8'), /^[A-Za-z0-9]{32}\n$/);
});

step('reinstalling (as an upgrade does) keeps the admin secret and the state folder', () => {
	const secret = fs.readFileSync('/etc/p2plink/admin-secret', 'utf8');
	fs.writeFileSync('/var/lib/p2plink/marker', 'x');
	run('apt-get', ['install', '-y', '-qq', '--reinstall', deb],
		{ stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
	assert.equal(fs.readFileSync('/etc/p2plink/admin-secret', 'utf8'), secret);
	assert.equal(fs.statSync('/etc/p2plink/admin-secret').mode & 0o777, 0o640);
	assert.ok(fs.existsSync('/var/lib/p2plink/marker'));
	fs.rmSync('/var/lib/p2plink/marker');
});

step('the unit\'s secret renderer refuses a short secret or one that could end the config\'s string', () => {
	const render = unit().pre.find((l) => l.includes('admin-secret-jcfg')).split(' ')[0];
	for (const bad of ['short\n', 'abcdefghijklmnop"\n', 'abcdefghijklmnop\\x\n', 'abcd efgh ijkl mnop\n']) {
		fs.writeFileSync(path.join(work, 'bad-secret'), bad);
		let status = 0;
		try {
			run(render, [path.join(work, 'bad-secret'), path.join(work, 'bad.jcfg')], { stdio: ['ignore', 'pipe', 'pipe'] });
		} catch (e) {
			status = e.status;
		}
		assert.equal(status, 1, JSON.stringify(bad));
		assert.ok(!fs.existsSync(path.join(work, 'bad.jcfg')));
	}
});

step('Janus starts the way p2plink.service does, as p2plink, once a certificate is in place', async () => {
	for (const [port, udp] of [[8443], [7088], [3478, true], [9464]])
		assert.ok(portFree(port, udp), `port ${port} is taken here: the installed service cannot start`);
	// The operator's step: a certificate the p2plink user can read
	const { cert, key } = testCertificate();
	const gid = Number(run('id', ['-g', 'p2plink']).trim());
	fs.copyFileSync(cert, '/etc/p2plink/certs/p2plink.crt');
	fs.copyFileSync(key, '/etc/p2plink/certs/p2plink.key');
	fs.chownSync('/etc/p2plink/certs/p2plink.key', 0, gid);
	fs.chmodSync('/etc/p2plink/certs/p2plink.key', 0o640);
	// systemd's part: RuntimeDirectory= (owned by User=, mode 0700)
	const u = unit();
	const uid = Number(run('id', ['-u', u.user]).trim());
	fs.mkdirSync(`/run/${u.runtime}`, { recursive: true, mode: 0o700 });
	fs.chownSync(`/run/${u.runtime}`, uid, gid);
	for (const pre of u.pre) run(...asUser(u.user, pre.split(' ')));
	assert.equal(fs.statSync('/run/p2plink/admin-secret.jcfg').mode & 0o777, 0o600);
	janusLog = path.join(work, 'janus.log');
	const log = fs.openSync(janusLog, 'w');
	janus = spawn(...asUser(u.user, u.start.split(' ')), { stdio: ['ignore', log, log] });
	const deadline = Date.now() + 20000;
	for (;;) {
		assert.equal(janus.exitCode, null, `janus exited:\n${fs.readFileSync(janusLog, 'utf8').slice(-3000)}`);
		try {
			if ((await request(`${server.baseUrl}/peerjs/id`)).status === 200) break;
		} catch { /* not listening yet */ }
		assert.ok(Date.now() < deadline, `janus did not start:\n${fs.readFileSync(janusLog, 'utf8').slice(-3000)}`);
		await new Promise((r) => setTimeout(r, 200));
	}
	assert.equal(run('ps', ['-o', 'user=', '-p', String(janus.pid)]).trim(), 'p2plink');
});

step('the installed web app and its peerjs bundle are served', async () => {
	const index = await request(`${server.baseUrl}/`);
	assert.equal(index.status, 200);
	assert.equal(index.body, fs.readFileSync('/usr/share/p2plink/html/index.html', 'utf8'));
	const bundle = await request(`${server.baseUrl}/vendor/peerjs.js`);
	assert.equal(bundle.status, 200);
	assert.match(bundle.body, /peerjs|Peer/);
});

let alice, bob;
step('two raw WSS peers get OPEN and an OFFER is relayed between them', async () => {
	alice = await PeerSocket.connect(server, 'pkg-alice');
	bob = await PeerSocket.connect(server, 'pkg-bob');
	assert.equal((await alice.next()).type, 'OPEN');
	assert.equal((await bob.next()).type, 'OPEN');
	alice.send({ type: 'OFFER', dst: 'pkg-bob', payload: { sdp: { type: 'offer', sdp: 'v=0' }, type: 'media', connectionId: 'mc_pkg' } });
	const offer = await bob.next('OFFER');
	assert.equal(offer.src, 'pkg-alice');
	assert.equal(offer.payload.connectionId, 'mc_pkg');
});

step('a link made with p2plink-admin (secret from /etc/p2plink/admin-secret) is redeemed by a peer', async () => {
	const made = JSON.parse(run('p2plink-admin', ['--secret-file', '/etc/p2plink/admin-secret', 'create',
		'--target', 'pkg-alice', '--ttl', '10min', '--max-clicks', '1']));
	assert.ok(made.token, JSON.stringify(made));
	const ok = await postPeerjs(server, 'links/redeem', { id: 'pkg-bob', token: 'tok-pkg-bob', link_token: made.token });
	assert.deepEqual([ok.status, ok.json.ok, ok.json.target], [200, true, 'pkg-alice']);
	const again = await postPeerjs(server, 'links/redeem', { id: 'pkg-bob', token: 'tok-pkg-bob', link_token: made.token });
	assert.equal(again.json.code, 'exhausted');
	// ... and it is in the installed SQLite store
	assert.ok(fs.statSync('/var/lib/p2plink/p2plink.db').size > 0);
});

step('the installed service serves /metrics on 127.0.0.1:9464 with the traffic above in it', async () => {
	const res = await request('http://127.0.0.1:9464/metrics');
	assert.equal(res.status, 200);
	assert.match(res.body, /^p2plink_frames_relayed_by_type_total\{type="OFFER"\} [1-9]/m);
	assert.match(res.body, /^p2plink_link_redemptions_total\{outcome="ok"\} 1$/m);
	assert.equal((await request(`${server.baseUrl}/metrics`)).status, 404);
});

step('the admin API refuses a wrong secret', () => {
	let status = 0;
	try {
		run('p2plink-admin', ['--secret', 'not-the-secret', 'stats'], { stdio: ['ignore', 'pipe', 'pipe'] });
	} catch (e) {
		status = e.status;
	}
	assert.equal(status, 1);
});

step('Janus stops cleanly on SIGTERM', async () => {
	alice.close();
	bob.close();
	const exited = new Promise((resolve) => janus.once('exit', (code, signal) => resolve({ code, signal })));
	janus.kill('SIGTERM');
	const exit = await exited;
	assert.equal(exit.signal, null, `janus died with ${exit.signal}:\n${fs.readFileSync(janusLog, 'utf8').slice(-3000)}`);
	fs.rmSync('/run/p2plink', { recursive: true, force: true });
});

step('apt-get remove keeps the configuration; apt-get purge leaves nothing of ours', () => {
	const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
	run('apt-get', ['remove', '-y', '-qq', 'p2plink'], { stdio: ['ignore', 'pipe', 'pipe'], env });
	assert.ok(!fs.existsSync(`${janusLib}/plugins/libjanus_p2plink.so`));
	assert.ok(fs.existsSync('/etc/p2plink/janus.jcfg'), 'remove must keep conffiles');
	assert.ok(fs.existsSync('/etc/p2plink/admin-secret'), 'remove must keep the admin secret');
	// The certificate is the operator's: they remove it (purge leaves files it did not make)
	fs.rmSync('/etc/p2plink/certs/p2plink.crt');
	fs.rmSync('/etc/p2plink/certs/p2plink.key');
	run('apt-get', ['purge', '-y', '-qq', 'p2plink'], { stdio: ['ignore', 'pipe', 'pipe'], env });
	assert.ok(!installed());
	for (const f of ours) assert.ok(!fs.existsSync(f), `${f} left after purge`);
	const leftover = (dir, re) => fs.readdirSync(dir, { recursive: true }).filter((f) => re.test(f));
	assert.deepEqual(leftover('/etc/janus', /p2plink|peerjs/), []);
	assert.deepEqual(leftover(janusLib, /p2plink|peerjs/), []);
	assert.ok(!fs.existsSync('/run/p2plink'));
});
