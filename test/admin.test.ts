import { chmodSync, readFileSync, statSync } from 'node:fs';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { checkBearer, ensureToken } from '../src/admin/token.ts';
import { admin, http, raw, startBaton, startUpstream, tempDir, TOKEN, upstreamState, waitFor } from './fixtures/harness.ts';

const RULE = 'Host(`app.test`)';

/** A fetch against the admin port that keeps the status, headers and text (no token unless given). */
async function call(port: number, method: string, path: string, opts: { authorization?: string; body?: string } = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { ...(opts.authorization !== undefined ? { authorization: opts.authorization } : {}), 'content-type': 'application/json' },
    body: opts.body,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text.startsWith('{') ? JSON.parse(text) : null };
}

async function twoUpstreams(t: Test, extra: Record<string, unknown> = {}) {
  const a = await startUpstream(t, 'a');
  const b = await startUpstream(t, 'b');
  const baton = await startBaton(t, { services: { app: { rule: RULE, upstreams: [a.url, b.url], ...extra } } });
  return { a, b, baton, idA: `app@127.0.0.1:${a.port}`, idB: `app@127.0.0.1:${b.port}` };
}

/** A server-sent-events subscriber on /api/events. */
function subscribe(t: Test, port: number, token: string) {
  const events: Array<{ event: string; data: any }> = [];
  let buffer = '';
  let status = 0;
  let contentType = '';
  const req: ClientRequest = httpRequest({ host: '127.0.0.1', port, path: '/api/events', headers: { authorization: `Bearer ${token}` } }, (res) => {
    status = res.statusCode ?? 0;
    contentType = String(res.headers['content-type']);
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of frame.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        events.push({ event, data: JSON.parse(data.join('\n')) });
      }
    });
    res.on('error', () => {});
  });
  req.on('error', () => {});
  req.end();
  t.teardown(() => void req.destroy());
  return { events, status: () => status, contentType: () => contentType, close: () => req.destroy() };
}

t.test('GET /healthz answers without a token', async (t) => {
  const { baton } = await twoUpstreams(t);
  const r = await call(baton.adminPort, 'GET', '/healthz');
  t.equal(r.status, 200);
  t.same(r.json, { status: 'ok' });
  t.equal((await call(baton.adminPort, 'HEAD', '/healthz')).status, 200);
});

t.test('every /api call without the right bearer token is 401 with WWW-Authenticate', async (t) => {
  const { baton, idA } = await twoUpstreams(t);
  const last = TOKEN.at(-1)!;
  const auths: Array<[string, string | undefined]> = [
    ['no header', undefined],
    ['a wrong token', 'Bearer wrong-token-0123456789abcdef'],
    ['"Bearer" and nothing', 'Bearer'],
    ['"Bearer " and spaces', 'Bearer    '],
    ['a token differing in the last char', `Bearer ${TOKEN.slice(0, -1)}${last === 'x' ? 'y' : 'x'}`],
    ['a token one char short', `Bearer ${TOKEN.slice(0, -1)}`],
    ['a token with an extra char', `Bearer ${TOKEN}x`],
    ['the token in upper case', `Bearer ${TOKEN.toUpperCase()}`],
    ['the token without a scheme', TOKEN],
    ['the token under Basic', `Basic ${TOKEN}`],
    ['the token as Basic credentials', `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`],
    ['another scheme', `Token ${TOKEN}`],
  ];
  const calls: Array<[string, string]> = [
    ['GET', '/api/services'],
    ['GET', '/api/events'],
    ['GET', `/api/upstreams/${encodeURIComponent(idA)}`],
    ['POST', `/api/upstreams/${encodeURIComponent(idA)}/drain`],
    ['POST', `/api/upstreams/${encodeURIComponent(idA)}/enable`],
    ['POST', '/api/upstreams/nonexistent/drain'],
    ['POST', '/api/services'], // wrong method: still 401 first, nothing about the API leaks
    ['GET', '/api/nonexistent'],
    ['DELETE', '/api/services'],
  ];
  for (const [what, authorization] of auths) {
    for (const [method, path] of calls) {
      const r = await call(baton.adminPort, method, path, { authorization, body: method === 'POST' ? '{}' : undefined });
      t.equal(r.status, 401, `${method} ${path} with ${what} → 401`);
      t.match(r.headers.get('www-authenticate'), /^Bearer realm="baton"$/, `${method} ${path} with ${what}: WWW-Authenticate`);
      t.equal(r.json?.error?.code, 'BATON_UNAUTHORIZED');
      t.notMatch(r.text, /services|upstream|nonexistent/, 'the answer says nothing about the API');
    }
  }
  t.equal(upstreamState(baton.app, idA), 'healthy', 'no unauthorised drain happened');

  // and the right token works, with the scheme in any case
  t.equal((await call(baton.adminPort, 'GET', '/api/services', { authorization: `Bearer ${TOKEN}` })).status, 200);
  t.equal((await call(baton.adminPort, 'GET', '/api/services', { authorization: `bearer ${TOKEN}` })).status, 200);
  t.equal((await call(baton.adminPort, 'GET', '/api/services', { authorization: `BEARER  ${TOKEN}` })).status, 200);
});

