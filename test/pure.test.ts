// Table tests for the pure cores: request-target parsing, balancer choice, the upstream state machine.
import t from 'tap';
import { normalizePath, parseHost, removeDotSegments, splitTarget } from '../src/routing/target.ts';
import { clientResponseHeaders, connectionTokens, upstreamRequestHeaders } from '../src/proxy/headers.ts';
import { pickLeastConnections, pickRoundRobin } from '../src/upstream/balancer.ts';
import { transition, type UpstreamState } from '../src/upstream/state.ts';

t.test('parseHost', async (t) => {
  const cases: Array<[string, string | null]> = [
    ['app.test', 'app.test'],
    ['App.TEST:8080', 'app.test'],
    ['127.0.0.1', '127.0.0.1'],
    ['[::1]:80', '[::1]'],
    ['my_host', 'my_host'],
    ['a b', null],
    ['a/b', null],
    ['[::1', null],
    ['host:99999', null],
    ['host:', null],
    ['', null],
    ['host:80:80', null],
    ['-bad', null],
  ];
  for (const [input, want] of cases) t.equal(parseHost(input), want, JSON.stringify(input));
});

t.test('normalizePath', async (t) => {
  const cases: Array<[string, string]> = [
    ['/', '/'],
    ['/a/b', '/a/b'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/../../x', '/x'],
    ['/public/%2e%2e/admin', '/admin'],
    ['/public/%2E%2e/admin/', '/admin/'],
    ['/a/..', '/'],
    ['/a/.', '/a/'],
    ['/%41%62c', '/Abc'],
    ['/a%20b', '/a%20b'],
    ['/a%0d%0ab', '/a%0D%0Ab'],
    ['/a%2fb', 'encoded-slash'],
    ['/a%5Cb', 'encoded-slash'],
    ['/a%00b', 'encoded-null'],
    ['/a%zz', 'bad-escape'],
    ['/a%2', 'bad-escape'],
    ['/a\\b', 'backslash'],
    ['*', 'not-origin-form'],
    ['/.hidden/x', '/.hidden/x'],
    ['/a/...', '/a/...'],
  ];
  for (const [input, want] of cases) t.equal(normalizePath(input), want, input);
  t.equal(normalizePath('/a%2Fb', true), '/a%2Fb', 'encoded slash allowed when configured');
  t.equal(removeDotSegments('/a/b/../../..'), '/');
});

t.test('splitTarget', async (t) => {
  t.same(splitTarget('/a?b=1'), { path: '/a', query: 'b=1', authority: null });
  t.same(splitTarget('/a'), { path: '/a', query: '', authority: null });
  t.same(splitTarget('http://x.test/p?q'), { path: '/p', query: 'q', authority: 'x.test' });
  t.same(splitTarget('http://x.test'), { path: '/', query: '', authority: 'x.test' });
  t.same(splitTarget('http://x.test?q'), { path: '/', query: 'q', authority: 'x.test' });
  t.equal(splitTarget('ftp://x/'), null);
  t.equal(splitTarget('*'), null);
});

t.test('connection tokens and header hygiene', async (t) => {
  t.equal(connectionTokens(undefined), null);
  t.equal(connectionTokens('keep-alive'), null);
  t.same(connectionTokens('close, X-A ,x-b'), ['x-a', 'x-b']);
  const ctx = { clientIp: '10.0.0.1', trusted: false, proto: 'http', port: '80', host: 'app.test', upstreamHost: null, contentLength: 5 };
  const out = upstreamRequestHeaders(
    ['Host', 'app.test', 'Connection', 'X-A', 'X-A', 'v', 'Content-Length', '005', 'Transfer-Encoding', 'chunked', 'X-Forwarded-For', '1.1.1.1', 'Accept', '*/*'],
    ctx,
  );
  t.same(out, [
    'Accept', '*/*',
    'host', 'app.test',
    'content-length', '5',
    'x-forwarded-for', '10.0.0.1',
    'x-forwarded-host', 'app.test',
    'x-forwarded-proto', 'http',
    'x-forwarded-port', '80',
    'x-real-ip', '10.0.0.1',
  ]);
  const trusted = upstreamRequestHeaders(['X-Forwarded-For', '1.1.1.1', 'X-Forwarded-For', '2.2.2.2', 'X-Real-IP', '1.1.1.1'], { ...ctx, trusted: true, contentLength: -1 });
  t.same(trusted.slice(trusted.indexOf('x-forwarded-for'), trusted.indexOf('x-forwarded-for') + 2), ['x-forwarded-for', '1.1.1.1, 2.2.2.2, 10.0.0.1']);
  t.equal(trusted[trusted.indexOf('x-real-ip') + 1], '1.1.1.1');
  t.same(
    clientResponseHeaders({ connection: 'x-secret', 'x-secret': '1', 'keep-alive': 'timeout=5', 'set-cookie': ['a=1', 'b=2'], 'transfer-encoding': 'chunked', etag: '"x"' }),
    ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'etag', '"x"'],
  );
});

