// events.test.mjs — the plugin's events reach Janus's own event handlers: Debian's sample HTTP handler
// (janus.eventhandler.sampleevh, configured as deploy/ and the package configure it: only plugin events, grouped)
// POSTs them to a small HTTP collector here. Checks every event the plugin emits (peer-open, peer-close,
// peer-timeout, expire, link-created, link-redeemed, link-denied, link-revoked, link-deleted, link-store-failed),
// each with exactly the fields README.md ("Events") documents, and that no event ever carries a peer token, a link
// token, a frame's payload or SDP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startJanus, postPeerjs } from '../lib/janus.mjs';
import { PeerSocket } from '../lib/peer-socket.mjs';
import { startEventCollector } from '../lib/event-collector.mjs';

const SDP_MARK = 'a=p2plink-sdp-marker-7f3e';
const PAYLOAD_MARK = 'p2plink-payload-marker-91c2';

/* The sample handler as deploy/janus.eventhandler.sampleevh.jcfg and the package set it up */
const handler = (c) => ({ eventsBackend: c.url, eventHandler: { events: 'plugins', grouping: true } });

let srv, col;
const sockets = [];
const tokens = [];
async function peer(server, id) {
	const token = `tok-${id}-${Math.random().toString(36).slice(2)}`;
	tokens.push(token);
	const s = await PeerSocket.connect(server, id, token);
	sockets.push(s);
	assert.equal((await s.next()).type, 'OPEN');
	return { s, id, token };
}

before(async () => {
	col = await startEventCollector();
	srv = await startJanus({ ...handler(col), plugin: { expire_timeout: 500 } });
});

after(async () => {
	for (const s of sockets) s.terminate();
	await srv.stop();
	await col.close();
	// Nothing, in any event of this run, carries a token, a payload or SDP
	const all = col.bodies.join('\n');
	for (const t of tokens) assert.equal(all.includes(t), false, 'a token reached an event handler');
	assert.equal(all.includes(SDP_MARK), false, 'SDP reached an event handler');
	assert.equal(all.includes(PAYLOAD_MARK), false, 'a payload reached an event handler');
	assert.equal(all.includes('"payload"'), false);
	assert.equal(all.includes('"sdp"'), false);
});

test('events arrive as Janus plugin events (type 64) from janus.plugin.p2plink, JSON, no session or handle', async () => {
	await peer(srv, 'ev-envelope');
	await col.waitFor((d) => d.event === 'peer-open' && d.id === 'ev-envelope', 'peer-open');
	const e = col.events.find((x) => x.event?.data?.id === 'ev-envelope');
	assert.equal(e.type, 64);
	assert.equal(e.event.plugin, 'janus.plugin.p2plink');
	assert.equal(typeof e.timestamp, 'number');
	assert.equal(e.session_id, undefined);
	assert.equal(e.handle_id, undefined);
	assert.ok([...col.contentTypes].every((t) => /json/.test(t)), [...col.contentTypes].join());
});

test('peer-open carries the peer id and its address, nothing else', async () => {
	await peer(srv, 'ev-open');
	const d = await col.waitFor((x) => x.event === 'peer-open' && x.id === 'ev-open', 'peer-open');
	assert.deepEqual(d, { event: 'peer-open', id: 'ev-open', ip: '127.0.0.1' });
});

test('peer-close carries the peer id when its socket closes', async () => {
	const { s } = await peer(srv, 'ev-close');
	s.close();
	const d = await col.waitFor((x) => x.event === 'peer-close' && x.id === 'ev-close', 'peer-close');
	assert.deepEqual(d, { event: 'peer-close', id: 'ev-close' });
});

test('relayed OFFER/ANSWER/CANDIDATE frames make no event, and their SDP and payload stay out of every event', async () => {
	const a = await peer(srv, 'ev-caller');
	const b = await peer(srv, 'ev-callee');
	a.s.send({ type: 'OFFER', dst: 'ev-callee', payload: { sdp: { type: 'offer', sdp: `v=0\r\n${SDP_MARK}\r\n` },
		type: 'media', connectionId: 'mc_ev', metadata: PAYLOAD_MARK } });
	await b.s.next('OFFER');
	b.s.send({ type: 'ANSWER', dst: 'ev-caller', payload: { sdp: { type: 'answer', sdp: SDP_MARK }, connectionId: 'mc_ev' } });
	await a.s.next('ANSWER');
	a.s.send({ type: 'CANDIDATE', dst: 'ev-callee', payload: { candidate: { candidate: PAYLOAD_MARK }, connectionId: 'mc_ev' } });
	await b.s.next('CANDIDATE');
	// The handler posts within milliseconds; give any relay event a chance to arrive before looking
	await peer(srv, 'ev-after-relay');
	await col.waitFor((x) => x.event === 'peer-open' && x.id === 'ev-after-relay', 'peer-open');
	const theirs = col.ours().filter((d) => ['ev-caller', 'ev-callee'].includes(d.id) || d.unreachable);
	assert.deepEqual(theirs.map((d) => d.event), ['peer-open', 'peer-open']);
});

