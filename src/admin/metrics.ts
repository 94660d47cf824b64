// GET /metrics: prom-client's registry and exposition. The hot path keeps its own counters (src/upstream/meter.ts,
// summed over the worker threads); here each family reads them at scrape time, so a request never touches a
// label map. Names follow Traefik's where they overlap (traefik_service_requests_total → baton_service_...).
import { collectDefaultMetrics, Registry as PromRegistry } from 'prom-client';
import type { DeployRecord } from '../deploy/journal.ts';
import type { EventBus } from '../events.ts';
import { noServiceStats, type TrafficStats } from '../traffic.ts';
import { splitKey, type DurationData } from '../upstream/meter.ts';
import type { Registry } from '../upstream/registry.ts';
import type { CertificateList } from './certificates.ts';

const STATES = ['starting', 'healthy', 'unhealthy', 'draining', 'drained'] as const;
/** deploy duration buckets, seconds */
const DEPLOY_BUCKETS = [5, 10, 30, 60, 120, 300, 600, 1800];
const ENDED: ReadonlySet<string> = new Set(['succeeded', 'failed', 'rolled_back']);

type Labels = Record<string, string | number>;
interface Value {
  labels: Labels;
  value: number;
  metricName?: string;
}
type Kind = 'counter' | 'gauge' | 'histogram';

/** What /metrics reads. */
export interface MetricsSources {
  registry: Registry;
  /** the traffic plane's counters, summed over the worker threads */
  traffic: () => Promise<TrafficStats>;
  certificates: CertificateList;
  events: EventBus;
  /** the request duration histogram's buckets (seconds) */
  buckets: readonly number[];
}

/** A histogram's series from per-bucket (non-cumulative) counts. */
function histogramValues(name: string, labels: Labels, bounds: readonly number[], d: DurationData): Value[] {
  const out: Value[] = [];
  let cumulative = 0;
  for (let i = 0; i <= bounds.length; i++) {
    cumulative += d.counts[i] ?? 0;
    const le = i < bounds.length ? String(bounds[i]) : '+Inf';
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative });
  }
  out.push({ metricName: `${name}_sum`, labels, value: d.sum });
  out.push({ metricName: `${name}_count`, labels, value: cumulative });
  return out;
}

/** Deploys that ended, by service, kind and outcome, and how long they took (since this baton started). */
class DeployCounts {
  readonly outcomes = new Map<string, { labels: Labels; value: number }>();
  readonly durations = new Map<string, { labels: Labels; data: DurationData }>();

  ended(e: Pick<DeployRecord, 'service' | 'kind' | 'state' | 'createdAt' | 'finishedAt'>): void {
    const o = `${e.service}\0${e.kind}\0${e.state}`;
    const count = this.outcomes.get(o) ?? { labels: { service: e.service, kind: e.kind, outcome: e.state }, value: 0 };
    count.value++;
    this.outcomes.set(o, count);
    const seconds = (Date.parse(e.finishedAt ?? '') - Date.parse(e.createdAt)) / 1000;
    if (!Number.isFinite(seconds)) return;
    const k = `${e.service}\0${e.kind}`;
    const d = this.durations.get(k) ?? {
      labels: { service: e.service, kind: e.kind },
      data: { counts: new Array<number>(DEPLOY_BUCKETS.length + 1).fill(0), sum: 0, fine: [] },
    };
    let i = 0;
    while (i < DEPLOY_BUCKETS.length && seconds > DEPLOY_BUCKETS[i]) i++;
    d.data.counts[i]++;
    d.data.sum += seconds;
    this.durations.set(k, d);
  }
}

export class Metrics {
  readonly #prom = new PromRegistry();
  readonly #sources: MetricsSources;
  readonly #deploys = new DeployCounts();
  readonly #unsubscribe: () => void;
  /** the traffic counters of the scrape being rendered */
  #traffic: TrafficStats = { services: {}, entrypoints: {}, meters: {} };
  #processMetrics = false;

