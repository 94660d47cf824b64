// Deploy hooks (src/deploy/hooks.ts, hook-run.ts) through the deployer and the in-memory engine: each stage's
// success and failure, command hooks (env, output, timeout killing the process group) and module hooks (ctx, log,
// signal), hooks from labels, the config schema, and examples/plugins/deploy-smoke.ts.
import { getEventListeners } from 'node:events';
import { readFileSync, writeFileSync, existsSync, utimesSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import pino from 'pino';
import t, { type Test } from 'tap';
import { deployHooksSchema, DEFAULT_HOOK_TIMEOUT_MS } from '../src/config/hooks-schema.ts';
import { formatZodError } from '../src/config/load.ts';
import { Deployer } from '../src/deploy/deployer.ts';
import { OutputTail } from '../src/deploy/hook-run.ts';
import { hookSettingsOf, hooksFromLabels, resolveHooks, type HookContext, type HookSettings } from '../src/deploy/hooks.ts';
import { Journal, TERMINAL_STATES, type DeployRecord, type DeployStep } from '../src/deploy/journal.ts';
import { deployRequestSchema } from '../src/deploy/plan.ts';
import { DeployFailure, HookFailedError } from '../src/errors.ts';
import smoke from '../examples/plugins/deploy-smoke.ts';
import { FakeEngine } from './fixtures/fake-engine.ts';
import { tempDir } from './fixtures/harness.ts';

const EXAMPLE = join(import.meta.dirname, '..', 'examples', 'plugins', 'deploy-smoke.ts');

const IMAGES = {
  'app:v1': { healthy: true },
  'app:v2': { healthy: true },
  'app:crashy': { healthy: true, exitAfterMs: 250 },
  'app:web': { healthy: true, httpStatus: 200 },
  'app:web503': { healthy: true, httpStatus: 503 },
};

async function setup(t: Test, hooks: unknown, opts: { replicas?: number; labels?: Record<string, string> } = {}) {
  const dir = tempDir(t);
  const engine = new FakeEngine(IMAGES);
  const settings: HookSettings = { global: deployHooksSchema.parse(hooks), baseDir: dir };
  const deployer = new Deployer({
    engine,
    registry: engine.registry,
    journal: new Journal(dir),
    events: engine.events,
    log: pino({ level: 'silent' }),
    hooks: settings,
  });
  t.teardown(async () => {
    await deployer.close();
    await engine.close();
  });
  const old = await engine.seed('app', 'app:v1', opts.replicas ?? 2);
  for (const c of old) Object.assign(c.labels, opts.labels ?? {});
  const deadline = Date.now() + 5_000;
  while (!old.every((c) => engine.registry.upstreamOfContainer(c.id)?.state === 'healthy')) {
    if (Date.now() > deadline) throw new Error('seeded containers never became healthy');
    await engine.registry.changed(50);
  }
  return { engine, deployer, old, dir };
}

async function finished(deployer: Deployer, rec: DeployRecord): Promise<DeployRecord> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = deployer.get(rec.id)!;
    if (TERMINAL_STATES.has(r.state) || r.state === 'paused') return r;
    if (Date.now() > deadline) throw new Error(`deploy still ${r.state}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function deploy(deployer: Deployer, body: Record<string, unknown>): Promise<DeployRecord> {
  const req = deployRequestSchema.parse({ monitor: 0, healthTimeout: '5s', image: 'app:v2', ...body });
  return finished(deployer, await deployer.startDeploy('app', req));
}

const hookSteps = (rec: DeployRecord, stage: string): DeployStep[] =>
  rec.steps.filter((s) => s.action === `hook ${stage}` && s.status !== 'started');
const shape = (ops: string[]) => ops.map((o) => o.replace(/ app-g\d+-[0-9a-f]{6}$/, ' new'));
const sh = (script: string, timeout?: string) => ({ command: ['sh', '-c', script], ...(timeout ? { timeout } : {}) });
/** a command hook appending its BATON_* environment to `file`, one block per run */
const dumpEnv = (file: string) => sh(`env | grep ^BATON_ | sort >> '${file}'; echo ---- >> '${file}'`);
function envBlocks(file: string): Array<Record<string, string>> {
  return readFileSync(file, 'utf8')
    .split('----\n')
    .filter((b) => b !== '')
    .map((b) => Object.fromEntries(b.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])));
}
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

// ── pure parts ──────────────────────────────────────────────────────────────────────────────────

t.test('hooksFromLabels: commands run with sh -c, timeouts, any case, empty disables, mistakes reported', async (t) => {
  const ok = hooksFromLabels({
    'baton.hooks.preDeploy': 'echo hi',
    'baton.hooks.postswitch': 'curl -fsS $BATON_NEW_URLS',
    'baton.hooks.postSwitch.timeout': '30s',
    'baton.hooks.preStop': '',
    'baton.enable': 'true',
  });
  t.same(ok.problems, []);
  t.same(ok.hooks, {
    preDeploy: [{ command: ['sh', '-c', 'echo hi'], timeout: DEFAULT_HOOK_TIMEOUT_MS }],
    postSwitch: [{ command: ['sh', '-c', 'curl -fsS $BATON_NEW_URLS'], timeout: 30_000 }],
    preStop: [],
  });
  const bad = hooksFromLabels({
    'baton.hooks.postDeploy': 'x',
    'baton.hooks.preDeploy.retries': '3',
    'baton.hooks.preStop': 'x',
    'baton.hooks.preStop.timeout': 'soon',
    'baton.hooks.postHealthy.timeout': '5s',
    'baton.hooks.predeploy': 'a',
    'baton.hooks.PREDEPLOY': 'b',
  });
  t.equal(bad.problems.length, 5, bad.problems.join('\n'));
  t.match(bad.problems.join('\n'), /postDeploy: not a hook label/);
  t.match(bad.problems.join('\n'), /preDeploy\.retries: not a hook label/);
  t.match(bad.problems.join('\n'), /preStop\.timeout: invalid duration "soon"/);
  t.match(bad.problems.join('\n'), /postHealthy\.timeout: there is no baton\.hooks\.postHealthy/);
  t.match(bad.problems.join('\n'), /PREDEPLOY: the command of preDeploy is given twice/);
});

t.test('resolveHooks: per stage labels, else the service, else global; [] disables; modules from baseDir', async (t) => {
  const global = deployHooksSchema.parse({
    preDeploy: [{ module: './hooks/a.ts' }],
    postHealthy: ['x'].map(() => ({ command: 'echo global' })),
    preStop: [{ command: ['true'] }],
  });
  const own = deployHooksSchema.parse({ postHealthy: [{ command: ['echo', 'own'], timeout: '5s' }], preStop: [] });
  const settings: HookSettings = { global, service: (s) => (s === 'app' ? own : undefined), baseDir: '/etc/baton' };
  const r = resolveHooks(settings, 'app', { 'baton.hooks.postSwitch': 'echo label' });
  t.same(r.problems, []);
  t.match(r.stages.preDeploy, [{ module: '/etc/baton/hooks/a.ts', source: 'global', name: './hooks/a.ts' }]);
  t.match(r.stages.postHealthy, [{ command: ['echo', 'own'], timeout: 5_000, source: 'service' }]);
  t.match(r.stages.postSwitch, [{ command: ['sh', '-c', 'echo label'], source: 'label' }]);
  t.same(r.stages.preStop, [], 'the service disabled the global preStop hook');
  const other = resolveHooks(settings, 'other', { 'baton.hooks.preDeploy': '' });
  t.same(other.stages.preDeploy, [], 'an empty label disables the stage');
  t.match(other.stages.postHealthy, [{ command: ['sh', '-c', 'echo global'], source: 'global' }]);
  t.same(resolveHooks(undefined, 'app', {}).stages, { preDeploy: [], postHealthy: [], postSwitch: [], preStop: [] });

  const fromConfig = hookSettingsOf({ file: '/srv/baton/baton.yaml', deploy: { hooks: global }, services: { app: { hooks: own } } });
  t.equal(fromConfig.baseDir, '/srv/baton');
  t.equal(fromConfig.service!('app'), own);
  t.equal(fromConfig.service!('toString'), undefined, 'no prototype lookups');
});

t.test('deployHooksSchema: module or command (argv, or a string for sh -c), timeout 60s by default', async (t) => {
  t.same(deployHooksSchema.parse({ postHealthy: [{ module: './s.ts' }, { command: 'curl -f x', timeout: '2s' }] }), {
    postHealthy: [
      { module: './s.ts', timeout: 60_000 },
      { command: ['sh', '-c', 'curl -f x'], timeout: 2_000 },
    ],
  });
  const problems = (v: unknown) => {
    const r = deployHooksSchema.safeParse(v);
    return r.success ? [] : formatZodError(r.error);
  };
  t.match(problems({ preDeploy: [{ module: 'a.ts', command: ['b'] }] }), [/preDeploy\.0: .*exactly one/]);
  t.match(problems({ preDeploy: [{}] }), [/exactly one/]);
  t.match(problems({ preDeploy: [{ command: [] }] }), [/preDeploy\.0\.command/]);
  t.match(problems({ preDeploy: [{ command: '' }] }), [/preDeploy\.0\.command/]);
  t.match(problems({ preDeploy: [{ command: ['x'], timeout: '0s' }] }), [/timeout: invalid duration/]);
  t.match(problems({ postdeploy: [] }), [/postdeploy: unknown key/]);
  t.match(problems({ preStop: [{ command: ['x'], retries: 2 }] }), [/preStop\.0\.retries: unknown key/]);
});

t.test('HookFailedError: coded, and a DeployFailure (so failureAction applies)', async (t) => {
  const err = new HookFailedError('x', 'postSwitch');
  t.match(err, { code: 'BATON_HOOK_FAILED', stage: 'postSwitch', name: 'HookFailedError' });
  t.ok(err instanceof DeployFailure);
});

t.test('OutputTail keeps the last bytes, marks the cut, never starts mid-character', async (t) => {
  const tail = new OutputTail(10);
  tail.push('hello ');
  t.equal(tail.text(), 'hello');
  tail.push('wörld, and more\n');
  t.equal(tail.text(), '…and more');
  const utf = new OutputTail(5);
  utf.push(Buffer.from('ééé')); // 6 bytes: the cut falls inside the first é
  t.equal(utf.text(), '…éé');
});

// ── preDeploy ───────────────────────────────────────────────────────────────────────────────────

t.test('preDeploy: runs before anything changes, with the deploy in its env; its output is in the step', async (t) => {
  const envFile = join(tempDir(t), 'env');
  const saved = process.env.BATON_ADMIN_TOKEN;
  process.env.BATON_ADMIN_TOKEN = 'secret-secret-secret';
  t.teardown(() => (saved === undefined ? delete process.env.BATON_ADMIN_TOKEN : (process.env.BATON_ADMIN_TOKEN = saved)));
  const { engine, deployer, old } = await setup(t, { preDeploy: [dumpEnv(envFile), sh('echo checked; sleep 0.1; echo warn >&2')] });
  const urls = old.map((c) => engine.registry.upstreamOfContainer(c.id)!.url);
  const rec = await deploy(deployer, {});
  t.equal(rec.state, 'succeeded', rec.error ?? '');
  const [env] = envBlocks(envFile);
  t.match(env, {
    BATON_SERVICE: 'app',
    BATON_IMAGE: 'app:v2',
    BATON_DEPLOY_ID: rec.id,
    BATON_STAGE: 'preDeploy',
    BATON_NEW_URLS: '',
    BATON_NEW_CONTAINERS: '',
  });
  t.same(env.BATON_OLD_URLS.split(' ').sort(), urls.sort());
  t.same(env.BATON_OLD_CONTAINERS.split(' ').sort(), ['app-1', 'app-2']);
  t.notOk('BATON_ADMIN_TOKEN' in env, 'the admin token is not handed to hooks');
  const steps = hookSteps(rec, 'preDeploy');
  t.equal(steps.length, 2);
  t.match(steps[1], { status: 'done', containers: ['app-1', 'app-2'], detail: /exit code 0 in \d+ ms\n {6}\| checked\n {6}\| warn$/ });
  const loadAt = rec.steps.findIndex((s) => s.action === 'load hooks' && s.status === 'done');
  const createAt = rec.steps.findIndex((s) => s.action === 'create');
  t.ok(loadAt >= 0 && loadAt < rec.steps.findIndex((s) => s.action === 'hook preDeploy'), 'hooks loaded first');
  t.ok(rec.steps.findLastIndex((s) => s.action === 'hook preDeploy') < createAt, 'preDeploy before any container');
});

t.test('preDeploy failure: the deploy fails with nothing changed, whatever the failureAction', async (t) => {
  for (const failureAction of ['rollback', 'pause']) {
    const { engine, deployer } = await setup(t, { preDeploy: [sh('echo not today >&2; exit 3')] });
    const rec = await deploy(deployer, { failureAction });
    t.equal(rec.state, 'failed');
    t.match(rec.error, /^preDeploy hook sh -c echo not today >&2; exit 3 failed: exit code 3 in \d+ ms \(not today\)$/);
    t.same(engine.ops, [], 'no container touched');
    t.match(hookSteps(rec, 'preDeploy'), [{ status: 'failed', detail: /exit code 3.*\n {6}\| not today/ }]);
  }
});

t.test('a timed-out command has its whole process group killed, even what ignores SIGTERM', async (t) => {
  const dir = tempDir(t);
  const pids = join(dir, 'pids');
  const script = `trap '' TERM; sleep 30 & echo $! >> '${pids}'; (trap '' TERM; sleep 30) & echo $! >> '${pids}'; wait`;
  const { engine, deployer } = await setup(t, { preDeploy: [sh(script, '300ms')] });
  const started = Date.now();
  const rec = await deploy(deployer, {});
  t.equal(rec.state, 'failed');
  t.match(rec.error, /timed out after 300 ms \(process group killed\)/);
  t.ok(Date.now() - started < 6_000, `ended in ${Date.now() - started} ms`);
  const list = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
  t.equal(list.length, 2);
  const deadline = Date.now() + 3_000;
  while (list.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.same(list.filter(alive), [], 'nothing of the hook is left running');
  t.same(engine.ops, []);
});

t.test("a command's output is bounded: the last 4 KiB, stdout and stderr together", async (t) => {
  const script = `head -c 10000 /dev/zero | tr '\\0' x; echo; sleep 0.1; echo on-stderr >&2; sleep 0.1; echo END`;
  const { deployer } = await setup(t, { preDeploy: [sh(script)] });
  const rec = await deploy(deployer, {});
  const [step] = hookSteps(rec, 'preDeploy');
  const output = step.detail!.slice(step.detail!.indexOf('\n'));
  t.ok(output.length < 4_200, `${output.length} characters kept`);
  t.match(output, /^\n {6}\| …x+\n {6}\| on-stderr\n {6}\| END$/);
});

t.test('close() stops a running hook at once', async (t) => {
  const { deployer } = await setup(t, { preDeploy: [sh('sleep 30')] });
  const req = deployRequestSchema.parse({ image: 'app:v2' });
  const rec = await deployer.startDeploy('app', req);
  await new Promise((r) => setTimeout(r, 300));
  const started = Date.now();
  await deployer.close();
  t.ok(Date.now() - started < 3_000, `closed in ${Date.now() - started} ms`);
  t.match(deployer.get(rec.id)!.error, /^preDeploy hook sh -c sleep 30 failed: stopped: baton is shutting down$/);
});

// ── postHealthy ─────────────────────────────────────────────────────────────────────────────────

t.test('postHealthy: per batch, the new containers healthy and routed, before any old one is retired', async (t) => {
  const envFile = join(tempDir(t), 'env');
  const { engine, deployer } = await setup(t, { postHealthy: [dumpEnv(envFile)] });
  const rec = await deploy(deployer, {});
  t.equal(rec.state, 'succeeded', rec.error ?? '');
  const blocks = envBlocks(envFile);
  t.equal(blocks.length, 2, 'once per batch');
  const stops = rec.steps.filter((s) => s.action === 'retire old: stop' && s.status === 'done');
  for (const [i, env] of blocks.entries()) {
    t.equal(env.BATON_STAGE, 'postHealthy');
    t.match(env.BATON_NEW_CONTAINERS, /^app-g1-[0-9a-f]{6}$/, 'the batch’s new container');
    t.match(env.BATON_NEW_URLS, /^http:\/\/127\.0\.0\.1:\d+$/);
    t.equal(env.BATON_OLD_CONTAINERS, stops[i].containers[0], 'and the old one the batch retires');
    t.ok(env.BATON_OLD_URLS !== '', 'still routed: not retired yet');
  }
  const hookAt = rec.steps.findIndex((s) => s.action === 'hook postHealthy');
  t.ok(hookAt > rec.steps.findIndex((s) => s.action === 'health gate' && s.status === 'done'));
  t.ok(hookAt < rec.steps.findIndex((s) => s.action === 'retire old: drain'));
  t.equal(engine.running('app').length, 2);
});

t.test('postHealthy failure: as a failed health gate, the new containers go and the old version keeps serving', async (t) => {
  const { engine, deployer, old } = await setup(t, { postHealthy: [sh('echo smoke failed; exit 1')] });
  const rec = await deploy(deployer, { strategy: 'blue-green' });
  t.equal(rec.state, 'failed');
  t.match(rec.error, /postHealthy hook .* failed: exit code 1 .*\(smoke failed\)/);
  t.same(shape(engine.ops), ['create new', 'create new', 'start new', 'start new', 'stop new', 'stop new', 'remove new', 'remove new']);
  t.ok(old.every((c) => engine.registry.upstreamOfContainer(c.id)?.state === 'healthy'), 'routing unchanged');
  t.equal(engine.containers.size, 2, 'no new container left');
});

t.test('examples/plugins/deploy-smoke.ts as a postHealthy hook: 2xx passes, anything else fails the deploy', async (t) => {
  const good = await setup(t, { postHealthy: [{ module: EXAMPLE, timeout: '5s' }] });
  const ok = await deploy(good.deployer, { image: 'app:web' });
  t.equal(ok.state, 'succeeded', ok.error ?? '');
  t.match(hookSteps(ok, 'postHealthy')[0].detail, /done in \d+ ms\n {6}\| app-g1-\w+: GET http:\/\/127\.0\.0\.1:\d+\/health → 200/);

  for (const image of ['app:web503', 'app:v2']) {
    const bad = await setup(t, { postHealthy: [{ module: EXAMPLE, timeout: '5s' }] });
    const rec = await deploy(bad.deployer, { image });
    t.equal(rec.state, 'failed', `${image}: failed`);
    t.match(rec.error, image === 'app:web503' ? /→ 503/ : /GET http:\S+\/health failed/);
    t.same(bad.engine.running('app').map((c) => c.name).sort(), ['app-1', 'app-2'], 'the old version serves');
    t.ok(bad.old.every((c) => bad.engine.registry.upstreamOfContainer(c.id)?.state === 'healthy'));
  }
});

t.test('examples/plugins/deploy-smoke.ts on its own: GETs each new container, fails on non-2xx', async (t) => {
  const statuses = [204, 500];
  const servers = await Promise.all(
    statuses.map(async (status) => {
      const seen: string[] = [];
      const s = createServer((req, res) => {
        seen.push(req.url!);
        res.writeHead(status).end();
      });
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      t.teardown(() => s.close());
      return { url: `http://127.0.0.1:${(s.address() as { port: number }).port}`, seen };
    }),
  );
  const lines: string[] = [];
  const ctx = (urls: Array<string | null>): HookContext => ({
    service: 'app',
    image: 'app:v2',
    deployId: 'd-1',
    stage: 'postHealthy',
    newContainers: urls.map((url, i) => ({ id: `c${i}`, name: `n${i}`, url })),
    oldContainers: [],
    log: { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) },
    signal: new AbortController().signal,
  });
  await smoke(ctx([servers[0].url]));
  t.same(servers[0].seen, ['/health']);
  t.match(lines, [/n0: GET .*\/health → 204/]);
  await t.rejects(smoke(ctx([servers[0].url, servers[1].url])), /smoke test failed: n1: GET .* → 500$/);
  await t.rejects(smoke(ctx([null])), /n0: not routed/);
});

