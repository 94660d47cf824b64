// The new CLI against a real baton deploying on the real Docker engine: `baton deploy` on a pseudo-terminal (the
// live view), `baton events` following the deploy as it happens, `baton history` listing it with the traffic seen
// while it ran — and still listing it after baton restarted on the same state folder. Skipped, with the reason,
// when no engine answers.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { batonLabels, dockerConfig, startContainer, testImages, testRuns, versions, waitHealthy, whenDockerAnswers } from './fixtures/docker.ts';
import { http, startBaton, TOKEN, type TestBaton } from './fixtures/harness.ts';
import { plainText, runCli, startCli, startCliOnPty, until } from './fixtures/cli.ts';

await whenDockerAnswers(t, 240_000, run);

async function run(): Promise<void> {
  const images = await testImages(t);
  const unique = testRuns('clix', { dirPrefix: 'baton-cli-docker-' });

  t.test('deploy live on a terminal, followed by baton events, then in baton history — across a restart', async (t: Test) => {
    const u = unique(t);
    for (let k = 0; k < 2; k++) await startContainer(`${u.name}-orig-${k}`, images.v1, u.run, batonLabels(u.name, u.host));
    const stateDir = mkdtempSync(join(tmpdir(), 'baton-cli-state-'));
    t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
    const b: TestBaton = await startBaton(t, { ...dockerConfig(), stateDir });
    await waitHealthy(b, u.name, 2, 15_000, 'healthy upstreams');
    const config = join(u.dir, 'cli.yaml');
    writeFileSync(config, stringify({ admin: { address: `127.0.0.1:${b.adminPort}`, token: TOKEN }, stateDir: join(u.dir, 'state') }));

    const events = startCli(t, ['events', '--config', config]);
    await until(() => events.stdout().includes('hello'), 10_000, 'baton events connected');

    // traffic all through the deploy, so the history has requests to show
    let stop = false;
    let sent = 0;
    const load = (async () => {
      while (!stop) {
        await http(b.port, { host: u.host }).catch(() => null);
        sent++;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const deploy = startCliOnPty(t, ['deploy', u.name, '--image', images.v2, '--monitor', '2s', '--health-timeout', '20s', '--config', config]);
    const r = await deploy.done;
    stop = true;
    await load;
    const text = plainText(r.stdout);
    t.equal(r.code, 0, `exit 0:\n${text.slice(-2000)}`);
    t.match(r.stdout, /\x1b\[/, 'drawn on the terminal');
    t.match(text, /✔ health gate /, 'the health gate done');
    t.match(text, /✔ retire old: drain .* — in-flight reached zero/, 'the drain done');
    t.match(text, /monitor .*· \d+ requests, \d+ failed/, 'the monitor window counting while it ran');
    t.match(text, /✔ monitor /);
    const id = /(d-[a-z0-9]+-[0-9a-f]{6}) succeeded in \d+\.\d s/.exec(text)?.[1];
    t.ok(id, 'the outcome names the deploy');
    t.same(await versions(b.port, u.host), { v2: 10 }, 'v2 serves');

    await until(() => events.stdout().includes(`${id} deploy of ${u.name}: succeeded`), 10_000, 'the end in baton events');
    const lines = events.stdout().split('\n').filter((l) => l.includes(` ${id} `));
    t.ok(lines.some((l) => /deploy {3}.* running — ok health gate /.test(l)), 'baton events: the health gate step');
    t.ok(lines.some((l) => /running — monitor .*\d+ requests/.test(l)), 'baton events: the monitor counts');
    t.ok(lines.every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z deploy /.test(l)), 'each line: time, type, summary');
    events.child.kill('SIGINT');
    t.equal((await events.done).code, 0);

    const h = await runCli(t, ['history', u.name, '--config', config]);
    t.equal(h.code, 0, h.stderr);
    const row = h.stdout.split('\n').find((l) => l.includes(id!)) ?? '';
    t.match(row, new RegExp(`│ ${u.name} │ deploy │ succeeded │ ${images.v2.replace(/[.]/g, '\\.')}`), `the row: ${row}`);
    const js = JSON.parse((await runCli(t, ['history', u.name, '--json', '--config', config])).stdout);
    const entry = js.deploys.find((d: { id: string }) => d.id === id);
    t.ok(entry.requests > 0, `requests seen during the deploy: ${entry.requests} (of ${sent} sent)`);
    t.equal(entry.failures, 0, 'none failed');
    t.ok(entry.durationMs > 2000, 'a duration');

    // baton restarts on the same state folder: the history is still there
    await b.app.close(1000);
    const again = await startBaton(t, { ...dockerConfig(), stateDir });
    const after = await runCli(t, ['history', '--admin-url', `http://127.0.0.1:${again.adminPort}`, '--token', TOKEN, '--limit', '5']);
    t.equal(after.code, 0, after.stderr);
    t.match(after.stdout, id!, 'listed after a restart');
  });
}
