// The Swarm deployer's requests around a deploy, against the scripted Swarm manager (test/fixtures/fake-swarm.ts):
// bad requests and conflicts that change nothing, `baton rollback`, scale, which Swarm service a name stands for,
// and a restarted deployer. The follow of an update itself is in swarm-deployer.test.ts.
import t from 'tap';
import { Deployments } from '../src/admin/deployments.ts';
import { swarmScaleRequestSchema } from '../src/deploy/swarm-plan.ts';
import { deployBody, finished, setup, steps, swarmDeployer } from './fixtures/fake-swarm.ts';
import { waitFor } from './fixtures/harness.ts';

const S = 1e9; // ns
const quick = { Order: 'start-first', Monitor: 0.1 * S };

t.test('bad requests change nothing: no update posted, no record made', async (t) => {
  const { swarm, deployer, svc } = await setup(t, { update: quick });
  await swarm.addService('shop_edge', { global: true, route: 'edge' });
  const deployments = new Deployments(null, deployer);
  await t.rejects(deployments.deploy('shop_app', { image: 'app:v2', strategy: 'blue-green' }), { statusCode: 400, message: /strategy: a Swarm service is updated rolling/ });
  await t.rejects(deployments.deploy('shop_app', { image: 'app:v2', surge: 1 }), { statusCode: 400, message: /surge/ });
  await t.rejects(deployments.deploy('shop_edge', { image: 'app:v2', replicas: 2 }), { statusCode: 400, message: /replicas: a global service/ });
  await t.rejects(deployments.deploy('shop_app', { image: 'app:v9' }), { statusCode: 400, message: /image app:v9 is not on this node .*"pull": true/ });
  svc.UpdateStatus = { State: 'updating', Message: 'update in progress' }; // someone's `docker service update`
  await t.rejects(deployments.deploy('shop_app', { image: 'app:v2' }), { statusCode: 409, message: /Swarm is already updating shop_app \(UpdateStatus updating\)/ });
  svc.UpdateStatus = { State: 'completed', Message: 'update completed' };
  t.same(swarm.posts, [], 'no update posted');
  t.same(deployer.list(), [], 'no record made');
});

t.test('conflicts: a second deploy while one runs, a stale version at update time (the lock is released after it)', async (t) => {
  const { swarm, deployer, svc } = await setup(t, { update: quick });
  swarm.script = 'hold';
  const first = await deployer.startDeploy(svc, deployBody({ image: 'app:v2' }));
  const again = (await deployer.resolve('shop_app'))!;
  await t.rejects(deployer.startDeploy(again, deployBody({ image: 'app:v0' })), { statusCode: 409, message: new RegExp(`already running \\(${first.id}\\)`) });
  await t.rejects(deployer.startRollback(again), { code: 'BATON_CONFLICT', statusCode: 409 });
  await t.rejects(deployer.startScale(again, swarmScaleRequestSchema.parse({ replicas: 2 })), { code: 'BATON_CONFLICT', statusCode: 409 });
  t.equal(swarm.posts.length, 1, 'only the first update posted');
  await waitFor(() => swarm.running(svc).every((x) => x.Spec?.ContainerSpec?.Image === 'app:v2'), 5000, 'the first batch');
  swarm.complete(svc);
  t.equal((await finished(deployer, first)).state, 'succeeded');

  swarm.script = 'complete';
  const stale = (await deployer.resolve('shop_app'))!;
  swarm.bump(svc); // a `docker service update` in between
  await t.rejects(deployer.startDeploy(stale, deployBody({ image: 'app:v0' })), { statusCode: 409, code: 'BATON_CONFLICT', message: /changed meanwhile.*update out of sequence/ });
  t.equal(swarm.refused, 1, 'the engine refused it');
  t.equal(swarm.posts.length, 1, 'nothing changed');
  const failed = deployer.list().find((r) => r.id !== first.id)!;
  t.equal(failed.state, 'failed');
  t.match(failed.error, /update out of sequence/);
  t.same(steps(failed), ['Swarm update (update_config) started', 'Swarm update (update_config) failed']);
  const fresh = (await deployer.resolve('shop_app'))!;
  const next = await finished(deployer, await deployer.startDeploy(fresh, deployBody({ image: 'app:v0' })));
  t.equal(next.state, 'succeeded', 'the lock was released');
  t.equal(swarm.posts.at(-1)!.version, fresh.Version.Index, 'posted at the version read again');
});

