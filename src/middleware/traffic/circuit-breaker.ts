// Traefik's circuitBreaker (pkg/middlewares/circuitbreaker, on vulcand/oxy's cbreaker), its state machine pure
// with an injected clock:
//   standby     every request passes; each response is recorded, and at most once per checkPeriod (on a
//               response, as in oxy: no timer at all) the expression is evaluated — true trips the breaker
//               and clears the measurements
//   tripped     for fallbackDuration every request is answered `responseCode` (503) with its status text
//   recovering  for recoveryDuration requests pass on a linear ramp (oxy's ratioController: a request passes
//               while passed/(passed+refused) stays under 0.5·elapsed/recoveryDuration); the expression is still
//               checked, and true trips it again; at the end, standby
// Measurements (cb-metrics.ts) come from onResponse: the status, whether it is a network error (isNetworkError)
// and the latency, performance.now() - ctx.startedAt when the response head is there. The breaker's own
// answers are not measured (as in oxy). Hooks are sync and allocate nothing on the standby path but the record.
import { STATUS_CODES } from 'node:http';
import type { Handler, PluginLog } from '../api.ts';
import { duration, int, type Field } from '../options.ts';
import { defineType } from '../types.ts';
import { compileExpression, type Condition } from './cb-expression.ts';
import { RoundTripMetrics } from './cb-metrics.ts';

export type BreakerState = 'standby' | 'tripped' | 'recovering';

export interface BreakerTimes {
  /** ms */
  checkPeriod: number;
  fallbackDuration: number;
  recoveryDuration: number;
}

/** What a Breaker measures with (RoundTripMetrics, or a stub in tests). */
export interface BreakerMetrics {
  record(status: number, networkError: boolean, latencyMs: number): void;
  reset(): void;
}

/**
 * Whether a response counts as a network error for NetworkErrorRatio(). oxy counts every 502 and 504 (its
 * forwarder answers those for network failures); baton knows more: its own pages for an upstream failure
 * (res.error "upstream_unreachable", "upstream_reset", "upstream_timeout", "upstream_connect_timeout",
 * "upstream_bad_response", "drain_timeout") are network errors, and so is a 502 or 504 from the upstream itself
 * (it may be a proxy reporting one). Not: an answer a middleware made ("middleware"), "no_healthy_upstream"
 * (a 503 — Traefik's load balancer answers 503 too, counted as a status only), a client that went away.
 */
export function isNetworkError(status: number, error: string | null): boolean {
  if (error === null) return status === 502 || status === 504;
  if (error === 'middleware' || error === 'no_healthy_upstream' || error === 'client_closed') return false;
  return error.startsWith('upstream_') || error === 'drain_timeout' || status === 502 || status === 504;
}

export class Breaker {
  #state: BreakerState = 'standby';
  #until = 0;
  /** oxy's lastCheck: the next check is after it (the zero time at first: the first response checks) */
  #nextCheck = -Infinity;
  #rampStart = 0;
  #passed = 0;
  #refused = 0;
  readonly #condition: () => boolean;
  readonly #metrics: BreakerMetrics;
  readonly #times: BreakerTimes;
  readonly #now: () => number;
  readonly #onChange: (state: BreakerState) => void;

  constructor(
    condition: () => boolean,
    metrics: BreakerMetrics,
    times: BreakerTimes,
    now: () => number,
    onChange: (state: BreakerState) => void = () => {},
  ) {
    this.#condition = condition;
    this.#metrics = metrics;
    this.#times = times;
    this.#now = now;
    this.#onChange = onChange;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** Whether a request may go on (false: answer it with the fallback). oxy's activateFallback, negated. */
  allow(): boolean {
    if (this.#state === 'standby') return true;
    const now = this.#now();
    if (this.#state === 'tripped') {
      if (now < this.#until) return false;
      this.#set('recovering', now + this.#times.recoveryDuration);
      this.#rampStart = now;
      this.#passed = 0;
      this.#refused = 0;
    }
    if (now > this.#until) {
      this.#set('standby', now);
      return true;
    }
    const target = (0.5 * (now - this.#rampStart)) / this.#times.recoveryDuration;
    if ((this.#passed + 1) / (this.#passed + 1 + this.#refused) < target) {
      this.#passed++;
      return true;
    }
    this.#refused++;
    return false;
  }

  /** A response of a request that was let through: measured, then maybe a check (oxy's serve + checkAndSet). */
  record(status: number, networkError: boolean, latencyMs: number): void {
    this.#metrics.record(status, networkError, latencyMs);
    const now = this.#now();
    if (!(now > this.#nextCheck)) return;
    this.#nextCheck = now + this.#times.checkPeriod;
    if (this.#state === 'tripped' || !this.#condition()) return;
    this.#set('tripped', now + this.#times.fallbackDuration);
    this.#metrics.reset();
  }

  #set(state: BreakerState, until: number): void {
    this.#state = state;
    this.#until = until;
    this.#onChange(state);
  }
}

/** The expression option: required, compiled when the config is read. */
const expressionField: Field<string> = {
  fallback: undefined,
  read(raw, at, errors) {
    if (typeof raw !== 'string') {
      errors.push(`${at}: expected an expression such as "NetworkErrorRatio() > 0.5", got ${JSON.stringify(raw)}`);
      return undefined;
    }
    try {
      compileExpression(raw);
      return raw;
    } catch (err) {
      errors.push(`${at}: ${(err as Error).message}`);
      return undefined;
    }
  },
};

const SPEC = {
  expression: expressionField,
  /** 0: the default (Traefik applies only values above 0) */
  checkPeriod: duration(100),
  fallbackDuration: duration(10_000),
  recoveryDuration: duration(10_000),
  responseCode: int(503, 200, 599),
};

const orDefault = (v: number, d: number): number => (v > 0 ? v : d);
const TEXT = { 'content-type': 'text/plain; charset=utf-8' };

function transitions(log: PluginLog, expression: string): (s: BreakerState) => void {
  return (state) => {
    if (state === 'tripped') log.warn({ state, expression }, 'circuit breaker tripped');
    else log.info({ state }, `circuit breaker ${state}`);
  };
}

export const circuitBreaker = defineType({
  name: 'circuitBreaker',
  spec: SPEC,
  check: (o) => (o.expression === undefined ? ['expression: required (e.g. "NetworkErrorRatio() > 0.5")'] : []),
  create(o, env): Handler {
    const compiled = compileExpression(o.expression!);
    const now = () => performance.now();
    const metrics = new RoundTripMetrics(now, compiled.usesLatency);
    const test: Condition = compiled.test;
    const times: BreakerTimes = {
      checkPeriod: orDefault(o.checkPeriod, 100),
      fallbackDuration: orDefault(o.fallbackDuration, 10_000),
      recoveryDuration: orDefault(o.recoveryDuration, 10_000),
    };
    const breaker = new Breaker(() => test(metrics), metrics, times, now, transitions(env.log, o.expression!));
    const code = o.responseCode;
    const body = STATUS_CODES[code] ?? '';
    return {
      onRequest(ctx) {
        if (!breaker.allow()) ctx.respond(code, TEXT, body);
      },
      // not called for the breaker's own answers (a middleware does not see its own answer): they stay unmeasured
      onResponse(ctx, res) {
        breaker.record(res.status, isNetworkError(res.status, res.error), performance.now() - ctx.startedAt);
      },
    };
  },
});