// ── postSwitch ──────────────────────────────────────────────────────────────────────────────────

t.test('postSwitch: after the switch, alongside the monitor window', async (t) => {
  const envFile = join(tempDir(t), 'env');
  const { deployer } = await setup(t, { postSwitch: [sh(`sleep 0.3; ${dumpEnv(envFile).command[2]}`)] }, { replicas: 1 });
  const rec = await deploy(deployer, { monitor: '1s' });
  t.equal(rec.state, 'succeeded', rec.error ?? '');
  const [env] = envBlocks(envFile);
  t.equal(env.BATON_STAGE, 'postSwitch');
  t.match(env.BATON_NEW_CONTAINERS, /^app-g1-\w+$/);
  t.equal(env.BATON_OLD_CONTAINERS, 'app-1');
  t.equal(env.BATON_OLD_URLS, '', 'the old one is out of rotation');
  const at = (action: string, status: string) => rec.steps.findIndex((s) => s.action === action && s.status === status);
  // the switch: the old one out of rotation with nothing in flight (its stop goes on alongside)
  t.ok(at('retire old: drain', 'done') < at('hook postSwitch', 'started'), 'after the switch');
  t.ok(at('monitor', 'started') < at('hook postSwitch', 'done'), 'the monitor window runs meanwhile');
  t.ok(at('hook postSwitch', 'done') < at('monitor', 'done'), 'and goes on after it');
});

