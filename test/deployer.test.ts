// The deploy orchestration against an in-memory engine (test/fixtures/fake-engine.ts): batches, order, the health
// gate, the monitor window, rollback and the lock — with baton's real registry, health checks and drains. The
// same behaviour on a real Docker engine is in docker-deploy.test.ts.
import { getEventListeners } from 'node:events';
import pino from 'pino';
import t, { type Test } from 'tap';
import { Deployer } from '../src/deploy/deployer.ts';
import { Journal, TERMINAL_STATES, type DeployRecord } from '../src/deploy/journal.ts';
import { deployRequestSchema, scaleRequestSchema } from '../src/deploy/plan.ts';
import { ConflictError } from '../src/errors.ts';
import { FakeEngine } from './fixtures/fake-engine.ts';
import { tempDir } from './fixtures/harness.ts';

const IMAGES = {
  'app:v1': { healthy: true },
  'app:v2': { healthy: true },
  'app:bad': { healthy: false },
  'app:dies': { healthy: false, exitAfterMs: 30 },
  'app:crashy': { healthy: true, exitAfterMs: 250 },
};

async function setup(t: Test, replicas = 3) {
  const engine = new FakeEngine(IMAGES);
  const deployer = new Deployer({
    engine,
    registry: engine.registry,
    journal: new Journal(tempDir(t)),
    events: engine.events,
    log: pino({ level: 'silent' }),
  });
  t.teardown(async () => {
    await deployer.close();
    await engine.close();
  });
  const old = await engine.seed('app', 'app:v1', replicas);
  await waitHealthy(engine, old.map((c) => c.id));
  return { engine, deployer, old };
}

async function waitHealthy(engine: FakeEngine, ids: string[]): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!ids.every((id) => engine.registry.upstreamOfContainer(id)?.state === 'healthy')) {
    if (Date.now() > deadline) throw new Error('seeded containers never became healthy');
    await engine.registry.changed(50);
  }
}

