// The example plugins in examples/plugins/, loaded the way the README shows, against real upstreams.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { http, startBaton, startUpstream, tempDir } from './fixtures/harness.ts';

const EXAMPLES = resolve(import.meta.dirname, '../examples/plugins');

t.test('canary: a header sends the request to the canary service', async (t) => {
  const stable = await startUpstream(t, 'stable');
  const next = await startUpstream(t, 'next');
  const b = await startBaton(t, {
    plugins: {
      canary: { module: join(EXAMPLES, 'canary.ts'), options: { header: 'X-Canary', value: '1', service: 'app-next' } },
      empty: { module: join(EXAMPLES, 'canary.ts'), options: { header: 'X-Canary', service: 'app-none' } },
    },
    services: {
      app: { rule: 'Host(`app.test`)', upstreams: [stable.url], middlewares: ['canary'] },
      other: { rule: 'Host(`other.test`)', upstreams: [stable.url], middlewares: ['empty'] },
      'app-next': { rule: 'Host(`next.internal`)', upstreams: [next.url] },
      'app-none': { rule: 'Host(`none.internal`)', upstreams: [] },
    },
  });
  t.equal((await http(b.port, { host: 'app.test' })).headers['x-upstream'], 'stable');
  t.equal((await http(b.port, { host: 'app.test', headers: { 'x-canary': '0' } })).headers['x-upstream'], 'stable');
  const c = await http(b.port, { host: 'app.test', headers: { 'x-canary': '1' } });
  t.equal(c.headers['x-upstream'], 'next');
  t.equal(next.seen[0].headers['x-canary-routed'], 'true');
  const kept = await http(b.port, { host: 'other.test', headers: { 'x-canary': '1' } });
  t.equal(kept.headers['x-upstream'], 'stable', 'a canary service with no upstream: the request stays on its route');
});

t.test('maintenance: 503 with the page and Retry-After; allowed addresses pass; bad options refuse to start', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'down.html'), '<h1>down</h1>\n');
  const up = await startUpstream(t, 'app');
  const b = await startBaton(t, {
    plugins: {
      maint: { module: join(EXAMPLES, 'maintenance.ts'), options: { page: join(dir, 'down.html'), retryAfter: 30 } },
      maintOpen: { module: join(EXAMPLES, 'maintenance.ts'), options: { allow: ['127.0.0.1'] } },
    },
    services: {
      a: { rule: 'Host(`a.test`)', upstreams: [up.url], middlewares: ['maint'] },
      b: { rule: 'Host(`b.test`)', upstreams: [up.url], middlewares: ['maintOpen'] },
    },
  });
  const r = await http(b.port, { host: 'a.test' });
  t.equal(r.status, 503);
  t.equal(r.headers['retry-after'], '30');
  t.equal(r.body, '<h1>down</h1>\n');
  t.equal(up.seen.length, 0);
  t.equal((await http(b.port, { host: 'b.test' })).status, 200, 'an allowed address passes');
  await t.rejects(
    startBaton(t, { plugins: { m: { module: join(EXAMPLES, 'maintenance.ts'), options: { retryAfter: 'soon' } } } }),
    { code: 'BATON_CONFIG_INVALID' },
  );
});
