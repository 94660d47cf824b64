// Active health checks: one probe at a time per upstream (the next is scheduled only after the previous has
// settled, so checks never pile up); a probe that hangs counts as a failure at its timeout.
import { connect } from 'node:net';
import { type Dispatcher, Pool } from 'undici';
import type { HealthCheckConfig } from '../config/schema.ts';
import type { Upstream } from './upstream.ts';

/** Probes settled, by result (a service's, read by /metrics). */
export interface HealthCounts {
  success: number;
  failure: number;
}

export class HealthChecker {
  readonly #upstream: Upstream;
  readonly #config: HealthCheckConfig;
  readonly #client: Dispatcher;
  #timer: NodeJS.Timeout | null = null;
  #running = false;
  #abort: AbortController | null = null;
  #stopped = true;
  lastError: string | null = null;
  /** a starting upstream refusing connections: its next refused probe counted as a failure no earlier than this */
  #nextCounted = 0;
  readonly #counts: HealthCounts;

  constructor(upstream: Upstream, config: HealthCheckConfig, counts: HealthCounts) {
    this.#upstream = upstream;
    this.#config = config;
    this.#counts = counts;
    // Probes use their own single connection so a saturated traffic pool cannot starve them.
    this.#client = new Pool(upstream.url, {
      connections: 1,
      pipelining: 1,
      keepAliveTimeout: Math.max(config.interval * 2, 4000),
    });
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#abort?.abort();
  }

  async close(): Promise<void> {
    this.stop();
    await this.#client.destroy().catch(() => {});
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#probe(), delay);
    this.#timer.unref();
  }

  /** Resolves on a 2xx/3xx answer, rejects otherwise. */
  async #httpProbe(path: string, signal: AbortSignal): Promise<void> {
    const res = await this.#client.request({
      method: 'GET',
      path,
      headers: { host: this.#config.hostname ?? this.#upstream.host, 'user-agent': 'baton-health' },
      signal,
    });
    await res.body.dump({ limit: 64 * 1024, signal }).catch(() => {});
    if (res.statusCode < 200 || res.statusCode >= 400) throw new Error(`status ${res.statusCode}`);
  }

  async #probe(): Promise<void> {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    const started = Date.now();
    const ac = new AbortController();
    this.#abort = ac;
    const timer = setTimeout(() => ac.abort(), this.#config.timeout);
    let ok = false;
    try {
      if (this.#config.path === undefined) await tcpProbe(this.#upstream.url, ac.signal);
      else await this.#httpProbe(this.#config.path, ac.signal);
      ok = true;
      this.lastError = null;
    } catch (err) {
      this.lastError = ac.signal.aborted
        ? `timed out after ${this.#config.timeout}ms`
        : ((err as { code?: string }).code ?? (err as Error).message);
    } finally {
      clearTimeout(timer);
      this.#abort = null;
      this.#running = false;
    }
    if (this.#stopped) return;
    if (ok) this.#counts.success++;
    else this.#counts.failure++;
    // a starting upstream refusing the connection is not listening yet: probed again soon, its failures counted
    // at the usual pace (one per interval), so it turns healthy soon after it listens and unhealthy as before
    const refused = !ok && this.#upstream.state === 'starting' && this.lastError === 'ECONNREFUSED';
    if (refused && started < this.#nextCounted) return this.#schedule(STARTING_RETRY_MS);
    if (refused) this.#nextCounted = started + this.#config.interval;
    this.#upstream.apply(
      { type: 'probe', ok, rise: this.#config.rise, fall: this.#config.fall },
      ok ? 'health check passed' : `health check failed: ${this.lastError}`,
    );
    const again = refused && this.#upstream.state === 'starting';
    this.#schedule(again ? STARTING_RETRY_MS : Math.max(0, this.#config.interval - (Date.now() - started)));
  }
}

/** A starting upstream (a container just started) whose port is not open yet is probed again this soon: the probe
 *  that passes comes within this of the process listening, not an interval later. */
const STARTING_RETRY_MS = 50;

/** Resolves once a TCP connection to the upstream is established (then closes it). */
function tcpProbe(url: string, signal: AbortSignal): Promise<void> {
  const u = new URL(url);
  return new Promise<void>((resolve, reject) => {
    const socket = connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80), signal });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', (err) => {
      socket.destroy();
      reject(err);
    });
  });
}
