// Share links against the real Janus: admin API (and the p2plink-admin CLI), peer endpoints, TTL, click limits,
// IP whitelists from different loopback source addresses, forged and trusted X-Forwarded-For, link previews,
// gated signaling for link-only peers, 1,000 racing redemptions, events, store outage, SIGKILL durability; owned
// links (issue 10, attacks 2 and 6: a new token on a freed id inherits nothing, an impostor on it receives no
// visitor, creation is rate-limited and the store is pruned), and the non-consuming peek of the landing page.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import https from 'node:https';
import { ADMIN_SECRET, postPeerjs, repoRoot, request, startJanus, testCertificate } from '../lib/janus.mjs';
import { PeerSocket } from '../lib/peer-socket.mjs';
import { tempDir } from '../lib/temp-dir.mjs';

let srv, events = [], eventServer;
const sockets = [];

async function peer(server, id, token = `tok-${id}`) {
	const s = await PeerSocket.connect(server, id, token);
	sockets.push(s);
	assert.deepEqual(await s.next(), { type: 'OPEN' });
	return s;
}


const createLink = (server, id, rules) => postPeerjs(server, 'links/create', { id, token: `tok-${id}`, ...rules });
const redeem = (server, id, linkToken, opts) => postPeerjs(server, 'links/redeem', { id, token: `tok-${id}`, link_token: linkToken }, opts);
const peek = (server, linkToken, opts) => postPeerjs(server, 'links/peek', { link_token: linkToken }, opts);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ownerOf = (token) => crypto.createHash('sha256').update(token).digest('hex');

// Connects `id` with `token` as soon as the id is free (its previous holder's socket is gone and, with an id
// grace period, its reservation has lapsed): retries on ID-TAKEN
async function claim(server, id, token, timeoutMs = 15000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const s = await PeerSocket.connect(server, id, token);
		const first = await s.next();
		if (first.type === 'OPEN') { sockets.push(s); return s; }
		s.terminate();
		assert.equal(first.type, 'ID-TAKEN', JSON.stringify(first));
		if (Date.now() > deadline) throw new Error(`${id} never became free`);
		await sleep(100);
	}
}

before(async () => {
	eventServer = http.createServer((req, res) => {
		let body = '';
		req.on('data', (c) => { body += c; });
		req.on('end', () => {
			try { const e = JSON.parse(body); events.push(...(Array.isArray(e) ? e : [e])); } catch { /* not JSON */ }
			res.end();
		});
	});
	await new Promise((r) => eventServer.listen(0, '127.0.0.1', r));
	srv = await startJanus({ host: '::', transport: { allow_discovery: true },
		links: { max_links_per_peer: 3, peer_max_ttl: '1h', redeem_attempts_per_minute: 1000000 },
		eventsBackend: `http://127.0.0.1:${eventServer.address().port}/events` });
});

after(async () => {
	for (const s of sockets) s.terminate();
	await srv.stop();
	eventServer.close();
	assert.doesNotMatch(srv.log(), /AddressSanitizer|runtime error|Segmentation/);
});

describe('admin API', () => {
	test('create, get, list, revoke and delete a link; the token is shown once and never listed', async () => {
		const created = await srv.admin({ request: 'create_link', target: 'adm-target', ttl: '2h', max_clicks: 10, purpose: 'file' });
		assert.equal(created.p2plink, 'link');
		assert.match(created.token, /^[A-Za-z0-9_-]{43}$/);
		assert.equal(created.link.creator, '@admin');
		assert.equal(created.link.max_clicks, 10);
		assert.ok(Math.abs(created.link.expires_at - (Date.now() + 2 * 3600 * 1000)) < 5000);
		const id = created.link.id;
		const got = await srv.admin({ request: 'get_link', link_id: id });
		assert.equal(got.link.id, id);
		assert.equal(JSON.stringify(got).includes(created.token), false);
		const list = await srv.admin({ request: 'list_links', target: 'adm-target' });
		assert.deepEqual(list.links.map((l) => l.id), [id]);
		assert.equal(JSON.stringify(list).includes('token_hash'), false);
		assert.deepEqual(await srv.admin({ request: 'revoke_link', link_id: id }), { p2plink: 'revoked', link_id: id });
		assert.equal((await srv.admin({ request: 'list_links', target: 'adm-target' })).links.length, 0);
		assert.equal((await srv.admin({ request: 'list_links', target: 'adm-target', include_revoked: true })).links[0].status, 'revoked');
		assert.deepEqual(await srv.admin({ request: 'delete_link', link_id: id }), { p2plink: 'deleted', link_id: id });
		assert.equal((await srv.admin({ request: 'get_link', link_id: id })).error_code, 491);
	});

	test('bad admin input gets a code and a sentence', async () => {
		const badTtl = await srv.admin({ request: 'create_link', target: 'x', ttl: '5 min' });
		assert.equal(badTtl.code, 'bad-ttl');
		const badCidr = await srv.admin({ request: 'create_link', target: 'x', ttl: '1h', whitelist: ['10.1.2.3/8'] });
		assert.equal(badCidr.code, 'bad-cidr');
		assert.match(badCidr.error, /10\.0\.0\.0\/8/);
		assert.equal((await srv.admin({ request: 'get_link' })).code, 'bad-request');
	});

	test('a wrong admin secret is refused by Janus', async () => {
		const denied = await srv.admin({ request: 'list_links' }, 'not-the-secret');
		assert.equal(denied.janus, 'error');
		assert.equal(denied.error.code, 403);
	});

	test('p2plink-admin wraps the requests for operators', async () => {
		const run = promisify(execFile);
		const cli = path.join(repoRoot, 'tools', 'p2plink-admin');
		const env = { ...process.env, P2PLINK_ADMIN_SECRET: ADMIN_SECRET, P2PLINK_ADMIN_URL: `http://127.0.0.1:${srv.adminPort}/admin` };
		const { stdout } = await run(cli, ['create', '--target', 'cli-target', '--ttl', '10min', '--max-clicks', '2'], { env });
		const created = JSON.parse(stdout);
		assert.equal(created.link.target, 'cli-target');
		const list = JSON.parse((await run(cli, ['list', '--target', 'cli-target'], { env })).stdout);
		assert.equal(list.links[0].id, created.link.id);
		const owner = ownerOf('tok-cli-person');
		const owned = JSON.parse((await run(cli, ['create', '--target', 'cli-target', '--ttl', '10min', '--owner', owner], { env })).stdout);
		assert.equal(owned.link.owner, owner);
		const byOwner = JSON.parse((await run(cli, ['list', '--owner', owner], { env })).stdout);
		assert.deepEqual(byOwner.links.map((l) => l.id), [owned.link.id]);
		await assert.rejects(run(cli, ['list'], { env: { ...env, P2PLINK_ADMIN_SECRET: 'wrong' } }), (e) => e.code === 1);
	});
});

