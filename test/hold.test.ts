// Hold instead of fail: pause/resume (requests held in order, released in order), the hold's bounds (count, time:
// 503 with Retry-After), a held client that leaves, hold.whenUnavailable across a drain, maintenance mode; the
// hold queue itself as a table of cases.
import t from 'tap';
import { connect } from 'node:net';
import { HoldQueue, type Holdable } from '../src/upstream/hold.ts';
import { admin, http, startBaton, startUpstream, waitFor } from './fixtures/harness.ts';

class Item implements Holdable {
  readonly name: string;
  readonly log: string[];
  constructor(name: string, log: string[]) {
    this.name = name;
    this.log = log;
  }
  released(): void {
    this.log.push(`released ${this.name}`);
  }
  expired(): void {
    this.log.push(`expired ${this.name}`);
  }
}

t.test('the hold queue: bounds by count and bytes, order, removal, expiry from the oldest', async (t) => {
  const log: string[] = [];
  const q = new HoldQueue<Item>(() => ({ maxRequests: 3, maxBytes: 100, timeout: 1000 }));
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => new Item(n, log));
  t.ok(q.add(a, 10, 0));
  t.ok(q.add(b, 80, 100));
  t.notOk(q.add(c, 20, 200), 'bytes bound: 10 + 80 + 20 > 100');
  t.ok(q.add(c, 10, 300));
  t.notOk(q.add(d, 0, 300), 'count bound');
  t.equal(q.bytes, 100);
  q.remove(b);
  t.equal(q.size, 2);
  t.equal(q.bytes, 20);
  q.expire(1100);
  t.same(log, ['expired a'], 'only what waited the timeout');
  t.ok(q.add(d, 0, 1200));
  q.releaseAll();
  t.same(log, ['expired a', 'released c', 'released d'], 'released oldest first');
  t.equal(q.size, 0);
  q.close();
});

t.test('pause holds new requests, in-flight ones finish; resume releases them in arrival order', async (t) => {
  const up = await startUpstream(t, 'a', (req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow'), 600);
    else res.end(req.url);
  });
  const { port, adminPort, app } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } },
  });
  const slow = http(port, { path: '/slow' });
  await waitFor(() => up.seen.length === 1, 2000, 'slow request at the upstream');
  const p = await admin(adminPort, 'POST', '/api/services/app/pause', {});
  t.same(p.json, { service: 'app', mode: 'paused', held: 0 });
  const held: Promise<{ status: number; body: string }>[] = [];
  for (let i = 0; i < 5; i++) {
    held.push(http(port, { path: `/r${i}` }));
    await waitFor(() => (app.registry.services.get('app')!.held?.size ?? 0) === i + 1, 2000, `r${i} held`);
  }
  t.equal((await slow).body, 'slow', 'the in-flight request finished while paused');
  t.equal(up.seen.length, 1, 'nothing held reached the upstream');
  const s = await admin(adminPort, 'GET', '/api/services');
  t.match(s.json.services[0], { name: 'app', mode: 'paused', held: 5 });
  const r = await admin(adminPort, 'POST', '/api/services/app/resume', {});
  t.equal(r.json.mode, 'serving');
  const replies = await Promise.all(held);
  t.same(
    replies.map((x) => x.status),
    [200, 200, 200, 200, 200],
  );
  t.same(
    up.seen.slice(1).map((x) => x.url),
    ['/r0', '/r1', '/r2', '/r3', '/r4'],
    'released in the order they came',
  );
});

t.test('the hold bounds: beyond maxRequests and past the timeout, 503 with Retry-After', async (t) => {
  const up = await startUpstream(t, 'a');
  const { port, adminPort, app } = await startBaton(t, {
    services: {
      app: { rule: 'Host(`app.test`)', upstreams: [up.url], hold: { maxRequests: 2, timeout: '700ms' } },
    },
  });
  await admin(adminPort, 'POST', '/api/services/app/pause', {});
  const started = Date.now();
  const a = http(port, { path: '/a' });
  const b = http(port, { path: '/b' });
  await waitFor(() => app.registry.services.get('app')!.held?.size === 2, 2000, 'two held');
  const full = await http(port, { path: '/c' });
  t.equal(full.status, 503);
  t.equal(full.headers['x-baton-error'], 'hold_full');
  t.equal(full.headers['retry-after'], '5');
  const [ra, rb] = await Promise.all([a, b]);
  t.ok(Date.now() - started >= 650, 'answered at the timeout, not before');
  for (const x of [ra, rb]) {
    t.equal(x.status, 503);
    t.equal(x.headers['x-baton-error'], 'hold_timeout');
    t.equal(x.headers['retry-after'], '5');
  }
  t.equal(up.seen.length, 0, 'the upstream saw none of them');
  await admin(adminPort, 'POST', '/api/services/app/resume', {});
  t.equal((await http(port, { path: '/d' })).status, 200, 'serving again');
});

t.test('a held client that leaves is forgotten: it never reaches the upstream', async (t) => {
  const up = await startUpstream(t, 'a');
  const { port, adminPort, app } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } },
  });
  await admin(adminPort, 'POST', '/api/services/app/pause', {});
  const sock = connect(port, '127.0.0.1');
  sock.on('error', () => {});
  sock.write('GET /gone HTTP/1.1\r\nHost: app.test\r\n\r\n');
  const svc = app.registry.services.get('app')!;
  await waitFor(() => svc.held?.size === 1, 2000, 'held');
  sock.destroy();
  await waitFor(() => svc.held?.size === 0, 2000, 'forgotten once the client left');
  await admin(adminPort, 'POST', '/api/services/app/resume', {});
  t.equal((await http(port, { path: '/next' })).status, 200);
  t.same(
    up.seen.map((s) => s.url),
    ['/next'],
  );
});