t.test('the token never appears in the logs, even after wrong attempts', async (t) => {
  const { baton, idA } = await twoUpstreams(t);
  const nearMiss = `${TOKEN.slice(0, -1)}${TOKEN.at(-1) === 'x' ? 'y' : 'x'}`;
  t.equal((await call(baton.adminPort, 'GET', '/api/services', { authorization: `Bearer ${nearMiss}` })).status, 401);
  t.equal((await call(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(idA)}/drain`, { authorization: `Bearer ${nearMiss}`, body: '{}' })).status, 401);
  t.equal((await call(baton.adminPort, 'GET', '/api/services', { authorization: TOKEN })).status, 401);
  // a successful drain/enable (they log), a 400, a 404 and a 405
  t.equal((await admin(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(idA)}/drain`, {})).status, 200);
  t.equal((await admin(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(idA)}/enable`, {})).status, 200);
  t.equal((await admin(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(idA)}/drain`, '{bad')).status, 400);
  t.equal((await admin(baton.adminPort, 'POST', '/api/upstreams/nope/drain', {})).status, 404);
  t.equal((await admin(baton.adminPort, 'PUT', '/api/services', {})).status, 405);
  // the token sent to the public entrypoint (access log) and in a query string
  t.equal((await http(baton.port, { path: `/x?token=${TOKEN}`, headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  t.equal((await http(baton.port, { host: 'unknown.test', path: `/api/services?t=${TOKEN}`, headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);

  const text = baton.logText();
  t.ok(text.length > 0 && baton.logs.some((l) => l.msg === 'Drain requested'), 'the logs were captured');
  t.notOk(text.includes(TOKEN), 'the token is not in the logs');
  t.notOk(text.includes(TOKEN.slice(0, -1)), 'nor the near-miss token that was sent wrong');
  t.notOk(text.includes(TOKEN.slice(0, 12)), 'nor a prefix of it');
});

t.test('the admin API is not reachable through the public entrypoint under any Host', async (t) => {
  const { a, b, baton } = await twoUpstreams(t);
  const { port, adminPort } = baton;
  const hosts = ['127.0.0.1', 'localhost', `127.0.0.1:${adminPort}`, `localhost:${adminPort}`, `127.0.0.1:${port}`, 'admin', '[::1]', `[::1]:${adminPort}`];
  const paths = ['/api/services', '/api/events', '/healthz', '/metrics', '/api/upstreams/x/drain'];
  for (const host of hosts) {
    for (const path of paths) {
      for (const method of ['GET', 'POST']) {
        const r = await http(port, { method, host, path, headers: { authorization: `Bearer ${TOKEN}` }, body: method === 'POST' ? '{}' : undefined });
        t.equal(r.status, 404, `${method} ${path} with Host ${host} → 404`);
        t.equal(r.headers['x-baton-error'], 'no_route', 'answered by baton itself');
        t.notMatch(r.body, /"services"|"status":"ok"|baton_requests_total/, 'never the admin answer');
      }
    }
  }
  // absolute-form request line naming the admin address
  const abs = await raw(port, `GET http://127.0.0.1:${adminPort}/api/services HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`);
  t.match(abs.data, /^HTTP\/1\.1 4\d\d /, `absolute-form → 4xx: ${abs.data.split('\r\n')[0]}`);
  t.notMatch(abs.data, /"services"/);
  t.equal(a.seen.length + b.seen.length, 0, 'no upstream was contacted');
  t.equal((await admin(adminPort, 'GET', '/api/services')).status, 200, 'while the admin port itself does answer');
});

t.test('malformed drain requests are 400 with a clear message and change nothing', async (t) => {
  const { baton, idA } = await twoUpstreams(t);
  const path = `/api/upstreams/${encodeURIComponent(idA)}/drain`;
  const events: unknown[] = [];
  baton.app.events.subscribe((_type, e) => events.push(e));
  const cases: Array<[string, RegExp]> = [
    ['{"timeout": "5s"', /malformed JSON/],
    ['not json', /malformed JSON/],
    ['{"timeout": "5s", "force": true}', /force|[Uu]nrecognized/],
    ['{"timout": "5s"}', /timout|[Uu]nrecognized/],
    ['{"timeout": "soon"}', /timeout: invalid duration "soon"/],
    ['{"timeout": "-5s"}', /timeout: invalid duration/],
    ['{"timeout": -1}', /timeout: invalid duration/],
    ['{"timeout": 1e12}', /timeout: invalid duration/], // longer than a timer can hold: it would fire at once
    ['{"timeout": true}', /timeout/],
    ['{"timeout": null}', /timeout/],
    ['[]', /body/],
    ['null', /body/],
    ['"5s"', /body/],
    ['42', /body/],
  ];
  for (const [body, want] of cases) {
    const r = await admin(baton.adminPort, 'POST', path, body);
    t.equal(r.status, 400, `${body} → 400`);
    t.equal(r.json.error.code, 'BATON_BAD_REQUEST');
    t.match(r.json.error.message, want, `${body}: ${r.json.error.message}`);
    t.equal(upstreamState(baton.app, idA), 'healthy', `${body}: state unchanged`);
  }
  // an oversized body
  const big = await admin(baton.adminPort, 'POST', path, JSON.stringify({ timeout: '1s', pad: 'x'.repeat(70 * 1024) }));
  t.equal(big.status, 400);
  t.match(big.json.error.message, /larger than/);

  // enable takes no fields
  const en = await admin(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(idA)}/enable`, { now: true });
  t.equal(en.status, 400);
  t.match(en.json.error.message, /now|[Uu]nrecognized/);

  t.equal(upstreamState(baton.app, idA), 'healthy');
  t.same(events, [], 'no state change was even started');
  const listed = await admin(baton.adminPort, 'GET', '/api/services');
  t.same(
    listed.json.services[0].upstreams.map((u: { state: string }) => u.state),
    ['healthy', 'healthy'],
  );
  // and the upstream still gets traffic
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) seen.add(String((await http(baton.port)).headers['x-upstream']));
  t.same([...seen].sort(), ['a', 'b']);
});

t.test('a drained upstream given a bad enable body stays drained', async (t) => {
  const { baton, idA } = await twoUpstreams(t);
  t.equal((await admin(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(idA)}/drain`, {})).json.state, 'drained');
  const r = await admin(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(idA)}/enable`, '{nope');
  t.equal(r.status, 400);
  t.equal(upstreamState(baton.app, idA), 'drained');
});

t.test('unknown upstreams and endpoints are 404', async (t) => {
  const { baton } = await twoUpstreams(t);
  for (const [method, path] of [
    ['POST', '/api/upstreams/nonexistent/drain'],
    ['POST', '/api/upstreams/nonexistent/enable'],
    ['GET', '/api/upstreams/nonexistent'],
  ]) {
    const r = await admin(baton.adminPort, method, path, method === 'POST' ? {} : undefined);
    t.equal(r.status, 404, `${method} ${path}`);
    t.equal(r.json.error.code, 'BATON_NOT_FOUND');
    t.match(r.json.error.message, /no upstream with id "nonexistent"/);
  }
  for (const path of ['/api/nothing', '/api/services/app/nothing', '/api/upstreams', '/nothing']) {
    const r = await admin(baton.adminPort, 'GET', path);
    t.equal(r.status, 404, `GET ${path}`);
    t.equal(r.json.error.code, 'BATON_NOT_FOUND');
  }
});

t.test('a wrong method is 405 with Allow', async (t) => {
  const { baton, idA } = await twoUpstreams(t);
  const id = encodeURIComponent(idA);
  const cases: Array<[string, string, string]> = [
    ['POST', '/api/services', 'GET'],
    ['DELETE', '/api/services', 'GET'],
    ['PUT', '/api/events', 'GET'],
    ['GET', `/api/upstreams/${id}/drain`, 'POST'],
    ['PUT', `/api/upstreams/${id}/enable`, 'POST'],
    ['DELETE', `/api/upstreams/${id}`, 'GET'],
    ['POST', '/healthz', 'GET, HEAD'],
    ['POST', '/metrics', 'GET'],
  ];
  for (const [method, path, allow] of cases) {
    const r = await call(baton.adminPort, method, path, { authorization: `Bearer ${TOKEN}`, body: ['POST', 'PUT'].includes(method) ? '{}' : undefined });
    t.equal(r.status, 405, `${method} ${path} → 405`);
    t.equal(r.json?.error?.code, 'BATON_METHOD_NOT_ALLOWED');
    t.equal(r.headers.get('allow'), allow, `${method} ${path}: Allow: ${allow}`);
  }
  t.equal(upstreamState(baton.app, idA), 'healthy', 'GET on /drain drained nothing');
  // an unknown action on a known upstream is a 404, whatever the method
  t.equal((await admin(baton.adminPort, 'GET', `/api/upstreams/${id}/bogus`)).status, 404);
  t.equal((await admin(baton.adminPort, 'POST', `/api/upstreams/${id}/bogus`, {})).status, 404);
});

t.test('GET /api/services has the documented shape', async (t) => {
  const a = await startUpstream(t, 'a');
  const b = await startUpstream(t, 'b');
  const c = await startUpstream(t, 'c');
  const baton = await startBaton(t, {
    services: {
      app: { rule: RULE, upstreams: [a.url, `${b.url}/`] },
      api: { rule: 'Host(`api.test`) && PathPrefix(`/v1`)', upstreams: [c.url], loadBalancer: 'least-connections' },
      empty: { rule: 'Host(`empty.test`)' },
    },
  });
  const r = await admin(baton.adminPort, 'GET', '/api/services');
  t.equal(r.status, 200);
  t.same(Object.keys(r.json), ['services']);
  const byName = new Map<string, any>(r.json.services.map((s: { name: string }) => [s.name, s]));
  t.same([...byName.keys()].sort(), ['api', 'app', 'empty']);
  t.has(byName.get('app'), { name: 'app', rule: RULE, entrypoints: ['web'], tls: false, middlewares: [] });
  t.same(byName.get('app').upstreams, [
    { id: `app@127.0.0.1:${a.port}`, url: a.url, state: 'healthy', inflight: 0, requests: 0, failures: 0 },
    { id: `app@127.0.0.1:${b.port}`, url: b.url, state: 'healthy', inflight: 0, requests: 0, failures: 0 },
  ]);
  t.has(byName.get('api'), { name: 'api', rule: 'Host(`api.test`) && PathPrefix(`/v1`)' });
  t.same(byName.get('api').upstreams, [{ id: `api@127.0.0.1:${c.port}`, url: c.url, state: 'healthy', inflight: 0, requests: 0, failures: 0 }]);
  t.same(byName.get('empty').upstreams, []);
  for (const s of r.json.services) {
    t.type(s.name, 'string');
    t.type(s.rule, 'string');
    t.ok(Array.isArray(s.upstreams));
  }
  // one upstream by id
  const one = await admin(baton.adminPort, 'GET', `/api/upstreams/${encodeURIComponent(`api@127.0.0.1:${c.port}`)}`);
  t.same(one.json, { id: `api@127.0.0.1:${c.port}`, url: c.url, state: 'healthy', inflight: 0, requests: 0, failures: 0 });
});

t.test('inflight in /api/services counts requests in progress', async (t) => {
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const slow = await startUpstream(t, 'slow', (_req, res) => void gate.then(() => res.end('done')));
  t.teardown(() => release());
  const baton = await startBaton(t, { services: { app: { rule: RULE, upstreams: [slow.url] } } });
  const pending = http(baton.port);
  await waitFor(() => slow.seen.length === 1, 5000, 'the request to reach the upstream');
  const r = await admin(baton.adminPort, 'GET', '/api/services');
  t.equal(r.json.services[0].upstreams[0].inflight, 1);
  release();
  t.equal((await pending).status, 200);
  await waitFor(async () => (await admin(baton.adminPort, 'GET', '/api/services')).json.services[0].upstreams[0].inflight === 0, 5000, 'inflight 0');
});

t.test('drain then enable round trip (no health check)', async (t) => {
  const { baton, idA, idB } = await twoUpstreams(t);
  const path = (action: string) => `/api/upstreams/${encodeURIComponent(idA)}/${action}`;
  const d = await admin(baton.adminPort, 'POST', path('drain'), { timeout: '5s' });
  t.equal(d.status, 200);
  t.has(d.json, { id: idA, state: 'drained', timedOut: false, aborted: 0 });
  t.type(d.json.durationMs, 'number');
  const states = async () =>
    Object.fromEntries((await admin(baton.adminPort, 'GET', '/api/services')).json.services[0].upstreams.map((u: { id: string; state: string }) => [u.id, u.state]));
  t.same(await states(), { [idA]: 'drained', [idB]: 'healthy' });
  for (let i = 0; i < 6; i++) t.equal((await http(baton.port)).headers['x-upstream'], 'b', 'a drained upstream gets no traffic');

  // draining again is harmless
  const again = await admin(baton.adminPort, 'POST', path('drain'), {});
  t.equal(again.status, 200);
  t.equal(again.json.state, 'drained');

  const e = await admin(baton.adminPort, 'POST', path('enable'), {});
  t.equal(e.status, 200);
  t.same(e.json, { id: idA, state: 'healthy', inflight: 0 });
  t.same(await states(), { [idA]: 'healthy', [idB]: 'healthy' });
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) seen.add(String((await http(baton.port)).headers['x-upstream']));
  t.same([...seen].sort(), ['a', 'b'], 'back in rotation');
  // enable with an empty body works too
  t.equal((await call(baton.adminPort, 'POST', path('enable'), { authorization: `Bearer ${TOKEN}` })).status, 200);
});

t.test('drain with a request in flight: draining, then drained once it completes', async (t) => {
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const slow = await startUpstream(t, 'slow', (_req, res) => void gate.then(() => res.end('slow done')));
  t.teardown(() => release());
  const other = await startUpstream(t, 'other');
  const baton = await startBaton(t, { services: { app: { rule: RULE, upstreams: [slow.url, other.url] } } });
  const id = `app@127.0.0.1:${slow.port}`;
  const pending = http(baton.port); // round-robin: the first request goes to the first upstream
  await waitFor(() => slow.seen.length === 1, 5000, 'the request to reach the slow upstream');

  const nowait = await admin(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(id)}/drain?wait=false`, { timeout: '10s' });
  t.equal(nowait.status, 202);
  t.same(nowait.json, { id, state: 'draining', inflight: 1 });
  const listed = await admin(baton.adminPort, 'GET', `/api/upstreams/${encodeURIComponent(id)}`);
  t.equal(listed.json.state, 'draining');

  // a waiting drain answers only once in-flight reaches zero
  let drainedAt = 0;
  let finishedAt = 0;
  const waiting = admin(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(id)}/drain`, {}).then((r) => ((drainedAt = performance.now()), r));
  for (let i = 0; i < 3; i++) t.equal((await http(baton.port)).headers['x-upstream'], 'other', 'new requests avoid the draining upstream');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(drainedAt, 0, 'the drain is still waiting');
  release();
  const done = await pending.then((r) => ((finishedAt = performance.now()), r));
  t.equal(done.status, 200);
  t.equal(done.body, 'slow done', 'the in-flight request completed');
  const w = await waiting;
  t.equal(w.status, 200);
  t.has(w.json, { id, state: 'drained', timedOut: false, aborted: 0 });
  t.ok(drainedAt >= finishedAt - 50, 'the drain finished after the request');
  t.equal(upstreamState(baton.app, id), 'drained');
});

t.test('a timed-out drain reports it', async (t) => {
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const slow = await startUpstream(t, 'slow', (_req, res) => void gate.then(() => res.end('late')));
  t.teardown(() => release());
  const baton = await startBaton(t, { services: { app: { rule: RULE, upstreams: [slow.url] } } });
  const id = `app@127.0.0.1:${slow.port}`;
  const pending = http(baton.port);
  await waitFor(() => slow.seen.length === 1, 5000, 'the request to reach the upstream');
  const r = await admin(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(id)}/drain`, { timeout: 200 });
  t.equal(r.status, 200);
  t.has(r.json, { id, state: 'drained', timedOut: true, aborted: 1 });
  t.ok(r.json.durationMs >= 150, `took about the timeout (${r.json.durationMs} ms)`);
  const p = await pending;
  t.ok(p.status >= 500, `the aborted request got a 5xx (${p.status})`);
});

