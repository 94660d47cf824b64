// One upstream (an origin like http://10.0.0.5:8080): its keep-alive pool, its in-flight count, its state, and
// its drain. The service that owns it decides about passive ejection; the health checker feeds probe results.
import { Agent as HttpAgent } from 'node:http';
import type { Socket } from 'node:net';
import { Pool } from 'undici';
import { DrainTimeoutError } from '../errors.ts';
import type { IdleOutcome, Tally } from './tally.ts';
import { transition, type HealthCounters, type UpstreamEvent, type UpstreamState } from './state.ts';

export interface PoolOptions {
  connections: number;
  connectTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
  keepAliveTimeout: number;
}

export interface UpstreamInit {
  id: string;
  service: string;
  url: string;
  containerId?: string;
  /** the deploy generation of its container (the `baton.generation` label; "0" when none) */
  generation?: string;
  hasHealthCheck: boolean;
  pool: PoolOptions;
  /** its counters: in flight, requests, failures (shared with the other threads serving traffic) */
  tally: Tally;
  onStateChange: (u: Upstream, from: UpstreamState, to: UpstreamState, reason: string) => void;
}

export interface DrainResult {
  id: string;
  state: UpstreamState;
  /** true if the drain timeout expired with requests still in flight (those were aborted with 504). */
  timedOut: boolean;
  /** requests/tunnels aborted at the timeout */
  aborted: number;
  durationMs: number;
}

export class Upstream {
  readonly id: string;
  readonly service: string;
  readonly url: string;
  /** "host:port" as the upstream expects it in Host when passHostHeader is false */
  readonly host: string;
  readonly containerId: string | undefined;
  /** the deploy generation of its container (the `baton.generation` label; "0" when none) */
  readonly generation: string;
  readonly hasHealthCheck: boolean;

  state: UpstreamState;
  readonly tally: Tally;
  /** healthy but kept out of rotation (a deploy's new container until its postHealthy hooks pass) */
  held = false;
  counters: HealthCounters = { successes: 0, failures: 0 };
  /** consecutive passive failures (connect errors, 5xx) */
  passiveFailures = 0;
  ejectedUntil = 0;

  /** null while draining/drained: nothing new may be dispatched */
  pool: Pool | null;
  /** sockets of open WebSocket tunnels (client side), destroyed when a drain times out */
  readonly tunnels = new Set<Socket>();
  wsAgent: HttpAgent;

  #poolOptions: PoolOptions;
  #onStateChange: UpstreamInit['onStateChange'];
  /** aborted by enable(): the drain waiting for in-flight requests resolves with the new state */
  #drainCancel: AbortController | null = null;
  #drainPromise: Promise<DrainResult> | null = null;
  #retiringPools = new Set<Pool>();
  #closed = false;

  constructor(init: UpstreamInit) {
    this.id = init.id;
    this.service = init.service;
    this.url = init.url;
    this.host = new URL(init.url).host;
    this.containerId = init.containerId;
    this.generation = init.generation ?? '0';
    this.hasHealthCheck = init.hasHealthCheck;
    this.state = init.hasHealthCheck ? 'starting' : 'healthy';
    this.tally = init.tally;
    this.#poolOptions = init.pool;
    this.#onStateChange = init.onStateChange;
    this.pool = this.#newPool();
    this.wsAgent = new HttpAgent({ keepAlive: false });
  }

