// bench.mjs — runs the same load against p2plink (real Janus + our plugin/transport), the reference PeerJS server
// (npm `peer`) and a trivial C relay (the load generator's ceiling), in one run, and writes bench/results/latest.{md,json}.
// Started by bench/run.sh (which builds bench/build/loadgen and raises the fd limit). Knobs: see run.sh.
import { spawn, execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { ADMIN_SECRET, startJanus, testCertificate, freePort } from '../tests/lib/janus.mjs';

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
	// share-link redemptions (ours only: the reference has no share links)
	redeemConns: env('BENCH_REDEEM_CONNS', 32), redeemPeers: env('BENCH_REDEEM_PEERS', 4),
	redeemDuration: env('BENCH_REDEEM_DURATION', QUICK ? 3 : 8), redeemCap: env('BENCH_REDEEM_CAP', 1000),
	redeemCapAttempts: env('BENCH_REDEEM_CAP_ATTEMPTS', QUICK ? 20000 : 50000),
	stunSeconds: env('BENCH_STUN_SECONDS', QUICK ? 3 : 8),
	// 9. real traffic (WSS, shipped defaults): peers = BENCH_RT_PEERS (default: as many as the fd limit allows),
	// each a Poisson process of BENCH_RT_RATE frames/s (BENCH_RT_SDP_SHARE of them OFFER/ANSWER, the rest CANDIDATEs)
	// plus HEARTBEAT every 5 s, at most BENCH_RT_PER_IP peers per source address
	rtPeers: env('BENCH_RT_PEERS', QUICK ? 2000 : 0), rtRate: env('BENCH_RT_RATE', 2), rtSdpShare: env('BENCH_RT_SDP_SHARE', 0.2),
	rtSdpMax: env('BENCH_RT_SDP_MAX', 6144),	// OFFER/ANSWER carry 2 KiB .. this much SDP text
	rtWarmup: env('BENCH_RT_WARMUP', QUICK ? 2 : 5), rtDuration: env('BENCH_RT_DURATION', QUICK ? 5 : 20),
	rtPerIp: env('BENCH_RT_PER_IP', 50), rtSetupDuration: env('BENCH_RT_SETUP_DURATION', QUICK ? 3 : 8),
	rtSetupSources: env('BENCH_RT_SETUP_SOURCES', 256), rtSetupConcurrency: env('BENCH_RT_SETUP_CONCURRENCY', 32),
};
const SERVER_CPU = process.env.BENCH_SERVER_CPU ?? '1';
const EVENT_LOOPS = env('BENCH_EVENT_LOOPS', 1);
const LOADGEN_CPU = process.env.BENCH_LOADGEN_CPU ?? '0';
const SECURE = (process.env.BENCH_SECURE || 'wss,ws').split(',');	// which transports to run: wss, ws
const fdHard = Number(execFileSync('sh', ['-c', 'ulimit -Hn']).toString().trim());
const fdSoft = Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim());
const wantLevels = (process.env.BENCH_IDLE_LEVELS || (QUICK ? '0,1000,5000' : '0,1000,10000,50000')).split(',').map(Number);
const maxIdle = Math.max(0, fdSoft - 1500);	// each side needs one fd per peer plus its own
const idleLevels = [...new Set(wantLevels.map((l) => Math.min(l, maxIdle)))];
const clipped = wantLevels.filter((l) => l > maxIdle);
// 9. real traffic: both servers get this concurrent_limit (the most peers one process can hold here), and the load as
// many peers as it allows (an even number: they come in pairs)
const RT_LIMIT = maxIdle - (maxIdle % 2);
const RT_PEERS = Math.min(RT_LIMIT, CFG.rtPeers > 0 ? CFG.rtPeers - (CFG.rtPeers % 2) : RT_LIMIT);
const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cert = testCertificate();

