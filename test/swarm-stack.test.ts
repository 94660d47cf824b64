// The README's stack file, for real: `docker stack deploy` on a single-node swarm of baton as a global service (its
// own image, host-mode published ports, config and admin token from Swarm configs and secrets) plus a second baton
// replica, and an app with Traefik's swarm labels on an overlay network. Under load through baton's published port,
// what someone else does with plain Swarm commands is survived with zero failed requests: `docker service update
// --image` (start-first, then stop-first) and `docker service scale` up and down. Skipped, with the reason, when no
// engine answers.
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { batonImageStats, buildBatonImage } from './fixtures/baton-image.ts';
import { batonCli as cli, testImages, versions, whenDockerAnswers } from './fixtures/docker.ts';
import { closedPort, TOKEN, tempDir, waitFor } from './fixtures/harness.ts';
import { describeLoad, runLoad, type LoadResult } from './fixtures/load.ts';
import { dockerCli, useSwarm, waitRunningTasks } from './fixtures/swarm.ts';

await whenDockerAnswers(t, 600_000, run);

async function run(): Promise<void> {
  const images = await testImages(t);
  const batonImage = await buildBatonImage();
  t.comment(`baton image ${batonImage}: ${batonImageStats.cached ? 'cached' : 'built'} in ${batonImageStats.ms} ms`);
  await t.test('the README stack: baton global + a second replica, an app with Traefik swarm labels; plain Swarm operations under load', (t) => stackScenario(t, images, batonImage));
}