t.test('enable with a health check goes through starting, then healthy', async (t) => {
  const { baton, idA } = await twoUpstreams(t, { healthCheck: { path: '/health', interval: '50ms', timeout: '1s', rise: 2, fall: 2 } });
  await waitFor(() => upstreamState(baton.app, idA) === 'healthy', 5000, 'the upstream to pass its health check');
  const path = (action: string) => `/api/upstreams/${encodeURIComponent(idA)}/${action}`;
  t.equal((await admin(baton.adminPort, 'POST', path('drain'), {})).json.state, 'drained');
  const e = await admin(baton.adminPort, 'POST', path('enable'), {});
  t.equal(e.status, 200);
  t.equal(e.json.state, 'starting', 'back through the health gate');
  await waitFor(async () => (await admin(baton.adminPort, 'GET', `/api/upstreams/${encodeURIComponent(idA)}`)).json.state === 'healthy', 5000, 'healthy again');
});

t.test('GET /metrics is Prometheus text (prom-client) with request counters, behind the token', async (t) => {
  const { baton, idA } = await twoUpstreams(t);
  for (let i = 0; i < 5; i++) t.equal((await http(baton.port)).status, 200);
  t.equal((await http(baton.port, { host: 'nobody.test' })).status, 404);
  const refused = await fetch(`http://127.0.0.1:${baton.adminPort}/metrics`);
  t.equal(refused.status, 401, 'no token: refused (metrics.public is off)');
  t.equal(refused.headers.get('www-authenticate'), 'Bearer realm="baton"');
  const wrong = await fetch(`http://127.0.0.1:${baton.adminPort}/metrics`, { headers: { authorization: 'Bearer nope-nope-nope-nope' } });
  t.equal(wrong.status, 401, 'a wrong token: refused');
  const res = await fetch(`http://127.0.0.1:${baton.adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  t.match(text, /^# HELP baton_service_requests_total .+$/m);
  t.match(text, /^# TYPE baton_service_requests_total counter$/m);
  t.match(text, /^baton_service_requests_total\{service="app",code="200",method="GET"\} 5$/m);
  t.match(text, /^baton_entrypoint_requests_total\{entrypoint="web",code="200",method="GET",protocol="http"\} 5$/m);
  t.match(text, /^baton_entrypoint_requests_total\{entrypoint="web",code="404",method="GET",protocol="http"\} 1$/m);
  t.match(text, /^baton_entrypoint_no_route_total\{entrypoint="web"\} 1$/m);
  t.match(text, /^baton_service_request_duration_seconds_count\{service="app"\} 5$/m);
  t.match(text, /^baton_service_request_duration_seconds_bucket\{service="app",le="\+Inf"\} 5$/m);
  t.match(text, new RegExp(`^baton_upstream_state\\{service="app",upstream="${idA.replace(/\./g, '\\.')}",state="healthy"\\} 1$`, 'm'));
  t.match(text, new RegExp(`^baton_upstream_up\\{service="app",upstream="${idA.replace(/\./g, '\\.')}"\\} 1$`, 'm'));
  t.match(text, /^baton_health_checks_total\{service="app",result="success"\} \d+$/m, 'health probes counted');
  t.match(text, /^process_cpu_seconds_total \d/m, 'process metrics');
  t.match(text, /^nodejs_eventloop_lag_seconds \d/m);
  const perUpstream = [...text.matchAll(/^baton_upstream_requests_total\{service="app",upstream="[^"]+"\} (\d+)$/gm)].map((m) => Number(m[1]));
  t.equal(perUpstream.reduce((x, y) => x + y, 0), 5, 'per-upstream counts add up');
  // the buckets are cumulative and end at the count
  const buckets = [...text.matchAll(/^baton_service_request_duration_seconds_bucket\{service="app",le="([^"]+)"\} (\d+)$/gm)].map((m) => Number(m[2]));
  t.same(buckets, [...buckets].sort((a, b) => a - b), 'cumulative');
  t.equal(buckets.at(-1), 5);
  // every line is a comment or a well-formed sample; every family has HELP and TYPE
  for (const line of text.trimEnd().split('\n').filter((l) => l !== '')) {
    // (prom-client writes NaN as "Nan": Prometheus parses floats case-insensitively)
    t.match(line, /^(# (HELP|TYPE) [a-z_][a-z0-9_]* .+|[a-z_][a-z0-9_]*(\{[a-z_]+="[^"\n]*"(,[a-z_]+="[^"\n]*")*\})? (-?\d+(\.\d+)?(e[-+]\d+)?|Nan|[+-]Inf))$/, `well-formed: ${line}`);
  }
  const families = new Set([...text.matchAll(/^([a-z_][a-z0-9_]*?)(_bucket|_sum|_count)?[{ ]/gm)].map((m) => m[1]));
  for (const f of families) t.match(text, new RegExp(`^# TYPE ${f}(_bucket|_sum|_count)? (counter|gauge|histogram|summary)$`, 'm'), `${f} has a TYPE`);
});

t.test('metrics.public serves /metrics without the token; metrics.enabled off keeps state and process metrics', async (t) => {
  const a = await startUpstream(t, 'a');
  const baton = await startBaton(t, {
    metrics: { public: true, enabled: false },
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } },
  });
  t.equal((await http(baton.port)).status, 200);
  const res = await fetch(`http://127.0.0.1:${baton.adminPort}/metrics`);
  t.equal(res.status, 200, 'public: no token needed');
  const text = await res.text();
  t.notMatch(text, /^baton_service_requests_total\{/m, 'no request counters with metrics off');
  t.match(text, /^baton_upstream_up\{service="app",/m, 'state metrics still there');
  t.match(text, /^process_resident_memory_bytes \d/m);
  t.equal((await admin(baton.adminPort, 'GET', '/api/services', undefined, null)).status, 401, 'the API still needs the token');
});

t.test('bad metrics settings are refused at load', async (t) => {
  const { parseConfig } = await import('../src/config/load.ts');
  t.throws(() => parseConfig({ metrics: { buckets: [0.5, 0.1] } }, { env: {} }), /increasing/);
  t.throws(() => parseConfig({ metrics: { buckets: [] } }, { env: {} }), /metrics\.buckets/);
  t.throws(() => parseConfig({ metrics: { buckets: [-1] } }, { env: {} }), /metrics\.buckets/);
  t.throws(() => parseConfig({ metrics: { public: 'yes' } }, { env: {} }), /metrics\.public/);
});

t.test('GET /api/events streams upstream state changes (SSE)', async (t) => {
  const { baton, idA } = await twoUpstreams(t);
  const sse = subscribe(t, baton.adminPort, TOKEN);
  await waitFor(() => sse.events.length >= 1, 5000, 'the hello event');
  t.equal(sse.status(), 200);
  t.match(sse.contentType(), /^text\/event-stream/);
  t.equal(sse.events[0].event, 'hello');
  t.equal(sse.events[0].data.services[0].name, 'app');

  t.equal((await admin(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(idA)}/drain`, {})).status, 200);
  await waitFor(() => sse.events.filter((e) => e.event === 'upstream').length >= 2, 5000, 'two upstream events');
  const ups = sse.events.filter((e) => e.event === 'upstream').map((e) => e.data);
  t.has(ups[0], { type: 'upstream', id: idA, service: 'app', from: 'healthy', to: 'draining' });
  t.has(ups[1], { type: 'upstream', id: idA, service: 'app', from: 'draining', to: 'drained' });
  t.type(ups[0].at, 'string');

  t.equal((await admin(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(idA)}/enable`, {})).status, 200);
  await waitFor(() => sse.events.filter((e) => e.event === 'upstream').length >= 3, 5000, 'the enable event');
  t.has(sse.events.filter((e) => e.event === 'upstream')[2].data, { id: idA, from: 'drained', to: 'healthy' });

  // a subscriber without the token gets nothing
  const denied = subscribe(t, baton.adminPort, 'wrong-token-0123456789abcdef');
  await waitFor(() => denied.status() !== 0, 5000, 'the denied answer');
  t.equal(denied.status(), 401);
  t.same(denied.events, []);
});

