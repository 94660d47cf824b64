// @fastify/http-proxy (undici underneath, through @fastify/reply-from), logger off:
// `node bench/refs/fastify-proxy.ts <port> <upstream>`.
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';

const [port, upstream] = process.argv.slice(2).map(Number);
const app = Fastify({ logger: false });
await app.register(proxy, { upstream: `http://127.0.0.1:${upstream}` });
await app.listen({ port, host: '127.0.0.1' });
