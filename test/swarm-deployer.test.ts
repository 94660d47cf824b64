// The Swarm deployer's orchestration (src/deploy/swarm-deployer.ts, swarm-follow.ts) against a scripted Swarm
// manager (test/fixtures/fake-swarm.ts): what is posted to the engine, the record's steps and end state as Swarm's
// update goes — with baton's real App, registry, health checks and drains, each task a real server on 127.0.0.1.
// Bad requests, rollback, scale, resolve and restarts are in swarm-deployer-ops.test.ts; the same on a real swarm in
// swarm-stack.test.ts.
import t from 'tap';
import { deployBody, finished, setup, steps } from './fixtures/fake-swarm.ts';
import { http, waitFor } from './fixtures/harness.ts';

const S = 1e9; // ns

t.test('a deploy Swarm completes: one update at the read version, only the requested settings changed; every task followed', async (t) => {
  const update = { Parallelism: 1, Delay: 0.1 * S, Order: 'start-first', Monitor: 0.3 * S, FailureAction: 'rollback', MaxFailureRatio: 0 };
  const { swarm, deployer, svc, baton } = await setup(t, { replicas: 2, update });
  const version = svc.Version.Index;
  const old = swarm.running(svc).map((x) => x.ID);
  const resolved = (await deployer.resolve('shop_app'))!;
  const rec = await finished(deployer, await deployer.startDeploy(resolved, deployBody({ image: 'app:v2', parallelism: 2 })));
  t.equal(rec.state, 'succeeded', rec.error ?? '');

  t.equal(swarm.posts.length, 1, 'one update posted');
  const [post] = swarm.posts;
  t.equal(post.version, version, 'with the version the service was read at');
  t.equal(post.rollback, undefined);
  t.same(post.spec.TaskTemplate?.ContainerSpec, { Image: 'app:v2', Env: ['A=1'] }, 'the new image, the rest of the task as it was');
  t.same(post.spec.UpdateConfig, { ...update, Parallelism: 2 }, "the service's update_config, only parallelism replaced");
  t.same(post.spec.Mode, { Replicated: { Replicas: 2 } });
  t.same(rec.settings.swarm, { parallelism: 2, delay: 100, order: 'start-first', monitor: 300, failureAction: 'rollback', maxFailureRatio: 0 });

  const s = steps(rec);
  t.same(s.slice(0, 2), ['Swarm update (update_config) started', 'Swarm update (update_config) done']);
  const count = (x: string) => s.filter((y) => y === x).length;
  for (const step of ['task created done', 'task running (Swarm) done', 'health gate (baton) done', 'old task leaves rotation done', 'old task stopped done'])
    t.equal(count(step), 2, `${step} ×2`);
  t.same(s.slice(-2), ['monitor started', 'monitor done'], 'the monitor window last');
  t.equal(s.length, 14, 'nothing else');
  t.ok(s.lastIndexOf('task created done') < s.indexOf('task running (Swarm) done'), 'parallelism 2: both tasks created before either ran');
  const at = (action: string, task: string) => rec.steps.findIndex((x) => x.action === action && x.containers[0].endsWith(task));
  const fresh = rec.new.map((n) => n.id);
  t.equal(fresh.length, 2);
  for (const id of fresh) t.ok(at('task created', id) < at('task running (Swarm)', id) && at('task running (Swarm)', id) < at('health gate (baton)', id), 'created → running → healthy');
  const firstGate = Math.min(...fresh.map((id) => at('health gate (baton)', id)));
  // the provider takes an old task out once its slot has a replacement and another task of the service still
  // serves: the first may go as soon as its replacement exists, the last only once a new one passed the gate
  t.ok(firstGate < Math.max(...old.map((id) => at('old task leaves rotation', id))), 'the service never left without a ready task');
  for (const id of old) t.ok(at('old task leaves rotation', id) < at('old task stopped', id), 'an old task leaves rotation before it stops');
  for (const x of rec.steps.filter((x) => x.action === 'old task stopped')) t.match(x.detail, /shutdown; in flight when it stopped: here 0$/);
  t.same(rec.old.map((o) => o.id).sort(), [...old].sort());
  t.same(swarm.running(svc).map((x) => x.Spec?.ContainerSpec?.Image), ['app:v2', 'app:v2']);
  t.ok(swarm.running(svc).every((x) => baton.app.registry.upstreamOfContainer(x.ID)?.state === 'healthy'), 'routed, healthy');
  t.equal((await http(baton.port, { host: 'shop.test' })).body, 'app:v2', 'served by the new version');
});