  #newPool(): Pool {
    const o = this.#poolOptions;
    return new Pool(this.url, {
      connections: o.connections,
      pipelining: 1,
      connectTimeout: o.connectTimeout,
      headersTimeout: o.headersTimeout,
      bodyTimeout: o.bodyTimeout,
      keepAliveTimeout: o.keepAliveTimeout,
      keepAliveMaxTimeout: Math.max(o.keepAliveTimeout, 1000),
      // Give up on a pooled socket 1 s before the upstream's own Keep-Alive timeout would close it.
      keepAliveTimeoutThreshold: 1000,
    });
  }

  /** Whether new requests may go here: healthy, its pool open (a drain closes it at once), and not held back. */
  get takesTraffic(): boolean {
    return this.state === 'healthy' && this.pool !== null && !this.held;
  }

  apply(event: UpstreamEvent, reason: string): void {
    const from = this.state;
    const next = transition(from, this.counters, event);
    this.counters = next.counters;
    if (next.state !== from) {
      this.state = next.state;
      this.#onStateChange(this, from, next.state, reason);
    }
  }

  /** Requests and tunnels in flight here, in every worker. */
  get inflight(): number {
    return this.tally.inflight;
  }

  /** cumulative counters, over every worker (for metrics and the deployer's monitor window) */
  get requests(): number {
    return this.tally.requests;
  }

  get failures(): number {
    return this.tally.failures;
  }

  acquire(): void {
    this.tally.acquire();
  }

  release(): void {
    this.tally.release();
  }

  /**
   * Takes the upstream out of rotation at once, closes its idle pooled sockets, and resolves when in-flight
   * reaches zero — or, at `timeoutMs`, aborts what is left (504 to those clients) and resolves.
   * Calling it again while a drain runs returns the same promise.
   */
  drain(timeoutMs: number): Promise<DrainResult> {
    if (this.#drainPromise !== null) return this.#drainPromise;
    if (this.state === 'drained') {
      return Promise.resolve({ id: this.id, state: this.state, timedOut: false, aborted: 0, durationMs: 0 });
    }
    const started = Date.now();
    this.apply({ type: 'drain' }, 'drain requested');
    const pool = this.pool;
    this.pool = null;
    if (pool !== null) this.#retire(pool);
    const finish = (outcome: IdleOutcome): DrainResult => {
      let aborted = 0;
      if (outcome === 'timeout') {
        aborted = this.inflight;
        this.abortAll(new DrainTimeoutError(this.id));
      }
      this.#drainPromise = null;
      if (this.#drainCancel === cancel) this.#drainCancel = null;
      if (this.state === 'draining')
        this.apply({ type: 'drained' }, outcome === 'timeout' ? 'drain timed out' : 'in-flight reached zero');
      return { id: this.id, state: this.state, timedOut: aborted > 0, aborted, durationMs: Date.now() - started };
    };
    const cancel = new AbortController();
    if (this.inflight === 0) return Promise.resolve(finish('idle'));
    this.#drainCancel = cancel;
    this.#drainPromise = this.tally.whenIdle(timeoutMs, cancel.signal).then(finish);
    return this.#drainPromise;
  }

  /** Back into rotation through the health gate (state starting when a health check is configured), or at once
   *  with `skipGate`. */
  enable(skipGate = false): void {
    if (this.#closed) return;
    if (this.state !== 'draining' && this.state !== 'drained') return;
    if (this.pool === null) this.pool = this.#newPool();
    this.passiveFailures = 0;
    this.ejectedUntil = 0;
    this.apply(
      { type: 'enable', hasHealthCheck: this.hasHealthCheck && !skipGate },
      skipGate ? 'enabled (no health gate)' : 'enabled',
    );
    // a drain still waiting is cancelled: it resolves with the new state
    this.#drainCancel?.abort();
    this.#drainCancel = null;
  }

  /** Aborts every request and tunnel still running on this upstream. */
  abortAll(err: Error): void {
    for (const p of this.#retiringPools) p.destroy(err).catch(() => {});
    this.#retiringPools.clear();
    for (const s of this.tunnels) s.destroy();
    this.tunnels.clear();
  }

  #retire(pool: Pool): void {
    this.#retiringPools.add(pool);
    pool.close().then(
      () => this.#retiringPools.delete(pool),
      () => this.#retiringPools.delete(pool),
    );
  }

  /** Immediate teardown (the upstream was removed from config, or baton is stopping after its shutdown wait). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pools = [...this.#retiringPools];
    if (this.pool !== null) pools.push(this.pool);
    this.pool = null;
    this.#retiringPools.clear();
    for (const s of this.tunnels) s.destroy();
    this.tunnels.clear();
    this.wsAgent.destroy();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }
}
