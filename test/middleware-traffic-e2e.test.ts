// The traffic middlewares end to end, configured through the YAML config with real upstreams and real requests:
// ipAllowList behind a trusted proxy and spoofed X-Forwarded-For from an untrusted peer, rateLimit's 429s over a
// bounded burst (and its sources), inFlightReq with a slow upstream (and slots freed by errors and aborts), the
// circuitBreaker tripping on a 5xx upstream, answering 503, ramping back and closing; bad options refused at start.
import t from 'tap';
import { request } from 'undici';
import { closedPort, http, startBaton, startUpstream } from './fixtures/harness.ts';
import { refusesToStart, startBehind } from './fixtures/middleware.ts';

const rule = 'Host(`app.test`)';
const trusting = { web: { address: '127.0.0.1:0', forwardedHeaders: { trustedIPs: ['127.0.0.1'] } } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('ipAllowList: remote address by default; X-Forwarded-For only from a trusted peer', async (t) => {
  const up = await startUpstream(t, 'up');
  const middlewares = {
    local: { ipAllowList: { sourceRange: ['127.0.0.1/32', '::1'] } },
    lan: { ipAllowList: { sourceRange: ['10.0.0.0/8'], rejectStatusCode: 404 } },
    viaProxy: { ipAllowList: { sourceRange: ['10.1.2.3', '2001:db8::/32'], ipStrategy: { depth: 1 } } },
  };
  const services = {
    local: { rule: 'Host(`local.test`)', upstreams: [up.url], middlewares: ['local'] },
    lan: { rule: 'Host(`lan.test`)', upstreams: [up.url], middlewares: ['lan'] },
    app: { rule, upstreams: [up.url], middlewares: ['viaProxy'] },
  };
  const trusted = await startBaton(t, { entrypoints: trusting, middlewares, services });
  const untrusted = await startBaton(t, { middlewares, services });

  t.equal((await http(untrusted.port, { host: 'local.test' })).status, 200, 'the peer 127.0.0.1 is in range');
  const lan = await http(untrusted.port, { host: 'lan.test', headers: { 'x-forwarded-for': '10.0.0.1' } });
  t.equal(lan.status, 404, 'rejectStatusCode; XFF is not read without an ipStrategy');
  t.equal(lan.body, 'Not Found');
  const seen = up.seen.length;

  const cases: Array<[string, number, string | undefined, number]> = [
    ['trusted peer, XFF in range', trusted.port, '10.1.2.3', 200],
    ['trusted peer, XFF appended to by a chain: the last hop', trusted.port, '192.0.2.9, 10.1.2.3', 200],
    ['trusted peer, XFF v6 in range', trusted.port, '2001:db8::7', 200],
    ['trusted peer, XFF out of range', trusted.port, '10.9.9.9', 403],
    ['trusted peer, no XFF', trusted.port, undefined, 403],
    ['untrusted peer spoofing XFF', untrusted.port, '10.1.2.3', 403],
    ['untrusted peer, no XFF', untrusted.port, undefined, 403],
  ];
  let passed = 0;
  for (const [name, port, xff, want] of cases) {
    const r = await http(port, { headers: xff === undefined ? {} : { 'x-forwarded-for': xff } });
    t.equal(r.status, want, name);
    if (want === 403) t.equal(r.body, 'Forbidden', `${name}: body`);
    else passed++;
  }
  t.equal(up.seen.length - seen, passed, 'refused requests never reached the upstream');
  const last = up.seen.at(-1)!;
  t.match(last.headers['x-forwarded-for'], /10\.1\.2\.3, 127\.0\.0\.1$|2001:db8::7, 127\.0\.0\.1$/, 'XFF appended');
});

t.test('rateLimit: 429 with Retry-After beyond the burst, per source, spoofing shares one bucket', async (t) => {
  const up = await startUpstream(t, 'up');
  const middlewares = {
    rl: { rateLimit: { average: 6, period: '1m', burst: 3 } },
    byClient: { rateLimit: { average: 6, period: '1m', burst: 2, sourceCriterion: { ipStrategy: { depth: 1 } } } },
    byKey: { rateLimit: { average: 1, period: '1h', sourceCriterion: { requestHeaderName: 'X-Api-Key' } } },
  };
  const services = {
    app: { rule, upstreams: [up.url], middlewares: ['rl'] },
    clients: { rule: 'Host(`clients.test`)', upstreams: [up.url], middlewares: ['byClient'] },
    keys: { rule: 'Host(`keys.test`)', upstreams: [up.url], middlewares: ['byKey'] },
  };
  const { port } = await startBaton(t, { entrypoints: trusting, middlewares, services });
  const statuses: number[] = [];
  let refused = null;
  for (let i = 0; i < 10; i++) {
    const r = await http(port, { path: `/r${i}` });
    statuses.push(r.status);
    if (r.status === 429) refused ??= r;
  }
  t.same(
    statuses,
    [200, 200, 200, 429, 429, 429, 429, 429, 429, 429],
    'the burst of 3, then 429s (6/min: 10 s a token)',
  );
  t.equal(refused?.body, 'Too Many Requests');
  t.match(refused?.headers['retry-after'], /^(9|10)$/, 'Retry-After: seconds until the next token');
  t.match(refused?.headers['x-retry-in'], /^\d+(\.\d+)?s$/, 'X-Retry-In: a Go duration');
  t.equal(up.seen.filter((s) => s.headers.host === 'app.test').length, 3, 'only the admitted ones were forwarded');

  const client = (xff: string) => http(port, { host: 'clients.test', headers: { 'x-forwarded-for': xff } });
  const perClient = [];
  for (const xff of ['1.1.1.1', '1.1.1.1', '1.1.1.1', '2.2.2.2', '2.2.2.2', '2.2.2.2'])
    perClient.push((await client(xff)).status);
  t.same(perClient, [200, 200, 429, 200, 200, 429], 'a bucket per client behind the trusted proxy');

  const key = (k: string) => http(port, { host: 'keys.test', headers: { 'x-api-key': k } });
  t.same([(await key('a')).status, (await key('a')).status, (await key('b')).status], [200, 429, 200], 'by header');
});

t.test('rateLimit behind no trusted proxy: spoofed X-Forwarded-For cannot mint buckets', async (t) => {
  const up = await startUpstream(t, 'up');
  const { port } = await startBehind(t, up, {
    rl: { rateLimit: { average: 1, period: '1h', burst: 2, sourceCriterion: { ipStrategy: { depth: 1 } } } },
  });
  const statuses = [];
  for (let i = 0; i < 6; i++)
    statuses.push((await http(port, { headers: { 'x-forwarded-for': `10.0.0.${i}` } })).status);
  t.same(statuses, [200, 200, 429, 429, 429, 429], 'every spoofed address lands in the same ("") bucket');
});

t.test(
  'inFlightReq: amount in flight per host, 429 beyond, slots back after responses, errors and aborts',
  async (t) => {
    const waiting: Array<() => void> = [];
    const up = await startUpstream(t, 'slow', (req, res) => {
      const send = () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(req.url);
      };
      if (req.url?.startsWith('/slow')) waiting.push(send);
      else send();
    });
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const { port } = await startBaton(t, {
      middlewares: { two: { inFlightReq: { amount: 2 } }, one: { inFlightReq: { amount: 1 } } },
      services: {
        app: { rule, upstreams: [up.url], middlewares: ['two'] },
        other: { rule: 'Host(`other.test`)', upstreams: [up.url], middlewares: ['two'] },
        dead: { rule: 'Host(`dead.test`)', upstreams: [dead], middlewares: ['one'] },
      },
    });
    const waitFor = async (n: number) => {
      for (let i = 0; i < 200 && waiting.length < n; i++) await sleep(10);
      t.equal(waiting.length, n, `${n} requests held by the upstream`);
    };
    const a = http(port, { path: '/slow/a' });
    const b = http(port, { path: '/slow/b' });
    await waitFor(2);
    const third = await http(port, { path: '/fast' });
    t.equal(third.status, 429, 'a third in flight is refused at once');
    t.equal(third.body, 'max connections reached: 2');
    t.equal((await http(port, { host: 'other.test', path: '/fast' })).status, 200, 'another host has its own count');
    for (const send of waiting.splice(0)) send();
    t.same([(await a).status, (await b).status], [200, 200]);
    t.equal((await http(port, { path: '/fast' })).status, 200, 'slots are back after the responses');

    // a client that goes away while its request is in flight frees its slot
    const abortCtl = new AbortController();
    const aborted = request(`http://127.0.0.1:${port}/slow/gone`, {
      headers: { host: 'app.test' },
      signal: abortCtl.signal,
    }).catch(() => null);
    const held = http(port, { path: '/slow/held' });
    await waitFor(2);
    t.equal((await http(port, { path: '/fast' })).status, 429, 'both slots taken');
    abortCtl.abort();
    t.equal(await aborted, null, 'the client went away');
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await http(port, { path: '/fast' })).status;
      if (status !== 200) await sleep(20);
    }
    t.equal(status, 200, "the aborted request's slot is freed (its onDone ran) while the other is still held");
    const third2 = http(port, { path: '/slow/third' });
    await waitFor(3); // the upstream still holds the aborted one's handler, unanswered
    t.equal((await http(port, { path: '/fast' })).status, 429, 'counted exactly: held + third = 2');
    for (const send of waiting.splice(0)) send();
    t.same([(await held).status, (await third2).status], [200, 200]);

    // failed requests (502 from an unreachable upstream) free their slot too
    const failures = [];
    for (let i = 0; i < 5; i++) failures.push((await http(port, { host: 'dead.test' })).status);
    t.same(failures, [502, 502, 502, 502, 502], 'never 429: every failure released its slot');
  },
);

