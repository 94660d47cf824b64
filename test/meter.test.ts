// The hot-path meters (src/upstream/meter.ts) and the live stats they feed, as pure table tests: counts by method,
// code and protocol; histogram buckets (configured and fine); sums over threads; quantiles.
import t from 'tap';
import { LiveStats } from '../src/admin/live-stats.ts';
import type { TrafficStats } from '../src/traffic.ts';
import { sumStats } from '../src/traffic.ts';
import {
  CodeCounts,
  Durations,
  fineBound,
  fineQuantile,
  FINE_BUCKETS,
  GRPC,
  HTTP,
  Meters,
  protocolOf,
  RequestMetrics,
  splitKey,
  sumCodeRows,
  sumDurations,
  WEBSOCKET,
} from '../src/upstream/meter.ts';
import type { Registry } from '../src/upstream/registry.ts';

t.test('codes are counted by method, status and protocol', async (t) => {
  const c = new CodeCounts();
  c.add('GET', 200, HTTP);
  c.add('GET', 200, HTTP);
  c.add('GET', 404, HTTP);
  c.add('POST', 200, HTTP);
  c.add('GET', 101, WEBSOCKET);
  c.add('POST', 200, GRPC);
  const rows = c.rows().map(([m, k, n]) => [m, splitKey(k).code, splitKey(k).protocol, n]);
  t.same(
    rows.sort(),
    [
      ['GET', 101, 'websocket', 1],
      ['GET', 200, 'http', 2],
      ['GET', 404, 'http', 1],
      ['POST', 200, 'grpc', 1],
      ['POST', 200, 'http', 1],
    ].sort(),
  );
});

t.test('durations land in the first bucket at or above them; +Inf takes the rest', async (t) => {
  const cases: Array<[number, number]> = [
    [0, 0],
    [0.005, 0],
    [0.0051, 1],
    [0.1, 1],
    [0.5, 2],
    [99, 3],
  ];
  for (const [seconds, bucket] of cases) {
    const d = new Durations([0.005, 0.1, 1]);
    d.observe(seconds);
    const counts = d.data().counts;
    t.equal(counts.length, 4, 'one per bound plus +Inf');
    t.equal(counts.indexOf(1), bucket, `${seconds}s → bucket ${bucket}`);
    t.equal(d.data().sum, seconds);
  }
});

t.test('fine buckets bound every duration within 10 %; quantiles read them', async (t) => {
  for (const seconds of [0.00001, 0.0003, 0.0021, 0.05, 1.7, 42]) {
    const d = new Durations([1]);
    d.observe(seconds);
    const fine = d.data().fine;
    t.equal(fine.length, FINE_BUCKETS);
    const q = fineQuantile(fine, 0.5)!;
    t.ok(q >= seconds && q <= seconds * 1.1 + 1e-12, `${seconds}s → ${q}`);
  }
  const d = new Durations([1]);
  for (let i = 0; i < 98; i++) d.observe(0.001);
  d.observe(0.5);
  d.observe(0.5);
  const fine = d.data().fine;
  t.ok(fineQuantile(fine, 0.5)! < 0.0011, 'p50 is the common case');
  t.ok(fineQuantile(fine, 0.99)! >= 0.5, 'p99 sees the slow two');
  t.equal(fineQuantile(new Array(FINE_BUCKETS).fill(0), 0.5), null, 'no observations: null');
  t.ok(fineBound(FINE_BUCKETS - 1) > 3600, 'the last fine bucket is beyond an hour');
  const huge = new Durations([1]);
  huge.observe(1e9);
  t.equal(huge.data().fine[FINE_BUCKETS - 1], 1, 'beyond the last bound: the last bucket');
});

