// The option tables inside the real Janus: every bad option of janus.transport.peerjs.jcfg and of
// janus.plugin.p2plink.jcfg is named in the log at start-up (all of them, not only the first), and then that module
// does not start. The tables themselves and the samples are checked by tests/unit/test_peerjs_config.c and
// test_p2plink_config.c.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startupLog } from '../lib/janus.mjs';

test('every bad transport option is logged, then the transport does not start', async () => {
	await startupLog({
		transport: { max_frame_size: 'big', event_loop: 'epoll', trusted_proxies: '10.0.0.0/8, nonsense' },
		stun: { port: 70000 },
	}, /bad options? in .*janus\.transport\.peerjs\.jcfg: not starting/, (text) => {
		assert.match(text, /4 bad options in .*janus\.transport\.peerjs\.jcfg: not starting/);
		assert.match(text, /general\.max_frame_size = 'big': expected an integer between 1024 and 16777216/);
		assert.match(text, /general\.event_loop = 'epoll': expected one of "poll", "libuv"/);
		assert.match(text, /general\.trusted_proxies entry 'nonsense' is not an address or CIDR/);
		assert.match(text, /stun\.port = '70000': expected an integer between 0 and 65535/);
		assert.doesNotMatch(text, /JANUS PeerJS transport listening on/);
	});
});

// Before the table the plugin named only the first bad option, and took any word for a boolean as false
test('every bad plugin option is logged, then the plugin does not start', async () => {
	await startupLog({
		plugin: { expire_timeout: 50, concurrent_limit: 'many', events: 'maybe' },
		links: { store: 'redis', admin_max_ttl: 'forever', click_ip_privacy: 'sometimes' },
	}, /bad options? in .*janus\.plugin\.p2plink\.jcfg: not starting/, (text) => {
		assert.match(text, /6 bad options in .*janus\.plugin\.p2plink\.jcfg: not starting/);
		assert.match(text, /general\.expire_timeout = '50': expected an integer between 100 and 3600000/);
		assert.match(text, /general\.concurrent_limit = 'many': expected an integer between 1 and 10000000/);
		assert.match(text, /general\.events = 'maybe': expected true or false/);
		assert.match(text, /links\.store = 'redis': expected one of "sqlite", "mongodb"/);
		assert.match(text, /links\.admin_max_ttl = 'forever': /);
		assert.match(text, /links\.click_ip_privacy = 'sometimes': expected true or false/);
		assert.doesNotMatch(text, /p2plink initialized \(/);
		assert.match(text, /The 'janus\.plugin\.p2plink' plugin could not be initialized/);
	});
});
