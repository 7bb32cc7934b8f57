// The plugin with store = "mongodb" inside the real Janus, talking to a MongoDB wire-protocol test server (Debian's
// python3-mockupdb through tests/lib/mongo-wire.mjs): every command our store sends through libmongoc is checked
// here, and every answer is chosen here. What a real server decides (atomicity, the TTL monitor) is tested by the
// store suite against a real MongoDB when P2PLINK_TEST_MONGODB_URI is set (tests/unit/test_store_mongo.c).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { postPeerjs, startJanus } from '../lib/janus.mjs';
import { MongoWire } from '../lib/mongo-wire.mjs';
import { PeerSocket } from '../lib/peer-socket.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha256 = (text) => crypto.createHash('sha256').update(text).digest('hex');
const DB = 'p2plink_it';
const TIMEOUT_MS = 1500;

let mongo = await MongoWire.start();
const skip = mongo.skip || false;
let srv;
const sockets = [];

async function peer(id) {
	const s = await PeerSocket.connect(srv, id, `tok-${id}`);
	sockets.push(s);
	assert.deepEqual(await s.next(), { type: 'OPEN' });
	return s;
}

const post = (route, body) => postPeerjs(srv, route, body);

// Extended JSON numbers as plain numbers, so a test can compare what the store sent with what it expects
const num = (v) => (v && typeof v === 'object' ? Number(v.$numberLong ?? v.$numberInt ?? v.$numberDouble) : v);
const cursor = (coll, docs) => ({ ok: 1, cursor: { id: { $numberLong: '0' }, ns: `${DB}.${coll}`, firstBatch: docs } });

// The links the test server "holds": each insert is kept so that later answers can return it
const stored = new Map();
function answerAsUsual() {
	mongo.answer('createIndexes', () => ({ ok: 1 }));
	mongo.answer('update', () => ({ ok: 1, n: 0, nModified: 0 }));	// withdrawing links older than owners; revocations
	mongo.answer('insert', (cmd) => {
		if (cmd.insert === 'links') for (const d of cmd.documents) stored.set(d._id, d);
		return { ok: 1, n: cmd.documents.length };
	});
	mongo.answer('aggregate', () => cursor('links', [{ _id: 1, n: 0 }]));	// the creator's other active links
}

before(async () => {
	if (skip) return;
	answerAsUsual();
	srv = await startJanus({ links: { store: 'mongodb', mongodb_uri: mongo.uri, mongodb_database: DB,
		mongodb_timeout_ms: TIMEOUT_MS, redeem_attempts_per_minute: 0 } });
});

after(async () => {
	for (const s of sockets) s.terminate();
	if (srv) await srv.stop();
	if (mongo) await mongo.stop();
});

