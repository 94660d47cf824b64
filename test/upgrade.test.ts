// `baton upgrade` / SIGUSR2: real `baton serve` child processes handing their listening sockets to the next baton
// under a bounded load (kept-alive and new connections), a slow request in flight across the hand-over, a new
// version that cannot start, two upgrades at once, and workers: 2. Plus the pure parts of src/upgrade.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runCli } from './fixtures/cli.ts';
import { http, startUpstream, waitFor } from './fixtures/harness.ts';
import { configText, gone, load, reaper, serve, servingPid, setup, type LoadResult } from './fixtures/upgrade.ts';
import { pino } from 'pino';
import { childDescriptors, inheritedListeners, runningDeploys, unusedFds, Upgrader } from '../src/upgrade.ts';
import type { DeployRecord } from '../src/deploy/journal.ts';

const LOAD = { clients: 10, pauseMs: 2, maxMs: 30_000, maxPerClient: 20_000 };

function clean(t: Test, r: LoadResult, what: string): void {
  t.same(r.errors, {}, `${what}: no request refused, reset or dropped`);
  t.same(r.statuses, {}, `${what}: every answer 2xx`);
  t.ok(r.ok > 200, `${what}: requests kept flowing (${r.ok} answered)`);
  t.equal(r.ok, r.total, `${what}: every request answered`);
}

async function upgradeUnderLoad(t: Test, extra: string[]) {
  const reap = reaper(t);
  const up = await startUpstream(t, 'app');
  const s = await setup(t, [up.url], extra);
  const pidFile = join(s.dir, 'baton.pid');
  const pidInFile = () => Number(readFileSync(pidFile, 'utf8'));
  const first = await serve(t, s, ['--pid-file', pidFile]);
  const pid0 = await servingPid(s);
  t.equal(pid0, first.child.pid, 'the admin API names the serving pid');
  t.equal(pidInFile(), pid0, 'so does the pid file');

  let finish!: () => void;
  const stop = new Promise<void>((r) => (finish = r));
  const running = load(s.port, stop, LOAD);
  await new Promise((r) => setTimeout(r, 1500));
  const run = await runCli(t, ['upgrade', '--config', s.config], {}, 60_000);
  t.equal(run.code, 0, `baton upgrade exits 0\n${run.stderr}`);
  const pid1 = await servingPid(s);
  reap(pid1);
  t.not(pid1, pid0, 'a new process answers');
  t.match(run.stdout, `pid ${pid0} → ${pid1}`, 'the CLI names both pids');
  t.equal(pidInFile(), pid1, 'the new baton rewrote the pid file');
  const exit = await first.exited;
  t.same(exit, { code: 0, signal: null }, 'the old baton exits 0');
  t.equal(pidInFile(), pid1, 'and the old one left it alone');

  // and once more, by SIGUSR2 to the new one (it upgrades the same way: its listeners were inherited)
  await new Promise((r) => setTimeout(r, 1000));
  process.kill(pid1, 'SIGUSR2');
  await waitFor(async () => (await servingPid(s).catch(() => pid1)) !== pid1, 30_000, 'the SIGUSR2 upgrade');
  const pid2 = await servingPid(s);
  reap(pid2);
  await waitFor(() => gone(pid1), 30_000, 'the second baton to exit');
  t.equal(pidInFile(), pid2, 'the pid file follows');
  await new Promise((r) => setTimeout(r, 1500));
  finish();
  const r = await running;
  clean(t, r, 'two hand-overs under load');
  t.comment(`${r.total} requests, ${r.ok} answered 2xx, through ${pid0} → ${pid1} → ${pid2}`);
  return { s, pid2, output: first.output };
}

/** The listening sockets on a port (ss): the same ones all along when they are handed over, never bound anew. */
function listeningSockets(port: number): number {
  const out = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim() !== '').length;
}

t.test('baton upgrade under load: no connection refused or reset, the old baton exits 0', async (t) => {
  const { s, output } = await upgradeUnderLoad(t, []);
  t.match(output(), /Upgrade: took over the listeners; serving/, 'the new baton says it took over');
  t.equal(listeningSockets(s.port), 1, 'one listening socket: the one the first baton bound');
});

t.test('a slow request in flight finishes on the old baton after the hand-over', async (t) => {
  const reap = reaper(t);
  const up = await startUpstream(t, 'slow', (req, res) => {
    const ms = Number(new URL(req.url!, 'http://x').searchParams.get('ms') ?? 0);
    setTimeout(() => res.end(`done after ${ms} ms by ${process.pid}`), ms);
  });
  const s = await setup(t, [up.url]);
  const first = await serve(t, s);
  const pid0 = await servingPid(s);
  const slowStarted = Date.now();
  const slow = http(s.port, { path: '/slow?ms=4000' }).then((r) => ({ ...r, at: Date.now() }));
  await waitFor(() => up.seen.length === 1, 10_000, 'the slow request to reach the upstream');
  const run = await runCli(t, ['upgrade', '--config', s.config], {}, 60_000);
  t.equal(run.code, 0, `baton upgrade exits 0\n${run.stderr}`);
  const pid1 = await servingPid(s);
  reap(pid1);
  t.not(pid1, pid0, 'the new baton answers the admin API');
  const quick = await http(s.port, { path: '/slow?ms=0' });
  t.equal(quick.status, 200, 'a new request is served (by the new baton) while the slow one is in flight');
  const done = await slow;
  t.equal(done.status, 200, 'the slow request completes');
  t.equal(done.body, `done after 4000 ms by ${process.pid}`, 'with its whole body');
  const exit = await first.exited;
  const exitedAt = Date.now();
  t.same(exit, { code: 0, signal: null }, 'the old baton exits 0');
  t.ok(exitedAt >= done.at - 50, 'only after its request in flight ended');
  t.ok(done.at - slowStarted >= 3900, 'the slow request was not cut short');
});

