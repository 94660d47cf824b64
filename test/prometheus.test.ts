// baton scraped by a real Prometheus server (Debian's `prometheus`, started here with a 1 s scrape interval and
// the admin token as its bearer credentials), checked with PromQL over Prometheus' HTTP API: the request count of
// a service after N requests, its rate and duration histogram, the token being required; then, on the real
// Docker engine, the deploy counter and duration after a rolling deploy under load, with the deploy history
// (GET /api/deploys) and the live progress on /api/events. Skipped, with the reason, without prometheus (and
// the deploy part without a Docker engine).
import t, { type Test } from 'tap';
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { batonLabels, createContainer, finished, startDockerBaton, testImages, testRuns, waitHealthy } from './fixtures/docker.ts';
import { admin, http, startBaton, startUpstream, TOKEN } from './fixtures/harness.ts';
import { dockerAvailable, dockerClient } from './fixtures/images.ts';
import { describeLoad, runLoad } from './fixtures/load.ts';
import { INSTALL_HINT, pollValue, prometheusBin, query, startPrometheus, targetHealth, type PromServer } from './fixtures/prometheus.ts';

const RULE = 'Host(`app.test`)';
const JOB = 'baton';

const bin = prometheusBin();
if (bin === null) {
  const where = process.env.PROMETHEUS_BIN ? `PROMETHEUS_BIN=${process.env.PROMETHEUS_BIN}` : '/usr/bin/prometheus or on PATH';
  const reason = `no prometheus binary (${where}); install it with: ${INSTALL_HINT}`;
  t.comment(`SKIPPED: ${reason}`);
  t.plan(0, reason);
} else {
  t.setTimeout(240_000);
  await run(bin);
}

/** Asserts a PromQL value holds within `ms` (polled), naming what it got when it does not. */
async function expectValue(t: Test, prom: PromServer, promql: string, ok: (v: number | null) => boolean, what: string, ms = 20_000) {
  const r = await pollValue(prom, promql, ok, ms);
  t.ok(r.held, `${what}: ${promql} = ${r.value} (after ${r.ms} ms)`);
  return r.value;
}

/** A subscriber to /api/events (server-sent events, with the bearer token). */
function subscribe(t: Test, port: number) {
  const events: Array<{ event: string; data: any }> = [];
  let buffer = '';
  const req = httpRequest({ host: '127.0.0.1', port, path: '/api/events', headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of frame.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length > 0) events.push({ event, data: JSON.parse(data.join('\n')) });
      }
    });
    res.on('error', () => {});
  });
  req.on('error', () => {});
  req.end();
  t.teardown(() => void req.destroy());
  return events;
}

