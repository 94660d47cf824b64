// `baton deploy|rollback|scale` following the operation: the pure parts (steps paired into entries, the live
// text, a step's line, the choice of plain or live view) as table tests, then the real CLI (bin/baton.js) against
// a fake admin API playing a scripted deploy: plain timestamped lines on a pipe or with --plain, the listr2 view
// on a real pseudo-terminal, exit codes, Ctrl-C, and bad flags doing nothing.
import t from 'tap';
import { entryTitle, liveText, StepTracker, tookText } from '../src/cli/progress.ts';
import { stepLine } from '../src/cli/output.ts';
import { wantsPlain } from '../src/cli/term.ts';
import { fakeAdmin, fakeFlags, live, plainText, record, runCli, startCli, startCliOnPty, until, type FakeAdmin } from './fixtures/cli.ts';

const T0 = '2026-01-02T03:04:05.000Z';
const ISO_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

t.test('steps pair into entries: a started step and the step that ends it are one', async (t) => {
  const step = (action: string, status: string, containers: string[] = ['a'], detail?: string) => ({ n: 0, at: T0, action, containers, status: status as 'started', ...(detail ? { detail } : {}) });
  const cases: Array<{ name: string; steps: ReturnType<typeof step>[]; want: Array<[string, string, string | undefined]> }> = [
    { name: 'a pair', steps: [step('create', 'started', ['a'], 'image x'), step('create', 'done')], want: [['create', 'done', 'image x']] },
    { name: 'the end step says more', steps: [step('drain', 'started'), step('drain', 'done', ['a'], 'in-flight reached zero')], want: [['drain', 'done', 'in-flight reached zero']] },
    { name: 'a failure', steps: [step('health gate', 'started'), step('health gate', 'failed', ['a'], 'a: unhealthy')], want: [['health gate', 'failed', 'a: unhealthy']] },
    { name: 'a step done without a start', steps: [step('monitor failure ignored', 'done', [], 'why')], want: [['monitor failure ignored', 'done', 'why']] },
    {
      name: 'overlapping steps end by their containers',
      steps: [step('stop', 'started', ['old1']), step('create', 'started', ['new2']), step('stop', 'started', ['old2']), step('stop', 'done', ['old1']), step('create', 'done', ['new2'])],
      want: [['stop', 'done', undefined], ['create', 'done', undefined], ['stop', 'started', undefined]],
    },
    { name: 'an end step on other containers ends the latest of its action', steps: [step('x', 'started', ['a']), step('x', 'done', ['b'])], want: [['x', 'done', undefined]] },
    { name: 'still running', steps: [step('monitor', 'started')], want: [['monitor', 'started', undefined]] },
  ];
  for (const c of cases) {
    const tracker = new StepTracker();
    // fed in two polls: the tracker takes only the steps it has not seen
    tracker.update({ steps: c.steps.slice(0, 1), live: null });
    tracker.update({ steps: c.steps, live: null });
    t.same(tracker.entries.map((e) => [e.action, e.status, e.detail]), c.want, c.name);
  }
  const tracker = new StepTracker();
  tracker.update({ steps: [step('create', 'started')], live: live({ phase: 'create', batch: { n: 2, of: 3 } }) as never });
  t.same(tracker.entries[0].batch, { n: 2, of: 3 }, 'an entry keeps the batch it started in');
  t.equal(tracker.current(live({ phase: 'create' }) as never), tracker.entries[0], 'the live phase names the running entry');
  t.equal(tracker.current(live({ phase: 'monitor' }) as never), undefined);
  t.equal(tracker.current(null), undefined);
});

t.test('what a running phase says of itself', async (t) => {
  const now = Date.parse(T0);
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ phase: 'health gate', deadline: new Date(now + 22_100).toISOString() }, '23 s left'],
    [{ phase: 'health gate', deadline: new Date(now - 5_000).toISOString() }, '0 s left'],
    [{ phase: 'health gate', deadline: new Date(now + 90_000).toISOString() }, '1 min 30 s left'],
    [{ phase: 'drain', inflight: 3 }, '3 in flight'],
    [{ phase: 'drain', inflight: 0 }, '0 in flight'],
    [{ phase: 'monitor', requests: 200, failures: 3, maxFailureRatio: 0.05, deadline: new Date(now + 4_000).toISOString() }, '200 requests, 3 failed (1.5 %; max 5.0 %) · 4 s left'],
    [{ phase: 'monitor', requests: 0, failures: 0, maxFailureRatio: 0 }, '0 requests (max 0.0 %)'],
    [{ phase: 'monitor', requests: 1000, failures: 1, maxFailureRatio: null }, '1000 requests, 1 failed (0.10 %)'],
    [{ phase: 'create' }, ''],
  ];
  for (const [fields, want] of cases) t.equal(liveText(live(fields) as never, now), want, JSON.stringify(fields));
  // a deploy event's live may lack fields
  t.equal(liveText({ phase: 'drain', inflight: 2 } as never, now), '2 in flight', 'missing fields are nothing to say');
});

