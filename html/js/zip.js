/*
 * zip.js — one .zip download for many received files (browsers drop rapid successive downloads: 20 files gave
 * 15–16 downloads in issue 12). Entries are stored, not compressed: the bytes are already in Blobs, and a Blob of
 * [header, file blob, header, file blob, …, directory] is built without copying them. CRC-32 is computed while the
 * bytes arrive (Crc32). No ZIP64: callers use it only while the total stays under 4 GiB.
 * Not for: reading zips, compression.
 */
const TABLE = (() => {
	const t = new Uint32Array(256);
	for (let n = 0; n < 256; n++) {
		let c = n;
		for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		t[n] = c >>> 0;
	}
	return t;
})();

export class Crc32 {
	constructor() { this.c = 0xffffffff; }
	update(u8) {
		let c = this.c;
		for (let i = 0; i < u8.length; i++) c = TABLE[(c ^ u8[i]) & 0xff] ^ (c >>> 8);
		this.c = c;
	}
	value() { return (this.c ^ 0xffffffff) >>> 0; }
}

export const ZIP_MAX_BYTES = 0xffffffff - 1024 * 1024;

function dosTime(d) {
	return {
		time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
		date: ((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
	};
}

/* entries: [{name, blob, crc}] → Blob (application/zip). Names are UTF-8 (flag bit 11). */
export function buildZip(entries, now = new Date()) {
	const enc = new TextEncoder();
	const { time, date } = dosTime(now);
	const parts = [];
	const central = [];
	let offset = 0;
	for (const e of entries) {
		const name = enc.encode(e.name);
		const size = e.blob.size;
		const local = new DataView(new ArrayBuffer(30));
		local.setUint32(0, 0x04034b50, true);
		local.setUint16(4, 20, true);
		local.setUint16(6, 0x0800, true);
		local.setUint16(8, 0, true);
		local.setUint16(10, time, true);
		local.setUint16(12, date, true);
		local.setUint32(14, e.crc, true);
		local.setUint32(18, size, true);
		local.setUint32(22, size, true);
		local.setUint16(26, name.length, true);
		local.setUint16(28, 0, true);
		parts.push(local.buffer, name, e.blob);
		const cd = new DataView(new ArrayBuffer(46));
		cd.setUint32(0, 0x02014b50, true);
		cd.setUint16(4, 20, true);
		cd.setUint16(6, 20, true);
		cd.setUint16(8, 0x0800, true);
		cd.setUint16(10, 0, true);
		cd.setUint16(12, time, true);
		cd.setUint16(14, date, true);
		cd.setUint32(16, e.crc, true);
		cd.setUint32(20, size, true);
		cd.setUint32(24, size, true);
		cd.setUint16(28, name.length, true);
		cd.setUint32(42, offset, true);
		central.push(cd.buffer, name);
		offset += 30 + name.length + size;
	}
	const cdSize = central.reduce((a, b) => a + b.byteLength, 0);
	const end = new DataView(new ArrayBuffer(22));
	end.setUint32(0, 0x06054b50, true);
	end.setUint16(8, entries.length, true);
	end.setUint16(10, entries.length, true);
	end.setUint32(12, cdSize, true);
	end.setUint32(16, offset, true);
	return new Blob([...parts, ...central, end.buffer], { type: 'application/zip' });
}
