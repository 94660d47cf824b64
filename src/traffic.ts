// The traffic plane: the entrypoints (HTTP/1.1, HTTP/2, TLS, WebSockets) over a registry. Without workers the
// App runs one in its own thread; with `workers: n` each worker thread runs one (src/workers/thread.ts) and the
// App keeps the control plane. Its counters are read as plain data (TrafficStats), summed over the workers.
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { LoadedConfig } from './config/load.ts';
import type { EventBus } from './events.ts';
import { MiddlewareSet, type Factory } from './middleware/compile.ts';
import { Entrypoint, type HttpChallenges } from './proxy/entrypoint.ts';
import type { AccessLog } from './proxy/access-log.ts';
import type { Redirection } from './proxy/redirect.ts';
import type { CertificateStore } from './tls/store.ts';
import { TlsTerminator, type Challenges } from './tls/terminator.ts';
import { Meters, RequestMetrics, sumCodeRows, sumDurations, type CodeRows } from './upstream/meter.ts';
import type { ServiceMeterData } from './upstream/meter.ts';
import type { Follower } from './upstream/mirror.ts';
import { Registry } from './upstream/registry.ts';
import type { TallySource } from './upstream/tally.ts';

/** The registry of a config: its entrypoints' defaults and the middleware instances built with `factories`. */
export function registryFor(
  config: LoadedConfig,
  opts: {
    factories: ReadonlyMap<string, Factory>;
    log: Logger;
    events: EventBus;
    tallies?: TallySource;
    follower?: Follower | null;
  },
): Registry {
  const entrypoints = Object.fromEntries(
    Object.entries(config.entrypoints).map(([n, e]) => [n, { tls: e.http.tls, middlewares: e.http.middlewares }]),
  );
  const middlewares = new MiddlewareSet({
    factories: opts.factories,
    log: opts.log.child({ component: 'middleware' }),
    resolvePath: (p) => resolve(config.baseDir, p),
  });
  return new Registry({
    timeouts: config.timeouts,
    log: opts.log.child({ component: 'registry' }),
    events: opts.events,
    entrypoints,
    middlewares,
    tallies: opts.tallies,
    follower: opts.follower,
  });
}

/** The TLS terminator every entrypoint of a plane shares. */
export function terminatorFor(
  config: LoadedConfig,
  registry: Registry,
  certificates: CertificateStore,
  challenges: Challenges | null,
): TlsTerminator {
  return new TlsTerminator({
    certificates,
    challenges,
    timeoutMs: config.timeouts.header,
    h2: true,
    optionsFor: (serverName) => (serverName === null ? undefined : registry.tlsOptionsFor(serverName)),
  });
}

export interface TrafficPlaneOptions {
  config: LoadedConfig;
  registry: Registry;
  terminator: TlsTerminator;
  /** ACME HTTP-01 answers for an entrypoint, when a resolver names it */
  httpChallengesFor?: (entrypoint: string) => HttpChallenges | null;
  log: Logger;
  accessLog: AccessLog | null;
}

export interface ServiceStats {
  /** responses by status class, index 1..5 */
  responses: number[];
  retries: number;
  unavailable: number;
}

export interface EntrypointStats {
  connections: number;
  rejectedConnections: number;
  notFound: number;
  /** requests by method, code and protocol (empty with metrics off) */
  codes: CodeRows;
}

/** The traffic plane's counters (structured-cloneable: workers send them to the control plane). */
export interface TrafficStats {
  services: Record<string, ServiceStats>;
  entrypoints: Record<string, EntrypointStats>;
  /** per service: requests by method and code, durations (empty with metrics off) */
  meters: Record<string, ServiceMeterData>;
}

export class TrafficPlane {
  readonly entrypoints = new Map<string, Entrypoint>();
  readonly #config: LoadedConfig;
  readonly #registry: Registry;
  readonly #meters: Meters | null;

  constructor(opts: TrafficPlaneOptions) {
    this.#config = opts.config;
    this.#registry = opts.registry;
    const config = opts.config;
    const meters = config.metrics.enabled ? new Meters(config.metrics.buckets) : null;
    this.#meters = meters;
    for (const [name, ep] of Object.entries(config.entrypoints)) {
      this.entrypoints.set(
        name,
        new Entrypoint({
          name,
          config: ep,
          timeouts: config.timeouts,
          limits: config.limits,
          registry: opts.registry,
          log: opts.log.child({ component: 'entrypoint', entrypoint: name }),
          accessLog: opts.accessLog,
          terminator: opts.terminator,
          redirect: this.#redirection(name),
          httpChallenges: opts.httpChallengesFor?.(name) ?? null,
          metrics: meters === null ? null : new RequestMetrics(meters),
        }),
      );
    }
  }

