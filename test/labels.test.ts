// Table tests for Docker labels → routes (src/providers/labels.ts): pure, no Docker needed.
import t, { type Test } from 'tap';
import {
  normalize,
  routesForContainer,
  serviceNamesOf,
  translateV1Rule,
  type ContainerRoute,
  type ContainerView,
  type DockerProviderOptions,
} from '../src/providers/labels.ts';
import { dockerSnapshot } from '../src/providers/docker.ts';
import { parseRule, type RequestView } from '../src/routing/rule.ts';

const OPTS: DockerProviderOptions = { exposedByDefault: false, network: '', publishedPorts: false };
const ON = { 'baton.enable': 'true' };
const IP = '172.17.0.2';
const URL8080 = `http://${IP}:8080`;

function ctr(over: Partial<ContainerView> = {}): ContainerView {
  return {
    id: 'c0ffee'.padEnd(64, '0'),
    name: 'app',
    labels: {},
    running: true,
    paused: false,
    health: null,
    networks: { bridge: IP },
    exposedPorts: ['8080/tcp'],
    publishedPorts: {},
    created: '2024-05-01T10:00:00.000000000Z',
    ...over,
  };
}

type Shape = Omit<ContainerRoute, 'container'>;
type Want = Partial<Shape> & { service: string; rule: string };

interface Row {
  name: string;
  labels?: Record<string, string>;
  c?: Partial<ContainerView>;
  opts?: Partial<DockerProviderOptions>;
  /** expected routes (url defaults to URL8080, healthCheck to {}); omitted = none */
  routes?: Want[];
  /** each must match one problem, and there must be as many problems as patterns */
  problems?: RegExp[];
}

function shape(r: ContainerRoute): Shape {
  const { container: _c, ...rest } = r;
  return rest;
}

function check(t: Test, rows: Row[]): void {
  for (const row of rows) {
    const c = ctr({ ...row.c, labels: { ...row.labels, ...row.c?.labels } });
    const got = routesForContainer(c, { ...OPTS, ...row.opts });
    const want = (row.routes ?? []).map((w) => ({ url: URL8080, healthCheck: {}, ...w }));
    t.strictSame(got.routes.map(shape), want, `${row.name}: routes`);
    for (const r of got.routes) {
      t.equal(r.container, c, `${row.name}: route carries its container`);
      t.doesNotThrow(() => parseRule(r.rule), `${row.name}: rule ${r.rule} parses`);
      for (const sub of r.routes ?? []) t.doesNotThrow(() => parseRule(sub.rule), `${row.name}: ${sub.name}'s rule parses`);
    }
    const messages = got.problems.map((p) => p.message);
    const patterns = row.problems ?? [];
    t.equal(messages.length, patterns.length, `${row.name}: ${patterns.length} problem(s), got ${JSON.stringify(messages)}`);
    for (const re of patterns) t.ok(messages.some((m) => re.test(m)), `${row.name}: a problem matches ${re} in ${JSON.stringify(messages)}`);
    for (const p of got.problems) t.equal(p.container, c.name, `${row.name}: problem names the container`);
  }
}

t.test('normalize', async (t) => {
  const cases: Array<[string, string]> = [
    ['app', 'app'],
    ['my_app', 'my-app'],
    ['My App.1', 'My-App-1'],
    ['--a__b--', 'a-b'],
    ['proj_web_1', 'proj-web-1'],
    ['___', ''],
  ];
  for (const [input, want] of cases) t.equal(normalize(input), want, JSON.stringify(input));
});

t.test('native baton labels', async (t) => {
  check(t, [
    { name: 'minimal', labels: ON, routes: [{ service: 'app', rule: 'Host(`app`)' }] },
    { name: 'baton.service, normalised', labels: { ...ON, 'baton.service': 'My_API' }, routes: [{ service: 'My-API', rule: 'Host(`My-API`)' }] },
    {
      name: 'compose service names the service',
      labels: { ...ON, 'com.docker.compose.service': 'web', 'com.docker.compose.project': 'shop' },
      c: { name: 'shop-web-1' },
      routes: [{ service: 'web', rule: 'Host(`web`)' }],
    },
    {
      name: 'baton.service beats compose service',
      labels: { ...ON, 'com.docker.compose.service': 'web', 'baton.service': 'front' },
      routes: [{ service: 'front', rule: 'Host(`front`)' }],
    },
    { name: 'container name normalised', labels: ON, c: { name: 'my_app.1' }, routes: [{ service: 'my-app-1', rule: 'Host(`my-app-1`)' }] },
    {
      name: 'baton.rule',
      labels: { ...ON, 'baton.rule': 'Host(`example.com`) && PathPrefix(`/api`)' },
      routes: [{ service: 'app', rule: 'Host(`example.com`) && PathPrefix(`/api`)' }],
    },
    { name: 'baton.priority', labels: { ...ON, 'baton.priority': '42' }, routes: [{ service: 'app', rule: 'Host(`app`)', priority: 42 }] },
    { name: 'negative priority', labels: { ...ON, 'baton.priority': '-1' }, routes: [{ service: 'app', rule: 'Host(`app`)', priority: -1 }] },
    {
      name: 'baton.port picks among several exposed',
      labels: { ...ON, 'baton.port': '9090' },
      c: { exposedPorts: ['8080/tcp', '9090/tcp'] },
      routes: [{ service: 'app', rule: 'Host(`app`)', url: `http://${IP}:9090` }],
    },
    {
      name: 'baton.port with nothing exposed',
      labels: { ...ON, 'baton.port': '3000' },
      c: { exposedPorts: [] },
      routes: [{ service: 'app', rule: 'Host(`app`)', url: `http://${IP}:3000` }],
    },
    {
      name: 'health labels',
      labels: {
        ...ON,
        'baton.health.path': '/healthz',
        'baton.health.interval': '2s',
        'baton.health.timeout': '500ms',
        'baton.health.rise': '3',
        'baton.health.fall': '2',
      },
      routes: [{ service: 'app', rule: 'Host(`app`)', healthCheck: { path: '/healthz', interval: 2000, timeout: 500, rise: 3, fall: 2 } }],
    },
    {
      name: 'bare baton duration is milliseconds',
      labels: { ...ON, 'baton.health.interval': '250' },
      routes: [{ service: 'app', rule: 'Host(`app`)', healthCheck: { interval: 250 } }],
    },
    { name: 'drain timeout', labels: { ...ON, 'baton.drain.timeout': '1m30s' }, routes: [{ service: 'app', rule: 'Host(`app`)', drainTimeout: 90_000 }] },
    { name: 'drain timeout 0', labels: { ...ON, 'baton.drain.timeout': '0' }, routes: [{ service: 'app', rule: 'Host(`app`)', drainTimeout: 0 }] },
    {
      name: 'load balancer',
      labels: { ...ON, 'baton.loadbalancer': 'Least-Connections' },
      routes: [{ service: 'app', rule: 'Host(`app`)', loadBalancer: 'least-connections' }],
    },
    {
      name: 'passhostheader',
      labels: { ...ON, 'baton.passhostheader': 'FALSE' },
      routes: [{ service: 'app', rule: 'Host(`app`)', passHostHeader: false }],
    },
    { name: 'empty label counts as unset', labels: { ...ON, 'baton.rule': '  ' }, routes: [{ service: 'app', rule: 'Host(`app`)' }] },
    { name: 'unrelated labels ignored', labels: { ...ON, 'org.opencontainers.image.title': 'x', 'maintainer': 'me' }, routes: [{ service: 'app', rule: 'Host(`app`)' }] },
    // problems: the container is left out
    { name: 'bad load balancer', labels: { ...ON, 'baton.loadbalancer': 'random' }, problems: [/^baton\.loadbalancer: expected round-robin or least-connections/] },
    { name: 'bad passhostheader', labels: { ...ON, 'baton.passhostheader': 'no' }, problems: [/^baton\.passhostheader: expected true or false/] },
    { name: 'rise 0', labels: { ...ON, 'baton.health.rise': '0' }, problems: [/^baton\.health\.rise: expected a whole number from 1 to 100/] },
    { name: 'fall 101', labels: { ...ON, 'baton.health.fall': '101' }, problems: [/^baton\.health\.fall: /] },
    { name: 'relative health path', labels: { ...ON, 'baton.health.path': 'healthz' }, problems: [/^baton\.health\.path: .*must start with "\/"/] },
    { name: 'port out of range', labels: { ...ON, 'baton.port': '70000' }, problems: [/^baton\.port: expected a port from 1 to 65535, got "70000"/] },
    { name: 'port not a number', labels: { ...ON, 'baton.port': 'http' }, problems: [/^baton\.port: expected a port/] },
    { name: 'port 0', labels: { ...ON, 'baton.port': '0' }, problems: [/^baton\.port: /] },
    { name: 'bad priority', labels: { ...ON, 'baton.priority': 'high' }, problems: [/^baton\.priority: expected a whole number/] },
    { name: 'baton.service without letters', labels: { ...ON, 'baton.service': '___' }, problems: [/^baton\.service: no letters or digits/] },
    {
      name: 'several problems reported together',
      labels: { ...ON, 'baton.port': 'x', 'baton.health.interval': 'soon' },
      problems: [/^baton\.port: /, /^baton\.health\.interval: invalid duration "soon"/],
    },
    {
      name: 'keys differing only in case, different values',
      labels: { ...ON, 'baton.port': '8080', 'BATON.PORT': '9090' },
      problems: [/differ only in case/],
    },
    {
      name: 'keys differing only in case, same value',
      labels: { ...ON, 'baton.port': '8080', 'Baton.Port': '8080' },
      routes: [{ service: 'app', rule: 'Host(`app`)' }],
    },
    { name: 'native keys are case-insensitive too', labels: { 'Baton.Enable': 'true', 'BATON.Rule': 'Host(`x.test`)' }, routes: [{ service: 'app', rule: 'Host(`x.test`)' }] },
  ]);
});

t.test('durations', async (t) => {
  check(t, [
    { name: 'bad interval', labels: { ...ON, 'baton.health.interval': 'fast' }, problems: [/^baton\.health\.interval: invalid duration "fast"/] },
    { name: 'zero interval', labels: { ...ON, 'baton.health.interval': '0s' }, problems: [/^baton\.health\.interval: must be more than 0/] },
    { name: 'zero timeout', labels: { ...ON, 'baton.health.timeout': '0' }, problems: [/^baton\.health\.timeout: must be more than 0/] },
    { name: 'negative drain', labels: { ...ON, 'baton.drain.timeout': '-1s' }, problems: [/^baton\.drain\.timeout: invalid duration/] },
    { name: 'huge drain', labels: { ...ON, 'baton.drain.timeout': '900h' }, problems: [/^baton\.drain\.timeout: invalid duration/] },
    {
      name: 'traefik bare number is seconds',
      labels: { 'traefik.enable': 'true', 'traefik.http.services.app.loadbalancer.healthcheck.interval': '10' },
      routes: [{ service: 'app', rule: 'Host(`app`)', healthCheck: { interval: 10_000 } }],
    },
    {
      name: 'bad traefik duration names the label as written',
      labels: { 'traefik.enable': 'true', 'traefik.http.services.App.loadBalancer.healthCheck.timeout': '3 seconds' },
      problems: [/^traefik\.http\.services\.App\.loadBalancer\.healthCheck\.timeout: invalid duration "3 seconds"/],
    },
  ]);
});

