// Request metrics kept on the hot path: counts by method, status code and protocol, and request duration
// histograms (the configured Prometheus buckets, plus fine log-spaced buckets the dashboard's p50/p99 come from).
// Per thread, no label strings built per request; read as plain, structured-cloneable data (MeterData), summed
// over worker threads, rendered by the admin API (src/admin/metrics.ts).

/** Traefik's `protocol` label values. */
export const PROTOCOLS = ['http', 'websocket', 'grpc'] as const;
export type ProtocolIndex = 0 | 1 | 2;
export const HTTP: ProtocolIndex = 0;
export const WEBSOCKET: ProtocolIndex = 1;
export const GRPC: ProtocolIndex = 2;

/** Fine buckets: upper bounds FINE_BASE_S × FINE_RATIO^i, from 10 µs to beyond an hour, ±5 % around a quantile. */
const FINE_BASE_S = 0.00001;
const FINE_RATIO = 1.1;
export const FINE_BUCKETS = 210;
const LOG_RATIO = Math.log(FINE_RATIO);

/** The upper bound (seconds) of fine bucket i. */
export function fineBound(i: number): number {
  return FINE_BASE_S * FINE_RATIO ** i;
}

function fineIndex(seconds: number): number {
  if (seconds <= FINE_BASE_S) return 0;
  const i = Math.ceil(Math.log(seconds / FINE_BASE_S) / LOG_RATIO - 1e-9);
  return i >= FINE_BUCKETS ? FINE_BUCKETS - 1 : i;
}

/** Counts by [method, code × 4 + protocol]: [method, key, count] rows. */
export type CodeRows = Array<[string, number, number]>;

export interface DurationData {
  /** per Prometheus bucket (not cumulative), the last one +Inf */
  counts: number[];
  sum: number;
  /** per fine bucket */
  fine: number[];
}

export interface ServiceMeterData {
  codes: CodeRows;
  durations: DurationData;
}

/** Requests by method, status code and protocol. */
export class CodeCounts {
  readonly #byMethod = new Map<string, Map<number, number>>();

  add(method: string, code: number, protocol: ProtocolIndex): void {
    let m = this.#byMethod.get(method);
    if (m === undefined) {
      m = new Map();
      this.#byMethod.set(method, m);
    }
    const key = code * 4 + protocol;
    m.set(key, (m.get(key) ?? 0) + 1);
  }

  rows(): CodeRows {
    const out: CodeRows = [];
    for (const [method, m] of this.#byMethod) for (const [key, n] of m) out.push([method, key, n]);
    return out;
  }
}

/** The status code and protocol of a CodeRows key. */
export function splitKey(key: number): { code: number; protocol: (typeof PROTOCOLS)[number] } {
  return { code: Math.floor(key / 4), protocol: PROTOCOLS[key % 4] ?? 'http' };
}

/** A request duration histogram. */
export class Durations {
  readonly #bounds: readonly number[];
  readonly #counts: Float64Array;
  readonly #fine = new Float64Array(FINE_BUCKETS);
  #sum = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    const b = this.#bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]) i++;
    this.#counts[i]++;
    this.#fine[fineIndex(seconds)]++;
    this.#sum += seconds;
  }

  data(): DurationData {
    return { counts: Array.from(this.#counts), sum: this.#sum, fine: Array.from(this.#fine) };
  }
}

/** One service's meter in one thread. */
export class ServiceMeter {
  readonly codes = new CodeCounts();
  readonly durations: Durations;

  constructor(bounds: readonly number[]) {
    this.durations = new Durations(bounds);
  }

  data(): ServiceMeterData {
    return { codes: this.codes.rows(), durations: this.durations.data() };
  }
}

/** A thread's service meters, by service name (a service removed and added again keeps counting on). */
export class Meters {
  readonly buckets: readonly number[];
  readonly #services = new Map<string, ServiceMeter>();

  constructor(buckets: readonly number[]) {
    this.buckets = buckets;
  }

  service(name: string): ServiceMeter {
    let m = this.#services.get(name);
    if (m === undefined) {
      m = new ServiceMeter(this.buckets);
      this.#services.set(name, m);
    }
    return m;
  }

  data(): Record<string, ServiceMeterData> {
    const out: Record<string, ServiceMeterData> = {};
    for (const [name, m] of this.#services) out[name] = m.data();
    return out;
  }
}

/** Sums code rows (several threads'). */
export function sumCodeRows(all: readonly CodeRows[]): CodeRows {
  const acc = new Map<string, Map<number, number>>();
  for (const rows of all) {
    for (const [method, key, n] of rows) {
      let m = acc.get(method);
      if (m === undefined) acc.set(method, (m = new Map()));
      m.set(key, (m.get(key) ?? 0) + n);
    }
  }
  const out: CodeRows = [];
  for (const [method, m] of acc) for (const [key, n] of m) out.push([method, key, n]);
  return out;
}

/** Sums duration histograms of the same buckets. */
export function sumDurations(all: readonly DurationData[]): DurationData {
  const out: DurationData = { counts: [], sum: 0, fine: new Array<number>(FINE_BUCKETS).fill(0) };
  for (const d of all) {
    for (let i = 0; i < d.counts.length; i++) out.counts[i] = (out.counts[i] ?? 0) + d.counts[i];
    for (let i = 0; i < FINE_BUCKETS; i++) out.fine[i] += d.fine[i] ?? 0;
    out.sum += d.sum;
  }
  return out;
}

/** The q-quantile (0..1) of fine bucket counts (e.g. a difference of two snapshots), as the bucket's upper
 *  bound in seconds; null with no observations. */
export function fineQuantile(fine: readonly number[], q: number): number | null {
  let total = 0;
  for (const n of fine) total += n;
  if (total <= 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < fine.length; i++) {
    seen += fine[i];
    if (seen >= rank) return fineBound(i);
  }
  return fineBound(fine.length - 1);
}

/** An entrypoint's counting: every request it answered, and the service's, when it has one. */
export class RequestMetrics {
  readonly codes = new CodeCounts();
  readonly #meters: Meters;

  constructor(meters: Meters) {
    this.#meters = meters;
  }

  /** A request answered by baton itself (no upstream: a 404, a redirect, a middleware's or a 502/503 page). */
  answered(method: string, status: number, service: string | null, protocol: ProtocolIndex): void {
    this.codes.add(method, status, protocol);
    if (service !== null) this.#meters.service(service).codes.add(method, status, protocol);
  }

  /** A forwarded request, over now; `started` is its performance.now() on arrival. */
  forwarded(method: string, status: number, service: string, started: number, protocol: ProtocolIndex): void {
    this.codes.add(method, status, protocol);
    const m = this.#meters.service(service);
    m.codes.add(method, status, protocol);
    m.durations.observe((performance.now() - started) / 1000);
  }
}

/** A forwarded request's protocol: gRPC (HTTP/2, application/grpc) or plain HTTP. */
export function protocolOf(req: {
  httpVersionMajor: number;
  headers: { 'content-type'?: string | undefined };
}): ProtocolIndex {
  return req.httpVersionMajor === 2 && req.headers['content-type']?.startsWith('application/grpc') === true
    ? GRPC
    : HTTP;
}