t.test('with no token configured, baton generates one into <stateDir>/admin-token (0600) and reuses it', async (t) => {
  const a = await startUpstream(t, 'a');
  const stateDir = join(tempDir(t), 'state');
  const cfg = { admin: { address: '127.0.0.1:0' }, stateDir, services: { app: { rule: RULE, upstreams: [a.url] } } };
  const first = await startBaton(t, cfg);
  const file = join(stateDir, 'admin-token');
  const token = first.app.token;
  t.ok(token.length >= 32, 'a long random token');
  t.not(token, TOKEN);
  t.equal(readFileSync(file, 'utf8').trim(), token, 'written to the token file');
  t.equal(statSync(file).mode & 0o777, 0o600, 'the file is 0600');
  t.equal(statSync(stateDir).mode & 0o077, 0, 'the folder is private too');

  const generated = first.logs.find((l) => l.tokenFile !== undefined);
  t.ok(generated, 'the file path is logged');
  t.equal(generated?.tokenFile, file);
  t.match(String(generated?.msg), /Generated an admin token/);
  t.notOk(first.logText().includes(token), 'the token itself is never logged');

  t.equal((await admin(first.adminPort, 'GET', '/api/services', undefined, token)).status, 200, 'the generated token works');
  t.equal((await admin(first.adminPort, 'GET', '/api/services', undefined, TOKEN)).status, 401);

  // a second start with the same stateDir reuses it
  const second = await startBaton(t, cfg);
  t.equal(second.app.token, token, 'same token');
  t.equal(readFileSync(file, 'utf8').trim(), token, 'file unchanged');
  const reused = second.logs.find((l) => l.tokenFile !== undefined);
  t.equal(reused?.tokenFile, file);
  t.match(String(reused?.msg), /Using the admin token from its file/);
  t.notOk(second.logText().includes(token));
  t.equal((await admin(second.adminPort, 'GET', '/api/services', undefined, token)).status, 200);

  // loosened permissions are tightened again on the next start
  chmodSync(file, 0o644);
  const third = await startBaton(t, cfg);
  t.equal(third.app.token, token);
  t.equal(statSync(file).mode & 0o777, 0o600);
});

