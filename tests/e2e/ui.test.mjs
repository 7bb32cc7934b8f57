/*
 * ui.test.mjs — the app as people use it (issue 12): each test is one bug that people hit, checked in headless
 * Chromium. Enter in the ID box; a pasted link or a malformed id explained at once; a 64-character id on a
 * 390 px phone with every control inside the viewport; the call screen modal and Escape asking first; one
 * reconnect chain with the backoff capped at 15 s while the server is down; no stale messages; contrast of every
 * text at least 4.5:1 in both colour schemes; a favicon. Screenshots of each screen at both sizes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CHROMIUM_ARGS, chromiumMissing, countWebSockets, launch, startServer, openApp, screenshot, within, serverAndBrowser, closeAll } from '../lib/browser.mjs';
import { establish, ring } from '../lib/call-actions.mjs';
import { focusInside, lowContrast, outOfViewport } from '../lib/ui-checks.mjs';

const skip = chromiumMissing() || false;
let srv, browser;
const PHONE = { width: 390, height: 844 };
const LAPTOP = { width: 1280, height: 800 };

serverAndBrowser(skip, (s, b) => { srv = s; browser = b; });

/* A 64-character id the server allows (letters, digits, single '-' between) and a token for it */
function longIdentity(tag) {
	const id = `${tag}-${'x7k2m9q4'.repeat(8)}`.slice(0, 64);
	return { id, token: `${tag}-token-${'0123456789abcdef'.repeat(2)}` };
}

test('Enter in the ID box starts the call and it keeps ringing (the same key press does not cancel it)', { skip, timeout: 45000 }, async () => {
	const [A, B] = await Promise.all([openApp(browser, srv.baseUrl, { name: 'A' }), openApp(browser, srv.baseUrl, { name: 'B' })]);
	try {
		await within(40000, 'enter', async () => {
			await A.page.fill('#peer-id', B.id);
			await A.page.press('#peer-id', 'Enter');
			await B.page.waitForSelector('#incoming[open]', { timeout: 15000 });
			await A.page.waitForTimeout(1500);
			assert.equal(await A.page.evaluate(() => globalThis.__p2plink.calls.state), 'outgoing', 'still calling');
			assert.equal(await A.page.evaluate(() => globalThis.__p2plink.calls.lastEnd || null), null, 'nothing ended');
			assert.equal(await B.page.evaluate(() => document.querySelector('#incoming').open), true, 'still ringing at B');
		});
	} finally {
		await closeAll(A, B);
	}
});

test('a malformed id or a web address in the ID box is explained at once and nothing connects', { skip, timeout: 30000 }, async () => {
	const A = await openApp(browser, srv.baseUrl, { name: 'A' });
	try {
		const cases = [
			['https://example.org/some/page', /web address/],
			['ab$cd', /“\$” cannot be part/],
			['-leading-dash', /cannot start or end/],
			['a'.repeat(65), /too long/],
		];
		for (const [text, re] of cases) {
			await A.page.fill('#peer-id', text);
			await A.page.waitForSelector('#peer-id-error:not([hidden])', { timeout: 1000 });
			assert.match(await A.page.textContent('#peer-id-error'), re, text);
			assert.equal(await A.page.getAttribute('#peer-id', 'aria-invalid'), 'true');
			assert.equal(await A.page.isDisabled('#call-btn'), true, `call disabled for ${text}`);
			await A.page.press('#peer-id', 'Enter');
			assert.equal(await A.page.evaluate(() => globalThis.__p2plink.calls.state), 'idle', `no call for ${text}`);
		}
		await screenshot(A.page, 'ui-id-invalid');
		await A.page.fill('#peer-id', 'fine-id-123');
		assert.equal(await A.page.isHidden('#peer-id-error'), true, 'a good id clears the message');
		assert.equal(await A.page.isDisabled('#call-btn'), false);
	} finally {
		await closeAll(A);
	}
});

test('a share link pasted into the ID box opens that link', { skip, timeout: 30000 }, async () => {
	const A = await openApp(browser, srv.baseUrl, { name: 'A' });
	try {
		const url = new URL('/l/pasted-token-abc123', srv.baseUrl).href;
		await A.page.fill('#peer-id', `  ${url} `);
		await A.page.waitForURL(/\/l\/pasted-token-abc123$/, { timeout: 10000 });
		await A.page.waitForSelector('#landing:not([hidden])', { timeout: 15000 });
	} finally {
		await closeAll(A);
	}
});

