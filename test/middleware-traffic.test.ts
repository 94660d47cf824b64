// The traffic middlewares (src/middleware/traffic/): ipAllowList / ipWhiteList, rateLimit, inFlightReq,
// circuitBreaker. Table tests of the pure parts with injected clocks, and of each type's hooks on a fake request
// context; expected values follow Traefik's own tests (pkg/ip/*_test.go, pkg/middlewares/ipallowlist) and the
// Go libraries Traefik uses (golang.org/x/time/rate, vulcand/oxy cbreaker + memmetrics, hdrhistogram-go).
import t from 'tap';
import { compileExpression, MAX_DEPTH, MAX_LENGTH, type Metrics } from '../src/middleware/traffic/cb-expression.ts';
import {
  histHighest,
  histIndex,
  RollingCounter,
  RoundTripMetrics,
  valueAtQuantile,
} from '../src/middleware/traffic/cb-metrics.ts';
import { Breaker, isNetworkError } from '../src/middleware/traffic/circuit-breaker.ts';
import { InFlightCounter } from '../src/middleware/traffic/in-flight.ts';
import { TRAFFIC_TYPES } from '../src/middleware/traffic/index.ts';
import {
  hostPart,
  ipChecker,
  ipStrategy,
  ipv6SubnetIP,
  type IpStrategyOptions,
} from '../src/middleware/traffic/ip-strategy.ts';
import {
  goDuration,
  maxDelayNs,
  MAX_SOURCES,
  retryHeaders,
  TokenBuckets,
} from '../src/middleware/traffic/rate-limit.ts';
import {
  BuiltinTypes,
  fakeEnv,
  fakeRequest,
  fakeResponse,
  type Answer,
  type FakeRequest,
  type FakeRequestInit,
} from './fixtures/middleware.ts';

// ── fakes ───────────────────────────────────────────────────────────────────────────────────────────────

/** A request from 192.0.2.1 for a.test. */
const fakeCtx = (o: FakeRequestInit = {}) => fakeRequest({ host: 'a.test', ...o });

const fakeRes = (status: number, error: string | null = null) => fakeResponse({ status, error });

const { env, logs } = fakeEnv('x@file');

const types = new BuiltinTypes(TRAFFIC_TYPES);

/** Reads raw options like compile.ts does: [options, problems]. */
function read(type: string, raw: Record<string, unknown>): [unknown, string[]] {
  const { options, errors } = types.read(type, raw);
  return [options, errors];
}

const make = (type: string, raw: Record<string, unknown>) => types.create(type, raw, env);

function run(h: ReturnType<typeof make>, ctx: FakeRequest): Answer | null {
  const r = h.onRequest?.(ctx);
  if (r instanceof Promise) throw new Error('traffic hooks are sync');
  if (ctx.answers.length > 1) throw new Error('answered twice');
  return ctx.answer;
}

// ── IP selection ────────────────────────────────────────────────────────────────────────────────────────

t.test('hostPart: Go SplitHostPort, else the text', async (t) => {
  const cases: Array<[string, string]> = [
    ['1.2.3.4', '1.2.3.4'],
    ['1.2.3.4:80', '1.2.3.4'],
    ['[::1]:80', '::1'],
    ['[::abcd:ffff:c0a8:1%1]:80', '::abcd:ffff:c0a8:1%1'],
    ['::abcd:ffff:c0a8:1', '::abcd:ffff:c0a8:1'],
    ['', ''],
  ];
  for (const [input, want] of cases) t.equal(hostPart(input), want, input);
});

t.test('ipv6SubnetIP (Traefik strategy_test.go and netip formatting)', async (t) => {
  const cases: Array<[string, number, string]> = [
    ['::abcd:ffff:c0a8:1', 80, '::abcd:0:0:0'],
    ['::abcd:ffff:c0a8:1%1', 80, '::abcd:0:0:0'],
    ['::abcd:1111:2222:3333', 64, '::'],
    ['::abcd:1111:2222:3333', 96, '::abcd:1111:0:0'],
    ['2001:db8:85a3:8d3:1319:8a2e:370:7348', 48, '2001:db8:85a3::'],
    ['2001:db8:85a3:8d3:1319:8a2e:370:7348', 56, '2001:db8:85a3:800::'],
    ['2001:db8:0:0:1:0:0:1', 128, '2001:db8::1:0:0:1'],
    ['2001:0:0:1:0:0:0:1', 128, '2001:0:0:1::1'],
    ['::ffff:1.2.3.4', 128, '::ffff:1.2.3.4'],
    ['::ffff:1.2.3.4', 64, '::'],
    ['1:2:3:4:5:6:7:8', 127, '1:2:3:4:5:6:7:8'],
    ['192.0.2.1', 24, '192.0.2.1'],
    ['not-an-ip', 64, 'not-an-ip'],
  ];
  for (const [ip, bits, want] of cases) t.equal(ipv6SubnetIP(ip, bits), want, `${ip}/${bits}`);
});