test('link-redeemed carries link id, target and outcome "ok"; link-denied the refusal code; never the token', async () => {
	const owner = await peer(srv, 'ev-owner');
	const visitor = await peer(srv, 'ev-visitor');
	const made = await postPeerjs(srv, 'links/create', { id: owner.id, token: owner.token, ttl: '10min', max_clicks: 1 });
	assert.equal(made.status, 200);
	tokens.push(made.json.token);
	const redeem = () => postPeerjs(srv, 'links/redeem', { id: visitor.id, token: visitor.token, link_token: made.json.token });
	assert.equal((await redeem()).json.ok, true);
	assert.equal((await redeem()).json.code, 'exhausted');
	const id = made.json.link.id;
	assert.deepEqual(await col.waitFor((x) => x.event === 'link-redeemed' && x.link_id === id, 'link-redeemed'),
		{ event: 'link-redeemed', link_id: id, target: 'ev-owner', outcome: 'ok' });
	assert.deepEqual(await col.waitFor((x) => x.event === 'link-denied' && x.link_id === id, 'link-denied'),
		{ event: 'link-denied', link_id: id, target: 'ev-owner', outcome: 'exhausted' });
});

test('link-denied for a token that matches no link carries only the code "unknown"', async () => {
	const visitor = await peer(srv, 'ev-guesser');
	const guess = 'g'.repeat(43);
	tokens.push(guess);
	assert.equal((await postPeerjs(srv, 'links/redeem', { id: visitor.id, token: visitor.token, link_token: guess })).json.code, 'unknown');
	const d = await col.waitFor((x) => x.event === 'link-denied' && x.outcome === 'unknown', 'link-denied');
	assert.deepEqual(d, { event: 'link-denied', outcome: 'unknown' });
});

test('expire names the sender and the destination that never connected', async () => {
	const a = await peer(srv, 'ev-sender');
	a.s.send({ type: 'OFFER', dst: 'ev-nobody', payload: { sdp: { type: 'offer', sdp: SDP_MARK }, connectionId: 'mc_x' } });
	assert.equal((await a.s.next('EXPIRE', 8000)).src, 'ev-nobody');
	assert.deepEqual(await col.waitFor((x) => x.event === 'expire' && x.id === 'ev-sender', 'expire'),
		{ event: 'expire', id: 'ev-sender', unreachable: 'ev-nobody' });
});

test('link-created, link-revoked and link-deleted carry the link id and target', async () => {
	const owner = await peer(srv, 'ev-maker');
	const made = await postPeerjs(srv, 'links/create', { id: owner.id, token: owner.token, ttl: '10min' });
	tokens.push(made.json.token);
	const id = made.json.link.id;
	assert.equal((await postPeerjs(srv, 'links/revoke', { id: owner.id, token: owner.token, link_id: id })).json.ok, true);
	assert.equal((await srv.admin({ request: 'delete_link', link_id: id })).p2plink, 'deleted');
	for (const event of ['link-created', 'link-revoked', 'link-deleted'])
		assert.deepEqual(await col.waitFor((x) => x.event === event && x.link_id === id, event), { event, link_id: id, target: 'ev-maker' });
});

test('peer-timeout names a peer dropped for silence', async () => {
	const own = await startEventCollector();
	const other = await startJanus({ ...handler(own), plugin: { alive_timeout: 1500 } });
	try {
		await peer(other, 'ev-silent');
		assert.deepEqual(await own.waitFor((x) => x.event === 'peer-timeout', 'peer-timeout', 10000),
			{ event: 'peer-timeout', id: 'ev-silent' });
	} finally {
		await other.stop();
		await own.close();
	}
});

test('link-store-failed carries the store\'s reason when a write fails (SQLite files made immutable)', async (t) => {
	/* Root ignores file modes, so the files are made immutable (chattr +i, ext4/xfs); elsewhere this skips */
	const own = await startEventCollector();
	const other = await startJanus(handler(own));
	let files = [];
	const chattr = (flag) => promisify(execFile)('chattr', [flag, ...files]);
	try {
		const owner = await peer(other, 'sf-owner');
		assert.equal((await postPeerjs(other, 'links/create', { id: owner.id, token: owner.token, ttl: '10min' })).status, 200);
		const dataDir = path.join(other.dir, 'data');
		files = fs.readdirSync(dataDir).filter((f) => f.startsWith('p2plink.db')).map((f) => path.join(dataDir, f));
		try { await chattr('+i'); } catch (e) { files = []; t.skip(`chattr +i not possible here: ${e.message.split('\n')[0]}`); return; }
		const refused = await postPeerjs(other, 'links/create', { id: owner.id, token: owner.token, ttl: '10min' });
		assert.equal(refused.json.error.code, 'store-unavailable');
		const d = await own.waitFor((x) => x.event === 'link-store-failed', 'link-store-failed');
		assert.deepEqual(Object.keys(d).sort(), ['error', 'event']);
		assert.equal(typeof d.error, 'string');
		assert.ok(d.error.length > 0);
		assert.equal(JSON.stringify(own.bodies).includes(owner.token), false);
	} finally {
		if (files.length) await chattr('-i');
		await other.stop();
		await own.close();
	}
});