  constructor(sources: MetricsSources) {
    this.#sources = sources;
    this.#unsubscribe = sources.events.subscribe((type, data) => {
      const e = data as DeployRecord;
      if (type === 'deploy' && ENDED.has(e.state)) this.#deploys.ended(e);
    });
    this.#families();
  }

  get contentType(): string {
    return this.#prom.contentType;
  }

  /** The exposition text, every family read now. */
  async render(): Promise<string> {
    if (!this.#processMetrics) {
      // process metrics start their observers (GC, event loop delay) at the first scrape, not for every App
      this.#processMetrics = true;
      collectDefaultMetrics({ register: this.#prom });
    }
    this.#traffic = await this.#sources.traffic();
    return this.#prom.metrics();
  }

  close(): void {
    this.#unsubscribe();
  }

  #family(name: string, type: Kind, help: string, values: () => Value[]): void {
    const metric = {
      name,
      help,
      type,
      aggregator: 'sum',
      get: () => ({ name, help, type, aggregator: 'sum', values: values() }),
    };
    this.#prom.registerMetric(metric as never);
  }

  #families(): void {
    const registry = this.#sources.registry;
    const traffic = () => this.#traffic;
    const services = () =>
      [...registry.services.values()].map((s) => ({
        name: s.name,
        health: s.healthChecks,
        ...(traffic().services[s.name] ?? noServiceStats()),
      }));
    const upstreams = () => [...registry.upstreams.values()];
    const entrypoints = () => Object.entries(traffic().entrypoints);
    const meters = () => Object.entries(traffic().meters);
    const up = (u: { service: string; id: string }) => ({ service: u.service, upstream: u.id });

    this.#family('baton_entrypoint_requests_total', 'counter', 'Requests answered per entrypoint.', () =>
      entrypoints().flatMap(([entrypoint, e]) =>
        e.codes.map(([method, key, value]) => {
          const { code, protocol } = splitKey(key);
          return { labels: { entrypoint, code, method, protocol }, value };
        }),
      ),
    );
    this.#family('baton_entrypoint_open_connections', 'gauge', 'Open client connections per entrypoint.', () =>
      entrypoints().map(([entrypoint, e]) => ({ labels: { entrypoint }, value: e.connections })),
    );
    this.#family('baton_entrypoint_rejected_connections_total', 'counter', 'Connections refused at the cap.', () =>
      entrypoints().map(([entrypoint, e]) => ({ labels: { entrypoint }, value: e.rejectedConnections })),
    );
    this.#family('baton_entrypoint_no_route_total', 'counter', 'Requests no route matched (404).', () =>
      entrypoints().map(([entrypoint, e]) => ({ labels: { entrypoint }, value: e.notFound })),
    );
    this.#family('baton_service_requests_total', 'counter', 'Requests answered per service.', () =>
      meters().flatMap(([service, m]) =>
        m.codes.map(([method, key, value]) => ({ labels: { service, code: splitKey(key).code, method }, value })),
      ),
    );
    const bounds = this.#sources.buckets;
    const durationName = 'baton_service_request_duration_seconds';
    this.#family(durationName, 'histogram', 'Forwarded requests, from arrival to the end of the response.', () =>
      meters().flatMap(([service, m]) => histogramValues(durationName, { service }, bounds, m.durations)),
    );
    this.#family('baton_service_retries_total', 'counter', 'Attempts retried on another upstream.', () =>
      services().map((s) => ({ labels: { service: s.name }, value: s.retries })),
    );
    this.#family('baton_service_unavailable_total', 'counter', 'Answered by baton: no upstream could take it.', () =>
      services().map((s) => ({ labels: { service: s.name }, value: s.unavailable })),
    );
    this.#family('baton_health_checks_total', 'counter', 'Active health check probes, by result.', () =>
      services().flatMap((s) => [
        { labels: { service: s.name, result: 'success' }, value: s.health.success },
        { labels: { service: s.name, result: 'failure' }, value: s.health.failure },
      ]),
    );
    this.#family('baton_upstream_up', 'gauge', '1 when the upstream is healthy and in rotation.', () =>
      upstreams().map((u) => ({ labels: up(u), value: u.state === 'healthy' ? 1 : 0 })),
    );
    this.#family('baton_upstream_inflight', 'gauge', 'Requests and WebSocket tunnels in flight.', () =>
      upstreams().map((u) => ({ labels: up(u), value: u.inflight })),
    );
    this.#family('baton_upstream_state', 'gauge', 'Upstream state (1 for the current state).', () =>
      upstreams().flatMap((u) => STATES.map((state) => ({ labels: { ...up(u), state }, value: +(u.state === state) }))),
    );
    this.#family('baton_upstream_requests_total', 'counter', 'Requests dispatched to each upstream.', () =>
      upstreams().map((u) => ({ labels: up(u), value: u.requests })),
    );
    this.#family('baton_upstream_failures_total', 'counter', 'Connect errors, resets and 5xx answers.', () =>
      upstreams().map((u) => ({ labels: up(u), value: u.failures })),
    );
    this.#family('baton_deploys_total', 'counter', 'Deploys, rollbacks and scales that ended, by outcome.', () =>
      [...this.#deploys.outcomes.values()].map(({ labels, value }) => ({ labels, value })),
    );
    const deployName = 'baton_deploy_duration_seconds';
    this.#family(deployName, 'histogram', 'How long deploys took, from request to outcome.', () =>
      [...this.#deploys.durations.values()].flatMap((d) =>
        histogramValues(deployName, d.labels, DEPLOY_BUCKETS, d.data),
      ),
    );
    this.#family('baton_tls_certs_not_after', 'gauge', 'Certificate expiry (Unix seconds).', () =>
      this.#sources.certificates.list().map((c) => ({
        labels: { id: c.id, source: c.source, cn: c.domains[0] ?? '', sans: c.domains.join(',') },
        value: Date.parse(c.notAfter) / 1000,
      })),
    );
  }
}
