// bench.mjs — runs the same load against p2plink (real Janus + our plugin/transport), the reference PeerJS server
// (npm `peer`) and a trivial C relay (the load generator's ceiling), in one run, and writes bench/results/latest.{md,json}.
// Started by bench/run.sh (which builds bench/build/loadgen and raises the fd limit). Knobs: see run.sh.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startJanus, testCertificate, freePort } from '../tests/lib/janus.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const LOADGEN = path.join(here, 'build', 'loadgen');
const OUT = path.join(here, 'results');
const env = (k, d) => (process.env[k] !== undefined ? Number(process.env[k]) : d);
const QUICK = process.env.BENCH_QUICK === '1';
const CFG = {
	relayPairs: env('BENCH_PAIRS', 100), relayInflight: env('BENCH_INFLIGHT', 2),
	relayWarmup: env('BENCH_WARMUP', QUICK ? 1 : 2), relayDuration: env('BENCH_DURATION', QUICK ? 3 : 10),
	fixedRate: env('BENCH_FIXED_RATE', 1000), fixedDuration: env('BENCH_FIXED_DURATION', QUICK ? 3 : 8),
	connectDuration: env('BENCH_CONNECT_DURATION', QUICK ? 3 : 6), connectConcurrency: env('BENCH_CONNECT_CONCURRENCY', 32),
	httpConns: env('BENCH_HTTP_CONNS', 32), httpDuration: env('BENCH_HTTP_DURATION', QUICK ? 3 : 5),
	idleHold: env('BENCH_IDLE_HOLD', QUICK ? 6 : 7), payload: env('BENCH_PAYLOAD', 2048),
	perfSeconds: env('BENCH_PERF_SECONDS', QUICK ? 3 : 8),
};
const SERVER_CPU = process.env.BENCH_SERVER_CPU ?? '1';
const EVENT_LOOPS = env('BENCH_EVENT_LOOPS', 1);
const LOADGEN_CPU = process.env.BENCH_LOADGEN_CPU ?? '0';
const fdHard = Number(execFileSync('sh', ['-c', 'ulimit -Hn']).toString().trim());
const fdSoft = Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim());
const wantLevels = (process.env.BENCH_IDLE_LEVELS || (QUICK ? '0,1000,5000' : '0,1000,10000,50000')).split(',').map(Number);
const maxIdle = Math.max(0, fdSoft - 1500);	// each side needs one fd per peer plus its own
const idleLevels = [...new Set(wantLevels.map((l) => Math.min(l, maxIdle)))];
const clipped = wantLevels.filter((l) => l > maxIdle);
const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cert = testCertificate();

// ---------- servers ----------
function spawnReady(cmd, args, what) {
	return new Promise((resolve, reject) => {
		const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
		const rl = readline.createInterface({ input: child.stdout });
		const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${what} did not start`)); }, 15000);
		rl.on('line', (line) => { if (line.startsWith('READY')) { clearTimeout(timer); resolve(child); } });
		child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited ${code}`)); });
	});
}
function stopChild(child) {
	return new Promise((resolve) => {
		if (child.exitCode !== null || child.signalCode !== null) return resolve();
		const t = setTimeout(() => child.kill('SIGKILL'), 5000);
		child.once('exit', () => { clearTimeout(t); resolve(); });
		child.kill('SIGTERM');
	});
}
const SERVERS = {
	ours: {
		label: 'p2plink (Janus 1.1.2 + janus.plugin.p2plink + janus.transport.peerjs)',
		async start(secure) {
			const srv = await startJanus({
				secure, debugLevel: 2, wrapper: ['taskset', '-c', SERVER_CPU],
				// Static event loops: without them Janus 1.1.2 gives every handle its own GMainContext + thread
				// (1 thread + 1 eventfd per peer; GLib aborts with SIGTRAP at the fd limit). BENCH_EVENT_LOOPS=0: default.
				janus: EVENT_LOOPS > 0 ? { event_loops: EVENT_LOOPS } : {},
				// frame_rate 0: no per-peer rate limit, like the reference (the relay load is a deliberate flood)
				plugin: { concurrent_limit: 100000, alive_timeout: 60000, expire_timeout: 5000, frame_rate: 0 },
				transport: { secure },
			});
			return { port: srv.port, pid: srv.child.pid, stop: () => srv.stop() };
		},
	},
	reference: {
		label: `reference: npm peer ${JSON.parse(fs.readFileSync(path.join(root, 'node_modules/peer/package.json'))).version} (PeerServer), node ${process.version}`,
		async start(secure) {
			const port = await freePort();
			const child = await spawnReady('taskset', ['-c', SERVER_CPU, process.execPath, path.join(here, 'ref-server.mjs'),
				String(port), ...(secure ? [cert.cert, cert.key] : [])], 'reference server');
			return { port, pid: child.pid, stop: () => stopChild(child) };
		},
	},
	trivial: {
		label: 'trivial C relay (bench/loadgen serve: epoll, no JSON parsing, no checks) — the load generator\'s ceiling',
		async start(secure) {
			const port = await freePort();
			const child = await spawnReady('taskset', ['-c', SERVER_CPU, LOADGEN, 'serve', '--port', String(port),
				'--tls', secure ? '1' : '0', '--cert', cert.cert, '--key', cert.key], 'trivial relay');
			return { port, pid: child.pid, stop: () => stopChild(child) };
		},
	},
};

