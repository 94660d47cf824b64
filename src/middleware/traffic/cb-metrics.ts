// The circuitBreaker's measurements, as vulcand/oxy's memmetrics.RTMetrics keeps them (pure, clock injected):
// counters over a rolling window of 10 one-second buckets (requests, network errors, each status code) and a
// latency histogram over 6 rolling sub-histograms of 10 s each (HdrHistogram, 1 µs to 1 h, 2 significant
// figures: the same buckets, so LatencyAtQuantileMS gives Traefik's numbers). Bounded: counters are per status
// code (at most 900 of them, 100-999), the histogram is 6 × 3 328 counts and exists only when the expression
// reads latencies. One deviation: oxy rotates its histogram once per record however long it was idle, so
// latencies minutes old can linger; here every elapsed 10 s rotates a sub-histogram out.
import type { Metrics } from './cb-expression.ts';

const COUNTER_BUCKETS = 10;
const COUNTER_RESOLUTION_MS = 1000;
const slotOf = (sec: number): number => ((sec % COUNTER_BUCKETS) + COUNTER_BUCKETS) % COUNTER_BUCKETS;

/** oxy's RollingCounter: `buckets` one-second buckets; buckets not updated since are cleared when read. */
export class RollingCounter {
  readonly #values = new Array<number>(COUNTER_BUCKETS).fill(0);
  /** the second of the last update (-Infinity: never) */
  #last = -Infinity;

  inc(nowMs: number, v = 1): void {
    const sec = Math.floor(nowMs / COUNTER_RESOLUTION_MS);
    this.#cleanup(sec);
    this.#values[slotOf(sec)] += v;
    this.#last = sec;
  }

  count(nowMs: number): number {
    this.#cleanup(Math.floor(nowMs / COUNTER_RESOLUTION_MS));
    let sum = 0;
    for (const v of this.#values) sum += v;
    return sum;
  }

  #cleanup(sec: number): void {
    for (let i = 0; i < COUNTER_BUCKETS && sec - i > this.#last; i++) {
      this.#values[slotOf(sec - i)] = 0;
    }
  }
}

// HdrHistogram (hdrhistogram-go) with lowest 1, highest 3 600 000 000 (µs), 2 significant figures:
// sub-buckets of 256 (half 128), unit magnitude 0, 25 buckets → 26 × 128 counts.
const SUB_BUCKET_COUNT = 256;
const SUB_BUCKET_HALF = 128;
const SUB_BUCKET_HALF_MAGNITUDE = 7;
const BUCKET_COUNT = 25;
export const HIST_COUNTS = (BUCKET_COUNT + 1) * SUB_BUCKET_HALF;
const HIST_SUBS = 6;
const HIST_PERIOD_MS = 10_000;

/** The counts index of a value (µs), -1 when it is out of range (hdrhistogram-go's countsIndexFor). */
export function histIndex(v: number): number {
  if (v < 0 || v >= 2 ** 32) return -1;
  const bitLen = 32 - Math.clz32(v | (SUB_BUCKET_COUNT - 1));
  const bucket = bitLen - (SUB_BUCKET_HALF_MAGNITUDE + 1);
  const sub = Math.floor(v / 2 ** bucket);
  const idx = ((bucket + 1) << SUB_BUCKET_HALF_MAGNITUDE) + sub - SUB_BUCKET_HALF;
  return idx < HIST_COUNTS ? idx : -1;
}

/** The highest value (µs) equivalent to those counted at `idx`. */
export function histHighest(idx: number): number {
  if (idx < SUB_BUCKET_COUNT) return idx;
  const bucket = Math.floor(idx / SUB_BUCKET_HALF) - 1;
  const sub = idx - bucket * SUB_BUCKET_HALF;
  return sub * 2 ** bucket + 2 ** bucket - 1;
}

/** hdrhistogram-go (v1.2.0, oxy's)'s ValueAtQuantile over summed counts: the highest value equivalent to the
 *  first index where the running count reaches round(q% of total); 0 when that is 0 (e.g. no values, q = 0). */
export function valueAtQuantile(counts: ArrayLike<number>, total: number, q: number): number {
  const want = Math.trunc((Math.min(q, 100) / 100) * total + 0.5);
  if (want <= 0) return 0;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= want) return histHighest(i);
  }
  return 0;
}

