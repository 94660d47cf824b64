// The Node floor to beat: a bare reverse proxy on undici's Pool.dispatch (one keep-alive pool to the upstream),
// node:http in front, streaming both ways with backpressure, hop-by-hop headers dropped, a client that goes away
// aborting its upstream request. No routing, no health, no retries, no logs.
// `node bench/refs/undici-bare.ts <port> <upstream port>`.
import http from 'node:http';
import { Pool, type Dispatcher } from 'undici';

const [port, upstream] = process.argv.slice(2).map(Number);
const origin = `http://127.0.0.1:${upstream}`;
const pool = new Pool(origin, { connections: 64, keepAliveTimeout: 60_000 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'upgrade', 'trailer']);

function forwardable(headers: http.IncomingHttpHeaders | Record<string, string | string[] | undefined>) {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  return out;
}

http
  .createServer((req, res) => {
    const body = req.method === 'GET' || req.method === 'HEAD' ? null : req;
    let controller: Dispatcher.DispatchController | null = null;
    let ended = false;
    res.on('error', () => {}); // a client gone mid-write: the close below aborts the upstream side
    res.on('close', () => {
      if (!ended) controller?.abort(new Error('client closed'));
    });
    const handler: Dispatcher.DispatchHandler = {
      // undici takes a handler for its current API by this method (without it: the legacy onHeaders/onData one)
      onRequestStart(c) {
        controller = c;
      },
      onResponseStart(c, status, headers) {
        res.writeHead(status, forwardable(headers));
        res.on('drain', () => c.resume());
      },
      onResponseData(c, chunk) {
        if (!res.destroyed && !res.write(chunk)) c.pause();
      },
      onResponseEnd() {
        ended = true;
        res.end();
      },
      onResponseError(_c, err) {
        ended = true;
        if (res.headersSent || res.destroyed) res.destroy(err);
        else res.writeHead(502).end();
      },
    };
    const method = req.method as Dispatcher.HttpMethod;
    pool.dispatch({ origin, path: req.url ?? '/', method, headers: forwardable(req.headers), body }, handler);
  })
  .listen(port, '127.0.0.1');
