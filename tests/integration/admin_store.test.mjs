// The admin API's registry requests (stats, list_peers, kick_peer) never wait on the link store. With a store that
// is unreachable, the plugin re-tries opening it at most every 5 s (STORE_RETRY_INTERVAL in plugin.c), and an open
// waits up to mongodb_timeout_ms with the store's mutex held: a request that asked for the store then would wait
// that long. Only link requests may ask for it.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { freePort, startJanus } from '../lib/janus.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TIMEOUT_MS = 4000;
const RETRY_MS = 5000;

let srv, hole;

before(async () => {
	/* A loopback port that refuses connections: nothing listens on it while the test runs */
	const port = await freePort();
	hole = net.createServer();
	await new Promise((r) => hole.listen(port, '127.0.0.1', r));
	await new Promise((r) => hole.close(r));
	srv = await startJanus({ links: { store: 'mongodb', mongodb_uri: `mongodb://127.0.0.1:${port}/`,
		mongodb_database: 'p2plink_it', mongodb_timeout_ms: TIMEOUT_MS } });
});

after(async () => {
	if (srv) await srv.stop();
});

test('stats, list_peers and kick_peer answer at once while the store is being re-tried', async () => {
	/* The first attempt ran at start-up (before the server was ready): a request now would start the next one */
	await sleep(RETRY_MS + 500);
	const timed = async (request) => {
		const t0 = Date.now();
		const reply = await srv.admin(request);
		return { reply, ms: Date.now() - t0 };
	};
	const [stats, list, kick] = await Promise.all([timed({ request: 'stats' }), timed({ request: 'list_peers' }),
		timed({ request: 'kick_peer', id: 'nobody' })]);
	assert.equal(stats.reply.p2plink, 'stats', JSON.stringify(stats.reply));
	assert.equal(list.reply.p2plink, 'peers', JSON.stringify(list.reply));
	assert.equal(kick.reply.error_code, 483, JSON.stringify(kick.reply));
	/* A store open takes TIMEOUT_MS against this port; registry requests take milliseconds */
	for (const r of [stats, list, kick])
		assert.ok(r.ms < TIMEOUT_MS / 2, `answered after ${r.ms} ms`);
	console.log(`# registry requests answered in ${stats.ms}, ${list.ms}, ${kick.ms} ms (a store open: ${TIMEOUT_MS} ms)`);
	/* Link requests still use (and re-try) the store */
	const links = await srv.admin({ request: 'list_links' });
	assert.equal(links.code, 'store-unavailable', JSON.stringify(links));
});