t.test('circuitBreaker: trips on a 5xx upstream, answers 503 without asking it, ramps back, closes', async (t) => {
  let failing = true;
  const up = await startUpstream(t, 'flaky', (_req, res) => {
    res.writeHead(failing ? 500 : 200, { 'content-type': 'text/plain' });
    res.end(failing ? 'boom' : 'ok');
  });
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const b = await startBaton(t, {
    middlewares: {
      cb: {
        circuitBreaker: {
          expression: 'ResponseCodeRatio(500, 600, 0, 600) > 0.5 && RequestThreshold() >= 2',
          checkPeriod: '10ms',
          fallbackDuration: '600ms',
          recoveryDuration: '600ms',
        },
      },
      net: { circuitBreaker: { expression: 'NetworkErrorRatio() > 0.5', fallbackDuration: '1h', responseCode: 502 } },
    },
    services: {
      app: { rule, upstreams: [up.url], middlewares: ['cb'] },
      dead: { rule: 'Host(`dead.test`)', upstreams: [dead], middlewares: ['net'] },
    },
  });
  const { port } = b;
  t.equal((await http(port)).status, 500, 'standby: the upstream answers');
  await sleep(15);
  t.equal((await http(port)).status, 500, 'the second 500 reaches the threshold: tripped');
  const asked = up.seen.length;
  const open = await http(port);
  t.equal(open.status, 503, 'tripped: the fallback answers');
  t.equal(open.body, 'Service Unavailable');
  for (let i = 0; i < 5; i++) t.equal((await http(port)).status, 503);
  t.equal(up.seen.length, asked, 'the upstream was not asked while tripped');
  t.ok(
    b.logs.some((l) => l.msg === 'circuit breaker tripped' && l.middleware === 'cb@file'),
    'the trip is logged with the middleware',
  );

  failing = false;
  await sleep(620);
  // recovering: a linear ramp over 600 ms, then standby; requests every ~15 ms
  const during: number[] = [];
  const until = performance.now() + 3000;
  while (performance.now() < until) {
    const s = (await http(port)).status;
    during.push(s);
    if (during.length > 20 && during.slice(-10).every((x) => x === 200)) break;
    await sleep(15);
  }
  const firstOk = during.indexOf(200);
  t.ok(during[0] === 503, `the ramp starts closed (${during.join(' ')})`);
  t.ok(firstOk > 0 && during.slice(firstOk).includes(503), 'then some pass, some do not');
  t.ok(
    during.slice(-10).every((x) => x === 200),
    'then standby: all pass',
  );

  const net = [];
  for (let i = 0; i < 4; i++) net.push((await http(port, { host: 'dead.test' })).headers['x-baton-error']);
  t.same(net[0], 'upstream_unreachable', "baton's own 502 page counts as a network error...");
  t.same(net.slice(1), [undefined, undefined, undefined], '...and trips it: the fallback (responseCode 502) answers');
});

t.test('bad options stop baton from starting, each by its middleware and option', async (t) => {
  await refusesToStart(t, [
    [{ m: { ipAllowList: {} } }, /middlewares\.m.*sourceRange: required/],
    [{ m: { ipAllowList: { sourceRange: ['10.0.0.300'] } } }, /sourceRange: "10\.0\.0\.300" is not an IP/],
    [{ m: { ipAllowList: { sourceRange: ['::/0'], ipStrategy: { depth: -2 } } } }, /ipStrategy\.depth/],
    [{ m: { rateLimit: { average: 1, redis: {} } } }, /redis: distributed rate limiting/],
    [{ m: { rateLimit: { sourceCriterion: { requestHost: true, ipStrategy: {} } } } }, /mutually exclusive/],
    [{ m: { inFlightReq: {} } }, /amount: required/],
    [{ m: { circuitBreaker: { expression: 'NetworkErrorRatio() >' } } }, /expression: unexpected the end/],
    [{ m: { circuitBreaker: { expression: `${'('.repeat(40)}NetworkErrorRatio() > 1` } } }, /nested parentheses/],
  ]);
});
