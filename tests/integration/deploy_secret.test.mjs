// The deploy files write the admin secret into Janus's config with deploy/p2plink-render-config, never through
// sed: a secret full of characters that sed, the shell or libconfig give a meaning to reaches Janus unchanged
// (proved by the real Janus accepting it on its admin API), and a short or multi-line one is refused.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot, startJanus } from '../lib/janus.mjs';
import { tempDir } from '../lib/temp-dir.mjs';

const render = path.join(repoRoot, 'deploy', 'p2plink-render-config');
// & and \ and | and / break sed's s|..|..|; quotes, $, `, * and spaces break naive shell and libconfig quoting
const nasty = 'a&b|c\\d/e"f\'g$h`i*j?k[l] m%n~\\\\"&&';

function run(secret, template, output) {
	return spawnSync('sh', [render, template, output], { env: { ...process.env, P2PLINK_ADMIN_SECRET: secret }, encoding: 'utf8' });
}

test('a secret with & | \\ / quotes $ ` survives into Janus: its admin API accepts exactly that secret', async () => {
	// Janus starts through a wrapper that renders the config Janus is given, as the entrypoint and the unit do
	const wrapper = ['sh', '-c', 'j=$1 conf=$3; shift 3; "$R" "$conf" "$conf.rendered" && exec "$j" -C "$conf.rendered" "$@"', 'sh'];
	const srv = await startJanus({ adminSecret: '@P2PLINK_ADMIN_SECRET@', wrapper,
		env: { P2PLINK_ADMIN_SECRET: nasty, R: render } });
	try {
		const ok = await srv.admin({ request: 'list_peers' }, nasty);
		assert.equal(ok.p2plink, 'peers', JSON.stringify(ok));
		const wrong = await srv.admin({ request: 'list_peers' }, nasty.replace('&', '\\&'));
		assert.notEqual(wrong.p2plink, 'peers');
		const rendered = fs.readFileSync(path.join(srv.dir, 'conf', 'janus.jcfg.rendered'), 'utf8');
		assert.equal(fs.statSync(path.join(srv.dir, 'conf', 'janus.jcfg.rendered')).mode & 0o777, 0o600);
		assert.doesNotMatch(rendered, /@P2PLINK_ADMIN_SECRET@/);
	} finally {
		await srv.stop();
	}
});

test('a short secret, a secret with a newline and a template without the placeholder are refused', () => {
	const dir = tempDir('p2plink-render-');
	const template = path.join(dir, 'janus.jcfg');
	fs.writeFileSync(template, 'general: {\n\tadmin_secret = "@P2PLINK_ADMIN_SECRET@"\n}\n');
	const out = path.join(dir, 'out.jcfg');
	assert.equal(run('short', template, out).status, 1);
	assert.equal(run('', template, out).status, 1);
	assert.equal(run('a-long-enough-secret\nadmin_secret = "x"', template, out).status, 1);
	assert.ok(!fs.existsSync(out), 'nothing written for a refused secret');
	fs.writeFileSync(template, 'general: {\n}\n');
	assert.equal(run('a-long-enough-secret', template, out).status, 1);
	assert.ok(!fs.existsSync(out));
});

test('the Docker entrypoint and the systemd unit render the secret with p2plink-render-config, not sed', () => {
	for (const f of ['deploy/docker-entrypoint.sh', 'deploy/p2plink.service']) {
		const text = fs.readFileSync(path.join(repoRoot, f), 'utf8');
		assert.match(text, /p2plink-render-config /, f);
		assert.doesNotMatch(text, /sed[^\n]*P2PLINK_ADMIN_SECRET/, f);
	}
	assert.match(fs.readFileSync(path.join(repoRoot, 'deploy/Dockerfile'), 'utf8'), /COPY deploy\/p2plink-render-config /);
	// The script itself is POSIX sh (the container's /bin/sh is dash)
	execFileSync('sh', ['-n', render]);
});
