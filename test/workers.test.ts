// `workers: 2`: two worker threads serve the listeners, the main thread is the one control plane. Drains wait for
// the requests in flight in every worker; retries and passive ejection hold across them; a worker that crashes is
// replaced while the other one's requests go on; the counters are summed over the workers.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { admin, closedPort, http, startBaton, startUpstream, tempDir, TOKEN, waitFor, type TestUpstream } from './fixtures/harness.ts';

const QUIET = { level: 'warn', accessLog: false };

/** Requests over fresh connections until both workers have answered some (the kernel picks the listener). */
async function bothWorkersServe(port: number, adminPort: number): Promise<Array<{ worker: number; requests: number }>> {
  for (let i = 0; i < 200; i++) {
    await http(port);
    if (i % 10 !== 9) continue;
    const w = (await admin(adminPort, 'GET', '/api/workers')).json.workers;
    if (w.length === 2 && w.every((x: { requests: number }) => x.requests > 0)) return w;
  }
  throw new Error('one worker never got a connection in 200');
}

/** baton with two workers routing Host app.test to `a` (with `middlewares`), once both workers have served. */
async function twoWorkers(t: Test, a: TestUpstream, extra: { plugins?: object; middlewares?: string[] } = {}) {
  const { plugins, middlewares } = extra;
  const b = await startBaton(t, {
    workers: 2,
    log: QUIET,
    ...(plugins === undefined ? {} : { plugins }),
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url], ...(middlewares === undefined ? {} : { middlewares }) } },
  });
  await bothWorkersServe(b.port, b.adminPort);
  return { ...b, id: `app@127.0.0.1:${a.port}` };
}

t.test('two workers share the listener; the admin API and metrics sum their counters', async (t) => {
  const a = await startUpstream(t, 'a');
  const { port, adminPort, app } = await startBaton(t, {
    workers: 2,
    log: QUIET,
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } },
  });
  t.equal(app.workers?.count, 2);
  t.equal(app.entrypoints.size, 0, 'the main thread serves no traffic itself');
  const workers = await bothWorkersServe(port, adminPort);
  t.same(
    workers.map((w) => w.worker),
    [1, 2],
  );
  const total = workers.reduce((n, w) => n + w.requests, 0);
  t.equal(a.seen.length, total, 'every request answered by one of the workers');
  const auth = { authorization: `Bearer ${TOKEN}` };
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: auth })).text();
  t.match(metrics, new RegExp(`baton_service_requests_total\\{service="app",code="200",method="GET"\\} ${total}\\n`));
  t.match(metrics, new RegExp(`baton_service_request_duration_seconds_count\\{service="app"\\} ${total}\\n`), 'histograms summed');
  t.match(metrics, new RegExp(`baton_upstream_requests_total\\{service="app",upstream="[^"]+"\\} ${total}\\n`));
  const r = await http(port, { host: 'nothing.test' });
  t.equal(r.status, 404, 'no route: 404 from whichever worker');
});

t.test('a drain waits for the requests in flight in both workers, and none new reach the upstream', async (t) => {
  const a = await startUpstream(t, 'a', (req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow done'), 1200);
    else res.end('a');
  });
  const { port, adminPort, app, id } = await twoWorkers(t, a);
  const slow = Array.from({ length: 16 }, () => http(port, { path: '/slow' }));
  await waitFor(() => app.registry.upstreams.get(id)!.inflight === 16, 3000, '16 in flight, over both workers');
  const after = (await admin(adminPort, 'GET', '/api/workers')).json.workers;
  const conns = after.map((w: { connections: number }) => w.connections);
  t.ok(
    conns.every((n: number) => n > 0),
    `both workers hold some of the slow requests (${conns.join(' + ')} connections)`,
  );
  const started = Date.now();
  const drain = admin(adminPort, 'POST', `/api/upstreams/${encodeURIComponent(id)}/drain`, { timeout: '10s' });
  await waitFor(() => app.registry.upstreams.get(id)!.state === 'draining', 1000, 'draining');
  const seenBefore = a.seen.length;
  for (let i = 0; i < 10; i++) t.equal((await http(port)).status, 503, 'nothing else takes traffic: 503');
  t.equal(a.seen.length, seenBefore, 'no new request reached the draining upstream from either worker');
  const replies = await Promise.all(slow);
  t.same(
    replies.map((r) => r.body),
    Array(16).fill('slow done'),
    'every in-flight request finished normally',
  );
  const d = await drain;
  t.equal(d.json.state, 'drained');
  t.equal(d.json.timedOut, false);
  t.ok(Date.now() - started >= 900, `the drain waited for both workers' requests (${Date.now() - started} ms)`);
});

