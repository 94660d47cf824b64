// The middleware pipeline end to end, through plugins (TypeScript modules loaded from the config): hook order,
// rewrites, answers, async hooks, body transforms, replaced responses, retries, failures, upgrades.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { closedPort, http, startBaton, startUpstream, tempDir, waitFor } from './fixtures/harness.ts';
import { startApp } from './fixtures/middleware.ts';
import { h2request, h2session, startTlsBaton } from './fixtures/tls-baton.ts';

const PLUGINS: Record<string, string> = {
  'rewrite.ts': `
    export default {
      options(raw) { if (typeof raw.prefix !== 'string') throw new Error('prefix: required'); return raw; },
      create(o) {
        return { onRequest(ctx) { ctx.path = o.prefix + ctx.path; ctx.headers.set('x-plugin', 'yes'); } };
      },
    };`,
  'deny.ts': `
    export default { create() { return { onRequest(ctx) {
      if (ctx.headers.get('x-key') !== 'open') ctx.respond(403, { 'content-type': 'text/plain' }, 'no\\n');
    } }; } };`,
  'boom.ts': `
    export default { create() { return { onRequest(ctx) { if (ctx.path.includes('boom')) throw new Error('kaboom'); } }; } };`,
  'order.ts': `
    const calls = [];
    globalThis.__order = calls;
    export default { create(o) { return {
      async onRequest(ctx) { await new Promise((r) => setTimeout(r, 5)); calls.push('req:' + o.tag); },
      onResponse(ctx, res) { calls.push('res:' + o.tag); res.headers.append('x-order', o.tag); },
      onDone() { calls.push('done:' + o.tag); },
    }; } };`,
  'upper.ts': `
    import { Transform } from 'node:stream';
    export default { create() { return { onResponse(ctx, res) {
      res.headers.delete('content-length');
      res.transformBody(new Transform({ transform(c, _e, cb) { cb(null, Buffer.from(String(c).toUpperCase())); } }));
    } }; } };`,
  'status.ts': `
    export default { create() { return { async onResponse(ctx, res) {
      await new Promise((r) => setTimeout(r, 5)); if (res.status === 200) { res.status = 203; res.headers.set('x-seen', res.error ?? 'upstream'); }
    } }; } };`,
  'pages.ts': `
    export default { create() { return { onResponse(ctx, res) {
      if (res.status >= 500) res.replaceWith('pages', '/' + res.status + '.html');
    } }; } };`,
  'other.ts': `
    export default { create() { return { onRequest(ctx) {
      if (ctx.headers.get('x-to') === 'b') ctx.useService('b');
    } }; } };`,
  'body.ts': `
    export default { create() { return { async onRequest(ctx) {
      const b = await ctx.readBody(64); ctx.headers.set('x-body-length', String(b.length));
    } }; } };`,
  'retry.ts': `export default { create() { return { onRequest(ctx) { ctx.retry(3, 5); } }; } };`,
  'answer-reject.ts': `
    export default { create() { return { async onRequest(ctx) { ctx.respond(401); throw new Error('after the answer'); } }; } };`,
};

function pluginDir(tap: Parameters<typeof tempDir>[0]): string {
  const dir = tempDir(tap);
  for (const [name, src] of Object.entries(PLUGINS)) writeFileSync(join(dir, name), src);
  return dir;
}

function plugins(dir: string, list: Record<string, [string, Record<string, unknown>?]>) {
  return Object.fromEntries(
    Object.entries(list).map(([name, [file, options]]) => [name, { module: join(dir, file), options: options ?? {} }]),
  );
}

t.test('request hooks rewrite, answer, and fail without harm', async (t) => {
  const dir = pluginDir(t);
  const up = await startUpstream(t, 'a');
  const b = await startBaton(t, {
    plugins: plugins(dir, { rw: ['rewrite.ts', { prefix: '/v2' }], deny: ['deny.ts'], boom: ['boom.ts'] }),
    services: {
      a: { rule: 'PathPrefix(`/`)', upstreams: [up.url], middlewares: ['boom', 'deny', 'rw'] },
    },
  });
  const denied = await http(b.port, { path: '/x' });
  t.equal(denied.status, 403);
  t.equal(denied.body, 'no\n');
  t.equal(up.seen.length, 0, 'an answered request never reaches the upstream');

  const ok = await http(b.port, { path: '/x?q=1', headers: { 'x-key': 'open' } });
  t.equal(ok.status, 200);
  t.equal(up.seen[0].url, '/v2/x?q=1', 'path rewritten, query kept');
  t.equal(up.seen[0].headers['x-plugin'], 'yes');

  for (let i = 0; i < 3; i++) {
    const r = await http(b.port, { path: '/boom', headers: { 'x-key': 'open' } });
    t.equal(r.status, 500);
    t.equal(r.headers['x-baton-error'], 'plugin_error');
  }
  const logged = b.logs.filter((l) => l.middleware === 'boom@file' && l.msg === 'middleware boom@file failed');
  t.equal(logged.length, 1, 'a burst of failures is logged once, with the middleware name');
  t.equal((await http(b.port, { path: '/y', headers: { 'x-key': 'open' } })).status, 200, 'still serving');
  await waitFor(() => b.app.entrypoints.get('web')!.active === 0, 2000, 'no request left in progress');
  t.equal(b.app.registry.inflight(), 0, 'no in-flight count leaked');
});

