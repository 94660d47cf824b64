// The deploy CLI against the real Docker engine: `baton deploy` (live progress, exit 0 on success, 1 on failure),
// `baton rollback`, `baton scale`, run as real child processes (bin/baton.js) that find the admin API and token in a
// config file, talking to a baton App in this process. Skipped, with the reason, when no engine answers.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { http, startBaton, TOKEN, waitFor, type TestBaton } from './fixtures/harness.ts';
import { buildStats, buildTestImages, dockerAvailable, dockerClient, removeTestContainers, type TestImages } from './fixtures/images.ts';


const reason = await dockerAvailable();
if (reason) {
  t.comment(`SKIPPED: ${reason}`);
  t.plan(0, reason);
} else {
  t.setTimeout(180_000);
  await run();
}

async function run(): Promise<void> {
  const docker = dockerClient();
  /** the engine baton talks to: the one the tests use (DOCKER_HOST, else the default socket) */
  const ENDPOINT = process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';
  const FILE = 'cli';
  const RUN = `${FILE}-${process.pid}-${Date.now().toString(36)}`;
  const BATON_BIN = fileURLToPath(new URL('../bin/baton.js', import.meta.url));
  let seq = 0;
  const started = Date.now();
  const images: TestImages = await buildTestImages();
  t.comment(`buildTestImages: ${buildStats.cached ? 'cached' : 'built'} in ${Date.now() - started} ms`);

  interface Setup {
    name: string;
    host: string;
    run: string;
    ids: string[];
    b: TestBaton;
    /** a config file holding only what the CLI needs: the admin address and the token */
    config: string;
  }

  async function setup(t: Test, replicas: number): Promise<Setup> {
    const i = ++seq;
    const name = `bt-${FILE}-${process.pid}-${i}`;
    const host = `${name}.test`;
    const run = `${RUN}-${i}`;
    const dir = mkdtempSync(join(tmpdir(), 'baton-docker-cli-'));
    t.teardown(async () => {
      await removeTestContainers(`baton.test.run=${run}`);
      rmSync(dir, { recursive: true, force: true });
    });
    const ids: string[] = [];
    for (let k = 0; k < replicas; k++) {
      const c = await docker.createContainer({
        name: `${name}-orig-${k}`,
        Image: images.v1,
        Labels: {
          'baton.test': '1',
          'baton.test.run': run,
          'baton.enable': 'true',
          'baton.service': name,
          'baton.rule': `Host(\`${host}\`)`,
          'baton.port': '8080',
          'baton.health.path': '/health',
          'baton.health.interval': '500ms',
        },
      });
      await c.start();
      ids.push(c.id);
    }
    const b = await startBaton(t, { providers: { docker: { enabled: true, endpoint: ENDPOINT } }, log: { level: 'info', accessLog: false } });
    await waitFor(() => (b.app.registry.services.get(name)?.upstreams ?? []).filter((u) => u.state === 'healthy').length === replicas, 15_000, 'healthy upstreams');
    const config = join(dir, 'cli.yaml');
    writeFileSync(config, stringify({ admin: { address: `127.0.0.1:${b.adminPort}`, token: TOKEN }, stateDir: join(dir, 'state') }));
    return { name, host, run, ids, b, config };
  }

  interface CliRun {
    code: number | null;
    stdout: string;
    stderr: string;
    /** stdout lines with the ms (since spawn) at which each arrived */
    lines: Array<{ at: number; text: string }>;
    ms: number;
  }

  /** `baton <args>` as a child process, with no admin URL or token in its environment. */
  function cli(args: string[], timeoutMs = 90_000): Promise<CliRun> {
    return new Promise((resolve, reject) => {
      const env = { ...process.env };
      delete env.BATON_ADMIN_URL;
      delete env.BATON_ADMIN_TOKEN;
      const t0 = Date.now();
      const proc = spawn(process.execPath, [BATON_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let partial = '';
      const lines: CliRun['lines'] = [];
      proc.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
        partial += c.toString();
        let nl: number;
        while ((nl = partial.indexOf('\n')) !== -1) {
          lines.push({ at: Date.now() - t0, text: partial.slice(0, nl) });
          partial = partial.slice(nl + 1);
        }
      });
      proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => {
        proc.kill('SIGKILL'); // the child this test started
        reject(new Error(`baton ${args.join(' ')} did not exit within ${timeoutMs} ms: ${stdout} ${stderr}`));
      }, timeoutMs);
      proc.on('error', reject);
      proc.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr, lines, ms: Date.now() - t0 });
      });
    });
  }

  async function versions(s: Setup, n = 10): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const r = await http(s.b.port, { host: s.host });
      const v = r.status === 200 ? JSON.parse(r.body).version : `HTTP ${r.status}`;
      out[v] = (out[v] ?? 0) + 1;
    }
    return out;
  }

  t.test('baton deploy: live progress, exit 0; baton rollback; baton scale', async (t) => {
    const s = await setup(t, 2);
    const r = await cli(['deploy', s.name, '--image', images.v2, '--monitor', '2s', '--health-timeout', '10s', '--drain-timeout', '10s', '--config', s.config]);
    t.comment(`baton deploy exited ${r.code} after ${r.ms} ms, ${r.lines.length} lines`);
    t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr.trim()})`);
    t.match(r.lines[0]?.text, new RegExp(`^Deploying ${s.name} → ${images.v2.replace(/[.]/g, '\\.')} \\(rolling\\): d-`), `title line: ${r.lines[0]?.text}`);
    const steps = r.lines.filter((l) => /^ {2}\d\d:\d\d:\d\d /.test(l.text));
    t.ok(steps.some((l) => /\bok +health gate\b/.test(l.text)), 'a health gate step');
    t.ok(steps.some((l) => /\bok +retire old: drain .* — in-flight reached zero/.test(l.text)), 'a drain step with its outcome');
    t.ok(steps.some((l) => /\bok +monitor\b/.test(l.text)), 'a monitor step');
    t.match(r.lines.at(-1)?.text, /^d-\S+ succeeded in \d+\.\d s$/, `last line: ${r.lines.at(-1)?.text}`);
    // live: steps arrive while the deploy runs (two 2 s monitor windows), not all at the end
    const spread = steps.at(-1)!.at - steps[0].at;
    t.ok(spread >= 2000, `progress lines arrived over ${spread} ms`);
    t.same(await versions(s), { v2: 10 }, 'v2 serves');

    const rb = await cli(['rollback', s.name, '--config', s.config]);
    t.equal(rb.code, 0, `baton rollback: exit 0 (stderr: ${rb.stderr.trim()})`);
    t.match(rb.stdout, new RegExp(`^Rolling back ${s.name}: d-`), 'rollback title');
    t.match(rb.stdout, /ok +start previous/, 'rollback steps');
    await waitFor(() => (s.b.app.registry.services.get(s.name)?.upstreams ?? []).filter((u) => u.state === 'healthy').length === 2, 5000, 'two healthy');
    t.same(await versions(s), { v1: 10 }, 'v1 serves again');
    const again = await cli(['rollback', s.name, '--config', s.config]);
    t.comment(`second rollback: exit ${again.code}: ${again.stderr.trim()}`);
    t.equal(again.code, 0, 'rolling back again swaps back to v2 (the generation kept stopped)');
    t.same(await versions(s), { v2: 10 }, 'v2 serves');

    const sc = await cli(['scale', s.name, '3', '--config', s.config]);
    t.equal(sc.code, 0, `baton scale: exit 0 (stderr: ${sc.stderr.trim()})`);
    t.match(sc.stdout, new RegExp(`^Scaling ${s.name} to 3: d-`), 'scale title');
    const running = await docker.listContainers({ filters: { label: [`baton.test.run=${s.run}`] } });
    t.equal(running.length, 3, '3 containers run');
  });

  t.test('baton deploy of a version that never gets healthy: progress, exit 1, old version still serving', async (t) => {
    const s = await setup(t, 1);
    const r = await cli(['deploy', s.name, '--image', images.bad, '--health-timeout', '4s', '--config', s.config]);
    t.comment(`baton deploy (bad) exited ${r.code} after ${r.ms} ms`);
    t.equal(r.code, 1, 'exit 1');
    t.match(r.stdout, /FAILED health gate .* — \S+: unhealthy \(status 503\)/, 'the failed step with its reason');
    t.match(r.stderr, /^d-\S+ failed after \d+\.\d s: new containers not healthy within 4000 ms/m, `stderr: ${r.stderr.trim()}`);
    t.same(await versions(s, 5), { v1: 5 }, 'v1 still serves');

    const missing = await cli(['deploy', s.name, '--image', `baton-test-app:missing-${process.pid}`, '--config', s.config]);
    t.equal(missing.code, 1, 'image missing: exit 1');
    t.match(missing.stderr, /is not present on this Docker host/, `stderr: ${missing.stderr.trim()}`);
    t.equal(missing.stdout, '', 'nothing started, no progress printed');
    const usage = await cli(['deploy', s.name, '--config', s.config]);
    t.equal(usage.code, 2, 'no --image: usage error, exit 2');
  });
}