t.test('postSwitch failure is a monitor failure: rollback, pause or continue, and it ends the window', async (t) => {
  const failing = { postSwitch: [sh('echo bad; exit 2')] };
  const rb = await setup(t, failing);
  const started = Date.now();
  const rec = await deploy(rb.deployer, { monitor: '10s' });
  t.equal(rec.state, 'rolled_back');
  t.ok(Date.now() - started < 6_000, `the 10 s window ended early (${Date.now() - started} ms)`);
  t.match(rec.error, /postSwitch hook .* exit code 2/);
  t.match(rec.steps.find((s) => s.action === 'monitor' && s.status === 'failed'), { detail: /ended early: postSwitch hook/ });
  t.same(rb.engine.running('app').map((c) => c.image), ['app:v1', 'app:v1'], 'the old version runs again');

  const paused = await setup(t, failing);
  t.equal((await deploy(paused.deployer, { failureAction: 'pause' })).state, 'paused');
  t.notOk(paused.engine.ops.some((o) => o.startsWith('remove')), 'nothing undone');

  const cont = await setup(t, failing);
  const c = await deploy(cont.deployer, { failureAction: 'continue' });
  t.equal(c.state, 'succeeded');
  t.equal(c.steps.filter((s) => s.action === 'monitor failure ignored (failureAction: continue)').length, 2);
});

