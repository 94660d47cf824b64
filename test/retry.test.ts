// Retries exactly per docs/reliability.md: nothing sent → any method; reset before a response byte →
// idempotent methods only; never after a response byte.
import { once } from 'node:events';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { Agent } from 'undici';
import { closedPort, http, startBaton, startUpstream, waitFor } from './fixtures/harness.ts';

/** A raw TCP upstream: `onRequest(socket, index)` is called for each request head received (index counts
 *  requests on that connection from 0); the body (if Content-Length) is read before the call. */
async function rawUpstream(t: { teardown: (fn: () => unknown) => void }, onRequest: (s: Socket, n: number, head: string, body: string) => void) {
  const heads: string[] = [];
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = '';
    let n = 0;
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.slice(0, end);
        const m = /content-length: *(\d+)/i.exec(head);
        const len = m ? Number(m[1]) : 0;
        if (buf.length < end + 4 + len) return;
        const body = buf.slice(end + 4, end + 4 + len);
        buf = buf.slice(end + 4 + len);
        heads.push(head);
        onRequest(s, n++, head, body);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, heads, sockets };
}

const ok = (s: Socket, body = 'ok') => s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nx-upstream: raw\r\n\r\n${body}`);

t.test('POST to an upstream whose port is closed is re-sent to another, processed exactly once', async (t) => {
  const dead = await closedPort();
  const b = await startUpstream(t, 'b');
  const { port } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [`http://127.0.0.1:${dead}`, b.url] } },
  });
  for (let i = 0; i < 4; i++) {
    const r = await http(port, { method: 'POST', path: `/orders/${i}`, body: `{"id":${i}}` });
    t.equal(r.status, 200);
    t.equal(r.headers['x-upstream'], 'b');
  }
  t.same(
    b.seen.map((s) => [s.method, s.url, s.body]),
    [0, 1, 2, 3].map((i) => ['POST', `/orders/${i}`, `{"id":${i}}`]),
    'each POST reached b exactly once, body intact',
  );
});

t.test('reset on a reused keep-alive socket before any response: GET retried, POST gets 502', async (t) => {
  // upstream A answers the first request on a connection, then resets the connection on the second.
  const a = await rawUpstream(t, (s, n) => {
    if (n === 0) ok(s, 'first');
    else s.resetAndDestroy();
  });
  const b = await startUpstream(t, 'b');
  const { port, app } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url, b.url], passive: { failures: 0 } } },
  });
  const agent = new Agent({ connections: 1 });
  t.teardown(() => agent.close());

  // warm: one request on each upstream (round-robin) so A has a pooled keep-alive socket
  t.equal((await http(port, { agent })).body, 'first');
  t.equal((await http(port, { agent })).headers['x-upstream'], 'b');
  // next pick is A, on the reused socket → reset after the request was written → GET retried on B
  const g = await http(port, { agent, path: '/get-retried' });
  t.equal(g.status, 200, 'GET succeeded');
  t.equal(g.headers['x-upstream'], 'b', 'answered by the other upstream');
  t.equal(a.heads.filter((h) => h.startsWith('GET /get-retried')).length, 1, 'A saw the GET once (then reset)');

  // POST: warm A again, then reset → 502, not retried
  t.equal((await http(port, { agent, path: '/warm' })).body, 'first');
  await http(port, { agent }); // b
  const before = b.seen.length;
  const p = await http(port, { agent, method: 'POST', path: '/post-once', body: 'payload' });
  t.equal(p.status, 502, 'POST after write + reset → 502');
  t.equal(a.heads.filter((h) => h.startsWith('POST /post-once')).length, 1, 'A saw the POST exactly once');
  t.equal(b.seen.slice(before).filter((s) => s.url === '/post-once').length, 0, 'never re-sent to B');
  t.equal(app.registry.services.get('app')!.retries, 1, 'exactly one retry happened (the GET)');
});

t.test('upstream reads a POST and closes without answering → 502, seen exactly once', async (t) => {
  const a = await rawUpstream(t, (s) => s.end());
  const b = await startUpstream(t, 'b');
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url, b.url] } } });
  const r = await http(port, { method: 'POST', path: '/once', body: 'x'.repeat(100) });
  t.equal(r.status, 502);
  t.equal(a.heads.length, 1);
  t.equal(b.seen.length, 0);
});

