// `baton events [--json]`: the SSE parser and the event lines (pure), one stream read in process (a quiet peer
// counts as gone once it has sent heartbeats), then the real CLI against a fake admin API (lines, --json, a stream
// that drops and comes back, exit codes) and against a real baton (an upstream drained, the stats every second).
import t from 'tap';
import { EventPrinter, jsonLine, reconnectDelayMs } from '../src/cli/events.ts';
import { SseParser, sseEvents, type SseEvent } from '../src/cli/sse.ts';
import { admin, http, startBaton, startUpstream, TOKEN } from './fixtures/harness.ts';
import { FAKE_TOKEN, fakeAdmin, fakeFlags, runCli, startCli, until } from './fixtures/cli.ts';

const T0 = Date.parse('2026-01-02T03:04:05.000Z');

t.test('SSE frames, however the chunks split them', async (t) => {
  const wire = 'event: hello\ndata: {"a":1}\n\n: keep-alive\n\nevent: deploy\r\ndata: line1\r\ndata:line2\r\nid: 7\r\n\r\ndata: plain\r\r\n';
  const want: SseEvent[] = [
    { type: 'hello', data: '{"a":1}', id: null },
    { type: 'deploy', data: 'line1\nline2', id: '7' },
    { type: 'message', data: 'plain', id: '7' },
  ];
  for (const size of [1, 2, 3, 7, wire.length]) {
    const p = new SseParser();
    const got: SseEvent[] = [];
    for (let i = 0; i < wire.length; i += size) got.push(...p.feed(wire.slice(i, i + size)));
    t.same(got, want, `chunks of ${size}`);
  }
  const p = new SseParser();
  t.same(p.feed('event: x\n'), [], 'no data, no event yet');
  t.same(p.feed('\n'), [], 'a frame without data is not an event');
  t.same(p.feed('data\n\n'), [{ type: 'message', data: '', id: null }], 'a field without a colon');
});

