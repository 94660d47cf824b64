// Deploys on the real Docker engine, under a bounded mixed load through baton (test/fixtures/load.ts): rolling and
// blue/green v1→v2, a version that never gets healthy (bad), one that dies during the monitor window (crashy), an
// image with a Docker HEALTHCHECK (hc), a slow in-flight request across a deploy, the deploy lock (409), a missing
// image (400), GET /api/deploys/{id}, and rollback. Skipped, with the reason, when no engine answers.
//
// Each test makes its own service (unique name, Host and run label baton.test.run=<...>) with a temp folder
// bind-mounted at /data: the app appends every POST it processes to /data/processed.log and every SIGTERM it
// gets to /data/signals.log, which is how "processed exactly once" and "SIGTERM only after the drain" are checked.
import t, { type Test } from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { batonLabels, createContainer, dockerConfig, finished, healthyUpstreams, runContainers, startDockerBaton, testImages, testRuns, versions, waitHealthy, whenDockerAnswers, type TestRun } from './fixtures/docker.ts';
import { admin, http, startBaton, type TestBaton } from './fixtures/harness.ts';
import { dockerClient } from './fixtures/images.ts';
import { describeLoad, runLoad, type LoadResult } from './fixtures/load.ts';


await whenDockerAnswers(t, 240_000, run);

