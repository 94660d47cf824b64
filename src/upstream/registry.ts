// The registry owns every service and upstream. Providers hand it whole snapshots; it reconciles (new upstreams
// join through the health gate, removed ones are drained then closed) and swaps in a new immutable route table.
import type { Logger } from 'pino';
import { Notifier } from '../async.ts';
import { DEFAULT_DRAIN_TIMEOUT_MS } from '../config/defaults.ts';
import type { Timeouts } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import type { EventBus } from '../events.ts';
import type { MiddlewareSet } from '../middleware/compile.ts';
import type { DesiredUpstream, Snapshot } from './desired.ts';
import { mergeServices, middlewareDefinitions, upstreamConflicts } from './merge.ts';
import type { RouteTls } from '../config/tls-schema.ts';
import { RouteTable } from '../routing/route-table.ts';
import {
  certificateDemands,
  listenerKey,
  routesByListener,
  tlsOptionsByHost,
  type CertificateDemand,
} from './listeners.ts';
import { Service } from './service.ts';
import { ServiceModes } from './modes.ts';
import { ProblemLog } from './problems.ts';
import { resolveTargets, type RouteRef, type Target } from './targets.ts';
import type { UpstreamState } from './state.ts';
import type { Follower, RegistryMirror } from './mirror.ts';
import { LocalTallies, type TallySource } from './tally.ts';
import { Upstream, type DrainResult } from './upstream.ts';

export interface UpstreamEventRecord {
  type: 'upstream';
  id: string;
  service: string;
  from: UpstreamState;
  to: UpstreamState;
  reason: string;
  at: string;
}

export interface RegistryOptions {
  timeouts: Timeouts;
  log: Logger;
  /** where upstream state changes are published */
  events: EventBus;
  /** every entrypoint, with its default TLS for the routes served on it and its own middlewares */
  entrypoints: Readonly<Record<string, { tls?: RouteTls; middlewares?: readonly string[] }>>;
  /** the middleware instances routes run (null: routes with middlewares are refused) */
  middlewares?: MiddlewareSet | null;
  /** where upstreams' counters live (default: this registry's own, one thread) */
  tallies?: TallySource;
  /** set in a worker thread serving traffic: no health checks here, the control plane's states are applied */
  follower?: Follower | null;
}

const EMPTY_TABLE = RouteTable.build<Target>([]);

export class Registry {
  /** one immutable route table per listener (an entrypoint in plain HTTP, or over TLS), swapped whole */
  #tables = new Map<string, RouteTable<Target>>();
  #demands: CertificateDemand[] = [];
  #tlsOptions = new Map<string, string>();
  readonly services = new Map<string, Service>();
  readonly upstreams = new Map<string, Upstream>();
  readonly modes = new ServiceModes(this.services); // paused, maintenance, held by a deploy (modes.ts)
  readonly #snapshots = new Map<string, Snapshot>();
  readonly #timeouts: Timeouts;
  readonly #log: Logger;
  readonly #removing = new Set<Upstream>();
  /** containers whose upstreams are kept out of rotation, healthy or not (hold / release) */
  readonly #held = new Set<string>();
  readonly #events: EventBus;
  readonly #entrypoints: RegistryOptions['entrypoints'];
  readonly #changed = new Notifier();
  readonly #middlewares: MiddlewareSet | null;
  readonly #tallies: TallySource;
  readonly #follower: Follower | null;
  #mirror: RegistryMirror | null = null;
  /** a worker thread's registry logs at debug what the control plane's logs at info */
  readonly #info: 'info' | 'debug';
  readonly #problems: ProblemLog;
  #closed = false;

  constructor(opts: RegistryOptions) {
    this.#timeouts = opts.timeouts;
    this.#log = opts.log;
    this.#events = opts.events;
    this.#entrypoints = opts.entrypoints;
    this.#middlewares = opts.middlewares ?? null;
    this.#tallies = opts.tallies ?? new LocalTallies();
    this.#follower = opts.follower ?? null;
    this.#info = this.#follower === null ? 'info' : 'debug';
    this.#problems = new ProblemLog(opts.log);
  }

