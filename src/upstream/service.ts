// A service: its upstreams, its balancer cursor, passive ejection, and the active health checkers.
import type { ServiceConfig } from '../config/schema.ts';
import { HealthChecker, type HealthCounts } from './health.ts';
import { pickLeastConnections, pickRoundRobin } from './balancer.ts';
import { HoldQueue, type Holdable } from './hold.ts';
import type { TrafficSplit } from './split.ts';
import { pickInSplit, pickWeighted } from './steering.ts';
import type { Upstream } from './upstream.ts';
import type { WeightedPicker } from './weighted.ts';

export type ServiceOptions = Omit<ServiceConfig, 'upstreams'>;

/** A service's runtime mode (src/upstream/modes.ts): serving, paused (new requests held) or in maintenance (503
 *  with the operator's page; health checks go on). */
export type ServiceMode = 0 | 1 | 2;
export const SERVING: ServiceMode = 0;
export const PAUSED: ServiceMode = 1;
export const MAINTENANCE: ServiceMode = 2;

/** balancer predicate (the rule itself is Upstream.takesTraffic) */
const takesTraffic = (u: Upstream): boolean => u.takesTraffic;

export class Service {
  readonly name: string;
  options: ServiceOptions;
  upstreams: Upstream[] = [];
  readonly #checkers = new Map<Upstream, HealthChecker>();
  #cursor = 0;
  #ejectTimers = new Set<NodeJS.Timeout>();
  /** requests answered by baton itself because no upstream could take them */
  unavailable = 0;
  /** responses by status class: index 1..5 for 1xx..5xx (4 also counts 499, client gone) */
  readonly responses = [0, 0, 0, 0, 0, 0];
  /** retried attempts */
  retries = 0;
  /** active health check probes settled, by result */
  readonly healthChecks: HealthCounts = { success: 0, failure: 0 };
  mode: ServiceMode = SERVING;
  /** maintenance: the page and its Retry-After (seconds) */
  maintenancePage = '';
  retryAfter = 0;
  /** deploys holding the service's requests while no upstream takes traffic (a stop-first deploy, --hold) */
  deployHolds = 0;
  /** the requests held now (made at the first) */
  held: HoldQueue<Holdable> | null = null;

  /** set in a worker thread: passive ejections are the control plane's to make */
  readonly #askEject: ((u: Upstream, failures: number) => void) | null;
  /** every service by name (a weighted service's children are looked up there) */
  readonly services: ReadonlyMap<string, Service> | null;
  /** a split across generations set at runtime (split.ts): a canary deploy, version-sticky swaps */
  split: TrafficSplit | null = null;
  /** a weighted service's running scores (steering.ts) */
  weightedPicker: WeightedPicker | null = null;
  /** the child a weighted service's last pick went to */
  lastChild = '';
  #exclude: Upstream | null = null;
  #generation = '';
  readonly #inGeneration = (u: Upstream): boolean =>
    u !== this.#exclude && u.generation === this.#generation && takesTraffic(u);

  constructor(
    name: string,
    options: ServiceOptions,
    askEject: ((u: Upstream, failures: number) => void) | null = null,
    services: ReadonlyMap<string, Service> | null = null,
  ) {
    this.name = name;
    this.options = options;
    this.#askEject = askEject;
    this.services = services;
  }

  /** A request here is steered (src/proxy/steer.ts): a weighted service, or a split across generations. */
  get steered(): boolean {
    return this.split !== null || this.options.weighted !== undefined;
  }

  /** Picks an upstream that takes traffic, skipping `exclude` (an upstream already tried); with a split, one of
   *  `generation` (null: drawn by the split's shares). */
  pick(exclude: Upstream | null, generation: string | null = null): Upstream | null {
    if (this.options.weighted !== undefined) return pickWeighted(this, exclude);
    if (this.split !== null) return pickInSplit(this, this.split, exclude, generation);
    return this.pickAmong(exclude, null);
  }

  /** The balancer's pick among the upstreams taking traffic (of `generation` only, unless null). */
  pickAmong(exclude: Upstream | null, generation: string | null): Upstream | null {
    const list = this.upstreams;
    if (list.length === 0) return null;
    let eligible = exclude === null ? takesTraffic : (u: Upstream) => u !== exclude && takesTraffic(u);
    if (generation !== null) {
      this.#exclude = exclude;
      this.#generation = generation;
      eligible = this.#inGeneration;
    }
    const start = this.#cursor;
    const i =
      this.options.loadBalancer === 'least-connections'
        ? pickLeastConnections(list, start, eligible)
        : pickRoundRobin(list, start, eligible);
    this.#exclude = null;
    if (i === -1) return null;
    this.#cursor = (i + 1) % list.length;
    return list[i];
  }

