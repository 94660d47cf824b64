// `baton status --watch [--interval 2s]`: rates, frames and drawing in place (pure), then the real CLI against a
// fake admin API (plain frames on a pipe, in place on a pseudo-terminal, --json lines, Ctrl-C exits 0, an admin
// API that goes away exits 1, bad flags do nothing) and against a real baton (requests per second).
import t from 'tap';
import { watchInterval } from '../src/cli/commands.ts';
import { statusTable, type ServiceView } from '../src/cli/output.ts';
import { inPlace, RateMeter, watchFrame } from '../src/cli/watch.ts';
import { http, startBaton, startUpstream, TOKEN } from './fixtures/harness.ts';
import { fakeAdmin, fakeFlags, plainText, runCli, startCli, startCliOnPty, until } from './fixtures/cli.ts';

const T0 = Date.parse('2026-01-02T03:04:05.000Z');
const HEADER = /^Every (\S+ \S+): baton status — (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)$/gm;

function services(requests: number[]): ServiceView[] {
  return [
    {
      name: 'app',
      rule: 'Host(`app.test`)',
      upstreams: requests.map((n, i) => ({ id: `u${i}`, url: `http://127.0.0.1:${3000 + i}`, state: 'healthy', inflight: i, requests: n, failures: 0 })),
    },
  ];
}

t.test('requests per second between two refreshes', async (t) => {
  const m = new RateMeter();
  t.same([...m.sample(services([10, 0]), T0)], [], 'nothing on the first sample');
  t.same([...m.sample(services([30, 5]), T0 + 2000)], [['u0', 10], ['u1', 2.5]]);
  t.same([...m.sample(services([3, 5, 7]), T0 + 3000)], [['u1', 0]], 'a total that went down, or a new upstream: no rate yet');
  t.same([...m.sample([{ name: 'x', rule: 'r', upstreams: [{ id: 'old', url: 'u', state: 's', inflight: 0 }] }], T0 + 4000)], [], 'no counts, no rate');
});

t.test('the status table with counts and rates; a frame; drawn in place', async (t) => {
  const plain = statusTable([{ name: 'app', rule: 'r', upstreams: [{ id: 'u0', url: 'x', state: 'healthy', inflight: 0 }] }]);
  t.notMatch(plain, /REQUESTS/, 'no counts from the API: the table as before');
  const counted = statusTable(services([12, 3]));
  t.match(counted, /SERVICE.*RULE.*UPSTREAM.*URL.*STATE.*IN-FLIGHT.*REQUESTS.*FAILURES/);
  t.notMatch(counted, /REQ\/S/);
  const rated = statusTable(services([12, 3]), new Map([['u0', 4.25]]));
  t.match(rated.split('\n').find((l) => l.includes('u0')), /│ 12\s+│ 0\s+│ 4\.3\s+│/);
  t.match(rated.split('\n').find((l) => l.includes('u1')), /│ 3\s+│ 0\s+│ —\s+│/);
  const frame = watchFrame(services([1]), new Map(), 2000, T0);
  t.match(frame, /^Every 2 s: baton status — 2026-01-02T03:04:05\.000Z\n\n┌/);
  t.match(watchFrame([], new Map(), 500, T0), /^Every 500 ms: .*\n\nNo services configured\.\n$/);
  t.match(watchFrame([], new Map(), 90_000, T0), /^Every 1 min 30 s:/);
  t.equal(inPlace('a\nbb\n'), '\x1b[Ha\x1b[K\nbb\x1b[K\n\x1b[K\x1b[J', 'home, every line cleared to its end, the rest cleared');
});

t.test('--interval', async (t) => {
  t.equal(watchInterval({ watch: true }), 2000, 'default 2 s');
  t.equal(watchInterval({ watch: true, interval: '500ms' }), 500);
  t.equal(watchInterval({ watch: true, interval: '1m' }), 60_000);
  t.equal(watchInterval({ watch: true, interval: '250' }), 250, 'a bare number is milliseconds');
  for (const bad of ['0s', '50ms', '2h', 'soon', '']) t.match(watchInterval({ watch: true, interval: bad }), /--interval: expected a duration from 100ms to 1h/, JSON.stringify(bad));
  t.equal(watchInterval({ interval: '2s' }), '--interval goes with --watch');
});

