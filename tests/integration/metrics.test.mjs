// GET /metrics against the real Janus: only its loopback listener serves it (the public HTTPS port answers 404
// with no metric text, a host address that is not loopback is not listened on, a non-loopback interface in the
// config is refused), the text passes `promtool check metrics`, and a real Prometheus (/usr/bin/prometheus,
// Debian's prometheus package) scrapes it and answers our series through its query API with the values the
// traffic below must have produced.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PeerSocket } from '../lib/peer-socket.mjs';
import { externalIPv4, freePort, metricSample, postPeerjs, request, startJanus, tcpConnectOutcome } from '../lib/janus.mjs';

const PROMETHEUS = process.env.P2PLINK_PROMETHEUS || '/usr/bin/prometheus';
const PROMTOOL = process.env.P2PLINK_PROMTOOL || '/usr/bin/promtool';
const FRAMES = 25;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let srv;
const sockets = [];
const peer = (id) => PeerSocket.open(srv, id, sockets);

before(async () => {
	srv = await startJanus({ metrics: {}, plugin: { expire_timeout: 600000 }, links: { redeem_attempts_per_minute: 1000000 } });
	// Traffic: FRAMES OFFERs a -> b (all delivered), one refused frame (a peer cannot signal itself), a
	// handshake with the wrong key, one denied link redemption, and one frame queued for a peer that never comes
	const a = await peer('m-alice'), b = await peer('m-bob');
	for (let i = 0; i < FRAMES; i++)
		a.send({ type: 'OFFER', dst: 'm-bob', payload: { sdp: { type: 'offer', sdp: `v=0 #${i}` }, type: 'media', connectionId: `mc_${i}` } });
	for (let i = 0; i < FRAMES; i++) assert.equal((await b.next('OFFER')).src, 'm-alice');
	a.send({ type: 'CANDIDATE', dst: 'm-alice', payload: { candidate: {}, type: 'media', connectionId: 'mc_0' } });
	assert.equal((await a.next('P2PLINK-REFUSED')).payload.code, 'invalid-dst');
	const wrongKey = new PeerSocket(srv.wsUrl('m-carol', 'tok-m-carol', 'not-the-key'));
	await wrongKey.opened;
	assert.equal((await wrongKey.next('ERROR')).payload.msg, 'Invalid key provided');
	wrongKey.terminate();
	const denied = await postPeerjs(srv, 'links/redeem', { id: 'm-bob', token: 'tok-m-bob', link_token: 'x'.repeat(43) });
	assert.equal(denied.json.code, 'unknown');
	a.send({ type: 'OFFER', dst: 'm-nobody', payload: { sdp: { type: 'offer', sdp: 'v=0' }, type: 'media', connectionId: 'mc_q' } });
});

after(async () => {
	for (const s of sockets) s.terminate();
	await srv.stop();
	assert.doesNotMatch(srv.log(), /AddressSanitizer|runtime error|Segmentation/);
});