test('64-character ids on a 390 px phone: every control stays inside the viewport on every screen', { skip, timeout: 90000 }, async () => {
	const [A, B] = await Promise.all([
		openApp(browser, srv.baseUrl, { name: 'A', viewport: PHONE, identity: longIdentity('alpha') }),
		openApp(browser, srv.baseUrl, { name: 'B', viewport: PHONE, identity: longIdentity('bravo') }),
	]);
	try {
		await within(85000, 'phone layout', async () => {
			assert.equal(A.id.length, 64, `A has the 64-character id (${A.id})`);
			assert.equal(B.id.length, 64);
			await A.page.fill('#my-name', 'Anastasia Konstantinopoulou-Wolfeschlegelsteinhausen');
			await A.page.dispatchEvent('#my-name', 'change');
			await A.page.fill('#peer-id', B.id);
			assert.deepEqual(await outOfViewport(A.page), [], 'idle page');
			await screenshot(A.page, 'phone-idle-64-char-id');
			await ring(A, B);
			assert.deepEqual(await outOfViewport(B.page, '#incoming', true), [], 'incoming call dialog');
			assert.deepEqual(await outOfViewport(A.page, '#outgoing', true), [], 'outgoing call dialog');
			await screenshot(B.page, 'phone-incoming-64-char-id');
			await screenshot(A.page, 'phone-outgoing-64-char-id');
			await B.page.click('#incoming-accept');
			await A.page.waitForSelector('#call:not([hidden])', { timeout: 15000 });
			await B.page.waitForSelector('#call:not([hidden])', { timeout: 15000 });
			await A.page.waitForTimeout(1500);
			assert.deepEqual(await outOfViewport(A.page, '#call', true), [], 'call screen A');
			assert.deepEqual(await outOfViewport(B.page, '#call', true), [], 'call screen B');
			await screenshot(A.page, 'phone-in-call-64-char-id');
			await A.page.keyboard.press('Escape');
			assert.deepEqual(await outOfViewport(A.page, '#call', true), [], 'hang-up question');
			await screenshot(A.page, 'phone-hangup-confirm');
			await A.page.click('#hangup-confirm-yes');
			await B.page.waitForSelector('#call', { state: 'hidden', timeout: 10000 });
		});
	} finally {
		await closeAll(A, B);
	}
});

test('the call screen is modal: focus stays in it, the page under it is inert, Escape asks before hanging up', { skip, timeout: 60000 }, async () => {
	const [A, B] = await Promise.all([openApp(browser, srv.baseUrl, { name: 'A', viewport: LAPTOP }), openApp(browser, srv.baseUrl, { name: 'B' })]);
	try {
		await within(55000, 'modal', async () => {
			await establish(A, B);
			assert.equal(await A.page.evaluate(() => document.querySelector('main').inert && document.querySelector('header').inert), true, 'page under the call is inert');
			for (const key of ['Tab', 'Shift+Tab']) {
				for (let i = 0; i < 12; i++) {
					await A.page.keyboard.press(key);
					const f = await focusInside(A.page, '#call');
					assert.ok(f.inside, `${key} ×${i + 1} left the call screen (focus on ${f.what})`);
				}
			}
			await A.page.keyboard.press('Escape');
			await A.page.waitForSelector('#hangup-confirm:not([hidden])', { timeout: 2000 });
			assert.equal((await focusInside(A.page, '#hangup-confirm')).inside, true, 'focus moves to the question');
			assert.equal(await A.page.evaluate(() => globalThis.__p2plink.calls.state), 'active', 'Escape did not hang up');
			await screenshot(A.page, 'laptop-hangup-confirm');
			await A.page.keyboard.press('Escape');
			await A.page.waitForSelector('#hangup-confirm', { state: 'hidden', timeout: 2000 });
			await A.page.keyboard.press('Escape');
			await A.page.waitForTimeout(300);
			assert.equal(await A.page.evaluate(() => globalThis.__p2plink.calls.state), 'active', 'a second Escape still only asks');
			await A.page.click('#hangup-confirm-yes');
			await B.page.waitForSelector('#call', { state: 'hidden', timeout: 10000 });
			assert.equal(await A.page.evaluate(() => document.querySelector('main').inert), false, 'page usable again');
		});
	} finally {
		await closeAll(A, B);
	}
});