async function stackScenario(t: Test, images: Awaited<ReturnType<typeof testImages>>, batonImage: string): Promise<void> {
  const sw = await useSwarm(t, 'stack');
  t.comment(sw.initialised ? 'swarm initialised by this test (left in teardown)' : 'swarm already active: used as found');

  const stack = `bts${process.pid}`;
  const app = `${stack}_app`;
  const host = `${stack}.test`;
  const dir = tempDir(t);
  const [web, admin, web2] = [await closedPort(), await closedPort(), await closedPort()];
  t.teardown(async () => {
    await dockerCli(['stack', 'rm', stack]).catch(() => {});
  });

  // baton's config, as a Swarm config; the admin token, as a Swarm secret
  writeFileSync(join(dir, 'baton.yaml'), stringify({
    entrypoints: { web: { address: '0.0.0.0:8080' } },
    admin: { address: '0.0.0.0:8081', tokenFile: '/run/secrets/baton_admin_token' },
    stateDir: '/app/.baton',
    log: { level: 'info', accessLog: false },
    providers: { swarm: { enabled: true, network: `${stack}_apps`, refreshSeconds: 1 } },
  }));
  writeFileSync(join(dir, 'admin-token'), `${TOKEN}\n`);
  const gid = (await dockerCli(['run', '--rm', '--entrypoint', 'node', '-v', '/var/run/docker.sock:/s', batonImage, '-e', "console.log(require('fs').statSync('/s').gid)"])).trim();
  const batonService = (published: number, adminPort?: number) => ({
    image: batonImage,
    user: `1000:${gid}`, // the socket's group as the primary group: stack files have no group_add
    environment: { BATON_CONFIG: '/etc/baton/baton.yaml' },
    configs: [{ source: 'baton_config', target: '/etc/baton/baton.yaml' }],
    secrets: ['baton_admin_token'],
    volumes: ['/var/run/docker.sock:/var/run/docker.sock'],
    ports: [
      { target: 8080, published, protocol: 'tcp', mode: 'host' },
      ...(adminPort !== undefined ? [{ target: 8081, published: adminPort, protocol: 'tcp', mode: 'host' }] : []),
    ],
    networks: ['apps'],
    stop_grace_period: '35s',
  });
  const composeFile = {
    version: '3.8',
    services: {
      // baton.peers: the replicas a deploying one asks whether an old task drained on them too
      baton: { ...batonService(web, admin), deploy: { mode: 'global', placement: { constraints: ['node.role == manager'] }, labels: { ...sw.labels, 'baton.peers': stack } } },
      // a second replica: on one node, a second service (host-mode ports are per node)
      baton2: { ...batonService(web2), deploy: { replicas: 1, labels: { ...sw.labels, 'baton.peers': stack } } },
      app: {
        image: images.v1,
        environment: { APP_STOP_DELAY_MS: '1500' },
        networks: ['apps'],
        stop_grace_period: '10s',
        deploy: {
          replicas: 2,
          update_config: { parallelism: 1, delay: '1s', order: 'start-first', failure_action: 'rollback' },
          labels: {
            ...sw.labels,
            'traefik.enable': 'true',
            [`traefik.http.routers.${stack}.rule`]: `Host(\`${host}\`)`,
            [`traefik.http.services.${stack}.loadbalancer.server.port`]: '8080',
            [`traefik.http.services.${stack}.loadbalancer.healthcheck.path`]: '/health',
            [`traefik.http.services.${stack}.loadbalancer.healthcheck.interval`]: '500ms',
            'traefik.swarm.network': `${stack}_apps`,
          },
        },
      },
    },
    networks: { apps: { driver: 'overlay', attachable: true, labels: sw.labels } },
    configs: { baton_config: { file: './baton.yaml', labels: sw.labels } },
    secrets: { baton_admin_token: { file: './admin-token', labels: sw.labels } },
  };
  writeFileSync(join(dir, 'stack.yml'), stringify(composeFile));
  t.comment(await dockerCli(['stack', 'deploy', '-c', 'stack.yml', stack], { cwd: dir }));

  await waitRunningTasks(app, 2);
  await waitRunningTasks(`${stack}_baton`, 1);
  await waitRunningTasks(`${stack}_baton2`, 1);
  for (const port of [web, web2]) {
    await waitFor(async () => (await versions(port, host, 4).catch((): Record<string, number> => ({})))['v1'] === 4, 60_000, `the app through baton on :${port}`);
  }
  t.pass('both baton replicas route the stack\'s app');
  const services = (await (await fetch(`http://127.0.0.1:${admin}/api/services`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
    services: Array<{ name: string; upstreams: Array<{ url: string }> }>;
  };
  const routed = services.services.find((s) => s.name === stack);
  t.equal(routed?.upstreams.length, 2, 'two upstreams: the tasks');

  function clean(load: LoadResult, what: string): void {
    t.comment(`${what}: ${describeLoad(load)}`);
    t.ok(load.requests >= 200, `${what}: load ran (${load.requests} requests)`);
    t.equal(load.non2xx + load.errors + load.timeouts + load.unanswered, 0, `${what}: zero failed requests`);
    t.same(load.failures, [], `${what}: no failures`);
  }

  async function underLoad(what: string, op: () => Promise<unknown>): Promise<LoadResult> {
    const go = (async () => {
      await new Promise((r) => setTimeout(r, 1000));
      await op();
    })();
    const load = await runLoad({ port: web, host, runId: `${stack}-${what.replace(/\W+/g, '-')}`, until: go, tailMs: 2000, maxDurationMs: 120_000 });
    await go;
    clean(load, what);
    return load;
  }

  // someone else's `docker service update --image`, start-first (the service's update_config): Swarm waits for it
  const startFirst = await underLoad('docker service update --image (start-first)', () => dockerCli(['service', 'update', '--quiet', '--image', images.v2, app]));
  t.ok((startFirst.versions['v2'] ?? 0) > 0, 'v2 answered during the update');
  t.same(await versions(web, host, 6), { v2: 6 }, 'after: v2 only');

  // stop-first: the old task is stopped before its replacement starts
  await underLoad('docker service update --image (stop-first)', () =>
    dockerCli(['service', 'update', '--quiet', '--update-order', 'stop-first', '--image', images.v1, app]));
  t.same(await versions(web, host, 6), { v1: 6 }, 'after: v1 only');

  // seed 002: scale up and down
  await underLoad('docker service scale 2 → 4 → 1', async () => {
    await dockerCli(['service', 'scale', '--detach=false', `${app}=4`]);
    await waitFor(async () => (await routedCount()) === 4, 20_000, 'four upstreams');
    await dockerCli(['service', 'scale', '--detach=false', `${app}=1`]);
  });
  await waitFor(async () => (await routedCount()) === 1, 20_000, 'one upstream');
  t.pass('scaled down to one routed task');

  // `baton scale` / `baton deploy` / `baton rollback` of the Swarm service, through the published admin port (the
  // service named as baton routes it; baton finds the Swarm service behind it)
  const adminUrl = `http://127.0.0.1:${admin}`;
  const scale = await cli(['scale', stack, '4', '--admin-url', adminUrl, '--token', TOKEN]);
  t.equal(scale.code, 0, `baton scale ${stack} 4: exit 0\n${scale.out}`);
  t.equal(await routedCount(), 4, 'four tasks routed');

  // seed settings: parallelism 2, a delay, start-first, failure_action rollback — Swarm's own updater runs them
  let deploy: { code: number | null; out: string } | undefined;
  const load = await underLoad('baton deploy --parallelism 2 --delay 2s', async () => {
    deploy = await cli(['deploy', stack, '--image', images.v2, '--parallelism', '2', '--delay', '2s', '--monitor', '2s', '--admin-url', adminUrl, '--token', TOKEN]);
  });
  t.equal(deploy?.code, 0, `baton deploy: exit 0\n${deploy?.out}`);
  t.ok((load.versions['v2'] ?? 0) > 0 && (load.versions['v1'] ?? 0) > 0, 'both versions answered during the deploy');
  t.same(await versions(web, host, 8), { v2: 8 }, 'after: v2 only');
  const rec = await lastDeploy(app);
  const created = rec.steps.filter((x) => x.action === 'task created').map((x) => Date.parse(x.at));
  t.equal(created.length, 4, 'four new tasks');
  created.sort((a, b) => a - b);
  const gaps = created.slice(1).map((at, i) => at - created[i]);
  t.comment(`gaps between new tasks (ms): ${gaps.join(', ')}`);
  t.ok(gaps.filter((g) => g >= 2000).length >= 1, 'a batch of 2, the delay, then the next batch');
  const stops = rec.steps.filter((x) => x.action === 'old task stopped');
  t.equal(stops.length, 4, 'four old tasks stopped');
  t.ok(stops.every((x) => x.status === 'done'), 'every old task had 0 in flight when it stopped, here and on the other replica');
  t.ok(stops.every((x) => / here 0, on 1 of 1 other replicas: 0$/.test(x.detail ?? '')), `the other replica was asked: ${stops.map((x) => x.detail).join(' | ')}`);
  t.equal(rec.settings.swarm.parallelism, 2);

  // baton rollback: Swarm's previous spec, by the Swarm service's own name
  const back = await underLoad('baton rollback', async () => {
    deploy = await cli(['rollback', app, '--admin-url', adminUrl, '--token', TOKEN]);
  });
  t.equal(deploy?.code, 0, `baton rollback: exit 0\n${deploy?.out}`);
  t.ok(back.requests > 0);
  t.same(await versions(web, host, 8), { v1: 8 }, 'rolled back to v1');
  t.equal((await lastDeploy(app)).state, 'succeeded');


  // seed 003: a bad image (its /health fails; no Docker HEALTHCHECK, so Swarm runs it): baton's health gate fails
  // it, failure_action rollback (the service's) → Swarm's own rollback
  const bad = await underLoad('baton deploy of a bad image', async () => {
    deploy = await cli(['deploy', stack, '--image', images.bad, '--order', 'start-first', '--parallelism', '1', '--delay', '6s', '--health-timeout', '3s', '--admin-url', adminUrl, '--token', TOKEN]);
  });
  t.equal(deploy?.code, 1, `baton deploy of the bad image: exit 1\n${deploy?.out}`);
  t.match(deploy?.out ?? '', /rolled_back|rolled back/i);
  t.notOk('bad' in bad.versions, 'the bad version never answered');
  t.same(await versions(web, host, 8), { v1: 8 }, 'rolled back to v1');
  t.equal((await lastDeploy(app)).state, 'rolled_back');

  // node drain of the only node: every task goes, baton's own too; active again: everything comes back from the
  // engine's state alone (baton keeps none) and routes again
  await dockerCli(['node', 'update', '--availability', 'drain', sw.nodeId]);
  t.teardown(() => dockerCli(['node', 'update', '--availability', 'active', sw.nodeId]).catch(() => {}));
  await waitRunningTasks(app, 0);
  await waitRunningTasks(`${stack}_baton`, 0);
  await dockerCli(['node', 'update', '--availability', 'active', sw.nodeId]);
  await waitRunningTasks(`${stack}_baton`, 1);
  for (const port of [web, web2]) {
    await waitFor(async () => Object.keys(await versions(port, host, 4).catch((): Record<string, number> => ({}))).join() === 'v1', 60_000, `the app through baton on :${port} after the drain`);
  }
  t.pass('node drained and active again: both baton replicas route the app again');
  const after = await underLoad('after the node drain: steady', () => new Promise((r) => setTimeout(r, 2000)));
  t.equal(after.versions['v1'], after.ok2xx);

  async function lastDeploy(name: string): Promise<{ id: string; state: string; steps: Array<{ action: string; at: string; status: string; detail?: string }>; settings: { swarm: { parallelism: number } } }> {
    const list = (await (await fetch(`${adminUrl}/api/services/${name}/deploys`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { deploys: Array<{ id: string; createdAt: string }> };
    const last = list.deploys.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).at(-1)!;
    return (await (await fetch(`${adminUrl}/api/deploys/${last.id}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as never;
  }

  async function routedCount(): Promise<number> {
    const r = (await (await fetch(`http://127.0.0.1:${admin}/api/services`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as typeof services;
    return r.services.find((s) => s.name === stack)?.upstreams.length ?? 0;
  }
}

