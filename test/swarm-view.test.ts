// Table tests for Swarm services + tasks → rotation → views → snapshot (src/providers/swarm-view.ts, and the label
// logic it shares with the Docker provider read as the Swarm provider's). The JSON in fixtures/swarm-inspect.json
// is GET /services and GET /tasks as a real single-node swarm (Engine 20.10) answered, during a start-first update
// of a 2-replica service, its scale-down, a stop-first update of a 1-replica one and a global service. Pure: no
// engine needed.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { LabelPublisher } from '../src/providers/label-snapshot.ts';
import { routesForContainer, type DockerProviderOptions } from '../src/providers/labels.ts';
import {
  compareTimes,
  imageRefs,
  rotation,
  routable,
  taskName,
  taskNetworks,
  taskView,
  updating,
  type SwarmService,
  type SwarmTask,
} from '../src/providers/swarm-view.ts';
import type { Snapshot } from '../src/upstream/desired.ts';

type Capture = { service: SwarmService; tasks: SwarmTask[] };
const captured = JSON.parse(readFileSync(new URL('./fixtures/swarm-inspect.json', import.meta.url), 'utf8')) as Record<string, Capture>;
const { steady, startFirstPending, startFirstReplaced, scaledDown, stopFirst, global } = captured;

// the tasks of the captures, by their role
const OLD1 = 'bvu8zl8d7fk42a5e7cmnytbw3'; // bt_whoami slot 1, v1
const OLD2 = 'jc93502skjko02eowh6r9fox2'; // bt_whoami slot 2, v1
const NEW1 = '5t3ws41vrzj37oz4c41ao8w7f'; // bt_whoami slot 1, v2 (start-first replacement)
const NEW2 = 'ouhynvmy2vdf2rgob9pxirl0m'; // bt_whoami slot 2, v2
const API_OLD = 'vvytf7jag7iao315r2ble7ols'; // bt_api (1 replica), stop-first: desired shutdown, still running
const AGENT = '0ykggnl7oa22ol3t5oxmi46xl'; // bt_agent, global

const SWARM: DockerProviderOptions = { exposedByDefault: false, network: '', publishedPorts: false, provider: 'swarm' };

function inRotation(c: Capture, extra: Partial<Parameters<typeof rotation>[0]> = {}) {
  const r = rotation({ services: [c.service], tasks: c.tasks, ...extra });
  return { ids: r.tasks.map((x) => x.task.ID), out: Object.fromEntries(r.out), held: Object.fromEntries([...r.held].map(([id, h]) => [id, h.reason])) };
}

function task(c: Capture, id: string): SwarmTask {
  const found = c.tasks.find((x) => x.ID === id);
  if (found === undefined) throw new Error(`no task ${id}`);
  return found;
}

t.test('task names are the container names Swarm gives', async (t) => {
  t.equal(taskName(steady.service, task(steady, OLD1)), `bt_whoami.1.${OLD1}`, 'replicated: <service>.<slot>.<task id>');
  const agent = task(global, AGENT);
  t.equal(agent.Slot, undefined, 'a global task has no slot');
  t.equal(taskName(global.service, agent), `bt_agent.${agent.NodeID}.${AGENT}`, 'global: <service>.<node id>.<task id>');
});

t.test('a task view: the service labels, the task IP per network without ingress or prefix length', async (t) => {
  const old1 = task(steady, OLD1);
  t.strictSame(taskNetworks(old1), { 'bt-explore': '10.0.1.16' }, 'ingress (10.0.0.6) left out, /24 dropped');
  const v = taskView(steady.service, old1, ['8080/tcp']);
  t.match(v, { id: OLD1, name: `bt_whoami.1.${OLD1}`, service: 'bt_whoami', running: true, paused: false, health: null });
  t.strictSame(v.labels, steady.service.Spec!.Labels, "the service's labels, not the container's");
  t.strictSame([v.exposedPorts, v.publishedPorts, v.created], [['8080/tcp'], {}, old1.CreatedAt]);
  const vip = (steady.service as unknown as { Endpoint: { VirtualIPs: Array<{ Addr: string }> } }).Endpoint.VirtualIPs.map((x) => x.Addr.split('/')[0]);
  t.notOk(vip.includes(v.networks['bt-explore']), `never the service's virtual IP (${vip.join(', ')})`);
  const pending = taskView(startFirstPending.service, task(startFirstPending, NEW1), []);
  t.equal(pending.running, false, 'a pending task is not running');
});

