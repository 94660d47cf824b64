// The admin commands: status, certs, drain, enable, deploy, rollback and scale, each one request to the admin API (a
// deploy, rollback or scale then followed step by step until it ends). A failure prints one line and returns
// EXIT_FAILURE; a bad config file, EXIT_USAGE.
import type { CertificateView } from '../admin/certificates.ts';
import type { DeployRecord } from '../deploy/journal.ts';
import { ConfigError } from '../errors.ts';
import { adminTarget, call, type AdminFlags, type AdminTarget } from './admin-client.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type Io } from './io.ts';
import {
  certsTable,
  drainedLine,
  drainStartedLine,
  enabledLine,
  outcomeLine,
  problemLines,
  statusTable,
  stepLine,
  type ServiceView,
} from './output.ts';

/** How often a running deploy/rollback/scale is asked for its new steps. */
const POLL_INTERVAL_MS = 250;
/** The states in which the CLI stops following an operation (`paused` waits for a person). */
const FINAL_STATES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'rolled_back', 'paused']);

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
}

/** Every flag an admin command reads. */
export interface Flags extends AdminFlags, DeployFlags {
  timeout?: string;
  'no-wait'?: boolean;
  json?: boolean;
}

export function status(flags: Flags, io: Io): Promise<number> {
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

export function deploy(service: string, flags: Flags, io: Io): Promise<number> {
  const body = deployBody(flags);
  if (typeof body === 'string') {
    io.err(`baton deploy: ${body}\n`);
    return Promise.resolve(EXIT_USAGE);
  }
  const how = `${body.strategy ?? 'rolling'}${body.replicas !== undefined ? `, ${body.replicas} replicas` : ''}`;
  const title = `Deploying ${service} → ${body.image} (${how})`;
  return runOperation(flags, io, `${servicePath(service)}/deploys`, body, title);
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
  return body;
}

export function rollback(service: string, flags: Flags, io: Io): Promise<number> {
  return runOperation(flags, io, `${servicePath(service)}/rollback`, {}, `Rolling back ${service}`);
}

export function scale(service: string, replicas: number, flags: Flags, io: Io): Promise<number> {
  return runOperation(flags, io, `${servicePath(service)}/scale`, { replicas }, `Scaling ${service} to ${replicas}`);
}

/** Starts a deploy/rollback/scale and follows it to the end, printing each step as it happens. */
function runOperation(flags: Flags, io: Io, path: string, body: unknown, title: string): Promise<number> {
  return withAdmin(io, flags, async (t) => {
    const started = Date.now();
    const { json: accepted } = await call(t, 'POST', path, body);
    const id = accepted.id as string;
    io.out(`${title}: ${id}\n`);
    let printed = 0;
    for (;;) {
      const { json: record } = await call<DeployRecord>(t, 'GET', `/api/deploys/${encodeURIComponent(id)}`);
      for (; printed < record.steps.length; printed++) io.out(stepLine(record.steps[printed]));
      if (FINAL_STATES.has(record.state)) {
        const outcome = outcomeLine(record, Date.now() - started);
        if (record.state !== 'succeeded') {
          io.err(outcome);
          return EXIT_FAILURE;
        }
        io.out(outcome);
        return EXIT_OK;
      }
      await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
    }
  });
}

/** Runs `fn` against the admin API found from the flags, turning any error into its message and exit code. */
async function withAdmin(io: Io, flags: AdminFlags, fn: (t: AdminTarget) => Promise<number>): Promise<number> {
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