t.test('ipChecker: Traefik checker_test.go', async (t) => {
  const tables: Array<[string[], string[], string[]]> = [
    [
      ['1.2.3.4/24'],
      ['1.2.3.1', '1.2.3.32', '1.2.3.156', '1.2.3.255', '1.2.3.1:123'],
      ['1.2.16.1', '127.0.0.1', '10.2.3.1:123'],
    ],
    [['8.8.8.8'], ['8.8.8.8'], ['8.8.8.7', '8.8.8.9', '4.4.4.4']],
    [['8.8.8.8/32'], ['8.8.8.8'], ['8.8.8.0', '8.8.8.255']],
    [
      ['1.2.3.4/24', '8.8.8.8/8'],
      ['8.8.4.4', '8.255.255.255', '1.2.3.255'],
      ['4.8.8.8', '1.2.32.1'],
    ],
    [
      ['2a03:4000:6:d080::/64', 'fe80::/16'],
      [
        '2a03:4000:6:d080::',
        '2a03:4000:6:d080:dead:beef:ffff:ffff',
        'fe80:aa00:00bb:4232:ff00:eeee:00ff:1111%vEthernet',
        '[fe80::1]:443',
      ],
      ['2a03:4000:7:d080::1', '2a03:4000:7:d080::1%vmnet1', '4242::1'],
    ],
    [['2a03:4000:6:d080::42/128'], ['2a03:4000:6:d080::42'], ['2a03:4000:6:d080::43']],
    // IPv4-mapped IPv6 clients against IPv4 ranges, and IPv4-mapped ranges
    [['10.0.0.0/8'], ['::ffff:10.1.2.3', '::FFFF:10.0.0.1', '[::ffff:10.0.0.1]:80'], ['::ffff:11.0.0.1', '::1']],
    [['::ffff:10.0.0.0/104'], ['10.9.9.9', '::ffff:10.0.0.1'], ['11.0.0.1']],
    // broken addresses and octal-looking octets are never in range (Go's netip refuses them)
    [['127.0.0.1/32', '1.2.3.4/24'], [], ['foo', '10.0.0.350', 'fe:::80', '', '\\&$§&/(', '0127.0.0.1', '01.2.3.4']],
    [['127.2.3.4/24'], ['127.2.3.1:123'], ['0127.2.3.1:123']],
  ];
  for (const [ranges, pass, reject] of tables) {
    const c = ipChecker(ranges);
    for (const ip of pass) t.ok(c(ip), `${ip} in ${ranges}`);
    for (const ip of reject) t.notOk(c(ip), `${ip} not in ${ranges}`);
  }
  for (const bad of ['foo', '10.0.0.0/33', '1.2.3.4/', '::/129', '0127.0.0.1', '']) {
    t.throws(() => ipChecker([bad]), `${JSON.stringify(bad)} refused`);
  }
});

t.test('ipStrategy: remote address, depth, excludedIPs (Traefik strategy_test.go)', async (t) => {
  const xff = (s: string) => (s === '' ? [] : s.split(','));
  const cases: Array<[string, Partial<IpStrategyOptions> | undefined, string, string, string]> = [
    ['remote, v4', undefined, '192.0.2.1', '', '192.0.2.1'],
    ['remote ignores XFF', undefined, '192.0.2.1', '10.0.0.1', '192.0.2.1'],
    ['remote, v6 with port', undefined, '[::abcd:ffff:c0a8:1]:80', '', '::abcd:ffff:c0a8:1'],
    ['remote, subnet on v4 ignored', { depth: 0, ipv6Subnet: 24 }, '192.0.2.1', '', '192.0.2.1'],
    ['remote, v6 subnet', { depth: 0, ipv6Subnet: 80 }, '[::abcd:ffff:c0a8:1]:80', '', '::abcd:0:0:0'],
    ['depth 3', { depth: 3 }, 'x', '10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1', '10.0.0.3'],
    ['depth beyond XFF', { depth: 2 }, 'x', '', ''],
    ['depth = length', { depth: 2 }, 'x', '10.0.0.2,10.0.0.1', '10.0.0.2'],
    ['depth trims', { depth: 1 }, 'x', '10.0.0.2, 10.0.0.1 ', '10.0.0.1'],
    ['depth, subnet on v4', { depth: 2, ipv6Subnet: 80 }, 'x', '10.0.0.3,10.0.0.2,10.0.0.1', '10.0.0.2'],
    ['depth, v6 subnet', { depth: 2, ipv6Subnet: 80 }, 'x', '10.0.0.3,::abcd:ffff:c0a8:1,10.0.0.1', '::abcd:0:0:0'],
    [
      'excluded all',
      { depth: 0, excludedIPs: ['10.0.0.4', '10.0.0.3', '10.0.0.2', '10.0.0.1'] },
      'x',
      '10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1',
      '',
    ],
    [
      'excluded some',
      { depth: 0, excludedIPs: ['10.0.0.2', '10.0.0.1'] },
      'x',
      '10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1',
      '10.0.0.3',
    ],
    [
      'excluded CIDR',
      { depth: 0, excludedIPs: ['10.0.0.1/24'] },
      'x',
      '127.0.0.1,10.0.0.4,10.0.0.3,10.0.0.2,10.0.0.1',
      '127.0.0.1',
    ],
    [
      'excluded, empty entries skipped',
      { depth: 0, excludedIPs: ['10.0.0.1'] },
      'x',
      '10.0.0.9, ,10.0.0.1',
      '10.0.0.9',
    ],
    ['depth wins over excludedIPs', { depth: 1, excludedIPs: ['10.0.0.1'] }, 'x', '10.0.0.2,10.0.0.1', '10.0.0.1'],
    ['untrusted peer: no XFF, depth → ""', { depth: 1 }, '203.0.113.9', '', ''],
  ];
  for (const [name, o, remoteAddr, forwarded, want] of cases) {
    const pick = ipStrategy(o === undefined ? undefined : ({ depth: 0, ...o } as IpStrategyOptions));
    t.equal(pick({ remoteAddr, forwardedFor: xff(forwarded) }), want, name);
  }
});

// ── ipAllowList ─────────────────────────────────────────────────────────────────────────────────────────

