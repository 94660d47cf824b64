// Table tests for the pure deploy core: the batch plan, request validation, and the clone spec.
import t from 'tap';
import { cloneSpec } from '../src/deploy/clone.ts';
import { deployRequestSchema, IMAGE_REF, planDeploy } from '../src/deploy/plan.ts';

t.test('planDeploy', async (t) => {
  const old = ['a', 'b', 'c', 'd'];
  const cases: Array<[string, Parameters<typeof planDeploy>[1], Array<[number, string[]]>]> = [
    ['rolling p1, same count', { strategy: 'rolling', parallelism: 1, order: 'start-first' }, [[1, ['a']], [1, ['b']], [1, ['c']], [1, ['d']]]],
    ['rolling p2', { strategy: 'rolling', parallelism: 2, order: 'start-first' }, [[2, ['a', 'b']], [2, ['c', 'd']]]],
    ['rolling p3 (uneven)', { strategy: 'rolling', parallelism: 3, order: 'start-first' }, [[3, ['a', 'b', 'c']], [1, ['d']]]],
    ['rolling p0 = all at once', { strategy: 'rolling', parallelism: 0, order: 'start-first' }, [[4, ['a', 'b', 'c', 'd']]]],
    ['scale up during deploy', { strategy: 'rolling', parallelism: 2, order: 'start-first', replicas: 6 }, [[2, ['a', 'b']], [2, ['c', 'd']], [2, []]]],
    ['scale down during deploy', { strategy: 'rolling', parallelism: 1, order: 'start-first', replicas: 2 }, [[1, ['a']], [1, ['b']], [0, ['c']], [0, ['d']]]],
    ['blue-green', { strategy: 'blue-green', parallelism: 1, order: 'stop-first' }, [[4, ['a', 'b', 'c', 'd']]]],
    ['blue-green with replicas', { strategy: 'blue-green', parallelism: 1, order: 'start-first', replicas: 2 }, [[2, ['a', 'b', 'c', 'd']]]],
  ];
  for (const [name, req, want] of cases) {
    const plan = planDeploy(old, req);
    t.same(plan.map((b) => [b.start, b.retire]), want, name);
  }
  t.same(planDeploy(old, { strategy: 'rolling', parallelism: 2, order: 'stop-first' }).map((b) => b.order), ['stop-first', 'stop-first']);
  t.same(planDeploy(old, { strategy: 'blue-green', parallelism: 1, order: 'stop-first' }).map((b) => b.order), ['start-first'], 'blue-green is always start-first');
  t.same(planDeploy(['x'], { strategy: 'rolling', parallelism: 1, order: 'start-first' }).map((b) => [b.start, b.retire]), [[1, ['x']]], 'single instance swap');
});