t.test('a configured or env token is used as is and nothing is written', async (t) => {
  const stateDir = join(tempDir(t), 'state');
  const envToken = 'env-admin-token-0123456789abcdef';
  const b = await startBaton(t, { admin: { address: '127.0.0.1:0' }, stateDir }, { BATON_ADMIN_TOKEN: envToken });
  t.equal(b.app.token, envToken);
  t.throws(() => statSync(join(stateDir, 'admin-token')), { code: 'ENOENT' }, 'no token file');
  t.equal((await admin(b.adminPort, 'GET', '/api/services', undefined, envToken)).status, 200);
  t.notOk(b.logText().includes(envToken));
});

t.test('generated tokens are safe to pass as a CLI argument and in a header', async (t) => {
  const dir = tempDir(t);
  const seen = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const { token, generated } = ensureToken(undefined, join(dir, `token-${i}`));
    t.equal(generated, true);
    seen.add(token);
    // a leading "-" would make `baton status --token <token>` read it as an option
    if (!/^[A-Za-z0-9_][A-Za-z0-9_-]{31,}$/.test(token)) t.fail(`token not argument-safe: ${token}`);
  }
  t.equal(seen.size, 500, 'every token is different');
  const again = ensureToken(undefined, join(dir, 'token-0'));
  t.same({ generated: again.generated, source: again.source }, { generated: false, source: join(dir, 'token-0') }, 'an existing file is reused');
  t.same(ensureToken('configured-token-0123456789', join(dir, 'unused')), { token: 'configured-token-0123456789', source: 'config', generated: false });
  t.throws(() => statSync(join(dir, 'unused')), { code: 'ENOENT' });
});