t.test('ipAllowList: Traefik ip_allowlist_test.go, v4/v6, trusted and untrusted X-Forwarded-For', async (t) => {
  const cases: Array<[string, Record<string, unknown>, Parameters<typeof fakeCtx>[0], number | null]> = [
    ['authorized remote address', { sourceRange: ['20.20.20.20'] }, { remoteAddr: '20.20.20.20' }, null],
    ['not authorized → 403', { sourceRange: ['20.20.20.20'] }, { remoteAddr: '20.20.20.21' }, 403],
    [
      'authorized, reject 404',
      { sourceRange: ['20.20.20.20'], rejectStatusCode: 404 },
      { remoteAddr: '20.20.20.20' },
      null,
    ],
    [
      'not authorized, reject 404',
      { sourceRange: ['20.20.20.20'], rejectStatusCode: 404 },
      { remoteAddr: '20.20.20.21' },
      404,
    ],
    ['v6 range', { sourceRange: ['2001:db8::/32'] }, { remoteAddr: '2001:db8::42' }, null],
    ['v6 outside', { sourceRange: ['2001:db8::/32'] }, { remoteAddr: '2001:db9::42' }, 403],
    ['v4-mapped peer', { sourceRange: ['10.0.0.0/8'] }, { remoteAddr: '::ffff:10.0.0.7' }, null],
    [
      'XFF ignored by default',
      { sourceRange: ['10.0.0.1'] },
      { remoteAddr: '127.0.0.1', forwardedFor: ['10.0.0.1'] },
      403,
    ],
    [
      'depth 1 from a trusted peer',
      { sourceRange: ['10.0.0.1'], ipStrategy: { depth: 1 } },
      { remoteAddr: '127.0.0.1', forwardedFor: ['10.0.0.1'] },
      null,
    ],
    [
      'depth 1 from an untrusted peer (forwardedFor [])',
      { sourceRange: ['10.0.0.1'], ipStrategy: { depth: 1 } },
      { remoteAddr: '10.0.0.1', forwardedFor: [] },
      403,
    ],
    [
      'excludedIPs picks the first outside them',
      { sourceRange: ['198.51.100.0/24'], ipStrategy: { excludedIPs: ['10.0.0.0/8'] } },
      { remoteAddr: '127.0.0.1', forwardedFor: ['198.51.100.7', '10.0.0.2', '10.0.0.1'] },
      null,
    ],
    [
      'empty ipStrategy = remote address',
      { sourceRange: ['192.0.2.1'], ipStrategy: {} },
      { remoteAddr: '192.0.2.1' },
      null,
    ],
    [
      'ipStrategy "true" (label allowEmpty)',
      { sourceRange: ['192.0.2.1'], ipStrategy: 'true' },
      { remoteAddr: '192.0.2.1' },
      null,
    ],
    [
      'labels: comma list, text depth',
      { sourcerange: '10.0.0.0/8, 192.0.2.0/24', ipstrategy: { depth: '1' } },
      { forwardedFor: ['192.0.2.77'] },
      null,
    ],
  ];
  for (const [name, raw, req, want] of cases) {
    const ctx = fakeCtx(req);
    const answer = run(make('ipAllowList', raw), ctx);
    t.equal(answer?.status ?? null, want, name);
    if (answer !== null) {
      t.equal(answer.body, want === 403 ? 'Forbidden' : 'Not Found', `${name}: status text`);
      t.equal(answer.headers['content-type'], 'text/plain; charset=utf-8');
    }
  }
  const w = make('ipWhiteList', { sourceRange: ['10.0.0.0/8'] });
  t.equal(run(w, fakeCtx({ remoteAddr: '10.1.1.1' })), null, 'ipWhiteList allows');
  t.equal(run(w, fakeCtx({ remoteAddr: '11.1.1.1' }))?.status, 403, 'ipWhiteList refuses');
});

t.test('ipAllowList / ipWhiteList: option problems', async (t) => {
  const cases: Array<[string, string, Record<string, unknown>, RegExp]> = [
    ['ipAllowList', 'no sourceRange', {}, /sourceRange: required/],
    ['ipAllowList', 'empty sourceRange', { sourceRange: [] }, /sourceRange: required/],
    ['ipAllowList', 'bad CIDR', { sourceRange: ['10.0.0.0/33'] }, /sourceRange: "10\.0\.0\.0\/33" is not an IP/],
    ['ipAllowList', 'bad address', { sourceRange: 'foo' }, /is not an IP address or CIDR/],
    [
      'ipAllowList',
      'negative depth',
      { sourceRange: ['::/0'], ipStrategy: { depth: -1 } },
      /ipStrategy\.depth: expected a whole number from 0/,
    ],
    [
      'ipAllowList',
      'ipv6Subnet 0',
      { sourceRange: ['::/0'], ipStrategy: { ipv6Subnet: 0 } },
      /ipv6Subnet: expected a whole number from 1 to 128/,
    ],
    ['ipAllowList', 'ipv6Subnet 500', { sourceRange: ['::/0'], ipStrategy: { ipv6Subnet: 500 } }, /ipv6Subnet/],
    [
      'ipAllowList',
      'bad excludedIPs',
      { sourceRange: ['::/0'], ipStrategy: { excludedIPs: ['x'] } },
      /excludedIPs: "x"/,
    ],
    [
      'ipAllowList',
      'unknown option',
      { sourceRange: ['::/0'], sourceRanges: ['1.1.1.1'] },
      /sourceRanges: unknown option/,
    ],
    [
      'ipAllowList',
      'reject code 150',
      { sourceRange: ['::/0'], rejectStatusCode: 150 },
      /rejectStatusCode: expected an HTTP status/,
    ],
    ['ipAllowList', 'reject code 600', { sourceRange: ['::/0'], rejectStatusCode: 600 }, /rejectStatusCode/],
    ['ipWhiteList', 'no rejectStatusCode in v2', { sourceRange: ['::/0'], rejectStatusCode: 404 }, /unknown option/],
  ];
  for (const [type, name, raw, re] of cases) {
    const [, errors] = read(type, raw);
    t.match(errors.join('\n'), re, name);
  }
});

// ── rateLimit ───────────────────────────────────────────────────────────────────────────────────────────

function clock(start = 1000) {
  const c = { now: start, fn: () => c.now };
  return c;
}

