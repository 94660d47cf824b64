// The Docker side of bench/deploys.ts: the two upstream images it builds (a tiny Node server in a FROM-scratch
// image), its network, the service's labelled containers, the boot-time samples, and removing every one of them
// (containers, network, image tags) on exit, on error and on a signal.
//
// Everything carries the label baton.bench.run=<run> (the deployer's clones copy it), so the clean-up finds
// exactly what this run made and nothing of anyone else's.

import { execFile, execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { cleanup } from './processes.ts';

const execFileP = promisify(execFile);
const REPO_ROOT = path.resolve(import.meta.dirname, '..');
const NODE_BIN = fs.realpathSync(path.join(REPO_ROOT, 'node_modules', 'node', 'bin', 'node'));
const NODE_IN_IMAGE = '/usr/local/bin/node';
const APP_PORT = 8080;
export const HEALTH_PATH = '/health';
const BUILD_TIMEOUT_MS = 300_000;
const BOOT_TIMEOUT_MS = 30_000;
const CLI_TIMEOUT_MS = 60_000;

/** This run's name: the label value, the network's and the image tags' suffix. */
export const RUN = `${process.pid}-${Date.now().toString(36)}`;
export const RUN_LABEL = 'baton.bench.run';
const IMAGE_REPO = 'baton-bench-app';
export const NETWORK = `baton-bench-${RUN}`;

/** The upstream: GET /health → "ok", anything else → "hello\n" with its version in x-app-version. Once it listens
 *  it logs `listening <epoch ms>` (the container shares the host's clock: the end of its boot). On SIGTERM it exits
 *  at once (in-flight requests are cut): baton must have drained it first. CommonJS, no dependencies. */
const SERVER_JS = `'use strict';
const http = require('node:http');
const version = process.env.APP_VERSION || 'dev';
const hello = { 'content-type': 'text/plain', 'content-length': '6', 'x-app-version': version };
const ok = { 'content-type': 'text/plain', 'content-length': '2' };
const server = http.createServer((req, res) => {
  if (req.url === '${HEALTH_PATH}') {
    res.writeHead(200, ok);
    res.end('ok');
  } else {
    res.writeHead(200, hello);
    res.end('hello\\n');
  }
});
server.keepAliveTimeout = 65000;
server.listen(${APP_PORT}, () => console.log('listening ' + Date.now()));
process.on('SIGTERM', () => process.exit(0));
`;

let client: Docker | undefined;
export function docker(): Docker {
  client ??= new Docker();
  return client;
}

/** null when the engine answers, else why not (one line). */
export async function dockerProblem(): Promise<string | null> {
  try {
    await Promise.race([
      docker().ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 3 s')), 3000).unref()),
    ]);
    if (spawnSync('docker', ['version'], { stdio: 'ignore', timeout: 10_000 }).status !== 0) {
      return 'the docker CLI does not work (it is used for the build and the clean-up)';
    }
    return null;
  } catch (err) {
    return `no Docker engine answers (${(err as Error).message.split('\n')[0]})`;
  }
}

/** The shared libraries the node binary loads (`ldd`), absolute paths. */
function sharedLibraries(): string[] {
  const out = execFileSync('ldd', [NODE_BIN], { encoding: 'utf8' });
  const libs = [...out.matchAll(/=>\s*(\/\S+)|^\s*(\/\S+)\s+\(/gm)].map((m) => m[1] ?? m[2]);
  if (!libs.some((l) => l.includes('ld-linux'))) throw new Error(`ldd ${NODE_BIN}: no dynamic loader in:\n${out}`);
  return libs;
}

export interface Images {
  /** the two tags the deploys alternate between */
  a: string;
  b: string;
}

const built: string[] = [];

/** Builds image A (node + libraries + the server, APP_VERSION=a) and B (FROM A, APP_VERSION=b) in `dir`. */
export async function buildImages(dir: string): Promise<Images> {
  const ctx = path.join(dir, 'image');
  const rootfs = path.join(ctx, 'rootfs');
  fs.mkdirSync(path.join(rootfs, path.dirname(NODE_IN_IMAGE)), { recursive: true });
  try {
    fs.linkSync(NODE_BIN, path.join(rootfs, NODE_IN_IMAGE)); // same filesystem: no 120 MB copy
  } catch {
    fs.copyFileSync(NODE_BIN, path.join(rootfs, NODE_IN_IMAGE));
  }
  for (const lib of sharedLibraries()) {
    fs.mkdirSync(path.join(rootfs, path.dirname(lib)), { recursive: true });
    fs.copyFileSync(lib, path.join(rootfs, lib));
  }
  fs.writeFileSync(path.join(ctx, 'server.js'), SERVER_JS);
  const images = { a: `${IMAGE_REPO}:${RUN}-a`, b: `${IMAGE_REPO}:${RUN}-b` };
  const label = `LABEL ${RUN_LABEL}=${RUN}`;
  const cmd = `CMD ${JSON.stringify([NODE_IN_IMAGE, '/app/server.js'])}`;
  const dockerfileA = ['FROM scratch', 'COPY rootfs/ /', 'COPY server.js /app/server.js', `EXPOSE ${APP_PORT}`, cmd];
  await build(ctx, 'Dockerfile.a', [...dockerfileA, label, 'ENV APP_VERSION=a'], images.a);
  await build(ctx, 'Dockerfile.b', [`FROM ${images.a}`, 'ENV APP_VERSION=b'], images.b);
  return images;
}

async function build(ctx: string, file: string, lines: string[], tag: string): Promise<void> {
  fs.writeFileSync(path.join(ctx, file), lines.join('\n') + '\n');
  built.push(tag);
  try {
    await execFileP('docker', ['build', '-q', '-f', path.join(ctx, file), '-t', tag, ctx], {
      timeout: BUILD_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`docker build ${tag} failed: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

export async function createNetwork(): Promise<void> {
  await docker().createNetwork({ Name: NETWORK, Driver: 'bridge', Labels: { [RUN_LABEL]: RUN } });
}

/** The labels that put a container in `service`, routed by Host(`host`), health-checked every `intervalMs`. */
export function serviceLabels(service: string, host: string, intervalMs: number): Record<string, string> {
  return {
    'baton.enable': 'true',
    'baton.service': service,
    'baton.rule': `Host(\`${host}\`)`,
    'baton.port': String(APP_PORT),
    'baton.health.path': HEALTH_PATH,
    'baton.health.interval': `${intervalMs}ms`,
  };
}

/** Creates and starts a container of `image` on the bench network; `labels` besides the run label. */
export async function runContainer(name: string, image: string, labels: Record<string, string>): Promise<string> {
  const c = await docker().createContainer({
    name,
    Image: image,
    Labels: { [RUN_LABEL]: RUN, ...labels },
    HostConfig: { NetworkMode: NETWORK },
  });
  await c.start();
  return c.id;
}

function healthAnswers(ip: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: ip, port: APP_PORT, path: HEALTH_PATH, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** One boot: `docker run` of `image` (create + start, no baton labels: baton does not route it) until its first
 *  200 on /health, polled every 5 ms from here; then the container is removed. Milliseconds. */
export async function bootTime(image: string, name: string): Promise<number> {
  const t0 = performance.now();
  const id = await runContainer(name, image, {});
  try {
    const info = await docker().getContainer(id).inspect();
    const ip = info.NetworkSettings.Networks[NETWORK]?.IPAddress;
    if (!ip) throw new Error(`container ${name} has no address on ${NETWORK}`);
    while (!(await healthAnswers(ip))) {
      if (performance.now() - t0 > BOOT_TIMEOUT_MS) throw new Error(`${name} not answering within ${BOOT_TIMEOUT_MS}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return performance.now() - t0;
  } finally {
    await docker()
      .getContainer(id)
      .remove({ force: true, v: true })
      .catch(() => {});
  }
}

/** When the container's server began to listen (epoch ms, from its log), or null. */
export async function listenedAt(id: string): Promise<number | null> {
  try {
    const out = await docker().getContainer(id).logs({ stdout: true, stderr: false, follow: false });
    const m = /listening (\d+)/.exec(Buffer.from(out).toString('latin1'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

function cli(args: string[]): string {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout: CLI_TIMEOUT_MS });
  return r.status === 0 ? r.stdout.trim() : '';
}

let removed = false;

/** Removes this run's containers (the deployer's clones too), its network and its image tags. Synchronous (it
 *  also runs from a signal handler and at process exit); the second call does nothing. */
export function removeDockerObjects(): void {
  if (removed) return;
  removed = true;
  const ids = cli(['ps', '-aq', '--filter', `label=${RUN_LABEL}=${RUN}`])
    .split('\n')
    .filter(Boolean);
  if (ids.length > 0) cli(['rm', '-f', '-v', ...ids]);
  if (cli(['network', 'ls', '-q', '--filter', `name=^${NETWORK}$`]) !== '') cli(['network', 'rm', NETWORK]);
  if (built.length > 0) cli(['rmi', ...[...built].reverse()]);
  const left = cli(['ps', '-aq', '--filter', `label=${RUN_LABEL}=${RUN}`]);
  if (left !== '') process.stderr.write(`bench: containers of run ${RUN} still there: ${left.split('\n').join(' ')}\n`);
}

/** Children first (baton must not create a container after the sweep), then the Docker objects. */
export async function cleanupAll(): Promise<void> {
  await cleanup();
  removeDockerObjects();
}

// On a signal, processes.ts stops the children and exits once they are gone. This listener runs before its own
// (prepended) and chains the Docker sweep onto the same clean-up promise, ahead of processes.ts's exit.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.prependListener(signal, () => void cleanup().then(removeDockerObjects, removeDockerObjects));
}
process.on('exit', () => removeDockerObjects());