t.test('enable precedence and exposedByDefault', async (t) => {
  const routed = [{ service: 'app', rule: 'Host(`app`)' }];
  check(t, [
    { name: 'no labels, not exposed by default', labels: {} },
    { name: 'no labels, exposed by default', labels: {}, opts: { exposedByDefault: true }, routes: routed },
    { name: 'baton.enable=false beats exposedByDefault', labels: { 'baton.enable': 'false' }, opts: { exposedByDefault: true } },
    { name: 'traefik.enable=true', labels: { 'traefik.enable': 'true' }, routes: routed },
    { name: 'traefik.enable=false beats exposedByDefault', labels: { 'traefik.enable': 'false' }, opts: { exposedByDefault: true } },
    { name: 'baton.enable=false beats traefik.enable=true', labels: { 'baton.enable': 'false', 'traefik.enable': 'true' } },
    { name: 'baton.enable=true beats traefik.enable=false', labels: { 'baton.enable': 'true', 'traefik.enable': 'false' }, routes: routed },
    { name: 'case-insensitive value', labels: { 'baton.enable': 'TRUE' }, routes: routed },
    { name: 'case-insensitive key', labels: { 'Traefik.Enable': 'True' }, routes: routed },
    { name: 'bad baton.enable', labels: { 'baton.enable': 'yes' }, problems: [/^baton\.enable: expected true or false, got "yes"/] },
    { name: 'bad traefik.enable', labels: { 'traefik.enable': '1' }, opts: { exposedByDefault: true }, problems: [/^traefik\.enable: expected true or false/] },
    { name: 'valid baton.enable hides bad traefik.enable', labels: { 'baton.enable': 'true', 'traefik.enable': 'maybe' }, routes: routed },
    { name: 'not enabled: bad labels are not looked at', labels: { 'baton.port': 'x', 'baton.rule': 'nonsense' } },
    { name: 'labels alone do not enable', labels: { 'baton.rule': 'Host(`a.test`)' } },
  ]);
});

t.test('port selection', async (t) => {
  check(t, [
    {
      name: 'several exposed ports',
      labels: ON,
      c: { exposedPorts: ['9090/tcp', '8080/tcp'] },
      problems: [/^several ports exposed \(8080\/tcp, 9090\/tcp\); set baton\.port \(or traefik\.http\.services\.<name>\.loadbalancer\.server\.port\)$/],
    },
    { name: 'no exposed port', labels: ON, c: { exposedPorts: [] }, problems: [/^no TCP port exposed; set baton\.port \(or traefik\.http\.services\.<name>\.loadbalancer\.server\.port\)$/] },
    { name: 'only UDP exposed', labels: ON, c: { exposedPorts: ['53/udp'] }, problems: [/no TCP port exposed/] },
    { name: 'UDP ports do not count', labels: ON, c: { exposedPorts: ['53/udp', '8080/tcp'] }, routes: [{ service: 'app', rule: 'Host(`app`)' }] },
    {
      name: 'published ports count as exposed',
      labels: ON,
      c: { exposedPorts: [], publishedPorts: { '3000/tcp': null } },
      routes: [{ service: 'app', rule: 'Host(`app`)', url: `http://${IP}:3000` }],
    },
    {
      name: 'traefik v1 port',
      labels: { 'traefik.enable': 'true', 'traefik.port': '9090' },
      c: { exposedPorts: ['8080/tcp', '9090/tcp'] },
      routes: [{ service: 'app', rule: 'Host(`app`)', url: `http://${IP}:9090` }],
    },
    {
      name: 'traefik v2 port beats v1',
      labels: { 'traefik.enable': 'true', 'traefik.port': '9090', 'traefik.http.services.app.loadbalancer.server.port': '7070' },
      routes: [{ service: 'app', rule: 'Host(`app`)', url: `http://${IP}:7070` }],
    },
    {
      name: 'baton.port beats traefik v2 and v1',
      labels: { ...ON, 'baton.port': '6060', 'traefik.port': '9090', 'traefik.http.services.app.loadbalancer.server.port': '7070' },
      routes: [{ service: 'app', rule: 'Host(`app`)', url: `http://${IP}:6060` }],
    },
    { name: 'bad traefik.port', labels: { 'traefik.enable': 'true', 'traefik.port': '80a' }, problems: [/^traefik\.port: expected a port/] },
  ]);
});

