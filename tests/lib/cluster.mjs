// Cluster mode for tests (docs/cluster.md): a real Debian redis-server on a free loopback port and N real Janus
// nodes (tests/lib/janus.mjs) sharing it, each with its own node id. Used by tests/integration/cluster.test.mjs and
// open to any test or bench that needs several nodes. Not a balancer: callers pick the node each client talks to.
//
//   const redis = await startRedis();    // { port, url, stop(), start(), restart(), kill(), pause(), resume(), command() }
//   const cl = await startCluster({ nodes: 3, redis, cluster: FAST_CLUSTER, plugin: { expire_timeout: 2000 } });
//   cl.nodes[1].wsUrl(id, token)  cl.nodes[1].nodeId === 'node-b'
//   await cl.settled()                                      // every node sees every other one
//   await cl.nodes[2].kill()                                // SIGKILL, waits for the exit
//   await cl.restart(2)                                     // same node id, same ports, same folder
//   await cl.stop()                                         // SIGTERM every node still running; fails if one crashed
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { freePort, startJanus } from './janus.mjs';

const redisBin = process.env.P2PLINK_REDIS_SERVER || '/usr/bin/redis-server';

// The short timings of cluster-spec / docs/cluster.md: a killed node is noticed within
// liveness_ms + heartbeat_ms + 100 ms = 2.1 s, a dead node's ids are free after lease_ms = 3 s
export const FAST_CLUSTER = {
	lease_ms: 3000, renew_ms: 1000, liveness_ms: 1500, heartbeat_ms: 500, call_timeout_ms: 500,
	reconnect_min_ms: 50, reconnect_max_ms: 500,
};

export function detectBoundMs(cluster = FAST_CLUSTER) {
	return cluster.liveness_ms + cluster.heartbeat_ms + 100;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One RESP command on a fresh connection: resolves the first reply line (+PONG, :1, $5 ...), for readiness only
function respPing(port) {
	return new Promise((resolve) => {
		const s = net.connect({ host: '127.0.0.1', port });
		let got = '';
		s.setTimeout(1000, () => { s.destroy(); resolve(null); });
		s.on('connect', () => s.write('*1\r\n$4\r\nPING\r\n'));
		s.on('data', (d) => { got += d; if (got.includes('\r\n')) { s.destroy(); resolve(got.split('\r\n')[0]); } });
		s.on('error', () => resolve(null));
	});
}

// redis-server as tests/unit/test_cluster_redis.c starts it: loopback, no persistence (everything in it is soft state)
export async function startRedis({ port } = {}) {
	port = port || await freePort();
	const redis = {
		port, url: `redis://127.0.0.1:${port}`, child: null, exited: null, log: '',
		async start() {
			const child = spawn(redisBin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
				'--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] });
			this.child = child;
			child.stdout.on('data', (d) => { this.log += d; });
			child.stderr.on('data', (d) => { this.log += d; });
			this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
			const deadline = Date.now() + 10000;
			while (await respPing(port) !== '+PONG') {
				if (child.exitCode !== null || Date.now() > deadline)
					throw new Error(`redis-server did not start on ${port}:\n${this.log}`);
				await sleep(50);
			}
			return this;
		},
		// SIGTERM: Redis closes every client connection and exits (no save: persistence is off)
		async stop() {
			if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
			this.child.kill('SIGTERM');
			await this.exited;
		},
		async kill() {
			if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
			this.child.kill('SIGKILL');
			await this.exited;
		},
		// SIGSTOP / SIGCONT: a hung Redis (connections stay open, nothing is answered)
		pause() { this.child.kill('SIGSTOP'); },
		resume() { this.child.kill('SIGCONT'); },
		// Empty again, on the same port (the nodes reconnect to the URL they were given)
		async restart() {
			await this.stop();
			return this.start();
		},
		// redis-cli against this server: resolves its output without the trailing newline
		command(...args) {
			return new Promise((resolve, reject) => execFile('redis-cli', ['-p', String(port), ...args],
				{ timeout: 5000 }, (err, stdout) => (err ? reject(err) : resolve(stdout.replace(/\n$/, '')))));
		},
	};
	return redis.start();
}

// A node's view of the cluster (admin stats' "cluster" member) once want(view) holds, or the last one seen after
// timeoutMs: { node, up, nodes: [{ node, peers, self }] }
export async function clusterView(server, want, timeoutMs = 5000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const stats = await server.admin({ request: 'stats' });
		if (want(stats.cluster) || Date.now() > deadline) return stats.cluster;
		await sleep(100);
	}
}

const nodeName = (i) => `node-${String.fromCharCode(97 + i)}`;

// N Janus nodes on one Redis. opts.cluster: [cluster] rows added to every node's (redis_url and node_id are set
// here); plugin/transport/links/janus...: as startJanus takes them, the same for every node. Without a MongoDB
// store, links.per_node_links = true (a cluster refuses a shared-nothing SQLite store otherwise).
export async function startCluster({ nodes = 3, redis, cluster = FAST_CLUSTER, links = {}, ...rest } = {}) {
	const nodeLinks = links.store === 'mongodb' ? links : { per_node_links: true, ...links };
	const optsFor = (i) => ({ ...rest, links: nodeLinks,
		cluster: { redis_url: redis.url, ...cluster, node_id: nodeName(i) } });
	const wrap = (srv, i) => Object.assign(srv, {
		nodeId: nodeName(i),
		killed: false,
		async kill() {
			this.killed = true;
			this.child.kill('SIGKILL');
			while (!this.exited) await sleep(10);
		},
	});
	const started = [];
	try {
		for (let i = 0; i < nodes; i++) started.push(wrap(await startJanus(optsFor(i)), i));
	} catch (e) {
		await Promise.allSettled(started.map((n) => n.stop()));
		throw e;
	}
	const result = {
		nodes: started,
		// Resolves once every running node sees all of them alive (their first heartbeats); rejects after timeoutMs
		async settled(timeoutMs = 5000) {
			for (const n of started.filter((x) => !x.exited)) {
				const view = await clusterView(n, (v) => v?.nodes?.length === started.length, timeoutMs);
				if (view?.nodes?.length !== started.length) throw new Error(`${n.nodeId} sees ${JSON.stringify(view)}`);
			}
		},
		// Starts node i again under its node id, on its ports and in its folder (after kill() or stop())
		async restart(i) {
			const old = started[i];
			/* stop() also closes the log; a SIGKILL we sent is no crash */
			await old.stop().catch((e) => { if (!old.killed) throw e; });
			fs.copyFileSync(old.logFile, `${old.logFile}.${Date.now()}`);	/* the next run writes janus.log anew */
			started[i] = wrap(await startJanus({ ...optsFor(i), dir: old.dir, port: old.port, adminPort: old.adminPort }), i);
			return started[i];
		},
		// SIGTERM to every node still running; rejects if a node we did not kill died of a signal
		async stop() {
			const results = await Promise.allSettled(started.map((n) => (n.killed ? n.stop().catch(() => {}) : n.stop())));
			const failed = results.find((r) => r.status === 'rejected');
			if (failed) throw failed.reason;
		},
	};
	return result;
}
