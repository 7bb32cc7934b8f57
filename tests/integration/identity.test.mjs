// Issue 10, attacks 1-3, against the real Janus: no frame can close another peer's socket, an id (with its
// link-only state and grants) belongs to its token for id_grace after its socket went, and frames queued for a
// link-only peer are gated like relayed ones.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PeerSocket } from '../lib/peer-socket.mjs';
import { postPeerjs, startJanus } from '../lib/janus.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let srv;
const sockets = [];
async function connect(id, token = `tok-${id}`) {
	const s = await PeerSocket.connect(srv, id, token);
	sockets.push(s);
	return s;
}
async function peer(id, token) {
	const s = await connect(id, token);
	assert.deepEqual(await s.next(), { type: 'OPEN' });
	return s;
}
const linkOnly = (id, enabled = true) => postPeerjs(srv, 'linkonly', { id, token: `tok-${id}`, enabled });
async function grant(visitor, target) {
	const link = (await postPeerjs(srv, 'links/create', { id: target, token: `tok-${target}`, ttl: '10min', max_clicks: 1 })).json;
	const redeemed = await postPeerjs(srv, 'links/redeem', { id: visitor, token: `tok-${visitor}`, link_token: link.token });
	assert.equal(redeemed.json.ok, true, JSON.stringify(redeemed.json));
}
// The socket is gone for the server too (it answers the owner's reconnect only after it has seen the close)
async function dropped(s, id) {
	s.terminate();
	for (let i = 0; i < 50; i++) {
		const peers = (await srv.admin({ request: 'list_peers', limit: 1000 })).peers;
		if (!peers.some((p) => p.id === id)) return;
		await sleep(50);
	}
	assert.fail(`${id} still listed as connected`);
}

before(async () => {
	// The default id_grace (30 s): every test here happens well inside it
	srv = await startJanus({ transport: { max_connections_per_ip: 0, connection_rate_per_ip: 0 } });
});
after(async () => {
	for (const s of sockets) s.terminate();
	await srv.stop();
	assert.doesNotMatch(srv.log(), /AddressSanitizer|runtime error|Segmentation/);
});

describe('attack 1: one frame of invalid UTF-8 disconnects any online peer', () => {
	for (const [name, bytes] of [['overlong C0 AF', [0xc0, 0xaf]], ['surrogate ED A0 80', [0xed, 0xa0, 0x80]],
		['above U+10FFFF F4 90 80 80', [0xf4, 0x90, 0x80, 0x80]]]) {
		test(`a CANDIDATE with ${name} never reaches the victim; the attacker's socket is failed with 1007`, async () => {
			const tag = bytes.map((b) => b.toString(16)).join('');
			const victim = await peer(`u8-victim-${tag}`), attacker = await peer(`u8-attacker-${tag}`);
			const frame = Buffer.concat([Buffer.from(`{"type":"CANDIDATE","dst":"u8-victim-${tag}","payload":{"candidate":"`),
				Buffer.from(bytes), Buffer.from('"}}')]);
			attacker.ws.send(frame, { binary: false });
			const closed = await attacker.waitClosed();
			assert.equal(closed.code, 1007);
			assert.ok(!attacker.frames.some((f) => f.type === 'ERROR'));
			// The victim (whose ws client, like a browser, fails its socket on invalid UTF-8) heard nothing
			assert.ok(await victim.silentFor(300, 'CANDIDATE'));
			assert.equal(victim.closed, null);
			// ... and still holds its id: the attacker cannot take it
			const thief = await connect(`u8-victim-${tag}`, 'attacker-token');
			assert.deepEqual(await thief.next(), { type: 'ID-TAKEN', payload: { msg: 'ID is taken' } });
			const other = await peer(`u8-other-${tag}`);
			other.send({ type: 'CANDIDATE', dst: `u8-victim-${tag}`, payload: { candidate: 'ok \u00e9\u{1f600}' } });
			assert.equal((await victim.next('CANDIDATE')).payload.candidate, 'ok \u00e9\u{1f600}');
		});
	}
});

