// Holding requests instead of failing them: a service's bounded FIFO of requests that wait for an upstream (the
// service is paused, or a deploy or `hold.whenUnavailable` holds it while no upstream takes traffic). Bounded by
// count, by declared request-body bytes and by time; one timer per queue (the oldest request's deadline).
// The requests themselves are the proxy's (Forward); this layer only orders, bounds and times them.

export interface HoldLimits {
  maxRequests: number;
  maxBytes: number;
  timeout: number;
}

/** What a held request does when its turn comes, or when it waited too long. */
export interface Holdable {
  /** its turn: forward it now (or answer it, when no upstream can take it) */
  released(): void;
  /** the hold timeout passed first: answer 503 */
  expired(): void;
}

interface Entry {
  at: number;
  bytes: number;
}

export class HoldQueue<T extends Holdable> {
  readonly #limits: () => HoldLimits;
  readonly #entries = new Map<T, Entry>();
  #bytes = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(limits: () => HoldLimits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Holds `item` (declaring `bytes` of request body); false when a bound would be passed (nothing held). */
  add(item: T, bytes: number, now = Date.now()): boolean {
    const l = this.#limits();
    if (this.#entries.size >= l.maxRequests || this.#bytes + bytes > l.maxBytes) return false;
    this.#entries.set(item, { at: now, bytes });
    this.#bytes += bytes;
    if (this.#timer === null) this.#arm(now);
    return true;
  }

  /** Forgets `item` (its client went away). */
  remove(item: T): void {
    const e = this.#entries.get(item);
    if (e === undefined) return;
    this.#entries.delete(item);
    this.#bytes -= e.bytes;
    if (this.#entries.size === 0) this.#disarm();
  }

  has(item: T): boolean {
    return this.#entries.has(item);
  }

  /** Releases every held request, oldest first. */
  releaseAll(): void {
    for (const item of this.#takeAll()) item.released();
  }

  /** Answers every request whose deadline passed (the timer's work; `now` for tests). */
  expire(now = Date.now()): void {
    this.#timer = null;
    const timeout = this.#limits().timeout;
    const due: T[] = [];
    for (const [item, e] of this.#entries) {
      if (e.at + timeout > now) break;
      due.push(item);
    }
    for (const item of due) this.remove(item);
    if (this.#entries.size > 0 && this.#timer === null) this.#arm(now);
    for (const item of due) item.expired();
  }

  /** Answers every held request with its timeout answer (the service goes away, baton stops). */
  close(): void {
    for (const item of this.#takeAll()) item.expired();
  }

  /** Empties the queue, returning what it held, oldest first. */
  #takeAll(): T[] {
    const items = [...this.#entries.keys()];
    this.#entries.clear();
    this.#bytes = 0;
    this.#disarm();
    return items;
  }

  #arm(now: number): void {
    const first = this.#entries.values().next().value as Entry;
    const wait = Math.max(0, first.at + this.#limits().timeout - now);
    this.#timer = setTimeout(() => this.expire(), wait);
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