  /** With workers: where the control plane's changes are sent (null: none). */
  setMirror(mirror: RegistryMirror | null): void {
    this.#mirror = mirror;
    this.modes.mirror = mirror;
  }

  /** Every provider's current snapshot, in the order they first came (a new worker thread replays them). */
  snapshots(): [string, Snapshot][] {
    return [...this.#snapshots];
  }

  /** The containers kept out of rotation by `hold`. */
  heldContainers(): string[] {
    return [...this.#held];
  }

  /** The certificates the TLS routes ask their ACME resolvers for (recomputed whenever the routes change). */
  certificateDemands(): readonly CertificateDemand[] {
    return this.#demands;
  }

  /** The `tls.options` name the routes of an SNI host ask for (undefined: the default options). */
  tlsOptionsFor(host: string): string | undefined {
    return this.#tlsOptions.get(host);
  }

  /** The routes served on `entrypoint`, in plain HTTP or over TLS. */
  table(entrypoint: string, tls: boolean): RouteTable<Target> {
    return this.#tables.get(listenerKey(entrypoint, tls)) ?? EMPTY_TABLE;
  }

  /** Replaces one provider's snapshot and reconciles. Throws ConfigError (and changes nothing) when the merged
   *  desired state is invalid. */
  setSnapshot(provider: string, snapshot: Snapshot): void {
    if (this.#closed) return;
    const previous = this.#snapshots.get(provider);
    this.#snapshots.set(provider, snapshot);
    try {
      this.#reconcile();
    } catch (err) {
      this.#middlewares?.discard();
      if (previous === undefined) this.#snapshots.delete(provider);
      else this.#snapshots.set(provider, previous);
      throw err;
    }
    this.#mirror?.snapshot(provider, snapshot);
  }

  #reconcile(): void {
    const providers = new Map<string, string>();
    const desired = mergeServices(this.#snapshots, providers, (service, provider) =>
      this.#log.warn(
        { service, provider },
        'Service defined by several providers; upstreams merged, first definition kept',
      ),
    );
    this.modes.keep(desired, providers);
    const problems = this.#middlewares?.begin(middlewareDefinitions(this.#snapshots)) ?? [];
    // Build the new route table first: an invalid rule changes nothing.
    const nextServices = new Map<string, Service>();
    for (const [name, d] of desired) {
      const { upstreams: _u, name: _n, routes: _r, ...options } = d;
      const existing = this.services.get(name);
      if (existing !== undefined) {
        nextServices.set(name, existing);
      } else {
        const askEject = this.#follower === null ? null : (u: Upstream, n: number) => this.#follower!.eject(u.id, n);
        nextServices.set(name, this.modes.applyTo(new Service(name, options, askEject, this.services)));
      }
    }
    const routes = [...desired.values()].flatMap((d) => {
      const provider = providers.get(d.name)!;
      const ref = (middlewares: string[] | undefined): RouteRef => ({
        service: nextServices.get(d.name)!,
        middlewares: middlewares ?? d.middlewares ?? [],
        provider,
      });
      if (d.routes === undefined || d.routes.length === 0) {
        const { rule, priority, entrypoints, tls } = d;
        return [{ name: d.name, rule, priority, entrypoints, tls, service: ref(undefined) }];
      }
      return d.routes.map(({ middlewares, ...r }) => ({
        ...r,
        name: `${d.name}#${r.name}`,
        service: ref(middlewares),
      }));
    });
    RouteTable.build(routes); // every rule checked once, whatever serves it: a bad one changes nothing
    const { lists, problems: refused } = resolveTargets(
      routesByListener(routes, this.#entrypoints),
      (key) => key.replace(/\+tls$/, ''),
      (entrypoint) => this.#entrypoints[entrypoint]?.middlewares ?? [],
      this.#middlewares,
    );
    const tables = new Map<string, RouteTable<Target>>();
    for (const [key, list] of lists) tables.set(key, RouteTable.build(list));
    problems.push(...refused);

    const conflicts = upstreamConflicts(desired.values());
    if (conflicts.length > 0) throw new ConfigError(conflicts);
    this.#middlewares?.commit();
    this.#problems.report(problems);

    // Apply: options, then upstream membership.
    for (const [name, d] of desired) {
      const service = nextServices.get(name)!;
      const { upstreams: wanted, name: _n, routes: _r, ...options } = d;
      const checksChanged = JSON.stringify(service.options.healthCheck) !== JSON.stringify(options.healthCheck);
      service.options = options;
      const keep: Upstream[] = [];
      for (const w of wanted) {
        let u = this.upstreams.get(w.id);
        if (u !== undefined && (u.url !== w.url || u.service !== name || !this.#tallies.matches(u))) {
          this.#remove(u, this.services.get(u.service) ?? service);
          u = undefined;
        }
        if (u === undefined) {
          u = this.#create(service, w);
          service.upstreams.push(u); // visible to the checker's panic computations right away
          this.#startChecks(service, u);
        } else if (checksChanged) {
          this.#startChecks(service, u);
        }
        keep.push(u);
      }
      for (const u of service.upstreams) if (!keep.includes(u)) this.#remove(u, service);
      service.upstreams = keep;
    }
    for (const [name, service] of this.services) {
      if (!nextServices.has(name)) {
        for (const u of service.upstreams) this.#remove(u, service);
        void service.close();
      }
    }
    this.services.clear();
    for (const [k, v] of nextServices) this.services.set(k, v);
    this.#tables = tables;
    this.#demands = certificateDemands(routes, this.#entrypoints);
    this.#tlsOptions = tlsOptionsByHost(routes, this.#entrypoints);
    for (const service of this.services.values()) service.wake(); // upstreams that take traffic from the start
    this.#changed.notify();
  }

  /** The problems of the routes and middlewares in use now (refused routes, invalid middlewares). */
  problems(): string[] {
    return this.#problems.list();
  }

  #create(service: Service, w: DesiredUpstream): Upstream {
    const t = this.#timeouts;
    const u = new Upstream({
      ...w,
      service: service.name,
      hasHealthCheck: service.options.healthCheck !== undefined,
      tally: this.#tallies.tallyFor(w.id),
      pool: {
        connections: service.options.maxConnectionsPerUpstream,
        connectTimeout: t.upstreamConnect,
        headersTimeout: t.upstreamResponse,
        bodyTimeout: t.upstreamBody,
        keepAliveTimeout: t.upstreamKeepAlive,
      },
      onStateChange: (up, from, to, reason) => this.#stateChanged(up, from, to, reason),
    });
    if (w.containerId !== undefined && this.#held.has(w.containerId)) u.held = true;
    this.upstreams.set(w.id, u);
    this.#log[this.#info]({ upstream: w.id, service: service.name, url: w.url, state: u.state }, 'Upstream added');
    return u;
  }

  /** Out of rotation now; closed once drained (bounded by the service's drain timeout). */
  #remove(u: Upstream, service: Service): void {
    if (this.upstreams.get(u.id) === u) this.upstreams.delete(u.id);
    service.stopChecks(u);
    this.#removing.add(u);
    void u.drain(service.options.drainTimeout).then(async () => {
      this.#removing.delete(u);
      await u.close();
      this.#tallies.released(u.tally);
    });
    this.#log[this.#info]({ upstream: u.id, service: service.name }, 'Upstream removed');
  }

  #stateChanged(u: Upstream, from: UpstreamState, to: UpstreamState, reason: string): void {
    const level = to === 'unhealthy' && this.#follower === null ? 'warn' : this.#info;
    this.#log[level]({ upstream: u.id, service: u.service, from, to, reason }, 'Upstream state changed');
    const at = new Date().toISOString();
    const event: UpstreamEventRecord = { type: 'upstream', id: u.id, service: u.service, from, to, reason, at };
    this.#events.publish('upstream', event);
    this.#mirror?.state(u);
    this.services.get(u.service)?.wake();
    this.#changed.notify();
  }

  /** Health checks run in the control plane only. */
  #startChecks(service: Service, u: Upstream): void {
    if (this.#follower === null) service.startChecks(u);
  }

  /** A worker thread's passive checks ask for an ejection (the control plane's registry). */
  eject(id: string, failures: number): void {
    const u = this.upstreams.get(id);
    if (u !== undefined) this.services.get(u.service)?.eject(u, failures);
  }

  /** A state the control plane's registry reached (a worker thread's registry): its health checks, ejections and
   *  drains are the control plane's; drain and enable are replayed too, for the pools. */
  applyState(id: string, state: UpstreamState, held: boolean): void {
    const u = this.upstreams.get(id);
    if (u === undefined) return;
    u.held = held;
    if (u.state === state) return;
    if (state === 'healthy') u.passiveFailures = 0; // back from an ejection: this worker counts afresh
    const from = u.state;
    u.state = state;
    this.#stateChanged(u, from, state, 'control plane');
  }

  /** Resolves at the next upstream state change or route table swap, after `ms`, or when `signal` aborts: lets a
   *  caller wait for an upstream to become healthy (or to go) without polling. */
  changed(ms: number, signal?: AbortSignal): Promise<void> {
    return this.#changed.wait(ms, signal);
  }

  /** Keeps a container's upstream out of rotation (health-checked as usual) until `release`: a deploy's new
   *  container that has hooks to pass first. Called before the container starts, so it never takes a request. */
  hold(containerId: string): void {
    this.#mirror?.hold(containerId);
    this.#held.add(containerId);
    const u = this.upstreamOfContainer(containerId);
    if (u !== undefined) u.held = true;
  }

  /** Ends `hold`: the containers' upstreams go into rotation (once healthy). */
  release(containerIds: readonly string[]): void {
    this.#mirror?.release(containerIds);
    for (const id of containerIds) {
      if (!this.#held.delete(id)) continue;
      const u = this.upstreamOfContainer(id);
      if (u !== undefined) u.held = false;
    }
    for (const service of this.services.values()) service.wake();
    this.#changed.notify();
  }

  /** The upstream that routes to a container, if any. */
  upstreamOfContainer(containerId: string): Upstream | undefined {
    for (const u of this.upstreams.values()) if (u.containerId === containerId) return u;
    return undefined;
  }

  /** Requests in flight to a container's upstreams here, the ones leaving rotation (draining) included. */
  inflightOfContainer(containerId: string): number {
    let n = 0;
    for (const u of this.upstreams.values()) if (u.containerId === containerId) n += u.inflight;
    for (const u of this.#removing) if (u.containerId === containerId) n += u.inflight;
    return n;
  }

  serviceOf(u: Upstream): Service | undefined {
    return this.services.get(u.service);
  }

  async drain(id: string, timeoutMs: number | undefined): Promise<DrainResult | null> {
    const u = this.upstreams.get(id);
    if (u === undefined) return null;
    const service = this.services.get(u.service);
    service?.stopChecks(u);
    const timeout = timeoutMs ?? service?.options.drainTimeout ?? DEFAULT_DRAIN_TIMEOUT_MS;
    this.#mirror?.drain(id, timeout);
    return u.drain(timeout);
  }

  /** Back into rotation: through the health gate, or at once with `skipGate` (a container that was serving moments
   *  ago and never stopped, e.g. a blue-green rollback). */
  enable(id: string, opts: { skipGate?: boolean } = {}): Upstream | null {
    const u = this.upstreams.get(id);
    if (u === undefined) return null;
    this.#mirror?.enable(id, opts.skipGate === true);
    u.enable(opts.skipGate === true);
    const service = this.services.get(u.service);
    if (service !== undefined) this.#startChecks(service, u);
    return u;
  }

  /** Total requests and tunnels in flight across every upstream. */
  inflight(): number {
    let n = 0;
    for (const u of this.upstreams.values()) n += u.inflight;
    return n;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#middlewares?.close();
    const closing: Promise<unknown>[] = [...this.#removing].map((u) => u.close());
    for (const s of this.services.values()) closing.push(s.close());
    for (const u of this.upstreams.values()) closing.push(u.close());
    this.#removing.clear();
    await Promise.allSettled(closing);
    this.services.clear();
    this.upstreams.clear();
  }
}
