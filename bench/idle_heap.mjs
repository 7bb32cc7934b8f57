// bench/idle_heap.mjs — where an idle peer's memory goes: ours (Janus + our modules, the bench's section-4 config)
// with N idle WSS peers, glibc's malloc_stats() read with gdb at 0 and N peers (heap in use vs RSS), and, with
// HEAP_TRACK=1, the whole run under heaptrack (live bytes per call site at the peak = N idle peers).
// Usage: node bench/idle_heap.mjs [N=1000]; needs bench/build/loadgen (bench/run.sh builds it), gdb, heaptrack.
// Not a timed benchmark: a diagnostic for docs/benchmarks.md ("What an idle peer costs").
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startJanus } from '../tests/lib/janus.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const N = Number(process.argv[2] || 1000);
const track = process.env.HEAP_TRACK === '1';
const out = process.env.HEAP_OUT || fs.mkdtempSync('/tmp/p2plink-heap-');
const wrapper = ['taskset', '-c', process.env.BENCH_SERVER_CPU ?? '1', ...(track ? ['heaptrack', '-o', path.join(out, 'ht')] : [])];
const srv = await startJanus({ secure: true, debugLevel: 2, wrapper, janus: { event_loops: 1 },
	plugin: { concurrent_limit: 100000, alive_timeout: 60000, expire_timeout: 5000, frame_rate: 0 },
	links: { redeem_attempts_per_minute: 0 }, transport: { secure: true, max_connections_per_ip: 0, connection_rate_per_ip: 0 } });
// taskset execs janus; heaptrack (a shell script) runs it as a descendant: the process to read is the one named janus
const janusPid = (() => {
	let p = srv.child.pid;
	for (let i = 0; i < 4; i++) {
		if (fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'janus') return p;
		const kids = execFileSync('sh', ['-c', `pgrep -P ${p} || true`]).toString().trim().split('\n').filter(Boolean);
		if (!kids.length) break;
		p = Number(kids[0]);
	}
	return p;
})();
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${janusPid}/status`, 'utf8'))[1]);
function mallocStats(tag) {
	// malloc_stats() prints per arena "system bytes" / "in use bytes" to the process's stderr (janus.log)
	execFileSync('gdb', ['-p', String(janusPid), '-batch', '-nx', '-ex', 'call (void)malloc_stats()'],
		{ stdio: ['ignore', 'pipe', 'pipe'] });
	console.log(`${tag}: VmRSS ${rss()} KiB`);
}
await new Promise((r) => setTimeout(r, 1500));
mallocStats('0 peers');
const lg = spawn(path.join(here, 'build', 'loadgen'), ['idle', '--port', String(srv.port), '--tls', '1', '--levels', String(N),
	'--hold', '12', '--heartbeat', '5', '--concurrency', '256', '--src', '16', '--ramp-timeout', '150', '--server-pid', String(janusPid)],
{ stdio: ['ignore', 'pipe', 'pipe'] });
readline.createInterface({ input: lg.stderr }).on('line', (l) => {
	if (/level \d+ reached/.test(l)) setTimeout(() => mallocStats(`${N} peers`), 4000);
});
await new Promise((r) => lg.on('exit', r));
await srv.stop();
const log = fs.readFileSync(srv.logFile, 'utf8');
console.log(log.split('\n').filter((l) => /Arena|system bytes|in use bytes|Total|max mmap/.test(l)).join('\n'));
console.log(track ? `heaptrack data: ${out}/ht.zst (heaptrack_print -f it --print-peaks 1)` : '');
