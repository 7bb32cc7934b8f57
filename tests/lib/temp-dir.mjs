// Temporary folders of one test file (Janus configs and logs, certificates, link stores).
//
// node --test runs every file in its own process: when that process exits with every test passed, the folders it
// made go; when something failed they stay, since failure messages name the Janus log inside them. Set
// P2PLINK_KEEP_TEST_DIRS=1 to keep them anyway. Without this a CI box gathered thousands of folders per run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made = new Set();

process.on('exit', (code) => {
	if (code !== 0 || process.env.P2PLINK_KEEP_TEST_DIRS) return;
	for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

// A new folder under $TMPDIR named prefix + random suffix, removed at a clean exit of this process
export function tempDir(prefix) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
	made.add(dir);
	return dir;
}
