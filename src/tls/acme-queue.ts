// The order queue of one ACME resolver: certificates to obtain, by key, at most `concurrency` at a time, no more
// than the shared rate limit allows, and a key whose order failed waits out an exponential backoff without
// holding up the others. One timer at a time (unref'd, within setTimeout's range); close() aborts what runs.

/** setTimeout's largest delay; a longer wait is taken in several steps */
export const MAX_TIMER_MS = 2 ** 31 - 1;
const MINUTE_MS = 60_000;

export interface Backoff {
  /** the wait after the first failure; each further failure doubles it */
  minMs: number;
  maxMs: number;
}

/** The delay after `failures` failures in a row (1 or more). */
export function backoffDelay(b: Backoff, failures: number): number {
  return Math.min(b.maxMs, b.minMs * 2 ** Math.min(Math.max(failures - 1, 0), 40));
}

/** Orders started in the last minute, shared by every resolver's queue (a sliding window). */
export class RateLimit {
  readonly perMinute: number;
  #starts: number[] = [];

  constructor(perMinute: number) {
    this.perMinute = Math.max(1, perMinute);
  }

  /** ms until another order may start (0: now) */
  wait(now: number): number {
    while (this.#starts.length > 0 && this.#starts[0] <= now - MINUTE_MS) this.#starts.shift();
    return this.#starts.length < this.perMinute ? 0 : this.#starts[0] + MINUTE_MS - now;
  }

  take(now: number): void {
    this.#starts.push(now);
  }
}

export interface OrderQueueOptions {
  concurrency: number;
  rate: RateLimit;
  backoff: Backoff;
  /** obtains the certificate for `key`; rejects when it could not (the key then backs off) */
  run: (key: string, signal: AbortSignal) => Promise<void>;
}

interface Item {
  dueAt: number;
  /** failed orders in a row */
  failures: number;
  running: Promise<void> | null;
  controller: AbortController | null;
  /** no longer wanted while it ran: dropped when it ends */
  cancelled: boolean;
}

export class OrderQueue {
  readonly #o: OrderQueueOptions;
  readonly #items = new Map<string, Item>();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(opts: OrderQueueOptions) {
    this.#o = opts;
  }

  /** Wants `key` ordered: now, or when its backoff ends if it failed before. A key already queued keeps its turn. */
  schedule(key: string): void {
    if (this.#closed) return;
    const item = this.#items.get(key);
    if (item !== undefined) {
      item.cancelled = false;
      return;
    }
    this.#items.set(key, { dueAt: Date.now(), failures: 0, running: null, controller: null, cancelled: false });
    this.#pump();
  }

  /** No longer wanted: forgotten (an order in flight finishes, its result is kept). */
  cancel(key: string): void {
    const item = this.#items.get(key);
    if (item === undefined) return;
    if (item.running !== null) item.cancelled = true;
    else this.#items.delete(key);
  }

  has(key: string): boolean {
    const item = this.#items.get(key);
    return item !== undefined && !item.cancelled;
  }

  /** When the key's next order starts at the earliest (ms), null when it is not queued or is running. */
  nextAttempt(key: string): number | null {
    const item = this.#items.get(key);
    return item === undefined || item.running !== null ? null : item.dueAt;
  }

  /** failed orders in a row for the key (0 when none or not queued) */
  failures(key: string): number {
    return this.#items.get(key)?.failures ?? 0;
  }

  /** orders in flight */
  get running(): number {
    let n = 0;
    for (const item of this.#items.values()) if (item.running !== null) n++;
    return n;
  }

  /** Aborts the orders in flight and waits for them to end; nothing is started afterwards. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const running: Promise<void>[] = [];
    for (const item of this.#items.values()) {
      item.controller?.abort();
      if (item.running !== null) running.push(item.running);
    }
    await Promise.allSettled(running);
    this.#items.clear();
  }

  #pump(): void {
    if (this.#closed) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const now = Date.now();
    let running = this.running;
    let wake = Infinity;
    const waiting = [...this.#items].filter(([, i]) => i.running === null).sort((a, b) => a[1].dueAt - b[1].dueAt);
    for (const [key, item] of waiting) {
      if (item.dueAt > now) {
        wake = Math.min(wake, item.dueAt);
        break; // sorted: the others are later still
      }
      if (running >= this.#o.concurrency) break; // woken again when one ends
      const limited = this.#o.rate.wait(now);
      if (limited > 0) {
        wake = Math.min(wake, now + limited);
        break;
      }
      this.#o.rate.take(now);
      running++;
      this.#start(key, item);
    }
    if (wake === Infinity) return;
    this.#timer = setTimeout(() => this.#pump(), Math.min(Math.max(wake - now, 0), MAX_TIMER_MS));
    this.#timer.unref();
  }

  #start(key: string, item: Item): void {
    const controller = new AbortController();
    item.controller = controller;
    const settle = (ok: boolean): void => {
      item.running = null;
      item.controller = null;
      if (this.#items.get(key) !== item) return;
      if (ok || item.cancelled || this.#closed) {
        this.#items.delete(key);
      } else {
        item.failures++;
        item.dueAt = Date.now() + backoffDelay(this.#o.backoff, item.failures);
      }
      this.#pump();
    };
    item.running = Promise.resolve()
      .then(() => this.#o.run(key, controller.signal))
      .then(
        () => settle(true),
        () => settle(false),
      );
  }
}
