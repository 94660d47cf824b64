// `baton <command>`: argument parsing → commands. `serve` runs the App; the others talk to the admin API,
// finding its URL and token by themselves (flags, env, the config file, the generated token file).
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { Agent, request } from 'undici';
import { readTokenFile } from './admin/token.ts';
import { App } from './app.ts';
import { DEFAULT_CONFIG_PATH } from './config/defaults.ts';
import { loadConfig, parseConfig, type LoadedConfig } from './config/load.ts';
import { parseListenAddress } from './config/schema.ts';
import { AdminCallError, ConfigError } from './errors.ts';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const USAGE = `baton — HTTP reverse proxy and deployer for Docker hosts

Usage:
  baton serve [--config config/baton.yaml]     run the proxy and the admin API
  baton status [--json]                         services, upstreams, states, in-flight counts
  baton drain <upstream-id> [--timeout 30s] [--no-wait]
                                                take an upstream out of rotation and wait for in-flight to reach 0
  baton enable <upstream-id>                    put an upstream back through the health gate
  baton deploy <service> --image <ref> [--strategy rolling|blue-green] [--replicas N] [--parallelism N]
               [--order start-first|stop-first] [--delay 0s] [--monitor 5s] [--failure-action rollback|pause|continue]
               [--max-failure-ratio 0] [--health-timeout 60s] [--drain-timeout 30s] [--pull] [--no-keep-previous]
                                                replace the service's containers; live progress; exit 0 only on success
  baton rollback <service>                      start the previous generation (kept stopped) and retire the current
  baton scale <service> <replicas>              clone or retire containers to reach <replicas>
  baton help | --help                           this text

Admin commands find the admin API by themselves: --admin-url / BATON_ADMIN_URL, else the config file's
admin.address; the token from BATON_ADMIN_TOKEN, the config, or the token file baton generated.
Common options: --config <file> (default ${DEFAULT_CONFIG_PATH}), --admin-url <url>, --token <token>.
`;

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
};

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        'admin-url': { type: 'string' },
        token: { type: 'string' },
        timeout: { type: 'string' },
        'no-wait': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        image: { type: 'string' },
        strategy: { type: 'string' },
        replicas: { type: 'string' },
        parallelism: { type: 'string' },
        order: { type: 'string' },
        delay: { type: 'string' },
        monitor: { type: 'string' },
        'failure-action': { type: 'string' },
        'max-failure-ratio': { type: 'string' },
        'health-timeout': { type: 'string' },
        'drain-timeout': { type: 'string' },
        pull: { type: 'boolean' },
        'no-keep-previous': { type: 'boolean' },
      },
    });
  } catch (err) {
    io.err(`baton: ${(err as Error).message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  const { values, positionals } = parsed;
  const command = positionals[0] ?? (values.help ? 'help' : undefined);
  if (command === undefined || command === 'help' || values.help) {
    io.out(USAGE);
    return command === undefined && !values.help ? EXIT_USAGE : EXIT_OK;
  }
  switch (command) {
    case 'serve':
      return serve(values.config ?? DEFAULT_CONFIG_PATH, io);
    case 'status':
      return status(values, io);
    case 'drain':
    case 'enable': {
      const id = positionals[1];
      if (id === undefined || positionals.length > 2) {
        io.err(`baton ${command}: expected exactly one upstream id (see \`baton status\`)\n`);
        return EXIT_USAGE;
      }
      return command === 'drain' ? drain(id, values, io) : enable(id, values, io);
    }
    case 'deploy':
    case 'rollback':
    case 'scale': {
      const service = positionals[1];
      const want = command === 'scale' ? 3 : 2;
      if (service === undefined || positionals.length !== want) {
        io.err(`baton ${command}: usage: baton ${command} <service>${command === 'scale' ? ' <replicas>' : ''}${command === 'deploy' ? ' --image <ref>' : ''}\n`);
        return EXIT_USAGE;
      }
      if (command === 'deploy') return deploy(service, values, io);
      if (command === 'rollback') return runOperation(values, io, `/api/services/${encodeURIComponent(service)}/rollback`, {}, `Rolling back ${service}`);
      const replicas = Number(positionals[2]);
      if (!Number.isInteger(replicas) || replicas < 0) {
        io.err(`baton scale: <replicas> must be a whole number (got ${JSON.stringify(positionals[2])})\n`);
        return EXIT_USAGE;
      }
      return runOperation(values, io, `/api/services/${encodeURIComponent(service)}/scale`, { replicas }, `Scaling ${service} to ${replicas}`);
    }
    default:
      io.err(`baton: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return EXIT_USAGE;
  }
}

// ── serve ───────────────────────────────────────────────────────────────────────────────────────

async function serve(configPath: string, io: Io): Promise<number> {
  let config: LoadedConfig;
  try {
    config = loadConfig(configPath, io.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`baton: ${configPath}: invalid configuration\n${err.problems.map((p) => `  - ${p}\n`).join('')}`);
      return EXIT_USAGE;
    }
    throw err;
  }
  let app: App;
  try {
    app = await App.start(config);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    io.err(`baton: cannot start: ${e.code === 'EADDRINUSE' ? `address in use (${(e as { address?: string }).address}:${(e as { port?: number }).port})` : e.message}\n`);
    return EXIT_FAILURE;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    // `on`, not `once`: a second SIGTERM/SIGINT during the drain must not fall through to Node's default action,
    // which kills the process and every request still in flight. The drain is bounded by timeouts.shutdown.
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        app.log.warn({ signal }, 'Already shutting down; still finishing in-flight requests');
        return;
      }
      stopping = true;
      app.log.info({ signal }, 'Shutting down: finishing in-flight requests');
      const done = (code: number) => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        resolve(code);
      };
      app.close().then(
        () => done(EXIT_OK),
        (err) => {
          app.log.error({ err }, 'Shutdown failed');
          done(EXIT_FAILURE);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

// ── admin client ────────────────────────────────────────────────────────────────────────────────

interface AdminTarget {
  url: string;
  token: string | null;
}

type Values = {
  config?: string;
  'admin-url'?: string;
  token?: string;
  timeout?: string;
  'no-wait'?: boolean;
  json?: boolean;
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
};

/** Finds the admin API URL and token: flags, then env, then the config file and its token file. */
export function adminTarget(values: Values, env: NodeJS.ProcessEnv): AdminTarget {
  let config: LoadedConfig | null = null;
  const configPath = values.config ?? DEFAULT_CONFIG_PATH;
  if (values.config !== undefined || existsSync(configPath)) {
    try {
      config = loadConfig(configPath, env);
    } catch (err) {
      if (values.config !== undefined) throw err;
    }
  }
  config ??= parseConfig({}, { env });
  let url = values['admin-url'] ?? env.BATON_ADMIN_URL;
  if (url === undefined || url === '') {
    const a = parseListenAddress(config.admin.address)!;
    const host = a.host === '0.0.0.0' || a.host === '' ? '127.0.0.1' : a.host === '::' ? '[::1]' : a.host.includes(':') ? `[${a.host}]` : a.host;
    url = `http://${host}:${a.port}`;
  }
  const token = values.token ?? (env.BATON_ADMIN_TOKEN || undefined) ?? config.admin.token ?? readTokenFile(config.tokenFilePath);
  return { url: url.replace(/\/+$/, ''), token };
}

