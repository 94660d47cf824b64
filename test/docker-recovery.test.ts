// Crash and outage recovery on the real Docker engine. Skipped, with the reason, when no engine answers.
//
// 1. baton killed mid-deploy (SIGKILL of a real `baton serve` child process during the monitor window, after one
//    old container was already retired) and started again with the same config: the journal is read, the deploy
//    is marked failed (GET /api/deploys/{id}), the retired old container runs again, the new one is removed, and
//    only the old version answers. Two more kills land exactly between a Docker call and its answer (a relay,
//    below, withholds the engine's answer): while Docker stops the old containers of a blue/green switch, and
//    while it creates a new container — the journal cannot know the outcome, Docker does.
//
// 2. The Docker engine going away and coming back ("dockerd restarted"). The engine here is shared (other test
//    files, other users' containers) and was not started by this test, so it is not restarted for real: a restart
//    without live-restore stops every container on the machine, and ending a process this test did not start is
//    off limits. Instead baton talks to the engine through a Unix-socket relay this test owns
//    (baton's providers.docker.endpoint = unix://<relay>), and the relay goes down exactly as the engine's socket
//    does in a restart: every open connection (the events stream included) is cut and new connections are refused
//    until it is back. While it is down, containers change behind baton's back (one stopped, one restarted, a new
//    one started) as they do across a real engine restart. When the relay is back, baton must re-list and
//    reconcile: no stale upstream, the new container routed, and events followed again.
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { BATON_BIN, batonLabels, dockerConfig, ENDPOINT, runContainers, startContainer, startDockerBaton, testImages, testRuns, versions, whenDockerAnswers, type TestRun } from './fixtures/docker.ts';
import { admin, TOKEN, waitFor, type TestBaton } from './fixtures/harness.ts';
import { dockerClient } from './fixtures/images.ts';


await whenDockerAnswers(t, 180_000, run);