describe('peer endpoints', () => {
	test('a connected peer creates, lists and revokes links to itself only', async () => {
		await peer(srv, 'pe-alice');
		const r = await createLink(srv, 'pe-alice', { ttl: '5min', max_clicks: 1, target: 'someone-else' });
		assert.equal(r.status, 200);
		assert.equal(r.json.link.target, 'pe-alice');
		assert.match(r.json.url, /^https:\/\/\[::1\]:\d+\/l\/[A-Za-z0-9_-]{43}$/);
		const list = await postPeerjs(srv, 'links/list', { id: 'pe-alice', token: 'tok-pe-alice' });
		assert.deepEqual(list.json.links.map((l) => l.id), [r.json.link.id]);
		const revoke = await postPeerjs(srv, 'links/revoke', { id: 'pe-alice', token: 'tok-pe-alice', link_id: r.json.link.id });
		assert.deepEqual(revoke.json, { ok: true });
		const again = await redeem(srv, 'pe-alice', r.json.token);
		assert.equal(again.json.code, 'revoked');
	});

	test('requests need the id and token of a connected peer', async () => {
		await peer(srv, 'pe-auth');
		assert.equal((await postPeerjs(srv, 'links/list', { id: 'pe-auth', token: 'wrong' })).status, 401);
		assert.equal((await postPeerjs(srv, 'links/list', { id: 'nobody', token: 'x' })).status, 401);
		assert.equal((await postPeerjs(srv, 'links/list', '[1,2]')).status, 400);
		assert.equal((await postPeerjs(srv, 'links/nope', {})).status, 404);
	});

	test('operator limits: max TTL and links per peer', async () => {
		await peer(srv, 'pe-limits');
		assert.equal((await createLink(srv, 'pe-limits', { ttl: '2h' })).json.error.code, 'ttl-too-long');
		assert.equal((await createLink(srv, 'pe-limits', { ttl: '5 min' })).json.error.code, 'bad-ttl');
		for (let i = 0; i < 3; i++) assert.equal((await createLink(srv, 'pe-limits', { ttl: '1min' })).status, 200);
		const fourth = await createLink(srv, 'pe-limits', { ttl: '1min' });
		assert.equal(fourth.status, 429);
		assert.equal(fourth.json.error.code, 'limit');
	});
});