describe('who may scrape', () => {
	test('the loopback listener serves the exposition text', async () => {
		// The last frame of before() has no answer to wait for: read until it is counted (bounded)
		let res;
		for (const deadline = Date.now() + 5000; ;) {
			res = await request(srv.metricsUrl);
			if (metricSample(res.body, 'p2plink_offline_queue_frames') === 1 || Date.now() > deadline) break;
			await sleep(50);
		}
		assert.equal(res.status, 200);
		assert.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
		assert.equal(metricSample(res.body, 'p2plink_peers_connected'), 2);
		assert.equal(metricSample(res.body, 'p2plink_offline_queue_frames'), 1);
		assert.equal(metricSample(res.body, 'p2plink_offline_queues'), 1);
		assert.ok(metricSample(res.body, 'p2plink_frames_relayed_by_type_total', 'type="OFFER"') >= FRAMES);
		assert.equal(metricSample(res.body, 'p2plink_frames_refused_by_code_total', 'type="CANDIDATE",code="invalid-dst"'), 1);
		assert.equal(metricSample(res.body, 'p2plink_connections_refused_total', 'reason="bad-key"'), 1);
		assert.ok(metricSample(res.body, 'p2plink_connections_total') >= 3);
		assert.equal(metricSample(res.body, 'p2plink_link_redemptions_total', 'outcome="unknown"'), 1);
		assert.ok(metricSample(res.body, 'p2plink_store_call_duration_seconds_count') >= 1);
		const lag = metricSample(res.body, 'p2plink_event_loop_lag_seconds');
		assert.ok(lag >= 0 && lag < 1, `lag ${lag}`);
	});

	test('the public HTTPS port answers /metrics with 404 and no metric text', async () => {
		const res = await request(`${srv.baseUrl}/metrics`);
		assert.equal(res.status, 404);
		assert.doesNotMatch(res.body, /p2plink_|# TYPE/);
		// Nor anywhere else it might be looked for (/metrics/ is the web app's page fallback)
		for (const p of ['/metrics/', '/peerjs/metrics', '/metrics?format=prometheus']) {
			const other = await request(`${srv.baseUrl}${p}`);
			assert.doesNotMatch(other.body, /p2plink_|# TYPE/, p);
		}
	});

	test('the metrics listener answers nothing but GET /metrics', async () => {
		const res = await request(srv.metricsUrl.replace('/metrics', '/'));
		assert.equal(res.status, 404);
		assert.doesNotMatch(res.body, /p2plink_/);
		// A POST gets a 404 or the connection closed, never the text
		const post = await request(srv.metricsUrl, { method: 'POST', body: '{}' }).catch((e) => ({ status: e.code, body: '' }));
		assert.notEqual(post.status, 200);
		assert.doesNotMatch(post.body, /p2plink_/);
	});

	test('a host address that is not loopback gets no connection on the metrics port', async (t) => {
		const external = externalIPv4();
		if (!external) return t.skip('this host has no non-loopback IPv4 address');
		assert.equal(await tcpConnectOutcome(external, srv.metricsPort), 'ECONNREFUSED');
	});

	test('a metrics interface that is not loopback is refused: logged, nothing listens', async () => {
		const other = await startJanus({ metrics: { interface: '0.0.0.0' } });
		try {
			assert.match(other.log(), /metrics\.interface '0\.0\.0\.0' is not a loopback address/);
			await assert.rejects(request(`http://127.0.0.1:${other.metricsPort}/metrics`), /ECONNREFUSED/);
			// Signaling is unaffected
			const s = await PeerSocket.connect(other, 'm-solo', 'tok-m-solo');
			assert.deepEqual(await s.next(), { type: 'OPEN' });
			s.terminate();
		} finally {
			await other.stop();
		}
	});
});

test('promtool check metrics accepts the served text', async () => {
	const res = await request(srv.metricsUrl);
	const out = execFileSync(PROMTOOL, ['check', 'metrics'], { input: res.body }).toString();
	assert.equal(out, '');
});

describe('a real Prometheus scrapes it', () => {
	let prom, promPort, promDir, promLog;
	before(async () => {
		promDir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2plink-prometheus-'));
		promPort = await freePort();
		fs.writeFileSync(path.join(promDir, 'prometheus.yml'), [
			'global:', '  scrape_interval: 1s', '  scrape_timeout: 1s',
			'scrape_configs:', '  - job_name: p2plink', '    static_configs:',
			`      - targets: ['127.0.0.1:${srv.metricsPort}']`, '',
		].join('\n'));
		promLog = path.join(promDir, 'prometheus.log');
		const log = fs.openSync(promLog, 'w');
		prom = spawn(PROMETHEUS, [`--config.file=${path.join(promDir, 'prometheus.yml')}`,
			`--storage.tsdb.path=${path.join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
		{ stdio: ['ignore', log, log] });
	});
	after(async () => {
		if (prom.exitCode === null) {
			prom.kill('SIGTERM');
			await new Promise((r) => prom.once('exit', r));
		}
		fs.rmSync(promDir, { recursive: true, force: true });
	});

	// The query's first result value, once Prometheus has one (it starts, then scrapes every second)
	async function query(expr, accept = () => true, timeoutMs = 30000) {
		const deadline = Date.now() + timeoutMs;
		let last;
		for (;;) {
			try {
				const res = await request(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`);
				last = res.body;
				const json = JSON.parse(res.body);
				if (json.status === 'success' && json.data.result.length > 0) {
					const value = Number(json.data.result[0].value[1]);
					if (accept(value)) return value;
				}
			} catch (e) { last = String(e); }
			if (Date.now() > deadline) {
				throw new Error(`no accepted answer to ${expr}: ${last}\n${fs.readFileSync(promLog, 'utf8').slice(-2000)}`);
			}
			await sleep(250);
		}
	}

	test('the target is up and our series answer with the values the traffic produced', async () => {
		assert.equal(await query('up{job="p2plink"}', (v) => v === 1), 1);
		assert.ok(await query('p2plink_frames_relayed_by_type_total{type="OFFER"}') >= FRAMES);
		assert.ok(await query('p2plink_frames_relayed_total') >= FRAMES);
		assert.equal(await query('p2plink_peers_connected'), 2);
		assert.equal(await query('p2plink_frames_refused_by_code_total{code="invalid-dst"}'), 1);
		assert.equal(await query('p2plink_connections_refused_total{reason="bad-key"}'), 1);
		assert.equal(await query('p2plink_link_redemptions_total{outcome="unknown"}'), 1);
		assert.ok(await query('p2plink_store_call_duration_seconds_count') >= 1);
		const lag = await query('p2plink_event_loop_lag_seconds');
		assert.ok(lag >= 0 && lag < 1, `lag ${lag}`);
		// A histogram Prometheus can compute on
		const p99 = await query('histogram_quantile(0.99, p2plink_store_call_duration_seconds_bucket)', (v) => !Number.isNaN(v));
		assert.ok(p99 > 0 && p99 <= 5, `p99 ${p99}`);
	});

	test('counters move between scrapes: more frames, a higher value', async () => {
		const before = await query('p2plink_frames_relayed_by_type_total{type="OFFER"}');
		const a = sockets[0], b = sockets[1];
		for (let i = 0; i < FRAMES; i++)
			a.send({ type: 'OFFER', dst: 'm-bob', payload: { sdp: { type: 'offer', sdp: `v=0 #more${i}` }, type: 'media', connectionId: `mm_${i}` } });
		for (let i = 0; i < FRAMES; i++) await b.next('OFFER');
		assert.ok(await query('p2plink_frames_relayed_by_type_total{type="OFFER"}', (v) => v >= before + FRAMES) >= before + FRAMES);
	});
});