t.test('an answer with an unread body closes the connection; a promise rejected after an answer is only logged', async (t) => {
  const dir = pluginDir(t);
  const up = await startUpstream(t, 'a');
  const b = await startBaton(t, {
    plugins: plugins(dir, { deny: ['deny.ts'], late: ['answer-reject.ts'] }),
    services: {
      a: { rule: 'PathPrefix(`/`)', upstreams: [up.url], middlewares: ['deny'] },
      l: { rule: 'PathPrefix(`/late`)', upstreams: [up.url], middlewares: ['late'] },
    },
  });
  const r = await http(b.port, { method: 'POST', path: '/', body: 'x'.repeat(5000) });
  t.equal(r.status, 403);
  t.equal(r.headers.connection, 'close', 'the body nobody read is not left on a kept-alive connection');
  const late = await http(b.port, { path: '/late' });
  t.equal(late.status, 401);
  await waitFor(() => b.logs.some((l) => l.middleware === 'late@file'), 2000, 'the rejection logged');
  t.equal((await http(b.port, { path: '/x', headers: { 'x-key': 'open' } })).status, 200, 'baton still serves');
});

t.test('hook order: requests in order, responses in reverse, done once; async hooks', async (t) => {
  const dir = pluginDir(t);
  const up = await startUpstream(t, 'a');
  const b = await startBaton(t, {
    plugins: plugins(dir, { one: ['order.ts', { tag: '1' }], two: ['order.ts', { tag: '2' }] }),
    entrypoints: { web: { address: '127.0.0.1:0', http: { middlewares: ['one'] } } },
    services: { a: { rule: 'PathPrefix(`/`)', upstreams: [up.url], middlewares: ['two'] } },
  });
  const r = await http(b.port, { path: '/' });
  t.equal(r.status, 200);
  t.same(r.headers['x-order'], ['2', '1'], 'response hooks in reverse order');
  const calls = (globalThis as { __order?: string[] }).__order!;
  await waitFor(() => calls.length === 6, 2000, 'done hooks');
  t.same(calls, ['req:1', 'req:2', 'res:2', 'res:1', 'done:1', 'done:2']);
});

t.test('response hooks: async status rewrite, body transform, replaced error page', async (t) => {
  const dir = pluginDir(t);
  const up = await startUpstream(t, 'a', (req, res) => {
    if (req.url === '/fail') {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('upstream broke');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('hello world');
  });
  const pages = await startUpstream(t, 'pages', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<p>sorry: ${req.url}</p>`);
  });
  const dead = await closedPort();
  const b = await startBaton(t, {
    plugins: plugins(dir, { st: ['status.ts'], up: ['upper.ts'], pg: ['pages.ts'] }),
    services: {
      s: { rule: 'PathPrefix(`/s`)', upstreams: [up.url], middlewares: ['st'] },
      u: { rule: 'PathPrefix(`/u`)', upstreams: [up.url], middlewares: ['up'] },
      p: { rule: 'PathPrefix(`/fail`)', upstreams: [up.url], middlewares: ['pg'] },
      gone: { rule: 'PathPrefix(`/gone`)', upstreams: [`http://127.0.0.1:${dead}`], middlewares: ['pg'], retries: 0 },
      pages: { rule: 'Host(`pages.internal`)', upstreams: [pages.url] },
    },
  });
  const s = await http(b.port, { path: '/s' });
  t.equal(s.status, 203);
  t.equal(s.headers['x-seen'], 'upstream');
  t.equal(s.body, 'hello world');

  const u = await http(b.port, { path: '/u' });
  t.equal(u.status, 200);
  t.equal(u.body, 'HELLO WORLD');

  const f = await http(b.port, { path: '/fail' });
  t.equal(f.status, 502, 'the status stays');
  t.equal(f.body, '<p>sorry: /502.html</p>', "the other service's page");
  t.equal(f.headers['content-type'], 'text/html');

  const g = await http(b.port, { path: '/gone' });
  t.equal(g.status, 502, "baton's own page replaced too");
  t.equal(g.body, '<p>sorry: /502.html</p>');
  await waitFor(() => b.app.registry.inflight() === 0, 2000, 'in-flight back to zero');
});

