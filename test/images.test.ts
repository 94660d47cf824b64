// The Docker test images (test/fixtures/images.ts) and the app inside them (test/fixtures/app/server.js),
// against the real engine. Skipped, with the reason, when no engine answers.
import t from 'tap';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildStats, buildTestImages, dockerAvailable, dockerClient, removeTestContainers } from './fixtures/images.ts';

const reason = await dockerAvailable();
if (reason) {
  t.comment(`SKIPPED: ${reason}`); // reason reads "no Docker engine at <address>: <error>"
  t.plan(0, reason);
} else {
  await run();
}

async function run(): Promise<void> {
  const docker = dockerClient();
  // containers of this file only: other test files may be using baton.test=1 containers at the same time
  const RUN_LABEL = `baton.test.run=images-${process.pid}-${Date.now()}`;
  const [runKey, runValue] = RUN_LABEL.split('=');
  t.teardown(() => removeTestContainers(RUN_LABEL));

  const started = Date.now();
  const images = await buildTestImages();
  t.comment(`buildTestImages: ${buildStats.cached ? 'cached' : 'built'} in ${Date.now() - started} ms`);

  type Got = { status: number; headers: Record<string, string | string[] | undefined>; body: string };
  function http(port: number, path: string, method = 'GET', body?: string): Promise<Got> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method, agent: false, timeout: 5000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`timeout ${method} ${path}`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Creates and starts a container publishing 8080 on a random loopback port; waits until it answers. */
  async function start(image: string, opts: { env?: string[]; binds?: string[] } = {}) {
    const container = await docker.createContainer({
      Image: image,
      Labels: { 'baton.test': '1', [runKey]: runValue },
      Env: opts.env,
      ExposedPorts: { '8080/tcp': {} },
      HostConfig: {
        PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
        Binds: opts.binds,
      },
    });
    await container.start();
    const info = await container.inspect();
    const port = Number(info.NetworkSettings.Ports['8080/tcp']?.[0]?.HostPort);
    if (!port) throw new Error(`no published port for ${image}: ${JSON.stringify(info.NetworkSettings.Ports)}`);
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await http(port, '/health');
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(50);
      }
    }
    return { container, port, info };
  }

  t.test('refs', async (t) => {
    for (const v of ['v1', 'v2', 'bad', 'crashy', 'hc'] as const) {
      t.match(images[v], new RegExp(`^baton-test-app:${v}-[0-9a-f]{12}$`), v);
      const img = await docker.getImage(images[v]).inspect();
      t.equal(img.Config.Labels?.['baton.test'], '1', `${v} label baton.test`);
      t.equal(img.Config.Labels?.['baton.test.image'], v, `${v} label baton.test.image`);
      t.ok(img.Config.Env?.includes(`IMAGE_ONLY_${v.toUpperCase()}=1`), `${v} has IMAGE_ONLY_${v.toUpperCase()}`);
    }
  });

  t.test('v1 answers / and /health and /slow', async (t) => {
    const { port, info } = await start(images.v1);
    const root = await http(port, '/');
    t.equal(root.status, 200);
    t.equal(root.headers['x-app-version'], 'v1');
    const json = JSON.parse(root.body);
    t.equal(json.version, 'v1');
    t.equal(json.hostname, info.Config.Hostname, 'hostname is the container hostname');
    t.type(json.pid, 'number');
    const health = await http(port, '/health');
    t.equal(health.status, 200);
    t.equal(health.body, 'ok');
    const t0 = Date.now();
    const slow = await http(port, '/slow?ms=300');
    t.ok(Date.now() - t0 >= 280, `slow took ${Date.now() - t0} ms`);
    t.match(JSON.parse(slow.body), { version: 'v1', slow: 300 });
  });

  t.test('bad: /health is 503', async (t) => {
    const { port } = await start(images.bad);
    t.equal((await http(port, '/health')).status, 503);
    t.equal(JSON.parse((await http(port, '/')).body).version, 'bad');
  });

  t.test('hc: Docker reports healthy within 10 s', async (t) => {
    const t0 = Date.now();
    const { container } = await start(images.hc);
    let status = '';
    while (Date.now() - t0 < 10_000) {
      status = (await container.inspect()).State.Health?.Status ?? '';
      if (status === 'healthy') break;
      await sleep(100);
    }
    t.equal(status, 'healthy', `health after ${Date.now() - t0} ms`);
  });

  t.test('v2 container env: its own image defaults only', async (t) => {
    const { info } = await start(images.v2);
    t.ok(info.Config.Env.includes('IMAGE_ONLY_V2=1'));
    t.notOk(info.Config.Env.some((e) => e.startsWith('IMAGE_ONLY_V1')));
    t.ok(info.Config.Env.includes('APP_VERSION=v2'));
  });

  t.test('POST writes processed.log; SIGTERM writes signals.log and exits 0 at once', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-images-test-'));
    chmodSync(dir, 0o777);
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const { container, port, info } = await start(images.v1, { env: ['DATA_DIR=/data'], binds: [`${dir}:/data`] });
    const host = info.Config.Hostname;
    const posted = await http(port, '/orders/42', 'POST', '{"qty":1}');
    t.equal(posted.status, 201);
    t.same(JSON.parse(posted.body), { id: '42', version: 'v1' });
    await http(port, '/orders/43', 'POST', '');
    t.equal(readFileSync(join(dir, 'processed.log'), 'utf8'), `42 v1 ${host}\n43 v1 ${host}\n`);
    const t0 = Date.now();
    await container.stop({ t: 10 });
    const stopMs = Date.now() - t0;
    t.ok(stopMs < 3000, `stopped in ${stopMs} ms (no 10 s SIGKILL wait)`);
    t.equal((await container.inspect()).State.ExitCode, 0);
    t.match(readFileSync(join(dir, 'signals.log'), 'utf8'), new RegExp(`^SIGTERM ${host} \\d{13}\\n$`));
  });

  t.test('crashy: healthy, then unhealthy after ~3 s, then exits 1 ~1.5 s later', async (t) => {
    const t0 = Date.now();
    const { container, port } = await start(images.crashy);
    t.equal((await http(port, '/health')).status, 200);
    let ill = false;
    for (let i = 0; i < 60 && !ill; i++) {
      await sleep(100);
      ill = (await http(port, '/health').catch(() => ({ status: 0 }))).status === 503;
    }
    t.ok(ill, `falls ill (health 503) before it exits, after ${Date.now() - t0} ms`);
    const exit = await Promise.race([
      container.wait() as Promise<{ StatusCode: number }>,
      sleep(8000).then(() => ({ StatusCode: -1 })),
    ]);
    const ms = Date.now() - t0;
    t.equal(exit.StatusCode, 1, `exit code after ${ms} ms`);
    t.ok(ms >= 4000 && ms < 8000, `exited after ${ms} ms`);
  });
}
