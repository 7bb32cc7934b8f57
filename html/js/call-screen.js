/*
 * call-screen.js — the in-call screen as a modal: while it is up, everything else on the page is inert (no focus,
 * no clicks, hidden from assistive technology), Tab and Shift+Tab cycle inside it, and Escape asks "Hang up?"
 * instead of hanging up (Escape is also how people close menus; a call must not end by accident).
 * It is a <section> with `inert` on its siblings rather than a modal <dialog>: Chromium closes a modal dialog on
 * a second Escape whatever the page does (close-watcher rules), which would hide a running call.
 * Not for: the call itself (call.js).
 */
import { $ } from './ui.js';

const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), [tabindex]:not([tabindex="-1"])';

export class CallScreen {
	constructor({ onHangup }) {
		this.root = $('#call');
		this.confirm = $('#hangup-confirm');
		this.onHangup = onHangup;
		this.shown = false;
		this.root.addEventListener('keydown', (e) => this._onKey(e));
		$('#hangup-confirm-yes').addEventListener('click', () => { this._closeConfirm(); this.onHangup(); });
		$('#hangup-confirm-no').addEventListener('click', () => this._closeConfirm(true));
		/* Focus that lands outside while the screen is up (a click on the page under it is impossible, but
		 * script focus is not) comes back. */
		document.addEventListener('focusin', (e) => {
			if (this.shown && !this.root.contains(e.target)) this._first().focus();
		});
	}

	_siblings() { return Array.from(document.body.children).filter((n) => n !== this.root && n.tagName !== 'SCRIPT'); }

	show() {
		if (this.shown) return;
		this.shown = true;
		for (const n of this._siblings()) n.inert = true;
		document.body.classList.add('in-call');
		this.root.hidden = false;
		$('#hangup-btn').focus();
	}

	hide() {
		if (!this.shown) { this.root.hidden = true; return; }
		this.shown = false;
		this._closeConfirm();
		this.root.hidden = true;
		document.body.classList.remove('in-call');
		for (const n of this._siblings()) n.inert = false;
	}

	_focusables() { return Array.from(this.root.querySelectorAll(FOCUSABLE)).filter((n) => n.offsetParent !== null || n === document.activeElement); }
	_first() { return this._focusables()[0] || this.root; }

	_onKey(e) {
		if (e.key === 'Escape') {
			e.preventDefault();
			if (this.confirm.hidden) this._openConfirm(); else this._closeConfirm(true);
			return;
		}
		if (e.key !== 'Tab') return;
		const list = this.confirm.hidden ? this._focusables() : Array.from(this.confirm.querySelectorAll('button'));
		if (!list.length) return;
		const i = list.indexOf(document.activeElement);
		if (e.shiftKey && (i <= 0)) { e.preventDefault(); list[list.length - 1].focus(); }
		else if (!e.shiftKey && (i === -1 || i === list.length - 1)) { e.preventDefault(); list[0].focus(); }
	}

	_openConfirm() {
		this.confirm.hidden = false;
		$('#hangup-confirm-no').focus();
	}

	_closeConfirm(refocus = false) {
		if (this.confirm.hidden) return;
		this.confirm.hidden = true;
		if (refocus) $('#hangup-btn').focus();
	}
}
