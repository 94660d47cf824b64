// Drain: out of rotation at once, idle pooled sockets closed, completes when in-flight reaches zero or at the
// drain timeout (remaining requests get 504).
import t from 'tap';
import { Agent } from 'undici';
import { admin, http, startBaton, startUpstream, upstreamState, waitFor } from './fixtures/harness.ts';

t.test('drain waits for a slow in-flight request and sends nothing new to the draining upstream', async (t) => {
  const a = await startUpstream(t, 'a', (req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow done'), 800);
    else res.end('a');
  });
  const b = await startUpstream(t, 'b');
  const { port, adminPort, app } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url, b.url] } } });
  const id = `app@127.0.0.1:${a.port}`;
  const agent = new Agent({ connections: 8 });
  t.teardown(() => agent.close());

  const slow = http(port, { path: '/slow', agent }); // round-robin: first goes to a
  await waitFor(() => app.registry.upstreams.get(id)!.inflight === 1, 2000, 'slow request in flight on a');
  const started = Date.now();
  const drain = admin(adminPort, 'POST', `/api/upstreams/${encodeURIComponent(id)}/drain`, { timeout: '5s' });

  await waitFor(() => upstreamState(app, id) === 'draining', 1000, 'draining');
  const services = await admin(adminPort, 'GET', '/api/services');
  const shown = services.json.services[0].upstreams.find((u: { id: string }) => u.id === id);
  t.same({ state: shown.state, inflight: shown.inflight }, { state: 'draining', inflight: 1 }, 'API shows draining with 1 in flight');

  const aBefore = a.seen.length;
  for (let i = 0; i < 10; i++) t.equal((await http(port, { agent, path: `/n${i}` })).headers['x-upstream'], 'b');

  const r = await slow;
  t.equal(r.status, 200);
  t.equal(r.body, 'slow done', 'the in-flight request finished normally');
  const d = await drain;
  t.equal(d.status, 200);
  t.equal(d.json.state, 'drained');
  t.equal(d.json.timedOut, false);
  t.ok(Date.now() - started >= 600, 'drain completed only after the slow request');
  t.equal(a.seen.length - aBefore, 0, 'no request reached a after the drain began');
  t.same(a.seen.map((s) => s.url), ['/slow'], 'a only ever saw the slow request');
  await waitFor(() => a.sockets.size === 0, 2000, 'pooled sockets to a closed');
});

t.test('drain timeout: remaining requests get 504 and the drain reports them', async (t) => {
  const a = await startUpstream(t, 'a', (req, res) => {
    if (req.url === '/hang') return; // never answers
    res.end('a');
  });
  const { port, adminPort } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } } });
  const id = `app@127.0.0.1:${a.port}`;
  const hung = http(port, { path: '/hang' });
  await waitFor(() => a.seen.length === 1, 2000);
  const d = await admin(adminPort, 'POST', `/api/upstreams/${encodeURIComponent(id)}/drain`, { timeout: 300 });
  t.equal(d.json.timedOut, true);
  t.equal(d.json.aborted, 1);
  t.equal(d.json.state, 'drained');
  const r = await hung;
  t.equal(r.status, 504);
  t.equal(r.headers['x-baton-error'], 'drain_timeout');
  // nothing left to serve: 503 from baton
  t.equal((await http(port)).status, 503);
});

t.test('drain closes idle pooled sockets at once; enable puts the upstream back through the health gate', async (t) => {
  const a = await startUpstream(t, 'a', (req, res) => res.end(req.url === '/health' ? 'ok' : 'a'));
  const { port, adminPort, app } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url], healthCheck: { path: '/health', interval: '100ms', rise: 2 } } },
  });
  const id = `app@127.0.0.1:${a.port}`;
  await waitFor(() => upstreamState(app, id) === 'healthy', 3000, 'healthy');
  const agent = new Agent({ connections: 4 });
  t.teardown(() => agent.close());
  await Promise.all([1, 2, 3].map(() => http(port, { agent })));
  t.ok(a.sockets.size >= 1, 'pooled keep-alive sockets open');
  const d = await admin(adminPort, 'POST', `/api/upstreams/${encodeURIComponent(id)}/drain`);
  t.equal(d.json.state, 'drained');
  await waitFor(() => a.sockets.size === 0, 1000, 'idle sockets (traffic and probe) closed');
  t.equal((await http(port, { agent })).status, 503, 'no upstream in rotation');

  const e = await admin(adminPort, 'POST', `/api/upstreams/${encodeURIComponent(id)}/enable`);
  t.equal(e.json.state, 'starting', 'back through the health gate');
  t.equal((await http(port, { agent })).status, 503, 'no traffic before it has risen');
  await waitFor(() => upstreamState(app, id) === 'healthy', 3000, 'rises again');
  t.equal((await http(port, { agent })).body, 'a');
});

t.test('responses still coming from a draining upstream complete; its sockets close, the client keeps its connection', async (t) => {
  const a = await startUpstream(t, 'a', (req, res) => setTimeout(() => res.end('a'), 300));
  const b = await startUpstream(t, 'b');
  const { port, adminPort, app } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url, b.url] } } });
  const id = `app@127.0.0.1:${a.port}`;
  const agent = new Agent({ connections: 1 });
  t.teardown(() => agent.close());
  const pending = http(port, { agent });
  await waitFor(() => app.registry.upstreams.get(id)!.inflight === 1, 2000);
  // in flight from the moment baton dispatches; the upstream sees the socket once it is connected
  await waitFor(() => a.sockets.size === 1, 2000, 'the pooled socket to a connected');
  const d = admin(adminPort, 'POST', `/api/upstreams/${encodeURIComponent(id)}/drain`);
  const r = await pending;
  t.equal(r.status, 200);
  t.equal(r.body, 'a', 'the in-flight response completed');
  t.not(r.headers.connection, 'close', 'the client connection is not closed: it is not tied to the upstream');
  t.equal((await d).json.timedOut, false);
  await waitFor(() => a.sockets.size === 0, 2000, "the draining upstream's socket closed after its response");
  const next = await http(port, { agent });
  t.equal(next.headers['x-upstream'], 'b', 'the same client connection is balanced to another upstream');
});
