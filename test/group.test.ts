// Group deploys (src/deploy/group.ts) against the in-memory engine: one lock over every service, one record
// linking the services' records, one rollback when a service fails, and a group a restart interrupted. The same on a
// real Docker engine with docker-compose is in compose.test.ts.
import pino from 'pino';
import t, { type Test } from 'tap';
import { Deployer } from '../src/deploy/deployer.ts';
import { deployedServices, groupDeployRequestSchema } from '../src/deploy/group.ts';
import { Journal, TERMINAL_STATES, type DeployRecord } from '../src/deploy/journal.ts';
import { deployRequestSchema, scaleRequestSchema } from '../src/deploy/plan.ts';
import { FakeEngine } from './fixtures/fake-engine.ts';
import { tempDir } from './fixtures/harness.ts';

const IMAGES = {
  'app:v1': { healthy: true },
  'app:v2': { healthy: true },
  'app:bad': { healthy: false },
};

async function setup(t: Test, dir = tempDir(t)) {
  const engine = new FakeEngine(IMAGES);
  const journal = new Journal(dir);
  const deployer = new Deployer({ engine, registry: engine.registry, journal, events: engine.events, log: pino({ level: 'silent' }) });
  t.teardown(async () => {
    await deployer.close();
    await engine.close();
  });
  const seeded = [...(await engine.seed('web', 'app:v1', 2)), ...(await engine.seed('worker', 'app:v1', 1))];
  const deadline = Date.now() + 5_000;
  while (!seeded.every((c) => engine.registry.upstreamOfContainer(c.id)?.state === 'healthy')) {
    if (Date.now() > deadline) throw new Error('seeded containers never became healthy');
    await engine.registry.changed(50);
  }
  return { engine, deployer, journal };
}