t.test('TokenBuckets: x/time/rate reserve, maxDelay and cancel', async (t) => {
  t.equal(maxDelayNs(100), 5_000_000, '1/(2·100) s');
  t.equal(maxDelayNs(1.5), 500_000_000, '⌊1.5⌋ = 1 → 500 ms');
  t.equal(maxDelayNs(0.1), 500_000_000, 'below 1/s: 500 ms');
  t.equal(maxDelayNs(3), 166_666_666, 'Go integer division');

  const c = clock();
  const b = new TokenBuckets(1, 1, c.fn);
  t.equal(b.reserve('a'), 0, 'a full bucket');
  t.equal(b.reserve('a'), 1e9, 'empty: would wait 1 s > 500 ms → refused');
  t.equal(b.reserve('a'), 1e9, 'the refusal spent nothing');
  c.now += 500;
  t.equal(b.reserve('a'), 5e8, 'half a token: 500 ms = maxDelay → served (Traefik would wait)');
  t.equal(b.reserve('a'), 15e8, 'in debt by half a token: 1.5 s → refused');
  t.equal(b.reserve('b'), 0, 'another source has its own bucket');
  c.now += 1500;
  t.equal(b.reserve('a'), 0, 'the debt is paid back, then a token');

  const burst = new TokenBuckets(100, 10, c.fn);
  let passed = 0;
  for (let i = 0; i < 20; i++) if (burst.reserve('k') <= burst.maxDelayNs) passed++;
  t.equal(passed, 10, 'burst 10 at the same instant, then refusals');
  t.equal(burst.reserve('k'), 10_000_000, 'the next token in 10 ms');
  c.now += 5;
  t.equal(burst.reserve('k'), 5_000_000, 'within maxDelay (5 ms): served');

  const clockBack = clock(5000);
  const back = new TokenBuckets(1, 2, clockBack.fn);
  back.reserve('k');
  back.reserve('k');
  clockBack.now -= 3000;
  t.ok(back.reserve('k') > back.maxDelayNs, 'a clock going back adds no token');
});

t.test('TokenBuckets: the long-run rate is average/period', async (t) => {
  const cases: Array<[string, number, number, number, number]> = [
    // name, rate, burst, ms between requests, duration ms
    ['100/s, burst 10, a request every ms for 10 s', 100, 10, 1, 10_000],
    ['10/s, burst 1, every 7 ms for 20 s', 10, 1, 7, 20_000],
    ['0.1/s (6 per minute), every 100 ms for 60 s', 0.1, 1, 100, 60_000],
    ['1000/s, burst 50, every 0.1 ms for 2 s', 1000, 50, 0.1, 2000],
  ];
  for (const [name, rate, burst, step, total] of cases) {
    const c = clock(0);
    const b = new TokenBuckets(rate, burst, c.fn);
    let passed = 0;
    const steps = Math.round(total / step);
    for (let i = 0; i <= steps; i++) {
      c.now = i * step;
      if (b.reserve('k') <= b.maxDelayNs) passed++;
    }
    const ideal = burst + (rate * total) / 1000;
    t.ok(Math.abs(passed - ideal) <= 1.5, `${name}: ${passed} ≈ ${ideal}`);
  }
});

t.test('TokenBuckets: bounded sources (LRU at the cap, refilled ones forgotten)', async (t) => {
  const c = clock(0);
  const small = new TokenBuckets(1, 1, c.fn, 3);
  for (const k of ['a', 'b', 'c']) small.reserve(k);
  small.reserve('a'); // a is now the most recently used
  small.reserve('d'); // full: b (least recently used) goes
  t.equal(small.size, 3);
  t.ok(small.reserve('a') > small.maxDelayNs, 'a was kept (still empty)');
  t.equal(small.reserve('b'), 0, 'b was forgotten: a new full bucket');

  const lossless = new TokenBuckets(10, 5, c.fn);
  for (let i = 0; i < 100; i++) lossless.reserve(`k${i}`);
  t.equal(lossless.size, 100);
  c.now += 1000; // 10 tokens/s, 1 token spent each: refilled after 100 ms
  for (let i = 0; i < 100; i++) lossless.reserve(`n${i}`);
  t.ok(lossless.size <= 101, `refilled sources are forgotten as new ones come (${lossless.size})`);

  const flood = new TokenBuckets(1, 1, c.fn);
  for (let i = 0; i < 200_000; i++) flood.reserve(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
  t.equal(flood.size, MAX_SOURCES, 'a flood of distinct sources stays at the cap');

  const long = new TokenBuckets(1, 1, c.fn);
  const k1 = 'x'.repeat(10_000);
  const k2 = `${'x'.repeat(9_999)}y`;
  long.reserve(k1);
  t.ok(long.reserve(k1) > long.maxDelayNs, 'a long key keeps its bucket (hashed)');
  t.equal(long.reserve(k2), 0, 'another long key has another bucket');
});

t.test('goDuration (Go time.Duration.String) and the 429 headers', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [1, '1ns'],
    [999, '999ns'],
    [1500, '1.5µs'],
    [1_000_000, '1ms'],
    [999_999_999, '999.999999ms'],
    [1e9, '1s'],
    [1.5e9, '1.5s'],
    [61e9, '1m1s'],
    [3600e9, '1h0m0s'],
    [3723.5e9, '1h2m3.5s'],
    [-1.5e9, '-1.5s'],
  ];
  for (const [ns, want] of cases) t.equal(goDuration(ns), want, String(ns));
  t.same(retryHeaders(1.5e9), {
    'content-type': 'text/plain; charset=utf-8',
    'retry-after': '2',
    'x-retry-in': '1.5s',
  });
  t.same(retryHeaders(10_000_000)['retry-after'], '1', 'Retry-After rounds up');
});

