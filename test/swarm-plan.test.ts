// The pure parts of a Swarm service's deploy (src/deploy/swarm-plan.ts): the request, the settings and UpdateConfig
// Swarm is given (the service's own unless the request says otherwise), the new spec, UpdateStatus → phase.
import t from 'tap';
import {
  deploySpec,
  phaseOf,
  scaleSpec,
  settingsFor,
  swarmDeployRequestSchema,
  updateConfigFor,
  withoutDigest,
  type SwarmSpec,
} from '../src/deploy/swarm-plan.ts';

const SERVICE_UPDATE = { Parallelism: 2, Delay: 10_000_000_000, FailureAction: 'rollback', Monitor: 5_000_000_000, MaxFailureRatio: 0, Order: 'start-first' } as const;

t.test('settings: the service\'s update_config in ms, the request\'s fields over it, Swarm\'s defaults for what neither sets', async (t) => {
  t.same(settingsFor(SERVICE_UPDATE, {}), { parallelism: 2, delay: 10_000, order: 'start-first', monitor: 5_000, failureAction: 'rollback', maxFailureRatio: 0 });
  t.same(settingsFor(SERVICE_UPDATE, { parallelism: 1, delay: 0, order: 'stop-first' }), { parallelism: 1, delay: 0, order: 'stop-first', monitor: 5_000, failureAction: 'rollback', maxFailureRatio: 0 });
  // `docker service create` with no update settings: parallelism 1, no delay, pause, 5 s monitor, stop-first
  t.same(settingsFor(undefined, {}), { parallelism: 1, delay: 0, order: 'stop-first', monitor: 5_000, failureAction: 'pause', maxFailureRatio: 0 });
  t.same(settingsFor({ Parallelism: 0 }, {}).parallelism, 0, 'parallelism 0 (all at once) is kept');
});

t.test('UpdateConfig: only what the request sets is replaced, in nanoseconds', async (t) => {
  t.same(updateConfigFor(SERVICE_UPDATE, {}), SERVICE_UPDATE, 'nothing given: the service\'s own, unchanged');
  t.same(updateConfigFor(SERVICE_UPDATE, { delay: 2_000, monitor: 1_500, failureAction: 'continue' }), { ...SERVICE_UPDATE, Delay: 2_000_000_000, Monitor: 1_500_000_000, FailureAction: 'continue' });
  t.same(updateConfigFor(undefined, { parallelism: 3 }), { Parallelism: 3 }, 'no update_config: only the given field (Swarm keeps its defaults)');
});

t.test('the new spec: the image, replicas and UpdateConfig changed, everything else as it was; the input untouched', async (t) => {
  const spec: SwarmSpec = {
    Name: 'shop_app',
    Labels: { 'traefik.enable': 'true' },
    TaskTemplate: { ContainerSpec: { Image: 'app:v1@sha256:' + 'a'.repeat(64), Env: ['A=1'] }, RestartPolicy: { Condition: 'any' } },
    Mode: { Replicated: { Replicas: 2 } },
    UpdateConfig: { ...SERVICE_UPDATE },
    RollbackConfig: { Parallelism: 1 },
    EndpointSpec: { Mode: 'vip' },
  };
  const before = structuredClone(spec);
  const next = deploySpec(spec, { image: 'app:v2', replicas: 4, delay: 1_000 });
  t.same(spec, before, 'the service\'s spec is not modified');
  t.equal(next.TaskTemplate?.ContainerSpec?.Image, 'app:v2');
  t.same(next.TaskTemplate?.ContainerSpec?.Env, ['A=1']);
  t.same(next.TaskTemplate?.RestartPolicy, { Condition: 'any' });
  t.same(next.Mode, { Replicated: { Replicas: 4 } });
  t.same(next.UpdateConfig, { ...SERVICE_UPDATE, Delay: 1_000_000_000 });
  t.same(next.RollbackConfig, { Parallelism: 1 });
  t.same(next.Labels, spec.Labels);
  t.same(next.EndpointSpec, { Mode: 'vip' });
  t.same(deploySpec(spec, { image: 'app:v2' }).Mode, { Replicated: { Replicas: 2 } }, 'no replicas given: as many as now');
  t.throws(() => deploySpec({ ...spec, Mode: { Global: {} } }, { image: 'app:v2', replicas: 2 }), /global service/);
  t.same(scaleSpec(spec, 0).Mode, { Replicated: { Replicas: 0 } });
  t.throws(() => scaleSpec({ ...spec, Mode: { Global: {} } }, 3), /cannot be scaled/);
});

t.test('the request: durations normalised, blue-green refused, unknown fields refused', async (t) => {
  const ok = swarmDeployRequestSchema.parse({ image: 'registry:5000/team/app:v2', delay: '10s', monitor: 500, parallelism: 2 });
  t.same([ok.delay, ok.monitor, ok.parallelism, ok.order, ok.failureAction], [10_000, 500, 2, undefined, undefined], 'unset fields stay unset: the service\'s apply');
  t.notOk(swarmDeployRequestSchema.safeParse({ image: 'app:v2', strategy: 'blue-green' }).success);
  t.ok(swarmDeployRequestSchema.safeParse({ image: 'app:v2', strategy: 'rolling' }).success);
  t.notOk(swarmDeployRequestSchema.safeParse({ image: 'app:v2', paralelism: 2 }).success, 'a typo is an error');
  t.notOk(swarmDeployRequestSchema.safeParse({ image: 'App V2' }).success);
  t.notOk(swarmDeployRequestSchema.safeParse({ image: 'app:v2', maxFailureRatio: 2 }).success);
});

t.test('digests and UpdateStatus', async (t) => {
  t.equal(withoutDigest('app:v2@sha256:' + 'b'.repeat(64)), 'app:v2');
  t.equal(withoutDigest('app:v2'), 'app:v2');
  const table: Array<[string | undefined, string]> = [
    [undefined, 'updating'],
    ['updating', 'updating'],
    ['completed', 'completed'],
    ['paused', 'paused'],
    ['rollback_started', 'rolling_back'],
    ['rollback_completed', 'rolled_back'],
    ['rollback_paused', 'rollback_paused'],
  ];
  for (const [state, phase] of table) t.equal(phaseOf(state), phase, `${state} → ${phase}`);
});