t.test('checkBearer', async (t) => {
  const token = 'a-token-0123456789abcdef';
  const cases: Array<[string | undefined, boolean]> = [
    [`Bearer ${token}`, true],
    [`bearer ${token}`, true],
    [`Bearer   ${token}  `, true],
    [`Bearer\t${token}`, true],
    [undefined, false],
    ['', false],
    ['Bearer', false],
    ['Bearer ', false],
    [token, false],
    [`Bearer${token}`, false],
    [`Basic ${token}`, false],
    [`Bearer ${token.slice(0, -1)}`, false],
    [`Bearer ${token}x`, false],
    [`Bearer ${token.toUpperCase()}`, false],
    [`Bearer ${token} ${token}`, false],
  ];
  for (const [header, want] of cases) t.equal(checkBearer(header, token), want, `${JSON.stringify(header)} → ${want}`);
});

t.test('deploy endpoints without the Docker provider: 409 with a clear message, nothing started', async (t) => {
  const { adminPort } = await startBaton(t, {});
  for (const [method, path, body] of [
    ['POST', '/api/services/app/deploys', { image: 'app:v2' }],
    ['POST', '/api/services/app/rollback', {}],
    ['POST', '/api/services/app/scale', { replicas: 2 }],
    ['GET', '/api/deploys/d-nope', undefined],
  ] as const) {
    const r = await admin(adminPort, method, path, body);
    t.equal(r.status, 409, `${method} ${path}`);
    t.equal(r.json.error.code, 'BATON_DOCKER_DISABLED');
    t.match(r.json.error.message, /providers\.docker\.enabled/);
  }
});

