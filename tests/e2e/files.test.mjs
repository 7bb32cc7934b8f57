/*
 * files.test.mjs — direct file transfer in two headless Chromium contexts (A sends, B
 * receives). The native save picker cannot be shown headless, so most tests run the app with
 * the download fallback (test hook noSavePicker) and check the bytes through playwright
 * downloads; the last one replaces only the picker's dialog (with a handle in the
 * origin-private file system) and checks the bytes the app streamed into it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumMissing, launch, startServer, openApp, screenshot, within } from '../lib/browser.mjs';
import { establish } from '../lib/call-actions.mjs';
import { outOfViewport } from '../lib/ui-checks.mjs';

/* The entries of a .zip as Python's zipfile reads them (it checks every CRC): {name: Buffer} */
function unzip(path) {
	const out = execFileSync('/usr/bin/python3', ['-c', `
import base64, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
if bad: sys.exit("bad CRC: " + bad)
print(json.dumps({i.filename: base64.b64encode(z.read(i)).decode() for i in z.infolist()}))`, path], { maxBuffer: 256 * 1024 * 1024 });
	return new Map(Object.entries(JSON.parse(out)).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
}

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

test('multi-file transfer incl. zero-byte and non-ASCII names: one .zip with every file, CRCs good', { skip, timeout: 60000 }, async () => {
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
		const dl = B.page.waitForEvent('download', { timeout: 45000 });
		await inCard.locator('.accept-btn').click();
		const d = await dl;
		assert.match(d.suggestedFilename(), /^p2plink 3 files from .*\.zip$/);
		const got = unzip(await d.path());
		for (const f of files) {
			assert.ok(got.has(f.name), `zip has ${f.name} (has ${[...got.keys()].join(', ')})`);
			assert.deepEqual(got.get(f.name), f.data, `bytes of ${f.name}`);
		}
		await B.page.waitForSelector('.transfer[data-dir=in][data-state=verified]', { timeout: 10000 });
		await A.page.waitForSelector('.transfer[data-dir=out][data-state=verified]', { timeout: 10000 });
		assert.equal(await outCard.locator('li[data-verdict=verified]').count(), 3);
		assert.equal(await inCard.locator('.save-btn').count(), 3, 'each file can also be saved alone');
	});
});

test('20 files received without the save picker: all 20 saved (one .zip), none dropped', { skip, timeout: 90000 }, async () => {
	await within(85000, '20 files', async () => {
		const files = Array.from({ length: 20 }, (_, i) => ({ name: `photo-${String(i + 1).padStart(2, '0')}.jpg`, data: randomBytes(20000 + i * 997) }));
		const paths = files.map((f) => { const p = join(dir, f.name); writeFileSync(p, f.data); return p; });
		let downloads = 0;
		const count = () => { downloads++; };
		B.page.on('download', count);
		const { inCard } = await offer(paths);
		const dl = B.page.waitForEvent('download', { timeout: 60000 });
		await inCard.locator('.accept-btn').click();
		const got = unzip(await (await dl).path());
		await B.page.waitForSelector('.transfer[data-dir=in][data-state=verified]', { timeout: 20000 });
		await B.page.waitForTimeout(1500);
		B.page.off('download', count);
		console.log(`files_20_downloads=${downloads} zip_entries=${got.size}`);
		assert.equal(got.size, 20, 'all 20 in the zip');
		for (const f of files) assert.deepEqual(got.get(f.name), f.data, f.name);
		assert.equal(downloads, 1, 'one download, nothing for the browser to drop');
		assert.equal(await inCard.locator('.save-state', { hasText: 'saved' }).count(), 20, 'each file says saved');
	});
});