t.test('deploy request validation', async (t) => {
  const ok = deployRequestSchema.safeParse({ image: 'app:v2' });
  t.ok(ok.success);
  if (ok.success) {
    t.same(
      { ...ok.data },
      { image: 'app:v2', strategy: 'rolling', parallelism: 1, order: 'start-first', delay: 0, monitor: 5000, failureAction: 'rollback', maxFailureRatio: 0, healthTimeout: 60000, pull: false, keepPrevious: true, hold: false },
      'defaults',
    );
  }
  const bad: Array<[unknown, RegExp]> = [
    [{}, /image/],
    [{ image: 'App:V2' }, /image/],
    [{ image: 'app:v2', strategy: 'canary' }, /strategy/],
    [{ image: 'app:v2', parallelism: -1 }, /parallelism/],
    [{ image: 'app:v2', monitor: '5 parsecs' }, /monitor/],
    [{ image: 'app:v2', maxFailureRatio: 2 }, /maxFailureRatio/],
    [{ image: 'app:v2', replicas: 0 }, /replicas/],
    [{ image: 'app:v2', colour: 'blue' }, /colour|Unrecognized/],
  ];
  for (const [body, re] of bad) {
    const r = deployRequestSchema.safeParse(body);
    t.notOk(r.success, JSON.stringify(body));
    if (!r.success) t.match(r.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; '), re);
  }
  for (const ref of ['app', 'app:v2', 'registry.local:5000/team/app:1.2.3', 'ghcr.io/o/app@sha256:' + 'a'.repeat(64), 'sha256:' + 'b'.repeat(64), 'abcdef012345']) {
    t.ok(IMAGE_REF.test(ref), ref);
  }
  for (const ref of ['', 'App', 'app:', 'app:v2 ', '-app', 'app:has/slash', 'a b']) t.notOk(IMAGE_REF.test(ref), JSON.stringify(ref));
});

t.test('cloneSpec keeps what the user set and drops what the old image merged in', async (t) => {
  const container = {
    Id: 'c0ffee0123456789abcdef',
    Name: '/web-1',
    Created: '2026-01-01T00:00:00Z',
    Image: 'sha256:old',
    Config: {
      Hostname: 'c0ffee012345',
      Env: ['PATH=/usr/bin', 'IMAGE_ONLY=1', 'DATABASE_URL=postgres://db', 'PORT=8080'],
      Cmd: ['node', 'server.js'],
      Entrypoint: null,
      WorkingDir: '/app',
      User: '',
      Labels: { 'org.opencontainers.image.version': '1', 'baton.enable': 'true', 'baton.service': 'web', 'baton.generation': '3' },
      ExposedPorts: { '8080/tcp': {}, '9229/tcp': {} },
      Image: 'shop:v1',
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      StopSignal: 'SIGTERM',
    },
    HostConfig: {
      Binds: ['/srv/data:/data'],
      RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
      PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] },
      NetworkMode: 'shop_default',
      Memory: 536870912,
    },
    NetworkSettings: {
      Networks: {
        shop_default: { Aliases: ['web', 'web-1', 'c0ffee012345'], IPAddress: '172.18.0.2' },
        backend: { Aliases: ['web-backend'], IPAddress: '172.19.0.2' },
      },
    },
  };
  const oldImage = {
    Config: {
      Env: ['PATH=/usr/bin', 'IMAGE_ONLY=1'],
      Cmd: ['node', 'server.js'],
      Entrypoint: null,
      WorkingDir: '/app',
      User: '',
      Labels: { 'org.opencontainers.image.version': '1' },
      ExposedPorts: { '8080/tcp': {} },
      StopSignal: 'SIGTERM',
    },
  };
  const spec = cloneSpec({ container: container as never, oldImage: oldImage as never, image: 'shop:v2', name: 'web-g4-abc', labels: { 'baton.generation': '4' } });
  const c = spec.create;
  t.equal(c.Image, 'shop:v2');
  t.equal(c.name, 'web-g4-abc');
  t.same(c.Env, ['DATABASE_URL=postgres://db', 'PORT=8080'], "only the user's env: the new image brings its own defaults");
  t.same(c.Labels, { 'baton.enable': 'true', 'baton.service': 'web', 'baton.generation': '4' }, 'image labels dropped, generation updated');
  t.equal(c.Cmd, undefined, 'Cmd equal to the old image default is not pinned');
  t.equal(c.WorkingDir, undefined);
  t.equal(c.Hostname, undefined, 'the Docker-generated hostname is not copied');
  t.same(c.ExposedPorts, { '9229/tcp': {} }, 'only user-added exposed ports');
  t.equal((c as { StopSignal?: string }).StopSignal, undefined);
  t.same(c.HostConfig?.Binds, ['/srv/data:/data'], 'binds carry over');
  t.same(c.HostConfig?.RestartPolicy, { Name: 'unless-stopped', MaximumRetryCount: 0 });
  t.equal(c.HostConfig?.Memory, 536870912);
  t.same(c.HostConfig?.PortBindings, { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] }, 're-published on a fresh host port, same host IP');
  t.same(c.NetworkingConfig, { EndpointsConfig: { shop_default: { Aliases: ['web'] } } }, 'first network at create; container-derived aliases dropped');
  t.same(spec.connect, [{ network: 'backend', config: { Aliases: ['web-backend'] } }], 'other networks connected before start');
  t.equal(container.HostConfig.PortBindings['8080/tcp'][0].HostPort, '8080', 'the input is not mutated');

  const custom = cloneSpec({
    container: { ...container, Config: { ...container.Config, Cmd: ['node', 'worker.js'], User: 'app', Hostname: 'api' } } as never,
    oldImage: oldImage as never,
    image: 'shop:v2',
    name: 'n',
    labels: {},
  });
  t.same(custom.create.Cmd, ['node', 'worker.js'], 'a user-set Cmd is kept');
  t.equal(custom.create.User, 'app');
  t.equal(custom.create.Hostname, 'api', 'a user-set hostname is kept');

  const bridge = cloneSpec({
    container: { ...container, HostConfig: { ...container.HostConfig, NetworkMode: 'default' }, NetworkSettings: { Networks: { bridge: { Aliases: null, IPAddress: '172.17.0.2' } } } } as never,
    oldImage: null,
    image: 'shop:v2',
    name: 'n',
    labels: {},
  });
  t.equal(bridge.create.NetworkingConfig, undefined, 'the default bridge needs no network config');
  t.same(bridge.connect, []);
  t.same(bridge.create.Env, container.Config.Env, 'without the old image, every env entry is kept');
});
