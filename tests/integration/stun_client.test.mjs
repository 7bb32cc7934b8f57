// STUN conformance of p2plink-stund against third-party clients from Debian.
//
// For: proving that a client we did not write (turnutils_stunclient from
// coturn, used only as a client) gets its own source address and port back
// from our responder over 127.0.0.1 and ::1, and that malformed packets,
// wrong cookies, oversized datagrams, RFC 3489 clients and TURN requests are
// dropped or refused as designed. The server runs with --trace, which prints
// "<verdict> <source address> <source port>" per datagram: that is the
// ground truth the client's report is compared with.
// Not for: the handler's details (tests/unit/test_stun.c) or fuzzing.
//
// Needs the built tools/p2plink-stund (P2PLINK_BUILD_DIR, default: repo root).
// Each check SKIPs with a reason when its client tool or IPv6 is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const buildDir = process.env.P2PLINK_BUILD_DIR || repoRoot;

function findBinary(name, dirs) {
  for (const d of dirs) {
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  return null;
}

function which(cmd) {
  return findBinary(cmd, (process.env.PATH || '').split(':').concat(['/usr/bin', '/usr/sbin']));
}

const stund = findBinary('p2plink-stund', [join(buildDir, 'tools'), buildDir]);
const turnClient = which('turnutils_stunclient');
const rfc3489Client = which('stun');

function canBind(address) {
  return new Promise((resolve) => {
    const s = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    s.once('error', () => { s.close(); resolve(false); });
    s.bind(0, address, () => { s.close(); resolve(true); });
  });
}
const haveIPv6 = await canBind('::1');

// Start p2plink-stund on a free port (--port 0; it prints the real one)
async function startServer(extraArgs = []) {
  const child = spawn(stund, ['--bind', '::', '--port', '0', '--trace', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const waiters = [];
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const rl = createInterface({ input: child.stdout });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('p2plink-stund did not start: ' + stderr)), 5000);
    child.once('exit', (code) => reject(new Error(`p2plink-stund exited ${code}: ${stderr}`)));
    rl.on('line', (line) => {
      const m = /listening on .* port (\d+)/.exec(line);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); return; }
      const [verdict, address, srcPort] = line.split(' ');
      lines.push({ verdict, address: normalize(address), port: Number(srcPort) });
      for (const w of waiters.splice(0)) w();
    });
  });
  // Resolve with the first trace line matching pred, within ms
  async function waitFor(pred, ms = 3000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = lines.find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise((r) => { waiters.push(r); setTimeout(r, Math.min(left, 100)); });
    }
  }
  async function stop() {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    return stderr;
  }
  return { port, lines, waitFor, stop };
}