t.test("a step's line", async (t) => {
  const e = { action: 'health gate', containers: ['a', 'b'], batch: null, status: 'started' as const, detail: undefined, startedAt: T0, endedAt: null };
  t.equal(entryTitle(e), 'health gate a, b');
  t.equal(entryTitle({ ...e, batch: { n: 1, of: 2 } }), 'health gate a, b (batch 1/2)');
  t.equal(entryTitle({ ...e, batch: { n: 1, of: 1 } }), 'health gate a, b', 'one batch of one is not worth saying');
  t.equal(entryTitle({ ...e, detail: 'image x' }), 'health gate a, b — image x');
  t.equal(entryTitle({ ...e, detail: 'image x' }, '3 s left'), 'health gate a, b · 3 s left', 'the live text while it runs');
  t.equal(entryTitle({ ...e, containers: ['a', 'b', 'c', 'd', 'e'] }), 'health gate a, b +3 more');
  t.equal(entryTitle({ ...e, containers: ['a', 'b', 'c'] }), 'health gate a, b, c');
  t.equal(entryTitle({ ...e, containers: [] }), 'health gate');
  // how long it took, by baton's times
  t.equal(tookText(e), '', 'nothing while it runs');
  t.equal(tookText({ ...e, endedAt: '2026-01-02T03:04:06.250Z' }), ' [1.3 s]');
  t.equal(tookText({ ...e, endedAt: '2026-01-02T03:06:05.000Z' }), ' [2 min 00 s]');
  t.equal(tookText({ ...e, endedAt: T0 }), '', 'a step recorded once');
  // the plain line: ISO time first
  const line = stepLine({ n: 1, at: T0, action: 'retire old: drain', containers: ['x'], status: 'done', detail: 'in-flight reached zero' });
  t.equal(line, `${T0} ok     retire old: drain x — in-flight reached zero\n`);
  t.equal(stepLine({ n: 1, at: T0, action: 'monitor', containers: [], status: 'failed' }), `${T0} FAILED monitor\n`);
  t.equal(stepLine({ n: 1, at: T0, action: 'create', containers: [], status: 'started' }), `${T0} ..     create\n`);
});

t.test('plain lines unless stdout is a terminal that can draw', async (t) => {
  const cases: Array<[boolean | undefined, boolean, Record<string, string>, boolean]> = [
    [undefined, true, { TERM: 'xterm' }, false],
    [true, true, { TERM: 'xterm' }, true],
    [undefined, false, { TERM: 'xterm' }, true],
    [false, false, {}, true],
    [undefined, true, { TERM: 'dumb' }, true],
  ];
  for (const [flag, tty, env, plain] of cases) t.equal(wantsPlain(flag, tty, env), plain, `--plain ${flag}, tty ${tty}, ${JSON.stringify(env)}`);
});

