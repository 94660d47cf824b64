// Throughput benchmark: baton against nginx-as-proxy, measured with wrk in one run.
//
//   node bench/wrk.ts [--duration 10] [--warmup 2] [--connections 50] [--rounds 1] [--layout proxy-alone|shared]
//                     [--targets upstream,nginx,baton,baton-log]
//
// Prints a table (req/s, ratio to nginx-as-proxy = 1.00, latency p50/p99, errors, CPU) and, as the last
// line, a one-line JSON summary. Only Node built-ins; traffic goes to 127.0.0.1 only; every run is bounded
// by wrk's -d. See bench/README.md.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const REPO_ROOT = path.resolve(import.meta.dirname, '..');
const BATON_BIN = path.join(REPO_ROOT, 'bin', 'baton.js');
const BENCH_HOST = 'bench.test';
const ADMIN_TOKEN = 'bench-token-0123456789';
const UPSTREAM_BODY = 'hello\n';
const WRK_THREADS = 1;
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const INSTALL_COMMAND = 'apt-get install -y wrk nginx';

type Layout = 'proxy-alone' | 'shared';
type TargetName = 'upstream' | 'nginx' | 'baton' | 'baton-log';
const ALL_TARGETS: readonly TargetName[] = ['upstream', 'nginx', 'baton', 'baton-log'];
const TARGET_LABELS: Record<TargetName, string> = {
  upstream: 'direct upstream (nginx)',
  nginx: 'nginx proxy',
  baton: 'baton (access log off)',
  'baton-log': 'baton (access log on)',
};

interface Options {
  duration: number;
  warmup: number;
  connections: number;
  rounds: number;
  layout: Layout;
  targets: TargetName[];
}

interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number | null;
  p99Ms: number | null;
  non2xx3xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
}

/** One measured wrk run of one target, with what was observed around it. */
interface Sample extends WrkResult {
  serverCpuPct: number | null;
  coreBusyPct: Record<string, number> | null;
  accessLogLines: number | null;
  warnings: string[];
}

/** A target's row: medians over its samples (one per round), error counts summed. */
interface RunResult {
  target: TargetName;
  label: string;
  samples: Sample[];
  rps: number;
  ratio: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  requests: number;
  non2xx3xx: number;
  socketErrors: WrkResult['socketErrors'];
  serverCpuPct: number | null;
  coreBusyPct: Record<string, number> | null;
  accessLogLines: number | null;
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------------------
// Child processes and temp dirs: everything we start is tracked here and torn down on every exit path.

interface Managed {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
  stderrTail: () => string;
}

const managed = new Set<Managed>();
const tempDirs = new Set<string>();

function isAlive(m: Managed): boolean {
  return m.child.exitCode === null && m.child.signalCode === null;
}

function killGroup(m: Managed, signal: NodeJS.Signals): void {
  const pid = m.child.pid;
  if (pid === undefined) return;
  try {
    // Children are started detached: each is the leader of its own process group, so this reaches nginx's
    // workers too (an nginx worker outlives a master killed alone).
    process.kill(-pid, signal);
  } catch {
    try {
      m.child.kill(signal);
    } catch {
      // already gone
    }
  }
}

async function stopManaged(m: Managed): Promise<void> {
  if (isAlive(m)) {
    killGroup(m, 'SIGTERM');
    const timedOut = await Promise.race([
      m.exited.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS, true).unref()),
    ]);
    if (timedOut) {
      process.stderr.write(`bench: ${m.name} did not stop within ${STOP_TIMEOUT_MS} ms, sending SIGKILL\n`);
    }
  }
  // Whatever is left of the group (e.g. a worker whose master died) goes now.
  killGroup(m, 'SIGKILL');
  managed.delete(m);
}

let cleaningUp: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaningUp ??= (async () => {
    await Promise.all([...managed].map((m) => stopManaged(m)));
    for (const dir of tempDirs) {
      fs.rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    }
  })();
  return cleaningUp;
}

