// Per-address limits against the real Janus: with the default config, 1,000 stock-client WebSockets from one
// address (an office or carrier NAT) all get OPEN; an optional per-network cap (per /24 here) stops one network
// from holding more; and new connections per address are still rate limited, so a flood from one address is not.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { PeerSocket } from '../lib/peer-socket.mjs';
import { startJanus } from '../lib/janus.mjs';

const sanitized = /asan/.test(process.env.P2PLINK_JANUS || '');
const rssKiB = (srv) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${srv.child.pid}/status`, 'utf8'))[1]);
const fdCount = (srv) => fs.readdirSync(`/proc/${srv.child.pid}/fd`).length;

async function open(srv, id, opts) {
	const s = await PeerSocket.connect(srv, id, `tok-${id}`, opts);
	const f = await s.next(undefined, 30000);
	return { s, f };
}

describe('1,000 peers behind one address (default config)', () => {
	let srv;
	before(async () => {
		// Janus gets a file descriptor limit well above 1,000 sockets plus its fd reserve, whatever the shell had
		srv = await startJanus({ wrapper: ['prlimit', '--nofile=8192:8192', '--'] });
	});
	after(async () => {
		await srv.stop();
	});

	test('1,000 WebSockets from 127.0.0.1 with the default limits all get OPEN', { timeout: 600000 }, async () => {
		const n = 1000;
		const rss0 = rssKiB(srv), fd0 = fdCount(srv);
		const started = Date.now();
		const sockets = [];
		const outcomes = {};
		let next = 0;
		// 50 handshakes in flight at a time: a NAT full of people, not one client waiting on each other
		await Promise.all(Array.from({ length: 50 }, async () => {
			while (next < n) {
				const i = next++;
				const { s, f } = await open(srv, `nat-${i}`, { localAddress: '127.0.0.1' });
				sockets.push(s);
				const what = f.type === 'OPEN' ? 'OPEN' : `${f.type}:${f.payload?.type}`;
				outcomes[what] = (outcomes[what] || 0) + 1;
			}
		}));
		const took = Date.now() - started;
		const rss1 = rssKiB(srv), fd1 = fdCount(srv);
		console.log(`# ${n} WebSockets from one address: ${took} ms; server RSS +${rss1 - rss0} KiB ` +
			`(${((rss1 - rss0) / n).toFixed(1)} KiB per idle peer), fds +${fd1 - fd0}`);
		assert.deepEqual(outcomes, { OPEN: n });
		// Every one of them is still connected and registered
		const peers = await srv.admin({ request: 'list_peers', limit: 1 });
		assert.equal(peers.total, n, JSON.stringify(peers).slice(0, 300));
		await Promise.all(sockets.map((s) => { s.terminate(); return s.waitClosed(30000); }));
	});
});

describe('limits that still hold', () => {
	test('a per-/24 cap (max_connections_per_network) refuses a third peer from the same /24, not from another', async () => {
		const srv = await startJanus({ transport: { max_connections_per_network: 2, ipv4_network_prefix: 24 } });
		try {
			const a = await open(srv, 'net-a', { localAddress: '127.0.0.2' });
			const b = await open(srv, 'net-b', { localAddress: '127.0.0.3' });
			assert.equal(a.f.type, 'OPEN');
			assert.equal(b.f.type, 'OPEN');
			const c = await open(srv, 'net-c', { localAddress: '127.0.0.4' });
			assert.equal(c.f.type, 'ERROR');
			assert.equal(c.f.payload.type, 'too-many-connections');
			assert.match(c.f.payload.msg, /network/);
			await c.s.waitClosed();
			// 127.0.1.0/24 is another network
			const d = await open(srv, 'net-d', { localAddress: '127.0.1.1' });
			assert.equal(d.f.type, 'OPEN');
			// A freed slot can be taken again
			a.s.close();
			await a.s.waitClosed();
			await new Promise((r) => setTimeout(r, 200));
			const e = await open(srv, 'net-e', { localAddress: '127.0.0.5' });
			assert.equal(e.f.type, 'OPEN');
			for (const x of [b, d, e]) x.s.close();
		} finally {
			await srv.stop();
		}
	});

	test('on a dual-stack listener ::1 is counted as its /64 and IPv4 clients (IPv4-mapped) per address', async () => {
		const srv = await startJanus({ host: '::', transport: { max_connections_per_ip: 2, connection_rate_per_ip: 0 } });
		try {
			const v6 = [await open(srv, 'ds-6a', { localAddress: '::1' }), await open(srv, 'ds-6b', { localAddress: '::1' })];
			assert.deepEqual(v6.map((x) => x.f.type), ['OPEN', 'OPEN']);
			const third = await open(srv, 'ds-6c', { localAddress: '::1' });
			assert.equal(third.f.payload?.type, 'too-many-connections');
			// IPv4 over the same dual-stack socket: its own key (127.0.0.2/32; the certificate names 127.0.0.1, the source is 127.0.0.2), not the IPv6 network ::/64
			const v4 = srv.wsUrl('ds-4a', 'tok-ds-4a').replace('[::1]', '127.0.0.1');
			const s4 = new PeerSocket(v4, { localAddress: '127.0.0.2' });
			await s4.opened;
			assert.equal((await s4.next()).type, 'OPEN');
			s4.close();
			for (const x of v6) x.s.close();
		} finally {
			await srv.stop();
		}
	});

	test('the default rate of new connections per address still stops a flood beyond its burst', { timeout: 300000 }, async () => {
		// Small burst so the test stays short; the default rate (20/s) and the same code path
		const srv = await startJanus({ transport: { connection_burst_per_ip: 30 }, wrapper: ['prlimit', '--nofile=8192:8192', '--'] });
		try {
			const outcomes = [];
			await Promise.all(Array.from({ length: 60 }, async (_, i) => {
				const { s, f } = await open(srv, `flood-${i}`, { localAddress: '127.0.0.6' });
				outcomes.push(f.type === 'OPEN' ? 'open' : f.payload.type);
				s.terminate();
			}));
			const opened = outcomes.filter((o) => o === 'open').length;
			// 30 of burst, plus what refilled at 20/s while the 60 handshakes ran
			assert.ok(opened >= 30 && opened < 60, outcomes.join(','));
			assert.ok(outcomes.includes('too-many-connections'));
			// Another address is not affected
			const other = await open(srv, 'flood-other', { localAddress: '127.0.0.7' });
			assert.equal(other.f.type, 'OPEN');
			other.s.close();
		} finally {
			await srv.stop();
		}
	});
});

if (sanitized) console.log('# under ASan: the numbers above are not representative');