t.test('baton rollback: 409 without a previous spec; with one, rollback=previous posted and followed to healthy tasks', async (t) => {
  const { swarm, deployer, svc, baton } = await setup(t, { replicas: 2, update: quick });
  await t.rejects(deployer.startRollback(svc), { statusCode: 409, message: /no previous spec/ });
  await swarm.addService('shop_old', { route: 'old', replicas: 2, previous: 'app:v0', rollback: { Parallelism: 0, Order: 'start-first' } });
  const old = swarm.byName('shop_old');
  const version = old.Version.Index;
  const rec = await finished(deployer, await deployer.startRollback((await deployer.resolve('shop_old'))!));
  t.equal(rec.state, 'succeeded', rec.error ?? '');
  t.same(swarm.posts.map((p) => [p.service, p.version, p.rollback, p.spec.TaskTemplate?.ContainerSpec?.Image]), [['shop_old', version, 'previous', `app:v1@sha256:${'a'.repeat(64)}`]], 'the current spec with rollback=previous, nothing else');
  t.equal(rec.kind, 'rollback');
  t.equal(rec.image, 'app:v0', 'the previous image, without its digest');
  t.same(rec.settings.swarm, { parallelism: 0, delay: 0, order: 'start-first', monitor: 5000, failureAction: 'pause', maxFailureRatio: 0 }, "the service's rollback_config");
  const s = steps(rec);
  t.equal(s.filter((x) => x === 'health gate (baton) done').length, 2, 'the restored tasks passed the health gate');
  t.equal(s.filter((x) => x === 'old task stopped done').length, 2);
  t.ok(s.includes('Swarm rolls back done'), 'Swarm\'s rollback recorded, the record done only once its tasks are healthy');
  t.equal(old.UpdateStatus?.State, 'rollback_completed');
  t.same(swarm.running(old).map((x) => x.Spec?.ContainerSpec?.Image), [`app:v0@sha256:${'a'.repeat(64)}`, `app:v0@sha256:${'a'.repeat(64)}`]);
  t.ok(swarm.running(old).every((x) => baton.app.registry.upstreamOfContainer(x.ID)?.state === 'healthy'));
  t.equal(swarm.posts.filter((p) => p.service === 'shop_app').length, 0, 'the other service untouched');
});

t.test('scale: Replicas in the posted spec, done when that many tasks run healthy; a global service is a 400', async (t) => {
  const { swarm, deployer, svc, baton } = await setup(t, { update: quick });
  const up = await finished(deployer, await deployer.startScale(svc, swarmScaleRequestSchema.parse({ replicas: 3, healthTimeout: '5s' })));
  t.equal(up.state, 'succeeded', up.error ?? '');
  t.equal(swarm.posts.length, 1);
  t.same(swarm.posts[0].spec.Mode, { Replicated: { Replicas: 3 } });
  t.same(swarm.posts[0].spec.TaskTemplate, svc.PreviousSpec!.TaskTemplate, 'nothing else changed');
  t.equal(steps(up).filter((x) => x === 'health gate (baton) done').length, 2, 'the two new tasks gated');
  t.equal(swarm.running(svc).length, 3);
  t.ok(swarm.running(svc).every((x) => baton.app.registry.upstreamOfContainer(x.ID)?.state === 'healthy'), 'all three healthy in baton');

  const down = await finished(deployer, await deployer.startScale((await deployer.resolve('shop_app'))!, swarmScaleRequestSchema.parse({ replicas: 1 })));
  t.equal(down.state, 'succeeded', down.error ?? '');
  t.equal(steps(down).filter((x) => x === 'old task stopped done').length, 2, 'two tasks stopped, at in-flight 0');
  t.equal(swarm.running(svc).length, 1);

  await swarm.addService('shop_edge', { global: true, route: 'edge' });
  await t.rejects(deployer.startScale((await deployer.resolve('shop_edge'))!, swarmScaleRequestSchema.parse({ replicas: 2 })), { statusCode: 400, message: /global service/ });
  t.equal(swarm.posts.length, 2, 'nothing posted for it');
});

