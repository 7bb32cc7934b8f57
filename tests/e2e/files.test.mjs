/*
 * files.test.mjs — direct file transfer in two headless Chromium contexts (A sends, B
 * receives). The native save picker cannot be shown headless, so most tests run the app with
 * the download fallback (test hook noSavePicker) and check the bytes through playwright
 * downloads; the last one replaces only the picker's dialog (with a handle in the
 * origin-private file system) and checks the bytes the app streamed into it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumMissing, launch, startServer, openApp, screenshot, within } from '../lib/browser.mjs';

const skip = chromiumMissing() || false;
let srv, browser, A, B, dir;

async function sha256File(path) {
	const h = createHash('sha256');
	for await (const c of createReadStream(path)) h.update(c);
	return h.digest('hex');
}

before(async () => {
	if (skip) return;
	dir = mkdtempSync(join(tmpdir(), 'p2plink-files-'));
	srv = await startServer();
	browser = await launch();
	A = await openApp(browser, srv.baseUrl, { name: 'A' });
	B = await openApp(browser, srv.baseUrl, { name: 'B' });
	await A.page.fill('#peer-id', B.id);
});

after(async () => {
	if (browser) await browser.close();
	if (srv) await srv.stop();
	if (dir) rmSync(dir, { recursive: true, force: true });
});

/* Offer `paths` from A; returns the locator of B's newest incoming card. */
async function offer(paths) {
	const before = await B.page.locator('.transfer[data-dir=in]').count();
	await A.page.setInputFiles('#file-input', paths);
	await B.page.waitForFunction((n) => document.querySelectorAll('.transfer[data-dir=in]').length > n, before, { timeout: 20000 });
	return { inCard: B.page.locator('.transfer[data-dir=in]').first(), outCard: A.page.locator('.transfer[data-dir=out]').first() };
}

test('64 MiB file: received SHA-256 equals the sender’s, both sides say verified', { skip, timeout: 180000 }, async () => {
	await within(170000, '64 MiB transfer', async () => {
		const path = join(dir, 'big random.bin');
		writeFileSync(path, randomBytes(64 * 1024 * 1024));
		const want = await sha256File(path);
		const { inCard, outCard } = await offer(path);
		assert.match(await inCard.textContent(), /big random\.bin/);
		assert.match(await inCard.textContent(), /64 MiB/);
		await screenshot(B.page, 'files-incoming-offer');
		const download = B.page.waitForEvent('download', { timeout: 150000 });
		const t0 = Date.now();
		await inCard.locator('.accept-btn').click();
		const d = await download;
		const secs = (Date.now() - t0) / 1000;
		console.log(`transfer_mib_s=${(64 / secs).toFixed(1)}`);
		assert.equal(d.suggestedFilename(), 'big random.bin');
		const got = await sha256File(await d.path());
		assert.equal(got, want, 'downloaded bytes hash');
		await B.page.waitForSelector('.transfer[data-dir=in][data-state=verified]', { timeout: 10000 });
		await A.page.waitForSelector('.transfer[data-dir=out][data-state=verified]', { timeout: 10000 });
		assert.equal(await inCard.locator('li[data-fid]').getAttribute('data-sha256'), want);
		assert.equal(await outCard.locator('li[data-fid]').getAttribute('data-sha256'), want);
		await screenshot(A.page, 'files-sender-verified');
		await screenshot(B.page, 'files-receiver-verified');
	});
});

test('multi-file transfer incl. zero-byte and non-ASCII names', { skip, timeout: 60000 }, async () => {
	await within(55000, 'multi-file', async () => {
		const files = [
			{ name: 'notes with spaces.txt', data: Buffer.from('hello p2plink\n') },
			{ name: 'empty.dat', data: Buffer.alloc(0) },
			{ name: 'Grüße — 日本語 ✓.bin', data: randomBytes(3 * 1024 * 1024 + 17) },
		];
		const paths = files.map((f) => { const p = join(dir, f.name); writeFileSync(p, f.data); return p; });
		const { inCard, outCard } = await offer(paths);
		const text = await inCard.textContent();
		for (const f of files) assert.ok(text.includes(f.name), `offer lists ${f.name}`);
		const got = new Map();
		const done = new Promise((resolve) => {
			B.page.on('download', async function onDl(d) {
				got.set(d.suggestedFilename(), await d.path());
				if (got.size === files.length) { B.page.off('download', onDl); resolve(); }
			});
		});
		await inCard.locator('.accept-btn').click();
		await within(45000, 'downloads', () => done);
		for (const f of files) {
			assert.ok(got.has(f.name), `downloaded ${f.name} (have ${[...got.keys()].join(', ')})`);
			assert.deepEqual(readFileSync(got.get(f.name)), f.data, `bytes of ${f.name}`);
		}
		await B.page.waitForSelector('.transfer[data-dir=in][data-state=verified]', { timeout: 10000 });
		await A.page.waitForSelector('.transfer[data-dir=out][data-state=verified]', { timeout: 10000 });
		assert.equal(await outCard.locator('li[data-verdict=verified]').count(), 3);
	});
});

