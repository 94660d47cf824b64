// The reload plan (pure): which changes of the config file apply live and which need a restart.
import t from 'tap';
import { parseConfig } from '../src/config/load.ts';
import { liveConfig, planReload } from '../src/config/reload-plan.ts';

const base = {
  entrypoints: { web: { address: '127.0.0.1:8080' } },
  admin: { address: '127.0.0.1:8081', token: 'test-admin-token-0123456789' },
  middlewares: { tag: { headers: { customResponseHeaders: { 'X-Tag': 'one' } } } },
  services: { a: { rule: 'Host(`a.test`)', upstreams: ['http://127.0.0.1:3001'], middlewares: ['tag'] } },
};
const load = (raw: Record<string, unknown>) => parseConfig(raw, { env: {}, baseDir: '/tmp' });

const cases: Array<[string, Record<string, unknown>, string[], string[]]> = [
  ['nothing changed', {}, [], []],
  [
    'a service added',
    { services: { ...base.services, b: { rule: 'Host(`b.test`)', upstreams: ['http://127.0.0.1:3002'] } } },
    ['services.b'],
    [],
  ],
  ['a service removed', { services: {} }, ['services.a'], []],
  ['a rule changed', { services: { a: { ...base.services.a, rule: 'Host(`a2.test`)' } } }, ['services.a'], []],
  [
    'a health check added',
    { services: { a: { ...base.services.a, healthCheck: { path: '/health' } } } },
    ['services.a'],
    [],
  ],
  [
    'a middleware changed',
    { middlewares: { tag: { headers: { customResponseHeaders: { 'X-Tag': 'two' } } } } },
    ['middlewares.tag'],
    [],
  ],
  ['maxBodySize', { limits: { maxBodySize: '1kb' } }, ['limits.maxBodySize'], []],
  [
    'maxHeaderSize and maxConnections',
    { limits: { maxHeaderSize: '8kb', maxConnections: 10 } },
    [],
    ['limits.maxConnections', 'limits.maxHeaderSize'],
  ],
  ['client timeouts', { timeouts: { header: '3s', idle: '1s' } }, ['timeouts.header', 'timeouts.idle'], []],
  ['an upstream timeout', { timeouts: { upstreamConnect: '1s' } }, [], ['timeouts.upstreamConnect']],
  ['log level', { log: { level: 'debug' } }, ['log.level'], []],
  ['access log format', { log: { accessLogFormat: 'common' } }, [], ['log.accessLogFormat']],
  ['watch off', { watch: false }, ['watch'], []],
  ['deploy hooks', { deploy: { hooks: { preDeploy: [{ command: ['true'] }] } } }, ['deploy'], []],
  ['tls options', { tls: { options: { modern: { minVersion: 'VersionTLS13' } } } }, ['tls'], []],
  ['an entrypoint address', { entrypoints: { web: { address: '127.0.0.1:9090' } } }, [], ['entrypoints.web']],
  [
    'an entrypoint added',
    { entrypoints: { ...base.entrypoints, other: { address: '127.0.0.1:9091' } } },
    [],
    ['entrypoints.other'],
  ],
  ['the admin address', { admin: { ...base.admin, address: '127.0.0.1:9092' } }, [], ['admin.address']],
  ['workers', { workers: 2 }, [], ['workers']],
  ['stateDir', { stateDir: 'elsewhere' }, [], ['stateDir']],
  ['the docker provider', { providers: { docker: { enabled: true } } }, [], ['providers.docker']],
  ['metrics buckets', { metrics: { buckets: [0.1, 1] } }, [], ['metrics.buckets']],
  [
    'live and restart together',
    { workers: 2, services: {}, limits: { maxBodySize: 10 } },
    ['services.a', 'limits.maxBodySize'],
    ['workers'],
  ],
];

t.test('planReload: what applies live, what needs a restart', async (t) => {
  const current = load(base);
  for (const [name, change, applied, restart] of cases) {
    const plan = planReload(current, load({ ...base, ...change }));
    t.same(plan.applied.sort(), [...applied].sort(), `${name}: applied`);
    t.same(plan.restartRequired.sort(), [...restart].sort(), `${name}: restart required`);
  }
});

t.test('plugins: options live, another module needs a restart', async (t) => {
  const withPlugin = (module: string, options: unknown) => load({ ...base, plugins: { p: { module, options } } });
  const a = withPlugin('./p.ts', { x: 1 });
  t.same(planReload(a, withPlugin('./p.ts', { x: 2 })), { applied: ['plugins.p'], restartRequired: [] });
  t.same(planReload(a, withPlugin('./q.ts', { x: 1 })), { applied: [], restartRequired: ['plugins.p.module'] });
  t.same(planReload(load(base), a), { applied: ['plugins.p'], restartRequired: [] });
  t.equal(liveConfig(a, withPlugin('./q.ts', { x: 3 })).plugins.p.module, './p.ts', 'the running module is kept');
});

t.test('liveConfig: the new live parts, the running values of what needs a restart', async (t) => {
  const current = load(base);
  const next = load({
    ...base,
    entrypoints: { web: { address: '127.0.0.1:9090' } },
    workers: 3,
    limits: { maxBodySize: 10, maxConnections: 5 },
    timeouts: { header: 1000, upstreamConnect: 1000 },
    log: { level: 'warn', accessLog: false },
    services: {},
  });
  const live = liveConfig(current, next);
  t.equal(live.entrypoints.web.address, '127.0.0.1:8080');
  t.equal(live.workers, 1);
  t.equal(live.limits.maxBodySize, 10);
  t.equal(live.limits.maxConnections, current.limits.maxConnections);
  t.equal(live.timeouts.header, 1000);
  t.equal(live.timeouts.upstreamConnect, current.timeouts.upstreamConnect);
  t.same(live.log, { ...current.log, level: 'warn' });
  t.same(live.services, {});
  // what was kept is reported again at the next reload, until a restart
  t.same(planReload(live, next).restartRequired.sort(), [
    'entrypoints.web',
    'limits.maxConnections',
    'log.accessLog',
    'timeouts.upstreamConnect',
    'workers',
  ]);
  t.same(planReload(live, next).applied, []);
});
