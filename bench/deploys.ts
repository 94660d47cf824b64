// Deploys under load (issue 10): consecutive rolling deploys of a replicated service on the real Docker engine,
// through baton, while autocannon drives it.
//
//   node bench/deploys.ts [--deploys 10] [--replicas 4] [--connections 50] [--json]
//                         [--steady 10] [--warmup 2] [--monitor 0] [--health-interval 250] [--logs dir]
//
// Builds two tiny upstream images (bench/deploys-docker.ts), starts `replicas` labelled containers of the first on
// a network of its own and baton (bin/baton.js serve, Docker provider) in front of them; once baton routes to all
// of them, starts the load (bench/deploys-load.ts, a child process), measures a steady-state window, samples the
// containers' boot time (under the same load), then runs the deploys one after the other through the admin API,
// alternating between the two images. Reports failed requests, each deploy's duration minus the boot time of the
// containers it started, and p99 during the deploys against steady state (bench/deploys-report.ts). Traffic goes
// to 127.0.0.1 and to the bench's own containers only; everything it made is removed on exit, error and Ctrl-C.

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  bootTime,
  buildImages,
  cleanupAll,
  createNetwork,
  dockerProblem,
  NETWORK,
  RUN,
  runContainer,
  serviceLabels,
} from './deploys-docker.ts';
import { readLoad } from './deploys-load.ts';
import { api, counters, deploy, followHealthy, healthyUpstreams, SERVICE, TOKEN } from './deploys-admin.ts';
import { analyse, jsonLine, median, printReport, type Boot, type DeployRun } from './deploys-report.ts';
import { isAlive, makeTempDir, start, stopping, type Managed } from './processes.ts';
import { BENCH_HOST, freePort, httpGet, waitFor } from './ready.ts';

const REPO_ROOT = path.resolve(import.meta.dirname, '..');
const BATON_BIN = path.join(REPO_ROOT, 'bin', 'baton.js');
const LOAD_TS = path.join(import.meta.dirname, 'deploys-load.ts');
const BOOT_SAMPLES = 5;
/** the load's own bound per deploy (the admin side gives a deploy 120 s) */
const DEPLOY_BOUND_S = 120;
const ROUTED_TIMEOUT_MS = 60_000;
const RUN_TIMEOUT_MS = 30 * 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

