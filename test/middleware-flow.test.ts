// retry, errors and chain through YAML, end to end, plus their pure parts.
import t from 'tap';
import { pageQuery, statusRanges } from '../src/middleware/flow/errors.ts';
import { closedPort, http, startBaton, startUpstream } from './fixtures/harness.ts';

t.test('status ranges and page queries (pure)', async (t) => {
  t.same(statusRanges(['404', '500-599']), [[404, 404], [500, 599]]);
  t.type(statusRanges(['5xx']), 'string');
  t.type(statusRanges(['599-500']), 'string');
  t.equal(pageQuery('/{status}.html', 503, 502, 'http://a.test/x'), '/503.html');
  t.equal(pageQuery('err?code={originalStatus}&u={url}', 500, 502, 'http://a.test/x?y=1 2'),
    '/err?code=502&u=http%3A%2F%2Fa.test%2Fx%3Fy%3D1+2');
});

t.test('errors: page from another service, status kept or rewritten, headers passed', async (t) => {
  const app = await startUpstream(t, 'app', (req, res) => {
    const status = Number(req.url!.slice(1)) || 200;
    res.writeHead(status, { 'content-type': 'text/plain', 'x-from': 'app' });
    res.end(`app says ${status}`);
  });
  const pages = await startUpstream(t, 'pages', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`page ${req.url} lang=${req.headers['accept-language'] ?? '-'} cookie=${req.headers.cookie ?? '-'}`);
  });
  const dead = await closedPort();
  const b = await startBaton(t, {
    middlewares: {
      oops: {
        errors: {
          status: ['500-599', '404'],
          service: 'pages@file',
          query: '/{status}.html',
          statusRewrites: { '418': 404 },
          errorRequestHeaders: ['Accept-Language'],
        },
      },
      teapot: { errors: { status: ['418'], service: 'pages', query: '/{status}-{originalStatus}.html', statusRewrites: { '418': 404 } } },
    },
    services: {
      app: { rule: 'PathPrefix(`/`)', upstreams: [app.url], middlewares: ['oops'] },
      tea: { rule: 'PathPrefix(`/418`)', upstreams: [app.url], middlewares: ['teapot'] },
      down: { rule: 'PathPrefix(`/down`)', upstreams: [`http://127.0.0.1:${dead}`], retries: 0, middlewares: ['oops'] },
      pages: { rule: 'Host(`pages.internal`)', upstreams: [pages.url] },
    },
  });
  const ok = await http(b.port, { path: '/200' });
  t.equal(ok.body, 'app says 200', 'other statuses untouched');
  const e = await http(b.port, { path: '/503', headers: { 'accept-language': 'fr', cookie: 'secret=1' } });
  t.equal(e.status, 503);
  t.equal(e.body, 'page /503.html lang=fr cookie=-', 'only errorRequestHeaders passed to the page service');
  t.equal(e.headers['content-type'], 'text/html');
  t.equal(e.headers['x-from'], undefined, "the upstream's headers are not kept");
  t.equal((await http(b.port, { path: '/404' })).body, 'page /404.html lang=- cookie=-');
  const down = await http(b.port, { path: '/down' });
  t.equal(down.status, 502, "baton's own 502 gets the page too");
  t.equal(down.body, 'page /502.html lang=- cookie=-');
  const tea = await http(b.port, { path: '/418', headers: { cookie: 'secret=2' } });
  t.equal(tea.status, 404, 'statusRewrites: 418 answered as 404');
  t.equal(tea.body, 'page /404-418.html lang=- cookie=secret=2', 'every request header passed by default');
});

t.test('retry: network failures retried on another upstream within the attempts; chain expands in order', async (t) => {
  const good = await startUpstream(t, 'good');
  const dead1 = await closedPort();
  const dead2 = await closedPort();
  const b = await startBaton(t, {
    middlewares: {
      again: { retry: { attempts: 3, initialInterval: '5ms' } },
      once: { retry: { attempts: 1 } },
      both: { chain: { middlewares: ['once', 'again'] } },
    },
    services: {
      r: {
        rule: 'PathPrefix(`/r`)',
        upstreams: [`http://127.0.0.1:${dead1}`, `http://127.0.0.1:${dead2}`, good.url],
        retries: 0,
        passive: { failures: 0 },
        middlewares: ['both'],
      },
      n: {
        rule: 'PathPrefix(`/n`)',
        upstreams: [`http://127.0.0.1:${dead1}`, good.url],
        retries: 0,
        passive: { failures: 0 },
        middlewares: ['once'],
      },
    },
  });
  for (let i = 0; i < 6; i++) t.equal((await http(b.port, { path: '/r' })).status, 200, 'three tries reach the good one');
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await http(b.port, { path: '/n' })).status);
  t.ok(statuses.includes(502), 'attempts: 1 never retries');
  await t.rejects(
    startBaton(t, {
      middlewares: { loop: { chain: { middlewares: ['loop2'] } }, loop2: { chain: { middlewares: ['loop@file'] } } },
    }),
    { code: 'BATON_CONFIG_INVALID', problems: ['middlewares.loop.chain.middlewares: the chain loops: loop → loop2 → loop'] },
    'a chain that loops stops baton from starting',
  );
  await t.rejects(
    startBaton(t, { middlewares: { once: { retry: { attempts: 1 } }, c: { chain: { middlewares: 'once, nope' } } } }),
    { code: 'BATON_CONFIG_INVALID', problems: ['middlewares.c.chain.middlewares.1: no middleware or plugin named nope in this file'] },
    'members written as comma-separated text are checked too',
  );
});