/** oxy's RollingHDRHistogram: 6 sub-histograms of 10 s, merged when read. */
export class RollingHistogram {
  readonly #subs: Uint32Array[] = Array.from({ length: HIST_SUBS }, () => new Uint32Array(HIST_COUNTS));
  readonly #totals = new Array<number>(HIST_SUBS).fill(0);
  #idx = 0;
  #lastRoll: number;

  constructor(nowMs: number) {
    this.#lastRoll = nowMs;
  }

  record(nowMs: number, latencyUs: number): void {
    this.#roll(nowMs);
    const i = histIndex(Math.floor(latencyUs));
    if (i === -1) return; // above 1 h (hdrhistogram-go refuses it too)
    this.#subs[this.#idx][i]++;
    this.#totals[this.#idx]++;
  }

  /** the latency (µs) at quantile q (0..100) over the window */
  atQuantile(nowMs: number, q: number): number {
    this.#roll(nowMs);
    let total = 0;
    for (const t of this.#totals) total += t;
    if (total === 0) return 0;
    const merged = new Float64Array(HIST_COUNTS);
    for (let s = 0; s < HIST_SUBS; s++) {
      if (this.#totals[s] === 0) continue;
      const sub = this.#subs[s];
      for (let i = 0; i < HIST_COUNTS; i++) merged[i] += sub[i];
    }
    return valueAtQuantile(merged, total, q);
  }

  reset(nowMs: number): void {
    for (const s of this.#subs) s.fill(0);
    this.#totals.fill(0);
    this.#idx = 0;
    this.#lastRoll = nowMs;
  }

  #roll(nowMs: number): void {
    for (let n = 0; n < HIST_SUBS && nowMs - this.#lastRoll >= HIST_PERIOD_MS; n++) {
      this.#idx = (this.#idx + 1) % HIST_SUBS;
      this.#subs[this.#idx].fill(0);
      this.#totals[this.#idx] = 0;
      this.#lastRoll += HIST_PERIOD_MS;
    }
    if (nowMs - this.#lastRoll >= HIST_PERIOD_MS) this.#lastRoll = nowMs; // idle for a whole window: all cleared
  }
}

/** oxy's RTMetrics over an injected clock (ms). */
export class RoundTripMetrics implements Metrics {
  readonly #now: () => number;
  readonly #withLatency: boolean;
  #total = new RollingCounter();
  #netErrors = new RollingCounter();
  #codes = new Map<number, RollingCounter>();
  #hist: RollingHistogram | null;

  constructor(now: () => number, withLatency: boolean) {
    this.#now = now;
    this.#withLatency = withLatency;
    this.#hist = withLatency ? new RollingHistogram(now()) : null;
  }

  record(status: number, networkError: boolean, latencyMs: number): void {
    const now = this.#now();
    this.#total.inc(now);
    if (networkError) this.#netErrors.inc(now);
    let c = this.#codes.get(status);
    if (c === undefined && status >= 100 && status <= 999) {
      c = new RollingCounter();
      this.#codes.set(status, c);
    }
    c?.inc(now);
    this.#hist?.record(now, latencyMs * 1000);
  }

  reset(): void {
    this.#total = new RollingCounter();
    this.#netErrors = new RollingCounter();
    this.#codes = new Map();
    if (this.#withLatency) this.#hist!.reset(this.#now());
  }

  totalCount(): number {
    return this.#total.count(this.#now());
  }

  networkErrorRatio(): number {
    const now = this.#now();
    const total = this.#total.count(now);
    return total === 0 ? 0 : this.#netErrors.count(now) / total;
  }

  responseCodeRatio(from: number, to: number, dividedFrom: number, dividedTo: number): number {
    const now = this.#now();
    let a = 0;
    let b = 0;
    for (const [code, c] of this.#codes) {
      const n = c.count(now);
      if (code >= from && code < to) a += n;
      if (code >= dividedFrom && code < dividedTo) b += n;
    }
    return b === 0 ? 0 : a / b;
  }

  latencyAtQuantileMs(q: number): number {
    if (this.#hist === null) return 0;
    return Math.floor(this.#hist.atQuantile(this.#now(), q) / 1000);
  }
}