t.test('a monitor failure stops a running postSwitch hook', async (t) => {
  const { engine, deployer } = await setup(t, { postSwitch: [sh('sleep 30')] }, { replicas: 1 });
  const started = Date.now();
  const rec = await deploy(deployer, { image: 'app:crashy', monitor: '3s' });
  t.equal(rec.state, 'rolled_back');
  t.match(rec.error, /during the monitor window/);
  t.ok(Date.now() - started < 6_000, `without waiting for the hook (${Date.now() - started} ms)`);
  t.match(hookSteps(rec, 'postSwitch'), [{ status: 'failed', detail: /stopped: during the monitor window/ }]);
  t.same(engine.running('app').map((c) => c.name), ['app-1']);
});

// ── preStop ─────────────────────────────────────────────────────────────────────────────────────

t.test('preStop: before each old container is drained; a failure is recorded and the deploy goes on', async (t) => {
  const envFile = join(tempDir(t), 'env');
  const { engine, deployer } = await setup(t, { preStop: [dumpEnv(envFile), sh('echo cannot deregister; exit 1')] });
  const rec = await deploy(deployer, {});
  t.equal(rec.state, 'succeeded', rec.error ?? '');
  t.equal(rec.error, undefined);
  const blocks = envBlocks(envFile);
  const stops = rec.steps.filter((s) => s.action === 'retire old: drain' && s.status === 'started');
  t.same(blocks.map((b) => b.BATON_OLD_CONTAINERS), stops.map((s) => s.containers.join(' ')), 'one run per old one');
  t.same(blocks.map((b) => b.BATON_OLD_CONTAINERS).sort(), ['app-1', 'app-2']);
  t.ok(blocks.every((b) => /^http:\/\/127\.0\.0\.1:\d+$/.test(b.BATON_OLD_URLS)), 'still routed when it runs');
  t.same(blocks.map((b) => b.BATON_NEW_CONTAINERS.split(' ').length), [1, 2], "the deploy's running new ones");
  t.match(hookSteps(rec, 'preStop').filter((s) => s.status === 'failed'), [{ detail: /cannot deregister/ }, {}]);
  t.ok(engine.running('app').every((c) => c.image === 'app:v2'));

  const bg = await setup(t, { preStop: [dumpEnv(join(tempDir(t), 'bg'))] });
  const g = await deploy(bg.deployer, { strategy: 'blue-green' });
  t.equal(g.state, 'succeeded');
  const stop = g.steps.filter((s) => s.action === 'hook preStop' && s.status === 'done');
  t.equal(stop.length, 1, 'blue-green: once, before the switch');
  t.same(stop[0].containers.sort(), ['app-1', 'app-2']);
  t.ok(g.steps.indexOf(stop[0]) < g.steps.findIndex((s) => s.action === 'switch: drain old'));
});