// Last resort when the process exits without running cleanup() to the end (synchronous only).
process.on('exit', () => {
  for (const m of managed) killGroup(m, 'SIGKILL');
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\nbench: ${signal} received, stopping children\n`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

function start(name: string, cmd: string, args: string[], opts: { cwd?: string; stdout?: 'ignore' | 'pipe' | { file: string } } = {}): Managed {
  const out = opts.stdout ?? 'ignore';
  const stdoutFd = typeof out === 'string' ? out : fs.openSync(out.file, 'w');
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    detached: true,
    stdio: ['ignore', stdoutFd, 'pipe'],
    env: process.env,
  });
  if (typeof stdoutFd === 'number') fs.closeSync(stdoutFd);
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-8192);
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (err) => {
      tail += `\nspawn error: ${err.message}`;
      resolve();
    });
  });
  const m: Managed = { name, child, exited, stderrTail: () => tail.trim() };
  managed.add(m);
  return m;
}

// ---------------------------------------------------------------------------------------------------------
// Environment checks, CPU pinning, ports.

function findExecutable(name: string): string | null {
  // nginx lives in /usr/sbin, which is not on every user's PATH.
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** CPUs this process may run on (Linux), from /proc/self/status; falls back to 0..n-1. */
function allowedCpus(): number[] {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const list = /^Cpus_allowed_list:\s*(.+)$/m.exec(status)?.[1]?.trim();
    if (list) {
      const cpus: number[] = [];
      for (const part of list.split(',')) {
        const [lo, hi] = part.split('-').map(Number);
        for (let c = lo; c <= (hi ?? lo); c++) cpus.push(c);
      }
      return cpus;
    }
  } catch {
    // not Linux
  }
  return Array.from({ length: os.availableParallelism() }, (_, i) => i);
}

interface Pinning {
  taskset: string | null;
  /** CPU for the server under test (each proxy, and the upstream in the direct run). */
  serverCpu: number | null;
  /** CPU for wrk. */
  wrkCpu: number | null;
  /** CPU for the upstream the proxies forward to. */
  backendCpu: number | null;
  description: string;
}

function planPinning(layout: Layout): Pinning {
  const taskset = findExecutable('taskset');
  const cpus = allowedCpus();
  if (taskset === null || cpus.length < 2) {
    const why = taskset === null ? 'taskset not found' : `only ${cpus.length} CPU available`;
    return { taskset: null, serverCpu: null, wrkCpu: null, backendCpu: null, description: `not pinned (${why})` };
  }
  const [server, wrk] = cpus;
  if (layout === 'proxy-alone') {
    return {
      taskset,
      serverCpu: server,
      wrkCpu: wrk,
      backendCpu: wrk,
      description: `proxy alone on cpu${server}; wrk + upstream on cpu${wrk}`,
    };
  }
  return {
    taskset,
    serverCpu: server,
    wrkCpu: wrk,
    backendCpu: server,
    description: `proxy + upstream on cpu${server}; wrk on cpu${wrk}`,
  };
}

function pinned(p: Pinning, cpu: number | null, cmd: string, args: string[]): [string, string[]] {
  if (p.taskset === null || cpu === null) return [cmd, args];
  return [p.taskset, ['-c', String(cpu), cmd, ...args]];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// CPU accounting from /proc (best effort; null where unavailable).

const CLK_TCK = 100; // USER_HZ; 100 on every Linux build that matters here.

function readProcTable(): Map<number, { ppid: number; ticks: number }> {
  const table = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after "(comm)": state ppid ... utime(14) stime(15), 1-based over the whole line.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(entry), { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) });
    } catch {
      // process vanished
    }
  }
  return table;
}

/** CPU ticks (user + system) of a process and all its descendants. */
function treeTicks(rootPid: number | undefined): number | null {
  if (rootPid === undefined) return null;
  try {
    const table = readProcTable();
    if (!table.has(rootPid)) return null;
    let total = 0;
    const queue = [rootPid];
    while (queue.length > 0) {
      const pid = queue.pop()!;
      total += table.get(pid)?.ticks ?? 0;
      for (const [child, info] of table) if (info.ppid === pid) queue.push(child);
    }
    return total;
  } catch {
    return null;
  }
}

function readCoreTicks(): Map<string, { busy: number; total: number }> | null {
  try {
    const cores = new Map<string, { busy: number; total: number }>();
    for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^(cpu\d+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const v = m[2].trim().split(/\s+/).map(Number);
      const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal (guest is counted in user)
      const idle = v[3] + (v[4] ?? 0); // idle + iowait
      cores.set(m[1], { busy: total - idle, total });
    }
    return cores;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------------
// HTTP readiness checks.

function httpGet(port: number, urlPath: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: urlPath, headers: { host }, agent: false, timeout: 2000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitFor(what: string, m: Managed, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    if (!isAlive(m)) {
      throw new Error(`${m.name} exited (code ${m.child.exitCode}, signal ${m.child.signalCode}) before ${what}\n${m.stderrTail()}`);
    }
    try {
      if (await check()) return;
      lastError = 'unexpected answer';
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${READY_TIMEOUT_MS} ms waiting for ${what} (${lastError})\n${m.stderrTail()}`);
}

