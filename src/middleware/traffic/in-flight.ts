// Traefik's inFlightReq (pkg/middlewares/inflightreq, on vulcand/oxy's connlimit): at most `amount` requests of a
// source in progress at once; one more is answered 429 "max connections reached: <amount>" (oxy's text). A
// request counts from its onRequest until its onDone — which baton runs once for every request whose onRequest
// ran, however it ends (answered, failed, client gone, a later hook throwing) — so the count cannot leak. With
// no sourceCriterion the source is the request host (as in Traefik). Sources are counted only while they have a
// request in flight (oxy deletes a source back at 0), so the table is bounded by the requests in flight.
import type { Handler } from '../api.ts';
import { int } from '../options.ts';
import { defineType } from '../types.ts';
import { SOURCE_CRITERION, presentGroup, sourceCriterionProblems, sourceExtractor } from './ip-strategy.ts';

/** Requests in flight by source. */
export class InFlightCounter {
  readonly amount: number;
  readonly #counts = new Map<string, number>();

  constructor(amount: number) {
    this.amount = amount;
  }

  /** Counts a request of `key` in, unless `amount` of them are in flight already (then false). */
  acquire(key: string): boolean {
    const n = this.#counts.get(key) ?? 0;
    if (n >= this.amount) return false;
    this.#counts.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = this.#counts.get(key);
    if (n === undefined) return;
    if (n <= 1) this.#counts.delete(key);
    else this.#counts.set(key, n - 1);
  }

  /** in flight for `key` */
  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  /** sources with a request in flight */
  get sources(): number {
    return this.#counts.size;
  }
}

const SPEC = {
  /** Traefik: minimum 0 — and 0 refuses every request, as there (connlimit: in flight ≥ amount) */
  amount: int(undefined, 0),
  sourceCriterion: presentGroup(SOURCE_CRITERION),
};

export const inFlightReq = defineType({
  name: 'inFlightReq',
  spec: SPEC,
  check(o) {
    const problems = sourceCriterionProblems(o.sourceCriterion);
    if (o.amount === undefined) problems.unshift('amount: required (the most requests of a source in flight at once)');
    return problems;
  },
  create(o): Handler {
    const counter = new InFlightCounter(o.amount!);
    const source = sourceExtractor(o.sourceCriterion, 'host');
    const body = `max connections reached: ${counter.amount}`;
    // this instance's slot in ctx.data: the key the request was counted under
    const slot = {};
    return {
      onRequest(ctx) {
        const key = source(ctx);
        if (!counter.acquire(key)) {
          ctx.respond(429, { 'content-type': 'text/plain; charset=utf-8' }, body);
          return;
        }
        ctx.data.set(slot, key);
      },
      onDone(ctx) {
        const key = ctx.data.get(slot);
        if (typeof key !== 'string') return;
        ctx.data.delete(slot);
        counter.release(key);
      },
    };
  },
});