describe('redemption rules', () => {
	test('a link with max_clicks = 2 is redeemed twice, then "exhausted" in plain words', async () => {
		await peer(srv, 'rr-owner');
		const link = (await createLink(srv, 'rr-owner', { ttl: '10min', max_clicks: 2 })).json;
		for (const v of ['rr-v1', 'rr-v2', 'rr-v3']) await peer(srv, v);
		assert.deepEqual((await redeem(srv, 'rr-v1', link.token)).json, { ok: true, target: 'rr-owner', purpose: 'call' });
		assert.equal((await redeem(srv, 'rr-v2', link.token)).json.ok, true);
		const third = (await redeem(srv, 'rr-v3', link.token)).json;
		assert.deepEqual(third, { ok: false, code: 'exhausted', msg: third.msg });
		assert.doesNotMatch(third.msg, /rr-owner|2/);
	});

	test('a link expires after its TTL', async () => {
		await peer(srv, 'ttl-owner');
		await peer(srv, 'ttl-visitor');
		const link = (await createLink(srv, 'ttl-owner', { ttl: '1s' })).json;
		await sleep(1100);
		assert.equal((await redeem(srv, 'ttl-visitor', link.token)).json.code, 'expired');
	});

	test('an unknown token is "unknown" and is logged too', async () => {
		await peer(srv, 'unk-visitor');
		const before = (await srv.admin({ request: 'link_stats' })).clicks.unknown;
		assert.equal((await redeem(srv, 'unk-visitor', 'A'.repeat(43))).json.code, 'unknown');
		assert.equal((await srv.admin({ request: 'link_stats' })).clicks.unknown, before + 1);
	});

	test('the IP whitelist is checked against the source address: 127.0.0.2 and ::1 allowed, 127.0.0.3 denied', async () => {
		await peer(srv, 'wl-owner');
		await peer(srv, 'wl-visitor');
		const link = (await createLink(srv, 'wl-owner', { ttl: '10min', whitelist: ['127.0.0.2', '::1/128'] })).json;
		const denied = await redeem(srv, 'wl-visitor', link.token, { localAddress: '127.0.0.3' });
		assert.deepEqual(denied.json, { ok: false, code: 'ip-denied', msg: 'This link cannot be used from your network.' });
		assert.equal((await redeem(srv, 'wl-visitor', link.token, { localAddress: '127.0.0.2' })).json.ok, true);
		assert.equal((await redeem(srv, 'wl-visitor', link.token, { localAddress: '::1' })).json.ok, true);
		const clicks = await srv.admin({ request: 'list_clicks', link_id: link.link.id });
		assert.deepEqual(clicks.clicks.map((c) => [c.ip, c.outcome]).sort(),
			[['127.0.0.2', 'ok'], ['127.0.0.3', 'ip-denied'], ['::1', 'ok']].sort());
	});

	test('a forged X-Forwarded-For is ignored without trusted proxies', async () => {
		await peer(srv, 'xff-owner');
		await peer(srv, 'xff-visitor');
		const link = (await createLink(srv, 'xff-owner', { ttl: '10min', whitelist: ['127.0.0.2'] })).json;
		const r = await redeem(srv, 'xff-visitor', link.token, { localAddress: '127.0.0.3', headers: { 'x-forwarded-for': '127.0.0.2' } });
		assert.equal(r.json.code, 'ip-denied');
	});

	test('opening the link URL (a chat app preview) consumes no click', async () => {
		await peer(srv, 'pv-owner');
		const link = (await createLink(srv, 'pv-owner', { ttl: '10min', max_clicks: 1 })).json;
		for (let i = 0; i < 3; i++) {
			const page = await request(link.url.replace(/^https:\/\/\[::1\]:\d+/, srv.baseUrl), { headers: { 'user-agent': 'Slackbot-LinkExpanding 1.0' } });
			assert.equal(page.status, 200);
			assert.match(page.headers['content-type'], /text\/html/);
		}
		const got = await srv.admin({ request: 'get_link', link_id: link.link.id });
		assert.equal(got.link.clicks, 0);
		assert.equal((await srv.admin({ request: 'list_clicks', link_id: link.link.id })).total, 0);
	});

	test('1,000 racing redemptions of a max_clicks = 10 link: exactly 10 granted, 1,000 logged', async () => {
		await peer(srv, 'race-owner');
		const visitors = [];
		for (let i = 0; i < 20; i++) { await peer(srv, `race-v${i}`); visitors.push(`race-v${i}`); }
		const link = (await createLink(srv, 'race-owner', { ttl: '10min', max_clicks: 10 })).json;
		/* All 1,000 are in flight at once, over 200 keep-alive connections (1,000 fresh TLS handshakes would measure
		 * handshakes, and crawl under ASan) */
		const agent = new https.Agent({ keepAlive: true, maxSockets: 200, ca: fs.readFileSync(testCertificate().cert) });
		const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => redeem(srv, visitors[i % 20], link.token, { agent })));
		agent.destroy();
		const outcomes = results.map((r) => r.json.ok ? 'ok' : r.json.code);
		assert.equal(outcomes.filter((o) => o === 'ok').length, 10);
		assert.equal(outcomes.filter((o) => o === 'exhausted').length, 990);
		const clicks = await srv.admin({ request: 'list_clicks', link_id: link.link.id, limit: 1 });
		assert.equal(clicks.total, 1000);
		assert.equal((await srv.admin({ request: 'get_link', link_id: link.link.id })).link.clicks, 10);
	});
});