async function finished(deployer: Deployer, rec: DeployRecord): Promise<DeployRecord> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = deployer.get(rec.id)!;
    if (TERMINAL_STATES.has(r.state)) return r;
    if (Date.now() > deadline) throw new Error(`group still ${r.state}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const group = (services: Array<{ name: string; image: string }>) =>
  groupDeployRequestSchema.parse({ monitor: 0, healthTimeout: '2s', services });

const images = (engine: FakeEngine, service: string) => engine.running(service).map((c) => c.image).sort();

t.test('two services, one lock, both deployed', async (t) => {
  const { engine, deployer } = await setup(t);
  const rec = await deployer.groups.start(group([{ name: 'web', image: 'app:v2' }, { name: 'worker', image: 'app:v2' }]));
  t.equal(rec.kind, 'group');
  t.equal(rec.service, 'web,worker');
  await t.rejects(deployer.startDeploy('worker', deployRequestSchema.parse({ image: 'app:v2' })), { statusCode: 409, message: new RegExp(rec.id) }, 'a deploy of the second service meanwhile: 409');
  await t.rejects(deployer.startScale('web', scaleRequestSchema.parse({ replicas: 3 })), { statusCode: 409, message: /already running/ }, 'a scale of the first: 409');
  await t.rejects(deployer.groups.start(group([{ name: 'worker', image: 'app:v2' }])), { statusCode: 409, message: /already running/ }, 'another group: 409');
  const end = await finished(deployer, rec);
  t.equal(end.state, 'succeeded');
  t.same(images(engine, 'web'), ['app:v2', 'app:v2']);
  t.same(images(engine, 'worker'), ['app:v2']);
  t.same(end.members!.map((id) => [deployer.get(id)!.service, deployer.get(id)!.group]), [['web', rec.id], ['worker', rec.id]], 'members linked both ways');
  t.ok(end.steps.some((s) => s.action === 'worker: health gate' && s.status === 'done'), "members' steps mirrored");
  t.same(deployer.list().filter((r) => r.group === rec.id).length, 2, 'the members are listed too');
  const after = await deployer.startDeploy('worker', deployRequestSchema.parse({ image: 'app:v1', monitor: 0 }));
  t.ok(after.id, 'the locks are released at the end');
});

t.test('the second service fails: both go back', async (t) => {
  const { engine, deployer } = await setup(t);
  const rec = await deployer.groups.start(group([{ name: 'web', image: 'app:v2' }, { name: 'worker', image: 'app:bad' }]));
  const end = await finished(deployer, rec);
  t.equal(end.state, 'rolled_back', end.error ?? '');
  t.match(end.error, /^worker: /);
  t.same(end.members!.map((id) => [deployer.get(id)!.service, deployer.get(id)!.kind, deployer.get(id)!.state]), [
    ['web', 'deploy', 'succeeded'], ['worker', 'deploy', 'failed'], ['web', 'rollback', 'succeeded'],
  ]);
  t.same(images(engine, 'web'), ['app:v1', 'app:v1'], 'web back on v1');
  t.same(images(engine, 'worker'), ['app:v1'], 'worker still on v1');
});

t.test('refused before anything changes', async (t) => {
  const { engine, deployer } = await setup(t);
  await t.rejects(deployer.groups.start(group([{ name: 'web', image: 'app:v2' }, { name: 'nope', image: 'app:v2' }])), { statusCode: 404, message: /nope/ });
  await t.rejects(deployer.groups.start(group([{ name: 'web', image: 'app:v2' }, { name: 'worker', image: 'app:v9' }])), { statusCode: 400, message: /app:v9/ });
  await t.rejects(deployer.groups.start(group([{ name: 'web', image: 'app:v2' }, { name: 'web', image: 'app:v2' }])), { statusCode: 400, message: /more than once/ });
  t.same(engine.ops, [], 'no container touched');
  t.same(deployer.list(), [], 'no record');
});

t.test('a group a restart interrupted: the services it had deployed are rolled back', async (t) => {
  const dir = tempDir(t);
  const { engine, deployer, journal } = await setup(t, dir);
  const first = await finished(deployer, await deployer.groups.start(group([{ name: 'web', image: 'app:v2' }])));
  t.equal(first.state, 'succeeded');
  t.same(images(engine, 'web'), ['app:v2', 'app:v2']);
  await deployer.close();
  // as if baton died after web's deploy, before the group ended (the next service not started yet)
  journal.write({ ...journal.read(first.id)!, state: 'running', finishedAt: undefined });
  const restarted = new Deployer({ engine, registry: engine.registry, journal, events: engine.events, log: pino({ level: 'silent' }) });
  t.teardown(() => restarted.close());
  t.equal(restarted.get(first.id)!.state, 'failed', 'the group ends failed at once');
  await restarted.recover();
  const rec = restarted.get(first.id)!;
  t.equal(rec.state, 'rolled_back', rec.error ?? '');
  t.match(rec.error, /baton restarted/);
  t.same(images(engine, 'web'), ['app:v1', 'app:v1'], 'web back on v1');
  const kinds = rec.members!.map((id) => [restarted.get(id)!.kind, restarted.get(id)!.state]);
  t.same(kinds, [['deploy', 'succeeded'], ['rollback', 'succeeded']]);
  const next = await restarted.groups.start(group([{ name: 'web', image: 'app:v2' }]));
  t.ok(next.id, 'its services are not locked');
});

t.test('deployedServices: each service by its last member', async (t) => {
  const r = (id: string, service: string, kind: DeployRecord['kind'], state: DeployRecord['state']) => ({ id, service, kind, state }) as DeployRecord;
  const all = new Map([r('1', 'web', 'deploy', 'succeeded'), r('2', 'worker', 'deploy', 'succeeded'), r('3', 'db', 'deploy', 'failed'), r('4', 'worker', 'rollback', 'succeeded')].map((m) => [m.id, m]));
  const g = { members: ['1', '2', '3', '4', 'gone'] } as DeployRecord;
  t.same(deployedServices(g, (id) => all.get(id)), ['web']);
});