/** A deploy of `app` that runs about 2 s: create, health gate (deadline), drain (in flight), monitor (counts). */
function scriptDeploy(fake: FakeAdmin, outcome: 'succeeded' | 'rolled_back' | 'paused' = 'succeeded', slowMs = 0) {
  const c = ['app-g2-aaa', 'app-g2-bbb'];
  const at = (ms: number) => new Date(Date.now() + ms).toISOString();
  const ts = (ms: number) => new Date(Date.parse(T0) + ms).toISOString(); // baton's times of the steps
  const s = [
    { at: ts(0), action: 'create', containers: c, status: 'started', detail: 'image app:v2' },
    { at: ts(300), action: 'create', containers: c, status: 'done' },
    { at: ts(300), action: 'health gate', containers: c, status: 'started' },
    { at: ts(1500), action: 'health gate', containers: c, status: 'done' },
    { at: ts(1500), action: 'retire old: drain', containers: ['app-g1-x'], status: 'started' },
    { at: ts(1700), action: 'retire old: drain', containers: ['app-g1-x'], status: 'done', detail: 'in-flight reached zero' },
    { at: ts(1700), action: 'monitor', containers: c, status: 'started', detail: '2000 ms, maxFailureRatio 0.05' },
    { at: ts(3700), action: 'monitor', containers: c, status: outcome === 'succeeded' ? 'done' : 'failed', detail: '80 requests, 9 failures' },
  ];
  const b = { n: 1, of: 2 };
  const k = (n: number) => n + slowMs;
  fake.script = {
    id: 'd-test1',
    frames: [
      { atMs: 0, record: record('d-test1', 'running', s.slice(0, 1), live({ phase: 'create', batch: b })) },
      { atMs: k(300), record: record('d-test1', 'running', s.slice(0, 3), live({ phase: 'health gate', batch: b, deadline: at(k(9_000)) })) },
      { atMs: k(900), record: record('d-test1', 'running', s.slice(0, 5), live({ phase: 'retire old: drain', batch: b, inflight: 3 })) },
      { atMs: k(1300), record: record('d-test1', 'running', s.slice(0, 7), live({ phase: 'monitor', batch: b, requests: 40, failures: 1, maxFailureRatio: 0.05 })) },
      { atMs: k(2000), record: record('d-test1', outcome, s, null, outcome === 'succeeded' ? undefined : 'monitor: 9 of 80 requests failed') },
    ],
  };
}

t.test('deploy on a pipe: the title, one ISO-timestamped line per step as it happens, the outcome; exit 0', async (t) => {
  const fake = await fakeAdmin(t);
  scriptDeploy(fake);
  const r = await runCli(t, ['deploy', 'app', '--image', 'app:v2', ...fakeFlags(fake)]);
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  const lines = r.stdout.trimEnd().split('\n');
  t.equal(lines[0], 'Deploying app → app:v2 (rolling): d-test1');
  t.equal(lines.length, 10, 'title, 8 steps, outcome');
  t.ok(lines.slice(1, 9).every((l) => ISO_LINE.test(l)), 'every step line starts with its ISO time');
  t.match(lines[6], /ok +retire old: drain app-g1-x — in-flight reached zero$/);
  t.match(lines.at(-1), /^d-test1 succeeded in \d+\.\d s$/);
  t.notMatch(r.stdout, /\x1b/, 'no escape codes');
  t.equal(r.stderr, '');
  t.same(fake.requests.filter((q) => q.startsWith('POST')), ['POST /api/services/app/deploys']);
  t.ok(fake.requests.filter((q) => q === 'GET /api/deploys/d-test1').length >= 5, 'followed by polling the record');
});

t.test('deploy that rolls back or pauses: exit 1, the outcome with its reason on stderr', async (t) => {
  for (const outcome of ['rolled_back', 'paused'] as const) {
    const fake = await fakeAdmin(t);
    scriptDeploy(fake, outcome);
    const r = await runCli(t, ['deploy', 'app', '--image', 'app:v2', '--plain', ...fakeFlags(fake)]);
    t.equal(r.code, 1, `${outcome}: exit 1`);
    t.match(r.stdout, /FAILED monitor app-g2-aaa, app-g2-bbb — 80 requests, 9 failures/);
    t.match(r.stderr, new RegExp(`^d-test1 ${outcome.replace('_', ' ')} after \\d+\\.\\d s: monitor: 9 of 80 requests failed$`, 'm'));
  }
});

t.test('deploy on a terminal with --plain: the same plain lines', async (t) => {
  const fake = await fakeAdmin(t);
  scriptDeploy(fake);
  const c = startCliOnPty(t, ['deploy', 'app', '--image', 'app:v2', '--plain', ...fakeFlags(fake)]);
  const r = await c.done;
  t.equal(r.code, 0, `exit 0: ${r.stdout}`);
  const lines = r.stdout.replace(/\r/g, '').trimEnd().split('\n');
  t.equal(lines[0], 'Deploying app → app:v2 (rolling): d-test1');
  t.equal(lines.filter((l) => ISO_LINE.test(l)).length, 8);
  t.notMatch(r.stdout, /\x1b/, 'no escape codes');
});