t.test('Traefik v2/v3 labels', async (t) => {
  const T = { 'traefik.enable': 'true' };
  check(t, [
    {
      name: 'single router, implicit service named after the container',
      labels: { ...T, 'traefik.http.routers.web.rule': 'Host(`example.com`)' },
      routes: [{ service: 'app', rule: 'Host(`example.com`)' }],
    },
    {
      name: 'implicit service named after the compose service',
      labels: { ...T, 'com.docker.compose.service': 'shop_web', 'traefik.http.routers.web.rule': 'Host(`shop.test`)' },
      routes: [{ service: 'shop-web', rule: 'Host(`shop.test`)' }],
    },
    {
      name: 'several routers on one service → ||',
      labels: {
        ...T,
        'traefik.http.routers.www.rule': 'Host(`www.example.com`)',
        'traefik.http.routers.api.rule': 'Host(`example.com`) && PathPrefix(`/api`)',
      },
      routes: [{ service: 'app', rule: '(Host(`example.com`) && PathPrefix(`/api`)) || (Host(`www.example.com`))' }],
    },
    {
      name: 'several routers, same rule, not repeated',
      labels: { ...T, 'traefik.http.routers.a.rule': 'Host(`x.test`)', 'traefik.http.routers.b.rule': 'Host(`x.test`)' },
      routes: [{ service: 'app', rule: 'Host(`x.test`)' }],
    },
    {
      name: 'router → named service with its port',
      labels: {
        ...T,
        'traefik.http.routers.front.rule': 'Host(`a.test`)',
        'traefik.http.routers.front.service': 'api',
        'traefik.http.services.api.loadbalancer.server.port': '9000',
      },
      routes: [{ service: 'api', rule: 'Host(`a.test`)', url: `http://${IP}:9000` }],
    },
    {
      name: 'one service defined: a router without .service uses it',
      labels: { ...T, 'traefik.http.routers.front.rule': 'Host(`a.test`)', 'traefik.http.services.api.loadbalancer.server.port': '9000' },
      routes: [{ service: 'api', rule: 'Host(`a.test`)', url: `http://${IP}:9000` }],
    },
    {
      name: 'router .service@docker',
      labels: { ...T, 'traefik.http.routers.front.rule': 'Host(`a.test`)', 'traefik.http.routers.front.service': 'api@docker' },
      routes: [{ service: 'api', rule: 'Host(`a.test`)' }],
    },
    {
      name: 'router .service of another provider',
      labels: { ...T, 'traefik.http.routers.front.rule': 'Host(`a.test`)', 'traefik.http.routers.front.service': 'api@file' },
      problems: [/^traefik\.http\.routers\.front\.service: service "api@file" is another provider's/],
    },
    {
      name: 'several services, each with a router and port',
      labels: {
        ...T,
        'traefik.http.routers.site.rule': 'Host(`site.test`)',
        'traefik.http.routers.site.service': 'site',
        'traefik.http.routers.admin.rule': 'Host(`admin.test`)',
        'traefik.http.routers.admin.service': 'admin',
        'traefik.http.routers.admin.priority': '5',
        'traefik.http.services.site.loadbalancer.server.port': '8080',
        'traefik.http.services.admin.loadbalancer.server.port': '9090',
      },
      c: { exposedPorts: ['8080/tcp', '9090/tcp'] },
      routes: [
        { service: 'admin', rule: 'Host(`admin.test`)', priority: 5, url: `http://${IP}:9090` },
        { service: 'site', rule: 'Host(`site.test`)' },
      ],
    },
    {
      name: 'several services and a router without .service',
      labels: {
        ...T,
        'traefik.http.routers.site.rule': 'Host(`site.test`)',
        'traefik.http.services.site.loadbalancer.server.port': '8080',
        'traefik.http.services.admin.loadbalancer.server.port': '9090',
      },
      problems: [/^router site has no service and the container defines several \(admin, site\); set traefik\.http\.routers\.site\.service$/],
    },
    {
      name: 'a service with no router gets the default rule',
      labels: { ...T, 'traefik.http.services.api.loadbalancer.server.port': '8080' },
      routes: [{ service: 'api', rule: 'Host(`api`)' }],
    },
    {
      name: 'several services without routers: each its default rule',
      labels: {
        ...T,
        'traefik.http.services.api.loadbalancer.server.port': '8080',
        'traefik.http.services.ops.loadbalancer.server.port': '9090',
      },
      routes: [
        { service: 'api', rule: 'Host(`api`)' },
        { service: 'ops', rule: 'Host(`ops`)', url: `http://${IP}:9090` },
      ],
    },
    {
      name: 'several services, one without a port and several exposed',
      labels: {
        ...T,
        'traefik.http.services.api.loadbalancer.server.port': '8080',
        'traefik.http.services.ops.loadbalancer.healthcheck.path': '/ping',
      },
      c: { exposedPorts: ['8080/tcp', '9090/tcp'] },
      problems: [/^several ports exposed \(8080\/tcp, 9090\/tcp\); set traefik\.http\.services\.<name>\.loadbalancer\.server\.port$/],
    },
    {
      name: 'router without rule: default rule of its service',
      labels: { ...T, 'traefik.http.routers.web.entrypoints': 'websecure', 'traefik.http.routers.web.tls': 'true' },
      routes: [{ service: 'app', rule: 'Host(`app`)', entrypoints: ['websecure'], tls: { domains: [] } }],
    },
    {
      name: 'service healthcheck and passhostheader',
      labels: {
        ...T,
        'traefik.http.services.app.loadbalancer.healthcheck.path': '/health',
        'traefik.http.services.app.loadbalancer.healthcheck.interval': '5s',
        'traefik.http.services.app.loadbalancer.healthcheck.timeout': '2s',
        'traefik.http.services.app.loadbalancer.passhostheader': 'false',
      },
      routes: [{ service: 'app', rule: 'Host(`app`)', healthCheck: { path: '/health', interval: 5000, timeout: 2000 }, passHostHeader: false }],
    },
    {
      name: 'baton health labels beat traefik ones, per field',
      labels: {
        ...ON,
        'baton.health.path': '/ready',
        'traefik.http.services.app.loadbalancer.healthcheck.path': '/health',
        'traefik.http.services.app.loadbalancer.healthcheck.interval': '5s',
      },
      routes: [{ service: 'app', rule: 'Host(`app`)', healthCheck: { path: '/ready', interval: 5000 } }],
    },
    {
      name: 'router priority',
      labels: { ...T, 'traefik.http.routers.web.rule': 'Host(`a.test`)', 'traefik.http.routers.web.priority': '100' },
      routes: [{ service: 'app', rule: 'Host(`a.test`)', priority: 100 }],
    },
    {
      // each router keeps its own priority (merged, the lower one's rule would win with the higher priority)
      name: 'several routers, different priorities: one route each',
      labels: {
        ...T,
        'traefik.http.routers.a.rule': 'Host(`a.test`)',
        'traefik.http.routers.a.priority': '3',
        'traefik.http.routers.b.rule': 'Host(`b.test`)',
        'traefik.http.routers.b.priority': '7',
      },
      routes: [
        {
          service: 'app',
          rule: 'Host(`a.test`)',
          priority: 3,
          routes: [
            { name: 'a', rule: 'Host(`a.test`)', priority: 3 },
            { name: 'b', rule: 'Host(`b.test`)', priority: 7 },
          ],
        },
      ],
    },
    {
      name: 'several routers, priority on one only: one route each',
      labels: { ...T, 'traefik.http.routers.a.rule': 'Host(`a.test`)', 'traefik.http.routers.b.rule': 'Host(`b.test`)', 'traefik.http.routers.b.priority': '7' },
      routes: [{ service: 'app', rule: 'Host(`a.test`)', routes: [{ name: 'a', rule: 'Host(`a.test`)' }, { name: 'b', rule: 'Host(`b.test`)', priority: 7 }] }],
    },
    {
      name: 'several routers, same priority: one route',
      labels: {
        ...T,
        'traefik.http.routers.a.rule': 'Host(`a.test`)',
        'traefik.http.routers.a.priority': '7',
        'traefik.http.routers.b.rule': 'Host(`b.test`)',
        'traefik.http.routers.b.priority': '7',
      },
      routes: [{ service: 'app', rule: '(Host(`a.test`)) || (Host(`b.test`))', priority: 7 }],
    },
    {
      name: 'baton.priority sets every router route',
      labels: {
        ...T,
        'baton.priority': '1',
        'traefik.http.routers.a.rule': 'Host(`a.test`)',
        'traefik.http.routers.a.priority': '3',
        'traefik.http.routers.b.rule': 'Host(`b.test`)',
        'traefik.http.routers.b.priority': '7',
      },
      routes: [{ service: 'app', rule: '(Host(`a.test`)) || (Host(`b.test`))', priority: 1 }],
    },
    {
      name: 'baton.rule: one route, highest router priority',
      labels: {
        ...T,
        'baton.rule': 'Host(`c.test`)',
        'traefik.http.routers.a.rule': 'Host(`a.test`)',
        'traefik.http.routers.a.priority': '3',
        'traefik.http.routers.b.rule': 'Host(`b.test`)',
        'traefik.http.routers.b.priority': '7',
      },
      routes: [{ service: 'app', rule: 'Host(`c.test`)', priority: 7 }],
    },
    {
      name: 'baton.priority beats router priority',
      labels: { ...ON, 'baton.priority': '1', 'traefik.http.routers.web.rule': 'Host(`a.test`)', 'traefik.http.routers.web.priority': '100' },
      routes: [{ service: 'app', rule: 'Host(`a.test`)', priority: 1 }],
    },
    {
      name: 'case-insensitive keys (the services key spells the name)',
      labels: {
        'Traefik.Enable': 'true',
        'traefik.http.routers.Web.Rule': 'Host(`a.test`)',
        'traefik.http.routers.Web.Service': 'Api',
        'traefik.HTTP.services.api.LoadBalancer.Server.Port': '9000',
      },
      routes: [{ service: 'api', rule: 'Host(`a.test`)', url: `http://${IP}:9000` }],
    },
    {
      name: 'router and service names with - and _',
      labels: { ...T, 'traefik.http.routers.my-router_1.rule': 'Host(`a.test`)', 'traefik.http.routers.my-router_1.service': 'my_svc-2' },
      routes: [{ service: 'my_svc-2', rule: 'Host(`a.test`)' }],
    },
    {
      name: 'bad router name',
      labels: { ...T, 'traefik.http.routers.my@r.rule': 'Host(`a.test`)' },
      problems: [/^traefik\.http\.routers\.my@r\.rule: router names are letters/],
    },
    {
      name: 'baton.rule beats router rules',
      labels: { ...ON, 'baton.rule': 'Host(`b.test`)', 'traefik.http.routers.web.rule': 'Host(`a.test`)' },
      routes: [{ service: 'app', rule: 'Host(`b.test`)' }],
    },
    {
      name: 'baton.service renames the only traefik service',
      labels: { ...ON, 'baton.service': 'front', 'traefik.http.services.api.loadbalancer.server.port': '8080' },
      routes: [{ service: 'front', rule: 'Host(`front`)' }],
    },
    {
      name: 'baton.rule with several traefik services',
      labels: {
        ...ON,
        'baton.rule': 'Host(`a.test`)',
        'traefik.http.services.api.loadbalancer.server.port': '8080',
        'traefik.http.services.ops.loadbalancer.server.port': '9090',
      },
      problems: [/^baton\.rule: cannot apply to several services \(api, ops\)/],
    },
    {
      name: 'v2 rule beats v1 rule',
      labels: { ...T, 'traefik.http.routers.web.rule': 'Host(`v2.test`)', 'traefik.frontend.rule': 'Host:v1.test' },
      routes: [{ service: 'app', rule: 'Host(`v2.test`)' }],
    },
    {
      name: 'unparseable router rule names the label',
      labels: { ...T, 'traefik.http.routers.web.rule': 'Host(a.test)' },
      problems: [/^traefik\.http\.routers\.web\.rule: invalid rule: expected a quoted string argument/],
    },
    {
      name: 'middlewares: the references go on the route as written',
      labels: { ...T, 'traefik.http.routers.web.rule': 'Host(`a.test`)', 'traefik.http.routers.web.middlewares': 'auth@file, strip ,hdr@docker' },
      routes: [{ service: 'app', rule: 'Host(`a.test`)', middlewares: ['auth@file', 'strip', 'hdr@docker'] }],
    },
    {
      name: 'middlewares: name@file checked against the config file\'s names when given',
      labels: { ...T, 'traefik.http.routers.web.rule': 'Host(`a.test`)', 'traefik.http.routers.web.middlewares': 'auth@file,geo@file' },
      opts: { fileMiddlewares: ['geo', 'strip'] },
      problems: [/^traefik\.http\.routers\.web\.middlewares: middleware auth@file is not defined in the config file \(middlewares and plugins there: geo, strip\)$/],
    },
    {
      name: 'middlewares: another provider is a problem (fail closed: never routed without it)',
      labels: { ...T, 'traefik.http.routers.web.rule': 'Host(`a.test`)', 'traefik.http.routers.web.middlewares': 'auth@kubernetescrd' },
      problems: [/^traefik\.http\.routers\.web\.middlewares: middleware "auth@kubernetescrd": baton has no such provider \(kubernetescrd\)/],
    },
    {
      name: 'middlewares: a malformed reference is a problem',
      labels: { ...T, 'traefik.http.routers.web.rule': 'Host(`a.test`)', 'traefik.http.routers.web.middlewares': 'a,b c' },
      problems: [/^traefik\.http\.routers\.web\.middlewares: middleware reference "b c" is not "name" or "name@provider"/],
    },
    {
      name: 'middlewares: only commas is none; an empty label is unset (no router api)',
      labels: { ...T, 'traefik.http.routers.web.rule': 'Host(`a.test`)', 'traefik.http.routers.web.middlewares': ' , ', 'traefik.http.routers.api.middlewares': '' },
      routes: [{ service: 'app', rule: 'Host(`a.test`)' }],
    },
    {
      name: 'middlewares: routers of one service that differ in middlewares are one route each',
      labels: {
        ...T,
        'traefik.http.routers.admin.rule': 'Host(`a.test`) && PathPrefix(`/admin`)',
        'traefik.http.routers.admin.middlewares': 'auth',
        'traefik.http.routers.web.rule': 'Host(`a.test`)',
        'traefik.http.routers.web.middlewares': 'hdr',
      },
      routes: [{
        service: 'app', rule: 'Host(`a.test`) && PathPrefix(`/admin`)',
        routes: [
          { name: 'admin', rule: 'Host(`a.test`) && PathPrefix(`/admin`)', middlewares: ['auth'] },
          { name: 'web', rule: 'Host(`a.test`)', middlewares: ['hdr'] },
        ],
      }],
    },
    {
      // no service-level middlewares: a route without its own would inherit them (the TLS router, a redirect)
      name: 'middlewares: a router without them is a route of its own too',
      labels: {
        ...T,
        'traefik.http.routers.admin.rule': 'PathPrefix(`/admin`)',
        'traefik.http.routers.admin.middlewares': 'auth',
        'traefik.http.routers.web.rule': 'Host(`a.test`)',
      },
      routes: [{
        service: 'app', rule: 'PathPrefix(`/admin`)',
        routes: [
          { name: 'admin', rule: 'PathPrefix(`/admin`)', middlewares: ['auth'] },
          { name: 'web', rule: 'Host(`a.test`)' },
        ],
      }],
    },
    {
      name: 'middlewares: "a" and "a@docker" are the same, so the routers are joined (the first router\'s spelling)',
      labels: {
        ...T,
        'traefik.http.routers.a.rule': 'Host(`a.test`)',
        'traefik.http.routers.a.middlewares': 'hdr,auth@file',
        'traefik.http.routers.b.rule': 'Host(`b.test`)',
        'traefik.http.routers.b.middlewares': 'hdr@Docker, auth@file',
      },
      routes: [{ service: 'app', rule: '(Host(`a.test`)) || (Host(`b.test`))', middlewares: ['hdr', 'auth@file'] }],
    },
    {
      name: 'middlewares: the order matters (different orders are different routes)',
      labels: {
        ...T,
        'traefik.http.routers.a.rule': 'Host(`a.test`)',
        'traefik.http.routers.a.middlewares': 'x,y',
        'traefik.http.routers.b.rule': 'Host(`b.test`)',
        'traefik.http.routers.b.middlewares': 'y,x',
      },
      routes: [{
        service: 'app', rule: 'Host(`a.test`)',
        routes: [{ name: 'a', rule: 'Host(`a.test`)', middlewares: ['x', 'y'] }, { name: 'b', rule: 'Host(`b.test`)', middlewares: ['y', 'x'] }],
      }],
    },
    {
      name: 'middlewares: under baton.rule the routers must agree on them',
      labels: {
        ...T,
        'baton.rule': 'Host(`c.test`)',
        'traefik.http.routers.a.middlewares': 'auth',
        'traefik.http.routers.b.middlewares': 'hdr',
      },
      problems: [/^routers of service app differ in middlewares \(a: auth@docker; b: hdr@docker\); set baton\.middlewares/],
    },
    {
      name: 'middlewares: under baton.rule agreeing routers give theirs',
      labels: { ...T, 'baton.rule': 'Host(`c.test`)', 'traefik.http.routers.a.middlewares': 'auth', 'traefik.http.routers.b.middlewares': 'auth@docker' },
      routes: [{ service: 'app', rule: 'Host(`c.test`)', middlewares: ['auth'] }],
    },
    {
      name: 'middlewares: baton.middlewares replaces the routers\' under baton.rule',
      labels: {
        ...T,
        'baton.rule': 'Host(`c.test`)',
        'baton.middlewares': 'x@file',
        'traefik.http.routers.a.middlewares': 'auth',
        'traefik.http.routers.b.middlewares': 'hdr',
      },
      routes: [{ service: 'app', rule: 'Host(`c.test`)', middlewares: ['x@file'] }],
    },
    {
      name: 'middlewares: baton.middlewares replaces each router\'s when they are routes of their own',
      labels: {
        ...T,
        'baton.middlewares': 'x',
        'traefik.http.routers.a.rule': 'Host(`a.test`)',
        'traefik.http.routers.a.entrypoints': 'web',
        'traefik.http.routers.a.middlewares': 'redirect',
        'traefik.http.routers.b.rule': 'Host(`a.test`)',
        'traefik.http.routers.b.entrypoints': 'websecure',
      },
      routes: [{
        service: 'app', rule: 'Host(`a.test`)', entrypoints: ['web'],
        routes: [
          { name: 'a', rule: 'Host(`a.test`)', entrypoints: ['web'], middlewares: ['x'] },
          { name: 'b', rule: 'Host(`a.test`)', entrypoints: ['websecure'], middlewares: ['x'] },
        ],
      }],
    },
    {
      name: 'middlewares: baton.middlewares on several services is a problem',
      labels: {
        ...T,
        'baton.middlewares': 'auth',
        'traefik.http.routers.api.service': 'api',
        'traefik.http.services.api.loadbalancer.server.port': '8080',
        'traefik.http.routers.ops.service': 'ops',
        'traefik.http.services.ops.loadbalancer.server.port': '9090',
      },
      problems: [/^baton\.middlewares: cannot apply to several services \(api, ops\)/],
    },
    {
      name: 'middlewares: only TCP routers but an HTTP middleware: HTTP-routed, as in Traefik',
      labels: { ...T, 'traefik.tcp.routers.db.rule': 'HostSNI(`*`)', 'traefik.http.middlewares.gz.nosuchtype': 'true' },
      problems: [/^traefik\.http\.middlewares\.gz\.nosuchtype: unknown middleware type nosuchtype$/],
    },
    {
      name: 'https upstream scheme',
      labels: { ...T, 'traefik.http.services.app.loadbalancer.server.scheme': 'https' },
      problems: [/^traefik\.http\.services\.app\.loadbalancer\.server\.scheme: baton talks plain HTTP/],
    },
    { name: 'only TCP routers: no HTTP route', labels: { ...T, 'traefik.tcp.routers.db.rule': 'HostSNI(`*`)' } },
  ]);
});

t.test('Traefik v1 labels', async (t) => {
  const T = { 'traefik.enable': 'true' };
  check(t, [
    { name: 'Host list', labels: { ...T, 'traefik.frontend.rule': 'Host:a.com,b.com' }, routes: [{ service: 'app', rule: 'Host(`a.com`, `b.com`)' }] },
    {
      name: 'Host and PathPrefix',
      labels: { ...T, 'traefik.frontend.rule': 'Host:a.com;PathPrefix:/api' },
      routes: [{ service: 'app', rule: 'Host(`a.com`) && PathPrefix(`/api`)' }],
    },
    {
      name: 'PathPrefixStrip: routed, with a note',
      labels: { ...T, 'traefik.frontend.rule': 'Host:a.com;PathPrefixStrip:/api' },
      routes: [{ service: 'app', rule: 'Host(`a.com`) && PathPrefix(`/api`)' }],
      problems: [/^traefik\.frontend\.rule: PathPrefixStrip strips the path prefix, which baton does not do.*\(still routed\)$/],
    },
    {
      name: 'backend, port, health, priority',
      labels: {
        ...T,
        'traefik.frontend.rule': 'Host:old.test',
        'traefik.backend': 'Legacy App',
        'traefik.port': '80',
        'traefik.backend.healthcheck.path': '/status',
        'traefik.backend.healthcheck.interval': '30s',
        'traefik.frontend.priority': '20',
      },
      c: { exposedPorts: ['80/tcp', '443/tcp'] },
      routes: [{ service: 'Legacy-App', rule: 'Host(`old.test`)', priority: 20, url: `http://${IP}:80`, healthCheck: { path: '/status', interval: 30_000 } }],
    },
    {
      name: 'v1 passHostHeader',
      labels: { ...T, 'traefik.frontend.passHostHeader': 'false' },
      routes: [{ service: 'app', rule: 'Host(`app`)', passHostHeader: false }],
    },
    {
      name: 'baton.rule beats v1 rule',
      labels: { ...ON, 'baton.rule': 'Host(`new.test`)', 'traefik.frontend.rule': 'Host:old.test' },
      routes: [{ service: 'app', rule: 'Host(`new.test`)' }],
    },
    {
      name: 'baton.service beats traefik.backend',
      labels: { ...ON, 'baton.service': 'new', 'traefik.backend': 'old' },
      routes: [{ service: 'new', rule: 'Host(`new`)' }],
    },
    {
      name: 'traefik.backend beats compose service',
      labels: { ...T, 'traefik.backend': 'old', 'com.docker.compose.service': 'web' },
      routes: [{ service: 'old', rule: 'Host(`old`)' }],
    },
    { name: 'unknown matcher', labels: { ...T, 'traefik.frontend.rule': 'Foo:bar' }, problems: [/^traefik\.frontend\.rule: cannot translate .*unknown matcher "Foo"/] },
    { name: 'empty value', labels: { ...T, 'traefik.frontend.rule': 'Host:' }, problems: [/^traefik\.frontend\.rule: cannot translate .*empty value/] },
    { name: 'not v1 syntax', labels: { ...T, 'traefik.frontend.rule': 'a.com' }, problems: [/^traefik\.frontend\.rule: cannot translate .*expected "Matcher:value"/] },
    {
      name: 'translates but does not parse',
      labels: { ...T, 'traefik.frontend.rule': 'Path:api' },
      problems: [/^traefik\.frontend\.rule: invalid rule "Path\(`api`\)": Path argument must start with '\/'/],
    },
  ]);
});

t.test('HTTPS labels: entrypoints and TLS', async (t) => {
  const T = { 'traefik.enable': 'true' };
  const R = 'traefik.http.routers.web';
  const host = { ...T, [`${R}.rule`]: 'Host(`a.test`)' };
  const route = (extra: Partial<Want> = {}): Want[] => [{ service: 'app', rule: 'Host(`a.test`)', ...extra }];
  const KNOWN = { entrypoints: ['websecure', 'web'], certResolvers: ['le'] };
  check(t, [
    // Traefik v2/v3 router labels, each alone
    { name: 'entrypoints', labels: { ...host, [`${R}.entrypoints`]: 'web,websecure' }, routes: route({ entrypoints: ['web', 'websecure'] }) },
    { name: 'entrypoints: spaces, duplicates', labels: { ...host, [`${R}.entrypoints`]: ' web , websecure,web' }, routes: route({ entrypoints: ['web', 'websecure'] }) },
    { name: 'entrypoints: key case-insensitive', labels: { ...host, [`${R}.entryPoints`]: 'websecure' }, routes: route({ entrypoints: ['websecure'] }) },
    { name: 'tls=true', labels: { ...host, [`${R}.tls`]: 'true' }, routes: route({ tls: { domains: [] } }) },
    { name: 'tls=TRUE, key case-insensitive', labels: { ...host, 'traefik.http.routers.Web.TLS': 'TRUE' }, routes: route({ tls: { domains: [] } }) },
    { name: 'tls=false: no TLS', labels: { ...host, [`${R}.tls`]: 'false' }, routes: route() },
    { name: 'certresolver implies TLS', labels: { ...host, [`${R}.tls.certResolver`]: 'le' }, routes: route({ tls: { certResolver: 'le', domains: [] } }) },
    { name: 'options implies TLS', labels: { ...host, [`${R}.tls.options`]: 'modern' }, routes: route({ tls: { options: 'modern', domains: [] } }) },
    { name: 'options@file: baton config is the file', labels: { ...host, [`${R}.tls.options`]: 'modern@file' }, routes: route({ tls: { options: 'modern', domains: [] } }) },
    {
      name: 'domains imply TLS; names normalised',
      labels: { ...host, [`${R}.tls.domains[0].main`]: 'Example.COM.', [`${R}.tls.domains[0].sans`]: 'a.example.com, *.example.com,a.example.com' },
      routes: route({ tls: { domains: [{ main: 'example.com', sans: ['a.example.com', '*.example.com'] }] } }),
    },
    { name: 'main without sans', labels: { ...host, [`${R}.tls.domains[0].main`]: 'example.com' }, routes: route({ tls: { domains: [{ main: 'example.com', sans: [] }] } }) },
    {
      name: 'several domains, in index order',
      labels: { ...host, [`${R}.tls.domains[1].main`]: 'b.test', [`${R}.tls.domains[0].main`]: 'a.test', [`${R}.tls.domains[1].sans`]: 'www.b.test' },
      routes: route({ tls: { domains: [{ main: 'a.test', sans: [] }, { main: 'b.test', sans: ['www.b.test'] }] } }),
    },
    {
      name: 'everything together',
      labels: {
        ...host,
        [`${R}.entrypoints`]: 'websecure',
        [`${R}.tls`]: 'true',
        [`${R}.tls.certresolver`]: 'le',
        [`${R}.tls.options`]: 'modern',
        [`${R}.tls.domains[0].main`]: 'a.test',
        [`${R}.tls.domains[0].sans`]: '*.a.test',
      },
      opts: KNOWN,
      routes: route({ entrypoints: ['websecure'], tls: { domains: [{ main: 'a.test', sans: ['*.a.test'] }], certResolver: 'le', options: 'modern' } }),
    },
    // several routers
    {
      name: 'routers of different services: each its own entrypoints and TLS',
      labels: {
        ...T,
        'traefik.http.routers.site.rule': 'Host(`site.test`)',
        'traefik.http.routers.site.service': 'site',
        'traefik.http.routers.site.entrypoints': 'websecure',
        'traefik.http.routers.site.tls.certresolver': 'le',
        'traefik.http.routers.admin.rule': 'Host(`admin.test`)',
        'traefik.http.routers.admin.service': 'admin',
        'traefik.http.routers.admin.entrypoints': 'internal',
        'traefik.http.services.site.loadbalancer.server.port': '8080',
        'traefik.http.services.admin.loadbalancer.server.port': '9090',
      },
      c: { exposedPorts: ['8080/tcp', '9090/tcp'] },
      routes: [
        { service: 'admin', rule: 'Host(`admin.test`)', url: `http://${IP}:9090`, entrypoints: ['internal'] },
        { service: 'site', rule: 'Host(`site.test`)', entrypoints: ['websecure'], tls: { certResolver: 'le', domains: [] } },
      ],
    },
    {
      name: 'routers of one service, same settings: domains add up',
      labels: {
        ...T,
        'traefik.http.routers.a.rule': 'Host(`a.test`)',
        'traefik.http.routers.a.entrypoints': 'websecure',
        'traefik.http.routers.a.tls.certresolver': 'le',
        'traefik.http.routers.a.tls.domains[0].main': 'a.test',
        'traefik.http.routers.b.rule': 'Host(`b.test`)',
        'traefik.http.routers.b.entrypoints': 'websecure',
        'traefik.http.routers.b.tls.certresolver': 'le',
        'traefik.http.routers.b.tls.domains[0].main': 'b.test',
        'traefik.http.routers.b.tls.domains[1].main': 'a.test',
      },
      routes: [
        {
          service: 'app',
          rule: '(Host(`a.test`)) || (Host(`b.test`))',
          entrypoints: ['websecure'],
          tls: { domains: [{ main: 'a.test', sans: [] }, { main: 'b.test', sans: [] }], certResolver: 'le' },
        },
      ],
    },
    {
      name: 'routers of one service, different entrypoints: one route each',
      labels: { ...T, 'traefik.http.routers.a.entrypoints': 'internal', 'traefik.http.routers.b.entrypoints': 'web' },
      routes: [
        {
          service: 'app',
          rule: 'Host(`app`)',
          entrypoints: ['internal'],
          routes: [
            { name: 'a', rule: 'Host(`app`)', entrypoints: ['internal'] },
            { name: 'b', rule: 'Host(`app`)', entrypoints: ['web'] },
          ],
        },
      ],
    },
    {
      name: 'routers of one service, entrypoints on one only: one route each',
      labels: { ...T, 'traefik.http.routers.a.entrypoints': 'web', 'traefik.http.routers.b.rule': 'Host(`b.test`)' },
      routes: [
        {
          service: 'app',
          rule: 'Host(`app`)',
          entrypoints: ['web'],
          routes: [
            { name: 'a', rule: 'Host(`app`)', entrypoints: ['web'] },
            { name: 'b', rule: 'Host(`b.test`)' },
          ],
        },
      ],
    },
    {
      name: 'routers of one service, entrypoints in another order: the same',
      labels: { ...T, 'traefik.http.routers.a.entrypoints': 'web,websecure', 'traefik.http.routers.b.entrypoints': 'websecure,web' },
      routes: [{ service: 'app', rule: 'Host(`app`)', entrypoints: ['web', 'websecure'] }],
    },
    {
      name: 'the usual pair: web and websecure routers to one service',
      labels: {
        ...T,
        'traefik.http.routers.shop.rule': 'Host(`shop.example.com`)',
        'traefik.http.routers.shop.entrypoints': 'web',
        'traefik.http.routers.shop-secure.rule': 'Host(`shop.example.com`)',
        'traefik.http.routers.shop-secure.entrypoints': 'websecure',
        'traefik.http.routers.shop-secure.tls.certresolver': 'le',
        'traefik.http.services.shop.loadbalancer.server.port': '8080',
      },
      opts: KNOWN,
      routes: [
        {
          service: 'shop',
          rule: 'Host(`shop.example.com`)',
          entrypoints: ['web'],
          routes: [
            { name: 'shop', rule: 'Host(`shop.example.com`)', entrypoints: ['web'] },
            { name: 'shop-secure', rule: 'Host(`shop.example.com`)', entrypoints: ['websecure'], tls: { domains: [], certResolver: 'le' } },
          ],
        },
      ],
    },
    {
      name: 'the usual pair, with .service=shop and no services label',
      labels: {
        ...T,
        'traefik.http.routers.shop-secure.rule': 'Host(`shop.example.com`)',
        'traefik.http.routers.shop-secure.service': 'shop',
        'traefik.http.routers.shop-secure.entrypoints': 'websecure',
        'traefik.http.routers.shop-secure.tls.certresolver': 'le',
        'traefik.http.routers.shop.rule': 'Host(`shop.example.com`)',
        'traefik.http.routers.shop.service': 'shop',
        'traefik.http.routers.shop.entrypoints': 'web',
      },
      routes: [
        {
          service: 'shop',
          rule: 'Host(`shop.example.com`)',
          entrypoints: ['web'],
          routes: [
            { name: 'shop', rule: 'Host(`shop.example.com`)', entrypoints: ['web'] },
            { name: 'shop-secure', rule: 'Host(`shop.example.com`)', entrypoints: ['websecure'], tls: { domains: [], certResolver: 'le' } },
          ],
        },
      ],
    },
    {
      name: 'three routers, two agree: still one route each',
      labels: {
        ...T,
        'traefik.http.routers.c.rule': 'Host(`c.test`)',
        'traefik.http.routers.c.entrypoints': 'websecure',
        'traefik.http.routers.c.tls.domains[0].main': 'c.test',
        'traefik.http.routers.a.rule': 'Host(`a.test`)',
        'traefik.http.routers.a.entrypoints': 'web',
        'traefik.http.routers.b.rule': 'Host(`b.test`)',
        'traefik.http.routers.b.entrypoints': 'web',
      },
      routes: [
        {
          service: 'app',
          rule: 'Host(`a.test`)',
          entrypoints: ['web'],
          routes: [
            { name: 'a', rule: 'Host(`a.test`)', entrypoints: ['web'] },
            { name: 'b', rule: 'Host(`b.test`)', entrypoints: ['web'] },
            { name: 'c', rule: 'Host(`c.test`)', entrypoints: ['websecure'], tls: { domains: [{ main: 'c.test', sans: [] }] } },
          ],
        },
      ],
    },
    {
      name: 'routers of one service, TLS on one only: one route each',
      labels: {
        ...T,
        'traefik.http.routers.plain.rule': 'Host(`a.test`)',
        'traefik.http.routers.secure.rule': 'Host(`a.test`)',
        'traefik.http.routers.secure.tls.certresolver': 'le',
      },
      routes: [
        {
          service: 'app',
          rule: 'Host(`a.test`)',
          routes: [
            { name: 'plain', rule: 'Host(`a.test`)' },
            { name: 'secure', rule: 'Host(`a.test`)', tls: { domains: [], certResolver: 'le' } },
          ],
        },
      ],
    },
    {
      name: 'routers of one service, TLS first: the top-level fields are the first router\'s',
      labels: { ...T, 'traefik.http.routers.a.tls': 'true', 'traefik.http.routers.b.rule': 'Host(`b.test`)' },
      routes: [{ service: 'app', rule: 'Host(`app`)', tls: { domains: [] }, routes: [{ name: 'a', rule: 'Host(`app`)', tls: { domains: [] } }, { name: 'b', rule: 'Host(`b.test`)' }] }],
    },
    {
      name: 'routers of one service, different resolvers: one route each',
      labels: { ...T, 'traefik.http.routers.a.tls.certresolver': 'le', 'traefik.http.routers.b.tls.certresolver': 'zerossl' },
      routes: [
        {
          service: 'app',
          rule: 'Host(`app`)',
          tls: { domains: [], certResolver: 'le' },
          routes: [
            { name: 'a', rule: 'Host(`app`)', tls: { domains: [], certResolver: 'le' } },
            { name: 'b', rule: 'Host(`app`)', tls: { domains: [], certResolver: 'zerossl' } },
          ],
        },
      ],
    },
    {
      name: 'routers of one service, different options: one route each',
      labels: { ...T, 'traefik.http.routers.a.tls': 'true', 'traefik.http.routers.b.tls.options': 'modern' },
      routes: [
        {
          service: 'app',
          rule: 'Host(`app`)',
          tls: { domains: [] },
          routes: [
            { name: 'a', rule: 'Host(`app`)', tls: { domains: [] } },
            { name: 'b', rule: 'Host(`app`)', tls: { domains: [], options: 'modern' } },
          ],
        },
      ],
    },
    {
      name: 'routers that differ: an invalid rule on one is still a problem',
      labels: {
        ...T,
        'traefik.http.routers.shop.rule': 'Host(`shop.example.com`)',
        'traefik.http.routers.shop.entrypoints': 'web',
        'traefik.http.routers.shop-secure.rule': 'Host(shop.example.com',
        'traefik.http.routers.shop-secure.entrypoints': 'websecure',
      },
      problems: [/^traefik\.http\.routers\.shop-secure\.rule: invalid rule: /],
    },
    {
      name: 'routers that differ: a bad entrypoint on one is still a problem',
      labels: { ...T, 'traefik.http.routers.a.entrypoints': 'web', 'traefik.http.routers.b.entrypoints': 'nope' },
      opts: KNOWN,
      problems: [/^traefik\.http\.routers\.b\.entrypoints: entrypoint "nope" does not exist; known: web, websecure$/],
    },
    {
      name: 'baton.rule: one route; the routers must then agree',
      labels: {
        ...T,
        'baton.rule': 'Host(`shop.test`)',
        'traefik.http.routers.shop.entrypoints': 'web',
        'traefik.http.routers.shop-secure.entrypoints': 'websecure',
      },
      problems: [/^routers of service app differ in entrypoints \(shop-secure: websecure; shop: web\); set baton\.entrypoints, or give each router its own service/],
    },
    {
      name: 'baton.rule and baton.entrypoints: one route',
      labels: {
        ...T,
        'baton.rule': 'Host(`shop.test`)',
        'baton.entrypoints': 'websecure',
        'traefik.http.routers.shop.rule': 'Host(`a.test`)',
        'traefik.http.routers.shop.entrypoints': 'web',
        'traefik.http.routers.shop-secure.rule': 'Host(`b.test`)',
        'traefik.http.routers.shop-secure.entrypoints': 'websecure',
      },
      routes: [{ service: 'app', rule: 'Host(`shop.test`)', entrypoints: ['websecure'] }],
    },
    {
      name: 'baton.entrypoints: one route; routers that also differ in TLS must agree',
      labels: {
        ...T,
        'baton.entrypoints': 'websecure',
        'traefik.http.routers.plain.entrypoints': 'web',
        'traefik.http.routers.secure.tls.certresolver': 'le',
      },
      problems: [/^routers of service app differ in TLS \(plain: no TLS; secure: TLS, certresolver le\); set baton\.tls/],
    },
    {
      name: 'baton labels settle routers that differ',
      labels: {
        ...ON,
        'baton.entrypoints': 'websecure',
        'baton.tls': 'true',
        'traefik.http.routers.a.entrypoints': 'internal',
        'traefik.http.routers.b.entrypoints': 'web',
        'traefik.http.routers.b.tls.certresolver': 'le',
      },
      routes: [{ service: 'app', rule: 'Host(`app`)', entrypoints: ['websecure'], tls: { domains: [] } }],
    },
    // Traefik v1
    { name: 'v1 entryPoints', labels: { ...T, 'traefik.frontend.entryPoints': 'http,https' }, routes: [{ service: 'app', rule: 'Host(`app`)', entrypoints: ['http', 'https'] }] },
    {
      name: 'v1 entryPoints with a v1 rule',
      labels: { ...T, 'traefik.frontend.rule': 'Host:old.test', 'traefik.frontend.entryPoints': 'https' },
      routes: [{ service: 'app', rule: 'Host(`old.test`)', entrypoints: ['https'] }],
    },
    { name: 'v1 entryPoints: routers win', labels: { ...host, [`${R}.entrypoints`]: 'websecure', 'traefik.frontend.entryPoints': 'http' }, routes: route({ entrypoints: ['websecure'] }) },
    { name: 'v1 entryPoints: not with v2 routers', labels: { ...host, 'traefik.frontend.entryPoints': 'http' }, routes: route() },
    { name: 'v1 entryPoints, unknown', labels: { ...T, 'traefik.frontend.entryPoints': 'http,https' }, opts: KNOWN, problems: [/^traefik\.frontend\.entryPoints: entrypoint "http" does not exist; known: web, websecure$/, /entrypoint "https" does not exist/] },
    { name: 'v1 entryPoints, bad name', labels: { ...T, 'traefik.frontend.entryPoints': 'http https' }, problems: [/^traefik\.frontend\.entryPoints: entrypoint names are letters, digits, '_' and '-', got "http https"$/] },
    // baton's own
    { name: 'baton.entrypoints', labels: { ...ON, 'baton.entrypoints': 'web,websecure' }, routes: [{ service: 'app', rule: 'Host(`app`)', entrypoints: ['web', 'websecure'] }] },
    { name: 'baton.tls=true', labels: { ...ON, 'baton.tls': 'true' }, routes: [{ service: 'app', rule: 'Host(`app`)', tls: { domains: [] } }] },
    { name: 'baton.tls=false', labels: { ...ON, 'baton.tls': 'false' }, routes: [{ service: 'app', rule: 'Host(`app`)' }] },
    { name: 'baton.tls.certresolver', labels: { ...ON, 'baton.tls.certresolver': 'le' }, opts: KNOWN, routes: [{ service: 'app', rule: 'Host(`app`)', tls: { certResolver: 'le', domains: [] } }] },
    {
      name: 'baton.tls.domains and .options',
      labels: { ...ON, 'baton.tls.domains[0].main': 'a.test', 'baton.tls.domains[0].sans': 'b.test', 'baton.tls.options': 'modern' },
      routes: [{ service: 'app', rule: 'Host(`app`)', tls: { domains: [{ main: 'a.test', sans: ['b.test'] }], options: 'modern' } }],
    },
    { name: 'baton.entrypoints beats the routers', labels: { ...host, 'baton.entrypoints': 'web', [`${R}.entrypoints`]: 'websecure' }, routes: route({ entrypoints: ['web'] }) },
    { name: 'baton.entrypoints beats v1', labels: { ...ON, 'baton.entrypoints': 'web', 'traefik.frontend.entryPoints': 'http' }, routes: [{ service: 'app', rule: 'Host(`app`)', entrypoints: ['web'] }] },
    { name: 'baton.tls=false beats router TLS', labels: { ...host, 'baton.tls': 'false', [`${R}.tls.certresolver`]: 'le' }, routes: route() },
    {
      name: "baton.tls* replace the router's TLS as a whole",
      labels: { ...host, 'baton.tls.certresolver': 'le', [`${R}.tls.domains[0].main`]: 'a.test', [`${R}.tls.options`]: 'modern' },
      routes: route({ tls: { certResolver: 'le', domains: [] } }),
    },
    {
      name: 'baton.entrypoints and baton.tls apply to every service',
      labels: {
        ...ON,
        'baton.entrypoints': 'websecure',
        'baton.tls': 'true',
        'traefik.http.services.api.loadbalancer.server.port': '8080',
        'traefik.http.services.ops.loadbalancer.server.port': '9090',
      },
      routes: [
        { service: 'api', rule: 'Host(`api`)', entrypoints: ['websecure'], tls: { domains: [] } },
        { service: 'ops', rule: 'Host(`ops`)', url: `http://${IP}:9090`, entrypoints: ['websecure'], tls: { domains: [] } },
      ],
    },
    // known names
    { name: 'known entrypoints', labels: { ...host, [`${R}.entrypoints`]: 'web,websecure' }, opts: KNOWN, routes: route({ entrypoints: ['web', 'websecure'] }) },
    { name: 'unknown entrypoint, names not checked', labels: { ...host, [`${R}.entrypoints`]: 'x' }, routes: route({ entrypoints: ['x'] }) },
    { name: 'unknown entrypoint', labels: { ...host, [`${R}.entrypoints`]: 'web,x' }, opts: KNOWN, problems: [/^traefik\.http\.routers\.web\.entrypoints: entrypoint "x" does not exist; known: web, websecure$/] },
    { name: 'unknown baton entrypoint', labels: { ...ON, 'baton.entrypoints': 'x' }, opts: KNOWN, problems: [/^baton\.entrypoints: entrypoint "x" does not exist; known: web, websecure$/] },
    { name: 'entrypoint, none known', labels: { ...ON, 'baton.entrypoints': 'web' }, opts: { entrypoints: [] }, problems: [/^baton\.entrypoints: entrypoint "web" does not exist; known: none$/] },
    { name: 'entrypoint names are case-sensitive', labels: { ...ON, 'baton.entrypoints': 'Web' }, opts: KNOWN, problems: [/entrypoint "Web" does not exist/] },
    { name: 'unknown resolver, names not checked', labels: { ...host, [`${R}.tls.certresolver`]: 'zerossl' }, routes: route({ tls: { certResolver: 'zerossl', domains: [] } }) },
    {
      name: 'unknown resolver',
      labels: { ...host, [`${R}.tls.certresolver`]: 'zerossl' },
      opts: KNOWN,
      problems: [/^traefik\.http\.routers\.web\.tls\.certresolver: certificate resolver "zerossl" does not exist; known: le$/],
    },
    { name: 'unknown baton resolver', labels: { ...ON, 'baton.tls.certresolver': 'x' }, opts: { certResolvers: [] }, problems: [/^baton\.tls\.certresolver: certificate resolver "x" does not exist; known: none$/] },
    // problems
    { name: 'bad tls boolean', labels: { ...host, [`${R}.tls`]: 'yes' }, problems: [/^traefik\.http\.routers\.web\.tls: expected true or false, got "yes"$/] },
    { name: 'bad baton.tls boolean', labels: { ...ON, 'baton.tls': '1' }, problems: [/^baton\.tls: expected true or false, got "1"$/] },
    { name: 'bad entrypoint name', labels: { ...host, [`${R}.entrypoints`]: 'web;websecure' }, problems: [/^traefik\.http\.routers\.web\.entrypoints: entrypoint names are letters, digits, '_' and '-', got "web;websecure"$/] },
    { name: 'empty entrypoint in the list', labels: { ...ON, 'baton.entrypoints': 'web,,websecure' }, problems: [/^baton\.entrypoints: entrypoint names .*got ""$/] },
    { name: 'bad resolver name', labels: { ...host, [`${R}.tls.certresolver`]: 'le@file' }, problems: [/^traefik\.http\.routers\.web\.tls\.certresolver: certificate resolver names are letters, digits, '_' and '-', got "le@file"$/] },
    { name: 'bad options name', labels: { ...ON, 'baton.tls.options': 'modern@docker' }, problems: [/^baton\.tls\.options: TLS options names are letters, digits, '_' and '-', got "modern@docker"$/] },
    {
      name: 'bad main domain',
      labels: { ...host, [`${R}.tls.domains[0].main`]: 'exa mple.com' },
      problems: [/^traefik\.http\.routers\.web\.tls\.domains\[0\]\.main: expected a DNS name like "example\.com" or "\*\.example\.com", got "exa mple\.com"$/],
    },
    {
      name: 'bad san',
      labels: { ...host, [`${R}.tls.domains[0].main`]: 'a.test', [`${R}.tls.domains[0].sans`]: 'b.test,http://c.test' },
      problems: [/^traefik\.http\.routers\.web\.tls\.domains\[0\]\.sans: expected a DNS name .*got "http:\/\/c\.test"$/],
    },
    { name: 'empty san', labels: { ...ON, 'baton.tls.domains[0].main': 'a.test', 'baton.tls.domains[0].sans': 'b.test,' }, problems: [/^baton\.tls\.domains\[0\]\.sans: expected a DNS name .*got ""$/] },
    { name: 'bad baton domain', labels: { ...ON, 'baton.tls.domains[0].main': '*' }, problems: [/^baton\.tls\.domains\[0\]\.main: expected a DNS name/] },
    {
      name: 'tls=false with a certresolver',
      labels: { ...host, [`${R}.tls`]: 'false', [`${R}.tls.certresolver`]: 'le' },
      problems: [/^traefik\.http\.routers\.web\.tls: false contradicts traefik\.http\.routers\.web\.tls\.certresolver \(any tls\.\* label turns TLS on\)$/],
    },
    {
      name: 'baton.tls=false with domains and options',
      labels: { ...ON, 'baton.tls': 'false', 'baton.tls.domains[0].main': 'a.test', 'baton.tls.options': 'modern' },
      problems: [/^baton\.tls: false contradicts baton\.tls\.domains\[0\]\.main, baton\.tls\.options \(any tls\.\* label turns TLS on\)$/],
    },
    {
      name: 'a gap in the domains',
      labels: { ...host, [`${R}.tls.domains[0].main`]: 'a.test', [`${R}.tls.domains[2].main`]: 'c.test' },
      problems: [/^traefik\.http\.routers\.web\.tls\.domains\[2\]\.main: domains\[1\] is missing \(domains are numbered from 0 without gaps\)$/],
    },
    { name: 'domains from 1', labels: { ...ON, 'baton.tls.domains[1].main': 'a.test' }, problems: [/^baton\.tls\.domains\[1\]\.main: domains\[0\] is missing/] },
    {
      name: 'sans without main',
      labels: { ...host, [`${R}.tls.domains[0].main`]: 'a.test', [`${R}.tls.domains[1].sans`]: 'b.test' },
      problems: [/^traefik\.http\.routers\.web\.tls\.domains\[1\]\.sans: no domains\[1\]\.main for these sans$/],
    },
    { name: 'unknown tls field', labels: { ...host, [`${R}.tls.passthrough`]: 'true' }, problems: [/^traefik\.http\.routers\.web\.tls\.passthrough: unknown TLS label \(tls, tls\.certresolver, tls\.options, tls\.domains\[n\]\.main or \.sans\)$/] },
    { name: 'unknown baton tls field', labels: { ...ON, 'baton.tls.certresolvers': 'le' }, problems: [/^baton\.tls\.certresolvers: unknown TLS label/] },
    { name: 'index with a leading zero', labels: { ...ON, 'baton.tls.domains[01].main': 'a.test' }, problems: [/^baton\.tls\.domains\[01\]\.main: unknown TLS label/] },
    { name: 'a label merely starting with baton.tls is not TLS', labels: { ...ON, 'baton.tlsx': 'true' }, routes: [{ service: 'app', rule: 'Host(`app`)' }] },
    {
      name: 'several problems reported together',
      labels: { ...host, [`${R}.entrypoints`]: 'x', [`${R}.tls.certresolver`]: 'y', [`${R}.tls.domains[0].main`]: 'bad domain' },
      opts: KNOWN,
      problems: [/entrypoint "x" does not exist/, /certificate resolver "y" does not exist/, /expected a DNS name/],
    },
  ]);
  t.same(serviceNamesOf(ctr({ labels: { ...ON, 'baton.entrypoints': 'x' } }), { ...OPTS, ...KNOWN }), [], 'serviceNamesOf: unknown entrypoint');
  t.same(serviceNamesOf(ctr({ labels: { ...ON, 'baton.entrypoints': 'x' } }), OPTS), ['app'], 'serviceNamesOf: names not checked');
});

t.test('dockerSnapshot carries entrypoints and TLS from the oldest container', async (t) => {
  const labels = { ...ON, 'baton.service': 'web', 'baton.entrypoints': 'websecure', 'baton.tls.certresolver': 'le' };
  const old = ctr({ name: 'old', labels, created: '2024-05-01T10:00:00Z' });
  const young = ctr({ name: 'young', id: 'b'.repeat(64), labels: { ...ON, 'baton.service': 'web' }, created: '2024-06-01T10:00:00Z' });
  const plain = ctr({ name: 'plain', id: 'c'.repeat(64), labels: ON });
  const routes = [young, old, plain].flatMap((c) => routesForContainer(c, OPTS).routes);
  const snap = dockerSnapshot(routes);
  const web = snap.services.find((s) => s.name === 'web')!;
  t.same(web.entrypoints, ['websecure']);
  t.same(web.tls, { certResolver: 'le', domains: [] });
  t.same(web.upstreams.map((u) => u.id), ['web@old', 'web@young']);
  const app = snap.services.find((s) => s.name === 'plain')!;
  t.equal(app.entrypoints, undefined, 'no entrypoints label: every entrypoint');
  t.equal(app.tls, undefined, 'no TLS label: no TLS');
  const flipped = dockerSnapshot([young, old].flatMap((c) => routesForContainer({ ...c, created: c === old ? '2025-01-01T00:00:00Z' : c.created }, OPTS).routes));
  t.equal(flipped.services[0].entrypoints, undefined, 'the oldest container decides');
});

t.test('dockerSnapshot carries the routes of routers that differ', async (t) => {
  const labels = {
    'traefik.enable': 'true',
    'traefik.http.routers.shop.rule': 'Host(`shop.example.com`)',
    'traefik.http.routers.shop.entrypoints': 'web',
    'traefik.http.routers.shop-secure.rule': 'Host(`shop.example.com`)',
    'traefik.http.routers.shop-secure.entrypoints': 'websecure',
    'traefik.http.routers.shop-secure.tls.certresolver': 'le',
    'traefik.http.services.shop.loadbalancer.server.port': '8080',
  };
  const a = ctr({ name: 'shop-1', labels });
  const b = ctr({ name: 'shop-2', id: 'b'.repeat(64), labels, created: '2024-06-01T10:00:00Z' });
  const plain = ctr({ name: 'plain', id: 'c'.repeat(64), labels: ON });
  const snap = dockerSnapshot([b, a, plain].flatMap((c) => routesForContainer(c, OPTS).routes));
  const shop = snap.services.find((s) => s.name === 'shop')!;
  t.strictSame(shop.routes, [
    { name: 'shop', rule: 'Host(`shop.example.com`)', entrypoints: ['web'] },
    { name: 'shop-secure', rule: 'Host(`shop.example.com`)', entrypoints: ['websecure'], tls: { domains: [], certResolver: 'le' } },
  ]);
  t.equal(shop.rule, 'Host(`shop.example.com`)', 'rule: the first router\'s, for display');
  t.same(shop.entrypoints, ['web']);
  t.same(shop.upstreams.map((u) => u.id), ['shop@shop-1', 'shop@shop-2']);
  t.notOk('routes' in snap.services.find((s) => s.name === 'plain')!, 'one route: no routes');
});

t.test('translateV1Rule', async (t) => {
  const ok: Array<[string, string, number?]> = [
    ['Host:a.com', 'Host(`a.com`)'],
    ['Host: a.com, b.com', 'Host(`a.com`, `b.com`)'],
    ['host:a.com', 'Host(`a.com`)'],
    ['Host:a.com;PathPrefix:/api', 'Host(`a.com`) && PathPrefix(`/api`)'],
    ['Host:a.com; Path:/x,/y; Method:GET,POST', 'Host(`a.com`) && Path(`/x`, `/y`) && Method(`GET`, `POST`)'],
    ['PathPrefixStrip:/api', 'PathPrefix(`/api`)', 1],
    ['PathStrip:/api', 'Path(`/api`)', 1],
    ['Headers:X-Env,prod', 'Headers(`X-Env`, `prod`)'],
    ['HeadersRegexp:X-Env,^pr', 'HeadersRegexp(`X-Env`, `^pr`)'],
    ['HostRegexp:{sub:[a-z]+}.example.com', 'HostRegexp(`{sub:[a-z]+}.example.com`)'],
    ['HostRegexp:{sub:[a-z]{1,3}}.example.com,example.org', 'HostRegexp(`{sub:[a-z]{1,3}}.example.com`, `example.org`)'],
    ['HostRegexp:example.com', 'HostRegexp(`^example\\.com$`)'],
    ['Path:/users/{id:[0-9]+}', 'PathRegexp(`^/users/(?:[0-9]+)$`)'],
    ['PathPrefix:/u/{name}/', 'PathRegexp(`^/u/[^/]+/`)'],
    ['Path:/v1.0/{id}', 'PathRegexp(`^/v1\\.0/[^/]+$`)'],
    ['Query:a=1,b=2', 'Query(`a=1`) && Query(`b=2`)'],
    ['Host:a.com;AddPrefix:/v1', 'Host(`a.com`)', 1],
    ['Host:a.com;ReplacePath:/x', 'Host(`a.com`)', 1],
    ['Headers:X-Q,a`b', 'Headers(`X-Q`, "a`b")'],
  ];
  for (const [input, rule, notes = 0] of ok) {
    const got = translateV1Rule(input);
    t.ok('rule' in got, `${input} translates`);
    if (!('rule' in got)) continue;
    t.equal(got.rule, rule, input);
    t.equal(got.notes.length, notes, `${input}: ${notes} note(s)`);
    t.doesNotThrow(() => parseRule(got.rule), `${input} → ${got.rule} parses`);
  }
  const bad: Array<[string, RegExp]> = [
    ['', /empty rule/],
    ['Foo:bar', /unknown matcher/],
    ['Host', /expected "Matcher:value"/],
    ['Host:a.com,', /empty value/],
    ['Headers:X-Only', /takes a header name and a value/],
    ['AddPrefix:/v1', /no matcher/],
    ['Path:/a/{id', /unbalanced/],
  ];
  for (const [input, re] of bad) {
    const got = translateV1Rule(input);
    t.ok('error' in got && re.test(got.error), `${JSON.stringify(input)} → ${JSON.stringify(got)}`);
  }
});

t.test('translated v1 rules match as in v1', async (t) => {
  const req = (over: Partial<RequestView>): RequestView => ({
    host: 'example.com', path: '/', query: '', method: 'GET', headers: {}, clientIp: '192.0.2.1', ...over,
  });
  const cases: Array<[string, Partial<RequestView>, boolean]> = [
    ['Host:a.com,b.com', { host: 'b.com' }, true],
    ['Host:a.com,b.com', { host: 'c.com' }, false],
    ['Host:a.com;PathPrefix:/api', { host: 'a.com', path: '/api/x' }, true],
    ['Host:a.com;PathPrefix:/api', { host: 'b.com', path: '/api/x' }, false],
    ['Host:a.com;PathPrefix:/api', { host: 'a.com', path: '/web' }, false],
    ['HostRegexp:{sub:[a-z]+}.example.com', { host: 'abc.example.com' }, true],
    ['HostRegexp:{sub:[a-z]+}.example.com', { host: 'ab1.example.com' }, false],
    ['HostRegexp:my-host.com', { host: 'my-host.com' }, true],
    ['HostRegexp:my-host.com', { host: 'xmy-host.com' }, false],
    ['Path:/users/{id:[0-9]+}', { path: '/users/12' }, true],
    ['Path:/users/{id:[0-9]+}', { path: '/users/12/x' }, false],
    ['PathPrefix:/u/{name}/', { path: '/u/bob/x' }, true],
    ['PathPrefix:/u/{name}/', { path: '/u/' }, false],
    ['Method:GET,POST', { method: 'POST' }, true],
    ['Method:GET,POST', { method: 'PUT' }, false],
    ['Headers:X-Env,prod', { headers: { 'x-env': 'prod' } }, true],
    ['Headers:X-Env,prod', { headers: { 'x-env': 'dev' } }, false],
    ['Query:a=1,b=2', { query: 'a=1&b=2' }, true],
    ['Query:a=1,b=2', { query: 'a=1' }, false],
  ];
  for (const [v1, r, want] of cases) {
    const got = translateV1Rule(v1);
    if (!('rule' in got)) {
      t.fail(`${v1}: ${got.error}`);
      continue;
    }
    t.equal(parseRule(got.rule).matcher(req(r)), want, `${v1} vs ${JSON.stringify(r)}`);
  }
});

t.test('rules must parse', async (t) => {
  check(t, [
    { name: 'baton.rule unparseable', labels: { ...ON, 'baton.rule': 'Host(example.com)' }, problems: [/^baton\.rule: invalid rule: expected a quoted string argument to Host/] },
    { name: 'unknown matcher', labels: { ...ON, 'baton.rule': 'host(`a.test`)' }, problems: [/^baton\.rule: invalid rule: unknown matcher 'host'/] },
    { name: 'wildcard host', labels: { ...ON, 'baton.rule': 'Host(`*.a.test`)' }, problems: [/^baton\.rule: invalid rule: .*wildcards/] },
  ]);
});

t.test('addressing', async (t) => {
  const two = { bridge: IP, backend: '10.1.0.5' };
  check(t, [
    { name: 'only network', labels: ON, c: { networks: { mynet: '10.9.0.2' } }, routes: [{ service: 'app', rule: 'Host(`app`)', url: 'http://10.9.0.2:8080' }] },
    { name: 'network option', labels: ON, c: { networks: two }, opts: { network: 'backend' }, routes: [{ service: 'app', rule: 'Host(`app`)', url: 'http://10.1.0.5:8080' }] },
    { name: 'network option, not attached', labels: ON, opts: { network: 'backend' }, problems: [/^not attached to network backend$/] },
    { name: 'network option, no IP', labels: ON, c: { networks: { backend: '' } }, opts: { network: 'backend' }, problems: [/no IP address on network backend/] },
    {
      name: 'traefik.docker.network beats the option',
      labels: { ...ON, 'traefik.docker.network': 'backend' },
      c: { networks: two },
      opts: { network: 'bridge' },
      routes: [{ service: 'app', rule: 'Host(`app`)', url: 'http://10.1.0.5:8080' }],
    },
    {
      name: 'baton.network, not attached',
      labels: { ...ON, 'baton.network': 'edge' },
      c: { networks: two },
      problems: [/^baton\.network: not attached to network edge$/],
    },
    {
      name: 'compose default network preferred',
      labels: { ...ON, 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'web' },
      c: { networks: { aaa: '10.0.0.1', shop_default: '10.0.5.7', zzz: '10.0.9.9' } },
      routes: [{ service: 'web', rule: 'Host(`web`)', url: 'http://10.0.5.7:8080' }],
    },
    {
      name: 'compose default network without IP: first sorted with one',
      labels: { ...ON, 'com.docker.compose.project': 'shop' },
      c: { networks: { shop_default: '', beta: '10.0.0.2', alpha: '' } },
      routes: [{ service: 'app', rule: 'Host(`app`)', url: 'http://10.0.0.2:8080' }],
    },
    {
      name: 'first network in sorted order',
      labels: ON,
      c: { networks: { zeta: '10.0.0.3', alpha: '10.0.0.4' } },
      routes: [{ service: 'app', rule: 'Host(`app`)', url: 'http://10.0.0.4:8080' }],
    },
    { name: 'network_mode host', labels: ON, c: { networks: { host: '' } }, problems: [/^no IP address \(networks host; network_mode host or none\?\)/] },
    { name: 'no networks at all', labels: ON, c: { networks: {} }, problems: [/^no IP address \(no network/] },
    { name: 'IPv6 container address', labels: ON, c: { networks: { v6: 'fd00::5' } }, routes: [{ service: 'app', rule: 'Host(`app`)', url: 'http://[fd00::5]:8080' }] },
    {
      name: 'published: 0.0.0.0 → 127.0.0.1, IPv4 binding first',
      labels: ON,
      c: { publishedPorts: { '8080/tcp': [{ HostIp: '::', HostPort: '32768' }, { HostIp: '0.0.0.0', HostPort: '32768' }] } },
      opts: { publishedPorts: true },
      routes: [{ service: 'app', rule: 'Host(`app`)', url: 'http://127.0.0.1:32768' }],
    },
    {
      name: 'published: empty HostIp',
      labels: ON,
      c: { publishedPorts: { '8080/tcp': [{ HostIp: '', HostPort: '40000' }] } },
      opts: { publishedPorts: true },
      routes: [{ service: 'app', rule: 'Host(`app`)', url: 'http://127.0.0.1:40000' }],
    },
    {
      name: 'published: :: only → [::1]',
      labels: ON,
      c: { publishedPorts: { '8080/tcp': [{ HostIp: '::', HostPort: '40001' }] } },
      opts: { publishedPorts: true },
      routes: [{ service: 'app', rule: 'Host(`app`)', url: 'http://[::1]:40001' }],
    },
    {
      name: 'published: specific host IP',
      labels: ON,
      c: { publishedPorts: { '8080/tcp': [{ HostIp: '192.168.1.5', HostPort: '8081' }] } },
      opts: { publishedPorts: true },
      routes: [{ service: 'app', rule: 'Host(`app`)', url: 'http://192.168.1.5:8081' }],
    },
    {
      name: 'published: the labelled port',
      labels: { ...ON, 'baton.port': '9090' },
      c: {
        exposedPorts: ['8080/tcp', '9090/tcp'],
        publishedPorts: { '8080/tcp': [{ HostIp: '0.0.0.0', HostPort: '1111' }], '9090/tcp': [{ HostIp: '0.0.0.0', HostPort: '2222' }] },
      },
      opts: { publishedPorts: true },
      routes: [{ service: 'app', rule: 'Host(`app`)', url: 'http://127.0.0.1:2222' }],
    },
    {
      name: 'published: no binding',
      labels: ON,
      c: { publishedPorts: { '8080/tcp': null } },
      opts: { publishedPorts: true },
      problems: [/^port 8080\/tcp is not published on the host/],
    },
    {
      name: 'published: container IPs not used',
      labels: ON,
      c: { publishedPorts: {} },
      opts: { publishedPorts: true, network: 'bridge' },
      problems: [/not published/],
    },
  ]);
});

t.test('runtime state', async (t) => {
  check(t, [
    { name: 'not running', labels: ON, c: { running: false } },
    { name: 'paused', labels: ON, c: { paused: true } },
    { name: 'docker health starting', labels: ON, c: { health: 'starting' } },
    { name: 'docker unhealthy', labels: ON, c: { health: 'unhealthy' } },
    { name: 'docker healthy', labels: ON, c: { health: 'healthy' }, routes: [{ service: 'app', rule: 'Host(`app`)' }] },
    { name: 'stopped with bad labels: no problem', labels: { ...ON, 'baton.port': 'x' }, c: { running: false } },
    { name: 'stopped, no network: no problem', labels: ON, c: { running: false, networks: {} } },
  ]);
});

t.test('compose --scale: same service, own addresses', async (t) => {
  const labels = { ...ON, 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'web' };
  const a = ctr({ name: 'shop-web-1', labels, networks: { shop_default: '10.0.0.2' } });
  const b = ctr({ name: 'shop_web_2', id: 'b'.repeat(64), labels, networks: { shop_default: '10.0.0.3' } });
  const ra = routesForContainer(a, OPTS);
  const rb = routesForContainer(b, OPTS);
  t.same(ra.problems, []);
  t.same(rb.problems, []);
  t.equal(ra.routes[0].service, 'web');
  t.equal(rb.routes[0].service, 'web');
  t.equal(ra.routes[0].rule, rb.routes[0].rule);
  t.equal(ra.routes[0].url, 'http://10.0.0.2:8080');
  t.equal(rb.routes[0].url, 'http://10.0.0.3:8080');
  t.same(serviceNamesOf(a, OPTS), ['web']);
  t.same(serviceNamesOf(b, OPTS), ['web']);
});

t.test('serviceNamesOf', async (t) => {
  const cases: Array<[string, Partial<ContainerView>, string[], Partial<DockerProviderOptions>?]> = [
    ['stopped compose container', { running: false, labels: { ...ON, 'com.docker.compose.service': 'web' } }, ['web']],
    ['stopped, no networks', { running: false, networks: {}, labels: ON }, ['app']],
    ['paused', { paused: true, labels: { ...ON, 'baton.service': 'api' } }, ['api']],
    ['docker unhealthy', { health: 'unhealthy', labels: ON }, ['app']],
    ['not enabled', { running: false, labels: {} }, []],
    ['exposed by default', { running: false, labels: {} }, ['app'], { exposedByDefault: true }],
    ['explicitly disabled', { labels: { 'baton.enable': 'false' } }, [], { exposedByDefault: true }],
    ['bad labels', { running: false, labels: { ...ON, 'baton.rule': 'nope' } }, []],
    ['ambiguous port', { running: false, labels: ON, exposedPorts: ['1/tcp', '2/tcp'] }, []],
    ['published ports not needed', { running: false, labels: ON, publishedPorts: {} }, ['app'], { publishedPorts: true }],
    ['traefik v2 service', { running: false, labels: { 'traefik.enable': 'true', 'traefik.http.routers.r.service': 'api' } }, ['api']],
    ['traefik v1 backend', { running: false, labels: { 'traefik.enable': 'true', 'traefik.backend': 'old_app' } }, ['old-app']],
    [
      'several services: all, sorted by name',
      {
        running: false,
        labels: {
          'traefik.enable': 'true',
          'traefik.http.services.zeta.loadbalancer.server.port': '1',
          'traefik.http.services.alpha.loadbalancer.server.port': '2',
        },
      },
      ['alpha', 'zeta'],
    ],
  ];
  for (const [name, over, want, opts] of cases) t.same(serviceNamesOf(ctr(over), { ...OPTS, ...opts }), want, name);
  const multi = ctr({
    running: false,
    labels: { 'traefik.enable': 'true', 'traefik.http.services.zeta.loadbalancer.server.port': '1', 'traefik.http.services.alpha.loadbalancer.server.port': '2' },
  });
  t.same(serviceNamesOf(multi, OPTS), ['alpha', 'zeta'], 'serviceNamesOf: all services');
  t.same(serviceNamesOf(ctr({ labels: {} }), OPTS), [], 'serviceNamesOf: not routed');
});

t.test('problems never throw, and stay with their container', async (t) => {
  const weird = [
    ctr({ labels: { ...ON, 'baton.rule': '((((((((' } }),
    ctr({ labels: { ...ON, 'traefik.frontend.rule': ';;;' } }),
    ctr({ labels: { ...ON, 'traefik.http.routers..rule': 'Host(`a`)' } }),
    ctr({ labels: { ...ON, 'traefik.http.services.x.loadbalancer.server.port': '' } }),
    ctr({ labels: { ...ON, 'baton.rule': 'Host(`a`)'.repeat(3) } }),
    ctr({ labels: { ...ON, 'baton.rule': '!'.repeat(1000) + 'Host(`a`)' } }),
    ctr({ labels: ON, networks: null as unknown as Record<string, string>, exposedPorts: [] }),
    ctr({ labels: { ...ON, 'baton.port': '8080' }, networks: null as unknown as Record<string, string> }),
    ctr({ labels: { ...ON, 'baton.port': '8080' }, publishedPorts: null as unknown as ContainerView['publishedPorts'] }),
    ctr({ labels: { ...ON, 'baton.tls.domains[99999999999999999999].main': 'a', 'baton.tls.domains[0].sans': ',,,' } }),
    ctr({ labels: { ...ON, 'traefik.http.routers.r.tls.domains[0].main': '', 'traefik.http.routers.r.tls': 'false' } }),
    ctr({ labels: { ...ON, 'baton.entrypoints': ',', 'traefik.frontend.entryPoints': '' } }),
  ];
  for (const c of weird) {
    t.doesNotThrow(() => routesForContainer(c, OPTS), JSON.stringify(c.labels));
    t.doesNotThrow(() => routesForContainer(c, { ...OPTS, publishedPorts: true }), JSON.stringify(c.labels));
    t.doesNotThrow(() => serviceNamesOf(c, OPTS), JSON.stringify(c.labels));
  }
  const good = routesForContainer(ctr({ name: 'good', labels: ON }), OPTS);
  const bad = routesForContainer(ctr({ name: 'bad', labels: { ...ON, 'baton.port': 'x' } }), OPTS);
  t.equal(good.routes.length, 1);
  t.same(good.problems, []);
  t.same(bad.routes, []);
  t.same(bad.problems.map((p) => p.container), ['bad']);
});