async function call(target: AdminTarget, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  // A waiting drain answers only when the upstream is drained (bounded by its drain timeout, which may be long):
  // no client-side response timeout here.
  const dispatcher = new Agent({ headersTimeout: 0, bodyTimeout: 0, connectTimeout: 5_000 });
  let status: number;
  let text: string;
  try {
    const res = await request(target.url + path, {
      method: method as 'GET',
      headers: {
        ...(target.token !== null ? { authorization: `Bearer ${target.token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      dispatcher,
    });
    status = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    const why = (err as { code?: string }).code ?? (err as Error).message;
    throw new AdminCallError(`cannot reach the admin API at ${target.url} (${why}); is \`baton serve\` running?`, 0, { cause: err });
  } finally {
    void dispatcher.close();
  }
  let json: any = null;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    json = { error: { message: text.slice(0, 200) } };
  }
  if (status >= 400) {
    const msg = json?.error?.message ?? `HTTP ${status}`;
    const hint = status === 401 ? ' (set BATON_ADMIN_TOKEN, or run the CLI where it can read the token file)' : '';
    throw new AdminCallError(`${msg}${hint}`, status);
  }
  return { status, json };
}

async function withAdmin(io: Io, values: Values, fn: (t: AdminTarget) => Promise<number>): Promise<number> {
  try {
    return await fn(adminTarget(values, io.env));
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`baton: invalid configuration\n${err.problems.map((p) => `  - ${p}\n`).join('')}`);
      return EXIT_USAGE;
    }
    io.err(`baton: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  }
}

function status(values: Values, io: Io): Promise<number> {
  return withAdmin(io, values, async (t) => {
    const { json } = await call(t, 'GET', '/api/services');
    if (values.json) {
      io.out(JSON.stringify(json, null, 2) + '\n');
      return EXIT_OK;
    }
    const services = json.services as Array<{ name: string; rule: string; upstreams: Array<{ id: string; url: string; state: string; inflight: number; lastHealthError?: string }> }>;
    if (services.length === 0) {
      io.out('No services configured.\n');
      return EXIT_OK;
    }
    const table = new Table({ head: ['SERVICE', 'RULE', 'UPSTREAM', 'URL', 'STATE', 'IN-FLIGHT'], style: { head: [], border: [] } });
    for (const s of services) {
      if (s.upstreams.length === 0) table.push([s.name, s.rule, '(none)', '', '', '']);
      for (const [i, u] of s.upstreams.entries()) {
        table.push([i === 0 ? s.name : '', i === 0 ? s.rule : '', u.id, u.url, u.lastHealthError ? `${u.state} (${u.lastHealthError})` : u.state, String(u.inflight)]);
      }
    }
    io.out(table.toString() + '\n');
    return EXIT_OK;
  });
}

function drain(id: string, values: Values, io: Io): Promise<number> {
  return withAdmin(io, values, async (t) => {
    const wait = !values['no-wait'];
    const body = values.timeout !== undefined ? { timeout: values.timeout } : {};
    if (wait) io.err(`Draining ${id}: out of rotation, waiting for in-flight requests…\n`);
    const { json } = await call(t, 'POST', `/api/upstreams/${encodeURIComponent(id)}/drain${wait ? '' : '?wait=false'}`, body);
    if (!wait) {
      io.out(`${id}: ${json.state}, ${json.inflight} in flight\n`);
    } else if (json.timedOut) {
      io.out(`${id}: ${json.state} after ${json.durationMs} ms; drain timeout expired, ${json.aborted} request(s) aborted\n`);
    } else {
      io.out(`${id}: ${json.state} in ${json.durationMs} ms, no request lost\n`);
    }
    return EXIT_OK;
  });
}

function enable(id: string, values: Values, io: Io): Promise<number> {
  return withAdmin(io, values, async (t) => {
    const { json } = await call(t, 'POST', `/api/upstreams/${encodeURIComponent(id)}/enable`, {});
    io.out(`${id}: ${json.state}${json.state === 'starting' ? ' (gets traffic once its health checks pass)' : ''}\n`);
    return EXIT_OK;
  });
}

// ── deploy, rollback, scale ─────────────────────────────────────────────────────────────────────

/** Builds the deploy request from flags; numbers stay numbers, durations stay strings (the API parses them). */
export function deployBody(values: Values): Record<string, unknown> | string {
  if (values.image === undefined || values.image === '') return '--image <ref> is required';
  const body: Record<string, unknown> = { image: values.image };
  const int = (flag: keyof Values, key: string) => {
    const v = values[flag];
    if (v === undefined) return null;
    const n = Number(v);
    if (!Number.isInteger(n)) return `--${flag} must be a whole number`;
    body[key] = n;
    return null;
  };
  const problems = [int('replicas', 'replicas'), int('parallelism', 'parallelism')].filter((p) => p !== null);
  if (values['max-failure-ratio'] !== undefined) {
    const r = Number(values['max-failure-ratio']);
    if (!Number.isFinite(r)) problems.push('--max-failure-ratio must be a number from 0 to 1');
    else body.maxFailureRatio = r;
  }
  if (problems.length > 0) return problems.join('; ');
  if (values.strategy !== undefined) body.strategy = values.strategy;
  if (values.order !== undefined) body.order = values.order;
  if (values.delay !== undefined) body.delay = values.delay;
  if (values.monitor !== undefined) body.monitor = values.monitor;
  if (values['failure-action'] !== undefined) body.failureAction = values['failure-action'];
  if (values['health-timeout'] !== undefined) body.healthTimeout = values['health-timeout'];
  if (values['drain-timeout'] !== undefined) body.drainTimeout = values['drain-timeout'];
  if (values.pull) body.pull = true;
  if (values['no-keep-previous']) body.keepPrevious = false;
  return body;
}

function deploy(service: string, values: Values, io: Io): Promise<number> {
  const body = deployBody(values);
  if (typeof body === 'string') {
    io.err(`baton deploy: ${body}\n`);
    return Promise.resolve(EXIT_USAGE);
  }
  const how = `${body.strategy ?? 'rolling'}${body.replicas !== undefined ? `, ${body.replicas} replicas` : ''}`;
  return runOperation(values, io, `/api/services/${encodeURIComponent(service)}/deploys`, body, `Deploying ${service} → ${body.image} (${how})`);
}

const POLL_INTERVAL_MS = 250;

/** Starts a deploy/rollback/scale and follows it to the end, printing each step as it happens. */
function runOperation(values: Values, io: Io, path: string, body: unknown, title: string): Promise<number> {
  return withAdmin(io, values, async (t) => {
    const started = Date.now();
    const { json: accepted } = await call(t, 'POST', path, body);
    const id = accepted.id as string;
    io.out(`${title}: ${id}\n`);
    let printed = 0;
    for (;;) {
      const { json: d } = await call(t, 'GET', `/api/deploys/${encodeURIComponent(id)}`);
      const steps = d.steps as Array<{ at: string; action: string; containers: string[]; status: string; detail?: string }>;
      for (; printed < steps.length; printed++) {
        const s = steps[printed];
        const mark = s.status === 'done' ? 'ok' : s.status === 'failed' ? 'FAILED' : '..';
        const who = s.containers.length > 0 ? ` ${s.containers.join(', ')}` : '';
        io.out(`  ${s.at.slice(11, 19)} ${mark.padEnd(6)} ${s.action}${who}${s.detail ? ` — ${s.detail}` : ''}\n`);
      }
      if (['succeeded', 'failed', 'rolled_back', 'paused'].includes(d.state)) {
        const secs = ((Date.now() - started) / 1000).toFixed(1);
        if (d.state === 'succeeded') {
          io.out(`${id} succeeded in ${secs} s\n`);
          return EXIT_OK;
        }
        io.err(`${id} ${d.state.replace('_', ' ')} after ${secs} s${d.error ? `: ${d.error}` : ''}\n`);
        return EXIT_FAILURE;
      }
      await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
    }
  });
}