describe('gated signaling', () => {
	test('a link-only peer receives OFFERs only from peers holding a grant, and is hidden from discovery', async () => {
		const owner = await peer(srv, 'gate-owner');
		const stranger = await peer(srv, 'gate-stranger');
		const guest = await peer(srv, 'gate-guest');
		assert.deepEqual((await postPeerjs(srv, 'linkonly', { id: 'gate-owner', token: 'tok-gate-owner', enabled: true })).json, { ok: true, link_only: true });
		const ids = JSON.parse((await request(`${srv.baseUrl}/peerjs/peers`)).body);
		assert.ok(ids.includes('gate-stranger'));
		assert.equal(ids.includes('gate-owner'), false);

		stranger.send({ type: 'OFFER', dst: 'gate-owner', payload: { sdp: 'x' } });
		// Never ERROR after OPEN (the stock client would abort): EXPIRE for the target, then the extension frame
		assert.deepEqual(await stranger.next(), { type: 'EXPIRE', src: 'gate-owner', dst: 'gate-stranger' });
		const refused = await stranger.next('P2PLINK-REFUSED');
		assert.equal(refused.payload.code, 'link-required');
		assert.ok(await owner.silentFor(300, 'OFFER'), 'the link-only peer heard from a stranger');

		const link = (await createLink(srv, 'gate-owner', { ttl: '10min', max_clicks: 1 })).json;
		assert.equal((await redeem(srv, 'gate-guest', link.token)).json.ok, true);
		guest.send({ type: 'OFFER', dst: 'gate-owner', payload: { sdp: 'y' } });
		assert.equal((await owner.next('OFFER')).src, 'gate-guest');
		owner.send({ type: 'ANSWER', dst: 'gate-guest', payload: { sdp: 'z' } });
		assert.equal((await guest.next('ANSWER')).src, 'gate-owner');
		// The owner may still call anyone itself, and they may answer
		owner.send({ type: 'OFFER', dst: 'gate-stranger', payload: {} });
		await stranger.next('OFFER');
		stranger.send({ type: 'ANSWER', dst: 'gate-owner', payload: {} });
		assert.equal((await owner.next('ANSWER')).src, 'gate-stranger');
	});
});

describe('events', () => {
	test('link created, redeemed, denied and revoked reach Janus event handlers, without tokens', async () => {
		await peer(srv, 'ev-owner');
		await peer(srv, 'ev-visitor');
		const link = (await createLink(srv, 'ev-owner', { ttl: '10min', max_clicks: 1 })).json;
		await redeem(srv, 'ev-visitor', link.token);
		await redeem(srv, 'ev-visitor', link.token);
		await postPeerjs(srv, 'links/revoke', { id: 'ev-owner', token: 'tok-ev-owner', link_id: link.link.id });
		const deadline = Date.now() + 5000;
		const mine = () => events.filter((e) => e.event?.plugin === 'janus.plugin.p2plink' && e.event?.data?.link_id === link.link.id)
			.map((e) => e.event.data.event);
		while (mine().length < 4 && Date.now() < deadline) await sleep(100);
		assert.deepEqual(mine(), ['link-created', 'link-redeemed', 'link-denied', 'link-revoked']);
		assert.equal(JSON.stringify(events).includes(link.token), false);
	});
});