t.test('upstream dies mid-body: the client sees the truncation promptly, no retry', async (t) => {
  const a = await rawUpstream(t, (s) => {
    s.write('HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n' + 'x'.repeat(1000));
    setTimeout(() => s.destroy(), 50);
  });
  const b = await startUpstream(t, 'b');
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url, b.url] } } });
  const started = Date.now();
  await t.rejects(http(port, { path: '/big' }), 'client body read fails (truncated)');
  t.ok(Date.now() - started < 2000, 'promptly');
  t.equal(b.seen.length, 0, 'not retried');
});

t.test('keep-alive race: upstream keepAliveTimeout 1 s, requests about every second → no 502', async (t) => {
  const a = await startUpstream(t, 'a', undefined, { keepAliveTimeout: 1000 });
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } } });
  const agent = new Agent({ connections: 1 });
  t.teardown(() => agent.close());
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) {
    statuses.push((await http(port, { agent })).status);
    await new Promise((r) => setTimeout(r, 950 + (i % 3) * 50)); // 950, 1000, 1050 ms
  }
  t.same(statuses, Array(8).fill(200));
});

t.test('keep-alive race without a Keep-Alive hint: upstream closes idle sockets at 1 s → no 502 for GETs', async (t) => {
  // A raw upstream that never advertises its idle timeout and closes an idle connection after exactly 1 s:
  // baton's pool (4 s idle) will sometimes write onto a socket the upstream is closing.
  const a = await rawUpstream(t, (s) => {
    ok(s);
    const sock = s as Socket & { idleTimer?: NodeJS.Timeout };
    clearTimeout(sock.idleTimer);
    sock.idleTimer = setTimeout(() => s.end(), 1000);
  });
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url], passive: { failures: 0 } } } });
  const agent = new Agent({ connections: 1 });
  t.teardown(() => agent.close());
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) {
    statuses.push((await http(port, { agent })).status);
    await new Promise((r) => setTimeout(r, 990 + (i % 3) * 10));
  }
  t.same(statuses, Array(8).fill(200));
});

t.test('an upstream killed under load → zero failed GETs', async (t) => {
  const a = await startUpstream(t, 'a');
  const b = await startUpstream(t, 'b');
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url, b.url] } } });
  const agent = new Agent({ connections: 16 });
  t.teardown(() => agent.close());
  const results: number[] = [];
  const errors: string[] = [];
  const deadline = Date.now() + 2500;
  let killed = false;
  const worker = async () => {
    for (let i = 0; i < 2000 && Date.now() < deadline; i++) {
      try {
        results.push((await http(port, { agent, path: `/w/${i}` })).status);
      } catch (err) {
        errors.push((err as Error).message);
      }
      if (!killed && results.length >= 200) {
        killed = true;
        void a.kill();
      }
    }
  };
  await Promise.all(Array.from({ length: 10 }, worker));
  t.ok(killed, 'upstream a was killed mid-run');
  t.ok(results.length > 300, `load ran (${results.length} requests)`);
  t.same(errors, [], 'no socket errors');
  t.same(results.filter((s) => s !== 200), [], 'every GET answered 200');
});

t.test('retries are bounded by count', async (t) => {
  const dead = await Promise.all([closedPort(), closedPort(), closedPort(), closedPort()]);
  const { port, app } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: dead.map((p) => `http://127.0.0.1:${p}`), retries: 2, passive: { failures: 0 } } },
  });
  const r = await http(port);
  t.equal(r.status, 502);
  t.equal(r.headers['x-baton-error'], 'upstream_unreachable');
  t.equal(app.registry.services.get('app')!.retries, 2);
});

t.test('client headers never trigger retries; a 5xx answer is relayed, not retried', async (t) => {
  const a = await startUpstream(t, 'a', (req, res) => {
    res.writeHead(503);
    res.end('busy');
  });
  const b = await startUpstream(t, 'b');
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url, b.url] } } });
  const r = await http(port, { headers: { 'x-retry': '5', 'retry-after': '0' } });
  t.equal(r.status, 503);
  t.equal(r.body, 'busy');
  t.equal(b.seen.length, 0);
  await waitFor(() => a.seen.length === 1);
});