const answersHello = (port: number) => async () => {
  const res = await httpGet(port, '/', BENCH_HOST);
  return res.status === 200 && res.body === UPSTREAM_BODY;
};

// ---------------------------------------------------------------------------------------------------------
// nginx (upstream and proxy) and baton.

function nginxConfig(prefix: string, server: string): string {
  // Every path nginx may touch is inside `prefix`, so it never needs /var/log/nginx or /var/lib/nginx.
  return `daemon off;
master_process on;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  keepalive_timeout 65s;
  keepalive_requests 100000;
${server}
}
`;
}

async function startNginx(name: string, dir: string, cpu: number | null, pin: Pinning, nginxBin: string, server: string, port: number): Promise<Managed> {
  const prefix = path.join(dir, name);
  fs.mkdirSync(prefix, { recursive: true });
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(conf, nginxConfig(prefix, server));
  const [cmd, args] = pinned(pin, cpu, nginxBin, ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log')]);
  const m = start(name, cmd, args);
  await waitFor(`${name} to answer on 127.0.0.1:${port}`, m, answersHello(port));
  return m;
}

function upstreamServer(port: number): string {
  return `  server {
    listen 127.0.0.1:${port};
    location / {
      default_type text/plain;
      return 200 "${UPSTREAM_BODY.replace('\n', '\\n')}";
    }
  }`;
}

function proxyServer(port: number, upstreamPort: number): string {
  return `  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 100000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`;
}

interface Baton {
  m: Managed;
  webPort: number;
  logFile: string;
}

async function startBaton(dir: string, pin: Pinning, upstreamPort: number, accessLog: boolean): Promise<Baton> {
  const [webPort, adminPort] = [await freePort(), await freePort()];
  const name = accessLog ? 'baton-log' : 'baton';
  const cfgFile = path.join(dir, `${name}.yaml`);
  const logFile = path.join(dir, `${name}.stdout.log`);
  fs.writeFileSync(
    cfgFile,
    `entrypoints:
  web:
    address: "127.0.0.1:${webPort}"
admin:
  address: "127.0.0.1:${adminPort}"
  token: "${ADMIN_TOKEN}"
log:
  level: info
  accessLog: ${accessLog}
services:
  bench:
    rule: "Host(\`${BENCH_HOST}\`)"
    upstreams: ["http://127.0.0.1:${upstreamPort}"]
`,
  );
  // Both runs log at `info` (access-log lines are info-level records; at `warn` they would be filtered out and
  // "access log on" would measure nothing); they differ only in log.accessLog. baton logs JSON to stdout,
  // which goes to a file (as a log shipper would read it), not through this process.
  const [cmd, args] = pinned(pin, pin.serverCpu, process.execPath, [BATON_BIN, 'serve', '--config', cfgFile]);
  const m = start(name, cmd, args, { cwd: REPO_ROOT, stdout: { file: logFile } });
  try {
    await waitFor(`${name} GET /healthz = 200 on admin port ${adminPort}`, m, async () => {
      return (await httpGet(adminPort, '/healthz', `127.0.0.1:${adminPort}`)).status === 200;
    });
    await waitFor(`${name} to proxy Host: ${BENCH_HOST} to the upstream`, m, answersHello(webPort));
  } catch (err) {
    // baton's own account of the failure is in its log (stdout), not on stderr.
    let log = '';
    try {
      log = fs.readFileSync(logFile, 'utf8').slice(-4096).trim();
    } catch {
      // no log yet
    }
    throw new Error(`${(err as Error).message}\n--- ${name} stdout (config ${cfgFile}) ---\n${log}`, { cause: err });
  }
  return { m, webPort, logFile };
}

function countLines(file: string): number {
  const buf = fs.readFileSync(file);
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// wrk.

function toMs(value: string, unit: string): number {
  const n = Number(value);
  switch (unit) {
    case 'us':
      return n / 1000;
    case 'ms':
      return n;
    case 's':
      return n * 1000;
    case 'm':
      return n * 60_000;
    case 'h':
      return n * 3_600_000;
    default:
      return Number.NaN;
  }
}

function parseWrk(out: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  if (!rps) throw new Error(`could not parse wrk output:\n${out}`);
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)/m.exec(out);
  const pct = (p: string): number | null => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(out);
    return m ? toMs(m[1], m[2]) : null;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    requests: total ? Number(total[1]) : 0,
    seconds: total ? toMs(total[2], total[3]) / 1000 : 0,
    rps: Number(rps[1]),
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    non2xx3xx: non ? Number(non[1]) : 0,
    socketErrors: sock
      ? { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
  };
}

async function runWrk(wrkBin: string, pin: Pinning, port: number, seconds: number, connections: number): Promise<WrkResult> {
  const wrkArgs = [
    `-t${WRK_THREADS}`,
    `-c${connections}`,
    `-d${seconds}s`,
    '--latency',
    '-H',
    `Host: ${BENCH_HOST}`,
    `http://127.0.0.1:${port}/`,
  ];
  const [cmd, args] = pinned(pin, pin.wrkCpu, wrkBin, wrkArgs);
  const m = start('wrk', cmd, args, { stdout: 'pipe' });
  let out = '';
  m.child.stdout?.setEncoding('utf8');
  m.child.stdout?.on('data', (chunk: string) => (out += chunk));
  await m.exited;
  managed.delete(m);
  if (m.child.exitCode !== 0) {
    throw new Error(`wrk failed (code ${m.child.exitCode}, signal ${m.child.signalCode})\n${m.stderrTail()}\n${out}`);
  }
  return parseWrk(out);
}

// ---------------------------------------------------------------------------------------------------------
// Aggregation and output.

function median(values: number[]): number | null {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function aggregate(target: TargetName, samples: Sample[]): RunResult {
  const nums = (pick: (s: Sample) => number | null): number[] =>
    samples.map(pick).filter((x): x is number => x !== null);
  const sum = (pick: (s: Sample) => number): number => samples.reduce((acc, s) => acc + pick(s), 0);
  let coreBusyPct: Record<string, number> | null = null;
  for (const cpu of new Set(samples.flatMap((s) => Object.keys(s.coreBusyPct ?? {})))) {
    const m = median(nums((s) => s.coreBusyPct?.[cpu] ?? null));
    if (m !== null) (coreBusyPct ??= {})[cpu] = m;
  }
  return {
    target,
    label: TARGET_LABELS[target],
    samples,
    rps: median(samples.map((s) => s.rps)) ?? 0,
    ratio: null,
    p50Ms: median(nums((s) => s.p50Ms)),
    p99Ms: median(nums((s) => s.p99Ms)),
    requests: sum((s) => s.requests),
    non2xx3xx: sum((s) => s.non2xx3xx),
    socketErrors: {
      connect: sum((s) => s.socketErrors.connect),
      read: sum((s) => s.socketErrors.read),
      write: sum((s) => s.socketErrors.write),
      timeout: sum((s) => s.socketErrors.timeout),
    },
    serverCpuPct: median(nums((s) => s.serverCpuPct)),
    coreBusyPct,
    accessLogLines: samples.some((s) => s.accessLogLines !== null) ? sum((s) => s.accessLogLines ?? 0) : null,
    warnings: [...new Set(samples.flatMap((s) => s.warnings))],
  };
}

function fmtMs(ms: number | null): string {
  if (ms === null || Number.isNaN(ms)) return '-';
  return ms < 1 ? `${(ms * 1000).toFixed(0)}us` : `${ms.toFixed(2)}ms`;
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');

function printTable(results: RunResult[], pin: Pinning, rounds: number): void {
  const cores = pin.serverCpu === null ? [] : [`cpu${pin.serverCpu}`, `cpu${pin.wrkCpu}`];
  const head = [
    'target',
    'req/s',
    ...(rounds > 1 ? ['min..max'] : []),
    'ratio',
    'p50',
    'p99',
    'non-2xx/3xx',
    'sock err',
    'server CPU',
    ...cores.map((c) => `${c} busy`),
  ];
  const rows = results.map((r) => {
    const sockErrors = r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout;
    const rps = r.samples.map((s) => s.rps);
    return [
      r.label + (r.warnings.length > 0 ? ' !' : ''),
      fmtInt(r.rps),
      ...(rounds > 1 ? [`${fmtInt(Math.min(...rps))}..${fmtInt(Math.max(...rps))}`] : []),
      r.ratio === null ? '-' : r.ratio.toFixed(2),
      fmtMs(r.p50Ms),
      fmtMs(r.p99Ms),
      String(r.non2xx3xx),
      String(sockErrors),
      r.serverCpuPct === null ? '-' : `${r.serverCpuPct.toFixed(0)}%`,
      ...cores.map((c) => (r.coreBusyPct?.[c] === undefined ? '-' : `${r.coreBusyPct[c].toFixed(0)}%`)),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log(
    `ratio = req/s / nginx-as-proxy req/s${rounds > 1 ? ` (medians of ${rounds} rounds)` : ''}; ` +
      'server CPU = CPU time of the server under test, 100% = one core; cpuN busy includes everything on that core',
  );
  for (const r of results) for (const w of r.warnings) console.log(`! ${r.label}: ${w}`);
}

// ---------------------------------------------------------------------------------------------------------
// Main.

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '50' },
      rounds: { type: 'string', default: '1' },
      layout: { type: 'string', default: 'proxy-alone' },
      targets: { type: 'string', default: ALL_TARGETS.join(',') },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(`usage: node bench/wrk.ts [--duration s] [--warmup s] [--connections n] [--rounds n]
                         [--layout proxy-alone|shared] [--targets ${ALL_TARGETS.join(',')}]
  --duration     seconds measured per target and round (default 10)
  --warmup       seconds of unmeasured load per target before its first measurement (default 2, 0 = none)
  --connections  wrk connections (default 50; wrk always runs 1 thread)
  --rounds       measure every target this many times, interleaved, and report medians (default 1)
  --layout       CPU pinning with taskset: proxy-alone (default) = server under test alone on the first CPU,
                 wrk + upstream on the second; shared = server under test + upstream on the first, wrk on the second
  --targets      which rows to measure (default all)`);
    process.exit(0);
  }
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min} (got ${v})`);
    return n;
  };
  const layout = values.layout;
  if (layout !== 'proxy-alone' && layout !== 'shared') throw new Error(`--layout must be proxy-alone or shared (got ${layout})`);
  const targets = values.targets.split(',').map((t) => t.trim()).filter((t) => t !== '');
  for (const t of targets) {
    if (!(ALL_TARGETS as readonly string[]).includes(t)) throw new Error(`unknown target ${t}; known: ${ALL_TARGETS.join(', ')}`);
  }
  if (targets.length === 0) throw new Error('--targets is empty');
  return {
    duration: int('duration', values.duration, 1),
    warmup: int('warmup', values.warmup, 0),
    connections: int('connections', values.connections, 1),
    rounds: int('rounds', values.rounds, 1),
    layout,
    targets: ALL_TARGETS.filter((t) => targets.includes(t)),
  };
}

interface Target {
  name: TargetName;
  port: number;
  server: Managed;
  /** baton's stdout file, to count access-log lines. */
  logFile: string | null;
}

async function measure(t: Target, wrkBin: string, pin: Pinning, opts: Options, warmup: number): Promise<Sample> {
  if (warmup > 0) await runWrk(wrkBin, pin, t.port, warmup, opts.connections);
  const logLinesBefore = t.logFile === null ? 0 : countLines(t.logFile);
  const ticksBefore = treeTicks(t.server.child.pid);
  const coresBefore = readCoreTicks();
  const started = process.hrtime.bigint();
  const res = await runWrk(wrkBin, pin, t.port, opts.duration, opts.connections);
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  const ticksAfter = treeTicks(t.server.child.pid);
  const coresAfter = readCoreTicks();

  const warnings: string[] = [];
  if (!isAlive(t.server)) warnings.push(`server exited during the run: ${t.server.stderrTail()}`);
  if (res.requests === 0) warnings.push('no requests completed');
  if (res.non2xx3xx > 0) warnings.push('some responses were not 2xx/3xx');
  const se = res.socketErrors;
  if (se.connect + se.read + se.write + se.timeout > 0) warnings.push('wrk saw socket errors');
  let accessLogLines: number | null = null;
  if (t.logFile !== null) {
    accessLogLines = countLines(t.logFile) - logLinesBefore;
    if (t.name === 'baton-log' && accessLogLines < res.requests * 0.9) {
      warnings.push(`stdout got ${accessLogLines} lines for ${res.requests} requests (is log.accessLog honoured?)`);
    }
    if (t.name === 'baton' && accessLogLines > res.requests * 0.1) {
      warnings.push(`stdout got ${accessLogLines} lines with the access log off`);
    }
  }
  let coreBusyPct: Record<string, number> | null = null;
  if (coresBefore !== null && coresAfter !== null) {
    coreBusyPct = {};
    for (const [cpu, after] of coresAfter) {
      const before = coresBefore.get(cpu);
      if (before === undefined || after.total === before.total) continue;
      coreBusyPct[cpu] = (100 * (after.busy - before.busy)) / (after.total - before.total);
    }
  }
  const serverCpuPct =
    ticksBefore === null || ticksAfter === null ? null : (100 * (ticksAfter - ticksBefore)) / CLK_TCK / elapsedS;
  return { ...res, serverCpuPct, coreBusyPct, accessLogLines, warnings };
}

async function main(): Promise<number> {
  const opts = parseOptions();

  const wrkBin = findExecutable('wrk');
  const nginxBin = findExecutable('nginx');
  if (wrkBin === null || nginxBin === null) {
    const missing = [wrkBin === null ? 'wrk' : null, nginxBin === null ? 'nginx' : null].filter((x) => x !== null);
    console.error(`bench: missing ${missing.join(' and ')} (Debian packages). Install with:\n\n  ${INSTALL_COMMAND}\n`);
    return 1;
  }
  const wantsBaton = opts.targets.includes('baton') || opts.targets.includes('baton-log');
  if (wantsBaton && !fs.existsSync(BATON_BIN)) {
    console.error(`bench: ${BATON_BIN} not found (or measure only --targets upstream,nginx)`);
    return 1;
  }

  const pin = planPinning(opts.layout);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-bench-'));
  tempDirs.add(dir);
  // nginx started as root runs its worker as `nobody`, which must be able to reach its prefix.
  if (process.getuid?.() === 0) fs.chmodSync(dir, 0o755);

  console.log(
    `baton bench: wrk -t${WRK_THREADS} -c${opts.connections} -d${opts.duration}s --latency -H 'Host: ${BENCH_HOST}' ` +
      `(+${opts.warmup}s warm-up${opts.rounds > 1 ? `, ${opts.rounds} rounds` : ''}); ${pin.description}; ` +
      `node ${process.version}`,
  );

  // Two identical nginx upstreams: "upstream-direct" sits where the servers under test sit (the direct row
  // measures it), "upstream" is the one every proxy forwards to.
  process.stderr.write('bench: starting servers\n');
  const targets: Target[] = [];
  const needBackend = opts.targets.some((t) => t !== 'upstream');
  const backendPort = await freePort();
  if (needBackend) await startNginx('upstream', dir, pin.backendCpu, pin, nginxBin, upstreamServer(backendPort), backendPort);
  if (opts.targets.includes('upstream')) {
    const port = await freePort();
    const server = await startNginx('upstream-direct', dir, pin.serverCpu, pin, nginxBin, upstreamServer(port), port);
    targets.push({ name: 'upstream', port, server, logFile: null });
  }
  if (opts.targets.includes('nginx')) {
    const port = await freePort();
    const server = await startNginx('nginx-proxy', dir, pin.serverCpu, pin, nginxBin, proxyServer(port, backendPort), port);
    targets.push({ name: 'nginx', port, server, logFile: null });
  }
  for (const name of ['baton', 'baton-log'] as const) {
    if (!opts.targets.includes(name)) continue;
    const b = await startBaton(dir, pin, backendPort, name === 'baton-log');
    targets.push({ name, port: b.webPort, server: b.m, logFile: b.logFile });
  }

  // Rounds interleave the targets, so drift on a shared machine hits every row alike.
  const samples = new Map<TargetName, Sample[]>(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= opts.rounds; round++) {
    for (const t of targets) {
      const roundNote = opts.rounds > 1 ? ` (round ${round}/${opts.rounds})` : '';
      process.stderr.write(`bench: measuring ${TARGET_LABELS[t.name]}${roundNote}\n`);
      samples.get(t.name)!.push(await measure(t, wrkBin, pin, opts, round === 1 ? opts.warmup : 0));
    }
  }

  const results = targets.map((t) => aggregate(t.name, samples.get(t.name)!));
  const base = results.find((r) => r.target === 'nginx')?.rps;
  for (const r of results) r.ratio = base ? r.rps / base : null;

  console.log('');
  printTable(results, pin, opts.rounds);
  console.log(
    JSON.stringify({
      bench: 'wrk',
      node: process.version,
      wrk: { threads: WRK_THREADS, connections: opts.connections, duration: opts.duration, warmup: opts.warmup },
      rounds: opts.rounds,
      layout: opts.layout,
      pinning: pin.description,
      results: results.map((r) => ({
        target: r.target,
        rps: Math.round(r.rps),
        ratio: r.ratio === null ? null : Number(r.ratio.toFixed(3)),
        rpsPerRound: r.samples.map((s) => Math.round(s.rps)),
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        requests: r.requests,
        non2xx3xx: r.non2xx3xx,
        socketErrors: r.socketErrors,
        serverCpuPct: r.serverCpuPct === null ? null : Math.round(r.serverCpuPct),
        coreBusyPct:
          r.coreBusyPct === null
            ? null
            : Object.fromEntries(Object.entries(r.coreBusyPct).map(([k, v]) => [k, Math.round(v)])),
        accessLogLines: r.accessLogLines,
        warnings: r.warnings,
      })),
    }),
  );
  return 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  // After a signal the children are gone on purpose; their failures are not news.
  if (cleaningUp === null) console.error(`bench: ${(err as Error).message}`);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exitCode = exitCode;