t.test('deploy on a terminal: the live view — spinners, batch, countdown, in-flight, monitor counts, ✔ per step', async (t) => {
  const fake = await fakeAdmin(t);
  scriptDeploy(fake);
  const c = startCliOnPty(t, ['deploy', 'app', '--image', 'app:v2', ...fakeFlags(fake)]);
  const r = await c.done;
  t.equal(r.code, 0, `exit 0`);
  const text = plainText(r.stdout);
  t.match(r.stdout, /\x1b\[/, 'drawn with escape codes');
  t.match(text, /^Deploying app → app:v2 \(rolling\): d-test1$/m);
  t.match(text, /health gate app-g2-aaa, app-g2-bbb \(batch 1\/2\) · [1-9] s left/, 'the health gate counts down');
  t.match(text, /retire old: drain app-g1-x \(batch 1\/2\) · 3 in flight/, 'the drain in flight');
  t.match(text, /monitor app-g2-aaa, app-g2-bbb \(batch 1\/2\) · 40 requests, 1 failed \(2\.5 %; max 5\.0 %\)/, 'the monitor window');
  t.match(text, /✔ retire old: drain app-g1-x \(batch 1\/2\) — in-flight reached zero \[200 ms\]/, 'a finished step: ✔, what it said, how long');
  t.match(text, /✔ health gate app-g2-aaa, app-g2-bbb \(batch 1\/2\) \[1\.2 s\]/, 'how long, by baton\'s times');
  t.match(text, /✔ monitor app-g2-aaa, app-g2-bbb \(batch 1\/2\) — 80 requests, 9 failures \[2\.0 s\]/);
  t.match(text, /d-test1 succeeded in \d+\.\d s\s*$/, 'the outcome last');
  t.notMatch(text, /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ok|\.\.) /, 'not the plain lines');
  t.match(r.stdout, /\x1b\[\?25h/, 'the cursor is shown again');
});

t.test('deploy on a terminal that rolls back: ✖ on the failed step with its reason, exit 1', async (t) => {
  const fake = await fakeAdmin(t);
  scriptDeploy(fake, 'rolled_back');
  const r = await startCliOnPty(t, ['deploy', 'app', '--image', 'app:v2', ...fakeFlags(fake)]).done;
  t.equal(r.code, 1);
  const text = plainText(r.stdout);
  t.match(text, /✖ monitor app-g2-aaa, app-g2-bbb \(batch 1\/2\) \[2\.0 s\]\n.*80 requests, 9 failures/);
  t.match(text, /d-test1 rolled back after \d+\.\d s: monitor: 9 of 80 requests failed/);
});

t.test('Ctrl-C stops following (the deploy goes on): a message, exit 130, in both views', async (t) => {
  const fake = await fakeAdmin(t);
  scriptDeploy(fake, 'succeeded', 60_000);
  const piped = startCli(t, ['deploy', 'app', '--image', 'app:v2', ...fakeFlags(fake)]);
  await until(() => piped.stdout().includes('create'), 10_000, 'the first step');
  piped.child.kill('SIGINT');
  const r = await piped.done;
  t.equal(r.code, 130, 'exit 130');
  t.match(r.stderr, /stopped following d-test1 \(running\); it goes on in baton/);

  const pty = startCliOnPty(t, ['deploy', 'app', '--image', 'app:v2', ...fakeFlags(fake)]);
  await until(() => plainText(pty.stdout()).includes('create app-g2'), 10_000, 'the live view');
  pty.child.stdin!.write('\x03'); // Ctrl-C on the terminal: SIGINT to its foreground process
  const p = await pty.done;
  t.equal(p.code, 130, 'exit 130');
  t.match(plainText(p.stdout), /stopped following d-test1/);
  t.match(p.stdout, /\x1b\[\?25h/, 'the cursor is shown again');
});

t.test('bad flags: exit 2 and nothing is started', async (t) => {
  const fake = await fakeAdmin(t);
  scriptDeploy(fake);
  const cases: Array<[string[], RegExp]> = [
    [['deploy', 'app', '--image', 'app:v2', '--limit', '3'], /--limit is not an option of `baton deploy`/],
    [['deploy', 'app', '--image', 'app:v2', '--watch'], /--watch is not an option of `baton deploy`/],
    [['deploy', 'app', '--image', 'app:v2', '--replicas', 'two'], /--replicas must be a whole number/],
    [['rollback', 'app', '--json'], /--json is not an option of `baton rollback`/],
    [['scale', 'app', '2', '--image', 'x'], /--image is not an option of `baton scale`/],
    [['deploy', 'app', '--image', 'app:v2', '--plain=yes'], /plain/],
  ];
  for (const [args, why] of cases) {
    const r = await runCli(t, [...args, ...fakeFlags(fake)]);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, why);
  }
  t.same(fake.requests, [], 'no request was made');
  const help = await runCli(t, ['help']);
  t.match(help.stdout, /--plain/);
  t.match(help.stdout, /baton rollback <service> \[--plain\]/);
});