t.test('another service, the request body in memory, retries asked for by a middleware', async (t) => {
  const dir = pluginDir(t);
  const a = await startUpstream(t, 'a');
  const other = await startUpstream(t, 'b');
  const dead = await closedPort();
  const b = await startBaton(t, {
    plugins: plugins(dir, { other: ['other.ts'], body: ['body.ts'], retry: ['retry.ts'] }),
    services: {
      a: { rule: 'PathPrefix(`/`)', upstreams: [a.url], middlewares: ['other', 'body'] },
      b: { rule: 'Host(`b.internal`)', upstreams: [other.url] },
      r: {
        rule: 'PathPrefix(`/r`)',
        upstreams: [`http://127.0.0.1:${dead}`, a.url],
        retries: 0,
        loadBalancer: 'round-robin',
        middlewares: ['retry'],
      },
    },
  });
  const toB = await http(b.port, { path: '/', headers: { 'x-to': 'b' } });
  t.equal(toB.headers['x-upstream'], 'b');
  const post = await http(b.port, { method: 'POST', path: '/', body: 'x'.repeat(10) });
  t.equal(post.status, 200);
  t.equal(a.seen.at(-1)!.body, 'x'.repeat(10));
  t.equal(a.seen.at(-1)!.headers['x-body-length'], '10');
  const big = await http(b.port, { method: 'POST', path: '/', body: 'x'.repeat(100) });
  t.equal(big.status, 413, 'over readBody limit');
  for (let i = 0; i < 4; i++) t.equal((await http(b.port, { path: '/r' })).status, 200, 'retried on the other upstream');
});

t.test('config problems stop baton from starting', async (t) => {
  const dir = pluginDir(t);
  await t.rejects(startApp(t, { services: { a: { rule: 'Path(`/`)', middlewares: ['nope'] } } }), {
    code: 'BATON_CONFIG_INVALID',
    problems: ['services.a.middlewares.0: no middleware or plugin named nope in this file'],
  });
  await t.rejects(startApp(t, { plugins: plugins(dir, { rw: ['rewrite.ts', {}] }) }), {
    code: 'BATON_CONFIG_INVALID',
    problems: ['plugins.rw.options: prefix: required'],
  });
  await t.rejects(startApp(t, { plugins: { x: { module: join(dir, 'missing.ts') } } }), { code: 'BATON_CONFIG_INVALID' });
  await t.rejects(startApp(t, { middlewares: { m: { noSuchType: {} } } }), {
    code: 'BATON_CONFIG_INVALID',
    problems: ['middlewares.m.noSuchType: unknown middleware type noSuchType'],
  });
});

t.test('WebSocket upgrades run the request hooks', async (t) => {
  const dir = pluginDir(t);
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  t.teardown(() => wss.close());
  wss.on('connection', (ws, req) => ws.send(`hi ${req.url} ${req.headers['x-plugin']}`));
  const port = (wss.address() as AddressInfo).port;
  const b = await startBaton(t, {
    plugins: plugins(dir, { deny: ['deny.ts'], rw: ['rewrite.ts', { prefix: '/ws' }] }),
    services: { a: { rule: 'PathPrefix(`/`)', upstreams: [`http://127.0.0.1:${port}`], middlewares: ['deny', 'rw'] } },
  });
  const refused = new WebSocket(`ws://127.0.0.1:${b.port}/chat`);
  refused.on('error', () => {});
  const [, res] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number }];
  t.equal(res.statusCode, 403);
  refused.terminate();
  const ok = new WebSocket(`ws://127.0.0.1:${b.port}/chat`, { headers: { 'x-key': 'open' } });
  const [msg] = await once(ok, 'message');
  t.equal(String(msg), 'hi /ws/chat yes');
  ok.close();
  await waitFor(() => b.app.entrypoints.get('web')!.active === 0, 3000, 'tunnel closed and counted');
});

t.test('HTTP/2: request and response hooks, answers, transforms, failures', async (t) => {
  const dir = pluginDir(t);
  const up = await startUpstream(t, 'a', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-url': req.url! });
    res.end('hello h2');
  });
  const b = await startTlsBaton(
    t,
    {
      a: { rule: 'PathPrefix(`/`)', upstreams: [up.url], middlewares: ['deny', 'rw', 'up', 'st', 'boom'] },
    },
    { plugins: plugins(dir, { deny: ['deny.ts'], rw: ['rewrite.ts', { prefix: '/h2' }], up: ['upper.ts'], st: ['status.ts'], boom: ['boom.ts'] }) },
  );
  const session = await h2session(t, b.port, b.ca);
  const denied = await h2request(session, { ':path': '/x' });
  t.equal(denied.status, 403);
  t.equal(denied.body, 'no\n');
  const ok = await h2request(session, { ':path': '/x', 'x-key': 'open' });
  t.equal(ok.status, 203, 'async response hook');
  t.equal(ok.body, 'HELLO H2', 'body transform');
  t.equal(ok.headers['x-url'], '/h2/x', 'path rewritten');
  const boom = await h2request(session, { ':path': '/boom', 'x-key': 'open' });
  t.equal(boom.status, 500);
  t.equal(boom.headers['x-baton-error'], 'plugin_error');
  t.equal((await h2request(session, { ':path': '/y', 'x-key': 'open' })).status, 203, 'the session still works');
});