test('no stale message: "Call cancelled." is gone once the next call rings', { skip, timeout: 50000 }, async () => {
	const [A, B] = await Promise.all([openApp(browser, srv.baseUrl, { name: 'A' }), openApp(browser, srv.baseUrl, { name: 'B' })]);
	try {
		await within(45000, 'stale', async () => {
			await ring(A, B);
			await A.page.click('#outgoing-cancel');
			await B.page.waitForSelector('#incoming', { state: 'hidden', timeout: 10000 });
			assert.match(await A.page.textContent('#status'), /cancelled/);
			await A.page.click('#call-btn');
			await B.page.waitForSelector('#incoming[open]', { timeout: 15000 });
			await A.page.waitForFunction(() => document.querySelector('#outgoing-text').textContent === 'Ringing…', null, { timeout: 10000 });
			assert.doesNotMatch(await A.page.textContent('#status'), /cancelled/i, 'the old message is gone while the next call rings');
		});
	} finally {
		await closeAll(A, B);
	}
});

test('while the server is down: one retry chain, backoff capped at 15 s, the error clears once back', { skip, timeout: 150000 }, async () => {
	/* Our own server on a fixed port, so it can be stopped and started again where the page expects it */
	const own = await startServer();
	const port = Number(new URL(own.baseUrl).port);
	let server = own;
	const A = await openApp(browser, own.baseUrl, { name: 'A', initScript: countWebSockets });
	try {
		await within(145000, 'outage', async () => {
			const before = await A.page.evaluate(() => globalThis.__wsAttempts.length);
			await server.stop();
			server = null;
			const OUTAGE_MS = 48000;
			await A.page.waitForTimeout(OUTAGE_MS);
			const times = await A.page.evaluate(() => globalThis.__wsAttempts.slice());
			const during = times.slice(before);
			const gaps = during.slice(1).map((t, i) => Math.round(t - during[i]));
			console.log(`ws_attempts_during_48s_outage=${during.length} gaps_ms=${gaps.join(',')}`);
			assert.match(await A.page.textContent('#status'), /Lost the connection/);
			await screenshot(A.page, 'ui-server-lost');
			/* 1, 2, 4, 8, 15, 15 s: 6 attempts in 48 s; one chain means no two attempts within a second */
			assert.ok(during.length >= 4 && during.length <= 8, `${during.length} attempts in 48 s`);
			assert.ok(gaps.every((g) => g >= 900), `attempts from more than one chain: gaps ${gaps}`);
			assert.ok(gaps.every((g) => g <= 16500), `backoff over 15 s: gaps ${gaps}`);
			const downAt = performance.now();
			server = await startServer({ port });
			await A.page.waitForFunction(() => globalThis.__p2plink.peer.open, null, { timeout: 20000, polling: 100 });
			console.log(`reconnected_after_server_back_ms=${Math.round(performance.now() - downAt)}`);
			assert.equal((await A.page.textContent('#my-id')).trim(), A.id, 'same id after the outage');
			assert.doesNotMatch(await A.page.textContent('#status'), /Lost the connection/, 'the error is cleared');
		});
	} finally {
		await closeAll(A);
		if (server) await server.stop();
	}
});

for (const colorScheme of ['light', 'dark']) {
	test(`${colorScheme} scheme: every text is at least 4.5:1 against its background`, { skip, timeout: 40000 }, async () => {
		const A = await openApp(browser, srv.baseUrl, { name: 'A', colorScheme, viewport: LAPTOP });
		try {
			/* Put every kind of text on screen: statuses of each kind, a field error, the badge, verdicts, links */
			await A.page.evaluate(() => {
				document.querySelector('#link-only-badge').hidden = false;
				const err = document.querySelector('#peer-id-error');
				err.hidden = false; err.dataset.kind = 'error'; err.textContent = 'An example error under the box';
				document.querySelector('#links').open = true;
				const li = document.createElement('li');
				li.className = 'transfer';
				li.innerHTML = '<strong>From someone</strong><p class="meta">1 MiB of 2 MiB</p><span class="verdict-ok">✓ verified</span> <span class="verdict-bad">✗ failed</span><div class="row"><button class="primary">Accept</button><button class="danger">Revoke</button><button>Decline</button></div>';
				document.querySelector('#transfers').append(li);
			});
			const results = [];
			for (const kind of ['info', 'ok', 'error']) {
				await A.page.evaluate((kind) => { const s = document.querySelector('#status'); s.textContent = `A ${kind} status line`; s.dataset.kind = kind; }, kind);
				const r = await lowContrast(A.page);
				results.push(r);
				assert.deepEqual(r.bad, [], `${colorScheme}, status ${kind}: ${JSON.stringify(r.bad)}`);
			}
			const pick = (re) => results[2].all.filter((x) => re.test(x.what)).map((x) => `${x.what.replace(/ ".*/, '')}=${x.ratio}`);
			console.log(`contrast_${colorScheme}_min=${Math.min(...results.map((r) => r.min))} texts=${results[0].count} ${[...pick(/verdict|primary|danger|status|badge|hint/)].slice(0, 12).join(' ')}`);
			await screenshot(A.page, `ui-contrast-${colorScheme}`);
		} finally {
			await closeAll(A);
		}
	});
}

