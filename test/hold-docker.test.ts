// Hold instead of fail on the real Docker engine: a singleton (one container) stop-first deploy under load with
// zero failed requests (requests wait through the gap between the old container's drain and the new one's health
// gate), and a new version that never becomes healthy with a short hold timeout: clear 503s with Retry-After, the
// old version restored and serving. Skipped, with the reason, when no engine answers.
import t, { type Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  batonLabels, createContainer, dockerConfig, finished, testImages, testRuns, versions, waitHealthy,
  whenDockerAnswers,
} from './fixtures/docker.ts';
import { admin, http, startBaton, type TestBaton } from './fixtures/harness.ts';
import { dockerClient } from './fixtures/images.ts';
import { describeLoad, runLoad } from './fixtures/load.ts';

await whenDockerAnswers(t, 240_000, run);

async function run(): Promise<void> {
  const docker = dockerClient();
  const images = await testImages(t);
  const unique = testRuns('hold', { dirPrefix: 'baton-hold-data-', mountable: true });
  const DEPLOY = { monitor: '2s', healthTimeout: '10s', drainTimeout: '10s' };

  async function singleton(t: Test) {
    const u = unique(t);
    const id = await createContainer(`${u.name}-orig-0`, images.v1, u.run, batonLabels(u.name, u.host), u.dir);
    await docker.getContainer(id).start();
    return u;
  }

  async function deploy(b: TestBaton, name: string, body: Record<string, unknown>): Promise<string> {
    const res = await admin(b.adminPort, 'POST', `/api/services/${name}/deploys`, body);
    if (res.status !== 202) throw new Error(`deploy not accepted: ${res.status} ${JSON.stringify(res.json)}`);
    return res.json.id as string;
  }

  t.test('a singleton stop-first deploy under load: zero failed requests', async (t) => {
    const u = await singleton(t);
    const b = await startBaton(t, dockerConfig());
    await waitHealthy(b, u.name, 1);
    let rec: any;
    const go = (async () => {
      await sleep(1000);
      rec = await finished(b, await deploy(b, u.name, { image: images.v2, order: 'stop-first', ...DEPLOY }));
    })();
    const runId = `${u.run}-singleton`;
    const load = await runLoad({ port: b.port, host: u.host, runId, until: go, tailMs: 1000, maxDurationMs: 60_000 });
    await go;
    t.comment(`singleton stop-first: ${rec.state}; ${describeLoad(load)}`);
    t.equal(rec.state, 'succeeded');
    t.ok(load.requests >= 100, `load ran (${load.requests} requests)`);
    t.equal(load.non2xx, 0, 'zero non-2xx');
    t.equal(load.errors, 0, 'zero socket errors');
    t.equal(load.timeouts, 0, 'zero timeouts');
    t.same(load.failures, [], 'no failures');
    t.same(Object.keys(await versions(b.port, u.host, 5)), ['v2'], 'v2 serves');
    t.equal(b.app.registry.modes.get(u.name).deployHolds, 0, 'the hold ended with the deploy');
  });

  t.test('a version that never gets healthy: the hold timeout answers 503 + Retry-After, v1 restored', async (t) => {
    const u = unique(t);
    const labels = { ...batonLabels(u.name, u.host), 'baton.hold.timeout': '1500ms' };
    const id = await createContainer(`${u.name}-orig-0`, images.v1, u.run, labels, u.dir);
    await docker.getContainer(id).start();
    const b = await startBaton(t, dockerConfig());
    await waitHealthy(b, u.name, 1);
    const depId = await deploy(b, u.name, { image: images.bad, order: 'stop-first', ...DEPLOY, healthTimeout: '4s' });
    await waitFor(async () => (b.app.registry.services.get(u.name)?.held?.size ?? 0) > 0 || (await gap(b, u)), 20_000);
    const r = await http(b.port, { host: u.host, path: '/' });
    t.equal(r.status, 503, 'held past the hold timeout: 503');
    t.equal(r.headers['x-baton-error'], 'hold_timeout');
    t.equal(r.headers['retry-after'], '5');
    const rec = await finished(b, depId);
    t.equal(rec.state, 'rolled_back', 'the deploy failed and rolled back');
    await waitHealthy(b, u.name, 1);
    t.same(Object.keys(await versions(b.port, u.host, 5)), ['v1'], 'v1 serves again');
  });

  /** The old container is out of rotation and no new one takes traffic yet. */
  async function gap(b: TestBaton, u: { name: string }): Promise<boolean> {
    const s = b.app.registry.services.get(u.name);
    return s !== undefined && !s.upstreams.some((x) => x.takesTraffic);
  }

  async function waitFor(fn: () => Promise<boolean>, ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!(await fn())) {
      if (Date.now() > until) throw new Error('timed out waiting for the deploy gap');
      await sleep(25);
    }
  }
}
