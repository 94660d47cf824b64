// Compose-aware deploys against Debian's real docker-compose 1.29: a project brought up with `docker-compose up -d`
// (unique project name, images from test/fixtures/images.ts, routed through baton by labels), deployed by baton
// under load; then `docker-compose ps` shows baton's new containers (compose names, Up) and not the retired ones,
// and `docker-compose up -d` after the compose file was edited to the new image leaves them alone. A rollback
// brings the old containers back as numbered compose containers. Several services deployed in one call: one lock,
// one rollback. Skipped, with the reason, when no engine answers or docker-compose is missing.
import t, { type Test } from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { finished, startDockerBaton, testImages, testRuns, versions, waitHealthy, whenDockerAnswers } from './fixtures/docker.ts';
import { composeProject, projectContainers, type ComposeProject } from './fixtures/compose.ts';
import { admin, TOKEN, waitFor, type TestBaton } from './fixtures/harness.ts';
import { BATON_BIN } from './fixtures/docker.ts';
import { describeLoad, runLoad } from './fixtures/load.ts';

const DEPLOY = { monitor: '2s', healthTimeout: '15s', drainTimeout: '10s' };

function composeMissing(): string | null {
  try {
    execFileSync('docker-compose', ['version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'docker-compose is not installed';
  }
}

const missing = composeMissing();
if (missing !== null) {
  t.comment(`SKIPPED: ${missing}`);
  t.plan(0, missing);
} else {
  await whenDockerAnswers(t, 240_000, run);
}

async function run(): Promise<void> {
  const images = await testImages(t);
  const unique = testRuns('compose', { dirPrefix: 'baton-compose-' });

  /** A compose project with these services up (`docker-compose up -d`), torn down (`down`) at the end. */
  async function project(t: Test, services: Record<string, string>): Promise<ComposeProject> {
    const p = composeProject(unique(t));
    p.write(Object.entries(services).map(([name, image]) => ({ name, image })));
    t.teardown(async () => {
      await p.run(['down', '--timeout', '1']);
    });
    const up = await p.run(['up', '-d']);
    if (up.code !== 0) throw new Error(`docker-compose up -d failed: ${up.out}`);
    return p;
  }

  async function configHash(p: ComposeProject, service: string): Promise<string> {
    const r = await p.run(['config', `--hash=${service}`]);
    const m = /^(\S+) ([a-f0-9]{64})$/m.exec(r.out);
    if (r.code !== 0 || m === null || m[1] !== service) throw new Error(`config --hash: ${r.out}`);
    return m[2];
  }

  async function deploy(b: TestBaton, service: string, body: Record<string, unknown>): Promise<any> {
    const res = await admin(b.adminPort, 'POST', `/api/services/${service}/deploys`, { ...DEPLOY, ...body });
    if (res.status !== 202) throw new Error(`deploy not accepted: ${res.status} ${JSON.stringify(res.json)}`);
    return finished(b, res.json.id);
  }

  /** `docker-compose ps` rows: name → state column */
  async function ps(t: Test, p: ComposeProject, all = false): Promise<Map<string, string>> {
    const r = await p.run(all ? ['ps', '-a'] : ['ps']);
    t.equal(r.code, 0, `docker-compose ps${all ? ' -a' : ''} ran`);
    const rows = new Map<string, string>();
    for (const line of r.out.split('\n')) {
      const m = new RegExp(`^(${p.project}_\\S+)\\s.*\\s(Up|Exit \\d+)\\s`).exec(`${line} `);
      if (m !== null) rows.set(m[1], m[2]);
    }
    return rows;
  }

  t.test('baton deploys a compose service; docker-compose ps and up -d agree with it; rollback', async (t) => {
    const p = await project(t, { web: images.v1 });
    const svc = p.batonService('web');
    const b = await startDockerBaton(t);
    await waitHealthy(b, svc, 1);
    const before = await projectContainers(p.project);
    t.same([...before.keys()], [`${p.project}_web_1`], 'compose created web_1');

    // the workflow: edit the compose file to the new image, hash it, deploy with that hash
    p.write([{ name: 'web', image: images.v2 }]);
    const hash = await configHash(p, 'web');
    t.not(hash, before.get(`${p.project}_web_1`)!.labels['com.docker.compose.config-hash'], 'the edit changed the hash');

    let rec: any;
    const go = (async () => {
      await new Promise((r) => setTimeout(r, 500));
      rec = await deploy(b, svc, { image: images.v2, configHash: hash });
    })();
    const load = await runLoad({ port: b.port, host: p.host('web'), runId: 'cmp1', connections: 4, until: go, tailMs: 500, maxDurationMs: 60_000 });
    await go;
    t.equal(rec.state, 'succeeded', `deploy succeeded (${rec.error ?? ''})`);
    t.comment(`load: ${describeLoad(load)}`);
    t.ok(load.requests >= 50, `load ran (${load.requests} requests)`);
    t.equal(load.non2xx + load.errors + load.timeouts + load.unanswered, 0, 'zero failed requests during the deploy');

    const after = await projectContainers(p.project);
    const web2 = after.get(`${p.project}_web_2`);
    t.ok(web2, 'the new container has the compose name <project>_web_2');
    t.equal(web2?.state, 'running', 'and runs');
    t.equal(web2?.image, images.v2, 'the new image');
    t.match(web2?.labels, {
      'com.docker.compose.project': p.project,
      'com.docker.compose.service': 'web',
      'com.docker.compose.oneoff': 'False',
      'com.docker.compose.container-number': '2',
      'com.docker.compose.config-hash': hash,
      'com.docker.compose.version': '1.29.2',
    }, 'with consistent compose labels');
    const retired = after.get(`${p.project}_web_1_retired-g0`);
    t.equal(retired?.state, 'created', 'the old container is kept (re-created stopped, hidden from compose)');
    t.equal(retired?.labels['com.docker.compose.oneoff'], 'True', 'as a one-off container');
    t.notOk(after.has(`${p.project}_web_1`), 'no container is left under the old name');

    const rows = await ps(t, p);
    t.same([...rows], [[`${p.project}_web_2`, 'Up']], 'docker-compose ps lists just the new container, Up');
    const rowsAll = await ps(t, p, true);
    t.ok(rowsAll.has(`${p.project}_web_1_retired-g0`), 'docker-compose ps -a shows the retired one');

    const up = await p.run(['up', '-d']);
    t.equal(up.code, 0, 'docker-compose up -d ran');
    t.match(up.out, new RegExp(`${p.project}_web_2 is up-to-date`), `up -d: up-to-date (${up.out.trim().split('\n').at(-1)})`);
    const again = await projectContainers(p.project);
    t.same([...again.entries()].map(([n, c]) => [n, c.id, c.state]), [...after.entries()].map(([n, c]) => [n, c.id, c.state]), 'no container recreated, started or removed');
    t.same(await versions(b.port, p.host('web'), 6), { v2: 6 }, 'v2 serves');

    // baton scale: the clone keeps the config hash (same config), so compose with the same scale agrees
    const sc = await admin(b.adminPort, 'POST', `/api/services/${svc}/scale`, { replicas: 2, healthTimeout: '15s' });
    t.equal((await finished(b, sc.json.id)).state, 'succeeded', 'scaled to 2');
    const web3 = (await projectContainers(p.project)).get(`${p.project}_web_3`);
    t.equal(web3?.labels['com.docker.compose.config-hash'], hash, 'the scale clone is web_3, with the same hash');
    const upScaled = await p.run(['up', '-d', '--scale', 'web=2']);
    t.notMatch(upScaled.out, /Recreating|Creating|Starting|Stopping/, `up -d --scale web=2 changes nothing: ${upScaled.out.trim().replace(/\n/g, ' | ')}`);
    const down = await admin(b.adminPort, 'POST', `/api/services/${svc}/scale`, { replicas: 1 });
    t.equal((await finished(b, down.json.id)).state, 'succeeded', 'scaled back to 1');

    // rollback: the old container comes back as a numbered compose container; the v2 one is hidden
    const rb = await admin(b.adminPort, 'POST', `/api/services/${svc}/rollback`, {});
    t.equal(rb.status, 202, 'rollback accepted');
    const rbRec = await finished(b, rb.json.id);
    t.equal(rbRec.state, 'succeeded', `rollback succeeded (${rbRec.error ?? ''})`);
    const rolled = await projectContainers(p.project);
    const web3r = rolled.get(`${p.project}_web_3`);
    t.equal(web3r?.state, 'running', 'the previous container runs again as <project>_web_3 (the next free number: the scale clone was removed)');
    t.equal(web3r?.image, images.v1, 'on v1');
    t.equal(web3r?.labels['com.docker.compose.oneoff'], 'False', 'a service container again');
    t.equal(rolled.get(`${p.project}_web_2_retired-g1`)?.labels['com.docker.compose.oneoff'], 'True', 'v2 hidden');
    t.same([...(await ps(t, p))], [[`${p.project}_web_3`, 'Up']], 'docker-compose ps lists the restored container');
    t.same(await versions(b.port, p.host('web'), 6), { v1: 6 }, 'v1 serves');
    p.write([{ name: 'web', image: images.v1 }]);
    const up2 = await p.run(['up', '-d']);
    t.match(up2.out, new RegExp(`${p.project}_web_3 is up-to-date`), 'the compose file back on v1: up -d leaves it alone');
  });

  /** `baton <args>` run in the project's folder (docker-compose finds the file there, the project by env) */
  function cli(p: ComposeProject, b: TestBaton, args: string[]): Promise<{ code: number | null; out: string }> {
    const admin = ['--admin-url', `http://127.0.0.1:${b.adminPort}`, '--token', TOKEN];
    return new Promise((resolve) => {
      const env = { ...process.env, COMPOSE_PROJECT_NAME: p.project };
      execFile(process.execPath, [BATON_BIN, ...args, ...admin], { cwd: p.dir, env, timeout: 120_000 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, out: `${stdout}${stderr}` });
      });
    });
  }

  t.test('two services in one call (baton deploy --compose): one lock, one rollback', async (t) => {
    const p = await project(t, { web: images.v1, worker: images.v1 });
    const web = p.batonService('web');
    const worker = p.batonService('worker');
    const b = await startDockerBaton(t);
    await waitHealthy(b, web, 1);
    await waitHealthy(b, worker, 1);

    const both = await cli(p, b, ['deploy', 'web', '--compose', '--image', images.v2]);
    t.equal(both.code, 2, `--compose with --image: usage error (${both.out.trim()})`);
    const twice = await cli(p, b, ['deploy', 'a,a', '--image', images.v2]);
    t.equal(twice.code, 2, `a service named twice: usage error (${twice.out.trim()})`);
    const nope = await cli(p, b, ['deploy', 'nope', '--compose', '--plain']);
    t.equal(nope.code, 1, `an unknown compose service: failure (${nope.out.trim()})`);
    const bad = await admin(b.adminPort, 'POST', '/api/deploys', { services: [{ name: web, image: images.v2 }, { name: web, image: images.v2 }] });
    t.equal(bad.status, 400, `a service named twice: 400 (${bad.json.error})`);
    const unknown = await admin(b.adminPort, 'POST', '/api/deploys', { services: [{ name: web, image: images.v2 }, { name: `${web}-nope`, image: images.v2 }] });
    t.equal(unknown.status, 404, `an unknown service: 404 (${unknown.json.error})`);

    // the workflow: the compose file on v2, `baton deploy --compose` deploys every routed service in one group
    p.write([{ name: 'web', image: images.v2 }, { name: 'worker', image: images.v2 }]);
    const running = cli(p, b, ['deploy', '--compose', '--plain', '--monitor', '2s', '--health-timeout', '15s']);
    let groupId = '';
    await waitFor(async () => {
      const list = (await admin(b.adminPort, 'GET', '/api/deploys?limit=5')).json.deploys as any[];
      groupId = list.find((d) => d.kind === 'group' && d.state === 'running')?.id ?? '';
      return groupId !== '';
    }, 60_000, 'the group deploy running');
    const other = await admin(b.adminPort, 'POST', `/api/services/${worker}/deploys`, { image: images.v2 });
    t.equal(other.status, 409, `a deploy of the group's second service meanwhile: 409 (${other.json.error})`);
    const again = await admin(b.adminPort, 'POST', '/api/deploys', { services: [{ name: web, image: images.v2 }] });
    t.equal(again.status, 409, 'another group over one of its services: 409');
    const r = await running;
    t.equal(r.code, 0, 'baton deploy --compose succeeded');
    t.comment(`baton deploy --compose: ${r.out.trim().split('\n').filter((l) => !/^\d{4}-/.test(l)).join(' | ')}`);
    t.match(r.out, new RegExp(`Deploying ${web} → ${images.v2}, ${worker} → ${images.v2}`), 'both services, one call');
    const rec = (await admin(b.adminPort, 'GET', `/api/deploys/${groupId}`)).json;
    t.equal(rec.state, 'succeeded', `group succeeded (${rec.error ?? ''})`);
    t.equal(rec.members.length, 2, 'one deploy record per service, linked');
    t.ok(rec.steps.some((s: any) => s.action === `${worker}: health gate` && s.status === 'done'), "the members' steps are in the group's record");
    for (const id of rec.members) {
      const m = (await admin(b.adminPort, 'GET', `/api/deploys/${id}`)).json;
      t.equal(m.group, rec.id, `${m.service}'s deploy names its group`);
      t.match(m.settings.configHash, /^[a-f0-9]{64}$/, `${m.service}'s deploy carried the compose file's hash`);
    }
    const hist = await admin(b.adminPort, 'GET', '/api/deploys');
    const listed = hist.json.deploys.filter((d: any) => d.id === rec.id || d.group === rec.id);
    t.same(listed.map((d: any) => d.kind).sort(), ['deploy', 'deploy', 'group'], 'the history lists the group and its deploys');
    t.same([...(await ps(t, p))], [[`${p.project}_web_2`, 'Up'], [`${p.project}_worker_2`, 'Up']], 'docker-compose ps: both new containers');
    const up = await p.run(['up', '-d']);
    t.match(up.out, /web_2 is up-to-date[\s\S]*worker_2 is up-to-date|worker_2 is up-to-date[\s\S]*web_2 is up-to-date/, 'up -d leaves both alone');
    t.notMatch(up.out, /Recreating|Creating|Starting/, `up -d changes nothing: ${up.out.trim().replace(/\n/g, ' | ')}`);
    t.same(await versions(b.port, p.host('web'), 4), { v2: 4 }, 'web on v2');
    t.same(await versions(b.port, p.host('worker'), 4), { v2: 4 }, 'worker on v2');

    // web deploys fine, worker's new version never gets healthy: both go back to v2
    const failing = await admin(b.adminPort, 'POST', '/api/deploys', {
      ...DEPLOY,
      healthTimeout: '5s',
      services: [{ name: web, image: images.v1 }, { name: worker, image: images.bad }],
    });
    t.equal(failing.status, 202, 'failing group accepted');
    const frec = await finished(b, failing.json.id);
    t.equal(frec.state, 'rolled_back', `group rolled back (${frec.error})`);
    t.match(frec.error, new RegExp(`^${worker}: `), 'the error names the failing service');
    const kinds = await Promise.all(frec.members.map(async (id: string) => (await admin(b.adminPort, 'GET', `/api/deploys/${id}`)).json));
    t.same(kinds.map((m: any) => [m.service, m.kind, m.state]), [[web, 'deploy', 'succeeded'], [worker, 'deploy', 'failed'], [web, 'rollback', 'succeeded']], 'web deployed, worker failed (its old container never left), web rolled back');
    t.same(await versions(b.port, p.host('web'), 4), { v2: 4 }, 'web back on v2');
    t.same(await versions(b.port, p.host('worker'), 4), { v2: 4 }, 'worker still on v2');
    const rows = await ps(t, p);
    t.same([...rows.values()], ['Up', 'Up'], `docker-compose ps: two containers, Up (${[...rows.keys()].join(', ')})`);
    const up2 = await p.run(['up', '-d']);
    t.notMatch(up2.out, /Recreating|Creating|Starting/, `up -d (file on v2) changes nothing: ${up2.out.trim().replace(/\n/g, ' | ')}`);
  });
}
