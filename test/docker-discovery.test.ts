// Discovery on the real Docker engine: containers started the way a user starts them (labels, default bridge
// network) are routed by baton's Docker provider — baton.* labels, Traefik v2 labels and Traefik v1 labels (no
// baton label at all); `docker stop` / `docker kill` of an upstream from outside under load loses no GET; scaling a
// service up and down through the admin API under load. Skipped, with the reason, when no engine answers.
import t, { type Test } from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { batonLabels, finished, runContainers, startContainer, startDockerBaton, testImages, testRuns, upstreams, waitHealthy, whenDockerAnswers } from './fixtures/docker.ts';
import { admin, http } from './fixtures/harness.ts';
import { dockerClient } from './fixtures/images.ts';
import { describeLoad, runLoad, type LoadResult } from './fixtures/load.ts';


await whenDockerAnswers(t, 180_000, run);

async function run(): Promise<void> {
  const docker = dockerClient();
  const images = await testImages(t);
  const unique = testRuns('discovery', { dirPrefix: 'baton-docker-data-', mountable: true });

  function processedOnce(t: Test, dataDir: string, load: LoadResult, runId: string): void {
    const file = join(dataDir, 'processed.log');
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const count = new Map<string, number>();
    for (const line of text.split('\n')) {
      const id = line.split(' ')[0];
      if (id.startsWith(`${runId}-`)) count.set(id, (count.get(id) ?? 0) + 1);
    }
    t.ok(load.postIds2xx.length > 0, `POSTs answered 2xx: ${load.postIds2xx.length}`);
    t.same([...count].filter(([, n]) => n > 1).map(([id]) => id), [], 'no POST processed twice');
    t.same(load.postIds2xx.filter((id) => count.get(id) !== 1), [], 'every POST answered 2xx is in processed.log exactly once');
  }

  // ── labels ──────────────────────────────────────────────────────────────────────────────────

  t.test('Traefik v2 and v1 labelled containers are routed without any baton label; unlabelled ones are not', async (t) => {
    const u = unique(t);
    const v2Host = `${u.name}-v2.test`;
    const v1Host = `${u.name}-v1.test`;
    const v2Service = `${u.name}-tv2`;
    const v1Backend = `${u.name}-tv1`;
    const router = `r${process.pid}x${u.i}`;
    const v2Labels = {
      'traefik.enable': 'true',
      [`traefik.http.routers.${router}.rule`]: `Host(\`${v2Host}\`)`,
      [`traefik.http.routers.${router}.service`]: v2Service,
      [`traefik.http.services.${v2Service}.loadbalancer.server.port`]: '8080',
      [`traefik.http.services.${v2Service}.loadbalancer.healthcheck.path`]: '/health',
      [`traefik.http.services.${v2Service}.loadbalancer.healthcheck.interval`]: '1s',
    };
    const v1Labels = {
      'traefik.enable': 'true',
      'traefik.frontend.rule': `Host:${v1Host}`,
      'traefik.port': '8080',
      'traefik.backend': v1Backend,
      'traefik.backend.healthcheck.path': '/health',
    };
    const ids = {
      v2a: await startContainer(`${u.name}-tv2-a`, images.v1, u.run, v2Labels),
      v2b: await startContainer(`${u.name}-tv2-b`, images.v2, u.run, v2Labels),
      v1: await startContainer(`${u.name}-tv1`, images.v2, u.run, v1Labels),
      // not routed: no enable label (exposedByDefault is false), and traefik.enable=false
      plain: await startContainer(`${u.name}-plain`, images.v1, u.run, {}),
      off: await startContainer(`${u.name}-off`, images.v1, u.run, { 'traefik.enable': 'false', 'traefik.frontend.rule': `Host:${u.name}-off.test` }),
    };
    for (const id of Object.values(ids)) {
      const labels = (await docker.getContainer(id).inspect()).Config.Labels ?? {};
      if (Object.keys(labels).some((k) => k.startsWith('baton.') && !k.startsWith('baton.test'))) t.fail(`container ${id} has a baton label`);
    }
    const b = await startDockerBaton(t);
    await waitHealthy(b, v2Service, 2);
    await waitHealthy(b, v1Backend, 1);

    const services = (await admin(b.adminPort, 'GET', '/api/services')).json.services as Array<{ name: string; rule: string; upstreams: Array<{ containerId?: string; url: string }> }>;
    const v2 = services.find((s) => s.name === v2Service);
    const v1 = services.find((s) => s.name === v1Backend);
    t.equal(v2?.rule, `Host(\`${v2Host}\`)`, 'Traefik v2 router rule');
    t.same(v2?.upstreams.map((x) => x.containerId).sort(), [ids.v2a, ids.v2b].sort(), 'both v2-labelled containers are its upstreams');
    t.ok(v2?.upstreams.every((x) => /^http:\/\/172\.\d+\.\d+\.\d+:8080$/.test(x.url)), `bridge IP and the label's port: ${v2?.upstreams.map((x) => x.url)}`);
    t.equal(v1?.rule, `Host(\`${v1Host}\`)`, 'Traefik v1 frontend rule translated');
    t.same(v1?.upstreams.map((x) => x.containerId), [ids.v1], 'the v1-labelled container');
    const names = services.map((s) => s.name);
    t.notOk(names.some((n) => n.includes(`${u.name}-plain`) || n.includes(`${u.name}-off`)), 'unlabelled and disabled containers are not routed');

    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const r = await http(b.port, { host: v2Host });
      t.equal(r.status, 200, `Host ${v2Host} → 200`);
      seen.add(JSON.parse(r.body).version);
    }
    t.same([...seen].sort(), ['v1', 'v2'], 'balanced over both v2-labelled containers');
    const r1 = await http(b.port, { host: v1Host });
    t.equal(r1.status, 200, `Host ${v1Host} → 200`);
    t.equal(JSON.parse(r1.body).version, 'v2', 'answered by the v1-labelled container');
    t.equal((await http(b.port, { host: `${u.name}-off.test` })).status, 404, 'disabled container: 404 from baton');

    // a container started later joins on its `start` event, through the health gate
    const late = await startContainer(`${u.name}-tv2-c`, images.v2, u.run, v2Labels);
    await waitHealthy(b, v2Service, 3, 10_000);
    t.ok(upstreams(b, v2Service).some((x) => x.containerId === late), 'a container started later is routed');
  });

  // ── containers stopped or killed from outside ──────────────────────────────────────────────

  t.test('docker stop and docker kill of upstreams from outside under load: zero failed GETs', async (t) => {
    const u = unique(t);
    const ids: string[] = [];
    for (let k = 0; k < 3; k++) ids.push(await startContainer(`${u.name}-${k}`, images.v1, u.run, batonLabels(u.name, u.host), u.dir));
    const b = await startDockerBaton(t);
    await waitHealthy(b, u.name, 3);
    const runId = `${u.run}-stop`;
    const timeline: string[] = [];
    const outside = (async () => {
      await sleep(1500);
      let t0 = Date.now();
      await docker.getContainer(ids[0]).stop({ t: 10 });
      timeline.push(`docker stop took ${Date.now() - t0} ms`);
      await sleep(1500);
      t0 = Date.now();
      await docker.getContainer(ids[1]).kill({ signal: 'SIGKILL' });
      timeline.push(`docker kill took ${Date.now() - t0} ms`);
      await sleep(1500);
    })();
    const load = await runLoad({ port: b.port, host: u.host, runId, until: outside, maxDurationMs: 30_000 });
    await outside;
    t.comment(`stop/kill from outside: ${describeLoad(load)}; ${timeline.join(', ')}`);
    t.ok(load.get.sent >= 200, `GETs sent: ${load.get.sent}`);
    t.equal(load.get.non2xx, 0, 'zero non-2xx GETs');
    t.equal(load.get.failed, 0, 'zero failed GETs (errors, timeouts, unanswered)');
    t.equal(load.errors + load.timeouts + load.unanswered, 0, 'no socket error at all');
    // POSTs written to a container that died under them cannot be retried (never, for a POST): report them
    t.comment(`POSTs: ${load.post.sent} sent, ${load.post.ok} ok, ${load.post.non2xx} non-2xx (a POST in flight on a killed container is answered 502 and never retried)`);
    processedOnce(t, u.dir, load, runId);
    const left = upstreams(b, u.name);
    t.same(left.map((x) => x.containerId), [ids[2]], 'only the container still running is routed');
    const events = b.logs.filter((l) => l.msg === 'Container leaves rotation').map((l) => `${l.container}:${l.event}`);
    t.ok(events.includes(`${u.name}-0:kill (signal 15)`), `the stopped one left rotation on the kill event (SIGTERM): ${events.filter((e) => e.startsWith(u.name))}`);
    t.ok(events.includes(`${u.name}-1:kill (signal 9)`), 'the killed one left rotation on the kill event (SIGKILL)');
    const retried = b.app.registry.services.get(u.name)?.retries ?? 0;
    t.comment(`retries baton made: ${retried}`);
  });

  // ── scale ───────────────────────────────────────────────────────────────────────────────────

  t.test('POST /api/services/{name}/scale: 2 → 4 → 1 under load, nothing lost', async (t) => {
    const u = unique(t);
    const ids: string[] = [];
    for (let k = 0; k < 2; k++) ids.push(await startContainer(`${u.name}-${k}`, images.v1, u.run, batonLabels(u.name, u.host), u.dir));
    const b = await startDockerBaton(t);
    await waitHealthy(b, u.name, 2);
    const runId = `${u.run}-scale`;
    const steps: string[] = [];
    const ops = (async () => {
      await sleep(500);
      const up = await admin(b.adminPort, 'POST', `/api/services/${u.name}/scale`, { replicas: 4, healthTimeout: '10s' });
      if (up.status !== 202) throw new Error(`scale up: ${up.status} ${JSON.stringify(up.json)}`);
      let t0 = Date.now();
      const upRec = await finished(b, up.json.id, 60_000);
      steps.push(`up ${upRec.state} in ${Date.now() - t0} ms`);
      if (upRec.state !== 'succeeded') throw new Error(`scale up ${upRec.state}: ${upRec.error}`);
      await waitHealthy(b, u.name, 4, 5000);
      await sleep(1000);
      const down = await admin(b.adminPort, 'POST', `/api/services/${u.name}/scale`, { replicas: 1, drainTimeout: '10s' });
      if (down.status !== 202) throw new Error(`scale down: ${down.status} ${JSON.stringify(down.json)}`);
      t0 = Date.now();
      const downRec = await finished(b, down.json.id, 60_000);
      steps.push(`down ${downRec.state} in ${Date.now() - t0} ms`);
      if (downRec.state !== 'succeeded') throw new Error(`scale down ${downRec.state}: ${downRec.error}`);
      await sleep(500);
    })();
    const load = await runLoad({ port: b.port, host: u.host, runId, until: ops, maxDurationMs: 40_000 });
    await ops;
    t.comment(`scale: ${steps.join(', ')}; ${describeLoad(load)}`);
    t.equal(load.non2xx, 0, 'zero non-2xx');
    t.equal(load.errors + load.timeouts + load.unanswered, 0, 'zero socket errors, timeouts, unanswered');
    processedOnce(t, u.dir, load, runId);
    const all = await runContainers(u.run);
    t.same(all.map((c) => `${c.Id}:${c.State}`), [`${ids[0]}:running`], 'scaled down to the oldest container; the others removed');
    t.same(upstreams(b, u.name).map((x) => x.containerId), [ids[0]], 'one upstream routed');
    const bad = await admin(b.adminPort, 'POST', `/api/services/${u.name}/scale`, { replicas: -1 });
    t.equal(bad.status, 400, 'replicas -1: 400');
    const unknown = await admin(b.adminPort, 'POST', `/api/services/${u.name}/scale`, { replicas: 2, image: 'x' });
    t.equal(unknown.status, 400, 'unknown field: 400');
  });
}