// ---------- servers ----------
function spawnReady(cmd, args, what, env = process.env) {
	return new Promise((resolve, reject) => {
		const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
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
		label: 'p2plink (Janus 1.1.2 + janus.plugin.p2plink + janus.transport.peerjs), transport event_loop = "libuv" (its default)',
		async start(secure, transport = {}, stun = {}, cluster = undefined) {
			const srv = await startJanus({
				stun, cluster,
				secure, debugLevel: 2, wrapper: ['taskset', '-c', SERVER_CPU],
				// Static event loops: without them Janus 1.1.2 gives every handle its own GMainContext + thread
				// (1 thread + 1 eventfd per peer; GLib aborts with SIGTRAP at the fd limit). BENCH_EVENT_LOOPS=0: default.
				janus: EVENT_LOOPS > 0 ? { event_loops: EVENT_LOOPS } : {},
				// frame_rate 0: no per-peer rate limit, like the reference (the relay load is a deliberate flood)
				plugin: { concurrent_limit: 100000, alive_timeout: 60000, expire_timeout: 5000, frame_rate: 0 },
				// share links: no per-IP redemption limiter (the redeem load comes from one address), fresh SQLite store
				// (the default: <temp dir>/data)
				links: { redeem_attempts_per_minute: 0, ...(cluster ? { per_node_links: true } : {}) },
				// no per-IP connection caps (defaults 100 open / 20 new per s): the load comes from 127.0.0.x and the
				// reference has none
				transport: { secure, max_connections_per_ip: 0, connection_rate_per_ip: 0, ...transport },
			});
			return { port: srv.port, pid: srv.child.pid, stop: () => srv.stop(), admin: (r) => srv.admin(r),
				// Janus sessions alive (one per connected peer): how long a mass disconnect takes to clean up
				sessions: async () => (await srv.adminRaw({ janus: 'list_sessions', transaction: 'bench',
					admin_secret: ADMIN_SECRET })).sessions.length };
		},
	},
	// 9. real traffic: ours as shipped (conf/*.jcfg.sample defaults: frame_rate 50/burst 200, per-IP caps 100 open /
	// 20 new per s, redemption limiter, libuv loop; debian/conf/janus.jcfg: event_loops = 2, debug_level = 4), except
	// concurrent_limit, which is the reference's too
	oursShipped: {
		async start() {
			const srv = await startJanus({ secure: true, debugLevel: 4, wrapper: ['taskset', '-c', SERVER_CPU],
				janus: { event_loops: 2 }, plugin: { concurrent_limit: RT_LIMIT } });
			return { port: srv.port, pid: srv.child.pid, stop: () => srv.stop() };
		},
	},
	// ours with the transport's lws poll() loop instead of libuv: relay rows only, for comparison
	ourspoll: {
		label: 'p2plink with transport event_loop = "poll"',
		start(secure) { return SERVERS.ours.start(secure, { event_loop: 'poll' }); },
	},
	reference: {
		label: `reference: npm peer ${JSON.parse(fs.readFileSync(path.join(root, 'node_modules/peer/package.json'))).version} (PeerServer), node ${process.version}`,
		async start(secure, concurrentLimit = 100000) {
			const port = await freePort();
			const child = await spawnReady('taskset', ['-c', SERVER_CPU, process.execPath, path.join(here, 'ref-server.mjs'),
				String(port), ...(secure ? [cert.cert, cert.key] : [])], 'reference server',
			{ ...process.env, REF_CONCURRENT_LIMIT: String(concurrentLimit) });
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
// onLine: called with every line the load generator writes to stderr (realtraffic: "PROFILE-START")
function loadgen(mode, server, secure, args, timeoutS, onLine) {
	const full = ['-c', LOADGEN_CPU, LOADGEN, mode, '--port', String(server.port), '--tls', secure ? '1' : '0',
		'--server-pid', String(server.pid), '--tag', `t${++tagSeq}`, ...args.map(String)];
	return new Promise((resolve) => {
		const child = spawn('taskset', full, { stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '', err = '';
		child.stdout.on('data', (d) => { out += d; });
		child.stderr.on('data', (d) => { err += d; });
		if (onLine) readline.createInterface({ input: child.stderr }).on('line', onLine);
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
		if (kind === 'ourspoll') return;
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
			if (srv.sessions) {
				// The load generator has exited: every idle peer left at once. Time until Janus holds no session.
				const t0 = Date.now();
				let left = -1;
				while (Date.now() - t0 < 60000 && (left = await srv.sessions()) > 0) await sleep(100);
				r.idle_leave_s = left === 0 ? (Date.now() - t0) / 1000 : undefined;
				log(`  all idle peers left: ${left === 0 ? `no Janus session left after ${r.idle_leave_s} s` : `${left} sessions still there after 60 s`}`);
			}
		}
	} finally {
		// a server that does not stop cleanly (e.g. SIGKILLed after 10 s of shutdown) is recorded, not a lost run
		const t0 = Date.now();
		try { await srv.stop(); } catch (e) { r.stop_error = String(e.message || e).split('\n')[0]; log(`  stop: ${r.stop_error}`); }
		r.stop_s = (Date.now() - t0) / 1000;
	}
}

// 5. Share-link redemptions: POST /peerjs/links/redeem on keep-alive connections by connected peers (loadgen redeem).
// (a) one unlimited link: redemptions/s; (b) a max_clicks = redeemCap link hammered by redeemCapAttempts attempts:
// exactly redeemCap granted, checked three ways (loadgen's "ok":true count, get_link clicks, link_stats ok delta), and
// every attempt logged (list_clicks total = attempts answered).
async function redeemRun(srv, secure, token, args, timeoutS = 120) {
	return loadgen('redeem', srv, secure, ['--link-token', token, '--peers', CFG.redeemPeers, '--conns', CFG.redeemConns,
		'--heartbeat', 5, ...args], timeoutS);
}
// The share links' target, connected for as long as its links are redeemed: a link to someone who is not online
// is refused ("not-online"), so without it every redemption was a denial. Resolves once OPEN came; returns close().
async function holdLinkTarget(srv, secure) {
	const ws = new WebSocket(`${secure ? 'wss' : 'ws'}://127.0.0.1:${srv.port}/peerjs?key=peerjs&id=bench-target&token=bench-target-token`,
		secure ? { ca: fs.readFileSync(testCertificate().cert) } : {});
	await new Promise((resolve, reject) => {
		ws.on('message', (d) => { if (JSON.parse(d).type === 'OPEN') resolve(); else reject(new Error(`bench-target: ${d}`)); });
		ws.once('error', reject);
	});
	const beat = setInterval(() => ws.send('{"type":"HEARTBEAT"}'), 5000);
	return () => { clearInterval(beat); ws.terminate(); };
}

async function redeemSuite(kind, secure) {
	const name = `${kind}-${secure ? 'wss' : 'ws'}`;
	const r = (results.runs[name] = results.runs[name] || {});
	log(`${name}: share-link redemptions (${CFG.redeemConns} keep-alive connections, ${CFG.redeemPeers} peers)`);
	const srv = await SERVERS[kind].start(secure);
	let release = () => {};
	try {
		if (kind === 'trivial') {	// the load generator's ceiling: a fixed {"ok":true} answer per POST
			r.redeem = await redeemRun(srv, secure, 'x', ['--warmup', 1, '--duration', CFG.redeemDuration]);
			log(`  ${Math.round(r.redeem.requests_per_s ?? 0)} answers/s`);
			return;
		}
		release = await holdLinkTarget(srv, secure);
		const unl = await srv.admin({ request: 'create_link', target: 'bench-target', ttl: '1h', max_clicks: 0 });
		if (!unl.token) throw new Error(`create_link: ${JSON.stringify(unl)}`);
		r.redeem = await redeemRun(srv, secure, unl.token, ['--warmup', 1, '--duration', CFG.redeemDuration]);
		const gl = await srv.admin({ request: 'get_link', link_id: unl.link.id });
		r.redeem.link_clicks_after = gl.link?.clicks;
		r.redeem.clicks_match = gl.link?.clicks === r.redeem.granted_total;
		log(`  unlimited link: ${Math.round(r.redeem.granted_per_s ?? 0)} granted/s, p99 ${r.redeem.lat_us_p99} us, ` +
			`server ${r.redeem.server_cpu_us_per_req} us CPU/redemption, clicks ${gl.link?.clicks} = loadgen ${r.redeem.granted_total}`);
		await sleep(500);
		const before = await srv.admin({ request: 'link_stats' });
		const cap = await srv.admin({ request: 'create_link', target: 'bench-target', ttl: '1h', max_clicks: CFG.redeemCap });
		const rc = await redeemRun(srv, secure, cap.token, ['--warmup', 0, '--duration', 20, '--attempts', CFG.redeemCapAttempts]);
		const after = await srv.admin({ request: 'link_stats' });
		const got = await srv.admin({ request: 'get_link', link_id: cap.link.id });
		const lc = await srv.admin({ request: 'list_clicks', link_id: cap.link.id, offset: 0, limit: 1 });
		const okDelta = (after.clicks?.ok ?? NaN) - (before.clicks?.ok ?? NaN);
		const exhDelta = (after.clicks?.exhausted ?? NaN) - (before.clicks?.exhausted ?? NaN);
		rc.check = {
			max_clicks: CFG.redeemCap, attempts: rc.sent_total, granted_loadgen: rc.granted_total,
			denied_loadgen: rc.denied_total, denied_exhausted_loadgen: rc.denied_by_code?.exhausted,
			link_clicks: got.link?.clicks, link_status: got.link?.status, list_clicks_total: lc.total,
			link_stats_ok_delta: okDelta, link_stats_exhausted_delta: exhDelta,
		};
		rc.over_redeemed = Math.max(0, (rc.granted_total ?? 0) - CFG.redeemCap, (got.link?.clicks ?? 0) - CFG.redeemCap, okDelta - CFG.redeemCap);
		rc.exact = rc.granted_total === CFG.redeemCap && got.link?.clicks === CFG.redeemCap && okDelta === CFG.redeemCap &&
			lc.total === rc.answered_total && rc.answered_total === rc.sent_total && rc.http_errors_total === 0 &&
			exhDelta === rc.denied_total && got.link?.status === 'exhausted';
		r.redeemCap = rc;
		log(`  max_clicks ${CFG.redeemCap} link, ${rc.sent_total} attempts at ${Math.round(rc.requests_per_s ?? 0)}/s: ` +
			`granted loadgen ${rc.granted_total}, link clicks ${got.link?.clicks}, link_stats ok +${okDelta}, ` +
			`list_clicks total ${lc.total}, exhausted +${exhDelta} → ${rc.exact ? 'EXACT' : 'MISMATCH'}, over-redeemed ${rc.over_redeemed}`);
	} finally {
		release();
		await srv.stop();
	}
}

// perf record -g on a server process for CFG.perfSeconds (blocks; the load must be running). BENCH_PERF_STAT=1:
// count the server's syscalls instead (perf stat on the syscall tracepoints, which work where the VM has no
// hardware counters): syscalls per message do not depend on how busy the shared machine is, CPU time does.
const STAT_SYSCALLS = ['write', 'read', 'epoll_ctl', 'epoll_wait', 'epoll_pwait', 'poll', 'futex'];
function perfRecord(pid, file) {
	if (process.env.BENCH_PERF_STAT === '1') {
		try {
			execFileSync('perf', ['stat', '-x', ',', '-o', `${file}.stat`, '-e',
				STAT_SYSCALLS.map((c) => `syscalls:sys_enter_${c}`).join(','), '-p', String(pid), '--', 'sleep',
				String(CFG.perfSeconds)], { stdio: 'ignore', timeout: (CFG.perfSeconds + 30) * 1000 });
		} catch (e) { log(`  perf stat failed: ${e.message}`); }
		return;
	}
	try {
		// BENCH_PERF_CALLGRAPH=dwarf,16384: call chains through libraries built without frame pointers (OpenSSL, glibc)
		const graph = process.env.BENCH_PERF_CALLGRAPH ? ['--call-graph', process.env.BENCH_PERF_CALLGRAPH] : ['-g'];
		execFileSync('perf', ['record', '-q', '-F', '999', ...graph, '-o', file, '-p', String(pid), '--', 'sleep',
			String(CFG.perfSeconds)], { stdio: 'ignore', timeout: (CFG.perfSeconds + 30) * 1000 });
	} catch (e) { log(`  perf record failed: ${e.message}`); }
}
// BENCH_PERF_KEEP=1 keeps bench/results/perf-*.data for perf report / perf script after the run
function dropPerfData(file) {
	if (process.env.BENCH_PERF_KEEP === '1') return;
	try { fs.rmSync(file); } catch { /* keep going */ }
}
// Reports of a perf.data file: bench/results/perf-<name>.txt in full, results.profile[name] for the table
function perfSummary(file, name, what, msgsPerS) {
	if (fs.existsSync(`${file}.stat`)) {
		const counts = {};
		for (const l of fs.readFileSync(`${file}.stat`, 'utf8').split('\n')) {
			const m = /^(\d+),[^,]*,syscalls:sys_enter_(\w+)/.exec(l);
			if (m) counts[m[2]] = Number(m[1]);
		}
		const msgs = (msgsPerS ?? 0) * CFG.perfSeconds;
		const per = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, msgs ? Math.round(v / msgs * 1000) / 1000 : null]));
		results.profile = results.profile || {};
		results.profile[name] = { what, syscalls: counts, syscalls_per_msg: per, msgs_per_s: msgsPerS };
		log(`  ${name}: syscalls per message (${Math.round(msgsPerS ?? 0)} msgs/s): ` +
			Object.entries(per).map(([k, v]) => `${k} ${v}`).join(', '));
		fs.rmSync(`${file}.stat`);
		return;
	}
	const report = (args) => {
		try {
			return execFileSync('perf', ['report', '-i', file, '--stdio', '--no-children', ...args],
				{ maxBuffer: 64 << 20, timeout: 120000, stderr: 'ignore' }).toString();
		} catch (e) { return `perf report failed: ${e.message}`; }
	};
	const flat = report(['-g', 'none', '--percent-limit', '0.7', '--sort', 'dso,symbol']);
	const byDso = report(['-g', 'none', '--sort', 'dso']);
	const byThread = report(['-g', 'none', '--sort', 'comm']);
	const byThreadDso = report(['-g', 'none', '--sort', 'comm,dso', '--percent-limit', '1']);
	// inclusive time of our own functions (callees included, as far as frame pointers let perf walk the stack)
	const ours = report(['--children', '-g', 'caller', '--sort', 'dso,symbol', '--percent-limit', '0.5'])
		.split('\n').filter((l) => /^\s+\d+\.\d+%\s+\d+\.\d+%.*libjanus_(p2plink|peerjs)/.test(l)).join('\n');
	fs.writeFileSync(path.join(OUT, `perf-${name}.txt`), `${byThread}\n\n${byDso}\n\n${byThreadDso}\n\n${ours}\n\n${flat}`);
	const rows = (txt) => txt.split('\n').filter((l) => /^\s+\d+\.\d+%/.test(l)).map((l) => l.trim().replace(/\s+/g, ' '));
	results.profile = results.profile || {};
	results.profile[name] = { what, threads: rows(byThread).slice(0, 8), dsos: rows(byDso).slice(0, 12),
		thread_dsos: rows(byThreadDso).slice(0, 20),
		ours_inclusive: rows(ours).slice(0, 25), symbols: rows(flat).slice(0, 30) };
}
const PROFILE_LOAD = { relay: 'closed-loop relay', redeem: 'share-link redemption', realtraffic: 'real-traffic (section 9)' };

async function profile(secure, what = 'relay', kind = 'ours') {
	const name = `${kind}-${secure ? 'wss' : 'ws'}${what === 'relay' ? '' : `-${what}`}`;
	log(`${name}: perf profile under the ${PROFILE_LOAD[what]} load (${CFG.perfSeconds} s)`);
	const srv = await SERVERS[kind].start(secure);
	const file = path.join(OUT, `perf-${name}.data`);
	let release = () => {};
	try {
		let lg;
		if (what === 'relay') {
			lg = loadgen('relay', srv, secure, ['--pairs', CFG.relayPairs, '--inflight', CFG.relayInflight,
				'--payload', CFG.payload, '--warmup', 1, '--duration', CFG.perfSeconds + 2], 120);
		} else {
			release = await holdLinkTarget(srv, secure);
			const unl = await srv.admin({ request: 'create_link', target: 'bench-target', ttl: '1h', max_clicks: 0 });
			lg = redeemRun(srv, secure, unl.token, ['--warmup', 1, '--duration', CFG.perfSeconds + 2]);
		}
		await sleep(1500);
		perfRecord(srv.pid, file);
		const done = await lg;
		perfSummary(file, name, what, done?.msgs_per_s ?? done?.requests_per_s);
	} finally {
		release();
		await srv.stop();
		dropPerfData(file);
	}
}

// ---------- 9. real traffic: many WSS peers, Poisson-timed realistic frames, shipped defaults ----------
// One fresh server for the traffic (RSS from 0 peers), then a fresh one for the setup cost. Peers come from
// 127.1.x.y (CFG.rtPerIp each), setups from CFG.rtSetupSources addresses of 127.2.x.y: under our per-IP caps, as
// real clients are. ours is profiled (perf) right after the window, on the same load, when BENCH_PERF is not 0.
const RT_SERVERS = {
	ours: () => SERVERS.oursShipped.start(),
	reference: () => SERVERS.reference.start(true, RT_LIMIT),
	trivial: () => SERVERS.trivial.start(true),
};
// 10. Cluster mode (issue 14): two nodes and their Redis, all three pinned to the server core, so "server CPU" is
// the whole cluster's. The same relay loads as sections 1/2/6, the pairs' two sides on one node ("same node",
// cluster mode on) or on the two nodes ("cross node": every frame goes node → Redis → node).
async function startRedis() {
	const port = await freePort();
	const child = spawn('taskset', ['-c', SERVER_CPU, 'redis-server', '--port', String(port), '--bind', '127.0.0.1',
		'--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
	const deadline = Date.now() + 10000;
	for (;;) {
		if (await new Promise((r) => { const c = net.connect(port, '127.0.0.1', () => { c.destroy(); r(true); }); c.on('error', () => r(false)); })) break;
		if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error('redis-server did not start'); }
		await sleep(50);
	}
	return { port, pid: child.pid, stop: () => stopChild(child) };
}

async function clusterSuite(secure) {
	const name = `cluster-${secure ? 'wss' : 'ws'}`;
	const r = (results.runs[name] = {});
	const redis = await startRedis();
	const nodes = [];
	try {
		for (const id of ['bench-a', 'bench-b'])
			nodes.push(await SERVERS.ours.start(secure, {}, {}, { redis_url: `redis://127.0.0.1:${redis.port}`, node_id: id }));
		await sleep(1500);	// both connected to Redis and seen by each other
		const [a, b] = nodes;
		const extra = ['--extra-pids', `${b.pid},${redis.pid}`];
		for (const [phase, cross] of [['same', false], ['cross', true]]) {
			const where = cross ? ['--port-b', b.port] : [];
			log(`${name}: relay, closed loop, ${cross ? 'pairs across the two nodes' : 'both sides on one node'}`);
			r[`${phase}_relay`] = await loadgen('relay', a, secure, ['--pairs', CFG.relayPairs, '--inflight', CFG.relayInflight,
				'--payload', CFG.payload, '--warmup', CFG.relayWarmup, '--duration', CFG.relayDuration, ...where, ...extra], 120);
			log(`  ${Math.round(r[`${phase}_relay`].msgs_per_s ?? 0)} msgs/s, ${r[`${phase}_relay`].server_cpu_us_per_msg} us CPU/msg (2 nodes + Redis)`);
			await sleep(500);
			r[`${phase}_fixed`] = await loadgen('relay', a, secure, ['--pairs', CFG.relayPairs, '--rate', CFG.fixedRate,
				'--payload', CFG.payload, '--warmup', 1, '--duration', CFG.fixedDuration, ...where, ...extra], 120);
			log(`  open loop: p50 ${r[`${phase}_fixed`].lat_us_p50} us, p99 ${r[`${phase}_fixed`].lat_us_p99} us`);
			await sleep(500);
		}
	} finally {
		for (const n of nodes) { try { await n.stop(); } catch (e) { log(`  stop: ${e.message}`); } }
		await redis.stop();
	}
}

async function rtSuite(kind) {
	const name = `${kind}-realtraffic`;
	const r = (results.runs[name] = {});
	r.loadavg_before = os.loadavg().map((x) => Math.round(x * 100) / 100);
	r.concurrent_limit = RT_LIMIT;
	const withPerf = kind === 'ours' && process.env.BENCH_PERF !== '0';
	const sources = Math.ceil(RT_PEERS / CFG.rtPerIp);
	log(`${name}: ${RT_PEERS} WSS peers from ${sources} addresses, ${CFG.rtRate} frames/s each + HEARTBEAT/5 s, ` +
		`concurrent_limit ${RT_LIMIT} (load average ${r.loadavg_before.join(' ')})`);
	let srv = await RT_SERVERS[kind]();
	const file = path.join(OUT, `perf-ours-realtraffic.data`);
	try {
		await sleep(1000);
		let perfDone = Promise.resolve();
		r.traffic = await loadgen('realtraffic', srv, true, ['--pairs', RT_PEERS / 2, '--peer-rate', CFG.rtRate,
			'--sdp-share', CFG.rtSdpShare, '--sdp-max', CFG.rtSdpMax, '--heartbeat', 5, '--warmup', CFG.rtWarmup, '--duration', CFG.rtDuration,
			'--after', withPerf ? CFG.perfSeconds + 1 : 0, '--concurrency', 128, '--src', sources, '--src-base', '127.1.0.1',
			'--ramp-timeout', 180], 600, (line) => {
			if (line === 'PROFILE-START' && withPerf) perfDone = sleep(200).then(() => perfRecord(srv.pid, file));
		});
		await perfDone;
		const t = r.traffic;
		log(`  ${t.alive_at_end ?? 0} peers, ${Math.round(t.received_per_s ?? 0)} frames/s relayed, server ${t.server_cpu_pct}% of a core, ` +
			`${t.server_cpu_us_per_frame} us CPU/frame, p50/p99/max ${t.lat_us_p50}/${t.lat_us_p99}/${t.lat_us_max} us, ` +
			`RSS ${t.server_rss_kb} KiB (${t.server_rss_kb_per_peer} KiB/peer), sent ${t.sent_total} received ${t.received_total}, ` +
			`ramp ${t.ramp_s} s with ${t.setup_retries} retries (${t.first_retry_error || 'none'}), loadgen ${t.loadgen_cpu_pct}% / lag ${t.send_lag_ms_max} ms`);
		if (withPerf && (fs.existsSync(file) || fs.existsSync(`${file}.stat`)))
			perfSummary(file, 'ours-wss-realtraffic', 'realtraffic', t.received_per_s);
		await srv.stop();
		await sleep(1500);
		srv = await RT_SERVERS[kind]();
		await sleep(1000);
		log(`${name}: connection setup (TLS + upgrade -> OPEN), ${CFG.rtSetupConcurrency} in flight from ${CFG.rtSetupSources} addresses`);
		r.setup = await loadgen('connect', srv, true, ['--concurrency', CFG.rtSetupConcurrency, '--duration', CFG.rtSetupDuration,
			'--src', CFG.rtSetupSources, '--src-base', '127.2.0.1'], 120);
		const u = r.setup;
		log(`  ${Math.round(u.setups_per_s ?? 0)} setups/s at ${u.server_cpu_pct}% of the server core: ${u.server_cpu_us_per_setup} us CPU each` +
			` (${u.server_cpu_us_per_setup > 0 ? Math.round(1e6 / u.server_cpu_us_per_setup) : 'n/a'} per core-second)`);
	} finally {
		const t0 = Date.now();
		try { await srv.stop(); } catch (e) { r.stop_error = String(e.message || e).split('\n')[0]; log(`  stop: ${r.stop_error}`); }
		r.stop_s = (Date.now() - t0) / 1000;
		dropPerfData(file);
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
		if (R[`ourspoll-${s}`]?.relay)
			row('1. relay throughput', `relayed msgs/s, ${S}, closed loop — ours with event_loop = poll`, 'msg/s',
				g(`ourspoll-${s}`, 'relay', 'msgs_per_s'), g(`reference-${s}`, 'relay', 'msgs_per_s'), undefined, 'higher', 5);
	}
	for (const s of ['wss', 'ws']) {
		const S = s.toUpperCase();
		for (const [k, n] of [['lat_us_p50', 'p50'], ['lat_us_p99', 'p99'], ['lat_us_max', 'max']])
			row('2. relay latency', `${n} at max load (closed loop), ${S}`, 'µs', g(`ours-${s}`, 'relay', k),
				g(`reference-${s}`, 'relay', k), g(`trivial-${s}`, 'relay', k), 'lower', n === 'p99' ? 5 : 0);
		for (const [k, n] of [['lat_us_p50', 'p50'], ['lat_us_p99', 'p99'], ['lat_us_max', 'max']])
			row('2. relay latency', `${n} at fixed ${fmt(CFG.fixedRate * 2)} msgs/s (open loop), ${S}`, 'µs',
				g(`ours-${s}`, 'fixed', k), g(`reference-${s}`, 'fixed', k), g(`trivial-${s}`, 'fixed', k), 'lower', n === 'p99' ? 5 : 0);
		if (R[`ourspoll-${s}`]?.relay) {
			row('2. relay latency', `p99 at max load (closed loop), ${S} — ours with event_loop = poll`, 'µs',
				g(`ourspoll-${s}`, 'relay', 'lat_us_p99'), g(`reference-${s}`, 'relay', 'lat_us_p99'), undefined, 'lower', 5);
			row('2. relay latency', `p99 at fixed ${fmt(CFG.fixedRate * 2)} msgs/s (open loop), ${S} — ours with event_loop = poll`, 'µs',
				g(`ourspoll-${s}`, 'fixed', 'lat_us_p99'), g(`reference-${s}`, 'fixed', 'lat_us_p99'), undefined, 'lower', 5);
		}
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
	const top = Math.max(0, ...Object.values(oi).map((l) => l.alive || 0));
	if (R['ours-wss']?.idle_leave_s !== undefined)
		row('4. idle peers (WSS)', `${fmt(top)} idle peers leave at once: time until no Janus session is left`, 'ms',
			R['ours-wss'].idle_leave_s * 1000, undefined, undefined, 'lower', 0);
	for (const s of ['wss', 'ws']) {
		const S = s.toUpperCase();
		row('6. CPU per message', `server CPU per relayed msg, ${S} (utime+stime)`, 'µs', g(`ours-${s}`, 'relay', 'server_cpu_us_per_msg'),
			g(`reference-${s}`, 'relay', 'server_cpu_us_per_msg'), g(`trivial-${s}`, 'relay', 'server_cpu_us_per_msg'), 'lower', 5);
		if (R[`ourspoll-${s}`]?.relay)
			row('6. CPU per message', `server CPU per relayed msg, ${S} (utime+stime) — ours with event_loop = poll`, 'µs',
				g(`ourspoll-${s}`, 'relay', 'server_cpu_us_per_msg'), g(`reference-${s}`, 'relay', 'server_cpu_us_per_msg'), undefined, 'lower', 5);
		row('6. CPU per message', `server CPU busy during relay, ${S}`, '% of a core', g(`ours-${s}`, 'relay', 'server_cpu_pct'),
			g(`reference-${s}`, 'relay', 'server_cpu_pct'), g(`trivial-${s}`, 'relay', 'server_cpu_pct'), '', 0);
		row('6. CPU per message', `load generator CPU during relay, ${S}`, '% of a core', g(`ours-${s}`, 'relay', 'loadgen_cpu_pct'),
			g(`reference-${s}`, 'relay', 'loadgen_cpu_pct'), g(`trivial-${s}`, 'relay', 'loadgen_cpu_pct'), '', 0);
	}
	// 10. cluster: cross node next to same node (cluster mode, two nodes + Redis on the server core)
	for (const s of ['wss', 'ws']) {
		const c = R[`cluster-${s}`];
		if (!c) continue;
		const S = s.toUpperCase();
		const crow = (metric, unit, cross, same) => rows.push({ section: '10. cluster (2 nodes + Redis)', metric: `${metric}, ${S}: cross node (ours) vs same node (reference column)`,
			unit, ours: cross, reference: same, trivial: undefined, ratio: ratio(cross, same), better: '', target: '', met: '' });
		crow('relayed msgs/s, closed loop', 'msg/s', c.cross_relay?.msgs_per_s, c.same_relay?.msgs_per_s);
		crow('CPU per relayed msg, both nodes + Redis', 'µs', c.cross_relay?.server_cpu_us_per_msg, c.same_relay?.server_cpu_us_per_msg);
		for (const [k, n] of [['lat_us_p50', 'p50'], ['lat_us_p99', 'p99']])
			crow(`${n} at fixed ${fmt(CFG.fixedRate * 2)} msgs/s (open loop)`, 'µs', c.cross_fixed?.[k], c.same_fixed?.[k]);
	}
	// 5. share links: ours only (the reference server has no share links); absolute targets
	const abs = (metric, unit, o, triv, target, met) => rows.push({ section: '5. share links (SQLite)', metric, unit, ours: o,
		reference: undefined, trivial: triv, ratio: undefined, better: '', target, met });
	for (const s of ['wss', 'ws']) {
		const rd = R[`ours-${s}`]?.redeem;
		if (!rd && !R[`trivial-${s}`]?.redeem) continue;
		const P = s === 'wss' ? 'HTTPS' : 'HTTP';
		const v = rd?.ok ? rd.granted_per_s : undefined;
		abs(`redemptions/s, one unlimited link, ${P} keep-alive (${CFG.redeemConns} conns)`, 'redemptions/s', v,
			g(`trivial-${s}`, 'redeem', 'requests_per_s'), s === 'wss' ? '>= 20,000/s' : '', s === 'wss' && v !== undefined ? (v >= 20000 ? 'yes' : 'NO') : '');
		const rp = R[`ourspoll-${s}`]?.redeem;
		if (rp) abs(`redemptions/s, one unlimited link, ${P} — ours with event_loop = poll`, 'redemptions/s', rp.ok ? rp.granted_per_s : undefined,
			undefined, '>= 20,000/s', rp.ok ? (rp.granted_per_s >= 20000 ? 'yes' : 'NO') : '');
		abs(`redemption latency p99, ${P}`, 'µs', rd?.lat_us_p99, g(`trivial-${s}`, 'redeem', 'lat_us_p99'), '', '');
		abs(`server CPU per redemption, ${P}`, 'µs', rd?.server_cpu_us_per_req, g(`trivial-${s}`, 'redeem', 'server_cpu_us_per_req'), '', '');
		abs(`server CPU busy during redemptions, ${P}`, '% of a core', rd?.server_cpu_pct, g(`trivial-${s}`, 'redeem', 'server_cpu_pct'), '', '');
		const rc = R[`ours-${s}`]?.redeemCap;
		if (rc) {
			abs(`attempts/s on a max_clicks = ${fmt(CFG.redeemCap)} link (${fmt(rc.sent_total)} attempts), ${P}`, 'attempts/s',
				rc.requests_per_s, undefined, '', '');
			abs(`over-redemptions of that link (granted: loadgen ${rc.granted_total}, get_link ${rc.check?.link_clicks}, link_stats +${rc.check?.link_stats_ok_delta}; list_clicks ${fmt(rc.check?.list_clicks_total)} = attempts)`,
				'links', rc.over_redeemed, undefined, '0, exact count', rc.exact ? 'yes' : 'NO');
		}
	}
	// 7. STUN: the reference PeerJS server has none; the column compares with coturn's STUN-only server instead
	if (R['ours-stun'] || R['coturn-stun']) {
		row('7. STUN (vs coturn)', 'Binding responses/s, one server core, 64 sources (reference column: coturn --stun-only)', 'responses/s',
			R['ours-stun']?.responses_per_s, R['coturn-stun']?.responses_per_s, undefined, 'higher', 0);
		row('7. STUN (vs coturn)', 'server CPU per Binding response (reference column: coturn)', 'µs',
			R['ours-stun']?.server_cpu_us_per_response, R['coturn-stun']?.server_cpu_us_per_response, undefined, 'lower', 0);
	}
	// 9. real traffic (WSS, shipped defaults)
	if (R['ours-realtraffic'] || R['reference-realtraffic']) {
		const S = '9. real traffic (WSS, shipped defaults)';
		const t = (kind, key) => R[`${kind}-realtraffic`]?.traffic?.[key];
		const u = (kind, key) => R[`${kind}-realtraffic`]?.setup?.[key];
		const rt = (metric, unit, key, better, target, tri = true) => row(S, metric, unit, t('ours', key), t('reference', key),
			tri ? t('trivial', key) : undefined, better, target);
		const n = t('ours', 'peers') ?? t('reference', 'peers');
		rt(`peers connected at the end (of ${fmt(n)}; concurrent_limit ${fmt(R['ours-realtraffic']?.concurrent_limit ?? RT_LIMIT)} on both)`, 'peers', 'alive_at_end', 'higher', 0);
		rt(`frames offered (OFFER/ANSWER/CANDIDATE, Poisson, ${t('ours', 'peer_rate') ?? CFG.rtRate}/s per peer)`, 'frames/s', 'sent_per_s', 'higher', 0);
		rt('frames relayed (received by peers in the window)', 'frames/s', 'received_per_s', 'higher', 0);
		rt('HEARTBEATs (every 5 s per peer)', 'frames/s', 'heartbeats_per_s', 'higher', 0);
		rt('server CPU busy (of its pinned core)', '% of a core', 'server_cpu_pct', '', 0);
		rt('server CPU per relayed frame (utime+stime)', 'µs', 'server_cpu_us_per_frame', 'lower', 3);
		rt('server CPU per frame handled (relayed + HEARTBEAT)', 'µs', 'server_cpu_us_per_frame_incl_heartbeats', 'lower', 0);
		rt('relay latency p50 (send → receive, timestamp in the payload)', 'µs', 'lat_us_p50', 'lower', 0);
		rt('relay latency p99', 'µs', 'lat_us_p99', 'lower', 2);
		rt('relay latency max', 'µs', 'lat_us_max', 'lower', 0);
		const op99 = t('ours', 'lat_us_p99'), ocpu = t('ours', 'server_cpu_pct');
		if (op99 !== undefined) rows.push({ section: S, metric: `ours: p99 never above 5 ms while the server core is below 80 % (core ${fmt(ocpu, 1)} %)`,
			unit: 'µs', ours: op99, reference: undefined, trivial: undefined, ratio: undefined, better: '', target: '<= 5,000 µs',
			met: ocpu < 80 ? (op99 <= 5000 ? 'yes' : 'NO') : 'n/a (core ≥ 80 %)' });
		rt('server RSS before the first peer', 'KiB', 'server_rss_kb_empty', 'lower', 0, false);
		rt('server RSS with every peer connected, under load', 'KiB', 'server_rss_kb', 'lower', 0, false);
		rt('server RSS per peer under load ((loaded − empty) / peers)', 'KiB', 'server_rss_kb_per_peer', 'lower', 0, false);
		rt('frames sent, whole run (warm-up + window + profile + drain)', 'frames', 'sent_total', '', 0);
		rt('frames received, whole run', 'frames', 'received_total', '', 0);
		const lost = (k) => t(k, 'lost');
		rows.push({ section: S, metric: 'frames lost (sent − received) / unexpected frames (EXPIRE, ERROR, REFUSED)', unit: 'frames',
			ours: lost('ours'), reference: lost('reference'), trivial: lost('trivial'), ratio: undefined, better: '', target: '0',
			met: lost('ours') === undefined ? '' : (lost('ours') === 0 && t('ours', 'error_frames') === 0 ? 'yes' : `NO (${t('ours', 'error_frames')} unexpected)`) });
		rt('load generator CPU during the window', '% of a core', 'loadgen_cpu_pct', '', 0);
		rt('load generator behind its Poisson schedule, at most (large: it was the ceiling)', 'ms', 'send_lag_ms_max', '', 0);
		rt('ramp: connections that failed before OPEN and were made again (new id)', 'peers', 'setup_retries', 'lower', 0);
		rt('ramp: time to connect every peer', 's', 'ramp_s', 'lower', 0);
		row(S, 'setup: TLS handshake + upgrade → OPEN, 32 in flight (measured rate; load-generator-bound)', 'setups/s',
			u('ours', 'setups_per_s'), u('reference', 'setups_per_s'), u('trivial', 'setups_per_s'), 'higher', 0);
		row(S, 'setup: server CPU busy while setting up', '% of a core', u('ours', 'server_cpu_pct'), u('reference', 'server_cpu_pct'),
			u('trivial', 'server_cpu_pct'), '', 0);
		row(S, 'setup: server CPU per setup (incl. the close)', 'µs', u('ours', 'server_cpu_us_per_setup'),
			u('reference', 'server_cpu_us_per_setup'), u('trivial', 'server_cpu_us_per_setup'), 'lower', 0);
		const perCore = (k) => (u(k, 'server_cpu_us_per_setup') > 0 ? 1e6 / u(k, 'server_cpu_us_per_setup') : undefined);
		row(S, 'setups per core-second (1 s ÷ CPU per setup)', 'setups/s', perCore('ours'), perCore('reference'), perCore('trivial'), 'higher', 2);
		row(S, 'setup latency p99', 'µs', u('ours', 'lat_us_p99'), u('reference', 'lat_us_p99'), u('trivial', 'lat_us_p99'), 'lower', 0);
	}
	// by section number (stable: rows keep their order within a section)
	rows.sort((a, b) => parseInt(a.section, 10) - parseInt(b.section, 10));
	return rows;
}

function markdown(rows) {
	const m = results.meta;
	const L = [];
	L.push(`# p2plink benchmark — ${m.date}`, '');
	L.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, ${m.kernel}. Server pinned to CPU ${SERVER_CPU}, load generator to CPU ${LOADGEN_CPU} (taskset). Janus \`event_loops = ${EVENT_LOOPS}\`${EVENT_LOOPS ? '' : ' (default: a thread per handle)'}.`);
	L.push(`Servers: ours = ${SERVERS.ours.label}; ${SERVERS.reference.label}; ceiling = ${SERVERS.trivial.label}.`);
	L.push(`Load: ${CFG.relayPairs} peer pairs, ${CFG.relayInflight} messages in flight per pair (closed loop), OFFER ≈ ${Math.round(CFG.payload * 1.25 / 1024 * 10) / 10} KiB / ANSWER ≈ ${Math.round(CFG.payload * 0.6 / 1024 * 10) / 10} KiB frames, ${CFG.relayDuration} s window after ${CFG.relayWarmup} s warm-up. fd limit ${fdSoft} (hard ${fdHard}).`, '');
	const rtr = ['ours', 'reference', 'trivial'].map((k) => [k, results.runs[`${k}-realtraffic`]]).filter(([, v]) => v);
	if (rtr.length) {
		const t = rtr[0][1].traffic || {};
		L.push(`Section 9 (real traffic): ${fmt(t.peers)} WSS peers (${CFG.rtPerIp} per source address, 127.1.x.y; ids in pairs, each peer's partner the only counterpart), ` +
			`each an independent Poisson process of ${t.peer_rate} frames/s to its partner — ${Math.round((t.sdp_share ?? 0) * 100)} % OFFER/ANSWER with 2–${Math.round(CFG.rtSdpMax / 102.4) / 10} KiB of SDP, ` +
			`the rest CANDIDATEs of 275–300 B (mean frame ${fmt(t.mean_frame_bytes)} B) — plus HEARTBEAT every 5 s (phases spread evenly); ${CFG.rtWarmup} s warm-up, ` +
			`${CFG.rtDuration} s window. concurrent_limit ${fmt(rtr[0][1].concurrent_limit)} on both servers (the most one process holds with this fd limit). ` +
			`Ours as shipped: conf/*.jcfg.sample defaults (frame_rate 50, frame_burst 200, max_connections_per_ip 100, connection_rate_per_ip 20, ` +
			`event_loop libuv …) and debian/conf/janus.jcfg (event_loops 2, debug_level 4); only concurrent_limit changed. ` +
			`Setup: fresh server, ${CFG.rtSetupConcurrency} TLS connections in flight from ${CFG.rtSetupSources} addresses (127.2.x.y), each closed (RST) on OPEN, ${CFG.rtSetupDuration} s. ` +
			`Load average (1/5/15 min) when each started: ${rtr.map(([k, v]) => `${k} ${(v.loadavg_before || []).join('/')}`).join('; ')}` +
			`${rtr.some(([, v]) => (v.loadavg_before?.[0] ?? 0) > 1.5) ? ' — **measured under load** (other processes on the box: numbers are noisy)' : ''}.`, '');
	}
	L.push('| section | metric | ours | reference | ours/ref | target | met | loadgen ceiling (trivial relay) |');
	L.push('|---|---|---:|---:|---:|---|---|---:|');
	for (const r of rows) {
		const d = r.unit === 'µs' && r.metric.includes('per') ? 2 : r.unit === '% of a core' || (r.unit === 'KiB' && r.metric.includes('per')) ? 1 : 0;
		L.push(`| ${r.section} | ${r.metric} (${r.unit}) | ${fmt(r.ours, d)} | ${fmt(r.reference, d)} | ${r.ratio === undefined ? 'n/a' : fmt(r.ratio, 2) + '×'} | ${r.target} | ${r.met} | ${r.trivial === undefined ? '' : fmt(r.trivial, d)} |`);
	}
	const maxL = idleLevels[idleLevels.length - 1];
	const ol = results.runs['ours-wss']?.idle?.levels?.find((l) => l.level === maxL);
	L.push(`| 4. idle peers (WSS) | 50,000 concurrent idle peers without errors | ${clipped.length ? `not measurable here: RLIMIT_NOFILE hard limit ${fdHard} and no CAP_SYS_RESOURCE; largest level run: ${fmt(maxL)} → ${ol ? `${fmt(ol.alive)} alive, ${ol.failed} failed, ${ol.unexpected_close} dropped` : 'n/a'}` : (ol ? `${fmt(ol.alive)} alive, ${ol.failed} failed, ${ol.unexpected_close} dropped` : 'n/a')} | | | 50,000 | ${clipped.length ? 'not measured' : (ol && ol.alive === maxL && !ol.failed ? 'yes' : 'NO')} | |`);
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
	const thr = (run) => Object.entries(run?.server_threads_cpu_pct || {}).map(([k, v]) => `${k} ${v}%`).join(', ');
	for (const s of ['wss', 'ws'])
		if (results.runs[`ours-${s}`]?.redeem)
			L.push(`Share links, ${s === 'wss' ? 'HTTPS' : 'HTTP'}: server CPU by thread during the unlimited-link window (% of a core): ${thr(results.runs[`ours-${s}`].redeem)}. ` +
				`Each redemption is one SQLite write transaction (UPDATE clicks + INSERT click log) under the store mutex, on one of the plugin's 4 link workers.`, '');
	L.push(`Modules measured: ${(m.modules || []).join('; ')} (git ${m.gitHead}, from ${process.env.P2PLINK_BUILD_DIR || root}).`, '');
	if (m.merged) L.push(`Merged run (BENCH_MERGE=1): ${m.merged.redone.join(', ')} measured at ${m.date}; ${m.merged.kept_from_earlier.join(', ')} kept from the run of ${m.merged.into} (modules then: ${(m.merged.earlier_modules || []).join('; ')}).`, '');
	const stops = Object.entries(results.runs).filter(([, r]) => r.stop_error).map(([n, r]) => `${n}: ${r.stop_error} (after ${r.stop_s} s)`);
	if (stops.length) L.push('Servers that did not stop cleanly (SIGTERM, then SIGKILL after 10 s):', ...stops.map((x) => `- ${x}`), '');
	if (results.profile) {
		for (const [name, p] of Object.entries(results.profile)) {
			// BENCH_PERF_STAT=1 profiles hold syscall counts, not perf report rows
			if (p.syscalls_per_msg) {
				L.push(`## syscalls per message: ${name} under the ${PROFILE_LOAD[p.what] || p.what} load ` +
					`(${Math.round(p.msgs_per_s ?? 0)} msgs/s)`, '', '```',
				...Object.entries(p.syscalls_per_msg).map(([call, per]) => `${call} ${per} (${p.syscalls[call]} in ${CFG.perfSeconds} s)`),
				'```', '');
				continue;
			}
			L.push(`## perf profile: ${name} under the ${PROFILE_LOAD[p.what] || p.what} load`, '', 'Threads:', '```', ...p.threads, '```',
				'By library:', '```', ...p.dsos, '```', 'By thread and library (≥ 1%):', '```', ...(p.thread_dsos || []), '```',
				...(p.ours_inclusive?.length ? ['Our functions, inclusive of callees (frame-pointer stacks; libraries without frame pointers are under-counted):', '```', ...p.ours_inclusive, '```'] : []),
				'Top symbols (self time, % of the server\'s samples):', '```', ...p.symbols, '```', '');
		}
	}
	return L.join('\n') + '\n';
}

// ---------- 7. STUN Binding responses: our responder inside Janus vs coturn's STUN-only server ----------
const STUN_LOAD = path.join(root, 'tools', 'p2plink-stun-load');
async function freeUdpPort() {
	const sock = dgram.createSocket('udp4');
	await new Promise((r) => sock.bind(0, '127.0.0.1', r));
	const { port } = sock.address();
	await new Promise((r) => sock.close(r));
	return port;
}
const STUN_SERVERS = {
	// Limits raised (per source and overall): the load comes from 64 loopback sources, far above the defaults
	async ours() {
		const port = await freeUdpPort();
		const srv = await SERVERS.ours.start(true, {}, { port, rate_per_source: 1000000, burst_per_source: 1000000,
			global_rate: 10000000, global_burst: 10000000 });
		return { port, pid: srv.pid, stop: () => srv.stop() };
	},
	// The STUN server operators would otherwise run: coturn in STUN-only mode (no TURN, no auth), same CPU pinning
	async coturn() {
		const port = await freeUdpPort();
		const child = spawn('taskset', ['-c', SERVER_CPU, 'turnserver', '-n', '--stun-only', '--no-cli', '--no-tls', '--no-dtls',
			'-L', '127.0.0.1', '-p', String(port), '--log-file', 'stdout', '--simple-log', '--pidfile', path.join(os.tmpdir(), `bench-coturn-${port}.pid`)],
		{ stdio: ['ignore', 'ignore', 'ignore'] });
		await sleep(1500);
		if (child.exitCode !== null) throw new Error(`turnserver exited ${child.exitCode}`);
		return { port, pid: child.pid, stop: () => stopChild(child) };
	},
};
async function stunSuite(kind) {
	const r = (results.runs[`${kind}-stun`] = {});
	log(`${kind}-stun: Binding requests, 64 sources, 256 in flight`);
	const srv = await STUN_SERVERS[kind]();
	try {
		const out = await new Promise((resolve) => {
			const child = spawn('taskset', ['-c', LOADGEN_CPU, STUN_LOAD, '--port', String(srv.port), '--sources', '64',
				'--window', '256', '--seconds', String(CFG.stunSeconds), '--pid', String(srv.pid)], { stdio: ['ignore', 'pipe', 'pipe'] });
			let text = '';
			child.stdout.on('data', (d) => { text += d; });
			child.stderr.on('data', (d) => { text += d; });
			const timer = setTimeout(() => child.kill('SIGKILL'), (CFG.stunSeconds + 30) * 1000);
			child.on('exit', () => { clearTimeout(timer); resolve(text); });
		});
		r.responses_per_s = Number(/(\d+) Binding responses\/s/.exec(out)?.[1]);
		r.server_cpu_us_per_response = Number(/([\d.]+) us CPU per response/.exec(out)?.[1]);
		r.server_cpu_pct = Number(/= (\d+)% of one core/.exec(out)?.[1]);
		log(`  ${r.responses_per_s} responses/s, ${r.server_cpu_us_per_response} us CPU each (${r.server_cpu_pct}% of a core)`);
	} finally {
		await srv.stop();
	}
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
	// BENCH_ONLY: trivial, ours, ourspoll (ours with the transport's poll loop: relay rows), reference, redeem (section 5),
	// stun (section 7: our STUN responder vs coturn's)
	// realtraffic (section 9): for whichever of trivial, ours, reference are listed too; all three when none is
	const only = (process.env.BENCH_ONLY || 'trivial,ours,ourspoll,reference,redeem,stun,realtraffic,cluster').split(',');
	const started = Date.now();
	for (const kind of ['trivial', 'ours', 'ourspoll', 'reference'].filter((k) => only.includes(k)))
		for (const secure of [true, false]) {
			if (!SECURE.includes(secure ? 'wss' : 'ws')) continue;
			try { await suite(kind, secure); } catch (e) {
				log(`${kind} ${secure ? 'wss' : 'ws'} failed: ${e.stack}`);
				const n = `${kind}-${secure ? 'wss' : 'ws'}`;
				results.runs[n] = { ...(results.runs[n] || {}), error: String(e) };
			}
		}
	if (only.includes('redeem'))
		for (const [kind, secure] of [['trivial', true], ['ours', true], ['ourspoll', true], ['trivial', false], ['ours', false]]) {
			if ((kind === 'trivial' || kind === 'ourspoll') && !only.includes(kind)) continue;
			if (!SECURE.includes(secure ? 'wss' : 'ws')) continue;
			try { await redeemSuite(kind, secure); } catch (e) { log(`${kind} redeem failed: ${e.stack}`); }
		}
	if (only.includes('stun'))
		for (const kind of ['ours', 'coturn']) {
			try { await stunSuite(kind); } catch (e) { log(`${kind} STUN failed: ${e.message}`); results.runs[`${kind}-stun`] = { error: String(e) }; }
		}
	if (only.includes('cluster'))
		for (const secure of [true, false]) {
			if (!SECURE.includes(secure ? 'wss' : 'ws')) continue;
			try { await clusterSuite(secure); } catch (e) { log(`cluster ${secure ? 'wss' : 'ws'} failed: ${e.stack}`); results.runs[`cluster-${secure ? 'wss' : 'ws'}`] = { error: String(e) }; }
		}
	if (only.includes('realtraffic')) {
		const kinds = ['trivial', 'ours', 'reference'].filter((k) => only.includes(k));
		for (const kind of kinds.length ? kinds : ['trivial', 'ours', 'reference']) {
			try { await rtSuite(kind); } catch (e) {
				log(`${kind} realtraffic failed: ${e.stack}`);
				results.runs[`${kind}-realtraffic`] = { ...(results.runs[`${kind}-realtraffic`] || {}), error: String(e) };
			}
		}
	}
	if (process.env.BENCH_PERF !== '0' && only.includes('ours') && SECURE.includes('wss')) {
		try { await profile(true); } catch (e) { log(`profile failed: ${e.message}`); }
	}
	if (process.env.BENCH_PERF !== '0' && only.includes('redeem') && SECURE.includes('wss')) {
		try { await profile(true, 'redeem'); } catch (e) { log(`redeem profile failed: ${e.message}`); }
	}
	results.meta.elapsed_s = Math.round((Date.now() - started) / 1000);
	if (process.env.BENCH_MERGE === '1') {
		// BENCH_MERGE=1: keep the runs (and profiles) of the previous latest.json that this run did not redo
		try {
			const old = JSON.parse(fs.readFileSync(path.join(OUT, 'latest.json')));
			const redone = Object.keys(results.runs);
			const runs = { ...old.runs };
			for (const [k, v] of Object.entries(results.runs)) {
				runs[k] = { ...(old.runs[k] || {}), ...v };	// phases this run did not redo are kept
				if (!v.error) delete runs[k].error;
				if (!v.stop_error) delete runs[k].stop_error;	// a clean stop this time replaces an earlier unclean one
			}
			results.runs = runs;
			results.profile = { ...(old.profile || {}), ...(results.profile || {}) };
			results.meta.merged = { into: old.meta?.date, redone, kept_from_earlier: Object.keys(old.runs).filter((k) => !redone.includes(k)),
				earlier_modules: old.meta?.modules, earlier_merged: old.meta?.merged };
		} catch (e) { log(`BENCH_MERGE: no earlier latest.json to merge into (${e.message})`); }
	}
	const rows = buildTable();
	results.table = rows;
	fs.writeFileSync(path.join(OUT, 'latest.json'), JSON.stringify(results, null, 2));
	const md = markdown(rows);
	fs.writeFileSync(path.join(OUT, 'latest.md'), md);
	process.stdout.write(md);
	log(`done in ${results.meta.elapsed_s} s: bench/results/latest.md, bench/results/latest.json`);
}
main().catch((e) => { console.error(e); process.exit(1); });
