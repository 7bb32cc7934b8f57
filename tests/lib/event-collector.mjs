// A small HTTP collector for Janus's sample HTTP event handler (janus.eventhandler.sampleevh): keeps every POSTed
// body and the events in it (an array when the handler groups them), so tests can wait for one of our plugin's
// events; the demo uses it to show operators what their collector would receive.
//   const col = await startEventCollector();              col.url -> the handler's `backend`
//   await col.waitFor((d) => d.event === 'peer-open', 'peer-open')   -> the plugin event's data
// Not a server for production: loopback only, no authentication.
import http from 'node:http';

export async function startEventCollector({ onEvent } = {}) {
	const col = { events: [], bodies: [], contentTypes: new Set() };
	col.server = http.createServer((req, res) => {
		let body = '';
		req.on('data', (d) => { body += d; });
		req.on('end', () => {
			col.bodies.push(body);
			col.contentTypes.add(req.headers['content-type']);
			let events = [];
			try { events = [JSON.parse(body)].flat(); } catch { /* kept in bodies only */ }
			col.events.push(...events);
			if (onEvent) events.forEach(onEvent);
			res.end();
		});
	});
	await new Promise((resolve) => col.server.listen(0, '127.0.0.1', resolve));
	col.url = `http://127.0.0.1:${col.server.address().port}/p2plink-events`;
	/* Our plugin's event data, in arrival order */
	col.ours = () => col.events.filter((e) => e.event?.plugin === 'janus.plugin.p2plink').map((e) => e.event.data);
	col.waitFor = async (pred, what, ms = 8000) => {
		const deadline = Date.now() + ms;
		for (;;) {
			const hit = col.ours().find(pred);
			if (hit) return hit;
			if (Date.now() > deadline) throw new Error(`no ${what} event within ${ms} ms; got ${JSON.stringify(col.ours())}`);
			await new Promise((r) => setTimeout(r, 50));
		}
	};
	col.close = () => new Promise((resolve) => col.server.close(resolve));
	return col;
}
