// The admin commands: status, certs, history, drain, enable, reload, deploy, rollback, scale and upgrade, each one
// request to the admin API (a deploy, rollback or scale then followed step by step until it ends, progress.ts;
// `status --watch` refreshing, watch.ts). A failure prints one line and returns EXIT_FAILURE; a bad flag or config
// file, EXIT_USAGE.
import type { CertificateView } from '../admin/certificates.ts';
import { parseDuration } from '../config/units.ts';
import { AdminCallError, ConfigError } from '../errors.ts';
import { adminTarget, call, type AdminFlags, type AdminTarget } from './admin-client.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type Io } from './io.ts';
import {
  certsTable,
  drainedLine,
  drainStartedLine,
  enabledLine,
  historyTable,
  problemLines,
  statusTable,
  type DeploySummary,
  type ServiceView,
} from './output.ts';
import {
  composeRunner,
  composeTargets,
  imageTargets,
  serviceList,
  type DeployTarget,
  type RoutedService,
} from './deploy-targets.ts';
import { followOperation, PlainView, type OperationView } from './progress.ts';
import { stdoutIsTTY, wantsPlain } from './term.ts';

/** `baton deploy`'s own flags. */
export interface DeployFlags {
  image?: string;
  strategy?: string;
  replicas?: string;
  parallelism?: string;
  order?: string;
  delay?: string;
  monitor?: string;
  'failure-action'?: string;
  'max-failure-ratio'?: string;
  'health-timeout'?: string;
  'drain-timeout'?: string;
  pull?: boolean;
  'no-keep-previous'?: boolean;
  hold?: boolean;
  'config-hash'?: string;
  compose?: boolean;
  'compose-file'?: string;
  canary?: string;
  'canary-header'?: string;
  'canary-duration'?: string;
  'sticky-for'?: string;
}

/** Every flag an admin command reads. */
export interface Flags extends AdminFlags, DeployFlags {
  timeout?: string;
  'no-wait'?: boolean;
  json?: boolean;
  plain?: boolean;
  limit?: string;
  watch?: boolean;
  interval?: string;
}

/** The most deploys `baton history` asks for (the API's bound). */
const MAX_HISTORY_LIMIT = 1000;
/** `baton status --watch`: how often it refreshes, by default and at the most and least. */
const DEFAULT_WATCH_INTERVAL_MS = 2_000;
const MIN_WATCH_INTERVAL_MS = 100;
const MAX_WATCH_INTERVAL_MS = 3_600_000;

export function status(flags: Flags, io: Io): Promise<number> {
  if (flags.watch || flags.interval !== undefined) {
    const intervalMs = watchInterval(flags);
    if (typeof intervalMs === 'string') {
      io.err(`baton status: ${intervalMs}\n`);
      return Promise.resolve(EXIT_USAGE);
    }
    return withAdmin(io, flags, async (t) => {
      const { watchStatus } = await import('./watch.ts');
      return watchStatus(t, { intervalMs, json: flags.json === true }, io);
    });
  }
  return withAdmin(io, flags, async (t) => {
    const { json } = await call<{ services: ServiceView[] }>(t, 'GET', '/api/services');
    io.out(flags.json ? JSON.stringify(json, null, 2) + '\n' : statusTable(json.services));
    return EXIT_OK;
  });
}

export function certs(flags: Flags, io: Io): Promise<number> {
  return withAdmin(io, flags, async (t) => {
    const { json } = await call<{ certificates: CertificateView[] }>(t, 'GET', '/api/certificates');
    io.out(flags.json ? JSON.stringify(json, null, 2) + '\n' : certsTable(json.certificates));
    return EXIT_OK;
  });
}

