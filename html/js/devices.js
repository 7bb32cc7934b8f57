/*
 * devices.js — the device check before a call (and on the link landing page): a preview of the camera, the choice
 * of camera and microphone (kept on this device, media.js uses it for calls), and a microphone level meter so
 * people see that they will be heard. Everything stops when the dialog closes.
 * Not for: the call's own media (media.js, call.js).
 */
import { $, el } from './ui.js';
import { chosenDevices, chooseDevices, stopStream } from './media.js';

export class DeviceCheck {
	constructor() {
		this.stream = null;
		this.raf = 0;
		this.ctx = null;
		for (const b of document.querySelectorAll('.devices-btn')) b.addEventListener('click', () => this.open());
		// Stopped at once: the dialog's close event comes a task later, and the camera light should go off on the click
		$('#devices-done').addEventListener('click', () => { this._stop(); $('#devices').close(); });
		$('#devices').addEventListener('close', () => this._stop());
		$('#devices-cam').addEventListener('change', () => this._start());
		$('#devices-mic').addEventListener('change', () => this._start());
	}

	async open() {
		$('#devices').showModal();
		const { cam, mic } = chosenDevices();
		await this._start(cam, mic);
		await this._fill();
	}

	async _fill() {
		let list = [];
		try { list = await navigator.mediaDevices.enumerateDevices(); } catch { /* none */ }
		const fill = (sel, kind, current) => {
			const opts = list.filter((d) => d.kind === kind);
			sel.replaceChildren(...opts.map((d, i) => el('option', { value: d.deviceId, selected: d.deviceId === current || undefined }, d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${i + 1}`)));
			sel.disabled = opts.length < 2;
		};
		const track = (k) => this.stream && this.stream.getTracks().find((t) => t.kind === k);
		const cur = (k) => { const t = track(k); return t && t.getSettings ? t.getSettings().deviceId : null; };
		fill($('#devices-cam'), 'videoinput', cur('video'));
		fill($('#devices-mic'), 'audioinput', cur('audio'));
	}

	async _start(cam = $('#devices-cam').value, mic = $('#devices-mic').value) {
		this._stop();
		const err = $('#devices-error');
		err.hidden = true;
		try {
			this.stream = await navigator.mediaDevices.getUserMedia({
				video: cam ? { deviceId: { exact: cam } } : true,
				audio: mic ? { deviceId: { exact: mic } } : true,
			});
		} catch (e) {
			if (!$('#devices').open) return;
			err.hidden = false;
			err.textContent = `The camera or microphone could not be started (${(e && e.name) || e}). Check the browser's site permissions.`;
			return;
		}
		// Closed while the camera was starting: release it instead of showing it to nobody
		if (!$('#devices').open) { this._stop(); return; }
		$('#devices-preview').srcObject = this.stream;
		const s = (k) => { const t = this.stream.getTracks().find((x) => x.kind === k); return t ? t.getSettings().deviceId : null; };
		chooseDevices(s('video'), s('audio'));
		this._meter();
	}

	_meter() {
		try {
			const AC = globalThis.AudioContext;
			this.ctx = new AC();
			const src = this.ctx.createMediaStreamSource(this.stream);
			const an = this.ctx.createAnalyser();
			an.fftSize = 512;
			src.connect(an);
			const buf = new Float32Array(an.fftSize);
			const tick = () => {
				an.getFloatTimeDomainData(buf);
				let peak = 0;
				for (const v of buf) peak = Math.max(peak, Math.abs(v));
				$('#devices-level').value = Math.min(1, peak);
				this.raf = requestAnimationFrame(tick);
			};
			tick();
		} catch { /* no meter: the preview still shows */ }
	}

	_stop() {
		cancelAnimationFrame(this.raf);
		if (this.ctx) { this.ctx.close().catch(() => {}); this.ctx = null; }
		stopStream(this.stream);
		this.stream = null;
		$('#devices-preview').srcObject = null;
		$('#devices-level').value = 0;
	}
}