function options() {
  const { values } = parseArgs({
    options: {
      deploys: { type: 'string', default: '10' },
      replicas: { type: 'string', default: '4' },
      connections: { type: 'string', default: '50' },
      steady: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      monitor: { type: 'string', default: '0' },
      'health-interval': { type: 'string', default: '250' },
      json: { type: 'boolean', default: false },
      logs: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(`usage: node bench/deploys.ts [--deploys 10] [--replicas 4] [--connections 50] [--json]
                             [--steady 10] [--warmup 2] [--monitor 0] [--health-interval 250]
  --deploys          consecutive rolling deploys (default 10), alternating between two images
  --replicas         containers of the service (default 4); each deploy replaces them one at a time
  --connections      autocannon connections (default 50)
  --steady           seconds of the steady-state window, before the deploys (default 10)
  --warmup           seconds of load before the steady window (default 2)
  --monitor          each batch's monitor window in seconds (default 0); subtracted from the overhead
  --health-interval  the containers' baton.health.interval in ms (default 250, rise 2)
  --json             also print a one-line JSON summary (last line)
  --logs dir         keep baton's log (baton.log), the deploy records (deploys.json) and the load's failures
                     (load.json) in dir, which must not exist yet (default: removed with the temp dir)`);
    process.exit(0);
  }
  const num = (name: string, v: string, min: number, max: number, integer = true): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
      throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max} (got ${v})`);
    }
    return n;
  };
  return {
    deploys: num('deploys', values.deploys, 1, 100),
    replicas: num('replicas', values.replicas, 1, 20),
    connections: num('connections', values.connections, 1, 1000),
    steady: num('steady', values.steady, 1, 600, false),
    warmup: num('warmup', values.warmup, 0, 60, false),
    monitor: num('monitor', values.monitor, 0, 60, false),
    healthInterval: num('health-interval', values['health-interval'], 50, 10_000),
    json: values.json === true,
    logs: values.logs,
  };
}

function batonConfig(dir: string, webPort: number, adminPort: number): string {
  const endpoint = process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';
  return `entrypoints:
  web:
    address: "127.0.0.1:${webPort}"
admin:
  address: "127.0.0.1:${adminPort}"
  token: "${TOKEN}"
stateDir: ${JSON.stringify(path.join(dir, 'state'))}
log:
  level: info
  accessLog: false
providers:
  docker:
    enabled: true
    endpoint: ${JSON.stringify(endpoint)}
    network: ${JSON.stringify(NETWORK)}
`;
}

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

/** baton's log records at warn or above since `from` (epoch ms), and any line that is not JSON; those about a
 *  container that is not this run's (another user of the engine: baton sees every labelled container) apart. */
function warnings(logFile: string, from: number): { own: string[]; foreign: number } {
  let text = '';
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch {
    return { own: [], foreign: 0 };
  }
  const own: string[] = [];
  let foreign = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let r: { level?: number | string; time?: number | string; container?: unknown };
    try {
      r = JSON.parse(line);
    } catch {
      own.push(line);
      continue;
    }
    const level = typeof r.level === 'number' ? r.level : (LEVELS[String(r.level)] ?? 0);
    const time = typeof r.time === 'number' ? r.time : Date.parse(String(r.time));
    if (level < 40 || time < from) continue;
    const c = typeof r.container === 'string' ? r.container : null;
    if (c !== null && !c.includes(RUN) && !c.startsWith(`${SERVICE}-`)) foreign++;
    else own.push(line);
  }
  return { own, foreign };
}

async function main(): Promise<number> {
  const opts = options();
  if (opts.logs !== undefined && fs.existsSync(opts.logs)) throw new Error(`--logs ${opts.logs} exists already`);
  const problem = await dockerProblem();
  if (problem !== null) {
    console.error(`bench: deploys need a Docker engine: ${problem}`);
    return 1;
  }
  const dir = makeTempDir('baton-bench-deploys-');
  let t = Date.now();
  log(`run ${RUN}: building the upstream images`);
  const images = await buildImages(dir);
  log(`images ${images.a}, ${images.b} built in ${Date.now() - t} ms`);
  await createNetwork();
  const labels = serviceLabels(SERVICE, BENCH_HOST, opts.healthInterval);
  for (let k = 0; k < opts.replicas; k++) await runContainer(`baton-bench-${RUN}-orig-${k}`, images.a, labels);

  const [webPort, adminPort] = [await freePort(), await freePort()];
  const cfgFile = path.join(dir, 'baton.yaml');
  const logFile = path.join(dir, 'baton.stdout.log');
  fs.writeFileSync(cfgFile, batonConfig(dir, webPort, adminPort));
  const baton = start('baton', process.execPath, [BATON_BIN, 'serve', '--config', cfgFile], {
    cwd: REPO_ROOT,
    stdout: { file: logFile },
  });
  await waitFor(
    `baton GET /healthz on ${adminPort}`,
    baton,
    async () => (await api(adminPort, 'GET', '/healthz')).status === 200,
  );
  t = Date.now();
  while ((await healthyUpstreams(adminPort)) < opts.replicas) {
    if (!isAlive(baton) || Date.now() - t > ROUTED_TIMEOUT_MS) {
      throw new Error(
        `baton does not route to ${opts.replicas} healthy containers:\n${warnings(logFile, 0).own.join('\n')}`,
      );
    }
    await sleep(100);
  }
  const hello = await httpGet(webPort, '/', BENCH_HOST);
  if (hello.status !== 200 || hello.body !== 'hello\n') throw new Error(`GET / through baton: ${hello.status}`);
  log(`baton routes to ${opts.replicas} healthy containers (${Date.now() - t} ms)`);

  // the load: bounded by its own duration too, in case this process is stopped hard
  const loadOut = path.join(dir, 'load');
  const maxSeconds = Math.ceil(opts.warmup + opts.steady + 60 + opts.deploys * DEPLOY_BOUND_S);
  const args = [LOAD_TS, String(webPort), BENCH_HOST, String(opts.connections), String(maxSeconds), loadOut];
  const load = start('load', process.execPath, args, { cwd: REPO_ROOT });
  const loadStart = Date.now();
  await sleep(opts.warmup * 1000);
  const steady = { t0: Date.now(), t1: 0 };
  log(`steady-state window: ${opts.steady} s`);
  await sleep(opts.steady * 1000);
  steady.t1 = Date.now();

  log(`boot time: ${BOOT_SAMPLES} runs of each image, under the load`);
  const bootWindow = { t0: Date.now(), t1: 0 };
  const boots: Boot[] = [images.a, images.b].map((image) => ({ image, samples: [], median: 0 }));
  for (let i = 0; i < BOOT_SAMPLES; i++) {
    for (const [j, b] of boots.entries()) b.samples.push(await bootTime(b.image, `baton-bench-${RUN}-boot-${j}-${i}`));
  }
  bootWindow.t1 = Date.now();
  for (const b of boots) b.median = median(b.samples);

  const events = followHealthy(adminPort);
  const before = await counters(adminPort);
  const deploys: DeployRun[] = [];
  for (let n = 1; n <= opts.deploys; n++) {
    if (!isAlive(load)) throw new Error(`the load stopped early:\n${load.stderrTail()}`);
    if (!isAlive(baton)) throw new Error(`baton exited:\n${warnings(logFile, 0).own.slice(-20).join('\n')}`);
    const image = n % 2 === 1 ? images.b : images.a;
    const d = await deploy(adminPort, n, image, { monitor: opts.monitor * 1000 });
    for (const b of d.batches) {
      const at = b.names.map((name) => events.healthyAt.get(name));
      if (at.every((x) => x !== undefined)) b.healthyAt = Math.max(...(at as number[]));
    }
    d.bootFallback = boots.find((b) => b.image === image)!.median;
    d.waits = opts.replicas * opts.monitor * 1000;
    deploys.push(d);
    log(`deploy #${n} → ${image}: ${d.state} in ${d.t1 - d.t0} ms${d.error ? `: ${d.error}` : ''}`);
  }
  const after = await counters(adminPort);
  events.close();
  await sleep(1000);
  await stopLoad(load);
  const inputs = {
    options: { ...opts, json: undefined, logs: undefined },
    load: readLoad(loadOut),
    steady,
    bootWindow,
    boots,
    deploys,
    baton: {
      retries: after.retries - before.retries,
      http5xx: after.http5xx - before.http5xx,
      unavailable: after.unavailable - before.unavailable,
    },
    batonWarnings: warnings(logFile, loadStart),
  };
  if (opts.logs !== undefined) keepLogs(opts.logs, logFile, loadOut, deploys);
  const a = analyse(inputs);
  printReport(inputs, a);
  if (opts.json) console.log(jsonLine(inputs, a));
  return 0;
}