t.test('balancers', async (t) => {
  const list = [{ inflight: 3, ok: true }, { inflight: 1, ok: false }, { inflight: 1, ok: true }, { inflight: 2, ok: true }];
  const ok = (c: { ok: boolean }) => c.ok;
  t.equal(pickRoundRobin(list, 0, ok), 0);
  t.equal(pickRoundRobin(list, 1, ok), 2, 'skips ineligible');
  t.equal(pickRoundRobin(list, 3, ok), 3);
  t.equal(pickRoundRobin(list, 4 % 4, () => false), -1);
  t.equal(pickRoundRobin([], 0, ok), -1);
  t.equal(pickLeastConnections(list, 0, ok), 2, 'fewest in flight among eligible');
  const tie = [{ inflight: 0 }, { inflight: 0 }, { inflight: 0 }];
  t.same([0, 1, 2].map((c) => pickLeastConnections(tie, c, () => true)), [0, 1, 2], 'ties rotate with the cursor');
});

t.test('upstream state machine', async (t) => {
  const z = { successes: 0, failures: 0 };
  const probe = (ok: boolean) => ({ type: 'probe' as const, ok, rise: 2, fall: 2 });
  const run = (start: UpstreamState, events: Parameters<typeof transition>[2][]) => {
    let s = start;
    let c = z;
    const seen: UpstreamState[] = [];
    for (const e of events) {
      const n = transition(s, c, e);
      s = n.state;
      c = n.counters;
      seen.push(s);
    }
    return seen;
  };
  t.same(run('starting', [probe(true), probe(true)]), ['starting', 'healthy'], 'rise');
  t.same(run('starting', [probe(true), probe(false), probe(true)]), ['starting', 'starting', 'starting'], 'rise needs consecutive successes');
  t.same(run('starting', [probe(false), probe(false)]), ['starting', 'unhealthy'], 'fall while starting');
  t.same(run('healthy', [probe(false), probe(true), probe(false), probe(false)]), ['healthy', 'healthy', 'healthy', 'unhealthy'], 'fall needs consecutive failures');
  t.same(run('unhealthy', [probe(true), probe(true)]), ['unhealthy', 'healthy']);
  t.same(run('healthy', [{ type: 'drain' }, probe(true), { type: 'drained' }, probe(true)]), ['draining', 'draining', 'drained', 'drained'], 'probes ignored while draining');
  t.same(run('drained', [{ type: 'enable', hasHealthCheck: true }]), ['starting']);
  t.same(run('drained', [{ type: 'enable', hasHealthCheck: false }]), ['healthy']);
  t.same(run('healthy', [{ type: 'enable', hasHealthCheck: true }]), ['healthy'], 'enable of a live upstream changes nothing');
  t.same(run('healthy', [{ type: 'eject' }, { type: 'cooldown-over' }]), ['unhealthy', 'healthy']);
  t.same(run('starting', [{ type: 'eject' }]), ['starting'], 'only healthy upstreams are ejected');
});