t.test('rotation: who leaves, who is held, who stays', async (t) => {
  const rows: Array<{ name: string; got: ReturnType<typeof inRotation>; want: ReturnType<typeof inRotation> }> = [
    { name: 'steady: both replicas', got: inRotation(steady), want: { ids: [OLD1, OLD2], out: {}, held: {} } },
    {
      name: 'start-first, replacement pending: the old task of its slot leaves at once (slot pre-drain)',
      got: inRotation(startFirstPending),
      want: { ids: [OLD2], out: { [OLD1]: `slot 1 replaced by task ${NEW1}` }, held: {} },
    },
    {
      name: 'start-first, while no other task is ready in baton: the replaced one is held',
      got: inRotation(startFirstPending, { ready: (id) => id !== OLD2 }),
      want: { ids: [OLD1, OLD2], out: {}, held: { [OLD1]: `slot 1 replaced by task ${NEW1}` } },
    },
    {
      name: 'start-first, slot 1 done, slot 2 replacement pending',
      got: inRotation(startFirstReplaced),
      want: { ids: [NEW1], out: { [OLD1]: 'desired state shutdown', [OLD2]: `slot 2 replaced by task ${NEW2}` }, held: {} },
    },
    {
      name: 'start-first, the new task still in the health gate: both old ones held, the new one published',
      got: inRotation(startFirstReplaced, { ready: (id) => id !== NEW1 }),
      want: {
        ids: [NEW1, OLD1, OLD2],
        out: {},
        held: { [OLD1]: 'desired state shutdown', [OLD2]: `slot 2 replaced by task ${NEW2}` },
      },
    },
    {
      name: '... but a task that left already is not held back in (the flap a later snapshot would cause)',
      got: inRotation(startFirstReplaced, { ready: (id) => id !== NEW1, left: new Set([OLD1]) }),
      want: { ids: [NEW1, OLD2], out: { [OLD1]: 'desired state shutdown' }, held: { [OLD2]: `slot 2 replaced by task ${NEW2}` } },
    },
    {
      name: 'a task that left comes back once its reason is gone (its replacement failed: a paused update)',
      got: inRotation({ ...startFirstPending, tasks: startFirstPending.tasks.map((x) => (x.ID === NEW1 ? { ...x, DesiredState: 'shutdown', Status: { State: 'failed' } } : x)) }, { left: new Set([OLD1]) }),
      want: { ids: [OLD1, OLD2], out: {}, held: {} },
    },
    {
      name: 'scaled down to 1: desired shutdown / remove leave',
      got: inRotation(scaledDown),
      want: { ids: [NEW1], out: { [OLD1]: 'desired state shutdown', [OLD2]: 'desired state shutdown', [NEW2]: 'desired state remove' }, held: {} },
    },
    {
      name: 'stop-first of a 1-replica service: the last task is held (it still answers until Swarm signals it)',
      got: inRotation(stopFirst),
      want: { ids: [API_OLD], out: {}, held: { [API_OLD]: 'desired state shutdown' } },
    },
    {
      name: '... until the hold expires',
      got: inRotation(stopFirst, { expired: new Set([API_OLD]) }),
      want: { ids: [], out: { [API_OLD]: 'desired state shutdown' }, held: {} },
    },
    {
      name: '... or its container gets a stopping signal',
      got: inRotation(stopFirst, { stopping: new Map([[API_OLD, 'kill (signal 15)']]) }),
      want: { ids: [], out: { [API_OLD]: 'container kill (signal 15)' }, held: {} },
    },
    {
      name: 'a container event takes even the last ready task out',
      got: inRotation(steady, { stopping: new Map([[OLD1, 'kill (signal 15)'], [OLD2, 'die']]) }),
      want: { ids: [], out: { [OLD1]: 'container kill (signal 15)', [OLD2]: 'container die' }, held: {} },
    },
    { name: 'global service: its task', got: inRotation(global), want: { ids: [AGENT], out: {}, held: {} } },
  ];
  for (const row of rows) t.strictSame(row.got, row.want, row.name);

  const stray = rotation({ services: [steady.service], tasks: [...steady.tasks, { ...task(global, AGENT) }] });
  t.strictSame(stray.tasks.map((x) => x.task.ID), [OLD1, OLD2], "a task of a service not listed is ignored");
  // a global service's start-first update: the newer task on the same node replaces the old one
  const agent = task(global, AGENT);
  const newer = { ...agent, ID: 'newagent', CreatedAt: '2026-12-02T01:14:42.1Z', Status: { State: 'starting' } };
  t.strictSame(inRotation({ service: global.service, tasks: [agent, newer] }, { ready: () => false }).held, { [AGENT]: `node ${agent.NodeID} replaced by task newagent` }, 'global: slot = node');
  const failed = { ...newer, Status: { State: 'failed' } };
  t.strictSame(inRotation({ service: global.service, tasks: [agent, failed] }).ids, [AGENT], 'a failed newer task replaces nothing');
});