t.test('the health gate fails, failure_action rollback: Swarm\'s rollback is posted and followed → rolled_back', async (t) => {
  const { swarm, deployer, svc } = await setup(t, { update: { Order: 'start-first', FailureAction: 'rollback' } });
  const old = swarm.running(svc)[0].ID;
  const rec = await finished(deployer, await deployer.startDeploy(svc, deployBody({ image: 'app:bad', healthTimeout: '1500ms' })));
  t.equal(rec.state, 'rolled_back');
  t.match(rec.error, /^new task shop_app\.1\.\S+ not healthy in baton within 1500 ms: unhealthy \(.*503/);
  t.same(swarm.posts.map((p) => [p.rollback ?? 'update', p.spec.TaskTemplate?.ContainerSpec?.Image]), [['update', 'app:bad'], ['previous', 'app:bad']], 'the update, then rollback=previous (current spec as body)');
  t.ok(swarm.posts[1].version > swarm.posts[0].version, 'at the version read again after the failure');
  t.ok(rec.steps.some((x) => x.action === 'health gate (baton)' && x.status === 'failed'));
  const s = steps(rec);
  t.ok(s.indexOf('health gate (baton) failed') < s.indexOf('Swarm rollback (rollback_config) started'));
  t.same(s.slice(s.indexOf('Swarm rollback (rollback_config) started')).filter((x) => x.startsWith('Swarm')), ['Swarm rollback (rollback_config) started', 'Swarm rollback (rollback_config) done', 'Swarm rolls back started', 'Swarm rolls back done']);
  await waitFor(() => swarm.running(svc).length === 1 && swarm.running(svc)[0].ID === old, 3000, 'the bad task shut down');
  t.same(svc.Spec.TaskTemplate?.ContainerSpec?.Image, `app:v1@sha256:${'a'.repeat(64)}`, 'the previous spec is back');
});

t.test('the health gate fails, failure_action continue: each failure noted, the deploy goes on until Swarm completes', async (t) => {
  const { swarm, deployer, svc } = await setup(t, { replicas: 2, update: { Order: 'start-first', Monitor: 0.2 * S, FailureAction: 'rollback' } });
  swarm.settleMs = 1500; // Swarm goes on by itself after its own wait, slot by slot (parallelism 1)
  const rec = await finished(deployer, await deployer.startDeploy(svc, deployBody({ image: 'app:bad', healthTimeout: '1s', failureAction: 'continue' })));
  t.equal(rec.state, 'succeeded', rec.error ?? '');
  t.equal(rec.error, undefined);
  t.equal(swarm.posts.length, 1, 'no rollback posted');
  const s = steps(rec);
  t.same(s.filter((x) => /^(health gate|failure ignored)/.test(x)), Array(2).fill(['health gate (baton) failed', 'failure ignored (failure_action: continue) done']).flat(), "each new task's gate failure noted once, then ignored");
  t.match(rec.steps.find((x) => x.action.startsWith('failure ignored'))!.detail, /not healthy in baton within 1000 ms/);
  t.equal(s.filter((x) => x === 'task created done').length, 2, 'each task recorded once');
  t.equal(rec.new.length, 2);
  t.equal(s.filter((x) => x === 'old task stopped done').length, 2, 'the old tasks followed to their end');
  t.equal(swarm.byName('shop_app').UpdateStatus?.State, 'completed');
});

t.test('the health gate fails, failure_action pause: failed, Swarm cannot be paused from outside; nothing posted', async (t) => {
  const { swarm, deployer, svc } = await setup(t, { update: { Order: 'start-first' } });
  const rec = await finished(deployer, await deployer.startDeploy(svc, deployBody({ image: 'app:bad', healthTimeout: '1s', failureAction: 'pause' })));
  t.equal(rec.state, 'failed');
  t.match(rec.error, /not healthy in baton within 1000 ms/);
  const pause = rec.steps.at(-1)!;
  t.same([pause.action, pause.status], ['pause', 'failed']);
  t.match(pause.detail, /not from outside/);
  t.equal(swarm.posts.length, 1, 'no rollback posted');
});

t.test('the HTTP monitor: 500s through baton to the new task (maxFailureRatio 0) → rollback posted → rolled_back', async (t) => {
  const { swarm, deployer, svc, baton } = await setup(t, { update: { Order: 'start-first', FailureAction: 'rollback' } });
  const rec = await deployer.startDeploy(svc, deployBody({ image: 'app:err', monitor: '10s', maxFailureRatio: 0 }));
  await waitFor(() => deployer.get(rec.id)!.steps.some((x) => x.action === 'health gate (baton)' && x.status === 'done'), 5000, 'the new task healthy');
  await waitFor(() => swarm.running(svc).length === 1, 3000, 'the old task gone');
  const replies = [];
  for (let i = 0; i < 3; i++) replies.push(await http(baton.port, { host: 'shop.test' }));
  t.same(replies.map((r) => [r.status, r.body]), Array(3).fill([500, 'app:err']), 'real requests through the entrypoint, answered by the new task');
  const done = await finished(deployer, rec);
  t.equal(done.state, 'rolled_back');
  t.match(done.error, /^HTTP monitor: 3 of 3 requests failed \(ratio 1\.000 > 0\)/);
  t.same(done.monitor, { requests: 3, failures: 3 });
  t.same(swarm.posts.map((p) => p.rollback ?? 'update'), ['update', 'previous']);
  t.ok(steps(done).indexOf('monitor failed') < steps(done).indexOf('Swarm rollback (rollback_config) started'));
  await waitFor(async () => (await http(baton.port, { host: 'shop.test' })).body.startsWith('app:v1'), 5000, 'the previous version serving again');
});

t.test('Swarm rolls back by itself → rolled_back; Swarm pauses → paused', async (t) => {
  const { swarm, deployer, svc } = await setup(t, { update: { Order: 'start-first' } });
  swarm.script = 'rollback';
  const rec = await finished(deployer, await deployer.startDeploy(svc, deployBody({ image: 'app:v2' })));
  t.equal(rec.state, 'rolled_back');
  t.match(rec.error, /^Swarm rolled the update back: rollback completed/);
  const s = steps(rec);
  t.ok(s.includes('Swarm rolls back started') && s.at(-1) === 'Swarm rolls back done', s.join(', '));
  t.equal(swarm.posts.length, 1, 'baton posted nothing more');

  swarm.script = 'pause';
  const fresh = (await deployer.resolve('shop_app'))!;
  const paused = await finished(deployer, await deployer.startDeploy(fresh, deployBody({ image: 'app:v2' })));
  t.equal(paused.state, 'paused');
  t.match(paused.error, /^Swarm paused the update: update paused due to failure/);
  t.ok(paused.finishedAt);
});
