// Small async helpers, defined once for every layer.

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). The abort listener is removed when the
 *  timer fires, so any number of sleeps on one long-lived signal leaves its listener count unchanged. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return wait(ms, signal, null);
}

/** Wakes waiters when something they watch changed (e.g. an upstream's state), without polling. */
export class Notifier {
  readonly #waiters = new Set<() => void>();

  /** Resolves at the next notify(), after `ms`, or when `signal` aborts, whichever comes first. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return wait(ms, signal, this.#waiters);
  }

  notify(): void {
    if (this.#waiters.size === 0) return;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w();
  }

  /** waiting calls (for tests and leak checks) */
  get waiting(): number {
    return this.#waiters.size;
  }
}

function wait(ms: number, signal: AbortSignal | undefined, waiters: Set<() => void> | null): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true || ms <= 0) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    waiters?.add(done);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      waiters?.delete(done);
      resolve();
    }
  });
}

/** Maps `items` through `fn` with at most `limit` calls in flight; results keep the input order. Rejects with the
 *  first error. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Whether a hook's return value is a promise (or any thenable) to wait for, rather than a synchronous result. */
export function isThenable(v: unknown): v is PromiseLike<void> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

/** Resolves when the callback `register` is given gets called, or after `ms` (at least 0), whichever is first. */
export function untilCalledOr(ms: number, register: (done: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, ms));
    timer.unref();
    register(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
