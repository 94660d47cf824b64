// The Swarm provider's I/O edges against a scripted engine on a unix socket (real HTTP, real dockerode): a node that
// is not a swarm manager (one clear warning, static routes keep serving, retried with backoff, then connected), an
// engine that is not there, a task container's stopping event taking the task out at once (no round trip), and a
// service event triggering a reconcile. The real engine's behaviour is test/swarm-discovery.test.ts's.
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { parseConfig } from '../src/config/load.ts';
import { SwarmProvider } from '../src/providers/swarm.ts';
import type { Snapshot } from '../src/upstream/desired.ts';
import { http, startBaton, startUpstream, tempDir, waitFor } from './fixtures/harness.ts';

const NOT_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const captured = JSON.parse(readFileSync(new URL('./fixtures/swarm-inspect.json', import.meta.url), 'utf8'));

interface Engine {
  endpoint: string;
  /** request paths seen, without the query */
  seen: string[];
  manager: boolean;
  services: unknown[];
  tasks: unknown[];
  /** writes one event line to every open events stream */
  event(e: Record<string, unknown>): void;
}

/** A scripted engine: /events streams what event() writes; /services and /tasks answer the fields (503 when not a
 *  manager); /images/<ref>/json says the image exposes 8080. */
async function fakeEngine(tt: Test): Promise<Engine> {
  const sock = join(tempDir(tt), 'engine.sock');
  const streams = new Set<ServerResponse>();
  const engine: Engine = {
    endpoint: `unix://${sock}`,
    seen: [],
    manager: false,
    services: [],
    tasks: [],
    event: (e) => {
      for (const s of streams) s.write(`${JSON.stringify({ timeNano: Date.now() * 1e6, ...e })}\n`);
    },
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0].replace(/^\/v[\d.]+/, '');
    engine.seen.push(path);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/events') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      streams.add(res);
      res.on('close', () => streams.delete(res));
    } else if (path === '/services' || path === '/tasks') {
      if (!engine.manager) json(503, { message: NOT_MANAGER });
      else json(200, path === '/services' ? engine.services : engine.tasks);
    } else if (/^\/images\/.+\/json$/.test(path)) json(200, { Config: { ExposedPorts: { '8080/tcp': {} } } });
    else json(404, { message: `no ${path}` });
  });
  server.listen(sock);
  await once(server, 'listening');
  tt.teardown(() => {
    for (const s of streams) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return engine;
}

t.test('providers.swarm in the config file', async (t) => {
  t.strictSame(parseConfig({}).providers.swarm, {
    enabled: false,
    endpoint: 'unix:///var/run/docker.sock',
    exposedByDefault: false,
    network: '',
    refreshSeconds: 1,
  }, 'defaults');
  t.equal(parseConfig({ providers: { swarm: { refreshSeconds: 0.25 } } }).providers.swarm.refreshSeconds, 0.25, 'a fraction');
  t.throws(() => parseConfig({ providers: { swarm: { refreshSeconds: 0.05 } } }), /providers\.swarm\.refreshSeconds/, 'at least 0.1');
  t.throws(() => parseConfig({ providers: { swarm: { refreshSeconds: '15s' } } }), /providers\.swarm\.refreshSeconds/, 'a number of seconds');
  t.throws(() => parseConfig({ providers: { swarm: { publishedPorts: true } } }), /providers\.swarm/, 'unknown keys are errors');
});

t.test('not a swarm manager: one clear warning, static routes keep serving, retried with backoff', async (t) => {
  const engine = await fakeEngine(t);
  const up = await startUpstream(t, 'static');
  const b = await startBaton(t, {
    services: { s: { rule: 'Host(`static.test`)', upstreams: [up.url] } },
    providers: { swarm: { enabled: true, endpoint: engine.endpoint } },
  });
  const warned = () => b.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('not a swarm manager'));
  await waitFor(() => engine.seen.filter((p) => p === '/services').length >= 3, 5000, 'three listings (retries)');
  t.equal(warned().length, 1, 'warned once');
  t.equal(warned()[0].msg, 'not a swarm manager: run baton on a manager node or point providers.swarm.endpoint at one; static routes keep serving, retrying with backoff');
  t.match(warned()[0], { component: 'swarm', level: 40 });
  t.equal((await http(b.port, { host: 'static.test' })).status, 200, 'the static route answers');
  t.equal(b.app.swarm?.connected, false);
  engine.manager = true; // e.g. the node was promoted
  await waitFor(() => b.app.swarm?.connected === true, 10_000, 'connected once it is a manager');
  t.ok(b.logs.some((l) => l.msg === 'Swarm engine reachable again'), 'says so');
  t.equal(warned().length, 1, 'still warned once');
});