describe('owned links (issue 10)', () => {
	let own;
	before(async () => {
		/* A short id grace (where the server has one) so that a freed id can be claimed within the test */
		own = await startJanus({ plugin: { id_grace: 300 }, links: { redeem_attempts_per_minute: 1000000 } });
	});
	after(async () => { await own.stop(); });

	test('attack 2: a new token on a freed id sees none of the old owner\'s links and cannot revoke them', async () => {
		const first = await claim(own, 'ow-alice', 'tok-ow-alice-1');
		const made = await postPeerjs(own, 'links/create', { id: 'ow-alice', token: 'tok-ow-alice-1', ttl: '10min' });
		assert.equal(made.status, 200);
		first.terminate();
		await claim(own, 'ow-alice', 'tok-ow-alice-2');
		const listed = await postPeerjs(own, 'links/list', { id: 'ow-alice', token: 'tok-ow-alice-2' });
		assert.equal(listed.status, 200);
		assert.deepEqual(listed.json.links, []);
		const revoked = await postPeerjs(own, 'links/revoke', { id: 'ow-alice', token: 'tok-ow-alice-2', link_id: made.json.link.id });
		assert.equal(revoked.status, 404);
		assert.equal(revoked.json.error.code, 'not-found');
		const kept = (await own.admin({ request: 'get_link', link_id: made.json.link.id })).link;
		assert.equal(kept.status, 'active');
		assert.equal(kept.owner, ownerOf('tok-ow-alice-1'), 'still owned by the token that made it');
		/* Its own links are its own */
		const mine = await postPeerjs(own, 'links/create', { id: 'ow-alice', token: 'tok-ow-alice-2', ttl: '10min' });
		const again = await postPeerjs(own, 'links/list', { id: 'ow-alice', token: 'tok-ow-alice-2' });
		assert.deepEqual(again.json.links.map((l) => l.id), [mine.json.link.id]);
	});

	test('attack 6: a visitor of the old owner\'s link while an impostor holds the id is told not-online, nothing reaches the impostor, no click is used', async () => {
		const victim = await claim(own, 'ow-bob', 'tok-ow-bob');
		const link = (await postPeerjs(own, 'links/create', { id: 'ow-bob', token: 'tok-ow-bob', ttl: '10min', max_clicks: 1 })).json;
		victim.terminate();
		const impostor = await claim(own, 'ow-bob', 'tok-impostor');
		/* The impostor even looks like the victim: link-only, so only a grant would let a visitor through */
		assert.equal((await postPeerjs(own, 'linkonly', { id: 'ow-bob', token: 'tok-impostor', enabled: true })).json.ok, true);
		const visitor = await claim(own, 'ow-visitor', 'tok-ow-visitor');
		const r = await postPeerjs(own, 'links/redeem', { id: 'ow-visitor', token: 'tok-ow-visitor', link_token: link.token });
		assert.deepEqual(r.json, { ok: false, code: 'not-online', msg: r.json.msg });
		assert.match(r.json.msg, /not online/);
		visitor.send({ type: 'OFFER', dst: 'ow-bob', payload: { sdp: 'visitor' } });
		assert.ok(await impostor.silentFor(500, 'OFFER'), 'the impostor received the visitor\'s OFFER');
		assert.equal((await own.admin({ request: 'get_link', link_id: link.link.id })).link.clicks, 0);
		/* The owner comes back: the same link, its one click still there, reaches the owner */
		impostor.terminate();
		const back = await claim(own, 'ow-bob', 'tok-ow-bob');
		assert.equal((await postPeerjs(own, 'links/redeem', { id: 'ow-visitor', token: 'tok-ow-visitor', link_token: link.token })).json.ok, true);
		visitor.send({ type: 'OFFER', dst: 'ow-bob', payload: { sdp: 'visitor-2' } });
		assert.equal((await back.next('OFFER')).src, 'ow-visitor');
	});

	test('a redemption while nobody holds the target is not-online and uses no click', async () => {
		const owner = await claim(own, 'ow-away', 'tok-ow-away');
		const link = (await postPeerjs(own, 'links/create', { id: 'ow-away', token: 'tok-ow-away', ttl: '10min', max_clicks: 1 })).json;
		owner.terminate();
		await claim(own, 'ow-away-visitor', 'tok-ow-away-visitor');
		await sleep(600);	/* past the grace period (where there is one): nobody holds the id */
		const r = await postPeerjs(own, 'links/redeem', { id: 'ow-away-visitor', token: 'tok-ow-away-visitor', link_token: link.token });
		assert.equal(r.json.code, 'not-online');
		assert.equal((await own.admin({ request: 'get_link', link_id: link.link.id })).link.clicks, 0);
	});

	test('peek of a link whose person is not online is a good link with online false; unlimited links have clicks_left null', async () => {
		/* On the server with a short id grace: during a grace period the id is still its owner's (online) */
		const owner = await claim(own, 'pk-away', 'tok-pk-away');
		const link = (await postPeerjs(own, 'links/create', { id: 'pk-away', token: 'tok-pk-away', ttl: '10min' })).json;
		owner.terminate();
		let p;
		const deadline = Date.now() + 5000;
		do { await sleep(100); p = (await peek(own, link.token)).json; } while (p.online && Date.now() < deadline);
		assert.deepEqual(p, { ok: true, target: 'pk-away', purpose: 'call', expires_at: link.link.expires_at, clicks_left: null, online: false });
	});

	test('admin links: bound to the target\'s holder at creation, or to the owner named, or claimed by the first holder', async () => {
		/* Online target: bound to whoever holds it now */
		const held = await claim(own, 'ow-adm-1', 'tok-ow-adm-1');
		const bound = await own.admin({ request: 'create_link', target: 'ow-adm-1', ttl: '10min' });
		assert.equal(bound.link.owner, ownerOf('tok-ow-adm-1'));
		held.terminate();
		await claim(own, 'ow-adm-1', 'tok-someone-else');
		await claim(own, 'ow-adm-v', 'tok-ow-adm-v');
		const v = (t) => postPeerjs(own, 'links/redeem', { id: 'ow-adm-v', token: 'tok-ow-adm-v', link_token: t });
		assert.equal((await v(bound.token)).json.code, 'not-online');
		/* Named owner: nobody else can use it, even while holding the id */
		const named = await own.admin({ request: 'create_link', target: 'ow-adm-1', ttl: '10min', owner: ownerOf('tok-ow-adm-named') });
		assert.equal(named.link.owner, ownerOf('tok-ow-adm-named'));
		assert.equal((await v(named.token)).json.code, 'not-online');
		assert.equal((await own.admin({ request: 'create_link', target: 'x', ttl: '1h', owner: 'ABC' })).code, 'bad-request');
		/* Offline target: unclaimed until the first redemption, then the holder at that moment owns it */
		const open = await own.admin({ request: 'create_link', target: 'ow-adm-2', ttl: '10min' });
		assert.equal(open.link.owner, null);
		const first = await claim(own, 'ow-adm-2', 'tok-ow-adm-2');
		assert.equal((await v(open.token)).json.ok, true);
		assert.equal((await own.admin({ request: 'get_link', link_id: open.link.id })).link.owner, ownerOf('tok-ow-adm-2'));
		first.terminate();
		await claim(own, 'ow-adm-2', 'tok-ow-adm-2-other');
		assert.equal((await v(open.token)).json.code, 'not-online');
	});
});

