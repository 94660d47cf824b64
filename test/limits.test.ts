// Slow clients and limits: docs/reliability.md items 15–18. Real sockets against a real baton App; upstreams are
// real HTTP servers that record whether each request they got was completed, or aborted under them.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { http, raw, startBaton, startUpstream, waitFor } from './fixtures/harness.ts';

type Tap = { teardown: (fn: () => unknown) => void; comment: (...args: unknown[]) => void };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Observed {
  url: string;
  /** request body bytes received */
  bytes: number;
  /** the whole request body arrived */
  complete: boolean;
  /** the request (or its connection) closed before the exchange finished */
  aborted: boolean;
  /** response bytes the upstream managed to write */
  written: number;
  /** the response was fully written */
  finished: boolean;
}

/** An upstream that records each request's fate. `respond` runs at request start (body may still be coming). */
async function observingUpstream(
  t: Tap,
  respond: (req: IncomingMessage, res: ServerResponse, o: Observed) => void = (req, res) => req.on('end', () => res.end('ok')),
): Promise<{ url: string; seen: Observed[]; sockets: Set<Socket> }> {
  const seen: Observed[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const o: Observed = { url: req.url!, bytes: 0, complete: false, aborted: false, written: 0, finished: false };
    seen.push(o);
    req.on('data', (c: Buffer) => (o.bytes += c.length));
    req.on('end', () => (o.complete = true));
    res.on('finish', () => (o.finished = true));
    res.on('close', () => {
      if (!o.finished) o.aborted = true;
    });
    respond(req, res, o);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, sockets };
}

function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m !== null) return m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    // not Linux
  }
  return 1024;
}

function connectOnce(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

// ── 15. slowloris ───────────────────────────────────────────────────────────────────────────────────────────

t.test('15. slowloris: 1,000 dribbling connections closed after the header timeout; normal clients unaffected', async (t) => {
  const HEADER_TIMEOUT_MS = 1000;
  const WANTED = 1000;
  // each attacking connection costs two descriptors here (client and baton side); keep 300 spare
  const limit = openFileLimit();
  const n = Math.max(50, Math.min(WANTED, Math.floor((limit - 300) / 2)));
  if (n < WANTED) t.comment(`open-file limit is ${limit}: running slowloris with ${n} connections instead of ${WANTED}`);

  // an emitter that gains a listener per connection would warn here (MaxListenersExceededWarning)
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));

  const a = await startUpstream(t, 'a');
  const { app, port } = await startBaton(t, {
    log: { level: 'warn', accessLog: false },
    timeouts: { header: `${HEADER_TIMEOUT_MS}ms` },
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } },
  });
  const ep = app.entrypoints.get('web')!;

  interface Loris {
    s: Socket;
    openedAt: number;
    closedAt: number;
    data: string;
  }
  const lorises: Loris[] = [];
  t.teardown(() => {
    for (const l of lorises) l.s.destroy();
  });
  // open in batches so the listen backlog never overflows
  for (let i = 0; i < n; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => connectOnce(port).then((s) => ({ s, at: Date.now() }))));
    for (const { s, at } of batch) {
      const l: Loris = { s, openedAt: at, closedAt: 0, data: '' };
      s.on('error', () => {});
      s.on('data', (d) => (l.data += d.toString('latin1')));
      s.on('close', () => (l.closedAt = Date.now()));
      s.write('GET / HTTP/1.1\r\nHost: app.test\r\nX-Slow: ');
      lorises.push(l);
    }
  }
  const attackStarted = Date.now();
  t.equal(lorises.length, n, `${n} slow connections open`);
  const dribble = setInterval(() => {
    for (const l of lorises) if (l.closedAt === 0 && !l.s.destroyed) l.s.write('a');
  }, 200);
  t.teardown(() => clearInterval(dribble));

  // a normal client keeps being served during the attack (fresh connection per request)
  let normalOk = 0;
  let normalFailed = 0;
  const deadline = attackStarted + HEADER_TIMEOUT_MS + 4000;
  while (Date.now() < deadline && lorises.some((l) => l.closedAt === 0)) {
    const started = Date.now();
    try {
      const r = await http(port, { path: '/normal' });
      if (r.status === 200 && Date.now() - started < 1000) normalOk++;
      else normalFailed++;
    } catch {
      normalFailed++;
    }
    await sleep(50);
  }
  clearInterval(dribble);

  const open = lorises.filter((l) => l.closedAt === 0);
  t.equal(open.length, 0, 'every slow connection was closed by baton within header timeout + 4 s');
  const lifetimes = lorises.filter((l) => l.closedAt !== 0).map((l) => l.closedAt - l.openedAt);
  const early = lifetimes.filter((ms) => ms < HEADER_TIMEOUT_MS - 100).length;
  t.equal(early, 0, 'none was closed before the header timeout');
  const latest = Math.max(...lorises.map((l) => l.closedAt)) - attackStarted;
  t.ok(latest < HEADER_TIMEOUT_MS + 3000, `the last one closed ${latest} ms after the attack started`);
  const odd = lorises.filter((l) => l.data !== '' && !/^HTTP\/1\.1 408 /.test(l.data));
  t.equal(odd.length, 0, 'each got a 408 or a plain close, nothing else');
  t.comment(`${lorises.filter((l) => l.data.startsWith('HTTP/1.1 408')).length} of ${n} got a 408 before the close`);
  t.ok(normalOk >= 5, `normal requests kept succeeding during the attack (${normalOk} ok)`);
  t.equal(normalFailed, 0, 'no normal request failed or took over a second');
  t.ok(a.seen.every((s) => s.url === '/normal'), 'no slowloris request reached the upstream');
  await waitFor(() => ep.connections === 0, 3000, 'baton connection count back to zero');
  t.same(warnings.filter((w) => /MaxListeners|EMFILE|ENFILE/.test(w)), [], 'no listener-leak or descriptor warnings');
});