t.test('GET /api/containers: requests in flight here to containers (what a deploying replica asks its peers)', async (t) => {
  const { baton } = await twoUpstreams(t);
  const port = baton.adminPort;
  t.equal((await call(port, 'GET', '/api/containers?ids=abc')).status, 401, 'token required');
  const r = await admin(port, 'GET', '/api/containers?ids=abc,def');
  t.equal(r.status, 200);
  t.same(r.json, { containers: { abc: { inflight: 0, upstream: null }, def: { inflight: 0, upstream: null } } }, 'unknown ids: nothing in flight');
  const none = await admin(port, 'GET', '/api/containers');
  t.equal(none.status, 400);
  t.match(none.json.error.message, /ids: 1 to 100/);
  const many = await admin(port, 'GET', `/api/containers?ids=${Array.from({ length: 101 }, (_, i) => `c${i}`).join(',')}`);
  t.equal(many.status, 400, 'at most 100 ids');
  t.equal((await admin(port, 'POST', '/api/containers?ids=abc', {})).status, 405);
});

t.test('the stats event: every second while subscribed, running totals, p50/p99, upstream counters', async (t) => {
  const { baton, idA } = await twoUpstreams(t);
  const sse = subscribe(t, baton.adminPort, TOKEN);
  for (let i = 0; i < 4; i++) t.equal((await http(baton.port)).status, 200);
  await waitFor(() => sse.events.some((e) => e.event === 'stats' && e.data.services.app.requests === 4), 3000, 'stats with 4 requests');
  const s = sse.events.find((e) => e.event === 'stats' && e.data.services.app.requests === 4)!.data;
  t.type(s.at, 'number');
  t.same(s.services.app.responses, [0, 0, 4, 0, 0, 0]);
  t.ok(s.services.app.p50 > 0 && s.services.app.p50 < 1, `p50 ${s.services.app.p50}s`);
  t.ok(s.services.app.p99 >= s.services.app.p50);
  t.has(s.upstreams[idA], { service: 'app', state: 'healthy', inflight: 0 });
  const requests = Object.values<any>(s.upstreams).reduce((n, u) => n + u.requests, 0);
  t.equal(requests, 4, 'per-upstream requests add up');
  sse.close();
});

t.test('GET /api/deploys: limit checked first; without Docker there is no deployer (409)', async (t) => {
  const { baton } = await twoUpstreams(t);
  for (const bad of ['0', '-1', '1001', 'ten', '1.5', '']) {
    const r = await admin(baton.adminPort, 'GET', `/api/deploys?limit=${bad}`);
    t.equal(r.status, 400, `limit=${bad}`);
    t.equal(r.json.error.code, 'BATON_BAD_REQUEST');
  }
  const r = await admin(baton.adminPort, 'GET', '/api/deploys?service=app&limit=5');
  t.equal(r.status, 409);
  t.equal(r.json.error.code, 'BATON_DOCKER_DISABLED');
    t.equal((await admin(baton.adminPort, 'POST', '/api/deploys', {})).status, 400, 'a group deploy needs services');
    t.equal((await admin(baton.adminPort, 'PUT', '/api/deploys', {})).status, 405);
  t.equal((await admin(baton.adminPort, 'GET', '/api/deploys', undefined, null)).status, 401);
});