describe('peek (the landing page)', () => {
	test('peek does not consume a 1-click link and needs no id or token', async () => {
		await peer(srv, 'pk-owner');
		const link = (await createLink(srv, 'pk-owner', { ttl: '10min', max_clicks: 1, purpose: 'file', whitelist: ['::1/128', '127.0.0.0/8'] })).json;
		for (let i = 0; i < 3; i++) {
			const p = await peek(srv, link.token);
			assert.equal(p.status, 200);
			/* Exactly what the landing page shows: no whitelist, no creator, no owner, no click count */
			assert.deepEqual(Object.keys(p.json).sort(), ['clicks_left', 'expires_at', 'ok', 'online', 'purpose', 'target']);
			assert.deepEqual(p.json, { ok: true, target: 'pk-owner', purpose: 'file', expires_at: link.link.expires_at, clicks_left: 1, online: true });
		}
		assert.equal((await srv.admin({ request: 'get_link', link_id: link.link.id })).link.clicks, 0);
		await peer(srv, 'pk-visitor');
		assert.equal((await redeem(srv, 'pk-visitor', link.token)).json.ok, true);
		assert.equal((await peek(srv, link.token)).json.code, 'exhausted');
		const clicks = await srv.admin({ request: 'list_clicks', link_id: link.link.id });
		assert.deepEqual(clicks.clicks.map((c) => c.outcome), ['preview', 'ok', 'preview', 'preview', 'preview']);
	});

	test('peek of an expired, revoked or unknown link answers its code', async () => {
		await peer(srv, 'pk-codes');
		const expired = (await createLink(srv, 'pk-codes', { ttl: '1s' })).json;
		const revoked = (await createLink(srv, 'pk-codes', { ttl: '10min' })).json;
		await postPeerjs(srv, 'links/revoke', { id: 'pk-codes', token: 'tok-pk-codes', link_id: revoked.link.id });
		await sleep(1100);
		for (const [token, code] of [[expired.token, 'expired'], [revoked.token, 'revoked'], ['B'.repeat(43), 'unknown']]) {
			const p = await peek(srv, token);
			assert.equal(p.status, 200);
			assert.deepEqual(p.json, { ok: false, code, msg: p.json.msg });
		}
		assert.equal((await peek(srv, undefined)).json.code, 'unknown');
		assert.equal((await postPeerjs(srv, 'links/peek', '[1]')).status, 400);
	});
});