// ── 16. slow body, slow read ────────────────────────────────────────────────────────────────────────────────

t.test('16. slow body: closed at the request timeout, the upstream request aborted', async (t) => {
  const up = await observingUpstream(t);
  const { app, port } = await startBaton(t, {
    timeouts: { header: '500ms', request: '1s' },
    services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } },
  });
  const s = await connectOnce(port);
  t.teardown(() => s.destroy());
  let data = '';
  let closedAt = 0;
  s.on('error', () => {});
  s.on('data', (d) => (data += d.toString('latin1')));
  s.on('close', () => (closedAt = Date.now()));
  const started = Date.now();
  s.write('POST /slow HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\n');
  const dribble = setInterval(() => {
    if (!s.destroyed) s.write('x');
  }, 200);
  t.teardown(() => clearInterval(dribble));
  await waitFor(() => up.seen.length === 1, 2000, 'the request reached the upstream (streamed)');
  await waitFor(() => closedAt !== 0, 5000, 'baton closes the slow client');
  clearInterval(dribble);
  t.ok(closedAt - started >= 900, `not before the request timeout (${closedAt - started} ms)`);
  t.ok(closedAt - started < 4000, `soon after the request timeout (${closedAt - started} ms)`);
  t.ok(data === '' || /^HTTP\/1\.1 408 /.test(data), `a 408 or a plain close (${JSON.stringify(data.slice(0, 40))})`);
  await waitFor(() => up.seen[0].aborted, 3000, 'the upstream request is aborted');
  t.notOk(up.seen[0].complete, 'the upstream never got a complete body');
  t.ok(up.seen[0].bytes < 100);
  const u = [...app.registry.upstreams.values()][0];
  await waitFor(() => u.inflight === 0, 2000, 'in-flight back to 0');
  await waitFor(() => up.sockets.size === 0, 2000, 'the upstream connection was closed');
});