/** Waits for the record to reach a terminal state (or paused). */
async function finished(deployer: Deployer, rec: DeployRecord): Promise<DeployRecord> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = deployer.get(rec.id)!;
    if (TERMINAL_STATES.has(r.state) || r.state === 'paused') return r;
    if (Date.now() > deadline) throw new Error(`deploy still ${r.state}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function deploy(deployer: Deployer, body: Record<string, unknown>) {
  return deployer.startDeploy('app', deployRequestSchema.parse({ monitor: 0, healthTimeout: '5s', ...body }));
}

/** ops with generated names reduced to their kind: `create new`, `stop app-1`, ... */
const shape = (ops: string[]) => ops.map((o) => o.replace(/ app-g\d+-[0-9a-f]{6}$/, ' new'));

type Case = { name: string; body: Record<string, unknown>; ops: string[] };
const plans: Case[] = [
  {
    name: 'rolling, start-first, parallelism 1: start one, gate it, retire one, three times',
    body: { image: 'app:v2' },
    ops: ['create new', 'start new', 'stop app-3', 'create new', 'start new', 'stop app-2', 'create new', 'start new', 'stop app-1'],
  },
  {
    name: 'rolling, parallelism 2: batches of two, then one',
    body: { image: 'app:v2', parallelism: 2 },
    ops: ['create new', 'create new', 'start new', 'start new', 'stop app-3', 'stop app-2', 'create new', 'start new', 'stop app-1'],
  },
  {
    name: 'rolling, stop-first: retire one before its replacement starts',
    body: { image: 'app:v2', order: 'stop-first' },
    ops: ['stop app-3', 'create new', 'start new', 'stop app-2', 'create new', 'start new', 'stop app-1', 'create new', 'start new'],
  },
  {
    name: 'blue-green: every new one started and healthy before the old ones are stopped',
    body: { image: 'app:v2', strategy: 'blue-green' },
    ops: ['create new', 'create new', 'create new', 'start new', 'start new', 'start new', 'stop app-3', 'stop app-2', 'stop app-1'],
  },
  {
    name: 'replicas 1 from 3: one new container, every old one retired in the one batch',
    body: { image: 'app:v2', replicas: 1, parallelism: 0 },
    ops: ['create new', 'start new', 'stop app-3', 'stop app-2', 'stop app-1'],
  },
];

for (const c of plans) {
  t.test(c.name, async (t) => {
    const { engine, deployer } = await setup(t);
    const rec = await finished(deployer, await deploy(deployer, c.body));
    t.equal(rec.state, 'succeeded', rec.error ?? 'succeeded');
    t.same(shape(engine.ops).sort(), [...c.ops].sort(), 'the same operations');
    // within each kind of operation the order is the plan's; across kinds, start-first vs stop-first as listed
    const kinds = (ops: string[]) => ops.map((o) => o.split(' ')[0]);
    t.same(kinds(shape(engine.ops)), kinds(c.ops), 'in the planned order');
    t.same(engine.stops.map((s) => s.state === 'healthy'), engine.stops.map(() => false), 'never stopped while in rotation');
    t.same(engine.stops.map((s) => s.inflight), engine.stops.map(() => 0), 'stopped only at in-flight 0');
    const running = engine.running('app');
    t.ok(running.every((r) => r.image === 'app:v2'), 'only the new version runs');
    t.ok(running.every((r) => engine.registry.upstreamOfContainer(r.id)?.state === 'healthy'), 'and it is routed, healthy');
    const kept = [...engine.containers.values()].filter((x) => !x.running);
    t.equal(kept.length, 3, 'the previous generation is kept stopped for a rollback');
  });
}

t.test('health gate timeout: the deploy fails, the old version keeps serving, nothing of it was stopped', async (t) => {
  const { engine, deployer, old } = await setup(t);
  const rec = await finished(deployer, await deploy(deployer, { image: 'app:bad', healthTimeout: '300ms' }));
  t.equal(rec.state, 'failed');
  t.match(rec.error, /not healthy within 300 ms/);
  t.same(shape(engine.ops), ['create new', 'start new', 'stop new', 'remove new'], 'only the new container was stopped and removed');
  t.ok(old.every((c) => engine.registry.upstreamOfContainer(c.id)?.state === 'healthy'), 'routing unchanged');
  t.equal(engine.containers.size, 3, 'no new container left behind');
});

t.test('a new container that exits before it is healthy fails the gate at once', async (t) => {
  const { deployer } = await setup(t);
  const started = Date.now();
  const rec = await finished(deployer, await deploy(deployer, { image: 'app:dies', healthTimeout: '10s' }));
  t.equal(rec.state, 'failed');
  t.match(rec.error, /exited with code 1 before becoming healthy/);
  t.ok(Date.now() - started < 5_000, 'long before the health timeout');
});

t.test('monitor failure (a new container exits): rolled back to the old containers', async (t) => {
  const { engine, deployer, old } = await setup(t);
  const rec = await finished(deployer, await deploy(deployer, { image: 'app:crashy', parallelism: 0, monitor: '3s' }));
  t.equal(rec.state, 'rolled_back');
  t.match(rec.error, /during the monitor window, app-g1-[0-9a-f]+ (exited with code 1|is unhealthy|was removed)/);
  await waitHealthy(engine, old.map((c) => c.id));
  t.same(engine.running('app').map((c) => c.name).sort(), ['app-1', 'app-2', 'app-3'], 'the old containers run again');
  t.ok([...engine.containers.values()].every((c) => c.image === 'app:v1'), 'the new ones are removed');
});

t.test('blue-green monitor failure switches straight back: the old containers were never stopped', async (t) => {
  const { engine, deployer, old } = await setup(t);
  const rec = await finished(deployer, await deploy(deployer, { image: 'app:crashy', strategy: 'blue-green', monitor: '3s' }));
  t.equal(rec.state, 'rolled_back');
  t.notOk(engine.ops.some((o) => /^stop app-\d$/.test(o)), 'no old container was stopped');
  t.ok(rec.steps.some((s) => s.action === 'switch back' && s.status === 'done'));
  t.ok(old.every((c) => engine.registry.upstreamOfContainer(c.id)?.state === 'healthy'), 'old back in rotation');
});

t.test('failureAction pause stops where it is; continue carries on', async (t) => {
  const paused = await setup(t);
  const p = await finished(paused.deployer, await deploy(paused.deployer, { image: 'app:crashy', failureAction: 'pause', monitor: '3s' }));
  t.equal(p.state, 'paused');
  t.notOk(paused.engine.ops.some((o) => o.startsWith('remove')), 'nothing undone');

  const cont = await setup(t, 1);
  const c = await finished(cont.deployer, await deploy(cont.deployer, { image: 'app:crashy', failureAction: 'continue', monitor: '3s' }));
  t.equal(c.state, 'succeeded');
  t.ok(c.steps.some((s) => s.action === 'monitor failure ignored (failureAction: continue)'));
});

t.test('rollback starts the kept generation, gates it, then retires the current one', async (t) => {
  const { engine, deployer } = await setup(t, 2);
  t.equal((await finished(deployer, await deploy(deployer, { image: 'app:v2' }))).state, 'succeeded');
  engine.ops.length = 0;
  const rb = await finished(deployer, await deployer.startRollback('app'));
  t.equal(rb.state, 'succeeded', rb.error ?? '');
  t.same(shape(engine.ops).sort(), ['start app-1', 'start app-2', 'stop new', 'stop new'], 'only starts and stops, no new container');
  t.same(engine.running('app').map((c) => c.image), ['app:v1', 'app:v1']);
  const firstStop = engine.ops.findIndex((o) => o.startsWith('stop'));
  t.ok(engine.ops.slice(0, firstStop).every((o) => o.startsWith('start')), 'previous started before current stopped');
  const again = await finished(deployer, await deployer.startRollback('app'));
  t.equal(again.state, 'succeeded', 'rolling back again returns to the generation just rolled back from');
  t.same(engine.running('app').map((c) => c.image), ['app:v2', 'app:v2']);
});

t.test('the lock: a second deploy, rollback or scale of a service while one runs is a 409', async (t) => {
  const { deployer } = await setup(t);
  const first = await deploy(deployer, { image: 'app:v2', monitor: '1s' });
  await t.rejects(deploy(deployer, { image: 'app:v2' }), ConflictError);
  await t.rejects(deploy(deployer, { image: 'app:v2' }), { statusCode: 409, message: new RegExp(first.id) });
  await t.rejects(deployer.startRollback('app'), { code: 'BATON_CONFLICT', statusCode: 409 });
  await t.rejects(deployer.startScale('app', scaleRequestSchema.parse({ replicas: 5 })), { code: 'BATON_CONFLICT', statusCode: 409 });
  t.equal((await finished(deployer, first)).state, 'succeeded');
  const scale = await finished(deployer, await deployer.startScale('app', scaleRequestSchema.parse({ replicas: 1 })));
  t.equal(scale.state, 'succeeded', 'free again once it finished');
});

t.test('a deploy leaves the deployer signal and the registry as it found them (no listener left behind)', async (t) => {
  const { engine, deployer } = await setup(t, 2);
  const before = getEventListeners(deployer.signal, 'abort').length;
  // a health gate that waits ~2 s and a 1 s monitor window: hundreds of waits on the same signal
  const rec = await finished(deployer, await deploy(deployer, { image: 'app:v2', monitor: '1s', delay: '200ms' }));
  t.equal(rec.state, 'succeeded');
  const bad = await finished(deployer, await deploy(deployer, { image: 'app:bad', healthTimeout: '1500ms' }));
  t.equal(bad.state, 'failed');
  t.equal(getEventListeners(deployer.signal, 'abort').length, before, 'abort listeners unchanged');
  t.equal(engine.events.listeners, 0, 'no event subscription left');
});

t.test('close() ends a running deploy promptly; its waits end with it', async (t) => {
  const { deployer } = await setup(t);
  const rec = await deploy(deployer, { image: 'app:bad', healthTimeout: '60s' });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = Date.now();
  await deployer.close();
  t.ok(Date.now() - started < 3_000, `closed in ${Date.now() - started} ms`);
  t.match(deployer.get(rec.id)!.error, /shutting down/);
});

t.test('bad requests change nothing: unknown service 404, missing image 400', async (t) => {
  const { engine, deployer } = await setup(t);
  await t.rejects(deployer.startDeploy('nope', deployRequestSchema.parse({ image: 'app:v2' })), { code: 'BATON_NOT_FOUND', statusCode: 404 });
  await t.rejects(deploy(deployer, { image: 'app:v9' }), { statusCode: 400, message: /not present/ });
  t.same(engine.ops, [], 'no container touched');
  t.same(deployer.list(), [], 'no record made');
});

t.test('live progress: each batch, the health gate deadline, the drain in-flight, the monitor counts; then null', async (t) => {
  const { engine, deployer } = await setup(t, 2);
  const events: any[] = [];
  const off = engine.events.subscribe((type, data) => {
    if (type === 'deploy') events.push(structuredClone(data));
  });
  t.teardown(off);
  const started = Date.now();
  const rec = await finished(deployer, await deploy(deployer, { image: 'app:v2', monitor: '600ms' }));
  t.equal(rec.state, 'succeeded', rec.error ?? 'succeeded');
  const lives = events.map((e) => e.live).filter((l) => l !== null);
  t.same([...new Set(lives.map((l) => l.batch && `${l.batch.n}/${l.batch.of}`))].filter(Boolean), ['1/2', '2/2']);
  const gate = lives.find((l) => l.phase === 'health gate' && l.deadline !== null);
  t.ok(gate, 'the health gate says when it gives up');
  const deadline = Date.parse(gate.deadline);
  t.ok(deadline >= started + 5000 - 50 && deadline <= Date.now() + 5000, 'healthTimeout from the gate start');
  const drain = lives.find((l) => /drain/.test(l.phase) && typeof l.inflight === 'number');
  t.ok(drain, 'the drain says how many requests are still in flight');
  t.equal(drain.inflight, 0, 'nothing in flight here');
  const monitor = lives.find((l) => l.phase === 'monitor' && l.requests !== null);
  t.ok(monitor, 'the monitor window publishes its counts');
  t.same([monitor.requests, monitor.failures, monitor.maxFailureRatio !== null], [0, 0, true]);
  t.equal(events.at(-1).state, 'succeeded');
  t.equal(events.at(-1).live, null, 'no live progress once it ended');
  t.same(rec.traffic, { requests: 0, failures: 0 }, 'the traffic seen during the deploy is recorded');
  t.ok(events.at(-1).finishedAt, 'the last event says when it ended');
});