describe('bounded stores (issue 10, attack 6)', () => {
	test('one peer creating and revoking links in a loop is refused beyond the creation rate, per peer and per address', async () => {
		const perPeer = 10, perIp = 15;
		const other = await startJanus({ host: '::', links: { create_per_minute_per_peer: perPeer, create_per_minute_per_ip: perIp } });
		/* Token buckets: the burst, plus what refills while the loop runs (1 per 6 s per peer; slow under ASan) */
		const allowance = (perMinute, ms) => perMinute + Math.floor(perMinute * ms / 60000);
		const createAndRevoke = async (id, n, opts) => {
			let made = 0;
			for (let i = 0; i < n; i++) {
				const r = await postPeerjs(other, 'links/create', { id, token: `tok-${id}`, ttl: '1min' }, opts);
				if (r.status === 200) {
					made++;
					await postPeerjs(other, 'links/revoke', { id, token: `tok-${id}`, link_id: r.json.link.id }, opts);
				} else {
					assert.equal(r.status, 429);
					assert.equal(r.json.error.code, 'too-many-links');
				}
			}
			return made;
		};
		try {
			await peer(other, 'bs-a');
			const dataDir = path.join(other.dir, 'data');
			/* The database and its WAL (which SQLite's auto-checkpoint keeps at about 4 MB at most) */
			const storeBytes = () => ['p2plink.db', 'p2plink.db-wal'].map((f) => {
				try { return fs.statSync(path.join(dataDir, f)).size; } catch { return 0; }
			}).join(' + ');
			const sizeBefore = storeBytes();
			const started = Date.now();
			const madeA = await createAndRevoke('bs-a', 300);
			const msA = Date.now() - started;
			assert.ok(madeA >= perPeer && madeA <= allowance(perPeer, msA), `${madeA} links made in ${msA} ms`);
			/* New tokens cost nothing, addresses do: a second peer from the same address gets what the address has left */
			await peer(other, 'bs-b');
			const madeB = await createAndRevoke('bs-b', 30);
			const ms = Date.now() - started;
			assert.ok(madeA + madeB >= perIp && madeA + madeB <= allowance(perIp, ms), `${madeA} + ${madeB} from one address in ${ms} ms`);
			/* Another address has its own bucket */
			await peer(other, 'bs-c');
			assert.equal((await postPeerjs(other, 'links/create', { id: 'bs-c', token: 'tok-bs-c', ttl: '1min' }, { localAddress: '127.0.0.9' })).status, 200);
			assert.equal((await other.admin({ request: 'link_stats' })).links_total, madeA + madeB + 1);
			console.log(`# 330 create+revoke attempts from one address in ${ms} ms: ${madeA} + ${madeB} made; store (db + WAL bytes) ` +
				`${sizeBefore} -> ${storeBytes()} bytes`);
		} finally {
			await other.stop();
		}
	});

	test('click_ip_privacy: the click log keeps the visitor\'s /24, the whitelist still sees the address', async () => {
		const other = await startJanus({ links: { click_ip_privacy: true } });
		try {
			await peer(other, 'pm-owner');
			await peer(other, 'pm-visitor');
			const link = (await postPeerjs(other, 'links/create', { id: 'pm-owner', token: 'tok-pm-owner', ttl: '10min', whitelist: ['127.0.0.2'] })).json;
			const v = (addr) => postPeerjs(other, 'links/redeem', { id: 'pm-visitor', token: 'tok-pm-visitor', link_token: link.token }, { localAddress: addr });
			assert.equal((await v('127.0.0.2')).json.ok, true);
			assert.equal((await v('127.0.0.3')).json.code, 'ip-denied');
			const clicks = await other.admin({ request: 'list_clicks', link_id: link.link.id });
			assert.deepEqual(clicks.clicks.map((c) => [c.ip, c.outcome]), [['127.0.0.0', 'ip-denied'], ['127.0.0.0', 'ok']]);
		} finally {
			await other.stop();
		}
	});

	test('the link worker prunes links past their retention with their clicks, and old click rows', async () => {
		const other = await startJanus({ links: { link_retention: '1s', click_retention: '2s', prune_interval: '1s',
			peer_max_ttl: '1h' } });
		try {
			await peer(other, 'pr-owner');
			await peer(other, 'pr-visitor');
			const short = (await postPeerjs(other, 'links/create', { id: 'pr-owner', token: 'tok-pr-owner', ttl: '1s' })).json;
			const revoked = (await postPeerjs(other, 'links/create', { id: 'pr-owner', token: 'tok-pr-owner', ttl: '1h' })).json;
			const kept = (await postPeerjs(other, 'links/create', { id: 'pr-owner', token: 'tok-pr-owner', ttl: '1h' })).json;
			for (const l of [short, revoked, kept]) {
				assert.equal((await postPeerjs(other, 'links/redeem', { id: 'pr-visitor', token: 'tok-pr-visitor', link_token: l.token })).json.ok, true);
			}
			await postPeerjs(other, 'links/revoke', { id: 'pr-owner', token: 'tok-pr-owner', link_id: revoked.link.id });
			const gone = async (id) => (await other.admin({ request: 'get_link', link_id: id })).error_code === 491;
			const deadline = Date.now() + 10000;
			while (!(await gone(short.link.id) && await gone(revoked.link.id)) && Date.now() < deadline) await sleep(250);
			assert.ok(await gone(short.link.id), 'the expired link was not pruned');
			assert.ok(await gone(revoked.link.id), 'the revoked link was not pruned');
			assert.equal((await other.admin({ request: 'list_clicks', link_id: short.link.id })).total, 0);
			assert.equal((await other.admin({ request: 'get_link', link_id: kept.link.id })).link.status, 'active');
			/* The kept link's click is older than click_retention after a few seconds: the click log empties */
			const clicksLogged = async () => Object.values((await other.admin({ request: 'link_stats' })).clicks).reduce((a, n) => a + n, 0);
			while (await clicksLogged() > 0 && Date.now() < deadline + 5000) await sleep(250);
			assert.equal(await clicksLogged(), 0);
			assert.equal((await other.admin({ request: 'list_clicks', link_id: kept.link.id })).total, 0);
			assert.equal((await other.admin({ request: 'link_stats' })).links_total, 1);
		} finally {
			await other.stop();
		}
	});
});