/** `--interval` of `baton status --watch` in ms, or what is wrong with it. */
export function watchInterval(flags: Pick<Flags, 'watch' | 'interval'>): number | string {
  if (!flags.watch) return '--interval goes with --watch';
  if (flags.interval === undefined) return DEFAULT_WATCH_INTERVAL_MS;
  const ms = parseDuration(flags.interval);
  if (ms === null || ms < MIN_WATCH_INTERVAL_MS || ms > MAX_WATCH_INTERVAL_MS) {
    return `--interval: expected a duration from 100ms to 1h, such as 2s (got ${JSON.stringify(flags.interval)})`;
  }
  return ms;
}

/** `baton history [service] [--limit N]`: the deploys in the journal, newest first. */
export function history(service: string | undefined, flags: Flags, io: Io): Promise<number> {
  const query = new URLSearchParams();
  if (service !== undefined) query.set('service', service);
  if (flags.limit !== undefined) {
    const n = Number(flags.limit);
    if (!/^\d+$/.test(flags.limit) || n < 1 || n > MAX_HISTORY_LIMIT) {
      io.err(`baton history: --limit must be a whole number from 1 to ${MAX_HISTORY_LIMIT}\n`);
      return Promise.resolve(EXIT_USAGE);
    }
    query.set('limit', String(n));
  }
  return withAdmin(io, flags, async (t) => {
    const q = query.size > 0 ? `?${query}` : '';
    const { json } = await call<{ deploys: DeploySummary[] }>(t, 'GET', `/api/deploys${q}`);
    io.out(flags.json ? JSON.stringify(json, null, 2) + '\n' : historyTable(json.deploys));
    return EXIT_OK;
  });
}

/** `baton events`: the admin API's event stream, one line per event, until Ctrl-C. */
export function events(flags: Flags, io: Io): Promise<number> {
  return withAdmin(io, flags, async (t) => {
    const { followEvents } = await import('./events.ts');
    return followEvents(t, { json: flags.json === true }, io);
  });
}

/** `baton upgrade [--timeout 60s]`: the running baton starts the new one on its listeners and steps down once it
 *  is ready; exit 0 then, 1 (with the reason) when the new one did not start and the old one serves on. */
export function upgrade(flags: Flags, io: Io): Promise<number> {
  const body = flags.timeout !== undefined ? { timeout: flags.timeout } : {};
  return withAdmin(io, flags, async (t) => {
    io.err('Upgrading baton: starting the new process on the same listeners…\n');
    const { json } = await call(t, 'POST', '/api/upgrade', body);
    const { previousPid, pid, durationMs } = json as { previousPid: number; pid: number; durationMs: number };
    io.out(
      `baton upgraded: pid ${previousPid} → ${pid} (ready in ${durationMs} ms); pid ${previousPid} drains and exits\n`,
    );
    return EXIT_OK;
  });
}

export function drain(id: string, flags: Flags, io: Io): Promise<number> {
  return withAdmin(io, flags, async (t) => {
    const wait = !flags['no-wait'];
    const body = flags.timeout !== undefined ? { timeout: flags.timeout } : {};
    if (wait) io.err(`Draining ${id}: out of rotation, waiting for in-flight requests…\n`);
    const { json } = await call(t, 'POST', `${upstreamPath(id)}/drain${wait ? '' : '?wait=false'}`, body);
    io.out(wait ? drainedLine(id, json) : drainStartedLine(id, json));
    return EXIT_OK;
  });
}

export function enable(id: string, flags: Flags, io: Io): Promise<number> {
  return withAdmin(io, flags, async (t) => {
    const { json } = await call(t, 'POST', `${upstreamPath(id)}/enable`, {});
    io.out(enabledLine(id, json.state));
    return EXIT_OK;
  });
}

