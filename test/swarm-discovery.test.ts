// Discovery of Swarm services on a real single-node swarm (initialised here only when the engine is in none, and
// left again only then; fixtures/swarm.ts). The host cannot reach a task's overlay IP (it routes 10.0.x.y to its
// default gateway, off the machine), so the Swarm provider runs in this process against a recording registry:
// what it publishes, and when, is asserted without a byte sent to a task — routed to the task IPs, scaling, rolling
// updates (start-first and stop-first), a task container killed from outside, a node drain, a label problem. The
// times from the command to a task leaving baton's rotation, and how long before its container's SIGTERM, are
// printed as comments. One end-to-end check runs baton from this checkout in a container on the overlay and sends
// requests through it. Skipped, with the reason, when no engine answers.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { testImages, whenDockerAnswers } from './fixtures/docker.ts';
import { Agent } from 'undici';
import { send, TOKEN, waitFor } from './fixtures/harness.ts';
import { dockerClient } from './fixtures/images.ts';
import { dockerCli, overlayNetwork, useSwarm, waitRunningTasks } from './fixtures/swarm.ts';
import { containerEvents, watchSwarm, type ContainerEvents, type Watch } from './fixtures/swarm-watch.ts';

await whenDockerAnswers(t, 420_000, run);

const REPO = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

