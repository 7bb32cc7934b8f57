// The reference PeerJS server (npm `peer`, PeerServer) with the bench's settings, as its own process so the
// bench can pin it to a CPU and read its /proc. Usage: node bench/ref-server.mjs <port> [cert.pem key.pem]
// Prints "READY <port>" once listening. REF_CONCURRENT_LIMIT (env): its concurrent_limit (default 100000).
import fs from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { PeerServer } = require('peer');

const [port, cert, key] = process.argv.slice(2);
const options = {
	port: Number(port), host: '127.0.0.1', path: '/', key: 'peerjs',
	concurrent_limit: Number(process.env.REF_CONCURRENT_LIMIT || 100000), alive_timeout: 60000, expire_timeout: 5000, allow_discovery: false,
};
if (cert) options.ssl = { cert: fs.readFileSync(cert), key: fs.readFileSync(key) };
const server = PeerServer(options, () => { console.log(`READY ${port}`); });
server.on('error', (e) => console.error('peer error:', e && e.message));
process.on('SIGTERM', () => process.exit(0));