t.test('times, image refs, update state', async (t) => {
  t.equal(compareTimes('2026-12-02T01:09:10.45861991Z', '2026-12-02T01:09:10.458843212Z'), -1, '8 vs 9 fraction digits');
  t.equal(compareTimes('2026-12-02T01:09:43.34Z', '2026-12-02T01:09:43.341Z'), -1, 'a shorter fraction is not later');
  t.equal(compareTimes('2026-12-02T01:09:44Z', '2026-12-02T01:09:43.999999999Z'), 1, 'no fraction');
  t.equal(compareTimes('2026-12-02T01:09:44.5+01:00', '2026-12-02T00:09:44.5Z'), 0, 'offsets');
  t.strictSame(imageRefs('nginx:1.25@sha256:abc'), ['nginx:1.25@sha256:abc', 'nginx:1.25']);
  t.strictSame(imageRefs('baton-test-app:v1'), ['baton-test-app:v1']);
  t.equal(updating([steady.service]), false);
  t.equal(updating([steady.service, startFirstPending.service]), true, 'UpdateStatus.State updating');
  t.equal(updating([{ ID: 'x', UpdateStatus: { State: 'rollback_started' } }]), true);
  t.equal(updating([{ ID: 'x', UpdateStatus: { State: 'completed' } }]), false);
  t.equal(routable(steady.service, false), true, 'traefik.* labels');
  t.equal(routable({ ID: 'x', Spec: { Labels: { 'com.docker.stack.namespace': 'bt' } } }, false), false, 'no baton/traefik label');
  t.equal(routable({ ID: 'x' }, true), true, 'exposedByDefault');
});

/** The routes of one task of `c` with the service's labels replaced by `labels`, read as the Swarm provider. */
function routes(c: Capture, id: string, labels: Record<string, string>, opts: Partial<DockerProviderOptions> = {}, exposed = ['8080/tcp']) {
  const service = { ...c.service, Spec: { ...c.service.Spec, Labels: labels } };
  const got = routesForContainer(taskView(service, task(c, id), exposed), { ...SWARM, ...opts });
  return { urls: got.routes.map((r) => r.url), services: got.routes.map((r) => r.service), problems: got.problems.map((p) => p.message) };
}