t.test('reconnect delays grow to a cap', async (t) => {
  t.same([0, 1, 2, 3, 4, 5, 6, 50].map(reconnectDelayMs), [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
});

t.test('one line per event: time, type, summary', async (t) => {
  const p = new EventPrinter();
  const line = (type: string, data: unknown) => p.line({ type, data: JSON.stringify(data), id: null }, T0);
  const hello = { services: [{ name: 'app', upstreams: [{}, {}] }, { name: 'api', upstreams: [{}] }] };
  t.equal(line('hello', hello), '2026-01-02T03:04:05.000Z hello    connected: 2 service(s), 3 upstream(s)\n');
  const up = { type: 'upstream', id: 'app@127.0.0.1:3001', service: 'app', from: 'healthy', to: 'draining', reason: 'drain requested', at: '2026-01-02T03:04:06.500Z' };
  t.equal(line('upstream', up), '2026-01-02T03:04:06.500Z upstream app@127.0.0.1:3001 healthy → draining (drain requested)\n', "the event's own time");
  t.equal(p.summary('upstream', { id: 'u', state: 'healthy', previous: 'starting' }, ''), 'u starting → healthy', 'state/previous too');
  const step = { n: 3, at: '', action: 'health gate', containers: ['app-g2-a'], status: 'done' };
  t.equal(p.summary('deploy', { id: 'd-1', kind: 'deploy', service: 'app', state: 'running', step, live: null }, ''), 'd-1 deploy of app: running — ok health gate app-g2-a');
  const failedStep = { ...step, status: 'failed', detail: 'app-g2-a: unhealthy' };
  t.equal(p.summary('deploy', { id: 'd-1', kind: 'deploy', service: 'app', state: 'running', step: failedStep }, ''), 'd-1 deploy of app: running — FAILED health gate app-g2-a — app-g2-a: unhealthy');
  const drain = { phase: 'retire old: drain', batch: { n: 2, of: 3 }, deadline: null, inflight: 4, requests: null, failures: null, maxFailureRatio: null };
  t.equal(p.summary('deploy', { id: 'd-1', kind: 'deploy', service: 'app', state: 'running', step: null, live: drain }, ''), 'd-1 deploy of app: running — retire old: drain (batch 2/3) · 4 in flight');
  t.equal(p.summary('deploy', { id: 'd-1', kind: 'rollback', service: 'app', state: 'rolled_back', step: null, live: null, error: 'why' }, ''), 'd-1 rollback of app: rolled back — why');
  // stats: totals first, then rates between two events
  const stats = (at: number, requests: number, n2xx: number, n5xx: number) => ({ at, services: { app: { requests, responses: [0, 0, n2xx, 0, 0, n5xx], p50: 0.0031, p99: 0.25 } }, upstreams: {} });
  t.equal(line('stats', stats(T0, 100, 100, 0)), '2026-01-02T03:04:05.000Z stats    app 100 requests, p50 3 ms p99 250 ms\n');
  t.equal(line('stats', stats(T0 + 2000, 140, 130, 10)), '2026-01-02T03:04:07.000Z stats    app 20.0 req/s, 25.0 % 5xx, p50 3 ms p99 250 ms\n');
  t.equal(p.summary('stats', { at: T0, services: { app: { requests: 1, responses: [], p50: null, p99: null } } }, ''), 'app 1 requests', 'a total that went down (a restart): totals again');
  t.equal(p.summary('stats', { at: T0, services: {} }, ''), 'no services');
  t.equal(line('other', { x: 1 }), '2026-01-02T03:04:05.000Z other    {"x":1}\n', 'an unknown type: its data');
  t.equal(p.line({ type: 'odd', data: 'not json', id: null }, T0), '2026-01-02T03:04:05.000Z odd      not json\n');
  t.equal(jsonLine({ type: 'upstream', data: JSON.stringify(up), id: null }), JSON.stringify({ event: 'upstream', data: up }) + '\n');
});

t.test('a stream read in process: events until the server ends it; silence after heartbeats is a drop', async (t) => {
  const fake = await fakeAdmin(t);
  const target = { url: fake.url, token: FAKE_TOKEN };
  const controller = new AbortController();
  const got: string[] = [];
  let opened = 0;
  const reading = (async () => {
    for await (const e of sseEvents(target, '/api/events', { signal: controller.signal, onOpen: () => opened++ })) {
      got.push(e.type);
      if (e.type === 'hello') fake.emit('upstream', { id: 'x' });
      if (e.type === 'upstream') fake.dropStreams();
    }
  })();
  await reading;
  t.same(got, ['hello', 'upstream'], 'the events, then the end of the stream ends the sequence');
  t.equal(opened, 1);

  const quiet: string[] = [];
  const started = Date.now();
  const heartbeat = { type: 'stats', idleMs: 300 };
  const err = await (async () => {
    try {
      for await (const e of sseEvents(target, '/api/events', { signal: controller.signal, heartbeat })) {
        quiet.push(e.type);
        if (e.type === 'hello') fake.emit('stats', { at: Date.now(), services: {} });
      }
    } catch (e) {
      return e as Error;
    }
  })();
  t.match(err?.message, /no event for 0\.3 s/, 'a stream quiet after a heartbeat has dropped');
  t.ok(Date.now() - started < 3000);
  t.same(quiet, ['hello', 'stats']);

  await t.rejects(async () => {
    for await (const _ of sseEvents({ url: fake.url, token: 'wrong-token-0123456789abcdef' }, '/api/events', { signal: controller.signal })) void _;
  }, { status: 401, message: /missing or wrong bearer token.*BATON_ADMIN_TOKEN/ });
  t.equal(fake.streams.size, 0, 'no stream left open');
});

t.test('baton events against the admin API: lines, --json, a dropped stream reconnected, Ctrl-C exits 0', async (t) => {
  const fake = await fakeAdmin(t);
  fake.services = [{ name: 'app', upstreams: [{ id: 'u1' }] }];
  const c = startCli(t, ['events', ...fakeFlags(fake)]);
  await until(() => c.stdout().includes('hello'), 10_000, 'the hello line');
  t.match(c.stdout(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z hello {4}connected: 1 service\(s\), 1 upstream\(s\)$/m);
  fake.emit('upstream', { type: 'upstream', id: 'u1', service: 'app', from: 'healthy', to: 'draining', reason: 'drain requested', at: new Date().toISOString() });
  await until(() => c.stdout().includes('u1 healthy → draining (drain requested)'), 5000, 'the upstream line');

  fake.dropStreams();
  await until(() => c.stderr().includes('reconnected'), 10_000, 'a reconnect');
  t.match(c.stderr(), /baton events: stream lost \(the admin API closed the stream\); reconnecting in 500 ms…/);
  await until(() => fake.streams.size === 1, 5000, 'the new stream');
  fake.emit('deploy', { id: 'd-9', kind: 'deploy', service: 'app', state: 'succeeded', step: null, live: null, error: null });
  await until(() => c.stdout().includes('d-9 deploy of app: succeeded'), 5000, 'events after the reconnect');
  t.equal(c.stdout().match(/ hello /g)?.length, 2, 'a hello per connection');

  // baton gone for a while, then back on the same port: the delays grow, the stream comes back
  const port = fake.port;
  await fake.close();
  await until(() => (c.stderr().match(/reconnecting in/g)?.length ?? 0) >= 3, 10_000, 'a few reconnect attempts');
  t.match(c.stderr(), /stream lost \(cannot reach the admin API at .* \(ECONNREFUSED\).*\); reconnecting in 1\.0 s…/, 'the delay grows');
  const again = await fakeAdmin(t, port);
  await until(() => again.streams.size === 1, 15_000, 'the stream back');
  await until(() => c.stdout().match(/ hello /g)?.length === 3, 5000, 'hello again');

  c.child.kill('SIGINT');
  const r = await c.done;
  t.equal(r.code, 0, 'Ctrl-C: exit 0');
  t.equal(again.streams.size, 0, 'the stream is closed');

  const js = startCli(t, ['events', '--json', ...fakeFlags(again)]);
  await until(() => js.stdout().includes('\n'), 10_000, 'a JSON line');
  again.emit('upstream', { id: 'u1', from: 'draining', to: 'drained' });
  await until(() => js.stdout().split('\n').length >= 3, 5000, 'the second JSON line');
  const lines = js.stdout().trim().split('\n').map((l) => JSON.parse(l));
  t.same(lines.map((l) => l.event), ['hello', 'upstream']);
  t.same(lines[1].data, { id: 'u1', from: 'draining', to: 'drained' }, 'the data as sent');
  js.child.kill('SIGINT');
  t.equal((await js.done).code, 0);
});

t.test('baton events: nothing to connect to, a refused token, bad flags', async (t) => {
  const fake = await fakeAdmin(t);
  const wrong = await runCli(t, ['events', '--admin-url', fake.url, '--token', 'wrong-token-0123456789abcdef']);
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /baton events: missing or wrong bearer token/);
  t.notMatch(wrong.stderr, /reconnecting/, 'a refused token is not retried');
  await fake.close();
  const down = await runCli(t, ['events', ...fakeFlags(fake)]);
  t.equal(down.code, 1, 'never connected: exit 1');
  t.match(down.stderr, /baton events: cannot reach the admin API at .*ECONNREFUSED/);
  for (const args of [['events', '--limit', '5'], ['events', '--plain'], ['events', 'extra']]) {
    const r = await runCli(t, [...args, ...fakeFlags(fake)]);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
  }
  t.match((await runCli(t, ['help'])).stdout, /baton events \[--json\]/);
});

t.test('baton events against a real baton: an upstream drained, the traffic every second', async (t) => {
  const a = await startUpstream(t, 'a');
  const b = await startUpstream(t, 'b');
  const baton = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url, b.url] } } });
  const flags = ['--admin-url', `http://127.0.0.1:${baton.adminPort}`, '--token', TOKEN];
  const c = startCli(t, ['events', ...flags]);
  await until(() => c.stdout().includes('hello'), 10_000, 'the hello line');
  t.match(c.stdout(), /hello {4}connected: 1 service\(s\), 2 upstream\(s\)/);
  const id = `app@127.0.0.1:${a.port}`;
  const drained = await admin(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(id)}/drain`, {});
  t.equal(drained.status, 200);
  await until(() => c.stdout().includes(`upstream ${id} healthy → draining`), 5000, 'the draining line');
  await until(() => c.stdout().includes(`upstream ${id} draining → drained`), 5000, 'the drained line');
  for (let i = 0; i < 20; i++) await http(baton.port, { host: 'app.test' });
  await until(() => /stats {4}app \d+\.\d req\/s/.test(c.stdout()), 10_000, 'a stats line with a rate');
  c.child.kill('SIGINT');
  t.equal((await c.done).code, 0);
});