describe('store = "mongodb" inside Janus, over the wire', { skip }, () => {
	let link;

	test('a peer creates a link: indexes first, then one insert that holds the token only as its SHA-256', async () => {
		await peer('mo-owner');
		await peer('mo-visitor');
		const r = await post('links/create', { id: 'mo-owner', token: 'tok-mo-owner', ttl: '10min', max_clicks: 2 });
		assert.equal(r.status, 200, JSON.stringify(r.json));
		link = r.json;
		const linkIndexes = await mongo.next('createIndexes');
		assert.equal(linkIndexes.createIndexes, 'links');
		assert.equal(linkIndexes.$db, DB);
		const byName = Object.fromEntries(linkIndexes.indexes.map((i) => [i.name, i]));
		assert.equal(byName.token_hash_unique.unique, true);
		assert.ok(num(byName.expire_at_ttl.expireAfterSeconds) > 0, 'TTL index on expire_at');
		assert.ok(byName.owner_created, 'links are listed by owner');
		const clickIndexes = await mongo.next('createIndexes');
		assert.equal(clickIndexes.createIndexes, 'clicks');
		const withdraw = await mongo.next('update');
		assert.deepEqual(withdraw.updates[0].q, { owner: { $exists: false }, creator: { $ne: '@admin' } });
		assert.equal(withdraw.updates[0].multi, true);
		const clickTtl = clickIndexes.indexes.find((i) => i.name === 'at_date_ttl');
		assert.equal(num(clickTtl.expireAfterSeconds), 30 * 24 * 3600, 'click-log retention: 30 days by default');
		const insert = await mongo.next('insert');
		assert.equal(insert.insert, 'links');
		const [doc] = insert.documents;
		assert.equal(doc._id, link.link.id);
		assert.equal(doc.token_hash, sha256(link.token));
		assert.equal(doc.target, 'mo-owner');
		assert.equal(doc.owner, sha256('tok-mo-owner'), 'owned by the token that made it, not by the id');
		assert.equal(num(doc.max_clicks), 2);
		assert.equal(num(doc.clicks), 0);
		assert.ok(doc.expire_at.$date, 'expire_at is a Date, for the TTL index');
		assert.ok(!JSON.stringify(mongo.seen).includes(link.token), 'the token itself never reaches the database');
	});

	test('a redemption reads the link (its target names the holder to ask), then one conditional findAndModify that also checks the owner; the grant and the click log follow from its answer', async () => {
		mongo.answer('find', (cmd) => cursor('links', [...stored.values()].filter((d) => d.token_hash === cmd.filter.token_hash)));
		mongo.answer('findAndModify', (cmd) => {
			const d = stored.get(link.link.id);
			if (cmd.query.token_hash !== d.token_hash) return { ok: 1, value: null };
			d.clicks = { $numberLong: String(num(d.clicks) + 1) };
			return { ok: 1, value: d };
		});
		const r = await post('links/redeem', { id: 'mo-visitor', token: 'tok-mo-visitor', link_token: link.token });
		assert.equal(r.status, 200);
		assert.equal(r.json.ok, true, JSON.stringify(r.json));
		assert.equal(r.json.target, 'mo-owner');
		assert.equal((await mongo.next('find')).filter.token_hash, sha256(link.token));
		const fam = await mongo.next('findAndModify');
		assert.equal(fam.findAndModify, 'links');
		assert.equal(fam.query.token_hash, sha256(link.token));
		assert.equal(fam.query.revoked, false);
		assert.equal(num(fam.update.$inc.clicks), 1);
		assert.equal(fam.new, true);
		/* The whole rule is inside the condition the server evaluates atomically: expiry, click limit, whitelist */
		const rule = JSON.stringify(fam.query.$and);
		for (const part of ['expires_at', '$lt', 'ip_ranges']) assert.ok(rule.includes(part), `${part} in ${rule}`);
		/* ...and the owner: the one who holds the target now, or nobody yet (then claimed by the same update) */
		assert.deepEqual(fam.query.$and[3], { $or: [{ owner: sha256('tok-mo-owner') }, { owner: null }] });
		assert.equal(fam.update.$set.owner, sha256('tok-mo-owner'));
		const click = (await mongo.next('insert')).documents[0];
		assert.deepEqual([click.link_id, click.ip, click.outcome], [link.link.id, '127.0.0.1', 'ok']);
	});

	test('a refusal is decided on the read: the visitor is told in plain words, the attempt is logged, no findAndModify', async () => {
		mongo.answer('find', (cmd) => cursor('links', [...stored.values()].filter((d) => d.token_hash === cmd.filter.token_hash)
			.map((d) => ({ ...d, clicks: { $numberLong: '2' } }))));
		const fams = mongo.seen.filter((c) => c.findAndModify).length;
		const r = await post('links/redeem', { id: 'mo-visitor', token: 'tok-mo-visitor', link_token: link.token });
		assert.equal(r.json.ok, false);
		assert.equal(r.json.code, 'exhausted');
		assert.match(r.json.msg, /used/i);
		assert.equal((await mongo.next('find')).filter.token_hash, sha256(link.token));
		assert.equal((await mongo.next('insert')).documents[0].outcome, 'exhausted');
		assert.equal(mongo.seen.filter((c) => c.findAndModify).length, fams, 'a refusal never writes to links');
		assert.deepEqual(mongo.unexpected, []);
	});

	test('a peek reads and logs a preview, never a findAndModify; the owner gone: not-online, no click used', async () => {
		mongo.answer('find', (cmd) => cursor('links', [...stored.values()].filter((d) => d.token_hash === cmd.filter.token_hash)));
		const fams = mongo.seen.filter((c) => c.findAndModify).length;
		const p = await post('links/peek', { link_token: link.token });
		assert.equal(p.json.ok, true, JSON.stringify(p.json));
		assert.equal(p.json.online, true);
		await mongo.next('find');
		assert.equal((await mongo.next('insert')).documents[0].outcome, 'preview');
		sockets.find((s) => s.ws.url.includes('id=mo-owner')).terminate();
		const deadline = Date.now() + 5000;
		do await sleep(100); while ((await post('links/peek', { link_token: link.token })).json.online && Date.now() < deadline);
		const r = await post('links/redeem', { id: 'mo-visitor', token: 'tok-mo-visitor', link_token: link.token });
		assert.equal(r.json.code, 'not-online', JSON.stringify(r));
		assert.equal(mongo.seen.filter((c) => c.findAndModify).length, fams, 'not-online never writes to links');
		let click;
		do click = (await mongo.next('insert')).documents[0]; while (click.outcome === 'preview');
		assert.equal(click.outcome, 'not-online');
	});

	test('MongoDB down: link requests fail clearly within mongodb_timeout_ms, signaling goes on, and it recovers', async () => {
		const port = mongo.port;
		await mongo.stop();
		const a = await peer('mo-a'), b = await peer('mo-b');
		const t0 = Date.now();
		const r = await post('links/create', { id: 'mo-a', token: 'tok-mo-a', ttl: '1min' });
		const waited = Date.now() - t0;
		assert.equal(r.status, 503, JSON.stringify(r.json));
		assert.equal(r.json.error.code, 'store-unavailable');
		assert.ok(waited < TIMEOUT_MS + 3000, `answered after ${waited} ms`);
		assert.match(srv.log(), /Link store failure: .+/, 'the operator learns why from the Janus log');
		a.send({ type: 'OFFER', dst: 'mo-b', payload: { sdp: 'x' } });
		assert.equal((await b.next('OFFER')).src, 'mo-a');
		mongo = await MongoWire.start(port);
		answerAsUsual();
		const deadline = Date.now() + 20000;
		let status;
		do {
			await sleep(250);
			status = (await post('links/create', { id: 'mo-a', token: 'tok-mo-a', ttl: '1min' })).status;
		} while (status !== 200 && Date.now() < deadline);
		assert.equal(status, 200, 'the MongoDB store did not come back');
		console.log(`# unreachable MongoDB answered in ${waited} ms; back ${Date.now() - t0} ms after the outage began`);
	});
});