t.test('hold.whenUnavailable: between the last upstream draining and the next rising, requests wait', async (t) => {
  const a = await startUpstream(t, 'a');
  const b = await startUpstream(t, 'b');
  const { port, adminPort, app } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url, b.url], hold: { whenUnavailable: true } } },
  });
  const ida = `app@127.0.0.1:${a.port}`;
  const idb = `app@127.0.0.1:${b.port}`;
  await admin(adminPort, 'POST', `/api/upstreams/${encodeURIComponent(ida)}/drain`, {});
  await admin(adminPort, 'POST', `/api/upstreams/${encodeURIComponent(idb)}/drain`, {});
  const waiting = http(port, { path: '/w' });
  await waitFor(() => app.registry.services.get('app')!.held?.size === 1, 2000, 'held, not a 503');
  await admin(adminPort, 'POST', `/api/upstreams/${encodeURIComponent(idb)}/enable`, {});
  const r = await waiting;
  t.equal(r.status, 200);
  t.equal(r.headers['x-upstream'], 'b', 'released to the upstream that rose');
});

t.test('maintenance: 503 with the page and Retry-After, health checks go on; off serves again', async (t) => {
  let probes = 0;
  const up = await startUpstream(t, 'a', (req, res) => {
    if (req.url === '/health') probes++;
    res.end('ok');
  });
  const { port, adminPort } = await startBaton(t, {
    services: {
      app: {
        rule: 'Host(`app.test`)',
        upstreams: [up.url],
        healthCheck: { path: '/health', interval: '100ms', rise: 1, fall: 1 },
      },
    },
  });
  await waitFor(async () => (await http(port, { path: '/' })).status === 200, 3000, 'healthy');
  const page = '<h1>Back soon</h1>';
  const on = await admin(adminPort, 'POST', '/api/services/app/maintenance', { on: true, page, retryAfter: '2m' });
  t.same(on.json, { service: 'app', mode: 'maintenance', held: 0 });
  const seenBefore = up.seen.filter((s) => s.url !== '/health').length;
  const r = await http(port, { path: '/x' });
  t.equal(r.status, 503);
  t.equal(r.body, page);
  t.match(r.headers['content-type'], /^text\/html/);
  t.equal(r.headers['retry-after'], '120');
  const probesThen = probes;
  await waitFor(() => probes >= probesThen + 2, 3000, 'health checks continue');
  t.equal(up.seen.filter((s) => s.url !== '/health').length, seenBefore, 'no request reached the container');
  const dflt = await admin(adminPort, 'POST', '/api/services/app/maintenance', { on: true });
  t.equal(dflt.status, 200);
  const r2 = await http(port, { path: '/y' });
  t.match(r2.body, /maintenance/);
  t.equal(r2.headers['retry-after'], '60', 'the default Retry-After');
  await admin(adminPort, 'POST', '/api/services/app/maintenance', { on: false });
  t.equal((await http(port, { path: '/z' })).status, 200);
});

t.test('bad input changes nothing: unknown service 404, bad bodies 400, GET 405', async (t) => {
  const up = await startUpstream(t, 'a');
  const { port, adminPort } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } },
  });
  t.equal((await admin(adminPort, 'POST', '/api/services/nope/pause', {})).status, 404);
  t.equal((await admin(adminPort, 'POST', '/api/services/app/pause', { now: true })).status, 400);
  t.equal((await admin(adminPort, 'POST', '/api/services/app/maintenance', {})).status, 400);
  t.equal((await admin(adminPort, 'POST', '/api/services/app/maintenance', { on: 'yes' })).status, 400);
  const big = 'x'.repeat(61 * 1024);
  t.equal((await admin(adminPort, 'POST', '/api/services/app/maintenance', { on: true, page: big })).status, 400);
  const ra = { on: true, retryAfter: 5 };
  t.equal((await admin(adminPort, 'POST', '/api/services/app/maintenance', ra)).status, 400, '5 ms: too short');
  t.equal((await admin(adminPort, 'GET', '/api/services/app/pause')).status, 405);
  t.equal((await http(port, { path: '/' })).status, 200, 'still serving');
});

t.test('workers: 2 — pause and resume reach both threads', async (t) => {
  const up = await startUpstream(t, 'a');
  const { port, adminPort } = await startBaton(t, {
    workers: 2,
    services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url], hold: { timeout: '10s' } } },
  });
  await waitFor(async () => (await http(port, { path: '/' })).status === 200, 5000, 'serving');
  await admin(adminPort, 'POST', '/api/services/app/pause', {});
  await new Promise((r) => setTimeout(r, 200)); // the mode message reaches the workers
  const before = up.seen.length;
  const held = Array.from({ length: 8 }, (_, i) => http(port, { path: `/h${i}` })); // fresh connections: both threads
  await new Promise((r) => setTimeout(r, 500));
  t.equal(up.seen.length, before, 'nothing forwarded while paused, in either thread');
  await admin(adminPort, 'POST', '/api/services/app/resume', {});
  const replies = await Promise.all(held);
  t.same(
    replies.map((r) => r.status),
    Array(8).fill(200),
  );
});
