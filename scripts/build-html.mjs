#!/usr/bin/env node
/*
 * build-html.mjs — bundle the browser app's third-party code into html/vendor/.
 *
 * What it is for: the app in html/ is plain ES modules and imports two npm packages
 * (the stock `peerjs` client and `qrcode-generator`). Browsers cannot import bare npm
 * names, and we never load anything from a CDN, so esbuild turns each package into one
 * self-contained ES module under html/vendor/ (git-ignored). Run it after `npm install`:
 *     node scripts/build-html.mjs
 * What it is not for: it does not bundle or minify the app's own modules (html/js/*),
 * which are served as-is so they stay readable.
 */
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'html', 'vendor');
mkdirSync(outdir, { recursive: true });

const entries = [
	/* peerjs: re-export the Peer class (and the util object for feature checks). */
	{ name: 'peerjs.js', contents: "export { Peer, util } from 'peerjs';" },
	/* qrcode-generator ships CommonJS/UMD; expose its factory as a default export. */
	{ name: 'qrcode.js', contents: "import qrcode from 'qrcode-generator'; export default qrcode;" },
];

for (const e of entries) {
	await build({
		stdin: { contents: e.contents, resolveDir: root, loader: 'js' },
		bundle: true,
		format: 'esm',
		platform: 'browser',
		target: ['es2020'],
		minify: true,
		sourcemap: false,
		legalComments: 'inline',
		outfile: join(outdir, e.name),
		logLevel: 'warning',
	});
}
console.log(`build-html: wrote ${entries.map((e) => e.name).join(', ')} to ${outdir}`);
