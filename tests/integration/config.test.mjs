// The transport's option table inside the real Janus: every bad option of janus.transport.peerjs.jcfg is named in
// the log at start-up (all of them, not only the first), and then the transport does not start. The table itself
// and the sample are checked by tests/unit/test_peerjs_config.c.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { writeJanusConfig } from '../lib/janus.mjs';

const janusBin = process.env.P2PLINK_JANUS || '/usr/bin/janus';

test('every bad transport option is logged, then the transport does not start', async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2plink-janus-'));
	const { args } = await writeJanusConfig(dir, {
		transport: { max_frame_size: 'big', event_loop: 'epoll', trusted_proxies: '10.0.0.0/8, nonsense' },
		stun: { port: 70000 },
	});
	const logFile = path.join(dir, 'janus.log');
	const log = fs.openSync(logFile, 'w');
	const child = spawn(janusBin, args, { stdio: ['ignore', log, log] });
	const exited = new Promise((resolve) => child.on('exit', resolve));
	const read = () => fs.readFileSync(logFile, 'utf8');
	try {
		const deadline = Date.now() + 20000;
		while (!/bad options? in .*janus\.transport\.peerjs\.jcfg: not starting/.test(read()) && Date.now() < deadline)
			await new Promise((r) => setTimeout(r, 100));
		const text = read();
		assert.match(text, /4 bad options in .*janus\.transport\.peerjs\.jcfg: not starting/);
		assert.match(text, /general\.max_frame_size = 'big': expected an integer between 1024 and 16777216/);
		assert.match(text, /general\.event_loop = 'epoll': expected one of "poll", "libuv"/);
		assert.match(text, /general\.trusted_proxies entry 'nonsense' is not an address or CIDR/);
		assert.match(text, /stun\.port = '70000': expected an integer between 0 and 65535/);
		assert.doesNotMatch(text, /JANUS PeerJS transport listening on/);
	} finally {
		child.kill('SIGTERM');
		const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
		await exited;
		clearTimeout(timer);
		fs.closeSync(log);
	}
});