t.test('a new version that cannot start leaves the old one serving; two upgrades at once: 409', async (t) => {
  const reap = reaper(t);
  const up = await startUpstream(t, 'app');
  const s = await setup(t, [up.url]);
  const first = await serve(t, s);
  const pid0 = await servingPid(s);

  writeFileSync(s.config, 'entrypoints:\n  web: { address: 12 }\nservices: [oops\n');
  // the CLI cannot read the broken file either: it is told where the admin API is
  const flags = ['--admin-url', `http://127.0.0.1:${s.adminPort}`, '--token', s.token()];
  const bad = await runCli(t, ['upgrade', ...flags], {}, 60_000);
  t.equal(bad.code, 1, 'baton upgrade exits 1');
  t.match(bad.stderr, /the new baton did not start: .*invalid configuration/, `the reason is printed\n${bad.stderr}`);
  t.equal(await servingPid(s), pid0, 'the old baton still answers the admin API');
  const res = await http(s.port);
  t.equal(res.status, 200, 'and still proxies');
  t.equal(first.child.exitCode, null, 'and still runs');

  writeFileSync(s.config, configText(s.port, s.adminPort, [up.url]));
  const late = await fetch(`http://127.0.0.1:${s.adminPort}/api/upgrade`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.token()}`, 'content-type': 'application/json' },
    body: JSON.stringify({ timeout: '1ms' }),
  });
  t.equal(late.status, 500, 'a new baton not ready in time: the upgrade fails');
  t.match(await late.json(), { error: { code: 'BATON_UPGRADE_FAILED', message: /not ready within 1 ms/ } });
  t.equal(await servingPid(s), pid0, 'the old baton serves on');

  const bodyless = { method: 'POST', headers: { authorization: `Bearer ${s.token()}` } };
  const badBody = await fetch(`http://127.0.0.1:${s.adminPort}/api/upgrade`, { ...bodyless, body: '{"when":1}' });
  t.equal(badBody.status, 400, 'an unknown field: 400');

  const both = await Promise.all([
    fetch(`http://127.0.0.1:${s.adminPort}/api/upgrade`, bodyless),
    fetch(`http://127.0.0.1:${s.adminPort}/api/upgrade`, bodyless),
  ]);
  const statuses = both.map((r) => r.status).sort();
  t.same(statuses, [200, 409], 'one upgrade runs, the other is refused');
  const refused = await both.find((r) => r.status === 409)!.json();
  t.match(refused, { error: { code: 'BATON_CONFLICT', message: /already running/ } });
  const ok = (await both.find((r) => r.status === 200)!.json()) as { pid: number; previousPid: number };
  reap(ok.pid);
  t.equal(ok.previousPid, pid0);
  t.same(await first.exited, { code: 0, signal: null }, 'the old baton exits 0 after the good upgrade');
  t.equal(await servingPid(s), ok.pid, 'the new one answers');
});

t.test('workers: 2 — each worker thread hands its reusePort socket to the same worker of the new baton', async (t) => {
  const { s } = await upgradeUnderLoad(t, ['workers: 2']);
  const res = await fetch(`http://127.0.0.1:${s.adminPort}/api/workers`, {
    headers: { authorization: `Bearer ${s.token()}` },
  });
  const { workers } = (await res.json()) as { workers: unknown[] };
  t.equal(workers.length, 2, 'the new baton serves with two worker threads');
  t.equal(listeningSockets(s.port), 2, 'on the two reusePort sockets the first baton bound (none bound anew)');
});

