// Active health checks (rise/fall, timeouts, no pile-up) and passive ejection (with the panic threshold).
import t, { type Test } from 'tap';
import { Agent } from 'undici';
import { closedPort, http, startBaton, startUpstream, upstreamState, waitFor } from './fixtures/harness.ts';

const hc = { path: '/health', interval: '100ms', timeout: '200ms', rise: 2, fall: 2 };

t.test('a new upstream gets no traffic until it has risen; an unhealthy one none until it rises again', async (t) => {
  let healthy = false;
  const a = await startUpstream(t, 'a', (req, res) => {
    if (req.url === '/health') {
      res.writeHead(healthy ? 200 : 500);
      res.end();
    } else res.end('a');
  });
  const b = await startUpstream(t, 'b');
  const { port, app } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url, b.url], healthCheck: hc } },
  });
  const idA = `app@127.0.0.1:${a.port}`;
  const idB = `app@127.0.0.1:${b.port}`;
  t.equal(upstreamState(app, idA), 'starting', 'starts in starting');
  await waitFor(() => upstreamState(app, idB) === 'healthy', 3000, 'b healthy');
  await waitFor(() => upstreamState(app, idA) === 'unhealthy', 3000, 'a unhealthy after fall');
  const agent = new Agent();
  t.teardown(() => agent.close());
  for (let i = 0; i < 10; i++) t.equal((await http(port, { agent })).headers['x-upstream'], 'b');
  t.equal(a.seen.filter((s) => s.url !== '/health').length, 0, 'a got no traffic while not healthy');

  healthy = true;
  await waitFor(() => upstreamState(app, idA) === 'healthy', 3000, 'a rises');
  const who = new Set<string>();
  for (let i = 0; i < 6; i++) who.add((await http(port, { agent })).body.startsWith('a') ? 'a' : 'b');
  t.same([...who].sort(), ['a', 'b'], 'a takes traffic again');

  healthy = false;
  await waitFor(() => upstreamState(app, idA) === 'unhealthy', 3000, 'a falls again');
});

t.test('a hanging health endpoint counts as a failure at the timeout; probes never pile up', async (t) => {
  let concurrent = 0;
  let maxConcurrent = 0;
  let probes = 0;
  const a = await startUpstream(t, 'a', (req, res) => {
    if (req.url === '/health') {
      probes++;
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      res.on('close', () => concurrent--);
      return; // never answers
    }
    res.end('a');
  });
  const { app } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url], healthCheck: { ...hc, interval: '50ms', timeout: '150ms' } } },
  });
  const id = `app@127.0.0.1:${a.port}`;
  const started = Date.now();
  await waitFor(() => upstreamState(app, id) === 'unhealthy', 3000, 'unhealthy');
  const took = Date.now() - started;
  t.ok(took >= 250, `fall=2 failures needed two timeouts (${took} ms)`);
  await new Promise((r) => setTimeout(r, 600));
  t.equal(maxConcurrent, 1, 'at most one probe at a time');
  t.ok(probes <= 8, `probes are paced by their timeout (${probes} in ~1 s)`);
});

t.test('passive ejection after consecutive 5xx; traffic moves; back after the cooldown', async (t) => {
  let failing = true;
  const a = await startUpstream(t, 'a', (req, res) => {
    res.writeHead(failing ? 500 : 200, { 'x-upstream': 'a' });
    res.end('a');
  });
  const b = await startUpstream(t, 'b');
  const { port, app } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url, b.url], passive: { failures: 3, cooldown: '500ms' } } },
  });
  const id = `app@127.0.0.1:${a.port}`;
  const agent = new Agent();
  t.teardown(() => agent.close());
  for (let i = 0; i < 6; i++) await http(port, { agent });
  t.equal(upstreamState(app, id), 'unhealthy', 'ejected after 3 consecutive 5xx');
  const seenBefore = a.seen.length;
  for (let i = 0; i < 6; i++) t.equal((await http(port, { agent })).headers['x-upstream'], 'b');
  t.equal(a.seen.length, seenBefore, 'no traffic while ejected');
  failing = false;
  await waitFor(() => upstreamState(app, id) === 'healthy', 2000, 'back after cooldown');
});

t.test('passive checks alone never eject the last upstream (panic threshold)', async (t) => {
  const a = await startUpstream(t, 'a', (req, res) => {
    res.writeHead(500);
    res.end('broken');
  });
  const b = await startUpstream(t, 'b', (req, res) => {
    res.writeHead(502);
    res.end('broken');
  });
  const { port, app } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url, b.url], passive: { failures: 2, cooldown: '10s' } } },
  });
  const agent = new Agent();
  t.teardown(() => agent.close());
  for (let i = 0; i < 20; i++) t.equal((await http(port, { agent })).status >= 500, true);
  const states = [...app.registry.upstreams.values()].map((u) => u.state);
  t.equal(states.filter((s) => s === 'healthy').length, 1, 'one upstream left in rotation');
  t.equal((await http(port, { agent })).body, 'broken', 'requests still reach an upstream, no 503 from baton');
});

t.test('a health check without a path is a TCP connect probe', async (t) => {
  const a = await startUpstream(t, 'a');
  const dead = await closedPort();
  const { app } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url, `http://127.0.0.1:${dead}`], healthCheck: { interval: '100ms', timeout: '200ms', rise: 2, fall: 2 } } },
  });
  await waitFor(() => upstreamState(app, `app@127.0.0.1:${a.port}`) === 'healthy', 3000, 'listening upstream rises');
  await waitFor(() => upstreamState(app, `app@127.0.0.1:${dead}`) === 'unhealthy', 3000, 'closed port falls');
  t.equal(a.seen.length, 0, 'no HTTP request was sent by the probes');
});

/** baton with one upstream on a port nothing listens on (yet), health-checked with `healthCheck`. */
async function onClosedPort(t: Test, healthCheck: Record<string, unknown>) {
  const port = await closedPort();
  const { app } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [`http://127.0.0.1:${port}`], healthCheck } },
  });
  return { app, port, id: `app@127.0.0.1:${port}` };
}

t.test('a starting upstream whose port opens late is probed again at once: healthy soon after it listens', async (t) => {
  const { app, port, id } = await onClosedPort(t, { path: '/health', interval: '1s', timeout: '500ms', rise: 1, fall: 3 });
  await new Promise((r) => setTimeout(r, 1300)); // refused for more than one interval (2 failures of fall 3)
  t.equal(upstreamState(app, id), 'starting', 'not listening yet: starting, not unhealthy yet');
  const listening = Date.now();
  await startUpstream(t, 'late', undefined, { port });
  await waitFor(() => upstreamState(app, id) === 'healthy', 2000, 'healthy');
  const after = Date.now() - listening;
  t.ok(after < 500, `healthy ${after} ms after the port opened (interval 1 s)`);
});

t.test('a starting upstream that never opens its port turns unhealthy at the usual pace', async (t) => {
  const { app, id } = await onClosedPort(t, { path: '/health', interval: '200ms', timeout: '100ms', rise: 1, fall: 2 });
  const started = Date.now();
  await waitFor(() => upstreamState(app, id) === 'unhealthy', 3000, 'unhealthy');
  const after = Date.now() - started;
  t.ok(after >= 150 && after < 800, `unhealthy after ${after} ms (fall 2 at 200 ms: failures counted at the usual pace)`);
});
