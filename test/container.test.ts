// baton as a container, run the way the README tells a user to: the image built from the repo's Dockerfile
// (test/fixtures/baton-image.ts: a local Node 24 base, the CA as a build secret), the Docker socket mounted with its
// group added, the config mounted and named by BATON_CONFIG, the admin API published with a token from the
// environment. Seed 001's layout for real: apps as containers on a user network, discovered by their labels and
// routed by container IP, and a `baton deploy` (the CLI, from outside) under load through the published port with
// zero failed requests. Skipped, with the reason, when no engine answers.
import t, { type Test } from 'tap';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { batonImageStats, buildBatonImage, CA_BUNDLE } from './fixtures/baton-image.ts';
import { batonCli as cli, batonLabels, ENDPOINT, testImages, testRuns, versions, whenDockerAnswers, type TestRun } from './fixtures/docker.ts';
import { http, TOKEN, waitFor } from './fixtures/harness.ts';
import { dockerClient } from './fixtures/images.ts';
import { describeLoad, runLoad } from './fixtures/load.ts';

await whenDockerAnswers(t, 300_000, run);

async function run(): Promise<void> {
  if (!ENDPOINT.startsWith('unix://')) {
    t.comment(`SKIPPED: the engine is at ${ENDPOINT}; these tests mount its unix socket into baton's container`);
    t.plan(0, 'the Docker engine is not on a unix socket');
    return;
  }
  const socket = ENDPOINT.slice('unix://'.length);
  const docker = dockerClient();
  const images = await testImages(t);
  const image = await buildBatonImage();
  t.comment(`baton image ${image}: ${batonImageStats.cached ? 'cached' : `built with ${batonImageStats.cli}`} in ${batonImageStats.ms} ms`);
  const unique = testRuns('ctr', { dirPrefix: 'baton-container-' });

  t.test('the image: exec form on any Node 24 base, uid 1000, a HEALTHCHECK, and no trace of the build secret', async (t) => {
    const info = await docker.getImage(image).inspect();
    t.equal(info.Config.User, '1000:1000', 'runs as uid 1000');
    t.same(info.Config.Entrypoint, ['node', 'bin/baton.js']);
    t.same(info.Config.Cmd, ['serve']);
    const hc = (info.Config as { Healthcheck?: { Test?: string[] } }).Healthcheck;
    t.same(hc?.Test, ['CMD', 'node', 'bin/baton.js', 'health'], 'HEALTHCHECK runs `baton health` (exec form)');
    t.notOk((info.Config.Env ?? []).some((e) => e.startsWith('NODE_EXTRA_CA_CERTS')), 'no CA variable in the image');
    const history = await docker.getImage(image).history();
    const created = history.map((h: { CreatedBy?: string }) => h.CreatedBy ?? '').join('\n');
    t.notMatch(created, /BEGIN CERTIFICATE|NPM_EXTRA_CA/, 'no certificate or CA build argument in the history');
    t.ok(CA_BUNDLE !== undefined, `the build was given the machine's CA bundle (${CA_BUNDLE}) as the npm_ca secret`);
    // the secret was mounted for npm's RUN only: nothing of it in the final filesystem, and the process is uid 1000
    const probe = await runOnce(image, [
      '-e',
      "const fs=require('fs');console.log(JSON.stringify({uid:process.getuid(),secret:fs.existsSync('/run/secrets/npm_ca'),state:fs.statSync('/app/.baton').uid,writableCode:(()=>{try{fs.writeFileSync('/app/src/x','');return true}catch{return false}})()}))",
    ]);
    t.same(JSON.parse(probe), { uid: 1000, secret: false, state: 1000, writableCode: false }, 'uid 1000, state dir its own, code read-only, no secret file');
  });

  t.test('seed 001 for real: baton in a container on a user network, apps by labels and IP, a deploy under load through the published port', async (t) => {
    const u = unique(t);
    const net = await docker.createNetwork({ Name: u.name, Labels: { 'baton.test': '1', 'baton.test.run': u.run } });
    t.teardown(async () => {
      await removeRun(u);
      await net.remove().catch(() => {});
    });
    const apps: string[] = [];
    for (let k = 0; k < 2; k++) apps.push(await startApp(u, `${u.name}-app-${k}`, images.v1, u.name));
    const baton = await startBatonContainer(t, u, image, socket, u.name);
    t.comment(`baton container: web 127.0.0.1:${baton.web}, admin 127.0.0.1:${baton.admin}`);

    await waitFor(async () => (await versions(baton.web, u.host, 4).catch((): Record<string, number> => ({})))['v1'] === 4, 30_000, 'apps routed through the published port');
    // routed by the containers' IPs on the user network
    const ips = await Promise.all(apps.map(async (id) => (await docker.getContainer(id).inspect()).NetworkSettings.Networks[u.name].IPAddress));
    const services = await adminGet(baton.admin, '/api/services');
    const svc = services.services.find((s: { name: string }) => s.name === u.name);
    t.same(svc.upstreams.map((x: { url: string }) => x.url).sort(), ips.map((ip) => `http://${ip}:8080`).sort(), 'upstreams are the containers\' IPs on the user network');

    // the HEALTHCHECK (`baton health`) passes
    await waitFor(async () => (await docker.getContainer(baton.id).inspect()).State.Health?.Status === 'healthy', 40_000, 'Docker reports baton healthy');
    t.pass('Docker HEALTHCHECK: healthy');

    // `baton deploy` from outside the container, against the published admin port, under load through the published web port
    let deploy: { code: number | null; out: string } | undefined;
    const go = (async () => {
      await sleep(1000);
      deploy = await cli(['deploy', u.name, '--image', images.v2, '--admin-url', `http://127.0.0.1:${baton.admin}`, '--token', TOKEN]);
    })();
    const load = await runLoad({ port: baton.web, host: u.host, runId: u.run, until: go, tailMs: 1000, maxDurationMs: 90_000 });
    await go;
    t.comment(`deploy through baton's container: ${describeLoad(load)}`);
    t.equal(deploy?.code, 0, `baton deploy exited 0\n${deploy?.out}`);
    t.ok(load.requests >= 200, `load ran (${load.requests} requests)`);
    t.equal(load.non2xx + load.errors + load.timeouts + load.unanswered, 0, 'zero failed requests');
    t.same(load.failures, []);
    t.ok((load.versions['v1'] ?? 0) > 0 && (load.versions['v2'] ?? 0) > 0, `both versions answered during the deploy: ${JSON.stringify(load.versions)}`);
    t.same(await versions(baton.web, u.host, 6), { v2: 6 }, 'after the deploy: v2 only');

    // logs: JSON lines on stdout, an access line per request
    const logs = await containerLogs(baton.id);
    const lines = logs.split('\n').filter((l) => l.trim() !== '');
    const bad = lines.filter((l) => { try { JSON.parse(l); return false; } catch { return true; } });
    t.same(bad.slice(0, 3), [], `every log line is JSON (${lines.length} lines)`);
    t.ok(lines.some((l) => JSON.parse(l).component === 'access'), 'access-log lines');
    t.notOk(logs.includes(TOKEN), 'the admin token never appears in the logs');

    // SIGTERM: the request in flight finishes, baton exits 0
    const slow = http(baton.web, { host: u.host, path: '/slow?ms=1500' });
    await sleep(300);
    const t0 = Date.now();
    await docker.getContainer(baton.id).stop({ t: 20 });
    const stoppedMs = Date.now() - t0;
    const r = await slow;
    t.equal(r.status, 200, 'the request in flight at SIGTERM was answered');
    const state = (await docker.getContainer(baton.id).inspect()).State;
    t.equal(state.ExitCode, 0, `baton exited 0 after ${stoppedMs} ms`);
    t.ok(stoppedMs < 15_000, 'stopped by itself, not killed after the grace period');
    t.match(await containerLogs(baton.id), /Shutting down: finishing in-flight requests[\s\S]*"Stopped"/);
  });

  // ── helpers ──────────────────────────────────────────────────────────────────────────────────────

  /** An app container on `network` only, with baton.* labels. */
  async function startApp(u: TestRun, name: string, img: string, network: string): Promise<string> {
    const c = await docker.createContainer({
      name,
      Image: img,
      Labels: { 'baton.test': '1', 'baton.test.run': u.run, ...batonLabels(u.name, u.host) },
      HostConfig: { NetworkMode: network },
    });
    await c.start();
    return c.id;
  }

  /** baton's container as the README runs it; returns its id and published ports. */
  async function startBatonContainer(t: Test, u: TestRun, img: string, sock: string, network: string) {
    chmodSync(u.dir, 0o755); // readable by uid 1000
    const config = join(u.dir, 'baton.yaml');
    writeFileSync(config, stringify({
      entrypoints: { web: { address: '0.0.0.0:8080' } },
      stateDir: '/app/.baton',
      log: { level: 'info', accessLog: true },
      providers: { docker: { enabled: true, endpoint: 'unix:///var/run/docker.sock', network } },
    }));
    chmodSync(config, 0o644);
    const c = await docker.createContainer({
      name: `${u.name}-baton`,
      Image: img,
      Labels: { 'baton.test': '1', 'baton.test.run': u.run },
      Env: ['BATON_CONFIG=/etc/baton/baton.yaml', 'BATON_ADMIN_ADDRESS=0.0.0.0:8081', `BATON_ADMIN_TOKEN=${TOKEN}`],
      ExposedPorts: { '8080/tcp': {}, '8081/tcp': {} },
      HostConfig: {
        NetworkMode: network,
        Binds: [`${sock}:/var/run/docker.sock`, `${u.dir}:/etc/baton:ro`],
        GroupAdd: [String(statSync(sock).gid)],
        PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }], '8081/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
      },
    });
    await c.start();
    t.teardown(async () => {
      if (t.passing()) return;
      t.comment(`baton container logs:\n${(await containerLogs(c.id).catch(() => '')).split('\n').slice(-30).join('\n')}`);
    });
    const ports = (await c.inspect()).NetworkSettings.Ports;
    const web = Number(ports['8080/tcp']?.[0]?.HostPort);
    const admin = Number(ports['8081/tcp']?.[0]?.HostPort);
    return { id: c.id, web, admin };
  }

  async function adminGet(port: number, path: string) {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return res.json();
  }

  async function containerLogs(id: string): Promise<string> {
    const buf = (await docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    return demux(buf);
  }

  /** Docker's multiplexed log stream (8-byte frame headers) → text. */
  function demux(buf: Buffer): string {
    let out = '';
    let i = 0;
    while (i + 8 <= buf.length) {
      const len = buf.readUInt32BE(i + 4);
      out += buf.subarray(i + 8, i + 8 + len).toString('utf8');
      i += 8 + len;
    }
    return out;
  }

  /** `docker run --rm --entrypoint node <image> <args>`: its stdout. */
  async function runOnce(img: string, args: string[]): Promise<string> {
    const c = await docker.createContainer({ Image: img, Entrypoint: ['node'], Cmd: args, Labels: { 'baton.test': '1' } });
    try {
      await c.start();
      await c.wait();
      return demux((await c.logs({ stdout: true, stderr: false })) as unknown as Buffer).trim();
    } finally {
      await c.remove({ force: true }).catch(() => {});
    }
  }

  async function removeRun(u: TestRun): Promise<void> {
    const list = await docker.listContainers({ all: true, filters: { label: [`baton.test.run=${u.run}`] } });
    await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
  }
}