async function run(): Promise<void> {
  const docker = dockerClient();
  const images = await testImages(t);
  const sw = await useSwarm(t, 'swarm-discovery');
  t.comment(sw.initialised ? 'swarm initialised by this test (left in teardown)' : 'swarm already active: used as found');
  const net = `bt-sd-${process.pid}`;
  await overlayNetwork(sw, net);
  t.teardown(async () => {
    // before useSwarm's teardown removes the overlay: the tasks' containers outlive their services for a moment
    const left = async () => (await docker.listContainers({ all: true, filters: { label: [`baton.test.run=${sw.run}`] } })).length;
    await waitFor(async () => (await left()) === 0, 30_000, 'the containers of the removed services gone').catch(() => {});
  });
  const events = await containerEvents(t);
  const measured: string[] = [];
  t.teardown(() => {
    for (const line of measured) t.comment(line);
  });
  let seq = 0;

  /** A replicated service of the run with Traefik's swarm labels for Host(`<name>.test`) (or `labels`); removed in
   *  the test's teardown. Returns its name (also its router's and Traefik service's). */
  async function service(tt: Test, o: { replicas?: number; labels?: Record<string, string>; env?: string[]; image?: string; order?: 'start-first' | 'stop-first' } = {}): Promise<string> {
    const name = `sd${process.pid}x${++seq}`;
    const labels = o.labels ?? {
      'traefik.enable': 'true',
      [`traefik.http.routers.${name}.rule`]: `Host(\`${name}.test\`)`,
      [`traefik.http.services.${name}.loadbalancer.server.port`]: '8080',
      'traefik.swarm.network': net,
    };
    await docker.createService({
      Name: name,
      Labels: { ...sw.labels, ...labels },
      TaskTemplate: {
        ContainerSpec: { Image: o.image ?? images.v1, Env: o.env ?? ['APP_STOP_DELAY_MS=1000'], Labels: sw.labels },
        Networks: [{ Target: net }],
      },
      Mode: { Replicated: { Replicas: o.replicas ?? 2 } },
      UpdateConfig: { Parallelism: 1, Order: o.order ?? 'start-first', Monitor: 1e9 },
      EndpointSpec: { Ports: [{ Protocol: 'tcp', TargetPort: 8080 }] }, // an ingress port: tasks get an ingress IP too
    } as never);
    tt.teardown(() => docker.getService(name).remove().catch(() => {})); // its containers go meanwhile
    await waitRunningTasks(name, o.replicas ?? 2);
    return name;
  }

  async function tasks(name: string) {
    return (await docker.listTasks({ filters: { service: [name] } })) as Array<{
      ID: string;
      Slot: number;
      DesiredState: string;
      Status: { State: string };
      Spec: { ContainerSpec: { Image: string } };
      NetworksAttachments: Array<{ Network: { Spec: { Name: string } }; Addresses: string[] }>;
    }>;
  }

  const running = async (name: string) => (await tasks(name)).filter((x) => x.DesiredState === 'running' && x.Status.State === 'running');

  /** For each of `old`: left baton's rotation how long after `t0`, and how long before its container's SIGTERM. */
  async function leaving(tt: Test, w: Watch, ev: ContainerEvents, what: string, t0: number, old: string[]): Promise<void> {
    await waitFor(() => old.every((id) => w.leftAt(id) !== undefined), 20_000, `${what}: the old tasks out of rotation`);
    await ev.waitKilled(old);
    for (const id of old) {
      const left = w.leftAt(id)!;
      const kill = ev.kills.get(id)!;
      measured.push(`${what}: task ${id.slice(0, 6)} left rotation ${left - t0} ms after the command, ${kill - left} ms before its SIGTERM (${w.reason(id)})`);
      tt.ok(left <= kill, `${what}: ${id.slice(0, 6)} left rotation before its kill event (${kill - left} ms; ${w.reason(id)})`);
      tt.notOk(w.rejoined(id), `${what}: ${id.slice(0, 6)} never came back`);
    }
  }

  t.test("Traefik's swarm labels: routed to the task IPs on the overlay (not ingress, not the VIP)", async (t) => {
    const w = watchSwarm(t);
    const name = await service(t);
    await w.waitCount(name, 2);
    const list = await running(name);
    const ip = (x: (typeof list)[number], network: string) => x.NetworksAttachments.find((a) => a.Network.Spec.Name === network)?.Addresses[0].split('/')[0];
    t.strictSame(w.now(name).map((u) => u.url).sort(), list.map((x) => `http://${ip(x, net)}:8080`).sort(), 'each task at its IP on the overlay');
    const ingress = list.map((x) => ip(x, 'ingress'));
    t.ok(ingress.every((a) => a !== undefined), `the tasks are on ingress too (${ingress.join(', ')})`);
    const vips = ((await docker.getService(name).inspect()).Endpoint.VirtualIPs as Array<{ Addr: string }>).map((v) => v.Addr.split('/')[0]);
    t.notOk(w.now(name).some((u) => [...ingress, ...vips].some((a) => u.url.includes(`//${a}:`))), `no ingress IP, no VIP (${vips.join(', ')})`);
    t.ok(w.logs.some((l) => l.msg === 'Swarm task joins rotation' && l.service === name), 'a line per joining task');
  });

  t.test('scale 2 → 4 → 1: new tasks join, removed ones leave before their SIGTERM', async (t) => {
    const w = watchSwarm(t);
    const name = await service(t);
    await w.waitCount(name, 2);
    let t0 = Date.now();
    await dockerCli(['service', 'scale', '--detach', `${name}=4`]);
    await w.waitCount(name, 4);
    measured.push(`scale 2→4: 4 tasks in rotation ${Date.now() - t0} ms after the command`);
    const before = w.now(name).map((u) => u.task);
    t0 = Date.now();
    await dockerCli(['service', 'scale', '--detach', `${name}=1`]);
    await w.waitCount(name, 1);
    const gone = before.filter((id) => !w.now(name).some((u) => u.task === id));
    t.equal(gone.length, 3, 'three tasks left');
    await leaving(t, w, events, 'scale 4→1', t0, gone);
    t.ok(gone.every((id) => /^desired state (remove|shutdown)$/.test(w.reason(id) ?? '')), 'at their desired-state change');
  });

  for (const order of ['start-first', 'stop-first'] as const) {
    t.test(`service update --image, ${order}: the old tasks leave before their SIGTERM; never empty`, async (t) => {
      const w = watchSwarm(t);
      const name = await service(t, { order });
      await w.waitCount(name, 2);
      const old = w.now(name).map((u) => u.task);
      const t0 = Date.now();
      await dockerCli(['service', 'update', '--detach', '--no-resolve-image', '--image', images.v2, name]);
      await waitFor(async () => {
        const now = await running(name);
        return now.length === 2 && now.every((x) => x.Spec.ContainerSpec.Image === images.v2);
      }, 60_000, 'two v2 tasks running');
      const fresh = (await running(name)).map((x) => x.ID);
      await waitFor(() => fresh.every((id) => w.now(name).some((u) => u.task === id)), 10_000, 'the new tasks in rotation');
      measured.push(`update ${order}: both new tasks in rotation ${Date.now() - t0} ms after the command`);
      await leaving(t, w, events, `update ${order}`, t0, old);
      const reasons = old.map((id) => w.reason(id) ?? '');
      if (order === 'stop-first') t.ok(reasons.every((r) => r === 'desired state shutdown'), `stop-first: at the desired-state change (${reasons})`);
      else t.ok(reasons.some((r) => /^slot \d+ replaced by task /.test(r)), `start-first: a slot pre-drained (${reasons.join('; ')})`);
      t.ok(w.neverEmpty(name, t0), 'the service had a task in rotation throughout');
    });
  }

  t.test('1 replica, start-first: the old task is held until the new one passed the health gate', async (t) => {
    const ready = new Set<string>();
    const w = watchSwarm(t, { ready: (id) => ready.has(id) });
    const name = await service(t, { replicas: 1 });
    await w.waitCount(name, 1);
    const [old] = w.now(name).map((u) => u.task);
    ready.add(old);
    const t0 = Date.now();
    await dockerCli(['service', 'update', '--detach', '--no-resolve-image', '--image', images.v2, name]);
    await w.waitCount(name, 2);
    const fresh = w.now(name).find((u) => u.task !== old)!.task;
    await new Promise((r) => setTimeout(r, 500)); // the new task "in baton's health gate"
    t.ok(w.now(name).some((u) => u.task === old), 'the old task still in rotation while the new one is not ready');
    t.ok(w.logs.some((l) => l.msg === 'Swarm task kept in rotation: its service has no other ready task'), 'logged as held');
    const passed = Date.now();
    ready.add(fresh);
    await w.waitCount(name, 1, 3000);
    t.equal(w.now(name)[0].task, fresh);
    measured.push(`1 replica start-first: old task left ${w.leftAt(old)! - passed} ms after the new one was ready (${w.reason(old)})`);
    t.ok(w.neverEmpty(name, t0), 'never empty');
  });

  t.test('a task container killed from outside leaves rotation at the kill event, before it exits', async (t) => {
    const w = watchSwarm(t);
    const name = await service(t, { env: ['APP_STOP_DELAY_MS=3000'] });
    await w.waitCount(name, 2);
    const [victim] = w.now(name).map((u) => u.task);
    const [c] = await docker.listContainers({ filters: { label: [`com.docker.swarm.task.id=${victim}`] } });
    await docker.getContainer(c.Id).kill({ signal: 'SIGTERM' });
    await waitFor(() => w.leftAt(victim) !== undefined, 5000, 'the task out');
    await events.waitKilled([victim]);
    const after = w.leftAt(victim)! - events.kills.get(victim)!;
    measured.push(`docker kill -s TERM of a task container: out of rotation ${after} ms after the kill event`);
    t.ok(after < 500, `out ${after} ms after the kill event`);
    t.equal(w.reason(victim), 'container kill (signal 15)');
    t.notOk(events.dies.has(victim), 'before its process exited (it serves 3 s more)');
    await w.waitCount(name, 2, 30_000); // Swarm replaces it
    t.pass('its replacement joined');
  });

  t.test('no port label and no exposed port: a problem logged, not routed', async (t) => {
    const w = watchSwarm(t);
    const image = await noExposeImage(images.v1);
    const name = await service(t, {
      replicas: 1,
      image,
      labels: { 'traefik.enable': 'true', [`traefik.http.routers.r${seq + 1}.rule`]: 'Host(`noport.test`)', 'traefik.swarm.network': net },
    });
    await waitFor(() => w.logs.some((l) => l.msg === 'Swarm service labels ignored' && l.service === name), 10_000, 'the problem');
    const line = w.logs.find((l) => l.msg === 'Swarm service labels ignored' && l.service === name)!;
    t.equal(line.problem, 'no TCP port exposed; set baton.port (or traefik.http.services.<name>.loadbalancer.server.port)');
    t.equal(w.now(name).length, 0, 'not routed');
  });

  t.test('node drain: the tasks leave before their SIGTERM; active again: they rejoin', async (t) => {
    const w = watchSwarm(t);
    const name = await service(t);
    await w.waitCount(name, 2);
    const old = w.now(name).map((u) => u.task);
    t.teardown(() => dockerCli(['node', 'update', '--availability', 'active', sw.nodeId]).catch(() => {}));
    const t0 = Date.now();
    await dockerCli(['node', 'update', '--availability', 'drain', sw.nodeId]);
    await w.waitCount(name, 0, 15_000);
    await leaving(t, w, events, 'node drain', t0, old);
    const t1 = Date.now();
    await dockerCli(['node', 'update', '--availability', 'active', sw.nodeId]);
    await w.waitCount(name, 2, 60_000);
    measured.push(`node active again: 2 tasks back in rotation ${Date.now() - t1} ms after the command`);
  });

  t.test('end to end: baton in a container on the overlay routes to the tasks, @swarm middlewares, a rolling update', async (t) => {
    const name = `sd${process.pid}x${seq + 1}`;
    const host = `${name}.test`;
    await service(t, {
      labels: {
        'traefik.enable': 'true',
        [`traefik.http.routers.${name}.rule`]: `Host(\`${host}\`)`,
        [`traefik.http.routers.${name}api.rule`]: `Host(\`${host}\`) && PathPrefix(\`/api\`)`,
        [`traefik.http.routers.${name}api.middlewares`]: 'strip@swarm',
        'traefik.http.middlewares.strip.stripprefix.prefixes': '/api',
        [`traefik.http.services.${name}.loadbalancer.server.port`]: '8080',
        [`traefik.http.services.${name}.loadbalancer.healthcheck.path`]: '/health',
        'traefik.swarm.network': net,
      },
      env: [], // the naive app: exits at once on SIGTERM
    });
    const { ip: baton, logs } = await batonContainer(t);
    await waitFor(async () => {
      const res = await fetch(`http://${baton}:8081/api/services`, { headers: { authorization: `Bearer ${TOKEN}` } }).catch(() => null);
      const s = res?.ok ? ((await res.json()) as { services: Array<{ name: string; upstreams: Array<{ state: string }> }> }).services.find((x) => x.name === name) : undefined;
      return s?.upstreams.filter((u) => u.state === 'healthy').length === 2;
    }, 30_000, 'two healthy upstreams in the container baton');
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(JSON.parse((await getFrom(baton, host, '/')).body).hostname);
    t.equal(seen.size, 2, 'both tasks answer through baton');
    const echo = JSON.parse((await getFrom(baton, host, '/api/echo')).body);
    t.equal(echo.url, '/echo', 'strip@swarm stripped /api');
    const t0 = Date.now();
    await dockerCli(['service', 'update', '--detach', '--no-resolve-image', '--image', images.v2, name]);
    const statuses: Record<string, number> = {};
    let sent = 0;
    while (Date.now() - t0 < 40_000 && sent < 4000) {
      const r = await getFrom(baton, host, '/');
      sent++;
      const key = r.status === 200 ? JSON.parse(r.body).version : `HTTP ${r.status}`;
      statuses[key] = (statuses[key] ?? 0) + 1;
      if (sent % 20 === 0 && (await running(name)).every((x) => x.Spec.ContainerSpec.Image === images.v2) && (statuses.v2 ?? 0) > 20) break;
    }
    measured.push(`end to end, start-first update of the naive app under sequential GETs: ${JSON.stringify(statuses)}`);
    t.same(Object.keys(statuses).filter((k) => k.startsWith('HTTP')), [], `no failed request (${JSON.stringify(statuses)})`);
    t.ok((statuses.v2 ?? 0) > 0, 'the new version answers');
    const joins = (await logs()).filter((l) => l.msg === 'Swarm task joins rotation').map((l) => String(l.task));
    t.strictSame(joins.filter((x, i) => joins.indexOf(x) !== i), [], `each task joined once (${joins.length} joins)`);
  });

  /** baton from this checkout in a container (the test image's Node 24), on the default bridge (the host reaches
   *  that IP) and on the overlay; removed in teardown. Returns its bridge IP. */
  async function batonContainer(tt: Test): Promise<{ ip: string; logs: () => Promise<Array<Record<string, unknown>>> }> {
    const config = {
      entrypoints: { web: { address: '0.0.0.0:8080' } },
      admin: { address: '0.0.0.0:8081', token: TOKEN },
      stateDir: '/state',
      log: { level: 'info', accessLog: false },
      providers: { swarm: { enabled: true } },
    };
    const script = [
      `const { parseConfig } = await import(${JSON.stringify(`${REPO}/src/config/load.ts`)});`,
      `const { App } = await import(${JSON.stringify(`${REPO}/src/app.ts`)});`,
      "const app = await App.start(parseConfig(JSON.parse(process.env.BATON_TEST_CONFIG), { env: {}, baseDir: '/state' }));",
      "process.on('SIGTERM', () => app.close(1000).then(() => process.exit(0)));",
    ].join('\n');
    const c = await docker.createContainer({
      name: `bt-sd-baton-${process.pid}`,
      Image: images.v1,
      Cmd: ['/usr/local/bin/node', '--input-type=module', '-e', script],
      Env: [`BATON_TEST_CONFIG=${JSON.stringify(config)}`],
      Labels: sw.labels,
      HostConfig: { Binds: [`${REPO}:${REPO}:ro`, '/var/run/docker.sock:/var/run/docker.sock'], Tmpfs: { '/state': '' } },
    });
    tt.teardown(() => c.remove({ force: true }).catch(() => {}));
    await docker.getNetwork(net).connect({ Container: c.id });
    await c.start();
    const ip = (await c.inspect()).NetworkSettings.Networks.bridge.IPAddress;
    const logs = async () => {
      const text = (await c.logs({ stdout: true, stderr: true }).catch(() => Buffer.from(''))).toString();
      // the stream's 8-byte frame headers before each JSON line
      return text.split('\n').flatMap((l) => (l.includes('{') ? [JSON.parse(l.slice(l.indexOf('{')))] : []));
    };
    tt.teardown(async () => {
      const lines = (await logs()).filter((l) => /^Swarm task|^Swarm provider/.test(String(l.msg)));
      for (const l of lines.slice(0, 30)) tt.comment(`container baton: ${l.msg} ${l.task ?? ''} ${l.reason ?? ''}`);
    });
    return { ip, logs };
  }
}