// ---------- load generator ----------
let tagSeq = 0;
function loadgen(mode, server, secure, args, timeoutS) {
	const full = ['-c', LOADGEN_CPU, LOADGEN, mode, '--port', String(server.port), '--tls', secure ? '1' : '0',
		'--server-pid', String(server.pid), '--tag', `t${++tagSeq}`, ...args.map(String)];
	return new Promise((resolve) => {
		const child = spawn('taskset', full, { stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '', err = '';
		child.stdout.on('data', (d) => { out += d; });
		child.stderr.on('data', (d) => { err += d; });
		const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
		child.on('exit', (code, signal) => {
			clearTimeout(timer);
			const line = out.trim().split('\n').pop();
			let res;
			try { res = JSON.parse(line); } catch { res = { ok: false, last_error: `loadgen ${mode} gave no result (exit ${code ?? signal}): ${err.slice(-300)}` }; }
			if (!res.ok) log(`  ${mode} not ok: ${res.last_error}`);
			resolve(res);
		});
	});
}

const results = { meta: {}, runs: {} };
async function suite(kind, secure) {
	const name = `${kind}-${secure ? 'wss' : 'ws'}`;
	const r = (results.runs[name] = {});
	log(`${name}: starting server`);
	let srv = await SERVERS[kind].start(secure);
	try {
		log(`${name}: relay, closed loop (${CFG.relayPairs} pairs x ${CFG.relayInflight} in flight)`);
		r.relay = await loadgen('relay', srv, secure, ['--pairs', CFG.relayPairs, '--inflight', CFG.relayInflight,
			'--payload', CFG.payload, '--warmup', CFG.relayWarmup, '--duration', CFG.relayDuration], 120);
		log(`  ${Math.round(r.relay.msgs_per_s ?? 0)} msgs/s, p99 ${r.relay.lat_us_p99} us, ${r.relay.server_cpu_us_per_msg} us CPU/msg`);
		await sleep(500);
		log(`${name}: relay, open loop at ${CFG.fixedRate} OFFER/s (+ as many ANSWERs)`);
		r.fixed = await loadgen('relay', srv, secure, ['--pairs', CFG.relayPairs, '--rate', CFG.fixedRate,
			'--payload', CFG.payload, '--warmup', 1, '--duration', CFG.fixedDuration], 120);
		log(`  p50 ${r.fixed.lat_us_p50} us, p99 ${r.fixed.lat_us_p99} us, max ${r.fixed.lat_us_max} us`);
		await sleep(500);
		log(`${name}: connection setup (WebSocket open -> OPEN), ${CFG.connectConcurrency} in flight`);
		r.connect = await loadgen('connect', srv, secure, ['--concurrency', CFG.connectConcurrency,
			'--duration', CFG.connectDuration], 120);
		log(`  ${Math.round(r.connect.setups_per_s ?? 0)} setups/s`);
		await sleep(2000);
		log(`${name}: GET /peerjs/id, ${CFG.httpConns} keep-alive connections`);
		r.httpid = await loadgen('httpid', srv, secure, ['--conns', CFG.httpConns, '--warmup', 1,
			'--duration', CFG.httpDuration], 120);
		log(`  ${Math.round(r.httpid.requests_per_s ?? 0)} req/s`);
		if (secure && kind !== 'trivial') {
			await srv.stop();
			await sleep(1000);
			srv = await SERVERS[kind].start(secure);	// fresh process: RSS at 0 peers is the real baseline
			await sleep(1000);
			log(`${name}: idle peers ${idleLevels.join(', ')} (HEARTBEAT every 5 s, hold ${CFG.idleHold} s each)`);
			r.idle = await loadgen('idle', srv, secure, ['--levels', idleLevels.join(','), '--hold', CFG.idleHold,
				'--heartbeat', 5, '--concurrency', 256, '--src', 16, '--ramp-timeout', 150], 900);
			for (const l of r.idle.levels || []) log(`  ${l.level}: alive ${l.alive}, RSS ${l.rss_kb} KiB, CPU ${l.server_cpu_pct_hold}%`);
		}
	} finally {
		await srv.stop();
	}
}

async function profile(secure) {
	const name = `ours-${secure ? 'wss' : 'ws'}`;
	log(`${name}: perf profile under the closed-loop relay load (${CFG.perfSeconds} s)`);
	const srv = await SERVERS.ours.start(secure);
	const file = path.join(OUT, `perf-${name}.data`);
	try {
		const lg = loadgen('relay', srv, secure, ['--pairs', CFG.relayPairs, '--inflight', CFG.relayInflight,
			'--payload', CFG.payload, '--warmup', 1, '--duration', CFG.perfSeconds + 2], 120);
		await sleep(1500);
		try {
			execFileSync('perf', ['record', '-q', '-F', '999', '-g', '-o', file, '-p', String(srv.pid), '--', 'sleep',
				String(CFG.perfSeconds)], { stdio: 'ignore', timeout: (CFG.perfSeconds + 30) * 1000 });
		} catch (e) { log(`  perf record failed: ${e.message}`); }
		await lg;
		const report = (args) => {
			try {
				return execFileSync('perf', ['report', '-i', file, '--stdio', '--no-children', ...args],
					{ maxBuffer: 64 << 20, timeout: 120000, stderr: 'ignore' }).toString();
			} catch (e) { return `perf report failed: ${e.message}`; }
		};
		const flat = report(['-g', 'none', '--percent-limit', '0.7', '--sort', 'dso,symbol']);
		const byDso = report(['-g', 'none', '--sort', 'dso']);
		const byThread = report(['-g', 'none', '--sort', 'comm']);
		// inclusive time of our own functions (callees included): where the jansson/libc time comes from
		const ours = report(['--children', '-g', 'none', '--sort', 'symbol', '--percent-limit', '2',
			'--dsos', 'libjanus_p2plink.so,libjanus_peerjs.so']);
		fs.writeFileSync(path.join(OUT, `perf-${name}.txt`), `${byThread}\n\n${byDso}\n\n${ours}\n\n${flat}`);
		const rows = (txt) => txt.split('\n').filter((l) => /^\s+\d+\.\d+%/.test(l)).map((l) => l.trim().replace(/\s+/g, ' '));
		results.profile = results.profile || {};
		results.profile[name] = { threads: rows(byThread).slice(0, 8), dsos: rows(byDso).slice(0, 12),
			ours_inclusive: rows(ours).slice(0, 25), symbols: rows(flat).slice(0, 30) };
	} finally {
		await srv.stop();
		try { fs.rmSync(file); } catch { /* keep going */ }
	}
}

// ---------- table ----------
const fmt = (v, d = 0) => (v === undefined || v === null || Number.isNaN(v) ? 'n/a'
	: Number(v).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const ratio = (a, b) => (a > 0 && b > 0 ? a / b : undefined);
function buildTable() {
	const R = results.runs;
	const g = (run, phase, key) => R[run]?.[phase]?.[key];
	const rows = [];
	const row = (section, metric, unit, o, ref, triv, better, target) => {
		const rr = ratio(o, ref);
		let met = '';
		if (target && rr !== undefined) met = better === 'higher' ? (rr >= target ? 'yes' : 'NO') : (rr <= 1 / target ? 'yes' : 'NO');
		rows.push({ section, metric, unit, ours: o, reference: ref, trivial: triv, ratio: rr, better,
			target: target ? (better === 'higher' ? `>= ${target}x` : `<= 1/${target}`) : '', met });
	};
	for (const s of ['wss', 'ws']) {
		const S = s.toUpperCase();
		row('1. relay throughput', `relayed msgs/s, ${S}, closed loop`, 'msg/s', g(`ours-${s}`, 'relay', 'msgs_per_s'),
			g(`reference-${s}`, 'relay', 'msgs_per_s'), g(`trivial-${s}`, 'relay', 'msgs_per_s'), 'higher', 5);
	}
	for (const s of ['wss', 'ws']) {
		const S = s.toUpperCase();
		for (const [k, n] of [['lat_us_p50', 'p50'], ['lat_us_p99', 'p99'], ['lat_us_max', 'max']])
			row('2. relay latency', `${n} at max load (closed loop), ${S}`, 'µs', g(`ours-${s}`, 'relay', k),
				g(`reference-${s}`, 'relay', k), g(`trivial-${s}`, 'relay', k), 'lower', n === 'p99' ? 5 : 0);
		for (const [k, n] of [['lat_us_p50', 'p50'], ['lat_us_p99', 'p99'], ['lat_us_max', 'max']])
			row('2. relay latency', `${n} at fixed ${fmt(CFG.fixedRate * 2)} msgs/s (open loop), ${S}`, 'µs',
				g(`ours-${s}`, 'fixed', k), g(`reference-${s}`, 'fixed', k), g(`trivial-${s}`, 'fixed', k), 'lower', n === 'p99' ? 5 : 0);
	}
	for (const s of ['wss', 'ws']) {
		const S = s.toUpperCase();
		row('3. setup', `WebSocket open → OPEN, ${S}`, 'setups/s', g(`ours-${s}`, 'connect', 'setups_per_s'),
			g(`reference-${s}`, 'connect', 'setups_per_s'), g(`trivial-${s}`, 'connect', 'setups_per_s'), 'higher', 0);
		row('3. setup', `setup latency p99, ${S} (${CFG.connectConcurrency} in flight)`, 'µs', g(`ours-${s}`, 'connect', 'lat_us_p99'),
			g(`reference-${s}`, 'connect', 'lat_us_p99'), g(`trivial-${s}`, 'connect', 'lat_us_p99'), 'lower', 0);
		row('3. setup', `server CPU per setup, ${S}`, 'µs', g(`ours-${s}`, 'connect', 'server_cpu_us_per_setup'),
			g(`reference-${s}`, 'connect', 'server_cpu_us_per_setup'), g(`trivial-${s}`, 'connect', 'server_cpu_us_per_setup'), 'lower', 0);
		row('3. setup', `GET /peerjs/id, ${s === 'wss' ? 'HTTPS' : 'HTTP'} keep-alive`, 'req/s', g(`ours-${s}`, 'httpid', 'requests_per_s'),
			g(`reference-${s}`, 'httpid', 'requests_per_s'), g(`trivial-${s}`, 'httpid', 'requests_per_s'), 'higher', 0);
	}
	const lv = (run) => Object.fromEntries((R[run]?.idle?.levels || []).map((l) => [l.level, l]));
	const oi = lv('ours-wss'), ri = lv('reference-wss');
	for (const L of idleLevels) {
		row('4. idle peers (WSS)', `server RSS at ${fmt(L)} idle peers`, 'KiB', oi[L]?.rss_kb, ri[L]?.rss_kb, undefined, 'lower', 0);
		if (L > 0) {
			const per = (m) => (m[L] && m[0] && m[L].alive === L ? (m[L].rss_kb - m[0].rss_kb) / L : undefined);
			row('4. idle peers (WSS)', `RSS per idle peer at ${fmt(L)}`, 'KiB', per(oi), per(ri), undefined, 'lower', 5);
			row('4. idle peers (WSS)', `server CPU with ${fmt(L)} idle peers (heartbeats)`, '% of a core', oi[L]?.server_cpu_pct_hold,
				ri[L]?.server_cpu_pct_hold, undefined, 'lower', 0);
		}
	}
	for (const s of ['wss', 'ws']) {
		const S = s.toUpperCase();
		row('6. CPU per message', `server CPU per relayed msg, ${S} (utime+stime)`, 'µs', g(`ours-${s}`, 'relay', 'server_cpu_us_per_msg'),
			g(`reference-${s}`, 'relay', 'server_cpu_us_per_msg'), g(`trivial-${s}`, 'relay', 'server_cpu_us_per_msg'), 'lower', 5);
		row('6. CPU per message', `server CPU busy during relay, ${S}`, '% of a core', g(`ours-${s}`, 'relay', 'server_cpu_pct'),
			g(`reference-${s}`, 'relay', 'server_cpu_pct'), g(`trivial-${s}`, 'relay', 'server_cpu_pct'), '', 0);
		row('6. CPU per message', `load generator CPU during relay, ${S}`, '% of a core', g(`ours-${s}`, 'relay', 'loadgen_cpu_pct'),
			g(`reference-${s}`, 'relay', 'loadgen_cpu_pct'), g(`trivial-${s}`, 'relay', 'loadgen_cpu_pct'), '', 0);
	}
	return rows;
}

function markdown(rows) {
	const m = results.meta;
	const L = [];
	L.push(`# p2plink benchmark — ${m.date}`, '');
	L.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, ${m.kernel}. Server pinned to CPU ${SERVER_CPU}, load generator to CPU ${LOADGEN_CPU} (taskset). Janus \`event_loops = ${EVENT_LOOPS}\`${EVENT_LOOPS ? '' : ' (default: a thread per handle)'}.`);
	L.push(`Servers: ours = ${SERVERS.ours.label}; ${SERVERS.reference.label}; ceiling = ${SERVERS.trivial.label}.`);
	L.push(`Load: ${CFG.relayPairs} peer pairs, ${CFG.relayInflight} messages in flight per pair (closed loop), OFFER ≈ ${Math.round(CFG.payload * 1.25 / 1024 * 10) / 10} KiB / ANSWER ≈ ${Math.round(CFG.payload * 0.6 / 1024 * 10) / 10} KiB frames, ${CFG.relayDuration} s window after ${CFG.relayWarmup} s warm-up. fd limit ${fdSoft} (hard ${fdHard}).`, '');
	L.push('| section | metric | ours | reference | ours/ref | target | met | loadgen ceiling (trivial relay) |');
	L.push('|---|---|---:|---:|---:|---|---|---:|');
	for (const r of rows) {
		const d = r.unit === 'µs' && r.metric.includes('per') ? 2 : r.unit === '% of a core' || (r.unit === 'KiB' && r.metric.includes('per')) ? 1 : 0;
		L.push(`| ${r.section} | ${r.metric} (${r.unit}) | ${fmt(r.ours, d)} | ${fmt(r.reference, d)} | ${r.ratio === undefined ? 'n/a' : fmt(r.ratio, 2) + '×'} | ${r.target} | ${r.met} | ${r.trivial === undefined ? '' : fmt(r.trivial, d)} |`);
	}
	const maxL = idleLevels[idleLevels.length - 1];
	const ol = results.runs['ours-wss']?.idle?.levels?.find((l) => l.level === maxL);
	L.push(`| 4. idle peers (WSS) | 50,000 concurrent idle peers without errors | ${clipped.length ? `not measurable here: RLIMIT_NOFILE hard limit ${fdHard} and no CAP_SYS_RESOURCE; largest level run: ${fmt(maxL)} → ${ol ? `${fmt(ol.alive)} alive, ${ol.failed} failed, ${ol.unexpected_close} dropped` : 'n/a'}` : (ol ? `${fmt(ol.alive)} alive, ${ol.failed} failed, ${ol.unexpected_close} dropped` : 'n/a')} | | | 50,000 | ${clipped.length ? 'not measured' : (ol && ol.alive === maxL && !ol.failed ? 'yes' : 'NO')} | |`);
	L.push('| 5. share links | link redemptions/s with SQLite, over-redemptions | not measured yet: endpoint lands with issue 3 | | | >= 20,000/s, 0 over | not measured | |');
	L.push('');
	const bad = [];
	for (const [name, run] of Object.entries(results.runs))
		for (const [phase, res] of Object.entries(run)) if (res && res.ok === false) bad.push(`${name}/${phase}: ${res.last_error}`);
	if (bad.length) L.push('Runs with errors (their numbers are not trustworthy):', ...bad.map((b) => `- ${b}`), '');
	const noisy = [];
	for (const [name, run] of Object.entries(results.runs))
		for (const [phase, res] of Object.entries(run))
			if (res && res.other_cpu_pct > 15) noisy.push(`${name}/${phase}: ${fmt(res.other_cpu_pct)}% of a core used by other processes during the window`);
	if (noisy.length) L.push('Machine not quiet (CPU used by processes other than server and load generator; numbers are pessimistic for whoever ran then):', ...noisy.map((b) => `- ${b}`), '');
	L.push(`Modules measured: ${(m.modules || []).join('; ')} (git ${m.gitHead}, from ${process.env.P2PLINK_BUILD_DIR || root}).`, '');
	if (results.profile) {
		for (const [name, p] of Object.entries(results.profile)) {
			L.push(`## perf profile: ${name} under the closed-loop relay load`, '', 'Threads:', '```', ...p.threads, '```',
				'By library:', '```', ...p.dsos, '```',
				'Top symbols (self time, % of the server\'s samples):', '```', ...p.symbols, '```', '');
		}
	}
	return L.join('\n') + '\n';
}

// ---------- main ----------
async function main() {
	fs.mkdirSync(OUT, { recursive: true });
	results.meta = {
		date: new Date().toISOString(), cpu: os.cpus()[0]?.model, cores: os.cpus().length,
		memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: `${os.type()} ${os.release()}`, node: process.version,
		janus: (() => { try { return execFileSync('/usr/bin/janus', ['--version']).toString().split('\n')[0]; } catch { return 'unknown'; } })(),
		modules: (() => { const d = path.join(process.env.P2PLINK_BUILD_DIR || root, '.libs'); return ['libjanus_p2plink.so', 'libjanus_peerjs.so'].map((f) => {
			try { const st = fs.statSync(path.join(d, f)); return `${f} sha256 ${execFileSync('sha256sum', [path.join(d, f)]).toString().slice(0, 16)} built ${st.mtime.toISOString()}`; } catch { return `${f} missing`; } }); })(),
		modulesFrom: process.env.BENCH_MODULES_DIR || '.libs of this tree',
		gitHead: process.env.BENCH_MODULES_DIR ? `modules from ${process.env.BENCH_MODULES_DIR}` : (() => { try { return execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD']).toString().trim() + (execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no']).toString().trim() ? ' (+ uncommitted changes)' : ''); } catch { return 'unknown'; } })(),
		fdSoft, fdHard, idleLevels, janusEventLoops: EVENT_LOOPS, idleLevelsRequested: wantLevels, config: CFG, serverCpu: SERVER_CPU, loadgenCpu: LOADGEN_CPU,
		loadgenNote: 'bench/loadgen.c: one thread, epoll ET, OpenSSL non-blocking, zero WebSocket masking key, X25519 first',
	};
	const only = (process.env.BENCH_ONLY || 'trivial,ours,reference').split(',');
	const started = Date.now();
	for (const kind of ['trivial', 'ours', 'reference'].filter((k) => only.includes(k)))
		for (const secure of [true, false]) {
			try { await suite(kind, secure); } catch (e) { log(`${kind} ${secure ? 'wss' : 'ws'} failed: ${e.stack}`); results.runs[`${kind}-${secure ? 'wss' : 'ws'}`] = { error: String(e) }; }
		}
	if (process.env.BENCH_PERF !== '0' && only.includes('ours')) {
		try { await profile(true); } catch (e) { log(`profile failed: ${e.message}`); }
	}
	results.meta.elapsed_s = Math.round((Date.now() - started) / 1000);
	const rows = buildTable();
	results.table = rows;
	fs.writeFileSync(path.join(OUT, 'latest.json'), JSON.stringify(results, null, 2));
	const md = markdown(rows);
	fs.writeFileSync(path.join(OUT, 'latest.md'), md);
	process.stdout.write(md);
	log(`done in ${results.meta.elapsed_s} s: bench/results/latest.md, bench/results/latest.json`);
}
main().catch((e) => { console.error(e); process.exit(1); });