t.test('rateLimit hooks: 429 with Retry-After, per source, options', async (t) => {
  const h = make('rateLimit', { average: 1, period: '1m', burst: 2 });
  t.equal(run(h, fakeCtx()), null);
  t.equal(run(h, fakeCtx()), null);
  const refused = run(h, fakeCtx());
  t.equal(refused?.status, 429);
  t.equal(refused?.body, 'Too Many Requests');
  t.equal(refused?.headers['retry-after'], '60', 'one token a minute');
  t.match(refused?.headers['x-retry-in'], /^(59\.\d+s|1m0s)$/);
  t.equal(run(h, fakeCtx({ remoteAddr: '192.0.2.2' })), null, 'another client IP, another bucket');
  t.equal(
    run(h, fakeCtx({ remoteAddr: '192.0.2.1', forwardedFor: ['9.9.9.9'] }))?.status,
    429,
    'XFF ignored by default',
  );

  const byDepth = make('rateLimit', { average: 1, period: '1h', sourceCriterion: { ipStrategy: { depth: 1 } } });
  t.equal(run(byDepth, fakeCtx({ forwardedFor: ['1.1.1.1'] })), null);
  t.equal(run(byDepth, fakeCtx({ forwardedFor: ['2.2.2.2'] })), null, 'a trusted proxy tells clients apart');
  t.equal(run(byDepth, fakeCtx({ forwardedFor: [] })), null, 'untrusted: all share the "" source...');
  t.equal(run(byDepth, fakeCtx({ forwardedFor: [] }))?.status, 429, '...so spoofing cannot mint buckets');

  const byHeader = make('rateLimit', { average: 1, period: '1h', sourceCriterion: { requestHeaderName: 'X-Api-Key' } });
  t.equal(run(byHeader, fakeCtx({ headers: [['x-api-key', 'k1']] })), null);
  t.equal(run(byHeader, fakeCtx({ headers: [['x-api-key', 'k1']] }))?.status, 429);
  t.equal(run(byHeader, fakeCtx({ headers: [['x-api-key', 'k2']] })), null);

  const byHost = make('rateLimit', { average: '1', period: '3600', sourceCriterion: { requestHost: 'true' } });
  t.equal(run(byHost, fakeCtx({ host: 'a.test' })), null);
  t.equal(run(byHost, fakeCtx({ host: 'a.test', remoteAddr: '198.51.100.1' }))?.status, 429, 'one bucket per host');

  const unlimited = make('rateLimit', { average: 0 });
  t.same(Object.keys(unlimited), [], 'average 0: no hooks at all');

  const problems: Array<[Record<string, unknown>, RegExp]> = [
    [{ average: -1 }, /average: expected a whole number from 0/],
    [{ average: 1, period: '-1s' }, /period: expected a duration/],
    [{ average: 1, redis: { endpoints: ['x'] } }, /redis: distributed rate limiting \(Redis\) is not supported/],
    [
      { average: 1, sourceCriterion: { ipStrategy: {}, requestHost: true } },
      /ipStrategy and requestHost are mutually exclusive/,
    ],
    [{ average: 1, sourceCriterion: { ipStrategy: {}, requestHeaderName: 'x' } }, /ipStrategy and requestHeaderName/],
    [
      { average: 1, sourceCriterion: { requestHost: true, requestHeaderName: 'x' } },
      /requestHost and requestHeaderName/,
    ],
    [{ average: 1, sourceCriterion: { requestHeaderName: 'bad name' } }, /is not a header name/],
  ];
  for (const [raw, re] of problems) t.match(read('rateLimit', raw)[1].join('\n'), re, JSON.stringify(raw));
  const [defaults] = read('rateLimit', { average: 5 }) as [{ period: number; burst: number }, string[]];
  t.equal(defaults.period, 1000, 'period defaults to 1 s');
  t.equal(defaults.burst, 1, 'burst defaults to 1');
});

// ── inFlightReq ─────────────────────────────────────────────────────────────────────────────────────────

t.test('InFlightCounter: bounded, exact', async (t) => {
  const c = new InFlightCounter(2);
  t.ok(c.acquire('a'));
  t.ok(c.acquire('a'));
  t.notOk(c.acquire('a'), 'a third is refused');
  t.ok(c.acquire('b'));
  c.release('a');
  t.ok(c.acquire('a'));
  c.release('zzz');
  t.equal(c.count('zzz'), 0, 'releasing an unknown source does nothing');
  for (const k of ['a', 'a', 'b']) c.release(k);
  t.equal(c.sources, 0, 'sources at 0 are dropped');
  t.notOk(new InFlightCounter(0).acquire('x'), 'amount 0 refuses all (as connlimit)');
});

t.test('inFlightReq hooks: counts until onDone, once, whatever happens', async (t) => {
  const h = make('inFlightReq', { amount: 2 });
  const first = fakeCtx();
  const second = fakeCtx();
  t.equal(run(h, first), null);
  t.equal(run(h, second), null);
  const third = fakeCtx();
  t.same(run(h, third), {
    status: 429,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    body: 'max connections reached: 2',
  });
  t.equal(run(h, fakeCtx({ host: 'b.test' })), null, 'default source: the host');
  h.onDone?.(third);
  t.not(run(h, fakeCtx())?.status, undefined, 'a refused request frees nothing');
  h.onDone?.(first);
  h.onDone?.(first);
  const fourth = fakeCtx();
  t.equal(run(h, fourth), null, 'one slot back after onDone');
  t.equal(run(h, fakeCtx())?.status, 429, 'a second onDone of the same request frees nothing more');

  // random interleavings: the count is the number of requests in flight, never more than amount
  const amount = 3;
  const g = make('inFlightReq', { amount, sourceCriterion: { ipStrategy: {} } });
  const open: FakeRequest[] = [];
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 2000; i++) {
    if (rand() < 0.55) {
      const ctx = fakeCtx();
      const answered = run(g, ctx) !== null;
      t.equal(answered, open.length >= amount, `step ${i}: refused exactly at ${amount}`);
      if (!answered) open.push(ctx);
      else g.onDone?.(ctx);
    } else if (open.length > 0) {
      g.onDone?.(open.splice(Math.floor(rand() * open.length), 1)[0]);
    }
  }
  t.match(read('inFlightReq', {})[1].join(), /amount: required/);
  t.match(read('inFlightReq', { amount: -1 })[1].join(), /amount: expected a whole number from 0/);
});

