// The deploy CLI against the real Docker engine: `baton deploy` (live progress, exit 0 on success, 1 on failure),
// `baton rollback`, `baton scale`, run as real child processes (bin/baton.js) that find the admin API and token in a
// config file, talking to a baton App in this process. Skipped, with the reason, when no engine answers.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { BATON_BIN, batonLabels, runContainers, startContainer, startDockerBaton, testImages, testRuns, versions, waitHealthy, whenDockerAnswers, type TestRun } from './fixtures/docker.ts';
import { TOKEN, type TestBaton } from './fixtures/harness.ts';


await whenDockerAnswers(t, 180_000, run);

async function run(): Promise<void> {
  const images = await testImages(t);
  const unique = testRuns('cli', { dirPrefix: 'baton-docker-cli-' });

  interface Setup extends TestRun {
    ids: string[];
    b: TestBaton;
    /** a config file holding only what the CLI needs: the admin address and the token */
    config: string;
  }

  async function setup(t: Test, replicas: number): Promise<Setup> {
    const u = unique(t);
    const ids: string[] = [];
    for (let k = 0; k < replicas; k++) ids.push(await startContainer(`${u.name}-orig-${k}`, images.v1, u.run, batonLabels(u.name, u.host)));
    const b = await startDockerBaton(t);
    await waitHealthy(b, u.name, replicas, 15_000, 'healthy upstreams');
    const config = join(u.dir, 'cli.yaml');
    writeFileSync(config, stringify({ admin: { address: `127.0.0.1:${b.adminPort}`, token: TOKEN }, stateDir: join(u.dir, 'state') }));
    return { ...u, ids, b, config };
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

  t.test('baton deploy: live progress, exit 0; baton rollback; baton scale', async (t) => {
    const s = await setup(t, 2);
    const r = await cli(['deploy', s.name, '--image', images.v2, '--monitor', '2s', '--health-timeout', '10s', '--drain-timeout', '10s', '--config', s.config]);
    t.comment(`baton deploy exited ${r.code} after ${r.ms} ms, ${r.lines.length} lines`);
    t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr.trim()})`);
    t.match(r.lines[0]?.text, new RegExp(`^Deploying ${s.name} → ${images.v2.replace(/[.]/g, '\\.')} \\(rolling\\): d-`), `title line: ${r.lines[0]?.text}`);
    const steps = r.lines.filter((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /.test(l.text));
    t.ok(steps.some((l) => /\bok +health gate\b/.test(l.text)), 'a health gate step');
    t.ok(steps.some((l) => /\bok +retire old: drain .* — in-flight reached zero/.test(l.text)), 'a drain step with its outcome');
    t.ok(steps.some((l) => /\bok +monitor\b/.test(l.text)), 'a monitor step');
    t.match(r.lines.at(-1)?.text, /^d-\S+ succeeded in \d+\.\d s$/, `last line: ${r.lines.at(-1)?.text}`);
    // live: steps arrive while the deploy runs (two 2 s monitor windows), not all at the end
    const spread = steps.at(-1)!.at - steps[0].at;
    t.ok(spread >= 2000, `progress lines arrived over ${spread} ms`);
    t.same(await versions(s.b.port, s.host), { v2: 10 }, 'v2 serves');

    const rb = await cli(['rollback', s.name, '--config', s.config]);
    t.equal(rb.code, 0, `baton rollback: exit 0 (stderr: ${rb.stderr.trim()})`);
    t.match(rb.stdout, new RegExp(`^Rolling back ${s.name}: d-`), 'rollback title');
    t.match(rb.stdout, /ok +start previous/, 'rollback steps');
    await waitHealthy(s.b, s.name, 2, 5000, 'two healthy');
    t.same(await versions(s.b.port, s.host), { v1: 10 }, 'v1 serves again');
    const again = await cli(['rollback', s.name, '--config', s.config]);
    t.comment(`second rollback: exit ${again.code}: ${again.stderr.trim()}`);
    t.equal(again.code, 0, 'rolling back again swaps back to v2 (the generation kept stopped)');
    t.same(await versions(s.b.port, s.host), { v2: 10 }, 'v2 serves');

    const sc = await cli(['scale', s.name, '3', '--config', s.config]);
    t.equal(sc.code, 0, `baton scale: exit 0 (stderr: ${sc.stderr.trim()})`);
    t.match(sc.stdout, new RegExp(`^Scaling ${s.name} to 3: d-`), 'scale title');
    const running = await runContainers(s.run, false);
    t.equal(running.length, 3, '3 containers run');
  });

  t.test('baton deploy of a version that never gets healthy: progress, exit 1, old version still serving', async (t) => {
    const s = await setup(t, 1);
    const r = await cli(['deploy', s.name, '--image', images.bad, '--health-timeout', '4s', '--config', s.config]);
    t.comment(`baton deploy (bad) exited ${r.code} after ${r.ms} ms`);
    t.equal(r.code, 1, 'exit 1');
    t.match(r.stdout, /FAILED health gate .* — \S+: unhealthy \(status 503\)/, 'the failed step with its reason');
    t.match(r.stderr, /^d-\S+ failed after \d+\.\d s: new containers not healthy within 4000 ms/m, `stderr: ${r.stderr.trim()}`);
    t.same(await versions(s.b.port, s.host, 5), { v1: 5 }, 'v1 still serves');

    const missing = await cli(['deploy', s.name, '--image', `baton-test-app:missing-${process.pid}`, '--config', s.config]);
    t.equal(missing.code, 1, 'image missing: exit 1');
    t.match(missing.stderr, /is not present on this Docker host/, `stderr: ${missing.stderr.trim()}`);
    t.equal(missing.stdout, '', 'nothing started, no progress printed');
    const usage = await cli(['deploy', s.name, '--config', s.config]);
    t.equal(usage.code, 2, 'no --image: usage error, exit 2');
  });
}