test('a text/html file is saved as application/octet-stream under a safe name, never rendered here', { skip, timeout: 40000 }, async () => {
	await within(35000, 'html file', async () => {
		await B.page.evaluate(() => {
			globalThis.__blobTypes = [];
			const orig = URL.createObjectURL;
			URL.createObjectURL = (b) => { globalThis.__blobTypes.push(b.type); return orig.call(URL, b); };
		});
		const path = join(dir, 'evil.html');
		writeFileSync(path, '<script>parent.__pwned = 1</script><h1>hi</h1>');
		const pages = B.context.pages().length;
		/* The sender claims text/html and a name with separators, control characters and a bidi override */
		await A.page.evaluate(() => {
			const f = new File(['<script>parent.__pwned = 1</script><h1>hi</h1>'], '../../\u202eevil\u0007.html', { type: 'text/html' });
			globalThis.__p2plink.files.send(document.querySelector('#peer-id').value.trim(), [f]);
		});
		const inCard = B.page.locator('.transfer[data-dir=in]').first();
		await B.page.waitForFunction(() => document.querySelector('.transfer[data-dir=in] .accept-btn'), null, { timeout: 20000 });
		const dl = B.page.waitForEvent('download', { timeout: 20000 });
		await inCard.locator('.accept-btn').click();
		const d = await dl;
		const name = d.suggestedFilename();
		assert.doesNotMatch(name, /[\/\\\u0000-\u001f\u202e]/, `safe name: ${JSON.stringify(name)}`);
		assert.match(name, /evil\.html$/);
		assert.deepEqual(await B.page.evaluate(() => globalThis.__blobTypes), ['application/octet-stream']);
		assert.equal(await B.page.evaluate(() => globalThis.__pwned || 0), 0, 'nothing ran');
		assert.equal(B.context.pages().length, pages, 'no page opened');
	});
});

test('the progress of a transfer is not spoken: live regions change only at start and finish', { skip, timeout: 60000 }, async () => {
	await within(55000, 'live regions', async () => {
		const watch = () => {
			globalThis.__spoken = [];
			const live = () => Array.from(document.querySelectorAll('[aria-live], [role=status], [role=alert]'));
			new MutationObserver((muts) => {
				for (const m of muts) {
					const n = m.target.nodeType === 1 ? m.target : m.target.parentElement;
					if (n && live().some((r) => r.contains(n))) { globalThis.__spoken.push((n.closest('[aria-live], [role=status], [role=alert]') || n).textContent.slice(0, 60)); break; }
				}
			}).observe(document.body, { subtree: true, childList: true, characterData: true });
		};
		await A.page.evaluate(watch);
		await B.page.evaluate(watch);
		const path = join(dir, 'sixteen.bin');
		writeFileSync(path, randomBytes(16 * 1024 * 1024));
		const { inCard } = await offer(path);
		const dl = B.page.waitForEvent('download', { timeout: 45000 });
		// Sampled inside the page: round trips from the test process are too slow on a loaded machine to see the bar move
		await B.page.evaluate(() => {
			globalThis.__progress = [];
			globalThis.__progressTimer = setInterval(() => {
				const bar = document.querySelector('.transfer[data-dir=in] progress');
				if (bar) globalThis.__progress.push(bar.value);
			}, 20);
		});
		await inCard.locator('.accept-btn').click();
		await dl;
		const progress = await B.page.evaluate(() => { clearInterval(globalThis.__progressTimer); return globalThis.__progress; });
		await B.page.waitForSelector('.transfer[data-dir=in][data-state=verified]', { timeout: 10000 });
		await A.page.waitForSelector('.transfer[data-dir=out][data-state=verified]', { timeout: 10000 });
		const spokenB = await B.page.evaluate(() => globalThis.__spoken);
		const spokenA = await A.page.evaluate(() => globalThis.__spoken);
		console.log(`live_region_changes receiver=${spokenB.length} sender=${spokenA.length} progress_updates=${new Set(progress).size}`);
		assert.ok(new Set(progress).size >= 3, 'the bar did move');
		assert.ok(spokenB.length <= 3, `receiver heard ${spokenB.length}: ${JSON.stringify(spokenB)}`);
		assert.ok(spokenA.length <= 3, `sender heard ${spokenA.length}: ${JSON.stringify(spokenA)}`);
	});
});

