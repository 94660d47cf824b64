// Traefik's rateLimit (pkg/middlewares/ratelimiter): one token bucket per source, golang.org/x/time/rate's
// arithmetic — rate = average / period tokens a second, `burst` tokens at most, a full bucket for a new source.
// A request reserves a token; when the bucket is short, it would have to wait `delay` for it:
//   delay ≤ maxDelay (1/(2·rate), or 500 ms below 1 req/s) → Traefik waits that long, then serves;
//   delay > maxDelay → the reservation is cancelled (the token is not spent) and the answer is 429, with
//                      Retry-After: ceil(delay in s) and X-Retry-In: delay as a Go duration.
// Deviations, for baton's fast path (sync hooks, no per-request timer): a request within maxDelay is served at
// once instead of after its delay — the same requests pass and the same are refused, and the token debt it
// leaves makes the next ones wait, so the long-run rate is Traefik's; only their spacing within maxDelay differs.
// Memory is bounded: at most MAX_SOURCES (65 536, Traefik's maxSources) sources per middleware instance, least
// recently used first out when full; as new sources come, the least recently used ones whose buckets have
// refilled are dropped (lossless: a refilled bucket is a new one — Traefik's TTL map forgets a source after ~2 s
// idle even with a half-empty bucket); keys over 48 characters are kept as their SHA-256: a full table is ~15 MB.
import { createHash } from 'node:crypto';
import type { Handler } from '../api.ts';
import { duration, int, type Field } from '../options.ts';
import { defineType } from '../types.ts';
import { SOURCE_CRITERION, presentGroup, sourceCriterionProblems, sourceExtractor } from './ip-strategy.ts';

/** Traefik's maxSources. */
export const MAX_SOURCES = 65_536;
const MAX_KEY = 48;

/** A source's bucket, in a list from least to most recently used (a Map's own order would do, but deleting
 *  from its front leaves holes V8 walks over on every look at the oldest entry). */
interface Bucket {
  key: string;
  tokens: number;
  /** ms, the clock's */
  last: number;
  prev: Bucket | null;
  next: Bucket | null;
}

/** Traefik's maxDelay, in ns: 500 ms below 1 req/s, else 1 s / (2 · ⌊rate⌋) (Go integer arithmetic). */
export function maxDelayNs(rate: number): number {
  if (rate === Infinity) return 0;
  return rate < 1 ? 500e6 : Math.trunc(1e9 / (Math.trunc(rate) * 2));
}

/** Token buckets by source: x/time/rate's reserve-then-cancel, bounded. `now` in ms (performance.now()). */
export class TokenBuckets {
  readonly rate: number;
  readonly burst: number;
  readonly maxDelayNs: number;
  readonly capacity: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  #oldest: Bucket | null = null;
  #newest: Bucket | null = null;

  /** `rate` in tokens per second (Infinity: no limit), `burst` ≥ 1. */
  constructor(rate: number, burst: number, now: () => number, capacity = MAX_SOURCES) {
    this.rate = rate;
    this.burst = Math.max(1, burst);
    this.maxDelayNs = maxDelayNs(rate);
    this.capacity = Math.max(1, capacity);
    this.#now = now;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** x/time/rate's advance: the bucket's tokens at `now`, capped at burst (a clock going back adds none). */
  #tokensAt(b: Bucket, now: number): number {
    const elapsed = now > b.last ? now - b.last : 0;
    return Math.min(this.burst, b.tokens + (elapsed / 1000) * this.rate);
  }

  /**
   * Reserves one token for `key`: the delay in ns before it is available (0: at once). A delay above maxDelayNs
   * is a refusal: nothing is spent. Otherwise the token is taken (the bucket may go into debt, as in Go).
   */
  reserve(key: string): number {
    if (this.rate === Infinity) return 0;
    const now = this.#now();
    const k = key.length > MAX_KEY ? `#${createHash('sha256').update(key).digest('base64')}` : key;
    let b = this.#buckets.get(k);
    if (b === undefined) {
      this.#makeRoom(now);
      b = { key: k, tokens: this.burst, last: now, prev: null, next: null };
      this.#buckets.set(k, b);
      this.#append(b);
    } else if (b !== this.#newest) {
      this.#unlink(b);
      this.#append(b);
    }
    const tokens = this.#tokensAt(b, now) - 1;
    // durationFromTokens: (tokens / rate) seconds, truncated to ns
    const delay = tokens < 0 ? Math.trunc((-tokens / this.rate) * 1e9) : 0;
    // over maxDelay, Traefik cancels the reservation at once: time advanced, the token comes back
    b.tokens = delay > this.maxDelayNs ? tokens + 1 : tokens;
    if (now > b.last) b.last = now;
    return delay;
  }