t.test('a drain timeout aborts what is left in every worker with 504', async (t) => {
  const a = await startUpstream(t, 'a', (req, res) => {
    if (req.url !== '/hang') res.end('a');
  });
  const { port, adminPort, id } = await twoWorkers(t, a);
  const hung = Array.from({ length: 12 }, () => http(port, { path: '/hang' }));
  await waitFor(() => a.seen.filter((s) => s.url === '/hang').length === 12, 3000, '12 hanging');
  const d = await admin(adminPort, 'POST', `/api/upstreams/${encodeURIComponent(id)}/drain`, { timeout: 400 });
  t.equal(d.json.timedOut, true);
  t.equal(d.json.aborted, 12, 'the control plane counted the requests of both workers');
  const replies = await Promise.all(hung);
  t.same(
    replies.map((r) => r.status),
    Array(12).fill(504),
    'each worker aborted its own at the timeout',
  );
});

t.test('retries and passive ejection work across workers: a dead upstream costs no request', async (t) => {
  const dead = await closedPort();
  const b = await startUpstream(t, 'b');
  const { port, adminPort, app } = await startBaton(t, {
    workers: 2,
    log: QUIET,
    services: {
      app: {
        rule: 'Host(`app.test`)',
        upstreams: [`http://127.0.0.1:${dead}`, b.url],
        passive: { failures: 2, cooldown: '30s' },
      },
    },
  });
  const statuses = new Set<number>();
  for (let i = 0; i < 40; i++) statuses.add((await http(port)).status);
  t.same([...statuses], [200], 'every GET answered 200 (connect errors retried on b)');
  const deadId = `app@127.0.0.1:${dead}`;
  await waitFor(() => app.registry.upstreams.get(deadId)!.state === 'unhealthy', 2000, 'ejected by the control plane');
  const services = (await admin(adminPort, 'GET', '/api/services')).json.services;
  t.equal(services[0].upstreams.find((u: { id: string }) => u.id === deadId).state, 'unhealthy');
  const failures = app.registry.upstreams.get(deadId)!.failures;
  for (let i = 0; i < 20; i++) t.equal((await http(port)).status, 200);
  t.equal(app.registry.upstreams.get(deadId)!.failures, failures, 'no worker sends to the ejected upstream any more');
});

t.test('a crashed worker is replaced; the other worker and its requests carry on', async (t) => {
  const dir = tempDir(t);
  const plugin = join(dir, 'crash.ts');
  writeFileSync(
    plugin,
    `export default {
  create() {
    return {
      onRequest(ctx) {
        if (ctx.headers.get('x-crash') === 'now') setImmediate(() => { throw new Error('plugin bug'); });
      },
    };
  },
};
`,
  );
  const a = await startUpstream(t, 'a', (req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow done'), 1500);
    else res.end('a');
  });
  const { port, adminPort, app, id } = await twoWorkers(t, a, {
    plugins: { crash: { module: plugin } },
    middlewares: ['crash'],
  });
  const slow = Array.from({ length: 16 }, () =>
    http(port, { path: '/slow' }).then(
      (r) => r.body,
      (err: Error) => `failed: ${err.message}`,
    ),
  );
  await waitFor(() => app.registry.upstreams.get(id)!.inflight === 16, 3000, '16 in flight');
  await http(port, { headers: { 'x-crash': 'now' } }).catch(() => {});
  const bodies = await Promise.all(slow);
  const ok = bodies.filter((b) => b === 'slow done').length;
  t.ok(ok > 0 && ok < 16, `the other worker's requests finished (${ok} of 16), the crashed one's did not`);
  // the crashed worker's requests are no longer counted in flight: a drain is not held up by them
  await waitFor(() => app.registry.upstreams.get(id)!.inflight === 0, 3000, 'in flight back to zero');
  await waitFor(
    async () => {
      const w = (await admin(adminPort, 'GET', '/api/workers')).json.workers;
      return w.length === 2 && w.some((x: { restarts: number }) => x.restarts === 1);
    },
    8000,
    'a replacement worker listening',
  );
  const statuses = new Set<number>();
  for (let i = 0; i < 30; i++) statuses.add((await http(port)).status);
  t.same([...statuses], [200], 'both workers serve again');
  const d = await admin(adminPort, 'POST', `/api/upstreams/${encodeURIComponent(id)}/drain`, { timeout: '5s' });
  t.equal(d.json.timedOut, false);
  t.ok(d.json.durationMs < 500, `drain completes at once (${d.json.durationMs} ms)`);
});

t.test('workers: config values', async (t) => {
  const { app } = await startBaton(t, { workers: 'auto', log: QUIET });
  t.ok(app.workers === null || app.workers.count >= 2, 'auto: one per core (none on a one-core machine)');
  await t.rejects(startBaton(t, { workers: 0 }), { code: 'BATON_CONFIG_INVALID' });
  await t.rejects(startBaton(t, { workers: 'many' }), { code: 'BATON_CONFIG_INVALID' });
});

t.test('a port in use: the workers do not start and nothing is left running', async (t) => {
  const { createServer } = await import('node:net');
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  t.teardown(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  await t.rejects(
    startBaton(t, { workers: 2, log: QUIET, entrypoints: { web: { address: `127.0.0.1:${port}` } } }),
    { code: 'EADDRINUSE', port },
  );
});