function keepLogs(dir: string, logFile: string, loadOut: string, deploys: DeployRun[]): void {
  fs.mkdirSync(dir, { recursive: false });
  fs.copyFileSync(logFile, path.join(dir, 'baton.log'));
  fs.copyFileSync(`${loadOut}.json`, path.join(dir, 'load.json'));
  fs.writeFileSync(path.join(dir, 'deploys.json'), JSON.stringify(deploys, null, 2));
  log(`baton's log, the deploy records and the load's failures kept in ${dir}`);
}

async function stopLoad(load: Managed): Promise<void> {
  load.child.kill('SIGUSR2');
  const done = await Promise.race([load.exited.then(() => true), sleep(30_000).then(() => false)]);
  if (!done || load.child.exitCode !== 0) throw new Error(`the load did not end cleanly:\n${load.stderrTail()}`);
}

const watchdog = setTimeout(() => {
  log(`the run took longer than ${RUN_TIMEOUT_MS / 60_000} min: stopping`);
  void cleanupAll().finally(() => process.exit(1));
}, RUN_TIMEOUT_MS);
watchdog.unref();

let code = 1;
try {
  code = await main();
} catch (err) {
  // after a signal the children are gone on purpose: what failed then is no news
  if (!stopping()) console.error(`bench: ${(err as Error).stack ?? err}`);
} finally {
  await cleanupAll();
}
process.exit(code);