t.test('no engine at the endpoint: one warning', async (t) => {
  const b = await startBaton(t, { providers: { swarm: { enabled: true, endpoint: `unix://${join(tempDir(t), 'none.sock')}` } } });
  await waitFor(() => b.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('Swarm engine not reachable')), 3000, 'the warning');
  t.equal(b.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('Swarm engine not reachable')).length, 1);
});

t.test("a task container's stop event takes it out at once; a service event reconciles at once", async (t) => {
  const engine = await fakeEngine(t);
  engine.manager = true;
  engine.services = [captured.steady.service];
  engine.tasks = captured.steady.tasks;
  const listings = () => engine.seen.filter((p) => p === '/tasks').length;
  const published: Array<{ at: number; snapshot: Snapshot; listings: number }> = [];
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(c, _e, cb) { for (const l of c.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l)); cb(); } });
  const provider = new SwarmProvider({
    endpoint: engine.endpoint,
    options: { exposedByDefault: false, network: '' },
    refreshMs: 60_000, // no periodic reconcile in this test: only events
    registry: { setSnapshot: (_p, snapshot) => void published.push({ at: Date.now(), snapshot, listings: listings() }) },
    log: pino(sink),
  });
  t.teardown(() => provider.close());
  provider.start();
  const urls = () => published.at(-1)?.snapshot.services.flatMap((s) => s.upstreams.map((u) => u.url)) ?? [];
  await waitFor(() => urls().length === 2, 5000, 'both tasks published');
  t.strictSame(urls(), ['http://10.0.1.16:8080', 'http://10.0.1.17:8080']);
  await waitFor(() => Date.now() - published[0].at > 5_300, 6000, 'the fast window after connecting to pass');

  const before = listings();
  const [old1] = captured.steady.tasks;
  const sent = Date.now();
  engine.event({ Type: 'container', Action: 'kill', Actor: { ID: 'c0ffee', Attributes: { signal: '15', 'com.docker.swarm.task.id': old1.ID } } });
  await waitFor(() => urls().length === 1, 2000, 'the task out');
  t.ok(published.at(-1)!.at - sent < 200, `out ${published.at(-1)!.at - sent} ms after the event`);
  t.equal(published.at(-1)!.listings, before, 'published before asking the engine anything');
  t.match(lines.find((l) => l.msg === 'Swarm task leaves rotation'), { task: `bt_whoami.1.${old1.ID}`, reason: 'container kill (signal 15)' });
  engine.event({ Type: 'container', Action: 'kill', Actor: { ID: 'c0ffee', Attributes: { signal: '1', 'com.docker.swarm.task.id': captured.steady.tasks[1].ID } } });
  engine.event({ Type: 'container', Action: 'die', Actor: { ID: 'other', Attributes: { name: 'not-a-task' } } });
  await new Promise((r) => setTimeout(r, 100));
  t.equal(urls().length, 1, 'SIGHUP and non-task containers change nothing');

  // Swarm replaced the task: a service event makes the provider list at once
  engine.services = [captured.scaledDown.service];
  engine.tasks = captured.scaledDown.tasks;
  const listed = listings();
  engine.event({ Type: 'service', Action: 'update', Actor: { ID: captured.steady.service.ID, Attributes: { name: 'bt_whoami' } } });
  await waitFor(() => listings() > listed, 1000, 'a listing right after the service event');
  await waitFor(() => urls().join() === 'http://10.0.1.18:8080', 1000, 'the scaled-down listing published');
  t.pass('the remaining task is published');
});