test('"Clear finished" removes the cards of finished transfers and keeps running ones', { skip, timeout: 40000 }, async () => {
	await within(35000, 'clear finished', async () => {
		const path = join(dir, 'small.txt');
		writeFileSync(path, 'small');
		const { inCard } = await offer(path);
		const dl = B.page.waitForEvent('download', { timeout: 20000 });
		await inCard.locator('.accept-btn').click();
		await dl;
		await B.page.waitForSelector('.transfer[data-dir=in][data-state=verified]', { timeout: 10000 });
		const pending = await offer(path); /* a second offer, not answered: it must stay */
		assert.ok(await B.page.locator('#transfers .transfer').count() >= 2);
		await B.page.click('#clear-finished');
		const states = await B.page.evaluate(() => Array.from(document.querySelectorAll('#transfers .transfer'), (c) => c.dataset.state));
		assert.deepEqual(states, ['pending'], `only the unanswered offer is left: ${states}`);
		assert.equal(await B.page.isHidden('#clear-finished'), true, 'nothing left to clear');
		await pending.inCard.locator('.decline-btn').click();
	});
});

test('"Send files back" on a received transfer picks files for its sender', { skip, timeout: 40000 }, async () => {
	await within(35000, 'send back', async () => {
		const path = join(dir, 'to-b.txt');
		writeFileSync(path, 'hello B');
		const { inCard } = await offer(path);
		const dl = B.page.waitForEvent('download', { timeout: 20000 });
		await inCard.locator('.accept-btn').click();
		await dl;
		await B.page.fill('#peer-id', '');
		const chooser = B.page.waitForEvent('filechooser', { timeout: 5000 });
		await inCard.locator('.send-back-btn').click();
		const back = join(dir, 'to-a.txt');
		writeFileSync(back, 'hello A');
		await (await chooser).setFiles(back);
		assert.equal(await B.page.inputValue('#peer-id'), A.id, 'addressed to the sender');
		const card = A.page.locator('.transfer[data-dir=in]').first();
		await card.waitFor({ timeout: 20000 });
		assert.match(await card.textContent(), /to-a\.txt/);
		await card.locator('.decline-btn').click();
	});
});

test('a file offered during a call shows on the call screen and can be accepted there', { skip, timeout: 70000 }, async () => {
	const [C, D] = await Promise.all([openApp(browser, srv.baseUrl, { name: 'C', viewport: { width: 390, height: 844 } }), openApp(browser, srv.baseUrl, { name: 'D', viewport: { width: 390, height: 844 } })]);
	try {
		await within(65000, 'offer in call', async () => {
			await establish(C, D);
			const data = randomBytes(300000);
			const path = join(dir, 'during the call.bin');
			writeFileSync(path, data);
			const chooser = C.page.waitForEvent('filechooser', { timeout: 5000 });
			await C.page.click('#files-in-call-btn');
			await (await chooser).setFiles(path);
			const card = D.page.locator('#call-offers .transfer[data-dir=in]');
			await card.waitFor({ timeout: 20000 });
			assert.equal(await D.page.isVisible('#call-offers .accept-btn'), true, 'Accept is visible on the call screen');
			assert.deepEqual(await outOfViewport(D.page, '#call', true), [], 'every control of the call screen and the offer in view');
			await screenshot(D.page, 'phone-file-offer-during-call');
			const dl = D.page.waitForEvent('download', { timeout: 20000 });
			await card.locator('.accept-btn').click();
			assert.deepEqual(readFileSync(await (await dl).path()), data);
			await D.page.waitForSelector('#call-offers .transfer[data-state=verified]', { timeout: 10000 });
			assert.equal(await D.page.evaluate(() => globalThis.__p2plink.calls.state), 'active', 'the call goes on');
			await C.page.click('#hangup-btn');
			await D.page.waitForSelector('#call', { state: 'hidden', timeout: 10000 });
			assert.equal(await D.page.locator('#transfers .transfer[data-state=verified]').count(), 1, 'the card is back in the list after the call');
		});
	} finally {
		await C.context.close().catch(() => {});
		await D.context.close().catch(() => {});
	}
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