async function run(): Promise<void> {
  const docker = dockerClient();
  const images = await testImages(t);
  const unique = testRuns('deploy', { dirPrefix: 'baton-docker-data-', mountable: true });

  /** Short settings keep the suite fast: health probes every 500 ms (rise/fall 2), drain timeout 10 s. */
  const DEPLOY = { monitor: '2s', healthTimeout: '10s', drainTimeout: '10s' };

  /** A test's service; its temp folder (dir) is bind-mounted at /data in its containers. */
  interface Svc extends TestRun {
    /** the containers the test created (the "v1" generation) */
    ids: string[];
    /** their hostnames (what the app writes in processed.log and signals.log) */
    hosts: string[];
  }

  /** N containers the way a user starts them: labels, default bridge network, /data bind mount. */
  async function service(t: Test, image: string, replicas: number): Promise<Svc> {
    const u = unique(t);
    const ids: string[] = [];
    for (let k = 0; k < replicas; k++) ids.push(await createContainer(`${u.name}-orig-${k}`, image, u.run, batonLabels(u.name, u.host), u.dir));
    await Promise.all(ids.map((id) => docker.getContainer(id).start()));
    const hosts = await Promise.all(ids.map(async (id) => (await docker.getContainer(id).inspect()).Config.Hostname));
    return { ...u, ids, hosts };
  }

  async function startDeploy(b: TestBaton, svc: Svc, body: Record<string, unknown>): Promise<string> {
    const res = await admin(b.adminPort, 'POST', `/api/services/${svc.name}/deploys`, body);
    if (res.status !== 202) throw new Error(`deploy not accepted: ${res.status} ${JSON.stringify(res.json)}`);
    return res.json.id as string;
  }

  /** Deploys under load; returns the record, the load counts and the deploy's duration. */
  async function deployUnderLoad(b: TestBaton, svc: Svc, body: Record<string, unknown>, runId: string) {
    let deployMs = 0;
    let rec: any;
    const go = (async () => {
      await sleep(1000); // load on the old version first
      const t0 = Date.now();
      const id = await startDeploy(b, svc, body);
      rec = await finished(b, id);
      deployMs = Date.now() - t0;
    })();
    const load = await runLoad({ port: b.port, host: svc.host, runId, until: go, tailMs: 1000, maxDurationMs: 60_000 });
    await go;
    return { rec, load, deployMs };
  }

  function loadClean(t: Test, load: LoadResult, what: string): void {
    t.comment(`${what}: ${describeLoad(load)}`);
    t.ok(load.requests >= 200, `${what}: load ran (${load.requests} requests)`);
    t.equal(load.non2xx, 0, `${what}: zero non-2xx`);
    t.equal(load.errors, 0, `${what}: zero socket errors`);
    t.equal(load.timeouts, 0, `${what}: zero timeouts`);
    t.equal(load.unanswered, 0, `${what}: no request left without an answer`);
    t.same(load.failures, [], `${what}: no failures`);
  }

  /** processed.log: every 2xx POST id exactly once, no id (answered or not) more than once. */
  function processedOnce(t: Test, svc: Svc, load: LoadResult, runId: string): Map<string, string> {
    const file = join(svc.dir, 'processed.log');
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const count = new Map<string, number>();
    const versionOf = new Map<string, string>();
    for (const line of text.split('\n')) {
      const [id, version] = line.split(' ');
      if (id === undefined || !id.startsWith(`${runId}-`)) continue;
      count.set(id, (count.get(id) ?? 0) + 1);
      versionOf.set(id, version);
    }
    const twice = [...count].filter(([, n]) => n > 1).map(([id]) => id);
    const missing = load.postIds2xx.filter((id) => count.get(id) !== 1);
    t.ok(load.postIds2xx.length > 0, `POSTs answered 2xx: ${load.postIds2xx.length}`);
    t.same(twice, [], 'no POST processed twice');
    t.same(missing, [], 'every POST answered 2xx is in processed.log exactly once');
    t.equal(new Set(load.postIds2xx).size, load.postIds2xx.length, 'each POST id answered once');
    const sent = new Set(load.postIdsSent);
    t.same([...count.keys()].filter((id) => !sent.has(id)), [], 'processed.log holds only ids that were sent');
    const ok = new Set(load.postIds2xx);
    const unseen = [...count.keys()].filter((id) => !ok.has(id));
    t.comment(`POSTs processed without a 2xx reaching the load: ${unseen.length} (in flight at the stop, or written by autocannon after a Connection: close)`);
    return versionOf;
  }

  function signals(svc: Svc): Array<{ host: string; at: number }> {
    const file = join(svc.dir, 'signals.log');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => {
      const [, host, at] = l.split(' ');
      return { host, at: Number(at) };
    });
  }

  /** Each old container's SIGTERM (the app's own clock, signals.log) came after baton finished draining it (the
   *  'drain' step marked done that names it): out of rotation and in-flight zero first, then the signal. */
  async function sigtermAfterDrain(t: Test, svc: Svc, rec: any, action: string): Promise<void> {
    const sig = signals(svc);
    for (const k of svc.ids.keys()) {
      const name = `${svc.name}-orig-${k}`;
      const host = svc.hosts[k];
      const drained = (rec.steps as Array<{ action: string; status: string; containers: string[]; at: string }>).find(
        (s) => s.action === `${action}: drain` && s.status === 'done' && s.containers.includes(name),
      );
      const got = sig.filter((x) => x.host === host);
      if (drained === undefined || got.length !== 1) {
        t.fail(`${name}: drain step ${drained ? 'found' : 'missing'}, ${got.length} SIGTERM(s)`);
        continue;
      }
      const after = got[0].at - Date.parse(drained.at);
      if (after < 0) t.fail(`${name} got SIGTERM ${-after} ms BEFORE its drain was done`);
      else t.pass(`${name}: SIGTERM ${after} ms after its drain was done`);
    }
  }

  /** Nothing reached a container that was going away: baton never had to retry a request or answer 5xx. */
  function noRetries(t: Test, b: TestBaton, svc: Svc): void {
    const s = b.app.registry.services.get(svc.name)!;
    t.equal(s.retries, 0, 'baton retried no request (none hit a stopping container)');
    t.equal(s.responses[5], 0, 'no 5xx');
  }

  // ── rolling and blue/green v1 → v2 under load ───────────────────────────────────────────────

  t.test('workers: 2 — rolling v1 → v2 under load: nothing lost, each drain waited for both workers', async (t) => {
    const svc = await service(t, images.v1, 4);
    const b = await startBaton(t, { ...dockerConfig(), workers: 2 });
    await waitHealthy(b, svc.name, 4);
    const runId = `${svc.run}-workers`;
    const { rec, load, deployMs } = await deployUnderLoad(b, svc, { image: images.v2, strategy: 'rolling', ...DEPLOY }, runId);
    t.comment(`rolling deploy with 2 workers: ${rec.state} in ${deployMs} ms`);
    t.equal(rec.state, 'succeeded', `deploy succeeded${rec.error ? `: ${rec.error}` : ''}`);
    loadClean(t, load, 'rolling, workers: 2');
    processedOnce(t, svc, load, runId);
    await sigtermAfterDrain(t, svc, rec, 'retire old');
    const stats = (await b.app.trafficStats()).services[svc.name];
    t.equal(stats.retries, 0, 'no worker retried a request (none hit a stopping container)');
    t.equal(stats.responses[5], 0, 'no 5xx');
    const workers = (await admin(b.adminPort, 'GET', '/api/workers')).json.workers as Array<{ requests: number }>;
    t.ok(workers.length === 2 && workers.every((w) => w.requests > 0), `both workers served: ${workers.map((w) => w.requests).join(' + ')}`);
    t.same(await versions(b.port, svc.host, 20), { v2: 20 }, 'afterwards only v2 answers, from either worker');
  });

  t.test('rolling v1 → v2, 4 replicas, under load: nothing lost; v1 kept stopped', async (t) => {
    const svc = await service(t, images.v1, 4);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 4);
    const runId = `${svc.run}-rolling`;
    const { rec, load, deployMs } = await deployUnderLoad(b, svc, { image: images.v2, strategy: 'rolling', ...DEPLOY }, runId);
    t.comment(`rolling deploy: ${rec.state} in ${deployMs} ms, ${rec.steps.length} steps`);
    t.equal(rec.state, 'succeeded', `deploy succeeded${rec.error ? `: ${rec.error}` : ''}`);
    loadClean(t, load, 'rolling');
    t.ok((load.versions.v1 ?? 0) > 0 && (load.versions.v2 ?? 0) > 0, `the load saw v1 then v2: ${JSON.stringify(load.versions)}`);
    processedOnce(t, svc, load, runId);

    t.same(await versions(b.port, svc.host, 20), { v2: 20 }, 'afterwards only v2 answers');
    await waitHealthy(b, svc.name, 4, 2000);
    const all = await runContainers(svc.run);
    const running = all.filter((c) => c.State === 'running');
    t.equal(running.length, 4, '4 containers run');
    t.ok(running.every((c) => c.Image === images.v2), 'all of them v2');
    const old = all.filter((c) => svc.ids.includes(c.Id));
    t.equal(old.length, 4, 'the 4 v1 containers still exist (kept for rollback)');
    t.ok(old.every((c) => c.State === 'exited'), `kept stopped: ${old.map((c) => c.State).join(', ')}`);
    const sig = signals(svc);
    t.same(sig.map((s) => s.host).sort(), [...svc.hosts].sort(), 'each v1 container got exactly one SIGTERM');
    await sigtermAfterDrain(t, svc, rec, 'retire old');
    noRetries(t, b, svc);

    const steps = rec.steps as Array<{ action: string; status: string }>;
    const order = steps.filter((s) => s.status === 'done').map((s) => s.action);
    t.equal(order.filter((a) => a === 'retire old: drain').length, 4, 'four batches drained one old container each');
    t.ok(order.indexOf('health gate') < order.indexOf('retire old: drain'), 'health gate before the first drain');
  });

  t.test('blue/green v1 → v2, 4 replicas, keepPrevious false, under load: nothing lost; v1 removed', async (t) => {
    const svc = await service(t, images.v1, 4);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 4);
    const runId = `${svc.run}-bg`;
    const { rec, load, deployMs } = await deployUnderLoad(b, svc, { image: images.v2, strategy: 'blue-green', keepPrevious: false, ...DEPLOY }, runId);
    t.comment(`blue-green deploy: ${rec.state} in ${deployMs} ms`);
    t.equal(rec.state, 'succeeded', `deploy succeeded${rec.error ? `: ${rec.error}` : ''}`);
    loadClean(t, load, 'blue-green');
    t.ok((load.versions.v1 ?? 0) > 0 && (load.versions.v2 ?? 0) > 0, `the load saw v1 then v2: ${JSON.stringify(load.versions)}`);
    processedOnce(t, svc, load, runId);
    t.same(await versions(b.port, svc.host, 20), { v2: 20 }, 'afterwards only v2 answers');
    const all = await runContainers(svc.run);
    t.equal(all.length, 4, 'only 4 containers left');
    t.ok(all.every((c) => c.State === 'running' && c.Image === images.v2), 'all running v2');
    t.same(all.filter((c) => svc.ids.includes(c.Id)), [], 'the v1 containers are gone');
    await sigtermAfterDrain(t, svc, rec, 'retire old');
    noRetries(t, b, svc);
    const steps = rec.steps as Array<{ action: string; status: string; containers: string[] }>;
    const drain = steps.find((s) => s.action === 'retire old: drain' && s.status === 'started');
    t.equal(drain?.containers.length, 4, 'blue/green retires all 4 old containers in one switch');
  });

  // ── failures: the new version never gets healthy / dies in the monitor window ─────────────────

  t.test('bad (health never passes) → deploy fails, v2 keeps serving, zero errors; bad got no traffic', async (t) => {
    const svc = await service(t, images.v2, 4);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 4);
    const runId = `${svc.run}-bad`;
    const { rec, load, deployMs } = await deployUnderLoad(b, svc, { image: images.bad, ...DEPLOY, healthTimeout: '5s' }, runId);
    t.comment(`bad deploy: ${rec.state} in ${deployMs} ms: ${rec.error}`);
    t.equal(rec.state, 'failed', 'deploy failed');
    t.match(rec.error, /not healthy within 5000 ms/, 'the error says why');
    loadClean(t, load, 'bad');
    t.same(Object.keys(load.versions), ['v2'], `only v2 ever answered: ${JSON.stringify(load.versions)}`);
    processedOnce(t, svc, load, runId);
    const all = await runContainers(svc.run);
    t.same(all.map((c) => c.Id).sort(), [...svc.ids].sort(), 'the bad container is removed, the 4 originals remain');
    t.ok(all.every((c) => c.State === 'running'), 'all running');
    t.same(signals(svc).filter((s) => svc.hosts.includes(s.host)), [], 'no v2 container got a SIGTERM');
    t.same(await versions(b.port, svc.host, 20), { v2: 20 }, 'v2 answers');
  });

  t.test('crashy (healthy, then dies in the monitor window) → automatic rollback, zero errors', async (t) => {
    const svc = await service(t, images.v2, 4);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 4);
    const runId = `${svc.run}-crashy`;
    // crashy falls ill 3 s after it starts and exits 1.5 s later: a 6 s monitor window covers it in batch 1
    const { rec, load, deployMs } = await deployUnderLoad(b, svc, { image: images.crashy, ...DEPLOY, monitor: '6s' }, runId);
    t.comment(`crashy deploy: ${rec.state} in ${deployMs} ms: ${rec.error}`);
    t.equal(rec.state, 'rolled_back', 'rolled back automatically');
    t.match(rec.error, /during the monitor window/, 'the monitor window caught it');
    const actions = (rec.steps as Array<{ action: string; status: string }>).map((s) => `${s.action}:${s.status}`);
    t.ok(actions.includes('monitor:failed') && actions.includes('restart old:done') && actions.includes('remove new: stop:done'), `steps: ${actions.join(', ')}`);
    loadClean(t, load, 'crashy');
    t.ok((load.versions.crashy ?? 0) > 0, `crashy served for a while: ${JSON.stringify(load.versions)}`);
    processedOnce(t, svc, load, runId);
    await waitHealthy(b, svc.name, 4, 10_000);
    t.same(await versions(b.port, svc.host, 20), { v2: 20 }, 'v2 answers again');
    const all = await runContainers(svc.run);
    t.same(all.map((c) => c.Id).sort(), [...svc.ids].sort(), 'crashy containers removed, the 4 originals remain');
    t.ok(all.every((c) => c.State === 'running'), 'the originals run (the retired one was started again)');
  });

  t.test('blue/green to crashy → the parked old generation is switched straight back, zero errors', async (t) => {
    const svc = await service(t, images.v2, 3);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 3);
    const runId = `${svc.run}-bg-crashy`;
    const { rec, load, deployMs } = await deployUnderLoad(b, svc, { image: images.crashy, ...DEPLOY, strategy: 'blue-green', monitor: '6s' }, runId);
    t.comment(`blue/green crashy deploy: ${rec.state} in ${deployMs} ms: ${rec.error}`);
    t.equal(rec.state, 'rolled_back', 'rolled back automatically');
    const actions = (rec.steps as Array<{ action: string; status: string }>).map((s) => `${s.action}:${s.status}`);
    t.ok(actions.includes('switch: drain old:done') && actions.includes('switch back:done'), `steps: ${actions.join(', ')}`);
    t.notOk(actions.some((a) => a.startsWith('retire old')), 'the old containers were never stopped');
    loadClean(t, load, 'blue/green crashy');
    t.ok((load.versions.crashy ?? 0) > 0, `crashy served for a while: ${JSON.stringify(load.versions)}`);
    processedOnce(t, svc, load, runId);
    t.same(await versions(b.port, svc.host, 20), { v2: 20 }, 'v2 answers again');
    const all = await runContainers(svc.run);
    t.same(all.map((c) => c.Id).sort(), [...svc.ids].sort(), 'crashy containers removed, the originals remain');
    t.ok(all.every((c) => c.State === 'running'), 'the originals never stopped');
  });

  // ── an image with a Docker HEALTHCHECK ──────────────────────────────────────────────────────

  t.test('v1 → hc (image with a Docker HEALTHCHECK) under load: routed only once Docker says healthy, nothing lost', async (t) => {
    const svc = await service(t, images.v1, 2);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 2);
    const runId = `${svc.run}-hc`;
    const since = Math.floor(Date.now() / 1000) - 1;
    const { rec, load, deployMs } = await deployUnderLoad(b, svc, { image: images.hc, ...DEPLOY }, runId);
    t.comment(`hc deploy: ${rec.state} in ${deployMs} ms`);
    t.equal(rec.state, 'succeeded', `deploy succeeded${rec.error ? `: ${rec.error}` : ''}`);
    loadClean(t, load, 'hc');
    t.ok((load.versions.hc ?? 0) > 0, `hc served: ${JSON.stringify(load.versions)}`);
    processedOnce(t, svc, load, runId);
    noRetries(t, b, svc);
    // when Docker said healthy (its events) vs when baton first routed the container (its log)
    const fresh = rec.new as Array<{ id: string; name: string }>;
    const stream = (await docker.getEvents({ since, until: Math.ceil(Date.now() / 1000), filters: { type: ['container'], event: ['health_status'] } } as never)) as unknown as NodeJS.ReadableStream;
    let text = '';
    for await (const chunk of stream as AsyncIterable<Buffer>) text += chunk.toString();
    const healthyAt = new Map<string, number>();
    for (const line of text.split('\n').filter(Boolean)) {
      const e = JSON.parse(line) as { id?: string; status?: string; timeNano?: number };
      if (e.status?.trim() === 'health_status: healthy' && e.id !== undefined && !healthyAt.has(e.id)) healthyAt.set(e.id, e.timeNano! / 1e6);
    }
    for (const n of fresh) {
      const added = b.logs.find((l) => l.msg === 'Upstream added' && l.upstream === `${svc.name}@${n.name}`);
      const healthy = healthyAt.get(n.id);
      if (added === undefined || healthy === undefined) {
        t.fail(`${n.name}: ${added ? '' : 'never routed'} ${healthy ? '' : 'no healthy event'}`);
        continue;
      }
      const after = (added.time as number) - healthy;
      t.ok(after >= -5, `${n.name} routed ${Math.round(after)} ms after Docker said healthy`);
    }
  });

  // ── the drain comes before SIGTERM ──────────────────────────────────────────────────────────

  t.test('a slow in-flight request finishes before its container gets SIGTERM', async (t) => {
    const svc = await service(t, images.v1, 1);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 1);
    const oldHost = svc.hosts[0];
    const t0 = Date.now();
    const slow = http(b.port, { host: svc.host, path: '/slow?ms=4000' }).then((r) => ({ ...r, at: Date.now() }));
    await sleep(300);
    const id = await startDeploy(b, svc, { image: images.v2, ...DEPLOY, monitor: '1s' });
    const rec = await finished(b, id);
    const r = await slow;
    t.equal(rec.state, 'succeeded', 'deploy succeeded');
    t.equal(r.status, 200, 'the slow request succeeded');
    const body = JSON.parse(r.body);
    t.equal(body.version, 'v1', 'answered by the old version');
    t.equal(body.hostname, oldHost, 'by the old container itself (not retried elsewhere)');
    t.ok(r.at - t0 >= 4000, `it took its 4 s (${r.at - t0} ms)`);
    const sig = signals(svc).filter((s) => s.host === oldHost);
    t.equal(sig.length, 1, 'the old container got one SIGTERM');
    t.ok(sig[0].at >= r.at - 50, `SIGTERM ${sig[0].at - r.at} ms after the slow answer reached the client`);
    const drain = (rec.steps as Array<{ action: string; status: string; detail?: string; at: string }>).filter((s) => s.action === 'retire old: drain');
    const waited = Date.parse(drain[1].at) - Date.parse(drain[0].at);
    t.equal(drain[1].detail, 'in-flight reached zero', 'the drain ended at in-flight zero, not at its timeout');
    t.ok(waited >= 1500, `the drain waited ${waited} ms for the slow request`);
    t.same(await versions(b.port, svc.host, 5), { v2: 5 }, 'v2 answers');
  });

  // ── lock, validation, records, rollback ───────────────────────────────────────────────────

  t.test('concurrent deploys → 409; GET /api/deploys/{id}; rollback to the kept generation', async (t) => {
    const svc = await service(t, images.v1, 2);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 2);
    const path = `/api/services/${svc.name}/deploys`;
    const body = { image: images.v2, ...DEPLOY, monitor: '3s' };
    const [a, c] = await Promise.all([admin(b.adminPort, 'POST', path, body), admin(b.adminPort, 'POST', path, body)]);
    t.same([a.status, c.status].sort(), [202, 409], `two deploys at once: one 202, one 409 (${a.status}, ${c.status})`);
    const accepted = a.status === 202 ? a : c;
    const refused = a.status === 202 ? c : a;
    t.equal(refused.json.error.code, 'BATON_CONFLICT', 'conflict code');
    t.match(refused.json.error.message, accepted.json.id, 'the 409 names the running deploy');
    const id = accepted.json.id as string;
    t.equal((await admin(b.adminPort, 'POST', path, body)).status, 409, 'a third one while it runs: 409');
    t.equal((await admin(b.adminPort, 'POST', `/api/services/${svc.name}/rollback`, {})).status, 409, 'rollback while it runs: 409');
    t.equal((await admin(b.adminPort, 'POST', `/api/services/${svc.name}/scale`, { replicas: 3 })).status, 409, 'scale while it runs: 409');

    const running = await admin(b.adminPort, 'GET', `/api/deploys/${id}`);
    t.equal(running.status, 200, 'GET /api/deploys/{id} while running');
    t.match(running.json, { id, service: svc.name, kind: 'deploy', image: images.v2 }, 'record fields');
    t.ok(['pending', 'running'].includes(running.json.state), `state while running: ${running.json.state}`);
    const rec = await finished(b, id);
    t.equal(rec.state, 'succeeded', 'the accepted deploy succeeded');
    t.ok(rec.steps.length > 0, 'steps recorded');
    for (const [i, s] of (rec.steps as any[]).entries()) {
      if (s.n !== i + 1 || typeof s.at !== 'string' || typeof s.action !== 'string' || !Array.isArray(s.containers) || !['started', 'done', 'failed'].includes(s.status)) {
        t.fail(`malformed step ${JSON.stringify(s)}`);
        break;
      }
    }
    t.equal((await admin(b.adminPort, 'GET', '/api/deploys/d-nope-000000')).status, 404, 'unknown deploy id: 404');
    t.same(await versions(b.port, svc.host, 10), { v2: 10 }, 'v2 serves');

    // the lock is free again: roll back to v1 (kept stopped)
    const rb = await admin(b.adminPort, 'POST', `/api/services/${svc.name}/rollback`, {});
    t.equal(rb.status, 202, 'rollback accepted after the deploy');
    const rrec = await finished(b, rb.json.id);
    t.equal(rrec.state, 'succeeded', `rollback succeeded${rrec.error ? `: ${rrec.error}` : ''}`);
    await waitHealthy(b, svc.name, 2, 5000);
    t.same(await versions(b.port, svc.host, 10), { v1: 10 }, 'v1 serves again');
    const all = await runContainers(svc.run);
    const orig = all.filter((c) => svc.ids.includes(c.Id));
    t.ok(orig.length === 2 && orig.every((c) => c.State === 'running'), 'the original v1 containers run again');
    const v2 = all.filter((c) => !svc.ids.includes(c.Id));
    t.ok(v2.length === 2 && v2.every((c) => c.State === 'exited' && c.Image === images.v2), 'the v2 containers are kept stopped');
    const list = await admin(b.adminPort, 'GET', `/api/services/${svc.name}/deploys`);
    t.same(list.json.deploys.map((d: any) => `${d.kind}:${d.state}`).sort(), ['deploy:succeeded', 'rollback:succeeded'], 'both listed');
  });

  t.test('image missing locally → clear 400 before anything changes', async (t) => {
    const svc = await service(t, images.v1, 2);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 2);
    const before = (await runContainers(svc.run)).map((c) => `${c.Id}:${c.State}`).sort();
    const upstreamsBefore = healthyUpstreams(b, svc.name).map((u) => u.id).sort();
    const missing = `baton-test-app:missing-${process.pid}-${Date.now()}`;
    const res = await admin(b.adminPort, 'POST', `/api/services/${svc.name}/deploys`, { image: missing });
    t.equal(res.status, 400, '400');
    t.equal(res.json.error.code, 'BATON_BAD_REQUEST', 'code');
    t.match(res.json.error.message, `image ${missing} is not present on this Docker host`, `message: ${res.json.error.message}`);
    const bad = await admin(b.adminPort, 'POST', `/api/services/${svc.name}/deploys`, { image: 'Not A Ref!' });
    t.equal(bad.status, 400, 'an invalid reference: 400 too');
    t.match(bad.json.error.message, /image: not a valid image reference/, `message: ${bad.json.error.message}`);
    t.equal((await admin(b.adminPort, 'POST', `/api/services/${svc.name}-nope/deploys`, { image: images.v2 })).status, 404, 'unknown service: 404');
    await sleep(500);
    t.same((await runContainers(svc.run)).map((c) => `${c.Id}:${c.State}`).sort(), before, 'containers unchanged');
    t.same(healthyUpstreams(b, svc.name).map((u) => u.id).sort(), upstreamsBefore, 'routing unchanged');
    t.same((await admin(b.adminPort, 'GET', `/api/services/${svc.name}/deploys`)).json.deploys, [], 'no deploy recorded');
    const again = await admin(b.adminPort, 'POST', `/api/services/${svc.name}/scale`, { replicas: 2 });
    t.equal(again.status, 202, 'no lock left behind (scale accepted)');
    t.equal((await finished(b, again.json.id)).state, 'succeeded', 'scale to the same count succeeds');
  });
}