t.test('16. slow read: the socket timeout frees the connection and aborts the upstream response', async (t) => {
  const CHUNK = Buffer.alloc(64 * 1024, 'z');
  const MAX_BYTES = 1024 * 1024 * 1024; // never reached: the client reads nothing
  const up = await observingUpstream(t, (_req, res, o) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const write = () => {
      while (o.written < MAX_BYTES && !res.destroyed) {
        o.written += CHUNK.length;
        if (!res.write(CHUNK)) return void res.once('drain', write);
      }
      if (!res.destroyed) res.end();
    };
    write();
  });
  const { app, port } = await startBaton(t, {
    timeouts: { socket: '1s' },
    services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } },
  });
  const ep = app.entrypoints.get('web')!;
  const s = await connectOnce(port);
  t.teardown(() => s.destroy());
  let closed = false;
  s.on('error', () => {});
  s.on('close', () => (closed = true));
  s.write('GET /big HTTP/1.1\r\nHost: app.test\r\n\r\n');
  s.pause(); // never read
  await waitFor(() => up.seen.length === 1, 2000, 'the request reached the upstream');
  await waitFor(() => up.seen[0].aborted, 8000, 'the upstream response is aborted once baton gives up on the client');
  t.notOk(up.seen[0].finished, 'the upstream never finished writing');
  t.ok(up.seen[0].written < MAX_BYTES, `upstream wrote ${Math.round(up.seen[0].written / 1024 / 1024)} MiB before the abort`);
  await waitFor(() => ep.connections === 0, 3000, 'the client connection is freed on baton');
  const u = [...app.registry.upstreams.values()][0];
  await waitFor(() => u.inflight === 0, 2000, 'in-flight back to 0');
  s.resume();
  await waitFor(() => closed, 3000, 'the client sees its connection closed');
});

// ── 17. body size limit ─────────────────────────────────────────────────────────────────────────────────────