/** GET `path` with Host `host` from baton at `ip`:8080 (a container this test started); status 0 when it failed. */
async function getFrom(ip: string, host: string, path: string): Promise<{ status: number; body: string }> {
  return send(`http://${ip}:8080`, host, () => new Agent({ headersTimeout: 5000, bodyTimeout: 5000 }), { path }).catch(() => ({ status: 0, body: '' }));
}

/** The test app with no EXPOSE (docker export | docker import of `image`), tagged once per app build. */
async function noExposeImage(image: string): Promise<string> {
  const ref = image.replace(/:v1-/, ':noexpose-');
  const docker = dockerClient();
  try {
    await docker.getImage(ref).inspect();
    return ref;
  } catch {
    // not built yet
  }
  const c = await docker.createContainer({ Image: image, Labels: { 'baton.test': '1' } });
  try {
    const changes = ['CMD ["/usr/local/bin/node","/app/server.js"]', 'ENV APP_VERSION=noexpose', 'LABEL baton.test=1 baton.test.image=noexpose'];
    const args = changes.flatMap((x) => ['-c', x]).map((a) => `'${a}'`).join(' ');
    execFileSync('bash', ['-c', `set -o pipefail; docker export ${c.id} | docker import ${args} - ${ref}`], { stdio: 'pipe' });
  } finally {
    await c.remove({ force: true });
  }
  return ref;
}