  /** With no upstream taking traffic, a request waits (src/upstream/hold.ts) instead of a 503. */
  get holdsWhenEmpty(): boolean {
    return this.deployHolds > 0 || this.options.hold.whenUnavailable;
  }

  /** Holds a request declaring `bytes` of body; false when the hold's bounds leave no room. */
  hold(item: Holdable, bytes: number): boolean {
    this.held ??= new HoldQueue(() => this.options.hold);
    return this.held.add(item, bytes);
  }

  /** Releases the held requests, in order, once they can go: not paused, and an upstream takes traffic (or
   *  nothing holds the service any more: they get the 503 they would have had). */
  wake(): void {
    const q = this.held;
    if (q === null || q.size === 0 || this.mode === PAUSED) return;
    if (this.mode === SERVING && this.holdsWhenEmpty && !this.upstreams.some(takesTraffic)) return;
    q.releaseAll();
  }

  #draw = Math.random();
  /** The next draw in [0, 1) for a split's shares: a golden-ratio (Weyl) sequence from a random start, so any run
   *  of new clients gets its shares within a client or two, where independent random draws would stray by √n. */
  nextDraw(): number {
    this.#draw = (this.#draw + 0.6180339887498949) % 1;
    return this.#draw;
  }

  readonly hasGenerationOf = (generation: string): boolean => this.hasGeneration(generation);

  /** Some upstream of `generation` takes traffic. */
  hasGeneration(generation: string): boolean {
    for (const u of this.upstreams) if (u.generation === generation && takesTraffic(u)) return true;
    return false;
  }

  /** A response (any status below 500) came back: the consecutive-failure count restarts. */
  reportSuccess(u: Upstream): void {
    if (u.service !== this.name) return this.services?.get(u.service)?.reportSuccess(u); // a weighted child's
    if (u.passiveFailures !== 0) u.passiveFailures = 0;
  }

  /** A connect error or a 5xx: eject after `passive.failures` in a row, unless it is the last upstream taking
   *  traffic (passive checks alone never empty a service: that is the panic threshold). In a worker thread the
   *  control plane is asked to eject (it runs the cooldown, and the state reaches every worker). */
  reportFailure(u: Upstream): void {
    if (u.service !== this.name) return this.services?.get(u.service)?.reportFailure(u); // a weighted child's
    u.tally.countFailure();
    const limit = this.options.passive.failures;
    if (limit === 0) return;
    u.passiveFailures++;
    if (u.passiveFailures < limit || u.state !== 'healthy') return;
    if (this.#askEject !== null) {
      if (u.passiveFailures % limit === 0) this.#askEject(u, u.passiveFailures);
      return;
    }
    this.eject(u, u.passiveFailures);
  }

  /** Takes `u` out of rotation for the passive cooldown (unless it is the last one taking traffic). */
  eject(u: Upstream, failures: number): void {
    if (u.state !== 'healthy') return;
    let others = 0;
    for (const o of this.upstreams) if (o !== u && takesTraffic(o)) others++;
    if (others === 0) return;
    const cooldown = this.options.passive.cooldown;
    u.ejectedUntil = Date.now() + cooldown;
    u.apply({ type: 'eject' }, `ejected after ${failures} consecutive failures`);
    const timer = setTimeout(() => {
      this.#ejectTimers.delete(timer);
      if (u.ejectedUntil !== 0 && Date.now() >= u.ejectedUntil - 5) {
        u.ejectedUntil = 0;
        u.passiveFailures = 0;
        u.apply({ type: 'cooldown-over' }, 'ejection cooldown over');
      }
    }, cooldown);
    timer.unref();
    this.#ejectTimers.add(timer);
  }

  /** Starts (or restarts with the current options) the health checker of `u`. */
  startChecks(u: Upstream): void {
    this.#checkers.get(u)?.close();
    this.#checkers.delete(u);
    const hc = this.options.healthCheck;
    if (hc === undefined || u.state === 'draining' || u.state === 'drained') return;
    const checker = new HealthChecker(u, hc, this.healthChecks);
    this.#checkers.set(u, checker);
    checker.start();
  }

  stopChecks(u: Upstream): void {
    const c = this.#checkers.get(u);
    if (c !== undefined) {
      this.#checkers.delete(u);
      void c.close();
    }
  }

  lastHealthError(u: Upstream): string | null {
    return this.#checkers.get(u)?.lastError ?? null;
  }

  async close(): Promise<void> {
    this.held?.close();
    for (const t of this.#ejectTimers) clearTimeout(t);
    this.#ejectTimers.clear();
    const closing = [...this.#checkers.values()].map((c) => c.close());
    this.#checkers.clear();
    await Promise.all(closing);
  }
}
