// Traefik's `buffering` middleware (vulcand/oxy's buffer): the request body is read whole before the upstream is
// contacted (413 beyond maxRequestBodyBytes), the response is held whole before anything is sent (500 beyond
// maxResponseBodyBytes), and retryExpression replays failed attempts of the buffered request.
//
// baton deviations:
// - baton keeps buffered bodies in memory, never on disk: memRequestBodyBytes and memResponseBodyBytes are accepted
//   (Traefik's disk threshold) and change nothing; everything up to the max is held in memory, so each max is at
//   most MAX_BUFFER (64 MiB), and maxRequestBodyBytes 0 ("no limit" in Traefik) means that bound (and never more
//   than the entrypoint's limits.maxBodySize);
// - maxResponseBodyBytes 0 ("no limit"): the response is streamed, not held (holding an unbounded body in memory
//   is what the max is for);
// - retryExpression: only replays of failed attempts (retry-expression.ts), within baton's safe-retry rules.
import { Transform, type TransformCallback } from 'node:stream';
import { BodyTooLargeError, ResponseTooLargeError } from '../../errors.ts';
import type { Handler, RequestContext, ResponseContext } from '../api.ts';
import { int, str } from '../options.ts';
import { defineType } from '../types.ts';
import { planAttempts, retryPlan, type RetryPlan } from './retry-expression.ts';

/** The most a buffered body may be (bytes held in memory per request). */
export const MAX_BUFFER = 64 * 1024 * 1024;
/** oxy's DefaultMemBodyBytes. */
const DEFAULT_MEM = 1024 * 1024;

const spec = {
  maxRequestBodyBytes: int(0, 0),
  memRequestBodyBytes: int(DEFAULT_MEM, 0),
  maxResponseBodyBytes: int(0, 0),
  memResponseBodyBytes: int(DEFAULT_MEM, 0),
  retryExpression: str(''),
};

export interface BufferingOptions {
  maxRequestBodyBytes: number;
  memRequestBodyBytes: number;
  maxResponseBodyBytes: number;
  memResponseBodyBytes: number;
  retryExpression: string;
}

export function checkBuffering(o: BufferingOptions): string[] {
  const errors: string[] = [];
  for (const key of ['maxRequestBodyBytes', 'maxResponseBodyBytes'] as const) {
    if (o[key] > MAX_BUFFER) {
      errors.push(
        `${key}: at most ${MAX_BUFFER} (64 MiB), got ${o[key]}: baton holds a buffered body in memory, never on disk`,
      );
    }
  }
  if (o.retryExpression.trim() !== '') {
    const plan = retryPlan(o.retryExpression);
    if ('error' in plan) errors.push(`retryExpression: ${plan.error}`);
  }
  return errors;
}

/** A response body held whole before any of it is sent; more than `max` bytes fails it before anything was sent
 *  (baton answers 500, as oxy's limit does). */
export class HoldBody extends Transform {
  readonly #max: number;
  readonly #declared: number | null;
  #chunks: Buffer[] = [];
  #bytes = 0;

  /** `declared`: the response's Content-Length, when it has one (over `max`: fails at once) */
  constructor(max: number, declared: number | null) {
    super();
    this.#max = max;
    this.#declared = declared;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.#max || (this.#declared !== null && this.#declared > this.#max)) {
      this.#chunks = [];
      return cb(new ResponseTooLargeError(this.#max));
    }
    this.#chunks.push(chunk);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    for (const c of this.#chunks.splice(0)) this.push(c);
    cb();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.#chunks = [];
    cb(err);
  }
}

export function bufferingHandler(o: BufferingOptions): Handler {
  const limit = o.maxRequestBodyBytes > 0 ? o.maxRequestBodyBytes : MAX_BUFFER;
  let plan: RetryPlan | null = null;
  if (o.retryExpression.trim() !== '') {
    const p = retryPlan(o.retryExpression);
    if (!('error' in p)) plan = p;
  }
  return {
    onRequest(ctx: RequestContext) {
      if (plan !== null) {
        const n = planAttempts(plan, ctx.method);
        // no delay between replays, as oxy
        if (n > 1) ctx.retry(n, 0);
      }
      const declared = ctx.headers.get('content-length');
      if (declared !== undefined && /^\d+$/.test(declared.trim())) {
        const n = Number(declared);
        // oxy's checkLimit: a declared length over the limit is refused before a byte of it is read
        if (n > limit) throw new BodyTooLargeError(limit);
        if (n === 0) return;
      }
      return ctx.readBody(limit).then(() => undefined);
    },
    onResponse(_ctx: RequestContext, res: ResponseContext) {
      if (o.maxResponseBodyBytes <= 0 || !res.hasBody) return;
      const cl = res.headers.get('content-length');
      const declared = cl !== undefined && /^\d+$/.test(cl.trim()) ? Number(cl) : null;
      res.transformBody(new HoldBody(o.maxResponseBodyBytes, declared));
    },
  };
}

export const BUFFERING = defineType({
  name: 'buffering',
  spec,
  check: checkBuffering,
  create: (o) => bufferingHandler(o),
});
