// A scripted MongoDB wire-protocol server for the integration tests: tests/unit/mongo_wire_mock.py (Debian's
// python3-mockupdb) run as a child, so a test sees every command our MongoDB store sends through libmongoc and
// chooses every answer. It is not a database: each test answers from what it expects at that step.
//   const mongo = await MongoWire.start();          // null reason in mongo.skip when mockupdb is missing
//   mongo.answer('insert', (cmd) => ({ ok: 1, n: 1 }));
//   const cmd = await mongo.next('insert');          // the next insert our store sent (already answered)
// Commands with no answer registered get an error reply and are kept in mongo.unexpected.
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { repoRoot } from './janus.mjs';

// Debian's python: the python3 first on PATH may be a separate build that does not see Debian's modules
const PYTHON = '/usr/bin/python3';
const MOCK = path.join(repoRoot, 'tests', 'unit', 'mongo_wire_mock.py');

export class MongoWire {
	static async start(port) {
		const m = new MongoWire();
		m.child = spawn(PYTHON, [MOCK, ...(port ? [String(port)] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
		m.exited = new Promise((resolve) => m.child.on('exit', resolve));
		const lines = readline.createInterface({ input: m.child.stdout });
		const first = await new Promise((resolve, reject) => {
			const timer = setTimeout(() => reject(new Error('mongo_wire_mock.py did not start')), 15000);
			lines.once('line', (line) => { clearTimeout(timer); resolve(line); });
			m.child.once('error', reject);
		});
		if (first.startsWith('SKIP ')) {
			m.skip = first.slice(5);
			return m;
		}
		m.port = Number(/^PORT (\d+)$/.exec(first)[1]);
		lines.on('line', (line) => m._request(line));
		return m;
	}

	constructor() {
		this.skip = null;
		this.answers = new Map();
		this.seen = [];
		this.unexpected = [];
		this.waiters = [];
		this.cursor = {};	// per command name: how far next(name) has read in seen
	}

	get uri() { return `mongodb://127.0.0.1:${this.port}`; }

	// fn(command document) → the reply document, or 'HANGUP' to drop the connection
	answer(name, fn) { this.answers.set(name.toLowerCase(), fn); }

	_request(line) {
		const tab = line.indexOf('\t');
		const name = line.slice(0, tab);
		const cmd = JSON.parse(line.slice(tab + 1));
		const fn = this.answers.get(name.toLowerCase());
		let reply;
		if (fn) reply = fn(cmd);
		else {
			this.unexpected.push({ name, cmd });
			reply = { ok: 0, errmsg: `${name} is not expected by this test`, code: { $numberInt: '59' } };
		}
		this.child.stdin.write(reply === 'HANGUP' ? 'HANGUP\n' : `${JSON.stringify(reply)}\n`);
		this.seen.push({ name, cmd });
		for (const w of this.waiters.splice(0)) w();
	}

	// The next command named `name` that arrived since the last next(name) (answered by then), within timeoutMs
	async next(name, timeoutMs = 10000) {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const from = this.cursor[name] || 0;
			const i = this.seen.findIndex((s, k) => k >= from && s.name.toLowerCase() === name.toLowerCase());
			if (i >= 0) {
				this.cursor[name] = i + 1;
				return this.seen[i].cmd;
			}
			const left = deadline - Date.now();
			if (left <= 0) throw new Error(`no ${name} command within ${timeoutMs} ms; saw ${this.seen.map((s) => s.name).join(', ')}`);
			await new Promise((resolve) => { this.waiters.push(resolve); setTimeout(resolve, left); });
		}
	}

	async stop() {
		if (!this.child || this.child.exitCode !== null) return;
		this.child.stdin.end();	// EOF stops the server
		const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
		await this.exited;
		clearTimeout(timer);
	}
}