// ── circuitBreaker: the expression ──────────────────────────────────────────────────────────────────────

const stub = (v: Partial<Record<'ner' | 'rcr' | 'lat' | 'total', number>>, calls: unknown[] = []): Metrics => ({
  networkErrorRatio: () => v.ner ?? 0,
  responseCodeRatio: (...args) => (calls.push(args), v.rcr ?? 0),
  latencyAtQuantileMs: (q) => (calls.push(q), v.lat ?? 0),
  totalCount: () => v.total ?? 0,
});

t.test('circuitBreaker expression: evaluation', async (t) => {
  const cases: Array<[string, Parameters<typeof stub>[0], boolean]> = [
    ['NetworkErrorRatio() > 0.30', { ner: 0.31 }, true],
    ['NetworkErrorRatio() > 0.30', { ner: 0.3 }, false],
    ['NetworkErrorRatio() >= 0.30', { ner: 0.3 }, true],
    ['NetworkErrorRatio() < .5', { ner: 0.4 }, true],
    ['NetworkErrorRatio() <= 0.5', { ner: 0.6 }, false],
    ['NetworkErrorRatio() == 0', { ner: 0 }, true],
    ['NetworkErrorRatio() != 0', { ner: 0 }, false],
    ['ResponseCodeRatio(500, 600, 0, 600) > 0.25', { rcr: 0.5 }, true],
    ['LatencyAtQuantileMS(50.0) > 100', { lat: 101 }, true],
    ['LatencyAtQuantileMS(50) > 100', { lat: 100 }, false],
    ['ResponseCodeRatio(500, 600, 0, 600) > 0.30 || NetworkErrorRatio() > 0.10', { ner: 0.2 }, true],
    ['ResponseCodeRatio(500, 600, 0, 600) > 0.30 && RequestThreshold() >= 20', { rcr: 0.5, total: 19 }, false],
    ['ResponseCodeRatio(500, 600, 0, 600) > 0.30 && RequestThreshold() >= 20', { rcr: 0.5, total: 20 }, true],
    // && binds tighter than ||
    ['NetworkErrorRatio() > 0.5 || NetworkErrorRatio() > 0.1 && RequestThreshold() > 5', { ner: 0.6 }, true],
    ['(NetworkErrorRatio() > 0.5 || NetworkErrorRatio() > 0.1) && RequestThreshold() > 5', { ner: 0.6 }, false],
    ['0.5 < NetworkErrorRatio()', { ner: 0.6 }, true],
    ['10 >= LatencyAtQuantileMS(99.9)', { lat: 11 }, false],
    ['networkerrorratio() > 0.1', { ner: 0.2 }, true],
    ['((((NetworkErrorRatio() > 1e-1))))', { ner: 0.2 }, true],
    ['NetworkErrorRatio()>0.1&&RequestThreshold()>1', { ner: 0.2, total: 2 }, true],
    ['\tNetworkErrorRatio() > 0.1\n', { ner: 0.2 }, true],
  ];
  for (const [src, values, want] of cases) t.equal(compileExpression(src).test(stub(values)), want, src);
  const calls: unknown[] = [];
  compileExpression('ResponseCodeRatio(400, 500.0, 0, 600) > 0 || LatencyAtQuantileMS(99.5) > 1').test(stub({}, calls));
  t.same(calls, [[400, 500, 0, 600], 99.5], 'arguments as given');
  t.ok(compileExpression('LatencyAtQuantileMS(50.0) > 1').usesLatency);
  t.notOk(compileExpression('NetworkErrorRatio() > 1').usesLatency);
});