  /** An entrypoint's `http.redirections.entryPoint`, its port read from the target when a request comes (a port
   *  0 in the config is known once listening). */
  #redirection(name: string): Redirection | null {
    const r = this.#config.entrypoints[name].http.redirections?.entryPoint;
    if (r === undefined) return null;
    const fixed = /^:(\d+)$/.exec(r.to);
    const entrypoints = this.entrypoints;
    return {
      scheme: r.scheme,
      permanent: r.permanent,
      get port(): number {
        return fixed !== null ? Number(fixed[1]) : entrypoints.get(r.to)!.address().port;
      },
    };
  }

  /** Listens on every entrypoint, on the config's addresses or on `addresses` (a worker joining the others on
   *  the ports they bound), sharing them with other threads when `reusePort`; an entrypoint named in `fds` takes
   *  over that inherited socket instead (`baton upgrade`). */
  async listen(
    opts: { reusePort?: boolean; addresses?: Record<string, string>; fds?: Record<string, number> } = {},
  ): Promise<Record<string, AddressInfo>> {
    const out: Record<string, AddressInfo> = {};
    for (const [name, ep] of this.entrypoints) {
      const fd = opts.fds?.[name];
      out[name] = await ep.listen({ address: opts.addresses?.[name], reusePort: opts.reusePort === true, fd });
    }
    return out;
  }

  /** Each listening entrypoint's socket file descriptor. */
  fds(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, ep] of this.entrypoints) {
      const fd = ep.fd();
      if (fd !== null) out[name] = fd;
    }
    return out;
  }

  stats(): TrafficStats {
    const services: Record<string, ServiceStats> = {};
    for (const s of this.#registry.services.values()) {
      services[s.name] = { responses: [...s.responses], retries: s.retries, unavailable: s.unavailable };
    }
    const entrypoints: Record<string, EntrypointStats> = {};
    for (const [name, e] of this.entrypoints) {
      entrypoints[name] = {
        connections: e.connections,
        rejectedConnections: e.rejectedConnections,
        notFound: e.notFound,
        codes: e.metrics?.codes.rows() ?? [],
      };
    }
    return { services, entrypoints, meters: this.#meters?.data() ?? {} };
  }

  /** Stops accepting and finishes in-flight requests (bounded by `timeoutMs`); `lingerMs`: a hand-over's
   *  (Entrypoint.close). */
  async close(timeoutMs: number, lingerMs = 0): Promise<void> {
    await Promise.allSettled([...this.entrypoints.values()].map((e) => e.close(timeoutMs, lingerMs)));
  }
}

/** A service's counters before it answered anything. */
export function noServiceStats(): ServiceStats {
  return { responses: [0, 0, 0, 0, 0, 0], retries: 0, unavailable: 0 };
}

/** Several planes' counters summed (the workers'). */
export function sumStats(all: readonly TrafficStats[]): TrafficStats {
  const out: TrafficStats = { services: {}, entrypoints: {}, meters: {} };
  const codes = new Map<string, CodeRows[]>();
  const meters = new Map<string, ServiceMeterData[]>();
  for (const st of all) {
    for (const [name, s] of Object.entries(st.services)) {
      const t = (out.services[name] ??= noServiceStats());
      for (let i = 0; i < t.responses.length; i++) t.responses[i] += s.responses[i] ?? 0;
      t.retries += s.retries;
      t.unavailable += s.unavailable;
    }
    for (const [name, e] of Object.entries(st.entrypoints)) {
      const t = (out.entrypoints[name] ??= { connections: 0, rejectedConnections: 0, notFound: 0, codes: [] });
      t.connections += e.connections;
      t.rejectedConnections += e.rejectedConnections;
      t.notFound += e.notFound;
      push(codes, name, e.codes);
    }
    for (const [name, m] of Object.entries(st.meters)) push(meters, name, m);
  }
  for (const [name, rows] of codes) out.entrypoints[name].codes = sumCodeRows(rows);
  for (const [name, all] of meters) {
    out.meters[name] = {
      codes: sumCodeRows(all.map((m) => m.codes)),
      durations: sumDurations(all.map((m) => m.durations)),
    };
  }
  return out;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
