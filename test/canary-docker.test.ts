// Canary deploys and version-sticky swaps on the real Docker engine: a 10 % canary (new clients split 9–11 %,
// each kept on its generation by its cookie) → promote → all v2; a header canary → rollback → all v1 with the
// canary's containers gone; a canary that dies rolls back on its own; a stickyFor deploy keeps a v1 page's asset
// requests on v1 through the switch while new clients get v2. Skipped, with the reason, when no engine answers.
import t, { type Test } from 'tap';
import { Agent, request } from 'undici';
import { setTimeout as sleep } from 'node:timers/promises';
import { batonCli, batonLabels, finished, runContainers, startDockerBaton, testImages, testRuns, versions, waitHealthy, whenDockerAnswers, type TestRun } from './fixtures/docker.ts';
import { admin, TOKEN, waitFor, type TestBaton } from './fixtures/harness.ts';
import { dockerClient } from './fixtures/images.ts';
import { startContainer } from './fixtures/docker.ts';
import { describeLoad, runLoad } from './fixtures/load.ts';

await whenDockerAnswers(t, 240_000, run);

async function run(): Promise<void> {
  const docker = dockerClient();
  const images = await testImages(t);
  const unique = testRuns('canary', { dirPrefix: 'baton-canary-data-', mountable: true });
  const DEPLOY = { monitor: '1s', healthTimeout: '15s', drainTimeout: '5s' };
  const agent = new Agent({ connections: 16 });
  t.teardown(() => agent.close());

  async function service(t: Test, replicas: number): Promise<TestRun> {
    const u = unique(t);
    for (let k = 0; k < replicas; k++) await startContainer(`${u.name}-orig-${k}`, images.v1, u.run, batonLabels(u.name, u.host), u.dir);
    return u;
  }

  /** One GET: the version that answered and the baton_gen cookie it set (or null). */
  async function get(b: TestBaton, host: string, headers: Record<string, string> = {}, path = '/'): Promise<{ version: string; cookie: string | null }> {
    const res = await request(`http://127.0.0.1:${b.port}${path}`, { headers: { host, ...headers }, dispatcher: agent });
    const text = await res.body.text();
    const c = res.headers['set-cookie'];
    const m = /baton_gen=([^;]*)/.exec(Array.isArray(c) ? c.join(',') : (c ?? ''));
    return { version: res.statusCode === 200 ? JSON.parse(text).version : `HTTP ${res.statusCode}`, cookie: m === null ? null : m[1] };
  }

  async function startDeploy(b: TestBaton, name: string, body: Record<string, unknown>): Promise<string> {
    const res = await admin(b.adminPort, 'POST', `/api/services/${name}/deploys`, { ...DEPLOY, ...body });
    if (res.status !== 202) throw new Error(`deploy not accepted: ${res.status} ${JSON.stringify(res.json)}`);
    return res.json.id as string;
  }

  async function record(b: TestBaton, id: string): Promise<any> {
    return (await admin(b.adminPort, 'GET', `/api/deploys/${id}`)).json;
  }

  async function inCanary(b: TestBaton, id: string): Promise<any> {
    let rec: any;
    await waitFor(async () => {
      rec = await record(b, id);
      if (['failed', 'rolled_back', 'succeeded'].includes(rec.state)) throw new Error(`deploy ended: ${JSON.stringify(rec)}`);
      return rec.live?.phase === 'canary';
    }, 60_000, 'the canary phase');
    return rec;
  }

  t.test('canary 10 % → promote → all v2', async (t) => {
    const svc = await service(t, 2);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 2);
    const id = await startDeploy(b, svc.name, { image: images.v2, canary: '10%' });
    await inCanary(b, id);
    const n = 1000;
    const first: Array<{ version: string; cookie: string | null }> = [];
    for (let i = 0; i < n; i += 50) first.push(...(await Promise.all(Array.from({ length: 50 }, () => get(b, svc.host)))));
    const onV2 = first.filter((r) => r.version === 'v2').length;
    t.ok(onV2 >= 0.09 * n && onV2 <= 0.11 * n, `${onV2} of ${n} new clients on the canary (9–11 %)`);
    const gen = (await record(b, id)).generation as number;
    t.ok(first.every((r) => r.cookie === (r.version === 'v2' ? String(gen) : '0')), 'each new client got the cookie of its generation');
    let kept = 0;
    for (let i = 0; i < n; i += 50) {
      const again = await Promise.all(first.slice(i, i + 50).map((r) => get(b, svc.host, { cookie: `baton_gen=${r.cookie}` })));
      kept += again.filter((r, k) => r.version === first[i + k].version && r.cookie === null).length;
    }
    t.equal(kept, n, 'every client presenting its cookie stayed on its generation (100 %)');
    let live: any;
    const counted = () => live.canary.new.requests >= onV2 * 2 && live.canary.old.requests >= (n - onV2) * 2;
    // live is sampled every 250 ms
    await waitFor(async () => ((live = (await record(b, id)).live), counted()), 5000).catch(() => {});
    t.comment(`live.canary: ${JSON.stringify(live.canary)}`);
    t.ok(counted(), 'live counts both generations side by side');
    t.equal(live.canary.new.failures, 0);
    t.equal((await admin(b.adminPort, 'POST', `/api/services/${svc.name}/deploys`, { image: images.v2 })).status, 409, 'the lock is held during the canary');
    const promoted = await admin(b.adminPort, 'POST', `/api/services/${svc.name}/promote`, {});
    t.equal(promoted.status, 202);
    t.equal(promoted.json.id, id, 'promote answers with the canary deploy');
    const rec = await finished(b, id);
    t.equal(rec.state, 'succeeded', rec.error ?? 'succeeded');
    t.same(await versions(b.port, svc.host, 20), { v2: 20 }, 'all v2 after promote');
    t.equal((await runContainers(svc.run, false)).length, 2, 'two containers run: the new generation');
    t.equal((await get(b, svc.host, { cookie: 'baton_gen=0' })).version, 'v2', 'an old cookie after promote: v2');
    t.equal((await admin(b.adminPort, 'POST', `/api/services/${svc.name}/promote`, {})).status, 409, 'nothing left to promote');
  });

  t.test('header canary → rollback → all v1, canary containers gone', async (t) => {
    const svc = await service(t, 1);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 1);
    const id = await startDeploy(b, svc.name, { image: images.v2, canaryHeader: 'X-Canary' });
    await inCanary(b, id);
    for (let i = 0; i < 10; i++) {
      t.equal((await get(b, svc.host, { 'x-canary': '1' })).version, 'v2', 'X-Canary: v2');
      t.equal((await get(b, svc.host)).version, 'v1', 'no header: v1');
    }
    const res = await admin(b.adminPort, 'POST', `/api/services/${svc.name}/rollback`, {});
    t.equal(res.status, 202);
    const rec = await finished(b, id);
    t.equal(rec.state, 'rolled_back');
    t.same(await versions(b.port, svc.host, 10), { v1: 10 }, 'all v1');
    t.equal((await get(b, svc.host, { 'x-canary': '1', cookie: `baton_gen=${rec.generation}` })).version, 'v1', 'the canary cookie too');
    const all = await runContainers(svc.run, true);
    t.same(all.map((c) => c.Names[0]), [`/${svc.name}-orig-0`], 'the canary containers are removed');
  });

  t.test('canaryDuration promotes on its own, under load with zero failed requests', async (t) => {
    const svc = await service(t, 2);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 2);
    let rec: any;
    const go = (async () => {
      await sleep(1000); // load on the old version first
      const id = await startDeploy(b, svc.name, { image: images.v2, canary: '50%', canaryDuration: '3s' });
      rec = await finished(b, id);
    })();
    const load = await runLoad({ port: b.port, host: svc.host, runId: 'canary-load', until: go, tailMs: 500, maxDurationMs: 90_000 });
    await go;
    t.comment(describeLoad(load));
    t.equal(rec.state, 'succeeded', rec.error ?? 'succeeded');
    t.ok(rec.steps.some((s: any) => s.action === 'canary' && s.status === 'done' && /canaryDuration over/.test(s.detail)), 'promoted by the canaryDuration');
    t.ok(load.requests >= 200, `load ran (${load.requests} requests)`);
    t.equal(load.non2xx, 0, 'zero non-2xx');
    t.equal(load.errors, 0, 'zero socket errors');
    t.equal(load.timeouts, 0, 'zero timeouts');
    t.same(await versions(b.port, svc.host, 10), { v2: 10 });
  });

  t.test('a promote given while the canary starts acts once it takes traffic', async (t) => {
    const svc = await service(t, 1);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 1);
    const id = await startDeploy(b, svc.name, { image: images.v2, canary: '10%' });
    const res = await admin(b.adminPort, 'POST', `/api/services/${svc.name}/promote`, {});
    t.equal(res.status, 202);
    t.equal(res.json.id, id);
    const rec = await finished(b, id);
    t.equal(rec.state, 'succeeded', rec.error ?? 'succeeded');
    t.ok(rec.steps.some((s: any) => s.action === 'canary' && s.status === 'done' && /baton promote/.test(s.detail)));
    t.same(await versions(b.port, svc.host, 10), { v2: 10 });
  });

  t.test('the CLI: baton deploy --canary, followed live, then baton promote', async (t) => {
    const svc = await service(t, 1);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 1);
    const flags = ['--admin-url', `http://127.0.0.1:${b.adminPort}`, '--token', TOKEN, '--plain'];
    const deploying = batonCli(['deploy', svc.name, '--image', images.v2, '--canary', '25%', '--monitor', '1s', ...flags], 90_000);
    await waitFor(() => (b.app.registry.services.get(svc.name)?.split?.shares.length ?? 0) === 2, 60_000, 'the canary split');
    const promoted = await batonCli(['promote', svc.name, ...flags], 90_000);
    const deployed = await deploying;
    t.equal(promoted.code, 0, promoted.out);
    t.equal(deployed.code, 0, deployed.out);
    t.match(deployed.out, /canary 25%/, 'the deploy says it is a canary');
    t.match(deployed.out, /canary/);
    t.same(await versions(b.port, svc.host, 10), { v2: 10 });
    t.equal((await batonCli(['promote', svc.name, ...flags], 30_000)).code, 1, 'nothing left to promote: exit 1');
  });

  t.test('a canary that dies rolls back on its own', async (t) => {
    const svc = await service(t, 1);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 1);
    const id = await startDeploy(b, svc.name, { image: images.crashy, canary: '50%' });
    const rec = await finished(b, id);
    t.equal(rec.state, 'rolled_back');
    t.match(rec.error, /canary/);
    t.same(await versions(b.port, svc.host, 10), { v1: 10 });
  });

  t.test('stickyFor: a v1 page keeps loading its assets from v1 through the switch', async (t) => {
    const svc = await service(t, 1);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 1);
    const id = await startDeploy(b, svc.name, { image: images.v2, stickyFor: '6s' });
    // the page, served by v1 while the deploy runs: it carries v1's cookie
    let page = await get(b, svc.host);
    await waitFor(async () => (page = await get(b, svc.host)).cookie !== null, 20_000, 'the cookie of v1');
    t.same(page, { version: 'v1', cookie: '0' });
    await waitFor(async () => (await record(b, id)).steps.some((s: any) => s.action === 'switch' && s.status === 'done'), 60_000, 'the switch');
    const end = Date.now() + 3000;
    let assets = 0;
    let fresh = 0;
    while (Date.now() < end) {
      const [a, q, n] = await Promise.all([
        get(b, svc.host, { cookie: 'baton_gen=0' }, '/app.js'),
        get(b, svc.host, {}, '/app.css?baton_gen=0'),
        get(b, svc.host),
      ]);
      if (a.version === 'v1' && q.version === 'v1') assets++;
      else t.fail(`an asset of the v1 page went to ${a.version} / ${q.version}`);
      if (n.version === 'v2') fresh++;
      else t.fail(`a new client went to ${n.version}`);
      await sleep(50);
    }
    t.ok(assets > 10, `${assets} asset pairs of the v1 page served by v1 after the switch`);
    t.ok(fresh > 10, `${fresh} new clients served by v2`);
    const rec = await finished(b, id);
    t.equal(rec.state, 'succeeded', rec.error ?? '');
    t.ok(rec.steps.some((s: any) => s.action === 'sticky' && s.status === 'done'), 'the sticky window ran');
    t.same(await versions(b.port, svc.host, 10), { v2: 10 }, 'after stickyFor: all v2');
    t.equal((await get(b, svc.host, { cookie: 'baton_gen=0' })).version, 'v2', 'the v1 cookie after the window: v2');
    t.equal((await runContainers(svc.run, false)).length, 1, 'the old container was retired');
  });

  t.test('bad canary requests are refused, nothing changes', async (t) => {
    const svc = await service(t, 1);
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc.name, 1);
    for (const body of [
      { canary: '0%' },
      { canary: '100%' },
      { canary: 'ten' },
      { canary: '10%', canaryHeader: 'X-Canary' },
      { canaryDuration: '5m' },
      { canaryHeader: 'bad header' },
    ]) {
      const res = await admin(b.adminPort, 'POST', `/api/services/${svc.name}/deploys`, { image: images.v2, ...body });
      t.equal(res.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res.json)}`);
    }
    t.equal((await runContainers(svc.run, true)).length, 1);
    void docker;
  });
}