t.test('resolve: a Swarm service by its exact name, or by the baton service its tasks are routed as', async (t) => {
  const { swarm, deployer, svc } = await setup(t, { route: 'shop' });
  await swarm.addService('shop_app2', { route: 'shop2' });
  await swarm.addService('api_app2', { route: 'api' });
  t.equal((await deployer.resolve('shop_app'))?.ID, svc.ID, 'shop_app, not shop_app2 (the engine\'s filter is a prefix)');
  t.equal(await deployer.resolve('api_app'), null, 'a prefix of a service name is no service');
  t.equal((await deployer.resolve('shop'))?.ID, svc.ID, 'baton service shop → its tasks → shop_app');
  t.equal((await deployer.resolve('api'))?.ID, swarm.byName('api_app2').ID);
  t.equal(await deployer.resolve('nothing'), null, 'neither: not a Swarm service (the container deployer\'s)');
  await swarm.addService('shop_web', { route: 'shop' });
  await waitFor(() => deployer.resolve('shop').then(() => false, () => true), 3000, 'shop routed to two services');
  await t.rejects(deployer.resolve('shop'), { statusCode: 409, message: /baton service shop is routed to 2 Swarm services/ });
  t.equal((await deployer.resolve('shop_web'))?.Spec.Name, 'shop_web', 'each by its Swarm name');
  await t.rejects(new Deployments(null, deployer).deploy('shop', { image: 'app:v2' }), { code: 'BATON_CONFLICT', statusCode: 409 });
  t.same(swarm.posts, []);
});

t.test('a restarted deployer marks a deploy it no longer follows failed; Swarm is left alone', async (t) => {
  const { swarm, deployer, svc, baton } = await setup(t, { update: quick });
  swarm.script = 'hold';
  const rec = await deployer.startDeploy(svc, deployBody({ image: 'app:v2' }));
  await waitFor(() => deployer.get(rec.id)!.steps.some((x) => x.action === 'health gate (baton)'), 5000, 'the deploy under way');
  const restarted = swarmDeployer(t, baton, swarm);
  const seen = restarted.get(rec.id)!;
  t.equal(seen.state, 'failed');
  t.match(seen.error, /baton restarted in state running and stopped following; Swarm's update went on by itself/);
  t.ok(seen.finishedAt);
  t.same(restarted.list('shop_app').map((r) => r.id), [rec.id]);
  t.equal(swarm.posts.length, 1, 'nothing posted by the restarted one');
  const again = (await restarted.resolve('shop_app'))!;
  await t.rejects(restarted.startDeploy(again, deployBody({ image: 'app:v0' })), { statusCode: 409, message: /Swarm is already updating shop_app/ }, 'Swarm still updating: a new deploy waits for it');
});

t.test('an engine in no swarm (or not a manager, 503): every name is a container service; other engine errors surface', async (t) => {
  const { baton, swarm } = await setup(t, { update: quick });
  const fail = (statusCode: number) => {
    swarm.docker.listServices = async () => {
      throw Object.assign(new Error('This node is not a swarm manager.'), { statusCode });
    };
  };
  fail(503);
  const deployer = swarmDeployer(t, baton, swarm);
  t.equal(await deployer.resolve('shop_app'), null, '503: not a Swarm service');
  // the container deployer is off here: the deploy is answered as a container one would be
  await t.rejects(new Deployments(null, deployer).deploy('shop_app', { image: 'app:v2' }), { code: 'BATON_DOCKER_DISABLED' });
  fail(500);
  await t.rejects(deployer.resolve('shop_app'), { statusCode: 500, message: /not a swarm manager/ }, 'any other failure is not taken for "no such service"');
});