describe('attack 2: whoever connects next with a dropped peer\'s id inherits it', () => {
	test('during id_grace another token gets ID-TAKEN; the owner gets OPEN and its calls and links stay its own', async () => {
		const owner = await peer('gr-owner');
		const link = (await postPeerjs(srv, 'links/create', { id: 'gr-owner', token: 'tok-gr-owner', ttl: '10min' })).json;
		await dropped(owner, 'gr-owner');
		const thief = await connect('gr-owner', 'thief-token');
		assert.deepEqual(await thief.next(), { type: 'ID-TAKEN', payload: { msg: 'ID is taken' } });
		await thief.waitClosed();
		// Frames meant for the owner wait for it (queued as for an offline peer), nobody else gets them
		const caller = await peer('gr-caller');
		caller.send({ type: 'OFFER', dst: 'gr-owner', payload: { call: 1 } });
		await sleep(100);
		const back = await peer('gr-owner');
		assert.deepEqual(await back.next('OFFER'), { type: 'OFFER', src: 'gr-caller', dst: 'gr-owner', payload: { call: 1 } });
		// Its links are still its own
		const listed = await postPeerjs(srv, 'links/list', { id: 'gr-owner', token: 'tok-gr-owner' });
		assert.equal(listed.status, 200);
		assert.ok(listed.json.links.some((l) => l.id === link.link.id));
	});

	test('a reserved owner is not authenticated for the link endpoints (it is not connected)', async () => {
		const owner = await peer('gr-auth');
		await dropped(owner, 'gr-auth');
		const listed = await postPeerjs(srv, 'links/list', { id: 'gr-auth', token: 'tok-gr-auth' });
		assert.equal(listed.status, 401);
	});
});

describe('attack 3: link-only state and grants lost on reconnect; queued frames skip the gate', () => {
	test('the owner comes back link-only, and a visitor\'s grant survives the visitor\'s reconnect', async () => {
		const owner = await peer('lo-owner');
		const visitor = await peer('lo-visitor');
		const stranger = await peer('lo-stranger');
		assert.equal((await linkOnly('lo-owner')).json.link_only, true);
		await grant('lo-visitor', 'lo-owner');
		await dropped(owner, 'lo-owner');
		await dropped(visitor, 'lo-visitor');
		const owner2 = await peer('lo-owner');
		const visitor2 = await peer('lo-visitor');
		// Still link-only: the stranger is refused (EXPIRE + link-required, never ERROR)
		stranger.send({ type: 'OFFER', dst: 'lo-owner', payload: { s: 1 } });
		assert.deepEqual(await stranger.next(), { type: 'EXPIRE', src: 'lo-owner', dst: 'lo-stranger' });
		assert.equal((await stranger.next('P2PLINK-REFUSED')).payload.code, 'link-required');
		// The visitor's grant came back with it
		visitor2.send({ type: 'OFFER', dst: 'lo-owner', payload: { v: 1 } });
		assert.equal((await owner2.next('OFFER')).src, 'lo-visitor');
		assert.ok(await owner2.silentFor(200, 'OFFER'));
		assert.ok(!owner2.frames.some((f) => f.src === 'lo-stranger'));
	});

	test('a stranger\'s frame for a link-only peer between two sockets is refused, and nothing opens the gate', async () => {
		const owner = await peer('lq-owner');
		const stranger = await peer('lq-stranger');
		assert.equal((await linkOnly('lq-owner')).json.link_only, true);
		await dropped(owner, 'lq-owner');
		stranger.send({ type: 'OFFER', dst: 'lq-owner', payload: { sneak: 1 } });
		stranger.send({ type: 'CANDIDATE', dst: 'lq-owner', payload: { sneak: 2 } });
		assert.deepEqual(await stranger.next(), { type: 'EXPIRE', src: 'lq-owner', dst: 'lq-stranger' });
		assert.equal((await stranger.next('P2PLINK-REFUSED')).payload.code, 'link-required');
		const back = await peer('lq-owner');
		assert.ok(await back.silentFor(300), `the link-only peer got ${JSON.stringify(back.frames.slice(1))}`);
		// Later frames are refused as well: nothing was delivered, so nothing was answered
		stranger.send({ type: 'OFFER', dst: 'lq-owner', payload: { again: 1 } });
		assert.ok(await back.silentFor(300, 'OFFER'));
		assert.equal(back.closed, null);
		assert.equal(stranger.closed, null);
	});
});