t.test('pure: descriptors, inherited listeners, unused fds, running deploys', async (t) => {
  const l = {
    admin: 21,
    entrypoints: [
      { web: 22, websecure: 23 },
      { web: 30, websecure: 31 },
    ],
  };
  const d = childDescriptors(l);
  t.same(d.stdio, ['inherit', 'inherit', 'inherit', 'ipc', 21, 22, 23, 30, 31]);
  t.same(d.inherited, {
    admin: 4,
    entrypoints: [
      { web: 5, websecure: 6 },
      { web: 7, websecure: 8 },
    ],
  });
  t.same(childDescriptors({ admin: null, entrypoints: [{}] }).stdio.length, 4);

  t.equal(inheritedListeners({}), null, 'not an upgrade');
  t.same(inheritedListeners({ BATON_UPGRADE_LISTENERS: JSON.stringify(d.inherited) }), d.inherited);
  for (const bad of [
    '{"admin":1,"entrypoints":[]}',
    'not json',
    '{"admin":null,"entrypoints":[{"web":"5"}]}',
    '{"admin":4}',
  ]) {
    t.throws(() => inheritedListeners({ BATON_UPGRADE_LISTENERS: bad }), { code: 'BATON_UPGRADE_FAILED' }, bad);
  }

  const used = { admin: 4, entrypoints: [{ web: 5 }] };
  t.same(unusedFds(d.inherited, used), [6, 7, 8], 'a dropped entrypoint and a worker fewer');
  t.same(unusedFds(d.inherited, d.inherited), []);

  const rec = (id: string, state: DeployRecord['state']) => ({ id, service: 'app', state }) as DeployRecord;
  const all = ['pending', 'running', 'rolling_back', 'paused', 'succeeded', 'failed', 'rolled_back'] as const;
  const running = runningDeploys(all.map((s) => rec(s, s))).map((r) => r.id);
  t.same(running, ['pending', 'running', 'rolling_back'], 'paused deploys are left to the new baton');
});

t.test('the upgrader: a running deploy refuses it; a child that fails, exits or hangs is reported', async (t) => {
  const log = pino({ level: 'silent' });
  let retired = 0;
  const source = (deploys: DeployRecord[] = []) => ({
    listeners: () => ({ admin: null, entrypoints: [{}] }),
    deploys: () => deploys,
    stopAccepting: () => {},
    log,
  });
  const node = (code: string) => ({ file: process.execPath, args: ['-e', code] });

  const busy = new Upgrader({ retire: () => retired++, command: node('') });
  await t.rejects(busy.upgrade(), { code: 'BATON_CONFLICT', message: /starting or stopping/ }, 'before attach');
  const rec = { id: 'd1', service: 'web', state: 'running' } as DeployRecord;
  busy.attach(source([rec]));
  await t.rejects(busy.upgrade(), { code: 'BATON_CONFLICT', message: /a deploy is running \(d1 \(web, running\)\)/ });

  const failing = new Upgrader({
    retire: () => retired++,
    command: node("process.send({type:'failed',error:'boom'})"),
  });
  failing.attach(source());
  await t.rejects(failing.upgrade(), { code: 'BATON_UPGRADE_FAILED', message: 'the new baton did not start: boom' });
  t.equal(failing.upgrading, false, 'over: another may be tried');

  const exiting = new Upgrader({ retire: () => retired++, command: node('process.exit(3)') });
  exiting.attach(source());
  await t.rejects(exiting.upgrade(), { message: /it exited \(3\)/ });

  const ready = new Upgrader({
    retire: () => retired++,
    command: node("process.send({type:'ready',pid:process.pid})"),
  });
  ready.attach(source());
  const r = await ready.upgrade();
  t.equal(r.previousPid, process.pid);
  t.ok(r.pid > 0 && r.pid !== process.pid, 'the child pid');
  t.equal(retired, 0, 'nothing retired before the hand-over');
  ready.handOver();
  ready.handOver();
  t.equal(retired, 1, 'handOver retires once');

  const hanging = new Upgrader({ retire: () => retired++, command: node('setInterval(() => {}, 1000)') });
  hanging.attach(source());
  const pending = hanging.upgrade();
  await new Promise((r) => setTimeout(r, 300));
  hanging.close();
  await t.rejects(pending, { message: /this baton is stopping/ }, 'a stopping baton stops the new one');
  await t.rejects(hanging.upgrade(), { code: 'BATON_CONFLICT' }, 'and takes no other');
  t.equal(retired, 1);
});

t.test('workers: 2 → 3 under load: the third worker binds beside the handed-over sockets', async (t) => {
  const reap = reaper(t);
  const up = await startUpstream(t, 'app');
  const s = await setup(t, [up.url], ['workers: 2']);
  const first = await serve(t, s);
  let finish!: () => void;
  const running = load(s.port, new Promise<void>((r) => (finish = r)), LOAD);
  await new Promise((r) => setTimeout(r, 1000));
  writeFileSync(s.config, configText(s.port, s.adminPort, [up.url], ['workers: 3']));
  const run = await runCli(t, ['upgrade', '--config', s.config], {}, 60_000);
  t.equal(run.code, 0, `baton upgrade exits 0\n${run.stderr}`);
  reap(await servingPid(s));
  t.same(await first.exited, { code: 0, signal: null }, 'the old baton exits 0');
  await new Promise((r) => setTimeout(r, 1000));
  finish();
  const r = await running;
  t.same(r.errors, {}, 'no request refused or reset');
  t.same(r.statuses, {}, 'every answer 2xx');
  t.equal(r.ok, r.total, `every request answered (${r.ok})`);
  t.equal(listeningSockets(s.port), 3, 'the two handed-over sockets and the new one');
});