t.test('circuitBreaker expression: refused, with a position; hostile input bounded', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty expression/],
    ['   ', /empty expression/],
    ['NetworkErrorRatio()', /expected a comparison.*NetworkErrorRatio\(\) alone/],
    ['NetworkErrorRatio() > 0.5 && 1', /got a number/],
    ['!(NetworkErrorRatio() > 0.5)', /"!" \(negation\) is not supported at position 0/],
    ['NetworkErrorRatio() > -1', /unexpected "-"/],
    ['NetworkErrorRatio() > 0x10', /malformed number "0x10"/],
    ['NetworkErrorRatio() > 1_000', /malformed number/],
    ['NetworkErrorRatio() = 0.5', /unexpected "="/],
    ['NetworkErrorRatio() & RequestThreshold()', /unexpected "&"/],
    ['NetworkErrorRatio(1) > 0', /takes 0 argument\(s\), got 1/],
    ['ResponseCodeRatio(500, 600) > 0', /takes 4 argument/],
    ['ResponseCodeRatio(500.5, 600, 0, 600) > 0', /must be a whole number/],
    ['LatencyAtQuantileMS(101.0) > 1', /quantile is a percentage/],
    ['LatencyAtQuantileMS("50") > 1', /unexpected "\\"" at position 20/],
    ['Latency(50.0) > 1', /unknown function Latency/],
    ['NetworkErrorRatio() > RequestThreshold()', /compares a metric with a number, not a metric with a metric/],
    ['1 > 0', /not a number with a number/],
    ['NetworkErrorRatio() > 0.1 > 0', /not a condition with a number/],
    ['(NetworkErrorRatio() > 0.1', /expected "\)", got the end/],
    ['NetworkErrorRatio() > 0.1)', /unexpected "\)" at position 25/],
    ['NetworkErrorRatio() > ', /unexpected the end/],
    ['NetworkErrorRatio > 1', /expected "\(", got ">"/],
    ['NetworkErrorRatio() > 0.5 ||', /unexpected the end/],
  ];
  for (const [src, re] of cases) t.throws(() => compileExpression(src), re, JSON.stringify(src));

  const deep = `${'('.repeat(MAX_DEPTH + 1)}NetworkErrorRatio() > 0${')'.repeat(MAX_DEPTH + 1)}`;
  t.throws(() => compileExpression(deep), /more than 16 nested parentheses/);
  const ok = `${'('.repeat(MAX_DEPTH)}NetworkErrorRatio() > 0${')'.repeat(MAX_DEPTH)}`;
  t.equal(compileExpression(ok).test(stub({ ner: 1 })), true, `${MAX_DEPTH} levels are fine`);
  t.throws(() => compileExpression('('.repeat(100_000)), /longer than 1024 characters/, 'length checked first');
  const long = Array.from({ length: 30 }, () => 'NetworkErrorRatio() > 0.5').join(' || ');
  t.ok(long.length <= MAX_LENGTH && compileExpression(long).test(stub({ ner: 0.6 })), 'a long flat chain');
  const started = performance.now();
  for (let i = 0; i < 200; i++) t.throws(() => compileExpression(`${'(NetworkErrorRatio() > 0 && '.repeat(30)}`));
  t.ok(performance.now() - started < 2000, 'malformed input is refused quickly');
  t.match(read('circuitBreaker', {})[1].join(), /expression: required/);
  t.match(read('circuitBreaker', { expression: 'Nope() > 1' })[1].join(), /expression: unknown function Nope/);
  t.match(read('circuitBreaker', { expression: 5 })[1].join(), /expression: expected an expression/);
});

// ── circuitBreaker: measurements ────────────────────────────────────────────────────────────────────────

t.test('RollingCounter: 10 one-second buckets (oxy memmetrics)', async (t) => {
  const c = new RollingCounter();
  c.inc(0);
  c.inc(500);
  c.inc(1500);
  t.equal(c.count(1500), 3);
  t.equal(c.count(9999), 3, 'still in the window at 9.999 s');
  t.equal(c.count(10_000), 1, 'second 0 rolled out at 10 s');
  t.equal(c.count(11_000), 0, 'second 1 rolled out at 11 s');
  c.inc(100_000);
  t.equal(c.count(100_000), 1, 'long idle: everything old cleared');
  t.equal(c.count(-5000), 1, 'reading at an earlier time clears nothing');
});

t.test('histogram: hdrhistogram-go buckets (1 µs..1 h, 2 significant figures)', async (t) => {
  const cases: Array<[number, number]> = [
    [0, 0],
    [255, 255],
    [256, 257],
    [500, 501],
    [50_000, 50_175],
    [99_000, 99_327],
    [100_000, 100_351],
    [3_600_000_000, 3_607_101_439],
  ];
  for (const [v, highest] of cases) t.equal(histHighest(histIndex(v)), highest, `${v} µs`);
  t.equal(histIndex(2 ** 32), -1, 'beyond the last bucket');
  for (let v = 1; v < 4e9; v = Math.floor(v * 1.37) + 1) {
    const h = histHighest(histIndex(v));
    if (h < v || h > v * 1.01 + 1) t.fail(`${v} → ${h}`);
  }
  const counts = new Array<number>(4000).fill(0);
  t.equal(valueAtQuantile(counts, 0, 50), 0, 'no values: 0');
  counts[histIndex(1000)] = 1;
  t.equal(valueAtQuantile(counts, 1, 10), 0, 'q·total rounds to 0: 0 (as Go)');
  t.equal(valueAtQuantile(counts, 1, 50), 1003);
});

t.test('RoundTripMetrics: ratios, quantiles, reset, window', async (t) => {
  const c = clock(0);
  const m = new RoundTripMetrics(c.fn, true);
  for (let i = 1; i <= 100; i++) m.record(i <= 30 ? 500 : 200, i <= 10, i);
  t.equal(m.totalCount(), 100);
  t.equal(m.networkErrorRatio(), 0.1);
  t.equal(m.responseCodeRatio(500, 600, 0, 600), 0.3);
  t.equal(m.responseCodeRatio(500, 600, 500, 501), 1);
  t.equal(m.responseCodeRatio(400, 500, 0, 600), 0);
  t.equal(m.responseCodeRatio(500, 600, 600, 700), 0, 'an empty denominator: 0');
  t.equal(m.latencyAtQuantileMs(50), 50);
  t.equal(m.latencyAtQuantileMs(99), 99);
  t.equal(m.latencyAtQuantileMs(100), 100);
  t.equal(m.latencyAtQuantileMs(150), 100, 'above 100: capped (as hdrhistogram)');
  c.now = 10_500;
  t.equal(m.totalCount(), 0, 'counters: a 10 s window');
  t.equal(m.latencyAtQuantileMs(50), 50, 'latencies: a 60 s window');
  c.now = 70_000;
  t.equal(m.latencyAtQuantileMs(50), 0, 'latencies rolled out after 60 s');
  m.record(200, false, 5);
  m.reset();
  t.equal(m.totalCount(), 0);
  t.equal(m.latencyAtQuantileMs(50), 0);
  const noHist = new RoundTripMetrics(c.fn, false);
  noHist.record(200, false, 5000);
  t.equal(noHist.latencyAtQuantileMs(50), 0, 'no histogram unless the expression reads latencies');
  m.record(42, false, 1);
  m.record(1000, false, 1);
  t.equal(m.totalCount(), 2, 'odd statuses count as requests, not as codes');
  t.equal(m.responseCodeRatio(0, 2000, 0, 2000), 0);
});