  /** Drops refilled buckets at the old end (two at most: amortised per new source), then the least recently
   *  used one if the table is still full. */
  #makeRoom(now: number): void {
    for (let i = 0; i < 2 && this.#oldest !== null && this.#tokensAt(this.#oldest, now) >= this.burst; i++) {
      this.#drop(this.#oldest);
    }
    if (this.#buckets.size >= this.capacity && this.#oldest !== null) this.#drop(this.#oldest);
  }

  #drop(b: Bucket): void {
    this.#unlink(b);
    this.#buckets.delete(b.key);
  }

  #append(b: Bucket): void {
    b.prev = this.#newest;
    b.next = null;
    if (this.#newest !== null) this.#newest.next = b;
    else this.#oldest = b;
    this.#newest = b;
  }

  #unlink(b: Bucket): void {
    if (b.prev !== null) b.prev.next = b.next;
    else this.#oldest = b.next;
    if (b.next !== null) b.next.prev = b.prev;
    else this.#newest = b.prev;
    b.prev = b.next = null;
  }
}

/** Go's time.Duration.String(), for X-Retry-In. */
export function goDuration(ns: number): string {
  let u = Math.trunc(Math.abs(ns));
  const sign = ns < 0 && u !== 0 ? '-' : '';
  if (u === 0) return '0s';
  const frac = (v: number, digits: number): string => {
    const p = 10 ** digits;
    const f = String(v % p)
      .padStart(digits, '0')
      .replace(/0+$/, '');
    return `${Math.floor(v / p)}${f === '' ? '' : `.${f}`}`;
  };
  if (u < 1e3) return `${sign}${u}ns`;
  if (u < 1e6) return `${sign}${frac(u, 3)}µs`;
  if (u < 1e9) return `${sign}${frac(u, 6)}ms`;
  const secs = Math.floor(u / 1e9);
  u = (secs % 60) * 1e9 + (u % 1e9);
  let out = `${frac(u, 9)}s`;
  if (secs >= 60) out = `${Math.floor(secs / 60) % 60}m${out}`;
  if (secs >= 3600) out = `${Math.floor(secs / 3600)}h${out}`;
  return sign + out;
}

/** The 429 headers for a refusal that would have waited `delayNs`. */
export function retryHeaders(delayNs: number): Record<string, string> {
  return {
    'content-type': 'text/plain; charset=utf-8',
    'retry-after': String(Math.ceil(delayNs / 1e9)),
    'x-retry-in': goDuration(delayNs),
  };
}

/** Traefik's redis option: distributed rate limiting, which baton does not have. */
const noRedis: Field<never> = {
  fallback: undefined,
  read(_raw, at, errors) {
    errors.push(`${at}: distributed rate limiting (Redis) is not supported by baton; limits are per baton instance`);
    return undefined;
  },
};

const SPEC = {
  /** requests per period; 0: no limit (Traefik also takes a negative one as no limit: baton refuses it) */
  average: int(0, 0),
  /** 0: one second (Traefik's default) */
  period: duration(1000),
  /** below 1: 1 (as Traefik) */
  burst: int(1, 0),
  sourceCriterion: presentGroup(SOURCE_CRITERION),
  redis: noRedis,
};

export const rateLimit = defineType({
  name: 'rateLimit',
  spec: SPEC,
  check: (o) => sourceCriterionProblems(o.sourceCriterion),
  create(o): Handler {
    if (o.average === 0) return {};
    const period = o.period === 0 ? 1000 : o.period;
    const buckets = new TokenBuckets((o.average * 1000) / period, o.burst, () => performance.now());
    const source = sourceExtractor(o.sourceCriterion, 'ip');
    return {
      onRequest(ctx) {
        const delay = buckets.reserve(source(ctx));
        if (delay > buckets.maxDelayNs) ctx.respond(429, retryHeaders(delay), 'Too Many Requests');
      },
    };
  },
});