// ::ffff:127.0.0.1 (dual-stack socket) is the IPv4 client 127.0.0.1
function normalize(address) {
  return address && address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function run(cmd, args, timeoutMs = 8000) {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? 'timeout') : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

// "0: : IPv4. UDP reflexive addr: 127.0.0.1:36637" / "... addr: ::1:43513"
function parseTurnutils(stdout) {
  const m = /UDP reflexive addr: (\S+):(\d+)/.exec(stdout);
  return m ? { address: m[1], port: Number(m[2]) } : null;
}

// ---- our own raw UDP probes (bytes crafted here on purpose: we are testing
// what the server does with packets a correct client library would not send)

const COOKIE = Buffer.from([0x21, 0x12, 0xa4, 0x42]);

function stunHeader(type, bodyLength, cookie = COOKIE) {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(bodyLength, 2);
  cookie.copy(h, 4);
  randomBytes(12).copy(h, 8);
  return h;
}

function probe(port, address, packet, waitMs = 400) {
  return new Promise((resolve, reject) => {
    const s = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    let timer;
    s.once('error', (e) => { clearTimeout(timer); s.close(); reject(e); });
    s.on('message', (msg) => { clearTimeout(timer); const port = s.address().port; s.close(); resolve({ reply: msg, port }); });
    s.bind(0, address, () => {
      const localPort = s.address().port;
      s.send(packet, port, address, (err) => { if (err) { s.close(); reject(err); } });
      timer = setTimeout(() => { s.close(); resolve({ reply: null, port: localPort }); }, waitMs);
    });
  });
}

const skipNoServer = stund ? false : `p2plink-stund not built (looked in ${buildDir}/tools and ${buildDir}; set P2PLINK_BUILD_DIR)`;

for (const address of ['127.0.0.1', '::1']) {
  const skip = skipNoServer
    || (!turnClient && 'turnutils_stunclient not installed (apt-get install coturn; used only as a client)')
    || (address === '::1' && !haveIPv6 && 'no IPv6 loopback here');
  test(`turnutils_stunclient over ${address}: mapped address equals the client's source address and port`, { skip }, async () => {
    const server = await startServer();
    try {
      const r = await run(turnClient, ['-p', String(server.port), address]);
      const mapped = parseTurnutils(r.stdout);
      assert.ok(mapped, `no reflexive address in turnutils_stunclient output: ${r.stdout} ${r.stderr}`);
      // The server saw this datagram come from (address, port): the source
      const seen = await server.waitFor((l) => l.verdict === 'reply-binding' && l.port === mapped.port);
      assert.ok(seen, `server trace has no reply-binding from port ${mapped.port}: ${JSON.stringify(server.lines)}`);
      assert.equal(mapped.address, address);
      assert.equal(seen.address, address);
      assert.equal(mapped.port, seen.port);
    } finally {
      await server.stop();
    }
  });
}

test('RFC 3489 client (Debian stun-client, no magic cookie) is dropped, never answered', {
  skip: skipNoServer || (!rfc3489Client && 'stun (Debian stun-client) not installed'),
}, async () => {
  const server = await startServer();
  try {
    const r = await run(rfc3489Client, [`127.0.0.1:${server.port}`, '-v'], 15000);
    assert.ok(server.lines.length > 0, 'the classic client sent nothing');
    assert.ok(server.lines.every((l) => l.verdict === 'drop-bad-cookie'), JSON.stringify(server.lines));
    assert.doesNotMatch(r.stdout + r.stderr, /MappedAddress\s*=\s*127/);
  } finally {
    await server.stop();
  }
});

test('malformed, wrong-cookie, oversized and indication datagrams get no answer', { skip: skipNoServer }, async () => {
  const server = await startServer();
  try {
    const cases = [
      ['drop-bad-cookie', stunHeader(0x0001, 0, Buffer.from([1, 2, 3, 4]))],
      ['drop-truncated', stunHeader(0x0001, 8)],
      ['drop-not-stun', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
      ['drop-not-stun', Buffer.concat([stunHeader(0x0001, 3), Buffer.alloc(3)])],
      ['drop-oversized', Buffer.concat([stunHeader(0x0001, 1480), Buffer.alloc(1480)])],
      ['drop-not-request', stunHeader(0x0011, 0)],	// Binding indication
      ['drop-not-request', stunHeader(0x0101, 0)],	// Binding success response
    ];
    for (const [verdict, packet] of cases) {
      const { reply, port } = await probe(server.port, '127.0.0.1', packet);
      assert.equal(reply, null, `${verdict}: got an answer`);
      const seen = await server.waitFor((l) => l.port === port);
      assert.ok(seen, `${verdict}: not in trace`);
      assert.equal(seen.verdict, verdict);
    }
  } finally {
    await server.stop();
  }
});

test('TURN Allocate gets a 400 error response, never an allocation', { skip: skipNoServer }, async () => {
  const server = await startServer();
  try {
    // REQUESTED-TRANSPORT = UDP
    const attr = Buffer.from([0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0]);
    const request = Buffer.concat([stunHeader(0x0003, attr.length), attr]);
    const { reply } = await probe(server.port, '127.0.0.1', request, 2000);
    assert.ok(reply, 'no answer to Allocate');
    assert.equal(reply.readUInt16BE(0), 0x0113, 'Allocate error response');
    assert.deepEqual(reply.subarray(4, 20), request.subarray(4, 20), 'transaction id echoed');
    let offset = 20, code = null, reason = null;
    const types = [];
    while (offset + 4 <= reply.length) {
      const type = reply.readUInt16BE(offset), len = reply.readUInt16BE(offset + 2);
      types.push(type);
      if (type === 0x0009) {
        code = reply[offset + 6] * 100 + reply[offset + 7];
        reason = reply.subarray(offset + 8, offset + 4 + len).toString('utf8');
      }
      offset += 4 + Math.ceil(len / 4) * 4;
    }
    assert.equal(code, 400);
    assert.equal(reason, 'Binding only');
    assert.ok(reply.length <= 2 * request.length, `${reply.length}-byte error to a ${request.length}-byte Allocate`);
    assert.ok(!types.includes(0x8022), 'no SOFTWARE in an error');
    assert.ok(!types.includes(0x0016), 'no XOR-RELAYED-ADDRESS');
    assert.ok(types.includes(0x8028), 'FINGERPRINT present');
    assert.ok(await server.waitFor((l) => l.verdict === 'reply-error'));
  } finally {
    await server.stop();
  }
});

test('a bare 20-byte Allocate gets an error no larger than twice the request (no reflection amplifier)', { skip: skipNoServer }, async () => {
  const server = await startServer();
  try {
    const request = stunHeader(0x0003, 0);
    assert.equal(request.length, 20);
    const { reply } = await probe(server.port, '127.0.0.1', request, 2000);
    assert.ok(reply, 'no answer to Allocate');
    console.log(`# 20-byte Allocate -> ${reply.length}-byte error`);
    assert.equal(reply.readUInt16BE(0), 0x0113);
    assert.ok(reply.length <= 40, `${reply.length} bytes`);
  } finally {
    await server.stop();
  }
});

test('one source is rate limited, the rest is counted on exit', { skip: skipNoServer }, async () => {
  const server = await startServer(['--rate', '1', '--burst', '2']);
  try {
    let answered = 0;
    for (let i = 0; i < 5; i++) {
      const { reply } = await probe(server.port, '127.0.0.1', stunHeader(0x0001, 0), 200);
      if (reply) answered++;
    }
    assert.equal(answered, 2);
    assert.equal(server.lines.filter((l) => l.verdict === 'drop-rate-limited').length, 3);
  } finally {
    const stderr = await server.stop();
    assert.match(stderr, /drop-rate-limited 3/);
  }
});