t.test('stop-first: preStop before the old one goes, postHealthy after its replacement is healthy', async (t) => {
  const { deployer } = await setup(t, { preStop: [sh('true')], postHealthy: [sh('true')] }, { replicas: 1 });
  const rec = await deploy(deployer, { order: 'stop-first' });
  t.equal(rec.state, 'succeeded');
  const order = rec.steps.filter((s) => s.status === 'done').map((s) => s.action);
  t.same(
    order.filter((a) => ['hook preStop', 'retire old: stop', 'health gate', 'hook postHealthy'].includes(a)),
    ['hook preStop', 'retire old: stop', 'health gate', 'hook postHealthy'],
  );
});

// ── module hooks ────────────────────────────────────────────────────────────────────────────────

t.test('module hooks: ctx with the deploy and its containers, ctx.log in the step, imported once', async (t) => {
  const dir = tempDir(t);
  const seenFile = join(dir, 'seen.json');
  const counter = join(dir, 'imports');
  writeFileSync(
    join(dir, 'hook.ts'),
    `import { appendFileSync } from 'node:fs';
appendFileSync(${JSON.stringify(counter)}, 'x');
export default async function (ctx: { stage: string; log: { info(m: string): void }; [k: string]: unknown }) {
  const { log, signal, ...rest } = ctx;
  appendFileSync(${JSON.stringify(seenFile)}, JSON.stringify({ ...rest, aborted: (signal as AbortSignal).aborted }) + '\\n');
  log.info('hello from ' + ctx.stage);
}
`,
  );
  const hooks = { preDeploy: [{ module: join(dir, 'hook.ts') }], postHealthy: [{ module: join(dir, 'hook.ts') }] };
  const { engine, deployer } = await setup(t, hooks, { replicas: 1 });
  const rec = await deploy(deployer, {});
  t.equal(rec.state, 'succeeded', rec.error ?? '');
  const seen = readFileSync(seenFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const fresh = engine.running('app')[0];
  t.match(seen, [
    { service: 'app', image: 'app:v2', deployId: rec.id, stage: 'preDeploy', newContainers: [], aborted: false },
    {
      stage: 'postHealthy',
      newContainers: [{ id: fresh.id, name: fresh.name, url: `http://127.0.0.1:${fresh.port}` }],
      oldContainers: [{ name: 'app-1', url: /^http:\/\/127\.0\.0\.1:\d+$/ }],
    },
  ]);
  t.match(hookSteps(rec, 'preDeploy')[0].detail, /hook\.ts: done in \d+ ms\n {6}\| hello from preDeploy$/);
  t.equal(readFileSync(counter, 'utf8'), 'x', 'imported once for both stages');
  await deploy(deployer, {});
  t.equal(readFileSync(counter, 'utf8'), 'x', 'the next deploy reuses it while the file is unchanged');
  utimesSync(join(dir, 'hook.ts'), new Date(), new Date(Date.now() + 5_000));
  await deploy(deployer, {});
  t.equal(readFileSync(counter, 'utf8'), 'xx', 'and imports it again once it changed');
});

t.test('module hooks: a throw fails, the timeout aborts ctx.signal, a bad module fails before anything changes', async (t) => {
  const dir = tempDir(t);
  const write = (name: string, body: string) => {
    writeFileSync(join(dir, name), body);
    return join(dir, name);
  };
  const thrower = write('throw.ts', `export default async (ctx: any) => { ctx.log.warn('about to fail'); throw new Error('boom'); };`);
  const slow = write(
    'slow.ts',
    `export default (ctx: any) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));`,
  );
  const noDefault = write('nodefault.ts', `export const hook = () => {};`);

  const a = await setup(t, { postHealthy: [{ module: thrower }] });
  const ra = await deploy(a.deployer, {});
  t.equal(ra.state, 'failed');
  t.match(ra.error, /postHealthy hook .*throw\.ts failed: threw: boom \(warn: about to fail\)/);
  t.same(shape(a.engine.ops), ['create new', 'start new', 'stop new', 'remove new']);

  const b = await setup(t, { preDeploy: [{ module: slow, timeout: '200ms' }] });
  const rb = await deploy(b.deployer, {});
  t.match(rb.error, /preDeploy hook .*slow\.ts failed: timed out after 200 ms \(its signal aborted\)/);

  for (const module of [noDefault, join(dir, 'missing.ts')]) {
    const c = await setup(t, { postSwitch: [{ module }] });
    const rc = await deploy(c.deployer, {});
    t.equal(rc.state, 'failed');
    t.match(rc.error, /^deploy hooks could not be loaded: hook module /);
    t.match(rc.error, module === noDefault ? /default export is not a function/ : /missing\.ts/);
    t.same(c.engine.ops, [], 'nothing changed');
    t.match(rc.steps, [{ action: 'load hooks', status: 'started' }, { action: 'load hooks', status: 'failed' }]);
  }
});

// ── labels ──────────────────────────────────────────────────────────────────────────────────────

t.test('label hooks replace the global hooks of their stage; a bad hook label fails the deploy untouched', async (t) => {
  const dir = tempDir(t);
  const globalRan = join(dir, 'global');
  const labels = { 'baton.hooks.preDeploy': 'echo from the label: $BATON_STAGE', 'baton.hooks.preDeploy.timeout': '5s' };
  const { deployer } = await setup(t, { preDeploy: [sh(`touch '${globalRan}'`)], postHealthy: [sh('echo global')] }, { labels });
  const rec = await deploy(deployer, {});
  t.equal(rec.state, 'succeeded', rec.error ?? '');
  t.match(hookSteps(rec, 'preDeploy'), [{ detail: /\| from the label: preDeploy$/ }]);
  t.notOk(existsSync(globalRan), 'the global preDeploy hook did not run');
  t.match(hookSteps(rec, 'postHealthy'), [{ detail: /\| global$/ }, { detail: /\| global$/ }], 'other stages stay');

  const bad = await setup(t, {}, { labels: { 'baton.hooks.preDeploy.timeout': 'later', 'baton.hooks.afterDeploy': 'x' } });
  const rb = await deploy(bad.deployer, {});
  t.equal(rb.state, 'failed');
  t.match(rb.error, /invalid duration "later".*afterDeploy: not a hook label|afterDeploy: not a hook label.*"later"/);
  t.same(bad.engine.ops, []);
});

// ── hygiene ─────────────────────────────────────────────────────────────────────────────────────

t.test('no hooks: no hook steps; with hooks, no listener is left on the deployer signal', async (t) => {
  const none = await setup(t, {});
  const rn = await deploy(none.deployer, {});
  t.notOk(rn.steps.some((s) => s.action.includes('hook')), 'no hook step at all');

  const { deployer } = await setup(t, { postHealthy: [sh('true')], postSwitch: [sh('sleep 0.2')], preStop: [sh('true')] });
  const before = getEventListeners(deployer.signal, 'abort').length;
  t.equal((await deploy(deployer, { monitor: '500ms' })).state, 'succeeded');
  t.equal((await deploy(deployer, { image: 'app:crashy', monitor: '2s' })).state, 'rolled_back');
  t.equal(getEventListeners(deployer.signal, 'abort').length, before, 'abort listeners unchanged');
});
