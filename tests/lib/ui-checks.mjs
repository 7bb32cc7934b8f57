/*
 * ui-checks.mjs — what the e2e tests measure on a page rather than click: controls outside the viewport, text
 * contrast from computed styles (WCAG 2 relative luminance), where focus is. Each runs inside the page.
 */

/* Visible controls that stick out of the viewport (horizontally; also vertically when `vertical`), inside `scope` */
export const outOfViewport = (page, scope = 'body', vertical = false) => page.evaluate(({ scope, vertical }) => {
	const root = document.querySelector(scope);
	const W = innerWidth, H = innerHeight;
	const out = [];
	if (document.documentElement.scrollWidth > W) out.push(`page is ${document.documentElement.scrollWidth}px wide (viewport ${W})`);
	for (const n of root.querySelectorAll('button, input:not([type=file]), select, textarea, a[href], summary, [role=button], progress')) {
		const r = n.getBoundingClientRect();
		const st = getComputedStyle(n);
		if (r.width === 0 || r.height === 0 || st.visibility === 'hidden') continue;
		if (n.closest('[hidden]')) continue;
		if (r.left < -0.5 || r.right > W + 0.5 || (vertical && (r.top < -0.5 || r.bottom > H + 0.5)))
			out.push(`${n.tagName.toLowerCase()}#${n.id || ''}.${n.className || ''} "${(n.textContent || n.value || '').trim().slice(0, 30)}" at ${Math.round(r.left)}..${Math.round(r.right)} × ${Math.round(r.top)}..${Math.round(r.bottom)}`);
	}
	return out;
}, { scope, vertical });

/* Every visible element with its own text: [{what, ratio}] below `min` (default 4.5) */
export const lowContrast = (page, min = 4.5) => page.evaluate((min) => {
	const parse = (c) => {
		const m = /rgba?\(([^)]+)\)/.exec(c);
		if (!m) return null;
		const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
		return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
	};
	const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
	const lum = (c) => 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
	const over = (top, bottom) => ({ r: top.r * top.a + bottom.r * (1 - top.a), g: top.g * top.a + bottom.g * (1 - top.a), b: top.b * top.a + bottom.b * (1 - top.a), a: 1 });
	const background = (n) => {
		const layers = [];
		for (let e = n; e; e = e.parentElement) {
			const c = parse(getComputedStyle(e).backgroundColor);
			if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
		}
		let bg = parse(getComputedStyle(document.documentElement).backgroundColor);
		if (!bg || bg.a === 0) bg = matchMedia('(prefers-color-scheme: dark)').matches ? { r: 18, g: 18, b: 18, a: 1 } : { r: 255, g: 255, b: 255, a: 1 };
		for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
		return bg;
	};
	const bad = [];
	const all = [];
	for (const n of document.querySelectorAll('body *')) {
		const own = Array.from(n.childNodes).some((c) => c.nodeType === 3 && c.textContent.trim() !== '');
		if (!own) continue;
		const r = n.getBoundingClientRect();
		if (r.width === 0 || r.height === 0 || n.closest('[hidden], .offscreen, [inert]')) continue;
		let op = 1;
		for (let e = n; e; e = e.parentElement) op *= Number(getComputedStyle(e).opacity);
		if (n.closest(':disabled') || op < 1) continue; /* disabled controls are exempt (WCAG 1.4.3) */
		const fg = parse(getComputedStyle(n).color);
		const bg = background(n);
		const L1 = lum(over(fg, bg)), L2 = lum(bg);
		const ratio = (Math.max(L1, L2) + 0.05) / (Math.min(L1, L2) + 0.05);
		const what = `${n.tagName.toLowerCase()}${n.id ? `#${n.id}` : ''}${n.className && typeof n.className === 'string' ? `.${n.className.split(' ').join('.')}` : ''} "${n.textContent.trim().slice(0, 24)}"`;
		all.push({ what, ratio: Math.round(ratio * 100) / 100 });
		if (ratio < min) bad.push({ what, ratio: Math.round(ratio * 100) / 100 });
	}
	return { bad, min: all.reduce((m, x) => Math.min(m, x.ratio), Infinity), count: all.length, all };
}, min);

/* Is the focused element inside `sel`? (and what it is) */
export const focusInside = (page, sel) => page.evaluate((sel) => {
	const a = document.activeElement;
	return { inside: !!(a && document.querySelector(sel).contains(a)), what: a ? `${a.tagName}#${a.id}` : 'none' };
}, sel);