t.test('17. declared body over limits.maxBodySize → 413, upstream never contacted', async (t) => {
  const up = await observingUpstream(t);
  const { port } = await startBaton(t, { limits: { maxBodySize: '1kb' }, services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const atLimit = await http(port, { method: 'POST', body: Buffer.alloc(1024, 'a') });
  t.equal(atLimit.status, 200, 'exactly at the limit: forwarded');
  t.equal(up.seen.length, 1);
  t.equal(up.seen[0].bytes, 1024);
  await waitFor(() => up.sockets.size === 1, 2000, 'one pooled upstream connection');

  const r = await raw(port, `POST /big HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1025\r\n\r\n${'b'.repeat(1025)}`, 3000);
  t.match(r.data, /^HTTP\/1\.1 413 /, 'one byte over: 413');
  t.match(r.data, /x-baton-error: body_too_large/);
  t.ok(r.closed, 'connection closed (the unread body is not drained)');
  // a huge declared length, no body sent at all: answered at once
  const started = Date.now();
  const r2 = await raw(port, 'POST /huge HTTP/1.1\r\nHost: app.test\r\nContent-Length: 10000000000\r\n\r\n', 3000);
  t.match(r2.data, /^HTTP\/1\.1 413 /);
  t.ok(Date.now() - started < 1000, 'answered without waiting for the body');
  await sleep(100);
  t.equal(up.seen.length, 1, 'neither reached the upstream');
  t.equal(up.sockets.size, 1, 'no new upstream connection was made for them');
});

t.test('17. chunked body over the limit → 413 or closed; the upstream never gets a complete request', async (t) => {
  const up = await observingUpstream(t);
  const { app, port } = await startBaton(t, { limits: { maxBodySize: '1kb' }, services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const chunk = (n: number) => `${n.toString(16)}\r\n${'c'.repeat(n)}\r\n`;
  const ok = await raw(port, `POST /small HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk(512)}${chunk(512)}0\r\n\r\n`, 3000);
  t.match(ok.data, /^HTTP\/1\.1 200 /, 'chunked body at the limit: forwarded');
  t.ok(up.seen[0]?.complete);

  // the whole oversized body in one write, then a pipelined request: the framing must survive
  const r = await raw(
    port,
    `POST /big HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(512)}${chunk(512)}${chunk(512)}${chunk(512)}0\r\n\r\n` +
      'GET /next HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n',
    3000,
  );
  const statuses = [...r.data.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  t.ok(r.closed, 'the exchange ends with a close');
  t.ok(statuses[0] === 413 || statuses.length === 0, `413, or closed without a response (${JSON.stringify(r.data.slice(0, 30))})`);
  if (statuses.length > 1) t.same(statuses, [413, 200], 'when the connection is kept, the next request is answered normally');

  // oversized chunks while the client keeps the request open: answered without waiting for the rest, and closed
  const held = connect(port, '127.0.0.1');
  t.teardown(() => held.destroy());
  let heldData = '';
  let heldClosed = false;
  held.on('error', () => {});
  held.on('data', (d) => (heldData += d.toString('latin1')));
  held.on('close', () => (heldClosed = true));
  held.write(`POST /big2 HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(512)}${chunk(512)}${chunk(512)}`);
  await waitFor(() => heldClosed, 3000, 'baton closes a connection whose oversized body is still arriving');
  t.ok(/^HTTP\/1\.1 413 /.test(heldData) || heldData === '', `413 or a plain close (${JSON.stringify(heldData.slice(0, 30))})`);

  await sleep(200);
  const big = up.seen.filter((o) => o.url === '/big' || o.url === '/big2');
  t.equal(big.filter((o) => o.complete).length, 0, 'the upstream never got the whole oversized body');
  for (const o of big) t.ok(o.bytes <= 1024, `the upstream got at most the limit (${o.bytes} bytes)`);
  const u = [...app.registry.upstreams.values()][0];
  await waitFor(() => u.inflight === 0, 2000, 'in-flight back to 0');
  // and baton still serves
  t.equal((await http(port, { method: 'POST', body: 'again' })).status, 200);
});

// ── 18. connection cap ──────────────────────────────────────────────────────────────────────────────────────

t.test('18. maxConnections: 5 → the 6th gets a fast 503; the admin API still answers', async (t) => {
  const a = await startUpstream(t, 'a');
  const { app, port, adminPort } = await startBaton(t, {
    limits: { maxConnections: 5 },
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } },
  });
  const ep = app.entrypoints.get('web')!;
  const held: Socket[] = [];
  t.teardown(() => {
    for (const s of held) s.destroy();
  });
  for (let i = 0; i < 5; i++) {
    const s = await connectOnce(port);
    s.on('error', () => {});
    held.push(s);
  }
  await waitFor(() => ep.connections === 5, 2000, 'five connections held');

  const started = Date.now();
  const sixth = await raw(port, 'GET / HTTP/1.1\r\nHost: app.test\r\n\r\n', 3000);
  const took = Date.now() - started;
  t.match(sixth.data, /^HTTP\/1\.1 503 /, 'the 6th connection gets a 503');
  t.match(sixth.data, /x-baton-error: too_many_connections/);
  t.ok(sixth.closed, 'and is closed');
  t.ok(took < 1500, `fast (${took} ms)`);
  t.equal(a.seen.length, 0, 'nothing forwarded');

  const health = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
  t.equal(health.status, 200, 'admin /healthz answers while the entrypoint is full');
  await health.text();

  // the held connections are still served
  const held0 = held[0];
  const reply = new Promise<string>((resolve) => {
    let d = '';
    held0.on('data', (c) => {
      d += c.toString('latin1');
      if (d.includes('\r\n\r\n')) resolve(d);
    });
  });
  held0.write('GET /held HTTP/1.1\r\nHost: app.test\r\n\r\n');
  t.match(await reply, /^HTTP\/1\.1 200 /, 'a connection under the cap is served normally');

  // freeing one lets a new one in
  held.pop()!.destroy();
  await waitFor(() => ep.connections === 4, 2000, 'a slot is free');
  t.equal((await http(port, { path: '/after' })).status, 200, 'a new connection is accepted again');
});