/* The call screen is dark in both schemes and hidden until a call: measured in a real call, with every kind of
 * text it can show put on screen (the rest of the page is inert then, so only the call screen counts) */
for (const colorScheme of ['light', 'dark']) {
	test(`${colorScheme} scheme: every text on the call screen is at least 4.5:1 (in a call, reconnecting, with a file offer)`, { skip, timeout: 60000 }, async () => {
		const [A, B] = await Promise.all([openApp(browser, srv.baseUrl, { name: 'A', colorScheme, viewport: LAPTOP }), openApp(browser, srv.baseUrl, { name: 'B', colorScheme, viewport: PHONE })]);
		try {
			await within(55000, 'call screen contrast', async () => {
				await establish(A, B);
				const results = [];
				for (const P of [A, B]) {
					await P.page.waitForFunction(() => globalThis.__p2plink.calls.state === 'active', null, { timeout: 20000 });
					await P.page.evaluate(() => {
						for (const id of ['#call-reconnecting', '#call-code-new', '#remote-muted', '#remote-screen', '#call-quality', '#hangup-confirm', '#remote-camoff']) document.querySelector(id).hidden = false;
						document.querySelector('#call-reconnect-left').textContent = 'The connection dropped. Trying for 17 more seconds before the call ends.';
						const li = document.createElement('li');
						li.className = 'transfer';
						li.innerHTML = '<strong>From someone</strong><p class="meta">1 MiB of 2 MiB</p><span class="verdict-ok">✓ verified</span> <span class="verdict-bad">✗ failed</span><div class="row"><button class="primary">Accept</button><button class="danger">Decline</button><button>Save</button></div>';
						document.querySelector('#call-offers').append(li);
					});
					for (const q of ['good', 'fair', 'poor']) {
						for (const kind of ['info', 'ok', 'error']) {
							await P.page.evaluate(({ q, kind }) => {
								const b = document.querySelector('#call-quality'); b.dataset.quality = q; b.textContent = `Connection: ${q}`;
								const s = document.querySelector('#call-status'); s.textContent = `A ${kind} call status`; s.dataset.kind = kind;
							}, { q, kind });
							const r = await lowContrast(P.page);
							results.push(r);
							assert.deepEqual(r.bad, [], `${colorScheme}, ${P.name}, quality ${q}, status ${kind}: ${JSON.stringify(r.bad)}`);
						}
					}
					/* The measurement covered the call screen: its controls and the reconnecting card are in it */
					const whats = results[results.length - 1].all.map((x) => x.what).join(' ');
					for (const id of ['#hangup-btn', '#mute-btn', '#call-reconnect-left', '#call-code-new', '#call-status', '#call-quality']) assert.ok(whats.includes(id), `${id} measured`);
					assert.ok(!/#my-id|#call-btn/.test(whats), 'the page under the call screen is inert, not measured');
					assert.deepEqual(await outOfViewport(P.page, '#call'), [], `${P.name}: call controls inside the viewport with the reconnecting card up`);
					await screenshot(P.page, `ui-call-contrast-${colorScheme}-${P.name}`);
				}
				const lowest = [...new Map(results.flatMap((r) => r.all).sort((x, y) => x.ratio - y.ratio).map((x) => [x.what, x.ratio])).entries()].slice(0, 3);
				console.log(`call_contrast_${colorScheme}_min=${Math.min(...results.map((r) => r.min))} texts=${results[0].count} lowest=${JSON.stringify(lowest)}`);
			});
		} finally {
			await closeAll(A, B);
		}
	});
}

test('the page has an icon: no 404 for it, and the linked icon loads', { skip, timeout: 30000 }, async () => {
	const A = await openApp(browser, srv.baseUrl, { name: 'A' });
	try {
		const href = await A.page.evaluate(() => { const l = document.querySelector('link[rel~=icon]'); return l && l.href; });
		assert.ok(href, 'a <link rel=icon>');
		const r = await A.page.evaluate(async (h) => { const res = await fetch(h); return { status: res.status, type: res.headers.get('content-type') }; }, href);
		assert.equal(r.status, 200, href);
		assert.match(r.type || '', /^image\//);
	} finally {
		await closeAll(A);
	}
});

test('screens at 1280×800: idle, ringing, in call', { skip, timeout: 60000 }, async () => {
	const [A, B] = await Promise.all([openApp(browser, srv.baseUrl, { name: 'A', viewport: LAPTOP }), openApp(browser, srv.baseUrl, { name: 'B', viewport: LAPTOP })]);
	try {
		await within(55000, 'laptop screens', async () => {
			await A.page.fill('#peer-id', B.id);
			assert.deepEqual(await outOfViewport(A.page), []);
			await screenshot(A.page, 'laptop-idle');
			await ring(A, B);
			await screenshot(B.page, 'laptop-incoming');
			await B.page.click('#incoming-accept');
			await A.page.waitForSelector('#call:not([hidden])', { timeout: 15000 });
			await A.page.waitForFunction(() => document.querySelector('#call-security-code').textContent.split(' ').length === 5, null, { timeout: 10000 });
			assert.deepEqual(await outOfViewport(A.page, '#call', true), []);
			await screenshot(A.page, 'laptop-in-call');
			await A.page.click('#hangup-btn');
		});
	} finally {
		await closeAll(A, B);
	}
});

test('your id as a QR code: it opens p2plink with the id in "Their ID"', { skip, timeout: 40000 }, async () => {
	const [A, B] = await Promise.all([openApp(browser, srv.baseUrl, { name: 'A', viewport: PHONE }), openApp(browser, srv.baseUrl, { name: 'B' })]);
	try {
		await A.page.click('#qr-id');
		await A.page.waitForSelector('#my-qr-code svg', { timeout: 5000 });
		assert.deepEqual(await outOfViewport(A.page), [], 'QR panel fits the phone');
		await screenshot(A.page, 'phone-my-qr');
		/* what the QR encodes (the same function made it) opens the app with A's id filled in, and nothing rings */
		const url = await A.page.evaluate(async () => (await import('/js/app.js')).callMeUrl(globalThis.__p2plink.peer.id));
		await B.page.goto(url);
		await B.page.waitForSelector('body[data-ready="1"]', { timeout: 20000 });
		assert.equal(await B.page.inputValue('#peer-id'), A.id);
		assert.equal(await B.page.isDisabled('#call-btn'), false);
		assert.equal(await B.page.evaluate(() => location.hash), '', 'the id is taken out of the address');
		assert.equal(await A.page.evaluate(() => document.querySelector('#incoming').open), false);
	} finally {
		await closeAll(A, B);
	}
});

test('device check: a preview, the camera and microphone to choose from, a moving level meter; all stopped after', { skip, timeout: 40000 }, async () => {
	const A = await openApp(browser, srv.baseUrl, { name: 'A', viewport: PHONE });
	try {
		await A.page.click('#devices-btn');
		await A.page.waitForSelector('#devices[open]', { timeout: 5000 });
		await A.page.waitForFunction(() => document.querySelector('#devices-preview').videoWidth > 0, null, { timeout: 10000 });
		assert.ok(await A.page.locator('#devices-cam option').count() >= 1);
		assert.ok(await A.page.locator('#devices-mic option').count() >= 1);
		await A.page.waitForFunction(() => document.querySelector('#devices-level').value > 0, null, { timeout: 10000 });
		assert.deepEqual(await outOfViewport(A.page, '#devices', true), []);
		await screenshot(A.page, 'phone-device-check');
		const chosen = await A.page.evaluate(() => JSON.parse(localStorage.getItem('p2plink.devices')));
		assert.ok(chosen.cam && chosen.mic, 'the choice is kept for calls');
		await A.page.click('#devices-done');
		assert.equal(await A.page.evaluate(() => document.querySelector('#devices-preview').srcObject), null, 'camera released');
	} finally {
		await closeAll(A);
	}
});

test('the app runs under the transport\'s strict CSP: no violation through a call, a screen share, files, QR, device check, landing', { skip, timeout: 90000 }, async () => {
	/* The policy janus.transport.peerjs sends (transports/http_routes.c app_csp), added here to the documents the
	 * test server serves. Chromium's local-network checks would treat a rewritten document as public and block
	 * its loopback WebSocket, hence the flag. */
	const port = new URL(srv.baseUrl).port;
	const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; " +
		`connect-src 'self' wss://localhost:${port}; font-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`;
	const cspBrowser = await launch({ args: [...CHROMIUM_ARGS, '--disable-features=LocalNetworkAccessChecks'] });
	const watch = () => { globalThis.__csp = []; document.addEventListener('securitypolicyviolation', (e) => globalThis.__csp.push(`${e.violatedDirective} ${e.blockedURI}`)); };
	const open = async (name, path = '/') => {
		const P = await openApp(cspBrowser, srv.baseUrl, { name, initScript: watch, path: '/favicon.svg', ready: false });
		await P.context.route('**/*', async (route) => {
			if (route.request().resourceType() !== 'document') return route.continue();
			const r = await route.fetch();
			return route.fulfill({ response: r, headers: { ...r.headers(), 'content-security-policy': CSP } });
		});
		await P.page.goto(new URL(path, srv.baseUrl).href);
		await P.page.waitForSelector('body[data-ready="1"]', { timeout: 20000 });
		return { ...P, id: (await P.page.textContent('#my-id')).trim() };
	};
	try {
		await within(85000, 'csp', async () => {
			const [A, B] = [await open('A'), await open('B')];
			await A.page.click('#qr-id');
			await A.page.click('#devices-btn');
			await A.page.waitForFunction(() => document.querySelector('#devices-preview').videoWidth > 0, null, { timeout: 10000 });
			await A.page.click('#devices-done');
			await A.page.click('#links > summary');
			await establish(A, B);
			await A.page.click('#screen-btn');
			await B.page.waitForSelector('#remote-screen:not([hidden])', { timeout: 10000 });
			await A.page.evaluate(() => globalThis.__p2plink.files.send(document.querySelector('#peer-id').value.trim(), [new File(['x'], 'x.txt'), new File(['y'], 'y.txt')]));
			await B.page.waitForSelector('#call-offers .accept-btn', { timeout: 20000 });
			const dl = B.page.waitForEvent('download', { timeout: 20000 });
			await B.page.click('#call-offers .accept-btn');
			await dl;
			await A.page.keyboard.press('Escape');
			await A.page.click('#hangup-confirm-yes');
			const V = await open('V', '/l/some-link-token');
			await V.page.waitForSelector('#landing:not([hidden])');
			await V.page.waitForTimeout(500);
			for (const P of [A, B, V]) assert.deepEqual(await P.page.evaluate(() => globalThis.__csp), [], `${P.name}: CSP violations`);
			/* the check can fail: an inline style attribute is reported */
			await V.page.evaluate(() => document.body.insertAdjacentHTML('beforeend', '<div style="color:red">x</div>'));
			await V.page.waitForFunction(() => globalThis.__csp.length > 0, null, { timeout: 3000 });
		});
	} finally {
		await cspBrowser.close();
	}
});

test('a server that refuses the first connections: the app keeps trying (capped backoff) instead of "reload the page"', { skip, timeout: 60000 }, async () => {
	let attempts = 0;
	const A = await openApp(browser, srv.baseUrl, { name: 'A', ready: false, initScript: countWebSockets });
	try {
		/* from now on the first two WebSockets of this context are refused (as while the server restarts) */
		await A.context.routeWebSocket(/\/peerjs\?/, (ws) => {
			attempts++;
			if (attempts <= 2) ws.close({ code: 1011, reason: 'restarting' });
			else ws.connectToServer();
		});
		await A.page.evaluate(() => localStorage.clear());
		await A.page.reload();
		await A.page.waitForFunction(() => /Trying again in/.test(document.querySelector('#status').textContent), null, { timeout: 15000 });
		await screenshot(A.page, 'ui-server-unreachable-retrying');
		await A.page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
		assert.equal(await A.page.evaluate(() => globalThis.__p2plink.peer.open), true);
		assert.ok(attempts >= 3, `${attempts} attempts`);
		assert.doesNotMatch(await A.page.textContent('#status'), /Could not reach/);
	} finally {
		await closeAll(A);
	}
});
