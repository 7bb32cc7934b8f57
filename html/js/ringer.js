/*
 * ringer.js — make an incoming call noticeable: a ring tone (WebAudio, no audio file), the tab title, and a system
 * notification when the person allowed them (app.js offers the switch). All stop on stop().
 * Browsers only play sound after the page had a user gesture; without one the title and notification still work.
 */
export class Ringer {
	constructor() {
		this.timer = null;
		this.title = document.title;
		this.note = null;
		this.ctx = null;
	}

	start(title, body) {
		this.stop();
		this.title = document.title;
		let flip = false;
		document.title = `📞 ${title}`;
		this._beep();
		this.timer = setInterval(() => {
			flip = !flip;
			document.title = flip ? `📞 ${title}` : this.title;
			if (!flip) this._beep();
		}, 1000);
		if (typeof Notification === 'function' && Notification.permission === 'granted') {
			try {
				this.note = new Notification(title, { body, tag: 'p2plink-call', requireInteraction: true });
				this.note.onclick = () => { window.focus(); this.note && this.note.close(); };
			} catch { this.note = null; }
		}
		this.ringing = true;
	}

	_beep() {
		try {
			const AC = globalThis.AudioContext || globalThis.webkitAudioContext;
			if (!AC) return;
			this.ctx = this.ctx || new AC();
			if (this.ctx.state === 'suspended') this.ctx.resume().catch(() => {});
			const t = this.ctx.currentTime;
			for (const [f, at] of [[880, 0], [660, 0.25]]) {
				const o = this.ctx.createOscillator();
				const g = this.ctx.createGain();
				o.frequency.value = f;
				g.gain.setValueAtTime(0.0001, t + at);
				g.gain.exponentialRampToValueAtTime(0.2, t + at + 0.02);
				g.gain.exponentialRampToValueAtTime(0.0001, t + at + 0.22);
				o.connect(g).connect(this.ctx.destination);
				o.start(t + at);
				o.stop(t + at + 0.25);
			}
		} catch { /* no audio: title and notification remain */ }
	}

	stop() {
		if (this.timer) { clearInterval(this.timer); this.timer = null; document.title = this.title; }
		if (this.note) { try { this.note.close(); } catch { /* gone */ } this.note = null; }
		this.ringing = false;
	}
}
