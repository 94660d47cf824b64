// Per-upstream counters that every event loop serving traffic writes and the control plane reads: requests in
// flight (exact, so a drain completes only when the sum over all workers is zero), requests and failures.
//
// One slot per upstream, one cell per writer (the main thread is writer 0, worker n is writer n): a writer only
// ever touches its own cells, so a worker that dies is forgotten by zeroing its cells, and the in-flight count of
// the others stays exact. With workers the cells live in growable SharedArrayBuffers handed to every worker
// thread; without them, in plain ArrayBuffers (same code, no other agent).
//
//   cells (Int32):   [slot * stride + w] in flight of writer w, [slot * stride + writers] drain waiters
//   counts (Float64): [(slot * writers + w) * 2] requests of writer w, [... + 1] its failures
import { TallyError } from '../errors.ts';

const INITIAL_SLOTS = 256;
/** the most address space each buffer may reserve (grown as slots are allocated, never shrunk) */
const MAX_BUFFER_BYTES = 256 * 1024 * 1024;
/** the longest a drain waits between looks at the cells (cancellation wakes it at once) */
const WAIT_SLICE_MS = 1000;

/** What a worker thread needs to open the same board (structured-cloneable: the buffers are shared). */
export interface TallyBuffers {
  cells: SharedArrayBuffer;
  counts: SharedArrayBuffer;
  writers: number;
}

export type IdleOutcome = 'idle' | 'timeout' | 'cancelled';

export class TallyBoard {
  readonly writers: number;
  /** this thread's writer index */
  readonly writer: number;
  readonly shared: boolean;
  readonly #stride: number;
  readonly #cellsBuffer: ArrayBuffer | SharedArrayBuffer;
  readonly #countsBuffer: ArrayBuffer | SharedArrayBuffer;
  readonly cells: Int32Array;
  readonly counts: Float64Array;
  #next = 0;
  readonly #free: number[] = [];
  readonly #maxSlots: number;