t.test('status --watch on a pipe: a timestamped frame per interval; Ctrl-C exits 0', async (t) => {
  const fake = await fakeAdmin(t);
  fake.services = services([5, 0]);
  const c = startCli(t, ['status', '--watch', '--interval', '200ms', ...fakeFlags(fake)]);
  await until(() => [...c.stdout().matchAll(HEADER)].length >= 3, 10_000, 'three frames');
  fake.services = services([25, 0]);
  await until(() => /│ u0 .*│ \d+\.\d\s+│/.test(c.stdout().split('Every').at(-1) ?? ''), 5000, 'a rate');
  c.child.kill('SIGINT');
  const r = await c.done;
  t.equal(r.code, 0, 'exit 0');
  const headers = [...r.stdout.matchAll(HEADER)];
  t.equal(headers[0][1], '200 ms');
  const times = headers.map((h) => Date.parse(h[2]));
  t.ok(times.every((x, i) => i === 0 || x > times[i - 1]), 'each frame has its time');
  t.notMatch(r.stdout, /\x1b/, 'no escape codes on a pipe');
  t.equal(r.stderr, '');
});

t.test('status --watch: the admin API going away ends it with the reason, exit 1', async (t) => {
  const fake = await fakeAdmin(t);
  const c = startCli(t, ['status', '--watch', '--interval', '200ms', ...fakeFlags(fake)]);
  await until(() => c.stdout().includes('No services configured'), 10_000, 'a frame');
  await fake.close();
  const r = await c.done;
  t.equal(r.code, 1);
  t.match(r.stderr, /^baton status --watch: cannot reach the admin API at .*ECONNREFUSED.* \(stopped watching\)$/m);
  const never = await runCli(t, ['status', '--watch', ...fakeFlags(fake)]);
  t.equal(never.code, 1, 'not there at all: exit 1');
  t.notMatch(never.stderr, /stopped watching/);
});

t.test('status --watch on a terminal: redrawn in place, the cursor back on Ctrl-C, exit 0', async (t) => {
  const fake = await fakeAdmin(t);
  fake.services = services([5]);
  const c = startCliOnPty(t, ['status', '--watch', '--interval', '200ms', ...fakeFlags(fake)]);
  await until(() => (c.stdout().match(/\x1b\[H/g)?.length ?? 0) >= 3, 10_000, 'three frames drawn');
  c.child.stdin!.write('\x03');
  const r = await c.done;
  t.equal(r.code, 0, 'exit 0');
  t.match(r.stdout, /\x1b\[\?25l\x1b\[2J/, 'the cursor hidden, the screen cleared once');
  t.match(r.stdout, /\x1b\[J/, 'the rest of the screen cleared after each frame');
  t.match(r.stdout, /\x1b\[\?25h/, 'the cursor shown again');
  t.match(plainText(r.stdout), /Every 200 ms: baton status/);
});

t.test('status --watch --json: one JSON line per refresh', async (t) => {
  const fake = await fakeAdmin(t);
  fake.services = services([1]);
  const c = startCli(t, ['status', '--watch', '--json', '--interval', '100ms', ...fakeFlags(fake)]);
  await until(() => c.stdout().split('\n').length > 3, 10_000, 'three lines');
  c.child.kill('SIGINT');
  const r = await c.done;
  t.equal(r.code, 0);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.ok(lines.every((l) => typeof l.at === 'string' && l.services[0].name === 'app'));
});

t.test('status --watch with bad flags: exit 2, no request', async (t) => {
  const fake = await fakeAdmin(t);
  const cases: Array<[string[], RegExp]> = [
    [['status', '--interval', '2s'], /--interval goes with --watch/],
    [['status', '--watch', '--interval', '5 parsecs'], /--interval: expected a duration/],
    [['status', '--watch', '--interval', '10ms'], /--interval: expected a duration from 100ms to 1h/],
    [['status', '--watch', '--limit', '2'], /--limit is not an option of `baton status`/],
    [['certs', '--watch'], /--watch is not an option of `baton certs`/],
  ];
  for (const [args, why] of cases) {
    const r = await runCli(t, [...args, ...fakeFlags(fake)]);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, why);
  }
  t.same(fake.requests, [], 'no request was made');
  t.match((await runCli(t, ['help'])).stdout, /baton status \[--json\] \[--watch \[--interval 2s\]\]/);
});

t.test('status --watch against a real baton: request counts and rates per upstream', async (t) => {
  const a = await startUpstream(t, 'a');
  const baton = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } } });
  const c = startCli(t, ['status', '--watch', '--interval', '300ms', '--admin-url', `http://127.0.0.1:${baton.adminPort}`, '--token', TOKEN]);
  await until(() => c.stdout().includes('REQUESTS'), 10_000, 'a frame with the request counts');
  let stop = false;
  const load = (async () => {
    while (!stop) await http(baton.port, { host: 'app.test' });
  })();
  const id = `app@127.0.0.1:${a.port}`;
  const rated = (text: string) => text.split('\n').some((l) => l.includes(id) && /│ [1-9]\d*\.\d\s+│\s*$/.test(l));
  await until(() => rated(c.stdout().split('Every').at(-1) ?? ''), 10_000, 'a rate above 0 for the upstream');
  stop = true;
  await load;
  c.child.kill('SIGINT');
  t.equal((await c.done).code, 0);
  t.pass('requests per second shown');
});