describe('faults (own servers)', () => {
	test('token guessing: redemption attempts per client IP are limited per minute', async () => {
		const other = await startJanus({ links: { redeem_attempts_per_minute: 5 } });
		try {
			await peer(other, 'tg-guesser');
			const answers = [];
			for (let i = 0; i < 7; i++) answers.push(await redeem(other, 'tg-guesser', `guess${i}`.padEnd(43, 'x')));
			assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200, 429, 429]);
			assert.equal(answers[6].json.error.code, 'too-many-attempts');
			// A peek is an attempt too: same limiter, no way around it
			const peeked = await peek(other, 'z'.repeat(43));
			assert.equal(peeked.status, 429);
			assert.equal(peeked.json.error.code, 'too-many-attempts');
			// Another address is not affected
			assert.equal((await redeem(other, 'tg-guesser', 'y'.repeat(43), { localAddress: '127.0.0.9' })).status, 200);
		} finally {
			await other.stop();
		}
	});

	test('trusted proxies: X-Forwarded-For counts only from a configured proxy address', async () => {
		const other = await startJanus({ host: '::', transport: { trusted_proxies: '127.0.0.5' } });
		try {
			await peer(other, 'tp-owner');
			await peer(other, 'tp-visitor');
			const link = (await createLink(other, 'tp-owner', { ttl: '10min', whitelist: ['198.51.100.7'] })).json;
			const viaProxy = await redeem(other, 'tp-visitor', link.token, { localAddress: '127.0.0.5', headers: { 'x-forwarded-for': '203.0.113.1, 198.51.100.7' } });
			assert.equal(viaProxy.json.ok, true);
			const direct = await redeem(other, 'tp-visitor', link.token, { localAddress: '127.0.0.6', headers: { 'x-forwarded-for': '198.51.100.7' } });
			assert.equal(direct.json.code, 'ip-denied');
		} finally {
			await other.stop();
		}
	});

	test('store unavailable: link operations fail clearly, signaling goes on, and it recovers', async () => {
		const base = tempDir('p2plink-blocked-');
		const blocker = path.join(base, 'blocker');
		fs.writeFileSync(blocker, 'a file where the store folder should be');
		const other = await startJanus({ links: { store_folder: path.join(blocker, 'data') } });
		try {
			const a = await peer(other, 'so-a');
			const b = await peer(other, 'so-b');
			const r = await createLink(other, 'so-a', { ttl: '1min' });
			assert.equal(r.status, 503);
			assert.equal(r.json.error.code, 'store-unavailable');
			a.send({ type: 'OFFER', dst: 'so-b', payload: 1 });
			assert.equal((await b.next('OFFER')).src, 'so-a');
			fs.rmSync(blocker);
			fs.mkdirSync(blocker);
			const deadline = Date.now() + 8000;
			let status;
			do {
				await sleep(250);
				status = (await createLink(other, 'so-a', { ttl: '1min' })).status;
			} while (status !== 200 && Date.now() < deadline);
			assert.equal(status, 200, 'link store did not come back');
		} finally {
			await other.stop();
		}
	});

	test('SQLite files read-only: writes fail clearly and are logged, reads and signaling go on, and it recovers', async (t) => {
		/* Root ignores file modes, so the files are made immutable (chattr +i, ext4/xfs); elsewhere this skips */
		const other = await startJanus({});
		let files = [];
		const chattr = (flag) => promisify(execFile)('chattr', [flag, ...files]);
		try {
			const a = await peer(other, 'ro-a');
			const b = await peer(other, 'ro-b');
			const first = await createLink(other, 'ro-a', { ttl: '10min' });
			assert.equal(first.status, 200);
			const dataDir = path.join(other.dir, 'data');
			files = fs.readdirSync(dataDir).filter((f) => f.startsWith('p2plink.db')).map((f) => path.join(dataDir, f));
			try { await chattr('+i'); } catch (e) { files = []; t.skip(`chattr +i not possible here: ${e.message.split('\n')[0]}`); return; }
			const created = await createLink(other, 'ro-a', { ttl: '10min' });
			assert.equal(created.status, 503);
			assert.equal(created.json.error.code, 'store-unavailable');
			const redeemed = await redeem(other, 'ro-b', first.json.token);
			assert.equal(redeemed.status, 503, 'a redemption needs a write: refused, never granted without its click');
			const listed = await postPeerjs(other, 'links/list', { id: 'ro-a', token: 'tok-ro-a' });
			assert.equal(listed.status, 200, 'reads still work');
			assert.equal(listed.json.links.length, 1);
			a.send({ type: 'OFFER', dst: 'ro-b', payload: 1 });
			assert.equal((await b.next('OFFER')).src, 'ro-a');
			const logged = other.log().split('\n').filter((l) => l.includes('Link store failure'));
			assert.equal(logged.length, 1, 'one log line for the burst, not one per request');
			assert.ok(!other.log().includes(first.json.token), 'no token in the log');
			await chattr('-i');
			files = [];
			const again = await createLink(other, 'ro-a', { ttl: '10min' });
			assert.equal(again.status, 200, 'the store is writable again at once');
			assert.equal((await redeem(other, 'ro-b', first.json.token)).json.ok, true);
		} finally {
			if (files.length) await chattr('-i').catch(() => {});
			await other.stop();
		}
	});

	test('SIGKILL under redemption load: every granted click is still logged after a restart', async () => {
		const first = await startJanus({ links: { redeem_attempts_per_minute: 1000000 } });
		const dir = first.dir;
		await peer(first, 'dur-owner');
		await peer(first, 'dur-visitor');
		const link = (await createLink(first, 'dur-owner', { ttl: '10min' })).json;
		let granted = 0, stop = false;
		const load = (async () => {
			while (!stop) {
				const batch = await Promise.allSettled(Array.from({ length: 20 }, () => redeem(first, 'dur-visitor', link.token)));
				granted += batch.filter((r) => r.status === 'fulfilled' && r.value.json.ok).length;
				if (batch.some((r) => r.status === 'rejected')) break;
			}
		})();
		await sleep(1500);
		first.child.kill('SIGKILL');
		stop = true;
		await load;
		for (let i = 0; i < 100 && !first.exited; i++) await sleep(50);
		assert.ok(first.exited, 'janus did not die from SIGKILL');
		assert.ok(granted > 0, 'no redemption was granted before the kill');
		const second = await startJanus({ dir });
		try {
			const got = await second.admin({ request: 'get_link', link_id: link.link.id });
			const clicks = await second.admin({ request: 'list_clicks', link_id: link.link.id, limit: 1 });
			assert.ok(got.link.clicks >= granted, `granted ${granted}, stored ${got.link.clicks}`);
			assert.equal(clicks.total, got.link.clicks, 'click count and click log disagree');
		} finally {
			await second.stop();
		}
	});
});
