// http-proxy-3 (the maintained http-proxy) with a keep-alive agent:
// `node bench/refs/http-proxy-3.ts <port> <upstream port>`.
import http from 'node:http';
import { createProxyServer } from 'http-proxy-3';

const [port, upstream] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const proxy = createProxyServer({ target: `http://127.0.0.1:${upstream}`, agent });
proxy.on('error', (_err, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502).end();
});
http.createServer((req, res) => proxy.web(req, res)).listen(port, '127.0.0.1');