  /** A board for `writers` writers (1 without workers), or the view of a worker thread onto the main thread's. */
  constructor(opts: { writers: number; writer?: number; buffers?: TallyBuffers }) {
    this.writers = opts.buffers?.writers ?? opts.writers;
    this.writer = opts.writer ?? 0;
    this.#stride = this.writers + 1;
    this.shared = opts.buffers !== undefined || this.writers > 1;
    const cellBytes = this.#stride * 4;
    const countBytes = this.writers * 16;
    this.#maxSlots = Math.floor(MAX_BUFFER_BYTES / Math.max(cellBytes, countBytes));
    if (opts.buffers !== undefined) {
      this.#cellsBuffer = opts.buffers.cells;
      this.#countsBuffer = opts.buffers.counts;
    } else {
      const make = this.shared
        ? (n: number, max: number) => new SharedArrayBuffer(n, { maxByteLength: max })
        : (n: number, max: number) => new ArrayBuffer(n, { maxByteLength: max });
      this.#cellsBuffer = make(INITIAL_SLOTS * cellBytes, this.#maxSlots * cellBytes);
      this.#countsBuffer = make(INITIAL_SLOTS * countBytes, this.#maxSlots * countBytes);
    }
    // length-tracking views: they follow the buffers as they grow, in every thread
    this.cells = new Int32Array(this.#cellsBuffer);
    this.counts = new Float64Array(this.#countsBuffer);
  }

  /** The buffers to hand a worker thread (only for a shared board). */
  buffers(): TallyBuffers {
    if (!this.shared) throw new TallyError('a board without workers has no shared buffers');
    return {
      cells: this.#cellsBuffer as SharedArrayBuffer,
      counts: this.#countsBuffer as SharedArrayBuffer,
      writers: this.writers,
    };
  }

  /** A fresh slot, its cells zero (main thread only: it owns allocation). */
  allocate(): number {
    const slot = this.#free.pop() ?? this.#next++;
    if (slot >= this.#maxSlots) throw new TallyError(`more than ${this.#maxSlots} upstreams at once`);
    const cellsNeeded = (slot + 1) * this.#stride * 4;
    if (cellsNeeded > this.#cellsBuffer.byteLength) {
      const grow = (b: ArrayBuffer | SharedArrayBuffer, bytes: number): void => {
        if (b instanceof SharedArrayBuffer) b.grow(bytes);
        else b.resize(bytes);
      };
      const slots = Math.min(this.#maxSlots, Math.max(slot + 1, (this.#cellsBuffer.byteLength / this.#stride / 4) * 2));
      grow(this.#cellsBuffer, slots * this.#stride * 4);
      grow(this.#countsBuffer, slots * this.writers * 16);
    }
    const base = slot * this.#stride;
    for (let i = 0; i < this.#stride; i++) Atomics.store(this.cells, base + i, 0);
    this.counts.fill(0, slot * this.writers * 2, (slot + 1) * this.writers * 2);
    return slot;
  }

  /** Gives a slot back once no thread holds an upstream on it any more. */
  free(slot: number): void {
    this.#free.push(slot);
  }

  tally(slot: number): Tally {
    return new Tally(this, slot, this.#stride);
  }

  /** A writer that is gone (a worker that crashed): its requests in flight are no longer in flight, and drains
   *  waiting on them are woken. Its request and failure counts stay (they happened). */
  forgetWriter(w: number, slots: Iterable<number>): void {
    for (const slot of slots) {
      const i = slot * this.#stride + w;
      if (Atomics.exchange(this.cells, i, 0) !== 0) Atomics.notify(this.cells, i);
    }
  }
}

/** One upstream's counters, as this thread sees and writes them. */
export class Tally {
  readonly slot: number;
  readonly #board: TallyBoard;
  readonly #cells: Int32Array;
  readonly #counts: Float64Array;
  /** this writer's in-flight cell and the slot's first cell */
  readonly #mine: number;
  readonly #base: number;
  readonly #flag: number;
  /** this writer's request count (failures at +1) and the slot's first count */
  readonly #myCount: number;
  readonly #countBase: number;
  /** drains waiting in this thread, without shared memory (woken by release) */
  #localWaiters: Array<() => void> = [];
  /** given back: a late release (a request aborted at a drain timeout that settles after the close) must not
   *  land on the upstream that reuses the slot */
  #retired = false;

  constructor(board: TallyBoard, slot: number, stride: number) {
    this.slot = slot;
    this.#board = board;
    this.#cells = board.cells;
    this.#counts = board.counts;
    this.#base = slot * stride;
    this.#mine = this.#base + board.writer;
    this.#flag = this.#base + board.writers;
    this.#countBase = slot * board.writers * 2;
    this.#myCount = this.#countBase + board.writer * 2;
  }

  acquire(): void {
    if (this.#retired) return;
    Atomics.add(this.#cells, this.#mine, 1);
    this.#counts[this.#myCount]++;
  }

  release(): void {
    if (this.#retired || Atomics.sub(this.#cells, this.#mine, 1) !== 1) return;
    if (this.#board.shared) {
      // only while a drain waits: a notify takes a lock shared by every thread
      if (Atomics.load(this.#cells, this.#flag) !== 0) Atomics.notify(this.#cells, this.#mine);
    } else if (this.#localWaiters.length > 0) {
      const waiters = this.#localWaiters;
      this.#localWaiters = [];
      for (const w of waiters) w();
    }
  }

  countFailure(): void {
    if (!this.#retired) this.#counts[this.#myCount + 1]++;
  }

  /** No more writes from this thread's upstream (it closed): its slot may go to another upstream. */
  retire(): void {
    this.#retired = true;
  }

  /** Requests and tunnels in flight, over every writer. */
  get inflight(): number {
    let n = 0;
    for (let i = this.#base; i < this.#flag; i++) n += Atomics.load(this.#cells, i);
    return n;
  }

  get requests(): number {
    return this.#sum(0);
  }

  get failures(): number {
    return this.#sum(1);
  }

  #sum(offset: number): number {
    let n = 0;
    const end = this.#countBase + this.#board.writers * 2;
    for (let i = this.#countBase + offset; i < end; i += 2) n += this.#counts[i];
    return n;
  }

  /** Resolves once nothing is in flight (over every writer), at `timeoutMs`, or when `signal` aborts. */
  async whenIdle(timeoutMs: number, signal: AbortSignal): Promise<IdleOutcome> {
    if (this.inflight === 0) return 'idle';
    if (!this.#board.shared) return this.#whenIdleHere(timeoutMs, signal);
    const deadline = Date.now() + timeoutMs;
    const cells = this.#cells;
    const wake = () => {
      for (let i = this.#base; i < this.#flag; i++) Atomics.notify(cells, i);
    };
    signal.addEventListener('abort', wake, { once: true });
    Atomics.add(cells, this.#flag, 1);
    try {
      for (;;) {
        if (signal.aborted) return 'cancelled';
        let busy = -1;
        let value = 0;
        for (let i = this.#base; i < this.#flag && busy === -1; i++) {
          value = Atomics.load(cells, i);
          if (value !== 0) busy = i;
        }
        if (busy === -1) return 'idle';
        const left = deadline - Date.now();
        if (left <= 0) return 'timeout';
        const r = Atomics.waitAsync(cells, busy, value, Math.min(left, WAIT_SLICE_MS));
        if (r.async) await r.value;
      }
    } finally {
      Atomics.sub(cells, this.#flag, 1);
      signal.removeEventListener('abort', wake);
    }
  }

  #whenIdleHere(timeoutMs: number, signal: AbortSignal): Promise<IdleOutcome> {
    return new Promise<IdleOutcome>((resolve) => {
      const done = (outcome: IdleOutcome) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', cancel);
        this.#localWaiters = this.#localWaiters.filter((w) => w !== idle);
        resolve(outcome);
      };
      const idle = () => done('idle');
      const cancel = () => done('cancelled');
      const timer = setTimeout(() => done('timeout'), timeoutMs);
      timer.unref();
      signal.addEventListener('abort', cancel, { once: true });
      this.#localWaiters.push(idle);
    });
  }
}

/** Where a registry gets each new upstream's counters, and where it gives them back once the upstream closed. */
export interface TallySource {
  tallyFor(upstreamId: string): Tally;
  /** false: `u`'s counters are not the ones its id has now (a worker thread recreates the upstream) */
  matches(u: { id: string; tally: Tally }): boolean;
  released(tally: Tally): void;
}

/** The registry's own board, one writer (no workers): slots allocated here and reused once released. */
export class LocalTallies implements TallySource {
  readonly board: TallyBoard;
  constructor(board: TallyBoard = new TallyBoard({ writers: 1 })) {
    this.board = board;
  }
  tallyFor(): Tally {
    return this.board.tally(this.board.allocate());
  }
  matches(): boolean {
    return true;
  }
  released(tally: Tally): void {
    tally.retire();
    this.board.free(tally.slot);
  }
}