/** `baton reload`: the running baton reads its config file again; what changed live and what needs a restart. */
export function reload(flags: Flags, io: Io): Promise<number> {
  return withAdmin(io, flags, async (t) => {
    let json: { applied: string[]; restartRequired: string[] };
    try {
      json = (await call(t, 'POST', '/api/config/reload', {})).json;
    } catch (err) {
      if (!(err instanceof AdminCallError) || err.status !== 400) throw err;
      io.err(`baton reload: ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (flags.json) {
      io.out(JSON.stringify(json) + '\n');
      return EXIT_OK;
    }
    const list = (keys: string[]) => (keys.length === 0 ? 'nothing' : keys.join(', '));
    io.out(`Configuration reloaded. Applied: ${list(json.applied)}\n`);
    if (json.restartRequired.length > 0) io.out(`Needs a restart (not applied): ${list(json.restartRequired)}\n`);
    return EXIT_OK;
  });
}

/** `baton deploy <service>[,<service>…] --image …` or `baton deploy [<service>,…] --compose`: one service through
 *  POST /api/services/{name}/deploys, several through POST /api/deploys (one lock, one rollback). */
export async function deploy(services: string | undefined, flags: Flags, io: Io): Promise<number> {
  const usage = (why: string) => {
    io.err(`baton deploy: ${why}\n`);
    return EXIT_USAGE;
  };
  const names = services === undefined ? null : serviceList(services);
  if (typeof names === 'string') return usage(names);
  if (flags.compose && (flags.image !== undefined || flags['config-hash'] !== undefined)) {
    return usage('--compose takes the images and config hashes from the compose file: no --image or --config-hash');
  }
  if (!flags.compose && flags['compose-file'] !== undefined) return usage('--compose-file goes with --compose');
  if (names === null && !flags.compose) return usage('usage: baton deploy <service>[,<service>…] --image <ref>');
  if (!flags.compose && (flags.image === undefined || flags.image === '')) return usage('--image <ref> is required');
  const body = deployBody({ ...flags, image: flags.compose ? 'compose' : flags.image });
  if (typeof body === 'string') return usage(body);
  delete body.image;
  if (!flags.compose) {
    const targets = imageTargets(names!, flags.image!, flags['config-hash']);
    return typeof targets === 'string' ? usage(targets) : startDeploys(targets, body, flags, io);
  }
  let targets: DeployTarget[] | null = null;
  const found = await withAdmin(io, flags, async (t) => {
    const { json } = await call<{ services: RoutedService[] }>(t, 'GET', '/api/services');
    const got = await composeTargets(names, composeRunner(flags['compose-file'], io.env), json.services, flags.pull);
    for (const s of got.skipped) io.err(`baton deploy: skipped ${s}\n`);
    targets = got.targets;
    return EXIT_OK;
  });
  return targets === null ? found : startDeploys(targets, body, flags, io);
}

/** One target: POST /api/services/{name}/deploys; several: POST /api/deploys. Followed to the end. */
function startDeploys(targets: DeployTarget[], body: Record<string, unknown>, flags: Flags, io: Io): Promise<number> {
  const canary = body.canary ?? (body.canaryHeader !== undefined ? `header ${body.canaryHeader}` : undefined);
  const strategy = canary !== undefined ? `canary ${canary}` : (body.strategy ?? 'rolling');
  const how = `${strategy}${body.replicas !== undefined ? `, ${body.replicas} replicas` : ''}`;
  const title = `Deploying ${targets.map((t) => `${t.name} → ${t.image}`).join(', ')} (${how})`;
  if (targets.length === 1) {
    const { name, ...one } = targets[0];
    return runOperation(flags, io, `${servicePath(name)}/deploys`, { ...one, ...body }, title);
  }
  const { replicas, ...common } = body;
  const list = targets.map((t) => (replicas !== undefined ? { ...t, replicas } : t));
  return runOperation(flags, io, '/api/deploys', { ...common, services: list }, title);
}

/** Builds the deploy request from flags; numbers stay numbers, durations stay strings (the API parses them). */
export function deployBody(flags: DeployFlags): Record<string, unknown> | string {
  if (flags.image === undefined || flags.image === '') return '--image <ref> is required';
  const body: Record<string, unknown> = { image: flags.image };
  const int = (flag: 'replicas' | 'parallelism') => {
    const v = flags[flag];
    if (v === undefined) return null;
    const n = Number(v);
    if (!Number.isInteger(n)) return `--${flag} must be a whole number`;
    body[flag] = n;
    return null;
  };
  const problems = [int('replicas'), int('parallelism')].filter((p) => p !== null);
  if (flags['max-failure-ratio'] !== undefined) {
    const r = Number(flags['max-failure-ratio']);
    if (!Number.isFinite(r)) problems.push('--max-failure-ratio must be a number from 0 to 1');
    else body.maxFailureRatio = r;
  }
  if (problems.length > 0) return problems.join('; ');
  if (flags.strategy !== undefined) body.strategy = flags.strategy;
  if (flags.order !== undefined) body.order = flags.order;
  if (flags.delay !== undefined) body.delay = flags.delay;
  if (flags.monitor !== undefined) body.monitor = flags.monitor;
  if (flags['failure-action'] !== undefined) body.failureAction = flags['failure-action'];
  if (flags['health-timeout'] !== undefined) body.healthTimeout = flags['health-timeout'];
  if (flags['drain-timeout'] !== undefined) body.drainTimeout = flags['drain-timeout'];
  if (flags.pull) body.pull = true;
  if (flags['no-keep-previous']) body.keepPrevious = false;
  if (flags.hold) body.hold = true;
  if (flags.canary !== undefined) body.canary = flags.canary;
  if (flags['canary-header'] !== undefined) body.canaryHeader = flags['canary-header'];
  if (flags['canary-duration'] !== undefined) body.canaryDuration = flags['canary-duration'];
  if (flags['sticky-for'] !== undefined) body.stickyFor = flags['sticky-for'];
  return body;
}

export function rollback(service: string, flags: Flags, io: Io): Promise<number> {
  return runOperation(flags, io, `${servicePath(service)}/rollback`, {}, `Rolling back ${service}`);
}

/** Completes the service's running canary deploy, and follows it to its end. */
export function promote(service: string, flags: Flags, io: Io): Promise<number> {
  return runOperation(flags, io, `${servicePath(service)}/promote`, {}, `Promoting the canary of ${service}`);
}

export function scale(service: string, replicas: number, flags: Flags, io: Io): Promise<number> {
  return runOperation(flags, io, `${servicePath(service)}/scale`, { replicas }, `Scaling ${service} to ${replicas}`);
}

/** Starts a deploy/rollback/scale and follows it to the end: a live view on a terminal, else (or with --plain)
 *  one timestamped line per step. */
function runOperation(flags: Flags, io: Io, path: string, body: unknown, title: string): Promise<number> {
  return withAdmin(io, flags, async (t) => {
    const started = Date.now();
    const { json: accepted } = await call(t, 'POST', path, body);
    const id = accepted.id as string;
    let view: OperationView;
    if (wantsPlain(flags.plain, stdoutIsTTY(io), io.env)) {
      view = new PlainView(io, title, id);
    } else {
      const { TtyView } = await import('./progress-tty.ts');
      view = new TtyView(io, title, id);
    }
    return followOperation(t, id, view, io, started);
  });
}

/** Runs `fn` against the admin API found from the flags, turning any error into its message and exit code. */
export async function withAdmin(io: Io, flags: AdminFlags, fn: (t: AdminTarget) => Promise<number>): Promise<number> {
  try {
    return await fn(adminTarget(flags, io.env));
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`baton: invalid configuration\n${problemLines(err.problems)}`);
      return EXIT_USAGE;
    }
    io.err(`baton: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  }
}

function upstreamPath(id: string): string {
  return `/api/upstreams/${encodeURIComponent(id)}`;
}

function servicePath(service: string): string {
  return `/api/services/${encodeURIComponent(service)}`;
}