async function run(bin: string): Promise<void> {
  t.test('Prometheus scrapes /metrics with the token: request count, rate and histogram of a service', async (t) => {
    const a = await startUpstream(t, 'a');
    const b = await startUpstream(t, 'b');
    const baton = await startBaton(t, { log: { level: 'info', accessLog: false }, services: { app: { rule: RULE, upstreams: [a.url, b.url] } } });
    const prom = await startPrometheus(t, bin, [
      { job: JOB, port: baton.adminPort, token: TOKEN },
      { job: 'baton-no-token', port: baton.adminPort, token: null },
    ]);
    t.teardown(() => {
      if (t.passing()) return;
      t.comment(`prometheus.yml:\n${prom.config}`);
      t.comment(`prometheus log:\n${prom.output().slice(-4000)}`);
    });
    await expectValue(t, prom, `up{job="${JOB}"}`, (v) => v === 1, 'baton scraped with the token');
    await expectValue(t, prom, 'up{job="baton-no-token"}', (v) => v === 0, 'the job without the token is down');
    const health = await targetHealth(prom);
    t.match(health['baton-no-token']?.lastError ?? '', /401/, `without the token: ${health['baton-no-token']?.lastError}`);
    t.equal(health[JOB]?.health, 'up', 'the token job is healthy');

    // traffic across several scrapes: 10 requests every 250 ms for ~3 s
    let sent = 0;
    let ok = 0;
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      const replies = await Promise.all(Array.from({ length: 10 }, () => http(baton.port)));
      sent += replies.length;
      ok += replies.filter((r) => r.status === 200).length;
      await sleep(250);
    }
    t.equal(ok, sent, `all ${sent} requests answered 200`);
    const service = 'baton_service_requests_total{service="app"}';
    await expectValue(t, prom, `sum(${service})`, (v) => v === sent, `the request count is ${sent}`);
    const byCode = await query(prom, service);
    t.same(
      byCode.map((s) => [s.metric.code, s.metric.method, s.metric.job, s.value]),
      [['200', 'GET', JOB, sent]],
      'one series: code 200, method GET',
    );
    await expectValue(t, prom, `sum(rate(${service}[10s]))`, (v) => v !== null && v > 0, 'rate() over the last 10 s is positive');
    await expectValue(t, prom, 'sum(baton_service_request_duration_seconds_count{service="app"})', (v) => v === sent, 'the duration histogram counted each');
    const p99 = 'histogram_quantile(0.99, sum by (le) (rate(baton_service_request_duration_seconds_bucket{service="app"}[10s])))';
    await expectValue(t, prom, p99, (v) => v !== null && v > 0 && v < 10, 'histogram_quantile() gives a p99 in seconds');
    await expectValue(t, prom, 'sum(baton_entrypoint_requests_total{entrypoint="web"})', (v) => v === sent, 'the entrypoint counted each');
    await expectValue(t, prom, `sum(baton_upstream_up{service="app"})`, (v) => v === 2, 'both upstreams up');
    await expectValue(t, prom, `sum(baton_upstream_requests_total{service="app"})`, (v) => v === sent, 'the upstreams took them all');
    await expectValue(t, prom, 'process_resident_memory_bytes{job="baton"}', (v) => v !== null && v > 0, 'process metrics are there');
  });

  const noDocker = await dockerAvailable();
  if (noDocker !== null) t.comment(`SKIPPED (deploy counter): ${noDocker}`);
  t.test('Prometheus sees a rolling deploy: baton_deploys_total, its duration, the history, the live progress', { skip: noDocker ?? false, timeout: 200_000 }, async (t) => {
    const images = await testImages(t);
    const unique = testRuns('prom', { dirPrefix: 'baton-prom-data-', mountable: true });
    const u = unique(t);
    const docker = dockerClient();
    const ids: string[] = [];
    for (let k = 0; k < 2; k++) ids.push(await createContainer(`${u.name}-orig-${k}`, images.v1, u.run, batonLabels(u.name, u.host), u.dir));
    await Promise.all(ids.map((id) => docker.getContainer(id).start()));
    const b = await startDockerBaton(t);
    await waitHealthy(b, u.name, 2);
    const prom = await startPrometheus(t, bin, [{ job: JOB, port: b.adminPort, token: TOKEN }]);
    t.teardown(() => {
      if (!t.passing()) t.comment(`prometheus log:\n${prom.output().slice(-4000)}`);
    });
    await expectValue(t, prom, `up{job="${JOB}"}`, (v) => v === 1, 'baton scraped');
    const deploys = `baton_deploys_total{service="${u.name}",kind="deploy",outcome="succeeded"}`;
    t.equal((await query(prom, deploys)).length, 0, 'no deploy counted before the deploy');
    const events = subscribe(t, b.adminPort);

    let id = '';
    let rec: any;
    const go = (async () => {
      await sleep(1000); // load on the old version first
      const res = await admin(b.adminPort, 'POST', `/api/services/${u.name}/deploys`, { image: images.v2, strategy: 'rolling', monitor: '2s', healthTimeout: '10s', drainTimeout: '10s' });
      if (res.status !== 202) throw new Error(`deploy not accepted: ${res.status} ${JSON.stringify(res.json)}`);
      id = res.json.id;
      rec = await finished(b, id, 120_000);
    })();
    const load = await runLoad({ port: b.port, host: u.host, runId: `${u.run}-prom`, connections: 4, rate: 200, until: go, tailMs: 500, maxDurationMs: 90_000 });
    await go;
    t.comment(`rolling deploy ${id}: ${rec.state}; load: ${describeLoad(load)}`);
    t.equal(rec.state, 'succeeded', `deploy succeeded${rec.error ? `: ${rec.error}` : ''}`);
    t.ok(load.requests > 0, `the load ran (${load.requests} requests)`);
    t.equal(load.non2xx + load.errors + load.timeouts + load.unanswered, 0, 'no request of the load failed');

    await expectValue(t, prom, deploys, (v) => v === 1, 'one succeeded deploy counted');
    const all = await query(prom, `baton_deploys_total{service="${u.name}"}`);
    t.same(all.map((s) => [s.metric.kind, s.metric.outcome, s.value]), [['deploy', 'succeeded', 1]], 'and nothing else for the service');
    const count = `baton_deploy_duration_seconds_count{service="${u.name}",kind="deploy"}`;
    await expectValue(t, prom, count, (v) => v === 1, 'the duration histogram has the deploy');
    const seconds = (Date.parse(rec.finishedAt) - Date.parse(rec.createdAt)) / 1000;
    const sum = `baton_deploy_duration_seconds_sum{service="${u.name}",kind="deploy"}`;
    await expectValue(t, prom, sum, (v) => v !== null && Math.abs(v - seconds) < 0.01, `its duration is the record's (${seconds} s)`);
    await expectValue(t, prom, `sum(baton_service_requests_total{service="${u.name}"})`, (v) => v !== null && v > 0, 'the service counted the load');

    const history = await admin(b.adminPort, 'GET', `/api/deploys?service=${encodeURIComponent(u.name)}`);
    t.equal(history.status, 200, 'GET /api/deploys?service= answers');
    const listed = (history.json?.deploys ?? []) as any[];
    t.same(listed.map((d) => d.id), [id], 'the history lists the deploy');
    const d = listed[0] ?? {};
    t.match(d, { kind: 'deploy', service: u.name, state: 'succeeded', image: images.v2, failures: 0 }, 'its summary');
    t.ok(d.requests > 0, `requests seen during the deploy: ${d.requests}`);
    t.ok(typeof d.durationMs === 'number' && d.durationMs > 0, `durationMs ${d.durationMs}`);
    t.ok(d.steps > 0, `steps ${d.steps}`);

    const mine = events.filter((e) => e.event === 'deploy' && e.data.id === id).map((e) => e.data);
    t.ok(mine.length > 0, `deploy events seen on /api/events: ${mine.length}`);
    const batches = mine.filter((e) => e.live?.batch != null).map((e) => `${e.live.batch.n}/${e.live.batch.of}`);
    t.same([...new Set(batches)], ['1/2', '2/2'], `live.batch went 1/2 then 2/2 (${batches.length} events)`);
    const drains = mine.filter((e) => /drain/.test(e.live?.phase ?? '') && typeof e.live.inflight === 'number');
    t.ok(drains.length > 0, `live drain phases with inflight numbers: ${drains.map((e) => `${e.live.phase} inflight=${e.live.inflight}`).slice(0, 4).join('; ')}`);
    // the step's own event opens the phase (no deadline yet); the live event right after it carries the deadline
    const gate = mine.filter((e) => e.live?.phase === 'health gate' && typeof e.live.deadline === 'string');
    t.ok(gate.length > 0, `the health gate published its deadline: ${gate.map((e) => e.live.deadline).join(', ')}`);
    const monitor = mine.filter((e) => e.live?.phase === 'monitor' && typeof e.live.requests === 'number');
    t.ok(monitor.length > 0, `the monitor window published its counts: ${monitor.map((e) => `${e.live.failures}/${e.live.requests}`).slice(0, 4).join(', ')}`);
    const last = mine.at(-1);
    t.equal(last?.state, 'succeeded', 'the last deploy event says succeeded');
    t.equal(last?.live, null, 'and carries no live progress');
    t.ok(events.some((e) => e.event === 'stats'), 'stats events came too');
  });
}