t.test('isNetworkError', async (t) => {
  const cases: Array<[number, string | null, boolean]> = [
    [502, null, true],
    [504, null, true],
    [500, null, false],
    [503, null, false],
    [200, null, false],
    [502, 'upstream_unreachable', true],
    [502, 'upstream_reset', true],
    [504, 'upstream_timeout', true],
    [504, 'upstream_connect_timeout', true],
    [502, 'upstream_bad_response', true],
    [504, 'drain_timeout', true],
    [503, 'no_healthy_upstream', false],
    [502, 'middleware', false],
    [499, 'client_closed', false],
    [413, 'body_too_large', false],
  ];
  for (const [status, error, want] of cases) t.equal(isNetworkError(status, error), want, `${status} ${error}`);
});

// ── circuitBreaker: the state machine ───────────────────────────────────────────────────────────────────

function breaker(times = { checkPeriod: 100, fallbackDuration: 10_000, recoveryDuration: 10_000 }) {
  const c = clock(0);
  const s = { bad: false, checks: 0, resets: 0, recorded: 0, changes: [] as string[] };
  const metrics = { record: () => void s.recorded++, reset: () => void s.resets++ };
  const b = new Breaker(
    () => (s.checks++, s.bad),
    metrics,
    times,
    c.fn,
    (st) => s.changes.push(st),
  );
  return { b, c, s };
}

t.test('Breaker: standby checks at most once per checkPeriod, on responses', async (t) => {
  const { b, c, s } = breaker();
  b.record(200, false, 1);
  t.equal(s.checks, 1, 'the first response checks');
  for (let i = 0; i < 50; i++) b.record(200, false, 1);
  t.equal(s.checks, 1, 'not again within checkPeriod');
  c.now = 100;
  b.record(200, false, 1);
  t.equal(s.checks, 1, 'checkPeriod is exclusive (oxy: now after lastCheck)');
  c.now = 100.5;
  b.record(200, false, 1);
  t.equal(s.checks, 2);
  t.equal(s.recorded, 53, 'every response is measured');
  t.equal(b.state, 'standby');
  t.ok(b.allow());
});

t.test('Breaker: trip, fallback, linear recovery, standby; re-trip while recovering', async (t) => {
  const { b, c, s } = breaker();
  s.bad = true;
  b.record(500, false, 1);
  t.equal(b.state, 'tripped');
  t.equal(s.resets, 1, 'measurements cleared on trip');
  let passed = 0;
  for (; c.now < 10_000; c.now += 10) if (b.allow()) passed++;
  t.equal(passed, 0, 'nothing passes for fallbackDuration');
  c.now = 10_000;
  s.bad = false;
  t.notOk(b.allow(), 'the first request of the ramp is refused (target 0)');
  t.equal(b.state, 'recovering');
  // a request every 10 ms through the ramp: the share let through grows linearly towards 1/2
  const perSecond: number[] = [];
  for (let sec = 0; sec < 10; sec++) {
    let n = 0;
    for (let i = 0; i < 100; i++) {
      c.now = 10_000 + sec * 1000 + i * 10 + 1;
      if (b.allow()) n++;
    }
    perSecond.push(n);
  }
  t.ok(perSecond[0] <= 10, `first second: few (${perSecond[0]})`);
  t.ok(perSecond[9] >= 80, `last second: most (${perSecond[9]})`);
  for (let i = 1; i < 10; i++) t.ok(perSecond[i] >= perSecond[i - 1], `ramp non-decreasing: ${perSecond}`);
  c.now = 20_001;
  t.ok(b.allow(), 'after recoveryDuration: standby');
  t.equal(b.state, 'standby');
  t.same(s.changes, ['tripped', 'recovering', 'standby']);

  s.bad = true;
  c.now = 30_000;
  b.record(500, false, 1);
  t.equal(b.state, 'tripped');
  c.now = 40_000;
  b.allow();
  t.equal(b.state, 'recovering');
  c.now = 40_200;
  b.record(500, false, 1);
  t.equal(b.state, 'tripped', 'the condition during recovery trips it again');
  c.now = 40_300;
  t.notOk(b.allow(), 'for a full fallbackDuration');
  c.now = 50_200;
  b.allow();
  t.equal(b.state, 'recovering');
});

t.test('circuitBreaker hooks: trips on 5xx, answers 503 (or responseCode) with its status text', async (t) => {
  const h = make('circuitBreaker', {
    expression: 'ResponseCodeRatio(500, 600, 0, 600) > 0.5',
    fallbackDuration: '1h',
    responseCode: 429,
  });
  const ctx = fakeCtx();
  t.equal(run(h, ctx), null, 'standby: through');
  h.onResponse?.(ctx, fakeRes(502, 'upstream_unreachable'));
  const refused = fakeCtx();
  t.same(run(h, refused), {
    status: 429,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    body: 'Too Many Requests',
  });
  t.ok(
    logs.some((l) => l.level === 'warn' && l.msg === 'circuit breaker tripped'),
    'logged',
  );
  const [o] = read('circuitBreaker', { expression: 'NetworkErrorRatio() > 0.5' }) as [Record<string, number>, string[]];
  t.same(
    [o.checkPeriod, o.fallbackDuration, o.recoveryDuration, o.responseCode],
    [100, 10_000, 10_000, 503],
    'Traefik defaults',
  );
  t.match(
    read('circuitBreaker', { expression: 'NetworkErrorRatio() > 0.5', responseCode: 99 })[1].join(),
    /responseCode/,
  );
  t.match(
    read('circuitBreaker', { expression: 'NetworkErrorRatio() > 0.5', checkPeriod: 'soon' })[1].join(),
    /checkPeriod/,
  );
});