t.test("labels as the Swarm provider reads them: Traefik's swarm labels, the network, the port", async (t) => {
  const whoami = steady.service.Spec!.Labels!;
  t.strictSame(routes(steady, OLD1, whoami), { urls: ['http://10.0.1.16:8080'], services: ['whoami'], problems: [] }, 'the captured traefik.swarm.network labels');
  const web = { 'traefik.enable': 'true', 'traefik.http.routers.web.rule': 'Host(`w.test`)' };
  const twoNets = { ...task(steady, OLD1), NetworksAttachments: [...task(steady, OLD1).NetworksAttachments!, { Network: { ID: 'n2', Spec: { Name: 'bt_backend' } }, Addresses: ['10.0.9.4/24'] }] };
  const two: Capture = { service: steady.service, tasks: [twoNets] };
  const rows: Array<[string, ReturnType<typeof routes>, Partial<ReturnType<typeof routes>>]> = [
    ['no network label, one network (ingress does not count)', routes(steady, OLD1, web), { urls: ['http://10.0.1.16:8080'], services: ['bt-whoami'] }],
    ['traefik.docker.network (Traefik v2 swarm mode)', routes(stopFirst, API_OLD, { ...web, 'traefik.docker.network': 'bt-explore' }), { urls: ['http://10.0.1.21:8080'], services: ['bt-api'] }],
    ['several networks, no label: a problem', routes(two, OLD1, web), { urls: [], problems: ['on several networks (bt-explore, bt_backend); set traefik.swarm.network (or providers.swarm.network) to the one baton reaches it on'] }],
    ['several networks, traefik.swarm.network', routes(two, OLD1, { ...web, 'traefik.swarm.network': 'bt_backend' }), { urls: ['http://10.0.9.4:8080'] }],
    ['baton.network wins', routes(two, OLD1, { ...web, 'traefik.swarm.network': 'bt_backend', 'baton.network': 'bt-explore' }), { urls: ['http://10.0.1.16:8080'] }],
    ['several networks, the network option', routes(two, OLD1, web, { network: 'bt_backend' }), { urls: ['http://10.0.9.4:8080'] }],
    [
      "a stack network named without its stack: the hint",
      routes(two, OLD1, { ...web, 'com.docker.stack.namespace': 'bt', 'traefik.swarm.network': 'backend' }),
      { urls: [], problems: ["traefik.swarm.network: not attached to network backend (a stack's networks are named <stack>_<name>: bt_backend?)"] },
    ],
    ['never the ingress network', routes(steady, OLD1, { ...web, 'traefik.swarm.network': 'ingress' }), { urls: [], problems: ['traefik.swarm.network: not attached to network ingress'] }],
    [
      'only ingress: a problem',
      routes({ service: steady.service, tasks: [{ ...task(steady, OLD1), NetworksAttachments: task(steady, OLD1).NetworksAttachments!.filter((a) => a.Network?.Spec?.Ingress) }] }, OLD1, web),
      { urls: [], problems: ["no IP address on a network other than Swarm's ingress (its routing mesh, which baton never uses); attach the service to an overlay network baton is on"] },
    ],
    [
      'no port label and no exposed port known (image not on this node): a problem naming the label',
      routes(steady, OLD1, web, {}, []),
      { urls: [], problems: ['no TCP port exposed; set baton.port (or traefik.http.services.<name>.loadbalancer.server.port)'] },
    ],
    ['the port label', routes(steady, OLD1, { ...web, 'traefik.http.services.w.loadbalancer.server.port': '9000' }, {}, []), { urls: ['http://10.0.1.16:9000'], services: ['w'] }],
    ['router .service@swarm is its own', routes(steady, OLD1, { ...web, 'traefik.http.routers.web.service': 'api@swarm', 'traefik.http.services.api.loadbalancer.server.port': '8080' }), { services: ['api'], problems: [] }],
    ['not enabled: nothing, silently', routes(steady, OLD1, { 'traefik.http.routers.web.rule': 'Host(`w.test`)' }), { urls: [], problems: [] }],
    ['exposedByDefault', routes(steady, OLD1, {}, { exposedByDefault: true }), { urls: ['http://10.0.1.16:8080'], services: ['bt-whoami'] }],
  ];
  for (const [name, got, want] of rows) t.match(got, want, name);
  // the Docker provider does not read traefik.swarm.network (as Traefik's): the first network with an address
  const docker = routesForContainer(taskView(steady.service, twoNets, ['8080/tcp']), { ...SWARM, provider: 'docker' });
  t.strictSame(docker.routes.map((r) => r.url), ['http://10.0.1.16:8080'], 'docker: traefik.swarm.network is not its label');
});