test('receiver cancels mid-way: both sides stop and say cancelled', { skip, timeout: 90000 }, async () => {
	await within(85000, 'cancel', async () => {
		const path = join(dir, 'big random.bin'); /* from the first test, or make one */
		try { readFileSync(path, { flag: 'r' }).length; } catch { writeFileSync(path, randomBytes(64 * 1024 * 1024)); }
		const { inCard, outCard } = await offer(path);
		let downloaded = false;
		const onDl = () => { downloaded = true; };
		B.page.on('download', onDl);
		await inCard.locator('.accept-btn').click();
		await B.page.waitForFunction(() => {
			const p = document.querySelector('.transfer[data-dir=in] progress');
			return p && p.value > 0;
		}, null, { timeout: 20000, polling: 20 });
		await inCard.locator('.cancel-btn').click();
		await B.page.waitForSelector('.transfer[data-dir=in][data-state=cancelled]', { timeout: 5000 });
		await A.page.waitForSelector('.transfer[data-dir=out][data-state=cancelled]', { timeout: 10000 });
		assert.match(await outCard.textContent(), /cancelled/i);
		await new Promise((r) => setTimeout(r, 1000));
		B.page.off('download', onDl);
		assert.equal(downloaded, false, 'a cancelled file must not be downloaded');
		/* The channel is still usable afterwards. */
		const small = join(dir, 'after-cancel.txt');
		writeFileSync(small, 'still works');
		const next = await offer(small);
		const dl = B.page.waitForEvent('download', { timeout: 20000 });
		await next.inCard.locator('.accept-btn').click();
		assert.equal(readFileSync(await (await dl).path(), 'utf8'), 'still works');
		await A.page.waitForSelector('.transfer[data-dir=out][data-state=verified]', { timeout: 10000 });
	});
});

test('receiver declines: sender is told, nothing is sent', { skip, timeout: 40000 }, async () => {
	await within(35000, 'decline', async () => {
		const path = join(dir, 'declined.txt');
		writeFileSync(path, 'no thanks');
		const { inCard, outCard } = await offer(path);
		await inCard.locator('.decline-btn').click();
		await A.page.waitForFunction(() => document.querySelector('.transfer[data-dir=out]').dataset.state === 'declined', null, { timeout: 10000 });
		assert.match(await outCard.textContent(), /declined/);
		assert.equal(await inCard.getAttribute('data-state'), 'declined');
		await screenshot(A.page, 'files-declined');
	});
});

test('Save-As path: the received file streams into the handle the picker returns, nothing is downloaded', { skip, timeout: 60000 }, async () => {
	/* Headless Chromium cannot show the native picker, so only the dialog is replaced: showSaveFilePicker returns a
	 * real FileSystemFileHandle from the origin-private file system, and the app writes through its
	 * createWritable() stream exactly as it would into a file the user picked */
	const C = await openApp(browser, srv.baseUrl, { name: 'C', hooks: {} });
	try {
		await within(55000, 'save-as transfer', async () => {
			await C.page.evaluate(() => {
				globalThis.showSaveFilePicker = async ({ suggestedName }) => {
					globalThis.__pickedName = suggestedName;
					return (await navigator.storage.getDirectory()).getFileHandle('picked.bin', { create: true });
				};
			});
			const data = randomBytes(8 * 1024 * 1024 + 5);
			const path = join(dir, 'to disk.bin');
			writeFileSync(path, data);
			const want = createHash('sha256').update(data).digest('hex');
			let downloads = 0;
			C.page.on('download', () => { downloads++; });
			await A.page.fill('#peer-id', C.id);
			await A.page.setInputFiles('#file-input', path);
			const inCard = C.page.locator('.transfer[data-dir=in]').first();
			await inCard.waitFor({ timeout: 20000 });
			await inCard.locator('.accept-btn').click();
			await C.page.waitForSelector('.transfer[data-dir=in][data-state=verified]', { timeout: 45000 });
			const saved = await C.page.evaluate(async () => {
				const file = await (await (await navigator.storage.getDirectory()).getFileHandle('picked.bin')).getFile();
				const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
				return { name: globalThis.__pickedName, size: file.size,
					sha256: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('') };
			});
			assert.equal(saved.name, 'to disk.bin', 'the picker was asked with the sender\'s file name');
			assert.equal(saved.size, data.length);
			assert.equal(saved.sha256, want, 'bytes written through the picker\'s stream');
			assert.equal(downloads, 0, 'no download fallback');
		});
	} finally {
		await A.page.fill('#peer-id', B.id);
		await C.context.close().catch(() => {});
	}
});