t.test('sums over threads add counts, histograms and fine buckets', async (t) => {
  const a = new CodeCounts();
  const b = new CodeCounts();
  a.add('GET', 200, HTTP);
  b.add('GET', 200, HTTP);
  b.add('PUT', 500, HTTP);
  const rows = sumCodeRows([a.rows(), b.rows()]).map(([m, k, n]) => `${m} ${splitKey(k).code} ${n}`);
  t.same(rows.sort(), ['GET 200 2', 'PUT 500 1']);
  const x = new Durations([0.1]);
  const y = new Durations([0.1]);
  x.observe(0.05);
  y.observe(0.2);
  y.observe(0.01);
  const s = sumDurations([x.data(), y.data()]);
  t.same(s.counts, [2, 1]);
  t.equal(Math.round(s.sum * 1000), 260);
  t.equal(
    s.fine.reduce((p, n) => p + n, 0),
    3,
  );
});

t.test('an entrypoint counts what baton answered and what it forwarded; the service its own', async (t) => {
  const meters = new Meters([0.1, 1]);
  const m = new RequestMetrics(meters);
  m.answered('GET', 404, null, HTTP);
  m.answered('GET', 503, 'app', HTTP);
  m.forwarded('GET', 200, 'app', performance.now() - 20, HTTP);
  t.equal(m.codes.rows().length, 3);
  const app = meters.data().app;
  t.same(app.codes.map(([, k, n]) => [splitKey(k).code, n]).sort(), [
    [200, 1],
    [503, 1],
  ]);
  t.same(app.durations.counts, [1, 0, 0], 'only the forwarded request is timed (20 ms)');
  t.equal(protocolOf({ httpVersionMajor: 2, headers: { 'content-type': 'application/grpc+proto' } }), GRPC);
  t.equal(protocolOf({ httpVersionMajor: 1, headers: { 'content-type': 'application/grpc' } }), HTTP);
  t.equal(protocolOf({ httpVersionMajor: 2, headers: {} }), HTTP);
});

t.test('sumStats merges the meters of several worker threads', async (t) => {
  const plane = (n: number): TrafficStats => {
    const meters = new Meters([1]);
    const m = new RequestMetrics(meters);
    for (let i = 0; i < n; i++) m.forwarded('GET', 200, 'app', performance.now(), HTTP);
    return {
      services: { app: { responses: [0, 0, n, 0, 0, 0], retries: 0, unavailable: 0 } },
      entrypoints: { web: { connections: 1, rejectedConnections: 0, notFound: 0, codes: m.codes.rows() } },
      meters: meters.data(),
    };
  };
  const sum = sumStats([plane(2), plane(3)]);
  t.same(sum.entrypoints.web.codes.map(([, , n]) => n), [5]);
  t.same(sum.meters.app.codes.map(([, , n]) => n), [5]);
  t.same(sum.meters.app.durations.counts, [5, 0]);
  t.equal(sum.entrypoints.web.connections, 2);
});

t.test('live stats: totals, and p50/p99 over the recent window only', async (t) => {
  const registry = { services: new Map([['app', {}]]), upstreams: new Map() } as unknown as Registry;
  const live = new LiveStats({ registry, traffic: async () => stats, publish: () => {}, onError: () => {} });
  const meters = new Meters([1]);
  const m = new RequestMetrics(meters);
  const at = (seconds: number) => {
    m.forwarded('GET', 200, 'app', performance.now() - seconds * 1000, HTTP);
  };
  let stats: TrafficStats;
  const snapshot = (n2xx: number): TrafficStats => ({
    services: { app: { responses: [0, 0, n2xx, 0, 0, 0], retries: 0, unavailable: 0 } },
    entrypoints: {},
    meters: meters.data(),
  });
  for (let i = 0; i < 10; i++) at(2); // slow requests, long ago
  stats = snapshot(10);
  const first = live.event(stats, 1);
  t.equal(first.services.app.requests, 10);
  t.ok(first.services.app.p50! >= 1.5, 'at first the window holds the slow ones');
  for (let tick = 2; tick <= 12; tick++) {
    for (let i = 0; i < 10; i++) at(0.001);
    stats = snapshot(10 * tick);
    live.event(stats, tick);
  }
  const last = live.event(snapshot(120), 13);
  t.equal(last.services.app.requests, 120);
  t.ok(last.services.app.p99! < 0.01, `the slow ones left the window (p99 ${last.services.app.p99})`);
  t.same(last.upstreams, {});
});