async function run(): Promise<void> {
  const docker = dockerClient();
  const images = await testImages(t);
  const unique = testRuns('recovery', { dirPrefix: 'baton-docker-recovery-' });

  /** A container of the test's service (baton labels: service u.name, Host u.host), named <u.name>-<suffix>. */
  function member(u: TestRun, suffix: string, image: string): Promise<string> {
    return startContainer(`${u.name}-${suffix}`, image, u.run, batonLabels(u.name, u.host));
  }

  async function state(id: string): Promise<string> {
    try {
      return (await docker.getContainer(id).inspect()).State.Status;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return 'removed';
      throw err;
    }
  }

  // ── a real `baton serve` child process ──────────────────────────────────────────────────────

  interface Child {
    proc: ChildProcess;
    port: number;
    adminPort: number;
    logs: Array<Record<string, unknown>>;
    exited: Promise<number | null>;
  }

  /** Starts `baton serve --config <file>`; resolves once the admin API and the entrypoint listen (their ports
   *  are read from baton's JSON log lines, as the config asks for port 0). */
  async function spawnBaton(t: Test, configPath: string): Promise<Child> {
    const proc = spawn(process.execPath, [BATON_BIN, 'serve', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    const logs: Array<Record<string, unknown>> = [];
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    t.teardown(async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL'); // by its own pid: the child this test started
        await exited;
      }
    });
    let buf = '';
    proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          logs.push(JSON.parse(line));
        } catch {
          // not JSON
        }
      }
    });
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const addr = (msg: string) => logs.find((l) => l.msg === msg)?.address as string | undefined;
    const end = Date.now() + 15_000;
    while (addr('Admin API listening') === undefined || addr('Entrypoint listening') === undefined) {
      if (proc.exitCode !== null) throw new Error(`baton exited ${proc.exitCode}: ${stderr}`);
      if (Date.now() > end) throw new Error(`baton did not start: ${stderr} ${JSON.stringify(logs)}`);
      await sleep(50);
    }
    const port = Number(addr('Entrypoint listening')!.split(':').pop());
    const adminPort = Number(addr('Admin API listening')!.split(':').pop());
    return { proc, port, adminPort, logs, exited };
  }

  async function deployRecord(adminPort: number, id: string): Promise<any> {
    const r = await admin(adminPort, 'GET', `/api/deploys/${id}`);
    if (r.status !== 200) throw new Error(`GET /api/deploys/${id}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  }

  /** A Unix-socket relay to the real engine that a test owns: it can go down and come back (every open
   *  connection cut, new ones refused), and it can withhold the engine's answers to chosen requests — the engine
   *  carries them out, the client never hears back — to stop baton at an exact point of a deploy. */
  class EngineRelay {
    readonly path: string;
    readonly #target: string;
    #server: Server | null = null;
    readonly #sockets = new Set<Socket>();
    /** connections whose answers are withheld */
    readonly #held = new Set<Socket>();
    cut = 0;
    /** requests whose request line matches (e.g. /^POST \S+\/containers\/create/) get no answer */
    hold: RegExp | null = null;
    /** request lines whose answers were withheld */
    readonly heldRequests: string[] = [];

    constructor(path: string, target: string) {
      this.path = path;
      this.#target = target;
    }

    async up(): Promise<void> {
      if (existsSync(this.path)) unlinkSync(this.path);
      const server = createServer((client) => {
        const engine = connect(this.#target);
        for (const s of [client, engine]) {
          this.#sockets.add(s);
          s.on('close', () => this.#sockets.delete(s));
          s.on('error', () => {});
        }
        let holding = false;
        client.on('data', (chunk: Buffer) => {
          if (this.hold !== null && !holding) {
            for (const m of chunk.toString('latin1').matchAll(/(?:^|\r\n)((?:GET|POST|PUT|DELETE|HEAD) \S+) HTTP\/1\.[01]\r\n/g)) {
              if (this.hold.test(m[1])) {
                holding = true;
                this.#held.add(client);
                this.heldRequests.push(m[1]);
              }
            }
          }
          engine.write(chunk);
        });
        engine.on('data', (chunk: Buffer) => {
          if (!holding) client.write(chunk);
        });
        client.on('end', () => engine.end());
        engine.on('end', () => {
          if (!holding) client.end();
        });
        client.on('close', () => engine.destroy());
        engine.on('close', () => {
          if (!holding) client.destroy();
        });
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => resolve());
      });
      this.#server = server;
    }

    /** Stops withholding: the connections whose answers were withheld are cut. */
    release(): void {
      this.hold = null;
      for (const s of this.#held) s.destroy();
      this.#held.clear();
    }

    /** Every open connection cut (the events stream too), and no new one accepted. */
    async down(): Promise<void> {
      const server = this.#server;
      this.#server = null;
      this.cut += this.#sockets.size;
      for (const s of this.#sockets) s.destroy();
      this.#sockets.clear();
      this.#held.clear();
      if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
      if (existsSync(this.path)) unlinkSync(this.path);
    }
  }

  /** the engine's socket, for the relay */
  const ENGINE_SOCKET = ENDPOINT.replace(/^unix:\/\//, '');

  /** baton's config for a child process: ports 0 (read back from its log), a state folder, the test token. */
  function writeConfig(dir: string, endpoint?: string): { configPath: string; stateDir: string } {
    const stateDir = join(dir, 'state');
    const configPath = join(dir, 'baton.yaml');
    writeFileSync(
      configPath,
      stringify({
        entrypoints: { web: { address: '127.0.0.1:0' } },
        admin: { address: '127.0.0.1:0', token: TOKEN },
        stateDir,
        ...dockerConfig(endpoint),
      }),
    );
    return { configPath, stateDir };
  }

  async function healthyOf(adminPort: number, service: string): Promise<string[]> {
    const services = (await admin(adminPort, 'GET', '/api/services')).json.services as Array<{ name: string; upstreams: Array<{ state: string; containerId: string }> }>;
    return (services.find((s) => s.name === service)?.upstreams ?? []).filter((x) => x.state === 'healthy').map((x) => x.containerId);
  }

  async function byDeployLabel(id: string): Promise<Array<{ Id: string; State: string }>> {
    return docker.listContainers({ all: true, filters: { label: [`baton.deploy=${id}`] } });
  }

  t.test('baton SIGKILLed mid-deploy and restarted: deploy marked failed, old version serving, new containers removed', async (t) => {
    const u = unique(t);
    const old = [await member(u, '0', images.v1), await member(u, '1', images.v1)];
    const { configPath, stateDir } = writeConfig(u.dir);
    const first = await spawnBaton(t, configPath);
    const healthy = (adminPort: number) => healthyOf(adminPort, u.name);
    await waitFor(async () => (await healthy(first.adminPort)).length === 2, 15_000, 'two healthy upstreams');

    // rolling, one at a time: batch 1 starts a v2, retires (stops) one v1, then monitors for 60 s
    const res = await admin(first.adminPort, 'POST', `/api/services/${u.name}/deploys`, { image: images.v2, monitor: '60s', healthTimeout: '10s', drainTimeout: '10s' });
    t.equal(res.status, 202, 'deploy accepted');
    const id = res.json.id as string;
    // (the old container's stop goes on alongside the monitor window: wait for both)
    const reached = (steps: any[], action: string, status: string) => steps.some((s) => s.action === action && s.status === status);
    await waitFor(async () => {
      const { steps } = await deployRecord(first.adminPort, id);
      return reached(steps, 'monitor', 'started') && reached(steps, 'retire old: stop', 'done');
    }, 30_000, 'the monitor window, one v1 stopped');
    const before = await deployRecord(first.adminPort, id);
    const fresh = before.new.map((n: { id: string }) => n.id) as string[];
    const retired = before.old.filter((o: { stopped?: boolean }) => o.stopped).map((o: { id: string }) => o.id) as string[];
    t.equal(fresh.length, 1, 'one new container started');
    t.equal(retired.length, 1, 'one old container retired');
    t.same(Object.keys(await versions(first.port, u.host, 6)).sort(), ['v1', 'v2'], 'mid-deploy, v1 and v2 both serve');

    first.proc.kill('SIGKILL');
    await first.exited;
    const journal = JSON.parse(readFileSync(join(stateDir, 'deploys', `${id}.json`), 'utf8'));
    t.equal(journal.state, 'running', 'the journal on disk says the deploy was running');
    t.same([await state(retired[0]), await state(fresh[0])], ['exited', 'running'], 'killed with one v1 stopped and the v2 running');

    const second = await spawnBaton(t, configPath);
    await waitFor(async () => (await deployRecord(second.adminPort, id)).state === 'failed', 60_000, 'the interrupted deploy to be marked failed');
    const rec = await deployRecord(second.adminPort, id);
    t.match(rec.error, /interrupted in state running \(baton restarted\)/, `error: ${rec.error}`);
    const actions = (rec.steps as Array<{ action: string; status: string }>).map((s) => `${s.action}:${s.status}`);
    t.ok(actions.includes('restart old:done') && actions.includes('remove new: stop:done'), `recovery steps: ${actions.slice(-6).join(', ')}`);
    t.same(await Promise.all(old.map(state)), ['running', 'running'], 'both old containers run');
    t.equal(await state(fresh[0]), 'removed', 'the new container is removed');
    await waitFor(async () => (await healthy(second.adminPort)).length === 2, 15_000, 'two healthy upstreams after recovery');
    t.same((await healthy(second.adminPort)).sort(), [...old].sort(), 'routed to the old containers only');
    t.same(await versions(second.port, u.host), { v1: 10 }, 'only v1 answers');
    const all = await runContainers(u.run);
    t.equal(all.length, 2, 'no other container of this service is left');
    const again = await admin(second.adminPort, 'POST', `/api/services/${u.name}/deploys`, { image: images.v2, monitor: '0s', healthTimeout: '10s' });
    t.equal(again.status, 202, 'the lock was released: a new deploy is accepted');
    await waitFor(async () => ['succeeded', 'failed', 'rolled_back'].includes((await deployRecord(second.adminPort, again.json.id)).state), 60_000, 'the new deploy');
    t.equal((await deployRecord(second.adminPort, again.json.id)).state, 'succeeded', 'and it succeeds');
    second.proc.kill('SIGTERM');
    t.equal(await second.exited, 0, 'baton stops cleanly on SIGTERM');
  });

  // ── the engine goes away and comes back ─────────────────────────────────────────────────────

  t.test('baton SIGKILLed while Docker stops the old containers (blue/green switch): the old version runs again', async (t) => {
    const u = unique(t);
    if (!existsSync(ENGINE_SOCKET)) {
      t.plan(0, `the engine is not on a Unix socket here (${process.env.DOCKER_HOST}); the relay needs one`);
      return;
    }
    const relay = new EngineRelay(join(u.dir, 'engine.sock'), ENGINE_SOCKET);
    await relay.up();
    t.teardown(() => relay.down());
    const old = [await member(u, '0', images.v1), await member(u, '1', images.v1)];
    const { configPath, stateDir } = writeConfig(u.dir, `unix://${relay.path}`);
    const first = await spawnBaton(t, configPath);
    await waitFor(async () => (await healthyOf(first.adminPort, u.name)).length === 2, 15_000, 'two healthy upstreams');

    // Docker carries out the stops; baton never hears back, and dies meanwhile
    relay.hold = /^POST \S*\/containers\/[0-9a-f]+\/stop/;
    // blue/green keeps the old generation running (drained) through the monitor window and stops it after: a
    // short window brings the stops on quickly
    const res = await admin(first.adminPort, 'POST', `/api/services/${u.name}/deploys`, { image: images.v2, strategy: 'blue-green', monitor: '1s', healthTimeout: '10s', drainTimeout: '10s' });
    t.equal(res.status, 202, 'deploy accepted');
    const id = res.json.id as string;
    await waitFor(async () => (await Promise.all(old.map(state))).every((s) => s === 'exited'), 30_000, 'both old containers stopped by Docker');
    t.ok(relay.heldRequests.length >= 1, `answers withheld: ${relay.heldRequests.join(', ')}`);
    first.proc.kill('SIGKILL');
    await first.exited;
    relay.release();
    const journal = JSON.parse(readFileSync(join(stateDir, 'deploys', `${id}.json`), 'utf8'));
    t.equal(journal.state, 'running', 'killed while running');
    t.comment(`journal: last step ${JSON.stringify(journal.steps.at(-1))}; old ${JSON.stringify(journal.old.map((o: any) => ({ stopped: o.stopped })))}`);
    const fresh = (await byDeployLabel(id)).map((c) => c.Id);
    t.equal(fresh.length, 2, 'two new containers exist');

    const second = await spawnBaton(t, configPath);
    await waitFor(async () => (await deployRecord(second.adminPort, id)).state === 'failed', 60_000, 'the interrupted deploy to be marked failed');
    t.same(await Promise.all(old.map(state)), ['running', 'running'], 'both old containers run again');
    t.same(await Promise.all(fresh.map(state)), ['removed', 'removed'], 'the new containers are removed');
    await waitFor(async () => (await healthyOf(second.adminPort, u.name)).length === 2, 15_000, 'two healthy upstreams after recovery').catch((err) => t.fail(err.message));
    t.same((await healthyOf(second.adminPort, u.name)).sort(), [...old].sort(), 'routed to the old containers');
    t.same(await versions(second.port, u.host, 6), { v1: 6 }, 'v1 answers');
  });

  t.test('baton SIGKILLed while Docker creates a new container: the container it never heard of is removed too', async (t) => {
    const u = unique(t);
    if (!existsSync(ENGINE_SOCKET)) {
      t.plan(0, `the engine is not on a Unix socket here (${process.env.DOCKER_HOST}); the relay needs one`);
      return;
    }
    const relay = new EngineRelay(join(u.dir, 'engine.sock'), ENGINE_SOCKET);
    await relay.up();
    t.teardown(() => relay.down());
    const old = [await member(u, '0', images.v1), await member(u, '1', images.v1)];
    const { configPath, stateDir } = writeConfig(u.dir, `unix://${relay.path}`);
    const first = await spawnBaton(t, configPath);
    await waitFor(async () => (await healthyOf(first.adminPort, u.name)).length === 2, 15_000, 'two healthy upstreams');

    relay.hold = /^POST \S*\/containers\/create/;
    const res = await admin(first.adminPort, 'POST', `/api/services/${u.name}/deploys`, { image: images.v2, monitor: '30s', healthTimeout: '10s' });
    t.equal(res.status, 202, 'deploy accepted');
    const id = res.json.id as string;
    await waitFor(async () => (await byDeployLabel(id)).length === 1, 30_000, 'Docker to create the new container');
    first.proc.kill('SIGKILL');
    await first.exited;
    relay.release();
    const journal = JSON.parse(readFileSync(join(stateDir, 'deploys', `${id}.json`), 'utf8'));
    const orphan = (await byDeployLabel(id))[0];
    t.same(journal.new, [], 'the journal does not know the new container (baton died before Docker answered)');
    t.match(journal.steps.at(-1), { action: 'create', status: 'started' }, 'the create step was journaled before it ran');

    const second = await spawnBaton(t, configPath);
    await waitFor(async () => (await deployRecord(second.adminPort, id)).state === 'failed', 60_000, 'the interrupted deploy to be marked failed');
    t.same(await Promise.all(old.map(state)), ['running', 'running'], 'the old containers run');
    t.equal(await state(orphan.Id), 'removed', 'the new container baton never heard of is removed');
    const rb = await admin(second.adminPort, 'POST', `/api/services/${u.name}/rollback`, {});
    t.equal(rb.status, 409, `nothing to roll back to (the leftover is not taken for a previous version): ${rb.json?.error?.message}`);
    await waitFor(async () => (await healthyOf(second.adminPort, u.name)).length === 2, 15_000, 'two healthy upstreams after recovery');
    t.same(await versions(second.port, u.host, 6), { v1: 6 }, 'v1 answers');
  });

  t.test('the engine goes away and comes back: baton re-lists and reconciles (no stale upstream)', async (t) => {
    const u = unique(t);
    const engineSocket = ENGINE_SOCKET;
    if (!existsSync(engineSocket)) {
      t.plan(0, `the engine is not on a Unix socket here (${process.env.DOCKER_HOST}); the relay needs one`);
      return;
    }
    const relay = new EngineRelay(join(u.dir, 'engine.sock'), engineSocket);
    await relay.up();
    t.teardown(() => relay.down());
    const a = await member(u, 'a', images.v1);
    const b = await member(u, 'b', images.v1);
    const baton: TestBaton = await startDockerBaton(t, `unix://${relay.path}`);
    const ups = () => baton.app.registry.services.get(u.name)?.upstreams ?? [];
    const routed = () => ups().filter((x) => x.state === 'healthy').map((x) => `${x.containerId}@${x.url}`).sort();
    await waitFor(() => routed().length === 2, 15_000, 'a and b routed');
    const bUrlBefore = ups().find((x) => x.containerId === b)?.url;
    t.ok(baton.app.docker?.connected, 'provider connected through the relay');

    await relay.down();
    t.ok(relay.cut > 0, `the relay cut ${relay.cut} open socket(s), the events stream among them`);
    await waitFor(() => baton.logs.some((l) => typeof l.msg === 'string' && /Docker events stream (ended|failed)/.test(l.msg)), 5000, 'baton to notice the stream ended');
    await waitFor(() => baton.app.docker?.connected === false, 10_000, 'baton to see the engine unreachable');

    // behind baton's back, as across an engine restart: a stops, b restarts (its address may change), c is new
    await docker.getContainer(a).stop({ t: 5 });
    await docker.getContainer(b).stop({ t: 5 });
    const c = await member(u, 'c', images.v2);
    await docker.getContainer(b).start();
    const ipOf = async (id: string) => (await docker.getContainer(id).inspect()).NetworkSettings.Networks.bridge.IPAddress;
    const want = [`${b}@http://${await ipOf(b)}:8080`, `${c}@http://${await ipOf(c)}:8080`].sort();
    t.comment(`b's address: ${bUrlBefore} before, ${want.find((w) => w.startsWith(b))?.split('@')[1]} after its restart; c at ${want.find((w) => w.startsWith(c))?.split('@')[1]}`);
    await sleep(1500);
    t.ok(ups().some((x) => x.containerId === a), 'while the engine is away, baton still lists a (it cannot know)');

    const back = Date.now();
    await relay.up();
    await waitFor(() => JSON.stringify(routed()) === JSON.stringify(want) && ups().length === 2, 30_000, `routing to reconcile to ${want}`);
    t.comment(`reconciled ${Date.now() - back} ms after the engine came back`);
    t.same(routed(), want, 'b (at its current address) and c routed, healthy');
    t.notOk(ups().some((x) => x.containerId === a), 'no stale upstream for the stopped container');
    t.ok(baton.app.docker?.connected, 'connected again');
    t.ok(baton.logs.some((l) => l.msg === 'Docker engine reachable again'), 'baton says the engine is reachable again');
    const seen = await versions(baton.port, u.host, 10);
    t.same(Object.keys(seen).sort(), ['v1', 'v2'], `b (v1) and c (v2) answer: ${JSON.stringify(seen)}`);

    // events are followed again: a stop is seen at once, not at the next re-list
    const t0 = Date.now();
    await docker.getContainer(c).stop({ t: 5 });
    await waitFor(() => !ups().some((x) => x.containerId === c), 5000, 'c to leave rotation');
    t.comment(`c left rotation ${Date.now() - t0} ms after docker stop`);
    t.same(Object.keys(await versions(baton.port, u.host, 5)), ['v1'], 'only b answers');
  });
}
