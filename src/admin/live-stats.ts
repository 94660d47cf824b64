// The `stats` event of /api/events: every second while someone listens, each service's running totals and its
// p50/p99 over the last WINDOW ticks (from the fine duration buckets), and each upstream's state and counters.
import { noServiceStats, type TrafficStats } from '../traffic.ts';
import { fineQuantile } from '../upstream/meter.ts';
import type { Registry } from '../upstream/registry.ts';

export const STATS_INTERVAL_MS = 1000;
/** ticks the latency quantiles look back over */
const WINDOW = 10;

export interface StatsEvent {
  at: number;
  services: Record<string, { requests: number; responses: number[]; p50: number | null; p99: number | null }>;
  upstreams: Record<string, { service: string; state: string; inflight: number; requests: number; failures: number }>;
}

export interface LiveStatsOptions {
  registry: Registry;
  traffic: () => Promise<TrafficStats>;
  publish: (stats: StatsEvent) => void;
  onError: (err: unknown) => void;
}

export class LiveStats {
  readonly #opts: LiveStatsOptions;
  #timer: NodeJS.Timeout | null = null;
  /** per service, its fine duration buckets at each of the last WINDOW ticks, oldest first */
  readonly #history = new Map<string, number[][]>();
  #busy = false;

  constructor(opts: LiveStatsOptions) {
    this.#opts = opts;
  }

  /** Ticks while `listening` (the SSE stream has subscribers). */
  set listening(on: boolean) {
    if (on && this.#timer === null) {
      this.#timer = setInterval(() => this.#tick(), STATS_INTERVAL_MS);
      this.#timer.unref();
    } else if (!on && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
      this.#history.clear();
    }
  }

  close(): void {
    this.listening = false;
  }

  #tick(): void {
    if (this.#busy) return;
    this.#busy = true;
    this.#opts
      .traffic()
      .then((t) => {
        if (this.#timer !== null) this.#opts.publish(this.event(t, Date.now()));
      })
      .catch(this.#opts.onError)
      .finally(() => (this.#busy = false));
  }

  /** The event for these counters (and remembers them for the next ticks' quantiles). */
  event(traffic: TrafficStats, at: number): StatsEvent {
    const registry = this.#opts.registry;
    const services: StatsEvent['services'] = {};
    for (const name of registry.services.keys()) {
      const s = traffic.services[name] ?? noServiceStats();
      const fine = traffic.meters[name]?.durations.fine ?? [];
      const past = this.#history.get(name) ?? [];
      const oldest = past[0] ?? [];
      const recent = fine.map((n, i) => n - (oldest[i] ?? 0));
      past.push(fine);
      if (past.length > WINDOW) past.shift();
      this.#history.set(name, past);
      const requests = s.responses.reduce((a, b) => a + b, 0);
      services[name] = {
        requests,
        responses: s.responses,
        p50: fineQuantile(recent, 0.5),
        p99: fineQuantile(recent, 0.99),
      };
    }
    for (const name of this.#history.keys()) if (!registry.services.has(name)) this.#history.delete(name);
    const upstreams: StatsEvent['upstreams'] = {};
    for (const u of registry.upstreams.values()) {
      const { service, state, inflight, requests, failures } = u;
      upstreams[u.id] = { service, state, inflight, requests, failures };
    }
    return { at, services, upstreams };
  }
}
