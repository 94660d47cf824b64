// `baton history [service] [--limit N] [--json]`: the table's cells (pure), then the real CLI against a fake admin
// API answering GET /api/deploys as the contract says: the query it sends, the table, --json, bad flags doing
// nothing. The same against a real baton and a real deploy: test/cli-docker.test.ts.
import t from 'tap';
import { failuresText, formatDuration, historyTable, percent, stateText, type DeploySummary } from '../src/cli/output.ts';
import { fakeAdmin, fakeFlags, runCli } from './fixtures/cli.ts';

const done: DeploySummary = {
  id: 'd-aaa111',
  kind: 'deploy',
  service: 'app',
  state: 'succeeded',
  image: 'registry.example.com/team/app:v2',
  createdAt: '2026-01-02T03:04:05.678Z',
  finishedAt: '2026-01-02T03:04:17.978Z',
  durationMs: 12_300,
  error: null,
  requests: 1200,
  failures: 6,
  steps: 9,
};
const failed: DeploySummary = {
  ...done,
  id: 'd-bbb222',
  service: 'api',
  state: 'rolled_back',
  image: 'api:v3',
  durationMs: 65_000,
  error: 'new containers not healthy within 4000 ms: api-g3-abc: unhealthy (status 503) after 3 checks',
  requests: 0,
  failures: 0,
};
const running: DeploySummary = { ...done, id: 'd-ccc333', kind: 'scale', state: 'running', image: null, finishedAt: null, durationMs: null, requests: null, failures: null };

/** The table row naming `id`. */
function row(table: string, id: string): string {
  const lines = table.split('\n').filter((l) => l.includes(id));
  if (lines.length !== 1) throw new Error(`expected one row for ${id} in:\n${table}`);
  return lines[0];
}

t.test('durations, ratios, states for people', async (t) => {
  const durations: Array<[number, string]> = [
    [0, '0 ms'],
    [850, '850 ms'],
    [1000, '1.0 s'],
    [12_345, '12.3 s'],
    [59_949, '59.9 s'],
    [59_990, '1 min 00 s'],
    [125_000, '2 min 05 s'],
    [3_600_000, '1 h 00 min'],
    [3_720_000, '1 h 02 min'],
  ];
  for (const [ms, want] of durations) t.equal(formatDuration(ms), want, `${ms} ms`);
  t.equal(percent(0.05), '5.0 %');
  t.equal(percent(0.004), '0.40 %');
  t.equal(percent(0), '0.0 %');
  t.equal(percent(1), '100.0 %');
  t.equal(failuresText(6, 1200), '6 (0.50 %)');
  t.equal(failuresText(0, 1200), '0');
  t.equal(failuresText(3, 0), '3', 'no ratio without requests');
  t.equal(stateText('rolled_back'), 'rolled back');
});

t.test('the history table: one row per deploy, newest first as listed', async (t) => {
  const table = historyTable([running, failed, done]);
  t.match(table, /ID.*SERVICE.*KIND.*OUTCOME.*IMAGE.*STARTED \(UTC\).*DURATION.*REQUESTS.*FAILURES.*ERROR/);
  t.match(row(table, 'd-aaa111'), /│ app\s+│ deploy │ succeeded\s+│ registry\.example\.com\/team\/app:v2\s+│ 2026-01-02 03:04:05 │ 12\.3 s\s+│ 1200\s+│ 6 \(0\.50 %\)\s+│ —/);
  t.match(row(table, 'd-bbb222'), /│ rolled back │ api:v3 .*│ 1 min 05 s .*│ 0\s+│ 0\s+│ new containers not healthy within 4000 …/);
  t.match(row(table, 'd-ccc333'), /│ scale\s+│ running\s+│ —\s+│ .*│ \(running\)\s+│ —\s+│ —\s+│ —/);
  const order = ['d-ccc333', 'd-bbb222', 'd-aaa111'].map((id) => table.indexOf(id));
  t.same([...order].sort((a, b) => a - b), order, 'in the order given');
  t.equal(historyTable([]), 'No deploys yet.\n');
  const long = historyTable([{ ...done, image: `app:${'x'.repeat(60)}` }]);
  t.match(long, /app:x{31}… /, 'a long image reference is cut');
});

t.test('baton history against the admin API: the query, the table, --json', async (t) => {
  const fake = await fakeAdmin(t);
  fake.deploys = [running, failed, done] as unknown as Array<Record<string, unknown>>;
  const all = await runCli(t, ['history', ...fakeFlags(fake)]);
  t.equal(all.code, 0, all.stderr);
  for (const id of ['d-aaa111', 'd-bbb222', 'd-ccc333']) t.match(all.stdout, id);
  t.equal(fake.requests.at(-1), 'GET /api/deploys');

  const one = await runCli(t, ['history', 'app', '--limit', '1', ...fakeFlags(fake)]);
  t.equal(one.code, 0, one.stderr);
  t.equal(fake.requests.at(-1), 'GET /api/deploys?service=app&limit=1', 'the service and the limit are sent');
  t.match(one.stdout, 'd-ccc333');
  t.notMatch(one.stdout, 'd-aaa111');

  const js = await runCli(t, ['history', 'api', '--json', ...fakeFlags(fake)]);
  t.equal(js.code, 0, js.stderr);
  t.same(JSON.parse(js.stdout), { deploys: [failed] }, '--json: the answer as it is');

  const odd = await runCli(t, ['history', 'a b/c', ...fakeFlags(fake)]);
  t.equal(odd.code, 0);
  t.equal(fake.requests.at(-1), 'GET /api/deploys?service=a+b%2Fc', 'the service name is encoded');

  const none = await runCli(t, ['history', 'nothing', ...fakeFlags(fake)]);
  t.equal(none.stdout, 'No deploys yet.\n');

  const wrong = await runCli(t, ['history', '--admin-url', fake.url, '--token', 'wrong-token-0123456789abcdef']);
  t.equal(wrong.code, 1, 'a refused token: exit 1');
  t.match(wrong.stderr, /BATON_ADMIN_TOKEN/);
  await fake.close();
  const down = await runCli(t, ['history', ...fakeFlags(fake)]);
  t.equal(down.code, 1, 'no admin API: exit 1');
  t.match(down.stderr, /cannot reach the admin API/);
});

t.test('baton history with bad flags: exit 2, no request', async (t) => {
  const fake = await fakeAdmin(t);
  const cases: Array<[string[], RegExp]> = [
    [['history', '--limit', '0'], /--limit must be a whole number from 1 to 1000/],
    [['history', '--limit', '1001'], /--limit must be a whole number from 1 to 1000/],
    [['history', '--limit', '2.5'], /--limit must be a whole number/],
    [['history', '--limit', 'ten'], /--limit must be a whole number/],
    [['history', 'a', 'b'], /usage: baton history \[service\]/],
    [['history', '--plain'], /--plain is not an option of `baton history`/],
    [['history', '--watch'], /--watch is not an option of `baton history`/],
    [['history', '--limit'], /--limit/],
  ];
  for (const [args, why] of cases) {
    const r = await runCli(t, [...args, ...fakeFlags(fake)]);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, why);
  }
  t.same(fake.requests, [], 'no request was made');
  t.match((await runCli(t, ['help'])).stdout, /baton history \[service\] \[--limit 50\] \[--json\]/);
});