t.test('one snapshot for the tasks in rotation; published only when it changed; problems once per service', async (t) => {
  const published: Array<{ provider: string; snapshot: Snapshot }> = [];
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(c, _e, cb) { for (const l of c.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l)); cb(); } });
  const registry = { setSnapshot: (provider: string, snapshot: Snapshot) => void published.push({ provider, snapshot }) };
  const publisher = new LabelPublisher({ provider: 'swarm', options: SWARM, registry, log: pino(sink), subject: 'Swarm service' });
  const mw = {
    'traefik.http.middlewares.strip.stripprefix.prefixes': '/api',
    'traefik.http.routers.web.middlewares': 'strip@swarm, hdr@file',
  };
  const labelled = { ...startFirstReplaced.service, Spec: { ...startFirstReplaced.service.Spec, Labels: { ...startFirstReplaced.service.Spec!.Labels, ...mw } } };
  const views = (c: Capture, service = c.service) =>
    rotation({ services: [service], tasks: c.tasks, ready: (id) => id !== NEW1 }).tasks.map((x) => taskView(x.service, x.task, ['8080/tcp']));
  const first = publisher.publish(views(startFirstReplaced, labelled));
  t.equal(first.changed, true);
  t.equal(published[0].provider, 'swarm');
  const [svc] = published[0].snapshot.services;
  t.match(svc, { name: 'whoami', rule: 'Host(`whoami.test`)', middlewares: ['strip@swarm', 'hdr@file'] });
  t.strictSame(svc.upstreams, [
    { id: `whoami@bt_whoami.1.${OLD1}`, url: 'http://10.0.1.16:8080', containerId: OLD1 },
    { id: `whoami@bt_whoami.2.${OLD2}`, url: 'http://10.0.1.17:8080', containerId: OLD2 },
    { id: `whoami@bt_whoami.1.${NEW1}`, url: 'http://10.0.1.18:8080', containerId: NEW1 },
  ], 'the task IPs on the overlay, oldest task first');
  t.strictSame(published[0].snapshot.middlewares, { strip: { type: 'stripprefix', options: { prefixes: '/api' } } }, 'its middlewares, qualified as @swarm by the registry');
  t.equal(publisher.publish(views(startFirstReplaced, labelled)).changed, false, 'the same tasks again: not republished');
  t.equal(published.length, 1);

  const broken = { ...steady.service, Spec: { ...steady.service.Spec, Labels: { 'traefik.enable': 'true', 'traefik.http.routers.web.middlewares': 'nope@swarm' } } };
  publisher.publish(views(steady, broken));
  publisher.publish(views(steady, broken));
  const ignored = lines.filter((l) => l.msg === 'Swarm service labels ignored');
  t.strictSame(ignored.map((l) => [l.service, l.problem]), [
    ['bt_whoami', "service bt-whoami: middleware nope@swarm does not exist: no service's (with a running task) labels define it"],
  ], 'one line for the two replicas, once');
  t.strictSame(published.at(-1)!.snapshot, { services: [] }, 'not routed');
});
